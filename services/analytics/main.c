/*
 * hourglass-analytics -- answers queries over every indexer shard, with
 * small-cell suppression, on the control plane (COUNT, QUERY) and to
 * analysts over HTTP (http.c: POST /v1/query, GET /v1/codes), and keeps the
 * hash-chained audit trail of every query (audit.c; AUDIT_LIST and
 * AUDIT_VERIFY read it).
 *
 * A query fans out to all shards; an answer is given only when every shard
 * answered (a partial count would be silently wrong).
 */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>
#include <zmq.h>

#include "audit.h"
#include "control_acl.h"
#include "curve.h"
#include "disclose.h"
#include "http.h"
#include "log.h"
#include "query.h"
#include "service.h"
#include "shard.h"
#include "zmsg.h"
#include "store.h"
#include "suppress.h"
#include "util.h"

#define HG_ANALYTICS_MAX_SHARDS 64

static const hg_opt_t s_options[] = {
    {"indexers", HG_OPT_STRING, "tcp://127.0.0.1:5582",
     "comma-separated control endpoints of every indexer shard, in shard order; or one "
     "pattern where {shard} stands for 0..shards-1 (tcp://indexer-{shard}.indexer:5582)"},
    {"shards", HG_OPT_INT, "0", "with a {shard} pattern in indexers: how many shards it names"},
    {"min_cell", HG_OPT_INT, "10",
     "counts of 1..min_cell patients are reported as suppressed (0: off)"},
    {"round_to", HG_OPT_INT, "10",
     "role aggregate: every count shown is rounded to a multiple of this (1: off), so two "
     "answers differing by a few patients do not give their difference"},
    {"dp_epsilon", HG_OPT_STRING, "0.5",
     "role dp: the epsilon one query spends (the noise of every count is scaled to it)"},
    {"dp_budget", HG_OPT_STRING, "5",
     "role dp: the epsilon each analyst may spend in total; a query past it is refused"},
    {"shard_timeout_ms", HG_OPT_INT, "5000", "how long to wait for each shard's answer"},
    {"indexer_keys", HG_OPT_STRING, "",
     "with curve_key: the indexers' public keys (.pub files or Z85), one for all or one per "
     "endpoint of indexers; this instance's key must be in their control_allow as "
     "analytics:<name>"},
    {"http", HG_OPT_STRING, "",
     "IPv4:PORT of the analysts' HTTP/JSON API (POST /v1/query, GET /v1/codes, GET "
     "/v1/openapi.yaml; docs/analytics.md); empty: off"},
    {"http_tokens", HG_OPT_STRING, "",
     "the analysts' bearer tokens for http: '<token or blake2b:HASH> <analyst> [aggregate|dp]' "
     "lines ('hourglass cluster add-analyst' writes it; SIGHUP re-reads it)"},
    {"analytics_tls_cert", HG_OPT_STRING, "",
     "PEM certificate (chain) for http; with analytics_tls_key the API serves only HTTPS"},
    {"analytics_tls_key", HG_OPT_STRING, "",
     "PEM private key (unencrypted, chmod 600) of analytics_tls_cert"},
    {"http_max_body_bytes", HG_OPT_INT, "262144",
     "largest query document http takes (bigger: 413)"},
    {NULL, 0, NULL, NULL},
};

/* docs/openapi.yaml, embedded at build time (openapi_yaml.c). */
extern const char hg_openapi_yaml[];
extern const size_t hg_openapi_yaml_len;
/* The analysts' page, services/analytics/web/, embedded at build time (web_assets.c). */
extern const hg_api_asset_t hg_web_assets[];

typedef struct {
    char *endpoints[HG_ANALYTICS_MAX_SHARDS];
    size_t n_shards;
    char *endpoints_buf;
    char indexer_keys[HG_ANALYTICS_MAX_SHARDS][HG_CURVE_Z85_LEN + 1]; /* with curve_key */
    uint64_t min_cell;
    uint64_t round_to;
    double dp_epsilon;
    uint64_t dp_budget_ueps;
    int timeout_ms;
    hg_api_t *api;         /* the HTTP API, NULL when http is not set */
    hg_audit_head_t audit; /* the end of the audit chain, as stored */
} analytics_t;

/* CODES: the shards' codes and whether any had more than asked for. */
typedef struct {
    hg_qpart_t *part;
    bool truncated;
} s_codes_t;

/* A positive number option ("0.5"); -1 with err naming it otherwise. */
static int
s_epsilon_option (hg_service_t *svc, const char *name, double *out, hg_err_t *err)
{
    const char *text = hg_service_option (svc, name);
    char *end = NULL;
    double v = strtod (text, &end);
    if (!*text || *end || !(v > 0) || v > 1e6) {
        return hg_err_set (err, HG_EINVAL, "%s must be a positive number (epsilon), not '%s'",
                           name, text);
    }
    *out = v;
    return 0;
}

/* Under CurveZMQ the indexers answer counts only to analytics' key: their
 * public keys, one for all shards or one per endpoint. */
static int
s_init_keys (hg_service_t *svc, analytics_t *self, hg_err_t *err)
{
    if (!hg_service_curve (svc)) {
        return 0;
    }
    char *buf = strdup (hg_service_option (svc, "indexer_keys"));
    char *keys[HG_ANALYTICS_MAX_SHARDS];
    size_t n = buf ? hg_split_list (buf, keys, HG_ANALYTICS_MAX_SHARDS) : 0;
    int rc = 0;
    if (n != 1 && n != self->n_shards) {
        rc = hg_err_set (err, HG_EINVAL,
                         "curve_key is set: indexer_keys needs one public key for all "
                         "indexers or one per endpoint (%zu given, %zu endpoints)",
                         n, self->n_shards);
    }
    for (size_t i = 0; rc == 0 && i < self->n_shards; i++) {
        rc = hg_curve_load_public (keys[n == 1 ? 0 : i], self->indexer_keys[i], err);
    }
    free (buf);
    return rc;
}

