/*
 * test_simulate.c -- the partner-feed simulator (cli/simulate.c).
 *
 * Built twice (tests/unit/CMakeLists.txt):
 *   test_simulate        determinism, truth.json consistency, feed shapes,
 *                        invalid items, errors, the CLI entry point;
 *   test_simulate_parse  (HG_SIMULATE_PARSE) every generated file through the
 *                        cleanser's real parsers and hg_cleanse (cleanse.h):
 *                        distinct records by content key, rejects, kinds,
 *                        per-code patients and records and every fact must
 *                        equal truth.json.
 */
#define _GNU_SOURCE 1 /* nftw */

#include "unit_test.h"

#include <ctype.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "simulate.h"
#include "strset.h"
#include "util.h"

#ifdef HG_SIMULATE_PARSE
#include <time.h>

#include "cleanse.h"
#include "date.h"
#include "fhir.h"
#include "hl7v2.h"
#include "record.h"
#endif

/* ---- helpers -------------------------------------------------------------- */

static char *
s_tmpdir (void)
{
    char tmpl[] = "/tmp/hg-test-simulate-XXXXXX";
    char *d = mkdtemp (tmpl);
    assert_non_null (d);
    return strdup (d);
}

static void
s_rmrf (char *dir)
{
    assert_int_equal (hg_remove_tree (dir, NULL), 0);
    free (dir);
}

static bool s_notes; /* s_gen with --notes */

static int
s_gen (const char *dir, unsigned patients, uint64_t seed, unsigned invalid, unsigned per_file)
{
    hg_simulate_opts_t o;
    hg_simulate_opts_default (&o);
    o.notes = s_notes;
    o.out_dir = dir;
    o.patients = patients;
    o.seed = seed;
    o.invalid = invalid;
    o.per_file = per_file;
    hg_err_t err = {0};
    int rc = hg_simulate_run (&o, &err);
    if (rc < 0) {
        print_error ("simulate failed: %s\n", err.msg);
    }
    return rc;
}

static char *
s_read (const char *dir, const char *rel, size_t *len)
{
    char path[1024];
    snprintf (path, sizeof (path), "%s/%s", dir, rel);
    char *data = NULL;
    size_t n = 0;
    hg_err_t err = {0};
    if (hg_read_file (path, (size_t) 1 << 28, &data, &n, &err) < 0) {
        fail_msg ("%s", err.msg);
    }
    if (len) {
        *len = n;
    }
    return data;
}

static json_object *
s_truth (const char *dir)
{
    char path[1024];
    snprintf (path, sizeof (path), "%s/truth.json", dir);
    json_object *t = json_object_from_file (path);
    if (!t) {
        fail_msg ("truth.json does not parse: %s", json_util_get_last_err ());
    }
    return t;
}

/* Member by dotted path ("records.by_kind.condition"); fails when missing. */
static json_object *
s_at (json_object *o, const char *path)
{
    char buf[256];
    snprintf (buf, sizeof (buf), "%s", path);
    char *save = NULL;
    for (char *k = strtok_r (buf, ".", &save); k; k = strtok_r (NULL, ".", &save)) {
        json_object *next = NULL;
        if (!json_object_object_get_ex (o, k, &next)) {
            fail_msg ("truth.json has no %s", path);
        }
        o = next;
    }
    return o;
}

static const char *
s_str (json_object *o, const char *path)
{
    return json_object_get_string (s_at (o, path));
}

static int64_t
s_int (json_object *o, const char *path)
{
    json_object *v = s_at (o, path);
    assert_true (json_object_is_type (v, json_type_int));
    return json_object_get_int64 (v);
}

#ifndef HG_SIMULATE_PARSE

/* Files of a partner as listed in truth. */
static json_object *
s_files (json_object *truth, const char *partner)
{
    char path[128];
    snprintf (path, sizeof (path), "partners.%s.files", partner);
    json_object *files = s_at (truth, path);
    assert_true (json_object_is_type (files, json_type_array));
    return files;
}

/* All the feed files of a partner concatenated (for substring checks). */
static char *
s_partner_feed (const char *dir, json_object *truth, const char *partner)
{
    json_object *files = s_files (truth, partner);
    size_t cap = 1, n = 0;
    char *all = calloc (1, 1);
    for (size_t i = 0; i < json_object_array_length (files); i++) {
        size_t len;
        char *data = s_read (dir, json_object_get_string (json_object_array_get_idx (files, i)),
                             &len);
        cap = n + len + 1;
        all = realloc (all, cap);
        assert_non_null (all);
        memcpy (all + n, data, len);
        n += len;
        all[n] = '\0';
        free (data);
    }
    return all;
}

static char *
s_all_feeds (const char *dir, json_object *truth)
{
    static const char *partners[] = {"general-hospital", "city-lab", "clinic-fhir"};
    size_t n = 0;
    char *all = calloc (1, 1);
    for (int p = 0; p < 3; p++) {
        char *f = s_partner_feed (dir, truth, partners[p]);
        size_t len = strlen (f);
        all = realloc (all, n + len + 1);
        assert_non_null (all);
        memcpy (all + n, f, len + 1);
        n += len;
        free (f);
    }
    return all;
}

static size_t
s_count (const char *hay, const char *needle)
{
    size_t n = 0, nl = strlen (needle);
    for (const char *p = strstr (hay, needle); p; p = strstr (p + nl, needle)) {
        n++;
    }
    return n;
}

/* ---- determinism ------------------------------------------------------------ */

static size_t s_walk_count;

static int
s_count_file (const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void) path;
    (void) sb;
    (void) ftw;
    if (flag == FTW_F) {
        s_walk_count++;
    }
    return 0;
}

static size_t
s_files_under (const char *dir)
{
    s_walk_count = 0;
    assert_int_equal (nftw (dir, s_count_file, 16, FTW_PHYS), 0);
    return s_walk_count;
}

/* True when dir_a/rel and dir_b/rel hold the same bytes. */
static bool
s_same_file (const char *a, const char *b, const char *rel)
{
    size_t la, lb;
    char *da = s_read (a, rel, &la), *db = s_read (b, rel, &lb);
    bool same = la == lb && memcmp (da, db, la) == 0;
    free (da);
    free (db);
    return same;
}

static void
test_defaults (void **state)
{
    (void) state;
    hg_simulate_opts_t o;
    memset (&o, 0xab, sizeof (o));
    hg_simulate_opts_default (&o);
    assert_null (o.out_dir);
    assert_int_equal (o.patients, 100);
    assert_int_equal (o.seed, 1);
    assert_int_equal (o.invalid, 0);
    assert_int_equal (o.per_file, 50);
}

