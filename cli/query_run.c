/*
 * query_run.c -- `hourglass query run --file QUERY.json [--json]`: sends
 * an analytics query document (docs/analytics.md) to the analytics service
 * and prints its answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <zmq.h>

#include "cli.h"
#include "control.h"
#include "opts.h"
#include "util.h"

#define S_DOC_MAX (256 * 1024)

static const char *s_cluster, *s_file;
static bool s_json;
static int s_repeat = 1, s_min_cell = -1;
static const char *s_role = "";

static const hg_cli_opt_t s_opts[] = {
    HG_CLI_OPT_CLUSTER (&s_cluster),
    HG_CLI_OPT_REQUIRED ("--file", &s_file, "QUERY.json", "the query document ('-': stdin)"),
    HG_CLI_OPT_JSON (&s_json),
    HG_CLI_OPT_INT ("--repeat", &s_repeat, "N", "ask N times (benchmarks)", 1, 100000),
    HG_CLI_OPT_STR ("--role", &s_role, "aggregate|dp",
                    "the disclosure role of the answer (default aggregate; dp: noise, charged "
                    "to your epsilon budget)"),
    HG_CLI_OPT_INT ("--min-cell", &s_min_cell, "N",
                    "operator only: this threshold instead of analytics' (0: the exact answer)",
                    0, 1000000),
    HG_CLI_OPT_END,
};

const hg_cli_spec_t hg_query_run_spec = {
    .command = "hourglass query run",
    .opts = s_opts,
    .about =
        "The document: {\"cohort\": {\"all\": [...], \"any\": [...], \"none\": [...], \"sex\": [...],\n"
        "\"age\": {...}}, \"by\": [...], \"measure\": {\"kind\": ...}} (docs/analytics.md).\n"
        "Every number of 1..min-cell patients is suppressed (null, \"suppressed\": true), more\n"
        "where a table's margins would give one away, and every count shown is rounded\n"
        "(round_to); --role dp adds noise instead and says \"epsilon\": {\"spent\", \"left\"}.\n"
        "--repeat N asks N times and adds \"latency_ms\": {\"n\", \"p50\", \"p99\", \"max\"}.\n",
};

/* A line per number of the answer (without --json). */
static void
s_print_human (json_object *ans)
{
    json_object_object_foreach (ans, key, val)
    {
        if (json_object_is_type (val, json_type_array)) {
            printf ("%s:\n", key);
            for (size_t i = 0; i < json_object_array_length (val); i++) {
                printf ("  %s\n",
                        json_object_to_json_string_ext (json_object_array_get_idx (val, i),
                                                        JSON_C_TO_STRING_SPACED));
            }
        }
        else {
            printf ("%s: %s\n", key, val ? json_object_to_json_string (val) : "null");
        }
    }
}

