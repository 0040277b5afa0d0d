/*
 * json_check.c -- one pass over a JSON body, nothing built; see json_check.h.
 */
#include "json_check.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const unsigned char *p;
    size_t len, at;
    int max_depth;
    hg_json_check_t *out;
    bool failed;
} s_scan_t;

static bool
s_fail (s_scan_t *s, const char *what)
{
    if (!s->failed) {
        s->failed = true;
        snprintf (s->out->why, sizeof (s->out->why), "%s at byte %zu", what, s->at);
    }
    return false;
}

static void
s_ws (s_scan_t *s)
{
    while (s->at < s->len) {
        unsigned char c = s->p[s->at];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            return;
        }
        s->at++;
    }
}

static int
s_hex (unsigned char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Appends code point cp as UTF-8 to buf (cap bytes, *n used); *full when it
 * did not fit. */
static void
s_put (char *buf, size_t cap, size_t *n, uint32_t cp, bool *full)
{
    unsigned char u[4];
    size_t k = 0;
    if (cp < 0x80) {
        u[k++] = (unsigned char) cp;
    }
    else if (cp < 0x800) {
        u[k++] = (unsigned char) (0xc0 | (cp >> 6));
        u[k++] = (unsigned char) (0x80 | (cp & 0x3f));
    }
    else if (cp < 0x10000) {
        u[k++] = (unsigned char) (0xe0 | (cp >> 12));
        u[k++] = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
        u[k++] = (unsigned char) (0x80 | (cp & 0x3f));
    }
    else {
        u[k++] = (unsigned char) (0xf0 | (cp >> 18));
        u[k++] = (unsigned char) (0x80 | ((cp >> 12) & 0x3f));
        u[k++] = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
        u[k++] = (unsigned char) (0x80 | (cp & 0x3f));
    }
    if (buf == NULL) {
        return;
    }
    if (*n + k > cap) {
        *full = true;
        return;
    }
    memcpy (buf + *n, u, k);
    *n += k;
}

/* Four hex digits at s->at; -1 when not. */
static int32_t
s_u4 (s_scan_t *s)
{
    if (s->len - s->at < 4) {
        return -1;
    }
    int32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int h = s_hex (s->p[s->at + (size_t) i]);
        if (h < 0) {
            return -1;
        }
        v = v * 16 + h;
    }
    s->at += 4;
    return v;
}

/* A string at s->at (the opening quote); decoded into buf (cap bytes, NUL
 * added; may be NULL) when it fits, else *full. */
static bool
s_string (s_scan_t *s, char *buf, size_t cap, bool *full)
{
    size_t n = 0;
    s->at++; /* the quote */
    while (s->at < s->len) {
        unsigned char c = s->p[s->at];
        if (c == '"') {
            s->at++;
            if (buf) {
                buf[n < cap ? n : cap - 1] = '\0';
            }
            return true;
        }
        if (c < 0x20) {
            return s_fail (s, "not valid JSON: a control character inside a string");
        }
        if (c != '\\') {
            if (buf) {
                if (n + 1 < cap) {
                    buf[n++] = (char) c;
                }
                else {
                    *full = true;
                }
            }
            s->at++;
            continue;
        }
        s->at++;
        if (s->at >= s->len) {
            break;
        }
        c = s->p[s->at++];
        uint32_t cp;
        switch (c) {
        case '"':
        case '\\':
        case '/':
            cp = c;
            break;
        case 'b':
            cp = '\b';
            break;
        case 'f':
            cp = '\f';
            break;
        case 'n':
            cp = '\n';
            break;
        case 'r':
            cp = '\r';
            break;
        case 't':
            cp = '\t';
            break;
        case 'u': {
            int32_t v = s_u4 (s);
            if (v < 0) {
                return s_fail (s, "not valid JSON: \\u needs four hex digits");
            }
            cp = (uint32_t) v;
            if (cp >= 0xd800 && cp <= 0xdbff && s->len - s->at >= 6 && s->p[s->at] == '\\'
                && s->p[s->at + 1] == 'u') {
                size_t back = s->at;
                s->at += 2;
                int32_t lo = s_u4 (s);
                if (lo >= 0xdc00 && lo <= 0xdfff) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + ((uint32_t) lo - 0xdc00);
                }
                else {
                    s->at = back; /* the next escape stands alone */
                }
            }
            if (cp >= 0xd800 && cp <= 0xdfff) {
                cp = 0xfffd; /* a lone surrogate reads as U+FFFD, as json-c reads it */
            }
            break;
        }
        default:
            s->at--;
            return s_fail (s, "not valid JSON: an invalid escape in a string");
        }
        s_put (buf, cap ? cap - 1 : 0, &n, cp, full);
    }
    return s_fail (s, "not valid JSON: unexpected end inside a string");
}

static bool
s_digits (s_scan_t *s)
{
    size_t from = s->at;
    while (s->at < s->len && s->p[s->at] >= '0' && s->p[s->at] <= '9') {
        s->at++;
    }
    return s->at > from;
}

