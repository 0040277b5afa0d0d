/*
 * outq.c -- upstream dispatch state: a seq -> state hash map (the truth),
 * per-shard deques of pending seqs (hints; stale entries skipped), and a
 * small worker table.
 */
#include "outq.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#define HG_OUTQ_MAX_WORKERS 256
#define STATE_PENDING (-1)
#define STATE_NONE (-2)

/* --- open-addressing map uint64 -> int32, linear probing, backward-shift
 * deletion so there are no tombstones ------------------------------------- */

typedef struct {
    uint64_t key;
    uint64_t bytes; /* the entry's length, for byte credit (0: unknown) */
    int32_t val;
    bool used;
} slot_t;

typedef struct {
    slot_t *slots;
    size_t cap; /* power of two */
    size_t n;
} map_t;

static uint64_t
s_mix (uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

static int
s_map_grow (map_t *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 1024;
    slot_t *ns = calloc (ncap, sizeof (*ns));
    if (!ns) {
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i].used) {
            size_t j = s_mix (m->slots[i].key) & (ncap - 1);
            while (ns[j].used) {
                j = (j + 1) & (ncap - 1);
            }
            ns[j] = m->slots[i];
        }
    }
    free (m->slots);
    m->slots = ns;
    m->cap = ncap;
    return 0;
}

static slot_t *
s_map_find (const map_t *m, uint64_t key)
{
    if (!m->cap) {
        return NULL;
    }
    size_t j = s_mix (key) & (m->cap - 1);
    while (m->slots[j].used) {
        if (m->slots[j].key == key) {
            return &m->slots[j];
        }
        j = (j + 1) & (m->cap - 1);
    }
    return NULL;
}

static int
s_map_insert (map_t *m, uint64_t key, int32_t val, uint64_t bytes)
{
    if ((m->n + 1) * 4 >= m->cap * 3 && s_map_grow (m) < 0) {
        return -1;
    }
    size_t j = s_mix (key) & (m->cap - 1);
    while (m->slots[j].used) {
        if (m->slots[j].key == key) {
            return -1;
        }
        j = (j + 1) & (m->cap - 1);
    }
    m->slots[j] = (slot_t) {key, bytes, val, true};
    m->n++;
    return 0;
}

static void
s_map_remove (map_t *m, slot_t *s)
{
    size_t mask = m->cap - 1;
    size_t i = (size_t) (s - m->slots);
    m->slots[i].used = false;
    m->n--;
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!m->slots[j].used) {
            break;
        }
        size_t home = s_mix (m->slots[j].key) & mask;
        /* move j back to i when its home is not cyclically in (i, j] */
        bool between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!between) {
            m->slots[i] = m->slots[j];
            m->slots[j].used = false;
            i = j;
        }
    }
}

/* --- ring-buffer deque of uint64 ----------------------------------------- */

typedef struct {
    uint64_t *buf;
    size_t cap, head, n;
} deque_t;

static int
s_dq_grow (deque_t *d)
{
    size_t ncap = d->cap ? d->cap * 2 : 256;
    uint64_t *nb = malloc (ncap * sizeof (*nb));
    if (!nb) {
        return -1;
    }
    for (size_t i = 0; i < d->n; i++) {
        nb[i] = d->buf[(d->head + i) % d->cap];
    }
    free (d->buf);
    d->buf = nb;
    d->cap = ncap;
    d->head = 0;
    return 0;
}

static int
s_dq_push_back (deque_t *d, uint64_t v)
{
    if (d->n == d->cap && s_dq_grow (d) < 0) {
        return -1;
    }
    d->buf[(d->head + d->n) % d->cap] = v;
    d->n++;
    return 0;
}

static int
s_dq_push_front (deque_t *d, uint64_t v)
{
    if (d->n == d->cap && s_dq_grow (d) < 0) {
        return -1;
    }
    d->head = (d->head + d->cap - 1) % d->cap;
    d->buf[d->head] = v;
    d->n++;
    return 0;
}

static bool
s_dq_peek_front (const deque_t *d, uint64_t *v)
{
    if (!d->n) {
        return false;
    }
    *v = d->buf[d->head];
    return true;
}

static bool
s_dq_pop_front (deque_t *d, uint64_t *v)
{
    if (!d->n) {
        return false;
    }
    *v = d->buf[d->head];
    d->head = (d->head + 1) % d->cap;
    d->n--;
    return true;
}

/* --- workers and the queue ----------------------------------------------- */

typedef struct {
    bool alive;
    unsigned char rid[HG_OUTQ_ID_MAX]; /* socket routing id */
    size_t rid_len;
    char instance[64]; /* stable instance name */
    int shard;         /* -1: any */
    uint64_t session;
    uint64_t sent;     /* envelopes sent this session */
    uint64_t received; /* as last reported */
    uint32_t ready;    /* as last reported */
    uint64_t last_ms;  /* last frame heard */
    size_t inflight;
    /* byte credit, when the worker grants it (hg_outq_credit_bytes) */
    bool bytes_on;
    uint64_t sent_bytes;     /* entry bytes sent this session */
    uint64_t received_bytes; /* as last reported */
    uint64_t ready_bytes;    /* as last reported */
} worker_t;

