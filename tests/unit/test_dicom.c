/*
 * test_dicom.c -- DICOM header parser: Part 10 files built here (explicit
 * and implicit VR little endian) and the DICOM JSON model mapped with exact
 * values, hostile input (truncation, lengths past the end, undefined
 * lengths, deep sequences, oversized elements), and (when ../shared/data
 * is present) the pydicom test files.
 */
#include "unit_test.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cleanse.h"
#include "content_key.h"
#include "dicom.h"
#include "record.h"
#include "parser_test.h"

#define TS_EXPLICIT "1.2.840.10008.1.2.1"
#define TS_IMPLICIT "1.2.840.10008.1.2"

/* ------------------------------------------------------------------------
 * A small DICOM writer */

typedef struct {
    uint8_t *d;
    size_t n, cap;
    bool explicit_vr;
} s_buf_t;

static void
s_bytes (s_buf_t *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->n + n) {
            cap *= 2;
        }
        b->d = realloc (b->d, cap);
        assert_non_null (b->d);
        b->cap = cap;
    }
    memcpy (b->d + b->n, p, n);
    b->n += n;
}

static void
s_u16 (s_buf_t *b, uint16_t v)
{
    uint8_t x[2] = {(uint8_t) v, (uint8_t) (v >> 8)};
    s_bytes (b, x, 2);
}

static void
s_u32 (s_buf_t *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t) v, (uint8_t) (v >> 8), (uint8_t) (v >> 16), (uint8_t) (v >> 24)};
    s_bytes (b, x, 4);
}

static bool
s_long_vr (const char *vr)
{
    return strstr ("OB OD OF OL OV OW SQ SV UC UN UR UT UV", vr) != NULL;
}

/* An element header with the given length (value written separately). */
static void
s_head (s_buf_t *b, uint16_t g, uint16_t e, const char *vr, uint32_t len)
{
    s_u16 (b, g);
    s_u16 (b, e);
    if (!b->explicit_vr || g == 0xFFFE) {
        s_u32 (b, len);
        return;
    }
    s_bytes (b, vr, 2);
    if (s_long_vr (vr)) {
        s_u16 (b, 0);
        s_u32 (b, len);
    }
    else {
        s_u16 (b, (uint16_t) len);
    }
}

/* A string element padded to even length (UI with NUL, others space). */
static void
s_str (s_buf_t *b, uint16_t g, uint16_t e, const char *vr, const char *s)
{
    size_t n = strlen (s);
    s_head (b, g, e, vr, (uint32_t) (n + (n & 1)));
    s_bytes (b, s, n);
    if (n & 1) {
        s_bytes (b, strcmp (vr, "UI") == 0 ? "\0" : " ", 1);
    }
}

static void
s_part10 (s_buf_t *b, const char *ts, const char *sop_class)
{
    uint8_t pre[128] = {0};
    s_bytes (b, pre, sizeof (pre));
    s_bytes (b, "DICM", 4);
    bool explicit_vr = b->explicit_vr;
    b->explicit_vr = true; /* the meta group is always explicit VR LE */
    s_head (b, 0x0002, 0x0001, "OB", 2);
    s_bytes (b, "\0\1", 2);
    s_str (b, 0x0002, 0x0002, "UI", sop_class);
    s_str (b, 0x0002, 0x0003, "UI", "1.2.3.4.5");
    s_str (b, 0x0002, 0x0010, "UI", ts);
    b->explicit_vr = explicit_vr;
}

/* Nested undefined-length sequences, depth levels deep. */
static void
s_nested (s_buf_t *b, int depth)
{
    s_head (b, 0x0008, 0x1115, "SQ", 0xFFFFFFFF);
    s_head (b, 0xFFFE, 0xE000, "", 0xFFFFFFFF);
    s_str (b, 0x0008, 0x1150, "UI", "1.2.840.10008.5.1.4.1.1.2");
    if (depth > 1) {
        s_nested (b, depth - 1);
    }
    s_head (b, 0xFFFE, 0xE00D, "", 0);
    s_head (b, 0xFFFE, 0xE0DD, "", 0);
}

