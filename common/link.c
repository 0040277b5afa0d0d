/*
 * link.c -- the hand-off protocol's socket glue around outq.c.
 */
#include "link.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "dns_endpoint.h"
#include "log.h"
#include "util.h"
#include "zmsg.h"

#define HG_LINK_MAX_PEERS 64
#define HG_LINK_MAX_GROUPS 32
#define HG_LINK_MAX_ACKS 4096

/* ---- frame helpers ------------------------------------------------------ */

/* Sends a packed LinkFrame as one frame, with more to follow if more. */
static int
s_send_frame (void *sock, const Hourglass__LinkFrame *f, bool more)
{
    size_t len = hourglass__link_frame__get_packed_size (f);
    zmq_msg_t msg;
    if (zmq_msg_init_size (&msg, len) < 0) {
        return -1;
    }
    hourglass__link_frame__pack (f, zmq_msg_data (&msg));
    int rc = zmq_msg_send (&msg, sock, more ? ZMQ_SNDMORE : 0);
    if (rc < 0) {
        zmq_msg_close (&msg);
    }
    return rc < 0 ? -1 : 0;
}

static void
s_free_value (void *data, void *hint)
{
    (void) hint;
    free (data);
}

/* ---- upstream ----------------------------------------------------------- */

struct hg_link_server {
    void *sock;        /* ROUTER */
    hg_store_t *store; /* not owned */
    hg_outq_t *q;
    hg_link_opts_t opts;
    uint64_t epoch; /* random per process start */
    uint64_t next_seq;
    uint64_t heartbeat_at_ms;
    size_t next_worker;        /* round-robin start of the next dispatch */
    hg_store_batch_t *acks_wb; /* deletes of acknowledged entries */
};

static void
s_outbox_key (unsigned char key[10], uint64_t seq)
{
    key[0] = 'o';
    key[1] = '/';
    hg_be64_put (key + 2, seq);
}

bool
hg_link_is_outbox_key (const void *key, size_t klen)
{
    return klen == 10 && memcmp (key, "o/", 2) == 0;
}

int
hg_link_entry_shard (const void *entry, size_t len)
{
    int shard = -1;
    Hourglass__Envelope *env = hourglass__envelope__unpack (NULL, len, entry);
    if (env) {
        shard = env->shard;
        hourglass__envelope__free_unpacked (env, NULL);
    }
    return shard;
}

/* Reloads the outbox: everything not acknowledged is pending again. */
static int
s_server_load (hg_link_server_t *self, hg_err_t *err)
{
    hg_store_iter_t *it = hg_store_iter_new (self->store, "o/", 2, NULL, 0);
    const char *k, *v;
    size_t kl, vl, n = 0;
    while (hg_store_iter_next (it, &k, &kl, &v, &vl)) {
        if (kl != 10) {
            continue;
        }
        uint64_t seq = hg_be64_get ((const unsigned char *) k + 2);
        hg_outq_push_bytes (self->q, seq, hg_link_entry_shard (v, vl), vl);
        if (seq >= self->next_seq) {
            self->next_seq = seq + 1;
        }
        n++;
    }
    hg_store_iter_destroy (&it);
    if (n) {
        hg_info ("outbox_reloaded", "entries=%zu next_seq=%llu", n,
                 (unsigned long long) self->next_seq);
    }
    return 0;
}

hg_link_server_t *
hg_link_server_new (void *zctx, const char *endpoint, hg_store_t *store,
                    const hg_link_opts_t *opts, hg_err_t *err)
{
    hg_link_server_t *self = calloc (1, sizeof (*self));
    if (!self) {
        hg_err_set (err, HG_ENOMEM, "out of memory");
        return NULL;
    }
    self->store = store;
    self->opts = *opts;
    self->q = hg_outq_new ();
    self->acks_wb = hg_store_batch_new ();
    self->next_seq = 1;
    randombytes_buf (&self->epoch, sizeof (self->epoch));
    self->epoch |= 1;
    self->sock = hg_zsock_new (zctx, ZMQ_ROUTER, HG_ZMSG_LINK_UP_MAX);
    int one = 1, hwm = 100000;
    zmq_setsockopt (self->sock, ZMQ_ROUTER_MANDATORY, &one, sizeof (one));
    zmq_setsockopt (self->sock, ZMQ_SNDHWM, &hwm, sizeof (hwm));
    zmq_setsockopt (self->sock, ZMQ_RCVHWM, &hwm, sizeof (hwm));
    int hb_ivl = (int) opts->heartbeat_ms;
    int hb_timeout = (int) (opts->heartbeat_ms * opts->liveness);
    zmq_setsockopt (self->sock, ZMQ_HEARTBEAT_IVL, &hb_ivl, sizeof (hb_ivl));
    zmq_setsockopt (self->sock, ZMQ_HEARTBEAT_TIMEOUT, &hb_timeout, sizeof (hb_timeout));
    if (opts->curve && hg_curve_make_server (self->sock, opts->curve, "services", err) < 0) {
        hg_link_server_destroy (&self);
        return NULL;
    }
    if (zmq_bind (self->sock, endpoint) < 0) {
        hg_err_set (err, HG_EIO, "cannot bind %s: %s", endpoint, zmq_strerror (errno));
        hg_link_server_destroy (&self);
        return NULL;
    }
    s_server_load (self, err);
    return self;
}

