/*
 * hourglass-deid -- de-identifies canonical records under the policy in
 * policy.h (keyed pseudonyms, per-patient date shifting, generalisation,
 * removal of names, addresses, telecom and identifiers, free text scrubbed
 * by scrub.h) and routes them to the indexer shard of their pseudonymous
 * patient.
 *
 * Nothing identifying is ever written to this service's store: a record
 * that cannot be de-identified is counted and described by its reason and
 * position only, never by its content; and no upstream id either: its
 * de-dup markers, quarantine entries and envelope ids carry the message's
 * pseudonym (hg_deid_message_id), its logs the id's fingerprint.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "date.h"
#include "log.h"
#include "policy.h"
#include "pseudonym.h"
#include "quarantine.h"
#include "record.h"
#include "scrub.h"
#include "scrub_lexicon.h"
#include "service.h"
#include "util.h"

#define HG_DEID_MAX_SHARDS 64

static const hg_opt_t s_options[] = {
    {"key_file", HG_OPT_STRING, "./var/deid.key",
     "pseudonym key (32 bytes, mode 0600); created on first start; share it between "
     "deid instances"},
    {"indexer_shards", HG_OPT_INT, "1", "number of indexer shards to route to"},
    {"scrub_text", HG_OPT_BOOL, "true",
     "keep free text (notes, comments, text results) scrubbed of PHI (docs/scrubber.md); "
     "false removes it"},
    {"scrub_lexicons", HG_OPT_STRING, "",
     "per-deployment lexicon files of the scrubber, comma-separated ('TYPE PHRASE' lines: "
     "facility names, ward codes, staff directory; default type LOCATION); SIGHUP re-reads "
     "them (a file that fails keeps the lexicons in force)"},
    {"scrub_names", HG_OPT_STRING, "tag",
     "names in free text become 'tag' ([NAME]) or 'surrogate' (a name chosen per patient "
     "with a key derived from key_file)"},
    {NULL, 0, NULL, NULL},
};

/* The patients of one message and the values identifying each (its
 * records' patient reference, identifiers, names, address, telecom), for the
 * scrubber: gathered before any record of the message is de-identified. */
typedef struct {
    const char *ref; /* the source patient reference (the message's memory) */
    uint32_t hash;
    bool text;  /* a record of this patient has free text */
    size_t lex; /* its lexicon in deid_t.known (when text) */
} deid_patient_t;

typedef struct {
    unsigned char key[HG_DEID_KEY_BYTES];
    unsigned char surrogate_key[32]; /* derived from key: names' surrogates */
    bool surrogates;
    int shards;
    hg_deid_memos_t memos;       /* last ids hashed; cleared after every round */
    hg_arena_t *arena;           /* one message's records; reset per message */
    hg_scrub_lexicon_t *lexicon; /* per-deployment (scrub_lexicons); NULL: no scrubbing */
    hg_scrub_t *scrub;           /* NULL when scrub_text is false */
    hg_scrub_lexicon_t **known;  /* per-patient lexicons, reused from message to message */
    size_t n_known;
} deid_t;

/* A scrubber with the lexicon files of paths: 0, or <0 with err. */
static int
s_scrub_open (const char *paths, hg_scrub_lexicon_t **lex_out, hg_scrub_t **scrub_out,
              hg_err_t *err)
{
    hg_scrub_lexicon_t *lex = hg_scrub_lexicon_new ();
    hg_scrub_t *sc = NULL;
    if (!lex) {
        return hg_err_set (err, HG_ENOMEM, "out of memory");
    }
    int rc = hg_scrub_lexicon_load_list (lex, paths, HG_SCRUB_LOCATION, err);
    if (rc == 0 && !(sc = hg_scrub_new (lex))) {
        rc = hg_err_set (err, HG_ENOMEM, "out of memory");
    }
    if (rc < 0) {
        hg_scrub_lexicon_free (lex);
        return rc;
    }
    hg_scrub_set_strict (sc, true); /* the privacy boundary: unlisted words are names */
    *lex_out = lex;
    *scrub_out = sc;
    return 0;
}

