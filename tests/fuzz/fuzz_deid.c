/*
 * fuzz_deid.c -- libFuzzer target for the de-identifier's string rules
 * (services/deid/policy.h; see README.md): the input is a partner's string
 * value, reference range, state or country. Traps when a rule lets through
 * what it must not: a string value kept that is date-like (outside a
 * genotype), an output that is not the input, "90+" or "[redacted]"; a
 * range kept with a byte that is neither a number, a comparator nor a UCUM
 * unit character, or longer than its buffer; a state or country that is
 * not 0 to 3 upper-case letters or digits.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "policy.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
s_check_code (const char *code)
{
    size_t n = strlen (code);
    if (n > 3) {
        __builtin_trap ();
    }
    for (size_t i = 0; i < n; i++) {
        if (!isupper ((unsigned char) code[i]) && !isdigit ((unsigned char) code[i])) {
            __builtin_trap ();
        }
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char in[512];
    size_t n = size < sizeof (in) - 1 ? size : sizeof (in) - 1;
    memcpy (in, data, n);
    in[n] = '\0';
    for (int k = 0; k < 8; k++) {
        hg_deid_value_ctx_t vc = {.quantitative = k & 1, .age = k & 2, .genotype = k & 4};
        const char *out = hg_deid_string_value (in, &vc);
        if (out != in && strcmp (out, HG_DEID_REDACTED) != 0
            && strcmp (out, HG_DEID_AGE_90) != 0) {
            __builtin_trap ();
        }
        if (out == in && !vc.genotype && hg_deid_date_like (in)) {
            __builtin_trap ();
        }
    }
    char range[64];
    int rc = hg_deid_reference_range (in, range, sizeof (range));
    if (strnlen (range, sizeof (range)) >= sizeof (range) || (rc < 0 && range[0])) {
        __builtin_trap ();
    }
    for (const char *p = range; *p; p++) {
        unsigned char c = (unsigned char) *p;
        if (c < 32 || c > 126 || c == '{' || c == '}' || (c == ' ' && p == range)) {
            __builtin_trap ();
        }
    }
    char code[4];
    hg_deid_state_code (in, code);
    s_check_code (code);
    hg_deid_country_code (in, code);
    s_check_code (code);
    return 0;
}