static void
test_deterministic (void **state)
{
    (void) state;
    char *a = s_tmpdir (), *b = s_tmpdir (), *c = s_tmpdir ();
    assert_int_equal (s_gen (a, 40, 9, 6, 4), 0);
    assert_int_equal (s_gen (b, 40, 9, 6, 4), 0);
    assert_int_equal (s_gen (c, 40, 10, 6, 4), 0);
    json_object *truth = s_truth (a);
    /* 14 clinic bundles + 14 hospital / 4 + 12 lab / 4 + truth.json */
    assert_int_equal (s_files_under (a), 14 + 4 + 3 + 1);
    assert_int_equal (s_files_under (b), s_files_under (a));
    assert_true (s_same_file (a, b, "truth.json"));
    const char *partners[] = {"general-hospital", "city-lab", "clinic-fhir"};
    size_t compared = 0;
    for (int p = 0; p < 3; p++) {
        json_object *files = s_files (truth, partners[p]);
        for (size_t i = 0; i < json_object_array_length (files); i++) {
            const char *rel = json_object_get_string (json_object_array_get_idx (files, i));
            if (!s_same_file (a, b, rel)) {
                fail_msg ("%s differs between two runs with the same seed", rel);
            }
            compared++;
        }
    }
    assert_int_equal (compared, 21);
    /* another seed: other truth, other feeds (same file names) */
    assert_false (s_same_file (a, c, "truth.json"));
    assert_false (s_same_file (a, c, "general-hospital/hl7v2/batch-00000.hl7"));
    assert_false (s_same_file (a, c, "city-lab/fhir/batch-00000.ndjson"));
    assert_false (s_same_file (a, c, "clinic-fhir/fhir/patient-000002.json"));
    json_object_put (truth);
    s_rmrf (a);
    s_rmrf (b);
    s_rmrf (c);
}

/* ---- truth.json --------------------------------------------------------------- */

static bool
s_matches (const char *s, const char *pattern)
{
    /* pattern: '9' any digit, other characters literal */
    for (; *pattern; pattern++, s++) {
        if (*pattern == '9' ? !isdigit ((unsigned char) *s) : *s != *pattern) {
            return false;
        }
    }
    return *s == '\0';
}

static bool
s_is_uuid (const char *s)
{
    if (strlen (s) != 36) {
        return false;
    }
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !isxdigit ((unsigned char) s[i])) {
            return false;
        }
    }
    return true;
}

static json_object *
s_phi (json_object *truth, const char *key, size_t want)
{
    char path[64];
    snprintf (path, sizeof (path), "phi.%s", key);
    json_object *a = s_at (truth, path);
    assert_true (json_object_is_type (a, json_type_array));
    if (want) {
        assert_int_equal (json_object_array_length (a), want);
    }
    return a;
}

/* truth.json's facts: one per (record, code), adding up to its codes
 * exactly, each of a known system and date. */
static void
s_check_truth_facts (json_object *t)
{
    /* facts: one per (record, code), adding up to codes exactly */
    json_object *facts = s_at (t, "facts"), *codes = s_at (t, "codes");
    json_object *fhir_ids = s_phi (t, "fhir_ids", 40);
    hg_strset_t *ids = hg_strset_new ();
    for (size_t i = 0; i < json_object_array_length (fhir_ids); i++) {
        const char *id = json_object_get_string (json_object_array_get_idx (fhir_ids, i));
        assert_true (s_is_uuid (id));
        assert_int_equal (hg_strset_add (ids, id, strlen (id)), 1); /* unique */
    }
    int64_t sum_records = 0;
    size_t fact_code_records = 0;
    json_object_object_foreach (codes, key, counts)
    {
        int64_t recs = s_int (counts, "records"), pats = s_int (counts, "patients");
        assert_true (pats >= 1 && pats <= recs && pats <= 60);
        sum_records += recs;
        /* recount this code from the facts */
        hg_strset_t *pset = hg_strset_new ();
        int64_t n = 0;
        for (size_t i = 0; i < json_object_array_length (facts); i++) {
            json_object *f = json_object_array_get_idx (facts, i);
            if (strcmp (json_object_get_string (json_object_array_get_idx (f, 2)), key) != 0) {
                continue;
            }
            char pk[256];
            int pl = snprintf (pk, sizeof (pk), "%s\1%s",
                               json_object_get_string (json_object_array_get_idx (f, 0)),
                               json_object_get_string (json_object_array_get_idx (f, 1)));
            hg_strset_add (pset, pk, (size_t) pl);
            n++;
        }
        if (n != recs || (int64_t) hg_strset_size (pset) != pats) {
            fail_msg ("code %s: truth says %" PRId64 " records of %" PRId64
                      " patients, facts say "
                      "%" PRId64 " of %zu",
                      key, recs, pats, n, hg_strset_size (pset));
        }
        fact_code_records += (size_t) n;
        hg_strset_destroy (&pset);
    }
    assert_int_equal (json_object_array_length (facts), sum_records);
    assert_int_equal (fact_code_records, json_object_array_length (facts));
    /* a code per lab (8 at most), condition, class and encounter type */
    assert_in_range (json_object_object_length (codes), 15, 8 + 20 + 3 + 4);
    assert_non_null (json_object_object_get (codes, "http://loinc.org|4548-4"));
    assert_non_null (
        json_object_object_get (codes, "http://terminology.hl7.org/CodeSystem/v3-ActCode|AMB"));
    for (size_t i = 0; i < json_object_array_length (facts); i++) {
        json_object *f = json_object_array_get_idx (facts, i);
        assert_int_equal (json_object_array_length (f), 4);
        const char *partner = json_object_get_string (json_object_array_get_idx (f, 0));
        const char *ref = json_object_get_string (json_object_array_get_idx (f, 1));
        const char *code = json_object_get_string (json_object_array_get_idx (f, 2));
        const char *day = json_object_get_string (json_object_array_get_idx (f, 3));
        if (strcmp (partner, "general-hospital") == 0) {
            assert_true (s_matches (ref, "MRN99999999"));
            assert_true (
                strncmp (code, "http://loinc.org|", 17) == 0
                || strncmp (code, "http://hl7.org/fhir/sid/icd-10-cm|", 34) == 0
                || strncmp (code, "http://terminology.hl7.org/CodeSystem/v3-ActCode|", 49) == 0);
        }
        else {
            assert_true (strcmp (partner, "city-lab") == 0
                         || strcmp (partner, "clinic-fhir") == 0);
            /* FHIR records name the patient by its MR identifier (fhir.h) */
            assert_true (s_matches (ref, "MRN99999999"));
            assert_true (
                strncmp (code, "http://loinc.org|", 17) == 0
                || strncmp (code, "http://snomed.info/sct|", 23) == 0
                || strncmp (code, "http://terminology.hl7.org/CodeSystem/v3-ActCode|", 49) == 0);
        }
        assert_non_null (json_object_object_get (codes, code));
        assert_true (s_matches (day, "9999-99-99"));
        if (strcmp (day, "2015-01-01") < 0 || strcmp (day, "2024-12-31") > 0) {
            fail_msg ("fact date %s outside 2015-01-01..2024-12-31", day);
        }
    }
    hg_strset_destroy (&ids);
}

/* truth.json's identifying values: each shaped as generated and each
 * found in the feeds (the PHI scans of the integration tests rely on it). */
