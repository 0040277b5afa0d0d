/*
 * fhir.c -- FHIR R4 JSON (resource, Bundle or NDJSON) to canonical records.
 *
 * json-c parses each JSON value with a nesting limit; the mapping below
 * walks the object tree. Every problem becomes a reject with the resource
 * ("Observation/obs-17"), the field and what is wrong. Records of a resource
 * are all-or-nothing: a resource that fails half-way drops what it added.
 */
#include "fhir.h"
#include "codesys.h"
#include "json.h"
#include "parsekit.h"
#include "util.h"

#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>
#include <sodium.h>

#include "date.h"

#define S_JSON_DEPTH 64
#define S_TOKENER_FLAGS (JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS)
/* Array elements mapped per repeated field (names, telecom, codings...):
 * hostile input with thousands of them must not grow a record unbounded. */
#define S_MAX_ITEMS 64

typedef struct {
    const char *url; /* Bundle entry fullUrl */
    const char *id;  /* its Patient.id */
} s_urn_t;

/* A Patient of the payload whose identifier is known: its records, and
 * those referencing it by id, take that identifier as patient_ref. */
typedef struct {
    char *id;     /* Patient.id (arena) */
    char *key;    /* the identifier HL7 would carry in PID-3 (arena) */
    size_t order; /* position in the payload: the last Patient wins */
} s_link_t;

/* Flag list of a record whose patient could not be resolved (shared, never
 * written to). */
static char *s_unlinked_flags[] = {(char *) HG_FHIR_FLAG_UNLINKED};

typedef struct {
    hg_batch_t *out;
    hg_arena_t *a;
    size_t max_field_bytes; /* 0: none */
    bool oom;               /* an allocation failed: stop */
    bool limit_hit;         /* the batch's record limit refused a record: stop */
    bool limit_reported;    /* the "rest not parsed" reject is written */
    /* the resource being mapped */
    char where[200];     /* reject location */
    char ref[160];       /* "Observation/obs-17" */
    const char *type;    /* resourceType */
    hg_json_t *res;      /* the resource (for an excerpt) */
    const char *excerpt; /* raw bytes of the value, when known */
    size_t excerpt_len;
    s_urn_t *urns; /* Patient entries of the Bundle, by url */
    size_t n_urns;
    s_link_t *links; /* Patients of the payload with an identifier */
    size_t n_links, cap_links;
    size_t text_len;  /* bytes of the payload's JSON text */
    hg_arena_t *tree; /* the JSON value being mapped (json.h), reset after
                                  * each: records copy what they keep into ctx->a */
} s_ctx_t;

/* ------------------------------------------------------------------------
 * Small helpers */

static void s_reject (s_ctx_t *ctx, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_reject (s_ctx_t *ctx, const char *fmt, ...)
{
    const char *ex = ctx->excerpt;
    size_t ex_len = ctx->excerpt_len;
    if (!ex && ctx->res) {
        ex = hg_json_to_text (ctx->tree, ctx->res);
        ex_len = ex ? strlen (ex) : 0;
    }
    va_list ap;
    va_start (ap, fmt);
    hg_batch_vreject (ctx->out, ex, ex_len, ctx->where, ctx->ref, ": ", fmt, ap);
    va_end (ap);
}

/* Appends at most max bytes of s to buf (size bytes, *used so far),
 * truncating at the end of buf like snprintf; buf stays terminated. */
static void
s_put (char *buf, size_t size, size_t *used, const char *s, size_t max)
{
    size_t n = max == SIZE_MAX ? strlen (s) : strnlen (s, max);
    if (*used + n >= size) {
        n = size - 1 - *used;
    }
    memcpy (buf + *used, s, n);
    *used += n;
    buf[*used] = '\0';
}

/* Appends a decimal number, as s_put. */
static void
s_put_index (char *buf, size_t size, size_t *used, size_t v)
{
    char digits[24];
    size_t n = sizeof (digits);
    do {
        digits[--n] = (char) ('0' + v % 10);
        v /= 10;
    } while (v);
    s_put (buf, size, used, digits + n, sizeof (digits) - n);
}

static hg_json_t *
s_get (hg_json_t *obj, const char *key, hg_json_type_t type)
{
    hg_json_t *v = NULL;
    if (!obj || !hg_json_is (obj, HG_JSON_OBJECT) || !hg_json_member (obj, key, &v) || !v
        || !hg_json_is (v, type)) {
        return NULL;
    }
    return v;
}

/* String member, NULL when absent, not a string or empty. */
static const char *
s_str (hg_json_t *obj, const char *key)
{
    hg_json_t *v = s_get (obj, key, HG_JSON_STRING);
    const char *s = v ? hg_json_string (v) : NULL;
    return s && *s ? s : NULL;
}

static hg_json_t *
s_obj (hg_json_t *obj, const char *key)
{
    return s_get (obj, key, HG_JSON_OBJECT);
}

static hg_json_t *
s_arr (hg_json_t *obj, const char *key)
{
    return s_get (obj, key, HG_JSON_ARRAY);
}

/* Element i of an array member that is an object, else NULL. */
static hg_json_t *
s_arr_obj (hg_json_t *obj, const char *key, size_t i)
{
    hg_json_t *arr = s_arr (obj, key);
    if (!arr || i >= hg_json_length (arr)) {
        return NULL;
    }
    hg_json_t *v = hg_json_item (arr, i);
    return v && hg_json_is (v, HG_JSON_OBJECT) ? v : NULL;
}

static bool
s_has (hg_json_t *obj, const char *key)
{
    return obj && hg_json_is (obj, HG_JSON_OBJECT) && hg_json_member (obj, key, NULL);
}

/* Arena copy; "" for NULL; sets ctx->oom on failure (and returns ""). */
static char *
s_dup (s_ctx_t *ctx, const char *s)
{
    return hg_parse_strdup (ctx->a, s, &ctx->oom);
}

static void
s_check (s_ctx_t *ctx, int rc)
{
    if (rc < 0) {
        ctx->oom = true;
    }
}

/* Validates an ISO date and stores its canonical form. 0, or -1 rejected. */
static int
s_date (s_ctx_t *ctx, const char *field, const char *s, char **out)
{
    hg_date_t d;
    hg_err_t err;
    hg_err_clear (&err);
    if (hg_date_parse_iso (s, strlen (s), &d, &err) < 0) {
        s_reject (ctx, "%s.%s %s", ctx->type, field, err.msg);
        return -1;
    }
    char buf[HG_DATE_ISO_MAX];
    hg_date_format_iso (&d, buf, sizeof (buf));
    *out = s_dup (ctx, buf);
    return 0;
}

/* Optional date member: absent is fine, present but not a string or not a
 * valid date rejects. Returns 1 when stored, 0 when absent, -1 rejected. */
static int
s_date_member (s_ctx_t *ctx, hg_json_t *obj, const char *key, const char *field, char **out)
{
    hg_json_t *v = NULL;
    if (!obj || !hg_json_member (obj, key, &v) || !v) {
        return 0;
    }
    if (!hg_json_is (v, HG_JSON_STRING)) {
        s_reject (ctx, "%s.%s is a JSON %s, expected a date string", ctx->type, field,
                  hg_json_type_name (hg_json_type (v)));
        return -1;
    }
    return s_date (ctx, field, hg_json_string (v), out) < 0 ? -1 : 1;
}

static Hourglass__Record *
s_new_record (s_ctx_t *ctx, Hourglass__RecordKind kind, const char *source_id)
{
    Hourglass__Record *rec = hg_batch_try_add (ctx->out, kind, &ctx->limit_hit, &ctx->oom);
    if (!rec) {
        return NULL;
    }
    rec->provenance = hg_provenance_new (ctx->a);
    if (!rec->provenance) {
        ctx->oom = true;
        return NULL;
    }
    rec->provenance->source_format = s_dup (ctx, "fhir");
    rec->provenance->source_record_id = s_dup (ctx, source_id);
    return ctx->oom ? NULL : rec;
}

/* Coding.system as a URI: an HL7 v2 coding system name ("LN", "SCT", "I10")
 * that a v2-to-FHIR converter left in place becomes the URI the HL7 v2
 * parser gives it (codesys.h), so the same code from both formats has one
 * system. Anything else (URIs; OIDs, which the cleanser's normalisation
 * maps) as given. */
static const char *
s_system (const char *sys)
{
    const char *uri = sys && !strchr (sys, ':')
                          ? hg_codesys_uri (sys, strlen (sys), HG_CODESYS_HL7)
                          : NULL;
    return uri ? uri : sys;
}

/* Adds every coding of a CodeableConcept that has both system and code.
 * Returns how many were added. */
static size_t
s_add_codings (s_ctx_t *ctx, Hourglass__Record *rec, hg_json_t *concept)
{
    hg_json_t *codings = s_arr (concept, "coding");
    size_t n = codings ? hg_json_length (codings) : 0;
    size_t added = 0;
    for (size_t i = 0; i < n && i < S_MAX_ITEMS && !ctx->oom; i++) {
        hg_json_t *c = hg_json_item (codings, i);
        const char *sys = s_system (s_str (c, "system"));
        const char *code = s_str (c, "code");
        if (sys && code) {
            s_check (ctx, hg_record_add_code (ctx->a, rec, sys, code, s_str (c, "display")));
            added++;
        }
    }
    return added;
}

/* Required CodeableConcept member; -1 (rejected) when it has no usable coding. */
static int
s_required_codes (s_ctx_t *ctx, Hourglass__Record *rec, hg_json_t *res, const char *key,
                  const char *field)
{
    hg_json_t *concept = s_obj (res, key);
    if (!concept) {
        s_reject (ctx, "%s.%s is missing; the record needs a code", ctx->type, field);
        return -1;
    }
    if (s_add_codings (ctx, rec, concept) == 0) {
        s_reject (ctx, "%s.%s has no coding with both system and code", ctx->type, field);
        return -1;
    }
    return 0;
}

/* First coding's code of a CodeableConcept member ("" when none). */
static const char *
s_first_code (hg_json_t *obj, const char *key)
{
    hg_json_t *concept = s_obj (obj, key);
    const char *code = s_str (s_arr_obj (concept, "coding", 0), "code");
    return code ? code : "";
}

/* ------------------------------------------------------------------------
 * References */

static int
s_urn_cmp (const void *a, const void *b)
{
    return strcmp (((const s_urn_t *) a)->url, ((const s_urn_t *) b)->url);
}

/* Patient id of the Bundle entry whose fullUrl is url, or NULL. */
static const char *
s_bundle_patient (s_ctx_t *ctx, const char *url)
{
    s_urn_t key = {url, NULL};
    const s_urn_t *hit = ctx->n_urns
                             ? bsearch (&key, ctx->urns, ctx->n_urns, sizeof (s_urn_t), s_urn_cmp)
                             : NULL;
    return hit ? hit->id : NULL;
}

/* Indexes the Patient entries of a Bundle by fullUrl. -1 out of memory. */
static int
s_index_patients (s_ctx_t *ctx, hg_json_t *entries)
{
    size_t n = hg_json_length (entries), k = 0;
    for (size_t i = 0; i < n; i++) {
        hg_json_t *e = hg_json_item (entries, i);
        const char *type = s_str (s_obj (e, "resource"), "resourceType");
        k += s_str (e, "fullUrl") && type && strcmp (type, "Patient") == 0;
    }
    if (k == 0) {
        return 0;
    }
    ctx->urns = malloc (k * sizeof (s_urn_t));
    if (!ctx->urns) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        hg_json_t *e = hg_json_item (entries, i);
        hg_json_t *r = s_obj (e, "resource");
        const char *type = s_str (r, "resourceType");
        const char *url = s_str (e, "fullUrl");
        const char *id = s_str (r, "id");
        if (url && type && strcmp (type, "Patient") == 0) {
            ctx->urns[ctx->n_urns].url = url;
            ctx->urns[ctx->n_urns].id = id ? id : "";
            ctx->n_urns++;
        }
    }
    qsort (ctx->urns, ctx->n_urns, sizeof (s_urn_t), s_urn_cmp);
    return 0;
}

