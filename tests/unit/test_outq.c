/*
 * test_outq.c -- the hand-off protocol's upstream state machine (common/outq.c):
 * credit, acks, requeue on HELLO / expiry / drop, shard routing, sessions,
 * and a 100k-entry run through the seq map.
 */
#include "unit_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outq.h"

/* HELLO from a worker whose routing id and instance name are the string rid. */
static int
s_hello (hg_outq_t *q, const char *rid, const char *instance, int shard, uint64_t session,
         uint32_t ready, uint64_t now)
{
    return hg_outq_hello (q, rid, strlen (rid), instance, shard, session, ready, now);
}

static void
s_push_range (hg_outq_t *q, uint64_t from, uint64_t to, int shard)
{
    for (uint64_t s = from; s <= to; s++) {
        assert_int_equal (hg_outq_push (q, s, shard), 0);
    }
}

/* Asserts that take(max) yields exactly the n seqs in expect. */
static void
s_take_expect (hg_outq_t *q, int w, size_t max, const uint64_t *expect, size_t n)
{
    uint64_t got[1024];
    assert_true (max <= 1024);
    size_t k = hg_outq_take (q, w, got, max);
    assert_int_equal (k, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal (got[i], expect[i]);
    }
}

static void
test_credit_and_frame_max (void **state)
{
    (void) state;
    hg_outq_t *q = hg_outq_new ();
    s_push_range (q, 1, 10, -1);
    assert_int_equal (hg_outq_depth (q), 10);
    assert_int_equal (hg_outq_pending (q), 10);

    int w = s_hello (q, "w1", "idx-0", -1, 1, 3, 1000);
    assert_true (w >= 0);
    /* ready 3, nothing sent: credit 3 even though max is 10 */
    s_take_expect (q, w, 10, (uint64_t[]) {1, 2, 3}, 3);
    s_take_expect (q, w, 10, NULL, 0);
    assert_int_equal (hg_outq_pending (q), 7);
    assert_int_equal (hg_outq_depth (q), 10);

    /* received 2 of 3, ready 3: outstanding 1, credit 2 */
    uint64_t out[4];
    assert_int_equal (hg_outq_ready (q, w, 1, 2, 3, NULL, 0, out, 1001), 0);
    s_take_expect (q, w, 10, (uint64_t[]) {4, 5}, 2);
    s_take_expect (q, w, 10, NULL, 0);

    /* everything received, ready 3: credit 3 but frame max 2 */
    assert_int_equal (hg_outq_ready (q, w, 1, 5, 3, NULL, 0, out, 1002), 0);
    s_take_expect (q, w, 2, (uint64_t[]) {6, 7}, 2);
    s_take_expect (q, w, 2, (uint64_t[]) {8}, 1);
    s_take_expect (q, w, 2, NULL, 0);

    /* a reordered, older READY (received 2) must not inflate credit:
     * sent 8 - received 2 = 6 outstanding > ready 3 */
    assert_int_equal (hg_outq_ready (q, w, 1, 2, 3, NULL, 0, out, 1003), 0);
    s_take_expect (q, w, 10, NULL, 0);

    /* ready 0 gives nothing even when all is received */
    assert_int_equal (hg_outq_ready (q, w, 1, 8, 0, NULL, 0, out, 1004), 0);
    s_take_expect (q, w, 10, NULL, 0);
    assert_int_equal (hg_outq_ready (q, w, 1, 8, 100, NULL, 0, out, 1005), 0);
    s_take_expect (q, w, 10, (uint64_t[]) {9, 10}, 2);

    hg_outq_stats_t st = hg_outq_stats (q);
    assert_int_equal (st.delivered, 10);
    assert_int_equal (st.acked, 0);
    assert_int_equal (st.redelivered, 0);
    assert_int_equal (st.workers, 1);
    assert_int_equal (hg_outq_pending (q), 0);
    assert_int_equal (hg_outq_depth (q), 10);
    hg_outq_destroy (&q);
    assert_null (q);
    hg_outq_destroy (&q); /* NULL-safe */
}

