/*
 * dicom.c -- DICOM Part 10 / bare data sets / DICOM JSON to imaging-study
 * records.
 *
 * Binary input is walked element by element over the caller's buffer;
 * wanted top-level values are kept as spans and copied (converted to UTF-8)
 * only when the record is built. Sequence contents are skipped: defined
 * lengths by jumping, undefined lengths by walking items down to their
 * delimiters with a depth limit. Every length is checked against what is
 * left, so a hostile length can only lead to a reject.
 */
#include "dicom.h"
#include "util.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "date.h"
#include "parsekit.h"

#define S_MAX_DEPTH 16
#define S_JSON_DEPTH 64
#define S_UNDEFINED 0xFFFFFFFFu
#define S_TAG(g, e) (((uint32_t) (g) << 16) | (uint32_t) (e))
#define S_TAG_ITEM S_TAG (0xFFFE, 0xE000)
#define S_TAG_ITEM_END S_TAG (0xFFFE, 0xE00D)
#define S_TAG_SEQ_END S_TAG (0xFFFE, 0xE0DD)
#define S_TAG_PIXEL_DATA S_TAG (0x7FE0, 0x0010)

/* The values a record is built from. */
enum {
    S_F_CHARSET,
    S_F_SOP_UID,
    S_F_STUDY_DATE,
    S_F_STUDY_TIME,
    S_F_ACCESSION,
    S_F_MODALITY,
    S_F_STUDY_DESC,
    S_F_PATIENT_NAME,
    S_F_PATIENT_ID,
    S_F_BIRTH_DATE,
    S_F_SEX,
    S_F_BODY_PART,
    S_F_STUDY_UID,
    S_F_COUNT
};

static const struct {
    uint32_t tag;
    const char *name;
} s_fields[S_F_COUNT] = {
    [S_F_CHARSET] = {S_TAG (0x0008, 0x0005), "SpecificCharacterSet"},
    [S_F_SOP_UID] = {S_TAG (0x0008, 0x0018), "SOPInstanceUID"},
    [S_F_STUDY_DATE] = {S_TAG (0x0008, 0x0020), "StudyDate"},
    [S_F_STUDY_TIME] = {S_TAG (0x0008, 0x0030), "StudyTime"},
    [S_F_ACCESSION] = {S_TAG (0x0008, 0x0050), "AccessionNumber"},
    [S_F_MODALITY] = {S_TAG (0x0008, 0x0060), "Modality"},
    [S_F_STUDY_DESC] = {S_TAG (0x0008, 0x1030), "StudyDescription"},
    [S_F_PATIENT_NAME] = {S_TAG (0x0010, 0x0010), "PatientName"},
    [S_F_PATIENT_ID] = {S_TAG (0x0010, 0x0020), "PatientID"},
    [S_F_BIRTH_DATE] = {S_TAG (0x0010, 0x0030), "PatientBirthDate"},
    [S_F_SEX] = {S_TAG (0x0010, 0x0040), "PatientSex"},
    [S_F_BODY_PART] = {S_TAG (0x0018, 0x0015), "BodyPartExamined"},
    [S_F_STUDY_UID] = {S_TAG (0x0020, 0x000D), "StudyInstanceUID"},
};

typedef struct {
    const char *p; /* NULL: absent */
    size_t n;
} s_val_t;

typedef struct {
    hg_batch_t *out;
    hg_arena_t *a;
    size_t max_field_bytes; /* 0: none */
    bool oom;
    char where[64]; /* "file", "dataset 2" */
    const char *excerpt;
    size_t excerpt_len;
    s_val_t vals[S_F_COUNT];
} s_ctx_t;

/* A binary data set being walked. */
typedef struct {
    const uint8_t *d;
    size_t len;
    bool explicit_vr;
    bool big_endian;
} s_stream_t;

typedef struct {
    uint32_t tag;
    char vr[3]; /* "" when implicit or an item tag */
    uint32_t length;
    size_t value_at; /* offset of the value */
    size_t at;       /* offset of the element */
} s_elem_t;

