/*
 * test_dns_endpoint.c -- dns+tcp:// endpoints: parsing (what is one, what is
 * malformed and how the message says so) and resolution of a name that
 * always exists here (localhost).
 */
#include "unit_test.h"

#include <stdio.h>
#include <string.h>

#include "dns_endpoint.h"

static void
test_parse (void **state)
{
    (void) state;
    hg_dns_endpoint_t e;
    hg_err_t err = {0};
    assert_int_equal (hg_dns_endpoint_parse (&e, "tcp://127.0.0.1:5562", "upstream", "x", &err),
                      0);
    assert_false (e.dns);
    assert_int_equal (hg_dns_endpoint_parse (&e, "dns+tcp://cleanser.hg.svc:5562", "upstream",
                                             "x", &err),
                      0);
    assert_true (e.dns);
    assert_string_equal (e.host, "cleanser.hg.svc");
    assert_string_equal (e.port, "5562");
    const char *bad[] = {"dns+tcp://cleanser", "dns+tcp://:5562", "dns+tcp://cleanser:", NULL};
    for (int i = 0; bad[i]; i++) {
        assert_int_equal (hg_dns_endpoint_parse (&e, bad[i], "mllp_verdict_from",
                                                 "the cleansers' control sockets", &err),
                          HG_EINVAL);
        assert_non_null (strstr (err.msg, "mllp_verdict_from"));
        assert_non_null (strstr (err.msg, bad[i]));
        assert_non_null (strstr (err.msg, "the cleansers' control sockets"));
    }
    char long_host[300];
    memset (long_host, 'a', sizeof (long_host));
    memcpy (long_host, "dns+tcp://", 10);
    snprintf (long_host + 280, 20, ":5562");
    assert_int_equal (hg_dns_endpoint_parse (&e, long_host, "upstream", "x", &err), HG_EINVAL);
}

static void
test_resolve (void **state)
{
    (void) state;
    hg_dns_endpoint_t e;
    hg_err_t err = {0};
    assert_int_equal (hg_dns_endpoint_parse (&e, "dns+tcp://localhost:5562", "upstream", "x",
                                             &err),
                      0);
    char found[8][HG_DNS_ENDPOINT_TCP_MAX];
    int n = hg_dns_endpoint_resolve (&e, found, 8);
    assert_true (n >= 1);
    bool loopback = false;
    for (int i = 0; i < n; i++) {
        assert_int_equal (strncmp (found[i], "tcp://", 6), 0);
        assert_non_null (strstr (found[i], ":5562"));
        loopback |= strcmp (found[i], "tcp://127.0.0.1:5562") == 0;
    }
    assert_true (loopback);
    /* at most max; a name with no address gives 0 (resolved again later) */
    assert_true (hg_dns_endpoint_resolve (&e, found, 1) <= 1);
    assert_int_equal (hg_dns_endpoint_parse (&e, "dns+tcp://no-such-host.invalid:1", "upstream",
                                             "x", &err),
                      0);
    assert_true (hg_dns_endpoint_resolve (&e, found, 8) <= 0);
}

HG_TEST_MAIN (cmocka_unit_test (test_parse), cmocka_unit_test (test_resolve))