static void
test_acks_exactly_once (void **state)
{
    (void) state;
    hg_outq_t *q = hg_outq_new ();
    s_push_range (q, 1, 6, -1);
    int w = s_hello (q, "w1", "idx-0", -1, 1, 4, 0);
    s_take_expect (q, w, 10, (uint64_t[]) {1, 2, 3, 4}, 4);

    /* acks of in-flight 2 and 3, pending 6 (never sent: an upstream restart
     * reloaded it while the worker had committed it), unknown 99 */
    uint64_t acks[] = {2, 3, 6, 99};
    uint64_t out[4] = {0};
    size_t n = hg_outq_ready (q, w, 1, 4, 4, acks, 4, out, 10);
    assert_int_equal (n, 3);
    assert_int_equal (out[0], 2);
    assert_int_equal (out[1], 3);
    assert_int_equal (out[2], 6);
    assert_int_equal (hg_outq_depth (q), 3); /* 1, 4 in flight; 5 pending */
    assert_int_equal (hg_outq_pending (q), 1);
    assert_int_equal (hg_outq_stats (q).acked, 3);

    /* the same acks again (a duplicated READY): nothing to delete twice */
    memset (out, 0, sizeof (out));
    assert_int_equal (hg_outq_ready (q, w, 1, 4, 4, acks, 4, out, 11), 0);
    assert_int_equal (out[0], 0);
    assert_int_equal (hg_outq_stats (q).acked, 3);

    /* credit: received 4, ready 4, sent 4 -> 4; only 5 is left (6's hint is
     * stale and skipped) */
    s_take_expect (q, w, 10, (uint64_t[]) {5}, 1);
    assert_int_equal (hg_outq_pending (q), 0);

    /* a worker that dies requeues only what it still holds: 1, 4, 5 */
    assert_int_equal (hg_outq_drop (q, w), 3);
    assert_int_equal (hg_outq_pending (q), 3);
    assert_int_equal (hg_outq_stats (q).redelivered, 3);
    int w2 = s_hello (q, "w2", "idx-1", -1, 1, 10, 20);
    s_take_expect (q, w2, 10, (uint64_t[]) {1, 4, 5}, 3);

    uint64_t rest[] = {1, 4, 5};
    assert_int_equal (hg_outq_ready (q, w2, 1, 3, 10, rest, 3, out, 21), 3);
    assert_int_equal (hg_outq_depth (q), 0);
    assert_int_equal (hg_outq_pending (q), 0);
    assert_int_equal (hg_outq_stats (q).acked, 6);

    /* acks from an unknown worker slot (-1: upstream forgot it) still apply */
    assert_int_equal (hg_outq_push (q, 7, -1), 0);
    uint64_t a7 = 7;
    assert_int_equal (hg_outq_ready (q, -1, 9, 0, 0, &a7, 1, out, 22), 1);
    assert_int_equal (out[0], 7);
    assert_int_equal (hg_outq_depth (q), 0);
    assert_int_equal (hg_outq_pending (q), 0);
    hg_outq_destroy (&q);
}

static void
test_push_errors (void **state)
{
    (void) state;
    hg_outq_t *q = hg_outq_new ();
    assert_int_equal (hg_outq_push (q, 1, -1), 0);
    assert_int_equal (hg_outq_push (q, 1, -1), -1); /* known seq */
    assert_int_equal (hg_outq_push (q, 1, 3), -1);  /* known, other shard */
    assert_int_equal (hg_outq_push (q, 2, -2), -1);
    assert_int_equal (hg_outq_push (q, 2, HG_OUTQ_MAX_SHARDS), -1);
    assert_int_equal (hg_outq_push (q, 2, HG_OUTQ_MAX_SHARDS - 1), 0);
    assert_int_equal (hg_outq_depth (q), 2);
    assert_int_equal (hg_outq_pending (q), 2);

    assert_int_equal (s_hello (q, "w", "i", -2, 1, 1, 0), -1);
    assert_int_equal (s_hello (q, "w", "i", HG_OUTQ_MAX_SHARDS, 1, 1, 0), -1);
    char big[HG_OUTQ_ID_MAX + 1];
    memset (big, 'x', sizeof (big));
    assert_int_equal (hg_outq_hello (q, big, sizeof (big), "i", -1, 1, 1, 0), -1);
    assert_int_equal (hg_outq_hello (q, big, HG_OUTQ_ID_MAX, "i", -1, 1, 1, 0) >= 0, 1);
    assert_int_equal (hg_outq_find (q, big, HG_OUTQ_ID_MAX) >= 0, 1);
    assert_int_equal (hg_outq_find (q, "nobody", 6), -1);
    assert_int_equal (hg_outq_stats (q).workers, 1);
    hg_outq_destroy (&q);
}

