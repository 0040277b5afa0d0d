/*
 * content_key.c -- a record's content key (record_id); see content_key.h.
 */
#include "content_key.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "date.h"
#include "record.h"

/* The bytes a content key hashes, gathered in one buffer and hashed with a
 * single call (many small updates of the hash state cost more than the
 * copies). Starts on the stack; grows on the heap for large records. */
typedef struct {
    unsigned char *p;
    size_t len, cap;
    bool oom; /* growth failed: hashed in pieces instead */
    crypto_generichash_state st;
    unsigned char stack[1024];
} s_keybuf_t;

static void
s_key_add (s_keybuf_t *kb, const void *data, size_t n)
{
    if (kb->len + n > kb->cap && !kb->oom) {
        size_t cap = kb->cap * 2 > kb->len + n ? kb->cap * 2 : kb->len + n;
        unsigned char *p = malloc (cap);
        if (p) {
            memcpy (p, kb->p, kb->len);
            if (kb->p != kb->stack) {
                free (kb->p);
            }
            kb->p = p;
            kb->cap = cap;
        }
        else {
            /* no memory: what is gathered goes into the state, the rest
             * piece by piece (same bytes in the same order: same key) */
            crypto_generichash_update (&kb->st, kb->p, kb->len);
            kb->len = 0;
            kb->oom = true;
        }
    }
    if (kb->oom) {
        crypto_generichash_update (&kb->st, data, n);
        return;
    }
    memcpy (kb->p + kb->len, data, n);
    kb->len += n;
}

static void
s_hash_strn (s_keybuf_t *kb, const char *s, size_t len)
{
    /* length-prefixed so ("ab","c") and ("a","bc") differ */
    uint32_t n = (uint32_t) len;
    s_key_add (kb, &n, sizeof (n));
    if (len) {
        s_key_add (kb, s, len);
    }
}

static void
s_hash_str (s_keybuf_t *kb, const char *s)
{
    s_hash_strn (kb, s, s ? strlen (s) : 0);
}

/* The form of a date-time that enters the key: UTC when it has a zone, and
 * zero seconds (and a zero fraction) dropped, so "10:30" from an HL7 DTM
 * and "10:30:00" from a FHIR dateTime -- which must carry seconds -- are the
 * same instant. Dates that do not parse go in as they are. */
static void
s_hash_time (s_keybuf_t *kb, const char *s)
{
    hg_date_t d;
    if (hg_str_empty (s) || hg_date_parse_iso (s, strlen (s), &d, NULL) < 0) {
        s_hash_str (kb, s);
        return;
    }
    hg_date_to_utc (&d);
    if (d.micros == 0) {
        d.frac_digits = 0;
    }
    if (d.prec == HG_PREC_SECOND && d.second == 0 && d.micros == 0) {
        d.prec = HG_PREC_MINUTE;
    }
    char buf[HG_DATE_ISO_MAX];
    hg_date_format_iso (&d, buf, sizeof (buf));
    s_hash_str (kb, buf);
}

static int
s_coding_cmp (const void *a, const void *b)
{
    const Hourglass__Coding *x = *(const Hourglass__Coding *const *) a;
    const Hourglass__Coding *y = *(const Hourglass__Coding *const *) b;
    int c = strcmp (x->system ? x->system : "", y->system ? y->system : "");
    return c ? c : strcmp (x->code ? x->code : "", y->code ? y->code : "");
}

static bool
s_is_loinc (const Hourglass__Coding *c)
{
    return c->system && strcmp (c->system, HG_SYS_LOINC) == 0;
}

/* The codes that enter the key: the set of (system, code), sorted, each once
 * -- order and repetition are how a format spells a concept, not the fact.
 * A lab result carrying LOINC codes keys on those only: the other codings
 * of OBX-3 or Observation.code are the sender's local aliases, spelled
 * differently in each format ("GLU^^L" in HL7, a site URI in FHIR). */
