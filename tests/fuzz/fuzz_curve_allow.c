/*
 * fuzz_curve_allow.c -- libFuzzer target for the CurveZMQ allow-list
 * parser (hg_curve_allow_parse; see README.md).
 *
 * The input is the file's text. Traps when the result breaks the contract:
 * a return other than 0, HG_EINVAL or HG_ENOMEM, an error without a
 * message, more keys than HG_CURVE_MAX_KEYS, or an accepted entry that is
 * not in the text as a whole key token followed by its name (an empty
 * name, a name with a blank in it, a key whose Z85 form is not there).
 */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "curve.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* Whether the key's Z85 form is in text as a token of its own. */
static int
s_has_token (const char *text, size_t len, const char *z85)
{
    size_t zl = strlen (z85);
    for (size_t i = 0; i + zl <= len; i++) {
        if (memcmp (text + i, z85, zl) == 0 && (i == 0 || isspace ((unsigned char) text[i - 1]))
            && i + zl < len && isspace ((unsigned char) text[i + zl])) {
            return 1;
        }
    }
    return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    const char *text = (const char *) data;
    hg_curve_allowed_t *keys = NULL;
    size_t n = 0;
    hg_err_t err = {0};
    int rc = hg_curve_allow_parse (text, size, "fuzz.allow", &keys, &n, &err);
    if (rc != 0) {
        if ((rc != HG_EINVAL && rc != HG_ENOMEM) || err.code != rc || !err.msg[0] || keys) {
            __builtin_trap ();
        }
        return 0;
    }
    if (n > HG_CURVE_MAX_KEYS) {
        __builtin_trap ();
    }
    for (size_t i = 0; i < n; i++) {
        const char *name = keys[i].name;
        size_t nl = strnlen (name, sizeof (keys[i].name));
        if (nl == 0 || nl == sizeof (keys[i].name)) {
            __builtin_trap ();
        }
        for (size_t j = 0; j < nl; j++) {
            if (isspace ((unsigned char) name[j])) {
                __builtin_trap ();
            }
        }
        char z85[HG_CURVE_Z85_LEN + 1];
        if (!zmq_z85_encode (z85, keys[i].key, 32) || !s_has_token (text, size, z85)) {
            __builtin_trap ();
        }
    }
    free (keys);
    return 0;
}
