/*
 * test_record.c -- the parse batch (services/cleanser/batch.c) and record
 * helpers (common/record.c),
 * the arena limit (common/arena.c) and the string set (common/strset.c).
 */
#include "unit_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "arena.h"
#include "batch.h"
#include "record.h"
#include "util.h"
#include "strset.h"

static void
test_batch_records (void **state)
{
    (void) state;
    hg_batch_t *b = hg_batch_new (0);
    assert_non_null (b);
    assert_int_equal (hg_batch_record_count (b), 0);
    Hourglass__Record *r = hg_batch_add_record (b, HOURGLASS__RECORD_KIND__KIND_CONDITION);
    assert_non_null (r);
    assert_int_equal (r->kind, HOURGLASS__RECORD_KIND__KIND_CONDITION);
    /* every string is protobuf-c's "", never NULL */
    assert_ptr_equal (r->record_id, protobuf_c_empty_string);
    assert_ptr_equal (r->patient_ref, protobuf_c_empty_string);
    assert_ptr_equal (r->effective, protobuf_c_empty_string);
    assert_null (r->provenance);
    assert_null (r->demographics);
    assert_int_equal (r->n_codes, 0);
    assert_int_equal (r->value_case, HOURGLASS__RECORD__VALUE__NOT_SET);

    /* many records: the pointer array grows */
    for (int i = 0; i < 99; i++) {
        assert_non_null (hg_batch_add_record (b, HOURGLASS__RECORD_KIND__KIND_NOTE));
    }
    assert_int_equal (hg_batch_record_count (b), 100);
    assert_ptr_equal (hg_batch_records (b)[0], r);
    Hourglass__Record *last = hg_batch_records (b)[99];
    hg_batch_drop_last (b);
    assert_int_equal (hg_batch_record_count (b), 99);
    Hourglass__Record *again = hg_batch_add_record (b, HOURGLASS__RECORD_KIND__KIND_ENCOUNTER);
    assert_ptr_equal (hg_batch_records (b)[99], again);
    assert_ptr_not_equal (again, last);
    assert_int_equal (again->kind, HOURGLASS__RECORD_KIND__KIND_ENCOUNTER);

    /* records pack and unpack as protobuf */
    hg_arena_t *a = hg_batch_arena (b);
    r->patient_ref = hg_arena_strdup (a, "pat-1");
    assert_int_equal (hg_record_add_code (a, r, HG_SYS_SNOMED, "44054006", "Diabetes"), 0);
    assert_int_equal (hg_record_add_code (a, r, HG_SYS_ICD10CM, "E11.9", NULL), 0);
    assert_int_equal (hg_record_add_identifier (a, r, "urn:mrn", "12345", "MR"), 0);
    assert_int_equal (r->n_codes, 2);
    assert_string_equal (r->codes[1]->code, "E11.9");
    assert_ptr_equal (r->codes[1]->display, protobuf_c_empty_string);
    size_t len = hourglass__record__get_packed_size (r);
    uint8_t *buf = malloc (len);
    hourglass__record__pack (r, buf);
    Hourglass__Record *u = hourglass__record__unpack (NULL, len, buf);
    assert_non_null (u);
    assert_string_equal (u->patient_ref, "pat-1");
    assert_int_equal (u->n_codes, 2);
    assert_string_equal (u->codes[0]->system, HG_SYS_SNOMED);
    assert_string_equal (u->codes[0]->display, "Diabetes");
    assert_string_equal (u->identifiers[0]->type, "MR");
    hourglass__record__free_unpacked (u, NULL);
    free (buf);

    /* drop_last on an empty batch is harmless */
    hg_batch_reset (b);
    assert_int_equal (hg_batch_record_count (b), 0);
    hg_batch_drop_last (b);
    assert_int_equal (hg_batch_record_count (b), 0);
    assert_non_null (hg_batch_add_record (b, HOURGLASS__RECORD_KIND__KIND_NOTE));
    assert_int_equal (hg_batch_record_count (b), 1);
    hg_batch_destroy (&b);
    assert_null (b);
    hg_batch_destroy (&b);
}

