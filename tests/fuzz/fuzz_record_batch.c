/*
 * fuzz_record_batch.c -- differential libFuzzer target for
 * hg_record_batch_next, the indexer's walk over a packed RecordBatch (see
 * README.md): whatever protobuf-c unpacks as a batch, the walk must find as
 * the same records, in order, each slice unpacking to the record protobuf-c
 * read (compared packed again). The walk may accept batches protobuf-c
 * refuses (a record that does not decode alone is then rejected by the
 * indexer), never return a slice outside the input (ASan).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static bool
s_same (const Hourglass__Record *a, const Hourglass__Record *b)
{
    size_t la = hourglass__record__get_packed_size (a);
    size_t lb = hourglass__record__get_packed_size (b);
    if (la != lb) {
        return false;
    }
    uint8_t *pa = malloc (la ? la : 1), *pb = malloc (lb ? lb : 1);
    hourglass__record__pack (a, pa);
    hourglass__record__pack (b, pb);
    bool same = memcmp (pa, pb, la) == 0;
    free (pa);
    free (pb);
    return same;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size > (1u << 20)) {
        return 0;
    }
    Hourglass__RecordBatch *batch = hourglass__record_batch__unpack (NULL, size, data);
    size_t off = 0, n = 0;
    const uint8_t *rec;
    size_t rec_len;
    int rc;
    while ((rc = hg_record_batch_next (data, size, &off, &rec, &rec_len)) == 1) {
        if (rec < data || rec_len > size || rec > data + size - rec_len || off > size) {
            __builtin_trap ();
        }
        if (batch) {
            if (n >= batch->n_records) {
                __builtin_trap ();
            }
            Hourglass__Record *one = hourglass__record__unpack (NULL, rec_len, rec);
            if (!one || !s_same (one, batch->records[n])) {
                __builtin_trap ();
            }
            hourglass__record__free_unpacked (one, NULL);
        }
        n++;
    }
    if (batch) {
        if (rc != 0 || n != batch->n_records) {
            __builtin_trap ();
        }
        hourglass__record_batch__free_unpacked (batch, NULL);
    }
    return 0;
}