static void s_reject (s_ctx_t *ctx, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_reject (s_ctx_t *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    hg_batch_vreject (ctx->out, ctx->excerpt, ctx->excerpt_len, ctx->where, ctx->where, ": ", fmt,
                      ap);
    va_end (ap);
}

/* ------------------------------------------------------------------------
 * Binary reading */

static uint16_t
s_u16 (const s_stream_t *s, size_t at)
{
    const uint8_t *p = s->d + at;
    return s->big_endian ? (uint16_t) (p[0] << 8 | p[1]) : (uint16_t) (p[1] << 8 | p[0]);
}

static uint32_t
s_u32 (const s_stream_t *s, size_t at)
{
    const uint8_t *p = s->d + at;
    return s->big_endian
               ? (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3]
               : (uint32_t) p[3] << 24 | (uint32_t) p[2] << 16 | (uint32_t) p[1] << 8 | p[0];
}

static const char s_vrs[] =
    "AEASATCSDADSDTFLFDISLOLTOBODOFOLOVOWPNSHSLSQSSSTSVTMUCUIULUNURUSUTUV";

static bool
s_vr_known (const uint8_t *v)
{
    for (size_t i = 0; i + 1 < sizeof (s_vrs); i += 2) {
        if (v[0] == (uint8_t) s_vrs[i] && v[1] == (uint8_t) s_vrs[i + 1]) {
            return true;
        }
    }
    return false;
}

/* Two upper-case letters: an explicit VR (known or not); an implicit VR
 * length of a first element never looks like that. */
static bool
s_vr_like (const uint8_t *v)
{
    return v[0] >= 'A' && v[0] <= 'Z' && v[1] >= 'A' && v[1] <= 'Z';
}

/* VRs with a 2-byte reserved field and a 4-byte length in explicit VR. */
static bool
s_vr_long (const char *vr)
{
    static const char *const longs[] = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ",
                                        "SV", "UC", "UN", "UR", "UT", "UV"};
    for (size_t i = 0; i < sizeof (longs) / sizeof (longs[0]); i++) {
        if (memcmp (vr, longs[i], 2) == 0) {
            return true;
        }
    }
    return false;
}

/* Reads the element header at *pos. 0, or -1 rejected. Does not check that
 * the value fits (the caller decides: pixel data is never read). */
static int
s_element (s_ctx_t *ctx, const s_stream_t *s, size_t pos, s_elem_t *e)
{
    size_t left = s->len - pos;
    e->at = pos;
    e->vr[0] = '\0';
    if (left < 8) {
        s_reject (ctx, "truncated: %zu bytes at offset %zu are too few for an element header",
                  left, pos);
        return -1;
    }
    e->tag = (uint32_t) s_u16 (s, pos) << 16 | s_u16 (s, pos + 2);
    if (e->tag >> 16 == 0xFFFE || !s->explicit_vr) {
        e->length = s_u32 (s, pos + 4);
        e->value_at = pos + 8;
        return 0;
    }
    const uint8_t *vr = s->d + pos + 4;
    if (!s_vr_known (vr)) {
        char shown[8];
        snprintf (shown, sizeof (shown), "%c%c", isprint (vr[0]) ? vr[0] : '?',
                  isprint (vr[1]) ? vr[1] : '?');
        s_reject (ctx,
                  "element (%04X,%04X) at offset %zu has an unknown VR '%s' (is the "
                  "transfer syntax right?)",
                  e->tag >> 16, e->tag & 0xFFFF, pos, shown);
        return -1;
    }
    e->vr[0] = (char) vr[0];
    e->vr[1] = (char) vr[1];
    e->vr[2] = '\0';
    if (s_vr_long (e->vr)) {
        if (left < 12) {
            s_reject (ctx,
                      "truncated: element (%04X,%04X) at offset %zu has no room for its "
                      "length",
                      e->tag >> 16, e->tag & 0xFFFF, pos);
            return -1;
        }
        e->length = s_u32 (s, pos + 8);
        e->value_at = pos + 12;
    }
    else {
        e->length = s_u16 (s, pos + 6);
        e->value_at = pos + 8;
    }
    return 0;
}

static bool
s_value_fits (s_ctx_t *ctx, const s_stream_t *s, const s_elem_t *e)
{
    if (e->value_at > s->len || e->length > s->len - e->value_at) {
        s_reject (ctx,
                  "truncated: element (%04X,%04X) at offset %zu declares %u bytes but "
                  "only %zu remain",
                  e->tag >> 16, e->tag & 0xFFFF, e->at, e->length,
                  e->value_at <= s->len ? s->len - e->value_at : 0);
        return false;
    }
    return true;
}

static int s_skip_sequence (s_ctx_t *ctx, const s_stream_t *s, size_t *pos, int depth);

/* Skips the undefined-length sequence that element e of s opens, its
 * value at e->value_at, nested depth deep: moves *pos past its sequence
 * delimiter. UN of undefined length holds implicit VR little endian.
 * 0, or -1 rejected. */
static int
s_skip_undefined (s_ctx_t *ctx, const s_stream_t *s, const s_elem_t *e, size_t *pos, int depth)
{
    s_stream_t inner = *s;
    if (memcmp (e->vr, "UN", 2) == 0) {
        inner.explicit_vr = false;
        inner.big_endian = false;
    }
    *pos = e->value_at;
    return s_skip_sequence (ctx, &inner, pos, depth);
}

