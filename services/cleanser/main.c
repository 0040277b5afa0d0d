/*
 * hourglass-cleanser -- parses partner payloads into canonical records,
 * quarantines what is invalid with a reason a person can act on.
 *
 * Per message, in the same commit as its de-dup marker:
 *   outbox  one envelope with the packed RecordBatch (when it has records)
 *   q/<message id>\0<nnnn>   QuarantineEntry per reject (location, reason, excerpt)
 *   p/<message id>           the whole rejected payload, so nothing is lost
 *   r/<message id>           Outcome: records produced, quarantined, first reason
 *   Q\0<partner>            PartnerQuality: the partner's figures (quality.h)
 *   Qd\0<partner>\0<day>     PartnerQuality with one QualityDay: the partner's
 *                            figures of a day (8 hex digits, days since the
 *                            epoch), the last HG_QUALITY_DAYS days kept
 *   L\0<partner>\0<FHIR Patient id>   the patient's identifier (the id HL7 v2
 *                            uses), for FHIR records of later payloads that
 *                            reference the Patient by id (see cleanse.h)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "cleanse.h"
#include "fhir.h"
#include "format.h"
#include "formats.h"
#include "log.h"
#include "quality.h"
#include "quarantine.h"
#include "service.h"
#include "util.h"

static const hg_opt_t s_options[] = {
    {"max_field_bytes", HG_OPT_INT, "1048576",
     "largest single field or JSON string accepted; larger ones are quarantined"},
    {"max_records", HG_OPT_INT, "100000", "most records taken from one payload"},
    {"csv_mappings", HG_OPT_STRING, "./mappings",
     "directory of CSV mapping files, one per partner: <dir>/<partner>.map"},
    {NULL, 0, NULL, NULL},
};

typedef struct {
    hg_parse_limits_t limits;
    const char *csv_mappings; /* directory of <partner>.map files */
    hg_quality_t *quality;    /* per-partner data-quality figures ("Q\0<partner>") */
    hg_links_t *links;        /* patient links written this round (cleanse.h) */
    hg_batch_t *batch;        /* reused for every payload of the usual size (its
                                   * arena keeps its blocks between payloads) */
} cleanser_t;

/* Payloads up to this size parse into the reused batch, whose arena limit
 * is the one every such payload had (16 x its size, at least 64 MiB). */
#define S_REUSED_PAYLOAD_MAX (4u << 20)
#define S_REUSED_ARENA_LIMIT (64u << 20)

static int
s_init (hg_service_t *svc, void **state, hg_err_t *err)
{
    cleanser_t *self = calloc (1, sizeof (*self));
    *state = self;
    int64_t mf = hg_config_int (hg_service_config (svc), "max_field_bytes");
    int64_t mr = hg_config_int (hg_service_config (svc), "max_records");
    if (mf < 0 || mr < 0) {
        return hg_err_set (err, HG_EINVAL, "max_field_bytes and max_records must be >= 0");
    }
    self->limits.max_field_bytes = (size_t) mf;
    self->limits.max_records = (size_t) mr;
    self->csv_mappings = hg_service_option (svc, "csv_mappings");
    self->quality = hg_quality_new ();
    self->links = hg_links_new ();
    if (!self->quality || !self->links) {
        return hg_err_set (err, HG_ENOMEM, "out of memory");
    }
    hg_store_iter_t *it = hg_store_iter_new (hg_service_store (svc), "Q\0", 2, NULL, 0);
    const char *k, *v;
    size_t kl, vl;
    while (hg_store_iter_next (it, &k, &kl, &v, &vl)) {
        hg_quality_load (self->quality, (const uint8_t *) v, vl);
    }
    hg_store_iter_destroy (&it);
    /* then the days (a load resets a partner's figures, days included) */
    it = hg_store_iter_new (hg_service_store (svc), "Qd\0", 3, NULL, 0);
    while (hg_store_iter_next (it, &k, &kl, &v, &vl)) {
        hg_quality_merge (self->quality, (const uint8_t *) v, vl);
    }
    hg_store_iter_destroy (&it);
    return 0;
}

