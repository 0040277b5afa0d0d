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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* A quarantined message, for replay: its id, partner, format and the
 * store key of its whole payload (strings in the arena given). */
typedef struct {
    const char *message_id, *partner, *format, *payload_key;
} hg_quarantined_t;

/* What to replay: every filter that is set must hold for at least one of
 * a message's entries (partner equal, reason holding the text, at_us at or
 * after since_us). NULL / "" / 0: any. */
typedef struct {
    const char *partner;
    const char *reason;
    uint64_t since_us;
} hg_quarantine_filter_t;

/* True when entry q passes f. */
bool hg_quarantine_matches (const Hourglass__QuarantineEntry *q, const hg_quarantine_filter_t *f);

/* The distinct messages of store's quarantine with an entry passing f, in
 * key order, at most limit, into arena: *list and *n. Entries without a
 * payload key (deid's, which keep no payload) are left out. */
int hg_quarantine_select (hg_store_t *store, const hg_quarantine_filter_t *f, size_t limit,
                          hg_arena_t *arena, hg_quarantined_t **list, size_t *n, hg_err_t *err);

/* Deletes, in wb, every quarantine entry of message_id (its payload, the
 * caller's key, stays unless the caller deletes it). */
int hg_quarantine_clear (hg_store_t *store, hg_store_batch_t *wb, const char *message_id,
                         hg_err_t *err);

#endif
