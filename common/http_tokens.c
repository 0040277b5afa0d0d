/*
 * tokens.c -- the FHIR-over-HTTP bearer-token table: parsing a tokens file,
 * hashing tokens, matching an Authorization header in constant time. Pure
 * apart from hg_http_file_read / hg_http_tokens_load. See tokens.h.
 */
#define _GNU_SOURCE /* strncasecmp, strtok_r */
#include "http_tokens.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <sodium.h>

typedef struct {
    unsigned char hash[crypto_generichash_BYTES]; /* BLAKE2b-256 of the token */
    char partner[HG_FHIR_HTTP_PARTNER_MAX + 1];
    char role[HG_HTTP_ROLE_MAX + 1]; /* "" without rules */
} s_token_t;

struct hg_http_tokens {
    s_token_t *v; /* immutable once parsed */
    size_t n, cap;
};

struct hg_http_auth {
    char *path;                          /* owned copy, re-read on reload */
    const hg_http_tokens_rules_t *rules; /* not owned (static), may be NULL */
    pthread_mutex_t lock;                /* guards the pointer below (tables are immutable) */
    hg_http_tokens_t *tokens;            /* replaced whole on reload */
};

/* ---- files ------------------------------------------------------------------ */

int
hg_http_file_read (const char *path, const char *what, char **out, size_t *out_len, hg_err_t *err)
{
    *out = NULL;
    *out_len = 0;
    FILE *f = fopen (path, "r");
    if (!f) {
        return hg_err_set (err, HG_EIO, "cannot read %s %s: %s", what, path, strerror (errno));
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc (cap);
    int rc = 0;
    for (;;) {
        if (!buf) {
            rc = hg_err_set (err, HG_ENOMEM, "out of memory reading %s %s", what, path);
            break;
        }
        size_t got = fread (buf + len, 1, cap - len - 1, f);
        len += got;
        if (len > HG_FHIR_HTTP_FILE_MAX) {
            rc = hg_err_set (err, HG_ELIMIT,
                             "%s %s is larger than %d bytes: is it the right file?", what, path,
                             HG_FHIR_HTTP_FILE_MAX);
            break;
        }
        if (got == 0) {
            if (ferror (f)) {
                rc = hg_err_set (err, HG_EIO, "cannot read %s %s: %s", what, path,
                                 strerror (errno));
            }
            break;
        }
        if (len + 1 == cap) {
            char *nb = realloc (buf, cap * 2);
            if (!nb) {
                sodium_memzero (buf, cap);
                free (buf);
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose (f);
    if (rc < 0) {
        if (buf) {
            sodium_memzero (buf, cap);
        }
        free (buf);
        return rc;
    }
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    return 0;
}

/* ---- tokens ------------------------------------------------------------------ */

static void
s_hash_token (const char *token, size_t len, unsigned char *out)
{
    crypto_generichash (out, crypto_generichash_BYTES, (const unsigned char *) token, len, NULL,
                        0);
}

static bool
s_partner_ok (const char *partner)
{
    size_t n = strlen (partner);
    if (n == 0 || n > HG_FHIR_HTTP_PARTNER_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char) partner[i];
        if (ch == '/' || ch < 0x20 || ch == 0x7f) {
            return false;
        }
    }
    return true;
}

void
hg_http_token_hash_text (const char *token, size_t len, char *out)
{
    unsigned char h[crypto_generichash_BYTES];
    s_hash_token (token, len, h);
    memcpy (out, HG_HTTP_HASH_PREFIX, strlen (HG_HTTP_HASH_PREFIX));
    sodium_bin2hex (out + strlen (HG_HTTP_HASH_PREFIX), 2 * sizeof (h) + 1, h, sizeof (h));
}

/* The role column of a line under rules into role; -1 when it names none
 * of them. */
static int
s_role (const hg_http_tokens_rules_t *rules, const char *col, char *role)
{
    if (!col) {
        snprintf (role, HG_HTTP_ROLE_MAX + 1, "%s", rules->roles[0]);
        return 0;
    }
    for (size_t i = 0; rules->roles[i]; i++) {
        if (strcmp (rules->roles[i], col) == 0) {
            snprintf (role, HG_HTTP_ROLE_MAX + 1, "%s", col);
            return 0;
        }
    }
    return -1;
}

/* The hash of a line's token: the hash written out ("blake2b:<hex>") or
 * that of the token itself. */
static int
s_line_hash (const char *token, unsigned char *hash, unsigned line_no, const char *source,
             hg_err_t *err)
{
    size_t pl = strlen (HG_HTTP_HASH_PREFIX);
    if (strncmp (token, HG_HTTP_HASH_PREFIX, pl) != 0) {
        if (strlen (token) < HG_FHIR_HTTP_TOKEN_MIN) {
            return hg_err_set (err, HG_EINVAL,
                               "%s line %u: token is shorter than %d characters; use a random "
                               "one (e.g. openssl rand -hex 32)",
                               source, line_no, HG_FHIR_HTTP_TOKEN_MIN);
        }
        s_hash_token (token, strlen (token), hash);
        return 0;
    }
    size_t bin_len = 0;
    if (strlen (token) != HG_HTTP_HASH_TEXT_LEN
        || sodium_hex2bin (hash, crypto_generichash_BYTES, token + pl, strlen (token) - pl, NULL,
                           &bin_len, NULL)
               != 0
        || bin_len != crypto_generichash_BYTES) {
        return hg_err_set (err, HG_EINVAL,
                           "%s line %u: a hashed token is '" HG_HTTP_HASH_PREFIX
                           "' and 64 hex digits (its BLAKE2b-256)",
                           source, line_no);
    }
    return 0;
}

/* One line of a tokens file (NUL-terminated, no '\n'), added to self. */
static int
s_tokens_line (hg_http_tokens_t *self, char *line, unsigned line_no, const char *source,
               const hg_http_tokens_rules_t *rules, hg_err_t *err)
{
    static const char *blank = " \t\r\v\f";
    char *save = NULL;
    char *token = strtok_r (line, blank, &save);
    if (!token || *token == '#') {
        return 0;
    }
    char *partner = strtok_r (NULL, blank, &save);
    char *role_col = rules && rules->roles ? strtok_r (NULL, blank, &save) : NULL;
    if (role_col && *role_col == '#') {
        role_col = NULL;
        save = NULL; /* the rest is a comment */
    }
    char *extra = save ? strtok_r (NULL, blank, &save) : NULL;
    if (!partner || *partner == '#' || (extra && *extra != '#')) {
        return hg_err_set (err, HG_EINVAL, "%s line %u: expected '<token> %s'", source, line_no,
                           rules && rules->roles ? "<name> [<role>]" : "<partner>");
    }
    char role[HG_HTTP_ROLE_MAX + 1] = "";
    if (rules && rules->roles && s_role (rules, role_col, role) < 0) {
        return hg_err_set (err, HG_EINVAL, "%s line %u: role '%.20s' is not one of %s%s%s",
                           source, line_no, role_col, rules->roles[0],
                           rules->roles[1] ? ", " : "", rules->roles[1] ? rules->roles[1] : "");
    }
    unsigned char hash[crypto_generichash_BYTES];
    if (s_line_hash (token, hash, line_no, source, err) < 0) {
        return err->code;
    }
    if (!s_partner_ok (partner)) {
        return hg_err_set (err, HG_EINVAL,
                           "%s line %u: partner name must be 1-%d characters without '/' or "
                           "control characters",
                           source, line_no, HG_FHIR_HTTP_PARTNER_MAX);
    }
    if (self->n == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 16;
        s_token_t *nv = calloc (cap, sizeof (*nv));
        if (!nv) {
            return hg_err_set (err, HG_ENOMEM, "out of memory reading %s", source);
        }
        if (self->v) {
            memcpy (nv, self->v, self->n * sizeof (*nv));
            sodium_memzero (self->v, self->cap * sizeof (*self->v));
        }
        free (self->v);
        self->v = nv;
        self->cap = cap;
    }
    s_token_t *t = &self->v[self->n];
    memcpy (t->hash, hash, sizeof (hash));
    sodium_memzero (hash, sizeof (hash));
    snprintf (t->role, sizeof (t->role), "%s", role);
    for (size_t i = 0; i < self->n; i++) {
        if (sodium_memcmp (self->v[i].hash, t->hash, sizeof (t->hash)) == 0) {
            sodium_memzero (t, sizeof (*t));
            return hg_err_set (err, HG_EINVAL,
                               "%s line %u: token repeats an earlier line's; each partner "
                               "needs its own token",
                               source, line_no);
        }
    }
    snprintf (t->partner, sizeof (t->partner), "%s", partner);
    self->n++;
    return 0;
}

hg_http_tokens_t *
hg_http_tokens_parse (const char *text, size_t len, const char *source, hg_err_t *err)
{
    return hg_http_tokens_parse_rules (text, len, source, NULL, err);
}

hg_http_tokens_t *
hg_http_tokens_parse_rules (const char *text, size_t len, const char *source,
                            const hg_http_tokens_rules_t *rules, hg_err_t *err)
{
    if (!source) {
        source = "tokens";
    }
    if (len > 0 && memchr (text, '\0', len)) {
        hg_err_set (err, HG_EINVAL,
                    "%s holds a NUL byte: a tokens file is text, '<token> <partner>' lines",
                    source);
        return NULL;
    }
    hg_http_tokens_t *self = calloc (1, sizeof (*self));
    char *copy = malloc (len + 1);
    if (!self || !copy) {
        free (self);
        free (copy);
        hg_err_set (err, HG_ENOMEM, "out of memory reading %s", source);
        return NULL;
    }
    if (len > 0) {
        memcpy (copy, text, len);
    }
    copy[len] = '\0';
    int rc = 0;
    unsigned line_no = 0;
    for (char *p = copy; rc == 0 && *p;) {
        char *nl = strchr (p, '\n');
        if (nl) {
            *nl = '\0';
        }
        rc = s_tokens_line (self, p, ++line_no, source, rules, err);
        p = nl ? nl + 1 : p + strlen (p);
    }
    if (rc == 0 && self->n == 0 && !(rules && rules->allow_empty)) {
        rc = hg_err_set (err, HG_EINVAL,
                         "%s holds no token: add '<token> <partner>' lines so partners can "
                         "push",
                         source);
    }
    sodium_memzero (copy, len + 1);
    free (copy);
    if (rc < 0) {
        hg_http_tokens_destroy (&self);
    }
    return self;
}

static hg_http_tokens_t *
s_load (const char *path, const hg_http_tokens_rules_t *rules, hg_err_t *err)
{
    char *text;
    size_t len;
    if (hg_http_file_read (path, "http tokens file", &text, &len, err) < 0) {
        return NULL;
    }
    hg_http_tokens_t *self = hg_http_tokens_parse_rules (text, len, path, rules, err);
    sodium_memzero (text, len);
    free (text);
    return self;
}

hg_http_tokens_t *
hg_http_tokens_load (const char *path, hg_err_t *err)
{
    return s_load (path, NULL, err);
}

size_t
hg_http_tokens_count (const hg_http_tokens_t *self)
{
    return self ? self->n : 0;
}

bool
hg_http_tokens_match (const hg_http_tokens_t *self, const char *authorization, char *partner,
                      size_t cap)
{
    return hg_http_tokens_match_role (self, authorization, partner, cap, NULL, 0);
}

bool
hg_http_tokens_match_role (const hg_http_tokens_t *self, const char *authorization, char *partner,
                           size_t cap, char *role, size_t role_cap)
{
    if (!self || !authorization || strncasecmp (authorization, "Bearer ", 7) != 0) {
        return false;
    }
    const char *token = authorization + 7;
    while (*token == ' ' || *token == '\t') {
        token++;
    }
    size_t len = strlen (token);
    while (len > 0 && (token[len - 1] == ' ' || token[len - 1] == '\t')) {
        len--;
    }
    if (len == 0) {
        return false;
    }
    unsigned char hash[crypto_generichash_BYTES];
    s_hash_token (token, len, hash);
    const s_token_t *found = NULL;
    for (size_t i = 0; i < self->n; i++) {
        if (sodium_memcmp (self->v[i].hash, hash, sizeof (hash)) == 0) {
            found = &self->v[i];
        }
    }
    if (found) {
        snprintf (partner, cap, "%s", found->partner);
        if (role) {
            snprintf (role, role_cap, "%s", found->role);
        }
    }
    return found != NULL;
}

void
hg_http_tokens_destroy (hg_http_tokens_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    hg_http_tokens_t *self = *self_p;
    if (self->v) {
        sodium_memzero (self->v, self->cap * sizeof (*self->v));
    }
    free (self->v);
    free (self);
    *self_p = NULL;
}

/* ---- the table in force, reloadable ------------------------------------------ */

hg_http_auth_t *
hg_http_auth_open (const char *path, hg_err_t *err)
{
    return hg_http_auth_open_rules (path, NULL, err);
}

hg_http_auth_t *
hg_http_auth_open_rules (const char *path, const hg_http_tokens_rules_t *rules, hg_err_t *err)
{
    hg_http_auth_t *self = calloc (1, sizeof (*self));
    if (!self || !(self->path = strdup (path ? path : ""))) {
        free (self);
        hg_err_set (err, HG_ENOMEM, "out of memory");
        return NULL;
    }
    self->rules = rules;
    pthread_mutex_init (&self->lock, NULL);
    self->tokens = s_load (self->path, rules, err);
    if (!self->tokens) {
        hg_http_auth_close (&self);
    }
    return self;
}

int
hg_http_auth_reload (hg_http_auth_t *self, size_t *partners, hg_err_t *err)
{
    hg_err_t local = {0};
    if (!err) {
        err = &local;
    }
    hg_http_tokens_t *fresh = s_load (self->path, self->rules, err);
    if (!fresh) {
        return err->code < 0 ? err->code : HG_EINVAL;
    }
    size_t n = hg_http_tokens_count (fresh);
    pthread_mutex_lock (&self->lock);
    hg_http_tokens_t *old = self->tokens;
    self->tokens = fresh;
    pthread_mutex_unlock (&self->lock);
    /* matches copy out under the lock: nobody points into old */
    hg_http_tokens_destroy (&old);
    if (partners) {
        *partners = n;
    }
    return 0;
}

bool
hg_http_auth_match (hg_http_auth_t *self, const char *authorization, char *partner, size_t cap)
{
    pthread_mutex_lock (&self->lock);
    bool ok = hg_http_tokens_match (self->tokens, authorization, partner, cap);
    pthread_mutex_unlock (&self->lock);
    return ok;
}

bool
hg_http_auth_match_role (hg_http_auth_t *self, const char *authorization, char *name, size_t cap,
                         char *role, size_t role_cap)
{
    pthread_mutex_lock (&self->lock);
    bool ok = hg_http_tokens_match_role (self->tokens, authorization, name, cap, role, role_cap);
    pthread_mutex_unlock (&self->lock);
    return ok;
}

size_t
hg_http_auth_count (hg_http_auth_t *self)
{
    pthread_mutex_lock (&self->lock);
    size_t n = hg_http_tokens_count (self->tokens);
    pthread_mutex_unlock (&self->lock);
    return n;
}

void
hg_http_auth_close (hg_http_auth_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    hg_http_auth_t *self = *self_p;
    hg_http_tokens_destroy (&self->tokens);
    free (self->path);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

/* ---- TLS files ---------------------------------------------------------------- */

static int
s_tls_fail (char **cert, char **key, size_t *key_len, int rc)
{
    if (*key) {
        sodium_memzero (*key, *key_len);
    }
    free (*key);
    free (*cert);
    *key = *cert = NULL;
    *key_len = 0;
    return rc;
}

int
hg_http_tls_read (const char *cert_path, const char *key_path, const char *cert_opt,
                  const char *key_opt, char **cert, char **key, size_t *key_len, hg_err_t *err)
{
    *cert = *key = NULL;
    *key_len = 0;
    bool has_cert = cert_path && *cert_path, has_key = key_path && *key_path;
    if (!has_cert && !has_key) {
        return 0;
    }
    if (has_cert != has_key) {
        return hg_err_set (err, HG_EINVAL,
                           "%s is set but %s is not: HTTPS needs both the certificate and its "
                           "private key (PEM files), plain HTTP neither",
                           has_cert ? cert_opt : key_opt, has_cert ? key_opt : cert_opt);
    }
    size_t len;
    int rc = hg_http_file_read (cert_path, cert_opt, cert, &len, err);
    if (rc < 0) {
        return s_tls_fail (cert, key, key_len, rc);
    }
    if (!strstr (*cert, "-----BEGIN CERTIFICATE-----")) {
        return s_tls_fail (cert, key, key_len,
                           hg_err_set (err, HG_EINVAL,
                                       "%s %s is not a PEM certificate: expected a "
                                       "'-----BEGIN CERTIFICATE-----' block (convert DER with "
                                       "'openssl x509 -inform der -in CERT -out CERT.pem')",
                                       cert_opt, cert_path));
    }
    rc = hg_http_file_read (key_path, key_opt, key, key_len, err);
    if (rc < 0) {
        return s_tls_fail (cert, key, key_len, rc);
    }
    if (strstr (*key, "ENCRYPTED")) {
        return s_tls_fail (cert, key, key_len,
                           hg_err_set (err, HG_EINVAL,
                                       "%s %s is encrypted with a passphrase the service cannot "
                                       "ask for: store it decrypted ('openssl pkey -in KEY -out "
                                       "KEY.plain') and readable only by the service's user",
                                       key_opt, key_path));
    }
    if (!strstr (*key, "-----BEGIN ") || !strstr (*key, "PRIVATE KEY-----")) {
        return s_tls_fail (cert, key, key_len,
                           hg_err_set (err, HG_EINVAL,
                                       "%s %s is not a PEM private key: expected a "
                                       "'-----BEGIN PRIVATE KEY-----' block",
                                       key_opt, key_path));
    }
    struct stat st;
    return stat (key_path, &st) == 0 && (st.st_mode & 0077) ? 1 : 0;
}
