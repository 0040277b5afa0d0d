/*
 * test_patient_links.c -- the cleanser's table of a round's patient links
 * (services/cleanser/links.h): add, get, replace, partners apart, hash
 * collisions, growth of the index, clear.
 */
#include "unit_test.h"

#include <stdio.h>
#include <string.h>

#include "err.h"
#include "links.h"

static void
test_add_get_replace (void **state)
{
    (void) state;
    hg_links_t *l = hg_links_new ();
    assert_non_null (l);
    assert_null (hg_links_get (l, "valley-lab", "3f1c-aa")); /* empty, no index yet */
    assert_int_equal (hg_links_size (l), 0);
    char id[] = "3f1c-aa", mrn[] = "12345";
    assert_int_equal (hg_links_add (l, "valley-lab", id, mrn), 0);
    /* the table keeps copies */
    strcpy (id, "xxxx-xx");
    strcpy (mrn, "99999");
    assert_string_equal (hg_links_get (l, "valley-lab", "3f1c-aa"), "12345");
    assert_null (hg_links_get (l, "valley-lab", "xxxx-xx"));
    /* a later add of the same link replaces the identifier */
    assert_int_equal (hg_links_add (l, "valley-lab", "3f1c-aa", "12346"), 0);
    assert_string_equal (hg_links_get (l, "valley-lab", "3f1c-aa"), "12346");
    assert_int_equal (hg_links_size (l), 1);
    hg_links_destroy (&l);
    assert_null (l);
    hg_links_destroy (&l); /* NULL-safe */
}

/* The same Patient id of two partners is two links; the partner and the id
 * are not one string ("a" + "bc" is not "ab" + "c"). */
static void
test_partners_apart (void **state)
{
    (void) state;
    hg_links_t *l = hg_links_new ();
    assert_int_equal (hg_links_add (l, "valley-lab", "p1", "111"), 0);
    assert_int_equal (hg_links_add (l, "city-lab", "p1", "222"), 0);
    assert_int_equal (hg_links_add (l, "a", "bc", "333"), 0);
    assert_string_equal (hg_links_get (l, "valley-lab", "p1"), "111");
    assert_string_equal (hg_links_get (l, "city-lab", "p1"), "222");
    assert_string_equal (hg_links_get (l, "a", "bc"), "333");
    assert_null (hg_links_get (l, "ab", "c"));
    assert_null (hg_links_get (l, "a", "b"));
    assert_null (hg_links_get (l, "", "p1"));
    assert_int_equal (hg_links_size (l), 3);
    hg_links_destroy (&l);
}

/* Many links: the index grows from 256 slots several times (it stays at
 * most half full), and with thousands of keys many share a first slot, so
 * every one must be found by its own key, after growth and after being
 * replaced. */
static void
test_collisions_and_growth (void **state)
{
    (void) state;
    hg_links_t *l = hg_links_new ();
    enum { N = 5000 };
    char id[32], mrn[32];
    for (int i = 0; i < N; i++) {
        snprintf (id, sizeof (id), "patient-%d", i);
        snprintf (mrn, sizeof (mrn), "mrn-%d", i);
        assert_int_equal (hg_links_add (l, i % 2 ? "odd" : "even", id, mrn), 0);
    }
    assert_int_equal (hg_links_size (l), N);
    for (int i = 0; i < N; i++) {
        snprintf (id, sizeof (id), "patient-%d", i);
        snprintf (mrn, sizeof (mrn), "mrn-%d", i);
        const char *got = hg_links_get (l, i % 2 ? "odd" : "even", id);
        if (!got || strcmp (got, mrn) != 0) {
            fail_msg ("link %d: got %s, want %s", i, got ? got : "(none)", mrn);
        }
        assert_null (hg_links_get (l, i % 2 ? "even" : "odd", id));
    }
    for (int i = 0; i < N; i += 3) {
        snprintf (id, sizeof (id), "patient-%d", i);
        assert_int_equal (hg_links_add (l, i % 2 ? "odd" : "even", id, "replaced"), 0);
    }
    assert_int_equal (hg_links_size (l), N);
    for (int i = 0; i < N; i++) {
        snprintf (id, sizeof (id), "patient-%d", i);
        snprintf (mrn, sizeof (mrn), "mrn-%d", i);
        assert_string_equal (hg_links_get (l, i % 2 ? "odd" : "even", id),
                             i % 3 == 0 ? "replaced" : mrn);
    }
    hg_links_destroy (&l);
}

/* Cleared, the table forgets every link and takes new ones (the next
 * round's) in the index it kept. */
static void
test_clear (void **state)
{
    (void) state;
    hg_links_t *l = hg_links_new ();
    hg_links_clear (l); /* empty: nothing to do */
    char id[32];
    for (int i = 0; i < 300; i++) {
        snprintf (id, sizeof (id), "p%d", i);
        assert_int_equal (hg_links_add (l, "valley-lab", id, "old"), 0);
    }
    hg_links_clear (l);
    assert_int_equal (hg_links_size (l), 0);
    for (int i = 0; i < 300; i++) {
        snprintf (id, sizeof (id), "p%d", i);
        assert_null (hg_links_get (l, "valley-lab", id));
    }
    /* the same Patients again are new links, not replacements */
    for (int i = 0; i < 300; i += 2) {
        snprintf (id, sizeof (id), "p%d", i);
        assert_int_equal (hg_links_add (l, "valley-lab", id, "new"), 0);
    }
    assert_int_equal (hg_links_size (l), 150);
    for (int i = 0; i < 300; i++) {
        snprintf (id, sizeof (id), "p%d", i);
        const char *got = hg_links_get (l, "valley-lab", id);
        if (i % 2 == 0) {
            assert_string_equal (got, "new");
        }
        else {
            assert_null (got);
        }
    }
    hg_links_destroy (&l);
}

HG_TEST_MAIN (cmocka_unit_test (test_add_get_replace), cmocka_unit_test (test_partners_apart),
              cmocka_unit_test (test_collisions_and_growth), cmocka_unit_test (test_clear))
