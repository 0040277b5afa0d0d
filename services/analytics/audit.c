/*
 * audit.c -- the audit trail's hash chain: sealing an entry, checking the
 * chain (see audit.h). Pure: no store, no sockets.
 */
#include "audit.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <sodium.h>

static void
s_be64_put (unsigned char *out, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (unsigned char) (v & 0xff);
        v >>= 8;
    }
}

static uint64_t
s_be64_get (const unsigned char *in)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = (v << 8) | in[i];
    }
    return v;
}

static void
s_hash (const void *buf, size_t len, unsigned char out[HG_AUDIT_HASH_BYTES])
{
    crypto_generichash (out, HG_AUDIT_HASH_BYTES, buf, len, NULL, 0);
}

void
hg_audit_key (uint64_t id, unsigned char out[HG_AUDIT_KEY_BYTES])
{
    memcpy (out, HG_AUDIT_PREFIX, 2);
    s_be64_put (out + 2, id);
}

int
hg_audit_head_parse (const char *val, size_t len, hg_audit_head_t *head, hg_err_t *err)
{
    memset (head, 0, sizeof (*head));
    if (!val) {
        return 0;
    }
    if (len != HG_AUDIT_HEAD_BYTES) {
        return hg_err_set (err, HG_EINVAL,
                           "the audit head (key " HG_AUDIT_HEAD_KEY ") is %zu bytes, not %d: the "
                           "store was changed; run hourglass audit verify",
                           len, HG_AUDIT_HEAD_BYTES);
    }
    head->last_id = s_be64_get ((const unsigned char *) val);
    memcpy (head->last_hash, val + 8, HG_AUDIT_HASH_BYTES);
    return 0;
}

void
hg_audit_head_pack (const hg_audit_head_t *head, unsigned char out[HG_AUDIT_HEAD_BYTES])
{
    s_be64_put (out, head->last_id);
    memcpy (out + 8, head->last_hash, HG_AUDIT_HASH_BYTES);
}

int
hg_audit_seal (const hg_audit_head_t *head, Hourglass__AuditEntry *e, uint8_t **buf, size_t *len,
               hg_audit_head_t *next, hg_err_t *err)
{
    static const unsigned char zero[HG_AUDIT_HASH_BYTES];
    e->id = head->last_id + 1;
    e->prev.data = (uint8_t *) (head->last_id ? head->last_hash : zero);
    e->prev.len = HG_AUDIT_HASH_BYTES;
    *len = hourglass__audit_entry__get_packed_size (e);
    *buf = malloc (*len ? *len : 1);
    if (!*buf) {
        return hg_err_set (err, HG_ENOMEM, "out of memory sealing audit entry %" PRIu64, e->id);
    }
    hourglass__audit_entry__pack (e, *buf);
    next->last_id = e->id;
    s_hash (*buf, *len, next->last_hash);
    return 0;
}

static uint32_t
s_count (json_object *v)
{
    uint32_t n = 0;
    if (json_object_is_type (v, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length (v); i++) {
            n += s_count (json_object_array_get_idx (v, i));
        }
    }
    else if (json_object_is_type (v, json_type_object)) {
        json_object_object_foreach (v, key, val)
        {
            if (strcmp (key, "suppressed") == 0 && json_object_is_type (val, json_type_boolean)) {
                n += json_object_get_boolean (val) ? 1u : 0u;
            }
            else {
                n += s_count (val);
            }
        }
    }
    return n;
}

uint32_t
hg_audit_count_suppressed (const char *answer)
{
    json_object *v = answer ? json_tokener_parse (answer) : NULL;
    uint32_t n = v ? s_count (v) : 0;
    json_object_put (v);
    return n;
}

char *
hg_audit_answer_with_id (const char *answer, uint64_t id, hg_arena_t *arena)
{
    const char *p = answer;
    while (p && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')) {
        p++;
    }
    if (!p || *p != '{') {
        return NULL;
    }
    const char *rest = p + 1;
    while (*rest == ' ' || *rest == '\n' || *rest == '\t' || *rest == '\r') {
        rest++;
    }
    return hg_arena_printf (arena, "{\"audit_id\":%" PRIu64 "%s%s", id, *rest == '}' ? "" : ",",
                            rest);
}

/* ---- verifying ------------------------------------------------------------------ */

void
hg_audit_verify_init (hg_audit_verify_t *v)
{
    memset (v, 0, sizeof (*v));
    v->expect_id = 1;
}

void
hg_audit_verify_anchor (hg_audit_verify_t *v, uint64_t id,
                        const unsigned char hash[HG_AUDIT_HASH_BYTES])
{
    v->anchor_id = id;
    memcpy (v->anchor_hash, hash, HG_AUDIT_HASH_BYTES);
}

