/*
 * suppress.h -- small-cell suppression and shard aggregation (pure).
 */
#ifndef HG_SUPPRESS_H
#define HG_SUPPRESS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    uint64_t patients;
    uint64_t records;
    bool suppressed;
} hg_count_t;

/* Adds one shard's answer. Shards partition patients, so distinct patient
 * counts add up. */
void hg_count_add (hg_count_t *total, uint64_t patients, uint64_t records);

/* Suppresses a count whose patients are in 1..min_cell: both numbers are
 * withheld (records could reveal the patients). min_cell 0 disables. */
void hg_count_suppress (hg_count_t *c, uint64_t min_cell);

/* What COUNT releases (disclose.h): suppressed as above, else both numbers
 * rounded to a multiple of round_to (never to 0); min_cell 0: exact. */
void hg_count_disclose (hg_count_t *c, uint64_t min_cell, uint64_t round_to);

#endif
