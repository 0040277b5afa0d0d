/*
 * hourglass-collector -- takes partner pushes, journals each batch durably
 * in its outbox before acknowledging it, idempotent on the partner's batch id.
 *
 * Ingest: a ROUTER socket; each request is [identity][empty][PushRequest],
 * each answer [identity][empty][PushReply] carrying the message id
 * "<partner>/<batch id>" (so a REQ or a pipelining DEALER client can match
 * answers to requests). All requests read in one round
 * go into one synced write batch (group commit), then are answered.
 * Backpressure: when the outbox is full the answer is BUSY with a retry
 * delay, so a slow pipeline slows partners down instead of buffering.
 *
 * Every push -- ZeroMQ, MLLP (mllp_server.c) or FHIR over HTTP (fhir_http.c)
 * -- is decided by the pure verdict of admission.c, then journalled here.
 * An MLLP ACK may then wait for the cleanser's verdict: the collector asks
 * the cleansers' control sockets (OUTCOME, as `push --wait` does) for the
 * waiting message ids, on a timerfd, never blocking its loop.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <zmq.h>

#include "admission.h"
#include "dns_endpoint.h"
#include "fhir_http.h"
#include "format.h"
#include "log.h"
#include "mllp_server.h"
#include "quota.h"
#include "service.h"
#include "util.h"
#include "zmsg.h"

#define HG_COLLECTOR_ROUND_MAX 256
#define HG_COLLECTOR_INGEST_HWM 8 /* requests ZeroMQ queues per partner connection */
#define S_VERDICT_MAX 8           /* entries of mllp_verdict_from */
#define S_VERDICT_PEERS_MAX 64    /* cleanser control sockets asked (dns+tcp:// resolved) */
#define S_VERDICT_POLL_MS 5       /* how often a waiting verdict is asked for */
#define S_VERDICT_IDS_MAX 256     /* message ids per OUTCOME request */
/* What partners are told while the journal's disk is full (refuse.c). */
#define HG_COLLECTOR_DISK_FULL                                                             \
    "the collector's disk is full: nothing was stored; retry later (it resumes by itself " \
    "once space is freed)"

static const hg_opt_t s_options[] = {
    {"ingest", HG_OPT_STRING, "tcp://127.0.0.1:5550", "endpoint partners push to"},
    {"max_payload_bytes", HG_OPT_INT, "67108864", "largest accepted batch (bytes)"},
    {"mllp", HG_OPT_STRING, "",
     "HL7 v2 over MLLP: listen on IPv4:PORT (empty: off); each message is ACKed (MSA-1 AA) "
     "only once journalled and, with mllp_verdict_from, parsed"},
    {"mllp_partner", HG_OPT_STRING, "mllp", "partner name of messages received over MLLP"},
    {"mllp_tls_cert", HG_OPT_STRING, "",
     "PEM certificate (chain) for mllp; with mllp_tls_key the listener speaks only MLLP over "
     "TLS"},
    {"mllp_tls_key", HG_OPT_STRING, "",
     "PEM private key (unencrypted, chmod 600) of mllp_tls_cert"},
    {"mllp_tls_ca", HG_OPT_STRING, "",
     "PEM CA certificate(s): with it, MLLP over TLS requires a client certificate signed by it, "
     "and its common name is the partner of the connection's messages (instead of "
     "mllp_partner)"},
    {"mllp_max_conns", HG_OPT_INT, "64", "MLLP connections open at once (at most 128)"},
    {"mllp_inflight_bytes", HG_OPT_INT, "268435456",
     "receive buffers of all MLLP connections together (at least max_payload_bytes + 64 KiB): "
     "a connection whose frame does not fit is closed unanswered, nothing of it stored, and "
     "its sender resends"},
    {"mllp_max_conns_per_addr", HG_OPT_INT, "8",
     "MLLP connections open at once from one IPv4 address"},
    {"mllp_idle_ms", HG_OPT_INT, "60000",
     "an MLLP connection that completes no frame for this long is closed, however many bytes "
     "it trickles (0: never)"},
    {"mllp_verdict_from", HG_OPT_STRING, "",
     "control endpoints of the cleansers (comma-separated; dns+tcp://NAME:PORT: every address "
     "NAME resolves to, re-resolved every discover_ms): with them, an MLLP message in "
     "original acknowledgement mode is answered AA only once parsed, AE with an ERR when "
     "quarantined (empty: AA once journalled)"},
    {"mllp_verdict_keys", HG_OPT_STRING, "",
     "with curve_key: the cleansers' control public keys (.pub files or Z85), one for all or "
     "one per endpoint of mllp_verdict_from; this instance's key must be in their "
     "control_allow as collector:<name>"},
    {"mllp_verdict_timeout_ms", HG_OPT_INT, "3000",
     "longest an MLLP ACK waits for the cleanser's verdict; then AE 'verdict pending' (the "
     "message is journalled; a resend learns the verdict)"},
    {"mllp_junk_keep", HG_OPT_INT, "16",
     "frames that are not HL7 (no MSH) are answered AR and only their first 256 bytes kept, "
     "the latest this many"},
    {"mllp_junk_ttl_s", HG_OPT_INT, "86400", "kept junk frames are deleted after this long"},
    {"http_max_conns", HG_OPT_INT, "64", "HTTP connections open at once"},
    {"http_max_conns_per_addr", HG_OPT_INT, "8",
     "HTTP connections open at once from one IP address"},
    {"http_idle_s", HG_OPT_INT, "30", "an HTTP connection silent this long is closed"},
    {"http_body_timeout_s", HG_OPT_INT, "600",
     "an HTTP body still arriving this long after its headers is dropped and its connection "
     "closed, nothing stored (slow senders cannot hold http_inflight_bytes; 0: no limit)"},
    {"http_inflight_bytes", HG_OPT_INT, "268435456",
     "request bodies held at once across all HTTP connections, being received or waiting for "
     "the journal (at least max_payload_bytes): a body that does not fit (by Content-Length, "
     "or as a chunked body arrives) is answered 503 with Retry-After, nothing of it stored"},
    {"http", HG_OPT_STRING, "",
     "FHIR over HTTP: listen on IPv4:PORT (empty: off); POST /fhir answers 202 only once "
     "journalled"},
    {"http_tokens", HG_OPT_STRING, "",
     "bearer tokens for http: '<token> <partner>' lines (SIGHUP re-reads it; a file that does "
     "not parse keeps the previous tokens)"},
    {"http_tls_cert", HG_OPT_STRING, "",
     "PEM certificate (chain) for http; with http_tls_key the endpoint serves only HTTPS"},
    {"http_tls_key", HG_OPT_STRING, "",
     "PEM private key (unencrypted, chmod 600) of http_tls_cert"},
    {"partner_rate", HG_OPT_INT, "0",
     "quota: batches per second each partner may push on average (0: unlimited)"},
    {"partner_burst", HG_OPT_INT, "0", "quota: burst size per partner (0: 2 x partner_rate)"},
    {"partners", HG_OPT_STRING, "",
     "allow-list of partner public keys ('<z85> <partner>' lines); with curve_key, only these "
     "partners may push and each is known by its key's name (SIGHUP re-reads it)"},
    {NULL, 0, NULL, NULL},
};

