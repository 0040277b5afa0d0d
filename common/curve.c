/*
 * curve.c -- CurveZMQ key files and the ZAP allow-list handler.
 */
#include "curve.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <zmq.h>

#include "log.h"
#include "util.h"
#include "zmsg.h"

int
hg_curve_keygen (const char *prefix, hg_curve_keypair_t *out, hg_err_t *err)
{
    unsigned char pk[crypto_box_PUBLICKEYBYTES], sk[crypto_box_SECRETKEYBYTES];
    if (sodium_init () < 0) {
        return hg_err_set (err, HG_EIO, "libsodium failed to initialise");
    }
    crypto_box_keypair (pk, sk);
    zmq_z85_encode (out->public_z85, pk, sizeof (pk));
    zmq_z85_encode (out->secret_z85, sk, sizeof (sk));
    sodium_memzero (sk, sizeof (sk));
    char path[4096], text[128];
    snprintf (path, sizeof (path), "%s.key", prefix);
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        return hg_err_set (err, HG_EIO, "cannot create %s: %s%s", path, strerror (errno),
                           errno == EEXIST ? " (refusing to overwrite a key)" : "");
    }
    int n = snprintf (text, sizeof (text), "public = %s\nsecret = %s\n", out->public_z85,
                      out->secret_z85);
    bool ok = write (fd, text, (size_t) n) == n && fsync (fd) == 0;
    close (fd);
    sodium_memzero (text, sizeof (text));
    if (!ok) {
        return hg_err_set (err, HG_EIO, "cannot write %s", path);
    }
    snprintf (path, sizeof (path), "%s.pub", prefix);
    n = snprintf (text, sizeof (text), "%s\n", out->public_z85);
    return hg_write_file_atomic (path, text, (size_t) n, 0644, err);
}

/* Finds the line "<name> = <40-char Z85>" in text (the key itself may hold
 * '=' or spaces-free punctuation, so the prefix is matched exactly). */
static bool
s_field (const char *text, const char *name, char out[HG_CURVE_Z85_LEN + 1])
{
    char prefix[32];
    int pl = snprintf (prefix, sizeof (prefix), "%s = ", name);
    for (const char *line = text; line && *line;
         line = strchr (line, '\n'), line = line ? line + 1 : NULL) {
        if (strncmp (line, prefix, (size_t) pl) != 0) {
            continue;
        }
        const char *p = line + pl;
        size_t n = strcspn (p, "\r\n");
        if (n != HG_CURVE_Z85_LEN) {
            return false;
        }
        memcpy (out, p, n);
        out[n] = '\0';
        return true;
    }
    return false;
}

int
hg_curve_load_keypair (const char *path, hg_curve_keypair_t *out, hg_err_t *err)
{
    struct stat st;
    if (stat (path, &st) < 0) {
        return hg_err_set (err, HG_ENOTFOUND,
                           "cannot read key %s: %s (create one with: "
                           "hourglass keygen --out NAME)",
                           path, strerror (errno));
    }
    if (st.st_mode & 077) {
        return hg_err_set (err, HG_EINVAL,
                           "key file %s has mode %04o; it must be 0600 "
                           "(chmod 600 %s)",
                           path, (unsigned) (st.st_mode & 0777), path);
    }
    char *text;
    size_t len;
    if (hg_read_file (path, 4096, &text, &len, err) < 0) {
        return err->code;
    }
    bool ok = s_field (text, "public", out->public_z85)
              && s_field (text, "secret", out->secret_z85);
    sodium_memzero (text, len);
    free (text);
    if (!ok) {
        return hg_err_set (err, HG_EINVAL,
                           "%s is not an Hourglass key file (expected "
                           "'public = <z85>' and 'secret = <z85>' lines)",
                           path);
    }
    return 0;
}

