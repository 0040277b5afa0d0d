/*
 * test_deid.c -- de-identifier: key file, pseudonyms, date shift, policy.
 *
 * Known answers were computed with Python's hashlib for the key bytes 0..31:
 *   hashlib.blake2b(domain + b"\0" + partner + b"\0" + id, key=key, digest_size=16)
 *   shift: v = int.from_bytes(blake2b(b"dateshift\0" + pseudonym, ...)[:4], "little")
 *          r = v % 730; r - 365 if r < 365 else r - 364
 */
#define _GNU_SOURCE /* memmem */
#include "unit_test.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "batch.h"
#include "codesys.h"
#include "date.h"
#include "policy.h"
#include "pseudonym.h"
#include "record.h"
#include "util.h"

static unsigned char s_key[HG_DEID_KEY_BYTES];

/* 2024-06-15 */
#define TODAY_DAYS 19889

static int
s_setup (void **state)
{
    for (int i = 0; i < HG_DEID_KEY_BYTES; i++) {
        s_key[i] = (unsigned char) i;
    }
    return 0;
}

static char *
s_ps (const char *domain, const char *partner, const char *id)
{
    static char out[HG_PSEUDONYM_HEX + 1];
    memset (out, 'x', sizeof (out));
    hg_pseudonym (s_key, domain, partner, id, out);
    return out;
}

/* ---------------------------------------------------------------------------
 * Pseudonyms and shifts. */

static void
test_pseudonym_known_answers (void **state)
{
    assert_string_equal (s_ps ("patient", "acme", "12345"), "bb067a8651cf875fca56f0c020542334");
    assert_string_equal (s_ps ("patient", "other", "12345"), "c4127d3ab19e4b6272e190a776fff982");
    assert_string_equal (s_ps ("encounter", "acme", "V100"), "c94b523c34679479b1d8c30cc756edab");
    assert_string_equal (s_ps ("record", "", "0123456789abcdef0123456789abcdef"),
                         "bc6dc13aba2f9385e97d5d8a646372e3");
    assert_string_equal (s_ps ("message", "acme", "acme/batch-1"),
                         "13c556b7a2b787256375788109ade4f4");
    assert_string_equal (s_ps ("source", "acme", "Patient/p1"),
                         "7fdc45f10008a6e122a16e30afe1dd87");
    assert_string_equal (s_ps ("patient", "", ""), "45814ce9b34df5f45429e614edfa4f86");
    /* NULL strings are "" */
    assert_string_equal (s_ps ("patient", NULL, NULL), "45814ce9b34df5f45429e614edfa4f86");
    assert_int_equal (strlen (s_ps ("patient", "acme", "12345")), HG_PSEUDONYM_HEX);
}

static void
test_dateshift_known_answers (void **state)
{
    assert_int_equal (hg_dateshift_days (s_key, "bb067a8651cf875fca56f0c020542334"), 93);
    assert_int_equal (hg_dateshift_days (s_key, "c4127d3ab19e4b6272e190a776fff982"), -162);
    assert_int_equal (hg_dateshift_days (s_key, "c94b523c34679479b1d8c30cc756edab"), -183);
    assert_int_equal (hg_dateshift_days (s_key, "427c2f73143c8af456a5ac0d1b497a73"), -343);
    assert_int_equal (hg_dateshift_days (s_key, "7891d788c5ea30ad49295c64f41c34e7"), -277);
    assert_int_equal (hg_dateshift_days (s_key, "9f075b916ed9fa3187082ad56fc6710f"), -364);
    assert_int_equal (hg_dateshift_days (s_key, "x"), 260);
    assert_int_equal (hg_dateshift_days (s_key, ""), -31);
}

static void
test_pseudonym_deterministic_and_scoped (void **state)
{
    char a[HG_PSEUDONYM_HEX + 1], b[HG_PSEUDONYM_HEX + 1];
    hg_pseudonym (s_key, "patient", "acme", "12345", a);
    hg_pseudonym (s_key, "patient", "acme", "12345", b);
    assert_string_equal (a, b);
    hg_pseudonym (s_key, "patient", "other", "12345", b);
    assert_string_not_equal (a, b);
    hg_pseudonym (s_key, "encounter", "acme", "12345", b); /* domain separates */
    assert_string_not_equal (a, b);
    /* the 0x00 separator: ("ac","me12345") is not ("acme","12345") */
    hg_pseudonym (s_key, "patient", "ac", "me12345", b);
    assert_string_not_equal (a, b);
    unsigned char other_key[HG_DEID_KEY_BYTES];
    memcpy (other_key, s_key, sizeof (other_key));
    other_key[31] ^= 1;
    hg_pseudonym (other_key, "patient", "acme", "12345", b);
    assert_string_not_equal (a, b);
    for (const char *p = a; *p; p++) {
        assert_true ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'));
    }
}

static void
test_dateshift_range (void **state)
{
    int min = 0, max = 0, neg = 0, pos = 0;
    for (int i = 0; i < 10000; i++) {
        char id[32], ps[HG_PSEUDONYM_HEX + 1];
        snprintf (id, sizeof (id), "patient-%d", i);
        hg_pseudonym (s_key, "patient", "acme", id, ps);
        int s = hg_dateshift_days (s_key, ps);
        assert_int_not_equal (s, 0);
        assert_true (s >= -HG_DATESHIFT_MAX_DAYS && s <= HG_DATESHIFT_MAX_DAYS);
        min = s < min ? s : min;
        max = s > max ? s : max;
        neg += s < 0;
        pos += s > 0;
    }
    /* both directions, spread over nearly the whole range */
    assert_true (min <= -360);
    assert_true (max >= 360);
    assert_true (neg > 4500 && pos > 4500);
}

/* ---------------------------------------------------------------------------
 * Key file. */

static char s_dir[64];

static int
s_count_entries (const char *dir)
{
    DIR *d = opendir (dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir (d))) {
        n += strcmp (e->d_name, ".") && strcmp (e->d_name, "..");
    }
    if (d) {
        closedir (d);
    }
    return n;
}

static int
s_key_setup (void **state)
{
    snprintf (s_dir, sizeof (s_dir), "/tmp/hg-deid-test-XXXXXX");
    return mkdtemp (s_dir) ? 0 : -1;
}

static int
s_key_teardown (void **state)
{
    hg_remove_tree (s_dir, NULL);
    return 0;
}

static void
s_write_file (const char *path, const void *data, size_t len, mode_t mode)
{
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true (fd >= 0);
    assert_int_equal (write (fd, data, len), (ssize_t) len);
    close (fd);
    assert_int_equal (chmod (path, mode), 0);
}

static void
test_key_create_and_reload (void **state)
{
    char path[256];
    snprintf (path, sizeof (path), "%s/deid.key", s_dir);
    unsigned char k1[HG_DEID_KEY_BYTES], k2[HG_DEID_KEY_BYTES], zero[HG_DEID_KEY_BYTES];
    memset (zero, 0, sizeof (zero));
    hg_err_t err;
    hg_err_clear (&err);

    /* missing and not allowed to create */
    assert_int_equal (hg_deid_key_load (path, false, k1, &err), HG_ENOTFOUND);
    char want[512];
    snprintf (want, sizeof (want),
              "key file %s does not exist; restore it, or allow the de-identifier "
              "to create a new key",
              path);
    assert_string_equal (err.msg, want);
    assert_int_equal (access (path, F_OK), -1);

    assert_int_equal (hg_deid_key_load (path, true, k1, &err), 0);
    struct stat sb;
    assert_int_equal (stat (path, &sb), 0);
    assert_int_equal (sb.st_mode & 07777, 0600);
    assert_int_equal (sb.st_size, HG_DEID_KEY_BYTES);
    assert_memory_not_equal (k1, zero, sizeof (k1));
    assert_int_equal (s_count_entries (s_dir), 1); /* no temp file left */

    /* reload, with and without create: the same key, file unchanged */
    assert_int_equal (hg_deid_key_load (path, false, k2, &err), 0);
    assert_memory_equal (k1, k2, sizeof (k1));
    assert_int_equal (hg_deid_key_load (path, true, k2, &err), 0);
    assert_memory_equal (k1, k2, sizeof (k1));
    unsigned char disk[HG_DEID_KEY_BYTES];
    FILE *f = fopen (path, "rb");
    assert_non_null (f);
    assert_int_equal (fread (disk, 1, sizeof (disk), f), sizeof (disk));
    fclose (f);
    assert_memory_equal (k1, disk, sizeof (k1));

    /* a second key elsewhere is different */
    char path2[256];
    snprintf (path2, sizeof (path2), "%s/other.key", s_dir);
    assert_int_equal (hg_deid_key_load (path2, true, k2, &err), 0);
    assert_memory_not_equal (k1, k2, sizeof (k1));
}

/* Processes starting at once on a fresh key path must end up with one key. */
static void
test_key_concurrent_create (void **state)
{
    enum { N = 8 };
    char path[256];
    snprintf (path, sizeof (path), "%s/race.key", s_dir);
    int fds[N][2];
    pid_t pids[N];
    for (int i = 0; i < N; i++) {
        assert_int_equal (pipe (fds[i]), 0);
        pids[i] = fork ();
        assert_true (pids[i] >= 0);
        if (pids[i] == 0) {
            unsigned char k[HG_DEID_KEY_BYTES];
            hg_err_t err;
            int rc = hg_deid_key_load (path, true, k, &err);
            ssize_t w = rc == 0 ? write (fds[i][1], k, sizeof (k)) : 0;
            _exit (w == (ssize_t) sizeof (k) ? 0 : 1);
        }
        close (fds[i][1]);
    }
    unsigned char first[HG_DEID_KEY_BYTES];
    for (int i = 0; i < N; i++) {
        unsigned char k[HG_DEID_KEY_BYTES];
        int status = -1;
        assert_int_equal (waitpid (pids[i], &status, 0), pids[i]);
        assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
        assert_int_equal (read (fds[i][0], k, sizeof (k)), sizeof (k));
        close (fds[i][0]);
        if (i == 0) {
            memcpy (first, k, sizeof (k));
        }
        assert_memory_equal (k, first, sizeof (k));
    }
    unsigned char disk[HG_DEID_KEY_BYTES];
    hg_err_t err;
    assert_int_equal (hg_deid_key_load (path, false, disk, &err), 0);
    assert_memory_equal (disk, first, sizeof (disk));
    assert_int_equal (s_count_entries (s_dir), 1);
}

