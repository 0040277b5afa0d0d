/*
 * query_bitmap.c -- a query answered from the patient bitmaps and code
 * columns (see query_bitmap.h).
 */
#include "query_bitmap.h"

#include <stdlib.h>
#include <string.h>

#include "date.h"
#include "hourglass.pb-c.h"
#include "store_merge.h"

/* A set of patient ordinals: a flat bitset over 0..n-1. */
typedef struct {
    uint64_t *w;
    size_t nw;
} bits_t;

static int
s_bits_new (bits_t *b, uint32_t n)
{
    b->nw = ((size_t) n + 63) / 64;
    b->w = calloc (b->nw ? b->nw : 1, sizeof (*b->w));
    return b->w ? 0 : -1;
}

static void
s_bits_free (bits_t *b)
{
    free (b->w);
    b->w = NULL;
}

static bool
s_has (const bits_t *b, uint32_t x)
{
    return (size_t) (x >> 6) < b->nw && (b->w[x >> 6] >> (x & 63) & 1);
}

static void
s_set (bits_t *b, uint32_t x)
{
    if ((size_t) (x >> 6) < b->nw) {
        b->w[x >> 6] |= 1ULL << (x & 63);
    }
}

static uint64_t
s_count (const bits_t *b)
{
    uint64_t n = 0;
    for (size_t i = 0; i < b->nw; i++) {
        n += (uint64_t) __builtin_popcountll (b->w[i]);
    }
    return n;
}

/* Ors the container c (cl bytes, no tag) of the numbers hi << 16 | low. */
static void
s_or_container (bits_t *b, uint32_t hi, const unsigned char *c, size_t cl)
{
    size_t base = (size_t) hi * 1024; /* words */
    if (cl == HG_SET_BITSET_BYTES) {
        for (size_t i = 0; i < 1024 && base + i < b->nw; i++) {
            uint64_t v;
            memcpy (&v, c + 8 * i, 8);
            b->w[base + i] |= v;
        }
        return;
    }
    for (size_t i = 0; i + 1 < cl; i += 2) {
        s_set (b, hi << 16 | c[i] | (uint32_t) c[i + 1] << 8);
    }
}

/* How many of the container's numbers are in b. */
static uint64_t
s_and_count_container (const bits_t *b, uint32_t hi, const unsigned char *c, size_t cl)
{
    size_t base = (size_t) hi * 1024;
    uint64_t n = 0;
    if (cl == HG_SET_BITSET_BYTES) {
        for (size_t i = 0; i < 1024 && base + i < b->nw; i++) {
            uint64_t v;
            memcpy (&v, c + 8 * i, 8);
            n += (uint64_t) __builtin_popcountll (v & b->w[base + i]);
        }
        return n;
    }
    for (size_t i = 0; i + 1 < cl; i += 2) {
        n += s_has (b, hi << 16 | c[i] | (uint32_t) c[i + 1] << 8);
    }
    return n;
}

/* ---- criteria ------------------------------------------------------------- */

/* Whether c's patients are exactly a set: a min_count only over one code
 * (an event carrying two codes of c is one event, but two column entries),
 * and an after only of a criterion without one. */
static bool
s_crit_exact (const hg_query_t *q, const hg_qcrit_t *c)
{
    if (c->min_count > 1 && (c->n_codes != 1 || c->prefix)) {
        return false;
    }
    return c->after < 0 || (c->after < (int) q->n_all && q->crit[c->after].after < 0);
}

static bool
s_crit_filtered (const hg_qcrit_t *c)
{
    return c->has_from || c->has_to || c->has_gte || c->has_lt || c->min_count > 1
           || c->after >= 0;
}

bool
hg_qbits_exact (const hg_query_t *q)
{
    size_t n = q->n_all + q->n_any + q->n_none;
    for (size_t i = 0; i < n; i++) {
        if (!s_crit_exact (q, &q->crit[i])) {
            return false;
        }
    }
    switch (q->kind) {
    case HG_QM_PATIENTS:
    case HG_QM_PREVALENCE:
        return !hg_query_event_strata (q);
    case HG_QM_DISTRIBUTION:
    case HG_QM_SERIES:
        return true;
    case HG_QM_TOP:
        return !q->has_window;
    case HG_QM_RECORDS:
        for (size_t i = 0; i < q->n_by; i++) {
            if (q->by[i] == HG_QBY_ENCOUNTER_CLASS) {
                return false; /* a record's class is a code: not in the record column */
            }
        }
        return true;
    default:
        return false;
    }
}

/* The key bytes of code i of c under lead ('B' or 'V'; whole: with its
 * 0x00) into key; 0 when the system was never seen. */
static size_t
s_code_lead (hg_index_t *ix, const hg_qcrit_t *c, size_t i, char lead, char *key)
{
    return hg_index_code_prefix (ix, lead, c->codes[i].system, c->codes[i].code, !c->prefix, key);
}

/* The ordinal high half of a B or b key's last 2 bytes. */
static uint32_t
s_hi (const char *k, size_t kl)
{
    return (uint32_t) (unsigned char) k[kl - 2] << 8 | (unsigned char) k[kl - 1];
}

/* Ors every bitmap under prefix into b: B S code 0 kind hi keys. */
static void
s_or_code_bitmaps (hg_index_t *ix, const char *prefix, size_t pl, bool whole, bits_t *b)
{
    hg_store_iter_t *it = hg_store_iter_new (hg_index_store (ix), prefix, pl, NULL, 0);
    const char *k, *v;
    size_t kl, vl;
    while (it && hg_store_iter_next (it, &k, &kl, &v, &vl)) {
        if ((whole ? kl != pl + 3 : kl < pl + 4 || k[kl - 4] != '\0') || vl < 1 || v[0] != 'U') {
            continue;
        }
        s_or_container (b, s_hi (k, kl), (const unsigned char *) v + 1, vl - 1);
    }
    hg_store_iter_destroy (&it);
}

/* One column entry. */
typedef struct {
    uint32_t ord;
    int kind;
    bool dated, has_value;
    int32_t day;
    double value;
} s_entry_t;

static void
s_entry (const unsigned char *e, uint32_t chunk, s_entry_t *out)
{
    out->ord = chunk * HG_INDEX_COL_CHUNK + (e[0] | (uint32_t) e[1] << 8);
    out->kind = e[2];
    out->has_value = e[3] & 1;
    out->dated = e[3] & 2;
    memcpy (&out->day, e + 4, 4);
    memcpy (&out->value, e + 8, 8);
}

