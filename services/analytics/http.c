/*
 * http.c -- analytics' HTTP/JSON API: libmicrohttpd handlers that check an
 * analyst's request, hand it to the analytics thread and answer with its
 * JSON. The daemon, the hand-off queue and the capped body are
 * common/http_server.c's; here are the routes, the checks, the page's
 * headers and the {"error"} bodies. See http.h for the contract.
 */
#define _GNU_SOURCE
#include "http.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <microhttpd.h>

#include "http_server.h"
#include "log.h"

#define HG_API_BODY_FIRST_CAP 4096 /* a body's first buffer */

const char *const hg_api_roles[] = {"aggregate", "dp", NULL};

static const hg_http_tokens_rules_t s_rules = {.roles = hg_api_roles, .allow_empty = true};

/* A request shared by its handler and, once queued, the analytics thread. */
typedef struct {
    hg_http_job_t job;    /* first member: the hand-off queue's part */
    hg_api_request_t pub; /* the analytics thread's view */
    unsigned status;      /* the answer, once job.answered */
    char *answer;         /* owned */
    char analyst[HG_FHIR_HTTP_PARTNER_MAX + 1];
    char role[HG_HTTP_ROLE_MAX + 1];
    char prefix[HG_API_PREFIX_MAX + 1];
    char *body; /* owned */
} s_req_t;

/* Per-connection state between the calls of the access handler. */
typedef struct {
    hg_http_conn_t base; /* first member: .responded */
    hg_api_kind_t kind;
    char analyst[HG_FHIR_HTTP_PARTNER_MAX + 1];
    char role[HG_HTTP_ROLE_MAX + 1];
    char prefix[HG_API_PREFIX_MAX + 1];
    unsigned limit;
    hg_http_body_t body;
} s_conn_t;

struct hg_api {
    hg_http_daemon_t *daemon;
    hg_http_queue_t *queue; /* to the analytics thread */
    size_t max_body_bytes;
    unsigned answer_timeout_ms;
    hg_http_auth_t *auth;
    const char *openapi;
    size_t openapi_len;
    const hg_api_asset_t *assets; /* the page's files, {NULL}-ended; may be NULL */
};

/* ---- responses ---------------------------------------------------------------- */

char *
hg_api_error_json (const char *msg)
{
    json_object *o = json_object_new_object ();
    if (!o) {
        return NULL;
    }
    json_object_object_add (o, "error", json_object_new_string (msg));
    char *s = strdup (json_object_to_json_string_ext (o, JSON_C_TO_STRING_PLAIN
                                                             | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put (o);
    return s;
}

/* Every answer of the API: never cached. */
static const char *const s_no_store[] = {"Cache-Control", "no-store", NULL};

static char *
s_error_body (const char *msg, const void *arg)
{
    (void) arg;
    return hg_api_error_json (msg);
}

static const hg_http_error_style_t s_style = {.type = "application/json",
                                              .headers = s_no_store,
                                              .body = s_error_body};

static enum MHD_Result
s_send_json (struct MHD_Connection *conn, unsigned status, const char *json)
{
    return hg_http_send (conn, status, "application/json", json, strlen (json), s_no_store);
}

/* The page's policy: its own script and style sheet only, nothing inline,
 * nothing from elsewhere, never framed; no referrer leaves with a request. */
#define HG_API_PAGE_CSP \
    "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

static const char *const s_page_headers[] = {"Cache-Control",
                                             "no-store",
                                             "Content-Security-Policy",
                                             HG_API_PAGE_CSP,
                                             "X-Content-Type-Options",
                                             "nosniff",
                                             "X-Frame-Options",
                                             "DENY",
                                             "Referrer-Policy",
                                             "no-referrer",
                                             NULL};

static const hg_api_asset_t *
s_asset (const hg_api_t *self, const char *url)
{
    for (const hg_api_asset_t *a = self->assets; a && a->path; a++) {
        if (strcmp (url, a->path) == 0) {
            return a;
        }
    }
    return NULL;
}

/* ---- the handler ---------------------------------------------------------------- */

static enum MHD_Result s_error (struct MHD_Connection *conn, unsigned status, const char *hdr,
                                const char *hdr_value, const char *fmt, ...)
    __attribute__ ((format (printf, 5, 6)));

/* Queues {"error": <fmt...>}; hdr (may be NULL) is an extra header. */
static enum MHD_Result
s_error (struct MHD_Connection *conn, unsigned status, const char *hdr, const char *hdr_value,
         const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    enum MHD_Result rc = hg_http_verror (conn, status, &s_style, NULL, hdr, hdr_value, fmt, ap);
    va_end (ap);
    return rc;
}

static bool
s_json_type (const char *ct)
{
    if (!ct) {
        return true; /* no type said: taken as the JSON the endpoint expects */
    }
    char type[64];
    return hg_http_media_type (ct, type, sizeof (type)) && strcmp (type, "application/json") == 0;
}

/* GET /v1/codes: prefix (required) and limit. */
static enum MHD_Result
s_codes_args (struct MHD_Connection *conn, s_conn_t *c)
{
    const char *prefix = MHD_lookup_connection_value (conn, MHD_GET_ARGUMENT_KIND, "prefix");
    const char *limit = MHD_lookup_connection_value (conn, MHD_GET_ARGUMENT_KIND, "limit");
    c->base.responded = true;
    if (!prefix || !*prefix) {
        return s_error (conn, MHD_HTTP_BAD_REQUEST, NULL, NULL,
                        "prefix is required: GET /v1/codes?prefix=SYSTEM|CODE (e.g. "
                        "http://hl7.org/fhir/sid/icd-10-cm|E11) or a code prefix in any system "
                        "(E11)");
    }
    size_t n = strlen (prefix);
    if (n > HG_API_PREFIX_MAX) {
        return s_error (conn, MHD_HTTP_BAD_REQUEST, NULL, NULL,
                        "prefix is %zu characters long; at most %d", n, HG_API_PREFIX_MAX);
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char) prefix[i] < 0x20 || prefix[i] == 0x7f) {
            return s_error (conn, MHD_HTTP_BAD_REQUEST, NULL, NULL,
                            "prefix holds a control character at %zu: codes are printable", i);
        }
    }
    c->limit = 100;
    if (limit) {
        char *end = NULL;
        errno = 0;
        unsigned long v = strtoul (limit, &end, 10);
        if (!*limit || *end || errno || !isdigit ((unsigned char) *limit) || v < 1
            || v > HG_API_CODES_LIMIT_MAX) {
            return s_error (conn, MHD_HTTP_BAD_REQUEST, NULL, NULL,
                            "limit must be a whole number from 1 to %d", HG_API_CODES_LIMIT_MAX);
        }
        c->limit = (unsigned) v;
    }
    snprintf (c->prefix, sizeof (c->prefix), "%s", prefix);
    c->base.responded = false;
    return MHD_YES;
}