static void
test_batch_rejects_and_ignores (void **state)
{
    (void) state;
    hg_batch_t *b = hg_batch_new (0);
    char big[1000];
    for (size_t i = 0; i < sizeof (big); i++) {
        big[i] = (char) ('a' + i % 26);
    }
    hg_batch_reject (b, big, sizeof (big), "segment OBX[3] field 5",
                     "OBX-5 '%s' is not a number but OBX-2 says %s", "abc", "NM");
    hg_batch_reject (b, NULL, 10, "loc2", "no excerpt");
    hg_batch_reject (b, "xyz", 0, NULL, "empty excerpt %d", 7);
    hg_batch_reject (b, big, HG_REJECT_EXCERPT_MAX, "exact", "at the cap");
    hg_batch_reject (b, "a\0b", 3, "nul", "binary");
    assert_int_equal (hg_batch_reject_count (b), 5);
    const hg_reject_t *rj = hg_batch_rejects (b);
    assert_string_equal (rj[0].location, "segment OBX[3] field 5");
    assert_string_equal (rj[0].reason, "OBX-5 'abc' is not a number but OBX-2 says NM");
    assert_int_equal (rj[0].excerpt_len, HG_REJECT_EXCERPT_MAX);
    assert_memory_equal (rj[0].excerpt, big, HG_REJECT_EXCERPT_MAX);
    assert_int_equal (rj[0].excerpt[HG_REJECT_EXCERPT_MAX], '\0');
    assert_null (rj[1].excerpt);
    assert_int_equal (rj[1].excerpt_len, 0);
    assert_string_equal (rj[1].reason, "no excerpt");
    assert_null (rj[2].excerpt);
    assert_int_equal (rj[2].excerpt_len, 0);
    assert_string_equal (rj[2].location, "");
    assert_string_equal (rj[2].reason, "empty excerpt 7");
    assert_int_equal (rj[3].excerpt_len, HG_REJECT_EXCERPT_MAX);
    assert_int_equal (rj[4].excerpt_len, 3);
    assert_memory_equal (rj[4].excerpt, "a\0b", 3);

    /* the reject array grows */
    for (int i = 0; i < 40; i++) {
        hg_batch_reject (b, NULL, 0, "loop", "reject %d", i);
    }
    assert_int_equal (hg_batch_reject_count (b), 45);
    assert_string_equal (hg_batch_rejects (b)[44].reason, "reject 39");
    assert_string_equal (hg_batch_rejects (b)[0].location, "segment OBX[3] field 5");

    assert_int_equal (hg_batch_ignored (b), 0);
    hg_batch_ignore (b, "FHIR Organization");
    hg_batch_ignore (b, NULL);
    hg_batch_ignore (b, "FHIR Organization");
    assert_int_equal (hg_batch_ignored (b), 3);
    size_t nk = 0;
    const hg_ignored_t *kinds = hg_batch_ignored_kinds (b, &nk);
    assert_int_equal (nk, 2);
    assert_string_equal (kinds[0].kind, "FHIR Organization");
    assert_int_equal (kinds[0].count, 2);
    assert_string_equal (kinds[1].kind, "other");
    /* past the kinds told apart, counts go to "other" and still sum up */
    for (int i = 0; i < 40; i++) {
        char k[16];
        snprintf (k, sizeof (k), "kind %d", i);
        hg_batch_ignore (b, k);
    }
    kinds = hg_batch_ignored_kinds (b, &nk);
    assert_int_equal (nk, HG_BATCH_IGNORE_KINDS - 1); /* "other" was one of them */
    size_t sum = 0;
    for (size_t i = 0; i < nk; i++) {
        sum += kinds[i].count;
    }
    assert_int_equal (sum, hg_batch_ignored (b));
    assert_int_equal (hg_batch_ignored (b), 43);

    assert_non_null (hg_batch_add_record (b, HOURGLASS__RECORD_KIND__KIND_NOTE));
    hg_batch_reset (b);
    assert_int_equal (hg_batch_record_count (b), 0);
    assert_int_equal (hg_batch_reject_count (b), 0);
    assert_int_equal (hg_batch_ignored (b), 0);
    hg_batch_reject (b, "q", 1, "after reset", "r");
    assert_int_equal (hg_batch_reject_count (b), 1);
    assert_string_equal (hg_batch_rejects (b)[0].location, "after reset");
    hg_batch_destroy (&b);
}

