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

static int
s_usage (FILE *out)
{
    fprintf (out,
             "usage: hourglass COMMAND [ARGS]\n"
             "\n"
             "  cluster up|down|status [--dir DIR] ...   a local cluster of all five services\n"
             "  push [--cluster DIR] --format FORMAT [--partner NAME] FILE...\n"
             "                                           push partner feeds, print accepted and\n"
             "                                           rejected counts\n"
             "  stats [--cluster DIR] [--json]           per-service counters\n"
             "  query count [--cluster DIR] --code SYSTEM|CODE [--from D] [--to D] [--json]\n"
             "                                           patients and records with a code\n"
             "  quarantine list [--cluster DIR] [--json] rejected input and why\n"
             "  quality --partner P [--json] [--html F]  a partner's data-quality report\n"
             "  health ENDPOINT                          one service's health (exit 0: healthy)\n"
             "  keygen --out PREFIX                      a CurveZMQ key pair (PREFIX.key, .pub)\n"
             "  simulate --out DIR [--patients N] [--seed S] [--invalid N]\n"
             "                                           write realistic partner feeds and\n"
             "                                           their ground truth\n"
             "\n"
             "  --version                                print the version\n"
             "\n"
             "--cluster defaults to $HOURGLASS_CLUSTER, then to .cluster in the repository\n"
             "(cluster subcommands also take it as --dir). Each command and subcommand takes\n"
             "--help; a usage error exits with status 2.\n");
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
    if (strcmp (cmd, "cluster") == 0) {
        return hg_cmd_cluster (argc - 1, argv + 1);
    }
    if (strcmp (cmd, "push") == 0) {
        return hg_cmd_push (argc - 1, argv + 1);
    }
    if (strcmp (cmd, "stats") == 0) {
        return hg_cmd_stats (argc - 1, argv + 1);
    }
    if (strcmp (cmd, "query") == 0) {
        return hg_cmd_query (argc - 1, argv + 1);
    }
    if (strcmp (cmd, "quarantine") == 0) {
        return hg_cmd_quarantine (argc - 1, argv + 1);
    }
    if (strcmp (cmd, "quality") == 0) {
        return hg_cmd_quality (argc - 1, argv + 1);
    }
    if (strcmp (cmd, "keygen") == 0) {
        return hg_cmd_keygen (argc - 1, argv + 1);
    }
    if (strcmp (cmd, "health") == 0) {
        return hg_cmd_health (argc - 1, argv + 1);
    }
    if (strcmp (cmd, "simulate") == 0) {
        return hg_simulate_main (argc - 1, argv + 1);
    }
    fprintf (stderr, "hourglass: unknown command '%s'\n\n", cmd);
    return s_usage (stderr);
}
