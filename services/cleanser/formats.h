/*
 * formats.h -- the cleanser's parser table: one row per payload type.
 *
 * The formats themselves (names, payload types, summaries) are the one
 * table in common/format.h; this table gives each payload type its parser,
 * all called the same way. Adding a format is a row there and a row here
 * (formats.c); test_parsers checks that every format has its parser.
 */
#ifndef HG_FORMATS_H
#define HG_FORMATS_H

#include <stddef.h>

#include "batch.h"
#include "csv.h"
#include "hourglass.pb-c.h"
#include "vcf.h"

/* What a parser may need besides the payload. */
typedef struct {
    hg_parse_limits_t limits;
    const char *partner; /* the payload's partner */
    /* CSV: the partner's mapping; when NULL it is read from
     * <csv_mappings>/<partner>.map per payload (mappings are small, and a
     * partner's data manager may fix one without a restart) */
    const hg_csv_mapping_t *csv_map;
    const char *csv_mappings;
    const hg_vcf_options_t *vcf; /* VCF sample map; NULL: none */
} hg_parse_ctx_t;

/* Parses data[0..len) into batch; returns what the format's parser returns
 * (records added, >= 0, or an hg_err_t code; the rejects say why). */
typedef int (*hg_parse_fn_t) (const char *data, size_t len, const hg_parse_ctx_t *ctx,
                              hg_batch_t *batch);

typedef struct {
    Hourglass__PayloadType type;
    hg_parse_fn_t parse;
} hg_parser_t;

/* The parser of a payload type; NULL when there is none. */
const hg_parser_t *hg_parser_by_type (Hourglass__PayloadType type);

/* Parses a payload with the parser of its type. A type without a parser
 * rejects the whole payload, naming format (the partner's spelling) and
 * the supported formats; returns HG_EINVAL then. */
int hg_parser_run (Hourglass__PayloadType type, const char *format, const char *data, size_t len,
                   const hg_parse_ctx_t *ctx, hg_batch_t *batch);

#endif
