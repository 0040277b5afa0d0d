/*
 * hourglass-indexer -- stores de-identified records of one shard, indexed by
 * pseudonymous patient, by code + date and by date; answers count queries.
 *
 * Shard k of N receives only envelopes the de-identifier routed to shard k
 * (hash of the pseudonymous patient id), so a patient's records all live on
 * one shard and distinct-patient counts add up across shards.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export_shard.h"
#include "index.h"
#include "log.h"
#include "query_shard.h"
#include "record.h"
#include "metrics.h"
#include "service.h"
#include "util.h"

/* Upper bounds (ms) of the push-to-indexed latency histogram buckets, counted
 * as persisted counters "latency_le_<ms>" (the last is +inf). Latency is
 * measured from the collector's stamp to this commit, per envelope. */
static const unsigned s_latency_le_ms[] = HG_LATENCY_BOUNDS_MS;
#define HG_LATENCY_BUCKETS (sizeof (s_latency_le_ms) / sizeof (s_latency_le_ms[0]))

static void
s_observe_latency (hg_service_t *svc, const Hourglass__Envelope *env, uint64_t now_us)
{
    if (env->n_stamps == 0 || env->stamps[0]->at_us > now_us) {
        return;
    }
    uint64_t us = now_us - env->stamps[0]->at_us;
    uint64_t ms = us / 1000u;
    *hg_service_counter (svc, "latency_sum_us") += us;
    char name[32];
    size_t b = 0;
    while (b < HG_LATENCY_BUCKETS && ms > s_latency_le_ms[b]) {
        b++;
    }
    if (b < HG_LATENCY_BUCKETS) {
        snprintf (name, sizeof (name), "latency_le_%u", s_latency_le_ms[b]);
    }
    else {
        snprintf (name, sizeof (name), "latency_le_inf");
    }
    (*hg_service_counter (svc, name))++;
}

static const hg_opt_t s_options[] = {
    {"shard", HG_OPT_INT, "0", "shard this instance serves (0..shards-1)"},
    {"shards", HG_OPT_INT, "1", "number of indexer shards"},
    {NULL, 0, NULL, NULL},
};

typedef struct {
    int shard, shards;
    hg_index_t *index;
    hg_arena_t *arena; /* the round's unpacked batches */
} indexer_t;

static int
s_init (hg_service_t *svc, void **state, hg_err_t *err)
{
    indexer_t *self = calloc (1, sizeof (*self));
    if (!self) {
        return hg_err_set (err, HG_ENOMEM, "out of memory");
    }
    *state = self;
    self->shard = (int) hg_config_int (hg_service_config (svc), "shard");
    self->shards = (int) hg_config_int (hg_service_config (svc), "shards");
    if (self->shards < 1 || self->shard < 0 || self->shard >= self->shards) {
        return hg_err_set (err, HG_EINVAL, "shard %d is not in 0..shards-1 (shards %d)",
                           self->shard, self->shards);
    }
    self->arena = hg_arena_new (0);
    if (!self->arena) {
        return hg_err_set (err, HG_ENOMEM, "out of memory");
    }
    uint64_t converted = 0;
    uint64_t t0 = hg_now_ms ();
    self->index = hg_index_open (hg_service_store (svc), &converted, err);
    if (!self->index) {
        return err->code;
    }
    if (hg_index_backfilled (self->index)) {
        hg_info ("index_bitmaps_built", "patients=%u ms=%llu", hg_index_ordinals (self->index),
                 (unsigned long long) (hg_now_ms () - t0));
    }
    if (converted) {
        hg_info ("index_converted", "records=%llu ms=%llu", (unsigned long long) converted,
                 (unsigned long long) (hg_now_ms () - t0));
    }
    return 0;
}

static void
s_destroy (void **state)
{
    indexer_t *self = *state;
    hg_index_destroy (&self->index);
    hg_arena_destroy (&self->arena);
    free (*state);
    *state = NULL;
}

