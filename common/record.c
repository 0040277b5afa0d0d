/*
 * record.c -- canonical record constructors and the parse batch (the
 * content key is in content_key.c, shard routing in shard.c, the packed
 * batch walk in record_batch.c).
 */
#include "record.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


struct hg_batch {
    hg_arena_t *arena;          /* owns every record and reject string */
    Hourglass__Record **records;
    size_t n_records, cap_records;
    hg_reject_t *rejects;       /* malloc'd array; strings in arena */
    size_t n_rejects, cap_rejects;
    size_t n_ignored;
};

hg_batch_t *
hg_batch_new (size_t arena_limit_bytes)
{
    hg_batch_t *self = calloc (1, sizeof (*self));
    if (!self) {
        return NULL;
    }
    self->arena = hg_arena_new (arena_limit_bytes);
    if (!self->arena) {
        free (self);
        return NULL;
    }
    return self;
}

void
hg_batch_destroy (hg_batch_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    hg_batch_t *self = *self_p;
    hg_arena_destroy (&self->arena);
    free (self->records);
    free (self->rejects);
    free (self);
    *self_p = NULL;
}

void
hg_batch_reset (hg_batch_t *self)
{
    hg_arena_reset (self->arena);
    self->n_records = 0;
    self->n_rejects = 0;
    self->n_ignored = 0;
}

hg_arena_t *
hg_batch_arena (hg_batch_t *self)
{
    return self->arena;
}

Hourglass__Record *
hg_batch_add_record (hg_batch_t *self, Hourglass__RecordKind kind)
{
    if (self->n_records == self->cap_records) {
        size_t cap = self->cap_records ? self->cap_records * 2 : 16;
        Hourglass__Record **r = realloc (self->records, cap * sizeof (*r));
        if (!r) {
            return NULL;
        }
        self->records = r;
        self->cap_records = cap;
    }
    Hourglass__Record *rec = hg_arena_alloc (self->arena, sizeof (*rec));
    if (!rec) {
        return NULL;
    }
    hourglass__record__init (rec);
    rec->kind = kind;
    self->records[self->n_records++] = rec;
    return rec;
}

void
hg_batch_drop_last (hg_batch_t *self)
{
    if (self->n_records > 0) {
        self->n_records--;
    }
}

void
hg_batch_reject (hg_batch_t *self, const char *excerpt, size_t excerpt_len,
                 const char *location, const char *fmt, ...)
{
    if (self->n_rejects == self->cap_rejects) {
        size_t cap = self->cap_rejects ? self->cap_rejects * 2 : 8;
        hg_reject_t *r = realloc (self->rejects, cap * sizeof (*r));
        if (!r) {
            return;
        }
        self->rejects = r;
        self->cap_rejects = cap;
    }
    /* reject strings must survive an exhausted arena: they are small, so
     * they come from a fresh allocation of the same arena only when it has
     * room, else from static fallbacks */
    hg_reject_t *rj = &self->rejects[self->n_rejects++];
    char reason[512];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (reason, sizeof (reason), fmt, ap);
    va_end (ap);
    rj->location = hg_arena_strdup (self->arena, location ? location : "");
    rj->reason = hg_arena_strdup (self->arena, reason);
    if (!rj->location) {
        rj->location = (char *) "payload";
    }
    if (!rj->reason) {
        rj->reason = (char *) "payload exceeds parser memory limit";
    }
    rj->excerpt = NULL;
    rj->excerpt_len = 0;
    if (excerpt && excerpt_len > 0) {
        size_t n = excerpt_len > HG_REJECT_EXCERPT_MAX ? HG_REJECT_EXCERPT_MAX : excerpt_len;
        rj->excerpt = hg_arena_strndup (self->arena, excerpt, n);
        rj->excerpt_len = rj->excerpt ? n : 0;
    }
}

void
hg_batch_ignore (hg_batch_t *self)
{
    self->n_ignored++;
}

size_t hg_batch_record_count (const hg_batch_t *self) { return self->n_records; }
Hourglass__Record **hg_batch_records (hg_batch_t *self) { return self->records; }
size_t hg_batch_reject_count (const hg_batch_t *self) { return self->n_rejects; }
const hg_reject_t *hg_batch_rejects (const hg_batch_t *self) { return self->rejects; }
size_t hg_batch_ignored (const hg_batch_t *self) { return self->n_ignored; }

