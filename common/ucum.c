/*
 * ucum.c -- UCUM syntax check (see ucum.h for the grammar).
 */
#include "ucum.h"

#include <string.h>

/* Deepest nesting of "(" term ")" accepted. */
#define S_DEPTH_MAX 8
/* Most digits of an exponent or factor. */
#define S_DIGITS_MAX 6

typedef struct {
    const char *sym;
    bool metric; /* takes a prefix */
} s_atom_t;

static const s_atom_t s_atoms[] = {
    /* base units */
    {"m", true},
    {"s", true},
    {"g", true},
    {"rad", true},
    {"K", true},
    {"C", true},
    {"cd", true},
    /* SI derived and accepted */
    {"mol", true},
    {"sr", true},
    {"Hz", true},
    {"N", true},
    {"Pa", true},
    {"J", true},
    {"W", true},
    {"A", true},
    {"V", true},
    {"F", true},
    {"Ohm", true},
    {"S", true},
    {"Wb", true},
    {"Cel", true},
    {"T", true},
    {"H", true},
    {"lm", true},
    {"lx", true},
    {"Bq", true},
    {"Gy", true},
    {"Sv", true},
    {"l", true},
    {"L", true},
    {"ar", true},
    {"t", true},
    {"bar", true},
    {"u", true},
    {"eV", true},
    {"min", false},
    {"h", false},
    {"d", false},
    {"wk", false},
    {"mo", false},
    {"a", false},
    {"'", false},
    {"''", false},
    {"deg", false},
    /* clinical and chemical */
    {"eq", true},
    {"osm", true},
    {"kat", true},
    {"U", true},
    {"[iU]", true},
    {"[IU]", true},
    {"cal", true},
    {"[Cal]", false},
    {"g%", true},
    {"m[Hg]", true},
    {"m[H2O]", true},
    {"[in_i'Hg]", false},
    {"Ci", true},
    {"R", true},
    {"RAD", true},
    {"REM", true},
    {"P", true},
    {"St", true},
    {"dyn", true},
    {"erg", true},
    {"Ao", false},
    {"%", false},
    {"[pH]", false},
    {"[ppth]", false},
    {"[ppm]", false},
    {"[ppb]", false},
    {"[pptr]", false},
    {"[HPF]", false},
    {"[LPF]", false},
    {"[arb'U]", false},
    {"[USP'U]", false},
    {"[GPL'U]", false},
    {"[MPL'U]", false},
    {"[APL'U]", false},
    {"[beth'U]", false},
    {"[CFU]", false},
    {"[PFU]", false},
    {"[FFU]", false},
    {"[BAU]", false},
    {"[AU]", false},
    {"[PNU]", false},
    {"[Lf]", false},
    {"[FEU]", false},
    {"[ELU]", false},
    {"[EU]", false},
    {"[TCID_50]", false},
    {"[CCID_50]", false},
    {"[drp]", false},
    {"[in_i]", false},
    {"[ft_i]", false},
    {"[yd_i]", false},
    {"[mi_i]", false},
    {"[lb_av]", false},
    {"[oz_av]", false},
    {"[gal_us]", false},
    {"[foz_us]", false},
    {"[pt_us]", false},
    {"[qt_us]", false},
    {"[tsp_us]", false},
    {"[tbs_us]", false},
    {"[degF]", false},
    {"[mesh_i]", false},
    {"[S]", false},
    {"10*", false},
    {"10^", false},
};

static const char *const s_prefixes[] = {
    "Y", "Z", "E", "P", "T", "G", "M", "k", "h", "da",
    "d", "c", "m", "u", "n", "p", "f", "a", "z", "y",
};

/* State of one check: the input, the write position in out. */
typedef struct {
    const char *s;
    size_t len, pos;
    char *out;
    size_t o;
    hg_err_t *err;
} s_ucum_t;

static int
s_fail (s_ucum_t *u, const char *what)
{
    return hg_err_set (u->err, HG_EINVAL, "unit is not UCUM: %s at byte %zu", what, u->pos + 1);
}

static bool
s_is_digit (char c)
{
    return c >= '0' && c <= '9';
}

static char
s_peek (const s_ucum_t *u)
{
    return u->pos < u->len ? u->s[u->pos] : '\0';
}

