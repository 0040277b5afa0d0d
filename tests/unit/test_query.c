/*
 * test_query.c -- the analytics query: the planner's errors (each naming
 * its field), and every measure evaluated over a real shard index
 * (services/indexer/query_shard.c over RocksDB in a temporary directory)
 * against brute force over the same random patients, then the answer's
 * suppression.
 */
#include "unit_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "batch.h"
#include "date.h"
#include "index.h"
#include "query.h"
#include "query_shard.h"
#include "record.h"
#include "util.h"

#define ICD HG_SYS_ICD10CM
#define LN HG_SYS_LOINC
#define ACT HG_QUERY_SYS_ACT
#define RX HG_SYS_RXNORM
#define N_PAT 80
#define N_EV 30
#define DAY0 17532 /* 2018-01-01 */

/* the code pool: system, code, kind */
static const struct {
    const char *system, *code;
    int kind;
} s_pool[] = {
    {ICD, "E11.9", HOURGLASS__RECORD_KIND__KIND_CONDITION},
    {ICD, "E11.65", HOURGLASS__RECORD_KIND__KIND_CONDITION},
    {ICD, "E10.9", HOURGLASS__RECORD_KIND__KIND_CONDITION},
    {ICD, "I10", HOURGLASS__RECORD_KIND__KIND_CONDITION},
    {LN, "4548-4", HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION},
    {LN, "2345-7", HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION},
    {ACT, "AMB", HOURGLASS__RECORD_KIND__KIND_ENCOUNTER},
    {ACT, "IMP", HOURGLASS__RECORD_KIND__KIND_ENCOUNTER},
    {RX, "860975", HOURGLASS__RECORD_KIND__KIND_MEDICATION},
};
#define N_CODES (sizeof (s_pool) / sizeof (s_pool[0]))

typedef struct {
    int code; /* into s_pool */
    bool dated;
    int day;
    double value; /* labs */
} ev_t;

typedef struct {
    bool female;
    int birth_year; /* 0: over 89 */
    int n;
    ev_t ev[N_EV];
} pt_t;

typedef struct {
    char dir[64];
    hg_store_t *store;
    hg_index_t *index;
    pt_t pt[N_PAT];
} fx_t;

static uint64_t s_rng = 88172645463325252ULL;

static unsigned
s_below (unsigned n)
{
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return (unsigned) (s_rng % n);
}

static void
s_id (unsigned a, unsigned b, char out[33])
{
    snprintf (out, 33, "%08x%08x%08x%08x", a * 2654435761u, a, b, b * 40503u);
}

/* Random patients, indexed as records on one shard. */
static void
s_populate (fx_t *fx)
{
    hg_batch_t *batch = hg_batch_new (0);
    hg_arena_t *a = hg_batch_arena (batch);
    hg_store_batch_t *wb = hg_store_batch_new ();
    hg_err_t err = {0};
    hg_index_begin (fx->index);
    for (unsigned p = 0; p < N_PAT; p++) {
        pt_t *pt = &fx->pt[p];
        pt->female = s_below (2);
        pt->birth_year = s_below (10) == 0 ? 0 : 1935 + (int) s_below (80);
        pt->n = (int) s_below (N_EV);
        char pid[33], rid[33];
        s_id (p + 1, 0, pid);
        Hourglass__Record *d = hg_batch_add_record (batch,
                                                    HOURGLASS__RECORD_KIND__KIND_DEMOGRAPHICS);
        d->pseudonymous = true;
        d->patient_ref = hg_arena_strdup (a, pid);
        s_id (p + 1, 1000, rid);
        d->record_id = hg_arena_strdup (a, rid);
        d->demographics = hg_arena_alloc (a, sizeof (*d->demographics));
        hourglass__demographics__init (d->demographics);
        d->demographics->sex = pt->female ? "female" : "male";
        d->demographics->birth_year = pt->birth_year;
        d->demographics->state = "CA";
        assert_int_equal (hg_index_put (fx->index, wb, d, &err), 1);
        for (int i = 0; i < pt->n; i++) {
            ev_t *e = &pt->ev[i];
            e->code = (int) s_below (N_CODES);
            e->dated = s_below (10) != 0;
            e->day = DAY0 + (int) s_below (5 * 365);
            e->value = 4 + s_below (1000) / 100.0;
            Hourglass__Record *r = hg_batch_add_record (batch, s_pool[e->code].kind);
            r->pseudonymous = true;
            r->patient_ref = d->patient_ref;
            s_id (p + 1, (unsigned) i + 1, rid);
            r->record_id = hg_arena_strdup (a, rid);
            int y, m, dd;
            hg_date_from_days (e->day, &y, &m, &dd);
            r->effective = e->dated ? hg_arena_printf (a, "%04d-%02d-%02d", y, m, dd) : "";
            hg_record_add_code (a, r, s_pool[e->code].system, s_pool[e->code].code, NULL);
            if (s_pool[e->code].kind == HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION) {
                r->quantity = hg_arena_alloc (a, sizeof (*r->quantity));
                hourglass__quantity__init (r->quantity);
                r->quantity->value = e->value;
                r->value_case = HOURGLASS__RECORD__VALUE_QUANTITY;
            }
            assert_int_equal (hg_index_put (fx->index, wb, r, &err), 1);
        }
    }
    assert_int_equal (hg_index_flush (fx->index, wb, &err), 0);
    assert_int_equal (hg_store_write (fx->store, wb, true, &err), 0);
    hg_store_batch_destroy (&wb);
    hg_batch_destroy (&batch);
}