void
hg_link_server_destroy (hg_link_server_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    hg_link_server_t *self = *self_p;
    if (self->sock) {
        int linger = 0;
        zmq_setsockopt (self->sock, ZMQ_LINGER, &linger, sizeof (linger));
        zmq_close (self->sock);
    }
    hg_outq_destroy (&self->q);
    hg_store_batch_destroy (&self->acks_wb);
    free (self);
    *self_p = NULL;
}

void *
hg_link_server_socket (hg_link_server_t *self)
{
    return self->sock;
}

uint64_t
hg_link_server_next_seq (hg_link_server_t *self, unsigned char key[10])
{
    uint64_t seq = self->next_seq++;
    s_outbox_key (key, seq);
    return seq;
}

static void
s_server_send_frame (hg_link_server_t *self, const void *rid, size_t rid_len,
                     Hourglass__LinkFrame__Kind kind, uint64_t session, bool stopped)
{
    Hourglass__LinkFrame f = HOURGLASS__LINK_FRAME__INIT;
    f.kind = kind;
    f.epoch = self->epoch;
    f.session = session;
    f.stopped = stopped;
    if (zmq_send (self->sock, rid, rid_len, ZMQ_SNDMORE) >= 0) {
        s_send_frame (self->sock, &f, false);
    }
}

static void
s_server_send_simple (hg_link_server_t *self, const void *rid, size_t rid_len,
                      Hourglass__LinkFrame__Kind kind, uint64_t session)
{
    s_server_send_frame (self, rid, rid_len, kind, session, false);
}

/* A draining worker (hourglass drain) advertises no credit; this answers its
 * HELLO/READY with HEARTBEAT(stopped) once that is applied, so it knows that
 * every DELIVER of its session came before (one connection keeps order). */
static void
s_server_confirm_stop (hg_link_server_t *self, int w, const void *rid, size_t rid_len,
                       const Hourglass__LinkFrame *f)
{
    if (f->draining && w >= 0 && hg_outq_worker_session (self->q, w) == f->session) {
        s_server_send_frame (self, rid, rid_len, HOURGLASS__LINK_FRAME__KIND__HEARTBEAT,
                             f->session, true);
    }
}

/* Sends worker w at most one DELIVER (frame_max envelopes) of what its
 * credit allows; returns how many were sent, -1 when the worker is gone. */
static int
s_dispatch_one (hg_link_server_t *self, int w)
{
    uint64_t seqs[512];
    size_t max = self->opts.frame_max ? self->opts.frame_max : 64;
    if (max > 512) {
        max = 512;
    }
    size_t max_bytes = self->opts.frame_max_bytes ? self->opts.frame_max_bytes : SIZE_MAX;
    /* take one entry at a time so the frame stops at max_bytes (at least one
     * envelope); an entry missing from the store was acked concurrently and
     * is simply skipped */
    char *vals[512];
    size_t lens[512];
    size_t m = 0, n = 0, bytes = 0;
    uint64_t sent_seqs[512];
    while (n < max && bytes < max_bytes && hg_outq_take (self->q, w, &seqs[n], 1) == 1) {
        unsigned char key[10];
        s_outbox_key (key, seqs[n]);
        n++;
        if (hg_store_get (self->store, key, sizeof (key), &vals[m], &lens[m], NULL) == 0) {
            bytes += lens[m];
            sent_seqs[m++] = seqs[n - 1];
        }
    }
    if (n == 0) {
        return 0;
    }
    size_t rid_len;
    const void *rid = hg_outq_worker_rid (self->q, w, &rid_len);
    Hourglass__LinkFrame f = HOURGLASS__LINK_FRAME__INIT;
    f.kind = HOURGLASS__LINK_FRAME__KIND__DELIVER;
    f.epoch = self->epoch;
    f.session = hg_outq_worker_session (self->q, w);
    f.n_seqs = m;
    f.seqs = sent_seqs;
    bool ok = zmq_send (self->sock, rid, rid_len, ZMQ_SNDMORE) >= 0
              && s_send_frame (self->sock, &f, m > 0) == 0;
    for (size_t i = 0; i < m; i++) {
        zmq_msg_t msg;
        if (ok) {
            zmq_msg_init_data (&msg, vals[i], lens[i], s_free_value, NULL);
            if (zmq_msg_send (&msg, self->sock, i + 1 < m ? ZMQ_SNDMORE : 0) < 0) {
                zmq_msg_close (&msg);
                ok = false;
            }
        }
        else {
            free (vals[i]);
        }
    }
    if (!ok) {
        /* unroutable: the worker is gone; its entries go back */
        hg_warn ("worker_unreachable", "worker=%d err=%s", w, zmq_strerror (errno));
        hg_outq_drop (self->q, w);
        return -1;
    }
    return (int) n;
}