/* A CT study; PatientName in Latin-1 (ISO_IR 100). */
static void
s_study (s_buf_t *b, const char *ts)
{
    b->explicit_vr = strcmp (ts, TS_IMPLICIT) != 0;
    s_part10 (b, ts, "1.2.840.10008.5.1.4.1.1.2");
    s_str (b, 0x0008, 0x0005, "CS", "ISO_IR 100");
    s_str (b, 0x0008, 0x0018, "UI", "1.2.3.4.5");
    s_str (b, 0x0008, 0x0020, "DA", "20240131");
    s_str (b, 0x0008, 0x0030, "TM", "101530.123456");
    s_str (b, 0x0008, 0x0050, "SH", "ACC123");
    s_str (b, 0x0008, 0x0060, "CS", "CT");
    s_str (b, 0x0008, 0x1030, "LO", "Chest CT");
    /* an undefined-length sequence, with a defined-length item inside and
     * a nested undefined-length sequence */
    s_nested (b, 3);
    s_head (b, 0x0008, 0x1140, "SQ", 0xFFFFFFFF);
    s_head (b, 0xFFFE, 0xE000, "", 20);
    s_str (b, 0x0010, 0x0020, "LO", "NOT-THIS-ONE"); /* inside an item: ignored */
    s_head (b, 0xFFFE, 0xE0DD, "", 0);
    /* a defined-length sequence */
    s_head (b, 0x0008, 0x1110, "SQ", 28);
    s_head (b, 0xFFFE, 0xE000, "", 20);
    s_str (b, 0x0010, 0x0010, "PN", "Nobody^Else");
    s_str (b, 0x0010, 0x0010, "PN", "M\xFCller^Hans^Peter");
    s_str (b, 0x0010, 0x0020, "LO", "PAT-1");
    s_str (b, 0x0010, 0x0030, "DA", "19800229");
    s_str (b, 0x0010, 0x0040, "CS", "M");
    s_str (b, 0x0018, 0x0015, "CS", "CHEST");
    s_str (b, 0x0020, 0x000D, "UI", "1.2.3.4");
    s_str (b, 0x0028, 0x0010, "US", "\x10");
    /* pixel data whose declared length runs past the end: never read */
    s_head (b, 0x7FE0, 0x0010, "OW", 0x00100000);
    s_bytes (b, "\x01\x02\x03\x04", 4);
}

static hg_batch_t *
s_parse_lim (const void *data, size_t len, size_t max_field, size_t max_records, int *rc)
{
    return hg_test_parse (hg_dicom_parse, data, len, max_field, max_records, rc);
}

static hg_batch_t *
s_parse (const void *data, size_t len, int *rc)
{
    return s_parse_lim (data, len, 1 << 20, 0, rc);
}

static void
s_check_study (const Hourglass__Record *r)
{
    assert_int_equal (r->kind, HOURGLASS__RECORD_KIND__KIND_IMAGING_STUDY);
    assert_string_equal (r->patient_ref, "PAT-1");
    assert_string_equal (r->effective, "2024-01-31T10:15:30.1234");
    assert_string_equal (r->text, "Chest CT");
    assert_string_equal (r->record_id, "");
    assert_non_null (r->demographics);
    assert_string_equal (r->demographics->family, "M\xC3\xBCller");
    assert_int_equal (r->demographics->n_given, 2);
    assert_string_equal (r->demographics->given[0], "Hans");
    assert_string_equal (r->demographics->given[1], "Peter");
    assert_string_equal (r->demographics->birth_date, "1980-02-29");
    assert_string_equal (r->demographics->sex, "male");
    assert_int_equal (r->n_identifiers, 2);
    assert_string_equal (r->identifiers[0]->value, "ACC123");
    assert_string_equal (r->identifiers[0]->type, "ACSN");
    assert_string_equal (r->identifiers[0]->system, "");
    assert_string_equal (r->identifiers[1]->system, "urn:dicom:uid");
    assert_string_equal (r->identifiers[1]->value, "urn:oid:1.2.3.4");
    assert_int_equal (r->n_codes, 2);
    assert_string_equal (r->codes[0]->system, "http://dicom.nema.org/resources/ontology/DCM");
    assert_string_equal (r->codes[0]->code, "CT");
    assert_string_equal (r->codes[0]->display, "Computed Tomography");
    assert_string_equal (r->codes[1]->system, "http://dicom.nema.org/medical/dicom/current/"
                                              "output/chtml/part16/chapter_L.html");
    assert_string_equal (r->codes[1]->code, "CHEST");
    assert_string_equal (r->provenance->source_format, "dicom");
    assert_string_equal (r->provenance->source_record_id, "1.2.3.4.5");
}

