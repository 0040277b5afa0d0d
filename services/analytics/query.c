/*
 * query.c -- the query document's parser and plan (see query.h).
 */
#include "query.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "date.h"
#include "hourglass.pb-c.h"
#include "json.h"

typedef struct {
    hg_arena_t *arena;
    hg_err_t *err;
} s_ctx_t;

static const char *const s_kind_names[] = {"patients", "records",    "distribution",
                                           "series",   "prevalence", "top"};
static const char *const s_by_names[] = {"sex",  "age_group", "state",
                                         "year", "month",     "encounter_class"};

const char *
hg_query_kind_name (hg_qmeasure_t kind)
{
    return s_kind_names[kind];
}

const char *
hg_query_by_name (hg_qby_t by)
{
    return s_by_names[by];
}

/* The tree of the document: the project's JSON reader, json-c when it
 * declines (its messages then say what is wrong). */
static hg_json_t *
s_tree (s_ctx_t *c, const char *text, size_t len)
{
    hg_json_t *v = NULL;
    size_t end = 0;
    int rc = hg_json_parse (c->arena, text, len, &v, &end);
    if (rc == 1 && end == len) {
        if (!hg_json_is (v, HG_JSON_OBJECT)) {
            hg_err_set (c->err, HG_EINVAL, "the query must be a JSON object");
            return NULL;
        }
        return v;
    }
    if (rc < 0) {
        hg_err_set (c->err, HG_ENOMEM, "out of memory parsing the query");
        return NULL;
    }
    json_tokener *tok = json_tokener_new ();
    if (!tok) {
        hg_err_set (c->err, HG_ENOMEM, "out of memory parsing the query");
        return NULL;
    }
    json_object *jo = json_tokener_parse_ex (tok, text, (int) len);
    enum json_tokener_error je = json_tokener_get_error (tok);
    if (je == json_tokener_success && json_tokener_get_parse_end (tok) < len) {
        je = json_tokener_error_parse_unexpected;
    }
    if (je == json_tokener_continue) {
        je = json_tokener_error_parse_eof; /* the text ends inside the document */
    }
    bool oom = false;
    v = je == json_tokener_success ? hg_json_from_json_c (c->arena, jo, &oom) : NULL;
    json_object_put (jo);
    json_tokener_free (tok);
    if (je != json_tokener_success) {
        hg_err_set (c->err, HG_EINVAL, "the query is not JSON: %s", json_tokener_error_desc (je));
    }
    else if (!hg_json_is (v, HG_JSON_OBJECT)) {
        hg_err_set (c->err, HG_EINVAL, "the query must be a JSON object");
        v = NULL;
    }
    return v;
}

/* Rejects members of obj not in names (typos would silently widen a
 * cohort). */
static int
s_known (s_ctx_t *c, const hg_json_t *obj, const char *path, const char *const *names)
{
    for (size_t i = 0; i < hg_json_length (obj); i++) {
        bool ok = false;
        for (size_t j = 0; names[j] && !ok; j++) {
            ok = strcmp (obj->keys[i], names[j]) == 0;
        }
        if (!ok) {
            return hg_err_set (c->err, HG_EINVAL, "%s%s%s: unknown field", path, *path ? "." : "",
                               obj->keys[i]);
        }
    }
    return 0;
}

static int
s_number (s_ctx_t *c, const hg_json_t *v, const char *path, double *out)
{
    if (!hg_json_is (v, HG_JSON_INT) && !hg_json_is (v, HG_JSON_DOUBLE)) {
        return hg_err_set (c->err, HG_EINVAL, "%s must be a number", path);
    }
    *out = hg_json_double (v);
    if (!isfinite (*out)) {
        return hg_err_set (c->err, HG_EINVAL, "%s must be a finite number", path);
    }
    return 0;
}

