/*
 * index.c -- indexer key layout, aggregates, the count query, and the
 * conversion of stores written in the earlier text layout (see index.h).
 */
#include "index.h"

#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "date.h"
#include "store_merge.h"
#include "strset.h"

#define S_VARINT_MAX 5
/* the longest code key: C S code 0 day 0 P I */
#define S_KEY_MAX (1 + S_VARINT_MAX + HG_INDEX_CODE_MAX + 1 + 10 + 1 + 2 * HG_INDEX_ID_BYTES)
/* the longest aggregate key: n 0 system | code */
#define S_AGG_KEY_MAX (2 + HG_INDEX_CODE_MAX + 1 + HG_INDEX_CODE_MAX + 1)
/* records converted per committed batch */
#define S_CONVERT_BATCH 2048

#define S_ORD_KEY "x\0ordinals"    /* the next patient ordinal, uint32 BE */
#define S_BITMAP_MARK "x\0bitmaps" /* ordinals, bitmaps, columns kept: */
#define S_BITMAP_VERSION "2"       /* the layout they have (2: with W) */

/* A code system of the dictionary. */
typedef struct sys_entry {
    struct sys_entry *next; /* hash chain */
    uint64_t hash;
    unsigned char enc[S_VARINT_MAX]; /* its number, LEB128 */
    size_t enc_len;
    size_t len;
    char name[]; /* the URI, NUL-terminated */
} sys_entry_t;

/* The exact counts of one system|code. */
typedef struct agg_entry {
    struct agg_entry *next; /* hash chain */
    struct agg_entry *dirty_next;
    bool dirty;
    uint64_t hash;
    uint64_t records, patients;
    size_t key_len; /* "n\0system|code" */
    char key[];
} agg_entry_t;

/* A key staged in the current round (the key bytes live in the round arena). */
typedef struct {
    uint64_t hash;
    const char *key; /* NULL: empty slot */
    size_t len;
} staged_t;

/* A patient seen in the current round: its ordinal and demographics (as
 * stored before the round, and as the round leaves them). */
typedef struct {
    unsigned char id[HG_INDEX_ID_BYTES];
    bool used;
    bool known;       /* had its ordinal before the round */
    bool demo_loaded; /* old_demo read from its G key (when known) */
    bool had_demo, has_demo;
    uint32_t ord;
    unsigned char old_demo[HG_INDEX_TUPLE_BYTES], new_demo[HG_INDEX_TUPLE_BYTES];
} pat_entry_t;

/* The merge operand of one key built up over a round: set members (tag 'U'
 * or '-', 16-bit numbers) or appended bytes ('A'). */
typedef struct {
    uint64_t hash;
    char tag;
    unsigned char key[HG_INDEX_KEY_MAX];
    size_t kl;
    unsigned char *buf; /* malloc'd */
    size_t len, cap;
} mop_t;

struct hg_index {
    hg_store_t *store;  /* not owned */
    bool live;          /* ordinals, bitmaps and columns kept (after the backfill) */
    uint32_t ord_next;  /* the ordinal a new patient gets */
    bool backfilled;    /* hg_index_open built the ordinals, bitmaps and columns */
    bool round_open;    /* begun, not flushed: a round that failed before its flush */
    uint32_t ord_round; /* ord_next when the round began */
    bool ord_dirty;
    pat_entry_t *pats; /* the round's patients, open addressing */
    size_t pats_cap, n_pats;
    mop_t **mops; /* the round's merge operands, open addressing */
    size_t mops_cap, n_mops;
    sys_entry_t **sys; /* dictionary by URI */
    size_t n_sys_buckets;
    uint32_t sys_next;       /* the number a new system gets */
    sys_entry_t **sys_by_id; /* dictionary by number */
    size_t n_sys_by_id;
    agg_entry_t **buckets; /* aggregates by "n\0system|code" */
    size_t n_buckets;
    agg_entry_t *dirty; /* changed since the last flush */
    staged_t *staged;   /* record and patient keys staged this round */
    size_t staged_cap, n_staged;
    hg_arena_t *round; /* copies of the staged keys */
};

static int s_flush_bitmaps (hg_index_t *self, hg_store_batch_t *wb);
static void s_bitmaps_forget (hg_index_t *self);

static uint64_t
s_hash (const void *p, size_t len)
{
    const unsigned char *s = p;
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h = (h ^ s[i]) * 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

static size_t
s_varint (uint32_t v, unsigned char out[S_VARINT_MAX])
{
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (unsigned char) (v | 0x80);
        v >>= 7;
    }
    out[n++] = (unsigned char) v;
    return n;
}

/* Decodes a LEB128 number of exactly len bytes; false when malformed. */
static bool
s_varint_get (const unsigned char *p, size_t len, uint32_t *v)
{
    uint64_t x = 0;
    for (size_t i = 0; i < len && i < S_VARINT_MAX; i++) {
        x |= (uint64_t) (p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            *v = (uint32_t) x;
            return i + 1 == len && x <= UINT32_MAX;
        }
    }
    return false;
}

void
hg_index_day (const char *effective, char out[11])
{
    out[0] = '\0';
    if (!effective || !*effective) {
        return;
    }
    hg_date_t d;
    if (hg_date_parse_iso (effective, strlen (effective), &d, NULL) == 0) {
        hg_date_day_key (&d, out);
    }
}

