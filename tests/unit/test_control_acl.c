/*
 * test_control_acl.c -- the control plane's role table (common/control_acl.c):
 * every request of every service against every role, so a rule that opens
 * (an operator counting at an indexer, a partner reading anything) fails here.
 */
#include "unit_test.h"

#include <string.h>

#include "control_acl.h"
#include "hourglass.pb-c.h"

#define K(x) HOURGLASS__CONTROL_REQUEST__KIND__##x

static void
test_role_of_user_id (void **state)
{
    (void) state;
    assert_int_equal (hg_control_role ("operator:operator"), HG_ROLE_OPERATOR);
    assert_int_equal (hg_control_role ("analytics:analytics-0"), HG_ROLE_ANALYTICS);
    assert_int_equal (hg_control_role ("health:cleanser"), HG_ROLE_HEALTH);
    assert_int_equal (hg_control_role ("collector:collector-0"), HG_ROLE_COLLECTOR);
    assert_int_equal (hg_control_role ("operator:"), HG_ROLE_OPERATOR);
    /* no role: a partner's name, a bare name, a prefix, a case change */
    assert_int_equal (hg_control_role ("city-lab"), HG_ROLE_NONE);
    assert_int_equal (hg_control_role ("partner:city-lab"), HG_ROLE_NONE);
    assert_int_equal (hg_control_role ("operator"), HG_ROLE_NONE);
    assert_int_equal (hg_control_role ("oper:x"), HG_ROLE_NONE);
    assert_int_equal (hg_control_role ("operators:x"), HG_ROLE_NONE);
    assert_int_equal (hg_control_role ("Operator:x"), HG_ROLE_NONE);
    assert_int_equal (hg_control_role (":operator"), HG_ROLE_NONE);
    assert_int_equal (hg_control_role (""), HG_ROLE_NONE);
    assert_int_equal (hg_control_role (NULL), HG_ROLE_NONE);
}

/* The whole table, as docs/security.md prints it: O operator, A analytics,
 * H health, C collector, - nobody. */
static void
test_table (void **state)
{
    (void) state;
    const char *services[] = {"collector", "cleanser", "deid", "indexer", "analytics"};
    const int kinds[] = {K (HEALTH),  K (STATS),  K (COUNT), K (QUARANTINE_LIST), K (OUTCOME),
                         K (QUALITY), K (REPLAY), K (QUERY), K (EXPORT),          K (DRAIN)};
    /* rows: services; columns: kinds in the order above */
    const char *want[] = {
        "OH O - O - - - - - O",  /* collector */
        "OH O - O OC O O - - O", /* cleanser */
        "OH O - O - - - - - O",  /* deid */
        "OH O A O - - - A O O",  /* indexer */
        "OH O O O - - - O - O",  /* analytics */
    };
    for (size_t s = 0; s < 5; s++) {
        char got[64] = "";
        for (size_t k = 0; k < sizeof (kinds) / sizeof (kinds[0]); k++) {
            unsigned m = hg_control_roles_for (services[s], kinds[k]);
            char cell[8] = "";
            size_t n = 0;
            if (m & HG_ROLE_OPERATOR) {
                cell[n++] = 'O';
            }
            if (m & HG_ROLE_ANALYTICS) {
                cell[n++] = 'A';
            }
            if (m & HG_ROLE_HEALTH) {
                cell[n++] = 'H';
            }
            if (m & HG_ROLE_COLLECTOR) {
                cell[n++] = 'C';
            }
            if (!n) {
                cell[n++] = '-';
            }
            strcat (got, k ? " " : "");
            strcat (got, cell);
        }
        if (strcmp (got, want[s]) != 0) {
            fail_msg ("%s: roles '%s', want '%s'", services[s], got, want[s]);
        }
    }
    /* a service or a kind not in the table: nobody */
    assert_int_equal (hg_control_roles_for ("indexer", 99), 0);
    assert_int_equal (hg_control_roles_for ("nosuch", K (COUNT)), 0);
}

