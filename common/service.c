/*
 * service.c -- the shared service runtime's lifecycle (options, set-up,
 * teardown, signals), its event loop, and emit and commit. The control
 * socket is in service_control.c, a round's de-duplication in consume.c,
 * slot adoption in adopt.c, counters in counters.c. See service.h.
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
#include "keyfile.h"
#include "log.h"
#include "service_internal.h"
#include "slot.h"
#include "util.h"
#include "zmsg.h"

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
    {"data_dir", HG_OPT_STRING, "",
     "directory of this instance's RocksDB (default ./var/<name>)"},
    {"control", HG_OPT_STRING, "", "control endpoint to bind (health, stats, queries)"},
    {"log_level", HG_OPT_STRING, "info", "debug, info, warn or error"},
    {"heartbeat_ms", HG_OPT_INT, "1000", "heartbeat interval on every link"},
    {"liveness", HG_OPT_INT, "3", "missed heartbeats before a peer is declared dead"},
    {"window", HG_OPT_INT, "256", "envelopes this instance holds per upstream (credit)"},
    {"credit_bytes", HG_OPT_INT, "67108864",
     "envelope bytes this instance holds per upstream (byte credit, with window): an upstream "
     "sends more only while they fit, or one envelope of any size when this instance holds none "
     "of its; 0: credit counts envelopes only (as before, and as with an upstream that predates "
     "byte credit)"},
    {"batch_max", HG_OPT_INT, "256", "envelopes per group commit"},
    {"frame_max", HG_OPT_INT, "64", "envelopes per DELIVER message"},
    {"frame_max_bytes", HG_OPT_INT, "4194304",
     "payload bytes per DELIVER message (at least one envelope)"},
    {"batch_max_bytes", HG_OPT_INT, "16777216",
     "payload bytes per group commit: bounds a round so heartbeats keep flowing"},
    {"max_envelope_bytes", HG_OPT_INT, "268435456",
     "largest envelope a link takes from an upstream (ZMQ_MAXMSGSIZE of this instance's link "
     "sockets): an upstream sending a larger frame is disconnected; give every stage the same "
     "value, above the collector's max_payload_bytes + 64 KiB"},
    {"outbox_max", HG_OPT_INT, "20000",
     "unacknowledged outbox entries before this stage stops taking input"},
    {"sync", HG_OPT_BOOL, "true", "fsync every commit (durable acknowledgements)"},
    {"store_min_free_mb", HG_OPT_INT, "64",
     "after a write found the disk full, resume once this much space is free (MiB)"},
    {"compression", HG_OPT_STRING, "lz4", "RocksDB compression: lz4, snappy, zstd, none"},
    {"compaction", HG_OPT_STRING, "level",
     "RocksDB compaction style: level, or universal (data rewritten fewer times; needs free "
     "disk for up to twice the store while it compacts; see docs/performance.md)"},
    {"block_cache_mb", HG_OPT_INT, "32",
     "RocksDB block cache (MiB): an indexer answering analytics over millions of records reads "
     "its columns faster from a larger one (docs/performance.md)"},
    {"curve_key", HG_OPT_STRING, "",
     "this instance's CurveZMQ key file (hourglass keygen); empty: links are plaintext"},
    {"curve_allow", HG_OPT_STRING, "",
     "allow-list of downstream instances' public keys ('<z85> <name>' lines), with curve_key"},
    {"keys_hint", HG_OPT_STRING, "",
     "how this deployment makes its key files, said when one is missing (e.g. "
     "deploy/make-link-keys.sh); empty: hourglass keygen"},
    {"control_allow", HG_OPT_STRING, "",
     "with curve_key: allow-list of the keys the control socket answers, '<z85> <role>:<name>' "
     "lines (roles operator, analytics, health: docs/security.md \"Control plane\")"},
    {"slots", HG_OPT_INT, "0",
     "replicas sharing one volume (compose, Swarm, cluster up): claim the first free of this "
     "many slots under data_dir, instance <name>-<k>, store <data_dir>/<name>-<k>; 0: off"},
    {"slot", HG_OPT_INT, "-1",
     "with slots: the slot to claim if it is free (a launcher that names its replicas); "
     "-1: the lowest free one"},
    {"adopt_ms", HG_OPT_INT, "5000",
     "with slots: how often to look for slots of replicas that are gone and adopt their data"},
    {"discover_ms", HG_OPT_INT, "2000",
     "how often dns+tcp:// upstream endpoints are re-resolved to find new or gone instances"},
    {"metrics", HG_OPT_STRING, "",
     "serve Prometheus /metrics and /health over HTTP on PORT (loopback only) or IPv4:PORT "
     "(0.0.0.0:PORT exposes them to the network: docs/security.md); empty: off"},
    {"fingerprint_key", HG_OPT_STRING, "",
     "key of the log fingerprints of partner-chosen ids (32 bytes, mode 0600; created on "
     "first start; empty: fingerprint.key beside the store directory); give every service "
     "the same file so `hourglass fingerprint` matches all their logs"},
    {NULL, 0, NULL, NULL},
};

static void
s_build_options (hg_service_t *self)
{
    const hg_service_def_t *def = self->def;
    size_t n = 0;
    int base = def->base_port;
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
        snprintf (self->defaults[1], sizeof (self->defaults[1]), "tcp://127.0.0.1:%d",
                  def->upstream_base_port + 1);
        self->opts[n++] = (hg_opt_t) {"upstream", HG_OPT_STRING, self->defaults[1],
                                      "comma-separated deliver endpoints of every upstream "
                                      "instance"};
        self->opts[n++] = (hg_opt_t) {"upstream_key", HG_OPT_STRING, "",
                                      "upstream public key(s), Z85 or .pub files: one for all "
                                      "or one per upstream endpoint (with curve_key)"};
    }
    if (def->produces) {
        snprintf (self->defaults[2], sizeof (self->defaults[2]), "tcp://127.0.0.1:%d", base + 1);
        self->opts[n++] = (hg_opt_t) {"deliver", HG_OPT_STRING, self->defaults[2],
                                      "endpoint to bind for downstream instances"};
    }
    self->opts[n] = (hg_opt_t) {NULL, 0, NULL, NULL};
}

uint64_t *
hg_service_counter (hg_service_t *self, const char *name)
{
    return hg_counters_get (self->counters, name);
}

bool
hg_service_refusing (hg_service_t *self, const char **why)
{
    if (why) {
        *why = self->refusing ? self->refusing_why : "";
    }
    return self->refusing;
}

bool
hg_service_terminated (void)
{
    return s_terminated != 0;
}

int
hg_service_connect_upstream (hg_service_t *self, hg_err_t *err)
{
    int shard = self->def->shard_option
                    ? (int) hg_config_int (self->config, self->def->shard_option)
                    : -1;
    self->client = hg_link_client_new (self->zctx, hg_config_str (self->config, "upstream"),
                                       self->instance, shard, &self->link_opts, err);
    if (self->client && self->draining) {
        /* reconnected after a full disk: still drained */
        hg_link_client_drain (self->client, true, 0, hg_now_ms ());
    }
    return self->client ? 0 : HG_EINVAL;
}

