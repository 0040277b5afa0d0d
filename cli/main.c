/*
 * hourglass -- the command-line interface: runs a local cluster, pushes
 * partner feeds, reads counters, queries, lists the quarantine, simulates
 * partner feeds.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "cli.h"
#include "opts.h"
#include "simulate.h"

/* Every command: its name, what runs it, its line in the overview. */
static const struct {
    const char *name;
    int (*run) (int argc, char **argv);
    const char *synopsis;
    const char *summary;
} s_commands[] = {
    {"cluster", hg_cmd_cluster, "cluster up|down|status|add-partner|add-analyst ...",
     "a local cluster of all five services"},
    {"push", hg_cmd_push, "push --format FORMAT [--partner NAME] FILE...",
     "push partner feeds, print accepted and rejected counts"},
    {"stats", hg_cmd_stats, "stats [--json]", "per-service counters"},
    {"query", hg_cmd_query, "query count --code SYSTEM|CODE ... | query run --file QUERY.json",
     "patients and records with a code"},
    {"audit", hg_cmd_audit, "audit list [--analyst A] [--since T] | audit verify",
     "analytics' query audit trail (operator)"},
    {"export", hg_cmd_export, "export --format ndjson|csv --out DIR",
     "de-identified records for other tools"},
    {"drain", hg_cmd_drain, "drain INSTANCE [--timeout S] [--resume] [--json]",
     "stop a cleanser or deid replica taking work; returns once it holds none"},
    {"quarantine", hg_cmd_quarantine, "quarantine list|replay [--json]",
     "rejected input and why; replay it through today's cleanser"},
    {"quality", hg_cmd_quality, "quality --partner P [--json] [--html F]",
     "a partner's data-quality report"},
    {"health", hg_cmd_health, "health ENDPOINT", "one service's health (exit 0: healthy)"},
    {"fingerprint", hg_cmd_fingerprint, "fingerprint [--partner NAME] ID...",
     "the log fingerprint of message ids (grep the logs for it)"},
    {"keygen", hg_cmd_keygen, "keygen --out PREFIX", "a CurveZMQ key pair (PREFIX.key, .pub)"},
    {"simulate", hg_simulate_main, "simulate --out DIR [--patients N] [--seed S]",
     "write realistic partner feeds and their ground truth"},
    {"scrub", hg_cmd_scrub, "scrub [--json] [--lexicon FILE]... [--shift-days N] [FILE]",
     "scrub PHI from NDJSON notes (the de-identifier's scrubber)"},
};

#define S_N_COMMANDS (sizeof (s_commands) / sizeof (s_commands[0]))

static int
s_usage (FILE *out)
{
    fprintf (out, "usage: hourglass COMMAND [ARGS]\n\n");
    for (size_t i = 0; i < S_N_COMMANDS; i++) {
        fprintf (out, "  %s\n      %s\n", s_commands[i].synopsis, s_commands[i].summary);
    }
    fprintf (out,
             "  %s\n      %s\n"
             "\n"
             "--cluster DIR (every client command; cluster subcommands also take it as --dir)\n"
             "defaults to $HOURGLASS_CLUSTER, then to .cluster in the repository. Each command\n"
             "and subcommand takes --help; a usage error exits with status 2.\n",
             "--version", "print the version");
    return out == stderr ? 2 : 0;
}

int
main (int argc, char **argv)
{
    if (sodium_init () < 0) {
        fprintf (stderr, "hourglass: libsodium failed to initialise\n");
        return 1;
    }
    if (argc < 2) {
        return s_usage (stderr);
    }
    const char *cmd = argv[1];
    if (hg_cli_is_help (cmd) || strcmp (cmd, "help") == 0) {
        return s_usage (stdout);
    }
    if (strcmp (cmd, "--version") == 0) {
        printf ("hourglass %s\n", HG_VERSION);
        return 0;
    }
    for (size_t i = 0; i < S_N_COMMANDS; i++) {
        if (strcmp (cmd, s_commands[i].name) == 0) {
            return s_commands[i].run (argc - 1, argv + 1);
        }
    }
    fprintf (stderr, "hourglass: unknown command '%s'\n\n", cmd);
    return s_usage (stderr);
}
