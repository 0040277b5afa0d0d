/*
 * test_tokens.c -- the bearer-token table of the HTTP endpoints
 * (common/http_tokens.c): parsing, matching, loading a file; the hashed
 * form and the roles of analytics' analysts file.
 */
#include "unit_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "http_tokens.h"

#define TOKEN_A "tok-lab-a-0123456789abcdef"
#define TOKEN_B "tok-lab-b-fedcba9876543210"

/* ---- bearer tokens: parsing and matching (pure) --------------------------- */

static hg_http_tokens_t *
s_parse (const char *text, hg_err_t *err)
{
    return hg_http_tokens_parse (text, strlen (text), "tokens.txt", err);
}

static void
s_assert_parse_fails (const char *text, size_t len, const char *msg_part)
{
    hg_err_t err = {0};
    hg_http_tokens_t *t = hg_http_tokens_parse (text, len, "tokens.txt", &err);
    assert_null (t);
    assert_true (err.code < 0);
    if (!strstr (err.msg, msg_part)) {
        fail_msg ("error '%s' lacks '%s'", err.msg, msg_part);
    }
}

static void
test_tokens_parse (void **state)
{
    (void) state;
    hg_err_t err = {0};
    /* comments, blank lines, CRLF, tabs, trailing comment, no final newline */
    hg_http_tokens_t *t = s_parse ("# header\r\n\r\n   \n" TOKEN_A "\tlab-a\r\n"
                                   "  " TOKEN_B "  lab-b  # second partner\n"
                                   "# tail\n"
                                   "tok-lab-c-000000000000 lab-c",
                                   &err);
    assert_non_null (t);
    assert_int_equal (hg_http_tokens_count (t), 3);
    char partner[HG_FHIR_HTTP_PARTNER_MAX + 1];
    assert_true (hg_http_tokens_match (t, "Bearer " TOKEN_A, partner, sizeof (partner)));
    assert_string_equal (partner, "lab-a");
    assert_true (hg_http_tokens_match (t, "bEaReR \t" TOKEN_B " \t", partner, sizeof (partner)));
    assert_string_equal (partner, "lab-b");
    assert_true (
        hg_http_tokens_match (t, "Bearer tok-lab-c-000000000000", partner, sizeof (partner)));
    assert_string_equal (partner, "lab-c");
    strcpy (partner, "untouched");
    assert_false (hg_http_tokens_match (t, NULL, partner, sizeof (partner)));
    assert_false (hg_http_tokens_match (t, "", partner, sizeof (partner)));
    assert_false (hg_http_tokens_match (t, "Bearer ", partner, sizeof (partner)));
    assert_false (hg_http_tokens_match (t, "Bearer    ", partner, sizeof (partner)));
    assert_false (hg_http_tokens_match (t, "Basic " TOKEN_A, partner, sizeof (partner)));
    assert_false (hg_http_tokens_match (t, TOKEN_A, partner, sizeof (partner)));
    assert_false (hg_http_tokens_match (t, "Bearer " TOKEN_A "x", partner, sizeof (partner)));
    assert_false (hg_http_tokens_match (t, "Bearer tok-lab-a", partner, sizeof (partner)));
    /* the partner name is not a token */
    assert_false (hg_http_tokens_match (t, "Bearer lab-a", partner, sizeof (partner)));
    assert_string_equal (partner, "untouched");
    assert_false (hg_http_tokens_match (NULL, "Bearer " TOKEN_A, partner, sizeof (partner)));
    hg_http_tokens_destroy (&t);
    assert_null (t);
    hg_http_tokens_destroy (&t); /* NULL-safe */

    /* a partner name of exactly the maximum length */
    char line[512], longest[HG_FHIR_HTTP_PARTNER_MAX + 2];
    memset (longest, 'p', HG_FHIR_HTTP_PARTNER_MAX);
    longest[HG_FHIR_HTTP_PARTNER_MAX] = '\0';
    snprintf (line, sizeof (line), "%s %s\n", TOKEN_A, longest);
    t = s_parse (line, &err);
    assert_non_null (t);
    assert_true (hg_http_tokens_match (t, "Bearer " TOKEN_A, partner, sizeof (partner)));
    assert_string_equal (partner, longest);
    hg_http_tokens_destroy (&t);
    longest[HG_FHIR_HTTP_PARTNER_MAX] = 'p';
    longest[HG_FHIR_HTTP_PARTNER_MAX + 1] = '\0';
    snprintf (line, sizeof (line), "%s %s\n", TOKEN_A, longest);
    s_assert_parse_fails (line, strlen (line), "tokens.txt line 1: partner name must be 1-128");

    /* many partners: the table grows */
    char *many = calloc (100, 64);
    size_t off = 0;
    for (int i = 0; i < 100; i++) {
        off += (size_t) sprintf (many + off, "tok-many-%012d partner-%d\n", i, i);
    }
    t = s_parse (many, &err);
    assert_non_null (t);
    assert_int_equal (hg_http_tokens_count (t), 100);
    assert_true (
        hg_http_tokens_match (t, "Bearer tok-many-000000000077", partner, sizeof (partner)));
    assert_string_equal (partner, "partner-77");
    hg_http_tokens_destroy (&t);
    free (many);
}