static int
s_cmp_double (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

/* --repeat: the latencies (sorted here) as "latency_ms" of the answer. */
static void
s_add_latency (json_object *ans, double *ms, int n)
{
    qsort (ms, (size_t) n, sizeof (*ms), s_cmp_double);
    json_object *l = json_object_new_object ();
    json_object_object_add (l, "n", json_object_new_int (n));
    json_object_object_add (l, "p50", json_object_new_double (ms[n / 2]));
    json_object_object_add (l, "p99", json_object_new_double (ms[(n * 99) / 100]));
    json_object_object_add (l, "max", json_object_new_double (ms[n - 1]));
    json_object_object_add (ans, "latency_ms", l);
}

/* Asks s_repeat times (timing each); the last reply into *rep. */
static int
s_ask (void *zctx, const char *endpoint, const Hourglass__ControlRequest *req, double *ms,
       Hourglass__ControlReply **rep, hg_err_t *err)
{
    for (int k = 0; k < s_repeat; k++) {
        if (*rep) {
            hourglass__control_reply__free_unpacked (*rep, NULL);
            *rep = NULL;
        }
        uint64_t t0 = hg_wall_us ();
        if (hg_control_call (zctx, endpoint, req, 60000, rep, err) < 0) {
            return -1;
        }
        ms[k] = (double) (hg_wall_us () - t0) / 1000.0;
        if (!(*rep)->ok) {
            return 0;
        }
    }
    return 0;
}

static int
s_read (char **doc, size_t *len)
{
    hg_err_t err;
    if (strcmp (s_file, "-") != 0) {
        if (hg_read_file (s_file, S_DOC_MAX, doc, len, &err) < 0) {
            fprintf (stderr, "hourglass query run: %s\n", err.msg);
            return -1;
        }
        return 0;
    }
    *doc = malloc (S_DOC_MAX + 1);
    *len = *doc ? fread (*doc, 1, S_DOC_MAX, stdin) : 0;
    if (!*doc) {
        return -1;
    }
    (*doc)[*len] = '\0';
    return 0;
}

int
hg_query_run (int argc, char **argv)
{
    hg_cli_args_t args;
    int status = 0;
    if (hg_cli_parse (&hg_query_run_spec, argc, argv, 2, &args, &status) < 0) {
        return status;
    }
    hg_cli_args_free (&args);
    char *doc = NULL;
    size_t len = 0;
    if (s_read (&doc, &len) < 0) {
        return 1;
    }
    hg_cluster_t c;
    const char *controls[1];
    if (hg_cluster_load_for (s_cluster, &c, "hourglass query") < 0) {
        free (doc);
        return 1;
    }
    if (hg_cluster_controls (&c, "analytics", controls, 1) == 0) {
        fprintf (stderr, "hourglass query: the cluster has no analytics service\n");
        hg_cluster_free (&c);
        free (doc);
        return 1;
    }
    /* a stopped analytics or shard fails the query at once, naming it */
    int up_a = hg_cli_check_up (&c, "analytics", NULL, "hourglass query run");
    int up_i = hg_cli_check_up (&c, "indexer", "analytics needs every shard to answer",
                                "hourglass query run");
    if (up_a < 0 || up_i < 0) {
        hg_cluster_free (&c);
        free (doc);
        return 1;
    }
    Hourglass__ControlRequest req = HOURGLASS__CONTROL_REQUEST__INIT;
    req.kind = HOURGLASS__CONTROL_REQUEST__KIND__QUERY;
    req.query = doc;
    req.disclosure_role = (char *) s_role;
    Hourglass__Threshold threshold = HOURGLASS__THRESHOLD__INIT;
    threshold.min_cell = (uint32_t) s_min_cell;
    req.threshold = s_min_cell >= 0 ? &threshold : NULL;
    void *zctx = zmq_ctx_new ();
    Hourglass__ControlReply *rep = NULL;
    hg_err_t err = {0};
    double *ms = calloc ((size_t) s_repeat, sizeof (*ms));
    if (!ms || s_ask (zctx, controls[0], &req, ms, &rep, &err) < 0) {
        fprintf (stderr, "hourglass query run: %s\n", err.msg);
        status = 1;
    }
    else if (!rep->ok || !*rep->answer) {
        fprintf (stderr, "hourglass query run: %s\n", rep->error);
        status = 1;
    }
    else {
        json_object *ans = json_tokener_parse (rep->answer);
        if (ans && s_repeat > 1) {
            s_add_latency (ans, ms, s_repeat);
        }
        if (ans && s_json) {
            printf ("%s\n", json_object_to_json_string_ext (ans, JSON_C_TO_STRING_PLAIN));
        }
        else if (ans) {
            s_print_human (ans);
        }
        json_object_put (ans);
    }
    free (ms);
    if (rep) {
        hourglass__control_reply__free_unpacked (rep, NULL);
    }
    zmq_ctx_term (zctx);
    hg_cluster_free (&c);
    free (doc);
    return status;
}
