/*
 * store.c -- RocksDB through its C API.
 */
#include "store.h"

#include <stdlib.h>
#include <string.h>

#include <rocksdb/c.h>

struct hg_store {
    rocksdb_t *db;
    rocksdb_options_t *options;
    rocksdb_writeoptions_t *wsync;     /* sync = store option */
    rocksdb_writeoptions_t *wnosync;
    rocksdb_readoptions_t *read;
    rocksdb_block_based_table_options_t *table;
    rocksdb_cache_t *cache;
    rocksdb_filterpolicy_t *bloom;     /* owned by table options */
};

struct hg_store_batch {
    rocksdb_writebatch_t *wb;
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

hg_store_t *
hg_store_open (const char *path, const hg_store_opts_t *opts, hg_err_t *err)
{
    int comp = s_compression (opts->compression);
    if (comp < 0) {
        hg_err_set (err, HG_EINVAL,
                    "store compression '%s' is unknown (lz4, snappy, zstd, none)",
                    opts->compression);
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
    self->table = rocksdb_block_based_options_create ();
    self->cache = rocksdb_cache_create_lru (opts->block_cache_bytes ? opts->block_cache_bytes
                                                                    : 32u << 20);
    rocksdb_block_based_options_set_block_cache (self->table, self->cache);
    self->bloom = rocksdb_filterpolicy_create_bloom_full (10);
    rocksdb_block_based_options_set_filter_policy (self->table, self->bloom);
    rocksdb_options_set_block_based_table_factory (self->options, self->table);

    char *rerr = NULL;
    self->db = rocksdb_open (self->options, path, &rerr);
    if (rerr) {
        hg_err_set (err, HG_EIO, "cannot open store %s: %s", path, rerr);
        rocksdb_free (rerr);
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
        rocksdb_block_based_options_destroy (self->table);   /* frees the bloom policy */
    }
    if (self->cache) {
        rocksdb_cache_destroy (self->cache);
    }
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
    char *rerr = NULL;
    rocksdb_put (self->db, self->wsync, key, klen, val, vlen, &rerr);
    if (rerr) {
        hg_err_set (err, HG_EIO, "store write failed: %s", rerr);
        rocksdb_free (rerr);
        return HG_EIO;
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
    rocksdb_writebatch_destroy ((*self_p)->wb);
    free (*self_p);
    *self_p = NULL;
}

void
hg_store_batch_put (hg_store_batch_t *b, const void *key, size_t klen, const void *val,
                    size_t vlen)
{
    rocksdb_writebatch_put (b->wb, key, klen, val, vlen);
}

void
hg_store_batch_delete (hg_store_batch_t *b, const void *key, size_t klen)
{
    rocksdb_writebatch_delete (b->wb, key, klen);
}

void
hg_store_batch_clear (hg_store_batch_t *b)
{
    rocksdb_writebatch_clear (b->wb);
}

size_t
hg_store_batch_count (hg_store_batch_t *b)
{
    return (size_t) rocksdb_writebatch_count (b->wb);
}

int
hg_store_write (hg_store_t *self, hg_store_batch_t *b, bool sync, hg_err_t *err)
{
    char *rerr = NULL;
    rocksdb_write (self->db, sync ? self->wsync : self->wnosync, b->wb, &rerr);
    if (rerr) {
        hg_err_set (err, HG_EIO, "store batch write failed: %s", rerr);
        rocksdb_free (rerr);
        return HG_EIO;
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
    rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create ();
    rocksdb_flushoptions_set_wait (fo, 1);
    char *rerr = NULL;
    rocksdb_flush (self->db, fo, &rerr);
    rocksdb_flushoptions_destroy (fo);
    if (rerr) {
        hg_err_set (err, HG_EIO, "store flush failed: %s", rerr);
        rocksdb_free (rerr);
        return HG_EIO;
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
