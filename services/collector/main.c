/*
 * hourglass-collector -- takes partner pushes, journals each batch durably
 * in its outbox before acknowledging it, idempotent on the partner's batch id.
 *
 * Ingest: a ROUTER socket; each request is [identity][empty][PushRequest],
 * each answer [identity][empty][PushReply] carrying the message id
 * "<partner>/<batch id>" (so a REQ or a pipelining DEALER client can match
 * answers to requests). All requests read in one round
 * go into one synced write batch (group commit), then are answered.
 * Backpressure: when the outbox is full the answer is BUSY with a retry
 * delay, so a slow pipeline slows partners down instead of buffering.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "log.h"
#include "service.h"
#include "util.h"

#define HG_COLLECTOR_ROUND_MAX 256

static const hg_opt_t s_options[] = {
    {"ingest", HG_OPT_STRING, "tcp://127.0.0.1:5550", "endpoint partners push to"},
    {"max_payload_bytes", HG_OPT_INT, "67108864", "largest accepted batch (bytes)"},
    {"partners", HG_OPT_STRING, "",
     "allow-list of partner public keys ('<z85> <partner>' lines); with curve_key, only these "
     "partners may push and each is known by its key's name (SIGHUP re-reads it)"},
    {NULL, 0, NULL, NULL},
};

typedef struct {
    void *ingest;                 /* ROUTER facing partners */
    size_t max_payload_bytes;
    bool authenticated;           /* partners are known by their CurveZMQ key */
} collector_t;

typedef struct {
    zmq_msg_t identity;
    Hourglass__PushReply reply;
    char message_id[512];
    char reason[600];
} pending_reply_t;

static const char *
s_format_known (const char *format, Hourglass__PayloadType *type)
{
    if (strcmp (format, "fhir") == 0) {
        *type = HOURGLASS__PAYLOAD_TYPE__PAYLOAD_FHIR;
    }
    else if (strcmp (format, "hl7v2") == 0) {
        *type = HOURGLASS__PAYLOAD_TYPE__PAYLOAD_HL7V2;
    }
    else if (strcmp (format, "csv") == 0) {
        *type = HOURGLASS__PAYLOAD_TYPE__PAYLOAD_CSV;
    }
    else if (strcmp (format, "vcf") == 0) {
        *type = HOURGLASS__PAYLOAD_TYPE__PAYLOAD_VCF;
    }
    else if (strcmp (format, "dicom") == 0) {
        *type = HOURGLASS__PAYLOAD_TYPE__PAYLOAD_DICOM;
    }
    else {
        *type = HOURGLASS__PAYLOAD_TYPE__PAYLOAD_UNKNOWN;   /* quarantined downstream */
    }
    return format;
}

static int
s_init (hg_service_t *svc, void **state, hg_err_t *err)
{
    collector_t *self = calloc (1, sizeof (*self));
    self->max_payload_bytes = (size_t) hg_config_int (hg_service_config (svc),
                                                      "max_payload_bytes");
    self->ingest = zmq_socket (hg_service_zctx (svc), ZMQ_ROUTER);
    /* refuse absurd messages at the transport, before they are buffered */
    int64_t maxmsg = (int64_t) self->max_payload_bytes * 2 + 65536;
    zmq_setsockopt (self->ingest, ZMQ_MAXMSGSIZE, &maxmsg, sizeof (maxmsg));
    const char *ep = hg_service_option (svc, "ingest");
    *state = self;
    const char *partners = hg_service_option (svc, "partners");
    if (hg_service_curve (svc)) {
        /* partners authenticate with their own key pair; identity comes from it */
        if (!*partners) {
            return hg_err_set (err, HG_EINVAL, "curve_key is set but partners is not: give the "
                               "allow-list of partner public keys");
        }
        if (hg_curve_auth_allow (hg_service_auth (svc), "partners", partners, err) < 0
            || hg_curve_make_server (self->ingest, hg_service_curve (svc), "partners", err) < 0) {
            return err->code;
        }
        self->authenticated = true;
    }
    else if (*partners) {
        return hg_err_set (err, HG_EINVAL, "partners needs curve_key (keys authenticate "
                           "partners only over CurveZMQ)");
    }
    if (zmq_bind (self->ingest, ep) < 0) {
        return hg_err_set (err, HG_EIO, "cannot bind ingest endpoint %s: %s", ep,
                           zmq_strerror (errno));
    }
    return 0;
}

