/*
 * service.c -- the shared service runtime: config, store, links, control,
 * group commit, counters, signals. See service.h for the contract.
 */
#include "service.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>
#include <zmq.h>

#include "curve.h"
#include "log.h"
#include "metrics.h"
#include "slot.h"
#include "util.h"

#define HG_MAX_COUNTERS 32
#define HG_MAX_OPTS 96

typedef struct {
    char name[32];
    uint64_t value;
} counter_t;

struct hg_service {
    const hg_service_def_t *def;
    void *state;                    /* the service's own, from def->init */
    hg_config_t *config;
    hg_opt_t opts[HG_MAX_OPTS];     /* runtime options + link options */
    char defaults[4][128];          /* storage for computed defaults */
    char instance[64];
    void *zctx;
    void *control;                  /* ROUTER for HEALTH/STATS/queries */
    hg_store_t *store;
    hg_link_server_t *server;       /* when def->produces */
    hg_link_client_t *client;       /* when def->consumes */
    counter_t counters[HG_MAX_COUNTERS];
    size_t n_counters;
    struct emitted { uint64_t seq; int shard; } *emitted;   /* outbox entries of this commit */
    size_t n_emitted, cap_emitted;
    uint64_t redelivered_seen;      /* server stat already folded into counter */
    hg_metrics_t *metrics;          /* HTTP exposition, when configured */
    hg_curve_keypair_t curve;       /* this instance's key pair, when curve_key is set */
    bool secure;
    hg_curve_auth_t *auth;          /* ZAP handler of the server sockets */
    uint64_t metrics_at_ms;         /* next snapshot */
    hg_link_opts_t link_opts;
    size_t batch_max;
    size_t batch_max_bytes;
    size_t outbox_max;
    uint64_t started_us;
    uint64_t committed_us;          /* wall clock of the last commit */
    hg_store_opts_t store_opts;
    int slots;                      /* 0: no slots; else this instance's is slot */
    int slot;
    int slot_fd;                    /* holds the slot's flock */
    char slot_dir[PATH_MAX];        /* the volume holding every slot */
    char slot_prefix[48];
    uint64_t adopt_ms, adopt_at_ms;
};

static volatile sig_atomic_t s_terminated = 0;
static volatile sig_atomic_t s_reload = 0;

static void
s_on_signal (int sig)
{
    if (sig == SIGHUP) {
        s_reload = 1;
    }
    else {
        s_terminated = 1;
    }
}

static const hg_opt_t s_runtime_opts[] = {
    {"name", HG_OPT_STRING, "", "instance name, unique per service (default <service>-0)"},
    {"data_dir", HG_OPT_STRING, "", "directory of this instance's RocksDB (default ./var/<name>)"},
    {"control", HG_OPT_STRING, "", "control endpoint to bind (health, stats, queries)"},
    {"log_level", HG_OPT_STRING, "info", "debug, info, warn or error"},
    {"heartbeat_ms", HG_OPT_INT, "1000", "heartbeat interval on every link"},
    {"liveness", HG_OPT_INT, "3", "missed heartbeats before a peer is declared dead"},
    {"window", HG_OPT_INT, "256", "envelopes this instance holds per upstream (credit)"},
    {"batch_max", HG_OPT_INT, "256", "envelopes per group commit"},
    {"frame_max", HG_OPT_INT, "64", "envelopes per DELIVER message"},
    {"frame_max_bytes", HG_OPT_INT, "4194304",
     "payload bytes per DELIVER message (at least one envelope)"},
    {"batch_max_bytes", HG_OPT_INT, "16777216",
     "payload bytes per group commit: bounds a round so heartbeats keep flowing"},
    {"outbox_max", HG_OPT_INT, "20000",
     "unacknowledged outbox entries before this stage stops taking input"},
    {"sync", HG_OPT_BOOL, "true", "fsync every commit (durable acknowledgements)"},
    {"compression", HG_OPT_STRING, "lz4", "RocksDB compression: lz4, snappy, zstd, none"},
    {"compaction", HG_OPT_STRING, "level",
     "RocksDB compaction style: level, or universal (data rewritten fewer times; needs free "
     "disk for up to twice the store while it compacts; see docs/performance.md)"},
    {"curve_key", HG_OPT_STRING, "",
     "this instance's CurveZMQ key file (hourglass keygen); empty: links are plaintext"},
    {"curve_allow", HG_OPT_STRING, "",
     "allow-list of downstream instances' public keys ('<z85> <name>' lines), with curve_key"},
    {"slots", HG_OPT_INT, "0",
     "replicas sharing one volume (docker-compose --scale): claim the first free of this many "
     "slots under data_dir, instance <name>-<k>, store <data_dir>/<name>-<k>; 0: off"},
    {"slot", HG_OPT_INT, "-1",
     "with slots: the slot to claim if it is free (a launcher that names its replicas); "
     "-1: the lowest free one"},
    {"adopt_ms", HG_OPT_INT, "5000",
     "with slots: how often to look for slots of replicas that are gone and adopt their data"},
    {"discover_ms", HG_OPT_INT, "2000",
     "how often dns+tcp:// upstream endpoints are re-resolved to find new or gone instances"},
    {"metrics", HG_OPT_STRING, "",
     "serve Prometheus /metrics and /health over HTTP on PORT or IPv4:PORT (empty: off)"},
    {NULL, 0, NULL, NULL},
};

