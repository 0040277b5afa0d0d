/*
 * http.c -- analytics' HTTP/JSON API: libmicrohttpd handlers that check an
 * analyst's request, hand it to the analytics thread and answer with its
 * JSON. See http.h for the contract.
 */
#define _GNU_SOURCE
#include "http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <microhttpd.h>
#include <sodium.h>

#include "log.h"

const char *const hg_api_roles[] = {"aggregate", "dp", NULL};

static const hg_http_tokens_rules_t s_rules = {.roles = hg_api_roles, .allow_empty = true};

/* A request shared by its handler and, once queued, the analytics thread. */
typedef struct s_req {
    hg_api_request_t pub; /* first member: the analytics thread's view */
    struct s_req *next;
    int refs; /* handler + queue/analytics; freed at 0 */
    bool queued, answered;
    unsigned status;
    char *answer; /* owned */
    char analyst[HG_FHIR_HTTP_PARTNER_MAX + 1];
    char role[HG_HTTP_ROLE_MAX + 1];
    char prefix[HG_API_PREFIX_MAX + 1];
    char *body; /* owned */
} s_req_t;

/* Per-connection state between the calls of the access handler. */
typedef struct {
    bool responded, too_large;
    hg_api_kind_t kind;
    char analyst[HG_FHIR_HTTP_PARTNER_MAX + 1];
    char role[HG_HTTP_ROLE_MAX + 1];
    char prefix[HG_API_PREFIX_MAX + 1];
    unsigned limit;
    char *body;
    size_t len, cap;
} s_conn_t;

