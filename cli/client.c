/*
 * client.c -- the client commands: push, stats, query count, quarantine list.
 * They find the services through DIR/cluster.json (see cluster.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <zmq.h>

#include "cli.h"
#include "control.h"
#include "curve.h"
#include "format.h"
#include "util.h"

#define HG_PUSH_WINDOW 64
#define HG_PUSH_MAX_FILE (1024u * 1024u * 1024u)
#define HG_QUERY_CODES_MAX 16     /* --code per query: the indexer's cohort limit */

void
hg_json_print_string (const char *s, size_t len)
{
    putchar ('"');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) s[i];
        if (c == '"' || c == '\\') {
            printf ("\\%c", c);
        }
        else if (c == '\n') {
            printf ("\\n");
        }
        else if (c == '\r') {
            printf ("\\r");
        }
        else if (c == '\t') {
            printf ("\\t");
        }
        else if (c < 0x20 || c == 0x7f) {
            printf ("\\u%04x", c);
        }
        else {
            putchar (c);   /* UTF-8 passes through; invalid bytes are the data's */
        }
    }
    putchar ('"');
}

static void
s_json_str (const char *s)
{
    hg_json_print_string (s, strlen (s));
}

/* Common flag parsing: --cluster DIR and --json, the rest left in place. */
typedef struct {
    const char *cluster;
    bool json;
} common_t;

static const char *
s_take (int *i, int argc, char **argv, const char *name)
{
    if (*i + 1 >= argc) {
        fprintf (stderr, "hourglass: %s needs a value\n", name);
        exit (2);
    }
    return argv[++*i];
}

static int
s_load (const char *flag, hg_cluster_t *c, const char *cmd)
{
    char dir[PATH_MAX];
    hg_cli_cluster_dir (flag, dir, sizeof (dir));
    hg_err_t err = {0};
    if (hg_cluster_load (dir, c, &err) < 0) {
        fprintf (stderr, "hourglass %s: %s\n", cmd, err.msg);
        return -1;
    }
    return 0;
}

/* ---- push --------------------------------------------------------------- */

typedef struct {
    const char *path;
    char message_id[600];
    char batch_id[300];
    char *data;
    size_t len;
    int state;         /* 0 to send, 1 in flight, 2 accepted, 3 duplicate, 4 refused */
    char reason[512];
    uint64_t sent_ms, retry_at_ms;
    unsigned attempts;
    int records, quarantined;   /* from the cleanser's outcome; -1 unknown */
    char first_reason[512];
} push_item_t;

static int
s_push_usage (void)
{
    fprintf (stderr,
             "usage: hourglass push [--cluster DIR] --format FORMAT [--partner NAME]\n"
             "                      [--batch-id ID] [--wait SECONDS] [--rate N] [--json]\n"
             "                      [--key PARTNER.key] [--server-key COLLECTOR.pub|Z85]\n"
             "                      [--mllp [HOST:PORT]] FILE...\n"
             "Pushes each FILE as one batch. The batch id defaults to the file name plus a\n"
             "hash of its content, so pushing the same file again is idempotent. Waits until\n"
             "the cleanser has an outcome for every batch (--wait 0: do not wait) and prints\n"
             "accepted and rejected counts. Exit status 1 when anything was rejected or could\n"
             "not be delivered. --rate N paces new batches to N per second. With CurveZMQ\n"
             "(cluster up --secure) the partner is the one its --key authenticates.\n"
             "--mllp sends HL7 v2 files message by message over MLLP (to the cluster's\n"
             "listener by default) and counts the ACKs.\n");
    fprintf (stderr, "FORMAT is one of:\n");
    for (size_t i = 0; i < hg_format_count (); i++) {
        fprintf (stderr, "  %-6s %s\n", hg_format_at (i)->name, hg_format_at (i)->summary);
    }
    return 2;
}

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

/* Reads the file of it (one open, fstat, read) and names its batch. On
 * failure the item is refused with the reason. */
