/*
 * test_config.c -- the table-driven configuration loader (common/config.c):
 * defaults < file < environment < flags, flag forms, name spelling, errors.
 */
#include "unit_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "util.h"

static const hg_opt_t s_common[] = {
    {"heartbeat_ms", HG_OPT_INT, "1000", "heartbeat interval"},
    {"data_dir", HG_OPT_STRING, "/var/lib/hg", "state directory"},
    {"verbose", HG_OPT_BOOL, "false", "log more"},
    {NULL, 0, NULL, NULL},
};

static const hg_opt_t s_own[] = {
    {"name", HG_OPT_STRING, "x", "instance name"},
    {"shards", HG_OPT_INT, "4", "shard count"},
    {"sync", HG_OPT_BOOL, "true", "fsync"},
    {"empty", HG_OPT_STRING, "", "no default"},
    {NULL, 0, NULL, NULL},
};

static const char *s_env[] = {"HOURGLASS_HEARTBEAT_MS", "HOURGLASS_DATA_DIR", "HOURGLASS_VERBOSE",
                              "HOURGLASS_NAME",         "HOURGLASS_SHARDS",   "HOURGLASS_SYNC",
                              "HOURGLASS_EMPTY",        "HOURGLASS_CONFIG"};

static char s_dir[64];

static int
s_setup (void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof (s_env) / sizeof (s_env[0]); i++) {
        unsetenv (s_env[i]);
    }
    snprintf (s_dir, sizeof (s_dir), "/tmp/hg-config-XXXXXX");
    return mkdtemp (s_dir) ? 0 : -1;
}

static int
s_teardown (void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof (s_env) / sizeof (s_env[0]); i++) {
        unsetenv (s_env[i]);
    }
    return hg_remove_tree (s_dir, NULL);
}

/* Writes a config file in the temp dir and returns its path (from a ring
 * of static buffers, so several paths can be held at once). */
static const char *
s_file (const char *name, const char *text)
{
    static char paths[8][128];
    static int next;
    char *path = paths[next++ % 8];
    snprintf (path, sizeof (paths[0]), "%s/%s", s_dir, name);
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    fputs (text, f);
    fclose (f);
    return path;
}

/* Loads argv (NULL-terminated, program name first) into a fresh config. */
static hg_config_t *
s_load (int *rc, hg_err_t *err, char **argv)
{
    int argc = 0;
    while (argv[argc]) {
        argc++;
    }
    hg_config_t *c = hg_config_new ("hourglass-test", s_common, s_own);
    assert_non_null (c);
    hg_err_clear (err);
    *rc = hg_config_load (c, argc, argv, err);
    return c;
}

static void
test_defaults (void **state)
{
    (void) state;
    int rc;
    hg_err_t err;
    hg_config_t *c = s_load (&rc, &err, (char *[]) {"prog", NULL});
    assert_int_equal (rc, 0);
    assert_int_equal (hg_config_int (c, "heartbeat_ms"), 1000);
    assert_string_equal (hg_config_str (c, "data_dir"), "/var/lib/hg");
    assert_false (hg_config_bool (c, "verbose"));
    assert_true (hg_config_bool (c, "sync"));
    assert_string_equal (hg_config_str (c, "name"), "x");
    assert_int_equal (hg_config_int (c, "shards"), 4);
    assert_string_equal (hg_config_str (c, "empty"), "");
    /* getters accept either spelling too */
    assert_int_equal (hg_config_int (c, "heartbeat-ms"), 1000);
    hg_config_destroy (&c);
    assert_null (c);
    hg_config_destroy (&c);
}

