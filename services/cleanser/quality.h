/*
 * quality.h -- per-partner data-quality accounting (pure).
 *
 * For every message the cleanser records what it produced and rejected;
 * this module keeps the running figures per partner -- conformance
 * (records not rejected), completeness (records with patient, code, date,
 * and a value for lab results), plausibility (records without validation
 * flags) -- and the top rejection reasons with examples, generalised so the
 * same mistake with different values counts as one reason.
 * The cleanser persists each partner's figures (hg_quality_pack) in the same
 * write batch as the message's results.
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

/* Accounts one message of partner: its records (for completeness), its
 * rejects (reason, location) and ignored count; flags, when not NULL, are
 * flag names of the records (n_flags of them), flagged the records with at
 * least one flag. Records still carrying the FHIR parser's
 * "patient.unlinked" flag (patient known only by a FHIR resource id, not by
 * the identifier HL7 uses: fhir.h) are counted under that name among the
 * partner's flags, not in flagged: they are not implausible, but the same
 * patient may then count twice across formats. */
void hg_quality_message (hg_quality_t *self, const char *partner, const char *message_id,
                         Hourglass__Record *const *records, size_t n_records,
                         const hg_reject_t *rejects, size_t n_rejects, size_t ignored,
                         const char *const *flags, size_t n_flags, size_t flagged);

/* Adds a message's ignored counts by kind (hg_batch_ignored_kinds) to
 * partner's figures; call with hg_quality_message. At most
 * HG_QUALITY_IGNORED_KINDS kinds per partner; beyond them, "other". */
#define HG_QUALITY_IGNORED_KINDS 48
void hg_quality_ignored (hg_quality_t *self, const char *partner, const hg_ignored_t *kinds,
                         size_t n);

/* A message replayed (hourglass quarantine replay) and kept: its records
 * and rejects of the new parse replace those of its first in partner's
 * figures (reasons and examples stay as counted). */
void hg_quality_replayed (hg_quality_t *self, const char *partner, uint64_t records_before,
                          uint64_t records_after, uint64_t rejects_before,
                          uint64_t rejects_after);

/* Packs partner's figures (malloc'd, caller frees); 0 when unknown. */
size_t hg_quality_pack (const hg_quality_t *self, const char *partner, uint8_t **out);

/* Partners known, for listing: fills up to max names; returns the count. */
size_t hg_quality_partners (const hg_quality_t *self, const char **names, size_t max);

/* A reason with its specifics generalised: quoted values become '…', runs
 * of digits become N. */
void hg_quality_reason_class (const char *reason, char *out, size_t size);

/* True when a record has what an analyst needs: patient, a code (clinical
 * kinds), an effective date (clinical kinds), and a value (lab results). */
int hg_quality_complete (const Hourglass__Record *rec);

#endif