static int
s_hexval (char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

bool
hg_index_id_parse (const char *s, unsigned char out[HG_INDEX_ID_BYTES])
{
    for (size_t i = 0; i < HG_INDEX_ID_BYTES; i++) {
        int hi = s_hexval (s[2 * i]);
        int lo = hi < 0 ? -1 : s_hexval (s[2 * i + 1]);
        if (lo < 0) {
            return false;
        }
        out[i] = (unsigned char) (hi << 4 | lo);
    }
    return s[2 * HG_INDEX_ID_BYTES] == '\0';
}

/* ---- the code-system dictionary ------------------------------------------- */

static sys_entry_t *
s_sys_find (const hg_index_t *self, const char *name, size_t len, uint64_t h)
{
    for (sys_entry_t *e = self->sys[h & (self->n_sys_buckets - 1)]; e; e = e->next) {
        if (e->hash == h && e->len == len && memcmp (e->name, name, len) == 0) {
            return e;
        }
    }
    return NULL;
}

static sys_entry_t *
s_sys_insert (hg_index_t *self, const char *name, size_t len, uint64_t h, uint32_t id)
{
    sys_entry_t *e = calloc (1, sizeof (*e) + len + 1);
    if (!e) {
        return NULL;
    }
    e->hash = h;
    e->enc_len = s_varint (id, e->enc);
    e->len = len;
    memcpy (e->name, name, len);
    if (id >= self->n_sys_by_id) {
        size_t n = id + 64;
        sys_entry_t **v = realloc (self->sys_by_id, n * sizeof (*v));
        if (!v) {
            free (e);
            return NULL;
        }
        memset (v + self->n_sys_by_id, 0, (n - self->n_sys_by_id) * sizeof (*v));
        self->sys_by_id = v;
        self->n_sys_by_id = n;
    }
    self->sys_by_id[id] = e;
    size_t b = h & (self->n_sys_buckets - 1);
    e->next = self->sys[b];
    self->sys[b] = e;
    if (id >= self->sys_next) {
        self->sys_next = id + 1;
    }
    return e;
}

/* The dictionary entry of system; a new one (staged into wb) when wb is not
 * NULL, else NULL when unknown. NULL also when out of memory. */
static sys_entry_t *
s_sys_get (hg_index_t *self, const char *system, hg_store_batch_t *wb)
{
    size_t len = strlen (system);
    uint64_t h = s_hash (system, len);
    sys_entry_t *e = s_sys_find (self, system, len, h);
    if (e || !wb) {
        return e;
    }
    e = s_sys_insert (self, system, len, h, self->sys_next);
    if (e) {
        unsigned char key[1 + S_VARINT_MAX];
        key[0] = 'Y';
        memcpy (key + 1, e->enc, e->enc_len);
        hg_store_batch_put (wb, key, 1 + e->enc_len, system, len);
    }
    return e;
}

static int
s_sys_load (hg_index_t *self, hg_err_t *err)
{
    hg_store_iter_t *it = hg_store_iter_new (self->store, "Y", 1, NULL, 0);
    const char *k, *v;
    size_t kl, vl;
    int rc = 0;
    while (rc == 0 && hg_store_iter_next (it, &k, &kl, &v, &vl)) {
        uint32_t id;
        if (!s_varint_get ((const unsigned char *) k + 1, kl - 1, &id) || id == 0) {
            rc = hg_err_set (err, HG_EINVAL,
                             "index store has a malformed code-system "
                             "dictionary key (%zu bytes); the store is damaged",
                             kl);
        }
        else if (!s_sys_insert (self, v, vl, s_hash (v, vl), id)) {
            rc = hg_err_set (err, HG_ENOMEM, "out of memory loading the code systems");
        }
    }
    hg_store_iter_destroy (&it);
    return rc;
}

/* 'C' or 'P' S <code> 0x00 into key; its length. */
static size_t
s_code_key (char *key, char lead, const sys_entry_t *sys, const char *code, size_t code_len)
{
    size_t kl = 0;
    key[kl++] = lead;
    memcpy (key + kl, sys->enc, sys->enc_len);
    kl += sys->enc_len;
    memcpy (key + kl, code, code_len);
    kl += code_len;
    key[kl++] = '\0';
    return kl;
}

/* ---- keys staged in this round -------------------------------------------- */

static bool
s_staged_has (const hg_index_t *self, const char *key, size_t len, uint64_t h)
{
    if (!self->staged_cap) {
        return false;
    }
    for (size_t j = h & (self->staged_cap - 1); self->staged[j].key;
         j = (j + 1) & (self->staged_cap - 1)) {
        const staged_t *s = &self->staged[j];
        if (s->hash == h && s->len == len && memcmp (s->key, key, len) == 0) {
            return true;
        }
    }
    return false;
}

static int
s_staged_add (hg_index_t *self, const char *key, size_t len, uint64_t h)
{
    if ((self->n_staged + 1) * 2 > self->staged_cap) {
        size_t cap = self->staged_cap ? self->staged_cap * 2 : 4096;
        staged_t *ns = calloc (cap, sizeof (*ns));
        if (!ns) {
            return -1;
        }
        for (size_t i = 0; i < self->staged_cap; i++) {
            if (self->staged[i].key) {
                size_t j = self->staged[i].hash & (cap - 1);
                while (ns[j].key) {
                    j = (j + 1) & (cap - 1);
                }
                ns[j] = self->staged[i];
            }
        }
        free (self->staged);
        self->staged = ns;
        self->staged_cap = cap;
    }
    char *copy = hg_arena_alloc (self->round, len);
    if (!copy) {
        return -1;
    }
    memcpy (copy, key, len);
    size_t j = h & (self->staged_cap - 1);
    while (self->staged[j].key) {
        j = (j + 1) & (self->staged_cap - 1);
    }
    self->staged[j] = (staged_t) {h, copy, len};
    self->n_staged++;
    return 0;
}

void
hg_index_begin (hg_index_t *self)
{
    if (self->n_staged) {
        memset (self->staged, 0, self->staged_cap * sizeof (*self->staged));
        self->n_staged = 0;
    }
    hg_arena_reset (self->round);
    s_bitmaps_forget (self);
    /* the ordinals a round that never reached its flush gave out were never
     * stored: give them again (ordinals stay dense: 0..n-1 are patients) */
    if (self->round_open) {
        self->ord_next = self->ord_round;
    }
    self->ord_round = self->ord_next;
    self->round_open = true;
}

/* ---- aggregates ------------------------------------------------------------ */

static agg_entry_t *
s_agg_find (hg_index_t *self, const char *key, size_t len, bool create)
{
    uint64_t h = s_hash (key, len);
    size_t b = h & (self->n_buckets - 1);
    for (agg_entry_t *e = self->buckets[b]; e; e = e->next) {
        if (e->hash == h && e->key_len == len && memcmp (e->key, key, len) == 0) {
            return e;
        }
    }
    if (!create) {
        return NULL;
    }
    agg_entry_t *e = calloc (1, sizeof (*e) + len);
    if (!e) {
        return NULL;
    }
    memcpy (e->key, key, len);
    e->key_len = len;
    e->hash = h;
    e->next = self->buckets[b];
    self->buckets[b] = e;
    return e;
}

/* "n\0system|code" into key (S_AGG_KEY_MAX); its length, 0 when too long. */
static size_t
s_agg_key (char *key, const char *system, size_t sys_len, const char *code, size_t code_len)
{
    if (sys_len > HG_INDEX_CODE_MAX || code_len > HG_INDEX_CODE_MAX) {
        return 0;
    }
    size_t kl = 0;
    key[kl++] = 'n';
    key[kl++] = '\0';
    memcpy (key + kl, system, sys_len);
    kl += sys_len;
    key[kl++] = '|';
    memcpy (key + kl, code, code_len);
    kl += code_len;
    return kl;
}

static int
s_agg_load (hg_index_t *self, hg_err_t *err)
{
    hg_store_iter_t *it = hg_store_iter_new (self->store, "n\0", 2, NULL, 0);
    const char *k, *v;
    size_t kl, vl;
    int rc = 0;
    while (rc == 0 && hg_store_iter_next (it, &k, &kl, &v, &vl)) {
        agg_entry_t *e = s_agg_find (self, k, kl, true);
        if (!e) {
            rc = hg_err_set (err, HG_ENOMEM, "out of memory loading the aggregates");
        }
        else if (vl == 16) {
            memcpy (&e->records, v, 8);
            memcpy (&e->patients, v + 8, 8);
        }
    }
    hg_store_iter_destroy (&it);
    return rc;
}

int
hg_index_flush (hg_index_t *self, hg_store_batch_t *wb, hg_err_t *err)
{
    for (agg_entry_t *e = self->dirty; e; e = e->dirty_next) {
        char v[16];
        memcpy (v, &e->records, 8);
        memcpy (v + 8, &e->patients, 8);
        hg_store_batch_put (wb, e->key, e->key_len, v, sizeof (v));
        e->dirty = false;
    }
    self->dirty = NULL;
    self->round_open = false;
    return s_flush_bitmaps (self, wb) < 0
               ? hg_err_set (err, HG_ENOMEM, "out of memory staging the index's bitmaps")
               : 0;
}

/* ---- staging a record ------------------------------------------------------ */

static int
s_oom (hg_err_t *err)
{
    return hg_err_set (err, HG_ENOMEM, "out of memory indexing a record");
}

/* Counts coding i of rec for the aggregates: +1 record, +1 patient when the
 * patient key (pkey) is neither staged nor stored. */
static int
s_count_coding (hg_index_t *self, hg_store_batch_t *wb, const Hourglass__Coding *c,
                size_t sys_len, size_t code_len, const char *pkey, size_t pl, hg_err_t *err)
{
    char akey[S_AGG_KEY_MAX];
    size_t al = s_agg_key (akey, c->system, sys_len, c->code, code_len);
    agg_entry_t *e = s_agg_find (self, akey, al, true);
    if (!e) {
        return s_oom (err);
    }
    e->records++;
    uint64_t h = s_hash (pkey, pl);
    if (!s_staged_has (self, pkey, pl, h) && !hg_store_exists (self->store, pkey, pl)) {
        if (s_staged_add (self, pkey, pl, h) < 0) {
            return s_oom (err);
        }
        hg_store_batch_put (wb, pkey, pl, "", 0);
        e->patients++;
    }
    if (!e->dirty) {
        e->dirty = true;
        e->dirty_next = self->dirty;
        self->dirty = e;
    }
    return 0;
}

/* The day of a "YYYY-MM-DD" key as days since 1970-01-01 (biased, big
 * endian: keys sort by day), 0 for undated. */
static void
s_day_bytes (const char *day, unsigned char out[4])
{
    uint32_t v = 0;
    if (strlen (day) == 10) {
        hg_date_t d;
        memset (&d, 0, sizeof (d));
        d.year = atoi (day);
        d.month = atoi (day + 5);
        d.day = atoi (day + 8);
        d.prec = HG_PREC_DAY;
        v = (uint32_t) (hg_date_days (&d) + HG_INDEX_DAY_BIAS);
    }
    out[0] = (unsigned char) (v >> 24);
    out[1] = (unsigned char) (v >> 16);
    out[2] = (unsigned char) (v >> 8);
    out[3] = (unsigned char) v;
}

/* ---- patient ordinals, bitmaps and code columns ------------------------------ */

/* Forgets the round's patients and merge operands. */
static void
s_bitmaps_forget (hg_index_t *self)
{
    for (size_t i = 0; i < self->mops_cap; i++) {
        if (self->mops[i]) {
            free (self->mops[i]->buf);
            free (self->mops[i]);
            self->mops[i] = NULL;
        }
    }
    self->n_mops = 0;
    if (self->n_pats) {
        memset (self->pats, 0, self->pats_cap * sizeof (*self->pats));
        self->n_pats = 0;
    }
}

static void
s_be32 (unsigned char *out, uint32_t v)
{
    out[0] = (unsigned char) (v >> 24);
    out[1] = (unsigned char) (v >> 16);
    out[2] = (unsigned char) (v >> 8);
    out[3] = (unsigned char) v;
}

static uint32_t
s_get_be32 (const unsigned char *in)
{
    return (uint32_t) in[0] << 24 | (uint32_t) in[1] << 16 | (uint32_t) in[2] << 8 | in[3];
}

/* The merge operand of key with tag in this round (created empty); NULL
 * when out of memory. */
static mop_t *
s_mop (hg_index_t *self, char tag, const unsigned char *key, size_t kl)
{
    uint64_t h = s_hash (key, kl) ^ (uint64_t) (unsigned char) tag;
    if ((self->n_mops + 1) * 2 > self->mops_cap) {
        size_t cap = self->mops_cap ? self->mops_cap * 2 : 1024;
        mop_t **nm = calloc (cap, sizeof (*nm));
        if (!nm) {
            return NULL;
        }
        for (size_t i = 0; i < self->mops_cap; i++) {
            if (self->mops[i]) {
                size_t j = self->mops[i]->hash & (cap - 1);
                while (nm[j]) {
                    j = (j + 1) & (cap - 1);
                }
                nm[j] = self->mops[i];
            }
        }
        free (self->mops);
        self->mops = nm;
        self->mops_cap = cap;
    }
    size_t j = h & (self->mops_cap - 1);
    for (; self->mops[j]; j = (j + 1) & (self->mops_cap - 1)) {
        mop_t *m = self->mops[j];
        if (m->hash == h && m->tag == tag && m->kl == kl && memcmp (m->key, key, kl) == 0) {
            return m;
        }
    }
    mop_t *m = calloc (1, sizeof (*m));
    if (!m) {
        return NULL;
    }
    m->hash = h;
    m->tag = tag;
    memcpy (m->key, key, kl);
    m->kl = kl;
    self->mops[j] = m;
    self->n_mops++;
    return m;
}

static int
s_mop_append (mop_t *m, const void *bytes, size_t n)
{
    if (m->len + n > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        while (cap < m->len + n) {
            cap *= 2;
        }
        unsigned char *b = realloc (m->buf, cap);
        if (!b) {
            return -1;
        }
        m->buf = b;
        m->cap = cap;
    }
    memcpy (m->buf + m->len, bytes, n);
    m->len += n;
    return 0;
}

/* Adds (tag 'U') or removes ('-') ordinal ord to or from the bitmap whose
 * key, without the 2 bytes of the ordinal's high half, is key[0..kl). */
static int
s_bitmap_op (hg_index_t *self, char tag, unsigned char *key, size_t kl, uint32_t ord)
{
    key[kl] = (unsigned char) (ord >> 24);
    key[kl + 1] = (unsigned char) (ord >> 16);
    mop_t *m = s_mop (self, tag, key, kl + 2);
    unsigned char low[2] = {(unsigned char) ord, (unsigned char) (ord >> 8)};
    return m && s_mop_append (m, low, 2) == 0 ? 0 : -1;
}

/* The patient of the round with id pat (looked up in the store, or given
 * the next ordinal, when first seen in the round); NULL when out of
 * memory. */
static pat_entry_t *
s_pat (hg_index_t *self, hg_store_batch_t *wb, const unsigned char *pat)
{
    if ((self->n_pats + 1) * 2 > self->pats_cap) {
        size_t cap = self->pats_cap ? self->pats_cap * 2 : 1024;
        pat_entry_t *np = calloc (cap, sizeof (*np));
        if (!np) {
            return NULL;
        }
        for (size_t i = 0; i < self->pats_cap; i++) {
            if (self->pats[i].used) {
                size_t j = s_hash (self->pats[i].id, HG_INDEX_ID_BYTES) & (cap - 1);
                while (np[j].used) {
                    j = (j + 1) & (cap - 1);
                }
                np[j] = self->pats[i];
            }
        }
        free (self->pats);
        self->pats = np;
        self->pats_cap = cap;
    }
    size_t j = s_hash (pat, HG_INDEX_ID_BYTES) & (self->pats_cap - 1);
    for (; self->pats[j].used; j = (j + 1) & (self->pats_cap - 1)) {
        if (memcmp (self->pats[j].id, pat, HG_INDEX_ID_BYTES) == 0) {
            return &self->pats[j];
        }
    }
    pat_entry_t *p = &self->pats[j];
    memset (p, 0, sizeof (*p));
    p->used = true;
    memcpy (p->id, pat, HG_INDEX_ID_BYTES);
    self->n_pats++;
    unsigned char key[1 + HG_INDEX_ID_BYTES];
    key[0] = 'O';
    memcpy (key + 1, pat, HG_INDEX_ID_BYTES);
    char *v = NULL;
    size_t vl = 0;
    if (hg_store_get (self->store, key, sizeof (key), &v, &vl, NULL) == 0 && vl == 4) {
        p->ord = s_get_be32 ((const unsigned char *) v);
        p->known = true;
        free (v);
        return p;
    }
    free (v);
    p->ord = self->ord_next++;
    self->ord_dirty = true;
    unsigned char val[4];
    s_be32 (val, p->ord);
    hg_store_batch_put (wb, key, sizeof (key), val, sizeof (val));
    unsigned char rkey[5] = {'N'};
    s_be32 (rkey + 1, p->ord);
    hg_store_batch_put (wb, rkey, sizeof (rkey), pat, HG_INDEX_ID_BYTES);
    return p;
}

/* The demographic tuple of d (the first HG_INDEX_TUPLE_BYTES of a G value:
 * sex's first letter, birth year LE, state). */
static void
s_tuple (const Hourglass__Demographics *d, unsigned char out[HG_INDEX_DEMO_BYTES])
{
    memset (out, 0, HG_INDEX_DEMO_BYTES);
    const char *sex = d->sex ? d->sex : "";
    out[0] = (unsigned char) (*sex ? *sex : 0);
    out[1] = (unsigned char) (d->birth_year & 0xff);
    out[2] = (unsigned char) ((d->birth_year >> 8) & 0xff);
    strncpy ((char *) out + 3, d->state ? d->state : "", 3);
    strncpy ((char *) out + 6, d->postal_prefix ? d->postal_prefix : "", 3);
}

/* The key of a demographic bitmap (b dim value) of tuple t into key
 * (room for 2 more bytes); its length. dim: 's' sex, 'y' birth year, 't'
 * state. */
static size_t
s_demo_key (unsigned char *key, char dim, const unsigned char *t)
{
    key[0] = 'b';
    key[1] = (unsigned char) dim;
    switch (dim) {
    case 's':
        key[2] = t[0];
        return 3;
    case 'y': /* big endian: years in order */
        key[2] = t[2];
        key[3] = t[1];
        return 4;
    default:
        memcpy (key + 2, t + 3, 3);
        return 5;
    }
}

/* The code-column entry of one record for one of its codes. */
static void
s_column_entry (unsigned char out[HG_INDEX_COL_ENTRY], uint32_t ord, int kind, bool dated,
                int32_t day, bool has_value, double value)
{
    uint32_t low = ord & (HG_INDEX_COL_CHUNK - 1);
    out[0] = (unsigned char) low;
    out[1] = (unsigned char) (low >> 8);
    out[2] = (unsigned char) kind;
    out[3] = (unsigned char) ((has_value ? 1 : 0) | (dated ? 2 : 0));
    memcpy (out + 4, &day, 4);
    memcpy (out + 8, has_value ? &value : &(double) {0}, 8);
}

/* Stages one record's ordinal, code bitmaps (B S code 0 kind hi -> set of
 * low halves) and code columns (V S code 0 chunk -> entries); codes:
 * the record's distinct indexable codes. */
static int
s_stage_bitmaps (hg_index_t *self, hg_store_batch_t *wb, const unsigned char *pat, int kind,
                 uint32_t biased, bool has_value, double value,
                 const Hourglass__Demographics *demo, const sys_entry_t *const *sys,
                 const char *const *codes, size_t n)
{
    pat_entry_t *p = s_pat (self, wb, pat);
    if (!p) {
        return -1;
    }
    if (demo && p->known && !p->demo_loaded) {
        /* the tuple its bitmaps hold now: its G key before this round */
        unsigned char key[1 + HG_INDEX_ID_BYTES];
        key[0] = 'G';
        memcpy (key + 1, pat, HG_INDEX_ID_BYTES);
        char *v = NULL;
        size_t vl = 0;
        if (hg_store_get (self->store, key, sizeof (key), &v, &vl, NULL) == 0
            && vl >= HG_INDEX_DEMO_BYTES) {
            p->had_demo = true;
            memcpy (p->old_demo, v, HG_INDEX_TUPLE_BYTES);
        }
        free (v);
    }
    if (demo) {
        p->demo_loaded = true;
        unsigned char g[HG_INDEX_DEMO_BYTES];
        s_tuple (demo, g);
        memcpy (p->new_demo, g, HG_INDEX_TUPLE_BYTES);
        p->has_demo = true;
    }
    int32_t days = (int32_t) ((int64_t) biased - HG_INDEX_DAY_BIAS);
    unsigned char entry[HG_INDEX_COL_ENTRY];
    s_column_entry (entry, p->ord, kind, biased != 0, days, has_value, value);
    unsigned char key[HG_INDEX_KEY_MAX];
    for (size_t i = 0; i < n; i++) {
        size_t kl = s_code_key ((char *) key, 'B', sys[i], codes[i], strlen (codes[i]));
        key[kl] = (unsigned char) kind;
        if (s_bitmap_op (self, 'U', key, kl + 1, p->ord) < 0) {
            return -1;
        }
        key[0] = 'V';
        s_be32 (key + kl, p->ord / HG_INDEX_COL_CHUNK);
        mop_t *m = s_mop (self, 'A', key, kl + 4);
        if (!m || s_mop_append (m, entry, sizeof (entry)) < 0) {
            return -1;
        }
    }
    /* the record column: every record, coded or not */
    key[0] = 'W';
    s_be32 (key + 1, p->ord / HG_INDEX_COL_CHUNK);
    mop_t *m = s_mop (self, 'A', key, 5);
    return m && s_mop_append (m, entry, HG_INDEX_REC_ENTRY) == 0 ? 0 : -1;
}

/* The round's bitmap and column operands into wb (the demographic bitmaps
 * of the patients whose tuple changed first), then forgets the round. */
static int
s_flush_bitmaps (hg_index_t *self, hg_store_batch_t *wb)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < self->pats_cap; i++) {
        pat_entry_t *p = &self->pats[i];
        if (!p->used || !p->has_demo) {
            continue;
        }
        static const char dims[] = {'s', 'y', 't'};
        for (size_t d = 0; rc == 0 && d < sizeof (dims); d++) {
            unsigned char ok[8], nk[8];
            size_t nl = s_demo_key (nk, dims[d], p->new_demo);
            if (p->had_demo) {
                size_t ol = s_demo_key (ok, dims[d], p->old_demo);
                if (ol == nl && memcmp (ok, nk, nl) == 0) {
                    continue;
                }
                rc = s_bitmap_op (self, '-', ok, ol, p->ord);
            }
            rc = rc < 0 ? rc : s_bitmap_op (self, 'U', nk, nl, p->ord);
        }
    }
    uint64_t *bits = NULL;
    unsigned char *enc = NULL;
    for (size_t i = 0; rc == 0 && i < self->mops_cap; i++) {
        mop_t *m = self->mops[i];
        if (!m) {
            continue;
        }
        if (m->tag == 'A') {
            /* the tag, then the entries */
            unsigned char *op = malloc (m->len + 1);
            if (!op) {
                rc = -1;
                break;
            }
            op[0] = 'A';
            memcpy (op + 1, m->buf, m->len);
            hg_store_batch_merge (wb, m->key, m->kl, op, m->len + 1);
            free (op);
            continue;
        }
        if (!bits) {
            bits = malloc (1024 * sizeof (*bits));
            enc = malloc (1 + HG_SET_BITSET_BYTES);
            if (!bits || !enc) {
                rc = -1;
                break;
            }
        }
        memset (bits, 0, 1024 * sizeof (*bits));
        hg_set_apply (bits, m->buf, m->len, false);
        enc[0] = (unsigned char) m->tag;
        size_t el = hg_set_encode (bits, enc + 1);
        hg_store_batch_merge (wb, m->key, m->kl, enc, el + 1);
    }
    free (bits);
    free (enc);
    if (rc == 0 && self->ord_dirty) {
        unsigned char v[4];
        s_be32 (v, self->ord_next);
        hg_store_batch_put (wb, S_ORD_KEY, sizeof (S_ORD_KEY) - 1, v, sizeof (v));
        self->ord_dirty = false;
    }
    s_bitmaps_forget (self);
    return rc;
}

