/*
 * test_metrics.c -- Prometheus exposition: counters, gauges, and the latency
 * buckets turned into one cumulative histogram; plus the real HTTP endpoint.
 */
#include "unit_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

static void
test_format (void **state)
{
    (void) state;
    hg_metric_t m[] = {
        {"indexed", 42, false},       {"outbox_depth", 7, true},
        {"latency_le_10", 3, false},  {"latency_le_2", 5, false},
        {"latency_le_inf", 1, false}, {"latency_sum_us", 12500, false},
    };
    char buf[4096];
    size_t need = hg_metrics_format (buf, sizeof (buf), "indexer", "indexer-1", m, 6);
    assert_int_equal (need, strlen (buf));
    assert_non_null (
        strstr (buf, "# TYPE hourglass_indexed_total counter\n"
                     "hourglass_indexed_total{service=\"indexer\",instance=\"indexer-1\"} 42\n"));
    assert_non_null (
        strstr (buf, "# TYPE hourglass_outbox_depth gauge\n"
                     "hourglass_outbox_depth{service=\"indexer\",instance=\"indexer-1\"} 7\n"));
    /* buckets sorted by bound and cumulative: 2 -> 5, 10 -> 8, +Inf -> 9 */
    const char *b2 = strstr (
        buf,
        "hourglass_latency_ms_bucket{service=\"indexer\",instance=\"indexer-1\",le=\"2\"} 5\n");
    const char *b10 = strstr (buf, "le=\"10\"} 8\n");
    const char *binf = strstr (buf, "le=\"+Inf\"} 9\n");
    assert_non_null (b2);
    assert_non_null (b10);
    assert_non_null (binf);
    assert_true (b2 < b10 && b10 < binf);
    assert_non_null (
        strstr (buf,
                "hourglass_latency_ms_sum{service=\"indexer\",instance=\"indexer-1\"} 12.500\n"));
    assert_non_null (
        strstr (buf,
                "hourglass_latency_ms_count{service=\"indexer\",instance=\"indexer-1\"} 9\n"));
    assert_null (strstr (buf, "latency_le_"));
    /* a short buffer: still NUL-terminated, the needed length reported */
    char small[16];
    assert_int_equal (hg_metrics_format (small, sizeof (small), "indexer", "indexer-1", m, 6),
                      need);
    assert_true (strlen (small) < sizeof (small));
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
    hg_metric_t snap[] = {{"deidentified", 99, false}};
    hg_metrics_publish (m, snap, 1);
    char cmd[256];
    snprintf (cmd, sizeof (cmd),
              "/usr/bin/python3 -c \"import urllib.request as u; "
              "print(u.urlopen('http://127.0.0.1:%d/metrics').read().decode())\"",
              port);
    FILE *p = popen (cmd, "r");
    assert_non_null (p);
    char out[2048] = "";
    size_t n = fread (out, 1, sizeof (out) - 1, p);
    out[n] = '\0';
    pclose (p);
    assert_non_null (
        strstr (out, "hourglass_deidentified_total{service=\"deid\",instance=\"deid-0\"} 99"));
    hg_metrics_stop (&m);
    assert_null (m);
}

HG_TEST_MAIN (cmocka_unit_test (test_format), cmocka_unit_test (test_bad_listen_address),
              cmocka_unit_test (test_serves_http))
