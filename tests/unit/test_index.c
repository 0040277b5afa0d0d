/*
 * test_index.c -- the indexer's key layout and count query
 * (services/indexer/index.c) over a real RocksDB in a temporary directory.
 */
#define _GNU_SOURCE   /* nftw */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index.h"
#include "record.h"

typedef struct {
    char dir[64];
    hg_store_t *store;
    hg_batch_t *batch;
} fx_t;

static int
s_rm (const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void) sb;
    (void) flag;
    (void) ftw;
    return remove (path);
}

static int
s_setup (void **state)
{
    fx_t *fx = calloc (1, sizeof (*fx));
    snprintf (fx->dir, sizeof (fx->dir), "/tmp/hg-index-XXXXXX");
    if (!mkdtemp (fx->dir)) {
        return -1;
    }
    char db[128];
    snprintf (db, sizeof (db), "%s/db", fx->dir);
    hg_store_opts_t so = {.compression = "none"};
    hg_err_t err = {0};
    fx->store = hg_store_open (db, &so, &err);
    fx->batch = hg_batch_new (0);
    *state = fx;
    return fx->store ? 0 : -1;
}

static int
s_teardown (void **state)
{
    fx_t *fx = *state;
    hg_store_close (&fx->store);
    hg_batch_destroy (&fx->batch);
    nftw (fx->dir, s_rm, 16, FTW_DEPTH | FTW_PHYS);
    free (fx);
    return 0;
}

/* A de-identified lab record with one LOINC code (and optionally a second
 * SNOMED coding). */
static Hourglass__Record *
s_rec (fx_t *fx, const char *patient, const char *record_id, const char *effective,
       const char *loinc, const char *snomed)
{
    hg_arena_t *a = hg_batch_arena (fx->batch);
    Hourglass__Record *r = hg_batch_add_record (fx->batch,
                                                HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION);
    r->pseudonymous = true;
    r->patient_ref = hg_arena_strdup (a, patient);
    r->record_id = hg_arena_strdup (a, record_id);
    r->effective = hg_arena_strdup (a, effective);
    if (loinc) {
        hg_record_add_code (a, r, HG_SYS_LOINC, loinc, "x");
    }
    if (snomed) {
        hg_record_add_code (a, r, HG_SYS_SNOMED, snomed, NULL);
    }
    return r;
}

static void
s_count (fx_t *fx, const char *sys, const char *code, const char *from, const char *to,
         uint64_t want_patients, uint64_t want_records)
{
    uint64_t p = 12345, r = 12345;
    hg_err_t err = {0};
    assert_int_equal (hg_index_count (fx->store, sys, code, from, to, &p, &r, &err), 0);
    if (p != want_patients || r != want_records) {
        fail_msg ("%s|%s [%s, %s]: patients %llu records %llu, want %llu %llu", sys, code,
                  from ? from : "NULL", to ? to : "NULL", (unsigned long long) p,
                  (unsigned long long) r, (unsigned long long) want_patients,
                  (unsigned long long) want_records);
    }
}