static void
s_destroy (void **state)
{
    cleanser_t *self = *state;
    hg_links_destroy (&self->links);
    hg_batch_destroy (&self->batch);
    hg_quality_destroy (&self->quality);
    free (*state);
    *state = NULL;
}

/* Parses one payload with the parser of its type (formats.c). */
static void
s_parse (cleanser_t *self, const Hourglass__Envelope *env, hg_batch_t *batch)
{
    hg_parse_ctx_t ctx = {.limits = self->limits,
                          .partner = env->partner,
                          .csv_mappings = self->csv_mappings};
    hg_parser_run (env->payload_type, env->format, (const char *) env->payload.data,
                   env->payload.len, &ctx, batch);
}

static void
s_quarantine (hg_service_t *svc, const Hourglass__Envelope *env, hg_batch_t *batch,
              hg_store_batch_t *wb)
{
    size_t n = hg_batch_reject_count (batch);
    const hg_reject_t *rj = hg_batch_rejects (batch);
    char pkey[600];
    int pkl = snprintf (pkey, sizeof (pkey), "p/%s", env->id);
    hg_store_batch_put (wb, pkey, (size_t) pkl, env->payload.data, env->payload.len);
    for (size_t i = 0; i < n; i++) {
        Hourglass__QuarantineEntry q = HOURGLASS__QUARANTINE_ENTRY__INIT;
        q.message_id = env->id;
        q.partner = env->partner;
        q.format = env->format;
        q.location = rj[i].location;
        q.reason = rj[i].reason;
        q.excerpt.data = (uint8_t *) rj[i].excerpt;
        q.excerpt.len = rj[i].excerpt_len;
        q.at_us = hg_wall_us ();
        q.payload_bytes = env->payload.len;
        q.key = pkey;
        hg_quarantine_put (wb, &q, i, NULL); /* out of memory: the commit fails */
        /* the location can quote the input (an MSH-10, a resource id): not logged */
        hg_info ("quarantined", "fingerprint=%s reject=%zu", HG_LOG_FP (env->id), i);
    }
}

/* ------------------------------------------------------------------------
 * Patient links (cleanse.h): every linked FHIR Patient is remembered, per
 * partner, as L\0<partner>\0<Patient id> -> identifier, in the write batch
 * of its message; records of later payloads still flagged
 * "patient.unlinked" are looked up there. Each cleanser instance has its
 * own links: with several instances, a Patient and its Observations must
 * reach the same one to be linked. */

/* Store key of a link into key (size bytes); 0 when it does not fit. */
static size_t
s_link_key (const char *partner, const char *patient_id, char *key, size_t size)
{
    int n = snprintf (key, size, "L%c%s%c%s", '\0', partner, '\0', patient_id);
    return n > 0 && (size_t) n < size ? (size_t) n : 0;
}

/* hg_cleanse_lookup_fn over the store (arg: the service): the links
 * committed in earlier rounds. */
static int
s_link_lookup (void *arg, hg_arena_t *a, const char *partner, const char *patient_id,
               char **identifier)
{
    char key[1024];
    size_t klen = s_link_key (partner, patient_id, key, sizeof (key));
    char *stored = NULL;
    size_t slen = 0;
    if (klen == 0 || hg_store_get (hg_service_store (arg), key, klen, &stored, &slen, NULL) < 0) {
        return HG_ENOTFOUND;
    }
    *identifier = hg_arena_strndup (a, stored, slen);
    free (stored);
    return *identifier ? 0 : HG_ENOMEM;
}

/* The payload's new links, as rows of its message's write batch. */
static void
s_store_links (const Hourglass__Envelope *env, const hg_cleanse_result_t *res,
               hg_store_batch_t *wb)
{
    char key[1024];
    for (size_t i = 0; i < res->n_links; i++) {
        const hg_cleanse_link_t *l = &res->links[i];
        /* always fits: hg_cleanse links no longer ids (HG_CLEANSE_LINK_MAX) */
        size_t klen = s_link_key (env->partner, l->patient_id, key, sizeof (key));
        if (klen) {
            hg_store_batch_put (wb, key, klen, l->identifier, strlen (l->identifier));
        }
    }
}