static int
s_setup (void **state)
{
    fx_t *fx = calloc (1, sizeof (*fx));
    snprintf (fx->dir, sizeof (fx->dir), "/tmp/hg-query-XXXXXX");
    if (!mkdtemp (fx->dir)) {
        return -1;
    }
    char db[128];
    snprintf (db, sizeof (db), "%s/db", fx->dir);
    hg_store_opts_t so = {.compression = "none"};
    hg_err_t err = {0};
    fx->store = hg_store_open (db, &so, &err);
    fx->index = fx->store ? hg_index_open (fx->store, NULL, &err) : NULL;
    *state = fx;
    if (!fx->index) {
        return -1;
    }
    s_populate (fx);
    return 0;
}

static int
s_teardown (void **state)
{
    fx_t *fx = *state;
    hg_index_destroy (&fx->index);
    hg_store_close (&fx->store);
    hg_remove_tree (fx->dir, NULL);
    free (fx);
    return 0;
}

/* The answer of doc over the shard (min_cell as given), parsed. */
static json_object *
s_answer (fx_t *fx, const char *doc, uint64_t min_cell)
{
    hg_arena_t *a = hg_arena_new (0);
    hg_query_t q;
    hg_err_t err = {0};
    if (hg_query_parse (doc, strlen (doc), 2024, a, &q, &err) < 0) {
        fail_msg ("%s: %s", doc, err.msg);
    }
    hg_qpart_t *part = hg_qpart_new ();
    assert_int_equal (hg_query_shard (fx->index, doc, 2024, part, &err), 0);
    hg_disclose_policy_t pol = {.min_cell = min_cell, .round_to = 1};
    char *text = hg_query_answer (&q, part, &pol, NULL, 1, NULL, a);
    json_object *ans = json_tokener_parse (text);
    assert_non_null (ans);
    hg_qpart_destroy (&part);
    hg_arena_destroy (&a);
    return ans;
}

static int64_t
s_int (json_object *o, const char *key)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex (o, key, &v) || !v) {
        return -1; /* absent or null (suppressed) */
    }
    return json_object_get_int64 (v);
}

static json_object *
s_arr (json_object *o, const char *key)
{
    json_object *v = NULL;
    assert_true (json_object_object_get_ex (o, key, &v));
    return v;
}

static const char *
s_str (json_object *o, const char *key)
{
    json_object *v = NULL;
    assert_true (json_object_object_get_ex (o, key, &v));
    return json_object_get_string (v);
}

static int32_t
s_day (const char *s)
{
    hg_date_t d;
    assert_int_equal (hg_date_parse_iso (s, strlen (s), &d, NULL), 0);
    return (int32_t) hg_date_days (&d);
}

static bool
s_has (const pt_t *p, int code, bool need_date, int32_t from, int32_t to)
{
    for (int i = 0; i < p->n; i++) {
        const ev_t *e = &p->ev[i];
        if (e->code == code && (!need_date || (e->dated && e->day >= from && e->day <= to))) {
            return true;
        }
    }
    return false;
}

/* ---- the planner -------------------------------------------------------------- */

