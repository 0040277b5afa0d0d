/*
 * test_json.c -- the FHIR parser's JSON tree (services/cleanser/json.c):
 * whatever it accepts, it reads exactly as json-c does (same text when
 * serialised the json-c way, same bytes consumed); what json-c might read
 * differently it declines. Edge cases inline, then (when ../shared/data is
 * present) every FHIR sample, whole and line by line.
 */
#include "unit_test.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "json.h"
#include "util.h"

/* Parses p both ways; returns hg_json_parse's result and fails when an
 * accepted value differs from json-c's. */
static int
s_compare (const char *p, size_t n)
{
    hg_arena_t *a = hg_arena_new (0);
    hg_json_t *v = NULL;
    size_t end = 0;
    int rc = hg_json_parse (a, p, n, &v, &end);
    if (rc == 1) {
        json_tokener *tok = json_tokener_new_ex (64);
        json_tokener_set_flags (tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS);
        json_object *j = json_tokener_parse_ex (tok, p, (int) n);
        assert_int_equal (json_tokener_get_error (tok), json_tokener_success);
        assert_int_equal (end, json_tokener_get_parse_end (tok));
        assert_string_equal (hg_json_to_text (a, v),
                             json_object_to_json_string_ext (j, JSON_C_TO_STRING_PLAIN));
        json_object_put (j);
        json_tokener_free (tok);
    }
    hg_arena_destroy (&a);
    return rc;
}

static int
s_cmp_str (const char *s)
{
    return s_compare (s, strlen (s));
}

static void
test_accepted_as_json_c (void **state)
{
    (void) state;
    const char *ok[] = {
        "{}",
        "[]",
        " \r\n\t{\"a\":1}",
        "{\"a\":1}\n{\"b\":2}", /* stops after the first, past the newline */
        "{\"a\":1}  \r\n  ",
        "{\"s\":\"x\\\"y\\\\z\\/w\\b\\f\\n\\r\\t\"}",
        "{\"u\":\"\\u00e9\\u4e2d\\u0041\\u0001\"}",
        "{\"raw\":\"caf\xc3\xa9 \xf0\x9f\x98\x80\"}",
        "{\"n\":[0,-1,123456789012345678,-123456789012345678,1.5,-0.25,1e5,1E-7,2.0,"
        "95.39999999999999]}",
        "{\"b\":[true,false,null],\"e\":{},\"l\":[[],[{}]]}",
        "[1,\"a\",{\"k\":[null]}]",
        "{\"slash\":\"a/b\",\"key/\":\"v\"}",
    };
    for (size_t i = 0; i < sizeof (ok) / sizeof (ok[0]); i++) {
        if (s_cmp_str (ok[i]) != 1) {
            fail_msg ("declined: %s", ok[i]);
        }
    }
}

static void
test_declined_to_json_c (void **state)
{
    (void) state;
    const char *no[] = {
        "",
        "   ",
        "\"top-level string\"",
        "12",
        "null",
        "{\"a\":1",   /* truncated */
        "{\"a\":1,}", /* trailing comma */
        "{\"a\" 1}",
        "{'a':1}",
        "{\"a\":01}", /* leading zero */
        "{\"a\":-0}",
        "{\"a\":1234567890123456789}", /* 19 digits: json-c's overflow rules */
        "{\"a\":1.}",
        "{\"a\":.5}",
        "{\"a\":+1}",
        "{\"a\":\"\\u0000\"}",
        "{\"a\":\"\\ud83d\\ude00\"}", /* surrogates */
        "{\"a\":\"\\x\"}",
        "{\"a\":\"tab\there\"}", /* raw control character */
        "{\"a\":1,\"a\":2}",     /* duplicate member */
        "{\"a\":tru}",
        "{\"a\":NaN}",
        "[1,2",
    };
    for (size_t i = 0; i < sizeof (no) / sizeof (no[0]); i++) {
        if (s_cmp_str (no[i]) != 0) {
            fail_msg ("accepted: %s", no[i]);
        }
    }
    /* objects of many members (the duplicate check is quadratic) */
    for (int members = 100; members <= 200; members += 100) {
        char wide[4000];
        size_t w = 0;
        wide[w++] = '{';
        for (int i = 0; i < members; i++) {
            w += (size_t) snprintf (wide + w, sizeof (wide) - w, "%s\"k%d\":%d", i ? "," : "", i,
                                    i);
        }
        wide[w++] = '}';
        assert_int_equal (s_compare (wide, w), members == 100 ? 1 : 0);
    }
    /* nesting deeper than we take is json-c's to judge */
    char deep[200];
    memset (deep, '[', 100);
    memset (deep + 100, ']', 100);
    assert_int_equal (s_compare (deep, sizeof (deep)), 0);
}

