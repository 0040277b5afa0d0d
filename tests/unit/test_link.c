/*
 * test_link.c -- the hand-off protocol end to end over real ZeroMQ (ipc in a
 * temporary directory) with a real RocksDB outbox: delivery and acks,
 * upstream restart (outbox reload and redelivery), a silent downstream whose
 * entries go to another after heartbeat_ms * liveness, shard routing,
 * upstreams found by resolving a name (dns+tcp://).
 */
#include "unit_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zmq.h>

#include "link.h"
#include "log.h"
#include "store.h"
#include "util.h"

#define MAX_SEQ 1024
#define DEADLINE_MS 5000

typedef struct {
    char dir[64];
    char db[128];
    char endpoint[160];
    void *zctx;
    hg_store_t *store;
    hg_link_opts_t opts;
    /* sockets live here so teardown can close them after a failed assert
     * (zmq_ctx_term would otherwise wait forever) */
    hg_link_server_t *srv;
    hg_link_client_t *cli, *cli2;
    int idx_of_seq[MAX_SEQ]; /* which entry a seq carries, -1 unknown */
    int shard_of_seq[MAX_SEQ];
} fx_t;

static int
s_setup (void **state)
{
    fx_t *fx = calloc (1, sizeof (*fx));
    snprintf (fx->dir, sizeof (fx->dir), "/tmp/hg-link-XXXXXX");
    if (!mkdtemp (fx->dir)) {
        free (fx);
        return -1;
    }
    snprintf (fx->db, sizeof (fx->db), "%s/db", fx->dir);
    snprintf (fx->endpoint, sizeof (fx->endpoint), "ipc://%s/up.sock", fx->dir);
    hg_store_opts_t so = {.sync = false, .compression = "none"};
    hg_err_t err = {0};
    fx->store = hg_store_open (fx->db, &so, &err);
    if (!fx->store) {
        fprintf (stderr, "store: %s\n", err.msg);
        return -1;
    }
    fx->zctx = zmq_ctx_new ();
    /* byte credit on in every test (far above their small envelopes);
     * test_byte_credit sets its own */
    fx->opts = (hg_link_opts_t) {.heartbeat_ms = 50,
                                 .liveness = 3,
                                 .frame_max = 8,
                                 .window = 16,
                                 .credit_bytes = 1 << 20};
    for (int i = 0; i < MAX_SEQ; i++) {
        fx->idx_of_seq[i] = -1;
    }
    hg_log_init ("test_link", "unit", HG_LOG_WARN);
    *state = fx;
    return 0;
}

static int
s_teardown (void **state)
{
    fx_t *fx = *state;
    hg_link_client_destroy (&fx->cli);
    hg_link_client_destroy (&fx->cli2);
    hg_link_server_destroy (&fx->srv);
    hg_store_close (&fx->store);
    zmq_ctx_term (fx->zctx);
    hg_remove_tree (fx->dir, NULL);
    free (fx);
    return 0;
}

/* Commits one outbox entry as a service does, then makes it deliverable. */
static uint64_t
s_write_entry (fx_t *fx, hg_link_server_t *srv, int idx, int shard)
{
    unsigned char key[10];
    uint64_t seq = hg_link_server_next_seq (srv, key);
    assert_true (seq < MAX_SEQ);
    assert_int_equal (key[0], 'o');
    assert_int_equal (key[1], '/');
    assert_int_equal (hg_be64_get (key + 2), seq);
    assert_true (hg_link_is_outbox_key (key, sizeof (key)));
    assert_false (hg_link_is_outbox_key (key, sizeof (key) - 1));
    assert_false (hg_link_is_outbox_key ("m/received", 10));

    char id[64], payload[64];
    snprintf (id, sizeof (id), "p/batch-%d", idx);
    int pl = snprintf (payload, sizeof (payload), "payload-%d", idx);
    payload[pl++] = '\0'; /* binary bytes survive */
    payload[pl++] = (char) 0xff;
    Hourglass__Envelope env = HOURGLASS__ENVELOPE__INIT;
    env.id = id;
    env.partner = "p";
    env.format = "test";
    env.shard = shard;
    env.record_count = (uint32_t) idx;
    env.payload.data = (uint8_t *) payload;
    env.payload.len = (size_t) pl;
    size_t len = hourglass__envelope__get_packed_size (&env);
    uint8_t *buf = malloc (len);
    hourglass__envelope__pack (&env, buf);

    hg_store_batch_t *b = hg_store_batch_new ();
    hg_store_batch_put (b, key, sizeof (key), buf, len);
    hg_err_t err = {0};
    assert_int_equal (hg_store_write (fx->store, b, true, &err), 0);
    hg_store_batch_destroy (&b);
    free (buf);
    hg_link_server_enqueue (srv, seq, shard, len);
    fx->idx_of_seq[seq] = idx;
    fx->shard_of_seq[seq] = shard;
    return seq;
}

