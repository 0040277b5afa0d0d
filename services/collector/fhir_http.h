/*
 * fhir_http.h -- FHIR over HTTP for the collector: partners POST a Bundle, a
 * single resource or bulk-data NDJSON; the answer comes only once the
 * collector has journalled the batch.
 *
 * Threads. libmicrohttpd serves connections on its own threads (one per
 * connection, at most HG_FHIR_HTTP_MAX_CONNS). A handler checks the request
 * (path, method, bearer token, content type, size, JSON shape), then queues
 * it and waits (condition variable, answer_timeout_ms) for the collector's
 * verdict. The collector thread -- the only one touching the store -- polls
 * hg_fhir_http_fd, takes queued requests with hg_fhir_http_take, journals
 * them in one synced write batch and answers each with hg_fhir_http_answer.
 * The daemon, TLS, limits and this hand-off are common/http_server.h's.
 * Nothing here touches RocksDB or ZeroMQ.
 *
 * HTTP contract (every answer is a FHIR OperationOutcome,
 * Content-Type application/fhir+json):
 *   POST /fhir  (also "/fhir/")
 *     Authorization: Bearer <token>       token -> partner via the tokens file
 *     Content-Type: application/fhir+json | application/json
 *                     a Bundle (type batch, transaction or collection) or one
 *                     resource (a JSON object with a "resourceType")
 *                 | application/fhir+ndjson | application/x-ndjson | application/ndjson
 *                     one resource per line (bulk data), blank lines allowed
 *     X-Batch-Id: <id>   optional, 1-256 printable ASCII characters; default
 *                 "http-" + 32 hex digits of BLAKE2b-128 of the body, so
 *                 re-POSTing the same body is idempotent.
 *   202  accepted, durably journalled   issue information/informational,
 *                                        diagnostics "accepted as <message id>"
 *   200  duplicate of an accepted batch  "already accepted as <message id>"
 *   400  empty body (required), not a FHIR resource/Bundle/NDJSON (structure),
 *        bad X-Batch-Id (value), rejected by the collector (invalid)
 *   401  missing/unknown token (login) + WWW-Authenticate: Bearer; nothing queued
 *   404  any other path (not-found)      405  any method but POST (not-supported)
 *   413  body over max_body_bytes (too-costly); with a Content-Length the body is
 *        never read, a chunked body is discarded past the limit
 *   415  other content types (not-supported)
 *   503  collector BUSY (transient) + Retry-After, or the module stopping
 *   504  the collector did not answer within answer_timeout_ms (timeout)
 * Checks run in the order path, method, token, content type, size, body.
 *
 * Tokens (tokens.h, hg_http_auth_t). The table is swapped whole by
 * hg_fhir_http_reload_tokens (on SIGHUP) under a lock that handlers hold
 * only while matching a token; a handler copies the partner name into its
 * own request state, so a request authenticated before a reload finishes
 * under the partner it was authenticated as, and later requests see only
 * the new table. A file that does not parse leaves the old table in force.
 *
 * TLS. With tls_cert and tls_key (PEM files) the endpoint serves only HTTPS
 * (GnuTLS inside libmicrohttpd); a plain-HTTP client fails the handshake and
 * is disconnected without an answer.
 */
#ifndef HG_FHIR_HTTP_H
#define HG_FHIR_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "http_tokens.h"

#define HG_FHIR_HTTP_MAX_CONNS 64
#define HG_FHIR_HTTP_ANSWER_TIMEOUT_MS 30000

typedef struct hg_fhir_http hg_fhir_http_t;

/* ---- the HTTP endpoint ------------------------------------------------------- */

/* A validated request, as the collector sees it. Every string is
 * NUL-terminated and owned by the module; all stay valid until the request is
 * answered. The collector must not free or modify them. */
typedef struct {
    const char *partner;      /* from the bearer token, 1-128 chars, no '/'; as the
                                * table was when the request was authenticated */
    const char *batch_id;     /* X-Batch-Id, or "http-<hex of BLAKE2b of body>" */
    const char *content_type; /* media type as sent, lower-cased, no parameters */
    const char *format;       /* payload format for the journal: always "fhir" */
    const char *body;         /* the payload (NUL added after body_len bytes) */
    size_t body_len;          /* 1..max_body_bytes */
} hg_http_request_t;

