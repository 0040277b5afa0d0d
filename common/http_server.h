/*
 * http_server.h -- the plumbing every Hourglass HTTP endpoint shares on
 * libmicrohttpd: the daemon (listen address, HTTPS from PEM files, connection
 * limits, idle timeout, libmicrohttpd's messages in our log), the hand-off of
 * complete requests from libmicrohttpd's threads to the service's single
 * thread, the response helpers and the capped request body.
 *
 * Used by the collector's FHIR intake (services/collector/fhir_http.c), the
 * analysts' API (services/analytics/http.c) and /metrics (metrics.c). What is
 * an endpoint's own -- routes, header checks, the shape of its error bodies,
 * budgets -- stays in its file.
 *
 * Threads. A service's access handler runs on libmicrohttpd's threads. Once a
 * request is complete and checked, the handler submits it to the queue
 * (hg_http_queue_submit) and waits, with a deadline, for the service thread,
 * which polls hg_http_queue_fd, takes requests (hg_http_queue_take), and
 * gives each its verdict (hg_http_queue_answer). A request (hg_http_job_t,
 * the first member of the service's own struct) is reference counted: the
 * handler's reference and the queue's (then the service thread's); the
 * service's job_free runs, under the queue lock, when the last one goes, so
 * a handler that gave up (timeout) never frees what the service still holds.
 */
#ifndef HG_HTTP_SERVER_H
#define HG_HTTP_SERVER_H

#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include <microhttpd.h>

#include "err.h"

#define HG_HTTP_MAX_CONNS 64 /* connections at once when opts say 0 */
#define HG_HTTP_IDLE_S 60    /* idle timeout when opts say 0 */

/* ---- the daemon ------------------------------------------------------------------ */

typedef struct hg_http_daemon hg_http_daemon_t;

/* The first member of an endpoint's per-request state (hg_http_steps_t). */
typedef struct {
    bool responded; /* a response is queued: the rest of the body is discarded */
} hg_http_conn_t;

/* An endpoint's handling of a request, step by step; the daemon keeps the
 * per-request state (size bytes, zeroed, freed after done) between
 * libmicrohttpd's calls and discards what is still sent once a step has set
 * state->responded. cls is the daemon's. */
typedef struct {
    size_t size; /* of the state; hg_http_conn_t first */
    /* The request line and headers are in. */
    enum MHD_Result (*headers) (void *cls, struct MHD_Connection *conn, const char *url,
                                const char *method, hg_http_conn_t *state);
    /* n > 0 more bytes of the body. */
    enum MHD_Result (*chunk) (void *cls, hg_http_conn_t *state, const char *data, size_t n);
    /* The whole request is in (responded is already set: the answer is due). */
    enum MHD_Result (*complete) (void *cls, struct MHD_Connection *conn, hg_http_conn_t *state);
    /* The request is over (answered or not): free what state holds; may be NULL. */
    void (*done) (void *cls, hg_http_conn_t *state);
} hg_http_steps_t;

typedef struct {
    const char *listen;          /* "IPv4:PORT"; with default_host also "PORT" */
    const char *default_host;    /* host of a bare PORT (e.g. loopback); NULL: one is an error */
    const char *listen_opt;      /* option named in the address error: "http", "metrics" */
    const char *name;            /* what is served, in the start error: "FHIR", "the API" */
    const char *log_tag;         /* libmicrohttpd's messages are logged as <log_tag>_library */
    const char *tls_cert;        /* PEM certificate (chain) file; NULL or "": plain HTTP */
    const char *tls_key;         /* PEM private key file (unencrypted); with tls_cert */
    const char *tls_cert_opt;    /* their option names in messages; a key readable by others */
    const char *tls_key_opt;     /* is logged as <tls_key_opt>_exposed */
    unsigned max_conns;          /* connections at once; 0: HG_HTTP_MAX_CONNS */
    unsigned max_conns_per_addr; /* from one IP address; 0: no limit of its own */
    unsigned idle_s;             /* a connection silent this long is closed; 0: HG_HTTP_IDLE_S */
    bool one_thread; /* every connection on the one polling thread (handlers that never
                      * wait); default: a thread per connection */
    const hg_http_steps_t *steps;      /* the endpoint's steps (copied), or: */
    MHD_AccessHandlerCallback handler; /* a plain access handler (one call, no body) */
    void *cls;                         /* their closure */
} hg_http_daemon_opts_t;

