/*
 * fhir_http.c -- FHIR over HTTP: libmicrohttpd handlers that validate a
 * partner's POST, hand it to the collector thread and answer with its verdict.
 * The daemon, the hand-off queue and the capped body are common/http_server.c's;
 * here are the route, the checks, the in-flight budget and the OperationOutcomes.
 * See fhir_http.h for the contract.
 */
#define _GNU_SOURCE
#include "fhir_http.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>
#include <microhttpd.h>
#include <sodium.h>

#include "http_server.h"
#include "json_check.h"
#include "log.h"
#include "util.h"

#define HG_PARTNER_MAX HG_FHIR_HTTP_PARTNER_MAX
#define HG_BATCH_ID_MAX 256
#define HG_JSON_DEPTH_MAX 64
#define HG_BODY_FIRST_CAP 65536 /* a chunked body's first buffer */

/* A request shared by its HTTP handler and, once queued, the collector. */
typedef struct {
    hg_http_job_t job;            /* first member: the hand-off queue's part */
    hg_http_request_t pub;        /* the collector's view */
    hg_fhir_http_status_t status; /* the verdict, once job.answered */
    unsigned retry_after_s;
    char message_id[512];
    char reason[600];
    char partner[HG_PARTNER_MAX + 1];
    char batch_id[HG_BATCH_ID_MAX + 1];
    char content_type[64];
    char *body;      /* owned */
    size_t reserved; /* of the in-flight budget, given back with body */
} s_req_t;

/* Per-connection state between the calls of the access handler. */
typedef struct {
    hg_http_conn_t base; /* first member: .responded */
    struct hg_fhir_http *owner;
    bool ndjson;
    char partner[HG_PARTNER_MAX + 1];   /* copied from the table: survives a reload */
    char batch_id[HG_BATCH_ID_MAX + 1]; /* "" until given or hashed */
    char content_type[64];
    hg_http_body_t body; /* .refused: a chunked body past the in-flight budget, 503 at its end */
    size_t reserved;     /* bytes of the in-flight budget this request holds */
    uint64_t started_ms; /* when its headers were read */
} s_conn_t;

struct hg_fhir_http {
    hg_http_daemon_t *daemon;
    hg_http_queue_t *queue; /* to the collector thread */
    size_t max_body_bytes;
    size_t max_inflight_bytes; /* the budget of all bodies held at once */
    size_t inflight;           /* bytes of it reserved; atomic */
    uint64_t body_timeout_ms;  /* 0: none */
    unsigned answer_timeout_ms;
    hg_http_auth_t *auth; /* the bearer tokens in force (tokens.h) */
};

/* ---- OperationOutcome responses ------------------------------------------- */

typedef struct {
    const char *severity, *code;
} s_issue_t;