static void
test_precedence (void **state)
{
    (void) state;
    const char *path = s_file ("a.conf", "# comment line\n"
                                         "\n"
                                         "heartbeat_ms = 2000\n"
                                         "  name=from-file  \n"
                                         "data-dir = /file/dir\n"
                                         "shards = 8\n");
    setenv ("HOURGLASS_NAME", "from-env", 1);
    setenv ("HOURGLASS_DATA_DIR", "/env/dir", 1);
    int rc;
    hg_err_t err;
    hg_config_t *c = s_load (&rc, &err,
                             (char *[]) {"prog", "--config", (char *) path, "--data-dir",
                                         "/flag/dir", NULL});
    assert_int_equal (rc, 0);
    assert_int_equal (hg_config_int (c, "heartbeat_ms"), 2000);       /* file */
    assert_string_equal (hg_config_str (c, "name"), "from-env");      /* env > file */
    assert_string_equal (hg_config_str (c, "data_dir"), "/flag/dir"); /* flag > env */
    assert_int_equal (hg_config_int (c, "shards"), 8);                /* file */
    assert_true (hg_config_bool (c, "sync"));                         /* default */
    hg_config_destroy (&c);

    /* the file may also come from HOURGLASS_CONFIG, and --config=FILE wins */
    const char *other = s_file ("b.conf", "shards = 16\n");
    setenv ("HOURGLASS_CONFIG", other, 1);
    c = s_load (&rc, &err, (char *[]) {"prog", NULL});
    assert_int_equal (rc, 0);
    assert_int_equal (hg_config_int (c, "shards"), 16);
    hg_config_destroy (&c);
    char arg[160];
    snprintf (arg, sizeof (arg), "--config=%s", path);
    c = s_load (&rc, &err, (char *[]) {"prog", arg, NULL});
    assert_int_equal (rc, 0);
    assert_int_equal (hg_config_int (c, "shards"), 8);
    hg_config_destroy (&c);
}

static void
test_flag_forms (void **state)
{
    (void) state;
    int rc;
    hg_err_t err;
    hg_config_t *c = s_load (&rc, &err,
                             (char *[]) {"prog", "--heartbeat-ms=250", "--name", "n1",
                                         "--verbose", "--data_dir=/a=b", "--shards", "-3",
                                         "--sync", NULL});
    assert_int_equal (rc, 0);
    assert_int_equal (hg_config_int (c, "heartbeat_ms"), 250);
    assert_string_equal (hg_config_str (c, "name"), "n1");
    assert_true (hg_config_bool (c, "verbose")); /* bool flag, next is a flag */
    assert_string_equal (hg_config_str (c, "data_dir"), "/a=b");
    assert_int_equal (hg_config_int (c, "shards"), -3); /* "-3" is a value, not a flag */
    assert_true (hg_config_bool (c, "sync"));           /* bool flag at the end */
    hg_config_destroy (&c);

    c = s_load (&rc, &err,
                (char *[]) {"prog", "--verbose", "yes", "--sync", "off", "--name=", NULL});
    assert_int_equal (rc, 0);
    assert_true (hg_config_bool (c, "verbose"));
    assert_false (hg_config_bool (c, "sync"));
    assert_string_equal (hg_config_str (c, "name"), "");
    hg_config_destroy (&c);

    /* every accepted boolean spelling */
    const char *yes[] = {"true", "1", "yes", "on"}, *no[] = {"false", "0", "no", "off"};
    for (int i = 0; i < 4; i++) {
        c = hg_config_new ("p", s_common, s_own);
        assert_int_equal (hg_config_set (c, "verbose", yes[i], &err), 0);
        assert_true (hg_config_bool (c, "verbose"));
        assert_int_equal (hg_config_set (c, "verbose", no[i], &err), 0);
        assert_false (hg_config_bool (c, "verbose"));
        hg_config_destroy (&c);
    }

    /* env with '-' vs '_': HOURGLASS_HEARTBEAT_MS */
    setenv ("HOURGLASS_HEARTBEAT_MS", "42", 1);
    setenv ("HOURGLASS_VERBOSE", "on", 1);
    c = s_load (&rc, &err, (char *[]) {"prog", NULL});
    assert_int_equal (rc, 0);
    assert_int_equal (hg_config_int (c, "heartbeat_ms"), 42);
    assert_true (hg_config_bool (c, "verbose"));
    hg_config_destroy (&c);
}

