/*
 * http_server.c -- the shared libmicrohttpd plumbing of the HTTP endpoints:
 * daemon, hand-off queue, responses, capped bodies. See http_server.h.
 */
#define _GNU_SOURCE
#include "http_server.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "http_tokens.h"
#include "log.h"

/* ---- the daemon ------------------------------------------------------------------ */

struct hg_http_daemon {
    struct MHD_Daemon *daemon;
    char log_event[48]; /* <log_tag>_library */
    char *tls_cert;     /* PEM text, owned; NULL when plain HTTP */
    char *tls_key;      /* PEM text, owned, wiped on stop */
    size_t tls_key_len;
    pthread_mutex_t log_lock; /* guards starting and start_error */
    bool starting;            /* libmicrohttpd messages go to start_error */
    char start_error[256];    /* its first message while starting */
    hg_http_steps_t steps;    /* the endpoint's, when given */
    void *cls;                /* their closure */
};

/* libmicrohttpd's access handler, called with the headers, with each chunk
 * of the body and once it is all in: the endpoint's steps in turn. */
static enum MHD_Result
s_access (void *cls, struct MHD_Connection *conn, const char *url, const char *method,
          const char *version, const char *upload, size_t *upload_len, void **con_cls)
{
    (void) version;
    hg_http_daemon_t *self = cls;
    hg_http_conn_t *state = *con_cls;
    if (!state) {
        state = calloc (1, self->steps.size);
        if (!state) {
            return MHD_NO;
        }
        *con_cls = state;
        return self->steps.headers (self->cls, conn, url, method, state);
    }
    if (state->responded) {
        *upload_len = 0; /* discard whatever is still sent */
        return MHD_YES;
    }
    if (*upload_len > 0) {
        size_t n = *upload_len;
        *upload_len = 0;
        return self->steps.chunk (self->cls, state, upload, n);
    }
    state->responded = true;
    return self->steps.complete (self->cls, conn, state);
}

static void
s_completed (void *cls, struct MHD_Connection *conn, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
    (void) conn;
    (void) toe;
    hg_http_daemon_t *self = cls;
    hg_http_conn_t *state = *con_cls;
    if (state) {
        if (self->steps.done) {
            self->steps.done (self->cls, state);
        }
        free (state);
        *con_cls = NULL;
    }
}

int
hg_http_listen_parse (const char *listen, const char *default_host, const char *listen_opt,
                      struct sockaddr_in *addr, hg_err_t *err)
{
    *addr = (struct sockaddr_in) {.sin_family = AF_INET};
    const char *listen_on = listen ? listen : "";
    const char *colon = strrchr (listen_on, ':');
    char host[64];
    const char *port_text = colon ? colon + 1 : listen_on;
    if (colon) {
        snprintf (host, sizeof (host), "%.*s", (int) (colon - listen_on), listen_on);
    }
    else {
        snprintf (host, sizeof (host), "%s", default_host ? default_host : "");
    }
    char *end = NULL;
    long port = (colon || default_host) && *port_text ? strtol (port_text, &end, 10) : 0;
    if (port <= 0 || port > 65535 || *end || inet_pton (AF_INET, host, &addr->sin_addr) != 1) {
        return hg_err_set (err, HG_EINVAL, "%s listen address '%s' is not %s", listen_opt,
                           listen_on, default_host ? "PORT or IPv4:PORT" : "IPv4:PORT");
    }
    addr->sin_port = htons ((uint16_t) port);
    return 0;
}

/* libmicrohttpd's own messages. While starting, the first is kept for the
 * start error (why GnuTLS refused the certificate, why bind failed);
 * afterwards each is logged (e.g. a client that failed the TLS handshake). */
static void s_mhd_log (void *cls, const char *fmt, va_list ap)
    __attribute__ ((format (printf, 2, 0)));

static void
s_mhd_log (void *cls, const char *fmt, va_list ap)
{
    hg_http_daemon_t *self = cls;
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
        hg_debug (self->log_event, "msg=\"%s\"", msg);
    }
    else {
        hg_info (self->log_event, "msg=\"%s\"", msg);
    }
}

/* Reads and checks the PEM files when HTTPS is asked for (http_tokens.h).
 * GnuTLS checks the rest (the encoding, that the key is the certificate's)
 * when the daemon starts. */
