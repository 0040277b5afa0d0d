/*
 * test_fhir_http.c -- FHIR over HTTP against real HTTP on 127.0.0.1: the test
 * thread plays the collector (polls the fd, takes, answers) while client
 * threads send requests with a tiny socket HTTP client.
 */
#include "unit_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <json-c/json.h>
#include <sodium.h>

#include "fhir_http.h"

#define TOKEN_A "tok-lab-a-0123456789abcdef"
#define TOKEN_B "tok-lab-b-fedcba9876543210"
#define MAX_BODY 4096

static const char *BUNDLE =
    "{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":[{\"resource\":"
    "{\"resourceType\":\"Patient\",\"id\":\"p1\"}}]}";

/* ---- a tiny HTTP/1.1 client ------------------------------------------------ */

typedef struct {
    int port;
    const char *method, *path, *auth, *content_type, *batch_id;
    const char *body;
    size_t body_len;
    const char *content_length; /* override: sent as is, body not sent */
    bool chunked;               /* send body in chunks of 1000 bytes */
    /* results */
    int status;
    char headers[4096];
    char body_out[4096];
    pthread_t thread;
} call_t;

static void
s_send_all (int fd, const char *buf, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t w = send (fd, buf + off, len - off, MSG_NOSIGNAL);
        if (w <= 0) {
            return; /* server closed early: read what it answered */
        }
        off += (size_t) w;
    }
}

static void *
s_call_run (void *arg)
{
    call_t *c = arg;
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons ((uint16_t) c->port)};
    inet_pton (AF_INET, "127.0.0.1", &addr.sin_addr);
    if (connect (fd, (struct sockaddr *) &addr, sizeof (addr)) < 0) {
        close (fd);
        c->status = -1;
        return NULL;
    }
    char head[2048];
    int n = snprintf (head, sizeof (head),
                      "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n",
                      c->method ? c->method : "POST", c->path ? c->path : "/fhir");
    if (c->auth) {
        n += snprintf (head + n, sizeof (head) - (size_t) n, "Authorization: %s\r\n", c->auth);
    }
    if (c->content_type) {
        n += snprintf (head + n, sizeof (head) - (size_t) n, "Content-Type: %s\r\n",
                       c->content_type);
    }
    if (c->batch_id) {
        n += snprintf (head + n, sizeof (head) - (size_t) n, "X-Batch-Id: %s\r\n", c->batch_id);
    }
    if (c->content_length) {
        n += snprintf (head + n, sizeof (head) - (size_t) n, "Content-Length: %s\r\n\r\n",
                       c->content_length);
    }
    else if (c->chunked) {
        n += snprintf (head + n, sizeof (head) - (size_t) n,
                       "Transfer-Encoding: chunked\r\n\r\n");
    }
    else {
        n += snprintf (head + n, sizeof (head) - (size_t) n, "Content-Length: %zu\r\n\r\n",
                       c->body_len);
    }
    s_send_all (fd, head, (size_t) n);
    if (c->chunked) {
        for (size_t off = 0; off < c->body_len; off += 1000) {
            size_t len = c->body_len - off < 1000 ? c->body_len - off : 1000;
            char sz[32];
            int sl = snprintf (sz, sizeof (sz), "%zx\r\n", len);
            s_send_all (fd, sz, (size_t) sl);
            s_send_all (fd, c->body + off, len);
            s_send_all (fd, "\r\n", 2);
        }
        s_send_all (fd, "0\r\n\r\n", 5);
    }
    else if (!c->content_length && c->body_len) {
        s_send_all (fd, c->body, c->body_len);
    }
    static __thread char resp[16384];
    size_t got = 0;
    for (;;) {
        ssize_t r = recv (fd, resp + got, sizeof (resp) - 1 - got, 0);
        if (r <= 0) {
            break;
        }
        got += (size_t) r;
    }
    resp[got] = '\0';
    close (fd);
    c->status = 0;
    sscanf (resp, "HTTP/1.1 %d", &c->status);
    char *sep = strstr (resp, "\r\n\r\n");
    if (sep) {
        snprintf (c->headers, sizeof (c->headers), "%.*s", (int) (sep - resp), resp);
        snprintf (c->body_out, sizeof (c->body_out), "%s", sep + 4);
    }
    return NULL;
}

static void
s_call_start (call_t *c)
{
    assert_int_equal (pthread_create (&c->thread, NULL, s_call_run, c), 0);
}

static void
s_call_wait (call_t *c)
{
    pthread_join (c->thread, NULL);
}

/* Value of header name in c->headers (case-insensitive name), "" if absent. */
static const char *
s_header (const call_t *c, const char *name, char *out, size_t cap)
{
    out[0] = '\0';
    const char *p = c->headers;
    size_t nl = strlen (name);
    while ((p = strstr (p, "\r\n")) != NULL) {
        p += 2;
        if (strncasecmp (p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ') {
                v++;
            }
            size_t len = strcspn (v, "\r\n");
            snprintf (out, cap, "%.*s", (int) len, v);
            break;
        }
    }
    return out;
}

/* Asserts the body is an OperationOutcome with one issue of these values. */
static void
s_assert_outcome (const call_t *c, const char *severity, const char *code,
                  const char *diagnostics_part)
{
    char ct[128];
    assert_string_equal (s_header (c, "Content-Type", ct, sizeof (ct)), "application/fhir+json");
    json_object *oo = json_tokener_parse (c->body_out);
    assert_non_null (oo);
    json_object *v, *issue, *f;
    assert_true (json_object_object_get_ex (oo, "resourceType", &v));
    assert_string_equal (json_object_get_string (v), "OperationOutcome");
    assert_true (json_object_object_get_ex (oo, "issue", &v));
    assert_int_equal (json_object_array_length (v), 1);
    issue = json_object_array_get_idx (v, 0);
    assert_true (json_object_object_get_ex (issue, "severity", &f));
    assert_string_equal (json_object_get_string (f), severity);
    assert_true (json_object_object_get_ex (issue, "code", &f));
    assert_string_equal (json_object_get_string (f), code);
    assert_true (json_object_object_get_ex (issue, "diagnostics", &f));
    if (!strstr (json_object_get_string (f), diagnostics_part)) {
        fail_msg ("diagnostics '%s' lacks '%s'", json_object_get_string (f), diagnostics_part);
    }
    json_object_put (oo);
}

