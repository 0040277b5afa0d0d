/*
 * pseudonym.h -- the de-identifier's key, keyed pseudonyms and date shifts.
 *
 * Every construction here is a contract shared with the integration tests
 * (which recompute pseudonyms and shifts in Python with
 * hashlib.blake2b(data, key=key, digest_size=16)); changing one silently
 * breaks the linkage of every record already de-identified. Pure logic
 * except hg_deid_key_load, which reads (and may create) the key file.
 */
#ifndef HG_PSEUDONYM_H
#define HG_PSEUDONYM_H

#include <stdbool.h>

#include "err.h"

#define HG_DEID_KEY_BYTES 32
#define HG_PSEUDONYM_HEX 32 /* 16-byte keyed BLAKE2b, lowercase hex */
#define HG_DATESHIFT_MAX_DAYS 365

/* Loads the 32-byte de-identification key from path into key.
 *
 * When the file does not exist and create is true, a random key is created
 * atomically with mode 0600: written to a temporary file in the same
 * directory (O_CREAT|O_EXCL, mode 0600), fsynced, then linked into place
 * without ever replacing an existing file (falling back to rename where the
 * file system has no hard links), and the directory fsynced. When another
 * process created the key first, that key is loaded instead, so concurrent
 * first starts agree on one key.
 *
 * Refuses a key file that group or others may read or write ("key file X has
 * mode 0644; it must be 0600 (chmod 600 X)"), that is not a regular file, or
 * whose size is not exactly HG_DEID_KEY_BYTES. Returns 0, or a negative HG_E*
 * with err saying what is wrong and what to do (HG_ENOTFOUND when the file
 * is missing and create is false). On error key is zeroed. Calls
 * sodium_init(). */
int hg_deid_key_load (const char *path, bool create, unsigned char key[HG_DEID_KEY_BYTES],
                      hg_err_t *err);

/* Writes to out (HG_PSEUDONYM_HEX + 1 bytes, NUL-terminated) the lowercase
 * hex of BLAKE2b-128 keyed with key (HG_DEID_KEY_BYTES) over
 *     domain || 0x00 || partner || 0x00 || id
 * domain is one of "patient", "encounter", "record", "message", "source",
 * "code" (a local code, policy.h).
 * NULL strings are taken as "". Deterministic: same inputs, same pseudonym;
 * without the key it cannot be reversed or recomputed. */
void hg_pseudonym (const unsigned char *key, const char *domain, const char *partner,
                   const char *id, char *out);

/* The id standing for an upstream message past the de-identifier, into out
 * (HG_PSEUDONYM_HEX + 1 bytes): hg_pseudonym "message" of (partner, id), the
 * same pseudonym its records carry in provenance.source_message_id. The
 * deid's de-dup markers, quarantine entries and outbox envelope ids
 * ("<this>#<shard>") use it, so no partner-chosen id (a file name, a batch
 * id, an MSH-10) reaches its store or any later one; the same upstream id
 * always gives the same one, so de-duplication stays exact. */
void hg_deid_message_id (const unsigned char *key, const char *partner, const char *id,
                         char *out);

/* Per-patient date shift in days, never 0, in [-365,-1] U [1,365]:
 *     v = little-endian uint32 of the first 4 bytes of
 *         BLAKE2b-128 keyed with key over "dateshift" || 0x00 || pseudonym
 *     r = v % 730;  shift = r < 365 ? r - 365 : r - 364
 * pseudonym is the patient's pseudonym (hg_pseudonym "patient"), so every
 * record of one patient moves by the same amount and intervals survive. */
int hg_dateshift_days (const unsigned char *key, const char *pseudonym);

#endif
