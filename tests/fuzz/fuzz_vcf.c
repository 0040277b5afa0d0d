/*
 * fuzz_vcf.c -- libFuzzer target for hg_vcf_parse (see README.md), with a
 * sample map.
 */
#include "fuzz_parser.h"

static bool
s_variant_ok (const Hourglass__Record *rec)
{
    return *rec->patient_ref && rec->n_codes >= 1 && rec->string_value;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    static const hg_vcf_sample_t map[] = {{"NA00001", "patient-1"}, {"S1", "patient-2"}};
    hg_vcf_options_t opts = {map, 2};
    hg_parse_ctx_t ctx = {.partner = "fuzz", .vcf = &opts};
    hg_fuzz_parse ("vcf", data, size, &ctx, s_variant_ok);
    return 0;
}
