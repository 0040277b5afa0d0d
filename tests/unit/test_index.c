/*
 * test_index.c -- the indexer's key layout, aggregates, count query and the
 * conversion of the earlier text layout (services/indexer/index.c) over a
 * real RocksDB in a temporary directory.
 */
#include "unit_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "index.h"
#include "record.h"
#include "util.h"

typedef struct {
    char dir[64];
    char db[128];
    hg_store_t *store;
    hg_index_t *index;
    hg_batch_t *batch;
} fx_t;

static int
s_setup (void **state)
{
    fx_t *fx = calloc (1, sizeof (*fx));
    snprintf (fx->dir, sizeof (fx->dir), "/tmp/hg-index-XXXXXX");
    if (!mkdtemp (fx->dir)) {
        return -1;
    }
    snprintf (fx->db, sizeof (fx->db), "%s/db", fx->dir);
    hg_store_opts_t so = {.compression = "none"};
    hg_err_t err = {0};
    fx->store = hg_store_open (fx->db, &so, &err);
    fx->index = fx->store ? hg_index_open (fx->store, NULL, &err) : NULL;
    fx->batch = hg_batch_new (0);
    *state = fx;
    return fx->index ? 0 : -1;
}

static int
s_teardown (void **state)
{
    fx_t *fx = *state;
    hg_index_destroy (&fx->index);
    hg_store_close (&fx->store);
    hg_batch_destroy (&fx->batch);
    hg_remove_tree (fx->dir, NULL);
    free (fx);
    return 0;
}

/* A readable pseudonym: the hex of name (at most 16 bytes), zero-padded, so
 * its binary form is name followed by NULs. */
static char *
s_id (fx_t *fx, const char *name)
{
    char *out = hg_arena_alloc (hg_batch_arena (fx->batch), 33);
    size_t n = strlen (name);
    assert_true (n <= 16);
    for (size_t i = 0; i < 16; i++) {
        snprintf (out + 2 * i, 3, "%02x", i < n ? (unsigned char) name[i] : 0);
    }
    return out;
}

/* The 16 binary bytes of s_id (name). */
static void
s_bin (const char *name, char out[16])
{
    memset (out, 0, 16);
    memcpy (out, name, strlen (name));
}

/* A de-identified lab record with one LOINC code (and optionally a second
 * SNOMED coding); patient and record are s_id names. */