static void
s_hash_codes (s_keybuf_t *st, const Hourglass__Record *rec)
{
    const Hourglass__Coding *stack[16];
    const Hourglass__Coding **v = stack;
    if (rec->n_codes > sizeof (stack) / sizeof (stack[0])) {
        v = malloc (rec->n_codes * sizeof (*v));
    }
    if (!v) {
        /* no memory for the sort: the codes as given (still deterministic) */
        for (size_t i = 0; i < rec->n_codes; i++) {
            s_hash_str (st, rec->codes[i]->system);
            s_hash_str (st, rec->codes[i]->code);
        }
        return;
    }
    bool loinc_only = false;
    if (rec->kind == HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION) {
        for (size_t i = 0; i < rec->n_codes && !loinc_only; i++) {
            loinc_only = s_is_loinc (rec->codes[i]);
        }
    }
    size_t n = 0;
    for (size_t i = 0; i < rec->n_codes; i++) {
        if (!loinc_only || s_is_loinc (rec->codes[i])) {
            v[n++] = rec->codes[i];
        }
    }
    qsort (v, n, sizeof (*v), s_coding_cmp);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && s_coding_cmp (&v[i - 1], &v[i]) == 0) {
            continue;
        }
        s_hash_str (st, v[i]->system);
        s_hash_str (st, v[i]->code);
    }
    if (v != stack) {
        free (v);
    }
}

/* The study instance UID of an imaging study, as its identifier
 * "urn:oid:<uid>": system urn:dicom:uid (the DICOM parser's,
 * HG_SYS_DICOM_UID in services/cleanser/codesys.h) or urn:ietf:rfc:3986 (a
 * FHIR ImagingStudy.identifier); the smallest when there are several, so
 * their order does not matter. NULL when the record carries none. */
static const char *
s_study_uid (const Hourglass__Record *rec)
{
    const char *uid = NULL;
    for (size_t i = 0; i < rec->n_identifiers; i++) {
        const Hourglass__Identifier *id = rec->identifiers[i];
        if (!id->system || !id->value || strncmp (id->value, "urn:oid:", 8) != 0
            || (strcmp (id->system, "urn:dicom:uid") != 0
                && strcmp (id->system, "urn:ietf:rfc:3986") != 0)) {
            continue;
        }
        if (!uid || strcmp (id->value, uid) < 0) {
            uid = id->value;
        }
    }
    return uid;
}

/* A note's text as it enters the key: runs of white space (CR, LF, tabs:
 * how HL7 and FHIR each break lines) folded into one space, none at either
 * end, so the same note sent in both formats is one fact. */
static void
s_hash_text (s_keybuf_t *kb, const char *s)
{
    char chunk[256];
    size_t n = 0;
    bool space = false;
    uint32_t len = 0;
    /* the folded length first (length-prefixed like every string), then
     * the folded bytes */
    for (int pass = 0; pass < 2; pass++) {
        bool started = false;
        space = false;
        for (const char *p = s; *p; p++) {
            bool ws = *p == ' ' || *p == '\t' || *p == '\r' || *p == '\n' || *p == '\f'
                      || *p == '\v';
            if (ws) {
                space = started;
                continue;
            }
            if (space) {
                if (pass == 0) {
                    len++;
                }
                else {
                    chunk[n++] = ' ';
                }
                space = false;
            }
            started = true;
            if (pass == 0) {
                len++;
            }
            else {
                chunk[n++] = *p;
            }
            if (n >= sizeof (chunk) - 1) {
                s_key_add (kb, chunk, n);
                n = 0;
            }
        }
        if (pass == 0) {
            s_key_add (kb, &len, sizeof (len));
        }
    }
    if (n) {
        s_key_add (kb, chunk, n);
    }
}

