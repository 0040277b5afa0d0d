/*
 * fingerprint.c -- `hourglass fingerprint`: the log fingerprint
 * (common/fingerprint.h) of partner-chosen ids under a cluster's key, so an
 * operator can find the log lines about one message without the logs ever
 * holding the id.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "cli.h"
#include "fingerprint.h"
#include "keyfile.h"
#include "opts.h"

int
hg_cmd_fingerprint (int argc, char **argv)
{
    const char *cluster = NULL, *key_file = NULL, *partner = NULL;
    const hg_cli_opt_t opts[] = {
        HG_CLI_OPT_CLUSTER (&cluster),
        HG_CLI_OPT_STR ("--key", &key_file, "FILE",
                        "the fingerprint key (default DIR/keys/fingerprint.key)"),
        HG_CLI_OPT_STR ("--partner", &partner, "NAME",
                        "each ID is a batch id of this partner (message id NAME/ID)"),
        HG_CLI_OPT_END,
    };
    const hg_cli_spec_t spec = {
        .command = "hourglass fingerprint",
        .args = "ID...",
        .min_args = 1,
        .max_args = SIZE_MAX,
        .opts = opts,
        .about = "Prints, for each message id (PARTNER/BATCH, as `push --json` reports it), the\n"
                 "fingerprint the services log instead of the id: logs never carry a\n"
                 "partner-chosen id, file name or MSH-10 in clear. Find one message's lines\n"
                 "with: grep fingerprint=$(hourglass fingerprint ID | cut -d' ' -f1) DIR/logs/*\n"
                 "Output: one '<fingerprint> <ID>' line per ID.\n",
    };
    hg_cli_args_t args;
    int status;
    if (hg_cli_parse (&spec, argc, argv, 1, &args, &status) < 0) {
        return status;
    }
    char path[PATH_MAX];
    if (key_file) {
        snprintf (path, sizeof (path), "%s", key_file);
    }
    else {
        char dir[2048];
        hg_cli_cluster_dir (cluster, dir, sizeof (dir));
        snprintf (path, sizeof (path), "%s/keys/fingerprint.key", dir);
    }
    static const hg_keyfile_kind_t kind = {
        .what = "log fingerprint key",
        .creator = "a service (hourglass cluster up)",
        .on_new = "no log needs matching any more",
    };
    unsigned char key[HG_KEYFILE_BYTES];
    hg_err_t err = {0};
    if (hg_keyfile_load (path, false, &kind, key, &err) < 0) {
        fprintf (stderr, "hourglass fingerprint: %s\n", err.msg);
        hg_cli_args_free (&args);
        return 1;
    }
    for (size_t i = 0; i < args.n; i++) {
        char id[1024], fp[HG_FINGERPRINT_HEX + 1];
        snprintf (id, sizeof (id), "%s%s%s", partner ? partner : "", partner ? "/" : "",
                  args.v[i]);
        printf ("%s %s\n", hg_fingerprint (key, id, fp), id);
    }
    sodium_memzero (key, sizeof (key));
    hg_cli_args_free (&args);
    return 0;
}
