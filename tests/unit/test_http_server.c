/*
 * test_http_server.c -- the shared HTTP plumbing (common/http_server.c):
 * listen addresses, media types, the capped body and its growth hook, and
 * the hand-off queue (answer, timeout, shutdown, who frees a request).
 * The daemon itself is exercised by test_fhir_http and test_metrics.
 */
#include "unit_test.h"

#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "http_server.h"

static void
test_listen_parse (void **state)
{
    (void) state;
    struct sockaddr_in a;
    hg_err_t err = {0};
    assert_int_equal (hg_http_listen_parse ("127.0.0.1:8080", NULL, "http", &a, &err), 0);
    assert_int_equal (ntohs (a.sin_port), 8080);
    assert_int_equal (ntohl (a.sin_addr.s_addr), 0x7f000001);
    assert_true (hg_http_listen_parse ("8080", NULL, "http", &a, &err) < 0);
    assert_string_equal (err.msg, "http listen address '8080' is not IPv4:PORT");
    assert_int_equal (hg_http_listen_parse ("9100", "127.0.0.1", "metrics", &a, &err), 0);
    assert_int_equal (ntohs (a.sin_port), 9100);
    const char *bad[] =
        {"localhost:80", "127.0.0.1:", "127.0.0.1:70000", "127.0.0.1:80x", "1.2.3:80", ":80", ""};
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++) {
        if (hg_http_listen_parse (bad[i], NULL, "http", &a, &err) == 0) {
            fail_msg ("'%s' parsed", bad[i]);
        }
    }
    assert_true (hg_http_listen_parse ("localhost:abc", "127.0.0.1", "metrics", &a, &err) < 0);
    assert_non_null (strstr (err.msg, "is not PORT or IPv4:PORT"));
    assert_true (hg_http_listen_parse (NULL, NULL, "http", &a, &err) < 0);
}

static void
test_media_type (void **state)
{
    (void) state;
    char t[32];
    assert_true (hg_http_media_type ("  Application/FHIR+json; charset=utf-8", t, sizeof (t)));
    assert_string_equal (t, "application/fhir+json");
    assert_true (hg_http_media_type ("application/json", t, sizeof (t)));
    assert_string_equal (t, "application/json");
    assert_false (hg_http_media_type (NULL, t, sizeof (t)));
    assert_false (hg_http_media_type ("", t, sizeof (t)));
    assert_false (hg_http_media_type ("; charset=utf-8", t, sizeof (t)));
    assert_false (hg_http_media_type ("application/a-type-longer-than-the-buffer", t, 16));
}

typedef struct {
    size_t asked[8];
    size_t n;
    size_t allow; /* growth up to this many bytes */
} grow_t;

static bool
s_grow (void *arg, size_t cap)
{
    grow_t *g = arg;
    g->asked[g->n++] = cap;
    return cap <= g->allow;
}

static void
test_body_cap_and_growth (void **state)
{
    (void) state;
    char chunk[3000];
    memset (chunk, 'x', sizeof (chunk));
    /* grows from first_cap by doubling, never past max + 1 */
    grow_t g = {.allow = 10000};
    hg_http_body_t b = {0};
    assert_int_equal (hg_http_body_append (&b, chunk, 1000, 5000, 1024, s_grow, &g),
                      HG_HTTP_BODY_OK);
    assert_int_equal (hg_http_body_append (&b, chunk, 3000, 5000, 1024, s_grow, &g),
                      HG_HTTP_BODY_OK);
    assert_int_equal (b.len, 4000);
    assert_int_equal (b.data[4000], '\0');
    assert_int_equal (g.n, 2);
    assert_int_equal (g.asked[0], 1024);
    assert_int_equal (g.asked[1], 4096);
    assert_int_equal (hg_http_body_append (&b, chunk, 1000, 5000, 1024, s_grow, &g),
                      HG_HTTP_BODY_OK);
    assert_int_equal (g.asked[2], 5001); /* clamped */
    /* one byte more: too large, nothing kept, and it stays so */
    assert_int_equal (hg_http_body_append (&b, chunk, 1, 5000, 1024, s_grow, &g),
                      HG_HTTP_BODY_TOO_LARGE);
    assert_null (b.data);
    assert_int_equal (b.len, 0);
    assert_int_equal (hg_http_body_append (&b, chunk, 1, 5000, 1024, s_grow, &g),
                      HG_HTTP_BODY_TOO_LARGE);
    assert_true (b.too_large);

    /* a refused growth drops the body and refuses the rest */
    grow_t tight = {.allow = 2048};
    hg_http_body_t r = {0};
    assert_int_equal (hg_http_body_append (&r, chunk, 2000, 5000, 2048, s_grow, &tight),
                      HG_HTTP_BODY_OK);
    assert_int_equal (hg_http_body_append (&r, chunk, 100, 5000, 2048, s_grow, &tight),
                      HG_HTTP_BODY_REFUSED);
    assert_null (r.data);
    assert_true (r.refused);
    assert_false (r.too_large);
    assert_int_equal (hg_http_body_append (&r, chunk, 100000, 5000, 2048, s_grow, &tight),
                      HG_HTTP_BODY_REFUSED);
    assert_false (r.too_large);
    hg_http_body_drop (&r);
}