static void
test_hello_same_rid_requeues_in_order (void **state)
{
    (void) state;
    hg_outq_t *q = hg_outq_new ();
    s_push_range (q, 1, 6, -1);
    int w = s_hello (q, "w1", "idx-0", -1, 1, 4, 0);
    s_take_expect (q, w, 10, (uint64_t[]) {1, 2, 3, 4}, 4);
    uint64_t a = 2, out[1];
    assert_int_equal (hg_outq_ready (q, w, 1, 4, 4, &a, 1, out, 1), 1);

    /* the same socket says HELLO again (new session): 1, 3, 4 come back at
     * the front, lowest first, ahead of 5 and 6 */
    int w_again = s_hello (q, "w1", "idx-0", -1, 2, 10, 2);
    assert_int_equal (w_again, w);
    assert_int_equal (hg_outq_worker_session (q, w), 2);
    hg_outq_stats_t st = hg_outq_stats (q);
    assert_int_equal (st.redelivered, 3);
    assert_int_equal (st.workers, 1);
    assert_int_equal (hg_outq_pending (q), 5);
    /* the new session starts with sent = 0: credit is the new ready */
    s_take_expect (q, w, 10, (uint64_t[]) {1, 3, 4, 5, 6}, 5);
    hg_outq_destroy (&q);
}

static void
test_hello_same_instance_kills_old (void **state)
{
    (void) state;
    hg_outq_t *q = hg_outq_new ();
    s_push_range (q, 1, 8, -1);
    int a = s_hello (q, "rid-a", "idx-0", -1, 1, 3, 0);
    int b = s_hello (q, "rid-b", "idx-1", -1, 1, 2, 0);
    assert_true (a >= 0 && b >= 0 && a != b);
    s_take_expect (q, a, 10, (uint64_t[]) {1, 2, 3}, 3);
    s_take_expect (q, b, 10, (uint64_t[]) {4, 5}, 2);
    assert_int_equal (hg_outq_stats (q).workers, 2);

    /* idx-0 restarted: new routing id, same instance name */
    int a2 = s_hello (q, "rid-a2", "idx-0", -1, 1, 10, 5);
    assert_true (a2 >= 0);
    assert_int_equal (hg_outq_find (q, "rid-a", 5), -1);
    assert_int_equal (hg_outq_find (q, "rid-a2", 6), a2);
    assert_int_equal (hg_outq_find (q, "rid-b", 5), b);
    hg_outq_stats_t st = hg_outq_stats (q);
    assert_int_equal (st.workers, 2);
    assert_int_equal (st.redelivered, 3);
    /* b keeps its entries; a's come back first */
    s_take_expect (q, a2, 10, (uint64_t[]) {1, 2, 3, 6, 7, 8}, 6);

    int slots[8];
    assert_int_equal (hg_outq_workers (q, slots, 8), 2);
    size_t rl = 0;
    const void *rid = hg_outq_worker_rid (q, a2, &rl);
    assert_int_equal (rl, 6);
    assert_memory_equal (rid, "rid-a2", 6);

    /* an empty instance name never matches another worker */
    int c = s_hello (q, "rid-c", "", -1, 1, 1, 6);
    int d = s_hello (q, "rid-d", "", -1, 1, 1, 6);
    assert_true (c >= 0 && d >= 0 && c != d);
    assert_int_equal (hg_outq_stats (q).workers, 4);
    hg_outq_destroy (&q);
}

