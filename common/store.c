/*
 * store.c -- RocksDB through its C API.
 */
#include "store.h"
#include "store_merge.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include <rocksdb/c.h>

struct hg_store {
    rocksdb_t *db;
    char *path;
    bool failed; /* a write found no space: none until reopened */
    rocksdb_options_t *options;
    rocksdb_writeoptions_t *wsync; /* sync = store option */
    rocksdb_writeoptions_t *wnosync;
    rocksdb_readoptions_t *read;
    rocksdb_block_based_table_options_t *table;
    rocksdb_cache_t *cache;
    rocksdb_filterpolicy_t *bloom;  /* owned by table options */
    rocksdb_mergeoperator_t *merge; /* owned by options */
};

/* A batch collects its operations in one buffer and hands them to RocksDB
 * sorted by key at write time: a memtable insert walks a skiplist, and keys
 * arriving in order walk nearly the same path one after the other (in cache)
 * instead of a random one each. The sort is stable, so two operations on one
 * key keep their order and the batch means what it meant unsorted. */
typedef struct {
    size_t key_at, klen; /* into buf */
    size_t val_at, vlen;
    char what; /* 'p' put, 'd' delete, 'm' merge */
} batch_op_t;

/* An operation as sorted: its key's first 16 bytes as two big-endian
 * numbers (0-padded past the key's end), which decide most comparisons
 * without touching the key, and its index. */
typedef struct {
    uint64_t h0, h1;
    size_t op;
} sort_ent_t;

/* Buffer capacity a cleared batch keeps for the next round. */
#define HG_STORE_BATCH_KEEP_BYTES (8u << 20)

struct hg_store_batch {
    rocksdb_writebatch_t *wb; /* built from ops at write time, reused */
    char *buf;                /* keys and values, back to back */
    size_t len, cap;
    batch_op_t *ops;
    size_t n_ops, cap_ops;
    sort_ent_t *order; /* sort scratch: 2 x n_ops */
    size_t cap_order;
    bool oom; /* an operation could not be recorded */
};

struct hg_store_iter {
    rocksdb_iterator_t *it;
    rocksdb_readoptions_t *ro;
    char *prefix;
    size_t plen;
    bool first;
};

static int
s_compression (const char *name)
{
    if (!name || !*name || strcmp (name, "lz4") == 0) {
        return rocksdb_lz4_compression;
    }
    if (strcmp (name, "snappy") == 0) {
        return rocksdb_snappy_compression;
    }
    if (strcmp (name, "zstd") == 0) {
        return rocksdb_zstd_compression;
    }
    if (strcmp (name, "none") == 0) {
        return rocksdb_no_compression;
    }
    return -1;
}

bool
hg_store_is_nospace (const char *e)
{
    return e && (strstr (e, "No space left on device") || strstr (e, "NoSpace"));
}

/* An error of RocksDB as ours: HG_ENOSPC when the disk is full. */
static int
s_rocks_err (hg_err_t *err, char *rerr, const char *what, const char *path)
{
    int code = hg_store_is_nospace (rerr) ? HG_ENOSPC : HG_EIO;
    if (code == HG_ENOSPC) {
        hg_err_set (err, code, "%s: the disk of store %s is full (%s)", what, path, rerr);
    }
    else {
        hg_err_set (err, code, "%s: %s", what, rerr);
    }
    rocksdb_free (rerr);
    return code;
}

/* Space RocksDB needs to open: its LOG header, OPTIONS, MANIFEST and a new
 * WAL. Below it, opening is not tried: a LOG line that fails for space
 * leaves the log writer in error, and the next line aborts the process in a
 * build with assertions (Debian's). */
#define HG_STORE_OPEN_MIN_FREE (1u << 20)

static int
s_open_db (hg_store_t *self, hg_err_t *err)
{
    uint64_t free_bytes = hg_store_free_bytes (self);
    if (free_bytes < HG_STORE_OPEN_MIN_FREE) {
        return hg_err_set (err, HG_ENOSPC,
                           "cannot open store %s: its disk is full (%llu bytes free, %u needed)",
                           self->path, (unsigned long long) free_bytes, HG_STORE_OPEN_MIN_FREE);
    }
    char *rerr = NULL;
    self->db = rocksdb_open (self->options, self->path, &rerr);
    if (rerr) {
        char what[PATH_MAX + 32];
        snprintf (what, sizeof (what), "cannot open store %s", self->path);
        self->db = NULL;
        return s_rocks_err (err, rerr, what, self->path);
    }
    return 0;
}