static void
test_planner_errors (void **state)
{
    (void) state;
    static const struct {
        const char *doc, *msg;
    } cases[] = {
        {"[1]", "must be a JSON object"},
        {"{\"cohort\": {\"all\": [{\"code\": \"nobar\"}]}}",
         "cohort.all[0].code must be SYSTEM|CODE"},
        {"{\"cohort\": {\"all\": [{\"code\": \"a|b\", \"codes\": [\"a|c\"]}]}}",
         "cohort.all[0] needs exactly one of code, codes, prefix"},
        {"{\"cohort\": {\"any\": [{\"code\": \"a|b\", \"from\": \"2020-13-01\"}]}}",
         "cohort.any[0].from must be a date"},
        {"{\"cohort\": {\"all\": [{\"code\": \"a|b\", \"value\": {\"gte\": \"8\"}}]}}",
         "cohort.all[0].value.gte must be a number"},
        {"{\"cohort\": {\"all\": [{\"code\": \"a|b\", \"after\": {\"criterion\": 0}}]}}",
         "cohort.all[0].after.criterion refers to cohort.all, which has no earlier"},
        {"{\"cohort\": {\"all\": [{\"code\": \"a|b\"}, {\"code\": \"a|c\", \"after\": "
         "{\"criterion\": 1}}]}}",
         "cohort.all[1].after.criterion must be a whole number in 0..0"},
        {"{\"cohort\": {\"all\": [{\"code\": \"a|b\", \"min_count\": 0}]}}",
         "cohort.all[0].min_count must be"},
        {"{\"cohort\": {\"all\": [{\"code\": \"a|b\", \"form\": \"2020-01-01\"}]}}",
         "cohort.all[0].form: unknown field"},
        {"{\"cohort\": {\"sex\": [\"f\"]}}", "cohort.sex[0] must be female"},
        {"{\"by\": [\"sex\", \"zip\"]}", "by[1] must be sex"},
        {"{\"measure\": {\"kind\": \"mean\"}}", "measure.kind must be"},
        {"{\"measure\": {\"kind\": \"prevalence\", \"per\": 0}}",
         "measure.per must be a positive"},
        {"{\"measure\": {\"kind\": \"prevalence\", \"per\": -1}}",
         "measure.per must be a positive"},
        {"{\"measure\": {\"kind\": \"distribution\", \"code\": \"a|b\", \"bins\": [1, 1]}}",
         "measure.bins must increase"},
        {"{\"measure\": {\"kind\": \"top\", \"of\": \"encounter\"}}", "measure.of must be"},
        {"{\"by\": [\"year\"], \"measure\": {\"kind\": \"prevalence\"}}", "by: prevalence"},
        {"{\"cohort\": {\"all\": [{\"code\": \"a|b\"}]}", "the query is not JSON"},
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        hg_arena_t *a = hg_arena_new (0);
        hg_query_t q;
        hg_err_t err = {0};
        int rc = hg_query_parse (cases[i].doc, strlen (cases[i].doc), 2024, a, &q, &err);
        if (rc != -1 || !strstr (err.msg, cases[i].msg)) {
            fail_msg ("%s: got \"%s\", want \"%s\"", cases[i].doc, err.msg, cases[i].msg);
        }
        hg_arena_destroy (&a);
    }
    /* a good one: its plan */
    const char *doc =
        "{\"cohort\": {\"all\": [{\"prefix\": \"" ICD "|E11\", \"from\": "
        "\"2020-01-01\", \"to\": \"2020-12-31\"}, {\"code\": \"" LN "|4548-4\", "
        "\"value\": {\"gte\": 8}, \"after\": {\"criterion\": 0, \"max_days\": 90}}],"
        " \"sex\": [\"female\"], \"age\": {\"from\": 40, \"to\": 64}}, "
        "\"by\": [\"age_group\"], \"as_of\": \"2023-05-01\"}";
    hg_arena_t *a = hg_arena_new (0);
    hg_query_t q;
    hg_err_t err = {0};
    assert_int_equal (hg_query_parse (doc, strlen (doc), 2024, a, &q, &err), 0);
    assert_int_equal (q.n_all, 2);
    assert_true (q.crit[0].prefix);
    assert_string_equal (q.crit[0].codes[0].system, ICD);
    assert_string_equal (q.crit[0].codes[0].code, "E11");
    assert_int_equal (q.crit[1].after, 0);
    assert_true (q.crit[1].has_max_days && q.crit[1].max_days == 90);
    assert_false (q.has_window); /* crit 1 has no dates: no bound for the cohort */
    assert_int_equal (q.sexes, HG_QSEX_FEMALE);
    assert_int_equal (q.ref_year, 2023);
    assert_int_equal (q.kind, HG_QM_PATIENTS);
    hg_arena_destroy (&a);
}

/* ---- the measures against brute force ----------------------------------------- */

static int
s_age_group_index (int birth_year)
{
    int age = birth_year ? 2024 - birth_year : 90;
    return age >= 90 ? 9 : age / 10;
}

/* patients: a prefix in a window, none, sex, two patient strata. */
static void
test_patients_by_sex_and_age (void **state)
{
    fx_t *fx = *state;
    json_object *ans = s_answer (fx,
                                 "{\"cohort\": {\"all\": [{\"prefix\": \"" ICD
                                 "|E11\", \"from\": \"2019-01-01\", \"to\": "
                                 "\"2021-12-31\"}], \"none\": [{\"code\": \"" ICD
                                 "|I10\"}], \"sex\": [\"female\"]}, "
                                 "\"by\": [\"sex\", \"age_group\"], \"as_of\": \"2024-06-01\"}",
                                 0);
    int32_t from = s_day ("2019-01-01"), to = s_day ("2021-12-31");
    int want = 0, cells[10] = {0};
    for (int p = 0; p < N_PAT; p++) {
        const pt_t *pt = &fx->pt[p];
        if (pt->female && (s_has (pt, 0, true, from, to) || s_has (pt, 1, true, from, to))
            && !s_has (pt, 3, false, 0, 0)) {
            want++;
            cells[s_age_group_index (pt->birth_year)]++;
        }
    }
    assert_true (want > 0);
    assert_int_equal (s_int (ans, "patients"), want);
    json_object *arr = s_arr (ans, "cells");
    int seen = 0;
    for (size_t i = 0; i < json_object_array_length (arr); i++) {
        json_object *c = json_object_array_get_idx (arr, i);
        assert_string_equal (s_str (c, "sex"), "female");
        const char *g = s_str (c, "age_group");
        int idx = strcmp (g, "90+") == 0 ? 9 : atoi (g) / 10;
        assert_int_equal (s_int (c, "patients"), cells[idx]);
        seen += cells[idx];
    }
    assert_int_equal (seen, want);
    json_object_put (ans);
}