/* Asserts a delivery carries exactly the envelope written for its seq. */
static void
s_check_delivery (fx_t *fx, const hg_delivery_t *d)
{
    assert_true (d->seq > 0 && d->seq < MAX_SEQ);
    int idx = fx->idx_of_seq[d->seq];
    if (idx < 0) {
        fail_msg ("delivery of unknown seq %llu", (unsigned long long) d->seq);
    }
    assert_non_null (d->env);
    assert_int_equal (d->peer, 0);
    char id[64], payload[64];
    snprintf (id, sizeof (id), "p/batch-%d", idx);
    int pl = snprintf (payload, sizeof (payload), "payload-%d", idx);
    payload[pl++] = '\0';
    payload[pl++] = (char) 0xff;
    assert_string_equal (d->env->id, id);
    assert_string_equal (d->env->partner, "p");
    assert_string_equal (d->env->format, "test");
    assert_int_equal (d->env->shard, fx->shard_of_seq[d->seq]);
    assert_int_equal (d->env->record_count, idx);
    assert_int_equal (d->env->payload.len, pl);
    assert_memory_equal (d->env->payload.data, payload, pl);
    assert_int_equal (d->wire_bytes, hourglass__envelope__get_packed_size (d->env));
}

static size_t
s_outbox_count (fx_t *fx)
{
    hg_store_iter_t *it = hg_store_iter_new (fx->store, "o/", 2, NULL, 0);
    const char *k, *v;
    size_t kl, vl, n = 0;
    while (hg_store_iter_next (it, &k, &kl, &v, &vl)) {
        n++;
    }
    hg_store_iter_destroy (&it);
    return n;
}

/* One turn of both event loops: poll up to 5 ms, server handle + tick,
 * client tick + recv. Returns the deliveries received into out. */
static size_t
s_step (hg_link_server_t *srv, hg_link_client_t *cli, hg_delivery_t *out, size_t max)
{
    zmq_pollitem_t items[4];
    int n = 0;
    if (srv) {
        items[n++] = (zmq_pollitem_t) {hg_link_server_socket (srv), 0, ZMQ_POLLIN, 0};
    }
    if (cli) {
        n += (int) hg_link_client_pollitems (cli, items + n, 3);
    }
    if (n) {
        zmq_poll (items, n, 5);
    }
    else {
        usleep (5000);
    }
    uint64_t now = hg_now_ms ();
    if (srv) {
        hg_link_server_handle (srv, now);
        hg_link_server_tick (srv, now);
    }
    size_t got = 0;
    if (cli) {
        hg_link_client_tick (cli, 1000, now);
        got = hg_link_client_recv (cli, out, max, 0, now);
    }
    return got;
}

static void
s_release (hg_delivery_t *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (d[i].env) {
            hourglass__envelope__free_unpacked (d[i].env, NULL);
            d[i].env = NULL;
        }
    }
}

static void
test_deliver_and_ack (void **state)
{
    fx_t *fx = *state;
    enum { N = 50 };
    hg_err_t err = {0};
    fx->srv = hg_link_server_new (fx->zctx, fx->endpoint, fx->store, &fx->opts, &err);
    assert_non_null (fx->srv);
    for (int i = 0; i < N; i++) {
        assert_int_equal (s_write_entry (fx, fx->srv, i, -1), (uint64_t) i + 1);
    }
    assert_int_equal (hg_link_server_depth (fx->srv), N);
    assert_int_equal (s_outbox_count (fx), N);

    fx->cli = hg_link_client_new (fx->zctx, fx->endpoint, "down-0", -1, &fx->opts, &err);
    assert_non_null (fx->cli);
    bool seen[N + 1] = {false};
    size_t unique = 0, dups = 0;
    hg_delivery_t out[64];
    uint64_t deadline = hg_now_ms () + DEADLINE_MS;
    while (unique < N || hg_link_server_depth (fx->srv) > 0 || s_outbox_count (fx) > 0) {
        if (hg_now_ms () > deadline) {
            fail_msg ("not delivered in %d ms: unique=%zu depth=%zu outbox=%zu", DEADLINE_MS,
                      unique, hg_link_server_depth (fx->srv), s_outbox_count (fx));
        }
        size_t got = s_step (fx->srv, fx->cli, out, 64);
        for (size_t i = 0; i < got; i++) {
            s_check_delivery (fx, &out[i]);
            if (seen[out[i].seq]) {
                dups++;
            }
            else {
                seen[out[i].seq] = true;
                unique++;
            }
        }
        /* window 16: the client can never hold more than that */
        assert_true (hg_link_client_in_process (fx->cli) <= 16);
        if (got) {
            hg_link_client_ack (fx->cli, out, got, 1000, hg_now_ms ());
            assert_null (out[0].env);
        }
    }
    assert_int_equal (dups, 0);
    assert_int_equal (hg_link_client_in_process (fx->cli), 0);
    hg_outq_stats_t st = hg_link_server_stats (fx->srv);
    assert_int_equal (st.delivered, N);
    assert_int_equal (st.acked, N);
    assert_int_equal (st.redelivered, 0);
    assert_int_equal (st.workers, 1);
    hg_link_client_destroy (&fx->cli);
    assert_null (fx->cli);
    hg_link_server_destroy (&fx->srv);
    assert_null (fx->srv);
}

