/*
 * cluster.c -- `hourglass cluster up|down|status`: a local cluster of every
 * service as processes on loopback, state and logs under one directory,
 * endpoints recorded in DIR/cluster.json for the other commands.
 *
 * `up` is idempotent: on an existing directory it restarts, with the same
 * ports and arguments, only the processes that are not running (which is
 * how tests restart a service they killed).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>
#include <sodium.h>
#include <zmq.h>

#include "cli.h"
#include "control.h"
#include "curve.h"
#include "http_tokens.h"
#include "opts.h"
#include "util.h"

/* ---- processes ---------------------------------------------------------- */

/* True when pid runs one of our service binaries (guards against pid reuse). */
static bool
s_alive (int pid)
{
    return hg_proc_running (pid);
}

/* Ports handed out in this layout: the kernel may return a probed port
 * again once its probe socket is closed, so each is checked against these. */
static int s_assigned[4 * HG_CLI_MAX_SERVICES];
static size_t s_n_assigned;

/* A port that is free now, picked at random below the kernel's ephemeral
 * range (32768-60999 by default): a port from that range can be taken by any
 * outgoing connection between the probe and the service's bind (a service
 * restarted by `cluster up` then fails with "Address already in use"). */
static int
s_probe_port (void)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    int port = 20000 + (int) randombytes_uniform (32768 - 20000);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons ((uint16_t) port),
                               .sin_addr.s_addr = htonl (INADDR_LOOPBACK)};
    if (fd < 0 || bind (fd, (struct sockaddr *) &addr, sizeof (addr)) != 0) {
        port = -1;
    }
    if (fd >= 0) {
        close (fd);
    }
    return port;
}

/* A free loopback port not yet given to another service of this layout. */
static int
s_free_port (void)
{
    for (int attempt = 0; attempt < 1000; attempt++) {
        int port = s_probe_port ();
        bool taken = port < 0;
        for (size_t i = 0; !taken && i < s_n_assigned; i++) {
            taken = s_assigned[i] == port;
        }
        if (!taken) {
            if (s_n_assigned < sizeof (s_assigned) / sizeof (s_assigned[0])) {
                s_assigned[s_n_assigned++] = port;
            }
            return port;
        }
    }
    return -1;
}

static void
s_endpoint (char *out, size_t size)
{
    snprintf (out, size, "tcp://127.0.0.1:%d", s_free_port ());
}

static void
s_arg (hg_proc_t *p, const char *flag, const char *value)
{
    if (p->argc + 3 <= HG_CLI_MAX_ARGS) { /* two more and the NULL end */
        p->argv[p->argc++] = strdup (flag);
        p->argv[p->argc++] = strdup (value);
    }
}

static hg_proc_t *
s_add_proc (hg_cluster_t *c, const char *service, int index, const char *common_flags[][2],
            int n_common)
{
    hg_proc_t *p = &c->procs[c->n_procs++];
    memset (p, 0, sizeof (*p));
    snprintf (p->service, sizeof (p->service), "%s", service);
    snprintf (p->name, sizeof (p->name), "%s-%d", service, index);
    s_endpoint (p->control, sizeof (p->control));
    char dir[PATH_MAX];
    snprintf (dir, sizeof (dir), "%s/data/%s", c->dir, p->name);
    if (strcmp (service, "cleanser") == 0 || strcmp (service, "deid") == 0) {
        /* replicas: each claims a slot of DIR/data (so normally cleanser-<index>),
         * and adopts the outbox of one that died and is not restarted */
        char slot[16];
        snprintf (dir, sizeof (dir), "%s/data", c->dir);
        snprintf (slot, sizeof (slot), "%d", index);
        s_arg (p, "--name", service);
        s_arg (p, "--slots", "16");
        s_arg (p, "--slot", slot);
    }
    else {
        s_arg (p, "--name", p->name);
    }
    s_arg (p, "--data-dir", dir);
    s_arg (p, "--control", p->control);
    /* metrics and health on loopback, one port per instance */
    char listen[32];
    snprintf (listen, sizeof (listen), "127.0.0.1:%d", s_free_port ());
    snprintf (p->metrics, sizeof (p->metrics), "http://%s", listen);
    s_arg (p, "--metrics", listen);
    for (int i = 0; i < n_common; i++) {
        s_arg (p, common_flags[i][0], common_flags[i][1]);
    }
    return p;
}

typedef struct {
    int cleansers, deids, shards, min_cell, heartbeat_ms;
    const char *compression;
    const char *sync;
    bool secure;                  /* CurveZMQ on every link and on partner ingest */
    int partner_rate;             /* collector quota, batches/s per partner (0: none) */
    const char *http_tokens;      /* bearer-token file: enables FHIR over HTTP */
    const char *http_tls[2];      /* --http-tls-cert, --http-tls-key (with http_tokens) */
    const char *analytics_tls[2]; /* --analytics-tls-cert, --analytics-tls-key */
} layout_t;

/* With --secure: a key pair per instance (DIR/keys/<name>.key/.pub). */
static int
s_keygen_proc (const hg_cluster_t *c, const hg_proc_t *p, hg_err_t *err)
{
    char prefix[4096];
    snprintf (prefix, sizeof (prefix), "%s/keys/%s", c->dir, p->name);
    hg_curve_keypair_t kp;
    return hg_curve_keygen (prefix, &kp, err);
}

/* Writes an allow-list of the named instances' public keys. */
static int
s_allow_list (const hg_cluster_t *c, const char *file, const char *service, hg_err_t *err)
{
    char path[4096], text[16384] = "# public keys allowed to connect: <z85> <instance>\n";
    snprintf (path, sizeof (path), "%s/keys/%s", c->dir, file);
    for (int i = 0; i < c->n_procs; i++) {
        if (strcmp (c->procs[i].service, service) != 0) {
            continue;
        }
        char pub[4096], z85[HG_CURVE_Z85_LEN + 1];
        snprintf (pub, sizeof (pub), "%s/keys/%s.pub", c->dir, c->procs[i].name);
        if (hg_curve_load_public (pub, z85, err) < 0) {
            return err->code;
        }
        size_t len = strlen (text);
        snprintf (text + len, sizeof (text) - len, "%s %s\n", z85, c->procs[i].name);
    }
    return hg_write_file_atomic (path, text, strlen (text), 0644, err);
}

