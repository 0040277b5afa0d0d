/*
 * record.c -- canonical record constructors and kind names (the content
 * key is in content_key.c, shard routing in shard.c, the packed batch walk
 * in record_batch.c; the parse batch is the cleanser's, services/cleanser/batch.c).
 */
#include "record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
hg_record_add_code (hg_arena_t *a, Hourglass__Record *rec, const char *system, const char *code,
                    const char *display)
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
    case HOURGLASS__RECORD_KIND__KIND_DEMOGRAPHICS:
        return "demographics";
    case HOURGLASS__RECORD_KIND__KIND_ENCOUNTER:
        return "encounter";
    case HOURGLASS__RECORD_KIND__KIND_CONDITION:
        return "condition";
    case HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION:
        return "lab-observation";
    case HOURGLASS__RECORD_KIND__KIND_MEDICATION:
        return "medication";
    case HOURGLASS__RECORD_KIND__KIND_PROCEDURE:
        return "procedure";
    case HOURGLASS__RECORD_KIND__KIND_IMAGING_STUDY:
        return "imaging-study";
    case HOURGLASS__RECORD_KIND__KIND_GENOMIC_VARIANT:
        return "genomic-variant";
    case HOURGLASS__RECORD_KIND__KIND_NOTE:
        return "note";
    default:
        return "unknown";
    }
}