/* Parses "IPv4:PORT" (or a bare PORT on default_host, when given) into
 * addr. <0 with err ("<listen_opt> listen address '...' is not IPv4:PORT")
 * otherwise. */
int hg_http_listen_parse (const char *listen, const char *default_host, const char *listen_opt,
                          struct sockaddr_in *addr, hg_err_t *err);

/* Reads the TLS files (when given) and starts serving. NULL with err when
 * listen does not parse, only one of tls_cert and tls_key is given, either is
 * unreadable, not PEM or encrypted (hg_http_tls_read), the port cannot be
 * bound ("cannot serve <name> over HTTP on <listen>: cannot bind: <reason>"),
 * or GnuTLS refuses the pair (err quotes its reason). opts is not kept. */
hg_http_daemon_t *hg_http_daemon_start (const hg_http_daemon_opts_t *opts, hg_err_t *err);

/* True when the daemon serves HTTPS. NULL-safe. */
bool hg_http_daemon_tls (const hg_http_daemon_t *self);

/* Stops serving: closes the connections and joins libmicrohttpd's threads
 * (handlers waiting in hg_http_queue_submit must have been woken with
 * hg_http_queue_shutdown first), wipes the key. NULL-safe; nulls *self_p. */
void hg_http_daemon_stop (hg_http_daemon_t **self_p);

/* ---- the hand-off queue ------------------------------------------------------------ */

typedef struct hg_http_queue hg_http_queue_t;

/* The queue's part of a request: the first member of the service's struct,
 * zeroed by the service (calloc) before hg_http_queue_submit. */
typedef struct hg_http_job {
    struct hg_http_job *next; /* queue link while queued */
    int refs;                 /* handler + queue/service thread; job_free at 0 */
    bool queued;              /* waiting, not yet taken */
    bool answered;            /* the service thread's verdict is in the service's struct */
    size_t bytes;             /* its weight for hg_http_queue_take's max_bytes (the body) */
} hg_http_job_t;

typedef enum {
    HG_HTTP_ANSWERED = 0, /* the service's verdict is there to read */
    HG_HTTP_STOPPING,     /* shutting down before an answer: 503 */
    HG_HTTP_TIMEOUT,      /* no answer within answer_timeout_ms: 504 */
} hg_http_wait_t;

/* Frees a request whose last reference went (queue lock held). */
typedef void (*hg_http_job_free_fn) (void *cls, hg_http_job_t *job);

/* A queue whose handlers wait answer_timeout_ms (at least 1) for a verdict.
 * NULL with err when the eventfd cannot be made. */
hg_http_queue_t *hg_http_queue_new (unsigned answer_timeout_ms, hg_http_job_free_fn job_free,
                                    void *cls, hg_err_t *err);

/* An eventfd the service thread polls for POLLIN: readable while requests
 * wait. */
int hg_http_queue_fd (const hg_http_queue_t *self);

/* Handler thread: queues job and waits for its verdict, the deadline or
 * shutdown (whichever first; a verdict given before shutdown is still
 * ANSWERED). Returns with the handler's reference still held: read the
 * verdict (after ANSWERED only: then nobody else touches the job), then
 * hg_http_queue_release. *taken (may be NULL) says whether the service
 * thread had taken it. */
hg_http_wait_t hg_http_queue_submit (hg_http_queue_t *self, hg_http_job_t *job, bool *taken);

/* Drops the handler's reference (job_free when it was the last). */
void hg_http_queue_release (hg_http_queue_t *self, hg_http_job_t *job);

/* Service thread: the oldest waiting request, or NULL; the caller then owes
 * it one hg_http_queue_answer. The fd stays readable while more wait. */