/* True when a CodeableConcept (Identifier.type) says MR, medical record
 * number, in HL7 table 0203 (the code system of PID-3's CX.5): a coding with
 * code "MR" and that system, its R3 URI, or no system. */
static bool
s_type_is_mr (hg_json_t *type)
{
    hg_json_t *codings = s_arr (type, "coding");
    size_t n = codings ? hg_json_length (codings) : 0;
    for (size_t i = 0; i < n && i < S_MAX_ITEMS; i++) {
        hg_json_t *c = hg_json_item (codings, i);
        const char *code = s_str (c, "code");
        const char *sys = s_str (c, "system");
        if (code && strcmp (code, "MR") == 0
            && (!sys || strcmp (sys, "http://terminology.hl7.org/CodeSystem/v2-0203") == 0
                || strcmp (sys, "http://hl7.org/fhir/v2/0203") == 0)) {
            return true;
        }
    }
    return false;
}

/* The identifier of a Patient that HL7 v2 would carry as the patient id --
 * the rule of hl7v2.c on PID-3, applied to Patient.identifier[]: the value
 * of the first identifier typed MR, else of the first identifier. Those of
 * use "old" are skipped (a v2-to-FHIR mapping of PID-3 has none; an old MRN
 * is what ADT^A40's MRG carries). NULL when no identifier has a value. */
static const char *
s_patient_key (hg_json_t *patient)
{
    hg_json_t *ids = s_arr (patient, "identifier");
    size_t n = ids ? hg_json_length (ids) : 0;
    const char *first = NULL;
    for (size_t i = 0; i < n && i < S_MAX_ITEMS; i++) {
        hg_json_t *ident = hg_json_item (ids, i);
        const char *value = s_str (ident, "value");
        const char *use = s_str (ident, "use");
        if (!value || (use && strcmp (use, "old") == 0)) {
            continue;
        }
        if (s_type_is_mr (s_obj (ident, "type"))) {
            return value;
        }
        if (!first) {
            first = value;
        }
    }
    return first;
}

/* Remembers that Patient id is known as key in this payload. -1 out of
 * memory. */
static int
s_add_link (s_ctx_t *ctx, const char *id, const char *key)
{
    if (ctx->n_links == ctx->cap_links) {
        size_t cap = ctx->cap_links ? ctx->cap_links * 2 : 16;
        s_link_t *l = realloc (ctx->links, cap * sizeof (*l));
        if (!l) {
            ctx->oom = true;
            return -1;
        }
        ctx->links = l;
        ctx->cap_links = cap;
    }
    s_link_t *l = &ctx->links[ctx->n_links];
    l->id = hg_arena_strdup (ctx->a, id);
    l->key = hg_arena_strdup (ctx->a, key);
    if (!l->id || !l->key) {
        ctx->oom = true;
        return -1;
    }
    l->order = ctx->n_links++;
    return 0;
}

static int
s_link_id_cmp (const void *a, const void *b)
{
    return strcmp (((const s_link_t *) a)->id, ((const s_link_t *) b)->id);
}

static int
s_link_cmp (const void *a, const void *b)
{
    const s_link_t *x = a, *y = b;
    int c = strcmp (x->id, y->id);
    return c ? c : (x->order < y->order ? -1 : x->order > y->order);
}

/* Marks rec as a record whose patient_ref is a Patient resource id not
 * (yet) resolved to the patient's identifier. */
static void
s_mark_unlinked (Hourglass__Record *rec)
{
    rec->flags = s_unlinked_flags;
    rec->n_flags = 1;
}

static int
s_hex_digit (char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Decodes the %XX escapes of s[0..n) into the arena. NULL when out of
 * memory (ctx->oom set) or for a broken or NUL escape (*bad set). */
static char *
s_url_decode (s_ctx_t *ctx, const char *s, size_t n, bool *bad)
{
    char *out = hg_arena_alloc (ctx->a, n + 1);
    if (!out) {
        ctx->oom = true;
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            out[o++] = s[i];
            continue;
        }
        int hi = i + 2 < n ? s_hex_digit (s[i + 1]) : -1;
        int lo = i + 2 < n ? s_hex_digit (s[i + 2]) : -1;
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            *bad = true;
            return NULL;
        }
        out[o++] = (char) (hi * 16 + lo);
        i += 2;
    }
    out[o] = '\0';
    return out;
}

/* A conditional reference, as transaction Bundles use before the server
 * has ids: "[base/]Patient?identifier=[system|]value[&...]" -> value.
 * 1 resolved into *out, 0 not a conditional reference, -1 rejected. */
static int
s_conditional_ref (s_ctx_t *ctx, const char *key, const char *ref, char **out)
{
    const char *q = strchr (ref, '?');
    if (!q) {
        return 0;
    }
    const char *type = q;
    while (type > ref && type[-1] != '/') {
        type--;
    }
    if (q - type != 7 || strncmp (type, "Patient", 7) != 0) {
        s_reject (ctx,
                  "%s.reference '%.100s' is a conditional reference to something other "
                  "than a Patient",
                  key, ref);
        return -1;
    }
    for (const char *p = q + 1; *p;) {
        const char *amp = strchr (p, '&');
        size_t n = amp ? (size_t) (amp - p) : strlen (p);
        if (n >= 11 && strncmp (p, "identifier=", 11) == 0) {
            bool bad = false;
            char *token = s_url_decode (ctx, p + 11, n - 11, &bad);
            if (!token) {
                if (bad) {
                    s_reject (ctx,
                              "%s.reference '%.100s' has a broken %%XX escape in its "
                              "identifier parameter",
                              key, ref);
                }
                return -1;
            }
            /* token search syntax: system|value, |value, or value */
            char *bar = strchr (token, '|');
            char *value = bar ? bar + 1 : token;
            if (!*value) {
                s_reject (ctx,
                          "%s.reference '%.100s' names no identifier value (expected "
                          "Patient?identifier=[system|]value)",
                          key, ref);
                return -1;
            }
            *out = value;
            return 1;
        }
        p += n + (amp ? 1 : 0);
    }
    s_reject (ctx,
              "%s.reference '%.100s' is a conditional reference without an identifier "
              "parameter; only Patient?identifier=[system|]value can name a patient",
              key, ref);
    return -1;
}

/* Resolves a patient Reference member (subject / patient) into the patient
 * id, the same one HL7 v2 would give (see fhir.h):
 *   Reference.identifier.value                  that value (linked);
 *   "Patient?identifier=[system|]value"         that value (linked);
 *   "Patient/<id>", "urn:uuid:<id>" (Bundle)    the Patient's id, *linked
 *       false: hg_fhir_parse swaps it for the Patient's identifier when
 *       the Patient is in the payload.
 * 0 stored, -1 rejected. */
static int
s_patient_ref (s_ctx_t *ctx, hg_json_t *res, const char *key, char **out, bool *linked)
{
    hg_json_t *refobj = s_obj (res, key);
    const char *ref = s_str (refobj, "reference");
    hg_json_t *ident = s_obj (refobj, "identifier");
    const char *ident_value = s_str (ident, "value");
    *linked = false;
    if (ident_value) {
        *out = s_dup (ctx, ident_value);
        *linked = true;
        return ctx->oom ? -1 : 0;
    }
    if (!ref) {
        if (ident) {
            s_reject (ctx,
                      "%s.identifier has no value and there is no %s.reference; every "
                      "clinical record must reference a patient",
                      key, key);
        }
        else {
            s_reject (ctx, "%s is missing; every clinical record must reference a patient",
                      refobj ? (strcmp (key, "subject") == 0 ? "subject.reference"
                                                             : "patient.reference")
                             : key);
        }
        return -1;
    }
    int crc = s_conditional_ref (ctx, key, ref, out);
    if (crc != 0) {
        *linked = crc > 0;
        return crc > 0 ? 0 : -1;
    }
    if (strncmp (ref, "urn:uuid:", 9) == 0 || strncmp (ref, "urn:oid:", 8) == 0) {
        const char *id = s_bundle_patient (ctx, ref);
        const char *rest = ref + (ref[4] == 'u' ? 9 : 8);
        id = id && *id ? id : NULL;
        if (!id && !*rest) {
            s_reject (ctx, "%s.reference '%s' is an empty urn", key, ref);
            return -1;
        }
        *out = s_dup (ctx, id ? id : rest);
        return 0;
    }
    /* [base/]Patient/<id>[/_history/<v>] */
    size_t len = strlen (ref);
    const char *hist = strstr (ref, "/_history/");
    if (hist) {
        len = (size_t) (hist - ref);
    }
    const char *start = NULL;
    for (const char *p = ref; p && (size_t) (p - ref) < len; p = strchr (p + 1, '/')) {
        const char *seg = *p == '/' ? p + 1 : p;
        if (strncmp (seg, "Patient/", 8) == 0) {
            start = seg + 8;
        }
    }
    if (!start) {
        const char *slash = memchr (ref, '/', len);
        if (slash && slash != ref) {
            s_reject (ctx, "%s.reference '%.100s' does not reference a Patient", key, ref);
        }
        else {
            s_reject (ctx,
                      "%s.reference '%.100s' is not a Patient reference "
                      "(expected Patient/<id>, urn:uuid:<id>, "
                      "Patient?identifier=[system|]value or a %s.identifier)",
                      key, ref, key);
        }
        return -1;
    }
    size_t id_len = len - (size_t) (start - ref);
    if (id_len == 0 || memchr (start, '/', id_len)) {
        s_reject (ctx, "%s.reference '%.100s' has no usable Patient id", key, ref);
        return -1;
    }
    char *id = hg_arena_strndup (ctx->a, start, id_len);
    if (!id) {
        ctx->oom = true;
        return -1;
    }
    *out = id;
    return 0;
}