/* After a write found the disk full, no other reaches RocksDB before the
 * database is opened again: its log writer is in error and must not be
 * used (see hg_store_open). */
static int
s_refuse_write (hg_store_t *self, hg_err_t *err)
{
    return hg_err_set (err, HG_ENOSPC,
                       "store %s refuses writes since one found its disk full; it resumes "
                       "once space is freed",
                       self->path);
}

int
hg_store_reopen (hg_store_t *self, hg_err_t *err)
{
    if (self->db) {
        rocksdb_close (self->db);
        self->db = NULL;
    }
    int rc = s_open_db (self, err);
    self->failed = rc < 0;
    return rc;
}

uint64_t
hg_store_free_bytes (hg_store_t *self)
{
    struct statvfs st;
    if (statvfs (self->path, &st) != 0) {
        return UINT64_MAX;
    }
    return (uint64_t) st.f_bavail * (uint64_t) st.f_frsize;
}

/* ---- the merge operator (store_merge.h) ---------------------------------- */

static char *
s_merge_full (void *state, const char *key, size_t klen, const char *existing,
              size_t existing_len, const char *const *ops, const size_t *op_lens, int n,
              unsigned char *success, size_t *len)
{
    (void) state;
    (void) key;
    (void) klen;
    char *out = hg_store_merge_full (existing, existing_len, ops, op_lens, n, len);
    *success = out != NULL;
    return out;
}

static char *
s_merge_partial (void *state, const char *key, size_t klen, const char *const *ops,
                 const size_t *op_lens, int n, unsigned char *success, size_t *len)
{
    (void) state;
    (void) key;
    (void) klen;
    char *out = hg_store_merge_partial (ops, op_lens, n, len);
    *success = out != NULL;
    return out;
}

static void
s_merge_free (void *state, const char *value, size_t len)
{
    (void) state;
    (void) len;
    free ((char *) value);
}

static void
s_merge_state_free (void *state)
{
    (void) state; /* no state: RocksDB calls this when the operator goes */
}

static const char *
s_merge_name (void *state)
{
    (void) state;
    return "hourglass.set_append.v1";
}

