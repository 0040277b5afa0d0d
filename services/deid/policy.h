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
 *                      birth_year + age_group (birth_year 0 and "90+" above
 *                      89); postal_code -> postal_prefix (first 3 digits of a
 *                      US ZIP, "000" for the 17 restricted prefixes and for
 *                      anything that is not a US ZIP); state, country, sex
 *                      kept; deceased_date shifted
 *   text               removed
 *   string_value       kept only when it is a word of a short result
 *                      vocabulary or a numeric-looking value (digits, spaces,
 *                      . , : / + - < > = %) that does not look like a date,
 *                      phone number or identifier; else "[redacted]"
 *   everything else    (codes, quantities, units, status, interpretation,
 *                      reference_range, kind) kept
 */
#ifndef HG_DEID_POLICY_H
#define HG_DEID_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "arena.h"
#include "err.h"
#include "hourglass.pb-c.h"
#include "pseudonym.h"

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

typedef struct {
    const unsigned char *key; /* HG_DEID_KEY_BYTES */
    int64_t today_days;       /* reference date for ages: days since 1970-01-01 */
    hg_deid_memos_t *memos;   /* optional (NULL: every id is hashed) */
} hg_deid_ctx_t;

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

/* True when a free-text result value may pass unchanged: lowercased and
 * trimmed it is one of the result words (positive, negative, detected, not
 * detected, normal, abnormal, reactive, nonreactive, non-reactive, present,
 * absent, trace, indeterminate, equivocal, pending, high, low, none, yes,
 * no), or it consists only of digits, blanks and . , : / + - < > = % and
 * does not look like a date, phone number or identifier, i.e. none of:
 *   - more than 6 digits in all (555-1234, 123-45-6789, 20210304)
 *   - three digit groups joined twice by the same '/', '-' or '.' (3/4/21)
 *   - a month/year pair (03/2021, 2021-03)
 * NULL counts as "" and passes. */
bool hg_deid_string_value_ok (const char *s);

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
