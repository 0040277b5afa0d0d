/*
 * audit.h -- analytics' query audit trail (issue 14): every query asked,
 * over HTTP or the control plane, recorded append-only in analytics' store
 * with who asked it, when, the document, the answer as returned, how many of
 * its numbers were withheld and the privacy budget spent.
 *
 * The entries are hash-chained: each carries (AuditEntry.prev) the
 * BLAKE2b-256 of the previous entry's stored bytes, and the head key holds
 * the last entry's id and hash. Walking the chain (hg_audit_verify_*) thus
 * finds an entry changed in place, one deleted (a gap in the ids, or a link
 * that no longer matches), one inserted (a key out of the layout, ids out of
 * order, an entry after the head's last), and names it. What it cannot find
 * is a rewrite of the whole chain and the head together by someone holding
 * the store: hence the head hash that `hourglass audit verify` prints, to be
 * kept elsewhere (docs/security.md).
 *
 * Key layout in analytics' store:
 *   A/<id: 8 bytes big endian>   -> packed AuditEntry
 *   A:head                       -> last id (8 bytes BE) + its BLAKE2b-256 (32 bytes)
 *
 * Pure: builds and checks bytes; main.c writes and reads the store.
 */
#ifndef HG_AUDIT_H
#define HG_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "err.h"
#include "hourglass.pb-c.h"
#include "query.h"

#define HG_AUDIT_HASH_BYTES 32
#define HG_AUDIT_KEY_BYTES 10 /* "A/" + id */
#define HG_AUDIT_PREFIX "A/"
#define HG_AUDIT_HEAD_KEY "A:head"
#define HG_AUDIT_HEAD_BYTES (8 + HG_AUDIT_HASH_BYTES)

/* The end of the chain: the last entry's id (0: none yet) and hash. */
typedef struct {
    uint64_t last_id;
    unsigned char last_hash[HG_AUDIT_HASH_BYTES];
} hg_audit_head_t;

/* The key of entry id (HG_AUDIT_KEY_BYTES bytes). */
void hg_audit_key (uint64_t id, unsigned char out[HG_AUDIT_KEY_BYTES]);

/* The head from its stored value (NULL, 0: no entry yet); -1 with err when
 * the value is not HG_AUDIT_HEAD_BYTES long. */
int hg_audit_head_parse (const char *val, size_t len, hg_audit_head_t *head, hg_err_t *err);
void hg_audit_head_pack (const hg_audit_head_t *head, unsigned char out[HG_AUDIT_HEAD_BYTES]);

/* Seals e as the entry after head: sets e->id and e->prev, packs it into
 * *buf (malloc'd, *len bytes; the caller frees) and writes the head the
 * chain has once it is stored into *next (head itself is untouched: the
 * caller adopts *next after the write succeeded). -1 with err when out of
 * memory. */
int hg_audit_seal (const hg_audit_head_t *head, Hourglass__AuditEntry *e, uint8_t **buf,
                   size_t *len, hg_audit_head_t *next, hg_err_t *err);

/* How many numbers of an answer JSON are withheld: its "suppressed": true
 * members, at any depth (0 for text that is not JSON). */
uint32_t hg_audit_count_suppressed (const char *answer);

/* The answer JSON object with "audit_id": id as its first member (in
 * arena); NULL when answer is not an object or out of memory. */
char *hg_audit_answer_with_id (const char *answer, uint64_t id, hg_arena_t *arena);

/* ---- verifying the chain ------------------------------------------------------ */

typedef struct {
    uint64_t entries;                        /* entries walked */
    uint64_t expect_id;                      /* the id the next entry must have */
    unsigned char prev[HG_AUDIT_HASH_BYTES]; /* hash of the last entry walked */
    bool failed;
    uint64_t bad_id;                                /* the first entry found wrong (or missing) */
    char problem[512];                              /* what, and where; "" while intact */
    uint64_t anchor_id;                             /* an earlier head to hold to (0: none) ... */
    unsigned char anchor_hash[HG_AUDIT_HASH_BYTES]; /* ... and its hash */
} hg_audit_verify_t;

void hg_audit_verify_init (hg_audit_verify_t *v);

/* Holds the walk to an anchor: entry id must hash to hash (a head an
 * earlier verify printed), else the trail was rewritten up to it. */
void hg_audit_verify_anchor (hg_audit_verify_t *v, uint64_t id,
                             const unsigned char hash[HG_AUDIT_HASH_BYTES]);

/* One stored key and value under HG_AUDIT_PREFIX, in key order. False once
 * the chain is found broken (v->problem says where; later calls do
 * nothing). */
bool hg_audit_verify_step (hg_audit_verify_t *v, const char *key, size_t klen, const char *val,
                           size_t vlen);

/* After the last entry: checks the head (its stored value; NULL when there
 * is none) names the last entry walked and its hash. False with v->problem
 * when not. */
bool hg_audit_verify_end (hg_audit_verify_t *v, const char *head, size_t head_len);

#endif