/* First call: everything decided from the request line and headers; sets
 * c->base.responded when a response is queued. */
static enum MHD_Result
s_check_headers (hg_api_t *self, struct MHD_Connection *conn, const char *url, const char *method,
                 s_conn_t *c)
{
    bool query = strcmp (url, "/v1/query") == 0, codes = strcmp (url, "/v1/codes") == 0;
    bool spec = strcmp (url, "/v1/openapi.yaml") == 0;
    const hg_api_asset_t *asset = s_asset (self, url);
    const char *allow = query ? "POST" : "GET";
    if (!query && !codes && !spec && !asset) {
        c->base.responded = true;
        return s_error (conn, MHD_HTTP_NOT_FOUND, NULL, NULL,
                        "no such endpoint: the API is POST /v1/query, GET /v1/codes?prefix=..., "
                        "GET /v1/openapi.yaml; the analysts' page is GET /");
    }
    if (strcmp (method, allow) != 0) {
        c->base.responded = true;
        return s_error (conn, MHD_HTTP_METHOD_NOT_ALLOWED, MHD_HTTP_HEADER_ALLOW, allow,
                        "method %.16s is not supported on %s: use %s", method, url, allow);
    }
    if (spec) {
        c->base.responded = true;
        return hg_http_send (conn, MHD_HTTP_OK, "application/yaml", self->openapi,
                             self->openapi_len, s_no_store);
    }
    if (asset) {
        c->base.responded = true;
        return hg_http_send (conn, MHD_HTTP_OK, asset->type, asset->body, asset->len,
                             s_page_headers);
    }
    if (!hg_http_auth_match_role (self->auth,
                                  MHD_lookup_connection_value (conn, MHD_HEADER_KIND,
                                                               MHD_HTTP_HEADER_AUTHORIZATION),
                                  c->analyst, sizeof (c->analyst), c->role, sizeof (c->role))) {
        c->base.responded = true;
        return s_error (conn, MHD_HTTP_UNAUTHORIZED, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                        "Bearer realm=\"hourglass-analytics\"",
                        "missing or unknown bearer token: send 'Authorization: Bearer <token>' "
                        "with the token 'hourglass cluster add-analyst' gave you");
    }
    if (codes) {
        c->kind = HG_API_CODES;
        return s_codes_args (conn, c);
    }
    c->kind = HG_API_QUERY;
    const char *ct = MHD_lookup_connection_value (conn, MHD_HEADER_KIND,
                                                  MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!s_json_type (ct)) {
        c->base.responded = true;
        return s_error (conn, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, NULL, NULL,
                        "content type '%.64s' is not supported: send the query document as "
                        "application/json",
                        ct);
    }
    const char *cl = MHD_lookup_connection_value (conn, MHD_HEADER_KIND,
                                                  MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && strtoull (cl, NULL, 10) > self->max_body_bytes) {
        c->base.responded = true;
        return s_error (conn, MHD_HTTP_CONTENT_TOO_LARGE, NULL, NULL,
                        "body of %.20s bytes exceeds the limit of %zu bytes: a query document "
                        "is small; check what is sent",
                        cl, self->max_body_bytes);
    }
    return MHD_YES;
}

