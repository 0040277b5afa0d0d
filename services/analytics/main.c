/*
 * hourglass-analytics -- answers count queries over every indexer shard,
 * with small-cell suppression, and keeps an audit log of queries.
 *
 * A query fans out to all shards; an answer is given only when every shard
 * answered (a partial count would be silently wrong).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>
#include <zmq.h>

#include "control_acl.h"
#include "curve.h"
#include "disclose.h"
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
    {NULL, 0, NULL, NULL},
};

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
} analytics_t;

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
    return s_init_keys (svc, self, err);
}

static void
s_destroy (void **state)
{
    analytics_t *self = *state;
    free (self->endpoints_buf);
    free (self);
    *state = NULL;
}

/* Adds a shard's answer: a count (into hg_count_t) or a query's partial
 * aggregates (into hg_qpart_t); <0 when the reply lacks it. */
static int
s_take (const Hourglass__ControlRequest *req, const Hourglass__ControlReply *rep, void *total)
{
    if (req->kind != HOURGLASS__CONTROL_REQUEST__KIND__QUERY) {
        return rep->count ? (hg_count_add (total, rep->count->patients, rep->count->records), 0)
                          : -1;
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

/* Audit log: the request as asked (no PHI exists here), committed with the
 * counters. */
static int
s_audit (hg_service_t *svc, const void *what, size_t len, hg_err_t *err)
{
    hg_store_batch_t *wb = hg_store_batch_new ();
    unsigned char key[10] = {'a', '/'};
    hg_be64_put (key + 2, hg_wall_us ());
    hg_store_batch_put (wb, key, sizeof (key), what, len);
    int rc = hg_service_commit (svc, wb, err);
    hg_store_batch_destroy (&wb);
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
                const hg_analyst_t *who, uint64_t min_cell, char **answer, hg_arena_t *arena,
                hg_err_t *err)
{
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
    return s_audit (svc, doc, strlen (doc), err);
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
        || s_answer_query (svc, self, req->query ? req->query : "", req->ref_year, &who, min_cell,
                           &answer, arena, err)
               < 0) {
        return err->code;
    }
    reply->answer = answer;
    return 0;
}

static int
s_control (hg_service_t *svc, void *state, const Hourglass__ControlRequest *req,
           Hourglass__ControlReply *reply, hg_arena_t *arena, hg_err_t *err)
{
    analytics_t *self = state;
    if (req->kind == HOURGLASS__CONTROL_REQUEST__KIND__QUERY) {
        return s_query (svc, self, req, reply, arena, err);
    }
    if (req->kind != HOURGLASS__CONTROL_REQUEST__KIND__COUNT || !req->count) {
        return hg_err_set (err, HG_EINVAL, "analytics answers HEALTH, STATS, COUNT and QUERY");
    }
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
    /* audit log: what was asked; no PHI exists here to leak */
    size_t len = hourglass__count_query__get_packed_size (q);
    uint8_t *buf = malloc (len ? len : 1);
    hourglass__count_query__pack (q, buf);
    int rc = s_audit (svc, buf, len, err);
    free (buf);
    reply->count = rc == 0 ? res : NULL; /* no count leaves unaudited */
    hg_info ("query", "kind=%s codes=%zu shards=%zu suppressed=%d",
             q->n_also ? "cohort" : "count", q->n_also + 1, self->n_shards,
             (int) total.suppressed);
    return rc;
}

static const hg_service_def_t s_def = {
    .name = "analytics",
    .summary = "answers count queries over all indexer shards with small-cell suppression",
    .base_port = 5590,
    .options = s_options,
    .init = s_init,
    .control = s_control,
    .destroy = s_destroy,
};

int
main (int argc, char **argv)
{
    return hg_service_main (&s_def, argc, argv);
}