/* Deals pending entries to workers round-robin, one frame per worker per
 * pass, so instances of a stage share the load instead of the first one
 * taking everything its credit allows. */
static void
s_dispatch (hg_link_server_t *self)
{
    int slots[256];
    size_t n = hg_outq_workers (self->q, slots, 256);
    bool progress = true;
    while (progress && hg_outq_pending (self->q)) {
        progress = false;
        for (size_t i = 0; i < n; i++) {
            size_t k = (self->next_worker + i) % n;
            if (s_dispatch_one (self, slots[k]) > 0) {
                progress = true;
            }
        }
        self->next_worker = n ? (self->next_worker + 1) % n : 0;
    }
}

void
hg_link_server_enqueue (hg_link_server_t *self, uint64_t seq, int shard, size_t bytes)
{
    if (hg_outq_push_bytes (self->q, seq, shard, bytes) < 0) {
        hg_error ("outbox_enqueue_failed", "seq=%llu shard=%d", (unsigned long long) seq, shard);
    }
}

static void
s_server_on_frame (hg_link_server_t *self, zmq_msg_t *rid_msg, zmq_msg_t *body, uint64_t now_ms)
{
    const void *rid = zmq_msg_data (rid_msg);
    size_t rid_len = zmq_msg_size (rid_msg);
    Hourglass__LinkFrame *f = hourglass__link_frame__unpack (NULL, zmq_msg_size (body),
                                                             zmq_msg_data (body));
    if (!f) {
        hg_warn ("link_bad_frame", "bytes=%zu", zmq_msg_size (body));
        return;
    }
    int w = hg_outq_find (self->q, rid, rid_len);
    if (f->kind == HOURGLASS__LINK_FRAME__KIND__HELLO) {
        w = hg_outq_hello (self->q, rid, rid_len, f->instance, f->shard, f->session, f->ready,
                           now_ms);
        hg_info ("worker_hello", "instance=%s shard=%d session=%llu ready=%u", f->instance,
                 f->shard, (unsigned long long) f->session, f->ready);
        if (w >= 0) {
            if (f->byte_credit) { /* absent: a peer that predates byte credit, count only */
                hg_outq_credit_bytes (self->q, w, f->session, 0, f->byte_credit->ready);
            }
            s_server_send_simple (self, rid, rid_len, HOURGLASS__LINK_FRAME__KIND__HEARTBEAT,
                                  f->session);
        }
        s_server_confirm_stop (self, w, rid, rid_len, f);
    }
    else if (f->kind == HOURGLASS__LINK_FRAME__KIND__READY) {
        uint64_t acked[HG_LINK_MAX_ACKS];
        size_t n_acks = f->n_acks > HG_LINK_MAX_ACKS ? HG_LINK_MAX_ACKS : f->n_acks;
        size_t n = hg_outq_ready (self->q, w, f->session, f->received, f->ready, f->acks, n_acks,
                                  acked, now_ms);
        if (f->byte_credit) {
            hg_outq_credit_bytes (self->q, w, f->session, f->byte_credit->received,
                                  f->byte_credit->ready);
        }
        for (size_t i = 0; i < n; i++) {
            unsigned char key[10];
            s_outbox_key (key, acked[i]);
            hg_store_batch_delete (self->acks_wb, key, sizeof (key));
        }
        if (w < 0) {
            /* we restarted, or declared it dead: ask for a new session */
            s_server_send_simple (self, rid, rid_len, HOURGLASS__LINK_FRAME__KIND__RESET,
                                  f->session);
        }
        s_server_confirm_stop (self, w, rid, rid_len, f);
    }
    hourglass__link_frame__free_unpacked (f, NULL);
}

void
hg_link_server_handle (hg_link_server_t *self, uint64_t now_ms)
{
    for (int budget = 0; budget < 10000; budget++) {
        zmq_msg_t msgs[2];
        int n = hg_zmsg_recv (self->sock, msgs, 2, ZMQ_DONTWAIT, NULL);
        if (n <= 0) {
            break;
        }
        if (n == 2) {
            s_server_on_frame (self, &msgs[0], &msgs[1], now_ms);
        }
        hg_zmsg_close (msgs, n);
    }
    if (hg_store_batch_count (self->acks_wb)) {
        /* losing these deletes in a crash only causes a redelivery that
         * downstream de-duplicates, so no sync */
        hg_err_t err;
        if (hg_store_write (self->store, self->acks_wb, false, &err) < 0) {
            hg_error ("outbox_delete_failed", "err=\"%s\"", err.msg);
        }
        hg_store_batch_clear (self->acks_wb);
    }
    s_dispatch (self);
}

