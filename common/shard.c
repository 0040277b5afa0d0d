/*
 * shard.c -- indexer shard of a patient; see shard.h.
 */
#include "shard.h"

#include <stdint.h>

int
hg_shard_of (const char *pseudonym, int shards)
{
    if (shards <= 1) {
        return 0;
    }
    uint32_t v = 0;
    for (int i = 0; i < 8 && pseudonym[i]; i++) {
        char c = pseudonym[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : 0;
        v = (v << 4) | (uint32_t) d;
    }
    return (int) (v % (uint32_t) shards);
}