static void
test_arena_limit (void **state)
{
    (void) state;
    /* a limit below one block: nothing fits */
    hg_batch_t *b = hg_batch_new (1024);
    assert_null (hg_batch_add_record (b, HOURGLASS__RECORD_KIND__KIND_NOTE));
    assert_int_equal (hg_batch_record_count (b), 0);
    /* a reject still reports, from static fallbacks */
    hg_batch_reject (b, "excerpt", 7, "segment PID", "too big");
    assert_int_equal (hg_batch_reject_count (b), 1);
    assert_string_equal (hg_batch_rejects (b)[0].location, "payload");
    assert_string_equal (hg_batch_rejects (b)[0].reason, "payload exceeds parser memory limit");
    assert_null (hg_batch_rejects (b)[0].excerpt);
    assert_int_equal (hg_batch_rejects (b)[0].excerpt_len, 0);
    hg_batch_destroy (&b);

    /* one 64 KiB block allowed */
    hg_arena_t *a = hg_arena_new (64 * 1024);
    void *p = hg_arena_alloc (a, 60000);
    assert_non_null (p);
    assert_int_equal ((uintptr_t) p % 16, 0);
    assert_int_equal (hg_arena_used (a), 60000);
    void *q = hg_arena_alloc (a, 1);
    assert_non_null (q);
    assert_int_equal ((uintptr_t) q % 16, 0);
    assert_int_equal (hg_arena_used (a), 60016);
    assert_null (hg_arena_alloc (a, 10000)); /* needs a second block */
    assert_int_equal (hg_arena_used (a), 60016);
    char *fits = hg_arena_strdup (a, "still fits"); /* 11 bytes -> 16 */
    assert_string_equal (fits, "still fits");
    assert_non_null (hg_arena_alloc (a, 65536 - 60032)); /* exactly the rest */
    assert_int_equal (hg_arena_used (a), 65536);
    assert_null (hg_arena_alloc (a, SIZE_MAX)); /* overflow */
    char *s = hg_arena_printf (a, "%s-%d", "x", 42);
    assert_null (s); /* printf needs room too */
    assert_null (hg_arena_strdup (a, ""));
    hg_arena_reset (a);
    assert_int_equal (hg_arena_used (a), 0);
    s = hg_arena_printf (a, "%s-%d", "x", 42);
    assert_string_equal (s, "x-42");
    char *n = hg_arena_strndup (a, "abcdef", 3);
    assert_string_equal (n, "abc");
    hg_arena_destroy (&a);
    assert_null (a);

    /* unlimited: a large allocation gets its own block */
    a = hg_arena_new (0);
    unsigned char *big = hg_arena_alloc (a, 1 << 20);
    assert_non_null (big);
    assert_int_equal (big[0], 0);
    assert_int_equal (big[(1 << 20) - 1], 0);
    hg_arena_destroy (&a);
}

/* A lab result as a parser builds it. */
static Hourglass__Record *
s_lab (hg_batch_t *b, const char *source_id, const char *patient, const char *code,
       const char *effective, double value)
{
    hg_arena_t *a = hg_batch_arena (b);
    Hourglass__Record *r = hg_batch_add_record (b, HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION);
    r->provenance = hg_provenance_new (a);
    r->provenance->partner = hg_arena_strdup (a, "lab-a");
    r->provenance->source_record_id = hg_arena_strdup (a, source_id);
    r->provenance->source_message_id = hg_arena_strdup (a, source_id);
    r->patient_ref = hg_arena_strdup (a, patient);
    hg_record_add_code (a, r, HG_SYS_LOINC, code, "Glucose");
    r->effective = hg_arena_strdup (a, effective);
    r->value_case = HOURGLASS__RECORD__VALUE_QUANTITY;
    r->quantity = hg_quantity_new (a, value, "mg/dL");
    assert_int_equal (hg_record_set_content_key (a, r), 0);
    return r;
}