static void
s_check_truth_phi (json_object *t, const char *feeds)
{
    json_object *mrns = s_phi (t, "mrns", 60);
    hg_strset_t *uniq = hg_strset_new ();
    for (size_t i = 0; i < 60; i++) {
        const char *m = json_object_get_string (json_object_array_get_idx (mrns, i));
        assert_true (s_matches (m, "MRN99999999"));
        assert_int_equal (hg_strset_add (uniq, m, strlen (m)), 1);
        if (!strstr (feeds, m)) {
            fail_msg ("MRN %s of truth is in no feed", m);
        }
    }
    hg_strset_destroy (&uniq);
    const struct {
        const char *key, *pattern;
        size_t n;
    } lists[] = {{"ssns", "999-99-9999", 60},
                 {"phones", "999-555-0199", 60},
                 {"streets", NULL, 60},
                 {"names", NULL, 0}};
    for (size_t l = 0; l < sizeof (lists) / sizeof (lists[0]); l++) {
        json_object *a = s_phi (t, lists[l].key, lists[l].n);
        assert_true (json_object_array_length (a) > 0);
        for (size_t i = 0; i < json_object_array_length (a); i++) {
            const char *v = json_object_get_string (json_object_array_get_idx (a, i));
            if (lists[l].pattern && !s_matches (v, lists[l].pattern)) {
                fail_msg ("phi.%s '%s' is not shaped %s", lists[l].key, v, lists[l].pattern);
            }
            if (!strstr (feeds, v)) {
                fail_msg ("phi.%s '%s' is in no feed", lists[l].key, v);
            }
        }
    }
    json_object *ssns = s_phi (t, "ssns", 60);
    for (size_t i = 0; i < 60; i++) {
        assert_int_equal (json_object_get_string (json_object_array_get_idx (ssns, i))[0], '9');
    }
    /* ages 1..100: with this seed some patients are over 89 (born before 1936) */
    json_object *births = s_phi (t, "birth_dates", 120);
    size_t over89 = 0;
    for (size_t i = 0; i < 120; i += 2) {
        const char *iso = json_object_get_string (json_object_array_get_idx (births, i));
        const char *hl7 = json_object_get_string (json_object_array_get_idx (births, i + 1));
        assert_true (s_matches (iso, "9999-99-99"));
        assert_true (s_matches (hl7, "99999999"));
        assert_memory_equal (iso, hl7, 4);
        /* FHIR feeds carry the ISO form, HL7 the compact one */
        if (!strstr (feeds, iso) && !strstr (feeds, hl7)) {
            fail_msg ("birth date %s / %s is in no feed", iso, hl7);
        }
        if (atoi (iso) < 1936) {
            over89++;
        }
        assert_in_range (atoi (iso), 1925, 2024);
    }
    assert_true (over89 > 0);
}

static void
test_truth_consistent (void **state)
{
    (void) state;
    char *dir = s_tmpdir ();
    assert_int_equal (s_gen (dir, 60, 3, 5, 7), 0);
    json_object *t = s_truth (dir);
    assert_int_equal (s_int (t, "seed"), 3);
    assert_int_equal (s_int (t, "patients"), 60);
    assert_int_equal (s_int (t, "quarantined"), 5);
    assert_int_equal (json_object_object_length (s_at (t, "partners")), 3);
    assert_string_equal (json_object_get_string (s_at (t, "partners.general-hospital.format")),
                         "hl7v2");
    assert_string_equal (json_object_get_string (s_at (t, "partners.city-lab.format")), "fhir");
    assert_string_equal (json_object_get_string (s_at (t, "partners.clinic-fhir.format")),
                         "fhir");
    assert_int_equal (s_int (t, "partners.general-hospital.patients"), 20);
    assert_int_equal (s_int (t, "partners.city-lab.patients"), 20);
    assert_int_equal (s_int (t, "partners.clinic-fhir.patients"), 20);
    /* 20 patients, 7 per file: 3 files each; one Bundle per clinic patient */
    json_object *gh = s_files (t, "general-hospital"), *cl = s_files (t, "city-lab");
    json_object *cf = s_files (t, "clinic-fhir");
    assert_int_equal (json_object_array_length (gh), 3);
    assert_int_equal (json_object_array_length (cl), 3);
    assert_int_equal (json_object_array_length (cf), 20);
    assert_string_equal (json_object_get_string (json_object_array_get_idx (gh, 2)),
                         "general-hospital/hl7v2/batch-00002.hl7");
    assert_string_equal (json_object_get_string (json_object_array_get_idx (cl, 0)),
                         "city-lab/fhir/batch-00000.ndjson");
    assert_string_equal (json_object_get_string (json_object_array_get_idx (cf, 0)),
                         "clinic-fhir/fhir/patient-000002.json");

    /* records: kinds add up; demographics once per patient */
    int64_t distinct = s_int (t, "records.distinct");
    int64_t demo = s_int (t, "records.by_kind.demographics");
    int64_t enc = s_int (t, "records.by_kind.encounter");
    int64_t cond = s_int (t, "records.by_kind.condition");
    int64_t lab = s_int (t, "records.by_kind.lab-observation");
    assert_int_equal (json_object_object_length (s_at (t, "records.by_kind")), 5);
    assert_int_equal (s_int (t, "records.by_kind.note"), 0); /* without --notes */
    assert_int_equal (json_object_array_length (s_at (t, "notes")), 0);
    assert_int_equal (demo + enc + cond + lab, distinct);
    assert_int_equal (demo, 60);
    assert_in_range (enc, 60, 100);  /* HL7 1, FHIR 1-2 per patient */
    assert_in_range (cond, 60, 180); /* 1-3 */
    assert_in_range (lab, 120, 360); /* 2-6 */

    s_check_truth_facts (t);
    /* phi: every identifying value, each found in the feeds */
    char *feeds = s_all_feeds (dir, t);
    s_check_truth_phi (t, feeds);
    free (feeds);
    json_object_put (t);
    s_rmrf (dir);
}

/* ---- feed shapes ------------------------------------------------------------------- */

