/*
 * eval.c -- one patient's contribution to a query's partial aggregates (see
 * query.h): which events match each criterion, whether the patient is in
 * the cohort, and the cells of the measure it counts in (once each).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "date.h"
#include "hourglass.pb-c.h"
#include "query.h"

#define S_KEY_MAX HG_QUERY_KEY_MAX
#define S_SEP '\x1f'

static bool s_event_by (const hg_query_t *q);
static size_t s_cell_key (const hg_query_t *q, const hg_qpatient_t *p, const hg_qevent_t *e,
                          char *key);
static void s_period (int32_t day, bool per_year, bool month, char out[8]);

bool
hg_query_code_matches (const hg_qcrit_t *c, const hg_qcode_t *code)
{
    for (size_t i = 0; i < c->n_codes; i++) {
        if (strcmp (c->codes[i].system, code->system) != 0) {
            continue;
        }
        if (c->prefix ? strncmp (code->code, c->codes[i].code, strlen (c->codes[i].code)) == 0
                      : strcmp (code->code, c->codes[i].code) == 0) {
            return true;
        }
    }
    return false;
}

bool
hg_query_crit_accepts (const hg_qcrit_t *c, bool dated, int32_t day, bool has_value, double value)
{
    if ((c->has_from || c->has_to) && !dated) {
        return false;
    }
    if ((c->has_from && day < c->from) || (c->has_to && day > c->to)) {
        return false;
    }
    if ((c->has_gte || c->has_lt)
        && (!has_value || (c->has_gte && !(value >= c->gte))
            || (c->has_lt && !(value < c->lt)))) {
        return false;
    }
    return true;
}

static bool
s_event_matches (const hg_qcrit_t *c, const hg_qevent_t *e)
{
    if (!hg_query_crit_accepts (c, e->dated, e->day, e->has_value, e->value)) {
        return false;
    }
    for (size_t i = 0; i < e->n_codes; i++) {
        if (hg_query_code_matches (c, &e->codes[i])) {
            return true;
        }
    }
    return false;
}

/* Keeps the events of m that come min_days..max_days after an event of ref
 * (both dated; events are in day order, so ref's days are sorted). */
static void
s_after (const hg_qcrit_t *c, const hg_qevent_t *ev, size_t n, const uint8_t *ref, uint8_t *m,
         int32_t *days)
{
    size_t nd = 0;
    for (size_t e = 0; e < n; e++) {
        if (ref[e] && ev[e].dated) {
            days[nd++] = ev[e].day;
        }
    }
    for (size_t e = 0; e < n; e++) {
        if (!m[e]) {
            continue;
        }
        m[e] = 0;
        if (!ev[e].dated || nd == 0) {
            continue;
        }
        /* the first reference day >= day - max_days, then <= day - min_days */
        int64_t lo = c->has_max_days ? (int64_t) ev[e].day - c->max_days : INT64_MIN;
        int64_t hi = (int64_t) ev[e].day - c->min_days;
        size_t a = 0, b = nd;
        while (a < b) {
            size_t mid = (a + b) / 2;
            if (days[mid] < lo) {
                a = mid + 1;
            }
            else {
                b = mid;
            }
        }
        m[e] = a < nd && days[a] <= hi;
    }
}

bool
hg_query_demographics_pass (const hg_query_t *q, const hg_qpatient_t *p)
{
    if (q->sexes) {
        unsigned bit = 0;
        if (p->known) {
            bit = strcmp (p->sex, "female") == 0  ? HG_QSEX_FEMALE
                  : strcmp (p->sex, "male") == 0  ? HG_QSEX_MALE
                  : strcmp (p->sex, "other") == 0 ? HG_QSEX_OTHER
                                                  : HG_QSEX_UNKNOWN;
        }
        if (!(q->sexes & bit)) {
            return false;
        }
    }
    if (q->has_age) {
        if (!p->known) {
            return false;
        }
        int age = p->birth_year ? q->ref_year - p->birth_year : 90;
        if (age < q->age_from || age > q->age_to) {
            return false;
        }
    }
    return true;
}

