#include "strset.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *s; /* NULL: empty slot */
    size_t len;
    uint64_t hash;
} entry_t;

struct hg_strset {
    entry_t *slots;
    size_t cap; /* power of two */
    size_t n;
};

static uint64_t
s_hash (const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char) s[i];
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

hg_strset_t *
hg_strset_new (void)
{
    return calloc (1, sizeof (hg_strset_t));
}

void
hg_strset_clear (hg_strset_t *self)
{
    for (size_t i = 0; i < self->cap; i++) {
        free (self->slots[i].s);
        self->slots[i].s = NULL;
    }
    self->n = 0;
}

void
hg_strset_destroy (hg_strset_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    hg_strset_clear (*self_p);
    free ((*self_p)->slots);
    free (*self_p);
    *self_p = NULL;
}

static entry_t *
s_find (const hg_strset_t *self, const char *s, size_t len, uint64_t h)
{
    size_t j = h & (self->cap - 1);
    while (self->slots[j].s) {
        entry_t *e = &self->slots[j];
        if (e->hash == h && e->len == len && memcmp (e->s, s, len) == 0) {
            return e;
        }
        j = (j + 1) & (self->cap - 1);
    }
    return &self->slots[j];
}

static int
s_grow (hg_strset_t *self)
{
    size_t ncap = self->cap ? self->cap * 2 : 256;
    entry_t *ns = calloc (ncap, sizeof (*ns));
    if (!ns) {
        return -1;
    }
    for (size_t i = 0; i < self->cap; i++) {
        if (self->slots[i].s) {
            size_t j = self->slots[i].hash & (ncap - 1);
            while (ns[j].s) {
                j = (j + 1) & (ncap - 1);
            }
            ns[j] = self->slots[i];
        }
    }
    free (self->slots);
    self->slots = ns;
    self->cap = ncap;
    return 0;
}

int
hg_strset_add (hg_strset_t *self, const char *s, size_t len)
{
    if ((self->n + 1) * 4 >= self->cap * 3 && s_grow (self) < 0) {
        return -1;
    }
    uint64_t h = s_hash (s, len);
    entry_t *e = s_find (self, s, len, h);
    if (e->s) {
        return 0;
    }
    e->s = malloc (len + 1);
    if (!e->s) {
        return -1;
    }
    memcpy (e->s, s, len);
    e->s[len] = '\0';
    e->len = len;
    e->hash = h;
    self->n++;
    return 1;
}

bool
hg_strset_has (const hg_strset_t *self, const char *s, size_t len)
{
    if (!self->cap) {
        return false;
    }
    return s_find (self, s, len, s_hash (s, len))->s != NULL;
}

size_t
hg_strset_size (const hg_strset_t *self)
{
    return self->n;
}
