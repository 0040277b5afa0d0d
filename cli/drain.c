/*
 * drain.c -- hourglass drain: safe scale-down of a cleanser or deid replica.
 *
 * Asks the replica to drain (DRAIN control request; common/drain.c): it
 * tells every upstream to send it nothing more, commits what it holds and
 * delivers its outbox downstream. The command polls until the replica says
 * it is done (upstreams stopped, nothing in process, outbox empty), or its
 * outbox was adopted by a replica sharing its volume after it went away, or
 * --timeout. The instance is found in DIR/cluster.json, or reached directly
 * with --control (a container's preStop hook: tcp://127.0.0.1:PORT).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zmq.h>

#include "cli.h"
#include "control.h"
#include "opts.h"
#include "util.h"

#define S_POLL_MS 250
#define S_CALL_MS 2000

typedef struct {
    const char *instance; /* as asked; "" with --control and no INSTANCE */
    const char *service;  /* from cluster.json, or the first reply */
    const char *control;
    bool json, tty;
    int timeout_s;
} s_drain_t;

/* Sum of the `adopted` counters of the other instances of service, how
 * many of them are up and not drained (take the work), and how many did
 * not answer (down, or a key that may not read their stats). */
static uint64_t
s_peers (void *zctx, const hg_cluster_t *c, const char *service, const char *self, int *takers,
         int *unknown)
{
    uint64_t adopted = 0;
    *takers = 0;
    *unknown = 0;
    for (int i = 0; i < c->n_procs; i++) {
        const hg_proc_t *p = &c->procs[i];
        if (strcmp (p->service, service) != 0 || strcmp (p->name, self) == 0) {
            continue;
        }
        Hourglass__ControlRequest req = HOURGLASS__CONTROL_REQUEST__INIT;
        req.kind = HOURGLASS__CONTROL_REQUEST__KIND__STATS;
        Hourglass__ControlReply *rep = NULL;
        hg_err_t err;
        if (hg_control_call (zctx, p->control, &req, 1000, &rep, &err) == 0 && rep->ok) {
            bool draining = false;
            for (size_t k = 0; k < rep->n_counters; k++) {
                if (strcmp (rep->counters[k]->name, "adopted") == 0) {
                    adopted += rep->counters[k]->value;
                }
                if (strcmp (rep->counters[k]->name, "draining") == 0) {
                    draining = rep->counters[k]->value != 0;
                }
            }
            *takers += !draining;
        }
        else {
            (*unknown)++;
        }
        if (rep) {
            hourglass__control_reply__free_unpacked (rep, NULL);
        }
    }
    return adopted;
}

static void
s_progress (const s_drain_t *d, const Hourglass__DrainStatus *st, double secs, bool final)
{
    if (d->json) {
        return;
    }
    char line[256];
    snprintf (line, sizeof (line),
              "drain %s: upstreams stopped %u/%u, in process %llu, outbox %llu "
              "(delivered %llu), %.1f s",
              d->instance, st->upstreams_stopped, st->upstreams,
              (unsigned long long) st->in_process, (unsigned long long) st->outbox_depth,
              (unsigned long long) st->acked_since, secs);
    if (d->tty) {
        fprintf (stderr, "\r%s\033[K%s", line, final ? "\n" : "");
    }
    else {
        fprintf (stderr, "%s\n", line);
    }
}

static void
s_json (const s_drain_t *d, const Hourglass__DrainStatus *st, double secs, bool drained,
        bool adopted, bool timed_out, bool resumed)
{
    printf ("{\"instance\": ");
    hg_json_print_string (d->instance, strlen (d->instance));
    printf (", \"service\": ");
    hg_json_print_string (d->service, strlen (d->service));
    printf (", \"drained\": %s, \"adopted\": %s, \"timed_out\": %s, \"resumed\": %s, "
            "\"seconds\": %.1f, \"upstreams\": %u, \"upstreams_stopped\": %u, \"in_process\": "
            "%llu, \"outbox_depth\": %llu, \"outbox_at_start\": %llu, \"delivered\": %llu}\n",
            drained ? "true" : "false", adopted ? "true" : "false", timed_out ? "true" : "false",
            resumed ? "true" : "false", secs, st->upstreams, st->upstreams_stopped,
            (unsigned long long) st->in_process, (unsigned long long) st->outbox_depth,
            (unsigned long long) st->outbox_at_start, (unsigned long long) st->acked_since);
}

