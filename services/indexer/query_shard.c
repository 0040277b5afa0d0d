/*
 * query_shard.c -- a shard's evaluation of a query (see query_shard.h).
 *
 * Candidates: the patients of the criterion of all with the fewest (P keys
 * of its codes, or of every code under its prefix), else of each of any,
 * else every patient (past each patient's timeline keys). Each candidate
 * is read once: G (a get) and its timeline E (one prefix walk), and
 * evaluated whole, so every criterion, after, value and measure is exact
 * for that patient.
 */
#include "query_shard.h"

#include "query_bitmap.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    unsigned char (*v)[HG_INDEX_ID_BYTES];
    size_t n, cap;
} s_ids_t;

static int
s_ids_push (s_ids_t *ids, const char *id)
{
    if (ids->n == ids->cap) {
        size_t cap = ids->cap ? ids->cap * 2 : 1024;
        void *v = realloc (ids->v, cap * HG_INDEX_ID_BYTES);
        if (!v) {
            return -1;
        }
        ids->v = v;
        ids->cap = cap;
    }
    memcpy (ids->v[ids->n++], id, HG_INDEX_ID_BYTES);
    return 0;
}

static int
s_cmp_id (const void *a, const void *b)
{
    return memcmp (a, b, HG_INDEX_ID_BYTES);
}

static void
s_ids_unique (s_ids_t *ids)
{
    if (ids->n == 0) {
        return;
    }
    qsort (ids->v, ids->n, HG_INDEX_ID_BYTES, s_cmp_id);
    size_t w = 1;
    for (size_t r = 1; r < ids->n; r++) {
        if (memcmp (ids->v[r], ids->v[w - 1], HG_INDEX_ID_BYTES) != 0) {
            memcpy (ids->v[w++], ids->v[r], HG_INDEX_ID_BYTES);
        }
    }
    ids->n = w;
}

/* A walk over one kind of key that moves forward to a target by a few steps
 * (candidates are often close together) or else a seek, and can hold the
 * key it stopped at for the next read. */
typedef struct {
    hg_store_iter_t *it;
    bool held, end;
    const char *k, *v;
    size_t kl, vl;
} s_cursor_t;

#define S_STEPS 8

static bool
s_cur_next (s_cursor_t *c)
{
    if (c->held) {
        c->held = false;
        return true;
    }
    c->end = c->end || !hg_store_iter_next (c->it, &c->k, &c->kl, &c->v, &c->vl);
    return !c->end;
}

static int
s_keycmp (const char *k, size_t kl, const unsigned char *t, size_t tl)
{
    int d = memcmp (k, t, kl < tl ? kl : tl);
    return d ? d : (kl > tl) - (kl < tl);
}

/* Back to the first key (a walk only moves forward). */
static void
s_cur_rewind (s_cursor_t *c, const char *lead)
{
    hg_store_iter_seek (c->it, lead, 1);
    c->held = c->end = false;
}

/* Holds the first key >= target (never before the last one held: targets
 * go forward); false when there is none. */
static bool
s_cur_to (s_cursor_t *c, const unsigned char *target, size_t tl)
{
    for (int step = 0; step < S_STEPS && !c->end; step++) {
        if ((c->held || s_cur_next (c)) && s_keycmp (c->k, c->kl, target, tl) >= 0) {
            c->held = true;
            return true;
        }
        c->held = false;
    }
    hg_store_iter_seek (c->it, target, tl);
    c->end = false;
    c->held = s_cur_next (c);
    return c->held;
}

/* The patients carrying a code of criterion c (P keys: each patient once
 * per code; a prefix walks every code under it). */
