/*
 * service_control.c -- what a service reports: the control socket (HEALTH,
 * STATS, QUARANTINE_LIST, then the service's own requests, each checked
 * under CurveZMQ against the role of the caller's key: control_acl.h) and
 * the metrics exposition. See service_internal.h.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zmq.h>

#include "control_acl.h"
#include "curve.h"
#include "log.h"
#include "quarantine.h"
#include "service_internal.h"
#include "util.h"
#include "zmsg.h"

void
hg_service_metrics_publish (hg_service_t *self)
{
    hg_service_counters_fold (self);
    hg_metric_t m[HG_COUNTERS_MAX + 7 + 5 * (HG_PARTNER_COUNTS_MAX + 1)];
    size_t n = 0;
    for (size_t i = 0; i < hg_counters_count (self->counters); i++) {
        m[n++] = (hg_metric_t) {hg_counters_name (self->counters, i),
                                hg_counters_value (self->counters, i), false, NULL};
    }
    m[n++] = (hg_metric_t) {"outbox_depth",
                            self->server ? hg_link_server_depth (self->server) : 0, true, NULL};
    m[n++] = (hg_metric_t) {"store_bytes", hg_store_size_bytes (self->store), true, NULL};
    m[n++] = (hg_metric_t) {"refusing", self->refusing ? 1u : 0u, true, NULL};
    if (self->def->consumes && self->def->produces) {
        m[n++] = (hg_metric_t) {"draining", self->draining ? 1u : 0u, true, NULL};
        m[n++] = (hg_metric_t) {"unadopted_slots", self->unadopted, true, NULL};
    }
    m[n++] = (hg_metric_t) {"in_process",
                            self->client ? hg_link_client_in_process (self->client) : 0, true,
                            NULL};
    if (self->client) {
        m[n++] = (hg_metric_t) {"upstreams", hg_link_client_upstreams (self->client), true, NULL};
    }
    n += hg_partner_counts_export (self->partner_counts, m + n, sizeof (m) / sizeof (m[0]) - n);
    hg_metrics_publish (self->metrics, m, n);
}

/* ---- control ------------------------------------------------------------ */

const char *
hg_service_caller (hg_service_t *svc)
{
    return svc->caller;
}

static void
s_control_stats (hg_service_t *self, Hourglass__ControlReply *reply, hg_arena_t *arena)
{
    size_t extra = self->def->consumes && self->def->produces ? 6 : 5;
    hg_service_counters_fold (self);
    size_t n_counters = hg_counters_count (self->counters);
    Hourglass__Counter **cs = hg_arena_alloc (arena, (n_counters + extra) * sizeof (*cs));
    size_t n = 0;
    for (size_t i = 0; i < n_counters; i++) {
        Hourglass__Counter *c = hg_arena_alloc (arena, sizeof (*c));
        hourglass__counter__init (c);
        c->name = (char *) hg_counters_name (self->counters, i);
        c->value = hg_counters_value (self->counters, i);
        cs[n++] = c;
    }
    const char *gauges[] = {"outbox_depth",        "store_bytes", "uptime_s",
                            "last_commit_unix_ms", "refusing",    "draining"};
    uint64_t values[] = {self->server ? hg_link_server_depth (self->server) : 0,
                         hg_store_size_bytes (self->store),
                         (hg_wall_us () - self->started_us) / 1000000u,
                         self->committed_us / 1000u,
                         self->refusing ? 1u : 0u,
                         self->draining ? 1u : 0u};
    for (size_t i = 0; i < extra; i++) {
        Hourglass__Counter *c = hg_arena_alloc (arena, sizeof (*c));
        hourglass__counter__init (c);
        c->name = (char *) gauges[i];
        c->value = values[i];
        cs[n++] = c;
    }
    reply->n_counters = n;
    reply->counters = cs;
}

/* Under CurveZMQ: whether the key the request came with (msg's User-Id,
 * "<role>:<name>" from control_allow) has a role that may make it; when not,
 * reply->error names the role needed, and the refusal is counted and logged
 * by the key's fingerprint. */