/* An OperationOutcome with one issue (arg: its s_issue_t). */
static char *
s_outcome (const char *diagnostics, const void *arg)
{
    const s_issue_t *is = arg;
    json_object *oo = json_object_new_object ();
    json_object *issues = json_object_new_array ();
    json_object *issue = json_object_new_object ();
    if (!oo || !issues || !issue) {
        json_object_put (oo);
        json_object_put (issues);
        json_object_put (issue);
        return NULL;
    }
    json_object_object_add (issue, "severity", json_object_new_string (is->severity));
    json_object_object_add (issue, "code", json_object_new_string (is->code));
    json_object_object_add (issue, "diagnostics", json_object_new_string (diagnostics));
    json_object_array_add (issues, issue);
    json_object_object_add (oo, "resourceType", json_object_new_string ("OperationOutcome"));
    json_object_object_add (oo, "issue", issues);
    char *text = strdup (
        json_object_to_json_string_ext (oo,
                                        JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put (oo);
    return text;
}

static const hg_http_error_style_t s_style = {.type = "application/fhir+json", .body = s_outcome};

static enum MHD_Result s_reply (struct MHD_Connection *conn, unsigned status,
                                const char *severity, const char *code, const char *hdr,
                                const char *hdr_value, const char *fmt, ...)
    __attribute__ ((format (printf, 7, 8)));

/* Queues an OperationOutcome with one issue; hdr (may be NULL) is an extra header. */
static enum MHD_Result
s_reply (struct MHD_Connection *conn, unsigned status, const char *severity, const char *code,
         const char *hdr, const char *hdr_value, const char *fmt, ...)
{
    s_issue_t is = {severity, code};
    va_list ap;
    va_start (ap, fmt);
    enum MHD_Result rc = hg_http_verror (conn, status, &s_style, &is, hdr, hdr_value, fmt, ap);
    va_end (ap);
    return rc;
}

/* ---- validation -------------------------------------------------------------- */

/* Checks one parsed value is a resource we take; fills why on failure. */
static bool
s_check_resource (const hg_json_check_t *v, bool top_level, char *why, size_t cap)
{
    if (!v->object) {
        snprintf (why, cap, "not a JSON object");
        return false;
    }
    if (!v->has_resource_type || !*v->resource_type) {
        snprintf (why, cap, "a JSON object without a \"resourceType\" is not a FHIR resource");
        return false;
    }
    if (top_level && strcmp (v->resource_type, "Bundle") == 0) {
        const char *t = v->has_type ? v->type : "";
        if (strcmp (t, "batch") != 0 && strcmp (t, "transaction") != 0
            && strcmp (t, "collection") != 0) {
            snprintf (why, cap,
                      "Bundle.type '%.40s' is not accepted: send a batch, transaction or "
                      "collection Bundle",
                      t);
            return false;
        }
    }
    return true;
}

/* Checks data[0..len) is exactly one JSON value and a resource we take. One
 * pass, nothing built (json_check.h): checking a body costs no memory of
 * its size, so bodies are checked side by side. */
static bool
s_check_json (const char *data, size_t len, bool top_level, char *why, size_t cap)
{
    hg_json_check_t v;
    if (!hg_json_check (data, len, HG_JSON_DEPTH_MAX, &v)) {
        snprintf (why, cap, "%s", v.why);
        return false;
    }
    size_t end = v.end;
    while (end < len && isspace ((unsigned char) data[end])) {
        end++;
    }
    if (end != len) {
        snprintf (why, cap, "unexpected data after the JSON value at byte %zu", end);
        return false;
    }
    return s_check_resource (&v, top_level, why, cap);
}

/* A Bundle or resource (JSON), or one resource per line (NDJSON). */
static bool
s_check_body (const char *body, size_t len, bool ndjson, char *why, size_t cap)
{
    if (!ndjson) {
        return s_check_json (body, len, true, why, cap);
    }
    bool ok = true;
    size_t line_no = 0, resources = 0, off = 0;
    char inner[400];
    while (ok && off < len) {
        const char *nl = memchr (body + off, '\n', len - off);
        size_t end = nl ? (size_t) (nl - body) : len;
        line_no++;
        size_t a = off, b = end;
        while (a < b && isspace ((unsigned char) body[a])) {
            a++;
        }
        while (b > a && isspace ((unsigned char) body[b - 1])) {
            b--;
        }
        if (b > a) {
            ok = s_check_json (body + a, b - a, false, inner, sizeof (inner));
            if (!ok) {
                snprintf (why, cap, "NDJSON line %zu: %s (one resource per line)", line_no,
                          inner);
            }
            resources++;
        }
        off = end + 1;
    }
    if (ok && resources == 0) {
        snprintf (why, cap, "NDJSON body holds no resource, only blank lines");
        ok = false;
    }
    return ok;
}

static bool
s_batch_id_ok (const char *id)
{
    size_t n = strlen (id);
    if (n == 0 || n > HG_BATCH_ID_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char) id[i] < 0x21 || (unsigned char) id[i] > 0x7e) {
            return false;
        }
    }
    return true;
}