/* ---- fixtures -------------------------------------------------------------- */

static char s_tokens_path[64];

static void
s_write_file (char *path, size_t cap, const char *text)
{
    snprintf (path, cap, "/tmp/hg-fhir-http-XXXXXX");
    int fd = mkstemp (path);
    assert_true (fd >= 0);
    assert_int_equal (write (fd, text, strlen (text)), (ssize_t) strlen (text));
    close (fd);
}

static void
s_rewrite_file (const char *path, const char *text)
{
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    assert_int_equal (fwrite (text, 1, strlen (text), f), strlen (text));
    assert_int_equal (fclose (f), 0);
}

static unsigned s_body_timeout_s; /* of the next start */

static hg_fhir_http_t *
s_start_budget (int *port, unsigned timeout_ms, const char *tokens_path, size_t inflight)
{
    hg_err_t err = {0};
    hg_fhir_http_t *h = NULL;
    for (int p = 39300 + (getpid () % 200); p < 39700 && !h; p++) {
        char listen[32];
        snprintf (listen, sizeof (listen), "127.0.0.1:%d", p);
        hg_fhir_http_opts_t o = {.listen = listen,
                                 .tokens_file = tokens_path,
                                 .max_body_bytes = MAX_BODY,
                                 .max_inflight_bytes = inflight,
                                 .body_timeout_s = s_body_timeout_s,
                                 .answer_timeout_ms = timeout_ms};
        h = hg_fhir_http_start (&o, &err);
        *port = p;
    }
    if (!h) {
        fail_msg ("cannot start: %s", err.msg);
    }
    return h;
}

static hg_fhir_http_t *
s_start_with (int *port, unsigned timeout_ms, const char *tokens_path)
{
    return s_start_budget (port, timeout_ms, tokens_path, 0);
}

static hg_fhir_http_t *
s_start (int *port, unsigned timeout_ms)
{
    return s_start_with (port, timeout_ms, s_tokens_path);
}

static bool
s_readable (hg_fhir_http_t *h, int timeout_ms)
{
    struct pollfd p = {.fd = hg_fhir_http_fd (h), .events = POLLIN};
    return poll (&p, 1, timeout_ms) == 1;
}

/* Plays the collector: waits for one request and takes it. */
static hg_http_request_t *
s_take_one (hg_fhir_http_t *h)
{
    assert_true (s_readable (h, 5000));
    hg_http_request_t *req[4];
    assert_int_equal (hg_fhir_http_take (h, req, 4, 0), 1);
    assert_false (s_readable (h, 0));
    return req[0];
}

static void
s_expected_batch_id (const char *body, char *out, size_t cap)
{
    unsigned char hash[16];
    char hex[33];
    crypto_generichash (hash, sizeof (hash), (const unsigned char *) body, strlen (body), NULL,
                        0);
    sodium_bin2hex (hex, sizeof (hex), hash, sizeof (hash));
    snprintf (out, cap, "http-%s", hex);
}

static call_t
s_post (int port, const char *auth, const char *ct, const char *body)
{
    call_t c = {.port = port,
                .auth = auth,
                .content_type = ct,
                .body = body,
                .body_len = body ? strlen (body) : 0};
    return c;
}

static int
s_group_setup (void **state)
{
    (void) state;
    if (sodium_init () < 0) {
        return -1;
    }
    char path[64];
    s_write_file (path, sizeof (path),
                  "# partner tokens\n\n" TOKEN_A " lab-a\n  " TOKEN_B "\tlab-b   # second\n");
    snprintf (s_tokens_path, sizeof (s_tokens_path), "%s", path);
    return 0;
}

static int
s_group_teardown (void **state)
{
    (void) state;
    unlink (s_tokens_path);
    return 0;
}

/* ---- tests ----------------------------------------------------------------- */

static void
s_assert_start_fails (const char *listen, const char *tokens_text, size_t max_body,
                      const char *msg_part)
{
    char path[64] = "/nonexistent/hg-tokens";
    if (tokens_text) {
        s_write_file (path, sizeof (path), tokens_text);
    }
    hg_err_t err = {0};
    hg_fhir_http_opts_t o = {.listen = listen, .tokens_file = path, .max_body_bytes = max_body};
    assert_null (hg_fhir_http_start (&o, &err));
    if (!strstr (err.msg, msg_part)) {
        fail_msg ("error '%s' lacks '%s'", err.msg, msg_part);
    }
    assert_true (err.code < 0);
    if (tokens_text) {
        unlink (path);
    }
}

static void
test_start_errors (void **state)
{
    (void) state;
    const char *good = TOKEN_A " lab-a\n";
    s_assert_start_fails ("localhost:80", good, 10, "'localhost:80' is not IPv4:PORT");
    s_assert_start_fails ("127.0.0.1", good, 10, "is not IPv4:PORT");
    s_assert_start_fails ("127.0.0.1:70000", good, 10, "is not IPv4:PORT");
    s_assert_start_fails ("127.0.0.1:39299", good, 0, "max_body_bytes must be positive");
    s_assert_start_fails ("127.0.0.1:39299", NULL, 10, "cannot read http tokens file");
    s_assert_start_fails ("127.0.0.1:39299", "# only\n" TOKEN_A "\n", 10,
                          "line 2: expected '<token> <partner>'");
    s_assert_start_fails ("127.0.0.1:39299", "short lab-a\n", 10,
                          "line 1: token is shorter than 16 characters");
    s_assert_start_fails ("127.0.0.1:39299", TOKEN_A " a/b\n", 10,
                          "line 1: partner name must be 1-128 characters without '/'");
    s_assert_start_fails ("127.0.0.1:39299", TOKEN_A " a\n" TOKEN_A " b\n", 10,
                          "line 2: token repeats an earlier line's");
    s_assert_start_fails ("127.0.0.1:39299", "# nothing\n\n", 10, "holds no token");
}