static void
test_hl7_feed_shape (void **state)
{
    (void) state;
    char *dir = s_tmpdir ();
    assert_int_equal (s_gen (dir, 30, 11, 0, 50), 0);
    json_object *t = s_truth (dir);
    char *hl7 = s_partner_feed (dir, t, "general-hospital");
    assert_null (strchr (hl7, '\n')); /* segments end in \r only */
    assert_memory_equal (hl7, "MSH|^~\\&|GH-EMR|GENERAL HOSPITAL|", 32);
    assert_int_equal (s_count (hl7, "|ADT^A01|"), 10);
    assert_int_equal (s_count (hl7, "|ORU^R01|"), 10);
    assert_int_equal (s_count (hl7, "\rPV1|1|"), 10);
    assert_int_equal (s_count (hl7, "\rEVN|A01|"), 10);
    assert_int_equal (s_count (hl7, "\rOBR|1||"), 10);
    size_t dg1 = s_count (hl7, "\rDG1|"), obx = s_count (hl7, "\rOBX|");
    assert_in_range (dg1, 10, 30);
    assert_in_range (obx, 20, 60);
    /* the hospital's facts: one per PV1 class, DG1 and OBX */
    json_object *facts = s_at (t, "facts");
    size_t f_act = 0, f_icd = 0, f_loinc = 0;
    for (size_t i = 0; i < json_object_array_length (facts); i++) {
        json_object *f = json_object_array_get_idx (facts, i);
        if (strcmp (json_object_get_string (json_object_array_get_idx (f, 0)), "general-hospital")
            != 0) {
            continue;
        }
        const char *code = json_object_get_string (json_object_array_get_idx (f, 2));
        f_act += strncmp (code, "http://terminology.hl7.org/CodeSystem/v3-ActCode|", 49) == 0;
        f_icd += strncmp (code, "http://hl7.org/fhir/sid/icd-10-cm|", 34) == 0;
        f_loinc += strncmp (code, "http://loinc.org|", 17) == 0;
    }
    assert_int_equal (f_act, 10);
    assert_int_equal (f_icd, dg1);
    assert_int_equal (f_loinc, obx);
    /* MSH-10 control ids are unique */
    hg_strset_t *ids = hg_strset_new ();
    size_t n_msh = 0;
    for (const char *m = strstr (hl7, "MSH|"); m; m = strstr (m + 4, "MSH|")) {
        const char *f = m;
        for (int bars = 0; bars < 9; f++) {
            bars += *f == '|';
        }
        size_t len = strcspn (f, "|");
        assert_true (len >= 10);
        assert_int_equal (hg_strset_add (ids, f, len), 1);
        n_msh++;
    }
    assert_int_equal (n_msh, 20);
    hg_strset_destroy (&ids);
    /* each patient's PID appears exactly twice (ADT and ORU), identical */
    json_object *mrns = s_phi (t, "mrns", 30);
    for (size_t i = 0; i < 30; i += 3) { /* patients 0, 3, ...: the hospital's */
        const char *mrn = json_object_get_string (json_object_array_get_idx (mrns, i));
        char pid3[64];
        snprintf (pid3, sizeof (pid3), "\rPID|1||%s^^^GH^MR||", mrn);
        assert_int_equal (s_count (hl7, pid3), 2);
        const char *a = strstr (hl7, pid3), *b = strstr (a + 1, pid3);
        size_t la = strcspn (a + 1, "\r"), lb = strcspn (b + 1, "\r");
        assert_int_equal (la, lb);
        assert_memory_equal (a, b, la + 1);
        /* PID-5 family^given, PID-7 YYYYMMDD, PID-8 M/F, PID-11 ...^USA, PID-19 SSN */
        char seg[512];
        snprintf (seg, sizeof (seg), "%.*s", (int) la, a + 1);
        char *fields[32] = {0};
        int nf = 0;
        for (char *s = seg, *bar; nf < 32; s = bar + 1) {
            fields[nf++] = s;
            bar = strchr (s, '|');
            if (!bar) {
                break;
            }
            *bar = '\0';
        }
        assert_int_equal (nf, 20);
        assert_non_null (strchr (fields[5], '^'));
        assert_true (s_matches (fields[7], "99999999"));
        assert_true (strcmp (fields[8], "M") == 0 || strcmp (fields[8], "F") == 0);
        assert_true (strlen (fields[11]) > 4
                     && strcmp (fields[11] + strlen (fields[11]) - 4, "^USA") == 0);
        assert_true (s_matches (fields[13], "999-555-0199"));
        assert_true (s_matches (fields[19], "999-99-9999"));
    }
    /* PV1-2 class and PV1-44 admit time by field position */
    const char *pv1 = strstr (hl7, "\rPV1|");
    assert_non_null (pv1);
    int bars = 0;
    const char *f44 = NULL, *f2 = NULL;
    for (const char *c = pv1 + 1; *c != '\r'; c++) {
        if (*c == '|') {
            bars++;
            if (bars == 2) {
                f2 = c + 1;
            }
            if (bars == 44) {
                f44 = c + 1;
            }
        }
    }
    assert_int_equal (bars, 44);
    assert_true (*f2 == 'I' || *f2 == 'O' || *f2 == 'E');
    assert_int_equal (f2[1], '|');
    assert_int_equal (strcspn (f44, "\r"), 12); /* YYYYMMDDhhmm */
    free (hl7);
    json_object_put (t);
    s_rmrf (dir);
}

/* Checks a FHIR resource of the simulator's; returns its resourceType. */
static const char *
s_check_resource (json_object *res, const char *subject)
{
    const char *type = s_str (res, "resourceType");
    if (strcmp (type, "Patient") == 0) {
        json_object *ident = s_at (res, "identifier");
        assert_int_equal (json_object_array_length (ident), 2);
        json_object *mr = json_object_array_get_idx (ident, 0);
        assert_string_equal (s_str (mr, "system"), "urn:oid:2.16.840.1.113883.19.5");
        assert_string_equal (s_str (json_object_array_get_idx (s_at (s_at (mr, "type"), "coding"),
                                                               0),
                                    "code"),
                             "MR");
        assert_true (s_matches (s_str (mr, "value"), "MRN99999999"));
        json_object *name = json_object_array_get_idx (s_at (res, "name"), 0);
        assert_string_equal (s_str (name, "use"), "official");
        assert_int_equal (json_object_array_length (s_at (name, "given")), 1);
        assert_true (s_matches (s_str (res, "birthDate"), "9999-99-99"));
        const char *g = s_str (res, "gender");
        assert_true (strcmp (g, "male") == 0 || strcmp (g, "female") == 0);
        json_object *addr = json_object_array_get_idx (s_at (res, "address"), 0);
        assert_true (s_matches (s_str (addr, "postalCode"), "99999"));
        assert_string_equal (s_str (addr, "country"), "US");
        json_object *tel = json_object_array_get_idx (s_at (res, "telecom"), 0);
        assert_string_equal (s_str (tel, "system"), "phone");
        return type;
    }
    assert_string_equal (s_str (res, "subject.reference"), subject);
    json_object *coding;
    if (strcmp (type, "Encounter") == 0) {
        coding =
            json_object_array_get_idx (s_at (json_object_array_get_idx (s_at (res, "type"), 0),
                                             "coding"),
                                       0);
        assert_string_equal (s_str (res, "class.system"),
                             "http://terminology.hl7.org/CodeSystem/v3-ActCode");
        const char *cls = s_str (res, "class.code");
        assert_true (strcmp (cls, "AMB") == 0 || strcmp (cls, "IMP") == 0
                     || strcmp (cls, "EMER") == 0);
        assert_string_equal (s_str (coding, "system"), "http://snomed.info/sct");
        assert_true (strcmp (s_str (res, "period.start"), s_str (res, "period.end")) < 0);
        return type;
    }
    coding = json_object_array_get_idx (s_at (s_at (res, "code"), "coding"), 0);
    if (strcmp (type, "Observation") == 0) {
        assert_string_equal (s_str (res, "status"), "final");
        assert_string_equal (s_str (coding, "system"), "http://loinc.org");
        const char *dt = s_str (res, "effectiveDateTime");
        assert_true (s_matches (dt, "9999-99-99T99:99:99-05:00"));
        int hour = atoi (dt + 11);
        assert_in_range (hour, 9, 15);
        assert_true (json_object_is_type (s_at (res, "valueQuantity.value"), json_type_double)
                     || json_object_is_type (s_at (res, "valueQuantity.value"), json_type_int));
        assert_string_equal (s_str (res, "valueQuantity.system"), "http://unitsofmeasure.org");
        assert_string_equal (s_str (res, "valueQuantity.code"),
                             s_str (res, "valueQuantity.unit"));
        return type;
    }
    assert_string_equal (type, "Condition");
    assert_string_equal (s_str (coding, "system"), "http://snomed.info/sct");
    assert_true (s_matches (s_str (res, "onsetDateTime"), "9999-99-99T99:99:99-05:00"));
    return type;
}