static int
s_int (s_ctx_t *c, const hg_json_t *v, const char *path, int64_t lo, int64_t hi, int64_t *out)
{
    if (!hg_json_is (v, HG_JSON_INT) || hg_json_int64 (v) < lo || hg_json_int64 (v) > hi) {
        return hg_err_set (c->err, HG_EINVAL, "%s must be a whole number in %lld..%lld", path,
                           (long long) lo, (long long) hi);
    }
    *out = hg_json_int64 (v);
    return 0;
}

static int
s_string (s_ctx_t *c, const hg_json_t *v, const char *path, const char **out)
{
    if (!hg_json_is (v, HG_JSON_STRING)) {
        return hg_err_set (c->err, HG_EINVAL, "%s must be a string", path);
    }
    *out = hg_json_string (v);
    return 0;
}

static int
s_day (s_ctx_t *c, const hg_json_t *v, const char *path, int32_t *out)
{
    const char *s = NULL;
    if (s_string (c, v, path, &s) < 0) {
        return -1;
    }
    hg_date_t d;
    if (strlen (s) != 10 || s[4] != '-' || s[7] != '-'
        || hg_date_parse_iso (s, 10, &d, NULL) < 0) {
        return hg_err_set (c->err, HG_EINVAL, "%s must be a date YYYY-MM-DD", path);
    }
    *out = (int32_t) hg_date_days (&d);
    return 0;
}

/* "SYSTEM|CODE" split at its last '|' (a prefix may be "SYSTEM|": every
 * code of the system). */
static int
s_code_or_prefix (s_ctx_t *c, const hg_json_t *v, const char *path, bool prefix, hg_qcode_t *out)
{
    const char *s = NULL;
    if (s_string (c, v, path, &s) < 0) {
        return -1;
    }
    const char *bar = strrchr (s, '|');
    if (!bar || bar == s || (!bar[1] && !prefix)) {
        return hg_err_set (c->err, HG_EINVAL,
                           "%s must be SYSTEM|CODE, e.g. http://loinc.org|4548-4", path);
    }
    out->system = hg_arena_strndup (c->arena, s, (size_t) (bar - s));
    out->code = bar + 1;
    return out->system ? 0 : hg_err_set (c->err, HG_ENOMEM, "out of memory");
}

static int
s_code (s_ctx_t *c, const hg_json_t *v, const char *path, hg_qcode_t *out)
{
    return s_code_or_prefix (c, v, path, false, out);
}

static int
s_crit_codes (s_ctx_t *c, const hg_json_t *o, const char *path, hg_qcrit_t *cr)
{
    hg_json_t *v;
    char p[96];
    int given = 0;
    if (hg_json_member (o, "code", &v)) {
        given++;
        snprintf (p, sizeof (p), "%s.code", path);
        if (s_code (c, v, p, &cr->codes[0]) < 0) {
            return -1;
        }
        cr->n_codes = 1;
    }
    if (hg_json_member (o, "prefix", &v)) {
        given++;
        snprintf (p, sizeof (p), "%s.prefix", path);
        if (s_code_or_prefix (c, v, p, true, &cr->codes[0]) < 0) {
            return -1;
        }
        cr->n_codes = 1;
        cr->prefix = true;
    }
    if (hg_json_member (o, "codes", &v)) {
        given++;
        size_t n = hg_json_length (v);
        if (!hg_json_is (v, HG_JSON_ARRAY) || n == 0 || n > HG_QUERY_CODES_MAX) {
            return hg_err_set (c->err, HG_EINVAL, "%s.codes must be a list of 1 to %d codes",
                               path, HG_QUERY_CODES_MAX);
        }
        for (size_t i = 0; i < n; i++) {
            snprintf (p, sizeof (p), "%s.codes[%zu]", path, i);
            if (s_code (c, hg_json_item (v, i), p, &cr->codes[i]) < 0) {
                return -1;
            }
        }
        cr->n_codes = n;
    }
    if (given != 1) {
        return hg_err_set (c->err, HG_EINVAL, "%s needs exactly one of code, codes, prefix",
                           path);
    }
    return 0;
}