/* r/<message id>: the message's Outcome. */
static void
s_outcome (const Hourglass__Envelope *env, hg_batch_t *batch, hg_store_batch_t *wb)
{
    size_t nq = hg_batch_reject_count (batch);
    Hourglass__Outcome oc = HOURGLASS__OUTCOME__INIT;
    oc.message_id = env->id;
    oc.records = (uint32_t) hg_batch_record_count (batch);
    oc.quarantined = (uint32_t) nq;
    oc.first_reason = nq ? hg_batch_rejects (batch)[0].reason : (char *) "";
    /* for the MLLP ACK's ERR-2 (segment sequence) */
    oc.first_location = nq ? hg_batch_rejects (batch)[0].location : (char *) "";
    size_t olen = hourglass__outcome__get_packed_size (&oc);
    uint8_t *obuf = malloc (olen ? olen : 1);
    hourglass__outcome__pack (&oc, obuf);
    char key[600];
    int kl = snprintf (key, sizeof (key), "r/%s", env->id);
    hg_store_batch_put (wb, key, (size_t) kl, obuf, olen);
    free (obuf);
}

/* Store key of partner's day row into key (size bytes): its length. */
static size_t
s_day_key (const char *partner, uint32_t day, char *key, size_t size)
{
    int n = snprintf (key, size, "Qd%c%.190s%c%08x", '\0', partner, '\0', (unsigned) day);
    return n > 0 && (size_t) n < size ? (size_t) n : 0;
}

/* Q\0<partner>: the partner's figures as they are now, into wb; with its
 * row of day (when kept), and without the rows of days it no longer keeps. */
static void
s_store_quality (cleanser_t *self, const char *partner, uint32_t day, hg_store_batch_t *wb)
{
    uint8_t *qbuf = NULL;
    size_t qlen = hg_quality_pack (self->quality, partner, &qbuf);
    if (qlen) {
        char qkey[200];
        int qkl = snprintf (qkey, sizeof (qkey), "Q%c%.190s", '\0', partner);
        hg_store_batch_put (wb, qkey, (size_t) qkl, qbuf, qlen);
    }
    free (qbuf);
    char dkey[220];
    size_t dkl = s_day_key (partner, day, dkey, sizeof (dkey));
    qbuf = NULL;
    qlen = hg_quality_pack_day (self->quality, partner, day, &qbuf);
    if (qlen && dkl) {
        hg_store_batch_put (wb, dkey, dkl, qbuf, qlen);
    }
    free (qbuf);
    uint32_t dropped[HG_QUALITY_DAYS];
    size_t nd = hg_quality_take_dropped (self->quality, partner, dropped, HG_QUALITY_DAYS);
    for (size_t i = 0; i < nd; i++) {
        if ((dkl = s_day_key (partner, dropped[i], dkey, sizeof (dkey))) > 0) {
            hg_store_batch_delete (wb, dkey, dkl);
        }
    }
}

/* When the partner's message reached us: the collector's stamp, else now. */
static uint64_t
s_received_us (const Hourglass__Envelope *env)
{
    for (size_t i = 0; i < env->n_stamps; i++) {
        if (strcmp (env->stamps[i]->stage, "collector") == 0 && env->stamps[i]->at_us) {
            return env->stamps[i]->at_us;
        }
    }
    return hg_wall_us ();
}

/* Q\0<partner>: the partner's data quality with this message, committed
 * with the message's results; and the service's counters. */
