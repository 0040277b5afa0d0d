/*
 * test_mllp_server.c -- the collector's MLLP endpoint (mllp_server.c) over
 * real loopback TCP: frames split across writes, junk, several messages in
 * one round, the ACK code of every verdict, a message without MSH-10, a
 * journal failure, an overflowing sender being closed, and the receive
 * buffers of all connections held within max_inflight_bytes.
 */
#include "unit_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "mllp_server.h"

#define MSG(id) "MSH|^~\\&|LAB|FAC|HG|HGF|20260101||ORU^R01|" id "|P|2.5\rPID|1\r"

/* A port that was free a moment ago. */
static int
s_free_port (void)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK)};
    socklen_t len = sizeof (a);
    assert_int_equal (bind (fd, (struct sockaddr *) &a, sizeof (a)), 0);
    assert_int_equal (getsockname (fd, (struct sockaddr *) &a, &len), 0);
    close (fd);
    return ntohs (a.sin_port);
}

static char s_listen[32];

/* A server on a free port with opts (listen and, when 0, the size filled in). */
static hg_mllp_server_t *
s_server_opts (hg_mllp_server_opts_t o, int *port)
{
    *port = s_free_port ();
    snprintf (s_listen, sizeof (s_listen), "127.0.0.1:%d", *port);
    o.listen = s_listen;
    o.max_payload_bytes = o.max_payload_bytes ? o.max_payload_bytes : 4096;
    hg_err_t err = {0};
    hg_mllp_server_t *s = hg_mllp_server_new (&o, &err);
    assert_non_null (s);
    return s;
}

static hg_mllp_server_t *
s_server (size_t max_bytes, int *port)
{
    return s_server_opts ((hg_mllp_server_opts_t) {.max_payload_bytes = max_bytes}, port);
}

/* The ACKs sent since the last call. */
static void
s_counts (hg_mllp_server_t *s, uint64_t *acked, uint64_t *nacked)
{
    hg_mllp_server_take_counts (s, acked, nacked);
}

static int
s_connect (int port)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons ((uint16_t) port),
                            .sin_addr.s_addr = htonl (INADDR_LOOPBACK)};
    assert_int_equal (connect (fd, (struct sockaddr *) &a, sizeof (a)), 0);
    return fd;
}

static void
s_send (int fd, const char *text)
{
    assert_int_equal (write (fd, text, strlen (text)), (ssize_t) strlen (text));
}

/* Polls the server's items until a round frames want messages (or 2 s). */
static size_t
s_round (hg_mllp_server_t *s, size_t want, hg_mllp_message_t **msgs)
{
    size_t got = 0;
    for (int tries = 0; tries < 40 && got < want; tries++) {
        zmq_pollitem_t items[HG_MLLP_SERVER_MAX_CONNS + 1];
        size_t n = hg_mllp_server_items (s, items, HG_MLLP_SERVER_MAX_CONNS + 1);
        zmq_poll (items, (int) n, 50);
        got = hg_mllp_server_receive (s, items, n, 1000, msgs);
        if (got < want) {
            /* nothing to answer yet: keep what is buffered */
            assert_int_equal (got, 0);
            hg_mllp_server_answer (s, false, 1000);
        }
    }
    return got;
}

/* Reads from fd until count ACK frames (0x1c 0x0d) arrived or the peer
 * closed; NUL-terminated into buf. */
static size_t
s_read_acks (int fd, char *buf, size_t cap, int count)
{
    size_t len = 0;
    int frames = 0;
    while (frames < count && len + 1 < cap) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll (&p, 1, 2000) <= 0) {
            break;
        }
        ssize_t n = read (fd, buf + len, cap - 1 - len);
        if (n <= 0) {
            break;
        }
        for (ssize_t i = 0; i < n; i++) {
            frames += buf[len + (size_t) i] == 0x0d && len + (size_t) i > 0
                      && buf[len + (size_t) i - 1] == 0x1c;
        }
        len += (size_t) n;
    }
    buf[len] = '\0';
    return len;
}

