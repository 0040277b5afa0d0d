/*
 * test_store.c -- the RocksDB wrapper (common/store.c) on a real database in
 * a temporary directory: point reads and writes, batches, prefix scans with
 * a start key, big-endian key order, reopen; and the key spaces of the
 * runtime kept there: persisted counters ("m/<name>", counters.c) and the
 * quarantine ("q/<id>\0<index>", quarantine.c: the layout, the listing in
 * key order, at most limit, undecodable values skipped).
 */
#include "unit_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "counters.h"
#include "quarantine.h"
#include "store.h"
#include "util.h"

typedef struct {
    char dir[64];
    char db[128];
    hg_store_t *store;
} fx_t;

static const hg_store_opts_t s_opts = {.sync = false, .compression = "lz4"};

static int
s_setup (void **state)
{
    fx_t *fx = calloc (1, sizeof (*fx));
    snprintf (fx->dir, sizeof (fx->dir), "/tmp/hg-store-XXXXXX");
    if (!mkdtemp (fx->dir)) {
        return -1;
    }
    snprintf (fx->db, sizeof (fx->db), "%s/db", fx->dir);
    hg_err_t err = {0};
    fx->store = hg_store_open (fx->db, &s_opts, &err);
    if (!fx->store) {
        fprintf (stderr, "open: %s\n", err.msg);
        return -1;
    }
    *state = fx;
    return 0;
}

static int
s_teardown (void **state)
{
    fx_t *fx = *state;
    hg_store_close (&fx->store);
    hg_remove_tree (fx->dir, NULL);
    free (fx);
    return 0;
}

static void
s_expect_value (hg_store_t *st, const char *key, const char *value)
{
    char *v = NULL;
    size_t vl = 0;
    hg_err_t err = {0};
    assert_int_equal (hg_store_get (st, key, strlen (key), &v, &vl, &err), 0);
    assert_int_equal (vl, strlen (value));
    assert_memory_equal (v, value, vl);
    free (v);
}

static void
test_put_get_exists (void **state)
{
    fx_t *fx = *state;
    hg_err_t err = {0};
    char *v = (char *) "untouched";
    size_t vl = 77;
    assert_int_equal (hg_store_get (fx->store, "k1", 2, &v, &vl, &err), HG_ENOTFOUND);
    assert_string_equal (v, "untouched");
    assert_int_equal (vl, 77);
    assert_false (hg_store_exists (fx->store, "k1", 2));

    assert_int_equal (hg_store_put (fx->store, "k1", 2, "v1", 2, &err), 0);
    assert_true (hg_store_exists (fx->store, "k1", 2));
    s_expect_value (fx->store, "k1", "v1");
    /* overwrite */
    assert_int_equal (hg_store_put (fx->store, "k1", 2, "second", 6, &err), 0);
    s_expect_value (fx->store, "k1", "second");

    /* binary keys and values with NULs; empty value exists */
    const char bk[] = {'b', 0, 'x', 0};
    const char bv[] = {0, 1, 2, 0, (char) 0xff};
    assert_int_equal (hg_store_put (fx->store, bk, sizeof (bk), bv, sizeof (bv), &err), 0);
    assert_false (hg_store_exists (fx->store, bk, 3)); /* a prefix is another key */
    assert_int_equal (hg_store_get (fx->store, bk, sizeof (bk), &v, &vl, &err), 0);
    assert_int_equal (vl, sizeof (bv));
    assert_memory_equal (v, bv, sizeof (bv));
    free (v);
    assert_int_equal (hg_store_put (fx->store, "empty", 5, "", 0, &err), 0);
    assert_true (hg_store_exists (fx->store, "empty", 5));
    assert_int_equal (hg_store_get (fx->store, "empty", 5, &v, &vl, &err), 0);
    assert_int_equal (vl, 0);
    free (v);
}