static int
s_crit_value (s_ctx_t *c, const hg_json_t *v, const char *path, hg_qcrit_t *cr)
{
    static const char *const names[] = {"gte", "lt", NULL};
    char p[96];
    snprintf (p, sizeof (p), "%s.value", path);
    if (!hg_json_is (v, HG_JSON_OBJECT)) {
        return hg_err_set (c->err, HG_EINVAL, "%s must be an object {\"gte\", \"lt\"}", p);
    }
    if (s_known (c, v, p, names) < 0) {
        return -1;
    }
    hg_json_t *x;
    char q[112];
    if (hg_json_member (v, "gte", &x)) {
        snprintf (q, sizeof (q), "%s.gte", p);
        cr->has_gte = true;
        if (s_number (c, x, q, &cr->gte) < 0) {
            return -1;
        }
    }
    if (hg_json_member (v, "lt", &x)) {
        snprintf (q, sizeof (q), "%s.lt", p);
        cr->has_lt = true;
        if (s_number (c, x, q, &cr->lt) < 0) {
            return -1;
        }
    }
    if (!cr->has_gte && !cr->has_lt) {
        return hg_err_set (c->err, HG_EINVAL, "%s needs gte or lt", p);
    }
    return 0;
}

/* after: index is the criterion's position in all (it may only refer to an
 * earlier one of all, or, from any and none, to any of all). */
static int
s_crit_after (s_ctx_t *c, const hg_json_t *v, const char *path, size_t limit, hg_qcrit_t *cr)
{
    static const char *const names[] = {"criterion", "min_days", "max_days", NULL};
    char p[96], q[112];
    snprintf (p, sizeof (p), "%s.after", path);
    if (!hg_json_is (v, HG_JSON_OBJECT)) {
        return hg_err_set (c->err, HG_EINVAL, "%s must be an object", p);
    }
    if (s_known (c, v, p, names) < 0) {
        return -1;
    }
    hg_json_t *x;
    int64_t n = 0;
    snprintf (q, sizeof (q), "%s.criterion", p);
    if (!hg_json_member (v, "criterion", &x)) {
        return hg_err_set (c->err, HG_EINVAL, "%s is required", q);
    }
    if (limit == 0) {
        return hg_err_set (c->err, HG_EINVAL,
                           "%s refers to cohort.all, which has no earlier criterion", q);
    }
    if (s_int (c, x, q, 0, (int64_t) limit - 1, &n) < 0) {
        return -1;
    }
    cr->after = (int) n;
    cr->min_days = 0;
    if (hg_json_member (v, "min_days", &x)) {
        snprintf (q, sizeof (q), "%s.min_days", p);
        if (s_int (c, x, q, -100000, 100000, &n) < 0) {
            return -1;
        }
        cr->min_days = (int32_t) n;
    }
    if (hg_json_member (v, "max_days", &x)) {
        snprintf (q, sizeof (q), "%s.max_days", p);
        if (s_int (c, x, q, cr->min_days, 100000, &n) < 0) {
            return -1;
        }
        cr->max_days = (int32_t) n;
        cr->has_max_days = true;
    }
    return 0;
}

static int
s_criterion (s_ctx_t *c, const hg_json_t *o, const char *path, size_t after_limit, hg_qcrit_t *cr)
{
    static const char *const names[] = {"code",  "codes",     "prefix", "from", "to",
                                        "value", "min_count", "after",  NULL};
    if (!hg_json_is (o, HG_JSON_OBJECT)) {
        return hg_err_set (c->err, HG_EINVAL, "%s must be an object", path);
    }
    memset (cr, 0, sizeof (*cr));
    cr->after = -1;
    cr->min_count = 1;
    if (s_known (c, o, path, names) < 0 || s_crit_codes (c, o, path, cr) < 0) {
        return -1;
    }
    hg_json_t *v;
    char p[112];
    if (hg_json_member (o, "from", &v)) {
        snprintf (p, sizeof (p), "%s.from", path);
        cr->has_from = true;
        if (s_day (c, v, p, &cr->from) < 0) {
            return -1;
        }
    }
    if (hg_json_member (o, "to", &v)) {
        snprintf (p, sizeof (p), "%s.to", path);
        cr->has_to = true;
        if (s_day (c, v, p, &cr->to) < 0) {
            return -1;
        }
    }
    if (cr->has_from && cr->has_to && cr->from > cr->to) {
        return hg_err_set (c->err, HG_EINVAL, "%s.from is after %s.to", path, path);
    }
    if (hg_json_member (o, "value", &v) && s_crit_value (c, v, path, cr) < 0) {
        return -1;
    }
    int64_t n = 0;
    if (hg_json_member (o, "min_count", &v)) {
        snprintf (p, sizeof (p), "%s.min_count", path);
        if (s_int (c, v, p, 1, 1000000, &n) < 0) {
            return -1;
        }
        cr->min_count = (uint32_t) n;
    }
    if (hg_json_member (o, "after", &v) && s_crit_after (c, v, path, after_limit, cr) < 0) {
        return -1;
    }
    return 0;
}