static void
test_round (void **state)
{
    (void) state;
    int port;
    hg_mllp_server_t *s = s_server (4096, &port);
    int fd = s_connect (port);
    /* junk, then a frame split across writes, then three more at once */
    s_send (fd, "junk\x0b" MSG ("A1"));
    usleep (20000);
    s_send (fd,
            "\x1c\x0d\x0b" MSG ("A2") "\x1c\x0d\x0b" MSG (
                "A3") "\x1c\x0d\x0b"
                      "MSH|^~\\&|LAB|FAC|HG|HGF|2026||ADT^A01||P|2.5\rPID|1\r\x1c\x0d\x0b" MSG (
                          "A5") "\x1c\x0d");
    usleep (20000); /* all of it buffered: one round frames every message */
    hg_mllp_message_t *m;
    size_t n = s_round (s, 5, &m);
    assert_int_equal (n, 5);
    /* the idempotency key: MSH-10 and a hash of the content */
    assert_int_equal (strncmp (m[0].batch_id, "A1#", 3), 0);
    assert_int_equal (strlen (m[0].batch_id), 3 + 16);
    assert_false (m[0].no_control_id);
    assert_true (m[3].no_control_id);
    assert_int_equal (strncmp (m[3].batch_id, "mllp-", 5), 0);
    assert_int_equal (strlen (m[3].batch_id), 5 + 16);
    assert_int_equal (m[0].status, HOURGLASS__PUSH_REPLY__STATUS__ACCEPTED);
    m[1].status = HOURGLASS__PUSH_REPLY__STATUS__DUPLICATE;
    m[2].status = HOURGLASS__PUSH_REPLY__STATUS__BUSY;
    m[4].status = HOURGLASS__PUSH_REPLY__STATUS__REJECTED;
    m[4].reason = "payload too large";
    uint64_t acked = 0, nacked = 0;
    hg_mllp_server_answer (s, false, 1000);
    s_counts (s, &acked, &nacked);
    assert_int_equal (acked, 2);
    assert_int_equal (nacked, 3);
    char acks[8192];
    s_read_acks (fd, acks, sizeof (acks), 5);
    const char *a1 = strstr (acks, "MSA|AA|A1\r"), *a2 = strstr (acks, "MSA|AA|A2\r");
    const char *a3 = strstr (acks, "MSA|AE|A3\r"), *a5 = strstr (acks, "MSA|AR|A5\r");
    assert_true (a1 && a2 && a3 && a5 && a1 < a2 && a2 < a3 && a3 < a5);
    /* no MSH-10: stored for the cleanser to quarantine, so AE (not AR), ERR MSH^1^10 101 */
    assert_non_null (strstr (acks, "MSA|AE|\rERR||MSH^1^10|101^Required field missing"));
    assert_non_null (strstr (acks, "kept in quarantine"));
    assert_non_null (strstr (acks, "payload too large"));
    assert_non_null (strstr (acks, "pipeline saturated; resend later"));

    /* the next round starts empty; a journal failure turns every ACK into AE */
    s_send (fd, "\x0b" MSG ("B1") "\x1c\x0d");
    n = s_round (s, 1, &m);
    assert_int_equal (n, 1);
    assert_int_equal (strncmp (m[0].batch_id, "B1#", 3), 0);
    hg_mllp_server_answer (s, true, 1000);
    s_read_acks (fd, acks, sizeof (acks), 1);
    assert_non_null (strstr (acks, "MSA|AE|B1\r"));
    assert_non_null (strstr (acks, "journal write failed; resend later"));
    close (fd);
    hg_mllp_server_destroy (&s);
    assert_null (s);
    hg_mllp_server_destroy (&s); /* NULL-safe */
}

/* A sender that exceeds max_payload_bytes without a frame end gets an AR
 * and is disconnected; the server keeps serving others. */
static void
test_overflow (void **state)
{
    (void) state;
    int port;
    hg_mllp_server_t *s = s_server (256, &port);
    int fd = s_connect (port);
    char big[1024];
    memset (big, 'x', sizeof (big) - 1);
    big[0] = 0x0b;
    big[sizeof (big) - 1] = '\0';
    s_send (fd, big);
    hg_mllp_message_t *m;
    for (int round = 0; round < 3; round++) {
        zmq_pollitem_t items[HG_MLLP_SERVER_MAX_CONNS + 1];
        size_t n = hg_mllp_server_items (s, items, HG_MLLP_SERVER_MAX_CONNS + 1);
        zmq_poll (items, (int) n, 100);
        assert_int_equal (hg_mllp_server_receive (s, items, n, 1000, &m), 0);
        hg_mllp_server_answer (s, false, 1000);
    }
    char acks[4096];
    size_t len = s_read_acks (fd, acks, sizeof (acks), 1);
    assert_true (len > 0);
    assert_non_null (strstr (acks, "MSA|AR|"));
    assert_non_null (strstr (acks, "exceeds max_payload_bytes"));
    /* closed: the next read sees the end */
    struct pollfd p = {fd, POLLIN, 0};
    assert_int_equal (poll (&p, 1, 2000), 1);
    char c;
    assert_int_equal (read (fd, &c, 1), 0);
    close (fd);

    int other = s_connect (port);
    s_send (other, "\x0b" MSG ("C1") "\x1c\x0d");
    assert_int_equal (s_round (s, 1, &m), 1);
    assert_int_equal (strncmp (m[0].batch_id, "C1#", 3), 0);
    uint64_t acked = 0, nacked = 0;
    s_counts (s, &acked, &nacked);
    hg_mllp_server_answer (s, false, 1000);
    s_counts (s, &acked, &nacked);
    assert_int_equal (acked, 1);
    close (other);
    hg_mllp_server_destroy (&s);
}