static void
test_explicit_le (void **state)
{
    s_buf_t b = {0};
    s_study (&b, TS_EXPLICIT);
    int rc;
    hg_batch_t *batch = s_parse (b.d, b.n, &rc);
    hg_test_reject_at (batch, "none", NULL);
    assert_int_equal (rc, 1);
    assert_int_equal (hg_batch_reject_count (batch), 0);
    s_check_study (hg_batch_records (batch)[0]);
    hg_batch_destroy (&batch);

    /* every truncation of the header: a record or a reject, never a crash */
    size_t pixel_at = b.n - 16;
    for (size_t cut = 0; cut < pixel_at; cut++) {
        batch = s_parse (b.d, cut, &rc);
        assert_true (rc == 0 || rc == 1);
        if (rc == 0) {
            assert_true (hg_batch_reject_count (batch) >= 1);
        }
        hg_batch_destroy (&batch);
    }
    batch = s_parse (b.d, 210, &rc);
    assert_int_equal (rc, 0);
    assert_non_null (hg_test_reject_at (batch, "file",
                                        "file: truncated: element (0002,0010) at "
                                        "offset 198 declares 20 bytes but only 4 remain"));
    hg_batch_destroy (&batch);
    free (b.d);
}

static void
test_implicit_le (void **state)
{
    s_buf_t b = {0};
    s_study (&b, TS_IMPLICIT);
    int rc;
    hg_batch_t *batch = s_parse (b.d, b.n, &rc);
    hg_test_reject_at (batch, "none", NULL);
    assert_int_equal (rc, 1);
    s_check_study (hg_batch_records (batch)[0]);
    hg_batch_destroy (&batch);
    free (b.d);

    /* a bare data set (no preamble, no meta group), implicit VR */
    b = (s_buf_t) {0};
    b.explicit_vr = false;
    s_str (&b, 0x0008, 0x0060, "CS", "MR");
    s_str (&b, 0x0010, 0x0020, "LO", "P2");
    s_str (&b, 0x0010, 0x0040, "CS", "F");
    batch = s_parse (b.d, b.n, &rc);
    assert_int_equal (rc, 1);
    Hourglass__Record *r = hg_batch_records (batch)[0];
    assert_string_equal (r->patient_ref, "P2");
    assert_string_equal (r->codes[0]->code, "MR");
    assert_string_equal (r->demographics->sex, "female");
    assert_string_equal (r->demographics->family, "");
    assert_string_equal (r->effective, "");
    assert_string_equal (r->provenance->source_record_id, "dataset 1");
    hg_batch_destroy (&batch);
    free (b.d);
}

static void
test_hostile_lengths (void **state)
{
    (void) state;
    int rc;
    hg_batch_t *batch;
    s_buf_t b;

    /* a length pointing past the end */
    b = (s_buf_t) {.explicit_vr = true};
    s_part10 (&b, TS_EXPLICIT, "1.2.840.10008.5.1.4.1.1.2");
    s_str (&b, 0x0010, 0x0020, "LO", "P1");
    size_t at = b.n;
    s_head (&b, 0x0010, 0x0010, "PN", 0xFFFF);
    s_bytes (&b, "Doe^J", 5);
    batch = s_parse (b.d, b.n, &rc);
    assert_int_equal (rc, 0);
    char want[200];
    snprintf (want, sizeof (want),
              "file: truncated: element (0010,0010) at offset %zu declares "
              "65535 bytes but only 5 remain",
              at);
    assert_non_null (hg_test_reject_at (batch, "file", want));
    hg_batch_destroy (&batch);
    free (b.d);

    /* 0xFFFFFFFF on an element that is no sequence (explicit OB, implicit LO) */
    for (int explicit_vr = 0; explicit_vr < 2; explicit_vr++) {
        b = (s_buf_t) {.explicit_vr = explicit_vr};
        s_part10 (&b, explicit_vr ? TS_EXPLICIT : TS_IMPLICIT, "1.2.840.10008.5.1.4.1.1.2");
        s_str (&b, 0x0008, 0x0060, "CS", "CT");
        s_head (&b, 0x0010, 0x0020, explicit_vr ? "OB" : "LO", 0xFFFFFFFF);
        s_bytes (&b, "PAT-ID-AS-GARBAGE", 17);
        batch = s_parse (b.d, b.n, &rc);
        assert_int_equal (rc, 0);
        assert_non_null (
            hg_test_reject_at (batch, "file", "expected an item (FFFE,E000) but found"));
        hg_batch_destroy (&batch);
        /* and when the data ends right after it */
        batch = s_parse (b.d, b.n - 17, &rc);
        assert_int_equal (rc, 0);
        assert_non_null (hg_test_reject_at (batch, "file", "truncated"));
        hg_batch_destroy (&batch);
        free (b.d);
    }

    /* nested undefined-length sequences: 10 levels are fine, 40 are not */
    int depths[] = {10, 40};
    for (int i = 0; i < 2; i++) {
        b = (s_buf_t) {.explicit_vr = true};
        s_part10 (&b, TS_EXPLICIT, "1.2.840.10008.5.1.4.1.1.2");
        s_nested (&b, depths[i]);
        s_str (&b, 0x0010, 0x0020, "LO", "P1");
        batch = s_parse (b.d, b.n, &rc);
        assert_int_equal (rc, i == 0 ? 1 : 0);
        if (i == 1) {
            assert_non_null (hg_test_reject_at (batch, "file",
                                                "sequences nested deeper than 16 "
                                                "levels"));
        }
        hg_batch_destroy (&batch);
        /* truncated inside the nesting */
        batch = s_parse (b.d, b.n / 2, &rc);
        assert_int_equal (rc, 0);
        assert_int_equal (hg_batch_reject_count (batch), 1);
        hg_batch_destroy (&batch);
        free (b.d);
    }
}

