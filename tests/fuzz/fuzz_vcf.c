/*
 * fuzz_vcf.c -- libFuzzer target for hg_vcf_parse (see README.md).
 */
#include <stddef.h>
#include <stdint.h>

#include "vcf.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    hg_batch_t *batch = hg_batch_new (64u << 20);
    if (!batch) {
        return 0;
    }
    static const hg_vcf_sample_t map[] = {{"NA00001", "patient-1"}, {"S1", "patient-2"}};
    hg_vcf_options_t opts = {map, 2};
    hg_parse_limits_t limits = {.max_field_bytes = 1u << 20, .max_records = 10000};
    int rc = hg_vcf_parse ((const char *) data, size, &opts, &limits, batch);
    /* the contract the service relies on */
    if (rc >= 0 && (size_t) rc != hg_batch_record_count (batch)) {
        __builtin_trap ();
    }
    Hourglass__Record **recs = hg_batch_records (batch);
    for (size_t i = 0; i < hg_batch_record_count (batch); i++) {
        if (!recs[i]->provenance || !recs[i]->patient_ref || !*recs[i]->patient_ref
            || !recs[i]->effective || recs[i]->n_codes < 1 || !recs[i]->string_value) {
            __builtin_trap ();
        }
    }
    hg_batch_destroy (&batch);
    return 0;
}