/* One DRAIN call; the reply (caller frees) or NULL with err. A reply that
 * refuses (a collector, the wrong instance) is an error with its reason. */
static Hourglass__ControlReply *
s_call (void *zctx, const s_drain_t *d, bool resume, hg_err_t *err)
{
    Hourglass__ControlRequest req = HOURGLASS__CONTROL_REQUEST__INIT;
    req.kind = HOURGLASS__CONTROL_REQUEST__KIND__DRAIN;
    req.resume = resume;
    Hourglass__ControlReply *rep = NULL;
    if (hg_control_call (zctx, d->control, &req, S_CALL_MS, &rep, err) < 0) {
        return NULL;
    }
    if (!rep->ok || !rep->drain) {
        hg_err_set (err, HG_EINVAL, "%s", rep->error && *rep->error ? rep->error : "no answer");
        hourglass__control_reply__free_unpacked (rep, NULL);
        return NULL;
    }
    return rep;
}

/* Polls until done, adopted or timeout; the exit status. */
static int
s_wait (void *zctx, s_drain_t *d, const hg_cluster_t *c, uint64_t adopted_before,
        Hourglass__ControlReply *rep)
{
    uint64_t t0 = hg_now_ms ();
    uint64_t deadline = t0 + (uint64_t) d->timeout_s * 1000u;
    uint64_t printed_ms = 0;
    Hourglass__DrainStatus last = *rep->drain;
    hourglass__control_reply__free_unpacked (rep, NULL);
    int misses = 0;
    for (;;) {
        uint64_t now = hg_now_ms ();
        double secs = (double) (now - t0) / 1000.0;
        if (last.done) {
            s_progress (d, &last, secs, true);
            if (d->json) {
                s_json (d, &last, secs, true, false, false, false);
            }
            else {
                printf ("%s drained in %.1f s: no upstream sends it work (%u of %u stopped), "
                        "nothing in process, outbox empty (%llu entries delivered since the "
                        "drain began). It takes no work until it restarts or `hourglass drain "
                        "--resume`; it can be stopped now.\n",
                        d->instance, secs, last.upstreams_stopped, last.upstreams,
                        (unsigned long long) last.acked_since);
            }
            return 0;
        }
        if (now >= deadline) {
            s_progress (d, &last, secs, true);
            if (d->json) {
                s_json (d, &last, secs, false, false, true, false);
            }
            fprintf (stderr,
                     "hourglass drain: %s not drained after %d s (--timeout): upstreams stopped "
                     "%u of %u, %llu in process, %llu in its outbox (is its downstream slow or "
                     "down? hourglass stats). It stays drained; stopped now, its outbox waits in "
                     "its store until it is back or a replica sharing its volume adopts it.\n",
                     d->instance, d->timeout_s, last.upstreams_stopped, last.upstreams,
                     (unsigned long long) last.in_process,
                     (unsigned long long) last.outbox_depth);
            return 1;
        }
        if (!d->json && (d->tty || now >= printed_ms + 5000)) {
            s_progress (d, &last, secs, false);
            printed_ms = now;
        }
        usleep (S_POLL_MS * 1000);
        hg_err_t err = {0};
        Hourglass__ControlReply *r = s_call (zctx, d, false, &err);
        if (r) {
            last = *r->drain;
            hourglass__control_reply__free_unpacked (r, NULL);
            misses = 0;
            continue;
        }
        if (err.code != HG_EAGAIN || ++misses < 2) {
            if (err.code != HG_EAGAIN) {
                fprintf (stderr, "%shourglass drain: %s: %s\n", d->tty ? "\n" : "", d->instance,
                         err.msg);
                return 1;
            }
            continue;
        }
        /* it went away: adopted by a replica sharing its volume, or stranded */
        int takers = 0, unknown = 0;
        uint64_t adopted = c ? s_peers (zctx, c, d->service, d->instance, &takers, &unknown) : 0;
        if (c && adopted >= adopted_before + last.outbox_depth) {
            if (d->json) {
                s_json (d, &last, secs, false, true, false, false);
            }
            else {
                fprintf (stderr, "%s", d->tty ? "\n" : "");
                printf ("%s stopped; its outbox (%llu entries) was adopted by another %s.\n",
                        d->instance, (unsigned long long) last.outbox_depth, d->service);
            }
            return 0;
        }
        if (now + S_CALL_MS < deadline) {
            continue; /* adoption takes adopt_ms: ask again until the deadline */
        }
        if (d->json) {
            s_json (d, &last, secs, false, false, true, false);
        }
        fprintf (stderr,
                 "%shourglass drain: %s stopped answering with %llu entries in its outbox and no "
                 "replica adopted them: they wait in its store until it is back (alert "
                 "HourglassOutboxStranded).\n",
                 d->tty ? "\n" : "", d->instance, (unsigned long long) last.outbox_depth);
        return 1;
    }
}