static void
test_expire_and_drop (void **state)
{
    (void) state;
    hg_outq_t *q = hg_outq_new ();
    s_push_range (q, 1, 5, -1);
    int a = s_hello (q, "a", "a", -1, 1, 2, 1000);
    int b = s_hello (q, "b", "b", -1, 1, 2, 1000);
    s_take_expect (q, a, 10, (uint64_t[]) {1, 2}, 2);
    s_take_expect (q, b, 10, (uint64_t[]) {3, 4}, 2);
    uint64_t out[1];
    assert_int_equal (hg_outq_ready (q, b, 1, 0, 2, NULL, 0, out, 1400), 0);

    /* exactly at the timeout nobody is dead */
    assert_int_equal (hg_outq_expire (q, 1500, 500), 0);
    assert_int_equal (hg_outq_stats (q).workers, 2);
    /* a has been silent for 501 ms, b for 101 */
    assert_int_equal (hg_outq_expire (q, 1501, 500), 2);
    assert_int_equal (hg_outq_find (q, "a", 1), -1);
    assert_int_equal (hg_outq_find (q, "b", 1), b);
    hg_outq_stats_t st = hg_outq_stats (q);
    assert_int_equal (st.workers, 1);
    assert_int_equal (st.redelivered, 2);
    assert_int_equal (hg_outq_pending (q), 3); /* 1, 2, 5 */
    assert_int_equal (hg_outq_depth (q), 5);

    /* a READY from the dead worker's slot changes nothing but acks */
    uint64_t ack1 = 1;
    assert_int_equal (hg_outq_ready (q, a, 1, 2, 100, &ack1, 1, out, 1502), 1);
    assert_int_equal (hg_outq_pending (q), 2);
    s_take_expect (q, a, 10, NULL, 0);

    assert_int_equal (hg_outq_ready (q, b, 1, 2, 5, NULL, 0, out, 1502), 0);
    s_take_expect (q, b, 10, (uint64_t[]) {2, 5}, 2);

    /* drop: returns what b held, then b is gone */
    assert_int_equal (hg_outq_drop (q, b), 4);
    assert_int_equal (hg_outq_drop (q, b), 0);
    assert_int_equal (hg_outq_drop (q, -1), 0);
    assert_int_equal (hg_outq_drop (q, 100000), 0);
    st = hg_outq_stats (q);
    assert_int_equal (st.workers, 0);
    assert_int_equal (st.redelivered, 6);
    assert_int_equal (hg_outq_pending (q), 4);
    assert_int_equal (hg_outq_expire (q, 100000, 1), 0);

    int c = s_hello (q, "c", "c", -1, 1, 10, 2000);
    s_take_expect (q, c, 10, (uint64_t[]) {2, 3, 4, 5}, 4);
    hg_outq_destroy (&q);
}

static void
test_shard_routing (void **state)
{
    (void) state;
    hg_outq_t *q = hg_outq_new ();
    assert_int_equal (hg_outq_push (q, 1, 0), 0);
    assert_int_equal (hg_outq_push (q, 2, 1), 0);
    assert_int_equal (hg_outq_push (q, 3, -1), 0);
    assert_int_equal (hg_outq_push (q, 4, 1), 0);
    assert_int_equal (hg_outq_push (q, 5, 0), 0);
    assert_int_equal (hg_outq_push (q, 6, 63), 0);

    int s0 = s_hello (q, "s0", "s0", 0, 1, 100, 0);
    int s1 = s_hello (q, "s1", "s1", 1, 1, 100, 0);
    int any = s_hello (q, "any", "any", -1, 1, 100, 0);
    int s2 = s_hello (q, "s2", "s2", 2, 1, 100, 0);
    s_take_expect (q, s2, 10, NULL, 0);
    s_take_expect (q, any, 10, (uint64_t[]) {3}, 1);
    s_take_expect (q, s1, 10, (uint64_t[]) {2, 4}, 2);
    s_take_expect (q, s0, 10, (uint64_t[]) {1, 5}, 2);
    assert_int_equal (hg_outq_pending (q), 1);

    /* a shard-1 worker's entries go back to shard 1 only */
    assert_int_equal (hg_outq_drop (q, s1), 2);
    s_take_expect (q, any, 10, NULL, 0);
    s_take_expect (q, s0, 10, NULL, 0);
    int s1b = s_hello (q, "s1b", "s1b", 1, 1, 100, 0);
    s_take_expect (q, s1b, 10, (uint64_t[]) {2, 4}, 2);
    int s63 = s_hello (q, "s63", "s63", 63, 1, 100, 0);
    s_take_expect (q, s63, 10, (uint64_t[]) {6}, 1);
    hg_outq_destroy (&q);
}

