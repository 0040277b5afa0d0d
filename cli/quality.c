/*
 * quality.c -- `hourglass quality --partner P [--json] [--html FILE]`: a
 * partner's data-quality report, merged over every cleanser instance, in the
 * spirit of OHDSI's Data Quality Dashboard: conformance (records not
 * rejected), completeness (records with patient, code, date, value),
 * plausibility (records without validation flags), top rejection reasons
 * with examples.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "cli.h"
#include "opts.h"
#include "control.h"

#define HG_QR_MAX_REASONS 128

typedef struct {
    const char *reason;
    uint64_t count;
    const char *examples[3];
    int n_examples;
} reason_t;

typedef struct {
    const char *flag;
    uint64_t count;
} named_t;

typedef struct {
    uint64_t messages, records, rejected, ignored, complete, flagged;
    reason_t reasons[HG_QR_MAX_REASONS];
    int n_reasons;
    named_t flags[64];
    int n_flags;
    named_t ignored_kinds[64]; /* what the ignored count holds, by kind */
    int n_ignored_kinds;
} report_t;

/* Adds the counts in[0..n) to the list by name (at most 64 names). */
static void
s_merge_named (named_t *list, int *n_list, Hourglass__FlagCount *const *in, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int k = 0;
        while (k < *n_list && strcmp (list[k].flag, in[i]->flag) != 0) {
            k++;
        }
        if (k == *n_list && k < 64) {
            list[*n_list].flag = in[i]->flag;
            list[(*n_list)++].count = 0;
        }
        if (k < 64) {
            list[k].count += in[i]->count;
        }
    }
}

static void
s_merge (report_t *r, const Hourglass__PartnerQuality *q)
{
    r->messages += q->messages;
    r->records += q->records;
    r->rejected += q->rejected;
    r->ignored += q->ignored;
    r->complete += q->complete;
    r->flagged += q->flagged;
    for (size_t i = 0; i < q->n_reasons; i++) {
        reason_t *x = NULL;
        for (int k = 0; k < r->n_reasons && !x; k++) {
            x = strcmp (r->reasons[k].reason, q->reasons[i]->reason) == 0 ? &r->reasons[k] : NULL;
        }
        if (!x && r->n_reasons < HG_QR_MAX_REASONS) {
            x = &r->reasons[r->n_reasons++];
            x->reason = q->reasons[i]->reason;
        }
        if (!x) {
            continue;
        }
        x->count += q->reasons[i]->count;
        for (size_t e = 0; e < q->reasons[i]->n_examples && x->n_examples < 3; e++) {
            x->examples[x->n_examples++] = q->reasons[i]->examples[e];
        }
    }
    s_merge_named (r->flags, &r->n_flags, q->flags, q->n_flags);
    s_merge_named (r->ignored_kinds, &r->n_ignored_kinds, q->ignored_kinds, q->n_ignored_kinds);
}

static int
s_by_count (const void *a, const void *b)
{
    const reason_t *x = a, *y = b;
    return x->count < y->count ? 1 : x->count > y->count ? -1 : strcmp (x->reason, y->reason);
}

static double
s_pct (uint64_t part, uint64_t whole)
{
    return whole ? 100.0 * (double) part / (double) whole : 100.0;
}

static void
s_html_text (FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<':
            fputs ("&lt;", f);
            break;
        case '>':
            fputs ("&gt;", f);
            break;
        case '&':
            fputs ("&amp;", f);
            break;
        case '"':
            fputs ("&quot;", f);
            break;
        default:
            fputc (*s, f);
            break;
        }
    }
}