/* Patient ids of the records added since index start that are Patients of
 * this payload with an identifier become that identifier (the last
 * Patient of an id wins); their "unlinked" flag goes. */
static void
s_link_records (s_ctx_t *ctx, size_t start)
{
    if (ctx->n_links == 0) {
        return;
    }
    qsort (ctx->links, ctx->n_links, sizeof (s_link_t), s_link_cmp);
    /* keep the last of each id */
    size_t k = 0;
    for (size_t i = 0; i < ctx->n_links; i++) {
        if (k > 0 && strcmp (ctx->links[k - 1].id, ctx->links[i].id) == 0) {
            ctx->links[k - 1] = ctx->links[i];
        }
        else {
            ctx->links[k++] = ctx->links[i];
        }
    }
    ctx->n_links = k;
    size_t n = hg_batch_record_count (ctx->out);
    Hourglass__Record **recs = hg_batch_records (ctx->out);
    for (size_t i = start; i < n; i++) {
        Hourglass__Record *r = recs[i];
        if (!hg_fhir_record_unlinked (r)) {
            continue;
        }
        s_link_t want = {.id = r->patient_ref};
        const s_link_t *hit = bsearch (&want, ctx->links, ctx->n_links, sizeof (s_link_t),
                                       s_link_id_cmp);
        if (hit) {
            r->patient_ref = hit->key;
            if (!hg_parse_drop_flag (ctx->a, r, HG_FHIR_FLAG_UNLINKED)) {
                ctx->oom = true; /* other flags (id.invalid) stay */
            }
        }
    }
}

bool
hg_fhir_record_unlinked (const Hourglass__Record *rec)
{
    for (size_t i = 0; rec && i < rec->n_flags; i++) {
        if (rec->flags[i] && strcmp (rec->flags[i], HG_FHIR_FLAG_UNLINKED) == 0) {
            return true;
        }
    }
    return false;
}

/* Reference object {"reference": "Encounter/abc"} -> "abc"; anything else
 * kept as given. */
static void
s_set_encounter (s_ctx_t *ctx, Hourglass__Record *rec, hg_json_t *refobj)
{
    const char *ref = s_str (refobj, "reference");
    if (!ref) {
        return;
    }
    const char *p = strstr (ref, "Encounter/");
    if (p && p[10]) {
        ref = p + 10;
    }
    else if (strncmp (ref, "urn:uuid:", 9) == 0 && ref[9]) {
        ref += 9;
    }
    rec->encounter_ref = s_dup (ctx, ref);
}

static void
s_encounter_ref (s_ctx_t *ctx, Hourglass__Record *rec, hg_json_t *res)
{
    s_set_encounter (ctx, rec, s_obj (res, "encounter"));
}

/* ------------------------------------------------------------------------
 * Values */

static const char *
s_json_text (hg_json_t *v)
{
    return v ? hg_json_string (v) : NULL;
}

static bool
s_is_number (hg_json_t *v)
{
    return v && (hg_json_is (v, HG_JSON_DOUBLE) || hg_json_is (v, HG_JSON_INT));
}

/* "low-high unit" / ">=low unit" / "<=high unit" / text. */
static void
s_reference_range (s_ctx_t *ctx, Hourglass__Record *rec, hg_json_t *holder)
{
    hg_json_t *rr = s_arr_obj (holder, "referenceRange", 0);
    if (!rr) {
        return;
    }
    hg_json_t *low = s_obj (rr, "low");
    hg_json_t *high = s_obj (rr, "high");
    hg_json_t *lv = NULL, *hv = NULL;
    if (low) {
        hg_json_member (low, "value", &lv);
    }
    if (high) {
        hg_json_member (high, "value", &hv);
    }
    lv = s_is_number (lv) ? lv : NULL;
    hv = s_is_number (hv) ? hv : NULL;
    const char *unit = s_str (low, "unit");
    if (!unit) {
        unit = s_str (high, "unit");
    }
    char *txt = NULL;
    if (lv && hv) {
        txt = hg_arena_printf (ctx->a, "%s-%s%s%s", s_json_text (lv), s_json_text (hv),
                               unit ? " " : "", unit ? unit : "");
    }
    else if (lv) {
        txt = hg_arena_printf (ctx->a, ">=%s%s%s", s_json_text (lv), unit ? " " : "",
                               unit ? unit : "");
    }
    else if (hv) {
        txt = hg_arena_printf (ctx->a, "<=%s%s%s", s_json_text (hv), unit ? " " : "",
                               unit ? unit : "");
    }
    else if (s_str (rr, "text")) {
        txt = hg_arena_strdup (ctx->a, s_str (rr, "text"));
    }
    else {
        return;
    }
    if (!txt) {
        ctx->oom = true;
        return;
    }
    rec->reference_range = txt;
}

/* Observation (or component) value[x]. 0, or -1 rejected. */
static int
s_obs_value (s_ctx_t *ctx, Hourglass__Record *rec, hg_json_t *holder, const char *field)
{
    hg_json_t *q = NULL, *v = NULL;
    if ((q = s_obj (holder, "valueQuantity"))) {
        if (!hg_json_member (q, "value", &v) || !v) {
            s_reject (ctx, "%s.valueQuantity has no value", field);
            return -1;
        }
        if (!s_is_number (v)) {
            s_reject (ctx, "%s.valueQuantity.value %.60s is not a JSON number", field,
                      hg_json_to_text (ctx->tree, v));
            return -1;
        }
        const char *unit = s_str (q, "code");
        if (!unit) {
            unit = s_str (q, "unit");
        }
        rec->quantity = hg_quantity_new (ctx->a, hg_json_double (v), unit);
        if (!rec->quantity) {
            ctx->oom = true;
            return -1;
        }
        const char *cmp = s_str (q, "comparator");
        if (cmp) {
            if (strcmp (cmp, "<") && strcmp (cmp, "<=") && strcmp (cmp, ">=")
                && strcmp (cmp, ">")) {
                s_reject (ctx, "%s.valueQuantity.comparator '%.20s' is not one of <, <=, >=, >",
                          field, cmp);
                return -1;
            }
            rec->quantity->comparator = s_dup (ctx, cmp);
        }
        rec->value_case = HOURGLASS__RECORD__VALUE_QUANTITY;
    }
    else if ((v = s_get (holder, "valueInteger", HG_JSON_INT))) {
        rec->quantity = hg_quantity_new (ctx->a, (double) hg_json_int64 (v), "");
        if (!rec->quantity) {
            ctx->oom = true;
            return -1;
        }
        rec->value_case = HOURGLASS__RECORD__VALUE_QUANTITY;
    }
    else if (s_has (holder, "valueString")) {
        const char *s = s_str (holder, "valueString");
        if (!s) {
            s_reject (ctx, "%s.valueString is empty or not a string", field);
            return -1;
        }
        rec->string_value = s_dup (ctx, s);
        rec->value_case = HOURGLASS__RECORD__VALUE_STRING_VALUE;
    }
    else if ((q = s_obj (holder, "valueCodeableConcept"))) {
        hg_json_t *c = s_arr_obj (q, "coding", 0);
        if (c && s_str (c, "code")) {
            rec->code_value = hg_coding_new (ctx->a, s_system (s_str (c, "system")),
                                             s_str (c, "code"), s_str (c, "display"));
            if (!rec->code_value) {
                ctx->oom = true;
                return -1;
            }
            rec->value_case = HOURGLASS__RECORD__VALUE_CODE_VALUE;
        }
        else if (s_str (q, "text")) {
            rec->string_value = s_dup (ctx, s_str (q, "text"));
            rec->value_case = HOURGLASS__RECORD__VALUE_STRING_VALUE;
        }
        else {
            s_reject (ctx, "%s.valueCodeableConcept has neither a coding with a code nor text",
                      field);
            return -1;
        }
    }
    else if ((v = s_get (holder, "valueBoolean", HG_JSON_BOOLEAN))) {
        rec->string_value = s_dup (ctx, hg_json_boolean (v) ? "true" : "false");
        rec->value_case = HOURGLASS__RECORD__VALUE_STRING_VALUE;
    }
    else if (s_str (holder, "valueDateTime")) {
        const char *txt = s_str (holder, "valueDateTime");
        hg_date_t d;
        hg_err_t err;
        hg_err_clear (&err);
        if (hg_date_parse_iso (txt, strlen (txt), &d, &err) < 0) {
            s_reject (ctx, "%s.valueDateTime %s", field, err.msg);
            return -1;
        }
        char buf[HG_DATE_ISO_MAX];
        hg_date_format_iso (&d, buf, sizeof (buf));
        rec->string_value = s_dup (ctx, buf);
        rec->value_case = HOURGLASS__RECORD__VALUE_STRING_VALUE;
    }
    return 0;
}

static void
s_interpretation (s_ctx_t *ctx, Hourglass__Record *rec, hg_json_t *holder)
{
    hg_json_t *interp = s_arr_obj (holder, "interpretation", 0);
    const char *code = s_str (s_arr_obj (interp, "coding", 0), "code");
    if (code) {
        rec->interpretation = s_dup (ctx, code);
    }
}

/* identifier[] -> rec->identifiers (system, value, first type code). */
static void
s_identifiers (s_ctx_t *ctx, Hourglass__Record *rec, hg_json_t *res)
{
    hg_json_t *ids = s_arr (res, "identifier");
    size_t ni = ids ? hg_json_length (ids) : 0;
    for (size_t i = 0; i < ni && i < S_MAX_ITEMS && !ctx->oom; i++) {
        hg_json_t *ident = hg_json_item (ids, i);
        const char *value = s_str (ident, "value");
        if (!value) {
            continue;
        }
        const char *type = s_str (s_arr_obj (s_obj (ident, "type"), "coding", 0), "code");
        s_check (ctx,
                 hg_record_add_identifier (ctx->a, rec, s_str (ident, "system"), value, type));
    }
}

/* ------------------------------------------------------------------------
 * Resource mappers: 0 mapped, -1 rejected (or oom / limit set in ctx). */