typedef hg_dns_endpoint_t verdict_group_t;

typedef struct {
    void *sock;
    size_t group;
    bool resolved; /* in the group's last resolution */
    char endpoint[64];
} verdict_peer_t;

typedef struct {
    void *ingest;                 /* ROUTER facing partners */
    size_t round_max_bytes;       /* batch_max_bytes: request bytes read per ingest round */
    hg_admission_policy_t policy; /* authentication, max_payload_bytes */
    hg_mllp_server_t *mllp;       /* HL7 v2 over MLLP, when configured */
    hg_mllp_tls_t *mllp_tls;      /* its TLS credentials, when configured */
    const char *mllp_partner;
    hg_quota_t *quota;    /* per-partner token buckets */
    hg_fhir_http_t *http; /* FHIR over HTTP, when configured */
    /* the cleansers' verdicts for MLLP ACKs: a DEALER to each control
     * socket (OUTCOME requests), asked again every S_VERDICT_POLL_MS by a
     * timerfd that also drives the idle deadline. Each entry of
     * mllp_verdict_from is a group: "tcp://" one socket, "dns+tcp://NAME:PORT"
     * one per address NAME resolves to, re-resolved every discover_ms (the
     * replicas of a scaled service), as the links find their upstreams. */
    verdict_group_t groups[S_VERDICT_MAX];
    size_t n_groups;
    verdict_peer_t verdict[S_VERDICT_PEERS_MAX]; /* sock NULL: a free slot */
    size_t n_verdict;                            /* slots in use or freed */
    size_t n_polled;                             /* verdict items of the current poll */
    uint64_t discover_ms, discover_at_ms;
    int timer_fd;
    uint64_t timer_period_ms;
    uint64_t junk_keep, junk_ttl_us;
    uint64_t last_expire_ms;
} collector_t;

typedef struct {
    zmq_msg_t identity;
    Hourglass__PushReply reply;
    char message_id[512];
    char reason[600];
} pending_reply_t;

/* An HG_OPT_INT option that must not be negative (then 0). */
static int64_t
s_int_opt (hg_service_t *svc, const char *name)
{
    int64_t v = hg_config_int (hg_service_config (svc), name);
    return v < 0 ? 0 : v;
}

/* The MLLP server with its limits, and the DEALERs asking the cleansers
 * for verdicts. */
/* Under CurveZMQ the cleansers' control sockets answer OUTCOME only to a
 * key of role collector: the i-th verdict DEALER is a CURVE client of the
 * i-th key of mllp_verdict_keys (or of its only one). */
static int
s_verdict_curve (hg_service_t *svc, void *sock, size_t i, hg_err_t *err)
{
    const hg_curve_keypair_t *kp = hg_service_curve (svc);
    if (!kp) {
        return 0;
    }
    char *buf = strdup (hg_service_option (svc, "mllp_verdict_keys"));
    char *keys[S_VERDICT_MAX];
    size_t n = buf ? hg_split_list (buf, keys, S_VERDICT_MAX) : 0;
    char z85[HG_CURVE_Z85_LEN + 1];
    int rc = n == 0 ? hg_err_set (err, HG_EINVAL,
                                  "curve_key is set: mllp_verdict_keys needs the cleansers' "
                                  "control public keys (one for all, or one per endpoint)")
                    : hg_curve_load_public (keys[i < n ? i : 0], z85, err);
    if (rc == 0) {
        rc = hg_curve_make_client (sock, kp, z85, err);
    }
    free (buf);
    return rc;
}

/* A DEALER of group g connected to endpoint, in a free slot; NULL with err. */
static verdict_peer_t *
s_verdict_open (hg_service_t *svc, collector_t *self, size_t g, const char *endpoint,
                hg_err_t *err)
{
    verdict_peer_t *p = NULL;
    for (size_t i = 0; i < self->n_verdict && !p; i++) {
        p = self->verdict[i].sock ? NULL : &self->verdict[i];
    }
    if (!p && self->n_verdict == S_VERDICT_PEERS_MAX) {
        hg_err_set (err, HG_EINVAL, "mllp_verdict_from: more than %d cleansers (at %s)",
                    S_VERDICT_PEERS_MAX, endpoint);
        return NULL;
    }
    p = p ? p : &self->verdict[self->n_verdict++];
    void *d = hg_zsock_new (hg_service_zctx (svc), ZMQ_DEALER, HG_ZMSG_REPLY_MAX);
    int one = 1, zero = 0, hwm = 16;
    zmq_setsockopt (d, ZMQ_IMMEDIATE, &one, sizeof (one)); /* nothing queued for the gone */
    zmq_setsockopt (d, ZMQ_LINGER, &zero, sizeof (zero));
    zmq_setsockopt (d, ZMQ_SNDHWM, &hwm, sizeof (hwm));
    if (s_verdict_curve (svc, d, g, err) < 0) {
        zmq_close (d);
        return NULL;
    }
    if (zmq_connect (d, endpoint) < 0) {
        zmq_close (d);
        hg_err_set (err, HG_EINVAL, "mllp_verdict_from: cannot connect to %s: %s", endpoint,
                    zmq_strerror (errno));
        return NULL;
    }
    *p = (verdict_peer_t) {.sock = d, .group = g, .resolved = true};
    snprintf (p->endpoint, sizeof (p->endpoint), "%s", endpoint);
    return p;
}