/* Default ports of a single-node cluster: 55x0 per service. */
static int
s_base_port (const char *service)
{
    static const char *names[] = {"collector", "cleanser", "deid", "indexer", "analytics"};
    for (int i = 0; i < 5; i++) {
        if (strcmp (service, names[i]) == 0) {
            return 5550 + 10 * i;
        }
    }
    return 5600;
}

static void
s_build_options (hg_service_t *self)
{
    const hg_service_def_t *def = self->def;
    size_t n = 0;
    int base = s_base_port (def->name);
    for (const hg_opt_t *o = s_runtime_opts; o->name; o++) {
        self->opts[n] = *o;
        if (strcmp (o->name, "control") == 0) {
            snprintf (self->defaults[0], sizeof (self->defaults[0]), "tcp://127.0.0.1:%d",
                      base + 2);
            self->opts[n].default_value = self->defaults[0];
        }
        n++;
    }
    if (def->consumes) {
        /* the upstream's deliver port: the previous service's base + 1 */
        snprintf (self->defaults[1], sizeof (self->defaults[1]), "tcp://127.0.0.1:%d",
                  base - 10 + 1);
        self->opts[n++] = (hg_opt_t) {"upstream", HG_OPT_STRING, self->defaults[1],
                                      "comma-separated deliver endpoints of every upstream "
                                      "instance"};
        self->opts[n++] = (hg_opt_t) {"upstream_key", HG_OPT_STRING, "",
                                      "upstream public key(s), Z85 or .pub files: one for all "
                                      "or one per upstream endpoint (with curve_key)"};
    }
    if (def->produces) {
        snprintf (self->defaults[2], sizeof (self->defaults[2]), "tcp://127.0.0.1:%d",
                  base + 1);
        self->opts[n++] = (hg_opt_t) {"deliver", HG_OPT_STRING, self->defaults[2],
                                      "endpoint to bind for downstream instances"};
    }
    self->opts[n] = (hg_opt_t) {NULL, 0, NULL, NULL};
}

uint64_t *
hg_service_counter (hg_service_t *self, const char *name)
{
    for (size_t i = 0; i < self->n_counters; i++) {
        if (strcmp (self->counters[i].name, name) == 0) {
            return &self->counters[i].value;
        }
    }
    if (self->n_counters == HG_MAX_COUNTERS) {
        static uint64_t overflow;
        return &overflow;
    }
    counter_t *c = &self->counters[self->n_counters++];
    snprintf (c->name, sizeof (c->name), "%s", name);
    c->value = 0;
    return &c->value;
}

/* A persisted counter entry is "m/<name>" -> 8 bytes: the counter its key
 * names, and the value it holds. */
static uint64_t *
s_counter_of_key (hg_service_t *self, const char *key, size_t klen)
{
    char name[32];
    snprintf (name, sizeof (name), "%.*s", (int) (klen - 2), key + 2);
    return hg_service_counter (self, name);
}

static uint64_t
s_counter_value (const char *val, size_t vlen)
{
    uint64_t value = 0;
    if (vlen == 8) {
        memcpy (&value, val, 8);
    }
    return value;
}

static void
s_counters_load (hg_service_t *self)
{
    hg_store_iter_t *it = hg_store_iter_new (self->store, "m/", 2, NULL, 0);
    const char *k, *v;
    size_t kl, vl;
    while (hg_store_iter_next (it, &k, &kl, &v, &vl)) {
        *s_counter_of_key (self, k, kl) = s_counter_value (v, vl);
    }
    hg_store_iter_destroy (&it);
}

/* Folds the link's redelivery count into the persisted counter. */
static void
s_counters_fold (hg_service_t *self)
{
    if (self->server) {
        uint64_t r = hg_link_server_stats (self->server).redelivered;
        *hg_service_counter (self, "redelivered") += r - self->redelivered_seen;
        self->redelivered_seen = r;
    }
}

static void
s_counters_put (hg_service_t *self, hg_store_batch_t *wb)
{
    s_counters_fold (self);
    for (size_t i = 0; i < self->n_counters; i++) {
        char key[40];
        int kl = snprintf (key, sizeof (key), "m/%s", self->counters[i].name);
        hg_store_batch_put (wb, key, (size_t) kl, &self->counters[i].value, 8);
    }
}

hg_config_t *hg_service_config (hg_service_t *self) { return self->config; }
hg_store_t *hg_service_store (hg_service_t *self) { return self->store; }
void *hg_service_zctx (hg_service_t *self) { return self->zctx; }
const char *hg_service_instance (hg_service_t *self) { return self->instance; }

const hg_curve_keypair_t *
hg_service_curve (hg_service_t *self)
{
    return self->secure ? &self->curve : NULL;
}

hg_curve_auth_t *
hg_service_auth (hg_service_t *self)
{
    return self->auth;
}