/* ---- the in-flight budget ------------------------------------------------------ */

/* Reserves n more bytes of the budget for a request that holds *held;
 * false (nothing reserved) when that would pass the budget. A request
 * reserves its Content-Length before its body is read, a chunked one
 * each buffer growth before it happens, so the bodies in memory never
 * exceed max_inflight_bytes. */
static bool
s_budget_take (hg_fhir_http_t *self, size_t *held, size_t n)
{
    size_t cur = __atomic_load_n (&self->inflight, __ATOMIC_RELAXED);
    do {
        if (n > self->max_inflight_bytes || cur > self->max_inflight_bytes - n) {
            return false;
        }
    } while (!__atomic_compare_exchange_n (&self->inflight, &cur, cur + n, true, __ATOMIC_ACQ_REL,
                                           __ATOMIC_RELAXED));
    *held += n;
    return true;
}

static void
s_budget_give (hg_fhir_http_t *self, size_t *held)
{
    if (*held) {
        __atomic_fetch_sub (&self->inflight, *held, __ATOMIC_ACQ_REL);
        *held = 0;
    }
}

/* The 503 of a request the budget has no room for: nothing of it is stored. */
static enum MHD_Result
s_reply_over_budget (hg_fhir_http_t *self, struct MHD_Connection *conn, unsigned long long bytes)
{
    size_t now = __atomic_load_n (&self->inflight, __ATOMIC_RELAXED);
    hg_info ("http_over_budget", "bytes=%llu inflight=%zu budget=%zu", bytes, now,
             self->max_inflight_bytes);
    return s_reply (conn, MHD_HTTP_SERVICE_UNAVAILABLE, "error", "transient",
                    MHD_HTTP_HEADER_RETRY_AFTER, "2",
                    "the collector is receiving %zu bytes of other uploads and holds at most "
                    "%zu (http_inflight_bytes); this body of %llu bytes was not stored: retry "
                    "after the delay",
                    now, self->max_inflight_bytes, bytes);
}

/* ---- the handler ------------------------------------------------------------- */

/* First call: everything decided from the request line and headers. Returns
 * with c->base.responded set when an error response is queued. */
