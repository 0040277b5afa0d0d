/*
 * scrub.c -- the scrubber's tokens, lexicons, driver and replacement (the
 * matchers are in scrub_rules.c). See scrub.h.
 */
#define _GNU_SOURCE /* memmem */
#include <ctype.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "date.h"
#include "scrub_int.h"
#include "scrub_lexdata.h"

static const char *const s_type_names[HG_SCRUB_NTYPES] = {
    "NAME", "DATE", "AGE", "PHONE", "ID", "LOCATION", "CONTACT", "OTHER",
};

const char *
hg_scrub_type_name (hg_scrub_type_t type)
{
    return (unsigned) type < HG_SCRUB_NTYPES ? s_type_names[type] : "OTHER";
}

int
hg_scrub_type_parse (const char *s)
{
    for (int i = 0; i < HG_SCRUB_NTYPES; i++) {
        if (strcasecmp (s, s_type_names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

uint32_t
hg_scrub_hash_lower (const char *p, size_t n)
{
    uint32_t h = 0x811C9DC5u;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char) p[i];
        if (c >= 'A' && c <= 'Z') {
            c = (unsigned char) (c + 32);
        }
        h = (h ^ c) * 0x01000193u;
    }
    return h;
}

/* The embedded table in one array of 64-bit slots, built once from the
 * generated one (scrub_lexdata.h): the word's full hash (low 32 bits), its
 * offset in hg_scrub_lex_words (24 bits) and its flags (8 bits, never 0 for
 * a word: 0 marks an empty slot). A look-up reads one slot per probe and
 * compares the word only when the whole hash matches: one cache miss for a
 * word not there, two for one there, where the generated table's slot,
 * offset, word and flags arrays cost four. */
static _Atomic (uint64_t *) s_slots;

static const uint64_t *
s_slots_get (void)
{
    uint64_t *t = atomic_load_explicit (&s_slots, memory_order_acquire);
    if (t) {
        return t;
    }
    uint32_t size = hg_scrub_lex_size;
    t = calloc (size, sizeof (*t));
    if (!t) {
        return NULL; /* the generated table serves (s_lex_flags_h) */
    }
    for (uint32_t i = 0; i < hg_scrub_lex_count; i++) {
        if (hg_scrub_lex_off[i] > 0xFFFFFFu || hg_scrub_lex_flags[i] == 0) {
            free (t); /* does not fit: the generated table serves */
            return NULL;
        }
        const char *w = hg_scrub_lex_words + hg_scrub_lex_off[i];
        uint32_t h = hg_scrub_hash_lower (w, strlen (w));
        uint32_t k = h & (size - 1);
        while (t[k]) {
            k = (k + 1) & (size - 1);
        }
        t[k] = (uint64_t) h | (uint64_t) hg_scrub_lex_off[i] << 32
               | (uint64_t) hg_scrub_lex_flags[i] << 56;
    }
    uint64_t *none = NULL;
    if (!atomic_compare_exchange_strong (&s_slots, &none, t)) {
        free (t); /* another thread built it first */
        return none;
    }
    return t;
}

/* The embedded flags of the word p[0..n) of hash (hg_scrub_hash_lower), 0
 * when not there. */
static uint8_t
s_lex_flags_h (const char *p, size_t n, uint32_t hash)
{
    if (n == 0 || n >= 32) {
        return 0;
    }
    uint32_t mask = hg_scrub_lex_size - 1;
    const uint64_t *t = atomic_load_explicit (&s_slots, memory_order_relaxed);
    if (t) {
        for (uint32_t h = hash & mask;; h = (h + 1) & mask) {
            uint64_t v = t[h];
            if (v == 0) {
                return 0;
            }
            if ((uint32_t) v != hash) {
                continue;
            }
            const char *w = hg_scrub_lex_words + ((v >> 32) & 0xFFFFFFu);
            size_t k = 0;
            while (k < n) { /* the table's words are lower case */
                unsigned char c = (unsigned char) p[k];
                if ((c >= 'A' && c <= 'Z' ? c + 32 : c) != (unsigned char) w[k]) {
                    break;
                }
                k++;
            }
            if (k == n && w[n] == '\0') {
                return (uint8_t) (v >> 56);
            }
        }
    }
    for (uint32_t h = hash & mask;; h = (h + 1) & mask) {
        uint32_t slot = hg_scrub_lex_table[h];
        if (slot == 0) {
            return 0;
        }
        const char *w = hg_scrub_lex_words + hg_scrub_lex_off[slot - 1];
        size_t k = 0;
        while (k < n) { /* the table's words are lower case */
            unsigned char c = (unsigned char) p[k];
            if ((c >= 'A' && c <= 'Z' ? c + 32 : c) != (unsigned char) w[k]) {
                break;
            }
            k++;
        }
        if (k == n && w[n] == '\0') {
            return hg_scrub_lex_flags[slot - 1];
        }
    }
}

static uint8_t
s_lex_flags (const char *p, size_t n)
{
    return s_lex_flags_h (p, n, hg_scrub_hash_lower (p, n));
}

static void
s_listed_add (hg_scrub_t *s, const char *w, uint64_t bit)
{
    uint32_t h = hg_scrub_hash_lower (w, strlen (w)) | 1u;
    uint32_t k = h & (HG_SCRUB_LISTED_SLOTS - 1);
    while (s->listed[k] && s->listed[k] != h) {
        k = (k + 1) & (HG_SCRUB_LISTED_SLOTS - 1);
    }
    s->listed[k] = h;
    s->lmask[k] |= bit;
}

/* The lists a token of hash h may be in (bits), 0 for none. */
static uint64_t
s_listed (const hg_scrub_t *s, uint32_t h)
{
    h |= 1u;
    for (uint32_t k = h & (HG_SCRUB_LISTED_SLOTS - 1); s->listed[k];
         k = (k + 1) & (HG_SCRUB_LISTED_SLOTS - 1)) {
        if (s->listed[k] == h) {
            return s->lmask[k];
        }
    }
    return 0;
}

/* ---- tokens ---------------------------------------------------------- */

/* Length of the UTF-8 sequence at p (1 when invalid), and whether it is
 * punctuation (general punctuation U+2000-U+206F, Latin-1 signs, NBSP). */
static size_t
s_utf8 (const unsigned char *p, size_t left, bool *punct)
{
    unsigned char c = p[0];
    size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (n > left) {
        n = 1;
    }
    for (size_t k = 1; k < n; k++) {
        if ((p[k] & 0xC0) != 0x80) {
            n = 1;
            break;
        }
    }
    *punct = n == 1 || (n == 2 && c == 0xC2)
             || (n == 2 && c == 0xC3 && (p[1] == 0x97 || p[1] == 0xB7))
             || (n == 3 && c == 0xE2 && (p[1] == 0x80 || p[1] == 0x81));
    return n;
}

static inline bool
s_letter_at (const unsigned char *p, size_t left, size_t *n)
{
    if (p[0] < 0x80) {
        *n = 1;
        return (unsigned char) ((p[0] | 0x20) - 'a') < 26;
    }
    bool punct;
    *n = s_utf8 (p, left, &punct);
    return !punct;
}

/* A capital letter of two bytes at p (a word's first letter is whole):
 * Latin-1 (À-Þ but ×), Latin Extended-A (Ł, Ž, Ś, Č...: even code points,
 * odd ones in U+0139-U+0148 and U+0179-U+017E), Greek and Cyrillic capitals. */
static bool
s_utf8_capital (const unsigned char *p, size_t n)
{
    /* n: the word's bytes; p[1] is read only when it is the word's */
    if (n < 2 || p[0] < 0xC3 || p[0] > 0xD0 || (p[1] & 0xC0) != 0x80) {
        return false;
    }
    unsigned cp = (unsigned) (p[0] & 0x1F) << 6 | (p[1] & 0x3F);
    if (cp >= 0xC0 && cp <= 0xDE) {
        return cp != 0xD7;
    }
    if (cp >= 0x100 && cp <= 0x17F) {
        if (cp == 0x138 || cp == 0x149 || cp == 0x17F) {
            return false;
        }
        bool odd = (cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E);
        return (cp & 1u) == (odd ? 1u : 0u);
    }
    return (cp >= 0x391 && cp <= 0x3A9) || (cp >= 0x400 && cp <= 0x42F);
}

/* The shape of a word of n bytes at p with up capitals and low lower-case
 * ASCII letters. */
static uint8_t
s_shape (const unsigned char *p, size_t n, size_t up, size_t low)
{
    bool first_up = (p[0] >= 'A' && p[0] <= 'Z') || s_utf8_capital (p, n);
    if (low == 0 && (up > 0 || first_up)) {
        return SH_UPPER;
    }
    if (first_up && up <= 1) {
        return SH_CAP;
    }
    if (up == 0) {
        return first_up ? SH_CAP : SH_LOWER;
    }
    return first_up ? SH_CAP : SH_MIXED;
}

static bool
s_push (hg_scrub_t *s, hg_tok_t tok)
{
    if (s->nt == s->tcap) {
        size_t cap = s->tcap ? s->tcap * 2 : 256;
        hg_tok_t *t = realloc (s->t, cap * sizeof (*t));
        if (!t) {
            return false;
        }
        s->t = t;
        s->tcap = cap;
    }
    tok.mark = -1;
    s->t[s->nt++] = tok;
    return true;
}

/* The end of a URL or e-mail address starting at i, or i when none. */
static size_t
s_url_end (const unsigned char *p, size_t len, size_t i)
{
    size_t e = i;
    bool at = false, prefix = (p[i] | 0x20) == 'h' || (p[i] | 0x20) == 'w';
    while (e < len && p[e] > ' ' && p[e] != '<' && p[e] != '>' && p[e] != '"' && p[e] != ')'
           && p[e] != ']') {
        at |= p[e] == '@';
        e++;
    }
    if (!at && !prefix) {
        return i; /* neither an address nor http://, https://, www. */
    }
    while (e > i && strchr (".,;:!?'", p[e - 1])) {
        e--;
    }
    size_t n = e - i;
    if ((n > 7 && strncasecmp ((const char *) p + i, "http://", 7) == 0)
        || (n > 8 && strncasecmp ((const char *) p + i, "https://", 8) == 0)
        || (n > 4 && strncasecmp ((const char *) p + i, "www.", 4) == 0)) {
        return e;
    }
    const unsigned char *a = memchr (p + i, '@', n);
    if (a && a > p + i && memchr (a, '.', (size_t) (p + e - a)) && a[1] != '.') {
        return e;
    }
    return i;
}

static bool
s_tokenize (hg_scrub_t *s)
{
    const unsigned char *p = (const unsigned char *) s->text;
    size_t len = s->len, i = 0, up = 0, low = 0;
    uint8_t sp = 0;
    bool chunk_start = true;
    s->nt = 0;
    while (i < len) {
        unsigned char c = p[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v') {
            sp |= SP_SPACE | (c == '\n' ? SP_NEWLINE : 0);
            chunk_start = true;
            i++;
            continue;
        }
        hg_tok_t tok = {.s = (uint32_t) i, .sp = sp};
        size_t n, e;
        if (chunk_start && (e = s_url_end (p, len, i)) > i) {
            tok.kind = TK_URL;
            tok.hash = hg_scrub_hash_lower ((const char *) p + i, e - i);
            i = e;
        }
        else if (c >= '0' && c <= '9') {
            tok.kind = TK_NUM;
            uint64_t v = 0;
            while (i < len && p[i] >= '0' && p[i] <= '9') {
                v = v * 10 + (p[i] - '0');
                if (v > 0xFFFFFFFFu) {
                    v = 0xFFFFFFFFu;
                }
                i++;
            }
            tok.val = (uint32_t) v;
            tok.hash = hg_scrub_hash_lower ((const char *) p + tok.s, i - tok.s);
            tok.ndig = (uint8_t) (i - tok.s > 255 ? 255 : i - tok.s);
        }
        else if (s_letter_at (p + i, len - i, &n)) {
            /* one pass over the word: its end, hash, capitals and lower case */
            tok.kind = TK_WORD;
            uint32_t h = 0x811C9DC5u;
            size_t wup = 0, wlow = 0;
            for (;;) {
                unsigned char b = p[i];
                if (n == 1) {
                    wup += b >= 'A' && b <= 'Z';
                    wlow += b >= 'a' && b <= 'z';
                    h = (h ^ (b >= 'A' && b <= 'Z' ? b + 32u : b)) * 0x01000193u;
                }
                else {
                    for (size_t k = 0; k < n; k++) {
                        h = (h ^ p[i + k]) * 0x01000193u;
                    }
                }
                i += n;
                if (i >= len) {
                    break;
                }
                if (s_letter_at (p + i, len - i, &n)) {
                    continue;
                }
                if (p[i] == '\'' && i + 1 < len && (unsigned char) ((p[i + 1] | 0x20) - 'a') < 26
                    && p[i + 1] != 's' && p[i + 1] != 'S') {
                    n = 1; /* O'Brien, not Parkinson's */
                    continue;
                }
                break;
            }
            tok.shape = s_shape (p + tok.s, i - tok.s, wup, wlow);
            tok.hash = h;
            tok.lex = s_lex_flags_h ((const char *) p + tok.s, i - tok.s, h);
            tok.lists = s_listed (s, h);
            up += wup;
            low += wlow;
        }
        else {
            bool punct;
            tok.kind = TK_PUNCT;
            i += s_utf8 (p + i, len - i, &punct);
            tok.hash = hg_scrub_hash_lower ((const char *) p + tok.s, i - tok.s);
            tok.lists = s_listed (s, tok.hash);
        }
        tok.e = (uint32_t) i;
        if (!s_push (s, tok)) {
            return false;
        }
        chunk_start = tok.kind == TK_PUNCT && strchr ("(<[:;,\"", c);
        sp = 0;
    }
    /* all capitals, or lower case with hardly a capital: shape says nothing */
    s->anycase = (up >= 8 && low * 10 < up) || (low >= 40 && up * 66 < low)
                 || (low >= 12 && up == 0);
    return true;
}

bool
hg_tok_in_list (const hg_scrub_t *s, size_t i, const char *const *list)
{
    if (i >= s->nt) {
        return false;
    }
    const unsigned char *p = (const unsigned char *) s->text + s->t[i].s;
    size_t n = s->t[i].e - s->t[i].s;
    for (; *list; list++) {
        const char *w = *list;
        size_t k = 0;
        while (k < n) {
            unsigned char c = p[k] >= 'A' && p[k] <= 'Z' ? (unsigned char) (p[k] + 32) : p[k];
            if (c != (unsigned char) w[k]) { /* also at w's NUL */
                break;
            }
            k++;
        }
        if (k == n && w[n] == '\0') {
            return true;
        }
    }
    return false;
}

/* ---- spans ----------------------------------------------------------- */

bool
hg_scrub_claim (hg_scrub_t *s, size_t a, size_t b, hg_scrub_type_t type,
                const hg_scrub_date_t *date)
{
    if (a >= b || b > s->nt) {
        return false;
    }
    for (size_t i = a; i < b; i++) {
        if (s->t[i].mark >= 0) {
            return false;
        }
    }
    if (s->ns == s->scap) {
        size_t cap = s->scap ? s->scap * 2 : 64;
        hg_scrub_span_t *v = realloc (s->sp, cap * sizeof (*v));
        if (!v) {
            s->oom = true;
            return false;
        }
        s->sp = v;
        s->scap = cap;
    }
    for (size_t i = a; i < b; i++) {
        s->t[i].mark = (int8_t) type;
    }
    hg_scrub_span_t *sp = &s->sp[s->ns++];
    memset (sp, 0, sizeof (*sp));
    sp->start = s->t[a].s;
    sp->end = s->t[b - 1].e;
    sp->type = type;
    if (date) {
        sp->date = *date;
    }
    return true;
}

static int
s_span_cmp (const void *a, const void *b)
{
    const hg_scrub_span_t *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

/* Sorts the spans and joins names that touch ("John" "Smith" found apart). */
static void
s_finish (hg_scrub_t *s)
{
    qsort (s->sp, s->ns, sizeof (*s->sp), s_span_cmp);
    size_t w = 0;
    for (size_t r = 0; r < s->ns; r++) {
        if (w > 0 && s->sp[r].type == HG_SCRUB_NAME && s->sp[w - 1].type == HG_SCRUB_NAME) {
            size_t gap = s->sp[w - 1].end;
            while (gap < s->sp[r].start && (s->text[gap] == ' ' || s->text[gap] == '.')) {
                gap++;
            }
            if (gap == s->sp[r].start) {
                s->sp[w - 1].end = s->sp[r].end;
                continue;
            }
        }
        s->sp[w++] = s->sp[r];
    }
    s->ns = w;
}

hg_scrub_t *
hg_scrub_new (const hg_scrub_lexicon_t *lex)
{
    hg_scrub_t *s = calloc (1, sizeof (*s));
    if (!s) {
        return NULL;
    }
    s->lex = lex;
    (void) s_slots_get ();
    const char *const *const *sets[] = {hg_scrub_rules_lists, hg_scrub_names_lists};
    unsigned bit = 0;
    for (size_t k = 0; k < 2; k++) {
        for (const char *const *const *l = sets[k]; *l; l++, bit++) {
            for (const char *const *w = *l; *w; w++) {
                s_listed_add (s, *w, (uint64_t) 1 << bit);
            }
        }
    }
    return s;
}

void
hg_scrub_set_known (hg_scrub_t *s, const hg_scrub_lexicon_t *known)
{
    s->known = known;
}

void
hg_scrub_set_strict (hg_scrub_t *s, bool strict)
{
    s->strict = strict;
}

void
hg_scrub_free (hg_scrub_t *s)
{
    if (s) {
        free (s->t);
        free (s->sp);
        free (s);
    }
}

int
hg_scrub_find (hg_scrub_t *s, const char *text, size_t len, const hg_scrub_span_t **spans,
               size_t *n)
{
    *spans = NULL;
    *n = 0;
    if (len > 0xFFFFFFF0u) {
        len = 0xFFFFFFF0u; /* offsets are 32-bit; a 4 GiB note is scrubbed in part */
    }
    s->text = text;
    s->len = len;
    s->ns = 0;
    s->oom = false;
    if (!s_tokenize (s)) {
        return HG_ENOMEM;
    }
    hg_scrub_pass_lexicon (s);
    hg_scrub_pass_numbers (s);
    hg_scrub_pass_dates (s);
    hg_scrub_pass_ages (s);
    hg_scrub_pass_places (s);
    hg_scrub_pass_dates_late (s);
    hg_scrub_pass_names (s);
    if (s->strict) {
        hg_scrub_pass_unknown (s);
    }
    hg_scrub_pass_name_lists (s);
    hg_scrub_pass_ids (s);
    if (s->oom) {
        s->ns = 0;
        return HG_ENOMEM;
    }
    s_finish (s);
    *spans = s->sp;
    *n = s->ns;
    return 0;
}

/* ---- the per-deployment lexicon -------------------------------------- */

hg_scrub_lexicon_t *
hg_scrub_lexicon_new (void)
{
    return calloc (1, sizeof (hg_scrub_lexicon_t));
}

void
hg_scrub_lexicon_free (hg_scrub_lexicon_t *lex)
{
    if (lex) {
        hg_scrub_lexicon_clear (lex);
        for (size_t i = 0; i < lex->nalloc; i++) {
            free (lex->v[i].norm);
        }
        free (lex->v);
        free (lex);
    }
}

size_t
hg_scrub_lexicon_count (const hg_scrub_lexicon_t *lex)
{
    return lex ? lex->n : 0;
}

void
hg_scrub_lexicon_clear (hg_scrub_lexicon_t *lex)
{
    if (!lex) {
        return;
    }
    for (size_t i = 0; i < lex->n; i++) { /* the memory stays for the next phrases */
        sodium_memzero (lex->v[i].norm, lex->v[i].len);
        lex->v[i].len = 0;
    }
    lex->n = 0;
    lex->first = 0;
}

/* ASCII lower case, \t \r \n as ' ': how hg_scrub_lexicon_occurs reads a text */
static inline unsigned
s_fold (unsigned char c)
{
    return (unsigned) (c - 'A') < 26u ? c + 32u : c == '\t' || c == '\r' || c == '\n' ? ' ' : c;
}

/* Whether phrase p (folded, len > 0) is at u[i..] in text u of len bytes. */
static bool
s_phrase_here (const hg_phrase_t *p, const unsigned char *u, size_t len, size_t i)
{
    if (p->len > len - i) {
        return false;
    }
    size_t j = 1;
    while (j < p->len && s_fold (u[i + j]) == (unsigned char) p->norm[j]) {
        j++;
    }
    return j == p->len;
}

bool
hg_scrub_lexicon_occurs (const hg_scrub_lexicon_t *lex, const char *text, size_t len,
                         size_t min_len)
{
    if (!lex || lex->n == 0 || len == 0) {
        return false;
    }
    const unsigned char *u = (const unsigned char *) text;
    /* per phrase, memchr for its first byte (both cases of a letter), then
     * a compare at each hit: no copy of the text */
    for (size_t k = 0; k < lex->n; k++) {
        const hg_phrase_t *p = &lex->v[k];
        if (p->len < min_len || p->len == 0) {
            continue;
        }
        unsigned char c = (unsigned char) p->norm[0]; /* never a blank (trimmed) */
        unsigned char cases[2] = {c, c >= 'a' && c <= 'z' ? (unsigned char) (c - 32) : c};
        for (int v = 0; v < (cases[1] != c ? 2 : 1); v++) {
            const unsigned char *q = u, *end = u + len;
            while (q < end && (q = memchr (q, cases[v], (size_t) (end - q))) != NULL) {
                if (s_phrase_here (p, u, len, (size_t) (q - u))) {
                    return true;
                }
                q++;
            }
        }
    }
    return false;
}

int
hg_scrub_lexicon_add (hg_scrub_lexicon_t *lex, hg_scrub_type_t type, const char *phrase,
                      size_t len, hg_err_t *err)
{
    char norm[256];
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) phrase[i];
        bool space = c == ' ' || c == '\t' || c == '\r' || c == '\n';
        if (space && (n == 0 || norm[n - 1] == ' ')) {
            continue;
        }
        if (n >= sizeof (norm) - 1) {
            sodium_memzero (norm, n);
            return hg_err_set (err, HG_EINVAL, "lexicon phrase longer than 255 bytes");
        }
        norm[n++] = space ? ' ' : (char) tolower (c);
    }
    while (n > 0 && norm[n - 1] == ' ') {
        n--;
    }
    size_t first = 0;
    const unsigned char *u = (const unsigned char *) norm;
    while (first < n && (isalnum (u[first]) || u[first] >= 0x80)) {
        first++;
    }
    if (first == 0 || (unsigned) type >= HG_SCRUB_NTYPES) {
        sodium_memzero (norm, n);
        return hg_err_set (err, HG_EINVAL, "lexicon phrase does not start with a word");
    }
    if (isdigit (u[0])) {
        for (first = 0; first < n && isdigit (u[first]); first++) {
        }
    }
    else {
        for (first = 0; first < n && (isalpha (u[first]) || u[first] >= 0x80); first++) {
        }
    }
    uint32_t h = hg_scrub_hash_lower (norm, first);
    for (size_t k = 0; k < lex->n && lex->n <= 1024; k++) {
        const hg_phrase_t *q = &lex->v[k];
        if (q->hash == h && q->len == n && q->type == (uint8_t) type
            && memcmp (q->norm, norm, n) == 0) {
            sodium_memzero (norm, n);
            return 0; /* there already (a patient's reference on each of its records) */
        }
    }
    if (lex->n == lex->cap) {
        size_t cap = lex->cap ? lex->cap * 2 : 64;
        hg_phrase_t *v = realloc (lex->v, cap * sizeof (*v));
        if (!v) {
            sodium_memzero (norm, n);
            return hg_err_set (err, HG_ENOMEM, "out of memory");
        }
        memset (v + lex->cap, 0, (cap - lex->cap) * sizeof (*v));
        lex->v = v;
        lex->cap = cap;
    }
    hg_phrase_t *p = &lex->v[lex->n];
    if (p->room < n + 1) { /* a longer phrase than this slot held before */
        size_t room = n + 1 < 32 ? 32 : n + 1;
        char *copy = malloc (room);
        if (!copy) {
            sodium_memzero (norm, n);
            return hg_err_set (err, HG_ENOMEM, "out of memory");
        }
        if (p->norm) {
            sodium_memzero (p->norm, p->room);
        }
        free (p->norm);
        p->norm = copy;
        p->room = (uint32_t) room;
    }
    memcpy (p->norm, norm, n);
    p->norm[n] = '\0';
    sodium_memzero (norm, n);
    p->len = (uint32_t) n;
    p->hash = h;
    p->type = (uint8_t) type;
    if (lex->n == lex->nalloc) {
        lex->nalloc++;
    }
    lex->n++;
    lex->first |= (uint64_t) 1 << (h & 63);
    return 0;
}

/* ---- replacement ----------------------------------------------------- */

typedef struct {
    char *out;
    size_t cap, len;
} s_out_t;

static void
s_put (s_out_t *o, const char *p, size_t n)
{
    if (o->len < o->cap) {
        size_t room = o->cap - o->len;
        memcpy (o->out + o->len, p, n < room ? n : room);
    }
    o->len += n;
}

static const char *const s_month_full[12] = {
    "january", "february", "march",     "april",   "may",      "june",
    "july",    "august",   "september", "october", "november", "december",
};

/* Writes word in the case of the original orig (n bytes): all capitals,
 * first capital, or lower case. */
static void
s_put_cased (s_out_t *o, const char *word, size_t wn, const char *orig, size_t n)
{
    char buf[16];
    bool all_up = n > 1 && isupper ((unsigned char) orig[0]) && isupper ((unsigned char) orig[1]);
    bool cap = n > 0 && isupper ((unsigned char) orig[0]);
    for (size_t i = 0; i < wn && i < sizeof (buf); i++) {
        buf[i] = all_up || (cap && i == 0) ? (char) toupper ((unsigned char) word[i]) : word[i];
    }
    s_put (o, buf, wn < sizeof (buf) ? wn : sizeof (buf));
}

static void
s_put_num (s_out_t *o, int v, size_t width)
{
    char buf[16];
    size_t n = 0;
    unsigned u = v < 0 ? 0u - (unsigned) v : (unsigned) v;
    do { /* backwards */
        buf[sizeof (buf) - 1 - n++] = (char) ('0' + u % 10);
        u /= 10;
    } while (u && n < sizeof (buf) - 1);
    while (n < width && n < sizeof (buf) - 1) {
        buf[sizeof (buf) - 1 - n++] = '0';
    }
    if (v < 0 && n < sizeof (buf)) {
        buf[sizeof (buf) - 1 - n++] = '-';
    }
    s_put (o, buf + sizeof (buf) - n, n);
}

static const char *
s_ordinal (int d)
{
    if (d % 100 >= 11 && d % 100 <= 13) {
        return "th";
    }
    return d % 10 == 1 ? "st" : d % 10 == 2 ? "nd" : d % 10 == 3 ? "rd" : "th";
}

/* A day part (digits, maybe with its ordinal suffix) written for day d, in
 * two digits when pad or when it had a leading zero. */
static void
s_put_day (s_out_t *o, const char *text, uint32_t off, uint8_t len, int d, bool pad)
{
    size_t digits = 0;
    while (digits < len && isdigit ((unsigned char) text[off + digits])) {
        digits++;
    }
    s_put_num (o, d, pad || (digits >= 2 && text[off] == '0') ? 2 : 1);
    if (digits < len) {
        s_put_cased (o, s_ordinal (d), 2, text + off + digits, len - digits);
    }
}

typedef struct {
    uint32_t off;
    uint8_t len;
    int part; /* 0 year, 1 month, 2 day, 3 day2 */
} s_part_t;

/* The shifted date of d; returns the shifted day2 in *d2. */
static void
s_shift (const hg_scrub_date_t *d, int days, hg_date_t *out, int *d2)
{
    hg_date_t x = {.year = d->year >= 0 ? d->year : 2000,
                   .month = d->month > 0 ? d->month : 7,
                   .day = d->day > 0 ? d->day : (d->month > 0 ? 15 : 2),
                   .prec = HG_PREC_DAY};
    if (d->ylen == 2) {
        x.year = d->year <= 30 ? 2000 + d->year : 1900 + d->year;
    }
    if (d->month <= 0 && d->year >= 0) {
        x.month = 7;
    }
    hg_date_t y = x;
    if (d->day2 > 0) {
        y.day = d->day2;
        hg_date_add_days (&y, days);
        *d2 = y.day;
    }
    hg_date_add_days (&x, days);
    *out = x;
}

static void
s_put_date (s_out_t *o, const char *text, const hg_scrub_span_t *sp, int days)
{
    const hg_scrub_date_t *d = &sp->date;
    hg_date_t x;
    int d2 = 0;
    s_shift (d, days, &x, &d2);
    /* a date written with a leading zero in one numeric part keeps two
     * digits in each (07/27/2022 -> 08/06/2022; 12/31/99 -> 1/3/00) */
    bool pad = d->pad || (d->dlen == 2 && text[d->doff] == '0')
               || (!d->mname && d->mlen == 2 && text[d->moff] == '0');
    s_part_t parts[4] = {{d->yoff, d->ylen, 0},
                         {d->moff, d->mlen, 1},
                         {d->doff, d->dlen, 2},
                         {d->d2off, d->d2len, 3}};
    for (int a = 0; a < 4; a++) { /* by offset */
        for (int b = a + 1; b < 4; b++) {
            if (parts[b].len && (!parts[a].len || parts[b].off < parts[a].off)) {
                s_part_t t = parts[a];
                parts[a] = parts[b];
                parts[b] = t;
            }
        }
    }
    size_t at = sp->start;
    for (int k = 0; k < 4 && parts[k].len; k++) {
        s_put (o, text + at, parts[k].off - at);
        const char *orig = text + parts[k].off;
        if (parts[k].part == 0) {
            s_put_num (o, parts[k].len == 2 ? x.year % 100 : x.year, parts[k].len);
        }
        else if (parts[k].part == 1 && d->mname) {
            const char *m = s_month_full[x.month - 1];
            size_t mn = d->mname == 2 ? strlen (m) : (parts[k].len == 4 && x.month == 9) ? 4 : 3;
            s_put_cased (o, m, mn, orig, parts[k].len);
        }
        else if (parts[k].part == 1) {
            s_put_num (o, x.month, pad || (parts[k].len == 2 && orig[0] == '0') ? 2 : 1);
        }
        else {
            s_put_day (o, text, parts[k].off, parts[k].len, parts[k].part == 2 ? x.day : d2, pad);
        }
        at = parts[k].off + parts[k].len;
    }
    s_put (o, text + at, sp->end - at);
}

/* A surrogate for one name word: a census name chosen by the keyed hash. */
static void
s_put_surrogate (s_out_t *o, const char *w, size_t n, const hg_scrub_replace_t *opt)
{
    unsigned char h[16];
    crypto_generichash_state st;
    crypto_generichash_init (&st, opt->key, 32, sizeof (h));
    const char *pat = opt->patient ? opt->patient : "";
    crypto_generichash_update (&st, (const unsigned char *) pat, strlen (pat) + 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char) tolower ((unsigned char) w[i]);
        crypto_generichash_update (&st, &c, 1);
    }
    crypto_generichash_final (&st, h, sizeof (h));
    uint32_t v = (uint32_t) h[0] | (uint32_t) h[1] << 8 | (uint32_t) h[2] << 16
                 | (uint32_t) h[3] << 24;
    if (n == 1) {
        char c = (char) ('A' + v % 26);
        s_put (o, &c, 1);
        return;
    }
    uint8_t want = s_lex_flags (w, n) & HG_SCRUB_LEX_FIRST ? HG_SCRUB_LEX_FIRST
                                                           : HG_SCRUB_LEX_SURNAME;
    for (uint32_t k = 0; k < hg_scrub_lex_count; k++) {
        uint32_t i = (v + k) % hg_scrub_lex_count;
        if ((hg_scrub_lex_flags[i] & want) && !(hg_scrub_lex_flags[i] & HG_SCRUB_LEX_ENGLISH)) {
            const char *name = hg_scrub_lex_words + hg_scrub_lex_off[i];
            char c = (char) toupper ((unsigned char) name[0]);
            s_put (o, &c, 1);
            s_put (o, name + 1, strlen (name + 1));
            return;
        }
    }
}