/* Calls fn for every column entry of the codes under prefix (whole: of
 * the one code), chunk by chunk (ordinals ascending across keys). fn
 * returning -1 stops the walk with -1. */
static int
s_column_walk (hg_index_t *ix, const char *prefix, size_t pl, bool whole,
               int (*fn) (void *arg, const s_entry_t *e), void *arg)
{
    hg_store_iter_t *it = hg_store_iter_new (hg_index_store (ix), prefix, pl, NULL, 0);
    const char *k, *v;
    size_t kl, vl;
    int rc = it ? 0 : -1;
    while (rc == 0 && hg_store_iter_next (it, &k, &kl, &v, &vl)) {
        if ((whole ? kl != pl + 4 : kl < pl + 5 || k[kl - 5] != '\0') || vl < 1 || v[0] != 'A') {
            continue;
        }
        const unsigned char *c = (const unsigned char *) k + kl - 4;
        uint32_t chunk = (uint32_t) c[0] << 24 | (uint32_t) c[1] << 16 | (uint32_t) c[2] << 8
                         | c[3];
        for (size_t at = 1; rc == 0 && at + HG_INDEX_COL_ENTRY <= vl; at += HG_INDEX_COL_ENTRY) {
            s_entry_t e;
            s_entry ((const unsigned char *) v + at, chunk, &e);
            rc = fn (arg, &e);
        }
    }
    hg_store_iter_destroy (&it);
    return rc;
}

typedef struct {
    const hg_qcrit_t *c;
    bits_t *out;
    const bits_t *within; /* entries of other patients skipped (NULL: none) */
    uint32_t *counts;     /* min_count > 1 */
    uint64_t *pairs;      /* after: ordinal << 32 | biased day of each dated entry */
    size_t n_pairs, cap_pairs;
} s_crit_walk_t;

static int
s_crit_entry (void *arg, const s_entry_t *e)
{
    s_crit_walk_t *w = arg;
    if ((w->within && !s_has (w->within, e->ord))
        || !hg_query_crit_accepts (w->c, e->dated, e->day, e->has_value, e->value)) {
        return 0;
    }
    if (w->pairs || w->cap_pairs == SIZE_MAX) {
        if (!e->dated) {
            return 0;
        }
        if (w->n_pairs == w->cap_pairs || w->cap_pairs == SIZE_MAX) {
            size_t cap = w->cap_pairs == SIZE_MAX ? 4096 : w->cap_pairs * 2;
            uint64_t *p = realloc (w->pairs, cap * sizeof (*p));
            if (!p) {
                return -1;
            }
            w->pairs = p;
            w->cap_pairs = cap;
        }
        w->pairs[w->n_pairs++] = (uint64_t) e->ord << 32
                                 | (uint32_t) ((int64_t) e->day + INT32_MAX);
        return 0;
    }
    if (!w->counts) {
        s_set (w->out, e->ord);
    }
    else if ((size_t) (e->ord >> 6) < w->out->nw && ++w->counts[e->ord] == w->c->min_count) {
        s_set (w->out, e->ord);
    }
    return 0;
}

static int
s_cmp_u64 (const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return (x > y) - (x < y);
}

/* The column entries of c's codes through w. */
static int
s_crit_columns (hg_index_t *ix, const hg_qcrit_t *c, s_crit_walk_t *w)
{
    char key[HG_INDEX_KEY_MAX];
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < c->n_codes; i++) {
        size_t kl = s_code_lead (ix, c, i, 'V', key);
        rc = kl ? s_column_walk (ix, key, kl, !c->prefix, s_crit_entry, w) : 0;
    }
    return rc;
}

/* The dated entries of c (pairs, sorted) into w->pairs. */
static int
s_crit_pairs (hg_index_t *ix, const hg_qcrit_t *c, const bits_t *within, s_crit_walk_t *w)
{
    memset (w, 0, sizeof (*w));
    w->c = c;
    w->within = within;
    w->cap_pairs = SIZE_MAX; /* collect pairs */
    int rc = s_crit_columns (ix, c, w);
    if (w->cap_pairs == SIZE_MAX) {
        w->cap_pairs = 0;
    }
    if (rc == 0 && w->n_pairs) {
        qsort (w->pairs, w->n_pairs, sizeof (*w->pairs), s_cmp_u64);
    }
    return rc;
}

/* An after: the patients with at least min_count events of c min_days ..
 * max_days after an event of the criterion it names (both dated), as
 * eval.c's s_after. */
static int
s_crit_after (hg_index_t *ix, const hg_query_t *q, const hg_qcrit_t *c, bits_t *out,
              const bits_t *within)
{
    s_crit_walk_t ref, ev;
    memset (&ev, 0, sizeof (ev));
    int rc = s_crit_pairs (ix, &q->crit[c->after], within, &ref);
    if (rc == 0) {
        rc = s_crit_pairs (ix, c, within, &ev);
    }
    size_t r = 0;
    for (size_t i = 0; rc == 0 && i < ev.n_pairs;) {
        uint32_t ord = (uint32_t) (ev.pairs[i] >> 32);
        while (r < ref.n_pairs && (uint32_t) (ref.pairs[r] >> 32) < ord) {
            r++;
        }
        size_t r_end = r;
        while (r_end < ref.n_pairs && (uint32_t) (ref.pairs[r_end] >> 32) == ord) {
            r_end++;
        }
        uint32_t count = 0;
        size_t a = r; /* the first reference day >= day - max_days (days ascend) */
        for (; i < ev.n_pairs && (uint32_t) (ev.pairs[i] >> 32) == ord; i++) {
            int64_t day = (int64_t) (uint32_t) ev.pairs[i] - INT32_MAX;
            int64_t lo = c->has_max_days ? day - c->max_days : INT64_MIN;
            int64_t hi = day - c->min_days;
            while (a < r_end && (int64_t) (uint32_t) ref.pairs[a] - INT32_MAX < lo) {
                a++;
            }
            count += a < r_end && (int64_t) (uint32_t) ref.pairs[a] - INT32_MAX <= hi;
        }
        if (count >= c->min_count) {
            s_set (out, ord);
        }
    }
    free (ref.pairs);
    free (ev.pairs);
    return rc;
}

