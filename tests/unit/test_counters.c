/*
 * test_counters.c -- counters: created at 0 on first use, at a stable
 * address; a 33rd name or a name too long is refused, and a 33rd counter
 * the program asks for stops the process instead of landing anywhere.
 * Their persistence ("m/<name>" entries) is tested in test_store.c.
 */
#include "unit_test.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "counters.h"

static void
test_get_creates_once (void **state)
{
    (void) state;
    hg_counters_t *c = hg_counters_new ();
    uint64_t *a = hg_counters_get (c, "received");
    assert_int_equal (*a, 0);
    (*a) += 5;
    uint64_t *b = hg_counters_get (c, "commits");
    assert_ptr_equal (hg_counters_get (c, "received"), a);
    assert_int_equal (*hg_counters_get (c, "received"), 5);
    assert_ptr_not_equal (a, b);
    assert_int_equal (hg_counters_count (c), 2);
    assert_string_equal (hg_counters_name (c, 0), "received");
    assert_int_equal (hg_counters_value (c, 0), 5);
    assert_string_equal (hg_counters_name (c, 1), "commits");
    hg_counters_destroy (&c);
    assert_null (c);
    hg_counters_destroy (&c);
}

static void
s_fill (hg_counters_t *c)
{
    for (int i = 0; i < HG_COUNTERS_MAX; i++) {
        char name[16];
        snprintf (name, sizeof (name), "c%d", i);
        *hg_counters_get (c, name) = (uint64_t) i;
    }
}

static void
test_33rd_is_refused (void **state)
{
    (void) state;
    hg_counters_t *c = hg_counters_new ();
    s_fill (c);
    uint64_t *v = (uint64_t *) 1;
    hg_err_t err = {0};
    assert_int_equal (hg_counters_find (c, "one_too_many", 12, &v, &err), HG_ELIMIT);
    assert_null (v);
    assert_string_equal (err.msg,
                         "counter 'one_too_many' would be number 33: at most 32 "
                         "counters per service (raise HG_COUNTERS_MAX in common/counters.h)");
    /* the 32 there are still found, and unchanged */
    assert_int_equal (hg_counters_find (c, "c31", 3, &v, &err), 0);
    assert_int_equal (*v, 31);
    assert_int_equal (hg_counters_count (c), HG_COUNTERS_MAX);

    char long_name[HG_COUNTER_NAME_MAX + 2];
    memset (long_name, 'x', sizeof (long_name) - 1);
    long_name[sizeof (long_name) - 1] = '\0';
    hg_counters_t *d = hg_counters_new ();
    assert_int_equal (hg_counters_find (d, long_name, strlen (long_name), &v, &err), HG_EINVAL);
    assert_int_equal (hg_counters_find (d, "", 0, &v, &err), HG_EINVAL);
    assert_int_equal (hg_counters_find (d, long_name, HG_COUNTER_NAME_MAX, &v, &err), 0);
    assert_int_equal (hg_counters_count (d), 1);
    hg_counters_destroy (&d);
    hg_counters_destroy (&c);
}

/* hg_counters_get of a 33rd name: the process aborts (in a child here). */
static void
test_33rd_get_aborts (void **state)
{
    (void) state;
    fflush (NULL);
    pid_t pid = fork ();
    assert_true (pid >= 0);
    if (pid == 0) {
        freopen ("/dev/null", "w", stderr);
        hg_counters_t *c = hg_counters_new ();
        s_fill (c);
        (*hg_counters_get (c, "one_too_many"))++;
        _exit (0); /* reached only if the 33rd counter was accepted */
    }
    int status = 0;
    assert_int_equal (waitpid (pid, &status, 0), pid);
    assert_true (WIFSIGNALED (status));
    assert_int_equal (WTERMSIG (status), SIGABRT);
}

HG_TEST_MAIN (cmocka_unit_test (test_get_creates_once), cmocka_unit_test (test_33rd_is_refused),
              cmocka_unit_test (test_33rd_get_aborts))