static int
s_sexes (s_ctx_t *c, const hg_json_t *v, hg_query_t *q)
{
    static const char *const names[] = {"female", "male", "other", "unknown"};
    if (!hg_json_is (v, HG_JSON_ARRAY) || hg_json_length (v) == 0) {
        return hg_err_set (c->err, HG_EINVAL, "cohort.sex must be a list of sexes");
    }
    for (size_t i = 0; i < hg_json_length (v); i++) {
        const char *s = hg_json_string (hg_json_item (v, i));
        size_t k = 0;
        while (k < 4
               && !(s && hg_json_is (hg_json_item (v, i), HG_JSON_STRING)
                    && strcmp (s, names[k]) == 0)) {
            k++;
        }
        if (k == 4) {
            return hg_err_set (c->err, HG_EINVAL,
                               "cohort.sex[%zu] must be female, male, other or unknown", i);
        }
        q->sexes |= 1u << k;
    }
    return 0;
}

static int
s_age (s_ctx_t *c, const hg_json_t *v, hg_query_t *q)
{
    static const char *const names[] = {"from", "to", NULL};
    if (!hg_json_is (v, HG_JSON_OBJECT) || s_known (c, v, "cohort.age", names) < 0) {
        return c->err->code ? -1
                            : hg_err_set (c->err, HG_EINVAL,
                                          "cohort.age must be an object {\"from\", \"to\"}");
    }
    hg_json_t *x;
    int64_t n = 0;
    q->has_age = true;
    q->age_from = 0;
    q->age_to = 200;
    if (hg_json_member (v, "from", &x)) {
        if (s_int (c, x, "cohort.age.from", 0, 200, &n) < 0) {
            return -1;
        }
        q->age_from = (int) n;
    }
    if (hg_json_member (v, "to", &x)) {
        if (s_int (c, x, "cohort.age.to", q->age_from, 200, &n) < 0) {
            return -1;
        }
        q->age_to = (int) n;
    }
    return 0;
}

/* One list of the cohort (all, any or none) into q->crit from *at. */
static int
s_crit_list (s_ctx_t *c, const hg_json_t *cohort, const char *name, hg_query_t *q, size_t *n)
{
    hg_json_t *v;
    *n = 0;
    if (!hg_json_member (cohort, name, &v)) {
        return 0;
    }
    size_t len = hg_json_length (v);
    size_t at = q->n_all + q->n_any + q->n_none;
    if (!hg_json_is (v, HG_JSON_ARRAY)) {
        return hg_err_set (c->err, HG_EINVAL, "cohort.%s must be a list of criteria", name);
    }
    if (at + len > HG_QUERY_CRIT_MAX) {
        return hg_err_set (c->err, HG_EINVAL, "a cohort has at most %d criteria",
                           HG_QUERY_CRIT_MAX);
    }
    bool is_all = strcmp (name, "all") == 0;
    for (size_t i = 0; i < len; i++) {
        char path[64];
        snprintf (path, sizeof (path), "cohort.%s[%zu]", name, i);
        if (s_criterion (c, hg_json_item (v, i), path, is_all ? i : q->n_all, &q->crit[at + i])
            < 0) {
            return -1;
        }
        if (is_all) {
            q->n_all = i + 1; /* later criteria may refer to this one */
        }
    }
    *n = len;
    return 0;
}

