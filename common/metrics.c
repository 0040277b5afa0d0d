/*
 * metrics.c -- Prometheus exposition and its HTTP endpoint.
 */
#include "metrics.h"

#include <dirent.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <microhttpd.h>

#include "http_server.h"

#define HG_METRICS_MAX 512

/* ---- the catalogue -------------------------------------------------------- */

/* Who counts a counter: a list of service names, or one of these. */
#define ALL "collector,cleanser,deid,indexer,analytics"
#define CONSUMERS "cleanser,deid,indexer"
#define PRODUCERS "collector,cleanser,deid"

typedef struct {
    const char *counter;  /* the service's counter name */
    const char *metric;   /* exposed as hourglass_<metric>_total */
    bool micros;          /* counted in µs, exposed in seconds */
    const char *services; /* comma-separated services that count it */
    const char *help;
} hg_metric_def_t;

/* Every counter a service counts, what it is exposed as, and what it means.
 * A counter missing here is still exposed (HELP says so); the integration
 * test test_metrics.py lists the counters the sources count that are
 * missing. */
static const hg_metric_def_t s_catalogue[] = {
    /* the runtime's, in every service or every stage of a kind */
    {"received", "received", false, ALL,
     "Messages received (collector: accepted from partners; stages: deliveries from upstream)"},
    {"duplicates", "duplicates", false, "collector,cleanser,deid,indexer",
     "Messages already stored, acknowledged again and not processed twice"},
    {"undecodable", "undecodable", false, CONSUMERS,
     "Deliveries that did not decode as an envelope (acknowledged, kept in quarantine)"},
    {"process_us", "process_seconds", true, CONSUMERS, "Time spent processing deliveries"},
    {"commits", "commits", false, ALL, "Group commits (one synced RocksDB write batch each)"},
    {"commit_us", "commit_seconds", true, ALL, "Time spent in group commits, fsync included"},
    {"redelivered", "redelivered", false, PRODUCERS,
     "Outbox messages handed out again after their downstream went away or timed out"},
    {"auth_refused", "auth_refused", false, ALL,
     "CurveZMQ handshakes refused (a key not on the allow-list)"},
    {"reloads", "reloads", false, ALL, "SIGHUP reloads of the allow-lists that succeeded"},
    {"control_refused", "control_refused", false, ALL,
     "Control requests refused because the caller's key lacks the role they need"},
    {"disk_full", "disk_full", false, ALL,
     "Times the store's disk was found full (the instance refused work, then resumed)"},
    {"adopted", "adopted", false, "cleanser,deid",
     "Outbox entries adopted from the store of a replica that is gone"},
    /* collector */
    {"received_bytes", "received_bytes", false, "collector", "Payload bytes accepted"},
    {"rejected", "rejected", false, "collector,deid,indexer",
     "Messages refused (collector: too large or claiming another partner; stages: records "
     "that failed their checks)"},
    {"busy", "busy", false, "collector",
     "Pushes answered BUSY because the pipeline is saturated"},
    {"over_quota", "over_quota", false, "collector",
     "Pushes answered BUSY because the partner is over its quota"},
    {"mllp_acked", "mllp_acked", false, "collector", "MLLP messages answered AA"},
    {"mllp_nacked", "mllp_nacked", false, "collector", "MLLP messages answered AE or AR"},
    {"mllp_junk", "mllp_junk", false, "collector",
     "MLLP frames that were not HL7 (answered AR, kept in the bounded junk ring)"},
    {"http_tokens_reloaded", "http_tokens_reloaded", false, "collector",
     "Reloads of the HTTP bearer-token file that succeeded"},
    {"http_tokens_reload_failed", "http_tokens_reload_failed", false, "collector",
     "Reloads of the HTTP bearer-token file refused (the previous tokens stay)"},
    /* cleanser */
    {"parsed", "parsed", false, "cleanser", "Records parsed into the canonical model"},
    {"quarantined", "quarantined", false, "cleanser",
     "Records or messages quarantined with a reason"},
    {"ignored", "ignored", false, "cleanser", "Segments or resources ignored on purpose"},
    {"flagged", "flagged", false, "cleanser", "Records kept with a data-quality flag"},
    {"patient_relinked", "patient_relinked", false, "cleanser",
     "Records linked to a patient known under another identifier"},
    {"patient_unlinked", "patient_unlinked", false, "cleanser",
     "Records whose patient could not be linked"},
    /* deid */
    {"deidentified", "deidentified", false, "deid", "Records de-identified and passed on"},
    {"text_scrubbed", "text_scrubbed", false, "deid",
     "Free texts (notes, comments, text results) passed on scrubbed of PHI"},
    {"text_dropped", "text_dropped", false, "deid",
     "Free texts removed because they could not be scrubbed safely (fail closed)"},
    {"scrub_lexicons_reloaded", "scrub_lexicons_reloaded", false, "deid",
     "SIGHUP reloads of the scrubber's lexicon files that succeeded"},
    {"scrub_lexicons_reload_failed", "scrub_lexicons_reload_failed", false, "deid",
     "SIGHUP reloads of the scrubber's lexicon files refused (the previous lexicons stay)"},
    /* indexer */
    {"indexed", "indexed", false, "indexer", "Records indexed"},
    {"duplicate_records", "duplicate_records", false, "indexer",
     "Records already indexed (same content key), not counted twice"},
    {"exported", "exported", false, "indexer", "De-identified records given to an export"},
    /* analytics */
    {"queries", "queries", false, "analytics", "Queries answered"},
    {"query_errors", "query_errors", false, "analytics", "Queries that failed"},
    {"suppressed", "suppressed", false, "analytics",
     "Answers with at least one number suppressed as a small cell"},
    {"dp_answers", "dp_answers", false, "analytics",
     "Answers released under role dp (noise, charged to the analyst's epsilon budget)"},
    {"dp_refused", "dp_refused", false, "analytics",
     "Role dp queries refused because the analyst's epsilon budget is spent"},
};