static void
test_batch (void **state)
{
    fx_t *fx = *state;
    hg_err_t err = {0};
    assert_int_equal (hg_store_put (fx->store, "gone", 4, "x", 1, &err), 0);
    hg_store_batch_t *b = hg_store_batch_new ();
    assert_int_equal (hg_store_batch_count (b), 0);
    hg_store_batch_put (b, "a", 1, "1", 1);
    hg_store_batch_put (b, "b", 1, "2", 1);
    hg_store_batch_delete (b, "gone", 4);
    assert_int_equal (hg_store_batch_count (b), 3);
    /* nothing visible before the write */
    assert_false (hg_store_exists (fx->store, "a", 1));
    assert_true (hg_store_exists (fx->store, "gone", 4));
    assert_int_equal (hg_store_write (fx->store, b, true, &err), 0);
    s_expect_value (fx->store, "a", "1");
    s_expect_value (fx->store, "b", "2");
    assert_false (hg_store_exists (fx->store, "gone", 4));

    /* later operations in one batch win */
    hg_store_batch_clear (b);
    assert_int_equal (hg_store_batch_count (b), 0);
    hg_store_batch_put (b, "a", 1, "3", 1);
    hg_store_batch_delete (b, "a", 1);
    hg_store_batch_put (b, "b", 1, "4", 1);
    hg_store_batch_delete (b, "b", 1);
    hg_store_batch_put (b, "b", 1, "5", 1);
    assert_int_equal (hg_store_write (fx->store, b, false, &err), 0);
    assert_false (hg_store_exists (fx->store, "a", 1));
    s_expect_value (fx->store, "b", "5");

    /* an empty batch is a no-op */
    hg_store_batch_clear (b);
    assert_int_equal (hg_store_write (fx->store, b, false, &err), 0);
    s_expect_value (fx->store, "b", "5");
    hg_store_batch_destroy (&b);
    assert_null (b);
    hg_store_batch_destroy (&b);
}

/* A batch goes to RocksDB sorted by key: many operations in random order,
 * on keys that share long prefixes, are prefixes of each other, hold NULs
 * and 0xff bytes, and repeat (put, delete, put again) must leave exactly the
 * state of applying them in the order given. */
static void
test_batch_sorted_keeps_meaning (void **state)
{
    fx_t *fx = *state;
    hg_err_t err = {0};
    enum { KEYS = 300, OPS = 4000 };
    /* key i: a shared 20-byte prefix for the first half, short keys and
     * extensions of each other for the rest */
    unsigned char keys[KEYS][40];
    size_t klen[KEYS];
    for (int i = 0; i < KEYS; i++) {
        if (i < KEYS / 2) {
            memset (keys[i], 'c', 20);
            keys[i][20] = (unsigned char) (i & 1 ? 0xff : 0x00);
            keys[i][21] = (unsigned char) i;
            klen[i] = 22;
        }
        else {
            /* "x", "x\0", "x\0\0"...: each a prefix of the next */
            klen[i] = 1 + (size_t) (i - KEYS / 2) % 30;
            memset (keys[i], 0, sizeof (keys[i]));
            keys[i][0] = (unsigned char) ('x' + (i - KEYS / 2) / 30);
        }
    }
    /* the expected final state: -1 absent, else the value written last */
    int want[KEYS];
    for (int i = 0; i < KEYS; i++) {
        want[i] = -1;
    }
    hg_store_batch_t *b = hg_store_batch_new ();
    unsigned seed = 12345;
    for (int n = 0; n < OPS; n++) {
        seed = seed * 1103515245u + 12345u;
        int i = (int) ((seed >> 8) % KEYS);
        if ((seed >> 4) % 4 == 0) {
            hg_store_batch_delete (b, keys[i], klen[i]);
            want[i] = -1;
        }
        else if ((seed >> 4) % 4 == 1) {
            /* the value written in place */
            char *v = hg_store_batch_put_space (b, keys[i], klen[i], sizeof (int));
            assert_non_null (v);
            memcpy (v, &n, sizeof (int));
            want[i] = n;
        }
        else {
            hg_store_batch_put (b, keys[i], klen[i], &n, sizeof (int));
            want[i] = n;
        }
    }
    assert_int_equal (hg_store_batch_count (b), OPS);
    assert_int_equal (hg_store_write (fx->store, b, false, &err), 0);
    for (int i = 0; i < KEYS; i++) {
        char *v = NULL;
        size_t vl = 0;
        int rc = hg_store_get (fx->store, keys[i], klen[i], &v, &vl, &err);
        if (want[i] < 0) {
            assert_int_equal (rc, HG_ENOTFOUND);
            continue;
        }
        assert_int_equal (rc, 0);
        assert_int_equal (vl, sizeof (int));
        int got;
        memcpy (&got, v, sizeof (int));
        assert_int_equal (got, want[i]);
        free (v);
    }
    /* a batch cleared after a big round (past what it keeps) works again */
    hg_store_batch_clear (b);
    char *big = calloc (1, 9u << 20);
    hg_store_batch_put (b, "big", 3, big, 9u << 20);
    assert_int_equal (hg_store_write (fx->store, b, false, &err), 0);
    hg_store_batch_clear (b);
    hg_store_batch_put (b, "small", 5, "s", 1);
    assert_int_equal (hg_store_write (fx->store, b, false, &err), 0);
    s_expect_value (fx->store, "small", "s");
    free (big);
    hg_store_batch_destroy (&b);
}

