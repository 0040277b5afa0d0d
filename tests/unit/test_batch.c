/*
 * test_batch.c -- what the parse batch (services/cleanser/batch.c) does for
 * every parser: the record limit and mark/rollback. Adding records and
 * rejects is tested in test_record.c.
 */
#include "unit_test.h"

#include "batch.h"

#define S_NOTE HOURGLASS__RECORD_KIND__KIND_NOTE

static void
test_record_limit (void **state)
{
    (void) state;
    hg_batch_t *b = hg_batch_new (0);
    assert_non_null (hg_batch_add_record (b, S_NOTE));
    /* the limit counts from the records the batch holds when it is set */
    hg_batch_limit_records (b, 2);
    assert_int_equal (hg_batch_max_records (b), 2);
    assert_non_null (hg_batch_add_record (b, S_NOTE));
    assert_non_null (hg_batch_add_record (b, S_NOTE));
    assert_false (hg_batch_full (b));
    assert_null (hg_batch_add_record (b, S_NOTE));
    assert_true (hg_batch_full (b));
    assert_int_equal (hg_batch_record_count (b), 3);
    /* a rollback makes room again; full stays set: the parser stops */
    hg_batch_drop_last (b);
    assert_non_null (hg_batch_add_record (b, S_NOTE));
    assert_true (hg_batch_full (b));
    /* 0 lifts the limit */
    hg_batch_limit_records (b, 0);
    assert_false (hg_batch_full (b));
    assert_non_null (hg_batch_add_record (b, S_NOTE));
    /* and reset lifts it too */
    hg_batch_limit_records (b, 1);
    hg_batch_reset (b);
    assert_int_equal (hg_batch_max_records (b), 0);
    for (int i = 0; i < 3; i++) {
        assert_non_null (hg_batch_add_record (b, S_NOTE));
    }
    assert_false (hg_batch_full (b));
    hg_batch_destroy (&b);
}

static void
test_memory_is_not_the_limit (void **state)
{
    (void) state;
    /* an arena too small for a record: NULL, but not full */
    hg_batch_t *b = hg_batch_new (1024);
    hg_batch_limit_records (b, 5);
    assert_null (hg_batch_add_record (b, S_NOTE));
    assert_false (hg_batch_full (b));
    hg_batch_destroy (&b);
}

static void
test_mark_rollback (void **state)
{
    (void) state;
    hg_batch_t *b = hg_batch_new (0);
    Hourglass__Record *kept = hg_batch_add_record (b, S_NOTE);
    hg_batch_mark_t outer = hg_batch_mark (b);
    assert_non_null (hg_batch_add_record (b, S_NOTE));
    hg_batch_mark_t inner = hg_batch_mark (b);
    assert_non_null (hg_batch_add_record (b, S_NOTE));
    assert_non_null (hg_batch_add_record (b, S_NOTE));
    hg_batch_reject (b, NULL, 0, "message 2", "half-way");
    hg_batch_rollback (b, inner);
    assert_int_equal (hg_batch_record_count (b), 2);
    hg_batch_rollback (b, outer);
    assert_int_equal (hg_batch_record_count (b), 1);
    assert_ptr_equal (hg_batch_records (b)[0], kept);
    /* rejects stay; rolling back to a later mark changes nothing */
    assert_int_equal (hg_batch_reject_count (b), 1);
    hg_batch_rollback (b, inner);
    assert_int_equal (hg_batch_record_count (b), 1);
    hg_batch_destroy (&b);
}

HG_TEST_MAIN (cmocka_unit_test (test_record_limit),
              cmocka_unit_test (test_memory_is_not_the_limit),
              cmocka_unit_test (test_mark_rollback))