/* The end of the audit chain, from the store (audit.h). */
static int
s_audit_load (hg_service_t *svc, analytics_t *self, hg_err_t *err)
{
    char *val = NULL;
    size_t len = 0;
    int rc = hg_store_get (hg_service_store (svc), HG_AUDIT_HEAD_KEY, strlen (HG_AUDIT_HEAD_KEY),
                           &val, &len, err);
    if (rc == HG_ENOTFOUND) {
        hg_err_clear (err);
        memset (&self->audit, 0, sizeof (self->audit));
        return 0;
    }
    if (rc == 0) {
        rc = hg_audit_head_parse (val, len, &self->audit, err);
    }
    free (val);
    return rc;
}

/* The HTTP API, when http is set. */
static int
s_api_start (hg_service_t *svc, analytics_t *self, hg_err_t *err)
{
    const char *listen = hg_service_option (svc, "http");
    bool tls = *hg_service_option (svc, "analytics_tls_cert")
               || *hg_service_option (svc, "analytics_tls_key");
    if (!*listen) {
        return tls ? hg_err_set (err, HG_EINVAL,
                                 "analytics_tls_cert and analytics_tls_key need http (the "
                                 "API's address) to be set")
                   : 0;
    }
    int64_t max_body = hg_config_int (hg_service_config (svc), "http_max_body_bytes");
    if (max_body < 1 || max_body > HG_QUERY_DOC_MAX) {
        return hg_err_set (err, HG_EINVAL, "http_max_body_bytes must be 1..%d", HG_QUERY_DOC_MAX);
    }
    hg_api_opts_t o = {
        .listen = listen,
        .analysts_file = hg_service_option (svc, "http_tokens"),
        .max_body_bytes = (size_t) max_body,
        .answer_timeout_ms = (unsigned) (self->timeout_ms > 0 ? self->timeout_ms : 5000) * 4u,
        .tls_cert = hg_service_option (svc, "analytics_tls_cert"),
        .tls_key = hg_service_option (svc, "analytics_tls_key"),
        .openapi = hg_openapi_yaml,
        .openapi_len = hg_openapi_yaml_len,
        .assets = hg_web_assets,
    };
    self->api = hg_api_start (&o, err);
    return self->api ? 0 : err->code;
}

static int
s_init (hg_service_t *svc, void **state, hg_err_t *err)
{
    analytics_t *self = calloc (1, sizeof (*self));
    *state = self;
    const char *indexers = hg_service_option (svc, "indexers");
    int64_t shards = hg_config_int (hg_service_config (svc), "shards");
    size_t cap = strlen (indexers) * (size_t) (shards > 0 && shards <= 1024 ? shards : 1) + 1;
    self->endpoints_buf = malloc (cap);
    if (!self->endpoints_buf
        || hg_shard_endpoints (indexers, (int) shards, self->endpoints_buf, cap) < 0) {
        return hg_err_set (err, HG_EINVAL,
                           "indexers '%s' names shards by {shard}: give shards (1..%d) too",
                           indexers, HG_ANALYTICS_MAX_SHARDS);
    }
    self->n_shards = hg_split_list (self->endpoints_buf, self->endpoints,
                                    HG_ANALYTICS_MAX_SHARDS);
    int64_t min_cell = hg_config_int (hg_service_config (svc), "min_cell");
    self->timeout_ms = (int) hg_config_int (hg_service_config (svc), "shard_timeout_ms");
    if (self->n_shards == 0) {
        return hg_err_set (err, HG_EINVAL, "no indexer endpoints given (--indexers)");
    }
    if (min_cell < 0) {
        return hg_err_set (err, HG_EINVAL, "min_cell must be >= 0");
    }
    self->min_cell = (uint64_t) min_cell;
    int64_t round_to = hg_config_int (hg_service_config (svc), "round_to");
    if (round_to < 1 || round_to > 1000000) {
        return hg_err_set (err, HG_EINVAL, "round_to must be 1 (off) .. 1000000");
    }
    self->round_to = (uint64_t) round_to;
    double budget = 0;
    if (s_epsilon_option (svc, "dp_epsilon", &self->dp_epsilon, err) < 0
        || s_epsilon_option (svc, "dp_budget", &budget, err) < 0) {
        return err->code;
    }
    self->dp_budget_ueps = hg_disclose_ueps (budget);
    if (sodium_init () < 0) {
        return hg_err_set (err, HG_EIO, "libsodium failed to initialise");
    }
    if (s_init_keys (svc, self, err) < 0 || s_audit_load (svc, self, err) < 0) {
        return err->code;
    }
    return s_api_start (svc, self, err);
}

static void
s_destroy (void **state)
{
    analytics_t *self = *state;
    hg_api_stop (&self->api);
    free (self->endpoints_buf);
    free (self);
    *state = NULL;
}

/* Adds a shard's answer: a count (into hg_count_t) or a query's partial
 * aggregates (into hg_qpart_t); <0 when the reply lacks it. */
static int
s_take (const Hourglass__ControlRequest *req, const Hourglass__ControlReply *rep, void *total)
{
    if (req->kind == HOURGLASS__CONTROL_REQUEST__KIND__COUNT) {
        return rep->count ? (hg_count_add (total, rep->count->patients, rep->count->records), 0)
                          : -1;
    }
    if (req->kind == HOURGLASS__CONTROL_REQUEST__KIND__CODES) {
        s_codes_t *codes = total;
        codes->truncated = codes->truncated || rep->truncated;
        total = codes->part;
    }
    for (size_t i = 0; i < rep->n_parts; i++) {
        const Hourglass__QueryPart *p = rep->parts[i];
        if (hg_qpart_add (total, (const char *) p->key.data, p->key.len, p->patients, p->records,
                          p->denominator)
            < 0) {
            return -1;
        }
    }
    return 0;
}