/* ---- the hand-off queue ------------------------------------------------------------ */

typedef struct {
    hg_http_job_t job;
    int verdict;
} job_t;

static int s_freed;

static void
s_free (void *cls, hg_http_job_t *job)
{
    (void) cls;
    s_freed++;
    free (job);
}

typedef struct {
    hg_http_queue_t *q;
    job_t *job;
    hg_http_wait_t rc;
    int verdict;
    bool taken;
} submit_t;

static void *
s_submit (void *arg)
{
    submit_t *s = arg;
    s->rc = hg_http_queue_submit (s->q, &s->job->job, &s->taken);
    s->verdict = s->rc == HG_HTTP_ANSWERED ? s->job->verdict : -1;
    hg_http_queue_release (s->q, &s->job->job);
    return NULL;
}

static bool
s_readable (hg_http_queue_t *q, int timeout_ms)
{
    struct pollfd p = {.fd = hg_http_queue_fd (q), .events = POLLIN};
    return poll (&p, 1, timeout_ms) == 1;
}

static void
test_queue_answer_timeout_shutdown (void **state)
{
    (void) state;
    hg_err_t err = {0};
    s_freed = 0;
    hg_http_queue_t *q = hg_http_queue_new (300, s_free, NULL, &err);
    assert_non_null (q);
    assert_false (s_readable (q, 0));
    assert_null (hg_http_queue_take (q));

    /* answered: the handler reads the verdict, the last reference frees it */
    submit_t s = {.q = q, .job = calloc (1, sizeof (job_t))};
    pthread_t t;
    pthread_create (&t, NULL, s_submit, &s);
    assert_true (s_readable (q, 2000));
    job_t *j = (job_t *) hg_http_queue_take (q);
    assert_ptr_equal (j, s.job);
    assert_false (s_readable (q, 0));
    j->verdict = 42;
    hg_http_queue_answer (q, &j->job);
    pthread_join (t, NULL);
    assert_int_equal (s.rc, HG_HTTP_ANSWERED);
    assert_int_equal (s.verdict, 42);
    assert_true (s.taken);
    assert_int_equal (s_freed, 1);

    /* never taken: timeout, unqueued by its handler, freed */
    s = (submit_t) {.q = q, .job = calloc (1, sizeof (job_t))};
    pthread_create (&t, NULL, s_submit, &s);
    pthread_join (t, NULL);
    assert_int_equal (s.rc, HG_HTTP_TIMEOUT);
    assert_false (s.taken);
    assert_int_equal (s_freed, 2);
    assert_null (hg_http_queue_take (q));
    assert_false (s_readable (q, 0));

    /* taken, then the handler gives up: the service's answer frees it */
    s = (submit_t) {.q = q, .job = calloc (1, sizeof (job_t))};
    pthread_create (&t, NULL, s_submit, &s);
    assert_true (s_readable (q, 2000));
    j = (job_t *) hg_http_queue_take (q);
    pthread_join (t, NULL);
    assert_int_equal (s.rc, HG_HTTP_TIMEOUT);
    assert_true (s.taken);
    assert_int_equal (s_freed, 2);
    hg_http_queue_answer (q, &j->job);
    assert_int_equal (s_freed, 3);

    /* shutdown wakes a waiting handler; later submits stop at once */
    s = (submit_t) {.q = q, .job = calloc (1, sizeof (job_t))};
    pthread_create (&t, NULL, s_submit, &s);
    assert_true (s_readable (q, 2000));
    hg_http_queue_shutdown (q);
    pthread_join (t, NULL);
    assert_int_equal (s.rc, HG_HTTP_STOPPING);
    assert_int_equal (s_freed, 4);
    s = (submit_t) {.q = q, .job = calloc (1, sizeof (job_t))};
    s_submit (&s);
    assert_int_equal (s.rc, HG_HTTP_STOPPING);
    assert_int_equal (s_freed, 5);
    hg_http_queue_destroy (&q);
    assert_null (q);
}

HG_TEST_MAIN (cmocka_unit_test (test_listen_parse), cmocka_unit_test (test_media_type),
              cmocka_unit_test (test_body_cap_and_growth),
              cmocka_unit_test (test_queue_answer_timeout_shutdown))