void
hg_link_server_tick (hg_link_server_t *self, uint64_t now_ms)
{
    uint64_t timeout = self->opts.heartbeat_ms * self->opts.liveness;
    size_t requeued = hg_outq_expire (self->q, now_ms, timeout);
    if (requeued) {
        hg_warn ("worker_expired", "redelivering=%zu", requeued);
    }
    if (now_ms >= self->heartbeat_at_ms) {
        int slots[256];
        size_t n = hg_outq_workers (self->q, slots, 256);
        for (size_t i = 0; i < n; i++) {
            size_t rid_len;
            const void *rid = hg_outq_worker_rid (self->q, slots[i], &rid_len);
            s_server_send_simple (self, rid, rid_len, HOURGLASS__LINK_FRAME__KIND__HEARTBEAT,
                                  hg_outq_worker_session (self->q, slots[i]));
        }
        self->heartbeat_at_ms = now_ms + self->opts.heartbeat_ms;
    }
    s_dispatch (self);
}

size_t
hg_link_server_depth (hg_link_server_t *self)
{
    return hg_outq_depth (self->q);
}

hg_outq_stats_t
hg_link_server_stats (hg_link_server_t *self)
{
    return hg_outq_stats (self->q);
}

/* ---- downstream --------------------------------------------------------- */

/* One configured upstream endpoint. A plain one is one peer; a "dns+tcp://"
 * one is every address its name resolves to, re-resolved every discover_ms
 * (the replicas of a `docker-compose --scale`d service, a headless
 * Kubernetes service). */
typedef struct {
    hg_dns_endpoint_t ep;                  /* dns+tcp:// (resolved), or a plain endpoint */
    char server_key[HG_CURVE_Z85_LEN + 1]; /* with curve */
} group_t;

typedef struct {
    void *sock; /* DEALER connected to one upstream; NULL: free slot */
    int group;
    uint32_t gen;  /* bumped whenever the slot is reopened */
    bool resolved; /* in the group's last resolution (dns groups) */
    char endpoint[256];
    uint64_t session;          /* ours, bumped at each HELLO */
    uint64_t epoch;            /* upstream's, 0 until heard */
    uint64_t received;         /* envelopes received in this session */
    uint64_t received_bytes;   /* and their bytes */
    size_t in_process;         /* received, not yet acked (any session) */
    uint64_t in_process_bytes; /* and their bytes */
    uint64_t last_heard_ms;    /* liveness timer: reset by every frame and every HELLO */
    uint64_t heard_ms;         /* last frame actually received (or connection opened) */
    uint64_t last_sent_ms;
    uint32_t advertised;       /* ready value last sent */
    uint64_t advertised_bytes; /* ready_bytes value last sent */
    bool stopped;              /* draining: the upstream confirmed this session gets no more */
} peer_t;

struct hg_link_client {
    void *zctx;
    peer_t peers[HG_LINK_MAX_PEERS];
    size_t n_peers; /* slots in use or freed: peers[0..n_peers) */
    size_t n_open;
    group_t groups[HG_LINK_MAX_GROUPS];
    size_t n_groups;
    uint64_t discover_at_ms;
    char instance[64];
    int shard;
    hg_link_opts_t opts;
    bool draining; /* hourglass drain: no credit to anyone, HELLO/READY say so */
};

static uint32_t
s_ready (hg_link_client_t *self, peer_t *p, uint32_t room)
{
    if (self->draining) {
        return 0;
    }
    uint32_t window = self->opts.window ? self->opts.window : 256;
    uint32_t free_slots = p->in_process >= window ? 0 : window - (uint32_t) p->in_process;
    uint32_t share = room / (uint32_t) (self->n_open ? self->n_open : 1);
    return free_slots < share ? free_slots : share;
}

/* Byte credit for peer p: what it may still send beyond what we hold of it
 * (0 while draining; 0 too while we hold more than credit_bytes, i.e. one
 * larger envelope). Only sent when credit_bytes is set. */
static uint64_t
s_ready_bytes (hg_link_client_t *self, peer_t *p)
{
    if (self->draining || p->in_process_bytes >= self->opts.credit_bytes) {
        return 0;
    }
    return self->opts.credit_bytes - p->in_process_bytes;
}