static void
test_key_refused (void **state)
{
    char path[256], want[1024];
    unsigned char k[HG_DEID_KEY_BYTES], zero[HG_DEID_KEY_BYTES];
    memset (zero, 0, sizeof (zero));
    hg_err_t err;
    hg_err_clear (&err);
    snprintf (path, sizeof (path), "%s/loose.key", s_dir);
    s_write_file (path, s_key, sizeof (s_key), 0644);
    memset (k, 0xee, sizeof (k));
    assert_int_equal (hg_deid_key_load (path, true, k, &err), HG_EINVAL);
    snprintf (want, sizeof (want), "key file %s has mode 0644; it must be 0600 (chmod 600 %s)",
              path, path);
    assert_string_equal (err.msg, want);
    assert_memory_equal (k, zero, sizeof (k)); /* nothing half-loaded */

    /* group-writable only is refused too */
    assert_int_equal (chmod (path, 0620), 0);
    assert_int_equal (hg_deid_key_load (path, false, k, &err), HG_EINVAL);
    snprintf (want, sizeof (want), "key file %s has mode 0620; it must be 0600 (chmod 600 %s)",
              path, path);
    assert_string_equal (err.msg, want);

    /* fixed as the message says: loads the file's bytes */
    assert_int_equal (chmod (path, 0600), 0);
    assert_int_equal (hg_deid_key_load (path, false, k, &err), 0);
    assert_memory_equal (k, s_key, sizeof (k));

    /* wrong sizes */
    snprintf (path, sizeof (path), "%s/short.key", s_dir);
    s_write_file (path, s_key, 16, 0600);
    assert_int_equal (hg_deid_key_load (path, true, k, &err), HG_EINVAL);
    snprintf (want, sizeof (want),
              "key file %s is 16 bytes; a de-identification key is "
              "exactly 32 bytes",
              path);
    assert_memory_equal (err.msg, want, strlen (want));
    unsigned char big[33] = {0};
    snprintf (path, sizeof (path), "%s/long.key", s_dir);
    s_write_file (path, big, sizeof (big), 0600);
    assert_int_equal (hg_deid_key_load (path, false, k, &err), HG_EINVAL);
    snprintf (want, sizeof (want),
              "key file %s is 33 bytes; a de-identification key is "
              "exactly 32 bytes",
              path);
    assert_memory_equal (err.msg, want, strlen (want));
    snprintf (path, sizeof (path), "%s/empty.key", s_dir);
    s_write_file (path, "", 0, 0600);
    assert_int_equal (hg_deid_key_load (path, true, k, &err), HG_EINVAL);
    assert_non_null (strstr (err.msg, "is 0 bytes"));

    /* a directory is not a key */
    assert_int_equal (hg_deid_key_load (s_dir, true, k, &err), HG_EINVAL);
    assert_non_null (strstr (err.msg, "is not a regular file"));

    /* creating in a directory that does not exist */
    snprintf (path, sizeof (path), "%s/no/such/dir.key", s_dir);
    assert_int_equal (hg_deid_key_load (path, true, k, &err), HG_EIO);
    snprintf (want, sizeof (want), "cannot create key file %s: No such file or directory", path);
    assert_memory_equal (err.msg, want, strlen (want));

    assert_int_equal (hg_deid_key_load ("", true, k, &err), HG_EINVAL);
    assert_string_equal (err.msg, "no de-identification key file configured; set the key path");
}

/* ---------------------------------------------------------------------------
 * Records. */

typedef struct {
    hg_batch_t *batch;
    hg_arena_t *arena;
    hg_deid_ctx_t ctx;
    hg_err_t err;
} fixture_t;

static int
s_rec_setup (void **state)
{
    s_setup (state);
    fixture_t *fx = calloc (1, sizeof (*fx));
    fx->batch = hg_batch_new (0);
    fx->arena = hg_batch_arena (fx->batch);
    fx->ctx.key = s_key;
    fx->ctx.today_days = TODAY_DAYS;
    hg_err_clear (&fx->err);
    *state = fx;
    return 0;
}

static int
s_rec_teardown (void **state)
{
    fixture_t *fx = *state;
    hg_batch_destroy (&fx->batch);
    free (fx);
    return 0;
}

static Hourglass__Record *
s_rec (fixture_t *fx, Hourglass__RecordKind kind, const char *partner, const char *patient)
{
    Hourglass__Record *rec = hg_batch_add_record (fx->batch, kind);
    assert_non_null (rec);
    rec->provenance = hg_provenance_new (fx->arena);
    rec->provenance->partner = hg_arena_strdup (fx->arena, partner);
    rec->provenance->source_format = hg_arena_strdup (fx->arena, "hl7v2");
    rec->patient_ref = hg_arena_strdup (fx->arena, patient);
    return rec;
}

/* Packs rec; fails the test if needle occurs anywhere in the bytes. */
static void
s_assert_absent (const Hourglass__Record *rec, const char *needle)
{
    size_t n = hourglass__record__get_packed_size (rec);
    uint8_t *buf = malloc (n ? n : 1);
    assert_int_equal (hourglass__record__pack (rec, buf), n);
    void *hit = memmem (buf, n, needle, strlen (needle));
    if (hit) {
        print_error ("identifying value '%s' survived de-identification\n", needle);
    }
    free (buf);
    assert_null (hit);
}

static void
s_assert_present (const Hourglass__Record *rec, const char *needle)
{
    size_t n = hourglass__record__get_packed_size (rec);
    uint8_t *buf = malloc (n ? n : 1);
    assert_int_equal (hourglass__record__pack (rec, buf), n);
    void *hit = memmem (buf, n, needle, strlen (needle));
    free (buf);
    assert_non_null (hit);
}

static const char *const s_identifying[] = {
    "MRN-778899",
    "Featherstonehaugh",
    "Alexandrina",
    "Quentin",
    "555-867-5309",
    "867-5309",
    "+1 555 867 5309",
    "alex@example.org",
    "42 Wallaby Way",
    "Apt 7B",
    "Springfieldia",
    "1931-05-20",
    "19310520",
    "90210",
    "123-45-6789",
    "ENC-445566",
    "acme/batch-77",
    "PID/1",
    "Dr. Zoidberg",
    "2021-03-04",
    "2021-03-04T10:30",
    "1931",
    "Mrs Featherstonehaugh",
};

static void
test_full_record_nothing_identifying (void **state)
{
    fixture_t *fx = *state;
    Hourglass__Record *rec = s_rec (fx, HOURGLASS__RECORD_KIND__KIND_DEMOGRAPHICS, "acme",
                                    "MRN-778899");
    hg_arena_t *a = fx->arena;
    Hourglass__Demographics *dm = hg_demographics_new (a);
    rec->demographics = dm;
    dm->family = hg_arena_strdup (a, "Featherstonehaugh");
    assert_int_equal (hg_strv_push (a, &dm->given, &dm->n_given, "Alexandrina"), 0);
    assert_int_equal (hg_strv_push (a, &dm->given, &dm->n_given, "Quentin"), 0);
    dm->birth_date = hg_arena_strdup (a, "1931-05-20");
    dm->sex = hg_arena_strdup (a, "female");
    assert_int_equal (hg_strv_push (a, &dm->address_lines, &dm->n_address_lines,
                                    "42 Wallaby Way"),
                      0);
    assert_int_equal (hg_strv_push (a, &dm->address_lines, &dm->n_address_lines, "Apt 7B"), 0);
    dm->city = hg_arena_strdup (a, "Springfieldia");
    dm->state = hg_arena_strdup (a, "CA");
    dm->postal_code = hg_arena_strdup (a, "90210-1234");
    dm->country = hg_arena_strdup (a, "US");
    assert_int_equal (hg_strv_push (a, &dm->telecom, &dm->n_telecom, "555-867-5309"), 0);
    assert_int_equal (hg_strv_push (a, &dm->telecom, &dm->n_telecom, "+1 555 867 5309"), 0);
    assert_int_equal (hg_strv_push (a, &dm->telecom, &dm->n_telecom, "alex@example.org"), 0);
    dm->deceased_date = hg_arena_strdup (a, "2021-03-04");
    /* generalised fields arriving pre-filled are not trusted */
    dm->postal_prefix = hg_arena_strdup (a, "Springfieldia");
    dm->birth_year = 1931;
    assert_int_equal (hg_record_add_identifier (a, rec, "urn:mrn", "MRN-778899", "MR"), 0);
    assert_int_equal (hg_record_add_identifier (a, rec, "urn:ssn", "123-45-6789", "SS"), 0);
    rec->encounter_ref = hg_arena_strdup (a, "ENC-445566");
    rec->text = hg_arena_strdup (a, "Mrs Featherstonehaugh reports chest pain since "
                                    "Tuesday; seen by Dr. Zoidberg");
    rec->effective = hg_arena_strdup (a, "2021-03-04T10:30:00-05:00");
    rec->provenance->source_message_id = hg_arena_strdup (a, "acme/batch-77");
    rec->provenance->source_record_id = hg_arena_strdup (a, "PID/1");
    assert_int_equal (hg_record_set_content_key (a, rec), 0);
    char content_key[64];
    snprintf (content_key, sizeof (content_key), "%s", rec->record_id);

    /* the text is scrubbed with what the record says of its patient */
    hg_scrub_lexicon_t *known = hg_scrub_lexicon_new ();
    hg_scrub_t *sc = hg_scrub_new (NULL);
    hg_scrub_set_strict (sc, true);
    assert_int_equal (hg_deid_known_add (known, rec), 0);
    fx->ctx.scrub = sc;
    fx->ctx.known = known;
    assert_int_equal (hg_deid_record (&fx->ctx, a, rec, &fx->err), 0);
    assert_int_equal (fx->err.code, 0);
    fx->ctx.scrub = NULL;
    fx->ctx.known = NULL;
    hg_scrub_free (sc);
    hg_scrub_lexicon_free (known);

    for (size_t i = 0; i < sizeof (s_identifying) / sizeof (s_identifying[0]); i++) {
        s_assert_absent (rec, s_identifying[i]);
    }
    s_assert_absent (rec, content_key);
    s_assert_absent (rec, "Zoidberg");
    s_assert_present (rec, "chest pain since Tuesday"); /* what the note means stays */

    /* exact transformed values */
    assert_true (rec->pseudonymous);
    char want[HG_PSEUDONYM_HEX + 1];
    hg_pseudonym (s_key, "patient", "acme", "MRN-778899", want);
    assert_string_equal (rec->patient_ref, want);
    hg_pseudonym (s_key, "record", "", content_key, want);
    assert_string_equal (rec->record_id, want);
    hg_pseudonym (s_key, "encounter", "acme", "ENC-445566", want);
    assert_string_equal (rec->encounter_ref, want);
    hg_pseudonym (s_key, "message", "acme", "acme/batch-77", want);
    assert_string_equal (rec->provenance->source_message_id, want);
    hg_pseudonym (s_key, "source", "acme", "PID/1", want);
    assert_string_equal (rec->provenance->source_record_id, want);
    assert_string_equal (rec->provenance->partner, "acme");
    assert_string_equal (rec->provenance->source_format, "hl7v2");
    assert_int_equal (rec->n_identifiers, 0);
    assert_string_equal (rec->text, "Mrs [NAME] reports chest pain since Tuesday; seen by Dr. "
                                    "[NAME]");

    /* shifted by this patient's shift; interval to the deceased date kept */
    int shift = hg_dateshift_days (s_key, rec->patient_ref);
    hg_date_t eff, dec;
    assert_int_equal (hg_date_parse_iso (rec->effective, strlen (rec->effective), &eff, NULL), 0);
    assert_int_equal (hg_date_parse_iso (dm->deceased_date, strlen (dm->deceased_date), &dec,
                                         NULL),
                      0);
    hg_date_t orig;
    assert_int_equal (hg_date_parse_iso ("2021-03-04", 10, &orig, NULL), 0);
    assert_int_equal (hg_date_days (&eff) - hg_date_days (&orig), shift);
    assert_int_equal (hg_date_days (&dec) - hg_date_days (&orig), shift);
    assert_int_equal (eff.prec, HG_PREC_SECOND);
    assert_true (eff.has_tz);
    assert_int_equal (eff.tz_offset_min, -300);
    assert_int_equal (eff.hour, 10);

    assert_string_equal (dm->family, "");
    assert_int_equal (dm->n_given, 0);
    assert_int_equal (dm->n_address_lines, 0);
    assert_int_equal (dm->n_telecom, 0);
    assert_string_equal (dm->city, "");
    assert_string_equal (dm->birth_date, "");
    assert_string_equal (dm->postal_code, "");
    assert_string_equal (dm->postal_prefix, "902");
    assert_string_equal (dm->age_group, "90+");
    assert_int_equal (dm->birth_year, 0);
    assert_string_equal (dm->state, "CA");
    assert_string_equal (dm->country, "US");
    assert_string_equal (dm->sex, "female");
    s_assert_present (rec, "90+");
    s_assert_present (rec, "acme");
}

