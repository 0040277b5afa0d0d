/*
 * counters.h -- a service's persisted counters: a fixed table of named
 * uint64 values, loaded from and written to the store as "m/<name>" -> 8
 * bytes (little-endian, the host's order as written), owned by the service
 * runtime and written with every group commit.
 *
 * The table never moves: a counter's address is stable for the table's
 * life, so a service may keep the pointer hg_counters_get returns. Its size
 * is fixed (HG_COUNTERS_MAX) because counter names are the program's own:
 * a name that does not fit is a programmer error, and hg_counters_get stops
 * the process saying so rather than counting into a shared overflow.
 */
#ifndef HG_COUNTERS_H
#define HG_COUNTERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "store.h"

#define HG_COUNTERS_MAX 32
#define HG_COUNTER_NAME_MAX 31

typedef struct hg_counters hg_counters_t;

/* An empty table; NULL when out of memory. */
hg_counters_t *hg_counters_new (void);
void hg_counters_destroy (hg_counters_t **self_p);

/* The counter called name, created at 0 on first use. HG_ELIMIT with err
 * when the table is full (HG_COUNTERS_MAX names already) and HG_EINVAL when
 * name is empty or longer than HG_COUNTER_NAME_MAX: *value is then NULL. */
int hg_counters_find (hg_counters_t *self, const char *name, size_t len, uint64_t **value,
                      hg_err_t *err);

/* hg_counters_find for names written in the program: on either error it
 * logs the reason and aborts (a 33rd counter is a bug to fix, not data). */
uint64_t *hg_counters_get (hg_counters_t *self, const char *name);

size_t hg_counters_count (const hg_counters_t *self);
/* The i-th counter's name and value (i < hg_counters_count), in order of
 * creation. */
const char *hg_counters_name (const hg_counters_t *self, size_t i);
uint64_t hg_counters_value (const hg_counters_t *self, size_t i);

/* Whether key is a persisted counter's ("m/<name>"). */
bool hg_counters_is_key (const char *key, size_t klen);

/* Adds the value of a persisted counter entry (key "m/<name>", val its 8
 * bytes; any other length counts 0) to the table: adopting another store's
 * counters. Aborts like hg_counters_get when the entry's name does not fit. */
void hg_counters_add_entry (hg_counters_t *self, const char *key, size_t klen, const char *val,
                            size_t vlen);

/* Sets each counter the store holds an "m/" entry of to the stored value
 * (start-up; and undoing additions that were not committed). Counters the
 * store does not hold keep their value. Aborts like hg_counters_get when a
 * stored name does not fit. */
void hg_counters_load (hg_counters_t *self, hg_store_t *store);

/* Sets every counter to 0 (then hg_counters_load: exactly what the store
 * holds, undoing additions a failed commit did not write). */
void hg_counters_reset (hg_counters_t *self);

/* Puts every counter into wb as its "m/<name>" entry. */
void hg_counters_put (const hg_counters_t *self, hg_store_batch_t *wb);

#endif
