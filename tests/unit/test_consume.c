/*
 * test_consume.c -- a round of deliveries (common/consume.c) on a real
 * store: messages committed in an earlier round and repeats within the
 * round are dropped as duplicates, undecodable deliveries are dropped,
 * the rest processed once and marked; a service's marker_id hook names the
 * markers (the de-identifier's pseudonyms) instead of the upstream id.
 */
#include "unit_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service_internal.h"
#include "util.h"

typedef struct {
    char dir[64];
    hg_service_def_t def;
    hg_service_t svc;
    char processed[16][64]; /* ids process saw, in order */
    size_t n_processed;
} fx_t;

static int
s_process (hg_service_t *svc, void *state, hg_delivery_t *d, size_t n, hg_store_batch_t *wb,
           hg_err_t *err)
{
    (void) svc;
    (void) wb;
    (void) err;
    fx_t *fx = state;
    for (size_t i = 0; i < n; i++) {
        snprintf (fx->processed[fx->n_processed++], sizeof (fx->processed[0]), "%s",
                  d[i].env->id);
    }
    return 0;
}

/* A marker that is not the id: "m-" and the id reversed. */
static int
s_marker_id (hg_service_t *svc, void *state, const Hourglass__Envelope *env, char *out,
             size_t size, hg_err_t *err)
{
    (void) svc;
    (void) state;
    size_t n = strlen (env->id);
    if (n + 3 > size) {
        return hg_err_set (err, HG_EINVAL, "too long");
    }
    out[0] = 'm';
    out[1] = '-';
    for (size_t i = 0; i < n; i++) {
        out[2 + i] = env->id[n - 1 - i];
    }
    out[2 + n] = '\0';
    return 0;
}

static int
s_setup (void **state)
{
    fx_t *fx = calloc (1, sizeof (*fx));
    snprintf (fx->dir, sizeof (fx->dir), "/tmp/hg-consume-XXXXXX");
    if (!fx || !mkdtemp (fx->dir)) {
        return -1;
    }
    char db[96];
    snprintf (db, sizeof (db), "%s/db", fx->dir);
    hg_store_opts_t so = {.compression = "none"};
    hg_err_t err = {0};
    fx->def.name = "test";
    fx->def.process = s_process;
    fx->svc.def = &fx->def;
    fx->svc.state = fx;
    fx->svc.store = hg_store_open (db, &so, &err);
    fx->svc.counters = hg_counters_new ();
    *state = fx;
    return fx->svc.store && fx->svc.counters ? 0 : -1;
}

static int
s_teardown (void **state)
{
    fx_t *fx = *state;
    hg_store_close (&fx->svc.store);
    hg_counters_destroy (&fx->svc.counters);
    hg_remove_tree (fx->dir, NULL);
    free (fx);
    return 0;
}

/* One round of deliveries with these ids (NULL: undecodable); returns
 * hg_service_consume's result, the ids in their new order in order_out. */
static int
s_round (fx_t *fx, const char **ids, size_t n, const char **order_out)
{
    Hourglass__Envelope env[16];
    hg_delivery_t d[16];
    for (size_t i = 0; i < n; i++) {
        hourglass__envelope__init (&env[i]);
        env[i].id = (char *) ids[i];
        d[i] = (hg_delivery_t) {.seq = i, .env = ids[i] ? &env[i] : NULL};
    }
    hg_store_batch_t *wb = hg_store_batch_new ();
    hg_err_t err = {0};
    int rc = hg_service_consume (&fx->svc, d, n, wb, &err);
    hg_store_batch_destroy (&wb);
    for (size_t i = 0; i < n; i++) {
        order_out[i] = ids[d[i].seq];
    }
    return rc;
}

static uint64_t
s_counter (fx_t *fx, const char *name)
{
    return *hg_service_counter (&fx->svc, name);
}

static void
test_duplicates_dropped (void **state)
{
    fx_t *fx = *state;
    const char *order[16];
    const char *first[] = {"p/a", "p/b", NULL, "p/a", "p/c", "p/b"};
    assert_int_equal (s_round (fx, first, 6, order), 0);
    /* each message processed once, in order; kept ones first, then the rest */
    assert_int_equal (fx->n_processed, 3);
    assert_string_equal (fx->processed[0], "p/a");
    assert_string_equal (fx->processed[1], "p/b");
    assert_string_equal (fx->processed[2], "p/c");
    assert_string_equal (order[0], "p/a");
    assert_string_equal (order[1], "p/b");
    assert_string_equal (order[2], "p/c");
    assert_int_equal (s_counter (fx, "received"), 3);
    assert_int_equal (s_counter (fx, "duplicates"), 2);
    assert_int_equal (s_counter (fx, "undecodable"), 1);
    assert_true (hg_store_exists (fx->svc.store, "s/p/a", 5));
    assert_true (hg_store_exists (fx->svc.store, "s/p/c", 5));

    /* a later round: committed messages are duplicates, a new one is not */
    const char *second[] = {"p/c", "p/d", "p/a"};
    assert_int_equal (s_round (fx, second, 3, order), 0);
    assert_int_equal (fx->n_processed, 4);
    assert_string_equal (fx->processed[3], "p/d");
    assert_string_equal (order[0], "p/d");
    assert_int_equal (s_counter (fx, "duplicates"), 4);
}

/* With marker_id, the markers are what the hook says and never the id. */
static void
test_marker_hook (void **state)
{
    fx_t *fx = *state;
    fx->def.marker_id = s_marker_id;
    const char *order[16];
    const char *ids[] = {"p/MRN123", "p/MRN123", "p/x"};
    assert_int_equal (s_round (fx, ids, 3, order), 0);
    assert_int_equal (fx->n_processed, 2);
    assert_int_equal (s_counter (fx, "duplicates"), 1);
    assert_true (hg_store_exists (fx->svc.store, "s/m-321NRM/p", 12));
    assert_false (hg_store_exists (fx->svc.store, "s/p/MRN123", 10));
    const char *again[] = {"p/MRN123"};
    assert_int_equal (s_round (fx, again, 1, order), 0);
    assert_int_equal (fx->n_processed, 2);
    assert_int_equal (s_counter (fx, "duplicates"), 2);
}

HG_TEST_MAIN (cmocka_unit_test_setup_teardown (test_duplicates_dropped, s_setup, s_teardown),
              cmocka_unit_test_setup_teardown (test_marker_hook, s_setup, s_teardown))
