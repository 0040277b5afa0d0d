/*
 * record_batch.h -- reading a packed RecordBatch record by record without
 * unpacking it (the indexer stores each record's own bytes). Pure logic.
 */
#ifndef HG_RECORD_BATCH_H
#define HG_RECORD_BATCH_H

#include <stddef.h>
#include <stdint.h>

/* Walks a packed RecordBatch without unpacking it: sets *rec and *rec_len
 * to the next Record's own packed bytes (what hourglass__record__pack
 * writes, ready to store or unpack alone) and returns 1; 0 at the end; -1
 * when the batch is malformed (truncated, a bad varint, a group). Fields
 * other than `records` are skipped. Start with *off = 0. */
int hg_record_batch_next (const uint8_t *batch, size_t len, size_t *off, const uint8_t **rec,
                          size_t *rec_len);

#endif