/* Asks every shard; fails unless all answer in time. */
static int
s_fan_out (hg_service_t *svc, analytics_t *self, const Hourglass__ControlRequest *req,
           void *total, hg_err_t *err)
{
    size_t len = hourglass__control_request__get_packed_size (req);
    uint8_t *buf = malloc (len ? len : 1);
    hourglass__control_request__pack (req, buf);
    void *socks[HG_ANALYTICS_MAX_SHARDS] = {0};
    bool answered[HG_ANALYTICS_MAX_SHARDS] = {0};
    int rc = 0;
    for (size_t i = 0; i < self->n_shards; i++) {
        socks[i] = hg_zsock_new (hg_service_zctx (svc), ZMQ_DEALER, HG_ZMSG_REPLY_MAX);
        int linger = 0;
        zmq_setsockopt (socks[i], ZMQ_LINGER, &linger, sizeof (linger));
        if (hg_service_curve (svc)
            && hg_curve_make_client (socks[i], hg_service_curve (svc), self->indexer_keys[i], err)
                   < 0) {
            rc = err->code;
            goto cleanup;
        }
        if (zmq_connect (socks[i], self->endpoints[i]) < 0) {
            rc = hg_err_set (err, HG_EINVAL, "cannot connect to shard %s: %s", self->endpoints[i],
                             zmq_strerror (errno));
            goto cleanup;
        }
        zmq_send (socks[i], "", 0, ZMQ_SNDMORE);
        zmq_send (socks[i], buf, len, 0);
    }
    size_t left = self->n_shards;
    uint64_t deadline = hg_now_ms () + (uint64_t) self->timeout_ms;
    while (left > 0) {
        uint64_t now = hg_now_ms ();
        if (now >= deadline) {
            for (size_t i = 0; i < self->n_shards; i++) {
                if (!answered[i]) {
                    rc = hg_err_set (err, HG_EAGAIN,
                                     "indexer shard %zu (%s) did not answer within %d ms; "
                                     "no partial count is given",
                                     i, self->endpoints[i], self->timeout_ms);
                    break;
                }
            }
            goto cleanup;
        }
        zmq_pollitem_t items[HG_ANALYTICS_MAX_SHARDS];
        for (size_t i = 0; i < self->n_shards; i++) {
            items[i] = (zmq_pollitem_t) {socks[i], 0, ZMQ_POLLIN, 0};
        }
        if (zmq_poll (items, (int) self->n_shards, (long) (deadline - now)) < 0
            && errno != EINTR) {
            rc = hg_err_set (err, HG_EIO, "poll failed: %s", zmq_strerror (errno));
            goto cleanup;
        }
        for (size_t i = 0; i < self->n_shards; i++) {
            if (answered[i] || !(items[i].revents & ZMQ_POLLIN)) {
                continue;
            }
            zmq_msg_t parts[2]; /* [empty][ControlReply] */
            int got = hg_zmsg_recv (socks[i], parts, 2, ZMQ_DONTWAIT, NULL);
            Hourglass__ControlReply *rep =
                got == 2 ? hourglass__control_reply__unpack (NULL, zmq_msg_size (&parts[1]),
                                                             zmq_msg_data (&parts[1]))
                         : NULL;
            hg_zmsg_close (parts, got);
            answered[i] = true;
            left--;
            if (!rep || !rep->ok || s_take (req, rep, total) < 0) {
                rc = hg_err_set (err, HG_EIO, "indexer shard %zu failed: %s", i,
                                 rep && *rep->error ? rep->error : "bad reply");
                if (rep) {
                    hourglass__control_reply__free_unpacked (rep, NULL);
                }
                goto cleanup;
            }
            hourglass__control_reply__free_unpacked (rep, NULL);
        }
    }
cleanup:
    for (size_t i = 0; i < self->n_shards; i++) {
        if (socks[i]) {
            zmq_close (socks[i]);
        }
    }
    free (buf);
    return rc;
}

static int
s_valid_day (const char *s)
{
    return !*s || (strlen (s) == 10 && s[4] == '-' && s[7] == '-');
}

/* ---- the audit trail ---------------------------------------------------------- */

/* What one audited request was. */
typedef struct {
    const hg_analyst_t *who;
    const char *via;     /* "http", "control" */
    const char *request; /* the document, or what was asked */
    const char *answer;  /* as returned, NULL when refused */
    const char *error;   /* why it was refused, NULL when answered */
    double epsilon;      /* spent (differential privacy; 0 without) */
} s_audited_t;

/* Appends one entry to the audit chain (audit.h), committed (synced) with
 * the counters before the answer leaves; *id its id. */
static int
s_audit (hg_service_t *svc, analytics_t *self, const s_audited_t *a, uint64_t *id, hg_err_t *err)
{
    Hourglass__AuditEntry e = HOURGLASS__AUDIT_ENTRY__INIT;
    e.time_us = hg_wall_us ();
    e.analyst = (char *) a->who->analyst;
    e.role = (char *) (a->who->role == HG_ANALYST_DP ? "dp" : "aggregate");
    e.via = (char *) a->via;
    e.request = (char *) a->request;
    e.answer = (char *) (a->answer ? a->answer : "");
    e.error = (char *) (a->error ? a->error : "");
    e.suppressed = a->answer ? hg_audit_count_suppressed (a->answer) : 0;
    e.epsilon = a->epsilon;
    uint8_t *buf = NULL;
    size_t len = 0;
    hg_audit_head_t next;
    if (hg_audit_seal (&self->audit, &e, &buf, &len, &next, err) < 0) {
        return err->code;
    }
    unsigned char key[HG_AUDIT_KEY_BYTES], head[HG_AUDIT_HEAD_BYTES];
    hg_audit_key (next.last_id, key);
    hg_audit_head_pack (&next, head);
    hg_store_batch_t *wb = hg_store_batch_new ();
    hg_store_batch_put (wb, key, sizeof (key), buf, len);
    hg_store_batch_put (wb, HG_AUDIT_HEAD_KEY, strlen (HG_AUDIT_HEAD_KEY), head, sizeof (head));
    int rc = hg_service_commit (svc, wb, err);
    hg_store_batch_destroy (&wb);
    free (buf);
    if (rc == 0) {
        self->audit = next;
        *id = next.last_id;
    }
    return rc;
}

