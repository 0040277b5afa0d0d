/*
 * test_simulate.c -- the simulator is deterministic, and its ground truth
 * agrees with what the real parsers make of its feeds: distinct records
 * (by content key), quarantined items, patients and records per code.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>
#include <sodium.h>

#include "date.h"
#include "fhir.h"
#include "hl7v2.h"
#include "record.h"
#include "simulate.h"
#include "strset.h"
#include "util.h"

static char *
s_tmpdir (void)
{
    char tmpl[] = "/tmp/hg-test-simulate-XXXXXX";
    char *d = mkdtemp (tmpl);
    assert_non_null (d);
    return strdup (d);
}

static void
s_rmrf (const char *dir)
{
    char cmd[512];
    snprintf (cmd, sizeof (cmd), "rm -rf '%s'", dir);
    assert_int_equal (system (cmd), 0);
}

static int
s_run (const char *dir, unsigned patients, uint64_t seed, unsigned invalid)
{
    hg_simulate_opts_t o;
    hg_simulate_opts_default (&o);
    o.out_dir = dir;
    o.patients = patients;
    o.seed = seed;
    o.invalid = invalid;
    o.per_file = 7;
    hg_err_t err = {0};
    int rc = hg_simulate_run (&o, &err);
    if (rc < 0) {
        print_error ("simulate failed: %s\n", err.msg);
    }
    return rc;
}

static void
test_deterministic (void **state)
{
    (void) state;
    char *a = s_tmpdir (), *b = s_tmpdir (), *c = s_tmpdir ();
    assert_int_equal (s_run (a, 40, 9, 3), 0);
    assert_int_equal (s_run (b, 40, 9, 3), 0);
    assert_int_equal (s_run (c, 40, 10, 3), 0);
    char cmd[1024];
    snprintf (cmd, sizeof (cmd), "diff -r '%s' '%s' >/dev/null", a, b);
    assert_int_equal (system (cmd), 0);
    snprintf (cmd, sizeof (cmd), "diff -q '%s/truth.json' '%s/truth.json' >/dev/null", a, c);
    assert_int_not_equal (system (cmd), 0);
    s_rmrf (a);
    s_rmrf (b);
    s_rmrf (c);
    free (a);
    free (b);
    free (c);
}

static void
test_needs_room_for_invalid_items (void **state)
{
    (void) state;
    char *d = s_tmpdir ();
    hg_simulate_opts_t o;
    hg_simulate_opts_default (&o);
    o.out_dir = d;
    o.patients = 2;
    o.invalid = 50;
    hg_err_t err = {0};
    assert_int_equal (hg_simulate_run (&o, &err), HG_EINVAL);
    assert_non_null (strstr (err.msg, "invalid items fit"));
    s_rmrf (d);
    free (d);
}

/* Parses every feed file like the cleanser does and checks it against truth. */
static void
test_truth_matches_parsers (void **state)
{
    (void) state;
    char *dir = s_tmpdir ();
    assert_int_equal (s_run (dir, 60, 3, 5), 0);
    char path[1024];
    snprintf (path, sizeof (path), "%s/truth.json", dir);
    json_object *truth = json_object_from_file (path);
    assert_non_null (truth);

    hg_strset_t *records = hg_strset_new ();
    hg_strset_t *code_records = hg_strset_new ();   /* code \1 record id */
    hg_strset_t *code_patients = hg_strset_new ();  /* code \1 partner \1 patient */
    hg_strset_t *facts = hg_strset_new ();          /* partner \1 patient \1 code \1 day \1 n */
    size_t n_facts = 0;
    size_t rejects = 0;
    json_object *partners;
    assert_true (json_object_object_get_ex (truth, "partners", &partners));
    json_object_object_foreach (partners, name, p) {
        json_object *fmt, *files;
        assert_true (json_object_object_get_ex (p, "format", &fmt));
        assert_true (json_object_object_get_ex (p, "files", &files));
        bool hl7 = strcmp (json_object_get_string (fmt), "hl7v2") == 0;
        for (size_t i = 0; i < json_object_array_length (files); i++) {
            snprintf (path, sizeof (path), "%s/%s", dir,
                      json_object_get_string (json_object_array_get_idx (files, i)));
            char *data;
            size_t len;
            assert_int_equal (hg_read_file (path, 1 << 26, &data, &len, NULL), 0);
            hg_batch_t *b = hg_batch_new (0);
            int n = hl7 ? hg_hl7v2_parse (data, len, NULL, b) : hg_fhir_parse (data, len, NULL, b);
            assert_true (n >= 0);
            rejects += hg_batch_reject_count (b);
            Hourglass__Record **recs = hg_batch_records (b);
            for (size_t r = 0; r < hg_batch_record_count (b); r++) {
                recs[r]->provenance->partner = (char *) name;
                assert_int_equal (hg_record_set_content_key (hg_batch_arena (b), recs[r]), 0);
                if (hg_strset_add (records, recs[r]->record_id, strlen (recs[r]->record_id)) != 1) {
                    continue;   /* a duplicate fact: counted once */
                }
                for (size_t c = 0; c < recs[r]->n_codes; c++) {
                    char key[512];
                    int kl = snprintf (key, sizeof (key), "%s|%s\1%s", recs[r]->codes[c]->system,
                                       recs[r]->codes[c]->code, recs[r]->record_id);
                    hg_strset_add (code_records, key, (size_t) kl);
                    kl = snprintf (key, sizeof (key), "%s|%s\1%s\1%s", recs[r]->codes[c]->system,
                                   recs[r]->codes[c]->code, name, recs[r]->patient_ref);
                    hg_strset_add (code_patients, key, (size_t) kl);
                    char day[11] = "";
                    hg_date_t d;
                    if (*recs[r]->effective
                        && hg_date_parse_iso (recs[r]->effective, strlen (recs[r]->effective), &d,
                                              NULL) == 0) {
                        hg_date_day_key (&d, day);
                    }
                    kl = snprintf (key, sizeof (key), "%s\1%s\1%s|%s\1%s\1%zu", name,
                                   recs[r]->patient_ref, recs[r]->codes[c]->system,
                                   recs[r]->codes[c]->code, day, n_facts++);
                    (void) kl;
                    /* a fact is compared without its ordinal below */
                    char *cut = strrchr (key, '\1');
                    *cut = '\0';
                    char counted[600];
                    for (unsigned k = 0;; k++) {
                        int cl = snprintf (counted, sizeof (counted), "%s\1%u", key, k);
                        if (hg_strset_add (facts, counted, (size_t) cl) == 1) {
                            break;
                        }
                    }
                }
            }
            hg_batch_destroy (&b);
            free (data);
        }
    }
    json_object *v, *codes;
    assert_true (json_object_object_get_ex (truth, "quarantined", &v));
    assert_int_equal (json_object_get_int (v), 5);
    assert_int_equal (rejects, 5);
    assert_true (json_object_object_get_ex (truth, "records", &v));
    assert_true (json_object_object_get_ex (v, "distinct", &v));
    assert_int_equal (hg_strset_size (records), (size_t) json_object_get_int64 (v));

    /* per code: count the parser-side entries carrying it */
    assert_true (json_object_object_get_ex (truth, "codes", &codes));
    size_t sum_records = 0, sum_patients = 0;
    json_object_object_foreach (codes, code, counts) {
        json_object *pv, *rv;
        assert_true (json_object_object_get_ex (counts, "patients", &pv));
        assert_true (json_object_object_get_ex (counts, "records", &rv));
        sum_records += (size_t) json_object_get_int64 (rv);
        sum_patients += (size_t) json_object_get_int64 (pv);
        (void) code;
    }
    assert_int_equal (sum_records, hg_strset_size (code_records));
    assert_int_equal (sum_patients, hg_strset_size (code_patients));

    /* every fact of truth, with its date, is one the parsers produced */
    json_object *tf;
    assert_true (json_object_object_get_ex (truth, "facts", &tf));
    assert_int_equal (json_object_array_length (tf), hg_strset_size (facts));
    hg_strset_t *seen = hg_strset_new ();
    for (size_t i = 0; i < json_object_array_length (tf); i++) {
        json_object *f = json_object_array_get_idx (tf, i);
        char key[600], counted[640];
        snprintf (key, sizeof (key), "%s\1%s\1%s\1%s",
                  json_object_get_string (json_object_array_get_idx (f, 0)),
                  json_object_get_string (json_object_array_get_idx (f, 1)),
                  json_object_get_string (json_object_array_get_idx (f, 2)),
                  json_object_get_string (json_object_array_get_idx (f, 3)));
        int cl = 0;
        for (unsigned k = 0;; k++) {
            cl = snprintf (counted, sizeof (counted), "%s\1%u", key, k);
            if (hg_strset_add (seen, counted, (size_t) cl) == 1) {
                break;
            }
        }
        if (!hg_strset_has (facts, counted, (size_t) cl)) {
            fail_msg ("truth fact not produced by the parsers: %s", key);
        }
    }
    hg_strset_destroy (&seen);
    hg_strset_destroy (&facts);
    hg_strset_destroy (&records);
    hg_strset_destroy (&code_records);
    hg_strset_destroy (&code_patients);
    json_object_put (truth);
    s_rmrf (dir);
    free (dir);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_deterministic),
        cmocka_unit_test (test_needs_room_for_invalid_items),
        cmocka_unit_test (test_truth_matches_parsers),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
