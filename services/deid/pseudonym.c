/*
 * pseudonym.c -- keyed pseudonyms, per-patient date shift, the key file (the
 * shared loader of common/keyfile.h).
 */
#include "pseudonym.h"

#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "keyfile.h"

#define S_DIGEST_BYTES 16

/* Feeds s (NULL as "") and, when sep, a 0x00 separator to the hash. */
static void
s_update (crypto_generichash_state *st, const char *s, bool sep)
{
    static const unsigned char zero = 0;
    size_t len = s ? strlen (s) : 0;
    if (len) {
        crypto_generichash_update (st, (const unsigned char *) s, len);
    }
    if (sep) {
        crypto_generichash_update (st, &zero, 1);
    }
}

void
hg_pseudonym (const unsigned char *key, const char *domain, const char *partner, const char *id,
              char *out)
{
    crypto_generichash_state st;
    unsigned char digest[S_DIGEST_BYTES];
    crypto_generichash_init (&st, key, HG_DEID_KEY_BYTES, sizeof (digest));
    s_update (&st, domain, true);
    s_update (&st, partner, true);
    s_update (&st, id, false);
    crypto_generichash_final (&st, digest, sizeof (digest));
    /* the digest is the public pseudonym: a plain table lookup will do
     * (sodium_bin2hex is constant-time, for secrets, and slower) */
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof (digest); i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 0xf];
    }
    out[HG_PSEUDONYM_HEX] = '\0';
    sodium_memzero (&st, sizeof (st));
}

void
hg_deid_message_id (const unsigned char *key, const char *partner, const char *id, char *out)
{
    hg_pseudonym (key, "message", partner, id, out);
}

int
hg_dateshift_days (const unsigned char *key, const char *pseudonym)
{
    crypto_generichash_state st;
    unsigned char digest[S_DIGEST_BYTES];
    crypto_generichash_init (&st, key, HG_DEID_KEY_BYTES, sizeof (digest));
    s_update (&st, "dateshift", true);
    s_update (&st, pseudonym, false);
    crypto_generichash_final (&st, digest, sizeof (digest));
    sodium_memzero (&st, sizeof (st));
    uint32_t v = (uint32_t) digest[0] | (uint32_t) digest[1] << 8 | (uint32_t) digest[2] << 16
                 | (uint32_t) digest[3] << 24;
    int r = (int) (v % (2 * HG_DATESHIFT_MAX_DAYS));
    return r < HG_DATESHIFT_MAX_DAYS ? r - HG_DATESHIFT_MAX_DAYS
                                     : r - (HG_DATESHIFT_MAX_DAYS - 1);
}

/* ---------------------------------------------------------------------------
 * Key file: the shared loader (common/keyfile.h) with this key's wording. */

int
hg_deid_key_load (const char *path, bool create, unsigned char key[HG_DEID_KEY_BYTES],
                  hg_err_t *err)
{
    static const hg_keyfile_kind_t kind = {
        .what = "de-identification key",
        .creator = "the de-identifier",
        .on_new = "nothing was ever de-identified with it, since a new key breaks linkage "
                  "with earlier pseudonyms",
    };
    return hg_keyfile_load (path, create, &kind, key, err);
}
