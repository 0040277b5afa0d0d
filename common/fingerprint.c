/*
 * fingerprint.c -- keyed fingerprints of partner-chosen ids; see
 * fingerprint.h.
 */
#include "fingerprint.h"

#include <string.h>

#include <sodium.h>

char *
hg_fingerprint (const unsigned char *key, const char *id, char *out)
{
    unsigned char digest[16];
    const char *s = id ? id : "";
    crypto_generichash (digest, sizeof (digest), (const unsigned char *) s, strlen (s), key,
                        HG_FINGERPRINT_KEY_BYTES);
    sodium_bin2hex (out, HG_FINGERPRINT_HEX + 1, digest, HG_FINGERPRINT_HEX / 2);
    return out;
}
