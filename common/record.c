/*
 * record.c -- canonical record helpers.
 */
#include "record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "date.h"

static char *
s_dup (hg_arena_t *a, const char *s)
{
    if (!s || !*s) {
        return (char *) protobuf_c_empty_string;
    }
    return hg_arena_strdup (a, s);
}

Hourglass__Coding *
hg_coding_new (hg_arena_t *a, const char *system, const char *code, const char *display)
{
    Hourglass__Coding *c = hg_arena_alloc (a, sizeof (*c));
    if (!c) {
        return NULL;
    }
    hourglass__coding__init (c);
    c->system = s_dup (a, system);
    c->code = s_dup (a, code);
    c->display = s_dup (a, display);
    if (!c->system || !c->code || !c->display) {
        return NULL;
    }
    return c;
}

Hourglass__Demographics *
hg_demographics_new (hg_arena_t *a)
{
    Hourglass__Demographics *d = hg_arena_alloc (a, sizeof (*d));
    if (d) {
        hourglass__demographics__init (d);
    }
    return d;
}

Hourglass__Provenance *
hg_provenance_new (hg_arena_t *a)
{
    Hourglass__Provenance *p = hg_arena_alloc (a, sizeof (*p));
    if (p) {
        hourglass__provenance__init (p);
    }
    return p;
}

Hourglass__Quantity *
hg_quantity_new (hg_arena_t *a, double value, const char *unit)
{
    Hourglass__Quantity *q = hg_arena_alloc (a, sizeof (*q));
    if (!q) {
        return NULL;
    }
    hourglass__quantity__init (q);
    q->value = value;
    q->unit = s_dup (a, unit);
    return q->unit ? q : NULL;
}

Hourglass__Identifier *
hg_identifier_new (hg_arena_t *a, const char *system, const char *value, const char *type)
{
    Hourglass__Identifier *id = hg_arena_alloc (a, sizeof (*id));
    if (!id) {
        return NULL;
    }
    hourglass__identifier__init (id);
    id->system = s_dup (a, system);
    id->value = s_dup (a, value);
    id->type = s_dup (a, type);
    if (!id->system || !id->value || !id->type) {
        return NULL;
    }
    return id;
}

/* Grows an arena array of pointers by one slot. */
static int
s_ptrv_push (hg_arena_t *a, void ***v, size_t *n, void *item)
{
    void **nv = hg_arena_alloc (a, (*n + 1) * sizeof (void *));
    if (!nv) {
        return HG_ENOMEM;
    }
    if (*n) {
        memcpy (nv, *v, *n * sizeof (void *));
    }
    nv[(*n)++] = item;
    *v = nv;
    return 0;
}

int
hg_record_add_code (hg_arena_t *a, Hourglass__Record *rec, const char *system,
                    const char *code, const char *display)
{
    Hourglass__Coding *c = hg_coding_new (a, system, code, display);
    if (!c) {
        return HG_ENOMEM;
    }
    return s_ptrv_push (a, (void ***) &rec->codes, &rec->n_codes, c);
}

int
hg_record_add_identifier (hg_arena_t *a, Hourglass__Record *rec, const char *system,
                          const char *value, const char *type)
{
    Hourglass__Identifier *id = hg_identifier_new (a, system, value, type);
    if (!id) {
        return HG_ENOMEM;
    }
    return s_ptrv_push (a, (void ***) &rec->identifiers, &rec->n_identifiers, id);
}

int
hg_strv_push (hg_arena_t *a, char ***v, size_t *n, const char *s)
{
    char *copy = hg_arena_strdup (a, s);
    if (!copy) {
        return HG_ENOMEM;
    }
    return s_ptrv_push (a, (void ***) v, n, copy);
}

/* The bytes a content key hashes, gathered in one buffer and hashed with a
 * single call (many small updates of the hash state cost more than the
 * copies). Starts on the stack; grows on the heap for large records. */
typedef struct {
    unsigned char *p;
    size_t len, cap;
    bool oom;                   /* growth failed: hashed in pieces instead */
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

const char *
hg_record_kind_name (Hourglass__RecordKind kind)
{
    switch (kind) {
    case HOURGLASS__RECORD_KIND__KIND_DEMOGRAPHICS: return "demographics";
    case HOURGLASS__RECORD_KIND__KIND_ENCOUNTER: return "encounter";
    case HOURGLASS__RECORD_KIND__KIND_CONDITION: return "condition";
    case HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION: return "lab-observation";
    case HOURGLASS__RECORD_KIND__KIND_MEDICATION: return "medication";
    case HOURGLASS__RECORD_KIND__KIND_PROCEDURE: return "procedure";
    case HOURGLASS__RECORD_KIND__KIND_IMAGING_STUDY: return "imaging-study";
    case HOURGLASS__RECORD_KIND__KIND_GENOMIC_VARIANT: return "genomic-variant";
    case HOURGLASS__RECORD_KIND__KIND_NOTE: return "note";
    default: return "unknown";
    }
}

int
hg_shard_of (const char *pseudonym, int shards)
{
    if (shards <= 1) {
        return 0;
    }
    uint32_t v = 0;
    for (int i = 0; i < 8 && pseudonym[i]; i++) {
        char c = pseudonym[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : 0;
        v = (v << 4) | (uint32_t) d;
    }
    return (int) (v % (uint32_t) shards);
}

/* ---- walking a packed RecordBatch ------------------------------------------ */

/* A base-128 varint at p[*off..len); false when truncated or over 10 bytes. */
static bool
s_wire_varint (const uint8_t *p, size_t len, size_t *off, uint64_t *v)
{
    uint64_t x = 0;
    for (unsigned shift = 0; shift < 70 && *off < len; shift += 7) {
        uint8_t b = p[(*off)++];
        x |= (uint64_t) (b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return true;
        }
    }
    return false;
}

int
hg_record_batch_next (const uint8_t *batch, size_t len, size_t *off, const uint8_t **rec,
                      size_t *rec_len)
{
    while (*off < len) {
        uint64_t tag, n;
        /* field 0 is invalid protobuf, but protobuf-c skips it as unknown:
         * so does the walk, which must accept whatever protobuf-c does */
        if (!s_wire_varint (batch, len, off, &tag) || (tag >> 3 == 1 && (tag & 7) != 2)) {
            return -1;      /* records are length-delimited */
        }
        switch (tag & 7) {
        case 0:     /* varint */
            if (!s_wire_varint (batch, len, off, &n)) {
                return -1;
            }
            break;
        case 1:     /* 64-bit */
        case 5:     /* 32-bit */
            n = (tag & 7) == 1 ? 8 : 4;
            if (len - *off < n) {
                return -1;
            }
            *off += n;
            break;
        case 2:     /* length-delimited */
            if (!s_wire_varint (batch, len, off, &n) || n > len - *off) {
                return -1;
            }
            if (tag >> 3 == 1) {    /* RecordBatch.records */
                *rec = batch + *off;
                *rec_len = (size_t) n;
                *off += (size_t) n;
                return 1;
            }
            *off += (size_t) n;
            break;
        default:    /* groups (deprecated) and invalid wire types */
            return -1;
        }
    }
    return 0;
}