/* Collects the keys of a scan as "k1,k2,...". */
static void
s_scan (hg_store_t *st, const char *prefix, const char *start, char *out, size_t size)
{
    hg_store_iter_t *it = hg_store_iter_new (st, prefix, strlen (prefix), start,
                                             start ? strlen (start) : 0);
    assert_non_null (it);
    const char *k, *v;
    size_t kl, vl;
    out[0] = '\0';
    size_t n = 0;
    while (hg_store_iter_next (it, &k, &kl, &v, &vl)) {
        /* every value is the key upper-cased */
        assert_int_equal (vl, kl);
        for (size_t i = 0; i < kl; i++) {
            assert_int_equal (v[i], k[i] >= 'a' && k[i] <= 'z' ? k[i] - 32 : k[i]);
        }
        n += (size_t) snprintf (out + n, size - n, "%s%.*s", n ? "," : "", (int) kl, k);
    }
    hg_store_iter_destroy (&it);
    assert_null (it);
}

static void
test_iterate_prefix_and_start (void **state)
{
    fx_t *fx = *state;
    const char *keys[] = {"a/1", "a/2", "a/3", "ab/1", "b/1", "a", "a/20", "c/"};
    hg_store_batch_t *b = hg_store_batch_new ();
    for (size_t i = 0; i < sizeof (keys) / sizeof (keys[0]); i++) {
        char up[16];
        size_t l = strlen (keys[i]);
        for (size_t j = 0; j <= l; j++) {
            up[j] = keys[i][j] >= 'a' && keys[i][j] <= 'z' ? keys[i][j] - 32 : keys[i][j];
        }
        hg_store_batch_put (b, keys[i], l, up, l);
    }
    hg_err_t err = {0};
    assert_int_equal (hg_store_write (fx->store, b, false, &err), 0);
    hg_store_batch_destroy (&b);

    char got[256];
    s_scan (fx->store, "a/", NULL, got, sizeof (got));
    assert_string_equal (got, "a/1,a/2,a/20,a/3");
    s_scan (fx->store, "a", NULL, got, sizeof (got));
    assert_string_equal (got, "a,a/1,a/2,a/20,a/3,ab/1");
    s_scan (fx->store, "a/", "a/2", got, sizeof (got));
    assert_string_equal (got, "a/2,a/20,a/3");
    s_scan (fx->store, "a/", "a/21", got, sizeof (got));
    assert_string_equal (got, "a/3");
    s_scan (fx->store, "a/", "a/4", got, sizeof (got));
    assert_string_equal (got, "");
    s_scan (fx->store, "b/", NULL, got, sizeof (got));
    assert_string_equal (got, "b/1");
    s_scan (fx->store, "c/", NULL, got, sizeof (got));
    assert_string_equal (got, "c/");
    s_scan (fx->store, "d/", NULL, got, sizeof (got));
    assert_string_equal (got, "");
    s_scan (fx->store, "", NULL, got, sizeof (got));
    assert_string_equal (got, "a,a/1,a/2,a/20,a/3,ab/1,b/1,c/");

    /* iterating without asking for values */
    hg_store_iter_t *it = hg_store_iter_new (fx->store, "b/", 2, NULL, 0);
    const char *k;
    size_t kl;
    assert_true (hg_store_iter_next (it, &k, &kl, NULL, NULL));
    assert_int_equal (kl, 3);
    assert_memory_equal (k, "b/1", 3);
    assert_false (hg_store_iter_next (it, &k, &kl, NULL, NULL));
    assert_false (hg_store_iter_next (it, &k, &kl, NULL, NULL));
    hg_store_iter_destroy (&it);
}