static void
test_accepted_bundle (void **state)
{
    (void) state;
    int port;
    hg_fhir_http_t *h = s_start (&port, 0);
    call_t c = s_post (port, "Bearer " TOKEN_A, "application/fhir+json; charset=utf-8", BUNDLE);
    s_call_start (&c);
    hg_http_request_t *r = s_take_one (h);
    char bid[64];
    s_expected_batch_id (BUNDLE, bid, sizeof (bid));
    assert_string_equal (r->partner, "lab-a");
    assert_string_equal (r->batch_id, bid);
    assert_string_equal (r->content_type, "application/fhir+json");
    assert_string_equal (r->format, "fhir");
    assert_int_equal (r->body_len, strlen (BUNDLE));
    assert_memory_equal (r->body, BUNDLE, strlen (BUNDLE));
    char mid[128];
    snprintf (mid, sizeof (mid), "lab-a/%s", bid);
    hg_fhir_http_answer (h, r, HG_FHIR_HTTP_ACCEPTED, mid, NULL, 0);
    s_call_wait (&c);
    assert_int_equal (c.status, 202);
    char expect[160];
    snprintf (expect, sizeof (expect), "accepted as %s", mid);
    s_assert_outcome (&c, "information", "informational", expect);
    hg_fhir_http_stop (&h);
    assert_null (h);
}

/* The same body gives the same batch id (re-POST is idempotent); the token
 * decides the partner; X-Batch-Id wins over the hash; DUPLICATE is 200. */
static void
test_idempotent_and_partners (void **state)
{
    (void) state;
    int port;
    hg_fhir_http_t *h = s_start (&port, 0);
    const char *patient = "{\"resourceType\":\"Patient\",\"id\":\"p2\"}";
    char bid[64];
    s_expected_batch_id (patient, bid, sizeof (bid));

    call_t c1 = s_post (port, "bearer   " TOKEN_B, "application/json", patient);
    s_call_start (&c1);
    hg_http_request_t *r1 = s_take_one (h);
    assert_string_equal (r1->partner, "lab-b");
    assert_string_equal (r1->batch_id, bid);
    assert_string_equal (r1->content_type, "application/json");
    hg_fhir_http_answer (h, r1, HG_FHIR_HTTP_ACCEPTED, "lab-b/x", NULL, 0);
    s_call_wait (&c1);
    assert_int_equal (c1.status, 202);

    call_t c2 = s_post (port, "Bearer " TOKEN_B, "application/json", patient);
    s_call_start (&c2);
    hg_http_request_t *r2 = s_take_one (h);
    assert_string_equal (r2->batch_id, bid);
    assert_string_equal (r2->partner, "lab-b");
    char mid[128];
    snprintf (mid, sizeof (mid), "lab-b/%s", bid);
    hg_fhir_http_answer (h, r2, HG_FHIR_HTTP_DUPLICATE, mid, NULL, 0);
    s_call_wait (&c2);
    assert_int_equal (c2.status, 200);
    char expect[160];
    snprintf (expect, sizeof (expect), "already accepted as %s", mid);
    s_assert_outcome (&c2, "information", "informational", expect);

    call_t c3 = s_post (port, "Bearer " TOKEN_A, "application/fhir+json", patient);
    c3.batch_id = "lab-a-2026-11-29-001";
    s_call_start (&c3);
    hg_http_request_t *r3 = s_take_one (h);
    assert_string_equal (r3->partner, "lab-a");
    assert_string_equal (r3->batch_id, "lab-a-2026-11-29-001");
    hg_fhir_http_answer (h, r3, HG_FHIR_HTTP_ACCEPTED, "lab-a/lab-a-2026-11-29-001", NULL, 0);
    s_call_wait (&c3);
    assert_int_equal (c3.status, 202);
    s_assert_outcome (&c3, "information", "informational",
                      "accepted as lab-a/lab-a-2026-11-29-001");
    hg_fhir_http_stop (&h);
}

static void
test_busy_and_rejected (void **state)
{
    (void) state;
    int port;
    hg_fhir_http_t *h = s_start (&port, 0);
    call_t c = s_post (port, "Bearer " TOKEN_A, "application/fhir+json", BUNDLE);
    s_call_start (&c);
    hg_http_request_t *r = s_take_one (h);
    hg_fhir_http_answer (h, r, HG_FHIR_HTTP_BUSY, NULL, "pipeline is saturated; retry later", 7);
    s_call_wait (&c);
    assert_int_equal (c.status, 503);
    char v[64];
    assert_string_equal (s_header (&c, "Retry-After", v, sizeof (v)), "7");
    s_assert_outcome (&c, "error", "transient", "pipeline is saturated; retry later");

    /* retry_after_s 0 still tells the partner to wait a second */
    call_t c0 = s_post (port, "Bearer " TOKEN_A, "application/fhir+json", BUNDLE);
    s_call_start (&c0);
    r = s_take_one (h);
    hg_fhir_http_answer (h, r, HG_FHIR_HTTP_BUSY, NULL, NULL, 0);
    s_call_wait (&c0);
    assert_int_equal (c0.status, 503);
    assert_string_equal (s_header (&c0, "Retry-After", v, sizeof (v)), "1");

    call_t c2 = s_post (port, "Bearer " TOKEN_A, "application/fhir+json", BUNDLE);
    s_call_start (&c2);
    r = s_take_one (h);
    hg_fhir_http_answer (h, r, HG_FHIR_HTTP_REJECTED, "lab-a/x",
                         "payload exceeds max_payload_bytes \"quoted\"", 0);
    s_call_wait (&c2);
    assert_int_equal (c2.status, 400);
    /* json-c escapes the quotes; the parsed value has them back */
    s_assert_outcome (&c2, "error", "invalid", "payload exceeds max_payload_bytes \"quoted\"");
    hg_fhir_http_stop (&h);
}