static bool
s_number (s_scan_t *s)
{
    if (s->p[s->at] == '-') {
        s->at++;
    }
    if (s->at < s->len && s->p[s->at] == '0') {
        s->at++;
    }
    else if (!s_digits (s)) {
        return s_fail (s, "not valid JSON: a number needs digits");
    }
    if (s->at < s->len && s->p[s->at] == '.') {
        s->at++;
        if (!s_digits (s)) {
            return s_fail (s, "not valid JSON: a number needs digits after '.'");
        }
    }
    if (s->at < s->len && (s->p[s->at] == 'e' || s->p[s->at] == 'E')) {
        s->at++;
        if (s->at < s->len && (s->p[s->at] == '+' || s->p[s->at] == '-')) {
            s->at++;
        }
        if (!s_digits (s)) {
            return s_fail (s, "not valid JSON: a number needs digits in its exponent");
        }
    }
    return true;
}

static bool
s_literal (s_scan_t *s, const char *word)
{
    size_t n = strlen (word);
    if (s->len - s->at < n || memcmp (s->p + s->at, word, n) != 0) {
        return s_fail (s, s->len - s->at < n && memcmp (s->p + s->at, word, s->len - s->at) == 0
                              ? "not valid JSON: unexpected end"
                              : "not valid JSON: expected a value");
    }
    s->at += n;
    return true;
}

static bool s_value (s_scan_t *s, int depth);

/* A top-level member's value: decoded into dst when it is a string. */
static bool
s_member (s_scan_t *s, bool *has, char *dst)
{
    if (s->p[s->at] != '"') {
        *has = false; /* json-c finds it, but not as a string: absent to the caller */
        return s_value (s, 1);
    }
    bool full = false;
    if (!s_string (s, dst, HG_JSON_CHECK_STR_MAX + 1, &full)) {
        return false;
    }
    *has = true;
    s->out->truncated = s->out->truncated || full;
    return true;
}

static bool
s_object (s_scan_t *s, int depth)
{
    s->at++; /* '{' */
    s_ws (s);
    if (s->at < s->len && s->p[s->at] == '}') {
        s->at++;
        return true;
    }
    for (;;) {
        if (s->at >= s->len) {
            return s_fail (s, "not valid JSON: unexpected end");
        }
        if (s->p[s->at] != '"') {
            return s_fail (s, "not valid JSON: expected a member name in double quotes");
        }
        char name[16];
        bool full = false;
        if (!s_string (s, depth == 1 ? name : NULL, sizeof (name), &full)) {
            return false;
        }
        s_ws (s);
        if (s->at >= s->len) {
            return s_fail (s, "not valid JSON: unexpected end");
        }
        if (s->p[s->at] != ':') {
            return s_fail (s, "not valid JSON: expected ':' after a member name");
        }
        s->at++;
        s_ws (s);
        if (s->at >= s->len) {
            return s_fail (s, "not valid JSON: unexpected end");
        }
        bool ok;
        if (depth == 1 && !full && strcmp (name, "resourceType") == 0) {
            ok = s_member (s, &s->out->has_resource_type, s->out->resource_type);
        }
        else if (depth == 1 && !full && strcmp (name, "type") == 0) {
            ok = s_member (s, &s->out->has_type, s->out->type);
        }
        else {
            ok = s_value (s, depth);
        }
        if (!ok) {
            return false;
        }
        s_ws (s);
        if (s->at >= s->len) {
            return s_fail (s, "not valid JSON: unexpected end");
        }
        if (s->p[s->at] == '}') {
            s->at++;
            return true;
        }
        if (s->p[s->at] != ',') {
            return s_fail (s, "not valid JSON: expected ',' or '}' in an object");
        }
        s->at++;
        s_ws (s);
    }
}

static bool
s_array (s_scan_t *s, int depth)
{
    s->at++; /* '[' */
    s_ws (s);
    if (s->at < s->len && s->p[s->at] == ']') {
        s->at++;
        return true;
    }
    for (;;) {
        if (!s_value (s, depth)) {
            return false;
        }
        s_ws (s);
        if (s->at >= s->len) {
            return s_fail (s, "not valid JSON: unexpected end");
        }
        if (s->p[s->at] == ']') {
            s->at++;
            return true;
        }
        if (s->p[s->at] != ',') {
            return s_fail (s, "not valid JSON: expected ',' or ']' in an array");
        }
        s->at++;
        s_ws (s);
    }
}

/* One value at s->at; depth is how deep the containers around it are. */
static bool
s_value (s_scan_t *s, int depth)
{
    if (s->at >= s->len) {
        return s_fail (s, "not valid JSON: unexpected end");
    }
    unsigned char c = s->p[s->at];
    if (c == '{' || c == '[') {
        if (depth >= s->max_depth) {
            return s_fail (s, "not valid JSON: nested too deep");
        }
        return c == '{' ? s_object (s, depth + 1) : s_array (s, depth + 1);
    }
    if (c == '"') {
        bool full = false;
        return s_string (s, NULL, 0, &full);
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        return s_number (s);
    }
    if (c == 't') {
        return s_literal (s, "true");
    }
    if (c == 'f') {
        return s_literal (s, "false");
    }
    if (c == 'n') {
        return s_literal (s, "null");
    }
    return s_fail (s, "not valid JSON: expected a value");
}

bool
hg_json_check (const char *data, size_t len, int max_depth, hg_json_check_t *out)
{
    memset (out, 0, sizeof (*out));
    s_scan_t s = {.p = (const unsigned char *) data,
                  .len = len,
                  .max_depth = max_depth,
                  .out = out};
    s_ws (&s);
    out->object = s.at < len && s.p[s.at] == '{';
    bool ok = s_value (&s, 0);
    out->end = s.at;
    return ok;
}
