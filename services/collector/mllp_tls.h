/*
 * mllp_tls.h -- MLLP over TLS (GnuTLS, as the HTTPS endpoint's
 * libmicrohttpd): the server credentials and one non-blocking session per
 * connection. With a CA, every client must present a certificate it signed,
 * and the certificate's common name is the partner its messages belong to:
 * MLLP then authenticates. Without one, TLS only encrypts, and messages
 * belong to mllp_partner.
 */
#ifndef HG_MLLP_TLS_H
#define HG_MLLP_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "err.h"

#define HG_MLLP_TLS_PARTNER_MAX 128

typedef struct hg_mllp_tls hg_mllp_tls_t;
typedef struct hg_mllp_tls_session hg_mllp_tls_session_t;

/* Loads the certificate (chain) and its unencrypted key (PEM files), and
 * with ca (may be NULL or "") the CA client certificates must chain to.
 * NULL with err saying which file is wrong. */
hg_mllp_tls_t *hg_mllp_tls_new (const char *cert, const char *key, const char *ca, hg_err_t *err);
void hg_mllp_tls_destroy (hg_mllp_tls_t **self_p);

/* A server session on the accepted, non-blocking fd; NULL when out of memory. */
hg_mllp_tls_session_t *hg_mllp_tls_accept (hg_mllp_tls_t *self, int fd);

/* Advances the handshake: 1 done (*partner: the client certificate's common
 * name with a CA, else ""), 0 wants more bytes, -1 failed (err). */
int hg_mllp_tls_handshake (hg_mllp_tls_session_t *s, char partner[HG_MLLP_TLS_PARTNER_MAX + 1],
                           hg_err_t *err);

/* Like read(2)/write(2) on the fd: >0 bytes, 0 end of stream (recv), -1 with
 * errno EAGAIN (try when readable) or EIO. */
ssize_t hg_mllp_tls_recv (hg_mllp_tls_session_t *s, char *buf, size_t len);
ssize_t hg_mllp_tls_send (hg_mllp_tls_session_t *s, const char *buf, size_t len);

/* Sends close_notify (without waiting) and frees the session; NULL-safe.
 * The fd is the caller's to close. */
void hg_mllp_tls_close (hg_mllp_tls_session_t **s_p);

#endif
