/*
 * test_arena.c -- the region allocator (common/arena.c): a reset arena
 * reuses its blocks, hands out zeroed memory again, keeps its limit, and
 * does not hold more than it promises.
 */
#include "unit_test.h"

#include <malloc.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"

#define BLOCK (64 * 1024)

/* The memory of one round is the memory of the next: the first allocation
 * after a reset lands where the first one before it did, zeroed. */
static void
test_reset_reuses_blocks (void **state)
{
    (void) state;
    hg_arena_t *a = hg_arena_new (0);
    unsigned char *first = hg_arena_alloc (a, 100);
    assert_non_null (first);
    /* three more blocks' worth, dirtied */
    for (int i = 0; i < 3 * BLOCK / 1000; i++) {
        unsigned char *p = hg_arena_alloc (a, 1000);
        assert_non_null (p);
        memset (p, 0xab, 1000);
    }
    memset (first, 0xcd, 100);
    hg_arena_reset (a);
    assert_int_equal (hg_arena_used (a), 0);
    /* the blocks come back (newest spare first), zeroed for the caller */
    unsigned char *seen[8];
    int n = 0;
    bool found_first = false;
    for (int round = 0; round < 4; round++) {
        unsigned char *p = hg_arena_alloc (a, BLOCK - 16);
        assert_non_null (p);
        for (size_t i = 0; i < BLOCK - 16; i += 997) {
            assert_int_equal (p[i], 0);
        }
        found_first |= p == first;
        seen[n++] = p;
    }
    assert_true (found_first);
    for (int i = 0; i < n; i++) {
        for (int j = i + 1; j < n; j++) {
            assert_ptr_not_equal (seen[i], seen[j]);
        }
    }
    hg_arena_destroy (&a);
    assert_null (a);
}

/* The limit counts blocks in use, spares or not: a reset arena may grow
 * again to its limit, and no further. */
static void
test_limit_after_reset (void **state)
{
    (void) state;
    hg_arena_t *a = hg_arena_new (2 * BLOCK);
    assert_non_null (hg_arena_alloc (a, BLOCK - 16));
    assert_non_null (hg_arena_alloc (a, BLOCK - 16));
    assert_null (hg_arena_alloc (a, 100));
    for (int round = 0; round < 3; round++) {
        hg_arena_reset (a);
        assert_non_null (hg_arena_alloc (a, BLOCK - 16));
        assert_non_null (hg_arena_alloc (a, BLOCK - 16));
        assert_null (hg_arena_alloc (a, 100));
    }
    /* an oversized allocation is its own block, and is not kept */
    hg_arena_reset (a);
    assert_non_null (hg_arena_alloc (a, BLOCK + 1000));
    assert_null (hg_arena_alloc (a, BLOCK));
    hg_arena_reset (a);
    char *s = hg_arena_strdup (a, "after");
    assert_string_equal (s, "after");
    hg_arena_destroy (&a);
}

/* A huge round does not stay allocated: resetting keeps about 8 MiB of
 * blocks for reuse and gives the rest back to malloc. */
static void
test_reset_keeps_bounded (void **state)
{
    (void) state;
#ifdef __SANITIZE_ADDRESS__
    skip (); /* ASan's allocator replaces malloc: mallinfo2 does not count it */
#endif
    hg_arena_t *a = hg_arena_new (0);
    size_t m0 = mallinfo2 ().uordblks;
    for (int i = 0; i < 20 * 16; i++) { /* 20 MiB of standard blocks */
        assert_non_null (hg_arena_alloc (a, BLOCK - 16));
    }
    size_t m1 = mallinfo2 ().uordblks;
    assert_true (m1 - m0 >= (size_t) 20 << 20);
    hg_arena_reset (a);
    size_t m2 = mallinfo2 ().uordblks;
    assert_true (m2 - m0 <= (size_t) 9 << 20);
    assert_true (m2 - m0 >= (size_t) 7 << 20);
    /* reusing the kept blocks costs malloc nothing */
    for (int i = 0; i < 100; i++) {
        assert_non_null (hg_arena_alloc (a, BLOCK - 16));
    }
    assert_int_equal (mallinfo2 ().uordblks, m2);
    hg_arena_destroy (&a);
    assert_true (mallinfo2 ().uordblks <= m0);
}

HG_TEST_MAIN (cmocka_unit_test (test_reset_reuses_blocks),
              cmocka_unit_test (test_limit_after_reset),
              cmocka_unit_test (test_reset_keeps_bounded))