static int
s_map_patient (s_ctx_t *ctx, hg_json_t *res, const char *id)
{
    if (!id) {
        s_reject (ctx, "Patient.id is missing; a Patient needs an id to be referenced");
        return -1;
    }
    Hourglass__Record *rec = s_new_record (ctx, HOURGLASS__RECORD_KIND__KIND_DEMOGRAPHICS,
                                           ctx->ref);
    if (!rec) {
        return -1;
    }
    /* the patient is known by the identifier HL7 would use, else by its id */
    const char *key = s_patient_key (res);
    rec->patient_ref = s_dup (ctx, key ? key : id);
    if (!key) {
        s_mark_unlinked (rec);
    }
    Hourglass__Demographics *d = hg_demographics_new (ctx->a);
    if (!d) {
        ctx->oom = true;
        return -1;
    }
    rec->demographics = d;

    /* name: the official one, else the first */
    hg_json_t *names = s_arr (res, "name");
    hg_json_t *name = s_arr_obj (res, "name", 0);
    size_t n = names ? hg_json_length (names) : 0;
    for (size_t i = 0; i < n; i++) {
        hg_json_t *cand = hg_json_item (names, i);
        const char *use = s_str (cand, "use");
        if (use && strcmp (use, "official") == 0) {
            name = cand;
            break;
        }
    }
    if (name) {
        d->family = s_dup (ctx, s_str (name, "family"));
        hg_json_t *given = s_arr (name, "given");
        size_t ng = given ? hg_json_length (given) : 0;
        for (size_t i = 0; i < ng && i < S_MAX_ITEMS; i++) {
            hg_json_t *g = hg_json_item (given, i);
            if (g && hg_json_is (g, HG_JSON_STRING) && *hg_json_string (g)) {
                s_check (ctx, hg_strv_push (ctx->a, &d->given, &d->n_given, hg_json_string (g)));
            }
        }
    }
    if (s_date_member (ctx, res, "birthDate", "birthDate", &d->birth_date) < 0) {
        return -1;
    }
    if (s_has (res, "gender")) {
        const char *g = s_str (res, "gender");
        if (!g
            || (strcmp (g, "male") && strcmp (g, "female") && strcmp (g, "other")
                && strcmp (g, "unknown"))) {
            s_reject (ctx, "Patient.gender '%.40s' is not one of male, female, other, unknown",
                      g ? g : "");
            return -1;
        }
        d->sex = s_dup (ctx, g);
    }
    hg_json_t *addr = s_arr_obj (res, "address", 0);
    if (addr) {
        hg_json_t *lines = s_arr (addr, "line");
        size_t nl = lines ? hg_json_length (lines) : 0;
        for (size_t i = 0; i < nl && i < S_MAX_ITEMS; i++) {
            hg_json_t *l = hg_json_item (lines, i);
            if (l && hg_json_is (l, HG_JSON_STRING) && *hg_json_string (l)) {
                s_check (ctx, hg_strv_push (ctx->a, &d->address_lines, &d->n_address_lines,
                                            hg_json_string (l)));
            }
        }
        d->city = s_dup (ctx, s_str (addr, "city"));
        d->state = s_dup (ctx, s_str (addr, "state"));
        d->postal_code = s_dup (ctx, s_str (addr, "postalCode"));
        d->country = s_dup (ctx, s_str (addr, "country"));
    }
    hg_json_t *telecom = s_arr (res, "telecom");
    size_t nt = telecom ? hg_json_length (telecom) : 0;
    for (size_t i = 0; i < nt && i < S_MAX_ITEMS; i++) {
        const char *v = s_str (hg_json_item (telecom, i), "value");
        if (v) {
            s_check (ctx, hg_strv_push (ctx->a, &d->telecom, &d->n_telecom, v));
        }
    }
    if (s_date_member (ctx, res, "deceasedDateTime", "deceasedDateTime", &d->deceased_date) < 0) {
        return -1;
    }
    s_identifiers (ctx, rec, res);
    if (key && s_add_link (ctx, id, rec->patient_ref) < 0) {
        return -1;
    }
    return 0;
}

/* Appends part (n bytes) to rec->text, a blank line between parts. */
static void
s_text_append (s_ctx_t *ctx, Hourglass__Record *rec, const char *part, size_t n)
{
    if (n == 0) {
        return;
    }
    size_t have = hg_str_empty (rec->text) ? 0 : strlen (rec->text);
    char *buf = hg_arena_alloc (ctx->a, have + n + 3);
    if (!buf) {
        ctx->oom = true;
        return;
    }
    memcpy (buf, rec->text, have);
    size_t o = have;
    if (have) {
        memcpy (buf + o, "\n\n", 2);
        o += 2;
    }
    memcpy (buf + o, part, n);
    buf[o + n] = '\0';
    rec->text = buf;
}

/* The text of every Annotation of note[] (Observation, Condition,
 * Procedure, ... notes) appended to rec->text. */
static void
s_notes_text (s_ctx_t *ctx, Hourglass__Record *rec, hg_json_t *res)
{
    hg_json_t *notes = s_arr (res, "note");
    size_t n = notes ? hg_json_length (notes) : 0;
    for (size_t i = 0; i < n && i < S_MAX_ITEMS && !ctx->oom; i++) {
        const char *t = s_str (s_arr_obj (res, "note", i), "text");
        if (t) {
            s_text_append (ctx, rec, t, strlen (t));
        }
    }
}

/* Creates the clinical record shared by all non-Patient mappers: patient
 * reference, encounter reference, status. NULL when rejected/stopped. */
static Hourglass__Record *
s_clinical (s_ctx_t *ctx, hg_json_t *res, Hourglass__RecordKind kind, const char *patient_key,
            const char *source_id)
{
    char *patient = NULL;
    bool linked = false;
    if (s_patient_ref (ctx, res, patient_key, &patient, &linked) < 0) {
        return NULL;
    }
    Hourglass__Record *rec = s_new_record (ctx, kind, source_id);
    if (!rec) {
        return NULL;
    }
    rec->patient_ref = patient;
    if (!linked) {
        s_mark_unlinked (rec);
    }
    rec->status = s_dup (ctx, s_str (res, "status"));
    s_encounter_ref (ctx, rec, res);
    s_notes_text (ctx, rec, res);
    return rec;
}

static int
s_map_encounter (s_ctx_t *ctx, hg_json_t *res, const char *id)
{
    Hourglass__Record *rec = s_clinical (ctx, res, HOURGLASS__RECORD_KIND__KIND_ENCOUNTER,
                                         "subject", ctx->ref);
    if (!rec) {
        return -1;
    }
    hg_json_t *cls = s_obj (res, "class");
    if (!cls) {
        cls = s_arr_obj (res, "class", 0); /* R5 style: a list */
        if (cls && !s_str (cls, "code")) {
            cls = s_arr_obj (cls, "coding", 0);
        }
    }
    if (cls && s_str (cls, "code")) {
        s_check (ctx, hg_record_add_code (ctx->a, rec, s_str (cls, "system"), s_str (cls, "code"),
                                          s_str (cls, "display")));
    }
    hg_json_t *types = s_arr (res, "type");
    size_t n = types ? hg_json_length (types) : 0;
    for (size_t i = 0; i < n && i < S_MAX_ITEMS; i++) {
        s_add_codings (ctx, rec, hg_json_item (types, i));
    }
    hg_json_t *period = s_obj (res, "period");
    if (s_date_member (ctx, period, "start", "period.start", &rec->effective) < 0
        || s_date_member (ctx, period, "end", "period.end", &rec->effective_end) < 0) {
        return -1;
    }
    if (id) {
        rec->encounter_ref = s_dup (ctx, id);
    }
    return 0;
}

static int
s_map_condition (s_ctx_t *ctx, hg_json_t *res, const char *id, bool allergy)
{
    Hourglass__Record *rec = s_clinical (ctx, res, HOURGLASS__RECORD_KIND__KIND_CONDITION,
                                         allergy ? "patient" : "subject", ctx->ref);
    if (!rec) {
        return -1;
    }
    if (s_required_codes (ctx, rec, res, "code", "code") < 0) {
        return -1;
    }
    const char *first = allergy ? "recordedDate" : "onsetDateTime";
    const char *second = allergy ? "onsetDateTime" : "recordedDate";
    int rc = s_date_member (ctx, res, first, first, &rec->effective);
    if (rc == 0) {
        rc = s_date_member (ctx, res, second, second, &rec->effective);
    }
    if (rc < 0) {
        return -1;
    }
    rec->status = s_dup (ctx, s_first_code (res, "clinicalStatus"));
    return 0;
}

/* effective from the first present of several date members. */
static int
s_effective (s_ctx_t *ctx, Hourglass__Record *rec, hg_json_t *res, const char *dt_key,
             const char *period_key, const char *fallback_key)
{
    int rc = s_date_member (ctx, res, dt_key, dt_key, &rec->effective);
    hg_json_t *period = period_key ? s_obj (res, period_key) : NULL;
    char field[64];
    if (rc == 0 && period) {
        snprintf (field, sizeof (field), "%s.start", period_key);
        rc = s_date_member (ctx, period, "start", field, &rec->effective);
        snprintf (field, sizeof (field), "%s.end", period_key);
        if (rc >= 0 && s_date_member (ctx, period, "end", field, &rec->effective_end) < 0) {
            rc = -1;
        }
    }
    if (rc == 0 && fallback_key) {
        rc = s_date_member (ctx, res, fallback_key, fallback_key, &rec->effective);
    }
    return rc < 0 ? -1 : 0;
}

static int
s_map_observation (s_ctx_t *ctx, hg_json_t *res)
{
    Hourglass__Record *rec = s_clinical (ctx, res, HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION,
                                         "subject", ctx->ref);
    if (!rec) {
        return -1;
    }
    if (s_required_codes (ctx, rec, res, "code", "code") < 0
        || s_effective (ctx, rec, res, "effectiveDateTime", "effectivePeriod", "issued") < 0
        || s_obs_value (ctx, rec, res, "Observation") < 0) {
        return -1;
    }
    s_interpretation (ctx, rec, res);
    s_reference_range (ctx, rec, res);

    hg_json_t *comps = s_arr (res, "component");
    size_t n = comps ? hg_json_length (comps) : 0;
    for (size_t i = 0; i < n && !ctx->oom; i++) {
        hg_json_t *comp = hg_json_item (comps, i);
        char source_id[200], field[64];
        snprintf (source_id, sizeof (source_id), "%s/component[%zu]", ctx->ref, i);
        snprintf (field, sizeof (field), "Observation.component[%zu]", i);
        if (!comp || !hg_json_is (comp, HG_JSON_OBJECT)) {
            s_reject (ctx, "%s is not a JSON object", field);
            return -1;
        }
        Hourglass__Record *crec = s_new_record (ctx, rec->kind, source_id);
        if (!crec) {
            return -1;
        }
        crec->patient_ref = rec->patient_ref;
        crec->flags = rec->flags;
        crec->n_flags = rec->n_flags;
        crec->effective = rec->effective;
        crec->effective_end = rec->effective_end;
        crec->status = rec->status;
        crec->encounter_ref = rec->encounter_ref;
        if (s_add_codings (ctx, crec, s_obj (comp, "code")) == 0) {
            s_reject (ctx, "%s.code has no coding with both system and code", field);
            return -1;
        }
        if (s_obs_value (ctx, crec, comp, field) < 0) {
            return -1;
        }
        s_interpretation (ctx, crec, comp);
        s_reference_range (ctx, crec, comp);
    }
    return 0;
}