int
hg_curve_load_public (const char *path_or_z85, char out[HG_CURVE_Z85_LEN + 1], hg_err_t *err)
{
    if (strlen (path_or_z85) == HG_CURVE_Z85_LEN && !strchr (path_or_z85, '/')) {
        uint8_t bin[32];
        if (!zmq_z85_decode (bin, path_or_z85)) {
            return hg_err_set (err, HG_EINVAL, "'%s' is not a Z85 public key", path_or_z85);
        }
        memcpy (out, path_or_z85, HG_CURVE_Z85_LEN + 1);
        return 0;
    }
    char *text;
    size_t len;
    if (hg_read_file (path_or_z85, 4096, &text, &len, err) < 0) {
        return err->code;
    }
    size_t n = strcspn (text, " \r\n");
    uint8_t bin[32];
    int rc = 0;
    if (n != HG_CURVE_Z85_LEN) {
        rc = hg_err_set (err, HG_EINVAL, "%s does not hold a 40-character Z85 public key",
                         path_or_z85);
    }
    else {
        memcpy (out, text, n);
        out[n] = '\0';
        if (!zmq_z85_decode (bin, out)) {
            rc = hg_err_set (err, HG_EINVAL, "%s is not a Z85 public key", path_or_z85);
        }
    }
    free (text);
    return rc;
}

int
hg_curve_make_server (void *sock, const hg_curve_keypair_t *kp, const char *domain, hg_err_t *err)
{
    int one = 1;
    if (zmq_setsockopt (sock, ZMQ_CURVE_SERVER, &one, sizeof (one)) < 0
        || zmq_setsockopt (sock, ZMQ_CURVE_SECRETKEY, kp->secret_z85, HG_CURVE_Z85_LEN) < 0
        || zmq_setsockopt (sock, ZMQ_ZAP_DOMAIN, domain, strlen (domain)) < 0) {
        return hg_err_set (err, HG_EIO,
                           "cannot enable CURVE: %s (is libzmq built with "
                           "CURVE?)",
                           zmq_strerror (errno));
    }
    return 0;
}

int
hg_curve_make_client (void *sock, const hg_curve_keypair_t *kp, const char *server_public,
                      hg_err_t *err)
{
    if (zmq_setsockopt (sock, ZMQ_CURVE_SERVERKEY, server_public, HG_CURVE_Z85_LEN) < 0
        || zmq_setsockopt (sock, ZMQ_CURVE_PUBLICKEY, kp->public_z85, HG_CURVE_Z85_LEN) < 0
        || zmq_setsockopt (sock, ZMQ_CURVE_SECRETKEY, kp->secret_z85, HG_CURVE_Z85_LEN) < 0) {
        return hg_err_set (err, HG_EIO, "cannot enable CURVE: %s", zmq_strerror (errno));
    }
    return 0;
}

/* ---- ZAP handler ---------------------------------------------------------- */

#define HG_CURVE_MAX_DOMAINS 4

typedef struct {
    char domain[32];
    char path[4096];
    hg_curve_allowed_t *keys;
    size_t n_keys;
} allow_list_t;

struct hg_curve_auth {
    void *sock; /* REP at inproc://zeromq.zap.01 */
    allow_list_t lists[HG_CURVE_MAX_DOMAINS];
    size_t n_lists;
};

/* One line of an allow-list (NUL-terminated): 1 and *key filled, 0 for a
 * blank or comment line, <0 when it is not "<z85> <name>". */
static int
s_allow_line (const char *line, hg_curve_allowed_t *key)
{
    while (*line == ' ' || *line == '\t') {
        line++;
    }
    if (*line == '#' || *line == '\0' || *line == '\r') {
        return 0;
    }
    /* the key is a whole token: "%40s" alone would take the first 40
     * characters of a longer one and the rest as the name */
    char z85[HG_CURVE_Z85_LEN + 1], name[64];
    if (strcspn (line, " \t\r\n\v\f") != HG_CURVE_Z85_LEN) {
        return HG_EINVAL;
    }
    memcpy (z85, line, HG_CURVE_Z85_LEN);
    z85[HG_CURVE_Z85_LEN] = '\0';
    if (sscanf (line + HG_CURVE_Z85_LEN, "%63s", name) != 1 || !zmq_z85_decode (key->key, z85)) {
        return HG_EINVAL;
    }
    snprintf (key->name, sizeof (key->name), "%s", name);
    return 1;
}

