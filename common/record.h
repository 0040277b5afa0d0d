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

/* Arena-backed constructors for sub-messages; strings copied. NULL on limit. */
Hourglass__Coding *hg_coding_new (hg_arena_t *a, const char *system, const char *code,
                                  const char *display);
Hourglass__Demographics *hg_demographics_new (hg_arena_t *a);
Hourglass__Provenance *hg_provenance_new (hg_arena_t *a);
Hourglass__Quantity *hg_quantity_new (hg_arena_t *a, double value, const char *unit);
Hourglass__Identifier *hg_identifier_new (hg_arena_t *a, const char *system, const char *value,
                                          const char *type);

/* Appends a coding to rec->codes (grows the array in the arena). */
int hg_record_add_code (hg_arena_t *a, Hourglass__Record *rec, const char *system,
                        const char *code, const char *display);
int hg_record_add_identifier (hg_arena_t *a, Hourglass__Record *rec, const char *system,
                              const char *value, const char *type);
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
