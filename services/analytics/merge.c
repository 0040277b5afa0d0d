/*
 * merge.c -- the partial aggregates of a query (key -> patients, records,
 * denominator), their merge across shards, and the answer JSON with
 * small-cell suppression on every number (see query.h).
 */
#define _GNU_SOURCE /* qsort_r */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "query.h"
#include "disclose.h"

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

/* One released row (a cell, bin, period or code): its counts. */
typedef struct {
    const hg_qcell_t *src; /* NULL: an empty bin */
    hg_dnum_t pat, rec, den;
} s_row_t;

typedef struct {
    const hg_query_t *q;
    const hg_disclose_policy_t *pol;
    const hg_analyst_t *who;
    bool dp, exact;
    unsigned sensitivity; /* dp */
    int complementary;    /* numbers suppressed to protect others */
    unsigned nulls;       /* numbers released as null */
    bool oom;
} s_ctx_t;

static void
s_row_init (s_row_t *r, const hg_qcell_t *c)
{
    memset (r, 0, sizeof (*r));
    r->src = c;
    r->pat.value = c ? c->patients : 0;
    r->rec.value = c ? c->records : 0;
    r->den.value = c ? c->denominator : 0;
}

/* The first step of every number: the threshold (role aggregate), or noise
 * and the threshold of the noisy count (role dp; records have no bound on
 * one patient's part, so dp withholds them). */
static void
s_first (s_ctx_t *x, s_row_t *r)
{
    if (x->dp) {
        hg_disclose_noise_num (&r->pat, x->pol, x->sensitivity);
        hg_disclose_noise_num (&r->den, x->pol, x->sensitivity);
        r->rec.suppressed = true;
        return;
    }
    uint64_t m = x->exact ? 0 : x->pol->min_cell;
    hg_disclose_threshold (&r->pat, m);
    hg_disclose_threshold (&r->den, m);
    hg_disclose_threshold (&r->rec, 0);
    r->rec.suppressed = r->pat.suppressed; /* records could reveal the patients */
}

/* Role aggregate, after the complements: every shown count rounded. */
static void
s_last (s_ctx_t *x, s_row_t *r)
{
    if (!x->dp && !x->exact) {
        hg_disclose_round_num (&r->pat, x->pol->round_to);
        hg_disclose_round_num (&r->rec, x->pol->round_to);
        hg_disclose_round_num (&r->den, x->pol->round_to);
    }
}

/* Complementary suppression of the rows (role aggregate): of the patients
 * against margin, then of the records (a records complement withholds the
 * row's patients too), then of the denominators. Returns true when no
 * suppression protects them: the section is withheld. */
static bool
s_protect (s_ctx_t *x, s_row_t *rows, size_t n, size_t n_dims, const uint32_t *coords,
           s_row_t *total, bool with_records, bool with_den)
{
    if (x->dp || x->exact || n == 0) {
        return false;
    }
    hg_dnum_t *v = malloc (n * sizeof (*v));
    if (!v) {
        x->oom = true;
        return true;
    }
    bool withheld = false;
    uint64_t m = x->pol->min_cell;
    for (int pass = 0; pass < 3; pass++) {
        if ((pass == 1 && !with_records) || (pass == 2 && !with_den)) {
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            v[i] = pass == 0 ? rows[i].pat : pass == 1 ? rows[i].rec : rows[i].den;
        }
        hg_dtable_t t = {n_dims, n, coords, v, NULL, m, 1, m, m + 1, x->pol->round_to, false};
        if (total) {
            t.margin = pass == 0 ? &total->pat : pass == 1 ? &total->rec : &total->den;
        }
        if (pass == 1) { /* records: at least one per patient, no upper bound */
            t.min_cell = 0;
            t.sup_hi = UINT64_MAX;
        }
        int added = hg_disclose_protect (&t);
        x->oom |= added < 0;
        x->complementary += added > 0 ? added : 0;
        withheld |= t.withheld;
        for (size_t i = 0; i < n; i++) {
            if (pass == 0) {
                rows[i].pat = v[i];
                rows[i].rec.suppressed |= v[i].suppressed;
                rows[i].rec.complementary |= v[i].complementary;
            }
            else if (pass == 1) {
                rows[i].rec = v[i];
                rows[i].pat.suppressed |= v[i].suppressed;
                rows[i].pat.complementary |= v[i].complementary && !rows[i].pat.suppressed;
            }
            else {
                rows[i].den = v[i];
            }
        }
    }
    free (v);
    for (size_t i = 0; withheld && i < n; i++) {
        rows[i].pat.suppressed = rows[i].rec.suppressed = rows[i].den.suppressed = true;
    }
    return withheld;
}