static void
s_client_hello (hg_link_client_t *self, peer_t *p, uint32_t room, uint64_t now_ms)
{
    p->session++;
    p->received = 0;
    p->received_bytes = 0;
    p->stopped = false;
    Hourglass__LinkFrame f = HOURGLASS__LINK_FRAME__INIT;
    f.kind = HOURGLASS__LINK_FRAME__KIND__HELLO;
    f.draining = self->draining;
    f.instance = self->instance;
    f.session = p->session;
    f.shard = self->shard;
    f.ready = s_ready (self, p, room);
    Hourglass__ByteCredit bc = HOURGLASS__BYTE_CREDIT__INIT;
    bc.ready = s_ready_bytes (self, p);
    f.byte_credit = self->opts.credit_bytes ? &bc : NULL;
    s_send_frame (p->sock, &f, false);
    p->advertised = f.ready;
    p->advertised_bytes = bc.ready;
    p->last_sent_ms = now_ms;
    p->last_heard_ms = now_ms; /* give the upstream a full liveness period */
}

static void
s_client_ready (hg_link_client_t *self, peer_t *p, const uint64_t *acks, size_t n_acks,
                uint32_t room, uint64_t now_ms)
{
    Hourglass__LinkFrame f = HOURGLASS__LINK_FRAME__INIT;
    f.kind = HOURGLASS__LINK_FRAME__KIND__READY;
    f.draining = self->draining;
    f.instance = self->instance;
    f.session = p->session;
    f.received = p->received;
    f.ready = s_ready (self, p, room);
    f.n_acks = n_acks;
    f.acks = (uint64_t *) acks;
    Hourglass__ByteCredit bc = HOURGLASS__BYTE_CREDIT__INIT;
    bc.ready = s_ready_bytes (self, p);
    bc.received = p->received_bytes;
    f.byte_credit = self->opts.credit_bytes ? &bc : NULL;
    s_send_frame (p->sock, &f, false);
    p->advertised = f.ready;
    p->advertised_bytes = bc.ready;
    p->last_sent_ms = now_ms;
}

/* Opens a DEALER to endpoint in a free slot (or a new one) and says HELLO.
 * Returns the peer, or NULL with err. */
static peer_t *
s_peer_open (hg_link_client_t *self, int group, const char *endpoint, uint32_t room,
             uint64_t now_ms, hg_err_t *err)
{
    peer_t *p = NULL;
    for (size_t i = 0; i < self->n_peers && !p; i++) {
        if (!self->peers[i].sock) {
            p = &self->peers[i];
        }
    }
    if (!p) {
        if (self->n_peers == HG_LINK_MAX_PEERS) {
            hg_err_set (err, HG_EINVAL, "more than %d upstream instances (at %s)",
                        HG_LINK_MAX_PEERS, endpoint);
            return NULL;
        }
        p = &self->peers[self->n_peers++];
    }
    uint32_t gen = p->gen + 1;
    *p = (peer_t) {.group = group, .gen = gen, .resolved = true};
    snprintf (p->endpoint, sizeof (p->endpoint), "%s", endpoint);
    /* the largest envelope an upstream may send (0: HG_ZMSG_REPLY_MAX) */
    int64_t max_frame = self->opts.max_envelope_bytes ? (int64_t) self->opts.max_envelope_bytes
                                                      : HG_ZMSG_REPLY_MAX;
    void *sock = hg_zsock_new (self->zctx, ZMQ_DEALER, max_frame);
    int hwm = 100000, linger = 500, ivl = 100, ivl_max = 2000;
    zmq_setsockopt (sock, ZMQ_SNDHWM, &hwm, sizeof (hwm));
    zmq_setsockopt (sock, ZMQ_RCVHWM, &hwm, sizeof (hwm));
    zmq_setsockopt (sock, ZMQ_LINGER, &linger, sizeof (linger));
    zmq_setsockopt (sock, ZMQ_RECONNECT_IVL, &ivl, sizeof (ivl));
    zmq_setsockopt (sock, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof (ivl_max));
    /* ZMTP heartbeats: a peer that vanished without closing its TCP connection
     * (host lost, network cut) is detected and the socket reconnects, instead
     * of waiting for TCP retransmission to give up */
    int hb_ivl = (int) self->opts.heartbeat_ms;
    int hb_timeout = (int) (self->opts.heartbeat_ms * self->opts.liveness);
    zmq_setsockopt (sock, ZMQ_HEARTBEAT_IVL, &hb_ivl, sizeof (hb_ivl));
    zmq_setsockopt (sock, ZMQ_HEARTBEAT_TIMEOUT, &hb_timeout, sizeof (hb_timeout));
    if (self->opts.curve
        && hg_curve_make_client (sock, self->opts.curve, self->groups[group].server_key, err)
               < 0) {
        zmq_close (sock);
        return NULL;
    }
    if (zmq_connect (sock, endpoint) < 0) {
        hg_err_set (err, HG_EINVAL, "cannot connect to %s: %s", endpoint, zmq_strerror (errno));
        zmq_close (sock);
        return NULL;
    }
    p->sock = sock;
    p->heard_ms = now_ms;
    self->n_open++;
    s_client_hello (self, p, room, now_ms);
    return p;
}