/* The patients of criterion c into out (all clear): exact when
 * s_crit_exact, else a superset. within (NULL: every patient): only its
 * patients are looked at (out is anded with it after). */
static int
s_crit_set (hg_index_t *ix, const hg_query_t *q, const hg_qcrit_t *c, bits_t *out,
            const bits_t *within)
{
    if (c->after >= 0 && s_crit_exact (q, c)) {
        return s_crit_after (ix, q, c, out, within);
    }
    char key[HG_INDEX_KEY_MAX];
    bool filtered = s_crit_filtered (c);
    s_crit_walk_t w = {c, out, within, NULL, NULL, 0, 0};
    if (filtered && c->min_count > 1) {
        w.counts = calloc (out->nw * 64, sizeof (*w.counts));
        if (!w.counts) {
            return -1;
        }
    }
    int rc = 0;
    if (filtered) {
        /* (an after not exact: its date range and value only, a superset) */
        rc = s_crit_columns (ix, c, &w);
    }
    for (size_t i = 0; !filtered && i < c->n_codes; i++) {
        size_t kl = s_code_lead (ix, c, i, 'B', key);
        if (kl) {
            s_or_code_bitmaps (ix, key, kl, !c->prefix, out);
        }
    }
    free (w.counts);
    return rc;
}

/* The cohort's set into out: exact for an exact query, else a superset;
 * *narrowed: whether a criterion of all or any bounds it. */
static int
s_cohort (hg_index_t *ix, const hg_query_t *q, bits_t *out, bool *narrowed)
{
    uint32_t n = hg_index_ordinals (ix);
    bits_t tmp = {0}, any = {0};
    int rc = s_bits_new (out, n) < 0 || s_bits_new (&tmp, n) < 0 ? -1 : 0;
    *narrowed = q->n_all + q->n_any > 0;
    if (rc == 0 && q->n_all == 0) {
        memset (out->w, 0xff, out->nw * sizeof (*out->w));
        if (n % 64) {
            out->w[out->nw - 1] = (1ULL << (n % 64)) - 1;
        }
    }
    /* those without after first: an after then looks only at their patients */
    for (size_t pass = 0, done = 0; rc == 0 && pass < 2; pass++) {
        for (size_t i = 0; rc == 0 && i < q->n_all; i++) {
            const hg_qcrit_t *c = &q->crit[i];
            if ((c->after >= 0) != (pass == 1)) {
                continue;
            }
            bits_t *dst = done == 0 ? out : &tmp;
            memset (dst->w, 0, dst->nw * sizeof (*dst->w));
            rc = s_crit_set (ix, q, c, dst, done ? out : NULL);
            for (size_t j = 0; rc == 0 && done > 0 && j < out->nw; j++) {
                out->w[j] &= tmp.w[j];
            }
            done++;
        }
    }
    if (rc == 0 && q->n_any) {
        rc = s_bits_new (&any, n);
        for (size_t i = 0; rc == 0 && i < q->n_any; i++) {
            memset (tmp.w, 0, tmp.nw * sizeof (*tmp.w));
            rc = s_crit_set (ix, q, &q->crit[q->n_all + i], &tmp, NULL);
            for (size_t j = 0; rc == 0 && j < any.nw; j++) {
                any.w[j] |= tmp.w[j];
            }
        }
        for (size_t j = 0; rc == 0 && j < out->nw; j++) {
            out->w[j] &= any.w[j];
        }
    }
    for (size_t i = 0; rc == 0 && i < q->n_none; i++) {
        const hg_qcrit_t *c = &q->crit[q->n_all + q->n_any + i];
        if (!s_crit_exact (q, c)) {
            continue; /* a superset of its patients: removing it could remove too many */
        }
        memset (tmp.w, 0, tmp.nw * sizeof (*tmp.w));
        rc = s_crit_set (ix, q, c, &tmp, NULL);
        for (size_t j = 0; rc == 0 && j < out->nw; j++) {
            out->w[j] &= ~tmp.w[j];
        }
    }
    s_bits_free (&tmp);
    s_bits_free (&any);
    return rc;
}

/* ---- demographics ----------------------------------------------------------- */

/* Each patient's demographic tuple, from the b bitmaps. */
typedef struct {
    uint8_t *sex;   /* 0: no demographics, 1: known without sex, else its first letter */
    uint16_t *year; /* birth year, 0: over 89 */
    uint16_t *state;
    char (*states)[4]; /* state number -> name */
    size_t n_states;
    uint32_t n;
} s_demo_t;

static void
s_demo_free (s_demo_t *d)
{
    free (d->sex);
    free (d->year);
    free (d->state);
    free (d->states);
}

typedef struct {
    s_demo_t *d;
    char dim;
    uint16_t val;
    uint32_t hi;
} s_demo_fill_t;

static bool
s_demo_each (void *arg, uint32_t low)
{
    s_demo_fill_t *f = arg;
    uint32_t ord = f->hi << 16 | low;
    if (ord >= f->d->n) {
        return true;
    }
    if (f->dim == 's') {
        f->d->sex[ord] = (uint8_t) f->val;
    }
    else if (f->dim == 'y') {
        f->d->year[ord] = f->val;
    }
    else {
        f->d->state[ord] = f->val;
    }
    return true;
}

