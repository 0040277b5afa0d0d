/*
 * test_quality.c -- data-quality accounting: reason classes generalise
 * values but keep field names, completeness rules, per-partner figures,
 * examples capped at three, and a pack/load round trip.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
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
    s_class ("Observation/abc-123: Observation.effectiveDateTime '2021-13-45' is not a valid date: "
             "month 13",
             "Observation.effectiveDateTime '\xe2\x80\xa6' is not a valid date: month N");
    s_class ("line 26: invalid JSON: unexpected end of data (truncated JSON) at byte 103 of the line",
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
    Hourglass__Record *lab = hg_batch_add_record (b, HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION);
    lab->patient_ref = "p1";
    lab->effective = "2021-01-01";
    hg_record_add_code (a, lab, HG_SYS_LOINC, "2345-7", NULL);
    lab->value_case = HOURGLASS__RECORD__VALUE_QUANTITY;
    lab->quantity = hg_quantity_new (a, 5.4, "mmol/L");
    Hourglass__Record *novalue = hg_batch_add_record (b, HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION);
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
                         "valid date: month 13", i, i);
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
    assert_int_equal (pq->n_reasons, 1);         /* five instances, one mistake */
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
    free (buf);
    free (buf2);
    hg_quality_destroy (&q);
    hg_quality_destroy (&q2);
    assert_null (q);
    hg_batch_destroy (&b);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_reason_class),
        cmocka_unit_test (test_figures_and_round_trip),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
