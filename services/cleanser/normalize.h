/*
 * normalize.h -- standardisation and validation of canonical records (pure).
 *
 * Applied by the cleanser to every record a parser produced, before the
 * record leaves for de-identification:
 *
 *   - codes: system URIs trimmed and known aliases (urn:oid:..., a trailing
 *     '/') mapped to the canonical URI; codes trimmed; ICD-10-CM upper-cased,
 *     spaces removed and written with its dot ("E119" -> "E11.9"); each code
 *     checked by its system (LOINC mod-10 check digit, SNOMED CT Verhoeff
 *     check digit and partition, ICD-10-CM syntax, NPI Luhn, RxNorm numeric);
 *   - lab quantities: unit spelling to UCUM ("mg/dl" -> "mg/dL"), a unit that
 *     still does not parse as UCUM (common/ucum.h) flagged, and for the
 *     common analytes (by LOINC code) the value converted to one canonical
 *     unit per analyte, then checked against a physiological range;
 *   - dates: the effective time checked against birth, death and today;
 *   - demographics: sex mapped to male | female | other | unknown.
 *
 * Nothing is dropped or rejected here: every validation or plausibility
 * problem becomes a flag (a stable short name plus a sentence naming field,
 * value and rule) and the record is kept. Flag messages quote record values
 * (codes, dates): they are PHI and must not be logged.
 */
#ifndef HG_NORMALIZE_H
#define HG_NORMALIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "codesys.h"
#include "record.h"

/* Flag kinds; the name (hg_flag_name) is stable, counted per partner in
 * PartnerQuality.flags, so never renumber or rename. */
typedef enum {
    HG_FLAG_NONE = 0,
    HG_FLAG_CODE_INVALID_CHECK_DIGIT, /* "code.invalid_check_digit" */
    HG_FLAG_CODE_BAD_SYNTAX,          /* "code.bad_syntax" */
    HG_FLAG_CODE_UNKNOWN_SYSTEM,      /* "code.unknown_system" */
    HG_FLAG_UNIT_UNCONVERTIBLE,       /* "unit.unconvertible" */
    HG_FLAG_VALUE_IMPLAUSIBLE,        /* "value.implausible" */
    HG_FLAG_DATE_INVALID,             /* "date.invalid" */
    HG_FLAG_DATE_BEFORE_BIRTH,        /* "date.before_birth" */
    HG_FLAG_DATE_AFTER_DEATH,         /* "date.after_death" */
    HG_FLAG_DATE_IN_FUTURE,           /* "date.in_future" */
    HG_FLAG_SEX_UNRECOGNISED,         /* "sex.unrecognised" */
    HG_FLAG_UNIT_NOT_UCUM,            /* "unit.not_ucum" (the de-identifier removes the unit) */
    HG_FLAG_COUNT_
} hg_flag_kind_t;

typedef struct {
    const char *code; /* hg_flag_name (kind): static, never freed */
    char *message;    /* in the arena: field, value and the rule broken */
    hg_flag_kind_t kind;
} hg_flag_t;

typedef struct {
    int64_t today_days; /* days since 1970-01-01 (UTC) of "now" */
} hg_norm_ctx_t;

/* Suggested capacity of the flags array for one record. */
#define HG_NORM_MAX_FLAGS 16

/* Stable short name of a flag kind ("code.bad_syntax"); "none" for
 * HG_FLAG_NONE and "unknown" for a value out of range. Static strings. */
const char *hg_flag_name (hg_flag_kind_t kind);

/* One human sentence describing the flag kind (static string). */
const char *hg_flag_describe (hg_flag_kind_t kind);

/* Validates and normalises rec in place, appending at most max_flags flags
 * to flags (flags may be NULL when max_flags is 0; the record is normalised
 * in full either way and further flags are not stored).
 *
 * Strings that change are replaced by copies from a (the record's batch
 * arena); the old strings are never written to, so string literals and
 * protobuf_c_empty_string are safe. NULL strings in rec are replaced by "".
 * birth_date / deceased_date: the patient's ISO 8601 dates when known (may be
 * NULL or ""); when NULL the record's own demographics are used. ctx may be
 * NULL: no "in the future" check then.
 *
 * Returns the number of flags stored, HG_ENOMEM when the arena is exhausted
 * (the record may then be partly normalised), HG_EINVAL when a or rec is
 * NULL. */
int hg_normalize_record (const hg_norm_ctx_t *ctx, hg_arena_t *a, Hourglass__Record *rec,
                         const char *birth_date, const char *deceased_date, hg_flag_t *flags,
                         size_t max_flags);

/* True when code is a LOINC code "N{1,7}-C" whose mod-10 (Luhn) check digit
 * C matches. Answer/part codes ("LA6576-8", "LP...") are checked for syntax
 * only (their check digit is not defined over the digits alone). Exact
 * string: no trimming, NULL -> false. */
bool hg_loinc_valid (const char *code);

/* True when sctid is a SNOMED CT identifier: 6..18 digits, no leading zero,
 * a partition (2nd and 3rd digits from the right) of 00, 01, 02 (short
 * form) or 10, 11, 12 (extension, with a 7-digit namespace) and a matching
 * Verhoeff check digit. NULL -> false. */
bool hg_snomed_valid (const char *sctid);

/* True when code has ICD-10-CM syntax: a letter, a digit, a letter or digit,
 * then optionally '.' and 1..4 letters or digits ("E11.9", "I10", "J45909",
 * "C4A.0"). Letters in either case. NULL -> false. */
bool hg_icd10cm_valid (const char *code);

/* True when npi is 10 digits whose last is the Luhn check digit of "80840"
 * followed by the first nine. NULL -> false. */
bool hg_npi_valid (const char *npi);

/* Canonical UCUM spelling of a unit ("mg/dl" -> "mg/dL", "percent" -> "%",
 * "µmol/l" -> "umol/L"), or NULL when the spelling is not in the table
 * (the unit is then kept as received). Leading/trailing blanks ignored. */
const char *hg_ucum_canonical (const char *unit);

/* Converts value in unit (any spelling hg_ucum_canonical knows) to the
 * canonical unit of the analyte with LOINC code analyte_loinc:
 *   2345-7 glucose      mg/dL  (mmol/L * 18.0)
 *   2160-0 creatinine   mg/dL  (umol/L / 88.42)
 *   2093-3 cholesterol  mg/dL  (mmol/L * 38.67)
 *   4548-4 HbA1c        %      (mmol/mol * 0.09148 + 2.152)
 *   718-7  hemoglobin   g/dL   (g/L / 10, mmol/L * 1.611)
 *   2823-3 potassium    mmol/L (meq/L * 1)
 *   2951-2 sodium       mmol/L (meq/L * 1)
 * On success returns 0 and sets *out_value and *out_unit (a static string).
 * Returns HG_ENOTFOUND when the analyte is not in the table, HG_EINVAL when
 * the unit cannot be converted for it (or is NULL/empty), HG_ELIMIT when the
 * value or the result is not a finite number. Outputs untouched on error. */
int hg_ucum_convert (const char *analyte_loinc, double value, const char *unit, double *out_value,
                     const char **out_unit);

/* Physiological range of an analyte in its canonical unit; false when the
 * analyte is not in the table. */
bool hg_analyte_range (const char *analyte_loinc, double *low, double *high);

/* "male" | "female" | "other" | "unknown" for a sex/gender code in any of the
 * usual spellings (M, F, male, Female, HL7 0001 O/U/A/N, ISO 5218 0/1/2/9,
 * "nonbinary", ...); NULL when unrecognised. Static strings. */
const char *hg_sex_canonical (const char *sex);

#endif
