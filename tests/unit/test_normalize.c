/*
 * test_normalize.c -- record standardisation and validation
 * (services/cleanser/normalize.c): check digits, code syntax, unit
 * conversion, plausibility and date flags, sex codes, hostile input.
 */
#include "unit_test.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "normalize.h"
#include "ucum.h"

/* 2024-06-01 */
#define S_TODAY 19875

typedef struct {
    hg_batch_t *batch;
    hg_arena_t *a;
    hg_norm_ctx_t ctx;
    hg_flag_t flags[HG_NORM_MAX_FLAGS];
} s_fix_t;

static int
s_setup (void **state)
{
    s_fix_t *f = calloc (1, sizeof *f);
    if (!f) {
        return -1;
    }
    f->batch = hg_batch_new (0);
    f->a = hg_batch_arena (f->batch);
    f->ctx.today_days = S_TODAY;
    *state = f;
    return 0;
}

static int
s_teardown (void **state)
{
    s_fix_t *f = *state;
    hg_batch_destroy (&f->batch);
    free (f);
    return 0;
}

static Hourglass__Record *
s_lab (s_fix_t *f, const char *loinc, double value, const char *unit)
{
    Hourglass__Record *r = hg_batch_add_record (f->batch,
                                                HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION);
    assert_non_null (r);
    assert_int_equal (hg_record_add_code (f->a, r, HG_SYS_LOINC, loinc, NULL), 0);
    r->quantity = hg_quantity_new (f->a, value, unit);
    assert_non_null (r->quantity);
    r->value_case = HOURGLASS__RECORD__VALUE_QUANTITY;
    return r;
}

static Hourglass__Record *
s_coded (s_fix_t *f, const char *system, const char *code)
{
    Hourglass__Record *r = hg_batch_add_record (f->batch, HOURGLASS__RECORD_KIND__KIND_CONDITION);
    assert_non_null (r);
    assert_int_equal (hg_record_add_code (f->a, r, system, code, NULL), 0);
    return r;
}

static int
s_norm (s_fix_t *f, Hourglass__Record *r)
{
    return hg_normalize_record (&f->ctx, f->a, r, NULL, NULL, f->flags, HG_NORM_MAX_FLAGS);
}

/* Exactly one flag, of this kind, with this message. */
static void
s_expect_one (s_fix_t *f, Hourglass__Record *r, hg_flag_kind_t kind, const char *message)
{
    int n = s_norm (f, r);
    if (n != 1) {
        for (int i = 0; i < n; i++) {
            fprintf (stderr, "flag %d: %s: %s\n", i, f->flags[i].code, f->flags[i].message);
        }
    }
    assert_int_equal (n, 1);
    assert_int_equal (f->flags[0].kind, kind);
    assert_string_equal (f->flags[0].code, hg_flag_name (kind));
    assert_string_equal (f->flags[0].message, message);
}

static void
s_expect_none (s_fix_t *f, Hourglass__Record *r)
{
    int n = s_norm (f, r);
    for (int i = 0; i < n; i++) {
        fprintf (stderr, "unexpected flag %d: %s: %s\n", i, f->flags[i].code,
                 f->flags[i].message);
    }
    assert_int_equal (n, 0);
}

static void
s_assert_close (double got, double want)
{
    double tol = fabs (want) * 1e-9;
    if (fabs (got - want) > tol) {
        fail_msg ("got %.17g, want %.17g", got, want);
    }
}

/* ------------------------------------------------------------------------- */

static void
test_loinc (void **state)
{
    (void) state;
    assert_true (hg_loinc_valid ("2345-7"));
    assert_false (hg_loinc_valid ("2345-8"));
    assert_true (hg_loinc_valid ("718-7"));
    assert_true (hg_loinc_valid ("4548-4"));
    assert_true (hg_loinc_valid ("2160-0"));
    assert_true (hg_loinc_valid ("2093-3"));
    assert_true (hg_loinc_valid ("2823-3"));
    assert_true (hg_loinc_valid ("2951-2"));
    assert_true (hg_loinc_valid ("8480-6"));   /* systolic blood pressure */
    assert_true (hg_loinc_valid ("LA6576-8")); /* answer code: syntax only */
    assert_false (hg_loinc_valid ("2345"));
    assert_false (hg_loinc_valid ("2345-"));
    assert_false (hg_loinc_valid ("-7"));
    assert_false (hg_loinc_valid ("2345-77"));
    assert_false (hg_loinc_valid ("23a5-7"));
    assert_false (hg_loinc_valid ("12345678-1"));
    assert_false (hg_loinc_valid (" 2345-7"));
    assert_false (hg_loinc_valid (""));
    assert_false (hg_loinc_valid (NULL));
}