const char *
hg_query_age_group (const hg_query_t *q, const hg_qpatient_t *p, char buf[16])
{
    if (!p->known) {
        return "unknown";
    }
    int age = p->birth_year ? q->ref_year - p->birth_year : 90;
    if (age >= 90) {
        return "90+";
    }
    if (age < 0) {
        age = 0;
    }
    snprintf (buf, 16, "%d-%d", age / 10 * 10, age / 10 * 10 + 9);
    return buf;
}

static const char *
s_class (const hg_qevent_t *e)
{
    if (e->kind != HOURGLASS__RECORD_KIND__KIND_ENCOUNTER) {
        return NULL;
    }
    for (size_t i = 0; i < e->n_codes; i++) {
        if (strcmp (e->codes[i].system, HG_QUERY_SYS_ACT) == 0) {
            return e->codes[i].code;
        }
    }
    return NULL;
}

static void
s_period (int32_t day, bool per_year, bool month, char out[8])
{
    int y, m, d;
    hg_date_from_days (day, &y, &m, &d);
    if (per_year && !month) {
        snprintf (out, 8, "%04d", y);
    }
    else {
        snprintf (out, 8, "%04d-%02d", y, m);
    }
}

/* The key of a cell: section, then each stratum's value (e NULL: the
 * patient's only). 0 when e has no value for an event stratum (an
 * encounter class of a record that is no encounter, an undated record). */
static size_t
s_cell_key (const hg_query_t *q, const hg_qpatient_t *p, const hg_qevent_t *e, char *key)
{
    size_t kl = 0;
    key[kl++] = 'C';
    for (size_t i = 0; i < q->n_by; i++) {
        char buf[16];
        const char *v = NULL;
        switch (q->by[i]) {
        case HG_QBY_SEX:
            v = p->known && *p->sex ? p->sex : "unknown";
            break;
        case HG_QBY_AGE_GROUP:
            v = hg_query_age_group (q, p, buf);
            break;
        case HG_QBY_STATE:
            v = p->known && *p->state ? p->state : "unknown";
            break;
        case HG_QBY_YEAR:
        case HG_QBY_MONTH:
            if (!e || !e->dated) {
                return 0;
            }
            s_period (e->day, true, q->by[i] == HG_QBY_MONTH, buf);
            v = buf;
            break;
        case HG_QBY_ENCOUNTER_CLASS:
            v = e ? s_class (e) : NULL;
            if (!v) {
                return 0;
            }
            break;
        }
        size_t vl = strnlen (v, 256);
        key[kl++] = S_SEP;
        memcpy (key + kl, v, vl);
        kl += vl;
    }
    return kl;
}

size_t
hg_query_patient_cell_key (const hg_query_t *q, const hg_qpatient_t *p, char *key)
{
    return q->n_by ? s_cell_key (q, p, NULL, key) : 0;
}

size_t
hg_query_record_cell_key (const hg_query_t *q, const hg_qpatient_t *p, int kind, bool dated,
                          int32_t day, char *key)
{
    hg_qevent_t e = {.dated = dated, .day = day, .kind = kind};
    return q->n_by ? s_cell_key (q, p, &e, key) : 0;
}

size_t
hg_query_series_key (const hg_query_t *q, int32_t day, char key[12])
{
    key[0] = 'S';
    key[1] = S_SEP;
    s_period (day, q->per_year, false, key + 2);
    return strlen (key);
}

bool
hg_query_event_strata (const hg_query_t *q)
{
    return s_event_by (q);
}

static bool
s_event_by (const hg_query_t *q)
{
    for (size_t i = 0; i < q->n_by; i++) {
        if (q->by[i] >= HG_QBY_YEAR) {
            return true;
        }
    }
    return false;
}