/* A section no suppression protects (every stratum of a small cohort
 * holding one patient): none of its entries, not even which exist. */
static void
s_withhold (json_object *ans, const char *section, json_object **arr)
{
    char name[32];
    snprintf (name, sizeof (name), "%s_withheld", section);
    json_object_object_add (ans, name, json_object_new_boolean (true));
    json_object_put (*arr);
    *arr = json_object_new_array ();
}

static json_object *
s_num (s_ctx_t *x, const hg_dnum_t *n)
{
    x->nulls += n->suppressed;
    return n->suppressed ? NULL : json_object_new_uint64 (n->shown);
}

/* patients, records (when with_records) and suppressed of r into o. */
static void
s_put_counts (s_ctx_t *x, json_object *o, const s_row_t *r, bool with_records)
{
    json_object_object_add (o, "patients", s_num (x, &r->pat));
    if (with_records) {
        json_object_object_add (o, "records", s_num (x, &r->rec));
    }
    json_object_object_add (o, "suppressed", json_object_new_boolean (r->pat.suppressed));
}

/* denominator and rate of a prevalence row, the rate from the numbers
 * shown (an exact rate would undo their rounding or noise). */
static void
s_put_rate (s_ctx_t *x, json_object *o, const s_row_t *r, double per)
{
    json_object_object_add (o, "denominator", s_num (x, &r->den));
    bool rate = !r->pat.suppressed && !r->den.suppressed && r->den.shown > 0;
    json_object_object_add (o, "rate",
                            rate ? json_object_new_double ((double) r->pat.shown * per
                                                           / (double) r->den.shown)
                                 : NULL);
}

static int
s_cmp_key (const void *a, const void *b)
{
    const hg_qcell_t *x = *(const hg_qcell_t *const *) a, *y = *(const hg_qcell_t *const *) b;
    return strcmp (x->key, y->key);
}

/* Top codes by the count shown, suppressed ones last, ties by code: the
 * order tells nothing the numbers do not. */
static int
s_cmp_top (const void *a, const void *b)
{
    const s_row_t *x = a, *y = b;
    if (x->pat.suppressed != y->pat.suppressed) {
        return x->pat.suppressed ? 1 : -1;
    }
    if (!x->pat.suppressed && x->pat.shown != y->pat.shown) {
        return x->pat.shown > y->pat.shown ? -1 : 1;
    }
    return strcmp (x->src->key, y->src->key);
}

/* The cells of section lead, sorted by key. */
static const hg_qcell_t **
s_section (const hg_qpart_t *m, char lead, size_t *n)
{
    const hg_qcell_t **v = malloc ((m->n + 1) * sizeof (*v));
    *n = 0;
    for (size_t i = 0; v && i < m->n; i++) {
        if (m->cells[i].key[0] == lead && m->cells[i].key[1] == S_SEP) {
            v[(*n)++] = &m->cells[i];
        }
    }
    if (v) {
        qsort (v, *n, sizeof (*v), s_cmp_key);
    }
    return v;
}