static void
test_snomed (void **state)
{
    (void) state;
    assert_true (hg_snomed_valid ("44054006")); /* diabetes mellitus type 2 */
    assert_false (hg_snomed_valid ("44054007"));
    assert_true (hg_snomed_valid ("38341003")); /* hypertensive disorder */
    /* real codes of the Synthea samples, short and long (extension) form */
    static const char *const real[] = {
        "195967001",         "102263004",          "10383002",        "104375008",
        "1121000119107",     "1571000087109",      "157141000119108", "16335031000119103",
        "10939881000119105", "900000000000207008", /* core module, 18 digits */
    };
    for (size_t i = 0; i < sizeof real / sizeof real[0]; i++) {
        if (!hg_snomed_valid (real[i])) {
            fail_msg ("SNOMED CT %s rejected", real[i]);
        }
    }
    assert_true (hg_snomed_valid ("123456789023")); /* relationship id, partition 02 */
    assert_false (hg_snomed_valid ("1234030"));     /* Verhoeff ok, partition 03 */
    assert_false (hg_snomed_valid ("12345107"));    /* partition 10 without namespace */
    assert_false (hg_snomed_valid ("12345"));       /* too short */
    assert_false (hg_snomed_valid ("0044054006"));  /* leading zero */
    assert_false (hg_snomed_valid ("4405400x"));
    assert_false (hg_snomed_valid ("1234567890123456789")); /* 19 digits */
    assert_false (hg_snomed_valid (""));
    assert_false (hg_snomed_valid (NULL));
}

static void
test_icd10cm (void **state)
{
    (void) state;
    assert_true (hg_icd10cm_valid ("E11.9"));
    assert_true (hg_icd10cm_valid ("I10"));
    assert_true (hg_icd10cm_valid ("J45.909"));
    assert_true (hg_icd10cm_valid ("J45909"));
    assert_true (hg_icd10cm_valid ("C4A.0"));
    assert_true (hg_icd10cm_valid ("S72.001A"));
    assert_true (hg_icd10cm_valid ("e11.9"));
    assert_false (hg_icd10cm_valid ("E1.9"));
    assert_false (hg_icd10cm_valid ("E11."));
    assert_false (hg_icd10cm_valid ("E11.12345"));
    assert_false (hg_icd10cm_valid ("111.9"));
    assert_false (hg_icd10cm_valid ("E11-9"));
    assert_false (hg_icd10cm_valid ("E1"));
    assert_false (hg_icd10cm_valid (""));
    assert_false (hg_icd10cm_valid (NULL));
}

static void
test_npi (void **state)
{
    (void) state;
    assert_true (hg_npi_valid ("1234567893"));
    assert_false (hg_npi_valid ("1234567890"));
    assert_false (hg_npi_valid ("123456789"));
    assert_false (hg_npi_valid ("12345678930"));
    assert_false (hg_npi_valid ("12345a7893"));
    assert_false (hg_npi_valid (""));
    assert_false (hg_npi_valid (NULL));
}

static void
test_ucum_spelling (void **state)
{
    (void) state;
    assert_string_equal (hg_ucum_canonical ("mg/dl"), "mg/dL");
    assert_string_equal (hg_ucum_canonical (" MG/DL "), "mg/dL");
    assert_string_equal (hg_ucum_canonical ("mmol/l"), "mmol/L");
    assert_string_equal (hg_ucum_canonical ("percent"), "%");
    assert_string_equal (hg_ucum_canonical ("%"), "%");
    assert_string_equal (hg_ucum_canonical ("\xc2\xb5mol/L"), "umol/L");
    assert_string_equal (hg_ucum_canonical ("\xce\xbcmol/l"), "umol/L");
    assert_string_equal (hg_ucum_canonical ("mEq/L"), "meq/L");
    assert_string_equal (hg_ucum_canonical ("g / l"), "g/L");
    assert_null (hg_ucum_canonical ("furlong/fortnight"));
    assert_null (hg_ucum_canonical (""));
    assert_null (hg_ucum_canonical (NULL));
}

