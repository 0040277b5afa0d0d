/*
 * cleanse.h -- the cleanser's step between parsing and the store (pure).
 *
 * Takes the records one parser produced from one payload and makes them
 * the records that leave the cleanser:
 *
 *   1. patient links (FHIR payloads): the FHIR parser links a record to its
 *      patient's identifier when the Patient is in the same payload
 *      (fhir.h); a bulk export sends Patient.ndjson and Observation.ndjson
 *      as separate payloads. So every linked FHIR Patient becomes a link
 *      (partner, Patient id) -> identifier, added to the round's links and
 *      returned for the caller to store; records still flagged
 *      "patient.unlinked" are then looked up among the round's links, else
 *      through the caller's lookup of links committed earlier, and get the
 *      identifier (and lose that flag). Records that arrived before their
 *      Patient are not re-linked afterwards;
 *   1c. PatientSex of DICOM files (every payload): the sex a DICOM record
 *      gives (M, F, O; not "unknown" or absent) is compared with the one
 *      the partner's previous DICOM file of the same PatientID gave; a
 *      different one flags the record HG_CLEANSE_FLAG_SEX_CHANGED (kept,
 *      counted in the partner's report). The last sex given is remembered
 *      as a link under the reserved id HG_CLEANSE_SEX_ID + PatientID (the
 *      links table and its store rows L\0<partner>\0<id>, whose FHIR ids
 *      never start with a control character). The rule holds per cleanser
 *      instance, in its store (and a gone replica's adopted one): two
 *      files of one PatientID that reach different instances are not
 *      compared;
 *   2. normalisation (normalize.h), each record checked against the birth
 *      and death of its patient's demographics record when the payload
 *      carries one; the flags are appended to the record's flags as codes
 *      (their messages quote values: PHI, so they are dropped);
 *   3. provenance: partner and source message set, source format when the
 *      parser set none;
 *   4. the content key (record.h).
 *
 * No store, no sockets, no clock: what the service knows (partner, message,
 * today, committed links) comes in through hg_cleanse_ctx_t.
 */
#ifndef HG_CLEANSE_H
#define HG_CLEANSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "err.h"
#include "hourglass.pb-c.h"
#include "links.h"

/* A partner name and a Patient id longer than this together are not linked
 * (the store key of a link holds both and is at most 1023 bytes). */
#define HG_CLEANSE_LINK_MAX 1020

/* The reserved link id prefix of the PatientSex remembered per PatientID
 * (step 1c), and the flag of a record whose sex changed. */
#define HG_CLEANSE_SEX_ID "\001sex\001"
#define HG_CLEANSE_FLAG_SEX_CHANGED "patient.sex_changed"

/* Flag codes returned per payload, at most (the rest are counted in
 * flagged only). */
#define HG_CLEANSE_FLAG_CODES_MAX 1024

/* Looks up a link committed in an earlier round: on 0, *identifier is the
 * identifier of partner's FHIR Patient patient_id, copied into a. Returns
 * HG_ENOTFOUND when there is no such link (or it cannot be read: the
 * record then stays unlinked), HG_ENOMEM when a is exhausted. */
typedef int (*hg_cleanse_lookup_fn) (void *arg, hg_arena_t *a, const char *partner,
                                     const char *patient_id, char **identifier);

typedef struct {
    const char *partner;         /* the payload's partner */
    const char *message_id;      /* the payload's message id */
    const char *format;          /* source_format of records whose parser set none */
    bool link_patients;          /* step 1 (FHIR payloads only) */
    int64_t today_days;          /* "now", days since 1970-01-01 (UTC): dates after it
                                   * are flagged "date.in_future" */
    hg_links_t *links;           /* the round's links: read, and extended with the
                                   * payload's (required when link_patients) */
    hg_cleanse_lookup_fn lookup; /* links committed earlier; NULL: none */
    void *lookup_arg;
} hg_cleanse_ctx_t;

/* A link made from one of the payload's FHIR Patients, for the store. */
typedef struct {
    const char *patient_id; /* the Patient's resource id */
    const char *identifier; /* the patient's identifier */
} hg_cleanse_link_t;

typedef struct {
    hg_cleanse_link_t *links; /* new or changed links, in record order (in a); a
                                   * later one of the same Patient replaces an earlier */
    size_t n_links;
    const char *flag_codes[HG_CLEANSE_FLAG_CODES_MAX]; /* normalisation flags of the
                                   * records, in order (static strings) */
    size_t n_flag_codes;
    size_t flagged;  /* records with at least one normalisation or parser flag
                      * ("patient.unlinked" aside) */
    size_t relinked; /* records linked by a link of another payload */
    size_t unlinked; /* records left flagged "patient.unlinked" */
} hg_cleanse_result_t;

/* Cleanses recs[0..n) in place (steps 1-4 above). New strings and arrays
 * come from a (the records' batch arena); out is filled (its pointers point
 * into a or the records). Returns 0, or HG_ENOMEM with err saying so: the
 * records are then partly cleansed, must not leave, and ctx->links may hold
 * links of this payload that are in no result. */
int hg_cleanse (const hg_cleanse_ctx_t *ctx, hg_arena_t *a, Hourglass__Record **recs, size_t n,
                hg_cleanse_result_t *out, hg_err_t *err);

#endif