static void
test_fhir_feed_shape (void **state)
{
    (void) state;
    char *dir = s_tmpdir ();
    assert_int_equal (s_gen (dir, 30, 12, 0, 4), 0);
    json_object *t = s_truth (dir);
    /* NDJSON: one resource per line, Patient first, then its resources */
    char *nd = s_partner_feed (dir, t, "city-lab");
    size_t lines = 0, patients = 0, counts[4] = {0};
    char subject[80] = "";
    for (char *line = nd, *nl; *line; line = nl + 1) {
        nl = strchr (line, '\n');
        assert_non_null (nl);
        *nl = '\0';
        json_object *res = json_tokener_parse (line);
        if (!res) {
            fail_msg ("NDJSON line %zu does not parse: %.80s", lines + 1, line);
        }
        const char *type = s_check_resource (res, subject);
        if (strcmp (type, "Patient") == 0) {
            snprintf (subject, sizeof (subject), "Patient/%s", s_str (res, "id"));
            patients++;
        }
        counts[type[0] == 'P' ? 0 : type[0] == 'O' ? 1 : type[0] == 'C' ? 2 : 3]++;
        json_object_put (res);
        lines++;
    }
    assert_int_equal (patients, 10);
    assert_in_range (counts[1], 20, 60);
    assert_in_range (counts[2], 10, 30);
    assert_in_range (counts[3], 10, 20);
    free (nd);
    /* Bundles: collection, fullUrl urn:uuid:<id>, subjects urn:uuid:<patient id> */
    json_object *files = s_files (t, "clinic-fhir");
    assert_int_equal (json_object_array_length (files), 10);
    for (size_t i = 0; i < 10; i++) {
        char *data = s_read (dir, json_object_get_string (json_object_array_get_idx (files, i)),
                             NULL);
        json_object *b = json_tokener_parse (data);
        assert_non_null (b);
        assert_string_equal (s_str (b, "resourceType"), "Bundle");
        assert_string_equal (s_str (b, "type"), "collection");
        json_object *entries = s_at (b, "entry");
        assert_in_range (json_object_array_length (entries), 1 + 2 + 1 + 1, 1 + 6 + 3 + 2);
        json_object *pe = json_object_array_get_idx (entries, 0);
        const char *pid = s_str (pe, "resource.id");
        assert_string_equal (s_str (pe, "resource.resourceType"), "Patient");
        snprintf (subject, sizeof (subject), "urn:uuid:%s", pid);
        hg_strset_t *urls = hg_strset_new ();
        for (size_t e = 0; e < json_object_array_length (entries); e++) {
            json_object *entry = json_object_array_get_idx (entries, e);
            const char *url = s_str (entry, "fullUrl");
            char want[80];
            snprintf (want, sizeof (want), "urn:uuid:%s", s_str (entry, "resource.id"));
            assert_string_equal (url, want);
            assert_int_equal (hg_strset_add (urls, url, strlen (url)), 1);
            s_check_resource (s_at (entry, "resource"), subject);
        }
        hg_strset_destroy (&urls);
        json_object_put (b);
        free (data);
    }
    json_object_put (t);
    s_rmrf (dir);
}

/* ---- invalid items ------------------------------------------------------------------- */

static void
test_invalid_items (void **state)
{
    (void) state;
    char *clean = s_tmpdir (), *dirty = s_tmpdir ();
    assert_int_equal (s_gen (clean, 30, 5, 0, 3), 0);
    assert_int_equal (s_gen (dirty, 30, 5, 7, 3), 0);
    json_object *tc = s_truth (clean), *td = s_truth (dirty);
    assert_int_equal (s_int (tc, "quarantined"), 0);
    assert_int_equal (s_int (td, "quarantined"), 7);
    /* the valid content does not depend on the invalid items */
    const char *same[] = {"records", "codes", "facts", "phi", "partners"};
    for (size_t i = 0; i < sizeof (same) / sizeof (same[0]); i++) {
        if (!json_object_equal (s_at (tc, same[i]), s_at (td, same[i]))) {
            fail_msg ("truth.%s changed when invalid items were added", same[i]);
        }
    }
    /* seven items: one of each kind, each partner gets some */
    char *gh = s_partner_feed (dirty, td, "general-hospital");
    char *lab = s_partner_feed (dirty, td, "city-lab");
    char *cf = s_partner_feed (dirty, td, "clinic-fhir");
    assert_int_equal (s_count (gh, "|ADT^A99|"), 1);
    assert_int_equal (s_count (gh, "\rPID|1||||"), 1); /* empty PID-3 */
    assert_int_equal (s_count (gh, "|ORU^R01|"), 10 + 1);
    assert_int_equal (s_count (lab, "\"2021-13-45\""), 1);
    assert_int_equal (s_count (cf, "\"2021-13-45\""), 1);
    /* NDJSON: exactly one line that does not parse, one Observation without subject */
    size_t bad_lines = 0, no_subject = 0;
    for (char *line = lab, *nl; *line; line = nl + 1) {
        nl = strchr (line, '\n');
        assert_non_null (nl);
        *nl = '\0';
        json_object *res = json_tokener_parse (line);
        if (!res) {
            bad_lines++;
            continue;
        }
        json_object *sub;
        if (!json_object_object_get_ex (res, "subject", &sub)
            && strcmp (s_str (res, "resourceType"), "Patient") != 0) {
            assert_string_equal (s_str (res, "resourceType"), "Observation");
            no_subject++;
        }
        json_object_put (res);
    }
    assert_int_equal (bad_lines, 1);
    assert_int_equal (no_subject, 1);
    /* a Condition without code inside a Bundle (still valid JSON) */
    json_object *files = s_files (td, "clinic-fhir");
    size_t no_code = 0;
    for (size_t i = 0; i < json_object_array_length (files); i++) {
        char *data = s_read (dirty, json_object_get_string (json_object_array_get_idx (files, i)),
                             NULL);
        json_object *b = json_tokener_parse (data);
        assert_non_null (b);
        json_object *entries = s_at (b, "entry");
        for (size_t e = 0; e < json_object_array_length (entries); e++) {
            json_object *res = s_at (json_object_array_get_idx (entries, e), "resource"), *code;
            if (strcmp (s_str (res, "resourceType"), "Condition") == 0
                && !json_object_object_get_ex (res, "code", &code)) {
                no_code++;
            }
        }
        json_object_put (b);
        free (data);
    }
    assert_int_equal (no_code, 1);
    /* none of the markers in the clean run */
    char *all = s_all_feeds (clean, tc);
    assert_int_equal (s_count (all, "2021-13-45"), 0);
    assert_int_equal (s_count (all, "ADT^A99"), 0);
    assert_int_equal (s_count (all, "PID|1||||"), 0);
    free (all);
    free (gh);
    free (lab);
    free (cf);
    json_object_put (tc);
    json_object_put (td);
    s_rmrf (clean);
    s_rmrf (dirty);
}

/* Invalid items are spread over files, and go where patients are. */
static void
test_invalid_spread (void **state)
{
    (void) state;
    char *dir = s_tmpdir ();
    assert_int_equal (s_gen (dir, 60, 6, 12, 5), 0); /* 4 files per NDJSON/HL7 partner */
    json_object *t = s_truth (dir);
    assert_int_equal (s_int (t, "quarantined"), 12);
    json_object *files = s_files (t, "general-hospital");
    assert_int_equal (json_object_array_length (files), 4);
    /* the rotation of 7 kinds gives the hospital items 1, 4, 8 and 11 of 12: empty
     * PID-3, ADT^A99, empty PID-3, ADT^A99; after its patients 0, 5, 10, 15 (of 20),
     * so one in each of its 4 files */
    for (size_t i = 0; i < 4; i++) {
        char *d = s_read (dir, json_object_get_string (json_object_array_get_idx (files, i)),
                          NULL);
        assert_int_equal (s_count (d, "\rPID|1||||"), i % 2 == 0);
        assert_int_equal (s_count (d, "|ADT^A99|"), i % 2 == 1);
        free (d);
    }
    /* city-lab items 0, 3, 5, 7, 10 (bad date, no subject, truncated, bad date,
     * no subject); clinic-fhir items 2, 6, 9 (bad date, no code, bad date) */
    char *lab = s_partner_feed (dir, t, "city-lab"), *cf = s_partner_feed (dir, t, "clinic-fhir");
    assert_int_equal (s_count (lab, "\"2021-13-45\""), 2);
    assert_int_equal (s_count (cf, "\"2021-13-45\""), 2);
    assert_int_equal (s_count (lab, "\"code\": \"71\n"), 1);
    free (lab);
    free (cf);
    json_object_put (t);
    s_rmrf (dir);

    /* one patient: every item goes to the hospital, the only partner with one */
    dir = s_tmpdir ();
    assert_int_equal (s_gen (dir, 1, 6, 3, 5), 0);
    t = s_truth (dir);
    assert_int_equal (s_int (t, "quarantined"), 3);
    assert_int_equal (json_object_array_length (s_files (t, "city-lab")), 0);
    assert_int_equal (json_object_array_length (s_files (t, "clinic-fhir")), 0);
    char *gh = s_partner_feed (dir, t, "general-hospital");
    assert_int_equal (s_count (gh, "|ADT^A99|") + s_count (gh, "\rPID|1||||"), 3);
    assert_int_equal (s_count (gh, "|ADT^A99|"), 1);
    free (gh);
    json_object_put (t);
    s_rmrf (dir);
}

