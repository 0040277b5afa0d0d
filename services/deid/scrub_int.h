/*
 * scrub_int.h -- what scrub.c (tokens, lexicons, driver, replacement) and
 * scrub_rules.c (the matchers) share. Not part of the API.
 */
#ifndef HG_SCRUB_INT_H
#define HG_SCRUB_INT_H

#include "scrub.h"

enum { TK_WORD = 1, TK_NUM, TK_PUNCT, TK_URL };
enum { SH_LOWER = 1, SH_CAP, SH_UPPER, SH_MIXED };
#define SP_SPACE 1                 /* white space before the token */
#define SP_NEWLINE 2               /* a line break before it */
#define HG_SCRUB_LISTED_SLOTS 2048 /* the filter's hash set (a power of two) */

/* The word lists of scrub_rules.c and scrub_names.c that hg_tok_in takes,
 * by name: each has a bit in a token's lists mask, so a token is tested
 * against a list by one bit (then confirmed by comparing the words). A list
 * given to hg_tok_in must be named here (else it does not compile). */
#define HG_SCRUB_RULES_LISTS(X) \
    X (s_units)                 \
    X (s_id_cues)               \
    X (s_phone_cues)            \
    X (s_phone_after)           \
    X (s_date_cues)             \
    X (s_age_after)             \
    X (s_tens)                  \
    X (s_ones)                  \
    X (s_month_words)
#define HG_SCRUB_NAMES_LISTS(X) \
    X (s_stop)                  \
    X (s_street)                \
    X (s_unit_words)            \
    X (s_states)                \
    X (s_state_heads)           \
    X (s_state_abbr)            \
    X (s_creds_states)          \
    X (s_street_heads)          \
    X (s_street_glue)           \
    X (s_zip_cues)              \
    X (s_unit_alone)            \
    X (s_institution)           \
    X (s_inst_inner)            \
    X (s_inst_words)            \
    X (s_inst_glue)             \
    X (s_ward_cues)             \
    X (s_move_cues)             \
    X (s_addr_cues)             \
    X (s_at_cues)               \
    X (s_titles)                \
    X (s_relations)             \
    X (s_sign_cues)             \
    X (s_talk_cues)             \
    X (s_place_preps)           \
    X (s_place_cue_words)       \
    X (s_creds)                 \
    X (s_eponym_next)           \
    X (s_dose_units)

#define HG_SCRUB_LIST_ENUM(n) HG_LIST_##n,
enum {
    HG_SCRUB_RULES_LISTS (HG_SCRUB_LIST_ENUM) HG_SCRUB_NAMES_LISTS (HG_SCRUB_LIST_ENUM)
        HG_LIST_COUNT
};
_Static_assert(HG_LIST_COUNT <= 64, "a token's lists mask has 64 bits");
#define HG_SCRUB_LIST_ENTRY(n) n,

/* Every list, in the enum's order (NULL-terminated). */
extern const char *const *const hg_scrub_rules_lists[];
extern const char *const *const hg_scrub_names_lists[];

typedef struct {
    uint32_t s, e; /* bytes */
    uint8_t kind, shape, lex, sp;
    uint32_t val;   /* TK_NUM: value (saturated) */
    uint32_t hash;  /* hg_scrub_hash_lower of its bytes */
    uint8_t ndig;   /* TK_NUM: digits */
    int8_t mark;    /* the type of the span claiming it, -1 none */
    uint64_t lists; /* bit k: may be a word of list k (HG_LIST_*, hg_tok_in) */
} hg_tok_t;

typedef struct {
    char *norm;         /* lower-cased, white space as one ' ' */
    uint32_t len, hash; /* hash of its first token */
    uint32_t room;      /* bytes norm has room for (kept across hg_scrub_lexicon_clear) */
    uint8_t type;
} hg_phrase_t;

struct hg_scrub_lexicon {
    hg_phrase_t *v; /* v[0..n) the phrases; v[n..nalloc) memory kept for the next */
    size_t n, cap, nalloc;
    uint64_t first; /* bit (hash & 63) of each phrase's first token */
};

