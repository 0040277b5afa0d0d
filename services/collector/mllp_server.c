/*
 * mllp_server.c -- the collector's MLLP endpoint: listener, connections,
 * reading, framing and ACKs. See mllp_server.h.
 */
#define _GNU_SOURCE /* accept4 */
#include "mllp_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "log.h"
#include "mllp.h"

#define HG_MLLP_CONTROL_ID_MAX 199 /* bytes of MSH-10 taken into a batch id */
#define HG_MLLP_MSH_KEPT 4096      /* bytes of MSH kept to answer a waiting message */
#define HG_MLLP_EVICT_IDLE_MS 1000 /* silent this long: evicted for a newcomer when full */

/* An ACK owed to a connection, in the order of its messages: ready (ack
 * set) or waiting for the verdict on message_id. */
typedef struct {
    char *ack; /* framed ACK once decided */
    size_t ack_len;
    char *msh; /* waiting: the message's MSH segment, to build the ACK from */
    size_t msh_len;
    char *message_id;
    uint64_t deadline_ms;
} s_owed_t;

typedef struct {
    int fd;   /* -1: free slot */
    char *in; /* received bytes not yet framed */
    size_t in_len, in_cap;
    size_t consumed;            /* framed this round: dropped once answered */
    bool closing;               /* closed, failed or overflowed: close once answered */
    bool overflowed;            /* a message over max_payload_bytes: AR, then closed */
    bool starved;               /* its buffer could not grow within max_inflight_bytes */
    uint32_t addr;              /* the peer's IPv4 address, for the per-address limit */
    uint64_t last_ms;           /* when a byte last arrived */
    hg_mllp_tls_session_t *tls; /* MLLP over TLS */
    bool tls_ready;             /* its handshake is done */
    char partner[HG_MLLP_TLS_PARTNER_MAX + 1]; /* its client certificate's name, or "" */
    s_owed_t *owed;                            /* ACKs not sent yet, oldest first */
    size_t n_owed, owed_cap;
    char peer[48];
} s_conn_t;

struct hg_mllp_server {
    int fd; /* listening socket */
    hg_mllp_server_opts_t opts;
    s_conn_t conns[HG_MLLP_SERVER_MAX_CONNS];
    hg_mllp_message_t *msgs; /* this round's, msgs_cap allocated */
    size_t n_msgs, msgs_cap;
    uint64_t ack_seq;       /* MSH-10 of our ACKs */
    uint64_t acked, nacked; /* since hg_mllp_server_take_counts */
    uint64_t now_ms;        /* of the call in progress */
};

hg_mllp_server_t *
hg_mllp_server_new (const hg_mllp_server_opts_t *opts, hg_err_t *err)
{
    const char *listen_on = opts->listen;
    struct sockaddr_in addr = {.sin_family = AF_INET};
    const char *colon = strrchr (listen_on, ':');
    char host[64];
    snprintf (host, sizeof (host), "%.*s", colon ? (int) (colon - listen_on) : 0, listen_on);
    long port = colon ? strtol (colon + 1, NULL, 10) : 0;
    if (!colon || port <= 0 || port > 65535 || inet_pton (AF_INET, host, &addr.sin_addr) != 1) {
        hg_err_set (err, HG_EINVAL, "mllp '%s' is not IPv4:PORT", listen_on);
        return NULL;
    }
    addr.sin_port = htons ((uint16_t) port);
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof (one));
    if (fd < 0 || bind (fd, (struct sockaddr *) &addr, sizeof (addr)) < 0
        || listen (fd, 64) < 0) {
        int e = errno;
        if (fd >= 0) {
            close (fd);
        }
        hg_err_set (err, HG_EIO, "cannot listen for MLLP on %s: %s", listen_on, strerror (e));
        return NULL;
    }
    hg_mllp_server_t *self = calloc (1, sizeof (*self));
    if (!self) {
        close (fd);
        hg_err_set (err, HG_ENOMEM, "out of memory");
        return NULL;
    }
    self->fd = fd;
    self->opts = *opts;
    self->opts.listen = NULL; /* borrowed: not kept */
    if (self->opts.max_conns == 0 || self->opts.max_conns > HG_MLLP_SERVER_MAX_CONNS) {
        self->opts.max_conns = HG_MLLP_SERVER_MAX_CONNS;
    }
    if (self->opts.max_conns_per_addr == 0) {
        self->opts.max_conns_per_addr = self->opts.max_conns;
    }
    if (self->opts.max_inflight_bytes == 0) {
        self->opts.max_inflight_bytes = 4 * (self->opts.max_payload_bytes + 65536);
    }
    for (int i = 0; i < HG_MLLP_SERVER_MAX_CONNS; i++) {
        self->conns[i].fd = -1;
    }
    return self;
}