static void
test_content_key (void **state)
{
    (void) state;
    hg_batch_t *b = hg_batch_new (0);
    hg_arena_t *a = hg_batch_arena (b);
    Hourglass__Record *base = s_lab (b, "OBX-1", "p1", "2345-7", "2023-01-02", 5.4);
    assert_int_equal (strlen (base->record_id), 32);
    assert_int_equal (strspn (base->record_id, "0123456789abcdef"), 32);

    /* the same fact from another message / resource id: same key */
    Hourglass__Record *same = s_lab (b, "Observation/99", "p1", "2345-7", "2023-01-02", 5.4);
    assert_string_equal (same->record_id, base->record_id);
    /* display text is not part of the fact */
    same->codes[0]->display = hg_arena_strdup (a, "GLU");
    assert_int_equal (hg_record_set_content_key (a, same), 0);
    assert_string_equal (same->record_id, base->record_id);

    const char *keys[16];
    size_t nk = 0;
    keys[nk++] = base->record_id;
    keys[nk++] = s_lab (b, "OBX-1", "p2", "2345-7", "2023-01-02", 5.4)->record_id;
    keys[nk++] = s_lab (b, "OBX-1", "p1", "2345-8", "2023-01-02", 5.4)->record_id;
    keys[nk++] = s_lab (b, "OBX-1", "p1", "2345-7", "2023-01-03", 5.4)->record_id;
    keys[nk++] = s_lab (b, "OBX-1", "p1", "2345-7", "2023-01-02T00:00", 5.4)->record_id;
    keys[nk++] = s_lab (b, "OBX-1", "p1", "2345-7", "2023-01-02", 5.40000001)->record_id;
    Hourglass__Record *r = s_lab (b, "OBX-1", "p1", "2345-7", "2023-01-02", 5.4);
    r->quantity->unit = hg_arena_strdup (a, "mmol/L");
    hg_record_set_content_key (a, r);
    keys[nk++] = r->record_id;
    r = s_lab (b, "OBX-1", "p1", "2345-7", "2023-01-02", 5.4);
    r->provenance->partner = hg_arena_strdup (a, "lab-b");
    hg_record_set_content_key (a, r);
    keys[nk++] = r->record_id;
    r = s_lab (b, "OBX-1", "p1", "2345-7", "2023-01-02", 5.4);
    r->kind = HOURGLASS__RECORD_KIND__KIND_CONDITION;
    hg_record_set_content_key (a, r);
    keys[nk++] = r->record_id;
    r = s_lab (b, "OBX-1", "p1", "2345-7", "2023-01-02", 5.4);
    r->codes[0]->system = hg_arena_strdup (a, HG_SYS_SNOMED);
    hg_record_set_content_key (a, r);
    keys[nk++] = r->record_id;
    /* the string "5.4" is not the quantity 5.4 */
    r = s_lab (b, "OBX-1", "p1", "2345-7", "2023-01-02", 5.4);
    r->value_case = HOURGLASS__RECORD__VALUE_STRING_VALUE;
    r->string_value = hg_arena_strdup (a, "5.4");
    hg_record_set_content_key (a, r);
    keys[nk++] = r->record_id;
    /* a second LOINC coding */
    r = s_lab (b, "OBX-1", "p1", "2345-7", "2023-01-02", 5.4);
    hg_record_add_code (a, r, HG_SYS_LOINC, "2339-0", NULL);
    hg_record_set_content_key (a, r);
    keys[nk++] = r->record_id;
    /* length-prefixed: code "ab"+"c" differs from "a"+"bc" */
    r = s_lab (b, "OBX-1", "p1", "ab", "2023-01-02", 5.4);
    r->codes[0]->system = hg_arena_strdup (a, "x");
    hg_record_set_content_key (a, r);
    keys[nk++] = r->record_id;
    r = s_lab (b, "OBX-1", "p1", "b", "2023-01-02", 5.4);
    r->codes[0]->system = hg_arena_strdup (a, "xa");
    hg_record_set_content_key (a, r);
    keys[nk++] = r->record_id;
    /* demographics count */
    r = s_lab (b, "OBX-1", "p1", "2345-7", "2023-01-02", 5.4);
    r->demographics = hg_demographics_new (a);
    r->demographics->sex = hg_arena_strdup (a, "female");
    hg_record_set_content_key (a, r);
    keys[nk++] = r->record_id;
    /* a bound is not the value */
    r = s_lab (b, "OBX-1", "p1", "2345-7", "2023-01-02", 5.4);
    r->quantity->comparator = hg_arena_strdup (a, "<");
    hg_record_set_content_key (a, r);
    keys[nk++] = r->record_id;

    for (size_t i = 0; i < nk; i++) {
        for (size_t j = i + 1; j < nk; j++) {
            if (strcmp (keys[i], keys[j]) == 0) {
                fail_msg ("variants %zu and %zu share the key %s", i, j, keys[i]);
            }
        }
    }
    assert_int_equal (nk, 16);
    hg_batch_destroy (&b);
}

/* Spellings of one fact that differ between HL7 v2 and FHIR give one key;
 * what is a different fact still gives another. */
