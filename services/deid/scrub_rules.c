/*
 * scrub_rules.c -- the scrubber's matchers, one pass per family, run by
 * hg_scrub_find in the order of scrub_int.h; a pass claims tokens, and a
 * token claimed is never claimed again. docs/scrubber.md lists the rules.
 */
#include <ctype.h>
#include <string.h>

#include "date.h"
#include "scrub_int.h"
#include "scrub_lexdata.h"

#define T(i) (s->t[(i)])
#define IS_WORD(i) ((i) < s->nt && T (i).kind == TK_WORD)
#define IS_NUM(i) ((i) < s->nt && T (i).kind == TK_NUM)
#define FREE(i) ((i) < s->nt && T (i).mark < 0)
#define NEWLINE(i) ((i) < s->nt && (T (i).sp & SP_NEWLINE))
#define TLEN(i) (T (i).e - T (i).s)

static const char *const s_units[] = {
    "mg",       "mcg",      "g",      "kg",      "ml",      "l",     "dl",    "cc",
    "meq",      "mmol",     "mmhg",   "cm",      "mm",      "iu",    "u",     "units",
    "unit",     "tab",      "tabs",   "tablet",  "tablets", "cap",   "caps",  "capsule",
    "capsules", "puff",     "puffs",  "dose",    "doses",   "mg/dl", "kcal",  "cal",
    "calories", "steps",    "ft",     "lb",      "lbs",     "oz",    "hours", "hrs",
    "hr",       "min",      "mins",   "minutes", "days",    "weeks", "times", "x",
    "ng",       "pg",       "nmol",   "umol",    "mosm",    "%",     "beats", "bpm",
    "cells",    "patients", "people", "mls",     NULL,
};

static bool
s_unit_after (const hg_scrub_t *s, size_t j)
{
    return j < s->nt && (hg_tok_in (s, j, s_units) || hg_tok_punct (s, j, '%'));
}

/* ---- per-deployment lexicon ------------------------------------------ */

/* The token ending a match of phrase p at token i, or 0. */
static size_t
s_phrase_at (const hg_scrub_t *s, size_t i, const hg_phrase_t *p)
{
    const char *x = s->text;
    size_t at = T (i).s, k = 0;
    while (k < p->len) {
        if (p->norm[k] == ' ') {
            if (at >= s->len || !isspace ((unsigned char) x[at])) {
                return 0;
            }
            while (at < s->len && isspace ((unsigned char) x[at])) {
                at++;
            }
            k++;
            continue;
        }
        if (at >= s->len || tolower ((unsigned char) x[at]) != (unsigned char) p->norm[k]) {
            return 0;
        }
        at++;
        k++;
    }
    for (size_t j = i; j < s->nt && T (j).s < at; j++) {
        if (T (j).e == at) {
            return j + 1;
        }
    }
    return 0;
}

/* The longest phrase of lex starting at token i: its end token (> *best)
 * and type, into *best and *type. */
static void
s_lexicon_at (const hg_scrub_t *s, const hg_scrub_lexicon_t *lex, size_t i, uint32_t h,
              size_t *best, int *type)
{
    if (!lex || !(lex->first >> (h & 63) & 1u)) {
        return; /* no phrase starts with this token */
    }
    for (size_t k = 0; k < lex->n; k++) {
        const hg_phrase_t *p = &lex->v[k];
        size_t end;
        if (p->hash == h && (end = s_phrase_at (s, i, p)) > *best) {
            if (end < s->nt && hg_tok_tight (s, end) && T (end).kind != TK_PUNCT) {
                continue; /* stops inside a word */
            }
            *best = end;
            *type = p->type;
        }
    }
}

void
hg_scrub_pass_lexicon (hg_scrub_t *s)
{
    if ((!s->lex || s->lex->n == 0) && (!s->known || s->known->n == 0)) {
        return;
    }
    for (size_t i = 0; i < s->nt; i++) {
        if (T (i).kind != TK_WORD && T (i).kind != TK_NUM) {
            continue;
        }
        if (i > 0 && hg_tok_tight (s, i) && T (i - 1).kind != TK_PUNCT) {
            continue; /* not the start of a word */
        }
        uint32_t h = T (i).hash;
        size_t best = 0;
        int type = -1;
        s_lexicon_at (s, s->known, i, h, &best, &type);
        s_lexicon_at (s, s->lex, i, h, &best, &type);
        if (type >= 0 && hg_scrub_claim (s, i, best, (hg_scrub_type_t) type, NULL)) {
            i = best - 1;
        }
    }
}

/* ---- numbers: contacts, identifiers, phones -------------------------- */

static const char *const s_id_cues[] = {
    "mrn",         "mr",    "acct",   "account",  "ssn",       "id",        "specimen",
    "accession",   "acc",   "device", "serial",   "sn",        "license",   "licence",
    "lic",         "dea",   "npi",    "passport", "member",    "policy",    "claim",
    "csn",         "fin",   "record", "pin",      "badge",     "card",      "lot",
    "requisition", "order", "case",   "visit",    "encounter", "insurance", "iban",
    "routing",     "dl",    "vin",    "plate",    "number",    "no",        "#",
    NULL,
};

