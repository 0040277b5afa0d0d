/*
 * client.c -- the client commands: stats, query count, quarantine list,
 * health, keygen (push is in push.c). They find the services through the
 * cluster file (cluster_file.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <zmq.h>

#include "cli.h"
#include "control.h"
#include "curve.h"
#include "opts.h"
#include "strset.h"
#include "util.h"

#define HG_QUERY_CODES_MAX 16 /* --code per query: the indexer's cohort limit */

/* --key: the key pair control calls authenticate with under CurveZMQ; by
 * default the cluster's operator key (cluster.json operator_key). */
#define S_OPT_KEY(o)                                                                   \
    HG_CLI_OPT_STR ("--key", (o), "FILE",                                              \
                    "CurveZMQ key pair for the control plane (default: the cluster's " \
                    "operator key)")

/* Sets the --key given (before the cluster's own); -1 after printing why. */
static int
s_use_key (const char *key, const char *command)
{
    hg_err_t err = {0};
    if (key && hg_control_use_key (key, &err) < 0) {
        fprintf (stderr, "%s: %s\n", command, err.msg);
        return -1;
    }
    return 0;
}

void
hg_json_print_string (const char *s, size_t len)
{
    putchar ('"');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) s[i];
        if (c == '"' || c == '\\') {
            printf ("\\%c", c);
        }
        else if (c == '\n') {
            printf ("\\n");
        }
        else if (c == '\r') {
            printf ("\\r");
        }
        else if (c == '\t') {
            printf ("\\t");
        }
        else if (c < 0x20 || c == 0x7f) {
            printf ("\\u%04x", c);
        }
        else {
            putchar (c); /* UTF-8 passes through; invalid bytes are the data's */
        }
    }
    putchar ('"');
}

static void
s_json_str (const char *s)
{
    hg_json_print_string (s, strlen (s));
}

/* ---- stats ---------------------------------------------------------------- */

int
hg_cmd_stats (int argc, char **argv)
{
    const char *cluster = NULL, *key = NULL;
    bool json = false;
    const hg_cli_opt_t opts[] = {
        HG_CLI_OPT_CLUSTER (&cluster),
        HG_CLI_OPT_JSON (&json),
        S_OPT_KEY (&key),
        HG_CLI_OPT_END,
    };
    const hg_cli_spec_t spec = {.command = "hourglass stats",
                                .opts = opts,
                                .about = "Every service's counters.\n"};
    hg_cli_args_t args;
    int status = 0;
    if (hg_cli_parse (&spec, argc, argv, 1, &args, &status) < 0) {
        return status;
    }
    hg_cluster_t c;
    if (s_use_key (key, "hourglass stats") < 0
        || hg_cluster_load_for (cluster, &c, "hourglass stats") < 0) {
        return 1;
    }
    void *zctx = zmq_ctx_new ();
    if (json) {
        printf ("{\"services\": {");
    }
    int n_down = 0;
    char down_names[512] = "";
    for (int i = 0; i < c.n_procs; i++) {
        Hourglass__ControlRequest req = HOURGLASS__CONTROL_REQUEST__INIT;
        req.kind = HOURGLASS__CONTROL_REQUEST__KIND__STATS;
        Hourglass__ControlReply *rep = NULL;
        hg_err_t err = {0};
        char why[256];
        /* a stopped instance is named at once, not after a call's timeout */
        bool ok = false;
        if (hg_proc_down (&c.procs[i], 300, why, sizeof (why))) {
            snprintf (err.msg, sizeof (err.msg), "down: %s", why);
        }
        else {
            ok = hg_control_call (zctx, c.procs[i].control, &req, 3000, &rep, &err) == 0;
        }
        if (!ok && !rep) {
            n_down++;
            size_t dl = strlen (down_names);
            snprintf (down_names + dl, sizeof (down_names) - dl, "%s%s", dl ? ", " : "",
                      c.procs[i].name);
        }
        if (ok && !rep->ok) {
            ok = false; /* refused: the key's role may not read stats */
            snprintf (err.msg, sizeof (err.msg), "%s", rep->error);
        }
        if (!ok) {
            status = 1;
            fprintf (stderr, "hourglass stats: %s: %s\n", c.procs[i].name, err.msg);
        }
        if (json) {
            printf ("%s\"%s\": {\"service\": \"%s\", \"up\": %s", i ? ", " : "", c.procs[i].name,
                    c.procs[i].service, ok ? "true" : "false");
            for (size_t k = 0; ok && k < rep->n_counters; k++) {
                printf (", \"%s\": %llu", rep->counters[k]->name,
                        (unsigned long long) rep->counters[k]->value);
            }
            printf ("}");
        }
        else {
            printf ("%-14s", c.procs[i].name);
            if (!ok) {
                printf (" DOWN");
            }
            for (size_t k = 0; ok && k < rep->n_counters; k++) {
                printf (" %s=%llu", rep->counters[k]->name,
                        (unsigned long long) rep->counters[k]->value);
            }
            printf ("\n");
        }
        if (rep) {
            hourglass__control_reply__free_unpacked (rep, NULL);
        }
    }
    if (json) {
        printf ("}}\n");
    }
    if (n_down) {
        fprintf (stderr, "hourglass stats: %d of %d instances down: %s\n", n_down, c.n_procs,
                 down_names);
    }
    zmq_ctx_term (zctx);
    hg_cluster_free (&c);
    return status;
}

