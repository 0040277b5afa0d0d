/*
 * test_zmsg.c -- multipart receive: a whole message at once, frames past
 * max dropped (and said so) without spilling into the next message,
 * nothing waiting is 0; a socket of hg_zsock_new drops a peer whose frame
 * is over its limit and goes on serving the others.
 */
#include "unit_test.h"

#include <stdlib.h>
#include <string.h>

#include "zmsg.h"

static void
s_send (void *sock, const char **frames, int n)
{
    for (int i = 0; i < n; i++) {
        int flags = i + 1 < n ? ZMQ_SNDMORE : 0;
        assert_true (zmq_send (sock, frames[i], strlen (frames[i]), flags) >= 0);
    }
}

static void
s_assert_frame (zmq_msg_t *m, const char *want)
{
    assert_int_equal (zmq_msg_size (m), strlen (want));
    assert_memory_equal (zmq_msg_data (m), want, strlen (want));
}

static void
test_recv (void **state)
{
    (void) state;
    void *ctx = zmq_ctx_new ();
    void *a = zmq_socket (ctx, ZMQ_PAIR), *b = zmq_socket (ctx, ZMQ_PAIR);
    assert_int_equal (zmq_bind (a, "inproc://test-zmsg"), 0);
    assert_int_equal (zmq_connect (b, "inproc://test-zmsg"), 0);

    zmq_msg_t parts[2];
    bool truncated = true;
    assert_int_equal (hg_zmsg_recv (a, parts, 2, ZMQ_DONTWAIT, &truncated), 0);
    assert_false (truncated);

    const char *four[] = {"id", "", "body", "extra"};
    const char *two[] = {"next", "message"};
    s_send (b, four, 4);
    s_send (b, two, 2);
    int n = hg_zmsg_recv (a, parts, 2, ZMQ_DONTWAIT, &truncated);
    assert_int_equal (n, 2);
    assert_true (truncated);
    s_assert_frame (&parts[0], "id");
    s_assert_frame (&parts[1], "");
    hg_zmsg_close (parts, n);
    n = hg_zmsg_recv (a, parts, 2, 0, &truncated);
    assert_int_equal (n, 2);
    assert_false (truncated);
    s_assert_frame (&parts[0], "next");
    s_assert_frame (&parts[1], "message");
    hg_zmsg_close (parts, n);

    const char *one[] = {"single"};
    s_send (b, one, 1);
    n = hg_zmsg_recv (a, parts, 2, ZMQ_DONTWAIT, NULL);
    assert_int_equal (n, 1);
    s_assert_frame (&parts[0], "single");
    hg_zmsg_close (parts, n);
    hg_zmsg_close (parts, -1);

    zmq_close (a);
    zmq_close (b);
    zmq_ctx_term (ctx);
}

static void
test_max_frame (void **state)
{
    (void) state;
    void *ctx = zmq_ctx_new ();
    void *srv = hg_zsock_new (ctx, ZMQ_ROUTER, 4096);
    assert_non_null (srv);
    int64_t got_max = 0;
    size_t optlen = sizeof (got_max);
    assert_int_equal (zmq_getsockopt (srv, ZMQ_MAXMSGSIZE, &got_max, &optlen), 0);
    assert_int_equal (got_max, 4096);
    int timeout = 2000, linger = 0;
    zmq_setsockopt (srv, ZMQ_RCVTIMEO, &timeout, sizeof (timeout));
    assert_int_equal (zmq_bind (srv, "tcp://127.0.0.1:*"), 0);
    char ep[128];
    size_t eplen = sizeof (ep);
    assert_int_equal (zmq_getsockopt (srv, ZMQ_LAST_ENDPOINT, ep, &eplen), 0);

    /* a frame over the limit: the connection is dropped, nothing arrives */
    void *big = zmq_socket (ctx, ZMQ_DEALER);
    zmq_setsockopt (big, ZMQ_LINGER, &linger, sizeof (linger));
    assert_int_equal (zmq_connect (big, ep), 0);
    size_t n_big = 1u << 20;
    char *buf = calloc (1, n_big);
    assert_non_null (buf);
    assert_true (zmq_send (big, buf, n_big, 0) >= 0);
    zmq_msg_t parts[2];
    timeout = 500;
    zmq_setsockopt (srv, ZMQ_RCVTIMEO, &timeout, sizeof (timeout));
    assert_int_equal (hg_zmsg_recv (srv, parts, 2, 0, NULL), 0);

    /* one at the limit from another peer still arrives */
    void *ok = zmq_socket (ctx, ZMQ_DEALER);
    zmq_setsockopt (ok, ZMQ_LINGER, &linger, sizeof (linger));
    assert_int_equal (zmq_connect (ok, ep), 0);
    assert_true (zmq_send (ok, buf, 4096, 0) >= 0);
    timeout = 5000;
    zmq_setsockopt (srv, ZMQ_RCVTIMEO, &timeout, sizeof (timeout));
    int n = hg_zmsg_recv (srv, parts, 2, 0, NULL);
    assert_int_equal (n, 2);
    assert_int_equal (zmq_msg_size (&parts[1]), 4096);
    hg_zmsg_close (parts, n);
    free (buf);
    zmq_close (big);
    zmq_close (ok);
    zmq_setsockopt (srv, ZMQ_LINGER, &linger, sizeof (linger));
    zmq_close (srv);
    zmq_ctx_term (ctx);
}

HG_TEST_MAIN (cmocka_unit_test (test_recv), cmocka_unit_test (test_max_frame))