static int
s_push_load (push_item_t *it, const char *batch_id, const char *partner)
{
    hg_err_t err = {0};
    int fd = open (it->path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0) {
        hg_err_set (&err, HG_EIO, "cannot open %s: %s", it->path, strerror (errno));
    }
    else if (fstat (fd, &sb) < 0 || !S_ISREG (sb.st_mode) || sb.st_size == 0) {
        /* not a regular file (a pipe, say) or one that does not tell its size
         * (/proc): read it as a stream */
        close (fd);
        fd = -1;
        hg_read_file (it->path, HG_PUSH_MAX_FILE, &it->data, &it->len, &err);
    }
    else if ((uint64_t) sb.st_size > HG_PUSH_MAX_FILE) {
        hg_err_set (&err, HG_ELIMIT, "%s is larger than the limit of %u bytes", it->path,
                    HG_PUSH_MAX_FILE);
    }
    else if (!(it->data = malloc ((size_t) sb.st_size + 1))) {
        hg_err_set (&err, HG_ENOMEM, "out of memory reading %s", it->path);
    }
    else {
        size_t n = 0, want = (size_t) sb.st_size;
        while (n < want) {
            ssize_t got = read (fd, it->data + n, want - n);
            if (got < 0 && errno == EINTR) {
                continue;
            }
            if (got <= 0) {
                hg_err_set (&err, HG_EIO, "cannot read %s: %s", it->path,
                            got < 0 ? strerror (errno) : "file shrank while being read");
                break;
            }
            n += (size_t) got;
        }
        it->len = n;
        it->data[n] = '\0';
    }
    if (fd >= 0) {
        close (fd);
    }
    if (err.code) {
        free (it->data);
        it->data = NULL;
        fprintf (stderr, "hourglass push: %s\n", err.msg);
        it->state = 4;
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

static int
s_push_send (void *sock, push_item_t *it, const char *partner, const char *format)
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
    if (zmq_send (sock, "", 0, ZMQ_SNDMORE) < 0 || zmq_msg_send (&msg, sock, 0) < 0) {
        zmq_msg_close (&msg);
        return -1;
    }
    it->state = 1;
    it->sent_ms = hg_now_ms ();
    it->attempts++;
    return 0;
}

/* Asks every cleanser for outcomes of accepted items still unknown.
 * Returns how many remain unknown. The cluster file is read again each
 * time: replicas come and go while a push waits (a container restarted on
 * another published port, `--scale` and deploy/compose-cluster.py). */
static size_t
s_collect_outcomes (void *zctx, const hg_cluster_t *c, push_item_t *items, size_t n)
{
    hg_cluster_t *fresh = calloc (1, sizeof (*fresh));
    hg_err_t lerr;
    if (fresh && hg_cluster_load (c->dir, fresh, &lerr) == 0) {
        c = fresh;
    }
    const char *controls[HG_CLI_MAX_SERVICES];
    size_t nc = hg_cluster_controls (c, "cleanser", controls, HG_CLI_MAX_SERVICES);
    char **ids = malloc ((n ? n : 1) * sizeof (*ids));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if ((items[i].state == 2 || items[i].state == 3) && items[i].records < 0) {
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
        if (hg_control_call (zctx, controls[ci], &req, 5000, &rep, &err) < 0) {
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
        unknown += (items[i].state == 2 || items[i].state == 3) && items[i].records < 0;
    }
    return unknown;
}

int
hg_cmd_push (int argc, char **argv)
{
    const char *cluster = NULL, *format = NULL, *partner = NULL, *batch_id = NULL;
    const char *key_file = NULL, *server_key = NULL, *mllp = NULL;
    bool via_mllp = false;
    bool json = false;
    int wait_s = 120;
    double rate = 0;    /* batches per second, 0: as fast as accepted */
    const char *files[65536];
    size_t n_files = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp (a, "--cluster") == 0) {
            cluster = s_take (&i, argc, argv, a);
        }
        else if (strcmp (a, "--format") == 0) {
            format = s_take (&i, argc, argv, a);
        }
        else if (strcmp (a, "--partner") == 0) {
            partner = s_take (&i, argc, argv, a);
        }
        else if (strcmp (a, "--batch-id") == 0) {
            batch_id = s_take (&i, argc, argv, a);
        }
        else if (strcmp (a, "--key") == 0) {
            key_file = s_take (&i, argc, argv, a);
        }
        else if (strcmp (a, "--mllp") == 0) {
            via_mllp = true;
            /* an address may follow; otherwise the cluster's */
            if (i + 1 < argc && strchr (argv[i + 1], ':') && argv[i + 1][0] != '-'
                && access (argv[i + 1], F_OK) != 0) {
                mllp = argv[++i];
            }
        }
        else if (strcmp (a, "--server-key") == 0) {
            server_key = s_take (&i, argc, argv, a);
        }
        else if (strcmp (a, "--wait") == 0) {
            wait_s = atoi (s_take (&i, argc, argv, a));
        }
        else if (strcmp (a, "--rate") == 0) {
            rate = atof (s_take (&i, argc, argv, a));
            if (rate < 0) {
                fprintf (stderr, "hourglass push: --rate must be >= 0\n");
                return 2;
            }
        }
        else if (strcmp (a, "--json") == 0) {
            json = true;
        }
        else if (strcmp (a, "--help") == 0) {
            return s_push_usage ();
        }
        else if (a[0] == '-' && a[1] == '-') {
            fprintf (stderr, "hourglass push: unknown option %s\n", a);
            return s_push_usage ();
        }
        else if (n_files < sizeof (files) / sizeof (files[0])) {
            files[n_files++] = a;
        }
        else {
            fprintf (stderr, "hourglass push: more than %zu files; push them in several runs\n",
                     sizeof (files) / sizeof (files[0]));
            return 2;
        }
    }
    if (!format || n_files == 0) {
        fprintf (stderr, "hourglass push: --format and at least one FILE are required\n");
        return s_push_usage ();
    }
    if (!hg_format_by_name (format)) {
        char names[HG_FORMAT_NAMES_MAX];
        fprintf (stderr, "hourglass push: warning: format '%s' is not one the pipeline parses "
                         "(%s); it will be quarantined\n", format,
                 hg_format_names (", ", names, sizeof (names)));
    }
    if (via_mllp) {
        if (strcmp (format, "hl7v2") != 0) {
            fprintf (stderr, "hourglass push: --mllp carries HL7 v2 only (--format hl7v2)\n");
            return 2;
        }
        hg_cluster_t mc;
        char address[64] = "";
        if (mllp) {
            snprintf (address, sizeof (address), "%s", mllp);
        }
        else if (s_load (cluster, &mc, "push") == 0) {
            snprintf (address, sizeof (address), "%s", mc.mllp);
            hg_cluster_free (&mc);
        }
        if (!*address) {
            fprintf (stderr, "hourglass push: no MLLP address (give --mllp HOST:PORT)\n");
            return 2;
        }
        return hg_mllp_push (address, files, n_files, json);
    }
    if (batch_id && n_files > 1) {
        fprintf (stderr, "hourglass push: --batch-id applies to a single FILE\n");
        return 2;
    }
    if (!partner) {
        partner = getenv ("HOURGLASS_PARTNER");
    }
    if (!partner || !*partner) {
        /* with a key, the collector names the partner from it */
        partner = key_file ? "" : "default";
    }
    hg_cluster_t c;
    if (s_load (cluster, &c, "push") < 0) {
        return 1;
    }
    /* files are read when first sent and freed once answered, so a push of
     * many files holds only the window's in memory */
    push_item_t *items = calloc (n_files, sizeof (*items));
    int status = 0;
    for (size_t i = 0; i < n_files; i++) {
        items[i].path = files[i];
        items[i].records = -1;
    }
    void *zctx = zmq_ctx_new ();
    void *sock = zmq_socket (zctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt (sock, ZMQ_LINGER, &linger, sizeof (linger));
    if (!server_key && *c.ingest_key) {
        server_key = c.ingest_key;
    }
    if (key_file || server_key) {
        /* CurveZMQ: the partner's own key pair; the collector's public key */
        hg_err_t kerr = {0};
        hg_curve_keypair_t kp;
        char server_z85[HG_CURVE_Z85_LEN + 1];
        if (!key_file || !server_key) {
            hg_err_set (&kerr, HG_EINVAL, "the collector requires CurveZMQ: push with --key "
                        "PARTNER.key (made by hourglass cluster add-partner or keygen)");
        }
        if (kerr.code || hg_curve_load_keypair (key_file, &kp, &kerr) < 0
            || hg_curve_load_public (server_key, server_z85, &kerr) < 0
            || hg_curve_make_client (sock, &kp, server_z85, &kerr) < 0) {
            fprintf (stderr, "hourglass push: %s\n", kerr.msg);
            zmq_close (sock);
            zmq_ctx_term (zctx);
            free (items);
            hg_cluster_free (&c);
            return 1;
        }
        sodium_memzero (&kp, sizeof (kp));
    }
    zmq_connect (sock, c.ingest);
    /* pipelined: up to HG_PUSH_WINDOW batches in flight; BUSY retries later */
    uint64_t started_ms = hg_now_ms ();
    uint64_t deadline = started_ms + (uint64_t) (wait_s > 0 ? wait_s : 120) * 1000u;
    if (rate > 0) {
        deadline += (uint64_t) ((double) n_files / rate * 1000.0);
    }
    /* items before `open` are all answered; the ones in flight are listed
     * in `flying`, so neither sending nor matching a reply walks every file */
    size_t done = 0, first_sends = 0, open = 0;
    size_t flying[HG_PUSH_WINDOW], in_flight = 0;
    while (done < n_files && hg_now_ms () < deadline) {
        uint64_t now = hg_now_ms ();
        while (open < n_files && items[open].state >= 2) {
            open++;
        }
        for (size_t i = open; i < n_files && in_flight < HG_PUSH_WINDOW; i++) {
            push_item_t *it = &items[i];
            if (rate > 0 && it->attempts == 0
                && (double) first_sends >= rate * (double) (now - started_ms) / 1000.0) {
                break;      /* paced: not yet time for the next new batch */
            }
            if (it->state != 0 || now < it->retry_at_ms) {
                continue;
            }
            if (!it->data && s_push_load (it, batch_id, partner) < 0) {
                done++;     /* unreadable: refused, never sent */
                continue;
            }
            first_sends += it->attempts == 0;
            if (s_push_send (sock, it, partner, format) == 0) {
                flying[in_flight++] = i;
            }
        }
        zmq_pollitem_t pi = {sock, 0, ZMQ_POLLIN, 0};
        if (zmq_poll (&pi, 1, rate > 0 ? 5 : 100) <= 0) {
            /* a request unanswered for 10 s is resent (same batch id: idempotent);
             * this is how a push survives a collector restart */
            for (size_t f = 0; f < in_flight;) {
                push_item_t *it = &items[flying[f]];
                if (hg_now_ms () > it->sent_ms + 10000) {
                    it->state = 0;
                    flying[f] = flying[--in_flight];
                }
                else {
                    f++;
                }
            }
            continue;
        }
        zmq_msg_t empty, body;
        zmq_msg_init (&empty);
        zmq_msg_init (&body);
        zmq_msg_recv (&empty, sock, 0);
        zmq_msg_recv (&body, sock, 0);
        Hourglass__PushReply *rep = hourglass__push_reply__unpack (NULL, zmq_msg_size (&body),
                                                                   zmq_msg_data (&body));
        /* match on the batch id: with a key the partner part is the collector's */
        push_item_t *it = NULL;
        const char *slash = rep ? strchr (rep->message_id, '/') : NULL;
        for (size_t f = 0; slash && f < in_flight; f++) {
            if (strcmp (items[flying[f]].batch_id, slash + 1) == 0) {
                it = &items[flying[f]];
                flying[f] = flying[--in_flight];
                snprintf (it->message_id, sizeof (it->message_id), "%s", rep->message_id);
                break;
            }
        }
        if (it) {
            switch (rep->status) {
            case HOURGLASS__PUSH_REPLY__STATUS__ACCEPTED:
                it->state = 2;
                done++;
                break;
            case HOURGLASS__PUSH_REPLY__STATUS__DUPLICATE:
                it->state = 3;
                done++;
                break;
            case HOURGLASS__PUSH_REPLY__STATUS__BUSY:
                it->state = 0;
                it->retry_at_ms = hg_now_ms () + (rep->retry_after_ms ? rep->retry_after_ms : 200);
                break;
            default:
                it->state = 4;
                snprintf (it->reason, sizeof (it->reason), "%s", rep->reason);
                done++;
                break;
            }
            if (it->state >= 2) {
                free (it->data);    /* answered: the file is no longer needed */
                it->data = NULL;
            }
        }
        if (rep) {
            hourglass__push_reply__free_unpacked (rep, NULL);
        }
        zmq_msg_close (&empty);
        zmq_msg_close (&body);
    }
    zmq_close (sock);
    /* then wait for the cleansers' verdicts */
    size_t unknown = 0;
    if (wait_s > 0) {
        uint64_t wdeadline = hg_now_ms () + (uint64_t) wait_s * 1000u;
        while ((unknown = s_collect_outcomes (zctx, &c, items, n_files)) > 0
               && hg_now_ms () < wdeadline) {
            usleep (100000);
        }
    }
    zmq_ctx_term (zctx);

    size_t accepted = 0, duplicates = 0, refused = 0, undelivered = 0, rejected_files = 0;
    uint64_t records = 0, quarantined = 0;
    for (size_t i = 0; i < n_files; i++) {
        push_item_t *it = &items[i];
        accepted += it->state == 2;
        duplicates += it->state == 3;
        refused += it->state == 4;
        undelivered += it->state < 2;
        if (it->records >= 0) {
            records += (uint64_t) it->records;
            quarantined += (uint64_t) it->quarantined;
            rejected_files += it->quarantined > 0;
        }
        if (json) {
            /* stdout stays one JSON object; what went wrong goes to stderr */
            if (it->state == 4) {
                fprintf (stderr, "%s: REFUSED: %s\n", it->path, it->reason);
            }
            else if (it->state < 2) {
                fprintf (stderr, "%s: NOT DELIVERED\n", it->path);
            }
            else if (it->quarantined > 0) {
                fprintf (stderr, "%s: %d rejected: %s\n", it->path, it->quarantined,
                         it->first_reason);
            }
        }
        else {
            if (it->state < 2) {
                printf ("%s: NOT DELIVERED (no answer from the collector in time)\n", it->path);
            }
            else if (it->state == 4) {
                printf ("%s: REFUSED: %s\n", it->path, it->reason);
            }
            else if (it->records < 0) {
                printf ("%s: %s, outcome not known yet (see hourglass stats)\n", it->path,
                        it->state == 3 ? "already accepted earlier" : "accepted");
            }
            else if (it->quarantined > 0) {
                printf ("%s: %s%d records, %d rejected: %s\n", it->path,
                        it->state == 3 ? "(already accepted earlier) " : "", it->records,
                        it->quarantined, it->first_reason);
            }
        }
    }
    if (json) {
        printf ("{\"files\": %zu, \"accepted\": %zu, \"duplicates\": %zu, \"refused\": %zu, "
                "\"undelivered\": %zu, \"pending\": %zu, \"records\": %llu, \"rejected\": %llu}\n",
                n_files, accepted, duplicates, refused, undelivered, unknown,
                (unsigned long long) records, (unsigned long long) quarantined);
    }
    else {
        printf ("accepted: %zu batches (%zu already accepted earlier), %llu records\n"
                "rejected: %llu records or messages quarantined in %zu batches; %zu batches "
                "refused; %zu not delivered\n",
                accepted + duplicates, duplicates, (unsigned long long) records,
                (unsigned long long) quarantined, rejected_files, refused, undelivered);
        if (unknown) {
            printf ("pending: %zu batches not yet processed after %d s\n", unknown, wait_s);
        }
    }
    if (quarantined || refused || undelivered || unknown) {
        status = 1;
    }
    for (size_t i = 0; i < n_files; i++) {
        free (items[i].data);
    }
    free (items);
    hg_cluster_free (&c);
    return status;
}

/* ---- stats ---------------------------------------------------------------- */

int
hg_cmd_stats (int argc, char **argv)
{
    common_t o = {0};
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv[i], "--cluster") == 0) {
            o.cluster = s_take (&i, argc, argv, argv[i]);
        }
        else if (strcmp (argv[i], "--json") == 0) {
            o.json = true;
        }
        else {
            fprintf (stderr, "usage: hourglass stats [--cluster DIR] [--json]\n");
            return 2;
        }
    }
    hg_cluster_t c;
    if (s_load (o.cluster, &c, "stats") < 0) {
        return 1;
    }
    void *zctx = zmq_ctx_new ();
    int status = 0;
    if (o.json) {
        printf ("{\"services\": {");
    }
    for (int i = 0; i < c.n_procs; i++) {
        Hourglass__ControlRequest req = HOURGLASS__CONTROL_REQUEST__INIT;
        req.kind = HOURGLASS__CONTROL_REQUEST__KIND__STATS;
        Hourglass__ControlReply *rep = NULL;
        hg_err_t err;
        bool ok = hg_control_call (zctx, c.procs[i].control, &req, 3000, &rep, &err) == 0;
        if (!ok) {
            status = 1;
            fprintf (stderr, "hourglass stats: %s: %s\n", c.procs[i].name, err.msg);
        }
        if (o.json) {
            printf ("%s\"%s\": {\"service\": \"%s\", \"up\": %s", i ? ", " : "", c.procs[i].name,
                    c.procs[i].service, ok ? "true" : "false");
            for (size_t k = 0; ok && k < rep->n_counters; k++) {
                printf (", \"%s\": %llu", rep->counters[k]->name,
                        (unsigned long long) rep->counters[k]->value);
            }
            printf ("}");
        }
        else {
            printf ("%-14s", c.procs[i].name);
            if (!ok) {
                printf (" DOWN");
            }
            for (size_t k = 0; ok && k < rep->n_counters; k++) {
                printf (" %s=%llu", rep->counters[k]->name,
                        (unsigned long long) rep->counters[k]->value);
            }
            printf ("\n");
        }
        if (rep) {
            hourglass__control_reply__free_unpacked (rep, NULL);
        }
    }
    if (o.json) {
        printf ("}}\n");
    }
    zmq_ctx_term (zctx);
    hg_cluster_free (&c);
    return status;
}