hg_store_t *
hg_store_open (const char *path, const hg_store_opts_t *opts, hg_err_t *err)
{
    int comp = s_compression (opts->compression);
    if (comp < 0) {
        hg_err_set (err, HG_EINVAL, "store compression '%s' is unknown (lz4, snappy, zstd, none)",
                    opts->compression);
        return NULL;
    }
    bool universal = opts->compaction && strcmp (opts->compaction, "universal") == 0;
    if (!universal && opts->compaction && *opts->compaction
        && strcmp (opts->compaction, "level") != 0) {
        hg_err_set (err, HG_EINVAL, "store compaction '%s' is unknown (level, universal)",
                    opts->compaction);
        return NULL;
    }
    hg_store_t *self = calloc (1, sizeof (*self));
    if (!self) {
        hg_err_set (err, HG_ENOMEM, "out of memory");
        return NULL;
    }
    self->options = rocksdb_options_create ();
    rocksdb_options_set_create_if_missing (self->options, 1);
    rocksdb_options_increase_parallelism (self->options, 2);
    rocksdb_options_set_compression (self->options, comp);
    rocksdb_options_set_max_open_files (self->options, 256);
    if (opts->write_buffer_bytes) {
        rocksdb_options_set_write_buffer_size (self->options, opts->write_buffer_bytes);
    }
    if (universal) {
        rocksdb_options_set_compaction_style (self->options, rocksdb_universal_compaction);
    }
    self->table = rocksdb_block_based_options_create ();
    self->cache = rocksdb_cache_create_lru (opts->block_cache_bytes ? opts->block_cache_bytes
                                                                    : 32u << 20);
    rocksdb_block_based_options_set_block_cache (self->table, self->cache);
    self->bloom = rocksdb_filterpolicy_create_bloom_full (10);
    rocksdb_block_based_options_set_filter_policy (self->table, self->bloom);
    rocksdb_options_set_block_based_table_factory (self->options, self->table);
    /* a whole-key bloom filter in each memtable: most point reads (de-dup
     * markers, "already indexed?") are for absent keys, which then skip the
     * memtable's skiplist search */
    rocksdb_options_set_memtable_prefix_bloom_size_ratio (self->options, 0.05);
    rocksdb_options_set_memtable_whole_key_filtering (self->options, 1);
    /* RocksDB's own LOG file lives on the store's disk too: a log line
     * that fails for space leaves its writer in error, and the next line
     * (RocksDB's space-recovery thread writes one) aborts the process in a
     * build with assertions, as Debian's is. Only the header written at
     * open goes to LOG, and it stays small; our own log says what
     * happened. */
    rocksdb_options_set_info_log_level (self->options, 5 /* HEADER_LEVEL */);
    rocksdb_options_set_max_log_file_size (self->options, 1u << 20);
    rocksdb_options_set_keep_log_file_num (self->options, 2);
    /* every store can hold merged values (sets and appends, store_merge.h) */
    rocksdb_options_set_merge_operator (self->options,
                                        rocksdb_mergeoperator_create (NULL, s_merge_state_free,
                                                                      s_merge_full,
                                                                      s_merge_partial,
                                                                      s_merge_free,
                                                                      s_merge_name));
    /* RocksDB counts per-operation statistics in thread-local storage by
     * default; nothing reads them, and on every put and get they cost */
    rocksdb_set_perf_level (1 /* kDisable */);

    /* Room to open on a nearly full disk: the WAL is replayed into the
     * memtables instead of being flushed to a table file first, and no
     * file space is reserved ahead. After a write that found no space the
     * database is opened again by us (hg_store_reopen) rather than resumed
     * by RocksDB's own retries, which write to the failed log again (and
     * abort in a build with assertions). The C API has no setters for
     * these. */
    char *rerr = NULL;
    rocksdb_options_t *tuned = rocksdb_options_create ();
    rocksdb_get_options_from_string (self->options,
                                     "avoid_flush_during_recovery=true;allow_fallocate=false;"
                                     "max_bgerror_resume_count=0",
                                     tuned, &rerr);
    if (rerr) {
        hg_err_set (err, HG_EIO, "store options refused: %s", rerr);
        rocksdb_free (rerr);
        rocksdb_options_destroy (tuned);
        hg_store_close (&self);
        return NULL;
    }
    rocksdb_options_destroy (self->options);
    self->options = tuned;
    self->path = strdup (path);
    if (!self->path) {
        hg_err_set (err, HG_ENOMEM, "out of memory");
        hg_store_close (&self);
        return NULL;
    }
    if (s_open_db (self, err) < 0) {
        hg_store_close (&self);
        return NULL;
    }
    self->wsync = rocksdb_writeoptions_create ();
    rocksdb_writeoptions_set_sync (self->wsync, opts->sync ? 1 : 0);
    self->wnosync = rocksdb_writeoptions_create ();
    self->read = rocksdb_readoptions_create ();
    return self;
}

void
hg_store_close (hg_store_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    hg_store_t *self = *self_p;
    if (self->db) {
        rocksdb_close (self->db);
    }
    if (self->wsync) {
        rocksdb_writeoptions_destroy (self->wsync);
    }
    if (self->wnosync) {
        rocksdb_writeoptions_destroy (self->wnosync);
    }
    if (self->read) {
        rocksdb_readoptions_destroy (self->read);
    }
    if (self->options) {
        rocksdb_options_destroy (self->options);
    }
    if (self->table) {
        rocksdb_block_based_options_destroy (self->table); /* frees the bloom policy */
    }
    if (self->cache) {
        rocksdb_cache_destroy (self->cache);
    }
    free (self->path);
    free (self);
    *self_p = NULL;
}