static void
test_tokens_parse_errors (void **state)
{
    (void) state;
    s_assert_parse_fails ("", 0, "tokens.txt holds no token");
    s_assert_parse_fails ("# only comments\n\n  \t\n", 19, "holds no token");
    s_assert_parse_fails ("#c\n" TOKEN_A "\n", 4 + strlen (TOKEN_A),
                          "tokens.txt line 2: expected '<token> <partner>'");
    s_assert_parse_fails (TOKEN_A " lab-a extra\n", strlen (TOKEN_A) + 13,
                          "line 1: expected '<token> <partner>'");
    s_assert_parse_fails (TOKEN_A " #lab-a\n", strlen (TOKEN_A) + 8,
                          "line 1: expected '<token> <partner>'");
    s_assert_parse_fails ("\n\nshort-token lab-a\n", 20,
                          "line 3: token is shorter than 16 characters");
    s_assert_parse_fails (TOKEN_A " lab/a\n", strlen (TOKEN_A) + 7,
                          "line 1: partner name must be 1-128 characters without '/'");
    s_assert_parse_fails (TOKEN_A " lab\001a\n", strlen (TOKEN_A) + 7, "control characters");
    s_assert_parse_fails (TOKEN_A " a\n" TOKEN_B " b\n" TOKEN_A " c\n", 3 * strlen (TOKEN_A) + 9,
                          "line 3: token repeats an earlier line's");
    const char nul[] = TOKEN_A " lab-a\n\0" TOKEN_B " lab-b\n";
    s_assert_parse_fails (nul, sizeof (nul) - 1, "holds a NUL byte");

    hg_err_t err = {0};
    assert_null (hg_http_tokens_load ("/nonexistent/hg-tokens", &err));
    assert_true (strstr (err.msg, "cannot read http tokens file /nonexistent/hg-tokens") != NULL);
}

/* Creates a file from the mkstemp template path holding text; its fd. */
static int
s_temp_file (char *path, const char *text)
{
    int fd = mkstemp (path);
    assert_true (fd >= 0);
    assert_int_equal (write (fd, text, strlen (text)), (ssize_t) strlen (text));
    return fd;
}

/* A file is read whole, NUL-terminated, up to HG_FHIR_HTTP_FILE_MAX bytes. */
static void
test_tokens_load (void **state)
{
    (void) state;
    char path[] = "/tmp/hg-tokens-XXXXXX";
    const char *text = "# lab\n" TOKEN_A " lab-a\n" TOKEN_B " lab-b\n";
    int fd = s_temp_file (path, text);
    hg_err_t err = {0};
    hg_http_tokens_t *t = hg_http_tokens_load (path, &err);
    assert_non_null (t);
    assert_int_equal (hg_http_tokens_count (t), 2);
    char partner[HG_FHIR_HTTP_PARTNER_MAX + 1];
    assert_true (hg_http_tokens_match (t, "Bearer " TOKEN_B, partner, sizeof (partner)));
    assert_string_equal (partner, "lab-b");
    hg_http_tokens_destroy (&t);
    assert_int_equal (hg_http_tokens_count (NULL), 0);

    char *buf = NULL;
    size_t len = 0;
    assert_int_equal (hg_http_file_read (path, "http tokens file", &buf, &len, &err), 0);
    assert_int_equal (len, strlen (text));
    assert_string_equal (buf, text);
    free (buf);

    /* a file over the limit is refused, named */
    char *big = malloc (HG_FHIR_HTTP_FILE_MAX + 2);
    memset (big, 'x', HG_FHIR_HTTP_FILE_MAX + 2);
    assert_int_equal (pwrite (fd, big, HG_FHIR_HTTP_FILE_MAX + 2, 0),
                      (ssize_t) HG_FHIR_HTTP_FILE_MAX + 2);
    free (big);
    close (fd);
    assert_true (hg_http_file_read (path, "http_tls_cert", &buf, &len, &err) < 0);
    assert_null (buf);
    assert_true (strstr (err.msg, "http_tls_cert") && strstr (err.msg, "is larger than"));
    assert_null (hg_http_tokens_load (path, &err));
    unlink (path);
}

/* The table in force: a reload swaps in the new file; one that does not
 * load keeps the old table. */
