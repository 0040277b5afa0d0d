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

#include <stdbool.h>
#include <stddef.h>

#include "batch.h"

/* Record flag of a record whose patient_ref is a FHIR Patient resource id
 * that could not be resolved to the patient's identifier (see below). A
 * data-quality flag, not a validation one: counted per partner as
 * "patient.unlinked", it does not make a record implausible. */
#define HG_FHIR_FLAG_UNLINKED "patient.unlinked"

/* Flag of the records of a resource whose id breaks R4's id rule
 * ([A-Za-z0-9\-\.]{1,64}): kept, counted in the partner's report. */
#define HG_FHIR_FLAG_BAD_ID "id.invalid"

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
 * that is not base64 or not UTF-8 text rejects the resource). Every other
 * FHIR R4 resource type is valid data we do not map: non-clinical ones
 * (Organization, Practitioner, ...) are counted with hg_batch_ignore as
 * "FHIR <type>", clinical ones no mapping takes (Specimen, ServiceRequest,
 * RelatedPerson, CarePlan, ...) as "FHIR <type> (unsupported)", and a
 * DocumentReference without subject (0..1 in R4) as "FHIR DocumentReference
 * without subject"; a resourceType that is not an R4 type is rejected. The
 * records of a resource whose id breaks R4's id rule carry
 * HG_FHIR_FLAG_BAD_ID. Every record carries a provenance with
 * source_format "fhir" and source_record_id "<Type>/<id>"; record_id,
 * partner and source_message_id are left empty for the caller.
 *
 * limits may be NULL (no limits). limits->max_field_bytes caps any single
 * JSON string; limits->max_records caps the records produced, the rest of
 * the payload being rejected. All strings live in out's arena.
 *
 * Patient linking. patient_ref is the identifier HL7 v2 would carry for
 * the patient, so the same fact sent as HL7 and as FHIR gets one content
 * key (record.h). hl7v2.c takes the first PID-3 repetition typed MR, else
 * the first; here the same rule picks from Patient.identifier[]: the first
 * identifier whose type has a coding "MR" of HL7 table 0203
 * (http://terminology.hl7.org/CodeSystem/v2-0203, or no system), else the
 * first identifier with a value (identifiers of use "old" skipped). Then:
 *   Patient                              patient_ref = that identifier;
 *   subject/patient Reference with
 *     identifier.value                   that value (logical reference);
 *     "[base/]Patient?identifier=[system|]value"
 *                                        that value, %XX-decoded
 *                                        (conditional reference);
 *     "Patient/<id>", "urn:uuid:..."     the identifier of Patient <id>
 *                                        when that Patient is anywhere in
 *                                        the same payload (Bundle entry,
 *                                        NDJSON line, before or after);
 * otherwise (no Patient in the payload, or one without any identifier)
 * patient_ref is the Patient's resource id, as before, and the record gets
 * the flag HG_FHIR_FLAG_UNLINKED: the cleanser then looks the id up in its
 * link table of Patients seen in earlier payloads, and counts what stays
 * unlinked in the partner's quality report. Identifier systems are not
 * compared: like PID-3's value, the value alone names the patient within
 * the partner.
 *
 * Returns the number of records added (>= 0), or HG_ENOMEM when the batch
 * arena (or malloc) ran out; a reject "payload exceeds parser memory limit"
 * is added then and records of the resource being parsed are dropped. */
int hg_fhir_parse (const char *data, size_t len, const hg_parse_limits_t *limits,
                   hg_batch_t *out);

/* True when rec carries HG_FHIR_FLAG_UNLINKED. */
bool hg_fhir_record_unlinked (const Hourglass__Record *rec);

#endif
