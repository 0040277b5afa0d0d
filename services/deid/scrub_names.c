/*
 * scrub_names.c -- the scrubber's matchers for places (addresses, cities,
 * states, ZIP codes, institutions, wards), names (cues, lexicon, initials,
 * signatures) and the identifiers left over. See scrub_rules.c.
 */
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "scrub_int.h"
#include "scrub_lexdata.h"

#define T(i) (s->t[(i)])
#define IS_WORD(i) ((i) < s->nt && T (i).kind == TK_WORD)
#define IS_NUM(i) ((i) < s->nt && T (i).kind == TK_NUM)
#define FREE(i) ((i) < s->nt && T (i).mark < 0)
#define NEWLINE(i) ((i) < s->nt && (T (i).sp & SP_NEWLINE))
#define TLEN(i) (T (i).e - T (i).s)
#define LEX(i) (T (i).lex)
#define NAMEY (HG_SCRUB_LEX_FIRST | HG_SCRUB_LEX_SURNAME)

static bool
s_cap (const hg_scrub_t *s, size_t i)
{
    return IS_WORD (i) && (s->anycase || T (i).shape == SH_CAP || T (i).shape == SH_UPPER);
}

/* "spoke with X", "discussed with X" */
static const char *const s_talk_cues[] = {
    "spoke", "spoken", "speaking", "discussed", "talked", "met", "called", "phoned", NULL,
};

/* words that end a name after a cue, even capitalised */
static const char *const s_stop[] = {
    "the",      "a",      "an",       "and",     "or",   "is",     "was",     "has",
    "had",      "who",    "which",    "will",    "at",   "in",     "on",      "for",
    "of",       "to",     "with",     "by",      "as",   "he",     "she",     "they",
    "his",      "her",    "their",    "we",      "i",    "it",     "this",    "that",
    "not",      "no",     "yes",      "be",      "are",  "were",   "been",    "today",
    "here",     "there",  "also",     "today's", "s",    "monday", "tuesday", "wednesday",
    "thursday", "friday", "saturday", "sunday",  "mon",  "tue",    "wed",     "thu",
    "fri",      "sat",    "sun",      "you",     "your", "my",     "me",      "our",
    "us",       "him",    "them",     "its",     "mine", "yours",  "hers",    NULL,
};

/* ---- places ---------------------------------------------------------- */

static const char *const s_dose_units[] = {"mg", "mcg", "ml", "units", "iu", "kg", "g", NULL};

static const char *const s_street[] = {
    "street",  "st",      "avenue",     "ave",     "av",       "road",     "rd",      "boulevard",
    "blvd",    "lane",    "ln",         "drive",   "dr",       "court",    "ct",      "way",
    "place",   "pl",      "terrace",    "ter",     "circle",   "cir",      "parkway", "pkwy",
    "highway", "hwy",     "square",     "sq",      "trail",    "trl",      "loop",    "lock",
    "row",     "path",    "pike",       "alley",   "crescent", "close",    "gardens", "mews",
    "plaza",   "route",   "rte",        "ridge",   "run",      "crossing", "point",   "pass",
    "landing", "harbor",  "heights",    "grove",   "park",     "port",     "station", "summit",
    "view",    "village", "walk",       "well",    "wells",    "green",    "glen",    "fork",
    "ferry",   "estates", "expressway", "freeway", "junction", "manor",    "mill",    "turnpike",
    "via",     "vista",   "stravenue",  "camp",    "burg",     "crest",    "hollow",  "meadows",
    "orchard", NULL,
};

static const char *const s_unit_words[] = {
    "apt",   "apartment", "suite", "ste",      "unit", "#",  "room", "rm",
    "floor", "fl",        "bldg",  "building", "box",  "po", "p.o",  NULL,
};

static const char *const s_states[] = {
    "alabama",     "alaska",       "arizona",       "arkansas", "california", "colorado",
    "connecticut", "delaware",     "florida",       "georgia",  "hawaii",     "idaho",
    "illinois",    "indiana",      "iowa",          "kansas",   "kentucky",   "louisiana",
    "maine",       "maryland",     "massachusetts", "michigan", "minnesota",  "mississippi",
    "missouri",    "montana",      "nebraska",      "nevada",   "ohio",       "oklahoma",
    "oregon",      "pennsylvania", "tennessee",     "texas",    "utah",       "vermont",
    "virginia",    "washington",   "wisconsin",     "wyoming",  NULL,
};

static const char *const s_state_abbr[] = {
    "al", "ak", "az", "ar", "ca", "co", "ct", "de", "fl", "ga", "hi", "id", "il", "in",
    "ia", "ks", "ky", "la", "me", "md", "ma", "mi", "mn", "ms", "mo", "mt", "ne", "nv",
    "nh", "nj", "nm", "ny", "nc", "nd", "oh", "ok", "or", "pa", "ri", "sc", "sd", "tn",
    "tx", "ut", "vt", "va", "wa", "wv", "wi", "wy", "dc", "pr", NULL,
};

/* the first words of two-word states */
static const char *const s_state_heads[] = {"new", "north", "south", "west", "rhode", NULL};

/* A state at i ("Ohio", "New York", "MA" in capitals): the token after it, or 0. */
static size_t
s_state_at (const hg_scrub_t *s, size_t i, bool abbr_ok)
{
    if (!s_cap (s, i)) {
        return 0;
    }
    if (hg_tok_in (s, i, s_states)) {
        return i + 1;
    }
    if (hg_tok_in (s, i, s_state_heads) && s_cap (s, i + 1)
        && (hg_tok_is (s, i + 1, "york") || hg_tok_is (s, i + 1, "jersey")
            || hg_tok_is (s, i + 1, "hampshire") || hg_tok_is (s, i + 1, "mexico")
            || hg_tok_is (s, i + 1, "carolina") || hg_tok_is (s, i + 1, "dakota")
            || hg_tok_is (s, i + 1, "virginia") || hg_tok_is (s, i + 1, "island"))) {
        return i + 2;
    }
    if (abbr_ok && TLEN (i) == 2 && T (i).shape == SH_UPPER && hg_tok_in (s, i, s_state_abbr)) {
        return i + 1;
    }
    return 0;
}

/* state abbreviations that are credentials too */
static const char *const s_creds_states[] = {"md", "pa", "ma", "de", "ne",
                                             "or", "ok", "in", NULL};

/* A ZIP code at i (NNNNN or NNNNN-NNNN): the token after it, or 0. */
static size_t
s_zip_at (const hg_scrub_t *s, size_t i)
{
    if (!IS_NUM (i) || T (i).ndig != 5
        || (i + 1 < s->nt && hg_tok_tight (s, i + 1) && IS_WORD (i + 1))) {
        return 0;
    }
    if (hg_tok_punct (s, i + 1, '-') && IS_NUM (i + 2) && T (i + 2).ndig == 4
        && hg_tok_tight (s, i + 1)) {
        return i + 3;
    }
    return i + 1;
}