int
hg_curve_allow_parse (const char *text, size_t len, const char *where, hg_curve_allowed_t **keys,
                      size_t *n, hg_err_t *err)
{
    hg_curve_allowed_t *v = calloc (HG_CURVE_MAX_KEYS, sizeof (*v));
    char *line = malloc (len + 1);
    if (!v || !line) {
        free (v);
        free (line);
        return hg_err_set (err, HG_ENOMEM, "out of memory reading %s", where);
    }
    size_t got = 0;
    int lineno = 0, rc = 0;
    for (size_t at = 0; at < len && got < HG_CURVE_MAX_KEYS;) {
        const char *nl = memchr (text + at, '\n', len - at);
        size_t ll = nl ? (size_t) (nl - (text + at)) : len - at;
        memcpy (line, text + at, ll);
        line[ll] = '\0';
        at += ll + 1;
        lineno++;
        int r = s_allow_line (line, &v[got]);
        if (r < 0) {
            rc = hg_err_set (err, HG_EINVAL, "%s:%d: expected '<40-char Z85 public key> <name>'",
                             where, lineno);
            break;
        }
        got += (size_t) r;
    }
    free (line);
    if (rc < 0) {
        free (v);
        return rc;
    }
    *keys = v;
    *n = got;
    return 0;
}

static int
s_load_allow (allow_list_t *self, hg_err_t *err)
{
    char *text;
    size_t len;
    if (hg_read_file (self->path, 1 << 20, &text, &len, err) < 0) {
        return err->code;
    }
    hg_curve_allowed_t *keys;
    size_t n;
    int rc = hg_curve_allow_parse (text, len, self->path, &keys, &n, err);
    free (text);
    if (rc < 0) {
        return rc;
    }
    free (self->keys);
    self->keys = keys;
    self->n_keys = n;
    return 0;
}

int
hg_curve_auth_allow (hg_curve_auth_t *self, const char *domain, const char *allow_path,
                     hg_err_t *err)
{
    if (self->n_lists == HG_CURVE_MAX_DOMAINS) {
        return hg_err_set (err, HG_ELIMIT, "too many ZAP domains");
    }
    allow_list_t *l = &self->lists[self->n_lists];
    memset (l, 0, sizeof (*l));
    snprintf (l->domain, sizeof (l->domain), "%s", domain);
    snprintf (l->path, sizeof (l->path), "%s", allow_path);
    if (s_load_allow (l, err) < 0) {
        return err->code;
    }
    self->n_lists++;
    return 0;
}

hg_curve_auth_t *
hg_curve_auth_new (void *zctx, hg_err_t *err)
{
    hg_curve_auth_t *self = calloc (1, sizeof (*self));
    self->sock = hg_zsock_new (zctx, ZMQ_REP,
                               HG_ZMSG_CONTROL_REQUEST_MAX); /* inproc: ZeroMQ's own */
    int linger = 0;
    zmq_setsockopt (self->sock, ZMQ_LINGER, &linger, sizeof (linger));
    if (zmq_bind (self->sock, "inproc://zeromq.zap.01") < 0) {
        hg_err_set (err, HG_EIO, "cannot start the ZAP handler: %s", zmq_strerror (errno));
        hg_curve_auth_destroy (&self);
        return NULL;
    }
    return self;
}

void
hg_curve_auth_destroy (hg_curve_auth_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    hg_curve_auth_t *self = *self_p;
    if (self->sock) {
        zmq_close (self->sock);
    }
    for (size_t i = 0; i < self->n_lists; i++) {
        free (self->lists[i].keys);
    }
    free (self);
    *self_p = NULL;
}

