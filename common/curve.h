/*
 * curve.h -- CurveZMQ keys and authentication (ZAP) for Hourglass sockets.
 *
 * Key pairs are made with libsodium (crypto_box, the Curve25519 keys
 * CurveZMQ uses) and stored Z85-encoded:
 *   NAME.key  (mode 0600)  "public = <z85>\nsecret = <z85>\n"
 *   NAME.pub               "<z85>\n"
 * An allow-list file has one "<public z85> <name>" per line ('#' comments);
 * the name is what the peer is known as (a partner, or a service instance).
 *
 * A socket made a CURVE server accepts only clients whose public key is in
 * the allow-list: the ZAP handler answers libzmq's authentication requests
 * and gives the connection the key's name as its User-Id, which the
 * service reads from each message (zmq_msg_gets "User-Id"). Unknown keys
 * are refused and logged (by key fingerprint, never a secret).
 */
#ifndef HG_CURVE_H
#define HG_CURVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define HG_CURVE_Z85_LEN 40

typedef struct {
    char public_z85[HG_CURVE_Z85_LEN + 1];
    char secret_z85[HG_CURVE_Z85_LEN + 1];
} hg_curve_keypair_t;

/* Generates a key pair and writes PREFIX.key (0600) and PREFIX.pub;
 * refuses to overwrite an existing PREFIX.key. */
int hg_curve_keygen (const char *prefix, hg_curve_keypair_t *out, hg_err_t *err);

/* Loads a NAME.key file (checks its mode is not group/world readable). */
int hg_curve_load_keypair (const char *path, hg_curve_keypair_t *out, hg_err_t *err);

/* Reads a public key: a .pub file, or a Z85 string given inline. */
int hg_curve_load_public (const char *path_or_z85, char out[HG_CURVE_Z85_LEN + 1], hg_err_t *err);

/* An allow-list entry: a public key and the name its holder is known as. */
typedef struct {
    uint8_t key[32];
    char name[64]; /* longer names are cut to 63 bytes */
} hg_curve_allowed_t;

/* Keys read from one allow-list; lines after that many are ignored. */
#define HG_CURVE_MAX_KEYS 4096

/* Parses an allow-list's text (len bytes, need not end in a NUL): one
 * "<public z85> <name>" per line, leading blanks, blank lines and '#'
 * comments skipped. *keys (malloc'd, the caller frees) and *n on success;
 * HG_EINVAL with err "<where>:<line>: ..." at the first bad line. Pure: no
 * I/O (what the ZAP handler does with the file it reads). */
int hg_curve_allow_parse (const char *text, size_t len, const char *where,
                          hg_curve_allowed_t **keys, size_t *n, hg_err_t *err);

typedef struct hg_curve_auth hg_curve_auth_t;

/* The connection property (zmq_msg_gets) that holds the hex of the first 8
 * bytes of the client's public key: what logs name a key by. */
#define HG_CURVE_FP_PROPERTY "Key-Fingerprint"

/* Starts a ZAP handler in zctx (binds inproc://zeromq.zap.01). Each ZAP
 * domain has its own allow-list (hg_curve_auth_allow); a server socket
 * names its domain in hg_curve_make_server. Poll hg_curve_auth_socket and
 * call hg_curve_auth_handle when readable. NULL with err. */
hg_curve_auth_t *hg_curve_auth_new (void *zctx, hg_err_t *err);
/* Allows the keys of allow_path in domain ("services", "partners", or
 * "control": the control socket, whose names are "<role>:<name>",
 * control_acl.h). */
int hg_curve_auth_allow (hg_curve_auth_t *self, const char *domain, const char *allow_path,
                         hg_err_t *err);
void hg_curve_auth_destroy (hg_curve_auth_t **self_p);
void *hg_curve_auth_socket (hg_curve_auth_t *self);
/* Answers pending ZAP requests; returns how many were refused. */
int hg_curve_auth_handle (hg_curve_auth_t *self);
/* Re-reads every allow-list (on SIGHUP, e.g. after adding a partner). */
int hg_curve_auth_reload (hg_curve_auth_t *self, hg_err_t *err);

/* Makes sock a CURVE server with kp whose clients are checked against the
 * allow-list of domain (call before bind). */
int hg_curve_make_server (void *sock, const hg_curve_keypair_t *kp, const char *domain,
                          hg_err_t *err);
/* Makes sock a CURVE client of server_public with kp (before connect). */
int hg_curve_make_client (void *sock, const hg_curve_keypair_t *kp, const char *server_public,
                          hg_err_t *err);

#endif