static void
test_upstream_restart_redelivers (void **state)
{
    fx_t *fx = *state;
    enum { N = 10 };
    hg_err_t err = {0};
    /* a liveness of 10 s (beyond the deadline) so the client cannot recover
     * by its silence timer: the restarted upstream must answer the client's
     * READY with RESET and the client must say HELLO again */
    fx->opts.liveness = 200;
    fx->srv = hg_link_server_new (fx->zctx, fx->endpoint, fx->store, &fx->opts, &err);
    assert_non_null (fx->srv);
    for (int i = 0; i < N; i++) {
        s_write_entry (fx, fx->srv, i, -1);
    }
    fx->cli = hg_link_client_new (fx->zctx, fx->endpoint, "down-0", -1, &fx->opts, &err);
    assert_non_null (fx->cli);

    /* receive everything, hold it */
    hg_delivery_t held[N];
    size_t n_held = 0;
    hg_delivery_t out[64];
    uint64_t deadline = hg_now_ms () + DEADLINE_MS;
    while (n_held < N) {
        if (hg_now_ms () > deadline) {
            fail_msg ("first delivery incomplete: %zu of %d", n_held, N);
        }
        size_t got = s_step (fx->srv, fx->cli, out, 64);
        for (size_t i = 0; i < got; i++) {
            s_check_delivery (fx, &out[i]);
            assert_true (n_held < N);
            held[n_held++] = out[i];
        }
    }
    assert_int_equal (hg_link_client_in_process (fx->cli), N);

    /* commit and ack the first half (seqs 1..5 in order of arrival) */
    for (size_t i = 0; i < N; i++) {
        assert_int_equal (held[i].seq, i + 1);
    }
    hg_link_client_ack (fx->cli, held, N / 2, 1000, hg_now_ms ());
    deadline = hg_now_ms () + DEADLINE_MS;
    while (hg_link_server_depth (fx->srv) != N / 2) {
        if (hg_now_ms () > deadline) {
            fail_msg ("acks not applied: depth %zu", hg_link_server_depth (fx->srv));
        }
        size_t got = s_step (fx->srv, fx->cli, out, 64);
        assert_int_equal (got, 0);
    }
    assert_int_equal (s_outbox_count (fx), N / 2);

    /* the upstream restarts on the same store and endpoint */
    hg_link_server_destroy (&fx->srv);
    fx->srv = hg_link_server_new (fx->zctx, fx->endpoint, fx->store, &fx->opts, &err);
    assert_non_null (fx->srv);
    assert_int_equal (hg_link_server_depth (fx->srv), N / 2);
    /* sequence numbers continue after the reloaded outbox */
    assert_int_equal (s_write_entry (fx, fx->srv, 100, -1), N + 1);
    assert_int_equal (hg_link_server_depth (fx->srv), N / 2 + 1);

    bool seen[MAX_SEQ] = {false};
    size_t unique = 0;
    deadline = hg_now_ms () + DEADLINE_MS;
    while (unique < N / 2 + 1 || hg_link_server_depth (fx->srv) > 0) {
        if (hg_now_ms () > deadline) {
            fail_msg ("not redelivered after restart: unique=%zu depth=%zu", unique,
                      hg_link_server_depth (fx->srv));
        }
        size_t got = s_step (fx->srv, fx->cli, out, 64);
        for (size_t i = 0; i < got; i++) {
            s_check_delivery (fx, &out[i]);
            /* only the unacknowledged 6..10 and the new 11 come back */
            if (out[i].seq <= N / 2 || out[i].seq > N + 1) {
                fail_msg ("seq %llu redelivered after its ack", (unsigned long long) out[i].seq);
            }
            if (!seen[out[i].seq]) {
                seen[out[i].seq] = true;
                unique++;
            }
        }
        if (got) {
            hg_link_client_ack (fx->cli, out, got, 1000, hg_now_ms ());
        }
    }
    assert_int_equal (s_outbox_count (fx), 0);
    assert_int_equal (hg_link_server_stats (fx->srv).acked, N / 2 + 1);

    /* the stale copies held from before the restart are acked late:
     * harmless duplicates, nothing more is removed */
    hg_link_client_ack (fx->cli, held + N / 2, N - N / 2, 1000, hg_now_ms ());
    for (int i = 0; i < 20; i++) {
        assert_int_equal (s_step (fx->srv, fx->cli, out, 64), 0);
    }
    assert_int_equal (hg_link_server_stats (fx->srv).acked, N / 2 + 1);
    assert_int_equal (hg_link_server_depth (fx->srv), 0);
    assert_int_equal (hg_link_client_in_process (fx->cli), 0);
    hg_link_client_destroy (&fx->cli);
    hg_link_server_destroy (&fx->srv);
}

