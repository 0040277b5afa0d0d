/*
 * quarantine.c -- quarantine entries in the store; see quarantine.h.
 */
#include "quarantine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
hg_quarantine_put (hg_store_batch_t *wb, const Hourglass__QuarantineEntry *q, size_t index,
                   hg_err_t *err)
{
    const char *id = q->message_id ? q->message_id : "";
    size_t id_len = strlen (id);
    char stack[640];
    size_t cap = id_len + 2 + 1 + 24;
    char *key = cap <= sizeof (stack) ? stack : malloc (cap);
    if (!key) {
        return hg_err_set (err, HG_ENOMEM, "out of memory writing a quarantine entry");
    }
    memcpy (key, "q/", 2);
    memcpy (key + 2, id, id_len);
    key[2 + id_len] = '\0';
    int digits = snprintf (key + 3 + id_len, cap - 3 - id_len, "%06zu", index);
    size_t klen = 3 + id_len + (size_t) digits;
    size_t len = hourglass__quarantine_entry__get_packed_size (q);
    uint8_t *buf = hg_store_batch_put_space (wb, key, klen, len);
    if (buf) {
        hourglass__quarantine_entry__pack (q, buf);
    }
    if (key != stack) {
        free (key);
    }
    if (!buf) {
        return hg_err_set (err, HG_ENOMEM, "out of memory writing a quarantine entry");
    }
    return 0;
}

int
hg_quarantine_list (hg_store_t *store, size_t limit, hg_arena_t *arena,
                    Hourglass__QuarantineEntry ***list, size_t *n, hg_err_t *err)
{
    size_t cap = 64, got = 0;
    Hourglass__QuarantineEntry **v = malloc (cap * sizeof (*v));
    if (!v) {
        return hg_err_set (err, HG_ENOMEM, "out of memory listing the quarantine");
    }
    ProtobufCAllocator alloc;
    hg_arena_protobuf_allocator (arena, &alloc);
    hg_store_iter_t *it = hg_store_iter_new (store, "q/", 2, NULL, 0);
    const char *k, *val;
    size_t kl, vl;
    int rc = 0;
    while (got < limit && hg_store_iter_next (it, &k, &kl, &val, &vl)) {
        Hourglass__QuarantineEntry *q =
            hourglass__quarantine_entry__unpack (&alloc, vl, (const uint8_t *) val);
        if (!q) {
            continue;
        }
        if (got == cap) {
            Hourglass__QuarantineEntry **grown = realloc (v, cap * 2 * sizeof (*v));
            if (!grown) {
                rc = hg_err_set (err, HG_ENOMEM, "out of memory listing the quarantine");
                break;
            }
            v = grown;
            cap *= 2;
        }
        v[got++] = q;
    }
    hg_store_iter_destroy (&it);
    Hourglass__QuarantineEntry **out = hg_arena_alloc (arena, (got ? got : 1) * sizeof (*out));
    if (rc == 0 && !out) {
        rc = hg_err_set (err, HG_ENOMEM, "out of memory listing the quarantine");
    }
    if (rc == 0) {
        memcpy (out, v, got * sizeof (*out));
        *list = out;
        *n = got;
    }
    free (v);
    return rc;
}

bool
hg_quarantine_matches (const Hourglass__QuarantineEntry *q, const hg_quarantine_filter_t *f)
{
    if (f->partner && *f->partner && strcmp (q->partner ? q->partner : "", f->partner) != 0) {
        return false;
    }
    if (f->reason && *f->reason && !strstr (q->reason ? q->reason : "", f->reason)) {
        return false;
    }
    return q->at_us >= f->since_us;
}

int
hg_quarantine_select (hg_store_t *store, const hg_quarantine_filter_t *f, size_t limit,
                      hg_arena_t *arena, hg_quarantined_t **list, size_t *n, hg_err_t *err)
{
    size_t cap = 16, got = 0;
    hg_quarantined_t *v = hg_arena_alloc (arena, cap * sizeof (*v));
    hg_store_iter_t *it = hg_store_iter_new (store, "q/", 2, NULL, 0);
    const char *k, *val;
    size_t kl, vl;
    int rc = v ? 0 : HG_ENOMEM;
    while (rc == 0 && got < limit && hg_store_iter_next (it, &k, &kl, &val, &vl)) {
        Hourglass__QuarantineEntry *q =
            hourglass__quarantine_entry__unpack (NULL, vl, (const uint8_t *) val);
        if (!q) {
            continue;
        }
        bool same = got && strcmp (v[got - 1].message_id, q->message_id) == 0;
        if (!same && *q->key && hg_quarantine_matches (q, f)) {
            if (got == cap) {
                hg_quarantined_t *grown = hg_arena_alloc (arena, cap * 2 * sizeof (*v));
                if (grown) {
                    memcpy (grown, v, cap * sizeof (*v));
                    cap *= 2;
                }
                v = grown;
            }
            hg_quarantined_t *m = v ? &v[got] : NULL;
            if (m) {
                m->message_id = hg_arena_strdup (arena, q->message_id);
                m->partner = hg_arena_strdup (arena, q->partner);
                m->format = hg_arena_strdup (arena, q->format);
                m->payload_key = hg_arena_strdup (arena, q->key);
            }
            if (!m || !m->message_id || !m->partner || !m->format || !m->payload_key) {
                rc = HG_ENOMEM;
            }
            else {
                got++;
            }
        }
        hourglass__quarantine_entry__free_unpacked (q, NULL);
    }
    hg_store_iter_destroy (&it);
    if (rc) {
        return hg_err_set (err, HG_ENOMEM, "out of memory selecting quarantined messages");
    }
    *list = v;
    *n = got;
    return 0;
}

int
hg_quarantine_clear (hg_store_t *store, hg_store_batch_t *wb, const char *message_id,
                     hg_err_t *err)
{
    size_t id_len = strlen (message_id);
    char *prefix = malloc (id_len + 3);
    if (!prefix) {
        return hg_err_set (err, HG_ENOMEM, "out of memory clearing a quarantine entry");
    }
    memcpy (prefix, "q/", 2);
    memcpy (prefix + 2, message_id, id_len);
    prefix[2 + id_len] = '\0'; /* the NUL that ends the id in the key */
    hg_store_iter_t *it = hg_store_iter_new (store, prefix, id_len + 3, NULL, 0);
    const char *k, *val;
    size_t kl, vl;
    while (hg_store_iter_next (it, &k, &kl, &val, &vl)) {
        hg_store_batch_delete (wb, k, kl);
    }
    hg_store_iter_destroy (&it);
    free (prefix);
    return 0;
}