/* Closes a peer whose upstream is gone. Its unacknowledged deliveries are
 * then never acknowledged (the generation no longer matches): the upstream,
 * if it comes back, redelivers them and we de-duplicate. */
static void
s_peer_close (hg_link_client_t *self, peer_t *p)
{
    zmq_close (p->sock);
    p->sock = NULL;
    p->in_process = 0;
    p->in_process_bytes = 0;
    self->n_open--;
}

/* Resolves every dns group and opens a peer per new address. A peer whose
 * address is no longer listed is closed once it has also gone silent: a
 * live upstream is never dropped because the resolver blinked. */
static void
s_discover (hg_link_client_t *self, uint32_t room, uint64_t now_ms)
{
    uint64_t dead_after = self->opts.heartbeat_ms * self->opts.liveness;
    for (size_t g = 0; g < self->n_groups; g++) {
        group_t *grp = &self->groups[g];
        if (!grp->ep.dns) {
            continue;
        }
        char found[HG_LINK_MAX_PEERS][HG_DNS_ENDPOINT_TCP_MAX];
        int n_found = hg_dns_endpoint_resolve (&grp->ep, found, HG_LINK_MAX_PEERS);
        if (n_found < 0) {
            continue; /* resolver trouble: keep what we have */
        }
        for (size_t i = 0; i < self->n_peers; i++) {
            if (self->peers[i].sock && self->peers[i].group == (int) g) {
                self->peers[i].resolved = false;
            }
        }
        for (int f = 0; f < n_found; f++) {
            const char *endpoint = found[f];
            peer_t *known = NULL;
            for (size_t i = 0; i < self->n_peers && !known; i++) {
                peer_t *p = &self->peers[i];
                if (p->sock && p->group == (int) g && strcmp (p->endpoint, endpoint) == 0) {
                    known = p;
                }
            }
            if (known) {
                known->resolved = true;
                continue;
            }
            hg_err_t err = {0};
            if (s_peer_open (self, (int) g, endpoint, room, now_ms, &err)) {
                hg_info ("upstream_found", "name=%s endpoint=%s", grp->ep.host, endpoint);
            }
            else {
                hg_error ("upstream_open_failed", "name=%s err=\"%s\"", grp->ep.host, err.msg);
            }
        }
        for (size_t i = 0; i < self->n_peers; i++) {
            peer_t *p = &self->peers[i];
            if (p->sock && p->group == (int) g && !p->resolved
                && now_ms > p->heard_ms + dead_after) {
                hg_info ("upstream_gone", "name=%s endpoint=%s in_process=%zu", grp->ep.host,
                         p->endpoint, p->in_process);
                s_peer_close (self, p);
            }
        }
    }
    self->discover_at_ms = now_ms + (self->opts.discover_ms ? self->opts.discover_ms : 2000);
}

hg_link_client_t *
hg_link_client_new (void *zctx, const char *endpoints, const char *instance, int shard,
                    const hg_link_opts_t *opts, hg_err_t *err)
{
    hg_link_client_t *self = calloc (1, sizeof (*self));
    if (!self) {
        hg_err_set (err, HG_ENOMEM, "out of memory");
        return NULL;
    }
    self->zctx = zctx;
    snprintf (self->instance, sizeof (self->instance), "%s", instance);
    self->shard = shard;
    self->opts = *opts;
    char *copy = strdup (endpoints);
    char *items[HG_LINK_MAX_GROUPS];
    size_t n = hg_split_list (copy, items, HG_LINK_MAX_GROUPS);
    char *keys_copy = strdup (opts->upstream_keys ? opts->upstream_keys : "");
    char *keys[HG_LINK_MAX_GROUPS];
    size_t n_keys = hg_split_list (keys_copy, keys, HG_LINK_MAX_GROUPS);
    uint64_t now = hg_now_ms ();
    int rc = 0;
    if (n == 0) {
        rc = hg_err_set (err, HG_EINVAL, "no upstream endpoint given");
    }
    else if (opts->curve && n_keys != 1 && n_keys != n) {
        rc = hg_err_set (err, HG_EINVAL,
                         "upstream_key lists %zu keys for %zu upstream endpoints "
                         "(give one for all, or one per endpoint)",
                         n_keys, n);
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        group_t *g = &self->groups[i];
        self->n_groups = i + 1;
        if (hg_dns_endpoint_parse (&g->ep, items[i], "upstream", "the upstream's instances", err)
                < 0
            || (opts->curve
                && hg_curve_load_public (keys[n_keys == 1 ? 0 : i], g->server_key, err) < 0)) {
            rc = err->code;
        }
        else if (!g->ep.dns && !s_peer_open (self, (int) i, items[i], UINT32_MAX, now, err)) {
            rc = err->code;
        }
    }
    free (copy);
    free (keys_copy);
    if (rc < 0) {
        hg_link_client_destroy (&self);
        return NULL;
    }
    s_discover (self, UINT32_MAX, now);
    return self;
}