/* ", City, ST 12345" after an address or a city ending before j. */
static size_t
s_city_tail (const hg_scrub_t *s, size_t j)
{
    size_t k = j;
    if (hg_tok_punct (s, k, ',')) {
        k++;
    }
    size_t words = 0;
    while (words < 3 && s_cap (s, k + words) && FREE (k + words)
           && !s_state_at (s, k + words, true)) {
        words++;
    }
    size_t c = k + words;
    if (hg_tok_punct (s, c, ',')) {
        c++;
    }
    size_t st = s_state_at (s, c, true);
    if (st) {
        size_t z = s_zip_at (s, st);
        if (!z && st == c + 1 && hg_tok_in (s, c, s_creds_states)
            && !(words > 0 && (LEX (k) & HG_SCRUB_LEX_PLACE))) {
            return j; /* "Smith, MD" */
        }
        return z ? z : st;
    }
    size_t z = s_zip_at (s, c);
    if (z && words > 0) {
        return z;
    }
    return words > 0 && hg_tok_punct (s, k - 1, ',') && hg_tok_punct (s, c - 1, ',') ? c - 1 : j;
}

static bool
s_address (hg_scrub_t *s, size_t i)
{
    if (!IS_NUM (i) || T (i).ndig > 6
        || (i > 0 && hg_tok_tight (s, i) && T (i - 1).kind != TK_PUNCT)) {
        return false;
    }
    size_t j = i + 1;
    if (IS_WORD (j) && hg_tok_tight (s, j) && TLEN (j) == 1) {
        j++; /* 12B */
    }
    size_t k = j, words = 0;
    while (words < 5 && k < s->nt && FREE (k) && !NEWLINE (k)) {
        if (words > 0 && hg_tok_in (s, k, s_street) && s_cap (s, k)) {
            break;
        }
        if (!(s_cap (s, k) || (IS_NUM (k) && IS_WORD (k + 1) && hg_tok_tight (s, k + 1)))) {
            return false;
        }
        k += IS_NUM (k) ? 2 : 1;
        words++;
    }
    if (words == 0 || !hg_tok_in (s, k, s_street) || !s_cap (s, k)) {
        return false;
    }
    size_t e = k + 1;
    if (hg_tok_punct (s, e, '.') && hg_tok_tight (s, e)) {
        e++;
    }
    size_t u = hg_tok_punct (s, e, ',') ? e + 1 : e;
    if (hg_tok_in (s, u, s_unit_words)) {
        u++;
        while (hg_tok_punct (s, u, '.') || hg_tok_punct (s, u, '#')) {
            u++;
        }
        if (IS_NUM (u) || (IS_WORD (u) && TLEN (u) <= 2)) {
            e = u + 1;
            if (IS_WORD (e) && hg_tok_tight (s, e) && TLEN (e) <= 2) {
                e++;
            }
        }
    }
    e = s_city_tail (s, e);
    return hg_scrub_claim (s, i, e, HG_SCRUB_LOCATION, NULL);
}

/* Street words of other countries: a name ending so, or starting so. */
typedef struct {
    const char *w;
    uint8_t n;
} s_end_t;
#define S_END(w)          \
    {                     \
        w, sizeof (w) - 1 \
    }
static const s_end_t s_street_ends[] = {
    S_END ("strasse"), S_END ("straße"), S_END ("str"),   S_END ("gasse"), S_END ("weg"),
    S_END ("straat"),  S_END ("gatan"),  S_END ("gade"),  S_END ("vej"),   S_END ("katu"),
    S_END ("tie"),     S_END ("utca"),   S_END ("ulica"), S_END ("laan"),  S_END ("plein"),
    S_END ("gracht"),  S_END ("allee"),  S_END ("platz"), S_END ("vägen"), S_END ("veien"),
    S_END ("väg"),     {NULL, 0},
};
static const char *const s_street_heads[] = {
    "rua",   "via",    "avenida", "calle", "rue",  "viale",  "corso",    "piazza",    "praça",
    "largo", "carrer", "paseo",   "ul",    "avda", "camino", "travessa", "boulevard", NULL,
};
static const char *const s_street_glue[] = {
    "do", "da", "de",  "del", "della", "di",  "des", "du",
    "la", "le", "dos", "das", "von",   "der", NULL,
};

static bool
s_ends_with (const hg_scrub_t *s, size_t i, const s_end_t *ends)
{
    size_t n = TLEN (i);
    const unsigned char *end = (const unsigned char *) s->text + T (i).e;
    unsigned last = end[-1] >= 'A' && end[-1] <= 'Z' ? end[-1] + 32u : end[-1];
    for (; ends->w; ends++) {
        const unsigned char *w = (const unsigned char *) ends->w;
        size_t m = ends->n, k;
        if (m >= n || w[m - 1] != last) {
            continue; /* most differ in their last letter */
        }
        for (k = 2; k <= m; k++) {
            unsigned char c = end[-(ptrdiff_t) k];
            if ((c >= 'A' && c <= 'Z' ? c + 32u : c) != w[m - k]) {
                break;
            }
        }
        if (k > m) {
            return true;
        }
    }
    return false;
}

/* "Koskikatu 25", "Brucker Bundesstrasse 31", "Rua do Arenque 1634",
 * "12 rue de la Paix": the token after it, or 0. */
static size_t
s_street_intl (const hg_scrub_t *s, size_t i)
{
    if (!s_cap (s, i) && !IS_NUM (i)) {
        return 0;
    }
    size_t j = i;
    if (IS_NUM (i) && T (i).ndig <= 5 && IS_WORD (i + 1)
        && hg_tok_in (s, i + 1, s_street_heads)) {
        j = i + 2; /* 12 rue de la Paix */
        size_t w = 0;
        while (w < 5 && (s_cap (s, j) || hg_tok_in (s, j, s_street_glue)) && FREE (j)
               && !NEWLINE (j)) {
            j++;
            w++;
        }
        return w > 0 && s_cap (s, j - 1) ? j : 0;
    }
    if (hg_tok_in (s, i, s_street_heads)) {
        j = i + 1;
        size_t w = 0;
        while (w < 5 && (s_cap (s, j) || hg_tok_in (s, j, s_street_glue)) && FREE (j)
               && !NEWLINE (j)) {
            j++;
            w++;
        }
        if (w == 0 || !IS_NUM (j) || T (j).ndig > 5) {
            return 0;
        }
        return j + 1;
    }
    if (IS_NUM (i + 2) && s_cap (s, i + 1) && !NEWLINE (i + 1)
        && s_ends_with (s, i + 1, s_street_ends)) {
        j = i + 1; /* Brucker Bundesstrasse */
    }
    if (!IS_NUM (j + 1) || T (j + 1).ndig > 5 || !s_ends_with (s, j, s_street_ends)
        || (j + 2 < s->nt && hg_tok_tight (s, j + 2) && IS_NUM (j + 2))) {
        return 0;
    }
    return j + 2;
}

