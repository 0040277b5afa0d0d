/*
 * json.c -- a JSON tree in an arena (see json.h).
 */
#include "json.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* json-c fails past 64 levels (S_JSON_DEPTH in fhir.c); we leave the
 * neighbourhood of that limit to it. */
#define S_MAX_DEPTH 48
/* Objects with more members than this go to json-c (its hash table finds
 * duplicates in linear time; FHIR objects have a few dozen at most). */
#define S_MAX_MEMBERS 128

typedef struct {
    hg_arena_t *a;
    const char *p;
    size_t n, pos;
    bool oom;
    /* members or elements of the values being read, innermost last */
    hg_json_t **vals;
    const char **keys;
    size_t n_stack, cap_stack;
} s_parser_t;

static bool
s_ws (char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void
s_skip_ws (s_parser_t *ps)
{
    while (ps->pos < ps->n && s_ws (ps->p[ps->pos])) {
        ps->pos++;
    }
}

static hg_json_t *
s_node (s_parser_t *ps, hg_json_type_t type)
{
    hg_json_t *v = hg_arena_alloc (ps->a, sizeof (*v));
    if (!v) {
        ps->oom = true;
        return NULL;
    }
    v->type = type;
    return v;
}

static bool
s_push (s_parser_t *ps, const char *key, hg_json_t *v)
{
    if (ps->n_stack == ps->cap_stack) {
        size_t cap = ps->cap_stack ? ps->cap_stack * 2 : 256;
        hg_json_t **vals = realloc (ps->vals, cap * sizeof (*vals));
        if (vals) {
            ps->vals = vals;
        }
        const char **keys = vals ? realloc (ps->keys, cap * sizeof (*keys)) : NULL;
        if (!keys) {
            ps->oom = true;
            return false;
        }
        ps->keys = keys;
        ps->cap_stack = cap;
    }
    ps->keys[ps->n_stack] = key;
    ps->vals[ps->n_stack++] = v;
    return true;
}

/* A string at ps->pos (the opening quote); its value in the arena, or
 * NULL (declined or out of memory), *len its bytes. */
static const char *
s_string (s_parser_t *ps, size_t *len)
{
    size_t start = ++ps->pos;
    size_t i = start;
    bool escapes = false;
    while (i < ps->n && ps->p[i] != '"') {
        unsigned char c = (unsigned char) ps->p[i];
        if (c < 0x20) {
            return NULL; /* raw control character: json-c decides */
        }
        if (c == '\\') {
            escapes = true;
            i++;
        }
        i++;
    }
    if (i >= ps->n) {
        return NULL; /* unterminated */
    }
    char *out = hg_arena_alloc (ps->a, i - start + 1);
    if (!out) {
        ps->oom = true;
        return NULL;
    }
    ps->pos = i + 1;
    if (!escapes) {
        memcpy (out, ps->p + start, i - start);
        *len = i - start;
        return out;
    }
    size_t o = 0;
    for (size_t k = start; k < i; k++) {
        char c = ps->p[k];
        if (c != '\\') {
            out[o++] = c;
            continue;
        }
        c = ps->p[++k];
        switch (c) {
        case '"':
        case '\\':
        case '/':
            out[o++] = c;
            break;
        case 'b':
            out[o++] = '\b';
            break;
        case 'f':
            out[o++] = '\f';
            break;
        case 'n':
            out[o++] = '\n';
            break;
        case 'r':
            out[o++] = '\r';
            break;
        case 't':
            out[o++] = '\t';
            break;
        case 'u': {
            if (k + 4 >= i) {
                return NULL;
            }
            unsigned cp = 0;
            for (int h = 1; h <= 4; h++) {
                int d = hg_hex_digit (ps->p[k + (size_t) h]);
                if (d < 0) {
                    return NULL;
                }
                cp = cp * 16 + (unsigned) d;
            }
            k += 4;
            if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF)) {
                return NULL; /* NUL and surrogates: json-c decides */
            }
            if (cp < 0x80) {
                out[o++] = (char) cp;
            }
            else if (cp < 0x800) {
                out[o++] = (char) (0xC0 | (cp >> 6));
                out[o++] = (char) (0x80 | (cp & 0x3F));
            }
            else {
                out[o++] = (char) (0xE0 | (cp >> 12));
                out[o++] = (char) (0x80 | ((cp >> 6) & 0x3F));
                out[o++] = (char) (0x80 | (cp & 0x3F));
            }
            break;
        }
        default:
            return NULL;
        }
    }
    out[o] = '\0';
    *len = o;
    return out;
}

