/*
 * quarantine.h -- the one definition of the quarantine key space, shared by
 * every stage that rejects (the cleanser its payloads' rejects, deid the
 * records it cannot de-identify) and by the runtime's QUARANTINE_LIST.
 *
 *   q/<message id>\0<index: 6+ decimal digits>   packed QuarantineEntry
 *
 * A message's entries sort together, in order of index; the NUL keeps an
 * id that is a prefix of another apart from it. An entry never holds more
 * PHI than the stage that writes it may hold.
 */
#ifndef HG_QUARANTINE_H
#define HG_QUARANTINE_H

#include <stddef.h>

#include "arena.h"
#include "err.h"
#include "hourglass.pb-c.h"
#include "store.h"

/* Puts q, packed, into wb as the index-th entry of message q->message_id.
 * HG_ENOMEM with err when it could not be added. */
int hg_quarantine_put (hg_store_batch_t *wb, const Hourglass__QuarantineEntry *q, size_t index,
                       hg_err_t *err);

/* The first limit entries of store in key order, unpacked into arena:
 * *list (in arena) and *n. Entries that do not unpack are skipped. */
int hg_quarantine_list (hg_store_t *store, size_t limit, hg_arena_t *arena,
                        Hourglass__QuarantineEntry ***list, size_t *n, hg_err_t *err);

#endif
