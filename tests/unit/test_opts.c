/*
 * test_opts.c -- the CLI's option parser (cli/opts.c): every type, the
 * --name=value form, aliases, "--", argument counts, subcommands, and what
 * --help and usage errors print and return.
 */
#include "unit_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "opts.h"

/* What one parse printed on stdout and stderr. */
typedef struct {
    int rc, status;
    char out[8192], err[8192];
} parse_t;

static void
s_slurp (FILE *f, char *buf, size_t cap)
{
    fflush (f);
    rewind (f);
    size_t n = fread (buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose (f);
}

/* Runs hg_cli_parse with stdout and stderr captured. argv is NULL-terminated. */
static parse_t
s_parse (const hg_cli_spec_t *spec, char **argv, hg_cli_args_t *args)
{
    parse_t p = {0};
    int argc = 0;
    while (argv[argc]) {
        argc++;
    }
    FILE *out = tmpfile (), *err = tmpfile ();
    assert_non_null (out);
    assert_non_null (err);
    fflush (stdout);
    fflush (stderr);
    int saved_out = dup (1), saved_err = dup (2);
    dup2 (fileno (out), 1);
    dup2 (fileno (err), 2);
    p.status = -99;
    p.rc = hg_cli_parse (spec, argc, argv, 1, args, &p.status);
    fflush (stdout);
    fflush (stderr);
    dup2 (saved_out, 1);
    dup2 (saved_err, 2);
    close (saved_out);
    close (saved_err);
    s_slurp (out, p.out, sizeof (p.out));
    s_slurp (err, p.err, sizeof (p.err));
    return p;
}

static void
s_assert_has (const char *text, const char *part)
{
    if (!strstr (text, part)) {
        fail_msg ("'%s' lacks '%s'", text, part);
    }
}

/* The options of a push-like command. */
typedef struct {
    const char *cluster, *format, *mllp;
    bool json;
    int wait;
    double rate;
    hg_cli_list_t codes;
} vals_t;

static bool
s_has_colon (const char *next)
{
    return strchr (next, ':') != NULL;
}

#define SPEC(v)                                                                \
    const hg_cli_opt_t opts[] = {                                              \
        {.name = "--cluster",                                                  \
         .type = HG_CLI_STRING,                                                \
         .out = &(v).cluster,                                                  \
         .metavar = "DIR",                                                     \
         .help = "the cluster",                                                \
         .alias = "--dir"},                                                    \
        HG_CLI_OPT_REQUIRED ("--format", &(v).format, "FORMAT", "the format"), \
        HG_CLI_OPT_JSON (&(v).json),                                           \
        HG_CLI_OPT_INT ("--wait", &(v).wait, "SECONDS", "wait", 0, 600),       \
        HG_CLI_OPT_NUM ("--rate", &(v).rate, "N", "rate", 0, 1000),            \
        HG_CLI_OPT_LIST ("--code", &(v).codes, "CODE", "a code", 3),           \
        {.name = "--mllp",                                                     \
         .type = HG_CLI_OPTIONAL,                                              \
         .out = &(v).mllp,                                                     \
         .metavar = "HOST:PORT",                                               \
         .help = "over MLLP",                                                  \
         .accept = s_has_colon},                                               \
        HG_CLI_OPT_END,                                                        \
    };                                                                         \
    const hg_cli_spec_t spec = {.command = "hourglass push",                   \
                                .args = "FILE...",                             \
                                .min_args = 1,                                 \
                                .max_args = 2,                                 \
                                .opts = opts,                                  \
                                .about = "Pushes files.\n"}

static void
test_values (void **state)
{
    (void) state;
    vals_t v = {.wait = 120};
    SPEC (v);
    hg_cli_args_t args;
    parse_t p = s_parse (&spec,
                         (char *[]) {"push", "a.json", "--format", "fhir", "--json", "--wait=0",
                                     "--dir", "/c", "--rate", "2.5", "--code", "x|1",
                                     "--code=y|2", "--", "--b.json", NULL},
                         &args);
    assert_int_equal (p.rc, 0);
    assert_string_equal (p.out, "");
    assert_string_equal (p.err, "");
    assert_string_equal (v.format, "fhir");
    assert_string_equal (v.cluster, "/c");
    assert_true (v.json);
    assert_int_equal (v.wait, 0);
    assert_true (v.rate == 2.5);
    assert_int_equal (v.codes.n, 2);
    assert_string_equal (v.codes.v[0], "x|1");
    assert_string_equal (v.codes.v[1], "y|2");
    assert_null (v.mllp);
    assert_int_equal (args.n, 2);
    assert_string_equal (args.v[0], "a.json");
    assert_string_equal (args.v[1], "--b.json"); /* after "--": an argument */
    hg_cli_args_free (&args);
    assert_null (args.v);
    hg_cli_list_free (&v.codes);
}

/* An optional value: taken when accept() says so, else "". */
static void
test_optional_value (void **state)
{
    (void) state;
    vals_t w = {0};
    SPEC (w);
    hg_cli_args_t args;
    const hg_cli_spec_t spec2 = {.command = "hourglass push",
                                 .min_args = 1,
                                 .max_args = 9,
                                 .opts = opts};
    assert_int_equal (spec.max_args, 2);
    parse_t p;
    p = s_parse (&spec2, (char *[]) {"push", "--mllp", "f.hl7", "--format=x", NULL}, &args);
    assert_int_equal (p.rc, 0);
    assert_string_equal (w.mllp, "");
    assert_int_equal (args.n, 1);
    hg_cli_args_free (&args);
    p = s_parse (&spec2,
                 (char *[]) {"push", "--format=x", "--mllp", "127.0.0.1:2575", "f.hl7", NULL},
                 &args);
    assert_int_equal (p.rc, 0);
    assert_string_equal (w.mllp, "127.0.0.1:2575");
    assert_int_equal (args.n, 1);
    hg_cli_args_free (&args);
}

static void
test_help (void **state)
{
    (void) state;
    vals_t v = {0};
    SPEC (v);
    hg_cli_args_t args;
    const char *helps[] = {"--help", "-h"};
    for (size_t i = 0; i < 2; i++) {
        /* anywhere, even after a bad option value or without the required FILE */
        parse_t p = s_parse (&spec,
                             (char *[]) {"push", "--format", "x", (char *) helps[i], "--wait",
                                         "abc", NULL},
                             &args);
        assert_int_equal (p.rc, -1);
        assert_int_equal (p.status, 0);
        assert_string_equal (p.err, "");
        s_assert_has (p.out, "usage: hourglass push --format FORMAT [OPTIONS] FILE...\n");
        s_assert_has (p.out, "  --wait SECONDS");
        s_assert_has (p.out, "  --dir DIR                the same as --cluster\n");
        s_assert_has (p.out, "  --mllp [HOST:PORT]");
        s_assert_has (p.out, "a code (repeatable)");
        s_assert_has (p.out, "the format (required)");
        s_assert_has (p.out, "Pushes files.\n");
    }
}

/* A usage error: -1, status 2, the message then the usage on stderr. */
static void
s_assert_usage_error (char **argv, const char *message)
{
    vals_t v = {.wait = 7};
    SPEC (v);
    hg_cli_args_t args;
    parse_t p = s_parse (&spec, argv, &args);
    assert_int_equal (p.rc, -1);
    assert_int_equal (p.status, 2);
    assert_string_equal (p.out, "");
    s_assert_has (p.err, message);
    s_assert_has (p.err, "\nusage: hourglass push --format FORMAT [OPTIONS] FILE...\n");
    assert_null (args.v);
    hg_cli_list_free (&v.codes);
}

static void
test_usage_errors (void **state)
{
    (void) state;
    s_assert_usage_error ((char *[]) {"push", "f", "--wait", "abc", NULL},
                          "hourglass push: --wait wants a whole number from 0 to 600, got 'abc'");
    s_assert_usage_error ((char *[]) {"push", "f", "--wait", "", NULL}, "got ''");
    s_assert_usage_error ((char *[]) {"push", "f", "--wait", "12x", NULL}, "got '12x'");
    s_assert_usage_error ((char *[]) {"push", "f", "--wait", "601", NULL}, "got '601'");
    s_assert_usage_error ((char *[]) {"push", "f", "--wait=-1", NULL}, "got '-1'");
    s_assert_usage_error ((char *[]) {"push", "f", "--wait", "99999999999999999999", NULL},
                          "whole number");
    s_assert_usage_error ((char *[]) {"push", "f", "--rate", "nan", NULL},
                          "--rate wants a number from 0 to 1000, got 'nan'");
    s_assert_usage_error ((char *[]) {"push", "f", "--rate", "1e9", NULL}, "got '1e9'");
    s_assert_usage_error ((char *[]) {"push", "f", "--wait", NULL},
                          "hourglass push: --wait needs a value (SECONDS)");
    s_assert_usage_error ((char *[]) {"push", "f", "--bogus", NULL},
                          "hourglass push: unknown option --bogus");
    s_assert_usage_error ((char *[]) {"push", "f", "--json=yes", NULL}, "--json takes no value");
    s_assert_usage_error ((char *[]) {"push", "--format", "fhir", NULL},
                          "hourglass push: FILE... required");
    s_assert_usage_error ((char *[]) {"push", "f", NULL}, "hourglass push: --format is required");
    /* a value that looks like the option does not count as giving it */
    s_assert_usage_error ((char *[]) {"push", "f", "--cluster", "--format", NULL},
                          "--format is required");
    s_assert_usage_error ((char *[]) {"push", "a", "b", "c", "--format=x", NULL},
                          "hourglass push: unexpected argument 'c'");
    s_assert_usage_error ((char *[]) {"push", "f", "--format=x", "--code", "1", "--code", "2",
                                      "--code", "3", "--code", "4", NULL},
                          "hourglass push: at most 3 --code");
    /* a bad value leaves the default alone */
    vals_t v = {.wait = 7};
    SPEC (v);
    hg_cli_args_t args;
    s_parse (&spec, (char *[]) {"push", "f", "--wait", "x", NULL}, &args);
    assert_int_equal (v.wait, 7);
}

static void
test_verbs (void **state)
{
    (void) state;
    const hg_cli_opt_t none[] = {HG_CLI_OPT_END};
    const hg_cli_spec_t up = {.command = "hourglass cluster up",
                              .opts = none,
                              .about = "Starts it.\n"};
    const hg_cli_spec_t down = {.command = "hourglass cluster down", .opts = none};
    const hg_cli_spec_t *const verbs[] = {&up, &down, NULL};
    const hg_cli_spec_t *chosen = NULL;
    assert_int_equal (hg_cli_verb ("hourglass cluster", 2, (char *[]) {"cluster", "down", NULL},
                                   verbs, &chosen),
                      -1);
    assert_ptr_equal (chosen, &down);
    FILE *err = tmpfile ();
    fflush (stderr);
    int saved = dup (2);
    dup2 (fileno (err), 2);
    int rc_unknown = hg_cli_verb ("hourglass cluster", 2,
                                  (char *[]) {"cluster", "sideways", NULL}, verbs, &chosen);
    int rc_missing = hg_cli_verb ("hourglass cluster", 1, (char *[]) {"cluster", NULL}, verbs,
                                  &chosen);
    fflush (stderr);
    dup2 (saved, 2);
    close (saved);
    char text[4096];
    s_slurp (err, text, sizeof (text));
    assert_int_equal (rc_unknown, 2);
    assert_int_equal (rc_missing, 2);
    s_assert_has (text, "hourglass cluster: unknown subcommand 'sideways'\n");
    s_assert_has (text, "hourglass cluster: which one?\n");
    s_assert_has (text, "usage: hourglass cluster up [OPTIONS]\n");
    s_assert_has (text, "usage: hourglass cluster down [OPTIONS]\n");
    assert_true (hg_cli_is_help ("-h") && hg_cli_is_help ("--help"));
    assert_false (hg_cli_is_help ("--helpful") || hg_cli_is_help ("help"));
}

HG_TEST_MAIN (cmocka_unit_test (test_values), cmocka_unit_test (test_optional_value),
              cmocka_unit_test (test_help), cmocka_unit_test (test_usage_errors),
              cmocka_unit_test (test_verbs))