static void
test_birth_year_and_bands (void **state)
{
    fixture_t *fx = *state;
    static const struct {
        const char *birth;
        const char *band;
        int year;
    } cases[] = {
        {"1980-07-04", "40-49", 1980}, /* 43 at 2024-06-15 */
        {"1980-06-15", "40-49", 1980}, /* 44 today */
        {"1934-06-16", "80-89", 1934}, /* 89, 90 tomorrow */
        {"1934-06-15", "90+", 0},      /* 90 today */
        {"1934", "90+", 0},            /* year only: 1934-01-01, never understated */
        {"1935-06", "80-89", 1935},
        {"2010-02-28", "0-17", 2010},
        {"2024-06-15", "0-17", 2024}, /* born today */
        {"2006-06-15T08:00:00Z", "18-29", 2006},
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        Hourglass__Record *rec = s_rec (fx, HOURGLASS__RECORD_KIND__KIND_DEMOGRAPHICS, "acme",
                                        "p1");
        rec->demographics = hg_demographics_new (fx->arena);
        rec->demographics->birth_date = hg_arena_strdup (fx->arena, cases[i].birth);
        assert_int_equal (hg_deid_record (&fx->ctx, fx->arena, rec, &fx->err), 0);
        assert_string_equal (rec->demographics->age_group, cases[i].band);
        assert_int_equal (rec->demographics->birth_year, cases[i].year);
        assert_string_equal (rec->demographics->birth_date, "");
    }
    /* no birth date: nothing generalised, and nothing carried over */
    Hourglass__Record *rec = s_rec (fx, HOURGLASS__RECORD_KIND__KIND_DEMOGRAPHICS, "acme", "p1");
    rec->demographics = hg_demographics_new (fx->arena);
    rec->demographics->age_group = hg_arena_strdup (fx->arena, "Alexandrina");
    rec->demographics->birth_year = 1931;
    assert_int_equal (hg_deid_record (&fx->ctx, fx->arena, rec, &fx->err), 0);
    assert_string_equal (rec->demographics->age_group, "");
    assert_int_equal (rec->demographics->birth_year, 0);
    assert_string_equal (rec->demographics->postal_prefix, "");
}

static void
test_age_group (void **state)
{
    assert_string_equal (hg_deid_age_group (-1), "0-17");
    assert_string_equal (hg_deid_age_group (0), "0-17");
    assert_string_equal (hg_deid_age_group (17), "0-17");
    assert_string_equal (hg_deid_age_group (18), "18-29");
    assert_string_equal (hg_deid_age_group (29), "18-29");
    assert_string_equal (hg_deid_age_group (30), "30-39");
    assert_string_equal (hg_deid_age_group (49), "40-49");
    assert_string_equal (hg_deid_age_group (50), "50-59");
    assert_string_equal (hg_deid_age_group (65), "60-69");
    assert_string_equal (hg_deid_age_group (70), "70-79");
    assert_string_equal (hg_deid_age_group (89), "80-89");
    assert_string_equal (hg_deid_age_group (90), "90+");
    assert_string_equal (hg_deid_age_group (123), "90+");
}

/* Effective dates keep their precision and zone; values from Python's
 * datetime for the shifts of the patients used. */
static void
test_shift_keeps_precision (void **state)
{
    fixture_t *fx = *state;
    static const struct {
        const char *patient; /* at partner acme */
        const char *in, *out;
    } cases[] = {
        /* 12345: +93 */
        {"12345", "2021", "2021"},
        {"12345", "2021-03", "2021-06"},
        {"12345", "2021-03-04", "2021-06-05"},
        {"12345", "2021-03-04T10:30-05:00", "2021-06-05T10:30-05:00"},
        {"12345", "2021-12-31T23:59:59.123Z", "2022-04-03T23:59:59.123Z"},
        {"12345", "2021-03-04T00:00:07", "2021-06-05T00:00:07"},
        /* p21: -343 */
        {"p21", "2021", "2020"},
        {"p21", "2021-03", "2020-04"},
        {"p21", "2021-03-04T01:02:03+05:30", "2020-03-26T01:02:03+05:30"},
        {"p21", "2020-02-29", "2019-03-23"},
        /* p7: +269 */
        {"p7", "2021", "2022"},
        {"p7", "2021-03", "2021-12"},
        {"p7", "2021-03-04", "2021-11-28"},
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        Hourglass__Record *rec = s_rec (fx, HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION, "acme",
                                        cases[i].patient);
        rec->effective = hg_arena_strdup (fx->arena, cases[i].in);
        rec->effective_end = hg_arena_strdup (fx->arena, cases[i].in);
        assert_int_equal (hg_deid_record (&fx->ctx, fx->arena, rec, &fx->err), 0);
        assert_string_equal (rec->effective, cases[i].out);
        assert_string_equal (rec->effective_end, cases[i].out);
    }
    /* empty stays empty */
    Hourglass__Record *rec = s_rec (fx, HOURGLASS__RECORD_KIND__KIND_CONDITION, "acme", "12345");
    assert_int_equal (hg_deid_record (&fx->ctx, fx->arena, rec, &fx->err), 0);
    assert_string_equal (rec->effective, "");
    assert_string_equal (rec->effective_end, "");
    assert_string_equal (rec->patient_ref, "bb067a8651cf875fca56f0c020542334");
    assert_string_equal (rec->record_id, "");
    assert_string_equal (rec->encounter_ref, "");
    assert_string_equal (rec->provenance->source_message_id, "");
}

static void
test_postal_prefix (void **state)
{
    fixture_t *fx = *state;
    static const struct {
        const char *zip, *country, *want;
    } cases[] = {
        {"90210", "US", "902"},
        {"90210-1234", "", "902"},
        {"902101234", "USA", "902"},
        {" 02139 ", "United States", "021"},
        {"03601", "US", "000"}, /* restricted */
        {"05901-1111", "US", "000"},
        {"06390", "", "000"},
        {"10201", "US", "000"},
        {"20301", "US", "000"},
        {"55601", "US", "000"},
        {"69201", "US", "000"},
        {"79001", "US", "000"},
        {"82101", "US", "000"},
        {"82301", "US", "000"},
        {"83001", "US", "000"},
        {"83101", "US", "000"},
        {"87801", "US", "000"},
        {"87901", "US", "000"},
        {"88401", "US", "000"},
        {"89001", "US", "000"},
        {"89301", "US", "000"},
        {"03701", "US", "037"},   /* neighbour of a restricted prefix */
        {"K1A 0B1", "CA", "000"}, /* not a US ZIP */
        {"10115", "DE", "000"},   /* ZIP-shaped but not in the US */
        {"1234", "US", "000"},
        {"123456", "US", "000"},
        {"12345-67", "US", "000"},
        {"1234a", "", "000"},
        {"", "US", ""},
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        char out[4];
        hg_deid_postal_prefix (cases[i].zip, cases[i].country, out);
        if (strcmp (out, cases[i].want)) {
            print_error ("postal code '%s' country '%s'\n", cases[i].zip, cases[i].country);
        }
        assert_string_equal (out, cases[i].want);
    }
    /* through the record */
    Hourglass__Record *rec = s_rec (fx, HOURGLASS__RECORD_KIND__KIND_DEMOGRAPHICS, "acme", "p1");
    rec->demographics = hg_demographics_new (fx->arena);
    rec->demographics->postal_code = hg_arena_strdup (fx->arena, "83001");
    assert_int_equal (hg_deid_record (&fx->ctx, fx->arena, rec, &fx->err), 0);
    assert_string_equal (rec->demographics->postal_prefix, "000");
    assert_string_equal (rec->demographics->postal_code, "");
    s_assert_absent (rec, "83001");
    s_assert_absent (rec, "830");
}

/* String values: each leak shape of issue 11 and its legitimate twin, under
 * the three things the policy can know (plain, measured code, age). */
static void
test_string_value (void **state)
{
    (void) state;
    enum { PLAIN, MEASURED, AGE, GENOTYPE };
    static const struct {
        int under;
        const char *in, *out;
    } cases[] = {
        /* the result vocabulary */
        {PLAIN, "Positive", "Positive"},
        {PLAIN, "  NOT   Detected ", "  NOT   Detected "},
        {PLAIN, "negative", "negative"},
        {PLAIN, "non-reactive", "non-reactive"},
        {PLAIN, "Nonreactive", "Nonreactive"},
        {PLAIN, "trace", "trace"},
        {PLAIN, "No", "No"},
        {PLAIN, "equivocal", "equivocal"},
        {PLAIN, "true", "true"}, /* FHIR valueBoolean */
        {PLAIN, "", ""},
        {PLAIN, "   ", "   "},
        /* notations that say they are measurements pass under any code */
        {PLAIN, "3+", "3+"},
        {PLAIN, "1:64", "1:64"}, /* titer */
        {PLAIN, "1:320", "1:320"},
        {PLAIN, "<0.5", "<0.5"},
        {PLAIN, ">= 10,000", ">= 10,000"},
        {PLAIN, "45 %", "45 %"},
        /* dates: redacted under every code */
        {PLAIN, "7/22", HG_DEID_REDACTED},
        {MEASURED, "7/22", HG_DEID_REDACTED},
        {PLAIN, "3/4", HG_DEID_REDACTED},
        {MEASURED, "11/21.93", HG_DEID_REDACTED},
        {MEASURED, "120/80", HG_DEID_REDACTED}, /* d/d: a date as much as a pressure */
        {MEASURED, "3/4/21", HG_DEID_REDACTED},
        {MEASURED, "04.03.2021", HG_DEID_REDACTED},
        {MEASURED, "1-2-3", HG_DEID_REDACTED},
        {MEASURED, "2021-03", HG_DEID_REDACTED},
        {MEASURED, "2021-03-04", HG_DEID_REDACTED},
        {MEASURED, "20210304", HG_DEID_REDACTED},
        {AGE, "7/22", HG_DEID_REDACTED},
        /* phones and identifiers */
        {MEASURED, "555-867-5309", HG_DEID_REDACTED},
        {MEASURED, "867-5309", HG_DEID_REDACTED},
        {MEASURED, "123-45-6789", HG_DEID_REDACTED},
        {PLAIN, "(555) 867-5309", HG_DEID_REDACTED},
        {PLAIN, "MRN778899", HG_DEID_REDACTED},
        /* digit runs: an identifier or a time under a code not known to be
         * measured, a value under one that is */
        {PLAIN, "123456", HG_DEID_REDACTED}, /* specimen barcode */
        {MEASURED, "123456", "123456"},
        {PLAIN, "1318", HG_DEID_REDACTED}, /* birth time */
        {PLAIN, "13:18", HG_DEID_REDACTED},
        {MEASURED, "13:18", "13:18"},
        {PLAIN, "1:05", HG_DEID_REDACTED}, /* not a titer: a time */
        {PLAIN, "2021", HG_DEID_REDACTED}, /* a year */
        {PLAIN, "7.2", HG_DEID_REDACTED},
        {MEASURED, "7.2", "7.2"},
        {PLAIN, "5.0-10.0", HG_DEID_REDACTED},
        {MEASURED, "5.0-10.0", "5.0-10.0"},
        {PLAIN, "7-22", HG_DEID_REDACTED},
        /* ages: over 89 is 90+ */
        {AGE, "93", HG_DEID_AGE_90},
        {AGE, "90", HG_DEID_AGE_90},
        {AGE, ">95", HG_DEID_AGE_90},
        {AGE, "89", "89"},
        {AGE, "89.9", "89.9"},
        {AGE, "45", "45"},
        {AGE, "93 years", HG_DEID_REDACTED},
        {PLAIN, "93", HG_DEID_REDACTED},
        /* genotypes, of genomic variants only */
        {GENOTYPE, "0/1", "0/1"},
        {GENOTYPE, "1|1", "1|1"},
        {GENOTYPE, "./1", "./1"},
        {PLAIN, "0/1", HG_DEID_REDACTED},
        {GENOTYPE, "7/22/1931", HG_DEID_REDACTED},
        /* free text */
        {PLAIN, "positive for John Smith", HG_DEID_REDACTED},
        {MEASURED, "John Smith", HG_DEID_REDACTED},
        {PLAIN, "see note", HG_DEID_REDACTED},
        {PLAIN, "negative.", HG_DEID_REDACTED},
        {MEASURED, "5 mg/dL per Dr John Doe", HG_DEID_REDACTED},
        {PLAIN, "<0.5 Jane", HG_DEID_REDACTED},
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        hg_deid_value_ctx_t vc = {.quantitative = cases[i].under == MEASURED,
                                  .age = cases[i].under == AGE,
                                  .genotype = cases[i].under == GENOTYPE};
        const char *out = hg_deid_string_value (cases[i].in, &vc);
        if (strcmp (out, cases[i].out)) {
            fail_msg ("string_value '%s' under %d: '%s', want '%s'", cases[i].in, cases[i].under,
                      out, cases[i].out);
        }
    }
    hg_deid_value_ctx_t plain = {0};
    assert_string_equal (hg_deid_string_value (NULL, &plain), "");
}

