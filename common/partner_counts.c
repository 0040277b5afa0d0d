/*
 * partner_counts.c -- per-partner counts; see partner_counts.h.
 */
#include "partner_counts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const s_names[] = {"received", "received_bytes", "busy", "rejected",
                                      "quarantined"};
#define HG_PC_NAMES (sizeof (s_names) / sizeof (s_names[0]))

struct hg_partner_counts {
    size_t n;
    char partner[HG_PARTNER_COUNTS_MAX + 1][HG_PARTNER_NAME_MAX + 1]; /* the last: _other */
    uint64_t value[HG_PARTNER_COUNTS_MAX + 1][HG_PC_NAMES];
};

hg_partner_counts_t *
hg_partner_counts_new (void)
{
    hg_partner_counts_t *self = calloc (1, sizeof (*self));
    if (self) {
        snprintf (self->partner[HG_PARTNER_COUNTS_MAX], HG_PARTNER_NAME_MAX + 1, "_other");
    }
    return self;
}

void
hg_partner_counts_destroy (hg_partner_counts_t **self_p)
{
    if (self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

static size_t
s_row (hg_partner_counts_t *self, const char *partner)
{
    for (size_t i = 0; i < self->n; i++) {
        if (strncmp (self->partner[i], partner, HG_PARTNER_NAME_MAX) == 0) {
            return i;
        }
    }
    if (self->n == HG_PARTNER_COUNTS_MAX) {
        return HG_PARTNER_COUNTS_MAX;
    }
    snprintf (self->partner[self->n], HG_PARTNER_NAME_MAX + 1, "%s", partner);
    return self->n++;
}

void
hg_partner_counts_add (hg_partner_counts_t *self, const char *name, const char *partner,
                       uint64_t n)
{
    if (!self || !partner || !*partner || n == 0) {
        return;
    }
    for (size_t k = 0; k < HG_PC_NAMES; k++) {
        if (strcmp (s_names[k], name) == 0) {
            self->value[s_row (self, partner)][k] += n;
            return;
        }
    }
}

size_t
hg_partner_counts_export (const hg_partner_counts_t *self, hg_metric_t *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; self && i <= HG_PARTNER_COUNTS_MAX; i++) {
        if (i >= self->n && i < HG_PARTNER_COUNTS_MAX) {
            continue;
        }
        for (size_t k = 0; k < HG_PC_NAMES && n < max; k++) {
            if (self->value[i][k]) {
                out[n++] = (hg_metric_t) {s_names[k], self->value[i][k], false, self->partner[i]};
            }
        }
    }
    return n;
}
