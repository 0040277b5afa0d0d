/*
 * shard.h -- which indexer shard holds a patient. Pure logic.
 */
#ifndef HG_SHARD_H
#define HG_SHARD_H

/* Indexer shard of a pseudonymous patient id (hex): the first 8 hex digits
 * as a big-endian number, modulo shards. Stable, so a patient's records
 * always land on the same shard. */
int hg_shard_of (const char *pseudonym, int shards);

#endif