/* A number at ps->pos, in JSON's grammar only; declines leading zeros,
 * -0, and integers of more than 18 digits (json-c's overflow rules). */
static hg_json_t *
s_number (s_parser_t *ps)
{
    size_t start = ps->pos, i = start;
    const char *p = ps->p;
    if (i < ps->n && p[i] == '-') {
        i++;
    }
    size_t int_start = i;
    while (i < ps->n && p[i] >= '0' && p[i] <= '9') {
        i++;
    }
    size_t int_digits = i - int_start;
    if (int_digits == 0 || (int_digits > 1 && p[int_start] == '0')) {
        return NULL;
    }
    bool is_double = false;
    if (i < ps->n && p[i] == '.') {
        is_double = true;
        size_t f = ++i;
        while (i < ps->n && p[i] >= '0' && p[i] <= '9') {
            i++;
        }
        if (i == f) {
            return NULL;
        }
    }
    if (i < ps->n && (p[i] == 'e' || p[i] == 'E')) {
        is_double = true;
        i++;
        if (i < ps->n && (p[i] == '+' || p[i] == '-')) {
            i++;
        }
        size_t e = i;
        while (i < ps->n && p[i] >= '0' && p[i] <= '9') {
            i++;
        }
        if (i == e) {
            return NULL;
        }
    }
    /* a number must be followed by something that ends it (json-c waits
     * for more input otherwise) */
    if (i >= ps->n || !(s_ws (p[i]) || p[i] == ',' || p[i] == ']' || p[i] == '}')) {
        return NULL;
    }
    if (!is_double
        && (int_digits > 18 || (int_digits == 1 && p[int_start] == '0' && int_start > start))) {
        return NULL; /* long integers and -0: json-c decides */
    }
    char *text = hg_arena_alloc (ps->a, i - start + 1);
    hg_json_t *v = text ? s_node (ps, is_double ? HG_JSON_DOUBLE : HG_JSON_INT) : NULL;
    if (!v) {
        ps->oom = true;
        return NULL;
    }
    memcpy (text, p + start, i - start);
    v->text = text;
    v->len = i - start;
    if (is_double) {
        v->d = strtod (text, NULL);
    }
    else {
        int64_t x = 0;
        for (size_t k = int_start; k < i; k++) {
            x = x * 10 + (p[k] - '0');
        }
        v->i = int_start > start ? -x : x;
        v->d = (double) v->i;
    }
    ps->pos = i;
    return v;
}

static bool
s_literal (s_parser_t *ps, const char *word)
{
    size_t n = strlen (word);
    if (ps->n - ps->pos < n || memcmp (ps->p + ps->pos, word, n) != 0) {
        return false;
    }
    ps->pos += n;
    return true;
}

static hg_json_t *s_value (s_parser_t *ps, int depth, bool *ok);

/* The items pushed since base, moved into v (an array or object). */
static bool
s_collect (s_parser_t *ps, hg_json_t *v, size_t base)
{
    size_t n = ps->n_stack - base;
    v->len = n;
    if (n == 0) {
        return true;
    }
    v->items = hg_arena_alloc (ps->a, n * sizeof (*v->items));
    if (!v->items) {
        ps->oom = true;
        return false;
    }
    memcpy (v->items, ps->vals + base, n * sizeof (*v->items));
    if (v->type == HG_JSON_OBJECT) {
        v->keys = hg_arena_alloc (ps->a, n * sizeof (*v->keys));
        if (!v->keys) {
            ps->oom = true;
            return false;
        }
        memcpy (v->keys, ps->keys + base, n * sizeof (*v->keys));
    }
    ps->n_stack = base;
    return true;
}

/* After an object member or an array item: skips white space, then takes
 * the closing bracket (1), or a comma and the white space after it (0);
 * -1 for anything else or the end of input. */