hg_http_job_t *hg_http_queue_take (hg_http_queue_t *self);

/* Service thread: the verdict is written in the job's struct; wakes its
 * handler and drops the service's reference (job is invalid afterwards,
 * also when the handler already gave up). */
void hg_http_queue_answer (hg_http_queue_t *self, hg_http_job_t *job);

/* Wakes every waiting handler with HG_HTTP_STOPPING; later submits get it at
 * once. Before hg_http_daemon_stop. */
void hg_http_queue_shutdown (hg_http_queue_t *self);

/* Frees the queue, once the daemon is stopped (no handler left). NULL-safe;
 * nulls *self_p. */
void hg_http_queue_destroy (hg_http_queue_t **self_p);

/* ---- responses ---------------------------------------------------------------------- */

/* Queues status with len bytes of body (copied) as Content-Type type, and
 * the headers (NULL or a NULL-ended list of name, value, name, value...). */
enum MHD_Result hg_http_send (struct MHD_Connection *conn, unsigned status, const char *type,
                              const char *body, size_t len, const char *const *headers);

/* How an endpoint writes its error answers. */
typedef struct {
    const char *type;           /* their Content-Type */
    const char *const *headers; /* sent with each (as hg_http_send's), or NULL */
    /* The body for msg (malloc'd, NUL-terminated; NULL: out of memory); arg
     * is the one given to hg_http_error (e.g. a FHIR issue's code). */
    char *(*body) (const char *msg, const void *arg);
} hg_http_error_style_t;

/* Queues an error: fmt formatted (at most 1 KiB) into style's body, with
 * one extra header hdr: hdr_value (hdr may be NULL). */
enum MHD_Result hg_http_error (struct MHD_Connection *conn, unsigned status,
                               const hg_http_error_style_t *style, const void *arg,
                               const char *hdr, const char *hdr_value, const char *fmt, ...)
    __attribute__ ((format (printf, 7, 8)));

enum MHD_Result hg_http_verror (struct MHD_Connection *conn, unsigned status,
                                const hg_http_error_style_t *style, const void *arg,
                                const char *hdr, const char *hdr_value, const char *fmt,
                                va_list ap) __attribute__ ((format (printf, 7, 0)));

/* ---- requests --------------------------------------------------------------------- */

/* The media type of a Content-Type value, lower-cased, without parameters,
 * into out (cap bytes); false when absent, empty or longer than cap - 1. */
bool hg_http_media_type (const char *content_type, char *out, size_t cap);

/* A request body being received, capped. Zero it to start; data is owned. */
typedef struct {
    char *data; /* NUL-terminated after len bytes */
    size_t len, cap;
    bool too_large; /* passed the cap: dropped, the rest discarded */
    bool refused;   /* its growth was refused (grow below): dropped, the rest discarded */
} hg_http_body_t;

typedef enum {
    HG_HTTP_BODY_OK = 0,
    HG_HTTP_BODY_TOO_LARGE, /* now or earlier: nothing kept */
    HG_HTTP_BODY_REFUSED,   /* now or earlier: nothing kept */
    HG_HTTP_BODY_NOMEM,     /* realloc failed: the connection should be dropped */
} hg_http_body_rc_t;

/* May the body's buffer grow to cap bytes? (e.g. a budget shared by every
 * connection); false refuses it. */
typedef bool (*hg_http_grow_fn) (void *arg, size_t cap);

/* Adds n bytes to the body, keeping at most max_bytes. The buffer starts at
 * first_cap, doubles, never passes max_bytes + 1; grow (may be NULL) is
 * asked before each growth. Once too large or refused, it stays so and
 * keeps nothing. */
hg_http_body_rc_t hg_http_body_append (hg_http_body_t *b, const char *data, size_t n,
                                       size_t max_bytes, size_t first_cap, hg_http_grow_fn grow,
                                       void *arg);

/* Frees what the body holds (len and cap back to 0; the flags stay). */
void hg_http_body_drop (hg_http_body_t *b);

#endif
