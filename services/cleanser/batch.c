/*
 * batch.c -- the cleanser's parse batch (see batch.h).
 */
#include "batch.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hg_batch {
    hg_arena_t *arena; /* owns every record and reject string */
    Hourglass__Record **records;
    size_t n_records, cap_records;
    hg_reject_t *rejects; /* malloc'd array; strings in arena */
    size_t n_rejects, cap_rejects;
    size_t n_ignored;
    hg_ignored_t ignored[HG_BATCH_IGNORE_KINDS];
    size_t n_ignored_kinds;
    size_t limit_base;  /* n_records when the record limit was set */
    size_t max_records; /* 0: no limit */
    bool full;          /* a record was refused for the limit */
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
    self->n_ignored_kinds = 0;
    hg_batch_limit_records (self, 0);
}

hg_arena_t *
hg_batch_arena (hg_batch_t *self)
{
    return self->arena;
}

Hourglass__Record *
hg_batch_add_record (hg_batch_t *self, Hourglass__RecordKind kind)
{
    if (self->max_records && self->n_records >= self->limit_base + self->max_records) {
        self->full = true;
        return NULL;
    }
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

Hourglass__Record *
hg_batch_try_add (hg_batch_t *self, Hourglass__RecordKind kind, bool *limit_hit, bool *oom)
{
    Hourglass__Record *rec = hg_batch_add_record (self, kind);
    if (!rec) {
        *limit_hit = hg_batch_full (self);
        *oom = *oom || !*limit_hit;
    }
    return rec;
}

void
hg_batch_drop_last (hg_batch_t *self)
{
    if (self->n_records > 0) {
        self->n_records--;
    }
}

hg_batch_mark_t
hg_batch_mark (const hg_batch_t *self)
{
    return self->n_records;
}

void
hg_batch_rollback (hg_batch_t *self, hg_batch_mark_t mark)
{
    if (mark < self->n_records) {
        self->n_records = mark;
    }
}

void
hg_batch_limit_records (hg_batch_t *self, size_t max_records)
{
    self->limit_base = self->n_records;
    self->max_records = max_records;
    self->full = false;
}

bool
hg_batch_full (const hg_batch_t *self)
{
    return self->full;
}

size_t
hg_batch_max_records (const hg_batch_t *self)
{
    return self->max_records;
}

hg_batch_mark_t
hg_batch_begin (hg_batch_t *self, const hg_parse_limits_t *limits)
{
    hg_batch_limit_records (self, limits ? limits->max_records : 0);
    return hg_batch_mark (self);
}

size_t
hg_batch_since (const hg_batch_t *self, hg_batch_mark_t mark)
{
    return self->n_records > mark ? self->n_records - mark : 0;
}

void
hg_batch_vreject (hg_batch_t *self, const char *excerpt, size_t excerpt_len, const char *location,
                  const char *who, const char *sep, const char *fmt, va_list ap)
{
    char reason[480];
    vsnprintf (reason, sizeof (reason), fmt, ap);
    hg_batch_reject (self, excerpt, excerpt_len, location, "%s%s%s", who, sep, reason);
}

void
hg_batch_reject_limit (hg_batch_t *self, const char *excerpt, size_t excerpt_len,
                       const char *location, const char *fmt, ...)
{
    char what[384];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (what, sizeof (what), fmt, ap);
    va_end (ap);
    hg_batch_reject (self, excerpt, excerpt_len, location,
                     "record limit reached (max_records %zu): %s", self->max_records, what);
}

void
hg_batch_reject_rest (hg_batch_t *self, const char *excerpt, size_t excerpt_len,
                      const char *location)
{
    hg_batch_reject_limit (self, excerpt, excerpt_len, location,
                           "%s and the rest of the payload are not parsed", location);
}

void
hg_batch_reject_oom (hg_batch_t *self, const char *location)
{
    hg_batch_reject (self, NULL, 0, location && *location ? location : "payload",
                     "payload exceeds parser memory limit");
}

void
hg_batch_reject (hg_batch_t *self, const char *excerpt, size_t excerpt_len, const char *location,
                 const char *fmt, ...)
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
hg_batch_ignore (hg_batch_t *self, const char *kind)
{
    self->n_ignored++;
    if (!kind || !*kind) {
        kind = "other";
    }
    hg_ignored_t *slot = NULL;
    for (size_t i = 0; i < self->n_ignored_kinds && !slot; i++) {
        if (strncmp (self->ignored[i].kind, kind, HG_IGNORE_KIND_MAX - 1) == 0) {
            slot = &self->ignored[i];
        }
    }
    if (!slot && self->n_ignored_kinds == HG_BATCH_IGNORE_KINDS - 1 && strcmp (kind, "other")) {
        kind = "other"; /* the last slot is kept for everything else */
        for (size_t i = 0; i < self->n_ignored_kinds && !slot; i++) {
            slot = strcmp (self->ignored[i].kind, kind) == 0 ? &self->ignored[i] : NULL;
        }
    }
    if (!slot && self->n_ignored_kinds < HG_BATCH_IGNORE_KINDS) {
        slot = &self->ignored[self->n_ignored_kinds++];
        snprintf (slot->kind, sizeof (slot->kind), "%s", kind);
        slot->count = 0;
    }
    slot->count++;
}

const hg_ignored_t *
hg_batch_ignored_kinds (const hg_batch_t *self, size_t *n)
{
    *n = self->n_ignored_kinds;
    return self->ignored;
}

size_t
hg_batch_record_count (const hg_batch_t *self)
{
    return self->n_records;
}
Hourglass__Record **
hg_batch_records (hg_batch_t *self)
{
    return self->records;
}
size_t
hg_batch_reject_count (const hg_batch_t *self)
{
    return self->n_rejects;
}
const hg_reject_t *
hg_batch_rejects (const hg_batch_t *self)
{
    return self->rejects;
}
size_t
hg_batch_ignored (const hg_batch_t *self)
{
    return self->n_ignored;
}
