/*
 * query_shard.h -- one shard's side of an analytics query (issue 13,
 * docs/analytics.md): the candidate patients from the code keys, each
 * one's demographics (G) and timeline (E) read from the index, evaluated by
 * services/analytics/eval.c into partial aggregates.
 */
#ifndef HG_QUERY_SHARD_H
#define HG_QUERY_SHARD_H

#include "index.h"
#include "query.h"

/* Evaluates the query document doc (ages at ref_year unless it says) over
 * the shard; part receives the partial aggregates. -1 with err (the
 * document's error, or out of memory). */
int hg_query_shard (hg_index_t *index, const char *doc, int ref_year, hg_qpart_t *part,
                    hg_err_t *err);

/* Tests only: answer every query from timelines (the bitmaps neither
 * answer nor narrow), to compare the two. */
extern bool hg_query_shard_timelines_only;

/* The QUERY control request: the partial aggregates into reply->parts (in
 * arena). */
int hg_query_shard_reply (hg_index_t *index, const Hourglass__ControlRequest *req,
                          Hourglass__ControlReply *reply, hg_arena_t *arena, hg_err_t *err);

/* CODES (issue 14): the codes of the shard under prefix ("SYSTEM|CODE-PREFIX",
 * or a code prefix in every system when it has no '|'), in key order, each
 * with its exact patients and records (the aggregates: a patient counted
 * once per code), as reply->parts (key "system|code"; in arena); at most
 * limit (0 or more than HG_QUERY_CODES_LIMIT_MAX: that many), with
 * reply->truncated when more matched. Analytics merges and suppresses. */
#define HG_QUERY_CODES_LIMIT_MAX 1000
int hg_query_shard_codes (hg_index_t *index, const char *prefix, uint32_t limit,
                          Hourglass__ControlReply *reply, hg_arena_t *arena, hg_err_t *err);

#endif