/* Walks the elements of an undefined-length item to its delimiter. */
static int
s_skip_item (s_ctx_t *ctx, const s_stream_t *s, size_t *pos, int depth)
{
    for (;;) {
        s_elem_t e;
        if (s_element (ctx, s, *pos, &e) < 0) {
            return -1;
        }
        if (e.tag == S_TAG_ITEM_END) {
            *pos = e.value_at;
            return 0;
        }
        if (e.tag == S_TAG_SEQ_END || e.tag == S_TAG_ITEM) {
            s_reject (ctx, "item at offset %zu: (FFFE,%04X) found before the item delimiter",
                      e.at, e.tag & 0xFFFF);
            return -1;
        }
        if (e.length == S_UNDEFINED) {
            if (s_skip_undefined (ctx, s, &e, pos, depth + 1) < 0) {
                return -1;
            }
            continue;
        }
        if (!s_value_fits (ctx, s, &e)) {
            return -1;
        }
        *pos = e.value_at + e.length;
    }
}

/* Skips the items of an undefined-length sequence whose value starts at
 * *pos, through its sequence delimiter. */
static int
s_skip_sequence (s_ctx_t *ctx, const s_stream_t *s, size_t *pos, int depth)
{
    if (depth > S_MAX_DEPTH) {
        s_reject (ctx, "sequences nested deeper than %d levels at offset %zu", S_MAX_DEPTH, *pos);
        return -1;
    }
    for (;;) {
        s_elem_t e;
        if (s->len - *pos >= 4) {
            uint32_t tag = (uint32_t) s_u16 (s, *pos) << 16 | s_u16 (s, *pos + 2);
            if (tag != S_TAG_ITEM && tag != S_TAG_SEQ_END) {
                s_reject (ctx,
                          "sequence at offset %zu: expected an item (FFFE,E000) but found "
                          "(%04X,%04X)",
                          *pos, tag >> 16, tag & 0xFFFF);
                return -1;
            }
        }
        if (s_element (ctx, s, *pos, &e) < 0) {
            return -1;
        }
        if (e.tag == S_TAG_SEQ_END) {
            *pos = e.value_at;
            return 0;
        }
        if (e.tag != S_TAG_ITEM) {
            s_reject (ctx,
                      "sequence at offset %zu: expected an item (FFFE,E000) but found "
                      "(%04X,%04X)",
                      e.at, e.tag >> 16, e.tag & 0xFFFF);
            return -1;
        }
        if (e.length == S_UNDEFINED) {
            *pos = e.value_at;
            if (s_skip_item (ctx, s, pos, depth) < 0) {
                return -1;
            }
            continue;
        }
        if (!s_value_fits (ctx, s, &e)) {
            return -1;
        }
        *pos = e.value_at + e.length;
    }
}

/* Walks a data set from pos to its end or the pixel data, keeping wanted
 * values. meta: the file meta group (stops at the first non-0002 element);
 * *ts receives (0002,0010), *sop_class (0002,0002). 0, or -1 rejected. */
