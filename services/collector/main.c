/*
 * hourglass-collector -- takes partner pushes, journals each batch durably
 * in its outbox before acknowledging it, idempotent on the partner's batch id.
 *
 * Ingest: a ROUTER socket; each request is [identity][empty][PushRequest],
 * each answer [identity][empty][PushReply] carrying the message id
 * "<partner>/<batch id>" (so a REQ or a pipelining DEALER client can match
 * answers to requests). All requests read in one round
 * go into one synced write batch (group commit), then are answered.
 * Backpressure: when the outbox is full the answer is BUSY with a retry
 * delay, so a slow pipeline slows partners down instead of buffering.
 */
#define _GNU_SOURCE   /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <zmq.h>

#include "fhir_http.h"
#include "format.h"
#include "log.h"
#include "mllp.h"
#include "quota.h"
#include "service.h"
#include "util.h"
#include "zmsg.h"

#define HG_COLLECTOR_ROUND_MAX 256

static const hg_opt_t s_options[] = {
    {"ingest", HG_OPT_STRING, "tcp://127.0.0.1:5550", "endpoint partners push to"},
    {"max_payload_bytes", HG_OPT_INT, "67108864", "largest accepted batch (bytes)"},
    {"mllp", HG_OPT_STRING, "",
     "HL7 v2 over MLLP: listen on IPv4:PORT (empty: off); each message is ACKed (MSA-1 AA) "
     "only once journalled"},
    {"mllp_partner", HG_OPT_STRING, "mllp", "partner name of messages received over MLLP"},
    {"http", HG_OPT_STRING, "",
     "FHIR over HTTP: listen on IPv4:PORT (empty: off); POST /fhir answers 202 only once "
     "journalled"},
    {"http_tokens", HG_OPT_STRING, "",
     "bearer tokens for http: '<token> <partner>' lines (SIGHUP re-reads it; a file that does "
     "not parse keeps the previous tokens)"},
    {"http_tls_cert", HG_OPT_STRING, "",
     "PEM certificate (chain) for http; with http_tls_key the endpoint serves only HTTPS"},
    {"http_tls_key", HG_OPT_STRING, "",
     "PEM private key (unencrypted, chmod 600) of http_tls_cert"},
    {"partner_rate", HG_OPT_INT, "0",
     "quota: batches per second each partner may push on average (0: unlimited)"},
    {"partner_burst", HG_OPT_INT, "0", "quota: burst size per partner (0: 2 x partner_rate)"},
    {"partners", HG_OPT_STRING, "",
     "allow-list of partner public keys ('<z85> <partner>' lines); with curve_key, only these "
     "partners may push and each is known by its key's name (SIGHUP re-reads it)"},
    {NULL, 0, NULL, NULL},
};

#define HG_MLLP_MAX_CONNS 64

typedef struct {
    int fd;                       /* -1: free slot */
    char *in;                     /* received bytes not yet framed */
    size_t in_len, in_cap;
    char peer[48];
} mllp_conn_t;

typedef struct {
    void *ingest;                 /* ROUTER facing partners */
    size_t max_payload_bytes;
    bool authenticated;           /* partners are known by their CurveZMQ key */
    int mllp_fd;                  /* MLLP listening socket, -1 when off */
    const char *mllp_partner;
    mllp_conn_t conns[HG_MLLP_MAX_CONNS];
    uint64_t ack_seq;
    hg_quota_t *quota;            /* per-partner token buckets */
    hg_fhir_http_t *http;         /* FHIR over HTTP, when configured */
} collector_t;

typedef struct {
    zmq_msg_t identity;
    Hourglass__PushReply reply;
    char message_id[512];
    char reason[600];
} pending_reply_t;

