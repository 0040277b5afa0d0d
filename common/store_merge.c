/*
 * store_merge.c -- set and append values merged by RocksDB (see
 * store_merge.h).
 */
#include "store_merge.h"

#include <stdlib.h>
#include <string.h>

bool
hg_set_apply (uint64_t bits[1024], const unsigned char *c, size_t cl, bool remove)
{
    if (cl == HG_SET_BITSET_BYTES) {
        for (size_t w = 0; w < 1024; w++) {
            uint64_t v;
            memcpy (&v, c + 8 * w, 8); /* little-endian hosts only (as the rest) */
            bits[w] = remove ? bits[w] & ~v : bits[w] | v;
        }
        return true;
    }
    if (cl % 2) {
        return false;
    }
    for (size_t i = 0; i < cl; i += 2) {
        unsigned x = c[i] | (unsigned) c[i + 1] << 8;
        uint64_t m = 1ULL << (x & 63);
        bits[x >> 6] = remove ? bits[x >> 6] & ~m : bits[x >> 6] | m;
    }
    return true;
}

size_t
hg_set_encode (const uint64_t bits[1024], unsigned char *out)
{
    size_t n = 0;
    for (size_t w = 0; w < 1024; w++) {
        n += (size_t) __builtin_popcountll (bits[w]);
    }
    if (n > HG_SET_ARRAY_MAX) {
        memcpy (out, bits, HG_SET_BITSET_BYTES);
        return HG_SET_BITSET_BYTES;
    }
    size_t at = 0;
    for (size_t w = 0; w < 1024; w++) {
        for (uint64_t v = bits[w]; v; v &= v - 1) {
            unsigned x = (unsigned) (w * 64 + (size_t) __builtin_ctzll (v));
            out[at++] = (unsigned char) x;
            out[at++] = (unsigned char) (x >> 8);
        }
    }
    return at;
}

bool
hg_set_each (const unsigned char *c, size_t cl, bool (*fn) (void *arg, uint32_t low), void *arg)
{
    if (cl == HG_SET_BITSET_BYTES) {
        for (size_t w = 0; w < 1024; w++) {
            uint64_t v;
            memcpy (&v, c + 8 * w, 8);
            for (; v; v &= v - 1) {
                if (!fn (arg, (uint32_t) (w * 64 + (size_t) __builtin_ctzll (v)))) {
                    return true;
                }
            }
        }
        return true;
    }
    if (cl % 2) {
        return false;
    }
    for (size_t i = 0; i < cl; i += 2) {
        if (!fn (arg, c[i] | (uint32_t) c[i + 1] << 8)) {
            break;
        }
    }
    return true;
}

static char *
s_append (const char *existing, size_t existing_len, const char *const *ops,
          const size_t *op_lens, int n, size_t *len)
{
    size_t total = existing ? existing_len : 1;
    for (int i = 0; i < n; i++) {
        if (op_lens[i] < 1 || ops[i][0] != 'A') {
            return NULL;
        }
        total += op_lens[i] - 1;
    }
    char *out = malloc (total);
    if (!out) {
        return NULL;
    }
    size_t at = 1;
    out[0] = 'A';
    if (existing) {
        memcpy (out, existing, existing_len);
        at = existing_len;
    }
    for (int i = 0; i < n; i++) {
        memcpy (out + at, ops[i] + 1, op_lens[i] - 1);
        at += op_lens[i] - 1;
    }
    *len = at;
    return out;
}

/* existing then the operands applied to one bitset, encoded; removals
 * allowed when full. */
static char *
s_set (const char *existing, size_t existing_len, const char *const *ops, const size_t *op_lens,
       int n, bool full, size_t *len)
{
    uint64_t *bits = calloc (1024, sizeof (*bits));
    char *out = bits ? malloc (1 + HG_SET_BITSET_BYTES) : NULL;
    bool ok = out != NULL;
    if (ok && existing) {
        ok = existing_len >= 1 && existing[0] == 'U'
             && hg_set_apply (bits, (const unsigned char *) existing + 1, existing_len - 1,
                              false);
    }
    for (int i = 0; ok && i < n; i++) {
        bool remove = op_lens[i] >= 1 && ops[i][0] == '-';
        ok = op_lens[i] >= 1 && (ops[i][0] == 'U' || (remove && full))
             && hg_set_apply (bits, (const unsigned char *) ops[i] + 1, op_lens[i] - 1, remove);
    }
    if (ok) {
        out[0] = 'U';
        *len = 1 + hg_set_encode (bits, (unsigned char *) out + 1);
    }
    free (bits);
    if (!ok) {
        free (out);
        return NULL;
    }
    return out;
}

char *
hg_store_merge_full (const char *existing, size_t existing_len, const char *const *ops,
                     const size_t *op_lens, int n, size_t *len)
{
    bool append = existing ? existing_len >= 1 && existing[0] == 'A'
                           : n > 0 && op_lens[0] >= 1 && ops[0][0] == 'A';
    return append ? s_append (existing, existing_len, ops, op_lens, n, len)
                  : s_set (existing, existing_len, ops, op_lens, n, true, len);
}

char *
hg_store_merge_partial (const char *const *ops, const size_t *op_lens, int n, size_t *len)
{
    if (n < 1 || op_lens[0] < 1) {
        return NULL;
    }
    return ops[0][0] == 'A' ? s_append (NULL, 0, ops, op_lens, n, len)
                            : s_set (NULL, 0, ops, op_lens, n, false, len);
}
