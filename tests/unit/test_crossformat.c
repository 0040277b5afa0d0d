/*
 * test_crossformat.c -- one lab result sent by one partner as an HL7 v2
 * ORU^R01 and as a FHIR Observation must become one record: the same
 * patient_ref (FHIR Patient linked to the PID-3 MRN), codes, UTC time and
 * normalised value, hence the same content key. Each payload goes through
 * the cleanser's own steps: its parser, then hg_cleanse (cleanse.h).
 */
#include "unit_test.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanse.h"
#include "fhir.h"
#include "hl7v2.h"
#include "quality.h"

/* 2026-12-04 12:00 UTC */
#define S_AT_US (UINT64_C (1796385600) * 1000000u)
#include "record.h"

#define PARTNER "valley-lab"

/* Glucose 5.3 mmol/L at 10:30 local time (-05:00) on 2023-01-15, patient
 * MRN 12345. OBX-3 carries a local code first and LOINC as the alternate;
 * OBX-14 has no zone: the sender's zone is MSH-7's. */
static const char *s_oru =
    "MSH|^~\\&|LIS|VALLEY LAB|HG|HG|20230115104500-0500||ORU^R01|LAB-0001|P|2.5.1\r"
    "PID|1||999-11-2222^^^SSA^SS~12345^^^VALLEY^MR||Doe^Jane||19700201|F\r"
    "OBR|1||ORD-1|2345-7^Glucose^LN|||202301151030\r"
    "OBX|1|NM|GLU^Glucose^L^2345-7^Glucose^LN||5.3|mmol/L|3.9-5.5|H|||F|||202301151030\r";

/* The same result as the partner's FHIR server sends it: a Bundle whose
 * Patient has its own id and the MRN among its identifiers; the value in
 * mg/dL (95.4), the time in UTC with seconds, LOINC first and a local
 * code with the site's URI. */
#define S_PATIENT(id, mrn)                                                                     \
    "{\"fullUrl\":\"urn:uuid:" id "\",\"resource\":{\"resourceType\":\"Patient\",\"id\":\"" id \
    "\",\"identifier\":[{\"system\":\"http://hl7.org/fhir/sid/us-ssn\",\"value\":"             \
    "\"999-11-2222\"},{\"type\":{\"coding\":[{\"system\":"                                     \
    "\"http://terminology.hl7.org/CodeSystem/v2-0203\",\"code\":\"MR\"}]},\"system\":"         \
    "\"urn:oid:2.16.840.1.113883.19.5\",\"value\":\"" mrn "\"}],\"gender\":\"female\","        \
    "\"birthDate\":\"1970-02-01\"}}"
#define S_GLUCOSE(subject, when, value, unit)                                                 \
    "{\"resource\":{\"resourceType\":\"Observation\",\"id\":\"obs-77\",\"status\":\"final\"," \
    "\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"2345-7\","             \
    "\"display\":\"Glucose [Mass/volume] in Serum or Plasma\"},{\"system\":"                  \
    "\"http://valley-lab.example/codes\",\"code\":\"GLU\"}]},\"subject\":{\"reference\":"     \
    "\"" subject "\"},\"effectiveDateTime\":\"" when "\",\"valueQuantity\":{\"value\":" value \
    ",\"unit\":\"" unit "\",\"system\":\"http://unitsofmeasure.org\",\"code\":\"" unit "\"}}}"
#define S_BUNDLE(...) \
    "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":[" __VA_ARGS__ "]}"

static const char *s_fhir_same = S_BUNDLE (
    S_PATIENT ("3f1c-aa", "12345") "," S_GLUCOSE ("urn:uuid:3f1c-aa", "2023-01-15T15:30:00Z",
                                                  "95.4", "mg/dL"));

/* "now" of the cleansing: 2025-01-01 (days since 1970-01-01) */
#define S_TODAY 20089