static int
s_demo_load (hg_index_t *ix, s_demo_t *d)
{
    memset (d, 0, sizeof (*d));
    d->n = hg_index_ordinals (ix);
    size_t n = d->n ? d->n : 1;
    d->sex = calloc (n, 1);
    d->year = calloc (n, sizeof (*d->year));
    d->state = calloc (n, sizeof (*d->state));
    d->states = calloc (1, sizeof (*d->states)); /* 0: none */
    if (!d->sex || !d->year || !d->state || !d->states) {
        return -1;
    }
    d->n_states = 1;
    hg_store_iter_t *it = hg_store_iter_new (hg_index_store (ix), "b", 1, NULL, 0);
    const char *k, *v;
    size_t kl, vl;
    int rc = it ? 0 : -1;
    while (rc == 0 && hg_store_iter_next (it, &k, &kl, &v, &vl)) {
        if (kl < 2 || vl < 1 || v[0] != 'U') {
            continue;
        }
        const unsigned char *u = (const unsigned char *) k;
        s_demo_fill_t f = {d, k[1], 0, 0};
        if (k[1] == 's' && kl == 5) {
            f.val = u[2] ? u[2] : 1;
        }
        else if (k[1] == 'y' && kl == 6) {
            f.val = (uint16_t) (u[2] << 8 | u[3]);
        }
        else if (k[1] == 't' && kl == 7) {
            char name[4] = {k[2], k[3], k[4], 0};
            size_t s = 0;
            while (s < d->n_states && strcmp (d->states[s], name) != 0) {
                s++;
            }
            if (s == d->n_states) {
                if (s >= UINT16_MAX) {
                    continue;
                }
                void *ns = realloc (d->states, (s + 1) * sizeof (*d->states));
                if (!ns) {
                    rc = -1;
                    break;
                }
                d->states = ns;
                memcpy (d->states[s], name, 4);
                d->n_states++;
            }
            f.val = (uint16_t) s;
        }
        else {
            continue;
        }
        f.hi = s_hi (k, kl);
        hg_set_each ((const unsigned char *) v + 1, vl - 1, s_demo_each, &f);
    }
    hg_store_iter_destroy (&it);
    return rc;
}

/* The patient of ordinal ord as the evaluation sees it. */
static void
s_demo_patient (const s_demo_t *d, uint32_t ord, hg_qpatient_t *p)
{
    memset (p, 0, sizeof (*p));
    if (ord >= d->n || !d->sex[ord]) {
        return;
    }
    static const char *const sexes[] = {"female", "male", "other", "unknown"};
    p->known = true;
    for (size_t i = 0; i < 4; i++) {
        if (d->sex[ord] == (unsigned char) sexes[i][0]) {
            strcpy (p->sex, sexes[i]);
        }
    }
    p->birth_year = d->year[ord];
    memcpy (p->state, d->states[d->state[ord]], 4);
}

/* A group of patients sharing a tuple: its counts. */
typedef struct {
    uint64_t tuple; /* sex << 32 | year << 16 | state, + 1 (0: empty slot) */
    uint32_t ord;   /* one of them */
    uint64_t patients, denominator;
} s_group_t;

typedef struct {
    s_group_t *g;
    size_t cap, n;
} s_groups_t;

static uint64_t
s_tuple (const s_demo_t *d, uint32_t ord)
{
    if (ord >= d->n) {
        return 1;
    }
    return ((uint64_t) d->sex[ord] << 32 | (uint64_t) d->year[ord] << 16 | d->state[ord]) + 1;
}

static s_group_t *
s_group (s_groups_t *gs, uint64_t tuple, uint32_t ord)
{
    if ((gs->n + 1) * 2 > gs->cap) {
        size_t cap = gs->cap ? gs->cap * 2 : 1024;
        s_group_t *ng = calloc (cap, sizeof (*ng));
        if (!ng) {
            return NULL;
        }
        for (size_t i = 0; i < gs->cap; i++) {
            if (gs->g[i].tuple) {
                size_t j = (gs->g[i].tuple * 0x9e3779b97f4a7c15ULL >> 20) & (cap - 1);
                while (ng[j].tuple) {
                    j = (j + 1) & (cap - 1);
                }
                ng[j] = gs->g[i];
            }
        }
        free (gs->g);
        gs->g = ng;
        gs->cap = cap;
    }
    size_t j = (tuple * 0x9e3779b97f4a7c15ULL >> 20) & (gs->cap - 1);
    while (gs->g[j].tuple && gs->g[j].tuple != tuple) {
        j = (j + 1) & (gs->cap - 1);
    }
    if (!gs->g[j].tuple) {
        gs->g[j].tuple = tuple;
        gs->g[j].ord = ord;
        gs->n++;
    }
    return &gs->g[j];
}

/* Clears from b the patients that fail the cohort's sex and age filters. */
static int
s_filter (const hg_query_t *q, const s_demo_t *d, bits_t *b)
{
    s_groups_t gs = {0};
    int rc = 0;
    for (size_t w = 0; rc == 0 && w < b->nw; w++) {
        for (uint64_t v = b->w[w]; v; v &= v - 1) {
            uint32_t ord = (uint32_t) (w * 64 + (size_t) __builtin_ctzll (v));
            s_group_t *g = s_group (&gs, s_tuple (d, ord), ord);
            if (!g) {
                rc = -1;
                break;
            }
            if (g->patients == 0) { /* 1: passes, 2: fails */
                hg_qpatient_t p;
                s_demo_patient (d, ord, &p);
                g->patients = hg_query_demographics_pass (q, &p) ? 1 : 2;
            }
            if (g->patients == 2) {
                b->w[w] &= ~(1ULL << (ord & 63));
            }
        }
    }
    free (gs.g);
    return rc;
}

/* ---- the measures ------------------------------------------------------------ */

/* patients and prevalence: the cohort's and (prevalence) every patient's
 * counts by group, then one cell per group. */
static int
s_by_groups (const hg_query_t *q, const s_demo_t *d, const bits_t *cohort, hg_qpart_t *part)
{
    s_groups_t gs = {0};
    int rc = 0;
    bool prevalence = q->kind == HG_QM_PREVALENCE;
    for (size_t w = 0; rc == 0 && w < cohort->nw; w++) {
        uint64_t all = prevalence ? ~0ULL : cohort->w[w];
        for (uint64_t v = all; v; v &= v - 1) {
            uint32_t ord = (uint32_t) (w * 64 + (size_t) __builtin_ctzll (v));
            if (ord >= d->n) {
                break;
            }
            s_group_t *g = s_group (&gs, s_tuple (d, ord), ord);
            if (!g) {
                rc = -1;
                break;
            }
            g->patients += cohort->w[w] >> (ord & 63) & 1;
            g->denominator += prevalence;
        }
    }
    char key[HG_QUERY_KEY_MAX];
    for (size_t i = 0; rc == 0 && i < gs.cap; i++) {
        const s_group_t *g = &gs.g[i];
        if (!g->tuple) {
            continue;
        }
        hg_qpatient_t p;
        s_demo_patient (d, g->ord, &p);
        if (!hg_query_demographics_pass (q, &p)) {
            continue;
        }
        rc = hg_qpart_add (part, "T", 1, g->patients, 0, g->denominator);
        size_t kl = hg_query_patient_cell_key (q, &p, key);
        if (rc == 0 && kl) {
            rc = hg_qpart_add (part, key, kl, g->patients, 0, g->denominator);
        }
    }
    free (gs.g);
    return rc;
}