static void
test_hostile_big_elements (void **state)
{
    (void) state;
    int rc;
    hg_batch_t *batch;
    s_buf_t b;

    /* a 2 MB element, max_field_bytes 1 MiB: a wanted one (implicit
     * PatientName) rejects, an unwanted one (private OB) is skipped */
    size_t big = 2u << 20;
    char *blob = malloc (big);
    assert_non_null (blob);
    memset (blob, 'A', big);
    b = (s_buf_t) {.explicit_vr = false};
    s_part10 (&b, TS_IMPLICIT, "1.2.840.10008.5.1.4.1.1.2");
    s_head (&b, 0x0010, 0x0010, "PN", (uint32_t) big);
    s_bytes (&b, blob, big);
    s_str (&b, 0x0010, 0x0020, "LO", "P1");
    batch = s_parse_lim (b.d, b.n, 1u << 20, 0, &rc);
    assert_int_equal (rc, 0);
    assert_non_null (hg_test_reject_at (batch, "file",
                                        "file: PatientName (0010,0010) is 2097152 bytes, "
                                        "over the limit of 1048576 bytes (max_field_bytes)"));
    hg_batch_destroy (&batch);
    free (b.d);
    b = (s_buf_t) {.explicit_vr = true};
    s_part10 (&b, TS_EXPLICIT, "1.2.840.10008.5.1.4.1.1.2");
    s_head (&b, 0x0009, 0x1001, "OB", (uint32_t) big);
    s_bytes (&b, blob, big);
    s_str (&b, 0x0010, 0x0020, "LO", "P1");
    batch = s_parse_lim (b.d, b.n, 1u << 20, 0, &rc);
    assert_int_equal (rc, 1);
    assert_string_equal (hg_batch_records (batch)[0]->patient_ref, "P1");
    hg_batch_destroy (&batch);
    free (b.d);
    free (blob);
}

static void
test_hostile_values (void **state)
{
    (void) state;
    int rc;
    hg_batch_t *batch;
    s_buf_t b;

    /* an unknown VR, a stray item tag, missing PatientID, bad dates */
    b = (s_buf_t) {.explicit_vr = true};
    s_part10 (&b, TS_EXPLICIT, "1.2.840.10008.5.1.4.1.1.2");
    s_str (&b, 0x0008, 0x0060, "ZZ", "CT");
    batch = s_parse (b.d, b.n, &rc);
    assert_non_null (hg_test_reject_at (batch, "file",
                                        "element (0008,0060) at offset 226 has an "
                                        "unknown VR 'ZZ'"));
    hg_batch_destroy (&batch);
    free (b.d);

    b = (s_buf_t) {.explicit_vr = true};
    s_part10 (&b, TS_EXPLICIT, "1.2.840.10008.5.1.4.1.1.2");
    s_head (&b, 0xFFFE, 0xE0DD, "", 0);
    batch = s_parse (b.d, b.n, &rc);
    assert_non_null (hg_test_reject_at (batch, "file", "unexpected item tag (FFFE,E0DD)"));
    hg_batch_destroy (&batch);
    free (b.d);

    b = (s_buf_t) {.explicit_vr = true};
    s_part10 (&b, TS_EXPLICIT, "1.2.840.10008.5.1.4.1.1.2");
    s_str (&b, 0x0008, 0x0060, "CS", "CT");
    s_str (&b, 0x0010, 0x0020, "LO", "   ");
    batch = s_parse (b.d, b.n, &rc);
    assert_int_equal (rc, 0);
    assert_non_null (hg_test_reject_at (batch, "file",
                                        "file: PatientID (0010,0020) is missing or "
                                        "empty; the study cannot be linked to a patient"));
    hg_batch_destroy (&batch);
    free (b.d);

    b = (s_buf_t) {.explicit_vr = true};
    s_part10 (&b, TS_EXPLICIT, "1.2.840.10008.5.1.4.1.1.2");
    s_str (&b, 0x0008, 0x0020, "DA", "20241301");
    s_str (&b, 0x0010, 0x0020, "LO", "P1");
    batch = s_parse (b.d, b.n, &rc);
    assert_int_equal (rc, 0);
    assert_non_null (hg_test_reject_at (batch, "file",
                                        "StudyDate/StudyTime '20241301' is not a "
                                        "valid DICOM date/time"));
    hg_batch_destroy (&batch);
    free (b.d);
}

