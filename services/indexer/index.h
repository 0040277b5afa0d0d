/*
 * index.h -- the indexer's key layout and count query (pure over a store).
 *
 * One shard's RocksDB holds, for each de-identified record:
 *   r\0<patient>\0<record id>                      -> packed Record (by patient)
 *   c\0<system>|<code>\0<YYYY-MM-DD>\0<patient>\0<record id> -> ""  (by code + date)
 *   d\0<YYYY-MM-DD>\0<record id>                   -> patient   (by date)
 * Records are content-addressed (record id), so indexing the same record
 * twice is a no-op: the indexer is where exactly-once is finally enforced.
 */
#ifndef HG_INDEX_H
#define HG_INDEX_H

#include <stdbool.h>
#include <stdint.h>

#include "hourglass.pb-c.h"
#include "store.h"
#include "strset.h"

/* Stages the keys of rec into wb unless the record is already stored or
 * already staged in this round (staged: record ids staged since the last
 * commit; the caller clears it per commit). Returns 1 when staged as new,
 * 0 when a duplicate, <0 on error. */
int hg_index_put (hg_store_t *store, hg_store_batch_t *wb, hg_strset_t *staged,
                  const Hourglass__Record *rec, hg_err_t *err);

/* Counts records and distinct patients carrying system|code with a date in
 * [from, to] (inclusive "YYYY-MM-DD"; NULL or "" for unbounded). */
int hg_index_count (hg_store_t *store, const char *system, const char *code,
                    const char *from, const char *to, uint64_t *patients, uint64_t *records,
                    hg_err_t *err);

/* Exact per-code aggregates, so an unranged count is O(1) instead of a scan.
 * Persisted, in the same write batch as the records they count, as
 *   n\0<system>|<code>             -> records, patients (2 x uint64 LE)
 *   p\0<system>|<code>\0<patient>  -> ""  (this patient already counted)
 * Loaded into memory at start; the indexer is the only writer of its shard. */
typedef struct hg_index_agg hg_index_agg_t;

/* Loads every aggregate of the store. NULL when out of memory. */
hg_index_agg_t *hg_index_agg_load (hg_store_t *store);
void hg_index_agg_destroy (hg_index_agg_t **self_p);

/* Counts a record hg_index_put staged as new: +1 record for each of its
 * codes, +1 patient when the (code, patient) pair is new (checked against
 * the store and against staged, the round's staged keys). */
int hg_index_agg_add (hg_index_agg_t *self, hg_store_t *store, hg_store_batch_t *wb,
                      hg_strset_t *staged, const Hourglass__Record *rec, hg_err_t *err);

/* Stages the aggregates changed since the last flush into wb. */
void hg_index_agg_flush (hg_index_agg_t *self, hg_store_batch_t *wb);

/* The aggregate of system|code; zeros when never seen. */
void hg_index_agg_get (const hg_index_agg_t *self, const char *system, const char *code,
                       uint64_t *patients, uint64_t *records);

/* "YYYY-MM-DD" of an ISO effective time (first 10 chars, padded "-01" below
 * day precision), "" when there is none. out holds 11 bytes. */
void hg_index_day (const char *effective, char out[11]);

#endif