/* Listens for MLLP connections on "IPv4:PORT". */
static int
s_mllp_listen (collector_t *self, const char *listen_on, hg_err_t *err)
{
    struct sockaddr_in addr = {.sin_family = AF_INET};
    const char *colon = strrchr (listen_on, ':');
    char host[64];
    snprintf (host, sizeof (host), "%.*s", colon ? (int) (colon - listen_on) : 0, listen_on);
    long port = colon ? strtol (colon + 1, NULL, 10) : 0;
    if (!colon || port <= 0 || port > 65535 || inet_pton (AF_INET, host, &addr.sin_addr) != 1) {
        return hg_err_set (err, HG_EINVAL, "mllp '%s' is not IPv4:PORT", listen_on);
    }
    addr.sin_port = htons ((uint16_t) port);
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof (one));
    if (fd < 0 || bind (fd, (struct sockaddr *) &addr, sizeof (addr)) < 0 || listen (fd, 64) < 0) {
        int e = errno;
        if (fd >= 0) {
            close (fd);
        }
        return hg_err_set (err, HG_EIO, "cannot listen for MLLP on %s: %s", listen_on,
                           strerror (e));
    }
    self->mllp_fd = fd;
    hg_info ("mllp_listening", "address=%s partner=%s", listen_on, self->mllp_partner);
    return 0;
}

static void
s_mllp_close (mllp_conn_t *c)
{
    if (c->fd >= 0) {
        close (c->fd);
    }
    free (c->in);
    memset (c, 0, sizeof (*c));
    c->fd = -1;
}

static int
s_init (hg_service_t *svc, void **state, hg_err_t *err)
{
    collector_t *self = calloc (1, sizeof (*self));
    self->max_payload_bytes = (size_t) hg_config_int (hg_service_config (svc),
                                                      "max_payload_bytes");
    self->ingest = zmq_socket (hg_service_zctx (svc), ZMQ_ROUTER);
    /* refuse absurd messages at the transport, before they are buffered */
    int64_t maxmsg = (int64_t) self->max_payload_bytes * 2 + 65536;
    zmq_setsockopt (self->ingest, ZMQ_MAXMSGSIZE, &maxmsg, sizeof (maxmsg));
    const char *ep = hg_service_option (svc, "ingest");
    *state = self;
    bool tls = *hg_service_option (svc, "http_tls_cert")
               || *hg_service_option (svc, "http_tls_key");
    if (tls && !*hg_service_option (svc, "http")) {
        return hg_err_set (err, HG_EINVAL, "http_tls_cert and http_tls_key need http (the "
                           "address to serve FHIR over HTTPS on)");
    }
    const char *partners = hg_service_option (svc, "partners");
    if (hg_service_curve (svc)) {
        /* partners authenticate with their own key pair; identity comes from it */
        if (!*partners) {
            return hg_err_set (err, HG_EINVAL, "curve_key is set but partners is not: give the "
                               "allow-list of partner public keys");
        }
        if (hg_curve_auth_allow (hg_service_auth (svc), "partners", partners, err) < 0
            || hg_curve_make_server (self->ingest, hg_service_curve (svc), "partners", err) < 0) {
            return err->code;
        }
        self->authenticated = true;
    }
    else if (*partners) {
        return hg_err_set (err, HG_EINVAL, "partners needs curve_key (keys authenticate "
                           "partners only over CurveZMQ)");
    }
    if (zmq_bind (self->ingest, ep) < 0) {
        return hg_err_set (err, HG_EIO, "cannot bind ingest endpoint %s: %s", ep,
                           zmq_strerror (errno));
    }
    for (int i = 0; i < HG_MLLP_MAX_CONNS; i++) {
        self->conns[i].fd = -1;
    }
    int64_t rate = hg_config_int (hg_service_config (svc), "partner_rate");
    int64_t burst = hg_config_int (hg_service_config (svc), "partner_burst");
    if (rate < 0 || burst < 0) {
        return hg_err_set (err, HG_EINVAL, "partner_rate and partner_burst must be >= 0");
    }
    self->quota = hg_quota_new ((double) rate, burst ? (double) burst : 2.0 * (double) rate);
    if (!self->quota) {
        return hg_err_set (err, HG_ENOMEM, "out of memory");
    }
    self->mllp_fd = -1;
    self->mllp_partner = hg_service_option (svc, "mllp_partner");
    const char *http = hg_service_option (svc, "http");
    if (*http) {
        hg_fhir_http_opts_t o = {
            .listen = http,
            .tokens_file = hg_service_option (svc, "http_tokens"),
            .max_body_bytes = self->max_payload_bytes,
            .tls_cert = hg_service_option (svc, "http_tls_cert"),
            .tls_key = hg_service_option (svc, "http_tls_key"),
        };
        self->http = hg_fhir_http_start (&o, err);
        if (!self->http) {
            return err->code;
        }
    }
    const char *mllp = hg_service_option (svc, "mllp");
    if (*mllp) {
        return s_mllp_listen (self, mllp, err);
    }
    return 0;
}

