/*
 * index.c -- indexer key layout and the count query.
 */
#include "index.h"

#include <stdlib.h>
#include <string.h>

#include "date.h"

/* Appends a NUL-separated component to a key buffer; false when full. */
static bool
s_add (char *key, size_t *len, size_t cap, const char *part, bool sep)
{
    size_t n = strlen (part);
    if (*len + n + (sep ? 1 : 0) > cap) {
        return false;
    }
    memcpy (key + *len, part, n);
    *len += n;
    if (sep) {
        key[(*len)++] = '\0';
    }
    return true;
}

void
hg_index_day (const char *effective, char out[11])
{
    out[0] = '\0';
    if (!effective || !*effective) {
        return;
    }
    hg_date_t d;
    if (hg_date_parse_iso (effective, strlen (effective), &d, NULL) == 0) {
        hg_date_day_key (&d, out);
    }
}

int
hg_index_put (hg_store_t *store, hg_store_batch_t *wb, hg_strset_t *staged,
              const Hourglass__Record *rec, hg_err_t *err)
{
    if (!rec->pseudonymous || !*rec->patient_ref || !*rec->record_id) {
        return hg_err_set (err, HG_EINVAL,
                           "record is not de-identified (pseudonymous patient and record id "
                           "required)");
    }
    char key[2048];
    size_t kl = 0;
    s_add (key, &kl, sizeof (key), "r", true);
    s_add (key, &kl, sizeof (key), rec->patient_ref, true);
    if (!s_add (key, &kl, sizeof (key), rec->record_id, false)) {
        return hg_err_set (err, HG_EINVAL, "record key too long");
    }
    if (hg_strset_has (staged, key, kl) || hg_store_exists (store, key, kl)) {
        return 0;
    }
    if (hg_strset_add (staged, key, kl) < 0) {
        return hg_err_set (err, HG_ENOMEM, "out of memory");
    }
    size_t len = hourglass__record__get_packed_size (rec);
    uint8_t *buf = malloc (len ? len : 1);
    if (!buf) {
        return hg_err_set (err, HG_ENOMEM, "out of memory");
    }
    hourglass__record__pack (rec, buf);
    hg_store_batch_put (wb, key, kl, buf, len);
    free (buf);

    char day[11];
    hg_index_day (rec->effective, day);
    for (size_t i = 0; i < rec->n_codes; i++) {
        const Hourglass__Coding *c = rec->codes[i];
        if (!*c->code) {
            continue;
        }
        kl = 0;
        bool ok = s_add (key, &kl, sizeof (key), "c", true)
                  && s_add (key, &kl, sizeof (key), c->system, false)
                  && s_add (key, &kl, sizeof (key), "|", false)
                  && s_add (key, &kl, sizeof (key), c->code, true)
                  && s_add (key, &kl, sizeof (key), day, true)
                  && s_add (key, &kl, sizeof (key), rec->patient_ref, true)
                  && s_add (key, &kl, sizeof (key), rec->record_id, false);
        if (ok) {
            hg_store_batch_put (wb, key, kl, "", 0);
        }
    }
    kl = 0;
    if (s_add (key, &kl, sizeof (key), "d", true) && s_add (key, &kl, sizeof (key), day, true)
        && s_add (key, &kl, sizeof (key), rec->record_id, false)) {
        hg_store_batch_put (wb, key, kl, rec->patient_ref, strlen (rec->patient_ref));
    }
    return 1;
}