static void
s_account (hg_service_t *svc, cleanser_t *self, const Hourglass__Envelope *env, hg_batch_t *batch,
           const hg_cleanse_result_t *res, hg_store_batch_t *wb)
{
    size_t n = hg_batch_record_count (batch), nq = hg_batch_reject_count (batch);
    /* the report's samples name the message by the partner and the
     * fingerprint of its id (`hourglass fingerprint`), never the id */
    char label[200];
    snprintf (label, sizeof (label), "%.120s/%s", env->partner, HG_LOG_FP (env->id));
    uint64_t at_us = s_received_us (env);
    hg_quality_message (self->quality, env->partner, label, at_us, hg_batch_records (batch), n,
                        hg_batch_rejects (batch), nq, hg_batch_ignored (batch), res->flag_codes,
                        res->n_flag_codes, res->flagged);
    size_t nk = 0;
    const hg_ignored_t *kinds = hg_batch_ignored_kinds (batch, &nk);
    hg_quality_ignored (self->quality, env->partner, kinds, nk);
    *hg_service_counter (svc, "flagged") += res->flagged;
    *hg_service_counter (svc, "patient_relinked") += res->relinked;
    *hg_service_counter (svc, "patient_unlinked") += res->unlinked;
    s_store_quality (self, env->partner, hg_quality_day (at_us), wb);
    *hg_service_counter (svc, "parsed") += n;
    *hg_service_counter (svc, "quarantined") += nq;
    hg_service_partner_count (svc, "quarantined", env->partner, nq);
    *hg_service_counter (svc, "ignored") += hg_batch_ignored (batch);
}

/* The batch a payload parses into: the reused one (reset after its previous
 * payload) for the usual sizes, else one of its own; NULL when out of
 * memory. */
static hg_batch_t *
s_batch_for (cleanser_t *self, size_t payload_len)
{
    if (payload_len <= S_REUSED_PAYLOAD_MAX) {
        if (!self->batch) {
            self->batch = hg_batch_new (S_REUSED_ARENA_LIMIT);
        }
        return self->batch;
    }
    size_t limit = payload_len * 16;
    return hg_batch_new (limit > (1u << 30) ? (1u << 30) : limit);
}

/* Cleanses a parsed message's records (cleanse.h): the one place that says
 * what a message's context is, for its first parse and for a replay. */
static int
s_cleanse (hg_service_t *svc, cleanser_t *self, const Hourglass__Envelope *env, hg_batch_t *batch,
           hg_cleanse_result_t *res, hg_err_t *err)
{
    hg_cleanse_ctx_t ctx = {
        .partner = env->partner,
        .message_id = env->id,
        .format = env->format,
        .link_patients = env->payload_type == HOURGLASS__PAYLOAD_TYPE__PAYLOAD_FHIR,
        .today_days = (int64_t) (hg_wall_us () / 1000000u / 86400u),
        .links = self->links,
        .lookup = s_link_lookup,
        .lookup_arg = svc,
    };
    return hg_cleanse (&ctx, hg_batch_arena (batch), hg_batch_records (batch),
                       hg_batch_record_count (batch), res, err);
}

/* One message: parse, cleanse (cleanse.h), then its rows in the write batch. */
static int
s_process_one (hg_service_t *svc, cleanser_t *self, const Hourglass__Envelope *env,
               hg_store_batch_t *wb, hg_err_t *err)
{
    hg_batch_t *batch = s_batch_for (self, env->payload.len);
    if (!batch) {
        return hg_err_set (err, HG_ENOMEM, "out of memory");
    }
    s_parse (self, env, batch);
    size_t n = hg_batch_record_count (batch);
    Hourglass__Record **recs = hg_batch_records (batch);
    hg_cleanse_result_t res;
    int rc = s_cleanse (svc, self, env, batch, &res, err);
    if (rc == 0) {
        s_store_links (env, &res, wb);
        rc = n > 0 ? hg_service_emit_records (svc, wb, env, env->id, -1, recs, n, err) : 0;
    }
    if (rc == 0) {
        if (hg_batch_reject_count (batch) > 0) {
            s_quarantine (svc, env, batch, wb);
        }
        s_outcome (env, batch, wb);
        s_account (svc, self, env, batch, &res, wb);
    }
    if (batch == self->batch) {
        hg_batch_reset (batch); /* keeps the arena's blocks for the next payload */
    }
    else {
        hg_batch_destroy (&batch);
    }
    return rc;
}

static int
s_process (hg_service_t *svc, void *state, hg_delivery_t *d, size_t n, hg_store_batch_t *wb,
           hg_err_t *err)
{
    cleanser_t *self = state;
    /* the previous round's links are committed (or it failed and the
     * process exited): the store has them now */
    hg_links_clear (self->links);
    for (size_t i = 0; i < n; i++) {
        if (s_process_one (svc, self, d[i].env, wb, err) < 0) {
            return err->code;
        }
    }
    return 0;
}