static void
s_destroy (void **state)
{
    collector_t *self = *state;
    for (int i = 0; i < HG_MLLP_MAX_CONNS; i++) {
        s_mllp_close (&self->conns[i]);
    }
    if (self->mllp_fd >= 0) {
        close (self->mllp_fd);
    }
    hg_quota_destroy (&self->quota);
    hg_fhir_http_stop (&self->http);
    if (self->ingest) {
        int linger = 0;
        zmq_setsockopt (self->ingest, ZMQ_LINGER, &linger, sizeof (linger));
        zmq_close (self->ingest);
    }
    free (self);
    *state = NULL;
}

/* SIGHUP (the runtime's reload hook, after the CurveZMQ allow-lists): the
 * collector re-reads its HTTP tokens. A tokens file that does not parse
 * keeps the tokens in force: a typo neither opens the endpoint nor locks
 * every partner out. */
static void
s_reload (hg_service_t *svc, void *state)
{
    collector_t *self = state;
    if (!self->http) {
        return;
    }
    hg_err_t err = {0};
    size_t partners = 0;
    if (hg_fhir_http_reload_tokens (self->http, &partners, &err) < 0) {
        (*hg_service_counter (svc, "http_tokens_reload_failed"))++;
        hg_error ("http_tokens_reload_failed", "kept=previous err=\"%s\"", err.msg);
    }
    else {
        (*hg_service_counter (svc, "http_tokens_reloaded"))++;
        hg_info ("http_tokens_reloaded", "partners=%zu", partners);
    }
}

/* Polled: the ingest socket always (BUSY answers carry backpressure); the
 * MLLP listener and connections only while the outbox has room, so a
 * saturated pipeline slows MLLP senders down through TCP. */
static size_t
s_extra_items (hg_service_t *svc, void *state, zmq_pollitem_t *items, size_t max)
{
    collector_t *self = state;
    size_t n = 0;
    items[n++] = (zmq_pollitem_t) {self->ingest, 0, ZMQ_POLLIN, 0};
    if (self->http) {
        /* always: HTTP requests get a 503 with Retry-After when saturated */
        items[n++] = (zmq_pollitem_t) {NULL, hg_fhir_http_fd (self->http), ZMQ_POLLIN, 0};
    }
    if (self->mllp_fd < 0 || hg_service_outbox_room (svc) == 0) {
        return n;
    }
    items[n++] = (zmq_pollitem_t) {NULL, self->mllp_fd, ZMQ_POLLIN, 0};
    for (int i = 0; i < HG_MLLP_MAX_CONNS && n < max; i++) {
        if (self->conns[i].fd >= 0) {
            items[n++] = (zmq_pollitem_t) {NULL, self->conns[i].fd, ZMQ_POLLIN, 0};
        }
    }
    return n;
}

