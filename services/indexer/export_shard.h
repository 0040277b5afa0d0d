/*
 * export_shard.h -- a page of a shard's de-identified records for
 * `hourglass export` (docs/analytics.md): the packed Records of the R keys
 * after a cursor, in key order.
 */
#ifndef HG_EXPORT_SHARD_H
#define HG_EXPORT_SHARD_H

#include "arena.h"
#include "index.h"

#define HG_EXPORT_PAGE_DEFAULT 1000
#define HG_EXPORT_PAGE_MAX 10000

/* The EXPORT control request: up to req->limit records after req->after
 * into reply->records (in arena) and reply->next (empty at the end).
 * *n the records given. */
int hg_export_shard_reply (hg_index_t *index, const Hourglass__ControlRequest *req,
                           Hourglass__ControlReply *reply, hg_arena_t *arena, size_t *n,
                           hg_err_t *err);

#endif