static const char *const s_phone_cues[] = {
    "phone",     "tel",        "telephone", "cell",      "mobile",  "fax",   "pager",
    "pgr",       "beeper",     "ph",        "call",      "contact", "reach", "phone#",
    "tel.",      "cellphone",  "ext",       "extension", "page",    "paged", "ph#",
    "desk",      "office",     "landline",  "whatsapp",  "sms",     "text",  "texted",
    "answering", "registered", NULL,
};

/* labels written after a number ("781 1704 office", "085 175 7641-Fax") */
static const char *const s_phone_after[] = {
    "office", "fax", "mobile", "cell", "home", "work", "desk", "pager", "phone", "tel", NULL,
};

/* The end of the run of identifier characters (letters, digits, '-', '/',
 * '.') touching from token i; *digits their digit count. */
static size_t
s_code_run (const hg_scrub_t *s, size_t i, size_t *digits)
{
    size_t j = i;
    *digits = 0;
    while (j < s->nt && FREE (j) && (j == i || hg_tok_tight (s, j))) {
        if (T (j).kind == TK_NUM) {
            *digits += T (j).ndig;
        }
        else if (T (j).kind == TK_PUNCT) {
            if (!(hg_tok_punct (s, j, '-') || hg_tok_punct (s, j, '/')
                  || hg_tok_punct (s, j, '.'))
                || !(IS_NUM (j + 1) || IS_WORD (j + 1)) || !hg_tok_tight (s, j + 1)) {
                break;
            }
        }
        else if (T (j).kind != TK_WORD) {
            break;
        }
        j++;
    }
    return j;
}

static bool
s_id_cued (hg_scrub_t *s, size_t i)
{
    if (!hg_tok_in (s, i, s_id_cues)) {
        return false;
    }
    bool weak = hg_tok_is (s, i, "no") || hg_tok_is (s, i, "number") || hg_tok_is (s, i, "#")
                || hg_tok_is (s, i, "mr") || hg_tok_is (s, i, "case")
                || hg_tok_is (s, i, "order");
    size_t j = i + 1, skipped = 0;
    while (j < s->nt && skipped < 4
           && (hg_tok_punct (s, j, ':') || hg_tok_punct (s, j, '#') || hg_tok_punct (s, j, '.')
               || hg_tok_punct (s, j, '-') || hg_tok_punct (s, j, '=') || hg_tok_is (s, j, "no")
               || hg_tok_is (s, j, "number") || hg_tok_is (s, j, "num") || hg_tok_is (s, j, "is")
               || hg_tok_is (s, j, "nr") || hg_tok_is (s, j, "#:"))) {
        j++;
        skipped++;
    }
    if (weak && skipped == 0 && !hg_tok_is (s, i, "#")) {
        return false;
    }
    size_t digits, e = s_code_run (s, j, &digits);
    bool all_digits = e == j + 1 && IS_NUM (j);
    while (all_digits && IS_NUM (e) && !hg_tok_tight (s, e) && !NEWLINE (e) && T (e).ndig >= 3
           && FREE (e)
           && !(e + 1 < s->nt && hg_tok_tight (s, e + 1) && T (e + 1).kind != TK_PUNCT)
           && !s_unit_after (s, e + 1)) {
        digits += T (e).ndig; /* 4111 1111 1111 1111 */
        e++;
    }
    if (e == j || digits < (weak ? 4u : 3u) || s_unit_after (s, e)) {
        return false;
    }
    if (IS_NUM (j) && T (j).ndig <= 2 && hg_tok_punct (s, j + 1, '/')) {
        return false; /* a date after "visit", "order" */
    }
    return hg_scrub_claim (s, j, e, HG_SCRUB_ID, NULL);
}

/* NNN-NN-NNNN (or with spaces): a social security number. */
static bool
s_ssn (hg_scrub_t *s, size_t i)
{
    if (!(IS_NUM (i) && T (i).ndig == 3 && IS_NUM (i + 2) && T (i + 2).ndig == 2 && IS_NUM (i + 4)
          && T (i + 4).ndig == 4)) {
        return false;
    }
    bool dash = hg_tok_punct (s, i + 1, '-') && hg_tok_punct (s, i + 3, '-')
                && hg_tok_tight (s, i + 1) && hg_tok_tight (s, i + 2) && hg_tok_tight (s, i + 3)
                && hg_tok_tight (s, i + 4);
    if (!dash || (i + 5 < s->nt && hg_tok_tight (s, i + 5) && T (i + 5).kind != TK_PUNCT)) {
        return false;
    }
    return hg_scrub_claim (s, i, i + 5, HG_SCRUB_ID, NULL);
}

/* Groups of 4 digits (3 or more, apart by one space or '-'): card numbers;
 * an IBAN (two capitals, two digits, groups). */
