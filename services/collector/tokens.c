/*
 * tokens.c -- the FHIR-over-HTTP bearer-token table: parsing a tokens file,
 * hashing tokens, matching an Authorization header in constant time. Pure
 * apart from hg_http_file_read / hg_http_tokens_load. See tokens.h.
 */
#define _GNU_SOURCE /* strncasecmp, strtok_r */
#include "tokens.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

typedef struct {
    unsigned char hash[crypto_generichash_BYTES]; /* BLAKE2b-256 of the token */
    char partner[HG_FHIR_HTTP_PARTNER_MAX + 1];
} s_token_t;

struct hg_http_tokens {
    s_token_t *v; /* immutable once parsed */
    size_t n, cap;
};

struct hg_http_auth {
    char *path;               /* owned copy, re-read on reload */
    pthread_mutex_t lock;     /* guards the pointer below (tables are immutable) */
    hg_http_tokens_t *tokens; /* replaced whole on reload */
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

/* One line of a tokens file (NUL-terminated, no '\n'), added to self. */
static int
s_tokens_line (hg_http_tokens_t *self, char *line, unsigned line_no, const char *source,
               hg_err_t *err)
{
    static const char *blank = " \t\r\v\f";
    char *save = NULL;
    char *token = strtok_r (line, blank, &save);
    if (!token || *token == '#') {
        return 0;
    }
    char *partner = strtok_r (NULL, blank, &save);
    char *extra = strtok_r (NULL, blank, &save);
    if (!partner || *partner == '#' || (extra && *extra != '#')) {
        return hg_err_set (err, HG_EINVAL, "%s line %u: expected '<token> <partner>'", source,
                           line_no);
    }
    if (strlen (token) < HG_FHIR_HTTP_TOKEN_MIN) {
        return hg_err_set (err, HG_EINVAL,
                           "%s line %u: token is shorter than %d characters; use a random "
                           "one (e.g. openssl rand -hex 32)",
                           source, line_no, HG_FHIR_HTTP_TOKEN_MIN);
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
    s_hash_token (token, strlen (token), t->hash);
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
        rc = s_tokens_line (self, p, ++line_no, source, err);
        p = nl ? nl + 1 : p + strlen (p);
    }
    if (rc == 0 && self->n == 0) {
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

hg_http_tokens_t *
hg_http_tokens_load (const char *path, hg_err_t *err)
{
    char *text;
    size_t len;
    if (hg_http_file_read (path, "http tokens file", &text, &len, err) < 0) {
        return NULL;
    }
    hg_http_tokens_t *self = hg_http_tokens_parse (text, len, path, err);
    sodium_memzero (text, len);
    free (text);
    return self;
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
    hg_http_auth_t *self = calloc (1, sizeof (*self));
    if (!self || !(self->path = strdup (path ? path : ""))) {
        free (self);
        hg_err_set (err, HG_ENOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init (&self->lock, NULL);
    self->tokens = hg_http_tokens_load (self->path, err);
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
    hg_http_tokens_t *fresh = hg_http_tokens_load (self->path, err);
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