/* Gauges the runtime publishes. */
static const struct {
    const char *name, *services, *help;
} s_gauges[] = {
    {"outbox_depth", PRODUCERS, "Messages in the outbox not yet acknowledged downstream"},
    {"store_bytes", ALL, "Bytes of this instance's RocksDB store on disk"},
    {"in_process", CONSUMERS, "Deliveries received and not yet committed"},
    {"upstreams", CONSUMERS, "Upstream instances this instance is connected to"},
    {"refusing", ALL, "1 while the instance refuses work because its store's disk is full"},
    {"draining", "cleanser,deid",
     "1 while the replica is drained (hourglass drain): it takes no new work"},
    {"unadopted_slots", "cleanser,deid",
     "Slots of gone replicas on this replica's volume whose store it could not adopt"},
};

/* Per-partner counts (hg_metric_t.partner set; partner_counts.h). */
static const struct {
    const char *name, *help;
} s_partner[] = {
    {"received", "Messages accepted from the partner"},
    {"received_bytes", "Payload bytes accepted from the partner"},
    {"busy", "Pushes of the partner answered BUSY (saturated or over quota)"},
    {"rejected", "Pushes of the partner refused"},
    {"quarantined", "Records or messages of the partner quarantined"},
};

static const unsigned s_bounds_ms[] = HG_LATENCY_BOUNDS_MS;
#define HG_LATENCY_N (sizeof (s_bounds_ms) / sizeof (s_bounds_ms[0]))
#define HG_N(a) (sizeof (a) / sizeof ((a)[0]))

static bool
s_serves (const char *list, const char *service)
{
    size_t len = strlen (service);
    for (const char *p = list; p && *p;) {
        const char *comma = strchr (p, ',');
        size_t n = comma ? (size_t) (comma - p) : strlen (p);
        if (n == len && strncmp (p, service, len) == 0) {
            return true;
        }
        p = comma ? comma + 1 : NULL;
    }
    return false;
}

