/*
 * fuzz_deid.c -- libFuzzer target for the de-identifier's string rules
 * (services/deid/policy.h; see README.md): the input is a partner's string
 * value, reference range, state or country. Traps when a rule lets through
 * what it must not: a string value kept that is date-like (outside a
 * genotype), an output that is not the input, "90+" or "[redacted]"; a
 * range kept with a byte that is neither a number, a comparator nor a UCUM
 * unit character, or longer than its buffer; a state or country that is
 * not 0 to 3 upper-case letters or digits; a note (the input around the
 * patient's family name, in any case) whose scrubbed text still holds that
 * name.
 */
#define _GNU_SOURCE /* strcasestr */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "policy.h"
#include "record.h"
#include "scrub.h"

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

/* The input as a note of a patient whose family name the de-identifier
 * knows: the name must not survive, whatever surrounds it. */
static void
s_check_note (const char *in)
{
    static hg_scrub_t *sc;
    static hg_scrub_lexicon_t *known;
    static const unsigned char key[HG_DEID_KEY_BYTES] = {1};
    if (!sc) {
        sc = hg_scrub_new (NULL);
        known = hg_scrub_lexicon_new ();
        hg_err_t err = {0};
        if (!sc || !known || hg_scrub_lexicon_add (known, HG_SCRUB_NAME, "Zyxwquor", 8, &err)) {
            __builtin_trap ();
        }
        hg_scrub_set_strict (sc, true);
    }
    hg_arena_t *a = hg_arena_new (0);
    Hourglass__Record *rec = hg_arena_alloc (a, sizeof (*rec));
    if (!a || !rec) {
        __builtin_trap ();
    }
    hourglass__record__init (rec);
    rec->kind = HOURGLASS__RECORD_KIND__KIND_NOTE;
    rec->provenance = hg_provenance_new (a);
    rec->provenance->partner = (char *) "fuzz";
    rec->patient_ref = (char *) "P-1";
    rec->text = hg_arena_printf (a, "%s zYxWqUoR%s", in, in);
    hg_deid_ctx_t ctx = {.key = key, .today_days = 20000, .scrub = sc, .known = known};
    hg_err_t err = {0};
    if (!rec->text || hg_deid_record (&ctx, a, rec, &err) < 0
        || strcasestr (rec->text, "zyxwquor")) {
        __builtin_trap ();
    }
    hg_arena_destroy (&a);
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
    s_check_note (in);
    return 0;
}