static void
test_hostile_not_dataset (void **state)
{
    (void) state;
    int rc;
    hg_batch_t *batch;
    s_buf_t b;

    /* a deflated data set, a DICOMDIR, not DICOM at all */
    b = (s_buf_t) {.explicit_vr = true};
    s_part10 (&b, "1.2.840.10008.1.2.1.99", "1.2.840.10008.5.1.4.1.1.2");
    s_bytes (&b, "\x78\x9c\x01\x02", 4);
    batch = s_parse (b.d, b.n, &rc);
    assert_non_null (
        hg_test_reject_at (batch, "file", "deflated transfer syntax is not supported"));
    hg_batch_destroy (&batch);
    free (b.d);

    b = (s_buf_t) {.explicit_vr = true};
    s_part10 (&b, TS_EXPLICIT, "1.2.840.10008.1.3.10");
    s_str (&b, 0x0004, 0x1130, "CS", "FILESET");
    batch = s_parse (b.d, b.n, &rc);
    assert_int_equal (rc, 0);
    assert_int_equal (hg_batch_reject_count (batch), 0);
    assert_int_equal (hg_batch_ignored (batch), 1);
    hg_batch_destroy (&batch);
    free (b.d);

    batch = s_parse ("hello, world", 12, &rc);
    assert_int_equal (rc, 0);
    assert_non_null (
        hg_test_reject_at (batch, "payload", "not DICOM: no \"DICM\" marker at byte 128"));
    hg_batch_destroy (&batch);
    batch = s_parse (NULL, 0, &rc);
    assert_non_null (hg_test_reject_at (batch, "payload", "empty payload"));
    hg_batch_destroy (&batch);
}