/* Decides one request; for an accepted one, stages its journal writes. */
static void
s_accept (hg_service_t *svc, collector_t *self, Hourglass__PushRequest *req,
          size_t req_bytes, const char *user_id, hg_store_batch_t *wb, pending_reply_t *pr,
          size_t n_before, pending_reply_t *round)
{
    Hourglass__PushReply *r = &pr->reply;
    hourglass__push_reply__init (r);
    r->message_id = pr->message_id;
    r->reason = pr->reason;
    if (req && self->authenticated) {
        /* the key decides who the partner is; a request may not claim another */
        if (!user_id || !*user_id) {
            r->status = HOURGLASS__PUSH_REPLY__STATUS__REJECTED;
            snprintf (pr->reason, sizeof (pr->reason), "not authenticated");
            return;
        }
        if (*req->partner && strcmp (req->partner, user_id) != 0) {
            r->status = HOURGLASS__PUSH_REPLY__STATUS__REJECTED;
            snprintf (pr->message_id, sizeof (pr->message_id), "%.128s/%.256s", req->partner,
                      req->batch_id);
            snprintf (pr->reason, sizeof (pr->reason),
                      "your key authenticates you as partner '%.64s', not '%.64s'", user_id,
                      req->partner);
            (*hg_service_counter (svc, "rejected"))++;
            hg_warn ("partner_mismatch", "authenticated=%s claimed=%s", user_id, req->partner);
            return;
        }
        req->partner = (char *) user_id;
    }
    if (!req) {
        r->status = HOURGLASS__PUSH_REPLY__STATUS__REJECTED;
        snprintf (pr->reason, sizeof (pr->reason), "undecodable PushRequest (%zu bytes)",
                  req_bytes);
        return;
    }
    snprintf (pr->message_id, sizeof (pr->message_id), "%.128s/%.256s", req->partner,
              req->batch_id);
    if (!*req->partner || !*req->batch_id || strlen (req->batch_id) > 256
        || strlen (req->partner) > 128 || strchr (req->partner, '/')) {
        r->status = HOURGLASS__PUSH_REPLY__STATUS__REJECTED;
        snprintf (pr->reason, sizeof (pr->reason),
                  "partner (1-128 chars, no '/') and batch_id (1-256 chars) are required");
        return;
    }
    if (req->payload.len > self->max_payload_bytes) {
        r->status = HOURGLASS__PUSH_REPLY__STATUS__REJECTED;
        snprintf (pr->reason, sizeof (pr->reason),
                  "payload of %zu bytes exceeds max_payload_bytes %zu; split the batch",
                  req->payload.len, self->max_payload_bytes);
        (*hg_service_counter (svc, "rejected"))++;
        return;
    }
    char key[600];
    int kl = snprintf (key, sizeof (key), "s/%s", pr->message_id);
    bool dup = hg_store_exists (hg_service_store (svc), key, (size_t) kl);
    for (size_t i = 0; !dup && i < n_before; i++) {
        dup = round[i].reply.status == HOURGLASS__PUSH_REPLY__STATUS__ACCEPTED
              && strcmp (round[i].message_id, pr->message_id) == 0;
    }
    if (dup) {
        r->status = HOURGLASS__PUSH_REPLY__STATUS__DUPLICATE;
        (*hg_service_counter (svc, "duplicates"))++;
        return;
    }
    uint32_t wait_ms = hg_quota_take (self->quota, req->partner, hg_now_ms ());
    if (wait_ms > 0) {
        r->status = HOURGLASS__PUSH_REPLY__STATUS__BUSY;
        r->retry_after_ms = wait_ms;
        snprintf (pr->reason, sizeof (pr->reason), "partner %.128s is over its quota; retry in %u ms",
                  req->partner, wait_ms);
        (*hg_service_counter (svc, "over_quota"))++;
        return;
    }
    if (hg_service_outbox_room (svc) == 0) {
        r->status = HOURGLASS__PUSH_REPLY__STATUS__BUSY;
        r->retry_after_ms = 200;
        snprintf (pr->reason, sizeof (pr->reason), "pipeline is saturated; retry later");
        (*hg_service_counter (svc, "busy"))++;
        return;
    }
    Hourglass__Envelope env = HOURGLASS__ENVELOPE__INIT;
    env.id = pr->message_id;
    env.partner = req->partner;
    env.format = req->format;
    env.payload_type = hg_format_type (req->format);   /* unknown: quarantined downstream */
    env.payload = req->payload;
    env.shard = -1;
    hg_err_t err = {0};
    if (hg_service_emit (svc, wb, &env, NULL, &err) < 0) {
        r->status = HOURGLASS__PUSH_REPLY__STATUS__BUSY;
        r->retry_after_ms = 100;
        snprintf (pr->reason, sizeof (pr->reason), "%s", err.msg);
        return;
    }
    hg_store_batch_put (wb, key, (size_t) kl, "", 0);
    r->status = HOURGLASS__PUSH_REPLY__STATUS__ACCEPTED;
    (*hg_service_counter (svc, "received"))++;
    *hg_service_counter (svc, "received_bytes") += req->payload.len;
}