static int
s_outcomes (hg_service_t *svc, const Hourglass__ControlRequest *req,
            Hourglass__ControlReply *reply, hg_arena_t *arena)
{
    const Hourglass__OutcomeQuery *q = req->outcome;
    size_t n_ids = q ? q->n_message_ids : 0;
    Hourglass__Outcome **out = hg_arena_alloc (arena, (n_ids ? n_ids : 1) * sizeof (*out));
    ProtobufCAllocator alloc;
    hg_arena_protobuf_allocator (arena, &alloc);
    size_t n = 0;
    for (size_t i = 0; i < n_ids; i++) {
        char key[600];
        int kl = snprintf (key, sizeof (key), "r/%s", q->message_ids[i]);
        char *v;
        size_t vl;
        if (kl < (int) sizeof (key)
            && hg_store_get (hg_service_store (svc), key, (size_t) kl, &v, &vl, NULL) == 0) {
            Hourglass__Outcome *oc = hourglass__outcome__unpack (&alloc, vl, (uint8_t *) v);
            if (oc) {
                out[n++] = oc;
            }
            free (v);
        }
    }
    reply->n_outcomes = n;
    reply->outcomes = out;
    return 0;
}

/* QUALITY: one partner's figures, or every partner's. */
static int
s_quality (cleanser_t *self, const Hourglass__ControlRequest *req, Hourglass__ControlReply *reply,
           hg_arena_t *arena)
{
    const char *names[256];
    size_t n = 0;
    if (*req->partner) {
        names[n++] = req->partner;
    }
    else {
        n = hg_quality_partners (self->quality, names, 256);
    }
    Hourglass__PartnerQuality **out = hg_arena_alloc (arena, (n ? n : 1) * sizeof (*out));
    ProtobufCAllocator alloc;
    hg_arena_protobuf_allocator (arena, &alloc);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t *buf = NULL;
        size_t len = hg_quality_pack_report (self->quality, names[i], &buf);
        if (len) {
            Hourglass__PartnerQuality *q = hourglass__partner_quality__unpack (&alloc, len, buf);
            if (q) {
                out[k++] = q;
            }
        }
        free (buf);
    }
    reply->n_quality = k;
    reply->quality = out;
    return 0;
}

/* ------------------------------------------------------------------------
 * REPLAY (`hourglass quarantine replay`, docs/operations.md): each selected
 * quarantined message's kept payload (p/<id>) parsed again by today's
 * parsers. When that gives more records than its Outcome says the first
 * parse gave, the new parse is kept, in one synced commit: its records
 * emitted as "<id>#replay-<records>" (records the first parse had emitted
 * already come again with their content keys, which the indexer keeps
 * once), its old quarantine entries replaced by the new rejects (the
 * payload deleted when there are none), its Outcome and the partner's
 * figures updated. Otherwise nothing is written. So a second replay with
 * the same parsers finds the same counts and moves nothing. */

/* The records and rejects r/<id> says the message's last parse gave. */
static void
s_outcome_counts (hg_service_t *svc, const char *id, uint32_t *records, uint32_t *rejects)
{
    char key[600];
    int kl = snprintf (key, sizeof (key), "r/%s", id);
    char *v = NULL;
    size_t vl = 0;
    *records = *rejects = 0;
    if (kl < (int) sizeof (key)
        && hg_store_get (hg_service_store (svc), key, (size_t) kl, &v, &vl, NULL) == 0) {
        Hourglass__Outcome *oc = hourglass__outcome__unpack (NULL, vl, (uint8_t *) v);
        if (oc) {
            *records = oc->records;
            *rejects = oc->quarantined;
            hourglass__outcome__free_unpacked (oc, NULL);
        }
        free (v);
    }
}

