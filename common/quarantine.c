/*
 * quarantine.c -- quarantine entries in the store; see quarantine.h.
 */
#include "quarantine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
hg_quarantine_put (hg_store_batch_t *wb, const Hourglass__QuarantineEntry *q, size_t index,
                   hg_err_t *err)
{
    const char *id = q->message_id ? q->message_id : "";
    size_t id_len = strlen (id);
    char stack[640];
    size_t cap = id_len + 2 + 1 + 24;
    char *key = cap <= sizeof (stack) ? stack : malloc (cap);
    if (!key) {
        return hg_err_set (err, HG_ENOMEM, "out of memory writing a quarantine entry");
    }
    memcpy (key, "q/", 2);
    memcpy (key + 2, id, id_len);
    key[2 + id_len] = '\0';
    int digits = snprintf (key + 3 + id_len, cap - 3 - id_len, "%06zu", index);
    size_t klen = 3 + id_len + (size_t) digits;
    size_t len = hourglass__quarantine_entry__get_packed_size (q);
    uint8_t *buf = hg_store_batch_put_space (wb, key, klen, len);
    if (buf) {
        hourglass__quarantine_entry__pack (q, buf);
    }
    if (key != stack) {
        free (key);
    }
    if (!buf) {
        return hg_err_set (err, HG_ENOMEM, "out of memory writing a quarantine entry");
    }
    return 0;
}

int
hg_quarantine_list (hg_store_t *store, size_t limit, hg_arena_t *arena,
                    Hourglass__QuarantineEntry ***list, size_t *n, hg_err_t *err)
{
    size_t cap = 64, got = 0;
    Hourglass__QuarantineEntry **v = malloc (cap * sizeof (*v));
    if (!v) {
        return hg_err_set (err, HG_ENOMEM, "out of memory listing the quarantine");
    }
    ProtobufCAllocator alloc;
    hg_arena_protobuf_allocator (arena, &alloc);
    hg_store_iter_t *it = hg_store_iter_new (store, "q/", 2, NULL, 0);
    const char *k, *val;
    size_t kl, vl;
    int rc = 0;
    while (got < limit && hg_store_iter_next (it, &k, &kl, &val, &vl)) {
        Hourglass__QuarantineEntry *q =
            hourglass__quarantine_entry__unpack (&alloc, vl, (const uint8_t *) val);
        if (!q) {
            continue;
        }
        if (got == cap) {
            Hourglass__QuarantineEntry **grown = realloc (v, cap * 2 * sizeof (*v));
            if (!grown) {
                rc = hg_err_set (err, HG_ENOMEM, "out of memory listing the quarantine");
                break;
            }
            v = grown;
            cap *= 2;
        }
        v[got++] = q;
    }
    hg_store_iter_destroy (&it);
    Hourglass__QuarantineEntry **out = hg_arena_alloc (arena, (got ? got : 1) * sizeof (*out));
    if (rc == 0 && !out) {
        rc = hg_err_set (err, HG_ENOMEM, "out of memory listing the quarantine");
    }
    if (rc == 0) {
        memcpy (out, v, got * sizeof (*out));
        *list = out;
        *n = got;
    }
    free (v);
    return rc;
}
