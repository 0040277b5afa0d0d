/*
 * test_quality.c -- data-quality accounting: reason classes generalise
 * values but keep field names, completeness rules, per-partner figures,
 * examples capped at three, a pack/load round trip, and the merge of a gone
 * replica's figures.
 */
#include "unit_test.h"

#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "quality.h"

/* 2026-12-04 12:00 UTC */
#define S_AT_US (UINT64_C (1796385600) * 1000000u)

static void
s_class (const char *in, const char *want)
{
    char out[256];
    hg_quality_reason_class (in, out, sizeof (out));
    assert_string_equal (out, want);
}

static void
test_reason_class (void **state)
{
    (void) state;
    s_class (
        "Observation/abc-123: Observation.effectiveDateTime '2021-13-45' is not a valid date: "
        "month 13",
        "Observation.effectiveDateTime '\xe2\x80\xa6' is not a valid date: month N");
    s_class (
        "line 26: invalid JSON: unexpected end of data (truncated JSON) at byte 103 of the line",
        "invalid JSON: unexpected end of data (truncated JSON) at byte N of the line");
    s_class ("message type ADT^A99 is not supported (supported: ADT^A01, ORU^R01)",
             "message type ADT^A99 is not supported (supported: ADT^A01, ORU^R01)");
    s_class ("OBX-5 field is 52428800 bytes, over max_field_bytes 1048576",
             "OBX-5 field is N bytes, over max_field_bytes N");
    s_class ("row 5 column RESULT: 'bad' is not a number",
             "column RESULT: '\xe2\x80\xa6' is not a number");
    s_class ("PID-3 patient identifier list is empty", "PID-3 patient identifier list is empty");
    char tiny[8];
    hg_quality_reason_class ("a very long reason that does not fit", tiny, sizeof (tiny));
    assert_true (strlen (tiny) < sizeof (tiny));
}