static void
test_accessors (void **state)
{
    (void) state;
    hg_arena_t *a = hg_arena_new (0);
    hg_json_t *v;
    size_t end;
    const char *s = "{\"s\":\"x\",\"i\":-17,\"d\":2.50,\"t\":true,\"z\":null,\"l\":[1,null]}";
    assert_int_equal (hg_json_parse (a, s, strlen (s), &v, &end), 1);
    assert_int_equal (end, strlen (s));
    hg_json_t *m = NULL;
    assert_true (hg_json_member (v, "s", &m));
    assert_string_equal (hg_json_string (m), "x");
    assert_int_equal (hg_json_string_len (m), 1);
    assert_true (hg_json_member (v, "i", &m));
    assert_int_equal (hg_json_int64 (m), -17);
    assert_true (hg_json_double (m) == -17.0);
    assert_string_equal (hg_json_string (m), "-17");
    assert_true (hg_json_member (v, "d", &m));
    assert_true (hg_json_is (m, HG_JSON_DOUBLE));
    assert_string_equal (hg_json_string (m), "2.50"); /* its text, as json-c */
    assert_true (hg_json_member (v, "t", &m));
    assert_true (hg_json_boolean (m));
    /* a null member exists, with a NULL value of type null */
    assert_true (hg_json_member (v, "z", &m));
    assert_null (m);
    assert_true (hg_json_is (m, HG_JSON_NULL));
    assert_false (hg_json_member (v, "absent", NULL));
    assert_true (hg_json_member (v, "l", &m));
    assert_int_equal (hg_json_length (m), 2);
    assert_null (hg_json_item (m, 1));
    assert_null (hg_json_item (m, 2));
    assert_string_equal (hg_json_type_name (hg_json_type (v)), "object");
    hg_arena_destroy (&a);
}

/* json-c's tree converted: same text, and a number json-c keeps as uint64
 * keeps its magnitude. */
static void
test_from_json_c (void **state)
{
    (void) state;
    const char *s = "{\"big\":12345678901234567890,\"a\":[\"\\ud83d\\ude00\",null,-0]}";
    json_object *j = json_tokener_parse (s);
    assert_non_null (j);
    hg_arena_t *a = hg_arena_new (0);
    bool oom = false;
    hg_json_t *v = hg_json_from_json_c (a, j, &oom);
    assert_false (oom);
    assert_string_equal (hg_json_to_text (a, v),
                         json_object_to_json_string_ext (j, JSON_C_TO_STRING_PLAIN));
    hg_json_t *big = NULL;
    assert_true (hg_json_member (v, "big", &big));
    assert_true (hg_json_double (big) > 1.2e19);
    json_object_put (j);
    hg_arena_destroy (&a);
}

static size_t s_files, s_values;

static void
s_file (const char *path)
{
    char *t = NULL;
    size_t n = 0;
    if (hg_read_file (path, (size_t) 1 << 28, &t, &n, NULL) < 0) {
        return;
    }
    s_files++;
    s_values += s_compare (t, n) == 1;
    for (size_t pos = 0; pos < n;) {
        const char *nl = memchr (t + pos, '\n', n - pos);
        size_t len = nl ? (size_t) (nl - (t + pos)) : n - pos;
        if (len) {
            s_values += s_compare (t + pos, len) == 1;
        }
        pos += len + 1;
    }
    free (t);
}

static void
s_walk (const char *dir)
{
    DIR *d = opendir (dir);
    if (!d) {
        return;
    }
    struct dirent *e;
    while ((e = readdir (d))) {
        if (e->d_name[0] == '.') {
            continue;
        }
        char p[4096];
        snprintf (p, sizeof (p), "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat (p, &st) == 0 && S_ISDIR (st.st_mode)) {
            s_walk (p);
        }
        else if (st.st_size < (64 << 20)) {
            s_file (p);
        }
    }
    closedir (d);
}

static void
test_shared_samples (void **state)
{
    (void) state;
#ifdef HG_SHARED_DATA
    const char *dirs[] = {"fhir_r4_spec_examples", "fhir_r4_us_core_examples",
                          "fhir_r4_synthea_bundles_smart", "synthea-bulk-10"};
    for (size_t i = 0; i < sizeof (dirs) / sizeof (dirs[0]); i++) {
        char p[4096];
        snprintf (p, sizeof (p), "%s/%s", HG_SHARED_DATA, dirs[i]);
        s_walk (p);
    }
#endif
    if (s_files == 0) {
        print_message ("skipping: no shared FHIR samples\n");
        skip ();
    }
    print_message ("%zu files, %zu values read as json-c reads them\n", s_files, s_values);
    assert_true (s_values > 0);
}

HG_TEST_MAIN (cmocka_unit_test (test_accepted_as_json_c),
              cmocka_unit_test (test_declined_to_json_c), cmocka_unit_test (test_accessors),
              cmocka_unit_test (test_from_json_c), cmocka_unit_test (test_shared_samples))