/* The cohort's window: from the earliest from to the latest to of its all
 * and any criteria, each bound only when every one of them has it. */
static void
s_window (hg_query_t *q)
{
    size_t n = q->n_all + q->n_any;
    q->win_has_from = q->win_has_to = n > 0;
    for (size_t i = 0; i < n; i++) {
        const hg_qcrit_t *cr = &q->crit[i];
        q->win_has_from = q->win_has_from && cr->has_from;
        q->win_has_to = q->win_has_to && cr->has_to;
        if (i == 0 || cr->from < q->win_from) {
            q->win_from = cr->from;
        }
        if (i == 0 || cr->to > q->win_to) {
            q->win_to = cr->to;
        }
    }
    q->has_window = q->win_has_from || q->win_has_to;
}

static int
s_cohort (s_ctx_t *c, const hg_json_t *v, hg_query_t *q)
{
    static const char *const names[] = {"all", "any", "none", "sex", "age", NULL};
    if (!hg_json_is (v, HG_JSON_OBJECT)) {
        return hg_err_set (c->err, HG_EINVAL, "cohort must be an object");
    }
    if (s_known (c, v, "cohort", names) < 0) {
        return -1;
    }
    size_t n;
    if (s_crit_list (c, v, "all", q, &n) < 0 || s_crit_list (c, v, "any", q, &q->n_any) < 0
        || s_crit_list (c, v, "none", q, &q->n_none) < 0) {
        return -1;
    }
    hg_json_t *x;
    if (hg_json_member (v, "sex", &x) && s_sexes (c, x, q) < 0) {
        return -1;
    }
    if (hg_json_member (v, "age", &x) && s_age (c, x, q) < 0) {
        return -1;
    }
    s_window (q);
    return 0;
}

static int
s_by (s_ctx_t *c, const hg_json_t *v, hg_query_t *q)
{
    if (!hg_json_is (v, HG_JSON_ARRAY) || hg_json_length (v) > HG_QUERY_BY_MAX) {
        return hg_err_set (c->err, HG_EINVAL, "by must be a list of at most %d strata",
                           HG_QUERY_BY_MAX);
    }
    for (size_t i = 0; i < hg_json_length (v); i++) {
        hg_json_t *item = hg_json_item (v, i);
        const char *s = hg_json_is (item, HG_JSON_STRING) ? hg_json_string (item) : NULL;
        size_t k = 0;
        while (k < HG_QUERY_BY_MAX && !(s && strcmp (s, s_by_names[k]) == 0)) {
            k++;
        }
        if (k == HG_QUERY_BY_MAX) {
            return hg_err_set (c->err, HG_EINVAL,
                               "by[%zu] must be sex, age_group, state, year, month or "
                               "encounter_class",
                               i);
        }
        for (size_t j = 0; j < q->n_by; j++) {
            if (q->by[j] == (hg_qby_t) k) {
                return hg_err_set (c->err, HG_EINVAL, "by[%zu]: %s is given twice", i, s);
            }
        }
        q->by[q->n_by++] = (hg_qby_t) k;
    }
    return 0;
}