/* MedicationRequest, MedicationStatement, Procedure, Immunization,
 * DiagnosticReport. */
static int
s_map_simple (s_ctx_t *ctx, hg_json_t *res, Hourglass__RecordKind kind, const char *patient_key,
              const char *code_key, const char *dt_key, const char *period_key,
              const char *fallback_key)
{
    Hourglass__Record *rec = s_clinical (ctx, res, kind, patient_key, ctx->ref);
    if (!rec) {
        return -1;
    }
    if (strcmp (code_key, "medicationCodeableConcept") == 0 && !s_has (res, code_key)
        && s_has (res, "medicationReference")) {
        s_reject (ctx,
                  "%s.medicationReference is not supported; "
                  "the medication must be given as medicationCodeableConcept",
                  ctx->type);
        return -1;
    }
    if (s_required_codes (ctx, rec, res, code_key, code_key) < 0
        || s_effective (ctx, rec, res, dt_key, period_key, fallback_key) < 0) {
        return -1;
    }
    return 0;
}

/* MedicationStatement: like MedicationRequest, effective from
 * effectiveDateTime / effectivePeriod, else dateAsserted; R4 names the
 * encounter `context` (an Encounter or EpisodeOfCare reference). */
static int
s_map_statement (s_ctx_t *ctx, hg_json_t *res)
{
    size_t start = hg_batch_record_count (ctx->out);
    if (s_map_simple (ctx, res, HOURGLASS__RECORD_KIND__KIND_MEDICATION, "subject",
                      "medicationCodeableConcept", "effectiveDateTime", "effectivePeriod",
                      "dateAsserted")
        < 0) {
        return -1;
    }
    Hourglass__Record *rec = hg_batch_records (ctx->out)[start];
    hg_json_t *context = s_obj (res, "context");
    const char *ref = s_str (context, "reference");
    if (hg_str_empty (rec->encounter_ref) && ref && strstr (ref, "Encounter/")) {
        s_set_encounter (ctx, rec, context);
    }
    return 0;
}

/* Adds a Coding (system + code) member; true when added. */
static bool
s_add_coding (s_ctx_t *ctx, Hourglass__Record *rec, hg_json_t *coding)
{
    const char *sys = s_system (s_str (coding, "system"));
    const char *code = s_str (coding, "code");
    if (!sys || !code) {
        return false;
    }
    s_check (ctx, hg_record_add_code (ctx->a, rec, sys, code, s_str (coding, "display")));
    return true;
}

/* ImagingStudy: codes from modality[] (Codings), else the series'
 * modalities, then procedureCode[]; effective `started`; identifiers
 * (Study Instance UID, accession) from identifier[]. */
static int
s_map_imaging (s_ctx_t *ctx, hg_json_t *res)
{
    Hourglass__Record *rec = s_clinical (ctx, res, HOURGLASS__RECORD_KIND__KIND_IMAGING_STUDY,
                                         "subject", ctx->ref);
    if (!rec) {
        return -1;
    }
    hg_json_t *mods = s_arr (res, "modality");
    size_t n = mods ? hg_json_length (mods) : 0;
    for (size_t i = 0; i < n && i < S_MAX_ITEMS && !ctx->oom; i++) {
        s_add_coding (ctx, rec, hg_json_item (mods, i));
    }
    if (rec->n_codes == 0) {
        /* no study-level list: the distinct modalities of the series */
        hg_json_t *series = s_arr (res, "series");
        n = series ? hg_json_length (series) : 0;
        for (size_t i = 0; i < n && i < S_MAX_ITEMS && !ctx->oom; i++) {
            hg_json_t *m = s_obj (hg_json_item (series, i), "modality");
            const char *code = s_str (m, "code");
            const char *sys = s_str (m, "system");
            bool seen = false;
            for (size_t k = 0; code && sys && k < rec->n_codes && !seen; k++) {
                seen = strcmp (rec->codes[k]->code, code) == 0
                       && strcmp (rec->codes[k]->system, sys) == 0;
            }
            if (!seen) {
                s_add_coding (ctx, rec, m);
            }
        }
    }
    hg_json_t *procs = s_arr (res, "procedureCode");
    n = procs ? hg_json_length (procs) : 0;
    for (size_t i = 0; i < n && i < S_MAX_ITEMS && !ctx->oom; i++) {
        s_add_codings (ctx, rec, hg_json_item (procs, i));
    }
    if (rec->n_codes == 0) {
        s_reject (ctx, "ImagingStudy has no modality, series modality or procedureCode "
                       "coding with both system and code; the record needs a code");
        return -1;
    }
    if (s_date_member (ctx, res, "started", "started", &rec->effective) < 0) {
        return -1;
    }
    s_identifiers (ctx, rec, res);
    return 0;
}

/* text/plain with no charset, or charset utf-8 / us-ascii. */
static bool
s_plain_utf8 (const char *content_type)
{
    size_t tn = strlen ("text/plain");
    if (strncasecmp (content_type, "text/plain", tn) != 0) {
        return false;
    }
    const char *p = content_type + tn;
    while (*p == ' ') {
        p++;
    }
    if (!*p) {
        return true;
    }
    if (*p != ';') {
        return false; /* "text/plainx" */
    }
    const char *cs = strstr (p, "charset=");
    if (!cs) {
        return true;
    }
    cs += 8;
    if (*cs == '"') {
        cs++;
    }
    return strncasecmp (cs, "utf-8", 5) == 0 || strncasecmp (cs, "us-ascii", 8) == 0;
}

/* An Attachment's data (base64) appended to rec->text when its contentType
 * is plain UTF-8 text; other content types (a PDF, a URL only) add
 * nothing. The whole resource already passed the max_field_bytes check,
 * and the decoded text is shorter than its base64 form, so the cap holds.
 * field names it in a rejection. 0, or -1 rejected. */
static int
s_attachment_text (s_ctx_t *ctx, Hourglass__Record *rec, hg_json_t *att, const char *field)
{
    const char *type = s_str (att, "contentType");
    hg_json_t *data = s_get (att, "data", HG_JSON_STRING);
    if (!type || !data || !s_plain_utf8 (type)) {
        return 0;
    }
    const char *b64 = hg_json_string (data);
    size_t b64_len = (size_t) hg_json_string_len (data);
    size_t cap = b64_len / 4 * 3 + 3;
    unsigned char *bin = hg_arena_alloc (ctx->a, cap + 1);
    if (!bin) {
        ctx->oom = true;
        return -1;
    }
    size_t bin_len = 0;
    if (sodium_base642bin (bin, cap, b64, b64_len, " \t\r\n", &bin_len, NULL,
                           sodium_base64_VARIANT_ORIGINAL)
        != 0) {
        s_reject (ctx, "%s.data is not valid base64 (RFC 4648 with padding)", field);
        return -1;
    }
    if (memchr (bin, '\0', bin_len) || !hg_utf8_valid (bin, bin_len)) {
        s_reject (ctx,
                  "%s.data does not decode to UTF-8 text without NUL bytes although "
                  "contentType is '%.60s'",
                  field, type);
        return -1;
    }
    s_text_append (ctx, rec, (const char *) bin, bin_len);
    return ctx->oom ? -1 : 0;
}

/* The attachments of an array of objects each holding one under member
 * (DocumentReference.content[].attachment), or of an array of attachments
 * (member NULL: DiagnosticReport.presentedForm[]). 0, or -1 rejected. */
static int
s_attachments_text (s_ctx_t *ctx, Hourglass__Record *rec, hg_json_t *res, const char *key,
                    const char *member)
{
    hg_json_t *arr = s_arr (res, key);
    size_t n = arr ? hg_json_length (arr) : 0;
    for (size_t i = 0; i < n && i < S_MAX_ITEMS; i++) {
        hg_json_t *item = s_arr_obj (res, key, i);
        hg_json_t *att = member ? s_obj (item, member) : item;
        char field[96];
        snprintf (field, sizeof (field), "%s.%s[%zu]%s%s", ctx->type, key, i, member ? "." : "",
                  member ? member : "");
        if (att && s_attachment_text (ctx, rec, att, field) < 0) {
            return -1;
        }
    }
    return 0;
}

/* DocumentReference -> note: codes from type, effective `date`, encounter
 * from context.encounter[0], text from every plain-text attachment of
 * content[]. */
static int
s_map_document (s_ctx_t *ctx, hg_json_t *res)
{
    Hourglass__Record *rec = s_clinical (ctx, res, HOURGLASS__RECORD_KIND__KIND_NOTE, "subject",
                                         ctx->ref);
    if (!rec) {
        return -1;
    }
    if (s_required_codes (ctx, rec, res, "type", "type") < 0
        || s_date_member (ctx, res, "date", "date", &rec->effective) < 0
        || s_attachments_text (ctx, rec, res, "content", "attachment") < 0) {
        return -1;
    }
    if (hg_str_empty (rec->encounter_ref)) {
        /* R4 keeps it in context.encounter[] (R5: top-level encounter) */
        s_set_encounter (ctx, rec, s_arr_obj (s_obj (res, "context"), "encounter", 0));
    }
    return 0;
}

/* DiagnosticReport: a lab observation coded by code, effective from
 * effectiveDateTime / effectivePeriod, else issued; its text the conclusion
 * and every plain-text presentedForm. */
static int
s_map_report (s_ctx_t *ctx, hg_json_t *res)
{
    size_t start = hg_batch_record_count (ctx->out);
    if (s_map_simple (ctx, res, HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION, "subject", "code",
                      "effectiveDateTime", "effectivePeriod", "issued")
        < 0) {
        return -1;
    }
    Hourglass__Record *rec = hg_batch_records (ctx->out)[start];
    const char *conclusion = s_str (res, "conclusion");
    if (conclusion) {
        s_text_append (ctx, rec, conclusion, strlen (conclusion));
    }
    return s_attachments_text (ctx, rec, res, "presentedForm", NULL);
}

/* Resource types of FHIR R4 (4.0.1), sorted: a type in this list that no
 * mapping takes is valid data we do not use, counted as ignored; any other
 * resourceType is a mistake and is rejected (s_r4_type). */
