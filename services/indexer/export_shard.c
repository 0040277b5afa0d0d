/*
 * export_shard.c -- a page of de-identified records (see export_shard.h).
 */
#include "export_shard.h"

#include <string.h>

#define S_RKEY (1 + 2 * HG_INDEX_ID_BYTES)

int
hg_export_shard_reply (hg_index_t *ix, const Hourglass__ControlRequest *req,
                       Hourglass__ControlReply *reply, hg_arena_t *arena, size_t *n,
                       hg_err_t *err)
{
    size_t limit = req->limit ? req->limit : HG_EXPORT_PAGE_DEFAULT;
    limit = limit > HG_EXPORT_PAGE_MAX ? HG_EXPORT_PAGE_MAX : limit;
    const ProtobufCBinaryData *after = &req->after;
    if (after->len && (after->len != S_RKEY || after->data[0] != 'R')) {
        return hg_err_set (err, HG_EINVAL, "the export cursor is not one this shard gave");
    }
    ProtobufCBinaryData *recs = hg_arena_alloc (arena, limit * sizeof (*recs));
    uint8_t *last = hg_arena_alloc (arena, S_RKEY);
    if (!recs || !last) {
        return hg_err_set (err, HG_ENOMEM, "out of memory");
    }
    hg_store_iter_t *it = hg_store_iter_new (hg_index_store (ix), "R", 1,
                                             after->len ? after->data : NULL, after->len);
    const char *k, *v;
    size_t kl, vl;
    int rc = 0;
    bool more = false;
    *n = 0;
    while (rc == 0 && hg_store_iter_next (it, &k, &kl, &v, &vl)) {
        if (kl != S_RKEY || (after->len && memcmp (k, after->data, S_RKEY) == 0)) {
            continue; /* the cursor itself was given last time */
        }
        if (*n == limit) {
            more = true;
            break;
        }
        uint8_t *copy = hg_arena_alloc (arena, vl ? vl : 1);
        if (!copy) {
            rc = hg_err_set (err, HG_ENOMEM, "out of memory");
            break;
        }
        memcpy (copy, v, vl);
        recs[*n] = (ProtobufCBinaryData) {vl, copy};
        memcpy (last, k, S_RKEY);
        (*n)++;
    }
    hg_store_iter_destroy (&it);
    if (rc == 0) {
        reply->n_records = *n;
        reply->records = recs;
        reply->next = more ? (ProtobufCBinaryData) {S_RKEY, last}
                           : (ProtobufCBinaryData) {0, NULL};
    }
    return rc;
}
