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

/* "YYYY-MM-DD" of an ISO effective time (first 10 chars, padded "-01" below
 * day precision), "" when there is none. out holds 11 bytes. */
void hg_index_day (const char *effective, char out[11]);

#endif