/* The cleanser's own step after parsing (cleanse.h): patient links (FHIR),
 * normalisation, provenance, content key. links: the round's links (NULL: a
 * round of its own); committed: the links of earlier rounds (may be NULL). */
static hg_cleanse_result_t s_result; /* of the last payload cleansed */

/* hg_cleanse_lookup_fn over a table standing for the store's links. */
static int
s_lookup (void *arg, hg_arena_t *a, const char *partner, const char *patient_id,
          char **identifier)
{
    const char *id = hg_links_get (arg, partner, patient_id);
    if (!id) {
        return HG_ENOTFOUND;
    }
    *identifier = hg_arena_strdup (a, id);
    return *identifier ? 0 : HG_ENOMEM;
}

static void
s_cleanse (hg_batch_t *b, bool fhir, hg_links_t *links, hg_links_t *committed)
{
    hg_links_t *own = links ? NULL : hg_links_new ();
    hg_cleanse_ctx_t ctx = {
        .partner = PARTNER,
        .message_id = PARTNER "/m1",
        .format = fhir ? "fhir" : "hl7v2",
        .link_patients = fhir,
        .today_days = S_TODAY,
        .links = links ? links : own,
        .lookup = committed ? s_lookup : NULL,
        .lookup_arg = committed,
    };
    assert_non_null (ctx.links);
    hg_err_t err = {0};
    if (hg_cleanse (&ctx, hg_batch_arena (b), hg_batch_records (b), hg_batch_record_count (b),
                    &s_result, &err)
        < 0) {
        fail_msg ("hg_cleanse: %s", err.msg);
    }
    hg_links_destroy (&own);
}

static hg_batch_t *
s_hl7 (const char *msg)
{
    hg_batch_t *b = hg_batch_new (0);
    assert_non_null (b);
    assert_int_equal (hg_hl7v2_parse (msg, strlen (msg), NULL, b), 2);
    assert_int_equal (hg_batch_reject_count (b), 0);
    s_cleanse (b, false, NULL, NULL);
    return b;
}

/* FHIR payload json, cleansed in the round of links (NULL: its own). */
static hg_batch_t *
s_fhir_in (const char *json, int want_records, hg_links_t *links, hg_links_t *committed)
{
    hg_batch_t *b = hg_batch_new (0);
    assert_non_null (b);
    assert_int_equal (hg_fhir_parse (json, strlen (json), NULL, b), want_records);
    for (size_t i = 0; i < hg_batch_reject_count (b); i++) {
        print_message ("  reject %s: %s\n", hg_batch_rejects (b)[i].location,
                       hg_batch_rejects (b)[i].reason);
    }
    assert_int_equal (hg_batch_reject_count (b), 0);
    s_cleanse (b, true, links, committed);
    return b;
}

static hg_batch_t *
s_fhir (const char *json, int want_records)
{
    return s_fhir_in (json, want_records, NULL, NULL);
}

static const Hourglass__Record *
s_kind (hg_batch_t *b, Hourglass__RecordKind kind)
{
    for (size_t i = 0; i < hg_batch_record_count (b); i++) {
        if (hg_batch_records (b)[i]->kind == kind) {
            return hg_batch_records (b)[i];
        }
    }
    fail_msg ("no record of kind %s", hg_record_kind_name (kind));
    return NULL;
}

static const Hourglass__Record *
s_lab (hg_batch_t *b)
{
    return s_kind (b, HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION);
}