static void
test_content_key_spellings (void **state)
{
    (void) state;
    hg_batch_t *b = hg_batch_new (0);
    hg_arena_t *a = hg_batch_arena (b);
    const char *base = s_lab (b, "OBX-1", "p1", "2345-7", "2023-01-02T10:30Z", 95.4)->record_id;
    /* a FHIR dateTime carries seconds; +00:00 is Z; an offset is the same
     * instant once in UTC */
    const char *same_times[] = {"2023-01-02T10:30:00Z", "2023-01-02T10:30:00.000Z",
                                "2023-01-02T10:30:00+00:00", "2023-01-02T05:30:00-05:00",
                                "2023-01-02T11:30+01:00"};
    for (size_t i = 0; i < sizeof (same_times) / sizeof (same_times[0]); i++) {
        const char *k =
            s_lab (b, "Observation/o", "p1", "2345-7", same_times[i], 95.4)->record_id;
        if (strcmp (k, base) != 0) {
            fail_msg ("effective '%s' should key as 2023-01-02T10:30Z", same_times[i]);
        }
    }
    /* other instants, other precision, or no zone (local time: instant
     * unknown) stay apart */
    const char *other_times[] = {"2023-01-02T10:30:01Z", "2023-01-02T10:30:00.5Z",
                                 "2023-01-02T10:30",     "2023-01-02T10:30:00",
                                 "2023-01-02",           "2023-01-02T10:31Z"};
    for (size_t i = 0; i < sizeof (other_times) / sizeof (other_times[0]); i++) {
        const char *k =
            s_lab (b, "Observation/o", "p1", "2345-7", other_times[i], 95.4)->record_id;
        if (strcmp (k, base) == 0) {
            fail_msg ("effective '%s' must not key as 2023-01-02T10:30Z", other_times[i]);
        }
    }
    /* 5.3 mmol/L converted to mg/dL is 95.39999999999999: the same value */
    double converted = 5.3 * 18.0;
    assert_true (converted != 95.4);
    assert_string_equal (s_lab (b, "OBX-1", "p1", "2345-7", "2023-01-02T10:30Z", converted)
                             ->record_id,
                         base);
    assert_string_not_equal (s_lab (b, "OBX-1", "p1", "2345-7", "2023-01-02T10:30Z", 95.41)
                                 ->record_id,
                             base);
    /* a local alias beside LOINC (HL7 "GLU^^L", FHIR a site URI), in any
     * order, repeated: the LOINC code is the fact */
    Hourglass__Record *r = s_lab (b, "OBX-1", "p1", "2345-7", "2023-01-02T10:30Z", 95.4);
    hg_record_add_code (a, r, "L", "GLU", "Glucose");
    hg_record_add_code (a, r, HG_SYS_LOINC, "2345-7", NULL);
    assert_int_equal (hg_record_set_content_key (a, r), 0);
    assert_string_equal (r->record_id, base);
    r = s_lab (b, "OBX-1", "p1", "2345-7", "2023-01-02T10:30Z", 95.4);
    r->codes[0]->system = hg_arena_strdup (a, "http://lab.example/codes");
    r->codes[0]->code = hg_arena_strdup (a, "GLU");
    hg_record_add_code (a, r, HG_SYS_LOINC, "2345-7", NULL);
    assert_int_equal (hg_record_set_content_key (a, r), 0);
    assert_string_equal (r->record_id, base);
    /* without LOINC every coding counts, in any order */
    Hourglass__Record *c1 = hg_batch_add_record (b, HOURGLASS__RECORD_KIND__KIND_CONDITION);
    c1->patient_ref = hg_arena_strdup (a, "p1");
    hg_record_add_code (a, c1, HG_SYS_SNOMED, "44054006", NULL);
    hg_record_add_code (a, c1, HG_SYS_ICD10CM, "E11.9", NULL);
    assert_int_equal (hg_record_set_content_key (a, c1), 0);
    Hourglass__Record *c2 = hg_batch_add_record (b, HOURGLASS__RECORD_KIND__KIND_CONDITION);
    c2->patient_ref = hg_arena_strdup (a, "p1");
    hg_record_add_code (a, c2, HG_SYS_ICD10CM, "E11.9", NULL);
    hg_record_add_code (a, c2, HG_SYS_SNOMED, "44054006", "Diabetes");
    assert_int_equal (hg_record_set_content_key (a, c2), 0);
    assert_string_equal (c1->record_id, c2->record_id);
    hg_record_add_code (a, c2, HG_SYS_SNOMED, "73211009", NULL);
    assert_int_equal (hg_record_set_content_key (a, c2), 0);
    assert_string_not_equal (c1->record_id, c2->record_id);
    /* a birth time (HL7 PID-7) against a FHIR birthDate */
    Hourglass__Record *d1 = hg_batch_add_record (b, HOURGLASS__RECORD_KIND__KIND_DEMOGRAPHICS);
    d1->patient_ref = hg_arena_strdup (a, "p1");
    d1->demographics = hg_demographics_new (a);
    d1->demographics->birth_date = hg_arena_strdup (a, "1970-02-01T12:30");
    d1->demographics->sex = hg_arena_strdup (a, "female");
    assert_int_equal (hg_record_set_content_key (a, d1), 0);
    char k1[40];
    snprintf (k1, sizeof (k1), "%s", d1->record_id);
    d1->demographics->birth_date = hg_arena_strdup (a, "1970-02-01");
    assert_int_equal (hg_record_set_content_key (a, d1), 0);
    assert_string_equal (d1->record_id, k1);
    d1->demographics->birth_date = hg_arena_strdup (a, "1970-02-02");
    assert_int_equal (hg_record_set_content_key (a, d1), 0);
    assert_string_not_equal (d1->record_id, k1);
    hg_batch_destroy (&b);
}

/* A note's text is part of its fact: two notes of one patient at one time
 * are two records; the same text broken into lines differently (HL7's CR,
 * FHIR's LF, trailing blanks) is one. */
static void
test_content_key_notes (void **state)
{
    (void) state;
    hg_batch_t *b = hg_batch_new (0);
    hg_arena_t *a = hg_batch_arena (b);
    const char *texts[] = {"Patient seen.\nBP stable.", "Patient seen.\r\nBP  stable. \n",
                           " Patient seen. BP stable.", "Patient seen.\nBP worse.", ""};
    char keys[5][40];
    for (size_t i = 0; i < 5; i++) {
        Hourglass__Record *r = s_lab (b, "MDM-1", "p1", "11506-3", "2023-01-02T10:30", 0);
        r->kind = HOURGLASS__RECORD_KIND__KIND_NOTE;
        r->value_case = HOURGLASS__RECORD__VALUE__NOT_SET;
        r->text = hg_arena_strdup (a, texts[i]);
        assert_int_equal (hg_record_set_content_key (a, r), 0);
        snprintf (keys[i], sizeof (keys[i]), "%s", r->record_id);
    }
    assert_string_equal (keys[0], keys[1]);
    assert_string_equal (keys[0], keys[2]);
    assert_string_not_equal (keys[0], keys[3]);
    assert_string_not_equal (keys[0], keys[4]);
    assert_string_not_equal (keys[3], keys[4]);
    hg_batch_destroy (&b);
}

