/*
 * hl7v2.c -- HL7 v2 ER7 messages to canonical records.
 *
 * The tokenizer works on spans of the caller's buffer (parsekit.h; never copies, never
 * needs a NUL): payload -> segments (CR, LF or CRLF) -> messages (from one
 * MSH to the next) -> fields -> repetitions -> components -> subcomponents.
 * Only extracted values are copied, unescaped, into the batch arena.
 * Delimiters come from each message's MSH-1 and MSH-2.
 */
#include "hl7v2.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codesys.h"
#include "date.h"
#include "parsekit.h"
#include "util.h"

/* Message types mapped, for the reject reasons. */
#define S_SUPPORTED                                                   \
    "ADT^A01, ADT^A03, ADT^A04, ADT^A08, ADT^A40, ORM^O01, OML^O21, " \
    "ORU^R01, RDE^O11, VXU^V04, MDM^T02, MDM^T04, MDM^T06, MDM^T08, MDM^T10"
/* Identifier type of the prior patient id carried by an ADT^A40 merge. */
#define S_ID_MERGED "MERGED"
/* Repetitions mapped per identifier/telecom field: hostile input with
 * thousands of them must not grow the record without bound. */
#define S_MAX_REPS 64

typedef struct {
    char field; /* MSH-1 */
    char comp;  /* MSH-2 [0] */
    char rep;   /* MSH-2 [1], 0 when absent */
    char esc;   /* MSH-2 [2], 0 when absent */
    char sub;   /* MSH-2 [3], 0 when absent */
} s_delims_t;

/* Where the fields of one segment start, found in one pass when a field of
 * it is first asked for (mapping reads a segment's fields one by one; each
 * used to scan the segment from its start). */
#define S_FIELDS_MAX 64
typedef struct {
    const char *p; /* the segment (NULL: none yet) */
    size_t n;
    char sep;
    size_t count; /* fields found, at most S_FIELDS_MAX */
    bool more;    /* there are fields past those */
    size_t start[S_FIELDS_MAX];
} s_fields_t;

typedef struct {
    hg_batch_t *out;
    hg_arena_t *a;
    size_t max_field_bytes; /* 0: none */
    bool oom;
    bool limit_hit; /* the batch's record limit refused a record */
    /* the message being mapped */
    s_delims_t d;
    const hg_span_t *segs; /* its segments, segs[0] is MSH */
    size_t n_segs;
    size_t msg_no;          /* 1-based */
    const char *control_id; /* MSH-10, unescaped */
    bool sender_tz;         /* MSH-7 carries a zone offset: the sender's zone */
    int sender_tz_min;      /* that offset, minutes east of UTC */
    char msg_where[160];    /* "message 2 (MSH-10 'X')" */
    char where[224];        /* msg_where + " segment OBX[3]" */
    hg_span_t excerpt;
    s_fields_t *fields;  /* field offsets of the segment read last */
    size_t nte_attached; /* NTEs of the message taken into a record's text */
} s_ctx_t;

/* ------------------------------------------------------------------------
 * Tokenizer */

/* Piece idx (0-based) of span split at sep; empty when there is none. */
static hg_span_t
s_piece (hg_span_t s, char sep, size_t idx)
{
    hg_span_t r;
    return hg_span_piece (s, sep, idx, &r) ? r : HG_SPAN_EMPTY;
}

/* Piece idx of seg split at sep, as s_piece, through the offsets of the
 * segment's fields in fc (computed when seg is not the one they are of). */
static hg_span_t
s_field_piece (s_fields_t *fc, hg_span_t seg, char sep, size_t idx)
{
    if (!fc || !sep) {
        return s_piece (seg, sep, idx);
    }
    if (fc->p != seg.p || fc->n != seg.n || fc->sep != sep) {
        fc->p = seg.p;
        fc->n = seg.n;
        fc->sep = sep;
        fc->count = 0;
        fc->more = false;
        size_t start = 0;
        for (;;) {
            if (fc->count == S_FIELDS_MAX) {
                fc->more = true;
                break;
            }
            fc->start[fc->count++] = start;
            const char *next = memchr (seg.p + start, sep, seg.n - start);
            if (!next) {
                break;
            }
            start = (size_t) (next - seg.p) + 1;
        }
    }
    if (idx >= fc->count) {
        return fc->more ? s_piece (seg, sep, idx) : HG_SPAN_EMPTY;
    }
    size_t end = idx + 1 < fc->count ? fc->start[idx + 1] - 1 : seg.n;
    if (idx + 1 == fc->count && fc->more) {
        /* the last remembered field ends at the next separator */
        const char *next = memchr (seg.p + fc->start[idx], sep, seg.n - fc->start[idx]);
        end = next ? (size_t) (next - seg.p) : seg.n;
    }
    hg_span_t r = {seg.p + fc->start[idx], end - fc->start[idx]};
    return r;
}

/* SEG-n; for MSH, MSH-1 is the field separator itself. */
static hg_span_t
s_field (const s_ctx_t *ctx, hg_span_t seg, size_t n)
{
    if (seg.n >= 3 && memcmp (seg.p, "MSH", 3) == 0) {
        if (n == 1) {
            hg_span_t r = {seg.p + 3, seg.n > 3 ? 1 : 0};
            return r;
        }
        return n >= 2 ? s_field_piece (ctx->fields, seg, ctx->d.field, n - 1) : HG_SPAN_EMPTY;
    }
    return s_field_piece (ctx->fields, seg, ctx->d.field, n);
}

static hg_span_t
s_rep (const s_ctx_t *ctx, hg_span_t f, size_t r)
{
    return s_piece (f, ctx->d.rep, r);
}

/* Component c (1-based); 0 gives the span unchanged. */
static hg_span_t
s_comp (const s_ctx_t *ctx, hg_span_t s, size_t c)
{
    return c == 0 ? s : s_piece (s, ctx->d.comp, c - 1);
}

static hg_span_t
s_subc (const s_ctx_t *ctx, hg_span_t s, size_t c)
{
    return s_piece (s, ctx->d.sub, c - 1);
}

static bool
s_seg_is (const s_ctx_t *ctx, hg_span_t seg, const char *name)
{
    return seg.n >= 3 && memcmp (seg.p, name, 3) == 0 && (seg.n == 3 || seg.p[3] == ctx->d.field);
}

/* Decodes escape sequences of s into out (room for s.n + 1 bytes); the
 * result never grows. NUL bytes are dropped; spaces trimmed at both ends. */
static size_t
s_unescape (const s_delims_t *d, hg_span_t s, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < s.n; i++) {
        char c = s.p[i];
        if (d->esc && c == d->esc) {
            const char *close = memchr (s.p + i + 1, d->esc, s.n - i - 1);
            if (close) {
                const char *q = s.p + i + 1;
                size_t qn = (size_t) (close - q);
                bool known = true;
                if (qn == 1 && *q == 'F') {
                    out[o++] = d->field;
                }
                else if (qn == 1 && *q == 'S') {
                    out[o++] = d->comp;
                }
                else if (qn == 1 && *q == 'T' && d->sub) {
                    out[o++] = d->sub;
                }
                else if (qn == 1 && *q == 'R' && d->rep) {
                    out[o++] = d->rep;
                }
                else if (qn == 1 && *q == 'E') {
                    out[o++] = d->esc;
                }
                else if (qn == 3 && memcmp (q, ".br", 3) == 0) {
                    out[o++] = '\n';
                }
                else if (qn >= 3 && *q == 'X' && (qn - 1) % 2 == 0) {
                    size_t k;
                    for (k = 1; k + 1 < qn; k += 2) {
                        if (hg_hex_digit (q[k]) < 0 || hg_hex_digit (q[k + 1]) < 0) {
                            break;
                        }
                    }
                    if (k + 1 < qn) {
                        known = false;
                    }
                    else {
                        for (k = 1; k + 1 < qn; k += 2) {
                            char b = (char) (hg_hex_digit (q[k]) * 16 + hg_hex_digit (q[k + 1]));
                            if (b) {
                                out[o++] = b;
                            }
                        }
                    }
                }
                else if ((qn == 1 && (*q == 'H' || *q == 'N'))
                         || (qn >= 1 && (*q == 'Z' || *q == 'C' || *q == 'M'))
                         || (qn >= 3 && *q == '.')) {
                    /* highlighting, charset and formatting: dropped */
                }
                else {
                    known = false;
                }
                if (known) {
                    i += qn + 1;
                    continue;
                }
            }
        }
        if (c != '\0') {
            out[o++] = c;
        }
    }
    size_t start = 0;
    while (start < o && (out[start] == ' ' || out[start] == '\t')) {
        start++;
    }
    while (o > start && (out[o - 1] == ' ' || out[o - 1] == '\t')) {
        o--;
    }
    if (start) {
        memmove (out, out + start, o - start);
    }
    o -= start;
    out[o] = '\0';
    return o;
}

