/*
 * unit_test.h -- what every unit test includes first: cmocka (with the
 * headers it needs before it) and the one main that runs a file's tests.
 */
#ifndef HG_UNIT_TEST_H
#define HG_UNIT_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

/* main () of a test file: runs the cmocka tests listed (cmocka_unit_test
 * (f), cmocka_unit_test_setup_teardown (f, setup, teardown), ...) in order
 * as one group, exit status the number that failed. */
#define HG_TEST_MAIN(...) HG_TEST_MAIN_GROUP (NULL, NULL, __VA_ARGS__)

/* The same with a group setup and teardown around all of them (NULL for
 * none). */
#define HG_TEST_MAIN_GROUP(group_setup, group_teardown, ...)                    \
    int main (void)                                                             \
    {                                                                           \
        const struct CMUnitTest hg_tests_[] = {__VA_ARGS__};                    \
        return cmocka_run_group_tests (hg_tests_, group_setup, group_teardown); \
    }

#endif