static int
s_of_kind (s_ctx_t *c, const hg_json_t *v, const char *path, bool any, int *out)
{
    static const struct {
        const char *name;
        int kind;
    } kinds[] = {{"condition", HOURGLASS__RECORD_KIND__KIND_CONDITION},
                 {"lab", HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION},
                 {"medication", HOURGLASS__RECORD_KIND__KIND_MEDICATION},
                 {"procedure", HOURGLASS__RECORD_KIND__KIND_PROCEDURE},
                 {"variant", HOURGLASS__RECORD_KIND__KIND_GENOMIC_VARIANT},
                 {"encounter", HOURGLASS__RECORD_KIND__KIND_ENCOUNTER}};
    const char *s = hg_json_is (v, HG_JSON_STRING) ? hg_json_string (v) : NULL;
    for (size_t k = 0; s && k < sizeof (kinds) / sizeof (kinds[0]); k++) {
        if (strcmp (s, kinds[k].name) == 0 && (any || kinds[k].kind != 2)) {
            *out = kinds[k].kind;
            return 0;
        }
    }
    return hg_err_set (c->err, HG_EINVAL,
                       "%s must be condition, lab, medication, procedure or variant%s", path,
                       any ? " or encounter" : "");
}

static int
s_bins (s_ctx_t *c, const hg_json_t *v, hg_query_t *q)
{
    size_t n = hg_json_length (v);
    if (!hg_json_is (v, HG_JSON_ARRAY) || n < 2 || n > HG_QUERY_BINS_MAX) {
        return hg_err_set (c->err, HG_EINVAL, "measure.bins must be a list of 2 to %d edges",
                           HG_QUERY_BINS_MAX);
    }
    for (size_t i = 0; i < n; i++) {
        char p[32];
        snprintf (p, sizeof (p), "measure.bins[%zu]", i);
        if (s_number (c, hg_json_item (v, i), p, &q->bins[i]) < 0) {
            return -1;
        }
        if (i > 0 && q->bins[i] <= q->bins[i - 1]) {
            return hg_err_set (c->err, HG_EINVAL, "measure.bins must increase (at %zu)", i);
        }
    }
    q->n_bins = n;
    return 0;
}

/* The members each kind takes besides kind. */
static int
s_measure_fields (s_ctx_t *c, const hg_json_t *v, hg_query_t *q)
{
    static const char *const per_kind[][5] = {{"kind", NULL},
                                              {"kind", "of", NULL},
                                              {"kind", "code", "bins", NULL},
                                              {"kind", "code", "interval", "incidence", NULL},
                                              {"kind", "per", NULL},
                                              {"kind", "of", "n", NULL}};
    if (s_known (c, v, "measure", per_kind[q->kind]) < 0) {
        return -1;
    }
    hg_json_t *x;
    int64_t n = 0;
    switch (q->kind) {
    case HG_QM_RECORDS:
        return hg_json_member (v, "of", &x) ? s_of_kind (c, x, "measure.of", true, &q->of_kind)
                                            : 0;
    case HG_QM_DISTRIBUTION:
        if (!hg_json_member (v, "code", &x)) {
            return hg_err_set (c->err, HG_EINVAL, "measure.code is required");
        }
        if (s_code (c, x, "measure.code", &q->mcode) < 0) {
            return -1;
        }
        if (!hg_json_member (v, "bins", &x)) {
            return hg_err_set (c->err, HG_EINVAL, "measure.bins is required");
        }
        return s_bins (c, x, q);
    case HG_QM_SERIES:
        if (!hg_json_member (v, "code", &x) || s_code (c, x, "measure.code", &q->mcode) < 0) {
            return c->err->code ? -1 : hg_err_set (c->err, HG_EINVAL, "measure.code is required");
        }
        if (hg_json_member (v, "interval", &x)) {
            const char *s = hg_json_is (x, HG_JSON_STRING) ? hg_json_string (x) : "";
            if (strcmp (s, "month") && strcmp (s, "year")) {
                return hg_err_set (c->err, HG_EINVAL, "measure.interval must be month or year");
            }
            q->per_year = strcmp (s, "year") == 0;
        }
        if (hg_json_member (v, "incidence", &x)) {
            if (!hg_json_is (x, HG_JSON_BOOLEAN)) {
                return hg_err_set (c->err, HG_EINVAL, "measure.incidence must be true or false");
            }
            q->incidence = hg_json_boolean (x);
        }
        return 0;
    case HG_QM_PREVALENCE:
        q->per = 1000;
        if (hg_json_member (v, "per", &x) && s_number (c, x, "measure.per", &q->per) < 0) {
            return -1;
        }
        /* a rate per 0 or fewer patients is no rate (schemathesis found it) */
        return q->per > 0 && q->per <= 1e12
                   ? 0
                   : hg_err_set (c->err, HG_EINVAL,
                                 "measure.per must be a positive number of patients (the rate "
                                 "is per that many, e.g. 1000)");
    case HG_QM_TOP:
        q->top_n = 20;
        if (!hg_json_member (v, "of", &x) || s_of_kind (c, x, "measure.of", false, &q->of_kind)) {
            return c->err->code ? -1 : hg_err_set (c->err, HG_EINVAL, "measure.of is required");
        }
        if (hg_json_member (v, "n", &x)) {
            if (s_int (c, x, "measure.n", 1, HG_QUERY_TOP_MAX, &n) < 0) {
                return -1;
            }
            q->top_n = (uint32_t) n;
        }
        return 0;
    default:
        return 0;
    }
}

