/*
 * slot.h -- instance slots: replicas that share one volume each claim a
 * numbered slot, "<dir>/<prefix>-<k>", by holding an flock(2) on
 * "<dir>/<prefix>-<k>.lock" for as long as they live.
 *
 * The kernel drops the lock when the process dies however it dies, so a
 * slot whose lock can be taken belongs to nobody: a new replica claims the
 * lowest such slot (a restarted container gets its store back, or a dead
 * replica's), and a running one adopts the data of any such slot that still
 * holds some (service.c). The lock files stay: removing one would let two
 * processes hold "the" lock of a slot on two different inodes.
 */
#ifndef HG_SLOT_H
#define HG_SLOT_H

#include <stddef.h>

#include "err.h"

/* Takes slot k's lock without waiting: the lock's fd (keep it open to hold
 * the slot), HG_EAGAIN if a live process holds it (err untouched), or
 * another HG_E* code with err if the lock file cannot be opened. */
int hg_slot_try (const char *dir, const char *prefix, int k, hg_err_t *err);

/* Claims slot preferred if it is free (and in range; -1: none), else the
 * lowest free slot of 0..slots-1: returns k and sets *fd. */
int hg_slot_claim (const char *dir, const char *prefix, int slots, int preferred, int *fd,
                   hg_err_t *err);

/* The slot's data directory, "<dir>/<prefix>-<k>", into out. */
void hg_slot_path (char *out, size_t size, const char *dir, const char *prefix, int k);

#endif
