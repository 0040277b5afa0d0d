/*
 * query_bitmap.h -- a shard's answer to a query from its patient bitmaps
 * and code columns (index.h: B, b, V keys), without reading timelines.
 *
 * Each criterion becomes a set of patient ordinals: the union of its
 * codes' bitmaps, or, with a date range, a value predicate or a min_count,
 * the patients of its codes' column entries that pass them. The cohort is
 * the boolean algebra of those sets (all: and, any: or, none: and not); the
 * demographic filters and patient strata come from the demographic
 * bitmaps, grouped by distinct (sex, birth year, state). Sets are flat
 * bitsets over the shard's ordinals (n / 8 bytes: 75 KB for 600,000
 * patients), so and, or and counting run at memory speed.
 *
 * What the sets cannot say exactly (a temporal "after", a min_count over
 * several codes, event strata, the records measure, top within a window)
 * is answered from timelines, but only of the patients the sets leave
 * (hg_qbits_candidates: every set is a superset of its criterion's
 * patients).
 */
#ifndef HG_QUERY_BITMAP_H
#define HG_QUERY_BITMAP_H

#include <stdbool.h>

#include "index.h"
#include "query.h"

/* Whether q can be answered from the bitmaps and columns alone. */
bool hg_qbits_exact (const hg_query_t *q);

/* Answers q (hg_qbits_exact) into part. -1 when out of memory. */
int hg_qbits_run (hg_index_t *ix, const hg_query_t *q, hg_qpart_t *part);

/* The patients that may be in q's cohort (a superset), each once, in
 * ordinal order: add(arg, patient id) for each. 1 when given, 0 when the
 * sets cannot narrow q (no criterion of all or any), -1 when out of memory
 * or add failed. */
int hg_qbits_candidates (hg_index_t *ix, const hg_query_t *q,
                         int (*add) (void *arg, const unsigned char *id), void *arg);

#endif