int
hg_index_count (hg_store_t *store, const char *system, const char *code, const char *from,
                const char *to, uint64_t *patients, uint64_t *records, hg_err_t *err)
{
    char prefix[1024], start[1100];
    size_t pl = 0;
    if (!(s_add (prefix, &pl, sizeof (prefix), "c", true)
          && s_add (prefix, &pl, sizeof (prefix), system, false)
          && s_add (prefix, &pl, sizeof (prefix), "|", false)
          && s_add (prefix, &pl, sizeof (prefix), code, true))) {
        return hg_err_set (err, HG_EINVAL, "code too long");
    }
    memcpy (start, prefix, pl);
    size_t sl = pl;
    bool has_from = from && *from;
    if (has_from) {
        s_add (start, &sl, sizeof (start), from, false);
    }
    hg_store_iter_t *it = hg_store_iter_new (store, prefix, pl, start, sl);
    const char *k;
    size_t klen;
    uint64_t n = 0;
    hg_strset_t *pats = hg_strset_new ();
    bool has_to = to && *to;
    while (hg_store_iter_next (it, &k, &klen, NULL, NULL)) {
        const char *day = k + pl;
        const char *end = k + klen;
        const char *day_end = memchr (day, '\0', (size_t) (end - day));
        if (!day_end) {
            continue;
        }
        size_t day_len = (size_t) (day_end - day);
        if (has_from && day_len == 0) {
            continue;       /* undated records never match a date range */
        }
        if (has_to && (day_len == 0 || strncmp (day, to, 10) > 0)) {
            if (day_len == 0) {
                continue;
            }
            break;          /* keys are in date order: nothing later matches */
        }
        const char *pat = day_end + 1;
        const char *pat_end = memchr (pat, '\0', (size_t) (end - pat));
        if (!pat_end) {
            continue;
        }
        n++;
        if (hg_strset_add (pats, pat, (size_t) (pat_end - pat)) < 0) {
            hg_store_iter_destroy (&it);
            hg_strset_destroy (&pats);
            return hg_err_set (err, HG_ENOMEM, "out of memory counting patients");
        }
    }
    hg_store_iter_destroy (&it);
    *patients = hg_strset_size (pats);
    hg_strset_destroy (&pats);
    *records = n;
    return 0;
}

/* ---- aggregates ------------------------------------------------------------ */

typedef struct agg_entry {
    struct agg_entry *next;     /* hash chain */
    struct agg_entry *dirty_next;
    bool dirty;
    uint64_t records, patients;
    size_t key_len;             /* "n\0system|code" */
    char key[];
} agg_entry_t;

struct hg_index_agg {
    agg_entry_t **buckets;
    size_t n_buckets, n;
    agg_entry_t *dirty;         /* changed since the last flush */
};

static uint64_t
s_hash (const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ (unsigned char) s[i]) * 1099511628211ULL;
    }
    return h;
}

static agg_entry_t *
s_agg_find (const hg_index_agg_t *self, const char *key, size_t len, bool create)
{
    size_t b = s_hash (key, len) & (self->n_buckets - 1);
    for (agg_entry_t *e = self->buckets[b]; e; e = e->next) {
        if (e->key_len == len && memcmp (e->key, key, len) == 0) {
            return e;
        }
    }
    if (!create) {
        return NULL;
    }
    agg_entry_t *e = calloc (1, sizeof (*e) + len);
    if (!e) {
        return NULL;
    }
    memcpy (e->key, key, len);
    e->key_len = len;
    e->next = self->buckets[b];
    self->buckets[b] = e;
    ((hg_index_agg_t *) self)->n++;
    return e;
}

/* "n\0system|code" into key, NUL-terminated; its length (without the
 * terminator), 0 when too long. */
static size_t
s_agg_key (char *key, size_t cap, const char *system, const char *code)
{
    size_t kl = 0;
    /* NUL-terminated after its length: key + 2 is read as a C string */
    if (s_add (key, &kl, cap - 1, "n", true) && s_add (key, &kl, cap - 1, system, false)
        && s_add (key, &kl, cap - 1, "|", false) && s_add (key, &kl, cap - 1, code, false)) {
        key[kl] = '\0';
        return kl;
    }
    return 0;
}