static void
test_ndjson (void **state)
{
    (void) state;
    int port;
    hg_fhir_http_t *h = s_start (&port, 0);
    const char *nd = "{\"resourceType\":\"Patient\",\"id\":\"a\"}\r\n\n"
                     "{\"resourceType\":\"Observation\",\"id\":\"b\"}\n";
    call_t c = s_post (port, "Bearer " TOKEN_A, "application/fhir+ndjson", nd);
    s_call_start (&c);
    hg_http_request_t *r = s_take_one (h);
    assert_string_equal (r->content_type, "application/fhir+ndjson");
    assert_string_equal (r->format, "fhir");
    assert_int_equal (r->body_len, strlen (nd));
    hg_fhir_http_answer (h, r, HG_FHIR_HTTP_ACCEPTED, "lab-a/nd", NULL, 0);
    s_call_wait (&c);
    assert_int_equal (c.status, 202);

    call_t bad = s_post (port, "Bearer " TOKEN_A, "application/x-ndjson",
                         "{\"resourceType\":\"Patient\"}\n{\"id\":\"no type\"}\n");
    s_call_start (&bad);
    s_call_wait (&bad);
    assert_int_equal (bad.status, 400);
    s_assert_outcome (&bad, "error", "structure",
                      "NDJSON line 2: a JSON object without a \"resourceType\"");
    assert_false (s_readable (h, 0));
    hg_fhir_http_stop (&h);
}

/* Every refusal made by the module itself: right status and outcome, and
 * nothing reaches the collector. */
static void
test_refusals_queue_nothing (void **state)
{
    (void) state;
    int port;
    hg_fhir_http_t *h = s_start (&port, 0);
    char v[128];
    struct {
        call_t c;
        int status;
        const char *code, *diag;
    } cases[] = {
        {s_post (port, NULL, "application/fhir+json", BUNDLE), 401, "login",
         "missing or unknown bearer token"},
        {s_post (port, "Bearer tok-unknown-0000000000000000", "application/fhir+json", BUNDLE),
         401, "login", "missing or unknown bearer token"},
        {s_post (port, "Basic " TOKEN_A, "application/fhir+json", BUNDLE), 401, "login",
         "bearer token"},
        {s_post (port, "Bearer " TOKEN_A, "text/plain", BUNDLE), 415, "not-supported",
         "content type 'text/plain' is not supported"},
        {s_post (port, "Bearer " TOKEN_A, NULL, BUNDLE), 415, "not-supported",
         "content type '(none)'"},
        {s_post (port, "Bearer " TOKEN_A, "application/fhir+json", ""), 400, "required",
         "empty body"},
        {s_post (port, "Bearer " TOKEN_A, "application/fhir+json", "{\"resourceType\":"), 400,
         "structure", "not valid JSON"},
        {s_post (port, "Bearer " TOKEN_A, "application/fhir+json", "{\"id\":1} x"), 400,
         "structure", "unexpected data after the JSON value at byte 9"},
        {s_post (port, "Bearer " TOKEN_A, "application/fhir+json", "[1,2]"), 400, "structure",
         "not a JSON object"},
        {s_post (port, "Bearer " TOKEN_A, "application/fhir+json",
                 "{\"resourceType\":\"Bundle\",\"type\":\"searchset\"}"),
         400, "structure", "Bundle.type 'searchset' is not accepted"},
    };
    size_t n = sizeof (cases) / sizeof (cases[0]);
    for (size_t i = 0; i < n; i++) {
        s_call_start (&cases[i].c);
        s_call_wait (&cases[i].c);
        if (cases[i].c.status != cases[i].status) {
            fail_msg ("case %zu: status %d, expected %d", i, cases[i].c.status, cases[i].status);
        }
        s_assert_outcome (&cases[i].c, "error", cases[i].code, cases[i].diag);
        assert_false (s_readable (h, 0));
    }
    assert_string_equal (s_header (&cases[0].c, "WWW-Authenticate", v, sizeof (v)),
                         "Bearer realm=\"hourglass\"");

    call_t get = s_post (port, "Bearer " TOKEN_A, NULL, NULL);
    get.method = "GET";
    s_call_start (&get);
    s_call_wait (&get);
    assert_int_equal (get.status, 405);
    assert_string_equal (s_header (&get, "Allow", v, sizeof (v)), "POST");
    s_assert_outcome (&get, "error", "not-supported", "method GET is not supported: use POST");

    call_t other = s_post (port, "Bearer " TOKEN_A, "application/fhir+json", BUNDLE);
    other.path = "/fhir/Patient";
    s_call_start (&other);
    s_call_wait (&other);
    assert_int_equal (other.status, 404);
    s_assert_outcome (&other, "error", "not-found", "no such endpoint");

    call_t badid = s_post (port, "Bearer " TOKEN_A, "application/fhir+json", BUNDLE);
    badid.batch_id = "has space";
    s_call_start (&badid);
    s_call_wait (&badid);
    assert_int_equal (badid.status, 400);
    s_assert_outcome (&badid, "error", "value", "X-Batch-Id must be 1-256 printable");

    /* a declared Content-Length over the limit: answered without the body
     * ever being sent (the client sends headers only) */
    call_t big = s_post (port, "Bearer " TOKEN_A, "application/fhir+json", NULL);
    big.content_length = "4097";
    s_call_start (&big);
    s_call_wait (&big);
    assert_int_equal (big.status, 413);
    s_assert_outcome (&big, "error", "too-costly",
                      "body of 4097 bytes exceeds the limit of 4096 bytes");

    /* chunked (no Content-Length): cut off while uploading */
    size_t len = 3 * MAX_BODY;
    char *huge = malloc (len + 1);
    memset (huge, ' ', len);
    huge[len] = '\0';
    call_t chunked = s_post (port, "Bearer " TOKEN_A, "application/fhir+json", huge);
    chunked.chunked = true;
    s_call_start (&chunked);
    s_call_wait (&chunked);
    assert_int_equal (chunked.status, 413);
    s_assert_outcome (&chunked, "error", "too-costly", "exceeds the limit of 4096 bytes");
    free (huge);

    /* exactly at the limit is fine (reaches the collector) */
    char *edge = malloc (MAX_BODY + 1);
    memset (edge, ' ', MAX_BODY);
    memcpy (edge, BUNDLE, strlen (BUNDLE));
    edge[MAX_BODY] = '\0';
    call_t ok = s_post (port, "Bearer " TOKEN_A, "application/fhir+json", edge);
    ok.chunked = true;
    s_call_start (&ok);
    hg_http_request_t *r = s_take_one (h);
    assert_int_equal (r->body_len, MAX_BODY);
    hg_fhir_http_answer (h, r, HG_FHIR_HTTP_ACCEPTED, "lab-a/edge", NULL, 0);
    s_call_wait (&ok);
    assert_int_equal (ok.status, 202);
    free (edge);
    assert_false (s_readable (h, 0));
    hg_fhir_http_stop (&h);
}

