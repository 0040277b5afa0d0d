/*
 * parsekit.c -- spans and their one split semantic (see parsekit.h).
 */
#include "parsekit.h"

#include <string.h>

#include <protobuf-c/protobuf-c.h>

#include "hourglass.pb-c.h"

bool
hg_parse_add_flag (hg_arena_t *a, struct Hourglass__Record *rec, const char *flag)
{
    for (size_t i = 0; i < rec->n_flags; i++) {
        if (rec->flags[i] && strcmp (rec->flags[i], flag) == 0) {
            return true;
        }
    }
    char **all = hg_arena_alloc (a, (rec->n_flags + 1) * sizeof (char *));
    if (!all) {
        return false;
    }
    if (rec->n_flags) {
        memcpy (all, rec->flags, rec->n_flags * sizeof (char *));
    }
    all[rec->n_flags] = (char *) flag;
    rec->flags = all;
    rec->n_flags++;
    return true;
}

bool
hg_parse_drop_flag (hg_arena_t *a, struct Hourglass__Record *rec, const char *flag)
{
    size_t keep = 0;
    for (size_t i = 0; i < rec->n_flags; i++) {
        keep += strcmp (rec->flags[i], flag) != 0;
    }
    if (keep == rec->n_flags) {
        return true;
    }
    char **all = keep ? hg_arena_alloc (a, keep * sizeof (char *)) : NULL;
    if (keep && !all) {
        return false;
    }
    size_t k = 0;
    for (size_t i = 0; i < rec->n_flags; i++) {
        if (strcmp (rec->flags[i], flag) != 0) {
            all[k++] = rec->flags[i];
        }
    }
    rec->flags = all;
    rec->n_flags = keep;
    return true;
}

bool
hg_span_eq (hg_span_t s, const char *lit)
{
    size_t n = strlen (lit);
    return s.n == n && memcmp (s.p, lit, n) == 0;
}

/* End of the piece that starts at start: the next sep, or the span's end. */
static size_t
s_piece_end (hg_span_t s, char sep, size_t start)
{
    const char *hit = sep && start < s.n ? memchr (s.p + start, sep, s.n - start) : NULL;
    return hit ? (size_t) (hit - s.p) : s.n;
}

bool
hg_span_piece (hg_span_t s, char sep, size_t idx, hg_span_t *out)
{
    size_t pos = 0;
    hg_span_t piece;
    while (hg_span_next (s, sep, &pos, &piece)) {
        if (idx-- == 0) {
            *out = piece;
            return true;
        }
    }
    return false;
}

bool
hg_span_next (hg_span_t s, char sep, size_t *pos, hg_span_t *piece)
{
    if (*pos > s.n) {
        return false;
    }
    size_t start = *pos, end = s_piece_end (s, sep, start);
    piece->p = s.p + start;
    piece->n = end - start;
    *pos = end + 1;
    return true;
}

size_t
hg_span_count (hg_span_t s, char sep)
{
    size_t n = 1;
    for (size_t i = 0; sep && i < s.n; i++) {
        n += s.p[i] == sep;
    }
    return n;
}

const char *
hg_span_show (hg_span_t s, size_t max, char *buf)
{
    size_t n = s.n > max ? max : s.n;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char) s.p[i];
        buf[i] = c >= 0x20 && c < 0x7f ? (char) c : '?';
    }
    if (s.n > max) {
        memcpy (buf + n, "...", 4);
    }
    else {
        buf[n] = '\0';
    }
    return buf;
}

char *
hg_parse_strdup (hg_arena_t *a, const char *s, bool *oom)
{
    if (!s || !*s) {
        return (char *) protobuf_c_empty_string;
    }
    char *c = hg_arena_strdup (a, s);
    if (!c) {
        *oom = true;
        return (char *) protobuf_c_empty_string;
    }
    return c;
}

const char *
hg_parse_comparator (const char **text, bool eq_ok)
{
    static const char *const cmps[] = {"<=", ">=", "<", ">", "="};
    size_t n_cmps = sizeof (cmps) / sizeof (cmps[0]) - (eq_ok ? 0 : 1);
    for (size_t i = 0; i < n_cmps; i++) {
        size_t cn = strlen (cmps[i]);
        if (strncmp (*text, cmps[i], cn) == 0) {
            *text += cn;
            while (**text == ' ') {
                (*text)++;
            }
            return cmps[i][0] == '=' ? "" : cmps[i];
        }
    }
    return "";
}
