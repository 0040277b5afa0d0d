/*
 * cli.h -- the `hourglass` command: shared pieces of its subcommands.
 */
#ifndef HG_CLI_H
#define HG_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "cluster_file.h"
#include "err.h"

int hg_cmd_cluster (int argc, char **argv);
int hg_cmd_push (int argc, char **argv);
int hg_cmd_stats (int argc, char **argv);
int hg_cmd_query (int argc, char **argv);
/* `query run` (query_run.c): its spec, for hg_cmd_query's verbs, and it. */
int hg_query_run (int argc, char **argv);
int hg_cmd_export (int argc, char **argv);
int hg_cmd_quarantine (int argc, char **argv);
int hg_cmd_quarantine_replay (int argc, char **argv); /* replay.c */
int hg_cmd_health (int argc, char **argv);
int hg_cmd_keygen (int argc, char **argv);
int hg_cmd_quality (int argc, char **argv);
int hg_cmd_fingerprint (int argc, char **argv);
int hg_cmd_scrub (int argc, char **argv);
int hg_cmd_drain (int argc, char **argv); /* drain.c */
int hg_cmd_audit (int argc, char **argv); /* audit.c */

/* Pushes HL7 v2 files over MLLP to address (IPv4:PORT), retrying each
 * message through a collector that went away for up to retry_s seconds;
 * exit status. */
int hg_mllp_push (const char *address, const char *const *files, size_t n_files, bool json,
                  int retry_s);

/* Checks, without a control call, that every instance of service in c is
 * up (hg_proc_down); each one down is named on stderr as "<command>: <name>
 * is down: <why>[; <needed_by>]". -1 when any is down. */
int hg_cli_check_up (const hg_cluster_t *c, const char *service, const char *needed_by,
                     const char *command);

/* Prints s as a JSON string literal (quotes and escapes included). */
void hg_json_print_string (const char *s, size_t len);

#endif