void
hg_link_client_destroy (hg_link_client_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    hg_link_client_t *self = *self_p;
    for (size_t i = 0; i < self->n_peers; i++) {
        if (self->peers[i].sock) {
            zmq_close (self->peers[i].sock);
        }
    }
    free (self);
    *self_p = NULL;
}

size_t
hg_link_client_pollitems (hg_link_client_t *self, zmq_pollitem_t *items, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < self->n_peers && n < max; i++) {
        if (self->peers[i].sock) {
            items[n++] = (zmq_pollitem_t) {self->peers[i].sock, 0, ZMQ_POLLIN, 0};
        }
    }
    return n;
}

size_t
hg_link_client_upstreams (hg_link_client_t *self)
{
    return self->n_open;
}

/* Handles one message from peer p; appends deliveries to out. */
static size_t
s_client_on_message (hg_link_client_t *self, int pi, zmq_msg_t *msgs, int n, hg_delivery_t *out,
                     size_t room_out, uint64_t now_ms)
{
    peer_t *p = &self->peers[pi];
    Hourglass__LinkFrame *f = hourglass__link_frame__unpack (NULL, zmq_msg_size (&msgs[0]),
                                                             zmq_msg_data (&msgs[0]));
    if (!f) {
        hg_warn ("link_bad_frame", "upstream=%s bytes=%zu", p->endpoint, zmq_msg_size (&msgs[0]));
        return 0;
    }
    p->last_heard_ms = now_ms;
    p->heard_ms = now_ms;
    size_t got = 0;
    if (p->epoch && f->epoch != p->epoch && f->kind != HOURGLASS__LINK_FRAME__KIND__RESET) {
        /* the upstream restarted: it no longer knows our session */
        hg_info ("upstream_restarted", "upstream=%s", p->endpoint);
        p->epoch = f->epoch;
        s_client_hello (self, p, UINT32_MAX, now_ms);
    }
    p->epoch = f->epoch;
    switch (f->kind) {
    case HOURGLASS__LINK_FRAME__KIND__RESET:
        if (f->session == p->session) {
            hg_info ("link_reset", "upstream=%s", p->endpoint);
            s_client_hello (self, p, UINT32_MAX, now_ms);
        }
        break;
    case HOURGLASS__LINK_FRAME__KIND__DELIVER: {
        size_t count = f->n_seqs < (size_t) (n - 1) ? f->n_seqs : (size_t) (n - 1);
        uint64_t bytes = 0;
        for (size_t i = 0; i < count; i++) {
            bytes += zmq_msg_size (&msgs[i + 1]);
        }
        if (f->session == p->session) {
            p->received += count;
            p->received_bytes += bytes;
        }
        p->in_process += count;
        p->in_process_bytes += bytes;
        for (size_t i = 0; i < count; i++) {
            zmq_msg_t *m = &msgs[i + 1];
            Hourglass__Envelope *env = hourglass__envelope__unpack (NULL, zmq_msg_size (m),
                                                                    zmq_msg_data (m));
            if (!env) {
                hg_error ("envelope_undecodable", "upstream=%s seq=%llu bytes=%zu", p->endpoint,
                          (unsigned long long) f->seqs[i], zmq_msg_size (m));
            }
            if (got < room_out) {
                out[got++] = (hg_delivery_t) {pi, p->gen, f->seqs[i], env, zmq_msg_size (m)};
            }
        }
        break;
    }
    case HOURGLASS__LINK_FRAME__KIND__HEARTBEAT:
        if (f->stopped && self->draining && f->session == p->session) {
            p->stopped = true;
        }
        break;
    default:
        break;
    }
    hourglass__link_frame__free_unpacked (f, NULL);
    return got;
}