/* The timeline key of rec (E P day I -> kind, flags, [value], codes) and,
 * for demographics, the patient's (G P -> sex, birth year, state). */
static int
s_stage_timeline (hg_index_t *self, hg_store_batch_t *wb, const Hourglass__Record *rec,
                  const char *day, const unsigned char *pat, const unsigned char *rid,
                  hg_err_t *err)
{
    unsigned char key[1 + HG_INDEX_ID_BYTES + 4 + HG_INDEX_ID_BYTES];
    key[0] = 'E';
    memcpy (key + 1, pat, HG_INDEX_ID_BYTES);
    s_day_bytes (day, key + 1 + HG_INDEX_ID_BYTES);
    memcpy (key + 5 + HG_INDEX_ID_BYTES, rid, HG_INDEX_ID_BYTES);
    unsigned char val[HG_INDEX_EVENT_MAX];
    size_t vl = 0;
    val[vl++] = (unsigned char) rec->kind;
    bool has_value = rec->value_case == HOURGLASS__RECORD__VALUE_QUANTITY && rec->quantity;
    val[vl++] = has_value ? 1 : 0;
    if (has_value) {
        memcpy (val + vl, &rec->quantity->value, 8);
        vl += 8;
    }
    size_t n_at = vl++;
    unsigned n = 0;
    for (size_t i = 0; i < rec->n_codes && n < 255; i++) {
        const Hourglass__Coding *c = rec->codes[i];
        size_t cl = strlen (c->code);
        if (!cl || cl > HG_INDEX_CODE_MAX || strlen (c->system) > HG_INDEX_CODE_MAX) {
            continue;
        }
        const sys_entry_t *sys = s_sys_get (self, c->system, wb);
        if (!sys) {
            return s_oom (err);
        }
        if (vl + sys->enc_len + cl + 1 > sizeof (val)) {
            break; /* the codes that fit (a timeline entry stays small) */
        }
        memcpy (val + vl, sys->enc, sys->enc_len);
        vl += sys->enc_len;
        memcpy (val + vl, c->code, cl + 1);
        vl += cl + 1;
        n++;
    }
    val[n_at] = (unsigned char) n;
    hg_store_batch_put (wb, key, sizeof (key), val, vl);
    const Hourglass__Demographics *d = rec->demographics;
    if (d) {
        unsigned char g[HG_INDEX_DEMO_BYTES] = {0};
        const char *sex = d->sex ? d->sex : "";
        g[0] = (unsigned char) (*sex ? *sex : 0);
        g[1] = (unsigned char) (d->birth_year & 0xff);
        g[2] = (unsigned char) ((d->birth_year >> 8) & 0xff);
        strncpy ((char *) g + 3, d->state ? d->state : "", 3);
        strncpy ((char *) g + 6, d->postal_prefix ? d->postal_prefix : "", 3);
        key[0] = 'G';
        hg_store_batch_put (wb, key, 1 + HG_INDEX_ID_BYTES, g, sizeof (g));
    }
    return 0;
}