static void
test_json_model (void **state)
{
    const char *one =
        "{\"00080020\": {\"vr\": \"DA\", \"Value\": [\"20231105\"]},"
        " \"00080030\": {\"vr\": \"TM\", \"Value\": [\"0930\"]},"
        " \"00080050\": {\"vr\": \"SH\", \"Value\": [\"A-77\"]},"
        " \"00080060\": {\"vr\": \"CS\", \"Value\": [\"MR\"]},"
        " \"0020000D\": {\"vr\": \"UI\", \"Value\": [\"2.25.1\"]},"
        " \"00100010\": {\"vr\": \"PN\", \"Value\": [{\"Alphabetic\": \"Doe^Jane\","
        "                \"Ideographic\": \"X\"}]},"
        " \"00100020\": {\"vr\": \"LO\", \"Value\": [\"J-1\"]},"
        " \"00100030\": {\"vr\": \"DA\", \"Value\": [\"1975\"]},"
        " \"00100040\": {\"vr\": \"CS\", \"Value\": [\"F\"]},"
        " \"00081030\": {\"vr\": \"LO\"},"
        " \"7FE00010\": {\"vr\": \"OW\", \"BulkDataURI\": \"http://x/1\"},"
        " \"00081115\": {\"vr\": \"SQ\", \"Value\": [{\"00100020\": {\"vr\": \"LO\", "
        "\"Value\": [\"NOT-THIS\"]}}]}}";
    int rc;
    hg_batch_t *batch = s_parse (one, strlen (one), &rc);
    hg_test_reject_at (batch, "none", NULL);
    assert_int_equal (rc, 1);
    Hourglass__Record *r = hg_batch_records (batch)[0];
    assert_int_equal (r->kind, HOURGLASS__RECORD_KIND__KIND_IMAGING_STUDY);
    assert_string_equal (r->patient_ref, "J-1");
    assert_string_equal (r->effective, "2023-11-05T09:30");
    assert_string_equal (r->demographics->family, "Doe");
    assert_int_equal (r->demographics->n_given, 1);
    assert_string_equal (r->demographics->given[0], "Jane");
    assert_string_equal (r->demographics->birth_date, "1975");
    assert_string_equal (r->demographics->sex, "female");
    assert_string_equal (r->identifiers[0]->value, "A-77");
    assert_string_equal (r->identifiers[1]->value, "urn:oid:2.25.1");
    assert_int_equal (r->n_codes, 1);
    assert_string_equal (r->codes[0]->code, "MR");
    assert_string_equal (r->codes[0]->display, "Magnetic Resonance");
    assert_string_equal (r->text, "");
    assert_string_equal (r->provenance->source_record_id, "2.25.1");
    hg_batch_destroy (&batch);

    /* an array: one data set per element, bad ones rejected alone */
    const char *arr =
        "[{\"00100020\": {\"vr\": \"LO\", \"Value\": [\"A\"]}, \"00080060\": {\"vr\": \"CS\","
        " \"Value\": [\"US\"]}},"
        " {\"00080060\": {\"vr\": \"CS\", \"Value\": [\"CT\"]}},"
        " {\"PatientID\": {\"vr\": \"LO\", \"Value\": [\"B\"]}},"
        " {\"00100020\": {\"vr\": \"LO\", \"Value\": [[\"nested\"]]}},"
        " 42,"
        " {\"00100020\": {\"vr\": \"LO\", \"Value\": [\"C\"]}}]";
    batch = s_parse (arr, strlen (arr), &rc);
    assert_int_equal (rc, 2);
    assert_string_equal (hg_batch_records (batch)[0]->patient_ref, "A");
    assert_string_equal (hg_batch_records (batch)[0]->provenance->source_record_id, "dataset 1");
    assert_string_equal (hg_batch_records (batch)[1]->patient_ref, "C");
    assert_int_equal (hg_batch_reject_count (batch), 4);
    assert_non_null (hg_test_reject_at (batch, "dataset 2", "PatientID (0010,0020) is missing"));
    assert_non_null (hg_test_reject_at (batch, "dataset 3",
                                        "dataset 3: key 'PatientID' is not a "
                                        "DICOM tag (8 hex digits"));
    assert_non_null (hg_test_reject_at (batch, "dataset 4",
                                        "PatientID Value[0] is a JSON array, "
                                        "expected a string"));
    assert_non_null (hg_test_reject_at (batch, "dataset 5", "the JSON value is a int"));
    hg_batch_destroy (&batch);

    /* max_records */
    batch = s_parse_lim (arr, strlen (arr), 0, 1, &rc);
    assert_int_equal (rc, 1);
    assert_non_null (
        hg_test_reject_at (batch, "dataset 6", "record limit reached (max_records 1)"));
    hg_batch_destroy (&batch);

    /* invalid and truncated JSON */
    batch = s_parse ("{\"00100020\": ", 13, &rc);
    assert_int_equal (rc, 0);
    assert_non_null (
        hg_test_reject_at (batch, "payload", "invalid JSON: unexpected end of data"));
    hg_batch_destroy (&batch);
    batch = s_parse ("[{]", 3, &rc);
    assert_non_null (hg_test_reject_at (batch, "payload", "invalid JSON"));
    hg_batch_destroy (&batch);
}

/* ------------------------------------------------------------------------
 * Real samples: pydicom's test files */

static hg_batch_t *
s_parse_file (const char *dir, const char *name, int *rc)
{
    char path[2048];
    snprintf (path, sizeof (path), "%s/%s", dir, name);
    size_t len = 0;
    char *buf = hg_test_slurp (path, &len);
    assert_non_null (buf);
    hg_batch_t *b = s_parse_lim (buf, len, 1 << 20, 10000, rc);
    free (buf);
    return b;
}

