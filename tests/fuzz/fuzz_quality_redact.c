/*
 * fuzz_quality_redact.c -- libFuzzer target for the quality report's
 * redaction (services/cleanser/quality.h): rejected input and the reasons
 * quoting it are partner text on its way to a page. Traps when the contract
 * breaks: an output not terminated within its buffer, a byte of the input
 * beyond ASCII passing through (only the '…' the redactor writes may be
 * there), or a control byte other than a new line or tab.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "quality.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
s_check (const char *out, size_t size)
{
    size_t len = strnlen (out, size);
    if (len == size) {
        __builtin_trap ();
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) out[i];
        if (c >= 0x80) {
            if (i + 3 > len || memcmp (out + i, "\xe2\x80\xa6", 3) != 0) {
                __builtin_trap ();
            }
            i += 2;
        }
        else if (c < 0x20 && c != '\n' && c != '\t' && c != ' ') {
            __builtin_trap ();
        }
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char in[2048];
    size_t n = size < sizeof (in) - 1 ? size : sizeof (in) - 1;
    memcpy (in, data, n);
    in[n] = '\0';
    char out[512], tiny[7];
    hg_quality_redact (in, out, sizeof (out));
    s_check (out, sizeof (out));
    hg_quality_redact (in, tiny, sizeof (tiny));
    s_check (tiny, sizeof (tiny));
    hg_quality_redact_excerpt ((const char *) data, size, out, sizeof (out));
    s_check (out, sizeof (out));
    hg_quality_redact_excerpt ((const char *) data, size, tiny, sizeof (tiny));
    s_check (tiny, sizeof (tiny));
    return 0;
}