static int
s_init (hg_service_t *svc, void **state, hg_err_t *err)
{
    deid_t *self = sodium_malloc (sizeof (*self));
    if (!self) {
        return hg_err_set (err, HG_ENOMEM, "out of secure memory");
    }
    memset (self, 0, sizeof (*self));
    *state = self;
    self->shards = (int) hg_config_int (hg_service_config (svc), "indexer_shards");
    if (self->shards < 1 || self->shards > HG_DEID_MAX_SHARDS) {
        return hg_err_set (err, HG_EINVAL, "indexer_shards must be 1..%d", HG_DEID_MAX_SHARDS);
    }
    const char *path = hg_service_option (svc, "key_file");
    if (hg_deid_key_load (path, true, self->key, err) < 0) {
        return err->code;
    }
    hg_info ("key_loaded", "path=%s", path);
    self->arena = hg_arena_new (0);
    if (!self->arena) {
        return hg_err_set (err, HG_ENOMEM, "out of memory");
    }
    const char *names = hg_service_option (svc, "scrub_names");
    if (strcmp (names, "tag") != 0 && strcmp (names, "surrogate") != 0) {
        return hg_err_set (err, HG_EINVAL,
                           "scrub_names must be 'tag' or 'surrogate', not '%.40s'", names);
    }
    self->surrogates = strcmp (names, "surrogate") == 0;
    crypto_generichash (self->surrogate_key, sizeof (self->surrogate_key),
                        (const unsigned char *) "hourglass scrub surrogates", 26, self->key,
                        sizeof (self->key));
    if (hg_config_bool (hg_service_config (svc), "scrub_text")) {
        const char *paths = hg_service_option (svc, "scrub_lexicons");
        if (s_scrub_open (paths, &self->lexicon, &self->scrub, err) < 0) {
            return err->code;
        }
        hg_info ("scrub_lexicons_loaded", "phrases=%zu", hg_scrub_lexicon_count (self->lexicon));
    }
    return 0;
}

/* SIGHUP: the lexicon files again. One that fails keeps the lexicons in
 * force (a typo must not stop the scrubber, nor drop the facility names). */
static void
s_reload (hg_service_t *svc, void *state)
{
    deid_t *self = state;
    if (!self->scrub) {
        return;
    }
    hg_scrub_lexicon_t *lex = NULL;
    hg_scrub_t *sc = NULL;
    hg_err_t err = {0};
    if (s_scrub_open (hg_service_option (svc, "scrub_lexicons"), &lex, &sc, &err) < 0) {
        (*hg_service_counter (svc, "scrub_lexicons_reload_failed"))++;
        hg_error ("scrub_lexicons_reload_failed", "kept=previous err=\"%s\"", err.msg);
        return;
    }
    hg_scrub_free (self->scrub);
    hg_scrub_lexicon_free (self->lexicon);
    self->scrub = sc;
    self->lexicon = lex;
    (*hg_service_counter (svc, "scrub_lexicons_reloaded"))++;
    hg_info ("scrub_lexicons_reloaded", "phrases=%zu", hg_scrub_lexicon_count (lex));
}

static void
s_destroy (void **state)
{
    deid_t *self = *state;
    hg_arena_destroy (&self->arena);
    hg_scrub_free (self->scrub);
    hg_scrub_lexicon_free (self->lexicon);
    for (size_t i = 0; i < self->n_known; i++) {
        hg_scrub_lexicon_clear (self->known[i]);
        hg_scrub_lexicon_free (self->known[i]);
    }
    free (self->known);
    sodium_free (self); /* zeroes the key and the memos */
    *state = NULL;
}

/* hg_service_def_t.marker_id: the message's pseudonym (hg_deid_message_id),
 * never the upstream id. */
static int
s_marker_id (hg_service_t *svc, void *state, const Hourglass__Envelope *env, char *out,
             size_t size, hg_err_t *err)
{
    (void) svc;
    deid_t *self = state;
    if (size < HG_PSEUDONYM_HEX + 1) {
        return hg_err_set (err, HG_EINVAL, "marker buffer of %zu bytes is too small", size);
    }
    hg_deid_message_id (self->key, env->partner, env->id, out);
    return 0;
}

/* Records a record that could not be de-identified: its message's
 * pseudonym, its position and its reason with the values withheld
 * (hg_deid_withhold_values), nothing else. The log line has the upstream
 * id's fingerprint (log.h), never the pseudonym: logs must not link the
 * two. */
