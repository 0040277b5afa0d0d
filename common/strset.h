/*
 * strset.h -- a set of byte strings (open addressing), for de-duplication
 * within a round and distinct counts.
 */
#ifndef HG_STRSET_H
#define HG_STRSET_H

#include <stdbool.h>
#include <stddef.h>

typedef struct hg_strset hg_strset_t;

hg_strset_t *hg_strset_new (void);
void hg_strset_destroy (hg_strset_t **self_p);
void hg_strset_clear (hg_strset_t *self);

/* Adds a copy of s[0..len); returns 1 if added, 0 if present, -1 on OOM. */
int hg_strset_add (hg_strset_t *self, const char *s, size_t len);
bool hg_strset_has (const hg_strset_t *self, const char *s, size_t len);
size_t hg_strset_size (const hg_strset_t *self);

#endif