/* Through the record: what makes a code measured (a numeric reference
 * range) or an age (LOINC age codes, a display "Age ..."). */
/* The date-like shapes, on their own: each is caught wherever it stands,
 * its measurement twins are not. */
static void
test_date_like (void **state)
{
    (void) state;
    static const char *const dates[] = {
        "7/22",       "3/4",         "11/21.93",   "3/4/21",   "1-2-3",    "04.03.2021",
        "3.4.21",     "2021-03",     "03-2021",    "20210304", "555-1234", "123-45-6789",
        "on 7/22 at", "seen 3.4.21", "1/2 tablet", "0/1",
    };
    static const char *const twins[] = {
        "7.2", "1:64", "13:18", "5.0-10.0", "<0.5", ">= 10,000",
        "3+",  "45 %", "2021",  "123456",   "",     "negative",
    };
    for (size_t i = 0; i < sizeof (dates) / sizeof (dates[0]); i++) {
        if (!hg_deid_date_like (dates[i])) {
            fail_msg ("'%s' is date-like", dates[i]);
        }
    }
    for (size_t i = 0; i < sizeof (twins) / sizeof (twins[0]); i++) {
        if (hg_deid_date_like (twins[i])) {
            fail_msg ("'%s' is not date-like", twins[i]);
        }
    }
    assert_false (hg_deid_date_like (NULL));
}

static void
test_string_value_in_records (void **state)
{
    fixture_t *fx = *state;
    static const struct {
        const char *system, *code, *display, *range, *value, *out;
    } cases[] = {
        {"urn:lab", "SPEC", "Specimen", "", "123456", HG_DEID_REDACTED},
        {HG_SYS_LOINC, "57715-5", "Birth time", "", "1318", HG_DEID_REDACTED},
        {HG_SYS_LOINC, "2345-7", "Glucose", "70-99 mg/dL", "105", "105"},
        {HG_SYS_LOINC, "2345-7", "Glucose", "70-99 mg/dL", "7/22", HG_DEID_REDACTED},
        {HG_SYS_LOINC, "2345-7", "Glucose", "normal", "105", HG_DEID_REDACTED},
        {HG_SYS_LOINC, "30525-0", "", "", "93", HG_DEID_AGE_90},
        {HG_SYS_LOINC, "21612-7", "", "", "91", HG_DEID_AGE_90},
        {HG_SYS_LOINC, "29553-5", "", "", "89", "89"},
        {"urn:local", "A1", "Age at diagnosis", "", "95", HG_DEID_AGE_90},
        {"urn:local", "AGE", "", "", "104", HG_DEID_AGE_90},
        {"urn:local", "A1", "Agent", "", "95", HG_DEID_REDACTED},
        {HG_SYS_LOINC, "5370-2", "Titer", "", "1:64", "1:64"},
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        Hourglass__Record *rec = s_rec (fx, HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION, "acme",
                                        "p1");
        assert_int_equal (hg_record_add_code (fx->arena, rec, cases[i].system, cases[i].code,
                                              cases[i].display),
                          0);
        rec->reference_range = hg_arena_strdup (fx->arena, cases[i].range);
        rec->value_case = HOURGLASS__RECORD__VALUE_STRING_VALUE;
        rec->string_value = hg_arena_strdup (fx->arena, cases[i].value);
        assert_int_equal (hg_deid_record (&fx->ctx, fx->arena, rec, &fx->err), 0);
        if (strcmp (rec->string_value, cases[i].out)) {
            fail_msg ("%s|%s '%s' range '%s': '%s', want '%s'", cases[i].system, cases[i].code,
                      cases[i].value, cases[i].range, rec->string_value, cases[i].out);
        }
    }
}

/* Ages over 89 given as quantities become the string "90+", in any unit of
 * time; 89 years passes as the quantity it is. */
static void
test_age_quantities (void **state)
{
    fixture_t *fx = *state;
    static const struct {
        double value;
        const char *unit;
        bool ninety;
    } cases[] = {
        {93, "a", true},       {90, "a", true},
        {89, "a", false},      {89.9, "a", false},
        {1100, "mo", true},    {1000, "mo", false},
        {40000, "d", true},    {93, "", true},
        {93, "{years}", true}, /* annotation: years */ {45, "a", false},
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        Hourglass__Record *rec = s_rec (fx, HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION, "acme",
                                        "p1");
        assert_int_equal (hg_record_add_code (fx->arena, rec, HG_SYS_LOINC, "30525-0", "Age"), 0);
        rec->value_case = HOURGLASS__RECORD__VALUE_QUANTITY;
        rec->quantity = hg_quantity_new (fx->arena, cases[i].value, cases[i].unit);
        assert_int_equal (hg_deid_record (&fx->ctx, fx->arena, rec, &fx->err), 0);
        if (cases[i].ninety) {
            assert_int_equal (rec->value_case, HOURGLASS__RECORD__VALUE_STRING_VALUE);
            assert_string_equal (rec->string_value, "90+");
        }
        else {
            assert_int_equal (rec->value_case, HOURGLASS__RECORD__VALUE_QUANTITY);
            assert_true (rec->quantity->value == cases[i].value);
        }
    }
    /* the same value under another code is a quantity like any other */
    Hourglass__Record *rec = s_rec (fx, HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION, "acme",
                                    "p1");
    assert_int_equal (hg_record_add_code (fx->arena, rec, HG_SYS_LOINC, "2345-7", "Glucose"), 0);
    rec->value_case = HOURGLASS__RECORD__VALUE_QUANTITY;
    rec->quantity = hg_quantity_new (fx->arena, 93, "mg/dL");
    assert_int_equal (hg_deid_record (&fx->ctx, fx->arena, rec, &fx->err), 0);
    assert_int_equal (rec->value_case, HOURGLASS__RECORD__VALUE_QUANTITY);
    assert_true (rec->quantity->value == 93);
}

/* Number-looking quantities: a unitless digit run under a code not known to
 * be measured is an identifier, a time or a date sent as a number. */
static void
test_digit_run_quantities (void **state)
{
    fixture_t *fx = *state;
    static const struct {
        double value;
        const char *unit, *range;
        bool redacted;
    } cases[] = {
        {123456, "", "", true}, /* specimen barcode */
        {1318, "", "", true},   /* birth time */
        {20210304, "", "", true},
        {-1931, "", "", true},
        {1318, "mg/dL per Jane", "", true}, /* the unit is not UCUM, so it goes first */
        {9, "", "", false},                 /* a score */
        {999, "", "", false},
        {7.2, "", "", false},
        {1318.5, "", "", false},
        {1318, "mg/dL", "", false},
        {123456, "", "100-200000", false},
        {4500, "/uL", "", false},
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        Hourglass__Record *rec = s_rec (fx, HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION, "acme",
                                        "p1");
        assert_int_equal (hg_record_add_code (fx->arena, rec, "urn:lab", "X1", NULL), 0);
        rec->value_case = HOURGLASS__RECORD__VALUE_QUANTITY;
        rec->quantity = hg_quantity_new (fx->arena, cases[i].value, cases[i].unit);
        rec->reference_range = hg_arena_strdup (fx->arena, cases[i].range);
        assert_int_equal (hg_deid_record (&fx->ctx, fx->arena, rec, &fx->err), 0);
        if (cases[i].redacted) {
            assert_int_equal (rec->value_case, HOURGLASS__RECORD__VALUE_STRING_VALUE);
            assert_string_equal (rec->string_value, HG_DEID_REDACTED);
        }
        else {
            assert_int_equal (rec->value_case, HOURGLASS__RECORD__VALUE_QUANTITY);
            assert_true (rec->quantity->value == cases[i].value);
        }
    }
}

/* Displays never pass; units pass only as UCUM, else dropped and flagged;
 * reference ranges only as numbers. The legitimate twins keep their
 * values. */
static void
test_displays_units_ranges (void **state)
{
    fixture_t *fx = *state;
    hg_arena_t *a = fx->arena;
    Hourglass__Record *rec = s_rec (fx, HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION, "acme",
                                    "p1");
    assert_int_equal (hg_record_add_code (a, rec, HG_SYS_LOINC, "2345-7",
                                          "drawn by nurse Jane Roe at 12 Elm Street"),
                      0);
    assert_int_equal (hg_record_add_code (a, rec, "urn:lab", "GLU", "Glucose"), 0);
    rec->value_case = HOURGLASS__RECORD__VALUE_QUANTITY;
    rec->quantity = hg_quantity_new (a, 105.5, "mg/dL per Dr John Doe");
    rec->reference_range = hg_arena_strdup (a, "70-99 per Dr John Doe");
    assert_int_equal (hg_strv_push (a, &rec->flags, &rec->n_flags, "value.implausible"), 0);
    s_assert_present (rec, "Jane Roe");
    assert_int_equal (hg_deid_record (&fx->ctx, a, rec, &fx->err), 0);
    s_assert_absent (rec, "Jane Roe");
    s_assert_absent (rec, "Elm");
    s_assert_absent (rec, "John Doe");
    s_assert_absent (rec, "Glucose");
    assert_string_equal (rec->codes[0]->display, "");
    assert_string_equal (rec->codes[0]->code, "2345-7"); /* the code stays */
    assert_string_equal (rec->codes[1]->display, "");
    assert_true (rec->quantity->value == 105.5);
    assert_string_equal (rec->quantity->unit, "");
    assert_string_equal (rec->reference_range, "70-99");
    assert_int_equal (rec->n_flags, 2); /* the cleanser's flag kept, ours once */
    assert_string_equal (rec->flags[0], "value.implausible");
    assert_string_equal (rec->flags[1], HG_DEID_FLAG_UNIT_NOT_UCUM);

    /* the twin: a UCUM unit and a numeric range pass; no flag */
    rec = s_rec (fx, HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION, "acme", "p1");
    assert_int_equal (hg_record_add_code (a, rec, HG_SYS_LOINC, "2345-7", "Glucose"), 0);
    rec->value_case = HOURGLASS__RECORD__VALUE_QUANTITY;
    rec->quantity = hg_quantity_new (a, 7.2, "mmol/L");
    rec->quantity->comparator = hg_arena_strdup (a, "<");
    rec->status = hg_arena_strdup (a, "final");
    rec->interpretation = hg_arena_strdup (a, "H");
    rec->reference_range = hg_arena_strdup (a, "3.9 - 5.5 mmol/L");
    assert_int_equal (hg_deid_record (&fx->ctx, a, rec, &fx->err), 0);
    assert_true (rec->quantity->value == 7.2);
    assert_string_equal (rec->quantity->unit, "mmol/L");
    assert_string_equal (rec->quantity->comparator, "<");
    assert_string_equal (rec->status, "final");
    assert_string_equal (rec->interpretation, "H");
    assert_string_equal (rec->reference_range, "3.9-5.5 mmol/L");
    assert_string_equal (rec->codes[0]->code, "2345-7");
    assert_int_equal (rec->n_flags, 0);

    /* an annotation is free text: dropped, the unit kept */
    rec = s_rec (fx, HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION, "acme", "p1");
    rec->value_case = HOURGLASS__RECORD__VALUE_QUANTITY;
    rec->quantity = hg_quantity_new (a, 4.5, "10*3/uL{Jane}");
    assert_int_equal (hg_deid_record (&fx->ctx, a, rec, &fx->err), 0);
    assert_string_equal (rec->quantity->unit, "10*3/uL");
    assert_int_equal (rec->n_flags, 0);

    /* a coded answer keeps its code, not its display (HL7 CWE component 2) */
    rec = s_rec (fx, HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION, "acme", "p1");
    rec->value_case = HOURGLASS__RECORD__VALUE_CODE_VALUE;
    rec->code_value = hg_coding_new (a, HG_SYS_SNOMED, "260385009", "Negative, per Jane Roe");
    assert_int_equal (hg_deid_record (&fx->ctx, a, rec, &fx->err), 0);
    assert_string_equal (rec->code_value->code, "260385009");
    assert_string_equal (rec->code_value->display, "");

    /* a text range is dropped and flagged */
    rec = s_rec (fx, HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION, "acme", "p1");
    rec->reference_range = hg_arena_strdup (a, "normal for Jane Roe");
    assert_int_equal (hg_deid_record (&fx->ctx, a, rec, &fx->err), 0);
    assert_string_equal (rec->reference_range, "");
    assert_int_equal (rec->n_flags, 1);
    assert_string_equal (rec->flags[0], HG_DEID_FLAG_RANGE_NOT_NUMERIC);
}