/* The patient's events of code: whether one is in [lo, hi] days after a
 * lab 4548-4 >= 8. */
static bool
s_after_lab (const pt_t *pt, int code, int lo, int hi)
{
    for (int i = 0; i < pt->n; i++) {
        for (int j = 0; j < pt->n; j++) {
            const ev_t *a = &pt->ev[i], *b = &pt->ev[j];
            if (a->code == 4 && a->value >= 8 && a->dated && b->code == code && b->dated
                && b->day - a->day >= lo && b->day - a->day <= hi) {
                return true;
            }
        }
    }
    return false;
}

/* patients: a value predicate, after (exact days), min_count. */
static void
test_value_after_min_count (void **state)
{
    fx_t *fx = *state;
    json_object *ans = s_answer (fx,
                                 "{\"cohort\": {\"all\": [{\"code\": \"" LN
                                 "|4548-4\", \"value\": {\"gte\": 8}}, "
                                 "{\"code\": \"" ICD
                                 "|E11.9\", \"after\": {\"criterion\": 0, \"min_days\": 0, "
                                 "\"max_days\": 180}}]}}",
                                 0);
    int want = 0;
    for (int p = 0; p < N_PAT; p++) {
        want += s_after_lab (&fx->pt[p], 0, 0, 180);
    }
    assert_true (want > 0);
    assert_int_equal (s_int (ans, "patients"), want);
    json_object_put (ans);
    ans = s_answer (fx,
                    "{\"cohort\": {\"all\": [{\"code\": \"" LN
                    "|4548-4\", \"value\": {\"gte\": 6, "
                    "\"lt\": 12}, \"min_count\": 2}]}}",
                    0);
    want = 0;
    for (int p = 0; p < N_PAT; p++) {
        int n = 0;
        for (int i = 0; i < fx->pt[p].n; i++) {
            const ev_t *e = &fx->pt[p].ev[i];
            n += e->code == 4 && e->value >= 6 && e->value < 12;
        }
        want += n >= 2;
    }
    assert_true (want > 0);
    assert_int_equal (s_int (ans, "patients"), want);
    json_object_put (ans);
}

/* records: encounters of the cohort in its window, by year and class. */
static void
test_records_by_year_and_class (void **state)
{
    fx_t *fx = *state;
    json_object *ans = s_answer (
        fx,
        "{\"cohort\": {\"all\": [{\"codes\": [\"" ICD "|E11.9\", \"" ICD "|E10.9\"], \"from\": "
        "\"2019-01-01\", \"to\": \"2020-12-31\"}]}, \"by\": [\"year\", \"encounter_class\"], "
        "\"measure\": {\"kind\": \"records\", \"of\": \"encounter\"}}",
        0);
    int32_t from = s_day ("2019-01-01"), to = s_day ("2020-12-31");
    int want_p = 0, want_r = 0, cell_r[2][2] = {{0}}, cell_p[2][2] = {{0}};
    for (int p = 0; p < N_PAT; p++) {
        const pt_t *pt = &fx->pt[p];
        if (!s_has (pt, 0, true, from, to) && !s_has (pt, 2, true, from, to)) {
            continue;
        }
        want_p++;
        bool seen[2][2] = {{false}};
        for (int i = 0; i < pt->n; i++) {
            const ev_t *e = &pt->ev[i];
            if ((e->code == 6 || e->code == 7) && e->dated && e->day >= from && e->day <= to) {
                int y, m, d;
                hg_date_from_days (e->day, &y, &m, &d);
                want_r++;
                cell_r[y - 2019][e->code - 6]++;
                cell_p[y - 2019][e->code - 6] += !seen[y - 2019][e->code - 6];
                seen[y - 2019][e->code - 6] = true;
            }
        }
    }
    assert_true (want_r > 0);
    assert_int_equal (s_int (ans, "patients"), want_p);
    assert_int_equal (s_int (ans, "records"), want_r);
    json_object *arr = s_arr (ans, "cells");
    int total = 0;
    for (size_t i = 0; i < json_object_array_length (arr); i++) {
        json_object *c = json_object_array_get_idx (arr, i);
        int y = atoi (s_str (c, "year")) - 2019;
        int k = strcmp (s_str (c, "encounter_class"), "AMB") == 0 ? 0 : 1;
        assert_true (y >= 0 && y < 2);
        assert_int_equal (s_int (c, "records"), cell_r[y][k]);
        assert_int_equal (s_int (c, "patients"), cell_p[y][k]);
        total += cell_r[y][k];
    }
    assert_int_equal (total, want_r);
    json_object_put (ans);
}

