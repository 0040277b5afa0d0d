/*
 * test_fhir.c -- FHIR R4 JSON parser: mappings, reject reasons, hostile input,
 * and (when ../shared/data is present) real public samples.
 */
#include "unit_test.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fhir.h"
#include "parser_test.h"

static hg_batch_t *
s_parse_lim (const char *json, size_t len, size_t max_field, size_t max_records, int *rc)
{
    return hg_test_parse (hg_fhir_parse, json, len, max_field, max_records, rc);
}

static hg_batch_t *
s_parse (const char *json, int *rc)
{
    return s_parse_lim (json, strlen (json), 1 << 20, 0, rc);
}

static void
test_patient_mapping (void **state)
{
    const char *json =
        "{\"resourceType\":\"Patient\",\"id\":\"p-1\","
        "\"identifier\":[{\"system\":\"http://hospital.example/mrn\",\"value\":\"MRN123\","
        "\"type\":{\"coding\":[{\"system\":\"http://terminology.hl7.org/CodeSystem/v2-0203\","
        "\"code\":\"MR\"}]}},{\"system\":\"http://hl7.org/fhir/sid/us-ssn\",\"value\":\"999-11-2222\","
        "\"type\":{\"coding\":[{\"code\":\"SS\"}]}}],"
        "\"name\":[{\"use\":\"nickname\",\"family\":\"Nick\",\"given\":[\"N\"]},"
        "{\"use\":\"official\",\"family\":\"Smith\",\"given\":[\"Anna\",\"Maria\"]}],"
        "\"telecom\":[{\"system\":\"phone\",\"value\":\"555-1234\"},{\"system\":\"email\","
        "\"value\":\"a@example.org\"}],\"gender\":\"female\",\"birthDate\":\"1970-02\","
        "\"deceasedDateTime\":\"2020-05-06T07:08:09-05:00\","
        "\"address\":[{\"line\":[\"1 Main St\",\"Apt 2\"],\"city\":\"Springfield\","
        "\"state\":\"IL\",\"postalCode\":\"62701\",\"country\":\"US\"}]}";
    int rc;
    hg_batch_t *b = s_parse (json, &rc);
    assert_int_equal (rc, 1);
    assert_int_equal (hg_batch_reject_count (b), 0);
    Hourglass__Record *r = hg_batch_records (b)[0];
    assert_int_equal (r->kind, HOURGLASS__RECORD_KIND__KIND_DEMOGRAPHICS);
    /* known by its MR identifier, as HL7's PID-3 would name it */
    assert_string_equal (r->patient_ref, "MRN123");
    assert_false (hg_fhir_record_unlinked (r));
    assert_string_equal (r->record_id, "");
    assert_string_equal (r->provenance->source_format, "fhir");
    assert_string_equal (r->provenance->source_record_id, "Patient/p-1");
    assert_string_equal (r->provenance->partner, "");
    Hourglass__Demographics *d = r->demographics;
    assert_non_null (d);
    assert_string_equal (d->family, "Smith");
    assert_int_equal (d->n_given, 2);
    assert_string_equal (d->given[0], "Anna");
    assert_string_equal (d->given[1], "Maria");
    assert_string_equal (d->birth_date, "1970-02");
    assert_string_equal (d->sex, "female");
    assert_string_equal (d->deceased_date, "2020-05-06T07:08:09-05:00");
    assert_int_equal (d->n_address_lines, 2);
    assert_string_equal (d->address_lines[1], "Apt 2");
    assert_string_equal (d->city, "Springfield");
    assert_string_equal (d->state, "IL");
    assert_string_equal (d->postal_code, "62701");
    assert_string_equal (d->country, "US");
    assert_int_equal (d->n_telecom, 2);
    assert_string_equal (d->telecom[1], "a@example.org");
    assert_int_equal (r->n_identifiers, 2);
    assert_string_equal (r->identifiers[0]->system, "http://hospital.example/mrn");
    assert_string_equal (r->identifiers[0]->value, "MRN123");
    assert_string_equal (r->identifiers[0]->type, "MR");
    assert_string_equal (r->identifiers[1]->type, "SS");
    hg_batch_destroy (&b);
}