typedef struct {
    const hg_query_t *q;
    const bits_t *cohort;
    bits_t *bin_pats; /* distribution: per bin */
    uint64_t *bin_records;
    int32_t *first;  /* series with incidence: per ordinal */
    uint64_t *pairs; /* series: period << 32 | ordinal */
    size_t n_pairs, cap_pairs;
    int of_kind;
    uint64_t records;
} s_measure_t;

static int
s_dist_entry (void *arg, const s_entry_t *e)
{
    s_measure_t *m = arg;
    const hg_query_t *q = m->q;
    if (!e->has_value || !s_has (m->cohort, e->ord) || !hg_query_in_window (q, e->dated, e->day)
        || e->value < q->bins[0] || !(e->value < q->bins[q->n_bins - 1])) {
        return 0;
    }
    size_t b = 0;
    while (b + 2 < q->n_bins && e->value >= q->bins[b + 1]) {
        b++;
    }
    if (!m->bin_pats[b].w && s_bits_new (&m->bin_pats[b], (uint32_t) (m->cohort->nw * 64)) < 0) {
        return -1;
    }
    m->bin_records[b]++;
    s_set (&m->bin_pats[b], e->ord);
    return 0;
}

static int
s_series_entry (void *arg, const s_entry_t *e)
{
    s_measure_t *m = arg;
    if (!e->dated || !s_has (m->cohort, e->ord)) {
        return 0;
    }
    if (m->first) {
        if (e->day < m->first[e->ord]) {
            m->first[e->ord] = e->day;
        }
        return 0;
    }
    if (!hg_query_in_window (m->q, true, e->day)) {
        return 0;
    }
    if (m->n_pairs == m->cap_pairs) {
        size_t cap = m->cap_pairs ? m->cap_pairs * 2 : 4096;
        uint64_t *p = realloc (m->pairs, cap * sizeof (*p));
        if (!p) {
            return -1;
        }
        m->pairs = p;
        m->cap_pairs = cap;
    }
    m->pairs[m->n_pairs++] = (uint64_t) (uint32_t) (e->day + 0x40000000) << 32 | e->ord;
    return 0;
}

/* The column of the measure's code (exact). */
static int
s_mcode_walk (hg_index_t *ix, const hg_query_t *q, int (*fn) (void *, const s_entry_t *),
              void *arg)
{
    char key[HG_INDEX_KEY_MAX];
    size_t kl = hg_index_code_prefix (ix, 'V', q->mcode.system, q->mcode.code, true, key);
    return kl ? s_column_walk (ix, key, kl, true, fn, arg) : 0;
}

static int
s_distribution (hg_index_t *ix, const hg_query_t *q, const bits_t *cohort, hg_qpart_t *part)
{
    bits_t pats[HG_QUERY_BINS_MAX];
    uint64_t recs[HG_QUERY_BINS_MAX];
    memset (pats, 0, sizeof (pats));
    memset (recs, 0, sizeof (recs));
    s_measure_t m = {.q = q, .cohort = cohort, .bin_pats = pats, .bin_records = recs};
    int rc = q->n_bins >= 2 ? s_mcode_walk (ix, q, s_dist_entry, &m) : 0;
    for (size_t b = 0; b + 1 < q->n_bins; b++) {
        if (rc == 0 && recs[b]) {
            char key[32] = {'B', '\x1f', (char) ('0' + b / 100), (char) ('0' + b / 10 % 10),
                            (char) ('0' + b % 10)};
            rc = hg_qpart_add (part, key, 5, s_count (&pats[b]), recs[b], 0);
        }
        s_bits_free (&pats[b]);
    }
    return rc;
}

/* Adds the sorted (period day, ordinal) pairs by period: records, and each
 * patient once per period. */
static int
s_series_add (const hg_query_t *q, uint64_t *pairs, size_t n, hg_qpart_t *part)
{
    /* the period of each pair's day, then sorted by period and patient */
    for (size_t i = 0; i < n; i++) {
        int32_t day = (int32_t) ((int64_t) (pairs[i] >> 32) - 0x40000000);
        int y, mo, dd;
        hg_date_from_days (day, &y, &mo, &dd);
        uint32_t period = (uint32_t) (y + 10000) * 16 + (uint32_t) (q->per_year ? 0 : mo);
        pairs[i] = (uint64_t) period << 32 | (uint32_t) pairs[i];
    }
    qsort (pairs, n, sizeof (*pairs), s_cmp_u64);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n;) {
        size_t j = i;
        uint64_t patients = 0;
        while (j < n && pairs[j] >> 32 == pairs[i] >> 32) {
            patients += j == i || pairs[j] != pairs[j - 1];
            j++;
        }
        uint32_t period = (uint32_t) (pairs[i] >> 32);
        int y = (int) (period / 16) - 10000, mo = (int) (period % 16);
        hg_date_t d;
        memset (&d, 0, sizeof (d));
        d.year = y;
        d.month = mo ? mo : 1;
        d.day = 1;
        d.prec = HG_PREC_DAY;
        char key[12];
        size_t kl = hg_query_series_key (q, (int32_t) hg_date_days (&d), key);
        rc = hg_qpart_add (part, key, kl, patients, j - i, 0);
        i = j;
    }
    return rc;
}

static int
s_series (hg_index_t *ix, const hg_query_t *q, const bits_t *cohort, hg_qpart_t *part)
{
    s_measure_t m = {.q = q, .cohort = cohort};
    size_t n = cohort->nw * 64;
    if (q->incidence) {
        m.first = malloc ((n ? n : 1) * sizeof (*m.first));
        if (!m.first) {
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            m.first[i] = INT32_MAX;
        }
    }
    int rc = s_mcode_walk (ix, q, s_series_entry, &m);
    int32_t *first = m.first;
    m.first = NULL; /* s_series_entry now collects pairs */
    if (rc == 0 && first) {
        /* the first occurrence, counted when in the window */
        for (size_t w = 0; rc == 0 && w < cohort->nw; w++) {
            for (uint64_t v = cohort->w[w]; rc == 0 && v; v &= v - 1) {
                uint32_t ord = (uint32_t) (w * 64 + (size_t) __builtin_ctzll (v));
                if (first[ord] != INT32_MAX) {
                    rc = s_series_entry (&m, &(s_entry_t) {.ord = ord,
                                                           .dated = true,
                                                           .day = first[ord]});
                }
            }
        }
    }
    free (first);
    if (rc == 0) {
        rc = s_series_add (q, m.pairs, m.n_pairs, part);
    }
    free (m.pairs);
    return rc;
}