static void
test_auth_reload (void **state)
{
    (void) state;
    char path[] = "/tmp/hg-auth-XXXXXX";
    close (s_temp_file (path, TOKEN_A " lab-a\n"));
    hg_err_t err = {0};
    hg_http_auth_t *auth = hg_http_auth_open (path, &err);
    assert_non_null (auth);
    assert_int_equal (hg_http_auth_count (auth), 1);
    char partner[HG_FHIR_HTTP_PARTNER_MAX + 1];
    assert_true (hg_http_auth_match (auth, "Bearer " TOKEN_A, partner, sizeof (partner)));
    assert_string_equal (partner, "lab-a");
    assert_false (hg_http_auth_match (auth, "Bearer " TOKEN_B, partner, sizeof (partner)));

    FILE *f = fopen (path, "w");
    fprintf (f, TOKEN_B " lab-b\ntok-lab-c-000000000000 lab-c\n");
    fclose (f);
    size_t partners = 0;
    assert_int_equal (hg_http_auth_reload (auth, &partners, &err), 0);
    assert_int_equal (partners, 2);
    assert_false (hg_http_auth_match (auth, "Bearer " TOKEN_A, partner, sizeof (partner)));
    assert_true (hg_http_auth_match (auth, "Bearer " TOKEN_B, partner, sizeof (partner)));
    assert_string_equal (partner, "lab-b");

    /* broken, then gone: the error says why, lab-b still matches */
    f = fopen (path, "w");
    fprintf (f, TOKEN_A "\n");
    fclose (f);
    partners = 99;
    assert_true (hg_http_auth_reload (auth, &partners, &err) < 0);
    assert_int_equal (partners, 99);
    assert_non_null (strstr (err.msg, "line 1: expected '<token> <partner>'"));
    unlink (path);
    assert_true (hg_http_auth_reload (auth, NULL, NULL) < 0);
    assert_true (hg_http_auth_match (auth, "Bearer " TOKEN_B, partner, sizeof (partner)));
    assert_int_equal (hg_http_auth_count (auth), 2);
    hg_http_auth_close (&auth);
    assert_null (auth);
    hg_http_auth_close (&auth); /* NULL-safe */

    assert_null (hg_http_auth_open (path, &err));
    assert_non_null (strstr (err.msg, "cannot read http tokens file"));
}

/* The analysts' file (issue 14): tokens written as their hash, a role per
 * line from the rules' list (the first when none is given), an empty file
 * allowed; the plain form still works. */
static const char *const s_roles[] = {"aggregate", "dp", NULL};
static const hg_http_tokens_rules_t s_rules = {.roles = s_roles, .allow_empty = true};