const char *
hg_service_option (hg_service_t *self, const char *name)
{
    return hg_config_str (self->config, name);
}

size_t
hg_service_outbox_room (hg_service_t *self)
{
    size_t depth = (self->server ? hg_link_server_depth (self->server) : 0) + self->n_emitted;
    return depth >= self->outbox_max ? 0 : self->outbox_max - depth;
}

/* Remembers an outbox entry of the commit under way, offered downstream
 * once the commit is durable. */
static int
s_emitted_push (hg_service_t *self, uint64_t seq, int shard, hg_err_t *err)
{
    if (self->n_emitted == self->cap_emitted) {
        size_t cap = self->cap_emitted ? self->cap_emitted * 2 : 1024;
        struct emitted *e = realloc (self->emitted, cap * sizeof (*e));
        if (!e) {
            return hg_err_set (err, HG_ENOMEM, "out of memory");
        }
        self->emitted = e;
        self->cap_emitted = cap;
    }
    self->emitted[self->n_emitted].seq = seq;
    self->emitted[self->n_emitted].shard = shard;
    self->n_emitted++;
    return 0;
}

int
hg_service_emit (hg_service_t *self, hg_store_batch_t *wb, Hourglass__Envelope *env,
                 const Hourglass__Envelope *from, hg_err_t *err)
{
    if (!self->server) {
        return hg_err_set (err, HG_EINVAL, "service %s has no downstream", self->def->name);
    }
    /* stamps: the input's, then ours (on the stack for the usual few) */
    size_t n_from = from ? from->n_stamps : 0;
    Hourglass__StageStamp *local[16];
    Hourglass__StageStamp **stamps = local;
    if (n_from + 1 > sizeof (local) / sizeof (local[0])) {
        stamps = calloc (n_from + 1, sizeof (*stamps));
        if (!stamps) {
            return hg_err_set (err, HG_ENOMEM, "out of memory packing an envelope");
        }
    }
    Hourglass__StageStamp mine = HOURGLASS__STAGE_STAMP__INIT;
    mine.stage = (char *) self->def->name;
    mine.instance = self->instance;
    mine.at_us = hg_wall_us ();
    for (size_t i = 0; i < n_from; i++) {
        stamps[i] = from->stamps[i];
    }
    stamps[n_from] = &mine;
    size_t saved_n = env->n_stamps;
    Hourglass__StageStamp **saved = env->stamps;
    env->n_stamps = n_from + 1;
    env->stamps = stamps;
    /* packed straight into the write batch: no buffer of its own, no copy */
    unsigned char key[10];
    uint64_t seq = hg_link_server_next_seq (self->server, key);
    size_t len = hourglass__envelope__get_packed_size (env);
    uint8_t *buf = hg_store_batch_put_space (wb, key, sizeof (key), len);
    if (buf) {
        hourglass__envelope__pack (env, buf);
    }
    env->n_stamps = saved_n;
    env->stamps = saved;
    if (stamps != local) {
        free (stamps);
    }
    if (!buf) {
        return hg_err_set (err, HG_ENOMEM, "out of memory packing an envelope");
    }
    return s_emitted_push (self, seq, env->shard, err);
}

int
hg_service_commit (hg_service_t *self, hg_store_batch_t *wb, hg_err_t *err)
{
    uint64_t t0 = hg_now_us ();
    (*hg_service_counter (self, "commits"))++;
    s_counters_put (self, wb);
    if (hg_store_write (self->store, wb, true, err) < 0) {
        return HG_EIO;
    }
    *hg_service_counter (self, "commit_us") += hg_now_us () - t0;
    self->committed_us = hg_wall_us ();
    for (size_t i = 0; self->server && i < self->n_emitted; i++) {
        hg_link_server_enqueue (self->server, self->emitted[i].seq, self->emitted[i].shard);
    }
    self->n_emitted = 0;
    return 0;
}

/* Publishes counters and gauges to the HTTP exposition thread. */
static void
s_metrics_publish (hg_service_t *self)
{
    s_counters_fold (self);
    hg_metric_t m[HG_MAX_COUNTERS + 4];
    size_t n = 0;
    for (size_t i = 0; i < self->n_counters; i++) {
        m[n++] = (hg_metric_t) {self->counters[i].name, self->counters[i].value, false};
    }
    m[n++] = (hg_metric_t) {"outbox_depth",
                            self->server ? hg_link_server_depth (self->server) : 0, true};
    m[n++] = (hg_metric_t) {"store_bytes", hg_store_size_bytes (self->store), true};
    m[n++] = (hg_metric_t) {"in_process",
                            self->client ? hg_link_client_in_process (self->client) : 0, true};
    if (self->client) {
        m[n++] = (hg_metric_t) {"upstreams", hg_link_client_upstreams (self->client), true};
    }
    hg_metrics_publish (self->metrics, m, n);
}

/* ---- control ------------------------------------------------------------ */

/* Lists quarantine entries ("q/" keys): any stage that rejects keeps them
 * there, with reasons and never more PHI than the stage may hold. */
