/*
 * policy.h -- the de-identification policy applied to one canonical record.
 *
 * A Safe-Harbor-class policy: every identifying value is removed or
 * transformed, nothing identifying passes. Pure logic: no I/O, no clock (the
 * reference date for ages comes from the caller).
 *
 *   patient_ref        -> keyed pseudonym ("patient", partner); pseudonymous
 *   record_id          -> keyed pseudonym ("record", "") of the content key
 *   encounter_ref      -> keyed pseudonym ("encounter", partner)
 *   provenance         partner, source_format kept; source_message_id and
 *                      source_record_id -> keyed pseudonyms ("message",
 *                      "source", partner)
 *   identifiers        all removed
 *   provenance.z_segments  removed (raw HL7 Z-segments can hold anything)
 *   effective(_end)    shifted by the patient's date shift, precision and
 *                      zone kept
 *   demographics       family, given, address_lines, city, telecom,
 *                      birth_date, postal_code removed; birth_date ->
 *                      birth_year + age_group. age_group from the true age
 *                      at the reference date ("90+" above 89, birth_year 0
 *                      then). birth_year is the birth date (its first
 *                      possible day when it has no day) shifted by the
 *                      patient's shift like every other date of the patient,
 *                      at each precision a record can have (a year from its
 *                      middle, a month from its 15th, a day as it is), the
 *                      smallest resulting year: no record of the patient is
 *                      dated before it (it is within a year of the true
 *                      one). postal_code -> postal_prefix (first 3
 *                      digits of a US ZIP, "000" for the 17 restricted
 *                      prefixes and for anything that is not a US ZIP);
 *                      state and country kept as codes only
 *                      (hg_deid_state_code, hg_deid_country_code; anything
 *                      else removed, flag "address.not_coded"); sex kept
 *                      (the cleanser maps it to male | female | other |
 *                      unknown); deceased_date shifted
 *   text               scrubbed (scrub.h, under ctx->scrub): every PHI span
 *                      replaced, dates moved by the patient's date shift in
 *                      their own format, names as "[NAME]" or per-patient
 *                      surrogates (ctx->surrogate_key), ages over 89 as
 *                      "90+"; the values ctx->known holds (the patient's own
 *                      name, MRN, street... from the same message) matched
 *                      first. Fail closed: when scrubbing fails (no memory)
 *                      or a known value of 4 bytes or more is still in the
 *                      result, the text is removed and the record flagged
 *                      "text.dropped". Without ctx->scrub: removed
 *   codes[].display, code_value.display
 *                      removed ("": free text a partner chose; no later stage
 *                      reads displays, the code says what the concept is)
 *   quantity.unit      kept only when it parses as UCUM (hg_ucum_check),
 *                      written without annotations ("{cells}/uL" -> "1/uL");
 *                      otherwise removed and the record flagged
 *                      "unit.not_ucum"
 *   reference_range    kept only as numbers: "low-high", "<x", "<=x", ">x",
 *                      ">=x", each number 1 to 6 digits with an optional
 *                      fraction, then an optional UCUM unit; written in that
 *                      canonical form. A unit that is not UCUM is removed
 *                      ("unit.not_ucum"); any other text removes the range
 *                      (flag "range.not_numeric")
 *   age values         a record of an age (a LOINC age code, a code "age" or
 *                      a code display starting with the word "Age"): a value
 *                      over 89 years, quantity (in a, mo, wk, d, h or min;
 *                      any other unit read as years) or string, becomes the
 *                      string "90+"
 *   quantity.value     kept, but a whole number of 4 or more digits with no
 *                      (UCUM) unit under a code not known to be measured (no
 *                      numeric reference range, not an age) becomes the
 *                      string "[redacted]": a specimen barcode, a time 1318,
 *                      a year or a date sent as a number
 *   string_value       hg_deid_string_value: kept only when the policy can
 *                      say what it is; else, when it is free text (two
 *                      letters in a row) and ctx->scrub is set, scrubbed as
 *                      text is, then "[redacted]" all the same when what
 *                      the scrubber left outside its spans is date-like
 *                      (hg_deid_date_like: "due 7-22") or scrubbing failed;
 *                      anything else "[redacted]"
 *   status, interpretation
 *                      kept only when a code of their value sets
 *                      (hg_deid_status_ok, hg_deid_interpretation_ok);
 *                      otherwise removed, flag "status.not_coded" or
 *                      "interpretation.not_coded"
 *   flags              kept; the de-identifier adds its own ("unit.not_ucum",
 *                      "range.not_numeric", "status.not_coded",
 *                      "interpretation.not_coded", "address.not_coded"),
 *                      each once
 *   quantity.comparator kept when "", "<", "<=", ">=" or ">", else removed
 *   demographics.sex   kept when "", male, female, other or unknown (what the
 *                      cleanser writes), else "unknown"
 *   codes[], code_value
 *                      a code of a standard terminology (hg_deid_is_terminology:
 *                      LOINC, SNOMED CT, ICD, RxNorm, CVX, NDC, CPT, DICOM,
 *                      HGNC, dbSNP, ...) kept when it has the shape of its
 *                      system's codes (hg_deid_code_shape_ok); any other
 *                      code -- one of another shape, a local code
 *                      system's (HL7 "L", "99xxx", a partner's own URI), an
 *                      identifier system's (NPI, SSN, DICOM UID) or one with
 *                      no system -- is partner text: its system becomes
 *                      HG_DEID_LOCAL_SYSTEM and its code the keyed pseudonym
 *                      ("code", partner) of "system|code" (one local concept
 *                      stays one code, countable, never readable); a system
 *                      with no code is removed
 *   everything else    (kind) kept
 */