static void
s_destroy (void **state)
{
    collector_t *self = *state;
    if (self->ingest) {
        int linger = 0;
        zmq_setsockopt (self->ingest, ZMQ_LINGER, &linger, sizeof (linger));
        zmq_close (self->ingest);
    }
    free (self);
    *state = NULL;
}

static void *
s_extra_socket (void *state)
{
    return ((collector_t *) state)->ingest;
}

/* Decides one request; for an accepted one, stages its journal writes. */
static void
s_accept (hg_service_t *svc, collector_t *self, Hourglass__PushRequest *req,
          size_t req_bytes, const char *user_id, hg_store_batch_t *wb, pending_reply_t *pr,
          size_t n_before, pending_reply_t *round)
{
    Hourglass__PushReply *r = &pr->reply;
    hourglass__push_reply__init (r);
    r->message_id = pr->message_id;
    r->reason = pr->reason;
    if (req && self->authenticated) {
        /* the key decides who the partner is; a request may not claim another */
        if (!user_id || !*user_id) {
            r->status = HOURGLASS__PUSH_REPLY__STATUS__REJECTED;
            snprintf (pr->reason, sizeof (pr->reason), "not authenticated");
            return;
        }
        if (*req->partner && strcmp (req->partner, user_id) != 0) {
            r->status = HOURGLASS__PUSH_REPLY__STATUS__REJECTED;
            snprintf (pr->message_id, sizeof (pr->message_id), "%.128s/%.256s", req->partner,
                      req->batch_id);
            snprintf (pr->reason, sizeof (pr->reason),
                      "your key authenticates you as partner '%.64s', not '%.64s'", user_id,
                      req->partner);
            (*hg_service_counter (svc, "rejected"))++;
            hg_warn ("partner_mismatch", "authenticated=%s claimed=%s", user_id, req->partner);
            return;
        }
        req->partner = (char *) user_id;
    }
    if (!req) {
        r->status = HOURGLASS__PUSH_REPLY__STATUS__REJECTED;
        snprintf (pr->reason, sizeof (pr->reason), "undecodable PushRequest (%zu bytes)",
                  req_bytes);
        return;
    }
    snprintf (pr->message_id, sizeof (pr->message_id), "%.128s/%.256s", req->partner,
              req->batch_id);
    if (!*req->partner || !*req->batch_id || strlen (req->batch_id) > 256
        || strlen (req->partner) > 128 || strchr (req->partner, '/')) {
        r->status = HOURGLASS__PUSH_REPLY__STATUS__REJECTED;
        snprintf (pr->reason, sizeof (pr->reason),
                  "partner (1-128 chars, no '/') and batch_id (1-256 chars) are required");
        return;
    }
    if (req->payload.len > self->max_payload_bytes) {
        r->status = HOURGLASS__PUSH_REPLY__STATUS__REJECTED;
        snprintf (pr->reason, sizeof (pr->reason),
                  "payload of %zu bytes exceeds max_payload_bytes %zu; split the batch",
                  req->payload.len, self->max_payload_bytes);
        (*hg_service_counter (svc, "rejected"))++;
        return;
    }
    char key[600];
    int kl = snprintf (key, sizeof (key), "s/%s", pr->message_id);
    bool dup = hg_store_exists (hg_service_store (svc), key, (size_t) kl);
    for (size_t i = 0; !dup && i < n_before; i++) {
        dup = round[i].reply.status == HOURGLASS__PUSH_REPLY__STATUS__ACCEPTED
              && strcmp (round[i].message_id, pr->message_id) == 0;
    }
    if (dup) {
        r->status = HOURGLASS__PUSH_REPLY__STATUS__DUPLICATE;
        (*hg_service_counter (svc, "duplicates"))++;
        return;
    }
    if (hg_service_outbox_room (svc) == 0) {
        r->status = HOURGLASS__PUSH_REPLY__STATUS__BUSY;
        r->retry_after_ms = 200;
        snprintf (pr->reason, sizeof (pr->reason), "pipeline is saturated; retry later");
        (*hg_service_counter (svc, "busy"))++;
        return;
    }
    Hourglass__Envelope env = HOURGLASS__ENVELOPE__INIT;
    env.id = pr->message_id;
    env.partner = req->partner;
    env.format = req->format;
    s_format_known (req->format, &env.payload_type);
    env.payload = req->payload;
    env.shard = -1;
    hg_err_t err = {0};
    if (hg_service_emit (svc, wb, &env, NULL, &err) < 0) {
        r->status = HOURGLASS__PUSH_REPLY__STATUS__BUSY;
        r->retry_after_ms = 100;
        snprintf (pr->reason, sizeof (pr->reason), "%s", err.msg);
        return;
    }
    hg_store_batch_put (wb, key, (size_t) kl, "", 0);
    r->status = HOURGLASS__PUSH_REPLY__STATUS__ACCEPTED;
    (*hg_service_counter (svc, "received"))++;
    *hg_service_counter (svc, "received_bytes") += req->payload.len;
}