static void
s_expect_error (char **argv, const char *msg)
{
    int rc;
    hg_err_t err;
    hg_config_t *c = s_load (&rc, &err, argv);
    assert_int_equal (rc, HG_EINVAL);
    assert_string_equal (err.msg, msg);
    hg_config_destroy (&c);
}

static void
test_errors (void **state)
{
    (void) state;
    s_expect_error ((char *[]) {"prog", "--bogus", "1", NULL},
                    "unknown option 'bogus' (from flag); see hourglass-test --help");
    s_expect_error ((char *[]) {"prog", "--bogus-opt=1", NULL},
                    "unknown option 'bogus-opt' (from flag); see hourglass-test --help");
    s_expect_error ((char *[]) {"prog", "--heartbeat-ms", "abc", NULL},
                    "option heartbeat_ms: 'abc' is not an integer");
    s_expect_error ((char *[]) {"prog", "--shards=12x", NULL},
                    "option shards: '12x' is not an integer");
    s_expect_error ((char *[]) {"prog", "--shards=", NULL},
                    "option shards: '' is not an integer");
    s_expect_error ((char *[]) {"prog", "--shards=99999999999999999999", NULL},
                    "option shards: '99999999999999999999' is not an integer");
    s_expect_error ((char *[]) {"prog", "--verbose=maybe", NULL},
                    "option verbose: 'maybe' is not a boolean (true/false)");
    s_expect_error ((char *[]) {"prog", "--verbose", "maybe", NULL},
                    "option verbose: 'maybe' is not a boolean (true/false)");
    s_expect_error ((char *[]) {"prog", "--name", NULL}, "option --name needs a value");
    s_expect_error ((char *[]) {"prog", "stray", NULL},
                    "unexpected argument 'stray'; see hourglass-test --help");

    setenv ("HOURGLASS_SHARDS", "many", 1);
    s_expect_error ((char *[]) {"prog", NULL}, "option shards: 'many' is not an integer");
    unsetenv ("HOURGLASS_SHARDS");

    hg_err_t err;
    hg_config_t *c = hg_config_new ("p", s_common, s_own);
    assert_int_equal (hg_config_set (c, "nope", "1", &err), HG_EINVAL);
    assert_string_equal (err.msg, "unknown option 'nope' (from flag); see p --help");
    assert_int_equal (hg_config_set (c, "shards", "x", &err), HG_EINVAL);
    assert_string_equal (err.msg, "option shards: 'x' is not an integer");
    /* a failed set keeps the previous value */
    assert_int_equal (hg_config_int (c, "shards"), 4);
    hg_config_destroy (&c);
}

static void
test_file_errors (void **state)
{
    (void) state;
    char want[512];
    const char *p = s_file ("bad1.conf", "shards = 2\n# fine\nbogus = 1\n");
    snprintf (want, sizeof (want),
              "%s:3: unknown option 'bogus' (from file); see hourglass-test --help", p);
    s_expect_error ((char *[]) {"prog", "--config", (char *) p, NULL}, want);

    p = s_file ("bad2.conf", "\n\nshards 2\n");
    snprintf (want, sizeof (want), "%s:3: expected 'key = value'", p);
    s_expect_error ((char *[]) {"prog", "--config", (char *) p, NULL}, want);

    p = s_file ("bad3.conf", "verbose = perhaps\n");
    snprintf (want, sizeof (want),
              "%s:1: option verbose: 'perhaps' is not a boolean (true/false)", p);
    s_expect_error ((char *[]) {"prog", "--config", (char *) p, NULL}, want);

    snprintf (want, sizeof (want),
              "cannot open config file %s/missing.conf: "
              "No such file or directory",
              s_dir);
    char path[128];
    snprintf (path, sizeof (path), "%s/missing.conf", s_dir);
    s_expect_error ((char *[]) {"prog", "--config", path, NULL}, want);
}

