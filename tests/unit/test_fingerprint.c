/*
 * test_fingerprint.c -- log fingerprints of partner-chosen ids
 * (common/fingerprint.h, log.h) and the key file loader in the fingerprint
 * key's words (common/keyfile.h).
 *
 * Known answers were computed with Python's hashlib for the key bytes 0..31:
 *   hashlib.blake2b(id, key=key, digest_size=16).hexdigest()[:12]
 */
#define _GNU_SOURCE /* memmem */
#include "unit_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fingerprint.h"
#include "keyfile.h"
#include "log.h"

static unsigned char s_key[HG_FINGERPRINT_KEY_BYTES];

static int
s_setup (void **state)
{
    (void) state;
    for (int i = 0; i < HG_FINGERPRINT_KEY_BYTES; i++) {
        s_key[i] = (unsigned char) i;
    }
    return 0;
}

#define S_SYNTHEA "synthea/Jane123_Roe456_0f1e.json-0011223344556677"

static void
test_known_answers (void **state)
{
    (void) state;
    char fp[HG_FINGERPRINT_HEX + 1];
    assert_string_equal (hg_fingerprint (s_key, S_SYNTHEA, fp), "700aed5974fd");
    assert_string_equal (hg_fingerprint (s_key, "mllp/MRN99887766", fp), "d37024e330d3");
    assert_string_equal (hg_fingerprint (s_key, "", fp), "3daf97bce788");
    assert_string_equal (hg_fingerprint (s_key, NULL, fp), "3daf97bce788");
}

/* the leak shape: nothing of the id is in the fingerprint; its twin: the
 * same id always gives the same fingerprint, another id another one */
static void
test_no_id_bytes_and_stable (void **state)
{
    (void) state;
    const char *ids[] = {S_SYNTHEA, "mllp/MRN99887766", "mllp/MRN99887767", "lab/20240101",
                         "a",       "abcdef012345"};
    char fp[6][HG_FINGERPRINT_HEX + 1];
    for (size_t i = 0; i < 6; i++) {
        hg_fingerprint (s_key, ids[i], fp[i]);
        assert_int_equal (strlen (fp[i]), HG_FINGERPRINT_HEX);
        assert_int_equal (strspn (fp[i], "0123456789abcdef"), HG_FINGERPRINT_HEX);
        /* no 4-byte run of the id survives */
        for (size_t at = 0; at + 4 <= strlen (ids[i]); at++) {
            assert_null (memmem (fp[i], HG_FINGERPRINT_HEX, ids[i] + at, 4));
        }
        char again[HG_FINGERPRINT_HEX + 1];
        assert_string_equal (hg_fingerprint (s_key, ids[i], again), fp[i]);
        for (size_t j = 0; j < i; j++) {
            assert_string_not_equal (fp[i], fp[j]);
        }
    }
    /* another key, another fingerprint: it means nothing without the key */
    unsigned char other[HG_FINGERPRINT_KEY_BYTES] = {1};
    char fo[HG_FINGERPRINT_HEX + 1];
    assert_string_not_equal (hg_fingerprint (other, S_SYNTHEA, fo), fp[0]);
}

/* the log's fingerprint: a random key until one is set, then that key's */
static void
test_log_fingerprint (void **state)
{
    (void) state;
    char a[HG_FINGERPRINT_HEX + 1], b[HG_FINGERPRINT_HEX + 1];
    hg_log_fingerprint (S_SYNTHEA, a);
    assert_string_not_equal (a, "700aed5974fd"); /* not the known key by chance */
    assert_null (strstr (a, "Jane"));
    hg_log_fingerprint_key (s_key);
    assert_string_equal (hg_log_fingerprint (S_SYNTHEA, b), "700aed5974fd");
    assert_string_equal (HG_LOG_FP (S_SYNTHEA), "700aed5974fd");
    assert_string_equal (HG_LOG_FP ("mllp/MRN99887766"), "d37024e330d3");
}

static const hg_keyfile_kind_t s_kind = {
    .what = "log fingerprint key",
    .creator = "the service",
    .on_new = "no log needs matching any more",
};

/* created 0600 on first use, then the same key; the kind's words in errors */
static void
test_keyfile (void **state)
{
    (void) state;
    char dir[] = "/tmp/hg_test_fp_XXXXXX";
    assert_non_null (mkdtemp (dir));
    char path[256], want[512];
    snprintf (path, sizeof (path), "%s/fingerprint.key", dir);
    unsigned char k1[HG_KEYFILE_BYTES], k2[HG_KEYFILE_BYTES];
    hg_err_t err = {0};
    assert_int_equal (hg_keyfile_load (path, false, &s_kind, k1, &err), HG_ENOTFOUND);
    snprintf (want, sizeof (want),
              "key file %s does not exist; restore it, or allow the service to create a new "
              "key",
              path);
    assert_string_equal (err.msg, want);
    assert_int_equal (hg_keyfile_load (path, true, &s_kind, k1, &err), 0);
    struct stat sb;
    assert_int_equal (stat (path, &sb), 0);
    assert_int_equal (sb.st_mode & 0777, 0600);
    assert_int_equal (sb.st_size, HG_KEYFILE_BYTES);
    assert_int_equal (hg_keyfile_load (path, true, &s_kind, k2, &err), 0);
    assert_memory_equal (k1, k2, sizeof (k1));

    assert_int_equal (truncate (path, 16), 0);
    assert_int_equal (hg_keyfile_load (path, true, &s_kind, k2, &err), HG_EINVAL);
    snprintf (want, sizeof (want),
              "key file %s is 16 bytes; a log fingerprint key is exactly 32 bytes (restore the "
              "original key file; delete it only if no log needs matching any more)",
              path);
    assert_string_equal (err.msg, want);
    assert_int_equal (hg_keyfile_load ("", true, &s_kind, k2, &err), HG_EINVAL);
    assert_string_equal (err.msg, "no log fingerprint key file configured; set the key path");
    unlink (path);
    rmdir (dir);
}

HG_TEST_MAIN_GROUP (s_setup, NULL, cmocka_unit_test (test_known_answers),
                    cmocka_unit_test (test_no_id_bytes_and_stable),
                    cmocka_unit_test (test_log_fingerprint), cmocka_unit_test (test_keyfile))