static void
test_same_glucose_same_key (void **state)
{
    (void) state;
    hg_batch_t *h = s_hl7 (s_oru);
    hg_batch_t *f = s_fhir (s_fhir_same, 2);
    const Hourglass__Record *hl = s_lab (h), *fl = s_lab (f);
    /* what enters the key agrees field by field */
    assert_string_equal (hl->patient_ref, "12345");
    assert_string_equal (fl->patient_ref, "12345");
    assert_false (hg_fhir_record_unlinked (fl));
    assert_string_equal (hl->effective, "2023-01-15T15:30Z");    /* -05:00 from MSH-7 */
    assert_string_equal (fl->effective, "2023-01-15T15:30:00Z"); /* FHIR: seconds */
    assert_string_equal (hl->quantity->unit, "mg/dL");           /* 5.3 mmol/L converted */
    assert_string_equal (fl->quantity->unit, "mg/dL");
    assert_true (hl->quantity->value != fl->quantity->value); /* 95.39999999999999 */
    assert_string_equal (hl->record_id, fl->record_id);
    /* and the patient's demographics are one record too */
    assert_string_equal (s_kind (h, HOURGLASS__RECORD_KIND__KIND_DEMOGRAPHICS)->record_id,
                         s_kind (f, HOURGLASS__RECORD_KIND__KIND_DEMOGRAPHICS)->record_id);
    hg_batch_destroy (&h);
    hg_batch_destroy (&f);
}

/* Every way of naming the patient that resolves to the MRN gives the key. */
static void
test_every_link_gives_the_key (void **state)
{
    (void) state;
    hg_batch_t *h = s_hl7 (s_oru);
    const char *key = s_lab (h)->record_id;
    const struct {
        const char *json;
        int records;
    } cases[] = {
        /* by id, with the Patient after the Observation */
        {S_BUNDLE (S_GLUCOSE ("Patient/3f1c-aa", "2023-01-15T15:30:00Z", "95.4",
                              "mg/dL") "," S_PATIENT ("3f1c-aa", "12345")),
         2},
        /* conditional reference of a transaction Bundle */
        {S_BUNDLE (S_GLUCOSE ("Patient?identifier=urn:oid:2.16.840.1.113883.19.5|12345",
                              "2023-01-15T10:30:00-05:00", "95.4", "mg/dL")),
         1},
        /* the value in the unit HL7 used, the time with the local offset */
        {S_BUNDLE (S_PATIENT ("3f1c-aa", "12345") "," S_GLUCOSE ("urn:uuid:3f1c-aa",
                                                                 "2023-01-15T10:30:00-05:00",
                                                                 "5.3", "mmol/L")),
         2},
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        hg_batch_t *f = s_fhir (cases[i].json, cases[i].records);
        if (strcmp (s_lab (f)->record_id, key) != 0) {
            fail_msg ("case %zu: FHIR key %s (patient '%s', effective '%s', %.17g %s) differs "
                      "from HL7's %s",
                      i, s_lab (f)->record_id, s_lab (f)->patient_ref, s_lab (f)->effective,
                      s_lab (f)->quantity->value, s_lab (f)->quantity->unit, key);
        }
        hg_batch_destroy (&f);
    }
    /* a logical reference (Reference.identifier) */
    const char *logical =
        "{\"resourceType\":\"Observation\",\"id\":\"obs-9\",\"status\":\"final\",\"code\":"
        "{\"coding\":[{\"system\":\"LN\",\"code\":\"2345-7\"}]},\"subject\":{\"identifier\":"
        "{\"system\":\"urn:oid:2.16.840.1.113883.19.5\",\"value\":\"12345\"}},"
        "\"effectiveDateTime\":\"2023-01-15T15:30:00.000Z\",\"valueQuantity\":{\"value\":95.4,"
        "\"unit\":\"mg/dl\"}}";
    hg_batch_t *f = s_fhir (logical, 1);
    assert_string_equal (s_lab (f)->record_id, key);
    hg_batch_destroy (&f);
    hg_batch_destroy (&h);
}

