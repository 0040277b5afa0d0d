/*
 * fuzz_disclose.c -- libFuzzer target for disclosure control
 * (services/analytics/disclose.c, see README.md). The input is a table:
 * byte 0 the shape (one- or two-way, rows, columns), byte 1 min_cell and
 * the rounding base, then
 * one byte per cell (0: an absent stratum; the high bit makes a count
 * large). Traps when the contract breaks: a small count left shown, a
 * shown count turned into a suppressed 0, a suppressed cell shown again, or
 * -- unless the table is withheld -- a suppressed cell the margins still pin
 * to one value after hg_disclose_protect.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "disclose.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define S_CELLS 48

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 3) {
        return 0;
    }
    size_t dims = (data[0] & 1) + 1;
    size_t rows = dims == 1 ? 1 : 1 + ((data[0] >> 1) & 7);
    size_t cols = 1 + ((data[0] >> 4) & 15);
    uint64_t m = 1 + data[1] % 12;
    hg_dnum_t cells[S_CELLS], margin = {0};
    uint32_t coords[2 * S_CELLS];
    bool was[S_CELLS];
    size_t n = 0;
    for (size_t k = 0; k + 2 < size && k < rows * cols && n < S_CELLS; k++) {
        uint8_t b = data[k + 2];
        if (b == 0) {
            continue;
        }
        cells[n] = (hg_dnum_t) {.value = b & 0x80 ? (uint64_t) (b & 0x7f) * 37 : b % 24};
        hg_disclose_threshold (&cells[n], m);
        was[n] = cells[n].suppressed;
        if (dims == 1) {
            coords[n] = (uint32_t) (k % cols);
        }
        else {
            coords[2 * n] = (uint32_t) (k / cols);
            coords[2 * n + 1] = (uint32_t) (k % cols);
        }
        margin.value += cells[n].value;
        n++;
    }
    hg_disclose_threshold (&margin, m);
    uint64_t round_to = (data[1] >> 4) & 7; /* 0, 1: exact */
    hg_dtable_t t = {dims, n, coords, cells, &margin, m, 1, m, m + 1, round_to, false};
    int added = hg_disclose_protect (&t);
    if (added < 0) {
        return 0; /* out of memory: failed closed */
    }
    for (size_t i = 0; i < n; i++) {
        if (hg_disclose_small (cells[i].value, m) && !cells[i].suppressed) {
            __builtin_trap ();
        }
        if (was[i] && (!cells[i].suppressed || cells[i].complementary)) {
            __builtin_trap ();
        }
        if (cells[i].value == 0 && cells[i].suppressed) {
            __builtin_trap ();
        }
    }
    if (!t.withheld && hg_disclose_pinned (&t) != -1) {
        __builtin_trap ();
    }
    return 0;
}
