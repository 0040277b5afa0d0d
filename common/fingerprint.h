/*
 * fingerprint.h -- short keyed fingerprints of partner-chosen ids for log
 * lines. A message id, batch id, file name or MSH-10 is chosen by a partner
 * and may carry a name, an MRN or a date; no log line prints one in clear.
 * It prints `fingerprint=<12 hex>` instead, which an operator holding the
 * key recomputes with `hourglass fingerprint ID` to find the lines about
 * one message. Pure logic.
 *
 * The construction is a contract with the CLI and the integration tests
 * (Python: hashlib.blake2b(id, key=key, digest_size=16).hexdigest()[:12]).
 */
#ifndef HG_FINGERPRINT_H
#define HG_FINGERPRINT_H

#define HG_FINGERPRINT_KEY_BYTES 32
#define HG_FINGERPRINT_HEX 12

/* Writes to out (HG_FINGERPRINT_HEX + 1 bytes, NUL-terminated) the first 6
 * bytes, lowercase hex, of BLAKE2b-128 keyed with key
 * (HG_FINGERPRINT_KEY_BYTES) over the bytes of id (NULL as ""). Same key
 * and id, same fingerprint; 48 bits: enough to pick one message out of a
 * log, too few to be a stable identifier. Returns out. */
char *hg_fingerprint (const unsigned char *key, const char *id, char *out);

#endif