int
hg_cli_check_up (const hg_cluster_t *c, const char *service, const char *needed_by,
                 const char *command)
{
    int down = 0;
    for (int i = 0; i < c->n_procs; i++) {
        char why[256];
        if (strcmp (c->procs[i].service, service) == 0
            && hg_proc_down (&c->procs[i], 300, why, sizeof (why))) {
            fprintf (stderr, "%s: %s is down: %s%s%s\n", command, c->procs[i].name, why,
                     needed_by ? "; " : "", needed_by ? needed_by : "");
            down++;
        }
    }
    return down ? -1 : 0;
}

/* ---- query count -------------------------------------------------------- */

static int
s_cmp_double (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

/* Prints a count's answer: one JSON object, or a line. codes as given, the
 * first the count's; lat_ms[0..repeat) the --repeat timings (sorted here). */
static void
s_query_print (const Hourglass__CountResult *count, bool json, const char *const *codes,
               size_t n_codes, double *lat_ms, int repeat)
{
    bool cohort = n_codes > 1;
    const char *code = codes[0];
    if (json) {
        if (count->suppressed) {
            printf ("{\"patients\": null, \"records\": null, \"suppressed\": true}\n");
        }
        else {
            printf ("{\"patients\": %llu, ", (unsigned long long) count->patients);
            if (cohort) {
                printf ("\"records\": null, \"suppressed\": false, \"codes\": %zu", n_codes);
            }
            else {
                printf ("\"records\": %llu, \"suppressed\": false",
                        (unsigned long long) count->records);
            }
            if (repeat > 1) {
                qsort (lat_ms, (size_t) repeat, sizeof (*lat_ms), s_cmp_double);
                printf (", \"latency_ms\": {\"n\": %d, \"p50\": %.3f, \"p99\": %.3f, "
                        "\"max\": %.3f}",
                        repeat, lat_ms[repeat / 2], lat_ms[(repeat * 99) / 100],
                        lat_ms[repeat - 1]);
            }
            printf ("}\n");
        }
    }
    else if (cohort) {
        printf ("patients with all %zu codes:", n_codes);
        for (size_t k = 0; k < n_codes; k++) {
            printf (" %s", codes[k]);
        }
        if (count->suppressed) {
            printf (": suppressed (fewer than the minimum cell size of patients)\n");
        }
        else {
            printf (": %llu patients\n", (unsigned long long) count->patients);
        }
    }
    else if (count->suppressed) {
        printf ("%s: suppressed (fewer than the minimum cell size of patients)\n", code);
    }
    else {
        printf ("%s: %llu patients, %llu records\n", code, (unsigned long long) count->patients,
                (unsigned long long) count->records);
    }
}

int
hg_cmd_query (int argc, char **argv)
{
    const char *cluster = NULL, *from = "", *to = "", *key = NULL;
    bool json = false;
    hg_cli_list_t code_list = {0};
    int repeat = 1, min_cell = -1;
    const hg_cli_opt_t opts[] = {
        HG_CLI_OPT_CLUSTER (&cluster),
        S_OPT_KEY (&key),
        HG_CLI_OPT_LIST ("--code", &code_list, "SYSTEM|CODE",
                         "the code to count; several: a cohort", HG_QUERY_CODES_MAX),
        HG_CLI_OPT_STR ("--from", &from, "YYYY-MM-DD", "records dated from"),
        HG_CLI_OPT_STR ("--to", &to, "YYYY-MM-DD", "records dated up to"),
        HG_CLI_OPT_JSON (&json),
        HG_CLI_OPT_INT ("--repeat", &repeat, "N", "run the query N times (benchmarks)", 1,
                        100000),
        HG_CLI_OPT_INT ("--min-cell", &min_cell, "N",
                        "operator only: this threshold instead of analytics' (0: exact counts)",
                        0, 1000000),
        HG_CLI_OPT_END,
    };
    const hg_cli_spec_t count = {
        .command = "hourglass query count",
        .opts = opts,
        .about =
            "SYSTEM as in FHIR, e.g. http://loinc.org|4548-4. Dates are de-identified\n"
            "(shifted per patient), as stored. Several --code: a cohort, the patients who\n"
            "carry every code (each dated in the range when one is given); its records\n"
            "are not counted. Counts of 1..min-cell patients are suppressed, others rounded\n"
            "(analytics' round_to; --min-cell 0, the operator's: exact). --repeat N runs\n"
            "the query N times and adds \"latency_ms\": {\"n\", \"p50\", \"p99\", \"max\"} to\n"
            "the JSON (benchmarks).\n",
    };
    extern const hg_cli_spec_t hg_query_run_spec;
    const hg_cli_spec_t *const verbs[] = {&count, &hg_query_run_spec, NULL};
    const hg_cli_spec_t *verb;
    int status = hg_cli_verb ("hourglass query", argc, argv, verbs, &verb);
    if (status < 0 && verb == &hg_query_run_spec) {
        return hg_query_run (argc, argv);
    }
    hg_cli_args_t args;
    if (status >= 0 || hg_cli_parse (verb, argc, argv, 2, &args, &status) < 0) {
        return status;
    }
    const char *codes[HG_QUERY_CODES_MAX] = {NULL};
    size_t n_codes = code_list.n;
    memcpy (codes, code_list.v, n_codes * sizeof (*codes));
    hg_cli_list_free (&code_list);
    /* each --code split at its last '|': the first is the count's code, the
     * others make it a cohort */
    char systems[HG_QUERY_CODES_MAX][1024];
    Hourglass__Coding coding[HG_QUERY_CODES_MAX], *also[HG_QUERY_CODES_MAX];
    for (size_t k = 0; k < n_codes || k == 0; k++) {
        const char *bar = codes[k] ? strrchr (codes[k], '|') : NULL;
        if (!bar || bar == codes[k] || !bar[1]) {
            fprintf (stderr, "hourglass query count: --code must be SYSTEM|CODE, e.g. "
                             "http://loinc.org|4548-4\n");
            return 2;
        }
        snprintf (systems[k], sizeof (systems[k]), "%.*s", (int) (bar - codes[k]), codes[k]);
        hourglass__coding__init (&coding[k]);
        coding[k].system = systems[k];
        coding[k].code = (char *) bar + 1;
        also[k] = &coding[k];
    }
    hg_cluster_t c;
    if (s_use_key (key, "hourglass query") < 0
        || hg_cluster_load_for (cluster, &c, "hourglass query") < 0) {
        return 1;
    }
    const char *controls[1];
    if (hg_cluster_controls (&c, "analytics", controls, 1) == 0) {
        fprintf (stderr, "hourglass query: the cluster has no analytics service\n");
        hg_cluster_free (&c);
        return 1;
    }
    /* a stopped analytics or shard fails the query at once, naming it */
    int up_a = hg_cli_check_up (&c, "analytics", NULL, "hourglass query count");
    int up_i = hg_cli_check_up (&c, "indexer", "analytics needs every shard to answer",
                                "hourglass query count");
    if (up_a < 0 || up_i < 0) {
        hg_cluster_free (&c);
        return 1;
    }
    Hourglass__CountQuery q = HOURGLASS__COUNT_QUERY__INIT;
    q.system = coding[0].system;
    q.code = coding[0].code;
    q.from = (char *) from;
    q.to = (char *) to;
    q.n_also = n_codes - 1;
    q.also = also + 1;
    Hourglass__ControlRequest req = HOURGLASS__CONTROL_REQUEST__INIT;
    req.kind = HOURGLASS__CONTROL_REQUEST__KIND__COUNT;
    req.count = &q;
    Hourglass__Threshold threshold = HOURGLASS__THRESHOLD__INIT;
    threshold.min_cell = (uint32_t) min_cell;
    req.threshold = min_cell >= 0 ? &threshold : NULL;
    void *zctx = zmq_ctx_new ();
    Hourglass__ControlReply *rep = NULL;
    hg_err_t err;
    status = 0;
    /* --repeat N: the same query N times, timed in-process (benchmarks) */
    double *lat_ms = calloc ((size_t) repeat, sizeof (*lat_ms));
    int rc = 0;
    for (int k = 0; k < repeat && rc == 0; k++) {
        if (rep) {
            hourglass__control_reply__free_unpacked (rep, NULL);
            rep = NULL;
        }
        uint64_t t0 = hg_wall_us ();
        rc = hg_control_call (zctx, controls[0], &req, 30000, &rep, &err);
        lat_ms[k] = (double) (hg_wall_us () - t0) / 1000.0;
    }
    if (rc < 0) {
        fprintf (stderr, "hourglass query count: %s\n", err.msg);
        status = 1;
    }
    else if (!rep->ok || !rep->count) {
        fprintf (stderr, "hourglass query count: %s\n", rep->error);
        status = 1;
    }
    else {
        s_query_print (rep->count, json, codes, n_codes, lat_ms, repeat);
    }
    if (rep) {
        hourglass__control_reply__free_unpacked (rep, NULL);
    }
    free (lat_ms);
    zmq_ctx_term (zctx);
    hg_cluster_free (&c);
    return status;
}

/* ---- quarantine list ---------------------------------------------------- */

int
hg_cmd_quarantine (int argc, char **argv)
{
    const char *cluster = NULL, *key = NULL;
    bool json = false;
    int limit = 1000;
    const hg_cli_opt_t opts[] = {
        HG_CLI_OPT_CLUSTER (&cluster),
        S_OPT_KEY (&key),
        HG_CLI_OPT_INT ("--limit", &limit, "N", "at most N entries per service (default 1000)", 0,
                        1000000000),
        HG_CLI_OPT_JSON (&json),
        HG_CLI_OPT_END,
    };
    const hg_cli_spec_t list = {
        .command = "hourglass quarantine list",
        .opts = opts,
        .about = "Rejected input and why, from the cleansers and deid.\n",
    };
    if (argc >= 2 && strcmp (argv[1], "replay") == 0) {
        return hg_cmd_quarantine_replay (argc, argv);
    }
    const hg_cli_spec_t replay = {.command = "hourglass quarantine replay",
                                  .about =
                                      "Runs kept payloads again through today's cleanser; its "
                                      "options: hourglass quarantine replay --help.\n"};
    const hg_cli_spec_t *const verbs[] = {&list, &replay, NULL};
    const hg_cli_spec_t *verb;
    int status = hg_cli_verb ("hourglass quarantine", argc, argv, verbs, &verb);
    hg_cli_args_t args;
    if (status >= 0 || hg_cli_parse (verb, argc, argv, 2, &args, &status) < 0) {
        return status;
    }
    hg_cluster_t c;
    if (s_use_key (key, "hourglass quarantine") < 0
        || hg_cluster_load_for (cluster, &c, "hourglass quarantine") < 0) {
        return 1;
    }
    void *zctx = zmq_ctx_new ();
    status = 0;
    size_t shown = 0;
    if (json) {
        printf ("{\"entries\": [");
    }
    /* stages that quarantine: the cleanser (parse errors) and deid (records
     * that could not be de-identified; reasons only). A message handed out
     * again after its upstream crashed may reach another replica of the
     * stage, whose de-dup markers are its own: both then quarantine it. It
     * is listed once (one entry per stage, message, location and reason). */
    hg_strset_t *seen = hg_strset_new ();
    for (int i = 0; i < c.n_procs; i++) {
        if (strcmp (c.procs[i].service, "cleanser") != 0
            && strcmp (c.procs[i].service, "deid") != 0) {
            continue;
        }
        Hourglass__ControlRequest req = HOURGLASS__CONTROL_REQUEST__INIT;
        req.kind = HOURGLASS__CONTROL_REQUEST__KIND__QUARANTINE_LIST;
        req.limit = (unsigned) limit;
        Hourglass__ControlReply *rep = NULL;
        hg_err_t err;
        if (hg_control_call (zctx, c.procs[i].control, &req, 10000, &rep, &err) < 0 || !rep->ok) {
            fprintf (stderr, "hourglass quarantine list: %s: %s\n", c.procs[i].name,
                     rep ? rep->error : err.msg);
            status = 1;
            if (rep) {
                hourglass__control_reply__free_unpacked (rep, NULL);
            }
            continue;
        }
        for (size_t k = 0; k < rep->n_quarantine; k++) {
            Hourglass__QuarantineEntry *q = rep->quarantine[k];
            char id[4096];
            int idl = snprintf (id, sizeof (id), "%s%c%s%c%s%c%s", c.procs[i].service, 0,
                                q->message_id, 0, q->location, 0, q->reason);
            size_t idn = idl < (int) sizeof (id) ? (size_t) idl : sizeof (id) - 1;
            if (seen && hg_strset_has (seen, id, idn)) {
                continue;
            }
            if (seen) {
                hg_strset_add (seen, id, idn);
            }
            if (json) {
                printf ("%s{\"service\": \"%s\", \"instance\": \"%s\", \"message_id\": ",
                        shown ? ", " : "", c.procs[i].service, c.procs[i].name);
                s_json_str (q->message_id);
                printf (", \"partner\": ");
                s_json_str (q->partner);
                printf (", \"format\": ");
                s_json_str (q->format);
                printf (", \"location\": ");
                s_json_str (q->location);
                printf (", \"reason\": ");
                s_json_str (q->reason);
                printf (", \"excerpt\": ");
                hg_json_print_string ((const char *) q->excerpt.data, q->excerpt.len);
                printf (", \"payload_bytes\": %llu, \"at_us\": %llu}",
                        (unsigned long long) q->payload_bytes, (unsigned long long) q->at_us);
            }
            else {
                printf ("%s  %s\n    at %s: %s\n", c.procs[i].name, q->message_id, q->location,
                        q->reason);
            }
            shown++;
        }
        hourglass__control_reply__free_unpacked (rep, NULL);
    }
    hg_strset_destroy (&seen);
    if (json) {
        printf ("], \"count\": %zu}\n", shown);
    }
    else {
        printf ("%zu quarantined\n", shown);
    }
    zmq_ctx_term (zctx);
    hg_cluster_free (&c);
    return status;
}

/* ---- health --------------------------------------------------------------- */

int
hg_cmd_health (int argc, char **argv)
{
    int timeout_ms = 2000;
    const char *key = NULL, *server_key = NULL, *cluster = NULL;
    const hg_cli_opt_t opts[] = {
        HG_CLI_OPT_INT ("--timeout-ms", &timeout_ms, "N", "wait this long for the answer (2000)",
                        1, 3600000),
        HG_CLI_OPT_STR ("--cluster", &cluster, "DIR",
                        "take the server's key and the operator key from DIR/cluster.json"),
        HG_CLI_OPT_STR ("--key", &key, "FILE",
                        "CurveZMQ key pair (role operator or health in the service's "
                        "control_allow), with --server-key"),
        HG_CLI_OPT_STR ("--server-key", &server_key, "PUB|Z85",
                        "the service's public key: its control socket is CurveZMQ"),
        HG_CLI_OPT_END,
    };
    const hg_cli_spec_t spec = {
        .command = "hourglass health",
        .args = "ENDPOINT",
        .min_args = 1,
        .max_args = 1,
        .opts = opts,
        .about = "Asks one service's control endpoint for HEALTH; exit 0 when it answers\n"
                 "healthy (for container healthchecks). Without --key and --server-key,\n"
                 "HOURGLASS_HEALTH_KEY and HOURGLASS_HEALTH_SERVER_KEY give them.\n",
    };
    hg_cli_args_t args;
    int status;
    if (hg_cli_parse (&spec, argc, argv, 1, &args, &status) < 0) {
        return status;
    }
    char endpoint[256];
    snprintf (endpoint, sizeof (endpoint), "%s", args.v[0]);
    hg_cli_args_free (&args);
    hg_err_t err = {0};
    /* a container healthcheck's command is the same whether the deployment
     * is CurveZMQ or not (Swarm appends, not replaces, an overlay's test
     * list): the keys may come from the environment */
    if (!key && getenv ("HOURGLASS_HEALTH_KEY") && *getenv ("HOURGLASS_HEALTH_KEY")) {
        key = getenv ("HOURGLASS_HEALTH_KEY");
    }
    if (!server_key && getenv ("HOURGLASS_HEALTH_SERVER_KEY")
        && *getenv ("HOURGLASS_HEALTH_SERVER_KEY")) {
        server_key = getenv ("HOURGLASS_HEALTH_SERVER_KEY");
    }
    if (s_use_key (key, "hourglass health") < 0) {
        return 1;
    }
    if (cluster) {
        hg_cluster_t c;
        if (hg_cluster_load_for (cluster, &c, "hourglass health") < 0) {
            return 1;
        }
        hg_cluster_free (&c);
    }
    if (server_key && hg_control_server_key (endpoint, server_key, &err) < 0) {
        fprintf (stderr, "hourglass health: %s\n", err.msg);
        return 1;
    }
    Hourglass__ControlRequest req = HOURGLASS__CONTROL_REQUEST__INIT;
    req.kind = HOURGLASS__CONTROL_REQUEST__KIND__HEALTH;
    void *zctx = zmq_ctx_new ();
    Hourglass__ControlReply *rep = NULL;
    status = 1;
    if (hg_control_call (zctx, endpoint, &req, timeout_ms, &rep, &err) < 0) {
        fprintf (stderr, "hourglass health: %s\n", err.msg);
    }
    else if (rep->ok) {
        /* alive; a reason is what it is waiting for (a full disk: refusing work) */
        printf ("%s %s healthy (pid %llu)%s%s\n", rep->service, rep->instance,
                (unsigned long long) rep->pid,
                rep->error && *rep->error ? "; refusing work: " : "",
                rep->error ? rep->error : "");
        status = 0;
    }
    else {
        fprintf (stderr, "hourglass health: %s\n", rep->error);
    }
    if (rep) {
        hourglass__control_reply__free_unpacked (rep, NULL);
    }
    zmq_ctx_term (zctx);
    return status;
}

/* ---- keygen --------------------------------------------------------------- */

int
hg_cmd_keygen (int argc, char **argv)
{
    const char *prefix = NULL;
    const hg_cli_opt_t opts[] = {
        HG_CLI_OPT_REQUIRED ("--out", &prefix, "PREFIX", "write PREFIX.key and PREFIX.pub"),
        HG_CLI_OPT_END,
    };
    const hg_cli_spec_t spec = {
        .command = "hourglass keygen",
        .opts = opts,
        .about = "Writes a CurveZMQ key pair: PREFIX.key (mode 0600, keep secret) and "
                 "PREFIX.pub.\n",
    };
    hg_cli_args_t args;
    int status;
    if (hg_cli_parse (&spec, argc, argv, 1, &args, &status) < 0) {
        return status;
    }
    hg_curve_keypair_t kp;
    hg_err_t err = {0};
    if (hg_curve_keygen (prefix, &kp, &err) < 0) {
        fprintf (stderr, "hourglass keygen: %s\n", err.msg);
        return 1;
    }
    printf ("%s.key (secret) and %s.pub: %s\n", prefix, prefix, kp.public_z85);
    sodium_memzero (&kp, sizeof (kp));
    return 0;
}
