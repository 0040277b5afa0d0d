/*
 * test_admission.c -- the collector's verdict on a push (admission.c):
 * every verdict, its answer status, reason, counter and message id.
 */
#include "unit_test.h"

#include <string.h>

#include "admission.h"

static const hg_admission_policy_t OPEN = {.authenticated = false, .max_payload_bytes = 100};
static const hg_admission_policy_t CURVE = {.authenticated = true, .max_payload_bytes = 100};

static hg_admission_request_t
s_req (const char *partner, const char *batch_id, size_t payload_len)
{
    return (hg_admission_request_t) {.decoded = true,
                                     .request_bytes = payload_len + 20,
                                     .partner = partner,
                                     .batch_id = batch_id,
                                     .payload_len = payload_len};
}

static void
s_assert_counter (const hg_admission_t *a, const char *counter)
{
    if (!counter) {
        assert_null (a->counter);
    }
    else {
        assert_non_null (a->counter);
        assert_string_equal (a->counter, counter);
    }
}

static void
test_accept (void **state)
{
    (void) state;
    hg_admission_request_t r = s_req ("lab-a", "b1", 100);
    hg_admission_t a;
    assert_int_equal (hg_admission_check_request (&OPEN, &r, &a), HG_ADMIT_ACCEPT);
    assert_string_equal (a.message_id, "lab-a/b1");
    assert_string_equal (a.partner, "lab-a");
    assert_int_equal (hg_admission_check_capacity (&a, false, 0, 1), HG_ADMIT_ACCEPT);
    assert_int_equal (a.status, HOURGLASS__PUSH_REPLY__STATUS__ACCEPTED);
    assert_string_equal (a.reason, "");
    s_assert_counter (&a, NULL);

    /* authenticated: the key's name is the partner, claimed or not */
    r = s_req ("", "b2", 1);
    r.authenticated_as = "lab-k";
    assert_int_equal (hg_admission_check_request (&CURVE, &r, &a), HG_ADMIT_ACCEPT);
    assert_string_equal (a.partner, "lab-k");
    assert_string_equal (a.message_id, "lab-k/b2");
    r.partner = "lab-k";
    assert_int_equal (hg_admission_check_request (&CURVE, &r, &a), HG_ADMIT_ACCEPT);
    /* without authentication the identity is ignored */
    r.partner = "lab-a";
    assert_int_equal (hg_admission_check_request (&OPEN, &r, &a), HG_ADMIT_ACCEPT);
    assert_string_equal (a.partner, "lab-a");
}

static void
test_identity (void **state)
{
    (void) state;
    hg_admission_request_t r = s_req ("lab-a", "b1", 1);
    hg_admission_t a;
    assert_int_equal (hg_admission_check_request (&CURVE, &r, &a), HG_ADMIT_NOT_AUTHENTICATED);
    assert_int_equal (a.status, HOURGLASS__PUSH_REPLY__STATUS__REJECTED);
    assert_string_equal (a.reason, "not authenticated");
    assert_string_equal (a.message_id, "");
    s_assert_counter (&a, NULL);
    r.authenticated_as = "";
    assert_int_equal (hg_admission_check_request (&CURVE, &r, &a), HG_ADMIT_NOT_AUTHENTICATED);

    r.authenticated_as = "lab-k";
    assert_int_equal (hg_admission_check_request (&CURVE, &r, &a), HG_ADMIT_PARTNER_MISMATCH);
    assert_int_equal (a.status, HOURGLASS__PUSH_REPLY__STATUS__REJECTED);
    assert_string_equal (a.message_id, "lab-a/b1");
    assert_string_equal (a.reason, "your key authenticates you as partner 'lab-k', not 'lab-a'");
    s_assert_counter (&a, "rejected");
    /* a later step does not overturn a rejection */
    assert_int_equal (hg_admission_check_capacity (&a, false, 0, 1), HG_ADMIT_PARTNER_MISMATCH);

    hg_admission_request_t bad = {.decoded = false, .request_bytes = 7};
    assert_int_equal (hg_admission_check_request (&CURVE, &bad, &a), HG_ADMIT_UNDECODABLE);
    assert_int_equal (hg_admission_check_request (&OPEN, &bad, &a), HG_ADMIT_UNDECODABLE);
    assert_int_equal (a.status, HOURGLASS__PUSH_REPLY__STATUS__REJECTED);
    assert_string_equal (a.reason, "undecodable PushRequest (7 bytes)");
    assert_string_equal (a.message_id, "");
    s_assert_counter (&a, NULL);
}