struct hg_outq {
    map_t state;                             /* seq -> STATE_PENDING or worker slot */
    deque_t pending[HG_OUTQ_MAX_SHARDS + 1]; /* index shard+1 */
    size_t n_pending;                        /* entries in state PENDING */
    worker_t workers[HG_OUTQ_MAX_WORKERS];
    hg_outq_stats_t stats;
};

hg_outq_t *
hg_outq_new (void)
{
    return calloc (1, sizeof (hg_outq_t));
}

void
hg_outq_destroy (hg_outq_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    hg_outq_t *self = *self_p;
    free (self->state.slots);
    for (int i = 0; i <= HG_OUTQ_MAX_SHARDS; i++) {
        free (self->pending[i].buf);
    }
    free (self);
    *self_p = NULL;
}

int
hg_outq_push (hg_outq_t *self, uint64_t seq, int shard)
{
    return hg_outq_push_bytes (self, seq, shard, 0);
}

int
hg_outq_push_bytes (hg_outq_t *self, uint64_t seq, int shard, uint64_t bytes)
{
    if (shard < -1 || shard >= HG_OUTQ_MAX_SHARDS) {
        return -1;
    }
    if (s_map_insert (&self->state, seq, STATE_PENDING, bytes) < 0) {
        return -1;
    }
    if (s_dq_push_back (&self->pending[shard + 1], seq) < 0) {
        slot_t *s = s_map_find (&self->state, seq);
        s_map_remove (&self->state, s);
        return -1;
    }
    self->n_pending++;
    return 0;
}

