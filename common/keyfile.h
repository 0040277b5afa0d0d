/*
 * keyfile.h -- 32-byte secret key files (the de-identification key, the log
 * fingerprint key): loaded, checked, and created atomically on first use.
 * File I/O only; no other state.
 */
#ifndef HG_KEYFILE_H
#define HG_KEYFILE_H

#include <stdbool.h>

#include "err.h"

#define HG_KEYFILE_BYTES 32

/* The wording of one kind of key in the messages a person reads. */
typedef struct {
    const char *what;    /* "de-identification key" */
    const char *creator; /* who may create a new one: "the de-identifier" */
    const char *on_new;  /* when a new key is harmless: "nothing was ever ..." */
} hg_keyfile_kind_t;

/* Loads the 32-byte key from path into key.
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
 * whose size is not exactly HG_KEYFILE_BYTES. Returns 0, or a negative HG_E*
 * with err saying what is wrong and what to do, in kind's words (HG_ENOTFOUND
 * when the file is missing and create is false). On error key is zeroed.
 * Calls sodium_init(). */
int hg_keyfile_load (const char *path, bool create, const hg_keyfile_kind_t *kind,
                     unsigned char key[HG_KEYFILE_BYTES], hg_err_t *err);

#endif
