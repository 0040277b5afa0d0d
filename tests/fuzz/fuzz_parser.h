/*
 * fuzz_parser.h -- the harness every parser's fuzz target shares (see
 * README.md).
 *
 * hg_fuzz_parse parses the input with the parser the cleanser's table
 * (services/cleanser/formats.c) gives the format, with limits
 * {max_field_bytes = 1 MiB, max_records = 10000}, into a fresh batch, and
 * traps when the result breaks the contract the service relies on: a
 * return value other than the record count, a record without provenance,
 * patient_ref or effective, or one the target's own check refuses.
 * HG_FUZZ_PARSER_TARGET defines the entry point of a target that needs
 * nothing else.
 */
#ifndef HG_FUZZ_PARSER_H
#define HG_FUZZ_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format.h"
#include "formats.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* What a target requires of every record beyond the common contract;
 * false traps. */
typedef bool (*hg_fuzz_check_t) (const Hourglass__Record *rec);

/* ctx: what the parser needs besides the limits, which are set here. */
static inline void
hg_fuzz_parse (const char *format, const uint8_t *data, size_t size, hg_parse_ctx_t *ctx,
               hg_fuzz_check_t check)
{
    const hg_format_t *f = hg_format_by_name (format);
    const hg_parser_t *parser = f ? hg_parser_by_type (f->type) : NULL;
    if (!parser) {
        __builtin_trap (); /* the target names a format without a parser */
    }
    hg_batch_t *batch = hg_batch_new (64u << 20);
    if (!batch) {
        return;
    }
    ctx->limits = (hg_parse_limits_t) {.max_field_bytes = 1u << 20, .max_records = 10000};
    int rc = parser->parse ((const char *) data, size, ctx, batch);
    if (rc >= 0 && (size_t) rc != hg_batch_record_count (batch)) {
        __builtin_trap ();
    }
    Hourglass__Record **recs = hg_batch_records (batch);
    for (size_t i = 0; i < hg_batch_record_count (batch); i++) {
        if (!recs[i]->provenance || !recs[i]->patient_ref || !recs[i]->effective
            || (check && !check (recs[i]))) {
            __builtin_trap ();
        }
    }
    hg_batch_destroy (&batch);
}

#define HG_FUZZ_PARSER_TARGET(format, check)                      \
    int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size) \
    {                                                             \
        hg_parse_ctx_t ctx = {.partner = "fuzz"};                 \
        hg_fuzz_parse (format, data, size, &ctx, check);          \
        return 0;                                                 \
    }

#endif
