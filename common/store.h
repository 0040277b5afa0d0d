/*
 * store.h -- each service's RocksDB state.
 *
 * A thin, owned wrapper: open with our tuned options, atomic write batches
 * (the unit of durability: results, de-dup markers, outbox entries and
 * counters of one group commit go in one batch), point reads, prefix scans.
 *
 * Key spaces shared by every service (one-letter prefixes, '/' separated):
 *   o/<seq:8 bytes BE>   outbox entry (packed Envelope) awaiting downstream ack
 *   s/<message id>       de-dup marker: this input was committed
 *   m/<counter name>     persisted counter (uint64 little-endian)
 * Services add their own (q/ quarantine, r/ records, c/ code index, ...).
 */
#ifndef HG_STORE_H
#define HG_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef struct hg_store hg_store_t;
typedef struct hg_store_batch hg_store_batch_t;
typedef struct hg_store_iter hg_store_iter_t;

typedef struct {
    bool sync;                 /* fsync the WAL on every write (durable ack) */
    const char *compression;   /* "lz4" (default), "snappy", "zstd", "none" */
    const char *compaction;    /* "level" (default: reads merge fewer sorted runs) or
                                  * "universal" (compactions rewrite data fewer times) */
    size_t block_cache_bytes;  /* 0: RocksDB default */
    size_t write_buffer_bytes; /* 0: RocksDB default */
} hg_store_opts_t;

/* Opens (creating when missing) the database in directory path.
 * NULL with err on failure (e.g. the directory is locked by another
 * instance); err HG_ENOSPC when its disk has no room for it to open.
 *
 * Disk full: a write that finds no space fails with HG_ENOSPC, and RocksDB
 * then refuses every write until the database is opened again
 * (hg_store_reopen). Opening needs little space: the WAL is replayed into
 * memory, not flushed to a new table file, and no file is preallocated. */
hg_store_t *hg_store_open (const char *path, const hg_store_opts_t *opts, hg_err_t *err);
void hg_store_close (hg_store_t **self_p);

/* Closes and opens the database again in place (self stays valid): how a
 * store comes back from a failed write once space is freed. No iterator may
 * be open. On failure the store is unusable (err says why) and the process
 * must stop. */
int hg_store_reopen (hg_store_t *self, hg_err_t *err);

/* Bytes free for this store on its filesystem (statvfs, for unprivileged
 * users); UINT64_MAX when unknown. */
uint64_t hg_store_free_bytes (hg_store_t *self);

/* Whether a RocksDB error message says the disk is full (pure). */
bool hg_store_is_nospace (const char *rocksdb_error);

/* Reads key; *val is malloc'd (caller frees). HG_ENOTFOUND when absent. */
int hg_store_get (hg_store_t *self, const void *key, size_t klen, char **val, size_t *vlen,
                  hg_err_t *err);
bool hg_store_exists (hg_store_t *self, const void *key, size_t klen);

/* Single-key write (synced per the store's option). */
int hg_store_put (hg_store_t *self, const void *key, size_t klen, const void *val, size_t vlen,
                  hg_err_t *err);

/* Write batches: collect puts/deletes, then apply atomically. The batch is
 * handed to RocksDB in key order (operations on one key keep their order),
 * which makes memtable inserts cheaper than in arrival order. */
hg_store_batch_t *hg_store_batch_new (void);
void hg_store_batch_destroy (hg_store_batch_t **self_p);
void hg_store_batch_put (hg_store_batch_t *b, const void *key, size_t klen, const void *val,
                         size_t vlen);
/* Adds a put of key whose value the caller writes, vlen bytes, at the
 * returned address before the next operation on b (saves a copy of values
 * packed anyway). NULL when out of memory (the batch then fails to write). */
void *hg_store_batch_put_space (hg_store_batch_t *b, const void *key, size_t klen, size_t vlen);
void hg_store_batch_delete (hg_store_batch_t *b, const void *key, size_t klen);
/* A merge operand for key (a set or an append, store_merge.h): RocksDB folds
 * it into the key's value, so no read is needed before the write. */
void hg_store_batch_merge (hg_store_batch_t *b, const void *key, size_t klen, const void *val,
                           size_t vlen);
void hg_store_batch_clear (hg_store_batch_t *b);
size_t hg_store_batch_count (hg_store_batch_t *b);
/* Applies the batch; sync overrides the store option when false (used for
 * writes whose loss is harmless, such as deleting acknowledged outbox
 * entries: they would be redelivered and de-duplicated). */
int hg_store_write (hg_store_t *self, hg_store_batch_t *b, bool sync, hg_err_t *err);

/* Iterates keys starting with prefix in order, from start (>= prefix;
 * NULL: from prefix). */
hg_store_iter_t *hg_store_iter_new (hg_store_t *self, const void *prefix, size_t plen,
                                    const void *start, size_t slen);
/* Advances; false at the end. Pointers valid until the next call. */
bool hg_store_iter_next (hg_store_iter_t *it, const char **key, size_t *klen, const char **val,
                         size_t *vlen);
/* Moves it to the first key >= key (still within its prefix): the next
 * hg_store_iter_next returns that key. */
void hg_store_iter_seek (hg_store_iter_t *it, const void *key, size_t klen);
void hg_store_iter_destroy (hg_store_iter_t **self_p);

/* Approximate bytes on disk (SST files + WAL). */
uint64_t hg_store_size_bytes (hg_store_t *self);

/* Flushes memtables to SST files (for tests that scan files and for backups). */
int hg_store_flush (hg_store_t *self, hg_err_t *err);

/* Big-endian encoding so byte order is numeric order in keys. */
void hg_be64_put (unsigned char out[8], uint64_t v);
uint64_t hg_be64_get (const unsigned char in[8]);

#endif