void
hg_service_partner_count (hg_service_t *self, const char *name, const char *partner, uint64_t n)
{
    hg_partner_counts_add (self->partner_counts, name, partner, n);
}

void
hg_service_counters_fold (hg_service_t *self)
{
    if (self->server) {
        uint64_t r = hg_link_server_stats (self->server).redelivered;
        *hg_service_counter (self, "redelivered") += r - self->redelivered_seen;
        self->redelivered_seen = r;
    }
}

hg_config_t *
hg_service_config (hg_service_t *self)
{
    return self->config;
}
hg_store_t *
hg_service_store (hg_service_t *self)
{
    return self->store;
}
void *
hg_service_zctx (hg_service_t *self)
{
    return self->zctx;
}
const char *
hg_service_instance (hg_service_t *self)
{
    return self->instance;
}

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

int
hg_service_emitted_push (hg_service_t *self, uint64_t seq, int shard, size_t bytes, hg_err_t *err)
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
    self->emitted[self->n_emitted].bytes = bytes;
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
    return hg_service_emitted_push (self, seq, env->shard, len, err);
}

int
hg_service_emit_records (hg_service_t *self, hg_store_batch_t *wb,
                         const Hourglass__Envelope *from, const char *id, int shard,
                         Hourglass__Record **records, size_t n, hg_err_t *err)
{
    Hourglass__RecordBatch rb = HOURGLASS__RECORD_BATCH__INIT;
    rb.n_records = n;
    rb.records = records;
    size_t len = hourglass__record_batch__get_packed_size (&rb);
    uint8_t *buf = malloc (len ? len : 1);
    if (!buf) {
        return hg_err_set (err, HG_ENOMEM, "out of memory packing %zu records", n);
    }
    hourglass__record_batch__pack (&rb, buf);
    Hourglass__Envelope out = HOURGLASS__ENVELOPE__INIT;
    out.id = (char *) id;
    out.partner = from->partner;
    out.format = from->format;
    out.payload_type = HOURGLASS__PAYLOAD_TYPE__PAYLOAD_RECORDS;
    out.payload.data = buf;
    out.payload.len = len;
    out.shard = shard;
    out.record_count = (uint32_t) n;
    int rc = hg_service_emit (self, wb, &out, from, err);
    free (buf);
    return rc;
}

