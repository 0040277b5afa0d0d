/*
 * test_quarantine.c -- the quarantine key layout ("q/<id>\0<index>"), and
 * QUARANTINE_LIST's read: entries in key order (a message's together, by
 * index), at most limit, undecodable values skipped.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "quarantine.h"
#include "slot.h"

static void
s_put (hg_store_batch_t *wb, const char *id, size_t index, const char *reason)
{
    Hourglass__QuarantineEntry q = HOURGLASS__QUARANTINE_ENTRY__INIT;
    q.message_id = (char *) id;
    q.reason = (char *) reason;
    assert_int_equal (hg_quarantine_put (wb, &q, index, NULL), 0);
}

static void
test_put_and_list (void **state)
{
    (void) state;
    char dir[] = "/tmp/hg-quarantine-XXXXXX";
    assert_non_null (mkdtemp (dir));
    hg_err_t err = {0};
    hg_store_opts_t opts = {.sync = false};
    hg_store_t *store = hg_store_open (dir, &opts, &err);
    assert_non_null (store);
    hg_store_batch_t *wb = hg_store_batch_new ();
    s_put (wb, "m1", 1, "second of m1");
    s_put (wb, "m1", 0, "first of m1");
    s_put (wb, "m", 12, "only of m");
    char long_id[700];
    memset (long_id, 'z', sizeof (long_id) - 1);
    long_id[sizeof (long_id) - 1] = '\0';
    s_put (wb, long_id, 0, "a long id");
    hg_store_batch_put (wb, "q/zz", 4, "\xff\xff", 2);   /* not an entry */
    assert_int_equal (hg_store_write (store, wb, false, &err), 0);

    /* the layout others rely on (adoption copies the keys as they are) */
    assert_true (hg_store_exists (store, "q/m1\0" "000001", 11));
    assert_true (hg_store_exists (store, "q/m\0" "000012", 10));

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
    hg_store_close (&store);
    assert_int_equal (hg_remove_tree (dir, &err), 0);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_put_and_list),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