static void
test_silent_client_redelivered (void **state)
{
    fx_t *fx = *state;
    enum { N = 6 };
    hg_err_t err = {0};
    fx->srv = hg_link_server_new (fx->zctx, fx->endpoint, fx->store, &fx->opts, &err);
    assert_non_null (fx->srv);
    for (int i = 0; i < N; i++) {
        s_write_entry (fx, fx->srv, i, -1);
    }
    fx->cli = hg_link_client_new (fx->zctx, fx->endpoint, "down-a", -1, &fx->opts, &err);
    assert_non_null (fx->cli);
    hg_delivery_t held[64], out[64];
    size_t n_held = 0;
    uint64_t deadline = hg_now_ms () + DEADLINE_MS;
    while (n_held < N) {
        if (hg_now_ms () > deadline) {
            fail_msg ("client a got %zu of %d", n_held, N);
        }
        size_t got = s_step (fx->srv, fx->cli, out, 64);
        for (size_t i = 0; i < got; i++) {
            s_check_delivery (fx, &out[i]);
            held[n_held++] = out[i];
        }
    }
    assert_int_equal (hg_link_server_stats (fx->srv).redelivered, 0);
    /* client a crashes before committing anything */
    s_release (held, n_held);
    hg_link_client_destroy (&fx->cli);
    uint64_t gone_at = hg_now_ms ();

    fx->cli2 = hg_link_client_new (fx->zctx, fx->endpoint, "down-b", -1, &fx->opts, &err);
    assert_non_null (fx->cli2);
    bool seen[MAX_SEQ] = {false};
    size_t unique = 0;
    uint64_t first_at = 0;
    deadline = hg_now_ms () + DEADLINE_MS;
    while (unique < N || hg_link_server_depth (fx->srv) > 0) {
        if (hg_now_ms () > deadline) {
            fail_msg ("not redelivered to b: unique=%zu depth=%zu redelivered=%llu", unique,
                      hg_link_server_depth (fx->srv),
                      (unsigned long long) hg_link_server_stats (fx->srv).redelivered);
        }
        size_t got = s_step (fx->srv, fx->cli2, out, 64);
        for (size_t i = 0; i < got; i++) {
            s_check_delivery (fx, &out[i]);
            if (!first_at) {
                first_at = hg_now_ms ();
            }
            if (!seen[out[i].seq]) {
                seen[out[i].seq] = true;
                unique++;
            }
        }
        if (got) {
            hg_link_client_ack (fx->cli2, out, got, 1000, hg_now_ms ());
        }
    }
    hg_outq_stats_t st = hg_link_server_stats (fx->srv);
    assert_int_equal (st.redelivered, N);
    assert_int_equal (st.acked, N);
    assert_int_equal (st.delivered, 2 * N);
    assert_int_equal (st.workers, 1);
    assert_int_equal (s_outbox_count (fx), 0);
    /* redelivery waited for the liveness timeout (150 ms after client a's last
     * READY, which was at most ~55 ms before it vanished) */
    assert_true (first_at - gone_at >= 80);
    hg_link_client_destroy (&fx->cli2);
    hg_link_server_destroy (&fx->srv);
}