static enum MHD_Result
s_check_headers (hg_fhir_http_t *self, struct MHD_Connection *conn, const char *url,
                 const char *method, s_conn_t *c)
{
    if (strcmp (url, "/fhir") != 0 && strcmp (url, "/fhir/") != 0) {
        c->base.responded = true;
        return s_reply (conn, MHD_HTTP_NOT_FOUND, "error", "not-found", NULL, NULL,
                        "no such endpoint: POST FHIR resources, Bundles or NDJSON to /fhir");
    }
    if (strcmp (method, "POST") != 0) {
        c->base.responded = true;
        return s_reply (conn, MHD_HTTP_METHOD_NOT_ALLOWED, "error", "not-supported",
                        MHD_HTTP_HEADER_ALLOW, "POST", "method %.16s is not supported: use POST",
                        method);
    }
    if (!hg_http_auth_match (self->auth,
                             MHD_lookup_connection_value (conn, MHD_HEADER_KIND,
                                                          MHD_HTTP_HEADER_AUTHORIZATION),
                             c->partner, sizeof (c->partner))) {
        c->base.responded = true;
        return s_reply (conn, MHD_HTTP_UNAUTHORIZED, "error", "login",
                        MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"hourglass\"",
                        "missing or unknown bearer token: send 'Authorization: Bearer "
                        "<token>' with the token you were issued");
    }
    const char *ct = MHD_lookup_connection_value (conn, MHD_HEADER_KIND,
                                                  MHD_HTTP_HEADER_CONTENT_TYPE);
    bool known = hg_http_media_type (ct, c->content_type, sizeof (c->content_type));
    bool json = known
                && (strcmp (c->content_type, "application/fhir+json") == 0
                    || strcmp (c->content_type, "application/json") == 0);
    c->ndjson = known
                && (strcmp (c->content_type, "application/fhir+ndjson") == 0
                    || strcmp (c->content_type, "application/x-ndjson") == 0
                    || strcmp (c->content_type, "application/ndjson") == 0);
    if (!json && !c->ndjson) {
        c->base.responded = true;
        return s_reply (conn, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "error", "not-supported", NULL,
                        NULL,
                        "content type '%.64s' is not supported: send application/fhir+json "
                        "(a Bundle or a resource) or application/fhir+ndjson",
                        ct ? ct : "(none)");
    }
    const char *bid = MHD_lookup_connection_value (conn, MHD_HEADER_KIND, "X-Batch-Id");
    if (bid) {
        if (!s_batch_id_ok (bid)) {
            c->base.responded = true;
            return s_reply (conn, MHD_HTTP_BAD_REQUEST, "error", "value", NULL, NULL,
                            "X-Batch-Id must be 1-%d printable ASCII characters without "
                            "spaces",
                            HG_BATCH_ID_MAX);
        }
        snprintf (c->batch_id, sizeof (c->batch_id), "%s", bid);
    }
    const char *ce = MHD_lookup_connection_value (conn, MHD_HEADER_KIND,
                                                  MHD_HTTP_HEADER_CONTENT_ENCODING);
    if (ce && *ce && strcasecmp (ce, "identity") != 0) {
        /* a compressed body would be bounded only by what it inflates to: not taken */
        c->base.responded = true;
        return s_reply (conn, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "error", "not-supported", NULL,
                        NULL,
                        "Content-Encoding '%.32s' is not supported: send the body uncompressed "
                        "(at most %zu bytes)",
                        ce, self->max_body_bytes);
    }
    const char *cl = MHD_lookup_connection_value (conn, MHD_HEADER_KIND,
                                                  MHD_HTTP_HEADER_CONTENT_LENGTH);
    unsigned long long declared = cl ? strtoull (cl, NULL, 10) : 0;
    if (cl && declared > self->max_body_bytes) {
        /* answered before the body is read; MHD then closes the connection */
        c->base.responded = true;
        return s_reply (conn, MHD_HTTP_CONTENT_TOO_LARGE, "error", "too-costly", NULL, NULL,
                        "body of %.20s bytes exceeds the limit of %zu bytes; split the batch", cl,
                        self->max_body_bytes);
    }
    if (cl && declared > 0) {
        /* the whole body's room is taken before a byte of it is read */
        if (!s_budget_take (self, &c->reserved, (size_t) declared + 1)) {
            c->base.responded = true;
            return s_reply_over_budget (self, conn, declared);
        }
        c->body.data = malloc ((size_t) declared + 1);
        if (!c->body.data) {
            return MHD_NO;
        }
        c->body.cap = (size_t) declared + 1;
    }
    return MHD_YES;
}

/* ---- the hand-off to the collector -------------------------------------------- */

static s_req_t *
s_req_of (hg_http_request_t *pub)
{
    return (s_req_t *) (void *) ((char *) pub - offsetof (s_req_t, pub));
}

/* The queue's job_free: the last reference to a request went. */
static void
s_req_free (void *cls, hg_http_job_t *job)
{
    s_req_t *r = (s_req_t *) job;
    free (r->body);
    s_budget_give (cls, &r->reserved);
    free (r);
}