/* A padded Bundle of len bytes (owned by the caller). */
static char *
s_padded (size_t len)
{
    char *b = malloc (len + 1);
    assert_non_null (b);
    memset (b, ' ', len);
    memcpy (b, BUNDLE, strlen (BUNDLE));
    b[len] = '\0';
    return b;
}

/* The in-flight budget: bodies held at once (received, or waiting for the
 * journal) never pass it; a body that does not fit gets 503 + Retry-After
 * and reaches nobody, by Content-Length before it is sent and as a chunked
 * one arrives; the room comes back once a request is answered. */
static void
test_inflight_budget (void **state)
{
    (void) state;
    hg_err_t err = {0};
    hg_fhir_http_opts_t bad = {.listen = "127.0.0.1:39299",
                               .tokens_file = s_tokens_path,
                               .max_body_bytes = MAX_BODY,
                               .max_inflight_bytes = MAX_BODY - 1};
    assert_null (hg_fhir_http_start (&bad, &err));
    assert_non_null (strstr (err.msg, "http_inflight_bytes (4095) is below max_payload_bytes"));

    int port;
    hg_fhir_http_t *h = s_start_budget (&port, 5000, s_tokens_path, 6000);
    char *body = s_padded (4000);
    call_t a = s_post (port, "Bearer " TOKEN_A, "application/fhir+json", body);
    a.batch_id = "a";
    s_call_start (&a);
    hg_http_request_t *held = s_take_one (h); /* 4001 bytes of 6000 held */

    call_t b = s_post (port, "Bearer " TOKEN_A, "application/fhir+json", body);
    b.batch_id = "b";
    s_call_start (&b);
    s_call_wait (&b);
    assert_int_equal (b.status, 503);
    char after[16];
    assert_string_equal (s_header (&b, "Retry-After", after, sizeof (after)), "2");
    s_assert_outcome (&b, "error", "transient", "(http_inflight_bytes); this body of 4000 bytes");

    char *small = s_padded (3000);
    call_t c = s_post (port, "Bearer " TOKEN_A, "application/fhir+json", small);
    c.chunked = true;
    s_call_start (&c);
    s_call_wait (&c);
    assert_int_equal (c.status, 503);
    s_assert_outcome (&c, "error", "transient", "was not stored");
    assert_false (s_readable (h, 0)); /* neither reached the collector */

    hg_fhir_http_answer (h, held, HG_FHIR_HTTP_ACCEPTED, "lab-a/a", NULL, 0);
    s_call_wait (&a);
    assert_int_equal (a.status, 202);

    /* the room is back: the same body now fits */
    call_t b2 = s_post (port, "Bearer " TOKEN_A, "application/fhir+json", body);
    b2.batch_id = "b";
    s_call_start (&b2);
    hg_http_request_t *r = s_take_one (h);
    assert_int_equal (r->body_len, 4000);
    hg_fhir_http_answer (h, r, HG_FHIR_HTTP_ACCEPTED, "lab-a/b", NULL, 0);
    s_call_wait (&b2);
    assert_int_equal (b2.status, 202);
    free (body);
    free (small);
    hg_fhir_http_stop (&h);
}

/* A body still trickling in after body_timeout_s: the connection is closed
 * without an answer, nothing queued, and its reserved room comes back. */