static const char *const s_zip_cues[] = {"zip", "zipcode", "postcode", "postal", "plz", NULL};
static const char *const s_unit_alone[] = {"apt", "apartment", "suite", "ste", "box", NULL};

/* "ZIP: 75534-030", "Suite 501", "PO Box 12": the token after it, or 0. */
static size_t
s_place_code (const hg_scrub_t *s, size_t i, size_t *start)
{
    size_t j = i + 1;
    bool zip = hg_tok_in (s, i, s_zip_cues);
    if (!zip && !(hg_tok_in (s, i, s_unit_alone) && s_cap (s, i))) {
        return 0;
    }
    while (j < i + 4
           && (hg_tok_is (s, j, "code") || hg_tok_is (s, j, "is") || hg_tok_punct (s, j, ':')
               || hg_tok_punct (s, j, '.') || hg_tok_punct (s, j, '#'))) {
        j++;
    }
    if (!IS_NUM (j) || T (j).ndig < (zip ? 3u : 1u) || T (j).ndig > 6) {
        return 0;
    }
    *start = zip ? j : i;
    size_t e = j + 1;
    while (e < s->nt && hg_tok_tight (s, e)
           && (IS_NUM (e) || IS_WORD (e) || hg_tok_punct (s, e, '-')) && e < j + 4) {
        e++;
    }
    while (e > j + 1 && hg_tok_punct (s, e - 1, '-')) {
        e--;
    }
    return e;
}

/* what comes before a place's name */
static const char *const s_place_preps[] = {"from", "to", "at", "in", "into", NULL};

/* the words an institution's name ends with (or is built around) */
static const char *const s_institution[] = {
    "hospital",  "hospitals",  "clinic",       "clinics", "center",    "centre",
    "infirmary", "hospice",    "university",   "college", "institute", "sanatorium",
    "pharmacy",  "laboratory", "laboratories", "labs",    "home",      "associates",
    "practice",  "healthcare", "vamc",         NULL,
};
/* words inside one that do not make one on their own */
static const char *const s_inst_inner[] = {
    "medical", "health", "nursing", "rehabilitation", "home", "va", "care", "surgical", NULL,
};

/* English words that are part of institution names in notes in one case */
static const char *const s_inst_words[] = {
    "general",    "memorial",  "regional",     "community", "county", "city",      "university",
    "mercy",      "sacred",    "heart",        "children",  "women",  "veterans",  "state",
    "valley",     "lakes",     "north",        "south",     "east",   "west",      "central",
    "baptist",    "methodist", "presbyterian", "lutheran",  "good",   "samaritan", "shepherd",
    "providence", "hope",      "union",        "medical",   NULL,
};

static const char *const s_inst_glue[] = {"of", "the", "and", "&", "st", "saint", NULL};

/* "Massachusetts General Hospital", "St. Mary's Medical Center", "Mayo Clinic",
 * "Hospital of the University of Pennsylvania". */
static bool
s_institution_at (hg_scrub_t *s, size_t k)
{
    if (!hg_tok_in (s, k, s_institution) || !s_cap (s, k) || hg_tok_punct (s, k + 1, ':')) {
        return false;
    }
    if (hg_tok_is (s, k, "home") && !(k > 0 && hg_tok_in (s, k - 1, s_inst_inner))) {
        return false; /* a nursing home, not "went home" */
    }
    size_t a = k;
    while (a > 0 && FREE (a - 1) && !NEWLINE (a) && k - a < 6
           && ((s_cap (s, a - 1) && !(LEX (a - 1) & HG_SCRUB_LEX_CLINICAL)
                && !hg_tok_in (s, a - 1, s_stop)
                && (!hg_tok_in (s, a - 1, s_inst_glue) || hg_tok_is (s, a - 1, "saint")
                    || hg_tok_is (s, a - 1, "st"))
                && ((!s->anycase && T (a - 1).shape != SH_UPPER)
                    || !(LEX (a - 1) & HG_SCRUB_LEX_ENGLISH) || hg_tok_in (s, a - 1, s_inst_words)
                    || hg_tok_in (s, a - 1, s_inst_inner)))
               || hg_tok_punct (s, a - 1, '\'')
               || (hg_tok_is (s, a - 1, "s") && hg_tok_tight (s, a - 1))
               || (hg_tok_punct (s, a - 1, '.') && a >= 2 && hg_tok_is (s, a - 2, "st"))
               || (hg_tok_in (s, a - 1, s_inst_glue) && a >= 2 && s_cap (s, a - 2)))) {
        a--;
    }
    while (a < k && hg_tok_in (s, a, s_inst_glue) && !hg_tok_is (s, a, "st")
           && !hg_tok_is (s, a, "saint")) {
        a++;
    }
    size_t e = k + 1;
    while (e < s->nt && FREE (e) && !NEWLINE (e)
           && (hg_tok_in (s, e, s_institution) || hg_tok_in (s, e, s_inst_inner)
               || (s_cap (s, e) && !hg_tok_in (s, e, s_stop)
                   && (!s->anycase || !(LEX (e) & HG_SCRUB_LEX_ENGLISH))
                   && (e == k + 1 || s_cap (s, e - 1) || hg_tok_in (s, e - 1, s_inst_glue)))
               || (hg_tok_in (s, e, s_inst_glue) && s_cap (s, e + 1)))) {
        e++;
    }
    while (e > k + 1 && hg_tok_in (s, e - 1, s_inst_glue)) {
        e--;
    }
    if (s->anycase) { /* "transferred from cape cod hospital" */
        size_t b = a;
        while (b > 0 && k - b < 5 && FREE (b - 1) && IS_WORD (b - 1) && !NEWLINE (b)
               && !hg_tok_in (s, b - 1, s_stop) && !(LEX (b - 1) & HG_SCRUB_LEX_CLINICAL)
               && !hg_tok_in (s, b - 1, s_place_preps)) {
            b--;
        }
        if (b < k && b > 0 && hg_tok_in (s, b - 1, s_place_preps)) {
            a = b;
        }
    }
    if (a == k && e == k + 1) {
        return false; /* "the hospital", "Clinic" alone */
    }
    bool proper = false; /* a word naming this one: "hospice care" names none */
    for (size_t j = a; j < e && !proper; j++) {
        if (IS_WORD (j) && !hg_tok_in (s, j, s_institution) && !hg_tok_in (s, j, s_inst_inner)
            && !hg_tok_in (s, j, s_inst_glue)) {
            proper = !(LEX (j) & HG_SCRUB_LEX_ENGLISH) || (!s->anycase && T (j).shape == SH_CAP)
                     || (LEX (j) & (NAMEY | HG_SCRUB_LEX_PLACE));
        }
    }
    if (!proper && !(s->anycase && a > 0 && a < k && hg_tok_in (s, a - 1, s_place_preps))) {
        return false;
    }
    return hg_scrub_claim (s, a, e, HG_SCRUB_LOCATION, NULL);
}