static void
test_ready_old_session_only_acks (void **state)
{
    (void) state;
    hg_outq_t *q = hg_outq_new ();
    s_push_range (q, 1, 6, -1);
    int w = s_hello (q, "w", "w", -1, 1, 2, 0);
    s_take_expect (q, w, 10, (uint64_t[]) {1, 2}, 2);
    assert_int_equal (s_hello (q, "w", "w", -1, 2, 2, 1), w);
    s_take_expect (q, w, 10, (uint64_t[]) {1, 2}, 2);

    /* late READY of session 1: acks 1, claims huge credit -> ignored */
    uint64_t a = 1, out[1] = {0};
    assert_int_equal (hg_outq_ready (q, w, 1, 0, 1000, &a, 1, out, 2), 1);
    assert_int_equal (out[0], 1);
    s_take_expect (q, w, 10, NULL, 0);
    assert_int_equal (hg_outq_depth (q), 5);

    /* session 2's READY counts */
    assert_int_equal (hg_outq_ready (q, w, 2, 2, 3, NULL, 0, out, 3), 0);
    s_take_expect (q, w, 10, (uint64_t[]) {3, 4, 5}, 3);

    /* a READY of an old session still refreshes liveness */
    assert_int_equal (hg_outq_ready (q, w, 1, 0, 0, NULL, 0, out, 900), 0);
    assert_int_equal (hg_outq_expire (q, 1000, 500), 0);
    assert_int_equal (hg_outq_expire (q, 1401, 500), 4); /* 2, 3, 4, 5 */
    hg_outq_destroy (&q);
}

static void
test_worker_table_full (void **state)
{
    (void) state;
    hg_outq_t *q = hg_outq_new ();
    char rid[16];
    int n_ok = 0;
    for (int i = 0; i < 300; i++) {
        snprintf (rid, sizeof (rid), "r%d", i);
        if (s_hello (q, rid, rid, -1, 1, 1, 0) >= 0) {
            n_ok++;
        }
    }
    assert_int_equal (n_ok, 256);
    assert_int_equal (hg_outq_stats (q).workers, 256);
    int slots[300];
    assert_int_equal (hg_outq_workers (q, slots, 300), 256);
    assert_int_equal (hg_outq_workers (q, slots, 10), 10);
    /* a freed slot is reused */
    assert_int_equal (hg_outq_drop (q, slots[3]), 0);
    assert_int_equal (s_hello (q, "late", "late", -1, 1, 1, 0), slots[3]);
    hg_outq_destroy (&q);
}