/* ---- errors ----------------------------------------------------------------------- */

static void
test_errors (void **state)
{
    (void) state;
    hg_simulate_opts_t o;
    hg_err_t err = {0};
    hg_simulate_opts_default (&o);
    assert_int_equal (hg_simulate_run (&o, &err), HG_EINVAL);
    assert_string_equal (err.msg, "simulate needs an output directory");
    o.out_dir = "";
    assert_int_equal (hg_simulate_run (&o, &err), HG_EINVAL);
    char *dir = s_tmpdir ();
    o.out_dir = dir;
    o.per_file = 0;
    assert_int_equal (hg_simulate_run (&o, &err), HG_EINVAL);
    assert_string_equal (err.msg, "per_file must be at least 1 (patients per file)");
    o.per_file = 5;
    o.patients = 0;
    o.invalid = 2;
    assert_int_equal (hg_simulate_run (&o, &err), HG_EINVAL);
    assert_string_equal (err.msg, "2 invalid items need at least one patient to go with");
    /* no patients, no invalid items: an empty but valid truth */
    o.invalid = 0;
    assert_int_equal (hg_simulate_run (&o, &err), 0);
    json_object *t = s_truth (dir);
    assert_int_equal (s_int (t, "records.distinct"), 0);
    assert_int_equal (json_object_array_length (s_at (t, "facts")), 0);
    assert_int_equal (json_object_object_length (s_at (t, "codes")), 0);
    assert_int_equal (json_object_array_length (s_at (t, "phi.mrns")), 0);
    json_object_put (t);
    /* an output directory that cannot be created */
    o.out_dir = "/dev/null/sim";
    o.patients = 3;
    err.code = 0;
    assert_int_equal (hg_simulate_run (&o, &err), HG_EIO);
    assert_int_equal (err.code, HG_EIO);
    assert_non_null (strstr (err.msg, "/dev/null/sim"));
    /* a partner directory that is a file */
    char path[512];
    snprintf (path, sizeof (path), "%s/blocked", dir);
    char sub[600];
    snprintf (sub, sizeof (sub), "%s/city-lab", path);
    assert_int_equal (mkdir (path, 0755), 0);
    FILE *f = fopen (sub, "w");
    assert_non_null (f);
    fclose (f);
    o.out_dir = path;
    assert_true (hg_simulate_run (&o, &err) < 0);
    assert_non_null (strstr (err.msg, "city-lab"));
    /* NULL err is allowed */
    o.out_dir = NULL;
    assert_int_equal (hg_simulate_run (&o, NULL), HG_EINVAL);
    s_rmrf (dir);
}

/* ---- CLI ------------------------------------------------------------------------------ */

typedef struct {
    int rc;
    char out[4096], err[4096];
} cli_t;

static void
s_slurp (int fd, char *buf, size_t size)
{
    lseek (fd, 0, SEEK_SET);
    ssize_t n = read (fd, buf, size - 1);
    buf[n > 0 ? n : 0] = '\0';
}

/* Runs hg_simulate_main with stdout and stderr captured. */
static cli_t
s_cli (int argc, const char **argv)
{
    cli_t r;
    fflush (stdout);
    fflush (stderr);
    FILE *o = tmpfile (), *e = tmpfile ();
    assert_non_null (o);
    assert_non_null (e);
    int so = dup (1), se = dup (2);
    dup2 (fileno (o), 1);
    dup2 (fileno (e), 2);
    r.rc = hg_simulate_main (argc, (char **) argv);
    fflush (stdout);
    fflush (stderr);
    dup2 (so, 1);
    dup2 (se, 2);
    close (so);
    close (se);
    s_slurp (fileno (o), r.out, sizeof (r.out));
    s_slurp (fileno (e), r.err, sizeof (r.err));
    fclose (o);
    fclose (e);
    return r;
}

#define CLI(...)                                                   \
    ({                                                             \
        const char *argv_[] = {"simulate", __VA_ARGS__};           \
        s_cli ((int) (sizeof (argv_) / sizeof (argv_[0])), argv_); \
    })

static void
test_cli (void **state)
{
    (void) state;
    char *dir = s_tmpdir ();
    cli_t r = CLI ("--help");
    assert_int_equal (r.rc, 0);
    assert_non_null (strstr (r.out, "usage: hourglass simulate --out DIR"));
    assert_string_equal (r.err, "");

    const char *none[] = {"simulate"};
    r = s_cli (1, none);
    assert_int_equal (r.rc, 2);
    assert_non_null (strstr (r.err, "hourglass simulate: --out is required\nusage:"));

    r = CLI ("--out");
    assert_int_equal (r.rc, 2);
    assert_non_null (strstr (r.err, "hourglass simulate: --out needs a value (DIR)\n"));

    r = CLI ("--frobnicate", "3");
    assert_int_equal (r.rc, 2);
    assert_non_null (strstr (r.err, "hourglass simulate: unknown option --frobnicate\n"));

    r = CLI ("--out", dir, "--patients", "12x");
    assert_int_equal (r.rc, 2);
    assert_non_null (strstr (r.err,
                             "hourglass simulate: --patients wants a whole number from 0 to "
                             "10000000, got '12x'\nusage:"));
    r = CLI ("--out", dir, "--per-file", "0");
    assert_int_equal (r.rc, 2);
    assert_non_null (strstr (r.err,
                             "hourglass simulate: --per-file wants a whole number from 1 to "
                             "1000000, got '0'\nusage:"));
    r = CLI ("--out", dir, "--seed", "-1");
    assert_int_equal (r.rc, 2);
    assert_non_null (strstr (r.err, "--seed wants a whole number"));
    r = CLI ("--out", dir, "--seed", "99999999999999999999999");
    assert_int_equal (r.rc, 2);
    r = CLI ("--out=");
    assert_int_equal (r.rc, 2);
    assert_non_null (strstr (r.err, "hourglass simulate: --out needs a directory\nusage:"));
    assert_string_equal (r.out, "");

    r = CLI ("--out=/dev/null/sim", "--patients", "2");
    assert_int_equal (r.rc, 1);
    assert_non_null (strstr (r.err, "hourglass simulate: "));
    assert_non_null (strstr (r.err, "/dev/null/sim"));

    r = CLI ("--out", dir, "--patients", "6", "--seed=18446744073709551615", "--invalid=2",
             "--per-file", "2");
    assert_int_equal (r.rc, 0);
    assert_string_equal (r.err, "");
    json_object *t = s_truth (dir);
    assert_true (json_object_get_uint64 (s_at (t, "seed")) == UINT64_MAX);
    assert_int_equal (s_int (t, "patients"), 6);
    assert_int_equal (s_int (t, "quarantined"), 2);
    char want[1024];
    snprintf (want, sizeof (want),
              "simulated 6 patients (seed 18446744073709551615): %" PRId64 " distinct records, "
              "2 invalid items, 4 files in %s\n",
              s_int (t, "records.distinct"), dir);
    assert_string_equal (r.out, want);
    json_object_put (t);
    s_rmrf (dir);
}

