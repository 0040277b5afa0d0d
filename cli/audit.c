/*
 * audit.c -- `hourglass audit list|verify`: reads analytics' query audit
 * trail (services/analytics/audit.h) over the control plane, with the
 * operator's key (AUDIT_LIST, AUDIT_VERIFY: common/control_acl.c).
 */
#define _GNU_SOURCE /* timegm */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <sodium.h>
#include <zmq.h>

#include "cli.h"
#include "control.h"
#include "opts.h"
#include "util.h"

/* --since: "YYYY-MM-DD", "YYYY-MM-DDTHH:MM:SS[Z]" (UTC) or seconds since the
 * epoch; microseconds into *us. -1 when none of these. */
static int
s_parse_since (const char *s, uint64_t *us)
{
    struct tm tm;
    memset (&tm, 0, sizeof (tm));
    char *end = NULL;
    if ((end = strptime (s, "%Y-%m-%dT%H:%M:%S", &tm)) || (end = strptime (s, "%Y-%m-%d", &tm))) {
        if (*end && strcmp (end, "Z") != 0) {
            return -1;
        }
        time_t t = timegm (&tm);
        if (t < 0) {
            return -1;
        }
        *us = (uint64_t) t * 1000000u;
        return 0;
    }
    char *e = NULL;
    unsigned long long v = strtoull (s, &e, 10);
    if (!*s || *e) {
        return -1;
    }
    *us = (uint64_t) v * 1000000u;
    return 0;
}

/* A stored JSON text as JSON when it is, else as a string. */
static json_object *
s_json_or_string (const char *text)
{
    json_object *v = *text ? json_tokener_parse (text) : NULL;
    return v ? v : json_object_new_string (text);
}

