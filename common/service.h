/*
 * service.h -- the runtime every Hourglass service runs in.
 *
 * A service is a descriptor (name, option table, callbacks); main() is one
 * call to hg_service_main. The runtime owns what every stage shares:
 * configuration, logging, the RocksDB store, the upstream link (credit,
 * de-duplication by message id, group commit, acknowledgement after the
 * commit), the downstream link (outbox, redelivery), the control socket
 * (HEALTH, STATS, and the service's own requests), persisted counters and
 * graceful shutdown on SIGTERM/SIGINT.
 *
 * One group commit = one synced RocksDB write batch holding, for every
 * delivery of the round: the service's results, its de-dup marker
 * ("s/<message id>", or "s/<marker_id>" for a service that keys its store
 * by its own ids), its outbox entries and the counters. Only then are the
 * deliveries acknowledged upstream and the outbox entries offered
 * downstream.
 */
#ifndef HG_SERVICE_H
#define HG_SERVICE_H

#include <stdbool.h>
#include <stdint.h>

#include "arena.h"
#include "config.h"
#include "curve.h"
#include "err.h"
#include "link.h"
#include "store.h"

typedef struct hg_service hg_service_t;

typedef struct {
    const char *name;        /* "cleanser": binary hourglass-<name> */
    const char *summary;     /* one line for --help */
    const hg_opt_t *options; /* the service's own options (NULL-name end) */
    bool consumes;           /* connects to an upstream (option "upstream") */
    bool produces;           /* binds a downstream link (option "deliver") */
    /* Default endpoints of a single-node cluster on 127.0.0.1: this
     * service's deliver port is base_port + 1 and its control port
     * base_port + 2; upstream_base_port is the base port of the service it
     * consumes from (its "upstream" default is that service's deliver). */
    int base_port;
    int upstream_base_port;
    /* The option of `options` (HG_OPT_INT) naming the shard this instance
     * consumes: the upstream sends it only that shard's envelopes. NULL:
     * every envelope. */
    const char *shard_option;

    /* Once, after config, store and links are ready. */
    int (*init) (hg_service_t *svc, void **state, hg_err_t *err);
    /* The id standing for an upstream envelope in this service's store:
     * its de-dup marker is "s/<id>". Writes it NUL-terminated into out
     * (size bytes) and returns 0, or <0 with err (fatal: the round is not
     * committed). It must depend on the envelope's partner and id only, so
     * that the same message always gets the same marker (de-dup stays
     * exact). The de-identifier gives the keyed pseudonym of the upstream
     * id: no partner-chosen id is written past it. NULL: the envelope's id
     * as it came (the stages before the de-identifier, and after it, whose
     * ids are already pseudonyms). */
    int (*marker_id) (hg_service_t *svc, void *state, const Hourglass__Envelope *env, char *out,
                      size_t size, hg_err_t *err);
    /* Processes n new deliveries (duplicates already removed) into wb and
     * emits output with hg_service_emit. <0 is fatal: the process exits
     * without acknowledging; the deliveries will come again. */
    int (*process) (hg_service_t *svc, void *state, hg_delivery_t *d, size_t n,
                    hg_store_batch_t *wb, hg_err_t *err);
    /* Service-specific control requests; NULL if none. Strings of the reply
     * may come from arena. Return 0 and fill reply, or <0 with err. */
    int (*control) (hg_service_t *svc, void *state, const Hourglass__ControlRequest *req,
                    Hourglass__ControlReply *reply, hg_arena_t *arena, hg_err_t *err);
    /* Extra items to poll -- ZeroMQ sockets or raw file descriptors (the
     * collector's ingest socket, MLLP listener and connections) -- written to
     * items (at most max; returns the count), and their handler, called with
     * the polled items (revents filled) whenever one is ready. */
    size_t (*extra_items) (hg_service_t *svc, void *state, zmq_pollitem_t *items, size_t max);
    int (*on_extra) (hg_service_t *svc, void *state, const zmq_pollitem_t *items, size_t n,
                     hg_err_t *err);
    /* SIGHUP, after the runtime re-read its allow-lists (whether or not that
     * worked): the service re-reads what it owns (the collector's HTTP
     * tokens). NULL if nothing. */
    void (*reload) (hg_service_t *svc, void *state);
    /* Adoption of a gone replica's store (option slots): called for each of
     * its keys other than outbox and counters. Merge what the service
     * aggregates into wb and return 1; return 0 to have the key copied as
     * it is; <0 with err to give up (retried later). NULL: copy all. */
    int (*adopt) (hg_service_t *svc, void *state, const char *key, size_t klen, const char *val,
                  size_t vlen, hg_store_batch_t *wb, hg_err_t *err);
    void (*destroy) (void **state);
    /* After a commit failed for lack of disk space and the store was opened
     * again (refuse.c): bring the state back to what the store holds. NULL:
     * the runtime calls destroy, then init (which loads it from the store);
     * a service whose state keeps nothing of a round (the collector, whose
     * init binds the partners' sockets) gives a function doing nothing. */
    int (*rollback) (hg_service_t *svc, void *state, hg_err_t *err);
} hg_service_def_t;

