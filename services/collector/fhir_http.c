/*
 * fhir_http.c -- FHIR over HTTP: libmicrohttpd handlers that validate a
 * partner's POST, hand it to the collector thread and answer with its verdict.
 * See fhir_http.h for the contract.
 */
#define _GNU_SOURCE
#include "fhir_http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <microhttpd.h>
#include <sodium.h>

#include "json_check.h"
#include "log.h"
#include "util.h"

#define HG_PARTNER_MAX HG_FHIR_HTTP_PARTNER_MAX
#define HG_BATCH_ID_MAX 256
#define HG_JSON_DEPTH_MAX 64

/* A request shared by its HTTP handler and, once queued, the collector. */
typedef struct s_req {
    hg_http_request_t pub; /* first member: the collector's view */
    struct s_req *next;    /* queue link while queued */
    int refs;              /* handler + queue/collector; freed at 0 */
    bool queued;           /* in self->head..tail, not yet taken */
    bool answered;         /* the collector's verdict is below */
    hg_fhir_http_status_t status;
    unsigned retry_after_s;
    char message_id[512];
    char reason[600];
    char partner[HG_PARTNER_MAX + 1];
    char batch_id[HG_BATCH_ID_MAX + 1];
    char content_type[64];
    char *body;      /* owned */
    size_t reserved; /* of the in-flight budget, given back with body */
    struct hg_fhir_http *owner;
} s_req_t;

/* Per-connection state between the calls of the access handler. */
typedef struct {
    bool responded; /* a response is queued; discard the rest */
    bool too_large;
    bool ndjson;
    char partner[HG_PARTNER_MAX + 1];   /* copied from the table: survives a reload */
    char batch_id[HG_BATCH_ID_MAX + 1]; /* "" until given or hashed */
    char content_type[64];
    bool over_budget; /* a chunked body past the in-flight budget: 503 at its end */
    char *body;
    size_t len, cap;
    size_t reserved;     /* bytes of the in-flight budget this request holds */
    uint64_t started_ms; /* when its headers were read */
} s_conn_t;

struct hg_fhir_http {
    struct MHD_Daemon *daemon;
    int efd; /* eventfd: readable while the queue is non-empty */
    size_t max_body_bytes;
    size_t max_inflight_bytes; /* the budget of all bodies held at once */
    size_t inflight;           /* bytes of it reserved; atomic */
    uint64_t body_timeout_ms;  /* 0: none */
    unsigned answer_timeout_ms;
    hg_http_auth_t *auth; /* the bearer tokens in force (tokens.h) */
    char *tls_cert;       /* PEM text, owned; NULL when plain HTTP */
    char *tls_key;        /* PEM text, owned, wiped on stop */
    size_t tls_key_len;
    pthread_mutex_t log_lock; /* guards starting and start_error */
    bool starting;            /* libmicrohttpd messages go to start_error */
    char start_error[256];    /* its first message while starting */
    pthread_mutex_t lock;     /* guards the queue, stopping and every s_req_t */
    pthread_cond_t answered;  /* broadcast on each verdict and on stop */
    s_req_t *head, *tail;
    bool stopping;
};

/* ---- OperationOutcome responses ------------------------------------------- */

static enum MHD_Result s_reply (struct MHD_Connection *conn, unsigned status,
                                const char *severity, const char *code, const char *hdr,
                                const char *hdr_value, const char *fmt, ...)
    __attribute__ ((format (printf, 7, 8)));