static void
test_shard_of (void **state)
{
    (void) state;
    assert_int_equal (hg_shard_of ("00000007ffff", 4), 3);
    assert_int_equal (hg_shard_of ("00000008", 4), 0);
    assert_int_equal (hg_shard_of ("ffffffff00", 4), 3);
    assert_int_equal (hg_shard_of ("0000000a", 3), 1);
    assert_int_equal (hg_shard_of ("a", 4), 2); /* short: 0xa */
    assert_int_equal (hg_shard_of ("", 4), 0);
    assert_int_equal (hg_shard_of ("deadbeef", 1), 0);
    assert_int_equal (hg_shard_of ("deadbeef", 0), 0);
    /* only the first 8 hex digits count */
    assert_int_equal (hg_shard_of ("12345678", 7), hg_shard_of ("12345678abcdef", 7));
    assert_int_equal (hg_shard_of ("12345678", 7), 0x12345678 % 7);

    /* 10k pseudonyms as the de-identifier makes them (lowercase hex) */
    enum { N = 10000, SHARDS = 4 };
    int count[SHARDS] = {0};
    for (int i = 0; i < N; i++) {
        char in[32], hex[33];
        unsigned char h[16];
        int l = snprintf (in, sizeof (in), "patient-%d", i);
        crypto_generichash (h, sizeof (h), (const unsigned char *) in, (size_t) l, NULL, 0);
        sodium_bin2hex (hex, sizeof (hex), h, sizeof (h));
        int s = hg_shard_of (hex, SHARDS);
        char first8[9];
        memcpy (first8, hex, 8);
        first8[8] = '\0';
        assert_int_equal (s, (int) (strtoul (first8, NULL, 16) % SHARDS));
        assert_int_equal (hg_shard_of (hex, SHARDS), s); /* stable */
        assert_true (s >= 0 && s < SHARDS);
        count[s]++;
        int s16 = hg_shard_of (hex, 16);
        assert_true (s16 >= 0 && s16 < 16);
    }
    /* expected 2500 each; a binomial sd is ~43, so +-250 is ~6 sd */
    for (int s = 0; s < SHARDS; s++) {
        if (count[s] < 2250 || count[s] > 2750) {
            fail_msg ("shard %d got %d of %d", s, count[s], N);
        }
    }
    assert_int_equal (count[0] + count[1] + count[2] + count[3], N);
}

static void
test_kind_names (void **state)
{
    (void) state;
    struct {
        Hourglass__RecordKind k;
        const char *name;
    } kinds[] = {
        {HOURGLASS__RECORD_KIND__KIND_DEMOGRAPHICS, "demographics"},
        {HOURGLASS__RECORD_KIND__KIND_ENCOUNTER, "encounter"},
        {HOURGLASS__RECORD_KIND__KIND_CONDITION, "condition"},
        {HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION, "lab-observation"},
        {HOURGLASS__RECORD_KIND__KIND_MEDICATION, "medication"},
        {HOURGLASS__RECORD_KIND__KIND_PROCEDURE, "procedure"},
        {HOURGLASS__RECORD_KIND__KIND_IMAGING_STUDY, "imaging-study"},
        {HOURGLASS__RECORD_KIND__KIND_GENOMIC_VARIANT, "genomic-variant"},
        {HOURGLASS__RECORD_KIND__KIND_NOTE, "note"},
        {HOURGLASS__RECORD_KIND__KIND_UNKNOWN, "unknown"},
        {(Hourglass__RecordKind) 99, "unknown"},
    };
    for (size_t i = 0; i < sizeof (kinds) / sizeof (kinds[0]); i++) {
        assert_string_equal (hg_record_kind_name (kinds[i].k), kinds[i].name);
    }
    assert_true (hg_str_empty (NULL));
    assert_true (hg_str_empty (""));
    assert_true (hg_str_empty (protobuf_c_empty_string));
    assert_false (hg_str_empty ("x"));
}

