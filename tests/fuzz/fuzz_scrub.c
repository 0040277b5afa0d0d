/*
 * fuzz_scrub.c -- libFuzzer target for the free-text scrubber (see
 * README.md): notes are partner text. Traps when the contract breaks: a
 * span outside the text, empty, unsorted or overlapping, of no known type;
 * a span that splits a valid UTF-8 sequence; a replacement whose length
 * differs between a sized and a NULL run, or that writes past its buffer.
 * The first byte picks the date shift.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scrub.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static hg_scrub_t *s_sc;

static int
s_continuation (const uint8_t *p, size_t size, size_t at)
{
    /* a continuation byte right after a lead byte whose sequence is whole */
    if (at == 0 || at >= size || (p[at] & 0xC0) != 0x80) {
        return 0;
    }
    size_t lead = at;
    while (lead > 0 && at - lead < 3 && (p[lead] & 0xC0) == 0x80) {
        lead--;
    }
    uint8_t c = p[lead];
    size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (n == 1 || lead + n > size) {
        return 0;
    }
    for (size_t k = 1; k < n; k++) {
        if ((p[lead + k] & 0xC0) != 0x80) {
            return 0;
        }
    }
    return at < lead + n;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (!s_sc && !(s_sc = hg_scrub_new (NULL))) {
        __builtin_trap ();
    }
    int shift = size ? (int) data[0] - 128 : 0;
    const hg_scrub_span_t *sp;
    size_t n;
    if (hg_scrub_find (s_sc, (const char *) data, size, &sp, &n) != 0) {
        return 0;
    }
    for (size_t k = 0; k < n; k++) {
        if (sp[k].start >= sp[k].end || sp[k].end > size
            || (unsigned) sp[k].type >= HG_SCRUB_NTYPES || (k > 0 && sp[k].start < sp[k - 1].end)
            || s_continuation (data, size, sp[k].start)
            || s_continuation (data, size, sp[k].end)) {
            __builtin_trap ();
        }
    }
    hg_scrub_replace_t opt = {.shift_days = shift};
    size_t need = hg_scrub_replace ((const char *) data, size, sp, n, &opt, NULL, 0);
    char *out = malloc (need + 1);
    if (!out) {
        return 0;
    }
    if (hg_scrub_replace ((const char *) data, size, sp, n, &opt, out, need + 1) != need
        || out[need] != '\0') {
        __builtin_trap ();
    }
    free (out);
    return 0;
}