static bool
s_groups (hg_scrub_t *s, size_t i)
{
    size_t j = i, groups = 0;
    bool iban = IS_WORD (i) && TLEN (i) == 2 && T (i).shape == SH_UPPER && IS_NUM (i + 1)
                && T (i + 1).ndig == 2 && hg_tok_tight (s, i + 1);
    if (iban) {
        j = i + 2;
        while (j < s->nt && FREE (j) && !hg_tok_tight (s, j) && !NEWLINE (j) && TLEN (j) <= 4
               && (IS_NUM (j) || (IS_WORD (j) && T (j).shape == SH_UPPER))) {
            size_t k = j + 1;
            while (k < s->nt && hg_tok_tight (s, k) && (IS_NUM (k) || IS_WORD (k))) {
                k++;
            }
            j = k;
            groups++;
        }
        return groups >= 3 && hg_scrub_claim (s, i, j, HG_SCRUB_ID, NULL);
    }
    while (IS_NUM (j) && T (j).ndig == 4 && FREE (j)) {
        groups++;
        if ((hg_tok_punct (s, j + 1, '-') || !hg_tok_tight (s, j + 1)) && IS_NUM (j + 2)
            && T (j + 2).ndig == 4 && (hg_tok_punct (s, j + 1, '-') ? hg_tok_tight (s, j + 2) : 1)
            && !NEWLINE (j + 1)) {
            j += hg_tok_punct (s, j + 1, '-') ? 2 : 1;
        }
        else if (IS_NUM (j + 1) && T (j + 1).ndig == 4 && !hg_tok_tight (s, j + 1)
                 && !NEWLINE (j + 1)) {
            j += 1;
        }
        else {
            break;
        }
    }
    if (groups < 3) {
        return false;
    }
    return hg_scrub_claim (s, i, j + 1, HG_SCRUB_ID, NULL);
}

/* An extension after a phone number ending at token e: returns the new end. */
static size_t
s_extension (const hg_scrub_t *s, size_t e)
{
    size_t j = e;
    if (hg_tok_punct (s, j, ',')) {
        j++;
    }
    if (hg_tok_is (s, j, "x") || hg_tok_is (s, j, "ext") || hg_tok_is (s, j, "extension")) {
        j++;
        if (hg_tok_punct (s, j, '.')) {
            j++;
        }
        if (hg_tok_punct (s, j, ':')) {
            j++;
        }
        if (IS_NUM (j) && T (j).ndig <= 6) {
            return j + 1;
        }
    }
    return e;
}

/* The digit groups of a phone number from token i (after '+' and '(' when
 * there): their sizes, digits and where they end. */
typedef struct {
    size_t g, digits, sizes[8], end;
    bool seps_same; /* every separator the same '-' or '.' */
} s_groups_t;

static void
s_phone_groups (const hg_scrub_t *s, size_t j, s_groups_t *pg)
{
    char sep = 0;
    memset (pg, 0, sizeof (*pg));
    pg->seps_same = true;
    while (IS_NUM (j) && FREE (j) && pg->g < 8) {
        pg->sizes[pg->g++] = T (j).ndig;
        pg->digits += T (j).ndig;
        size_t k = j + 1;
        if (hg_tok_punct (s, k, ')')) {
            k++;
        }
        if ((hg_tok_punct (s, k, '-') || hg_tok_punct (s, k, '.')) && hg_tok_tight (s, k)
            && IS_NUM (k + 1) && hg_tok_tight (s, k + 1)) {
            char c = s->text[T (k).s];
            pg->seps_same = pg->seps_same && (sep == 0 || sep == c);
            sep = c;
            j = k + 1;
        }
        else if (IS_NUM (k) && !NEWLINE (k) && (k > j + 1 || !hg_tok_tight (s, k))
                 && T (k).ndig >= 2
                 && (s->text[T (k).s - 1] == ' ' || s->text[T (k).s - 1] == ')')
                 && T (k).s - T (k - 1).e <= 1) {
            pg->seps_same = false;
            j = k;
        }
        else {
            j = k > j + 1 ? k : j + 1;
            break;
        }
    }
    pg->end = j;
}

static bool
s_phone (hg_scrub_t *s, size_t i, bool cued)
{
    size_t j = i;
    bool plus = hg_tok_punct (s, i, '+'), paren = false;
    if (plus) {
        j++;
    }
    if (hg_tok_punct (s, j, '(')) {
        paren = true;
        j++;
    }
    bool zero = j < s->nt && s->text[T (j).s] == '0';
    s_groups_t pg;
    s_phone_groups (s, j, &pg);
    size_t g = pg.g, digits = pg.digits, *sizes = pg.sizes;
    j = pg.end;
    bool ext = hg_tok_is (s, j, "x") && IS_NUM (j + 1) && hg_tok_tight (s, j + 1);
    if (g == 0
        || (!ext && j < s->nt && hg_tok_tight (s, j)
            && (hg_tok_punct (s, j, '/') || IS_NUM (j) || IS_WORD (j)
                || (hg_tok_punct (s, j, '.') && IS_NUM (j + 1) && hg_tok_tight (s, j + 1))))) {
        return false;
    }
    if (g >= 2 && sizes[0] == 4 && sizes[1] <= 2 && T (i).val >= 1900 && T (i).val <= 2099) {
        return false; /* 2000-04-16 11:34 is a date */
    }
    if (cued && g == 1 && digits <= 6 && T (j).kind == TK_WORD && !NEWLINE (j)
        && T (j).shape == SH_CAP && IS_NUM (j + 1) && !NEWLINE (j + 1) && !hg_tok_tight (s, j + 1)
        && T (j).lists == 0
        && (!(T (j).lex & (HG_SCRUB_LEX_ENGLISH | HG_SCRUB_LEX_CLINICAL))
            || (T (j).lex & HG_SCRUB_LEX_PLACE))) {
        return false; /* "call a taxi to 28030 Edeby 55": an address (the places pass takes it) */
    }
    if (!cued && digits >= 7 && !NEWLINE (j)
        && hg_tok_in (s, hg_tok_punct (s, j, '-') && hg_tok_tight (s, j) ? j + 1 : j,
                      s_phone_after)) {
        cued = true; /* the label after it */
    }
    bool ok = false;
    if (plus) {
        ok = digits >= 8 && digits <= 15 && g >= 2;
    }
    else if (g == 3 && sizes[0] == 3 && sizes[1] == 3 && sizes[2] == 4) {
        ok = true;
    }
    else if (g == 4 && sizes[0] <= 3 && sizes[1] == 3 && sizes[2] == 3 && sizes[3] == 4) {
        ok = true;
    }
    else if (paren && digits >= 9 && digits <= 12) {
        ok = true;
    }
    else if (cued) {
        ok = digits >= 4 && digits <= 15
             && !(g == 1 && T (i).ndig == 4 && T (i).val >= 1900 && T (i).val <= 2099);
    }
    else if (g >= 3 && digits >= 10 && digits <= 13 && sizes[0] <= 4) {
        ok = true;
    }
    else if (g >= 3 && zero && digits >= 9 && digits <= 12) {
        ok = true; /* 07700 063 966: a trunk prefix */
    }
    else if (g >= 4 && digits >= 8 && digits <= 12 && pg.seps_same) {
        ok = true; /* 03.93.92.16.85, 71-33-52-22 */
    }
    if (!ok || (!ext && s_unit_after (s, j))) {
        return false;
    }
    return hg_scrub_claim (s, i, s_extension (s, j), HG_SCRUB_PHONE, NULL);
}