static bool
s_control_permitted (hg_service_t *self, zmq_msg_t *msg, int kind, Hourglass__ControlReply *reply,
                     hg_arena_t *arena)
{
    if (!self->secure) {
        return true; /* no caller to tell apart: loopback only (docs/security.md) */
    }
    const char *user = zmq_msg_gets (msg, "User-Id");
    hg_role_t role = hg_control_role (user);
    if (hg_control_allowed (self->def->name, kind, role)) {
        return true;
    }
    const char *fp = zmq_msg_gets (msg, HG_CURVE_FP_PROPERTY);
    char need[64], have[64];
    hg_control_roles_text (hg_control_roles_for (self->def->name, kind), need, sizeof (need));
    hg_control_roles_text ((unsigned) role, have, sizeof (have));
    reply->error = hg_arena_printf (arena, "%s at the %s needs role %s; this key's role is %s",
                                    hg_control_kind_name (kind), self->def->name, need,
                                    role ? have : "none");
    (*hg_service_counter (self, "control_refused"))++;
    hg_warn ("control_refused", "kind=%s role=%s key_fingerprint=%s", hg_control_kind_name (kind),
             role ? have : "none", fp ? fp : "-");
    return false;
}

/* One decoded request's answer into reply (ok, or error set). */
static void
s_control_answer (hg_service_t *self, const Hourglass__ControlRequest *req,
                  Hourglass__ControlReply *reply, hg_arena_t *arena)
{
    hg_err_t err = {0};
    if (req->kind == HOURGLASS__CONTROL_REQUEST__KIND__HEALTH) {
        /* alive, and resuming by itself: healthy, with the reason said */
        reply->ok = true;
        if (self->refusing) {
            reply->error = self->refusing_why;
        }
    }
    else if (req->kind == HOURGLASS__CONTROL_REQUEST__KIND__STATS) {
        s_control_stats (self, reply, arena);
        reply->ok = true;
    }
    else if (req->kind == HOURGLASS__CONTROL_REQUEST__KIND__QUARANTINE_LIST) {
        /* any stage that rejects keeps its entries under q/ */
        if (hg_quarantine_list (self->store, req->limit ? req->limit : 1000, arena,
                                &reply->quarantine, &reply->n_quarantine, &err)
            == 0) {
            reply->ok = true;
        }
        else {
            reply->error = hg_arena_strdup (arena, err.msg);
        }
    }
    else if (req->kind == HOURGLASS__CONTROL_REQUEST__KIND__DRAIN) {
        if (hg_service_drain (self, req, reply, arena, &err) == 0) {
            reply->ok = true;
        }
        else {
            reply->error = hg_arena_strdup (arena, err.msg);
        }
    }
    else if (self->def->control
             && self->def->control (self, self->state, req, reply, arena, &err) == 0) {
        reply->ok = true;
    }
    else {
        reply->error = hg_arena_strdup (arena, err.code ? err.msg : "request not supported here");
    }
}

void
hg_service_control_handle (hg_service_t *self)
{
    for (int budget = 0; budget < 100; budget++) {
        /* [identity][empty][ControlRequest] */
        zmq_msg_t parts[3];
        bool truncated;
        int n = hg_zmsg_recv (self->control, parts, 3, ZMQ_DONTWAIT, &truncated);
        if (n <= 0) {
            return;
        }
        if (n != 3 || truncated) {
            hg_zmsg_close (parts, n);
            continue;
        }
        hg_arena_t *arena = hg_arena_new (0);
        Hourglass__ControlReply reply = HOURGLASS__CONTROL_REPLY__INIT;
        reply.service = (char *) self->def->name;
        reply.instance = self->instance;
        reply.pid = (uint64_t) getpid ();
        Hourglass__ControlRequest *req =
            hourglass__control_request__unpack (NULL, zmq_msg_size (&parts[2]),
                                                zmq_msg_data (&parts[2]));
        if (!req) {
            reply.error = "undecodable control request";
        }
        else if (s_control_permitted (self, &parts[2], req->kind, &reply, arena)) {
            self->caller = self->secure ? zmq_msg_gets (&parts[2], "User-Id") : NULL;
            s_control_answer (self, req, &reply, arena);
            self->caller = NULL;
        }
        size_t len = hourglass__control_reply__get_packed_size (&reply);
        zmq_msg_t out;
        zmq_msg_init_size (&out, len);
        hourglass__control_reply__pack (&reply, zmq_msg_data (&out));
        zmq_msg_send (&parts[0], self->control, ZMQ_SNDMORE);
        zmq_msg_send (&parts[1], self->control, ZMQ_SNDMORE);
        zmq_msg_send (&out, self->control, 0);
        zmq_msg_close (&parts[2]);
        if (req) {
            hourglass__control_request__free_unpacked (req, NULL);
        }
        hg_arena_destroy (&arena);
    }
}