static int
s_process (hg_service_t *svc, void *state, hg_delivery_t *d, size_t n, hg_store_batch_t *wb,
           hg_err_t *err)
{
    indexer_t *self = state;
    uint64_t *indexed = hg_service_counter (svc, "indexed");
    uint64_t *dups = hg_service_counter (svc, "duplicate_records");
    uint64_t *bad = hg_service_counter (svc, "rejected");
    hg_index_begin (self->index);
    hg_arena_reset (self->arena);
    ProtobufCAllocator alloc;
    hg_arena_protobuf_allocator (self->arena, &alloc);
    uint64_t now_us = hg_wall_us ();
    for (size_t i = 0; i < n; i++) {
        Hourglass__Envelope *env = d[i].env;
        if (env->payload_type != HOURGLASS__PAYLOAD_TYPE__PAYLOAD_RECORDS) {
            hg_warn ("unexpected_payload", "message=%s type=%d", env->id, env->payload_type);
            (*bad)++;
            continue;
        }
        if (env->shard != self->shard) {
            hg_warn ("wrong_shard", "message=%s shard=%d mine=%d", env->id, env->shard,
                     self->shard);
        }
        s_observe_latency (svc, env, now_us);
        /* each record is unpacked from its own bytes in the batch (into
         * the round's arena, freed all at once by the next round) and
         * those bytes are what is stored: no packing again */
        size_t off = 0;
        const uint8_t *packed;
        size_t packed_len;
        int more;
        while ((more = hg_record_batch_next (env->payload.data, env->payload.len, &off, &packed,
                                             &packed_len))
               == 1) {
            Hourglass__Record *rec = hourglass__record__unpack (&alloc, packed_len, packed);
            int rc = rec ? hg_index_put_packed (self->index, wb, rec, packed, packed_len, err)
                         : hg_err_set (err, HG_EINVAL, "a record of the batch does not decode");
            if (rc == HG_ENOMEM) {
                return err->code;
            }
            if (rc < 0) {
                hg_warn ("record_rejected", "message=%s err=\"%s\"", env->id, err->msg);
                (*bad)++;
            }
            else if (rc == 1) {
                (*indexed)++;
            }
            else {
                (*dups)++;
            }
        }
        if (more < 0) {
            /* the records before the damage are kept; what follows is lost
             * to us either way, and redelivery would bring the same bytes */
            hg_error ("batch_undecodable", "message=%s bytes=%zu at=%zu", env->id,
                      env->payload.len, off);
            (*bad)++;
        }
    }
    /* a failed commit ends the process, so memory never runs ahead of disk */
    return hg_index_flush (self->index, wb, err) < 0 ? err->code : 0;
}

static int
s_control (hg_service_t *svc, void *state, const Hourglass__ControlRequest *req,
           Hourglass__ControlReply *reply, hg_arena_t *arena, hg_err_t *err)
{
    if (req->kind == HOURGLASS__CONTROL_REQUEST__KIND__QUERY) {
        return hg_query_shard_reply (((indexer_t *) state)->index, req, reply, arena, err);
    }
    if (req->kind == HOURGLASS__CONTROL_REQUEST__KIND__CODES) {
        return hg_query_shard_codes (((indexer_t *) state)->index, req->prefix ? req->prefix : "",
                                     req->limit, reply, arena, err);
    }
    if (req->kind == HOURGLASS__CONTROL_REQUEST__KIND__EXPORT) {
        size_t n = 0;
        int rc = hg_export_shard_reply (((indexer_t *) state)->index, req, reply, arena, &n, err);
        *hg_service_counter (svc, "exported") += n; /* audited: counted and logged */
        hg_info ("export", "records=%zu first=%d", n, req->after.len == 0);
        return rc;
    }
    if (req->kind != HOURGLASS__CONTROL_REQUEST__KIND__COUNT || !req->count) {
        return hg_err_set (err, HG_EINVAL,
                           "the indexer answers HEALTH, STATS, COUNT, QUERY, CODES and EXPORT");
    }
    Hourglass__CountResult *res = hg_arena_alloc (arena, sizeof (*res));
    hourglass__count_result__init (res);
    indexer_t *self = state;
    const Hourglass__CountQuery *q = req->count;
    uint64_t p = 0, r = 0;
    if (q->n_also == 0) {
        if (hg_index_count (self->index, q->system, q->code, q->from, q->to, &p, &r, err) < 0) {
            return HG_EINVAL;
        }
    }
    else {
        const char *systems[HG_INDEX_COHORT_MAX], *codes[HG_INDEX_COHORT_MAX];
        if (q->n_also + 1 > HG_INDEX_COHORT_MAX) {
            return hg_err_set (err, HG_EINVAL, "a cohort takes at most %d codes",
                               HG_INDEX_COHORT_MAX);
        }
        systems[0] = q->system;
        codes[0] = q->code;
        for (size_t i = 0; i < q->n_also; i++) {
            systems[i + 1] = q->also[i]->system;
            codes[i + 1] = q->also[i]->code;
        }
        if (hg_index_cohort (self->index, systems, codes, q->n_also + 1, q->from, q->to, &p, err)
            < 0) {
            return HG_EINVAL;
        }
    }
    res->patients = p;
    res->records = r;
    res->shards = 1;
    reply->count = res;
    return 0;
}

static const hg_service_def_t s_def = {
    .name = "indexer",
    .summary = "stores de-identified records by patient, code + date and date",
    .base_port = 5580,
    .upstream_base_port = 5570,
    .shard_option = "shard",
    .options = s_options,
    .consumes = true,
    .produces = false,
    .init = s_init,
    .process = s_process,
    .control = s_control,
    .destroy = s_destroy,
};

int
main (int argc, char **argv)
{
    return hg_service_main (&s_def, argc, argv);
}
