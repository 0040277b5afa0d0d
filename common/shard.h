/*
 * shard.h -- which indexer shard holds a patient. Pure logic.
 */
#ifndef HG_SHARD_H
#define HG_SHARD_H

#include <stddef.h>

/* Indexer shard of a pseudonymous patient id (hex): the first 8 hex digits
 * as a big-endian number, modulo shards. Stable, so a patient's records
 * always land on the same shard. */
int hg_shard_of (const char *pseudonym, int shards);

/* Expands an endpoint list naming every shard by pattern: each "{shard}" in
 * pattern stands for 0..shards-1, so "tcp://indexer-{shard}.indexer:5582"
 * with 2 shards is "tcp://indexer-0.indexer:5582,tcp://indexer-1.indexer:5582"
 * (a pattern without "{shard}" is copied as it is). Writes out (size bytes,
 * NUL-terminated); 0, or -1 when shards is not 1..1024 for a pattern that
 * needs it or the result does not fit. */
int hg_shard_endpoints (const char *pattern, int shards, char *out, size_t size);

#endif
