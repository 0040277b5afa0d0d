/*
 * test_metrics.c -- Prometheus exposition: counters, gauges, and the latency
 * buckets turned into one cumulative histogram; plus the real HTTP endpoint.
 */
#include "unit_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

#define L "{service=\"indexer\",instance=\"indexer-1\"}"

static void
test_format (void **state)
{
    (void) state;
    hg_metric_t m[] = {
        {"indexed", 42, false, NULL},        {"outbox_depth", 7, true, NULL},
        {"latency_le_10", 3, false, NULL},   {"latency_le_2", 5, false, NULL},
        {"latency_le_inf", 1, false, NULL},  {"latency_sum_us", 12500, false, NULL},
        {"commit_us", 2500000, false, NULL},
    };
    size_t nm = sizeof (m) / sizeof (m[0]);
    char buf[16384];
    size_t need = hg_metrics_format (buf, sizeof (buf), "indexer", "indexer-1", m, nm, NULL);
    assert_int_equal (need, strlen (buf));
    assert_non_null (strstr (buf, "# HELP hourglass_indexed_total Records indexed\n"
                                  "# TYPE hourglass_indexed_total counter\n"
                                  "hourglass_indexed_total" L " 42\n"));
    assert_non_null (strstr (buf, "# TYPE hourglass_outbox_depth gauge\n"
                                  "hourglass_outbox_depth" L " 7\n"));
    /* microseconds exposed in seconds */
    assert_non_null (strstr (buf, "hourglass_commit_seconds_total" L " 2.500000\n"));
    assert_null (strstr (buf, "commit_us"));
    /* counters of this service present at zero before they count */
    assert_non_null (strstr (buf, "hourglass_duplicate_records_total" L " 0\n"));
    /* ... and not those of other services */
    assert_null (strstr (buf, "hourglass_parsed_total"));
    /* buckets in seconds, cumulative, every fixed bound present:
     * 1 ms -> 0, 2 -> 5, 5 -> 5, 10 -> 8, ..., +Inf -> 9 */
    const char *b1 = strstr (buf, "hourglass_latency_seconds_bucket{service=\"indexer\","
                                  "instance=\"indexer-1\",le=\"0.001\"} 0\n");
    const char *b2 = strstr (buf, "le=\"0.002\"} 5\n");
    const char *b5 = strstr (buf, "le=\"0.005\"} 5\n");
    const char *b10 = strstr (buf, "le=\"0.01\"} 8\n");
    const char *b10s = strstr (buf, "le=\"10\"} 8\n");
    const char *binf = strstr (buf, "le=\"+Inf\"} 9\n");
    assert_true (b1 && b2 && b5 && b10 && b10s && binf);
    assert_true (b1 < b2 && b2 < b5 && b5 < b10 && b10 < b10s && b10s < binf);
    assert_non_null (strstr (buf, "hourglass_latency_seconds_sum" L " 0.012500\n"));
    assert_non_null (strstr (buf, "hourglass_latency_seconds_count" L " 9\n"));
    assert_null (strstr (buf, "latency_le_"));
    assert_non_null (strstr (buf, "hourglass_build_info{service=\"indexer\",instance="
                                  "\"indexer-1\",version=\""));
    /* a short buffer: still NUL-terminated, the needed length reported */
    char small[16];
    assert_int_equal (hg_metrics_format (small, sizeof (small), "indexer", "indexer-1", m, nm,
                                         NULL),
                      need);
    assert_true (strlen (small) < sizeof (small));
}

/* Before the indexer has indexed anything its histogram is already there. */
static void
test_histogram_from_start (void **state)
{
    (void) state;
    char buf[16384];
    hg_metrics_format (buf, sizeof (buf), "indexer", "indexer-0", NULL, 0, NULL);
    assert_non_null (strstr (buf, "# TYPE hourglass_latency_seconds histogram\n"));
    assert_non_null (strstr (buf, "le=\"0.25\"} 0\n"));
    assert_non_null (strstr (buf, "le=\"+Inf\"} 0\n"));
    hg_metrics_format (buf, sizeof (buf), "deid", "deid-0", NULL, 0, NULL);
    assert_null (strstr (buf, "hourglass_latency_seconds"));
    assert_non_null (strstr (buf, "hourglass_deidentified_total{service=\"deid\","
                                  "instance=\"deid-0\"} 0\n"));
}

/* Per-partner series, label values escaped; a counter the catalogue does
 * not know is still exposed, with HELP saying so, once per family. */
