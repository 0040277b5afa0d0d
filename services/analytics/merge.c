/*
 * merge.c -- the partial aggregates of a query (key -> patients, records,
 * denominator), their merge across shards, and the answer JSON with
 * small-cell suppression on every number (see query.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "query.h"
#include "suppress.h"

#define S_SEP '\x1f'

struct hg_qpart {
    hg_qcell_t *cells; /* dense, in insertion order */
    uint64_t *stamps;  /* per cell: the patient that last touched it */
    size_t n, cap;
    uint32_t *slots; /* open addressing: cell index + 1, 0 empty */
    size_t n_slots;
    uint64_t stamp; /* the current patient */
};

static uint64_t
s_hash (const char *p, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ (unsigned char) p[i]) * 1099511628211ULL;
    }
    return h ^ (h >> 31);
}

hg_qpart_t *
hg_qpart_new (void)
{
    hg_qpart_t *self = calloc (1, sizeof (*self));
    if (self) {
        self->n_slots = 64;
        self->slots = calloc (self->n_slots, sizeof (*self->slots));
        self->stamp = 1;
    }
    if (!self || !self->slots) {
        hg_qpart_destroy (&self);
    }
    return self;
}

void
hg_qpart_destroy (hg_qpart_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    hg_qpart_t *self = *self_p;
    for (size_t i = 0; i < self->n; i++) {
        free ((char *) self->cells[i].key);
    }
    free (self->cells);
    free (self->stamps);
    free (self->slots);
    free (self);
    *self_p = NULL;
}

static int
s_grow (hg_qpart_t *self)
{
    size_t n_slots = self->n_slots * 2;
    uint32_t *slots = calloc (n_slots, sizeof (*slots));
    if (!slots) {
        return -1;
    }
    for (size_t i = 0; i < self->n; i++) {
        size_t j = s_hash (self->cells[i].key, self->cells[i].key_len) & (n_slots - 1);
        while (slots[j]) {
            j = (j + 1) & (n_slots - 1);
        }
        slots[j] = (uint32_t) i + 1;
    }
    free (self->slots);
    self->slots = slots;
    self->n_slots = n_slots;
    return 0;
}

/* The cell of key, created when missing; NULL when out of memory. */
static size_t
s_find (hg_qpart_t *self, const char *key, size_t len, bool *oom)
{
    size_t j = s_hash (key, len) & (self->n_slots - 1);
    for (; self->slots[j]; j = (j + 1) & (self->n_slots - 1)) {
        const hg_qcell_t *c = &self->cells[self->slots[j] - 1];
        if (c->key_len == len && memcmp (c->key, key, len) == 0) {
            return self->slots[j] - 1;
        }
    }
    if (self->n == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 64;
        hg_qcell_t *cells = realloc (self->cells, cap * sizeof (*cells));
        self->cells = cells ? cells : self->cells;
        uint64_t *stamps = cells ? realloc (self->stamps, cap * sizeof (*stamps)) : NULL;
        self->stamps = stamps ? stamps : self->stamps;
        if (!cells || !stamps) {
            *oom = true;
            return 0;
        }
        self->cap = cap;
    }
    char *copy = malloc (len + 1);
    if (!copy) {
        *oom = true;
        return 0;
    }
    memcpy (copy, key, len);
    copy[len] = '\0';
    size_t i = self->n++;
    self->cells[i] = (hg_qcell_t) {copy, len, 0, 0, 0};
    self->stamps[i] = 0;
    self->slots[j] = (uint32_t) i + 1;
    if (self->n * 2 > self->n_slots && s_grow (self) < 0) {
        *oom = true;
    }
    return i;
}

int
hg_qpart_add (hg_qpart_t *self, const char *key, size_t len, uint64_t patients, uint64_t records,
              uint64_t denominator)
{
    bool oom = false;
    size_t i = s_find (self, key, len, &oom);
    if (oom) {
        return -1;
    }
    self->cells[i].patients += patients;
    self->cells[i].records += records;
    self->cells[i].denominator += denominator;
    return 0;
}