static void
test_names_and_size (void **state)
{
    (void) state;
    char long_partner[130], long_batch[258];
    memset (long_partner, 'p', 129);
    long_partner[129] = '\0';
    memset (long_batch, 'b', 257);
    long_batch[257] = '\0';
    const char *bad[][2] = {
        {"", "b1"}, {"lab-a", ""}, {"lab/a", "b1"}, {long_partner, "b1"}, {"lab-a", long_batch},
    };
    hg_admission_t a;
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++) {
        hg_admission_request_t r = s_req (bad[i][0], bad[i][1], 1);
        assert_int_equal (hg_admission_check_request (&OPEN, &r, &a), HG_ADMIT_BAD_NAMES);
        assert_int_equal (a.status, HOURGLASS__PUSH_REPLY__STATUS__REJECTED);
        assert_string_equal (a.reason, "partner (1-128 chars, no '/') and batch_id (1-256 "
                                       "chars) are required");
        s_assert_counter (&a, NULL);
    }
    /* the limits themselves are fine */
    long_partner[128] = '\0';
    long_batch[256] = '\0';
    hg_admission_request_t r = s_req (long_partner, long_batch, 1);
    assert_int_equal (hg_admission_check_request (&OPEN, &r, &a), HG_ADMIT_ACCEPT);

    r = s_req ("lab-a", "b1", 101);
    assert_int_equal (hg_admission_check_request (&OPEN, &r, &a), HG_ADMIT_TOO_LARGE);
    assert_int_equal (a.status, HOURGLASS__PUSH_REPLY__STATUS__REJECTED);
    assert_string_equal (a.reason,
                         "payload of 101 bytes exceeds max_payload_bytes 100; split the batch");
    assert_string_equal (a.message_id, "lab-a/b1");
    s_assert_counter (&a, "rejected");
}

static void
test_capacity (void **state)
{
    (void) state;
    hg_admission_request_t r = s_req ("lab-a", "b1", 1);
    hg_admission_t a;
    hg_admission_check_request (&OPEN, &r, &a);
    /* a duplicate wins over quota and room: it costs nothing */
    assert_int_equal (hg_admission_check_capacity (&a, true, 500, 0), HG_ADMIT_DUPLICATE);
    assert_int_equal (a.status, HOURGLASS__PUSH_REPLY__STATUS__DUPLICATE);
    assert_string_equal (a.reason, "");
    s_assert_counter (&a, "duplicates");

    hg_admission_check_request (&OPEN, &r, &a);
    assert_int_equal (hg_admission_check_capacity (&a, false, 250, 0), HG_ADMIT_OVER_QUOTA);
    assert_int_equal (a.status, HOURGLASS__PUSH_REPLY__STATUS__BUSY);
    assert_int_equal (a.retry_after_ms, 250);
    assert_string_equal (a.reason, "partner lab-a is over its quota; retry in 250 ms");
    s_assert_counter (&a, "over_quota");

    hg_admission_check_request (&OPEN, &r, &a);
    assert_int_equal (hg_admission_check_capacity (&a, false, 0, 0), HG_ADMIT_SATURATED);
    assert_int_equal (a.status, HOURGLASS__PUSH_REPLY__STATUS__BUSY);
    assert_int_equal (a.retry_after_ms, HG_ADMISSION_SATURATED_RETRY_MS);
    assert_string_equal (a.reason, "pipeline is saturated; retry later");
    s_assert_counter (&a, "busy");
}

HG_TEST_MAIN (cmocka_unit_test (test_accept), cmocka_unit_test (test_identity),
              cmocka_unit_test (test_names_and_size), cmocka_unit_test (test_capacity))
