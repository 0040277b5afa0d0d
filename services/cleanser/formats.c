/*
 * formats.c -- the cleanser's parser table (see formats.h).
 */
#include "formats.h"

#include <stdio.h>
#include <stdlib.h>

#include "dicom.h"
#include "fhir.h"
#include "format.h"
#include "hl7v2.h"
#include "util.h"

static int
s_fhir (const char *data, size_t len, const hg_parse_ctx_t *ctx, hg_batch_t *batch)
{
    return hg_fhir_parse (data, len, &ctx->limits, batch);
}

static int
s_hl7v2 (const char *data, size_t len, const hg_parse_ctx_t *ctx, hg_batch_t *batch)
{
    return hg_hl7v2_parse (data, len, &ctx->limits, batch);
}

/* CSV needs the partner's mapping: the one given, else its mapping file. */
static int
s_csv (const char *data, size_t len, const hg_parse_ctx_t *ctx, hg_batch_t *batch)
{
    if (ctx->csv_map) {
        return hg_csv_parse (data, len, ctx->csv_map, &ctx->limits, batch);
    }
    char path[4096], *text = NULL;
    size_t tlen;
    hg_err_t err = {0};
    snprintf (path, sizeof (path), "%.2000s/%.200s.map", ctx->csv_mappings, ctx->partner);
    hg_csv_mapping_t *map = NULL;
    int rc = HG_EINVAL;
    if (hg_read_file (path, 1 << 20, &text, &tlen, &err) < 0) {
        hg_batch_reject (batch, data, len, "payload",
                         "no CSV mapping for partner '%s': %s (write one, see csv.h, and push "
                         "again)",
                         ctx->partner, err.msg);
    }
    else if (hg_csv_mapping_parse (text, tlen, &map, &err) < 0) {
        hg_batch_reject (batch, data, len, "payload", "CSV mapping %s is invalid: %s", path,
                         err.msg);
    }
    else {
        rc = hg_csv_parse (data, len, map, &ctx->limits, batch);
    }
    hg_csv_mapping_destroy (&map);
    free (text);
    return rc;
}

static int
s_vcf (const char *data, size_t len, const hg_parse_ctx_t *ctx, hg_batch_t *batch)
{
    return hg_vcf_parse (data, len, ctx->vcf, &ctx->limits, batch);
}

static int
s_dicom (const char *data, size_t len, const hg_parse_ctx_t *ctx, hg_batch_t *batch)
{
    return hg_dicom_parse (data, len, &ctx->limits, batch);
}

static const hg_parser_t s_parsers[] = {
    {HOURGLASS__PAYLOAD_TYPE__PAYLOAD_FHIR, s_fhir},
    {HOURGLASS__PAYLOAD_TYPE__PAYLOAD_HL7V2, s_hl7v2},
    {HOURGLASS__PAYLOAD_TYPE__PAYLOAD_CSV, s_csv},
    {HOURGLASS__PAYLOAD_TYPE__PAYLOAD_VCF, s_vcf},
    {HOURGLASS__PAYLOAD_TYPE__PAYLOAD_DICOM, s_dicom},
};

const hg_parser_t *
hg_parser_by_type (Hourglass__PayloadType type)
{
    for (size_t i = 0; i < sizeof (s_parsers) / sizeof (s_parsers[0]); i++) {
        if (s_parsers[i].type == type) {
            return &s_parsers[i];
        }
    }
    return NULL;
}

int
hg_parser_run (Hourglass__PayloadType type, const char *format, const char *data, size_t len,
               const hg_parse_ctx_t *ctx, hg_batch_t *batch)
{
    const hg_parser_t *parser = hg_parser_by_type (type);
    if (parser) {
        return parser->parse (data, len, ctx, batch);
    }
    char names[HG_FORMAT_NAMES_MAX];
    hg_batch_reject (batch, data, len, "payload",
                     "format '%s' is not supported (supported: %s); push it again with "
                     "the right --format",
                     format ? format : "", hg_format_names (", ", names, sizeof (names)));
    return HG_EINVAL;
}