static void
test_figures_and_round_trip (void **state)
{
    (void) state;
    hg_batch_t *b = hg_batch_new (0);
    hg_arena_t *a = hg_batch_arena (b);
    /* complete lab result, lab result without value, demographics with sex + birth date */
    Hourglass__Record *lab = hg_batch_add_record (b,
                                                  HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION);
    lab->patient_ref = "p1";
    lab->effective = "2021-01-01";
    hg_record_add_code (a, lab, HG_SYS_LOINC, "2345-7", NULL);
    lab->value_case = HOURGLASS__RECORD__VALUE_QUANTITY;
    lab->quantity = hg_quantity_new (a, 5.4, "mmol/L");
    Hourglass__Record *novalue =
        hg_batch_add_record (b, HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION);
    novalue->patient_ref = "p1";
    novalue->effective = "2021-01-01";
    hg_record_add_code (a, novalue, HG_SYS_LOINC, "2345-7", NULL);
    Hourglass__Record *demo = hg_batch_add_record (b, HOURGLASS__RECORD_KIND__KIND_DEMOGRAPHICS);
    demo->patient_ref = "p1";
    demo->demographics = hg_demographics_new (a);
    demo->demographics->sex = "female";
    demo->demographics->birth_date = "1970-01-01";
    assert_int_equal (hg_quality_complete (lab), 1);
    assert_int_equal (hg_quality_complete (novalue), 0);
    assert_int_equal (hg_quality_complete (demo), 1);

    for (int i = 0; i < 5; i++) {
        hg_batch_reject (b, NULL, 0, "line 3 (Observation/x)",
                         "Observation/x%d: Observation.effectiveDateTime '2021-13-0%d' is not a "
                         "valid date: month 13",
                         i, i);
    }
    hg_quality_t *q = hg_quality_new ();
    const char *flags[] = {"value.implausible", "value.implausible", "code.bad_syntax"};
    hg_quality_message (q, "lab", "lab/b1", S_AT_US, hg_batch_records (b), 3,
                        hg_batch_rejects (b), 5, 2, flags, 3, 2);
    hg_quality_message (q, "other", "other/b1", S_AT_US, hg_batch_records (b), 1, NULL, 0, 0,
                        NULL, 0, 0);
    uint8_t *buf = NULL;
    size_t len = hg_quality_pack (q, "lab", &buf);
    assert_true (len > 0);
    assert_int_equal (hg_quality_pack (q, "nobody", &buf), 0);
    Hourglass__PartnerQuality *pq = hourglass__partner_quality__unpack (NULL, len, buf);
    assert_non_null (pq);
    assert_string_equal (pq->partner, "lab");
    assert_int_equal (pq->messages, 1);
    assert_int_equal (pq->records, 3);
    assert_int_equal (pq->rejected, 5);
    assert_int_equal (pq->ignored, 2);
    assert_int_equal (pq->complete, 2);
    assert_int_equal (pq->flagged, 2);
    assert_int_equal (pq->n_reasons, 1); /* five instances, one mistake */
    assert_int_equal (pq->reasons[0]->count, 5);
    assert_int_equal (pq->reasons[0]->n_examples, 0); /* examples held values */
    assert_int_equal (pq->reasons[0]->n_samples, HG_QUALITY_SAMPLES);
    const Hourglass__QualitySample *sm = pq->reasons[0]->samples[0];
    assert_string_equal (sm->message, "lab/b1");
    assert_string_equal (sm->location, "line 3 (Observation/\xe2\x80\xa6)");
    assert_null (strstr (sm->reason, "2021-13"));
    assert_non_null (strstr (sm->reason, "Observation.effectiveDateTime '\xe2\x80\xa6' is not"));
    assert_int_equal (sm->at_us, S_AT_US);
    assert_int_equal (pq->first_us, S_AT_US);
    assert_int_equal (pq->n_days, 0); /* days have rows of their own */
    assert_int_equal (pq->n_flags, 2);
    assert_string_equal (pq->flags[0]->flag, "value.implausible");
    assert_int_equal (pq->flags[0]->count, 2);
    hourglass__partner_quality__free_unpacked (pq, NULL);

    /* a restart: loading the packed figures gives the same figures */
    hg_quality_t *q2 = hg_quality_new ();
    assert_int_equal (hg_quality_load (q2, buf, len), 0);
    uint8_t *buf2 = NULL;
    size_t len2 = hg_quality_pack (q2, "lab", &buf2);
    assert_int_equal (len2, len);
    assert_memory_equal (buf2, buf, len);
    const char *names[4];
    assert_int_equal (hg_quality_partners (q, names, 4), 2);
    assert_int_equal (hg_quality_load (q2, (const uint8_t *) "\xff\xff", 2), -1);

    /* adoption of a gone replica's figures: merged into ours, not copied over */
    hg_batch_t *b2 = hg_batch_new (0);
    hg_batch_reject (b2, NULL, 0, "segment PID", "PID-3 patient identifier list is empty");
    hg_batch_reject (b2, NULL, 0, "line 9",
                     "Observation/y: Observation.effectiveDateTime "
                     "'2020-14-01' is not a valid date: month 14");
    const char *flags2[] = {"value.implausible", "date.in_future"};
    hg_quality_message (q2, "lab", "lab/b2", S_AT_US, hg_batch_records (b), 1,
                        hg_batch_rejects (b2), 2, 1, flags2, 2, 1);
    assert_int_equal (hg_quality_merge (q2, buf, len), 0);
    assert_int_equal (hg_quality_merge (q2, (const uint8_t *) "\xff\xff", 2), -1);
    free (buf2);
    len2 = hg_quality_pack (q2, "lab", &buf2);
    pq = hourglass__partner_quality__unpack (NULL, len2, buf2);
    assert_non_null (pq);
    assert_int_equal (pq->messages, 1 + 1 + 1); /* loaded, own, merged */
    assert_int_equal (pq->records, 3 + 1 + 3);
    assert_int_equal (pq->rejected, 5 + 2 + 5);
    assert_int_equal (pq->ignored, 2 + 1 + 2);
    assert_int_equal (pq->flagged, 2 + 1 + 2);
    assert_int_equal (pq->n_reasons, 2); /* the month reason once, PID-3 */
    for (size_t i = 0; i < pq->n_reasons; i++) {
        bool month = strstr (pq->reasons[i]->reason, "month N") != NULL;
        assert_int_equal (pq->reasons[i]->count, month ? 5 + 1 + 5 : 1);
        assert_true (pq->reasons[i]->n_examples <= 3);
    }
    assert_int_equal (pq->n_flags, 3);
    for (size_t i = 0; i < pq->n_flags; i++) {
        uint64_t want = strcmp (pq->flags[i]->flag, "value.implausible") == 0 ? 2 + 1 + 2
                        : strcmp (pq->flags[i]->flag, "code.bad_syntax") == 0 ? 1 + 1
                                                                              : 1;
        assert_int_equal (pq->flags[i]->count, want);
    }
    hourglass__partner_quality__free_unpacked (pq, NULL);
    hg_batch_destroy (&b2);
    free (buf);
    free (buf2);
    hg_quality_destroy (&q);
    hg_quality_destroy (&q2);
    assert_null (q);
    hg_batch_destroy (&b);
}