static int
s_cmp_desc (const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Requeues every entry in flight to worker w at the front of its shard's
 * deque, lowest sequence first out. */
static size_t
s_requeue (hg_outq_t *self, int w)
{
    worker_t *wk = &self->workers[w];
    if (!wk->inflight) {
        return 0;
    }
    uint64_t *seqs = malloc (wk->inflight * sizeof (*seqs));
    size_t n = 0;
    for (size_t i = 0; seqs && i < self->state.cap; i++) {
        slot_t *s = &self->state.slots[i];
        if (s->used && s->val == w && n < wk->inflight) {
            seqs[n++] = s->key;
            s->val = STATE_PENDING;
        }
    }
    if (seqs) {
        qsort (seqs, n, sizeof (*seqs), s_cmp_desc);
        for (size_t i = 0; i < n; i++) {
            s_dq_push_front (&self->pending[wk->shard + 1], seqs[i]);
        }
    }
    free (seqs);
    self->n_pending += n;
    self->stats.redelivered += n;
    wk->inflight = 0;
    return n;
}

static void
s_kill (hg_outq_t *self, int w)
{
    s_requeue (self, w);
    self->workers[w].alive = false;
    self->stats.workers--;
}

int
hg_outq_find (hg_outq_t *self, const void *rid, size_t rid_len)
{
    for (int w = 0; w < HG_OUTQ_MAX_WORKERS; w++) {
        worker_t *wk = &self->workers[w];
        if (wk->alive && wk->rid_len == rid_len && memcmp (wk->rid, rid, rid_len) == 0) {
            return w;
        }
    }
    return -1;
}

int
hg_outq_hello (hg_outq_t *self, const void *rid, size_t rid_len, const char *instance, int shard,
               uint64_t session, uint32_t ready, uint64_t now_ms)
{
    if (shard < -1 || shard >= HG_OUTQ_MAX_SHARDS || rid_len > HG_OUTQ_ID_MAX) {
        return -1;
    }
    int w = hg_outq_find (self, rid, rid_len);
    if (w >= 0) {
        s_requeue (self, w);
    }
    /* a restarted process comes back under a new routing id */
    for (int i = 0; i < HG_OUTQ_MAX_WORKERS; i++) {
        if (i != w && self->workers[i].alive && instance && *instance
            && strcmp (self->workers[i].instance, instance) == 0) {
            s_kill (self, i);
        }
    }
    if (w < 0) {
        for (int i = 0; i < HG_OUTQ_MAX_WORKERS; i++) {
            if (!self->workers[i].alive) {
                w = i;
                break;
            }
        }
        if (w < 0) {
            return -1;
        }
        self->stats.workers++;
    }
    worker_t *wk = &self->workers[w];
    memset (wk, 0, sizeof (*wk));
    wk->alive = true;
    memcpy (wk->rid, rid, rid_len);
    wk->rid_len = rid_len;
    snprintf (wk->instance, sizeof (wk->instance), "%s", instance ? instance : "");
    wk->shard = shard;
    wk->session = session;
    wk->ready = ready;
    wk->last_ms = now_ms;
    return w;
}

size_t
hg_outq_ready (hg_outq_t *self, int w, uint64_t session, uint64_t received, uint32_t ready,
               const uint64_t *acks, size_t n_acks, uint64_t *acked_out, uint64_t now_ms)
{
    size_t n_out = 0;
    for (size_t i = 0; i < n_acks; i++) {
        slot_t *s = s_map_find (&self->state, acks[i]);
        if (!s) {
            continue; /* already acked, or never ours */
        }
        if (s->val == STATE_PENDING) {
            self->n_pending--; /* its deque entry is now stale */
        }
        else if (s->val >= 0) {
            self->workers[s->val].inflight--;
        }
        s_map_remove (&self->state, s);
        acked_out[n_out++] = acks[i];
        self->stats.acked++;
    }
    if (w >= 0 && w < HG_OUTQ_MAX_WORKERS && self->workers[w].alive) {
        worker_t *wk = &self->workers[w];
        wk->last_ms = now_ms;
        if (session == wk->session) {
            wk->received = received;
            wk->ready = ready;
        }
    }
    return n_out;
}

void
hg_outq_credit_bytes (hg_outq_t *self, int w, uint64_t session, uint64_t received_bytes,
                      uint64_t ready_bytes)
{
    if (w < 0 || w >= HG_OUTQ_MAX_WORKERS || !self->workers[w].alive
        || self->workers[w].session != session) {
        return;
    }
    worker_t *wk = &self->workers[w];
    wk->bytes_on = true;
    wk->received_bytes = received_bytes;
    wk->ready_bytes = ready_bytes;
}

bool
hg_outq_bytes_fit (uint64_t ready_bytes, uint64_t sent_bytes, uint64_t received_bytes,
                   size_t inflight, uint64_t bytes)
{
    uint64_t outstanding = sent_bytes > received_bytes ? sent_bytes - received_bytes : 0;
    uint64_t credit = ready_bytes > outstanding ? ready_bytes - outstanding : 0;
    /* one envelope larger than the whole budget still flows, alone: when the
     * worker holds nothing of ours and has room for anything at all (it may
     * still hold a previous session's entries: those count in ready_bytes) */
    return bytes <= credit || (inflight == 0 && ready_bytes > 0);
}

size_t
hg_outq_take (hg_outq_t *self, int w, uint64_t *seqs, size_t max)
{
    worker_t *wk = &self->workers[w];
    if (!wk->alive) {
        return 0;
    }
    uint64_t outstanding = wk->sent > wk->received ? wk->sent - wk->received : 0;
    uint64_t credit = wk->ready > outstanding ? wk->ready - outstanding : 0;
    if (credit < max) {
        max = (size_t) credit;
    }
    deque_t *dq = &self->pending[wk->shard + 1];
    size_t n = 0;
    uint64_t seq;
    while (n < max && s_dq_peek_front (dq, &seq)) {
        slot_t *s = s_map_find (&self->state, seq);
        if (!s || s->val != STATE_PENDING) {
            s_dq_pop_front (dq, &seq);
            continue; /* stale hint */
        }
        /* in order: an entry that does not fit waits at the front */
        if (wk->bytes_on
            && !hg_outq_bytes_fit (wk->ready_bytes, wk->sent_bytes, wk->received_bytes,
                                   wk->inflight + n, s->bytes)) {
            break;
        }
        s_dq_pop_front (dq, &seq);
        s->val = w;
        wk->sent_bytes += s->bytes;
        seqs[n++] = seq;
    }
    wk->sent += n;
    wk->inflight += n;
    self->n_pending -= n;
    self->stats.delivered += n;
    return n;
}

size_t
hg_outq_expire (hg_outq_t *self, uint64_t now_ms, uint64_t timeout_ms)
{
    size_t requeued = 0;
    for (int w = 0; w < HG_OUTQ_MAX_WORKERS; w++) {
        worker_t *wk = &self->workers[w];
        if (wk->alive && now_ms > wk->last_ms + timeout_ms) {
            requeued += wk->inflight;
            s_kill (self, w);
        }
    }
    return requeued;
}

size_t
hg_outq_drop (hg_outq_t *self, int w)
{
    if (w < 0 || w >= HG_OUTQ_MAX_WORKERS || !self->workers[w].alive) {
        return 0;
    }
    size_t n = self->workers[w].inflight;
    s_kill (self, w);
    return n;
}

size_t
hg_outq_workers (hg_outq_t *self, int *slots, size_t max)
{
    size_t n = 0;
    for (int w = 0; w < HG_OUTQ_MAX_WORKERS && n < max; w++) {
        if (self->workers[w].alive) {
            slots[n++] = w;
        }
    }
    return n;
}

const void *
hg_outq_worker_rid (hg_outq_t *self, int w, size_t *rid_len)
{
    *rid_len = self->workers[w].rid_len;
    return self->workers[w].rid;
}

uint64_t
hg_outq_worker_session (hg_outq_t *self, int w)
{
    return self->workers[w].session;
}

size_t
hg_outq_depth (const hg_outq_t *self)
{
    return self->state.n;
}

size_t
hg_outq_pending (const hg_outq_t *self)
{
    return self->n_pending;
}

hg_outq_stats_t
hg_outq_stats (const hg_outq_t *self)
{
    return self->stats;
}
