/*
 * link.h -- the hand-off protocol between stages, over ZeroMQ.
 *
 * Upstream (hg_link_server_t) binds a ROUTER and owns an outbox in its
 * RocksDB ("o/<seq>"): every entry stays there until a downstream instance
 * acknowledges it. Downstream instances (hg_link_client_t) connect a DEALER
 * to each upstream instance, say HELLO, and ask for work with credit.
 * A downstream acknowledges only after committing its results together with
 * the message id in one RocksDB write batch. Silent downstreams are declared
 * dead after `liveness` heartbeats and their entries redelivered; a
 * restarted upstream reloads its outbox and redelivers everything not yet
 * acknowledged. Result: at-least-once delivery; stages de-duplicate by
 * message id and the indexer by content key, so the effect is exactly once.
 * docs/protocol.md has the diagram and the frame-by-frame description.
 */
#ifndef HG_LINK_H
#define HG_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <zmq.h>

#include "curve.h"
#include "err.h"
#include "hourglass.pb-c.h"
#include "outq.h"
#include "store.h"

typedef struct {
    uint64_t heartbeat_ms;           /* heartbeat interval both ways */
    uint32_t liveness;               /* missed heartbeats before a peer is dead */
    uint32_t frame_max;              /* envelopes per DELIVER frame */
    size_t frame_max_bytes;          /* payload bytes per DELIVER frame (at least one envelope) */
    uint32_t window;                 /* client: envelopes held per upstream */
    uint64_t credit_bytes;           /* client: envelope bytes held per upstream (byte
                                      * credit; one larger envelope still flows, alone);
                                      * 0: envelope credit only */
    size_t max_envelope_bytes;       /* client: ZMQ_MAXMSGSIZE of its DEALERs (zmsg.h) */
    const hg_curve_keypair_t *curve; /* this instance's key pair; NULL: plaintext */
    const char *upstream_keys;       /* client: comma-separated Z85 public keys (or .pub
                                * files) of the upstream instances, one for all or
                                * one per endpoint, in order */
    uint64_t discover_ms;            /* client: re-resolution period of dns+tcp:// endpoints */
} hg_link_opts_t;

/* ---- upstream --------------------------------------------------------- */

typedef struct hg_link_server hg_link_server_t;

/* Binds endpoint (a CURVE server of domain "services" when opts->curve)
 * and loads every outbox entry of store as pending.
 * shard_of (may be NULL) is not needed: the shard is read from each
 * envelope. NULL with err on failure. */
hg_link_server_t *hg_link_server_new (void *zctx, const char *endpoint, hg_store_t *store,
                                      const hg_link_opts_t *opts, hg_err_t *err);
void hg_link_server_destroy (hg_link_server_t **self_p);

void *hg_link_server_socket (hg_link_server_t *self);

/* Allocates the next outbox sequence number and writes the outbox key for
 * it ("o/" + 8 bytes big-endian) into key (10 bytes). */
uint64_t hg_link_server_next_seq (hg_link_server_t *self, unsigned char key[10]);

/* Whether a store key is an outbox entry's (what next_seq writes), e.g.
 * for adopting another instance's outbox. */
bool hg_link_is_outbox_key (const void *key, size_t klen);

/* The indexer shard an outbox entry (a packed envelope) is for; -1 (any)
 * when it does not decode. */
int hg_link_entry_shard (const void *entry, size_t len);

/* Makes a committed outbox entry (of bytes bytes: the packed envelope) deliverable.
 * Call only after the write batch holding it is durable. */
void hg_link_server_enqueue (hg_link_server_t *self, uint64_t seq, int shard, size_t bytes);

/* Drains the socket (HELLO/READY), deletes acknowledged entries, dispatches. */
void hg_link_server_handle (hg_link_server_t *self, uint64_t now_ms);

/* Heartbeats, expiry of silent workers (redelivery), dispatch. */
void hg_link_server_tick (hg_link_server_t *self, uint64_t now_ms);

size_t hg_link_server_depth (hg_link_server_t *self);
hg_outq_stats_t hg_link_server_stats (hg_link_server_t *self);

/* ---- downstream ------------------------------------------------------- */

typedef struct hg_link_client hg_link_client_t;

typedef struct {
    int peer;                 /* which upstream it came from */
    uint32_t peer_gen;        /* and which connection of that slot */
    uint64_t seq;             /* upstream outbox sequence, for the ack */
    Hourglass__Envelope *env; /* unpacked; owned (hg_delivery_release) */
    size_t wire_bytes;
} hg_delivery_t;

/* Connects to every endpoint of the comma-separated list. shard: the
 * indexer shard this instance serves, -1 for any.
 * "tcp://host:port" is one upstream instance. "dns+tcp://name:port" is every
 * instance the name resolves to (IPv4), re-resolved every discover_ms: the
 * replicas of a `docker-compose --scale`d service or of a headless Kubernetes
 * service. A new address gets a connection at once; one no longer listed is
 * dropped once it is also silent for liveness heartbeats. */
hg_link_client_t *hg_link_client_new (void *zctx, const char *endpoints, const char *instance,
                                      int shard, const hg_link_opts_t *opts, hg_err_t *err);
void hg_link_client_destroy (hg_link_client_t **self_p);

/* Fills poll items (ZMQ_POLLIN) for the client's sockets; returns count. */
size_t hg_link_client_pollitems (hg_link_client_t *self, zmq_pollitem_t *items, size_t max);

/* Receives without blocking, up to max deliveries and, once past max_bytes
 * of envelopes, no further frame (so one round's work stays bounded and the
 * loop gets back to its heartbeats); handles heartbeats and resets. Undecodable envelopes are logged, acknowledged and dropped
 * (they cannot be retried into validity). */
size_t hg_link_client_recv (hg_link_client_t *self, hg_delivery_t *out, size_t max,
                            size_t max_bytes, uint64_t now_ms);

/* Acknowledges committed deliveries (one READY per upstream) and frees
 * their envelopes. room: how many more the caller can take (its own
 * outbox headroom); it bounds the credit advertised. */
void hg_link_client_ack (hg_link_client_t *self, hg_delivery_t *d, size_t n, uint32_t room,
                         uint64_t now_ms);

/* Heartbeats; re-HELLO on a silent or restarted upstream; advertises new
 * credit when room has grown. */
void hg_link_client_tick (hg_link_client_t *self, uint32_t room, uint64_t now_ms);

/* Upstream instances currently connected (resolved addresses included). */
size_t hg_link_client_upstreams (hg_link_client_t *self);

/* Deliveries received and not yet acknowledged. */
size_t hg_link_client_in_process (hg_link_client_t *self);

/* Drain (hourglass drain): on, the client advertises no credit to any
 * upstream (now and in every later HELLO/READY, which carry `draining`), so
 * upstreams hand its share to the other replicas; off, it takes work again.
 * Sends a READY to every upstream at once; room as for tick. */
void hg_link_client_drain (hg_link_client_t *self, bool on, uint32_t room, uint64_t now_ms);

/* While draining: upstreams connected that have confirmed they send nothing
 * more to this session (HEARTBEAT stopped: every DELIVER before it has been
 * received) or have been silent for liveness heartbeats. Equal to
 * hg_link_client_upstreams once no more work can arrive. */
size_t hg_link_client_stopped (hg_link_client_t *self, uint64_t now_ms);

#endif