static void
test_strset (void **state)
{
    (void) state;
    enum { N = 100000 };
    hg_strset_t *s = hg_strset_new ();
    assert_int_equal (hg_strset_size (s), 0);
    assert_false (hg_strset_has (s, "x", 1)); /* empty set, no table yet */
    char buf[32];
    for (int i = 0; i < N; i++) {
        int l = snprintf (buf, sizeof (buf), "key-%d", i);
        assert_int_equal (hg_strset_add (s, buf, (size_t) l), 1);
    }
    assert_int_equal (hg_strset_size (s), N);
    for (int i = 0; i < N; i++) {
        int l = snprintf (buf, sizeof (buf), "key-%d", i);
        assert_int_equal (hg_strset_add (s, buf, (size_t) l), 0);
        assert_true (hg_strset_has (s, buf, (size_t) l));
    }
    assert_int_equal (hg_strset_size (s), N);
    assert_false (hg_strset_has (s, "key-100000", 10));
    assert_false (hg_strset_has (s, "key-", 4));
    assert_false (hg_strset_has (s, "", 0));

    /* length matters, not NUL termination */
    assert_int_equal (hg_strset_add (s, "a\0b", 3), 1);
    assert_true (hg_strset_has (s, "a\0b", 3));
    assert_false (hg_strset_has (s, "a", 1));
    assert_int_equal (hg_strset_add (s, "a", 1), 1);
    assert_int_equal (hg_strset_add (s, "", 0), 1);
    assert_int_equal (hg_strset_add (s, "", 0), 0);
    assert_true (hg_strset_has (s, "", 0));
    assert_int_equal (hg_strset_size (s), N + 3);

    hg_strset_clear (s);
    assert_int_equal (hg_strset_size (s), 0);
    assert_false (hg_strset_has (s, "key-5", 5));
    assert_false (hg_strset_has (s, "", 0));
    assert_int_equal (hg_strset_add (s, "key-5", 5), 1);
    assert_int_equal (hg_strset_size (s), 1);
    hg_strset_destroy (&s);
    assert_null (s);
    hg_strset_destroy (&s);
}

static void
test_utf8 (void **state)
{
    (void) state;
    const unsigned char ascii[] = "a", e_acute[] = "\xc3\xa9", euro[] = "\xe2\x82\xac",
                        emoji[] = "\xf0\x9f\x98\x80";
    assert_int_equal (hg_utf8_len (ascii, 1), 1);
    assert_int_equal (hg_utf8_len (e_acute, 2), 2);
    assert_int_equal (hg_utf8_len (euro, 3), 3);
    assert_int_equal (hg_utf8_len (emoji, 4), 4);
    assert_int_equal (hg_utf8_len (euro, 2), 0);                               /* truncated */
    assert_int_equal (hg_utf8_len ((const unsigned char *) "\xc0\x80", 2), 0); /* overlong */
    assert_int_equal (hg_utf8_len ((const unsigned char *) "\xe0\x80\x80", 3), 0);
    assert_int_equal (hg_utf8_len ((const unsigned char *) "\xed\xa0\x80", 3), 0); /* surrogate */
    assert_int_equal (hg_utf8_len ((const unsigned char *) "\xf4\x90\x80\x80", 4), 0);
    assert_int_equal (hg_utf8_len ((const unsigned char *) "\x80", 1), 0); /* continuation */
    assert_int_equal (hg_utf8_len ((const unsigned char *) "\xc3\x28", 2), 0);
    assert_int_equal (hg_utf8_len (ascii, 0), 0);
    assert_true (hg_utf8_valid ((const unsigned char *) "caf\xc3\xa9 \xe2\x82\xac", 9));
    assert_false (hg_utf8_valid ((const unsigned char *) "caf\xe9", 4)); /* Latin-1 */
    assert_true (hg_utf8_valid (ascii, 0));
}

/* ---- hg_record_batch_next: the indexer's walk over a packed batch ---------- */

/* Walks batch; the number of records, or -1 when the walk fails. Each
 * record's bytes are checked to unpack. */
static int
s_walk (const uint8_t *batch, size_t len, const uint8_t **recs, size_t *lens, int max)
{
    size_t off = 0;
    int n = 0, rc;
    const uint8_t *r;
    size_t rl;
    while ((rc = hg_record_batch_next (batch, len, &off, &r, &rl)) == 1) {
        assert_true (r >= batch && r + rl <= batch + len);
        if (n < max) {
            recs[n] = r;
            lens[n] = rl;
        }
        n++;
    }
    return rc < 0 ? -1 : n;
}

