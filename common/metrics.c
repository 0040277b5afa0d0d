/*
 * metrics.c -- Prometheus exposition and its HTTP endpoint.
 */
#include "metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#define HG_METRICS_MAX 64

static void s_append (char *buf, size_t size, size_t *len, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

static void
s_append (char *buf, size_t size, size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    int n = vsnprintf (*len < size ? buf + *len : NULL, *len < size ? size - *len : 0, fmt, ap);
    va_end (ap);
    if (n > 0) {
        *len += (size_t) n;
    }
}

size_t
hg_metrics_format (char *buf, size_t size, const char *service, const char *instance,
                   const hg_metric_t *m, size_t n)
{
    size_t len = 0;
    if (size) {
        buf[0] = '\0';
    }
    char labels[256];
    snprintf (labels, sizeof (labels), "service=\"%s\",instance=\"%s\"", service, instance);
    /* histogram buckets, in bound order, made cumulative */
    uint64_t bounds[32], counts[32], inf = 0, sum_us = 0;
    size_t nb = 0;
    bool has_hist = false;
    for (size_t i = 0; i < n; i++) {
        if (strncmp (m[i].name, "latency_le_", 11) == 0) {
            has_hist = true;
            if (strcmp (m[i].name + 11, "inf") == 0) {
                inf += m[i].value;
            }
            else if (nb < 32) {
                bounds[nb] = strtoull (m[i].name + 11, NULL, 10);
                counts[nb++] = m[i].value;
            }
            continue;
        }
        if (strcmp (m[i].name, "latency_sum_us") == 0) {
            sum_us = m[i].value;
            continue;
        }
        const char *suffix = m[i].gauge ? "" : "_total";
        s_append (buf, size, &len, "# TYPE hourglass_%s%s %s\nhourglass_%s%s{%s} %llu\n",
                  m[i].name, suffix, m[i].gauge ? "gauge" : "counter", m[i].name, suffix, labels,
                  (unsigned long long) m[i].value);
    }
    if (has_hist) {
        for (size_t i = 1; i < nb; i++) { /* insertion sort by bound */
            for (size_t j = i; j > 0 && bounds[j - 1] > bounds[j]; j--) {
                uint64_t b = bounds[j], c = counts[j];
                bounds[j] = bounds[j - 1];
                counts[j] = counts[j - 1];
                bounds[j - 1] = b;
                counts[j - 1] = c;
            }
        }
        s_append (buf, size, &len, "# TYPE hourglass_latency_ms histogram\n");
        uint64_t cum = 0;
        for (size_t i = 0; i < nb; i++) {
            cum += counts[i];
            s_append (buf, size, &len, "hourglass_latency_ms_bucket{%s,le=\"%llu\"} %llu\n",
                      labels, (unsigned long long) bounds[i], (unsigned long long) cum);
        }
        cum += inf;
        s_append (buf, size, &len,
                  "hourglass_latency_ms_bucket{%s,le=\"+Inf\"} %llu\n"
                  "hourglass_latency_ms_sum{%s} %.3f\nhourglass_latency_ms_count{%s} %llu\n",
                  labels, (unsigned long long) cum, labels, (double) sum_us / 1000.0, labels,
                  (unsigned long long) cum);
    }
    return len;
}

struct hg_metrics {
    struct MHD_Daemon *daemon;
    pthread_mutex_t lock;
    char service[32], instance[64];
    char names[HG_METRICS_MAX][40]; /* snapshot, guarded by lock */
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
        pthread_mutex_lock (&self->lock);
        size_t need = hg_metrics_format (NULL, 0, self->service, self->instance, self->snapshot,
                                         self->n);
        body = malloc (need + 1);
        if (body) {
            hg_metrics_format (body, need + 1, self->service, self->instance, self->snapshot,
                               self->n);
        }
        pthread_mutex_unlock (&self->lock);
        text = body ? body : "";
    }
    else {
        text = "not found: try /metrics or /health\n";
        status = MHD_HTTP_NOT_FOUND;
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer (strlen (text), (void *) text,
                                                                 MHD_RESPMEM_MUST_COPY);
    free (body);
    MHD_add_response_header (resp, "Content-Type", "text/plain; version=0.0.4");
    enum MHD_Result rc = MHD_queue_response (conn, status, resp);
    MHD_destroy_response (resp);
    return rc;
}

hg_metrics_t *
hg_metrics_start (const char *listen, const char *service, const char *instance, hg_err_t *err)
{
    struct sockaddr_in addr = {.sin_family = AF_INET};
    const char *colon = strrchr (listen, ':');
    char host[64] = "127.0.0.1"; /* PORT alone: loopback; exposing is 0.0.0.0:PORT */
    long port;
    if (colon) {
        snprintf (host, sizeof (host), "%.*s", (int) (colon - listen), listen);
        port = strtol (colon + 1, NULL, 10);
    }
    else {
        port = strtol (listen, NULL, 10);
    }
    if (port <= 0 || port > 65535 || inet_pton (AF_INET, host, &addr.sin_addr) != 1) {
        hg_err_set (err, HG_EINVAL, "metrics listen address '%s' is not PORT or IPv4:PORT",
                    listen);
        return NULL;
    }
    addr.sin_port = htons ((uint16_t) port);
    hg_metrics_t *self = calloc (1, sizeof (*self));
    pthread_mutex_init (&self->lock, NULL);
    snprintf (self->service, sizeof (self->service), "%s", service);
    snprintf (self->instance, sizeof (self->instance), "%s", instance);
    self->daemon = MHD_start_daemon (MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, s_answer,
                                     self, MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &addr,
                                     MHD_OPTION_CONNECTION_LIMIT, 16u,
                                     MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (!self->daemon) {
        hg_err_set (err, HG_EIO, "cannot serve metrics on %s (port in use?)", listen);
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
    MHD_stop_daemon (self->daemon);
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
    }
    pthread_mutex_unlock (&self->lock);
}