/* Unescaped arena copy of a span ("" when empty; ctx->oom on failure). */
static char *
s_text (s_ctx_t *ctx, hg_span_t s)
{
    if (s.n == 0) {
        return (char *) protobuf_c_empty_string;
    }
    char *buf = hg_arena_alloc (ctx->a, s.n + 1);
    if (!buf) {
        ctx->oom = true;
        return (char *) protobuf_c_empty_string;
    }
    if (s_unescape (&ctx->d, s, buf) == 0) {
        return (char *) protobuf_c_empty_string;
    }
    return buf;
}

/* First subcomponent of component c of the first repetition of SEG-f. */
static char *
s_value (s_ctx_t *ctx, hg_span_t seg, size_t f, size_t c)
{
    hg_span_t v = s_rep (ctx, s_field (ctx, seg, f), 0);
    if (c > 0) {
        v = s_subc (ctx, s_comp (ctx, v, c), 1);
    }
    return s_text (ctx, v);
}

/* ------------------------------------------------------------------------
 * Rejects, records */

static void s_reject (s_ctx_t *ctx, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_reject (s_ctx_t *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    hg_batch_vreject (ctx->out, ctx->excerpt.p, ctx->excerpt.n, ctx->where, "", "", fmt, ap);
    va_end (ap);
}

/* Sets ctx->where and the excerpt to a segment of the message. */
static void
s_at_segment (s_ctx_t *ctx, hg_span_t seg, const char *name, size_t n)
{
    /* "%s segment %s[%zu]" (or without [n]), built without snprintf: this
     * runs for every segment */
    char *w = ctx->where;
    size_t size = sizeof (ctx->where), used = 0;
    const char *parts[] = {ctx->msg_where, " segment ", name};
    for (size_t i = 0; i < 3; i++) {
        size_t len = strlen (parts[i]);
        len = used + len < size ? len : size - 1 - used;
        memcpy (w + used, parts[i], len);
        used += len;
    }
    if (n) {
        char num[24];
        size_t k = sizeof (num);
        num[--k] = ']';
        do {
            num[--k] = (char) ('0' + n % 10);
            n /= 10;
        } while (n);
        num[--k] = '[';
        size_t len = sizeof (num) - k;
        len = used + len < size ? len : size - 1 - used;
        memcpy (w + used, num + k, len);
        used += len;
    }
    w[used] = '\0';
    ctx->excerpt = seg;
}

static Hourglass__Record *
s_new_record (s_ctx_t *ctx, Hourglass__RecordKind kind, const char *seg, size_t n)
{
    Hourglass__Record *rec = hg_batch_try_add (ctx->out, kind, &ctx->limit_hit, &ctx->oom);
    if (!rec) {
        return NULL;
    }
    rec->provenance = hg_provenance_new (ctx->a);
    char *fmt = rec->provenance ? hg_arena_strdup (ctx->a, "hl7v2") : NULL;
    char *id = n ? hg_arena_printf (ctx->a, "%s/%s[%zu]", ctx->control_id, seg, n)
                 : hg_arena_printf (ctx->a, "%s/%s", ctx->control_id, seg);
    if (!fmt || !id) {
        ctx->oom = true;
        return NULL;
    }
    rec->provenance->source_format = fmt;
    rec->provenance->source_record_id = id;
    return rec;
}

static void
s_check (s_ctx_t *ctx, int rc)
{
    if (rc < 0) {
        ctx->oom = true;
    }
}

/* HL7 date -> ISO in the arena. A clinical time (not PID's birth or death)
 * without a zone takes the sender's zone from MSH-7: HL7 v2 (2.A.22 DTM)
 * says a time without an offset is in the sender's local zone, and MSH-7
 * is where a sender states it. So an OBX-14 "202301151030" of a message
 * stamped "...-0500" is the instant a FHIR "2023-01-15T10:30:00-05:00" is,
 * and both become the same UTC time. 0, or -1 with err filled. */
static int
s_date (s_ctx_t *ctx, const char *txt, char **out, hg_err_t *err, bool clinical)
{
    hg_date_t d;
    hg_err_clear (err);
    if (hg_date_parse_hl7 (txt, strlen (txt), &d, err) < 0) {
        return -1;
    }
    if (clinical && ctx->sender_tz && !d.has_tz && d.prec >= HG_PREC_MINUTE) {
        d.has_tz = true;
        d.tz_offset_min = ctx->sender_tz_min;
    }
    char buf[HG_DATE_ISO_MAX];
    hg_date_format_iso (&d, buf, sizeof (buf));
    *out = hg_arena_strdup (ctx->a, buf);
    if (!*out) {
        ctx->oom = true;
        *out = (char *) protobuf_c_empty_string;
    }
    return 0;
}

/* Optional date field SEG-f.1 (clinical: see s_date): 0 stored or empty,
 * -1 rejected. */
static int
s_date_field (s_ctx_t *ctx, hg_span_t seg, const char *label, size_t f, char **out, bool clinical)
{
    const char *txt = s_value (ctx, seg, f, 1);
    if (!*txt) {
        return 0;
    }
    hg_err_t err;
    if (s_date (ctx, txt, out, &err, clinical) < 0) {
        s_reject (ctx, "%s-%zu %s", label, f, err.msg);
        return -1;
    }
    return 0;
}

/* A date field that may give a record its effective time. */
typedef struct {
    hg_span_t seg;     /* empty: skipped */
    const char *label; /* "OBR" */
    size_t f;
} s_date_src_t;

/* effective from the first non-empty of several date fields; what names
 * the date in the reason ("the order's date"). 0, or -1 rejected. */
static int
s_first_date (s_ctx_t *ctx, const s_date_src_t *src, size_t n, const char *what, char **out)
{
    for (size_t i = 0; i < n; i++) {
        const char *txt = src[i].seg.n ? s_value (ctx, src[i].seg, src[i].f, 1) : "";
        if (!*txt) {
            continue;
        }
        hg_err_t err;
        if (s_date (ctx, txt, out, &err, true) < 0) {
            s_reject (ctx, "%s-%zu %s (%s)", src[i].label, src[i].f, err.msg, what);
            return -1;
        }
        return 0;
    }
    return 0;
}

const char *
hg_hl7v2_system_uri (const char *name)
{
    return name ? hg_codesys_uri (name, strlen (name), HG_CODESYS_HL7) : NULL;
}

/* HL7 coding system name -> URI; others kept as given. */
static const char *
s_system (const char *name)
{
    const char *uri = hg_hl7v2_system_uri (name);
    return uri ? uri : name;
}

/* Adds the codings of a CE/CWE (first repetition): .1/.2/.3 and the
 * alternate .4/.5/.6. Returns how many were added. */
static size_t
s_add_ce (s_ctx_t *ctx, Hourglass__Record *rec, hg_span_t field)
{
    hg_span_t ce = s_rep (ctx, field, 0);
    size_t added = 0;
    for (size_t base = 1; base <= 4 && !ctx->oom; base += 3) {
        const char *code = s_text (ctx, s_comp (ctx, ce, base));
        if (!*code) {
            continue;
        }
        const char *display = s_text (ctx, s_comp (ctx, ce, base + 1));
        const char *sys = s_system (s_text (ctx, s_comp (ctx, ce, base + 2)));
        s_check (ctx, hg_record_add_code (ctx->a, rec, sys, code, display));
        added++;
    }
    return added;
}

/* ------------------------------------------------------------------------
 * PID -> demographics */

static void
s_telecom (s_ctx_t *ctx, Hourglass__Demographics *d, hg_span_t field)
{
    size_t pos = 0, r = 0;
    hg_span_t xtn;
    while (r++ < S_MAX_REPS && !ctx->oom && hg_span_next (field, ctx->d.rep, &pos, &xtn)) {
        const char *plain = s_text (ctx, s_comp (ctx, xtn, 1));
        const char *email = s_text (ctx, s_comp (ctx, xtn, 4));
        const char *area = s_text (ctx, s_comp (ctx, xtn, 6));
        const char *local = s_text (ctx, s_comp (ctx, xtn, 7));
        if (*plain) {
            s_check (ctx, hg_strv_push (ctx->a, &d->telecom, &d->n_telecom, plain));
        }
        if (*local) {
            char *fmt = *area ? hg_arena_printf (ctx->a, "(%s) %s", area, local)
                              : hg_arena_strdup (ctx->a, local);
            if (!fmt) {
                ctx->oom = true;
                return;
            }
            if (strcmp (fmt, plain) != 0) {
                s_check (ctx, hg_strv_push (ctx->a, &d->telecom, &d->n_telecom, fmt));
            }
        }
        if (strchr (email, '@')) {
            s_check (ctx, hg_strv_push (ctx->a, &d->telecom, &d->n_telecom, email));
        }
    }
}

static void
s_address (s_ctx_t *ctx, Hourglass__Demographics *d, hg_span_t field)
{
    hg_span_t xad = s_rep (ctx, field, 0);
    if (xad.n == 0) {
        return;
    }
    /* XAD.1 is SAD (street&name&number): join its parts with spaces */
    hg_span_t street = s_comp (ctx, xad, 1);
    char *line = hg_arena_alloc (ctx->a, street.n + 1);
    if (!line) {
        ctx->oom = true;
        return;
    }
    size_t o = 0, pos = 0;
    hg_span_t sub;
    while (hg_span_next (street, ctx->d.sub, &pos, &sub)) {
        char part[256];
        if (sub.n >= sizeof (part)) {
            sub.n = sizeof (part) - 1;
        }
        size_t pn = s_unescape (&ctx->d, sub, part);
        if (pn && o + pn + 1 <= street.n) {
            if (o) {
                line[o++] = ' ';
            }
            memcpy (line + o, part, pn);
            o += pn;
        }
    }
    line[o] = '\0';
    if (o) {
        s_check (ctx, hg_strv_push (ctx->a, &d->address_lines, &d->n_address_lines, line));
    }
    const char *other = s_text (ctx, s_comp (ctx, xad, 2));
    if (*other) {
        s_check (ctx, hg_strv_push (ctx->a, &d->address_lines, &d->n_address_lines, other));
    }
    d->city = s_text (ctx, s_subc (ctx, s_comp (ctx, xad, 3), 1));
    d->state = s_text (ctx, s_subc (ctx, s_comp (ctx, xad, 4), 1));
    d->postal_code = s_text (ctx, s_subc (ctx, s_comp (ctx, xad, 5), 1));
    d->country = s_text (ctx, s_subc (ctx, s_comp (ctx, xad, 6), 1));
}

/* Patient id from a CX list (PID-3, MRG-1): the MR repetition, else the
 * first one. *cx_out (may be NULL) gets the chosen repetition. */
static const char *
s_patient_id (s_ctx_t *ctx, hg_span_t pid3, hg_span_t *cx_out)
{
    const char *first = "";
    size_t pos = 0, r = 0;
    hg_span_t cx;
    while (hg_span_next (pid3, ctx->d.rep, &pos, &cx) && !ctx->oom) {
        const char *value = s_text (ctx, s_subc (ctx, s_comp (ctx, cx, 1), 1));
        if (r++ == 0) {
            first = value;
            if (cx_out) {
                *cx_out = cx;
            }
        }
        if (*value && strcmp (s_text (ctx, s_comp (ctx, cx, 5)), "MR") == 0) {
            if (cx_out) {
                *cx_out = cx;
            }
            return value;
        }
    }
    return first;
}

/* Assigning authority of a CX: HD.1 namespace, else HD.2 universal id. */
static const char *
s_cx_system (s_ctx_t *ctx, hg_span_t cx)
{
    hg_span_t hd = s_comp (ctx, cx, 4);
    const char *sys = s_text (ctx, s_subc (ctx, hd, 1));
    return *sys ? sys : s_text (ctx, s_subc (ctx, hd, 2));
}

/* Maps PID (source id "PID", or "PID[n]" when n > 0) and returns its
 * record in *rec_out (may be NULL); -1 rejects the message (reason already
 * written). */

/* Keeps the message's Z-segments (site-defined, meaning local to the sender)
 * raw in the provenance of every record the message produced from index
 * start on: nothing the partner sent is lost, and the de-identifier drops
 * them, since they may hold anything. At most S_MAX_REPS segments, each
 * within max_field_bytes. */
static void
s_keep_z_segments (s_ctx_t *ctx, size_t start)
{
    size_t n_records = hg_batch_record_count (ctx->out);
    if (n_records <= start) {
        return;
    }
    char **z = NULL;
    size_t nz = 0;
    for (size_t i = 1; i < ctx->n_segs && nz < S_MAX_REPS; i++) {
        hg_span_t seg = ctx->segs[i];
        if (seg.n < 3 || seg.p[0] != 'Z') {
            continue;
        }
        if (ctx->max_field_bytes && seg.n > ctx->max_field_bytes) {
            continue;
        }
        if (!z) {
            z = hg_arena_alloc (ctx->a, S_MAX_REPS * sizeof (*z));
        }
        char *copy = z ? hg_arena_strndup (ctx->a, seg.p, seg.n) : NULL;
        if (!copy) {
            ctx->oom = true;
            return;
        }
        z[nz++] = copy;
    }
    Hourglass__Record **recs = hg_batch_records (ctx->out);
    for (size_t r = start; nz && r < n_records; r++) {
        if (recs[r]->provenance) {
            recs[r]->provenance->n_z_segments = nz;
            recs[r]->provenance->z_segments = z;
        }
    }
}

static int
s_pid (s_ctx_t *ctx, hg_span_t pid, size_t n, const char **patient, Hourglass__Record **rec_out)
{
    s_at_segment (ctx, pid, "PID", n);
    hg_span_t pid3 = s_field (ctx, pid, 3);
    const char *id = s_patient_id (ctx, pid3, NULL);
    if (!*id) {
        s_reject (ctx, "PID-3 patient identifier list is empty; the message cannot be "
                       "linked to a patient");
        return -1;
    }
    Hourglass__Record *rec = s_new_record (ctx, HOURGLASS__RECORD_KIND__KIND_DEMOGRAPHICS, "PID",
                                           n);
    if (!rec) {
        return -1;
    }
    rec->patient_ref = (char *) id;
    Hourglass__Demographics *d = hg_demographics_new (ctx->a);
    if (!d) {
        ctx->oom = true;
        return -1;
    }
    rec->demographics = d;

    size_t pos = 0, r = 0;
    hg_span_t cx;
    while (r++ < S_MAX_REPS && !ctx->oom && hg_span_next (pid3, ctx->d.rep, &pos, &cx)) {
        const char *value = s_text (ctx, s_subc (ctx, s_comp (ctx, cx, 1), 1));
        if (!*value) {
            continue;
        }
        s_check (ctx, hg_record_add_identifier (ctx->a, rec, s_cx_system (ctx, cx), value,
                                                s_text (ctx, s_comp (ctx, cx, 5))));
    }
    const char *ssn = s_value (ctx, pid, 19, 1);
    if (*ssn) {
        s_check (ctx, hg_record_add_identifier (ctx->a, rec, HG_SYS_SSN, ssn, "SS"));
    }

    hg_span_t xpn = s_rep (ctx, s_field (ctx, pid, 5), 0);
    d->family = s_text (ctx, s_subc (ctx, s_comp (ctx, xpn, 1), 1));
    for (size_t c = 2; c <= 3; c++) {
        const char *g = s_text (ctx, s_subc (ctx, s_comp (ctx, xpn, c), 1));
        if (*g) {
            s_check (ctx, hg_strv_push (ctx->a, &d->given, &d->n_given, g));
        }
    }
    if (s_date_field (ctx, pid, "PID", 7, &d->birth_date, false) < 0) {
        return -1;
    }
    const char *sex = s_value (ctx, pid, 8, 1);
    if (*sex) {
        d->sex = (char *) (strcmp (sex, "M") == 0   ? "male"
                           : strcmp (sex, "F") == 0 ? "female"
                           : strcmp (sex, "O") == 0 ? "other"
                                                    : "unknown");
    }
    s_address (ctx, d, s_field (ctx, pid, 11));
    s_telecom (ctx, d, s_field (ctx, pid, 13));
    s_telecom (ctx, d, s_field (ctx, pid, 14));
    if (s_date_field (ctx, pid, "PID", 29, &d->deceased_date, false) < 0) {
        return -1;
    }
    *patient = id;
    if (rec_out) {
        *rec_out = rec;
    }
    return ctx->oom ? -1 : 0;
}

/* ------------------------------------------------------------------------
 * ADT: PV1 -> encounter, DG1 -> condition */

static void
s_pv1 (s_ctx_t *ctx, hg_span_t pv1, const char *patient, const char *visit)
{
    static const struct {
        const char *cls, *code, *display;
    } map[] = {
        {"I", "IMP", "inpatient encounter"}, {"O", "AMB", "ambulatory"},
        {"E", "EMER", "emergency"},          {"P", "PRENC", "pre-admission"},
        {"R", "AMB", "ambulatory"},          {"B", "AMB", "ambulatory"},
    };
    s_at_segment (ctx, pv1, "PV1", 0);
    hg_batch_mark_t start = hg_batch_mark (ctx->out);
    Hourglass__Record *rec = s_new_record (ctx, HOURGLASS__RECORD_KIND__KIND_ENCOUNTER, "PV1", 0);
    if (!rec) {
        return;
    }
    rec->patient_ref = (char *) patient;
    rec->encounter_ref = (char *) visit;
    const char *cls = s_value (ctx, pv1, 2, 1);
    if (*cls) {
        size_t i;
        for (i = 0; i < sizeof (map) / sizeof (map[0]); i++) {
            if (strcmp (cls, map[i].cls) == 0) {
                s_check (ctx, hg_record_add_code (ctx->a, rec, HG_SYS_ACTCODE, map[i].code,
                                                  map[i].display));
                break;
            }
        }
        if (i == sizeof (map) / sizeof (map[0])) {
            s_check (ctx, hg_record_add_code (ctx->a, rec, HG_SYS_ACTCODE, cls, ""));
        }
    }
    if (s_date_field (ctx, pv1, "PV1", 44, &rec->effective, true) < 0
        || s_date_field (ctx, pv1, "PV1", 45, &rec->effective_end, true) < 0) {
        hg_batch_rollback (ctx->out, start);
    }
}

static void
s_dg1 (s_ctx_t *ctx, hg_span_t dg1, size_t n, const char *patient, const char *visit)
{
    s_at_segment (ctx, dg1, "DG1", n);
    hg_batch_mark_t start = hg_batch_mark (ctx->out);
    Hourglass__Record *rec = s_new_record (ctx, HOURGLASS__RECORD_KIND__KIND_CONDITION, "DG1", n);
    if (!rec) {
        return;
    }
    rec->patient_ref = (char *) patient;
    rec->encounter_ref = (char *) visit;
    bool bad = false;
    if (s_add_ce (ctx, rec, s_field (ctx, dg1, 3)) == 0) {
        s_reject (ctx, "DG1-3 diagnosis code is empty; a condition needs a code");
        bad = true;
    }
    else if (s_date_field (ctx, dg1, "DG1", 5, &rec->effective, true) < 0) {
        bad = true;
    }
    if (bad) {
        hg_batch_rollback (ctx->out, start);
    }
}

/* ------------------------------------------------------------------------
 * ORU: OBX -> lab observation */

/* Strict decimal: [+-]digits[.digits] or [+-].digits; no exponent. */
static bool
s_is_decimal (const char *s)
{
    size_t i = 0, digits = 0;
    if (s[i] == '+' || s[i] == '-') {
        i++;
    }
    while (isdigit ((unsigned char) s[i])) {
        i++;
        digits++;
    }
    if (s[i] == '.') {
        i++;
        while (isdigit ((unsigned char) s[i])) {
            i++;
            digits++;
        }
    }
    return digits > 0 && s[i] == '\0';
}

/* "<=5.0" -> comparator "<=", number 5.0. false when not a number. */
static bool
s_numeric (const char *txt, const char **cmp, double *value)
{
    *cmp = hg_parse_comparator (&txt, true);
    if (!s_is_decimal (txt)) {
        return false;
    }
    *value = strtod (txt, NULL);
    return true;
}

static int
s_set_quantity (s_ctx_t *ctx, Hourglass__Record *rec, double value, const char *cmp,
                const char *unit)
{
    rec->quantity = hg_quantity_new (ctx->a, value, unit);
    if (!rec->quantity) {
        ctx->oom = true;
        return -1;
    }
    if (*cmp) {
        rec->quantity->comparator = hg_arena_strdup (ctx->a, cmp);
        if (!rec->quantity->comparator) {
            ctx->oom = true;
            return -1;
        }
    }
    rec->value_case = HOURGLASS__RECORD__VALUE_QUANTITY;
    return 0;
}

/* Repetitions of a field, unescaped, joined with newlines. */
static char *
s_joined (s_ctx_t *ctx, hg_span_t field)
{
    size_t reps = hg_span_count (field, ctx->d.rep);
    if (reps <= 1) {
        return s_text (ctx, field);
    }
    char *buf = hg_arena_alloc (ctx->a, field.n + 1);
    if (!buf) {
        ctx->oom = true;
        return (char *) protobuf_c_empty_string;
    }
    size_t o = 0, pos = 0, r = 0;
    hg_span_t rep;
    while (hg_span_next (field, ctx->d.rep, &pos, &rep)) {
        if (r++) {
            buf[o++] = '\n'; /* replaces the repetition separator */
        }
        o += s_unescape (&ctx->d, rep, buf + o);
    }
    buf[o] = '\0';
    return o ? buf : (char *) protobuf_c_empty_string;
}

/* OBX-5 by OBX-2. 0, or -1 rejected. */
static int
s_obx_value (s_ctx_t *ctx, Hourglass__Record *rec, hg_span_t obx)
{
    const char *vt = s_value (ctx, obx, 2, 1);
    hg_span_t field = s_field (ctx, obx, 5);
    if (field.n == 0) {
        return 0;
    }
    const char *unit = s_value (ctx, obx, 6, 1);
    hg_span_t first = s_rep (ctx, field, 0);
    if (strcmp (vt, "NM") == 0) {
        const char *txt = s_text (ctx, first);
        const char *cmp;
        double v;
        if (!*txt) {
            return 0;
        }
        if (!s_numeric (txt, &cmp, &v)) {
            s_reject (ctx, "OBX-5 '%.60s' is not a number but OBX-2 is NM", txt);
            return -1;
        }
        return s_set_quantity (ctx, rec, v, cmp, unit);
    }
    if (strcmp (vt, "SN") == 0) {
        /* comparator ^ num1 ^ separator ^ num2: a plain number becomes a quantity */
        const char *c1 = s_text (ctx, s_comp (ctx, first, 1));
        const char *n1 = s_text (ctx, s_comp (ctx, first, 2));
        const char *c3 = s_text (ctx, s_comp (ctx, first, 3));
        const char *n2 = s_text (ctx, s_comp (ctx, first, 4));
        if (!*c3 && !*n2 && *n1 && s_is_decimal (n1)) {
            static const char *const cmps[] = {"", "<", ">", "<=", ">=", "="};
            for (size_t i = 0; i < sizeof (cmps) / sizeof (cmps[0]); i++) {
                if (strcmp (c1, cmps[i]) == 0) {
                    return s_set_quantity (ctx, rec, strtod (n1, NULL),
                                           strcmp (c1, "=") == 0 ? "" : c1, unit);
                }
            }
        }
        rec->string_value = hg_arena_printf (ctx->a, "%s%s%s%s", c1, n1, c3, n2);
        if (!rec->string_value) {
            ctx->oom = true;
            return -1;
        }
        rec->value_case = HOURGLASS__RECORD__VALUE_STRING_VALUE;
        return 0;
    }
    if (strcmp (vt, "CE") == 0 || strcmp (vt, "CWE") == 0 || strcmp (vt, "CNE") == 0
        || strcmp (vt, "CF") == 0) {
        const char *code = s_text (ctx, s_comp (ctx, first, 1));
        const char *display = s_text (ctx, s_comp (ctx, first, 2));
        if (*code) {
            rec->code_value = hg_coding_new (ctx->a,
                                             s_system (s_text (ctx, s_comp (ctx, first, 3))),
                                             code, display);
            if (!rec->code_value) {
                ctx->oom = true;
                return -1;
            }
            rec->value_case = HOURGLASS__RECORD__VALUE_CODE_VALUE;
        }
        else if (*display) {
            rec->string_value = (char *) display;
            rec->value_case = HOURGLASS__RECORD__VALUE_STRING_VALUE;
        }
        return 0;
    }
    /* ST, TX, FT and every other type: text, repetitions on their own lines */
    char *txt = s_joined (ctx, field);
    if (*txt) {
        rec->string_value = txt;
        rec->value_case = HOURGLASS__RECORD__VALUE_STRING_VALUE;
    }
    return 0;
}

static void
s_obx (s_ctx_t *ctx, hg_span_t obx, size_t n, const char *patient, const char *visit,
       hg_span_t obr, hg_span_t msh)
{
    s_at_segment (ctx, obx, "OBX", n);
    hg_batch_mark_t start = hg_batch_mark (ctx->out);
    Hourglass__Record *rec = s_new_record (ctx, HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION,
                                           "OBX", n);
    if (!rec) {
        return;
    }
    rec->patient_ref = (char *) patient;
    rec->encounter_ref = (char *) visit;
    bool bad = false;
    if (s_add_ce (ctx, rec, s_field (ctx, obx, 3)) == 0) {
        s_reject (ctx, "OBX-3 observation identifier is empty; an observation needs a code");
        bad = true;
    }
    else if (s_obx_value (ctx, rec, obx) < 0) {
        bad = true;
    }
    else {
        /* effective: OBX-14, else OBR-7, else MSH-7 */
        s_date_src_t src[] = {{obx, "OBX", 14}, {obr, "OBR", 7}, {msh, "MSH", 7}};
        bad = s_first_date (ctx, src, 3, "the observation's date", &rec->effective) < 0;
    }
    if (bad) {
        hg_batch_rollback (ctx->out, start);
        return;
    }
    rec->interpretation = s_value (ctx, obx, 8, 1);
    rec->reference_range = s_text (ctx, s_rep (ctx, s_field (ctx, obx, 7), 0));
    rec->status = s_value (ctx, obx, 11, 1);
}

/* Appends a line of text to rec->text ("\n" between lines). */
static void
s_text_line (s_ctx_t *ctx, Hourglass__Record *rec, const char *t)
{
    if (!*t) {
        return;
    }
    size_t have = hg_str_empty (rec->text) ? 0 : strlen (rec->text), n = strlen (t);
    char *buf = hg_arena_alloc (ctx->a, have + n + 2);
    if (!buf) {
        ctx->oom = true;
        return;
    }
    memcpy (buf, rec->text, have);
    if (have) {
        buf[have++] = '\n';
    }
    memcpy (buf + have, t, n + 1);
    rec->text = buf;
}

/* NTE-3, the comment on the record before it (an OBX's observation, an
 * OBR's order), into that record's text. */
static void
s_nte (s_ctx_t *ctx, Hourglass__Record *rec, hg_span_t nte)
{
    s_text_line (ctx, rec, s_joined (ctx, s_field (ctx, nte, 3)));
    ctx->nte_attached++;
}

/* The record a segment just added (the batch grew from before), or NULL. */
static Hourglass__Record *
s_added (s_ctx_t *ctx, size_t before)
{
    return hg_batch_record_count (ctx->out) > before ? hg_batch_records (ctx->out)[before] : NULL;
}

#define S_SYS_V2_0270 "http://terminology.hl7.org/CodeSystem/v2-0270"

/* MDM^T02/T04/T06/T08/T10 (a document with its content): TXA + OBX ->
 * one note. Codes from the first OBX-3 (a LOINC document type), else TXA-2
 * (HL7 table 0270: DS, CN, ...); effective TXA-4 (activity), else TXA-6
 * (origination), else MSH-7; text every OBX-5 (TX, FT, ST: the document's
 * lines) and NTE-3 in order. */
static void
s_mdm (s_ctx_t *ctx, hg_span_t msh, const char *patient, const char *visit)
{
    hg_span_t txa = HG_SPAN_EMPTY, obx = HG_SPAN_EMPTY;
    for (size_t i = 1; i < ctx->n_segs; i++) {
        if (!txa.n && s_seg_is (ctx, ctx->segs[i], "TXA")) {
            txa = ctx->segs[i];
        }
        if (!obx.n && s_seg_is (ctx, ctx->segs[i], "OBX")) {
            obx = ctx->segs[i];
        }
    }
    if (!txa.n) {
        s_reject (ctx, "TXA segment is missing: an MDM message describes its document in TXA");
        return;
    }
    s_at_segment (ctx, txa, "TXA", 0);
    hg_batch_mark_t start = hg_batch_mark (ctx->out);
    Hourglass__Record *rec = s_new_record (ctx, HOURGLASS__RECORD_KIND__KIND_NOTE, "TXA", 0);
    if (!rec) {
        return;
    }
    rec->patient_ref = (char *) patient;
    rec->encounter_ref = (char *) visit;
    size_t codes = obx.n ? s_add_ce (ctx, rec, s_field (ctx, obx, 3)) : 0;
    const char *type = s_value (ctx, txa, 2, 1);
    if (!codes && *type) {
        s_check (ctx, hg_record_add_code (ctx->a, rec, S_SYS_V2_0270, type, ""));
        codes = 1;
    }
    s_date_src_t src[] = {{txa, "TXA", 4}, {txa, "TXA", 6}, {msh, "MSH", 7}};
    if (!codes) {
        s_reject (ctx, "TXA-2 document type is empty and no OBX-3 codes the document; a note "
                       "needs a code");
        hg_batch_rollback (ctx->out, start);
        return;
    }
    if (s_first_date (ctx, src, 3, "the document's date", &rec->effective) < 0) {
        hg_batch_rollback (ctx->out, start);
        return;
    }
    for (size_t i = 1; i < ctx->n_segs && !ctx->oom; i++) {
        hg_span_t seg = ctx->segs[i];
        if (s_seg_is (ctx, seg, "OBX")) {
            s_text_line (ctx, rec, s_joined (ctx, s_field (ctx, seg, 5)));
        }
        else if (s_seg_is (ctx, seg, "NTE")) {
            s_nte (ctx, rec, seg);
        }
    }
}

/* ------------------------------------------------------------------------
 * ORM^O01 / OML^O21: OBR -> procedure (order); RDE^O11: RXE -> medication;
 * VXU^V04: RXA -> medication (immunization); ADT^A40: PID + MRG -> merge */

/* One order: OBR-4 code, effective OBR-7 else ORC-9 of the order's ORC,
 * status ORC-5. */
static void
s_obr_order (s_ctx_t *ctx, hg_span_t obr, size_t n, hg_span_t orc, const char *patient,
             const char *visit)
{
    s_at_segment (ctx, obr, "OBR", n);
    hg_batch_mark_t start = hg_batch_mark (ctx->out);
    Hourglass__Record *rec = s_new_record (ctx, HOURGLASS__RECORD_KIND__KIND_PROCEDURE, "OBR", n);
    if (!rec) {
        return;
    }
    rec->patient_ref = (char *) patient;
    rec->encounter_ref = (char *) visit;
    s_date_src_t src[] = {{obr, "OBR", 7}, {orc, "ORC", 9}};
    if (s_add_ce (ctx, rec, s_field (ctx, obr, 4)) == 0) {
        s_reject (ctx, "OBR-4 universal service identifier is empty; an order needs a code");
        hg_batch_rollback (ctx->out, start);
        return;
    }
    if (s_first_date (ctx, src, 2, "the order's date", &rec->effective) < 0) {
        hg_batch_rollback (ctx->out, start);
        return;
    }
    if (orc.n) {
        rec->status = s_value (ctx, orc, 5, 1);
    }
}

/* Optional amount SEG-f with its CE unit SEG-uf (identifier, else text).
 * "999" means "amount unknown" in immunization messages (CDC IIS guide)
 * when skip_999. 0 (stored or absent), or -1 rejected. */
static int
s_amount (s_ctx_t *ctx, Hourglass__Record *rec, hg_span_t seg, const char *label, size_t f,
          size_t uf, bool skip_999)
{
    const char *txt = s_value (ctx, seg, f, 1);
    if (!*txt || (skip_999 && strcmp (txt, "999") == 0)) {
        return 0;
    }
    if (!s_is_decimal (txt)) {
        s_reject (ctx, "%s-%zu amount '%.60s' is not a number", label, f, txt);
        return -1;
    }
    const char *unit = s_value (ctx, seg, uf, 1);
    if (!*unit) {
        unit = s_value (ctx, seg, uf, 2);
    }
    return s_set_quantity (ctx, rec, strtod (txt, NULL), "", unit);
}

/* One pharmacy order: RXE-2 give code, RXE-3 amount in RXE-5 units,
 * effective ORC-9 else MSH-7, status ORC-5. */
static void
s_rxe (s_ctx_t *ctx, hg_span_t rxe, size_t n, hg_span_t orc, hg_span_t msh, const char *patient,
       const char *visit)
{
    s_at_segment (ctx, rxe, "RXE", n);
    hg_batch_mark_t start = hg_batch_mark (ctx->out);
    Hourglass__Record *rec = s_new_record (ctx, HOURGLASS__RECORD_KIND__KIND_MEDICATION, "RXE",
                                           n);
    if (!rec) {
        return;
    }
    rec->patient_ref = (char *) patient;
    rec->encounter_ref = (char *) visit;
    s_date_src_t src[] = {{orc, "ORC", 9}, {msh, "MSH", 7}};
    if (s_add_ce (ctx, rec, s_field (ctx, rxe, 2)) == 0) {
        s_reject (ctx, "RXE-2 give code is empty; a medication order needs a code");
        hg_batch_rollback (ctx->out, start);
        return;
    }
    if (s_amount (ctx, rec, rxe, "RXE", 3, 5, false) < 0
        || s_first_date (ctx, src, 2, "the medication order's date", &rec->effective) < 0) {
        hg_batch_rollback (ctx->out, start);
        return;
    }
    if (orc.n) {
        rec->status = s_value (ctx, orc, 5, 1);
    }
}

/* One administered vaccine: RXA-5 code (CVX), effective RXA-3, RXA-6
 * amount in RXA-7 units, status RXA-20 completion status. */
static void
s_rxa (s_ctx_t *ctx, hg_span_t rxa, size_t n, const char *patient, const char *visit)
{
    s_at_segment (ctx, rxa, "RXA", n);
    hg_batch_mark_t start = hg_batch_mark (ctx->out);
    Hourglass__Record *rec = s_new_record (ctx, HOURGLASS__RECORD_KIND__KIND_MEDICATION, "RXA",
                                           n);
    if (!rec) {
        return;
    }
    rec->patient_ref = (char *) patient;
    rec->encounter_ref = (char *) visit;
    s_date_src_t src[] = {{rxa, "RXA", 3}};
    if (s_add_ce (ctx, rec, s_field (ctx, rxa, 5)) == 0) {
        s_reject (ctx, "RXA-5 administered code is empty; an immunization needs a vaccine "
                       "code");
        hg_batch_rollback (ctx->out, start);
        return;
    }
    if (s_first_date (ctx, src, 1, "the administration date", &rec->effective) < 0
        || s_amount (ctx, rec, rxa, "RXA", 6, 7, true) < 0) {
        hg_batch_rollback (ctx->out, start);
        return;
    }
    rec->status = s_value (ctx, rxa, 20, 1);
}

/* ADT^A40: each patient group (PID ... MRG) gives the surviving patient's
 * demographics with the prior id (MRG-1) as an identifier of type MERGED;
 * no clinical record. A group without MRG or with an empty MRG-1 rejects
 * the message. 0, or -1 (records of the message to be dropped). */
static int
s_merge (s_ctx_t *ctx)
{
    size_t groups = 0;
    for (size_t i = 1; i < ctx->n_segs; i++) {
        groups += s_seg_is (ctx, ctx->segs[i], "PID");
    }
    size_t group = 0;
    for (size_t i = 1; i < ctx->n_segs && !ctx->oom && !ctx->limit_hit; i++) {
        hg_span_t pid = ctx->segs[i];
        if (!s_seg_is (ctx, pid, "PID")) {
            continue;
        }
        group++;
        hg_span_t mrg = HG_SPAN_EMPTY;
        for (size_t j = i + 1; j < ctx->n_segs && !s_seg_is (ctx, ctx->segs[j], "PID"); j++) {
            if (s_seg_is (ctx, ctx->segs[j], "MRG")) {
                mrg = ctx->segs[j];
                break;
            }
        }
        size_t n = groups > 1 ? group : 0;
        if (!mrg.n) {
            s_at_segment (ctx, pid, "PID", n);
            s_reject (ctx, "ADT^A40 without an MRG segment: which patient was merged?");
            return -1;
        }
        hg_span_t cx = HG_SPAN_EMPTY;
        const char *prior = s_patient_id (ctx, s_field (ctx, mrg, 1), &cx);
        if (!*prior) {
            s_at_segment (ctx, mrg, "MRG", n);
            s_reject (ctx, "MRG-1 prior patient identifier list is empty: which patient was "
                           "merged?");
            return -1;
        }
        const char *patient = NULL;
        Hourglass__Record *rec = NULL;
        if (s_pid (ctx, pid, n, &patient, &rec) < 0) {
            return -1;
        }
        s_check (ctx, hg_record_add_identifier (ctx->a, rec, s_cx_system (ctx, cx), prior,
                                                S_ID_MERGED));
    }
    return ctx->oom || ctx->limit_hit ? -1 : 0;
}

/* ------------------------------------------------------------------------
 * Messages */

static bool
s_delim_ok (char c)
{
    return c && !isalnum ((unsigned char) c) && c != '\r' && c != '\n' && c != ' ';
}

/* Reads MSH-1/MSH-2. 0, or -1 rejected. */
static int
s_delimiters (s_ctx_t *ctx, hg_span_t msh)
{
    memset (&ctx->d, 0, sizeof (ctx->d));
    if (msh.n < 5) {
        s_reject (ctx,
                  "MSH segment '%.*s' is too short: MSH-1 (field separator) and MSH-2 "
                  "(encoding characters) are required",
                  (int) msh.n, msh.p);
        return -1;
    }
    const char *enc = msh.p + 4;
    size_t n = 0;
    while (4 + n < msh.n && enc[n] != msh.p[3] && n < 5) {
        n++;
    }
    char chars[5] = {msh.p[3], enc[0], n > 1 ? enc[1] : 0, n > 2 ? enc[2] : 0,
                     n > 3 ? enc[3] : 0};
    if (n == 5 && enc[2] == '\\' && enc[3] == '\\') {
        /* "^~\\&": a backslash doubled by a programming-language string
         * escape, common in exported samples; read as "^~\&" */
        chars[4] = enc[4];
    }
    bool ok = n >= 1 && n <= 5;
    for (size_t i = 0; i < 5 && ok; i++) {
        if (i < 2 || chars[i]) {
            ok = s_delim_ok (chars[i]);
        }
        for (size_t j = 0; j < i && ok; j++) {
            ok = !chars[i] || chars[i] != chars[j];
        }
    }
    if (!ok) {
        s_reject (ctx,
                  "MSH-1/MSH-2 delimiters '%.*s' are invalid: they must be distinct "
                  "punctuation characters (e.g. |^~\\&)",
                  (int) (n + 1 < 8 ? n + 1 : 8), msh.p + 3);
        return -1;
    }
    ctx->d.field = chars[0];
    ctx->d.comp = chars[1];
    ctx->d.rep = chars[2];
    ctx->d.esc = chars[3];
    ctx->d.sub = chars[4];
    return 0;
}

/* Rejects the message when one of its fields is over max_field_bytes. */
static int
s_field_sizes (s_ctx_t *ctx)
{
    if (!ctx->max_field_bytes) {
        return 0;
    }
    for (size_t i = 0; i < ctx->n_segs; i++) {
        hg_span_t seg = ctx->segs[i];
        if (seg.n <= ctx->max_field_bytes) {
            continue;
        }
        size_t start = 0, f = 0;
        bool msh = i == 0;
        for (size_t k = 0; k <= seg.n; k++) {
            if (k == seg.n || seg.p[k] == ctx->d.field) {
                size_t flen = k - start;
                if (flen > ctx->max_field_bytes) {
                    char name[4] = {0};
                    memcpy (name, seg.p, seg.n >= 3 ? 3 : seg.n);
                    for (size_t c = 0; c < 3; c++) {
                        if (!isprint ((unsigned char) name[c])) {
                            name[c] = '?';
                        }
                    }
                    s_at_segment (ctx, seg, name, 0);
                    s_reject (ctx,
                              "%s-%zu is %zu bytes, over the limit of %zu bytes "
                              "(max_field_bytes); the message is rejected",
                              name, msh ? f + 1 : f, flen, ctx->max_field_bytes);
                    return -1;
                }
                f++;
                start = k + 1;
            }
        }
    }
    return 0;
}

static bool
s_supported (const char *type, const char *trigger)
{
    static const char *const pairs[][2] = {
        {"ADT", "A01"}, {"ADT", "A03"}, {"ADT", "A04"}, {"ADT", "A08"}, {"ADT", "A40"},
        {"ORM", "O01"}, {"OML", "O21"}, {"ORU", "R01"}, {"RDE", "O11"}, {"VXU", "V04"},
        {"MDM", "T02"}, {"MDM", "T04"}, {"MDM", "T06"}, {"MDM", "T08"}, {"MDM", "T10"},
    };
    for (size_t i = 0; i < sizeof (pairs) / sizeof (pairs[0]); i++) {
        if (strcmp (type, pairs[i][0]) == 0 && strcmp (trigger, pairs[i][1]) == 0) {
            return true;
        }
    }
    return false;
}

/* The sender's zone: MSH-7's offset when it has one (an invalid MSH-7 is
 * reported where it is used as a date, not here). */
static void
s_sender_zone (s_ctx_t *ctx, hg_span_t msh)
{
    ctx->sender_tz = false;
    ctx->sender_tz_min = 0;
    hg_span_t ts = s_subc (ctx, s_comp (ctx, s_rep (ctx, s_field (ctx, msh, 7), 0), 1), 1);
    char buf[64];
    if (ts.n == 0 || ts.n >= sizeof (buf)) {
        return;
    }
    size_t n = s_unescape (&ctx->d, ts, buf);
    hg_date_t d;
    if (hg_date_parse_hl7 (buf, n, &d, NULL) == 0 && d.has_tz) {
        ctx->sender_tz = true;
        ctx->sender_tz_min = d.tz_offset_min;
    }
}

/* Checks a message's header: delimiters, MSH-10 (kept for locations),
 * the sender's zone, field sizes, MSH-9 and whether we map that type.
 * Returns 1 with *type_p and *trigger_p set when the message can be
 * mapped, 0 when it was rejected, -1 out of memory. */
static int
s_message_header (s_ctx_t *ctx, const char **type_p, const char **trigger_p)
{
    hg_span_t msh = ctx->segs[0];
    const hg_span_t *last = &ctx->segs[ctx->n_segs - 1];
    ctx->excerpt.p = msh.p;
    ctx->excerpt.n = (size_t) (last->p + last->n - msh.p);
    ctx->control_id = "";
    snprintf (ctx->msg_where, sizeof (ctx->msg_where), "message %zu", ctx->msg_no);
    snprintf (ctx->where, sizeof (ctx->where), "%s", ctx->msg_where);
    if (s_delimiters (ctx, msh) < 0) {
        return 0;
    }
    /* the control id for the location before any size check (capped) */
    hg_span_t cid = s_subc (ctx, s_comp (ctx, s_rep (ctx, s_field (ctx, msh, 10), 0), 1), 1);
    if (cid.n > 64) {
        cid.n = 64;
    }
    ctx->control_id = s_text (ctx, cid);
    if (ctx->oom) {
        return -1;
    }
    snprintf (ctx->msg_where, sizeof (ctx->msg_where), "message %zu (MSH-10 '%.64s')",
              ctx->msg_no, ctx->control_id);
    s_sender_zone (ctx, msh);
    snprintf (ctx->where, sizeof (ctx->where), "%s", ctx->msg_where);
    if (s_field_sizes (ctx) < 0) {
        return 0;
    }
    snprintf (ctx->where, sizeof (ctx->where), "%s", ctx->msg_where);
    ctx->excerpt.p = msh.p;
    ctx->excerpt.n = (size_t) (last->p + last->n - msh.p);
    if (!*ctx->control_id) {
        s_reject (ctx, "MSH-10 message control id is missing; every message needs one");
        return 0;
    }
    const char *type = s_value (ctx, msh, 9, 1);
    const char *trigger = s_value (ctx, msh, 9, 2);
    *type_p = type;
    *trigger_p = trigger;
    if (!*type) {
        s_reject (ctx, "MSH-9 message type is missing (supported: " S_SUPPORTED ")");
        return 0;
    }
    if (!s_supported (type, trigger)) {
        s_reject (ctx, "message type %.20s^%.20s is not supported (supported: " S_SUPPORTED ")",
                  type, trigger);
        return 0;
    }
    return 1;
}

/* Maps the segments of a message whose header and PID were taken, by its
 * type. Segments a message type does not map are skipped; Z-segments are
 * kept raw in every record's provenance (s_keep_z_segments). */
static void
s_message_body (s_ctx_t *ctx, const char *type, hg_span_t pv1, const char *patient,
                const char *visit)
{
    hg_span_t msh = ctx->segs[0];
    if (strcmp (type, "ADT") == 0) {
        if (pv1.n) {
            s_pv1 (ctx, pv1, patient, visit);
        }
        size_t n_dg1 = 0;
        for (size_t i = 1; i < ctx->n_segs && !ctx->oom && !ctx->limit_hit; i++) {
            if (s_seg_is (ctx, ctx->segs[i], "DG1")) {
                s_dg1 (ctx, ctx->segs[i], ++n_dg1, patient, visit);
            }
        }
    }
    else if (strcmp (type, "ORM") == 0 || strcmp (type, "OML") == 0) {
        /* OBX of an order: ask-at-order-entry answers (birth weight,
         * gestational age, specimen details), observations of the patient */
        size_t n_obr = 0, n_obx = 0;
        hg_span_t orc = HG_SPAN_EMPTY, obr = HG_SPAN_EMPTY;
        Hourglass__Record *last = NULL; /* an NTE's record */
        for (size_t i = 1; i < ctx->n_segs && !ctx->oom && !ctx->limit_hit; i++) {
            size_t before = hg_batch_record_count (ctx->out);
            if (s_seg_is (ctx, ctx->segs[i], "ORC")) {
                orc = ctx->segs[i];
            }
            else if (s_seg_is (ctx, ctx->segs[i], "OBR")) {
                obr = ctx->segs[i];
                s_obr_order (ctx, obr, ++n_obr, orc, patient, visit);
                last = s_added (ctx, before);
            }
            else if (s_seg_is (ctx, ctx->segs[i], "OBX")) {
                s_obx (ctx, ctx->segs[i], ++n_obx, patient, visit, obr, msh);
                last = s_added (ctx, before);
            }
            else if (s_seg_is (ctx, ctx->segs[i], "NTE") && last) {
                s_nte (ctx, last, ctx->segs[i]);
            }
        }
    }
    else if (strcmp (type, "RDE") == 0) {
        size_t n_rxe = 0;
        hg_span_t orc = HG_SPAN_EMPTY;
        for (size_t i = 1; i < ctx->n_segs && !ctx->oom && !ctx->limit_hit; i++) {
            if (s_seg_is (ctx, ctx->segs[i], "ORC")) {
                orc = ctx->segs[i];
            }
            else if (s_seg_is (ctx, ctx->segs[i], "RXE")) {
                s_rxe (ctx, ctx->segs[i], ++n_rxe, orc, msh, patient, visit);
            }
        }
    }
    else if (strcmp (type, "VXU") == 0) {
        size_t n_rxa = 0;
        for (size_t i = 1; i < ctx->n_segs && !ctx->oom && !ctx->limit_hit; i++) {
            if (s_seg_is (ctx, ctx->segs[i], "RXA")) {
                s_rxa (ctx, ctx->segs[i], ++n_rxa, patient, visit);
            }
        }
    }
    else if (strcmp (type, "MDM") == 0) {
        s_mdm (ctx, msh, patient, visit); /* PV1: the visit only, as in ORU */
    }
    else {
        size_t n_obx = 0;
        hg_span_t obr = HG_SPAN_EMPTY;
        Hourglass__Record *last = NULL; /* an NTE's record: the OBX before it */
        for (size_t i = 1; i < ctx->n_segs && !ctx->oom && !ctx->limit_hit; i++) {
            size_t before = hg_batch_record_count (ctx->out);
            if (s_seg_is (ctx, ctx->segs[i], "OBR")) {
                obr = ctx->segs[i];
                last = NULL;
            }
            else if (s_seg_is (ctx, ctx->segs[i], "OBX")) {
                s_obx (ctx, ctx->segs[i], ++n_obx, patient, visit, obr, msh);
                last = s_added (ctx, before);
            }
            else if (s_seg_is (ctx, ctx->segs[i], "NTE") && last) {
                s_nte (ctx, last, ctx->segs[i]);
            }
        }
    }
}

static bool s_is_envelope (hg_span_t seg);

/* True when a message of type^trigger maps (or takes as context) its
 * segment named seg (3 bytes); first: the first of its name in the message. */
static bool
s_seg_taken (const char *type, const char *trigger, const char *seg, bool first)
{
    static const struct {
        const char *type, *segs;
    } taken[] = {
        {"ADT", "PV1 DG1"},         {"ORM", "PV1 ORC OBR OBX"}, {"OML", "PV1 ORC OBR OBX"},
        {"RDE", "PV1 ORC RXE"},     {"VXU", "PV1 RXA"},         {"ORU", "PV1 OBR OBX"},
        {"MDM", "PV1 TXA OBX NTE"},
    };
    if (strcmp (seg, "MSH") == 0) {
        return true;
    }
    if (strcmp (seg, "PID") == 0) {
        return first || (strcmp (type, "ADT") == 0 && strcmp (trigger, "A40") == 0);
    }
    if (strcmp (type, "ADT") == 0 && strcmp (trigger, "A40") == 0) {
        return strcmp (seg, "MRG") == 0;
    }
    for (size_t i = 0; i < sizeof (taken) / sizeof (taken[0]); i++) {
        if (strcmp (type, taken[i].type) == 0) {
            const char *at = strstr (taken[i].segs, seg);
            bool many = strcmp (seg, "PV1") != 0; /* one visit per message */
            return at && (first || many);
        }
    }
    return false;
}

/* Counts as ignored each segment of the message (mapped, not rejected)
 * that no record holds: "HL7 <SEG> in <type>^<trigger>"; of its NTEs, those
 * a record took into its text are held (ctx->nte_attached: one after a
 * rejected OBX or before any record is ignored). Z-segments are
 * held raw by the message's records (none: ignored too); batch envelopes
 * are "HL7 batch envelope". type and trigger are a supported pair (a fixed
 * list), a segment id is named only when it is one (three of A-Z, 0-9). */
static void
s_count_ignored_segments (s_ctx_t *ctx, const char *type, const char *trigger, bool has_records)
{
    char seen[64][4];
    size_t n_seen = 0, nte_left = ctx->nte_attached;
    for (size_t i = 0; i < ctx->n_segs; i++) {
        hg_span_t seg = ctx->segs[i];
        char id[4] = "";
        bool valid = seg.n >= 3 && (seg.n == 3 || seg.p[3] == ctx->d.field);
        for (size_t k = 0; valid && k < 3; k++) {
            char c = seg.p[k];
            valid = (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
            id[k] = c;
        }
        id[3] = '\0';
        bool first = true;
        for (size_t k = 0; valid && k < n_seen && first; k++) {
            first = strcmp (seen[k], id) != 0;
        }
        if (valid && first && n_seen < 64) {
            memcpy (seen[n_seen++], id, 4);
        }
        char kind[HG_IGNORE_KIND_MAX];
        if (!valid) {
            snprintf (kind, sizeof (kind), "HL7 segment without a valid id");
        }
        else if (s_is_envelope (seg)) {
            snprintf (kind, sizeof (kind), "HL7 batch envelope");
        }
        else if (id[0] == 'Z' ? has_records : s_seg_taken (type, trigger, id, first)) {
            continue;
        }
        else if (strcmp (id, "NTE") == 0 && nte_left > 0) {
            nte_left--; /* in a record's text */
            continue;
        }
        else {
            snprintf (kind, sizeof (kind), "HL7 %s in %s^%s", id, type, trigger);
        }
        hg_batch_ignore (ctx->out, kind);
    }
}

/* Maps one message. Returns 0 to go on, -1 to stop (oom or max_records). */
static int
s_message (s_ctx_t *ctx)
{
    const char *type, *trigger;
    ctx->nte_attached = 0;
    int ok = s_message_header (ctx, &type, &trigger);
    if (ok <= 0) {
        return ok;
    }
    hg_span_t pid = HG_SPAN_EMPTY, pv1 = HG_SPAN_EMPTY;
    for (size_t i = 1; i < ctx->n_segs; i++) {
        if (!pid.n && s_seg_is (ctx, ctx->segs[i], "PID")) {
            pid = ctx->segs[i];
        }
        if (!pv1.n && s_seg_is (ctx, ctx->segs[i], "PV1")) {
            pv1 = ctx->segs[i];
        }
    }
    if (!pid.n) {
        s_reject (ctx, "PID segment is missing: a %s^%s message must identify the patient", type,
                  trigger);
        return 0;
    }
    hg_batch_mark_t start = hg_batch_mark (ctx->out);
    const char *patient = NULL;
    if (strcmp (type, "ADT") == 0 && strcmp (trigger, "A40") == 0) {
        if (s_merge (ctx) < 0) {
            goto drop;
        }
        s_count_ignored_segments (ctx, type, trigger, hg_batch_since (ctx->out, start) > 0);
        return 0;
    }
    if (s_pid (ctx, pid, 0, &patient, NULL) < 0) {
        goto drop;
    }
    const char *visit = pv1.n ? s_value (ctx, pv1, 19, 1) : "";
    s_message_body (ctx, type, pv1, patient, visit);
    if (!ctx->oom && !ctx->limit_hit) {
        s_keep_z_segments (ctx, start);
        s_count_ignored_segments (ctx, type, trigger, hg_batch_since (ctx->out, start) > 0);
        return ctx->oom ? -1 : 0;
    }
drop:
    /* a bad PID, no memory or the record limit: nothing of this message */
    hg_batch_rollback (ctx->out, start);
    return ctx->oom || ctx->limit_hit ? -1 : 0;
}

/* ------------------------------------------------------------------------
 * Payload */

static bool
s_blank (const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != ' ' && p[i] != '\t') {
            return false;
        }
    }
    return true;
}