static int
s_top_entry (void *arg, const s_entry_t *e)
{
    s_measure_t *m = arg;
    m->records += e->kind == m->of_kind && s_has (m->cohort, e->ord);
    return 0;
}

/* top: per code of the kind, its patients in the cohort (its bitmap of
 * that kind) and their records of that kind (its column). */
static int
s_top (hg_index_t *ix, const hg_query_t *q, const bits_t *cohort, hg_qpart_t *part)
{
    hg_store_iter_t *it = hg_store_iter_new (hg_index_store (ix), "B", 1, NULL, 0);
    const char *k, *v;
    size_t kl, vl;
    int rc = it ? 0 : -1;
    char cur[HG_INDEX_KEY_MAX]; /* B S <code> 0x00 of the code being counted */
    size_t cur_len = 0;
    uint64_t patients = 0;
    /* one code's keys (its kinds, then high halves) are next to each other */
    for (bool more = true; rc == 0 && more;) {
        more = hg_store_iter_next (it, &k, &kl, &v, &vl);
        bool same = more && kl >= 5 && cur_len && kl - 3 == cur_len
                    && memcmp (k, cur, cur_len) == 0;
        if (cur_len && !same) {
            size_t used = 0;
            const char *sys = hg_index_sys_name (ix, (const unsigned char *) cur + 1, cur_len - 1,
                                                 &used);
            const char *code = cur + 1 + used;
            size_t code_len = cur_len - 2 - used, sl = sys ? strlen (sys) : 0;
            char key[HG_QUERY_KEY_MAX];
            if (patients && sys && used < cur_len - 1 && 3 + sl + code_len <= sizeof (key)) {
                s_measure_t m = {.q = q, .cohort = cohort, .of_kind = q->of_kind};
                char vkey[HG_INDEX_KEY_MAX];
                memcpy (vkey, cur, cur_len);
                vkey[0] = 'V';
                rc = s_column_walk (ix, vkey, cur_len, true, s_top_entry, &m);
                key[0] = 'K';
                key[1] = '\x1f';
                memcpy (key + 2, sys, sl);
                key[2 + sl] = '|';
                memcpy (key + 3 + sl, code, code_len);
                rc = rc < 0 ? rc
                            : hg_qpart_add (part, key, 3 + sl + code_len, patients, m.records, 0);
            }
            cur_len = 0;
            patients = 0;
        }
        if (!more || kl < 5 || k[kl - 4] != '\0' || vl < 1 || v[0] != 'U'
            || (unsigned char) k[kl - 3] != (unsigned) q->of_kind) {
            continue;
        }
        if (!cur_len) {
            cur_len = kl - 3;
            memcpy (cur, k, cur_len);
        }
        patients += s_and_count_container (cohort, s_hi (k, kl), (const unsigned char *) v + 1,
                                           vl - 1);
    }
    hg_store_iter_destroy (&it);
    return rc;
}

/* ---- records: the record column ------------------------------------------ */

/* The dense numbers of keys met in any order: key -> 0, 1, 2, ... */
typedef struct {
    uint64_t *keys; /* key + 1; 0: empty */
    uint32_t *idx;
    size_t cap, n;
} s_dense_t;

