/*
 * test_suppress.c -- analytics small-cell suppression and shard aggregation
 * (services/analytics/suppress.c), and what COUNT releases.
 */
#include "unit_test.h"

#include "suppress.h"

static void
test_count_add (void **state)
{
    (void) state;
    hg_count_t t = {0};
    hg_count_add (&t, 3, 10);
    hg_count_add (&t, 0, 0);
    hg_count_add (&t, 7, 1);
    assert_int_equal (t.patients, 10);
    assert_int_equal (t.records, 11);
    assert_false (t.suppressed);
    hg_count_add (&t, UINT64_C (1) << 40, UINT64_C (1) << 41);
    assert_int_equal (t.patients, (UINT64_C (1) << 40) + 10);
    assert_int_equal (t.records, (UINT64_C (1) << 41) + 11);
}

/* Applies suppression to {patients, records} and checks the outcome. */
static void
s_expect (uint64_t patients, uint64_t records, uint64_t min_cell, bool suppressed)
{
    hg_count_t c = {patients, records, false};
    hg_count_suppress (&c, min_cell);
    assert_int_equal (c.suppressed, suppressed);
    assert_int_equal (c.patients, suppressed ? 0 : patients);
    assert_int_equal (c.records, suppressed ? 0 : records);
}

static void
test_suppress (void **state)
{
    (void) state;
    /* min_cell 10: 1..10 patients withheld, records too */
    s_expect (0, 0, 10, false);
    s_expect (1, 1, 10, true);
    s_expect (1, 500, 10, true);
    s_expect (5, 7, 10, true);
    s_expect (10, 99, 10, true);
    s_expect (11, 99, 10, false);
    s_expect (1000, 5000, 10, false);
    /* min_cell 1: only a single patient is withheld */
    s_expect (1, 3, 1, true);
    s_expect (2, 3, 1, false);
    /* min_cell 0 disables */
    s_expect (1, 3, 0, false);
    s_expect (0, 0, 0, false);
    /* zero patients with records (cannot happen, but not a small cell) */
    s_expect (0, 4, 10, false);

    /* suppression applies to the aggregate, not to each shard */
    hg_count_t t = {0};
    hg_count_add (&t, 4, 4);
    hg_count_add (&t, 4, 8);
    hg_count_suppress (&t, 5);
    assert_false (t.suppressed);
    assert_int_equal (t.patients, 8);
    assert_int_equal (t.records, 12);

    /* a suppressed count stays suppressed when applied again */
    hg_count_t c = {3, 3, false};
    hg_count_suppress (&c, 5);
    hg_count_suppress (&c, 5);
    assert_true (c.suppressed);
    assert_int_equal (c.patients, 0);
    assert_int_equal (c.records, 0);
}

/* What COUNT releases: suppressed, or both numbers rounded; min_cell 0 exact. */
static void
test_count_disclose (void **state)
{
    (void) state;
    hg_count_t c = {7, 30, false};
    hg_count_disclose (&c, 10, 10);
    assert_true (c.suppressed);
    assert_int_equal (c.patients, 0);
    c = (hg_count_t) {17, 123, false};
    hg_count_disclose (&c, 10, 10);
    assert_false (c.suppressed);
    assert_int_equal (c.patients, 20);
    assert_int_equal (c.records, 120);
    c = (hg_count_t) {12, 12, false};
    hg_count_disclose (&c, 10, 10);
    assert_int_equal (c.patients, 10); /* 11..14 */
    c = (hg_count_t) {0, 0, false};
    hg_count_disclose (&c, 10, 10);
    assert_int_equal (c.patients, 0);
    assert_false (c.suppressed);
    c = (hg_count_t) {17, 123, false};
    hg_count_disclose (&c, 0, 10); /* the operator's exact count */
    assert_int_equal (c.patients, 17);
    assert_int_equal (c.records, 123);
    c = (hg_count_t) {17, 123, false};
    hg_count_disclose (&c, 10, 1);
    assert_int_equal (c.patients, 17);
}

HG_TEST_MAIN (cmocka_unit_test (test_count_add), cmocka_unit_test (test_suppress),
              cmocka_unit_test (test_count_disclose))