int
hg_service_commit (hg_service_t *self, hg_store_batch_t *wb, hg_err_t *err)
{
    uint64_t t0 = hg_now_us ();
    (*hg_service_counter (self, "commits"))++;
    hg_service_counters_fold (self);
    hg_counters_put (self->counters, wb);
    int rc = hg_store_write (self->store, wb, true, err);
    if (rc == HG_ENOSPC) {
        hg_service_refuse (self, err);
        return rc;
    }
    if (rc < 0) {
        return HG_EIO;
    }
    *hg_service_counter (self, "commit_us") += hg_now_us () - t0;
    self->committed_us = hg_wall_us ();
    for (size_t i = 0; self->server && i < self->n_emitted; i++) {
        hg_link_server_enqueue (self->server, self->emitted[i].seq, self->emitted[i].shard,
                                self->emitted[i].bytes);
    }
    self->n_emitted = 0;
    return 0;
}

/* ---- main ---------------------------------------------------------------- */

/* The instance's name and store directory (dir, PATH_MAX bytes): a
 * replica's (option slots) from the first free slot it claims, else from
 * options name and data_dir. */
static int
s_setup_instance (hg_service_t *self, char *dir, hg_err_t *err)
{
    const char *name = hg_config_str (self->config, "name");
    const char *data_dir = hg_config_str (self->config, "data_dir");
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
        hg_slot_path (dir, PATH_MAX, self->slot_dir, self->slot_prefix, self->slot);
        self->adopt_ms = (uint64_t) hg_config_int (self->config, "adopt_ms");
    }
    else {
        if (*name) {
            snprintf (self->instance, sizeof (self->instance), "%s", name);
        }
        else {
            snprintf (self->instance, sizeof (self->instance), "%s-0", self->def->name);
        }
        snprintf (dir, PATH_MAX, "%s", *data_dir ? data_dir : "");
        if (!*data_dir) {
            snprintf (dir, PATH_MAX, "./var/%s", self->instance);
        }
    }
    return 0;
}

/* The key of the log fingerprints (log.h): option fingerprint_key, else
 * fingerprint.key in the directory holding the store dir (the volume of
 * replicas' slots; ./var by default), created on first start. */
