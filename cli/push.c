/*
 * push.c -- `hourglass push`: sends partner files to the collector, one
 * batch per file, pipelined, and waits for the cleansers' outcomes.
 *
 * Each file is an item moving through named states:
 *
 *   TO_SEND --sent--> IN_FLIGHT --ACCEPTED--> ACCEPTED
 *      ^  \               |  |  \--DUPLICATE--> DUPLICATE
 *      |   \unreadable    |  \--REJECTED-----> REFUSED
 *      |    `-> REFUSED   |
 *      `--BUSY (retry_at), or no answer in 10 s (resent: idempotent)
 *
 * ACCEPTED, DUPLICATE and REFUSED are final ("answered"); an item still
 * TO_SEND or IN_FLIGHT at the deadline is "not delivered". Files are read
 * when first sent and freed once answered, so a push of many files holds
 * only the window's in memory; the file list itself is on the heap.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <zmq.h>

#include "cli.h"
#include "control.h"
#include "curve.h"
#include "format.h"
#include "opts.h"
#include "util.h"
#include "zmsg.h"

#define HG_PUSH_WINDOW 64 /* batches in flight */
#define HG_PUSH_MAX_FILE (1024u * 1024u * 1024u)
#define HG_PUSH_RESEND_MS 10000 /* unanswered this long: resent */
#define HG_PUSH_WAIT_DEFAULT_S 120
#define HG_PUSH_HANDSHAKE_MS \
    5000 /* ZMQ_HANDSHAKE_IVL: a connection that does not finish its
                                   * handshake in this long is dropped (and retried) */

typedef enum {
    PUSH_TO_SEND,   /* not sent yet, or to be sent again (BUSY, no answer) */
    PUSH_IN_FLIGHT, /* sent, waiting for the collector's answer */
    PUSH_ACCEPTED,  /* journalled by the collector (final) */
    PUSH_DUPLICATE, /* accepted earlier (final) */
    PUSH_REFUSED,   /* rejected by the collector, or unreadable (final) */
} push_state_t;

typedef struct {
    const char *path;
    char message_id[600];
    char batch_id[300];
    char *data; /* the file while it may be sent, else NULL */
    size_t len;
    push_state_t state;
    char reason[512]; /* why REFUSED */
    uint64_t sent_ms, retry_at_ms;
    unsigned attempts;
    int records, quarantined; /* from the cleanser's outcome; -1 unknown */
    char first_reason[512];
} push_item_t;

/* The command line. */
typedef struct {
    const char *cluster, *format, *partner, *batch_id, *key_file, *server_key;
    const char *mllp; /* NULL: ZeroMQ; "": the cluster's MLLP; else HOST:PORT */
    bool json;
    int wait_s;
    int retry_s; /* --mllp: how long one message is retried through an outage */
    double rate; /* new batches per second, 0: as fast as accepted */
} push_opts_t;

/* One push in progress. */
typedef struct {
    const push_opts_t *o;
    hg_cluster_t cluster;
    push_item_t *items;
    size_t n;
    void *zctx, *sock;
    size_t done;                              /* items in a final state */
    size_t first_sends;                       /* items sent at least once (pacing) */
    size_t open;                              /* items before it are all final */
    size_t flying[HG_PUSH_WINDOW], in_flight; /* indexes of IN_FLIGHT items */
    uint64_t started_ms;
    /* the connection, as the socket monitor tells it (s_on_monitor) */
    void *mon;              /* PAIR connected to the DEALER's monitor */
    bool handshaken;        /* a handshake succeeded at least once */
    unsigned tcp_connected; /* TCP connections made */
    unsigned refused;       /* connection attempts refused or failed */
    unsigned hs_failed;     /* handshakes that failed (protocol, timeout) */
    bool auth_refused;      /* the collector's ZAP handler refused our key */
    uint64_t first_connect_ms;
    char fatal[512];  /* why delivery was given up, "" while it goes on */
    char silent[512]; /* a cleanser that did not answer the last outcome query */
    /* the progress line (a terminal, not --json) and what push waits for */
    bool progress;
    uint64_t progress_ms;             /* next redraw */
    uint64_t outcomes_ms;             /* next outcome poll while delivering */
    uint64_t bytes_total, bytes_done; /* sizes of the files, of those answered */
    char waiting[512];                /* the stage it waits for, "" while all goes on */
    uint64_t stall_ms;                /* next check of what it waits for */
    uint64_t busy_since_ms;           /* answered BUSY since (0: not) */
    bool line_shown;                  /* a progress line is on the terminal */
} push_t;

static bool
s_final (push_state_t st)
{
    return st == PUSH_ACCEPTED || st == PUSH_DUPLICATE || st == PUSH_REFUSED;
}

/* Delivered and known to the collector: its outcome can be asked for. */
static bool
s_delivered (push_state_t st)
{
    return st == PUSH_ACCEPTED || st == PUSH_DUPLICATE;
}

/* ---- items ------------------------------------------------------------------ */