int
hg_store_get (hg_store_t *self, const void *key, size_t klen, char **val, size_t *vlen,
              hg_err_t *err)
{
    char *rerr = NULL;
    size_t n = 0;
    char *v = rocksdb_get (self->db, self->read, key, klen, &n, &rerr);
    if (rerr) {
        hg_err_set (err, HG_EIO, "store read failed: %s", rerr);
        rocksdb_free (rerr);
        return HG_EIO;
    }
    if (!v) {
        return HG_ENOTFOUND;
    }
    *val = v;
    *vlen = n;
    return 0;
}

bool
hg_store_exists (hg_store_t *self, const void *key, size_t klen)
{
    char *v = NULL;
    size_t n;
    if (hg_store_get (self, key, klen, &v, &n, NULL) == 0) {
        free (v);
        return true;
    }
    return false;
}

int
hg_store_put (hg_store_t *self, const void *key, size_t klen, const void *val, size_t vlen,
              hg_err_t *err)
{
    if (self->failed) {
        return s_refuse_write (self, err);
    }
    char *rerr = NULL;
    rocksdb_put (self->db, self->wsync, key, klen, val, vlen, &rerr);
    if (rerr) {
        int rc = s_rocks_err (err, rerr, "store write failed", self->path);
        self->failed = rc == HG_ENOSPC;
        return rc;
    }
    return 0;
}

hg_store_batch_t *
hg_store_batch_new (void)
{
    hg_store_batch_t *b = calloc (1, sizeof (*b));
    if (b) {
        b->wb = rocksdb_writebatch_create ();
    }
    return b;
}

void
hg_store_batch_destroy (hg_store_batch_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    hg_store_batch_t *b = *self_p;
    rocksdb_writebatch_destroy (b->wb);
    free (b->buf);
    free (b->ops);
    free (b->order);
    free (b);
    *self_p = NULL;
}

/* Grows *p (elements of size each) to hold at least need; false when out of
 * memory. */
static bool
s_grow (void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap) {
        return true;
    }
    size_t n = *cap ? *cap : 64;
    while (n < need) {
        n *= 2;
    }
    void *q = realloc (*p, n * size);
    if (!q) {
        return false;
    }
    *p = q;
    *cap = n;
    return true;
}

/* Records an operation; returns where its vlen value bytes go, NULL when
 * out of memory. */
static char *
s_batch_add (hg_store_batch_t *b, const void *key, size_t klen, size_t vlen, char what)
{
    /* + 1: the value's address is valid even for an empty key and value */
    if (b->len + klen + vlen + 1 <= b->len
        || !s_grow ((void **) &b->buf, &b->cap, b->len + klen + vlen + 1, 1)
        || !s_grow ((void **) &b->ops, &b->cap_ops, b->n_ops + 1, sizeof (*b->ops))) {
        b->oom = true;
        return NULL;
    }
    batch_op_t *op = &b->ops[b->n_ops++];
    op->key_at = b->len;
    op->klen = klen;
    if (klen) {
        memcpy (b->buf + b->len, key, klen);
    }
    b->len += klen;
    op->val_at = b->len;
    op->vlen = vlen;
    b->len += vlen;
    op->what = what;
    return b->buf + op->val_at;
}

void
hg_store_batch_put (hg_store_batch_t *b, const void *key, size_t klen, const void *val,
                    size_t vlen)
{
    char *v = s_batch_add (b, key, klen, vlen, 'p');
    if (v && vlen) {
        memcpy (v, val, vlen);
    }
}

void
hg_store_batch_merge (hg_store_batch_t *b, const void *key, size_t klen, const void *val,
                      size_t vlen)
{
    char *v = s_batch_add (b, key, klen, vlen, 'm');
    if (v && vlen) {
        memcpy (v, val, vlen);
    }
}

void *
hg_store_batch_put_space (hg_store_batch_t *b, const void *key, size_t klen, size_t vlen)
{
    return s_batch_add (b, key, klen, vlen, 'p');
}

void
hg_store_batch_delete (hg_store_batch_t *b, const void *key, size_t klen)
{
    s_batch_add (b, key, klen, 0, 'd');
}