static char *
s_dup (hg_arena_t *a, const char *s)
{
    if (!s || !*s) {
        return (char *) protobuf_c_empty_string;
    }
    return hg_arena_strdup (a, s);
}

Hourglass__Coding *
hg_coding_new (hg_arena_t *a, const char *system, const char *code, const char *display)
{
    Hourglass__Coding *c = hg_arena_alloc (a, sizeof (*c));
    if (!c) {
        return NULL;
    }
    hourglass__coding__init (c);
    c->system = s_dup (a, system);
    c->code = s_dup (a, code);
    c->display = s_dup (a, display);
    if (!c->system || !c->code || !c->display) {
        return NULL;
    }
    return c;
}

Hourglass__Demographics *
hg_demographics_new (hg_arena_t *a)
{
    Hourglass__Demographics *d = hg_arena_alloc (a, sizeof (*d));
    if (d) {
        hourglass__demographics__init (d);
    }
    return d;
}

Hourglass__Provenance *
hg_provenance_new (hg_arena_t *a)
{
    Hourglass__Provenance *p = hg_arena_alloc (a, sizeof (*p));
    if (p) {
        hourglass__provenance__init (p);
    }
    return p;
}

Hourglass__Quantity *
hg_quantity_new (hg_arena_t *a, double value, const char *unit)
{
    Hourglass__Quantity *q = hg_arena_alloc (a, sizeof (*q));
    if (!q) {
        return NULL;
    }
    hourglass__quantity__init (q);
    q->value = value;
    q->unit = s_dup (a, unit);
    return q->unit ? q : NULL;
}

Hourglass__Identifier *
hg_identifier_new (hg_arena_t *a, const char *system, const char *value, const char *type)
{
    Hourglass__Identifier *id = hg_arena_alloc (a, sizeof (*id));
    if (!id) {
        return NULL;
    }
    hourglass__identifier__init (id);
    id->system = s_dup (a, system);
    id->value = s_dup (a, value);
    id->type = s_dup (a, type);
    if (!id->system || !id->value || !id->type) {
        return NULL;
    }
    return id;
}

/* Grows an arena array of pointers by one slot. */
static int
s_ptrv_push (hg_arena_t *a, void ***v, size_t *n, void *item)
{
    void **nv = hg_arena_alloc (a, (*n + 1) * sizeof (void *));
    if (!nv) {
        return HG_ENOMEM;
    }
    if (*n) {
        memcpy (nv, *v, *n * sizeof (void *));
    }
    nv[(*n)++] = item;
    *v = nv;
    return 0;
}

int
hg_record_add_code (hg_arena_t *a, Hourglass__Record *rec, const char *system,
                    const char *code, const char *display)
{
    Hourglass__Coding *c = hg_coding_new (a, system, code, display);
    if (!c) {
        return HG_ENOMEM;
    }
    return s_ptrv_push (a, (void ***) &rec->codes, &rec->n_codes, c);
}

int
hg_record_add_identifier (hg_arena_t *a, Hourglass__Record *rec, const char *system,
                          const char *value, const char *type)
{
    Hourglass__Identifier *id = hg_identifier_new (a, system, value, type);
    if (!id) {
        return HG_ENOMEM;
    }
    return s_ptrv_push (a, (void ***) &rec->identifiers, &rec->n_identifiers, id);
}

int
hg_strv_push (hg_arena_t *a, char ***v, size_t *n, const char *s)
{
    char *copy = hg_arena_strdup (a, s);
    if (!copy) {
        return HG_ENOMEM;
    }
    return s_ptrv_push (a, (void ***) v, n, copy);
}

const char *
hg_record_kind_name (Hourglass__RecordKind kind)
{
    switch (kind) {
    case HOURGLASS__RECORD_KIND__KIND_DEMOGRAPHICS: return "demographics";
    case HOURGLASS__RECORD_KIND__KIND_ENCOUNTER: return "encounter";
    case HOURGLASS__RECORD_KIND__KIND_CONDITION: return "condition";
    case HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION: return "lab-observation";
    case HOURGLASS__RECORD_KIND__KIND_MEDICATION: return "medication";
    case HOURGLASS__RECORD_KIND__KIND_PROCEDURE: return "procedure";
    case HOURGLASS__RECORD_KIND__KIND_IMAGING_STUDY: return "imaging-study";
    case HOURGLASS__RECORD_KIND__KIND_GENOMIC_VARIANT: return "genomic-variant";
    case HOURGLASS__RECORD_KIND__KIND_NOTE: return "note";
    default: return "unknown";
    }
}
