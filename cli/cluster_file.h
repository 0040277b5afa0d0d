/*
 * cluster_file.h -- DIR/cluster.json: what a local cluster (hourglass
 * cluster up) records of its processes and of the endpoints clients need.
 * `cluster` writes it; push, stats, query, quarantine and quality read it.
 * This is the only code that knows the file's name and its JSON shape:
 *   {"ingest", "ingest_key", "mllp", "http", "analytics_http", "operator_key": strings,
 *    "processes": [{"name", "service", "control", "control_key", "metrics": strings,
 *                   "pid": int, "args": [strings]}]}
 * Under CurveZMQ ("cluster up --secure", deploy/compose-cluster.py) every
 * control socket is a CURVE server: control_key is its public key and
 * operator_key the key pair the CLI calls it with (control.h). metrics is
 * the instance's "http://127.0.0.1:PORT" (/metrics, /health), or "".
 * analytics_http is the analysts' API, "http://127.0.0.1:PORT" (or https://),
 * whose tokens are DIR/keys/analysts (hourglass cluster add-analyst).
 */
#ifndef HG_CLUSTER_FILE_H
#define HG_CLUSTER_FILE_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

#define HG_CLI_MAX_SERVICES 64
#define HG_CLI_MAX_ARGS 64

/* One service process of a local cluster. */
typedef struct {
    char name[64];               /* instance name: "cleanser-1" */
    char service[32];            /* "cleanser" */
    char control[128];           /* control endpoint */
    char control_key[2100];      /* its CURVE public key (.pub or Z85), "" when plaintext */
    char metrics[64];            /* "http://127.0.0.1:PORT" (/metrics, /health), or "" */
    int pid;                     /* 0 when not running */
    char *argv[HG_CLI_MAX_ARGS]; /* arguments after the binary (owned) */
    int argc;
} hg_proc_t;

/* What cluster.json holds: the processes and the endpoints clients need. */
typedef struct {
    char dir[2048];          /* at most 2047 bytes: paths under it must fit PATH_MAX */
    char ingest[128];        /* collector ingest endpoint */
    char ingest_key[2100];   /* collector public key file when secure, else "" */
    char mllp[64];           /* collector MLLP address IPv4:PORT */
    char http[64];           /* collector FHIR-over-HTTP address, "" when off */
    char analytics_http[96]; /* the analysts' API: "http://127.0.0.1:PORT", "" when off */
    char operator_key[2100]; /* key pair of control calls when secure, else "" */
    hg_proc_t procs[HG_CLI_MAX_SERVICES];
    int n_procs;
} hg_cluster_t;

/* The directory up levels above the running binary (/proc/self/exe): 1
 * the folder it is in (build/bin), 3 the repository above build/bin.
 * False, out untouched, when the binary's path cannot be read. */
bool hg_cli_exe_dir (int up, char *out, size_t size);

/* Resolves the cluster directory: the flag, else $HOURGLASS_CLUSTER, else
 * <repo>/.cluster next to the binaries' build tree (fixed folder). */
void hg_cli_cluster_dir (const char *flag, char *out, size_t size);

/* Loads DIR/cluster.json; HG_ENOTFOUND with a hint when there is none. */
int hg_cluster_load (const char *dir, hg_cluster_t *c, hg_err_t *err);

/* Sets up the control plane's credentials of c (control.h): every
 * process's control_key, and operator_key unless a key was set before (a
 * --key flag). hg_cluster_load calls it (and warns on stderr if the
 * operator key cannot be read). */
int hg_cluster_control_auth (const hg_cluster_t *c, hg_err_t *err);

/* Writes c to c->dir/cluster.json atomically. */
int hg_cluster_save (const hg_cluster_t *c, hg_err_t *err);

/* Frees the processes' arguments (c itself is the caller's). */
void hg_cluster_free (hg_cluster_t *c);

/* Resolves the directory from flag (as hg_cli_cluster_dir) and loads it; on
 * failure prints "<command>: <why>" on stderr and returns -1. For the
 * client commands, which all start this way. */
int hg_cluster_load_for (const char *flag, hg_cluster_t *c, const char *command);

/* True when pid runs one of our service binaries (and is no zombie): a
 * recorded pid that another program reuses is not ours. */
bool hg_proc_running (int pid);

/* Whether p is known to be down, without a control call: a local process
 * (pid > 0) that is not running, or (pid 0: a container's published port)
 * a tcp:// control endpoint that refuses connections (asked with a
 * non-blocking connect, at most timeout_ms). True with why ("not running
 * (pid 1234 exited)", "nothing listens at 127.0.0.1:5562"); false when it
 * may be up (a control call then tells). */
bool hg_proc_down (const hg_proc_t *p, int timeout_ms, char *why, size_t size);

/* Control endpoints of every instance of a service (e.g. "cleanser"). */
size_t hg_cluster_controls (const hg_cluster_t *c, const char *service, const char **out,
                            size_t max);

#endif
