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