/* Stages every key of rec (ids already parsed). count: also count it in the
 * aggregates (a conversion re-keys records already counted). */
static int
s_stage (hg_index_t *self, hg_store_batch_t *wb, const Hourglass__Record *rec,
         const uint8_t *packed, size_t packed_len, const unsigned char *pat,
         const unsigned char *rid, bool count, hg_err_t *err)
{
    char key[S_KEY_MAX];
    key[0] = 'R';
    memcpy (key + 1, pat, HG_INDEX_ID_BYTES);
    memcpy (key + 1 + HG_INDEX_ID_BYTES, rid, HG_INDEX_ID_BYTES);
    if (packed) {
        hg_store_batch_put (wb, key, 1 + 2 * HG_INDEX_ID_BYTES, packed, packed_len);
    }
    else {
        size_t len = hourglass__record__get_packed_size (rec);
        uint8_t *val = hg_store_batch_put_space (wb, key, 1 + 2 * HG_INDEX_ID_BYTES, len);
        if (!val) {
            return s_oom (err);
        }
        hourglass__record__pack (rec, val);
    }

    char day[11];
    hg_index_day (rec->effective, day);
    size_t day_len = strlen (day);
    /* the record's distinct indexed codes, for the bitmaps and columns */
    const sys_entry_t **bsys = NULL;
    const char **bcodes = NULL;
    size_t n_b = 0;
    if (self->live && rec->n_codes) {
        bsys = hg_arena_alloc (self->round, rec->n_codes * sizeof (*bsys));
        bcodes = hg_arena_alloc (self->round, rec->n_codes * sizeof (*bcodes));
        if (!bsys || !bcodes) {
            return s_oom (err);
        }
    }
    for (size_t i = 0; i < rec->n_codes; i++) {
        const Hourglass__Coding *c = rec->codes[i];
        size_t code_len = strlen (c->code), sys_len = strlen (c->system);
        if (!code_len || code_len > HG_INDEX_CODE_MAX || sys_len > HG_INDEX_CODE_MAX) {
            continue; /* uncoded codings are not indexed */
        }
        /* a record carrying the same code twice is indexed and counted once */
        bool repeated = false;
        for (size_t j = 0; j < i && !repeated; j++) {
            repeated = strcmp (rec->codes[j]->system, c->system) == 0
                       && strcmp (rec->codes[j]->code, c->code) == 0;
        }
        if (repeated) {
            continue;
        }
        const sys_entry_t *sys = s_sys_get (self, c->system, wb);
        if (!sys) {
            return s_oom (err);
        }
        if (bsys) {
            bsys[n_b] = sys;
            bcodes[n_b++] = c->code;
        }
        size_t kl = s_code_key (key, 'C', sys, c->code, code_len);
        memcpy (key + kl, day, day_len);
        kl += day_len;
        key[kl++] = '\0';
        memcpy (key + kl, pat, HG_INDEX_ID_BYTES);
        memcpy (key + kl + HG_INDEX_ID_BYTES, rid, HG_INDEX_ID_BYTES);
        hg_store_batch_put (wb, key, kl + 2 * HG_INDEX_ID_BYTES, "", 0);

        size_t pl = s_code_key (key, 'P', sys, c->code, code_len);
        memcpy (key + pl, pat, HG_INDEX_ID_BYTES);
        pl += HG_INDEX_ID_BYTES;
        if (!count) {
            hg_store_batch_put (wb, key, pl, "", 0);
        }
        else if (s_count_coding (self, wb, c, sys_len, code_len, key, pl, err) < 0) {
            return err->code;
        }
    }
    size_t kl = 0;
    key[kl++] = 'D';
    memcpy (key + kl, day, day_len);
    kl += day_len;
    key[kl++] = '\0';
    memcpy (key + kl, rid, HG_INDEX_ID_BYTES);
    kl += HG_INDEX_ID_BYTES;
    hg_store_batch_put (wb, key, kl, pat, HG_INDEX_ID_BYTES);
    bool has_value = rec->value_case == HOURGLASS__RECORD__VALUE_QUANTITY && rec->quantity;
    unsigned char d4[4];
    s_day_bytes (day, d4);
    if (self->live
        && s_stage_bitmaps (self, wb, pat, (int) rec->kind, s_get_be32 (d4), has_value,
                            has_value ? rec->quantity->value : 0, rec->demographics, bsys, bcodes,
                            n_b)
               < 0) {
        return s_oom (err);
    }
    return s_stage_timeline (self, wb, rec, day, pat, rid, err);
}