void
hg_store_batch_clear (hg_store_batch_t *b)
{
    if (b->cap > HG_STORE_BATCH_KEEP_BYTES) {
        /* a round of big payloads: do not hold its buffer for good */
        free (b->buf);
        b->buf = NULL;
        b->cap = 0;
    }
    b->len = 0;
    b->n_ops = 0;
    b->oom = false;
}

size_t
hg_store_batch_count (hg_store_batch_t *b)
{
    return b->n_ops;
}

/* The big-endian number of key bytes [at, at + 8), 0-padded. */
static uint64_t
s_head (const unsigned char *key, size_t klen, size_t at)
{
    uint64_t h = 0;
    if (klen >= at + 8) {
        for (size_t i = 0; i < 8; i++) {
            h = h << 8 | key[at + i];
        }
        return h;
    }
    for (size_t i = at; i < at + 8; i++) {
        h = h << 8 | (i < klen ? key[i] : 0);
    }
    return h;
}

/* Key order, then insertion order: a stable order. The heads decide most
 * comparisons; bytes past a key's end count as zeros there, which keeps the
 * order of a key and its extensions (a shorter key that is a prefix of a
 * longer one has equal or smaller heads, and the lengths then decide). */
static int
s_ent_cmp (const hg_store_batch_t *b, const sort_ent_t *x, const sort_ent_t *y)
{
    if (x->h0 != y->h0) {
        return x->h0 < y->h0 ? -1 : 1;
    }
    if (x->h1 != y->h1) {
        return x->h1 < y->h1 ? -1 : 1;
    }
    const batch_op_t *p = &b->ops[x->op], *q = &b->ops[y->op];
    size_t n = p->klen < q->klen ? p->klen : q->klen;
    int c = n > 16 ? memcmp (b->buf + p->key_at + 16, b->buf + q->key_at + 16, n - 16) : 0;
    if (c == 0) {
        c = p->klen < q->klen ? -1 : p->klen > q->klen;
    }
    return c ? c : (x->op < y->op ? -1 : x->op > y->op);
}

/* Bottom-up merge sort of a[0..n) (tmp: n more entries); the result ends
 * in b->order. */
static void
s_sort_ops (const hg_store_batch_t *b, sort_ent_t *a, sort_ent_t *tmp, size_t n)
{
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n;
            size_t hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) {
                tmp[k++] = s_ent_cmp (b, &a[i], &a[j]) <= 0 ? a[i++] : a[j++];
            }
            while (i < mid) {
                tmp[k++] = a[i++];
            }
            while (j < hi) {
                tmp[k++] = a[j++];
            }
        }
        sort_ent_t *t = a;
        a = tmp;
        tmp = t;
    }
    if (a != b->order) {
        memcpy (b->order, a, n * sizeof (*a));
    }
}

/* Builds the RocksDB batch from the recorded operations, in key order. */
static int
s_batch_build (hg_store_batch_t *b, hg_err_t *err)
{
    if (b->oom
        || !s_grow ((void **) &b->order, &b->cap_order, 2 * b->n_ops, sizeof (*b->order))) {
        return hg_err_set (err, HG_ENOMEM,
                           "out of memory building a write batch of %zu "
                           "operations",
                           b->n_ops);
    }
    bool sorted = true;
    for (size_t i = 0; i < b->n_ops; i++) {
        const batch_op_t *op = &b->ops[i];
        const unsigned char *key = (const unsigned char *) b->buf + op->key_at;
        sort_ent_t *e = &b->order[i];
        e->h0 = s_head (key, op->klen, 0);
        e->h1 = s_head (key, op->klen, 8);
        e->op = i;
        sorted = sorted && (i == 0 || s_ent_cmp (b, e - 1, e) < 0);
    }
    if (!sorted) {
        s_sort_ops (b, b->order, b->order + b->n_ops, b->n_ops);
    }
    rocksdb_writebatch_clear (b->wb);
    for (size_t i = 0; i < b->n_ops; i++) {
        const batch_op_t *op = &b->ops[b->order[i].op];
        if (op->what == 'd') {
            rocksdb_writebatch_delete (b->wb, b->buf + op->key_at, op->klen);
        }
        else if (op->what == 'm') {
            rocksdb_writebatch_merge (b->wb, b->buf + op->key_at, op->klen, b->buf + op->val_at,
                                      op->vlen);
        }
        else {
            rocksdb_writebatch_put (b->wb, b->buf + op->key_at, op->klen, b->buf + op->val_at,
                                    op->vlen);
        }
    }
    return 0;
}