/* distribution: the values of a lab in bins [from, to). */
static void
test_distribution (void **state)
{
    fx_t *fx = *state;
    json_object *ans = s_answer (fx,
                                 "{\"cohort\": {\"all\": [{\"prefix\": \"" ICD "|E1\"}]}, "
                                 "\"measure\": {\"kind\": \"distribution\", \"code\": \"" LN
                                 "|4548-4\", \"bins\": [4, 6, 8, 10, 12]}}",
                                 0);
    int recs[4] = {0}, pats[4] = {0};
    for (int p = 0; p < N_PAT; p++) {
        const pt_t *pt = &fx->pt[p];
        if (!s_has (pt, 0, false, 0, 0) && !s_has (pt, 1, false, 0, 0)
            && !s_has (pt, 2, false, 0, 0)) {
            continue;
        }
        bool seen[4] = {false};
        for (int i = 0; i < pt->n; i++) {
            const ev_t *e = &pt->ev[i];
            if (e->code == 4 && e->value >= 4 && e->value < 12) {
                int b = (int) ((e->value - 4) / 2);
                recs[b]++;
                pats[b] += !seen[b];
                seen[b] = true;
            }
        }
    }
    json_object *arr = s_arr (ans, "bins");
    assert_int_equal (json_object_array_length (arr), 4);
    for (int b = 0; b < 4; b++) {
        json_object *o = json_object_array_get_idx (arr, (size_t) b);
        assert_int_equal (s_int (o, "from"), 4 + 2 * b);
        assert_int_equal (s_int (o, "records"), recs[b]);
        assert_int_equal (s_int (o, "patients"), pats[b]);
    }
    assert_true (recs[0] + recs[3] > 0);
    json_object_put (ans);
}

/* series: incidence per month, the first occurrence ever; those before
 * the window are not counted. */
static void
test_series_incidence (void **state)
{
    fx_t *fx = *state;
    json_object *ans = s_answer (fx,
                                 "{\"cohort\": {\"all\": [{\"code\": \"" ICD
                                 "|E11.9\", \"from\": "
                                 "\"2019-01-01\"}]}, \"measure\": {\"kind\": \"series\", "
                                 "\"code\": \"" ICD "|E11.9\", \"interval\": \"month\", "
                                 "\"incidence\": true}}",
                                 0);
    int32_t from = s_day ("2019-01-01");
    int months[5 * 12 + 12] = {0}, total = 0;
    for (int p = 0; p < N_PAT; p++) {
        const pt_t *pt = &fx->pt[p];
        int first = -1;
        for (int i = 0; i < pt->n; i++) {
            if (pt->ev[i].code == 0 && pt->ev[i].dated && (first < 0 || pt->ev[i].day < first)) {
                first = pt->ev[i].day;
            }
        }
        if (first >= from) {
            int y, m, d;
            hg_date_from_days (first, &y, &m, &d);
            months[(y - 2018) * 12 + m - 1]++;
            total++;
        }
    }
    json_object *arr = s_arr (ans, "series");
    int got = 0;
    for (size_t i = 0; i < json_object_array_length (arr); i++) {
        json_object *o = json_object_array_get_idx (arr, i);
        const char *period = s_str (o, "period");
        int idx = (atoi (period) - 2018) * 12 + atoi (period + 5) - 1;
        assert_int_equal (s_int (o, "patients"), months[idx]);
        got += months[idx];
    }
    assert_true (total > 0);
    assert_int_equal (got, total);
    json_object_put (ans);
}

/* prevalence by sex, with an age filter on numerator and denominator. */
static void
test_prevalence (void **state)
{
    fx_t *fx = *state;
    json_object *ans = s_answer (fx,
                                 "{\"cohort\": {\"all\": [{\"code\": \"" RX "|860975\"}], "
                                 "\"age\": {\"from\": 30, \"to\": 70}}, \"by\": [\"sex\"], "
                                 "\"measure\": {\"kind\": \"prevalence\", \"per\": 1000}, "
                                 "\"as_of\": \"2024-06-01\"}",
                                 0);
    int num[2] = {0}, den[2] = {0};
    for (int p = 0; p < N_PAT; p++) {
        const pt_t *pt = &fx->pt[p];
        int age = pt->birth_year ? 2024 - pt->birth_year : 90;
        if (age >= 30 && age <= 70) {
            den[pt->female]++;
            num[pt->female] += s_has (pt, 8, false, 0, 0);
        }
    }
    assert_int_equal (s_int (ans, "patients"), num[0] + num[1]);
    assert_int_equal (s_int (ans, "denominator"), den[0] + den[1]);
    json_object *arr = s_arr (ans, "cells");
    assert_int_equal (json_object_array_length (arr), 2);
    for (size_t i = 0; i < 2; i++) {
        json_object *c = json_object_array_get_idx (arr, i);
        int f = strcmp (s_str (c, "sex"), "female") == 0;
        assert_int_equal (s_int (c, "patients"), num[f]);
        assert_int_equal (s_int (c, "denominator"), den[f]);
        json_object *rate;
        assert_true (json_object_object_get_ex (c, "rate", &rate));
        assert_true (fabs (json_object_get_double (rate) - num[f] * 1000.0 / den[f]) < 1e-9);
    }
    json_object_put (ans);
}

