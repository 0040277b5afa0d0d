/*
 * test_cleanse.c -- the cleanser's step after parsing (cleanse.h) on
 * records built by hand: dates checked against the birth and death of the
 * patient's demographics in the payload, flags appended after the parser's,
 * flag codes and counts, provenance, content key, links made only for FHIR
 * payloads, errors. Linking across payloads: test_crossformat.c.
 */
#include "unit_test.h"

#include <stdlib.h>
#include <string.h>

#include "cleanse.h"
#include "fhir.h"
#include "record.h"

#define S_TODAY 20089 /* 2025-01-01 */

static Hourglass__Record *
s_rec (hg_batch_t *b, Hourglass__RecordKind kind, const char *patient, const char *effective)
{
    hg_arena_t *a = hg_batch_arena (b);
    Hourglass__Record *r = hg_batch_add_record (b, kind);
    assert_non_null (r);
    r->patient_ref = hg_arena_strdup (a, patient);
    r->effective = hg_arena_strdup (a, effective);
    return r;
}

static Hourglass__Record *
s_patient (hg_batch_t *b, const char *patient, const char *birth, const char *death)
{
    Hourglass__Record *r = s_rec (b, HOURGLASS__RECORD_KIND__KIND_DEMOGRAPHICS, patient, "");
    r->demographics = hg_demographics_new (hg_batch_arena (b));
    r->demographics->birth_date = hg_arena_strdup (hg_batch_arena (b), birth);
    r->demographics->deceased_date = hg_arena_strdup (hg_batch_arena (b), death);
    r->demographics->sex = hg_arena_strdup (hg_batch_arena (b), "F");
    return r;
}

static int
s_cleanse (hg_batch_t *b, bool fhir, hg_links_t *links, hg_cleanse_result_t *res)
{
    hg_cleanse_ctx_t ctx = {
        .partner = "valley-lab",
        .message_id = "valley-lab/m1",
        .format = fhir ? "fhir" : "hl7v2",
        .link_patients = fhir,
        .today_days = S_TODAY,
        .links = links,
    };
    hg_err_t err = {0};
    int rc = hg_cleanse (&ctx, hg_batch_arena (b), hg_batch_records (b),
                         hg_batch_record_count (b), res, &err);
    assert_int_equal (rc, err.code);
    return rc;
}

static void
s_assert_flags (const Hourglass__Record *r, const char *const *want, size_t n)
{
    if (r->n_flags != n) {
        fail_msg ("record %s: %zu flags (first %s), want %zu", r->patient_ref, r->n_flags,
                  r->n_flags ? r->flags[0] : "-", n);
    }
    for (size_t i = 0; i < n; i++) {
        assert_string_equal (r->flags[i], want[i]);
    }
}

/* Each record is checked against its own patient's birth and death, when
 * the payload carries them, whatever the order of the records. */
static void
test_dates_against_the_payloads_patients (void **state)
{
    (void) state;
    hg_batch_t *b = hg_batch_new (0);
    const Hourglass__RecordKind cond = HOURGLASS__RECORD_KIND__KIND_CONDITION;
    Hourglass__Record *before = s_rec (b, cond, "p1", "1979-01-01");
    s_patient (b, "p1", "1980-05-01", "2020-01-01");
    Hourglass__Record *other = s_rec (b, cond, "p2", "1979-01-01"); /* no demographics */
    Hourglass__Record *after = s_rec (b, cond, "p1", "2021-01-01");
    Hourglass__Record *ok = s_rec (b, cond, "p1", "2001-01-01");
    s_patient (b, "p3", "1990-01-01", "");
    Hourglass__Record *future = s_rec (b, cond, "p3", "2025-06-01");
    Hourglass__Record *early = s_rec (b, cond, "p3", "1989-12-31");
    hg_cleanse_result_t res;
    assert_int_equal (s_cleanse (b, false, NULL, &res), 0);
    const char *before_birth[] = {"date.before_birth"};
    const char *after_death[] = {"date.after_death"};
    const char *in_future[] = {"date.in_future"};
    s_assert_flags (before, before_birth, 1);
    s_assert_flags (other, NULL, 0);
    s_assert_flags (after, after_death, 1);
    s_assert_flags (ok, NULL, 0);
    s_assert_flags (future, in_future, 1);
    s_assert_flags (early, before_birth, 1);
    assert_int_equal (res.flagged, 4);
    assert_int_equal (res.n_flag_codes, 4);
    const char *codes[] = {"date.before_birth", "date.after_death", "date.in_future",
                           "date.before_birth"};
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal (res.flag_codes[i], codes[i]);
    }
    assert_int_equal (res.n_links, 0);
    assert_int_equal (res.relinked + res.unlinked, 0);
    hg_batch_destroy (&b);
}