static void
s_random (void *ctx, void *buf, size_t n)
{
    (void) ctx;
    randombytes_buf (buf, n);
}

/* The analyst of a control-plane request and its threshold (docs/analytics.md
 * "Disclosure control"): the analyst is the caller's key ("operator:NAME";
 * "control" without CurveZMQ, where there is no caller to tell apart), the
 * role aggregate unless the request asks dp; a threshold of the request's
 * own (0: the exact answer) only for the operator. *min_cell: analytics' own
 * or the request's. */
static int
s_control_analyst (hg_service_t *svc, analytics_t *self, const Hourglass__ControlRequest *req,
                   hg_analyst_t *who, uint64_t *min_cell, hg_err_t *err)
{
    const char *caller = hg_service_caller (svc);
    *who = (hg_analyst_t) {caller ? caller : "control", HG_ANALYST_AGGREGATE};
    *min_cell = self->min_cell;
    const char *role = req->disclosure_role ? req->disclosure_role : "";
    if (strcmp (role, "dp") == 0) {
        who->role = HG_ANALYST_DP;
    }
    else if (*role && strcmp (role, "aggregate") != 0) {
        return hg_err_set (err, HG_EINVAL, "disclosure role must be aggregate or dp, not '%s'",
                           role);
    }
    if (req->threshold) {
        if (caller && hg_control_role (caller) != HG_ROLE_OPERATOR) {
            return hg_err_set (err, HG_EINVAL,
                               "a threshold of the request's own (min_cell) is the operator's; "
                               "this key is '%s'",
                               caller);
        }
        *min_cell = req->threshold->min_cell;
    }
    return 0;
}

/* The epsilon budget: e/<analyst> -> millionths spent (8 bytes BE). */
static int
s_budget_key (const char *analyst, unsigned char *key, size_t cap)
{
    size_t n = strlen (analyst);
    if (n + 2 > cap) {
        return -1;
    }
    key[0] = 'e';
    key[1] = '/';
    memcpy (key + 2, analyst, n);
    return (int) (n + 2);
}

static int
s_budget_read (hg_service_t *svc, const char *analyst, uint64_t *spent, hg_err_t *err)
{
    unsigned char key[300];
    int kl = s_budget_key (analyst, key, sizeof (key));
    if (kl < 0) {
        return hg_err_set (err, HG_EINVAL, "analyst name too long");
    }
    char *val = NULL;
    size_t vlen = 0;
    int rc = hg_store_get (hg_service_store (svc), key, (size_t) kl, &val, &vlen, err);
    *spent = rc == 0 && vlen == 8 ? hg_be64_get ((const unsigned char *) val) : 0;
    free (val);
    if (rc == HG_ENOTFOUND) {
        hg_err_clear (err);
        return 0;
    }
    return rc;
}

/* Commits the analyst's new total (synced, with the counters) before the
 * answer is released: a crash after this loses an answer, never a charge. */
static int
s_budget_write (hg_service_t *svc, const char *analyst, uint64_t spent, hg_err_t *err)
{
    unsigned char key[300], val[8];
    int kl = s_budget_key (analyst, key, sizeof (key));
    hg_be64_put (val, spent);
    hg_store_batch_t *wb = hg_store_batch_new ();
    hg_store_batch_put (wb, key, (size_t) kl, val, sizeof (val));
    int rc = hg_service_commit (svc, wb, err);
    hg_store_batch_destroy (&wb);
    return rc;
}

/* One query document answered for who (the control plane's QUERY; the
 * HTTP API's POST /v1/query with its token's analyst): parsed (errors name
 * the field), its text sent to every shard, the partials merged and the
 * answer released under the disclosure policy (disclose.h) with threshold
 * min_cell; a dp answer is charged to who's budget before it is given
 * (*answer, in arena). Called from the service loop only: one request at a
 * time is what makes a budget's check and charge atomic. */
