/*
 * fuzz_dicom.c -- libFuzzer target for hg_dicom_parse (see README.md).
 */
#include <stddef.h>
#include <stdint.h>

#include "dicom.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    hg_batch_t *batch = hg_batch_new (64u << 20);
    if (!batch) {
        return 0;
    }
    hg_parse_limits_t limits = {.max_field_bytes = 1u << 20, .max_records = 10000};
    int rc = hg_dicom_parse ((const char *) data, size, &limits, batch);
    /* the contract the service relies on */
    if (rc >= 0 && (size_t) rc != hg_batch_record_count (batch)) {
        __builtin_trap ();
    }
    Hourglass__Record **recs = hg_batch_records (batch);
    for (size_t i = 0; i < hg_batch_record_count (batch); i++) {
        if (!recs[i]->provenance || !recs[i]->patient_ref || !*recs[i]->patient_ref
            || !recs[i]->effective || !recs[i]->text) {
            __builtin_trap ();
        }
    }
    hg_batch_destroy (&batch);
    return 0;
}