#ifndef HG_DEID_POLICY_H
#define HG_DEID_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "arena.h"
#include "err.h"
#include "hourglass.pb-c.h"
#include "pseudonym.h"
#include "scrub.h"

/* The last input and pseudonym of one domain, so the records of one message,
 * which mostly share their patient, encounter and source message, do not
 * hash the same id again. Holds source identifiers: in memory only, zeroed
 * with hg_deid_memo_clear. */
#define HG_DEID_MEMO_MAX 127 /* longer ids are not memoised */
typedef struct {
    bool valid;
    char partner[HG_DEID_MEMO_MAX + 1];
    char id[HG_DEID_MEMO_MAX + 1];
    char pseudonym[HG_PSEUDONYM_HEX + 1];
    int shift; /* patient: its date shift */
} hg_deid_memo_t;

typedef struct {
    hg_deid_memo_t patient, encounter, message;
} hg_deid_memos_t;

/* Forgets (and zeroes) every memoised id. */
void hg_deid_memo_clear (hg_deid_memos_t *memos);

/* What became of the free text of the records de-identified. */
typedef struct {
    uint64_t scrubbed; /* texts and free-text values kept scrubbed */
    uint64_t dropped;  /* removed because scrubbing failed (fail closed) */
} hg_deid_text_stats_t;

typedef struct {
    const unsigned char *key;           /* HG_DEID_KEY_BYTES */
    int64_t today_days;                 /* reference date for ages: days since 1970-01-01 */
    hg_deid_memos_t *memos;             /* optional (NULL: every id is hashed) */
    hg_scrub_t *scrub;                  /* the free-text scrubber; NULL: free text is removed */
    const hg_scrub_lexicon_t *known;    /* the record's patient's identifying values
                                         * (hg_deid_known_add), may be NULL */
    const unsigned char *surrogate_key; /* 32 bytes: names in text become surrogates
                                         * per patient; NULL: "[NAME]" */
    hg_deid_text_stats_t *text_stats;   /* optional */
} hg_deid_ctx_t;

/* The flag of a record whose free text was removed because it could not be
 * scrubbed safely. */
#define HG_DEID_FLAG_TEXT_DROPPED "text.dropped"

/* Adds to known the identifying values rec carries as it came, before
 * hg_deid_record: its patient reference and identifiers' values (ID), the
 * demographics' family and given names (NAME), address lines (whole, and
 * without the house number), city and postal code (LOCATION) and telecom
 * (PHONE). The de-identifier gathers them over a message's records of one
 * patient, so a note naming its own patient is scrubbed of exactly those
 * values even where no rule would see them. Values shorter than 2 bytes or
 * without a word are skipped. Returns 0 or HG_ENOMEM. */
int hg_deid_known_add (hg_scrub_lexicon_t *known, const Hourglass__Record *rec);

/* What replaces a free-text result value that may identify someone. */
#define HG_DEID_REDACTED "[redacted]"