static bool
s_is_msh (hg_span_t seg)
{
    return seg.n >= 3 && memcmp (seg.p, "MSH", 3) == 0;
}

/* Batch and file envelopes: not part of any message, not an error. */
static bool
s_is_envelope (hg_span_t seg)
{
    return seg.n >= 3
           && (memcmp (seg.p, "FHS", 3) == 0 || memcmp (seg.p, "BHS", 3) == 0
               || memcmp (seg.p, "BTS", 3) == 0 || memcmp (seg.p, "FTS", 3) == 0);
}

/* Splits the payload into non-blank segment spans (malloc'd array). */
static hg_span_t *
s_split (const char *data, size_t len, size_t *n_out)
{
    size_t cap = 64, n = 0;
    hg_span_t *segs = malloc (cap * sizeof (*segs));
    if (!segs) {
        return NULL;
    }
    size_t pos = 0;
    while (pos < len) {
        size_t end = pos;
        while (end < len && data[end] != '\r' && data[end] != '\n') {
            end++;
        }
        if (!s_blank (data + pos, end - pos)) {
            if (n == cap) {
                cap *= 2;
                hg_span_t *grown = realloc (segs, cap * sizeof (*segs));
                if (!grown) {
                    free (segs);
                    return NULL;
                }
                segs = grown;
            }
            segs[n].p = data + pos;
            segs[n].n = end - pos;
            n++;
        }
        pos = end + 1;
    }
    *n_out = n;
    return segs;
}