/* status and interpretation (OBX-11, OBX-8, FHIR status, VCF FILTER) are
 * partner strings too: only codes of their value sets pass. */
static void
test_status_interpretation (void **state)
{
    fixture_t *fx = *state;
    static const char *const statuses[] = {"final", "F", "entered-in-error", "Active", " CM ",
                                           "PASS",  "",  "completed"};
    static const char *const interpretations[] = {"H", "LL", "<", "N", "pos", "A", ""};
    for (size_t i = 0; i < sizeof (statuses) / sizeof (statuses[0]); i++) {
        assert_true (hg_deid_status_ok (statuses[i]));
    }
    for (size_t i = 0; i < sizeof (interpretations) / sizeof (interpretations[0]); i++) {
        assert_true (hg_deid_interpretation_ok (interpretations[i]));
    }
    assert_true (hg_deid_status_ok (NULL));
    static const char *const bad[] =
        {"drawn by Jane Roe", "Roe", "final Roe", "q10", "FF", "HHH"};
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++) {
        assert_false (hg_deid_status_ok (bad[i]));
        assert_false (hg_deid_interpretation_ok (bad[i]));
    }
    Hourglass__Record *rec = s_rec (fx, HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION, "acme",
                                    "p1");
    rec->status = hg_arena_strdup (fx->arena, "drawn by Jane Roe");
    rec->interpretation = hg_arena_strdup (fx->arena, "Roe");
    assert_int_equal (hg_deid_record (&fx->ctx, fx->arena, rec, &fx->err), 0);
    s_assert_absent (rec, "Roe");
    assert_string_equal (rec->status, "");
    assert_string_equal (rec->interpretation, "");
    assert_int_equal (rec->n_flags, 2);
    assert_string_equal (rec->flags[0], HG_DEID_FLAG_STATUS_NOT_CODED);
    assert_string_equal (rec->flags[1], HG_DEID_FLAG_INTERPRETATION_NOT_CODED);

    /* comparator and sex: what the cleanser writes passes, nothing else */
    static const struct {
        const char *cmp, *cmp_out, *sex, *sex_out;
    } kept[] = {
        {"<=", "<=", "female", "female"},
        {">", ">", "unknown", "unknown"},
        {"", "", "", ""},
        {"< Jane Roe", "", "Jane Roe", "unknown"},
    };
    for (size_t i = 0; i < sizeof (kept) / sizeof (kept[0]); i++) {
        rec = s_rec (fx, HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION, "acme", "p1");
        rec->value_case = HOURGLASS__RECORD__VALUE_QUANTITY;
        rec->quantity = hg_quantity_new (fx->arena, 5, "mg/dL");
        rec->quantity->comparator = hg_arena_strdup (fx->arena, kept[i].cmp);
        rec->demographics = hg_demographics_new (fx->arena);
        rec->demographics->sex = hg_arena_strdup (fx->arena, kept[i].sex);
        assert_int_equal (hg_deid_record (&fx->ctx, fx->arena, rec, &fx->err), 0);
        assert_string_equal (rec->quantity->comparator, kept[i].cmp_out);
        assert_string_equal (rec->demographics->sex, kept[i].sex_out);
        s_assert_absent (rec, "Roe");
    }
}

/* demographics.state and country are partner strings (XAD components):
 * codes pass, US state names become codes, anything else is removed. */
static void
test_state_country (void **state)
{
    fixture_t *fx = *state;
    static const struct {
        const char *in, *state, *country;
    } cases[] = {
        {"CA", "CA", "CA"},
        {" ca ", "CA", "CA"},
        {"Massachusetts", "MA", ""},
        {"new YORK", "NY", ""},
        {"NSW", "NSW", "NSW"},
        {"United States", "", "US"},
        {"USA", "USA", "USA"},
        {"840", "840", "840"},
        {"", "", ""},
        {"12 Elm Street", "", ""},
        {"Jane Roe", "", ""},
        {"C", "", ""},
        {"CA 90210", "", ""},
        {"0/1", "", ""}, /* found by fuzz_deid: a short code cut at its first bad byte */
        {"A/", "", ""},
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        char st[4], co[4];
        memset (st, 'x', sizeof (st));
        memset (co, 'x', sizeof (co));
        hg_deid_state_code (cases[i].in, st);
        hg_deid_country_code (cases[i].in, co);
        if (strcmp (st, cases[i].state) || strcmp (co, cases[i].country)) {
            fail_msg ("'%s': state '%s' country '%s'", cases[i].in, st, co);
        }
    }
    Hourglass__Record *rec = s_rec (fx, HOURGLASS__RECORD_KIND__KIND_DEMOGRAPHICS, "acme", "p1");
    rec->demographics = hg_demographics_new (fx->arena);
    rec->demographics->state = hg_arena_strdup (fx->arena, "12 Elm Street");
    rec->demographics->country = hg_arena_strdup (fx->arena, "Jane Roe");
    assert_int_equal (hg_deid_record (&fx->ctx, fx->arena, rec, &fx->err), 0);
    s_assert_absent (rec, "Elm");
    s_assert_absent (rec, "Roe");
    assert_string_equal (rec->demographics->state, "");
    assert_string_equal (rec->demographics->country, "");
    assert_int_equal (rec->n_flags, 1);
    assert_string_equal (rec->flags[0], HG_DEID_FLAG_PLACE_NOT_CODED);
    rec = s_rec (fx, HOURGLASS__RECORD_KIND__KIND_DEMOGRAPHICS, "acme", "p1");
    rec->demographics = hg_demographics_new (fx->arena);
    rec->demographics->state = hg_arena_strdup (fx->arena, "Massachusetts");
    rec->demographics->country = hg_arena_strdup (fx->arena, "United States");
    rec->demographics->postal_code = hg_arena_strdup (fx->arena, "02139");
    assert_int_equal (hg_deid_record (&fx->ctx, fx->arena, rec, &fx->err), 0);
    assert_string_equal (rec->demographics->state, "MA");
    assert_string_equal (rec->demographics->country, "US");
    assert_string_equal (rec->demographics->postal_prefix, "021");
    assert_int_equal (rec->n_flags, 0);
}

static void
test_reference_range (void **state)
{
    (void) state;
    static const struct {
        const char *in, *out;
        int rc;
    } cases[] = {
        {"70-99", "70-99", 0},
        {"3.5 - 5.0 mmol/L", "3.5-5.0 mmol/L", 0},
        {"-2.0-2.0", "-2.0-2.0", 0},
        {"<5", "<5", 0},
        {"<=5.0 mg/dL", "<=5.0 mg/dL", 0},
        {">= 60 mL/min/{1.73_m2}", ">=60 mL/min", 0},
        {">10", ">10", 0},
        {"4.5-11.0 10*3/uL", "4.5-11.0 10*3/uL", 0},
        {"70-99 per Dr Doe", "70-99", 1},
        {"", "", 0},
        {"normal", "", HG_EINVAL},
        {"negative", "", HG_EINVAL},
        {"70", "", HG_EINVAL},         /* a number alone is not a range */
        {"5mg-10mg", "", HG_EINVAL},   /* unit glued to a number */
        {"70-99mg/dL", "", HG_EINVAL}, /* ditto */
        {"1234567-2", "", HG_EINVAL},  /* too many digits: an identifier */
        {"Jane Roe", "", HG_EINVAL},
        {"<", "", HG_EINVAL},
        {"70-", "", HG_EINVAL},
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        char out[64];
        memset (out, 'x', sizeof (out));
        int rc = hg_deid_reference_range (cases[i].in, out, sizeof (out));
        if (rc != cases[i].rc || strcmp (out, cases[i].out)) {
            fail_msg ("range '%s': rc %d '%s', want %d '%s'", cases[i].in, rc, out, cases[i].rc,
                      cases[i].out);
        }
    }
    char out[64];
    assert_int_equal (hg_deid_reference_range (NULL, out, sizeof (out)), 0);
    assert_string_equal (out, "");
}

/* The kept birth year is consistent with the shifted dates: over many
 * patients and every precision, no record dated on or after the birth date
 * is dated before the kept birth year; the year is within one of the true
 * one. */