static int
s_setup_fingerprint (hg_service_t *self, const char *dir, hg_err_t *err)
{
    static const hg_keyfile_kind_t kind = {
        .what = "log fingerprint key",
        .creator = "the service",
        .on_new = "no log needs matching any more, since a new key changes every "
                  "fingerprint",
    };
    char path[PATH_MAX];
    const char *opt = hg_config_str (self->config, "fingerprint_key");
    if (*opt) {
        snprintf (path, sizeof (path), "%s", opt);
    }
    else {
        const char *slash = strrchr (dir, '/');
        int n = slash ? (int) (slash - dir) : 0;
        snprintf (path, sizeof (path), "%.*s%sfingerprint.key", n, dir, slash ? "/" : "");
    }
    unsigned char key[HG_KEYFILE_BYTES];
    if (hg_keyfile_load (path, true, &kind, key, err) < 0) {
        return err->code;
    }
    hg_log_fingerprint_key (key);
    sodium_memzero (key, sizeof (key));
    return 0;
}

/* Link options and the bounds of a round, read and checked. */
static int
s_setup_limits (hg_service_t *self, hg_err_t *err)
{
    self->link_opts.heartbeat_ms = (uint64_t) hg_config_int (self->config, "heartbeat_ms");
    self->link_opts.liveness = (uint32_t) hg_config_int (self->config, "liveness");
    self->link_opts.frame_max = (uint32_t) hg_config_int (self->config, "frame_max");
    self->link_opts.window = (uint32_t) hg_config_int (self->config, "window");
    int64_t credit_bytes = hg_config_int (self->config, "credit_bytes");
    if (credit_bytes < 0) {
        return hg_err_set (err, HG_EINVAL,
                           "credit_bytes must be 0 (envelope credit only) or a byte count, not "
                           "%lld",
                           (long long) credit_bytes);
    }
    self->link_opts.credit_bytes = (uint64_t) credit_bytes;
    self->batch_max = (size_t) hg_config_int (self->config, "batch_max");
    self->batch_max_bytes = (size_t) hg_config_int (self->config, "batch_max_bytes");
    self->link_opts.frame_max_bytes = (size_t) hg_config_int (self->config, "frame_max_bytes");
    self->outbox_max = (size_t) hg_config_int (self->config, "outbox_max");
    int64_t max_env = hg_config_int (self->config, "max_envelope_bytes");
    if (max_env < HG_ZMSG_ENVELOPE_OVERHEAD) {
        return hg_err_set (err, HG_EINVAL, "max_envelope_bytes must be at least %lld",
                           (long long) HG_ZMSG_ENVELOPE_OVERHEAD);
    }
    self->link_opts.max_envelope_bytes = (size_t) max_env;
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
    return 0;
}

/* Every key file the options name exists: a missing one is named with the
 * command that makes it (option keys_hint, set by the deployment). */
static int
s_check_key_files (hg_service_t *self, hg_err_t *err)
{
    const char *opts[] = {"curve_key", "curve_allow", "control_allow", "upstream_key"};
    const char *hint = hg_config_str (self->config, "keys_hint");
    for (size_t i = 0; i < sizeof (opts) / sizeof (opts[0]); i++) {
        bool declared = strcmp (opts[i], "upstream_key") != 0 || self->def->consumes;
        const char *v = declared ? hg_config_str (self->config, opts[i]) : "";
        char first[PATH_MAX];
        size_t n = strcspn (v, ",");
        snprintf (first, sizeof (first), "%.*s", (int) n, v);
        /* a path (upstream_key may also be a Z85 key itself) */
        if (!*first || !strchr (first, '/') || access (first, F_OK) == 0) {
            continue;
        }
        if (*hint) {
            return hg_err_set (err, HG_ENOTFOUND,
                               "the key file %s (option %s) does not exist: make the keys with "
                               "%s",
                               first, opts[i], hint);
        }
        return hg_err_set (err, HG_ENOTFOUND,
                           "the key file %s (option %s) does not exist: create a key pair with "
                           "hourglass keygen --out NAME (a local cluster: hourglass cluster up "
                           "--secure makes all of them)",
                           first, opts[i]);
    }
    return 0;
}

/* The control socket, and CurveZMQ when curve_key is set: the key pair,
 * the upstream keys, the ZAP handler with the control allow-list (the
 * control socket then is a CURVE server) and the downstream one. */