static void
test_100k_entries (void **state)
{
    (void) state;
    enum { N = 100000 };
    hg_outq_t *q = hg_outq_new ();
    /* non-contiguous seqs to exercise probing */
    for (uint64_t i = 0; i < N; i++) {
        assert_int_equal (hg_outq_push (q, i * 7919 + 3, -1), 0);
    }
    assert_int_equal (hg_outq_depth (q), N);
    assert_int_equal (hg_outq_push (q, 3, -1), -1);

    /* ack every third entry while still pending */
    uint64_t *acks = malloc (N * sizeof (*acks));
    uint64_t *out = malloc (N * sizeof (*out));
    size_t na = 0;
    for (uint64_t i = 0; i < N; i += 3) {
        acks[na++] = i * 7919 + 3;
    }
    assert_int_equal (hg_outq_ready (q, -1, 0, 0, 0, acks, na, out, 0), na);
    assert_int_equal (hg_outq_depth (q), N - na);
    assert_int_equal (hg_outq_pending (q), N - na);

    int w = s_hello (q, "w", "w", -1, 1, UINT32_MAX, 0);
    uint64_t seqs[512];
    uint64_t expect_i = 1, received = 0;
    size_t taken = 0;
    for (;;) {
        size_t n = hg_outq_take (q, w, seqs, 512);
        if (n == 0) {
            break;
        }
        for (size_t k = 0; k < n; k++) {
            if (expect_i % 3 == 0) {
                expect_i++;
            }
            assert_int_equal (seqs[k], expect_i * 7919 + 3);
            expect_i++;
        }
        taken += n;
        received += n;
        /* ack this frame */
        assert_int_equal (hg_outq_ready (q, w, 1, received, UINT32_MAX, seqs, n, out, 1), n);
    }
    assert_int_equal (taken, N - na);
    assert_int_equal (hg_outq_depth (q), 0);
    assert_int_equal (hg_outq_pending (q), 0);
    hg_outq_stats_t st = hg_outq_stats (q);
    assert_int_equal (st.acked, N);
    assert_int_equal (st.delivered, N - na);

    /* the map still works after the mass deletion */
    assert_int_equal (hg_outq_push (q, 3, -1), 0);
    s_take_expect (q, w, 10, (uint64_t[]) {3}, 1);
    free (acks);
    free (out);
    hg_outq_destroy (&q);
}

/* Byte credit (issue 12 point 11): entries go out while their bytes fit
 * ready_bytes - (sent_bytes - received_bytes), in order, and one entry larger
 * than the whole budget goes alone once the worker holds nothing of ours. */
static void
test_byte_credit (void **state)
{
    (void) state;
    hg_outq_t *q = hg_outq_new ();
    uint64_t sizes[] = {0, 10, 20, 30, 100, 5, 5};
    for (uint64_t s = 1; s <= 6; s++) {
        assert_int_equal (hg_outq_push_bytes (q, s, -1, sizes[s]), 0);
    }
    uint64_t out[16];
    int w = s_hello (q, "w1", "cl-0", -1, 1, 100, 1000);
    hg_outq_credit_bytes (q, w, 1, 0, 50);
    /* 10 + 20 fit 50, 30 more would not: 3 waits, 5 and 6 do not overtake it */
    s_take_expect (q, w, 10, (uint64_t[]) {1, 2}, 2);
    s_take_expect (q, w, 10, NULL, 0);
    /* received both, holds them: ready_bytes 20, nothing in transit */
    assert_int_equal (hg_outq_ready (q, w, 1, 2, 100, NULL, 0, out, 1001), 0);
    hg_outq_credit_bytes (q, w, 1, 30, 20);
    s_take_expect (q, w, 10, NULL, 0);
    /* a READY of another session changes nothing */
    hg_outq_credit_bytes (q, w, 7, 0, 1000);
    s_take_expect (q, w, 10, NULL, 0);
    /* both committed: 50 again, 3 fits, 4 (100) does not while 3 is held */
    assert_int_equal (hg_outq_ready (q, w, 1, 2, 100, (uint64_t[]) {1, 2}, 2, out, 1002), 2);
    hg_outq_credit_bytes (q, w, 1, 30, 50);
    s_take_expect (q, w, 10, (uint64_t[]) {3}, 1);
    /* 3 committed: nothing of ours held, so 4 goes, alone, though over budget */
    assert_int_equal (hg_outq_ready (q, w, 1, 3, 100, (uint64_t[]) {3}, 1, out, 1003), 1);
    hg_outq_credit_bytes (q, w, 1, 60, 50);
    s_take_expect (q, w, 10, (uint64_t[]) {4}, 1);
    s_take_expect (q, w, 10, NULL, 0);
    /* received and held (ready_bytes 0): still nothing */
    assert_int_equal (hg_outq_ready (q, w, 1, 4, 100, NULL, 0, out, 1004), 0);
    hg_outq_credit_bytes (q, w, 1, 160, 0);
    s_take_expect (q, w, 10, NULL, 0);
    assert_int_equal (hg_outq_ready (q, w, 1, 4, 100, (uint64_t[]) {4}, 1, out, 1005), 1);
    hg_outq_credit_bytes (q, w, 1, 160, 50);
    s_take_expect (q, w, 10, (uint64_t[]) {5, 6}, 2);

    /* a new session while the worker still holds a large entry of the old one
     * (ready_bytes 0): nothing, not even one, until it has room again */
    assert_int_equal (hg_outq_push_bytes (q, 7, -1, 100), 0);
    assert_int_equal (s_hello (q, "w1", "cl-0", -1, 2, 100, 1006), w);
    hg_outq_credit_bytes (q, w, 2, 0, 0);
    s_take_expect (q, w, 10, NULL, 0);
    /* 5 and 6 were requeued by the HELLO, with their sizes, ahead of 7 */
    hg_outq_credit_bytes (q, w, 2, 0, 12);
    s_take_expect (q, w, 10, (uint64_t[]) {5, 6}, 2);
    s_take_expect (q, w, 10, NULL, 0);
    assert_int_equal (hg_outq_ready (q, w, 2, 2, 100, (uint64_t[]) {5, 6}, 2, out, 1007), 2);
    hg_outq_credit_bytes (q, w, 2, 10, 12);
    s_take_expect (q, w, 10, (uint64_t[]) {7}, 1);

    /* a draining worker (ready 0) gets nothing, however much byte credit */
    assert_int_equal (hg_outq_push_bytes (q, 8, -1, 1), 0);
    assert_int_equal (s_hello (q, "w1", "cl-0", -1, 3, 0, 1008), w);
    hg_outq_credit_bytes (q, w, 3, 0, 1000);
    s_take_expect (q, w, 10, NULL, 0);

    /* a worker that never grants byte credit (older peer): the count alone */
    int w2 = s_hello (q, "w2", "cl-1", -1, 1, 3, 1009);
    assert_true (w2 >= 0 && w2 != w);
    s_take_expect (q, w2, 10, (uint64_t[]) {7, 8}, 2); /* 7 requeued by the HELLO */
    hg_outq_destroy (&q);
}