static void
s_control_quarantine (hg_service_t *svc, const Hourglass__ControlRequest *req,
                   Hourglass__ControlReply *reply, hg_arena_t *arena)
{
    size_t limit = req->limit ? req->limit : 1000;
    size_t cap = 64, n = 0;
    Hourglass__QuarantineEntry **list = malloc (cap * sizeof (*list));
    hg_store_iter_t *it = hg_store_iter_new (svc->store, "q/", 2, NULL, 0);
    ProtobufCAllocator alloc;
    hg_arena_protobuf_allocator (arena, &alloc);
    const char *k, *v;
    size_t kl, vl;
    while (n < limit && hg_store_iter_next (it, &k, &kl, &v, &vl)) {
        Hourglass__QuarantineEntry *q = hourglass__quarantine_entry__unpack (
            &alloc, vl, (const uint8_t *) v);
        if (!q) {
            continue;
        }
        if (n == cap) {
            cap *= 2;
            list = realloc (list, cap * sizeof (*list));
        }
        list[n++] = q;
    }
    hg_store_iter_destroy (&it);
    Hourglass__QuarantineEntry **out = hg_arena_alloc (arena, (n ? n : 1) * sizeof (*out));
    memcpy (out, list, n * sizeof (*out));
    free (list);
    reply->n_quarantine = n;
    reply->quarantine = out;
}