void
hg_qpart_next (hg_qpart_t *self)
{
    self->stamp++;
}

int
hg_qpart_touch (hg_qpart_t *self, const char *key, size_t len, uint64_t records)
{
    bool oom = false;
    size_t i = s_find (self, key, len, &oom);
    if (oom) {
        return -1;
    }
    if (self->stamps[i] != self->stamp) {
        self->stamps[i] = self->stamp;
        self->cells[i].patients++;
    }
    self->cells[i].records += records;
    return 0;
}

const hg_qcell_t *
hg_qpart_cells (const hg_qpart_t *self, size_t *n)
{
    *n = self->n;
    return self->cells;
}

/* ---- the answer ----------------------------------------------------------- */

/* patients, records (when with_records) and suppressed of c into o. */
static void
s_put_counts (json_object *o, const hg_qcell_t *c, bool with_records, uint64_t min_cell)
{
    hg_count_t n = {c ? c->patients : 0, c ? c->records : 0, false};
    hg_count_suppress (&n, min_cell);
    json_object_object_add (o, "patients",
                            n.suppressed ? NULL : json_object_new_uint64 (n.patients));
    if (with_records) {
        json_object_object_add (o, "records",
                                n.suppressed ? NULL : json_object_new_uint64 (n.records));
    }
    json_object_object_add (o, "suppressed", json_object_new_boolean (n.suppressed));
}

/* denominator and rate of a prevalence cell. */
static void
s_put_rate (json_object *o, const hg_qcell_t *c, double per, uint64_t min_cell)
{
    hg_count_t num = {c->patients, 0, false}, den = {c->denominator, 0, false};
    hg_count_suppress (&num, min_cell);
    hg_count_suppress (&den, min_cell);
    json_object_object_add (o, "denominator",
                            den.suppressed ? NULL : json_object_new_uint64 (den.patients));
    bool rate = !num.suppressed && !den.suppressed && den.patients > 0;
    json_object_object_add (o, "rate",
                            rate ? json_object_new_double ((double) num.patients * per
                                                           / (double) den.patients)
                                 : NULL);
}

static int
s_cmp_key (const void *a, const void *b)
{
    const hg_qcell_t *x = *(const hg_qcell_t *const *) a, *y = *(const hg_qcell_t *const *) b;
    return strcmp (x->key, y->key);
}

static int
s_cmp_top (const void *a, const void *b)
{
    const hg_qcell_t *x = *(const hg_qcell_t *const *) a, *y = *(const hg_qcell_t *const *) b;
    if (x->patients != y->patients) {
        return x->patients > y->patients ? -1 : 1;
    }
    return strcmp (x->key, y->key);
}

/* The cells of section lead, sorted (by key, or for top by patients). */
static const hg_qcell_t **
s_section (const hg_qpart_t *m, char lead, bool top, size_t *n)
{
    const hg_qcell_t **v = malloc ((m->n + 1) * sizeof (*v));
    *n = 0;
    for (size_t i = 0; v && i < m->n; i++) {
        if (m->cells[i].key[0] == lead && m->cells[i].key[1] == S_SEP) {
            v[(*n)++] = &m->cells[i];
        }
    }
    if (v) {
        qsort (v, *n, sizeof (*v), top ? s_cmp_top : s_cmp_key);
    }
    return v;
}