/* Keeps the new parse of a replayed message (see above) in wb. */
static int
s_replay_keep (hg_service_t *svc, cleanser_t *self, const Hourglass__Envelope *env,
               const char *payload_key, hg_batch_t *batch, const Hourglass__ReplayResult *r,
               hg_store_batch_t *wb, hg_err_t *err)
{
    size_t n = hg_batch_record_count (batch);
    Hourglass__Record **recs = hg_batch_records (batch);
    hg_cleanse_result_t res;
    char id[640];
    snprintf (id, sizeof (id), "%.600s#replay-%zu", env->id, n);
    if (s_cleanse (svc, self, env, batch, &res, err) < 0
        || hg_service_emit_records (svc, wb, env, id, -1, recs, n, err) < 0
        || hg_quarantine_clear (hg_service_store (svc), wb, env->id, err) < 0) {
        return err->code;
    }
    s_store_links (env, &res, wb);
    if (hg_batch_reject_count (batch) > 0) {
        s_quarantine (svc, env, batch, wb);
    }
    else {
        hg_store_batch_delete (wb, payload_key, strlen (payload_key));
    }
    s_outcome (env, batch, wb);
    uint64_t now_us = hg_wall_us ();
    hg_quality_replayed (self->quality, env->partner, now_us, r->records_before, r->records_after,
                         r->rejects_before, r->rejects_after);
    s_store_quality (self, env->partner, hg_quality_day (now_us), wb);
    *hg_service_counter (svc, "parsed") += r->records_after - r->records_before;
    return 0;
}

/* Replays one quarantined message into r; its own commit when it moves. */
static int
s_replay_one (hg_service_t *svc, cleanser_t *self, const hg_quarantined_t *m,
              Hourglass__ReplayResult *r, hg_err_t *err)
{
    r->message_id = (char *) m->message_id;
    r->partner = (char *) m->partner;
    r->format = (char *) m->format;
    s_outcome_counts (svc, m->message_id, &r->records_before, &r->rejects_before);
    r->records_after = r->records_before;
    r->rejects_after = r->rejects_before;
    char *payload = NULL;
    size_t plen = 0;
    if (hg_store_get (hg_service_store (svc), m->payload_key, strlen (m->payload_key), &payload,
                      &plen, NULL)
        < 0) {
        return 0; /* no payload kept: nothing to run again */
    }
    Hourglass__Envelope env = HOURGLASS__ENVELOPE__INIT;
    env.id = (char *) m->message_id;
    env.partner = (char *) m->partner;
    env.format = (char *) m->format;
    env.payload_type = hg_format_type (m->format);
    env.payload.data = (uint8_t *) payload;
    env.payload.len = plen;
    hg_batch_t *batch = s_batch_for (self, plen);
    int rc = batch ? 0 : hg_err_set (err, HG_ENOMEM, "out of memory");
    if (batch) {
        s_parse (self, &env, batch);
        r->records_after = (uint32_t) hg_batch_record_count (batch);
        r->rejects_after = (uint32_t) hg_batch_reject_count (batch);
        r->moved = r->records_after > r->records_before;
    }
    if (batch && r->moved) {
        hg_store_batch_t *wb = hg_store_batch_new ();
        rc = wb ? s_replay_keep (svc, self, &env, m->payload_key, batch, r, wb, err)
                : hg_err_set (err, HG_ENOMEM, "out of memory");
        rc = rc == 0 ? hg_service_commit (svc, wb, err) : rc;
        hg_store_batch_destroy (&wb);
        hg_info ("replayed", "fingerprint=%s records=%u rejects=%u", HG_LOG_FP (env.id),
                 r->records_after, r->rejects_after);
    }
    if (batch == self->batch) {
        hg_batch_reset (batch);
    }
    else {
        hg_batch_destroy (&batch);
    }
    free (payload);
    return rc;
}