bool
hg_query_in_window (const hg_query_t *q, bool dated, int32_t day)
{
    if (!q->has_window) {
        return true;
    }
    return dated && (!q->win_has_from || day >= q->win_from)
           && (!q->win_has_to || day <= q->win_to);
}

static bool
s_in_window (const hg_query_t *q, const hg_qevent_t *e)
{
    return hg_query_in_window (q, e->dated, e->day);
}

static bool
s_same_code (const hg_qcode_t *a, const hg_qcode_t *b)
{
    return strcmp (a->code, b->code) == 0 && strcmp (a->system, b->system) == 0;
}

static bool
s_has_code (const hg_qevent_t *e, const hg_qcode_t *c)
{
    for (size_t i = 0; i < e->n_codes; i++) {
        if (s_same_code (&e->codes[i], c)) {
            return true;
        }
    }
    return false;
}

/* patients and records measures: the cells of the qualifying events (q:
 * events matching a positive criterion), or of the patient alone. */
static int
s_measure_cells (const hg_query_t *q, const hg_qpatient_t *p, const hg_qevent_t *ev, size_t n,
                 const uint8_t *qual, hg_qpart_t *part)
{
    char key[S_KEY_MAX];
    bool records = q->kind == HG_QM_RECORDS;
    if (!records && !s_event_by (q)) {
        size_t kl = q->n_by ? s_cell_key (q, p, NULL, key) : 0;
        return kl ? hg_qpart_touch (part, key, kl, 0) : 0;
    }
    for (size_t e = 0; e < n; e++) {
        const hg_qevent_t *x = &ev[e];
        if (records ? !s_in_window (q, x) || (q->of_kind && x->kind != q->of_kind) : !qual[e]) {
            continue;
        }
        if (records && hg_qpart_touch (part, "T", 1, 1) < 0) {
            return -1;
        }
        size_t kl = q->n_by ? s_cell_key (q, p, x, key) : 0;
        if (kl && hg_qpart_touch (part, key, kl, records ? 1 : 0) < 0) {
            return -1;
        }
    }
    return 0;
}

static int
s_measure_distribution (const hg_query_t *q, const hg_qevent_t *ev, size_t n, hg_qpart_t *part)
{
    for (size_t e = 0; e < n; e++) {
        const hg_qevent_t *x = &ev[e];
        if (!x->has_value || !s_in_window (q, x) || !s_has_code (x, &q->mcode)
            || x->value < q->bins[0] || !(x->value < q->bins[q->n_bins - 1])) {
            continue;
        }
        size_t b = 0;
        while (b + 2 < q->n_bins && x->value >= q->bins[b + 1]) {
            b++;
        }
        char key[32];
        int kl = snprintf (key, sizeof (key), "B%c%03zu", S_SEP, b);
        if (hg_qpart_touch (part, key, (size_t) kl, 1) < 0) {
            return -1;
        }
    }
    return 0;
}

static int
s_measure_series (const hg_query_t *q, const hg_qevent_t *ev, size_t n, hg_qpart_t *part)
{
    for (size_t e = 0; e < n; e++) {
        const hg_qevent_t *x = &ev[e];
        if (!x->dated || !s_has_code (x, &q->mcode)) {
            continue;
        }
        if (s_in_window (q, x)) {
            char key[12] = {'S', S_SEP};
            s_period (x->day, q->per_year, false, key + 2);
            if (hg_qpart_touch (part, key, strlen (key), 1) < 0) {
                return -1;
            }
        }
        if (q->incidence) {
            break; /* the first occurrence only, in the window or not */
        }
    }
    return 0;
}

static int
s_measure_top (const hg_query_t *q, const hg_qevent_t *ev, size_t n, hg_qpart_t *part)
{
    char key[S_KEY_MAX];
    for (size_t e = 0; e < n; e++) {
        const hg_qevent_t *x = &ev[e];
        if (x->kind != q->of_kind || !s_in_window (q, x)) {
            continue;
        }
        for (size_t i = 0; i < x->n_codes; i++) {
            int kl = snprintf (key, sizeof (key), "K%c%s|%s", S_SEP, x->codes[i].system,
                               x->codes[i].code);
            if (kl > 0 && (size_t) kl < sizeof (key)
                && hg_qpart_touch (part, key, (size_t) kl, 1) < 0) {
                return -1;
            }
        }
    }
    return 0;
}