/* The control plane of a secure cluster: the operator key pair the CLI
 * uses (DIR/keys/operator.key), and DIR/keys/control.allow, which every
 * control socket is given: the operator, and each analytics instance (the
 * indexers answer counts to it alone, control_acl.h). */
static int
s_secure_control (hg_cluster_t *c, hg_err_t *err)
{
    char prefix[4096], text[16384];
    hg_curve_keypair_t kp;
    snprintf (prefix, sizeof (prefix), "%.2000s/keys/operator", c->dir);
    if (hg_curve_keygen (prefix, &kp, err) < 0) {
        return err->code;
    }
    snprintf (c->operator_key, sizeof (c->operator_key), "%.2000s.key", prefix);
    int len = snprintf (text, sizeof (text),
                        "# keys the control sockets answer: <z85> <role>:<name>\n"
                        "%s operator:operator\n",
                        kp.public_z85);
    sodium_memzero (&kp, sizeof (kp));
    for (int i = 0; i < c->n_procs; i++) {
        hg_proc_t *p = &c->procs[i];
        char pub[4096];
        snprintf (pub, sizeof (pub), "%.2000s/keys/%s.pub", c->dir, p->name);
        snprintf (p->control_key, sizeof (p->control_key), "%.2090s", pub);
        char z85[HG_CURVE_Z85_LEN + 1];
        /* analytics asks the indexers; the collector asks the cleansers for
         * MLLP verdicts */
        const char *role = strcmp (p->service, "analytics") == 0   ? "analytics"
                           : strcmp (p->service, "collector") == 0 ? "collector"
                                                                   : NULL;
        if (role) {
            if (hg_curve_load_public (p->control_key, z85, err) < 0) {
                return err->code;
            }
            len += snprintf (text + len, sizeof (text) - (size_t) len, "%s %s:%s\n", z85, role,
                             p->name);
        }
    }
    char path[4096], indexer_keys[8192] = "";
    snprintf (path, sizeof (path), "%.2000s/keys/control.allow", c->dir);
    if (hg_write_file_atomic (path, text, (size_t) len, 0644, err) < 0) {
        return err->code;
    }
    char cleanser_keys[8192] = "";
    for (int i = 0; i < c->n_procs; i++) {
        const char *svc = c->procs[i].service;
        char *list = strcmp (svc, "indexer") == 0    ? indexer_keys
                     : strcmp (svc, "cleanser") == 0 ? cleanser_keys
                                                     : NULL;
        if (list) {
            size_t n = strlen (list);
            snprintf (list + n, sizeof (indexer_keys) - n, "%s%s", n ? "," : "",
                      c->procs[i].control_key);
        }
    }
    for (int i = 0; i < c->n_procs; i++) {
        s_arg (&c->procs[i], "--control-allow", path);
        if (strcmp (c->procs[i].service, "analytics") == 0) {
            s_arg (&c->procs[i], "--indexer-keys", indexer_keys);
        }
        if (strcmp (c->procs[i].service, "collector") == 0) {
            s_arg (&c->procs[i], "--mllp-verdict-keys", cleanser_keys);
        }
    }
    return 0;
}

/* Secures a laid-out cluster: keys, allow-lists, and the flags that use them. */
static int
s_secure (hg_cluster_t *c, hg_err_t *err)
{
    for (int i = 0; i < c->n_procs; i++) {
        if (s_keygen_proc (c, &c->procs[i], err) < 0) {
            return err->code;
        }
    }
    if (s_secure_control (c, err) < 0) {
        return err->code;
    }
    static const char *chain[][2] = {{"collector", "cleanser"},
                                     {"cleanser", "deid"},
                                     {"deid", "indexer"}};
    for (int k = 0; k < 3; k++) {
        char file[64];
        snprintf (file, sizeof (file), "%s.allow", chain[k][0]);
        if (s_allow_list (c, file, chain[k][1], err) < 0) {
            return err->code;
        }
    }
    char partners[4096];
    snprintf (partners, sizeof (partners), "%s/keys/partners.allow", c->dir);
    if (access (partners, F_OK) != 0
        && hg_write_file_atomic (partners, "# partner public keys: <z85> <partner>\n", 39, 0644,
                                 err)
               < 0) {
        return err->code;
    }
    for (int i = 0; i < c->n_procs; i++) {
        hg_proc_t *p = &c->procs[i];
        char path[4096], upstream_keys[8192] = "";
        snprintf (path, sizeof (path), "%s/keys/%s.key", c->dir, p->name);
        s_arg (p, "--curve-key", path);
        for (int k = 0; k < 3; k++) {
            if (strcmp (p->service, chain[k][0]) == 0) {
                snprintf (path, sizeof (path), "%s/keys/%s.allow", c->dir, chain[k][0]);
                s_arg (p, "--curve-allow", path);
            }
            if (strcmp (p->service, chain[k][1]) == 0) {
                for (int j = 0; j < c->n_procs; j++) {
                    if (strcmp (c->procs[j].service, chain[k][0]) == 0) {
                        size_t len = strlen (upstream_keys);
                        snprintf (upstream_keys + len, sizeof (upstream_keys) - len,
                                  "%s%s/keys/%s.pub", len ? "," : "", c->dir, c->procs[j].name);
                    }
                }
                s_arg (p, "--upstream-key", upstream_keys);
            }
        }
        if (strcmp (p->service, "collector") == 0) {
            s_arg (p, "--partners", partners);
            snprintf (c->ingest_key, sizeof (c->ingest_key), "%.2000s/keys/%s.pub", c->dir,
                      p->name);
        }
    }
    return 0;
}

