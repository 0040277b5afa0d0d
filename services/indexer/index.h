/*
 * index.h -- the indexer's key layout, aggregates and count query (pure over
 * a store).
 *
 * One shard's RocksDB holds, for each de-identified record (P: the patient
 * pseudonym and I: the record id, each 16 bytes -- the binary form of the
 * de-identifier's 32 hex digits; S: the record's code system as a dictionary
 * number, LEB128; day: "YYYY-MM-DD" or "" when undated):
 *   R P I                              -> packed Record   (by patient)
 *   C S <code> 0x00 <day> 0x00 P I     -> ""              (by code + date)
 *   D <day> 0x00 I                     -> P               (by date)
 *   P S <code> 0x00 P                  -> ""  (this patient counted for the code)
 *   E P <day> I                        -> kind, flags, [value], codes  (the timeline)
 *   G P                                -> sex, birth year, state, postal prefix
 * (day in E: 4 bytes big endian, days since 1970-01-01 + HG_INDEX_DAY_BIAS,
 * 0 when undated, so a patient's timeline is in date order; the E value:
 * RecordKind byte, flags byte (1: a quantity follows as 8 bytes, host
 * double), the number of codes, then each code as S <code> 0x00. The G
 * value: HG_INDEX_DEMO_BYTES: sex's first letter (f, m, o, u; 0 unknown),
 * birth year uint16 LE (0: over 89), state and postal prefix, 3 bytes each,
 * NUL-padded.) A patient's timeline is what the query evaluation reads
 * (query_shard.c): its first occurrence of a code, its values by code and
 * its dates relative to each other, one short seek per patient.
 * Patient ordinals, bitmaps and columns (query_bitmap.c's sets), kept in
 * the same batch as the record:
 *   O P                                -> ordinal (uint32 BE), given at first sight
 *   N ordinal(BE4)                     -> P
 *   B S <code> 0x00 kind hi(BE2)       -> set: the ordinals (low 16 bits) of the
 *                                         patients with a record of that kind and code
 *   b 's' sex | 'y' year(BE2) | 't' state(3)  hi(BE2) -> set: the patients with that
 *                                         demographic value (their G key's)
 *   V S <code> 0x00 chunk(BE4)         -> append: one HG_INDEX_COL_ENTRY entry per record
 *                                         carrying the code, of the patients with
 *                                         ordinal / HG_INDEX_COL_CHUNK == chunk: ordinal %
 *                                         HG_INDEX_COL_CHUNK (uint16 LE), kind, flags (1 value,
 *                                         2 dated), day (int32 LE, days since 1970-01-01),
 *                                         value (double)
 *   W chunk(BE4)                       -> append: every record's entry (its first
 *                                         HG_INDEX_REC_ENTRY bytes: no value), by chunk
 * (sets and appends are RocksDB merge operands, common/store_merge.h: a write
 * needs no read. x 0x00 ordinals holds the next ordinal; x 0x00 bitmaps marks
 * a store that has them, its value the layout's version: an older store is
 * backfilled from its E and G keys at open.)
 * and for the store as a whole:
 *   Y S                                -> code system URI (the dictionary)
 *   n 0x00 <system>|<code>             -> records, patients (2 x uint64 LE)
 *   x 0x00 timeline                    -> ""  (E and G keys written for every record)
 * Records are content-addressed (record id), so indexing the same record
 * twice is a no-op: the indexer is where exactly-once is finally enforced.
 * Short binary keys keep the memtable small and its comparisons cheap (a
 * code key was ~100 bytes of text, it is ~50).
 *
 * Stores written by earlier versions (text keys "r\0<patient>\0<record id>",
 * "c\0<system>|<code>\0<day>\0<patient>\0<record id>", "d\0<day>\0<record id>",
 * "p\0<system>|<code>\0<patient>") are converted in place by hg_index_open.
 */
#ifndef HG_INDEX_H
#define HG_INDEX_H

#include <stdbool.h>
#include <stdint.h>

#include "hourglass.pb-c.h"
#include "store.h"

#define HG_INDEX_ID_BYTES 16   /* binary patient and record ids */
#define HG_INDEX_CODE_MAX 1024 /* longer codes are stored but not indexed */
#define HG_INDEX_DAY_BIAS 0x40000000
#define HG_INDEX_DEMO_BYTES 9
#define HG_INDEX_TUPLE_BYTES 6  /* sex, birth year, state: what the bitmaps keep */
#define HG_INDEX_COL_CHUNK 4096 /* patient ordinals per code-column key */
#define HG_INDEX_COL_ENTRY 16   /* bytes of a code-column entry */
#define HG_INDEX_REC_ENTRY 8    /* bytes of a record-column entry */
#define HG_INDEX_EVENT_MAX 2048 /* bytes of a timeline value (codes that fit) */
#define HG_INDEX_KEY_MAX (1 + 5 + HG_INDEX_CODE_MAX + 1 + 10 + 1 + 2 * HG_INDEX_ID_BYTES)