typedef enum {
    HG_FHIR_HTTP_ACCEPTED = 0, /* journalled: 202 */
    HG_FHIR_HTTP_DUPLICATE,    /* already journalled: 200 */
    HG_FHIR_HTTP_BUSY,         /* backpressure or journal failure: 503 + Retry-After */
    HG_FHIR_HTTP_REJECTED,     /* bad request per the collector: 400 with reason */
} hg_fhir_http_status_t;

typedef struct {
    const char *listen;          /* "IPv4:PORT", e.g. "0.0.0.0:8080" */
    const char *tokens_file;     /* "<token> <partner>" lines, '#' comments; kept by path
                                  * for hg_fhir_http_reload_tokens */
    size_t max_body_bytes;       /* larger bodies get 413 */
    size_t max_inflight_bytes;   /* bodies held at once, all connections (being received or
                                  * waiting for the journal); past it 503 + Retry-After;
                                  * at least max_body_bytes; 0: 4 x max_body_bytes */
    unsigned answer_timeout_ms;  /* 0: HG_FHIR_HTTP_ANSWER_TIMEOUT_MS; then 504 */
    const char *tls_cert;        /* PEM certificate (chain) file; NULL or "": plain HTTP */
    const char *tls_key;         /* PEM private key file (unencrypted); with tls_cert */
    unsigned max_conns;          /* connections at once; 0: HG_FHIR_HTTP_MAX_CONNS */
    unsigned max_conns_per_addr; /* from one IP address; 0: no limit of its own */
    unsigned idle_s;             /* a connection silent this long is closed; 0: 60 */
    unsigned body_timeout_s;     /* a body still arriving this long after its headers: the
                                  * connection is closed, its room given back; 0: no limit */
} hg_fhir_http_opts_t;

/* Reads the tokens file (and the TLS files) and starts serving. NULL with
 * err when listen is not IPv4:PORT, the port cannot be bound, the tokens
 * file is unreadable or invalid (see hg_http_tokens_parse), only one of
 * tls_cert and tls_key is given, either is unreadable, not PEM, encrypted,
 * or the pair is rejected by GnuTLS (err quotes its reason, e.g. a key that
 * does not match the certificate). opts is not kept. Collector thread. */
hg_fhir_http_t *hg_fhir_http_start (const hg_fhir_http_opts_t *opts, hg_err_t *err);

/* Re-reads the tokens file given at start and swaps the table in at once.
 * On error (err says why, naming the line) the old table stays in force and
 * <0 is returned. *partners is set to the new number of tokens on success
 * (partners may be NULL). Collector thread; handlers keep running. */
int hg_fhir_http_reload_tokens (hg_fhir_http_t *self, size_t *partners, hg_err_t *err);

/* True when the endpoint serves HTTPS. */
bool hg_fhir_http_tls (const hg_fhir_http_t *self);

/* A file descriptor (an eventfd) the collector polls for POLLIN, e.g.
 * zmq_pollitem_t {NULL, fd, ZMQ_POLLIN, 0}: readable while requests wait. */
int hg_fhir_http_fd (hg_fhir_http_t *self);

/* Moves up to max waiting requests into out (oldest first), and no more once
 * their bodies reach max_bytes (0: no limit; at least one is taken); returns
 * how many.
 * The caller then owns the duty to answer each exactly once with
 * hg_fhir_http_answer (the memory stays the module's). The fd stays readable
 * while requests remain. Collector thread only. */
size_t hg_fhir_http_take (hg_fhir_http_t *self, hg_http_request_t **out, size_t max,
                          size_t max_bytes);

/* The collector's verdict on a taken request; wakes its HTTP handler, which
 * answers the partner. message_id ("<partner>/<batch id>") is quoted in the
 * 202/200 diagnostics, reason in the 400/503 ones (either may be NULL);
 * retry_after_s is sent as Retry-After for BUSY (at least 1). Strings are
 * copied. After this call req is invalid (freed once both sides are done,
 * also when the handler already gave up with 504). Call before
 * hg_fhir_http_stop. */
void hg_fhir_http_answer (hg_fhir_http_t *self, hg_http_request_t *req,
                          hg_fhir_http_status_t status, const char *message_id,
                          const char *reason, unsigned retry_after_s);

/* Stops serving: waiting handlers answer 503, connections close, requests
 * never taken are freed. NULL-safe; sets *self_p to NULL. Collector thread,
 * after every taken request was answered. */
void hg_fhir_http_stop (hg_fhir_http_t **self_p);

#endif