/* ---- query count -------------------------------------------------------- */

static int
s_cmp_double (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

static int
s_query_usage (void)
{
    fprintf (stderr, "usage: hourglass query count [--cluster DIR] --code SYSTEM|CODE [--code ...]\n"
                     "                             [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--json]\n"
                     "                             [--repeat N]\n"
                     "SYSTEM as in FHIR, e.g. http://loinc.org|4548-4. Dates are de-identified\n"
                     "(shifted per patient), as stored. Several --code: a cohort, the patients who\n"
                     "carry every code (each dated in the range when one is given); its records\n"
                     "are not counted. --repeat N runs the query N times and adds\n"
                     "\"latency_ms\": {\"n\", \"p50\", \"p99\", \"max\"} to the JSON (benchmarks).\n");
    return 2;
}

int
hg_cmd_query (int argc, char **argv)
{
    if (argc < 2 || strcmp (argv[1], "count") != 0) {
        return s_query_usage ();
    }
    common_t o = {0};
    const char *codes[HG_QUERY_CODES_MAX] = {NULL}, *from = "", *to = "";
    size_t n_codes = 0;
    int repeat = 1;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp (a, "--cluster") == 0) {
            o.cluster = s_take (&i, argc, argv, a);
        }
        else if (strcmp (a, "--json") == 0) {
            o.json = true;
        }
        else if (strcmp (a, "--code") == 0) {
            if (n_codes == sizeof (codes) / sizeof (codes[0])) {
                fprintf (stderr, "hourglass query count: at most %zu --code\n", n_codes);
                return 2;
            }
            codes[n_codes++] = s_take (&i, argc, argv, a);
        }
        else if (strcmp (a, "--from") == 0) {
            from = s_take (&i, argc, argv, a);
        }
        else if (strcmp (a, "--to") == 0) {
            to = s_take (&i, argc, argv, a);
        }
        else if (strcmp (a, "--repeat") == 0) {
            repeat = atoi (s_take (&i, argc, argv, a));
            if (repeat < 1 || repeat > 100000) {
                fprintf (stderr, "hourglass query count: --repeat must be 1..100000\n");
                return 2;
            }
        }
        else {
            fprintf (stderr, "hourglass query count: unknown option %s\n", a);
            return s_query_usage ();
        }
    }
    /* each --code split at its last '|': the first is the count's code, the
     * others make it a cohort */
    char systems[HG_QUERY_CODES_MAX][1024];
    Hourglass__Coding coding[HG_QUERY_CODES_MAX], *also[HG_QUERY_CODES_MAX];
    for (size_t k = 0; k < n_codes || k == 0; k++) {
        const char *bar = codes[k] ? strrchr (codes[k], '|') : NULL;
        if (!bar || bar == codes[k] || !bar[1]) {
            fprintf (stderr, "hourglass query count: --code must be SYSTEM|CODE, e.g. "
                             "http://loinc.org|4548-4\n");
            return 2;
        }
        snprintf (systems[k], sizeof (systems[k]), "%.*s", (int) (bar - codes[k]), codes[k]);
        hourglass__coding__init (&coding[k]);
        coding[k].system = systems[k];
        coding[k].code = (char *) bar + 1;
        also[k] = &coding[k];
    }
    const char *code = codes[0];
    hg_cluster_t c;
    if (s_load (o.cluster, &c, "query") < 0) {
        return 1;
    }
    const char *controls[1];
    if (hg_cluster_controls (&c, "analytics", controls, 1) == 0) {
        fprintf (stderr, "hourglass query: the cluster has no analytics service\n");
        hg_cluster_free (&c);
        return 1;
    }
    Hourglass__CountQuery q = HOURGLASS__COUNT_QUERY__INIT;
    q.system = coding[0].system;
    q.code = coding[0].code;
    q.from = (char *) from;
    q.to = (char *) to;
    q.n_also = n_codes - 1;
    q.also = also + 1;
    bool cohort = n_codes > 1;
    Hourglass__ControlRequest req = HOURGLASS__CONTROL_REQUEST__INIT;
    req.kind = HOURGLASS__CONTROL_REQUEST__KIND__COUNT;
    req.count = &q;
    void *zctx = zmq_ctx_new ();
    Hourglass__ControlReply *rep = NULL;
    hg_err_t err;
    int status = 0;
    /* --repeat N: the same query N times, timed in-process (benchmarks) */
    double *lat_ms = calloc ((size_t) repeat, sizeof (*lat_ms));
    int rc = 0;
    for (int k = 0; k < repeat && rc == 0; k++) {
        if (rep) {
            hourglass__control_reply__free_unpacked (rep, NULL);
            rep = NULL;
        }
        uint64_t t0 = hg_wall_us ();
        rc = hg_control_call (zctx, controls[0], &req, 30000, &rep, &err);
        lat_ms[k] = (double) (hg_wall_us () - t0) / 1000.0;
    }
    if (rc < 0) {
        fprintf (stderr, "hourglass query count: %s\n", err.msg);
        status = 1;
    }
    else if (!rep->ok || !rep->count) {
        fprintf (stderr, "hourglass query count: %s\n", rep->error);
        status = 1;
    }
    else if (o.json) {
        if (rep->count->suppressed) {
            printf ("{\"patients\": null, \"records\": null, \"suppressed\": true}\n");
        }
        else {
            printf ("{\"patients\": %llu, ", (unsigned long long) rep->count->patients);
            if (cohort) {
                printf ("\"records\": null, \"suppressed\": false, \"codes\": %zu", n_codes);
            }
            else {
                printf ("\"records\": %llu, \"suppressed\": false",
                        (unsigned long long) rep->count->records);
            }
            if (repeat > 1) {
                qsort (lat_ms, (size_t) repeat, sizeof (*lat_ms), s_cmp_double);
                printf (", \"latency_ms\": {\"n\": %d, \"p50\": %.3f, \"p99\": %.3f, "
                        "\"max\": %.3f}",
                        repeat, lat_ms[repeat / 2], lat_ms[(repeat * 99) / 100],
                        lat_ms[repeat - 1]);
            }
            printf ("}\n");
        }
    }
    else if (cohort) {
        printf ("patients with all %zu codes:", n_codes);
        for (size_t k = 0; k < n_codes; k++) {
            printf (" %s", codes[k]);
        }
        if (rep->count->suppressed) {
            printf (": suppressed (fewer than the minimum cell size of patients)\n");
        }
        else {
            printf (": %llu patients\n", (unsigned long long) rep->count->patients);
        }
    }
    else if (rep->count->suppressed) {
        printf ("%s: suppressed (fewer than the minimum cell size of patients)\n", code);
    }
    else {
        printf ("%s: %llu patients, %llu records\n", code,
                (unsigned long long) rep->count->patients,
                (unsigned long long) rep->count->records);
    }
    if (rep) {
        hourglass__control_reply__free_unpacked (rep, NULL);
    }
    free (lat_ms);
    zmq_ctx_term (zctx);
    hg_cluster_free (&c);
    return status;
}