/* The number of key (a new one when unseen); UINT32_MAX when out of memory. */
static uint32_t
s_dense (s_dense_t *m, uint64_t key)
{
    if ((m->n + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 256;
        uint64_t *nk = calloc (cap, sizeof (*nk));
        uint32_t *ni = calloc (cap, sizeof (*ni));
        if (!nk || !ni) {
            free (nk);
            free (ni);
            return UINT32_MAX;
        }
        for (size_t i = 0; i < m->cap; i++) {
            if (m->keys[i]) {
                size_t j = (m->keys[i] * 0x9e3779b97f4a7c15ULL >> 17) & (cap - 1);
                while (nk[j]) {
                    j = (j + 1) & (cap - 1);
                }
                nk[j] = m->keys[i];
                ni[j] = m->idx[i];
            }
        }
        free (m->keys);
        free (m->idx);
        m->keys = nk;
        m->idx = ni;
        m->cap = cap;
    }
    uint64_t k = key + 1;
    size_t j = (k * 0x9e3779b97f4a7c15ULL >> 17) & (m->cap - 1);
    while (m->keys[j] && m->keys[j] != k) {
        j = (j + 1) & (m->cap - 1);
    }
    if (!m->keys[j]) {
        m->keys[j] = k;
        m->idx[j] = (uint32_t) m->n++;
    }
    return m->idx[j];
}

static void
s_dense_free (s_dense_t *m)
{
    free (m->keys);
    free (m->idx);
}

/* The counts of records: per period (dense) a row of groups, and per period
 * the chunk's patients seen (4,096 bits). */
typedef struct {
    uint32_t n_groups;
    uint64_t *records, *patients; /* [period * n_groups + group] */
    uint64_t (*seen)[HG_INDEX_COL_CHUNK / 64];
    uint32_t *touched; /* periods seen in this chunk */
    uint8_t *in_chunk; /* per period: in touched */
    size_t n_touched, cap;
    uint64_t *periods; /* dense period -> its key */
} s_rec_t;

static int
s_rec_grow (s_rec_t *r, size_t need)
{
    if (need <= r->cap) {
        return 0;
    }
    size_t cap = r->cap ? r->cap * 2 : 64;
    while (cap < need) {
        cap *= 2;
    }
    size_t g = r->n_groups ? r->n_groups : 1;
    uint64_t *rec = realloc (r->records, cap * g * sizeof (*rec));
    uint64_t *pat = rec ? realloc (r->patients, cap * g * sizeof (*pat)) : NULL;
    if (rec) {
        r->records = rec;
    }
    if (pat) {
        r->patients = pat;
    }
    void *seen = pat ? realloc (r->seen, cap * sizeof (*r->seen)) : NULL;
    if (seen) {
        r->seen = seen;
    }
    uint32_t *t = seen ? realloc (r->touched, cap * sizeof (*t)) : NULL;
    if (t) {
        r->touched = t;
    }
    uint64_t *per = t ? realloc (r->periods, cap * sizeof (*per)) : NULL;
    if (per) {
        r->periods = per;
    }
    uint8_t *in = per ? realloc (r->in_chunk, cap) : NULL;
    if (!in) {
        return -1;
    }
    r->in_chunk = in;
    memset (r->in_chunk + r->cap, 0, cap - r->cap);
    memset (r->records + r->cap * g, 0, (cap - r->cap) * g * sizeof (*rec));
    memset (r->patients + r->cap * g, 0, (cap - r->cap) * g * sizeof (*pat));
    memset (r->seen + r->cap, 0, (cap - r->cap) * sizeof (*r->seen));
    r->cap = cap;
    return 0;
}

/* The period key of a day (year, and month when asked); 0: none. */
static uint64_t
s_period_key (bool year, bool month, int32_t day)
{
    if (!year && !month) {
        return 0;
    }
    int y, m, d;
    hg_date_from_days (day, &y, &m, &d);
    return (uint64_t) (y + 10000) * 13 + (uint64_t) (month ? m : 0);
}

/* records: every record of the cohort's patients in the window (of the
 * kind asked), counted per cell of the patient's group and the record's
 * year or month, each patient once per cell; chunk by chunk of the record
 * column (W keys: all of a chunk's patients' records are in its value).
 * No sort: a group per patient (numbered once), a period per record
 * (numbered as met), and per period the chunk's patients seen. */
static int
s_records (hg_index_t *ix, const hg_query_t *q, const s_demo_t *d, const bits_t *cohort,
           hg_qpart_t *part)
{
    bool need_sex = false, need_age = false, need_state = false, year = false, month = false;
    for (size_t i = 0; i < q->n_by; i++) {
        need_sex |= q->by[i] == HG_QBY_SEX;
        need_age |= q->by[i] == HG_QBY_AGE_GROUP;
        need_state |= q->by[i] == HG_QBY_STATE;
        year |= q->by[i] == HG_QBY_YEAR;
        month |= q->by[i] == HG_QBY_MONTH;
    }
    /* each cohort patient's group (what its cell keys need of it) */
    size_t n_ord = cohort->nw * 64;
    uint32_t *gid = q->n_by ? malloc ((n_ord ? n_ord : 1) * sizeof (*gid)) : NULL;
    s_dense_t groups = {0}, periods = {0};
    uint32_t *rep = NULL; /* group -> one of its patients */
    size_t cap_rep = 0;
    int rc = q->n_by && !gid ? -1 : 0;
    for (size_t w = 0; rc == 0 && gid && w < cohort->nw; w++) {
        for (uint64_t v = cohort->w[w]; v; v &= v - 1) {
            uint32_t ord = (uint32_t) (w * 64 + (size_t) __builtin_ctzll (v));
            uint64_t tuple = ord < d->n ? (uint64_t) (d->sex[ord] != 0) << 41
                                              | (need_sex ? (uint64_t) d->sex[ord] << 32 : 0)
                                              | (need_age ? (uint64_t) d->year[ord] << 16 : 0)
                                              | (need_state ? d->state[ord] : 0)
                                        : 0;
            uint32_t g = s_dense (&groups, tuple);
            if (g == UINT32_MAX) {
                rc = -1;
                break;
            }
            if (g >= cap_rep) {
                size_t cap = cap_rep ? cap_rep * 2 : 64;
                uint32_t *nr = realloc (rep, cap * sizeof (*nr));
                if (!nr) {
                    rc = -1;
                    break;
                }
                rep = nr;
                cap_rep = cap;
            }
            if (g + 1 == groups.n) {
                rep[g] = ord;
            }
            gid[ord] = g;
        }
    }
    s_rec_t r = {.n_groups = (uint32_t) groups.n};
    hg_store_iter_t *it = rc == 0 ? hg_store_iter_new (hg_index_store (ix), "W", 1, NULL, 0)
                                  : NULL;
    uint64_t total = 0;
    const char *k, *v;
    size_t kl, vl;
    rc = rc < 0 || !it ? -1 : 0;
    while (rc == 0 && hg_store_iter_next (it, &k, &kl, &v, &vl)) {
        if (kl != 5 || vl < 1 || v[0] != 'A') {
            continue;
        }
        const unsigned char *c = (const unsigned char *) k + 1;
        uint32_t chunk = (uint32_t) c[0] << 24 | (uint32_t) c[1] << 16 | (uint32_t) c[2] << 8
                         | c[3];
        for (size_t at = 1; rc == 0 && at + HG_INDEX_REC_ENTRY <= vl; at += HG_INDEX_REC_ENTRY) {
            const unsigned char *e = (const unsigned char *) v + at;
            uint32_t low = e[0] | (uint32_t) e[1] << 8;
            uint32_t ord = chunk * HG_INDEX_COL_CHUNK + low;
            bool dated = e[3] & 2;
            int32_t day;
            memcpy (&day, e + 4, 4);
            if (!s_has (cohort, ord) || !hg_query_in_window (q, dated, day)
                || (q->of_kind && e[2] != q->of_kind)) {
                continue;
            }
            total++;
            if (!q->n_by || ((year || month) && !dated)) {
                continue;
            }
            uint64_t pk = s_period_key (year, month, day);
            uint32_t p = s_dense (&periods, pk);
            if (p == UINT32_MAX || s_rec_grow (&r, (size_t) p + 1) < 0) {
                rc = -1;
                break;
            }
            r.periods[p] = pk;
            r.records[(size_t) p * r.n_groups + gid[ord]]++;
            uint64_t *seen = r.seen[p];
            seen[low >> 6] |= 1ULL << (low & 63);
            if (!r.in_chunk[p]) {
                r.in_chunk[p] = 1;
                r.touched[r.n_touched++] = p;
            }
        }
        /* the chunk's patients once per period, into their groups' cells */
        for (size_t t = 0; t < r.n_touched; t++) {
            uint32_t p = r.touched[t];
            for (size_t i = 0; i < HG_INDEX_COL_CHUNK / 64; i++) {
                for (uint64_t x = r.seen[p][i]; x; x &= x - 1) {
                    uint32_t ord = chunk * HG_INDEX_COL_CHUNK + (uint32_t) (i * 64)
                                   + (uint32_t) __builtin_ctzll (x);
                    r.patients[(size_t) p * r.n_groups + gid[ord]]++;
                }
                r.seen[p][i] = 0;
            }
            r.in_chunk[p] = 0;
        }
        r.n_touched = 0;
    }
    hg_store_iter_destroy (&it);
    uint64_t cohort_n = s_count (cohort);
    if (rc == 0 && cohort_n) {
        rc = hg_qpart_add (part, "T", 1, cohort_n, total, 0);
    }
    char key[HG_QUERY_KEY_MAX];
    for (size_t p = 0; rc == 0 && p < periods.n; p++) {
        int32_t day = 0;
        uint64_t pk = r.periods[p];
        if (pk) {
            hg_date_t dt;
            memset (&dt, 0, sizeof (dt));
            dt.year = (int) (pk / 13) - 10000;
            dt.month = pk % 13 ? (int) (pk % 13) : 1;
            dt.day = 1;
            dt.prec = HG_PREC_DAY;
            day = (int32_t) hg_date_days (&dt);
        }
        for (uint32_t g = 0; rc == 0 && g < r.n_groups; g++) {
            size_t at = p * r.n_groups + g;
            if (!r.records[at]) {
                continue;
            }
            hg_qpatient_t pt;
            s_demo_patient (d, rep[g], &pt);
            size_t kl2 = hg_query_record_cell_key (q, &pt, 0, pk != 0, day, key);
            if (kl2) {
                rc = hg_qpart_add (part, key, kl2, r.patients[at], r.records[at], 0);
            }
        }
    }
    free (r.records);
    free (r.patients);
    free (r.seen);
    free (r.touched);
    free (r.periods);
    free (r.in_chunk);
    s_dense_free (&groups);
    s_dense_free (&periods);
    free (rep);
    free (gid);
    return rc;
}

int
hg_qbits_run (hg_index_t *ix, const hg_query_t *q, hg_qpart_t *part)
{
    bits_t cohort = {0};
    s_demo_t d;
    memset (&d, 0, sizeof (d));
    bool narrowed;
    int rc = s_cohort (ix, q, &cohort, &narrowed);
    bool need_demo = q->sexes || q->has_age || q->n_by;
    if (rc == 0 && need_demo) {
        rc = s_demo_load (ix, &d);
    }
    if (rc == 0 && (q->sexes || q->has_age)) {
        rc = s_filter (q, &d, &cohort);
    }
    if (rc == 0) {
        switch (q->kind) {
        case HG_QM_PATIENTS:
        case HG_QM_PREVALENCE:
            if (q->n_by || q->kind == HG_QM_PREVALENCE) {
                if (!need_demo) {
                    rc = s_demo_load (ix, &d);
                }
                rc = rc < 0 ? rc : s_by_groups (q, &d, &cohort, part);
            }
            else {
                uint64_t n = s_count (&cohort);
                rc = n ? hg_qpart_add (part, "T", 1, n, 0, 0) : 0;
            }
            break;
        case HG_QM_RECORDS:
            if (!need_demo) {
                rc = s_demo_load (ix, &d);
            }
            rc = rc < 0 ? rc : s_records (ix, q, &d, &cohort, part);
            break;
        default: {
            uint64_t n = s_count (&cohort);
            rc = n ? hg_qpart_add (part, "T", 1, n, 0, 0) : 0;
            if (rc == 0 && q->kind == HG_QM_DISTRIBUTION) {
                rc = s_distribution (ix, q, &cohort, part);
            }
            else if (rc == 0 && q->kind == HG_QM_SERIES) {
                rc = s_series (ix, q, &cohort, part);
            }
            else if (rc == 0) {
                rc = s_top (ix, q, &cohort, part);
            }
        } break;
        }
    }
    s_bits_free (&cohort);
    s_demo_free (&d);
    return rc;
}

/* The ordinal of an N key. */
static uint32_t
s_get_ord (const char *k)
{
    const unsigned char *u = (const unsigned char *) k + 1;
    return (uint32_t) u[0] << 24 | (uint32_t) u[1] << 16 | (uint32_t) u[2] << 8 | u[3];
}

int
hg_qbits_candidates (hg_index_t *ix, const hg_query_t *q,
                     int (*add) (void *arg, const unsigned char *id), void *arg)
{
    bits_t cohort = {0};
    bool narrowed = false;
    int rc = s_cohort (ix, q, &cohort, &narrowed);
    if (rc == 0 && narrowed) {
        /* the patient ids of the ordinals: N keys, stepping or seeking */
        hg_store_iter_t *it = hg_store_iter_new (hg_index_store (ix), "N", 1, NULL, 0);
        rc = it ? 0 : -1;
        const char *k, *v;
        size_t kl, vl;
        bool at_valid = false;
        uint32_t at = 0; /* the ordinal of the key the walk is at */
        for (size_t w = 0; rc == 0 && w < cohort.nw; w++) {
            for (uint64_t x = cohort.w[w]; rc == 0 && x; x &= x - 1) {
                uint32_t ord = (uint32_t) (w * 64 + (size_t) __builtin_ctzll (x));
                /* near ones by steps (ordinals are dense), far ones by a seek */
                for (int step = 0; at_valid && at < ord && step < 16; step++) {
                    at_valid = hg_store_iter_next (it, &k, &kl, &v, &vl) && kl == 5;
                    at = at_valid ? s_get_ord (k) : 0;
                }
                if (!at_valid || at != ord) {
                    unsigned char key[5] = {'N', (unsigned char) (ord >> 24),
                                            (unsigned char) (ord >> 16),
                                            (unsigned char) (ord >> 8), (unsigned char) ord};
                    hg_store_iter_seek (it, key, sizeof (key));
                    at_valid = hg_store_iter_next (it, &k, &kl, &v, &vl) && kl == 5;
                    at = at_valid ? s_get_ord (k) : 0;
                }
                if (at_valid && at == ord && vl == HG_INDEX_ID_BYTES) {
                    rc = add (arg, (const unsigned char *) v);
                }
            }
        }
        hg_store_iter_destroy (&it);
    }
    s_bits_free (&cohort);
    return rc < 0 ? -1 : narrowed;
}