/* The rows of a section with their counts' first step. */
static s_row_t *
s_rows (s_ctx_t *x, const hg_qcell_t **v, size_t n)
{
    s_row_t *rows = malloc ((n + 1) * sizeof (*rows));
    if (!rows) {
        x->oom = true;
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        s_row_init (&rows[i], v[i]);
        s_first (x, &rows[i]);
    }
    return rows;
}

/* The value of dimension d of a cell key ("C" SEP v0 SEP v1 ...). */
static const char *
s_dim (const char *key, size_t d, size_t *len)
{
    const char *p = key + 2;
    for (size_t k = 0; k < d; k++) {
        const char *end = strchr (p, S_SEP);
        p = end ? end + 1 : p + strlen (p);
    }
    const char *end = strchr (p, S_SEP);
    *len = end ? (size_t) (end - p) : strlen (p);
    return p;
}

/* The coordinates of the cells (v sorted by key): per dimension, the rank
 * of its value among the values present. */
typedef struct {
    const hg_qcell_t **v;
    size_t d;
} s_dimctx_t;

static int
s_cmp_dim (const void *a, const void *b, void *ctx)
{
    const s_dimctx_t *c = ctx;
    size_t la, lb;
    const char *pa = s_dim (c->v[*(const size_t *) a]->key, c->d, &la);
    const char *pb = s_dim (c->v[*(const size_t *) b]->key, c->d, &lb);
    int r = memcmp (pa, pb, la < lb ? la : lb);
    return r ? r : (la > lb) - (la < lb);
}