/* De-identifies rec in place under the policy above. New strings come from
 * arena; replaced strings are simply dropped (they belong to the caller's
 * arena). The partner is rec->provenance->partner (provenance and partner
 * must be present). Returns 0, or a negative HG_E* with err saying why
 * ("record has no patient reference", "effective '2021-13-01' is not a valid
 * date: month 13"); on error the record is partly transformed and must not
 * be used (the service quarantines it). A record already marked
 * pseudonymous is refused: de-identifying twice would re-key it. */
int hg_deid_record (const hg_deid_ctx_t *ctx, hg_arena_t *arena, Hourglass__Record *rec,
                    hg_err_t *err);

/* Age band for an age in whole years: "0-17", "18-29", "30-39", "40-49",
 * "50-59", "60-69", "70-79", "80-89", "90+". Ages below 0 are "0-17".
 * Returns a static string. */
const char *hg_deid_age_group (int years);

/* Postal prefix under Safe Harbor: the first 3 digits of a US ZIP (5 or 9
 * digits, "12345-6789" or "123456789", surrounding blanks ignored), or "000"
 * when the prefix is one of the 17 restricted 3-digit prefixes (population
 * 20,000 or less) or when postal_code is not a US ZIP. country (may be NULL
 * or "") other than a US designation ("US", "USA", "United States", ...)
 * also gives "000". Writes the prefix to out, "" when postal_code is empty. */
void hg_deid_postal_prefix (const char *postal_code, const char *country, char out[4]);

/* Flag codes the de-identifier adds to a record (Record.flags). */
#define HG_DEID_FLAG_UNIT_NOT_UCUM "unit.not_ucum"
#define HG_DEID_FLAG_RANGE_NOT_NUMERIC "range.not_numeric"
#define HG_DEID_FLAG_STATUS_NOT_CODED "status.not_coded"
#define HG_DEID_FLAG_INTERPRETATION_NOT_CODED "interpretation.not_coded"
#define HG_DEID_FLAG_PLACE_NOT_CODED "address.not_coded"

/* What replaces an age over 89. */
#define HG_DEID_AGE_90 "90+"

/* What the policy knows of a record when it judges its string value. */
typedef struct {
    bool quantitative; /* measured: the record keeps a numeric reference range */
    bool age;          /* the value is the patient's age (hg_deid_is_age) */
    bool genotype;     /* a genomic variant: genotypes ("0/1", "1|1") pass */
} hg_deid_value_ctx_t;

/* The string value that may pass for s: s itself, HG_DEID_AGE_90 or
 * HG_DEID_REDACTED (static strings, or s). In order:
 *   - "" (or blanks) and NULL pass (NULL as "");
 *   - a word of the result vocabulary passes: lowercased and trimmed, one of
 *     positive, negative, detected, not detected, normal, abnormal,
 *     reactive, nonreactive, non-reactive, present, absent, trace,
 *     indeterminate, equivocal, pending, high, low, none, yes, no, true,
 *     false;
 *   - under vc->genotype a genotype (alleles of 1 or 2 digits or '.'
 *     joined by '/' or '|') passes;
 *   - a date-like value is redacted (hg_deid_date_like);
 *   - a value that is not a measurement is redacted. Measurements are a
 *     number (digits, ",ddd" groups, a fraction) alone; with a comparator
 *     (<, <=, >, >=, =) or a '%'; a grade 1+ to 4+; a titer 1:N (N >= 2);
 *     another ratio a:b or a range a-b (a whole), a.a-b.b;
 *   - under vc->age: a number over 89 becomes "90+", any other passes;
 *   - a comparator, '%', grade or titer passes: it says itself it is
 *     measured;
 *   - a bare number, ratio or range passes only under vc->quantitative:
 *     under any other code it may be an identifier (a specimen barcode
 *     "123456"), a time ("1318", "13:18") or a date ("7-22"). */
const char *hg_deid_string_value (const char *s, const hg_deid_value_ctx_t *vc);

/* True when s has a date-like (or identifier-like) shape anywhere: digits
 * joined by '/' (7/22, 3/4, 11/21.93, 3/4/21); three digit groups joined
 * twice by the same '-' or '.' (1-2-3, 04.03.2021); a month and year joined
 * by '-' (2021-03, 03-2021); more than 6 digits in all (555-1234,
 * 123-45-6789, 20210304). NULL is not. */
