/*
 * fhir.h -- FHIR R4 JSON to canonical records.
 *
 * Pure logic: takes a payload buffer, fills a batch. Accepts a single
 * resource, a Bundle of any type (resources in entry[].resource) or NDJSON
 * (one resource per line). Hostile input is expected: every failure becomes
 * a reject in the batch with a location and a reason naming the resource,
 * the field and what is wrong; nothing aborts or reads out of bounds.
 */
#ifndef HG_FHIR_H
#define HG_FHIR_H

#include <stddef.h>

#include "record.h"

/* Parses data[0..len) (need not be NUL-terminated; may hold NULs) and
 * appends canonical records to out: Patient -> demographics; Encounter,
 * Condition, Observation (plus one record per component), MedicationRequest,
 * MedicationStatement, Procedure, Immunization, AllergyIntolerance,
 * DiagnosticReport -> clinical records; ImagingStudy -> imaging study
 * (codes from modality[], else the series' modalities, and procedureCode;
 * effective `started`; identifiers from identifier[]); DocumentReference ->
 * note (codes from type, effective `date`, encounter from
 * context.encounter[0], and text from content[0].attachment.data decoded
 * from base64 when contentType is text/plain in UTF-8 or US-ASCII; data
 * that is not base64 or not UTF-8 text rejects the resource). CarePlan,
 * Goal, ServiceRequest and other clinical resources are rejected as
 * unsupported. Non-clinical resources (Organization, Practitioner, ...) are
 * counted with hg_batch_ignore. Every record carries a provenance with
 * source_format "fhir" and source_record_id "<Type>/<id>"; record_id,
 * partner and source_message_id are left empty for the caller.
 *
 * limits may be NULL (no limits). limits->max_field_bytes caps any single
 * JSON string; limits->max_records caps the records produced, the rest of
 * the payload being rejected. All strings live in out's arena.
 *
 * Returns the number of records added (>= 0), or HG_ENOMEM when the batch
 * arena (or malloc) ran out; a reject "payload exceeds parser memory limit"
 * is added then and records of the resource being parsed are dropped. */
int hg_fhir_parse (const char *data, size_t len, const hg_parse_limits_t *limits,
                   hg_batch_t *out);

#endif