static void
s_iso (uint64_t us, char *out, size_t size)
{
    time_t t = (time_t) (us / 1000000u);
    struct tm tm;
    gmtime_r (&t, &tm);
    char base[32];
    strftime (base, sizeof (base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf (out, size, "%s.%06" PRIu64 "Z", base, us % 1000000u);
}

static void
s_print_list (const Hourglass__ControlReply *rep, bool json)
{
    json_object *arr = json ? json_object_new_array () : NULL;
    for (size_t i = 0; i < rep->n_audit; i++) {
        const Hourglass__AuditEntry *e = rep->audit[i];
        char when[40], prev[2 * 32 + 1] = "";
        s_iso (e->time_us, when, sizeof (when));
        if (e->prev.len == 32) {
            sodium_bin2hex (prev, sizeof (prev), e->prev.data, e->prev.len);
        }
        if (!json) {
            /* one line per entry: the document's own line breaks as spaces */
            for (char *p = e->request; *p; p++) {
                *p = *p == '\n' || *p == '\r' || *p == '\t' ? ' ' : *p;
            }
            printf ("%" PRIu64 "  %s  %s (%s) via %s  suppressed=%u epsilon=%g  %s%s%s\n", e->id,
                    when, e->analyst, e->role, e->via, e->suppressed, e->epsilon, e->request,
                    *e->error ? "  refused: " : "", e->error);
            continue;
        }
        json_object *o = json_object_new_object ();
        json_object_object_add (o, "id", json_object_new_uint64 (e->id));
        json_object_object_add (o, "time", json_object_new_string (when));
        json_object_object_add (o, "time_us", json_object_new_uint64 (e->time_us));
        json_object_object_add (o, "analyst", json_object_new_string (e->analyst));
        json_object_object_add (o, "role", json_object_new_string (e->role));
        json_object_object_add (o, "via", json_object_new_string (e->via));
        json_object_object_add (o, "request", s_json_or_string (e->request));
        json_object_object_add (o, "answer", *e->answer ? s_json_or_string (e->answer) : NULL);
        json_object_object_add (o, "suppressed", json_object_new_int ((int) e->suppressed));
        json_object_object_add (o, "epsilon", json_object_new_double (e->epsilon));
        json_object_object_add (o, "error", *e->error ? json_object_new_string (e->error) : NULL);
        json_object_object_add (o, "prev", json_object_new_string (prev));
        json_object_array_add (arr, o);
    }
    if (json) {
        json_object *root = json_object_new_object ();
        json_object_object_add (root, "entries", arr);
        json_object_object_add (root, "truncated", json_object_new_boolean (rep->truncated));
        printf ("%s\n",
                json_object_to_json_string_ext (root, JSON_C_TO_STRING_PLAIN
                                                          | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put (root);
    }
    else if (rep->truncated) {
        printf ("(more entries match: ask with --limit or --since)\n");
    }
}

/* --anchor ID:HEX (a head an earlier verify printed) as the request's
 * audit_anchor (id big endian + hash) into out; -1 when malformed. */
static int
s_parse_anchor (const char *s, uint8_t out[40])
{
    char *end = NULL;
    unsigned long long id = strtoull (s, &end, 10);
    size_t bin_len = 0;
    if (end == s || *end != ':' || id == 0 || strlen (end + 1) != 64
        || sodium_hex2bin (out + 8, 32, end + 1, 64, NULL, &bin_len, NULL) != 0
        || bin_len != 32) {
        return -1;
    }
    for (int i = 7; i >= 0; i--) {
        out[i] = (uint8_t) (id & 0xff);
        id >>= 8;
    }
    return 0;
}

/* 0 intact, 1 broken (printed either way). */
static int
s_print_verify (const Hourglass__AuditVerify *v, bool json)
{
    char head[2 * 32 + 24] = "";
    if (v->head.len == 32) {
        int n = snprintf (head, sizeof (head), "%" PRIu64 ":", v->head_id);
        sodium_bin2hex (head + n, sizeof (head) - (size_t) n, v->head.data, v->head.len);
    }
    if (json) {
        json_object *o = json_object_new_object ();
        json_object_object_add (o, "intact", json_object_new_boolean (v->intact));
        json_object_object_add (o, "entries", json_object_new_uint64 (v->entries));
        json_object_object_add (o, "bad_id",
                                v->intact ? NULL : json_object_new_uint64 (v->bad_id));
        json_object_object_add (o, "problem",
                                v->intact ? NULL : json_object_new_string (v->problem));
        json_object_object_add (o, "head", json_object_new_string (head));
        printf ("%s\n", json_object_to_json_string_ext (o, JSON_C_TO_STRING_PLAIN));
        json_object_put (o);
    }
    else if (v->intact) {
        printf ("audit trail intact: %" PRIu64 " entries; head %s (keep it elsewhere; later, "
                "audit verify --anchor HEAD checks nothing up to it was rewritten)\n",
                v->entries, *head ? head : "(empty)");
    }
    else {
        printf ("audit trail BROKEN at entry %" PRIu64 ": %s\n", v->bad_id, v->problem);
    }
    return v->intact ? 0 : 1;
}

int
hg_cmd_audit (int argc, char **argv)
{
    const char *cluster = NULL, *analyst = NULL, *since = NULL, *anchor = NULL;
    bool json = false;
    int limit = 1000;
    const hg_cli_opt_t list_opts[] = {
        HG_CLI_OPT_CLUSTER (&cluster),
        HG_CLI_OPT_STR ("--analyst", &analyst, "A", "only this analyst's queries"),
        HG_CLI_OPT_STR ("--since", &since, "T",
                        "only queries at or after T (YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ, or "
                        "seconds since 1970)"),
        HG_CLI_OPT_INT ("--limit", &limit, "N", "at most N entries, oldest first (1000)", 1,
                        100000),
        HG_CLI_OPT_JSON (&json),
        HG_CLI_OPT_END,
    };
    const hg_cli_opt_t verify_opts[] = {
        HG_CLI_OPT_CLUSTER (&cluster),
        HG_CLI_OPT_STR ("--anchor", &anchor, "ID:HEX",
                        "a head an earlier verify printed: entry ID must still hash to it"),
        HG_CLI_OPT_JSON (&json),
        HG_CLI_OPT_END,
    };
    const hg_cli_spec_t list = {
        .command = "hourglass audit list",
        .opts = list_opts,
        .about =
            "Analytics' query audit trail (operator key only): who asked what, when, over\n"
            "which path, the answer as returned and how many of its numbers were withheld.\n",
    };
    const hg_cli_spec_t verify = {
        .command = "hourglass audit verify",
        .opts = verify_opts,
        .about = "Checks the audit trail's hash chain: exit 0 when intact, 1 naming the first\n"
                 "entry changed, deleted or inserted. Prints the head (ID:HASH) to keep\n"
                 "elsewhere; --anchor HEAD later also finds a rewrite of the whole chain.\n",
    };
    const hg_cli_spec_t *const verbs[] = {&list, &verify, NULL};
    const hg_cli_spec_t *verb;
    int status = hg_cli_verb ("hourglass audit", argc, argv, verbs, &verb);
    hg_cli_args_t args;
    if (status >= 0 || hg_cli_parse (verb, argc, argv, 2, &args, &status) < 0) {
        return status;
    }
    hg_cli_args_free (&args);
    Hourglass__ControlRequest req = HOURGLASS__CONTROL_REQUEST__INIT;
    req.kind = verb == &list ? HOURGLASS__CONTROL_REQUEST__KIND__AUDIT_LIST
                             : HOURGLASS__CONTROL_REQUEST__KIND__AUDIT_VERIFY;
    req.analyst = (char *) (analyst ? analyst : "");
    req.limit = (uint32_t) limit;
    uint8_t anchor_bytes[40];
    if (anchor) {
        if (s_parse_anchor (anchor, anchor_bytes) < 0) {
            fprintf (stderr,
                     "hourglass audit verify: --anchor '%s' is not ID:HEX (the head an earlier "
                     "verify printed: an entry id, ':', 64 hex digits)\n",
                     anchor);
            return 2;
        }
        req.audit_anchor.data = anchor_bytes;
        req.audit_anchor.len = sizeof (anchor_bytes);
    }
    if (since && s_parse_since (since, &req.audit_since_us) < 0) {
        fprintf (stderr,
                 "hourglass audit list: --since '%s' is not YYYY-MM-DD, "
                 "YYYY-MM-DDTHH:MM:SSZ or seconds since 1970\n",
                 since);
        return 2;
    }
    hg_cluster_t c;
    const char *controls[1];
    if (hg_cluster_load_for (cluster, &c, "hourglass audit") < 0) {
        return 1;
    }
    if (hg_cluster_controls (&c, "analytics", controls, 1) == 0) {
        fprintf (stderr, "hourglass audit: the cluster has no analytics service\n");
        hg_cluster_free (&c);
        return 1;
    }
    void *zctx = zmq_ctx_new ();
    Hourglass__ControlReply *rep = NULL;
    hg_err_t err = {0};
    status = 1;
    if (hg_control_call (zctx, controls[0], &req, 60000, &rep, &err) < 0) {
        fprintf (stderr, "hourglass audit: %s\n", err.msg);
    }
    else if (!rep->ok) {
        fprintf (stderr, "hourglass audit: %s\n", rep->error);
    }
    else if (verb == &list) {
        s_print_list (rep, json);
        status = 0;
    }
    else if (rep->verify) {
        status = s_print_verify (rep->verify, json);
    }
    if (rep) {
        hourglass__control_reply__free_unpacked (rep, NULL);
    }
    zmq_ctx_term (zctx);
    hg_cluster_free (&c);
    return status;
}
