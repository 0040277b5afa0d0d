/*
 * counters.c -- persisted counters; see counters.h.
 */
#include "counters.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

typedef struct {
    char name[HG_COUNTER_NAME_MAX + 1];
    uint64_t value;
} counter_t;

struct hg_counters {
    counter_t items[HG_COUNTERS_MAX]; /* never moves: callers keep &value */
    size_t n;
};

hg_counters_t *
hg_counters_new (void)
{
    return calloc (1, sizeof (hg_counters_t));
}

void
hg_counters_destroy (hg_counters_t **self_p)
{
    if (self_p && *self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

int
hg_counters_find (hg_counters_t *self, const char *name, size_t len, uint64_t **value,
                  hg_err_t *err)
{
    *value = NULL;
    if (len == 0 || len > HG_COUNTER_NAME_MAX) {
        return hg_err_set (err, HG_EINVAL, "counter name '%.*s' must be 1 to %d bytes long",
                           (int) len, name, HG_COUNTER_NAME_MAX);
    }
    for (size_t i = 0; i < self->n; i++) {
        if (strlen (self->items[i].name) == len && memcmp (self->items[i].name, name, len) == 0) {
            *value = &self->items[i].value;
            return 0;
        }
    }
    if (self->n == HG_COUNTERS_MAX) {
        return hg_err_set (err, HG_ELIMIT,
                           "counter '%.*s' would be number %d: at most %d "
                           "counters per service (raise HG_COUNTERS_MAX in common/counters.h)",
                           (int) len, name, HG_COUNTERS_MAX + 1, HG_COUNTERS_MAX);
    }
    counter_t *c = &self->items[self->n++];
    memcpy (c->name, name, len);
    c->name[len] = '\0';
    c->value = 0;
    *value = &c->value;
    return 0;
}

/* A counter the program names: one that does not fit is its bug. */
static uint64_t *
s_get_or_abort (hg_counters_t *self, const char *name, size_t len)
{
    uint64_t *value;
    hg_err_t err = {0};
    if (hg_counters_find (self, name, len, &value, &err) < 0) {
        hg_error ("counter_overflow", "err=\"%s\"", err.msg);
        fprintf (stderr, "hourglass: %s\n", err.msg);
        abort ();
    }
    return value;
}

uint64_t *
hg_counters_get (hg_counters_t *self, const char *name)
{
    return s_get_or_abort (self, name, strlen (name));
}

size_t
hg_counters_count (const hg_counters_t *self)
{
    return self->n;
}

const char *
hg_counters_name (const hg_counters_t *self, size_t i)
{
    return self->items[i].name;
}

uint64_t
hg_counters_value (const hg_counters_t *self, size_t i)
{
    return self->items[i].value;
}

bool
hg_counters_is_key (const char *key, size_t klen)
{
    return klen > 2 && key[0] == 'm' && key[1] == '/';
}

static uint64_t
s_entry_value (const char *val, size_t vlen)
{
    uint64_t value = 0;
    if (vlen == 8) {
        memcpy (&value, val, 8);
    }
    return value;
}

void
hg_counters_add_entry (hg_counters_t *self, const char *key, size_t klen, const char *val,
                       size_t vlen)
{
    *s_get_or_abort (self, key + 2, klen - 2) += s_entry_value (val, vlen);
}

void
hg_counters_reset (hg_counters_t *self)
{
    for (size_t i = 0; i < hg_counters_count (self); i++) {
        *s_get_or_abort (self, hg_counters_name (self, i),
                         strlen (hg_counters_name (self, i))) = 0;
    }
}

void
hg_counters_load (hg_counters_t *self, hg_store_t *store)
{
    hg_store_iter_t *it = hg_store_iter_new (store, "m/", 2, NULL, 0);
    const char *k, *v;
    size_t kl, vl;
    while (hg_store_iter_next (it, &k, &kl, &v, &vl)) {
        *s_get_or_abort (self, k + 2, kl - 2) = s_entry_value (v, vl);
    }
    hg_store_iter_destroy (&it);
}

void
hg_counters_put (const hg_counters_t *self, hg_store_batch_t *wb)
{
    for (size_t i = 0; i < self->n; i++) {
        char key[HG_COUNTER_NAME_MAX + 3];
        int kl = snprintf (key, sizeof (key), "m/%s", self->items[i].name);
        hg_store_batch_put (wb, key, (size_t) kl, &self->items[i].value, 8);
    }
}