/* --notes: one note per patient, its truth listing the planted values and
 * dates; the hospital's as an MDM^T02 whose lines hold them in clear, and
 * the other records exactly as without notes. */
static void
test_notes (void **state)
{
    (void) state;
    char *plain = s_tmpdir (), *dir = s_tmpdir ();
    assert_int_equal (s_gen (plain, 30, 5, 0, 50), 0);
    s_notes = true;
    int rc = s_gen (dir, 30, 5, 0, 50);
    s_notes = false;
    assert_int_equal (rc, 0);
    json_object *t0 = s_truth (plain), *t = s_truth (dir);
    json_object *notes = s_at (t, "notes");
    assert_int_equal (json_object_array_length (notes), 30);
    /* the hospital's and the lab's are notes, the clinic's DiagnosticReports */
    assert_int_equal (s_int (t, "records.by_kind.note"), 20);
    assert_int_equal (s_int (t, "records.by_kind.lab-observation"),
                      s_int (t0, "records.by_kind.lab-observation") + 10);
    assert_int_equal (s_int (t, "records.by_kind.condition"),
                      s_int (t0, "records.by_kind.condition"));
    assert_int_equal (s_int (t, "records.distinct"), s_int (t0, "records.distinct") + 30);
    char *hl7 = s_partner_feed (dir, t, "general-hospital");
    size_t mdm = 0;
    for (size_t i = 0; i < 30; i++) {
        json_object *n = json_object_array_get_idx (notes, i);
        if (strcmp (s_str (n, "partner"), "general-hospital") != 0) {
            continue;
        }
        mdm++;
        assert_string_equal (s_str (n, "resource"), "MDM");
        json_object *planted = s_at (n, "planted");
        assert_int_equal (json_object_array_length (planted), 9);
        bool upper = json_object_get_boolean (s_at (n, "upper"));
        for (size_t k = 0; k < json_object_array_length (planted); k++) {
            char v[128];
            snprintf (v, sizeof (v), "%s",
                      json_object_get_string (json_object_array_get_idx (planted, k)));
            for (char *c = v; upper && *c; c++) {
                *c = (char) toupper ((unsigned char) *c);
            }
            if (!strstr (hl7, v)) {
                fail_msg ("planted '%s' is not in the HL7 feed", v);
            }
        }
    }
    assert_int_equal (mdm, 10);
    assert_non_null (strstr (hl7, "|MDM^T02|"));
    assert_non_null (strstr (hl7, "\rNTE|1||Result called to Dr. "));
    free (hl7);
    json_object_put (t0);
    json_object_put (t);
    s_rmrf (plain);
    s_rmrf (dir);
}

HG_TEST_MAIN (cmocka_unit_test (test_defaults), cmocka_unit_test (test_notes),
              cmocka_unit_test (test_deterministic), cmocka_unit_test (test_truth_consistent),
              cmocka_unit_test (test_hl7_feed_shape), cmocka_unit_test (test_fhir_feed_shape),
              cmocka_unit_test (test_invalid_items), cmocka_unit_test (test_invalid_spread),
              cmocka_unit_test (test_errors), cmocka_unit_test (test_cli))

#else /* HG_SIMULATE_PARSE */

/* ---- the real parsers against the truth ----------------------------------------------- */

typedef struct {
    char key[160]; /* "system|code" */
    int64_t records, patients;
} got_code_t;

typedef struct {
    got_code_t codes[256];
    size_t n_codes;
    hg_strset_t *records;       /* record ids (content keys) */
    hg_strset_t *code_patients; /* code \1 partner \1 patient */
    hg_strset_t *facts;         /* partner \1 patient \1 code \1 day \1 ordinal */
    hg_links_t *links;          /* patient links of the files parsed so far */
    int64_t by_kind[16];
    size_t rejects, records_total;
} got_t;

static got_code_t *
s_got_code (got_t *g, const char *key)
{
    for (size_t i = 0; i < g->n_codes; i++) {
        if (strcmp (g->codes[i].key, key) == 0) {
            return &g->codes[i];
        }
    }
    assert_true (g->n_codes < 256);
    got_code_t *c = &g->codes[g->n_codes++];
    memset (c, 0, sizeof (*c));
    snprintf (c->key, sizeof (c->key), "%s", key);
    return c;
}

/* Adds "key \1 n" for the first n not present yet (a multiset). */
static void
s_multiset_add (hg_strset_t *set, const char *key, char *out, size_t size)
{
    for (unsigned k = 0;; k++) {
        int len = snprintf (out, size, "%s\1%u", key, k);
        if (hg_strset_add (set, out, (size_t) len) == 1) {
            return;
        }
    }
}

static void
s_parse_file (got_t *g, const char *dir, const char *rel, const char *partner, bool hl7)
{
    size_t len;
    char *data = s_read (dir, rel, &len);
    hg_batch_t *b = hg_batch_new (0);
    assert_non_null (b);
    int n = hl7 ? hg_hl7v2_parse (data, len, NULL, b) : hg_fhir_parse (data, len, NULL, b);
    assert_true (n >= 0);
    const hg_reject_t *rj = hg_batch_rejects (b);
    for (size_t i = 0; i < hg_batch_reject_count (b); i++) {
        print_message ("  reject %s: %s: %s\n", rel, rj[i].location, rj[i].reason);
    }
    g->rejects += hg_batch_reject_count (b);
    Hourglass__Record **recs = hg_batch_records (b);
    for (size_t r = 0; r < hg_batch_record_count (b); r++) {
        assert_non_null (recs[r]->provenance);
    }
    /* then the cleanser's own step (cleanse.h), as one round of one cleanser */
    hg_cleanse_ctx_t ctx = {
        .partner = partner,
        .message_id = rel,
        .format = hl7 ? "hl7v2" : "fhir",
        .link_patients = !hl7,
        .today_days = (int64_t) (time (NULL) / 86400),
        .links = g->links,
    };
    hg_cleanse_result_t *res = malloc (sizeof (*res));
    hg_err_t cerr = {0};
    assert_non_null (res);
    if (hg_cleanse (&ctx, hg_batch_arena (b), recs, hg_batch_record_count (b), res, &cerr) < 0) {
        fail_msg ("%s: hg_cleanse: %s", rel, cerr.msg);
    }
    free (res);
    for (size_t r = 0; r < hg_batch_record_count (b); r++) {
        Hourglass__Record *rec = recs[r];
        g->records_total++;
        if (hg_strset_add (g->records, rec->record_id, strlen (rec->record_id)) != 1) {
            continue; /* the same fact again (the ORU's PID): counted once */
        }
        assert_true ((size_t) rec->kind < 16);
        g->by_kind[rec->kind]++;
        char day[11] = "";
        if (*rec->effective) {
            hg_date_t d;
            hg_err_t err;
            if (hg_date_parse_iso (rec->effective, strlen (rec->effective), &d, &err) < 0) {
                fail_msg ("%s: record effective '%s': %s", rel, rec->effective, err.msg);
            }
            hg_date_day_key (&d, day);
        }
        for (size_t c = 0; c < rec->n_codes; c++) {
            char key[160], pk[512], fk[640];
            snprintf (key, sizeof (key), "%s|%s", rec->codes[c]->system, rec->codes[c]->code);
            got_code_t *gc = s_got_code (g, key);
            gc->records++;
            int pl = snprintf (pk, sizeof (pk), "%s\1%s\1%s", key, partner, rec->patient_ref);
            if (hg_strset_add (g->code_patients, pk, (size_t) pl) == 1) {
                gc->patients++;
            }
            snprintf (pk, sizeof (pk), "%s\1%s\1%s\1%s", partner, rec->patient_ref, key, day);
            s_multiset_add (g->facts, pk, fk, sizeof (fk));
        }
    }
    hg_batch_destroy (&b);
    free (data);
}

