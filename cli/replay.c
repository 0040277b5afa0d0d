/*
 * replay.c -- `hourglass quarantine replay [--partner P] [--reason TEXT]
 * [--since T]`: every cleanser instance runs its kept quarantined payloads
 * again through today's parsers (a REPLAY control request) and says what
 * moved from quarantined to parsed. The cleanser keeps a new parse only
 * when it gives more records than the first, in one synced commit, so a
 * second replay moves nothing (docs/operations.md, "Replaying the
 * quarantine").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "cli.h"
#include "control.h"
#include "date.h"
#include "opts.h"

/* T ("2026-12-04", "2026-12-04T10:00:00Z"; no zone: UTC) as microseconds
 * since 1970; -1 when it is not a date. */
static int64_t
s_since_us (const char *t)
{
    hg_date_t d;
    hg_err_t err;
    if (hg_date_parse_iso (t, strlen (t), &d, &err) < 0 || d.prec < HG_PREC_DAY) {
        return -1;
    }
    hg_date_to_utc (&d);
    int64_t s = hg_date_days (&d) * 86400 + d.hour * 3600 + d.minute * 60 + d.second;
    return s < 0 ? -1 : s * 1000000 + d.micros;
}

/* Prints one instance's results; adds to the totals. */
static void
s_print (const char *instance, const Hourglass__ControlReply *rep, bool json, size_t *shown,
         size_t *moved, uint64_t *records)
{
    for (size_t k = 0; k < rep->n_replayed; k++) {
        const Hourglass__ReplayResult *r = rep->replayed[k];
        if (json) {
            printf ("%s{\"instance\": ", *shown ? ", " : "");
            hg_json_print_string (instance, strlen (instance));
            printf (", \"message_id\": ");
            hg_json_print_string (r->message_id, strlen (r->message_id));
            printf (", \"partner\": ");
            hg_json_print_string (r->partner, strlen (r->partner));
            printf (", \"format\": ");
            hg_json_print_string (r->format, strlen (r->format));
            printf (", \"moved\": %s, \"records_before\": %u, \"records_after\": %u, "
                    "\"rejects_before\": %u, \"rejects_after\": %u}",
                    r->moved ? "true" : "false", r->records_before, r->records_after,
                    r->rejects_before, r->rejects_after);
        }
        else if (r->moved) {
            printf ("moved  %s  %s (%s): %u -> %u records, %u -> %u rejects\n", instance,
                    r->message_id, r->format, r->records_before, r->records_after,
                    r->rejects_before, r->rejects_after);
        }
        else {
            printf ("stays  %s  %s (%s): %u records, %u rejects\n", instance, r->message_id,
                    r->format, r->records_after, r->rejects_after);
        }
        (*shown)++;
        *moved += r->moved;
        *records += r->moved ? r->records_after - r->records_before : 0;
    }
}

int
hg_cmd_quarantine_replay (int argc, char **argv)
{
    const char *cluster = NULL, *partner = NULL, *reason = NULL, *since = NULL;
    bool json = false;
    const hg_cli_opt_t opts[] = {
        HG_CLI_OPT_CLUSTER (&cluster),
        HG_CLI_OPT_STR ("--partner", &partner, "P", "only this partner's messages"),
        HG_CLI_OPT_STR ("--reason", &reason, "TEXT", "only messages with a reason holding TEXT"),
        HG_CLI_OPT_STR ("--since", &since, "T",
                        "only messages quarantined at or after T (ISO date or time, UTC)"),
        HG_CLI_OPT_JSON (&json),
        HG_CLI_OPT_END,
    };
    const hg_cli_spec_t spec = {
        .command = "hourglass quarantine replay",
        .opts = opts,
        .about = "Runs kept quarantined payloads again through today's cleanser (after a\n"
                 "parser fix or a corrected CSV mapping) and prints what moved from\n"
                 "quarantined to parsed. A second replay moves nothing.\n",
    };
    hg_cli_args_t args;
    int status;
    if (hg_cli_parse (&spec, argc, argv, 2, &args, &status) < 0) {
        return status;
    }
    int64_t since_us = since ? s_since_us (since) : 0;
    if (since_us < 0) {
        fprintf (stderr, "hourglass quarantine replay: --since '%s' is not a date or time\n",
                 since);
        return 2;
    }
    hg_cluster_t c;
    if (hg_cluster_load_for (cluster, &c, "hourglass quarantine replay") < 0) {
        return 1;
    }
    const char *controls[HG_CLI_MAX_SERVICES];
    size_t nc = hg_cluster_controls (&c, "cleanser", controls, HG_CLI_MAX_SERVICES);
    void *zctx = zmq_ctx_new ();
    size_t shown = 0, moved = 0;
    uint64_t records = 0;
    status = 0;
    if (json) {
        printf ("{\"replayed\": [");
    }
    for (size_t i = 0; i < nc; i++) {
        Hourglass__ControlRequest req = HOURGLASS__CONTROL_REQUEST__INIT;
        req.kind = HOURGLASS__CONTROL_REQUEST__KIND__REPLAY;
        req.partner = (char *) (partner ? partner : "");
        req.reason = (char *) (reason ? reason : "");
        req.since_us = (uint64_t) since_us;
        Hourglass__ControlReply *rep = NULL;
        hg_err_t err = {0};
        if (hg_control_call (zctx, controls[i], &req, 120000, &rep, &err) < 0 || !rep->ok) {
            fprintf (stderr, "hourglass quarantine replay: %s: %s\n", controls[i],
                     rep ? rep->error : err.msg);
            status = 1;
        }
        else {
            s_print (rep->instance, rep, json, &shown, &moved, &records);
        }
        if (rep) {
            hourglass__control_reply__free_unpacked (rep, NULL);
        }
    }
    if (json) {
        printf ("], \"messages\": %zu, \"moved\": %zu, \"records\": %llu}\n", shown, moved,
                (unsigned long long) records);
    }
    else {
        printf ("%zu replayed, %zu moved to parsed (%llu more records), %zu stay quarantined\n",
                shown, moved, (unsigned long long) records, shown - moved);
    }
    zmq_ctx_term (zctx);
    hg_cluster_free (&c);
    return status;
}