static void
test_tokens_hashed_roles (void **state)
{
    (void) state;
    char ha[HG_HTTP_HASH_TEXT_LEN + 1], hb[HG_HTTP_HASH_TEXT_LEN + 1], text[512];
    hg_http_token_hash_text (TOKEN_A, strlen (TOKEN_A), ha);
    hg_http_token_hash_text (TOKEN_B, strlen (TOKEN_B), hb);
    assert_int_equal (strlen (ha), HG_HTTP_HASH_TEXT_LEN);
    assert_memory_equal (ha, "blake2b:", 8);
    assert_string_not_equal (ha, hb);
    snprintf (text, sizeof (text), "# analysts\n%s alice\n%s bob dp # the DP one\n", ha, hb);
    hg_err_t err = {0};
    hg_http_tokens_t *t = hg_http_tokens_parse_rules (text, strlen (text), "analysts", &s_rules,
                                                      &err);
    assert_non_null (t);
    char name[HG_FHIR_HTTP_PARTNER_MAX + 1], role[HG_HTTP_ROLE_MAX + 1];
    assert_true (hg_http_tokens_match_role (t, "Bearer " TOKEN_A, name, sizeof (name), role,
                                            sizeof (role)));
    assert_string_equal (name, "alice");
    assert_string_equal (role, "aggregate");
    assert_true (hg_http_tokens_match_role (t, "Bearer " TOKEN_B, name, sizeof (name), role,
                                            sizeof (role)));
    assert_string_equal (name, "bob");
    assert_string_equal (role, "dp");
    /* the hash itself is no token */
    snprintf (text, sizeof (text), "Bearer %s", ha);
    assert_false (hg_http_tokens_match_role (t, text, name, sizeof (name), role, sizeof (role)));
    assert_false (hg_http_tokens_match_role (t, "Bearer " TOKEN_A "0", name, sizeof (name), role,
                                             sizeof (role)));
    hg_http_tokens_destroy (&t);

    /* plain tokens under rules too; an empty file is fine under allow_empty */
    t = hg_http_tokens_parse_rules (TOKEN_A " carol dp\n", strlen (TOKEN_A " carol dp\n"), "a",
                                    &s_rules, &err);
    assert_true (hg_http_tokens_match_role (t, "Bearer " TOKEN_A, name, sizeof (name), role,
                                            sizeof (role)));
    assert_string_equal (role, "dp");
    hg_http_tokens_destroy (&t);
    t = hg_http_tokens_parse_rules ("# nobody yet\n", 13, "a", &s_rules, &err);
    assert_non_null (t);
    assert_int_equal (hg_http_tokens_count (t), 0);
    assert_false (hg_http_tokens_match_role (t, "Bearer " TOKEN_A, name, sizeof (name), role,
                                             sizeof (role)));
    hg_http_tokens_destroy (&t);

    /* errors name the line */
    static const struct {
        const char *text, *why;
    } bad[] = {
        {TOKEN_A " alice root\n", "line 1: role 'root' is not one of aggregate, dp"},
        {"blake2b:abcd alice\n", "line 1: a hashed token is 'blake2b:' and 64 hex digits"},
        {"blake2b:zz00000000000000000000000000000000000000000000000000000000000000 a\n",
         "64 hex digits"},
        {TOKEN_A " alice dp extra\n", "line 1: expected '<token> <name> [<role>]'"},
    };
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++) {
        err = (hg_err_t) {0};
        assert_null (hg_http_tokens_parse_rules (bad[i].text, strlen (bad[i].text), "analysts",
                                                 &s_rules, &err));
        if (!strstr (err.msg, bad[i].why)) {
            fail_msg ("'%s': error '%s' lacks '%s'", bad[i].text, err.msg, bad[i].why);
        }
    }
    /* a token and its hash are the same token: refused as a repeat */
    snprintf (text, sizeof (text), "%s alice\n" TOKEN_A " bob\n", ha);
    assert_null (hg_http_tokens_parse_rules (text, strlen (text), "analysts", &s_rules, &err));
    assert_non_null (strstr (err.msg, "line 2: token repeats"));
    /* without rules no role column (the collector's file stays as it was) */
    assert_null (hg_http_tokens_parse (TOKEN_A " lab-a dp\n", strlen (TOKEN_A " lab-a dp\n"),
                                       "tokens", &err));
    assert_null (hg_http_tokens_parse ("", 0, "tokens", &err));
    assert_non_null (strstr (err.msg, "holds no token"));
}

/* PEM files of an HTTPS endpoint: both or neither, PEM, not encrypted. */
static void
test_tls_read (void **state)
{
    (void) state;
    char cert[] = "/tmp/hg-cert-XXXXXX", key[] = "/tmp/hg-key-XXXXXX";
    close (s_temp_file (cert, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"));
    close (s_temp_file (key, "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"));
    char *c = NULL, *k = NULL;
    size_t kl = 0;
    hg_err_t err = {0};
    assert_int_equal (hg_http_tls_read (NULL, "", "a_cert", "a_key", &c, &k, &kl, &err), 0);
    assert_null (c);
    assert_true (hg_http_tls_read (cert, NULL, "a_cert", "a_key", &c, &k, &kl, &err) < 0);
    assert_non_null (strstr (err.msg, "a_cert is set but a_key is not"));
    chmod (key, 0600);
    assert_int_equal (hg_http_tls_read (cert, key, "a_cert", "a_key", &c, &k, &kl, &err), 0);
    assert_non_null (strstr (c, "BEGIN CERTIFICATE"));
    assert_int_equal (kl, strlen (k));
    sodium_memzero (k, kl);
    free (k);
    free (c);
    chmod (key, 0644);
    assert_int_equal (hg_http_tls_read (cert, key, "a_cert", "a_key", &c, &k, &kl, &err), 1);
    free (k);
    free (c);
    assert_true (hg_http_tls_read (key, cert, "a_cert", "a_key", &c, &k, &kl, &err) < 0);
    assert_non_null (strstr (err.msg, "a_cert"));
    assert_non_null (strstr (err.msg, "is not a PEM certificate"));
    assert_null (c);
    assert_null (k);
    unlink (cert);
    unlink (key);
}

/* libsodium, once for the whole group. */
static int
s_sodium_setup (void **state)
{
    (void) state;
    return sodium_init () < 0 ? -1 : 0;
}

HG_TEST_MAIN_GROUP (s_sodium_setup, NULL, cmocka_unit_test (test_tokens_parse),
                    cmocka_unit_test (test_tokens_hashed_roles), cmocka_unit_test (test_tls_read),
                    cmocka_unit_test (test_tokens_parse_errors),
                    cmocka_unit_test (test_tokens_load), cmocka_unit_test (test_auth_reload))