static int
s_answer_query (hg_service_t *svc, analytics_t *self, const char *doc, int ref_year,
                const hg_analyst_t *who, uint64_t min_cell, char **answer, double *epsilon,
                hg_arena_t *arena, hg_err_t *err)
{
    *epsilon = 0;
    time_t now = time (NULL);
    struct tm tm;
    gmtime_r (&now, &tm);
    Hourglass__ControlRequest fwd = HOURGLASS__CONTROL_REQUEST__INIT;
    fwd.kind = HOURGLASS__CONTROL_REQUEST__KIND__QUERY;
    fwd.ref_year = ref_year ? ref_year : tm.tm_year + 1900;
    fwd.query = (char *) doc;
    hg_query_t *q = hg_arena_alloc (arena, sizeof (*q));
    hg_disclose_policy_t pol = {.min_cell = min_cell,
                                .round_to = self->round_to,
                                .epsilon = self->dp_epsilon,
                                .random = s_random};
    unsigned sensitivity;
    uint64_t spent = 0, cost = hg_disclose_ueps (self->dp_epsilon);
    bool dp = who->role == HG_ANALYST_DP;
    if (!q || hg_query_parse (doc, strlen (doc), fwd.ref_year, arena, q, err) < 0
        || (dp
            && (hg_query_dp_sensitivity (q, &sensitivity, err) < 0
                || s_budget_read (svc, who->analyst, &spent, err) < 0
                || hg_disclose_charge (&spent, cost, self->dp_budget_ueps, who->analyst, err)
                       < 0))) {
        (*hg_service_counter (svc, "query_errors"))++;
        *hg_service_counter (svc, "dp_refused") += err->code == HG_ELIMIT;
        return q ? err->code : hg_err_set (err, HG_ENOMEM, "out of memory");
    }
    pol.epsilon_spent = (double) spent / HG_DISCLOSE_UEPS;
    pol.epsilon_left = (double) (self->dp_budget_ueps - spent) / HG_DISCLOSE_UEPS;
    hg_qpart_t *merged = hg_qpart_new ();
    int rc = merged ? s_fan_out (svc, self, &fwd, merged, err)
                    : hg_err_set (err, HG_ENOMEM, "out of memory");
    hg_answer_stats_t stats = {0};
    if (rc == 0) {
        *answer = hg_query_answer (q, merged, &pol, who, (unsigned) self->n_shards, &stats,
                                   arena);
        rc = *answer ? 0 : hg_err_set (err, HG_ENOMEM, "out of memory");
    }
    hg_qpart_destroy (&merged);
    if (rc == 0 && dp) {
        rc = s_budget_write (svc, who->analyst, spent, err);
    }
    (*hg_service_counter (svc, rc == 0 ? "queries" : "query_errors"))++;
    if (rc != 0) {
        *answer = NULL;
        return rc;
    }
    *hg_service_counter (svc, "suppressed") += stats.suppressed > 0;
    *hg_service_counter (svc, "dp_answers") += dp;
    hg_info ("query", "kind=%s shards=%zu role=%s suppressed=%u complementary=%u",
             hg_query_kind_name (q->kind), self->n_shards, dp ? "dp" : "aggregate",
             stats.suppressed, stats.complementary);
    *epsilon = dp ? self->dp_epsilon : 0;
    return 0;
}

/* A query document's answer for who over via ("http", "control"), with its
 * "audit_id", audited before it is returned (*answer in arena); a refused
 * query is audited too, with why. Nothing leaves unaudited: when the entry
 * cannot be written, the answer is not given. */
static int
s_run_query (hg_service_t *svc, analytics_t *self, const char *doc, int ref_year,
             const hg_analyst_t *who, uint64_t min_cell, const char *via, char **answer,
             hg_arena_t *arena, hg_err_t *err)
{
    double epsilon = 0;
    char *text = NULL;
    int rc = s_answer_query (svc, self, doc, ref_year, who, min_cell, &text, &epsilon, arena,
                             err);
    if (rc == 0) {
        text = hg_audit_answer_with_id (text, self->audit.last_id + 1, arena);
        rc = text ? 0 : hg_err_set (err, HG_ENOMEM, "out of memory");
    }
    s_audited_t a = {who, via, doc, rc == 0 ? text : NULL, rc == 0 ? NULL : err->msg, epsilon};
    hg_err_t aerr = {0};
    uint64_t id = 0;
    *answer = NULL;
    if (s_audit (svc, self, &a, &id, &aerr) < 0) {
        *err = aerr;
        return aerr.code;
    }
    if (rc == 0) {
        *answer = text;
        hg_debug ("query_audited", "via=%s audit_id=%" PRIu64, via, id);
    }
    return rc;
}

/* QUERY (docs/analytics.md) over the control plane. */
static int
s_query (hg_service_t *svc, analytics_t *self, const Hourglass__ControlRequest *req,
         Hourglass__ControlReply *reply, hg_arena_t *arena, hg_err_t *err)
{
    hg_analyst_t who;
    uint64_t min_cell;
    char *answer = NULL;
    if (s_control_analyst (svc, self, req, &who, &min_cell, err) < 0
        || s_run_query (svc, self, req->query ? req->query : "", req->ref_year, &who, min_cell,
                        "control", &answer, arena, err)
               < 0) {
        return err->code;
    }
    reply->answer = answer;
    return 0;
}

/* COUNT: a code count (or cohort) over every shard, released under the
 * disclosure policy, audited. */