/* Resolves the dns+tcp:// groups (at most every discover_ms): a socket per
 * new address, and a socket whose address is no longer listed is closed (a
 * resolver failure keeps what there is). Never fails: a name that resolves
 * to nothing yet (the cleansers still starting) is resolved again later. */
static void
s_verdict_discover (hg_service_t *svc, collector_t *self, uint64_t now_ms)
{
    if (now_ms < self->discover_at_ms) {
        return;
    }
    self->discover_at_ms = now_ms + (self->discover_ms ? self->discover_ms : 2000);
    for (size_t g = 0; g < self->n_groups; g++) {
        verdict_group_t *grp = &self->groups[g];
        if (!grp->dns) {
            continue;
        }
        char found[S_VERDICT_PEERS_MAX][HG_DNS_ENDPOINT_TCP_MAX];
        int n_found = hg_dns_endpoint_resolve (grp, found, S_VERDICT_PEERS_MAX);
        if (n_found < 0) {
            continue; /* resolver trouble: keep what we have */
        }
        for (size_t i = 0; i < self->n_verdict; i++) {
            self->verdict[i].resolved &= self->verdict[i].group != g;
        }
        for (int f = 0; f < n_found; f++) {
            const char *endpoint = found[f];
            verdict_peer_t *known = NULL;
            for (size_t i = 0; i < self->n_verdict && !known; i++) {
                verdict_peer_t *p = &self->verdict[i];
                known = p->sock && p->group == g && strcmp (p->endpoint, endpoint) == 0 ? p
                                                                                        : NULL;
            }
            hg_err_t err = {0};
            if (known) {
                known->resolved = true;
            }
            else if (s_verdict_open (svc, self, g, endpoint, &err)) {
                hg_info ("verdict_cleanser_found", "name=%s endpoint=%s", grp->host, endpoint);
            }
            else {
                hg_warn ("verdict_cleanser_unusable", "name=%s endpoint=%s err=\"%s\"", grp->host,
                         endpoint, err.msg);
            }
        }
        for (size_t i = 0; i < self->n_verdict; i++) {
            verdict_peer_t *p = &self->verdict[i];
            if (p->sock && p->group == g && !p->resolved) {
                hg_info ("verdict_cleanser_gone", "name=%s endpoint=%s", grp->host, p->endpoint);
                zmq_close (p->sock);
                p->sock = NULL;
            }
        }
    }
}

