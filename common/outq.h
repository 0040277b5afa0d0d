/*
 * outq.h -- upstream side of the hand-off protocol as a pure state machine.
 *
 * Tracks every outbox entry (by its persistent sequence number) as pending
 * or in flight to one downstream worker, each worker's credit, liveness
 * and shard. No sockets, no store: link.c drives it; tests drive it
 * directly. See docs/protocol.md.
 *
 * Credit is absolute, like a TCP window: a worker reports how many
 * envelopes it has received in its current session and how many more it
 * can hold (ready); what it may still be sent is
 *     ready - (sent_in_session - received)
 * so lost or reordered READY frames never leak or inflate credit.
 *
 * Byte credit works the same way in bytes, when the worker grants it
 * (hg_outq_credit_bytes; a worker that never does, an older peer, is limited
 * by the count alone): it may still be sent
 *     ready_bytes - (sent_bytes_in_session - received_bytes)
 * bytes of entries, and always one entry, of any size, when it holds none of
 * ours, so an entry larger than the whole budget still flows, one at a time.
 * Entries go out in order: one that does not fit waits at the front.
 */
#ifndef HG_OUTQ_H
#define HG_OUTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HG_OUTQ_MAX_SHARDS 64
#define HG_OUTQ_ID_MAX 256

typedef struct hg_outq hg_outq_t;

typedef struct {
    uint64_t delivered;   /* envelopes handed to workers */
    uint64_t acked;       /* entries acknowledged (removed) */
    uint64_t redelivered; /* entries requeued after a worker vanished */
    uint64_t workers;     /* live workers */
} hg_outq_stats_t;

hg_outq_t *hg_outq_new (void);
void hg_outq_destroy (hg_outq_t **self_p);

/* Adds a pending entry routed to shard (-1: any worker). Returns 0, or -1
 * when shard is out of range or seq is already known. */
int hg_outq_push (hg_outq_t *self, uint64_t seq, int shard);

/* The same, for an entry of bytes bytes (what byte credit counts). */
int hg_outq_push_bytes (hg_outq_t *self, uint64_t seq, int shard, uint64_t bytes);

/* A worker (identified by its socket routing id) starts a session. Any
 * entries in flight to it, or to another worker with the same instance name
 * (a restarted process), are requeued at the front. Returns the worker
 * slot (>= 0) or -1 when the table is full or shard is out of range. */
int hg_outq_hello (hg_outq_t *self, const void *rid, size_t rid_len, const char *instance,
                   int shard, uint64_t session, uint32_t ready, uint64_t now_ms);

/* Finds a live worker by routing id; -1 when unknown. */
int hg_outq_find (hg_outq_t *self, const void *rid, size_t rid_len);

/* Applies a READY from worker w: acks (removed wherever they are: in flight
 * or still pending after an upstream restart), received, ready. Acked
 * sequence numbers that were known are written to acked_out (capacity at
 * least n_acks) so the caller deletes them from the store; returns how many.
 * A READY for another session is ignored except for its acks. */
size_t hg_outq_ready (hg_outq_t *self, int w, uint64_t session, uint64_t received, uint32_t ready,
                      const uint64_t *acks, size_t n_acks, uint64_t *acked_out, uint64_t now_ms);

/* Applies the byte credit of a HELLO (received_bytes 0) or READY of worker
 * w's current session (another session's is ignored): from then on, until
 * its next HELLO, w is sent entries only as its byte credit allows. */
void hg_outq_credit_bytes (hg_outq_t *self, int w, uint64_t session, uint64_t received_bytes,
                           uint64_t ready_bytes);

/* The byte-credit rule alone: whether an entry of bytes may go to a worker
 * that reported ready_bytes and received_bytes, was sent sent_bytes this
 * session and has inflight entries of ours unacknowledged. */
bool hg_outq_bytes_fit (uint64_t ready_bytes, uint64_t sent_bytes, uint64_t received_bytes,
                        size_t inflight, uint64_t bytes);

/* Takes up to max entries that worker w may be sent now (credit, shard),
 * marks them in flight, writes them to seqs; returns the count. */
size_t hg_outq_take (hg_outq_t *self, int w, uint64_t *seqs, size_t max);

/* Marks workers silent for longer than timeout_ms dead and requeues their
 * entries; returns the number requeued. */
size_t hg_outq_expire (hg_outq_t *self, uint64_t now_ms, uint64_t timeout_ms);

/* Declares worker w dead now (its socket is gone) and requeues its
 * entries; returns the number requeued. */
size_t hg_outq_drop (hg_outq_t *self, int w);

/* Worker slots currently live, for heartbeats: fills up to max slots. */
size_t hg_outq_workers (hg_outq_t *self, int *slots, size_t max);
const void *hg_outq_worker_rid (hg_outq_t *self, int w, size_t *rid_len);
uint64_t hg_outq_worker_session (hg_outq_t *self, int w);

/* Entries not yet acknowledged (pending + in flight). */
size_t hg_outq_depth (const hg_outq_t *self);
size_t hg_outq_pending (const hg_outq_t *self);
hg_outq_stats_t hg_outq_stats (const hg_outq_t *self);

#endif
