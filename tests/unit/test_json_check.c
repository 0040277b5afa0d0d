/*
 * test_json_check.c -- the collector's one-pass JSON check: what it accepts
 * and where the value ends, why it refuses (with the byte), the top-level
 * "resourceType" and "type" it reports (escapes decoded, the last of a
 * repeated name, non-strings absent, long ones truncated), the depth limit,
 * and a large dense body checked without memory of its size.
 */
#include "unit_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_check.h"

static hg_json_check_t
s_ok (const char *text, size_t want_end)
{
    hg_json_check_t v;
    if (!hg_json_check (text, strlen (text), 64, &v)) {
        fail_msg ("'%s' refused: %s", text, v.why);
    }
    assert_int_equal (v.end, want_end);
    return v;
}

static void
s_refused (const char *text, const char *why_part)
{
    hg_json_check_t v;
    assert_false (hg_json_check (text, strlen (text), 64, &v));
    if (!strstr (v.why, why_part)) {
        fail_msg ("'%s': why '%s' lacks '%s'", text, v.why, why_part);
    }
}

static void
test_values (void **state)
{
    (void) state;
    s_ok ("{}", 2);
    s_ok ("  [ ]\n", 5);
    s_ok ("[1, -0, 0.5, -1.25e+3, 2E-2, true, false, null, \"x\"]", 52);
    s_ok ("{\"id\":1} x", 8); /* the caller judges what follows */
    s_ok ("\"a\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\"", 37);
    hg_json_check_t v = s_ok ("[{\"resourceType\":\"Patient\"}]", 28);
    assert_false (v.object);
    assert_false (v.has_resource_type); /* only the top level's members */
}

static void
test_refusals (void **state)
{
    (void) state;
    s_refused ("", "not valid JSON: unexpected end at byte 0");
    s_refused ("{\"resourceType\":", "unexpected end at byte 16");
    s_refused ("{\"a\" 1}", "expected ':' after a member name at byte 5");
    s_refused ("{\"a\":1 \"b\":2}", "expected ',' or '}' in an object at byte 7");
    s_refused ("[1 2]", "expected ',' or ']' in an array at byte 3");
    s_refused ("{a:1}", "expected a member name in double quotes at byte 1");
    s_refused ("[01]", "expected ',' or ']'");
    s_refused ("[1.]", "digits after '.'");
    s_refused ("[1e]", "digits in its exponent");
    s_refused ("[-]", "a number needs digits");
    s_refused ("[tru]", "expected a value");
    s_refused ("tru", "unexpected end");
    s_refused ("['x']", "expected a value at byte 1");
    s_refused ("[\"a\\x\"]", "an invalid escape in a string at byte 4");
    s_refused ("[\"\\u12\"]", "\\u needs four hex digits");
    s_refused ("[\"a\nb\"]", "a control character inside a string at byte 3");
    s_refused ("[\"abc", "unexpected end inside a string");
    s_refused ("[1,]", "expected a value at byte 3");
    s_refused ("/* comment */ {}", "expected a value at byte 0");
}

static void
test_members (void **state)
{
    (void) state;
    const char *doc =
        "{\"type\":\"batch\",\"resourceType\":\"Bun\\u0064le\",\"entry\":[{\"type\":"
        "\"x\",\"resourceType\":\"Patient\"}],\"type\":\"collection\"}";
    hg_json_check_t v = s_ok (doc, strlen (doc));
    assert_true (v.object);
    assert_true (v.has_resource_type);
    assert_string_equal (v.resource_type, "Bundle");
    assert_true (v.has_type);
    assert_string_equal (v.type, "collection"); /* the last one, as json-c reads it */
    assert_false (v.truncated);

    v = s_ok ("{\"resourceType\":7,\"type\":{\"a\":[]}}", 34);
    assert_false (v.has_resource_type);
    assert_false (v.has_type);
    v = s_ok ("{\"resourceType\":\"\"}", 19);
    assert_true (v.has_resource_type);
    assert_string_equal (v.resource_type, "");

    char longer[200];
    snprintf (longer, sizeof (longer), "{\"type\":\"%080d\"}", 0);
    v = s_ok (longer, strlen (longer));
    assert_true (v.truncated);
    assert_int_equal (strlen (v.type), HG_JSON_CHECK_STR_MAX);
}

static void
test_depth (void **state)
{
    (void) state;
    char deep[200];
    size_t n = 0;
    for (int i = 0; i < 64; i++) {
        deep[n++] = '[';
    }
    for (int i = 0; i < 64; i++) {
        deep[n++] = ']';
    }
    deep[n] = '\0';
    hg_json_check_t v;
    assert_true (hg_json_check (deep, n, 64, &v));
    memmove (deep + 1, deep, n + 1);
    deep[0] = '[';
    deep[n + 1] = ']';
    deep[n + 2] = '\0';
    assert_false (hg_json_check (deep, n + 2, 64, &v));
    assert_non_null (strstr (v.why, "nested too deep at byte 64"));
}

/* 32 MB of a dense array: checked in one pass (no tree; under ASan a
 * tree of it would not fit the test's time, let alone its memory). */
static void
test_large_dense (void **state)
{
    (void) state;
    size_t n = 32u << 20;
    char *b = malloc (n);
    assert_non_null (b);
    const char *head = "{\"resourceType\":\"Bundle\",\"type\":\"batch\",\"pad\":[";
    size_t h = strlen (head);
    memcpy (b, head, h);
    for (size_t i = h; i < n - 2; i += 2) {
        b[i] = '0';
        b[i + 1] = ',';
    }
    b[n - 3] = '0';
    b[n - 2] = ']';
    b[n - 1] = '}';
    hg_json_check_t v;
    assert_true (hg_json_check (b, n, 64, &v));
    assert_int_equal (v.end, n);
    assert_string_equal (v.resource_type, "Bundle");
    free (b);
}

HG_TEST_MAIN (cmocka_unit_test (test_values), cmocka_unit_test (test_refusals),
              cmocka_unit_test (test_members), cmocka_unit_test (test_depth),
              cmocka_unit_test (test_large_dense))