static void
test_shared_pydicom (void **state)
{
#ifdef HG_SHARED_DATA
    char dir[1024];
    struct stat st;
    snprintf (dir, sizeof (dir), "%s/dicom_pydicom_testfiles", HG_SHARED_DATA);
    if (stat (dir, &st) != 0) {
        print_message ("skipping: %s not present\n", dir);
        skip ();
    }
    DIR *d = opendir (dir);
    assert_non_null (d);
    struct dirent *e;
    size_t files = 0, records = 0, no_patient = 0;
    while ((e = readdir (d))) {
        size_t nl = strlen (e->d_name);
        bool dcm = nl > 4 && strcmp (e->d_name + nl - 4, ".dcm") == 0;
        bool json = strncmp (e->d_name, "test", 4) == 0 && nl > 5
                    && strcmp (e->d_name + nl - 5, ".json") == 0;
        if (!dcm && !json) {
            continue;
        }
        int rc;
        hg_batch_t *b = s_parse_file (dir, e->d_name, &rc);
        assert_true (rc >= 0);
        files++;
        records += (size_t) rc;
        const hg_reject_t *r = hg_batch_rejects (b);
        for (size_t i = 0; i < hg_batch_reject_count (b); i++) {
            if (strstr (r[i].reason, "PatientID")) {
                no_patient++;
                continue;
            }
            print_message ("%s: [%s] %s\n", e->d_name, r[i].location, r[i].reason);
            /* only the deliberately broken or unsupported files */
            assert_true (strstr (e->d_name, "truncated") || strstr (e->d_name, "dfl")
                         || strcmp (e->d_name, "no_meta.dcm") == 0);
        }
        hg_batch_destroy (&b);
    }
    closedir (d);
    print_message ("pydicom: %zu files, %zu records, %zu without a PatientID\n", files, records,
                   no_patient);
    assert_true (files >= 70);
    assert_true (records >= 50);

    /* exact values of known files, in every encoding */
    int rc;
    hg_batch_t *b = s_parse_file (dir, "CT_small.dcm", &rc);
    assert_int_equal (rc, 1);
    Hourglass__Record *r = hg_batch_records (b)[0];
    assert_string_equal (r->patient_ref, "1CT1");
    assert_string_equal (r->codes[0]->code, "CT");
    assert_string_equal (r->effective, "2004-01-19T07:27:30");
    assert_string_equal (r->demographics->family, "CompressedSamples");
    assert_string_equal (r->demographics->given[0], "CT1");
    hg_batch_destroy (&b);
    const char *mr[] = {"MR_small.dcm",      "MR_small_implicit.dcm", "MR_small_bigendian.dcm",
                        "MR_small_expb.dcm", "MR_small_RLE.dcm",      "MR_truncated.dcm"};
    for (size_t i = 0; i < sizeof (mr) / sizeof (mr[0]); i++) {
        b = s_parse_file (dir, mr[i], &rc);
        assert_int_equal (rc, 1);
        r = hg_batch_records (b)[0];
        assert_string_equal (r->patient_ref, "4MR1");
        assert_string_equal (r->codes[0]->code, "MR");
        assert_string_equal (r->effective, "2004-08-26T18:50:59");
        assert_string_equal (r->demographics->sex, "female");
        hg_batch_destroy (&b);
    }
    b = s_parse_file (dir, "rtplan_truncated.dcm", &rc);
    assert_int_equal (rc, 0);
    assert_non_null (hg_test_reject_at (b, "file", "truncated"));
    hg_batch_destroy (&b);
    b = s_parse_file (dir, "test1.json", &rc);
    assert_int_equal (rc, 1);
    assert_string_equal (hg_batch_records (b)[0]->patient_ref, "NOID");
    assert_string_equal (hg_batch_records (b)[0]->effective, "2014-12-10T13:07:27");
    hg_batch_destroy (&b);
    b = s_parse_file (dir, "dicomdirtests/DICOMDIR", &rc);
    assert_int_equal (rc, 0);
    assert_int_equal (hg_batch_ignored (b), 1);
    hg_batch_destroy (&b);
#else
    print_message ("skipping: HG_SHARED_DATA not defined\n");
    skip ();
#endif
}

/* A small explicit-VR study of PAT-1 at one time: its study UID and sex. */
static void
s_small_study (s_buf_t *b, const char *study_uid, const char *sex)
{
    b->explicit_vr = true;
    s_part10 (b, TS_EXPLICIT, "1.2.840.10008.5.1.4.1.1.2");
    s_str (b, 0x0008, 0x0020, "DA", "20240131");
    s_str (b, 0x0008, 0x0030, "TM", "101530");
    s_str (b, 0x0008, 0x0060, "CS", "CT");
    s_str (b, 0x0010, 0x0020, "LO", "PAT-1");
    if (sex) {
        s_str (b, 0x0010, 0x0040, "CS", sex);
    }
    s_str (b, 0x0020, 0x000D, "UI", study_uid);
}

/* One file through the parser and the cleansing step, with the links of
 * the files before it: its one record (in *b, the caller destroys it). */
