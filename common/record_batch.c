/*
 * record_batch.c -- walking a packed RecordBatch; see record_batch.h.
 */
#include "record_batch.h"

#include <stdbool.h>

/* A base-128 varint at p[*off..len); false when truncated or over 10 bytes. */
static bool
s_wire_varint (const uint8_t *p, size_t len, size_t *off, uint64_t *v)
{
    uint64_t x = 0;
    for (unsigned shift = 0; shift < 70 && *off < len; shift += 7) {
        uint8_t b = p[(*off)++];
        x |= (uint64_t) (b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return true;
        }
    }
    return false;
}

int
hg_record_batch_next (const uint8_t *batch, size_t len, size_t *off, const uint8_t **rec,
                      size_t *rec_len)
{
    while (*off < len) {
        uint64_t tag, n;
        /* field 0 is invalid protobuf, but protobuf-c skips it as unknown:
         * so does the walk, which must accept whatever protobuf-c does */
        if (!s_wire_varint (batch, len, off, &tag) || (tag >> 3 == 1 && (tag & 7) != 2)) {
            return -1; /* records are length-delimited */
        }
        switch (tag & 7) {
        case 0: /* varint */
            if (!s_wire_varint (batch, len, off, &n)) {
                return -1;
            }
            break;
        case 1: /* 64-bit */
        case 5: /* 32-bit */
            n = (tag & 7) == 1 ? 8 : 4;
            if (len - *off < n) {
                return -1;
            }
            *off += n;
            break;
        case 2: /* length-delimited */
            if (!s_wire_varint (batch, len, off, &n) || n > len - *off) {
                return -1;
            }
            if (tag >> 3 == 1) { /* RecordBatch.records */
                *rec = batch + *off;
                *rec_len = (size_t) n;
                *off += (size_t) n;
                return 1;
            }
            *off += (size_t) n;
            break;
        default: /* groups (deprecated) and invalid wire types */
            return -1;
        }
    }
    return 0;
}
