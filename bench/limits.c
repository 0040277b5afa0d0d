/*
 * hourglass-limits -- this machine's raw limits with the libraries the
 * pipeline uses, for comparison with the pipeline's own figures:
 *   - ZeroMQ PUSH/PULL messages/s over tcp loopback at a given size;
 *   - RocksDB batched, synced writes/s of records of that size.
 * Prints one JSON object. Usage:
 *   hourglass-limits [--bytes N] [--messages N] [--batch N] [--dir DIR]
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zmq.h>

#include "store.h"
#include "util.h"

typedef struct {
    void *ctx;
    const char *endpoint;
    size_t messages;
} pull_args_t;

static void *
s_puller (void *arg)
{
    pull_args_t *a = arg;
    void *pull = zmq_socket (a->ctx, ZMQ_PULL);
    zmq_connect (pull, a->endpoint);
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    for (size_t i = 0; i < a->messages; i++) {
        if (zmq_msg_recv (&msg, pull, 0) < 0) {
            break;
        }
    }
    zmq_msg_close (&msg);
    zmq_close (pull);
    return NULL;
}

static double
s_zmq_rate (size_t bytes, size_t messages)
{
    void *ctx = zmq_ctx_new ();
    void *push = zmq_socket (ctx, ZMQ_PUSH);
    zmq_bind (push, "tcp://127.0.0.1:*");
    char endpoint[256];
    size_t len = sizeof (endpoint);
    zmq_getsockopt (push, ZMQ_LAST_ENDPOINT, endpoint, &len);
    pull_args_t args = {ctx, endpoint, messages};
    pthread_t t;
    pthread_create (&t, NULL, s_puller, &args);
    char *buf = calloc (1, bytes);
    uint64_t t0 = hg_now_ms ();
    for (size_t i = 0; i < messages; i++) {
        zmq_send (push, buf, bytes, 0);
    }
    pthread_join (t, NULL);
    uint64_t ms = hg_now_ms () - t0;
    free (buf);
    zmq_close (push);
    zmq_ctx_term (ctx);
    return (double) messages * 1000.0 / (double) (ms ? ms : 1);
}

static double
s_rocksdb_rate (const char *dir, size_t bytes, size_t records, size_t batch)
{
    hg_err_t err = {0};
    hg_store_opts_t opts = {.sync = true, .compression = "lz4"};
    hg_store_t *store = hg_store_open (dir, &opts, &err);
    if (!store) {
        fprintf (stderr, "hourglass-limits: %s\n", err.msg);
        return 0;
    }
    char *val = malloc (bytes);
    for (size_t i = 0; i < bytes; i++) {
        val[i] = (char) ('a' + (i * 7 + i / 13) % 26); /* compressible like text */
    }
    hg_store_batch_t *wb = hg_store_batch_new ();
    uint64_t t0 = hg_now_ms ();
    for (size_t i = 0; i < records; i++) {
        unsigned char key[10] = {'o', '/'};
        hg_be64_put (key + 2, i);
        hg_store_batch_put (wb, key, sizeof (key), val, bytes);
        if ((i + 1) % batch == 0 || i + 1 == records) {
            hg_store_write (store, wb, true, &err);
            hg_store_batch_clear (wb);
        }
    }
    uint64_t ms = hg_now_ms () - t0;
    hg_store_batch_destroy (&wb);
    hg_store_close (&store);
    free (val);
    return (double) records * 1000.0 / (double) (ms ? ms : 1);
}

int
main (int argc, char **argv)
{
    size_t bytes = 2048, messages = 200000, batch = 256;
    const char *dir = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp (argv[i], "--bytes") == 0) {
            bytes = (size_t) atol (argv[i + 1]);
        }
        else if (strcmp (argv[i], "--messages") == 0) {
            messages = (size_t) atol (argv[i + 1]);
        }
        else if (strcmp (argv[i], "--batch") == 0) {
            batch = (size_t) atol (argv[i + 1]);
        }
        else if (strcmp (argv[i], "--dir") == 0) {
            dir = argv[i + 1];
        }
        else {
            fprintf (stderr, "usage: hourglass-limits [--bytes N] [--messages N] [--batch N] "
                             "[--dir DIR]\n");
            return 2;
        }
    }
    char tmp[] = "/tmp/hourglass-limits-XXXXXX";
    if (!dir) {
        dir = mkdtemp (tmp);
    }
    double zmq_rate = s_zmq_rate (bytes, messages);
    double rdb_rate = s_rocksdb_rate (dir, bytes, messages / 2, batch);
    printf ("{\"bytes\": %zu, \"zmq_push_pull_msgs_per_s\": %.0f, \"zmq_mb_per_s\": %.1f, "
            "\"rocksdb_synced_batch\": %zu, \"rocksdb_synced_writes_per_s\": %.0f, "
            "\"rocksdb_mb_per_s\": %.1f}\n",
            bytes, zmq_rate, zmq_rate * (double) bytes / 1e6, batch, rdb_rate,
            rdb_rate * (double) bytes / 1e6);
    if (dir == tmp) {
        char cmd[128];
        snprintf (cmd, sizeof (cmd), "rm -rf %s", tmp);
        if (system (cmd) != 0) {
            fprintf (stderr, "hourglass-limits: could not remove %s\n", tmp);
        }
    }
    return 0;
}