static int
s_count (hg_service_t *svc, analytics_t *self, const Hourglass__ControlRequest *req,
         Hourglass__ControlReply *reply, hg_arena_t *arena, hg_err_t *err)
{
    const Hourglass__CountQuery *q = req->count;
    if (!*q->system || !*q->code) {
        return hg_err_set (err, HG_EINVAL, "a count needs a code system and a code");
    }
    for (size_t i = 0; i < q->n_also; i++) {
        if (!*q->also[i]->system || !*q->also[i]->code) {
            return hg_err_set (err, HG_EINVAL,
                               "every code of a cohort needs a code system "
                               "and a code");
        }
    }
    if (!s_valid_day (q->from) || !s_valid_day (q->to)) {
        return hg_err_set (err, HG_EINVAL, "dates must be YYYY-MM-DD");
    }
    hg_analyst_t who;
    uint64_t min_cell;
    if (s_control_analyst (svc, self, req, &who, &min_cell, err) < 0) {
        return err->code;
    }
    if (who.role == HG_ANALYST_DP) {
        return hg_err_set (err, HG_EINVAL,
                           "COUNT has no dp role: ask the same cohort with `query run`");
    }
    Hourglass__ControlRequest fwd = *req;
    fwd.threshold = NULL;
    hg_count_t total = {0};
    if (s_fan_out (svc, self, &fwd, &total, err) < 0) {
        (*hg_service_counter (svc, "query_errors"))++;
        return HG_EIO;
    }
    hg_count_disclose (&total, min_cell, self->round_to);
    Hourglass__CountResult *res = hg_arena_alloc (arena, sizeof (*res));
    hourglass__count_result__init (res);
    res->patients = total.patients;
    res->records = total.records;
    res->suppressed = total.suppressed;
    res->shards = (uint32_t) self->n_shards;
    (*hg_service_counter (svc, "queries"))++;
    if (total.suppressed) {
        (*hg_service_counter (svc, "suppressed"))++;
    }
    /* the audit trail: what was asked, what was released */
    json_object *asked = json_object_new_object ();
    json_object *codes = json_object_new_array ();
    char sc[2200];
    snprintf (sc, sizeof (sc), "%.1000s|%.1000s", q->system, q->code);
    json_object_array_add (codes, json_object_new_string (sc));
    for (size_t i = 0; i < q->n_also; i++) {
        snprintf (sc, sizeof (sc), "%.1000s|%.1000s", q->also[i]->system, q->also[i]->code);
        json_object_array_add (codes, json_object_new_string (sc));
    }
    json_object_object_add (asked, "count", codes);
    json_object_object_add (asked, "from", json_object_new_string (q->from));
    json_object_object_add (asked, "to", json_object_new_string (q->to));
    char *request =
        hg_arena_strdup (arena,
                         json_object_to_json_string_ext (asked,
                                                         JSON_C_TO_STRING_PLAIN
                                                             | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put (asked);
    char *answer = total.suppressed
                       ? hg_arena_printf (arena, "{\"patients\": null, \"records\": null, "
                                                 "\"suppressed\": true}")
                       : hg_arena_printf (arena,
                                          "{\"patients\": %" PRIu64 ", \"records\": %" PRIu64
                                          ", \"suppressed\": false}",
                                          total.patients, total.records);
    s_audited_t a = {&who, "control", request ? request : "count", answer, NULL, 0};
    uint64_t id = 0;
    int rc = s_audit (svc, self, &a, &id, err);
    reply->count = rc == 0 ? res : NULL; /* no count leaves unaudited */
    hg_info ("query", "kind=%s codes=%zu shards=%zu suppressed=%d audit_id=%" PRIu64,
             q->n_also ? "cohort" : "count", q->n_also + 1, self->n_shards,
             (int) total.suppressed, id);
    return rc;
}

static int
s_cmp_cells (const void *a, const void *b)
{
    const hg_qcell_t *x = a, *y = b;
    int d = memcmp (x->key, y->key, x->key_len < y->key_len ? x->key_len : y->key_len);
    return d ? d : (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

/* The codes JSON of the shards' merged counts: the first limit codes in
 * order, each patient count of 1..min_cell suppressed. */
static char *
s_codes_json (analytics_t *self, const char *prefix, unsigned limit, s_codes_t *codes,
              uint64_t audit_id, hg_arena_t *arena)
{
    size_t n = 0;
    const hg_qcell_t *cells = hg_qpart_cells (codes->part, &n);
    hg_qcell_t *v = malloc ((n ? n : 1) * sizeof (*v));
    json_object *ans = json_object_new_object ();
    json_object *arr = json_object_new_array ();
    if (!v || !ans || !arr) {
        free (v);
        json_object_put (ans);
        json_object_put (arr);
        return NULL;
    }
    if (n) { /* no cells: cells may be NULL */
        memcpy (v, cells, n * sizeof (*v));
        qsort (v, n, sizeof (*v), s_cmp_cells);
    }
    for (size_t i = 0; i < n && i < limit; i++) {
        hg_count_t c = {v[i].patients, v[i].records, false};
        hg_count_disclose (&c, self->min_cell, self->round_to); /* as COUNT releases */
        json_object *o = json_object_new_object ();
        json_object_object_add (o, "code",
                                json_object_new_string_len (v[i].key, (int) v[i].key_len));
        json_object_object_add (o, "patients",
                                c.suppressed ? NULL : json_object_new_uint64 (c.patients));
        json_object_object_add (o, "records",
                                c.suppressed ? NULL : json_object_new_uint64 (c.records));
        json_object_object_add (o, "suppressed", json_object_new_boolean (c.suppressed));
        json_object_array_add (arr, o);
    }
    json_object_object_add (ans, "audit_id", json_object_new_uint64 (audit_id));
    json_object_object_add (ans, "prefix", json_object_new_string (prefix));
    json_object_object_add (ans, "codes", arr);
    json_object_object_add (ans, "truncated",
                            json_object_new_boolean (codes->truncated || n > limit));
    json_object_object_add (ans, "shards", json_object_new_int ((int) self->n_shards));
    char *text =
        hg_arena_strdup (arena,
                         json_object_to_json_string_ext (ans,
                                                         JSON_C_TO_STRING_SPACED
                                                             | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put (ans);
    free (v);
    return text;
}

/* GET /v1/codes: the codes under prefix with their suppressed counts,
 * audited. */
static int
s_run_codes (hg_service_t *svc, analytics_t *self, const char *prefix, unsigned limit,
             const hg_analyst_t *who, char **answer, hg_arena_t *arena, hg_err_t *err)
{
    Hourglass__ControlRequest fwd = HOURGLASS__CONTROL_REQUEST__INIT;
    fwd.kind = HOURGLASS__CONTROL_REQUEST__KIND__CODES;
    fwd.prefix = (char *) prefix;
    fwd.limit = limit;
    s_codes_t codes = {hg_qpart_new (), false};
    *answer = NULL;
    int rc = codes.part ? s_fan_out (svc, self, &fwd, &codes, err)
                        : hg_err_set (err, HG_ENOMEM, "out of memory");
    char *text = NULL;
    if (rc == 0) {
        text = s_codes_json (self, prefix, limit, &codes, self->audit.last_id + 1, arena);
        rc = text ? 0 : hg_err_set (err, HG_ENOMEM, "out of memory");
    }
    hg_qpart_destroy (&codes.part);
    (*hg_service_counter (svc, rc == 0 ? "queries" : "query_errors"))++;
    json_object *req = json_object_new_object ();
    json_object_object_add (req, "codes", json_object_new_string (prefix));
    json_object_object_add (req, "limit", json_object_new_int ((int) limit));
    char *request =
        hg_arena_strdup (arena,
                         json_object_to_json_string_ext (req,
                                                         JSON_C_TO_STRING_PLAIN
                                                             | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put (req);
    s_audited_t a = {who,
                     "http",
                     request ? request : "codes",
                     rc == 0 ? text : NULL,
                     rc == 0 ? NULL : err->msg,
                     0};
    hg_err_t aerr = {0};
    uint64_t id = 0;
    if (s_audit (svc, self, &a, &id, &aerr) < 0) {
        *err = aerr;
        return aerr.code;
    }
    *answer = rc == 0 ? text : NULL;
    return rc;
}

/* The HTTP status of a refused query: the document's fault (400), a shard
 * or the store (503), ours (500). */
static unsigned
s_status_of (int code)
{
    switch (code) {
    case HG_EINVAL:
    case HG_ELIMIT:
        return 400;
    case HG_EIO:
    case HG_EAGAIN:
    case HG_ENOSPC:
        return 503;
    default:
        return 500;
    }
}

/* The analysts' requests waiting at the HTTP API, each answered in turn. */
static int
s_on_api (hg_service_t *svc, void *state, const zmq_pollitem_t *items, size_t n, hg_err_t *err)
{
    (void) items;
    (void) n;
    (void) err;
    analytics_t *self = state;
    hg_api_request_t *reqs[16];
    size_t got = hg_api_take (self->api, reqs, 16);
    for (size_t i = 0; i < got; i++) {
        hg_api_request_t *r = reqs[i];
        hg_analyst_t who = {r->analyst,
                            strcmp (r->role, "dp") == 0 ? HG_ANALYST_DP : HG_ANALYST_AGGREGATE};
        hg_arena_t *arena = hg_arena_new (0);
        hg_err_t qerr = {0};
        char *answer = NULL;
        int rc = !arena ? hg_err_set (&qerr, HG_ENOMEM, "out of memory")
                 : r->kind == HG_API_CODES
                     ? s_run_codes (svc, self, r->prefix, r->limit, &who, &answer, arena, &qerr)
                     : s_run_query (svc, self, r->body, 0, &who, self->min_cell, "http", &answer,
                                    arena, &qerr);
        const char *kind = r->kind == HG_API_CODES ? "codes" : "query";
        /* r is the module's again once answered: nothing of it is read after */
        if (rc == 0) {
            hg_api_answer (self->api, r, 200, answer);
        }
        else {
            char *json = hg_api_error_json (qerr.msg);
            hg_api_answer (self->api, r, s_status_of (rc), json);
            free (json);
            hg_info ("api_refused", "kind=%s status=%u", kind, s_status_of (rc));
        }
        hg_arena_destroy (&arena);
    }
    return 0;
}

static size_t
s_extra_items (hg_service_t *svc, void *state, zmq_pollitem_t *items, size_t max)
{
    (void) svc;
    analytics_t *self = state;
    if (!self->api || max == 0) {
        return 0;
    }
    items[0] = (zmq_pollitem_t) {NULL, hg_api_fd (self->api), ZMQ_POLLIN, 0};
    return 1;
}

/* SIGHUP: the analysts' tokens again (a file that does not parse keeps
 * those in force). */
static void
s_reload (hg_service_t *svc, void *state)
{
    (void) svc;
    analytics_t *self = state;
    if (!self->api) {
        return;
    }
    hg_err_t err = {0};
    size_t analysts = 0;
    if (hg_api_reload (self->api, &analysts, &err) < 0) {
        hg_error ("analysts_reload_failed", "kept=previous err=\"%s\"", err.msg);
    }
    else {
        hg_info ("analysts_reloaded", "analysts=%zu", analysts);
    }
}

/* ---- reading the audit trail (operator) --------------------------------------- */

/* AUDIT_LIST: the entries (of one analyst, since a time), oldest first, at
 * most limit (default 1000); reply->truncated when more matched. */
static int
s_audit_list (hg_service_t *svc, const Hourglass__ControlRequest *req,
              Hourglass__ControlReply *reply, hg_arena_t *arena, hg_err_t *err)
{
    uint32_t limit = req->limit ? req->limit : 1000;
    hg_store_iter_t *it = hg_store_iter_new (hg_service_store (svc), HG_AUDIT_PREFIX, 2, NULL, 0);
    Hourglass__AuditEntry **v = NULL;
    size_t n = 0, cap = 0;
    const char *k, *val;
    size_t kl, vl;
    int rc = it ? 0 : hg_err_set (err, HG_ENOMEM, "out of memory");
    while (rc == 0 && hg_store_iter_next (it, &k, &kl, &val, &vl)) {
        Hourglass__AuditEntry *e = hourglass__audit_entry__unpack (NULL, vl,
                                                                   (const uint8_t *) val);
        if (!e) {
            continue; /* AUDIT_VERIFY says which */
        }
        bool keep = (!req->analyst || !*req->analyst || strcmp (e->analyst, req->analyst) == 0)
                    && e->time_us >= req->audit_since_us;
        if (keep && n == limit) {
            reply->truncated = true;
            keep = false;
        }
        if (keep && n == cap) {
            cap = cap ? cap * 2 : 64;
            Hourglass__AuditEntry **nv = hg_arena_alloc (arena, cap * sizeof (*nv));
            if (!nv) {
                rc = hg_err_set (err, HG_ENOMEM, "out of memory");
                keep = false;
            }
            else {
                if (n) {
                    memcpy (nv, v, n * sizeof (*nv));
                }
                v = nv;
            }
        }
        if (keep) {
            /* copy out of the unpacked message into the arena */
            Hourglass__AuditEntry *c = hg_arena_alloc (arena, sizeof (*c));
            uint8_t *prev = hg_arena_alloc (arena, e->prev.len + 1);
            if (!c || !prev) {
                rc = hg_err_set (err, HG_ENOMEM, "out of memory");
            }
            else {
                *c = *e;
                c->base.unknown_fields = NULL;
                c->base.n_unknown_fields = 0;
                c->analyst = hg_arena_strdup (arena, e->analyst);
                c->role = hg_arena_strdup (arena, e->role);
                c->via = hg_arena_strdup (arena, e->via);
                c->request = hg_arena_strdup (arena, e->request);
                c->answer = hg_arena_strdup (arena, e->answer);
                c->error = hg_arena_strdup (arena, e->error);
                if (e->prev.len) {
                    memcpy (prev, e->prev.data, e->prev.len);
                }
                c->prev.data = prev;
                v[n++] = c;
            }
        }
        hourglass__audit_entry__free_unpacked (e, NULL);
    }
    hg_store_iter_destroy (&it);
    reply->audit = v;
    reply->n_audit = n;
    return rc;
}

/* AUDIT_VERIFY: walks the chain; the first break, where, in reply->verify. */
static int
s_audit_verify (hg_service_t *svc, const Hourglass__ControlRequest *req,
                Hourglass__ControlReply *reply, hg_arena_t *arena, hg_err_t *err)
{
    hg_audit_verify_t v;
    hg_audit_verify_init (&v);
    if (req->audit_anchor.len == HG_AUDIT_HEAD_BYTES) {
        hg_audit_head_t anchor;
        hg_audit_head_parse ((const char *) req->audit_anchor.data, req->audit_anchor.len,
                             &anchor, err);
        hg_audit_verify_anchor (&v, anchor.last_id, anchor.last_hash);
    }
    else if (req->audit_anchor.len) {
        return hg_err_set (err, HG_EINVAL, "an audit anchor is an entry id and its hash");
    }
    hg_store_t *st = hg_service_store (svc);
    hg_store_iter_t *it = hg_store_iter_new (st, HG_AUDIT_PREFIX, 2, NULL, 0);
    if (!it) {
        return hg_err_set (err, HG_ENOMEM, "out of memory");
    }
    const char *k, *val;
    size_t kl, vl;
    while (hg_store_iter_next (it, &k, &kl, &val, &vl)
           && hg_audit_verify_step (&v, k, kl, val, vl)) {
    }
    hg_store_iter_destroy (&it);
    char *head = NULL;
    size_t hl = 0;
    hg_err_t gerr = {0};
    int grc = hg_store_get (st, HG_AUDIT_HEAD_KEY, strlen (HG_AUDIT_HEAD_KEY), &head, &hl, &gerr);
    if (grc < 0 && grc != HG_ENOTFOUND) {
        return hg_err_set (err, grc, "%s", gerr.msg);
    }
    bool ok = hg_audit_verify_end (&v, grc == 0 ? head : NULL, hl);
    free (head);
    Hourglass__AuditVerify *r = hg_arena_alloc (arena, sizeof (*r));
    uint8_t *hash = hg_arena_alloc (arena, HG_AUDIT_HASH_BYTES);
    if (!r || !hash) {
        return hg_err_set (err, HG_ENOMEM, "out of memory");
    }
    hourglass__audit_verify__init (r);
    r->intact = ok;
    r->entries = v.entries;
    r->bad_id = ok ? 0 : v.bad_id;
    r->problem = hg_arena_strdup (arena, ok ? "" : v.problem);
    memcpy (hash, v.prev, HG_AUDIT_HASH_BYTES);
    r->head.data = hash;
    r->head.len = v.entries ? HG_AUDIT_HASH_BYTES : 0;
    r->head_id = ok ? v.expect_id - 1 : 0;
    reply->verify = r;
    if (!ok) {
        hg_error ("audit_broken", "bad_id=%" PRIu64 " problem=\"%s\"", v.bad_id, v.problem);
    }
    return 0;
}

static int
s_control (hg_service_t *svc, void *state, const Hourglass__ControlRequest *req,
           Hourglass__ControlReply *reply, hg_arena_t *arena, hg_err_t *err)
{
    analytics_t *self = state;
    switch (req->kind) {
    case HOURGLASS__CONTROL_REQUEST__KIND__QUERY:
        return s_query (svc, self, req, reply, arena, err);
    case HOURGLASS__CONTROL_REQUEST__KIND__AUDIT_LIST:
        return s_audit_list (svc, req, reply, arena, err);
    case HOURGLASS__CONTROL_REQUEST__KIND__AUDIT_VERIFY:
        return s_audit_verify (svc, req, reply, arena, err);
    case HOURGLASS__CONTROL_REQUEST__KIND__COUNT:
        if (req->count) {
            return s_count (svc, self, req, reply, arena, err);
        }
        break;
    default:
        break;
    }
    return hg_err_set (err, HG_EINVAL,
                       "analytics answers HEALTH, STATS, COUNT, QUERY, AUDIT_LIST and "
                       "AUDIT_VERIFY");
}

static const hg_service_def_t s_def = {
    .name = "analytics",
    .summary = "answers queries over all indexer shards with small-cell suppression, on the "
               "control plane and to analysts over HTTP, and audits every one",
    .base_port = 5590,
    .options = s_options,
    .init = s_init,
    .control = s_control,
    .extra_items = s_extra_items,
    .on_extra = s_on_api,
    .reload = s_reload,
    .destroy = s_destroy,
};

int
main (int argc, char **argv)
{
    return hg_service_main (&s_def, argc, argv);
}