static void
test_birth_year_consistent_with_shifted_dates (void **state)
{
    fixture_t *fx = *state;
    static const char *const births[] =
        {"2000-01-01", "2000-12-31", "2000-06-15",          "2000-01",
         "2000-12",    "2000",       "1990-12-31T23:00:00Z"};
    static const struct {
        int keep;           /* bytes of the birth date kept */
        const char *suffix; /* then this */
    } after[] = {{4, "-12-31"}, {4, ""},    {7, ""},    {10, ""},   {4, "-01"}, {4, "-01-01"},
                 {4, "-07"},    {7, "-28"}, {4, "-12"}, {7, "-01"}, {19, ""}};
    int shifted_back = 0, shifted_on = 0, checked = 0;
    for (int p = 0; p < 60; p++) {
        char patient[16];
        snprintf (patient, sizeof (patient), "p%d", p);
        for (size_t b = 0; b < sizeof (births) / sizeof (births[0]); b++) {
            Hourglass__Record *dem = s_rec (fx, HOURGLASS__RECORD_KIND__KIND_DEMOGRAPHICS, "acme",
                                            patient);
            dem->demographics = hg_demographics_new (fx->arena);
            dem->demographics->birth_date = hg_arena_strdup (fx->arena, births[b]);
            assert_int_equal (hg_deid_record (&fx->ctx, fx->arena, dem, &fx->err), 0);
            int kept = dem->demographics->birth_year;
            int true_year = atoi (births[b]);
            assert_true (kept >= true_year - 1 && kept <= true_year + 1);
            shifted_back += kept < true_year;
            shifted_on += kept > true_year;
            hg_date_t bd;
            assert_int_equal (hg_date_parse_iso (births[b], strlen (births[b]), &bd, NULL), 0);
            bd.month = bd.prec < HG_PREC_MONTH ? 1 : bd.month;
            bd.day = bd.prec < HG_PREC_DAY ? 1 : bd.day;
            bd.prec = HG_PREC_DAY;
            for (size_t k = 0; k < sizeof (after) / sizeof (after[0]); k++) {
                char when[40];
                snprintf (when, sizeof (when), "%.*s%s", after[k].keep, births[b],
                          after[k].suffix);
                hg_date_t w;
                if (hg_date_parse_iso (when, strlen (when), &w, NULL) < 0) {
                    continue; /* "2000-28": not a date */
                }
                /* the last day of the record's period */
                hg_date_t last = w;
                last.month = w.prec < HG_PREC_MONTH ? 12 : w.month;
                last.day = w.prec < HG_PREC_DAY ? hg_date_month_days (w.year, last.month) : w.day;
                last.prec = HG_PREC_DAY;
                if (hg_date_days (&last) < hg_date_days (&bd)) {
                    continue; /* wholly before the birth date: not a date of this patient */
                }
                Hourglass__Record *lab = s_rec (fx, HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION,
                                                "acme", patient);
                lab->effective = hg_arena_strdup (fx->arena, when);
                assert_int_equal (hg_deid_record (&fx->ctx, fx->arena, lab, &fx->err), 0);
                checked++;
                if (atoi (lab->effective) < kept) {
                    fail_msg ("patient %s born %s: record %s shifted to %s, before the kept "
                              "birth year %d",
                              patient, births[b], when, lab->effective, kept);
                }
            }
        }
    }
    assert_true (checked > 2000);
    /* both directions occur, so the test saw the shift move years */
    assert_true (shifted_back > 0 && shifted_on > 0);
}

static void
test_same_patient_links_across_records (void **state)
{
    fixture_t *fx = *state;
    Hourglass__Record *a = s_rec (fx, HOURGLASS__RECORD_KIND__KIND_CONDITION, "acme", "12345");
    Hourglass__Record *b = s_rec (fx, HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION, "acme",
                                  "12345");
    Hourglass__Record *c = s_rec (fx, HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION, "other",
                                  "12345");
    a->effective = hg_arena_strdup (fx->arena, "2021-03-04");
    b->effective = hg_arena_strdup (fx->arena, "2021-03-14");
    c->effective = hg_arena_strdup (fx->arena, "2021-03-04");
    assert_int_equal (hg_deid_record (&fx->ctx, fx->arena, a, &fx->err), 0);
    assert_int_equal (hg_deid_record (&fx->ctx, fx->arena, b, &fx->err), 0);
    assert_int_equal (hg_deid_record (&fx->ctx, fx->arena, c, &fx->err), 0);
    assert_string_equal (a->patient_ref, b->patient_ref);
    assert_string_not_equal (a->patient_ref, c->patient_ref);
    assert_string_equal (c->patient_ref, "c4127d3ab19e4b6272e190a776fff982");
    assert_string_equal (a->effective, "2021-06-05"); /* +93 */
    assert_string_equal (b->effective, "2021-06-15"); /* interval of 10 days kept */
    assert_string_equal (c->effective, "2020-09-23"); /* -162 */
}

static void
test_errors (void **state)
{
    fixture_t *fx = *state;
    hg_err_t *err = &fx->err;
    Hourglass__Record *rec;

    rec = s_rec (fx, HOURGLASS__RECORD_KIND__KIND_CONDITION, "acme", "");
    assert_int_equal (hg_deid_record (&fx->ctx, fx->arena, rec, err), HG_EINVAL);
    assert_string_equal (err->msg, "record has no patient reference");
    assert_int_equal (err->code, HG_EINVAL);

    rec = s_rec (fx, HOURGLASS__RECORD_KIND__KIND_CONDITION, "acme", "p1");
    rec->provenance = NULL;
    assert_int_equal (hg_deid_record (&fx->ctx, fx->arena, rec, err), HG_EINVAL);
    assert_string_equal (err->msg, "record has no provenance, so its partner is unknown");

    rec = s_rec (fx, HOURGLASS__RECORD_KIND__KIND_CONDITION, "", "p1");
    assert_int_equal (hg_deid_record (&fx->ctx, fx->arena, rec, err), HG_EINVAL);
    assert_string_equal (err->msg, "record provenance has no partner; pseudonyms are "
                                   "scoped by partner");

    rec = s_rec (fx, HOURGLASS__RECORD_KIND__KIND_CONDITION, "acme", "p1");
    assert_int_equal (hg_deid_record (&fx->ctx, fx->arena, rec, err), 0);
    char once[HG_PSEUDONYM_HEX + 1];
    snprintf (once, sizeof (once), "%s", rec->patient_ref);
    assert_int_equal (hg_deid_record (&fx->ctx, fx->arena, rec, err), HG_EINVAL);
    assert_string_equal (err->msg, "record is already pseudonymous; a record must not "
                                   "be de-identified twice (is a de-identifier upstream "
                                   "of this one?)");
    assert_string_equal (rec->patient_ref, once);

    rec = s_rec (fx, HOURGLASS__RECORD_KIND__KIND_CONDITION, "acme", "p1");
    rec->effective = hg_arena_strdup (fx->arena, "2021-13-01");
    assert_int_equal (hg_deid_record (&fx->ctx, fx->arena, rec, err), HG_EINVAL);
    assert_string_equal (err->msg, "effective '2021-13-01' is not a valid date: month 13");

    rec = s_rec (fx, HOURGLASS__RECORD_KIND__KIND_CONDITION, "acme", "p1");
    rec->effective = hg_arena_strdup (fx->arena, "2021-03-04");
    rec->effective_end = hg_arena_strdup (fx->arena, "yesterday");
    assert_int_equal (hg_deid_record (&fx->ctx, fx->arena, rec, err), HG_EINVAL);
    assert_string_equal (err->msg, "effective_end 'yesterday' is not a date in ISO 8601 "
                                   "form (YYYY, YYYY-MM, YYYY-MM-DD or "
                                   "YYYY-MM-DDThh:mm:ss[.fff][Z|+hh:mm])");

    rec = s_rec (fx, HOURGLASS__RECORD_KIND__KIND_DEMOGRAPHICS, "acme", "p1");
    rec->demographics = hg_demographics_new (fx->arena);
    rec->demographics->birth_date = hg_arena_strdup (fx->arena, "1931-02-30");
    assert_int_equal (hg_deid_record (&fx->ctx, fx->arena, rec, err), HG_EINVAL);
    assert_string_equal (err->msg,
                         "birth_date '1931-02-30' is not a valid date: day 30 of month 2");

    rec = s_rec (fx, HOURGLASS__RECORD_KIND__KIND_DEMOGRAPHICS, "acme", "p1");
    rec->demographics = hg_demographics_new (fx->arena);
    rec->demographics->birth_date = hg_arena_strdup (fx->arena, "2024-06-16");
    assert_int_equal (hg_deid_record (&fx->ctx, fx->arena, rec, err), HG_EINVAL);
    assert_string_equal (err->msg, "birth_date '2024-06-16' is after the reference date; "
                                   "check the source record or the de-identifier's "
                                   "clock");

    rec = s_rec (fx, HOURGLASS__RECORD_KIND__KIND_DEMOGRAPHICS, "acme", "p1");
    rec->demographics = hg_demographics_new (fx->arena);
    rec->demographics->deceased_date = hg_arena_strdup (fx->arena, "20210304");
    assert_int_equal (hg_deid_record (&fx->ctx, fx->arena, rec, err), HG_EINVAL);
    assert_memory_equal (err->msg, "deceased_date '20210304' is not a date in ISO 8601",
                         strlen ("deceased_date '20210304' is not a date in ISO 8601"));

    /* shifting off the calendar: p21 moves 343 days back */
    rec = s_rec (fx, HOURGLASS__RECORD_KIND__KIND_CONDITION, "acme", "p21");
    rec->effective = hg_arena_strdup (fx->arena, "0001-02-03");
    assert_int_equal (hg_deid_record (&fx->ctx, fx->arena, rec, err), HG_EINVAL);
    assert_string_equal (err->msg, "effective '0001-02-03' cannot be date-shifted: the "
                                   "result falls outside the years 0001-9999");

    /* an exhausted arena is an error, not a crash */
    hg_arena_t *tiny = hg_arena_new (1);
    rec = s_rec (fx, HOURGLASS__RECORD_KIND__KIND_CONDITION, "acme", "p1");
    assert_int_equal (hg_deid_record (&fx->ctx, tiny, rec, err), HG_ENOMEM);
    assert_string_equal (err->msg, "out of memory while de-identifying the record (batch "
                                   "arena limit reached)");
    hg_arena_destroy (&tiny);

    hg_deid_ctx_t nokey = {.key = NULL, .today_days = TODAY_DAYS};
    rec = s_rec (fx, HOURGLASS__RECORD_KIND__KIND_CONDITION, "acme", "p1");
    assert_int_equal (hg_deid_record (&nokey, fx->arena, rec, err), HG_EINVAL);
    assert_string_equal (err->msg, "hg_deid_record called without a key, arena or record");
}

/* The quarantine rule: every quoted value of a reason is withheld, the
 * words around it kept. */
static void
test_withhold_values (void **state)
{
    (void) state;
    const struct {
        const char *reason, *stored;
    } cases[] = {
        {"effective '2021-13-01' is not a valid date: month 13",
         "effective '[withheld]' is not a valid date: month 13"},
        {"family 'Doe' and given 'Jane' disagree", "family '[withheld]' and given '[withheld]' "
                                                   "disagree"},
        {"'555-1234' first", "'[withheld]' first"},
        {"empty '' value", "empty '[withheld]' value"},
        {"record has no patient reference", "record has no patient reference"},
        /* a quote never closed: the rest is the value */
        {"birth_date '1931-02-30 is not valid", "birth_date '[withheld]'"},
        {"", ""},
    };
    char out[512];
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        memset (out, 'x', sizeof (out));
        hg_deid_withhold_values (cases[i].reason, out, sizeof (out));
        assert_string_equal (out, cases[i].stored);
    }
    /* every size: NUL-terminated within it, never a value, never a partial
     * '[withheld]', and what is kept is the start of the whole result */
    const char *reason = "patient 'Jane Doe' born '1931-02-03' at 'Elm St 4' moved";
    char whole[512];
    hg_deid_withhold_values (reason, whole, sizeof (whole));
    assert_string_equal (whole, "patient '[withheld]' born '[withheld]' at '[withheld]' moved");
    for (size_t size = 1; size <= sizeof (whole); size++) {
        memset (out, 'x', sizeof (out));
        hg_deid_withhold_values (reason, out, size);
        size_t len = strnlen (out, size);
        if (len >= size || strncmp (out, whole, len) != 0 || strstr (out, "Jane")
            || strstr (out, "1931") || strstr (out, "Elm")) {
            fail_msg ("size %zu: '%.*s'", size, (int) (len < size ? len : size), out);
        }
        size_t quotes = 0;
        for (size_t k = 0; k < len; k++) {
            quotes += out[k] == '\'';
        }
        assert_int_equal (quotes % 2, 0); /* '[withheld]' whole or not at all */
    }
    hg_deid_withhold_values (reason, out, 1);
    assert_string_equal (out, "");
}

