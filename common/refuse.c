/*
 * refuse.c -- a service whose disk is full: it refuses work instead of
 * aborting, and resumes by itself once space is freed. See
 * service_internal.h (hg_service_refuse) and docs/operations.md, "Disk full".
 *
 * Why nothing is lost or counted twice: the failed commit wrote nothing (a
 * write batch is atomic), so the store still holds exactly what was
 * acknowledged; what the round changed in memory is undone (outbox entries
 * not offered, counters reloaded, the service's state rebuilt from the store
 * at recovery); the round's deliveries are not acknowledged, so their
 * upstream hands them out again after the link is dropped, and the de-dup
 * markers make the redelivery exact.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "service_internal.h"
#include "util.h"

/* How often a refusing service looks at its free space. */
#define HG_RECOVER_EVERY_MS 1000

void
hg_service_drop_deliveries (hg_delivery_t *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (d[i].env) {
            hourglass__envelope__free_unpacked (d[i].env, NULL);
            d[i].env = NULL;
        }
    }
}

void
hg_service_refuse (hg_service_t *self, const hg_err_t *err)
{
    self->n_emitted = 0; /* not written: never offered downstream */
    hg_counters_reset (self->counters);
    hg_counters_load (self->counters, self->store);
    if (self->refusing) {
        return;
    }
    self->refusing = true;
    self->refusing_since_ms = hg_now_ms ();
    self->recover_at_ms = self->refusing_since_ms + HG_RECOVER_EVERY_MS;
    snprintf (self->refusing_why, sizeof (self->refusing_why), "%s", err->msg);
    /* the upstream keeps what it sent us and not acknowledged */
    hg_link_client_destroy (&self->client);
    hg_warn ("disk_full", "refusing=work free_bytes=%llu needed_bytes=%llu err=\"%s\"",
             (unsigned long long) hg_store_free_bytes (self->store),
             (unsigned long long) self->min_free_bytes, err->msg);
}

/* The service's state as the store says: its own rollback, or a rebuild. */
static int
s_rebuild_state (hg_service_t *self, hg_err_t *err)
{
    if (self->def->rollback) {
        return self->def->rollback (self, self->state, err);
    }
    if (self->def->destroy && self->state) {
        self->def->destroy (&self->state);
    }
    if (self->def->init && self->def->init (self, &self->state, err) < 0) {
        return err->code ? err->code : HG_EINVAL;
    }
    return 0;
}

int
hg_service_recover_tick (hg_service_t *self, uint64_t now_ms, hg_err_t *err)
{
    if (!self->refusing || now_ms < self->recover_at_ms) {
        return 0;
    }
    self->recover_at_ms = now_ms + HG_RECOVER_EVERY_MS;
    if (hg_store_free_bytes (self->store) < self->min_free_bytes) {
        return 0;
    }
    /* RocksDB refuses every write after one failed for space, until the
     * database is opened again */
    int rc = hg_store_reopen (self->store, err);
    while (rc == HG_ENOSPC && !hg_service_terminated ()) {
        hg_warn ("disk_full", "reopen=failed err=\"%s\"", err->msg);
        sleep (1);
        rc = hg_store_reopen (self->store, err);
    }
    if (rc < 0) {
        return rc;
    }
    hg_counters_reset (self->counters);
    hg_counters_load (self->counters, self->store);
    (*hg_service_counter (self, "disk_full"))++; /* written with the next commit */
    if ((rc = s_rebuild_state (self, err)) < 0) {
        return rc;
    }
    if (self->def->consumes && (rc = hg_service_connect_upstream (self, err)) < 0) {
        return rc;
    }
    hg_info ("disk_space_recovered", "refused_ms=%llu free_bytes=%llu",
             (unsigned long long) (now_ms - self->refusing_since_ms),
             (unsigned long long) hg_store_free_bytes (self->store));
    self->refusing = false;
    self->refusing_why[0] = '\0';
    return 0;
}