static const char *const s_ward_cues[] = {"ward", "room", "rm", "bed", "bay", "pod", NULL};

static const char *const s_move_cues[] = {
    "lives",      "living",    "resides", "resident", "moved",     "born",
    "traveled",   "travelled", "trip",    "visiting", "relocated", "returned",
    "immigrated", "emigrated", "lived",   "grew",     "flew",      "originally",
    "located",    "based",     "staying", "driving",  "drove",     NULL,
};

static const char *const s_addr_cues[] = {"address", "addr", "residence", NULL};
static const char *const s_at_cues[] = {
    "lives", "live", "living", "located", "resides", "reside", "staying", "moved", NULL,
};

/* An address after "Address:", "address is", "lives at": the rest of the
 * sentence or line (at most 24 tokens) when it holds a number. */
static bool
s_address_cued (hg_scrub_t *s, size_t i)
{
    size_t j = i + 1;
    if (hg_tok_in (s, i, s_addr_cues)) {
        if (hg_tok_punct (s, j, ':')) {
            j++;
        }
        else if (hg_tok_is (s, j, "is")) {
            j++;
        }
        else {
            return false;
        }
    }
    else if (hg_tok_in (s, i, s_at_cues) && (hg_tok_is (s, j, "at") || hg_tok_is (s, j, "on"))) {
        j++;
    }
    else {
        return false;
    }
    if (j >= s->nt || !FREE (j) || !(IS_NUM (j) || s_cap (s, j)) || hg_tok_is (s, j, "the")) {
        return false;
    }
    if (IS_NUM (j) && s_address (s, j)) {
        return true; /* a US address: its own rule knows where it ends */
    }
    size_t e = j, nums = 0;
    while (e < s->nt && e < j + 24 && FREE (e)
           && (e == j || !NEWLINE (e) || T (e).kind != TK_PUNCT)) {
        if ((hg_tok_punct (s, e, '.') || hg_tok_punct (s, e, '?') || hg_tok_punct (s, e, '!')
             || hg_tok_punct (s, e, ';'))
            && (e + 1 >= s->nt || NEWLINE (e + 1)
                || (!hg_tok_tight (s, e + 1) && !IS_NUM (e + 1) && T (e + 1).shape != SH_UPPER))
            && !(TLEN (e - 1) <= 3 && IS_WORD (e - 1))) {
            break;
        }
        if ((NEWLINE (e) && e > j && !IS_NUM (e) && !s_cap (s, e))
            || (T (e).shape == SH_LOWER && !s->anycase && TLEN (e) > 3
                && (LEX (e) & HG_SCRUB_LEX_ENGLISH))) {
            break;
        }
        nums += IS_NUM (e);
        e++;
    }
    return nums > 0 && e > j + 1 && hg_scrub_claim (s, j, e, HG_SCRUB_LOCATION, NULL);
}

static const char *const s_place_cue_words[] = {"in", "to", "from", "near", "of", "up", NULL};

/* 1-3 capitalised words not common English after "lives in", "from". */
static bool
s_place_cued (hg_scrub_t *s, size_t i)
{
    if (!hg_tok_in (s, i, s_place_cue_words)) {
        return false;
    }
    bool cue = i > 0 && hg_tok_in (s, i - 1, s_move_cues);
    size_t j = i + 1, e = j;
    while (e < j + 3 && s_cap (s, e) && FREE (e) && !NEWLINE (e) && !s->anycase
           && !(LEX (e) & HG_SCRUB_LEX_CLINICAL)
           && (cue || !(LEX (e) & (HG_SCRUB_LEX_ENGLISH | NAMEY)))) {
        e++;
    }
    if (e == j
        || (!cue && !(LEX (j) & HG_SCRUB_LEX_PLACE) && e == j + 1 && T (j).shape == SH_UPPER)) {
        return false;
    }
    if (!cue
        && (!(hg_tok_is (s, i, "from") || hg_tok_is (s, i, "in"))
            || !(LEX (j) & HG_SCRUB_LEX_PLACE))) {
        return false;
    }
    return hg_scrub_claim (s, j, s_city_tail (s, e), HG_SCRUB_LOCATION, NULL);
}

/* "20789 Allika 46", "0138 Brisas 6802", "5586 Thorunnarstraeti 31": a
 * number, one to three capitalised words no English or clinical list knows
 * (or known as places or names), and a house number, on one line: a street
 * address written the European way after a postcode or a building number.
 * *end: the token after it. */
static bool
s_street_numbered (const hg_scrub_t *s, size_t i, size_t *end)
{
    if (T (i).ndig < 2 || T (i).ndig > 6 || (i > 0 && hg_tok_tight (s, i))
        || (T (i).ndig == 4 && T (i).val >= 1900 && T (i).val <= 2099) /* a year */
        || !(IS_WORD (i + 1) && !hg_tok_tight (s, i + 1))) {
        return false;
    }
    size_t j = i + 1;
    while (j < i + 4 && IS_WORD (j) && FREE (j) && !NEWLINE (j) && s_cap (s, j)
           && T (j).shape != SH_UPPER
           && (!(LEX (j) & (HG_SCRUB_LEX_ENGLISH | HG_SCRUB_LEX_CLINICAL))
               || (LEX (j) & (HG_SCRUB_LEX_PLACE | NAMEY)))
           && !(LEX (j) & HG_SCRUB_LEX_CLINICAL) && T (j).lists == 0) {
        j++;
    }
    if (j == i + 1 || !IS_NUM (j) || NEWLINE (j) || hg_tok_tight (s, j) || T (j).ndig > 5
        || !FREE (j)) {
        return false;
    }
    if ((j + 1 < s->nt && hg_tok_tight (s, j + 1) && T (j + 1).kind != TK_PUNCT)
        || (hg_tok_punct (s, j + 1, '.') && IS_NUM (j + 2) && hg_tok_tight (s, j + 2))
        || hg_tok_in (s, j + 1, s_dose_units) || hg_tok_punct (s, j + 1, '%')
        || hg_tok_punct (s, j + 1, '/')) {
        return false; /* a value with its unit, a decimal, a fraction */
    }
    *end = j + 1;
    return true;
}

