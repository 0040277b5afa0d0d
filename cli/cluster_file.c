/*
 * cluster_file.c -- DIR/cluster.json, the local cluster's record of its
 * processes and endpoints: where it is, loading and saving it. Every command
 * that reads or writes it goes through here. See cluster_file.h.
 */
#include "cluster_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <json-c/json.h>

#include "control.h"
#include "util.h"

bool
hg_cli_exe_dir (int up, char *out, size_t size)
{
    char exe[PATH_MAX];
    ssize_t n = readlink ("/proc/self/exe", exe, sizeof (exe) - 1);
    if (n <= 0) {
        return false;
    }
    exe[n] = '\0';
    for (int i = 0; i < up; i++) {
        char *slash = strrchr (exe, '/');
        if (slash) {
            *slash = '\0';
        }
    }
    snprintf (out, size, "%s", exe);
    return true;
}

void
hg_cli_cluster_dir (const char *flag, char *out, size_t size)
{
    if (flag && *flag) {
        snprintf (out, size, "%s", flag);
        return;
    }
    const char *env = getenv ("HOURGLASS_CLUSTER");
    if (env && *env) {
        snprintf (out, size, "%s", env);
        return;
    }
    /* <repo>/.cluster: the binary lives in <repo>/build/bin */
    char repo[PATH_MAX];
    if (hg_cli_exe_dir (3, repo, sizeof (repo))) {
        snprintf (out, size, "%s/.cluster", repo);
        return;
    }
    snprintf (out, size, ".cluster");
}

static void
s_proc_args_free (hg_proc_t *p)
{
    for (int i = 0; i < p->argc; i++) {
        free (p->argv[i]);
    }
    p->argc = 0;
}

void
hg_cluster_free (hg_cluster_t *c)
{
    for (int i = 0; i < c->n_procs; i++) {
        s_proc_args_free (&c->procs[i]);
    }
    c->n_procs = 0;
}

/* The string fields of cluster.json and of each process, in the file's
 * order: one table serves loading and saving. */
typedef struct {
    const char *key;
    size_t off, size;
} s_field_t;

#define S_FIELD(type, member)                                         \
    {                                                                 \
#member, offsetof(type, member), sizeof(((type *) 0)->member) \
    }

static const s_field_t s_cluster_fields[] = {
    S_FIELD (hg_cluster_t, ingest),
    S_FIELD (hg_cluster_t, ingest_key),
    S_FIELD (hg_cluster_t, mllp),
    S_FIELD (hg_cluster_t, http),
    S_FIELD (hg_cluster_t, analytics_http),
    S_FIELD (hg_cluster_t, operator_key),
    {NULL, 0, 0},
};
static const s_field_t s_proc_fields[] = {
    S_FIELD (hg_proc_t, name),        S_FIELD (hg_proc_t, service), S_FIELD (hg_proc_t, control),
    S_FIELD (hg_proc_t, control_key), S_FIELD (hg_proc_t, metrics), {NULL, 0, 0},
};

/* Copies the fields of o into rec (absent: ""; cut to the field's size). */
static void
s_fields_load (json_object *o, void *rec, const s_field_t *fields)
{
    for (const s_field_t *f = fields; f->key; f++) {
        json_object *v;
        const char *text = json_object_object_get_ex (o, f->key, &v) ? json_object_get_string (v)
                                                                     : "";
        snprintf ((char *) rec + f->off, f->size, "%s", text ? text : "");
    }
}

static void
s_fields_save (json_object *o, const void *rec, const s_field_t *fields)
{
    for (const s_field_t *f = fields; f->key; f++) {
        json_object_object_add (o, f->key, json_object_new_string ((const char *) rec + f->off));
    }
}

int
hg_cluster_load (const char *dir, hg_cluster_t *c, hg_err_t *err)
{
    memset (c, 0, sizeof (*c));
    snprintf (c->dir, sizeof (c->dir), "%.2000s", dir);
    char path[PATH_MAX];
    snprintf (path, sizeof (path), "%s/cluster.json", dir);
    char *data;
    size_t len;
    int rc = hg_read_file (path, 1 << 20, &data, &len, err);
    if (rc == HG_ENOTFOUND) {
        return hg_err_set (err, HG_ENOTFOUND,
                           "no cluster in %s (start one with: hourglass cluster up --dir %s)",
                           dir, dir);
    }
    if (rc < 0) {
        return rc;
    }
    json_object *root = json_tokener_parse (data);
    free (data);
    if (!root) {
        return hg_err_set (err, HG_EINVAL, "%s is not valid JSON", path);
    }
    s_fields_load (root, c, s_cluster_fields);
    json_object *procs;
    if (json_object_object_get_ex (root, "processes", &procs)) {
        size_t n = json_object_array_length (procs);
        for (size_t i = 0; i < n && c->n_procs < HG_CLI_MAX_SERVICES; i++) {
            json_object *o = json_object_array_get_idx (procs, i);
            hg_proc_t *p = &c->procs[c->n_procs++];
            s_fields_load (o, p, s_proc_fields);
            json_object *v;
            p->pid = json_object_object_get_ex (o, "pid", &v) ? json_object_get_int (v) : 0;
            if (json_object_object_get_ex (o, "args", &v)) {
                size_t na = json_object_array_length (v);
                for (size_t k = 0; k < na && p->argc + 1 < HG_CLI_MAX_ARGS; k++) {
                    p->argv[p->argc++] = strdup (
                        json_object_get_string (json_object_array_get_idx (v, k)));
                }
            }
        }
    }
    json_object_put (root);
    hg_err_t aerr = {0};
    static bool warned; /* push re-reads the file while it waits */
    if (hg_cluster_control_auth (c, &aerr) < 0 && !warned) {
        fprintf (stderr, "hourglass: warning: %s\n", aerr.msg);
        warned = true;
    }
    return 0;
}

