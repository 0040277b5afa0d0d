/*
 * hourglass-deid -- de-identifies canonical records under the policy in
 * policy.h (keyed pseudonyms, per-patient date shifting, generalisation,
 * removal of names, addresses, telecom, identifiers and free text) and
 * routes them to the indexer shard of their pseudonymous patient.
 *
 * Nothing identifying is ever written to this service's store: a record
 * that cannot be de-identified is counted and described by its reason and
 * position only, never by its content; and no upstream id either: its
 * de-dup markers, quarantine entries and envelope ids carry the message's
 * pseudonym (hg_deid_message_id), its logs the id's fingerprint.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "date.h"
#include "log.h"
#include "policy.h"
#include "pseudonym.h"
#include "quarantine.h"
#include "record.h"
#include "service.h"
#include "util.h"

#define HG_DEID_MAX_SHARDS 64

static const hg_opt_t s_options[] = {
    {"key_file", HG_OPT_STRING, "./var/deid.key",
     "pseudonym key (32 bytes, mode 0600); created on first start; share it between "
     "deid instances"},
    {"indexer_shards", HG_OPT_INT, "1", "number of indexer shards to route to"},
    {NULL, 0, NULL, NULL},
};

typedef struct {
    unsigned char key[HG_DEID_KEY_BYTES];
    int shards;
    hg_deid_memos_t memos; /* last ids hashed; cleared after every round */
    hg_arena_t *arena;     /* one message's records; reset per message */
} deid_t;

static int
s_init (hg_service_t *svc, void **state, hg_err_t *err)
{
    deid_t *self = sodium_malloc (sizeof (*self));
    if (!self) {
        return hg_err_set (err, HG_ENOMEM, "out of secure memory");
    }
    memset (self, 0, sizeof (*self));
    *state = self;
    self->shards = (int) hg_config_int (hg_service_config (svc), "indexer_shards");
    if (self->shards < 1 || self->shards > HG_DEID_MAX_SHARDS) {
        return hg_err_set (err, HG_EINVAL, "indexer_shards must be 1..%d", HG_DEID_MAX_SHARDS);
    }
    const char *path = hg_service_option (svc, "key_file");
    if (hg_deid_key_load (path, true, self->key, err) < 0) {
        return err->code;
    }
    hg_info ("key_loaded", "path=%s", path);
    self->arena = hg_arena_new (0);
    if (!self->arena) {
        return hg_err_set (err, HG_ENOMEM, "out of memory");
    }
    return 0;
}

static void
s_destroy (void **state)
{
    deid_t *self = *state;
    hg_arena_destroy (&self->arena);
    sodium_free (self); /* zeroes the key and the memos */
    *state = NULL;
}

/* hg_service_def_t.marker_id: the message's pseudonym (hg_deid_message_id),
 * never the upstream id. */
static int
s_marker_id (hg_service_t *svc, void *state, const Hourglass__Envelope *env, char *out,
             size_t size, hg_err_t *err)
{
    (void) svc;
    deid_t *self = state;
    if (size < HG_PSEUDONYM_HEX + 1) {
        return hg_err_set (err, HG_EINVAL, "marker buffer of %zu bytes is too small", size);
    }
    hg_deid_message_id (self->key, env->partner, env->id, out);
    return 0;
}

/* Records a record that could not be de-identified: its message's
 * pseudonym, its position and its reason with the values withheld
 * (hg_deid_withhold_values), nothing else. The log line has the upstream
 * id's fingerprint (log.h), never the pseudonym: logs must not link the
 * two. */
static void
s_reject (hg_service_t *svc, hg_store_batch_t *wb, const Hourglass__Envelope *env,
          const char *message, size_t index, const char *reason)
{
    Hourglass__QuarantineEntry q = HOURGLASS__QUARANTINE_ENTRY__INIT;
    char location[64];
    snprintf (location, sizeof (location), "record %zu", index);
    q.message_id = (char *) message;
    q.partner = env->partner;
    q.format = env->format;
    char safe[512];
    hg_deid_withhold_values (reason, safe, sizeof (safe));
    q.location = location;
    q.reason = safe;
    q.at_us = hg_wall_us ();
    hg_quarantine_put (wb, &q, index, NULL); /* out of memory: the commit fails */
    (*hg_service_counter (svc, "rejected"))++;
    hg_warn ("record_not_deidentified", "fingerprint=%s record=%zu", HG_LOG_FP (env->id), index);
}

