/*
 * test_store_merge.c -- the values RocksDB merges for the indexer
 * (common/store_merge.c): sets of 16-bit numbers under random adds and
 * removes against a plain array of flags, both container forms (array and
 * bitset) and the switch between them, appends, partial merges, and
 * malformed operands refused.
 */
#include "unit_test.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "store_merge.h"

static uint32_t s_seed = 12345;

static uint32_t
s_below (uint32_t n)
{
    s_seed = s_seed * 1103515245u + 12345u;
    return (s_seed >> 8) % n;
}

/* An operand of tag with the numbers set in flags. */
static char *
s_operand (char tag, const bool *flags, size_t *len)
{
    uint64_t *bits = calloc (1024, sizeof (*bits));
    for (unsigned x = 0; x < 65536; x++) {
        if (flags[x]) {
            bits[x >> 6] |= 1ULL << (x & 63);
        }
    }
    char *op = malloc (1 + HG_SET_BITSET_BYTES);
    op[0] = tag;
    *len = 1 + hg_set_encode (bits, (unsigned char *) op + 1);
    free (bits);
    return op;
}

static bool
s_collect (void *arg, uint32_t low)
{
    bool *seen = arg;
    seen[low] = true;
    return true;
}

/* The value holds exactly the numbers of want. */
static void
s_expect (const char *v, size_t vl, const bool *want)
{
    assert_true (vl >= 1);
    assert_int_equal (v[0], 'U');
    bool *seen = calloc (65536, 1);
    assert_true (hg_set_each ((const unsigned char *) v + 1, vl - 1, s_collect, seen));
    size_t n = 0;
    for (unsigned x = 0; x < 65536; x++) {
        assert_int_equal (seen[x], want[x]);
        n += want[x];
    }
    /* the smaller form: an array below 4096 numbers, else the bitset */
    assert_int_equal (vl - 1, n > HG_SET_ARRAY_MAX ? HG_SET_BITSET_BYTES : 2 * n);
    free (seen);
}

static void
test_sets_against_flags (void **state)
{
    (void) state;
    bool *truth = calloc (65536, 1);
    char *value = NULL;
    size_t vl = 0;
    for (int round = 0; round < 40; round++) {
        /* a few operands per merge, adds and removes, sparse and dense */
        int n = 1 + (int) s_below (4);
        char *ops[4];
        size_t lens[4];
        unsigned spread = round < 20 ? 200 : 65536;
        for (int i = 0; i < n; i++) {
            bool remove = s_below (3) == 0;
            bool *flags = calloc (65536, 1);
            unsigned count = s_below (round < 10 ? 300 : 6000);
            for (unsigned k = 0; k < count; k++) {
                flags[s_below (spread)] = true;
            }
            for (unsigned x = 0; x < 65536; x++) {
                if (flags[x]) {
                    truth[x] = !remove;
                }
            }
            ops[i] = s_operand (remove ? '-' : 'U', flags, &lens[i]);
            free (flags);
        }
        size_t nl = 0;
        char *next = hg_store_merge_full (value, vl, (const char *const *) ops, lens, n, &nl);
        assert_non_null (next);
        s_expect (next, nl, truth);
        free (value);
        value = next;
        vl = nl;
        for (int i = 0; i < n; i++) {
            free (ops[i]);
        }
    }
    free (value);
    free (truth);
}

static void
test_partial_and_append (void **state)
{
    (void) state;
    bool *a = calloc (65536, 1), *b = calloc (65536, 1), *ab = calloc (65536, 1);
    a[1] = a[70] = ab[1] = ab[70] = true;
    b[70] = b[65535] = ab[65535] = true;
    size_t la, lb;
    char *ops[2] = {s_operand ('U', a, &la), s_operand ('U', b, &lb)};
    size_t lens[2] = {la, lb};
    size_t pl = 0;
    char *p = hg_store_merge_partial ((const char *const *) ops, lens, 2, &pl);
    assert_non_null (p);
    s_expect (p, pl, ab);
    free (p);
    /* a removal cannot be folded without the value */
    ops[1][0] = '-';
    assert_null (hg_store_merge_partial ((const char *const *) ops, lens, 2, &pl));
    /* with the value it can: {1, 70} then - {70, 65535} */
    char *full = hg_store_merge_full (NULL, 0, (const char *const *) ops, lens, 2, &pl);
    bool *want = calloc (65536, 1);
    want[1] = true;
    s_expect (full, pl, want);
    free (full);
    /* a malformed container (odd length) or a mixed tag is refused */
    const char *bad[1] = {"U\x01"};
    size_t bad_len[1] = {2};
    assert_null (hg_store_merge_full (NULL, 0, bad, bad_len, 1, &pl));
    const char *app[2] = {"Aabc", "Ade"};
    size_t app_len[2] = {4, 3};
    assert_null (hg_store_merge_full ("Ux", 1, app, app_len, 2, &pl));
    /* appends concatenate in order, onto the value and among themselves */
    char *cat = hg_store_merge_full ("Axy", 3, app, app_len, 2, &pl);
    assert_int_equal (pl, 8);
    assert_memory_equal (cat, "Axyabcde", 8);
    free (cat);
    cat = hg_store_merge_partial (app, app_len, 2, &pl);
    assert_int_equal (pl, 6);
    assert_memory_equal (cat, "Aabcde", 6);
    free (cat);
    free (ops[0]);
    free (ops[1]);
    free (a);
    free (b);
    free (ab);
    free (want);
}

HG_TEST_MAIN (cmocka_unit_test (test_sets_against_flags),
              cmocka_unit_test (test_partial_and_append))
