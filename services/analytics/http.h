/*
 * http.h -- analytics' HTTP/JSON API for analysts (issue 14; docs/analytics.md
 * and docs/openapi.yaml are the user's description).
 *
 * Threads. libmicrohttpd serves connections on its own threads. A handler
 * checks what it can alone (path, method, bearer token, content type, body
 * size), then queues the request and waits (answer_timeout_ms) for the
 * analytics thread -- the only one that asks the shards and writes the store
 * (the audit trail) -- which polls hg_api_fd, takes requests with
 * hg_api_take and answers each with hg_api_answer (the daemon, TLS and this
 * hand-off are common/http_server.h's). Nothing here touches RocksDB or ZeroMQ.
 *
 * Endpoints (every answer is JSON; an error is {"error": "..."}):
 *   POST /v1/query            body: the query document (application/json)
 *                             200 the answer, as QUERY on the control plane
 *   GET  /v1/codes?prefix=P[&limit=N]
 *                             200 the codes under P with (suppressed) patient counts
 *   GET  /v1/openapi.yaml     the OpenAPI 3 description (no token needed: it holds
 *                             no data)
 *   GET  /, /app.js, /app.css the analysts' page (opts.assets; no token needed:
 *                             the page asks the API with the token the analyst
 *                             enters), under a Content-Security-Policy of
 *                             default-src 'self'
 *   400 a bad request (the message names the field)    401 no or an unknown token
 *   404 another path    405 another method    413 a body over max_body_bytes
 *   415 a body that is not application/json    503 a shard down, the store full,
 *   shutting down    504 no answer within answer_timeout_ms
 * Checks run in the order path, method, token, content type, size, body: a
 * request without a valid token learns nothing but 401.
 *
 * Tokens: the analysts file ("<token or blake2b:hash> <analyst> [aggregate|dp]"
 * lines, http_tokens.h), re-read by hg_api_reload (SIGHUP). TLS: with
 * tls_cert and tls_key only HTTPS is served.
 */
#ifndef HG_API_HTTP_H
#define HG_API_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "http_tokens.h"

#define HG_API_MAX_CONNS 64
#define HG_API_ANSWER_TIMEOUT_MS 60000
#define HG_API_PREFIX_MAX 256 /* characters of a codes prefix */
#define HG_API_CODES_LIMIT_MAX 1000

typedef enum {
    HG_API_QUERY, /* POST /v1/query */
    HG_API_CODES, /* GET /v1/codes */
} hg_api_kind_t;

/* A checked request, as the analytics thread sees it; strings owned by the
 * module, valid until answered. */
typedef struct {
    hg_api_kind_t kind;
    const char *analyst; /* the token's name */
    const char *role;    /* the token's role: "aggregate" or "dp" */
    const char *body;    /* QUERY: the document, NUL-terminated, body_len bytes */
    size_t body_len;
    const char *prefix; /* CODES: 1..HG_API_PREFIX_MAX characters */
    unsigned limit;     /* CODES: 1..HG_API_CODES_LIMIT_MAX (default 100) */
} hg_api_request_t;

/* A file of the analysts' page (services/analytics/web/, embedded at build
 * time), served at path with GET to anyone: it holds no data. */
typedef struct {
    const char *path; /* "/", "/app.js", ... */
    const char *type; /* Content-Type */
    const char *body;
    size_t len;
} hg_api_asset_t;

typedef struct {
    const char *listen;         /* "IPv4:PORT" */
    const char *analysts_file;  /* kept by path for hg_api_reload */
    size_t max_body_bytes;      /* larger bodies get 413 */
    unsigned answer_timeout_ms; /* 0: HG_API_ANSWER_TIMEOUT_MS; then 504 */
    const char *tls_cert;       /* PEM files; NULL or "": plain HTTP */
    const char *tls_key;
    const char *openapi; /* the text served at /v1/openapi.yaml (not copied: static) */
    size_t openapi_len;
    const hg_api_asset_t *assets; /* the page's files, ended by {NULL}; static, not copied */
} hg_api_opts_t;

typedef struct hg_api hg_api_t;

/* The roles an analyst may have, NULL-terminated ("aggregate" first: the
 * default). */
extern const char *const hg_api_roles[];

/* Reads the analysts file (an empty one is fine: every request is then
 * 401) and the TLS files, and starts serving. NULL with err when listen is
 * not IPv4:PORT, it cannot be bound, a file is unreadable or invalid. */
hg_api_t *hg_api_start (const hg_api_opts_t *opts, hg_err_t *err);

/* Re-reads the analysts file; on error the table in force stays. */
int hg_api_reload (hg_api_t *self, size_t *analysts, hg_err_t *err);

bool hg_api_tls (const hg_api_t *self);

/* An eventfd, readable while requests wait. */
int hg_api_fd (hg_api_t *self);

/* Moves up to max waiting requests into out; the caller answers each once. */
size_t hg_api_take (hg_api_t *self, hg_api_request_t **out, size_t max);

/* The answer to a taken request: status and JSON body (copied). req is
 * invalid afterwards. */
void hg_api_answer (hg_api_t *self, hg_api_request_t *req, unsigned status, const char *json);

/* The JSON {"error": msg} (malloc'd; the caller frees). */
char *hg_api_error_json (const char *msg);

/* Stops serving (waiting handlers answer 503). NULL-safe; nulls *self_p. */
void hg_api_stop (hg_api_t **self_p);

#endif