static int
s_on_ingest (hg_service_t *svc, collector_t *self, hg_err_t *err)
{
    pending_reply_t *round = calloc (HG_COLLECTOR_ROUND_MAX, sizeof (*round));
    hg_store_batch_t *wb = hg_store_batch_new ();
    size_t n = 0;
    int rc = 0;
    while (n < HG_COLLECTOR_ROUND_MAX) {
        zmq_msg_t parts[3];
        bool truncated;
        int got = hg_zmsg_recv (self->ingest, parts, 3, ZMQ_DONTWAIT, &truncated);
        if (got <= 0) {
            break;
        }
        if (got != 3 || truncated) {
            /* not [identity][empty][request]: ignored */
            hg_zmsg_close (parts, got);
            continue;
        }
        pending_reply_t *pr = &round[n];
        zmq_msg_init (&pr->identity);
        zmq_msg_move (&pr->identity, &parts[0]);
        Hourglass__PushRequest *req = hourglass__push_request__unpack (
            NULL, zmq_msg_size (&parts[2]), zmq_msg_data (&parts[2]));
        const char *user_id = self->authenticated ? zmq_msg_gets (&parts[2], "User-Id") : NULL;
        char *claimed = req ? req->partner : NULL;
        s_accept (svc, self, req, zmq_msg_size (&parts[2]), user_id, wb, pr, n, round);
        if (req) {
            req->partner = claimed;   /* free_unpacked frees what unpack allocated */
        }
        if (req) {
            hourglass__push_request__free_unpacked (req, NULL);
        }
        for (int i = 0; i < 3; i++) {
            zmq_msg_close (&parts[i]);
        }
        n++;
    }
    if (n > 0) {
        /* durable first, then acknowledge */
        rc = hg_service_commit (svc, wb, err);
        for (size_t i = 0; i < n; i++) {
            if (rc < 0) {
                round[i].reply.status = HOURGLASS__PUSH_REPLY__STATUS__BUSY;
                round[i].reply.retry_after_ms = 1000;
                snprintf (round[i].reason, sizeof (round[i].reason), "journal write failed");
            }
            size_t len = hourglass__push_reply__get_packed_size (&round[i].reply);
            zmq_msg_t out;
            zmq_msg_init_size (&out, len);
            hourglass__push_reply__pack (&round[i].reply, zmq_msg_data (&out));
            zmq_msg_send (&round[i].identity, self->ingest, ZMQ_SNDMORE);
            zmq_send (self->ingest, "", 0, ZMQ_SNDMORE);
            zmq_msg_send (&out, self->ingest, 0);
            zmq_msg_close (&round[i].identity);
        }
        hg_debug ("ingest_round", "requests=%zu", n);
    }
    hg_store_batch_destroy (&wb);
    free (round);
    return rc;
}


/* ---- MLLP ------------------------------------------------------------------ */

typedef struct {
    int conn;                     /* index in conns */
    const char *msg;              /* into the connection's buffer */
    size_t msg_len;
    pending_reply_t pr;           /* s_accept's verdict */
    bool no_control_id;
} mllp_pending_t;