static const char *const s_r4_types[] = {
    "Account",
    "ActivityDefinition",
    "AdverseEvent",
    "AllergyIntolerance",
    "Appointment",
    "AppointmentResponse",
    "AuditEvent",
    "Basic",
    "Binary",
    "BiologicallyDerivedProduct",
    "BodyStructure",
    "Bundle",
    "CapabilityStatement",
    "CarePlan",
    "CareTeam",
    "CatalogEntry",
    "ChargeItem",
    "ChargeItemDefinition",
    "Claim",
    "ClaimResponse",
    "ClinicalImpression",
    "CodeSystem",
    "Communication",
    "CommunicationRequest",
    "CompartmentDefinition",
    "Composition",
    "ConceptMap",
    "Condition",
    "Consent",
    "Contract",
    "Coverage",
    "CoverageEligibilityRequest",
    "CoverageEligibilityResponse",
    "DetectedIssue",
    "Device",
    "DeviceDefinition",
    "DeviceMetric",
    "DeviceRequest",
    "DeviceUseStatement",
    "DiagnosticReport",
    "DocumentManifest",
    "DocumentReference",
    "EffectEvidenceSynthesis",
    "Encounter",
    "Endpoint",
    "EnrollmentRequest",
    "EnrollmentResponse",
    "EpisodeOfCare",
    "EventDefinition",
    "Evidence",
    "EvidenceVariable",
    "ExampleScenario",
    "ExplanationOfBenefit",
    "FamilyMemberHistory",
    "Flag",
    "Goal",
    "GraphDefinition",
    "Group",
    "GuidanceResponse",
    "HealthcareService",
    "ImagingStudy",
    "Immunization",
    "ImmunizationEvaluation",
    "ImmunizationRecommendation",
    "ImplementationGuide",
    "InsurancePlan",
    "Invoice",
    "Library",
    "Linkage",
    "List",
    "Location",
    "Measure",
    "MeasureReport",
    "Media",
    "Medication",
    "MedicationAdministration",
    "MedicationDispense",
    "MedicationKnowledge",
    "MedicationRequest",
    "MedicationStatement",
    "MedicinalProduct",
    "MedicinalProductAuthorization",
    "MedicinalProductContraindication",
    "MedicinalProductIndication",
    "MedicinalProductIngredient",
    "MedicinalProductInteraction",
    "MedicinalProductManufactured",
    "MedicinalProductPackaged",
    "MedicinalProductPharmaceutical",
    "MedicinalProductUndesirableEffect",
    "MessageDefinition",
    "MessageHeader",
    "MolecularSequence",
    "NamingSystem",
    "NutritionOrder",
    "Observation",
    "ObservationDefinition",
    "OperationDefinition",
    "OperationOutcome",
    "Organization",
    "OrganizationAffiliation",
    "Parameters",
    "Patient",
    "PaymentNotice",
    "PaymentReconciliation",
    "Person",
    "PlanDefinition",
    "Practitioner",
    "PractitionerRole",
    "Procedure",
    "Provenance",
    "Questionnaire",
    "QuestionnaireResponse",
    "RelatedPerson",
    "RequestGroup",
    "ResearchDefinition",
    "ResearchElementDefinition",
    "ResearchStudy",
    "ResearchSubject",
    "RiskAssessment",
    "RiskEvidenceSynthesis",
    "Schedule",
    "SearchParameter",
    "ServiceRequest",
    "Slot",
    "Specimen",
    "SpecimenDefinition",
    "StructureDefinition",
    "StructureMap",
    "Subscription",
    "Substance",
    "SubstanceNucleicAcid",
    "SubstancePolymer",
    "SubstanceProtein",
    "SubstanceReferenceInformation",
    "SubstanceSourceMaterial",
    "SubstanceSpecification",
    "SupplyDelivery",
    "SupplyRequest",
    "Task",
    "TerminologyCapabilities",
    "TestReport",
    "TestScript",
    "ValueSet",
    "VerificationResult",
    "VisionPrescription",
};

static bool
s_r4_type (const char *type)
{
    size_t lo = 0, hi = sizeof (s_r4_types) / sizeof (s_r4_types[0]);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp (type, s_r4_types[mid]);
        if (c == 0) {
            return true;
        }
        if (c < 0) {
            hi = mid;
        }
        else {
            lo = mid + 1;
        }
    }
    return false;
}

/* True when id follows R4's id rule: [A-Za-z0-9\-\.]{1,64}. */
static bool
s_r4_id_ok (const char *id)
{
    size_t n = 0;
    for (; id[n]; n++) {
        char c = id[n];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
                  || c == '-' || c == '.';
        if (!ok || n == 64) {
            return false;
        }
    }
    return n > 0;
}

/* Flags the records added since start when the resource's id breaks R4's
 * id rule (HG_FHIR_FLAG_BAD_ID): kept, the partner's report counts it. */
static void
s_flag_bad_id (s_ctx_t *ctx, const char *id, hg_batch_mark_t start)
{
    if (!id || s_r4_id_ok (id)) {
        return;
    }
    Hourglass__Record **recs = hg_batch_records (ctx->out);
    for (size_t i = start; i < hg_batch_record_count (ctx->out); i++) {
        if (!hg_parse_add_flag (ctx->a, recs[i], HG_FHIR_FLAG_BAD_ID)) {
            ctx->oom = true;
        }
    }
}

