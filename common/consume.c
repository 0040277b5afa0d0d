/*
 * consume.c -- a round of deliveries: filter duplicates (the "s/<message
 * id>" de-dup markers of earlier commits, and repeats within the round),
 * process the new ones, mark them, commit. See service_internal.h.
 */
#include <stdlib.h>
#include <string.h>

#include "service_internal.h"
#include "util.h"

/* Writes "s/<id>" (the de-dup marker's key) into key (size bytes); its
 * length, or 0 when it does not fit. */
static size_t
s_marker_key (const char *id, char *key, size_t size)
{
    size_t n = strlen (id);
    if (n + 2 >= size) {
        return 0;
    }
    key[0] = 's';
    key[1] = '/';
    memcpy (key + 2, id, n + 1);
    return n + 2;
}

/* Whether each delivery's message was committed before (its marker is in
 * the store): seen[i] for d[i], one look-up per delivery. The store has no
 * multi-key read yet; a MultiGet here (hg_store_exists_many, see
 * docs/performance.md) would read the round's markers in one call. */
static void
s_markers_committed (hg_service_t *self, const hg_delivery_t *d, size_t n, bool *seen)
{
    for (size_t i = 0; i < n; i++) {
        char key[1024];
        size_t kl = d[i].env ? s_marker_key (d[i].env->id, key, sizeof (key)) : 0;
        seen[i] = kl && hg_store_exists (self->store, key, kl);
    }
}

/* A delivery of a message already kept this round (the same message from
 * two upstream instances, or redelivered within the round). */
static bool
s_seen_in_round (const hg_delivery_t *keep, size_t kept, const char *id)
{
    for (size_t i = 0; i < kept; i++) {
        if (strcmp (keep[i].env->id, id) == 0) {
            return true;
        }
    }
    return false;
}

int
hg_service_consume (hg_service_t *self, hg_delivery_t *d, size_t n, hg_store_batch_t *wb,
                    hg_err_t *err)
{
    /* move new, decodable deliveries to the front; keep the rest for the ack */
    hg_delivery_t *keep = malloc (n * sizeof (*keep));
    hg_delivery_t *drop = malloc (n * sizeof (*drop));
    bool *committed = malloc (n * sizeof (*committed));
    if (!keep || !drop || !committed) {
        free (keep);
        free (drop);
        free (committed);
        return hg_err_set (err, HG_ENOMEM, "out of memory");
    }
    s_markers_committed (self, d, n, committed);
    size_t k = 0, dn = 0;
    for (size_t i = 0; i < n; i++) {
        if (!d[i].env) {
            (*hg_service_counter (self, "undecodable"))++;
            drop[dn++] = d[i];
        }
        else if (committed[i] || s_seen_in_round (keep, k, d[i].env->id)) {
            (*hg_service_counter (self, "duplicates"))++;
            drop[dn++] = d[i];
        }
        else {
            keep[k++] = d[i];
        }
    }
    int rc = 0;
    if (k) {
        *hg_service_counter (self, "received") += k;
        uint64_t t0 = hg_now_us ();
        rc = self->def->process (self, self->state, keep, k, wb, err);
        *hg_service_counter (self, "process_us") += hg_now_us () - t0;
        for (size_t i = 0; rc == 0 && i < k; i++) {
            char key[1024];
            size_t kl = s_marker_key (keep[i].env->id, key, sizeof (key));
            if (kl) {
                hg_store_batch_put (wb, key, kl, "", 0);
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
    return rc;
}