/* top: conditions of the cohort by patients, exact. */
static void
test_top (void **state)
{
    fx_t *fx = *state;
    json_object *ans = s_answer (fx,
                                 "{\"cohort\": {\"all\": [{\"code\": \"" LN "|2345-7\"}]}, "
                                 "\"measure\": {\"kind\": \"top\", \"of\": \"condition\", "
                                 "\"n\": 3}}",
                                 0);
    int per[4] = {0};
    for (int p = 0; p < N_PAT; p++) {
        if (s_has (&fx->pt[p], 5, false, 0, 0)) {
            for (int c = 0; c < 4; c++) {
                per[c] += s_has (&fx->pt[p], c, false, 0, 0);
            }
        }
    }
    json_object *arr = s_arr (ans, "top");
    assert_int_equal (json_object_array_length (arr), 3);
    int last = 1 << 30;
    for (size_t i = 0; i < 3; i++) {
        json_object *o = json_object_array_get_idx (arr, i);
        const char *code = strrchr (s_str (o, "code"), '|') + 1;
        int c = 0;
        while (strcmp (s_pool[c].code, code) != 0) {
            c++;
        }
        assert_int_equal (s_int (o, "patients"), per[c]);
        assert_true (per[c] <= last);
        last = per[c];
    }
    /* the one left out has no more patients than the last shown */
    int sorted[4];
    memcpy (sorted, per, sizeof (per));
    for (int x = 0; x < 4; x++) {
        for (int y = x + 1; y < 4; y++) {
            if (sorted[y] > sorted[x]) {
                int t = sorted[x];
                sorted[x] = sorted[y];
                sorted[y] = t;
            }
        }
    }
    assert_int_equal (last, sorted[2]);
    json_object_put (ans);
}

/* Suppression on every number: with a min cell above every count, the
 * totals, cells and records are null and marked. */
static void
test_suppression (void **state)
{
    fx_t *fx = *state;
    json_object *ans = s_answer (fx,
                                 "{\"cohort\": {\"all\": [{\"prefix\": \"" ICD "|\"}]}, "
                                 "\"by\": [\"sex\"], \"measure\": {\"kind\": \"records\"}}",
                                 N_PAT);
    assert_int_equal (s_int (ans, "patients"), -1);
    assert_int_equal (s_int (ans, "records"), -1);
    json_object *v;
    assert_true (json_object_object_get_ex (ans, "suppressed", &v)
                 && json_object_get_boolean (v));
    json_object *arr = s_arr (ans, "cells");
    assert_true (json_object_array_length (arr) > 0);
    for (size_t i = 0; i < json_object_array_length (arr); i++) {
        json_object *c = json_object_array_get_idx (arr, i);
        assert_int_equal (s_int (c, "patients"), -1);
        assert_int_equal (s_int (c, "records"), -1);
    }
    json_object_put (ans);
    /* min cell 0: the same numbers shown */
    ans = s_answer (fx, "{\"cohort\": {\"all\": [{\"prefix\": \"" ICD "|\"}]}}", 0);
    assert_true (s_int (ans, "patients") > 0);
    json_object_put (ans);
}

/* The answer text of doc, from the bitmaps and columns (where they answer or
 * narrow) or from timelines only. */
static char *
s_answer_text (fx_t *fx, const char *doc, bool timelines)
{
    hg_arena_t *a = hg_arena_new (0);
    hg_query_t q;
    hg_err_t err = {0};
    if (hg_query_parse (doc, strlen (doc), 2024, a, &q, &err) < 0) {
        fail_msg ("%s: %s", doc, err.msg);
    }
    hg_qpart_t *part = hg_qpart_new ();
    hg_query_shard_timelines_only = timelines;
    assert_int_equal (hg_query_shard (fx->index, doc, 2024, part, &err), 0);
    hg_query_shard_timelines_only = false;
    hg_disclose_policy_t pol = {.min_cell = 0, .round_to = 1};
    char *text = strdup (hg_query_answer (&q, part, &pol, NULL, 1, NULL, a));
    hg_qpart_destroy (&part);
    hg_arena_destroy (&a);
    return text;
}

/* Every kind of question the bitmaps answer or narrow, each answered both
 * ways; the timeline evaluation is the one checked against brute force
 * above. */