/* Partner, message and format in every record's provenance (the parser's
 * format kept), and a content key that does not depend on the message. */
static void
test_provenance_and_key (void **state)
{
    (void) state;
    hg_batch_t *b = hg_batch_new (0);
    const Hourglass__RecordKind cond = HOURGLASS__RECORD_KIND__KIND_CONDITION;
    Hourglass__Record *bare = s_rec (b, cond, "p1", "2001-01-01");
    Hourglass__Record *parsed = s_rec (b, cond, "p1", "2001-01-01");
    parsed->provenance = hg_provenance_new (hg_batch_arena (b));
    parsed->provenance->source_format = (char *) "csv";
    parsed->provenance->partner = (char *) "someone else";
    hg_cleanse_result_t res;
    assert_int_equal (s_cleanse (b, false, NULL, &res), 0);
    assert_non_null (bare->provenance);
    assert_string_equal (bare->provenance->partner, "valley-lab");
    assert_string_equal (bare->provenance->source_message_id, "valley-lab/m1");
    assert_string_equal (bare->provenance->source_format, "hl7v2");
    assert_string_equal (parsed->provenance->partner, "valley-lab");
    assert_string_equal (parsed->provenance->source_format, "csv");
    assert_int_equal (strlen (bare->record_id), 32);
    assert_string_equal (bare->record_id, parsed->record_id); /* the same fact */
    hg_batch_destroy (&b);
}

/* A FHIR record left unlinked keeps the parser's flag first; links are
 * made for FHIR payloads only. */
static void
test_unlinked_and_links (void **state)
{
    (void) state;
    for (int fhir = 0; fhir <= 1; fhir++) {
        hg_batch_t *b = hg_batch_new (0);
        hg_arena_t *a = hg_batch_arena (b);
        Hourglass__Record *pat = s_patient (b, "12345", "1980-05-01", "");
        pat->provenance = hg_provenance_new (a);
        pat->provenance->source_record_id = (char *) "Patient/3f1c-aa";
        Hourglass__Record *ghost = s_rec (b, HOURGLASS__RECORD_KIND__KIND_CONDITION, "ghost",
                                          "2030-01-01");
        assert_int_equal (hg_strv_push (a, &ghost->flags, &ghost->n_flags, HG_FHIR_FLAG_UNLINKED),
                          0);
        hg_links_t *links = hg_links_new ();
        hg_cleanse_result_t res;
        assert_int_equal (s_cleanse (b, fhir, links, &res), 0);
        const char *flags[] = {HG_FHIR_FLAG_UNLINKED, "date.in_future"};
        s_assert_flags (ghost, flags, 2);
        assert_int_equal (res.unlinked, 1);
        assert_int_equal (res.flagged, 1);
        assert_int_equal (res.n_flag_codes, 1); /* normalisation flags only */
        assert_int_equal (res.n_links, fhir ? 1 : 0);
        assert_int_equal (hg_links_size (links), fhir ? 1 : 0);
        if (fhir) {
            assert_string_equal (res.links[0].patient_id, "3f1c-aa");
            assert_string_equal (res.links[0].identifier, "12345");
        }
        hg_links_destroy (&links);
        hg_batch_destroy (&b);
    }
}

/* An exhausted arena is an error saying so, not a crash. */
static void
test_out_of_memory (void **state)
{
    (void) state;
    hg_batch_t *b = hg_batch_new (1);
    assert_non_null (b);
    Hourglass__Record *r = calloc (1, sizeof (*r));
    hourglass__record__init (r);
    r->kind = HOURGLASS__RECORD_KIND__KIND_CONDITION;
    Hourglass__Record *recs[] = {r};
    hg_cleanse_ctx_t ctx = {.partner = "valley-lab", .message_id = "m", .format = "hl7v2"};
    hg_cleanse_result_t res;
    hg_err_t err = {0};
    assert_int_equal (hg_cleanse (&ctx, hg_batch_arena (b), recs, 1, &res, &err), HG_ENOMEM);
    assert_non_null (strstr (err.msg, "out of memory"));
    free (r);
    hg_batch_destroy (&b);
}

HG_TEST_MAIN (cmocka_unit_test (test_dates_against_the_payloads_patients),
              cmocka_unit_test (test_provenance_and_key),
              cmocka_unit_test (test_unlinked_and_links), cmocka_unit_test (test_out_of_memory))