void *
hg_curve_auth_socket (hg_curve_auth_t *self)
{
    return self->sock;
}

int
hg_curve_auth_reload (hg_curve_auth_t *self, hg_err_t *err)
{
    for (size_t i = 0; i < self->n_lists; i++) {
        if (s_load_allow (&self->lists[i], err) < 0) {
            return err->code;
        }
    }
    return 0;
}

int
hg_curve_auth_handle (hg_curve_auth_t *self)
{
    int refused = 0;
    for (;;) {
        /* request: version, request id, domain, address, identity, mechanism, credentials */
        zmq_msg_t parts[8];
        int n = hg_zmsg_recv (self->sock, parts, 8, ZMQ_DONTWAIT, NULL);
        if (n <= 0) {
            return refused;
        }
        const char *status = "400", *text = "unknown key", *user = "";
        char fp[17] = "-";
        if (n >= 7 && zmq_msg_size (&parts[5]) == 5
            && memcmp (zmq_msg_data (&parts[5]), "CURVE", 5) == 0
            && zmq_msg_size (&parts[6]) == 32) {
            const uint8_t *key = zmq_msg_data (&parts[6]);
            sodium_bin2hex (fp, sizeof (fp), key, 8);
            const allow_list_t *l = NULL;
            for (size_t d = 0; d < self->n_lists; d++) {
                if (zmq_msg_size (&parts[2]) == strlen (self->lists[d].domain)
                    && memcmp (zmq_msg_data (&parts[2]), self->lists[d].domain,
                               zmq_msg_size (&parts[2]))
                           == 0) {
                    l = &self->lists[d];
                }
            }
            for (size_t i = 0; l && i < l->n_keys; i++) {
                if (sodium_memcmp (l->keys[i].key, key, 32) == 0) {
                    status = "200";
                    text = "OK";
                    user = l->keys[i].name;
                    break;
                }
            }
        }
        else {
            text = "only CURVE is accepted";
        }
        if (*status != '2') {
            refused++;
            char addr[64] = "";
            if (n >= 4) {
                snprintf (addr, sizeof (addr), "%.*s", (int) zmq_msg_size (&parts[3]),
                          (const char *) zmq_msg_data (&parts[3]));
            }
            hg_warn ("auth_refused", "peer=%s key_fingerprint=%s reason=\"%s\"", addr, fp, text);
        }
        /* reply: version, request id, status code, status text, user id, metadata */
        zmq_send (self->sock, "1.0", 3, ZMQ_SNDMORE);
        if (n >= 2) {
            zmq_send (self->sock, zmq_msg_data (&parts[1]), zmq_msg_size (&parts[1]),
                      ZMQ_SNDMORE);
        }
        else {
            zmq_send (self->sock, "", 0, ZMQ_SNDMORE);
        }
        zmq_send (self->sock, status, 3, ZMQ_SNDMORE);
        zmq_send (self->sock, text, strlen (text), ZMQ_SNDMORE);
        zmq_send (self->sock, user, strlen (user), ZMQ_SNDMORE);
        /* metadata (ZMTP properties): the key's fingerprint, which the
         * service logs when it refuses a request (zmq_msg_gets) */
        uint8_t meta[64];
        size_t ml = 0;
        if (*status == '2') {
            static const char name[] = HG_CURVE_FP_PROPERTY;
            meta[ml++] = (uint8_t) (sizeof (name) - 1);
            memcpy (meta + ml, name, sizeof (name) - 1);
            ml += sizeof (name) - 1;
            uint32_t vl = (uint32_t) strlen (fp);
            meta[ml++] = 0;
            meta[ml++] = 0;
            meta[ml++] = 0;
            meta[ml++] = (uint8_t) vl;
            memcpy (meta + ml, fp, vl);
            ml += vl;
        }
        zmq_send (self->sock, meta, ml, 0);
        hg_zmsg_close (parts, n);
    }
}