/* Ignored counts by kind: added per message, packed, loaded and merged by
 * name; past the kinds kept they go to "other", the total never lost. */
static void
test_ignored_kinds (void **state)
{
    (void) state;
    hg_quality_t *q = hg_quality_new ();
    hg_batch_t *b = hg_batch_new (0);
    hg_batch_ignore (b, "FHIR Specimen (unsupported)");
    hg_batch_ignore (b, "FHIR Specimen (unsupported)");
    hg_batch_ignore (b, "HL7 OBX in ORM^O01");
    size_t nk = 0;
    const hg_ignored_t *k = hg_batch_ignored_kinds (b, &nk);
    hg_quality_message (q, "lab", "m1", S_AT_US, NULL, 0, NULL, 0, hg_batch_ignored (b), NULL, 0,
                        0);
    hg_quality_ignored (q, "lab", k, nk);
    uint8_t *buf = NULL;
    size_t len = hg_quality_pack (q, "lab", &buf);
    hg_quality_t *q2 = hg_quality_new ();
    assert_int_equal (hg_quality_load (q2, buf, len), 0);
    assert_int_equal (hg_quality_merge (q2, buf, len), 0);
    for (int i = 0; i < 2 * HG_QUALITY_IGNORED_KINDS; i++) {
        hg_ignored_t one = {.count = 1};
        snprintf (one.kind, sizeof (one.kind), "kind %d", i);
        hg_quality_ignored (q2, "lab", &one, 1);
    }
    uint8_t *buf2 = NULL;
    size_t len2 = hg_quality_pack (q2, "lab", &buf2);
    Hourglass__PartnerQuality *pq = hourglass__partner_quality__unpack (NULL, len2, buf2);
    assert_non_null (pq);
    assert_int_equal (pq->n_ignored_kinds, HG_QUALITY_IGNORED_KINDS);
    uint64_t sum = 0, specimen = 0, obx = 0, other = 0;
    for (size_t i = 0; i < pq->n_ignored_kinds; i++) {
        const Hourglass__FlagCount *f = pq->ignored_kinds[i];
        sum += f->count;
        specimen += strcmp (f->flag, "FHIR Specimen (unsupported)") == 0 ? f->count : 0;
        obx += strcmp (f->flag, "HL7 OBX in ORM^O01") == 0 ? f->count : 0;
        other += strcmp (f->flag, "other") == 0 ? f->count : 0;
    }
    assert_int_equal (specimen, 2 + 2); /* loaded, merged */
    assert_int_equal (obx, 1 + 1);
    assert_int_equal (sum, 6 + 2 * HG_QUALITY_IGNORED_KINDS);
    assert_int_equal (other, 2 * HG_QUALITY_IGNORED_KINDS - (HG_QUALITY_IGNORED_KINDS - 1 - 2));
    hourglass__partner_quality__free_unpacked (pq, NULL);
    free (buf);
    free (buf2);
    hg_batch_destroy (&b);
    hg_quality_destroy (&q);
    hg_quality_destroy (&q2);
}

static void
s_redacts (const char *in, const char *want)
{
    char out[512];
    hg_quality_redact (in, out, sizeof (out));
    assert_string_equal (out, want);
}

#define S_E "\xe2\x80\xa6"

/* Redaction keeps our words and positions, withholds every value: quoted,
 * unquoted names (a name in MSH-9), ids after Type/, dates as shapes. */
