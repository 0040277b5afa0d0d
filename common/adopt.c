/*
 * adopt.c -- adoption of the slots of replicas that are gone (option
 * slots: replicas sharing one volume). See service_internal.h.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "service_internal.h"
#include "slot.h"
#include "util.h"

/* Moves the data of a dead replica's store into ours, then deletes it:
 * - its outbox entries become ours (new sequence numbers, same envelopes:
 *   downstream de-duplicates by envelope id if some were delivered already);
 * - its counters are added to ours, and the service's adopt hook merges
 *   what else it aggregates (the cleanser's quality figures);
 * - every other key (de-dup markers, quarantine, outcomes) is keyed by
 *   message id and copied as it is.
 * Copies are written (synced) before the store is deleted, and re-copying
 * is harmless, so a crash half-way loses nothing; it may count the adopted
 * counters twice. */
static int
s_adopt (hg_service_t *self, const char *path, hg_err_t *err)
{
    hg_store_t *orphan = hg_store_open (path, &self->store_opts, err);
    if (!orphan) {
        return err->code;
    }
    hg_store_batch_t *copy = hg_store_batch_new ();
    hg_store_batch_t *merge = hg_store_batch_new ();
    size_t n_outbox = 0, n_copied = 0;
    int rc = 0;
    hg_store_iter_t *it = hg_store_iter_new (orphan, "", 0, NULL, 0);
    const char *k, *v;
    size_t kl, vl;
    while (rc == 0 && hg_store_iter_next (it, &k, &kl, &v, &vl)) {
        if (hg_link_is_outbox_key (k, kl) && self->server) {
            unsigned char key[10];
            uint64_t seq = hg_link_server_next_seq (self->server, key);
            hg_store_batch_put (merge, key, sizeof (key), v, vl);
            rc = hg_service_emitted_push (self, seq, hg_link_entry_shard (v, vl), vl, err);
            n_outbox++;
        }
        else if (hg_counters_is_key (k, kl)) {
            hg_counters_add_entry (self->counters, k, kl, v, vl);
        }
        else {
            int handled = self->def->adopt
                              ? self->def->adopt (self, self->state, k, kl, v, vl, merge, err)
                              : 0;
            if (handled < 0) {
                rc = handled;
            }
            else if (!handled) {
                hg_store_batch_put (copy, k, kl, v, vl);
                n_copied++;
                if (hg_store_batch_count (copy) >= 10000) {
                    rc = hg_store_write (self->store, copy, true, err);
                    hg_store_batch_clear (copy);
                }
            }
        }
    }
    hg_store_iter_destroy (&it);
    if (rc == 0 && hg_store_batch_count (copy)) {
        rc = hg_store_write (self->store, copy, true, err);
    }
    if (rc == 0) {
        *hg_service_counter (self, "adopted") += n_outbox;
        rc = hg_service_commit (self, merge, err);
    }
    else {
        self->n_emitted = 0;
        hg_counters_load (self->counters,
                          self->store); /* undo the additions: they were not written */
    }
    hg_store_batch_destroy (&copy);
    hg_store_batch_destroy (&merge);
    hg_store_close (&orphan);
    if (rc == 0) {
        rc = hg_remove_tree (path, err);
        hg_info ("adopted", "store=%s outbox=%zu keys=%zu", path, n_outbox, n_copied);
    }
    return rc;
}

void
hg_service_adopt_orphans (hg_service_t *self, bool before_round)
{
    uint32_t unadopted = 0;
    for (int k = 0; k < self->slots; k++) {
        char path[PATH_MAX], current[PATH_MAX + 16];
        bool failed_before = (self->adopt_failed[k / 8] >> (k % 8)) & 1;
        if (before_round && failed_before) {
            unadopted++;
            continue;
        }
        hg_slot_path (path, sizeof (path), self->slot_dir, self->slot_prefix, k);
        snprintf (current, sizeof (current), "%s/CURRENT", path);
        self->adopt_failed[k / 8] &= (uint8_t) ~(1u << (k % 8));
        if (k == self->slot || access (current, F_OK) != 0) {
            continue;
        }
        hg_err_t err = {0};
        int fd = hg_slot_try (self->slot_dir, self->slot_prefix, k, &err);
        if (fd == HG_EAGAIN) {
            continue; /* a live replica */
        }
        if (fd < 0 || s_adopt (self, path, &err) < 0) {
            hg_error ("adopt_failed", "slot=%d err=\"%s\"", k, err.msg);
            unadopted++; /* its outbox waits: gauge unadopted_slots, an alert */
            self->adopt_failed[k / 8] |= (uint8_t) (1u << (k % 8));
        }
        if (fd >= 0) {
            close (fd);
        }
    }
    self->unadopted = unadopted;
}
