/*
 * test_parsekit.c -- the one split semantic every tokeniser uses and the
 * printable copy for reject reasons (services/cleanser/parsekit.c).
 */
#include "unit_test.h"

#include <stdio.h>
#include <string.h>

#include <protobuf-c/protobuf-c.h>

#include "parsekit.h"

static hg_span_t
s_span (const char *s)
{
    return (hg_span_t) {s, strlen (s)};
}

/* The pieces of s split at sep, joined with '/' by hg_span_next. */
static const char *
s_pieces (const char *s, char sep, char *buf)
{
    size_t pos = 0, o = 0;
    hg_span_t piece;
    buf[0] = '\0';
    while (hg_span_next (s_span (s), sep, &pos, &piece)) {
        o += (size_t) sprintf (buf + o, "%s[%.*s]", o ? "/" : "", (int) piece.n, piece.p);
    }
    return buf;
}

static void
test_split (void **state)
{
    (void) state;
    char buf[128];
    assert_string_equal (s_pieces ("a|b", '|', buf), "[a]/[b]");
    assert_string_equal (s_pieces ("a||b", '|', buf), "[a]/[]/[b]");
    assert_string_equal (s_pieces ("|a|", '|', buf), "[]/[a]/[]");
    /* an empty span has one empty piece */
    assert_string_equal (s_pieces ("", '|', buf), "[]");
    /* no separator: the whole span, NUL bytes and all, is one piece */
    assert_string_equal (s_pieces ("a|b", '\0', buf), "[a|b]");
    hg_span_t nul = {"a\0b", 3}, piece;
    size_t pos = 0;
    assert_true (hg_span_next (nul, '\0', &pos, &piece));
    assert_int_equal (piece.n, 3);
    assert_false (hg_span_next (nul, '\0', &pos, &piece));

    assert_int_equal (hg_span_count (s_span (""), ','), 1);
    assert_int_equal (hg_span_count (s_span ("a,,b"), ','), 3);
    assert_int_equal (hg_span_count (s_span ("a,b"), '\0'), 1);
}

static void
test_piece (void **state)
{
    (void) state;
    hg_span_t out = {"untouched", 9};
    assert_true (hg_span_piece (s_span ("x^y^^z"), '^', 3, &out));
    assert_true (hg_span_eq (out, "z"));
    assert_true (hg_span_piece (s_span ("x^y^^z"), '^', 2, &out));
    assert_int_equal (out.n, 0);
    assert_true (hg_span_piece (s_span (""), '^', 0, &out));
    assert_int_equal (out.n, 0);
    out = s_span ("untouched");
    assert_false (hg_span_piece (s_span ("x^y"), '^', 2, &out));
    assert_true (hg_span_eq (out, "untouched"));
    assert_false (hg_span_piece (s_span ("x^y"), '\0', 1, &out));
    assert_true (hg_span_piece (s_span ("x^y"), '\0', 0, &out));
    assert_true (hg_span_eq (out, "x^y"));
    assert_false (hg_span_eq (s_span ("ab"), "abc"));
    assert_false (hg_span_eq (s_span ("abc"), "ab"));
}

static void
test_show (void **state)
{
    (void) state;
    char buf[8 + 4];
    assert_string_equal (hg_span_show (s_span ("ok"), 8, buf), "ok");
    assert_string_equal (hg_span_show (s_span ("tab\there"), 8, buf), "tab?here");
    assert_string_equal (hg_span_show (s_span ("123456789"), 8, buf), "12345678...");
    hg_span_t bin = {"\x01\x7f\xc3\xa9", 4};
    assert_string_equal (hg_span_show (bin, 8, buf), "????");
    assert_string_equal (hg_span_show (HG_SPAN_EMPTY, 8, buf), "");
}

/* Record fields get arena copies; NULL and "" are protobuf-c's empty
 * string; a full arena sets oom once and still hands out "". */
static void
test_strdup (void **state)
{
    (void) state;
    hg_arena_t *a = hg_arena_new (64 * 1024);
    bool oom = false;
    char src[] = "glucose";
    char *c = hg_parse_strdup (a, src, &oom);
    assert_string_equal (c, "glucose");
    assert_ptr_not_equal (c, src);
    assert_ptr_equal (hg_parse_strdup (a, NULL, &oom), protobuf_c_empty_string);
    assert_ptr_equal (hg_parse_strdup (a, "", &oom), protobuf_c_empty_string);
    assert_false (oom);
    static char big[128 * 1024];
    memset (big, 'x', sizeof (big) - 1);
    assert_ptr_equal (hg_parse_strdup (a, big, &oom), protobuf_c_empty_string);
    assert_true (oom);
    hg_arena_destroy (&a);
}

HG_TEST_MAIN (cmocka_unit_test (test_split), cmocka_unit_test (test_piece),
              cmocka_unit_test (test_show), cmocka_unit_test (test_strdup))