/* Appends s[0..n); the output is never longer than the input, so it fits. */
static void
s_emit (s_ucum_t *u, const char *s, size_t n)
{
    memcpy (u->out + u->o, s, n);
    u->o += n;
}

static const s_atom_t *
s_atom (const char *sym, size_t n)
{
    for (size_t i = 0; i < sizeof (s_atoms) / sizeof (s_atoms[0]); i++) {
        if (strlen (s_atoms[i].sym) == n && memcmp (s_atoms[i].sym, sym, n) == 0) {
            return &s_atoms[i];
        }
    }
    return NULL;
}

/* True when sym[0..n) is an atom, or a prefix and a metric atom. */
static bool
s_simple_unit (const char *sym, size_t n)
{
    if (s_atom (sym, n)) {
        return true;
    }
    for (size_t i = 0; i < sizeof (s_prefixes) / sizeof (s_prefixes[0]); i++) {
        size_t pl = strlen (s_prefixes[i]);
        if (pl < n && memcmp (sym, s_prefixes[i], pl) == 0) {
            const s_atom_t *a = s_atom (sym + pl, n - pl);
            if (a && a->metric) {
                return true;
            }
        }
    }
    return false;
}

/* digits at the position: at least one, at most S_DIGITS_MAX; emitted. */
static int
s_digits (s_ucum_t *u, const char *what)
{
    size_t start = u->pos;
    while (s_is_digit (s_peek (u))) {
        u->pos++;
    }
    if (u->pos == start || u->pos - start > S_DIGITS_MAX) {
        return s_fail (u, what);
    }
    s_emit (u, u->s + start, u->pos - start);
    return 0;
}

/* "{...}" at the position, skipped (annotations never pass). */
static int
s_annotation (s_ucum_t *u)
{
    u->pos++; /* '{' */
    while (u->pos < u->len && u->s[u->pos] != '}') {
        unsigned char c = (unsigned char) u->s[u->pos];
        if (c < 33 || c > 126 || c == '{') {
            return s_fail (u, "an annotation holds a character UCUM does not allow");
        }
        u->pos++;
    }
    if (u->pos == u->len) {
        return s_fail (u, "an annotation is not closed");
    }
    u->pos++;
    return 0;
}

/* The symbol of a simple unit at the position: up to an operator, a
 * parenthesis, an annotation or an exponent (outside square brackets);
 * the micro sign and mu read as 'u'. Written to sym (S_SYM_MAX). */
#define S_SYM_MAX HG_UCUM_MAX
static int
s_symbol (s_ucum_t *u, char sym[S_SYM_MAX + 1], size_t *n)
{
    *n = 0;
    if (u->len - u->pos >= 3 && s_is_digit (u->s[u->pos]) && memcmp (u->s + u->pos, "10", 2) == 0
        && (u->s[u->pos + 2] == '*' || u->s[u->pos + 2] == '^')) {
        memcpy (sym, u->s + u->pos, 3);
        *n = 3;
        u->pos += 3;
        return 0;
    }
    int bracket = 0;
    while (u->pos < u->len) {
        unsigned char c = (unsigned char) u->s[u->pos];
        if (!bracket && (strchr ("./(){}+-", c) || s_is_digit ((char) c))) {
            break;
        }
        if ((c == 0xC2 && u->pos + 1 < u->len && (unsigned char) u->s[u->pos + 1] == 0xB5)
            || (c == 0xCE && u->pos + 1 < u->len && (unsigned char) u->s[u->pos + 1] == 0xBC)) {
            sym[(*n)++] = 'u';
            u->pos += 2;
            continue;
        }
        if (c < 33 || c > 126 || c == '{' || c == '}') {
            return s_fail (u, "a character UCUM does not allow");
        }
        bracket += c == '[';
        bracket -= c == ']' && bracket > 0;
        sym[(*n)++] = (char) c;
        u->pos++;
    }
    if (bracket) {
        return s_fail (u, "a '[' is not closed");
    }
    sym[*n] = '\0';
    return 0;
}

static int s_term (s_ucum_t *u, int depth);

