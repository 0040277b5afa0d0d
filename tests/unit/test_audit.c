/*
 * test_audit.c -- the audit trail's hash chain (services/analytics/audit.c):
 * entries sealed one after another verify intact; a changed, deleted,
 * inserted or appended entry, a changed or missing head, is found and named;
 * the suppressed count and the audit id of an answer.
 */
#include "unit_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "audit.h"

#define N 6

/* A chain of N entries as a store would hold them, in key order. */
typedef struct {
    unsigned char key[N + 1][HG_AUDIT_KEY_BYTES + 1];
    size_t klen[N + 1];
    uint8_t *val[N + 1];
    size_t vlen[N + 1];
    size_t n;
    unsigned char head[HG_AUDIT_HEAD_BYTES];
    bool has_head;
} s_chain_t;

static void
s_build (s_chain_t *c)
{
    memset (c, 0, sizeof (*c));
    hg_audit_head_t head = {0}, next;
    hg_err_t err = {0};
    for (size_t i = 0; i < N; i++) {
        Hourglass__AuditEntry e = HOURGLASS__AUDIT_ENTRY__INIT;
        char req[64];
        snprintf (req, sizeof (req), "{\"query\": %zu}", i);
        e.analyst = (char *) (i % 2 ? "alice" : "operator");
        e.role = (char *) "aggregate";
        e.via = (char *) "http";
        e.request = req;
        e.time_us = 1000 + i;
        assert_int_equal (hg_audit_seal (&head, &e, &c->val[i], &c->vlen[i], &next, &err), 0);
        assert_int_equal (e.id, i + 1);
        assert_int_equal (next.last_id, i + 1);
        head = next;
        hg_audit_key (e.id, c->key[i]);
        c->klen[i] = HG_AUDIT_KEY_BYTES;
    }
    c->n = N;
    hg_audit_head_pack (&head, c->head);
    c->has_head = true;
}

static void
s_free (s_chain_t *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free (c->val[i]);
    }
}

/* Walks c; returns intact, fills v. */
static bool
s_verify (const s_chain_t *c, hg_audit_verify_t *v)
{
    hg_audit_verify_init (v);
    for (size_t i = 0; i < c->n; i++) {
        if (!hg_audit_verify_step (v, (const char *) c->key[i], c->klen[i],
                                   (const char *) c->val[i], c->vlen[i])) {
            break;
        }
    }
    return hg_audit_verify_end (v, c->has_head ? (const char *) c->head : NULL,
                                c->has_head ? HG_AUDIT_HEAD_BYTES : 0);
}

static void
s_expect_broken (const s_chain_t *c, uint64_t bad_id, const char *words)
{
    hg_audit_verify_t v;
    assert_false (s_verify (c, &v));
    if (v.bad_id != bad_id || !strstr (v.problem, words)) {
        fail_msg ("bad_id %llu (want %llu), problem '%s' (want '%s')",
                  (unsigned long long) v.bad_id, (unsigned long long) bad_id, v.problem, words);
    }
}

static void
test_intact (void **state)
{
    (void) state;
    s_chain_t c;
    s_build (&c);
    hg_audit_verify_t v;
    assert_true (s_verify (&c, &v));
    assert_int_equal (v.entries, N);
    assert_string_equal (v.problem, "");
    /* the head is the hash of the last entry */
    unsigned char h[HG_AUDIT_HASH_BYTES];
    crypto_generichash (h, sizeof (h), c.val[N - 1], c.vlen[N - 1], NULL, 0);
    assert_memory_equal (v.prev, h, sizeof (h));
    assert_memory_equal (c.head + 8, h, sizeof (h));
    /* each entry names the hash of the one before */
    Hourglass__AuditEntry *e = hourglass__audit_entry__unpack (NULL, c.vlen[3], c.val[3]);
    crypto_generichash (h, sizeof (h), c.val[2], c.vlen[2], NULL, 0);
    assert_int_equal (e->prev.len, sizeof (h));
    assert_memory_equal (e->prev.data, h, sizeof (h));
    hourglass__audit_entry__free_unpacked (e, NULL);
    s_free (&c);

    /* nothing at all is intact too; no head with entries is not */
    memset (&c, 0, sizeof (c));
    assert_true (s_verify (&c, &v));
    assert_int_equal (v.entries, 0);
    s_build (&c);
    c.has_head = false;
    s_expect_broken (&c, N, "the audit head is missing");
    s_free (&c);
}

/* A byte of entry k changed: named as k (the next entry's link breaks);
 * the last one: the head's hash breaks. */
