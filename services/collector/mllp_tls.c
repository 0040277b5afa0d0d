/*
 * mllp_tls.c -- MLLP over TLS with GnuTLS. See mllp_tls.h.
 */
#include "mllp_tls.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

struct hg_mllp_tls {
    gnutls_certificate_credentials_t creds;
    gnutls_priority_t priority;
    bool require_client_cert;
};

struct hg_mllp_tls_session {
    gnutls_session_t s;
    const hg_mllp_tls_t *tls;
};

hg_mllp_tls_t *
hg_mllp_tls_new (const char *cert, const char *key, const char *ca, hg_err_t *err)
{
    hg_mllp_tls_t *self = calloc (1, sizeof (*self));
    if (!self) {
        hg_err_set (err, HG_ENOMEM, "out of memory");
        return NULL;
    }
    int rc = gnutls_certificate_allocate_credentials (&self->creds);
    if (rc == 0) {
        rc = gnutls_certificate_set_x509_key_file (self->creds, cert, key, GNUTLS_X509_FMT_PEM);
        if (rc < 0) {
            hg_err_set (err, HG_EINVAL,
                        "mllp_tls_cert %s / mllp_tls_key %s: %s (PEM certificate and its "
                        "unencrypted private key)",
                        cert, key, gnutls_strerror (rc));
        }
    }
    if (rc >= 0 && ca && *ca) {
        rc = gnutls_certificate_set_x509_trust_file (self->creds, ca, GNUTLS_X509_FMT_PEM);
        if (rc <= 0) {
            hg_err_set (err, HG_EINVAL, "mllp_tls_ca %s: %s", ca,
                        rc == 0 ? "no PEM certificate in it" : gnutls_strerror (rc));
            rc = -1;
        }
        self->require_client_cert = true;
    }
    if (rc >= 0 && gnutls_priority_init (&self->priority, "NORMAL", NULL) < 0) {
        hg_err_set (err, HG_EINVAL, "GnuTLS has no NORMAL priority");
        rc = -1;
    }
    if (rc < 0) {
        hg_mllp_tls_destroy (&self);
    }
    return self;
}

void
hg_mllp_tls_destroy (hg_mllp_tls_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    hg_mllp_tls_t *self = *self_p;
    if (self->priority) {
        gnutls_priority_deinit (self->priority);
    }
    if (self->creds) {
        gnutls_certificate_free_credentials (self->creds);
    }
    free (self);
    *self_p = NULL;
}

hg_mllp_tls_session_t *
hg_mllp_tls_accept (hg_mllp_tls_t *self, int fd)
{
    hg_mllp_tls_session_t *s = calloc (1, sizeof (*s));
    if (!s || gnutls_init (&s->s, GNUTLS_SERVER | GNUTLS_NONBLOCK) < 0) {
        free (s);
        return NULL;
    }
    s->tls = self;
    gnutls_priority_set (s->s, self->priority);
    gnutls_credentials_set (s->s, GNUTLS_CRD_CERTIFICATE, self->creds);
    gnutls_certificate_server_set_request (s->s, self->require_client_cert ? GNUTLS_CERT_REQUIRE
                                                                           : GNUTLS_CERT_IGNORE);
    gnutls_transport_set_int (s->s, fd);
    gnutls_handshake_set_timeout (s->s, 0); /* the server's idle deadline bounds it */
    return s;
}

/* The verified client certificate's common name into partner. */
static int
s_client_name (hg_mllp_tls_session_t *s, char *partner, hg_err_t *err)
{
    unsigned status = 0;
    if (gnutls_certificate_verify_peers2 (s->s, &status) < 0 || status != 0) {
        return hg_err_set (err, HG_EINVAL, "client certificate not signed by mllp_tls_ca");
    }
    unsigned n = 0;
    const gnutls_datum_t *chain = gnutls_certificate_get_peers (s->s, &n);
    gnutls_x509_crt_t crt;
    if (!chain || n == 0 || gnutls_x509_crt_init (&crt) < 0) {
        return hg_err_set (err, HG_EINVAL, "no client certificate");
    }
    size_t len = HG_MLLP_TLS_PARTNER_MAX + 1;
    int rc = gnutls_x509_crt_import (crt, &chain[0], GNUTLS_X509_FMT_DER);
    if (rc >= 0) {
        rc = gnutls_x509_crt_get_dn_by_oid (crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, partner,
                                            &len);
    }
    gnutls_x509_crt_deinit (crt);
    if (rc < 0 || len == 0) {
        return hg_err_set (err, HG_EINVAL,
                           "the client certificate has no common name (of at most %d "
                           "characters) to name the partner",
                           HG_MLLP_TLS_PARTNER_MAX);
    }
    return 0;
}

int
hg_mllp_tls_handshake (hg_mllp_tls_session_t *s, char partner[HG_MLLP_TLS_PARTNER_MAX + 1],
                       hg_err_t *err)
{
    partner[0] = '\0';
    int rc = gnutls_handshake (s->s);
    if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED) {
        return 0;
    }
    if (rc < 0) {
        hg_err_set (err, HG_EIO, "TLS handshake failed: %s", gnutls_strerror (rc));
        return -1;
    }
    if (s->tls->require_client_cert && s_client_name (s, partner, err) < 0) {
        return -1;
    }
    return 1;
}

ssize_t
hg_mllp_tls_recv (hg_mllp_tls_session_t *s, char *buf, size_t len)
{
    ssize_t n = gnutls_record_recv (s->s, buf, len);
    if (n >= 0) {
        return n;
    }
    errno = n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED ? EAGAIN : EIO;
    return -1;
}

ssize_t
hg_mllp_tls_send (hg_mllp_tls_session_t *s, const char *buf, size_t len)
{
    ssize_t n = gnutls_record_send (s->s, buf, len);
    if (n >= 0) {
        return n;
    }
    errno = n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED ? EAGAIN : EIO;
    return -1;
}

void
hg_mllp_tls_close (hg_mllp_tls_session_t **s_p)
{
    if (!s_p || !*s_p) {
        return;
    }
    gnutls_bye ((*s_p)->s, GNUTLS_SHUT_WR);
    gnutls_deinit ((*s_p)->s);
    free (*s_p);
    *s_p = NULL;
}