static void
s_owed_free (s_owed_t *o)
{
    free (o->ack);
    free (o->msh);
    free (o->message_id);
    memset (o, 0, sizeof (*o));
}

static void
s_conn_close (s_conn_t *c)
{
    hg_mllp_tls_close (&c->tls);
    if (c->fd >= 0) {
        close (c->fd);
    }
    free (c->in);
    for (size_t i = 0; i < c->n_owed; i++) {
        s_owed_free (&c->owed[i]);
    }
    free (c->owed);
    memset (c, 0, sizeof (*c));
    c->fd = -1;
}

void
hg_mllp_server_destroy (hg_mllp_server_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    hg_mllp_server_t *self = *self_p;
    for (int i = 0; i < HG_MLLP_SERVER_MAX_CONNS; i++) {
        s_conn_close (&self->conns[i]);
    }
    close (self->fd);
    free (self->msgs);
    free (self);
    *self_p = NULL;
}

size_t
hg_mllp_server_items (const hg_mllp_server_t *self, zmq_pollitem_t *items, size_t max)
{
    size_t n = 0;
    if (n < max) {
        items[n++] = (zmq_pollitem_t) {NULL, self->fd, ZMQ_POLLIN, 0};
    }
    for (int i = 0; i < HG_MLLP_SERVER_MAX_CONNS && n < max; i++) {
        if (self->conns[i].fd >= 0 && !self->conns[i].closing) {
            /* a closing one only waits for its verdicts: its EOF would wake every poll */
            items[n++] = (zmq_pollitem_t) {NULL, self->conns[i].fd, ZMQ_POLLIN, 0};
        }
    }
    return n;
}

static bool
s_ready (const zmq_pollitem_t *items, size_t n, int fd)
{
    bool ready = false;
    for (size_t i = 0; fd >= 0 && i < n; i++) {
        ready |= items[i].socket == NULL && items[i].fd == fd && items[i].revents;
    }
    return ready;
}

/* The connection silent the longest (at least HG_MLLP_EVICT_IDLE_MS, with
 * no ACK owed), or -1. */
static int
s_longest_idle (const hg_mllp_server_t *self, uint64_t now_ms)
{
    int best = -1;
    for (int i = 0; i < HG_MLLP_SERVER_MAX_CONNS; i++) {
        const s_conn_t *c = &self->conns[i];
        if (c->fd >= 0 && c->n_owed == 0 && !c->closing
            && now_ms >= c->last_ms + HG_MLLP_EVICT_IDLE_MS
            && (best < 0 || c->last_ms < self->conns[best].last_ms)) {
            best = i;
        }
    }
    return best;
}

/* The slot for a new connection from addr; -1 over a limit (*why says
 * which). At the total limit the connection silent the longest gives its
 * slot up (idle clients cannot shut a sender out until their deadline). */
static int
s_slot_for (hg_mllp_server_t *self, uint32_t addr, uint64_t now_ms, const char **why)
{
    size_t open = 0, same = 0;
    int slot = -1;
    for (int i = 0; i < HG_MLLP_SERVER_MAX_CONNS; i++) {
        if (self->conns[i].fd >= 0) {
            open++;
            same += self->conns[i].addr == addr;
        }
        else if (slot < 0) {
            slot = i;
        }
    }
    if (same >= self->opts.max_conns_per_addr) {
        *why = "mllp_max_conns_per_addr";
        return -1;
    }
    if (open >= self->opts.max_conns) {
        int idle = s_longest_idle (self, now_ms);
        if (idle < 0) {
            *why = "mllp_max_conns";
            return -1;
        }
        hg_info ("mllp_idle_evicted", "peer=%s idle_ms=%llu", self->conns[idle].peer,
                 (unsigned long long) (now_ms - self->conns[idle].last_ms));
        s_conn_close (&self->conns[idle]);
        slot = idle;
    }
    return slot;
}