static void
s_reject (hg_service_t *svc, hg_store_batch_t *wb, const Hourglass__Envelope *env,
          const char *message, size_t index, const char *reason)
{
    Hourglass__QuarantineEntry q = HOURGLASS__QUARANTINE_ENTRY__INIT;
    char location[64];
    snprintf (location, sizeof (location), "record %zu", index);
    q.message_id = (char *) message;
    q.partner = env->partner;
    q.format = env->format;
    char safe[512];
    hg_deid_withhold_values (reason, safe, sizeof (safe));
    q.location = location;
    q.reason = safe;
    q.at_us = hg_wall_us ();
    hg_quarantine_put (wb, &q, index, NULL); /* out of memory: the commit fails */
    (*hg_service_counter (svc, "rejected"))++;
    hg_warn ("record_not_deidentified", "fingerprint=%s record=%zu", HG_LOG_FP (env->id), index);
}

static uint32_t
s_hash (const char *s)
{
    uint32_t h = 0x811C9DC5u;
    for (; *s; s++) {
        h = (h ^ (unsigned char) *s) * 0x01000193u;
    }
    return h;
}

/* The lexicon of known values number i of the pool (created when new,
 * emptied when reused), NULL when out of memory. */
static hg_scrub_lexicon_t *
s_known_lexicon (deid_t *self, size_t i)
{
    if (i == self->n_known) {
        hg_scrub_lexicon_t **v = realloc (self->known, (i + 1) * sizeof (*v));
        if (!v) {
            return NULL;
        }
        self->known = v;
        if (!(v[i] = hg_scrub_lexicon_new ())) {
            return NULL;
        }
        self->n_known++;
    }
    hg_scrub_lexicon_clear (self->known[i]);
    return self->known[i];
}

/* Groups the records of a message by patient and, for each patient with
 * free text, gathers what identifies it from all its records
 * (hg_deid_known_add). *of[i]: record i's patient (-1: none). Returns the
 * patients, or NULL with *n 0 when there are no records; -1 in *n on no
 * memory. */
static deid_patient_t *
s_patients (deid_t *self, Hourglass__RecordBatch *in, long **of, size_t *n)
{
    size_t slots = 16;
    while (slots < 2 * in->n_records) {
        slots *= 2;
    }
    deid_patient_t *pt = hg_arena_alloc (self->arena, in->n_records * sizeof (*pt) + 1);
    long *table = hg_arena_alloc (self->arena, slots * sizeof (long));
    *of = hg_arena_alloc (self->arena, in->n_records * sizeof (long) + 1);
    *n = 0;
    if (!pt || !table || !*of) {
        *n = (size_t) -1;
        return NULL;
    }
    memset (table, 0xff, slots * sizeof (long));
    for (size_t i = 0; i < in->n_records; i++) {
        Hourglass__Record *r = in->records[i];
        (*of)[i] = -1;
        if (!r || hg_str_empty (r->patient_ref)) {
            continue;
        }
        uint32_t h = s_hash (r->patient_ref);
        size_t k = h & (slots - 1);
        while (table[k] >= 0
               && !(pt[table[k]].hash == h && strcmp (pt[table[k]].ref, r->patient_ref) == 0)) {
            k = (k + 1) & (slots - 1);
        }
        if (table[k] < 0) {
            table[k] = (long) (*n)++;
            pt[table[k]] = (deid_patient_t) {.ref = r->patient_ref, .hash = h};
        }
        (*of)[i] = table[k];
        pt[table[k]].text |= !hg_str_empty (r->text)
                             || (r->value_case == HOURGLASS__RECORD__VALUE_STRING_VALUE
                                 && !hg_str_empty (r->string_value));
    }
    size_t used = 0;
    for (size_t p = 0; p < *n; p++) {
        if (pt[p].text) {
            pt[p].lex = used++;
            if (!s_known_lexicon (self, pt[p].lex)) {
                *n = (size_t) -1;
                return NULL;
            }
        }
    }
    for (size_t i = 0; i < in->n_records; i++) {
        long p = (*of)[i];
        if (p >= 0 && pt[p].text
            && hg_deid_known_add (self->known[pt[p].lex], in->records[i]) < 0) {
            *n = (size_t) -1;
            return NULL;
        }
    }
    return pt;
}