/* Runs n rounds in which nothing is framed. */
static void
s_idle_rounds (hg_mllp_server_t *s, int n)
{
    hg_mllp_message_t *m;
    for (int round = 0; round < n; round++) {
        zmq_pollitem_t items[HG_MLLP_SERVER_MAX_CONNS + 1];
        size_t k = hg_mllp_server_items (s, items, HG_MLLP_SERVER_MAX_CONNS + 1);
        zmq_poll (items, (int) k, 50);
        assert_int_equal (hg_mllp_server_receive (s, items, k, 1000, &m), 0);
        hg_mllp_server_answer (s, false, 1000);
    }
}

/* The receive buffers of all connections share max_inflight_bytes: a
 * connection whose unfinished frame needs room the others hold is closed
 * unanswered; the one holding the room completes its frame and is ACKed,
 * and its room comes back once answered. */
static void
test_inflight_budget (void **state)
{
    (void) state;
    int port;
    hg_mllp_server_t *s = s_server_opts ((hg_mllp_server_opts_t) {.max_payload_bytes = 200000,
                                                                  .max_inflight_bytes = 300000},
                                         &port);
    size_t body = 150000;
    char *big = malloc (body + 1);
    assert_non_null (big);
    memset (big, 'x', body);
    big[body] = '\0';
    int a = s_connect (port);
    s_send (a, "\x0b" MSG ("A1") "NTE|1|");
    s_send (a, big); /* 150 KB of an unfinished frame: a 256 KiB buffer */
    s_idle_rounds (s, 6);

    int b = s_connect (port);
    s_send (b, "\x0b" MSG ("B1") "NTE|1|x");
    s_idle_rounds (s, 3);
    struct pollfd p = {b, POLLIN, 0};
    assert_int_equal (poll (&p, 1, 2000), 1);
    char c;
    assert_true (read (b, &c, 1) <= 0); /* closed (reset: its bytes unread), no ACK */
    close (b);

    s_send (a, "\x1c\x0d");
    hg_mllp_message_t *m;
    assert_int_equal (s_round (s, 1, &m), 1);
    assert_int_equal (strncmp (m[0].batch_id, "A1#", 3), 0);
    hg_mllp_server_answer (s, false, 1000);
    char acks[4096];
    assert_true (s_read_acks (a, acks, sizeof (acks), 1) > 0);
    assert_non_null (strstr (acks, "MSA|AA|A1"));

    /* a's large buffer went back: another sender's message fits again */
    int d = s_connect (port);
    s_send (d, "\x0b" MSG ("D1") "\x1c\x0d");
    assert_int_equal (s_round (s, 1, &m), 1);
    assert_int_equal (strncmp (m[0].batch_id, "D1#", 3), 0);
    hg_mllp_server_answer (s, false, 1000);
    assert_true (s_read_acks (d, acks, sizeof (acks), 1) > 0);
    assert_non_null (strstr (acks, "MSA|AA|D1"));
    close (a);
    close (d);
    free (big);
    hg_mllp_server_destroy (&s);
}

/* With verdict_timeout_ms, a journalled message waits for its verdict; the
 * ACKs of one connection keep the order of its messages (a rejected one
 * behind a waiting one waits too); an overdue verdict is AE "verdict
 * pending"; enhanced mode gets a commit accept at once. */
