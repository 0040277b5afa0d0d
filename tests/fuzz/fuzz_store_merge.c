/*
 * fuzz_store_merge.c -- libFuzzer target for the values RocksDB merges
 * (common/store_merge.c, see README.md): a value read back from a damaged
 * store, or any operand, must never crash a merge. The input is split at
 * 0xff bytes into the existing value (first part; "-" alone: none) and up
 * to 8 operands. Traps when the contract breaks: a set merge that answers
 * with something other than a well-formed container (an array of ascending
 * numbers below 4,096 of them, or the 8 KiB bitset above), that is not
 * stable (merging the answer again as the value with no operand changes
 * it), or an append whose length is not the sum of its parts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store_merge.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static bool
s_ascending (void *arg, uint32_t low)
{
    int64_t *last = arg;
    if ((int64_t) low <= *last) {
        __builtin_trap ();
    }
    *last = low;
    return true;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    const char *parts[9];
    size_t lens[9], n = 0, start = 0;
    for (size_t i = 0; i <= size && n < 9; i++) {
        if (i == size || data[i] == 0xff) {
            parts[n] = (const char *) data + start;
            lens[n++] = i - start;
            start = i + 1;
        }
    }
    bool none = lens[0] == 1 && parts[0][0] == '-';
    const char *existing = none ? NULL : parts[0];
    size_t out_len = 0;
    char *out = hg_store_merge_full (existing, lens[0], parts + 1, lens + 1, (int) n - 1,
                                     &out_len);
    if (!out) {
        return 0;
    }
    if (out_len < 1 || (out[0] != 'U' && out[0] != 'A')) {
        __builtin_trap ();
    }
    if (out[0] == 'A') {
        size_t want = existing ? lens[0] : 1;
        for (size_t i = 1; i < n; i++) {
            want += lens[i] - 1;
        }
        if (out_len != want) {
            __builtin_trap ();
        }
        free (out);
        return 0;
    }
    size_t cl = out_len - 1;
    if (cl != HG_SET_BITSET_BYTES && (cl % 2 || cl / 2 > HG_SET_ARRAY_MAX)) {
        __builtin_trap ();
    }
    int64_t last = -1;
    if (!hg_set_each ((const unsigned char *) out + 1, cl, s_ascending, &last)) {
        __builtin_trap ();
    }
    size_t again_len = 0;
    char *again = hg_store_merge_full (out, out_len, NULL, NULL, 0, &again_len);
    if (!again || again_len != out_len || memcmp (again, out, out_len) != 0) {
        __builtin_trap ();
    }
    free (again);
    free (out);
    return 0;
}