/* The analysts' API of analytics: its port, the tokens file add-analyst
 * writes (DIR/keys/analysts), HTTPS when asked; cluster.json's
 * analytics_http. */
static void
s_layout_api (hg_cluster_t *c, const layout_t *l, hg_proc_t *p)
{
    char listen[64], path[PATH_MAX];
    snprintf (listen, sizeof (listen), "127.0.0.1:%d", s_free_port ());
    snprintf (path, sizeof (path), "%.2000s/keys/analysts", c->dir);
    s_arg (p, "--http", listen);
    s_arg (p, "--http-tokens", path);
    const char *flags[2] = {"--analytics-tls-cert", "--analytics-tls-key"};
    for (int i = 0; i < 2; i++) {
        if (l->analytics_tls[i]) {
            const char *abs = realpath (l->analytics_tls[i], path);
            s_arg (p, flags[i], abs ? abs : l->analytics_tls[i]);
        }
    }
    snprintf (c->analytics_http, sizeof (c->analytics_http), "%s://%s",
              l->analytics_tls[0] ? "https" : "http", listen);
}

/* Lays out a new cluster: ports, data directories, arguments. */
static void
s_layout (hg_cluster_t *c, const layout_t *l)
{
    char hb[32], fp_key[PATH_MAX];
    snprintf (hb, sizeof (hb), "%d", l->heartbeat_ms);
    /* one key for every service's log fingerprints (hourglass fingerprint) */
    snprintf (fp_key, sizeof (fp_key), "%.2000s/keys/fingerprint.key", c->dir);
    const char *common[][2] = {{"--compression", l->compression},
                               {"--sync", l->sync},
                               {"--heartbeat-ms", hb},
                               {"--fingerprint-key", fp_key}};
    int nc = 4;
    char collector_deliver[128], cleanser_delivers[2048] = "", deid_delivers[2048] = "",
                                 indexer_controls[2048] = "";
    s_endpoint (c->ingest, sizeof (c->ingest));
    s_endpoint (collector_deliver, sizeof (collector_deliver));
    hg_proc_t *p = s_add_proc (c, "collector", 0, common, nc);
    s_arg (p, "--ingest", c->ingest);
    snprintf (c->mllp, sizeof (c->mllp), "127.0.0.1:%d", s_free_port ());
    s_arg (p, "--mllp", c->mllp);
    if (l->http_tokens) {
        char tokens[4096];
        if (realpath (l->http_tokens, tokens) == NULL) {
            snprintf (tokens, sizeof (tokens), "%s", l->http_tokens);
        }
        snprintf (c->http, sizeof (c->http), "127.0.0.1:%d", s_free_port ());
        s_arg (p, "--http", c->http);
        s_arg (p, "--http-tokens", tokens);
        const char *tls_flags[2] = {"--http-tls-cert", "--http-tls-key"};
        for (int i = 0; i < 2; i++) {
            if (l->http_tls[i]) {
                const char *abs = realpath (l->http_tls[i], tokens);
                s_arg (p, tls_flags[i], abs ? abs : l->http_tls[i]);
            }
        }
    }
    if (l->partner_rate > 0) {
        char rate[16];
        snprintf (rate, sizeof (rate), "%d", l->partner_rate);
        s_arg (p, "--partner-rate", rate);
    }
    s_arg (p, "--deliver", collector_deliver);
    for (int i = 0; i < l->cleansers; i++) {
        char ep[128];
        s_endpoint (ep, sizeof (ep));
        p = s_add_proc (c, "cleanser", i, common, nc);
        char mappings[4096];
        snprintf (mappings, sizeof (mappings), "%.2000s/mappings", c->dir);
        s_arg (p, "--csv-mappings", mappings);
        s_arg (p, "--upstream", collector_deliver);
        s_arg (p, "--deliver", ep);
        snprintf (cleanser_delivers + strlen (cleanser_delivers),
                  sizeof (cleanser_delivers) - strlen (cleanser_delivers), "%s%s", i ? "," : "",
                  ep);
    }
    /* the collector asks the cleansers for the verdict an MLLP ACK reports */
    char cleanser_controls[2048] = "";
    for (int i = 0; i < c->n_procs; i++) {
        if (strcmp (c->procs[i].service, "cleanser") == 0) {
            size_t len = strlen (cleanser_controls);
            snprintf (cleanser_controls + len, sizeof (cleanser_controls) - len, "%s%s",
                      len ? "," : "", c->procs[i].control);
        }
    }
    s_arg (&c->procs[0], "--mllp-verdict-from", cleanser_controls);
    char key_file[PATH_MAX], shards[16];
    snprintf (key_file, sizeof (key_file), "%s/keys/deid.key", c->dir);
    snprintf (shards, sizeof (shards), "%d", l->shards);
    for (int i = 0; i < l->deids; i++) {
        char ep[128];
        s_endpoint (ep, sizeof (ep));
        p = s_add_proc (c, "deid", i, common, nc);
        s_arg (p, "--upstream", cleanser_delivers);
        s_arg (p, "--deliver", ep);
        s_arg (p, "--key-file", key_file);
        s_arg (p, "--indexer-shards", shards);
        snprintf (deid_delivers + strlen (deid_delivers),
                  sizeof (deid_delivers) - strlen (deid_delivers), "%s%s", i ? "," : "", ep);
    }
    for (int i = 0; i < l->shards; i++) {
        char shard[16];
        snprintf (shard, sizeof (shard), "%d", i);
        p = s_add_proc (c, "indexer", i, common, nc);
        s_arg (p, "--upstream", deid_delivers);
        s_arg (p, "--shard", shard);
        s_arg (p, "--shards", shards);
        snprintf (indexer_controls + strlen (indexer_controls),
                  sizeof (indexer_controls) - strlen (indexer_controls), "%s%s", i ? "," : "",
                  p->control);
    }
    char min_cell[16];
    snprintf (min_cell, sizeof (min_cell), "%d", l->min_cell);
    p = s_add_proc (c, "analytics", 0, common, nc);
    s_arg (p, "--indexers", indexer_controls);
    s_arg (p, "--min-cell", min_cell);
    s_layout_api (c, l, p);
}

