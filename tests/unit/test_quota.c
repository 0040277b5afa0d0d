/*
 * test_quota.c -- token buckets per partner: bursts, refill at the rate,
 * the exact wait until the next token, independence of partners, unlimited.
 */
#include "unit_test.h"

#include "quota.h"

static void
test_bucket (void **state)
{
    (void) state;
    hg_quota_t *q = hg_quota_new (2.0, 3.0); /* 2 per second, bursts of 3 */
    uint64_t t = 1000000;
    for (int i = 0; i < 3; i++) {
        assert_int_equal (hg_quota_take (q, "a", t), 0);
    }
    assert_int_equal (hg_quota_take (q, "a", t), 500);       /* one token takes 500 ms */
    assert_int_equal (hg_quota_take (q, "a", t + 250), 250); /* half a token there */
    assert_int_equal (hg_quota_take (q, "a", t + 500), 0);
    assert_int_equal (hg_quota_take (q, "b", t + 500), 0); /* partners are independent */
    /* a long pause refills only up to the burst */
    uint64_t later = t + 60000;
    for (int i = 0; i < 3; i++) {
        assert_int_equal (hg_quota_take (q, "a", later), 0);
    }
    assert_true (hg_quota_take (q, "a", later) > 0);
    hg_quota_destroy (&q);
    assert_null (q);
}

static void
test_unlimited (void **state)
{
    (void) state;
    hg_quota_t *q = hg_quota_new (0, 0);
    for (int i = 0; i < 10000; i++) {
        assert_int_equal (hg_quota_take (q, "a", 5), 0);
    }
    hg_quota_destroy (&q);
}

HG_TEST_MAIN (cmocka_unit_test (test_bucket), cmocka_unit_test (test_unlimited))