static void
test_ucum_convert (void **state)
{
    (void) state;
    static const struct {
        const char *loinc;
        double value;
        const char *unit;
        double want;
        const char *want_unit;
    } cases[] = {
        {"2345-7", 5.5, "mmol/L", 99.0, "mg/dL"},
        {"2345-7", 5.5, "mmol/l", 99.0, "mg/dL"},
        {"2345-7", 99.0, "mg/dl", 99.0, "mg/dL"},
        {"2160-0", 88.42, "umol/L", 1.0, "mg/dL"},
        {"2160-0", 100.0, "\xc2\xb5mol/L", 100.0 / 88.42, "mg/dL"},
        {"2160-0", 1.2, "mg/dL", 1.2, "mg/dL"},
        {"2093-3", 5.0, "mmol/L", 193.35, "mg/dL"},
        {"2093-3", 200.0, "mg/dL", 200.0, "mg/dL"},
        {"4548-4", 48.0, "mmol/mol", 6.54304, "%"},
        {"4548-4", 6.5, "percent", 6.5, "%"},
        {"718-7", 140.0, "g/L", 14.0, "g/dL"},
        {"718-7", 8.5, "mmol/L", 13.6935, "g/dL"},
        {"718-7", 13.5, "g/dl", 13.5, "g/dL"},
        {"2823-3", 4.2, "mEq/L", 4.2, "mmol/L"},
        {"2823-3", 4.2, "mmol/L", 4.2, "mmol/L"},
        {"2951-2", 140.0, "meq/l", 140.0, "mmol/L"},
        {"2951-2", 140.0, "mmol/L", 140.0, "mmol/L"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double v = -1;
        const char *u = NULL;
        assert_int_equal (hg_ucum_convert (cases[i].loinc, cases[i].value, cases[i].unit, &v, &u),
                          0);
        s_assert_close (v, cases[i].want);
        assert_string_equal (u, cases[i].want_unit);
    }
    double v = 42;
    const char *u = "untouched";
    assert_int_equal (hg_ucum_convert ("2345-7", 5, "g/L", &v, &u), HG_EINVAL);
    assert_int_equal (hg_ucum_convert ("2345-7", 5, "", &v, &u), HG_EINVAL);
    assert_int_equal (hg_ucum_convert ("2345-7", 5, NULL, &v, &u), HG_EINVAL);
    assert_int_equal (hg_ucum_convert ("8480-6", 120, "mm[Hg]", &v, &u), HG_ENOTFOUND);
    assert_int_equal (hg_ucum_convert (NULL, 1, "mg/dL", &v, &u), HG_ENOTFOUND);
    assert_int_equal (hg_ucum_convert ("2345-7", NAN, "mmol/L", &v, &u), HG_ELIMIT);
    assert_int_equal (hg_ucum_convert ("2345-7", INFINITY, "mg/dL", &v, &u), HG_ELIMIT);
    assert_int_equal (hg_ucum_convert ("2093-3", DBL_MAX, "mmol/L", &v, &u), HG_ELIMIT);
    assert_true (v == 42);
    assert_string_equal (u, "untouched");

    double lo, hi;
    assert_true (hg_analyte_range ("2345-7", &lo, &hi));
    assert_true (lo == 10 && hi == 2000);
    assert_true (hg_analyte_range ("2951-2", &lo, &hi));
    assert_true (lo == 90 && hi == 200);
    assert_false (hg_analyte_range ("8480-6", &lo, &hi));
}

static void
test_sex (void **state)
{
    (void) state;
    static const char *const cases[][2] = {
        {"M", "male"},      {"male", "male"},     {"Male", "male"},       {"1", "male"},
        {"F", "female"},    {"Female", "female"}, {"2", "female"},        {" f ", "female"},
        {"O", "other"},     {"A", "other"},       {"nonbinary", "other"}, {"U", "unknown"},
        {"UNK", "unknown"}, {"0", "unknown"},     {"9", "unknown"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_string_equal (hg_sex_canonical (cases[i][0]), cases[i][1]);
    }
    assert_null (hg_sex_canonical ("zz"));
    assert_null (hg_sex_canonical (""));
    assert_null (hg_sex_canonical (NULL));
    char pad[80];
    memset (pad, ' ', sizeof pad);
    memcpy (pad, "male", 4);
    pad[sizeof pad - 2] = 'x';
    pad[sizeof pad - 1] = '\0';
    assert_null (hg_sex_canonical (pad));
}

static void
test_flag_names (void **state)
{
    (void) state;
    assert_string_equal (hg_flag_name (HG_FLAG_NONE), "none");
    assert_string_equal (hg_flag_name (HG_FLAG_CODE_INVALID_CHECK_DIGIT),
                         "code.invalid_check_digit");
    assert_string_equal (hg_flag_name (HG_FLAG_CODE_BAD_SYNTAX), "code.bad_syntax");
    assert_string_equal (hg_flag_name (HG_FLAG_CODE_UNKNOWN_SYSTEM), "code.unknown_system");
    assert_string_equal (hg_flag_name (HG_FLAG_UNIT_UNCONVERTIBLE), "unit.unconvertible");
    assert_string_equal (hg_flag_name (HG_FLAG_VALUE_IMPLAUSIBLE), "value.implausible");
    assert_string_equal (hg_flag_name (HG_FLAG_DATE_INVALID), "date.invalid");
    assert_string_equal (hg_flag_name (HG_FLAG_DATE_BEFORE_BIRTH), "date.before_birth");
    assert_string_equal (hg_flag_name (HG_FLAG_DATE_AFTER_DEATH), "date.after_death");
    assert_string_equal (hg_flag_name (HG_FLAG_DATE_IN_FUTURE), "date.in_future");
    assert_string_equal (hg_flag_name (HG_FLAG_SEX_UNRECOGNISED), "sex.unrecognised");
    assert_string_equal (hg_flag_name ((hg_flag_kind_t) 999), "unknown");
    assert_string_equal (hg_flag_name ((hg_flag_kind_t) -1), "unknown");
    for (int k = 0; k < HG_FLAG_COUNT_; k++) {
        const char *d = hg_flag_describe ((hg_flag_kind_t) k);
        assert_true (strlen (d) > 10);
        assert_int_equal (d[strlen (d) - 1], '.');
    }
    assert_string_equal (hg_flag_describe ((hg_flag_kind_t) 999), "Unknown flag.");
}

/* ------------------------------------------------------------------------- */

static void
test_record_codes_valid (void **state)
{
    s_fix_t *f = *state;
    Hourglass__Record *r = s_coded (f, HG_SYS_SNOMED, "44054006");
    assert_int_equal (hg_record_add_code (f->a, r, HG_SYS_ICD10CM, "E11.9", NULL), 0);
    assert_int_equal (hg_record_add_code (f->a, r, HG_SYS_RXNORM, "860975", NULL), 0);
    assert_int_equal (hg_record_add_code (f->a, r, HG_SYS_CVX, "140", NULL), 0);
    assert_int_equal (hg_record_add_code (f->a, r, "https://hourglass.local/variant", "x", NULL),
                      0);
    assert_int_equal (hg_record_add_code (f->a, r, "http://www.genenames.org", "BRCA1", NULL), 0);
    assert_int_equal (hg_record_add_code (f->a, r, "http://www.ncbi.nlm.nih.gov/projects/SNP",
                                          "rs1", NULL),
                      0);
    assert_int_equal (hg_record_add_code (f->a, r, "http://dicom.nema.org/resources/ontology/DCM",
                                          "CT", NULL),
                      0);
    assert_int_equal (hg_record_add_code (f->a, r,
                                          "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                                          "AMB", NULL),
                      0);
    assert_int_equal (hg_record_add_code (f->a, r, HG_SYS_NPI, "1234567893", NULL), 0);
    s_expect_none (f, r);
}

static void
test_record_code_normalisation (void **state)
{
    s_fix_t *f = *state;
    /* trimmed system and code; ICD-10-CM upper-cased, compacted, dotted */
    Hourglass__Record *r = s_coded (f, "  http://hl7.org/fhir/sid/icd-10-cm\t", " e11 9 ");
    assert_int_equal (hg_record_add_code (f->a, r, "urn:oid:2.16.840.1.113883.6.1", " 2345-7 ",
                                          NULL),
                      0);
    assert_int_equal (hg_record_add_code (f->a, r, "http://snomed.info/sct/", "44054006", NULL),
                      0);
    assert_int_equal (hg_record_add_code (f->a, r, HG_SYS_ICD10CM, "j45909", NULL), 0);
    assert_int_equal (hg_record_add_code (f->a, r, HG_SYS_ICD10CM, "I10", NULL), 0);
    s_expect_none (f, r);
    assert_string_equal (r->codes[0]->system, HG_SYS_ICD10CM);
    assert_string_equal (r->codes[0]->code, "E11.9");
    assert_string_equal (r->codes[1]->system, HG_SYS_LOINC);
    assert_string_equal (r->codes[1]->code, "2345-7");
    assert_string_equal (r->codes[2]->system, HG_SYS_SNOMED);
    assert_string_equal (r->codes[3]->code, "J45.909");
    assert_string_equal (r->codes[4]->code, "I10");
}

static void
test_flag_check_digits (void **state)
{
    s_fix_t *f = *state;
    s_expect_one (f, s_coded (f, HG_SYS_LOINC, "2345-8"), HG_FLAG_CODE_INVALID_CHECK_DIGIT,
                  "codes[0] LOINC code '2345-8' fails the mod-10 check digit (expected 7)");
    s_expect_one (
        f, s_coded (f, HG_SYS_SNOMED, "44054007"), HG_FLAG_CODE_INVALID_CHECK_DIGIT,
        "codes[0] SNOMED CT code '44054007' fails the Verhoeff check digit (expected 6)");
    s_expect_one (f, s_coded (f, HG_SYS_NPI, "1234567890"), HG_FLAG_CODE_INVALID_CHECK_DIGIT,
                  "codes[0] NPI '1234567890' fails the Luhn check digit (expected 3)");
    /* NPI as a practitioner identifier */
    Hourglass__Record *r = hg_batch_add_record (f->batch, HOURGLASS__RECORD_KIND__KIND_ENCOUNTER);
    assert_int_equal (hg_record_add_identifier (f->a, r, HG_SYS_NPI, "1234567891", NULL), 0);
    assert_int_equal (hg_record_add_identifier (f->a, r, "urn:mrn", "1234567891", "MR"), 0);
    s_expect_one (f, r, HG_FLAG_CODE_INVALID_CHECK_DIGIT,
                  "identifiers[0] NPI '1234567891' fails the Luhn check digit (expected 3)");
}

static void
test_flag_bad_syntax (void **state)
{
    s_fix_t *f = *state;
    s_expect_one (f, s_coded (f, HG_SYS_LOINC, "2345"), HG_FLAG_CODE_BAD_SYNTAX,
                  "codes[0] LOINC code '2345' is not of the form NNNNN-C (1 to 7 digits, '-', "
                  "check digit)");
    s_expect_one (f, s_coded (f, HG_SYS_SNOMED, "0123"), HG_FLAG_CODE_BAD_SYNTAX,
                  "codes[0] SNOMED CT code '0123' is not an SCTID (6 to 18 digits, no leading "
                  "zero, partition 00, 01, 02, 10, 11 or 12)");
    /* a valid description id is not a concept */
    s_expect_one (f, s_coded (f, HG_SYS_SNOMED, "751689013"), HG_FLAG_CODE_BAD_SYNTAX,
                  "codes[0] SNOMED CT code '751689013' has partition 01 (a description id), not "
                  "a concept id (partition 00 or 10)");
    s_expect_one (f, s_coded (f, HG_SYS_ICD10CM, "e1.9"), HG_FLAG_CODE_BAD_SYNTAX,
                  "codes[0] ICD-10-CM code 'E1.9' is not a letter, a digit, a letter or digit, "
                  "then optionally '.' and 1 to 4 letters or digits");
    s_expect_one (f, s_coded (f, HG_SYS_RXNORM, "RX123"), HG_FLAG_CODE_BAD_SYNTAX,
                  "codes[0] RxNorm code 'RX123' is not an RxCUI (1 to 10 digits)");
    s_expect_one (f, s_coded (f, HG_SYS_NPI, "12345"), HG_FLAG_CODE_BAD_SYNTAX,
                  "codes[0] NPI '12345' is not 10 digits");
}

static void
test_flag_unknown_system (void **state)
{
    s_fix_t *f = *state;
    Hourglass__Record *r = s_coded (f, " http://example.org/local ", "X1");
    s_expect_one (f, r, HG_FLAG_CODE_UNKNOWN_SYSTEM,
                  "codes[0] system 'http://example.org/local' is not a known code system; code "
                  "'X1' kept unchecked");
    /* kept, trimmed */
    assert_int_equal (r->n_codes, 1);
    assert_string_equal (r->codes[0]->system, "http://example.org/local");
    assert_string_equal (r->codes[0]->code, "X1");
    s_expect_one (f, s_coded (f, "", "X2"), HG_FLAG_CODE_UNKNOWN_SYSTEM,
                  "codes[0] code 'X2' has no code system");
    /* a code value without a system is not flagged; with a bad LOINC it is */
    r = hg_batch_add_record (f->batch, HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION);
    r->code_value = hg_coding_new (f->a, "", "POS", "positive");
    r->value_case = HOURGLASS__RECORD__VALUE_CODE_VALUE;
    s_expect_none (f, r);
    r->code_value = hg_coding_new (f->a, HG_SYS_LOINC, "1234-5", "");
    s_expect_one (f, r, HG_FLAG_CODE_INVALID_CHECK_DIGIT,
                  "code_value LOINC code '1234-5' fails the mod-10 check digit (expected 4)");
}

static void
test_record_units (void **state)
{
    s_fix_t *f = *state;
    Hourglass__Record *r = s_lab (f, "2345-7", 5.5, " mmol/l ");
    s_expect_none (f, r);
    s_assert_close (r->quantity->value, 99.0);
    assert_string_equal (r->quantity->unit, "mg/dL");

    r = s_lab (f, "4548-4", 48, "mmol/mol");
    s_expect_none (f, r);
    s_assert_close (r->quantity->value, 6.54304);
    assert_string_equal (r->quantity->unit, "%");

    r = s_lab (f, "718-7", 8.5, "mmol/L");
    s_expect_none (f, r);
    s_assert_close (r->quantity->value, 13.6935);
    assert_string_equal (r->quantity->unit, "g/dL");

    /* an analyte outside the table: spelling only */
    r = s_lab (f, "8480-6", 120, "mmHg");
    s_expect_none (f, r);
    s_assert_close (r->quantity->value, 120);
    assert_string_equal (r->quantity->unit, "mm[Hg]");

    /* a spelling outside the table is kept, trimmed */
    r = s_lab (f, "8480-6", 3, " {beats} ");
    s_expect_none (f, r);
    assert_string_equal (r->quantity->unit, "{beats}");
}

static void
test_flag_unit_unconvertible (void **state)
{
    s_fix_t *f = *state;
    Hourglass__Record *r = s_lab (f, "2345-7", 5.5, "g/L");
    s_expect_one (f, r, HG_FLAG_UNIT_UNCONVERTIBLE,
                  "quantity unit 'g/L' of glucose (LOINC 2345-7) cannot be converted to mg/dL; "
                  "value 5.5 kept");
    s_assert_close (r->quantity->value, 5.5);
    assert_string_equal (r->quantity->unit, "g/L");

    r = s_lab (f, "2160-0", 1.1, "");
    s_expect_one (f, r, HG_FLAG_UNIT_UNCONVERTIBLE,
                  "quantity 1.1 has no unit; creatinine (LOINC 2160-0) is expected in mg/dL; "
                  "value kept");
    s_assert_close (r->quantity->value, 1.1);
}

/* A unit that is not UCUM even after the spelling table is flagged (the
 * de-identifier will remove it) and kept; UCUM units, annotated or not, and
 * every spelling the table writes are not. */
static void
test_flag_unit_not_ucum (void **state)
{
    s_fix_t *f = *state;
    Hourglass__Record *r = s_lab (f, "8480-6", 120, "mm Hg per Dr John Doe");
    s_expect_one (f, r, HG_FLAG_UNIT_NOT_UCUM,
                  "quantity unit 'mm Hg per Dr John Doe': unit is not UCUM: a character UCUM "
                  "does not allow at byte 3");
    assert_string_equal (r->quantity->unit, "mm Hg per Dr John Doe");
    s_expect_one (f, s_lab (f, "8480-6", 120, "mcg"), HG_FLAG_UNIT_NOT_UCUM,
                  "quantity unit 'mcg': unit is not UCUM: not a unit Hourglass knows (atom or "
                  "prefix and metric atom) at byte 1");
    static const char *const fine[] = {"mm[Hg]",
                                       "10*3/uL",
                                       "{beats}/min",
                                       "mL/min/{1.73_m2}",
                                       "mmHg",
                                       "mg/dl",
                                       "MG/DL",
                                       "percent",
                                       "IU/L",
                                       "%",
                                       ""};
    for (size_t i = 0; i < sizeof fine / sizeof fine[0]; i++) {
        r = s_lab (f, "8480-6", 120, fine[i]);
        s_expect_none (f, r);
        assert_true (hg_ucum_valid (r->quantity->unit));
    }
    assert_string_equal (hg_flag_name (HG_FLAG_UNIT_NOT_UCUM), "unit.not_ucum");
}

static void
test_flag_value_implausible (void **state)
{
    s_fix_t *f = *state;
    s_expect_one (f, s_lab (f, "2345-7", 5000, "mg/dL"), HG_FLAG_VALUE_IMPLAUSIBLE,
                  "quantity 5000 mg/dL of glucose (LOINC 2345-7) is outside the plausible range "
                  "10..2000 mg/dL");
    /* checked after conversion */
    s_expect_one (f, s_lab (f, "2951-2", 14, "mmol/L"), HG_FLAG_VALUE_IMPLAUSIBLE,
                  "quantity 14 mmol/L of sodium (LOINC 2951-2) is outside the plausible range "
                  "90..200 mmol/L");
    s_expect_one (f, s_lab (f, "2345-7", 0.2, "mmol/L"), HG_FLAG_VALUE_IMPLAUSIBLE,
                  "quantity 3.6 mg/dL of glucose (LOINC 2345-7) is outside the plausible range "
                  "10..2000 mg/dL");
    s_expect_one (f, s_lab (f, "2823-3", -1, "mmol/L"), HG_FLAG_VALUE_IMPLAUSIBLE,
                  "quantity -1 mmol/L of potassium (LOINC 2823-3) is outside the plausible range "
                  "1..15 mmol/L");
    /* edges are plausible */
    s_expect_none (f, s_lab (f, "2345-7", 10, "mg/dL"));
    s_expect_none (f, s_lab (f, "2345-7", 2000, "mg/dL"));
    /* a bound is not implausible on the side it bounds, still on the other */
    Hourglass__Record *r = s_lab (f, "2160-0", 0.01, "mg/dL");
    r->quantity->comparator = hg_arena_strdup (f->a, " < ");
    s_expect_none (f, r);
    assert_string_equal (r->quantity->comparator, "<");
    r = s_lab (f, "2160-0", 100, "mg/dL");
    r->quantity->comparator = hg_arena_strdup (f->a, "<");
    s_expect_one (
        f, r, HG_FLAG_VALUE_IMPLAUSIBLE,
        "quantity <100 mg/dL of creatinine (LOINC 2160-0) is outside the plausible range "
        "0.05..40 mg/dL");
    r = s_lab (f, "2345-7", 2500, "mg/dL");
    r->quantity->comparator = hg_arena_strdup (f->a, ">");
    s_expect_none (f, r);
    /* not finite */
    s_expect_one (f, s_lab (f, "2345-7", INFINITY, "mg/dL"), HG_FLAG_VALUE_IMPLAUSIBLE,
                  "quantity value inf mg/dL is not a finite number");
    r = s_lab (f, "9999-4", NAN, "");
    assert_int_equal (s_norm (f, r), 1);
    assert_string_equal (f->flags[0].code, "value.implausible");
    assert_non_null (strstr (f->flags[0].message, "is not a finite number"));
    s_expect_one (f, s_lab (f, "2093-3", DBL_MAX, "mmol/L"), HG_FLAG_VALUE_IMPLAUSIBLE,
                  "quantity 1.79769e+308 mmol/L of cholesterol (LOINC 2093-3) overflows when "
                  "converted to mg/dL; value kept");
}

static void
test_flag_dates (void **state)
{
    s_fix_t *f = *state;
    Hourglass__Record *r = s_coded (f, HG_SYS_SNOMED, "44054006");
    r->effective = hg_arena_strdup (f->a, "1950-01-01");
    assert_int_equal (hg_normalize_record (&f->ctx, f->a, r, "1960-05-01", NULL, f->flags, 4), 1);
    assert_string_equal (f->flags[0].code, "date.before_birth");
    assert_string_equal (f->flags[0].message,
                         "effective 1950-01-01 is before the birth date 1960-05-01");

    r->effective = hg_arena_strdup (f->a, "2021-03-04T10:00:00Z");
    assert_int_equal (hg_normalize_record (&f->ctx, f->a, r, "1960-05-01", "2020-12", f->flags,
                                           4),
                      1);
    assert_string_equal (f->flags[0].code, "date.after_death");
    assert_string_equal (f->flags[0].message,
                         "effective 2021-03-04T10:00:00Z is after the deceased date 2020-12");

    r->effective = hg_arena_strdup (f->a, "2024-06-03");
    assert_int_equal (hg_normalize_record (&f->ctx, f->a, r, NULL, NULL, f->flags, 4), 1);
    assert_string_equal (f->flags[0].code, "date.in_future");
    assert_string_equal (f->flags[0].message,
                         "effective 2024-06-03 is more than 1 day after today (2024-06-01)");

    /* one day ahead is tolerated (time zones); no ctx: no future check */
    r->effective = hg_arena_strdup (f->a, "2024-06-02T23:59:00+14:00");
    assert_int_equal (hg_normalize_record (&f->ctx, f->a, r, NULL, NULL, f->flags, 4), 0);
    r->effective = hg_arena_strdup (f->a, "2099");
    assert_int_equal (hg_normalize_record (NULL, f->a, r, NULL, NULL, f->flags, 4), 0);

    /* overlapping periods at coarse precision are not flagged */
    r->effective = hg_arena_strdup (f->a, "1960");
    assert_int_equal (hg_normalize_record (&f->ctx, f->a, r, "1960-05-01", "1960-05-01", f->flags,
                                           4),
                      0);
    r->effective = hg_arena_strdup (f->a, "1960-05-01T08:00");
    assert_int_equal (hg_normalize_record (&f->ctx, f->a, r, "1960-05", "1960", f->flags, 4), 0);
    r->effective = hg_arena_strdup (f->a, "1959-12");
    assert_int_equal (hg_normalize_record (&f->ctx, f->a, r, "1960", NULL, f->flags, 4), 1);
    assert_string_equal (f->flags[0].code, "date.before_birth");

    /* everything at once */
    r->effective = hg_arena_strdup (f->a, "2030-01-01");
    assert_int_equal (hg_normalize_record (&f->ctx, f->a, r, "2031-01-01", "2020-01-01", f->flags,
                                           4),
                      3);
    assert_string_equal (f->flags[0].code, "date.before_birth");
    assert_string_equal (f->flags[1].code, "date.after_death");
    assert_string_equal (f->flags[2].code, "date.in_future");
    /* max_flags caps what is stored */
    assert_int_equal (hg_normalize_record (&f->ctx, f->a, r, "2031-01-01", "2020-01-01", f->flags,
                                           2),
                      2);
    assert_int_equal (hg_normalize_record (&f->ctx, f->a, r, "2031-01-01", "2020-01-01", NULL, 5),
                      0);

    /* an unparseable effective */
    r->effective = hg_arena_strdup (f->a, "2020-13-01");
    assert_int_equal (hg_normalize_record (&f->ctx, f->a, r, "1960", NULL, f->flags, 4), 1);
    assert_string_equal (f->flags[0].code, "date.invalid");
    assert_non_null (
        strstr (f->flags[0].message, "effective '2020-13-01' is not an ISO 8601 date: "));
    /* unparseable birth/death arguments are ignored */
    r->effective = hg_arena_strdup (f->a, "2020-01-01");
    assert_int_equal (hg_normalize_record (&f->ctx, f->a, r, "garbage", "", f->flags, 4), 0);
}

static void
test_demographics (void **state)
{
    s_fix_t *f = *state;
    Hourglass__Record *r = hg_batch_add_record (f->batch,
                                                HOURGLASS__RECORD_KIND__KIND_DEMOGRAPHICS);
    r->demographics = hg_demographics_new (f->a);
    r->demographics->sex = (char *) "F"; /* a literal: must not be written to */
    r->demographics->birth_date = hg_arena_strdup (f->a, "1970-02-03");
    s_expect_none (f, r);
    assert_string_equal (r->demographics->sex, "female");

    r->demographics->sex = (char *) " zz ";
    s_expect_one (f, r, HG_FLAG_SEX_UNRECOGNISED,
                  "demographics.sex 'zz' is not a recognised sex code; set to unknown");
    assert_string_equal (r->demographics->sex, "unknown");

    r->demographics->sex = (char *) "";
    s_expect_none (f, r);
    assert_string_equal (r->demographics->sex, "");

    r->demographics->deceased_date = hg_arena_strdup (f->a, "1969-01-01");
    s_expect_one (f, r, HG_FLAG_DATE_BEFORE_BIRTH,
                  "demographics.deceased_date 1969-01-01 is before the birth date 1970-02-03");
    r->demographics->deceased_date = (char *) "";
    r->demographics->birth_date = hg_arena_strdup (f->a, "2025-01-01");
    s_expect_one (
        f, r, HG_FLAG_DATE_IN_FUTURE,
        "demographics.birth_date 2025-01-01 is more than 1 day after today (2024-06-01)");
    r->demographics->birth_date = hg_arena_strdup (f->a, "1970-02-30");
    assert_int_equal (s_norm (f, r), 1);
    assert_string_equal (f->flags[0].code, "date.invalid");
    assert_non_null (strstr (f->flags[0].message,
                             "demographics.birth_date '1970-02-30' is not an ISO 8601 date: "));

    /* the record's own demographics serve as birth/death when none given */
    r->demographics->birth_date = hg_arena_strdup (f->a, "1970-02-03");
    r->effective = hg_arena_strdup (f->a, "1969-05-05");
    s_expect_one (f, r, HG_FLAG_DATE_BEFORE_BIRTH,
                  "effective 1969-05-05 is before the birth date 1970-02-03");
}

/* ------------------------------------------------------------------------- */

static void
test_hostile (void **state)
{
    s_fix_t *f = *state;
    assert_int_equal (hg_normalize_record (&f->ctx, NULL, NULL, NULL, NULL, NULL, 0), HG_EINVAL);
    assert_int_equal (hg_normalize_record (&f->ctx, f->a, NULL, NULL, NULL, f->flags, 4),
                      HG_EINVAL);

    /* NULL strings everywhere become "" */
    Hourglass__Record *r = hg_batch_add_record (f->batch,
                                                HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION);
    assert_int_equal (hg_record_add_code (f->a, r, HG_SYS_LOINC, "2345-7", NULL), 0);
    r->codes[0]->code = NULL;
    r->codes[0]->system = NULL;
    r->codes[0]->display = NULL;
    r->effective = NULL;
    r->effective_end = NULL;
    r->quantity = hg_quantity_new (f->a, 1, NULL);
    r->quantity->unit = NULL;
    r->quantity->comparator = NULL;
    r->value_case = HOURGLASS__RECORD__VALUE_QUANTITY;
    r->demographics = hg_demographics_new (f->a);
    r->demographics->sex = NULL;
    r->demographics->birth_date = NULL;
    r->demographics->deceased_date = NULL;
    assert_int_equal (hg_normalize_record (&f->ctx, f->a, r, NULL, NULL, f->flags, 4), 1);
    assert_string_equal (f->flags[0].message, "codes[0] code '' has no code system");
    assert_string_equal (r->codes[0]->code, "");
    assert_string_equal (r->effective, "");
    assert_string_equal (r->quantity->unit, "");
    assert_string_equal (r->demographics->sex, "");

    /* a NULL slot in codes, an array claimed but absent */
    r = s_coded (f, HG_SYS_LOINC, "2345-7");
    r->codes[0] = NULL;
    assert_int_equal (s_norm (f, r), 0);
    r->codes = NULL;
    assert_int_equal (s_norm (f, r), 0);

    /* huge strings: quoted values are cut, control bytes masked */
    size_t big = 1u << 20;
    char *huge = malloc (big + 1);
    assert_non_null (huge);
    memset (huge, '7', big);
    huge[0] = '\x01';
    huge[big] = '\0';
    static const char *const systems[] = {HG_SYS_LOINC,  HG_SYS_SNOMED, HG_SYS_ICD10CM,
                                          HG_SYS_RXNORM, HG_SYS_NPI,    "x"};
    for (size_t i = 0; i < sizeof systems / sizeof systems[0]; i++) {
        r = s_coded (f, systems[i], huge);
        assert_int_equal (s_norm (f, r), 1);
        assert_true (strlen (f->flags[0].message) < 300);
        assert_null (strchr (f->flags[0].message, '\x01'));
        assert_non_null (strstr (f->flags[0].message, "'?777"));
    }
    r = s_coded (f, huge, "1");
    assert_int_equal (s_norm (f, r), 1);
    assert_non_null (strstr (f->flags[0].message, "777...' is not a known code system"));
    r = s_lab (f, "2345-7", 100, huge);
    assert_int_equal (s_norm (f, r), 2);
    assert_string_equal (f->flags[0].code, "unit.not_ucum");
    assert_true (strlen (f->flags[0].message) < 300);
    assert_null (strchr (f->flags[0].message, '\x01'));
    assert_string_equal (f->flags[1].code, "unit.unconvertible");
    r->effective = huge;
    r->quantity->unit = (char *) "mg/dL";
    assert_int_equal (s_norm (f, r), 1);
    assert_string_equal (f->flags[0].code, "date.invalid");
    r->effective = (char *) "";
    r->demographics = hg_demographics_new (f->a);
    r->demographics->sex = huge;
    r->demographics->birth_date = huge;
    assert_int_equal (s_norm (f, r), 2);
    assert_string_equal (f->flags[0].code, "sex.unrecognised");
    assert_string_equal (f->flags[1].code, "date.invalid");
    assert_false (hg_loinc_valid (huge));
    assert_false (hg_snomed_valid (huge));
    assert_false (hg_icd10cm_valid (huge));
    assert_false (hg_npi_valid (huge));
    assert_null (hg_ucum_canonical (huge));
    assert_null (hg_sex_canonical (huge));
    free (huge);

    /* an exhausted arena is reported, never a crash */
    hg_batch_t *tiny = hg_batch_new (64u << 10);
    assert_non_null (tiny);
    hg_arena_t *ta = hg_batch_arena (tiny);
    Hourglass__Record *tr = hg_batch_add_record (tiny, HOURGLASS__RECORD_KIND__KIND_CONDITION);
    assert_non_null (tr);
    assert_int_equal (hg_record_add_code (ta, tr, "http://unknown", "1", NULL), 0);
    while (hg_arena_alloc (ta, 64)) {
    }
    assert_int_equal (hg_normalize_record (&f->ctx, ta, tr, NULL, NULL, f->flags, 4), HG_ENOMEM);
    hg_batch_destroy (&tiny);
}

HG_TEST_MAIN (cmocka_unit_test (test_loinc), cmocka_unit_test (test_snomed),
              cmocka_unit_test (test_icd10cm), cmocka_unit_test (test_npi),
              cmocka_unit_test (test_ucum_spelling), cmocka_unit_test (test_ucum_convert),
              cmocka_unit_test (test_sex), cmocka_unit_test (test_flag_names),
              cmocka_unit_test_setup_teardown (test_record_codes_valid, s_setup, s_teardown),
              cmocka_unit_test_setup_teardown (test_record_code_normalisation, s_setup,
                                               s_teardown),
              cmocka_unit_test_setup_teardown (test_flag_check_digits, s_setup, s_teardown),
              cmocka_unit_test_setup_teardown (test_flag_bad_syntax, s_setup, s_teardown),
              cmocka_unit_test_setup_teardown (test_flag_unknown_system, s_setup, s_teardown),
              cmocka_unit_test_setup_teardown (test_record_units, s_setup, s_teardown),
              cmocka_unit_test_setup_teardown (test_flag_unit_unconvertible, s_setup, s_teardown),
              cmocka_unit_test_setup_teardown (test_flag_unit_not_ucum, s_setup, s_teardown),
              cmocka_unit_test_setup_teardown (test_flag_value_implausible, s_setup, s_teardown),
              cmocka_unit_test_setup_teardown (test_flag_dates, s_setup, s_teardown),
              cmocka_unit_test_setup_teardown (test_demographics, s_setup, s_teardown),
              cmocka_unit_test_setup_teardown (test_hostile, s_setup, s_teardown))