static bool
s_ip (hg_scrub_t *s, size_t i)
{
    for (int k = 0; k < 4; k++) {
        size_t n = i + 2 * (size_t) k;
        if (!IS_NUM (n) || T (n).ndig > 3 || T (n).val > 255 || (k && !hg_tok_tight (s, n))) {
            return false;
        }
        if (k < 3 && (!hg_tok_punct (s, n + 1, '.') || !hg_tok_tight (s, n + 1))) {
            return false;
        }
    }
    return hg_scrub_claim (s, i, i + 7, HG_SCRUB_CONTACT, NULL);
}

void
hg_scrub_pass_numbers (hg_scrub_t *s)
{
    size_t cue_until = 0;
    for (size_t i = 0; i < s->nt; i++) {
        if (!FREE (i)) {
            continue;
        }
        if (T (i).kind == TK_URL) {
            hg_scrub_claim (s, i, i + 1, HG_SCRUB_CONTACT, NULL);
            continue;
        }
        if (IS_WORD (i) && hg_tok_in (s, i, s_phone_cues)) {
            cue_until = i + 5;
        }
        else if (cue_until > 0 && i + 4 > cue_until
                 && (hg_tok_punct (s, i, '.') || hg_tok_punct (s, i, '?')
                     || hg_tok_punct (s, i, '!') || hg_tok_punct (s, i, ';'))
                 && (i + 1 >= s->nt || !hg_tok_tight (s, i + 1))) {
            cue_until = 0; /* the sentence ends: "pager 4321. Platelets 150 200 250" */
        }
        if ((IS_WORD (i) || hg_tok_punct (s, i, '#')) && s_id_cued (s, i)) {
            continue;
        }
        if (i > 0 && hg_tok_tight (s, i) && (IS_NUM (i - 1) || IS_WORD (i - 1))) {
            continue; /* inside a code */
        }
        if (s_ip (s, i) || s_ssn (s, i) || s_groups (s, i)) {
            continue;
        }
        if ((IS_NUM (i) || hg_tok_punct (s, i, '+') || hg_tok_punct (s, i, '('))
            && !(i > 0 && hg_tok_tight (s, i) && hg_tok_punct (s, i - 1, '.'))) {
            s_phone (s, i, i <= cue_until);
        }
    }
}

/* ---- dates ----------------------------------------------------------- */

static const char *const s_month_abbr[12] = {
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
};
static const char *const s_month_full[12] = {
    "january", "february", "march",     "april",   "may",      "june",
    "july",    "august",   "september", "october", "november", "december",
};

/* every month word hg_scrub_month knows, for the token filter */
static const char *const s_month_words[] = {
    "january", "february", "march",    "april", "may", "june", "july", "august", "september",
    "october", "november", "december", "jan",   "feb", "mar",  "apr",  "jun",    "jul",
    "aug",     "sep",      "oct",      "nov",   "dec", "sept", NULL,
};

int
hg_scrub_month (const hg_scrub_t *s, size_t i, bool *full)
{
    if (!IS_WORD (i) || TLEN (i) < 3 || TLEN (i) > 9
        || !(T (i).lists >> HG_LIST_s_month_words & 1u)) {
        return 0;
    }
    for (int m = 0; m < 12; m++) {
        if (hg_tok_is (s, i, s_month_full[m])) {
            *full = true;
            return m + 1;
        }
        if (hg_tok_is (s, i, s_month_abbr[m]) || (m == 8 && hg_tok_is (s, i, "sept"))) {
            *full = m == 4; /* "may" is both */
            return m + 1;
        }
    }
    return 0;
}