static int
s_walk (s_ctx_t *ctx, const s_stream_t *s, size_t *pos, bool meta, s_val_t *ts,
        s_val_t *sop_class)
{
    while (*pos < s->len) {
        s_elem_t e;
        if (meta && s->len - *pos >= 2 && s_u16 (s, *pos) != 0x0002) {
            return 0;
        }
        if (s_element (ctx, s, *pos, &e) < 0) {
            return -1;
        }
        if (e.tag == S_TAG_PIXEL_DATA) {
            *pos = s->len; /* header only: never read the pixels */
            return 0;
        }
        if (e.tag >> 16 == 0xFFFE) {
            s_reject (ctx, "unexpected item tag (FFFE,%04X) at offset %zu outside a sequence",
                      e.tag & 0xFFFF, e.at);
            return -1;
        }
        if (e.length == S_UNDEFINED) {
            if (s_skip_undefined (ctx, s, &e, pos, 1) < 0) {
                return -1;
            }
            continue;
        }
        if (!s_value_fits (ctx, s, &e)) {
            return -1;
        }
        s_val_t v = {(const char *) s->d + e.value_at, e.length};
        if (meta && e.tag == S_TAG (0x0002, 0x0010)) {
            *ts = v;
        }
        else if (meta && e.tag == S_TAG (0x0002, 0x0002)) {
            *sop_class = v;
        }
        else if (!meta && memcmp (e.vr, "SQ", 2) != 0) {
            for (int i = 0; i < S_F_COUNT; i++) {
                if (s_fields[i].tag == e.tag) {
                    if (ctx->max_field_bytes && e.length > ctx->max_field_bytes) {
                        s_reject (ctx,
                                  "%s (%04X,%04X) is %u bytes, over the limit of %zu bytes "
                                  "(max_field_bytes)",
                                  s_fields[i].name, e.tag >> 16, e.tag & 0xFFFF, e.length,
                                  ctx->max_field_bytes);
                        return -1;
                    }
                    ctx->vals[i] = v;
                }
            }
        }
        *pos = e.value_at + e.length;
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Values to strings */

/* Trims DICOM padding (spaces, NULs) at both ends. */
static s_val_t
s_trim (s_val_t v)
{
    while (v.n && (v.p[0] == ' ' || v.p[0] == '\0')) {
        v.p++;
        v.n--;
    }
    while (v.n && (v.p[v.n - 1] == ' ' || v.p[v.n - 1] == '\0')) {
        v.n--;
    }
    return v;
}

/* First value of a multi-valued string (split at backslash), trimmed. */
static s_val_t
s_first (s_val_t v)
{
    if (!v.p) {
        return v;
    }
    const char *bs = memchr (v.p, '\\', v.n);
    if (bs) {
        v.n = (size_t) (bs - v.p);
    }
    return s_trim (v);
}

/* Arena copy in UTF-8: Latin-1 converted, else invalid bytes and NULs
 * replaced by '?'. "" for an absent or empty value. */
static char *
s_text (s_ctx_t *ctx, s_val_t v, bool latin1)
{
    if (!v.p || v.n == 0) {
        return (char *) protobuf_c_empty_string;
    }
    char *o = hg_arena_alloc (ctx->a, v.n * 2 + 1);
    if (!o) {
        ctx->oom = true;
        return (char *) protobuf_c_empty_string;
    }
    const unsigned char *p = (const unsigned char *) v.p;
    size_t k = 0;
    for (size_t i = 0; i < v.n; i++) {
        if (p[i] == 0) {
            o[k++] = '?';
        }
        else if (p[i] < 0x80) {
            o[k++] = (char) p[i];
        }
        else if (latin1) {
            o[k++] = (char) (0xC0 | (p[i] >> 6));
            o[k++] = (char) (0x80 | (p[i] & 0x3F));
        }
        else {
            size_t sl = hg_utf8_len (p + i, v.n - i);
            if (!sl) {
                o[k++] = '?';
                continue;
            }
            memcpy (o + k, p + i, sl);
            k += sl;
            i += sl - 1;
        }
    }
    o[k] = '\0';
    return o;
}

/* DA (YYYYMMDD, old YYYY.MM.DD) [+ TM (HHMMSS.FFFFFF, old HH:MM:SS)] to
 * ISO. 0 stored ("" when the date is absent), -1 rejected. */
static int
s_datetime (s_ctx_t *ctx, int date_f, int time_f, char **out)
{
    s_val_t dv = s_first (ctx->vals[date_f]);
    s_val_t tv = time_f >= 0 ? s_first (ctx->vals[time_f]) : (s_val_t) {NULL, 0};
    if (!dv.p || dv.n == 0) {
        return 0;
    }
    char buf[48];
    size_t k = 0;
    for (size_t i = 0; i < dv.n && k < 12; i++) {
        if (dv.p[i] != '.') {
            buf[k++] = dv.p[i];
        }
    }
    size_t date_digits = k;
    /* a partial date (YYYY, YYYYMM) keeps its precision and takes no time */
    if (tv.p && tv.n > 0 && date_digits == 8) {
        bool frac = false;
        size_t frac_n = 0;
        for (size_t i = 0; i < tv.n && k < 30; i++) {
            char c = tv.p[i];
            if (c == ':' && !frac) {
                continue;
            }
            if (c == '.') {
                frac = true;
            }
            else if (frac && ++frac_n > 4) {
                continue; /* HL7 keeps 4 digits of a second's fraction */
            }
            buf[k++] = c;
        }
    }
    buf[k] = '\0';
    hg_date_t d;
    hg_err_t err;
    hg_err_clear (&err);
    if ((date_digits != 4 && date_digits != 6 && date_digits != 8)
        || hg_date_parse_hl7 (buf, k, &d, &err) < 0) {
        char shown[64];
        snprintf (shown, sizeof (shown), "%.*s%s%.*s", (int) (dv.n > 20 ? 20 : dv.n), dv.p,
                  tv.n ? " " : "", (int) (tv.n > 20 ? 20 : tv.n), tv.p ? tv.p : "");
        for (char *c = shown; *c; c++) {
            *c = isprint ((unsigned char) *c) ? *c : '?';
        }
        s_reject (ctx, "%s '%s' is not a valid DICOM date%s (YYYYMMDD%s)",
                  time_f >= 0 ? "StudyDate/StudyTime" : s_fields[date_f].name, shown,
                  time_f >= 0 ? "/time" : "", time_f >= 0 ? " and HHMMSS.FFFFFF" : "");
        return -1;
    }
    char iso[HG_DATE_ISO_MAX];
    hg_date_format_iso (&d, iso, sizeof (iso));
    *out = hg_arena_strdup (ctx->a, iso);
    if (!*out) {
        ctx->oom = true;
        return -1;
    }
    return 0;
}

static const char *
s_modality_name (const char *code)
{
    static const char *const names[][2] = {
        {"CR", "Computed Radiography"},
        {"CT", "Computed Tomography"},
        {"DX", "Digital Radiography"},
        {"MG", "Mammography"},
        {"MR", "Magnetic Resonance"},
        {"NM", "Nuclear Medicine"},
        {"OT", "Other"},
        {"PT", "Positron emission tomography"},
        {"RF", "Radio Fluoroscopy"},
        {"US", "Ultrasound"},
        {"XA", "X-Ray Angiography"},
        {"SR", "SR Document"},
        {"SC", "Secondary Capture"},
        {"RTDOSE", "Radiotherapy Dose"},
        {"RTPLAN", "Radiotherapy Plan"},
        {"RTSTRUCT", "Radiotherapy Structure Set"},
        {"RTIMAGE", "RT Image"},
        {"ECG", "Electrocardiography"},
        {"IO", "Intra-oral Radiography"},
        {"PX", "Panoramic X-Ray"},
        {"SM", "Slide Microscopy"},
        {"XC", "External-camera Photography"},
        {"ES", "Endoscopy"},
        {"OP", "Ophthalmic Photography"},
        {"SEG", "Segmentation"},
        {"KO", "Key Object Selection"},
        {"PR", "Presentation State"},
        {"DOC", "Document"},
    };
    for (size_t i = 0; i < sizeof (names) / sizeof (names[0]); i++) {
        if (strcmp (code, names[i][0]) == 0) {
            return names[i][1];
        }
    }
    return NULL;
}

/* The patient's name (alphabetic group: family ^ given ^ middle), birth
 * date and sex as received, for the de-identifier, when the dataset has
 * any of them. -1 out of memory. */
static int
s_demographics (s_ctx_t *ctx, Hourglass__Record *rec, char *birth, bool latin1)
{
    s_val_t name = s_first (ctx->vals[S_F_PATIENT_NAME]);
    if (name.p) {
        const char *eq = memchr (name.p, '=', name.n); /* alphabetic group only */
        if (eq) {
            name.n = (size_t) (eq - name.p);
        }
    }
    s_val_t sex = s_first (ctx->vals[S_F_SEX]);
    if ((name.p && name.n) || *birth || (sex.p && sex.n)) {
        Hourglass__Demographics *d = hg_demographics_new (ctx->a);
        if (!d) {
            return -1;
        }
        rec->demographics = d;
        d->birth_date = birth;
        s_val_t part;
        for (size_t i = 0; name.p && i < 3; i++) {
            /* family ^ given ^ middle */
            const char *p = name.p;
            size_t n = name.n;
            for (size_t k = 0; k < i && p; k++) {
                const char *c = memchr (p, '^', n);
                n = c ? n - (size_t) (c + 1 - p) : 0;
                p = c ? c + 1 : NULL;
            }
            if (!p) {
                break;
            }
            const char *c = memchr (p, '^', n);
            part.p = p;
            part.n = c ? (size_t) (c - p) : n;
            part = s_trim (part);
            if (part.n == 0) {
                continue;
            }
            char *t = s_text (ctx, part, latin1);
            if (i == 0) {
                d->family = t;
            }
            else if (*t && hg_strv_push (ctx->a, &d->given, &d->n_given, t) < 0) {
                return -1;
            }
        }
        if (sex.p && sex.n) {
            d->sex = (char *) (sex.n == 1 && sex.p[0] == 'M'   ? "male"
                               : sex.n == 1 && sex.p[0] == 'F' ? "female"
                               : sex.n == 1 && sex.p[0] == 'O' ? "other"
                                                               : "unknown");
        }
    }
    return 0;
}

/* Builds the record from ctx->vals. index: 1-based data set number. */
static int
s_build (s_ctx_t *ctx, size_t index)
{
    s_val_t cs = s_trim (ctx->vals[S_F_CHARSET].p ? ctx->vals[S_F_CHARSET] : (s_val_t) {"", 0});
    bool latin1 = false;
    for (size_t i = 0; i + 10 <= cs.n && !latin1; i++) {
        latin1 = memcmp (cs.p + i, "ISO_IR 100", 10) == 0;
    }
    char *patient = s_text (ctx, s_first (ctx->vals[S_F_PATIENT_ID]), latin1);
    if (ctx->oom) {
        return -1;
    }
    if (!*patient) {
        s_reject (ctx, "PatientID (0010,0020) is missing or empty; the study cannot be linked "
                       "to a patient");
        return 0;
    }
    char *effective = (char *) protobuf_c_empty_string;
    char *birth = (char *) protobuf_c_empty_string;
    if (s_datetime (ctx, S_F_STUDY_DATE, S_F_STUDY_TIME, &effective) < 0
        || s_datetime (ctx, S_F_BIRTH_DATE, -1, &birth) < 0) {
        return ctx->oom ? -1 : 0;
    }
    bool limit_hit;
    Hourglass__Record *rec = hg_batch_try_add (ctx->out,
                                               HOURGLASS__RECORD_KIND__KIND_IMAGING_STUDY,
                                               &limit_hit, &ctx->oom);
    if (!rec) {
        if (limit_hit) {
            hg_batch_reject_rest (ctx->out, NULL, 0, ctx->where);
        }
        return -1;
    }
    rec->patient_ref = patient;
    rec->effective = effective;
    rec->provenance = hg_provenance_new (ctx->a);
    if (!rec->provenance) {
        goto oom;
    }
    rec->provenance->source_format = (char *) "dicom";
    char *sop = s_text (ctx, s_first (ctx->vals[S_F_SOP_UID]), false);
    char *study = s_text (ctx, s_first (ctx->vals[S_F_STUDY_UID]), false);
    rec->provenance->source_record_id = *sop     ? sop
                                        : *study ? study
                                                 : hg_arena_printf (ctx->a, "dataset %zu", index);
    if (!rec->provenance->source_record_id) {
        goto oom;
    }

    if (s_demographics (ctx, rec, birth, latin1) < 0) {
        goto oom;
    }
    char *acc = s_text (ctx, s_first (ctx->vals[S_F_ACCESSION]), latin1);
    if (*acc && hg_record_add_identifier (ctx->a, rec, NULL, acc, "ACSN") < 0) {
        goto oom;
    }
    if (*study) {
        char *v = hg_arena_printf (ctx->a, "urn:oid:%s", study);
        if (!v || hg_record_add_identifier (ctx->a, rec, HG_SYS_DICOM_UID, v, NULL) < 0) {
            goto oom;
        }
    }
    char *modality = s_text (ctx, s_first (ctx->vals[S_F_MODALITY]), false);
    if (*modality
        && hg_record_add_code (ctx->a, rec, HG_SYS_DICOM_DCM, modality,
                               s_modality_name (modality))
               < 0) {
        goto oom;
    }
    char *body = s_text (ctx, s_first (ctx->vals[S_F_BODY_PART]), latin1);
    if (*body && hg_record_add_code (ctx->a, rec, HG_SYS_DICOM_BODY_PART, body, NULL) < 0) {
        goto oom;
    }
    s_val_t desc = ctx->vals[S_F_STUDY_DESC].p ? s_trim (ctx->vals[S_F_STUDY_DESC])
                                               : (s_val_t) {NULL, 0};
    rec->text = s_text (ctx, desc, latin1);
    if (ctx->oom) {
        goto oom;
    }
    return 0;
oom:
    ctx->oom = true;
    hg_batch_drop_last (ctx->out);
    return -1;
}

/* ------------------------------------------------------------------------
 * Binary input */

static bool
s_ts_is (s_val_t ts, const char *uid)
{
    s_val_t t = s_trim (ts);
    return t.p && t.n == strlen (uid) && memcmp (t.p, uid, t.n) == 0;
}

/* Guesses the encoding of a data set from its first element. */
static void
s_sniff (s_stream_t *s, size_t pos)
{
    s->big_endian = false;
    s->explicit_vr = true;
    if (s->len - pos < 8) {
        return;
    }
    const uint8_t *p = s->d + pos;
    uint16_t le_group = (uint16_t) (p[1] << 8 | p[0]);
    uint16_t be_group = (uint16_t) (p[0] << 8 | p[1]);
    if (le_group > 0x00FF && be_group <= 0x00FF) {
        s->big_endian = true;
    }
    s->explicit_vr = s_vr_like (p + 4);
}

static bool
s_looks_bare (const char *data, size_t len)
{
    if (len < 8) {
        return false;
    }
    const uint8_t *p = (const uint8_t *) data;
    uint16_t le = (uint16_t) (p[1] << 8 | p[0]), be = (uint16_t) (p[0] << 8 | p[1]);
    return le == 0x0002 || le == 0x0008 || be == 0x0008;
}

static int
s_binary (s_ctx_t *ctx, const char *data, size_t len, bool part10)
{
    snprintf (ctx->where, sizeof (ctx->where), "file");
    s_stream_t s = {(const uint8_t *) data, len, true, false};
    size_t pos = part10 ? 132 : 0;
    s_val_t ts = {NULL, 0}, sop_class = {NULL, 0};
    bool has_meta = len - pos >= 2 && s_u16 (&s, pos) == 0x0002;
    if (has_meta && s_walk (ctx, &s, &pos, true, &ts, &sop_class) < 0) {
        return 0;
    }
    if (s_ts_is (sop_class, "1.2.840.10008.1.3.10")) {
        hg_batch_ignore (ctx->out, "DICOMDIR"); /* a media index, no study of its own */
        return 0;
    }
    if (s_ts_is (ts, "1.2.840.10008.1.2.1.99") || s_ts_is (ts, "1.2.840.10008.1.2.4.95")) {
        s_reject (ctx, "deflated transfer syntax is not supported; send the file with an "
                       "uncompressed data set (e.g. dcmconv +te)");
        return 0;
    }
    if (s_ts_is (ts, "1.2.840.10008.1.2")) {
        s.explicit_vr = false;
    }
    else if (s_ts_is (ts, "1.2.840.10008.1.2.2")) {
        s.big_endian = true;
    }
    else if (!ts.p || s_trim (ts).n == 0) {
        s_sniff (&s, pos);
    }
    /* some writers declare an explicit syntax but write implicit VR (and the
     * reverse): the first element tells */
    if (s.len - pos >= 8) {
        s.explicit_vr = s_vr_like (s.d + pos + 4);
    }
    /* any other syntax encapsulates only the pixel data: explicit VR LE */
    if (s_walk (ctx, &s, &pos, false, NULL, NULL) < 0) {
        return 0;
    }
    return s_build (ctx, 1);
}

/* ------------------------------------------------------------------------
 * DICOM JSON model */

/* First value of a DICOM JSON attribute as a string (PN: Alphabetic). */
static int
s_json_value (s_ctx_t *ctx, json_object *attr, int field, s_val_t *out)
{
    json_object *values = NULL, *v;
    out->p = NULL;
    out->n = 0;
    if (!json_object_is_type (attr, json_type_object)
        || !json_object_object_get_ex (attr, "Value", &values)
        || !json_object_is_type (values, json_type_array)
        || json_object_array_length (values) == 0) {
        return 0;
    }
    v = json_object_array_get_idx (values, 0);
    if (v && json_object_is_type (v, json_type_object)) {
        json_object *alpha = NULL;
        json_object_object_get_ex (v, "Alphabetic", &alpha);
        v = alpha;
    }
    if (!v || json_object_is_type (v, json_type_null)) {
        return 0;
    }
    if (!json_object_is_type (v, json_type_string)) {
        if (json_object_is_type (v, json_type_object)
            || json_object_is_type (v, json_type_array)) {
            s_reject (ctx, "%s Value[0] is a JSON %s, expected a string", s_fields[field].name,
                      json_type_to_name (json_object_get_type (v)));
            return -1;
        }
    }
    const char *s = json_object_get_string (v);
    size_t n = json_object_is_type (v, json_type_string) ? (size_t) json_object_get_string_len (v)
                                                         : strlen (s);
    if (ctx->max_field_bytes && n > ctx->max_field_bytes) {
        s_reject (ctx, "%s is %zu bytes, over the limit of %zu bytes (max_field_bytes)",
                  s_fields[field].name, n, ctx->max_field_bytes);
        return -1;
    }
    out->p = s;
    out->n = n;
    return 0;
}

static int
s_json_dataset (s_ctx_t *ctx, json_object *ds, size_t index, bool in_array)
{
    memset (ctx->vals, 0, sizeof (ctx->vals));
    if (in_array) {
        snprintf (ctx->where, sizeof (ctx->where), "dataset %zu", index);
    }
    else {
        snprintf (ctx->where, sizeof (ctx->where), "dataset");
    }
    if (!json_object_is_type (ds, json_type_object)) {
        s_reject (ctx,
                  "the JSON value is a %s, expected a DICOM JSON data set (an object "
                  "keyed by 8-hex-digit tags)",
                  json_type_to_name (json_object_get_type (ds)));
        return 0;
    }
    json_object_object_foreach (ds, key, attr)
    {
        size_t kn = strlen (key);
        bool hex = kn == 8;
        for (size_t i = 0; hex && i < 8; i++) {
            hex = isxdigit ((unsigned char) key[i]);
        }
        if (!hex) {
            s_reject (ctx, "key '%.40s' is not a DICOM tag (8 hex digits, e.g. \"00100020\")",
                      key);
            return 0;
        }
        uint32_t tag = (uint32_t) strtoul (key, NULL, 16);
        for (int i = 0; i < S_F_COUNT; i++) {
            if (s_fields[i].tag == tag && s_json_value (ctx, attr, i, &ctx->vals[i]) < 0) {
                return 0;
            }
        }
    }
    /* JSON strings are UTF-8 already: charset conversion must not apply */
    ctx->vals[S_F_CHARSET].p = NULL;
    return s_build (ctx, index);
}

static int
s_json (s_ctx_t *ctx, const char *data, size_t len)
{
    snprintf (ctx->where, sizeof (ctx->where), "payload");
    if (len >= (size_t) INT32_MAX) {
        s_reject (ctx, "payload of %zu bytes is too large for the JSON parser", len);
        return 0;
    }
    json_tokener *tok = json_tokener_new_ex (S_JSON_DEPTH);
    if (!tok) {
        ctx->oom = true;
        return -1;
    }
    json_tokener_set_flags (tok, JSON_TOKENER_STRICT);
    json_object *root = json_tokener_parse_ex (tok, data, (int) len);
    enum json_tokener_error jerr = json_tokener_get_error (tok);
    size_t end = json_tokener_get_parse_end (tok);
    if (jerr == json_tokener_continue) {
        json_object_put (root);
        root = json_tokener_parse_ex (tok, "", 1);
        jerr = json_tokener_get_error (tok);
        end = len;
    }
    json_tokener_free (tok);
    int rc = 0;
    if (jerr != json_tokener_success || !root) {
        s_reject (ctx, "invalid JSON: %s at byte %zu",
                  jerr == json_tokener_continue ? "unexpected end of data (truncated JSON)"
                                                : json_tokener_error_desc (jerr),
                  end + 1);
    }
    else if (json_object_is_type (root, json_type_array)) {
        size_t n = json_object_array_length (root);
        if (n == 0) {
            s_reject (ctx, "the JSON array holds no data set");
        }
        for (size_t i = 0; i < n && rc == 0; i++) {
            ctx->excerpt = json_object_to_json_string_ext (json_object_array_get_idx (root, i),
                                                           JSON_C_TO_STRING_PLAIN);
            ctx->excerpt_len = ctx->excerpt ? strlen (ctx->excerpt) : 0;
            rc = s_json_dataset (ctx, json_object_array_get_idx (root, i), i + 1, true);
        }
    }
    else {
        rc = s_json_dataset (ctx, root, 1, false);
    }
    json_object_put (root);
    return rc;
}

/* ------------------------------------------------------------------------
 * Entry */

int
hg_dicom_parse (const char *data, size_t len, const hg_parse_limits_t *limits, hg_batch_t *out)
{
    s_ctx_t ctx;
    memset (&ctx, 0, sizeof (ctx));
    ctx.out = out;
    ctx.a = hg_batch_arena (out);
    ctx.max_field_bytes = limits ? limits->max_field_bytes : 0;
    hg_batch_mark_t first_record = hg_batch_begin (out, limits);
    if (!data) {
        data = "";
        len = 0;
    }
    ctx.excerpt = data;
    ctx.excerpt_len = len;
    size_t skip = hg_parse_has_bom (data, len) ? 3 : 0;
    while (skip < len && isspace ((unsigned char) data[skip])) {
        skip++;
    }
    if (len >= 132 && memcmp (data + 128, "DICM", 4) == 0) {
        ctx.excerpt_len = 0;
        ctx.excerpt = NULL;
        s_binary (&ctx, data, len, true);
    }
    else if (skip < len && (data[skip] == '{' || data[skip] == '[')) {
        s_json (&ctx, data + skip, len - skip);
    }
    else if (s_looks_bare (data, len)) {
        ctx.excerpt_len = 0;
        ctx.excerpt = NULL;
        s_binary (&ctx, data, len, false);
    }
    else {
        hg_batch_reject (out, data, len, "payload",
                         len == 0 ? "empty payload: expected a DICOM file or DICOM JSON"
                                  : "not DICOM: no \"DICM\" marker at byte 128, not a data set "
                                    "and not DICOM JSON");
        return 0;
    }
    if (ctx.oom) {
        hg_batch_reject_oom (out, ctx.where);
        return HG_ENOMEM;
    }
    return (int) hg_batch_since (out, first_record);
}