static void
test_redact (void **state)
{
    (void) state;
    s_redacts ("Observation/e9aa-59ac: Observation.effectiveDateTime '2021-13-45' is not a "
               "valid date: month 13",
               "Observation/" S_E ": Observation.effectiveDateTime '" S_E
               "' is not a valid date: month 13");
    s_redacts ("message 3 (MSH-10 'GH018FEDBAD00001') segment PID",
               "message 3 (MSH-10 '" S_E "') segment PID");
    s_redacts ("message type ADT^A99 is not supported (supported: ADT^A01)",
               "message type ADT^A99 is not supported (supported: ADT^A01)");
    s_redacts ("message type QUORTLE^ZANDER is not supported",
               "message type " S_E " is not supported");
    s_redacts ("demographics.birth_date 2031-01-01 is more than 1 day after today (2026-12-04)",
               "demographics.birth_date 9999-99-99 is more than 1 day after today (9999-99-99)");
    s_redacts ("line 3 (Observation/x)", "line 3 (Observation/" S_E ")");
    s_redacts ("PID-7 Moore^Elizabeth is not a date", "PID-7 " S_E " is not a date");
    s_redacts ("segment OBX[3] field 5 'abc", "segment OBX[3] field 5 '" S_E);
    s_redacts ("urn:uuid:205af244-10f4 is not resolved", S_E " is not resolved");
    char tiny[6];
    hg_quality_redact ("PID-3 patient identifier list is empty", tiny, sizeof (tiny));
    assert_true (strlen (tiny) < sizeof (tiny));

    char out[512];
    const char *hl7 = "PID|1||MRN123^^^GH^MR||Moore^Elizabeth||19620515|F|||9 Oak St^^Augusta"
                      "\rPV1|1|E";
    hg_quality_redact_excerpt (hl7, strlen (hl7), out, sizeof (out));
    assert_string_equal (out, "PID|9||" S_E "^^^" S_E "^" S_E "||" S_E "^" S_E "||99999999|" S_E
                              "|||9 " S_E " " S_E "^^" S_E "\nPV1|9|" S_E);
    const char *fhir = "{\"resourceType\": \"Patient\", \"id\": \"ab-12\", \"birthDate\": "
                       "\"1962-05-15\", \"Moore Elizabeth\": true, \"name\": [{\"family\": "
                       "\"Moo";
    hg_quality_redact_excerpt (fhir, strlen (fhir), out, sizeof (out));
    assert_string_equal (out, "{\"resourceType\": \"Patient\", \"id\": \"" S_E
                              "\", \"birthDate\": \"9999-99-99\", \"" S_E
                              "\": true, \"name\": [{\"family\": \"" S_E);
    /* idempotent on its own output and on reason classes: figures stored
     * by this version keep their reasons when loaded (redacted again) */
    const char *again[] = {
        "Observation.effectiveDateTime '" S_E "' is not a valid date: month N",
        "invalid JSON: unexpected end of data (truncated JSON) at byte N of the line",
        "OBX-5 field is N bytes, over max_field_bytes N",
        "column " S_E ": '" S_E "' is not a number",
        "demographics.birth_date 9999-99-99 is more than N day after today (9999-99-99)",
    };
    for (size_t i = 0; i < sizeof (again) / sizeof (again[0]); i++) {
        s_redacts (again[i], again[i]);
    }
    /* a class stored by an earlier version, with a value unquoted, loses it */
    hg_quality_t *q = hg_quality_new ();
    Hourglass__ReasonCount rc = HOURGLASS__REASON_COUNT__INIT, *rcp = &rc;
    rc.reason = "message type QUORTLE^ZANDER is not supported";
    rc.count = 2;
    Hourglass__PartnerQuality old = HOURGLASS__PARTNER_QUALITY__INIT;
    old.partner = "lab";
    old.messages = 2;
    old.n_reasons = 1;
    old.reasons = &rcp;
    uint8_t packed[256];
    size_t plen = hourglass__partner_quality__pack (&old, packed);
    assert_int_equal (hg_quality_load (q, packed, plen), 0);
    uint8_t *buf = NULL;
    size_t len = hg_quality_pack (q, "lab", &buf);
    Hourglass__PartnerQuality *pq = hourglass__partner_quality__unpack (NULL, len, buf);
    assert_string_equal (pq->reasons[0]->reason, "message type " S_E " is not supported");
    assert_int_equal (pq->reasons[0]->count, 2);
    hourglass__partner_quality__free_unpacked (pq, NULL);
    free (buf);
    hg_quality_destroy (&q);
    /* the worst case of an excerpt, empty JSON strings (2 bytes become 5),
     * fits whole in a sample (3 bytes per byte) */
    char worst[HG_REJECT_EXCERPT_MAX], shaped[HG_REJECT_EXCERPT_MAX * 3 + 1];
    memset (worst, '"', sizeof (worst));
    hg_quality_redact_excerpt (worst, sizeof (worst), shaped, sizeof (shaped));
    assert_int_equal (strlen (shaped), HG_REJECT_EXCERPT_MAX / 2 * 5);
    hg_quality_redact_excerpt (NULL, 0, out, sizeof (out));
    assert_string_equal (out, "");
}

/* Days: one per UTC day of receipt, the window of HG_QUALITY_DAYS sliding
 * with the newest day (older ones reported for deletion), a day packed and
 * merged back; fields counted per kind. */