static uint32_t *
s_coords (const hg_query_t *q, const hg_qcell_t **v, size_t n)
{
    uint32_t *coords = calloc (n * q->n_by + 1, sizeof (*coords));
    size_t *idx = malloc ((n + 1) * sizeof (*idx));
    for (size_t d = 0; coords && idx && d < q->n_by; d++) {
        for (size_t i = 0; i < n; i++) {
            idx[i] = i;
        }
        s_dimctx_t c = {v, d};
        qsort_r (idx, n, sizeof (*idx), s_cmp_dim, &c);
        uint32_t rank = 0;
        for (size_t k = 0; k < n; k++) {
            rank += k > 0 && s_cmp_dim (&idx[k - 1], &idx[k], &c) != 0;
            coords[idx[k] * q->n_by + d] = rank;
        }
    }
    if (!idx) {
        free (coords);
        coords = NULL;
    }
    free (idx);
    return coords;
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

/* The values of a patient stratum with a closed domain (eval.c writes no
 * other); NULL for an open one (state). */
static const char *const s_sexes[] = {"female", "male", "other", "unknown", NULL};
static const char *const s_ages[] = {"0-9",   "10-19", "20-29", "30-39", "40-49",   "50-59",
                                     "60-69", "70-79", "80-89", "90+",   "unknown", NULL};

static const char *const *
s_domain (hg_qby_t by)
{
    return by == HG_QBY_SEX ? s_sexes : by == HG_QBY_AGE_GROUP ? s_ages : NULL;
}

static bool
s_closed (const hg_query_t *q)
{
    for (size_t b = 0; b < q->n_by; b++) {
        if (!s_domain (q->by[b])) {
            return false;
        }
    }
    return q->n_by > 0;
}

/* Whether every value of a cell key is in its stratum's closed domain. */
static bool
s_in_domain (const hg_query_t *q, const char *key)
{
    for (size_t b = 0; b < q->n_by; b++) {
        size_t len;
        const char *p = s_dim (key, b, &len);
        const char *const *d = s_domain (q->by[b]);
        while (d && *d && !(strlen (*d) == len && memcmp (*d, p, len) == 0)) {
            d++;
        }
        if (!d || !*d) {
            return false;
        }
    }
    return true;
}

/* Role dp over closed domains: the strata of the product that no patient
 * is in, as zero cells (keys malloc'd, *n of them), so that every stratum is
 * listed with its noisy count and which ones exist says nothing. */
static hg_qcell_t *
s_domain_cells (const hg_query_t *q, const hg_qpart_t *m, size_t *n)
{
    size_t total = 1, idx[HG_QUERY_BY_MAX] = {0};
    for (size_t b = 0; b < q->n_by; b++) {
        size_t k = 0;
        while (s_domain (q->by[b])[k]) {
            k++;
        }
        total *= k;
    }
    hg_qcell_t *out = calloc (total + 1, sizeof (*out));
    *n = 0;
    for (size_t t = 0; out && t < total; t++) {
        char key[256] = {'C', S_SEP};
        size_t len = 2;
        for (size_t b = 0; b < q->n_by; b++) {
            len += (size_t) snprintf (key + len, sizeof (key) - len, "%s%s", b ? "\x1f" : "",
                                      s_domain (q->by[b])[idx[b]]);
        }
        if (!s_get (m, key)) {
            out[*n].key = strdup (key);
            out[*n].key_len = len;
            *n += out[*n].key != NULL;
        }
        for (size_t b = q->n_by; b-- > 0;) { /* the next of the product */
            if (s_domain (q->by[b])[++idx[b]]) {
                break;
            }
            idx[b] = 0;
        }
    }
    return out;
}

static void
s_cells (json_object *ans, s_ctx_t *x, const hg_qpart_t *m, s_row_t *total)
{
    const hg_query_t *q = x->q;
    size_t n, n_zero = 0;
    const hg_qcell_t **v = s_section (m, 'C', &n);
    bool closed = x->dp && s_closed (q);
    hg_qcell_t *zero = closed ? s_domain_cells (q, m, &n_zero) : NULL;
    const hg_qcell_t **all = v && n_zero ? realloc (v, (n + n_zero + 1) * sizeof (*v)) : NULL;
    if (all) {
        v = all;
        for (size_t i = 0; i < n_zero; i++) {
            v[n++] = &zero[i];
        }
        qsort (v, n, sizeof (*v), s_cmp_key);
    }
    s_row_t *rows = v ? s_rows (x, v, n) : NULL;
    uint32_t *coords = rows ? s_coords (q, v, n) : NULL;
    json_object *arr = json_object_new_array ();
    bool withheld = coords
                    && s_protect (x, rows, n, q->n_by, coords, total, q->kind == HG_QM_RECORDS,
                                  q->kind == HG_QM_PREVALENCE);
    for (size_t i = 0; coords && !withheld && i < n; i++) {
        s_last (x, &rows[i]);
        if (x->dp && rows[i].pat.shown <= x->pol->min_cell
            && !(closed && s_in_domain (q, v[i]->key))) {
            continue; /* dp, open domain: listed when its noisy count is above min_cell */
        }
        json_object *o = json_object_new_object ();
        for (size_t b = 0; b < q->n_by; b++) {
            size_t len;
            const char *p = s_dim (v[i]->key, b, &len);
            json_object_object_add (o, hg_query_by_name (q->by[b]),
                                    json_object_new_string_len (p, (int) len));
        }
        s_put_counts (x, o, &rows[i], q->kind == HG_QM_RECORDS);
        if (q->kind == HG_QM_PREVALENCE) {
            s_put_rate (x, o, &rows[i], q->per);
        }
        json_object_array_add (arr, o);
    }
    x->oom |= !coords || (closed && !zero);
    if (withheld) {
        s_withhold (ans, "cells", &arr);
    }
    for (size_t i = 0; i < n_zero; i++) {
        free ((char *) zero[i].key);
    }
    free (zero);
    free (coords);
    free (rows);
    free (v);
    json_object_object_add (ans, "cells", arr);
}

/* Bins and series: a one-way table each, whose sum the analyst is taken to
 * know (patients in several bins or periods make it more than the cohort,
 * so this overstates what they know: the safe side). */
static void
s_bins (json_object *ans, s_ctx_t *x, const hg_qpart_t *m)
{
    const hg_query_t *q = x->q;
    size_t n = q->n_bins > 1 ? q->n_bins - 1 : 0;
    s_row_t *rows = calloc (n + 1, sizeof (*rows));
    x->oom |= !rows;
    for (size_t b = 0; rows && b < n; b++) {
        char key[32];
        snprintf (key, sizeof (key), "B%c%03zu", S_SEP, b);
        s_row_init (&rows[b], s_get (m, key));
        s_first (x, &rows[b]);
    }
    bool withheld = false;
    if (rows) {
        uint32_t *coords = calloc (n + 1, sizeof (*coords));
        x->oom |= !coords;
        withheld = coords && s_protect (x, rows, n, 1, coords, NULL, true, false);
        free (coords);
    }
    json_object *arr = json_object_new_array ();
    for (size_t b = 0; rows && b < n; b++) {
        s_last (x, &rows[b]);
        json_object *o = json_object_new_object ();
        json_object_object_add (o, "from", json_object_new_double (q->bins[b]));
        json_object_object_add (o, "to", json_object_new_double (q->bins[b + 1]));
        if (withheld) { /* every bin null, the empty ones too */
            rows[b].pat.suppressed = rows[b].rec.suppressed = true;
        }
        s_put_counts (x, o, &rows[b], true);
        json_object_array_add (arr, o);
    }
    if (withheld) {
        json_object_object_add (ans, "bins_withheld", json_object_new_boolean (true));
    }
    free (rows);
    json_object_object_add (ans, "bins", arr);
}

static void
s_list (json_object *ans, s_ctx_t *x, const hg_qpart_t *m)
{
    const hg_query_t *q = x->q;
    bool top = q->kind == HG_QM_TOP;
    size_t n;
    const hg_qcell_t **v = s_section (m, top ? 'K' : 'S', &n);
    s_row_t *rows = v ? s_rows (x, v, n) : NULL;
    json_object *arr = json_object_new_array ();
    bool withheld = false;
    if (rows && !top) {
        uint32_t *coords = calloc (n + 1, sizeof (*coords));
        x->oom |= !coords;
        withheld = coords && s_protect (x, rows, n, 1, coords, NULL, false, false);
        free (coords);
    }
    for (size_t i = 0; rows && i < n; i++) {
        s_last (x, &rows[i]);
    }
    if (rows && top) {
        qsort (rows, n, sizeof (*rows), s_cmp_top);
    }
    for (size_t i = 0, listed = 0; rows && !withheld && i < n && (!top || listed < q->top_n);
         i++) {
        if (x->dp && rows[i].pat.shown <= x->pol->min_cell) {
            continue; /* a code is listed when its noisy count is above min_cell */
        }
        json_object *o = json_object_new_object ();
        json_object_object_add (o, top ? "code" : "period",
                                json_object_new_string (rows[i].src->key + 2));
        s_put_counts (x, o, &rows[i], top);
        json_object_array_add (arr, o);
        listed++;
    }
    if (withheld) {
        s_withhold (ans, "series", &arr);
    }
    free (rows);
    free (v);
    json_object_object_add (ans, top ? "top" : "series", arr);
}

int
hg_query_dp_sensitivity (const hg_query_t *q, unsigned *sensitivity, hg_err_t *err)
{
    for (size_t i = 0; i < q->n_by; i++) {
        if (q->by[i] >= HG_QBY_YEAR) {
            return hg_err_set (err, HG_EINVAL,
                               "the dp role stratifies only by the patient's sex, age_group "
                               "and state: by %s counts one patient in many strata",
                               hg_query_by_name (q->by[i]));
        }
    }
    switch (q->kind) {
    case HG_QM_PATIENTS: /* the total, and one stratum */
        *sensitivity = q->n_by ? 2 : 1;
        return 0;
    case HG_QM_PREVALENCE: /* numerator and denominator of the total and a stratum */
        *sensitivity = q->n_by ? 4 : 2;
        return 0;
    case HG_QM_DISTRIBUTION: /* the total and every bin */
        *sensitivity = (unsigned) (q->n_bins > 1 ? q->n_bins : 1);
        return 0;
    default:
        return hg_err_set (err, HG_EINVAL,
                           "the dp role answers the measures patients, prevalence and "
                           "distribution; %s counts have no bound on what one patient adds",
                           hg_query_kind_name (q->kind));
    }
}

/* What the answer says of its own disclosure control. */
static void
s_put_disclosure (json_object *ans, const s_ctx_t *x)
{
    json_object *d = json_object_new_object ();
    json_object_object_add (d, "role",
                            json_object_new_string (x->dp      ? "dp"
                                                    : x->exact ? "exact"
                                                               : "aggregate"));
    json_object_object_add (d, "min_cell",
                            json_object_new_uint64 (x->exact ? 0 : x->pol->min_cell));
    if (x->dp) {
        json_object_object_add (d, "epsilon", json_object_new_double (x->pol->epsilon));
        json_object_object_add (d, "sensitivity", json_object_new_int ((int) x->sensitivity));
    }
    else if (!x->exact) {
        json_object_object_add (d, "round_to",
                                json_object_new_uint64 (x->pol->round_to > 1 ? x->pol->round_to
                                                                             : 1));
        json_object_object_add (d, "complementary", json_object_new_int (x->complementary));
    }
    json_object_object_add (ans, "disclosure", d);
    if (x->dp) {
        json_object *e = json_object_new_object ();
        json_object_object_add (e, "spent", json_object_new_double (x->pol->epsilon_spent));
        json_object_object_add (e, "left", json_object_new_double (x->pol->epsilon_left));
        json_object_object_add (ans, "epsilon", e);
    }
}

char *
hg_query_answer (const hg_query_t *q, const hg_qpart_t *merged, const hg_disclose_policy_t *pol,
                 const hg_analyst_t *who, unsigned shards, hg_answer_stats_t *stats,
                 hg_arena_t *arena)
{
    s_ctx_t x = {q, pol, who, who && who->role == HG_ANALYST_DP, false, 1, 0, 0, false};
    x.exact = !x.dp && pol->min_cell == 0;
    if (x.dp && hg_query_dp_sensitivity (q, &x.sensitivity, &(hg_err_t) {0}) < 0) {
        return NULL; /* the caller checks before asking the shards */
    }
    json_object *ans = json_object_new_object ();
    if (!ans) {
        return NULL;
    }
    s_row_t total;
    s_row_init (&total, s_get (merged, "T"));
    s_first (&x, &total);
    json_object_object_add (ans, "measure",
                            json_object_new_string (hg_query_kind_name (q->kind)));
    s_put_counts (&x, ans, &total, q->kind == HG_QM_RECORDS); /* its place; its value below */
    x.nulls = 0;
    if (q->n_by) {
        s_cells (ans, &x, merged, &total);
    }
    switch (q->kind) {
    case HG_QM_DISTRIBUTION:
        s_bins (ans, &x, merged);
        break;
    case HG_QM_SERIES:
    case HG_QM_TOP:
        s_list (ans, &x, merged);
        break;
    default:
        break;
    }
    s_last (&x, &total);
    s_put_counts (&x, ans, &total, q->kind == HG_QM_RECORDS);
    if (q->kind == HG_QM_PREVALENCE) {
        json_object_object_add (ans, "per", json_object_new_double (q->per));
        s_put_rate (&x, ans, &total, q->per);
    }
    s_put_disclosure (ans, &x);
    json_object_object_add (ans, "shards", json_object_new_int ((int) shards));
    if (stats) {
        *stats = (hg_answer_stats_t) {x.nulls, (unsigned) x.complementary};
    }
    char *out = x.oom ? NULL
                      : hg_arena_strdup (arena,
                                         json_object_to_json_string_ext (ans,
                                                                         JSON_C_TO_STRING_PLAIN));
    json_object_put (ans);
    return out;
}