static void
test_be64_order (void **state)
{
    fx_t *fx = *state;
    unsigned char buf[8];
    hg_be64_put (buf, 0x0102030405060708ULL);
    const unsigned char want[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    assert_memory_equal (buf, want, 8);
    assert_int_equal (hg_be64_get (buf), 0x0102030405060708ULL);
    hg_be64_put (buf, UINT64_MAX);
    assert_int_equal (hg_be64_get (buf), UINT64_MAX);
    hg_be64_put (buf, 0);
    assert_int_equal (hg_be64_get (buf), 0);

    /* written in scrambled order, read back in numeric order */
    const uint64_t vals[] = {256, 1, 0xffffffffffULL, 255, 65536, 2, UINT64_MAX, 0};
    const uint64_t sorted[] = {0, 1, 2, 255, 256, 65536, 0xffffffffffULL, UINT64_MAX};
    hg_store_batch_t *b = hg_store_batch_new ();
    for (size_t i = 0; i < 8; i++) {
        unsigned char key[10] = {'o', '/'};
        hg_be64_put (key + 2, vals[i]);
        hg_store_batch_put (b, key, sizeof (key), "", 0);
    }
    hg_err_t err = {0};
    assert_int_equal (hg_store_write (fx->store, b, false, &err), 0);
    hg_store_batch_destroy (&b);

    hg_store_iter_t *it = hg_store_iter_new (fx->store, "o/", 2, NULL, 0);
    const char *k, *v;
    size_t kl, vl, n = 0;
    while (hg_store_iter_next (it, &k, &kl, &v, &vl)) {
        assert_int_equal (kl, 10);
        assert_true (n < 8);
        assert_int_equal (hg_be64_get ((const unsigned char *) k + 2), sorted[n]);
        n++;
    }
    hg_store_iter_destroy (&it);
    assert_int_equal (n, 8);

    /* start in the middle: from 256 */
    unsigned char start[10] = {'o', '/'};
    hg_be64_put (start + 2, 256);
    it = hg_store_iter_new (fx->store, "o/", 2, start, sizeof (start));
    n = 4;
    while (hg_store_iter_next (it, &k, &kl, &v, &vl)) {
        assert_int_equal (hg_be64_get ((const unsigned char *) k + 2), sorted[n]);
        n++;
    }
    hg_store_iter_destroy (&it);
    assert_int_equal (n, 8);
}

static void
test_reopen_keeps_data (void **state)
{
    fx_t *fx = *state;
    hg_err_t err = {0};
    assert_int_equal (hg_store_put (fx->store, "p", 1, "put", 3, &err), 0);
    hg_store_batch_t *b = hg_store_batch_new ();
    hg_store_batch_put (b, "q", 1, "batched", 7);
    assert_int_equal (hg_store_write (fx->store, b, false, &err), 0);
    hg_store_batch_destroy (&b);

    /* a second open of a live database fails with a message naming it */
    hg_store_t *second = hg_store_open (fx->db, &s_opts, &err);
    assert_null (second);
    assert_int_equal (err.code, HG_EIO);
    char want[256];
    snprintf (want, sizeof (want), "cannot open store %s: ", fx->db);
    assert_memory_equal (err.msg, want, strlen (want));

    assert_int_equal (hg_store_flush (fx->store, &err), 0);
    assert_true (hg_store_size_bytes (fx->store) > 0);
    assert_int_equal (hg_store_put (fx->store, "r", 1, "after-flush", 11, &err), 0);
    hg_store_close (&fx->store);
    assert_null (fx->store);
    hg_store_close (&fx->store);

    fx->store = hg_store_open (fx->db, &s_opts, &err);
    assert_non_null (fx->store);
    s_expect_value (fx->store, "p", "put");
    s_expect_value (fx->store, "q", "batched");
    s_expect_value (fx->store, "r", "after-flush");
}

static void
test_open_errors (void **state)
{
    fx_t *fx = *state;
    hg_err_t err = {0};
    hg_store_opts_t bad = {.compression = "brotli"};
    char path[160];
    snprintf (path, sizeof (path), "%s/other", fx->dir);
    assert_null (hg_store_open (path, &bad, &err));
    assert_int_equal (err.code, HG_EINVAL);
    assert_string_equal (err.msg,
                         "store compression 'brotli' is unknown (lz4, snappy, zstd, none)");

    /* every named compression opens */
    const char *names[] = {"none", "snappy", "zstd", "lz4", ""};
    for (size_t i = 0; i < 5; i++) {
        hg_store_opts_t o = {.compression = names[i]};
        snprintf (path, sizeof (path), "%s/c%zu", fx->dir, i);
        hg_store_t *s = hg_store_open (path, &o, &err);
        if (!s) {
            fail_msg ("compression '%s': %s", names[i], err.msg);
        }
        assert_int_equal (hg_store_put (s, "k", 1, "v", 1, &err), 0);
        hg_store_close (&s);
    }

    hg_store_opts_t bad_style = {.compression = "lz4", .compaction = "tiered"};
    snprintf (path, sizeof (path), "%s/other2", fx->dir);
    assert_null (hg_store_open (path, &bad_style, &err));
    assert_int_equal (err.code, HG_EINVAL);
    assert_string_equal (err.msg, "store compaction 'tiered' is unknown (level, universal)");

    /* a store written with level compaction (files in L0 and below) opens
     * with universal compaction and keeps every key, and back again: the
     * indexer's default changed, existing stores must still open */
    snprintf (path, sizeof (path), "%s/styles", fx->dir);
    const char *styles[] = {"level", "universal", "level", "universal"};
    for (size_t round = 0; round < 4; round++) {
        hg_store_opts_t o = {.compression = "lz4", .compaction = styles[round]};
        hg_store_t *s = hg_store_open (path, &o, &err);
        if (!s) {
            fail_msg ("compaction '%s' (round %zu): %s", styles[round], round, err.msg);
        }
        for (unsigned f = 0; f < 6; f++) { /* 6 flushes: L0 compactions start at 4 */
            hg_store_batch_t *b = hg_store_batch_new ();
            for (unsigned k = 0; k < 500; k++) {
                char key[32];
                int kl = snprintf (key, sizeof (key), "r%zu-f%u-k%04u", round, f, k);
                hg_store_batch_put (b, key, (size_t) kl, key, (size_t) kl);
            }
            assert_int_equal (hg_store_write (s, b, false, &err), 0);
            hg_store_batch_destroy (&b);
            assert_int_equal (hg_store_flush (s, &err), 0);
        }
        size_t n = 0;
        hg_store_iter_t *it = hg_store_iter_new (s, "r", 1, NULL, 0);
        const char *k, *v;
        size_t kl, vl;
        while (hg_store_iter_next (it, &k, &kl, &v, &vl)) {
            assert_int_equal (kl, vl);
            assert_memory_equal (k, v, kl);
            n++;
        }
        hg_store_iter_destroy (&it);
        assert_int_equal (n, (round + 1) * 6 * 500);
        hg_store_close (&s);
    }

    /* a path under a regular file cannot be created */
    snprintf (path, sizeof (path), "%s/file", fx->dir);
    FILE *f = fopen (path, "w");
    fclose (f);
    snprintf (path, sizeof (path), "%s/file/db", fx->dir);
    assert_null (hg_store_open (path, &s_opts, &err));
    assert_int_equal (err.code, HG_EIO);
    char want[256];
    snprintf (want, sizeof (want), "cannot open store %s: ", path);
    assert_memory_equal (err.msg, want, strlen (want));
}

static void
test_counters_persist_and_adopt (void **state)
{
    fx_t *fx = *state;
    hg_store_t *store = fx->store;
    hg_err_t err = {0};

    hg_counters_t *c = hg_counters_new ();
    *hg_counters_get (c, "received") = 7;
    *hg_counters_get (c, "commits") = 3;
    hg_store_batch_t *wb = hg_store_batch_new ();
    hg_counters_put (c, wb);
    assert_int_equal (hg_store_batch_count (wb), 2);
    assert_int_equal (hg_store_write (store, wb, false, &err), 0);
    char *val = NULL;
    size_t vlen = 0;
    assert_int_equal (hg_store_get (store, "m/received", 10, &val, &vlen, &err), 0);
    assert_int_equal (vlen, 8);
    uint64_t got;
    memcpy (&got, val, 8);
    assert_int_equal (got, 7);
    free (val);

    /* load sets what the store holds and keeps the others */
    hg_counters_t *l = hg_counters_new ();
    *hg_counters_get (l, "auth_refused") = 2;
    *hg_counters_get (l, "received") = 100;
    hg_counters_load (l, store);
    assert_int_equal (*hg_counters_get (l, "received"), 7);
    assert_int_equal (*hg_counters_get (l, "commits"), 3);
    assert_int_equal (*hg_counters_get (l, "auth_refused"), 2);

    /* adoption adds; a value of the wrong size counts 0 */
    uint64_t five = 5;
    assert_true (hg_counters_is_key ("m/received", 10));
    assert_false (hg_counters_is_key ("m/", 2));
    assert_false (hg_counters_is_key ("q/received", 10));
    hg_counters_add_entry (l, "m/received", 10, (const char *) &five, 8);
    hg_counters_add_entry (l, "m/adopted", 9, "abc", 3);
    assert_int_equal (*hg_counters_get (l, "received"), 12);
    assert_int_equal (*hg_counters_get (l, "adopted"), 0);

    hg_counters_destroy (&l);
    hg_counters_destroy (&c);
    hg_store_batch_destroy (&wb);
}

static void
s_quarantine_put (hg_store_batch_t *wb, const char *id, size_t index, const char *reason)
{
    Hourglass__QuarantineEntry q = HOURGLASS__QUARANTINE_ENTRY__INIT;
    q.message_id = (char *) id;
    q.reason = (char *) reason;
    assert_int_equal (hg_quarantine_put (wb, &q, index, NULL), 0);
}

static void
test_quarantine_put_and_list (void **state)
{
    fx_t *fx = *state;
    hg_store_t *store = fx->store;
    hg_err_t err = {0};
    hg_store_batch_t *wb = hg_store_batch_new ();
    s_quarantine_put (wb, "m1", 1, "second of m1");
    s_quarantine_put (wb, "m1", 0, "first of m1");
    s_quarantine_put (wb, "m", 12, "only of m");
    char long_id[700];
    memset (long_id, 'z', sizeof (long_id) - 1);
    long_id[sizeof (long_id) - 1] = '\0';
    s_quarantine_put (wb, long_id, 0, "a long id");
    hg_store_batch_put (wb, "q/zz", 4, "\xff\xff", 2); /* not an entry */
    assert_int_equal (hg_store_write (store, wb, false, &err), 0);

    /* the layout others rely on (adoption copies the keys as they are) */
    assert_true (hg_store_exists (store,
                                  "q/m1\0"
                                  "000001",
                                  11));
    assert_true (hg_store_exists (store,
                                  "q/m\0"
                                  "000012",
                                  10));

    hg_arena_t *arena = hg_arena_new (0);
    Hourglass__QuarantineEntry **list = NULL;
    size_t n = 0;
    assert_int_equal (hg_quarantine_list (store, 1000, arena, &list, &n, &err), 0);
    assert_int_equal (n, 4);
    assert_string_equal (list[0]->reason, "only of m");
    assert_string_equal (list[1]->reason, "first of m1");
    assert_string_equal (list[2]->reason, "second of m1");
    assert_string_equal (list[3]->reason, "a long id");
    assert_string_equal (list[3]->message_id, long_id);
    assert_int_equal (hg_quarantine_list (store, 2, arena, &list, &n, &err), 0);
    assert_int_equal (n, 2);
    assert_string_equal (list[1]->reason, "first of m1");

    hg_arena_destroy (&arena);
    hg_store_batch_destroy (&wb);
}

static void
s_entry (hg_store_batch_t *wb, const char *id, size_t index, const char *partner,
         const char *reason, uint64_t at_us, const char *key)
{
    Hourglass__QuarantineEntry q = HOURGLASS__QUARANTINE_ENTRY__INIT;
    q.message_id = (char *) id;
    q.partner = (char *) partner;
    q.format = (char *) "csv";
    q.reason = (char *) reason;
    q.at_us = at_us;
    q.key = (char *) key;
    assert_int_equal (hg_quarantine_put (wb, &q, index, NULL), 0);
}

/* What replay selects (one per message, by partner, reason and time; not
 * entries without a payload) and what clearing a message deletes (its
 * entries only, not those of an id it is a prefix of). */
static void
test_quarantine_select_and_clear (void **state)
{
    fx_t *fx = *state;
    hg_store_t *store = fx->store;
    hg_err_t err = {0};
    hg_store_batch_t *wb = hg_store_batch_new ();
    s_entry (wb, "lab/a", 0, "lab", "row 2 column code: empty", 100, "p/lab/a");
    s_entry (wb, "lab/a", 1, "lab", "no CSV mapping for partner 'lab'", 100, "p/lab/a");
    s_entry (wb, "lab/a2", 0, "lab", "row 3 column date: bad", 300, "p/lab/a2");
    s_entry (wb, "other/b", 0, "other", "no CSV mapping for partner 'other'", 200, "p/other/b");
    s_entry (wb, "deid/c", 0, "lab", "no CSV mapping", 400, ""); /* no payload kept */
    assert_int_equal (hg_store_write (store, wb, false, &err), 0);

    hg_arena_t *arena = hg_arena_new (0);
    hg_quarantined_t *m = NULL;
    size_t n = 0;
    hg_quarantine_filter_t all = {NULL, NULL, 0};
    assert_int_equal (hg_quarantine_select (store, &all, 100, arena, &m, &n, &err), 0);
    assert_int_equal (n, 3);
    assert_string_equal (m[0].message_id, "lab/a");
    assert_string_equal (m[0].payload_key, "p/lab/a");
    assert_string_equal (m[1].message_id, "lab/a2");
    assert_string_equal (m[2].message_id, "other/b");
    hg_quarantine_filter_t lab = {"lab", NULL, 0};
    assert_int_equal (hg_quarantine_select (store, &lab, 100, arena, &m, &n, &err), 0);
    assert_int_equal (n, 2);
    hg_quarantine_filter_t mapping = {"", "no CSV mapping", 0}; /* lab/a's second entry */
    assert_int_equal (hg_quarantine_select (store, &mapping, 100, arena, &m, &n, &err), 0);
    assert_int_equal (n, 2);
    assert_string_equal (m[0].message_id, "lab/a");
    assert_string_equal (m[1].message_id, "other/b");
    hg_quarantine_filter_t late = {NULL, NULL, 200};
    assert_int_equal (hg_quarantine_select (store, &late, 100, arena, &m, &n, &err), 0);
    assert_int_equal (n, 2);
    assert_string_equal (m[0].message_id, "lab/a2");
    assert_int_equal (hg_quarantine_select (store, &all, 1, arena, &m, &n, &err), 0);
    assert_int_equal (n, 1);

    hg_store_batch_clear (wb);
    assert_int_equal (hg_quarantine_clear (store, wb, "lab/a", &err), 0);
    assert_int_equal (hg_store_batch_count (wb), 2);
    assert_int_equal (hg_store_write (store, wb, false, &err), 0);
    assert_int_equal (hg_quarantine_select (store, &lab, 100, arena, &m, &n, &err), 0);
    assert_int_equal (n, 1);
    assert_string_equal (m[0].message_id, "lab/a2"); /* "lab/a" is its prefix: kept */
    hg_arena_destroy (&arena);
    hg_store_batch_destroy (&wb);
}

HG_TEST_MAIN (
    cmocka_unit_test_setup_teardown (test_quarantine_select_and_clear, s_setup, s_teardown),
    cmocka_unit_test_setup_teardown (test_put_get_exists, s_setup, s_teardown),
    cmocka_unit_test_setup_teardown (test_batch, s_setup, s_teardown),
    cmocka_unit_test_setup_teardown (test_batch_sorted_keeps_meaning, s_setup, s_teardown),
    cmocka_unit_test_setup_teardown (test_iterate_prefix_and_start, s_setup, s_teardown),
    cmocka_unit_test_setup_teardown (test_be64_order, s_setup, s_teardown),
    cmocka_unit_test_setup_teardown (test_reopen_keeps_data, s_setup, s_teardown),
    cmocka_unit_test_setup_teardown (test_open_errors, s_setup, s_teardown),
    cmocka_unit_test_setup_teardown (test_counters_persist_and_adopt, s_setup, s_teardown),
    cmocka_unit_test_setup_teardown (test_quarantine_put_and_list, s_setup, s_teardown))
