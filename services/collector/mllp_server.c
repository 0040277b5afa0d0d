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

typedef struct {
    int fd;   /* -1: free slot */
    char *in; /* received bytes not yet framed */
    size_t in_len, in_cap;
    size_t consumed; /* framed this round: dropped once answered */
    bool closing;    /* closed, failed or overflowed: close once answered */
    char peer[48];
} s_conn_t;

struct hg_mllp_server {
    int fd; /* listening socket */
    size_t max_payload_bytes;
    s_conn_t conns[HG_MLLP_SERVER_MAX_CONNS];
    hg_mllp_message_t *msgs; /* this round's, msgs_cap allocated */
    size_t n_msgs, msgs_cap;
    uint64_t ack_seq; /* MSH-10 of our ACKs */
};

hg_mllp_server_t *
hg_mllp_server_new (const char *listen_on, size_t max_payload_bytes, hg_err_t *err)
{
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
    self->max_payload_bytes = max_payload_bytes;
    for (int i = 0; i < HG_MLLP_SERVER_MAX_CONNS; i++) {
        self->conns[i].fd = -1;
    }
    return self;
}

static void
s_conn_close (s_conn_t *c)
{
    if (c->fd >= 0) {
        close (c->fd);
    }
    free (c->in);
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
        if (self->conns[i].fd >= 0) {
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

static void
s_accept_conns (hg_mllp_server_t *self)
{
    for (;;) {
        struct sockaddr_in peer;
        socklen_t plen = sizeof (peer);
        int fd = accept4 (self->fd, (struct sockaddr *) &peer, &plen,
                          SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            return;
        }
        int slot = -1;
        for (int i = 0; i < HG_MLLP_SERVER_MAX_CONNS && slot < 0; i++) {
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
s_read (const hg_mllp_server_t *self, s_conn_t *c)
{
    size_t cap_max = self->max_payload_bytes + 65536;
    for (;;) {
        if (c->in_len == c->in_cap) {
            if (c->in_cap >= cap_max) {
                return true; /* framing decides whether it overflowed */
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
s_send (s_conn_t *c, const char *buf, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t w = write (c->fd, buf + off, len - off);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            /* the sender resends unacknowledged messages; MSH-10 makes that idempotent */
            return;
        }
        off += (size_t) w;
    }
}

/* Appends one framed message to the round; false when out of memory. */
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
    m->msg = msg;
    m->msg_len = msg_len;
    m->status = HOURGLASS__PUSH_REPLY__STATUS__ACCEPTED;
    if (!hg_hl7_control_id (msg, msg_len, m->batch_id, sizeof (m->batch_id))) {
        /* journalled anyway (the cleanser quarantines it with its reason),
         * under a content hash, and answered AR */
        unsigned char h[8];
        crypto_generichash (h, sizeof (h), (const unsigned char *) msg, msg_len, NULL, 0);
        char hex[17];
        sodium_bin2hex (hex, sizeof (hex), h, sizeof (h));
        snprintf (m->batch_id, sizeof (m->batch_id), "mllp-%s", hex);
        m->no_control_id = true;
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
    for (;;) {
        const char *msg;
        size_t msg_len, consumed, skipped;
        bool overflow;
        hg_mllp_status_t st = hg_mllp_next (c->in + off, c->in_len - off, self->max_payload_bytes,
                                            &msg, &msg_len, &consumed, &skipped, &overflow);
        if (skipped) {
            hg_warn ("mllp_junk", "peer=%s bytes=%zu", c->peer, skipped);
        }
        off += consumed;
        if (overflow) {
            char ack[512];
            size_t al = hg_hl7_ack (c->in + off, c->in_len - off, "AR",
                                    "message exceeds max_payload_bytes; split it", "ACK0",
                                    "19700101000000", ack, sizeof (ack));
            s_send (c, ack, al);
            hg_warn ("mllp_overflow", "peer=%s", c->peer);
            open = false;
            break;
        }
        if (st != HG_MLLP_FRAME || !s_add_message (self, ci, msg, msg_len)) {
            break;
        }
    }
    c->consumed = off;
    if (!open) {
        c->in_len = off; /* what was framed is answered, then the connection closed */
        c->closing = true;
        hg_info ("mllp_closed", "peer=%s", c->peer);
    }
}

size_t
hg_mllp_server_receive (hg_mllp_server_t *self, const zmq_pollitem_t *items, size_t n,
                        hg_mllp_message_t **msgs)
{
    if (s_ready (items, n, self->fd)) {
        s_accept_conns (self);
    }
    self->n_msgs = 0;
    for (int ci = 0; ci < HG_MLLP_SERVER_MAX_CONNS; ci++) {
        s_conn_t *c = &self->conns[ci];
        if (s_ready (items, n, c->fd)) {
            s_frame (self, ci, s_read (self, c));
        }
    }
    *msgs = self->msgs;
    return self->n_msgs;
}

/* The MSA-1 code and ERR text for a verdict. */
static const char *
s_ack_code (const hg_mllp_message_t *m, bool journal_failed, const char **text)
{
    if (journal_failed) {
        *text = "journal write failed; resend later";
        return "AE";
    }
    switch (m->status) {
    case HOURGLASS__PUSH_REPLY__STATUS__ACCEPTED:
    case HOURGLASS__PUSH_REPLY__STATUS__DUPLICATE:
        if (m->no_control_id) {
            *text = "no MSH segment or no MSH-10 message control id; the message is kept in "
                    "quarantine";
            return "AR";
        }
        *text = "";
        return "AA";
    case HOURGLASS__PUSH_REPLY__STATUS__BUSY:
        *text = "pipeline saturated; resend later";
        return "AE";
    default:
        *text = m->reason ? m->reason : "";
        return "AR";
    }
}

void
hg_mllp_server_answer (hg_mllp_server_t *self, bool journal_failed, uint64_t *acked,
                       uint64_t *nacked)
{
    char now[16];
    time_t t = time (NULL);
    struct tm tm;
    gmtime_r (&t, &tm);
    strftime (now, sizeof (now), "%Y%m%d%H%M%S", &tm);
    for (size_t i = 0; i < self->n_msgs; i++) {
        const hg_mllp_message_t *m = &self->msgs[i];
        const char *text;
        const char *code = s_ack_code (m, journal_failed, &text);
        char ack[2048], ack_id[32];
        snprintf (ack_id, sizeof (ack_id), "HG%llu", (unsigned long long) ++self->ack_seq);
        size_t al = hg_hl7_ack (m->msg, m->msg_len, code, text, ack_id, now, ack, sizeof (ack));
        s_send (&self->conns[m->conn], ack, al);
        (*(strcmp (code, "AA") == 0 ? acked : nacked))++;
    }
    self->n_msgs = 0;
    for (int ci = 0; ci < HG_MLLP_SERVER_MAX_CONNS; ci++) {
        s_conn_t *c = &self->conns[ci];
        if (c->fd < 0) {
            continue;
        }
        if (c->closing) {
            s_conn_close (c);
        }
        else if (c->consumed > 0) {
            memmove (c->in, c->in + c->consumed, c->in_len - c->consumed);
            c->in_len -= c->consumed;
        }
        c->consumed = 0;
    }
}
