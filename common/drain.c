/*
 * drain.c -- a replica's drain (hourglass drain; docs/operations.md
 * "Scaling down"). See service_internal.h.
 *
 * A drained replica of a middle stage (cleanser, deid) advertises no credit
 * to any upstream and says so in every HELLO/READY (link.h), so its
 * upstreams hand its share to the other replicas; each upstream confirms
 * with HEARTBEAT(stopped), after which nothing more can arrive. What it had
 * received it still commits and acknowledges, and its own outbox keeps
 * being delivered downstream. Once every upstream has confirmed, nothing is
 * in process and the outbox is empty, the replica holds no work anyone
 * waits for: it may be stopped and its store thrown away. The state is in
 * memory only: a restarted replica takes work again.
 */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "service_internal.h"
#include "util.h"

/* Why a drain means nothing for a service that is not a replica of a
 * middle stage; NULL for those that can drain. */
static const char *
s_why_not (const hg_service_t *self)
{
    if (self->def->consumes && self->def->produces) {
        return NULL;
    }
    if (!self->def->consumes && self->def->produces) {
        return "the collector is the partners' entry point and has no upstream to stop; to "
               "stop it taking pushes, stop the partners (or let them get BUSY), wait for its "
               "outbox_depth to reach 0 (hourglass stats), then stop it";
    }
    if (self->def->consumes) {
        return "an indexer shard is not a replica: it alone holds its shard's records "
               "(shards are fixed), and it has no outbox to empty; stop it any time, its "
               "upstreams keep its shard's work until it is back";
    }
    return "analytics holds no work: it answers queries from the shards and keeps only its "
           "audit log; stop or replace it any time";
}

static void
s_status (hg_service_t *self, Hourglass__DrainStatus *st)
{
    uint64_t now = hg_now_ms ();
    st->draining = self->draining;
    st->upstreams = self->client ? (uint32_t) hg_link_client_upstreams (self->client) : 0;
    st->upstreams_stopped = self->client ? (uint32_t) hg_link_client_stopped (self->client, now)
                                         : 0;
    st->in_process = self->client ? hg_link_client_in_process (self->client) : 0;
    st->outbox_depth = (self->server ? hg_link_server_depth (self->server) : 0) + self->n_emitted;
    st->since_unix_ms = self->drain_since_unix_ms;
    st->outbox_at_start = self->drain_outbox_at_start;
    uint64_t acked = self->server ? hg_link_server_stats (self->server).acked : 0;
    st->acked_since = acked - self->drain_acked_at_start;
    /* refusing (disk full): no link upstream, nothing can arrive either */
    st->done = self->draining && st->upstreams_stopped == st->upstreams && st->in_process == 0
               && st->outbox_depth == 0;
}

int
hg_service_drain (hg_service_t *self, const Hourglass__ControlRequest *req,
                  Hourglass__ControlReply *reply, hg_arena_t *arena, hg_err_t *err)
{
    const char *why = s_why_not (self);
    if (why) {
        return hg_err_set (err, HG_EINVAL, "%s %s cannot be drained: %s", self->def->name,
                           self->instance, why);
    }
    uint64_t now = hg_now_ms ();
    if (req->resume && self->draining) {
        self->draining = false;
        if (self->client) {
            hg_link_client_drain (self->client, false, (uint32_t) hg_service_outbox_room (self),
                                  now);
        }
        hg_info ("drain_resumed", "after_ms=%llu",
                 (unsigned long long) (hg_wall_us () / 1000u - self->drain_since_unix_ms));
    }
    else if (!req->resume && !self->draining) {
        self->draining = true;
        self->drain_since_unix_ms = hg_wall_us () / 1000u;
        self->drain_outbox_at_start = self->server ? hg_link_server_depth (self->server) : 0;
        self->drain_acked_at_start = self->server ? hg_link_server_stats (self->server).acked : 0;
        if (self->client) {
            hg_link_client_drain (self->client, true, 0, now);
        }
        hg_info ("drain_started", "outbox=%llu in_process=%zu upstreams=%zu",
                 (unsigned long long) self->drain_outbox_at_start,
                 self->client ? hg_link_client_in_process (self->client) : 0,
                 self->client ? hg_link_client_upstreams (self->client) : 0);
    }
    Hourglass__DrainStatus *st = hg_arena_alloc (arena, sizeof (*st));
    if (!st) {
        return hg_err_set (err, HG_ENOMEM, "out of memory");
    }
    hourglass__drain_status__init (st);
    s_status (self, st);
    reply->drain = st;
    return 0;
}