static const hg_metric_def_t *
s_find (const char *counter)
{
    for (size_t i = 0; i < HG_N (s_catalogue); i++) {
        if (strcmp (s_catalogue[i].counter, counter) == 0) {
            return &s_catalogue[i];
        }
    }
    return NULL;
}

static bool
s_is_latency (const char *name)
{
    return strncmp (name, "latency_le_", 11) == 0 || strcmp (name, "latency_sum_us") == 0;
}

bool
hg_metrics_known (const char *name)
{
    if (s_is_latency (name) || s_find (name)) {
        return true;
    }
    for (size_t i = 0; i < HG_N (s_gauges); i++) {
        if (strcmp (s_gauges[i].name, name) == 0) {
            return true;
        }
    }
    return false;
}

/* ---- formatting ------------------------------------------------------------ */

typedef struct {
    char *buf;
    size_t size, len;
    char labels[256]; /* service="...",instance="..." */
} out_t;

static void s_put (out_t *o, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_put (out_t *o, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    int n = vsnprintf (o->len < o->size ? o->buf + o->len : NULL,
                       o->len < o->size ? o->size - o->len : 0, fmt, ap);
    va_end (ap);
    if (n > 0) {
        o->len += (size_t) n;
    }
}

static void
s_family (out_t *o, const char *name, const char *type, const char *help)
{
    s_put (o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value as the exposition format wants it: \ " and newline escaped. */
static void
s_label_value (char *out, size_t size, const char *v)
{
    size_t j = 0;
    for (; *v && j + 2 < size; v++) {
        if (*v == '\\' || *v == '"' || *v == '\n') {
            out[j++] = '\\';
            out[j++] = *v == '\n' ? 'n' : *v;
        }
        else {
            out[j++] = *v;
        }
    }
    out[j] = '\0';
}

/* The sum of the (label-less) entries called name. */
static uint64_t
s_value (const hg_metric_t *m, size_t n, const char *name, bool *found)
{
    uint64_t v = 0;
    *found = false;
    for (size_t i = 0; i < n; i++) {
        if (!m[i].partner && strcmp (m[i].name, name) == 0) {
            v += m[i].value;
            *found = true;
        }
    }
    return v;
}

static void
s_sample (out_t *o, const char *name, bool micros, uint64_t v)
{
    if (micros) {
        s_put (o, "%s{%s} %.6f\n", name, o->labels, (double) v / 1e6);
    }
    else {
        s_put (o, "%s{%s} %llu\n", name, o->labels, (unsigned long long) v);
    }
}

static void
s_catalogued (out_t *o, const char *service, const hg_metric_t *m, size_t n)
{
    char name[96];
    for (size_t i = 0; i < HG_N (s_catalogue); i++) {
        const hg_metric_def_t *d = &s_catalogue[i];
        bool found;
        uint64_t v = s_value (m, n, d->counter, &found);
        if (!found && !s_serves (d->services, service)) {
            continue;
        }
        snprintf (name, sizeof (name), "hourglass_%s_total", d->metric);
        s_family (o, name, "counter", d->help);
        s_sample (o, name, d->micros, v);
    }
    for (size_t i = 0; i < HG_N (s_gauges); i++) {
        bool found;
        uint64_t v = s_value (m, n, s_gauges[i].name, &found);
        if (!found && !s_serves (s_gauges[i].services, service)) {
            continue;
        }
        snprintf (name, sizeof (name), "hourglass_%s", s_gauges[i].name);
        s_family (o, name, "gauge", s_gauges[i].help);
        s_sample (o, name, false, v);
    }
}

/* Counters the catalogue does not know (a newer counter, or one adopted
 * from an older store): exposed all the same, each family once. */
static void
s_uncatalogued (out_t *o, const hg_metric_t *m, size_t n)
{
    char name[96], help[160];
    for (size_t i = 0; i < n; i++) {
        if (m[i].partner || hg_metrics_known (m[i].name)) {
            continue;
        }
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++) {
            seen = !m[j].partner && strcmp (m[j].name, m[i].name) == 0;
        }
        if (seen) {
            continue;
        }
        bool found;
        uint64_t v = s_value (m, n, m[i].name, &found);
        snprintf (name, sizeof (name), "hourglass_%s%s", m[i].name, m[i].gauge ? "" : "_total");
        snprintf (help, sizeof (help), "%s '%s' (not described in the catalogue)",
                  m[i].gauge ? "Gauge" : "Counter", m[i].name);
        s_family (o, name, m[i].gauge ? "gauge" : "counter", help);
        s_sample (o, name, false, v);
    }
}

static void
s_partners (out_t *o, const hg_metric_t *m, size_t n)
{
    char name[96], value[160];
    for (size_t k = 0; k < HG_N (s_partner); k++) {
        bool family = false;
        snprintf (name, sizeof (name), "hourglass_partner_%s_total", s_partner[k].name);
        for (size_t i = 0; i < n; i++) {
            if (!m[i].partner || strcmp (m[i].name, s_partner[k].name) != 0) {
                continue;
            }
            if (!family) {
                s_family (o, name, "counter", s_partner[k].help);
                family = true;
            }
            s_label_value (value, sizeof (value), m[i].partner);
            s_put (o, "%s{%s,partner=\"%s\"} %llu\n", name, o->labels, value,
                   (unsigned long long) m[i].value);
        }
    }
}

static bool
s_fixed_bound (const char *counter)
{
    char name[32];
    for (size_t b = 0; b < HG_LATENCY_N; b++) {
        snprintf (name, sizeof (name), "latency_le_%u", s_bounds_ms[b]);
        if (strcmp (name, counter) == 0) {
            return true;
        }
    }
    return false;
}

/* The indexer's latency_le_<ms> counters as one cumulative histogram, in
 * seconds, with every fixed bucket present from start. */
static void
s_latency (out_t *o, const char *service, const hg_metric_t *m, size_t n)
{
    bool any = false, found;
    for (size_t i = 0; i < n && !any; i++) {
        any = !m[i].partner && s_is_latency (m[i].name);
    }
    if (!any && strcmp (service, "indexer") != 0) {
        return;
    }
    const char *name = "hourglass_latency_seconds";
    s_family (o, name, "histogram",
              "Time from the collector's acceptance to the indexer's commit");
    char counter[32];
    uint64_t cum = 0;
    for (size_t b = 0; b < HG_LATENCY_N; b++) {
        snprintf (counter, sizeof (counter), "latency_le_%u", s_bounds_ms[b]);
        cum += s_value (m, n, counter, &found);
        s_put (o, "%s_bucket{%s,le=\"%g\"} %llu\n", name, o->labels, s_bounds_ms[b] / 1000.0,
               (unsigned long long) cum);
    }
    /* latency_le_inf, and a bound this build does not know (an older
     * store's): counted in +Inf only */
    for (size_t i = 0; i < n; i++) {
        if (!m[i].partner && strncmp (m[i].name, "latency_le_", 11) == 0
            && !s_fixed_bound (m[i].name)) {
            cum += m[i].value;
        }
    }
    s_put (o, "%s_bucket{%s,le=\"+Inf\"} %llu\n", name, o->labels, (unsigned long long) cum);
    s_put (o, "%s_sum{%s} %.6f\n", name, o->labels,
           (double) s_value (m, n, "latency_sum_us", &found) / 1e6);
    s_put (o, "%s_count{%s} %llu\n", name, o->labels, (unsigned long long) cum);
}

static void
s_process (out_t *o, const hg_process_stats_t *p)
{
    s_family (o, "process_cpu_seconds_total", "counter", "User and system CPU time spent");
    s_put (o, "process_cpu_seconds_total{%s} %.2f\n", o->labels, p->cpu_seconds);
    s_family (o, "process_resident_memory_bytes", "gauge", "Resident memory size");
    s_put (o, "process_resident_memory_bytes{%s} %llu\n", o->labels,
           (unsigned long long) p->resident_bytes);
    s_family (o, "process_virtual_memory_bytes", "gauge", "Virtual memory size");
    s_put (o, "process_virtual_memory_bytes{%s} %llu\n", o->labels,
           (unsigned long long) p->virtual_bytes);
    s_family (o, "process_open_fds", "gauge", "Open file descriptors");
    s_put (o, "process_open_fds{%s} %llu\n", o->labels, (unsigned long long) p->open_fds);
    s_family (o, "process_max_fds", "gauge", "Maximum number of open file descriptors");
    s_put (o, "process_max_fds{%s} %llu\n", o->labels, (unsigned long long) p->max_fds);
    s_family (o, "process_start_time_seconds", "gauge",
              "Start time of the process since the epoch");
    s_put (o, "process_start_time_seconds{%s} %.2f\n", o->labels, p->start_time_seconds);
}

#ifndef HG_VERSION
#define HG_VERSION "unknown"
#endif
#ifndef HG_REVISION
#define HG_REVISION "unknown"
#endif

size_t
hg_metrics_format (char *buf, size_t size, const char *service, const char *instance,
                   const hg_metric_t *m, size_t n, const hg_process_stats_t *proc)
{
    out_t o = {.buf = buf, .size = size};
    if (size) {
        buf[0] = '\0';
    }
    char sv[64], iv[128];
    s_label_value (sv, sizeof (sv), service);
    s_label_value (iv, sizeof (iv), instance);
    snprintf (o.labels, sizeof (o.labels), "service=\"%s\",instance=\"%s\"", sv, iv);
    s_family (&o, "hourglass_build_info", "gauge", "Always 1: the version this instance runs");
    s_put (&o, "hourglass_build_info{%s,version=\"%s\",revision=\"%s\"} 1\n", o.labels,
           HG_VERSION, HG_REVISION);
    s_catalogued (&o, service, m, n);
    s_uncatalogued (&o, m, n);
    s_latency (&o, service, m, n);
    s_partners (&o, m, n);
    if (proc) {
        s_process (&o, proc);
    }
    return o.len;
}

/* ---- /proc ---------------------------------------------------------------- */

static void
s_read_stat (hg_process_stats_t *out)
{
    long tick = sysconf (_SC_CLK_TCK), page = sysconf (_SC_PAGESIZE);
    char line[1024];
    FILE *f = fopen ("/proc/self/stat", "r");
    if (!f) {
        return;
    }
    /* the fields after the command name, which may hold spaces and ')' */
    const char *p = fgets (line, sizeof (line), f) ? strrchr (line, ')') : NULL;
    unsigned long long utime, stime, start, vsize, rss;
    if (p && tick > 0
        && sscanf (p + 2,
                   "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d "
                   "%*d %llu %llu %llu",
                   &utime, &stime, &start, &vsize, &rss)
               == 5) {
        out->cpu_seconds = (double) (utime + stime) / (double) tick;
        out->virtual_bytes = vsize;
        out->resident_bytes = rss * (unsigned long long) page;
        out->start_time_seconds = (double) start / (double) tick;
    }
    fclose (f);
    f = fopen ("/proc/stat", "r"); /* the start is counted from boot */
    while (f && fgets (line, sizeof (line), f)) {
        unsigned long long btime;
        if (sscanf (line, "btime %llu", &btime) == 1) {
            out->start_time_seconds += (double) btime;
        }
    }
    if (f) {
        fclose (f);
    }
}

void
hg_metrics_process_read (hg_process_stats_t *out)
{
    memset (out, 0, sizeof (*out));
    s_read_stat (out);
    DIR *d = opendir ("/proc/self/fd");
    for (struct dirent *e; d && (e = readdir (d));) {
        out->open_fds += e->d_name[0] != '.';
    }
    if (d) {
        out->open_fds--; /* the directory's own descriptor */
        closedir (d);
    }
    struct rlimit rl;
    if (getrlimit (RLIMIT_NOFILE, &rl) == 0) {
        out->max_fds = rl.rlim_cur;
    }
}

struct hg_metrics {
    hg_http_daemon_t *daemon;
    pthread_mutex_t lock;
    char service[32], instance[64];
    char names[HG_METRICS_MAX][40]; /* snapshot, guarded by lock */
    char partners[HG_METRICS_MAX][64];
    hg_metric_t snapshot[HG_METRICS_MAX];
    size_t n;
};

static enum MHD_Result
s_answer (void *cls, struct MHD_Connection *conn, const char *url, const char *method,
          const char *version, const char *upload, size_t *upload_len, void **con_cls)
{
    (void) version;
    (void) upload;
    (void) upload_len;
    (void) con_cls;
    hg_metrics_t *self = cls;
    const char *text;
    char *body = NULL;
    unsigned status = MHD_HTTP_OK;
    if (strcmp (method, "GET") != 0) {
        text = "method not allowed\n";
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
    }
    else if (strcmp (url, "/health") == 0) {
        text = "ok\n";
    }
    else if (strcmp (url, "/metrics") == 0) {
        hg_process_stats_t proc;
        hg_metrics_process_read (&proc);
        pthread_mutex_lock (&self->lock);
        size_t need = hg_metrics_format (NULL, 0, self->service, self->instance, self->snapshot,
                                         self->n, &proc);
        body = malloc (need + 1);
        if (body) {
            hg_metrics_format (body, need + 1, self->service, self->instance, self->snapshot,
                               self->n, &proc);
        }
        pthread_mutex_unlock (&self->lock);
        text = body ? body : "";
    }
    else {
        text = "not found: try /metrics or /health\n";
        status = MHD_HTTP_NOT_FOUND;
    }
    enum MHD_Result rc = hg_http_send (conn, status, "text/plain; version=0.0.4", text,
                                       strlen (text), NULL);
    free (body);
    return rc;
}

hg_metrics_t *
hg_metrics_start (const char *listen, const char *service, const char *instance, hg_err_t *err)
{
    hg_metrics_t *self = calloc (1, sizeof (*self));
    if (!self) {
        hg_err_set (err, HG_ENOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init (&self->lock, NULL);
    snprintf (self->service, sizeof (self->service), "%s", service);
    snprintf (self->instance, sizeof (self->instance), "%s", instance);
    /* PORT alone: loopback; exposing is 0.0.0.0:PORT. Its answers never wait:
     * one thread serves every connection. */
    hg_http_daemon_opts_t d = {.listen = listen,
                               .default_host = "127.0.0.1",
                               .listen_opt = "metrics",
                               .name = "metrics",
                               .log_tag = "metrics",
                               .max_conns = 16,
                               .idle_s = 10,
                               .one_thread = true,
                               .handler = s_answer,
                               .cls = self};
    self->daemon = hg_http_daemon_start (&d, err);
    if (!self->daemon) {
        pthread_mutex_destroy (&self->lock);
        free (self);
        return NULL;
    }
    return self;
}

void
hg_metrics_stop (hg_metrics_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    hg_metrics_t *self = *self_p;
    hg_http_daemon_stop (&self->daemon);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

void
hg_metrics_publish (hg_metrics_t *self, const hg_metric_t *m, size_t n)
{
    pthread_mutex_lock (&self->lock);
    self->n = n < HG_METRICS_MAX ? n : HG_METRICS_MAX;
    for (size_t i = 0; i < self->n; i++) {
        snprintf (self->names[i], sizeof (self->names[i]), "%s", m[i].name);
        self->snapshot[i] = m[i];
        self->snapshot[i].name = self->names[i];
        if (m[i].partner) {
            snprintf (self->partners[i], sizeof (self->partners[i]), "%s", m[i].partner);
            self->snapshot[i].partner = self->partners[i];
        }
    }
    pthread_mutex_unlock (&self->lock);
}