int
hg_cmd_drain (int argc, char **argv)
{
    const char *cluster = NULL, *key = NULL, *control = NULL, *server_key = NULL;
    bool json = false, resume = false, force = false;
    int timeout_s = 300, hold_s = 0;
    const hg_cli_opt_t opts[] = {
        HG_CLI_OPT_CLUSTER (&cluster),
        HG_CLI_OPT_STR ("--control", &control, "ENDPOINT",
                        "the replica's control endpoint, without a cluster file (a container's "
                        "preStop hook: tcp://127.0.0.1:5562)"),
        HG_CLI_OPT_STR ("--key", &key, "FILE",
                        "CurveZMQ key pair with role operator (default: the cluster's)"),
        HG_CLI_OPT_STR ("--server-key", &server_key, "PUB|Z85",
                        "with --control: the replica's public key (its control is CurveZMQ)"),
        HG_CLI_OPT_INT ("--timeout", &timeout_s, "SECONDS",
                        "give up after this long (default 300; exit status 1)", 1, 86400),
        HG_CLI_OPT_INT ("--hold", &hold_s, "SECONDS",
                        "once drained, wait this long before returning (a preStop hook: "
                        "Prometheus scrapes the empty outbox before the replica stops)",
                        0, 3600),
        HG_CLI_OPT_FLAG ("--resume", &resume, "end a drain: the replica takes work again"),
        HG_CLI_OPT_FLAG ("--force", &force,
                         "drain even the last replica of its stage that takes work"),
        HG_CLI_OPT_JSON (&json),
        HG_CLI_OPT_END,
    };
    const hg_cli_spec_t spec = {
        .command = "hourglass drain",
        .args = "[INSTANCE]",
        .min_args = 0,
        .max_args = 1,
        .opts = opts,
        .about =
            "Stops a cleanser or deid replica taking work (its upstreams send its share to the\n"
            "other replicas) and returns once it holds nothing: every upstream confirmed,\n"
            "nothing in process, outbox delivered (or adopted by a replica sharing its volume\n"
            "after it stopped). Then it can be stopped without leaving work behind. INSTANCE\n"
            "as in cluster.json and `hourglass stats` (cleanser-1); with --control it is\n"
            "checked against the replica's own name. Progress on stderr; exit status 1 on\n"
            "--timeout. --json: {\"instance\", \"service\", \"drained\", \"adopted\",\n"
            "\"timed_out\", \"resumed\", \"seconds\", \"upstreams\", \"upstreams_stopped\",\n"
            "\"in_process\", \"outbox_depth\", \"outbox_at_start\", \"delivered\"}.\n"
            "Collectors, indexer shards and analytics are not replicas to drain: they answer "
            "why.\n",
    };
    hg_cli_args_t args;
    int status = 0;
    if (hg_cli_parse (&spec, argc, argv, 1, &args, &status) < 0) {
        return status;
    }
    char instance[64] = "";
    if (args.n) {
        snprintf (instance, sizeof (instance), "%s", args.v[0]);
    }
    hg_cli_args_free (&args);
    if (!*instance && !control) {
        return hg_cli_usage_error (&spec, "name the INSTANCE to drain (or give --control)");
    }
    hg_err_t err = {0};
    if (key && hg_control_use_key (key, &err) < 0) {
        fprintf (stderr, "hourglass drain: %s\n", err.msg);
        return 1;
    }
    s_drain_t d = {.instance = instance,
                   .service = "",
                   .control = control,
                   .json = json,
                   .tty = isatty (STDERR_FILENO) == 1,
                   .timeout_s = timeout_s};
    hg_cluster_t c;
    bool have_cluster = false;
    if (control) {
        if (server_key && hg_control_server_key (control, server_key, &err) < 0) {
            fprintf (stderr, "hourglass drain: %s\n", err.msg);
            return 1;
        }
    }
    else {
        if (hg_cluster_load_for (cluster, &c, "hourglass drain") < 0) {
            return 1;
        }
        have_cluster = true;
        for (int i = 0; i < c.n_procs && !d.control; i++) {
            if (strcmp (c.procs[i].name, instance) == 0) {
                d.control = c.procs[i].control;
                d.service = c.procs[i].service;
            }
        }
        if (!d.control) {
            fprintf (stderr,
                     "hourglass drain: no instance '%s' in %s/cluster.json; replicas:", instance,
                     c.dir);
            for (int i = 0; i < c.n_procs; i++) {
                if (strcmp (c.procs[i].service, "cleanser") == 0
                    || strcmp (c.procs[i].service, "deid") == 0) {
                    fprintf (stderr, " %s", c.procs[i].name);
                }
            }
            fprintf (stderr, "\n");
            hg_cluster_free (&c);
            return 1;
        }
    }
    void *zctx = zmq_ctx_new ();
    uint64_t adopted_before = 0;
    status = 1;
    if (have_cluster && !resume) {
        int takers = 0, unknown = 0;
        adopted_before = s_peers (zctx, &c, d.service, d.instance, &takers, &unknown);
        /* only when every other replica answered: one that did not may be down,
         * or this key may not read its stats (the drain itself is checked) */
        if (takers == 0 && unknown == 0 && !force
            && (strcmp (d.service, "cleanser") == 0 || strcmp (d.service, "deid") == 0)) {
            fprintf (stderr,
                     "hourglass drain: %s is the last %s that takes work: drained, the pipeline "
                     "stops at this stage (its upstreams keep every message until a %s takes "
                     "work again). Add a replica first, or give --force.\n",
                     d.instance, d.service, d.service);
            goto done;
        }
    }
    if (control && *d.instance) {
        /* the endpoint must be the instance meant before anything is drained */
        Hourglass__ControlRequest hreq = HOURGLASS__CONTROL_REQUEST__INIT;
        hreq.kind = HOURGLASS__CONTROL_REQUEST__KIND__HEALTH;
        Hourglass__ControlReply *h = NULL;
        if (hg_control_call (zctx, control, &hreq, S_CALL_MS, &h, &err) < 0) {
            fprintf (stderr, "hourglass drain: %s: %s\n", control, err.msg);
            goto done;
        }
        bool same = strcmp (h->instance, d.instance) == 0;
        if (!same) {
            fprintf (stderr, "hourglass drain: %s answers as %s, not %s: nothing drained\n",
                     control, h->instance, d.instance);
        }
        hourglass__control_reply__free_unpacked (h, NULL);
        if (!same) {
            goto done;
        }
    }
    Hourglass__ControlReply *rep = s_call (zctx, &d, resume, &err);
    if (!rep) {
        fprintf (stderr, "hourglass drain: %s: %s\n", *d.instance ? d.instance : d.control,
                 err.msg);
        goto done;
    }
    char name[64], service[32];
    snprintf (name, sizeof (name), "%s", rep->instance);
    snprintf (service, sizeof (service), "%s", rep->service);
    d.instance = name;
    d.service = service;
    if (resume) {
        if (json) {
            s_json (&d, rep->drain, 0, false, false, false, true);
        }
        else {
            printf ("%s takes work again\n", d.instance);
        }
        hourglass__control_reply__free_unpacked (rep, NULL);
        status = 0;
        goto done;
    }
    status = s_wait (zctx, &d, have_cluster ? &c : NULL, adopted_before, rep);
    if (status == 0 && hold_s > 0) {
        fflush (stdout);
        sleep ((unsigned) hold_s);
    }
done:
    zmq_ctx_term (zctx);
    if (have_cluster) {
        hg_cluster_free (&c);
    }
    return status;
}