static const char *const s_docs[] = {
    "{\"cohort\": {\"all\": [{\"prefix\": \"" ICD "|E1\"}]}, \"by\": [\"sex\", \"age_group\"]}",
    "{\"cohort\": {\"any\": [{\"code\": \"" ICD "|E11.9\"}, {\"code\": \"" ICD "|I10\"}], "
    "\"none\": [{\"code\": \"" ICD "|E10.9\"}], \"sex\": [\"female\"], "
    "\"age\": {\"from\": 30, \"to\": 70}}, \"by\": [\"state\"]}",
    "{\"cohort\": {\"all\": [{\"code\": \"" LN "|4548-4\", \"value\": {\"gte\": 6, \"lt\": 9}, "
    "\"min_count\": 2}]}, \"by\": [\"sex\"]}",
    "{\"cohort\": {\"all\": [{\"code\": \"" ICD "|I10\", \"from\": \"2019-03-01\", "
    "\"to\": \"2020-06-30\"}, {\"codes\": [\"" RX "|860975\", \"" ICD "|E11.65\"]}]}, "
    "\"by\": [\"age_group\"]}",
    "{\"cohort\": {\"all\": [{\"code\": \"" ICD "|E11.9\"}]}, \"by\": [\"sex\"], "
    "\"measure\": {\"kind\": \"prevalence\", \"per\": 1000}}",
    "{\"cohort\": {\"all\": [{\"code\": \"" ICD "|E11.9\"}], \"sex\": [\"male\"]}, "
    "\"by\": [\"state\", \"age_group\"], \"measure\": {\"kind\": \"prevalence\", \"per\": 100}}",
    "{\"cohort\": {\"all\": [{\"prefix\": \"" ICD "|E\"}]}, \"measure\": {\"kind\": "
    "\"distribution\", \"code\": \"" LN "|4548-4\", \"bins\": [4, 6, 8, 10, 14]}}",
    "{\"cohort\": {\"all\": [{\"prefix\": \"" ICD "|E\", \"from\": \"2019-01-01\", \"to\": "
    "\"2021-12-31\"}], \"age\": {\"from\": 20, \"to\": 80}}, \"measure\": {\"kind\": "
    "\"distribution\", \"code\": \"" LN "|4548-4\", \"bins\": [5, 7, 9, 11]}}",
    "{\"cohort\": {\"all\": [{\"code\": \"" ICD "|E11.9\"}]}, \"measure\": {\"kind\": "
    "\"series\", \"code\": \"" ICD "|E11.9\", \"interval\": \"month\", \"incidence\": true}}",
    "{\"cohort\": {\"any\": [{\"code\": \"" LN "|2345-7\"}, {\"prefix\": \"" ICD "|E10\"}]}, "
    "\"measure\": {\"kind\": \"series\", \"code\": \"" LN "|2345-7\", \"interval\": \"year\"}}",
    "{\"cohort\": {\"all\": [{\"code\": \"" ICD "|I10\", \"from\": \"2020-01-01\"}]}, "
    "\"measure\": {\"kind\": \"series\", \"code\": \"" ICD "|I10\", \"interval\": \"month\", "
    "\"incidence\": true}}",
    "{\"cohort\": {\"all\": [{\"code\": \"" LN "|4548-4\", \"value\": {\"gte\": 8}}]}, "
    "\"measure\": {\"kind\": \"top\", \"of\": \"condition\", \"n\": 5}}",
    "{\"measure\": {\"kind\": \"top\", \"of\": \"lab\", \"n\": 3}}",
    "{\"by\": [\"state\", \"sex\"]}",
    "{\"cohort\": {\"none\": [{\"prefix\": \"" ICD "|E\"}]}, \"by\": [\"age_group\"]}",
    /* after, from the columns: the boundaries (an event after itself, on the
     * same day; at least 30 days) and a min_count of events after */
    "{\"cohort\": {\"all\": [{\"prefix\": \"" ICD "|E1\"}, {\"code\": \"" ICD
    "|E11.9\", \"after\": {\"criterion\": 0, \"min_days\": 0, \"max_days\": 0}}]}}",
    "{\"cohort\": {\"all\": [{\"code\": \"" LN "|2345-7\"}, {\"code\": \"" ICD
    "|I10\", \"min_count\": 2, \"after\": {\"criterion\": 0, \"min_days\": 30}}]}, "
    "\"by\": [\"sex\"]}",
    /* records, from the record column */
    "{\"cohort\": {\"all\": [{\"code\": \"" ICD "|I10\", \"from\": \"2019-06-01\", "
    "\"to\": \"2021-06-30\"}], \"age\": {\"from\": 25, \"to\": 75}}, "
    "\"by\": [\"month\", \"state\"], \"measure\": {\"kind\": \"records\", \"of\": \"lab\"}}",
    "{\"by\": [\"age_group\"], \"measure\": {\"kind\": \"records\"}}",
    "{\"cohort\": {\"any\": [{\"prefix\": \"" ICD "|E\"}]}, \"measure\": {\"kind\": "
    "\"records\"}}",
    /* not exact from the sets: narrowed, then timelines */
    "{\"cohort\": {\"all\": [{\"prefix\": \"" ICD "|E11\", \"min_count\": 2}]}, "
    "\"by\": [\"sex\"]}",
    "{\"cohort\": {\"all\": [{\"code\": \"" LN "|4548-4\", \"value\": {\"gte\": 7}}, "
    "{\"prefix\": \"" ICD "|E1\", \"after\": {\"criterion\": 0, \"max_days\": 365}}], "
    "\"none\": [{\"code\": \"" ICD "|I10\", \"min_count\": 3}]}}",
    "{\"cohort\": {\"all\": [{\"prefix\": \"" ICD "|\"}]}, \"by\": [\"sex\", \"year\"], "
    "\"measure\": {\"kind\": \"records\"}}",
    "{\"cohort\": {\"any\": [{\"code\": \"" ACT "|AMB\"}]}, \"by\": [\"encounter_class\"]}",
    "{\"cohort\": {\"all\": [{\"code\": \"" ICD "|E11.9\", \"from\": \"2019-01-01\"}]}, "
    "\"measure\": {\"kind\": \"top\", \"of\": \"medication\", \"n\": 4}}",
};