static bool
s_valid (int y, int m, int d)
{
    if (m < 1 || m > 12 || d < 1) {
        return false;
    }
    return d <= hg_date_month_days (y > 0 ? y : 2000, m);
}

static void
s_part (const hg_scrub_t *s, size_t i, uint32_t *off, uint8_t *len)
{
    *off = T (i).s;
    *len = (uint8_t) TLEN (i);
}

/* A time after a date ending at token e ("14:30", "at 2:15 pm", "T10:00:00Z",
 * "@ 1430"): the new end. */
static size_t
s_time_after (const hg_scrub_t *s, size_t e)
{
    size_t j = e;
    bool t_sep = hg_tok_is (s, j, "t") && hg_tok_tight (s, j) && hg_tok_tight (s, j + 1);
    if (t_sep) {
        j++;
    }
    else {
        if (hg_tok_punct (s, j, ',')) {
            j++;
        }
        if (hg_tok_is (s, j, "at") || hg_tok_punct (s, j, '@')) {
            j++;
            if (IS_NUM (j) && T (j).ndig == 4 && T (j).val % 100 < 60 && T (j).val < 2400) {
                return j + 1;
            }
        }
    }
    if (!(IS_NUM (j) && T (j).ndig <= 2 && T (j).val < 24 && hg_tok_punct (s, j + 1, ':')
          && IS_NUM (j + 2) && T (j + 2).ndig == 2 && hg_tok_tight (s, j + 1)
          && hg_tok_tight (s, j + 2) && !NEWLINE (j))) {
        return e;
    }
    j += 3;
    while (hg_tok_punct (s, j, ':') || hg_tok_punct (s, j, '.')) {
        if (!IS_NUM (j + 1) || !hg_tok_tight (s, j) || !hg_tok_tight (s, j + 1)) {
            break;
        }
        j += 2;
    }
    if (hg_tok_is (s, j, "am") || hg_tok_is (s, j, "pm") || hg_tok_is (s, j, "z")
        || hg_tok_is (s, j, "hrs") || hg_tok_is (s, j, "h")) {
        j++;
    }
    else if ((hg_tok_is (s, j, "a") || hg_tok_is (s, j, "p")) && hg_tok_punct (s, j + 1, '.')
             && hg_tok_is (s, j + 2, "m") && hg_tok_punct (s, j + 3, '.')) {
        j += 4;
    }
    return j;
}

/* NN/NN/NNNN, NN-NN-NN, NNNN-NN-NN, NN.NN.NNNN (one separator kind). */
static bool
s_date_numeric (hg_scrub_t *s, size_t i)
{
    if (!(IS_NUM (i) && IS_NUM (i + 2) && IS_NUM (i + 4) && T (i + 1).kind == TK_PUNCT)) {
        return false;
    }
    char sep = s->text[T (i + 1).s];
    if (!(sep == '/' || sep == '-' || sep == '.') || !hg_tok_punct (s, i + 1, sep)
        || !hg_tok_punct (s, i + 3, sep)) {
        return false;
    }
    for (size_t k = i + 1; k <= i + 4; k++) {
        if (!hg_tok_tight (s, k)) {
            return false;
        }
    }
    if (i + 5 < s->nt && hg_tok_tight (s, i + 5)
        && (IS_NUM (i + 5) || IS_WORD (i + 5)
            || ((hg_tok_punct (s, i + 5, sep) || hg_tok_punct (s, i + 5, '.')) && IS_NUM (i + 6)
                && hg_tok_tight (s, i + 6)))) {
        if (!(IS_WORD (i + 5) && hg_tok_is (s, i + 5, "t"))) {
            return false;
        }
    }
    hg_scrub_date_t d = {.year = -1, .month = -1, .day = -1, .day2 = -1};
    size_t a = i, b = i + 2, c = i + 4;
    if (T (a).ndig == 4 && T (b).ndig <= 2 && T (c).ndig <= 2) { /* ISO */
        d.pad = 1;
        d.year = (int16_t) T (a).val;
        s_part (s, a, &d.yoff, &d.ylen);
        d.month = (int16_t) T (b).val;
        s_part (s, b, &d.moff, &d.mlen);
        d.day = (int16_t) T (c).val;
        s_part (s, c, &d.doff, &d.dlen);
    }
    else if (T (a).ndig <= 2 && T (b).ndig <= 2 && (T (c).ndig == 4 || T (c).ndig == 2)) {
        bool dm = T (a).val > 12 || sep == '.'; /* day first when it cannot be a month */
        if (sep == '.' && T (b).val > 12) {
            dm = false;
        }
        size_t mi = dm ? b : a, di = dm ? a : b;
        d.month = (int16_t) T (mi).val;
        s_part (s, mi, &d.moff, &d.mlen);
        d.day = (int16_t) T (di).val;
        s_part (s, di, &d.doff, &d.dlen);
        d.year = (int16_t) T (c).val;
        s_part (s, c, &d.yoff, &d.ylen);
        if (d.ylen == 4 && (d.year < 1850 || d.year > 2150)) {
            return false;
        }
    }
    else {
        return false;
    }
    if (!s_valid (d.ylen == 4 ? d.year : 2000, d.month, d.day)) {
        return false;
    }
    return hg_scrub_claim (s, i, s_time_after (s, i + 5), HG_SCRUB_DATE, &d);
}

