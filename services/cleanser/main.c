/*
 * hourglass-cleanser -- parses partner payloads into canonical records,
 * quarantines what is invalid with a reason a person can act on.
 *
 * Per message, in the same commit as its de-dup marker:
 *   outbox  one envelope with the packed RecordBatch (when it has records)
 *   q/<message id>\0<nnnn>   QuarantineEntry per reject (location, reason, excerpt)
 *   p/<message id>           the whole rejected payload, so nothing is lost
 *   r/<message id>           Outcome: records produced, quarantined, first reason
 *   L\0<partner>\0<FHIR Patient id>   the patient's identifier (the id HL7 v2
 *                            uses), for FHIR records of later payloads that
 *                            reference the Patient by id (see s_link_patients)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "fhir.h"
#include "formats.h"
#include "log.h"
#include "normalize.h"
#include "quality.h"
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

/* A link written in the current round, not committed yet (the store does
 * not show it before the round's write batch is committed). */
typedef struct {
    char *key;                    /* "L\0<partner>\0<FHIR Patient id>" (malloc'd) */
    size_t klen;
    char *value;                  /* the patient's identifier (malloc'd) */
} s_pending_link_t;

typedef struct {
    hg_parse_limits_t limits;
    const char *csv_mappings;     /* directory of <partner>.map files */
    hg_quality_t *quality;        /* per-partner data-quality figures ("Q\0<partner>") */
    s_pending_link_t *pending;    /* links written this round */
    size_t n_pending, cap_pending;
    size_t *slots;                /* hash index of pending: 1 + index, 0 free */
    size_t n_slots;               /* a power of two, or 0 */
    hg_batch_t *batch;            /* reused for every payload of the usual size (its
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
    if (!self->quality) {
        return hg_err_set (err, HG_ENOMEM, "out of memory");
    }
    hg_store_iter_t *it = hg_store_iter_new (hg_service_store (svc), "Q\0", 2, NULL, 0);
    const char *k, *v;
    size_t kl, vl;
    while (hg_store_iter_next (it, &k, &kl, &v, &vl)) {
        hg_quality_load (self->quality, (const uint8_t *) v, vl);
    }
    hg_store_iter_destroy (&it);
    return 0;
}

static void
s_pending_clear (cleanser_t *self)
{
    for (size_t i = 0; i < self->n_pending; i++) {
        free (self->pending[i].key);
        free (self->pending[i].value);
    }
    self->n_pending = 0;
    if (self->slots) {
        memset (self->slots, 0, self->n_slots * sizeof (*self->slots));
    }
}

static void
s_destroy (void **state)
{
    cleanser_t *self = *state;
    s_pending_clear (self);
    free (self->pending);
    free (self->slots);
    hg_batch_destroy (&self->batch);
    hg_quality_destroy (&self->quality);
    free (*state);
    *state = NULL;
}

/* Parses one payload with the parser of its type (formats.c). */
static void
s_parse (cleanser_t *self, const Hourglass__Envelope *env, hg_batch_t *batch)
{
    hg_parse_ctx_t ctx = {.limits = self->limits, .partner = env->partner,
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
        size_t len = hourglass__quarantine_entry__get_packed_size (&q);
        uint8_t *buf = malloc (len ? len : 1);
        hourglass__quarantine_entry__pack (&q, buf);
        char key[620];
        int kl = snprintf (key, sizeof (key), "q/%s%c%06zu", env->id, '\0', i);
        hg_store_batch_put (wb, key, (size_t) kl, buf, len);
        free (buf);
        hg_info ("quarantined", "message=%s location=\"%s\"", env->id, rj[i].location);
    }
}

/* ------------------------------------------------------------------------
 * Patient link table.
 *
 * The FHIR parser links a record to its patient's identifier when the
 * Patient is in the same payload (fhir.h); a bulk export sends Patient.ndjson
 * and Observation.ndjson as separate payloads. So every linked FHIR Patient
 * is remembered, per partner, as L\0<partner>\0<Patient id> -> identifier,
 * in the write batch of its message; records of later payloads still
 * flagged "patient.unlinked" are looked up there. Limits: each cleanser
 * instance has its own table (with several instances, a Patient and its
 * Observations must reach the same one to be linked), and records that
 * arrived before their Patient are not re-linked afterwards. */

/* Store key of a link into key (size bytes); 0 when it does not fit. */
static size_t
s_link_key (const char *partner, const char *patient_id, char *key, size_t size)
{
    int n = snprintf (key, size, "L%c%s%c%s", '\0', partner, '\0', patient_id);
    return n > 0 && (size_t) n < size ? (size_t) n : 0;
}

static size_t
s_key_hash (const char *key, size_t klen)
{
    uint64_t h = 1469598103934665603u;    /* FNV-1a */
    for (size_t i = 0; i < klen; i++) {
        h = (h ^ (unsigned char) key[i]) * 1099511628211u;
    }
    return (size_t) h;
}

/* Slot of key in the pending index: the one holding it, else the free one
 * where it goes. n_slots must be > 0. */
static size_t *
s_pending_slot (const cleanser_t *self, const char *key, size_t klen)
{
    size_t mask = self->n_slots - 1;
    for (size_t i = s_key_hash (key, klen) & mask;; i = (i + 1) & mask) {
        size_t v = self->slots[i];
        if (v == 0 || (self->pending[v - 1].klen == klen
                       && memcmp (self->pending[v - 1].key, key, klen) == 0)) {
            return &self->slots[i];
        }
    }
}

/* The identifier of a link written earlier this round, or NULL. */
static const char *
s_pending_get (const cleanser_t *self, const char *key, size_t klen)
{
    if (self->n_slots == 0) {
        return NULL;
    }
    size_t v = *s_pending_slot (self, key, klen);
    return v ? self->pending[v - 1].value : NULL;
}

/* Records a link written this round (a later one of the same key replaces
 * it). HG_ENOMEM. */
static int
s_pending_add (cleanser_t *self, const char *key, size_t klen, const char *value)
{
    char *v = strdup (value);
    if (!v) {
        return HG_ENOMEM;
    }
    if ((self->n_pending + 1) * 2 > self->n_slots) {
        size_t n_slots = self->n_slots ? self->n_slots * 2 : 256;
        size_t *slots = calloc (n_slots, sizeof (*slots));
        if (!slots) {
            free (v);
            return HG_ENOMEM;
        }
        free (self->slots);
        self->slots = slots;
        self->n_slots = n_slots;
        for (size_t i = 0; i < self->n_pending; i++) {
            *s_pending_slot (self, self->pending[i].key, self->pending[i].klen) = i + 1;
        }
    }
    size_t *slot = s_pending_slot (self, key, klen);
    if (*slot) {
        free (self->pending[*slot - 1].value);
        self->pending[*slot - 1].value = v;
        return 0;
    }
    if (self->n_pending == self->cap_pending) {
        size_t cap = self->cap_pending ? self->cap_pending * 2 : 64;
        s_pending_link_t *p = realloc (self->pending, cap * sizeof (*p));
        if (!p) {
            free (v);
            return HG_ENOMEM;
        }
        self->pending = p;
        self->cap_pending = cap;
    }
    s_pending_link_t *l = &self->pending[self->n_pending];
    l->key = malloc (klen);
    if (!l->key) {
        free (v);
        return HG_ENOMEM;
    }
    memcpy (l->key, key, klen);
    l->klen = klen;
    l->value = v;
    *slot = ++self->n_pending;
    return 0;
}

/* Writes a link for every FHIR Patient of the payload that the parser
 * linked to an identifier, then links the payload's records still flagged
 * unlinked through the table. *relinked counts the records linked here. */
static int
s_link_patients (hg_service_t *svc, cleanser_t *self, const Hourglass__Envelope *env,
                 hg_arena_t *a, Hourglass__Record **recs, size_t n, hg_store_batch_t *wb,
                 size_t *relinked, hg_err_t *err)
{
    char key[1024];
    size_t klen;
    for (size_t i = 0; i < n; i++) {
        const Hourglass__Record *r = recs[i];
        const char *src = r->provenance ? r->provenance->source_record_id : "";
        if (r->kind != HOURGLASS__RECORD_KIND__KIND_DEMOGRAPHICS
            || hg_fhir_record_unlinked (r) || strncmp (src, "Patient/", 8) != 0
            || hg_str_empty (r->patient_ref)) {
            continue;
        }
        /* the parser caps the id in source_record_id at 80 characters:
         * longer ids (not valid FHIR, which allows 64) are not linked */
        klen = strlen (src + 8) < 80 ? s_link_key (env->partner, src + 8, key, sizeof (key))
                                     : 0;
        if (klen == 0) {
            continue;
        }
        const char *known = s_pending_get (self, key, klen);
        if (known && strcmp (known, r->patient_ref) == 0) {
            continue;
        }
        hg_store_batch_put (wb, key, klen, r->patient_ref, strlen (r->patient_ref));
        if (s_pending_add (self, key, klen, r->patient_ref) < 0) {
            return hg_err_set (err, HG_ENOMEM, "out of memory");
        }
    }
    for (size_t i = 0; i < n; i++) {
        Hourglass__Record *r = recs[i];
        if (!hg_fhir_record_unlinked (r)
            || !(klen = s_link_key (env->partner, r->patient_ref, key, sizeof (key)))) {
            continue;
        }
        const char *pending = s_pending_get (self, key, klen);
        char *stored = NULL;
        size_t slen = 0;
        if (!pending
            && hg_store_get (hg_service_store (svc), key, klen, &stored, &slen, NULL) < 0) {
            continue;
        }
        char *id = pending ? hg_arena_strdup (a, pending)
                           : hg_arena_strndup (a, stored, slen);
        free (stored);
        if (!id) {
            return hg_err_set (err, HG_ENOMEM, "out of memory");
        }
        r->patient_ref = id;
        r->flags = NULL;       /* the parser's only flag is "patient.unlinked" */
        r->n_flags = 0;
        (*relinked)++;
    }
    return 0;
}

static int
s_process_one (hg_service_t *svc, cleanser_t *self, const Hourglass__Envelope *env,
               hg_store_batch_t *wb, hg_err_t *err)
{
    hg_batch_t *batch;
    if (env->payload.len <= S_REUSED_PAYLOAD_MAX) {
        if (!self->batch) {
            self->batch = hg_batch_new (S_REUSED_ARENA_LIMIT);
        }
        batch = self->batch;    /* reset after its previous payload */
    }
    else {
        size_t limit = env->payload.len * 16;
        limit = limit > (1u << 30) ? (1u << 30) : limit;
        batch = hg_batch_new (limit);
    }
    if (!batch) {
        return hg_err_set (err, HG_ENOMEM, "out of memory");
    }
    s_parse (self, env, batch);
    hg_arena_t *a = hg_batch_arena (batch);
    size_t n = hg_batch_record_count (batch);
    Hourglass__Record **recs = hg_batch_records (batch);
    int rc = 0;
    size_t relinked = 0, unlinked = 0;
    if (env->payload_type == HOURGLASS__PAYLOAD_TYPE__PAYLOAD_FHIR
        && (rc = s_link_patients (svc, self, env, a, recs, n, wb, &relinked, err)) < 0) {
        goto cleanup;
    }
    hg_norm_ctx_t nctx = {.today_days = (int64_t) (hg_wall_us () / 1000000u / 86400u)};
    const char *flag_codes[1024];
    size_t n_flag_codes = 0, flagged = 0;
    /* the payload's demographics records, to check dates against birth and
     * death: looked up per record among those only, with the last match
     * cached (a patient's records usually follow each other) */
    Hourglass__Record **demo = hg_arena_alloc (a, (n ? n : 1) * sizeof (*demo));
    size_t n_demo = 0;
    for (size_t i = 0; demo && i < n; i++) {
        if (recs[i]->demographics) {
            demo[n_demo++] = recs[i];
        }
    }
    const Hourglass__Record *last_demo = NULL;
    for (size_t i = 0; i < n; i++) {
        Hourglass__Record *r = recs[i];
        /* validate codes, convert units, check plausibility against the patient's
         * birth and death when this payload carries them; flags are kept as codes on
         * the record (their messages quote values, so they are not stored) */
        if (!last_demo || strcmp (last_demo->patient_ref, r->patient_ref) != 0) {
            last_demo = NULL;
            for (size_t j = 0; j < n_demo && !last_demo; j++) {
                if (strcmp (demo[j]->patient_ref, r->patient_ref) == 0) {
                    last_demo = demo[j];
                }
            }
        }
        const char *birth = last_demo ? last_demo->demographics->birth_date : NULL;
        const char *death = last_demo ? last_demo->demographics->deceased_date : NULL;
        hg_flag_t flags[HG_NORM_MAX_FLAGS];
        int nf = hg_normalize_record (&nctx, a, r, birth, death, flags, HG_NORM_MAX_FLAGS);
        if (nf < 0) {
            rc = hg_err_set (err, HG_ENOMEM, "out of memory normalising a record");
            goto cleanup;
        }
        unlinked += hg_fhir_record_unlinked (r);
        if (nf > 0) {
            /* after the parser's flags ("patient.unlinked", a data-quality
             * flag: not counted in plausibility) */
            flagged++;
            char **all = hg_arena_alloc (a, (r->n_flags + (size_t) nf) * sizeof (char *));
            if (!all) {
                rc = hg_err_set (err, HG_ENOMEM, "out of memory");
                goto cleanup;
            }
            if (r->n_flags) {
                memcpy (all, r->flags, r->n_flags * sizeof (char *));
            }
            r->flags = all;
            for (int f = 0; f < nf; f++) {
                r->flags[r->n_flags++] = (char *) flags[f].code;
                if (n_flag_codes < sizeof (flag_codes) / sizeof (flag_codes[0])) {
                    flag_codes[n_flag_codes++] = flags[f].code;
                }
            }
        }
        if (!r->provenance) {
            r->provenance = hg_provenance_new (a);
        }
        if (!r->provenance) {
            rc = hg_err_set (err, HG_ENOMEM, "out of memory");
            goto cleanup;
        }
        r->provenance->partner = env->partner;
        r->provenance->source_message_id = env->id;
        if (!*r->provenance->source_format) {
            r->provenance->source_format = env->format;
        }
        if (hg_record_set_content_key (a, r) < 0) {
            rc = hg_err_set (err, HG_ENOMEM, "out of memory");
            goto cleanup;
        }
    }
    if (n > 0) {
        Hourglass__RecordBatch rb = HOURGLASS__RECORD_BATCH__INIT;
        rb.n_records = n;
        rb.records = recs;
        size_t len = hourglass__record_batch__get_packed_size (&rb);
        uint8_t *buf = malloc (len ? len : 1);
        if (!buf) {
            rc = hg_err_set (err, HG_ENOMEM, "out of memory");
            goto cleanup;
        }
        hourglass__record_batch__pack (&rb, buf);
        Hourglass__Envelope out = HOURGLASS__ENVELOPE__INIT;
        out.id = env->id;
        out.partner = env->partner;
        out.format = env->format;
        out.payload_type = HOURGLASS__PAYLOAD_TYPE__PAYLOAD_RECORDS;
        out.payload.data = buf;
        out.payload.len = len;
        out.shard = -1;
        out.record_count = (uint32_t) n;
        rc = hg_service_emit (svc, wb, &out, env, err);
        free (buf);
        if (rc < 0) {
            goto cleanup;
        }
    }
    size_t nq = hg_batch_reject_count (batch);
    if (nq > 0) {
        s_quarantine (svc, env, batch, wb);
    }
    Hourglass__Outcome oc = HOURGLASS__OUTCOME__INIT;
    oc.message_id = env->id;
    oc.records = (uint32_t) n;
    oc.quarantined = (uint32_t) nq;
    oc.first_reason = nq ? hg_batch_rejects (batch)[0].reason : (char *) "";
    size_t olen = hourglass__outcome__get_packed_size (&oc);
    uint8_t *obuf = malloc (olen ? olen : 1);
    hourglass__outcome__pack (&oc, obuf);
    char key[600];
    int kl = snprintf (key, sizeof (key), "r/%s", env->id);
    hg_store_batch_put (wb, key, (size_t) kl, obuf, olen);
    free (obuf);
    /* data quality of the partner, committed with the message's results */
    hg_quality_message (self->quality, env->partner, env->id, recs, n, hg_batch_rejects (batch),
                        nq, hg_batch_ignored (batch), flag_codes, n_flag_codes, flagged);
    *hg_service_counter (svc, "flagged") += flagged;
    *hg_service_counter (svc, "patient_relinked") += relinked;
    *hg_service_counter (svc, "patient_unlinked") += unlinked;
    uint8_t *qbuf = NULL;
    size_t qlen = hg_quality_pack (self->quality, env->partner, &qbuf);
    if (qlen) {
        char qkey[200];
        int qkl = snprintf (qkey, sizeof (qkey), "Q%c%.190s", '\0', env->partner);
        hg_store_batch_put (wb, qkey, (size_t) qkl, qbuf, qlen);
    }
    free (qbuf);
    *hg_service_counter (svc, "parsed") += n;
    *hg_service_counter (svc, "quarantined") += nq;
    *hg_service_counter (svc, "ignored") += hg_batch_ignored (batch);
cleanup:
    if (batch == self->batch) {
        hg_batch_reset (batch);    /* keeps the arena's blocks for the next payload */
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
    /* the previous round's links are committed (or it failed and the
     * process exited): the store has them now */
    s_pending_clear (state);
    for (size_t i = 0; i < n; i++) {
        if (s_process_one (svc, state, d[i].env, wb, err) < 0) {
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
        size_t len = hg_quality_pack (self->quality, names[i], &buf);
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
    default:
        return hg_err_set (err, HG_EINVAL,
                           "the cleanser answers HEALTH, STATS, QUARANTINE_LIST, OUTCOME and QUALITY");
    }
}

/* Adoption of a gone replica's store (runtime option slots): its quality
 * figures are added to ours, not copied over them; every other key of the
 * cleanser (quarantine, payloads, outcomes, patient links) is keyed by
 * message or Patient and is copied as it is. */
static int
s_adopt (hg_service_t *svc, void *state, const char *key, size_t klen, const char *val,
         size_t vlen, hg_store_batch_t *wb, hg_err_t *err)
{
    (void) svc;
    cleanser_t *self = state;
    if (klen < 2 || key[0] != 'Q' || key[1] != '\0') {
        return 0;
    }
    char partner[192];
    snprintf (partner, sizeof (partner), "%.*s", (int) (klen - 2), key + 2);
    if (hg_quality_merge (self->quality, (const uint8_t *) val, vlen) < 0) {
        hg_warn ("adopt_quality_undecodable", "partner=%s bytes=%zu", partner, vlen);
        return 1;    /* figures only: not worth stopping the adoption for */
    }
    uint8_t *buf = NULL;
    size_t len = hg_quality_pack (self->quality, partner, &buf);
    if (len) {
        hg_store_batch_put (wb, key, klen, buf, len);
    }
    free (buf);
    (void) err;
    return 1;
}

static const hg_service_def_t s_def = {
    .name = "cleanser",
    .summary = "parses partner payloads into canonical records; quarantines invalid ones",
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