static int
s_next_or_close (s_parser_t *ps, char close)
{
    s_skip_ws (ps);
    if (ps->pos >= ps->n) {
        return -1;
    }
    char c = ps->p[ps->pos++];
    if (c == close) {
        return 1;
    }
    if (c != ',') {
        return -1;
    }
    s_skip_ws (ps);
    return 0;
}

/* An object member's key and the colon after it, at ps->pos; the key
 * (NUL-terminated, decoded) or NULL when declined: not a string, a NUL
 * inside it, too many members or a duplicate (members since base). */
static const char *
s_member_key (s_parser_t *ps, size_t base)
{
    if (ps->pos >= ps->n || ps->p[ps->pos] != '"') {
        return NULL;
    }
    size_t klen;
    const char *key = s_string (ps, &klen);
    if (!key || strlen (key) != klen) {
        return NULL;
    }
    if (ps->n_stack - base >= S_MAX_MEMBERS) {
        return NULL; /* the duplicate check below is quadratic */
    }
    for (size_t k = base; k < ps->n_stack; k++) {
        if (ps->keys[k][0] == key[0] && strcmp (ps->keys[k], key) == 0) {
            return NULL; /* duplicate member: json-c decides */
        }
    }
    s_skip_ws (ps);
    if (ps->pos >= ps->n || ps->p[ps->pos] != ':') {
        return NULL;
    }
    ps->pos++;
    s_skip_ws (ps);
    return key;
}

/* An object (type HG_JSON_OBJECT) or an array (HG_JSON_ARRAY) whose
 * opening bracket is at ps->pos: its members or items, each after its key
 * in an object, are pushed and then collected into the node. *ok as for
 * s_value. */
static hg_json_t *
s_container (s_parser_t *ps, hg_json_type_t type, int depth, bool *ok)
{
    bool object = type == HG_JSON_OBJECT;
    char close = object ? '}' : ']';
    hg_json_t *v = s_node (ps, type);
    size_t base = ps->n_stack;
    *ok = false;
    if (!v) {
        return NULL;
    }
    ps->pos++;
    s_skip_ws (ps);
    if (ps->pos < ps->n && ps->p[ps->pos] == close) {
        ps->pos++;
        *ok = true;
        return v;
    }
    for (;;) {
        const char *key = NULL;
        if (object && !(key = s_member_key (ps, base))) {
            return NULL;
        }
        bool vok;
        hg_json_t *item = s_value (ps, depth + 1, &vok);
        if (!vok || !s_push (ps, key, item)) {
            return NULL;
        }
        int next = s_next_or_close (ps, close);
        if (next < 0) {
            return NULL;
        }
        if (next > 0) {
            break;
        }
    }
    *ok = s_collect (ps, v, base);
    return v;
}

/* A value at ps->pos (no whitespace before it). *ok false: declined or out
 * of memory (ps->oom); a JSON null is NULL with *ok true. */
static hg_json_t *
s_value (s_parser_t *ps, int depth, bool *ok)
{
    *ok = false;
    if (ps->pos >= ps->n || depth > S_MAX_DEPTH) {
        return NULL;
    }
    char c = ps->p[ps->pos];
    hg_json_t *v = NULL;
    switch (c) {
    case '{':
        return s_container (ps, HG_JSON_OBJECT, depth, ok);
    case '[':
        return s_container (ps, HG_JSON_ARRAY, depth, ok);
    case '"': {
        size_t len;
        const char *s = s_string (ps, &len);
        if (s && (v = s_node (ps, HG_JSON_STRING))) {
            v->text = s;
            v->len = len;
            *ok = true;
        }
        return v;
    }
    case 't':
    case 'f':
        if (s_literal (ps, c == 't' ? "true" : "false") && (v = s_node (ps, HG_JSON_BOOLEAN))) {
            v->boolean = c == 't';
            v->text = c == 't' ? "true" : "false";
            v->len = strlen (v->text);
            *ok = true;
        }
        return v;
    case 'n':
        *ok = s_literal (ps, "null");
        return NULL;
    default:
        v = s_number (ps);
        *ok = v != NULL;
        return v;
    }
}