static void
test_put_and_duplicates (void **state)
{
    fx_t *fx = *state;
    hg_store_batch_t *wb = hg_store_batch_new ();
    hg_strset_t *staged = hg_strset_new ();
    hg_err_t err = {0};
    Hourglass__Record *r = s_rec (fx, "p1", "rid1", "2023-01-10T08:00:00Z", "2345-7", "123");

    assert_int_equal (hg_index_put (fx->store, wb, staged, r, &err), 1);
    /* r key, two code keys, one date key */
    assert_int_equal (hg_store_batch_count (wb), 4);
    assert_int_equal (hg_strset_size (staged), 1);
    /* the same record again in this round: duplicate, nothing staged */
    assert_int_equal (hg_index_put (fx->store, wb, staged, r, &err), 0);
    assert_int_equal (hg_store_batch_count (wb), 4);
    /* the same record id for the same patient, even with other content */
    Hourglass__Record *r_again = s_rec (fx, "p1", "rid1", "2024-01-01", "999-9", NULL);
    assert_int_equal (hg_index_put (fx->store, wb, staged, r_again, &err), 0);
    assert_int_equal (hg_store_batch_count (wb), 4);
    assert_int_equal (hg_store_write (fx->store, wb, true, &err), 0);
    hg_store_batch_clear (wb);
    hg_strset_clear (staged);

    /* keys as documented */
    const char rk[] = "r\0p1\0rid1";
    assert_true (hg_store_exists (fx->store, rk, sizeof (rk) - 1));
    const char ck[] = "c\0http://loinc.org|2345-7\0002023-01-10\0p1\0rid1";
    assert_true (hg_store_exists (fx->store, ck, sizeof (ck) - 1));
    const char sk[] = "c\0http://snomed.info/sct|123\0002023-01-10\0p1\0rid1";
    assert_true (hg_store_exists (fx->store, sk, sizeof (sk) - 1));
    char *v = NULL;
    size_t vl = 0;
    const char dk[] = "d\0002023-01-10\0rid1";
    assert_int_equal (hg_store_get (fx->store, dk, sizeof (dk) - 1, &v, &vl, &err), 0);
    assert_int_equal (vl, 2);
    assert_memory_equal (v, "p1", 2);
    free (v);
    /* the stored record unpacks to what was put */
    assert_int_equal (hg_store_get (fx->store, rk, sizeof (rk) - 1, &v, &vl, &err), 0);
    Hourglass__Record *u = hourglass__record__unpack (NULL, vl, (const uint8_t *) v);
    assert_non_null (u);
    assert_string_equal (u->record_id, "rid1");
    assert_string_equal (u->patient_ref, "p1");
    assert_string_equal (u->effective, "2023-01-10T08:00:00Z");
    assert_true (u->pseudonymous);
    assert_int_equal (u->n_codes, 2);
    hourglass__record__free_unpacked (u, NULL);
    free (v);

    /* next round: already in the store -> duplicate */
    assert_int_equal (hg_index_put (fx->store, wb, staged, r, &err), 0);
    assert_int_equal (hg_store_batch_count (wb), 0);
    assert_int_equal (hg_strset_size (staged), 0);
    /* the same record id under another patient is another record */
    Hourglass__Record *other = s_rec (fx, "p2", "rid1", "2023-01-10", "2345-7", NULL);
    assert_int_equal (hg_index_put (fx->store, wb, staged, other, &err), 1);
    assert_int_equal (hg_store_batch_count (wb), 3);

    /* a code with an empty code value is not indexed */
    Hourglass__Record *nocode = s_rec (fx, "p3", "rid3", "2023-01-10", "", NULL);
    assert_int_equal (hg_index_put (fx->store, wb, staged, nocode, &err), 1);
    assert_int_equal (hg_store_batch_count (wb), 5);   /* + r key + d key */
    hg_store_batch_destroy (&wb);
    hg_strset_destroy (&staged);
}

static void
test_put_rejects_identified (void **state)
{
    fx_t *fx = *state;
    hg_store_batch_t *wb = hg_store_batch_new ();
    hg_strset_t *staged = hg_strset_new ();
    const char *msg = "record is not de-identified (pseudonymous patient and record id "
                      "required)";
    hg_err_t err = {0};
    Hourglass__Record *r = s_rec (fx, "MRN-12345", "rid1", "2023-01-10", "2345-7", NULL);
    r->pseudonymous = false;
    assert_int_equal (hg_index_put (fx->store, wb, staged, r, &err), HG_EINVAL);
    assert_int_equal (err.code, HG_EINVAL);
    assert_string_equal (err.msg, msg);

    hg_err_clear (&err);
    r = s_rec (fx, "p1", "", "2023-01-10", "2345-7", NULL);
    r->record_id = (char *) protobuf_c_empty_string;
    assert_int_equal (hg_index_put (fx->store, wb, staged, r, &err), HG_EINVAL);
    assert_string_equal (err.msg, msg);

    hg_err_clear (&err);
    r = s_rec (fx, "", "rid2", "2023-01-10", "2345-7", NULL);
    assert_int_equal (hg_index_put (fx->store, wb, staged, r, &err), HG_EINVAL);
    assert_string_equal (err.msg, msg);

    assert_int_equal (hg_store_batch_count (wb), 0);
    assert_int_equal (hg_strset_size (staged), 0);
    hg_store_batch_destroy (&wb);
    hg_strset_destroy (&staged);
}