static void
test_record_batch_walk (void **state)
{
    (void) state;
    hg_batch_t *b = hg_batch_new (0);
    hg_arena_t *a = hg_batch_arena (b);
    Hourglass__Record *recs[3];
    for (int i = 0; i < 3; i++) {
        recs[i] = hg_batch_add_record (b, HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION);
        assert_non_null (recs[i]);
        recs[i]->patient_ref = hg_arena_strdup (a, i == 1 ? "p-1" : "patient-zero");
        recs[i]->effective = hg_arena_strdup (a, "2024-05-01T10:00:00Z");
        assert_int_equal (hg_record_add_code (a, recs[i], "http://loinc.org", "2345-7",
                                              "Glucose"),
                          0);
    }
    recs[2]->text = hg_arena_strdup (a, "a longer note so that one record is longer "
                                        "than 127 bytes, which takes a 2-byte length "
                                        "prefix in the batch: xxxxxxxxxxxxxxxxxxxxxxx");
    Hourglass__RecordBatch rb = HOURGLASS__RECORD_BATCH__INIT;
    rb.records = recs;
    rb.n_records = 3;
    size_t len = hourglass__record_batch__get_packed_size (&rb);
    /* room for unknown fields after it */
    uint8_t *buf = malloc (len + 32);
    hourglass__record_batch__pack (&rb, buf);

    const uint8_t *got[4];
    size_t got_len[4];
    assert_int_equal (s_walk (buf, len, got, got_len, 4), 3);
    for (int i = 0; i < 3; i++) {
        /* each slice is the record's own packed form */
        size_t rl = hourglass__record__get_packed_size (recs[i]);
        uint8_t *own = malloc (rl);
        hourglass__record__pack (recs[i], own);
        assert_int_equal (got_len[i], rl);
        assert_memory_equal (got[i], own, rl);
        free (own);
    }
    assert_true (got_len[2] > 127);

    /* unknown fields of every wire type are skipped */
    static const uint8_t unknown[] = {
        0x10, 0x96, 0x01,                     /* field 2, varint 150 */
        0x19, 1,    2,    3,   4, 5, 6, 7, 8, /* field 3, 64-bit */
        0x22, 0x02, 'h',  'i',                /* field 4, "hi" */
        0x2d, 1,    2,    3,   4,             /* field 5, 32-bit */
    };
    memcpy (buf + len, unknown, sizeof (unknown));
    assert_int_equal (s_walk (buf, len + sizeof (unknown), got, got_len, 4), 3);

    /* empty batch: no records */
    assert_int_equal (s_walk (buf, 0, got, got_len, 4), 0);

    /* every truncation: the records before the cut, then the end exactly at
     * a record boundary, else an error; never a record past the cut */
    size_t bounds[3];
    for (int i = 0; i < 3; i++) {
        bounds[i] = (size_t) (got[i] - buf) + got_len[i];
    }
    for (size_t cut = 1; cut < len; cut++) {
        int n = s_walk (buf, cut, got, got_len, 4);
        int whole = 0;
        while (whole < 3 && bounds[whole] <= cut) {
            whole++;
        }
        bool at_bound = whole > 0 && bounds[whole - 1] == cut;
        assert_int_equal (n, at_bound ? whole : -1);
    }

    /* field 0 (an overlong tag 0x81 0x00 too) is skipped as protobuf-c
     * skips it: found by fuzz_record_batch */
    static const uint8_t field0[] = {0x02, 0x00, 0x81, 0x00, 1, 2, 3, 4, 5, 6, 7, 8};
    assert_int_equal (s_walk (field0, sizeof (field0), got, got_len, 4), 0);

    /* malformed: records with another wire type, a group, a varint of 11
     * bytes, a length past the end */
    static const uint8_t bad[][12] = {
        {0x08, 0x01},
        {0x0b, 0x0c},
        {0x10, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01},
        {0x0a, 0x05, 'a'},
    };
    static const size_t bad_len[] = {2, 2, 12, 3};
    for (size_t i = 0; i < sizeof (bad_len) / sizeof (bad_len[0]); i++) {
        assert_int_equal (s_walk (bad[i], bad_len[i], got, got_len, 4), -1);
    }

    /* agrees with protobuf-c on mutated batches: whatever protobuf-c
     * unpacks, the walk finds the same records, byte for byte */
    uint32_t seed = 12345;
    for (int m = 0; m < 20000; m++) {
        uint8_t *mut = malloc (len);
        memcpy (mut, buf, len);
        for (int k = 0; k < 1 + m % 3; k++) {
            seed = seed * 1103515245u + 12345u;
            mut[(seed >> 8) % len] = (uint8_t) (seed >> 20);
        }
        Hourglass__RecordBatch *u = hourglass__record_batch__unpack (NULL, len, mut);
        if (u) {
            const uint8_t *w[64];
            size_t wl[64];
            int n = s_walk (mut, len, w, wl, 64);
            assert_int_equal (n, (int) u->n_records);
            for (size_t r = 0; r < u->n_records && r < 64; r++) {
                Hourglass__Record *one = hourglass__record__unpack (NULL, wl[r], w[r]);
                assert_non_null (one);
                assert_string_equal (one->patient_ref, u->records[r]->patient_ref);
                assert_string_equal (one->effective, u->records[r]->effective);
                hourglass__record__free_unpacked (one, NULL);
            }
            hourglass__record_batch__free_unpacked (u, NULL);
        }
        free (mut);
    }
    free (buf);
    hg_batch_destroy (&b);
}

HG_TEST_MAIN (cmocka_unit_test (test_utf8), cmocka_unit_test (test_batch_records),
              cmocka_unit_test (test_batch_rejects_and_ignores),
              cmocka_unit_test (test_arena_limit), cmocka_unit_test (test_content_key),
              cmocka_unit_test (test_content_key_spellings),
              cmocka_unit_test (test_content_key_notes), cmocka_unit_test (test_shard_of),
              cmocka_unit_test (test_kind_names), cmocka_unit_test (test_strset),
              cmocka_unit_test (test_record_batch_walk))