static const char *const s_date_cues[] = {
    "on",        "since",     "from",     "until",      "till",        "to",      "dated",
    "date",      "dos",       "admitted", "discharged", "seen",        "through", "thru",
    "by",        "starting",  "started",  "last",       "next",        "before",  "after",
    "dob",       "d.o.b",     "born",     "of",         "between",     "and",     "visit",
    "surgery",   "s/p",       "in",       "scheduled",  "appointment", "appt",    "f/u",
    "follow-up", "effective", NULL,
};

/* M/D or M-D without a year: a fraction, a score or a blood pressure unless
 * a cue says it is a date, or it cannot be one of those. */
static bool
s_date_short (hg_scrub_t *s, size_t i)
{
    if (!(IS_NUM (i) && (hg_tok_punct (s, i + 1, '/') || hg_tok_punct (s, i + 1, '-'))
          && IS_NUM (i + 2) && hg_tok_tight (s, i + 1) && hg_tok_tight (s, i + 2))) {
        return false;
    }
    if (T (i).ndig > 2 || T (i + 2).ndig > 2
        || !s_valid (2000, (int) T (i).val, (int) T (i + 2).val)) {
        return false;
    }
    if (i + 3 < s->nt && hg_tok_tight (s, i + 3) && T (i + 3).kind != TK_PUNCT) {
        return false;
    }
    if (hg_tok_tight (s, i + 3) && (hg_tok_punct (s, i + 3, '/') || hg_tok_punct (s, i + 3, '.'))
        && IS_NUM (i + 4)) {
        return false;
    }
    bool dash = hg_tok_punct (s, i + 1, '-');
    bool cued = i > 0 && (hg_tok_in (s, i - 1, s_date_cues) || hg_tok_punct (s, i - 1, '('));
    if (i > 0 && T (i - 1).mark == HG_SCRUB_DATE) {
        cued = true; /* a range after a date */
    }
    if (s_unit_after (s, i + 3) || (i > 0 && hg_tok_tight (s, i) && T (i - 1).kind != TK_PUNCT)) {
        return false;
    }
    if (!cued && (dash || T (i + 2).val <= 10 || T (i).val > T (i + 2).val * 3)) {
        return false; /* 3/10 pain, 5/5 strength, 1-2 tabs */
    }
    hg_scrub_date_t d = {.year = -1,
                         .month = (int16_t) T (i).val,
                         .day = (int16_t) T (i + 2).val,
                         .day2 = -1};
    s_part (s, i, &d.moff, &d.mlen);
    s_part (s, i + 2, &d.doff, &d.dlen);
    return hg_scrub_claim (s, i, s_time_after (s, i + 3), HG_SCRUB_DATE, &d);
}

/* A day number (1-31, maybe "3rd") at token j: the token after it, or 0. */
static size_t
s_day_at (const hg_scrub_t *s, size_t j, int *day)
{
    if (!IS_NUM (j) || T (j).ndig > 2 || T (j).val < 1 || T (j).val > 31) {
        return 0;
    }
    *day = (int) T (j).val;
    if (IS_WORD (j + 1) && hg_tok_tight (s, j + 1)
        && (hg_tok_is (s, j + 1, "st") || hg_tok_is (s, j + 1, "nd") || hg_tok_is (s, j + 1, "rd")
            || hg_tok_is (s, j + 1, "th"))) {
        return j + 2;
    }
    if (j + 1 < s->nt && hg_tok_tight (s, j + 1) && (IS_WORD (j + 1) || IS_NUM (j + 1))) {
        return 0;
    }
    return j + 1;
}

/* A year after a month name at j (",", "of", "'" allowed before): the token
 * after it, or 0. */
static size_t
s_year_after (const hg_scrub_t *s, size_t j, hg_scrub_date_t *d)
{
    if (hg_tok_punct (s, j, ',') || hg_tok_punct (s, j, '-') || hg_tok_punct (s, j, '/')
        || hg_tok_is (s, j, "of")) {
        j++;
    }
    bool apos = hg_tok_punct (s, j, '\'')
                || (j < s->nt && TLEN (j) == 3
                    && memcmp (s->text + T (j).s, "\xE2\x80\x99", 3) == 0);
    if (apos) {
        j++;
    }
    if (!IS_NUM (j)
        || !(T (j).ndig == 4
             || (T (j).ndig == 2
                 && (apos || hg_tok_tight (s, j) || hg_tok_punct (s, j - 1, ',')
                     || hg_tok_punct (s, j - 1, '-')))))
        return 0;
    if (T (j).ndig == 4 && (T (j).val < 1850 || T (j).val > 2150)) {
        return 0;
    }
    if (j + 1 < s->nt && hg_tok_tight (s, j + 1) && (IS_NUM (j + 1) || IS_WORD (j + 1))) {
        return 0;
    }
    if (s_unit_after (s, j + 1)) {
        return 0;
    }
    d->year = (int16_t) T (j).val;
    s_part (s, j, &d->yoff, &d->ylen);
    return j + 1;
}

