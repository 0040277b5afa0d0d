/*
 * service_internal.h -- what the files of the service runtime share
 * (service.c: lifecycle and event loop; service_control.c: the control
 * socket and the metrics exposition; consume.c: de-duplication and the
 * group commit of a round; adopt.c: adoption of gone replicas' slots).
 * Not for services: they see service.h only.
 */
#ifndef HG_SERVICE_INTERNAL_H
#define HG_SERVICE_INTERNAL_H

#include <limits.h>

#include "counters.h"
#include "metrics.h"
#include "partner_counts.h"
#include "service.h"

#define HG_MAX_OPTS 96

struct hg_service {
    const hg_service_def_t *def;
    void *state; /* the service's own, from def->init */
    hg_config_t *config;
    hg_opt_t opts[HG_MAX_OPTS]; /* runtime options + link options */
    char defaults[4][128];      /* storage for computed defaults */
    char instance[64];
    void *zctx;
    void *control; /* ROUTER for HEALTH/STATS/queries */
    hg_store_t *store;
    hg_link_server_t *server;            /* when def->produces */
    hg_link_client_t *client;            /* when def->consumes */
    hg_counters_t *counters;             /* persisted with every commit */
    hg_partner_counts_t *partner_counts; /* in memory, for the metrics */
    struct emitted {
        uint64_t seq;
        int shard;
        size_t bytes; /* the packed envelope's length (byte credit) */
    } * emitted;      /* outbox entries of this commit */
    size_t n_emitted, cap_emitted;
    uint64_t redelivered_seen; /* server stat already folded into counter */
    hg_metrics_t *metrics;     /* HTTP exposition, when configured */
    hg_curve_keypair_t curve;  /* this instance's key pair, when curve_key is set */
    bool secure;
    const char *caller;     /* during a control request under CurveZMQ: its key's User-Id */
    hg_curve_auth_t *auth;  /* ZAP handler of the server sockets */
    uint64_t metrics_at_ms; /* next snapshot */
    hg_link_opts_t link_opts;
    size_t batch_max;
    size_t batch_max_bytes;
    size_t outbox_max;
    uint64_t started_us;
    uint64_t committed_us; /* wall clock of the last commit */
    hg_store_opts_t store_opts;
    int slots; /* 0: no slots; else this instance's is slot */
    int slot;
    int slot_fd;             /* holds the slot's flock */
    char slot_dir[PATH_MAX]; /* the volume holding every slot */
    char slot_prefix[48];
    uint64_t adopt_ms, adopt_at_ms;
    uint32_t unadopted; /* slots with a store nobody holds that the last pass could not adopt */
    uint8_t adopt_failed[128]; /* bit k: slot k failed the last periodic pass (slots <= 1000) */
    /* refusing work because the store's disk is full (refuse.c) */
    bool refusing;
    char refusing_why[512];
    uint64_t refusing_since_ms, recover_at_ms, min_free_bytes;
    /* drained (drain.c): takes no new work until resumed or restarted */
    bool draining;
    uint64_t drain_since_unix_ms, drain_outbox_at_start, drain_acked_at_start;
};

/* service.c: remembers an outbox entry of the commit under way, offered
 * downstream once the commit is durable. */
int hg_service_emitted_push (hg_service_t *self, uint64_t seq, int shard, size_t bytes,
                             hg_err_t *err);
/* service.c: folds the link's redelivery count into its persisted counter. */
void hg_service_counters_fold (hg_service_t *self);

/* service_control.c: answers the control requests waiting (at most 100). */
void hg_service_control_handle (hg_service_t *self);
/* service_control.c: publishes counters and gauges to the HTTP exposition. */
void hg_service_metrics_publish (hg_service_t *self);

/* consume.c: drops duplicates and undecodable deliveries of a round,
 * processes the rest and commits; on success d holds the kept deliveries
 * first, then the dropped ones (all to be acknowledged). */
int hg_service_consume (hg_service_t *self, hg_delivery_t *d, size_t n, hg_store_batch_t *wb,
                        hg_err_t *err);

/* refuse.c: a commit found the disk full. Undoes what the failed commit
 * left in memory (its outbox entries, the counters' additions) and puts the
 * service into the refusing state: a consumer drops its link upstream (which
 * keeps every unacknowledged message in its outbox and hands it out again
 * later), the collector answers BUSY. err is the commit's error. */
void hg_service_refuse (hg_service_t *self, const hg_err_t *err);
/* refuse.c: while refusing, once free space is back (min_free_bytes), opens
 * the store again, rebuilds the service's state from it (def->rollback, or
 * destroy + init) and reconnects upstream. <0 with err when the store
 * cannot be opened for another reason than space (fatal). */
int hg_service_recover_tick (hg_service_t *self, uint64_t now_ms, hg_err_t *err);
/* service.c: connects the consumer's link upstream (self->client). */
int hg_service_connect_upstream (hg_service_t *self, hg_err_t *err);
/* service.c: whether SIGTERM or SIGINT asked the service to stop. */
bool hg_service_terminated (void);
/* refuse.c: drops deliveries without acknowledging them. */
void hg_service_drop_deliveries (hg_delivery_t *d, size_t n);

/* drain.c: answers a DRAIN control request (start, continue, resume) in
 * reply->drain; -1 with err (reply->error) where a drain means nothing
 * (the collector, indexer shards, analytics: the reason says why). */
int hg_service_drain (hg_service_t *self, const Hourglass__ControlRequest *req,
                      Hourglass__ControlReply *reply, hg_arena_t *arena, hg_err_t *err);

/* adopt.c: adopts every slot whose lock is free and whose store exists.
 * before_round: the pass before a consumed round, which skips the slots the
 * last periodic pass failed to adopt (retried every adopt_ms, not each round). */
void hg_service_adopt_orphans (hg_service_t *self, bool before_round);

#endif