/* Generates, parses every file with the partner's parser, compares with truth. */
static void
s_check_against_parsers (unsigned patients, uint64_t seed, unsigned invalid, unsigned per_file)
{
    char *dir = s_tmpdir ();
    assert_int_equal (s_gen (dir, patients, seed, invalid, per_file), 0);
    json_object *t = s_truth (dir);
    got_t *g = calloc (1, sizeof (got_t));
    g->records = hg_strset_new ();
    g->code_patients = hg_strset_new ();
    g->facts = hg_strset_new ();
    g->links = hg_links_new ();
    assert_non_null (g->links);
    json_object_object_foreach (s_at (t, "partners"), name, p)
    {
        bool hl7 = strcmp (s_str (p, "format"), "hl7v2") == 0;
        json_object *files = s_at (p, "files");
        for (size_t i = 0; i < json_object_array_length (files); i++) {
            s_parse_file (g, dir, json_object_get_string (json_object_array_get_idx (files, i)),
                          name, hl7);
        }
    }
    print_message ("  %u patients, %u invalid: %zu records parsed, %zu distinct, %zu rejects\n",
                   patients, invalid, g->records_total, hg_strset_size (g->records), g->rejects);
    /* rejects: exactly one per invalid item */
    if ((int64_t) g->rejects != s_int (t, "quarantined")) {
        fail_msg ("parsers rejected %zu items, truth says %" PRId64 " quarantined", g->rejects,
                  s_int (t, "quarantined"));
    }
    assert_int_equal (g->rejects, invalid);
    /* distinct records and kinds */
    if ((int64_t) hg_strset_size (g->records) != s_int (t, "records.distinct")) {
        fail_msg ("parsers give %zu distinct records, truth says %" PRId64,
                  hg_strset_size (g->records), s_int (t, "records.distinct"));
    }
    const struct {
        Hourglass__RecordKind kind;
        const char *path;
    } kinds[] = {{HOURGLASS__RECORD_KIND__KIND_DEMOGRAPHICS, "records.by_kind.demographics"},
                 {HOURGLASS__RECORD_KIND__KIND_ENCOUNTER, "records.by_kind.encounter"},
                 {HOURGLASS__RECORD_KIND__KIND_CONDITION, "records.by_kind.condition"},
                 {HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION,
                  "records.by_kind.lab-observation"},
                 {HOURGLASS__RECORD_KIND__KIND_NOTE, "records.by_kind.note"}};
    int64_t kind_sum = 0;
    for (size_t i = 0; i < 5; i++) {
        if (g->by_kind[kinds[i].kind] != s_int (t, kinds[i].path)) {
            fail_msg ("%s: parsers %" PRId64 ", truth %" PRId64, kinds[i].path,
                      g->by_kind[kinds[i].kind], s_int (t, kinds[i].path));
        }
        kind_sum += g->by_kind[kinds[i].kind];
    }
    assert_int_equal (kind_sum, (int64_t) hg_strset_size (g->records));
    /* every code: patients and records */
    json_object *codes = s_at (t, "codes");
    json_object_object_foreach (codes, code, counts)
    {
        got_code_t *gc = s_got_code (g, code);
        if (gc->records != s_int (counts, "records")
            || gc->patients != s_int (counts, "patients")) {
            fail_msg ("code %s: parsers %" PRId64 " records of %" PRId64
                      " patients, truth %" PRId64 " of %" PRId64,
                      code, gc->records, gc->patients, s_int (counts, "records"),
                      s_int (counts, "patients"));
        }
    }
    if (g->n_codes != (size_t) json_object_object_length (codes)) {
        for (size_t i = 0; i < g->n_codes; i++) {
            if (!json_object_object_get (codes, g->codes[i].key)) {
                print_error ("  parsers produced code %s, not in truth\n", g->codes[i].key);
            }
        }
        fail_msg ("parsers produced %zu codes, truth has %d", g->n_codes,
                  json_object_object_length (codes));
    }
    /* every fact of truth, with its date, is one the parsers produced (as a multiset) */
    json_object *facts = s_at (t, "facts");
    assert_int_equal (json_object_array_length (facts), hg_strset_size (g->facts));
    hg_strset_t *seen = hg_strset_new ();
    for (size_t i = 0; i < json_object_array_length (facts); i++) {
        json_object *f = json_object_array_get_idx (facts, i);
        char key[600], counted[640];
        snprintf (key, sizeof (key), "%s\1%s\1%s\1%s",
                  json_object_get_string (json_object_array_get_idx (f, 0)),
                  json_object_get_string (json_object_array_get_idx (f, 1)),
                  json_object_get_string (json_object_array_get_idx (f, 2)),
                  json_object_get_string (json_object_array_get_idx (f, 3)));
        s_multiset_add (seen, key, counted, sizeof (counted));
        if (!hg_strset_has (g->facts, counted, strlen (counted))) {
            fail_msg ("truth fact %s / %s / %s / %s is not one the parsers produced",
                      json_object_get_string (json_object_array_get_idx (f, 0)),
                      json_object_get_string (json_object_array_get_idx (f, 1)),
                      json_object_get_string (json_object_array_get_idx (f, 2)),
                      json_object_get_string (json_object_array_get_idx (f, 3)));
        }
    }
    hg_strset_destroy (&seen);
    hg_strset_destroy (&g->records);
    hg_strset_destroy (&g->code_patients);
    hg_strset_destroy (&g->facts);
    hg_links_destroy (&g->links);
    free (g);
    json_object_put (t);
    s_rmrf (dir);
}

static void
test_truth_matches_parsers (void **state)
{
    (void) state;
    s_check_against_parsers (60, 3, 5, 7);
}

/* Two of each of the seven invalid kinds. */
static void
test_every_invalid_kind_rejected_once (void **state)
{
    (void) state;
    s_check_against_parsers (45, 21, 14, 4);
}

static void
test_no_invalid_items (void **state)
{
    (void) state;
    s_check_against_parsers (31, 77, 0, 50);
}

/* With notes (MDM^T02, NTE, DocumentReference, DiagnosticReport) the
 * parsers still give exactly the truth's records. */
static void
test_notes_match_parsers (void **state)
{
    (void) state;
    s_notes = true;
    s_check_against_parsers (45, 9, 7, 6);
    s_notes = false;
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_truth_matches_parsers),
        cmocka_unit_test (test_every_invalid_kind_rejected_once),
        cmocka_unit_test (test_no_invalid_items),
        cmocka_unit_test (test_notes_match_parsers),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}

#endif