static bool
s_month_ok (const hg_scrub_t *s, size_t i)
{
    /* lower-case "may", "mar", "dec" are words unless the note is lower case */
    if (T (i).shape == SH_LOWER && !s->anycase) {
        return !(hg_tok_is (s, i, "may") || hg_tok_is (s, i, "mar") || hg_tok_is (s, i, "dec")
                 || hg_tok_is (s, i, "march") || hg_tok_is (s, i, "jan")
                 || hg_tok_is (s, i, "sep") || hg_tok_is (s, i, "aug"));
    }
    return true;
}

/* "Jan 3", "January 3rd, 2020", "Jan 3-5, 2020", "Jan. 2020", "March of 2019",
 * "3 Jan 2020", "3rd of January", "03-JAN-2020". */
static bool
s_date_month (hg_scrub_t *s, size_t i)
{
    bool full = false;
    hg_scrub_date_t d = {.year = -1, .month = -1, .day = -1, .day2 = -1};
    size_t m = i, j, e = 0;
    int day = 0;
    if (IS_NUM (i) && (j = s_day_at (s, i, &day)) > 0) { /* day first */
        size_t k = j;
        if (hg_tok_is (s, k, "of") || hg_tok_punct (s, k, '-') || hg_tok_punct (s, k, '/')) {
            k++;
        }
        int mo = hg_scrub_month (s, k, &full);
        if (!mo || !s_month_ok (s, k)) {
            return false;
        }
        m = k;
        d.month = (int16_t) mo;
        d.day = (int16_t) day;
        s_part (s, i, &d.doff, &d.dlen);
        d.dlen = (uint8_t) (T (j - 1).e - T (i).s);
        e = m + 1;
        if (hg_tok_punct (s, e, '.') && hg_tok_tight (s, e)) {
            e++;
        }
        size_t y = s_year_after (s, e, &d);
        e = y ? y : e;
    }
    else {
        int mo = hg_scrub_month (s, i, &full);
        if (!mo || !s_month_ok (s, i)) {
            return false;
        }
        d.month = (int16_t) mo;
        j = i + 1;
        if (hg_tok_punct (s, j, '.') && hg_tok_tight (s, j)) {
            j++;
        }
        size_t after_day = hg_tok_punct (s, j, '-') && hg_tok_tight (s, j)
                               ? 0
                               : s_day_at (s, j, &day);
        if (after_day) {
            d.day = (int16_t) day;
            d.doff = T (j).s;
            d.dlen = (uint8_t) (T (after_day - 1).e - T (j).s);
            e = after_day;
            int day2;
            size_t r = (hg_tok_punct (s, e, '-') || hg_tok_is (s, e, "to"))
                           ? s_day_at (s, e + 1, &day2)
                           : 0;
            if (r && day2 > day) {
                d.day2 = (int16_t) day2;
                d.d2off = T (e + 1).s;
                d.d2len = (uint8_t) (T (r - 1).e - T (e + 1).s);
                e = r;
            }
            size_t y = s_year_after (s, e, &d);
            if (!y && s_unit_after (s, e)) {
                return false; /* "Mar 3 cm" */
            }
            e = y ? y : e;
        }
        else {
            e = s_year_after (s, j, &d);
            if (!e) {
                return false; /* a month name alone is not PHI */
            }
        }
    }
    if (!s_valid (d.year > 0 && d.ylen == 4 ? d.year : 2000, d.month, d.day > 0 ? d.day : 1)) {
        return false;
    }
    s_part (s, m, &d.moff, &d.mlen);
    d.mname = full ? 2 : 1; /* "May" is written out: it moves to "July", not "Jul" */
    return hg_scrub_claim (s, i, s_time_after (s, e), HG_SCRUB_DATE, &d);
}

/* YYYYMMDD (an HL7-style date in a note). */
static bool
s_date_compact (hg_scrub_t *s, size_t i)
{
    if (!IS_NUM (i) || T (i).ndig != 8
        || (i > 0 && hg_tok_tight (s, i) && T (i - 1).kind != TK_PUNCT)) {
        return false;
    }
    int v = (int) T (i).val, y = v / 10000, m = v / 100 % 100, dd = v % 100;
    if (y < 1900 || y > 2099 || !s_valid (y, m, dd)) {
        return false;
    }
    hg_scrub_date_t d = {.year = (int16_t) y,
                         .month = (int16_t) m,
                         .day = (int16_t) dd,
                         .day2 = -1,
                         .yoff = T (i).s,
                         .ylen = 4,
                         .moff = T (i).s + 4,
                         .mlen = 2,
                         .doff = T (i).s + 6,
                         .dlen = 2,
                         .pad = 1};
    return hg_scrub_claim (s, i, i + 1, HG_SCRUB_DATE, &d);
}