/* What the de-identifier stores of its own errors holds none of the
 * record's values. */
static void
test_withhold_values_of_errors (void **state)
{
    fixture_t *fx = *state;
    Hourglass__Record *rec = s_rec (fx, HOURGLASS__RECORD_KIND__KIND_DEMOGRAPHICS, "acme", "p1");
    rec->demographics = hg_demographics_new (fx->arena);
    rec->demographics->birth_date = hg_arena_strdup (fx->arena, "1931-02-30");
    assert_int_equal (hg_deid_record (&fx->ctx, fx->arena, rec, &fx->err), HG_EINVAL);
    char out[512];
    hg_deid_withhold_values (fx->err.msg, out, sizeof (out));
    assert_string_equal (out, "birth_date '[withheld]' is not a valid date: day 30 of month 2");
    rec = s_rec (fx, HOURGLASS__RECORD_KIND__KIND_CONDITION, "acme", "p1");
    rec->effective = hg_arena_strdup (fx->arena, "2021-03-04");
    rec->effective_end = hg_arena_strdup (fx->arena, "yesterday");
    assert_int_equal (hg_deid_record (&fx->ctx, fx->arena, rec, &fx->err), HG_EINVAL);
    hg_deid_withhold_values (fx->err.msg, out, sizeof (out));
    assert_null (strstr (out, "yesterday"));
    assert_non_null (strstr (out, "effective_end '[withheld]' is not a date in ISO 8601"));
}

/* Raw HL7 Z-segments in the provenance never pass the de-identifier. */
static void
test_z_segments_dropped (void **state)
{
    fixture_t *fx = *state;
    Hourglass__Record *rec = s_rec (fx, HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION, "acme",
                                    "MRN-1");
    assert_int_equal (hg_strv_push (fx->arena, &rec->provenance->z_segments,
                                    &rec->provenance->n_z_segments, "ZPI|1|Nurse Mary Poppins"),
                      0);
    s_assert_present (rec, "Mary Poppins");
    assert_int_equal (hg_deid_record (&fx->ctx, fx->arena, rec, &fx->err), 0);
    assert_int_equal (rec->provenance->n_z_segments, 0);
    s_assert_absent (rec, "Mary Poppins");
    s_assert_absent (rec, "ZPI");
}

/* A local code system's code is partner text (a local code "ZQLOC7731", its
 * system name "99VEXHOL", a partner's own URI): it becomes the keyed
 * pseudonym of "system|code" under HG_DEID_LOCAL_SYSTEM, the same for the
 * same code of the same partner, another for another partner; a code of a
 * terminology (the legitimate twin: LOINC 2345-7, a SNOMED coded answer)
 * passes unchanged. */
static void
test_local_codes_pseudonymised (void **state)
{
    fixture_t *fx = *state;
    Hourglass__Record *rec[3];
    const char *partners[] = {"acme", "acme", "other"};
    for (int i = 0; i < 3; i++) {
        rec[i] = s_rec (fx, HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION, partners[i], "MRN-1");
        assert_int_equal (hg_record_add_code (fx->arena, rec[i], HG_SYS_LOINC, "2345-7", ""), 0);
        assert_int_equal (hg_record_add_code (fx->arena, rec[i], "99VEXHOL", "LOCZQ8842", ""), 0);
        assert_int_equal (hg_record_add_code (fx->arena, rec[i],
                                              "http://marrowgate.example/codes", "", ""),
                          0);
        rec[i]->code_value = hg_coding_new (fx->arena, i ? "L" : HG_SYS_SNOMED,
                                            i ? "ZQLOC7731" : "371244009", "");
        rec[i]->value_case = HOURGLASS__RECORD__VALUE_CODE_VALUE;
        s_assert_present (rec[i], "LOCZQ8842");
        assert_int_equal (hg_deid_record (&fx->ctx, fx->arena, rec[i], &fx->err), 0);
        s_assert_absent (rec[i], "LOCZQ8842");
        s_assert_absent (rec[i], "99VEXHOL");
        s_assert_absent (rec[i], "ZQLOC7731");
        s_assert_absent (rec[i], "marrowgate");
        assert_string_equal (rec[i]->codes[0]->system, HG_SYS_LOINC);
        assert_string_equal (rec[i]->codes[0]->code, "2345-7");
        assert_string_equal (rec[i]->codes[1]->system, HG_DEID_LOCAL_SYSTEM);
        assert_string_equal (rec[i]->codes[1]->code,
                             s_ps ("code", partners[i], "99VEXHOL|LOCZQ8842"));
        assert_string_equal (rec[i]->codes[2]->system, "");
        assert_string_equal (rec[i]->codes[2]->code, "");
    }
    assert_string_equal (rec[0]->code_value->system, HG_SYS_SNOMED);
    assert_string_equal (rec[0]->code_value->code, "371244009");
    assert_string_equal (rec[1]->code_value->system, HG_DEID_LOCAL_SYSTEM);
    assert_string_equal (rec[1]->code_value->code, s_ps ("code", "acme", "L|ZQLOC7731"));
    assert_string_equal (rec[0]->codes[1]->code, rec[1]->codes[1]->code);
    assert_string_not_equal (rec[1]->codes[1]->code, rec[2]->codes[1]->code);
}

/* A terminology's code must have its shape: a name or an MRN sent as a LOINC
 * or SNOMED code is pseudonymised; the twins (LOINC 2345-7, answer LA6576-8,
 * SNOMED 371244009, ICD-10-CM E11.9, rs80357906, BRCA1, C1orf112, a variant,
 * the modality MR, UCUM mg/dL) pass. */
static void
test_terminology_code_shapes (void **state)
{
    fixture_t *fx = *state;
    const char *good[][2] = {{HG_SYS_LOINC, "2345-7"},
                             {HG_SYS_LOINC, "LA6576-8"},
                             {HG_SYS_SNOMED, "371244009"},
                             {HG_SYS_ICD10CM, "E11.9"},
                             {HG_SYS_ICD9CM, "250.00"},
                             {HG_SYS_DBSNP, "rs80357906"},
                             {HG_SYS_HGNC, "BRCA1"},
                             {HG_SYS_HGNC, "C1orf112"},
                             {HG_SYS_VARIANT, "17-43044295-A-G"},
                             {HG_SYS_VARIANT, "X-100-atct-a"},
                             {HG_SYS_VARIANT, "MT-7028-C-*"},
                             {HG_SYS_DICOM_DCM, "MR"},
                             {HG_SYS_UCUM, "mg/dL"},
                             {HG_SYS_RXNORM, "860975"},
                             {HG_SYS_CVX, "140"}};
    const char *bad[][2] = {{HG_SYS_LOINC, "Zyxwquor"},
                            {HG_SYS_LOINC, "MRN8812345"},
                            {HG_SYS_SNOMED, "Jane Roe"},
                            {HG_SYS_ICD10CM, "Zyxwquor"},
                            {HG_SYS_DBSNP, "MRN8812345"},
                            {HG_SYS_HGNC, "Zyxwquor"},
                            {HG_SYS_RXNORM, "617-555-0187"},
                            {HG_SYS_DICOM_DCM, "Dr Roe"},
                            {HG_SYS_VARIANT, "Zyxwquor-1-A-G"},
                            {HG_SYS_VARIANT, "17-43044295-A-<DEL>"},
                            {HG_SYS_VARIANT, "17-1-A"},
                            {HG_SYS_VARIANT, "17-1-A-G-T"},
                            {HG_SYS_LOINC, ""}};
    for (size_t i = 0; i < sizeof (good) / sizeof (good[0]); i++) {
        if (!hg_deid_code_shape_ok (good[i][0], good[i][1])) {
            print_error ("%s|%s refused\n", good[i][0], good[i][1]);
        }
        assert_true (hg_deid_code_shape_ok (good[i][0], good[i][1]));
    }
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++) {
        if (hg_deid_code_shape_ok (bad[i][0], bad[i][1])) {
            print_error ("%s|%s accepted\n", bad[i][0], bad[i][1]);
        }
        assert_false (hg_deid_code_shape_ok (bad[i][0], bad[i][1]));
    }
    Hourglass__Record *rec = s_rec (fx, HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION, "acme",
                                    "p");
    assert_int_equal (hg_record_add_code (fx->arena, rec, HG_SYS_LOINC, "Zyxwquor", ""), 0);
    assert_int_equal (hg_record_add_code (fx->arena, rec, HG_SYS_LOINC, "2345-7", ""), 0);
    assert_int_equal (hg_deid_record (&fx->ctx, fx->arena, rec, &fx->err), 0);
    s_assert_absent (rec, "Zyxwquor");
    assert_string_equal (rec->codes[0]->code, s_ps ("code", "acme", HG_SYS_LOINC "|Zyxwquor"));
    assert_string_equal (rec->codes[1]->code, "2345-7");
}

/* Identifier systems are not terminologies: a "code" under NPI, SSN or a DICOM
 * UID is a number that points at someone; every terminology of the list is
 * one of the cleanser's code-system table (services/cleanser/codesys.c), as
 * it writes it; a code of a system the table names in another spelling than
 * its URI is pseudonymised (the cleanser canonicalises before us). */
static void
test_identifier_systems_are_not_terminologies (void **state)
{
    fixture_t *fx = *state;
    const char *ids[] = {HG_SYS_NPI, HG_SYS_SSN, HG_SYS_DICOM_UID};
    for (size_t i = 0; i < 3; i++) {
        assert_false (hg_deid_is_terminology (ids[i]));
        Hourglass__Record *rec = s_rec (fx, HOURGLASS__RECORD_KIND__KIND_PROCEDURE, "acme", "p");
        assert_int_equal (hg_record_add_code (fx->arena, rec, ids[i], "1928374650", ""), 0);
        assert_int_equal (hg_deid_record (&fx->ctx, fx->arena, rec, &fx->err), 0);
        s_assert_absent (rec, "1928374650");
    }
    size_t n;
    const char *const *terms = hg_deid_terminologies (&n);
    assert_true (n >= 10);
    for (size_t i = 0; i < n; i++) {
        const char *uri = hg_codesys_uri (terms[i], strlen (terms[i]), HG_CODESYS_URI);
        if (!uri || strcmp (uri, terms[i]) != 0) {
            print_error ("terminology %s is not a URI of codesys.c\n", terms[i]);
        }
        assert_non_null (uri);
        assert_string_equal (uri, terms[i]);
    }
    assert_true (hg_deid_is_terminology (HG_SYS_LOINC));
    assert_false (hg_deid_is_terminology ("LN"));
    assert_false (hg_deid_is_terminology (NULL));
}

/* Memoised pseudonyms (what the service uses for the records of one
 * message) equal computed ones: for runs of the same patient, encounter and
 * message, for alternating ones, across partners with the same source id,
 * and for ids too long to memoise; and clearing zeroes every remembered
 * id. */
