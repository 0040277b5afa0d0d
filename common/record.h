/*
 * record.h -- the canonical record model.
 *
 * One record model for every format: Hourglass__Record (proto/hourglass.proto),
 * built in an arena by the constructors below (the cleanser's parse batch,
 * services/cleanser/batch.h, owns one per payload). Pure logic: no I/O.
 */
#ifndef HG_RECORD_H
#define HG_RECORD_H

#include <stdbool.h>
#include <stddef.h>

#include "arena.h"
#include "err.h"
#include "hourglass.pb-c.h"

/* Well-known code systems (FHIR URIs). */
#define HG_SYS_LOINC "http://loinc.org"
#define HG_SYS_SNOMED "http://snomed.info/sct"
#define HG_SYS_ICD10CM "http://hl7.org/fhir/sid/icd-10-cm"
#define HG_SYS_ICD9CM "http://hl7.org/fhir/sid/icd-9-cm"
#define HG_SYS_RXNORM "http://www.nlm.nih.gov/research/umls/rxnorm"
#define HG_SYS_CVX "http://hl7.org/fhir/sid/cvx"
#define HG_SYS_UCUM "http://unitsofmeasure.org"

/* Arena-backed constructors for sub-messages; strings copied. NULL on limit. */
Hourglass__Coding *hg_coding_new (hg_arena_t *a, const char *system,
                                  const char *code, const char *display);
Hourglass__Demographics *hg_demographics_new (hg_arena_t *a);
Hourglass__Provenance *hg_provenance_new (hg_arena_t *a);
Hourglass__Quantity *hg_quantity_new (hg_arena_t *a, double value, const char *unit);
Hourglass__Identifier *hg_identifier_new (hg_arena_t *a, const char *system,
                                          const char *value, const char *type);

/* Appends a coding to rec->codes (grows the array in the arena). */
int hg_record_add_code (hg_arena_t *a, Hourglass__Record *rec, const char *system,
                        const char *code, const char *display);
int hg_record_add_identifier (hg_arena_t *a, Hourglass__Record *rec,
                              const char *system, const char *value, const char *type);
/* Appends a string to a repeated string field (given names, telecom...). */
int hg_strv_push (hg_arena_t *a, char ***v, size_t *n, const char *s);

/* Computes rec->record_id: a content key (32 hex chars, BLAKE2b-128) over
 * partner, kind, patient, codes, effective time, value and demographics --
 * not the source record id -- so the same fact arriving twice (a re-sent
 * message, the same PID in an ADT and an ORU, the same lab sent as HL7 ORU
 * and as FHIR Observation once both name the patient by the same id) gets
 * the same id. What enters the key is the fact, not its spelling:
 *   codes      the set of (system, code), sorted, duplicates once, display
 *              ignored; a lab observation with a LOINC code keys on its
 *              LOINC codes only (local aliases differ between formats);
 *   times      effective / effective_end in UTC when they carry a zone,
 *              zero seconds and zero fractions dropped ("10:30" equals
 *              "10:30:00"); no zone is not UTC, so it stays apart;
 *   quantity   value to 12 significant digits (unit conversion noise),
 *              unit as normalised, comparator when there is one;
 *   birth      birth_date to the day, and sex.
 * The record is not modified apart from record_id. HG_ENOMEM when the arena
 * is exhausted. */
int hg_record_set_content_key (hg_arena_t *a, Hourglass__Record *rec);

/* Indexer shard of a pseudonymous patient id (hex): the first 8 hex digits
 * as a big-endian number, modulo shards. Stable, so a patient's records
 * always land on the same shard. */
int hg_shard_of (const char *pseudonym, int shards);

/* Walks a packed RecordBatch without unpacking it: sets *rec and *rec_len
 * to the next Record's own packed bytes (what hourglass__record__pack
 * writes, ready to store or unpack alone) and returns 1; 0 at the end; -1
 * when the batch is malformed (truncated, a bad varint, a group). Fields
 * other than `records` are skipped. Start with *off = 0. */
int hg_record_batch_next (const uint8_t *batch, size_t len, size_t *off, const uint8_t **rec,
                          size_t *rec_len);

/* "demographics", "lab-observation", ...; and back (KIND_UNKNOWN if unknown). */
const char *hg_record_kind_name (Hourglass__RecordKind kind);

/* True when s is NULL or "" (protobuf-c's empty string). */
static inline bool
hg_str_empty (const char *s)
{
    return !s || !*s;
}

#endif
