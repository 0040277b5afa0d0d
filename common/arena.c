/*
 * arena.c -- region allocator: a chain of blocks, bump allocation.
 */
#include "arena.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HG_ARENA_BLOCK_BYTES (64 * 1024)
#define HG_ARENA_ALIGN 16

typedef struct block {
    struct block *next;
    size_t size; /* usable bytes in data */
    size_t used; /* bytes handed out from data */
    _Alignas(16) unsigned char data[];
} block_t;

/* Standard blocks a reset arena keeps for reuse: a service that resets its
 * arena every round then allocates from memory it already has, instead of
 * going back to malloc (and page faults) for every round. */
#define HG_ARENA_KEEP_BYTES (8u * 1024 * 1024)

struct hg_arena {
    block_t *head;      /* current block, newest first */
    block_t *spare;     /* standard blocks kept by reset, not in use */
    size_t limit_bytes; /* cap on total block bytes in use, 0 = none */
    size_t total_bytes; /* bytes in the blocks in use */
    size_t used_bytes;  /* bytes handed out */
};

static block_t *
s_block_new (size_t size)
{
    block_t *b = malloc (sizeof (block_t) + size);
    if (b) {
        b->next = NULL;
        b->size = size;
        b->used = 0;
    }
    return b;
}

hg_arena_t *
hg_arena_new (size_t limit_bytes)
{
    hg_arena_t *self = calloc (1, sizeof (*self));
    if (!self) {
        return NULL;
    }
    self->limit_bytes = limit_bytes;
    return self;
}

void
hg_arena_destroy (hg_arena_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    hg_arena_t *self = *self_p;
    block_t *chains[2] = {self->head, self->spare};
    for (int i = 0; i < 2; i++) {
        block_t *b = chains[i];
        while (b) {
            block_t *next = b->next;
            free (b);
            b = next;
        }
    }
    free (self);
    *self_p = NULL;
}

void
hg_arena_reset (hg_arena_t *self)
{
    /* standard blocks go to the spares (up to HG_ARENA_KEEP_BYTES in all),
     * the rest back to malloc */
    size_t kept = 0;
    for (block_t *b = self->spare; b; b = b->next) {
        kept += b->size;
    }
    block_t *b = self->head;
    while (b) {
        block_t *next = b->next;
        if (b->size == HG_ARENA_BLOCK_BYTES && kept + b->size <= HG_ARENA_KEEP_BYTES) {
            b->used = 0;
            b->next = self->spare;
            self->spare = b;
            kept += b->size;
        }
        else {
            free (b);
        }
        b = next;
    }
    self->head = NULL;
    self->total_bytes = 0;
    self->used_bytes = 0;
}

void *
hg_arena_alloc (hg_arena_t *self, size_t size)
{
    size_t need = (size + HG_ARENA_ALIGN - 1) & ~(size_t) (HG_ARENA_ALIGN - 1);
    if (need < size) {
        return NULL; /* overflow */
    }
    block_t *b = self->head;
    if (!b || b->size - b->used < need) {
        size_t bsize = need > HG_ARENA_BLOCK_BYTES ? need : HG_ARENA_BLOCK_BYTES;
        if (self->limit_bytes && self->total_bytes + bsize > self->limit_bytes) {
            return NULL;
        }
        if (bsize == HG_ARENA_BLOCK_BYTES && self->spare) {
            b = self->spare;
            self->spare = b->next;
        }
        else if (!(b = s_block_new (bsize))) {
            return NULL;
        }
        b->next = self->head;
        self->head = b;
        self->total_bytes += bsize;
    }
    void *p = b->data + b->used;
    b->used += need;
    self->used_bytes += need;
    memset (p, 0, size);
    return p;
}

char *
hg_arena_strndup (hg_arena_t *self, const char *s, size_t n)
{
    char *p = hg_arena_alloc (self, n + 1);
    if (p) {
        memcpy (p, s, n);
        p[n] = '\0';
    }
    return p;
}

char *
hg_arena_strdup (hg_arena_t *self, const char *s)
{
    return hg_arena_strndup (self, s, strlen (s));
}

char *
hg_arena_printf (hg_arena_t *self, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    int n = vsnprintf (NULL, 0, fmt, ap);
    va_end (ap);
    if (n < 0) {
        return NULL;
    }
    char *p = hg_arena_alloc (self, (size_t) n + 1);
    if (p) {
        va_start (ap, fmt);
        vsnprintf (p, (size_t) n + 1, fmt, ap);
        va_end (ap);
    }
    return p;
}

size_t
hg_arena_used (const hg_arena_t *self)
{
    return self->used_bytes;
}

static void *
s_pb_alloc (void *data, size_t size)
{
    return hg_arena_alloc ((hg_arena_t *) data, size);
}

static void
s_pb_free (void *data, void *ptr)
{
    (void) data;
    (void) ptr;
}

void
hg_arena_protobuf_allocator (hg_arena_t *self, ProtobufCAllocator *out)
{
    out->alloc = s_pb_alloc;
    out->free = s_pb_free;
    out->allocator_data = self;
}