/* A bare year (1900-2099) not followed by a unit, or '98. */
static bool
s_date_year (hg_scrub_t *s, size_t i)
{
    hg_scrub_date_t d = {.year = -1, .month = -1, .day = -1, .day2 = -1};
    bool apos = (hg_tok_punct (s, i, '\'') && IS_NUM (i + 1) && T (i + 1).ndig == 2
                 && hg_tok_tight (s, i + 1) && (i == 0 || !hg_tok_tight (s, i)));
    size_t y = apos ? i + 1 : i;
    if (!IS_NUM (y) || !(apos || (T (y).ndig == 4 && T (y).val >= 1900 && T (y).val <= 2099))) {
        return false;
    }
    if ((y + 1 < s->nt && hg_tok_tight (s, y + 1) && T (y + 1).kind != TK_PUNCT)
        || (hg_tok_tight (s, y + 1)
            && (hg_tok_punct (s, y + 1, '.') || hg_tok_punct (s, y + 1, ',')) && IS_NUM (y + 2)
            && hg_tok_tight (s, y + 2))
        || s_unit_after (s, y + 1)) {
        return false;
    }
    if (!apos && i > 0 && hg_tok_tight (s, i)
        && (T (i - 1).kind != TK_PUNCT || hg_tok_punct (s, i - 1, '.')
            || hg_tok_punct (s, i - 1, '$') || hg_tok_punct (s, i - 1, '#')
            || hg_tok_punct (s, i - 1, ','))) {
        return false;
    }
    if (i > 0 && (hg_tok_is (s, i - 1, "x") || hg_tok_punct (s, i - 1, '$'))) {
        return false;
    }
    d.year = (int16_t) T (y).val;
    s_part (s, y, &d.yoff, &d.ylen);
    return hg_scrub_claim (s, i, y + 1, HG_SCRUB_DATE, &d);
}

void
hg_scrub_pass_dates (hg_scrub_t *s)
{
    for (size_t i = 0; i < s->nt; i++) {
        if (FREE (i) && (T (i).kind == TK_NUM || T (i).kind == TK_WORD)) {
            if (i > 0 && hg_tok_tight (s, i) && (IS_NUM (i - 1) || IS_WORD (i - 1))
                && !(IS_WORD (i) && IS_NUM (i - 1))) {
                continue;
            }
            (void) (s_date_numeric (s, i) || s_date_compact (s, i) || s_date_month (s, i));
        }
    }
}

void
hg_scrub_pass_dates_late (hg_scrub_t *s)
{
    for (size_t i = 0; i < s->nt; i++) { /* after addresses: ranges, bare years */
        if (FREE (i)) {
            (void) (s_date_short (s, i) || s_date_year (s, i));
        }
    }
}

/* ---- ages over 89 ---------------------------------------------------- */

static const char *const s_age_after[] = {
    "year", "years", "yr",  "yrs",       "yo",   "y",  "yoa",
    "yom",  "yof",   "y.o", "years-old", "yrs.", NULL,
};

static const char *const s_tens[] = {"ninety", "hundred", NULL};
static const char *const s_ones[] = {
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", NULL,
};

void
hg_scrub_pass_ages (hg_scrub_t *s)
{
    for (size_t i = 0; i < s->nt; i++) {
        if (!FREE (i)) {
            continue;
        }
        size_t e = 0;
        if (IS_NUM (i) && T (i).ndig <= 3 && T (i).val >= 90 && T (i).val <= 130
            && !(hg_tok_punct (s, i + 1, '.') && IS_NUM (i + 2))) {
            size_t j = i + 1;
            if (hg_tok_punct (s, j, '-') && hg_tok_tight (s, j)) {
                j++;
            }
            bool after = hg_tok_in (s, j, s_age_after) && (j == i + 1 ? 1 : hg_tok_tight (s, j));
            bool before = i > 0
                          && (hg_tok_is (s, i - 1, "age") || hg_tok_is (s, i - 1, "aged")
                              || hg_tok_is (s, i - 1, "ages")
                              || (hg_tok_punct (s, i - 1, ':') && hg_tok_is (s, i - 2, "age")));
            bool sex = IS_WORD (i + 1) && hg_tok_tight (s, i + 1) && TLEN (i + 1) == 1
                       && (hg_tok_is (s, i + 1, "m") || hg_tok_is (s, i + 1, "f"))
                       && !(i + 2 < s->nt && hg_tok_tight (s, i + 2));
            if (after || before || sex) {
                e = i + 1;
            }
        }
        else if (IS_WORD (i) && hg_tok_in (s, i, s_tens)) {
            size_t j = i + 1;
            if (hg_tok_is (s, i, "hundred") && i > 0 && hg_tok_is (s, i - 1, "one")) {
                j = i + 1;
            }
            else if (hg_tok_is (s, i, "hundred")) {
                continue;
            }
            while (j < s->nt
                   && (hg_tok_punct (s, j, '-') || hg_tok_is (s, j, "and")
                       || (IS_WORD (j) && hg_tok_in (s, j, s_ones)))) {
                j++;
            }
            size_t k = hg_tok_punct (s, j, '-') ? j + 1 : j;
            if (hg_tok_in (s, k, s_age_after)) {
                e = j;
                if (hg_tok_is (s, i, "hundred")) {
                    i--;
                }
            }
        }
        else if (IS_WORD (i)
                 && (hg_tok_is (s, i, "nonagenarian") || hg_tok_is (s, i, "centenarian")
                     || hg_tok_is (s, i, "nineties"))) {
            e = i + 1;
        }
        if (e) {
            while (e > i + 1 && hg_tok_punct (s, e - 1, '-')) {
                e--;
            }
            hg_scrub_claim (s, i, e, HG_SCRUB_AGE, NULL);
        }
    }
}

/* Every word list above, for the scrubber's filter (scrub_int.h). */
const char *const *const hg_scrub_rules_lists[] = {
    HG_SCRUB_RULES_LISTS (HG_SCRUB_LIST_ENTRY) NULL,
};