static int
s_load_tls (hg_http_daemon_t *self, const hg_http_daemon_opts_t *opts, hg_err_t *err)
{
    bool tls = (opts->tls_cert && *opts->tls_cert) || (opts->tls_key && *opts->tls_key);
    if (tls && MHD_is_feature_supported (MHD_FEATURE_TLS) != MHD_YES) {
        return hg_err_set (err, HG_EINVAL,
                           "%s is set but this libmicrohttpd was built without TLS; install one "
                           "built with GnuTLS",
                           opts->tls_cert_opt);
    }
    int rc = hg_http_tls_read (opts->tls_cert, opts->tls_key, opts->tls_cert_opt,
                               opts->tls_key_opt, &self->tls_cert, &self->tls_key,
                               &self->tls_key_len, err);
    if (rc == 1) {
        char event[64];
        snprintf (event, sizeof (event), "%s_exposed", opts->tls_key_opt);
        hg_warn (event,
                 "file=%s hint=\"chmod 600 it: whoever reads it can impersonate this "
                 "endpoint\"",
                 opts->tls_key);
    }
    return rc < 0 ? rc : 0;
}

/* The start error, from libmicrohttpd's first message (why). */
static void
s_start_error (const hg_http_daemon_t *self, const hg_http_daemon_opts_t *opts, const char *why,
               hg_err_t *err)
{
    const char *scheme = self->tls_cert ? "HTTPS" : "HTTP";
    const char *os_reason = strrchr (why, ':');
    if (strstr (why, "bind") && os_reason) {
        /* libmicrohttpd says "Failed to bind to port 0: <strerror>" with SOCK_ADDR */
        hg_err_set (err, HG_EIO, "cannot serve %s over %s on %s: cannot bind:%s", opts->name,
                    scheme, opts->listen, os_reason + 1);
    }
    else if (self->tls_cert) {
        hg_err_set (err, HG_EIO,
                    "cannot serve %s over HTTPS on %s: %s; check that %s is a PEM certificate "
                    "and %s its private key",
                    opts->name, opts->listen, *why ? why : "libmicrohttpd gave no reason",
                    opts->tls_cert_opt, opts->tls_key_opt);
    }
    else {
        hg_err_set (err, HG_EIO, "cannot serve %s over HTTP on %s: %s", opts->name, opts->listen,
                    *why ? why : "port in use?");
    }
}