static int
s_setup_sockets (hg_service_t *self, hg_err_t *err)
{
    self->control = hg_zsock_new (self->zctx, ZMQ_ROUTER, HG_ZMSG_CONTROL_REQUEST_MAX);
    const char *curve_key = hg_config_str (self->config, "curve_key");
    if (*curve_key && s_check_key_files (self, err) < 0) {
        return err->code;
    }
    if (*curve_key) {
        if (hg_curve_load_keypair (curve_key, &self->curve, err) < 0) {
            return err->code;
        }
        self->secure = true;
        self->link_opts.curve = &self->curve;
        if (self->def->consumes) {
            self->link_opts.upstream_keys = hg_config_str (self->config, "upstream_key");
            if (!*self->link_opts.upstream_keys) {
                return hg_err_set (err, HG_EINVAL,
                                   "curve_key is set but upstream_key is not: "
                                   "give the upstream instances' public keys");
            }
        }
    }
    if (self->secure) {
        self->auth = hg_curve_auth_new (self->zctx, err);
        if (!self->auth) {
            return err->code;
        }
        /* the control socket answers only keys of control_allow, by role */
        const char *control_allow = hg_config_str (self->config, "control_allow");
        if (!*control_allow) {
            return hg_err_set (err, HG_EINVAL,
                               "curve_key is set but control_allow is not: give the "
                               "allow-list of the keys (operator, analytics) that may use "
                               "the control socket");
        }
        if (hg_curve_auth_allow (self->auth, "control", control_allow, err) < 0
            || hg_curve_make_server (self->control, &self->curve, "control", err) < 0) {
            return err->code;
        }
    }
    const char *control = hg_config_str (self->config, "control");
    if (zmq_bind (self->control, control) < 0) {
        return hg_err_set (err, HG_EIO, "cannot bind control endpoint %s: %s", control,
                           zmq_strerror (errno));
    }
    if (self->secure) {
        const char *allow = hg_config_str (self->config, "curve_allow");
        if (self->def->produces && !*allow) {
            return hg_err_set (err, HG_EINVAL,
                               "curve_key is set but curve_allow is not: give "
                               "the allow-list of downstream instances' public keys");
        }
        if (*allow && hg_curve_auth_allow (self->auth, "services", allow, err) < 0) {
            return err->code;
        }
    }
    return 0;
}

/* The store; on a disk too full to open it, waits for space (logging once)
 * instead of failing, so a restart on a full disk resumes by itself. */