static void
test_allowed (void **state)
{
    (void) state;
    /* analytics is the only door to exact counts */
    assert_true (hg_control_allowed ("indexer", K (COUNT), HG_ROLE_ANALYTICS));
    assert_false (hg_control_allowed ("indexer", K (COUNT), HG_ROLE_OPERATOR));
    assert_false (hg_control_allowed ("indexer", K (COUNT), HG_ROLE_HEALTH));
    assert_true (hg_control_allowed ("analytics", K (COUNT), HG_ROLE_OPERATOR));
    assert_false (hg_control_allowed ("analytics", K (COUNT), HG_ROLE_ANALYTICS));
    /* the audit trail (who asked what) is the operator's alone; the shards'
     * exact code counts analytics' alone */
    assert_true (hg_control_allowed ("analytics", K (AUDIT_LIST), HG_ROLE_OPERATOR));
    assert_true (hg_control_allowed ("analytics", K (AUDIT_VERIFY), HG_ROLE_OPERATOR));
    assert_false (hg_control_allowed ("analytics", K (AUDIT_LIST), HG_ROLE_ANALYTICS));
    assert_false (hg_control_allowed ("analytics", K (AUDIT_LIST), HG_ROLE_HEALTH));
    assert_false (hg_control_allowed ("indexer", K (AUDIT_LIST), HG_ROLE_OPERATOR));
    assert_true (hg_control_allowed ("indexer", K (CODES), HG_ROLE_ANALYTICS));
    assert_false (hg_control_allowed ("indexer", K (CODES), HG_ROLE_OPERATOR));
    assert_false (hg_control_allowed ("analytics", K (CODES), HG_ROLE_OPERATOR));
    /* quarantine excerpts and payloads: operator only */
    assert_true (hg_control_allowed ("cleanser", K (QUARANTINE_LIST), HG_ROLE_OPERATOR));
    assert_false (hg_control_allowed ("cleanser", K (QUARANTINE_LIST), HG_ROLE_ANALYTICS));
    assert_false (hg_control_allowed ("deid", K (QUARANTINE_LIST), HG_ROLE_HEALTH));
    /* a drain stops a replica taking work: operator only (not the probes' health key) */
    assert_true (hg_control_allowed ("cleanser", K (DRAIN), HG_ROLE_OPERATOR));
    assert_false (hg_control_allowed ("cleanser", K (DRAIN), HG_ROLE_HEALTH));
    assert_false (hg_control_allowed ("deid", K (DRAIN), HG_ROLE_ANALYTICS));
    assert_false (hg_control_allowed ("deid", K (DRAIN), HG_ROLE_COLLECTOR));
    /* a key without a role may make nothing anywhere */
    const char *services[] = {"collector", "cleanser", "deid", "indexer", "analytics"};
    for (size_t s = 0; s < 5; s++) {
        for (int k = 0; k <= K (CODES); k++) {
            assert_false (hg_control_allowed (services[s], k, HG_ROLE_NONE));
            assert_false (
                hg_control_allowed (services[s], k, hg_control_role ("partner:city-lab")));
        }
    }
}

static void
test_texts (void **state)
{
    (void) state;
    char out[64];
    assert_string_equal (hg_control_roles_text (HG_ROLE_OPERATOR | HG_ROLE_HEALTH, out, 64),
                         "operator or health");
    assert_string_equal (hg_control_roles_text (HG_ROLE_ANALYTICS, out, 64), "analytics");
    assert_string_equal (hg_control_roles_text (0, out, 64), "no role");
    assert_string_equal (hg_control_roles_text (HG_ROLE_OPERATOR | HG_ROLE_ANALYTICS, out, 9),
                         "operator");
    assert_string_equal (hg_control_kind_name (K (QUARANTINE_LIST)), "QUARANTINE_LIST");
    assert_string_equal (hg_control_kind_name (99), "UNKNOWN");
}

HG_TEST_MAIN (cmocka_unit_test (test_role_of_user_id), cmocka_unit_test (test_table),
              cmocka_unit_test (test_allowed), cmocka_unit_test (test_texts))