int
hg_index_put (hg_index_t *self, hg_store_batch_t *wb, const Hourglass__Record *rec, hg_err_t *err)
{
    return hg_index_put_packed (self, wb, rec, NULL, 0, err);
}

int
hg_index_put_packed (hg_index_t *self, hg_store_batch_t *wb, const Hourglass__Record *rec,
                     const uint8_t *packed, size_t packed_len, hg_err_t *err)
{
    if (!rec->pseudonymous || !*rec->patient_ref || !*rec->record_id) {
        return hg_err_set (err, HG_EINVAL,
                           "record is not de-identified (pseudonymous patient and record id "
                           "required)");
    }
    /* the values are not quoted: what is not a pseudonym may identify someone */
    unsigned char pat[HG_INDEX_ID_BYTES], rid[HG_INDEX_ID_BYTES];
    if (!hg_index_id_parse (rec->patient_ref, pat)) {
        return hg_err_set (err, HG_EINVAL,
                           "patient_ref is not a pseudonym (32 lowercase hex digits, as the "
                           "de-identifier writes them)");
    }
    if (!hg_index_id_parse (rec->record_id, rid)) {
        return hg_err_set (err, HG_EINVAL,
                           "record_id is not a pseudonym (32 lowercase hex digits, as the "
                           "de-identifier writes them)");
    }
    char key[1 + 2 * HG_INDEX_ID_BYTES];
    key[0] = 'R';
    memcpy (key + 1, pat, HG_INDEX_ID_BYTES);
    memcpy (key + 1 + HG_INDEX_ID_BYTES, rid, HG_INDEX_ID_BYTES);
    uint64_t h = s_hash (key, sizeof (key));
    if (s_staged_has (self, key, sizeof (key), h)
        || hg_store_exists (self->store, key, sizeof (key))) {
        return 0;
    }
    if (s_staged_add (self, key, sizeof (key), h) < 0) {
        return s_oom (err);
    }
    int rc = s_stage (self, wb, rec, packed, packed_len, pat, rid, true, err);
    return rc < 0 ? rc : 1;
}

/* ---- counting -------------------------------------------------------------- */

/* Walks the patients of one code: every record's patient (C keys, dated
 * within [from, to] when ranged; *records counts them), or each patient once
 * (P keys) when not. A patient is added to out when keep is NULL or holds
 * it. */