struct hg_api {
    struct MHD_Daemon *daemon;
    int efd;
    size_t max_body_bytes;
    unsigned answer_timeout_ms;
    hg_http_auth_t *auth;
    const char *openapi;
    size_t openapi_len;
    const hg_api_asset_t *assets; /* the page's files, {NULL}-ended; may be NULL */
    char *tls_cert, *tls_key;
    size_t tls_key_len;
    pthread_mutex_t lock; /* the queue, stopping, every s_req_t */
    pthread_cond_t answered;
    s_req_t *head, *tail;
    bool stopping;
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

static enum MHD_Result
s_send (struct MHD_Connection *conn, unsigned status, const char *type, const char *body,
        size_t len, const char *hdr, const char *hdr_value)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer (len, (void *) body,
                                                                 MHD_RESPMEM_MUST_COPY);
    if (!resp) {
        return MHD_NO;
    }
    MHD_add_response_header (resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header (resp, "Cache-Control", "no-store");
    if (hdr) {
        MHD_add_response_header (resp, hdr, hdr_value);
    }
    enum MHD_Result rc = MHD_queue_response (conn, status, resp);
    MHD_destroy_response (resp);
    return rc;
}

static enum MHD_Result s_error (struct MHD_Connection *conn, unsigned status, const char *hdr,
                                const char *hdr_value, const char *fmt, ...)
    __attribute__ ((format (printf, 5, 6)));

static enum MHD_Result
s_error (struct MHD_Connection *conn, unsigned status, const char *hdr, const char *hdr_value,
         const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (msg, sizeof (msg), fmt, ap);
    va_end (ap);
    char *json = hg_api_error_json (msg);
    if (!json) {
        return MHD_NO;
    }
    enum MHD_Result rc = s_send (conn, status, "application/json", json, strlen (json), hdr,
                                 hdr_value);
    free (json);
    return rc;
}

/* The page's policy: its own script and style sheet only, nothing inline,
 * nothing from elsewhere, never framed; no referrer leaves with a request. */
#define HG_API_PAGE_CSP \
    "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

static enum MHD_Result
s_send_asset (struct MHD_Connection *conn, const hg_api_asset_t *a)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer (a->len, (void *) a->body,
                                                                 MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        return MHD_NO;
    }
    MHD_add_response_header (resp, MHD_HTTP_HEADER_CONTENT_TYPE, a->type);
    MHD_add_response_header (resp, "Cache-Control", "no-store");
    MHD_add_response_header (resp, "Content-Security-Policy", HG_API_PAGE_CSP);
    MHD_add_response_header (resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header (resp, "X-Frame-Options", "DENY");
    MHD_add_response_header (resp, "Referrer-Policy", "no-referrer");
    enum MHD_Result rc = MHD_queue_response (conn, MHD_HTTP_OK, resp);
    MHD_destroy_response (resp);
    return rc;
}

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

static bool
s_json_type (const char *ct)
{
    if (!ct) {
        return true; /* no type said: taken as the JSON the endpoint expects */
    }
    while (*ct == ' ') {
        ct++;
    }
    static const char json[] = "application/json";
    return strncasecmp (ct, json, sizeof (json) - 1) == 0
           && (ct[sizeof (json) - 1] == '\0' || ct[sizeof (json) - 1] == ';'
               || ct[sizeof (json) - 1] == ' ');
}

/* GET /v1/codes: prefix (required) and limit. */
static enum MHD_Result
s_codes_args (struct MHD_Connection *conn, s_conn_t *c)
{
    const char *prefix = MHD_lookup_connection_value (conn, MHD_GET_ARGUMENT_KIND, "prefix");
    const char *limit = MHD_lookup_connection_value (conn, MHD_GET_ARGUMENT_KIND, "limit");
    c->responded = true;
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
    c->responded = false;
    return MHD_YES;
}

/* First call: everything decided from the request line and headers; sets
 * c->responded when a response is queued. */
static enum MHD_Result
s_check_headers (hg_api_t *self, struct MHD_Connection *conn, const char *url, const char *method,
                 s_conn_t *c)
{
    bool query = strcmp (url, "/v1/query") == 0, codes = strcmp (url, "/v1/codes") == 0;
    bool spec = strcmp (url, "/v1/openapi.yaml") == 0;
    const hg_api_asset_t *asset = s_asset (self, url);
    const char *allow = query ? "POST" : "GET";
    if (!query && !codes && !spec && !asset) {
        c->responded = true;
        return s_error (conn, MHD_HTTP_NOT_FOUND, NULL, NULL,
                        "no such endpoint: the API is POST /v1/query, GET /v1/codes?prefix=..., "
                        "GET /v1/openapi.yaml; the analysts' page is GET /");
    }
    if (strcmp (method, allow) != 0) {
        c->responded = true;
        return s_error (conn, MHD_HTTP_METHOD_NOT_ALLOWED, MHD_HTTP_HEADER_ALLOW, allow,
                        "method %.16s is not supported on %s: use %s", method, url, allow);
    }
    if (spec) {
        c->responded = true;
        return s_send (conn, MHD_HTTP_OK, "application/yaml", self->openapi, self->openapi_len,
                       NULL, NULL);
    }
    if (asset) {
        c->responded = true;
        return s_send_asset (conn, asset);
    }
    if (!hg_http_auth_match_role (self->auth,
                                  MHD_lookup_connection_value (conn, MHD_HEADER_KIND,
                                                               MHD_HTTP_HEADER_AUTHORIZATION),
                                  c->analyst, sizeof (c->analyst), c->role, sizeof (c->role))) {
        c->responded = true;
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
        c->responded = true;
        return s_error (conn, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, NULL, NULL,
                        "content type '%.64s' is not supported: send the query document as "
                        "application/json",
                        ct);
    }
    const char *cl = MHD_lookup_connection_value (conn, MHD_HEADER_KIND,
                                                  MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && strtoull (cl, NULL, 10) > self->max_body_bytes) {
        c->responded = true;
        return s_error (conn, MHD_HTTP_CONTENT_TOO_LARGE, NULL, NULL,
                        "body of %.20s bytes exceeds the limit of %zu bytes: a query document "
                        "is small; check what is sent",
                        cl, self->max_body_bytes);
    }
    return MHD_YES;
}

static void
s_req_release (s_req_t *r)
{
    /* lock held */
    if (--r->refs == 0) {
        free (r->body);
        free (r->answer);
        free (r);
    }
}

static void
s_unlink (hg_api_t *self, s_req_t *r)
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

static void
s_deadline (struct timespec *ts, unsigned ms)
{
    clock_gettime (CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long) (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
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
    r->body = c->body;
    c->body = NULL;
    r->pub = (hg_api_request_t) {.kind = c->kind,
                                 .analyst = r->analyst,
                                 .role = r->role,
                                 .body = r->body ? r->body : "",
                                 .body_len = c->len,
                                 .prefix = r->prefix,
                                 .limit = c->limit};
    struct timespec deadline;
    s_deadline (&deadline, self->answer_timeout_ms);
    pthread_mutex_lock (&self->lock);
    if (self->stopping) {
        pthread_mutex_unlock (&self->lock);
        free (r->body);
        free (r);
        return s_error (conn, MHD_HTTP_SERVICE_UNAVAILABLE, MHD_HTTP_HEADER_RETRY_AFTER, "5",
                        "analytics is shutting down; retry");
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
        /* already readable */
    }
    int wrc = 0;
    while (!r->answered && !self->stopping && wrc != ETIMEDOUT) {
        wrc = pthread_cond_timedwait (&self->answered, &self->lock, &deadline);
    }
    bool answered = r->answered, stopping = self->stopping;
    unsigned status = r->status;
    char *answer = r->answer;
    r->answer = NULL;
    if (r->queued) {
        s_unlink (self, r);
        r->refs--; /* the queue's reference: never taken */
    }
    s_req_release (r);
    pthread_mutex_unlock (&self->lock);
    enum MHD_Result rc;
    if (answered && answer) {
        rc = s_send (conn, status, "application/json", answer, strlen (answer), NULL, NULL);
    }
    else if (answered || stopping) {
        rc = s_error (conn, MHD_HTTP_SERVICE_UNAVAILABLE, MHD_HTTP_HEADER_RETRY_AFTER, "5",
                      "analytics is shutting down; retry");
    }
    else {
        hg_warn ("api_timeout", "timeout_ms=%u", self->answer_timeout_ms);
        rc = s_error (conn, MHD_HTTP_GATEWAY_TIMEOUT, NULL, NULL,
                      "analytics did not answer within %u ms; retry later",
                      self->answer_timeout_ms);
    }
    free (answer);
    return rc;
}

/* Adds an uploaded chunk to the body (at most max_body_bytes kept). */
static int
s_append (hg_api_t *self, s_conn_t *c, const char *data, size_t n)
{
    if (c->too_large || c->len + n > self->max_body_bytes) {
        c->too_large = true;
        free (c->body);
        c->body = NULL;
        c->len = c->cap = 0;
        return 0;
    }
    if (c->len + n + 1 > c->cap) {
        size_t cap = c->cap ? c->cap : 4096;
        while (cap < c->len + n + 1) {
            cap *= 2;
        }
        char *nb = realloc (c->body, cap);
        if (!nb) {
            return -1;
        }
        c->body = nb;
        c->cap = cap;
    }
    memcpy (c->body + c->len, data, n);
    c->len += n;
    c->body[c->len] = '\0';
    return 0;
}

static enum MHD_Result
s_handle (void *cls, struct MHD_Connection *conn, const char *url, const char *method,
          const char *version, const char *upload, size_t *upload_len, void **con_cls)
{
    (void) version;
    hg_api_t *self = cls;
    s_conn_t *c = *con_cls;
    if (!c) {
        c = calloc (1, sizeof (*c));
        if (!c) {
            return MHD_NO;
        }
        *con_cls = c;
        return s_check_headers (self, conn, url, method, c);
    }
    if (c->responded) {
        *upload_len = 0;
        return MHD_YES;
    }
    if (*upload_len > 0) {
        size_t n = *upload_len;
        *upload_len = 0;
        return s_append (self, c, upload, n) < 0 ? MHD_NO : MHD_YES;
    }
    c->responded = true;
    if (c->kind == HG_API_QUERY) {
        if (c->too_large) {
            return s_error (conn, MHD_HTTP_CONTENT_TOO_LARGE, NULL, NULL,
                            "body exceeds the limit of %zu bytes: a query document is small; "
                            "check what is sent",
                            self->max_body_bytes);
        }
        if (c->len == 0) {
            return s_error (conn, MHD_HTTP_BAD_REQUEST, NULL, NULL,
                            "empty body: POST the query document as JSON, e.g. "
                            "{\"cohort\": {\"all\": [{\"prefix\": \"SYSTEM|E11\"}]}}");
        }
        if (memchr (c->body, '\0', c->len)) {
            return s_error (conn, MHD_HTTP_BAD_REQUEST, NULL, NULL,
                            "the body holds a NUL byte: a query document is JSON text");
        }
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
        free (c);
        *con_cls = NULL;
    }
}

static void s_mhd_log (void *cls, const char *fmt, va_list ap)
    __attribute__ ((format (printf, 2, 0)));

static void
s_mhd_log (void *cls, const char *fmt, va_list ap)
{
    (void) cls;
    char msg[256];
    vsnprintf (msg, sizeof (msg), fmt, ap);
    for (char *p = msg; *p; p++) {
        if (*p == '"' || (unsigned char) *p < 0x20) {
            *p = ' ';
        }
    }
    hg_info ("api_library", "msg=\"%s\"", msg);
}

/* ---- public API ------------------------------------------------------------------ */

hg_api_t *
hg_api_start (const hg_api_opts_t *opts, hg_err_t *err)
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
    self->efd = -1;
    self->max_body_bytes = opts->max_body_bytes ? opts->max_body_bytes : 256 * 1024;
    self->answer_timeout_ms = opts->answer_timeout_ms ? opts->answer_timeout_ms
                                                      : HG_API_ANSWER_TIMEOUT_MS;
    self->openapi = opts->openapi ? opts->openapi : "";
    self->openapi_len = opts->openapi ? opts->openapi_len : 0;
    self->assets = opts->assets;
    pthread_mutex_init (&self->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init (&ca);
    pthread_condattr_setclock (&ca, CLOCK_MONOTONIC);
    pthread_cond_init (&self->answered, &ca);
    pthread_condattr_destroy (&ca);
    self->auth = hg_http_auth_open_rules (opts->analysts_file, &s_rules, err);
    if (!self->auth) {
        goto failed;
    }
    int trc = hg_http_tls_read (opts->tls_cert, opts->tls_key, "analytics_tls_cert",
                                "analytics_tls_key", &self->tls_cert, &self->tls_key,
                                &self->tls_key_len, err);
    if (trc < 0) {
        goto failed;
    }
    if (trc == 1) {
        hg_warn ("analytics_tls_key_exposed",
                 "file=%s hint=\"chmod 600 it: whoever reads it can impersonate this "
                 "endpoint\"",
                 opts->tls_key);
    }
    if (self->tls_cert && MHD_is_feature_supported (MHD_FEATURE_TLS) != MHD_YES) {
        hg_err_set (err, HG_EINVAL,
                    "analytics_tls_cert is set but this libmicrohttpd was built without TLS");
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
    self->daemon = MHD_start_daemon (flags, 0, NULL, NULL, s_handle, self,
                                     MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log, self,
                                     MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &addr,
                                     MHD_OPTION_CONNECTION_LIMIT, (unsigned) HG_API_MAX_CONNS,
                                     MHD_OPTION_CONNECTION_TIMEOUT, 60u,
                                     MHD_OPTION_NOTIFY_COMPLETED, s_completed, self,
                                     MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
    if (!self->daemon) {
        hg_err_set (err, HG_EIO, "cannot serve the API over %s on %s (port in use%s?)",
                    self->tls_cert ? "HTTPS" : "HTTP", listen_on,
                    self->tls_cert ? ", or analytics_tls_key not the certificate's key" : "");
        goto failed;
    }
    hg_info ("api_listening", "address=%s scheme=%s analysts=%zu max_body_bytes=%zu", listen_on,
             self->tls_cert ? "https" : "http", hg_http_auth_count (self->auth),
             self->max_body_bytes);
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
    return self && self->tls_cert != NULL;
}

int
hg_api_fd (hg_api_t *self)
{
    return self->efd;
}

size_t
hg_api_take (hg_api_t *self, hg_api_request_t **out, size_t max)
{
    size_t n = 0;
    pthread_mutex_lock (&self->lock);
    while (n < max && self->head) {
        s_req_t *r = self->head;
        s_unlink (self, r);
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
hg_api_answer (hg_api_t *self, hg_api_request_t *req, unsigned status, const char *json)
{
    s_req_t *r = (s_req_t *) req;
    char *copy = json ? strdup (json) : NULL;
    pthread_mutex_lock (&self->lock);
    r->answered = true;
    r->status = status;
    r->answer = copy;
    s_req_release (r);
    pthread_cond_broadcast (&self->answered);
    pthread_mutex_unlock (&self->lock);
}

void
hg_api_stop (hg_api_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    hg_api_t *self = *self_p;
    pthread_mutex_lock (&self->lock);
    self->stopping = true;
    pthread_cond_broadcast (&self->answered);
    pthread_mutex_unlock (&self->lock);
    if (self->daemon) {
        MHD_stop_daemon (self->daemon);
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
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}
