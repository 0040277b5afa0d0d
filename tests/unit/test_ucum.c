/*
 * test_ucum.c -- the UCUM syntax checker (common/ucum.h): the units
 * laboratories send pass, canonical; free text, a misspelled unit or one
 * with an annotation's words does not reach the output.
 */
#include "unit_test.h"

#include <string.h>

#include "ucum.h"

static void
test_units_that_pass (void **state)
{
    (void) state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"mg/dL", "mg/dL"},
        {"mmol/L", "mmol/L"},
        {"mg/dl", "mg/dl"}, /* l and L are both the litre */
        {"umol/L", "umol/L"},
        {"\xc2\xb5mol/L", "umol/L"}, /* micro sign */
        {"\xce\xbcg/mL", "ug/mL"},   /* Greek mu */
        {"g/dL", "g/dL"},
        {"%", "%"},
        {"10*3/uL", "10*3/uL"},
        {"10^9/L", "10^9/L"},
        {"10*-3", "10*-3"},
        {"[iU]/L", "[iU]/L"},
        {"[IU]/mL", "[IU]/mL"},
        {"mm[Hg]", "mm[Hg]"},
        {"cm[H2O]", "cm[H2O]"},
        {"kg/m2", "kg/m2"},
        {"kg.m-2", "kg.m-2"},
        {"m2", "m2"},
        {"/min", "/min"},
        {"/[HPF]", "/[HPF]"},
        {"meq/L", "meq/L"},
        {"mosm/kg", "mosm/kg"},
        {"U/L", "U/L"},
        {"fL", "fL"},
        {"pg", "pg"},
        {"a", "a"},
        {"wk", "wk"},
        {"Cel", "Cel"},
        {"[degF]", "[degF]"},
        {"[lb_av]", "[lb_av]"},
        {"[in_i]", "[in_i]"},
        {"[pH]", "[pH]"},
        {"1", "1"},
        {"mL/(24.h)", "mL/(24.h)"},
        {"dam", "dam"}, /* deka + metre */
        {"  mg/dL ", "mg/dL"},
        /* annotations are dropped; alone they are 1 */
        {"{cells}/uL", "1/uL"},
        {"/{a}/uL", "/1/uL"}, /* found by fuzz_ucum: was "//uL" */
        {"{a}.{b}/m", "1/m"},
        {"mg{creat}", "mg"},
        {"mL/min/{1.73_m2}", "mL/min"},
        {"{score}", "1"},
        {"{titer}", "1"},
        {"/{HPF}", "1"},
        {"{beats}/min", "1/min"},
        {"g/{total}.L", "g.L"}, /* left to right: (g/1).L */
        {"", ""},
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        char out[HG_UCUM_MAX + 1];
        hg_err_t err;
        hg_err_clear (&err);
        int rc = hg_ucum_check (cases[i].in, out, &err);
        if (rc != 0 || strcmp (out, cases[i].out) != 0) {
            fail_msg ("unit '%s': rc %d out '%s' (%s)", cases[i].in, rc, out, err.msg);
        }
        assert_true (hg_ucum_valid (cases[i].in));
    }
    char out[HG_UCUM_MAX + 1];
    assert_int_equal (hg_ucum_check (NULL, out, NULL), 0);
    assert_string_equal (out, "");
}

static void
test_units_that_do_not (void **state)
{
    (void) state;
    static const char *const bad[] = {
        "mg/dL per Dr John Doe", /* free text after a unit */
        "Jane Roe",
        "mg dL",
        "mg/",
        "/",
        "mg//dL",
        "mg/dL)",
        "(mg/dL",
        "MG/DL", /* case matters in UCUM: M is mega, G gauss, D nothing */
        "mgs",   /* no such atom */
        "kmin",  /* min takes no prefix */
        "k%",    /* nor does % */
        "mcg",   /* a common misspelling of ug: not UCUM */
        "cc",
        "[iU",                         /* bracket not closed */
        "mg{creat",                    /* annotation not closed */
        "mg{drawn by nurse Jane Roe}", /* blanks are not UCUM, even in an annotation */
        "mg{a}{b}",
        "m2m",
        "m+",
        "m1234567",
        "((((((((((m))))))))))",
        "mg/dL\n",
        "x\x01",
        "\xc2",
    };
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++) {
        char out[HG_UCUM_MAX + 1];
        memset (out, 'x', sizeof (out));
        hg_err_t err;
        hg_err_clear (&err);
        int rc = hg_ucum_check (bad[i], out, &err);
        if (rc != HG_EINVAL) {
            fail_msg ("unit '%s' accepted as '%s'", bad[i], out);
        }
        assert_string_equal (out, "");
        assert_non_null (strstr (err.msg, "unit is not UCUM"));
        /* the message never quotes the unit */
        assert_null (strstr (err.msg, "John"));
        assert_null (strstr (err.msg, "Jane"));
        assert_false (hg_ucum_valid (bad[i]));
    }
    char long_unit[HG_UCUM_MAX + 8];
    memset (long_unit, 'm', sizeof (long_unit) - 1);
    long_unit[sizeof (long_unit) - 1] = '\0';
    for (size_t i = 1; i + 1 < sizeof (long_unit); i += 2) {
        long_unit[i] = '.';
    }
    assert_false (hg_ucum_valid (long_unit));
    long_unit[HG_UCUM_MAX - 1] = '\0'; /* m.m.m...: 63 bytes */
    assert_true (hg_ucum_valid (long_unit));
}

static void
test_messages (void **state)
{
    (void) state;
    char out[HG_UCUM_MAX + 1];
    hg_err_t err;
    hg_err_clear (&err);
    assert_int_equal (hg_ucum_check ("mg/xyz", out, &err), HG_EINVAL);
    assert_string_equal (err.msg, "unit is not UCUM: not a unit Hourglass knows (atom or prefix "
                                  "and metric atom) at byte 4");
    assert_int_equal (hg_ucum_check ("mg dL", out, &err), HG_EINVAL);
    assert_string_equal (err.msg, "unit is not UCUM: a character UCUM does not allow at byte 3");
    assert_int_equal (hg_ucum_check ("mg{x", out, &err), HG_EINVAL);
    assert_string_equal (err.msg, "unit is not UCUM: an annotation is not closed at byte 5");
}

HG_TEST_MAIN (cmocka_unit_test (test_units_that_pass), cmocka_unit_test (test_units_that_do_not),
              cmocka_unit_test (test_messages))