static Hourglass__Record *
s_cleansed (const char *study_uid, const char *sex, hg_links_t *links, hg_batch_t **b,
            hg_cleanse_result_t *res)
{
    s_buf_t buf = {0};
    s_small_study (&buf, study_uid, sex);
    int rc;
    *b = s_parse (buf.d, buf.n, &rc);
    free (buf.d);
    assert_int_equal (rc, 1);
    hg_cleanse_ctx_t ctx = {.partner = "imaging",
                            .message_id = "m",
                            .format = "dicom",
                            .today_days = 20500,
                            .links = links};
    hg_err_t err = {0};
    assert_int_equal (hg_cleanse (&ctx, hg_batch_arena (*b), hg_batch_records (*b), 1, res, &err),
                      0);
    return hg_batch_records (*b)[0];
}

static bool
s_has_flag (const Hourglass__Record *r, const char *flag)
{
    for (size_t i = 0; i < r->n_flags; i++) {
        if (strcmp (r->flags[i], flag) == 0) {
            return true;
        }
    }
    return false;
}

/* Two studies of one patient at the same time are two records (the study
 * instance UID is in the content key); the same study twice is one. A
 * PatientSex that changes between files of one PatientID flags the file
 * that changed it, remembered in the links (the cleanser's store). */
static void
test_studies_and_sex (void **state)
{
    (void) state;
    hg_links_t *links = hg_links_new ();
    hg_batch_t *b1, *b2, *b3, *b4, *b5;
    hg_cleanse_result_t res;
    Hourglass__Record *r1 = s_cleansed ("1.2.3.1", "M", links, &b1, &res);
    assert_false (s_has_flag (r1, HG_CLEANSE_FLAG_SEX_CHANGED));
    assert_int_equal (res.n_links, 1); /* the sex remembered */
    Hourglass__Record *r2 = s_cleansed ("1.2.3.2", "M", links, &b2, &res);
    Hourglass__Record *r3 = s_cleansed ("1.2.3.1", "M", links, &b3, &res);
    assert_string_not_equal (r1->record_id, r2->record_id);
    assert_string_equal (r1->record_id, r3->record_id);
    assert_int_equal (res.n_links, 0); /* nothing changed */
    assert_int_equal (res.flagged, 0);
    Hourglass__Record *r4 = s_cleansed ("1.2.3.3", "F", links, &b4, &res);
    assert_true (s_has_flag (r4, HG_CLEANSE_FLAG_SEX_CHANGED));
    assert_int_equal (res.flagged, 1);
    assert_int_equal (res.n_flag_codes, 1);
    assert_string_equal (res.flag_codes[0], HG_CLEANSE_FLAG_SEX_CHANGED);
    /* F again: no change from the file before; no sex: nothing to compare */
    Hourglass__Record *r5 = s_cleansed ("1.2.3.4", "F", links, &b5, &res);
    assert_false (s_has_flag (r5, HG_CLEANSE_FLAG_SEX_CHANGED));
    hg_batch_destroy (&b5);
    r5 = s_cleansed ("1.2.3.5", NULL, links, &b5, &res);
    assert_int_equal (r5->n_flags, 0);
    /* the same study as FHIR ImagingStudy.identifier spells it keys the same */
    Hourglass__Record *fhir = hg_batch_add_record (b1,
                                                   HOURGLASS__RECORD_KIND__KIND_IMAGING_STUDY);
    hg_arena_t *a = hg_batch_arena (b1);
    fhir->patient_ref = r1->patient_ref;
    fhir->effective = r1->effective;
    fhir->codes = r1->codes;
    fhir->n_codes = r1->n_codes;
    fhir->demographics = r1->demographics;
    fhir->provenance = r1->provenance;
    assert_int_equal (hg_record_add_identifier (a, fhir, "urn:ietf:rfc:3986", "urn:oid:1.2.3.1",
                                                NULL),
                      0);
    assert_int_equal (hg_record_set_content_key (a, fhir), 0);
    assert_string_equal (fhir->record_id, r1->record_id);
    hg_batch_t *all[] = {b1, b2, b3, b4, b5};
    for (size_t i = 0; i < 5; i++) {
        hg_batch_destroy (&all[i]);
    }
    hg_links_destroy (&links);
}

HG_TEST_MAIN (cmocka_unit_test (test_studies_and_sex), cmocka_unit_test (test_explicit_le),
              cmocka_unit_test (test_implicit_le), cmocka_unit_test (test_hostile_lengths),
              cmocka_unit_test (test_hostile_big_elements),
              cmocka_unit_test (test_hostile_values), cmocka_unit_test (test_hostile_not_dataset),
              cmocka_unit_test (test_json_model), cmocka_unit_test (test_shared_pydicom))