static int
s_process_one (hg_service_t *svc, deid_t *self, const Hourglass__Envelope *env,
               hg_store_batch_t *wb, int64_t today, hg_err_t *err)
{
    char message[HG_PSEUDONYM_HEX + 1];
    hg_deid_message_id (self->key, env->partner, env->id, message);
    if (env->payload_type != HOURGLASS__PAYLOAD_TYPE__PAYLOAD_RECORDS) {
        s_reject (svc, wb, env, message, 0, "envelope does not carry canonical records");
        return 0;
    }
    hg_arena_t *arena = self->arena;
    hg_arena_reset (arena);
    ProtobufCAllocator alloc;
    hg_arena_protobuf_allocator (arena, &alloc);
    Hourglass__RecordBatch *in = hourglass__record_batch__unpack (&alloc, env->payload.len,
                                                                  env->payload.data);
    int rc = 0;
    if (!in) {
        s_reject (svc, wb, env, message, 0, "record batch is undecodable");
        goto cleanup;
    }
    /* de-identify, then group by shard */
    Hourglass__Record **by_shard[HG_DEID_MAX_SHARDS] = {0};
    size_t n_by_shard[HG_DEID_MAX_SHARDS] = {0};
    hg_deid_text_stats_t text = {0, 0};
    hg_deid_ctx_t ctx = {.key = self->key,
                         .today_days = today,
                         .memos = &self->memos,
                         .scrub = self->scrub,
                         .surrogate_key = self->surrogates ? self->surrogate_key : NULL,
                         .text_stats = &text};
    uint64_t *deidentified = hg_service_counter (svc, "deidentified");
    long *of = NULL;
    size_t n_patients = 0;
    deid_patient_t *patients = self->scrub ? s_patients (self, in, &of, &n_patients) : NULL;
    if (n_patients == (size_t) -1) {
        rc = hg_err_set (err, HG_ENOMEM, "out of memory gathering the message's patients");
        goto cleanup;
    }
    for (size_t i = 0; i < in->n_records; i++) {
        Hourglass__Record *r = in->records[i];
        hg_err_t rerr = {0};
        long p = of ? of[i] : -1;
        ctx.known = p >= 0 && patients[p].text ? self->known[patients[p].lex] : NULL;
        if (hg_deid_record (&ctx, arena, r, &rerr) < 0) {
            s_reject (svc, wb, env, message, i, rerr.msg);
            continue;
        }
        int s = hg_shard_of (r->patient_ref, self->shards);
        if (!by_shard[s]) {
            by_shard[s] = hg_arena_alloc (arena, in->n_records * sizeof (Hourglass__Record *));
        }
        by_shard[s][n_by_shard[s]++] = r;
        (*deidentified)++;
    }
    *hg_service_counter (svc, "text_scrubbed") += text.scrubbed;
    *hg_service_counter (svc, "text_dropped") += text.dropped;
    for (size_t p = 0; p < n_patients; p++) {
        if (patients[p].text) {
            hg_scrub_lexicon_clear (self->known[patients[p].lex]); /* no PHI kept past it */
        }
    }
    for (int s = 0; s < self->shards; s++) {
        if (!n_by_shard[s]) {
            continue;
        }
        char id[HG_PSEUDONYM_HEX + 16];
        snprintf (id, sizeof (id), "%s#%d", message, s);
        if ((rc = hg_service_emit_records (svc, wb, env, id, s, by_shard[s], n_by_shard[s], err))
            < 0) {
            goto cleanup;
        }
    }
cleanup:
    /* in lives in the arena, reset by the next message */
    return rc;
}

static int
s_process (hg_service_t *svc, void *state, hg_delivery_t *d, size_t n, hg_store_batch_t *wb,
           hg_err_t *err)
{
    deid_t *self = state;
    int64_t today = (int64_t) (hg_wall_us () / 1000000u / 86400u);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = s_process_one (svc, self, d[i].env, wb, today, err);
    }
    /* source ids stay no longer than their round; the records' memory is
     * reused by the next round */
    hg_deid_memo_clear (&self->memos);
    return rc < 0 ? err->code : 0;
}

static const hg_service_def_t s_def = {
    .name = "deid",
    .summary = "de-identifies records and routes them to their indexer shard",
    .base_port = 5570,
    .upstream_base_port = 5560,
    .options = s_options,
    .consumes = true,
    .produces = true,
    .init = s_init,
    .marker_id = s_marker_id,
    .process = s_process,
    .reload = s_reload,
    .destroy = s_destroy,
};

int
main (int argc, char **argv)
{
    return hg_service_main (&s_def, argc, argv);
}