int
hg_json_parse (hg_arena_t *a, const char *p, size_t n, hg_json_t **out, size_t *end)
{
    s_parser_t ps = {.a = a, .p = p, .n = n};
    s_skip_ws (&ps);
    if (ps.pos >= n || (p[ps.pos] != '{' && p[ps.pos] != '[')) {
        return 0;
    }
    bool ok;
    hg_json_t *v = s_value (&ps, 1, &ok);
    free (ps.vals);
    free (ps.keys);
    if (ps.oom) {
        return -1;
    }
    if (!ok) {
        return 0;
    }
    s_skip_ws (&ps);
    *out = v;
    *end = ps.pos;
    return 1;
}

hg_json_t *
hg_json_from_json_c (hg_arena_t *a, json_object *jv, bool *oom)
{
    if (!jv) {
        return NULL;
    }
    hg_json_t *v = hg_arena_alloc (a, sizeof (*v));
    if (!v) {
        *oom = true;
        return NULL;
    }
    v->type = (hg_json_type_t) json_object_get_type (jv);
    switch (json_object_get_type (jv)) {
    case json_type_boolean:
    case json_type_double:
    case json_type_int:
    case json_type_string: {
        const char *s = json_object_get_string (jv);
        size_t len = v->type == HG_JSON_STRING ? (size_t) json_object_get_string_len (jv)
                                               : strlen (s);
        char *copy = hg_arena_alloc (a, len + 1);
        if (!copy) {
            *oom = true;
            return NULL;
        }
        memcpy (copy, s, len);
        v->text = copy;
        v->len = len;
        v->boolean = json_object_get_boolean (jv);
        v->i = json_object_get_int64 (jv);
        v->d = json_object_get_double (jv);
        break;
    }
    case json_type_array: {
        size_t n = json_object_array_length (jv);
        v->len = n;
        v->items = n ? hg_arena_alloc (a, n * sizeof (*v->items)) : NULL;
        if (n && !v->items) {
            *oom = true;
            return NULL;
        }
        for (size_t i = 0; i < n && !*oom; i++) {
            v->items[i] = hg_json_from_json_c (a, json_object_array_get_idx (jv, i), oom);
        }
        break;
    }
    case json_type_object: {
        size_t n = (size_t) json_object_object_length (jv), i = 0;
        v->len = n;
        v->items = n ? hg_arena_alloc (a, n * sizeof (*v->items)) : NULL;
        v->keys = n ? hg_arena_alloc (a, n * sizeof (*v->keys)) : NULL;
        if (n && (!v->items || !v->keys)) {
            *oom = true;
            return NULL;
        }
        json_object_object_foreach (jv, key, child)
        {
            if (i < n && !*oom) {
                v->keys[i] = hg_arena_strdup (a, key);
                *oom |= !v->keys[i];
                v->items[i++] = hg_json_from_json_c (a, child, oom);
            }
        }
        break;
    }
    default:
        break;
    }
    return *oom ? NULL : v;
}

hg_json_type_t
hg_json_type (const hg_json_t *v)
{
    return v ? v->type : HG_JSON_NULL;
}

bool
hg_json_is (const hg_json_t *v, hg_json_type_t type)
{
    return hg_json_type (v) == type;
}

bool
hg_json_member (const hg_json_t *obj, const char *key, hg_json_t **v)
{
    if (!obj || obj->type != HG_JSON_OBJECT) {
        return false;
    }
    for (size_t i = 0; i < obj->len; i++) {
        if (obj->keys[i][0] == key[0] && strcmp (obj->keys[i], key) == 0) {
            if (v) {
                *v = obj->items[i];
            }
            return true;
        }
    }
    return false;
}

const char *
hg_json_string (const hg_json_t *v)
{
    if (!v || v->type == HG_JSON_OBJECT || v->type == HG_JSON_ARRAY) {
        return NULL;
    }
    return v->text;
}

size_t
hg_json_length (const hg_json_t *v)
{
    return v && (v->type == HG_JSON_ARRAY || v->type == HG_JSON_OBJECT) ? v->len : 0;
}