void
hg_scrub_pass_places (hg_scrub_t *s)
{
    for (size_t i = 0; i < s->nt; i++) {
        if (FREE (i) && IS_WORD (i)) {
            s_institution_at (s, i);
        }
    }
    for (size_t i = 0; i < s->nt; i++) {
        if (!FREE (i)) {
            continue;
        }
        if (IS_NUM (i) && s_address (s, i)) {
            continue;
        }
        /* s_street_intl needs a number one or two tokens on or a street head */
        size_t pe = IS_NUM (i + 1) || IS_NUM (i + 2) || hg_tok_in (s, i, s_street_heads)
                            || hg_tok_in (s, i + 1, s_street_heads)
                        ? s_street_intl (s, i)
                        : 0;
        if (pe && hg_scrub_claim (s, i, s_city_tail (s, pe), HG_SCRUB_LOCATION, NULL)) {
            continue;
        }
        size_t ps = i;
        pe = IS_WORD (i) ? s_place_code (s, i, &ps) : 0;
        if (pe && hg_scrub_claim (s, ps, pe, HG_SCRUB_LOCATION, NULL)) {
            continue;
        }
        if (IS_WORD (i) && hg_tok_in (s, i, s_ward_cues) && i + 1 < s->nt) {
            size_t j = hg_tok_punct (s, i + 1, '#') || hg_tok_punct (s, i + 1, ':') ? i + 2
                                                                                    : i + 1;
            if (IS_NUM (j) || (IS_WORD (j) && TLEN (j) <= 3 && T (j).shape == SH_UPPER)) {
                size_t e = j + 1;
                while (e < s->nt && hg_tok_tight (s, e)
                       && (IS_NUM (e) || IS_WORD (e) || hg_tok_punct (s, e, '-'))) {
                    e++;
                }
                if (!(IS_WORD (e) && hg_tok_is (s, e, "mg"))) {
                    hg_scrub_claim (s, j, e, HG_SCRUB_LOCATION, NULL);
                }
                continue;
            }
        }
        if (IS_WORD (i) && s_address_cued (s, i)) {
            continue;
        }
        if (IS_WORD (i) && s_place_cued (s, i)) {
            continue;
        }
        size_t st;
        if (IS_WORD (i) && (st = s_state_at (s, i, false)) > 0
            && !(T (i).shape == SH_UPPER && !s->anycase && TLEN (i) == 2)) {
            size_t z = s_zip_at (s, st);
            hg_scrub_claim (s, i, z ? z : st, HG_SCRUB_LOCATION, NULL);
            continue;
        }
        if (hg_tok_punct (s, i, ',') && i > 0) { /* City, ST 12345 */
            size_t e = s_city_tail (s, i);
            if (e > i + 1 && (s_state_at (s, i + 1, true) || IS_NUM (e - 1))) {
                size_t a = i;
                while (a > 0 && a + 3 > i && s_cap (s, a - 1) && FREE (a - 1) && !NEWLINE (a)) {
                    a--;
                }
                if (a < i) {
                    hg_scrub_claim (s, a, e, HG_SCRUB_LOCATION, NULL);
                }
            }
        }
        if (IS_WORD (i) && TLEN (i) == 3
            && (hg_tok_is (s, i, "apo") || hg_tok_is (s, i, "fpo") || hg_tok_is (s, i, "dpo"))
            && IS_WORD (i + 1) && TLEN (i + 1) == 2
            && (hg_tok_is (s, i + 1, "aa") || hg_tok_is (s, i + 1, "ae")
                || hg_tok_is (s, i + 1, "ap"))
            && s_zip_at (s, i + 2)) {
            hg_scrub_claim (s, i, s_zip_at (s, i + 2), HG_SCRUB_LOCATION, NULL);
            continue; /* a military address: APO AE 09123 */
        }
        if (IS_NUM (i) && s_street_numbered (s, i, &pe)) {
            hg_scrub_claim (s, i, s_city_tail (s, pe), HG_SCRUB_LOCATION, NULL);
            continue;
        }
        if (IS_WORD (i) && (LEX (i) & HG_SCRUB_LEX_COUNTRY) && s_cap (s, i) && IS_NUM (i + 1)
            && !NEWLINE (i + 1) && T (i + 1).ndig >= 4 && T (i + 1).ndig <= 6
            && !(T (i + 1).ndig == 4 && T (i + 1).val >= 1900 && T (i + 1).val <= 2099)
            && !(i + 2 < s->nt && hg_tok_tight (s, i + 2) && T (i + 2).kind != TK_PUNCT)
            && !hg_tok_in (s, i + 2, s_dose_units) && !hg_tok_punct (s, i + 2, '%')) {
            hg_scrub_claim (s, i + 1, i + 2, HG_SCRUB_LOCATION, NULL); /* Estonia 62488 */
            continue;
        }
        if (IS_WORD (i) && (LEX (i) & HG_SCRUB_LEX_PLACE)
            && !(LEX (i) & (HG_SCRUB_LEX_ENGLISH | NAMEY | HG_SCRUB_LEX_CLINICAL))
            && s_cap (s, i)) {
            hg_scrub_claim (s, i, i + 1, HG_SCRUB_LOCATION, NULL);
        }
    }
}

/* ---- names ----------------------------------------------------------- */

static const char *const s_titles[] = {
    "dr",   "doctor", "mr",  "mrs", "ms",   "miss", "mx",  "prof", "professor", "mme",
    "mlle", "sr",     "sra", "dra", "herr", "frau", "rev", "fr",   NULL,
};

static const char *const s_relations[] = {
    "wife",        "husband",  "son",       "daughter", "mother",        "father",
    "mom",         "dad",      "brother",   "sister",   "aunt",          "uncle",
    "cousin",      "niece",    "nephew",    "grandson", "granddaughter", "grandmother",
    "grandfather", "grandma",  "grandpa",   "partner",  "fiance",        "fiancee",
    "friend",      "neighbor", "neighbour", "spouse",   "boyfriend",     "girlfriend",
    "caregiver",   "guardian", "roommate",  "stepson",  "stepdaughter",  "stepmother",
    "stepfather",  "sibling",  "child",     "poa",      "hcp",           "proxy",
    "contact",     NULL,
};

static const char *const s_sign_cues[] = {
    "signed",      "dictated",
    "transcribed", "reviewed",
    "seen",        "examined",
    "attending",   "resident",
    "fellow",      "intern",
    "surgeon",     "provider",
    "pcp",         "physician",
    "author",      "cc",
    "referred",    "referring",
    "nurse",       "np",
    "pa",          "by",
    "name",        "patient",
    "pt",          "anesthesiologist",
    "cosigned",    "co-signed",
    "consultant",  "therapist",
    "sw",          "cm",
    "rn",          "md",
    "dictating",   "verified",
    "interpreted", "performed",
    "ordered",     "ordering",

    "called",      "informed",
    "discussed",   "dear",
    "hi",          "hello",
    NULL,
};

static const char *const s_creds[] = {
    "md",  "do",        "rn",   "np",    "pa",  "pa-c", "phd", "lpn",  "cna",  "pharmd", "dds",
    "dmd", "msw",       "lcsw", "crna",  "fnp", "aprn", "dnp", "mbbs", "facs", "facp",   "bsn",
    "msn", "rt",        "pt",   "ot",    "slp", "rd",   "mph", "ma",   "cnm",  "psyd",   "lmsw",
    "emt", "paramedic", "np-c", "fnp-c", "anp", "od",   "dpm", NULL,
};

