/*
 * metrics.h -- Prometheus text exposition of a service's counters, served
 * over HTTP (GET /metrics, GET /health) by libmicrohttpd.
 *
 * The service's event loop owns the counters; it publishes a snapshot
 * (hg_metrics_publish), which the HTTP thread formats under a mutex. The
 * formatter is pure and unit-tested; what each exposed metric means is one
 * table, the catalogue in metrics.c (docs/operations.md lists it).
 *
 * What the exposition promises (`promtool check metrics` passes on it):
 *   - every metric has HELP and TYPE lines;
 *   - base units: durations counted in microseconds are exposed in seconds
 *     (process_us -> hourglass_process_seconds_total), the latency
 *     histogram in seconds;
 *   - counters end in _total; every counter the catalogue gives a service
 *     is present from start, at zero; the latency histogram has its fixed
 *     buckets from start;
 *   - hourglass_build_info, and the process_* metrics of the Prometheus
 *     client conventions (CPU seconds, resident memory, open and maximum
 *     file descriptors, start time);
 *   - per-partner series (hourglass_partner_<name>_total{partner=...}).
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
    bool gauge;          /* a level (outbox_depth), not a running total */
    const char *partner; /* a per-partner count (label partner=...), or NULL */
} hg_metric_t;

/* Upper bounds (ms) of the push-to-indexed latency histogram: the indexer
 * counts persisted counters "latency_le_<ms>" (and "latency_le_inf"). */
#define HG_LATENCY_BOUNDS_MS                                        \
    {                                                               \
        1, 2, 5, 10, 20, 50, 100, 250, 500, 1000, 2500, 5000, 10000 \
    }

/* What the process itself reports (hg_metrics_process_read fills it). */
typedef struct {
    double cpu_seconds;
    uint64_t resident_bytes, virtual_bytes;
    uint64_t open_fds, max_fds;
    double start_time_seconds; /* since the epoch */
} hg_process_stats_t;

/* Formats metrics in Prometheus text format 0.0.4 into buf (at most size
 * bytes, NUL-terminated); returns the length it needed. The catalogue's
 * counters of service are written even when absent from m (at zero);
 * counters the catalogue does not know are still written, as
 * hourglass_<name>_total with a HELP line saying so. proc (NULL: none)
 * adds the process_* metrics; version and revision go into
 * hourglass_build_info. */
size_t hg_metrics_format (char *buf, size_t size, const char *service, const char *instance,
                          const hg_metric_t *m, size_t n, const hg_process_stats_t *proc);

/* Whether the catalogue knows counter name (tests check every counter the
 * services count is there). */
bool hg_metrics_known (const char *name);

/* Reads /proc/self for hg_process_stats_t; fields it cannot read stay 0. */
void hg_metrics_process_read (hg_process_stats_t *out);

typedef struct hg_metrics hg_metrics_t;

/* Starts serving on listen: "PORT" (127.0.0.1 only) or "HOST:PORT" ("0.0.0.0:PORT"
 * exposes it); NULL with err. */
hg_metrics_t *hg_metrics_start (const char *listen, const char *service, const char *instance,
                                hg_err_t *err);
void hg_metrics_stop (hg_metrics_t **self_p);

/* Replaces the snapshot served (names are copied). */
void hg_metrics_publish (hg_metrics_t *self, const hg_metric_t *m, size_t n);

#endif