hg_json_t *
hg_json_item (const hg_json_t *v, size_t i)
{
    return v && v->type == HG_JSON_ARRAY && i < v->len ? v->items[i] : NULL;
}

size_t
hg_json_string_len (const hg_json_t *v)
{
    return v && v->type == HG_JSON_STRING ? v->len : 0;
}

bool
hg_json_boolean (const hg_json_t *v)
{
    return v && v->type == HG_JSON_BOOLEAN && v->boolean;
}

double
hg_json_double (const hg_json_t *v)
{
    /* d holds json-c's value for both: an integer too large for int64
     * (converted from json-c's uint64) keeps its magnitude */
    return v && (v->type == HG_JSON_DOUBLE || v->type == HG_JSON_INT) ? v->d : 0;
}

int64_t
hg_json_int64 (const hg_json_t *v)
{
    return v && v->type == HG_JSON_INT ? v->i : 0;
}

const char *
hg_json_type_name (hg_json_type_t type)
{
    return json_type_to_name ((json_type) type);
}

/* ---- json-c's plain serialisation ---------------------------------------- */

typedef struct {
    char *buf;
    size_t len, cap;
    bool oom;
} s_out_t;

static void
s_emit (s_out_t *o, const char *s, size_t n)
{
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 256;
        while (cap < o->len + n + 1) {
            cap *= 2;
        }
        char *b = realloc (o->buf, cap);
        if (!b) {
            o->oom = true;
            return;
        }
        o->buf = b;
        o->cap = cap;
    }
    memcpy (o->buf + o->len, s, n);
    o->len += n;
}

/* json-c's escaping: " \ / and control characters; other bytes as they are. */
static void
s_emit_escaped (s_out_t *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    s_emit (o, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char) s[i];
        const char *rep = NULL;
        char u[7];
        switch (c) {
        case '\b':
            rep = "\\b";
            break;
        case '\n':
            rep = "\\n";
            break;
        case '\r':
            rep = "\\r";
            break;
        case '\t':
            rep = "\\t";
            break;
        case '\f':
            rep = "\\f";
            break;
        case '"':
            rep = "\\\"";
            break;
        case '\\':
            rep = "\\\\";
            break;
        case '/':
            rep = "\\/";
            break;
        default:
            if (c < 0x20) {
                u[0] = '\\';
                u[1] = 'u';
                u[2] = '0';
                u[3] = '0';
                u[4] = hex[c >> 4];
                u[5] = hex[c & 0xF];
                u[6] = '\0';
                rep = u;
            }
            break;
        }
        if (rep) {
            s_emit (o, s + i - run, run);
            run = 0;
            s_emit (o, rep, strlen (rep));
        }
        else {
            run++;
        }
    }
    s_emit (o, s + n - run, run);
    s_emit (o, "\"", 1);
}

static void
s_emit_value (s_out_t *o, const hg_json_t *v)
{
    switch (hg_json_type (v)) {
    case HG_JSON_NULL:
        s_emit (o, "null", 4);
        break;
    case HG_JSON_STRING:
        s_emit_escaped (o, v->text, v->len);
        break;
    case HG_JSON_OBJECT:
        s_emit (o, "{", 1);
        for (size_t i = 0; i < v->len; i++) {
            if (i) {
                s_emit (o, ",", 1);
            }
            s_emit_escaped (o, v->keys[i], strlen (v->keys[i]));
            s_emit (o, ":", 1);
            s_emit_value (o, v->items[i]);
        }
        s_emit (o, "}", 1);
        break;
    case HG_JSON_ARRAY:
        s_emit (o, "[", 1);
        for (size_t i = 0; i < v->len; i++) {
            if (i) {
                s_emit (o, ",", 1);
            }
            s_emit_value (o, v->items[i]);
        }
        s_emit (o, "]", 1);
        break;
    default: /* numbers and booleans: their text */
        s_emit (o, v->text, v->len);
        break;
    }
}

const char *
hg_json_to_text (hg_arena_t *a, const hg_json_t *v)
{
    s_out_t o = {0};
    s_emit_value (&o, v);
    char *copy = o.oom ? NULL : hg_arena_strndup (a, o.buf ? o.buf : "", o.len);
    free (o.buf);
    return copy;
}