static int
s_code_patients (hg_index_t *self, const sys_entry_t *sys, const char *code, size_t code_len,
                 bool ranged, const char *from, const char *to, const hg_strset_t *keep,
                 hg_strset_t *out, uint64_t *records, hg_err_t *err)
{
    char prefix[S_KEY_MAX], start[S_KEY_MAX];
    size_t pl = s_code_key (prefix, ranged ? 'C' : 'P', sys, code, code_len);
    memcpy (start, prefix, pl);
    size_t sl = pl;
    bool has_from = ranged && from && *from;
    bool has_to = ranged && to && *to;
    if (has_from) {
        size_t fl = strnlen (from, sizeof (start) - sl);
        memcpy (start + sl, from, fl);
        sl += fl;
    }
    hg_store_iter_t *it = hg_store_iter_new (self->store, prefix, pl, start, sl);
    const char *k;
    size_t klen;
    uint64_t n = 0;
    int rc = 0;
    while (rc == 0 && hg_store_iter_next (it, &k, &klen, NULL, NULL)) {
        const char *pat = k + pl;
        if (ranged) {
            const char *day = k + pl;
            const char *end = k + klen;
            const char *day_end = memchr (day, '\0', (size_t) (end - day));
            if (!day_end || end - (day_end + 1) != 2 * HG_INDEX_ID_BYTES) {
                continue;
            }
            size_t day_len = (size_t) (day_end - day);
            if ((has_from || has_to) && day_len == 0) {
                continue; /* undated records never match a date range */
            }
            if (has_to && strncmp (day, to, 10) > 0) {
                break; /* keys are in date order: nothing later matches */
            }
            pat = day_end + 1;
        }
        else if (klen != pl + HG_INDEX_ID_BYTES) {
            continue;
        }
        n++;
        if ((!keep || hg_strset_has (keep, pat, HG_INDEX_ID_BYTES))
            && hg_strset_add (out, pat, HG_INDEX_ID_BYTES) < 0) {
            rc = hg_err_set (err, HG_ENOMEM, "out of memory counting patients");
        }
    }
    hg_store_iter_destroy (&it);
    if (records) {
        *records = n;
    }
    return rc;
}

int
hg_index_count_scan (hg_index_t *self, const char *system, const char *code, const char *from,
                     const char *to, uint64_t *patients, uint64_t *records, hg_err_t *err)
{
    size_t code_len = strlen (code);
    if (code_len > HG_INDEX_CODE_MAX || strlen (system) > HG_INDEX_CODE_MAX) {
        return hg_err_set (err, HG_EINVAL, "code too long");
    }
    *patients = *records = 0;
    const sys_entry_t *sys = s_sys_get (self, system, NULL);
    if (!sys || !*code) {
        return 0; /* a system never seen has no records */
    }
    hg_strset_t *pats = hg_strset_new ();
    if (!pats) {
        return hg_err_set (err, HG_ENOMEM, "out of memory counting patients");
    }
    int rc = s_code_patients (self, sys, code, code_len, true, from, to, NULL, pats, records,
                              err);
    *patients = hg_strset_size (pats);
    hg_strset_destroy (&pats);
    return rc;
}

/* The patient of the next well-formed patient key (prefix of pl bytes, then
 * 16 bytes) of it into out; false at the end. */
static bool
s_walk_next (hg_store_iter_t *it, size_t pl, unsigned char out[HG_INDEX_ID_BYTES])
{
    const char *k;
    size_t kl;
    while (hg_store_iter_next (it, &k, &kl, NULL, NULL)) {
        if (kl == pl + HG_INDEX_ID_BYTES) {
            memcpy (out, k + pl, HG_INDEX_ID_BYTES);
            return true;
        }
    }
    return false;
}

/* Moves a walk of patient keys to the first patient >= target: a few steps
 * first (the codes of a cohort are often carried by many of the same
 * patients), then a seek. false at the end. */
static bool
s_walk_to (hg_store_iter_t *it, const char *prefix, size_t pl,
           const unsigned char target[HG_INDEX_ID_BYTES], unsigned char at[HG_INDEX_ID_BYTES])
{
    for (int step = 0; step < 8; step++) {
        if (memcmp (at, target, HG_INDEX_ID_BYTES) >= 0) {
            return true;
        }
        if (!s_walk_next (it, pl, at)) {
            return false;
        }
    }
    if (memcmp (at, target, HG_INDEX_ID_BYTES) >= 0) {
        return true;
    }
    char key[S_KEY_MAX];
    memcpy (key, prefix, pl);
    memcpy (key + pl, target, HG_INDEX_ID_BYTES);
    hg_store_iter_seek (it, key, pl + HG_INDEX_ID_BYTES);
    return s_walk_next (it, pl, at);
}

/* An unranged cohort: a leapfrog join of the codes' patient keys, which are
 * in patient order. Every walk moves to the largest patient any walk is at;
 * a patient every walk reaches is in the cohort. No set is built. */
static uint64_t
s_cohort_join (hg_index_t *self, const sys_entry_t *const *sys, const char *const *codes,
               size_t n)
{
    char prefix[HG_INDEX_COHORT_MAX][S_KEY_MAX]; /* ~17 KB */
    size_t pl[HG_INDEX_COHORT_MAX];
    hg_store_iter_t *its[HG_INDEX_COHORT_MAX] = {NULL};
    unsigned char at[HG_INDEX_COHORT_MAX][HG_INDEX_ID_BYTES];
    uint64_t count = 0;
    size_t opened = 0;
    bool more = true;
    for (; opened < n && more; opened++) {
        pl[opened] = s_code_key (prefix[opened], 'P', sys[opened], codes[opened],
                                 strlen (codes[opened]));
        its[opened] = hg_store_iter_new (self->store, prefix[opened], pl[opened], NULL, 0);
        more = s_walk_next (its[opened], pl[opened], at[opened]);
    }
    while (more) {
        size_t hi = 0;
        for (size_t i = 1; i < n; i++) {
            if (memcmp (at[i], at[hi], HG_INDEX_ID_BYTES) > 0) {
                hi = i;
            }
        }
        bool aligned = true;
        for (size_t i = 0; i < n && more && aligned; i++) {
            if (i != hi) {
                more = s_walk_to (its[i], prefix[i], pl[i], at[hi], at[i]);
                aligned = more && memcmp (at[i], at[hi], HG_INDEX_ID_BYTES) == 0;
            }
        }
        if (more && aligned) {
            count++;
            more = s_walk_next (its[hi], pl[hi], at[hi]);
        }
    }
    for (size_t i = 0; i < opened; i++) {
        hg_store_iter_destroy (&its[i]);
    }
    return count;
}