static void
test_shard_routing (void **state)
{
    fx_t *fx = *state;
    hg_err_t err = {0};
    fx->srv = hg_link_server_new (fx->zctx, fx->endpoint, fx->store, &fx->opts, &err);
    assert_non_null (fx->srv);
    int shards[] = {0, 1, 0, 1, -1};
    for (int i = 0; i < 5; i++) {
        s_write_entry (fx, fx->srv, i, shards[i]);
    }
    fx->cli = hg_link_client_new (fx->zctx, fx->endpoint, "idx-1", 1, &fx->opts, &err);
    assert_non_null (fx->cli);
    hg_delivery_t out[64];
    size_t n = 0;
    uint64_t got_seqs[8];
    uint64_t until = hg_now_ms () + 300; /* long enough to see strays */
    while (hg_now_ms () < until) {
        size_t got = s_step (fx->srv, fx->cli, out, 64);
        for (size_t i = 0; i < got; i++) {
            s_check_delivery (fx, &out[i]);
            assert_true (n < 8);
            got_seqs[n++] = out[i].seq;
        }
        if (got) {
            hg_link_client_ack (fx->cli, out, got, 1000, hg_now_ms ());
        }
    }
    assert_int_equal (n, 2);
    assert_int_equal (got_seqs[0], 2);
    assert_int_equal (got_seqs[1], 4);
    assert_int_equal (hg_link_server_depth (fx->srv), 3);
    assert_int_equal (s_outbox_count (fx), 3);

    /* the reload after a restart routes by the shard stored in each envelope */
    hg_link_server_destroy (&fx->srv);
    fx->srv = hg_link_server_new (fx->zctx, fx->endpoint, fx->store, &fx->opts, &err);
    assert_non_null (fx->srv);
    fx->cli2 = hg_link_client_new (fx->zctx, fx->endpoint, "idx-0", 0, &fx->opts, &err);
    n = 0;
    until = hg_now_ms () + 400;
    while (hg_now_ms () < until) {
        size_t got = s_step (fx->srv, fx->cli2, out, 64);
        for (size_t i = 0; i < got; i++) {
            s_check_delivery (fx, &out[i]);
            assert_true (n < 8);
            got_seqs[n++] = out[i].seq;
        }
        if (got) {
            hg_link_client_ack (fx->cli2, out, got, 1000, hg_now_ms ());
        }
        /* keep the shard-1 client's DEALER drained so it stays healthy */
        assert_int_equal (hg_link_client_recv (fx->cli, out, 64, 0, hg_now_ms ()), 0);
    }
    assert_int_equal (n, 2);
    assert_int_equal (got_seqs[0], 1);
    assert_int_equal (got_seqs[1], 3);
    assert_int_equal (hg_link_server_depth (fx->srv), 1); /* seq 5, shard -1 */
    hg_link_client_destroy (&fx->cli2);
    hg_link_client_destroy (&fx->cli);
    hg_link_server_destroy (&fx->srv);
}

/* Byte bounds: frame_max_bytes = 1 makes every DELIVER carry one envelope,
 * and a receive bounded to 1 byte takes no second frame, so a round never
 * holds more than one delivery; everything still arrives exactly once. */
static void
test_byte_bounds (void **state)
{
    fx_t *fx = *state;
    enum { N = 10 };
    hg_err_t err = {0};
    fx->opts.frame_max_bytes = 1;
    fx->srv = hg_link_server_new (fx->zctx, fx->endpoint, fx->store, &fx->opts, &err);
    assert_non_null (fx->srv);
    for (int i = 0; i < N; i++) {
        s_write_entry (fx, fx->srv, i, -1);
    }
    fx->cli = hg_link_client_new (fx->zctx, fx->endpoint, "down-0", -1, &fx->opts, &err);
    assert_non_null (fx->cli);
    bool seen[N + 1] = {false};
    size_t unique = 0, max_round = 0;
    hg_delivery_t out[64];
    uint64_t deadline = hg_now_ms () + DEADLINE_MS;
    while (unique < N) {
        if (hg_now_ms () > deadline) {
            fail_msg ("not delivered in %d ms: unique=%zu", DEADLINE_MS, unique);
        }
        zmq_pollitem_t items[2] = {{hg_link_server_socket (fx->srv), 0, ZMQ_POLLIN, 0}};
        hg_link_client_pollitems (fx->cli, items + 1, 1);
        zmq_poll (items, 2, 5);
        uint64_t now = hg_now_ms ();
        hg_link_server_handle (fx->srv, now);
        hg_link_server_tick (fx->srv, now);
        hg_link_client_tick (fx->cli, 1000, now);
        usleep (2000); /* let several frames queue up */
        size_t got = hg_link_client_recv (fx->cli, out, 64, 1, now);
        max_round = got > max_round ? got : max_round;
        for (size_t i = 0; i < got; i++) {
            s_check_delivery (fx, &out[i]);
            assert_false (seen[out[i].seq]);
            seen[out[i].seq] = true;
            unique++;
        }
        if (got) {
            hg_link_client_ack (fx->cli, out, got, 1000, hg_now_ms ());
        }
    }
    assert_int_equal (max_round, 1);
}

/* "dns+tcp://name:port": one peer per address the name resolves to, found
 * at creation and re-resolution; an unknown name is zero upstreams, not an
 * error (a scaled-to-zero service); a malformed one is an error. */
