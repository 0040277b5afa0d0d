/*
 * shard.c -- indexer shard of a patient; see shard.h.
 */
#include "shard.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

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

int
hg_shard_endpoints (const char *pattern, int shards, char *out, size_t size)
{
    static const char mark[] = "{shard}";
    const size_t mark_len = sizeof (mark) - 1;
    if (!strstr (pattern, mark)) {
        return snprintf (out, size, "%s", pattern) < (int) size ? 0 : -1;
    }
    if (shards < 1 || shards > 1024 || size == 0) {
        return -1;
    }
    size_t len = 0;
    for (int i = 0; i < shards; i++) {
        if (i) {
            if (len + 1 >= size) {
                return -1;
            }
            out[len++] = ',';
        }
        for (const char *p = pattern; *p;) {
            const char *m = strstr (p, mark);
            size_t lit = m ? (size_t) (m - p) : strlen (p);
            int n = snprintf (out + len, size - len, "%.*s", (int) lit, p);
            len += (size_t) n;
            if (len >= size) {
                return -1;
            }
            p += lit;
            if (m) {
                len += (size_t) snprintf (out + len, size - len, "%d", i);
                if (len >= size) {
                    return -1;
                }
                p += mark_len;
            }
        }
    }
    out[len] = '\0';
    return 0;
}
