/*
 * test_parse_shared.c -- the helpers the parsers share since the
 * de-duplication pass: the payload prologue and the comparator prefix
 * (parsekit.h), adding a record and the limit and prefixed rejects
 * (batch.h), and hg_all_digits (common/util.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "batch.h"
#include "parsekit.h"
#include "util.h"

#define S_NOTE HOURGLASS__RECORD_KIND__KIND_NOTE

static void
test_payload (void **state)
{
    (void) state;
    const char *data = NULL;
    size_t len = 7;
    assert_false (hg_parse_payload (&data, &len));
    assert_string_equal (data, "");
    assert_int_equal (len, 0);

    const char *bom = "\xEF\xBB\xBFMSH|";
    data = bom;
    len = strlen (bom);
    assert_true (hg_parse_has_bom (data, len));
    assert_true (hg_parse_payload (&data, &len));
    assert_ptr_equal (data, bom + 3); /* a view, not a copy */
    assert_int_equal (len, 4);
    assert_false (hg_parse_has_bom (data, len));
    assert_false (hg_parse_payload (&data, &len));
    assert_ptr_equal (data, bom + 3);

    /* a cut-off mark is not one */
    assert_false (hg_parse_has_bom ("\xEF\xBB", 2));
}

static void
test_comparator (void **state)
{
    (void) state;
    const char *t = "<= 5.4";
    assert_string_equal (hg_parse_comparator (&t, false), "<=");
    assert_string_equal (t, "5.4");
    t = ">7";
    assert_string_equal (hg_parse_comparator (&t, false), ">");
    assert_string_equal (t, "7");
    t = "12";
    assert_string_equal (hg_parse_comparator (&t, true), "");
    assert_string_equal (t, "12");
    /* "=" only where the format has it, and then as "" */
    t = "=3";
    assert_string_equal (hg_parse_comparator (&t, false), "");
    assert_string_equal (t, "=3");
    assert_string_equal (hg_parse_comparator (&t, true), "");
    assert_string_equal (t, "3");
}

static void
test_try_add (void **state)
{
    (void) state;
    hg_batch_t *b = hg_batch_new (0);
    hg_batch_limit_records (b, 1);
    bool limit_hit = true, oom = false;
    assert_non_null (hg_batch_try_add (b, S_NOTE, &limit_hit, &oom));
    assert_true (limit_hit); /* untouched on success */
    assert_false (oom);
    limit_hit = false;
    assert_null (hg_batch_try_add (b, S_NOTE, &limit_hit, &oom));
    assert_true (limit_hit);
    assert_false (oom);
    hg_batch_destroy (&b);

    /* an arena too small for a record: memory, not the limit */
    b = hg_batch_new (1024);
    limit_hit = true;
    assert_null (hg_batch_try_add (b, S_NOTE, &limit_hit, &oom));
    assert_false (limit_hit);
    assert_true (oom);
    hg_batch_destroy (&b);
}

static void s_vreject (hg_batch_t *b, const char *who, const char *sep, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

static void
s_vreject (hg_batch_t *b, const char *who, const char *sep, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    hg_batch_vreject (b, "x", 1, "line 4", who, sep, fmt, ap);
    va_end (ap);
}

static void
test_rejects (void **state)
{
    (void) state;
    hg_batch_t *b = hg_batch_new (0);
    hg_batch_limit_records (b, 3);
    hg_batch_reject_rest (b, "row", 3, "row 9");
    s_vreject (b, "line 4", ": ", "bad %s", "date");
    s_vreject (b, "row 2", " ", "has %d columns", 3);
    s_vreject (b, "", "", "plain");
    assert_int_equal (hg_batch_reject_count (b), 4);
    const hg_reject_t *r = hg_batch_rejects (b);
    assert_string_equal (r[0].location, "row 9");
    assert_string_equal (r[0].reason, "record limit reached (max_records 3): row 9 and the rest "
                                      "of the payload are not parsed");
    assert_int_equal (r[0].excerpt_len, 3);
    assert_string_equal (r[1].location, "line 4");
    assert_string_equal (r[1].reason, "line 4: bad date");
    assert_string_equal (r[2].reason, "row 2 has 3 columns");
    assert_string_equal (r[3].reason, "plain");
    hg_batch_destroy (&b);
}

static void
test_all_digits (void **state)
{
    (void) state;
    assert_true (hg_all_digits ("0123456789", 10));
    assert_true (hg_all_digits ("12a", 2));
    assert_false (hg_all_digits ("12a", 3));
    assert_false (hg_all_digits ("-1", 2));
    assert_true (hg_all_digits ("", 0));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_payload),    cmocka_unit_test (test_comparator),
        cmocka_unit_test (test_try_add),    cmocka_unit_test (test_rejects),
        cmocka_unit_test (test_all_digits),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
