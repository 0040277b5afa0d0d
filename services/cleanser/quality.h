/*
 * quality.h -- per-partner data-quality accounting (pure).
 *
 * For every message the cleanser records what it produced and rejected;
 * this module keeps the running figures per partner -- conformance
 * (records not rejected), completeness (records with patient, code, date,
 * and a value for lab results), plausibility (records without validation
 * flags) -- and the top rejection reasons with examples, generalised so the
 * same mistake with different values counts as one reason.
 * Besides the totals since the start it keeps how often each field of each
 * record kind arrives filled (hg_quality_fields), the figures per UTC day of
 * receipt for the last HG_QUALITY_DAYS days with data (a trend, and reports
 * over a period), and for each reason the latest HG_QUALITY_SAMPLES
 * rejections, redacted (hg_quality_redact): the figures hold no value a
 * partner chose, only their shapes.
 * The cleanser persists each partner's totals (hg_quality_pack) and the day
 * of the message (hg_quality_pack_day) in the same write batch as the
 * message's results.
 */
#ifndef HG_QUALITY_H
#define HG_QUALITY_H

#include <stddef.h>
#include <stdint.h>

#include "hourglass.pb-c.h"
#include "batch.h"

typedef struct hg_quality hg_quality_t;

hg_quality_t *hg_quality_new (void);
void hg_quality_destroy (hg_quality_t **self_p);

/* Restores a partner's figures from their packed PartnerQuality. */
int hg_quality_load (hg_quality_t *self, const uint8_t *data, size_t len);

/* Adds a packed PartnerQuality to the partner's figures (a gone replica's,
 * adopted): counts summed, reasons and flags merged by name, examples kept
 * up to the limit. */
int hg_quality_merge (hg_quality_t *self, const uint8_t *data, size_t len);

/* Days kept per partner (a day older than the newest kept by this many or
 * more is dropped), and samples kept per reason. */
#define HG_QUALITY_DAYS 90
#define HG_QUALITY_SAMPLES 3

/* Accounts one message of partner, received at at_us (wall clock, us since
 * the epoch: the day it counts for): its records (for completeness, overall
 * and per field), its rejects (reason, location, excerpt: kept redacted,
 * labelled message_label, which the caller makes safe to show: a
 * fingerprint, never the id) and ignored count; flags, when not NULL, are
 * flag names of the records (n_flags of them), flagged the records with at
 * least one flag. Records still carrying the FHIR parser's
 * "patient.unlinked" flag (patient known only by a FHIR resource id, not by
 * the identifier HL7 uses: fhir.h) are counted under that name among the
 * partner's flags, not in flagged: they are not implausible, but the same
 * patient may then count twice across formats. */
void hg_quality_message (hg_quality_t *self, const char *partner, const char *message_label,
                         uint64_t at_us, Hourglass__Record *const *records, size_t n_records,
                         const hg_reject_t *rejects, size_t n_rejects, size_t ignored,
                         const char *const *flags, size_t n_flags, size_t flagged);

/* Adds a message's ignored counts by kind (hg_batch_ignored_kinds) to
 * partner's figures; call with hg_quality_message. At most
 * HG_QUALITY_IGNORED_KINDS kinds per partner; beyond them, "other". */
#define HG_QUALITY_IGNORED_KINDS 48
void hg_quality_ignored (hg_quality_t *self, const char *partner, const hg_ignored_t *kinds,
                         size_t n);

/* A message replayed (hourglass quarantine replay) at at_us and kept: its
 * records and rejects of the new parse replace those of its first in
 * partner's figures (reasons and examples stay as counted); the day of
 * at_us gains the records the replay added and loses the rejects it
 * cleared (as far as that day has them). */
void hg_quality_replayed (hg_quality_t *self, const char *partner, uint64_t at_us,
                          uint64_t records_before, uint64_t records_after,
                          uint64_t rejects_before, uint64_t rejects_after);

/* Packs partner's totals, fields and samples, without days (malloc'd,
 * caller frees); 0 when unknown. */
size_t hg_quality_pack (const hg_quality_t *self, const char *partner, uint8_t **out);

/* Packs partner's figures of one day (days since the epoch) as a
 * PartnerQuality holding only that day in days (merged back with
 * hg_quality_merge); 0 when the day is not kept. */
size_t hg_quality_pack_day (const hg_quality_t *self, const char *partner, uint32_t day,
                            uint8_t **out);

/* hg_quality_pack with every day kept: the QUALITY control reply. */
size_t hg_quality_pack_report (const hg_quality_t *self, const char *partner, uint8_t **out);

/* Days of partner dropped from the window since the last call (the caller
 * deletes their stored rows): fills up to max, returns the count. */
size_t hg_quality_take_dropped (hg_quality_t *self, const char *partner, uint32_t *days,
                                size_t max);

/* The day (since the epoch, UTC) of a wall-clock time in microseconds. */
static inline uint32_t
hg_quality_day (uint64_t at_us)
{
    return (uint32_t) (at_us / 1000000u / 86400u);
}

/* Partners known, for listing: fills up to max names; returns the count. */
size_t hg_quality_partners (const hg_quality_t *self, const char **names, size_t max);

/* A reason with its specifics generalised: quoted values become '…', runs
 * of digits become N. */
void hg_quality_reason_class (const char *reason, char *out, size_t size);

/* Redacts a text that may quote partner input (a reject's reason or
 * location) for the quality report: quoted values become '…'; a word is
 * kept only when it is ours (lower-case words, element paths such as
 * Observation.effectiveDateTime, FHIR resource types, HL7 segment and
 * message codes, field references such as PID-7, positions after words
 * such as line, message, segment, resource, byte); any other word with a
 * digit becomes its shape (digits as 9: 2021-13-45 -> 9999-99-99) when it
 * has only digits and date punctuation, else '…'; so does any other word.
 * out always terminated (size > 0). */
void hg_quality_redact (const char *in, char *out, size_t size);

/* The shape of an excerpt of input (len bytes, HL7 v2 segments, JSON, CSV,
 * VCF, any bytes): punctuation and HL7 segment ids kept, JSON keys kept when
 * they look like FHIR element names (and the value of resourceType when it
 * is a known type), runs of digits as 9s, every other word or string '…';
 * segment breaks (CR) become new lines, other control bytes '.'. */
void hg_quality_redact_excerpt (const char *in, size_t len, char *out, size_t size);

/* The fields whose fill rate is kept: for index i < hg_quality_n_fields (),
 * the record kind name ("lab-observation") and field name ("value"). */
size_t hg_quality_n_fields (void);
void hg_quality_field (size_t i, const char **kind, const char **field);

/* True when a record has what an analyst needs: patient, a code (clinical
 * kinds), an effective date (clinical kinds), and a value (lab results). */
int hg_quality_complete (const Hourglass__Record *rec);

#endif