static void
test_verdict_wait (void **state)
{
    (void) state;
    int port;
    hg_mllp_server_t *s = s_server_opts ((hg_mllp_server_opts_t) {.verdict_timeout_ms = 500},
                                         &port);
    int fd = s_connect (port);
    s_send (fd, "\x0b" MSG ("V1") "\x1c\x0d\x0b" MSG ("V2") "\x1c\x0d\x0b" MSG ("V3") "\x1c\x0d");
    usleep (20000);
    hg_mllp_message_t *m;
    assert_int_equal (s_round (s, 3, &m), 3);
    m[0].message_id = "p/V1";
    m[1].message_id = "p/V2";
    m[2].status = HOURGLASS__PUSH_REPLY__STATUS__REJECTED;
    m[2].reason = "payload too large";
    hg_mllp_server_answer (s, false, 1000);
    const char *ids[4];
    assert_int_equal (hg_mllp_server_waiting (s, ids, 4), 2);
    assert_string_equal (ids[0], "p/V1");
    char acks[8192];
    struct pollfd p = {fd, POLLIN, 0};
    assert_int_equal (poll (&p, 1, 50), 0); /* nothing yet: V1 heads the queue */
    /* V2's verdict first: still nothing (V1 waits) */
    hg_hl7_error_t e;
    hg_hl7_error_classify ("PID-7 '19701345' is not a valid date: month 13",
                           "message 1 (MSH-10 'V2') segment PID", &e);
    hg_mllp_server_verdict (s, "p/V2", &e);
    assert_int_equal (poll (&p, 1, 50), 0);
    hg_mllp_server_verdict (s, "p/V1", NULL);
    s_read_acks (fd, acks, sizeof (acks), 3);
    const char *a1 = strstr (acks, "MSA|AA|V1\r"), *a2 = strstr (acks, "MSA|AE|V2\r"),
               *a3 = strstr (acks, "MSA|AR|V3\r");
    assert_true (a1 && a2 && a3 && a1 < a2 && a2 < a3);
    assert_non_null (strstr (acks, "ERR||PID^1^7|102^Data type error^HL70357|E||||PID-7 "));
    assert_int_equal (hg_mllp_server_waiting (s, ids, 4), 0);

    /* overdue: AE, verdict pending */
    s_send (fd, "\x0b" MSG ("V4") "\x1c\x0d");
    assert_int_equal (s_round (s, 1, &m), 1);
    m[0].message_id = "p/V4";
    hg_mllp_server_answer (s, false, 1000);
    hg_mllp_server_tick (s, 1499);
    assert_int_equal (poll (&p, 1, 50), 0);
    hg_mllp_server_tick (s, 1500);
    s_read_acks (fd, acks, sizeof (acks), 1);
    assert_non_null (strstr (acks, "MSA|AE|V4\r"));
    assert_non_null (strstr (acks, "not ready within mllp_verdict_timeout_ms"));

    /* enhanced mode (MSH-15 AL): CA at once; MSH-15 NE: no ACK at all */
    s_send (fd,
            "\x0b"
            "MSH|^~\\&|LAB|FAC|HG|HGF|2026||ORU^R01|E1|P|2.5|||AL|NE\rPID|1\r\x1c\x0d\x0b"
            "MSH|^~\\&|LAB|FAC|HG|HGF|2026||ORU^R01|E2|P|2.5|||NE|AL\rPID|1\r\x1c\x0d\x0b" MSG (
                "E3") "\x1c\x0d");
    usleep (20000);
    assert_int_equal (s_round (s, 3, &m), 3);
    assert_true (m[0].enhanced && m[1].enhanced && !m[2].enhanced);
    for (int i = 0; i < 3; i++) {
        m[i].message_id = i == 0 ? "p/E1" : i == 1 ? "p/E2" : "p/E3";
    }
    hg_mllp_server_answer (s, false, 2000);
    hg_mllp_server_verdict (s, "p/E3", NULL);
    s_read_acks (fd, acks, sizeof (acks), 2);
    assert_non_null (strstr (acks, "MSA|CA|E1\r"));
    assert_null (strstr (acks, "|E2\r"));
    assert_non_null (strstr (acks, "MSA|AA|E3\r"));
    close (fd);
    hg_mllp_server_destroy (&s);
}

/* A connection from 127.0.0.1 that would pass the per-address limit, or the
 * total, is closed at once; an idle one is closed at its deadline. */
static int
s_connect_from (int port, const char *from)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in src = {.sin_family = AF_INET};
    inet_pton (AF_INET, from, &src.sin_addr);
    assert_int_equal (bind (fd, (struct sockaddr *) &src, sizeof (src)), 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons ((uint16_t) port),
                            .sin_addr.s_addr = htonl (INADDR_LOOPBACK)};
    assert_int_equal (connect (fd, (struct sockaddr *) &a, sizeof (a)), 0);
    return fd;
}