static void
s_bin_dir (char *out, size_t size)
{
    const char *env = getenv ("HOURGLASS_BIN_DIR");
    if (env && *env) {
        snprintf (out, size, "%s", env);
        return;
    }
    char dir[PATH_MAX] = "";
    hg_cli_exe_dir (1, dir, sizeof (dir));
    snprintf (out, size, "%.2000s", dir);
}

static int
s_spawn (const hg_cluster_t *c, hg_proc_t *p, hg_err_t *err)
{
    char bin_dir[2048], bin[PATH_MAX], log[PATH_MAX];
    s_bin_dir (bin_dir, sizeof (bin_dir));
    snprintf (bin, sizeof (bin), "%.2000s/hourglass-%s", bin_dir, p->service);
    snprintf (log, sizeof (log), "%s/logs/%s.log", c->dir, p->name);
    if (access (bin, X_OK) < 0) {
        return hg_err_set (err, HG_ENOTFOUND,
                           "service binary %s not found (build first, or "
                           "set HOURGLASS_BIN_DIR)",
                           bin);
    }
    pid_t pid = fork ();
    if (pid < 0) {
        return hg_err_set (err, HG_EIO, "fork failed: %s", strerror (errno));
    }
    if (pid == 0) {
        setsid ();
        int fd = open (log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        int devnull = open ("/dev/null", O_RDONLY);
        if (fd >= 0) {
            dup2 (fd, 1);
            dup2 (fd, 2);
        }
        if (devnull >= 0) {
            dup2 (devnull, 0);
        }
        char *argv[HG_CLI_MAX_ARGS + 2];
        argv[0] = bin;
        for (int i = 0; i < p->argc; i++) {
            argv[i + 1] = p->argv[i];
        }
        argv[p->argc + 1] = NULL;
        execv (bin, argv);
        _exit (127);
    }
    p->pid = pid;
    return 0;
}

/* Health of one instance: 1 healthy, 0 not answering. */
static int
s_health (void *zctx, const hg_proc_t *p, int timeout_ms)
{
    Hourglass__ControlRequest req = HOURGLASS__CONTROL_REQUEST__INIT;
    req.kind = HOURGLASS__CONTROL_REQUEST__KIND__HEALTH;
    Hourglass__ControlReply *rep = NULL;
    hg_err_t err;
    int ok = hg_control_call (zctx, p->control, &req, timeout_ms, &rep, &err) == 0 && rep->ok
             && (int) rep->pid == p->pid;
    if (rep) {
        hourglass__control_reply__free_unpacked (rep, NULL);
    }
    return ok;
}

/* One counter of an instance (0 when it does not answer). */
static uint64_t
s_counter (void *zctx, const hg_proc_t *p, const char *name)
{
    Hourglass__ControlRequest req = HOURGLASS__CONTROL_REQUEST__INIT;
    req.kind = HOURGLASS__CONTROL_REQUEST__KIND__STATS;
    Hourglass__ControlReply *rep = NULL;
    hg_err_t err;
    uint64_t v = 0;
    if (hg_control_call (zctx, p->control, &req, 1000, &rep, &err) == 0) {
        for (size_t i = 0; i < rep->n_counters; i++) {
            if (strcmp (rep->counters[i]->name, name) == 0) {
                v = rep->counters[i]->value;
            }
        }
    }
    if (rep) {
        hourglass__control_reply__free_unpacked (rep, NULL);
    }
    return v;
}

static void
s_print_log_tail (const hg_cluster_t *c, const hg_proc_t *p)
{
    char path[PATH_MAX];
    snprintf (path, sizeof (path), "%s/logs/%s.log", c->dir, p->name);
    char *data;
    size_t len;
    if (hg_read_file (path, 64 << 20, &data, &len, NULL) == 0) {
        size_t from = len > 1500 ? len - 1500 : 0;
        fprintf (stderr, "--- last lines of %s ---\n%s\n", path, data + from);
        free (data);
    }
}

/* The value of flag in p's arguments, or NULL. */
static const char *
s_proc_arg (const hg_proc_t *p, const char *flag)
{
    for (int i = 0; i + 1 < p->argc; i++) {
        if (strcmp (p->argv[i], flag) == 0) {
            return p->argv[i + 1];
        }
    }
    return NULL;
}

#define S_ANALYSTS_HEADER                                                             \
    "# analysts of the analytics API: blake2b:<hash of the token> <analyst> <role>\n" \
    "# (hourglass cluster add-analyst writes these; analytics re-reads on SIGHUP)\n"

static int
s_count (const hg_cluster_t *c, const char *service)
{
    int n = 0;
    for (int i = 0; i < c->n_procs; i++) {
        n += strcmp (c->procs[i].service, service) == 0;
    }
    return n;
}

/* Appends "--flag HAD (given WANT)" to out when an option given on this
 * command line differs from the layout of the existing cluster c. */
static void
s_differs (char *out, size_t size, const char *flag, const char *had, const char *want)
{
    if (!want || strcmp (had ? had : "", want) == 0) {
        return;
    }
    size_t len = strlen (out);
    snprintf (out + len, size - len, "%s%s %.600s (given %.600s)", len ? ", " : "", flag,
              had && *had ? had : "off", want);
}

static void
s_differs_int (char *out, size_t size, const char *flag, int had, int want)
{
    char a[16], b[16];
    snprintf (a, sizeof (a), "%d", had);
    snprintf (b, sizeof (b), "%d", want);
    s_differs (out, size, flag, a, want >= 0 ? b : NULL);
}

/* The options given (l; -1 / NULL / false: not given) that differ from how
 * the existing cluster c was laid out, as "--flag was (given x), ..." in
 * out ("" when none). A restart keeps the layout, so these would be
 * ignored. */
static void
s_layout_diff (const hg_cluster_t *c, const layout_t *l, char *out, size_t size)
{
    out[0] = '\0';
    const hg_proc_t *collector = NULL, *analytics = NULL;
    for (int i = 0; i < c->n_procs; i++) {
        if (strcmp (c->procs[i].service, "collector") == 0) {
            collector = &c->procs[i];
        }
        if (strcmp (c->procs[i].service, "analytics") == 0) {
            analytics = &c->procs[i];
        }
    }
    s_differs_int (out, size, "--cleansers", s_count (c, "cleanser"), l->cleansers);
    s_differs_int (out, size, "--deids", s_count (c, "deid"), l->deids);
    s_differs_int (out, size, "--shards", s_count (c, "indexer"), l->shards);
    if (analytics) {
        const char *mc = s_proc_arg (analytics, "--min-cell");
        s_differs_int (out, size, "--min-cell", mc ? atoi (mc) : 10, l->min_cell);
    }
    if (c->n_procs) {
        const hg_proc_t *p = &c->procs[0];
        const char *hb = s_proc_arg (p, "--heartbeat-ms");
        s_differs_int (out, size, "--heartbeat-ms", hb ? atoi (hb) : 1000, l->heartbeat_ms);
        s_differs (out, size, "--compression", s_proc_arg (p, "--compression"), l->compression);
        s_differs (out, size, "--sync", s_proc_arg (p, "--sync"), l->sync);
    }
    if (l->secure && !*c->ingest_key) {
        s_differs (out, size, "--secure", "off", "on");
    }
    if (collector) {
        const char *pr = s_proc_arg (collector, "--partner-rate");
        s_differs_int (out, size, "--partner-rate", pr ? atoi (pr) : 0, l->partner_rate);
        const char *files[3][2] = {{"--http-tokens", l->http_tokens},
                                   {"--http-tls-cert", l->http_tls[0]},
                                   {"--http-tls-key", l->http_tls[1]}};
        for (int k = 0; k < 3; k++) {
            char abs[PATH_MAX];
            const char *want = files[k][1];
            if (want && realpath (want, abs)) {
                want = abs;
            }
            s_differs (out, size, files[k][0], s_proc_arg (collector, files[k][0]), want);
        }
    }
}

/* Fills the defaults of options not given (s_layout_diff's "not given"). */
static void
s_layout_defaults (layout_t *l)
{
    l->cleansers = l->cleansers < 0 ? 1 : l->cleansers;
    l->deids = l->deids < 0 ? 1 : l->deids;
    l->shards = l->shards < 0 ? 1 : l->shards;
    l->min_cell = l->min_cell < 0 ? 10 : l->min_cell;
    l->heartbeat_ms = l->heartbeat_ms < 0 ? 1000 : l->heartbeat_ms;
    l->partner_rate = l->partner_rate < 0 ? 0 : l->partner_rate;
    l->compression = l->compression ? l->compression : "lz4";
    l->sync = l->sync ? l->sync : "true";
}

static int
s_up (const char *dir, const layout_t *given, int timeout_s)
{
    layout_t defaults = *given;
    s_layout_defaults (&defaults);
    const layout_t *l = &defaults;
    hg_err_t err = {0};
    hg_cluster_t c;
    char sub[PATH_MAX];
    bool fresh = false;
    int rc = hg_cluster_load (dir, &c, &err);
    if (rc == HG_ENOTFOUND) {
        memset (&c, 0, sizeof (c));
        snprintf (c.dir, sizeof (c.dir), "%.2000s", dir);
        fresh = true;
    }
    else if (rc < 0) {
        fprintf (stderr, "hourglass cluster up: %s\n", err.msg);
        return 1;
    }
    const char *subs[] = {"", "/logs", "/data", "/keys", "/mappings"};
    for (int i = 0; i < 5; i++) {
        snprintf (sub, sizeof (sub), "%s%s", dir, subs[i]);
        if (hg_mkdirs (sub, i == 3 ? 0700 : 0755, &err) < 0) {
            fprintf (stderr, "hourglass cluster up: %s\n", err.msg);
            return 1;
        }
    }
    if (!fresh) {
        /* a restart keeps the layout: options that would change it are not
         * ignored in silence */
        char diff[2048];
        s_layout_diff (&c, given, diff, sizeof (diff));
        if (*diff) {
            fprintf (stderr,
                     "hourglass cluster up: %s already holds a cluster laid out with other "
                     "options, which a restart does not change: %s. Nothing was started. Run "
                     "`hourglass cluster up --dir %s` without them to start it as it is, or "
                     "lay it out anew: hourglass cluster down --dir %s, remove the directory "
                     "(its data too), and cluster up with the new options.\n",
                     dir, diff, dir, dir);
            hg_cluster_free (&c);
            return 1;
        }
    }
    snprintf (sub, sizeof (sub), "%s/keys/analysts", dir);
    if (access (sub, F_OK) != 0
        && hg_write_file_atomic (sub, S_ANALYSTS_HEADER, strlen (S_ANALYSTS_HEADER), 0600, &err)
               < 0) {
        fprintf (stderr, "hourglass cluster up: %s\n", err.msg);
        return 1;
    }
    if (fresh) {
        s_layout (&c, l);
        if (l->secure && (s_secure (&c, &err) < 0 || hg_cluster_control_auth (&c, &err) < 0)) {
            fprintf (stderr, "hourglass cluster up: %s\n", err.msg);
            hg_cluster_free (&c);
            return 1;
        }
    }
    int started = 0;
    for (int i = 0; i < c.n_procs; i++) {
        if (s_alive (c.procs[i].pid)) {
            continue;
        }
        if (s_spawn (&c, &c.procs[i], &err) < 0) {
            fprintf (stderr, "hourglass cluster up: %s\n", err.msg);
            hg_cluster_free (&c);
            return 1;
        }
        started++;
    }
    if (hg_cluster_save (&c, &err) < 0) {
        fprintf (stderr, "hourglass cluster up: %s\n", err.msg);
    }
    void *zctx = zmq_ctx_new ();
    uint64_t deadline = hg_now_ms () + (uint64_t) timeout_s * 1000u;
    int healthy = 0, status = 0;
    for (int i = 0; i < c.n_procs; i++) {
        hg_proc_t *p = &c.procs[i];
        for (;;) {
            if (s_health (zctx, p, 300)) {
                healthy++;
                break;
            }
            int wstatus;
            if (waitpid (p->pid, &wstatus, WNOHANG) == p->pid || !s_alive (p->pid)) {
                fprintf (stderr, "hourglass cluster up: %s exited during start-up\n", p->name);
                s_print_log_tail (&c, p);
                status = 1;
                break;
            }
            if (hg_now_ms () > deadline) {
                fprintf (stderr, "hourglass cluster up: %s not healthy after %d s\n", p->name,
                         timeout_s);
                s_print_log_tail (&c, p);
                status = 1;
                break;
            }
        }
        if (status) {
            break;
        }
    }
    zmq_ctx_term (zctx);
    if (status == 0) {
        printf ("cluster up: %d services healthy (%d started) in %s\n", healthy, started, dir);
    }
    hg_cluster_free (&c);
    return status;
}

static int
s_down (const char *dir)
{
    hg_err_t err = {0};
    hg_cluster_t c;
    if (hg_cluster_load (dir, &c, &err) < 0) {
        fprintf (stderr, "hourglass cluster down: %s\n", err.msg);
        return 1;
    }
    int stopped = 0;
    for (int i = 0; i < c.n_procs; i++) {
        if (s_alive (c.procs[i].pid)) {
            kill (c.procs[i].pid, SIGTERM);
        }
    }
    uint64_t deadline = hg_now_ms () + 15000;
    for (int i = 0; i < c.n_procs; i++) {
        hg_proc_t *p = &c.procs[i];
        while (s_alive (p->pid) && hg_now_ms () < deadline) {
            usleep (20000);
        }
        if (s_alive (p->pid)) {
            fprintf (stderr, "hourglass cluster down: %s ignored SIGTERM; killing it\n", p->name);
            kill (p->pid, SIGKILL);
        }
        if (p->pid > 0) {
            stopped++;
        }
        p->pid = 0;
    }
    hg_cluster_save (&c, &err);
    printf ("cluster down: %d services stopped in %s\n", stopped, dir);
    hg_cluster_free (&c);
    return 0;
}

static int
s_status (const char *dir, bool json)
{
    hg_err_t err = {0};
    hg_cluster_t c;
    if (hg_cluster_load (dir, &c, &err) < 0) {
        fprintf (stderr, "hourglass cluster status: %s\n", err.msg);
        return 1;
    }
    void *zctx = zmq_ctx_new ();
    int unhealthy = 0;
    if (json) {
        printf ("{\"dir\": ");
        hg_json_print_string (dir, strlen (dir));
        printf (", \"ingest\": \"%s\", \"services\": [", c.ingest);
    }
    for (int i = 0; i < c.n_procs; i++) {
        hg_proc_t *p = &c.procs[i];
        bool alive = s_alive (p->pid);
        bool healthy = alive && s_health (zctx, p, 1000);
        unhealthy += !healthy;
        const char *state = healthy ? "healthy" : alive ? "not-answering" : "down";
        if (json) {
            printf ("%s{\"name\": \"%s\", \"service\": \"%s\", \"pid\": %d, \"state\": \"%s\", "
                    "\"control\": \"%s\", \"metrics\": \"%s\"}",
                    i ? ", " : "", p->name, p->service, alive ? p->pid : 0, state, p->control,
                    p->metrics);
        }
        else {
            printf ("%-14s %-10s pid %-8d %-14s %s\n", p->name, p->service, alive ? p->pid : 0,
                    state, p->control);
        }
    }
    if (json) {
        printf ("], \"healthy\": %s}\n", unhealthy ? "false" : "true");
    }
    zmq_ctx_term (zctx);
    hg_cluster_free (&c);
    return unhealthy ? 1 : 0;
}

/* SIGHUP to every running instance of service, waiting (up to 10 s each)
 * until it has re-read its files (its reloads counter moved). */
static void
s_reload (const hg_cluster_t *c, const char *service)
{
    void *zctx = zmq_ctx_new ();
    for (int i = 0; i < c->n_procs; i++) {
        const hg_proc_t *p = &c->procs[i];
        if (strcmp (p->service, service) != 0 || !s_alive (p->pid)) {
            continue;
        }
        uint64_t before = s_counter (zctx, p, "reloads");
        kill (p->pid, SIGHUP);
        uint64_t deadline = hg_now_ms () + 10000;
        while (s_counter (zctx, p, "reloads") <= before && hg_now_ms () < deadline) {
            usleep (20000);
        }
    }
    zmq_ctx_term (zctx);
}

/* A partner key pair, allowed at the collector (which re-reads on SIGHUP). */
static int
s_add_partner (const char *dir, const char *name)
{
    hg_err_t err = {0};
    hg_cluster_t c;
    if (hg_cluster_load (dir, &c, &err) < 0) {
        fprintf (stderr, "hourglass cluster add-partner: %s\n", err.msg);
        return 1;
    }
    int status = 1;
    char path[4096], prefix[4096];
    hg_curve_keypair_t kp;
    snprintf (path, sizeof (path), "%.2000s/keys/partners", dir);
    snprintf (prefix, sizeof (prefix), "%.3000s/%.64s", path, name);
    if (!*c.ingest_key) {
        fprintf (stderr,
                 "hourglass cluster add-partner: the cluster in %s was not started "
                 "with --secure\n",
                 dir);
    }
    else if (strchr (name, '/') || strchr (name, ' ') || !*name) {
        fprintf (stderr, "hourglass cluster add-partner: bad partner name '%s'\n", name);
    }
    else if (hg_mkdirs (path, 0700, &err) < 0 || hg_curve_keygen (prefix, &kp, &err) < 0) {
        fprintf (stderr, "hourglass cluster add-partner: %s\n", err.msg);
    }
    else {
        snprintf (path, sizeof (path), "%s/keys/partners.allow", dir);
        FILE *f = fopen (path, "a");
        if (!f || fprintf (f, "%s %s\n", kp.public_z85, name) < 0 || fclose (f) != 0) {
            fprintf (stderr, "hourglass cluster add-partner: cannot append to %s\n", path);
        }
        else {
            /* the key works once the collector has re-read the list: wait for it */
            s_reload (&c, "collector");
            printf ("partner %s: key %s.key (give it to the partner; push with --key)\n", name,
                    prefix);
            status = 0;
        }
    }
    hg_cluster_free (&c);
    return status;
}

/* Whether the analysts file names analyst already (its second column). */
static bool
s_analyst_known (const char *path, const char *name)
{
    char *text = NULL;
    size_t len = 0;
    if (hg_read_file (path, HG_FHIR_HTTP_FILE_MAX, &text, &len, NULL) < 0) {
        return false;
    }
    bool found = false;
    char *save = NULL;
    for (char *line = strtok_r (text, "\n", &save); line && !found;
         line = strtok_r (NULL, "\n", &save)) {
        char tok[128], who[HG_FHIR_HTTP_PARTNER_MAX + 2];
        found = line[0] != '#' && sscanf (line, "%127s %129s", tok, who) == 2
                && strcmp (who, name) == 0;
    }
    free (text);
    return found;
}

static bool
s_analyst_name_ok (const char *name)
{
    size_t n = strlen (name);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char) name[i];
        if (ch <= 0x20 || ch == 0x7f || ch == '/' || ch == '#') {
            return false;
        }
    }
    return n > 0 && n <= HG_FHIR_HTTP_PARTNER_MAX;
}