static void
s_default_batch_id (push_item_t *it)
{
    unsigned char h[8];
    crypto_generichash (h, sizeof (h), (const unsigned char *) it->data, it->len, NULL, 0);
    char hex[17];
    sodium_bin2hex (hex, sizeof (hex), h, sizeof (h));
    const char *base = strrchr (it->path, '/');
    base = base ? base + 1 : it->path;
    snprintf (it->batch_id, sizeof (it->batch_id), "%.200s-%s", base, hex);
}

/* Reads a regular file of known size with one open, fstat and read loop;
 * anything else (a pipe, /proc) as a stream. */
static void
s_read (push_item_t *it, hg_err_t *err)
{
    int fd = open (it->path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0) {
        hg_err_set (err, HG_EIO, "cannot open %s: %s", it->path, strerror (errno));
        return;
    }
    if (fstat (fd, &sb) < 0 || !S_ISREG (sb.st_mode) || sb.st_size == 0) {
        close (fd);
        hg_read_file (it->path, HG_PUSH_MAX_FILE, &it->data, &it->len, err);
        return;
    }
    if ((uint64_t) sb.st_size > HG_PUSH_MAX_FILE) {
        hg_err_set (err, HG_ELIMIT, "%s is larger than the limit of %u bytes", it->path,
                    HG_PUSH_MAX_FILE);
    }
    else if (!(it->data = malloc ((size_t) sb.st_size + 1))) {
        hg_err_set (err, HG_ENOMEM, "out of memory reading %s", it->path);
    }
    else {
        size_t n = 0, want = (size_t) sb.st_size;
        while (n < want) {
            ssize_t got = read (fd, it->data + n, want - n);
            if (got < 0 && errno == EINTR) {
                continue;
            }
            if (got <= 0) {
                hg_err_set (err, HG_EIO, "cannot read %s: %s", it->path,
                            got < 0 ? strerror (errno) : "file shrank while being read");
                break;
            }
            n += (size_t) got;
        }
        it->len = n;
        it->data[n] = '\0';
    }
    close (fd);
}

/* Reads the file of a TO_SEND item and names its batch; an unreadable one
 * becomes REFUSED with the reason (-1). */
static int
s_item_load (push_item_t *it, const char *batch_id, const char *partner)
{
    hg_err_t err = {0};
    s_read (it, &err);
    if (err.code) {
        free (it->data);
        it->data = NULL;
        fprintf (stderr, "hourglass push: %s\n", err.msg);
        it->state = PUSH_REFUSED;
        snprintf (it->reason, sizeof (it->reason), "%s", err.msg);
        return -1;
    }
    if (batch_id) {
        snprintf (it->batch_id, sizeof (it->batch_id), "%s", batch_id);
    }
    else {
        s_default_batch_id (it);
    }
    snprintf (it->message_id, sizeof (it->message_id), "%s/%s", partner, it->batch_id);
    return 0;
}