/* Queues an OperationOutcome with one issue; hdr (may be NULL) is an extra header. */
static enum MHD_Result
s_reply (struct MHD_Connection *conn, unsigned status, const char *severity, const char *code,
         const char *hdr, const char *hdr_value, const char *fmt, ...)
{
    char diagnostics[1024];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (diagnostics, sizeof (diagnostics), fmt, ap);
    va_end (ap);
    json_object *oo = json_object_new_object ();
    json_object *issues = json_object_new_array ();
    json_object *issue = json_object_new_object ();
    if (!oo || !issues || !issue) {
        json_object_put (oo);
        json_object_put (issues);
        json_object_put (issue);
        return MHD_NO;
    }
    json_object_object_add (issue, "severity", json_object_new_string (severity));
    json_object_object_add (issue, "code", json_object_new_string (code));
    json_object_object_add (issue, "diagnostics", json_object_new_string (diagnostics));
    json_object_array_add (issues, issue);
    json_object_object_add (oo, "resourceType", json_object_new_string ("OperationOutcome"));
    json_object_object_add (oo, "issue", issues);
    size_t len = 0;
    const char *text = json_object_to_json_string_length (oo,
                                                          JSON_C_TO_STRING_PLAIN
                                                              | JSON_C_TO_STRING_NOSLASHESCAPE,
                                                          &len);
    struct MHD_Response *resp = MHD_create_response_from_buffer (len, (void *) text,
                                                                 MHD_RESPMEM_MUST_COPY);
    json_object_put (oo);
    if (!resp) {
        return MHD_NO;
    }
    MHD_add_response_header (resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/fhir+json");
    if (hdr) {
        MHD_add_response_header (resp, hdr, hdr_value);
    }
    enum MHD_Result rc = MHD_queue_response (conn, status, resp);
    MHD_destroy_response (resp);
    return rc;
}

/* ---- validation -------------------------------------------------------------- */

/* Lower-cased media type without parameters into out; false when absent. */
static bool
s_media_type (const char *content_type, char *out, size_t cap)
{
    if (!content_type) {
        return false;
    }
    while (*content_type == ' ') {
        content_type++;
    }
    size_t n = 0;
    for (; content_type[n] && content_type[n] != ';' && content_type[n] != ' '; n++) {
        if (n + 1 >= cap) {
            return false;
        }
        out[n] = (char) tolower ((unsigned char) content_type[n]);
    }
    out[n] = '\0';
    return n > 0;
}

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
 * with c->responded set when an error response is queued. */
static enum MHD_Result
s_check_headers (hg_fhir_http_t *self, struct MHD_Connection *conn, const char *url,
                 const char *method, s_conn_t *c)
{
    if (strcmp (url, "/fhir") != 0 && strcmp (url, "/fhir/") != 0) {
        c->responded = true;
        return s_reply (conn, MHD_HTTP_NOT_FOUND, "error", "not-found", NULL, NULL,
                        "no such endpoint: POST FHIR resources, Bundles or NDJSON to /fhir");
    }
    if (strcmp (method, "POST") != 0) {
        c->responded = true;
        return s_reply (conn, MHD_HTTP_METHOD_NOT_ALLOWED, "error", "not-supported",
                        MHD_HTTP_HEADER_ALLOW, "POST", "method %.16s is not supported: use POST",
                        method);
    }
    if (!hg_http_auth_match (self->auth,
                             MHD_lookup_connection_value (conn, MHD_HEADER_KIND,
                                                          MHD_HTTP_HEADER_AUTHORIZATION),
                             c->partner, sizeof (c->partner))) {
        c->responded = true;
        return s_reply (conn, MHD_HTTP_UNAUTHORIZED, "error", "login",
                        MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"hourglass\"",
                        "missing or unknown bearer token: send 'Authorization: Bearer "
                        "<token>' with the token you were issued");
    }
    const char *ct = MHD_lookup_connection_value (conn, MHD_HEADER_KIND,
                                                  MHD_HTTP_HEADER_CONTENT_TYPE);
    bool known = s_media_type (ct, c->content_type, sizeof (c->content_type));
    bool json = known
                && (strcmp (c->content_type, "application/fhir+json") == 0
                    || strcmp (c->content_type, "application/json") == 0);
    c->ndjson = known
                && (strcmp (c->content_type, "application/fhir+ndjson") == 0
                    || strcmp (c->content_type, "application/x-ndjson") == 0
                    || strcmp (c->content_type, "application/ndjson") == 0);
    if (!json && !c->ndjson) {
        c->responded = true;
        return s_reply (conn, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "error", "not-supported", NULL,
                        NULL,
                        "content type '%.64s' is not supported: send application/fhir+json "
                        "(a Bundle or a resource) or application/fhir+ndjson",
                        ct ? ct : "(none)");
    }
    const char *bid = MHD_lookup_connection_value (conn, MHD_HEADER_KIND, "X-Batch-Id");
    if (bid) {
        if (!s_batch_id_ok (bid)) {
            c->responded = true;
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
        c->responded = true;
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
        c->responded = true;
        return s_reply (conn, MHD_HTTP_CONTENT_TOO_LARGE, "error", "too-costly", NULL, NULL,
                        "body of %.20s bytes exceeds the limit of %zu bytes; split the batch", cl,
                        self->max_body_bytes);
    }
    if (cl && declared > 0) {
        /* the whole body's room is taken before a byte of it is read */
        if (!s_budget_take (self, &c->reserved, (size_t) declared + 1)) {
            c->responded = true;
            return s_reply_over_budget (self, conn, declared);
        }
        c->body = malloc ((size_t) declared + 1);
        if (!c->body) {
            return MHD_NO;
        }
        c->cap = (size_t) declared + 1;
    }
    return MHD_YES;
}

static void
s_req_release (s_req_t *r)
{
    /* lock held */
    if (--r->refs == 0) {
        free (r->body);
        s_budget_give (r->owner, &r->reserved);
        free (r);
    }
}

static void
s_unlink (hg_fhir_http_t *self, s_req_t *r)
{
    /* lock held; r is queued */
    s_req_t **pp = &self->head;
    while (*pp != r) {
        pp = &(*pp)->next;
    }
    *pp = r->next;
    if (self->tail == r) {
        self->tail = NULL;
        for (s_req_t *q = self->head; q; q = q->next) {
            self->tail = q;
        }
    }
    r->next = NULL;
    r->queued = false;
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
    r->body = c->body;
    c->body = NULL;
    r->owner = self;
    r->reserved = c->reserved; /* the budget goes with the body */
    c->reserved = 0;
    r->pub.partner = r->partner;
    r->pub.batch_id = r->batch_id;
    r->pub.content_type = r->content_type;
    r->pub.format = "fhir";
    r->pub.body = r->body;
    r->pub.body_len = c->len;
    struct timespec deadline;
    clock_gettime (CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += self->answer_timeout_ms / 1000;
    deadline.tv_nsec += (long) (self->answer_timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }

    pthread_mutex_lock (&self->lock);
    if (self->stopping) {
        pthread_mutex_unlock (&self->lock);
        free (r->body);
        s_budget_give (self, &r->reserved);
        free (r);
        return s_reply (conn, MHD_HTTP_SERVICE_UNAVAILABLE, "error", "transient",
                        MHD_HTTP_HEADER_RETRY_AFTER, "5", "collector is shutting down; retry");
    }
    r->refs = 2;
    r->queued = true;
    if (self->tail) {
        self->tail->next = r;
    }
    else {
        self->head = r;
    }
    self->tail = r;
    uint64_t one = 1;
    if (write (self->efd, &one, sizeof (one)) < 0) {
        /* counter saturated cannot happen at 1 per request; already readable */
    }
    int wrc = 0;
    while (!r->answered && !self->stopping && wrc != ETIMEDOUT) {
        wrc = pthread_cond_timedwait (&self->answered, &self->lock, &deadline);
    }
    bool answered = r->answered;
    hg_fhir_http_status_t status = r->status;
    unsigned retry_after_s = r->retry_after_s;
    char message_id[sizeof (r->message_id)], reason[sizeof (r->reason)];
    memcpy (message_id, r->message_id, sizeof (message_id));
    memcpy (reason, r->reason, sizeof (reason));
    bool was_taken = !r->queued;
    if (r->queued) {
        s_unlink (self, r);
        r->refs--; /* the queue's reference; the collector never saw it */
    }
    bool stopping = self->stopping;
    s_req_release (r);
    pthread_mutex_unlock (&self->lock);

    if (!answered) {
        if (stopping) {
            return s_reply (conn, MHD_HTTP_SERVICE_UNAVAILABLE, "error", "transient",
                            MHD_HTTP_HEADER_RETRY_AFTER, "5",
                            "collector is shutting down; retry");
        }
        hg_warn ("http_timeout", "partner=%s taken=%d timeout_ms=%u", c->partner, was_taken,
                 self->answer_timeout_ms);
        return s_reply (conn, MHD_HTTP_GATEWAY_TIMEOUT, "error", "timeout", NULL, NULL,
                        "the collector did not answer within %u ms; retry (re-sending the "
                        "same batch is safe)",
                        self->answer_timeout_ms);
    }
    switch (status) {
    case HG_FHIR_HTTP_ACCEPTED:
        return s_reply (conn, MHD_HTTP_ACCEPTED, "information", "informational", NULL, NULL,
                        "accepted as %s", message_id);
    case HG_FHIR_HTTP_DUPLICATE:
        return s_reply (conn, MHD_HTTP_OK, "information", "informational", NULL, NULL,
                        "already accepted as %s", message_id);
    case HG_FHIR_HTTP_BUSY: {
        char after[16];
        snprintf (after, sizeof (after), "%u", retry_after_s ? retry_after_s : 1);
        return s_reply (conn, MHD_HTTP_SERVICE_UNAVAILABLE, "error", "transient",
                        MHD_HTTP_HEADER_RETRY_AFTER, after, "%s",
                        *reason ? reason : "pipeline is saturated; retry later");
    }
    default:
        return s_reply (conn, MHD_HTTP_BAD_REQUEST, "error", "invalid", NULL, NULL, "%s",
                        *reason ? reason : "rejected by the collector");
    }
}

static enum MHD_Result
s_handle (void *cls, struct MHD_Connection *conn, const char *url, const char *method,
          const char *version, const char *upload, size_t *upload_len, void **con_cls)
{
    (void) version;
    hg_fhir_http_t *self = cls;
    s_conn_t *c = *con_cls;
    if (!c) {
        c = calloc (1, sizeof (*c));
        if (!c) {
            return MHD_NO;
        }
        *con_cls = c;
        c->started_ms = hg_now_ms ();
        return s_check_headers (self, conn, url, method, c);
    }
    if (c->responded) {
        *upload_len = 0; /* discard whatever is still sent */
        return MHD_YES;
    }
    if (*upload_len > 0) {
        size_t n = *upload_len;
        *upload_len = 0;
        if (self->body_timeout_ms && hg_now_ms () - c->started_ms > self->body_timeout_ms) {
            /* a body trickled in too slowly: closed, its room back to the others */
            hg_info ("http_body_timeout", "partner=%s received=%zu timeout_s=%llu", c->partner,
                     c->len, (unsigned long long) (self->body_timeout_ms / 1000));
            free (c->body);
            c->body = NULL;
            c->len = c->cap = 0;
            s_budget_give (self, &c->reserved);
            return MHD_NO;
        }
        if (c->too_large || c->over_budget || c->len + n > self->max_body_bytes) {
            /* chunked upload past the limit or the budget: keep nothing more */
            c->too_large = c->too_large || !c->over_budget;
            free (c->body);
            c->body = NULL;
            c->len = c->cap = 0;
            s_budget_give (self, &c->reserved);
            return MHD_YES;
        }
        if (c->len + n + 1 > c->cap) {
            size_t cap = c->cap ? c->cap : 65536;
            while (cap < c->len + n + 1) {
                cap *= 2;
            }
            if (cap > self->max_body_bytes + 1) {
                cap = self->max_body_bytes + 1;
            }
            if (cap > c->reserved && !s_budget_take (self, &c->reserved, cap - c->reserved)) {
                c->over_budget = true; /* answered 503 once the body has been read */
                free (c->body);
                c->body = NULL;
                c->len = c->cap = 0;
                s_budget_give (self, &c->reserved);
                return MHD_YES;
            }
            char *nb = realloc (c->body, cap);
            if (!nb) {
                return MHD_NO;
            }
            c->body = nb;
            c->cap = cap;
        }
        memcpy (c->body + c->len, upload, n);
        c->len += n;
        c->body[c->len] = '\0';
        return MHD_YES;
    }
    c->responded = true;
    if (c->over_budget) {
        return s_reply_over_budget (self, conn, (unsigned long long) c->len);
    }
    if (c->too_large) {
        return s_reply (conn, MHD_HTTP_CONTENT_TOO_LARGE, "error", "too-costly", NULL, NULL,
                        "body exceeds the limit of %zu bytes; split the batch",
                        self->max_body_bytes);
    }
    if (c->len == 0) {
        return s_reply (conn, MHD_HTTP_BAD_REQUEST, "error", "required", NULL, NULL,
                        "empty body: send a FHIR Bundle, a resource or NDJSON");
    }
    char why[512];
    if (!s_check_body (c->body, c->len, c->ndjson, why, sizeof (why))) {
        return s_reply (conn, MHD_HTTP_BAD_REQUEST, "error", "structure", NULL, NULL, "%s", why);
    }
    if (!*c->batch_id) {
        unsigned char h[16];
        char hex[33];
        crypto_generichash (h, sizeof (h), (const unsigned char *) c->body, c->len, NULL, 0);
        sodium_bin2hex (hex, sizeof (hex), h, sizeof (h));
        snprintf (c->batch_id, sizeof (c->batch_id), "http-%s", hex);
    }
    return s_submit (self, conn, c);
}

static void
s_completed (void *cls, struct MHD_Connection *conn, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
    (void) cls;
    (void) conn;
    (void) toe;
    s_conn_t *c = *con_cls;
    if (c) {
        free (c->body);
        s_budget_give (cls, &c->reserved);
        free (c);
        *con_cls = NULL;
    }
}

/* ---- TLS and libmicrohttpd's messages ------------------------------------------ */

/* libmicrohttpd's own messages. While starting, the first is kept for the
 * start error (why GnuTLS refused the certificate, why bind failed);
 * afterwards each is logged (e.g. a client that failed the TLS handshake). */
static void s_mhd_log (void *cls, const char *fmt, va_list ap)
    __attribute__ ((format (printf, 2, 0)));

static void
s_mhd_log (void *cls, const char *fmt, va_list ap)
{
    hg_fhir_http_t *self = cls;
    char msg[256];
    vsnprintf (msg, sizeof (msg), fmt, ap);
    size_t n = strlen (msg);
    while (
        n > 0
        && (msg[n - 1] == '\n' || msg[n - 1] == '\r' || msg[n - 1] == ' ' || msg[n - 1] == '.')) {
        msg[--n] = '\0';
    }
    for (char *p = msg; *p; p++) {
        if (*p == '"') {
            *p = '\'';
        }
        else if ((unsigned char) *p < 0x20) {
            *p = ' ';
        }
    }
    pthread_mutex_lock (&self->log_lock);
    bool starting = self->starting;
    if (starting && !*self->start_error) {
        snprintf (self->start_error, sizeof (self->start_error), "%s", msg);
    }
    pthread_mutex_unlock (&self->log_lock);
    if (starting) {
        hg_debug ("http_library", "msg=\"%s\"", msg);
    }
    else {
        hg_info ("http_library", "msg=\"%s\"", msg);
    }
}

/* Reads and checks the PEM files when HTTPS is asked for (http_tokens.h).
 * GnuTLS checks the rest (the encoding, that the key is the certificate's)
 * when the daemon starts. */
static int
s_load_tls (hg_fhir_http_t *self, const hg_fhir_http_opts_t *opts, hg_err_t *err)
{
    bool tls = (opts->tls_cert && *opts->tls_cert) || (opts->tls_key && *opts->tls_key);
    if (tls && MHD_is_feature_supported (MHD_FEATURE_TLS) != MHD_YES) {
        return hg_err_set (err, HG_EINVAL,
                           "http_tls_cert is set but this libmicrohttpd was built without TLS; "
                           "install one built with GnuTLS");
    }
    int rc = hg_http_tls_read (opts->tls_cert, opts->tls_key, "http_tls_cert", "http_tls_key",
                               &self->tls_cert, &self->tls_key, &self->tls_key_len, err);
    if (rc == 1) {
        hg_warn ("http_tls_key_exposed",
                 "file=%s hint=\"chmod 600 it: whoever reads it can impersonate this "
                 "endpoint\"",
                 opts->tls_key);
    }
    return rc < 0 ? rc : 0;
}

/* ---- public API -------------------------------------------------------------- */

hg_fhir_http_t *
hg_fhir_http_start (const hg_fhir_http_opts_t *opts, hg_err_t *err)
{
    struct sockaddr_in addr = {.sin_family = AF_INET};
    const char *listen_on = opts->listen ? opts->listen : "";
    const char *colon = strrchr (listen_on, ':');
    char host[64];
    snprintf (host, sizeof (host), "%.*s", colon ? (int) (colon - listen_on) : 0, listen_on);
    char *end = NULL;
    long port = colon ? strtol (colon + 1, &end, 10) : 0;
    if (!colon || *end || port <= 0 || port > 65535
        || inet_pton (AF_INET, host, &addr.sin_addr) != 1) {
        hg_err_set (err, HG_EINVAL, "http listen address '%s' is not IPv4:PORT", listen_on);
        return NULL;
    }
    addr.sin_port = htons ((uint16_t) port);
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
    self->efd = -1;
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
    pthread_mutex_init (&self->lock, NULL);
    pthread_mutex_init (&self->log_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init (&ca);
    pthread_condattr_setclock (&ca, CLOCK_MONOTONIC);
    pthread_cond_init (&self->answered, &ca);
    pthread_condattr_destroy (&ca);
    self->auth = hg_http_auth_open (opts->tokens_file, err);
    if (!self->auth || s_load_tls (self, opts, err) < 0) {
        goto failed;
    }
    self->efd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (self->efd < 0) {
        hg_err_set (err, HG_EIO, "cannot create eventfd: %s", strerror (errno));
        goto failed;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION
                     | MHD_USE_ERROR_LOG;
    struct MHD_OptionItem tls[] = {{MHD_OPTION_END, 0, NULL},
                                   {MHD_OPTION_END, 0, NULL},
                                   {MHD_OPTION_END, 0, NULL}};
    if (self->tls_cert) {
        flags |= MHD_USE_TLS;
        tls[0] = (struct MHD_OptionItem) {MHD_OPTION_HTTPS_MEM_CERT, 0, self->tls_cert};
        tls[1] = (struct MHD_OptionItem) {MHD_OPTION_HTTPS_MEM_KEY, 0, self->tls_key};
    }
    pthread_mutex_lock (&self->log_lock);
    self->starting = true;
    pthread_mutex_unlock (&self->log_lock);
    self->daemon =
        MHD_start_daemon (flags, 0, NULL, NULL, s_handle, self, MHD_OPTION_EXTERNAL_LOGGER,
                          s_mhd_log, self, MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &addr,
                          MHD_OPTION_CONNECTION_LIMIT,
                          opts->max_conns ? opts->max_conns : (unsigned) HG_FHIR_HTTP_MAX_CONNS,
                          MHD_OPTION_PER_IP_CONNECTION_LIMIT, opts->max_conns_per_addr,
                          MHD_OPTION_CONNECTION_TIMEOUT, opts->idle_s ? opts->idle_s : 60u,
                          MHD_OPTION_NOTIFY_COMPLETED, s_completed, self, MHD_OPTION_ARRAY, tls,
                          MHD_OPTION_END);
    pthread_mutex_lock (&self->log_lock);
    self->starting = false;
    char why[sizeof (self->start_error)];
    snprintf (why, sizeof (why), "%s", self->start_error);
    pthread_mutex_unlock (&self->log_lock);
    if (!self->daemon) {
        const char *scheme = self->tls_cert ? "HTTPS" : "HTTP";
        const char *os_reason = strrchr (why, ':');
        if (strstr (why, "bind") && os_reason) {
            /* libmicrohttpd says "Failed to bind to port 0: <strerror>" with SOCK_ADDR */
            hg_err_set (err, HG_EIO, "cannot serve FHIR over %s on %s: cannot bind:%s", scheme,
                        listen_on, os_reason + 1);
        }
        else if (self->tls_cert) {
            hg_err_set (err, HG_EIO,
                        "cannot serve FHIR over HTTPS on %s: %s; check that http_tls_cert is a "
                        "PEM certificate and http_tls_key its private key",
                        listen_on, *why ? why : "libmicrohttpd gave no reason");
        }
        else {
            hg_err_set (err, HG_EIO, "cannot serve FHIR over HTTP on %s: %s", listen_on,
                        *why ? why : "port in use?");
        }
        goto failed;
    }
    hg_info ("http_listening",
             "address=%s scheme=%s partners=%zu max_body_bytes=%zu inflight_bytes=%zu", listen_on,
             self->tls_cert ? "https" : "http", hg_http_auth_count (self->auth),
             self->max_body_bytes, self->max_inflight_bytes);
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
    return self && self->tls_cert != NULL;
}

int
hg_fhir_http_fd (hg_fhir_http_t *self)
{
    return self->efd;
}

size_t
hg_fhir_http_take (hg_fhir_http_t *self, hg_http_request_t **out, size_t max, size_t max_bytes)
{
    size_t n = 0, bytes = 0;
    pthread_mutex_lock (&self->lock);
    while (n < max && self->head && (n == 0 || max_bytes == 0 || bytes < max_bytes)) {
        s_req_t *r = self->head;
        bytes += r->pub.body_len;
        s_unlink (self, r); /* its queue reference is now the collector's */
        out[n++] = &r->pub;
    }
    if (!self->head) {
        uint64_t v;
        if (read (self->efd, &v, sizeof (v)) < 0) {
            /* EAGAIN: was not readable */
        }
    }
    pthread_mutex_unlock (&self->lock);
    return n;
}

void
hg_fhir_http_answer (hg_fhir_http_t *self, hg_http_request_t *req, hg_fhir_http_status_t status,
                     const char *message_id, const char *reason, unsigned retry_after_s)
{
    s_req_t *r = (s_req_t *) req;
    pthread_mutex_lock (&self->lock);
    r->answered = true;
    r->status = status;
    r->retry_after_s = retry_after_s;
    snprintf (r->message_id, sizeof (r->message_id), "%s", message_id ? message_id : "");
    snprintf (r->reason, sizeof (r->reason), "%s", reason ? reason : "");
    s_req_release (r);
    pthread_cond_broadcast (&self->answered);
    pthread_mutex_unlock (&self->lock);
}

void
hg_fhir_http_stop (hg_fhir_http_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    hg_fhir_http_t *self = *self_p;
    pthread_mutex_lock (&self->lock);
    self->stopping = true;
    pthread_cond_broadcast (&self->answered);
    pthread_mutex_unlock (&self->lock);
    if (self->daemon) {
        MHD_stop_daemon (self->daemon); /* joins the handlers; they unqueue their own */
    }
    if (self->efd >= 0) {
        close (self->efd);
    }
    hg_http_auth_close (&self->auth);
    if (self->tls_key) {
        sodium_memzero (self->tls_key, self->tls_key_len);
    }
    free (self->tls_key);
    free (self->tls_cert);
    pthread_cond_destroy (&self->answered);
    pthread_mutex_destroy (&self->log_lock);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}