static void
s_control_stats (hg_service_t *self, Hourglass__ControlReply *reply, hg_arena_t *arena)
{
    size_t extra = 4;
    s_counters_fold (self);
    Hourglass__Counter **cs = hg_arena_alloc (arena, (self->n_counters + extra) * sizeof (*cs));
    size_t n = 0;
    for (size_t i = 0; i < self->n_counters; i++) {
        Hourglass__Counter *c = hg_arena_alloc (arena, sizeof (*c));
        hourglass__counter__init (c);
        c->name = self->counters[i].name;
        c->value = self->counters[i].value;
        cs[n++] = c;
    }
    const char *gauges[] = {"outbox_depth", "store_bytes", "uptime_s", "last_commit_unix_ms"};
    uint64_t values[] = {self->server ? hg_link_server_depth (self->server) : 0,
                         hg_store_size_bytes (self->store),
                         (hg_wall_us () - self->started_us) / 1000000u,
                         self->committed_us / 1000u};
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

static void
s_control_handle (hg_service_t *self)
{
    for (int budget = 0; budget < 100; budget++) {
        zmq_msg_t parts[3];
        int n = 0, more = 1;
        while (more && n < 3) {
            zmq_msg_init (&parts[n]);
            if (zmq_msg_recv (&parts[n], self->control, n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
                zmq_msg_close (&parts[n]);
                more = -1;
                break;
            }
            more = zmq_msg_more (&parts[n]);
            n++;
        }
        if (more < 0 && n == 0) {
            return;
        }
        if (n != 3 || more) {
            for (int i = 0; i < n; i++) {
                zmq_msg_close (&parts[i]);
            }
            continue;
        }
        hg_arena_t *arena = hg_arena_new (0);
        Hourglass__ControlReply reply = HOURGLASS__CONTROL_REPLY__INIT;
        reply.service = (char *) self->def->name;
        reply.instance = self->instance;
        reply.pid = (uint64_t) getpid ();
        Hourglass__ControlRequest *req = hourglass__control_request__unpack (
            NULL, zmq_msg_size (&parts[2]), zmq_msg_data (&parts[2]));
        hg_err_t err = {0};
        if (!req) {
            reply.error = "undecodable control request";
        }
        else if (req->kind == HOURGLASS__CONTROL_REQUEST__KIND__HEALTH) {
            reply.ok = true;
        }
        else if (req->kind == HOURGLASS__CONTROL_REQUEST__KIND__STATS) {
            s_control_stats (self, &reply, arena);
            reply.ok = true;
        }
        else if (req->kind == HOURGLASS__CONTROL_REQUEST__KIND__QUARANTINE_LIST) {
            s_control_quarantine (self, req, &reply, arena);
            reply.ok = true;
        }
        else if (self->def->control
                 && self->def->control (self, self->state, req, &reply, arena, &err) == 0) {
            reply.ok = true;
        }
        else {
            reply.error = hg_arena_strdup (arena, err.code ? err.msg
                                                           : "request not supported here");
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

/* ---- consuming: filter duplicates, process, commit, ack ------------------ */

/* Writes "s/<id>" (the de-dup marker's key) into key (size bytes); its
 * length, or 0 when it does not fit. */
static size_t
s_marker_key (const char *id, char *key, size_t size)
{
    size_t n = strlen (id);
    if (n + 2 >= size) {
        return 0;
    }
    key[0] = 's';
    key[1] = '/';
    memcpy (key + 2, id, n + 1);
    return n + 2;
}

/* Whether each delivery's message was committed before (its marker is in
 * the store): seen[i] for d[i], one look-up per delivery. The store has no
 * multi-key read yet; a MultiGet here (hg_store_exists_many, see
 * docs/performance.md) would read the round's markers in one call. */
static void
s_markers_committed (hg_service_t *self, const hg_delivery_t *d, size_t n, bool *seen)
{
    for (size_t i = 0; i < n; i++) {
        char key[1024];
        size_t kl = d[i].env ? s_marker_key (d[i].env->id, key, sizeof (key)) : 0;
        seen[i] = kl && hg_store_exists (self->store, key, kl);
    }
}

/* A delivery of a message already kept this round (the same message from
 * two upstream instances, or redelivered within the round). */
static bool
s_seen_in_round (const hg_delivery_t *keep, size_t kept, const char *id)
{
    for (size_t i = 0; i < kept; i++) {
        if (strcmp (keep[i].env->id, id) == 0) {
            return true;
        }
    }
    return false;
}

static int
s_consume (hg_service_t *self, hg_delivery_t *d, size_t n, hg_store_batch_t *wb,
           hg_err_t *err)
{
    /* move new, decodable deliveries to the front; keep the rest for the ack */
    hg_delivery_t *keep = malloc (n * sizeof (*keep));
    hg_delivery_t *drop = malloc (n * sizeof (*drop));
    bool *committed = malloc (n * sizeof (*committed));
    if (!keep || !drop || !committed) {
        free (keep);
        free (drop);
        free (committed);
        return hg_err_set (err, HG_ENOMEM, "out of memory");
    }
    s_markers_committed (self, d, n, committed);
    size_t k = 0, dn = 0;
    for (size_t i = 0; i < n; i++) {
        if (!d[i].env) {
            (*hg_service_counter (self, "undecodable"))++;
            drop[dn++] = d[i];
        }
        else if (committed[i] || s_seen_in_round (keep, k, d[i].env->id)) {
            (*hg_service_counter (self, "duplicates"))++;
            drop[dn++] = d[i];
        }
        else {
            keep[k++] = d[i];
        }
    }
    int rc = 0;
    if (k) {
        *hg_service_counter (self, "received") += k;
        uint64_t t0 = hg_now_us ();
        rc = self->def->process (self, self->state, keep, k, wb, err);
        *hg_service_counter (self, "process_us") += hg_now_us () - t0;
        for (size_t i = 0; rc == 0 && i < k; i++) {
            char key[1024];
            size_t kl = s_marker_key (keep[i].env->id, key, sizeof (key));
            if (kl) {
                hg_store_batch_put (wb, key, kl, "", 0);
            }
        }
    }
    if (rc == 0) {
        rc = hg_service_commit (self, wb, err);
    }
    if (rc == 0) {
        memcpy (d, keep, k * sizeof (*d));
        memcpy (d + k, drop, dn * sizeof (*d));
    }
    free (keep);
    free (drop);
    free (committed);
    return rc;
}

/* ---- main ---------------------------------------------------------------- */

static int
s_setup (hg_service_t *self, int argc, char **argv, hg_err_t *err)
{
    s_build_options (self);
    char program[64];
    snprintf (program, sizeof (program), "hourglass-%s", self->def->name);
    self->config = hg_config_new (program, self->opts, self->def->options);
    int rc = hg_config_load (self->config, argc, argv, err);
    if (rc != 0) {
        return rc;
    }
    const char *name = hg_config_str (self->config, "name");
    const char *data_dir = hg_config_str (self->config, "data_dir");
    char dir[PATH_MAX];
    self->slot = -1;
    self->slot_fd = -1;
    self->slots = (int) hg_config_int (self->config, "slots");
    if (self->slots < 0 || self->slots > 1000) {
        return hg_err_set (err, HG_EINVAL, "slots %d is out of range 0..1000", self->slots);
    }
    if (self->slots > 0) {
        /* a replica: the first free slot names it and holds its store */
        snprintf (self->slot_prefix, sizeof (self->slot_prefix), "%s",
                  *name ? name : self->def->name);
        snprintf (self->slot_dir, sizeof (self->slot_dir), "%s", *data_dir ? data_dir : "./var");
        self->slot = hg_slot_claim (self->slot_dir, self->slot_prefix, self->slots,
                                    (int) hg_config_int (self->config, "slot"), &self->slot_fd,
                                    err);
        if (self->slot < 0) {
            return err->code;
        }
        snprintf (self->instance, sizeof (self->instance), "%s-%d", self->slot_prefix,
                  self->slot);
        hg_slot_path (dir, sizeof (dir), self->slot_dir, self->slot_prefix, self->slot);
        self->adopt_ms = (uint64_t) hg_config_int (self->config, "adopt_ms");
    }
    else {
        if (*name) {
            snprintf (self->instance, sizeof (self->instance), "%s", name);
        }
        else {
            snprintf (self->instance, sizeof (self->instance), "%s-0", self->def->name);
        }
        snprintf (dir, sizeof (dir), "%s", *data_dir ? data_dir : "");
        if (!*data_dir) {
            snprintf (dir, sizeof (dir), "./var/%s", self->instance);
        }
    }
    int level = hg_log_level_parse (hg_config_str (self->config, "log_level"));
    if (level < 0) {
        return hg_err_set (err, HG_EINVAL, "log_level '%s' is not debug, info, warn or error",
                           hg_config_str (self->config, "log_level"));
    }
    hg_log_init (self->def->name, self->instance, (hg_log_level_t) level);
    self->link_opts.heartbeat_ms = (uint64_t) hg_config_int (self->config, "heartbeat_ms");
    self->link_opts.liveness = (uint32_t) hg_config_int (self->config, "liveness");
    self->link_opts.frame_max = (uint32_t) hg_config_int (self->config, "frame_max");
    self->link_opts.window = (uint32_t) hg_config_int (self->config, "window");
    self->batch_max = (size_t) hg_config_int (self->config, "batch_max");
    self->batch_max_bytes = (size_t) hg_config_int (self->config, "batch_max_bytes");
    self->link_opts.frame_max_bytes = (size_t) hg_config_int (self->config, "frame_max_bytes");
    self->outbox_max = (size_t) hg_config_int (self->config, "outbox_max");
    self->link_opts.discover_ms = (uint64_t) hg_config_int (self->config, "discover_ms");
    if (self->link_opts.heartbeat_ms < 10 || self->link_opts.liveness < 1
        || self->link_opts.frame_max < 1 || self->link_opts.frame_max > 512
        || self->link_opts.window < 1 || self->batch_max < self->link_opts.frame_max
        || self->batch_max > 4096 || self->outbox_max < 1) {
        return hg_err_set (err, HG_EINVAL,
                           "link options out of range: need heartbeat_ms >= 10, liveness >= 1, "
                           "1 <= frame_max <= 512, window >= 1, frame_max <= batch_max <= 4096, "
                           "outbox_max >= 1");
    }

    if (hg_mkdirs (dir, 0700, err) < 0) {
        return HG_EIO;
    }
    self->store_opts = (hg_store_opts_t) {
        .sync = hg_config_bool (self->config, "sync"),
        .compression = hg_config_str (self->config, "compression"),
        .compaction = hg_config_str (self->config, "compaction"),
    };
    self->store = hg_store_open (dir, &self->store_opts, err);
    if (!self->store) {
        return HG_EIO;
    }
    s_counters_load (self);
    self->zctx = zmq_ctx_new ();
    self->control = zmq_socket (self->zctx, ZMQ_ROUTER);
    const char *curve_key = hg_config_str (self->config, "curve_key");
    if (*curve_key) {
        if (hg_curve_load_keypair (curve_key, &self->curve, err) < 0) {
            return err->code;
        }
        self->secure = true;
        self->link_opts.curve = &self->curve;
        if (self->def->consumes) {
            self->link_opts.upstream_keys = hg_config_str (self->config, "upstream_key");
            if (!*self->link_opts.upstream_keys) {
                return hg_err_set (err, HG_EINVAL, "curve_key is set but upstream_key is not: "
                                   "give the upstream instances' public keys");
            }
        }
    }
    const char *control = hg_config_str (self->config, "control");
    if (zmq_bind (self->control, control) < 0) {
        return hg_err_set (err, HG_EIO, "cannot bind control endpoint %s: %s", control,
                           zmq_strerror (errno));
    }
    if (self->secure) {
        self->auth = hg_curve_auth_new (self->zctx, err);
        if (!self->auth) {
            return err->code;
        }
        const char *allow = hg_config_str (self->config, "curve_allow");
        if (self->def->produces && !*allow) {
            return hg_err_set (err, HG_EINVAL, "curve_key is set but curve_allow is not: give "
                               "the allow-list of downstream instances' public keys");
        }
        if (*allow && hg_curve_auth_allow (self->auth, "services", allow, err) < 0) {
            return err->code;
        }
    }
    if (self->def->produces) {
        self->server = hg_link_server_new (self->zctx, hg_config_str (self->config, "deliver"),
                                           self->store, &self->link_opts, err);
        if (!self->server) {
            return HG_EIO;
        }
    }
    if (self->def->init && self->def->init (self, &self->state, err) < 0) {
        return err->code ? err->code : HG_EINVAL;
    }
    if (self->def->consumes) {
        int shard = -1;
        for (const hg_opt_t *o = self->def->options; o && o->name; o++) {
            if (strcmp (o->name, "shard") == 0) {
                shard = (int) hg_config_int (self->config, "shard");
            }
        }
        self->client = hg_link_client_new (self->zctx, hg_config_str (self->config, "upstream"),
                                           self->instance, shard, &self->link_opts, err);
        if (!self->client) {
            return HG_EINVAL;
        }
    }
    const char *metrics = hg_config_str (self->config, "metrics");
    if (*metrics) {
        self->metrics = hg_metrics_start (metrics, self->def->name, self->instance, err);
        if (!self->metrics) {
            return HG_EIO;
        }
        s_metrics_publish (self);
    }
    hg_info ("started", "pid=%d data_dir=%s control=%s metrics=%s", (int) getpid (), dir,
             control, *metrics ? metrics : "off");
    return 0;
}

/* ---- adoption of slots left by replicas that are gone ---------------------- */

/* Moves the data of a dead replica's store into ours, then deletes it:
 * - its outbox entries become ours (new sequence numbers, same envelopes:
 *   downstream de-duplicates by envelope id if some were delivered already);
 * - its counters are added to ours, and the service's adopt hook merges
 *   what else it aggregates (the cleanser's quality figures);
 * - every other key (de-dup markers, quarantine, outcomes) is keyed by
 *   message id and copied as it is.
 * Copies are written (synced) before the store is deleted, and re-copying
 * is harmless, so a crash half-way loses nothing; it may count the adopted
 * counters twice. */
static int
s_adopt (hg_service_t *self, const char *path, hg_err_t *err)
{
    hg_store_t *orphan = hg_store_open (path, &self->store_opts, err);
    if (!orphan) {
        return err->code;
    }
    hg_store_batch_t *copy = hg_store_batch_new ();
    hg_store_batch_t *merge = hg_store_batch_new ();
    size_t n_outbox = 0, n_copied = 0;
    int rc = 0;
    hg_store_iter_t *it = hg_store_iter_new (orphan, "", 0, NULL, 0);
    const char *k, *v;
    size_t kl, vl;
    while (rc == 0 && hg_store_iter_next (it, &k, &kl, &v, &vl)) {
        if (kl == 10 && memcmp (k, "o/", 2) == 0 && self->server) {
            unsigned char key[10];
            uint64_t seq = hg_link_server_next_seq (self->server, key);
            hg_store_batch_put (merge, key, sizeof (key), v, vl);
            rc = s_emitted_push (self, seq, hg_link_entry_shard (v, vl), err);
            n_outbox++;
        }
        else if (kl > 2 && memcmp (k, "m/", 2) == 0) {
            *s_counter_of_key (self, k, kl) += s_counter_value (v, vl);
        }
        else {
            int handled = self->def->adopt
                              ? self->def->adopt (self, self->state, k, kl, v, vl, merge, err)
                              : 0;
            if (handled < 0) {
                rc = handled;
            }
            else if (!handled) {
                hg_store_batch_put (copy, k, kl, v, vl);
                n_copied++;
                if (hg_store_batch_count (copy) >= 10000) {
                    rc = hg_store_write (self->store, copy, true, err);
                    hg_store_batch_clear (copy);
                }
            }
        }
    }
    hg_store_iter_destroy (&it);
    if (rc == 0 && hg_store_batch_count (copy)) {
        rc = hg_store_write (self->store, copy, true, err);
    }
    if (rc == 0) {
        *hg_service_counter (self, "adopted") += n_outbox;
        rc = hg_service_commit (self, merge, err);
    }
    else {
        self->n_emitted = 0;
        s_counters_load (self);    /* undo the additions: they were not written */
    }
    hg_store_batch_destroy (&copy);
    hg_store_batch_destroy (&merge);
    hg_store_close (&orphan);
    if (rc == 0) {
        rc = hg_remove_tree (path, err);
        hg_info ("adopted", "store=%s outbox=%zu keys=%zu", path, n_outbox, n_copied);
    }
    return rc;
}

/* Adopts every slot whose lock is free and whose store still exists. */
static void
s_adopt_orphans (hg_service_t *self)
{
    for (int k = 0; k < self->slots; k++) {
        char path[PATH_MAX], current[PATH_MAX + 16];
        hg_slot_path (path, sizeof (path), self->slot_dir, self->slot_prefix, k);
        snprintf (current, sizeof (current), "%s/CURRENT", path);
        if (k == self->slot || access (current, F_OK) != 0) {
            continue;
        }
        hg_err_t err = {0};
        int fd = hg_slot_try (self->slot_dir, self->slot_prefix, k, &err);
        if (fd == HG_EAGAIN) {
            continue;    /* a live replica */
        }
        if (fd < 0 || s_adopt (self, path, &err) < 0) {
            hg_error ("adopt_failed", "slot=%d err=\"%s\"", k, err.msg);
        }
        if (fd >= 0) {
            close (fd);
        }
    }
}

static int
s_loop (hg_service_t *self)
{
    hg_delivery_t *deliveries = calloc (self->batch_max, sizeof (*deliveries));
    hg_store_batch_t *wb = hg_store_batch_new ();
    int status = 0;
    while (!s_terminated) {
        zmq_pollitem_t items[160];
        size_t n = 0;
        items[n++] = (zmq_pollitem_t) {self->control, 0, ZMQ_POLLIN, 0};
        size_t auth_at = n;
        if (self->auth) {
            items[n++] = (zmq_pollitem_t) {hg_curve_auth_socket (self->auth), 0, ZMQ_POLLIN, 0};
        }
        size_t server_at = n;
        if (self->server) {
            items[n++] = (zmq_pollitem_t) {hg_link_server_socket (self->server), 0, ZMQ_POLLIN, 0};
        }
        size_t client_at = n;
        if (self->client) {
            n += hg_link_client_pollitems (self->client, items + n, 100 - n);
        }
        size_t client_end = n;
        size_t extra_at = n;
        if (self->def->extra_items) {
            n += self->def->extra_items (self, self->state, items + n, 160 - n);
        }
        long timeout = (long) self->link_opts.heartbeat_ms / 2;
        if (zmq_poll (items, (int) n, timeout) < 0) {
            if (errno == EINTR) {
                continue;
            }
            hg_error ("poll_failed", "err=\"%s\"", zmq_strerror (errno));
            status = 1;
            break;
        }
        uint64_t now = hg_now_ms ();
        if (items[0].revents & ZMQ_POLLIN) {
            s_control_handle (self);
        }
        if (self->auth && (items[auth_at].revents & ZMQ_POLLIN)) {
            *hg_service_counter (self, "auth_refused") += (uint64_t) hg_curve_auth_handle (self->auth);
        }
        if (s_reload) {
            s_reload = 0;
            hg_err_t rerr = {0};
            if (self->auth && hg_curve_auth_reload (self->auth, &rerr) < 0) {
                hg_error ("reload_failed", "err=\"%s\"", rerr.msg);
            }
            else {
                (*hg_service_counter (self, "reloads"))++;
                hg_info ("reloaded", "what=allow-lists");
            }
            if (self->def->reload) {
                self->def->reload (self, self->state);
            }
        }
        if (self->server && (items[server_at].revents & ZMQ_POLLIN)) {
            hg_link_server_handle (self->server, now);
        }
        hg_err_t err = {0};
        bool extra_ready = false;
        for (size_t i = extra_at; i < n; i++) {
            extra_ready |= items[i].revents != 0;
        }
        if (extra_ready && self->def->on_extra (self, self->state, items + extra_at, n - extra_at,
                                                &err) < 0) {
            hg_error ("fatal", "err=\"%s\"", err.msg);
            status = 1;
            break;
        }
        bool client_ready = false;
        for (size_t i = client_at; i < client_end; i++) {
            client_ready |= (items[i].revents & ZMQ_POLLIN) != 0;
        }
        if (client_ready) {
            size_t got = hg_link_client_recv (self->client, deliveries, self->batch_max,
                                              self->batch_max_bytes, now);
            if (got) {
                uint64_t t0 = hg_now_ms ();
                if (s_consume (self, deliveries, got, wb, &err) < 0) {
                    /* not acknowledged: upstream redelivers after we exit */
                    hg_error ("fatal", "stage=commit err=\"%s\"", err.msg);
                    status = 1;
                    break;
                }
                hg_store_batch_clear (wb);
                hg_link_client_ack (self->client, deliveries, got,
                                    (uint32_t) hg_service_outbox_room (self), hg_now_ms ());
                hg_debug ("committed", "n=%zu ms=%llu", got,
                          (unsigned long long) (hg_now_ms () - t0));
            }
        }
        if (self->server) {
            hg_link_server_tick (self->server, now);
        }
        if (self->client) {
            hg_link_client_tick (self->client, (uint32_t) hg_service_outbox_room (self), now);
        }
        if (self->slots > 0 && now >= self->adopt_at_ms) {
            s_adopt_orphans (self);
            self->adopt_at_ms = hg_now_ms () + self->adopt_ms;
        }
        if (self->metrics && now >= self->metrics_at_ms) {
            s_metrics_publish (self);
            self->metrics_at_ms = now + 250;
        }
    }
    hg_store_batch_destroy (&wb);
    free (deliveries);
    return status;
}

static void
s_teardown (hg_service_t *self)
{
    if (self->def->destroy && self->state) {
        self->def->destroy (&self->state);
    }
    hg_metrics_stop (&self->metrics);
    hg_link_client_destroy (&self->client);
    hg_link_server_destroy (&self->server);
    hg_curve_auth_destroy (&self->auth);
    sodium_memzero (&self->curve, sizeof (self->curve));
    if (self->control) {
        int linger = 0;
        zmq_setsockopt (self->control, ZMQ_LINGER, &linger, sizeof (linger));
        zmq_close (self->control);
    }
    if (self->zctx) {
        zmq_ctx_term (self->zctx);
    }
    hg_store_close (&self->store);
    if (self->slot_fd >= 0) {
        close (self->slot_fd);
    }
    hg_config_destroy (&self->config);
    free (self->emitted);
}

int
hg_service_main (const hg_service_def_t *def, int argc, char **argv)
{
    if (sodium_init () < 0) {
        fprintf (stderr, "hourglass-%s: libsodium failed to initialise\n", def->name);
        return 1;
    }
    struct sigaction sa = {0};
    sa.sa_handler = s_on_signal;
    sigemptyset (&sa.sa_mask);
    sigaction (SIGTERM, &sa, NULL);
    sigaction (SIGINT, &sa, NULL);
    sigaction (SIGHUP, &sa, NULL);
    signal (SIGPIPE, SIG_IGN);

    hg_service_t *self = calloc (1, sizeof (*self));
    self->def = def;
    self->started_us = hg_wall_us ();
    hg_err_t err = {0};
    int rc = s_setup (self, argc, argv, &err);
    int status;
    if (rc == 1) {
        status = 0;    /* --help */
    }
    else if (rc < 0) {
        fprintf (stderr, "hourglass-%s: %s\n", def->name, err.msg);
        hg_error ("start_failed", "err=\"%s\"", err.msg);
        status = 2;
    }
    else {
        status = s_loop (self);
        hg_info ("stopped", "status=%d", status);
    }
    s_teardown (self);
    free (self);
    return status;
}