static int
s_init_mllp (hg_service_t *svc, collector_t *self, hg_err_t *err)
{
    self->timer_fd = -1;
    const char *mllp = hg_service_option (svc, "mllp");
    if (!*mllp) {
        return 0;
    }
    const char *from = hg_service_option (svc, "mllp_verdict_from");
    hg_mllp_server_opts_t o = {
        .listen = mllp,
        .max_payload_bytes = self->policy.max_payload_bytes,
        .max_inflight_bytes = (size_t) s_int_opt (svc, "mllp_inflight_bytes"),
        .max_conns = (size_t) s_int_opt (svc, "mllp_max_conns"),
        .max_conns_per_addr = (size_t) s_int_opt (svc, "mllp_max_conns_per_addr"),
        .idle_ms = (uint64_t) s_int_opt (svc, "mllp_idle_ms"),
        .verdict_timeout_ms = *from ? (uint64_t) s_int_opt (svc, "mllp_verdict_timeout_ms") : 0,
    };
    if (o.max_inflight_bytes < o.max_payload_bytes + 65536) {
        return hg_err_set (err, HG_EINVAL,
                           "mllp_inflight_bytes (%zu) is below max_payload_bytes + 64 KiB (%zu): "
                           "a message of the largest accepted size would never fit",
                           o.max_inflight_bytes, o.max_payload_bytes + 65536);
    }
    const char *cert = hg_service_option (svc, "mllp_tls_cert"),
               *key = hg_service_option (svc, "mllp_tls_key"),
               *ca = hg_service_option (svc, "mllp_tls_ca");
    if (!*cert != !*key || (*ca && !*cert)) {
        return hg_err_set (err, HG_EINVAL,
                           "MLLP over TLS needs both mllp_tls_cert and mllp_tls_key (and "
                           "mllp_tls_ca only with them)");
    }
    if (*cert && !(self->mllp_tls = hg_mllp_tls_new (cert, key, ca, err))) {
        return err->code;
    }
    o.tls = self->mllp_tls;
    self->junk_keep = (uint64_t) s_int_opt (svc, "mllp_junk_keep");
    self->junk_ttl_us = (uint64_t) s_int_opt (svc, "mllp_junk_ttl_s") * 1000000u;
    self->mllp = hg_mllp_server_new (&o, err);
    if (!self->mllp) {
        return err->code;
    }
    self->timer_fd = timerfd_create (CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (self->timer_fd < 0) {
        return hg_err_set (err, HG_EIO, "cannot create timerfd: %s", strerror (errno));
    }
    char list[2048];
    snprintf (list, sizeof (list), "%s", o.verdict_timeout_ms ? from : "");
    for (char *save = NULL, *ep = strtok_r (list, ",", &save); ep;
         ep = strtok_r (NULL, ",", &save)) {
        if (self->n_groups == S_VERDICT_MAX) {
            return hg_err_set (err, HG_EINVAL, "mllp_verdict_from: at most %d endpoints",
                               S_VERDICT_MAX);
        }
        size_t g = self->n_groups++;
        if (hg_dns_endpoint_parse (&self->groups[g], ep, "mllp_verdict_from",
                                   "the cleansers' control sockets", err)
                < 0
            || (!self->groups[g].dns && !s_verdict_open (svc, self, g, ep, err))) {
            return err->code;
        }
    }
    self->discover_ms = (uint64_t) s_int_opt (svc, "discover_ms");
    s_verdict_discover (svc, self, hg_now_ms ());
    hg_info ("mllp_listening", "address=%s tls=%s partner=%s verdict_from=%zu timeout_ms=%llu",
             mllp,
             *ca     ? "client-certificates"
             : *cert ? "on"
                     : "off",
             *ca ? "from-certificate" : self->mllp_partner, self->n_groups,
             (unsigned long long) o.verdict_timeout_ms);
    return 0;
}

static int
s_init (hg_service_t *svc, void **state, hg_err_t *err)
{
    collector_t *self = calloc (1, sizeof (*self));
    if (!self) {
        return hg_err_set (err, HG_ENOMEM, "out of memory");
    }
    *state = self;
    self->timer_fd = -1;
    self->policy.max_payload_bytes = (size_t) hg_config_int (hg_service_config (svc),
                                                             "max_payload_bytes");
    self->round_max_bytes = (size_t) s_int_opt (svc, "batch_max_bytes");
    int64_t max_env = hg_config_int (hg_service_config (svc), "max_envelope_bytes");
    if ((int64_t) self->policy.max_payload_bytes + HG_ZMSG_ENVELOPE_OVERHEAD > max_env) {
        return hg_err_set (err, HG_EINVAL,
                           "max_payload_bytes (%zu) + 64 KiB is over max_envelope_bytes (%lld): "
                           "the cleansers would refuse the largest envelope; raise "
                           "max_envelope_bytes on every stage",
                           self->policy.max_payload_bytes, (long long) max_env);
    }
    /* refuse absurd messages at the transport, before they are buffered; up
     * to twice the limit a request is read and refused with its reason */
    self->ingest = hg_zsock_new (hg_service_zctx (svc), ZMQ_ROUTER,
                                 (int64_t) self->policy.max_payload_bytes * 2
                                     + HG_ZMSG_ENVELOPE_OVERHEAD);
    /* what ZeroMQ holds per partner connection: a few requests, not its default 1000 */
    int rcvhwm = HG_COLLECTOR_INGEST_HWM;
    zmq_setsockopt (self->ingest, ZMQ_RCVHWM, &rcvhwm, sizeof (rcvhwm));
    const char *ep = hg_service_option (svc, "ingest");
    bool tls = *hg_service_option (svc, "http_tls_cert")
               || *hg_service_option (svc, "http_tls_key");
    if (tls && !*hg_service_option (svc, "http")) {
        return hg_err_set (err, HG_EINVAL,
                           "http_tls_cert and http_tls_key need http (the "
                           "address to serve FHIR over HTTPS on)");
    }
    const char *partners = hg_service_option (svc, "partners");
    if (hg_service_curve (svc)) {
        /* partners authenticate with their own key pair; identity comes from it */
        if (!*partners) {
            return hg_err_set (err, HG_EINVAL,
                               "curve_key is set but partners is not: give the "
                               "allow-list of partner public keys");
        }
        if (hg_curve_auth_allow (hg_service_auth (svc), "partners", partners, err) < 0
            || hg_curve_make_server (self->ingest, hg_service_curve (svc), "partners", err) < 0) {
            return err->code;
        }
        self->policy.authenticated = true;
    }
    else if (*partners) {
        return hg_err_set (err, HG_EINVAL,
                           "partners needs curve_key (keys authenticate "
                           "partners only over CurveZMQ)");
    }
    if (zmq_bind (self->ingest, ep) < 0) {
        return hg_err_set (err, HG_EIO, "cannot bind ingest endpoint %s: %s", ep,
                           zmq_strerror (errno));
    }
    int64_t rate = hg_config_int (hg_service_config (svc), "partner_rate");
    int64_t burst = hg_config_int (hg_service_config (svc), "partner_burst");
    if (rate < 0 || burst < 0) {
        return hg_err_set (err, HG_EINVAL, "partner_rate and partner_burst must be >= 0");
    }
    self->quota = hg_quota_new ((double) rate, burst ? (double) burst : 2.0 * (double) rate);
    if (!self->quota) {
        return hg_err_set (err, HG_ENOMEM, "out of memory");
    }
    self->mllp_partner = hg_service_option (svc, "mllp_partner");
    const char *http = hg_service_option (svc, "http");
    if (*http) {
        hg_fhir_http_opts_t o = {
            .listen = http,
            .tokens_file = hg_service_option (svc, "http_tokens"),
            .max_body_bytes = self->policy.max_payload_bytes,
            .max_inflight_bytes = (size_t) s_int_opt (svc, "http_inflight_bytes"),
            .tls_cert = hg_service_option (svc, "http_tls_cert"),
            .tls_key = hg_service_option (svc, "http_tls_key"),
            .max_conns = (unsigned) s_int_opt (svc, "http_max_conns"),
            .max_conns_per_addr = (unsigned) s_int_opt (svc, "http_max_conns_per_addr"),
            .idle_s = (unsigned) s_int_opt (svc, "http_idle_s"),
            .body_timeout_s = (unsigned) s_int_opt (svc, "http_body_timeout_s"),
        };
        self->http = hg_fhir_http_start (&o, err);
        if (!self->http) {
            return err->code;
        }
    }
    return s_init_mllp (svc, self, err);
    return 0;
}

static void
s_destroy (void **state)
{
    collector_t *self = *state;
    hg_mllp_server_destroy (&self->mllp);
    hg_mllp_tls_destroy (&self->mllp_tls);
    for (size_t i = 0; i < self->n_verdict; i++) {
        if (self->verdict[i].sock) {
            zmq_close (self->verdict[i].sock);
        }
    }
    if (self->timer_fd >= 0) {
        close (self->timer_fd);
    }
    hg_quota_destroy (&self->quota);
    hg_fhir_http_stop (&self->http);
    if (self->ingest) {
        int linger = 0;
        zmq_setsockopt (self->ingest, ZMQ_LINGER, &linger, sizeof (linger));
        zmq_close (self->ingest);
    }
    free (self);
    *state = NULL;
}

/* SIGHUP (the runtime's reload hook, after the CurveZMQ allow-lists): the
 * collector re-reads its HTTP tokens. A tokens file that does not parse
 * keeps the tokens in force: a typo neither opens the endpoint nor locks
 * every partner out. */
static void
s_reload (hg_service_t *svc, void *state)
{
    collector_t *self = state;
    if (!self->http) {
        return;
    }
    hg_err_t err = {0};
    size_t partners = 0;
    if (hg_fhir_http_reload_tokens (self->http, &partners, &err) < 0) {
        (*hg_service_counter (svc, "http_tokens_reload_failed"))++;
        hg_error ("http_tokens_reload_failed", "kept=previous err=\"%s\"", err.msg);
    }
    else {
        (*hg_service_counter (svc, "http_tokens_reloaded"))++;
        hg_info ("http_tokens_reloaded", "partners=%zu", partners);
    }
}

/* Polled: the ingest socket always (BUSY answers carry backpressure); with
 * MLLP, the timer and the verdict DEALERs; the MLLP listener and
 * connections only while the outbox has room, so a saturated pipeline
 * slows MLLP senders down through TCP. */
static size_t
s_extra_items (hg_service_t *svc, void *state, zmq_pollitem_t *items, size_t max)
{
    collector_t *self = state;
    size_t n = 0;
    items[n++] = (zmq_pollitem_t) {self->ingest, 0, ZMQ_POLLIN, 0};
    if (self->http) {
        /* always: HTTP requests get a 503 with Retry-After when saturated */
        items[n++] = (zmq_pollitem_t) {NULL, hg_fhir_http_fd (self->http), ZMQ_POLLIN, 0};
    }
    if (!self->mllp) {
        return n;
    }
    items[n++] = (zmq_pollitem_t) {NULL, self->timer_fd, ZMQ_POLLIN, 0};
    self->n_polled = 0;
    for (size_t i = 0; i < self->n_verdict; i++) {
        if (self->verdict[i].sock) {
            items[n++] = (zmq_pollitem_t) {self->verdict[i].sock, 0, ZMQ_POLLIN, 0};
            self->n_polled++;
        }
    }
    if (hg_service_outbox_room (svc) == 0) {
        return n;
    }
    return n + hg_mllp_server_items (self->mllp, items + n, max - n);
}

/* Whether message_id was accepted before: journalled, or earlier in this
 * round (round[0..n_before), not yet committed). */
static bool
s_is_duplicate (hg_service_t *svc, const char *key, size_t key_len, const char *message_id,
                size_t n_before, const pending_reply_t *round)
{
    bool dup = hg_store_exists (hg_service_store (svc), key, key_len);
    for (size_t i = 0; !dup && i < n_before; i++) {
        dup = round[i].reply.status == HOURGLASS__PUSH_REPLY__STATUS__ACCEPTED
              && strcmp (round[i].message_id, message_id) == 0;
    }
    return dup;
}

/* Decides one request (admission.h); for an accepted one, stages its
 * journal writes. req is NULL when it did not decode. */
static void
s_accept (hg_service_t *svc, collector_t *self, const Hourglass__PushRequest *req,
          size_t req_bytes, const char *user_id, hg_store_batch_t *wb, pending_reply_t *pr,
          size_t n_before, pending_reply_t *round)
{
    Hourglass__PushReply *r = &pr->reply;
    hourglass__push_reply__init (r);
    r->message_id = pr->message_id;
    r->reason = pr->reason;
    hg_admission_request_t in = {.decoded = req != NULL,
                                 .request_bytes = req_bytes,
                                 .authenticated_as = user_id};
    if (req) {
        in.partner = req->partner;
        in.batch_id = req->batch_id;
        in.payload_len = req->payload.len;
    }
    hg_admission_t a;
    char key[600];
    int kl = 0;
    if (hg_admission_check_request (&self->policy, &in, &a) == HG_ADMIT_ACCEPT) {
        kl = snprintf (key, sizeof (key), "s/%s", a.message_id);
        bool dup = s_is_duplicate (svc, key, (size_t) kl, a.message_id, n_before, round);
        uint32_t wait_ms = dup ? 0 : hg_quota_take (self->quota, a.partner, hg_now_ms ());
        hg_admission_check_capacity (&a, dup, wait_ms, hg_service_outbox_room (svc));
    }
    r->status = a.status;
    r->retry_after_ms = a.retry_after_ms;
    snprintf (pr->message_id, sizeof (pr->message_id), "%s", a.message_id);
    snprintf (pr->reason, sizeof (pr->reason), "%s", a.reason);
    if (a.counter) {
        (*hg_service_counter (svc, a.counter))++;
        const char *per_partner = strcmp (a.counter, "over_quota") == 0 ? "busy" : a.counter;
        hg_service_partner_count (svc, per_partner, a.partner, 1);
    }
    if (a.verdict == HG_ADMIT_PARTNER_MISMATCH) {
        /* the claimed name is the client's string: its fingerprint only */
        hg_warn ("partner_mismatch", "authenticated=%s claimed_fingerprint=%s", user_id,
                 HG_LOG_FP (req->partner));
    }
    if (a.verdict != HG_ADMIT_ACCEPT) {
        return;
    }
    Hourglass__Envelope env = HOURGLASS__ENVELOPE__INIT;
    env.id = pr->message_id;
    env.partner = (char *) a.partner;
    env.format = req->format;
    env.payload_type = hg_format_type (req->format); /* unknown: quarantined downstream */
    env.payload = req->payload;
    env.shard = -1;
    hg_err_t err = {0};
    if (hg_service_emit (svc, wb, &env, NULL, &err) < 0) {
        r->status = HOURGLASS__PUSH_REPLY__STATUS__BUSY;
        r->retry_after_ms = 100;
        snprintf (pr->reason, sizeof (pr->reason), "%s", err.msg);
        return;
    }
    hg_store_batch_put (wb, key, (size_t) kl, "", 0);
    r->status = HOURGLASS__PUSH_REPLY__STATUS__ACCEPTED;
    (*hg_service_counter (svc, "received"))++;
    *hg_service_counter (svc, "received_bytes") += req->payload.len;
    hg_service_partner_count (svc, "received", a.partner, 1);
    hg_service_partner_count (svc, "received_bytes", a.partner, req->payload.len);
}

static int
s_on_ingest (hg_service_t *svc, collector_t *self, hg_err_t *err)
{
    pending_reply_t *round = calloc (HG_COLLECTOR_ROUND_MAX, sizeof (*round));
    hg_store_batch_t *wb = hg_store_batch_new ();
    size_t n = 0, bytes = 0;
    int rc = 0;
    while (n < HG_COLLECTOR_ROUND_MAX && (n == 0 || bytes < self->round_max_bytes)) {
        zmq_msg_t parts[3];
        bool truncated;
        int got = hg_zmsg_recv (self->ingest, parts, 3, ZMQ_DONTWAIT, &truncated);
        if (got <= 0) {
            break;
        }
        if (got != 3 || truncated) {
            /* not [identity][empty][request]: ignored */
            hg_zmsg_close (parts, got);
            continue;
        }
        bytes += zmq_msg_size (&parts[2]);
        pending_reply_t *pr = &round[n];
        zmq_msg_init (&pr->identity);
        zmq_msg_move (&pr->identity, &parts[0]);
        Hourglass__PushRequest *req = hourglass__push_request__unpack (NULL,
                                                                       zmq_msg_size (&parts[2]),
                                                                       zmq_msg_data (&parts[2]));
        const char *user_id = self->policy.authenticated ? zmq_msg_gets (&parts[2], "User-Id")
                                                         : NULL;
        s_accept (svc, self, req, zmq_msg_size (&parts[2]), user_id, wb, pr, n, round);
        if (req) {
            hourglass__push_request__free_unpacked (req, NULL);
        }
        for (int i = 0; i < 3; i++) {
            zmq_msg_close (&parts[i]);
        }
        n++;
    }
    if (n > 0) {
        /* durable first, then acknowledge */
        rc = hg_service_commit (svc, wb, err);
        for (size_t i = 0; i < n; i++) {
            if (rc < 0) {
                round[i].reply.status = HOURGLASS__PUSH_REPLY__STATUS__BUSY;
                round[i].reply.retry_after_ms = rc == HG_ENOSPC ? 5000 : 1000;
                snprintf (round[i].reason, sizeof (round[i].reason), "%s",
                          rc == HG_ENOSPC ? HG_COLLECTOR_DISK_FULL : "journal write failed");
            }
            size_t len = hourglass__push_reply__get_packed_size (&round[i].reply);
            zmq_msg_t out;
            zmq_msg_init_size (&out, len);
            hourglass__push_reply__pack (&round[i].reply, zmq_msg_data (&out));
            zmq_msg_send (&round[i].identity, self->ingest, ZMQ_SNDMORE);
            zmq_send (self->ingest, "", 0, ZMQ_SNDMORE);
            zmq_msg_send (&out, self->ingest, 0);
            zmq_msg_close (&round[i].identity);
        }
        hg_debug ("ingest_round", "requests=%zu", n);
    }
    hg_store_batch_destroy (&wb);
    free (round);
    return rc;
}

/* ---- MLLP ------------------------------------------------------------------ */

/* A frame that is not HL7 (no MSH): answered AR and not journalled; its
 * first 256 bytes are kept as J/<slot> (a ring of mllp_junk_keep slots,
 * each deleted after mllp_junk_ttl_s), for an operator to see what a
 * sender sends, never growing. */
static void
s_keep_junk (hg_service_t *svc, collector_t *self, const hg_mllp_message_t *m,
             hg_store_batch_t *wb)
{
    uint64_t *seen = hg_service_counter (svc, "mllp_junk");
    hg_warn ("mllp_junk_frame", "fingerprint=%s bytes=%zu", HG_LOG_FP (m->batch_id), m->msg_len);
    if (self->junk_keep == 0) {
        (*seen)++;
        return;
    }
    Hourglass__QuarantineEntry q = HOURGLASS__QUARANTINE_ENTRY__INIT;
    q.partner = (char *) self->mllp_partner;
    q.format = "mllp";
    q.message_id = (char *) m->batch_id;
    q.location = "frame";
    q.reason = "not an HL7 v2 message (no MSH segment); answered AR, not stored";
    q.excerpt.data = (uint8_t *) m->msg;
    q.excerpt.len = m->msg_len > 256 ? 256 : m->msg_len;
    q.at_us = hg_wall_us ();
    q.payload_bytes = m->msg_len;
    uint8_t buf[1024];
    size_t len = hourglass__quarantine_entry__pack (&q, buf);
    char key[32];
    int kl = snprintf (key, sizeof (key), "J/%llu",
                       (unsigned long long) (*seen % self->junk_keep));
    hg_store_batch_put (wb, key, (size_t) kl, buf, len);
    (*seen)++;
}

/* Deletes kept junk frames older than mllp_junk_ttl_s. */
static int
s_expire_junk (hg_service_t *svc, collector_t *self, hg_err_t *err)
{
    hg_store_batch_t *wb = hg_store_batch_new ();
    hg_store_iter_t *it = hg_store_iter_new (hg_service_store (svc), "J/", 2, NULL, 0);
    const char *k, *v;
    size_t kl, vl, n = 0;
    uint64_t now = hg_wall_us ();
    while (it && hg_store_iter_next (it, &k, &kl, &v, &vl)) {
        Hourglass__QuarantineEntry *q = hourglass__quarantine_entry__unpack (NULL, vl,
                                                                             (const uint8_t *) v);
        if (!q || q->at_us + self->junk_ttl_us <= now) {
            hg_store_batch_delete (wb, k, kl);
            n++;
        }
        hourglass__quarantine_entry__free_unpacked (q, NULL);
    }
    hg_store_iter_destroy (&it);
    int rc = n ? hg_service_commit (svc, wb, err) : 0;
    hg_store_batch_destroy (&wb);
    return rc;
}

/* Decides and journals the messages framed this round in one commit, then
 * has each ACKed (mllp_server.h): AA only once durable (and, with
 * mllp_verdict_from, once parsed). */
static int
s_on_mllp (hg_service_t *svc, collector_t *self, const zmq_pollitem_t *items, size_t n,
           hg_err_t *err)
{
    hg_mllp_message_t *msgs;
    uint64_t now = hg_now_ms ();
    size_t np = hg_mllp_server_receive (self->mllp, items, n, now, &msgs);
    pending_reply_t *verdicts = np ? calloc (np, sizeof (*verdicts)) : NULL;
    hg_store_batch_t *wb = hg_store_batch_new ();
    int rc = (np == 0 || verdicts) && wb ? 0 : hg_err_set (err, HG_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < np; i++) {
        if (msgs[i].not_hl7) {
            msgs[i].status = HOURGLASS__PUSH_REPLY__STATUS__REJECTED;
            msgs[i].reason = "not an HL7 v2 message: no MSH segment; not stored";
            s_keep_junk (svc, self, &msgs[i], wb);
            continue;
        }
        Hourglass__PushRequest req = HOURGLASS__PUSH_REQUEST__INIT;
        /* over TLS with client certificates, the certificate names the partner */
        req.partner = (char *) (msgs[i].partner ? msgs[i].partner : self->mllp_partner);
        req.format = "hl7v2";
        req.batch_id = msgs[i].batch_id;
        req.payload.data = (uint8_t *) msgs[i].msg;
        req.payload.len = msgs[i].msg_len;
        /* earlier messages of the round count as seen: one re-sent in the same round is a
         * duplicate */
        s_accept (svc, self, &req, msgs[i].msg_len, NULL, wb, &verdicts[i], i, verdicts);
        msgs[i].status = verdicts[i].reply.status;
        msgs[i].reason = verdicts[i].reason;
        msgs[i].message_id = verdicts[i].message_id;
    }
    if (rc == 0 && np > 0) {
        rc = hg_service_commit (svc, wb, err); /* durable first, then ACK */
    }
    hg_mllp_server_answer (self->mllp, rc < 0, now);
    hg_store_batch_destroy (&wb);
    free (verdicts);
    return rc;
}

/* Asks every cleanser for the verdicts still waited for. */
static void
s_ask_verdicts (collector_t *self)
{
    const char *ids[S_VERDICT_IDS_MAX];
    size_t n = hg_mllp_server_waiting (self->mllp, ids, S_VERDICT_IDS_MAX);
    if (n == 0) {
        return;
    }
    Hourglass__OutcomeQuery q = HOURGLASS__OUTCOME_QUERY__INIT;
    q.message_ids = (char **) ids;
    q.n_message_ids = n;
    Hourglass__ControlRequest req = HOURGLASS__CONTROL_REQUEST__INIT;
    req.kind = HOURGLASS__CONTROL_REQUEST__KIND__OUTCOME;
    req.outcome = &q;
    size_t len = hourglass__control_request__get_packed_size (&req);
    uint8_t *buf = malloc (len ? len : 1);
    if (!buf) {
        return;
    }
    hourglass__control_request__pack (&req, buf);
    for (size_t i = 0; i < self->n_verdict; i++) {
        /* a cleanser not connected (ZMQ_IMMEDIATE) or behind: asked next time */
        void *d = self->verdict[i].sock;
        if (d && zmq_send (d, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) == 0) {
            zmq_send (d, buf, len, ZMQ_DONTWAIT);
        }
    }
    free (buf);
}

/* Reads the cleansers' OUTCOME replies: each known outcome answers the
 * messages waiting on it, AA when nothing was quarantined, else AE with
 * the ERR of the first reason. */
static void
s_on_verdicts (collector_t *self, void *sock)
{
    for (;;) {
        zmq_msg_t parts[2];
        bool truncated;
        int got = hg_zmsg_recv (sock, parts, 2, ZMQ_DONTWAIT, &truncated);
        if (got <= 0) {
            return;
        }
        Hourglass__ControlReply *rep = NULL;
        if (got == 2 && !truncated) {
            rep = hourglass__control_reply__unpack (NULL, zmq_msg_size (&parts[1]),
                                                    zmq_msg_data (&parts[1]));
        }
        for (size_t i = 0; rep && i < rep->n_outcomes; i++) {
            const Hourglass__Outcome *oc = rep->outcomes[i];
            hg_hl7_error_t e;
            hg_hl7_error_classify (oc->first_reason, oc->first_location, &e);
            hg_mllp_server_verdict (self->mllp, oc->message_id, oc->quarantined ? &e : NULL);
        }
        if (rep) {
            hourglass__control_reply__free_unpacked (rep, NULL);
        }
        hg_zmsg_close (parts, got);
    }
}

/* The timer: fast while verdicts are waited for, slow while connections
 * are open (the idle deadline), off otherwise. */
static void
s_arm_timer (collector_t *self)
{
    const char *ids[1];
    uint64_t period = hg_mllp_server_waiting (self->mllp, ids, 1) ? S_VERDICT_POLL_MS
                      : hg_mllp_server_conns (self->mllp)         ? 250
                                                                  : 0;
    if (period == self->timer_period_ms) {
        return;
    }
    struct itimerspec its = {0};
    its.it_interval.tv_sec = its.it_value.tv_sec = (time_t) (period / 1000);
    its.it_interval.tv_nsec = its.it_value.tv_nsec = (long) (period % 1000) * 1000000L;
    timerfd_settime (self->timer_fd, 0, &its, NULL);
    self->timer_period_ms = period;
}

/* The MLLP side of a loop turn: the timer (ask, expire), the verdict
 * replies, then the connections; items start at the timer. */
static int
s_on_mllp_items (hg_service_t *svc, collector_t *self, const zmq_pollitem_t *items, size_t n,
                 hg_err_t *err)
{
    int rc = 0;
    uint64_t now = hg_now_ms ();
    if (items[0].revents) {
        uint64_t ticks;
        ssize_t r = read (self->timer_fd, &ticks, sizeof (ticks));
        (void) r;
        s_ask_verdicts (self);
        hg_mllp_server_tick (self->mllp, now);
        if (self->junk_keep && now >= self->last_expire_ms + 60000) {
            self->last_expire_ms = now;
            rc = s_expire_junk (svc, self, err);
        }
    }
    /* the sockets polled (discovery below may close or open some) */
    for (size_t i = 0; i < self->n_polled && 1 + i < n; i++) {
        if (items[1 + i].revents & ZMQ_POLLIN) {
            s_on_verdicts (self, items[1 + i].socket);
        }
    }
    size_t at = 1 + self->n_polled;
    if (rc == 0 && n > at) {
        rc = s_on_mllp (svc, self, items + at, n - at, err);
    }
    uint64_t acked = 0, nacked = 0;
    hg_mllp_server_take_counts (self->mllp, &acked, &nacked);
    *hg_service_counter (svc, "mllp_acked") += acked;
    *hg_service_counter (svc, "mllp_nacked") += nacked;
    s_verdict_discover (svc, self, now);
    s_arm_timer (self);
    return rc;
}

/* ---- FHIR over HTTP ----------------------------------------------------------- */

/* Journals the waiting HTTP requests in one commit, then answers each: the
 * bearer token already authenticated the partner. */
static int
s_on_http (hg_service_t *svc, collector_t *self, hg_err_t *err)
{
    hg_http_request_t *reqs[HG_COLLECTOR_ROUND_MAX];
    size_t n = hg_fhir_http_take (self->http, reqs, HG_COLLECTOR_ROUND_MAX,
                                  self->round_max_bytes);
    if (n == 0) {
        return 0;
    }
    pending_reply_t *round = calloc (n, sizeof (*round));
    hg_store_batch_t *wb = hg_store_batch_new ();
    int rc = round && wb ? 0 : hg_err_set (err, HG_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        Hourglass__PushRequest req = HOURGLASS__PUSH_REQUEST__INIT;
        req.partner = (char *) reqs[i]->partner;
        req.batch_id = (char *) reqs[i]->batch_id;
        req.format = (char *) reqs[i]->format;
        req.payload.data = (uint8_t *) reqs[i]->body;
        req.payload.len = reqs[i]->body_len;
        s_accept (svc, self, &req, reqs[i]->body_len, reqs[i]->partner, wb, &round[i], i, round);
    }
    if (rc == 0) {
        rc = hg_service_commit (svc, wb, err); /* durable first */
    }
    for (size_t i = 0; i < n; i++) {
        hg_fhir_http_status_t st = HG_FHIR_HTTP_BUSY;
        const char *reason = rc == HG_ENOSPC ? HG_COLLECTOR_DISK_FULL
                                             : "journal write failed; retry";
        unsigned retry_s = rc == HG_ENOSPC ? 5 : 1;
        if (rc == 0) {
            Hourglass__PushReply *r = &round[i].reply;
            st = r->status == HOURGLASS__PUSH_REPLY__STATUS__ACCEPTED    ? HG_FHIR_HTTP_ACCEPTED
                 : r->status == HOURGLASS__PUSH_REPLY__STATUS__DUPLICATE ? HG_FHIR_HTTP_DUPLICATE
                 : r->status == HOURGLASS__PUSH_REPLY__STATUS__BUSY      ? HG_FHIR_HTTP_BUSY
                                                                         : HG_FHIR_HTTP_REJECTED;
            reason = round[i].reason;
            retry_s = (r->retry_after_ms + 999) / 1000;
        }
        hg_fhir_http_answer (self->http, reqs[i], st, round ? round[i].message_id : "", reason,
                             retry_s);
    }
    hg_store_batch_destroy (&wb);
    free (round);
    return rc;
}

static int
s_on_extra (hg_service_t *svc, void *state, const zmq_pollitem_t *items, size_t n, hg_err_t *err)
{
    collector_t *self = state;
    int rc = 0;
    size_t next = 1;
    if (items[0].revents & ZMQ_POLLIN) {
        rc = s_on_ingest (svc, self, err);
    }
    if (self->http) {
        if (rc == 0 && n > 1 && items[1].revents) {
            rc = s_on_http (svc, self, err);
        }
        next = 2;
    }
    if (rc == 0 && self->mllp && n > next) {
        rc = s_on_mllp_items (svc, self, items + next, n - next, err);
    }
    return rc;
}

/* A failed commit leaves nothing of its round in the collector's memory
 * (replies went out as BUSY; the counters are the runtime's). */
static int
s_rollback (hg_service_t *svc, void *state, hg_err_t *err)
{
    (void) svc;
    (void) state;
    (void) err;
    return 0;
}

static const hg_service_def_t s_def = {
    .name = "collector",
    .summary = "takes partner feeds and journals them durably before acknowledging",
    .base_port = 5550,
    .options = s_options,
    .consumes = false,
    .produces = true,
    .init = s_init,
    .extra_items = s_extra_items,
    .on_extra = s_on_extra,
    .reload = s_reload,
    .destroy = s_destroy,
    .rollback = s_rollback,
};

int
main (int argc, char **argv)
{
    return hg_service_main (&s_def, argc, argv);
}