/* ---- the hand-off to the analytics thread ---------------------------------------- */

static s_req_t *
s_req_of (hg_api_request_t *pub)
{
    return (s_req_t *) (void *) ((char *) pub - offsetof (s_req_t, pub));
}

/* The queue's job_free: the last reference to a request went. */
static void
s_req_free (void *cls, hg_http_job_t *job)
{
    (void) cls;
    s_req_t *r = (s_req_t *) job;
    free (r->body);
    free (r->answer);
    free (r);
}

/* The request is complete: queue it, wait for the analytics thread, answer. */
static enum MHD_Result
s_submit (hg_api_t *self, struct MHD_Connection *conn, s_conn_t *c)
{
    s_req_t *r = calloc (1, sizeof (*r));
    if (!r) {
        return s_error (conn, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, NULL, "out of memory");
    }
    snprintf (r->analyst, sizeof (r->analyst), "%s", c->analyst);
    snprintf (r->role, sizeof (r->role), "%s", c->role);
    snprintf (r->prefix, sizeof (r->prefix), "%s", c->prefix);
    r->body = c->body.data;
    r->pub = (hg_api_request_t) {.kind = c->kind,
                                 .analyst = r->analyst,
                                 .role = r->role,
                                 .body = r->body ? r->body : "",
                                 .body_len = c->body.len,
                                 .prefix = r->prefix,
                                 .limit = c->limit};
    r->job.bytes = c->body.len;
    c->body.data = NULL;
    c->body.len = c->body.cap = 0;
    hg_http_wait_t w = hg_http_queue_submit (self->queue, &r->job, NULL);
    enum MHD_Result rc;
    if (w == HG_HTTP_ANSWERED && r->answer) {
        rc = s_send_json (conn, r->status, r->answer);
    }
    else if (w != HG_HTTP_TIMEOUT) {
        rc = s_error (conn, MHD_HTTP_SERVICE_UNAVAILABLE, MHD_HTTP_HEADER_RETRY_AFTER, "5",
                      "analytics is shutting down; retry");
    }
    else {
        hg_warn ("api_timeout", "timeout_ms=%u", self->answer_timeout_ms);
        rc = s_error (conn, MHD_HTTP_GATEWAY_TIMEOUT, NULL, NULL,
                      "analytics did not answer within %u ms; retry later",
                      self->answer_timeout_ms);
    }
    hg_http_queue_release (self->queue, &r->job);
    return rc;
}

static enum MHD_Result
s_headers (void *cls, struct MHD_Connection *conn, const char *url, const char *method,
           hg_http_conn_t *state)
{
    return s_check_headers (cls, conn, url, method, (s_conn_t *) state);
}

static enum MHD_Result
s_chunk (void *cls, hg_http_conn_t *state, const char *upload, size_t n)
{
    hg_api_t *self = cls;
    s_conn_t *c = (s_conn_t *) state;
    hg_http_body_rc_t rc = hg_http_body_append (&c->body, upload, n, self->max_body_bytes,
                                                HG_API_BODY_FIRST_CAP, NULL, NULL);
    return rc == HG_HTTP_BODY_NOMEM ? MHD_NO : MHD_YES;
}

/* The request is all in: the body's checks, then the hand-off. */
static enum MHD_Result
s_complete (void *cls, struct MHD_Connection *conn, hg_http_conn_t *state)
{
    hg_api_t *self = cls;
    s_conn_t *c = (s_conn_t *) state;
    if (c->kind == HG_API_QUERY) {
        if (c->body.too_large) {
            return s_error (conn, MHD_HTTP_CONTENT_TOO_LARGE, NULL, NULL,
                            "body exceeds the limit of %zu bytes: a query document is small; "
                            "check what is sent",
                            self->max_body_bytes);
        }
        if (c->body.len == 0) {
            return s_error (conn, MHD_HTTP_BAD_REQUEST, NULL, NULL,
                            "empty body: POST the query document as JSON, e.g. "
                            "{\"cohort\": {\"all\": [{\"prefix\": \"SYSTEM|E11\"}]}}");
        }
        if (memchr (c->body.data, '\0', c->body.len)) {
            return s_error (conn, MHD_HTTP_BAD_REQUEST, NULL, NULL,
                            "the body holds a NUL byte: a query document is JSON text");
        }
    }
    return s_submit (self, conn, c);
}

