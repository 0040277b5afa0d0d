/*
 * consume.c -- a round of deliveries: filter duplicates (the "s/<marker>"
 * de-dup markers of earlier commits, and repeats within the round), process
 * the new ones, mark them, commit. See service_internal.h.
 */
#include <stdlib.h>
#include <string.h>

#include "service_internal.h"
#include "util.h"

#define S_MARKER_MAX 1024

/* One delivery's de-dup marker key, "s/<id>"; len 0 when the delivery did
 * not decode or its id does not fit (it is then never marked). */
typedef struct {
    char key[S_MARKER_MAX];
    size_t len;
} s_marker_t;

/* Writes the marker of env into m: "s/" and the service's marker id
 * (hg_service_def_t.marker_id), else the envelope's id. */
static int
s_marker (hg_service_t *self, const Hourglass__Envelope *env, s_marker_t *m, hg_err_t *err)
{
    m->len = 0;
    if (!env) {
        return 0;
    }
    m->key[0] = 's';
    m->key[1] = '/';
    if (self->def->marker_id) {
        if (self->def->marker_id (self, self->state, env, m->key + 2, sizeof (m->key) - 2, err)
            < 0) {
            return err->code ? err->code : HG_EINVAL;
        }
    }
    else {
        size_t n = strlen (env->id);
        if (n + 2 >= sizeof (m->key)) {
            return 0;
        }
        memcpy (m->key + 2, env->id, n + 1);
    }
    m->len = 2 + strlen (m->key + 2);
    return 0;
}

/* Whether each delivery's message was committed before (its marker is in
 * the store): seen[i] for d[i], one look-up per delivery. The store has no
 * multi-key read yet; a MultiGet here (hg_store_exists_many, see
 * docs/performance.md) would read the round's markers in one call. */
static void
s_markers_committed (hg_service_t *self, const s_marker_t *m, size_t n, bool *seen)
{
    for (size_t i = 0; i < n; i++) {
        seen[i] = m[i].len && hg_store_exists (self->store, m[i].key, m[i].len);
    }
}

/* A delivery of a message already kept this round (the same message from
 * two upstream instances, or redelivered within the round): the same
 * marker as one of the kept deliveries (kidx: their indexes in m). */
static bool
s_seen_in_round (const s_marker_t *m, const size_t *kidx, size_t n_kept, const s_marker_t *mi)
{
    for (size_t i = 0; mi->len && i < n_kept; i++) {
        const s_marker_t *k = &m[kidx[i]];
        if (k->len == mi->len && memcmp (k->key, mi->key, mi->len) == 0) {
            return true;
        }
    }
    return false;
}

/* Splits d into keep (new, decodable) and drop (the rest, still to be
 * acknowledged); kidx[j] is the index in d (and m) of keep[j]. */
static void
s_sort (hg_service_t *self, hg_delivery_t *d, size_t n, const s_marker_t *m,
        const bool *committed, hg_delivery_t *keep, size_t *kidx, size_t *k, hg_delivery_t *drop,
        size_t *dn)
{
    for (size_t i = 0; i < n; i++) {
        if (!d[i].env) {
            (*hg_service_counter (self, "undecodable"))++;
            drop[(*dn)++] = d[i];
        }
        else if (committed[i] || s_seen_in_round (m, kidx, *k, &m[i])) {
            (*hg_service_counter (self, "duplicates"))++;
            drop[(*dn)++] = d[i];
        }
        else {
            kidx[*k] = i;
            keep[(*k)++] = d[i];
        }
    }
}

int
hg_service_consume (hg_service_t *self, hg_delivery_t *d, size_t n, hg_store_batch_t *wb,
                    hg_err_t *err)
{
    /* move new, decodable deliveries to the front; keep the rest for the ack */
    hg_delivery_t *keep = malloc (n * sizeof (*keep));
    hg_delivery_t *drop = malloc (n * sizeof (*drop));
    bool *committed = malloc (n * sizeof (*committed));
    size_t *kidx = malloc (n * sizeof (*kidx));
    s_marker_t *m = malloc (n * sizeof (*m)); /* every delivery's marker */
    int rc = 0;
    if (!keep || !drop || !committed || !kidx || !m) {
        rc = hg_err_set (err, HG_ENOMEM, "out of memory");
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = s_marker (self, d[i].env, &m[i], err);
    }
    size_t k = 0, dn = 0;
    if (rc == 0) {
        s_markers_committed (self, m, n, committed);
        s_sort (self, d, n, m, committed, keep, kidx, &k, drop, &dn);
    }
    if (rc == 0 && k) {
        *hg_service_counter (self, "received") += k;
        uint64_t t0 = hg_now_us ();
        rc = self->def->process (self, self->state, keep, k, wb, err);
        *hg_service_counter (self, "process_us") += hg_now_us () - t0;
        for (size_t i = 0; rc == 0 && i < k; i++) {
            const s_marker_t *mk = &m[kidx[i]];
            if (mk->len) {
                hg_store_batch_put (wb, mk->key, mk->len, "", 0);
            }
        }
    }
    if (rc == 0) {
        rc = hg_service_commit (self, wb, err);
    }
    if (rc == 0) {
        memcpy (d, keep, k * sizeof (*d));
        memcpy (d + k, drop, dn * sizeof (*d));
    }
    free (keep);
    free (drop);
    free (committed);
    free (kidx);
    free (m);
    return rc;
}