static void
test_changed (void **state)
{
    (void) state;
    for (size_t k = 0; k < N; k++) {
        s_chain_t c;
        s_build (&c);
        Hourglass__AuditEntry *e = hourglass__audit_entry__unpack (NULL, c.vlen[k], c.val[k]);
        e->analyst[0] = 'X'; /* same length: only the content differs */
        hourglass__audit_entry__pack (e, c.val[k]);
        hourglass__audit_entry__free_unpacked (e, NULL);
        char words[64];
        snprintf (words, sizeof (words), "entry %zu %s", k + 1,
                  k + 1 == N ? "(the last) was changed" : "was changed");
        s_expect_broken (&c, k + 1, words);
        s_free (&c);
    }
    /* bytes that no longer decode */
    s_chain_t c;
    s_build (&c);
    c.val[2][0] = 0xff;
    c.val[2][1] = 0xff;
    s_expect_broken (&c, 3, "entry 3");
    s_free (&c);
    /* the head changed */
    s_build (&c);
    c.head[20] ^= 1;
    s_expect_broken (&c, N, "(the last) was changed");
    s_free (&c);
}

static void
s_drop (s_chain_t *c, size_t k)
{
    free (c->val[k]);
    memmove (&c->key[k], &c->key[k + 1], (c->n - k - 1) * sizeof (c->key[0]));
    memmove (&c->klen[k], &c->klen[k + 1], (c->n - k - 1) * sizeof (c->klen[0]));
    memmove (&c->val[k], &c->val[k + 1], (c->n - k - 1) * sizeof (c->val[0]));
    memmove (&c->vlen[k], &c->vlen[k + 1], (c->n - k - 1) * sizeof (c->vlen[0]));
    c->n--;
}

static void
test_deleted (void **state)
{
    (void) state;
    s_chain_t c;
    s_build (&c);
    s_drop (&c, 0);
    s_expect_broken (&c, 1, "entry 1 is missing");
    s_free (&c);
    s_build (&c);
    s_drop (&c, 2);
    s_expect_broken (&c, 3, "entry 3 is missing (entry 4 follows entry 2): it was deleted");
    s_free (&c);
    s_build (&c);
    s_drop (&c, 2);
    s_drop (&c, 2);
    s_expect_broken (&c, 3, "entries 3 to 4 are missing");
    s_free (&c);
    s_build (&c);
    s_drop (&c, N - 1);
    s_expect_broken (&c, N, "is missing (the head names it as the last)");
    s_free (&c);
    /* the whole trail gone, the head kept */
    s_build (&c);
    while (c.n) {
        s_drop (&c, 0);
    }
    s_expect_broken (&c, 1, "entries from 1 are missing");
}

static void
test_inserted (void **state)
{
    (void) state;
    /* a key that is no entry's, between 3 and 4 */
    s_chain_t c;
    s_build (&c);
    memmove (&c.key[4], &c.key[3], (c.n - 3) * sizeof (c.key[0]));
    memmove (&c.klen[4], &c.klen[3], (c.n - 3) * sizeof (c.klen[0]));
    memmove (&c.val[4], &c.val[3], (c.n - 3) * sizeof (c.val[0]));
    memmove (&c.vlen[4], &c.vlen[3], (c.n - 3) * sizeof (c.vlen[0]));
    c.n++;
    hg_audit_key (3, c.key[3]);
    c.key[3][HG_AUDIT_KEY_BYTES] = 1;
    c.klen[3] = HG_AUDIT_KEY_BYTES + 1;
    c.val[3] = malloc (c.vlen[2]);
    memcpy (c.val[3], c.val[2], c.vlen[2]);
    c.vlen[3] = c.vlen[2];
    s_expect_broken (&c, 4, "sits after entry 3: an entry was inserted");
    s_free (&c);

    /* a forged entry chained properly after the last, the head as it was */
    s_build (&c);
    hg_audit_head_t head, next;
    hg_err_t err = {0};
    assert_int_equal (hg_audit_head_parse ((const char *) c.head, HG_AUDIT_HEAD_BYTES, &head,
                                           &err),
                      0);
    Hourglass__AuditEntry f = HOURGLASS__AUDIT_ENTRY__INIT;
    f.analyst = (char *) "mallory";
    assert_int_equal (hg_audit_seal (&head, &f, &c.val[N], &c.vlen[N], &next, &err), 0);
    hg_audit_key (N + 1, c.key[N]);
    c.klen[N] = HG_AUDIT_KEY_BYTES;
    c.n++;
    s_expect_broken (&c, N + 1, "comes after the last one the head names");
    /* ... and with the head moved too, a rewrite of the end is not found:
     * what the head hash kept elsewhere is for */
    hg_audit_head_pack (&next, c.head);
    hg_audit_verify_t v;
    assert_true (s_verify (&c, &v));
    s_free (&c);

    /* an entry moved to another id (renumbered) */
    s_build (&c);
    hg_audit_key (3, c.key[3]); /* entry 4's bytes under key 3 ... */
    s_drop (&c, 2);             /* ... and 3 gone */
    s_expect_broken (&c, 3, "entry 3 says it is entry 4");
    s_free (&c);
    assert_true (hg_audit_head_parse ("short", 5, &head, &err) < 0);
    assert_non_null (strstr (err.msg, "audit head"));
}