static int
s_crit_patients (hg_index_t *ix, const hg_qcrit_t *c, s_ids_t *ids)
{
    char prefix[HG_INDEX_KEY_MAX];
    for (size_t i = 0; i < c->n_codes; i++) {
        size_t pl = hg_index_code_prefix (ix, 'P', c->codes[i].system, c->codes[i].code,
                                          !c->prefix, prefix);
        if (!pl) {
            continue;
        }
        hg_store_iter_t *it = hg_store_iter_new (hg_index_store (ix), prefix, pl, NULL, 0);
        const char *k;
        size_t kl;
        int rc = 0;
        while (rc == 0 && hg_store_iter_next (it, &k, &kl, NULL, NULL)) {
            if (c->prefix ? kl > pl + HG_INDEX_ID_BYTES && k[kl - HG_INDEX_ID_BYTES - 1] == '\0'
                          : kl == pl + HG_INDEX_ID_BYTES) {
                rc = s_ids_push (ids, k + kl - HG_INDEX_ID_BYTES);
            }
        }
        hg_store_iter_destroy (&it);
        if (rc < 0) {
            return -1;
        }
    }
    return 0;
}

/* Every patient with records: the timeline keys (every record has one, and
 * they are smaller than the R keys' records), moving past each patient (a
 * few steps over its records, or a seek). */
static int
s_all_patients (hg_index_t *ix, s_ids_t *ids)
{
    s_cursor_t c;
    memset (&c, 0, sizeof (c));
    c.it = hg_store_iter_new (hg_index_store (ix), "E", 1, NULL, 0);
    int rc = c.it ? 0 : -1;
    while (rc == 0 && s_cur_next (&c)) {
        if (c.kl != 1 + 2 * HG_INDEX_ID_BYTES + 4) {
            continue;
        }
        unsigned char next[1 + HG_INDEX_ID_BYTES];
        memcpy (next, c.k, sizeof (next));
        rc = s_ids_push (ids, c.k + 1);
        int i = HG_INDEX_ID_BYTES;
        while (i > 0 && ++next[i] == 0) {
            i--; /* the next patient id: this one + 1 */
        }
        if (i == 0 || !s_cur_to (&c, next, sizeof (next))) {
            break;
        }
    }
    hg_store_iter_destroy (&c.it);
    return rc;
}

/* The criterion of all with the fewest patients by the per-code totals (a
 * prefix's are not known: taken last); every patient of the cohort carries
 * a code of each, so any one gives the candidates. */
static size_t
s_smallest_all (hg_index_t *ix, const hg_query_t *q)
{
    size_t best = 0;
    uint64_t best_n = UINT64_MAX;
    for (size_t i = 0; i < q->n_all; i++) {
        const hg_qcrit_t *c = &q->crit[i];
        uint64_t n = 0;
        for (size_t k = 0; !c->prefix && k < c->n_codes; k++) {
            uint64_t p = 0, r = 0;
            hg_err_t err;
            if (hg_index_count (ix, c->codes[k].system, c->codes[k].code, NULL, NULL, &p, &r,
                                &err)
                == 0) {
                n += p;
            }
        }
        if (c->prefix) {
            n = UINT64_MAX - 1;
        }
        if (n < best_n) {
            best = i;
            best_n = n;
        }
    }
    return best;
}

static int
s_add_id (void *arg, const unsigned char *id)
{
    return s_ids_push (arg, (const char *) id);
}

bool hg_query_shard_timelines_only = false;

static int
s_candidates (hg_index_t *ix, const hg_query_t *q, s_ids_t *ids)
{
    int rc = hg_query_shard_timelines_only ? 0 : hg_qbits_candidates (ix, q, s_add_id, ids);
    if (rc != 0) {
        rc = rc < 0 ? rc : 0; /* the patients the bitmaps leave */
    }
    else if (q->n_all) {
        rc = s_crit_patients (ix, &q->crit[s_smallest_all (ix, q)], ids);
    }
    else if (q->n_any) {
        for (size_t i = 0; rc == 0 && i < q->n_any; i++) {
            rc = s_crit_patients (ix, &q->crit[q->n_all + i], ids);
        }
    }
    else {
        rc = s_all_patients (ix, ids);
    }
    s_ids_unique (ids);
    return rc;
}

/* The demographics of patient id (its G key) into p; git walks the G keys
 * (patients are asked in order: a seek forward each). */
