/*
 * fuzz_ucum.c -- libFuzzer target for hg_ucum_check (see README.md): units
 * are partner text. Traps when the contract breaks: an accepted unit whose
 * output is longer than the input, holds a byte that is not printable ASCII
 * or an annotation brace, or is not itself accepted unchanged (the output is
 * canonical: checking it again gives it back); a refusal without a message
 * or with output left.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ucum.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char in[HG_UCUM_MAX * 4 + 2];
    size_t n = size < sizeof (in) - 1 ? size : sizeof (in) - 1;
    memcpy (in, data, n);
    in[n] = '\0';
    char out[HG_UCUM_MAX + 1], again[HG_UCUM_MAX + 1];
    hg_err_t err;
    hg_err_clear (&err);
    int rc = hg_ucum_check (in, out, &err);
    if (rc < 0) {
        if (!err.msg[0] || out[0]) {
            __builtin_trap ();
        }
        return 0;
    }
    size_t len = strlen (out);
    if (len > strlen (in) || len > HG_UCUM_MAX) {
        __builtin_trap ();
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) out[i];
        if (c < 33 || c > 126 || c == '{' || c == '}') {
            __builtin_trap ();
        }
    }
    if (hg_ucum_check (out, again, NULL) != 0 || strcmp (out, again) != 0) {
        __builtin_trap ();
    }
    return 0;
}