static void
test_body_timeout (void **state)
{
    (void) state;
    int port;
    s_body_timeout_s = 1;
    hg_fhir_http_t *h = s_start_budget (&port, 5000, s_tokens_path, 6000);
    s_body_timeout_s = 0;
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons ((uint16_t) port)};
    inet_pton (AF_INET, "127.0.0.1", &addr.sin_addr);
    assert_int_equal (connect (fd, (struct sockaddr *) &addr, sizeof (addr)), 0);
    char head[512];
    int n = snprintf (head, sizeof (head),
                      "POST /fhir HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " TOKEN_A
                      "\r\nContent-Type: application/fhir+json\r\nContent-Length: 4000\r\n\r\n"
                      "%s",
                      BUNDLE);
    s_send_all (fd, head, (size_t) n);
    usleep (300000);
    /* its 4001 bytes are held: another 4000-byte body does not fit */
    char *body = s_padded (4000);
    call_t b = s_post (port, "Bearer " TOKEN_A, "application/fhir+json", body);
    s_call_start (&b);
    s_call_wait (&b);
    assert_int_equal (b.status, 503);
    usleep (1200000);
    s_send_all (fd, "          ", 10); /* more of the body, past the deadline */
    struct pollfd p = {fd, POLLIN, 0};
    assert_int_equal (poll (&p, 1, 3000), 1);
    char buf[256];
    assert_true (recv (fd, buf, sizeof (buf), 0) <= 0); /* closed, no answer */
    close (fd);
    assert_false (s_readable (h, 0));
    /* the room is back */
    call_t b2 = s_post (port, "Bearer " TOKEN_A, "application/fhir+json", body);
    s_call_start (&b2);
    hg_http_request_t *r = s_take_one (h);
    hg_fhir_http_answer (h, r, HG_FHIR_HTTP_ACCEPTED, "lab-a/b2", NULL, 0);
    s_call_wait (&b2);
    assert_int_equal (b2.status, 202);
    free (body);
    hg_fhir_http_stop (&h);
}

/* A compressed body is not taken (its size would say nothing of what it
 * inflates to): 415 before it is read. */
static void
test_content_encoding (void **state)
{
    (void) state;
    int port;
    hg_fhir_http_t *h = s_start (&port, 5000);
    call_t c = s_post (port, "Bearer " TOKEN_A, "application/fhir+json", NULL);
    c.content_length = "100";
    c.content_type = "application/fhir+json\r\nContent-Encoding: gzip";
    s_call_start (&c);
    s_call_wait (&c);
    assert_int_equal (c.status, 415);
    s_assert_outcome (&c, "error", "not-supported", "Content-Encoding 'gzip' is not supported");
    assert_false (s_readable (h, 0));
    hg_fhir_http_stop (&h);
}

/* No verdict in time: 504; the untaken request is withdrawn, and a verdict
 * arriving after the 504 for a taken one is harmless. */
static void
test_timeout (void **state)
{
    (void) state;
    int port;
    hg_fhir_http_t *h = s_start (&port, 300);
    call_t c = s_post (port, "Bearer " TOKEN_A, "application/fhir+json", BUNDLE);
    s_call_start (&c);
    s_call_wait (&c);
    assert_int_equal (c.status, 504);
    s_assert_outcome (&c, "error", "timeout", "did not answer within 300 ms");
    hg_http_request_t *req[2];
    assert_int_equal (hg_fhir_http_take (h, req, 2, 0), 0);
    assert_false (s_readable (h, 0));

    call_t c2 = s_post (port, "Bearer " TOKEN_A, "application/fhir+json", BUNDLE);
    s_call_start (&c2);
    hg_http_request_t *late = s_take_one (h);
    s_call_wait (&c2);
    assert_int_equal (c2.status, 504);
    assert_string_equal (late->partner, "lab-a"); /* still valid until answered */
    hg_fhir_http_answer (h, late, HG_FHIR_HTTP_ACCEPTED, "lab-a/late", NULL, 0);
    hg_fhir_http_stop (&h);
}

/* Concurrent requests are taken together (one group commit) and each
 * handler gets its own verdict. */
static void
test_concurrent_round (void **state)
{
    (void) state;
    int port;
    hg_fhir_http_t *h = s_start (&port, 0);
    enum { N = 6 };
    call_t c[N];
    char ids[N][32];
    for (int i = 0; i < N; i++) {
        snprintf (ids[i], sizeof (ids[i]), "batch-%d", i);
        c[i] = s_post (port, i % 2 ? "Bearer " TOKEN_B : "Bearer " TOKEN_A,
                       "application/fhir+json", BUNDLE);
        c[i].batch_id = ids[i];
        s_call_start (&c[i]);
    }
    hg_http_request_t *req[N];
    size_t got = 0;
    while (got < N) {
        assert_true (s_readable (h, 5000));
        got += hg_fhir_http_take (h, req + got, N - got, 0);
    }
    hg_http_request_t *extra[1];
    assert_int_equal (hg_fhir_http_take (h, extra, 1, 0), 0);
    for (size_t i = 0; i < got; i++) {
        char mid[64];
        snprintf (mid, sizeof (mid), "%s/%s", req[i]->partner, req[i]->batch_id);
        int k = atoi (req[i]->batch_id + 6);
        assert_string_equal (req[i]->partner, k % 2 ? "lab-b" : "lab-a");
        hg_fhir_http_answer (h, req[i], k == 3 ? HG_FHIR_HTTP_BUSY : HG_FHIR_HTTP_ACCEPTED, mid,
                             "saturated", 2);
    }
    for (int i = 0; i < N; i++) {
        s_call_wait (&c[i]);
        char expect[64];
        snprintf (expect, sizeof (expect), "accepted as %s/batch-%d", i % 2 ? "lab-b" : "lab-a",
                  i);
        if (i == 3) {
            assert_int_equal (c[i].status, 503);
            s_assert_outcome (&c[i], "error", "transient", "saturated");
        }
        else {
            assert_int_equal (c[i].status, 202);
            s_assert_outcome (&c[i], "information", "informational", expect);
        }
    }
    hg_fhir_http_stop (&h);
}

/* Stopping with a request still queued: the handler gives up, nothing leaks
 * or hangs. */
static void
test_stop_with_waiting_request (void **state)
{
    (void) state;
    int port;
    hg_fhir_http_t *h = s_start (&port, 0);
    call_t c = s_post (port, "Bearer " TOKEN_A, "application/fhir+json", BUNDLE);
    s_call_start (&c);
    assert_true (s_readable (h, 5000));
    hg_fhir_http_stop (&h);
    assert_null (h);
    s_call_wait (&c);
    /* the 503 is sent when MHD still flushes it, else the connection closes */
    assert_true (c.status == 503 || c.status == 0);
    hg_fhir_http_stop (&h); /* NULL-safe */
}