static void
s_compare_all (fx_t *fx)
{
    for (size_t i = 0; i < sizeof (s_docs) / sizeof (s_docs[0]); i++) {
        char *fast = s_answer_text (fx, s_docs[i], false);
        char *slow = s_answer_text (fx, s_docs[i], true);
        if (strcmp (fast, slow) != 0) {
            fail_msg ("question %zu: %s\n bitmaps   %s\n timelines %s", i, s_docs[i], fast, slow);
        }
        free (fast);
        free (slow);
    }
}

/* A later round: new patients without demographics, known patients whose
 * demographics change (sex, birth year, state) and more events. */
static void
s_second_round (fx_t *fx)
{
    hg_batch_t *batch = hg_batch_new (0);
    hg_arena_t *a = hg_batch_arena (batch);
    hg_store_batch_t *wb = hg_store_batch_new ();
    hg_err_t err = {0};
    hg_index_begin (fx->index);
    static const char *const states[] = {"NY", "TX", "CA", ""};
    for (unsigned p = 0; p < N_PAT + 20; p += 3) {
        char pid[33], rid[33];
        s_id (p + 1, 0, pid);
        for (unsigned i = 0; i < 3; i++) {
            int code = (int) s_below (N_CODES);
            /* every third one a code of another kind's record (a diagnosis
             * on an encounter): the bitmaps are by kind as well as code */
            Hourglass__Record *r =
                hg_batch_add_record (batch, i == 2 ? HOURGLASS__RECORD_KIND__KIND_ENCOUNTER
                                                   : s_pool[code].kind);
            r->pseudonymous = true;
            r->patient_ref = hg_arena_strdup (a, pid);
            s_id (p + 1, 5000 + i, rid);
            r->record_id = hg_arena_strdup (a, rid);
            int y, m, dd;
            hg_date_from_days (DAY0 + (int) s_below (5 * 365), &y, &m, &dd);
            r->effective = hg_arena_printf (a, "%04d-%02d-%02d", y, m, dd);
            hg_record_add_code (a, r, s_pool[code].system, s_pool[code].code, NULL);
            if (s_pool[code].kind == HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION) {
                r->quantity = hg_arena_alloc (a, sizeof (*r->quantity));
                hourglass__quantity__init (r->quantity);
                r->quantity->value = 4 + s_below (1000) / 100.0;
                r->value_case = HOURGLASS__RECORD__VALUE_QUANTITY;
            }
            if (p < N_PAT && i == 1 && p % 2 == 0) {
                r->demographics = hg_arena_alloc (a, sizeof (*r->demographics));
                hourglass__demographics__init (r->demographics);
                r->demographics->sex = s_below (2) ? "male" : "other";
                r->demographics->birth_year = 1940 + (int) s_below (70);
                r->demographics->state = (char *) states[s_below (4)];
            }
            assert_int_equal (hg_index_put (fx->index, wb, r, &err), 1);
        }
    }
    assert_int_equal (hg_index_flush (fx->index, wb, &err), 0);
    assert_int_equal (hg_store_write (fx->store, wb, true, &err), 0);
    hg_store_batch_destroy (&wb);
    hg_batch_destroy (&batch);
}

/* The bitmaps and columns answer as the timelines do: on the random shard,
 * after demographics change and patients without any arrive, and after a
 * store without them is backfilled at open. (Runs last: it adds records.) */
static void
test_bitmaps_as_timelines (void **state)
{
    fx_t *fx = *state;
    s_compare_all (fx);
    s_second_round (fx);
    s_compare_all (fx);
    /* a store of the version before: no bitmaps, columns or ordinals */
    hg_index_destroy (&fx->index);
    hg_store_batch_t *wb = hg_store_batch_new ();
    static const char *const kept[] = {"O", "N", "B", "b", "V", "x"};
    for (size_t i = 0; i < sizeof (kept) / sizeof (kept[0]); i++) {
        hg_store_iter_t *it = hg_store_iter_new (fx->store, kept[i], 1, NULL, 0);
        const char *k;
        size_t kl;
        while (hg_store_iter_next (it, &k, &kl, NULL, NULL)) {
            if (kept[i][0] != 'x' || (kl > 2 && k[2] != 't')) { /* keep x\0timeline */
                hg_store_batch_delete (wb, k, kl);
            }
        }
        hg_store_iter_destroy (&it);
    }
    hg_err_t err = {0};
    assert_int_equal (hg_store_write (fx->store, wb, true, &err), 0);
    hg_store_batch_destroy (&wb);
    fx->index = hg_index_open (fx->store, NULL, &err);
    assert_non_null (fx->index);
    assert_true (hg_index_ordinals (fx->index) >= N_PAT);
    s_compare_all (fx);
}

HG_TEST_MAIN_GROUP (s_setup, s_teardown, cmocka_unit_test (test_planner_errors),
                    cmocka_unit_test (test_patients_by_sex_and_age),
                    cmocka_unit_test (test_value_after_min_count),
                    cmocka_unit_test (test_records_by_year_and_class),
                    cmocka_unit_test (test_distribution),
                    cmocka_unit_test (test_series_incidence), cmocka_unit_test (test_prevalence),
                    cmocka_unit_test (test_top), cmocka_unit_test (test_suppression),
                    cmocka_unit_test (test_bitmaps_as_timelines))