static int
s_write_html (const char *path, const char *partner, const report_t *r, double conf, double compl,
              double plaus)
{
    FILE *f = fopen (path, "w");
    if (!f) {
        return -1;
    }
    fprintf (f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                "<title>Data quality: ");
    s_html_text (f, partner);
    fprintf (
        f, "</title><style>body{font-family:sans-serif;max-width:60em;margin:2em auto;color:#222}"
           "table{border-collapse:collapse;width:100%%}td,th{border-bottom:1px solid #ddd;"
           "padding:.4em;text-align:left;vertical-align:top}.bar{background:#eee;width:12em;"
           "height:1em;display:inline-block}.fill{background:#3a7;height:1em}.low .fill"
           "{background:#c43}small{color:#666}</style></head><body>\n<h1>Data quality: ");
    s_html_text (f, partner);
    fprintf (f,
             "</h1>\n<p>%llu messages, %llu records accepted, %llu rejected (kept in "
             "quarantine), %llu valid items without a record ignored (by kind below)."
             "</p>\n<table>"
             "<tr><th>check</th><th>score</th><th></th><th>meaning</th></tr>\n",
             (unsigned long long) r->messages, (unsigned long long) r->records,
             (unsigned long long) r->rejected, (unsigned long long) r->ignored);
    struct {
        const char *name;
        double pct;
        const char *meaning;
    } rows[] = {
        {"Conformance", conf,
         "records that parsed and validated (accepted / (accepted + rejected))"},
        {"Completeness", compl,
         "accepted records with patient, code, date and, for lab results, a value"},
        {"Plausibility", plaus, "accepted records without validation or plausibility flags"},
    };
    for (int i = 0; i < 3; i++) {
        fprintf (f,
                 "<tr class=\"%s\"><td>%s</td><td>%.1f%%</td><td><span class=\"bar\">"
                 "<span class=\"fill\" style=\"display:block;width:%.1f%%\"></span></span></td>"
                 "<td>%s</td></tr>\n",
                 rows[i].pct < 95.0 ? "low" : "", rows[i].name, rows[i].pct, rows[i].pct,
                 rows[i].meaning);
    }
    fprintf (f, "</table>\n<h2>Top rejection reasons</h2>\n");
    if (r->n_reasons == 0) {
        fprintf (f, "<p>None.</p>\n");
    }
    else {
        fprintf (
            f,
            "<table><tr><th>count</th><th>reason</th><th>examples (message, where)</th></tr>\n");
        for (int i = 0; i < r->n_reasons && i < 10; i++) {
            fprintf (f, "<tr><td>%llu</td><td>", (unsigned long long) r->reasons[i].count);
            s_html_text (f, r->reasons[i].reason);
            fprintf (f, "</td><td>");
            for (int e = 0; e < r->reasons[i].n_examples; e++) {
                fprintf (f, "<small>");
                s_html_text (f, r->reasons[i].examples[e]);
                fprintf (f, "</small><br>");
            }
            fprintf (f, "</td></tr>\n");
        }
        fprintf (f, "</table>\n");
    }
    if (r->n_flags) {
        fprintf (f, "<h2>Validation flags</h2>\n<table><tr><th>flag</th><th>records</th></tr>\n");
        for (int i = 0; i < r->n_flags; i++) {
            fprintf (f, "<tr><td>");
            s_html_text (f, r->flags[i].flag);
            fprintf (f, "</td><td>%llu</td></tr>\n", (unsigned long long) r->flags[i].count);
        }
        fprintf (f, "</table>\n");
    }
    if (r->n_ignored_kinds) {
        fprintf (f, "<h2>Ignored, by kind</h2>\n<table><tr><th>kind</th><th>count</th></tr>\n");
        for (int i = 0; i < r->n_ignored_kinds; i++) {
            fprintf (f, "<tr><td>");
            s_html_text (f, r->ignored_kinds[i].flag);
            fprintf (f, "</td><td>%llu</td></tr>\n",
                     (unsigned long long) r->ignored_kinds[i].count);
        }
        fprintf (f, "</table>\n");
    }
    fprintf (f, "<p><small>Rejected messages are kept whole; list them with "
                "<code>hourglass quarantine list</code>.</small></p></body></html>\n");
    return fclose (f);
}

/* The report as one JSON object on stdout. */
static void
s_print_json (const char *partner, const report_t *r, double conf, double compl, double plaus)
{
    printf ("{\"partner\": ");
    hg_json_print_string (partner, strlen (partner));
    printf (", \"messages\": %llu, \"records\": %llu, \"rejected\": %llu, \"ignored\": %llu, "
            "\"conformance\": %.1f, \"completeness\": %.1f, \"plausibility\": %.1f, "
            "\"top_reasons\": [",
            (unsigned long long) r->messages, (unsigned long long) r->records,
            (unsigned long long) r->rejected, (unsigned long long) r->ignored, conf, compl,
            plaus);
    for (int i = 0; i < r->n_reasons && i < 10; i++) {
        printf ("%s{\"reason\": ", i ? ", " : "");
        hg_json_print_string (r->reasons[i].reason, strlen (r->reasons[i].reason));
        printf (", \"count\": %llu, \"examples\": [", (unsigned long long) r->reasons[i].count);
        for (int e = 0; e < r->reasons[i].n_examples; e++) {
            printf ("%s", e ? ", " : "");
            hg_json_print_string (r->reasons[i].examples[e], strlen (r->reasons[i].examples[e]));
        }
        printf ("]}");
    }
    printf ("], \"flags\": {");
    for (int i = 0; i < r->n_flags; i++) {
        printf ("%s\"%s\": %llu", i ? ", " : "", r->flags[i].flag,
                (unsigned long long) r->flags[i].count);
    }
    printf ("}, \"ignored_kinds\": {");
    for (int i = 0; i < r->n_ignored_kinds; i++) {
        printf ("%s", i ? ", " : "");
        hg_json_print_string (r->ignored_kinds[i].flag, strlen (r->ignored_kinds[i].flag));
        printf (": %llu", (unsigned long long) r->ignored_kinds[i].count);
    }
    printf ("}}\n");
}