static int
s_measure (s_ctx_t *c, const hg_json_t *v, hg_query_t *q)
{
    hg_json_t *x;
    if (!hg_json_is (v, HG_JSON_OBJECT) || !hg_json_member (v, "kind", &x)
        || !hg_json_is (x, HG_JSON_STRING)) {
        return hg_err_set (c->err, HG_EINVAL, "measure must be an object with a kind");
    }
    size_t k = 0;
    while (k < 6 && strcmp (hg_json_string (x), s_kind_names[k]) != 0) {
        k++;
    }
    if (k == 6) {
        return hg_err_set (c->err, HG_EINVAL,
                           "measure.kind must be patients, records, distribution, series, "
                           "prevalence or top");
    }
    q->kind = (hg_qmeasure_t) k;
    return s_measure_fields (c, v, q);
}

/* What the measures cannot combine with. */
static int
s_check (s_ctx_t *c, hg_query_t *q)
{
    bool event_by = false;
    for (size_t i = 0; i < q->n_by; i++) {
        event_by = event_by || q->by[i] >= HG_QBY_YEAR;
    }
    if (q->n_by
        && (q->kind == HG_QM_DISTRIBUTION || q->kind == HG_QM_SERIES || q->kind == HG_QM_TOP)) {
        return hg_err_set (c->err, HG_EINVAL, "by: the %s measure is not stratified",
                           s_kind_names[q->kind]);
    }
    if (event_by && q->kind == HG_QM_PREVALENCE) {
        return hg_err_set (c->err, HG_EINVAL,
                           "by: prevalence is stratified by sex, age_group and state only");
    }
    return 0;
}

int
hg_query_parse (const char *text, size_t len, int ref_year, hg_arena_t *arena, hg_query_t *q,
                hg_err_t *err)
{
    static const char *const names[] = {"cohort", "by", "measure", "as_of", NULL};
    s_ctx_t c = {arena, err};
    memset (q, 0, sizeof (*q));
    q->ref_year = ref_year;
    err->code = 0;
    if (len > HG_QUERY_DOC_MAX) {
        return hg_err_set (err, HG_EINVAL, "the query is over %d bytes", HG_QUERY_DOC_MAX);
    }
    hg_json_t *doc = s_tree (&c, text, len), *v;
    if (!doc || s_known (&c, doc, "", names) < 0) {
        return -1;
    }
    if (hg_json_member (doc, "cohort", &v) && s_cohort (&c, v, q) < 0) {
        return -1;
    }
    if (hg_json_member (doc, "by", &v) && s_by (&c, v, q) < 0) {
        return -1;
    }
    if (hg_json_member (doc, "measure", &v) && s_measure (&c, v, q) < 0) {
        return -1;
    }
    int32_t as_of = 0;
    if (hg_json_member (doc, "as_of", &v)) {
        if (s_day (&c, v, "as_of", &as_of) < 0) {
            return -1;
        }
        int y, m, d;
        hg_date_from_days (as_of, &y, &m, &d);
        q->ref_year = y;
    }
    return s_check (&c, q);
}