int
hg_index_cohort (hg_index_t *self, const char *const *systems, const char *const *codes, size_t n,
                 const char *from, const char *to, uint64_t *patients, hg_err_t *err)
{
    *patients = 0;
    if (n == 0 || n > HG_INDEX_COHORT_MAX) {
        return hg_err_set (err, HG_EINVAL, "a cohort needs 1 to %d codes", HG_INDEX_COHORT_MAX);
    }
    /* the codes by how many patients carry them (the aggregates), fewest
     * first: the first set is the smallest and only shrinks */
    size_t order[HG_INDEX_COHORT_MAX];
    uint64_t size[HG_INDEX_COHORT_MAX];
    const sys_entry_t *sys[HG_INDEX_COHORT_MAX];
    for (size_t i = 0; i < n; i++) {
        size_t code_len = strlen (codes[i]), sys_len = strlen (systems[i]);
        if (code_len > HG_INDEX_CODE_MAX || sys_len > HG_INDEX_CODE_MAX) {
            return hg_err_set (err, HG_EINVAL, "code too long");
        }
        char key[S_AGG_KEY_MAX];
        size_t kl = s_agg_key (key, systems[i], sys_len, codes[i], code_len);
        agg_entry_t *e = s_agg_find (self, key, kl, false);
        sys[i] = s_sys_get (self, systems[i], NULL);
        if (!e || !e->patients || !sys[i] || !*codes[i]) {
            return 0; /* nobody has this code: nobody has them all */
        }
        size[i] = e->patients;
        size_t j = i;
        while (j > 0 && size[order[j - 1]] > size[i]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    bool ranged = (from && *from) || (to && *to);
    if (!ranged) {
        *patients = s_cohort_join (self, sys, codes, n);
        return 0;
    }
    hg_strset_t *have = NULL;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        size_t c = order[i];
        hg_strset_t *next = hg_strset_new ();
        rc = next ? s_code_patients (self, sys[c], codes[c], strlen (codes[c]), ranged, from, to,
                                     have, next, NULL, err)
                  : hg_err_set (err, HG_ENOMEM, "out of memory counting patients");
        hg_strset_destroy (&have);
        have = next;
        if (rc == 0 && hg_strset_size (have) == 0) {
            break;
        }
    }
    *patients = rc == 0 ? hg_strset_size (have) : 0;
    hg_strset_destroy (&have);
    return rc;
}

int
hg_index_count (hg_index_t *self, const char *system, const char *code, const char *from,
                const char *to, uint64_t *patients, uint64_t *records, hg_err_t *err)
{
    if ((from && *from) || (to && *to)) {
        return hg_index_count_scan (self, system, code, from, to, patients, records, err);
    }
    char key[S_AGG_KEY_MAX];
    size_t kl = s_agg_key (key, system, strlen (system), code, strlen (code));
    if (!kl) {
        return hg_err_set (err, HG_EINVAL, "code too long");
    }
    agg_entry_t *e = s_agg_find (self, key, kl, false);
    *patients = e ? e->patients : 0;
    *records = e ? e->records : 0;
    return 0;
}

/* ---- conversion of the earlier text layout --------------------------------- */

static bool
s_any (hg_store_t *store, const char *prefix, size_t len)
{
    hg_store_iter_t *it = hg_store_iter_new (store, prefix, len, NULL, 0);
    const char *k;
    size_t kl;
    bool any = hg_store_iter_next (it, &k, &kl, NULL, NULL);
    hg_store_iter_destroy (&it);
    return any;
}

static int
s_write (hg_index_t *self, hg_store_batch_t *wb, hg_err_t *err)
{
    int rc = hg_store_write (self->store, wb, true, err);
    hg_store_batch_clear (wb);
    return rc;
}

/* Deletes every key starting with prefix. */
static int
s_sweep (hg_index_t *self, hg_store_batch_t *wb, const char *prefix, size_t len, hg_err_t *err)
{
    hg_store_iter_t *it = hg_store_iter_new (self->store, prefix, len, NULL, 0);
    const char *k;
    size_t kl;
    int rc = 0;
    while (rc == 0 && hg_store_iter_next (it, &k, &kl, NULL, NULL)) {
        hg_store_batch_delete (wb, k, kl);
        if (hg_store_batch_count (wb) >= 4 * S_CONVERT_BATCH) {
            rc = s_write (self, wb, err);
        }
    }
    hg_store_iter_destroy (&it);
    return rc == 0 ? s_write (self, wb, err) : rc;
}

/* Re-keys every record of the text layout ("r\0<patient>\0<record id>"),
 * deleting its old record key in the same committed batch, then deletes
 * the old code, date and patient keys. The aggregates ("n\0") are the same
 * in both layouts. A record whose ids are not pseudonyms cannot be re-keyed
 * and is dropped (the de-identifier never wrote one). */
static int
s_convert (hg_index_t *self, uint64_t *converted, hg_err_t *err)
{
    if (!s_any (self->store, "r\0", 2) && !s_any (self->store, "c\0", 2)
        && !s_any (self->store, "d\0", 2) && !s_any (self->store, "p\0", 2)) {
        return 0;
    }
    hg_store_batch_t *wb = hg_store_batch_new ();
    if (!wb) {
        return s_oom (err);
    }
    hg_store_iter_t *it = hg_store_iter_new (self->store, "r\0", 2, NULL, 0);
    const char *k, *v;
    size_t kl, vl;
    int rc = 0;
    size_t in_batch = 0;
    while (rc == 0 && hg_store_iter_next (it, &k, &kl, &v, &vl)) {
        Hourglass__Record *rec = hourglass__record__unpack (NULL, vl, (const uint8_t *) v);
        unsigned char pat[HG_INDEX_ID_BYTES], rid[HG_INDEX_ID_BYTES];
        if (rec && hg_index_id_parse (rec->patient_ref, pat)
            && hg_index_id_parse (rec->record_id, rid)) {
            rc = s_stage (self, wb, rec, NULL, 0, pat, rid, false, err);
            (*converted)++;
        }
        if (rec) {
            hourglass__record__free_unpacked (rec, NULL);
        }
        hg_store_batch_delete (wb, k, kl);
        if (rc == 0 && ++in_batch == S_CONVERT_BATCH) {
            rc = s_write (self, wb, err);
            in_batch = 0;
        }
    }
    hg_store_iter_destroy (&it);
    if (rc == 0) {
        rc = s_write (self, wb, err);
    }
    static const char *const old[] = {"c", "d", "p"};
    for (size_t i = 0; rc == 0 && i < sizeof (old) / sizeof (old[0]); i++) {
        char prefix[2] = {old[i][0], '\0'};
        rc = s_sweep (self, wb, prefix, 2, err);
    }
    hg_store_batch_destroy (&wb);
    return rc;
}

/* ---- the timeline of stores indexed before it existed ----------------------- */

#define S_TIMELINE_MARK "x\0timeline"

/* Stages the timeline and demographics keys of every record once (stores
 * written before they existed), then marks the store as having them. */
static int
s_backfill (hg_index_t *self, hg_err_t *err)
{
    if (hg_store_exists (self->store, S_TIMELINE_MARK, sizeof (S_TIMELINE_MARK) - 1)) {
        return 0;
    }
    hg_store_batch_t *wb = hg_store_batch_new ();
    if (!wb) {
        return s_oom (err);
    }
    hg_store_iter_t *it = hg_store_iter_new (self->store, "R", 1, NULL, 0);
    const char *k, *v;
    size_t kl, vl, in_batch = 0;
    int rc = 0;
    while (rc == 0 && hg_store_iter_next (it, &k, &kl, &v, &vl)) {
        Hourglass__Record *rec = kl == 1 + 2 * HG_INDEX_ID_BYTES
                                     ? hourglass__record__unpack (NULL, vl, (const uint8_t *) v)
                                     : NULL;
        if (rec) {
            char day[11];
            hg_index_day (rec->effective, day);
            rc = s_stage_timeline (self, wb, rec, day, (const unsigned char *) k + 1,
                                   (const unsigned char *) k + 1 + HG_INDEX_ID_BYTES, err);
            hourglass__record__free_unpacked (rec, NULL);
        }
        if (rc == 0 && ++in_batch == S_CONVERT_BATCH) {
            rc = s_write (self, wb, err);
            in_batch = 0;
        }
    }
    hg_store_iter_destroy (&it);
    if (rc == 0) {
        hg_store_batch_put (wb, S_TIMELINE_MARK, sizeof (S_TIMELINE_MARK) - 1, "", 0);
        rc = s_write (self, wb, err);
    }
    hg_store_batch_destroy (&wb);
    return rc;
}

/* ---- ordinals, bitmaps and columns of stores indexed before them ------------- */

/* One timeline entry's bitmaps and columns (E key k, value v). */
static int
s_backfill_event (hg_index_t *self, hg_store_batch_t *wb, const unsigned char *k,
                  const unsigned char *v, size_t vl, hg_err_t *err)
{
    const unsigned char *pat = k + 1;
    pat_entry_t *p = s_pat (self, wb, pat);
    if (!p) {
        return s_oom (err);
    }
    if (!p->has_demo && !p->had_demo) {
        unsigned char key[1 + HG_INDEX_ID_BYTES];
        key[0] = 'G';
        memcpy (key + 1, pat, HG_INDEX_ID_BYTES);
        char *g = NULL;
        size_t gl = 0;
        if (hg_store_get (self->store, key, sizeof (key), &g, &gl, NULL) == 0
            && gl >= HG_INDEX_DEMO_BYTES) {
            p->has_demo = true;
            memcpy (p->new_demo, g, HG_INDEX_TUPLE_BYTES);
        }
        free (g);
        p->had_demo = false;
    }
    if (vl < 3) {
        return 0;
    }
    size_t at = 0;
    int kind = v[at++];
    bool has_value = v[at++] & 1;
    double value = 0;
    if (has_value) {
        if (vl < at + 9) {
            return 0;
        }
        memcpy (&value, v + at, 8);
        at += 8;
    }
    size_t n = v[at++];
    const sys_entry_t *sys[256];
    const char *codes[256];
    size_t nb = 0;
    for (size_t i = 0; i < n && at < vl; i++) {
        uint32_t id = 0;
        size_t used = 0;
        while (used < S_VARINT_MAX && at + used < vl) {
            id |= (uint32_t) (v[at + used] & 0x7f) << (7 * used);
            if (!(v[at + used++] & 0x80)) {
                break;
            }
        }
        at += used;
        const unsigned char *end = at < vl ? memchr (v + at, 0, vl - at) : NULL;
        if (!end) {
            break;
        }
        const char *code = (const char *) v + at;
        at = (size_t) (end - v) + 1;
        const sys_entry_t *e = id < self->n_sys_by_id ? self->sys_by_id[id] : NULL;
        bool repeated = !e || !*code;
        for (size_t j = 0; j < nb && !repeated; j++) {
            repeated = sys[j] == e && strcmp (codes[j], code) == 0;
        }
        if (!repeated) {
            sys[nb] = e;
            codes[nb++] = code;
        }
    }
    uint32_t biased = s_get_be32 (k + 1 + HG_INDEX_ID_BYTES);
    return s_stage_bitmaps (self, wb, pat, kind, biased, has_value, value, NULL, sys, codes, nb)
                   < 0
               ? s_oom (err)
               : 0;
}

/* Gives every patient an ordinal and builds the bitmaps and columns from
 * the timeline keys (stores written before they existed), then marks the
 * store. An interrupted backfill starts again from nothing (its keys are
 * deleted first): column entries are appended, so none may be staged
 * twice. */
static int
s_bitmaps_open (hg_index_t *self, hg_err_t *err)
{
    char *v = NULL;
    size_t vl = 0;
    bool current =
        hg_store_get (self->store, S_BITMAP_MARK, sizeof (S_BITMAP_MARK) - 1, &v, &vl, NULL) == 0
        && vl == sizeof (S_BITMAP_VERSION) - 1 && memcmp (v, S_BITMAP_VERSION, vl) == 0;
    free (v);
    v = NULL;
    if (current) {
        if (hg_store_get (self->store, S_ORD_KEY, sizeof (S_ORD_KEY) - 1, &v, &vl, NULL) == 0
            && vl == 4) {
            self->ord_next = s_get_be32 ((const unsigned char *) v);
        }
        free (v);
        self->live = true;
        return 0;
    }
    hg_store_batch_t *wb = hg_store_batch_new ();
    if (!wb) {
        return s_oom (err);
    }
    int rc = 0;
    static const char *const kept[] = {"O", "N", "B", "b", "V", "W"};
    for (size_t i = 0; rc == 0 && i < sizeof (kept) / sizeof (kept[0]); i++) {
        rc = s_sweep (self, wb, kept[i], 1, err);
    }
    self->ord_next = 0;
    self->live = true;
    hg_store_iter_t *it = rc == 0 ? hg_store_iter_new (self->store, "E", 1, NULL, 0) : NULL;
    const char *k, *ev;
    size_t kl, evl, in_batch = 0;
    unsigned char last[HG_INDEX_ID_BYTES] = {0};
    while (rc == 0 && it && hg_store_iter_next (it, &k, &kl, &ev, &evl)) {
        if (kl != 1 + 2 * HG_INDEX_ID_BYTES + 4) {
            continue;
        }
        if (memcmp (last, k + 1, HG_INDEX_ID_BYTES) != 0) {
            memcpy (last, k + 1, HG_INDEX_ID_BYTES);
            if (++in_batch >= S_CONVERT_BATCH) { /* patients whole in one batch */
                rc = s_flush_bitmaps (self, wb) < 0 ? s_oom (err) : s_write (self, wb, err);
                in_batch = 0;
            }
        }
        rc = rc < 0 ? rc
                    : s_backfill_event (self, wb, (const unsigned char *) k,
                                        (const unsigned char *) ev, evl, err);
    }
    hg_store_iter_destroy (&it);
    if (rc == 0) {
        self->ord_dirty = true; /* also for a store without records */
        rc = s_flush_bitmaps (self, wb) < 0 ? s_oom (err) : 0;
    }
    if (rc == 0) {
        hg_store_batch_put (wb, S_BITMAP_MARK, sizeof (S_BITMAP_MARK) - 1, S_BITMAP_VERSION,
                            sizeof (S_BITMAP_VERSION) - 1);
        rc = s_write (self, wb, err);
        self->backfilled = true;
    }
    hg_store_batch_destroy (&wb);
    return rc;
}

/* ---- what the query evaluation reads (query_shard.c) ------------------------ */

hg_store_t *
hg_index_store (hg_index_t *self)
{
    return self->store;
}

uint32_t
hg_index_ordinals (const hg_index_t *self)
{
    return self->ord_next;
}

bool
hg_index_backfilled (const hg_index_t *self)
{
    return self->backfilled;
}

const char *
hg_index_sys_name (const hg_index_t *self, const unsigned char *enc, size_t avail, size_t *used)
{
    uint32_t id = 0;
    for (size_t i = 0; i < avail && i < S_VARINT_MAX; i++) {
        id |= (uint32_t) (enc[i] & 0x7f) << (7 * i);
        if (!(enc[i] & 0x80)) {
            *used = i + 1;
            return id < self->n_sys_by_id && self->sys_by_id[id] ? self->sys_by_id[id]->name
                                                                 : NULL;
        }
    }
    *used = avail;
    return NULL;
}

size_t
hg_index_code_prefix (hg_index_t *self, char lead, const char *system, const char *code,
                      bool whole, char out[HG_INDEX_KEY_MAX])
{
    size_t cl = strlen (code);
    const sys_entry_t *sys = s_sys_get (self, system, NULL);
    if (!sys || cl > HG_INDEX_CODE_MAX) {
        return 0;
    }
    size_t kl = s_code_key (out, lead, sys, code, cl);
    return whole ? kl : kl - 1;
}

/* ---- lifecycle ------------------------------------------------------------- */

hg_index_t *
hg_index_open (hg_store_t *store, uint64_t *converted, hg_err_t *err)
{
    uint64_t n_converted = 0;
    hg_index_t *self = calloc (1, sizeof (*self));
    if (self) {
        self->store = store;
        self->sys_next = 1;
        self->n_sys_buckets = 256;
        self->sys = calloc (self->n_sys_buckets, sizeof (*self->sys));
        self->n_buckets = 4096;
        self->buckets = calloc (self->n_buckets, sizeof (*self->buckets));
        self->round = hg_arena_new (0);
    }
    if (!self || !self->sys || !self->buckets || !self->round) {
        hg_err_set (err, HG_ENOMEM, "out of memory opening the index");
        hg_index_destroy (&self);
        return NULL;
    }
    if (s_sys_load (self, err) < 0 || s_convert (self, &n_converted, err) < 0
        || s_agg_load (self, err) < 0 || s_backfill (self, err) < 0
        || s_bitmaps_open (self, err) < 0) {
        hg_index_destroy (&self);
        return NULL;
    }
    if (converted) {
        *converted = n_converted;
    }
    return self;
}

void
hg_index_destroy (hg_index_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    hg_index_t *self = *self_p;
    for (size_t b = 0; self->sys && b < self->n_sys_buckets; b++) {
        for (sys_entry_t *e = self->sys[b], *next; e; e = next) {
            next = e->next;
            free (e);
        }
    }
    for (size_t b = 0; self->buckets && b < self->n_buckets; b++) {
        for (agg_entry_t *e = self->buckets[b], *next; e; e = next) {
            next = e->next;
            free (e);
        }
    }
    free (self->sys);
    free (self->sys_by_id);
    free (self->buckets);
    free (self->staged);
    if (self->mops) {
        s_bitmaps_forget (self);
    }
    free (self->mops);
    free (self->pats);
    hg_arena_destroy (&self->round);
    free (self);
    *self_p = NULL;
}
