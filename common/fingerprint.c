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
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < HG_FINGERPRINT_HEX / 2; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 0xf];
    }
    out[HG_FINGERPRINT_HEX] = '\0';
    return out;
}
