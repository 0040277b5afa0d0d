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
    hg_quality_message (q, "lab", "lab/b1", hg_batch_records (b), 3, hg_batch_rejects (b), 5, 2,
                        flags, 3, 2);
    hg_quality_message (q, "other", "other/b1", hg_batch_records (b), 1, NULL, 0, 0, NULL, 0, 0);
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
    assert_int_equal (pq->reasons[0]->n_examples, 3);
    assert_non_null (strstr (pq->reasons[0]->examples[0], "lab/b1 at line 3 (Observation/x)"));
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
    hg_quality_message (q2, "lab", "lab/b2", hg_batch_records (b), 1, hg_batch_rejects (b2), 2, 1,
                        flags2, 2, 1);
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
    hg_quality_message (q, "lab", "m1", NULL, 0, NULL, 0, hg_batch_ignored (b), NULL, 0, 0);
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

HG_TEST_MAIN (cmocka_unit_test (test_reason_class),
              cmocka_unit_test (test_figures_and_round_trip),
              cmocka_unit_test (test_ignored_kinds))