int
hg_store_write (hg_store_t *self, hg_store_batch_t *b, bool sync, hg_err_t *err)
{
    if (s_batch_build (b, err) < 0) {
        return HG_ENOMEM;
    }
    if (self->failed) {
        return s_refuse_write (self, err);
    }
    char *rerr = NULL;
    rocksdb_write (self->db, sync ? self->wsync : self->wnosync, b->wb, &rerr);
    if (rerr) {
        int rc = s_rocks_err (err, rerr, "store batch write failed", self->path);
        self->failed = rc == HG_ENOSPC;
        return rc;
    }
    return 0;
}

hg_store_iter_t *
hg_store_iter_new (hg_store_t *self, const void *prefix, size_t plen, const void *start,
                   size_t slen)
{
    hg_store_iter_t *it = calloc (1, sizeof (*it));
    if (!it) {
        return NULL;
    }
    it->ro = rocksdb_readoptions_create ();
    it->it = rocksdb_create_iterator (self->db, it->ro);
    it->prefix = malloc (plen ? plen : 1);
    memcpy (it->prefix, prefix, plen);
    it->plen = plen;
    it->first = true;
    if (start) {
        rocksdb_iter_seek (it->it, start, slen);
    }
    else {
        rocksdb_iter_seek (it->it, prefix, plen);
    }
    return it;
}

bool
hg_store_iter_next (hg_store_iter_t *it, const char **key, size_t *klen, const char **val,
                    size_t *vlen)
{
    if (!it->first) {
        rocksdb_iter_next (it->it);
    }
    it->first = false;
    if (!rocksdb_iter_valid (it->it)) {
        return false;
    }
    size_t kl;
    const char *k = rocksdb_iter_key (it->it, &kl);
    if (kl < it->plen || memcmp (k, it->prefix, it->plen) != 0) {
        return false;
    }
    *key = k;
    *klen = kl;
    if (val) {
        *val = rocksdb_iter_value (it->it, vlen);
    }
    return true;
}

void
hg_store_iter_seek (hg_store_iter_t *it, const void *key, size_t klen)
{
    rocksdb_iter_seek (it->it, key, klen);
    it->first = true;
}

void
hg_store_iter_destroy (hg_store_iter_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    hg_store_iter_t *it = *self_p;
    rocksdb_iter_destroy (it->it);
    rocksdb_readoptions_destroy (it->ro);
    free (it->prefix);
    free (it);
    *self_p = NULL;
}

uint64_t
hg_store_size_bytes (hg_store_t *self)
{
    uint64_t sst = 0, wal = 0;
    char *v = rocksdb_property_value (self->db, "rocksdb.total-sst-files-size");
    if (v) {
        sst = strtoull (v, NULL, 10);
        rocksdb_free (v);
    }
    v = rocksdb_property_value (self->db, "rocksdb.cur-size-all-mem-tables");
    if (v) {
        wal = strtoull (v, NULL, 10);
        rocksdb_free (v);
    }
    return sst + wal;
}

int
hg_store_flush (hg_store_t *self, hg_err_t *err)
{
    if (self->failed) {
        return s_refuse_write (self, err);
    }
    rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create ();
    rocksdb_flushoptions_set_wait (fo, 1);
    char *rerr = NULL;
    rocksdb_flush (self->db, fo, &rerr);
    rocksdb_flushoptions_destroy (fo);
    if (rerr) {
        int rc = s_rocks_err (err, rerr, "store flush failed", self->path);
        self->failed = rc == HG_ENOSPC;
        return rc;
    }
    return 0;
}

void
hg_be64_put (unsigned char out[8], uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (unsigned char) (v & 0xff);
        v >>= 8;
    }
}

uint64_t
hg_be64_get (const unsigned char in[8])
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = (v << 8) | in[i];
    }
    return v;
}