size_t
hg_link_client_recv (hg_link_client_t *self, hg_delivery_t *out, size_t max, size_t max_bytes,
                     uint64_t now_ms)
{
    size_t got = 0, bytes = 0;
    enum { MAX_FRAMES = 520 };
    static zmq_msg_t msgs[MAX_FRAMES];
    for (size_t i = 0; i < self->n_peers; i++) {
        /* a DELIVER carries at most frame_max envelopes; stop before one
         * could overflow out, or once the round holds max_bytes */
        while (self->peers[i].sock
               && got + (self->opts.frame_max ? self->opts.frame_max : 64) <= max
               && (!max_bytes || bytes < max_bytes)) {
            int n = hg_zmsg_recv (self->peers[i].sock, msgs, MAX_FRAMES, ZMQ_DONTWAIT, NULL);
            if (n <= 0) {
                break;
            }
            size_t k = s_client_on_message (self, (int) i, msgs, n, out + got, max - got, now_ms);
            for (size_t j = got; j < got + k; j++) {
                bytes += out[j].wire_bytes;
            }
            got += k;
            hg_zmsg_close (msgs, n);
        }
    }
    return got;
}

void
hg_link_client_ack (hg_link_client_t *self, hg_delivery_t *d, size_t n, uint32_t room,
                    uint64_t now_ms)
{
    uint64_t *acks = malloc ((n ? n : 1) * sizeof (*acks));
    for (size_t pi = 0; pi < self->n_peers; pi++) {
        peer_t *p = &self->peers[pi];
        size_t k = 0;
        uint64_t bytes = 0;
        for (size_t i = 0; i < n; i++) {
            /* a delivery from a peer since closed (and its slot perhaps
             * reopened to another upstream) is not acknowledged */
            if (d[i].peer == (int) pi && d[i].peer_gen == p->gen && p->sock) {
                acks[k++] = d[i].seq;
                bytes += d[i].wire_bytes;
            }
        }
        if (k) {
            p->in_process = p->in_process >= k ? p->in_process - k : 0;
            p->in_process_bytes = p->in_process_bytes >= bytes ? p->in_process_bytes - bytes : 0;
            for (size_t off = 0; off < k; off += HG_LINK_MAX_ACKS) {
                size_t chunk = k - off < HG_LINK_MAX_ACKS ? k - off : HG_LINK_MAX_ACKS;
                s_client_ready (self, p, acks + off, chunk, room, now_ms);
            }
        }
    }
    free (acks);
    for (size_t i = 0; i < n; i++) {
        if (d[i].env) {
            hourglass__envelope__free_unpacked (d[i].env, NULL);
            d[i].env = NULL;
        }
    }
}

void
hg_link_client_tick (hg_link_client_t *self, uint32_t room, uint64_t now_ms)
{
    if (now_ms >= self->discover_at_ms) {
        s_discover (self, room, now_ms);
    }
    uint64_t dead_after = self->opts.heartbeat_ms * self->opts.liveness;
    for (size_t i = 0; i < self->n_peers; i++) {
        peer_t *p = &self->peers[i];
        if (!p->sock) {
            continue;
        }
        if (now_ms > p->last_heard_ms + dead_after) {
            hg_warn ("upstream_silent", "upstream=%s ms=%llu", p->endpoint,
                     (unsigned long long) (now_ms - p->last_heard_ms));
            s_client_hello (self, p, room, now_ms);
            continue;
        }
        uint32_t ready = s_ready (self, p, room);
        bool grown = ready > p->advertised
                     && (p->advertised == 0 || ready - p->advertised >= self->opts.window / 4);
        uint64_t ready_bytes = s_ready_bytes (self, p);
        grown = grown
                || (ready_bytes > p->advertised_bytes
                    && (p->advertised_bytes == 0
                        || ready_bytes - p->advertised_bytes >= self->opts.credit_bytes / 4));
        if (grown || now_ms >= p->last_sent_ms + self->opts.heartbeat_ms) {
            s_client_ready (self, p, NULL, 0, room, now_ms);
        }
    }
}

size_t
hg_link_client_in_process (hg_link_client_t *self)
{
    size_t n = 0;
    for (size_t i = 0; i < self->n_peers; i++) {
        if (self->peers[i].sock) {
            n += self->peers[i].in_process;
        }
    }
    return n;
}

/* ---- drain (hourglass drain) --------------------------------------------- */

void
hg_link_client_drain (hg_link_client_t *self, bool on, uint32_t room, uint64_t now_ms)
{
    self->draining = on;
    for (size_t i = 0; i < self->n_peers; i++) {
        peer_t *p = &self->peers[i];
        if (p->sock) {
            p->stopped = false;
            s_client_ready (self, p, NULL, 0, room, now_ms);
        }
    }
}

size_t
hg_link_client_stopped (hg_link_client_t *self, uint64_t now_ms)
{
    uint64_t dead_after = self->opts.heartbeat_ms * self->opts.liveness;
    size_t n = 0;
    for (size_t i = 0; self->draining && i < self->n_peers; i++) {
        peer_t *p = &self->peers[i];
        /* a silent upstream sends nothing either; when it comes back it
         * hears HELLO(draining) and confirms again */
        if (p->sock && (p->stopped || now_ms > p->heard_ms + dead_after)) {
            n++;
        }
    }
    return n;
}