/* A different fact, or a patient that cannot be linked, stays apart. */
static void
test_different_facts_differ (void **state)
{
    (void) state;
    hg_batch_t *h = s_hl7 (s_oru);
    const char *key = s_lab (h)->record_id;
    const char *others[] = {
        /* another patient */
        S_BUNDLE (S_PATIENT ("3f1c-aa", "12346") "," S_GLUCOSE ("urn:uuid:3f1c-aa",
                                                                "2023-01-15T15:30:00Z", "95.4",
                                                                "mg/dL")),
        /* another value, another minute */
        S_BUNDLE (S_PATIENT ("3f1c-aa", "12345") "," S_GLUCOSE ("urn:uuid:3f1c-aa",
                                                                "2023-01-15T15:30:00Z", "95.5",
                                                                "mg/dL")),
        S_BUNDLE (S_PATIENT ("3f1c-aa", "12345") "," S_GLUCOSE ("urn:uuid:3f1c-aa",
                                                                "2023-01-15T15:31:00Z", "95.4",
                                                                "mg/dL")),
        /* the Patient is not in the payload: known by its id only */
        S_BUNDLE (S_GLUCOSE ("Patient/3f1c-aa", "2023-01-15T15:30:00Z", "95.4", "mg/dL")),
    };
    for (size_t i = 0; i < sizeof (others) / sizeof (others[0]); i++) {
        hg_batch_t *f = s_fhir (others[i], i == 3 ? 1 : 2);
        if (strcmp (s_lab (f)->record_id, key) == 0) {
            fail_msg ("case %zu: a different fact got HL7's key %s", i, key);
        }
        assert_int_equal (hg_fhir_record_unlinked (s_lab (f)), i == 3);
        hg_batch_destroy (&f);
    }
    /* an HL7 sender that states no zone anywhere: its local time is not an
     * instant, so it cannot meet FHIR's UTC one */
    char *zoneless = strdup (s_oru);
    memcpy (strstr (zoneless, "-0500"), "|||||", 5);
    char *p = strstr (zoneless, "|||||||ORU");
    assert_non_null (p);
    memmove (p + 2, p + 7, strlen (p + 7) + 1); /* MSH-7 "20230115104500", MSH-8 empty */
    hg_batch_t *z = s_hl7 (zoneless);
    assert_string_equal (s_lab (z)->effective, "2023-01-15T10:30");
    hg_batch_t *f = s_fhir (s_fhir_same, 2);
    assert_string_not_equal (s_lab (z)->record_id, s_lab (f)->record_id);
    hg_batch_destroy (&z);
    hg_batch_destroy (&f);
    free (zoneless);
    hg_batch_destroy (&h);
}

/* A bulk export: the Patient in one payload, the Observation naming it by
 * id in a later one. Linked through the round's links, else through those
 * committed earlier (the round's first), it gets HL7's key. */
static void
test_linked_across_payloads (void **state)
{
    (void) state;
    hg_batch_t *h = s_hl7 (s_oru);
    const char *key = s_lab (h)->record_id;
    const char *patient = S_BUNDLE (S_PATIENT ("3f1c-aa", "12345"));
    const char *obs = S_BUNDLE (
        S_GLUCOSE ("Patient/3f1c-aa", "2023-01-15T15:30:00Z", "95.4", "mg/dL"));
    hg_links_t *round = hg_links_new (), *committed = hg_links_new ();
    /* the Patient's payload makes the link, for the round and the store */
    hg_batch_t *p = s_fhir_in (patient, 1, round, NULL);
    assert_int_equal (s_result.n_links, 1);
    assert_string_equal (s_result.links[0].patient_id, "3f1c-aa");
    assert_string_equal (s_result.links[0].identifier, "12345");
    assert_string_equal (hg_links_get (round, PARTNER, "3f1c-aa"), "12345");
    hg_batch_destroy (&p);
    p = s_fhir_in (patient, 1, round, NULL); /* known to the round: not stored again */
    assert_int_equal (s_result.n_links, 0);
    hg_batch_destroy (&p);
    /* the round's link goes before a committed one */
    assert_int_equal (hg_links_add (committed, PARTNER, "3f1c-aa", "99999"), 0);
    hg_batch_t *o = s_fhir_in (obs, 1, round, committed);
    assert_int_equal (s_result.relinked, 1);
    assert_int_equal (s_result.unlinked, 0);
    assert_false (hg_fhir_record_unlinked (s_lab (o)));
    assert_string_equal (s_lab (o)->patient_ref, "12345");
    assert_string_equal (s_lab (o)->record_id, key);
    hg_batch_destroy (&o);
    /* next round: committed links only */
    hg_links_clear (round);
    assert_int_equal (hg_links_add (committed, PARTNER, "3f1c-aa", "12345"), 0);
    o = s_fhir_in (obs, 1, round, committed);
    assert_int_equal (s_result.relinked, 1);
    assert_string_equal (s_lab (o)->record_id, key);
    hg_batch_destroy (&o);
    /* no link anywhere: stays unlinked, and apart */
    o = s_fhir_in (obs, 1, round, NULL);
    assert_int_equal (s_result.relinked, 0);
    assert_int_equal (s_result.unlinked, 1);
    assert_true (hg_fhir_record_unlinked (s_lab (o)));
    assert_string_not_equal (s_lab (o)->record_id, key);
    hg_batch_destroy (&o);
    hg_links_destroy (&committed);
    hg_links_destroy (&round);
    hg_batch_destroy (&h);
}