static void
test_partners_and_unknown (void **state)
{
    (void) state;
    hg_metric_t m[] = {
        {"received", 3, false, "city-lab"},    {"received", 1, false, "odd\"name\\x"},
        {"quarantined", 2, false, "city-lab"}, {"frobnicated", 4, false, NULL},
        {"frobnicated", 1, false, NULL},       {"received", 4, false, NULL},
    };
    char buf[16384];
    hg_metrics_format (buf, sizeof (buf), "collector", "collector-0", m, 6, NULL);
    assert_non_null (strstr (buf, "# TYPE hourglass_partner_received_total counter\n"));
    assert_non_null (strstr (buf, "hourglass_partner_received_total{service=\"collector\","
                                  "instance=\"collector-0\",partner=\"city-lab\"} 3\n"));
    assert_non_null (strstr (buf, "partner=\"odd\\\"name\\\\x\"} 1\n"));
    assert_non_null (strstr (buf, "hourglass_partner_quarantined_total{"));
    assert_non_null (strstr (buf, "hourglass_received_total{service=\"collector\","
                                  "instance=\"collector-0\"} 4\n"));
    const char *f = strstr (buf, "# HELP hourglass_frobnicated_total Counter 'frobnicated'");
    assert_non_null (f);
    assert_null (strstr (f + 1, "# HELP hourglass_frobnicated_total"));
    assert_non_null (strstr (buf, "hourglass_frobnicated_total{service=\"collector\","
                                  "instance=\"collector-0\"} 5\n"));
    assert_false (hg_metrics_known ("frobnicated"));
    assert_true (hg_metrics_known ("latency_le_250"));
    assert_true (hg_metrics_known ("store_bytes"));
}

/* promtool (Debian's prometheus package) accepts what every service
 * exposes, process metrics included. */
static void
test_promtool_accepts (void **state)
{
    (void) state;
    const char *services[] = {"collector", "cleanser", "deid", "indexer", "analytics"};
    hg_metric_t m[] = {
        {"received", 3, false, "city-lab"}, {"busy", 1, false, "city-lab"},
        {"latency_le_5", 2, false, NULL},   {"latency_sum_us", 900, false, NULL},
        {"frobnicated", 4, false, NULL},    {"outbox_depth", 7, true, NULL},
    };
    hg_process_stats_t proc;
    hg_metrics_process_read (&proc);
    assert_true (proc.resident_bytes > 0);
    assert_true (proc.open_fds >= 3 && proc.open_fds <= proc.max_fds);
    assert_true (proc.start_time_seconds > 1.6e9);
    for (size_t i = 0; i < 5; i++) {
        char buf[32768];
        size_t need = hg_metrics_format (buf, sizeof (buf), services[i], "x-0", m, 6, &proc);
        assert_true (need < sizeof (buf));
        FILE *p = popen ("promtool check metrics >/dev/null 2>&1", "w");
        assert_non_null (p);
        fwrite (buf, 1, need, p);
        /* popen "w" cannot read the output: the exit status says it */
        int rc = pclose (p);
        if (rc != 0) {
            fprintf (stderr, "promtool refused the exposition of %s:\n%s", services[i], buf);
        }
        assert_int_equal (rc, 0);
    }
}

static void
test_bad_listen_address (void **state)
{
    (void) state;
    hg_err_t err = {0};
    assert_null (hg_metrics_start ("localhost:abc", "x", "x-0", &err));
    assert_non_null (strstr (err.msg, "is not PORT or IPv4:PORT"));
    assert_null (hg_metrics_start ("70000", "x", "x-0", &err));
}

static void
test_serves_http (void **state)
{
    (void) state;
    hg_err_t err = {0};
    hg_metrics_t *m = NULL;
    int port = 0;
    for (port = 39100; port < 39200 && !m; port++) {
        char listen[32];
        snprintf (listen, sizeof (listen), "127.0.0.1:%d", port);
        m = hg_metrics_start (listen, "deid", "deid-0", &err);
    }
    port--;
    assert_non_null (m);
    hg_metric_t snap[] = {{"deidentified", 99, false, NULL}};
    hg_metrics_publish (m, snap, 1);
    char cmd[256];
    snprintf (cmd, sizeof (cmd),
              "/usr/bin/python3 -c \"import urllib.request as u; "
              "print(u.urlopen('http://127.0.0.1:%d/metrics').read().decode())\"",
              port);
    FILE *p = popen (cmd, "r");
    assert_non_null (p);
    char out[32768] = "";
    size_t n = fread (out, 1, sizeof (out) - 1, p);
    out[n] = '\0';
    pclose (p);
    assert_non_null (
        strstr (out, "hourglass_deidentified_total{service=\"deid\",instance=\"deid-0\"} 99"));
    assert_non_null (strstr (out, "process_resident_memory_bytes{"));
    hg_metrics_stop (&m);
    assert_null (m);
}

HG_TEST_MAIN (cmocka_unit_test (test_format), cmocka_unit_test (test_histogram_from_start),
              cmocka_unit_test (test_partners_and_unknown),
              cmocka_unit_test (test_promtool_accepts),
              cmocka_unit_test (test_bad_listen_address), cmocka_unit_test (test_serves_http))