static void
test_count (void **state)
{
    fx_t *fx = *state;
    hg_store_batch_t *wb = hg_store_batch_new ();
    hg_strset_t *staged = hg_strset_new ();
    hg_err_t err = {0};
    struct {
        const char *pat, *rid, *eff, *loinc, *snomed;
    } recs[] = {
        {"p1", "r1", "2023-01-10", "2345-7", NULL},
        {"p1", "r2", "2023-02-15T09:00:00+01:00", "2345-7", NULL},
        {"p2", "r3", "2023-02-15", "2345-7", "123"},
        {"p3", "r4", "", "2345-7", NULL},                 /* undated */
        {"p4", "r5", "2023-03-31T23:59:59Z", "2345-7", NULL},
        {"p5", "r6", "2023-05", "2345-7", NULL},          /* -> 2023-05-01 */
        {"p6", "r7", "2024", "2345-7", NULL},             /* -> 2024-01-01 */
        {"p7", "r8", "2023-02-15", "718-7", NULL},
        {"p7", "r9", "not a date", "2345-7", "123"},      /* unparsable: undated */
        {"p2", "r10", "2023-02-16", NULL, "123"},
    };
    size_t n = sizeof (recs) / sizeof (recs[0]);
    for (size_t i = 0; i < n; i++) {
        Hourglass__Record *r = s_rec (fx, recs[i].pat, recs[i].rid, recs[i].eff,
                                      recs[i].loinc, recs[i].snomed);
        assert_int_equal (hg_index_put (fx->store, wb, staged, r, &err), 1);
        /* half are committed in a first round, so the counts read both */
        if (i == n / 2) {
            assert_int_equal (hg_store_write (fx->store, wb, true, &err), 0);
            hg_store_batch_clear (wb);
            hg_strset_clear (staged);
        }
    }
    assert_int_equal (hg_store_write (fx->store, wb, true, &err), 0);

    const char *L = HG_SYS_LOINC, *S = HG_SYS_SNOMED;
    /* no range: every record, undated included; patients distinct */
    s_count (fx, L, "2345-7", NULL, NULL, 7, 8);
    s_count (fx, L, "2345-7", "", "", 7, 8);
    /* from only (inclusive) */
    s_count (fx, L, "2345-7", "2023-02-15", NULL, 5, 5);     /* r2 r3 r5 r6 r7 */
    s_count (fx, L, "2345-7", "2023-02-16", NULL, 3, 3);     /* r5 r6 r7 */
    s_count (fx, L, "2345-7", "2024-01-01", NULL, 1, 1);
    s_count (fx, L, "2345-7", "2024-01-02", NULL, 0, 0);
    /* to only (inclusive) */
    s_count (fx, L, "2345-7", NULL, "2023-02-15", 2, 3);     /* r1 r2 r3 */
    s_count (fx, L, "2345-7", "", "2023-02-14", 1, 1);       /* r1 */
    s_count (fx, L, "2345-7", NULL, "2023-01-09", 0, 0);
    /* both */
    s_count (fx, L, "2345-7", "2023-02-15", "2023-03-31", 3, 3);   /* r2 r3 r5 */
    s_count (fx, L, "2345-7", "2023-01-10", "2023-01-10", 1, 1);
    s_count (fx, L, "2345-7", "2023-02-16", "2023-03-30", 0, 0);
    s_count (fx, L, "2345-7", "2023-01-01", "2023-12-31", 4, 5);   /* r1 r2 r3 r5 r6 */
    s_count (fx, L, "2345-7", "2023-03-01", "2023-02-01", 0, 0);   /* empty range */
    /* other codes: a record with two codings counts under each */
    s_count (fx, S, "123", NULL, NULL, 2, 3);                /* r3 r9 r10 */
    s_count (fx, S, "123", "2023-02-15", "2023-02-15", 1, 1);
    s_count (fx, S, "123", "2023-02-01", NULL, 1, 2);        /* r3 r10 */
    s_count (fx, L, "718-7", NULL, NULL, 1, 1);
    /* no prefix matching of codes or systems */
    s_count (fx, L, "2345", NULL, NULL, 0, 0);
    s_count (fx, L, "2345-", NULL, NULL, 0, 0);
    s_count (fx, "http://loinc.or", "2345-7", NULL, NULL, 0, 0);
    s_count (fx, S, "2345-7", NULL, NULL, 0, 0);
    s_count (fx, L, "9999-9", "2023-01-01", "2023-12-31", 0, 0);

    hg_store_batch_destroy (&wb);
    hg_strset_destroy (&staged);
}

static void
test_count_errors (void **state)
{
    fx_t *fx = *state;
    char code[1100];
    memset (code, '7', sizeof (code) - 1);
    code[sizeof (code) - 1] = '\0';
    uint64_t p = 0, r = 0;
    hg_err_t err = {0};
    assert_int_equal (hg_index_count (fx->store, HG_SYS_LOINC, code, NULL, NULL, &p, &r, &err),
                      HG_EINVAL);
    assert_string_equal (err.msg, "code too long");
}

static void
test_index_day (void **state)
{
    (void) state;
    struct { const char *in, *out; } cases[] = {
        {"2023", "2023-01-01"},
        {"2023-07", "2023-07-01"},
        {"2023-07-19", "2023-07-19"},
        {"2023-07-19T08:30", "2023-07-19"},
        {"2023-07-19T08:30:59.123+14:00", "2023-07-19"},
        {"2023-07-19T23:59:59-12:00", "2023-07-19"},
        {"", ""},
        {"garbage", ""},
        {"2023-13-01", ""},
        {"20230719", ""},
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        char out[11];
        memset (out, 'x', sizeof (out));
        hg_index_day (cases[i].in, out);
        assert_string_equal (out, cases[i].out);
    }
    char out[11] = "xxxxxxxxxx";
    hg_index_day (NULL, out);
    assert_string_equal (out, "");
}