/* ---- reload ------------------------------------------------------------------ */

/* The table is swapped whole: a new partner is accepted, a removed one
 * refused (nothing queued), a request taken before the reload keeps its
 * partner, and a broken file keeps the table in force. */
static void
test_reload_tokens (void **state)
{
    (void) state;
    char path[64];
    s_write_file (path, sizeof (path), TOKEN_A " lab-a\n");
    int port;
    hg_fhir_http_t *h = s_start_with (&port, 0, path);
    assert_false (hg_fhir_http_tls (h));

    /* in flight: taken with the old table, answered after the reload */
    call_t inflight = s_post (port, "Bearer " TOKEN_A, "application/fhir+json", BUNDLE);
    s_call_start (&inflight);
    hg_http_request_t *r = s_take_one (h);
    assert_string_equal (r->partner, "lab-a");

    s_rewrite_file (path, "# lab-a removed, lab-c added\n"
                          "tok-lab-c-0123456789abcdef lab-c\n" TOKEN_B " lab-b\n");
    size_t partners = 0;
    hg_err_t err = {0};
    assert_int_equal (hg_fhir_http_reload_tokens (h, &partners, &err), 0);
    assert_int_equal (partners, 2);
    assert_string_equal (r->partner, "lab-a");
    hg_fhir_http_answer (h, r, HG_FHIR_HTTP_ACCEPTED, "lab-a/x", NULL, 0);
    s_call_wait (&inflight);
    assert_int_equal (inflight.status, 202);

    call_t gone = s_post (port, "Bearer " TOKEN_A, "application/fhir+json", BUNDLE);
    s_call_start (&gone);
    s_call_wait (&gone);
    assert_int_equal (gone.status, 401);
    s_assert_outcome (&gone, "error", "login", "missing or unknown bearer token");
    assert_false (s_readable (h, 0));

    call_t added = s_post (port, "Bearer tok-lab-c-0123456789abcdef", "application/fhir+json",
                           BUNDLE);
    s_call_start (&added);
    r = s_take_one (h);
    assert_string_equal (r->partner, "lab-c");
    hg_fhir_http_answer (h, r, HG_FHIR_HTTP_ACCEPTED, "lab-c/x", NULL, 0);
    s_call_wait (&added);
    assert_int_equal (added.status, 202);

    /* broken files: the error names the line; lab-c still gets in, lab-a still not */
    const char *broken[][2] = {
        {"tok-lab-c-0123456789abcdef lab-c\nshort x\n", "line 2: token is shorter"},
        {"# emptied by mistake\n", "holds no token"},
        {"tok-lab-c-0123456789abcdef\n", "line 1: expected '<token> <partner>'"},
    };
    for (size_t i = 0; i < sizeof (broken) / sizeof (broken[0]); i++) {
        s_rewrite_file (path, broken[i][0]);
        hg_err_clear (&err);
        partners = 99;
        assert_true (hg_fhir_http_reload_tokens (h, &partners, &err) < 0);
        assert_int_equal (partners, 99);
        if (!strstr (err.msg, broken[i][1]) || !strstr (err.msg, path)) {
            fail_msg ("reload error '%s' lacks '%s' or the path", err.msg, broken[i][1]);
        }
    }
    unlink (path);
    hg_err_clear (&err);
    assert_true (hg_fhir_http_reload_tokens (h, NULL, &err) < 0);
    assert_true (strstr (err.msg, "cannot read http tokens file") != NULL);
    assert_true (hg_fhir_http_reload_tokens (h, NULL, NULL) < 0); /* err may be NULL */

    call_t still = s_post (port, "Bearer tok-lab-c-0123456789abcdef", "application/fhir+json",
                           BUNDLE);
    s_call_start (&still);
    r = s_take_one (h);
    assert_string_equal (r->partner, "lab-c");
    hg_fhir_http_answer (h, r, HG_FHIR_HTTP_ACCEPTED, "lab-c/y", NULL, 0);
    s_call_wait (&still);
    assert_int_equal (still.status, 202);
    call_t still_gone = s_post (port, "Bearer " TOKEN_A, "application/fhir+json", BUNDLE);
    s_call_start (&still_gone);
    s_call_wait (&still_gone);
    assert_int_equal (still_gone.status, 401);
    assert_false (s_readable (h, 0));
    hg_fhir_http_stop (&h);
}

/* Reloads racing with requests: every request gets 202 or 401, never a
 * crash or a wrong partner (run under ASan/TSan to see more). */