static void
s_accept_conns (hg_mllp_server_t *self, uint64_t now_ms)
{
    for (;;) {
        struct sockaddr_in peer;
        socklen_t plen = sizeof (peer);
        int fd = accept4 (self->fd, (struct sockaddr *) &peer, &plen,
                          SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            return;
        }
        char addr[48];
        snprintf (addr, sizeof (addr), "%s:%d", inet_ntoa (peer.sin_addr), ntohs (peer.sin_port));
        const char *why = NULL;
        int slot = s_slot_for (self, peer.sin_addr.s_addr, now_ms, &why);
        if (slot < 0) {
            /* closed at once: the sender sees the connection end and retries later */
            hg_warn ("mllp_refused", "peer=%s reason=\"too many connections\" limit=%s", addr,
                     why);
            close (fd);
            continue;
        }
        s_conn_t *c = &self->conns[slot];
        if (self->opts.tls && !(c->tls = hg_mllp_tls_accept (self->opts.tls, fd))) {
            close (fd);
            continue;
        }
        c->fd = fd;
        c->addr = peer.sin_addr.s_addr;
        c->last_ms = now_ms;
        snprintf (c->peer, sizeof (c->peer), "%s", addr);
        hg_info ("mllp_connected", "peer=%s", addr);
    }
}

/* Advances a TLS connection's handshake; false when it failed. */
static bool
s_tls_handshake (s_conn_t *c)
{
    hg_err_t err = {0};
    int rc = hg_mllp_tls_handshake (c->tls, c->partner, &err);
    if (rc < 0) {
        hg_warn ("mllp_tls_refused", "peer=%s err=\"%s\"", c->peer, err.msg);
        return false;
    }
    if (rc == 1) {
        c->tls_ready = true;
        hg_info ("mllp_tls_ready", "peer=%s partner_fingerprint=%s", c->peer,
                 *c->partner ? HG_LOG_FP (c->partner) : "-");
    }
    return true;
}

/* Bytes of receive buffers all connections hold. */
static size_t
s_buffered (const hg_mllp_server_t *self)
{
    size_t n = 0;
    for (int i = 0; i < HG_MLLP_SERVER_MAX_CONNS; i++) {
        n += self->conns[i].fd >= 0 ? self->conns[i].in_cap : 0;
    }
    return n;
}

/* Reads what a connection has; false when it closed or failed. A buffer
 * grows only within max_inflight_bytes (else c->starved: s_frame closes a
 * connection whose frame cannot complete). */