static void
test_dns_discovery (void **state)
{
    fx_t *fx = *state;
    enum { N = 20 };
    hg_err_t err = {0};
    fx->srv = hg_link_server_new (fx->zctx, "tcp://127.0.0.1:*", fx->store, &fx->opts, &err);
    assert_non_null (fx->srv);
    char bound[128];
    size_t bl = sizeof (bound);
    assert_int_equal (zmq_getsockopt (hg_link_server_socket (fx->srv), ZMQ_LAST_ENDPOINT, bound,
                                      &bl),
                      0);
    const char *port = strrchr (bound, ':') + 1;
    char spec[160];
    snprintf (spec, sizeof (spec), "dns+tcp://localhost:%s", port);
    for (int i = 0; i < N; i++) {
        s_write_entry (fx, fx->srv, i, -1);
    }
    fx->opts.discover_ms = 20;
    fx->cli = hg_link_client_new (fx->zctx, spec, "down-0", -1, &fx->opts, &err);
    assert_non_null (fx->cli);
    assert_int_equal (hg_link_client_upstreams (fx->cli), 1);
    size_t unique = 0;
    hg_delivery_t out[64];
    uint64_t deadline = hg_now_ms () + DEADLINE_MS;
    while (unique < N || s_outbox_count (fx) > 0) {
        if (hg_now_ms () > deadline) {
            fail_msg ("not delivered in %d ms: unique=%zu", DEADLINE_MS, unique);
        }
        size_t got = s_step (fx->srv, fx->cli, out, 64);
        for (size_t i = 0; i < got; i++) {
            s_check_delivery (fx, &out[i]);
        }
        unique += got;
        if (got) {
            hg_link_client_ack (fx->cli, out, got, 1000, hg_now_ms ());
        }
    }
    assert_int_equal (unique, N);
    /* re-resolving the same address keeps the one connection */
    for (int i = 0; i < 10; i++) {
        s_step (fx->srv, fx->cli, out, 64);
        usleep (5000);
    }
    assert_int_equal (hg_link_client_upstreams (fx->cli), 1);
    assert_int_equal (hg_link_server_stats (fx->srv).workers, 1);

    hg_link_client_t *none = hg_link_client_new (fx->zctx, "dns+tcp://hg-no-such-host.invalid:5",
                                                 "down-1", -1, &fx->opts, &err);
    assert_non_null (none);
    assert_int_equal (hg_link_client_upstreams (none), 0);
    zmq_pollitem_t items[4];
    assert_int_equal (hg_link_client_pollitems (none, items, 4), 0);
    hg_link_client_tick (none, 1000, hg_now_ms () + 1000);
    assert_int_equal (hg_link_client_recv (none, out, 64, 0, hg_now_ms ()), 0);
    hg_link_client_destroy (&none);

    hg_err_clear (&err);
    none = hg_link_client_new (fx->zctx, "dns+tcp://noport", "down-2", -1, &fx->opts, &err);
    assert_null (none);
    assert_int_equal (err.code, HG_EINVAL);
    assert_string_equal (err.msg, "upstream 'dns+tcp://noport': expected dns+tcp://NAME:PORT "
                                  "(NAME resolved to every address of the upstream's instances)");
}

/* hourglass drain: a draining client advertises no credit; the upstream
 * confirms (HEARTBEAT stopped) and, from then on, hands everything to the
 * other client; what the drained one received before it still acks. */
static void
test_drain (void **state)
{
    fx_t *fx = *state;
    enum { N = 60 };
    hg_err_t err = {0};
    fx->srv = hg_link_server_new (fx->zctx, fx->endpoint, fx->store, &fx->opts, &err);
    assert_non_null (fx->srv);
    fx->cli = hg_link_client_new (fx->zctx, fx->endpoint, "down-0", -1, &fx->opts, &err);
    fx->cli2 = hg_link_client_new (fx->zctx, fx->endpoint, "down-1", -1, &fx->opts, &err);
    assert_non_null (fx->cli);
    assert_non_null (fx->cli2);
    hg_delivery_t out[64];
    /* both say HELLO before there is work */
    for (int i = 0; i < 20; i++) {
        s_release (out, s_step (fx->srv, fx->cli, out, 64));
        s_release (out, s_step (NULL, fx->cli2, out, 64));
    }
    for (int i = 0; i < N / 2; i++) {
        s_write_entry (fx, fx->srv, i, -1);
    }
    /* the first client gets some and holds them (not acked yet) */
    hg_delivery_t held[64];
    size_t n_held = 0;
    uint64_t deadline = hg_now_ms () + DEADLINE_MS;
    while (n_held == 0 && hg_now_ms () < deadline) {
        n_held = s_step (fx->srv, fx->cli, held, 64);
    }
    assert_true (n_held > 0);
    assert_int_equal (hg_link_client_stopped (fx->cli, hg_now_ms ()), 0); /* not draining */
    hg_link_client_drain (fx->cli, true, 1000, hg_now_ms ());
    while (hg_link_client_stopped (fx->cli, hg_now_ms ()) < 1 && hg_now_ms () < deadline) {
        size_t k = s_step (fx->srv, fx->cli, held + n_held, 64 - n_held);
        n_held += k; /* sent before the drain was applied: still ours */
    }
    assert_int_equal (hg_link_client_stopped (fx->cli, hg_now_ms ()), 1);
    assert_int_equal (hg_link_client_in_process (fx->cli), n_held);
    /* confirmed: nothing more comes to it, the rest goes to the other */
    for (int i = N / 2; i < N; i++) {
        s_write_entry (fx, fx->srv, i, -1);
    }
    size_t to_other = 0;
    while (to_other < N - n_held && hg_now_ms () < deadline) {
        assert_int_equal (s_step (fx->srv, fx->cli, out, 64), 0);
        size_t k = s_step (NULL, fx->cli2, out, 64);
        for (size_t i = 0; i < k; i++) {
            s_check_delivery (fx, &out[i]);
            out[i].peer = 0;
        }
        hg_link_client_ack (fx->cli2, out, k, 1000, hg_now_ms ());
        to_other += k;
    }
    assert_int_equal (to_other, N - n_held);
    /* the drained client commits and acks what it held: the outbox empties */
    hg_link_client_ack (fx->cli, held, n_held, 1000, hg_now_ms ());
    assert_int_equal (hg_link_client_in_process (fx->cli), 0);
    while (hg_link_server_depth (fx->srv) > 0 && hg_now_ms () < deadline) {
        s_release (out, s_step (fx->srv, fx->cli, out, 64));
    }
    assert_int_equal (hg_link_server_depth (fx->srv), 0);
    /* resumed: it takes work again (the other gone, it alone can) */
    hg_link_client_destroy (&fx->cli2);
    hg_link_client_drain (fx->cli, false, 1000, hg_now_ms ());
    assert_int_equal (hg_link_client_stopped (fx->cli, hg_now_ms ()), 0);
    s_write_entry (fx, fx->srv, N, -1);
    size_t got = 0;
    while (got == 0 && hg_now_ms () < deadline) {
        got = s_step (fx->srv, fx->cli, out, 64);
        s_release (out, got);
    }
    assert_int_equal (got, 1);
}