/* Runs the service until SIGTERM/SIGINT; returns the process exit status. */
int hg_service_main (const hg_service_def_t *def, int argc, char **argv);

hg_config_t *hg_service_config (hg_service_t *svc);
hg_store_t *hg_service_store (hg_service_t *svc);
void *hg_service_zctx (hg_service_t *svc);
const char *hg_service_instance (hg_service_t *svc);

/* A persisted counter by name (created at 0 on first use; its address is
 * stable, so it may be kept). Values are written with every commit, so they
 * survive crashes exactly. At most HG_COUNTERS_MAX (32) names and
 * HG_COUNTER_NAME_MAX bytes each: one more is a programmer error and the
 * process aborts saying so (counters.h). */
uint64_t *hg_service_counter (hg_service_t *svc, const char *name);

/* Whether the service refuses work because its store's disk is full (it
 * resumes by itself once space is freed; docs/operations.md, "Disk full"),
 * and why. */
bool hg_service_refusing (hg_service_t *svc, const char **why);

/* Adds n to a per-partner count of the metrics exposition (name: received,
 * received_bytes, busy, rejected, quarantined; see partner_counts.h). In
 * memory only: the persisted totals are the counters above. */
void hg_service_partner_count (hg_service_t *svc, const char *name, const char *partner,
                               uint64_t n);

/* Appends a stamp for this stage (after those of `from`, may be NULL), packs
 * env into an outbox entry in wb. It becomes deliverable after the commit. */
int hg_service_emit (hg_service_t *svc, hg_store_batch_t *wb, Hourglass__Envelope *env,
                     const Hourglass__Envelope *from, hg_err_t *err);

/* Emits n records as one PAYLOAD_RECORDS envelope (a packed RecordBatch)
 * with id and shard (-1: any), the partner and format of `from` and its
 * stamps before ours: hg_service_emit of what the stages between the
 * cleanser and the indexer send. */
int hg_service_emit_records (hg_service_t *svc, hg_store_batch_t *wb,
                             const Hourglass__Envelope *from, const char *id, int shard,
                             Hourglass__Record **records, size_t n, hg_err_t *err);

/* Commits wb (synced) with the counters, then offers emitted entries
 * downstream. For services that commit outside process (the collector). */
int hg_service_commit (hg_service_t *svc, hg_store_batch_t *wb, hg_err_t *err);

/* How many more envelopes the outbox takes before backpressure. */
size_t hg_service_outbox_room (hg_service_t *svc);

/* This instance's CurveZMQ key pair, NULL when links are plaintext; and the
 * ZAP handler, to which a service adds its own domains (the collector's
 * "partners"). SIGHUP re-reads every allow-list. */
const hg_curve_keypair_t *hg_service_curve (hg_service_t *svc);
hg_curve_auth_t *hg_service_auth (hg_service_t *svc);

/* During a service's control request under CurveZMQ: the caller's key as
 * control_allow names it ("<role>:<name>"); NULL without CurveZMQ (no
 * caller to tell apart) or outside a request. */
const char *hg_service_caller (hg_service_t *svc);

/* The endpoint list of an option, e.g. for the analytics' indexers. */
const char *hg_service_option (hg_service_t *svc, const char *name);

#endif