/* Per-code aggregates equal the scanned counts, survive a reload from the
 * store, count a (code, patient) pair once, and ignore duplicates. */
static void
test_aggregates (void **state)
{
    fx_t *fx = *state;
    hg_err_t err = {0};
    hg_index_agg_t *agg = hg_index_agg_load (fx->store);
    assert_non_null (agg);
    hg_strset_t *staged = hg_strset_new ();
    struct {
        const char *patient, *id, *eff, *loinc, *snomed;
    } rows[] = {
        {"pa", "r1", "2020-01-01", "4548-4", NULL},
        {"pa", "r2", "2020-02-01", "4548-4", "44054006"},   /* same patient again */
        {"pb", "r3", "2021-01-01", "4548-4", NULL},
        {"pb", "r3", "2021-01-01", "4548-4", NULL},         /* duplicate record */
        {"pc", "r4", "", "2345-7", "44054006"},
    };
    /* two rounds, committed separately, so the store check is exercised too */
    for (int round = 0; round < 2; round++) {
        hg_store_batch_t *wb = hg_store_batch_new ();
        hg_strset_clear (staged);
        for (size_t i = round ? 3 : 0; i < (round ? 5u : 3u); i++) {
            Hourglass__Record *r = s_rec (fx, rows[i].patient, rows[i].id, rows[i].eff,
                                          rows[i].loinc, rows[i].snomed);
            int rc = hg_index_put (fx->store, wb, staged, r, &err);
            assert_true (rc >= 0);
            if (rc == 1) {
                assert_int_equal (hg_index_agg_add (agg, fx->store, wb, staged, r, &err), 0);
            }
        }
        hg_index_agg_flush (agg, wb);
        assert_int_equal (hg_store_write (fx->store, wb, true, &err), 0);
        hg_store_batch_destroy (&wb);
    }
    /* a longer code before a shorter one in the same record, twice for the
     * same patient: the shorter code's patient is still counted once */
    for (int round = 0; round < 2; round++) {
        hg_store_batch_t *wb = hg_store_batch_new ();
        hg_strset_clear (staged);
        for (int k = 0; k < 2; k++) {
            char id[16];
            snprintf (id, sizeof (id), "long%d%d", round, k);
            Hourglass__Record *r = s_rec (fx, "pd", id, "2022-01-01", NULL, NULL);
            hg_arena_t *a = hg_batch_arena (fx->batch);
            hg_record_add_code (a, r, "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                                k ? "EMER" : "AMB", NULL);
            hg_record_add_code (a, r, HG_SYS_SNOMED, "185349003", NULL);
            assert_int_equal (hg_index_put (fx->store, wb, staged, r, &err), 1);
            assert_int_equal (hg_index_agg_add (agg, fx->store, wb, staged, r, &err), 0);
        }
        hg_index_agg_flush (agg, wb);
        assert_int_equal (hg_store_write (fx->store, wb, true, &err), 0);
        hg_store_batch_destroy (&wb);
    }
    uint64_t p, r;
    hg_index_agg_get (agg, HG_SYS_SNOMED, "185349003", &p, &r);
    assert_int_equal (p, 1);
    assert_int_equal (r, 4);
    s_count (fx, HG_SYS_SNOMED, "185349003", NULL, NULL, 1, 4);
    hg_index_agg_get (agg, HG_SYS_LOINC, "4548-4", &p, &r);
    assert_int_equal (p, 2);
    assert_int_equal (r, 3);
    s_count (fx, HG_SYS_LOINC, "4548-4", NULL, NULL, 2, 3);
    hg_index_agg_get (agg, HG_SYS_SNOMED, "44054006", &p, &r);
    assert_int_equal (p, 2);
    assert_int_equal (r, 2);
    s_count (fx, HG_SYS_SNOMED, "44054006", NULL, NULL, 2, 2);
    hg_index_agg_get (agg, HG_SYS_LOINC, "0000-0", &p, &r);
    assert_int_equal (p + r, 0);
    /* reloaded from the store: the same numbers */
    hg_index_agg_destroy (&agg);
    assert_null (agg);
    agg = hg_index_agg_load (fx->store);
    hg_index_agg_get (agg, HG_SYS_LOINC, "4548-4", &p, &r);
    assert_int_equal (p, 2);
    assert_int_equal (r, 3);
    hg_index_agg_get (agg, HG_SYS_LOINC, "2345-7", &p, &r);
    assert_int_equal (p, 1);
    assert_int_equal (r, 1);
    hg_index_agg_destroy (&agg);
    hg_strset_destroy (&staged);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_put_and_duplicates, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_put_rejects_identified, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_count, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_count_errors, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_index_day, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_aggregates, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