hg_http_daemon_t *
hg_http_daemon_start (const hg_http_daemon_opts_t *opts, hg_err_t *err)
{
    struct sockaddr_in addr;
    if (hg_http_listen_parse (opts->listen, opts->default_host, opts->listen_opt, &addr, err)
        < 0) {
        return NULL;
    }
    hg_http_daemon_t *self = calloc (1, sizeof (*self));
    if (!self) {
        hg_err_set (err, HG_ENOMEM, "out of memory");
        return NULL;
    }
    snprintf (self->log_event, sizeof (self->log_event), "%s_library", opts->log_tag);
    if (opts->steps) {
        self->steps = *opts->steps;
    }
    self->cls = opts->cls;
    pthread_mutex_init (&self->log_lock, NULL);
    if (s_load_tls (self, opts, err) < 0) {
        goto failed;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (!opts->one_thread) {
        flags |= MHD_USE_THREAD_PER_CONNECTION;
    }
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
    MHD_AccessHandlerCallback handler = opts->steps ? s_access : opts->handler;
    void *handler_cls = opts->steps ? (void *) self : opts->cls;
    self->daemon =
        MHD_start_daemon (flags, 0, NULL, NULL, handler, handler_cls, MHD_OPTION_EXTERNAL_LOGGER,
                          s_mhd_log, self, MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &addr,
                          MHD_OPTION_CONNECTION_LIMIT,
                          opts->max_conns ? opts->max_conns : (unsigned) HG_HTTP_MAX_CONNS,
                          MHD_OPTION_PER_IP_CONNECTION_LIMIT, opts->max_conns_per_addr,
                          MHD_OPTION_CONNECTION_TIMEOUT,
                          opts->idle_s ? opts->idle_s : (unsigned) HG_HTTP_IDLE_S,
                          MHD_OPTION_NOTIFY_COMPLETED, opts->steps ? s_completed : NULL, self,
                          MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
    pthread_mutex_lock (&self->log_lock);
    self->starting = false;
    char why[sizeof (self->start_error)];
    snprintf (why, sizeof (why), "%s", self->start_error);
    pthread_mutex_unlock (&self->log_lock);
    if (!self->daemon) {
        s_start_error (self, opts, why, err);
        goto failed;
    }
    return self;
failed:
    hg_http_daemon_stop (&self);
    return NULL;
}

bool
hg_http_daemon_tls (const hg_http_daemon_t *self)
{
    return self && self->tls_cert != NULL;
}

void
hg_http_daemon_stop (hg_http_daemon_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    hg_http_daemon_t *self = *self_p;
    if (self->daemon) {
        MHD_stop_daemon (self->daemon); /* joins the handlers */
    }
    if (self->tls_key) {
        sodium_memzero (self->tls_key, self->tls_key_len);
    }
    free (self->tls_key);
    free (self->tls_cert);
    pthread_mutex_destroy (&self->log_lock);
    free (self);
    *self_p = NULL;
}

/* ---- the hand-off queue ------------------------------------------------------------ */

struct hg_http_queue {
    int efd; /* eventfd: readable while the queue is non-empty */
    unsigned answer_timeout_ms;
    hg_http_job_free_fn job_free;
    void *cls;
    pthread_mutex_t lock;    /* guards the queue, stopping and every job */
    pthread_cond_t answered; /* broadcast on each verdict and on shutdown */
    hg_http_job_t *head, *tail;
    bool stopping;
};

hg_http_queue_t *
hg_http_queue_new (unsigned answer_timeout_ms, hg_http_job_free_fn job_free, void *cls,
                   hg_err_t *err)
{
    hg_http_queue_t *self = calloc (1, sizeof (*self));
    if (!self) {
        hg_err_set (err, HG_ENOMEM, "out of memory");
        return NULL;
    }
    self->efd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (self->efd < 0) {
        hg_err_set (err, HG_EIO, "cannot create eventfd: %s", strerror (errno));
        free (self);
        return NULL;
    }
    self->answer_timeout_ms = answer_timeout_ms ? answer_timeout_ms : 1;
    self->job_free = job_free;
    self->cls = cls;
    pthread_mutex_init (&self->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init (&ca);
    pthread_condattr_setclock (&ca, CLOCK_MONOTONIC);
    pthread_cond_init (&self->answered, &ca);
    pthread_condattr_destroy (&ca);
    return self;
}

int
hg_http_queue_fd (const hg_http_queue_t *self)
{
    return self->efd;
}

static void
s_release (hg_http_queue_t *self, hg_http_job_t *job)
{
    /* lock held */
    if (--job->refs == 0) {
        self->job_free (self->cls, job);
    }
}

static void
s_unlink (hg_http_queue_t *self, hg_http_job_t *job)
{
    /* lock held; job is queued */
    hg_http_job_t **pp = &self->head;
    while (*pp != job) {
        pp = &(*pp)->next;
    }
    *pp = job->next;
    if (self->tail == job) {
        self->tail = NULL;
        for (hg_http_job_t *q = self->head; q; q = q->next) {
            self->tail = q;
        }
    }
    job->next = NULL;
    job->queued = false;
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

hg_http_wait_t
hg_http_queue_submit (hg_http_queue_t *self, hg_http_job_t *job, bool *taken)
{
    struct timespec deadline;
    s_deadline (&deadline, self->answer_timeout_ms);
    if (taken) {
        *taken = false;
    }
    pthread_mutex_lock (&self->lock);
    job->refs = 1; /* the handler's */
    if (self->stopping) {
        pthread_mutex_unlock (&self->lock);
        return HG_HTTP_STOPPING;
    }
    job->refs++; /* the queue's, then the service thread's */
    job->queued = true;
    job->next = NULL;
    if (self->tail) {
        self->tail->next = job;
    }
    else {
        self->head = job;
    }
    self->tail = job;
    uint64_t one = 1;
    if (write (self->efd, &one, sizeof (one)) < 0) {
        /* counter saturated cannot happen at 1 per request; already readable */
    }
    int wrc = 0;
    while (!job->answered && !self->stopping && wrc != ETIMEDOUT) {
        wrc = pthread_cond_timedwait (&self->answered, &self->lock, &deadline);
    }
    hg_http_wait_t rc = job->answered    ? HG_HTTP_ANSWERED
                        : self->stopping ? HG_HTTP_STOPPING
                                         : HG_HTTP_TIMEOUT;
    if (taken) {
        *taken = !job->queued;
    }
    if (job->queued) {
        s_unlink (self, job);
        job->refs--; /* the queue's reference; the service thread never saw it */
    }
    pthread_mutex_unlock (&self->lock);
    return rc;
}

void
hg_http_queue_release (hg_http_queue_t *self, hg_http_job_t *job)
{
    pthread_mutex_lock (&self->lock);
    s_release (self, job);
    pthread_mutex_unlock (&self->lock);
}

hg_http_job_t *
hg_http_queue_take (hg_http_queue_t *self)
{
    pthread_mutex_lock (&self->lock);
    hg_http_job_t *job = self->head;
    if (job) {
        s_unlink (self, job); /* its queue reference is now the service thread's */
    }
    if (!self->head) {
        uint64_t v;
        if (read (self->efd, &v, sizeof (v)) < 0) {
            /* EAGAIN: was not readable */
        }
    }
    pthread_mutex_unlock (&self->lock);
    return job;
}

void
hg_http_queue_answer (hg_http_queue_t *self, hg_http_job_t *job)
{
    pthread_mutex_lock (&self->lock);
    job->answered = true;
    s_release (self, job);
    pthread_cond_broadcast (&self->answered);
    pthread_mutex_unlock (&self->lock);
}

void
hg_http_queue_shutdown (hg_http_queue_t *self)
{
    if (!self) {
        return;
    }
    pthread_mutex_lock (&self->lock);
    self->stopping = true;
    pthread_cond_broadcast (&self->answered);
    pthread_mutex_unlock (&self->lock);
}

void
hg_http_queue_destroy (hg_http_queue_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    hg_http_queue_t *self = *self_p;
    close (self->efd);
    pthread_cond_destroy (&self->answered);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

/* ---- responses ---------------------------------------------------------------------- */

enum MHD_Result
hg_http_send (struct MHD_Connection *conn, unsigned status, const char *type, const char *body,
              size_t len, const char *const *headers)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer (len, (void *) body,
                                                                 MHD_RESPMEM_MUST_COPY);
    if (!resp) {
        return MHD_NO;
    }
    MHD_add_response_header (resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    for (size_t i = 0; headers && headers[i] && headers[i + 1]; i += 2) {
        MHD_add_response_header (resp, headers[i], headers[i + 1]);
    }
    enum MHD_Result rc = MHD_queue_response (conn, status, resp);
    MHD_destroy_response (resp);
    return rc;
}

#define HG_HTTP_ERROR_HEADERS_MAX 8 /* name/value pairs of a style */

enum MHD_Result
hg_http_verror (struct MHD_Connection *conn, unsigned status, const hg_http_error_style_t *style,
                const void *arg, const char *hdr, const char *hdr_value, const char *fmt,
                va_list ap)
{
    char msg[1024];
    vsnprintf (msg, sizeof (msg), fmt, ap);
    const char *headers[2 * HG_HTTP_ERROR_HEADERS_MAX + 3];
    size_t n = 0;
    for (size_t i = 0; style->headers && style->headers[i] && style->headers[i + 1]
                       && n < 2 * HG_HTTP_ERROR_HEADERS_MAX;
         i += 2) {
        headers[n++] = style->headers[i];
        headers[n++] = style->headers[i + 1];
    }
    if (hdr) {
        headers[n++] = hdr;
        headers[n++] = hdr_value;
    }
    headers[n] = NULL;
    char *body = style->body (msg, arg);
    if (!body) {
        return MHD_NO;
    }
    enum MHD_Result rc = hg_http_send (conn, status, style->type, body, strlen (body), headers);
    free (body);
    return rc;
}

enum MHD_Result
hg_http_error (struct MHD_Connection *conn, unsigned status, const hg_http_error_style_t *style,
               const void *arg, const char *hdr, const char *hdr_value, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    enum MHD_Result rc = hg_http_verror (conn, status, style, arg, hdr, hdr_value, fmt, ap);
    va_end (ap);
    return rc;
}

/* ---- requests --------------------------------------------------------------------- */

bool
hg_http_media_type (const char *content_type, char *out, size_t cap)
{
    if (!content_type || cap == 0) {
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

void
hg_http_body_drop (hg_http_body_t *b)
{
    free (b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

hg_http_body_rc_t
hg_http_body_append (hg_http_body_t *b, const char *data, size_t n, size_t max_bytes,
                     size_t first_cap, hg_http_grow_fn grow, void *arg)
{
    if (b->too_large || b->refused || b->len + n > max_bytes) {
        /* past the limit or refused: keep nothing more */
        b->too_large = b->too_large || !b->refused;
        hg_http_body_drop (b);
        return b->refused ? HG_HTTP_BODY_REFUSED : HG_HTTP_BODY_TOO_LARGE;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : (first_cap ? first_cap : 4096);
        while (cap < b->len + n + 1) {
            cap *= 2;
        }
        if (cap > max_bytes + 1) {
            cap = max_bytes + 1;
        }
        if (grow && !grow (arg, cap)) {
            b->refused = true;
            hg_http_body_drop (b);
            return HG_HTTP_BODY_REFUSED;
        }
        char *nb = realloc (b->data, cap);
        if (!nb) {
            return HG_HTTP_BODY_NOMEM;
        }
        b->data = nb;
        b->cap = cap;
    }
    memcpy (b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return HG_HTTP_BODY_OK;
}