static void
s_cells (json_object *ans, const hg_query_t *q, const hg_qpart_t *m, uint64_t min_cell)
{
    size_t n;
    const hg_qcell_t **v = s_section (m, 'C', false, &n);
    json_object *arr = json_object_new_array ();
    for (size_t i = 0; v && i < n; i++) {
        json_object *o = json_object_new_object ();
        const char *p = v[i]->key + 2;
        for (size_t b = 0; b < q->n_by; b++) {
            const char *end = strchr (p, S_SEP);
            size_t len = end ? (size_t) (end - p) : strlen (p);
            json_object_object_add (o, hg_query_by_name (q->by[b]),
                                    json_object_new_string_len (p, (int) len));
            p = end ? end + 1 : p + len;
        }
        s_put_counts (o, v[i], q->kind == HG_QM_RECORDS, min_cell);
        if (q->kind == HG_QM_PREVALENCE) {
            s_put_rate (o, v[i], q->per, min_cell);
        }
        json_object_array_add (arr, o);
    }
    free (v);
    json_object_object_add (ans, "cells", arr);
}

static const hg_qcell_t *
s_get (const hg_qpart_t *m, const char *key)
{
    for (size_t i = 0; i < m->n; i++) {
        if (strcmp (m->cells[i].key, key) == 0) {
            return &m->cells[i];
        }
    }
    return NULL;
}

static void
s_bins (json_object *ans, const hg_query_t *q, const hg_qpart_t *m, uint64_t min_cell)
{
    json_object *arr = json_object_new_array ();
    for (size_t b = 0; b + 1 < q->n_bins; b++) {
        char key[32];
        snprintf (key, sizeof (key), "B%c%03zu", S_SEP, b);
        json_object *o = json_object_new_object ();
        json_object_object_add (o, "from", json_object_new_double (q->bins[b]));
        json_object_object_add (o, "to", json_object_new_double (q->bins[b + 1]));
        s_put_counts (o, s_get (m, key), true, min_cell);
        json_object_array_add (arr, o);
    }
    json_object_object_add (ans, "bins", arr);
}

static void
s_list (json_object *ans, const hg_query_t *q, const hg_qpart_t *m, uint64_t min_cell)
{
    bool top = q->kind == HG_QM_TOP;
    size_t n;
    const hg_qcell_t **v = s_section (m, top ? 'K' : 'S', top, &n);
    json_object *arr = json_object_new_array ();
    for (size_t i = 0; v && i < n && (!top || i < q->top_n); i++) {
        json_object *o = json_object_new_object ();
        json_object_object_add (o, top ? "code" : "period",
                                json_object_new_string (v[i]->key + 2));
        s_put_counts (o, v[i], top, min_cell);
        json_object_array_add (arr, o);
    }
    free (v);
    json_object_object_add (ans, top ? "top" : "series", arr);
}

char *
hg_query_answer (const hg_query_t *q, const hg_qpart_t *merged, uint64_t min_cell,
                 unsigned shards, const hg_analyst_t *who, hg_arena_t *arena)
{
    (void) who; /* the disclosure control's (disclose.c) */
    json_object *ans = json_object_new_object ();
    if (!ans) {
        return NULL;
    }
    const hg_qcell_t *total = s_get (merged, "T");
    hg_qcell_t zero = {"T", 1, 0, 0, 0};
    json_object_object_add (ans, "measure",
                            json_object_new_string (hg_query_kind_name (q->kind)));
    s_put_counts (ans, total, q->kind == HG_QM_RECORDS, min_cell);
    if (q->n_by) {
        s_cells (ans, q, merged, min_cell);
    }
    switch (q->kind) {
    case HG_QM_DISTRIBUTION:
        s_bins (ans, q, merged, min_cell);
        break;
    case HG_QM_SERIES:
    case HG_QM_TOP:
        s_list (ans, q, merged, min_cell);
        break;
    case HG_QM_PREVALENCE:
        json_object_object_add (ans, "per", json_object_new_double (q->per));
        s_put_rate (ans, total ? total : &zero, q->per, min_cell);
        break;
    default:
        break;
    }
    json_object_object_add (ans, "shards", json_object_new_int ((int) shards));
    char *out = hg_arena_strdup (arena,
                                 json_object_to_json_string_ext (ans, JSON_C_TO_STRING_PLAIN));
    json_object_put (ans);
    return out;
}
