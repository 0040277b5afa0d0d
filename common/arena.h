/*
 * arena.h -- region allocator for short-lived object graphs.
 *
 * Parsers build protobuf-c records whose strings and sub-messages all live in
 * one arena; packing the batch and destroying the arena frees everything at
 * once. Every allocation is capped by the arena's limit so hostile input
 * cannot make a parser allocate without bound.
 */
#ifndef HG_ARENA_H
#define HG_ARENA_H

#include <stdarg.h>
#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

typedef struct hg_arena hg_arena_t;

/* Creates an arena that refuses to grow past limit_bytes (0: no limit).
 * Returns NULL when out of memory. */
hg_arena_t *hg_arena_new (size_t limit_bytes);

/* Frees every allocation of the arena; NULL-safe; nulls the caller's pointer. */
void hg_arena_destroy (hg_arena_t **self_p);

/* Frees all allocations; keeps up to 8 MiB of the arena's blocks for the
 * allocations that follow, so an arena reset every round does not go back
 * to malloc each time. */
void hg_arena_reset (hg_arena_t *self);

/* Zeroed, 16-byte aligned memory, or NULL when the limit is reached. */
void *hg_arena_alloc (hg_arena_t *self, size_t size);

/* NUL-terminated copies; NULL when the limit is reached. */
char *hg_arena_strdup (hg_arena_t *self, const char *s);
char *hg_arena_strndup (hg_arena_t *self, const char *s, size_t n);
char *hg_arena_printf (hg_arena_t *self, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

/* Bytes handed out so far. */
size_t hg_arena_used (const hg_arena_t *self);

/* A protobuf-c allocator that allocates from the arena (free is a no-op),
 * for protobuf_c_message_unpack into an arena. */
void hg_arena_protobuf_allocator (hg_arena_t *self, ProtobufCAllocator *out);

#endif