/* The partner's answer once the wait is over. */
static enum MHD_Result
s_verdict (hg_fhir_http_t *self, struct MHD_Connection *conn, const s_conn_t *c, const s_req_t *r,
           hg_http_wait_t w, bool taken)
{
    if (w == HG_HTTP_STOPPING) {
        return s_reply (conn, MHD_HTTP_SERVICE_UNAVAILABLE, "error", "transient",
                        MHD_HTTP_HEADER_RETRY_AFTER, "5", "collector is shutting down; retry");
    }
    if (w == HG_HTTP_TIMEOUT) {
        hg_warn ("http_timeout", "partner=%s taken=%d timeout_ms=%u", c->partner, taken,
                 self->answer_timeout_ms);
        return s_reply (conn, MHD_HTTP_GATEWAY_TIMEOUT, "error", "timeout", NULL, NULL,
                        "the collector did not answer within %u ms; retry (re-sending the "
                        "same batch is safe)",
                        self->answer_timeout_ms);
    }
    switch (r->status) {
    case HG_FHIR_HTTP_ACCEPTED:
        return s_reply (conn, MHD_HTTP_ACCEPTED, "information", "informational", NULL, NULL,
                        "accepted as %s", r->message_id);
    case HG_FHIR_HTTP_DUPLICATE:
        return s_reply (conn, MHD_HTTP_OK, "information", "informational", NULL, NULL,
                        "already accepted as %s", r->message_id);
    case HG_FHIR_HTTP_BUSY: {
        char after[16];
        snprintf (after, sizeof (after), "%u", r->retry_after_s ? r->retry_after_s : 1);
        return s_reply (conn, MHD_HTTP_SERVICE_UNAVAILABLE, "error", "transient",
                        MHD_HTTP_HEADER_RETRY_AFTER, after, "%s",
                        *r->reason ? r->reason : "pipeline is saturated; retry later");
    }
    default:
        return s_reply (conn, MHD_HTTP_BAD_REQUEST, "error", "invalid", NULL, NULL, "%s",
                        *r->reason ? r->reason : "rejected by the collector");
    }
}

/* Last call: the body is complete and checked; queue it, wait, answer. */
static enum MHD_Result
s_submit (hg_fhir_http_t *self, struct MHD_Connection *conn, s_conn_t *c)
{
    s_req_t *r = calloc (1, sizeof (*r));
    if (!r) {
        return s_reply (conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "error", "exception", NULL, NULL,
                        "out of memory");
    }
    snprintf (r->partner, sizeof (r->partner), "%s", c->partner);
    snprintf (r->batch_id, sizeof (r->batch_id), "%s", c->batch_id);
    snprintf (r->content_type, sizeof (r->content_type), "%s", c->content_type);
    r->body = c->body.data;
    r->pub = (hg_http_request_t) {.partner = r->partner,
                                  .batch_id = r->batch_id,
                                  .content_type = r->content_type,
                                  .format = "fhir",
                                  .body = r->body,
                                  .body_len = c->body.len};
    r->job.bytes = c->body.len;
    c->body.data = NULL;
    c->body.len = c->body.cap = 0;
    r->reserved = c->reserved; /* the budget goes with the body */
    c->reserved = 0;
    bool taken = false;
    hg_http_wait_t w = hg_http_queue_submit (self->queue, &r->job, &taken);
    enum MHD_Result rc = s_verdict (self, conn, c, r, w, taken);
    hg_http_queue_release (self->queue, &r->job);
    return rc;
}

/* A chunked body's buffer may grow to cap: the budget has room for it. */
static bool
s_grow (void *arg, size_t cap)
{
    s_conn_t *c = arg;
    return cap <= c->reserved || s_budget_take (c->owner, &c->reserved, cap - c->reserved);
}

/* A chunk of the body: kept within max_body_bytes and the budget. */
static enum MHD_Result
s_chunk (void *cls, hg_http_conn_t *state, const char *upload, size_t n)
{
    hg_fhir_http_t *self = cls;
    s_conn_t *c = (s_conn_t *) state;
    if (self->body_timeout_ms && hg_now_ms () - c->started_ms > self->body_timeout_ms) {
        /* a body trickled in too slowly: closed, its room back to the others */
        hg_info ("http_body_timeout", "partner=%s received=%zu timeout_s=%llu", c->partner,
                 c->body.len, (unsigned long long) (self->body_timeout_ms / 1000));
        hg_http_body_drop (&c->body);
        s_budget_give (self, &c->reserved);
        return MHD_NO;
    }
    hg_http_body_rc_t rc = hg_http_body_append (&c->body, upload, n, self->max_body_bytes,
                                                HG_BODY_FIRST_CAP, s_grow, c);
    if (rc == HG_HTTP_BODY_NOMEM) {
        return MHD_NO;
    }
    if (rc != HG_HTTP_BODY_OK) {
        /* past the limit or the budget: nothing kept, answered once the body has been read */
        s_budget_give (self, &c->reserved);
    }
    return MHD_YES;
}