struct hg_scrub {
    const hg_scrub_lexicon_t *lex;
    const hg_scrub_lexicon_t *known; /* the caller's per-note lexicon, may be NULL */
    bool strict;                     /* unknown capitalised words are names */
    const char *text;
    size_t len;
    hg_tok_t *t;
    size_t nt, tcap;
    hg_scrub_span_t *sp;
    size_t ns, scap;
    bool oom;
    bool anycase; /* the note is all capitals or all lower case: shape says nothing */
    uint32_t listed[HG_SCRUB_LISTED_SLOTS]; /* hashes of the lists' words, 0 empty */
    uint64_t lmask[HG_SCRUB_LISTED_SLOTS];  /* the lists each is in (bit k: list k) */
};

/* tokens: token i is the word lower (any case); is in list; is the
 * punctuation c; has no white space before it */
static inline bool
hg_tok_is (const hg_scrub_t *s, size_t i, const char *lower)
{
    if (i >= s->nt) {
        return false;
    }
    size_t n = s->t[i].e - s->t[i].s;
    if (__builtin_strlen (lower) != n) { /* a constant for a literal */
        return false;
    }
    const unsigned char *p = (const unsigned char *) s->text + s->t[i].s;
    for (size_t k = 0; k < n; k++) {
        unsigned char c = p[k] >= 'A' && p[k] <= 'Z' ? (unsigned char) (p[k] + 32) : p[k];
        if (c != (unsigned char) lower[k]) {
            return false;
        }
    }
    return true;
}

bool hg_tok_in_list (const hg_scrub_t *s, size_t i, const char *const *list);

/* Token i is one of the words of list (a list named in HG_SCRUB_*_LISTS). */
#define hg_tok_in(s, i, list) hg_tok_in_bit ((s), (i), (list), HG_LIST_##list)

static inline bool
hg_tok_in_bit (const hg_scrub_t *s, size_t i, const char *const *list, int bit)
{
    return i < s->nt && (s->t[i].lists >> bit & 1u) && hg_tok_in_list (s, i, list);
}

static inline bool
hg_tok_punct (const hg_scrub_t *s, size_t i, char c)
{
    return i < s->nt && s->t[i].kind == TK_PUNCT && s->text[s->t[i].s] == c
           && s->t[i].e == s->t[i].s + 1;
}

static inline bool
hg_tok_tight (const hg_scrub_t *s, size_t i)
{
    return i < s->nt && !(s->t[i].sp & SP_SPACE);
}
uint32_t hg_scrub_hash_lower (const char *p, size_t n);

/* spans: claims tokens [a, b) for type; false when one is claimed already */
bool hg_scrub_claim (hg_scrub_t *s, size_t a, size_t b, hg_scrub_type_t type,
                     const hg_scrub_date_t *date);

/* the passes of scrub_rules.c, in the order scrub.c runs them */
void hg_scrub_pass_lexicon (hg_scrub_t *s);
void hg_scrub_pass_numbers (hg_scrub_t *s);    /* IDs with cues, SSN, cards, phones, IPs */
void hg_scrub_pass_dates (hg_scrub_t *s);      /* full dates */
void hg_scrub_pass_dates_late (hg_scrub_t *s); /* M/D, bare years: after places */
void hg_scrub_pass_ages (hg_scrub_t *s);
void hg_scrub_pass_places (hg_scrub_t *s);
void hg_scrub_pass_names (hg_scrub_t *s);
void hg_scrub_pass_ids (hg_scrub_t *s);        /* long digit runs and codes left */
void hg_scrub_pass_unknown (hg_scrub_t *s);    /* strict mode: unlisted words */
void hg_scrub_pass_name_lists (hg_scrub_t *s); /* name words listed with names */

/* months: 1..12 for a month name or abbreviation at token i, else 0;
 * *full set for a full name */
int hg_scrub_month (const hg_scrub_t *s, size_t i, bool *full);

#endif