/* An anchor (a head kept elsewhere) finds a rewrite of the whole end of the
 * chain, and a trail cut short before it. */
static void
test_anchor (void **state)
{
    (void) state;
    s_chain_t c;
    s_build (&c);
    hg_audit_head_t kept;
    hg_err_t err = {0};
    assert_int_equal (hg_audit_head_parse ((const char *) c.head, HG_AUDIT_HEAD_BYTES, &kept,
                                           &err),
                      0);
    hg_audit_verify_t v;
    hg_audit_verify_init (&v);
    hg_audit_verify_anchor (&v, kept.last_id, kept.last_hash);
    for (size_t i = 0; i < c.n; i++) {
        assert_true (hg_audit_verify_step (&v, (const char *) c.key[i], c.klen[i],
                                           (const char *) c.val[i], c.vlen[i]));
    }
    assert_true (hg_audit_verify_end (&v, (const char *) c.head, HG_AUDIT_HEAD_BYTES));
    /* entry 4 changed and 4..N sealed again with a new head: intact alone */
    hg_audit_head_t head = {4 - 1, {0}}, next;
    crypto_generichash (head.last_hash, HG_AUDIT_HASH_BYTES, c.val[2], c.vlen[2], NULL, 0);
    for (size_t i = 3; i < c.n; i++) {
        Hourglass__AuditEntry *e = hourglass__audit_entry__unpack (NULL, c.vlen[i], c.val[i]);
        if (i == 3) {
            e->analyst[0] = 'X';
        }
        free (c.val[i]);
        Hourglass__AuditEntry copy = *e; /* sealed: e keeps its own prev to free */
        assert_int_equal (hg_audit_seal (&head, &copy, &c.val[i], &c.vlen[i], &next, &err), 0);
        hourglass__audit_entry__free_unpacked (e, NULL);
        head = next;
    }
    hg_audit_head_pack (&head, c.head);
    assert_true (s_verify (&c, &v));
    hg_audit_verify_init (&v);
    hg_audit_verify_anchor (&v, kept.last_id, kept.last_hash);
    bool ok = true;
    for (size_t i = 0; ok && i < c.n; i++) {
        ok = hg_audit_verify_step (&v, (const char *) c.key[i], c.klen[i],
                                   (const char *) c.val[i], c.vlen[i]);
    }
    assert_false (ok && hg_audit_verify_end (&v, (const char *) c.head, HG_AUDIT_HEAD_BYTES));
    assert_int_equal (v.bad_id, N);
    assert_non_null (strstr (v.problem, "no longer hashes to the head kept"));
    /* an anchor past the end */
    hg_audit_verify_init (&v);
    hg_audit_verify_anchor (&v, N + 3, kept.last_hash);
    assert_false (hg_audit_verify_end (&v, NULL, 0));
    assert_non_null (strstr (v.problem, "entries from 1 were deleted"));
    s_free (&c);
}

static void
test_answer_helpers (void **state)
{
    (void) state;
    assert_int_equal (hg_audit_count_suppressed ("{\"patients\": null, \"suppressed\": true, "
                                                 "\"cells\": [{\"suppressed\": true}, "
                                                 "{\"suppressed\": false}, {\"x\": "
                                                 "{\"suppressed\": true}}]}"),
                      3);
    assert_int_equal (hg_audit_count_suppressed ("{\"suppressed\": \"true\"}"), 0);
    assert_int_equal (hg_audit_count_suppressed ("not json"), 0);
    assert_int_equal (hg_audit_count_suppressed (NULL), 0);
    hg_arena_t *a = hg_arena_new (0);
    assert_string_equal (hg_audit_answer_with_id ("{\"patients\":3}", 7, a),
                         "{\"audit_id\":7,\"patients\":3}");
    assert_string_equal (hg_audit_answer_with_id (" { } ", 12, a), "{\"audit_id\":12} ");
    assert_null (hg_audit_answer_with_id ("[1]", 1, a));
    assert_null (hg_audit_answer_with_id (NULL, 1, a));
    hg_arena_destroy (&a);
}

static int
s_setup (void **state)
{
    (void) state;
    return sodium_init () < 0 ? -1 : 0;
}

HG_TEST_MAIN_GROUP (s_setup, NULL, cmocka_unit_test (test_intact),
                    cmocka_unit_test (test_changed), cmocka_unit_test (test_deleted),
                    cmocka_unit_test (test_inserted), cmocka_unit_test (test_anchor),
                    cmocka_unit_test (test_answer_helpers))