static int
s_open_store (hg_service_t *self, const char *dir, hg_err_t *err)
{
    bool logged = false;
    while (!(self->store = hg_store_open (dir, &self->store_opts, err))) {
        if (err->code != HG_ENOSPC || s_terminated) {
            return HG_EIO;
        }
        if (!logged) {
            hg_warn ("disk_full", "waiting=space to open the store err=\"%s\"", err->msg);
            logged = true;
        }
        sleep (1);
    }
    if (logged) {
        hg_info ("disk_space_recovered", "opened=%s", dir);
    }
    return 0;
}

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
    char dir[PATH_MAX];
    if ((rc = s_setup_instance (self, dir, err)) < 0) {
        return rc;
    }
    int level = hg_log_level_parse (hg_config_str (self->config, "log_level"));
    if (level < 0) {
        return hg_err_set (err, HG_EINVAL, "log_level '%s' is not debug, info, warn or error",
                           hg_config_str (self->config, "log_level"));
    }
    hg_log_init (self->def->name, self->instance, (hg_log_level_t) level);
    if ((rc = s_setup_limits (self, err)) < 0) {
        return rc;
    }
    if (hg_mkdirs (dir, 0700, err) < 0) {
        return HG_EIO;
    }
    if ((rc = s_setup_fingerprint (self, dir, err)) < 0) {
        return rc;
    }
    int64_t cache_mb = hg_config_int (self->config, "block_cache_mb");
    if (cache_mb < 1 || cache_mb > (1 << 20)) {
        return hg_err_set (err, HG_EINVAL, "block_cache_mb must be 1 to 1048576 (MiB), not %lld",
                           (long long) cache_mb);
    }
    self->store_opts = (hg_store_opts_t) {
        .sync = hg_config_bool (self->config, "sync"),
        .compression = hg_config_str (self->config, "compression"),
        .compaction = hg_config_str (self->config, "compaction"),
        .block_cache_bytes = (size_t) cache_mb << 20,
    };
    self->min_free_bytes = (uint64_t) hg_config_int (self->config, "store_min_free_mb") << 20;
    if ((rc = s_open_store (self, dir, err)) < 0) {
        return rc;
    }
    self->counters = hg_counters_new ();
    self->partner_counts = hg_partner_counts_new ();
    if (!self->counters) {
        return hg_err_set (err, HG_ENOMEM, "out of memory");
    }
    hg_counters_load (self->counters, self->store);
    self->zctx = zmq_ctx_new ();
    if ((rc = s_setup_sockets (self, err)) < 0) {
        return rc;
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
    if (self->def->consumes && (rc = hg_service_connect_upstream (self, err)) < 0) {
        return rc;
    }
    const char *metrics = hg_config_str (self->config, "metrics");
    if (*metrics) {
        self->metrics = hg_metrics_start (metrics, self->def->name, self->instance, err);
        if (!self->metrics) {
            return HG_EIO;
        }
        hg_service_metrics_publish (self);
    }
    hg_info ("started", "pid=%d data_dir=%s control=%s metrics=%s", (int) getpid (), dir,
             hg_config_str (self->config, "control"), *metrics ? metrics : "off");
    return 0;
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
            items[n++] = (zmq_pollitem_t) {hg_link_server_socket (self->server), 0, ZMQ_POLLIN,
                                           0};
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
            hg_service_control_handle (self);
        }
        if (self->auth && (items[auth_at].revents & ZMQ_POLLIN)) {
            *hg_service_counter (self,
                                 "auth_refused") += (uint64_t) hg_curve_auth_handle (self->auth);
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
        if (extra_ready) {
            int xrc = self->def->on_extra (self, self->state, items + extra_at, n - extra_at,
                                           &err);
            if (xrc < 0 && xrc != HG_ENOSPC) { /* disk full: answered BUSY, refusing */
                hg_error ("fatal", "err=\"%s\"", err.msg);
                status = 1;
                break;
            }
        }
        bool client_ready = false;
        for (size_t i = client_at; i < client_end; i++) {
            client_ready |= (items[i].revents & ZMQ_POLLIN) != 0;
        }
        if (client_ready) {
            size_t got = hg_link_client_recv (self->client, deliveries, self->batch_max,
                                              self->batch_max_bytes, now);
            if (got && self->slots > 0) {
                /* a replica that died with deliveries committed but their acks
                 * not yet sent has them redelivered to us at once: its store
                 * adopted first (its de-dup markers with it), they are
                 * duplicates here instead of being processed and counted twice */
                hg_service_adopt_orphans (self, true);
            }
            if (got) {
                uint64_t t0 = hg_now_ms ();
                int crc = hg_service_consume (self, deliveries, got, wb, &err);
                if (crc == HG_ENOSPC) {
                    /* refusing: not acknowledged, handed out again later */
                    hg_service_drop_deliveries (deliveries, got);
                    hg_store_batch_clear (wb);
                    continue;
                }
                if (crc < 0) {
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
        if (self->refusing && hg_service_recover_tick (self, now, &err) < 0) {
            hg_error ("fatal", "stage=recover err=\"%s\"", err.msg);
            status = 1;
            break;
        }
        if (self->server) {
            hg_link_server_tick (self->server, now);
        }
        if (self->client) {
            hg_link_client_tick (self->client, (uint32_t) hg_service_outbox_room (self), now);
        }
        if (self->slots > 0 && now >= self->adopt_at_ms) {
            hg_service_adopt_orphans (self, false);
            self->adopt_at_ms = hg_now_ms () + self->adopt_ms;
        }
        if (self->metrics && now >= self->metrics_at_ms) {
            hg_service_metrics_publish (self);
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
    hg_counters_destroy (&self->counters);
    hg_partner_counts_destroy (&self->partner_counts);
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
        status = 0; /* --help */
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
