/*
 * zmsg.c -- multipart receive; see zmsg.h.
 */
#include "zmsg.h"

#include <errno.h>

void *
hg_zsock_new (void *zctx, int type, int64_t max_frame_bytes)
{
    void *sock = zmq_socket (zctx, type);
    if (sock
        && zmq_setsockopt (sock, ZMQ_MAXMSGSIZE, &max_frame_bytes, sizeof (max_frame_bytes))
               < 0) {
        int e = errno;
        zmq_close (sock);
        errno = e;
        return NULL;
    }
    return sock;
}

int
hg_zmsg_recv (void *sock, zmq_msg_t *msgs, int max, int flags, bool *truncated)
{
    int n = 0;
    if (truncated) {
        *truncated = false;
    }
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init (&m);
        if (zmq_msg_recv (&m, sock, n == 0 ? flags : 0) < 0) {
            zmq_msg_close (&m);
            return n == 0 && errno == EAGAIN ? 0 : (n ? n : -1);
        }
        int more = zmq_msg_more (&m);
        if (n < max) {
            msgs[n++] = m;
        }
        else {
            zmq_msg_close (&m);
            if (truncated) {
                *truncated = true;
            }
        }
        if (!more) {
            return n;
        }
    }
}

void
hg_zmsg_close (zmq_msg_t *msgs, int n)
{
    for (int i = 0; i < n; i++) {
        zmq_msg_close (&msgs[i]);
    }
}