int
hg_cmd_quality (int argc, char **argv)
{
    const char *cluster = NULL, *partner = NULL, *html = NULL;
    bool json = false;
    const hg_cli_opt_t opts[] = {
        HG_CLI_OPT_REQUIRED ("--partner", &partner, "NAME", "the partner"),
        HG_CLI_OPT_CLUSTER (&cluster),
        HG_CLI_OPT_JSON (&json),
        HG_CLI_OPT_STR ("--html", &html, "FILE", "also write the report as HTML"),
        HG_CLI_OPT_END,
    };
    const hg_cli_spec_t spec = {
        .command = "hourglass quality",
        .opts = opts,
        .about = "A partner's data-quality report: conformance, completeness, plausibility\n"
                 "and the most frequent reasons for rejection.\n",
    };
    hg_cli_args_t args;
    int status;
    if (hg_cli_parse (&spec, argc, argv, 1, &args, &status) < 0) {
        return status;
    }
    hg_cluster_t c;
    if (hg_cluster_load_for (cluster, &c, "hourglass quality") < 0) {
        return 1;
    }
    const char *controls[HG_CLI_MAX_SERVICES];
    size_t nc = hg_cluster_controls (&c, "cleanser", controls, HG_CLI_MAX_SERVICES);
    void *zctx = zmq_ctx_new ();
    report_t *r = calloc (1, sizeof (*r));
    Hourglass__ControlReply *replies[HG_CLI_MAX_SERVICES] = {0};
    hg_err_t err = {0};
    status = 0;
    for (size_t i = 0; i < nc; i++) {
        Hourglass__ControlRequest req = HOURGLASS__CONTROL_REQUEST__INIT;
        req.kind = HOURGLASS__CONTROL_REQUEST__KIND__QUALITY;
        req.partner = (char *) partner;
        if (hg_control_call (zctx, controls[i], &req, 5000, &replies[i], &err) < 0
            || !replies[i]->ok) {
            fprintf (stderr, "hourglass quality: %s: %s\n", controls[i],
                     replies[i] ? replies[i]->error : err.msg);
            status = 1;
            continue;
        }
        for (size_t k = 0; k < replies[i]->n_quality; k++) {
            s_merge (r, replies[i]->quality[k]);
        }
    }
    qsort (r->reasons, (size_t) r->n_reasons, sizeof (r->reasons[0]), s_by_count);
    double conf = s_pct (r->records, r->records + r->rejected);
    double compl = s_pct (r->complete, r->records);
    double plaus = s_pct (r->records - (r->flagged > r->records ? r->records : r->flagged),
                          r->records);
    if (status == 0 && r->messages == 0) {
        fprintf (stderr, "hourglass quality: no data from partner '%s' yet\n", partner);
        status = 1;
    }
    if (status == 0 && json) {
        s_print_json (partner, r, conf, compl, plaus);
    }
    else if (status == 0) {
        printf ("%s: %llu messages, %llu records, %llu rejected\n"
                "  conformance %.1f%%  completeness %.1f%%  plausibility %.1f%%\n",
                partner, (unsigned long long) r->messages, (unsigned long long) r->records,
                (unsigned long long) r->rejected, conf, compl, plaus);
        for (int i = 0; i < r->n_reasons && i < 10; i++) {
            printf ("  %6llu  %s\n", (unsigned long long) r->reasons[i].count,
                    r->reasons[i].reason);
        }
        if (r->ignored) {
            printf ("  %llu ignored:\n", (unsigned long long) r->ignored);
        }
        for (int i = 0; i < r->n_ignored_kinds; i++) {
            printf ("  %6llu  %s\n", (unsigned long long) r->ignored_kinds[i].count,
                    r->ignored_kinds[i].flag);
        }
    }
    if (status == 0 && html && s_write_html (html, partner, r, conf, compl, plaus) != 0) {
        fprintf (stderr, "hourglass quality: cannot write %s\n", html);
        status = 1;
    }
    for (size_t i = 0; i < nc; i++) {
        if (replies[i]) {
            hourglass__control_reply__free_unpacked (replies[i], NULL);
        }
    }
    free (r);
    zmq_ctx_term (zctx);
    hg_cluster_free (&c);
    return status;
}