/* One component; *unity: it was an annotation alone (it emitted nothing). */
static int
s_component (s_ucum_t *u, int depth, bool *unity)
{
    *unity = false;
    char c = s_peek (u);
    if (c == '{') {
        *unity = true;
        return s_annotation (u);
    }
    if (c == '(') {
        if (depth >= S_DEPTH_MAX) {
            return s_fail (u, "parentheses nested too deep");
        }
        u->pos++;
        s_emit (u, "(", 1);
        int rc = s_term (u, depth + 1);
        if (rc < 0) {
            return rc;
        }
        if (s_peek (u) != ')') {
            return s_fail (u, "a '(' is not closed");
        }
        u->pos++;
        s_emit (u, ")", 1);
        return 0;
    }
    bool ten = u->len - u->pos >= 3 && memcmp (u->s + u->pos, "10", 2) == 0
               && (u->s[u->pos + 2] == '*' || u->s[u->pos + 2] == '^');
    if (s_is_digit (c) && !ten) {
        return s_digits (u, "a factor has no digits or too many"); /* factor */
    }
    char sym[S_SYM_MAX + 1];
    size_t n;
    size_t at = u->pos;
    int rc = s_symbol (u, sym, &n);
    if (rc < 0) {
        return rc;
    }
    if (n == 0) {
        return s_fail (u, "a unit is missing");
    }
    if (!s_simple_unit (sym, n)) {
        u->pos = at;
        return s_fail (u, "not a unit Hourglass knows (atom or prefix and metric atom)");
    }
    s_emit (u, sym, n);
    c = s_peek (u);
    if (c == '+' || c == '-' || s_is_digit (c)) {
        if (c != '+') {
            s_emit (u, &c, c == '-');
        }
        u->pos += !s_is_digit (c);
        if ((rc = s_digits (u, "an exponent has no digits or too many")) < 0) {
            return rc;
        }
    }
    if (s_peek (u) == '{') {
        return s_annotation (u);
    }
    return 0;
}

/* A term; components that are annotations alone are left out with their
 * operator ("mL/min/{1.73_m2}" -> "mL/min"), a first one before '/' is 1
 * ("{cells}/uL" -> "1/uL"); a term of nothing else is "1". */
static int
s_term (s_ucum_t *u, int depth)
{
    size_t start = u->o;
    bool any = false;
    char op = '\0';
    for (;;) {
        size_t mark = u->o;
        if (op == '/' && !any) {
            s_emit (u, "1/", 2); /* {cells}/uL: 1/uL (never "/uL": "/{a}/uL" is not "//uL") */
        }
        else if (op == '/' || (op == '.' && any)) {
            s_emit (u, &op, 1);
        }
        bool unity;
        int rc = s_component (u, depth, &unity);
        if (rc < 0) {
            return rc;
        }
        if (unity) {
            u->o = mark;
        }
        any = any || !unity;
        op = s_peek (u);
        if (op != '.' && op != '/') {
            break;
        }
        u->pos++;
    }
    if (u->o == start) {
        s_emit (u, "1", 1);
    }
    return 0;
}

int
hg_ucum_check (const char *unit, char out[HG_UCUM_MAX + 1], hg_err_t *err)
{
    out[0] = '\0';
    if (!unit) {
        return 0;
    }
    size_t len = strnlen (unit, HG_UCUM_MAX * 4 + 1);
    size_t b = 0;
    while (b < len && (unit[b] == ' ' || unit[b] == '\t')) {
        b++;
    }
    while (len > b && (unit[len - 1] == ' ' || unit[len - 1] == '\t')) {
        len--;
    }
    if (len == b) {
        return 0;
    }
    s_ucum_t u = {.s = unit + b, .len = len - b, .out = out, .err = err};
    if (u.len > HG_UCUM_MAX) {
        return hg_err_set (err, HG_EINVAL, "unit is not UCUM: longer than %d bytes", HG_UCUM_MAX);
    }
    int rc = 0;
    if (s_peek (&u) == '/') {
        u.pos++;
        s_emit (&u, "/", 1);
    }
    if ((rc = s_term (&u, 0)) == 0 && u.pos < u.len) {
        rc = s_fail (&u, s_peek (&u) == ')' ? "a ')' was never opened" : "unexpected character");
    }
    if (rc < 0) {
        out[0] = '\0';
        return rc;
    }
    out[u.o] = '\0';
    if (strcmp (out, "/1") == 0) {
        memcpy (out, "1", 2);
    }
    return 0;
}

bool
hg_ucum_valid (const char *unit)
{
    char out[HG_UCUM_MAX + 1];
    return hg_ucum_check (unit, out, NULL) == 0;
}