bool hg_deid_date_like (const char *s);

/* True when the record's value is the patient's age: one of its codes is a
 * LOINC age code (30525-0 Age, 21612-7 reported, 21611-9 estimated,
 * 29553-5 calculated, 63900-5 current age or age at death), has the code
 * "age" (any case) or a display whose first word is "Age". */
bool hg_deid_is_age (const Hourglass__Record *rec);

/* The reference range kept for range: written to out (size bytes, 64 is
 * enough) in the canonical form "low-high[ unit]", "<x", "<=x", ">x", ">=x"
 * ("3.5 - 5.0 mmol/L" -> "3.5-5.0 mmol/L"). Returns 0 (out "" for an empty
 * or NULL range), 1 when the numbers are kept but a unit that is not UCUM
 * was removed, HG_EINVAL when range is not numbers (out ""). */
int hg_deid_reference_range (const char *range, char *out, size_t size);

/* True when status is empty or, trimmed and in any case, a code of the FHIR
 * status value sets of the resources parsed (final, amended, active,
 * resolved, completed, in-progress, entered-in-error, ...), of HL7 v2
 * tables 0085 (OBX-11: F, P, C, ...), 0038 (ORC-5: CM, IP, ...), 0322
 * (RXA-20: CP, RE, NA, PA), or the VCF FILTER "PASS". */
bool hg_deid_status_ok (const char *status);

/* True when interpretation is empty or, trimmed and in any case, a code of
 * HL7 v2 table 0078 or FHIR's v3 ObservationInterpretation (H, L, HH, LL,
 * N, A, AA, <, >, POS, NEG, DET, ND, S, R, I, ...). */
bool hg_deid_interpretation_ok (const char *interpretation);

/* The state kept of demographics.state: 2 or 3 letters or digits, trimmed
 * and upper-cased ("ca" -> "CA", "NSW"), or the code of a US state or
 * territory named in full in any case ("Massachusetts" -> "MA"); else ""
 * (a street, a name: anything a partner wrote in the field). */
void hg_deid_state_code (const char *state, char out[4]);

/* The country kept: 2 or 3 letters or digits (ISO 3166 alpha-2, alpha-3,
 * numeric), trimmed and upper-cased, or "US" for the spellings of the
 * United States hg_deid_postal_prefix accepts; else "". */
void hg_deid_country_code (const char *country, char out[4]);

/* The system of pseudonymised local codes (see codes[] above). */
#define HG_DEID_LOCAL_SYSTEM "https://hourglass.local/local-code"

/* True when system is the canonical URI of a standard terminology whose codes
 * pass the de-identifier (exact match; NULL is not). */
bool hg_deid_is_terminology (const char *system);

/* True when code has the shape of the codes of system, a terminology
 * (hg_deid_is_terminology): LOINC digits-check digit (LA/LP parts too),
 * SNOMED CT, RxNorm and CVX digits, ICD and CPT upper case and digits with a
 * digit among the first three, NDC digits and '-', UCUM a unit
 * (hg_ucum_check), ActCode and DICOM upper case, digits and '_', HGNC upper
 * case, digits, '-' and "orf", dbSNP rs digits, variants CHROM-POS-REF-ALT
 * (chromosome 1-2 digits, X, Y, M or MT; alleles of bases, ALT or '*');
 * 1 to 32 characters. Any other code (a name or an MRN sent as a LOINC
 * code) is pseudonymised like a local code. */
bool hg_deid_code_shape_ok (const char *system, const char *code);

/* The terminologies of hg_deid_is_terminology (for tests); *n their count. */
const char *const *hg_deid_terminologies (size_t *n);

/* The quarantine rule: a record that cannot be de-identified is described
 * in the de-identifier's store by its position and this copy of its reason.
 * hg_deid_record's errors quote the offending input between single quotes
 * ("effective '2021-13-01' is not a valid date: month 13"), that input may be
 * identifying, and the store must hold no PHI. So every quoted value, its
 * quotes included, becomes '[withheld]'; a quote never closed withholds the
 * rest of the reason; what is outside quotes is kept. Writes the copy to out
 * (size > 0 bytes), always NUL-terminated; a long reason is cut where fewer
 * than 16 bytes would remain, never inside '[withheld]'. reason must not be
 * NULL. */
void hg_deid_withhold_values (const char *reason, char *out, size_t size);

#endif