static void
s_mllp_accept_conns (collector_t *self)
{
    for (;;) {
        struct sockaddr_in peer;
        socklen_t plen = sizeof (peer);
        int fd = accept4 (self->mllp_fd, (struct sockaddr *) &peer, &plen,
                          SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            return;
        }
        int slot = -1;
        for (int i = 0; i < HG_MLLP_MAX_CONNS && slot < 0; i++) {
            slot = self->conns[i].fd < 0 ? i : -1;
        }
        char addr[48];
        snprintf (addr, sizeof (addr), "%s:%d", inet_ntoa (peer.sin_addr), ntohs (peer.sin_port));
        if (slot < 0) {
            hg_warn ("mllp_refused", "peer=%s reason=\"too many connections\"", addr);
            close (fd);
            continue;
        }
        self->conns[slot].fd = fd;
        snprintf (self->conns[slot].peer, sizeof (self->conns[slot].peer), "%s", addr);
        hg_info ("mllp_connected", "peer=%s", addr);
    }
}

/* Reads what a connection has; false when it closed or failed. */
static bool
s_mllp_read (collector_t *self, mllp_conn_t *c)
{
    size_t cap_max = self->max_payload_bytes + 65536;
    for (;;) {
        if (c->in_len == c->in_cap) {
            if (c->in_cap >= cap_max) {
                return true;        /* framing decides below whether it overflowed */
            }
            size_t cap = c->in_cap ? c->in_cap * 2 : 65536;
            cap = cap > cap_max ? cap_max : cap;
            char *nb = realloc (c->in, cap);
            if (!nb) {
                return false;
            }
            c->in = nb;
            c->in_cap = cap;
        }
        ssize_t got = read (c->fd, c->in + c->in_len, c->in_cap - c->in_len);
        if (got > 0) {
            c->in_len += (size_t) got;
            continue;
        }
        if (got == 0) {
            return false;
        }
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    }
}

static void
s_mllp_send (mllp_conn_t *c, const char *buf, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t w = write (c->fd, buf + off, len - off);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            /* the sender will resend unacknowledged messages; MSH-10 makes that
             * idempotent */
            return;
        }
        off += (size_t) w;
    }
}