static void
s_demographics (s_cursor_t *git, const unsigned char *id, hg_qpatient_t *p)
{
    unsigned char key[1 + HG_INDEX_ID_BYTES];
    key[0] = 'G';
    memcpy (key + 1, id, HG_INDEX_ID_BYTES);
    memset (p, 0, sizeof (*p));
    if (!s_cur_to (git, key, sizeof (key)) || s_keycmp (git->k, git->kl, key, sizeof (key)) != 0
        || git->vl < HG_INDEX_DEMO_BYTES) {
        return;
    }
    const unsigned char *g = (const unsigned char *) git->v;
    static const char *const sexes[] = {"female", "male", "other", "unknown"};
    p->known = true;
    for (size_t i = 0; i < 4; i++) {
        if (g[0] == (unsigned char) sexes[i][0]) {
            strcpy (p->sex, sexes[i]);
        }
    }
    p->birth_year = g[1] | g[2] << 8;
    memcpy (p->state, g + 3, 3);
    p->state[3] = '\0';
}

typedef struct {
    hg_qevent_t *ev;
    size_t n, cap;
    hg_arena_t *codes;   /* the patient's codes */
    s_cursor_t eit, git; /* over the E and the G keys, one each per query */
} s_timeline_t;

/* One E value into e (codes in t->codes); false when malformed. */
static bool
s_event (hg_index_t *ix, s_timeline_t *t, const unsigned char *day, const unsigned char *v,
         size_t vl, hg_qevent_t *e)
{
    uint32_t d = (uint32_t) day[0] << 24 | (uint32_t) day[1] << 16 | (uint32_t) day[2] << 8
                 | day[3];
    memset (e, 0, sizeof (*e));
    e->dated = d != 0;
    e->day = (int32_t) ((int64_t) d - HG_INDEX_DAY_BIAS);
    if (vl < 3) {
        return false;
    }
    size_t at = 0;
    e->kind = v[at++];
    e->has_value = v[at++] & 1;
    if (e->has_value) {
        if (vl < at + 9) {
            return false;
        }
        memcpy (&e->value, v + at, 8);
        at += 8;
    }
    size_t n = v[at++];
    hg_qcode_t *codes = hg_arena_alloc (t->codes, (n + 1) * sizeof (*codes));
    if (!codes) {
        return false;
    }
    for (size_t i = 0; i < n && at < vl; i++) {
        size_t used;
        const char *sys = hg_index_sys_name (ix, v + at, vl - at, &used);
        at += used;
        const unsigned char *end = memchr (v + at, 0, vl - at);
        if (!end) {
            return false;
        }
        if (sys) {
            codes[e->n_codes++] = (hg_qcode_t) {sys, (const char *) v + at};
        }
        at = (size_t) (end - v) + 1;
    }
    e->codes = codes;
    return true;
}

/* The timeline of patient id (E keys, in date order) into t. The values
 * point into t->codes: the code strings are copied there. */
static int
s_timeline (hg_index_t *ix, const unsigned char *id, s_timeline_t *t)
{
    unsigned char prefix[1 + HG_INDEX_ID_BYTES];
    prefix[0] = 'E';
    memcpy (prefix + 1, id, HG_INDEX_ID_BYTES);
    t->n = 0;
    hg_arena_reset (t->codes);
    s_cursor_t *c = &t->eit;
    int rc = 0;
    bool more = s_cur_to (c, prefix, sizeof (prefix));
    for (; rc == 0 && more; more = s_cur_next (c)) {
        const char *k = c->k, *v = c->v;
        size_t kl = c->kl, vl = c->vl;
        if (kl < sizeof (prefix) || memcmp (k, prefix, sizeof (prefix)) != 0) {
            c->held = true; /* the next patient's: read again from here */
            break;
        }
        c->held = false;
        if (kl != sizeof (prefix) + 4 + HG_INDEX_ID_BYTES) {
            continue;
        }
        if (t->n == t->cap) {
            size_t cap = t->cap ? t->cap * 2 : 256;
            hg_qevent_t *ev = realloc (t->ev, cap * sizeof (*ev));
            if (!ev) {
                rc = -1;
                break;
            }
            t->ev = ev;
            t->cap = cap;
        }
        /* the value is copied: iterator memory lasts one step */
        unsigned char *copy = hg_arena_alloc (t->codes, vl + 1);
        if (!copy) {
            rc = -1;
            break;
        }
        memcpy (copy, v, vl);
        if (s_event (ix, t, (const unsigned char *) k + sizeof (prefix), copy, vl,
                     &t->ev[t->n])) {
            t->n++;
        }
    }
    return rc;
}