/* Records left unlinked are counted per partner, apart from plausibility. */
static void
test_quality_counts_unlinked (void **state)
{
    (void) state;
    hg_batch_t *f = s_fhir (S_BUNDLE (S_GLUCOSE ("Patient/ghost", "2023-01-15T15:30:00Z", "95.4",
                                                 "mg/dL") "," S_PATIENT ("3f1c-aa", "12345")),
                            2);
    hg_quality_t *q = hg_quality_new ();
    assert_non_null (q);
    hg_quality_message (q, PARTNER, PARTNER "/b1", S_AT_US, hg_batch_records (f),
                        hg_batch_record_count (f), NULL, 0, 0, NULL, 0, 0);
    hg_quality_message (q, PARTNER, PARTNER "/b2", S_AT_US, hg_batch_records (f),
                        hg_batch_record_count (f), NULL, 0, 0, NULL, 0, 0);
    uint8_t *buf = NULL;
    size_t len = hg_quality_pack (q, PARTNER, &buf);
    assert_true (len > 0);
    Hourglass__PartnerQuality *pq = hourglass__partner_quality__unpack (NULL, len, buf);
    assert_non_null (pq);
    assert_int_equal (pq->records, 4);
    assert_int_equal (pq->flagged, 0);
    assert_int_equal (pq->n_flags, 1);
    assert_string_equal (pq->flags[0]->flag, "patient.unlinked");
    assert_int_equal (pq->flags[0]->count, 2);
    /* and they survive a restart (load from the packed figures) */
    hg_quality_t *q2 = hg_quality_new ();
    assert_int_equal (hg_quality_load (q2, buf, len), 0);
    hg_quality_message (q2, PARTNER, PARTNER "/b3", S_AT_US, hg_batch_records (f), 1, NULL, 0, 0,
                        NULL, 0, 0);
    uint8_t *buf2 = NULL;
    size_t len2 = hg_quality_pack (q2, PARTNER, &buf2);
    Hourglass__PartnerQuality *pq2 = hourglass__partner_quality__unpack (NULL, len2, buf2);
    assert_int_equal (pq2->flags[0]->count, 3);
    hourglass__partner_quality__free_unpacked (pq2, NULL);
    hourglass__partner_quality__free_unpacked (pq, NULL);
    free (buf2);
    free (buf);
    hg_quality_destroy (&q2);
    hg_quality_destroy (&q);
    hg_batch_destroy (&f);
}

HG_TEST_MAIN (cmocka_unit_test (test_same_glucose_same_key),
              cmocka_unit_test (test_every_link_gives_the_key),
              cmocka_unit_test (test_different_facts_differ),
              cmocka_unit_test (test_linked_across_payloads),
              cmocka_unit_test (test_quality_counts_unlinked))