static enum MHD_Result
s_headers (void *cls, struct MHD_Connection *conn, const char *url, const char *method,
           hg_http_conn_t *state)
{
    s_conn_t *c = (s_conn_t *) state;
    c->owner = cls;
    c->started_ms = hg_now_ms ();
    return s_check_headers (cls, conn, url, method, c);
}

/* The body is all in: the last checks, then the hand-off. */
static enum MHD_Result
s_complete (void *cls, struct MHD_Connection *conn, hg_http_conn_t *state)
{
    hg_fhir_http_t *self = cls;
    s_conn_t *c = (s_conn_t *) state;
    if (c->body.refused) {
        return s_reply_over_budget (self, conn, (unsigned long long) c->body.len);
    }
    if (c->body.too_large) {
        return s_reply (conn, MHD_HTTP_CONTENT_TOO_LARGE, "error", "too-costly", NULL, NULL,
                        "body exceeds the limit of %zu bytes; split the batch",
                        self->max_body_bytes);
    }
    if (c->body.len == 0) {
        return s_reply (conn, MHD_HTTP_BAD_REQUEST, "error", "required", NULL, NULL,
                        "empty body: send a FHIR Bundle, a resource or NDJSON");
    }
    char why[512];
    if (!s_check_body (c->body.data, c->body.len, c->ndjson, why, sizeof (why))) {
        return s_reply (conn, MHD_HTTP_BAD_REQUEST, "error", "structure", NULL, NULL, "%s", why);
    }
    if (!*c->batch_id) {
        unsigned char h[16];
        char hex[33];
        crypto_generichash (h, sizeof (h), (const unsigned char *) c->body.data, c->body.len,
                            NULL, 0);
        sodium_bin2hex (hex, sizeof (hex), h, sizeof (h));
        snprintf (c->batch_id, sizeof (c->batch_id), "http-%s", hex);
    }
    return s_submit (self, conn, c);
}

static void
s_done (void *cls, hg_http_conn_t *state)
{
    s_conn_t *c = (s_conn_t *) state;
    hg_http_body_drop (&c->body);
    s_budget_give (cls, &c->reserved);
}

static const hg_http_steps_t s_steps = {.size = sizeof (s_conn_t),
                                        .headers = s_headers,
                                        .chunk = s_chunk,
                                        .complete = s_complete,
                                        .done = s_done};

/* ---- public API -------------------------------------------------------------- */

