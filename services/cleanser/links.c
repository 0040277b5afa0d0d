#include "links.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

typedef struct {
    char *key;         /* "<partner>\0<Patient id>" (malloc'd) */
    size_t plen, klen; /* partner's length, key's length */
    char *value;       /* the patient's identifier (malloc'd) */
} s_link_t;

struct hg_links {
    s_link_t *links; /* in the order added */
    size_t n_links, cap_links;
    size_t *slots;  /* hash index of links: 1 + index, 0 free */
    size_t n_slots; /* a power of two, or 0 */
};

/* A link's key as its two parts, so that a lookup needs no copy. */
typedef struct {
    const char *partner, *id;
    size_t plen, ilen;
} s_key_t;

static s_key_t
s_key (const char *partner, const char *patient_id)
{
    s_key_t k = {partner, patient_id, strlen (partner), strlen (patient_id)};
    return k;
}

static uint64_t
s_fnv (uint64_t h, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        h = (h ^ (unsigned char) s[i]) * 1099511628211u;
    }
    return h;
}

/* FNV-1a of "<partner>\0<id>". */
static size_t
s_hash (const s_key_t *k)
{
    uint64_t h = s_fnv (1469598103934665603u, k->partner, k->plen + 1);
    return (size_t) s_fnv (h, k->id, k->ilen);
}

static int
s_equal (const s_link_t *l, const s_key_t *k)
{
    return l->klen == k->plen + 1 + k->ilen && memcmp (l->key, k->partner, k->plen + 1) == 0
           && memcmp (l->key + k->plen + 1, k->id, k->ilen) == 0;
}

/* Slot of k in the index: the one holding it, else the free one where it
 * goes. n_slots must be > 0 (and the index never full: at most half used). */
static size_t *
s_slot (const hg_links_t *self, const s_key_t *k)
{
    size_t mask = self->n_slots - 1;
    for (size_t i = s_hash (k) & mask;; i = (i + 1) & mask) {
        size_t v = self->slots[i];
        if (v == 0 || s_equal (&self->links[v - 1], k)) {
            return &self->slots[i];
        }
    }
}

hg_links_t *
hg_links_new (void)
{
    return calloc (1, sizeof (hg_links_t));
}

void
hg_links_clear (hg_links_t *self)
{
    for (size_t i = 0; i < self->n_links; i++) {
        free (self->links[i].key);
        free (self->links[i].value);
    }
    self->n_links = 0;
    if (self->slots) {
        memset (self->slots, 0, self->n_slots * sizeof (*self->slots));
    }
}

void
hg_links_destroy (hg_links_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    hg_links_t *self = *self_p;
    hg_links_clear (self);
    free (self->links);
    free (self->slots);
    free (self);
    *self_p = NULL;
}

const char *
hg_links_get (const hg_links_t *self, const char *partner, const char *patient_id)
{
    if (self->n_slots == 0) {
        return NULL;
    }
    s_key_t k = s_key (partner, patient_id);
    size_t v = *s_slot (self, &k);
    return v ? self->links[v - 1].value : NULL;
}

/* Doubles the index once it would be more than half full (256 slots at
 * first) and places every link again. */
static int
s_grow_index (hg_links_t *self)
{
    if ((self->n_links + 1) * 2 <= self->n_slots) {
        return 0;
    }
    size_t n_slots = self->n_slots ? self->n_slots * 2 : 256;
    size_t *slots = calloc (n_slots, sizeof (*slots));
    if (!slots) {
        return HG_ENOMEM;
    }
    free (self->slots);
    self->slots = slots;
    self->n_slots = n_slots;
    for (size_t i = 0; i < self->n_links; i++) {
        const s_link_t *l = &self->links[i];
        s_key_t k = {l->key, l->key + l->plen + 1, l->plen, l->klen - l->plen - 1};
        *s_slot (self, &k) = i + 1;
    }
    return 0;
}

int
hg_links_add (hg_links_t *self, const char *partner, const char *patient_id,
              const char *identifier)
{
    char *v = strdup (identifier);
    if (!v || s_grow_index (self) < 0) {
        free (v);
        return HG_ENOMEM;
    }
    s_key_t k = s_key (partner, patient_id);
    size_t *slot = s_slot (self, &k);
    if (*slot) {
        free (self->links[*slot - 1].value);
        self->links[*slot - 1].value = v;
        return 0;
    }
    if (self->n_links == self->cap_links) {
        size_t cap = self->cap_links ? self->cap_links * 2 : 64;
        s_link_t *p = realloc (self->links, cap * sizeof (*p));
        if (!p) {
            free (v);
            return HG_ENOMEM;
        }
        self->links = p;
        self->cap_links = cap;
    }
    s_link_t *l = &self->links[self->n_links];
    l->plen = k.plen;
    l->klen = k.plen + 1 + k.ilen;
    l->key = malloc (l->klen);
    if (!l->key) {
        free (v);
        return HG_ENOMEM;
    }
    memcpy (l->key, partner, k.plen + 1);
    memcpy (l->key + k.plen + 1, patient_id, k.ilen);
    l->value = v;
    *slot = ++self->n_links;
    return 0;
}

size_t
hg_links_size (const hg_links_t *self)
{
    return self->n_links;
}