/* Resource types mapped to records (s_resource). */
static bool
s_mapped_type (const char *type)
{
    static const char *const names[] = {
        "Observation",        "Patient",           "Encounter",           "Condition",
        "AllergyIntolerance", "MedicationRequest", "MedicationStatement", "ImagingStudy",
        "DocumentReference",  "Procedure",         "Immunization",        "DiagnosticReport",
    };
    for (size_t i = 0; i < sizeof (names) / sizeof (names[0]); i++) {
        if (type[0] == names[i][0] && strcmp (type, names[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* Resource types that carry no patient data: counted, not quarantined. */
static bool
s_non_clinical (const char *type)
{
    static const char *const names[] = {
        "Organization",
        "OrganizationAffiliation",
        "Practitioner",
        "PractitionerRole",
        "Location",
        "HealthcareService",
        "Endpoint",
        "Medication",
        "MedicationKnowledge",
        "Device",
        "DeviceDefinition",
        "DeviceMetric",
        "Substance",
        "SubstanceSpecification",
        "Provenance",
        "AuditEvent",
        "Binary",
        "CapabilityStatement",
        "StructureDefinition",
        "StructureMap",
        "ImplementationGuide",
        "SearchParameter",
        "OperationDefinition",
        "OperationOutcome",
        "CompartmentDefinition",
        "MessageDefinition",
        "GraphDefinition",
        "ValueSet",
        "CodeSystem",
        "ConceptMap",
        "NamingSystem",
        "TerminologyCapabilities",
        "Parameters",
        "Subscription",
        "Questionnaire",
        "PlanDefinition",
        "ActivityDefinition",
        "Library",
        "Measure",
        "ObservationDefinition",
        "SpecimenDefinition",
        "ChargeItemDefinition",
        "EventDefinition",
        "ResearchDefinition",
        "ResearchElementDefinition",
        "Evidence",
        "EvidenceVariable",
        "EffectEvidenceSynthesis",
        "RiskEvidenceSynthesis",
        "TestScript",
        "TestReport",
        "ExampleScenario",
        "MessageHeader",
        "Linkage",
        "Schedule",
        "Slot",
        "InsurancePlan",
        "CatalogEntry",
        "Group",
        "MedicinalProduct",
        "MedicinalProductAuthorization",
        "MedicinalProductContraindication",
        "MedicinalProductIndication",
        "MedicinalProductIngredient",
        "MedicinalProductInteraction",
        "MedicinalProductManufactured",
        "MedicinalProductPackaged",
        "MedicinalProductPharmaceutical",
        "MedicinalProductUndesirableEffect",
        "SubstanceNucleicAcid",
        "SubstancePolymer",
        "SubstanceProtein",
        "SubstanceReferenceInformation",
        "SubstanceSourceMaterial",
        "BiologicallyDerivedProduct",
        "VerificationResult",
        "ResearchStudy",
        /* financial: billing, not clinical facts */
        "Claim",
        "ClaimResponse",
        "ExplanationOfBenefit",
        "Coverage",
        "CoverageEligibilityRequest",
        "CoverageEligibilityResponse",
        "EnrollmentRequest",
        "EnrollmentResponse",
        "PaymentNotice",
        "PaymentReconciliation",
        "Account",
        "ChargeItem",
        "Invoice",
    };
    for (size_t i = 0; i < sizeof (names) / sizeof (names[0]); i++) {
        if (strcmp (type, names[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* True when v holds a JSON string (or key) longer than max. No path: the
 * common case (nothing too long) costs one walk without formatting. */
static bool
s_has_oversized (hg_json_t *v, size_t max)
{
    switch (hg_json_type (v)) {
    case HG_JSON_STRING:
        return (size_t) hg_json_string_len (v) > max;
    case HG_JSON_OBJECT:
        for (size_t i = 0; i < v->len; i++) {
            if (strlen (v->keys[i]) > max
                || (v->items[i] && s_has_oversized (v->items[i], max))) {
                return true;
            }
        }
        return false;
    case HG_JSON_ARRAY: {
        size_t n = hg_json_length (v);
        for (size_t i = 0; i < n; i++) {
            hg_json_t *child = hg_json_item (v, i);
            if (child && s_has_oversized (child, max)) {
                return true;
            }
        }
        return false;
    }
    default:
        return false;
    }
}

/* Finds a JSON string (or key) longer than max; writes its path. */
static bool
s_oversized (hg_json_t *v, size_t max, char *path, size_t path_size, size_t *found)
{
    size_t used = strlen (path);
    if (hg_json_is (v, HG_JSON_STRING)) {
        size_t n = (size_t) hg_json_string_len (v);
        if (n > max) {
            *found = n;
            return true;
        }
    }
    else if (hg_json_is (v, HG_JSON_OBJECT)) {
        for (size_t i = 0; i < v->len; i++) {
            const char *key = v->keys[i];
            hg_json_t *child = v->items[i];
            snprintf (path + used, path_size - used, "%s%s", used ? "." : "", key);
            if (strlen (key) > max) {
                *found = strlen (key);
                return true;
            }
            if (child && s_oversized (child, max, path, path_size, found)) {
                return true;
            }
            path[used] = '\0';
        }
    }
    else if (hg_json_is (v, HG_JSON_ARRAY)) {
        size_t n = hg_json_length (v);
        for (size_t i = 0; i < n; i++) {
            snprintf (path + used, path_size - used, "[%zu]", i);
            hg_json_t *child = hg_json_item (v, i);
            if (child && s_oversized (child, max, path, path_size, found)) {
                return true;
            }
            path[used] = '\0';
        }
    }
    return false;
}

/* Counts a valid resource that makes no record as ignored, under
 * "FHIR <type><why>" (type is one of R4's names, never partner text). */
static void
s_ignore (s_ctx_t *ctx, const char *type, const char *why)
{
    char kind[HG_IGNORE_KIND_MAX];
    snprintf (kind, sizeof (kind), "FHIR %s%s", type, why);
    hg_batch_ignore (ctx->out, kind);
}

/* True (and counted as ignored) for valid data no mapping takes: an R4
 * type without patient data or not mapped, a DocumentReference without
 * subject (0..1 in R4). */
static bool
s_skip_unmapped (s_ctx_t *ctx, hg_json_t *res, const char *type)
{
    if (!s_mapped_type (type)) {
        if (s_non_clinical (type)) {
            s_ignore (ctx, type, "");
            return true;
        }
        if (s_r4_type (type)) {
            s_ignore (ctx, type, " (unsupported)");
            return true;
        }
    }
    if (strcmp (type, "DocumentReference") == 0 && !s_has (res, "subject")) {
        s_ignore (ctx, type, " without subject");
        return true;
    }
    return false;
}

static int s_bundle (s_ctx_t *ctx, hg_json_t *bundle, const char *prefix);

/* Maps one resource. index is 1-based; prefix "resource" or "line".
 * Returns 0 to go on, -1 to stop (out of memory or max_records). */
static int
s_resource (s_ctx_t *ctx, hg_json_t *res, const char *prefix, size_t index, bool in_bundle)
{
    ctx->res = res;
    ctx->type = "resource";
    size_t used = 0;
    s_put (ctx->where, sizeof (ctx->where), &used, prefix, SIZE_MAX);
    s_put (ctx->where, sizeof (ctx->where), &used, " ", 1);
    s_put_index (ctx->where, sizeof (ctx->where), &used, index);
    size_t at_index_end = used;
    memcpy (ctx->ref, ctx->where, used + 1 <= sizeof (ctx->ref) ? used + 1 : sizeof (ctx->ref));
    ctx->ref[sizeof (ctx->ref) - 1] = '\0';
    if (!hg_json_is (res, HG_JSON_OBJECT)) {
        s_reject (ctx, "the JSON value is a %s, expected a FHIR resource (a JSON object)",
                  hg_json_type_name (hg_json_type (res)));
        return 0;
    }
    const char *type = s_str (res, "resourceType");
    if (!type) {
        s_reject (ctx, "resourceType is missing; cannot tell what this resource is");
        return 0;
    }
    const char *id = s_str (res, "id");
    /* "%.60s/%.80s" and "%s %zu (%s)", without the cost of snprintf */
    size_t rl = 0;
    s_put (ctx->ref, sizeof (ctx->ref), &rl, type, 60);
    s_put (ctx->ref, sizeof (ctx->ref), &rl, "/", 1);
    s_put (ctx->ref, sizeof (ctx->ref), &rl, id ? id : "(no id)", 80);
    used = at_index_end;
    s_put (ctx->where, sizeof (ctx->where), &used, " (", 2);
    s_put (ctx->where, sizeof (ctx->where), &used, ctx->ref, SIZE_MAX);
    s_put (ctx->where, sizeof (ctx->where), &used, ")", 1);
    ctx->type = type;

    if (strcmp (type, "Bundle") == 0) {
        if (in_bundle) {
            s_reject (ctx, "a Bundle inside a Bundle is not supported; send its entries "
                           "in a Bundle of their own");
            return 0;
        }
        return s_bundle (ctx, res, "resource");
    }
    if (s_skip_unmapped (ctx, res, type)) {
        return 0;
    }
    /* a decoded JSON string is never longer than its text (escapes only
     * shrink), so a payload within the limit cannot hold an oversized field */
    if (ctx->max_field_bytes && ctx->text_len > ctx->max_field_bytes
        && s_has_oversized (res, ctx->max_field_bytes)) {
        char path[256] = "";
        size_t found = 0;
        if (s_oversized (res, ctx->max_field_bytes, path, sizeof (path), &found)) {
            s_reject (ctx,
                      "field %s.%s is %zu bytes, over the limit of %zu bytes "
                      "(max_field_bytes)",
                      type, path, found, ctx->max_field_bytes);
            return 0;
        }
    }

    hg_batch_mark_t start = hg_batch_mark (ctx->out);
    int rc;
    if (strcmp (type, "Patient") == 0) {
        rc = s_map_patient (ctx, res, id);
    }
    else if (strcmp (type, "Encounter") == 0) {
        rc = s_map_encounter (ctx, res, id);
    }
    else if (strcmp (type, "Condition") == 0) {
        rc = s_map_condition (ctx, res, id, false);
    }
    else if (strcmp (type, "AllergyIntolerance") == 0) {
        rc = s_map_condition (ctx, res, id, true);
    }
    else if (strcmp (type, "Observation") == 0) {
        rc = s_map_observation (ctx, res);
    }
    else if (strcmp (type, "MedicationRequest") == 0) {
        rc = s_map_simple (ctx, res, HOURGLASS__RECORD_KIND__KIND_MEDICATION, "subject",
                           "medicationCodeableConcept", "authoredOn", NULL, NULL);
    }
    else if (strcmp (type, "MedicationStatement") == 0) {
        rc = s_map_statement (ctx, res);
    }
    else if (strcmp (type, "ImagingStudy") == 0) {
        rc = s_map_imaging (ctx, res);
    }
    else if (strcmp (type, "DocumentReference") == 0) {
        rc = s_map_document (ctx, res);
    }
    else if (strcmp (type, "Procedure") == 0) {
        rc = s_map_simple (ctx, res, HOURGLASS__RECORD_KIND__KIND_PROCEDURE, "subject", "code",
                           "performedDateTime", "performedPeriod", NULL);
    }
    else if (strcmp (type, "Immunization") == 0) {
        rc = s_map_simple (ctx, res, HOURGLASS__RECORD_KIND__KIND_MEDICATION, "patient",
                           "vaccineCode", "occurrenceDateTime", NULL, NULL);
    }
    else if (strcmp (type, "DiagnosticReport") == 0) {
        rc = s_map_report (ctx, res);
    }
    else {
        s_reject (ctx,
                  "resourceType '%s' is not a FHIR R4 resource type (mapped: Patient, "
                  "Encounter, Condition, Observation, MedicationRequest, MedicationStatement, "
                  "Procedure, Immunization, AllergyIntolerance, DiagnosticReport, ImagingStudy, "
                  "DocumentReference; other R4 types are counted as ignored)",
                  type);
        rc = 0;
    }
    if (rc == 0) {
        s_flag_bad_id (ctx, id, start);
    }
    if (rc < 0 || ctx->oom || ctx->limit_hit) {
        /* all or nothing: drop what this resource added */
        hg_batch_rollback (ctx->out, start);
    }
    return ctx->oom || ctx->limit_hit ? -1 : 0;
}

static int
s_bundle (s_ctx_t *ctx, hg_json_t *bundle, const char *prefix)
{
    hg_json_t *entries = s_arr (bundle, "entry");
    if (!entries) {
        if (s_has (bundle, "entry")) {
            s_reject (ctx, "Bundle.entry is not an array");
        }
        return 0;
    }
    if (s_index_patients (ctx, entries) < 0) {
        ctx->oom = true;
        return -1;
    }
    const char *saved_excerpt = ctx->excerpt;
    size_t saved_len = ctx->excerpt_len;
    ctx->excerpt = NULL; /* excerpts of entries: their own JSON */
    ctx->excerpt_len = 0;
    size_t n = hg_json_length (entries);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        hg_json_t *entry = hg_json_item (entries, i);
        hg_json_t *res = s_obj (entry, "resource");
        if (!res) {
            hg_batch_ignore (ctx->out, "FHIR Bundle entry without resource"); /* a DELETE */
            continue;
        }
        rc = s_resource (ctx, res, prefix, i + 1, true);
        if (rc < 0 && ctx->limit_hit && !ctx->limit_reported) {
            ctx->limit_reported = true;
            snprintf (ctx->where, sizeof (ctx->where), "resource %zu", i + 1);
            hg_batch_reject_limit (ctx->out, NULL, 0, ctx->where,
                                   "Bundle entries %zu to %zu are not parsed", i + 1, n);
        }
    }
    free (ctx->urns);
    ctx->urns = NULL;
    ctx->n_urns = 0;
    ctx->excerpt = saved_excerpt;
    ctx->excerpt_len = saved_len;
    return rc;
}

/* ------------------------------------------------------------------------
 * Framing: single value, NDJSON, concatenated values */

static void
s_position (const char *data, size_t off, size_t *line, size_t *col)
{
    size_t l = 1, c = 1;
    for (size_t i = 0; i < off; i++) {
        if (data[i] == '\n') {
            l++;
            c = 1;
        }
        else {
            c++;
        }
    }
    *line = l;
    *col = c;
}

static bool
s_blank (const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n') {
            return false;
        }
    }
    return true;
}

/* Parses one JSON value from p[0..n) into ctx->tree: our parser first,
 * json-c when it declines (hg_json_parse), so errors and positions are
 * json-c's. Sets *end to the bytes consumed and *err to the error (success
 * / continue = truncated). NULL on error (and for a JSON null). */
static hg_json_t *
s_parse_value (s_ctx_t *ctx, json_tokener *tok, const char *p, size_t n, size_t *end,
               enum json_tokener_error *err)
{
    hg_json_t *fast = NULL;
    int rc = hg_json_parse (ctx->tree, p, n, &fast, end);
    if (rc == 1) {
        *err = json_tokener_success;
        return fast;
    }
    /* declined, or out of memory: json-c, into a tree of its own */
    json_tokener_reset (tok);
    json_object *v = json_tokener_parse_ex (tok, p, (int) n);
    *err = json_tokener_get_error (tok);
    *end = json_tokener_get_parse_end (tok);
    if (*err == json_tokener_continue) {
        /* a bare number at the very end needs a terminator; other values
         * are truncated */
        json_object_put (v);
        v = json_tokener_parse_ex (tok, "", 1);
        *err = json_tokener_get_error (tok);
        *end = n;
        if (*err != json_tokener_success) {
            json_object_put (v);
            v = NULL;
            *err = json_tokener_continue;
        }
    }
    if (*err != json_tokener_success) {
        json_object_put (v);
        return NULL;
    }
    bool oom = false;
    hg_json_t *copy = hg_json_from_json_c (ctx->tree, v, &oom);
    json_object_put (v);
    if (oom) {
        ctx->oom = true;
        *err = json_tokener_error_size;
        return NULL;
    }
    return copy;
}

static const char *
s_json_error (enum json_tokener_error err)
{
    if (err == json_tokener_continue) {
        return "unexpected end of data (truncated JSON)";
    }
    return json_tokener_error_desc (err);
}

/* True when a line holds exactly one JSON object. */
static bool
s_line_is_object (s_ctx_t *ctx, json_tokener *tok, const char *p, size_t n)
{
    size_t end;
    enum json_tokener_error err;
    while (n > 0 && (*p == ' ' || *p == '\t')) {
        p++;
        n--;
    }
    if (n == 0 || *p != '{') {
        return false;
    }
    hg_json_t *v = s_parse_value (ctx, tok, p, n, &end, &err);
    bool ok = v && hg_json_is (v, HG_JSON_OBJECT) && s_blank (p + end, n - end);
    hg_arena_reset (ctx->tree);
    return ok;
}

/* NDJSON when one of the first two non-blank lines is a JSON object on its
 * own and there are at least two non-blank lines. */
static bool
s_looks_ndjson (s_ctx_t *ctx, json_tokener *tok, const char *data, size_t len)
{
    size_t pos = 0, lines = 0;
    bool object_line = false;
    while (pos < len && lines < 3) {
        const char *nl = memchr (data + pos, '\n', len - pos);
        size_t n = nl ? (size_t) (nl - (data + pos)) : len - pos;
        if (!s_blank (data + pos, n)) {
            lines++;
            if (lines <= 2 && s_line_is_object (ctx, tok, data + pos, n)) {
                object_line = true;
            }
        }
        pos += n + 1;
    }
    return lines >= 2 && object_line;
}

/* When the single-value parse of the payload (which consumed the
 * whitespace after the value, up to end) took an object alone on the first
 * non-blank line, with more on the lines after, the payload is NDJSON (the
 * test of s_looks_ndjson holds) and that object is its first line: returns
 * the offset of that line and sets *obj_end past the object's '}'; else
 * SIZE_MAX. */
static size_t
s_first_line_object (hg_json_t *v, const char *data, size_t end, size_t *obj_end)
{
    if (!v || !hg_json_is (v, HG_JSON_OBJECT)) {
        return SIZE_MAX;
    }
    size_t q = 0;
    while (q < end && (data[q] == ' ' || data[q] == '\t' || data[q] == '\r' || data[q] == '\n')) {
        q++;
    }
    size_t ls = q;
    while (ls > 0 && data[ls - 1] != '\n') {
        ls--;
    }
    for (size_t i = ls; i < q; i++) {
        if (data[i] != ' ' && data[i] != '\t') {
            return SIZE_MAX; /* s_line_is_object skips spaces and tabs only */
        }
    }
    size_t last = end;
    while (last > q && data[last - 1] != '}') {
        last--;
    }
    if (q >= last || data[q] != '{' || memchr (data + q, '\n', last - q)
        || !memchr (data + last, '\n', end - last)) {
        return SIZE_MAX; /* spans lines, or the next value is on its line */
    }
    *obj_end = last;
    return ls;
}

/* first: the value of the line at offset first_at, parsed already (in
 * ctx->tree; NULL when none). */
static int
s_ndjson (s_ctx_t *ctx, json_tokener *tok, const char *data, size_t len, hg_json_t *first,
          size_t first_at, size_t first_end)
{
    size_t pos = 0, line_no = 0;
    while (pos < len) {
        const char *line = data + pos;
        const char *nl = memchr (line, '\n', len - pos);
        size_t n = nl ? (size_t) (nl - line) : len - pos;
        pos += n + 1;
        line_no++;
        if (s_blank (line, n)) {
            continue;
        }
        if (ctx->limit_hit && !ctx->limit_reported) {
            ctx->limit_reported = true;
            snprintf (ctx->where, sizeof (ctx->where), "line %zu", line_no);
            hg_batch_reject_rest (ctx->out, line, n, ctx->where);
            break;
        }
        size_t end;
        enum json_tokener_error err;
        hg_json_t *v;
        if (first && line == data + first_at) {
            v = first;
            first = NULL;
            end = first_end - first_at;
            err = json_tokener_success;
        }
        else {
            v = s_parse_value (ctx, tok, line, n, &end, &err);
        }
        snprintf (ctx->where, sizeof (ctx->where), "line %zu", line_no);
        if (!v) {
            hg_batch_reject (ctx->out, line, n, ctx->where,
                             "line %zu: invalid JSON: %s at byte %zu of the line", line_no,
                             s_json_error (err), end + 1);
            continue;
        }
        if (!s_blank (line + end, n - end)) {
            hg_batch_reject (ctx->out, line, n, ctx->where,
                             "line %zu: unexpected data after the JSON value at byte %zu of "
                             "the line (NDJSON holds one resource per line)",
                             line_no, end + 1);
            hg_arena_reset (ctx->tree);
            continue;
        }
        ctx->excerpt = line;
        ctx->excerpt_len = n;
        int rc = s_resource (ctx, v, "line", line_no, false);
        ctx->excerpt = NULL;
        ctx->res = NULL;
        ctx->type = "resource";
        hg_arena_reset (ctx->tree); /* the records keep copies */
        if (rc < 0 && ctx->oom) {
            return -1;
        }
        if (rc < 0 && ctx->limit_hit) {
            if (!ctx->limit_reported) {
                ctx->limit_reported = true;
                snprintf (ctx->where, sizeof (ctx->where), "line %zu", line_no);
                hg_batch_reject_rest (ctx->out, line, n, ctx->where);
            }
            break;
        }
    }
    return 0;
}

/* One value, or several values one after the other (each one resource). */
static int
s_values (s_ctx_t *ctx, json_tokener *tok, const char *data, size_t len)
{
    size_t pos = 0, index = 0;
    while (pos < len && !s_blank (data + pos, len - pos)) {
        size_t end, line, col;
        enum json_tokener_error err;
        hg_json_t *v = s_parse_value (ctx, tok, data + pos, len - pos, &end, &err);
        index++;
        if (!v) {
            s_position (data, pos + end, &line, &col);
            snprintf (ctx->where, sizeof (ctx->where), "line %zu byte %zu", line, pos + end + 1);
            size_t ex_at = pos + end > 64 ? pos + end - 64 : 0;
            hg_batch_reject (ctx->out, data + ex_at, len - ex_at, ctx->where,
                             "invalid JSON: %s at line %zu column %zu (byte %zu)",
                             s_json_error (err), line, col, pos + end + 1);
            return 0;
        }
        size_t next = pos + end;
        bool more = !s_blank (data + next, len - next);
        if (more && index == 1) {
            /* trailing data on the same line as the value's end is garbage */
            const char *nl = memchr (data + next, '\n', len - next);
            size_t rest = nl ? (size_t) (nl - (data + next)) : len - next;
            if (!s_blank (data + next, rest)) {
                s_position (data, next, &line, &col);
                snprintf (ctx->where, sizeof (ctx->where), "line %zu byte %zu", line, next + 1);
                hg_batch_reject (ctx->out, data + next, len - next, ctx->where,
                                 "invalid JSON: unexpected data after the JSON value at line "
                                 "%zu column %zu (byte %zu)",
                                 line, col, next + 1);
                hg_arena_reset (ctx->tree);
                return 0;
            }
        }
        ctx->excerpt = index == 1 && !more ? data : NULL;
        ctx->excerpt_len = ctx->excerpt ? len : 0;
        int rc = s_resource (ctx, v, "resource", index, false);
        ctx->excerpt = NULL;
        ctx->res = NULL;
        ctx->type = "resource";
        hg_arena_reset (ctx->tree); /* the records keep copies */
        if (rc < 0) {
            if (ctx->limit_hit && !ctx->limit_reported) {
                ctx->limit_reported = true;
                snprintf (ctx->where, sizeof (ctx->where), "resource %zu", index);
                hg_batch_reject_rest (ctx->out, NULL, 0, ctx->where);
            }
            return ctx->oom ? -1 : 0;
        }
        pos = next;
    }
    return 0;
}

int
hg_fhir_parse (const char *data, size_t len, const hg_parse_limits_t *limits, hg_batch_t *out)
{
    s_ctx_t ctx;
    memset (&ctx, 0, sizeof (ctx));
    ctx.out = out;
    ctx.a = hg_batch_arena (out);
    ctx.max_field_bytes = limits ? limits->max_field_bytes : 0;
    ctx.text_len = len;
    hg_batch_mark_t first_record = hg_batch_begin (out, limits);
    hg_parse_payload (&data, &len);
    if (s_blank (data, len)) {
        hg_batch_reject (out, NULL, 0, "payload",
                         "empty payload: expected a FHIR resource, a Bundle or NDJSON");
        return 0;
    }
    if (len >= (size_t) INT_MAX) {
        hg_batch_reject (out, data, len, "payload",
                         "payload of %zu bytes is too large for the JSON parser (limit %d)", len,
                         INT_MAX - 1);
        return 0;
    }
    json_tokener *tok = json_tokener_new_ex (S_JSON_DEPTH);
    ctx.tree = hg_arena_new (0);
    if (!tok || !ctx.tree) {
        if (tok) {
            json_tokener_free (tok);
        }
        hg_arena_destroy (&ctx.tree);
        hg_batch_reject_oom (out, NULL);
        return HG_ENOMEM;
    }
    json_tokener_set_flags (tok, S_TOKENER_FLAGS);

    /* a single value followed by nothing is the common case: one parse */
    size_t end;
    enum json_tokener_error err;
    hg_json_t *whole = s_parse_value (&ctx, tok, data, len, &end, &err);
    bool single = whole && s_blank (data + end, len - end);
    size_t first_at, first_end = 0;
    int rc;
    if (single) {
        ctx.excerpt = data;
        ctx.excerpt_len = len;
        rc = s_resource (&ctx, whole, "resource", 1, false);
        if (rc < 0 && ctx.limit_hit && !ctx.limit_reported) {
            hg_batch_reject_limit (out, NULL, 0, "resource 1", "resource 1 is not parsed");
        }
        rc = ctx.oom ? -1 : 0;
    }
    else if ((first_at = s_first_line_object (whole, data, end, &first_end)) != SIZE_MAX) {
        /* NDJSON whose first line is parsed already */
        rc = s_ndjson (&ctx, tok, data, len, whole, first_at, first_end);
    }
    else {
        hg_arena_reset (ctx.tree); /* parsed again below, value by value */
        if (s_looks_ndjson (&ctx, tok, data, len)) {
            rc = s_ndjson (&ctx, tok, data, len, NULL, 0, 0);
        }
        else {
            rc = s_values (&ctx, tok, data, len);
        }
    }
    json_tokener_free (tok);
    hg_arena_destroy (&ctx.tree);
    if (rc == 0 && !ctx.oom) {
        /* Patients anywhere in the payload (before or after the records
         * that reference them) name their records' patient */
        s_link_records (&ctx, first_record);
    }
    free (ctx.links);
    if (rc < 0 || ctx.oom) {
        hg_batch_reject_oom (out, ctx.where);
        return HG_ENOMEM;
    }
    return (int) hg_batch_since (out, first_record);
}
