/*
 * cli.h -- the `hourglass` command: shared pieces of its subcommands.
 */
#ifndef HG_CLI_H
#define HG_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

#define HG_CLI_MAX_SERVICES 64
#define HG_CLI_MAX_ARGS 64

/* One service process of a local cluster. */
typedef struct {
    char name[64];          /* instance name: "cleanser-1" */
    char service[32];       /* "cleanser" */
    char control[128];      /* control endpoint */
    int pid;                /* 0 when not running */
    char *argv[HG_CLI_MAX_ARGS];  /* arguments after the binary (owned) */
    int argc;
} hg_proc_t;

/* What cluster.json holds: the processes and the endpoints clients need. */
typedef struct {
    char dir[2048];         /* at most 2047 bytes: paths under it must fit PATH_MAX */
    char ingest[128];       /* collector ingest endpoint */
    char ingest_key[2100];  /* collector public key file when secure, else "" */
    char mllp[64];          /* collector MLLP address IPv4:PORT */
    char http[64];          /* collector FHIR-over-HTTP address, "" when off */
    hg_proc_t procs[HG_CLI_MAX_SERVICES];
    int n_procs;
} hg_cluster_t;

/* Resolves the cluster directory: the flag, else $HOURGLASS_CLUSTER, else
 * <repo>/.cluster next to the binaries' build tree (fixed folder). */
void hg_cli_cluster_dir (const char *flag, char *out, size_t size);

/* Loads DIR/cluster.json; HG_ENOTFOUND with a hint when there is none. */
int hg_cluster_load (const char *dir, hg_cluster_t *c, hg_err_t *err);
int hg_cluster_save (const hg_cluster_t *c, hg_err_t *err);
void hg_cluster_free (hg_cluster_t *c);

/* Control endpoints of every instance of a service (e.g. "cleanser"). */
size_t hg_cluster_controls (const hg_cluster_t *c, const char *service, const char **out,
                            size_t max);

int hg_cmd_cluster (int argc, char **argv);
int hg_cmd_push (int argc, char **argv);
int hg_cmd_stats (int argc, char **argv);
int hg_cmd_query (int argc, char **argv);
int hg_cmd_quarantine (int argc, char **argv);
int hg_cmd_health (int argc, char **argv);
int hg_cmd_keygen (int argc, char **argv);
int hg_cmd_quality (int argc, char **argv);

/* Pushes HL7 v2 files over MLLP to address (IPv4:PORT); exit status. */
int hg_mllp_push (const char *address, const char *const *files, size_t n_files, bool json);

/* Prints s as a JSON string literal (quotes and escapes included). */
void hg_json_print_string (const char *s, size_t len);

#endif