/* ---- quarantine list ---------------------------------------------------- */

int
hg_cmd_quarantine (int argc, char **argv)
{
    if (argc < 2 || strcmp (argv[1], "list") != 0) {
        fprintf (stderr, "usage: hourglass quarantine list [--cluster DIR] [--limit N] [--json]\n");
        return 2;
    }
    common_t o = {0};
    unsigned limit = 1000;
    for (int i = 2; i < argc; i++) {
        if (strcmp (argv[i], "--cluster") == 0) {
            o.cluster = s_take (&i, argc, argv, argv[i]);
        }
        else if (strcmp (argv[i], "--json") == 0) {
            o.json = true;
        }
        else if (strcmp (argv[i], "--limit") == 0) {
            limit = (unsigned) atoi (s_take (&i, argc, argv, argv[i]));
        }
        else {
            fprintf (stderr, "usage: hourglass quarantine list [--cluster DIR] [--limit N] "
                             "[--json]\n");
            return 2;
        }
    }
    hg_cluster_t c;
    if (s_load (o.cluster, &c, "quarantine") < 0) {
        return 1;
    }
    void *zctx = zmq_ctx_new ();
    int status = 0;
    size_t shown = 0;
    if (o.json) {
        printf ("{\"entries\": [");
    }
    /* stages that quarantine: the cleanser (parse errors) and deid (records
     * that could not be de-identified; reasons only) */
    for (int i = 0; i < c.n_procs; i++) {
        if (strcmp (c.procs[i].service, "cleanser") != 0
            && strcmp (c.procs[i].service, "deid") != 0) {
            continue;
        }
        Hourglass__ControlRequest req = HOURGLASS__CONTROL_REQUEST__INIT;
        req.kind = HOURGLASS__CONTROL_REQUEST__KIND__QUARANTINE_LIST;
        req.limit = limit;
        Hourglass__ControlReply *rep = NULL;
        hg_err_t err;
        if (hg_control_call (zctx, c.procs[i].control, &req, 10000, &rep, &err) < 0) {
            fprintf (stderr, "hourglass quarantine list: %s: %s\n", c.procs[i].name, err.msg);
            status = 1;
            continue;
        }
        for (size_t k = 0; k < rep->n_quarantine; k++) {
            Hourglass__QuarantineEntry *q = rep->quarantine[k];
            if (o.json) {
                printf ("%s{\"service\": \"%s\", \"instance\": \"%s\", \"message_id\": ",
                        shown ? ", " : "", c.procs[i].service, c.procs[i].name);
                s_json_str (q->message_id);
                printf (", \"partner\": ");
                s_json_str (q->partner);
                printf (", \"format\": ");
                s_json_str (q->format);
                printf (", \"location\": ");
                s_json_str (q->location);
                printf (", \"reason\": ");
                s_json_str (q->reason);
                printf (", \"excerpt\": ");
                hg_json_print_string ((const char *) q->excerpt.data, q->excerpt.len);
                printf (", \"payload_bytes\": %llu, \"at_us\": %llu}",
                        (unsigned long long) q->payload_bytes, (unsigned long long) q->at_us);
            }
            else {
                printf ("%s  %s\n    at %s: %s\n", c.procs[i].name, q->message_id, q->location,
                        q->reason);
            }
            shown++;
        }
        hourglass__control_reply__free_unpacked (rep, NULL);
    }
    if (o.json) {
        printf ("], \"count\": %zu}\n", shown);
    }
    else {
        printf ("%zu quarantined\n", shown);
    }
    zmq_ctx_term (zctx);
    hg_cluster_free (&c);
    return status;
}