/* The rule itself, case by case. */
static void
test_bytes_fit (void **state)
{
    (void) state;
    assert_true (hg_outq_bytes_fit (50, 0, 0, 0, 50));
    assert_true (hg_outq_bytes_fit (50, 0, 0, 0, 51));  /* holds nothing: one of any size */
    assert_false (hg_outq_bytes_fit (50, 0, 0, 1, 51)); /* holds one: must fit */
    assert_false (hg_outq_bytes_fit (0, 0, 0, 0, 1));   /* no room at all */
    assert_true (hg_outq_bytes_fit (0, 0, 0, 0, 0));
    assert_true (hg_outq_bytes_fit (50, 30, 10, 1, 30)); /* 20 in transit: 30 left */
    assert_false (hg_outq_bytes_fit (50, 30, 10, 1, 31));
    assert_true (hg_outq_bytes_fit (50, 10, 30, 1, 50)); /* a stale READY: nothing in transit */
    assert_false (hg_outq_bytes_fit (50, 90, 10, 2, 1)); /* over by the one large entry */
    assert_true (hg_outq_bytes_fit (UINT64_MAX, 0, 0, 5, UINT64_MAX));
}

HG_TEST_MAIN (cmocka_unit_test (test_credit_and_frame_max),
              cmocka_unit_test (test_acks_exactly_once), cmocka_unit_test (test_push_errors),
              cmocka_unit_test (test_hello_same_rid_requeues_in_order),
              cmocka_unit_test (test_hello_same_instance_kills_old),
              cmocka_unit_test (test_expire_and_drop), cmocka_unit_test (test_shard_routing),
              cmocka_unit_test (test_ready_old_session_only_acks),
              cmocka_unit_test (test_worker_table_full), cmocka_unit_test (test_100k_entries),
              cmocka_unit_test (test_byte_credit), cmocka_unit_test (test_bytes_fit))