static void
test_errors (void **state)
{
    fx_t *fx = *state;
    hg_err_t err = {0};
    hg_link_server_t *srv = hg_link_server_new (fx->zctx, "bogus://x", fx->store, &fx->opts,
                                                &err);
    assert_null (srv);
    assert_int_equal (err.code, HG_EIO);
    assert_string_equal (err.msg, "cannot bind bogus://x: Protocol not supported");

    hg_err_clear (&err);
    hg_link_client_t *cli = hg_link_client_new (fx->zctx, "", "x", -1, &fx->opts, &err);
    assert_null (cli);
    assert_int_equal (err.code, HG_EINVAL);
    assert_string_equal (err.msg, "no upstream endpoint given");
}

/* Commits an entry whose payload is len bytes of idx's letter. */
static uint64_t
s_write_sized (fx_t *fx, hg_link_server_t *srv, int idx, size_t len)
{
    unsigned char key[10];
    uint64_t seq = hg_link_server_next_seq (srv, key);
    assert_true (seq < MAX_SEQ);
    char id[64];
    snprintf (id, sizeof (id), "p/big-%d", idx);
    uint8_t *payload = malloc (len);
    memset (payload, 'a' + idx % 26, len);
    Hourglass__Envelope env = HOURGLASS__ENVELOPE__INIT;
    env.id = id;
    env.shard = -1;
    env.record_count = (uint32_t) idx;
    env.payload.data = payload;
    env.payload.len = len;
    size_t plen = hourglass__envelope__get_packed_size (&env);
    uint8_t *buf = malloc (plen);
    hourglass__envelope__pack (&env, buf);
    hg_store_batch_t *b = hg_store_batch_new ();
    hg_store_batch_put (b, key, sizeof (key), buf, plen);
    hg_err_t err = {0};
    assert_int_equal (hg_store_write (fx->store, b, true, &err), 0);
    hg_store_batch_destroy (&b);
    free (buf);
    free (payload);
    hg_link_server_enqueue (srv, seq, -1, plen);
    fx->idx_of_seq[seq] = idx;
    return seq;
}

/* Runs a client that acks only once nothing new has come for 20 steps;
 * checks what it holds against the byte budget at every step. Returns the
 * most it held at once before its first ack (envelopes). */
