/*
 * metrics.h -- Prometheus text exposition of a service's counters, served
 * over HTTP (GET /metrics, GET /health) by libmicrohttpd.
 *
 * The service's event loop owns the counters; it publishes a snapshot
 * (hg_metrics_publish), which the HTTP thread formats under a mutex. The
 * formatter is pure and unit-tested.
 */
#ifndef HG_METRICS_H
#define HG_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef struct {
    const char *name; /* counter name, e.g. "indexed", "latency_le_10" */
    uint64_t value;
    bool gauge; /* a level (outbox_depth), not a running total */
} hg_metric_t;

/* Formats metrics in Prometheus text format 0.0.4 into buf (at most size
 * bytes, NUL-terminated); returns the length it needed. Counters become
 * hourglass_<name>_total, gauges hourglass_<name>; the latency_le_<ms>
 * buckets become one cumulative histogram hourglass_latency_ms. */
size_t hg_metrics_format (char *buf, size_t size, const char *service, const char *instance,
                          const hg_metric_t *m, size_t n);

typedef struct hg_metrics hg_metrics_t;

/* Starts serving on listen: "PORT" (127.0.0.1 only) or "HOST:PORT" ("0.0.0.0:PORT"
 * exposes it); NULL with err. */
hg_metrics_t *hg_metrics_start (const char *listen, const char *service, const char *instance,
                                hg_err_t *err);
void hg_metrics_stop (hg_metrics_t **self_p);

/* Replaces the snapshot served (names are copied). */
void hg_metrics_publish (hg_metrics_t *self, const hg_metric_t *m, size_t n);

#endif