static const char *s_bundle =
    "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":[\n"
    " {\"fullUrl\":\"urn:uuid:aaaa-1\",\"resource\":{\"resourceType\":\"Patient\",\"id\":\"pat-42\","
    "\"gender\":\"male\"}},\n"
    " {\"fullUrl\":\"urn:uuid:org-1\",\"resource\":{\"resourceType\":\"Organization\",\"id\":\"o1\"}},\n"
    " {\"fullUrl\":\"urn:uuid:enc-1\",\"resource\":{\"resourceType\":\"Encounter\",\"id\":\"e1\","
    "\"status\":\"finished\",\"class\":{\"system\":\"http://terminology.hl7.org/CodeSystem/v3-ActCode\","
    "\"code\":\"AMB\"},\"type\":[{\"coding\":[{\"system\":\"http://snomed.info/sct\",\"code\":\"185349003\","
    "\"display\":\"Encounter for check up\"}]}],\"subject\":{\"reference\":\"urn:uuid:aaaa-1\"},"
    "\"period\":{\"start\":\"2019-03-04T10:00:00+01:00\",\"end\":\"2019-03-04T10:30:00+01:00\"}}},\n"
    " {\"resource\":{\"resourceType\":\"Condition\",\"id\":\"c1\",\"clinicalStatus\":{\"coding\":[{"
    "\"code\":\"active\"}]},\"code\":{\"coding\":[{\"system\":\"http://snomed.info/sct\","
    "\"code\":\"44054006\",\"display\":\"Diabetes\"}]},\"subject\":{\"reference\":\"urn:uuid:bbbb-2\"},"
    "\"encounter\":{\"reference\":\"urn:uuid:enc-1\"},\"recordedDate\":\"2019-03-04\"}},\n"
    " {\"resource\":{\"resourceType\":\"Observation\",\"id\":\"o2\",\"status\":\"final\","
    "\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"2339-0\"}]},"
    "\"subject\":{\"reference\":\"http://fhir.example/r4/Patient/pat-7/_history/3\"},"
    "\"effectivePeriod\":{\"start\":\"2019-03-04\"},\"valueString\":\"positive\"}}\n"
    "]}";

static void
test_bundle_urn_uuid (void **state)
{
    int rc;
    hg_batch_t *b = s_parse (s_bundle, &rc);
    assert_int_equal (rc, 4);
    assert_int_equal (hg_batch_reject_count (b), 0);
    assert_int_equal (hg_batch_ignored (b), 1);
    Hourglass__Record **r = hg_batch_records (b);
    assert_int_equal (r[1]->kind, HOURGLASS__RECORD_KIND__KIND_ENCOUNTER);
    assert_string_equal (r[1]->patient_ref, "pat-42"); /* resolved via fullUrl */
    assert_int_equal (r[1]->n_codes, 2);
    assert_string_equal (r[1]->codes[0]->code, "AMB");
    assert_string_equal (r[1]->codes[0]->system,
                         "http://terminology.hl7.org/CodeSystem/v3-ActCode");
    assert_string_equal (r[1]->codes[1]->system, "http://snomed.info/sct");
    assert_string_equal (r[1]->codes[1]->display, "Encounter for check up");
    assert_string_equal (r[1]->effective, "2019-03-04T10:00:00+01:00"); /* offset kept */
    assert_string_equal (r[1]->effective_end, "2019-03-04T10:30:00+01:00");
    assert_string_equal (r[1]->status, "finished");
    assert_string_equal (r[1]->provenance->source_record_id, "Encounter/e1");

    assert_int_equal (r[2]->kind, HOURGLASS__RECORD_KIND__KIND_CONDITION);
    assert_string_equal (r[2]->patient_ref, "bbbb-2"); /* no such entry: the uuid */
    assert_string_equal (r[2]->status, "active");
    assert_string_equal (r[2]->effective, "2019-03-04"); /* recordedDate fallback */
    assert_string_equal (r[2]->encounter_ref, "enc-1");
    assert_string_equal (r[2]->codes[0]->code, "44054006");

    assert_int_equal (r[3]->kind, HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION);
    assert_string_equal (r[3]->patient_ref, "pat-7");
    assert_string_equal (r[3]->effective, "2019-03-04");
    assert_int_equal (r[3]->value_case, HOURGLASS__RECORD__VALUE_STRING_VALUE);
    assert_string_equal (r[3]->string_value, "positive");
    hg_batch_destroy (&b);
}

static void
test_observation_components (void **state)
{
    const char *json =
        "{\"resourceType\":\"Observation\",\"id\":\"bp-1\",\"status\":\"final\","
        "\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"85354-9\"}]},"
        "\"subject\":{\"reference\":\"Patient/123\"},\"effectiveDateTime\":\"2021-06-01T08:15:00Z\","
        "\"component\":["
        "{\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"8480-6\"}]},"
        "\"valueQuantity\":{\"value\":120,\"unit\":\"mmHg\",\"code\":\"mm[Hg]\"},"
        "\"interpretation\":[{\"coding\":[{\"code\":\"H\"}]}],"
        "\"referenceRange\":[{\"low\":{\"value\":90,\"unit\":\"mmHg\"},\"high\":{\"value\":119.5,"
        "\"unit\":\"mmHg\"}}]},"
        "{\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"8462-4\"}]},"
        "\"valueQuantity\":{\"value\":80.5,\"unit\":\"mmHg\",\"comparator\":\"<\"}}]}";
    int rc;
    hg_batch_t *b = s_parse (json, &rc);
    assert_int_equal (rc, 3);
    assert_int_equal (hg_batch_reject_count (b), 0);
    Hourglass__Record **r = hg_batch_records (b);
    assert_string_equal (r[0]->codes[0]->code, "85354-9");
    assert_int_equal (r[0]->value_case, HOURGLASS__RECORD__VALUE__NOT_SET);
    assert_string_equal (r[0]->effective, "2021-06-01T08:15:00Z");
    assert_string_equal (r[1]->codes[0]->code, "8480-6");
    assert_string_equal (r[1]->patient_ref, "123");
    assert_string_equal (r[1]->effective, "2021-06-01T08:15:00Z");
    assert_string_equal (r[1]->status, "final");
    assert_int_equal (r[1]->value_case, HOURGLASS__RECORD__VALUE_QUANTITY);
    assert_true (r[1]->quantity->value == 120.0);
    assert_string_equal (r[1]->quantity->unit, "mm[Hg]"); /* code preferred */
    assert_string_equal (r[1]->interpretation, "H");
    assert_string_equal (r[1]->reference_range, "90-119.5 mmHg");
    assert_string_equal (r[1]->provenance->source_record_id, "Observation/bp-1/component[0]");
    assert_true (r[2]->quantity->value == 80.5);
    assert_string_equal (r[2]->quantity->unit, "mmHg");
    assert_string_equal (r[2]->quantity->comparator, "<");
    hg_batch_destroy (&b);
}

static void
test_other_resources (void **state)
{
    const char *nd =
        "{\"resourceType\":\"MedicationRequest\",\"id\":\"m1\",\"status\":\"active\","
        "\"medicationCodeableConcept\":{\"coding\":[{\"system\":\"http://www.nlm.nih.gov/research/umls/rxnorm\","
        "\"code\":\"197361\"}]},\"subject\":{\"reference\":\"Patient/p\"},\"authoredOn\":\"2020-01-02\"}\n"
        "{\"resourceType\":\"Procedure\",\"id\":\"pr1\",\"code\":{\"coding\":[{\"system\":\"http://snomed.info/sct\","
        "\"code\":\"80146002\"}]},\"subject\":{\"reference\":\"Patient/p\"},"
        "\"performedPeriod\":{\"start\":\"2020-01-03T10:00:00+02:00\",\"end\":\"2020-01-03T11:00:00+02:00\"}}\n"
        "{\"resourceType\":\"Immunization\",\"id\":\"i1\",\"vaccineCode\":{\"coding\":[{\"system\":"
        "\"http://hl7.org/fhir/sid/cvx\",\"code\":\"140\"}]},\"patient\":{\"reference\":\"Patient/p\"},"
        "\"occurrenceDateTime\":\"2020-10-01\"}\n"
        "{\"resourceType\":\"AllergyIntolerance\",\"id\":\"a1\",\"code\":{\"coding\":[{\"system\":"
        "\"http://snomed.info/sct\",\"code\":\"91936005\"}]},\"patient\":{\"reference\":\"Patient/p\"},"
        "\"recordedDate\":\"2018\"}\n"
        "{\"resourceType\":\"DiagnosticReport\",\"id\":\"d1\",\"code\":{\"coding\":[{\"system\":"
        "\"http://loinc.org\",\"code\":\"58410-2\"}]},\"subject\":{\"reference\":\"Patient/p\"},"
        "\"issued\":\"2020-01-05T09:00:00.123+01:00\"}\n";
    int rc;
    hg_batch_t *b = s_parse (nd, &rc);
    assert_int_equal (rc, 5);
    assert_int_equal (hg_batch_reject_count (b), 0);
    Hourglass__Record **r = hg_batch_records (b);
    assert_int_equal (r[0]->kind, HOURGLASS__RECORD_KIND__KIND_MEDICATION);
    assert_string_equal (r[0]->effective, "2020-01-02");
    assert_string_equal (r[0]->codes[0]->code, "197361");
    assert_int_equal (r[1]->kind, HOURGLASS__RECORD_KIND__KIND_PROCEDURE);
    assert_string_equal (r[1]->effective, "2020-01-03T10:00:00+02:00");
    assert_string_equal (r[1]->effective_end, "2020-01-03T11:00:00+02:00");
    assert_int_equal (r[2]->kind, HOURGLASS__RECORD_KIND__KIND_MEDICATION);
    assert_string_equal (r[2]->codes[0]->system, "http://hl7.org/fhir/sid/cvx");
    assert_string_equal (r[2]->effective, "2020-10-01");
    assert_int_equal (r[3]->kind, HOURGLASS__RECORD_KIND__KIND_CONDITION);
    assert_string_equal (r[3]->effective, "2018");
    assert_int_equal (r[4]->kind, HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION);
    assert_string_equal (r[4]->effective, "2020-01-05T09:00:00.123+01:00");
    assert_string_equal (r[4]->provenance->source_record_id, "DiagnosticReport/d1");
    hg_batch_destroy (&b);
}

static void
test_medication_statement (void **state)
{
    const char *nd =
        "{\"resourceType\":\"MedicationStatement\",\"id\":\"ms1\",\"status\":\"active\","
        "\"medicationCodeableConcept\":{\"coding\":[{\"system\":"
        "\"http://www.nlm.nih.gov/research/umls/rxnorm\",\"code\":\"314076\",\"display\":"
        "\"lisinopril 10 MG Oral Tablet\"}]},\"subject\":{\"reference\":\"Patient/p\"},"
        "\"context\":{\"reference\":\"Encounter/e9\"},"
        "\"effectiveDateTime\":\"2020-02-03T04:05:06Z\"}\n"
        "{\"resourceType\":\"MedicationStatement\",\"id\":\"ms2\",\"status\":\"completed\","
        "\"medicationCodeableConcept\":{\"coding\":[{\"system\":\"s\",\"code\":\"1\"}]},"
        "\"subject\":{\"reference\":\"Patient/p\"},"
        "\"effectivePeriod\":{\"start\":\"2019-01\",\"end\":\"2019-06\"}}\n"
        "{\"resourceType\":\"MedicationStatement\",\"id\":\"ms3\",\"status\":\"active\","
        "\"medicationCodeableConcept\":{\"coding\":[{\"system\":\"s\",\"code\":\"2\"}]},"
        "\"subject\":{\"reference\":\"Patient/p\"},\"dateAsserted\":\"2018-07-08\"}\n"
        "{\"resourceType\":\"MedicationStatement\",\"id\":\"ms4\",\"status\":\"active\","
        "\"medicationReference\":{\"reference\":\"Medication/m\"},"
        "\"subject\":{\"reference\":\"Patient/p\"}}\n"
        "{\"resourceType\":\"MedicationStatement\",\"id\":\"ms5\",\"status\":\"active\","
        "\"medicationCodeableConcept\":{\"text\":\"aspirin\"},"
        "\"subject\":{\"reference\":\"Patient/p\"}}\n";
    int rc;
    hg_batch_t *b = s_parse (nd, &rc);
    assert_int_equal (rc, 3);
    assert_int_equal (hg_batch_reject_count (b), 2);
    Hourglass__Record **r = hg_batch_records (b);
    assert_int_equal (r[0]->kind, HOURGLASS__RECORD_KIND__KIND_MEDICATION);
    assert_string_equal (r[0]->patient_ref, "p");
    assert_string_equal (r[0]->codes[0]->system, HG_SYS_RXNORM);
    assert_string_equal (r[0]->codes[0]->code, "314076");
    assert_string_equal (r[0]->codes[0]->display, "lisinopril 10 MG Oral Tablet");
    assert_string_equal (r[0]->effective, "2020-02-03T04:05:06Z");
    assert_string_equal (r[0]->status, "active");
    assert_string_equal (r[0]->provenance->source_record_id, "MedicationStatement/ms1");
    assert_string_equal (r[0]->encounter_ref, "e9"); /* R4 `context` */
    assert_string_equal (r[1]->encounter_ref, "");
    assert_string_equal (r[1]->effective, "2019-01");
    assert_string_equal (r[1]->effective_end, "2019-06");
    assert_string_equal (r[1]->status, "completed");
    assert_string_equal (r[2]->effective, "2018-07-08"); /* dateAsserted fallback */
    assert_non_null (
        hg_test_reject_near (b, "line 4 (MedicationStatement/ms4)",
                             "MedicationStatement.medicationReference is not supported; "
                             "the medication must be given as "
                             "medicationCodeableConcept"));
    assert_non_null (
        hg_test_reject_near (b, "line 5 (MedicationStatement/ms5)",
                             "MedicationStatement.medicationCodeableConcept has no coding "
                             "with both system and code"));
    hg_batch_destroy (&b);
}

static void
test_imaging_study (void **state)
{
    const char *nd =
        "{\"resourceType\":\"ImagingStudy\",\"id\":\"is1\",\"status\":\"available\","
        "\"identifier\":[{\"system\":\"urn:dicom:uid\",\"value\":\"urn:oid:1.2.840.99.1\"},"
        "{\"type\":{\"coding\":[{\"system\":\"http://terminology.hl7.org/CodeSystem/v2-0203\","
        "\"code\":\"ACSN\"}]},\"system\":\"http://ris.example/acc\",\"value\":\"A-77\"},"
        "{\"system\":\"x\"}],"
        "\"modality\":[{\"system\":\"http://dicom.nema.org/resources/ontology/DCM\",\"code\":\"CT\"},"
        "{\"code\":\"nosystem\"}],"
        "\"subject\":{\"reference\":\"Patient/p\"},\"encounter\":{\"reference\":\"Encounter/e1\"},"
        "\"started\":\"2017-01-01T11:01:20+03:00\","
        "\"procedureCode\":[{\"coding\":[{\"system\":\"http://www.radlex.org\",\"code\":\"RPID16\","
        "\"display\":\"CT chest\"}]}]}\n"
        "{\"resourceType\":\"ImagingStudy\",\"id\":\"is2\",\"status\":\"available\","
        "\"subject\":{\"reference\":\"Patient/p\"},\"series\":["
        "{\"modality\":{\"system\":\"http://dicom.nema.org/resources/ontology/DCM\",\"code\":\"MR\"}},"
        "{\"modality\":{\"system\":\"http://dicom.nema.org/resources/ontology/DCM\",\"code\":\"MR\"}},"
        "{\"modality\":{\"system\":\"http://dicom.nema.org/resources/ontology/DCM\",\"code\":\"SR\"}}]}\n"
        "{\"resourceType\":\"ImagingStudy\",\"id\":\"is3\",\"status\":\"available\","
        "\"subject\":{\"reference\":\"Patient/p\"},\"started\":\"2017\"}\n"
        "{\"resourceType\":\"ImagingStudy\",\"id\":\"is4\",\"subject\":{\"reference\":\"Patient/p\"},"
        "\"modality\":[{\"system\":\"s\",\"code\":\"US\"}],\"started\":\"2017-02-30\"}\n";
    int rc;
    hg_batch_t *b = s_parse (nd, &rc);
    assert_int_equal (rc, 2);
    assert_int_equal (hg_batch_reject_count (b), 2);
    Hourglass__Record **r = hg_batch_records (b);
    assert_int_equal (r[0]->kind, HOURGLASS__RECORD_KIND__KIND_IMAGING_STUDY);
    assert_string_equal (r[0]->patient_ref, "p");
    assert_string_equal (r[0]->encounter_ref, "e1");
    assert_string_equal (r[0]->status, "available");
    assert_int_equal (r[0]->n_codes, 2); /* the coding without a system is skipped */
    assert_string_equal (r[0]->codes[0]->system, "http://dicom.nema.org/resources/ontology/DCM");
    assert_string_equal (r[0]->codes[0]->code, "CT");
    assert_string_equal (r[0]->codes[1]->system, "http://www.radlex.org");
    assert_string_equal (r[0]->codes[1]->code, "RPID16");
    assert_string_equal (r[0]->codes[1]->display, "CT chest");
    assert_string_equal (r[0]->effective, "2017-01-01T11:01:20+03:00");
    assert_int_equal (r[0]->n_identifiers, 2); /* the one without a value is skipped */
    assert_string_equal (r[0]->identifiers[0]->system, "urn:dicom:uid");
    assert_string_equal (r[0]->identifiers[0]->value, "urn:oid:1.2.840.99.1");
    assert_string_equal (r[0]->identifiers[1]->value, "A-77");
    assert_string_equal (r[0]->identifiers[1]->type, "ACSN");
    assert_string_equal (r[0]->provenance->source_record_id, "ImagingStudy/is1");
    /* no study-level modality: the distinct series modalities */
    assert_int_equal (r[1]->n_codes, 2);
    assert_string_equal (r[1]->codes[0]->code, "MR");
    assert_string_equal (r[1]->codes[1]->code, "SR");
    assert_string_equal (r[1]->effective, "");
    assert_non_null (hg_test_reject_near (b, "line 3 (ImagingStudy/is3)",
                                          "ImagingStudy has no modality, series modality or "
                                          "procedureCode coding with both system and code"));
    assert_non_null (
        hg_test_reject_near (b, "line 4 (ImagingStudy/is4)",
                             "ImagingStudy.started '2017-02-30' is not a valid date"));
    hg_batch_destroy (&b);
}

/* A DocumentReference line with the given contentType and data. */
static char *
s_docref (const char *id, const char *content_type, const char *data)
{
    char *json = malloc (1024 + strlen (data));
    assert_non_null (json);
    sprintf (json,
             "{\"resourceType\":\"DocumentReference\",\"id\":\"%s\",\"status\":\"current\","
             "\"type\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"34117-2\","
             "\"display\":\"History and physical note\"},{\"system\":\"http://loinc.org\","
             "\"code\":\"51847-2\"}]},\"subject\":{\"reference\":\"Patient/p\"},"
             "\"date\":\"1987-11-19T00:22:16.824-05:00\","
             "\"content\":[{\"attachment\":{\"contentType\":\"%s\",\"data\":\"%s\"}}],"
             "\"context\":{\"encounter\":[{\"reference\":\"Encounter/e-5\"}]}}",
             id, content_type, data);
    return json;
}

static void
test_document_reference (void **state)
{
    /* base64 of "Chief complaint: cough.\nSeen by Dr. M\xc3\xbcller." */
    const char *b64 = "Q2hpZWYgY29tcGxhaW50OiBjb3VnaC4KU2VlbiBieSBEci4gTcO8bGxlci4=";
    char *json = s_docref ("d1", "text/plain; charset=utf-8", b64);
    int rc;
    hg_batch_t *b = s_parse (json, &rc);
    assert_int_equal (rc, 1);
    assert_int_equal (hg_batch_reject_count (b), 0);
    Hourglass__Record *r = hg_batch_records (b)[0];
    assert_int_equal (r->kind, HOURGLASS__RECORD_KIND__KIND_NOTE);
    assert_string_equal (r->patient_ref, "p");
    assert_string_equal (r->status, "current");
    assert_int_equal (r->n_codes, 2);
    assert_string_equal (r->codes[0]->system, HG_SYS_LOINC);
    assert_string_equal (r->codes[0]->code, "34117-2");
    assert_string_equal (r->codes[1]->code, "51847-2");
    assert_string_equal (r->effective, "1987-11-19T00:22:16.824-05:00");
    assert_string_equal (r->encounter_ref, "e-5"); /* context.encounter[0] */
    assert_string_equal (r->text, "Chief complaint: cough.\nSeen by Dr. M\xc3\xbcller.");
    assert_string_equal (r->provenance->source_record_id, "DocumentReference/d1");
    hg_batch_destroy (&b);
    free (json);

    /* plain text without charset; other types keep the record without text */
    const char *types[] = {"text/plain", "text/html", "application/pdf",
                           "text/plain; charset=ISO-8859-1", "text/plainx"};
    const char *texts[] = {"Chief complaint: cough.\nSeen by Dr. M\xc3\xbcller.", "", "", "", ""};
    for (size_t i = 0; i < 5; i++) {
        json = s_docref ("d2", types[i], b64);
        b = s_parse (json, &rc);
        assert_int_equal (rc, 1);
        assert_string_equal (hg_batch_records (b)[0]->text, texts[i]);
        hg_batch_destroy (&b);
        free (json);
    }

    /* not base64, not UTF-8 (Latin-1 "caf\xe9"), a NUL byte */
    const char *bad[] = {"not base64!", "Y2Fm6Q==", "YQBi", "Q2hpZWY"};
    const char *why[] = {"is not valid base64", "does not decode to UTF-8 text",
                         "does not decode to UTF-8 text", "is not valid base64"};
    for (size_t i = 0; i < 4; i++) {
        json = s_docref ("d3", "text/plain", bad[i]);
        b = s_parse (json, &rc);
        assert_int_equal (rc, 0);
        assert_int_equal (hg_batch_reject_count (b), 1);
        assert_non_null (hg_test_reject_near (b, "resource 1 (DocumentReference/d3)", why[i]));
        assert_non_null (
            hg_test_reject_near (b, NULL, "DocumentReference.content[0].attachment.data"));
        hg_batch_destroy (&b);
        free (json);
    }

    /* no type: rejected; an attachment over max_field_bytes: rejected */
    b = s_parse ("{\"resourceType\":\"DocumentReference\",\"id\":\"d4\","
                 "\"subject\":{\"reference\":\"Patient/p\"}}",
                 &rc);
    assert_int_equal (rc, 0);
    assert_non_null (hg_test_reject_near (b, "DocumentReference/d4",
                                          "DocumentReference.type is "
                                          "missing; the record needs a code"));
    hg_batch_destroy (&b);
    json = s_docref ("d5", "text/plain", b64);
    b = s_parse_lim (json, strlen (json), 40, 0, &rc);
    assert_int_equal (rc, 0);
    assert_non_null (hg_test_reject_near (b, "DocumentReference/d5",
                                          "field DocumentReference.content"
                                          "[0].attachment.data is 60 bytes, over the limit of 40 "
                                          "bytes"));
    hg_batch_destroy (&b);
    free (json);
}

static void
test_ndjson_bad_line (void **state)
{
    const char *nd = "{\"resourceType\":\"Patient\",\"id\":\"a\"}\n"
                     "\n"
                     "{\"resourceType\":\"Patient\",\"id\":\n"
                     "{\"resourceType\":\"Patient\",\"id\":\"c\"}\r\n";
    int rc;
    hg_batch_t *b = s_parse (nd, &rc);
    assert_int_equal (rc, 2);
    assert_string_equal (hg_batch_records (b)[0]->patient_ref, "a");
    assert_string_equal (hg_batch_records (b)[1]->patient_ref, "c");
    assert_int_equal (hg_batch_reject_count (b), 1);
    const hg_reject_t *rj = hg_test_reject_near (b, "line 3", "line 3: invalid JSON");
    assert_non_null (rj);
    assert_non_null (strstr (rj->reason, "truncated"));
    assert_true (rj->excerpt_len > 0);
    assert_memory_equal (rj->excerpt, "{\"resourceType\"", 15);
    hg_batch_destroy (&b);

    /* the first line is the broken one */
    nd = "{\"resourceType\":\"Patient\",\"id\":\"a\",\n"
         "{\"resourceType\":\"Patient\",\"id\":\"b\"}\n";
    b = s_parse (nd, &rc);
    assert_int_equal (rc, 1);
    assert_string_equal (hg_batch_records (b)[0]->patient_ref, "b");
    assert_non_null (hg_test_reject_near (b, "line 1", "line 1: invalid JSON"));
    hg_batch_destroy (&b);
}

/* Framing decided from the first parse (the NDJSON first line is not parsed
 * again) gives the locations the line-by-line framing gives. */
static void
test_framing_first_value (void **state)
{
    /* blank and indented lines before an NDJSON first line */
    const char *nd = "\n  \n \t{\"resourceType\":\"Patient\",\"id\":\"a\"} \r\n"
                     "{\"resourceType\":\"Patient\",\"id\":\"b\"}\n"
                     "{\"resourceType\":\"Encounter\",\"id\":\"e\"}\n";
    int rc;
    hg_batch_t *b = s_parse (nd, &rc);
    assert_int_equal (rc, 2);
    assert_string_equal (hg_batch_records (b)[0]->patient_ref, "a");
    assert_string_equal (hg_batch_records (b)[1]->patient_ref, "b");
    assert_non_null (hg_test_reject_near (b, "line 5 (Encounter/e)", "Encounter/e"));
    hg_batch_destroy (&b);

    /* two values on the first line: that line is rejected, the next parsed */
    nd = "{\"resourceType\":\"Patient\",\"id\":\"a\"}{\"resourceType\":\"Patient\"}\n"
         "{\"resourceType\":\"Patient\",\"id\":\"b\"}\n";
    b = s_parse (nd, &rc);
    assert_int_equal (rc, 1);
    assert_string_equal (hg_batch_records (b)[0]->patient_ref, "b");
    assert_non_null (hg_test_reject_near (b, "line 1", "unexpected data after the JSON value"));
    hg_batch_destroy (&b);

    /* a value over several lines, then another: not NDJSON (framed as
     * values one after the other, which reject what follows the first) */
    nd = "{\"resourceType\":\"Patient\",\n \"id\":\"a\"}\n"
         "{\"resourceType\":\"Encounter\",\"id\":\"e\"}\n";
    b = s_parse (nd, &rc);
    assert_int_equal (rc, 0);
    assert_non_null (
        hg_test_reject_near (b, "line 3 byte 39", "unexpected data after the JSON value"));
    hg_batch_destroy (&b);

    /* max_field_bytes: a payload shorter than the limit is not walked, a
     * longer one is (the long field on the second line is found) */
    nd = "{\"resourceType\":\"Patient\",\"id\":\"a\"}\n"
         "{\"resourceType\":\"Patient\",\"id\":\"b\",\"birthDate\":\"1970-01-01\","
         "\"telecom\":[{\"system\":\"phone\",\"value\":\"555-0123456789\"}]}\n";
    b = s_parse_lim (nd, strlen (nd), 13, 0, &rc);
    assert_int_equal (rc, 1);
    assert_non_null (hg_test_reject_near (b, "line 2 (Patient/b)",
                                          "field Patient.telecom[0].value is 14 bytes, over "
                                          "the limit of 13 bytes"));
    hg_batch_destroy (&b);
    b = s_parse_lim (nd, strlen (nd), strlen (nd), 0, &rc);
    assert_int_equal (rc, 2);
    assert_int_equal (hg_batch_reject_count (b), 0);
    hg_batch_destroy (&b);
}

/* R4 types no mapping takes are valid data: counted per type as ignored,
 * not rejected; a DocumentReference without subject is no error; an id
 * breaking R4's id rule flags the records; a name that is no R4 type is
 * still rejected. */
static void
test_unsupported_types (void **state)
{
    (void) state;
    int rc;
    char long_id[70];
    memset (long_id, 'a', 65);
    long_id[65] = '\0';
    char json[4096];
    snprintf (json, sizeof (json),
              "{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":["
              /* the Patient links the Conditions: their id flags stay */
              "{\"resource\":{\"resourceType\":\"Patient\",\"id\":\"p\",\"identifier\":"
              "[{\"value\":\"MRN-1\"}]}},"
              "{\"resource\":{\"resourceType\":\"Specimen\",\"id\":\"s1\"}},"
              "{\"resource\":{\"resourceType\":\"Specimen\",\"id\":\"s2\"}},"
              "{\"resource\":{\"resourceType\":\"ServiceRequest\",\"id\":\"sr\"}},"
              "{\"resource\":{\"resourceType\":\"RelatedPerson\",\"id\":\"rp\"}},"
              "{\"resource\":{\"resourceType\":\"EpisodeOfCare\",\"id\":\"ep\"}},"
              "{\"resource\":{\"resourceType\":\"CarePlan\",\"id\":\"cp\"}},"
              "{\"resource\":{\"resourceType\":\"Communication\",\"id\":\"cm\"}},"
              "{\"resource\":{\"resourceType\":\"DocumentManifest\",\"id\":\"dm\"}},"
              "{\"resource\":{\"resourceType\":\"Organization\",\"id\":\"o\"}},"
              "{\"resource\":{\"resourceType\":\"DocumentReference\",\"id\":\"d\","
              "\"type\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"1\"}]}}},"
              "{\"resource\":{\"resourceType\":\"Condition\",\"id\":\"bad_id\",\"code\":"
              "{\"coding\":[{\"system\":\"s\",\"code\":\"1\"}]},"
              "\"subject\":{\"reference\":\"Patient/p\"}}},"
              "{\"resource\":{\"resourceType\":\"Condition\",\"id\":\"%s\",\"code\":"
              "{\"coding\":[{\"system\":\"s\",\"code\":\"2\"}]},"
              "\"subject\":{\"reference\":\"Patient/p\"}}},"
              "{\"resource\":{\"resourceType\":\"Condition\",\"id\":\"ok-1.2\",\"code\":"
              "{\"coding\":[{\"system\":\"s\",\"code\":\"3\"}]},"
              "\"subject\":{\"reference\":\"Patient/p\"}}},"
              "{\"resource\":{\"resourceType\":\"Specimenn\",\"id\":\"x\"}}"
              "]}",
              long_id);
    hg_batch_t *b = s_parse (json, &rc);
    assert_int_equal (rc, 4);
    assert_int_equal (hg_batch_reject_count (b), 1);
    assert_non_null (
        hg_test_reject_near (b, "resource 15 (Specimenn/x)", "is not a FHIR R4 resource type"));
    assert_int_equal (hg_batch_ignored (b), 10);
    assert_int_equal (hg_test_ignored_of (b, "FHIR Specimen (unsupported)"), 2);
    assert_int_equal (hg_test_ignored_of (b, "FHIR ServiceRequest (unsupported)"), 1);
    assert_int_equal (hg_test_ignored_of (b, "FHIR RelatedPerson (unsupported)"), 1);
    assert_int_equal (hg_test_ignored_of (b, "FHIR EpisodeOfCare (unsupported)"), 1);
    assert_int_equal (hg_test_ignored_of (b, "FHIR CarePlan (unsupported)"), 1);
    assert_int_equal (hg_test_ignored_of (b, "FHIR Communication (unsupported)"), 1);
    assert_int_equal (hg_test_ignored_of (b, "FHIR DocumentManifest (unsupported)"), 1);
    assert_int_equal (hg_test_ignored_of (b, "FHIR Organization"), 1);
    assert_int_equal (hg_test_ignored_of (b, "FHIR DocumentReference without subject"), 1);
    Hourglass__Record **r = hg_batch_records (b) + 1;
    assert_string_equal (r[0]->patient_ref, "MRN-1");
    /* "bad_id" (an underscore) and 65 characters break the rule; "ok-1.2" keeps it */
    bool bad0 = false, bad1 = false;
    for (size_t i = 0; i < r[0]->n_flags; i++) {
        bad0 |= strcmp (r[0]->flags[i], HG_FHIR_FLAG_BAD_ID) == 0;
    }
    for (size_t i = 0; i < r[1]->n_flags; i++) {
        bad1 |= strcmp (r[1]->flags[i], HG_FHIR_FLAG_BAD_ID) == 0;
    }
    assert_true (bad0);
    assert_true (bad1);
    for (size_t i = 0; i < r[2]->n_flags; i++) {
        assert_string_not_equal (r[2]->flags[i], HG_FHIR_FLAG_BAD_ID);
    }
    hg_batch_destroy (&b);
}

static void
test_reject_reasons (void **state)
{
    int rc;
    hg_batch_t *b = s_parse (
        "{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":["
        "{\"resource\":{\"resourceType\":\"Patient\",\"id\":\"p\"}},"
        "{\"resource\":{\"resourceType\":\"Observation\",\"id\":\"obs-1\",\"code\":{\"coding\":"
        "[{\"system\":\"http://loinc.org\",\"code\":\"1\"}]}}},"
        "{\"resource\":{\"resourceType\":\"Observation\",\"id\":\"obs-17\",\"code\":{\"coding\":"
        "[{\"system\":\"http://loinc.org\",\"code\":\"1\"}]},\"subject\":{\"reference\":\"Patient/p\"},"
        "\"effectiveDateTime\":\"2021-13-01\"}},"
        "{\"resource\":{\"resourceType\":\"Observation\",\"id\":\"obs-3\",\"code\":{\"coding\":"
        "[{\"system\":\"http://loinc.org\",\"code\":\"1\"}]},\"subject\":{\"reference\":\"Patient/p\"},"
        "\"valueQuantity\":{\"value\":\"12\"}}},"
        "{\"resource\":{\"resourceType\":\"Observation\",\"id\":\"obs-4\",\"code\":{\"coding\":"
        "[{\"code\":\"1\"}]},\"subject\":{\"reference\":\"Patient/p\"}}},"
        "{\"resource\":{\"resourceType\":\"CarePlann\",\"id\":\"cp\"}},"
        "{\"resource\":{\"id\":\"x\"}},"
        "{\"resource\":{\"resourceType\":\"Condition\",\"id\":\"c\",\"code\":{\"coding\":"
        "[{\"system\":\"s\",\"code\":\"1\"}]},\"subject\":{\"reference\":\"Group/9\"}}},"
        "{\"resource\":{\"resourceType\":\"Patient\",\"id\":\"q\",\"gender\":\"M\"}},"
        "{\"resource\":{\"resourceType\":\"Patient\"}},"
        "{\"resource\":{\"resourceType\":\"Practitioner\",\"id\":\"dr\"}}"
        "]}",
        &rc);
    assert_int_equal (rc, 1);
    assert_int_equal (hg_batch_reject_count (b), 9);
    assert_int_equal (hg_batch_ignored (b), 1);
    assert_non_null (hg_test_reject_near (b, "resource 2 (Observation/obs-1)",
                                          "Observation/obs-1: subject is missing; every clinical "
                                          "record must reference a patient"));
    assert_non_null (
        hg_test_reject_near (b, "resource 3 (Observation/obs-17)",
                             "Observation.effectiveDateTime '2021-13-01' is not a valid "
                             "date: month 13"));
    assert_non_null (hg_test_reject_near (b, "resource 4 (Observation/obs-3)",
                                          "valueQuantity.value \"12\" is not a JSON number"));
    assert_non_null (hg_test_reject_near (b, "resource 5",
                                          "Observation.code has no coding with both "
                                          "system and code"));
    assert_non_null (hg_test_reject_near (b, "resource 6 (CarePlann/cp)",
                                          "resourceType 'CarePlann' is not a FHIR R4 "
                                          "resource type"));
    assert_non_null (hg_test_reject_near (b, "resource 7", "resourceType is missing"));
    assert_non_null (hg_test_reject_near (b, "resource 8",
                                          "subject.reference 'Group/9' does not "
                                          "reference a Patient"));
    assert_non_null (hg_test_reject_near (b, "resource 9", "Patient.gender 'M' is not one of"));
    assert_non_null (hg_test_reject_near (b, "resource 10", "Patient.id is missing"));
    /* bundle entries carry their own JSON as excerpt */
    const hg_reject_t *rj = hg_test_reject_near (b, "resource 3", NULL);
    assert_non_null (strstr (rj->excerpt, "obs-17"));
    hg_batch_destroy (&b);
}

static void
test_invalid_json (void **state)
{
    int rc;
    /* truncated */
    hg_batch_t *b = s_parse ("{\n  \"resourceType\": \"Patient\",\n  \"id\": \"p", &rc);
    assert_int_equal (rc, 0);
    assert_int_equal (hg_batch_reject_count (b), 1);
    assert_non_null (hg_test_reject_near (b, "line 3", "invalid JSON: unexpected end of data"));
    hg_batch_destroy (&b);

    /* syntax error with position */
    b = s_parse ("{\"resourceType\": \"Patient\",\n \"id\": x}", &rc);
    assert_int_equal (rc, 0);
    assert_non_null (hg_test_reject_near (b, NULL, "at line 2 column"));
    hg_batch_destroy (&b);

    /* trailing garbage on the same line */
    b = s_parse ("{\"resourceType\":\"Patient\",\"id\":\"p\"} xyz", &rc);
    assert_int_equal (rc, 0);
    assert_non_null (
        hg_test_reject_near (b, NULL, "unexpected data after the JSON value at line 1"));
    hg_batch_destroy (&b);

    /* binary garbage with NULs */
    static const char garbage[] = "\x00\xff\xfe{\x01\x02\"\x00\x80\x81]]";
    b = s_parse_lim (garbage, sizeof (garbage) - 1, 1 << 20, 0, &rc);
    assert_int_equal (rc, 0);
    assert_int_equal (hg_batch_record_count (b), 0);
    assert_true (hg_batch_reject_count (b) >= 1);
    hg_batch_destroy (&b);

    /* empty, and a JSON value that is no resource */
    b = s_parse (" \n ", &rc);
    assert_non_null (hg_test_reject_near (b, "payload", "empty payload"));
    hg_batch_destroy (&b);
    b = s_parse ("[1,2]", &rc);
    assert_non_null (hg_test_reject_near (b, NULL,
                                          "the JSON value is a array, expected a FHIR "
                                          "resource"));
    hg_batch_destroy (&b);
}

static void
test_deep_nesting (void **state)
{
    size_t depth = 100000;
    char *json = malloc (depth * 2 + 64);
    assert_non_null (json);
    size_t o = (size_t) sprintf (json, "{\"resourceType\":\"Patient\",\"id\":\"p\",\"x\":");
    for (size_t i = 0; i < depth; i++) {
        json[o++] = '[';
    }
    for (size_t i = 0; i < depth; i++) {
        json[o++] = ']';
    }
    json[o++] = '}';
    int rc;
    hg_batch_t *b = s_parse_lim (json, o, 1 << 20, 0, &rc);
    assert_int_equal (rc, 0);
    assert_non_null (hg_test_reject_near (b, NULL, "nesting too deep"));
    hg_batch_destroy (&b);
    free (json);
}

static void
test_field_limit (void **state)
{
    size_t big = 2u << 20;
    const char *head = "{\"resourceType\":\"Observation\",\"id\":\"big\",\"valueString\":\"";
    const char *tail = "\"}\n";
    char *json = malloc (strlen (head) + big + strlen (tail) + 1);
    assert_non_null (json);
    strcpy (json, head);
    memset (json + strlen (head), 'a', big);
    strcpy (json + strlen (head) + big, tail);
    int rc;
    hg_batch_t *b = s_parse_lim (json, strlen (json), 1u << 20, 0, &rc);
    assert_int_equal (rc, 0);
    assert_int_equal (hg_batch_reject_count (b), 1);
    const hg_reject_t *rj =
        hg_test_reject_near (b, "resource 1 (Observation/big)",
                             "field Observation.valueString is 2097152 bytes, "
                             "over the limit of 1048576 bytes");
    assert_non_null (rj);
    assert_true (rj->excerpt_len <= HG_REJECT_EXCERPT_MAX);
    hg_batch_destroy (&b);
    free (json);
}

static void
test_max_records (void **state)
{
    const char *nd = "{\"resourceType\":\"Patient\",\"id\":\"a\"}\n"
                     "{\"resourceType\":\"Patient\",\"id\":\"b\"}\n"
                     "{\"resourceType\":\"Patient\",\"id\":\"c\"}\n";
    int rc;
    hg_batch_t *b = s_parse_lim (nd, strlen (nd), 0, 2, &rc);
    assert_int_equal (rc, 2);
    assert_int_equal (hg_batch_record_count (b), 2);
    assert_non_null (hg_test_reject_near (b, "line 3", "record limit reached (max_records 2)"));
    hg_batch_destroy (&b);

    /* a Bundle: the Observation with components does not fit whole */
    b = s_parse_lim (s_bundle, strlen (s_bundle), 0, 3, &rc);
    assert_int_equal (rc, 3);
    assert_non_null (
        hg_test_reject_near (b, "resource 5", "Bundle entries 5 to 5 are not parsed"));
    hg_batch_destroy (&b);
}

static void
test_out_of_memory (void **state)
{
    hg_batch_t *b = hg_batch_new (64 * 1024);
    assert_non_null (b);
    /* many records: the 64 KiB arena runs out */
    size_t n = 2000;
    char *nd = malloc (n * 64);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        o += (size_t) sprintf (nd + o, "{\"resourceType\":\"Patient\",\"id\":\"p%zu\"}\n", i);
    }
    hg_parse_limits_t lim = {0, 0};
    int rc = hg_fhir_parse (nd, o, &lim, b);
    assert_true (rc < 0);
    assert_non_null (hg_test_reject_near (b, NULL, "payload exceeds parser memory limit"));
    hg_batch_destroy (&b);
    free (nd);
}

/* ------------------------------------------------------------------------
 * Patient linking: patient_ref is the identifier HL7 would carry */

/* patient_ref of the record whose source id is src (fails when absent). */
static const Hourglass__Record *
s_by_source (hg_batch_t *b, const char *src)
{
    for (size_t i = 0; i < hg_batch_record_count (b); i++) {
        const Hourglass__Record *r = hg_batch_records (b)[i];
        if (strcmp (r->provenance->source_record_id, src) == 0) {
            return r;
        }
    }
    fail_msg ("no record from %s", src);
    return NULL;
}

#define S_OBS(id, subject)                                                           \
    "{\"resourceType\":\"Observation\",\"id\":\"" id "\",\"status\":\"final\","      \
    "\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"2345-7\"}]}," \
    "\"subject\":" subject ",\"effectiveDateTime\":\"2023-01-15T10:30:00Z\","        \
    "\"valueQuantity\":{\"value\":95,\"unit\":\"mg/dL\"}}"
#define S_MR(value)                                                                         \
    "{\"type\":{\"coding\":[{\"system\":\"http://terminology.hl7.org/CodeSystem/v2-0203\"," \
    "\"code\":\"MR\"}]},\"system\":\"urn:oid:1.2.3\",\"value\":\"" value "\"}"

static void
test_patient_identifier_rule (void **state)
{
    (void) state;
    /* which identifier names the patient: PID-3's rule (MR, else first) */
    const char *nd =
        /* MR not first: MR wins */
        "{\"resourceType\":\"Patient\",\"id\":\"a\",\"identifier\":[{\"system\":\"urn:ssn\","
        "\"value\":\"SSN-1\"}," S_MR (
            "MR-A") "]}\n"
                    /* no MR: the first identifier with a value */
                    "{\"resourceType\":\"Patient\",\"id\":\"b\",\"identifier\":[{\"system\":\"urn:x\"},"
                    "{\"system\":\"urn:portal\",\"value\":\"PORTAL-B\"},{\"value\":\"OTHER-B\"}]}\n"
                    /* an old MRN is skipped, MR without a system counts */
                    "{\"resourceType\":\"Patient\",\"id\":\"c\",\"identifier\":[{\"use\":\"old\","
                    "\"type\":{\"coding\":[{\"code\":\"MR\"}]},\"value\":\"OLD-C\"},{\"value\":\"FIRST-C\"},"
                    "{\"type\":{\"coding\":[{\"code\":\"MR\"}]},\"value\":\"MR-C\"}]}\n"
                    /* "MR" of another code system is not table 0203's MR */
                    "{\"resourceType\":\"Patient\",\"id\":\"d\",\"identifier\":[{\"value\":\"FIRST-D\"},"
                    "{\"type\":{\"coding\":[{\"system\":\"http://example.org/types\",\"code\":\"MR\"}]},"
                    "\"value\":\"NOT-MR-D\"}]}\n"
                    /* no identifier: its id, flagged */
                    "{\"resourceType\":\"Patient\",\"id\":\"e\",\"gender\":\"male\"}\n";
    int rc;
    hg_batch_t *b = s_parse (nd, &rc);
    assert_int_equal (rc, 5);
    assert_int_equal (hg_batch_reject_count (b), 0);
    const char *want[][2] = {{"Patient/a", "MR-A"},
                             {"Patient/b", "PORTAL-B"},
                             {"Patient/c", "MR-C"},
                             {"Patient/d", "FIRST-D"},
                             {"Patient/e", "e"}};
    for (size_t i = 0; i < 5; i++) {
        const Hourglass__Record *r = s_by_source (b, want[i][0]);
        if (strcmp (r->patient_ref, want[i][1]) != 0) {
            fail_msg ("%s: patient_ref '%s', expected '%s'", want[i][0], r->patient_ref,
                      want[i][1]);
        }
        assert_int_equal (hg_fhir_record_unlinked (r), i == 4);
    }
    /* every identifier is still kept on the record */
    assert_int_equal (s_by_source (b, "Patient/c")->n_identifiers, 3);
    hg_batch_destroy (&b);
}

static void
test_patient_links_in_bundle (void **state)
{
    (void) state;
    /* clang-format off: one string built with macros, laid out by hand */
    const char *json =
        "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":["
        /* an Observation before its Patient */
        "{\"resource\":" S_OBS (
            "before",
            "{\"reference\":\"Patient/fp-1\"}") "},"
                                                "{\"fullUrl\":\"urn:uuid:u-1\",\"resource\":{\"resourceType\":\"Patient\","
                                                "\"id\":\"fp-1\",\"identifier\":[" S_MR (
                                                    "M-1") "],\"gender\":\"female\"}},"
                                                           "{\"resource\":" S_OBS (
                                                               "by-urn",
                                                               "{\"reference\":\"urn:uuid:u-1\"}") "},"
                                                                                                   "{\"resource\":" S_OBS ("by-url",
                                                                                                                           "{\"reference\":\"https://fhir.example/r4/"
                                                                                                                           "Patient/fp-1/_history/2\"}") "},"
                                                                                                                                                         /* logical reference: Reference.identifier */
                                                                                                                                                         "{\"resource\":" S_OBS ("logical", "{\"identifier\":{\"system\":\"urn:oid:1.2.3\","
                                                                                                                                                                                            "\"value\":\"M-2\"}}") "},"
                                                                                                                                                                                                                   /* conditional references, as transaction Bundles write them */
                                                                                                                                                                                                                   "{\"resource\":" S_OBS ("cond", "{\"reference\":\"Patient?identifier=urn:oid:1.2.3|M-3\"}") "},"
                                                                                                                                                                                                                                                                                                               "{\"resource\":" S_OBS ("cond-enc", "{\"reference\":\"https://fhir.example/Patient?"
                                                                                                                                                                                                                                                                                                                                                   "active=true&identifier="
                                                                                                                                                                                                                                                                                                                                                   "urn%3Aoid%3A1.2.3%7CM%204\"}") "},"
                                                                                                                                                                                                                                                                                                                                                                                   "{\"resource\":" S_OBS (
                                                                                                                                                                                                                                                                                                                                                                                       "cond-bare", "{\"reference\":\"Patient?identifier=M-5\"}") "},"
                                                                                                                                                                                                                                                                                                                                                                                                                                                  /* a Patient not in the payload: its id, flagged */
                                                                                                                                                                                                                                                                                                                                                                                                                                                  "{\"resource\":" S_OBS ("ghost",
                                                                                                                                                                                                                                                                                                                                                                                                                                                                          "{\"reference\":\"Patient/ghost\"}") "},"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                               /* a Patient of the payload without an identifier: its id, flagged */
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                               "{\"fullUrl\":\"urn:uuid:u-2\",\"resource\":{\"resourceType\":\"Patient\","
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                               "\"id\":\"anon\"}},"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                               "{\"resource\":" S_OBS ("anon-obs", "{\"reference\":\"urn:uuid:u-2\"}") "},"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                       /* a component record follows its Observation's patient */
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                       "{\"resource\":{\"resourceType\":\"Observation\",\"id\":\"bp\",\"status\":\"final\","
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                       "\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"85354-9\"}]},"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                       "\"subject\":{\"reference\":\"Patient/fp-1\"},\"effectiveDateTime\":\"2023-01-15\","
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                       "\"component\":[{\"code\":{\"coding\":[{\"system\":\"http://loinc.org\","
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                       "\"code\":\"8480-6\"}]},"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                       "\"valueQuantity\":{\"value\":120,\"unit\":\"mm[Hg]\"}}]}},"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                       "{\"resource\":{\"resourceType\":\"Observation\",\"id\":\"bp2\",\"status\":\"final\","
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                       "\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"85354-9\"}]},"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                       "\"subject\":{\"reference\":\"Patient/ghost\"},\"effectiveDateTime\":\"2023-01-15\","
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                       "\"component\":[{\"code\":{\"coding\":[{\"system\":\"http://loinc.org\","
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                       "\"code\":\"8480-6\"}]},"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                       "\"valueQuantity\":{\"value\":120,\"unit\":\"mm[Hg]\"}}]}}"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                       "]}";
    /* clang-format on */
    int rc;
    hg_batch_t *b = s_parse (json, &rc);
    for (size_t i = 0; i < hg_batch_reject_count (b); i++) {
        print_message ("  reject %s: %s\n", hg_batch_rejects (b)[i].location,
                       hg_batch_rejects (b)[i].reason);
    }
    assert_int_equal (hg_batch_reject_count (b), 0);
    assert_int_equal (rc, 15);
    const struct {
        const char *src, *patient;
        bool unlinked;
    } want[] = {
        {"Observation/before", "M-1", false},
        {"Patient/fp-1", "M-1", false},
        {"Observation/by-urn", "M-1", false},
        {"Observation/by-url", "M-1", false},
        {"Observation/logical", "M-2", false},
        {"Observation/cond", "M-3", false},
        {"Observation/cond-enc", "M 4", false},
        {"Observation/cond-bare", "M-5", false},
        {"Observation/ghost", "ghost", true},
        {"Patient/anon", "anon", true},
        {"Observation/anon-obs", "anon", true},
        {"Observation/bp", "M-1", false},
        {"Observation/bp/component[0]", "M-1", false},
        {"Observation/bp2", "ghost", true},
        {"Observation/bp2/component[0]", "ghost", true},
    };
    for (size_t i = 0; i < sizeof (want) / sizeof (want[0]); i++) {
        const Hourglass__Record *r = s_by_source (b, want[i].src);
        if (strcmp (r->patient_ref, want[i].patient) != 0
            || hg_fhir_record_unlinked (r) != want[i].unlinked) {
            fail_msg ("%s: patient_ref '%s' unlinked %d, expected '%s' unlinked %d", want[i].src,
                      r->patient_ref, hg_fhir_record_unlinked (r), want[i].patient,
                      want[i].unlinked);
        }
    }
    /* the flag is the only flag a parser sets */
    const Hourglass__Record *ghost = s_by_source (b, "Observation/ghost");
    assert_int_equal (ghost->n_flags, 1);
    assert_string_equal (ghost->flags[0], HG_FHIR_FLAG_UNLINKED);
    assert_int_equal (s_by_source (b, "Observation/by-urn")->n_flags, 0);
    hg_batch_destroy (&b);
}

static void
test_patient_links_ndjson (void **state)
{
    (void) state;
    /* a bulk export file: Observations, then their Patient; the last
     * version of a Patient wins */
    const char *nd = S_OBS (
        "o1",
        "{\"reference\":\"Patient/p1\"}") "\n"
                                          "{\"resourceType\":\"Patient\",\"id\":\"p1\",\"identifier\":[" S_MR ("OLD-MRN") "]}\n" S_OBS (
                                              "o2",
                                              "{\"reference\":\"Patient/p1\"}") "\n"
                                                                                "{\"resourceType\":\"Patient\",\"id\":\"p1\",\"identifier\":[" S_MR (
                                                                                    "MRN-1") "]}\n" S_OBS ("o3",
                                                                                                           "{\"reference\":\"Patient/p2\"}") "\n";
    int rc;
    hg_batch_t *b = s_parse (nd, &rc);
    assert_int_equal (rc, 5);
    Hourglass__Record **r = hg_batch_records (b);
    assert_string_equal (r[0]->patient_ref, "MRN-1");
    assert_string_equal (r[1]->patient_ref, "OLD-MRN"); /* the Patient's own record */
    assert_string_equal (r[2]->patient_ref, "MRN-1");
    assert_string_equal (r[3]->patient_ref, "MRN-1");
    assert_string_equal (r[4]->patient_ref, "p2"); /* not in this payload */
    assert_true (hg_fhir_record_unlinked (r[4]));
    assert_false (hg_fhir_record_unlinked (r[0]));
    hg_batch_destroy (&b);

    /* records already in the batch are not touched by a later payload */
    b = hg_batch_new (0);
    assert_int_equal (hg_fhir_parse (S_OBS ("x", "{\"reference\":\"Patient/p9\"}"),
                                     strlen (S_OBS ("x", "{\"reference\":\"Patient/p9\"}")), NULL,
                                     b),
                      1);
    const char *pat = "{\"resourceType\":\"Patient\",\"id\":\"p9\",\"identifier\":[" S_MR (
        "M9") "]}";
    assert_int_equal (hg_fhir_parse (pat, strlen (pat), NULL, b), 1);
    assert_string_equal (hg_batch_records (b)[0]->patient_ref, "p9");
    assert_true (hg_fhir_record_unlinked (hg_batch_records (b)[0]));
    assert_string_equal (hg_batch_records (b)[1]->patient_ref, "M9");
    hg_batch_destroy (&b);
}

static void
test_patient_reference_rejects (void **state)
{
    (void) state;
    const struct {
        const char *subject, *reason;
    } cases[] = {
        {"{\"reference\":\"Patient?name=Smith\"}",
         "is a conditional reference without an identifier parameter"},
        {"{\"reference\":\"Patient?identifier=urn:oid:1.2.3|\"}", "names no identifier value"},
        {"{\"reference\":\"Group?identifier=g1\"}",
         "is a conditional reference to something other than a Patient"},
        {"{\"reference\":\"Patient?identifier=M%G1\"}", "broken %XX escape"},
        {"{\"reference\":\"Patient?identifier=M%00\"}", "broken %XX escape"},
        {"{\"reference\":\"Patient?identifier=M%4\"}", "broken %XX escape"},
        {"{\"identifier\":{\"system\":\"urn:oid:1.2.3\"}}",
         "subject.identifier has no value and there is no subject.reference"},
        {"{\"display\":\"Anna\"}", "subject.reference is missing"},
        {"{\"reference\":\"abc\"}", "Patient?identifier=[system|]value or a subject.identifier"},
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        char json[1024];
        snprintf (json, sizeof (json),
                  "{\"resourceType\":\"Observation\",\"id\":\"o\",\"status\":\"final\","
                  "\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"2345-7\"}]},"
                  "\"subject\":%s}",
                  cases[i].subject);
        int rc;
        hg_batch_t *b = s_parse (json, &rc);
        assert_int_equal (rc, 0);
        if (!hg_test_reject_near (b, "resource 1 (Observation/o)", cases[i].reason)) {
            fail_msg ("subject %s: no reject saying '%s' (got '%s')", cases[i].subject,
                      cases[i].reason,
                      hg_batch_reject_count (b) ? hg_batch_rejects (b)[0].reason : "none");
        }
        hg_batch_destroy (&b);
    }
}

/* Converters from HL7 v2 sometimes leave the table 0396 name in
 * Coding.system: it becomes the URI the HL7 parser gives. */
static void
test_hl7_system_names (void **state)
{
    (void) state;
    const char *json =
        "{\"resourceType\":\"Observation\",\"id\":\"o\",\"status\":\"final\","
        "\"code\":{\"coding\":[{\"system\":\"LN\",\"code\":\"2345-7\"},{\"system\":\"L\","
        "\"code\":\"GLU\"}]},\"subject\":{\"reference\":\"Patient/p\"},"
        "\"valueCodeableConcept\":{\"coding\":[{\"system\":\"SCT\",\"code\":\"260385009\"}]}}";
    int rc;
    hg_batch_t *b = s_parse (json, &rc);
    assert_int_equal (rc, 1);
    Hourglass__Record *r = hg_batch_records (b)[0];
    assert_string_equal (r->codes[0]->system, HG_SYS_LOINC);
    assert_string_equal (r->codes[1]->system, "L"); /* local: kept */
    assert_string_equal (r->code_value->system, HG_SYS_SNOMED);
    hg_batch_destroy (&b);
}

/* ------------------------------------------------------------------------
 * Real samples */

static bool
s_have_data (const char *sub, char *path, size_t size)
{
#ifdef HG_SHARED_DATA
    snprintf (path, size, "%s/%s", HG_SHARED_DATA, sub);
    struct stat st;
    if (stat (path, &st) == 0 && S_ISDIR (st.st_mode)) {
        return true;
    }
    print_message ("skipping: %s not present\n", path);
#else
    print_message ("skipping: HG_SHARED_DATA not defined\n");
#endif
    return false;
}

static size_t
s_lines (const char *buf, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        n += buf[i] == '\n';
    }
    return n + (len && buf[len - 1] != '\n');
}

static void
s_print_rejects (hg_batch_t *b, size_t max)
{
    const hg_reject_t *r = hg_batch_rejects (b);
    for (size_t i = 0; i < hg_batch_reject_count (b) && i < max; i++) {
        print_message ("  reject [%s] %s\n", r[i].location, r[i].reason);
    }
}

static void
test_shared_synthea_ndjson (void **state)
{
    char dir[1024];
    if (!s_have_data ("synthea-bulk-10", dir, sizeof (dir))) {
        skip ();
    }
    DIR *d = opendir (dir);
    assert_non_null (d);
    struct dirent *e;
    size_t files = 0;
    while ((e = readdir (d))) {
        if (!strstr (e->d_name, ".ndjson")) {
            continue;
        }
        char path[2048];
        size_t len;
        snprintf (path, sizeof (path), "%s/%s", dir, e->d_name);
        char *buf = hg_test_slurp (path, &len);
        assert_non_null (buf);
        int rc;
        hg_batch_t *b = s_parse_lim (buf, len, 1 << 20, 0, &rc);
        assert_true (rc >= 0);
        size_t lines = s_lines (buf, len);
        print_message ("%s: %zu lines -> %d records, %zu rejected, %zu ignored\n", e->d_name,
                       lines, rc, hg_batch_reject_count (b), hg_batch_ignored (b));
        if (strncmp (e->d_name, "Patient.", 8) == 0 || strncmp (e->d_name, "Condition.", 10) == 0
            || strncmp (e->d_name, "Encounter.", 10) == 0
            || strncmp (e->d_name, "Procedure.", 10) == 0
            || strncmp (e->d_name, "Immunization.", 13) == 0
            || strncmp (e->d_name, "MedicationRequest.", 18) == 0
            || strncmp (e->d_name, "AllergyIntolerance.", 19) == 0
            || strncmp (e->d_name, "DocumentReference.", 18) == 0) {
            s_print_rejects (b, 5);
            assert_int_equal ((size_t) rc, lines);
            assert_int_equal (hg_batch_reject_count (b), 0);
        }
        if (strncmp (e->d_name, "Patient.", 8) == 0) {
            Hourglass__Record *r = hg_batch_records (b)[0];
            assert_false (hg_str_empty (r->patient_ref));
            assert_false (hg_str_empty (r->demographics->family));
            assert_false (hg_str_empty (r->demographics->birth_date));
        }
        if (strncmp (e->d_name, "DocumentReference.", 18) == 0) {
            /* notes: codes, a date and the decoded text (dropped by deid) */
            for (size_t k = 0; k < (size_t) rc; k++) {
                Hourglass__Record *r = hg_batch_records (b)[k];
                assert_int_equal (r->kind, HOURGLASS__RECORD_KIND__KIND_NOTE);
                assert_true (r->n_codes >= 1);
                assert_false (hg_str_empty (r->effective));
                assert_false (hg_str_empty (r->encounter_ref));
                assert_true (strlen (r->text) > 20);
            }
        }
        if (strncmp (e->d_name, "Organization.", 13) == 0) {
            assert_int_equal (hg_batch_ignored (b), lines);
        }
        hg_batch_destroy (&b);
        free (buf);
        files++;
    }
    closedir (d);
    assert_true (files >= 2);
}

static void
s_parse_dir_some (const char *sub, size_t max_files, const char *must_contain)
{
    char dir[1024];
    if (!s_have_data (sub, dir, sizeof (dir))) {
        skip ();
    }
    DIR *d = opendir (dir);
    assert_non_null (d);
    struct dirent *e;
    size_t files = 0;
    while ((e = readdir (d)) && files < max_files) {
        if (!strstr (e->d_name, ".json") || (must_contain && !strstr (e->d_name, must_contain))) {
            continue;
        }
        char path[2048];
        size_t len;
        snprintf (path, sizeof (path), "%s/%s", dir, e->d_name);
        char *buf = hg_test_slurp (path, &len);
        assert_non_null (buf);
        int rc;
        hg_batch_t *b = s_parse_lim (buf, len, 1 << 20, 10000, &rc);
        assert_true (rc >= 0);
        print_message ("%s: %d records, %zu rejected, %zu ignored\n", e->d_name, rc,
                       hg_batch_reject_count (b), hg_batch_ignored (b));
        /* nothing is rejected for bad JSON or bad dates in published samples */
        const hg_reject_t *r = hg_batch_rejects (b);
        for (size_t i = 0; i < hg_batch_reject_count (b); i++) {
            if (strstr (r[i].reason, "invalid JSON")
                || strstr (r[i].reason, "not a valid date")) {
                print_message ("  reject [%s] %s\n", r[i].location, r[i].reason);
                fail ();
            }
        }
        hg_batch_destroy (&b);
        free (buf);
        files++;
    }
    closedir (d);
}

static void
test_shared_synthea_bundles (void **state)
{
    s_parse_dir_some ("fhir_r4_synthea_bundles_smart", 6, "_");
}

static void
test_shared_spec_examples (void **state)
{
    s_parse_dir_some ("fhir_r4_spec_examples", 40, "example");
}

/* Free text reaches Record.text: note[] of every clinical resource, a
 * DiagnosticReport's conclusion and presentedForm, every plain-text
 * attachment of a DocumentReference (the de-identifier scrubs them). */
static void
test_free_text (void **state)
{
    (void) state;
    /* base64 of "Impression: no acute findings." and "Addendum by Dr. Oakes." */
    const char *a1 = "SW1wcmVzc2lvbjogbm8gYWN1dGUgZmluZGluZ3Mu";
    const char *a2 = "QWRkZW5kdW0gYnkgRHIuIE9ha2VzLg==";
    char json[4096];
    snprintf (
        json, sizeof (json),
        "{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":["
        "{\"resource\":{\"resourceType\":\"Observation\",\"id\":\"o1\",\"status\":\"final\","
        "\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"2345-7\"}]},"
        "\"subject\":{\"reference\":\"Patient/p\"},\"effectiveDateTime\":\"2021-03-01\","
        "\"valueQuantity\":{\"value\":5},\"note\":[{\"text\":\"fasting\"},"
        "{\"text\":\"drawn late\"}]}},"
        "{\"resource\":{\"resourceType\":\"Condition\",\"id\":\"c1\","
        "\"code\":{\"coding\":[{\"system\":\"http://snomed.info/sct\","
        "\"code\":\"44054006\"}]},\"subject\":{\"reference\":\"Patient/p\"},"
        "\"note\":[{\"text\":\"since 2019\"}]}},"
        "{\"resource\":{\"resourceType\":\"Procedure\",\"id\":\"pr1\","
        "\"status\":\"completed\",\"code\":{\"coding\":[{\"system\":"
        "\"http://snomed.info/sct\",\"code\":\"80146002\"}]},"
        "\"subject\":{\"reference\":\"Patient/p\"},\"performedDateTime\":\"2021-03-02\","
        "\"note\":[{\"text\":\"uneventful\"}]}},"
        "{\"resource\":{\"resourceType\":\"DiagnosticReport\",\"id\":\"r1\","
        "\"status\":\"final\",\"code\":{\"coding\":[{\"system\":\"http://loinc.org\","
        "\"code\":\"24627-2\"}]},\"subject\":{\"reference\":\"Patient/p\"},"
        "\"effectiveDateTime\":\"2021-03-03\",\"conclusion\":\"Normal chest.\","
        "\"presentedForm\":[{\"contentType\":\"text/plain\",\"data\":\"%s\"},"
        "{\"contentType\":\"application/pdf\",\"data\":\"JVBERi0=\"}]}},"
        "{\"resource\":{\"resourceType\":\"DocumentReference\",\"id\":\"d1\","
        "\"type\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"18842-5\"}]},"
        "\"subject\":{\"reference\":\"Patient/p\"},\"date\":\"2021-03-04\","
        "\"content\":[{\"attachment\":{\"contentType\":\"text/plain\",\"data\":\"%s\"}},"
        "{\"attachment\":{\"contentType\":\"text/plain\",\"data\":\"%s\"}}]}}]}",
        a1, a1, a2);
    int rc;
    hg_batch_t *b = s_parse (json, &rc);
    assert_int_equal (rc, 5);
    assert_int_equal (hg_batch_reject_count (b), 0);
    Hourglass__Record **r = hg_batch_records (b);
    assert_string_equal (r[0]->text, "fasting\n\ndrawn late");
    assert_string_equal (r[1]->text, "since 2019");
    assert_string_equal (r[2]->text, "uneventful");
    assert_string_equal (r[3]->text, "Normal chest.\n\nImpression: no acute findings.");
    assert_string_equal (r[4]->text, "Impression: no acute findings.\n\nAddendum by Dr. Oakes.");
    hg_batch_destroy (&b);

    /* a presentedForm that is not base64 is the resource's rejection */
    snprintf (json, sizeof (json),
              "{\"resourceType\":\"DiagnosticReport\",\"id\":\"r2\",\"status\":\"final\","
              "\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"24627-2\"}]},"
              "\"subject\":{\"reference\":\"Patient/p\"},\"presentedForm\":[{\"contentType\":"
              "\"text/plain\",\"data\":\"not base64!\"}]}");
    b = s_parse (json, &rc);
    assert_int_equal (rc, 0);
    assert_non_null (hg_test_reject_near (b, "DiagnosticReport/r2",
                                          "DiagnosticReport.presentedForm[0].data is not valid "
                                          "base64"));
    hg_batch_destroy (&b);
}

HG_TEST_MAIN (
    cmocka_unit_test (test_free_text), cmocka_unit_test (test_patient_mapping),
    cmocka_unit_test (test_bundle_urn_uuid), cmocka_unit_test (test_observation_components),
    cmocka_unit_test (test_other_resources), cmocka_unit_test (test_medication_statement),
    cmocka_unit_test (test_imaging_study), cmocka_unit_test (test_document_reference),
    cmocka_unit_test (test_ndjson_bad_line), cmocka_unit_test (test_framing_first_value),
    cmocka_unit_test (test_reject_reasons), cmocka_unit_test (test_unsupported_types),
    cmocka_unit_test (test_invalid_json), cmocka_unit_test (test_deep_nesting),
    cmocka_unit_test (test_field_limit), cmocka_unit_test (test_max_records),
    cmocka_unit_test (test_out_of_memory), cmocka_unit_test (test_patient_identifier_rule),
    cmocka_unit_test (test_patient_links_in_bundle), cmocka_unit_test (test_patient_links_ndjson),
    cmocka_unit_test (test_patient_reference_rejects), cmocka_unit_test (test_hl7_system_names),
    cmocka_unit_test (test_shared_synthea_ndjson), cmocka_unit_test (test_shared_synthea_bundles),
    cmocka_unit_test (test_shared_spec_examples))
