/*
 * fuzz_normalize.c -- libFuzzer target for hg_normalize_record and its
 * building blocks (see README.md).
 *
 * The input is up to 13 lines, the fields of one record: code system, code,
 * value (decimal text), unit, comparator, effective, birth date, deceased
 * date, sex, code_value system, code_value code, identifier system,
 * identifier value. Missing lines are empty. Traps when the result breaks
 * the contract: a NULL string, a flag without name or message, a flag
 * message with a byte that is not printable ASCII, more flags than room.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "normalize.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define S_FIELDS 13

static void
s_check_str (const char *s)
{
    if (!s) {
        __builtin_trap ();
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    hg_batch_t *batch = hg_batch_new (8u << 20);
    if (!batch) {
        return 0;
    }
    hg_arena_t *a = hg_batch_arena (batch);
    char *f[S_FIELDS];
    size_t start = 0;
    for (int i = 0; i < S_FIELDS; i++) {
        size_t end = start;
        while (end < size && data[end] != '\n') {
            end++;
        }
        f[i] = hg_arena_strndup (a, start < size ? (const char *) data + start : "",
                                 start < size ? end - start : 0);
        if (!f[i]) {
            goto cleanup;
        }
        start = end < size ? end + 1 : size;
    }

    /* the building blocks, on every field */
    for (int i = 0; i < S_FIELDS; i++) {
        (void) hg_loinc_valid (f[i]);
        (void) hg_snomed_valid (f[i]);
        (void) hg_icd10cm_valid (f[i]);
        (void) hg_npi_valid (f[i]);
        (void) hg_sex_canonical (f[i]);
        (void) hg_ucum_canonical (f[i]);
    }
    double value = strtod (f[2], NULL);
    double out = 0;
    const char *out_unit = NULL;
    if (hg_ucum_convert (f[1], value, f[3], &out, &out_unit) == 0
        && (!isfinite (out) || !out_unit)) {
        __builtin_trap ();
    }

    Hourglass__Record *rec = hg_batch_add_record (batch,
                                                  HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION);
    if (!rec || hg_record_add_code (a, rec, f[0], f[1], NULL) < 0
        || hg_record_add_identifier (a, rec, f[11], f[12], NULL) < 0) {
        goto cleanup;
    }
    if (*f[9] || *f[10]) {
        rec->code_value = hg_coding_new (a, f[9], f[10], NULL);
        rec->value_case = HOURGLASS__RECORD__VALUE_CODE_VALUE;
    }
    else {
        rec->quantity = hg_quantity_new (a, value, f[3]);
        if (rec->quantity) {
            rec->quantity->comparator = f[4];
        }
        rec->value_case = HOURGLASS__RECORD__VALUE_QUANTITY;
    }
    rec->effective = f[5];
    rec->demographics = hg_demographics_new (a);
    if (!rec->demographics
        || (rec->value_case == HOURGLASS__RECORD__VALUE_CODE_VALUE && !rec->code_value)
        || (rec->value_case == HOURGLASS__RECORD__VALUE_QUANTITY && !rec->quantity)) {
        goto cleanup;
    }
    rec->demographics->sex = f[8];
    rec->demographics->birth_date = f[6];
    rec->demographics->deceased_date = f[7];

    hg_norm_ctx_t ctx = {.today_days = 19875};
    hg_flag_t flags[HG_NORM_MAX_FLAGS];
    /* once with the demographics' dates, once with explicit ones */
    for (int pass = 0; pass < 2; pass++) {
        int n = hg_normalize_record (&ctx, a, rec, pass ? f[6] : NULL, pass ? f[7] : NULL, flags,
                                     pass ? 2 : HG_NORM_MAX_FLAGS);
        if (n > (pass ? 2 : HG_NORM_MAX_FLAGS)) {
            __builtin_trap ();
        }
        for (int i = 0; i < n; i++) {
            if (!flags[i].code || !flags[i].message
                || strcmp (flags[i].code, hg_flag_name (flags[i].kind)) != 0) {
                __builtin_trap ();
            }
            for (const char *p = flags[i].message; *p; p++) {
                if ((unsigned char) *p < 0x20 || (unsigned char) *p >= 0x7f) {
                    __builtin_trap ();
                }
            }
        }
        s_check_str (rec->effective);
        s_check_str (rec->codes[0]->system);
        s_check_str (rec->codes[0]->code);
        s_check_str (rec->identifiers[0]->system);
        s_check_str (rec->identifiers[0]->value);
        s_check_str (rec->demographics->sex);
        s_check_str (rec->demographics->birth_date);
        s_check_str (rec->demographics->deceased_date);
        if (rec->value_case == HOURGLASS__RECORD__VALUE_QUANTITY) {
            s_check_str (rec->quantity->unit);
            s_check_str (rec->quantity->comparator);
        }
        else {
            s_check_str (rec->code_value->system);
            s_check_str (rec->code_value->code);
        }
        const char *sex = rec->demographics->sex;
        if (*sex && strcmp (sex, "male") && strcmp (sex, "female") && strcmp (sex, "other")
            && strcmp (sex, "unknown")) {
            __builtin_trap ();
        }
    }

cleanup:
    hg_batch_destroy (&batch);
    return 0;
}