/* An analyst's bearer token for the analytics API: a random token, only
 * its hash in DIR/keys/analysts, analytics made to re-read it. */
static int
s_add_analyst (const char *dir, const char *name, const char *role, bool json)
{
    hg_err_t err = {0};
    hg_cluster_t c;
    if (hg_cluster_load (dir, &c, &err) < 0) {
        fprintf (stderr, "hourglass cluster add-analyst: %s\n", err.msg);
        return 1;
    }
    int status = 1;
    char path[PATH_MAX];
    snprintf (path, sizeof (path), "%.2000s/keys/analysts", dir);
    bool role_ok = strcmp (role, "aggregate") == 0 || strcmp (role, "dp") == 0;
    if (!*c.analytics_http) {
        fprintf (stderr,
                 "hourglass cluster add-analyst: the cluster in %s has no analytics API (it was "
                 "made by an older hourglass: start a new one)\n",
                 dir);
    }
    else if (!s_analyst_name_ok (name)) {
        fprintf (stderr,
                 "hourglass cluster add-analyst: analyst name must be 1-%d characters "
                 "without spaces, '/', '#' or control characters\n",
                 HG_FHIR_HTTP_PARTNER_MAX);
    }
    else if (!role_ok) {
        fprintf (stderr, "hourglass cluster add-analyst: --role is aggregate or dp, not '%s'\n",
                 role);
    }
    else if (s_analyst_known (path, name)) {
        fprintf (stderr,
                 "hourglass cluster add-analyst: analyst '%s' exists already; pick another "
                 "name (each analyst has one token)\n",
                 name);
    }
    else {
        unsigned char raw[32];
        char token[2 * sizeof (raw) + 1], hash[HG_HTTP_HASH_TEXT_LEN + 1];
        randombytes_buf (raw, sizeof (raw));
        sodium_bin2hex (token, sizeof (token), raw, sizeof (raw));
        sodium_memzero (raw, sizeof (raw));
        hg_http_token_hash_text (token, strlen (token), hash);
        int fd = open (path, O_WRONLY | O_APPEND | O_CREAT, 0600);
        FILE *f = fd >= 0 ? fdopen (fd, "a") : NULL;
        if (!f || fprintf (f, "%s %s %s\n", hash, name, role) < 0 || fflush (f) != 0
            || fsync (fileno (f)) != 0 || fclose (f) != 0) {
            fprintf (stderr, "hourglass cluster add-analyst: cannot append to %s: %s\n", path,
                     strerror (errno));
        }
        else {
            s_reload (&c, "analytics");
            if (json) {
                printf ("{\"analyst\": ");
                hg_json_print_string (name, strlen (name));
                printf (", \"token\": \"%s\"}\n", token);
            }
            else {
                printf ("analyst %s (role %s): token %s\n(give it to the analyst: "
                        "'Authorization: Bearer <token>' at %s; it is shown only now)\n",
                        name, role, token, c.analytics_http);
            }
            status = 0;
        }
        sodium_memzero (token, sizeof (token));
    }
    hg_cluster_free (&c);
    return status;
}