static bool s_fail (hg_audit_verify_t *v, uint64_t bad_id, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static bool
s_fail (hg_audit_verify_t *v, uint64_t bad_id, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (v->problem, sizeof (v->problem), fmt, ap);
    va_end (ap);
    v->failed = true;
    v->bad_id = bad_id;
    return false;
}

bool
hg_audit_verify_step (hg_audit_verify_t *v, const char *key, size_t klen, const char *val,
                      size_t vlen)
{
    if (v->failed) {
        return false;
    }
    if (klen != HG_AUDIT_KEY_BYTES || memcmp (key, HG_AUDIT_PREFIX, 2) != 0) {
        return s_fail (v, v->expect_id,
                       "a key of %zu bytes that is no audit entry's sits after entry %" PRIu64
                       ": an entry was inserted",
                       klen, v->expect_id - 1);
    }
    uint64_t id = s_be64_get ((const unsigned char *) key + 2);
    if (id > v->expect_id) {
        if (id == v->expect_id + 1) {
            return s_fail (v, v->expect_id,
                           "entry %" PRIu64 " is missing (entry %" PRIu64
                           " follows entry %" PRIu64 "): it was deleted",
                           v->expect_id, id, v->expect_id - 1);
        }
        return s_fail (v, v->expect_id,
                       "entries %" PRIu64 " to %" PRIu64 " are missing (entry %" PRIu64
                       " follows entry %" PRIu64 "): they were deleted",
                       v->expect_id, id - 1, id, v->expect_id - 1);
    }
    if (id < v->expect_id) {
        return s_fail (v, id, "entry %" PRIu64 " is out of order: an entry was inserted", id);
    }
    Hourglass__AuditEntry *e = hourglass__audit_entry__unpack (NULL, vlen, (const uint8_t *) val);
    if (!e) {
        return s_fail (v, id, "entry %" PRIu64 " does not decode: it was changed", id);
    }
    bool ok = true;
    if (e->id != id) {
        ok = s_fail (v, id,
                     "entry %" PRIu64 " says it is entry %" PRIu64
                     ": it was changed, or moved there (an entry inserted or deleted before it)",
                     id, e->id);
    }
    else if (e->prev.len != HG_AUDIT_HASH_BYTES
             || (id == 1 ? !sodium_is_zero (e->prev.data, HG_AUDIT_HASH_BYTES)
                         : sodium_memcmp (e->prev.data, v->prev, HG_AUDIT_HASH_BYTES) != 0)) {
        /* the entry before changed (its hash moved), or this one's link */
        ok = id == 1 ? s_fail (v, 1, "entry 1 does not start the chain: it was changed")
                     : s_fail (v, id - 1,
                               "entry %" PRIu64 " was changed (entry %" PRIu64
                               "'s hash of it no longer matches), or an entry was inserted "
                               "between them",
                               id - 1, id);
    }
    hourglass__audit_entry__free_unpacked (e, NULL);
    if (!ok) {
        return false;
    }
    s_hash (val, vlen, v->prev);
    v->entries++;
    v->expect_id = id + 1;
    if (id == v->anchor_id && sodium_memcmp (v->prev, v->anchor_hash, HG_AUDIT_HASH_BYTES) != 0) {
        return s_fail (v, id,
                       "entry %" PRIu64 " no longer hashes to the head kept: the trail was "
                       "rewritten up to entry %" PRIu64 " (changed, and every hash after "
                       "recomputed)",
                       id, id);
    }
    return true;
}

bool
hg_audit_verify_end (hg_audit_verify_t *v, const char *head, size_t head_len)
{
    if (v->failed) {
        return false;
    }
    hg_audit_head_t h;
    hg_err_t err = {0};
    if (hg_audit_head_parse (head, head_len, &h, &err) < 0) {
        return s_fail (v, v->expect_id - 1, "%s", err.msg);
    }
    uint64_t last = v->expect_id - 1;
    if (v->anchor_id > last) {
        return s_fail (v, last + 1,
                       "the trail ends at entry %" PRIu64
                       " but the head kept names entry %" PRIu64 ": entries from %" PRIu64
                       " were deleted",
                       last, v->anchor_id, last + 1);
    }
    if (!head) {
        return last == 0 ? true
                         : s_fail (v, last,
                                   "the audit head is missing but %" PRIu64
                                   " entries exist: it was deleted",
                                   last);
    }
    if (h.last_id > last) {
        return s_fail (v, last + 1,
                       h.last_id == last + 1
                           ? "entry %" PRIu64 " is missing (the head names it as the last): it "
                             "was deleted"
                           : "entries from %" PRIu64 " are missing (the head names a later one "
                             "as the last): they were deleted",
                       last + 1);
    }
    if (h.last_id < last) {
        return s_fail (v, h.last_id + 1,
                       "entry %" PRIu64 " comes after the last one the head names (%" PRIu64
                       "): it was inserted",
                       h.last_id + 1, h.last_id);
    }
    if (last > 0 && sodium_memcmp (h.last_hash, v->prev, HG_AUDIT_HASH_BYTES) != 0) {
        return s_fail (v, last,
                       "entry %" PRIu64 " (the last) was changed: the head's hash of it no "
                       "longer matches",
                       last);
    }
    return true;
}
