/*
 * quota.c -- token buckets per partner (a small open table; partners are few).
 */
#include "quota.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HG_QUOTA_MAX_PARTNERS 4096

typedef struct {
    char name[128];
    double tokens;
    uint64_t last_ms;
} bucket_t;

struct hg_quota {
    double rate;  /* tokens per second */
    double burst; /* bucket size */
    bucket_t *buckets;
    size_t n;
};

hg_quota_t *
hg_quota_new (double rate, double burst)
{
    hg_quota_t *self = calloc (1, sizeof (*self));
    if (!self) {
        return NULL;
    }
    self->rate = rate > 0 ? rate : 0;
    self->burst = burst < 1 ? 1 : burst;
    self->buckets = calloc (HG_QUOTA_MAX_PARTNERS, sizeof (*self->buckets));
    if (!self->buckets) {
        free (self);
        return NULL;
    }
    return self;
}

void
hg_quota_destroy (hg_quota_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    free ((*self_p)->buckets);
    free (*self_p);
    *self_p = NULL;
}

uint32_t
hg_quota_take (hg_quota_t *self, const char *partner, uint64_t now_ms)
{
    if (self->rate == 0) {
        return 0;
    }
    bucket_t *b = NULL;
    for (size_t i = 0; i < self->n && !b; i++) {
        b = strcmp (self->buckets[i].name, partner) == 0 ? &self->buckets[i] : NULL;
    }
    if (!b) {
        if (self->n == HG_QUOTA_MAX_PARTNERS) {
            return 1000; /* more partners than we track: slow newcomers down */
        }
        b = &self->buckets[self->n++];
        snprintf (b->name, sizeof (b->name), "%s", partner);
        b->tokens = self->burst;
        b->last_ms = now_ms;
    }
    if (now_ms > b->last_ms) {
        b->tokens += (double) (now_ms - b->last_ms) * self->rate / 1000.0;
        if (b->tokens > self->burst) {
            b->tokens = self->burst;
        }
        b->last_ms = now_ms;
    }
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
        return 0;
    }
    double wait_ms = (1.0 - b->tokens) * 1000.0 / self->rate;
    return wait_ms < 1 ? 1 : (uint32_t) (wait_ms + 0.999);
}