/* ---- health --------------------------------------------------------------- */

int
hg_cmd_health (int argc, char **argv)
{
    if (argc < 2 || strcmp (argv[1], "--help") == 0) {
        fprintf (stderr, "usage: hourglass health ENDPOINT [--timeout-ms N]\n"
                         "Asks one service's control endpoint for HEALTH; exit 0 when it "
                         "answers healthy (for container healthchecks).\n");
        return 2;
    }
    int timeout_ms = 2000;
    if (argc >= 4 && strcmp (argv[2], "--timeout-ms") == 0) {
        timeout_ms = atoi (argv[3]);
    }
    Hourglass__ControlRequest req = HOURGLASS__CONTROL_REQUEST__INIT;
    req.kind = HOURGLASS__CONTROL_REQUEST__KIND__HEALTH;
    void *zctx = zmq_ctx_new ();
    Hourglass__ControlReply *rep = NULL;
    hg_err_t err;
    int status = 1;
    if (hg_control_call (zctx, argv[1], &req, timeout_ms, &rep, &err) < 0) {
        fprintf (stderr, "hourglass health: %s\n", err.msg);
    }
    else if (rep->ok) {
        printf ("%s %s healthy (pid %llu)\n", rep->service, rep->instance,
                (unsigned long long) rep->pid);
        status = 0;
    }
    else {
        fprintf (stderr, "hourglass health: %s\n", rep->error);
    }
    if (rep) {
        hourglass__control_reply__free_unpacked (rep, NULL);
    }
    zmq_ctx_term (zctx);
    return status;
}

/* ---- keygen --------------------------------------------------------------- */

int
hg_cmd_keygen (int argc, char **argv)
{
    if (argc != 3 || strcmp (argv[1], "--out") != 0) {
        fprintf (stderr, "usage: hourglass keygen --out PREFIX\n"
                         "Writes a CurveZMQ key pair: PREFIX.key (mode 0600, keep secret) and "
                         "PREFIX.pub.\n");
        return 2;
    }
    hg_curve_keypair_t kp;
    hg_err_t err = {0};
    if (hg_curve_keygen (argv[2], &kp, &err) < 0) {
        fprintf (stderr, "hourglass keygen: %s\n", err.msg);
        return 1;
    }
    printf ("%s.key (secret) and %s.pub: %s\n", argv[2], argv[2], kp.public_z85);
    sodium_memzero (&kp, sizeof (kp));
    return 0;
}