static int
s_on_ingest (hg_service_t *svc, void *state, hg_err_t *err)
{
    collector_t *self = state;
    pending_reply_t *round = calloc (HG_COLLECTOR_ROUND_MAX, sizeof (*round));
    hg_store_batch_t *wb = hg_store_batch_new ();
    size_t n = 0;
    int rc = 0;
    while (n < HG_COLLECTOR_ROUND_MAX) {
        zmq_msg_t parts[3];
        int got = 0, more = 1;
        while (more && got < 3) {
            zmq_msg_init (&parts[got]);
            if (zmq_msg_recv (&parts[got], self->ingest, got == 0 ? ZMQ_DONTWAIT : 0) < 0) {
                zmq_msg_close (&parts[got]);
                more = -1;
                break;
            }
            more = zmq_msg_more (&parts[got]);
            got++;
        }
        if (got == 0) {
            break;
        }
        if (got != 3 || more == 1) {
            /* not [identity][empty][request]: drain and ignore */
            while (more == 1) {
                zmq_msg_t skip;
                zmq_msg_init (&skip);
                zmq_msg_recv (&skip, self->ingest, 0);
                more = zmq_msg_more (&skip);
                zmq_msg_close (&skip);
            }
            for (int i = 0; i < got; i++) {
                zmq_msg_close (&parts[i]);
            }
            continue;
        }
        pending_reply_t *pr = &round[n];
        zmq_msg_init (&pr->identity);
        zmq_msg_move (&pr->identity, &parts[0]);
        Hourglass__PushRequest *req = hourglass__push_request__unpack (
            NULL, zmq_msg_size (&parts[2]), zmq_msg_data (&parts[2]));
        const char *user_id = self->authenticated ? zmq_msg_gets (&parts[2], "User-Id") : NULL;
        char *claimed = req ? req->partner : NULL;
        s_accept (svc, self, req, zmq_msg_size (&parts[2]), user_id, wb, pr, n, round);
        if (req) {
            req->partner = claimed;   /* free_unpacked frees what unpack allocated */
        }
        if (req) {
            hourglass__push_request__free_unpacked (req, NULL);
        }
        for (int i = 0; i < 3; i++) {
            zmq_msg_close (&parts[i]);
        }
        n++;
    }
    if (n > 0) {
        /* durable first, then acknowledge */
        rc = hg_service_commit (svc, wb, err);
        for (size_t i = 0; i < n; i++) {
            if (rc < 0) {
                round[i].reply.status = HOURGLASS__PUSH_REPLY__STATUS__BUSY;
                round[i].reply.retry_after_ms = 1000;
                snprintf (round[i].reason, sizeof (round[i].reason), "journal write failed");
            }
            size_t len = hourglass__push_reply__get_packed_size (&round[i].reply);
            zmq_msg_t out;
            zmq_msg_init_size (&out, len);
            hourglass__push_reply__pack (&round[i].reply, zmq_msg_data (&out));
            zmq_msg_send (&round[i].identity, self->ingest, ZMQ_SNDMORE);
            zmq_send (self->ingest, "", 0, ZMQ_SNDMORE);
            zmq_msg_send (&out, self->ingest, 0);
            zmq_msg_close (&round[i].identity);
        }
        hg_debug ("ingest_round", "requests=%zu", n);
    }
    hg_store_batch_destroy (&wb);
    free (round);
    return rc;
}

static const hg_service_def_t s_def = {
    .name = "collector",
    .summary = "takes partner feeds and journals them durably before acknowledging",
    .options = s_options,
    .consumes = false,
    .produces = true,
    .init = s_init,
    .extra_socket = s_extra_socket,
    .on_extra = s_on_ingest,
    .destroy = s_destroy,
};

int
main (int argc, char **argv)
{
    return hg_service_main (&s_def, argc, argv);
}