static const char *const s_eponym_next[] = {
    "disease",        "palsy",     "sign",     "syndrome",  "lymphoma",       "sarcoma",
    "phenomenon",     "test",      "maneuver", "manoeuvre", "criteria",       "score",
    "fracture",       "esophagus", "ulcer",    "node",      "nodes",          "cyst",
    "contracture",    "law",       "reflex",   "triad",     "tumor",          "tumour",
    "cell",           "cells",     "catheter", "procedure", "operation",      "repair",
    "classification", "scale",     "stain",    "disorder",  "encephalopathy", "thyroiditis",
    "dementia",       "ataxia",    "chorea",   "anomaly",   "formula",        "point",
    "incision",       "space",     "hernia",   "body",      "bodies",         "classification",
    "type",           NULL,
};

/* An initial at i ("J", "J.", in a name): the token after it, or 0. */
static size_t
s_initial (const hg_scrub_t *s, size_t i)
{
    if (!IS_WORD (i) || TLEN (i) != 1 || !(T (i).shape == SH_UPPER || s->anycase) || !FREE (i)) {
        return 0;
    }
    return hg_tok_punct (s, i + 1, '.') && hg_tok_tight (s, i + 1) ? i + 2 : i + 1;
}

static bool
s_eponym (const hg_scrub_t *s, size_t i)
{
    size_t j = i + 1;
    if (hg_tok_punct (s, j, '\'')
        || (j < s->nt && TLEN (j) == 3 && memcmp (s->text + T (j).s, "\xE2\x80\x99", 3) == 0)) {
        j += hg_tok_is (s, j + 1, "s") ? 2 : 1;
    }
    else if (hg_tok_is (s, j, "s") && hg_tok_tight (s, j)) {
        j++;
    }
    return (LEX (i) & HG_SCRUB_LEX_CLINICAL) || hg_tok_in (s, j, s_eponym_next);
}

/* A title right before token i ("Dr", "Dr."). */
static bool
s_after_title (const hg_scrub_t *s, size_t i)
{
    size_t k = i > 0 && hg_tok_punct (s, i - 1, '.') ? i - 1 : i;
    return k > 0 && hg_tok_in (s, k - 1, s_titles);
}

/* How much token i looks like a name word: 2 on its own (a name in the
 * lexicon that is no English word), 1 next to a name or after a cue, 0 not. */
static int
s_namey (const hg_scrub_t *s, size_t i, bool cued)
{
    if (!IS_WORD (i) || !FREE (i) || TLEN (i) < 2 || hg_tok_in (s, i, s_titles)
        || hg_tok_in (s, i, s_relations)) {
        return 0;
    }
    if (hg_tok_in (s, i, s_stop)
        && !(i > 0 && T (i).shape == SH_CAP && !s->anycase
             && hg_tok_in (s, i - 1, s_relations))) {
        return 0; /* a stop word, unless capitalised after a relation */
    }
    uint8_t f = LEX (i);
    if ((f & HG_SCRUB_LEX_COUNTRY) && !s_after_title (s, i)) {
        return 0; /* a country or a people, unless a title names it (Dr. Jordan, Mr. English) */
    }
    if ((i > 0 && hg_tok_tight (s, i) && IS_NUM (i - 1))
        || (IS_NUM (i + 1) && hg_tok_tight (s, i + 1) && i + 2 < s->nt && hg_tok_tight (s, i + 2)
            && T (i + 2).kind != TK_PUNCT)) {
        return 0; /* inside a code: CHA2DS2-VASc, 2DS */
    }
    bool cap = s_cap (s, i)
               && (T (i).shape != SH_UPPER || s->anycase || TLEN (i) > 2 || (f & NAMEY));
    bool in_name = cued && i > 0 && hg_tok_tight (s, i) == false && IS_WORD (i - 1)
                   && T (i - 1).mark < 0 && (LEX (i - 1) & HG_SCRUB_LEX_FIRST);
    if (in_name && T (i).shape == SH_CAP && !s->anycase && (f & HG_SCRUB_LEX_CLINICAL)
        && !hg_tok_in (s, i + 1, s_eponym_next)) {
        return 1; /* Jane Doe, not DOE */
    }
    if (!cap) {
        return 0;
    }
    if (s_eponym (s, i)) {
        return cued && !(f & HG_SCRUB_LEX_CLINICAL) ? 1 : 0;
    }
    if ((f & NAMEY) && !(f & HG_SCRUB_LEX_ENGLISH)) {
        return 2;
    }
    if (s->anycase) {
        return (f & NAMEY) || (cued && !(f & HG_SCRUB_LEX_ENGLISH)) ? 1 : 0;
    }
    if (T (i).shape == SH_UPPER && !(f & NAMEY)) {
        return 0; /* an abbreviation */
    }
    return (f & NAMEY) || !(f & HG_SCRUB_LEX_ENGLISH) || cued ? 1 : 0;
}

/* The end of a name starting at i (words, initials, hyphens), 0 if none. */
static size_t
s_name_run (const hg_scrub_t *s, size_t i, bool cued, int *best)
{
    size_t j = i, words = 0;
    *best = 0;
    while (j < s->nt && words < 4 && (j == i || !NEWLINE (j))) {
        size_t n = s_initial (s, j);
        int v;
        if (n
            && !(s->anycase && n == j + 1 && (hg_tok_is (s, j, "a") || hg_tok_is (s, j, "i")))) {
            j = n;
        }
        else if ((v = s_namey (s, j, cued || words > 0)) > 0) {
            *best = v > *best ? v : *best;
            j++;
            if (hg_tok_punct (s, j, '-') && hg_tok_tight (s, j) && s_namey (s, j + 1, true)) {
                j += 2; /* Smith-Jones */
            }
            else if (IS_NUM (j) && hg_tok_tight (s, j) && FREE (j)
                     && !(j + 1 < s->nt && hg_tok_tight (s, j + 1))) {
                j++; /* Marine542: generated data numbers its names */
            }
        }
        else {
            break;
        }
        words++;
    }
    while (j > i && hg_tok_punct (s, j - 1, '.')) {
        j--;
    }
    return j > i ? j : 0;
}

static bool
s_cue_before (const hg_scrub_t *s, size_t i)
{
    size_t k = i;
    if (k > 0
        && (hg_tok_punct (s, k - 1, '.') || hg_tok_punct (s, k - 1, ':')
            || hg_tok_punct (s, k - 1, ','))) {
        k--;
    }
    if (k == 0) {
        return false;
    }
    if (hg_tok_in (s, k - 1, s_titles)) {
        return true;
    }
    if (hg_tok_in (s, k - 1, s_relations) || hg_tok_in (s, k - 1, s_sign_cues)) {
        return true;
    }
    if (k >= 2 && (hg_tok_is (s, k - 1, "with") || hg_tok_is (s, k - 1, "to"))
        && hg_tok_in (s, k - 2, s_talk_cues)) {
        return true; /* spoke with X */
    }
    if (k >= 2 && hg_tok_is (s, k - 1, "is") && hg_tok_is (s, k - 2, "name")) {
        return true; /* my name is X */
    }
    if (k >= 2 && hg_tok_is (s, k - 1, "me")
        && (hg_tok_is (s, k - 2, "call") || hg_tok_is (s, k - 2, "calls"))) {
        return true;
    }
    if (k >= 2 && (hg_tok_is (s, k - 1, "him") || hg_tok_is (s, k - 1, "her"))
        && hg_tok_is (s, k - 2, "named")) {
        return true; /* named him X */
    }
    return hg_tok_is (s, k - 1, "named")
           || (hg_tok_punct (s, k - 1, '-') && k >= 2
               && hg_tok_punct (s, k - 2, '-')); /* -- J. Smith */
}