/* Matches of every criterion into m (n_crit rows of n); whether the
 * patient is in the cohort. qual[e]: e matches a satisfied positive one. */
static bool
s_cohort (const hg_query_t *q, const hg_qevent_t *ev, size_t n, uint8_t *m, int32_t *days,
          uint8_t *qual)
{
    size_t n_pos = q->n_all + q->n_any, n_crit = n_pos + q->n_none;
    bool in = true, any = q->n_any == 0;
    memset (qual, 0, n);
    for (size_t i = 0; i < n_crit && in; i++) {
        const hg_qcrit_t *c = &q->crit[i];
        uint8_t *row = m + i * n;
        size_t count = 0;
        for (size_t e = 0; e < n; e++) {
            row[e] = s_event_matches (c, &ev[e]);
        }
        if (c->after >= 0) {
            s_after (c, ev, n, m + (size_t) c->after * n, row, days);
        }
        for (size_t e = 0; e < n; e++) {
            count += row[e];
        }
        bool sat = count >= c->min_count;
        if (i < q->n_all) {
            in = sat;
        }
        else if (i < n_pos) {
            any = any || sat;
        }
        else {
            in = !sat;
        }
        for (size_t e = 0; sat && i < n_pos && e < n; e++) {
            qual[e] |= row[e] && s_in_window (q, &ev[e]);
        }
    }
    return in && any;
}

int
hg_query_eval_patient (const hg_query_t *q, const hg_qpatient_t *p, const hg_qevent_t *ev,
                       size_t n, hg_qpart_t *part)
{
    if (!hg_query_demographics_pass (q, p)) {
        return 0;
    }
    size_t n_crit = q->n_all + q->n_any + q->n_none;
    uint8_t *m = malloc (n_crit * n + n + 1);
    int32_t *days = malloc ((n + 1) * sizeof (*days));
    int rc = m && days ? 0 : -1;
    if (rc == 0 && s_cohort (q, ev, n, m, days, m + n_crit * n)) {
        uint8_t *qual = m + n_crit * n;
        for (size_t e = 0; q->n_all + q->n_any == 0 && e < n; e++) {
            qual[e] = 1; /* no positive criterion: every record qualifies */
        }
        hg_qpart_next (part);
        rc = hg_qpart_touch (part, "T", 1, 0);
        switch (q->kind) {
        case HG_QM_PATIENTS:
        case HG_QM_RECORDS:
        case HG_QM_PREVALENCE:
            rc = rc < 0 ? rc : s_measure_cells (q, p, ev, n, qual, part);
            break;
        case HG_QM_DISTRIBUTION:
            rc = rc < 0 ? rc : s_measure_distribution (q, ev, n, part);
            break;
        case HG_QM_SERIES:
            rc = rc < 0 ? rc : s_measure_series (q, ev, n, part);
            break;
        case HG_QM_TOP:
            rc = rc < 0 ? rc : s_measure_top (q, ev, n, part);
            break;
        }
    }
    free (m);
    free (days);
    return rc;
}

int
hg_query_eval_population (const hg_query_t *q, const hg_qpatient_t *p, hg_qpart_t *part)
{
    if (!hg_query_demographics_pass (q, p)) {
        return 0;
    }
    if (hg_qpart_add (part, "T", 1, 0, 0, 1) < 0) {
        return -1;
    }
    char key[S_KEY_MAX];
    size_t kl = q->n_by ? s_cell_key (q, p, NULL, key) : 0;
    return kl ? hg_qpart_add (part, key, kl, 0, 0, 1) : 0;
}