static void
test_memos_change_nothing (void **state)
{
    fixture_t *fx = *state;
    char long_id[HG_DEID_MEMO_MAX + 40];
    memset (long_id, 'L', sizeof (long_id) - 1);
    long_id[sizeof (long_id) - 1] = '\0';
    struct {
        const char *partner, *patient, *encounter, *message;
    } rows[] = {
        {"acme", "12345", "ENC-1", "acme/m1"},
        {"acme", "12345", "ENC-1", "acme/m1"},
        {"acme", "12345", "ENC-2", "acme/m1"},
        {"other", "12345", "ENC-2", "acme/m1"}, /* same ids, another partner */
        {"acme", "99999", "", "acme/m1"},
        {"acme", "12345", "ENC-1", "acme/m2"},
        {"acme", long_id, long_id, long_id},
        {"acme", long_id, long_id, long_id},
        {"acme", "12345", "ENC-1", "acme/m2"},
    };
    hg_deid_memos_t memos;
    memset (&memos, 0, sizeof (memos));
    hg_deid_ctx_t with = fx->ctx;
    with.memos = &memos;
    for (size_t i = 0; i < sizeof (rows) / sizeof (rows[0]); i++) {
        Hourglass__Record *r[2];
        for (int m = 0; m < 2; m++) {
            r[m] = s_rec (fx, HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION, rows[i].partner,
                          rows[i].patient);
            r[m]->encounter_ref = hg_arena_strdup (fx->arena, rows[i].encounter);
            r[m]->provenance->source_message_id = hg_arena_strdup (fx->arena, rows[i].message);
            r[m]->record_id = hg_arena_strdup (fx->arena, "content-key");
            r[m]->effective = hg_arena_strdup (fx->arena, "2021-03-04");
            assert_int_equal (hg_deid_record (m ? &with : &fx->ctx, fx->arena, r[m], &fx->err),
                              0);
        }
        assert_string_equal (r[1]->patient_ref, r[0]->patient_ref);
        assert_string_equal (r[1]->patient_ref,
                             s_ps ("patient", rows[i].partner, rows[i].patient));
        assert_string_equal (r[1]->encounter_ref, r[0]->encounter_ref);
        assert_string_equal (r[1]->provenance->source_message_id,
                             r[0]->provenance->source_message_id);
        assert_string_equal (r[1]->record_id, r[0]->record_id);
        assert_string_equal (r[1]->effective, r[0]->effective); /* same shift */
    }
    /* the memos held source ids; cleared, nothing of them is left */
    assert_true (memos.patient.valid);
    hg_deid_memo_clear (&memos);
    const unsigned char *b = (const unsigned char *) &memos;
    for (size_t i = 0; i < sizeof (memos); i++) {
        assert_int_equal (b[i], 0);
    }
}

/* A record's free text under a scrubber: dates moved by the patient's
 * shift in their own format, names and numbers replaced, the patient's own
 * values (hg_deid_known_add) taken wherever they stand, and fail closed:
 * a known value left in the result removes the text. */
static void
test_text_scrubbed (void **state)
{
    fixture_t *fx = *state;
    hg_arena_t *a = fx->arena;
    hg_scrub_t *sc = hg_scrub_new (NULL);
    hg_scrub_set_strict (sc, true);
    hg_scrub_lexicon_t *known = hg_scrub_lexicon_new ();
    hg_deid_text_stats_t st = {0, 0};
    fx->ctx.scrub = sc;
    fx->ctx.text_stats = &st;

    /* the patient's demographics give the known values */
    Hourglass__Record *demo = s_rec (fx, HOURGLASS__RECORD_KIND__KIND_DEMOGRAPHICS, "acme",
                                     "MRN-778899");
    demo->demographics = hg_demographics_new (a);
    demo->demographics->family = hg_arena_strdup (a, "Featherstonehaugh");
    assert_int_equal (hg_strv_push (a, &demo->demographics->address_lines,
                                    &demo->demographics->n_address_lines, "42 Wallaby Way"),
                      0);
    assert_int_equal (hg_deid_known_add (known, demo), 0);
    assert_true (hg_scrub_lexicon_count (known) >= 4); /* MRN, family, line, street */

    const char *note = "Seen 03/04/2021 by Dr. Oakes; daughter of the featherstonehaugh family, "
                       "lives on wallaby way. Call 555-867-5309. Pt Quibbleworth, MRN-778899.";
    Hourglass__Record *rec = s_rec (fx, HOURGLASS__RECORD_KIND__KIND_NOTE, "acme", "MRN-778899");
    rec->text = hg_arena_strdup (a, note);
    fx->ctx.known = known;
    assert_int_equal (hg_deid_record (&fx->ctx, a, rec, &fx->err), 0);
    int shift = hg_dateshift_days (s_key, rec->patient_ref);
    hg_date_t d = {.year = 2021, .month = 3, .day = 4, .prec = HG_PREC_DAY};
    hg_date_add_days (&d, shift);
    char want[256];
    snprintf (want, sizeof (want),
              "Seen %02d/%02d/%04d by Dr. [NAME]; daughter of the [NAME] family, lives on "
              "[LOCATION]. Call [PHONE]. Pt [NAME], [ID].",
              d.month, d.day, d.year);
    assert_string_equal (rec->text, want);
    assert_int_equal (st.scrubbed, 1);

    /* without the known values the lower-case name in a mixed-case note
     * would have passed (in a note all in lower case strict mode takes it) */
    rec = s_rec (fx, HOURGLASS__RECORD_KIND__KIND_NOTE, "acme", "MRN-778899");
    rec->text = hg_arena_strdup (a, "Daughter of the featherstonehaugh family");
    fx->ctx.known = NULL;
    assert_int_equal (hg_deid_record (&fx->ctx, a, rec, &fx->err), 0);
    assert_string_equal (rec->text, "Daughter of the featherstonehaugh family");
    rec = s_rec (fx, HOURGLASS__RECORD_KIND__KIND_NOTE, "acme", "MRN-778899");
    rec->text = hg_arena_strdup (a, "daughter of the featherstonehaugh family");
    assert_int_equal (hg_deid_record (&fx->ctx, a, rec, &fx->err), 0);
    assert_string_equal (rec->text, "daughter of the [NAME] family");

    /* fail closed: a known value glued inside a word is no whole word the
     * scrubber takes, but it is still there: the text goes, flagged */
    rec = s_rec (fx, HOURGLASS__RECORD_KIND__KIND_NOTE, "acme", "MRN-778899");
    rec->text = hg_arena_strdup (a, "ref xFeatherstonehaughx noted");
    fx->ctx.known = known;
    assert_int_equal (hg_deid_record (&fx->ctx, a, rec, &fx->err), 0);
    assert_string_equal (rec->text, "");
    assert_int_equal (rec->n_flags, 1);
    assert_string_equal (rec->flags[0], HG_DEID_FLAG_TEXT_DROPPED);
    assert_int_equal (st.dropped, 1);

    /* free-text values are scrubbed; numbers, dates left unclaimed and
     * text the scrubber cannot vouch for are redacted as before */
    static const struct {
        const char *in, *out;
    } values[] = {
        {"Spoke with Threlkeldine", "Spoke with [NAME]"},
        {"see note", "see note"},
        {"result 3/4 pending", HG_DEID_REDACTED}, /* a fraction or March 4th */
        {"123456", HG_DEID_REDACTED},
        {"7/22", HG_DEID_REDACTED},
        {"positive", "positive"},
    };
    for (size_t i = 0; i < sizeof (values) / sizeof (values[0]); i++) {
        rec = s_rec (fx, HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION, "acme", "MRN-778899");
        assert_int_equal (hg_record_add_code (a, rec, HG_SYS_LOINC, "8251-1", ""), 0);
        rec->value_case = HOURGLASS__RECORD__VALUE_STRING_VALUE;
        rec->string_value = hg_arena_strdup (a, values[i].in);
        assert_int_equal (hg_deid_record (&fx->ctx, a, rec, &fx->err), 0);
        if (strcmp (rec->string_value, values[i].out) != 0) {
            fail_msg ("value '%s': '%s', want '%s'", values[i].in, rec->string_value,
                      values[i].out);
        }
    }

    /* surrogates: one per word and patient, the same in every record */
    unsigned char skey[32] = {7};
    fx->ctx.surrogate_key = skey;
    char *out[2];
    for (int k = 0; k < 2; k++) {
        rec = s_rec (fx, HOURGLASS__RECORD_KIND__KIND_NOTE, "acme", "MRN-778899");
        rec->text = hg_arena_strdup (a, "Seen by Dr. Oakes.");
        assert_int_equal (hg_deid_record (&fx->ctx, a, rec, &fx->err), 0);
        out[k] = rec->text;
    }
    assert_string_equal (out[0], out[1]);
    assert_null (strstr (out[0], "Oakes"));
    assert_null (strstr (out[0], "[NAME]"));
    assert_memory_equal (out[0], "Seen by Dr. ", 12);

    fx->ctx.scrub = NULL;
    fx->ctx.known = NULL;
    fx->ctx.text_stats = NULL;
    fx->ctx.surrogate_key = NULL;
    hg_scrub_lexicon_free (known);
    hg_scrub_free (sc);
}

HG_TEST_MAIN (
    cmocka_unit_test_setup (test_pseudonym_known_answers, s_setup),
    cmocka_unit_test_setup (test_dateshift_known_answers, s_setup),
    cmocka_unit_test_setup (test_pseudonym_deterministic_and_scoped, s_setup),
    cmocka_unit_test_setup (test_dateshift_range, s_setup),
    cmocka_unit_test_setup_teardown (test_key_create_and_reload, s_key_setup, s_key_teardown),
    cmocka_unit_test_setup_teardown (test_key_concurrent_create, s_key_setup, s_key_teardown),
    cmocka_unit_test_setup_teardown (test_key_refused, s_key_setup, s_key_teardown),
    cmocka_unit_test_setup_teardown (test_z_segments_dropped, s_rec_setup, s_rec_teardown),
    cmocka_unit_test_setup_teardown (test_full_record_nothing_identifying, s_rec_setup,
                                     s_rec_teardown),
    cmocka_unit_test_setup_teardown (test_text_scrubbed, s_rec_setup, s_rec_teardown),
    cmocka_unit_test_setup_teardown (test_birth_year_and_bands, s_rec_setup, s_rec_teardown),
    cmocka_unit_test (test_age_group),
    cmocka_unit_test_setup_teardown (test_shift_keeps_precision, s_rec_setup, s_rec_teardown),
    cmocka_unit_test_setup_teardown (test_postal_prefix, s_rec_setup, s_rec_teardown),
    cmocka_unit_test (test_string_value), cmocka_unit_test (test_date_like),
    cmocka_unit_test_setup_teardown (test_string_value_in_records, s_rec_setup, s_rec_teardown),
    cmocka_unit_test_setup_teardown (test_age_quantities, s_rec_setup, s_rec_teardown),
    cmocka_unit_test_setup_teardown (test_displays_units_ranges, s_rec_setup, s_rec_teardown),
    cmocka_unit_test_setup_teardown (test_digit_run_quantities, s_rec_setup, s_rec_teardown),
    cmocka_unit_test (test_reference_range),
    cmocka_unit_test_setup_teardown (test_state_country, s_rec_setup, s_rec_teardown),
    cmocka_unit_test_setup_teardown (test_status_interpretation, s_rec_setup, s_rec_teardown),
    cmocka_unit_test_setup_teardown (test_birth_year_consistent_with_shifted_dates, s_rec_setup,
                                     s_rec_teardown),
    cmocka_unit_test_setup_teardown (test_same_patient_links_across_records, s_rec_setup,
                                     s_rec_teardown),
    cmocka_unit_test_setup_teardown (test_errors, s_rec_setup, s_rec_teardown),
    cmocka_unit_test (test_withhold_values),
    cmocka_unit_test_setup_teardown (test_withhold_values_of_errors, s_rec_setup, s_rec_teardown),
    cmocka_unit_test_setup_teardown (test_local_codes_pseudonymised, s_rec_setup, s_rec_teardown),
    cmocka_unit_test_setup_teardown (test_identifier_systems_are_not_terminologies, s_rec_setup,
                                     s_rec_teardown),
    cmocka_unit_test_setup_teardown (test_terminology_code_shapes, s_rec_setup, s_rec_teardown),
    cmocka_unit_test_setup_teardown (test_memos_change_nothing, s_rec_setup, s_rec_teardown))
