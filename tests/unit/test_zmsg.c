/*
 * test_zmsg.c -- multipart receive: a whole message at once, frames past
 * max dropped (and said so) without spilling into the next message,
 * nothing waiting is 0.
 */
#include "unit_test.h"

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

HG_TEST_MAIN (cmocka_unit_test (test_recv))