int
hg_cluster_control_auth (const hg_cluster_t *c, hg_err_t *err)
{
    for (int i = 0; i < c->n_procs; i++) {
        if (*c->procs[i].control_key
            && hg_control_server_key (c->procs[i].control, c->procs[i].control_key, err) < 0) {
            return err->code;
        }
    }
    if (*c->operator_key && !hg_control_has_key ()
        && hg_control_use_key (c->operator_key, err) < 0) {
        return err->code;
    }
    return 0;
}

int
hg_cluster_save (const hg_cluster_t *c, hg_err_t *err)
{
    json_object *root = json_object_new_object ();
    s_fields_save (root, c, s_cluster_fields);
    json_object *procs = json_object_new_array ();
    for (int i = 0; i < c->n_procs; i++) {
        const hg_proc_t *p = &c->procs[i];
        json_object *o = json_object_new_object ();
        s_fields_save (o, p, s_proc_fields);
        json_object_object_add (o, "pid", json_object_new_int (p->pid));
        json_object *args = json_object_new_array ();
        for (int k = 0; k < p->argc; k++) {
            json_object_array_add (args, json_object_new_string (p->argv[k]));
        }
        json_object_object_add (o, "args", args);
        json_object_array_add (procs, o);
    }
    json_object_object_add (root, "processes", procs);
    const char *text = json_object_to_json_string_ext (root,
                                                       JSON_C_TO_STRING_PRETTY
                                                           | JSON_C_TO_STRING_NOSLASHESCAPE);
    char path[PATH_MAX];
    snprintf (path, sizeof (path), "%s/cluster.json", c->dir);
    int rc = hg_write_file_atomic (path, text, strlen (text), 0644, err);
    json_object_put (root);
    return rc;
}

size_t
hg_cluster_controls (const hg_cluster_t *c, const char *service, const char **out, size_t max)
{
    size_t n = 0;
    for (int i = 0; i < c->n_procs && n < max; i++) {
        if (strcmp (c->procs[i].service, service) == 0) {
            out[n++] = c->procs[i].control;
        }
    }
    return n;
}

int
hg_cluster_load_for (const char *flag, hg_cluster_t *c, const char *command)
{
    char dir[PATH_MAX];
    hg_cli_cluster_dir (flag, dir, sizeof (dir));
    hg_err_t err = {0};
    if (hg_cluster_load (dir, c, &err) < 0) {
        fprintf (stderr, "%s: %s\n", command, err.msg);
        return -1;
    }
    return 0;
}

bool
hg_proc_running (int pid)
{
    if (pid <= 0 || kill (pid, 0) < 0) {
        return false;
    }
    char path[64], cmd[256];
    snprintf (path, sizeof (path), "/proc/%d/cmdline", pid);
    FILE *f = fopen (path, "r");
    if (!f) {
        return false;
    }
    size_t n = fread (cmd, 1, sizeof (cmd) - 1, f);
    fclose (f);
    cmd[n] = '\0';
    if (strstr (cmd, "hourglass-") == NULL) {
        return false;
    }
    /* a zombie child of ours is not alive */
    char stat_path[64], state = 0;
    snprintf (stat_path, sizeof (stat_path), "/proc/%d/stat", pid);
    f = fopen (stat_path, "r");
    if (f) {
        int ignored;
        char comm[64];
        if (fscanf (f, "%d %63s %c", &ignored, comm, &state) != 3) {
            state = 0;
        }
        fclose (f);
    }
    return state != 'Z';
}

/* Whether a TCP connect to tcp://HOST:PORT is refused within timeout_ms. */
static bool
s_refused (const char *endpoint, int timeout_ms)
{
    if (strncmp (endpoint, "tcp://", 6) != 0) {
        return false;
    }
    char host[128];
    snprintf (host, sizeof (host), "%s", endpoint + 6);
    char *colon = strrchr (host, ':');
    if (!colon || strchr (host, '*')) {
        return false;
    }
    *colon = '\0';
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo (host, colon + 1, &hints, &res) != 0 || !res) {
        return false;
    }
    bool refused = false;
    int fd = socket (res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
        int rc = connect (fd, res->ai_addr, res->ai_addrlen);
        if (rc < 0 && errno == EINPROGRESS) {
            struct pollfd pfd = {fd, POLLOUT, 0};
            if (poll (&pfd, 1, timeout_ms) == 1) {
                int e = 0;
                socklen_t el = sizeof (e);
                getsockopt (fd, SOL_SOCKET, SO_ERROR, &e, &el);
                refused = e == ECONNREFUSED;
            }
        }
        else if (rc < 0) {
            refused = errno == ECONNREFUSED;
        }
        close (fd);
    }
    freeaddrinfo (res);
    return refused;
}

bool
hg_proc_down (const hg_proc_t *p, int timeout_ms, char *why, size_t size)
{
    if (p->pid > 0) {
        if (hg_proc_running (p->pid)) {
            return false;
        }
        snprintf (why, size, "not running (pid %d has exited; hourglass cluster up starts it)",
                  p->pid);
        return true;
    }
    if (p->argc > 0 && strncmp (p->control, "tcp://127.0.0.1:", 16) == 0) {
        /* a local cluster's process, stopped by cluster down (pid 0) */
        snprintf (why, size, "not running (stopped; hourglass cluster up starts it)");
        return true;
    }
    if (s_refused (p->control, timeout_ms)) {
        snprintf (why, size, "nothing listens at %s (connection refused: is it stopped?)",
                  p->control);
        return true;
    }
    return false;
}
