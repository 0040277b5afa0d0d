/*
 * fuzz_csv.c -- libFuzzer target for hg_csv_parse (see README.md).
 *
 * The first byte of the input picks one of a few partner mappings (kinds,
 * delimiters, encodings, date formats); the rest is the payload.
 */
#include <string.h>

#include "fuzz_parser.h"

static const char *const s_mappings[] = {
    "kind = lab-observation\ndelimiter = ;\nencoding = latin1\ncolumn.patient = PATIENT_ID\n"
    "column.code = LOINC\ncode_system = loinc\ncolumn.value = RESULT\ncolumn.unit = UNIT\n"
    "column.effective = DATE\ndate_format = %d.%m.%Y\ncolumn.display = TEST_NAME\n"
    "decimal = ,\n",
    "kind = demographics\ncolumn.patient = Id\ncolumn.given = FIRST\ncolumn.family = LAST\n"
    "column.birth_date = BIRTHDATE\ncolumn.deceased_date = DEATHDATE\ncolumn.sex = GENDER\n"
    "column.address = ADDRESS\ncolumn.postal_code = ZIP\ncolumn.identifier = SSN\n",
    "kind = condition\ndelimiter = tab\ncolumn.patient = p\ncolumn.code = c\n"
    "column.code_system = s\ncolumn.effective = d\ndate_format = hl7\n",
    "kind = medication\ndelimiter = |\ncolumn.patient = P\ncolumn.code = C\ncode_system = rxnorm\n"
    "column.effective = START\ndate_format = %m/%d/%Y\ncolumn.id = ID\n",
    "kind = procedure\ncolumn.patient = PATIENT\ncolumn.code = CODE\ncode_system = snomed\n"
    "column.display = DESCRIPTION\ncolumn.effective = START\ncolumn.effective_end = STOP\n",
};
#define S_N_MAPPINGS (sizeof (s_mappings) / sizeof (s_mappings[0]))

static bool
s_row_ok (const Hourglass__Record *rec)
{
    return *rec->patient_ref && rec->provenance->source_record_id;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    static hg_csv_mapping_t *maps[S_N_MAPPINGS];
    static int ready;
    if (!ready) {
        for (size_t i = 0; i < S_N_MAPPINGS; i++) {
            if (hg_csv_mapping_parse (s_mappings[i], strlen (s_mappings[i]), &maps[i], NULL)
                < 0) {
                __builtin_trap ();
            }
        }
        ready = 1;
    }
    const hg_csv_mapping_t *map = maps[size ? data[0] % S_N_MAPPINGS : 0];
    /* files that do not start with a selector byte (Synthea samples) keep
     * it: the header then names an unknown first column at worst */
    hg_parse_ctx_t ctx = {.partner = "fuzz", .csv_map = map};
    hg_fuzz_parse ("csv", data + (size ? 1 : 0), size ? size - 1 : 0, &ctx, s_row_ok);
    /* a mapping text from the input must never crash the mapping parser */
    hg_csv_mapping_t *fuzzed = NULL;
    if (hg_csv_mapping_parse ((const char *) data, size, &fuzzed, NULL) == 0 && !fuzzed) {
        __builtin_trap ();
    }
    hg_csv_mapping_destroy (&fuzzed);
    return 0;
}
