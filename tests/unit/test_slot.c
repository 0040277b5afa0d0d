/*
 * test_slot.c -- instance slots: the lowest free slot is claimed, a held
 * one is skipped until its holder lets go, a full set is a clear error,
 * and a slot's tree can be removed.
 */
#include "unit_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "slot.h"
#include "util.h"

static void
test_claim_and_release (void **state)
{
    (void) state;
    char dir[] = "/tmp/hg-slot-XXXXXX";
    assert_non_null (mkdtemp (dir));
    char vol[64];
    snprintf (vol, sizeof (vol), "%s/vol", dir); /* created by the claim */
    hg_err_t err = {0};
    int fd0 = -1, fd1 = -1, fd2 = -1;
    assert_int_equal (hg_slot_claim (vol, "cleanser", 3, -1, &fd0, &err), 0);
    assert_int_equal (hg_slot_claim (vol, "cleanser", 3, -1, &fd1, &err), 1);
    /* another service's slots are its own; a preferred free slot comes first */
    assert_int_equal (hg_slot_claim (vol, "deid", 3, 2, &fd2, &err), 2);
    close (fd2);
    assert_int_equal (hg_slot_claim (vol, "deid", 3, 7, &fd2, &err), 0); /* out of range */
    close (fd2);
    close (fd2);
    assert_int_equal (hg_slot_try (vol, "cleanser", 0, &err), HG_EAGAIN);
    assert_int_equal (err.code, 0);
    /* slot 0's holder dies: the next replica gets slot 0 back */
    close (fd0);
    assert_int_equal (hg_slot_claim (vol, "cleanser", 3, 1, &fd0, &err), 0); /* 1 is held */
    assert_int_equal (hg_slot_claim (vol, "cleanser", 3, -1, &fd2, &err), 2);
    int fd3 = -1;
    assert_int_equal (hg_slot_claim (vol, "cleanser", 3, -1, &fd3, &err), HG_EINVAL);
    char want[256];
    snprintf (want, sizeof (want),
              "all 3 slots of %s/cleanser-* are held by running "
              "instances: raise slots, or stop a replica",
              vol);
    assert_string_equal (err.msg, want);
    close (fd0);
    close (fd1);
    close (fd2);

    char path[128];
    hg_slot_path (path, sizeof (path), vol, "cleanser", 2);
    snprintf (want, sizeof (want), "%s/cleanser-2", vol);
    assert_string_equal (path, want);
    char sub[160], file[200];
    snprintf (sub, sizeof (sub), "%s/a/b", path);
    hg_err_clear (&err);
    assert_int_equal (hg_mkdirs (sub, 0700, &err), 0);
    snprintf (file, sizeof (file), "%s/f", sub);
    FILE *f = fopen (file, "w");
    assert_non_null (f);
    fputs ("x", f);
    fclose (f);
    assert_int_equal (hg_remove_tree (path, &err), 0);
    struct stat st;
    assert_int_not_equal (stat (path, &st), 0);
    /* removing what is not there is fine */
    assert_int_equal (hg_remove_tree (path, &err), 0);

    assert_int_equal (hg_remove_tree (dir, NULL), 0);
}

static void
test_unopenable (void **state)
{
    (void) state;
    hg_err_t err = {0};
    int fd = -1;
    int rc = hg_slot_claim ("/proc/hg-no-such-dir", "x", 2, -1, &fd, &err);
    assert_true (rc < 0 && rc != HG_EAGAIN);
    assert_non_null (strstr (err.msg, "/proc/hg-no-such-dir"));
}

HG_TEST_MAIN (cmocka_unit_test (test_claim_and_release), cmocka_unit_test (test_unopenable))