static int
s_run (hg_index_t *ix, const hg_query_t *q, hg_qpart_t *part, s_timeline_t *t, hg_err_t *err)
{
    if (!hg_query_shard_timelines_only && hg_qbits_exact (q)) {
        return hg_qbits_run (ix, q, part) < 0
                   ? hg_err_set (err, HG_ENOMEM, "out of memory evaluating the query")
                   : 0;
    }
    s_ids_t ids = {0};
    int rc = s_candidates (ix, q, &ids);
    hg_qpatient_t p;
    for (size_t i = 0; rc == 0 && i < ids.n; i++) {
        s_demographics (&t->git, ids.v[i], &p);
        rc = s_timeline (ix, ids.v[i], t);
        if (rc == 0) {
            rc = hg_query_eval_patient (q, &p, t->ev, t->n, part);
        }
    }
    if (rc == 0 && q->kind == HG_QM_PREVALENCE) {
        ids.n = 0;
        s_cur_rewind (&t->git, "G");
        rc = s_all_patients (ix, &ids);
        for (size_t i = 0; rc == 0 && i < ids.n; i++) {
            s_demographics (&t->git, ids.v[i], &p);
            rc = hg_query_eval_population (q, &p, part);
        }
    }
    free (ids.v);
    return rc < 0 ? hg_err_set (err, HG_ENOMEM, "out of memory evaluating the query") : 0;
}

int
hg_query_shard (hg_index_t *ix, const char *doc, int ref_year, hg_qpart_t *part, hg_err_t *err)
{
    hg_arena_t *arena = hg_arena_new (0);
    s_timeline_t t;
    memset (&t, 0, sizeof (t));
    t.codes = hg_arena_new (0);
    t.eit.it = hg_store_iter_new (hg_index_store (ix), "E", 1, NULL, 0);
    t.git.it = hg_store_iter_new (hg_index_store (ix), "G", 1, NULL, 0);
    hg_query_t *q = malloc (sizeof (*q));
    int rc = arena && t.codes && t.eit.it && t.git.it && q
                 ? 0
                 : hg_err_set (err, HG_ENOMEM, "out of memory");
    if (rc == 0) {
        rc = hg_query_parse (doc, strlen (doc), ref_year, arena, q, err);
    }
    if (rc == 0) {
        rc = s_run (ix, q, part, &t, err);
    }
    free (q);
    free (t.ev);
    hg_store_iter_destroy (&t.eit.it);
    hg_store_iter_destroy (&t.git.it);
    hg_arena_destroy (&t.codes);
    hg_arena_destroy (&arena);
    return rc;
}

int
hg_query_shard_reply (hg_index_t *ix, const Hourglass__ControlRequest *req,
                      Hourglass__ControlReply *reply, hg_arena_t *arena, hg_err_t *err)
{
    hg_qpart_t *part = hg_qpart_new ();
    if (!part) {
        return hg_err_set (err, HG_ENOMEM, "out of memory");
    }
    int rc = hg_query_shard (ix, req->query ? req->query : "", req->ref_year, part, err);
    size_t n = 0;
    const hg_qcell_t *cells = hg_qpart_cells (part, &n);
    Hourglass__QueryPart *parts = rc == 0 ? hg_arena_alloc (arena, (n + 1) * sizeof (*parts))
                                          : NULL;
    Hourglass__QueryPart **ptrs = parts ? hg_arena_alloc (arena, (n + 1) * sizeof (*ptrs)) : NULL;
    uint8_t *keys = ptrs ? hg_arena_alloc (arena, 1) : NULL;
    if (rc == 0 && !keys) {
        rc = hg_err_set (err, HG_ENOMEM, "out of memory");
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        hourglass__query_part__init (&parts[i]);
        uint8_t *k = hg_arena_alloc (arena, cells[i].key_len + 1);
        if (!k) {
            rc = hg_err_set (err, HG_ENOMEM, "out of memory");
            break;
        }
        memcpy (k, cells[i].key, cells[i].key_len);
        parts[i].key.data = k;
        parts[i].key.len = cells[i].key_len;
        parts[i].patients = cells[i].patients;
        parts[i].records = cells[i].records;
        parts[i].denominator = cells[i].denominator;
        ptrs[i] = &parts[i];
    }
    if (rc == 0) {
        reply->n_parts = n;
        reply->parts = ptrs;
    }
    hg_qpart_destroy (&part);
    return rc;
}