static void
test_reload_under_load (void **state)
{
    (void) state;
    char path[64];
    const char *both = TOKEN_A " lab-a\n" TOKEN_B " lab-b\n";
    const char *only_b = TOKEN_B " lab-b\n";
    s_write_file (path, sizeof (path), both);
    int port;
    hg_fhir_http_t *h = s_start_with (&port, 0, path);
    enum { N = 24 };
    call_t c[N];
    for (int i = 0; i < N; i++) {
        c[i] = s_post (port, i % 2 ? "Bearer " TOKEN_B : "Bearer " TOKEN_A,
                       "application/fhir+json", BUNDLE);
        s_call_start (&c[i]);
    }
    /* reload continuously while the requests arrive (statuses are read only
     * after the client threads are joined) */
    for (int round = 0; round < 100; round++) {
        s_rewrite_file (path, round % 2 ? both : only_b);
        assert_int_equal (hg_fhir_http_reload_tokens (h, NULL, NULL), 0);
        if (s_readable (h, 5)) {
            hg_http_request_t *req[N];
            size_t got = hg_fhir_http_take (h, req, N, 0);
            for (size_t k = 0; k < got; k++) {
                assert_true (strcmp (req[k]->partner, "lab-a") == 0
                             || strcmp (req[k]->partner, "lab-b") == 0);
                hg_fhir_http_answer (h, req[k], HG_FHIR_HTTP_ACCEPTED, req[k]->partner, NULL, 0);
            }
        }
    }
    while (s_readable (h, 200)) {
        hg_http_request_t *req[N];
        size_t got = hg_fhir_http_take (h, req, N, 0);
        for (size_t k = 0; k < got; k++) {
            hg_fhir_http_answer (h, req[k], HG_FHIR_HTTP_ACCEPTED, req[k]->partner, NULL, 0);
        }
    }
    for (int i = 0; i < N; i++) {
        s_call_wait (&c[i]);
        if (i % 2) {
            assert_int_equal (c[i].status, 202); /* lab-b is in every table */
            s_assert_outcome (&c[i], "information", "informational", "accepted as lab-b");
        }
        else {
            assert_true (c[i].status == 202 || c[i].status == 401);
            if (c[i].status == 202) {
                s_assert_outcome (&c[i], "information", "informational", "accepted as lab-a");
            }
        }
    }
    hg_fhir_http_stop (&h);
    unlink (path);
}

/* ---- TLS options --------------------------------------------------------------- */

/* Starts with cert/key files holding these texts (NULL: option not set,
 * "-": a path that does not exist) and expects an error with msg_part. */
static void
s_assert_tls_fails (const char *cert_text, const char *key_text, const char *msg_part)
{
    char cert[64] = "", key[64] = "";
    if (cert_text) {
        if (strcmp (cert_text, "-") == 0) {
            snprintf (cert, sizeof (cert), "/nonexistent/cert.pem");
        }
        else {
            s_write_file (cert, sizeof (cert), cert_text);
        }
    }
    if (key_text) {
        if (strcmp (key_text, "-") == 0) {
            snprintf (key, sizeof (key), "/nonexistent/key.pem");
        }
        else {
            s_write_file (key, sizeof (key), key_text);
        }
    }
    hg_err_t err = {0};
    /* a port free right now, so the only reason to fail is the TLS setup */
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK)};
    socklen_t sl = sizeof (sa);
    assert_int_equal (bind (fd, (struct sockaddr *) &sa, sizeof (sa)), 0);
    assert_int_equal (getsockname (fd, (struct sockaddr *) &sa, &sl), 0);
    close (fd);
    char listen[32];
    snprintf (listen, sizeof (listen), "127.0.0.1:%d", ntohs (sa.sin_port));
    hg_fhir_http_opts_t o = {.listen = listen,
                             .tokens_file = s_tokens_path,
                             .max_body_bytes = 10,
                             .tls_cert = cert,
                             .tls_key = key};
    hg_fhir_http_t *h = hg_fhir_http_start (&o, &err);
    if (h) {
        hg_fhir_http_stop (&h);
        fail_msg ("started despite cert '%s' key '%s'", cert, key);
    }
    assert_true (err.code < 0);
    if (!strstr (err.msg, msg_part)) {
        fail_msg ("error '%s' lacks '%s'", err.msg, msg_part);
    }
    if (cert_text && strcmp (cert_text, "-") != 0) {
        unlink (cert);
    }
    if (key_text && strcmp (key_text, "-") != 0) {
        unlink (key);
    }
}

#define PEM_CERT "-----BEGIN CERTIFICATE-----\nMIIBnotacert\n-----END CERTIFICATE-----\n"
#define PEM_KEY "-----BEGIN PRIVATE KEY-----\nMIIEnotakey\n-----END PRIVATE KEY-----\n"

static void
test_tls_errors (void **state)
{
    (void) state;
    s_assert_tls_fails (PEM_CERT, NULL,
                        "http_tls_cert is set but http_tls_key is not: HTTPS needs both");
    s_assert_tls_fails (NULL, PEM_KEY, "http_tls_key is set but http_tls_cert is not");
    s_assert_tls_fails ("-", PEM_KEY, "cannot read http_tls_cert /nonexistent/cert.pem");
    s_assert_tls_fails (PEM_CERT, "-", "cannot read http_tls_key /nonexistent/key.pem");
    s_assert_tls_fails ("just some text\n", PEM_KEY, "is not a PEM certificate");
    s_assert_tls_fails (PEM_CERT, "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n",
                        "is not a PEM private key");
    s_assert_tls_fails (PEM_CERT,
                        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMII\n"
                        "-----END ENCRYPTED PRIVATE KEY-----\n",
                        "is encrypted with a passphrase");
    s_assert_tls_fails (PEM_CERT,
                        "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\nMII\n"
                        "-----END RSA PRIVATE KEY-----\n",
                        "is encrypted");
    /* PEM-shaped but garbage inside: GnuTLS refuses it when the daemon starts */
    s_assert_tls_fails (PEM_CERT, PEM_KEY,
                        "http_tls_cert is a PEM certificate and http_tls_key its private key");
}

HG_TEST_MAIN_GROUP (
    s_group_setup, s_group_teardown, cmocka_unit_test (test_start_errors),
    cmocka_unit_test (test_accepted_bundle), cmocka_unit_test (test_idempotent_and_partners),
    cmocka_unit_test (test_busy_and_rejected), cmocka_unit_test (test_ndjson),
    cmocka_unit_test (test_refusals_queue_nothing), cmocka_unit_test (test_timeout),
    cmocka_unit_test (test_concurrent_round), cmocka_unit_test (test_inflight_budget),
    cmocka_unit_test (test_content_encoding), cmocka_unit_test (test_body_timeout),
    cmocka_unit_test (test_stop_with_waiting_request), cmocka_unit_test (test_reload_tokens),
    cmocka_unit_test (test_reload_under_load), cmocka_unit_test (test_tls_errors))