/* REPLAY: the messages of the quarantine passing the request's filters. */
static int
s_replay (hg_service_t *svc, cleanser_t *self, const Hourglass__ControlRequest *req,
          Hourglass__ControlReply *reply, hg_arena_t *arena, hg_err_t *err)
{
    hg_quarantine_filter_t f = {req->partner, req->reason, req->since_us};
    hg_quarantined_t *msgs = NULL;
    size_t n = 0;
    size_t limit = req->limit ? req->limit : 100000;
    if (hg_quarantine_select (hg_service_store (svc), &f, limit, arena, &msgs, &n, err) < 0) {
        return err->code;
    }
    Hourglass__ReplayResult **out = hg_arena_alloc (arena, (n ? n : 1) * sizeof (*out));
    if (!out) {
        return hg_err_set (err, HG_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        out[i] = hg_arena_alloc (arena, sizeof (**out));
        if (!out[i]) {
            return hg_err_set (err, HG_ENOMEM, "out of memory");
        }
        hourglass__replay_result__init (out[i]);
        reply->n_replayed = i + 1;
        reply->replayed = out;
        if (s_replay_one (svc, self, &msgs[i], out[i], err) < 0) {
            return err->code;
        }
    }
    reply->n_replayed = n;
    reply->replayed = out;
    return 0;
}

static int
s_control (hg_service_t *svc, void *state, const Hourglass__ControlRequest *req,
           Hourglass__ControlReply *reply, hg_arena_t *arena, hg_err_t *err)
{
    (void) state;
    switch (req->kind) {
    case HOURGLASS__CONTROL_REQUEST__KIND__OUTCOME:
        return s_outcomes (svc, req, reply, arena);
    case HOURGLASS__CONTROL_REQUEST__KIND__QUALITY:
        return s_quality (state, req, reply, arena);
    case HOURGLASS__CONTROL_REQUEST__KIND__REPLAY:
        return s_replay (svc, state, req, reply, arena, err);
    default:
        return hg_err_set (
            err, HG_EINVAL,
            "the cleanser answers HEALTH, STATS, QUARANTINE_LIST, OUTCOME, QUALITY and REPLAY");
    }
}

/* Adoption of a gone replica's store (runtime option slots): its quality
 * figures, totals and days, are added to ours, not copied over them; every
 * other key of the cleanser (quarantine, payloads, outcomes, patient links)
 * is keyed by message or Patient and is copied as it is. */
static int
s_adopt (hg_service_t *svc, void *state, const char *key, size_t klen, const char *val,
         size_t vlen, hg_store_batch_t *wb, hg_err_t *err)
{
    (void) svc;
    (void) err;
    cleanser_t *self = state;
    bool total = klen >= 2 && key[0] == 'Q' && key[1] == '\0';
    bool day = klen >= 3 && memcmp (key, "Qd\0", 3) == 0;
    if (!total && !day) {
        return 0;
    }
    /* Q\0<partner> or Qd\0<partner>\0<day> */
    const char *name = key + (total ? 2 : 3);
    size_t name_len = day ? strnlen (name, klen - 3) : klen - 2;
    char partner[192];
    snprintf (partner, sizeof (partner), "%.*s", (int) name_len, name);
    if (hg_quality_merge (self->quality, (const uint8_t *) val, vlen) < 0) {
        hg_warn ("adopt_quality_undecodable", "bytes=%zu", vlen);
        return 1; /* figures only: not worth stopping the adoption for */
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    if (total) {
        len = hg_quality_pack (self->quality, partner, &buf);
    }
    else if (klen == 3 + name_len + 1 + 8) {
        char hex[9];
        memcpy (hex, key + klen - 8, 8);
        hex[8] = '\0';
        len = hg_quality_pack_day (self->quality, partner, (uint32_t) strtoul (hex, NULL, 16),
                                   &buf);
    }
    if (len) {
        hg_store_batch_put (wb, key, klen, buf, len);
    }
    free (buf);
    return 1;
}

static const hg_service_def_t s_def = {
    .name = "cleanser",
    .summary = "parses partner payloads into canonical records; quarantines invalid ones",
    .base_port = 5560,
    .upstream_base_port = 5550,
    .options = s_options,
    .consumes = true,
    .produces = true,
    .init = s_init,
    .process = s_process,
    .control = s_control,
    .adopt = s_adopt,
    .destroy = s_destroy,
};

int
main (int argc, char **argv)
{
    return hg_service_main (&s_def, argc, argv);
}