static Hourglass__Record *
s_rec (fx_t *fx, const char *patient, const char *record_id, const char *effective,
       const char *loinc, const char *snomed)
{
    hg_arena_t *a = hg_batch_arena (fx->batch);
    Hourglass__Record *r = hg_batch_add_record (fx->batch,
                                                HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION);
    r->pseudonymous = true;
    r->patient_ref = s_id (fx, patient);
    r->record_id = s_id (fx, record_id);
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
s_commit (fx_t *fx, hg_store_batch_t *wb)
{
    hg_err_t err = {0};
    assert_int_equal (hg_index_flush (fx->index, wb, &err), 0);
    assert_int_equal (hg_store_write (fx->store, wb, true, &err), 0);
    hg_store_batch_clear (wb);
    hg_index_begin (fx->index);
}

/* Checks a count both ways: hg_index_count (aggregates when unranged) and
 * a scan of the code keys. */
static void
s_count (fx_t *fx, const char *sys, const char *code, const char *from, const char *to,
         uint64_t want_patients, uint64_t want_records)
{
    for (int scan = 0; scan < 2; scan++) {
        uint64_t p = 12345, r = 12345;
        hg_err_t err = {0};
        int rc = scan ? hg_index_count_scan (fx->index, sys, code, from, to, &p, &r, &err)
                      : hg_index_count (fx->index, sys, code, from, to, &p, &r, &err);
        assert_int_equal (rc, 0);
        if (p != want_patients || r != want_records) {
            fail_msg ("%s %s|%s [%s, %s]: patients %llu records %llu, want %llu %llu",
                      scan ? "scan" : "count", sys, code, from ? from : "NULL", to ? to : "NULL",
                      (unsigned long long) p, (unsigned long long) r,
                      (unsigned long long) want_patients, (unsigned long long) want_records);
        }
    }
}

static void
s_expect_key (fx_t *fx, const char *key, size_t len, const char *val, size_t vlen)
{
    char *v = NULL;
    size_t vl = 0;
    hg_err_t err = {0};
    assert_int_equal (hg_store_get (fx->store, key, len, &v, &vl, &err), 0);
    if (val) {
        assert_int_equal (vl, vlen);
        assert_memory_equal (v, val, vlen);
    }
    free (v);
}

/* Appends part to key at *len. */
static void
s_cat (char *key, size_t *len, const void *part, size_t n)
{
    memcpy (key + *len, part, n);
    *len += n;
}

static void
test_put_and_duplicates (void **state)
{
    fx_t *fx = *state;
    hg_store_batch_t *wb = hg_store_batch_new ();
    hg_err_t err = {0};
    Hourglass__Record *r = s_rec (fx, "p1", "rid1", "2023-01-10T08:00:00Z", "2345-7", "123");

    assert_int_equal (hg_index_put (fx->index, wb, r, &err), 1);
    /* R; per code: dictionary entry (new system), C key, P key; D; E; the
     * new patient's ordinal both ways (O, N) */
    assert_int_equal (hg_store_batch_count (wb), 11);
    /* the same record again in this round: duplicate, nothing staged */
    assert_int_equal (hg_index_put (fx->index, wb, r, &err), 0);
    assert_int_equal (hg_store_batch_count (wb), 11);
    /* the same record id for the same patient, even with other content */
    Hourglass__Record *r_again = s_rec (fx, "p1", "rid1", "2024-01-01", "999-9", NULL);
    assert_int_equal (hg_index_put (fx->index, wb, r_again, &err), 0);
    assert_int_equal (hg_store_batch_count (wb), 11);
    s_commit (fx, wb);

    /* keys as documented: systems numbered in order of appearance */
    char p1[16], rid1[16];
    s_bin ("p1", p1);
    s_bin ("rid1", rid1);
    char k[256];
    size_t kl = 0;
    s_cat (k, &kl, "R", 1);
    s_cat (k, &kl, p1, 16);
    s_cat (k, &kl, rid1, 16);
    char *v = NULL;
    size_t vl = 0;
    assert_int_equal (hg_store_get (fx->store, k, kl, &v, &vl, &err), 0);
    Hourglass__Record *u = hourglass__record__unpack (NULL, vl, (const uint8_t *) v);
    assert_non_null (u);
    assert_string_equal (u->record_id, r->record_id);
    assert_string_equal (u->patient_ref, r->patient_ref);
    assert_string_equal (u->effective, "2023-01-10T08:00:00Z");
    assert_true (u->pseudonymous);
    assert_int_equal (u->n_codes, 2);
    hourglass__record__free_unpacked (u, NULL);
    free (v);
    s_expect_key (fx, "Y\x01", 2, HG_SYS_LOINC, strlen (HG_SYS_LOINC));
    s_expect_key (fx, "Y\x02", 2, HG_SYS_SNOMED, strlen (HG_SYS_SNOMED));
    kl = 0;
    s_cat (k, &kl,
           "C\x01"
           "2345-7\0"
           "2023-01-10\0",
           20);
    s_cat (k, &kl, p1, 16);
    s_cat (k, &kl, rid1, 16);
    s_expect_key (fx, k, kl, "", 0);
    kl = 0;
    s_cat (k, &kl,
           "C\x02"
           "123\0"
           "2023-01-10\0",
           17);
    s_cat (k, &kl, p1, 16);
    s_cat (k, &kl, rid1, 16);
    s_expect_key (fx, k, kl, "", 0);
    kl = 0;
    s_cat (k, &kl,
           "P\x01"
           "2345-7\0",
           9);
    s_cat (k, &kl, p1, 16);
    s_expect_key (fx, k, kl, "", 0);
    kl = 0;
    s_cat (k, &kl, "D2023-01-10\0", 12);
    s_cat (k, &kl, rid1, 16);
    s_expect_key (fx, k, kl, p1, 16);
    /* the timeline: E P day I -> kind, flags, codes (2023-01-10 is day 19367) */
    kl = 0;
    s_cat (k, &kl, "E", 1);
    s_cat (k, &kl, p1, 16);
    s_cat (k, &kl, "\x40\x00\x4b\xa7", 4);
    s_cat (k, &kl, rid1, 16);
    assert_int_equal (hg_store_get (fx->store, k, kl, &v, &vl, &err), 0);
    assert_int_equal (vl, 3 + 8 + 5);
    assert_memory_equal (v + 1,
                         "\x00\x02\x01"
                         "2345-7\0\x02"
                         "123",
                         15);
    free (v);
    /* the aggregate keys keep the text form */
    const char nk[] = "n\0http://loinc.org|2345-7";
    uint64_t counts[2] = {1, 1};
    s_expect_key (fx, nk, sizeof (nk) - 1, (const char *) counts, sizeof (counts));

    /* next round: already in the store -> duplicate */
    assert_int_equal (hg_index_put (fx->index, wb, r, &err), 0);
    assert_int_equal (hg_store_batch_count (wb), 0);
    /* the same record id under another patient is another record: known
     * system, so R, C, P, D, E, and the new patient's O and N */
    Hourglass__Record *other = s_rec (fx, "p2", "rid1", "2023-01-10", "2345-7", NULL);
    assert_int_equal (hg_index_put (fx->index, wb, other, &err), 1);
    assert_int_equal (hg_store_batch_count (wb), 7);

    /* a code with an empty code value is not indexed */
    Hourglass__Record *nocode = s_rec (fx, "p3", "rid3", "2023-01-10", "", NULL);
    assert_int_equal (hg_index_put (fx->index, wb, nocode, &err), 1);
    assert_int_equal (hg_store_batch_count (wb), 12); /* + R, D, E, O, N */
    /* a code repeated in one record: one C key, counted once */
    Hourglass__Record *twice = s_rec (fx, "p4", "rid4", "2023-01-10", "2345-7", NULL);
    hg_record_add_code (hg_batch_arena (fx->batch), twice, HG_SYS_LOINC, "2345-7", "again");
    assert_int_equal (hg_index_put (fx->index, wb, twice, &err), 1);
    assert_int_equal (hg_store_batch_count (wb), 19); /* R C P D E O N */
    s_commit (fx, wb);
    s_count (fx, HG_SYS_LOINC, "2345-7", NULL, NULL, 3, 3);
    hg_store_batch_destroy (&wb);
}

static void
test_put_rejects_identified (void **state)
{
    fx_t *fx = *state;
    hg_store_batch_t *wb = hg_store_batch_new ();
    const char *msg = "record is not de-identified (pseudonymous patient and record id "
                      "required)";
    hg_err_t err = {0};
    Hourglass__Record *r = s_rec (fx, "p1", "rid1", "2023-01-10", "2345-7", NULL);
    r->pseudonymous = false;
    assert_int_equal (hg_index_put (fx->index, wb, r, &err), HG_EINVAL);
    assert_int_equal (err.code, HG_EINVAL);
    assert_string_equal (err.msg, msg);

    hg_err_clear (&err);
    r = s_rec (fx, "p1", "", "2023-01-10", "2345-7", NULL);
    r->record_id = (char *) protobuf_c_empty_string;
    assert_int_equal (hg_index_put (fx->index, wb, r, &err), HG_EINVAL);
    assert_string_equal (err.msg, msg);

    hg_err_clear (&err);
    r = s_rec (fx, "", "rid2", "2023-01-10", "2345-7", NULL);
    r->patient_ref = (char *) protobuf_c_empty_string;
    assert_int_equal (hg_index_put (fx->index, wb, r, &err), HG_EINVAL);
    assert_string_equal (err.msg, msg);

    /* marked pseudonymous but not a pseudonym: refused, and the value is not
     * repeated in the message (it may be an MRN) */
    const char *not_ids[] = {
        "MRN-12345",
        "0123456789ABCDEF0123456789ABCDEF",  /* upper case */
        "0123456789abcdef0123456789abcde",   /* 31 digits */
        "0123456789abcdef0123456789abcdef0", /* 33 */
        "0123456789abcdef0123456789abcdeg",
    };
    for (size_t i = 0; i < sizeof (not_ids) / sizeof (not_ids[0]); i++) {
        hg_err_clear (&err);
        r = s_rec (fx, "p1", "rid3", "2023-01-10", "2345-7", NULL);
        r->patient_ref = (char *) not_ids[i];
        assert_int_equal (hg_index_put (fx->index, wb, r, &err), HG_EINVAL);
        assert_string_equal (err.msg, "patient_ref is not a pseudonym (32 lowercase hex "
                                      "digits, as the de-identifier writes them)");
        hg_err_clear (&err);
        r = s_rec (fx, "p1", "rid3", "2023-01-10", "2345-7", NULL);
        r->record_id = (char *) not_ids[i];
        assert_int_equal (hg_index_put (fx->index, wb, r, &err), HG_EINVAL);
        assert_string_equal (err.msg, "record_id is not a pseudonym (32 lowercase hex "
                                      "digits, as the de-identifier writes them)");
    }
    assert_int_equal (hg_store_batch_count (wb), 0);
    /* nothing was staged either: the record is new once it is valid */
    r = s_rec (fx, "p1", "rid3", "2023-01-10", "2345-7", NULL);
    assert_int_equal (hg_index_put (fx->index, wb, r, &err), 1);
    hg_store_batch_destroy (&wb);
}

static void
test_id_parse (void **state)
{
    (void) state;
    unsigned char out[HG_INDEX_ID_BYTES];
    assert_true (hg_index_id_parse ("00ff10a0b1c2d3e4f5a6b7c8d9e0f1a2", out));
    const unsigned char want[] = {0x00, 0xff, 0x10, 0xa0, 0xb1, 0xc2, 0xd3, 0xe4,
                                  0xf5, 0xa6, 0xb7, 0xc8, 0xd9, 0xe0, 0xf1, 0xa2};
    assert_memory_equal (out, want, sizeof (want));
    assert_false (hg_index_id_parse ("", out));
    assert_false (hg_index_id_parse ("00ff10a0b1c2d3e4f5a6b7c8d9e0f1a", out));
    assert_false (hg_index_id_parse ("00ff10a0b1c2d3e4f5a6b7c8d9e0f1a2 ", out));
    assert_false (hg_index_id_parse ("00FF10A0B1C2D3E4F5A6B7C8D9E0F1A2", out));
    assert_false (hg_index_id_parse ("00ff10a0b1c2d3e4f5a6b7c8d9e0f1-2", out));
}

static void
test_count (void **state)
{
    fx_t *fx = *state;
    hg_store_batch_t *wb = hg_store_batch_new ();
    hg_err_t err = {0};
    struct {
        const char *pat, *rid, *eff, *loinc, *snomed;
    } recs[] = {
        {"p1", "r1", "2023-01-10", "2345-7", NULL},
        {"p1", "r2", "2023-02-15T09:00:00+01:00", "2345-7", NULL},
        {"p2", "r3", "2023-02-15", "2345-7", "123"},
        {"p3", "r4", "", "2345-7", NULL}, /* undated */
        {"p4", "r5", "2023-03-31T23:59:59Z", "2345-7", NULL},
        {"p5", "r6", "2023-05", "2345-7", NULL}, /* -> 2023-05-01 */
        {"p6", "r7", "2024", "2345-7", NULL},    /* -> 2024-01-01 */
        {"p7", "r8", "2023-02-15", "718-7", NULL},
        {"p7", "r9", "not a date", "2345-7", "123"}, /* unparsable: undated */
        {"p2", "r10", "2023-02-16", NULL, "123"},
    };
    size_t n = sizeof (recs) / sizeof (recs[0]);
    for (size_t i = 0; i < n; i++) {
        Hourglass__Record *r = s_rec (fx, recs[i].pat, recs[i].rid, recs[i].eff, recs[i].loinc,
                                      recs[i].snomed);
        assert_int_equal (hg_index_put (fx->index, wb, r, &err), 1);
        /* half are committed in a first round, so the counts read both */
        if (i == n / 2) {
            s_commit (fx, wb);
        }
    }
    s_commit (fx, wb);

    const char *L = HG_SYS_LOINC, *S = HG_SYS_SNOMED;
    /* no range: every record, undated included; patients distinct */
    s_count (fx, L, "2345-7", NULL, NULL, 7, 8);
    s_count (fx, L, "2345-7", "", "", 7, 8);
    /* from only (inclusive) */
    s_count (fx, L, "2345-7", "2023-02-15", NULL, 5, 5); /* r2 r3 r5 r6 r7 */
    s_count (fx, L, "2345-7", "2023-02-16", NULL, 3, 3); /* r5 r6 r7 */
    s_count (fx, L, "2345-7", "2024-01-01", NULL, 1, 1);
    s_count (fx, L, "2345-7", "2024-01-02", NULL, 0, 0);
    /* to only (inclusive) */
    s_count (fx, L, "2345-7", NULL, "2023-02-15", 2, 3); /* r1 r2 r3 */
    s_count (fx, L, "2345-7", "", "2023-02-14", 1, 1);   /* r1 */
    s_count (fx, L, "2345-7", NULL, "2023-01-09", 0, 0);
    /* both */
    s_count (fx, L, "2345-7", "2023-02-15", "2023-03-31", 3, 3); /* r2 r3 r5 */
    s_count (fx, L, "2345-7", "2023-01-10", "2023-01-10", 1, 1);
    s_count (fx, L, "2345-7", "2023-02-16", "2023-03-30", 0, 0);
    s_count (fx, L, "2345-7", "2023-01-01", "2023-12-31", 4, 5); /* r1 r2 r3 r5 r6 */
    s_count (fx, L, "2345-7", "2023-03-01", "2023-02-01", 0, 0); /* empty range */
    /* other codes: a record with two codings counts under each */
    s_count (fx, S, "123", NULL, NULL, 2, 3); /* r3 r9 r10 */
    s_count (fx, S, "123", "2023-02-15", "2023-02-15", 1, 1);
    s_count (fx, S, "123", "2023-02-01", NULL, 1, 2); /* r3 r10 */
    s_count (fx, L, "718-7", NULL, NULL, 1, 1);
    /* no prefix matching of codes or systems */
    s_count (fx, L, "2345", NULL, NULL, 0, 0);
    s_count (fx, L, "2345-", NULL, NULL, 0, 0);
    s_count (fx, "http://loinc.or", "2345-7", NULL, NULL, 0, 0);
    s_count (fx, S, "2345-7", NULL, NULL, 0, 0);
    s_count (fx, L, "9999-9", "2023-01-01", "2023-12-31", 0, 0);
    s_count (fx, "http://never.seen", "2345-7", "2023-01-01", NULL, 0, 0);

    hg_store_batch_destroy (&wb);
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
    assert_int_equal (hg_index_count (fx->index, HG_SYS_LOINC, code, NULL, NULL, &p, &r, &err),
                      HG_EINVAL);
    assert_string_equal (err.msg, "code too long");
    hg_err_clear (&err);
    assert_int_equal (hg_index_count (fx->index, HG_SYS_LOINC, code, "2020-01-01", NULL, &p, &r,
                                      &err),
                      HG_EINVAL);
    assert_string_equal (err.msg, "code too long");
}

static void
test_index_day (void **state)
{
    (void) state;
    struct {
        const char *in, *out;
    } cases[] = {
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

/* Closes and reopens the index over the same store. */
static void
s_reopen (fx_t *fx, uint64_t *converted)
{
    hg_err_t err = {0};
    hg_index_destroy (&fx->index);
    assert_null (fx->index);
    hg_store_close (&fx->store);
    hg_store_opts_t so = {.compression = "none"};
    fx->store = hg_store_open (fx->db, &so, &err);
    assert_non_null (fx->store);
    fx->index = hg_index_open (fx->store, converted, &err);
    assert_non_null (fx->index);
}

/* Per-code aggregates equal the scanned counts, survive a reload from the
 * store, count a (code, patient) pair once, and ignore duplicates. */
static void
test_aggregates (void **state)
{
    fx_t *fx = *state;
    hg_err_t err = {0};
    struct {
        const char *patient, *id, *eff, *loinc, *snomed;
    } rows[] = {
        {"pa", "r1", "2020-01-01", "4548-4", NULL},
        {"pa", "r2", "2020-02-01", "4548-4", "44054006"}, /* same patient again */
        {"pb", "r3", "2021-01-01", "4548-4", NULL},
        {"pb", "r3", "2021-01-01", "4548-4", NULL}, /* duplicate record */
        {"pc", "r4", "", "2345-7", "44054006"},
    };
    /* two rounds, committed separately, so the store check is exercised too */
    hg_store_batch_t *wb = hg_store_batch_new ();
    for (int round = 0; round < 2; round++) {
        for (size_t i = round ? 3 : 0; i < (round ? 5u : 3u); i++) {
            Hourglass__Record *r = s_rec (fx, rows[i].patient, rows[i].id, rows[i].eff,
                                          rows[i].loinc, rows[i].snomed);
            assert_true (hg_index_put (fx->index, wb, r, &err) >= 0);
        }
        s_commit (fx, wb);
    }
    /* a longer code before a shorter one in the same record, twice for the
     * same patient: the shorter code's patient is still counted once */
    for (int round = 0; round < 2; round++) {
        for (int k = 0; k < 2; k++) {
            char id[16];
            snprintf (id, sizeof (id), "long%d%d", round, k);
            Hourglass__Record *r = s_rec (fx, "pd", id, "2022-01-01", NULL, NULL);
            hg_arena_t *a = hg_batch_arena (fx->batch);
            hg_record_add_code (a, r, "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                                k ? "EMER" : "AMB", NULL);
            hg_record_add_code (a, r, HG_SYS_SNOMED, "185349003", NULL);
            assert_int_equal (hg_index_put (fx->index, wb, r, &err), 1);
        }
        s_commit (fx, wb);
    }
    s_count (fx, HG_SYS_SNOMED, "185349003", NULL, NULL, 1, 4);
    s_count (fx, HG_SYS_LOINC, "4548-4", NULL, NULL, 2, 3);
    s_count (fx, HG_SYS_SNOMED, "44054006", NULL, NULL, 2, 2);
    s_count (fx, HG_SYS_LOINC, "0000-0", NULL, NULL, 0, 0);
    /* reloaded from the store: the same numbers, and the dictionary gives
     * known systems their old numbers (one more record joins the old keys) */
    uint64_t converted = 99;
    s_reopen (fx, &converted);
    assert_int_equal (converted, 0);
    s_count (fx, HG_SYS_LOINC, "4548-4", NULL, NULL, 2, 3);
    s_count (fx, HG_SYS_LOINC, "2345-7", NULL, NULL, 1, 1);
    Hourglass__Record *r = s_rec (fx, "pe", "r9", "2020-01-15", "4548-4", NULL);
    assert_int_equal (hg_index_put (fx->index, wb, r, &err), 1);
    /* R C P D E, the new patient's O and N: no new dictionary entry */
    assert_int_equal (hg_store_batch_count (wb), 7);
    s_commit (fx, wb);
    s_count (fx, HG_SYS_LOINC, "4548-4", NULL, NULL, 3, 4);
    s_count (fx, HG_SYS_LOINC, "4548-4", "2020-01-01", "2020-01-31", 2, 2);
    hg_store_batch_destroy (&wb);
}

/* Writes rec in the earlier text layout, as the indexer before binary keys
 * did (without aggregates). */
static void
s_put_text_layout (hg_store_batch_t *wb, const Hourglass__Record *rec)
{
    char day[11];
    hg_index_day (rec->effective, day);
    char k[512];
    size_t kl = 0;
    s_cat (k, &kl, "r", 2);
    s_cat (k, &kl, rec->patient_ref, strlen (rec->patient_ref) + 1);
    s_cat (k, &kl, rec->record_id, strlen (rec->record_id));
    size_t len = hourglass__record__get_packed_size (rec);
    uint8_t *buf = malloc (len + 1);
    hourglass__record__pack (rec, buf);
    hg_store_batch_put (wb, k, kl, buf, len);
    free (buf);
    for (size_t i = 0; i < rec->n_codes; i++) {
        const Hourglass__Coding *c = rec->codes[i];
        kl = 0;
        s_cat (k, &kl, "c", 2);
        s_cat (k, &kl, c->system, strlen (c->system));
        s_cat (k, &kl, "|", 1);
        s_cat (k, &kl, c->code, strlen (c->code) + 1);
        s_cat (k, &kl, day, strlen (day) + 1);
        s_cat (k, &kl, rec->patient_ref, strlen (rec->patient_ref) + 1);
        s_cat (k, &kl, rec->record_id, strlen (rec->record_id));
        hg_store_batch_put (wb, k, kl, "", 0);
        kl = 0;
        s_cat (k, &kl, "p", 2);
        s_cat (k, &kl, c->system, strlen (c->system));
        s_cat (k, &kl, "|", 1);
        s_cat (k, &kl, c->code, strlen (c->code) + 1);
        s_cat (k, &kl, rec->patient_ref, strlen (rec->patient_ref));
        hg_store_batch_put (wb, k, kl, "", 0);
    }
    kl = 0;
    s_cat (k, &kl, "d", 2);
    s_cat (k, &kl, day, strlen (day) + 1);
    s_cat (k, &kl, rec->record_id, strlen (rec->record_id));
    hg_store_batch_put (wb, k, kl, rec->patient_ref, strlen (rec->patient_ref));
}

static bool
s_any_key (fx_t *fx, const char *prefix, size_t len)
{
    hg_store_iter_t *it = hg_store_iter_new (fx->store, prefix, len, NULL, 0);
    const char *k;
    size_t kl;
    bool any = hg_store_iter_next (it, &k, &kl, NULL, NULL);
    hg_store_iter_destroy (&it);
    return any;
}

/* A store in the text layout is converted when opened: every record
 * re-keyed, the old keys gone, counts (aggregates kept, scans over the new
 * keys) and de-duplication as before. */
static void
test_convert_text_layout (void **state)
{
    fx_t *fx = *state;
    hg_err_t err = {0};
    hg_store_batch_t *wb = hg_store_batch_new ();
    /* 5000 records over 3 codes and 700 patients: more than one converted
     * batch */
    const size_t n = 5000;
    for (size_t i = 0; i < n; i++) {
        char pat[16], rid[16], eff[16];
        snprintf (pat, sizeof (pat), "p%zu", i % 700);
        snprintf (rid, sizeof (rid), "r%zu", i);
        snprintf (eff, sizeof (eff), "2021-%02zu-%02zu", 1 + i % 12, 1 + i % 28);
        Hourglass__Record *r = s_rec (fx, pat, rid, i % 10 == 0 ? "" : eff,
                                      i % 3 ? "4548-4" : "2345-7", i % 2 ? "44054006" : NULL);
        s_put_text_layout (wb, r);
    }
    /* the aggregates of that data, as the old indexer kept them */
    struct {
        const char *key;
        uint64_t records, patients;
    } aggs[] = {
        {"n\0http://loinc.org|4548-4", 3333, 700},
        {"n\0http://loinc.org|2345-7", 1667, 700},
        {"n\0http://snomed.info/sct|44054006", 2500, 350},
    };
    for (size_t i = 0; i < 3; i++) {
        uint64_t v[2] = {aggs[i].records, aggs[i].patients};
        hg_store_batch_put (wb, aggs[i].key, 2 + strlen (aggs[i].key + 2), v, sizeof (v));
    }
    assert_int_equal (hg_store_write (fx->store, wb, true, &err), 0);
    hg_store_batch_clear (wb);
    assert_true (s_any_key (fx, "r", 2));

    uint64_t converted = 0;
    s_reopen (fx, &converted);
    assert_int_equal (converted, n);
    assert_false (s_any_key (fx, "r", 2));
    assert_false (s_any_key (fx, "c", 2));
    assert_false (s_any_key (fx, "d", 2));
    assert_false (s_any_key (fx, "p", 2));
    s_count (fx, HG_SYS_LOINC, "4548-4", NULL, NULL, 700, 3333);
    s_count (fx, HG_SYS_LOINC, "2345-7", NULL, NULL, 700, 1667);
    s_count (fx, HG_SYS_SNOMED, "44054006", NULL, NULL, 350, 2500);
    /* ranged: January is i % 12 == 0 (so i % 3 == 0: 2345-7), dated ones */
    uint64_t want_r = 0;
    char seen[700] = {0};
    uint64_t want_p = 0;
    for (size_t i = 0; i < n; i++) {
        if (i % 12 == 0 && i % 10 != 0) {
            want_r++;
            want_p += !seen[i % 700];
            seen[i % 700] = 1;
        }
    }
    assert_true (want_r > 100);
    s_count (fx, HG_SYS_LOINC, "2345-7", "2021-01-01", "2021-01-31", want_p, want_r);

    /* a converted record is a duplicate; a new one for a counted (code,
     * patient) pair adds a record but not a patient */
    Hourglass__Record *old = s_rec (fx, "p1", "r1", "2021-02-02", "4548-4", "44054006");
    assert_int_equal (hg_index_put (fx->index, wb, old, &err), 0);
    Hourglass__Record *fresh = s_rec (fx, "p1", "r-new", "2022-01-01", "4548-4", NULL);
    assert_int_equal (hg_index_put (fx->index, wb, fresh, &err), 1);
    s_commit (fx, wb);
    s_count (fx, HG_SYS_LOINC, "4548-4", NULL, NULL, 700, 3334);
    /* opened again: nothing left to convert */
    s_reopen (fx, &converted);
    assert_int_equal (converted, 0);
    s_count (fx, HG_SYS_LOINC, "4548-4", NULL, NULL, 700, 3334);
    hg_store_batch_destroy (&wb);
}

/* A cohort's patient count, and that the codes' order does not matter. */
static uint64_t
s_cohort (fx_t *fx, size_t n, const char *const *codes, const char *from, const char *to)
{
    const char *systems[HG_INDEX_COHORT_MAX], *rev_s[HG_INDEX_COHORT_MAX];
    const char *rev_c[HG_INDEX_COHORT_MAX];
    for (size_t i = 0; i < n; i++) {
        /* LOINC-looking codes have a '-' in this test; the rest are SNOMED */
        systems[i] = strchr (codes[i], '-') ? HG_SYS_LOINC : HG_SYS_SNOMED;
        rev_s[n - 1 - i] = systems[i];
        rev_c[n - 1 - i] = codes[i];
    }
    hg_err_t err = {0};
    uint64_t p = 99, q = 99;
    assert_int_equal (hg_index_cohort (fx->index, systems, codes, n, from, to, &p, &err), 0);
    assert_int_equal (hg_index_cohort (fx->index, rev_s, rev_c, n, from, to, &q, &err), 0);
    assert_int_equal (p, q);
    return p;
}

static void
test_cohort (void **state)
{
    fx_t *fx = *state;
    hg_store_batch_t *wb = hg_store_batch_new ();
    hg_err_t err = {0};
    /* p1: glucose + diabetes; p2: glucose twice; p3: diabetes + hba1c;
     * p4: all three, glucose in 2023 and hba1c in 2024; p5: hba1c undated */
    struct {
        const char *pat, *rid, *eff, *loinc, *snomed;
    } recs[] = {
        {"p1", "r1", "2023-03-01", "2345-7", NULL},
        {"p1", "r2", "2023-03-02", NULL, "44054006"},
        {"p2", "r3", "2023-01-01", "2345-7", NULL},
        {"p2", "r4", "2023-06-01", "2345-7", NULL},
        {"p3", "r5", "2023-02-01", NULL, "44054006"},
        {"p3", "r6", "2023-02-02", "4548-4", NULL},
        {"p4", "r7", "2023-05-05", "2345-7", "44054006"},
        {"p4", "r8", "2024-05-05", "4548-4", NULL},
        {"p5", "r9", "", "4548-4", NULL},
    };
    for (size_t i = 0; i < sizeof (recs) / sizeof (recs[0]); i++) {
        Hourglass__Record *r = s_rec (fx, recs[i].pat, recs[i].rid, recs[i].eff, recs[i].loinc,
                                      recs[i].snomed);
        assert_int_equal (hg_index_put (fx->index, wb, r, &err), 1);
        if (i == 4) {
            s_commit (fx, wb); /* codes spread over two commits */
        }
    }
    s_commit (fx, wb);

    const char *glu_dm[] = {"2345-7", "44054006"};
    const char *dm_a1c[] = {"44054006", "4548-4"};
    const char *all3[] = {"2345-7", "44054006", "4548-4"};
    const char *glu_none[] = {"2345-7", "0000-0"};
    const char *glu[] = {"2345-7"};
    const char *glu_glu[] = {"2345-7", "2345-7"};
    assert_int_equal (s_cohort (fx, 2, glu_dm, NULL, NULL), 2); /* p1, p4 */
    assert_int_equal (s_cohort (fx, 2, dm_a1c, NULL, NULL), 2); /* p3, p4 */
    assert_int_equal (s_cohort (fx, 3, all3, NULL, NULL), 1);   /* p4 */
    assert_int_equal (s_cohort (fx, 2, glu_none, NULL, NULL), 0);
    assert_int_equal (s_cohort (fx, 1, glu, NULL, NULL), 3); /* = count's patients */
    assert_int_equal (s_cohort (fx, 2, glu_glu, NULL, NULL), 3);
    /* ranged: every code dated in the range */
    assert_int_equal (s_cohort (fx, 2, glu_dm, "2023-03-01", "2023-12-31"), 2);
    assert_int_equal (s_cohort (fx, 2, glu_dm, "2023-03-02", "2023-12-31"), 1); /* p4 */
    assert_int_equal (s_cohort (fx, 2, dm_a1c, "2023-01-01", "2023-12-31"), 1); /* p3 */
    assert_int_equal (s_cohort (fx, 3, all3, "2023-01-01", "2023-12-31"), 0);
    assert_int_equal (s_cohort (fx, 3, all3, NULL, "2024-12-31"), 1);
    /* an undated record is in the unranged cohort only */
    const char *a1c[] = {"4548-4"};
    assert_int_equal (s_cohort (fx, 1, a1c, NULL, NULL), 3);
    assert_int_equal (s_cohort (fx, 1, a1c, "1900-01-01", NULL), 2);

    /* many patients, codes of very different densities (the join steps
     * through dense runs and seeks over gaps): against a brute-force count */
    enum { NP = 3000, NC = 4 };
    static const char *dense[NC] = {"1000-1", "2000-2", "3000-3", "4000-4"};
    static const unsigned every[NC] = {2, 3, 97, 1}; /* patient k has code c if k % every */
    static bool has[NP][NC];
    uint32_t seed = 7;
    for (unsigned k = 0; k < NP; k++) {
        char pat[17], rid[17];
        snprintf (pat, sizeof (pat), "q%05u", k * 7919 % 100000); /* ids not in order */
        for (unsigned c = 0; c < NC; c++) {
            seed = seed * 1103515245u + 12345u;
            has[k][c] = (k % every[c] == 0) || (c == 3 && (seed >> 16) % 5 == 0);
            if (!has[k][c]) {
                continue;
            }
            snprintf (rid, sizeof (rid), "r%05u-%u", k, c);
            Hourglass__Record *r = s_rec (fx, pat, rid, "2023-01-01", dense[c], NULL);
            assert_int_equal (hg_index_put (fx->index, wb, r, &err), 1);
        }
        if (k % 500 == 499) {
            s_commit (fx, wb);
            hg_batch_reset (fx->batch);
        }
    }
    s_commit (fx, wb);
    for (unsigned mask = 1; mask < (1u << NC); mask++) {
        const char *pick[NC];
        size_t n = 0;
        for (unsigned c = 0; c < NC; c++) {
            if (mask & (1u << c)) {
                pick[n++] = dense[c];
            }
        }
        uint64_t want = 0;
        for (unsigned k = 0; k < NP; k++) {
            bool all = true;
            for (unsigned c = 0; c < NC; c++) {
                all = all && (!(mask & (1u << c)) || has[k][c]);
            }
            want += all;
        }
        assert_int_equal (s_cohort (fx, n, pick, NULL, NULL), want);
        assert_int_equal (s_cohort (fx, n, pick, "2023-01-01", "2023-01-01"), want);
    }

    const char *sys[HG_INDEX_COHORT_MAX + 1], *codes[HG_INDEX_COHORT_MAX + 1];
    uint64_t p = 0;
    assert_int_equal (hg_index_cohort (fx->index, sys, codes, 0, NULL, NULL, &p, &err),
                      HG_EINVAL);
    assert_int_equal (hg_index_cohort (fx->index, sys, codes, HG_INDEX_COHORT_MAX + 1, NULL, NULL,
                                       &p, &err),
                      HG_EINVAL);
    hg_store_batch_destroy (&wb);
}

/* A store indexed before the timeline keys existed (R keys, no E, G or the
 * x\0timeline mark) gets them once when opened; the mark then stops a
 * second walk. */
static void
test_timeline_backfill (void **state)
{
    fx_t *fx = *state;
    hg_store_batch_t *wb = hg_store_batch_new ();
    hg_err_t err = {0};
    hg_arena_t *a = hg_batch_arena (fx->batch);
    Hourglass__Record *r = s_rec (fx, "pa", "ra", "2023-01-10", "2345-7", NULL);
    Hourglass__Record *d = s_rec (fx, "pa", "rd", "", NULL, NULL);
    d->kind = HOURGLASS__RECORD_KIND__KIND_DEMOGRAPHICS;
    d->demographics = hg_arena_alloc (a, sizeof (*d->demographics));
    hourglass__demographics__init (d->demographics);
    d->demographics->sex = "female";
    d->demographics->birth_year = 1970;
    d->demographics->state = "CA";
    assert_int_equal (hg_index_put (fx->index, wb, r, &err), 1);
    assert_int_equal (hg_index_put (fx->index, wb, d, &err), 1);
    s_commit (fx, wb);
    /* as an earlier version left it: no timeline, no mark */
    char pa[16], k[64];
    s_bin ("pa", pa);
    size_t kl = 0;
    s_cat (k, &kl, "G", 1);
    s_cat (k, &kl, pa, 16);
    static const char mark[] = "x\0timeline";
    hg_store_batch_delete (wb, k, kl);
    hg_store_batch_delete (wb, mark, sizeof (mark) - 1);
    hg_store_iter_t *it = hg_store_iter_new (fx->store, "E", 1, NULL, 0);
    const char *ek;
    size_t ekl, n_e = 0;
    while (hg_store_iter_next (it, &ek, &ekl, NULL, NULL)) {
        hg_store_batch_delete (wb, ek, ekl);
        n_e++;
    }
    hg_store_iter_destroy (&it);
    assert_int_equal (n_e, 2);
    assert_int_equal (hg_store_write (fx->store, wb, true, &err), 0);
    hg_store_batch_clear (wb);
    assert_false (hg_store_exists (fx->store, k, kl));
    s_reopen (fx, NULL);
    /* G: f, 1970 (0x07b2) LE, "CA" */
    char *v = NULL;
    size_t vl = 0;
    assert_int_equal (hg_store_get (fx->store, k, kl, &v, &vl, &err), 0);
    assert_int_equal (vl, HG_INDEX_DEMO_BYTES);
    assert_memory_equal (v,
                         "f\xb2\x07"
                         "CA",
                         5);
    free (v);
    it = hg_store_iter_new (fx->store, "E", 1, NULL, 0);
    n_e = 0;
    while (hg_store_iter_next (it, &ek, &ekl, NULL, NULL)) {
        n_e++;
    }
    hg_store_iter_destroy (&it);
    assert_int_equal (n_e, 2);
    assert_true (hg_store_exists (fx->store, mark, sizeof (mark) - 1));
    hg_store_batch_destroy (&wb);
}

/* Patient ordinals are dense and survive a restart: a round that fails
 * before its flush gives its ordinals again, a patient seen again keeps
 * its ordinal, and the next ordinal is read back at open. */
static void
test_ordinals (void **state)
{
    fx_t *fx = *state;
    hg_store_batch_t *wb = hg_store_batch_new ();
    hg_err_t err = {0};
    hg_index_begin (fx->index);
    assert_int_equal (hg_index_put (fx->index, wb,
                                    s_rec (fx, "p1", "r1", "2020-01-01", "1-1", NULL), &err),
                      1);
    assert_int_equal (hg_index_ordinals (fx->index), 1);
    /* that round fails (never flushed nor written): begin again */
    hg_store_batch_clear (wb);
    hg_index_begin (fx->index);
    assert_int_equal (hg_index_ordinals (fx->index), 0);
    assert_int_equal (hg_index_put (fx->index, wb,
                                    s_rec (fx, "p2", "r2", "2020-01-01", "1-1", NULL), &err),
                      1);
    assert_int_equal (hg_index_put (fx->index, wb,
                                    s_rec (fx, "p1", "r1", "2020-01-01", "1-1", NULL), &err),
                      1);
    s_commit (fx, wb);
    assert_int_equal (hg_index_ordinals (fx->index), 2);
    /* known patients keep theirs; a new one gets the next */
    assert_int_equal (hg_index_put (fx->index, wb,
                                    s_rec (fx, "p1", "r3", "2020-01-02", "1-1", NULL), &err),
                      1);
    assert_int_equal (hg_index_ordinals (fx->index), 2);
    assert_int_equal (hg_index_put (fx->index, wb,
                                    s_rec (fx, "p3", "r4", "2020-01-02", "1-1", NULL), &err),
                      1);
    s_commit (fx, wb);
    assert_int_equal (hg_index_ordinals (fx->index), 3);
    uint64_t converted = 0;
    s_reopen (fx, &converted);
    assert_int_equal (hg_index_ordinals (fx->index), 3);
    assert_false (hg_index_backfilled (fx->index));
    hg_store_batch_destroy (&wb);
}

HG_TEST_MAIN (cmocka_unit_test_setup_teardown (test_put_and_duplicates, s_setup, s_teardown),
              cmocka_unit_test_setup_teardown (test_put_rejects_identified, s_setup, s_teardown),
              cmocka_unit_test (test_id_parse),
              cmocka_unit_test_setup_teardown (test_count, s_setup, s_teardown),
              cmocka_unit_test_setup_teardown (test_count_errors, s_setup, s_teardown),
              cmocka_unit_test_setup_teardown (test_cohort, s_setup, s_teardown),
              cmocka_unit_test_setup_teardown (test_index_day, s_setup, s_teardown),
              cmocka_unit_test_setup_teardown (test_aggregates, s_setup, s_teardown),
              cmocka_unit_test_setup_teardown (test_convert_text_layout, s_setup, s_teardown),
              cmocka_unit_test_setup_teardown (test_timeline_backfill, s_setup, s_teardown),
              cmocka_unit_test_setup_teardown (test_ordinals, s_setup, s_teardown))