/* TO_SEND -> IN_FLIGHT: one PushRequest on the DEALER socket. */
static int
s_item_send (void *sock, push_item_t *it, const char *partner, const char *format)
{
    Hourglass__PushRequest req = HOURGLASS__PUSH_REQUEST__INIT;
    req.partner = (char *) partner;
    req.batch_id = it->batch_id;
    req.format = (char *) format;
    req.payload.data = (uint8_t *) it->data;
    req.payload.len = it->len;
    size_t len = hourglass__push_request__get_packed_size (&req);
    zmq_msg_t msg;
    zmq_msg_init_size (&msg, len);
    hourglass__push_request__pack (&req, zmq_msg_data (&msg));
    /* replies carry the message id, which matches them to files */
    /* never blocks: with no completed connection the item stays TO_SEND */
    if (zmq_send (sock, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0
        || zmq_msg_send (&msg, sock, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&msg);
        return -1;
    }
    it->state = PUSH_IN_FLIGHT;
    it->sent_ms = hg_now_ms ();
    it->attempts++;
    return 0;
}

/* IN_FLIGHT -> the state the collector's answer says. */
static void
s_item_answer (push_item_t *it, const Hourglass__PushReply *rep)
{
    snprintf (it->message_id, sizeof (it->message_id), "%s", rep->message_id);
    switch (rep->status) {
    case HOURGLASS__PUSH_REPLY__STATUS__ACCEPTED:
        it->state = PUSH_ACCEPTED;
        break;
    case HOURGLASS__PUSH_REPLY__STATUS__DUPLICATE:
        it->state = PUSH_DUPLICATE;
        break;
    case HOURGLASS__PUSH_REPLY__STATUS__BUSY:
        it->state = PUSH_TO_SEND;
        it->retry_at_ms = hg_now_ms () + (rep->retry_after_ms ? rep->retry_after_ms : 200);
        break;
    default:
        it->state = PUSH_REFUSED;
        snprintf (it->reason, sizeof (it->reason), "%s", rep->reason);
        break;
    }
    if (s_final (it->state)) {
        free (it->data); /* answered: the file is no longer needed */
        it->data = NULL;
    }
}

/* ---- the delivery loop ------------------------------------------------------ */

/* Sends what the window, the pacing and the BUSY delays allow. */
static void
s_send_window (push_t *p)
{
    uint64_t now = hg_now_ms ();
    while (p->open < p->n && s_final (p->items[p->open].state)) {
        p->open++;
    }
    for (size_t i = p->open; i < p->n && p->in_flight < HG_PUSH_WINDOW; i++) {
        push_item_t *it = &p->items[i];
        if (p->o->rate > 0 && it->attempts == 0
            && (double) p->first_sends >= p->o->rate * (double) (now - p->started_ms) / 1000.0) {
            break; /* paced: not yet time for the next new batch */
        }
        if (it->state != PUSH_TO_SEND || now < it->retry_at_ms) {
            continue;
        }
        if (!it->data && s_item_load (it, p->o->batch_id, p->o->partner) < 0) {
            p->done++; /* unreadable: refused, never sent */
            continue;
        }
        p->first_sends += it->attempts == 0;
        if (s_item_send (p->sock, it, p->o->partner, p->o->format) == 0) {
            p->flying[p->in_flight++] = i;
        }
    }
}

/* IN_FLIGHT -> TO_SEND for requests unanswered for HG_PUSH_RESEND_MS (same
 * batch id: idempotent); this is how a push survives a collector restart. */
static void
s_expire (push_t *p)
{
    for (size_t f = 0; f < p->in_flight;) {
        push_item_t *it = &p->items[p->flying[f]];
        if (hg_now_ms () > it->sent_ms + HG_PUSH_RESEND_MS) {
            it->state = PUSH_TO_SEND;
            p->flying[f] = p->flying[--p->in_flight];
        }
        else {
            f++;
        }
    }
}

/* Takes one reply and moves its item on. Replies match on the batch id:
 * with a key, the partner part of the message id is the collector's. */
static void
s_receive (push_t *p)
{
    zmq_msg_t parts[2]; /* the empty delimiter, the PushReply */
    int got = hg_zmsg_recv (p->sock, parts, 2, 0, NULL);
    Hourglass__PushReply *rep = NULL;
    if (got == 2) {
        rep = hourglass__push_reply__unpack (NULL, zmq_msg_size (&parts[1]),
                                             zmq_msg_data (&parts[1]));
    }
    const char *slash = rep ? strchr (rep->message_id, '/') : NULL;
    for (size_t f = 0; slash && f < p->in_flight; f++) {
        push_item_t *it = &p->items[p->flying[f]];
        if (strcmp (it->batch_id, slash + 1) == 0) {
            p->flying[f] = p->flying[--p->in_flight];
            size_t len = it->len;
            s_item_answer (it, rep);
            p->done += s_final (it->state);
            p->bytes_done += s_final (it->state) ? len : 0;
            if (rep->status == HOURGLASS__PUSH_REPLY__STATUS__BUSY) {
                p->busy_since_ms = p->busy_since_ms ? p->busy_since_ms : hg_now_ms ();
            }
            else {
                p->busy_since_ms = 0;
            }
            break;
        }
    }
    if (rep) {
        hourglass__push_reply__free_unpacked (rep, NULL);
    }
    hg_zmsg_close (parts, got);
}

/* Reads the socket monitor's events: what the connection to the collector
 * is doing, for a message that names what is wrong. */
static void
s_on_monitor (push_t *p)
{
    for (;;) {
        zmq_msg_t parts[2];
        int got = hg_zmsg_recv (p->mon, parts, 2, ZMQ_DONTWAIT, NULL);
        if (got <= 0) {
            return;
        }
        uint16_t event = 0;
        if (zmq_msg_size (&parts[0]) >= 6) {
            memcpy (&event, zmq_msg_data (&parts[0]), sizeof (event));
        }
        hg_zmsg_close (parts, got);
        switch (event) {
        case ZMQ_EVENT_CONNECTED:
            p->tcp_connected++;
            p->first_connect_ms = p->first_connect_ms ? p->first_connect_ms : hg_now_ms ();
            break;
        case ZMQ_EVENT_CONNECT_RETRIED:
        case ZMQ_EVENT_CLOSED:
            p->refused += event == ZMQ_EVENT_CONNECT_RETRIED;
            break;
        case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
            p->handshaken = true;
            break;
        case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
            p->auth_refused = true;
            break;
        case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
        case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
            p->hs_failed++;
            break;
        default:
            break;
        }
    }
}

/* Whether delivery cannot succeed, with p->fatal saying why: the collector
 * refused our key (at once), handshakes failed twice, or TCP connected but
 * no handshake finished within twice HG_PUSH_HANDSHAKE_MS (a collector
 * stopped or wedged). An unreachable collector is reported at the delivery
 * deadline (s_undelivered_reason). */
static bool
s_hopeless (push_t *p, uint64_t now)
{
    const char *ep = p->cluster.ingest;
    if (p->handshaken || *p->fatal) {
        return *p->fatal != '\0';
    }
    if (p->auth_refused) {
        snprintf (p->fatal, sizeof (p->fatal),
                  "the collector at %s refused this CurveZMQ key: the key (--key) is not in "
                  "its partner allow-list (add it with hourglass cluster add-partner, or ask "
                  "the operator to add its public key to the collector's partners file)",
                  ep);
    }
    else if (p->hs_failed >= 2) {
        snprintf (p->fatal, sizeof (p->fatal),
                  "the CurveZMQ handshake with the collector at %s failed %u times: check the "
                  "collector's public key (--server-key, or ingest_key in cluster.json) and "
                  "that both sides use CurveZMQ",
                  ep, p->hs_failed);
    }
    else if (p->tcp_connected && now > p->first_connect_ms + 2 * HG_PUSH_HANDSHAKE_MS) {
        snprintf (p->fatal, sizeof (p->fatal),
                  "the collector at %s accepts TCP connections but finished no handshake in "
                  "%d s: it is stopped, wedged or not a Hourglass collector (hourglass cluster "
                  "status)",
                  ep, 2 * HG_PUSH_HANDSHAKE_MS / 1000);
    }
    return *p->fatal != '\0';
}

/* ---- progress, and what push waits for ---------------------------------------- */

static size_t s_collect_outcomes (void *zctx, const hg_cluster_t *c, push_item_t *items, size_t n,
                                  int timeout_ms, char *silent, size_t silent_size);

/* The first instance of one of services (NULL-terminated) that is down, as
 * "NAME is down: why" in out. */
static bool
s_stage_down (const push_t *p, const char *const *services, char *out, size_t size)
{
    for (int i = 0; i < p->cluster.n_procs; i++) {
        const hg_proc_t *proc = &p->cluster.procs[i];
        for (const char *const *sv = services; *sv; sv++) {
            char why[256];
            if (strcmp (proc->service, *sv) == 0 && hg_proc_down (proc, 200, why, sizeof (why))) {
                snprintf (out, size, "%s is down: %s", proc->name, why);
                return true;
            }
        }
    }
    return false;
}

/* Takes the progress line off the terminal (before other output). */
static void
s_progress_clear (push_t *p)
{
    if (p->line_shown) {
        fprintf (stderr, "\r\033[K");
        p->line_shown = false;
    }
}

/* Redraws the one progress line in place (at most every 200 ms; final: now,
 * and ends it with a newline): files answered, records parsed, MB/s, ETA,
 * and the stage push waits for. Only on a terminal, never with --json. */
static void
s_progress_draw (push_t *p, bool delivering, bool final)
{
    uint64_t now = hg_now_ms ();
    if (!p->progress || (!final && now < p->progress_ms)) {
        return;
    }
    p->progress_ms = now + 200;
    double secs = (double) (now - p->started_ms) / 1000.0;
    double mbs = secs > 0 ? (double) p->bytes_done / 1e6 / secs : 0;
    uint64_t records = 0;
    size_t known = 0, delivered = 0;
    for (size_t i = 0; i < p->n; i++) {
        delivered += s_delivered (p->items[i].state);
        if (p->items[i].records >= 0) {
            records += (uint64_t) p->items[i].records;
            known++;
        }
    }
    char eta[64];
    if (!delivering) {
        snprintf (eta, sizeof (eta), "outcomes %zu/%zu", known, delivered);
    }
    else if (mbs > 0 && secs >= 0.5 && p->bytes_total >= p->bytes_done) {
        snprintf (eta, sizeof (eta), "ETA %.0f s",
                  (double) (p->bytes_total - p->bytes_done) / 1e6 / mbs);
    }
    else {
        snprintf (eta, sizeof (eta), "ETA --");
    }
    char line[1024];
    int len = snprintf (line, sizeof (line),
                        "push: %zu/%zu files, %llu records, %.1f MB/s, %s%s%s", p->done, p->n,
                        (unsigned long long) records, mbs, eta,
                        *p->waiting ? "; waiting for " : "", p->waiting);
    /* a line longer than the terminal would wrap, and \r redraws only the last row */
    struct winsize ws;
    if (ioctl (STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1 && len >= ws.ws_col) {
        line[ws.ws_col - 1] = '\0';
    }
    fprintf (stderr, "\r%s\033[K%s", line, final ? "\n" : "");
    p->line_shown = !final;
}

/* What push waits for, checked every second: the collector when no
 * connection is made, the stages after it while the collector answers
 * BUSY, the cleansers while outcomes are missing. A change is said once on
 * stderr ("hourglass push: waiting for ..."), in every mode, so a stage
 * that is down is named instead of silence until --wait runs out. */
static void
s_check_waiting (push_t *p, bool delivering)
{
    uint64_t now = hg_now_ms ();
    if (now < p->stall_ms) {
        return;
    }
    p->stall_ms = now + 1000;
    static const char *const collector[] = {"collector", NULL};
    static const char *const after[] = {"cleanser", "deid", "indexer", NULL};
    static const char *const cleansers[] = {"cleanser", NULL};
    char w[512] = "", down[400];
    if (delivering && !p->handshaken && now >= p->started_ms + 1000) {
        if (s_stage_down (p, collector, down, sizeof (down))) {
            snprintf (w, sizeof (w), "the collector: %s", down);
        }
        else {
            snprintf (w, sizeof (w), "the collector at %s: %s", p->cluster.ingest,
                      p->refused ? "connection refused" : "no connection yet");
        }
    }
    else if (delivering && p->busy_since_ms && now >= p->busy_since_ms + 3000) {
        if (s_stage_down (p, after, down, sizeof (down))) {
            snprintf (w, sizeof (w), "the pipeline (the collector answers BUSY): %s", down);
        }
        else {
            snprintf (w, sizeof (w),
                      "the pipeline (the collector answers BUSY: saturated, see "
                      "hourglass stats)");
        }
    }
    else if (!delivering && s_stage_down (p, cleansers, down, sizeof (down))) {
        snprintf (w, sizeof (w), "the cleansers' outcomes: %s", down);
    }
    if (strcmp (w, p->waiting) != 0) {
        snprintf (p->waiting, sizeof (p->waiting), "%s", w);
        if (*w) {
            s_progress_clear (p);
            fprintf (stderr, "hourglass push: waiting for %s\n", w);
        }
    }
}

/* While delivering on a terminal: the records parsed so far, every second. */
static void
s_progress_outcomes (push_t *p)
{
    uint64_t now = hg_now_ms ();
    if (!p->progress || now < p->outcomes_ms) {
        return;
    }
    char silent[512] = "";
    s_collect_outcomes (p->zctx, &p->cluster, p->items, p->n, 250, silent, sizeof (silent));
    p->outcomes_ms = hg_now_ms () + 1000;
}

/* Pipelined delivery until every item is final, the deadline passes, or
 * the connection cannot work (p->fatal). */
static void
s_deliver (push_t *p)
{
    p->started_ms = hg_now_ms ();
    int wait_s = p->o->wait_s > 0 ? p->o->wait_s : HG_PUSH_WAIT_DEFAULT_S;
    uint64_t deadline = p->started_ms + (uint64_t) wait_s * 1000u;
    if (p->o->rate > 0) {
        deadline += (uint64_t) ((double) p->n / p->o->rate * 1000.0);
    }
    while (p->done < p->n && hg_now_ms () < deadline && !s_hopeless (p, hg_now_ms ())) {
        s_check_waiting (p, true);
        s_progress_outcomes (p);
        s_progress_draw (p, true, false);
        s_send_window (p);
        zmq_pollitem_t pi[2] = {{p->sock, 0, ZMQ_POLLIN, 0}, {p->mon, 0, ZMQ_POLLIN, 0}};
        int ready = zmq_poll (pi, p->mon ? 2 : 1, p->o->rate > 0 ? 5 : 100);
        if (p->mon && (pi[1].revents & ZMQ_POLLIN)) {
            s_on_monitor (p);
        }
        if (ready <= 0 || !(pi[0].revents & ZMQ_POLLIN)) {
            s_expire (p);
            continue;
        }
        s_receive (p);
    }
    if (!*p->fatal && p->done < p->n && !p->handshaken) {
        snprintf (p->fatal, sizeof (p->fatal),
                  p->tcp_connected ? "no handshake with the collector at %s completed before "
                                     "the deadline"
                                   : "cannot reach the collector at %s: nothing is listening "
                                     "there or the network drops the connection (is the "
                                     "cluster up? hourglass cluster status)",
                  p->cluster.ingest);
    }
}

/* ---- outcomes --------------------------------------------------------------- */

/* Asks every cleanser for outcomes of delivered items still unknown.
 * Returns how many remain unknown. The cluster file is read again each
 * time: replicas come and go while a push waits (a container restarted on
 * another published port, `--scale` and deploy/compose-cluster.py). */
static size_t
s_collect_outcomes (void *zctx, const hg_cluster_t *c, push_item_t *items, size_t n,
                    int timeout_ms, char *silent, size_t silent_size)
{
    hg_cluster_t *fresh = calloc (1, sizeof (*fresh));
    hg_err_t lerr;
    if (fresh && hg_cluster_load (c->dir, fresh, &lerr) == 0) {
        c = fresh;
    }
    const char *controls[HG_CLI_MAX_SERVICES];
    size_t nc = 0;
    for (int i = 0; i < c->n_procs; i++) {
        char why[256];
        if (strcmp (c->procs[i].service, "cleanser") != 0) {
            continue;
        }
        if (hg_proc_down (&c->procs[i], 200, why, sizeof (why))) {
            /* named in the report, and not asked: a call would only time out */
            snprintf (silent, silent_size, "%.60s is down: %.300s", c->procs[i].name, why);
            continue;
        }
        controls[nc++] = c->procs[i].control;
    }
    char **ids = malloc ((n ? n : 1) * sizeof (*ids));
    size_t k = 0;
    for (size_t i = 0; ids && i < n; i++) {
        if (s_delivered (items[i].state) && items[i].records < 0) {
            ids[k++] = items[i].message_id;
        }
    }
    for (size_t ci = 0; ci < nc && k > 0; ci++) {
        Hourglass__OutcomeQuery q = HOURGLASS__OUTCOME_QUERY__INIT;
        q.n_message_ids = k;
        q.message_ids = ids;
        Hourglass__ControlRequest req = HOURGLASS__CONTROL_REQUEST__INIT;
        req.kind = HOURGLASS__CONTROL_REQUEST__KIND__OUTCOME;
        req.outcome = &q;
        Hourglass__ControlReply *rep = NULL;
        hg_err_t err;
        if (hg_control_call (zctx, controls[ci], &req, timeout_ms, &rep, &err) < 0) {
            /* named in the report: a stopped or dead cleanser is why outcomes are missing */
            snprintf (silent, silent_size, "the cleanser at %.200s did not answer (%.200s)",
                      controls[ci], err.msg);
            continue;
        }
        for (size_t o = 0; o < rep->n_outcomes; o++) {
            for (size_t i = 0; i < n; i++) {
                if (strcmp (items[i].message_id, rep->outcomes[o]->message_id) == 0
                    && items[i].records < 0) {
                    items[i].records = (int) rep->outcomes[o]->records;
                    items[i].quarantined = (int) rep->outcomes[o]->quarantined;
                    snprintf (items[i].first_reason, sizeof (items[i].first_reason), "%s",
                              rep->outcomes[o]->first_reason);
                }
            }
        }
        hourglass__control_reply__free_unpacked (rep, NULL);
    }
    free (ids);
    if (fresh) {
        hg_cluster_free (fresh);
        free (fresh);
    }
    size_t unknown = 0;
    for (size_t i = 0; i < n; i++) {
        unknown += s_delivered (items[i].state) && items[i].records < 0;
    }
    return unknown;
}

/* Waits up to --wait seconds for the cleansers' verdicts; how many are unknown. */
static size_t
s_wait_outcomes (push_t *p)
{
    size_t unknown = 0;
    if (p->o->wait_s > 0) {
        uint64_t deadline = hg_now_ms () + (uint64_t) p->o->wait_s * 1000u;
        for (;;) {
            /* no call outlives --wait: a stopped cleanser costs at most the rest of it */
            uint64_t now = hg_now_ms ();
            int left = now < deadline ? (int) (deadline - now) : 1;
            p->silent[0] = '\0';
            unknown = s_collect_outcomes (p->zctx, &p->cluster, p->items, p->n,
                                          left < 5000 ? left : 5000, p->silent,
                                          sizeof (p->silent));
            s_progress_draw (p, false, false);
            if (unknown == 0 || hg_now_ms () >= deadline) {
                break;
            }
            s_check_waiting (p, false);
            usleep (100000);
        }
    }
    return unknown;
}

/* ---- report ----------------------------------------------------------------- */

/* One line per file that needs a word: on stderr with --json (stdout stays
 * one JSON object), else on stdout. */
static void
s_report_item (const push_item_t *it, bool json)
{
    bool undelivered = !s_final (it->state);
    if (json) {
        if (it->state == PUSH_REFUSED) {
            fprintf (stderr, "%s: REFUSED: %s\n", it->path, it->reason);
        }
        else if (undelivered) {
            fprintf (stderr, "%s: NOT DELIVERED\n", it->path);
        }
        else if (it->quarantined > 0) {
            fprintf (stderr, "%s: %d rejected: %s\n", it->path, it->quarantined,
                     it->first_reason);
        }
        return;
    }
    if (undelivered) {
        printf ("%s: NOT DELIVERED (no answer from the collector in time)\n", it->path);
    }
    else if (it->state == PUSH_REFUSED) {
        printf ("%s: REFUSED: %s\n", it->path, it->reason);
    }
    else if (it->records < 0) {
        printf ("%s: %s, outcome not known yet (see hourglass stats)\n", it->path,
                it->state == PUSH_DUPLICATE ? "already accepted earlier" : "accepted");
    }
    else if (it->quarantined > 0) {
        printf ("%s: %s%d records, %d rejected: %s\n", it->path,
                it->state == PUSH_DUPLICATE ? "(already accepted earlier) " : "", it->records,
                it->quarantined, it->first_reason);
    }
}

/* Prints the summary; the exit status (1 when anything was not clean). */
static int
s_report (const push_t *p, size_t unknown)
{
    size_t accepted = 0, duplicates = 0, refused = 0, undelivered = 0, rejected_files = 0;
    uint64_t records = 0, quarantined = 0;
    for (size_t i = 0; i < p->n; i++) {
        const push_item_t *it = &p->items[i];
        accepted += it->state == PUSH_ACCEPTED;
        duplicates += it->state == PUSH_DUPLICATE;
        refused += it->state == PUSH_REFUSED;
        undelivered += !s_final (it->state);
        if (it->records >= 0) {
            records += (uint64_t) it->records;
            quarantined += (uint64_t) it->quarantined;
            rejected_files += it->quarantined > 0;
        }
        s_report_item (it, p->o->json);
    }
    if (p->o->json) {
        printf (
            "{\"files\": %zu, \"accepted\": %zu, \"duplicates\": %zu, \"refused\": %zu, "
            "\"undelivered\": %zu, \"pending\": %zu, \"records\": %llu, \"rejected\": %llu}\n",
            p->n, accepted, duplicates, refused, undelivered, unknown,
            (unsigned long long) records, (unsigned long long) quarantined);
    }
    else {
        printf ("accepted: %zu batches (%zu already accepted earlier), %llu records\n"
                "rejected: %llu records or messages quarantined in %zu batches; %zu batches "
                "refused; %zu not delivered\n",
                accepted + duplicates, duplicates, (unsigned long long) records,
                (unsigned long long) quarantined, rejected_files, refused, undelivered);
        if (unknown) {
            printf ("pending: %zu batches not yet processed after %d s\n", unknown, p->o->wait_s);
        }
    }
    if (unknown && *p->silent) {
        fprintf (stderr, "hourglass push: %zu outcomes unknown: %s\n", unknown, p->silent);
    }
    return quarantined || refused || undelivered || unknown ? 1 : 0;
}

/* ---- set-up ----------------------------------------------------------------- */

/* The DEALER socket to the collector, with CurveZMQ when the cluster or the
 * flags ask for it; -1 after printing why. */
static int
s_connect (push_t *p)
{
    p->zctx = zmq_ctx_new ();
    p->sock = hg_zsock_new (p->zctx, ZMQ_DEALER, HG_ZMSG_REPLY_MAX);
    int linger = 0, hs = HG_PUSH_HANDSHAKE_MS;
    zmq_setsockopt (p->sock, ZMQ_LINGER, &linger, sizeof (linger));
    zmq_setsockopt (p->sock, ZMQ_HANDSHAKE_IVL, &hs, sizeof (hs));
    /* the connection's events (refused, handshake failed) say what is wrong */
    if (zmq_socket_monitor (p->sock, "inproc://push-monitor",
                            ZMQ_EVENT_CONNECTED | ZMQ_EVENT_CONNECT_RETRIED
                                | ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
                                | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                                | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
        == 0) {
        p->mon = hg_zsock_new (p->zctx, ZMQ_PAIR, HG_ZMSG_REPLY_MAX);
        zmq_setsockopt (p->mon, ZMQ_LINGER, &linger, sizeof (linger));
        if (zmq_connect (p->mon, "inproc://push-monitor") < 0) {
            zmq_close (p->mon);
            p->mon = NULL;
        }
    }
    const char *key_file = p->o->key_file, *server_key = p->o->server_key;
    if (!server_key && *p->cluster.ingest_key) {
        server_key = p->cluster.ingest_key;
    }
    if (key_file || server_key) {
        /* CurveZMQ: the partner's own key pair; the collector's public key */
        hg_err_t kerr = {0};
        hg_curve_keypair_t kp;
        char server_z85[HG_CURVE_Z85_LEN + 1];
        if (!key_file || !server_key) {
            hg_err_set (&kerr, HG_EINVAL,
                        "the collector requires CurveZMQ: push with --key "
                        "PARTNER.key (made by hourglass cluster add-partner or keygen)");
        }
        if (kerr.code || hg_curve_load_keypair (key_file, &kp, &kerr) < 0
            || hg_curve_load_public (server_key, server_z85, &kerr) < 0
            || hg_curve_make_client (p->sock, &kp, server_z85, &kerr) < 0) {
            fprintf (stderr, "hourglass push: %s\n", kerr.msg);
            return -1;
        }
        sodium_memzero (&kp, sizeof (kp));
    }
    zmq_connect (p->sock, p->cluster.ingest);
    return 0;
}

/* --mllp: HL7 v2 message by message to the given or the cluster's listener. */
static int
s_push_mllp (const push_opts_t *o, const char *const *files, size_t n_files)
{
    if (strcmp (o->format, "hl7v2") != 0) {
        fprintf (stderr, "hourglass push: --mllp carries HL7 v2 only (--format hl7v2)\n");
        return 2;
    }
    char address[64] = "";
    hg_cluster_t mc;
    if (*o->mllp) {
        snprintf (address, sizeof (address), "%s", o->mllp);
    }
    else if (hg_cluster_load_for (o->cluster, &mc, "hourglass push") == 0) {
        snprintf (address, sizeof (address), "%s", mc.mllp);
        hg_cluster_free (&mc);
    }
    if (!*address) {
        fprintf (stderr, "hourglass push: no MLLP address (give --mllp HOST:PORT)\n");
        return 2;
    }
    return hg_mllp_push (address, files, n_files, o->json, o->retry_s);
}

/* The ZeroMQ push of files: deliver, wait for outcomes, report. */
static int
s_push_zmq (const push_opts_t *o, const char *const *files, size_t n_files)
{
    push_t p = {.o = o, .n = n_files};
    if (hg_cluster_load_for (o->cluster, &p.cluster, "hourglass push") < 0) {
        return 1;
    }
    int status = 1;
    p.items = calloc (n_files, sizeof (*p.items));
    if (!p.items) {
        fprintf (stderr, "hourglass push: out of memory for %zu files\n", n_files);
    }
    else if (s_connect (&p) == 0) {
        /* one line of progress on a terminal; nothing extra with --json or
         * when the output goes to a file or a pipe */
        p.progress = !o->json && isatty (STDOUT_FILENO) && isatty (STDERR_FILENO);
        for (size_t i = 0; i < n_files; i++) {
            p.items[i].path = files[i];
            p.items[i].records = -1;
            struct stat sb;
            if (p.progress && stat (files[i], &sb) == 0) {
                p.bytes_total += (uint64_t) sb.st_size;
            }
        }
        s_deliver (&p);
        s_progress_clear (&p);
        if (*p.fatal) {
            fprintf (stderr, "hourglass push: %s\n", p.fatal);
        }
        zmq_socket_monitor (p.sock, NULL, 0);
        zmq_close (p.sock);
        p.sock = NULL;
        if (p.mon) {
            zmq_close (p.mon);
            p.mon = NULL;
        }
        size_t unknown = s_wait_outcomes (&p);
        s_progress_draw (&p, false, true);
        status = s_report (&p, unknown);
    }
    if (p.mon) {
        /* a monitor left open would keep zmq_ctx_term waiting forever */
        zmq_socket_monitor (p.sock, NULL, 0);
        zmq_close (p.mon);
    }
    if (p.sock) {
        zmq_close (p.sock);
    }
    if (p.zctx) {
        zmq_ctx_term (p.zctx);
    }
    for (size_t i = 0; p.items && i < n_files; i++) {
        free (p.items[i].data);
    }
    free (p.items);
    hg_cluster_free (&p.cluster);
    return status;
}

/* ---- the command ------------------------------------------------------------ */

static void
s_formats (FILE *out)
{
    fprintf (out, "FORMAT is one of:\n");
    for (size_t i = 0; i < hg_format_count (); i++) {
        fprintf (out, "  %-6s %s\n", hg_format_at (i)->name, hg_format_at (i)->summary);
    }
}

/* --mllp's optional address: HOST:PORT, not a flag, not an existing file. */
static bool
s_is_address (const char *next)
{
    return strchr (next, ':') && next[0] != '-' && access (next, F_OK) != 0;
}

int
hg_cmd_push (int argc, char **argv)
{
    push_opts_t o = {.wait_s = HG_PUSH_WAIT_DEFAULT_S, .retry_s = 60};
    const hg_cli_opt_t opts[] = {
        HG_CLI_OPT_CLUSTER (&o.cluster),
        HG_CLI_OPT_REQUIRED ("--format", &o.format, "FORMAT", "the files' format"),
        HG_CLI_OPT_STR ("--partner", &o.partner, "NAME",
                        "partner name (default $HOURGLASS_PARTNER, else 'default')"),
        HG_CLI_OPT_STR ("--batch-id", &o.batch_id, "ID", "batch id of a single FILE"),
        HG_CLI_OPT_INT ("--wait", &o.wait_s, "SECONDS",
                        "wait this long for outcomes (0: do not wait; default 120)", 0,
                        86400 * 365),
        HG_CLI_OPT_INT ("--retry", &o.retry_s, "SECONDS",
                        "--mllp: retry a message through a collector outage this long (default "
                        "60; then one attempt per message while it stays away)",
                        0, 86400),
        HG_CLI_OPT_NUM ("--rate", &o.rate, "N", "new batches per second (0: unpaced)", 0, 1e9),
        HG_CLI_OPT_JSON (&o.json),
        HG_CLI_OPT_STR ("--key", &o.key_file, "PARTNER.key", "CurveZMQ key pair of the partner"),
        HG_CLI_OPT_STR ("--server-key", &o.server_key, "COLLECTOR.pub|Z85",
                        "the collector's public key (default: the cluster's)"),
        {.name = "--mllp",
         .type = HG_CLI_OPTIONAL,
         .out = &o.mllp,
         .metavar = "HOST:PORT",
         .help = "HL7 v2 over MLLP (default: the cluster's listener)",
         .accept = s_is_address},
        HG_CLI_OPT_END,
    };
    const hg_cli_spec_t spec = {
        .command = "hourglass push",
        .args = "FILE...",
        .min_args = 1,
        .max_args = SIZE_MAX,
        .opts = opts,
        .about =
            "Pushes each FILE as one batch. The batch id defaults to the file name plus a\n"
            "hash of its content, so pushing the same file again is idempotent. Waits until\n"
            "the cleanser has an outcome for every batch (--wait 0: do not wait) and prints\n"
            "accepted and rejected counts. Exit status 1 when anything was rejected or could\n"
            "not be delivered. --rate N paces new batches to N per second. With CurveZMQ\n"
            "(cluster up --secure) the partner is the one its --key authenticates.\n"
            "A refused key, a stopped or unreachable collector end the push with a message\n"
            "saying so (within 10 s, or --wait for an unreachable one).\n"
            "--mllp sends HL7 v2 files message by message over MLLP (to the cluster's\n"
            "listener by default) and counts the ACKs (AA: journalled and parsed); when the\n"
            "collector goes away it reconnects and resends what was not acknowledged.\n",
        .epilog = s_formats,
    };
    hg_cli_args_t files;
    int status;
    if (hg_cli_parse (&spec, argc, argv, 1, &files, &status) < 0) {
        return status;
    }
    if (!hg_format_by_name (o.format)) {
        char names[HG_FORMAT_NAMES_MAX];
        fprintf (stderr,
                 "hourglass push: warning: format '%s' is not one the pipeline parses "
                 "(%s); it will be quarantined\n",
                 o.format, hg_format_names (", ", names, sizeof (names)));
    }
    if (o.mllp) {
        status = s_push_mllp (&o, files.v, files.n);
    }
    else if (o.batch_id && files.n > 1) {
        fprintf (stderr, "hourglass push: --batch-id applies to a single FILE\n");
        status = 2;
    }
    else {
        if (!o.partner) {
            o.partner = getenv ("HOURGLASS_PARTNER");
        }
        if (!o.partner || !*o.partner) {
            /* with a key, the collector names the partner from it */
            o.partner = o.key_file ? "" : "default";
        }
        status = s_push_zmq (&o, files.v, files.n);
    }
    hg_cli_args_free (&files);
    return status;
}