typedef struct hg_index hg_index_t;

/* Opens the index of store: converts an index in the earlier text layout
 * (committing as it goes, so an interrupted conversion resumes), then loads
 * the code-system dictionary and the per-code aggregates. *converted (may be
 * NULL) is the number of records converted. NULL with err on failure. The
 * index is the only writer of its keys; it does not own store. */
hg_index_t *hg_index_open (hg_store_t *store, uint64_t *converted, hg_err_t *err);
void hg_index_destroy (hg_index_t **self_p);

/* Starts a round (one group commit): forgets what was staged before. */
void hg_index_begin (hg_index_t *self);

/* Stages the keys of rec, and its counts in the aggregates, into wb unless
 * the record is already stored or already staged in this round. Returns 1
 * when staged as new, 0 when a duplicate, <0 with err when the record is not
 * de-identified ("patient_ref is not a pseudonym ...") or out of memory. */
int hg_index_put (hg_index_t *self, hg_store_batch_t *wb, const Hourglass__Record *rec,
                  hg_err_t *err);

/* The same for a record received packed: stores packed (packed_len bytes,
 * the wire form rec was unpacked from) as it is instead of packing rec
 * again. */
int hg_index_put_packed (hg_index_t *self, hg_store_batch_t *wb, const Hourglass__Record *rec,
                         const uint8_t *packed, size_t packed_len, hg_err_t *err);

/* Stages the aggregates changed since the last flush into wb; once per
 * round, before the commit. A failed commit must end the process: memory
 * (aggregates, dictionary) is then ahead of the store. */
int hg_index_flush (hg_index_t *self, hg_store_batch_t *wb, hg_err_t *err);

/* Counts records and distinct patients carrying system|code with a date in
 * [from, to] (inclusive "YYYY-MM-DD"; NULL or "" for unbounded). Unranged:
 * from the aggregates, O(1). Ranged: a scan of the code's keys in range. */
int hg_index_count (hg_index_t *self, const char *system, const char *code, const char *from,
                    const char *to, uint64_t *patients, uint64_t *records, hg_err_t *err);

/* The same count, always by scanning the code keys (checks the aggregates). */
int hg_index_count_scan (hg_index_t *self, const char *system, const char *code, const char *from,
                         const char *to, uint64_t *patients, uint64_t *records, hg_err_t *err);

/* A cohort: the distinct patients who carry every one of n codes
 * (systems[i]|codes[i]), each at least once, dated in [from, to] when a
 * bound is given (as hg_index_count). Unranged: a leapfrog join of the
 * codes' patient keys (in patient order; steps, or a seek past a gap).
 * Ranged: each code's code + date keys in range, fewest patients first,
 * keeping only the patients found so far. At most HG_INDEX_COHORT_MAX
 * codes. */
#define HG_INDEX_COHORT_MAX 16
int hg_index_cohort (hg_index_t *self, const char *const *systems, const char *const *codes,
                     size_t n, const char *from, const char *to, uint64_t *patients,
                     hg_err_t *err);

/* For the query evaluation (query_shard.c): the store; the code system of
 * a dictionary number at enc (LEB128, *used its bytes; NULL when unknown);
 * the key prefix lead S <code> (with its 0x00 when whole, else a prefix of
 * codes), 0 when the system was never seen. */
hg_store_t *hg_index_store (hg_index_t *self);
/* The number of patient ordinals given out: ordinals are 0..n-1. */
uint32_t hg_index_ordinals (const hg_index_t *self);
/* Whether hg_index_open built the ordinals, bitmaps and columns (a store
 * written before them). */
bool hg_index_backfilled (const hg_index_t *self);
const char *hg_index_sys_name (const hg_index_t *self, const unsigned char *enc, size_t avail,
                               size_t *used);
size_t hg_index_code_prefix (hg_index_t *self, char lead, const char *system, const char *code,
                             bool whole, char out[HG_INDEX_KEY_MAX]);

/* "YYYY-MM-DD" of an ISO effective time (first 10 chars, padded "-01" below
 * day precision), "" when there is none. out holds 11 bytes. */
void hg_index_day (const char *effective, char out[11]);

/* The 16 bytes of a 32-lowercase-hex-digit pseudonym; false when s is not
 * one. */
bool hg_index_id_parse (const char *s, unsigned char out[HG_INDEX_ID_BYTES]);

#endif