/* Whether the aggregate key k ("n\0system|code") is a code under prefix
 * (with a '|': system|code-prefix, compared whole by the walk; without: a
 * code prefix in any system). */
static bool
s_code_under (const char *k, size_t kl, const char *prefix, size_t pl, bool any_system)
{
    if (!any_system) {
        return true; /* the walk's prefix said it */
    }
    const char *bar = memchr (k + 2, '|', kl - 2);
    if (!bar) {
        return false;
    }
    size_t cl = kl - (size_t) (bar + 1 - k);
    return cl >= pl && memcmp (bar + 1, prefix, pl) == 0;
}

int
hg_query_shard_codes (hg_index_t *ix, const char *prefix, uint32_t limit,
                      Hourglass__ControlReply *reply, hg_arena_t *arena, hg_err_t *err)
{
    size_t pl = strlen (prefix);
    if (pl == 0 || pl > HG_INDEX_CODE_MAX) {
        return hg_err_set (err, HG_EINVAL, "a codes prefix has 1..%d characters",
                           HG_INDEX_CODE_MAX);
    }
    if (limit == 0 || limit > HG_QUERY_CODES_LIMIT_MAX) {
        limit = HG_QUERY_CODES_LIMIT_MAX;
    }
    bool any_system = strchr (prefix, '|') == NULL;
    char *lead = hg_arena_alloc (arena, pl + 3);
    Hourglass__QueryPart **ptrs = hg_arena_alloc (arena, (limit + 1) * sizeof (*ptrs));
    if (!lead || !ptrs) {
        return hg_err_set (err, HG_ENOMEM, "out of memory");
    }
    lead[0] = 'n';
    lead[1] = '\0';
    memcpy (lead + 2, prefix, pl);
    size_t ll = any_system ? 2 : 2 + pl;
    hg_store_iter_t *it = hg_store_iter_new (hg_index_store (ix), lead, ll, NULL, 0);
    if (!it) {
        return hg_err_set (err, HG_ENOMEM, "out of memory");
    }
    const char *k, *v;
    size_t kl, vl, n = 0;
    int rc = 0;
    while (rc == 0 && hg_store_iter_next (it, &k, &kl, &v, &vl)) {
        if (vl != 16 || kl <= 2 || !s_code_under (k, kl, prefix, pl, any_system)) {
            continue;
        }
        if (n == limit) {
            reply->truncated = true;
            break;
        }
        Hourglass__QueryPart *p = hg_arena_alloc (arena, sizeof (*p));
        uint8_t *key = hg_arena_alloc (arena, kl - 2 + 1);
        if (!p || !key) {
            rc = hg_err_set (err, HG_ENOMEM, "out of memory");
            break;
        }
        hourglass__query_part__init (p);
        memcpy (key, k + 2, kl - 2);
        p->key.data = key;
        p->key.len = kl - 2;
        memcpy (&p->records, v, 8);
        memcpy (&p->patients, v + 8, 8);
        ptrs[n++] = p;
    }
    hg_store_iter_destroy (&it);
    if (rc == 0) {
        reply->parts = ptrs;
        reply->n_parts = n;
    }
    return rc;
}