static void
s_put_name (s_out_t *o, const char *text, const hg_scrub_span_t *sp,
            const hg_scrub_replace_t *opt)
{
    if (!opt || !opt->key) {
        s_put (o, "[NAME]", 6);
        return;
    }
    size_t i = sp->start;
    while (i < sp->end) {
        size_t j = i;
        while (j < sp->end
               && (isalpha ((unsigned char) text[j]) || (unsigned char) text[j] >= 0x80
                   || text[j] == '\'')) {
            j++;
        }
        if (j > i) {
            s_put_surrogate (o, text + i, j - i, opt);
            i = j;
        }
        else {
            s_put (o, text + i, 1);
            i++;
        }
    }
}

size_t
hg_scrub_replace (const char *text, size_t len, const hg_scrub_span_t *spans, size_t n,
                  const hg_scrub_replace_t *opt, char *out, size_t cap)
{
    s_out_t o = {.out = out, .cap = cap ? cap - 1 : 0};
    size_t at = 0;
    int days = opt ? opt->shift_days : 0;
    for (size_t k = 0; k < n; k++) {
        const hg_scrub_span_t *sp = &spans[k];
        if (sp->start < at || sp->end > len) {
            continue;
        }
        s_put (&o, text + at, sp->start - at);
        if (sp->type == HG_SCRUB_DATE) {
            s_put_date (&o, text, sp, days);
        }
        else if (sp->type == HG_SCRUB_AGE) {
            s_put (&o, "90+", 3);
        }
        else if (sp->type == HG_SCRUB_NAME) {
            s_put_name (&o, text, sp, opt);
        }
        else {
            const char *name = hg_scrub_type_name (sp->type);
            s_put (&o, "[", 1);
            s_put (&o, name, strlen (name));
            s_put (&o, "]", 1);
        }
        at = sp->end;
    }
    s_put (&o, text + at, len - at);
    if (cap > 0) {
        out[o.len < cap - 1 ? o.len : cap - 1] = '\0';
    }
    return o.len;
}