static int
s_on_mllp (hg_service_t *svc, collector_t *self, const zmq_pollitem_t *items, size_t n,
           hg_err_t *err)
{
    for (size_t i = 0; i < n; i++) {
        if (items[i].socket == NULL && items[i].fd == self->mllp_fd && items[i].revents) {
            s_mllp_accept_conns (self);
        }
    }
    size_t cap = 256, np = 0;
    mllp_pending_t *pend = calloc (cap, sizeof (*pend));
    size_t consumed_upto[HG_MLLP_MAX_CONNS] = {0};
    hg_store_batch_t *wb = hg_store_batch_new ();
    for (int ci = 0; ci < HG_MLLP_MAX_CONNS; ci++) {
        mllp_conn_t *c = &self->conns[ci];
        bool ready = false;
        for (size_t i = 0; c->fd >= 0 && i < n; i++) {
            ready |= items[i].socket == NULL && items[i].fd == c->fd && items[i].revents;
        }
        if (!ready) {
            continue;
        }
        bool open = s_mllp_read (self, c);
        size_t off = 0;
        for (;;) {
            const char *msg;
            size_t msg_len, consumed, skipped;
            bool overflow;
            hg_mllp_status_t st = hg_mllp_next (c->in + off, c->in_len - off,
                                                self->max_payload_bytes, &msg, &msg_len,
                                                &consumed, &skipped, &overflow);
            if (skipped) {
                hg_warn ("mllp_junk", "peer=%s bytes=%zu", c->peer, skipped);
            }
            off += consumed;
            if (overflow) {
                char ack[512];
                size_t al = hg_hl7_ack (c->in + off, c->in_len - off, "AR",
                                        "message exceeds max_payload_bytes; split it", "ACK0",
                                        "19700101000000", ack, sizeof (ack));
                s_mllp_send (c, ack, al);
                hg_warn ("mllp_overflow", "peer=%s", c->peer);
                open = false;
                break;
            }
            if (st != HG_MLLP_FRAME) {
                break;
            }
            if (np == cap) {
                cap *= 2;
                pend = realloc (pend, cap * sizeof (*pend));
            }
            mllp_pending_t *p = &pend[np++];
            memset (p, 0, sizeof (*p));
            p->conn = ci;
            p->msg = msg;
            p->msg_len = msg_len;
            char control[200];
            Hourglass__PushRequest req = HOURGLASS__PUSH_REQUEST__INIT;
            req.partner = (char *) self->mllp_partner;
            req.format = "hl7v2";
            req.payload.data = (uint8_t *) msg;
            req.payload.len = msg_len;
            if (hg_hl7_control_id (msg, msg_len, control, sizeof (control))) {
                req.batch_id = control;
            }
            else {
                /* journal it anyway (the cleanser quarantines it with its reason),
                 * under a content hash, and answer AR */
                unsigned char h[8];
                crypto_generichash (h, sizeof (h), (const unsigned char *) msg, msg_len, NULL, 0);
                char hex[17];
                sodium_bin2hex (hex, sizeof (hex), h, sizeof (h));
                snprintf (control, sizeof (control), "mllp-%s", hex);
                req.batch_id = control;
                p->no_control_id = true;
            }
            s_accept (svc, self, &req, msg_len, NULL, wb, &p->pr, 0, NULL);
        }
        consumed_upto[ci] = off;
        if (!open) {
            c->in_len = off;    /* what was framed is answered below, then closed */
        }
        if (!open) {
            hg_info ("mllp_closed", "peer=%s", c->peer);
            consumed_upto[ci] = SIZE_MAX;   /* close after answering */
        }
    }
    int rc = 0;
    if (np > 0) {
        rc = hg_service_commit (svc, wb, err);   /* durable first, then ACK */
    }
    char now[16];
    time_t t = time (NULL);
    struct tm tm;
    gmtime_r (&t, &tm);
    strftime (now, sizeof (now), "%Y%m%d%H%M%S", &tm);
    for (size_t i = 0; i < np; i++) {
        mllp_pending_t *p = &pend[i];
        const char *code = "AA", *text = "";
        switch (p->pr.reply.status) {
        case HOURGLASS__PUSH_REPLY__STATUS__ACCEPTED:
        case HOURGLASS__PUSH_REPLY__STATUS__DUPLICATE:
            if (p->no_control_id) {
                code = "AR";
                text = "no MSH segment or no MSH-10 message control id; the message is kept in "
                       "quarantine";
            }
            break;
        case HOURGLASS__PUSH_REPLY__STATUS__BUSY:
            code = "AE";
            text = "pipeline saturated; resend later";
            break;
        default:
            code = "AR";
            text = p->pr.reason;
            break;
        }
        if (rc < 0) {
            code = "AE";
            text = "journal write failed; resend later";
        }
        char ack[2048], ack_id[32];
        snprintf (ack_id, sizeof (ack_id), "HG%llu", (unsigned long long) ++self->ack_seq);
        size_t al = hg_hl7_ack (p->msg, p->msg_len, code, text, ack_id, now, ack, sizeof (ack));
        s_mllp_send (&self->conns[p->conn], ack, al);
        (*hg_service_counter (svc, *code == 'A' && code[1] == 'A' ? "mllp_acked" : "mllp_nacked"))++;
    }
    for (int ci = 0; ci < HG_MLLP_MAX_CONNS; ci++) {
        mllp_conn_t *c = &self->conns[ci];
        if (c->fd < 0) {
            continue;
        }
        if (consumed_upto[ci] == SIZE_MAX) {
            s_mllp_close (c);
        }
        else if (consumed_upto[ci] > 0) {
            memmove (c->in, c->in + consumed_upto[ci], c->in_len - consumed_upto[ci]);
            c->in_len -= consumed_upto[ci];
        }
    }
    hg_store_batch_destroy (&wb);
    free (pend);
    return rc;
}

