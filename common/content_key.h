/*
 * content_key.h -- the content key of a canonical record: what makes the
 * same fact, arriving twice or in two formats, the same record. Pure logic.
 */
#ifndef HG_CONTENT_KEY_H
#define HG_CONTENT_KEY_H

#include "arena.h"
#include "hourglass.pb-c.h"

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
 *   birth      birth_date to the day, and sex;
 *   study      an imaging study's study instance UID (its identifier
 *              "urn:oid:<uid>" of system urn:dicom:uid, or urn:ietf:rfc:3986
 *              as FHIR ImagingStudy.identifier spells it): two studies of
 *              one patient at the same time are two records.
 * The record is not modified apart from record_id. HG_ENOMEM when the arena
 * is exhausted. */
int hg_record_set_content_key (hg_arena_t *a, Hourglass__Record *rec);

#endif