static void
s_done (void *cls, hg_http_conn_t *state)
{
    (void) cls;
    hg_http_body_drop (&((s_conn_t *) state)->body);
}

static const hg_http_steps_t s_steps = {.size = sizeof (s_conn_t),
                                        .headers = s_headers,
                                        .chunk = s_chunk,
                                        .complete = s_complete,
                                        .done = s_done};

/* ---- public API ------------------------------------------------------------------ */

hg_api_t *
hg_api_start (const hg_api_opts_t *opts, hg_err_t *err)
{
    if (!opts->analysts_file || !*opts->analysts_file) {
        hg_err_set (err, HG_EINVAL,
                    "http is set but http_tokens is not: the API needs the analysts' tokens "
                    "file ('hourglass cluster add-analyst' writes one)");
        return NULL;
    }
    hg_api_t *self = calloc (1, sizeof (*self));
    if (!self) {
        hg_err_set (err, HG_ENOMEM, "out of memory");
        return NULL;
    }
    self->max_body_bytes = opts->max_body_bytes ? opts->max_body_bytes : 256 * 1024;
    self->answer_timeout_ms = opts->answer_timeout_ms ? opts->answer_timeout_ms
                                                      : HG_API_ANSWER_TIMEOUT_MS;
    self->openapi = opts->openapi ? opts->openapi : "";
    self->openapi_len = opts->openapi ? opts->openapi_len : 0;
    self->assets = opts->assets;
    self->auth = hg_http_auth_open_rules (opts->analysts_file, &s_rules, err);
    if (!self->auth) {
        goto failed;
    }
    self->queue = hg_http_queue_new (self->answer_timeout_ms, s_req_free, self, err);
    if (!self->queue) {
        goto failed;
    }
    hg_http_daemon_opts_t d = {.listen = opts->listen,
                               .listen_opt = "http",
                               .name = "the API",
                               .log_tag = "api",
                               .tls_cert = opts->tls_cert,
                               .tls_key = opts->tls_key,
                               .tls_cert_opt = "analytics_tls_cert",
                               .tls_key_opt = "analytics_tls_key",
                               .max_conns = HG_API_MAX_CONNS,
                               .steps = &s_steps,
                               .cls = self};
    self->daemon = hg_http_daemon_start (&d, err);
    if (!self->daemon) {
        goto failed;
    }
    hg_info ("api_listening", "address=%s scheme=%s analysts=%zu max_body_bytes=%zu",
             opts->listen, hg_http_daemon_tls (self->daemon) ? "https" : "http",
             hg_http_auth_count (self->auth), self->max_body_bytes);
    return self;
failed:
    hg_api_stop (&self);
    return NULL;
}

int
hg_api_reload (hg_api_t *self, size_t *analysts, hg_err_t *err)
{
    return hg_http_auth_reload (self->auth, analysts, err);
}

bool
hg_api_tls (const hg_api_t *self)
{
    return self && hg_http_daemon_tls (self->daemon);
}

int
hg_api_fd (hg_api_t *self)
{
    return hg_http_queue_fd (self->queue);
}

size_t
hg_api_take (hg_api_t *self, hg_api_request_t **out, size_t max)
{
    size_t n = 0;
    hg_http_job_t *job;
    while (n < max && (job = hg_http_queue_take (self->queue)) != NULL) {
        out[n++] = &((s_req_t *) job)->pub;
    }
    return n;
}

void
hg_api_answer (hg_api_t *self, hg_api_request_t *req, unsigned status, const char *json)
{
    s_req_t *r = s_req_of (req);
    /* read by the handler only once answered (hg_http_queue_submit) */
    r->status = status;
    r->answer = json ? strdup (json) : NULL;
    hg_http_queue_answer (self->queue, &r->job);
}

void
hg_api_stop (hg_api_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    hg_api_t *self = *self_p;
    hg_http_queue_shutdown (self->queue);
    hg_http_daemon_stop (&self->daemon);
    hg_http_queue_destroy (&self->queue);
    hg_http_auth_close (&self->auth);
    free (self);
    *self_p = NULL;
}
