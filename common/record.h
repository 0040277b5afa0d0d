/*
 * record.h -- the canonical record model and the parse batch.
 *
 * One record model for every format: Hourglass__Record (proto/hourglass.proto).
 * A parser fills an hg_batch_t: records built in the batch's arena, plus
 * rejects (quarantine material) each with a location and a reason a person
 * can act on. Pure logic: no I/O.
 */
#ifndef HG_RECORD_H
#define HG_RECORD_H

#include <stdbool.h>
#include <stddef.h>

#include "arena.h"
#include "err.h"
#include "hourglass.pb-c.h"
/* what moved out of record.h, for the files that include it for these */
#include "content_key.h"
#include "record_batch.h"
#include "shard.h"

/* Well-known code systems (FHIR URIs). */
#define HG_SYS_LOINC "http://loinc.org"
#define HG_SYS_SNOMED "http://snomed.info/sct"
#define HG_SYS_ICD10CM "http://hl7.org/fhir/sid/icd-10-cm"
#define HG_SYS_ICD9CM "http://hl7.org/fhir/sid/icd-9-cm"
#define HG_SYS_RXNORM "http://www.nlm.nih.gov/research/umls/rxnorm"
#define HG_SYS_CVX "http://hl7.org/fhir/sid/cvx"
#define HG_SYS_UCUM "http://unitsofmeasure.org"

/* Excerpt bytes kept with a reject. */
#define HG_REJECT_EXCERPT_MAX 256

typedef struct {
    char *location;        /* "message 2 (MSH-10 'X1') segment OBX[3] field 5" */
    char *reason;          /* "OBX-5 'abc' is not a number but OBX-2 says NM" */
    char *excerpt;         /* copy of at most HG_REJECT_EXCERPT_MAX input bytes */
    size_t excerpt_len;
} hg_reject_t;

typedef struct hg_batch hg_batch_t;

/* Limits a parser must honour; the cleanser fills them from configuration. */
typedef struct {
    size_t max_field_bytes;    /* a single field/string value, e.g. 1 MiB */
    size_t max_records;        /* records from one payload */
} hg_parse_limits_t;

/* Creates an empty batch whose arena refuses to grow past arena_limit_bytes
 * (0: no limit). NULL when out of memory. */
hg_batch_t *hg_batch_new (size_t arena_limit_bytes);
void hg_batch_destroy (hg_batch_t **self_p);

/* Empties the batch for reuse (keeps one arena block). */
void hg_batch_reset (hg_batch_t *self);

hg_arena_t *hg_batch_arena (hg_batch_t *self);

/* Appends a new record of the given kind, every field initialised (strings
 * are "" as protobuf-c expects), provenance and demographics NULL.
 * Returns NULL when the arena limit is reached. */
Hourglass__Record *hg_batch_add_record (hg_batch_t *self, Hourglass__RecordKind kind);

/* Removes the last record (a parser that fails half-way through a record). */
void hg_batch_drop_last (hg_batch_t *self);

/* Records a reject. excerpt may be NULL. location and reason are copied. */
void hg_batch_reject (hg_batch_t *self, const char *excerpt, size_t excerpt_len,
                      const char *location, const char *fmt, ...)
    __attribute__ ((format (printf, 5, 6)));

/* Counts a resource that is valid but carries no patient data (FHIR
 * Organization, Practitioner...); reported, neither indexed nor quarantined. */
void hg_batch_ignore (hg_batch_t *self);

size_t hg_batch_record_count (const hg_batch_t *self);
Hourglass__Record **hg_batch_records (hg_batch_t *self);
size_t hg_batch_reject_count (const hg_batch_t *self);
const hg_reject_t *hg_batch_rejects (const hg_batch_t *self);
size_t hg_batch_ignored (const hg_batch_t *self);

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

/* "demographics", "lab-observation", ...; and back (KIND_UNKNOWN if unknown). */
const char *hg_record_kind_name (Hourglass__RecordKind kind);

/* True when s is NULL or "" (protobuf-c's empty string). */
static inline bool
hg_str_empty (const char *s)
{
    return !s || !*s;
}

#endif