int
hg_hl7v2_parse (const char *data, size_t len, const hg_parse_limits_t *limits, hg_batch_t *out)
{
    s_ctx_t ctx;
    memset (&ctx, 0, sizeof (ctx));
    s_fields_t fields = {.p = NULL};
    ctx.fields = &fields;
    ctx.out = out;
    ctx.a = hg_batch_arena (out);
    ctx.max_field_bytes = limits ? limits->max_field_bytes : 0;
    hg_batch_mark_t first_record = hg_batch_begin (out, limits);
    hg_parse_payload (&data, &len);
    size_t n_segs = 0;
    hg_span_t *segs = s_split (data, len, &n_segs);
    int rc = 0;
    if (!segs) {
        ctx.oom = true;
        goto cleanup;
    }
    size_t first = 0;
    while (first < n_segs && !s_is_msh (segs[first])) {
        first++;
    }
    char preview[48];
    if (first == n_segs) {
        hg_span_t head = {data, len > 40 ? 40 : len};
        hg_span_show (head, 40, preview);
        hg_batch_reject (out, data, len, "payload",
                         "no MSH segment: an HL7 v2 message must start with MSH (found '%s')",
                         preview);
        goto cleanup;
    }
    size_t stray = 0;
    for (size_t i = 0; i < first; i++) {
        stray += !s_is_envelope (segs[i]);
        if (s_is_envelope (segs[i])) {
            hg_batch_ignore (out, "HL7 batch envelope");
        }
    }
    if (stray) {
        hg_span_t head = segs[0];
        head.n = head.n > 40 ? 40 : head.n;
        hg_span_show (head, 40, preview);
        hg_batch_reject (out, segs[0].p, (size_t) (segs[first].p - segs[0].p), "before message 1",
                         "%zu line(s) of text before the first MSH segment are not part of "
                         "any message (found '%s')",
                         stray, preview);
    }
    size_t msg_no = 0;
    for (size_t i = first; i < n_segs;) {
        size_t j = i + 1;
        while (j < n_segs && !s_is_msh (segs[j])) {
            j++;
        }
        ctx.segs = segs + i;
        ctx.n_segs = j - i;
        ctx.msg_no = ++msg_no;
        if (s_message (&ctx) < 0) {
            if (ctx.limit_hit) {
                snprintf (ctx.where, sizeof (ctx.where), "%s", ctx.msg_where);
                hg_batch_reject_limit (out, segs[i].p, segs[i].n, ctx.where,
                                       "message %zu and the rest of the payload are not parsed",
                                       msg_no);
            }
            break;
        }
        i = j;
    }
cleanup:
    free (segs);
    if (ctx.oom) {
        hg_batch_reject_oom (out, ctx.msg_where);
        rc = HG_ENOMEM;
    }
    else {
        rc = (int) hg_batch_since (out, first_record);
    }
    return rc;
}