hg_index_agg_t *
hg_index_agg_load (hg_store_t *store)
{
    hg_index_agg_t *self = calloc (1, sizeof (*self));
    if (!self) {
        return NULL;
    }
    self->n_buckets = 4096;
    self->buckets = calloc (self->n_buckets, sizeof (*self->buckets));
    if (!self->buckets) {
        free (self);
        return NULL;
    }
    hg_store_iter_t *it = hg_store_iter_new (store, "n\0", 2, NULL, 0);
    const char *k, *v;
    size_t kl, vl;
    while (hg_store_iter_next (it, &k, &kl, &v, &vl)) {
        agg_entry_t *e = s_agg_find (self, k, kl, true);
        if (e && vl == 16) {
            memcpy (&e->records, v, 8);
            memcpy (&e->patients, v + 8, 8);
        }
    }
    hg_store_iter_destroy (&it);
    return self;
}

void
hg_index_agg_destroy (hg_index_agg_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    hg_index_agg_t *self = *self_p;
    for (size_t b = 0; b < self->n_buckets; b++) {
        agg_entry_t *e = self->buckets[b];
        while (e) {
            agg_entry_t *next = e->next;
            free (e);
            e = next;
        }
    }
    free (self->buckets);
    free (self);
    *self_p = NULL;
}

int
hg_index_agg_add (hg_index_agg_t *self, hg_store_t *store, hg_store_batch_t *wb,
                  hg_strset_t *staged, const Hourglass__Record *rec, hg_err_t *err)
{
    for (size_t i = 0; i < rec->n_codes; i++) {
        const Hourglass__Coding *c = rec->codes[i];
        if (!*c->code) {
            continue;       /* as hg_index_put: uncoded codings are not indexed */
        }
        /* a record carrying the same code twice counts once */
        bool repeated = false;
        for (size_t j = 0; j < i && !repeated; j++) {
            repeated = strcmp (rec->codes[j]->system, c->system) == 0
                       && strcmp (rec->codes[j]->code, c->code) == 0;
        }
        if (repeated) {
            continue;
        }
        char key[2048];
        size_t kl = s_agg_key (key, sizeof (key), c->system, c->code);
        if (!kl) {
            continue;
        }
        agg_entry_t *e = s_agg_find (self, key, kl, true);
        if (!e) {
            return hg_err_set (err, HG_ENOMEM, "out of memory");
        }
        e->records++;
        /* p\0system|code\0patient: is this patient new for the code? */
        char pkey[2048];
        size_t pl = 0;
        if (s_add (pkey, &pl, sizeof (pkey), "p", true)
            && s_add (pkey, &pl, sizeof (pkey), key + 2, true)
            && s_add (pkey, &pl, sizeof (pkey), rec->patient_ref, false)
            && !hg_strset_has (staged, pkey, pl) && !hg_store_exists (store, pkey, pl)) {
            if (hg_strset_add (staged, pkey, pl) < 0) {
                return hg_err_set (err, HG_ENOMEM, "out of memory");
            }
            hg_store_batch_put (wb, pkey, pl, "", 0);
            e->patients++;
        }
        if (!e->dirty) {
            e->dirty = true;
            e->dirty_next = self->dirty;
            self->dirty = e;
        }
    }
    return 0;
}

void
hg_index_agg_flush (hg_index_agg_t *self, hg_store_batch_t *wb)
{
    for (agg_entry_t *e = self->dirty; e; e = e->dirty_next) {
        char v[16];
        memcpy (v, &e->records, 8);
        memcpy (v + 8, &e->patients, 8);
        hg_store_batch_put (wb, e->key, e->key_len, v, sizeof (v));
        e->dirty = false;
    }
    self->dirty = NULL;
}

void
hg_index_agg_get (const hg_index_agg_t *self, const char *system, const char *code,
                  uint64_t *patients, uint64_t *records)
{
    char key[2048];
    size_t kl = s_agg_key (key, sizeof (key), system, code);
    agg_entry_t *e = kl ? s_agg_find (self, key, kl, false) : NULL;
    *patients = e ? e->patients : 0;
    *records = e ? e->records : 0;
}