hg_fhir_http_t *
hg_fhir_http_start (const hg_fhir_http_opts_t *opts, hg_err_t *err)
{
    if (opts->max_body_bytes == 0) {
        hg_err_set (err, HG_EINVAL, "http max_body_bytes must be positive");
        return NULL;
    }
    if (sodium_init () < 0) {
        hg_err_set (err, HG_EIO, "libsodium failed to initialise");
        return NULL;
    }
    hg_fhir_http_t *self = calloc (1, sizeof (*self));
    if (!self) {
        hg_err_set (err, HG_ENOMEM, "out of memory");
        return NULL;
    }
    self->max_body_bytes = opts->max_body_bytes;
    self->max_inflight_bytes = opts->max_inflight_bytes ? opts->max_inflight_bytes
                                                        : 4 * opts->max_body_bytes;
    self->body_timeout_ms = (uint64_t) opts->body_timeout_s * 1000u;
    if (self->max_inflight_bytes < self->max_body_bytes + 1) {
        hg_err_set (err, HG_EINVAL,
                    "http_inflight_bytes (%zu) is below max_payload_bytes (%zu): a body of the "
                    "largest accepted size would never fit",
                    self->max_inflight_bytes, self->max_body_bytes);
        free (self);
        return NULL;
    }
    self->answer_timeout_ms = opts->answer_timeout_ms ? opts->answer_timeout_ms
                                                      : HG_FHIR_HTTP_ANSWER_TIMEOUT_MS;
    self->auth = hg_http_auth_open (opts->tokens_file, err);
    if (!self->auth) {
        goto failed;
    }
    self->queue = hg_http_queue_new (self->answer_timeout_ms, s_req_free, self, err);
    if (!self->queue) {
        goto failed;
    }
    hg_http_daemon_opts_t d = {.listen = opts->listen,
                               .listen_opt = "http",
                               .name = "FHIR",
                               .log_tag = "http",
                               .tls_cert = opts->tls_cert,
                               .tls_key = opts->tls_key,
                               .tls_cert_opt = "http_tls_cert",
                               .tls_key_opt = "http_tls_key",
                               .max_conns = opts->max_conns ? opts->max_conns
                                                            : HG_FHIR_HTTP_MAX_CONNS,
                               .max_conns_per_addr = opts->max_conns_per_addr,
                               .idle_s = opts->idle_s,
                               .steps = &s_steps,
                               .cls = self};
    self->daemon = hg_http_daemon_start (&d, err);
    if (!self->daemon) {
        goto failed;
    }
    hg_info ("http_listening",
             "address=%s scheme=%s partners=%zu max_body_bytes=%zu inflight_bytes=%zu",
             opts->listen, hg_http_daemon_tls (self->daemon) ? "https" : "http",
             hg_http_auth_count (self->auth), self->max_body_bytes, self->max_inflight_bytes);
    return self;
failed:
    hg_fhir_http_stop (&self);
    return NULL;
}

int
hg_fhir_http_reload_tokens (hg_fhir_http_t *self, size_t *partners, hg_err_t *err)
{
    return hg_http_auth_reload (self->auth, partners, err);
}

bool
hg_fhir_http_tls (const hg_fhir_http_t *self)
{
    return self && hg_http_daemon_tls (self->daemon);
}

int
hg_fhir_http_fd (hg_fhir_http_t *self)
{
    return hg_http_queue_fd (self->queue);
}

size_t
hg_fhir_http_take (hg_fhir_http_t *self, hg_http_request_t **out, size_t max, size_t max_bytes)
{
    size_t n = 0, bytes = 0;
    while (n < max && (n == 0 || max_bytes == 0 || bytes < max_bytes)) {
        hg_http_job_t *job = hg_http_queue_take (self->queue);
        if (!job) {
            break;
        }
        s_req_t *r = (s_req_t *) job;
        bytes += r->pub.body_len;
        out[n++] = &r->pub;
    }
    return n;
}

void
hg_fhir_http_answer (hg_fhir_http_t *self, hg_http_request_t *req, hg_fhir_http_status_t status,
                     const char *message_id, const char *reason, unsigned retry_after_s)
{
    s_req_t *r = s_req_of (req);
    /* read by the handler only once answered (hg_http_queue_submit) */
    r->status = status;
    r->retry_after_s = retry_after_s;
    snprintf (r->message_id, sizeof (r->message_id), "%s", message_id ? message_id : "");
    snprintf (r->reason, sizeof (r->reason), "%s", reason ? reason : "");
    hg_http_queue_answer (self->queue, &r->job);
}

void
hg_fhir_http_stop (hg_fhir_http_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    hg_fhir_http_t *self = *self_p;
    hg_http_queue_shutdown (self->queue);
    hg_http_daemon_stop (&self->daemon); /* joins the handlers; they unqueue their own */
    hg_http_queue_destroy (&self->queue);
    hg_http_auth_close (&self->auth);
    free (self);
    *self_p = NULL;
}