static int
s_process_one (hg_service_t *svc, deid_t *self, const Hourglass__Envelope *env,
               hg_store_batch_t *wb, int64_t today, hg_err_t *err)
{
    char message[HG_PSEUDONYM_HEX + 1];
    hg_deid_message_id (self->key, env->partner, env->id, message);
    if (env->payload_type != HOURGLASS__PAYLOAD_TYPE__PAYLOAD_RECORDS) {
        s_reject (svc, wb, env, message, 0, "envelope does not carry canonical records");
        return 0;
    }
    hg_arena_t *arena = self->arena;
    hg_arena_reset (arena);
    ProtobufCAllocator alloc;
    hg_arena_protobuf_allocator (arena, &alloc);
    Hourglass__RecordBatch *in = hourglass__record_batch__unpack (&alloc, env->payload.len,
                                                                  env->payload.data);
    int rc = 0;
    if (!in) {
        s_reject (svc, wb, env, message, 0, "record batch is undecodable");
        goto cleanup;
    }
    /* de-identify, then group by shard */
    Hourglass__Record **by_shard[HG_DEID_MAX_SHARDS] = {0};
    size_t n_by_shard[HG_DEID_MAX_SHARDS] = {0};
    hg_deid_ctx_t ctx = {.key = self->key, .today_days = today, .memos = &self->memos};
    uint64_t *deidentified = hg_service_counter (svc, "deidentified");
    for (size_t i = 0; i < in->n_records; i++) {
        Hourglass__Record *r = in->records[i];
        hg_err_t rerr = {0};
        if (hg_deid_record (&ctx, arena, r, &rerr) < 0) {
            s_reject (svc, wb, env, message, i, rerr.msg);
            continue;
        }
        int s = hg_shard_of (r->patient_ref, self->shards);
        if (!by_shard[s]) {
            by_shard[s] = hg_arena_alloc (arena, in->n_records * sizeof (Hourglass__Record *));
        }
        by_shard[s][n_by_shard[s]++] = r;
        (*deidentified)++;
    }
    for (int s = 0; s < self->shards; s++) {
        if (!n_by_shard[s]) {
            continue;
        }
        char id[HG_PSEUDONYM_HEX + 16];
        snprintf (id, sizeof (id), "%s#%d", message, s);
        if ((rc = hg_service_emit_records (svc, wb, env, id, s, by_shard[s], n_by_shard[s], err))
            < 0) {
            goto cleanup;
        }
    }
cleanup:
    /* in lives in the arena, reset by the next message */
    return rc;
}

static int
s_process (hg_service_t *svc, void *state, hg_delivery_t *d, size_t n, hg_store_batch_t *wb,
           hg_err_t *err)
{
    deid_t *self = state;
    int64_t today = (int64_t) (hg_wall_us () / 1000000u / 86400u);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = s_process_one (svc, self, d[i].env, wb, today, err);
    }
    /* source ids stay no longer than their round; the records' memory is
     * reused by the next round */
    hg_deid_memo_clear (&self->memos);
    return rc < 0 ? err->code : 0;
}

static const hg_service_def_t s_def = {
    .name = "deid",
    .summary = "de-identifies records and routes them to their indexer shard",
    .base_port = 5570,
    .upstream_base_port = 5560,
    .options = s_options,
    .consumes = true,
    .produces = true,
    .init = s_init,
    .marker_id = s_marker_id,
    .process = s_process,
    .destroy = s_destroy,
};

int
main (int argc, char **argv)
{
    return hg_service_main (&s_def, argc, argv);
}
