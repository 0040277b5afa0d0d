/*
 * quota.h -- per-partner rate quotas (token buckets), pure.
 *
 * Each partner may push `rate` batches per second on average, in bursts of
 * up to `burst`. A batch over quota is answered BUSY with the time until the
 * partner's next token, so one partner's flood cannot starve the others.
 */
#ifndef HG_QUOTA_H
#define HG_QUOTA_H

#include <stdint.h>

typedef struct hg_quota hg_quota_t;

/* rate 0: unlimited (hg_quota_take always grants). burst < 1 means 1. */
hg_quota_t *hg_quota_new (double rate, double burst);
void hg_quota_destroy (hg_quota_t **self_p);

/* Takes one token of partner at now_ms: 0 when granted, else how many ms
 * until a token will be there (> 0). */
uint32_t hg_quota_take (hg_quota_t *self, const char *partner, uint64_t now_ms);

#endif