/* Every cluster subcommand's directory option: --cluster as in the client
 * commands, --dir its older spelling (tests and scripts use it). */
#define HG_CLUSTER_OPT_DIR(o)                                                                   \
    {                                                                                           \
        .name = "--cluster", .type = HG_CLI_STRING, .out = (o), .metavar = "DIR",               \
        .help = "the cluster's directory ($HOURGLASS_CLUSTER, else .cluster)", .alias = "--dir" \
    }

int
hg_cmd_cluster (int argc, char **argv)
{
    const char *dir_flag = NULL;
    bool json = false;
    int timeout_s = 60;
    /* -1 / NULL: not given (a restart compares only what was given; the
     * defaults are filled in by s_up) */
    layout_t l = {.cleansers = -1,
                  .deids = -1,
                  .shards = -1,
                  .min_cell = -1,
                  .heartbeat_ms = -1,
                  .partner_rate = -1};
    const hg_cli_opt_t up_opts[] = {
        HG_CLUSTER_OPT_DIR (&dir_flag),
        HG_CLI_OPT_INT ("--cleansers", &l.cleansers, "N", "cleanser instances (1)", 1, 8),
        HG_CLI_OPT_INT ("--deids", &l.deids, "N", "deid instances (1)", 1, 8),
        HG_CLI_OPT_INT ("--shards", &l.shards, "N", "indexer shards (1)", 1, 16),
        HG_CLI_OPT_INT ("--min-cell", &l.min_cell, "N",
                        "smallest patient count analytics reports (10)", 0, 1000000),
        HG_CLI_OPT_STR ("--compression", &l.compression, "lz4|none|...",
                        "RocksDB compression (lz4)"),
        HG_CLI_OPT_STR ("--sync", &l.sync, "true|false", "fsync each commit (true)"),
        HG_CLI_OPT_INT ("--heartbeat-ms", &l.heartbeat_ms, "MS", "link heartbeat (1000)", 10,
                        3600000),
        HG_CLI_OPT_INT ("--timeout", &timeout_s, "S", "wait this long for health (60)", 1, 86400),
        HG_CLI_OPT_FLAG ("--secure", &l.secure, "CurveZMQ on every link and on partner ingest"),
        HG_CLI_OPT_INT ("--partner-rate", &l.partner_rate, "N",
                        "collector quota: batches/s per partner (0: none)", 0, 1000000),
        HG_CLI_OPT_STR ("--http-tokens", &l.http_tokens, "FILE",
                        "bearer tokens: serve FHIR over HTTP"),
        HG_CLI_OPT_STR ("--http-tls-cert", &l.http_tls[0], "PEM", "HTTPS certificate"),
        HG_CLI_OPT_STR ("--http-tls-key", &l.http_tls[1], "PEM", "HTTPS private key"),
        HG_CLI_OPT_STR ("--analytics-tls-cert", &l.analytics_tls[0], "PEM",
                        "the analytics API over HTTPS: its certificate"),
        HG_CLI_OPT_STR ("--analytics-tls-key", &l.analytics_tls[1], "PEM",
                        "the analytics API's private key"),
        HG_CLI_OPT_END,
    };
    const char *role = "aggregate";
    const hg_cli_opt_t analyst_opts[] = {
        HG_CLUSTER_OPT_DIR (&dir_flag),
        HG_CLI_OPT_STR ("--role", &role, "aggregate|dp",
                        "aggregate: suppressed counts (default); dp: differential privacy"),
        HG_CLI_OPT_JSON (&json),
        HG_CLI_OPT_END,
    };
    const hg_cli_opt_t dir_opts[] = {HG_CLUSTER_OPT_DIR (&dir_flag), HG_CLI_OPT_END};
    const hg_cli_opt_t status_opts[] = {HG_CLUSTER_OPT_DIR (&dir_flag), HG_CLI_OPT_JSON (&json),
                                        HG_CLI_OPT_END};
    const hg_cli_spec_t up = {
        .command = "hourglass cluster up",
        .opts = up_opts,
        .about = "Starts every service on loopback, state and logs under DIR; on an existing\n"
                 "DIR restarts only what is not running, with the layout it was started with\n"
                 "(options given that differ from it are an error naming them). --secure:\n"
                 "CurveZMQ on every link (a\n"
                 "key pair per instance, allow-lists per hop) and on partner ingest (partners\n"
                 "push with their own key; add-partner makes one).\n",
    };
    const hg_cli_spec_t down = {.command = "hourglass cluster down",
                                .opts = dir_opts,
                                .about = "Stops every service of the cluster.\n"};
    const hg_cli_spec_t status = {.command = "hourglass cluster status",
                                  .opts = status_opts,
                                  .about = "Each service's pid and health.\n"};
    const hg_cli_spec_t add_partner = {
        .command = "hourglass cluster add-partner",
        .args = "NAME",
        .min_args = 1,
        .max_args = 1,
        .opts = dir_opts,
        .about = "Makes a partner key pair in DIR/keys/partners/NAME.key and allows it at the\n"
                 "collector (a cluster started with --secure).\n",
    };
    const hg_cli_spec_t add_analyst = {
        .command = "hourglass cluster add-analyst",
        .args = "NAME",
        .min_args = 1,
        .max_args = 1,
        .opts = analyst_opts,
        .about =
            "Makes a bearer token for analyst NAME at the analytics API (cluster.json\n"
            "analytics_http): only its hash is kept, in DIR/keys/analysts; analytics\n"
            "re-reads it. The token is printed once ({\"analyst\", \"token\"} with --json).\n",
    };
    const hg_cli_spec_t *const verbs[] = {&up, &down, &status, &add_partner, &add_analyst, NULL};
    const hg_cli_spec_t *verb;
    int rc = hg_cli_verb ("hourglass cluster", argc, argv, verbs, &verb);
    hg_cli_args_t args;
    if (rc >= 0 || hg_cli_parse (verb, argc, argv, 2, &args, &rc) < 0) {
        return rc;
    }
    if (!l.analytics_tls[0] != !l.analytics_tls[1]) {
        hg_cli_args_free (&args);
        fprintf (stderr, "hourglass cluster: --analytics-tls-cert and --analytics-tls-key go "
                         "together\n");
        return 2;
    }
    if ((l.http_tls[0] || l.http_tls[1]) && !l.http_tokens) {
        hg_cli_args_free (&args);
        fprintf (stderr, "hourglass cluster: --http-tls-cert and --http-tls-key need "
                         "--http-tokens\n");
        return 2;
    }
    char dir[PATH_MAX];
    hg_cli_cluster_dir (dir_flag, dir, sizeof (dir));
    if (strlen (dir) > 2000) {
        hg_cli_args_free (&args);
        fprintf (stderr, "hourglass cluster: --dir is longer than 2000 bytes\n");
        return 2;
    }
    if (verb == &up) {
        rc = s_up (dir, &l, timeout_s);
    }
    else if (verb == &down) {
        rc = s_down (dir);
    }
    else if (verb == &status) {
        rc = s_status (dir, json);
    }
    else if (verb == &add_analyst) {
        rc = s_add_analyst (dir, args.v[0], role, json);
    }
    else {
        rc = s_add_partner (dir, args.v[0]);
    }
    hg_cli_args_free (&args);
    return rc;
}
