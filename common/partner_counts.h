/*
 * partner_counts.h -- per-partner counts for the metrics exposition
 * (hourglass_partner_<name>_total{partner="..."}): what each partner sent,
 * had refused, had quarantined.
 *
 * Kept in memory only: they restart at zero with the process, which
 * Prometheus' rate() and increase() handle as a counter reset; the
 * persisted totals are the service's counters. The table is bounded:
 * partners beyond HG_PARTNER_COUNTS_MAX are counted under the partner
 * "_other" (without --secure a partner's name is what its client says, so
 * the names are not trusted to be few).
 */
#ifndef HG_PARTNER_COUNTS_H
#define HG_PARTNER_COUNTS_H

#include <stddef.h>
#include <stdint.h>

#include "metrics.h"

#define HG_PARTNER_COUNTS_MAX 64
#define HG_PARTNER_NAME_MAX 63

typedef struct hg_partner_counts hg_partner_counts_t;

hg_partner_counts_t *hg_partner_counts_new (void);
void hg_partner_counts_destroy (hg_partner_counts_t **self_p);

/* Adds n to counter name (one of hg_partner_counts_names) of partner;
 * an unknown name is ignored. */
void hg_partner_counts_add (hg_partner_counts_t *self, const char *name, const char *partner,
                            uint64_t n);

/* Writes the non-zero counts as metrics (partner set) into out, at most
 * max; returns how many. The strings stay owned by the table. */
size_t hg_partner_counts_export (const hg_partner_counts_t *self, hg_metric_t *out, size_t max);

#endif
