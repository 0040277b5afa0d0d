/*
 * links.h -- the cleanser's patient links of one round, not committed yet.
 *
 * A link maps a partner's FHIR Patient resource id to the patient's
 * identifier (the id HL7 v2 uses; see cleanse.h). The links written in a
 * round are not in the store before the round's write batch is committed,
 * so the cleanser keeps them here, with a hash index, until then. Pure: no
 * store, no I/O.
 */
#ifndef HG_LINKS_H
#define HG_LINKS_H

#include <stddef.h>

typedef struct hg_links hg_links_t;

/* An empty table; NULL when out of memory. */
hg_links_t *hg_links_new (void);

/* Frees the table and its copies; NULL-safe, sets *self_p to NULL. */
void hg_links_destroy (hg_links_t **self_p);

/* Sets the identifier of partner's Patient patient_id (copies of the three
 * strings are kept); a later add of the same partner and id replaces the
 * identifier. Returns 0, or HG_ENOMEM (the table is then as before). */
int hg_links_add (hg_links_t *self, const char *partner, const char *patient_id,
                  const char *identifier);

/* The identifier of partner's Patient patient_id, or NULL when the table
 * has no such link. The string belongs to the table: valid until the next
 * add of the same link, hg_links_clear or hg_links_destroy. */
const char *hg_links_get (const hg_links_t *self, const char *partner, const char *patient_id);

/* Forgets every link (the round's links are committed); keeps the memory
 * of the index for the next round. */
void hg_links_clear (hg_links_t *self);

/* Number of links in the table. */
size_t hg_links_size (const hg_links_t *self);

#endif
