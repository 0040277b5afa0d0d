/*
 * test_curve.c -- the CurveZMQ allow-list parser (hg_curve_allow_parse):
 * "<z85> <name>" lines, blanks and comments skipped, CRLF, errors naming
 * the line (blank lines counted), a key token longer than a key refused.
 */
#include "unit_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <zmq.h>

#include "curve.h"

static void
s_public_z85 (char out[HG_CURVE_Z85_LEN + 1], uint8_t raw[32])
{
    uint8_t secret[32];
    crypto_box_keypair (raw, secret);
    assert_non_null (zmq_z85_encode (out, raw, 32));
}

static void
test_allow_parse (void **state)
{
    (void) state;
    char a[HG_CURVE_Z85_LEN + 1], b[HG_CURVE_Z85_LEN + 1];
    uint8_t ra[32], rb[32];
    s_public_z85 (a, ra);
    s_public_z85 (b, rb);
    char text[512];
    int len = snprintf (text, sizeof (text), "# partners\n\n  %s lab-north\r\n\t%s  cleanser-1",
                        a, b);
    hg_curve_allowed_t *keys = NULL;
    size_t n = 0;
    hg_err_t err = {0};
    assert_int_equal (hg_curve_allow_parse (text, (size_t) len, "allow", &keys, &n, &err), 0);
    assert_int_equal (n, 2);
    assert_memory_equal (keys[0].key, ra, 32);
    assert_string_equal (keys[0].name, "lab-north");
    assert_memory_equal (keys[1].key, rb, 32);
    assert_string_equal (keys[1].name, "cleanser-1");
    free (keys);

    /* a token of 41 characters is not a key followed by a name */
    len = snprintf (text, sizeof (text), "%s lab\n\n%sX lab\n", a, b);
    keys = NULL;
    assert_int_equal (hg_curve_allow_parse (text, (size_t) len, "allow", &keys, &n, &err),
                      HG_EINVAL);
    assert_null (keys);
    assert_string_equal (err.msg, "allow:3: expected '<40-char Z85 public key> <name>'");
    len = snprintf (text, sizeof (text), "%s\n", a);
    assert_int_equal (hg_curve_allow_parse (text, (size_t) len, "f", &keys, &n, &err), HG_EINVAL);
    assert_string_equal (err.msg, "f:1: expected '<40-char Z85 public key> <name>'");
    assert_int_equal (hg_curve_allow_parse ("", 0, "f", &keys, &n, &err), 0);
    assert_int_equal (n, 0);
    free (keys);
}

HG_TEST_MAIN (cmocka_unit_test (test_allow_parse))