int
hg_record_set_content_key (hg_arena_t *a, Hourglass__Record *rec)
{
    s_keybuf_t key_bytes;
    s_keybuf_t *kb = &key_bytes;
    kb->p = kb->stack;
    kb->len = 0;
    kb->cap = sizeof (kb->stack);
    kb->oom = false;
    unsigned char out[16];
    char buf[64];
    crypto_generichash_init (&kb->st, NULL, 0, sizeof (out));
    /* "kind=<n>" */
    memcpy (buf, "kind=", 5);
    size_t bl = 5;
    {
        int k = (int) rec->kind;
        char digits[16];
        size_t nd = 0;
        unsigned int u = k < 0 ? 0u - (unsigned int) k : (unsigned int) k;
        do {
            digits[nd++] = (char) ('0' + u % 10);
            u /= 10;
        } while (u);
        if (k < 0) {
            buf[bl++] = '-';
        }
        while (nd) {
            buf[bl++] = digits[--nd];
        }
    }
    s_hash_strn (kb, buf, bl);
    s_hash_str (kb, rec->provenance ? rec->provenance->partner : "");
    s_hash_str (kb, rec->patient_ref);
    s_hash_codes (kb, rec);
    s_hash_time (kb, rec->effective);
    s_hash_time (kb, rec->effective_end);
    switch (rec->value_case) {
    case HOURGLASS__RECORD__VALUE_QUANTITY:
        /* 12 significant digits: a unit conversion's rounding noise
         * (5.3 mmol/L * 18 = 95.39999999999999 mg/dL) is not a new value */
        snprintf (buf, sizeof (buf), "q=%.12g", rec->quantity->value);
        s_hash_str (kb, buf);
        s_hash_str (kb, rec->quantity->unit);
        if (!hg_str_empty (rec->quantity->comparator)) {
            /* "<5" is not "5"; hashed only when present, so keys of plain
             * values are unchanged by it */
            s_hash_str (kb, "cmp");
            s_hash_str (kb, rec->quantity->comparator);
        }
        break;
    case HOURGLASS__RECORD__VALUE_STRING_VALUE:
        s_hash_str (kb, rec->string_value);
        break;
    case HOURGLASS__RECORD__VALUE_CODE_VALUE:
        s_hash_str (kb, rec->code_value->system);
        s_hash_str (kb, rec->code_value->code);
        break;
    default:
        break;
    }
    const char *study = rec->kind == HOURGLASS__RECORD_KIND__KIND_IMAGING_STUDY
                            ? s_study_uid (rec)
                            : NULL;
    if (study) {
        /* two studies of one patient at one time are two facts; hashed only
         * when present, so keys of studies without a UID are unchanged */
        s_hash_str (kb, "study");
        s_hash_str (kb, study);
    }
    if (rec->kind == HOURGLASS__RECORD_KIND__KIND_NOTE && !hg_str_empty (rec->text)) {
        /* a note's text is the fact: two notes of one patient at one time
         * are two notes; hashed only when present, so keys of notes
         * without text are unchanged */
        s_hash_str (kb, "text");
        s_hash_text (kb, rec->text);
    }
    if (rec->demographics) {
        /* the day of birth: a birth time (HL7 PID-7 may carry one) is
         * what FHIR's birthDate, a date, cannot say */
        const char *birth = rec->demographics->birth_date;
        s_hash_strn (kb, birth ? birth : "", birth ? strnlen (birth, 10) : 0);
        s_hash_str (kb, rec->demographics->sex);
    }
    crypto_generichash_update (&kb->st, kb->p, kb->len);
    if (kb->p != kb->stack) {
        free (kb->p);
    }
    crypto_generichash_final (&kb->st, out, sizeof (out));
    char *hex = hg_arena_alloc (a, sizeof (out) * 2 + 1);
    if (!hex) {
        return HG_ENOMEM;
    }
    sodium_bin2hex (hex, sizeof (out) * 2 + 1, out, sizeof (out));
    rec->record_id = hex;
    return 0;
}