/* Whether the server closed fd (within 1 s). */
static bool
s_closed (int fd)
{
    struct pollfd p = {fd, POLLIN, 0};
    char c;
    return poll (&p, 1, 1000) == 1 && read (fd, &c, 1) == 0;
}

static void
s_accept_round (hg_mllp_server_t *s, uint64_t now)
{
    zmq_pollitem_t items[HG_MLLP_SERVER_MAX_CONNS + 1];
    size_t n = hg_mllp_server_items (s, items, HG_MLLP_SERVER_MAX_CONNS + 1);
    zmq_poll (items, (int) n, 50);
    hg_mllp_message_t *m;
    hg_mllp_server_receive (s, items, n, now, &m);
    hg_mllp_server_answer (s, false, now);
}

static void
test_limits (void **state)
{
    (void) state;
    int port;
    hg_mllp_server_t *s = s_server_opts ((hg_mllp_server_opts_t) {.max_conns = 4,
                                                                  .max_conns_per_addr = 2,
                                                                  .idle_ms = 1000},
                                         &port);
    int a1 = s_connect_from (port, "127.0.0.2"), a2 = s_connect_from (port, "127.0.0.2");
    s_accept_round (s, 1000);
    int a3 = s_connect_from (port, "127.0.0.2"); /* a third from one address */
    s_accept_round (s, 1000);
    assert_true (s_closed (a3));
    assert_int_equal (hg_mllp_server_conns (s), 2);
    int b1 = s_connect_from (port, "127.0.0.3"), b2 = s_connect_from (port, "127.0.0.4");
    s_accept_round (s, 1500);
    int b3 = s_connect_from (port, "127.0.0.5"); /* past the total, nobody idle 1 s */
    s_accept_round (s, 1500);
    assert_true (s_closed (b3));
    assert_int_equal (hg_mllp_server_conns (s), 4);
    /* past the total again, a1 silent for 1 s: it gives its slot up */
    int b4 = s_connect_from (port, "127.0.0.6");
    s_accept_round (s, 2000);
    assert_true (s_closed (a1));
    assert_int_equal (hg_mllp_server_conns (s), 4);
    /* the idle deadline frees a2 (connected at 1000), not b1, b2 (1500), b4 (2000) */
    hg_mllp_server_tick (s, 2000);
    assert_true (s_closed (a2));
    assert_int_equal (hg_mllp_server_conns (s), 3);
    /* a sender trickling bytes into a frame it never ends is idle all the same */
    int slow = s_connect (port);
    s_accept_round (s, 2000);
    s_send (slow, "\x0bMSH|");
    s_accept_round (s, 2500);
    s_send (slow, "^~");
    s_accept_round (s, 2900);
    hg_mllp_server_tick (s, 3000);
    assert_true (s_closed (slow));
    close (slow);
    int good = s_connect (port);
    s_send (good, "\x0b" MSG ("G1") "\x1c\x0d");
    hg_mllp_message_t *m;
    assert_int_equal (s_round (s, 1, &m), 1);
    hg_mllp_server_answer (s, false, 3000);
    char acks[2048];
    s_read_acks (good, acks, sizeof (acks), 1);
    assert_non_null (strstr (acks, "MSA|AA|G1\r"));
    int fds[] = {a1, a2, a3, b1, b2, b3, b4, good};
    for (int i = 0; i < 8; i++) {
        close (fds[i]);
    }
    hg_mllp_server_destroy (&s);
}

static void
test_bad_address (void **state)
{
    (void) state;
    hg_err_t err = {0};
    const char *bad[] = {"localhost", "127.0.0.1:0", "256.0.0.1:2575"};
    for (int i = 0; i < 3; i++) {
        hg_mllp_server_opts_t o = {.listen = bad[i], .max_payload_bytes = 100};
        assert_null (hg_mllp_server_new (&o, &err));
    }
    assert_non_null (strstr (err.msg, "mllp '256.0.0.1:2575' is not IPv4:PORT"));
}

/* libsodium, once for the whole group. */
static int
s_sodium_setup (void **state)
{
    (void) state;
    return sodium_init () < 0 ? -1 : 0;
}

HG_TEST_MAIN_GROUP (s_sodium_setup, NULL, cmocka_unit_test (test_round),
                    cmocka_unit_test (test_overflow), cmocka_unit_test (test_inflight_budget),
                    cmocka_unit_test (test_verdict_wait), cmocka_unit_test (test_limits),
                    cmocka_unit_test (test_bad_address))