/* The file parser on text, without a file: a buffer that does not end in
 * NUL or newline, CRLF lines, blanks, comments, '=' in a value, and where
 * the first bad line stops it. */
static void
test_parse_text (void **state)
{
    (void) state;
    hg_err_t err = {0};
    hg_config_t *c = hg_config_new ("p", s_common, s_own);
    const char text[] = "  # comment\r\n\nname =  a=b  \r\n\tshards=7\nsync = off";
    assert_int_equal (hg_config_parse (c, text, sizeof (text) - 1, "t.conf", &err), 0);
    assert_string_equal (hg_config_str (c, "name"), "a=b");
    assert_int_equal (hg_config_int (c, "shards"), 7);
    assert_false (hg_config_bool (c, "sync"));
    /* only len bytes are read: "sync = of" is not a boolean */
    assert_int_equal (hg_config_parse (c, text, sizeof (text) - 2, "t.conf", &err), HG_EINVAL);
    assert_string_equal (err.msg, "t.conf:5: option sync: 'of' is not a boolean (true/false)");
    assert_int_equal (hg_config_parse (c, "shards = 9\nx\nshards = 1\n", 23, "u", &err),
                      HG_EINVAL);
    assert_string_equal (err.msg, "u:2: expected 'key = value'");
    assert_int_equal (hg_config_int (c, "shards"), 9);
    assert_int_equal (hg_config_parse (c, "", 0, "u", &err), 0);
    hg_config_destroy (&c);
}

static void
test_help (void **state)
{
    (void) state;
    int rc;
    hg_err_t err;
    /* --help wins even after a bad option */
    hg_config_t *c = s_load (&rc, &err, (char *[]) {"prog", "--bogus", "--help", NULL});
    assert_int_equal (rc, 1);
    hg_config_destroy (&c);
    c = s_load (&rc, &err, (char *[]) {"prog", "-h", NULL});
    assert_int_equal (rc, 1);
    hg_config_destroy (&c);

    c = hg_config_new ("hourglass-test", s_common, s_own);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream (&buf, &len);
    hg_config_print_help (c, f);
    fclose (f);
    assert_non_null (strstr (buf, "usage: hourglass-test [--config FILE] [--OPTION VALUE]...\n"));
    /* options are shown in their flag spelling */
    assert_non_null (strstr (buf, "  --heartbeat-ms           int    heartbeat interval\n"));
    assert_non_null (strstr (buf, "  --data-dir               string state directory\n"));
    assert_non_null (strstr (buf, "env HOURGLASS_HEARTBEAT_MS, default '1000'\n"));
    assert_non_null (strstr (buf, "env HOURGLASS_EMPTY, default ''\n"));
    free (buf);

    f = open_memstream (&buf, &len);
    hg_config_print_markdown (c, f);
    fclose (f);
    assert_non_null (strstr (buf, "| `--sync` | `HOURGLASS_SYNC` | bool | `true` | fsync |\n"));
    assert_non_null (strstr (buf,
                             "| `--data-dir` | `HOURGLASS_DATA_DIR` | string | `/var/lib/hg` "
                             "| state directory |\n"));
    free (buf);
    hg_config_destroy (&c);
}

HG_TEST_MAIN (cmocka_unit_test_setup_teardown (test_defaults, s_setup, s_teardown),
              cmocka_unit_test_setup_teardown (test_precedence, s_setup, s_teardown),
              cmocka_unit_test_setup_teardown (test_flag_forms, s_setup, s_teardown),
              cmocka_unit_test_setup_teardown (test_errors, s_setup, s_teardown),
              cmocka_unit_test_setup_teardown (test_file_errors, s_setup, s_teardown),
              cmocka_unit_test_setup_teardown (test_parse_text, s_setup, s_teardown),
              cmocka_unit_test_setup_teardown (test_help, s_setup, s_teardown))