/* A credential after a name ending at e (", RN", "MD", "M.D."). */
static bool
s_cred_after (const hg_scrub_t *s, size_t e)
{
    size_t j = hg_tok_punct (s, e, ',') ? e + 1 : e;
    if (!IS_WORD (j)) {
        return false;
    }
    if (hg_tok_in (s, j, s_creds) && (T (j).shape == SH_UPPER || TLEN (j) > 3 || s->anycase)) {
        return true;
    }
    return TLEN (j) == 1 && hg_tok_punct (s, j + 1, '.') && IS_WORD (j + 2) && TLEN (j + 2) == 1
           && hg_tok_is (s, j, "m") && hg_tok_is (s, j + 2, "d");
}

/* "my name is X", "call me X", "named X", "named him X". */
static bool
s_self_named (const hg_scrub_t *s, size_t i)
{
    if (i >= 2 && hg_tok_is (s, i - 1, "is") && hg_tok_is (s, i - 2, "name")) {
        return true;
    }
    if (i >= 2 && hg_tok_is (s, i - 1, "me")
        && (hg_tok_is (s, i - 2, "call") || hg_tok_is (s, i - 2, "calls"))) {
        return true;
    }
    return i >= 1
           && (hg_tok_is (s, i - 1, "named")
               || (i >= 2 && hg_tok_is (s, i - 2, "named")
                   && (hg_tok_is (s, i - 1, "him") || hg_tok_is (s, i - 1, "her"))));
}

/* A capitalised name word listed with names found ("Monjeau, Graves and
 * Reed", "Park and Mann"): after or before a name span, across ",", "and",
 * "&", "or". */
void
hg_scrub_pass_name_lists (hg_scrub_t *s)
{
    for (int round = 0; round < 4; round++) {
        bool more = false;
        for (size_t i = 0; i < s->nt; i++) {
            if (!FREE (i) || !IS_WORD (i) || !s_cap (s, i) || !(LEX (i) & NAMEY)
                || T (i).shape == SH_UPPER || s_namey (s, i, true) == 0) {
                continue;
            }
            bool next = false;
            for (int dir = -1; dir <= 1 && !next; dir += 2) {
                size_t j = dir < 0 ? i - 1 : i + 1;
                if ((dir < 0 && i == 0) || j >= s->nt || NEWLINE (dir < 0 ? i : j)) {
                    continue;
                }
                if (!(hg_tok_punct (s, j, ',') || hg_tok_is (s, j, "and")
                      || hg_tok_punct (s, j, '&') || hg_tok_is (s, j, "or"))) {
                    continue;
                }
                size_t k = dir < 0 ? j - 1 : j + 1;
                if ((dir < 0 && j == 0) || k >= s->nt || NEWLINE (dir < 0 ? j : k)) {
                    continue;
                }
                if (dir > 0 && hg_tok_is (s, k, "and")) {
                    k++; /* ", and" */
                }
                else if (dir < 0 && hg_tok_punct (s, k, ',') && k > 0) {
                    k--; /* ", and" before */
                }
                next = k < s->nt && T (k).mark == HG_SCRUB_NAME && IS_WORD (k);
            }
            if (next && hg_scrub_claim (s, i, i + 1, HG_SCRUB_NAME, NULL)) {
                more = true;
            }
        }
        if (!more) {
            break;
        }
    }
}

void
hg_scrub_pass_names (hg_scrub_t *s)
{
    for (size_t i = 0; i < s->nt; i++) {
        if (!FREE (i) || !IS_WORD (i)) {
            continue;
        }
        if (T (i).shape == SH_LOWER && !s->anycase) {
            /* a lower-case word starts no name (s_initial, s_namey), but
             * after "my name is", "call me", "named" one no English list
             * knows or a listed name is one ("my name is vitoria") */
            if (s_self_named (s, i) && TLEN (i) >= 3 && !(LEX (i) & HG_SCRUB_LEX_CLINICAL)
                && !hg_tok_in (s, i, s_stop)
                && ((LEX (i) & NAMEY) || !(LEX (i) & HG_SCRUB_LEX_ENGLISH))) {
                hg_scrub_claim (s, i, i + 1, HG_SCRUB_NAME, NULL);
            }
            continue;
        }
        if (s_cap (s, i) && (LEX (i) & NAMEY) && T (i).shape != SH_UPPER && IS_NUM (i + 1)
            && hg_tok_tight (s, i + 1) && T (i + 1).ndig >= 2 && T (i + 1).ndig <= 4
            && FREE (i + 1) && !(i + 2 < s->nt && hg_tok_tight (s, i + 2))
            && !(i > 0 && hg_tok_tight (s, i) && T (i - 1).kind != TK_PUNCT)
            && hg_scrub_claim (s, i, i + 2, HG_SCRUB_NAME, NULL)) {
            continue; /* An125, Rocky100: a name numbered as generated data numbers them */
        }
        bool title = false;
        size_t k = i > 0 && (hg_tok_punct (s, i - 1, '.')) ? i - 1 : i;
        if (k > 0 && hg_tok_in (s, k - 1, s_titles)) {
            title = true;
        }
        bool cued = title || s_cue_before (s, i);
        int best;
        size_t e = s_name_run (s, i, cued, &best);
        if (!e) {
            continue;
        }
        bool initial_only = best == 0;
        bool strong = best == 2 || (title && !initial_only) || s_cred_after (s, e)
                      || (cued && best >= 1 && (e > i + 1 || s_cap (s, i)))
                      || (best == 1 && e >= i + 2 && !s->anycase
                          && s_namey (s, e - 1, false) + s_namey (s, i, false) >= 2
                          && !(LEX (i) & HG_SCRUB_LEX_ENGLISH
                               && LEX (e - 1) & HG_SCRUB_LEX_ENGLISH));
        if (title && initial_only) {
            strong = true; /* Dr. J. */
        }
        if (initial_only && !title && !s_cred_after (s, e)) {
            strong = false;
        }
        if (strong && best < 2 && cued && !title && !s_cred_after (s, e)) {
            /* after a relation or a sign-off cue: not a common word alone in lower case */
            bool relation = i > 0 && hg_tok_in (s, i - 1, s_relations);
            bool lower_word = T (i).shape == SH_LOWER && (LEX (i) & HG_SCRUB_LEX_ENGLISH)
                              && (!(LEX (i) & NAMEY)
                                  || (e == i + 1
                                      && !(relation && (LEX (i) & HG_SCRUB_LEX_FIRST))));
            if (lower_word
                || (e == i + 1 && (LEX (i) & HG_SCRUB_LEX_ENGLISH) && !(LEX (i) & NAMEY)
                    && !hg_tok_in (s,
                                   i - 1
                                       - (hg_tok_punct (s, i - 1, ',')
                                          || hg_tok_punct (s, i - 1, ':')),
                                   s_relations))) {
                strong = false;
            }
        }
        if (strong && hg_scrub_claim (s, i, e, HG_SCRUB_NAME, NULL)) {
            i = e - 1;
        }
    }
}