static void
test_days_and_fields (void **state)
{
    (void) state;
    hg_batch_t *b = hg_batch_new (0);
    Hourglass__Record *lab = hg_batch_add_record (b,
                                                  HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION);
    lab->patient_ref = "p1";
    lab->effective = "2021-01-01";
    hg_record_add_code (hg_batch_arena (b), lab, HG_SYS_LOINC, "2345-7", NULL);
    hg_quality_t *q = hg_quality_new ();
    const uint64_t day_us = UINT64_C (86400000000);
    uint32_t d0 = hg_quality_day (S_AT_US);
    hg_quality_message (q, "lab", "lab/fp", S_AT_US, hg_batch_records (b), 1, NULL, 0, 0, NULL, 0,
                        0);
    hg_quality_message (q, "lab", "lab/fp", S_AT_US + 1000, hg_batch_records (b), 1, NULL, 0, 0,
                        NULL, 0, 0);
    hg_quality_message (q, "lab", "lab/fp", S_AT_US + day_us, hg_batch_records (b), 1, NULL, 0, 0,
                        NULL, 0, 0);
    uint8_t *buf = NULL;
    size_t len = hg_quality_pack_report (q, "lab", &buf);
    Hourglass__PartnerQuality *pq = hourglass__partner_quality__unpack (NULL, len, buf);
    assert_non_null (pq);
    assert_int_equal (pq->n_days, 2);
    assert_int_equal (pq->days[0]->day, d0);
    assert_int_equal (pq->days[0]->messages, 2);
    assert_int_equal (pq->days[1]->day, d0 + 1);
    assert_int_equal (pq->days[1]->records, 1);
    /* lab-observation: patient, code, date filled; value, unit, ... not */
    bool seen_value = false;
    for (size_t i = 0; i < pq->n_fields; i++) {
        assert_string_equal (pq->fields[i]->kind, "lab-observation");
        assert_int_equal (pq->fields[i]->records, 3);
        bool filled = strcmp (pq->fields[i]->field, "patient") == 0
                      || strcmp (pq->fields[i]->field, "code") == 0
                      || strcmp (pq->fields[i]->field, "date") == 0;
        assert_int_equal (pq->fields[i]->filled, filled ? 3 : 0);
        seen_value = seen_value || strcmp (pq->fields[i]->field, "value") == 0;
    }
    assert_true (seen_value);
    hourglass__partner_quality__free_unpacked (pq, NULL);
    free (buf);

    /* a day's row merges back into fresh figures */
    len = hg_quality_pack_day (q, "lab", d0, &buf);
    assert_true (len > 0);
    assert_int_equal (hg_quality_pack_day (q, "lab", d0 + 5, &buf), 0);
    hg_quality_t *q2 = hg_quality_new ();
    assert_int_equal (hg_quality_merge (q2, buf, len), 0);
    free (buf);
    len = hg_quality_pack_report (q2, "lab", &buf);
    pq = hourglass__partner_quality__unpack (NULL, len, buf);
    assert_int_equal (pq->messages, 0); /* a day row holds no totals */
    assert_int_equal (pq->n_days, 1);
    assert_int_equal (pq->days[0]->messages, 2);
    assert_int_equal (pq->days[0]->n_fields, 8); /* the 8 fields of a lab result */
    hourglass__partner_quality__free_unpacked (pq, NULL);
    free (buf);

    /* HG_QUALITY_DAYS later the first two days leave the window */
    uint32_t dropped[HG_QUALITY_DAYS];
    assert_int_equal (hg_quality_take_dropped (q, "lab", dropped, HG_QUALITY_DAYS), 0);
    hg_quality_message (q, "lab", "lab/fp", S_AT_US + (HG_QUALITY_DAYS + 1) * day_us,
                        hg_batch_records (b), 1, NULL, 0, 0, NULL, 0, 0);
    assert_int_equal (hg_quality_take_dropped (q, "lab", dropped, HG_QUALITY_DAYS), 2);
    assert_int_equal (dropped[0], d0);
    assert_int_equal (dropped[1], d0 + 1);
    /* a message of a day already out of the window counts in the totals only */
    hg_quality_message (q, "lab", "lab/fp", S_AT_US, hg_batch_records (b), 1, NULL, 0, 0, NULL, 0,
                        0);
    len = hg_quality_pack_report (q, "lab", &buf);
    pq = hourglass__partner_quality__unpack (NULL, len, buf);
    assert_int_equal (pq->messages, 5);
    assert_int_equal (pq->n_days, 1);
    assert_int_equal (pq->days[0]->day, d0 + HG_QUALITY_DAYS + 1);
    hourglass__partner_quality__free_unpacked (pq, NULL);
    free (buf);
    hg_quality_destroy (&q);
    hg_quality_destroy (&q2);
    hg_batch_destroy (&b);
}

HG_TEST_MAIN (cmocka_unit_test (test_reason_class),
              cmocka_unit_test (test_figures_and_round_trip),
              cmocka_unit_test (test_ignored_kinds), cmocka_unit_test (test_redact),
              cmocka_unit_test (test_days_and_fields))