static bool
s_read (const hg_mllp_server_t *self, s_conn_t *c)
{
    if (c->tls && !c->tls_ready) {
        if (!s_tls_handshake (c)) {
            return false; /* refused: closed */
        }
        if (!c->tls_ready) {
            return true; /* wants more bytes; bounded by the idle deadline */
        }
    }
    size_t cap_max = self->opts.max_payload_bytes + 65536;
    for (;;) {
        if (c->in_len == c->in_cap) {
            if (c->in_cap >= cap_max) {
                return true; /* framing decides whether it overflowed */
            }
            size_t cap = c->in_cap ? c->in_cap * 2 : 65536;
            cap = cap > cap_max ? cap_max : cap;
            size_t held = s_buffered (self);
            if (held - c->in_cap + cap > self->opts.max_inflight_bytes) {
                c->starved = true;
                return true;
            }
            char *nb = realloc (c->in, cap);
            if (!nb) {
                return false;
            }
            c->in = nb;
            c->in_cap = cap;
        }
        ssize_t got = c->tls ? hg_mllp_tls_recv (c->tls, c->in + c->in_len, c->in_cap - c->in_len)
                             : read (c->fd, c->in + c->in_len, c->in_cap - c->in_len);
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
s_send (s_conn_t *c, const char *buf, size_t len)
{
    size_t off = 0;
    unsigned spins = 0;
    while (off < len) {
        ssize_t w = c->tls ? hg_mllp_tls_send (c->tls, buf + off, len - off)
                           : send (c->fd, buf + off, len - off, MSG_NOSIGNAL);
        if (w < 0 && (errno == EINTR || (c->tls && errno == EAGAIN && ++spins < 10000))) {
            continue; /* a TLS record is sent whole or not at all */
        }
        if (w <= 0) {
            /* the sender resends unacknowledged messages; MSH-10 makes that idempotent */
            return;
        }
        off += (size_t) w;
    }
}

/* Appends one framed message to the round; false when out of memory. The
 * idempotency key is partner + MSH-10 + content: senders reuse MSH-10 (per
 * batch, day or order), so only the same bytes under the same control id
 * are a re-send; the hash makes a different message a different batch. */
static bool
s_add_message (hg_mllp_server_t *self, int conn, const char *msg, size_t msg_len)
{
    if (self->n_msgs == self->msgs_cap) {
        size_t cap = self->msgs_cap ? self->msgs_cap * 2 : 256;
        hg_mllp_message_t *nm = realloc (self->msgs, cap * sizeof (*nm));
        if (!nm) {
            return false;
        }
        self->msgs = nm;
        self->msgs_cap = cap;
    }
    hg_mllp_message_t *m = &self->msgs[self->n_msgs++];
    memset (m, 0, sizeof (*m));
    m->conn = conn;
    /* the idle deadline runs from the last complete frame: bytes trickled into one
     * that never ends do not hold a connection */
    self->conns[conn].last_ms = self->now_ms;
    m->partner = *self->conns[conn].partner ? self->conns[conn].partner : NULL;
    m->msg = msg;
    m->msg_len = msg_len;
    m->status = HOURGLASS__PUSH_REPLY__STATUS__ACCEPTED;
    unsigned char h[8];
    crypto_generichash (h, sizeof (h), (const unsigned char *) msg, msg_len, NULL, 0);
    char hex[17];
    sodium_bin2hex (hex, sizeof (hex), h, sizeof (h));
    m->not_hl7 = msg_len < 8 || memcmp (msg, "MSH", 3) != 0;
    m->enhanced = !m->not_hl7 && hg_hl7_enhanced_mode (msg, msg_len, &m->accept_ack);
    char ctl[HG_MLLP_CONTROL_ID_MAX + 1];
    if (!hg_hl7_control_id (msg, msg_len, ctl, sizeof (ctl))) {
        /* journalled anyway (the cleanser quarantines it with its reason),
         * under a content hash, and answered AR */
        snprintf (m->batch_id, sizeof (m->batch_id), "mllp-%s", hex);
        m->no_control_id = true;
    }
    else {
        snprintf (m->batch_id, sizeof (m->batch_id), "%s#%s", ctl, hex);
    }
    return true;
}

/* Frames what connection ci holds into the round; marks it closing when it
 * overflowed (answered AR at once) or when open is false. */
static void
s_frame (hg_mllp_server_t *self, int ci, bool open)
{
    s_conn_t *c = &self->conns[ci];
    size_t off = 0;
    while (off < c->in_len) { /* (a starved connection may have no buffer at all) */
        const char *msg;
        size_t msg_len, consumed, skipped;
        bool overflow;
        hg_mllp_status_t st = hg_mllp_next (c->in + off, c->in_len - off,
                                            self->opts.max_payload_bytes, &msg, &msg_len,
                                            &consumed, &skipped, &overflow);
        if (skipped) {
            hg_warn ("mllp_junk", "peer=%s bytes=%zu", c->peer, skipped);
        }
        off += consumed;
        if (overflow) {
            c->overflowed = true; /* answered AR after the round's messages */
            hg_warn ("mllp_overflow", "peer=%s", c->peer);
            open = false;
            break;
        }
        if (st != HG_MLLP_FRAME || !s_add_message (self, ci, msg, msg_len)) {
            break;
        }
    }
    if (c->starved && off == 0 && open) {
        /* a frame that does not fit what other connections leave: closed
         * unanswered, nothing of it stored; the sender resends it */
        hg_warn ("mllp_over_budget", "peer=%s buffered=%zu budget=%zu", c->peer, c->in_len,
                 self->opts.max_inflight_bytes);
        off = 0;
        open = false;
    }
    c->starved = false;
    c->consumed = off;
    if (!open) {
        c->in_len = off; /* what was framed is answered, then the connection closed */
        c->closing = true;
        hg_info ("mllp_closed", "peer=%s", c->peer);
    }
}

size_t
hg_mllp_server_receive (hg_mllp_server_t *self, const zmq_pollitem_t *items, size_t n,
                        uint64_t now_ms, hg_mllp_message_t **msgs)
{
    self->now_ms = now_ms;
    if (s_ready (items, n, self->fd)) {
        s_accept_conns (self, now_ms);
    }
    self->n_msgs = 0;
    for (int ci = 0; ci < HG_MLLP_SERVER_MAX_CONNS; ci++) {
        s_conn_t *c = &self->conns[ci];
        if (s_ready (items, n, c->fd) && !c->closing) {
            s_frame (self, ci, s_read (self, c));
        }
    }
    *msgs = self->msgs;
    return self->n_msgs;
}

/* ---- the ACKs owed, in order ---------------------------------------------- */

static s_owed_t *
s_owe (s_conn_t *c)
{
    if (c->n_owed == c->owed_cap) {
        size_t cap = c->owed_cap ? c->owed_cap * 2 : 8;
        s_owed_t *no = realloc (c->owed, cap * sizeof (*no));
        if (!no) {
            return NULL; /* the ACK is not sent: the sender resends, idempotently */
        }
        c->owed = no;
        c->owed_cap = cap;
    }
    s_owed_t *o = &c->owed[c->n_owed++];
    memset (o, 0, sizeof (*o));
    return o;
}

/* Builds the framed ACK of o (for the message msg, or its kept MSH). */
static void
s_decide (hg_mllp_server_t *self, s_owed_t *o, const char *msg, size_t msg_len, const char *code,
          const hg_hl7_error_t *err)
{
    char now[16], ack_id[32];
    time_t t = time (NULL);
    struct tm tm;
    gmtime_r (&t, &tm);
    strftime (now, sizeof (now), "%Y%m%d%H%M%S", &tm);
    snprintf (ack_id, sizeof (ack_id), "HG%llu", (unsigned long long) ++self->ack_seq);
    char buf[2048];
    size_t al = hg_hl7_ack_err (msg, msg_len, code, err, ack_id, now, buf, sizeof (buf));
    o->ack = malloc (al ? al : 1);
    if (o->ack) {
        memcpy (o->ack, buf, al);
        o->ack_len = al;
    }
    bool ok = strcmp (code, "AA") == 0 || strcmp (code, "CA") == 0;
    (*(ok ? &self->acked : &self->nacked))++;
}

/* Sends the decided ACKs at the head of c's queue. */
static void
s_flush (s_conn_t *c)
{
    size_t k = 0;
    while (k < c->n_owed && c->owed[k].msh == NULL) {
        s_send (c, c->owed[k].ack, c->owed[k].ack_len);
        s_owed_free (&c->owed[k]);
        k++;
    }
    if (k) { /* (an empty queue may have no array: memmove wants pointers) */
        memmove (c->owed, c->owed + k, (c->n_owed - k) * sizeof (*c->owed));
        c->n_owed -= k;
    }
}

/* Holds m until its verdict: its MSH segment, its message id, a deadline. */
static void
s_hold (hg_mllp_server_t *self, s_owed_t *o, const hg_mllp_message_t *m, uint64_t now_ms)
{
    const char *cr = memchr (m->msg, '\r', m->msg_len);
    size_t mlen = cr ? (size_t) (cr - m->msg) + 1 : m->msg_len;
    mlen = mlen > HG_MLLP_MSH_KEPT ? HG_MLLP_MSH_KEPT : mlen;
    o->msh = malloc (mlen);
    o->message_id = strdup (m->message_id);
    if (!o->msh || !o->message_id) {
        free (o->msh);
        o->msh = NULL;
        hg_hl7_error_t e = {.code = HG_HL7_ERR_INTERNAL, .text = "out of memory; resend later"};
        s_decide (self, o, m->msg, m->msg_len, "AE", &e);
        return;
    }
    memcpy (o->msh, m->msg, mlen);
    o->msh_len = mlen;
    o->deadline_ms = now_ms + self->opts.verdict_timeout_ms;
}

/* The MSA-1 code and ERR of a verdict. NULL: the message waits for the
 * cleanser's verdict. */
static const char *
s_ack_code (const hg_mllp_server_t *self, const hg_mllp_message_t *m, bool journal_failed,
            hg_hl7_error_t *e)
{
    bool enh = m->enhanced;
    hg_hl7_error_classify ("", NULL, e);
    if (journal_failed) {
        *e = (hg_hl7_error_t) {.code = HG_HL7_ERR_INTERNAL,
                               .text = "journal write failed; resend later"};
        return enh ? "CE" : "AE";
    }
    switch (m->status) {
    case HOURGLASS__PUSH_REPLY__STATUS__ACCEPTED:
    case HOURGLASS__PUSH_REPLY__STATUS__DUPLICATE:
        if (m->no_control_id) {
            *e = (hg_hl7_error_t) {.segment = "MSH",
                                   .sequence = 1,
                                   .field = 10,
                                   .code = HG_HL7_ERR_REQUIRED_FIELD,
                                   .text = "MSH-10 message control id is missing; the message "
                                           "is kept in quarantine"};
            /* stored (for the cleanser to quarantine): AE, not AR; the commit ack of
             * enhanced mode only says it is committed */
            return enh ? "CA" : "AE";
        }
        if (enh) {
            return "CA";
        }
        return self->opts.verdict_timeout_ms && m->message_id ? NULL : "AA";
    case HOURGLASS__PUSH_REPLY__STATUS__BUSY:
        *e = (hg_hl7_error_t) {.code = HG_HL7_ERR_INTERNAL,
                               .text = m->reason && *m->reason
                                           ? m->reason
                                           : "pipeline saturated; resend later"};
        return enh ? "CE" : "AE";
    default:
        hg_hl7_error_classify (m->reason, NULL, e);
        return enh ? "CR" : "AR";
    }
}

/* Whether enhanced mode's MSH-15 wants a commit ack coded code. */
static bool
s_wanted (const hg_mllp_message_t *m, const char *code)
{
    bool ok = strcmp (code, "CA") == 0;
    return !m->enhanced || m->accept_ack == HG_HL7_ACK_ALWAYS
           || (m->accept_ack == HG_HL7_ACK_ERROR && !ok)
           || (m->accept_ack == HG_HL7_ACK_SUCCESS && ok);
}

void
hg_mllp_server_answer (hg_mllp_server_t *self, bool journal_failed, uint64_t now_ms)
{
    self->now_ms = now_ms;
    for (size_t i = 0; i < self->n_msgs; i++) {
        const hg_mllp_message_t *m = &self->msgs[i];
        s_conn_t *c = &self->conns[m->conn];
        hg_hl7_error_t e;
        const char *code = s_ack_code (self, m, journal_failed, &e);
        if (code && !s_wanted (m, code)) {
            continue; /* MSH-15 NE, or ER/SU and not that outcome */
        }
        s_owed_t *o = s_owe (c);
        if (o && code) {
            s_decide (self, o, m->msg, m->msg_len, code, &e);
        }
        else if (o) {
            s_hold (self, o, m, now_ms);
        }
    }
    self->n_msgs = 0;
    for (int ci = 0; ci < HG_MLLP_SERVER_MAX_CONNS; ci++) {
        s_conn_t *c = &self->conns[ci];
        if (c->fd < 0) {
            continue;
        }
        s_owed_t *o = c->overflowed ? s_owe (c) : NULL;
        if (o) {
            hg_hl7_error_t e = {.code = HG_HL7_ERR_VALUE_TOO_LONG,
                                .text = "message exceeds max_payload_bytes; split it"};
            s_decide (self, o, c->in + c->consumed, c->in_len - c->consumed, "AR", &e);
        }
        c->overflowed = false;
        if (!c->closing && c->consumed > 0) {
            memmove (c->in, c->in + c->consumed, c->in_len - c->consumed);
            c->in_len -= c->consumed;
            if (c->in_cap > 65536 && c->in_len <= 65536) {
                /* a large message's room goes back to the budget */
                char *nb = realloc (c->in, 65536);
                if (nb) {
                    c->in = nb;
                    c->in_cap = 65536;
                }
            }
        }
        c->consumed = 0;
        s_flush (c);
        if (c->closing && c->n_owed == 0) {
            s_conn_close (c);
        }
    }
}

size_t
hg_mllp_server_waiting (const hg_mllp_server_t *self, const char **ids, size_t max)
{
    size_t n = 0;
    for (int ci = 0; ci < HG_MLLP_SERVER_MAX_CONNS; ci++) {
        const s_conn_t *c = &self->conns[ci];
        for (size_t i = 0; c->fd >= 0 && i < c->n_owed && n < max; i++) {
            const char *id = c->owed[i].msh ? c->owed[i].message_id : NULL;
            bool seen = id == NULL;
            for (size_t k = 0; !seen && k < n; k++) {
                seen = strcmp (ids[k], id) == 0;
            }
            if (!seen) {
                ids[n++] = id;
            }
        }
    }
    return n;
}

/* Answers c's waiting entries that match: all with message_id (NULL: those
 * past now_ms), then sends what is decided and closes a finished conn. */
static void
s_resolve (hg_mllp_server_t *self, s_conn_t *c, const char *message_id, const hg_hl7_error_t *err,
           uint64_t now_ms)
{
    for (size_t i = 0; i < c->n_owed; i++) {
        s_owed_t *o = &c->owed[i];
        bool due = o->msh
                   && (message_id ? strcmp (o->message_id, message_id) == 0
                                  : now_ms >= o->deadline_ms);
        if (!due) {
            continue;
        }
        hg_hl7_error_t pending =
            {.code = HG_HL7_ERR_INTERNAL,
             .text = "journalled, but the validation verdict was not ready within "
                     "mllp_verdict_timeout_ms; resend it to learn the verdict (a resend is not "
                     "stored twice)"};
        const hg_hl7_error_t *e = message_id ? err : &pending;
        s_decide (self, o, o->msh, o->msh_len, e ? "AE" : "AA", e);
        free (o->msh);
        o->msh = NULL;
    }
    s_flush (c);
    if (c->closing && c->n_owed == 0) {
        s_conn_close (c);
    }
}

void
hg_mllp_server_verdict (hg_mllp_server_t *self, const char *message_id, const hg_hl7_error_t *err)
{
    for (int ci = 0; ci < HG_MLLP_SERVER_MAX_CONNS; ci++) {
        if (self->conns[ci].fd >= 0 && self->conns[ci].n_owed > 0) {
            s_resolve (self, &self->conns[ci], message_id, err, 0);
        }
    }
}

void
hg_mllp_server_tick (hg_mllp_server_t *self, uint64_t now_ms)
{
    for (int ci = 0; ci < HG_MLLP_SERVER_MAX_CONNS; ci++) {
        s_conn_t *c = &self->conns[ci];
        if (c->fd < 0) {
            continue;
        }
        if (c->n_owed > 0) {
            s_resolve (self, c, NULL, NULL, now_ms);
        }
        else if (self->opts.idle_ms && now_ms >= c->last_ms + self->opts.idle_ms) {
            hg_info ("mllp_idle_closed", "peer=%s idle_ms=%llu", c->peer,
                     (unsigned long long) (now_ms - c->last_ms));
            s_conn_close (c);
        }
    }
}

size_t
hg_mllp_server_conns (const hg_mllp_server_t *self)
{
    size_t n = 0;
    for (int ci = 0; ci < HG_MLLP_SERVER_MAX_CONNS; ci++) {
        n += self->conns[ci].fd >= 0;
    }
    return n;
}

void
hg_mllp_server_take_counts (hg_mllp_server_t *self, uint64_t *acked, uint64_t *nacked)
{
    *acked = self->acked;
    *nacked = self->nacked;
    self->acked = self->nacked = 0;
}