static size_t
s_run_held (fx_t *fx, hg_link_client_t *cli, size_t n_entries, uint64_t budget,
            const size_t *len_of_idx)
{
    hg_delivery_t held[64];
    size_t n_held = 0, first_hold = 0, unique = 0, quiet = 0;
    bool seen[64] = {false}, acked_once = false;
    uint64_t deadline = hg_now_ms () + DEADLINE_MS;
    while (unique < n_entries || n_held || hg_link_server_depth (fx->srv) > 0) {
        if (hg_now_ms () > deadline) {
            fail_msg ("not delivered: unique=%zu held=%zu depth=%zu", unique, n_held,
                      hg_link_server_depth (fx->srv));
        }
        size_t got = s_step (fx->srv, cli, held + n_held, 64 - n_held);
        uint64_t bytes = 0;
        for (size_t i = 0; i < n_held + got; i++) {
            bytes += held[i].wire_bytes;
        }
        for (size_t i = n_held; i < n_held + got; i++) {
            assert_non_null (held[i].env);
            int idx = fx->idx_of_seq[held[i].seq];
            assert_true (idx >= 0 && idx < 64);
            assert_int_equal (held[i].env->payload.len, len_of_idx[idx]);
            assert_false (seen[idx]);
            seen[idx] = true;
            unique++;
        }
        n_held += got;
        if (budget) {
            /* within the budget, or one envelope larger than it, alone */
            if (bytes > budget && n_held != 1) {
                fail_msg ("holds %zu envelopes of %llu bytes, budget %llu", n_held,
                          (unsigned long long) bytes, (unsigned long long) budget);
            }
        }
        if (!acked_once && n_held > first_hold) {
            first_hold = n_held;
        }
        quiet = got ? 0 : quiet + 1;
        if (n_held && quiet >= 20) {
            hg_link_client_ack (cli, held, n_held, 1000, hg_now_ms ());
            n_held = 0;
            acked_once = true;
            assert_int_equal (hg_link_client_in_process (cli), 0);
        }
    }
    hg_outq_stats_t st = hg_link_server_stats (fx->srv);
    assert_int_equal (st.acked, n_entries);
    assert_int_equal (st.redelivered, 0);
    return first_hold;
}

/* Byte credit (issue 12 point 11): a downstream with credit_bytes 4000 is
 * sent envelopes of ~1 KB three at a time (the count, 16, would allow 16);
 * one of 20 KB, larger than the whole budget, still comes, alone; all
 * arrive exactly once. Without byte credit (credit_bytes 0: what an older
 * downstream sends) the count alone limits it. */
static void
test_byte_credit (void **state)
{
    fx_t *fx = *state;
    enum { N = 14 };
    size_t len_of_idx[N];
    hg_err_t err = {0};
    fx->srv = hg_link_server_new (fx->zctx, fx->endpoint, fx->store, &fx->opts, &err);
    assert_non_null (fx->srv);
    for (int i = 0; i < N; i++) {
        len_of_idx[i] = i == 7 ? 20000 : 1000;
        s_write_sized (fx, fx->srv, i, len_of_idx[i]);
    }
    hg_link_opts_t o = fx->opts;
    o.credit_bytes = 4000;
    fx->cli = hg_link_client_new (fx->zctx, fx->endpoint, "down-0", -1, &o, &err);
    assert_non_null (fx->cli);
    assert_int_equal (s_run_held (fx, fx->cli, N, o.credit_bytes, len_of_idx), 3);
    hg_link_client_destroy (&fx->cli);

    /* a restarted upstream reloads its outbox with each entry's size */
    for (int i = 0; i < N; i++) {
        s_write_sized (fx, fx->srv, i, len_of_idx[i]);
    }
    hg_link_server_destroy (&fx->srv);
    fx->srv = hg_link_server_new (fx->zctx, fx->endpoint, fx->store, &fx->opts, &err);
    assert_non_null (fx->srv);
    fx->cli = hg_link_client_new (fx->zctx, fx->endpoint, "down-1", -1, &o, &err);
    assert_non_null (fx->cli);
    assert_int_equal (s_run_held (fx, fx->cli, N, o.credit_bytes, len_of_idx), 3);
    hg_link_client_destroy (&fx->cli);

    /* without byte credit (as from an older downstream): 14 at once (window 16) */
    hg_link_server_destroy (&fx->srv);
    fx->srv = hg_link_server_new (fx->zctx, fx->endpoint, fx->store, &fx->opts, &err);
    assert_non_null (fx->srv);
    for (int i = 0; i < N; i++) {
        s_write_sized (fx, fx->srv, i, len_of_idx[i]);
    }
    o.credit_bytes = 0;
    fx->cli = hg_link_client_new (fx->zctx, fx->endpoint, "down-2", -1, &o, &err);
    assert_non_null (fx->cli);
    assert_int_equal (s_run_held (fx, fx->cli, N, 0, len_of_idx), N);
}

HG_TEST_MAIN (cmocka_unit_test_setup_teardown (test_deliver_and_ack, s_setup, s_teardown),
              cmocka_unit_test_setup_teardown (test_upstream_restart_redelivers, s_setup,
                                               s_teardown),
              cmocka_unit_test_setup_teardown (test_silent_client_redelivered, s_setup,
                                               s_teardown),
              cmocka_unit_test_setup_teardown (test_shard_routing, s_setup, s_teardown),
              cmocka_unit_test_setup_teardown (test_byte_bounds, s_setup, s_teardown),
              cmocka_unit_test_setup_teardown (test_dns_discovery, s_setup, s_teardown),
              cmocka_unit_test_setup_teardown (test_drain, s_setup, s_teardown),
              cmocka_unit_test_setup_teardown (test_errors, s_setup, s_teardown),
              cmocka_unit_test_setup_teardown (test_byte_credit, s_setup, s_teardown))