/* ---- identifiers left over ------------------------------------------- */

void
hg_scrub_pass_ids (hg_scrub_t *s)
{
    for (size_t i = 0; i < s->nt; i++) {
        if (!FREE (i) || (i > 0 && hg_tok_tight (s, i) && (IS_NUM (i - 1) || IS_WORD (i - 1)))) {
            continue;
        }
        if (!(IS_NUM (i) || IS_WORD (i))) {
            continue;
        }
        if (i > 0 && hg_tok_tight (s, i) && hg_tok_punct (s, i - 1, '.') && i > 1
            && IS_NUM (i - 2)) {
            continue; /* decimals */
        }
        size_t j = i, digits = 0, letters = 0;
        while (j < s->nt && FREE (j) && (j == i || hg_tok_tight (s, j))
               && (IS_NUM (j) || IS_WORD (j)
                   || (hg_tok_punct (s, j, '-') && (IS_NUM (j + 1) || IS_WORD (j + 1))
                       && hg_tok_tight (s, j + 1)))) {
            digits += IS_NUM (j) ? T (j).ndig : 0;
            letters += IS_WORD (j) ? TLEN (j) : 0;
            j++;
        }
        if (hg_tok_punct (s, j, '.') && IS_NUM (j + 1) && hg_tok_tight (s, j)) {
            continue;
        }
        bool id = (digits >= 7 && letters <= 4) || (digits >= 5 && letters >= 1 && letters <= 6);
        if (id && j == i + 2 && IS_WORD (i + 1) && hg_tok_in (s, i + 1, s_dose_units)) {
            id = false;
        }
        if (id) {
            hg_scrub_claim (s, i, j, HG_SCRUB_ID, NULL);
        }
        i = j > i ? j - 1 : i;
    }
}

/* ---- strict mode: words no list knows -------------------------------- */

/* An English contraction: "n't" after a word, or "'ll", "'re", "'ve", "'d",
 * "'m" after a pronoun (I'll, don't, you're, they've, C'mon); not O'Brien,
 * D'Angelo, O'Neill. */
static bool
s_contraction (const hg_scrub_t *s, size_t i)
{
    const char *w = s->text + T (i).s;
    size_t n = TLEN (i), a = 0;
    while (a < n && w[a] != '\'') {
        a++;
    }
    if (a == 0 || a + 1 >= n) {
        return false;
    }
    size_t tail = n - a - 1; /* letters after the apostrophe */
    const char *t = w + a + 1;
    if (tail == 1 && (t[0] | 0x20) == 't') { /* don't, isn't, can't, won't; not Van't */
        static const char *const nt[] = {"don",   "isn",   "can",  "won",    "didn",    "doesn",
                                         "wasn",  "weren", "aren", "couldn", "shouldn", "wouldn",
                                         "haven", "hasn",  "hadn", "mustn",  "needn",   "ain",
                                         "daren", "shan",  NULL};
        for (size_t k = 0; nt[k]; k++) {
            if (strlen (nt[k]) == a && strncasecmp (w, nt[k], a) == 0) {
                return true;
            }
        }
        return false;
    }
    bool suffix = (tail == 2
                   && (strncasecmp (t, "ll", 2) == 0 || strncasecmp (t, "re", 2) == 0
                       || strncasecmp (t, "ve", 2) == 0))
                  || (tail == 1 && ((t[0] | 0x20) == 'd' || (t[0] | 0x20) == 'm'));
    if (!suffix) {
        return strncasecmp (w, "c'mon", n) == 0 && n == 5;
    }
    static const char *const pron[] = {"i",    "you", "we",    "they", "he",    "she", "it",
                                       "that", "who", "there", "what", "where", NULL};
    for (size_t k = 0; pron[k]; k++) {
        if (strlen (pron[k]) == a && strncasecmp (w, pron[k], a) == 0) {
            return true;
        }
    }
    return false;
}

/* Where an unknown word is more likely a place than a person: after "in",
 * "from", "near", "at" ("grew up in Remniku"), or right after a place found
 * (the next line of an address, "Suite 501\n Riisa", ", Riisa"). The word
 * is taken either way; this only types it. */
static bool
s_place_before (const hg_scrub_t *s, size_t i)
{
    if (i == 0) {
        return false;
    }
    size_t k = hg_tok_punct (s, i - 1, ',') && i > 1 ? i - 1 : i;
    if (T (k - 1).mark == HG_SCRUB_LOCATION) {
        return true;
    }
    return k == i
           && (hg_tok_is (s, i - 1, "in") || hg_tok_is (s, i - 1, "from")
               || hg_tok_is (s, i - 1, "near") || hg_tok_is (s, i - 1, "at"));
}

void
hg_scrub_pass_unknown (hg_scrub_t *s)
{
    for (size_t i = 0; i < s->nt; i++) {
        if (!FREE (i) || !IS_WORD (i) || TLEN (i) < 3 || LEX (i) != 0 || T (i).lists != 0) {
            continue;
        }
        if ((i > 0 && hg_tok_tight (s, i) && (IS_NUM (i - 1) || IS_WORD (i - 1)))
            || (IS_NUM (i + 1) && hg_tok_tight (s, i + 1))) {
            continue; /* inside a code or a dose: CHA2DS2, 5mg, x10 */
        }
        size_t letters = 0;
        for (uint32_t k = T (i).s; k < T (i).e; k++) {
            letters += s->text[k] != '\'';
        }
        if (letters < 3 || s_contraction (s, i)) {
            continue; /* c'd, d'c; I'll, don't */
        }
        bool cap = T (i).shape == SH_CAP
                   || (T (i).shape == SH_UPPER && (s->anycase || TLEN (i) > 4));
        if (cap || (s->anycase && T (i).shape == SH_LOWER)) {
            hg_scrub_claim (s, i, i + 1,
                            s_place_before (s, i) ? HG_SCRUB_LOCATION : HG_SCRUB_NAME, NULL);
        }
    }
}

/* Every word list above, for the scrubber's filter (scrub_int.h). */
const char *const *const hg_scrub_names_lists[] = {
    HG_SCRUB_NAMES_LISTS (HG_SCRUB_LIST_ENTRY) NULL,
};
