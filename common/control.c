#include "control.h"

#include <errno.h>
#include <stdlib.h>

#include <zmq.h>

#include "zmsg.h"

int
hg_control_call (void *zctx, const char *endpoint, const Hourglass__ControlRequest *req,
                 int timeout_ms, Hourglass__ControlReply **reply, hg_err_t *err)
{
    void *sock = zmq_socket (zctx, ZMQ_DEALER);
    int linger = 0, rc = 0;
    zmq_setsockopt (sock, ZMQ_LINGER, &linger, sizeof (linger));
    zmq_setsockopt (sock, ZMQ_RCVTIMEO, &timeout_ms, sizeof (timeout_ms));
    size_t len = hourglass__control_request__get_packed_size (req);
    uint8_t *buf = malloc (len ? len : 1);
    hourglass__control_request__pack (req, buf);
    zmq_msg_t parts[2]; /* [empty][ControlReply] */
    int got = 0;
    if (zmq_connect (sock, endpoint) < 0) {
        rc = hg_err_set (err, HG_EINVAL, "cannot connect to %s: %s", endpoint,
                         zmq_strerror (errno));
        goto cleanup;
    }
    zmq_send (sock, "", 0, ZMQ_SNDMORE);
    zmq_send (sock, buf, len, 0);
    got = hg_zmsg_recv (sock, parts, 2, 0, NULL);
    if (got != 2) {
        rc = hg_err_set (err, HG_EAGAIN, "no answer from %s within %d ms", endpoint, timeout_ms);
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