/* ---- FHIR over HTTP ----------------------------------------------------------- */

/* Journals the waiting HTTP requests in one commit, then answers each: the
 * bearer token already authenticated the partner. */
static int
s_on_http (hg_service_t *svc, collector_t *self, hg_err_t *err)
{
    hg_http_request_t *reqs[HG_COLLECTOR_ROUND_MAX];
    size_t n = hg_fhir_http_take (self->http, reqs, HG_COLLECTOR_ROUND_MAX);
    if (n == 0) {
        return 0;
    }
    pending_reply_t *round = calloc (n, sizeof (*round));
    hg_store_batch_t *wb = hg_store_batch_new ();
    int rc = round && wb ? 0 : hg_err_set (err, HG_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        Hourglass__PushRequest req = HOURGLASS__PUSH_REQUEST__INIT;
        req.partner = (char *) reqs[i]->partner;
        req.batch_id = (char *) reqs[i]->batch_id;
        req.format = (char *) reqs[i]->format;
        req.payload.data = (uint8_t *) reqs[i]->body;
        req.payload.len = reqs[i]->body_len;
        s_accept (svc, self, &req, reqs[i]->body_len, reqs[i]->partner, wb, &round[i], i, round);
    }
    if (rc == 0) {
        rc = hg_service_commit (svc, wb, err);      /* durable first */
    }
    for (size_t i = 0; i < n; i++) {
        hg_fhir_http_status_t st = HG_FHIR_HTTP_BUSY;
        const char *reason = "journal write failed; retry";
        unsigned retry_s = 1;
        if (rc == 0) {
            Hourglass__PushReply *r = &round[i].reply;
            st = r->status == HOURGLASS__PUSH_REPLY__STATUS__ACCEPTED    ? HG_FHIR_HTTP_ACCEPTED
                 : r->status == HOURGLASS__PUSH_REPLY__STATUS__DUPLICATE ? HG_FHIR_HTTP_DUPLICATE
                 : r->status == HOURGLASS__PUSH_REPLY__STATUS__BUSY      ? HG_FHIR_HTTP_BUSY
                                                                         : HG_FHIR_HTTP_REJECTED;
            reason = round[i].reason;
            retry_s = (r->retry_after_ms + 999) / 1000;
        }
        hg_fhir_http_answer (self->http, reqs[i], st, round ? round[i].message_id : "", reason,
                             retry_s);
    }
    hg_store_batch_destroy (&wb);
    free (round);
    return rc;
}

static int
s_on_extra (hg_service_t *svc, void *state, const zmq_pollitem_t *items, size_t n,
            hg_err_t *err)
{
    collector_t *self = state;
    int rc = 0;
    size_t next = 1;
    if (items[0].revents & ZMQ_POLLIN) {
        rc = s_on_ingest (svc, self, err);
    }
    if (self->http) {
        if (rc == 0 && n > 1 && items[1].revents) {
            rc = s_on_http (svc, self, err);
        }
        next = 2;
    }
    if (rc == 0 && n > next) {
        rc = s_on_mllp (svc, self, items + next, n - next, err);
    }
    return rc;
}

static const hg_service_def_t s_def = {
    .name = "collector",
    .summary = "takes partner feeds and journals them durably before acknowledging",
    .base_port = 5550,
    .options = s_options,
    .consumes = false,
    .produces = true,
    .init = s_init,
    .extra_items = s_extra_items,
    .on_extra = s_on_extra,
    .reload = s_reload,
    .destroy = s_destroy,
};

int
main (int argc, char **argv)
{
    return hg_service_main (&s_def, argc, argv);
}
