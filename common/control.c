/*
 * control.c -- the control protocol's client: one request, one reply, over
 * CURVE to endpoints whose server key is known. See control.h.
 */
#include "control.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <zmq.h>

#include "zmsg.h"

#define HG_CONTROL_MAX_SERVERS 256

static hg_curve_keypair_t s_key;
static bool s_have_key;
static struct {
    char endpoint[128];
    char z85[HG_CURVE_Z85_LEN + 1];
} s_servers[HG_CONTROL_MAX_SERVERS];
static size_t s_n_servers;

int
hg_control_use_key (const char *key_path, hg_err_t *err)
{
    if (s_have_key) {
        return 0;
    }
    if (hg_curve_load_keypair (key_path, &s_key, err) < 0) {
        return err->code;
    }
    s_have_key = true;
    return 0;
}

bool
hg_control_has_key (void)
{
    return s_have_key;
}

static const char *
s_server_of (const char *endpoint)
{
    for (size_t i = 0; i < s_n_servers; i++) {
        if (strcmp (s_servers[i].endpoint, endpoint) == 0) {
            return s_servers[i].z85;
        }
    }
    return NULL;
}

int
hg_control_server_key (const char *endpoint, const char *public_key, hg_err_t *err)
{
    char z85[HG_CURVE_Z85_LEN + 1];
    if (hg_curve_load_public (public_key, z85, err) < 0) {
        return err->code;
    }
    size_t i = 0;
    while (i < s_n_servers && strcmp (s_servers[i].endpoint, endpoint) != 0) {
        i++;
    }
    if (i == HG_CONTROL_MAX_SERVERS) {
        return hg_err_set (err, HG_ELIMIT, "too many control endpoints");
    }
    if (strlen (endpoint) >= sizeof (s_servers[i].endpoint)) {
        return hg_err_set (err, HG_EINVAL, "control endpoint %s is too long", endpoint);
    }
    snprintf (s_servers[i].endpoint, sizeof (s_servers[i].endpoint), "%s", endpoint);
    memcpy (s_servers[i].z85, z85, sizeof (z85));
    s_n_servers += i == s_n_servers;
    return 0;
}

int
hg_control_make_client (void *sock, const char *server_public, hg_err_t *err)
{
    if (!s_have_key) {
        return hg_err_set (err, HG_EINVAL,
                           "the control socket requires CurveZMQ: give a key allowed on the "
                           "control plane (--key OPERATOR.key; cluster up --secure writes "
                           "DIR/keys/operator.key)");
    }
    return hg_curve_make_client (sock, &s_key, server_public, err);
}

int
hg_control_call (void *zctx, const char *endpoint, const Hourglass__ControlRequest *req,
                 int timeout_ms, Hourglass__ControlReply **reply, hg_err_t *err)
{
    *reply = NULL;
    void *sock = hg_zsock_new (zctx, ZMQ_DEALER, HG_ZMSG_REPLY_MAX);
    int linger = 0, rc = 0;
    zmq_setsockopt (sock, ZMQ_LINGER, &linger, sizeof (linger));
    zmq_setsockopt (sock, ZMQ_RCVTIMEO, &timeout_ms, sizeof (timeout_ms));
    size_t len = hourglass__control_request__get_packed_size (req);
    uint8_t *buf = malloc (len ? len : 1);
    hourglass__control_request__pack (req, buf);
    zmq_msg_t parts[2]; /* [empty][ControlReply] */
    int got = 0;
    const char *server = s_server_of (endpoint);
    if (server && (rc = hg_control_make_client (sock, server, err)) < 0) {
        goto cleanup;
    }
    if (zmq_connect (sock, endpoint) < 0) {
        rc = hg_err_set (err, HG_EINVAL, "cannot connect to %s: %s", endpoint,
                         zmq_strerror (errno));
        goto cleanup;
    }
    zmq_send (sock, "", 0, ZMQ_SNDMORE);
    zmq_send (sock, buf, len, 0);
    got = hg_zmsg_recv (sock, parts, 2, 0, NULL);
    if (got != 2) {
        rc = hg_err_set (err, HG_EAGAIN, "no answer from %s within %d ms%s", endpoint, timeout_ms,
                         server ? " (CurveZMQ: is this key in the service's control_allow?)"
                                : "");
        goto cleanup;
    }
    *reply = hourglass__control_reply__unpack (NULL, zmq_msg_size (&parts[1]),
                                               zmq_msg_data (&parts[1]));
    if (!*reply) {
        rc = hg_err_set (err, HG_EIO, "undecodable reply from %s", endpoint);
    }
cleanup:
    hg_zmsg_close (parts, got);
    free (buf);
    zmq_close (sock);
    return rc;
}
