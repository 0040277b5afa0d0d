/*
 * scrub.h -- the free-text PHI scrubber: finds the spans of protected
 * health information in a note (UTF-8) and replaces them, keeping the
 * meaning (dates shifted in their own format, ages over 89 as "90+",
 * names as a tag or a keyed surrogate). See docs/scrubber.md for the rules.
 *
 * Pure logic: no I/O; the scrubber object (hg_scrub_t) keeps its token and
 * span buffers between calls, so scrubbing allocates at most when a note is
 * longer than every note before it, never per character. The per-deployment
 * lexicon (facility names, ward codes, staff directory) is built here from
 * phrases; scrub_lexicon.h reads it from files.
 */
#ifndef HG_SCRUB_H
#define HG_SCRUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef enum {
    HG_SCRUB_NAME = 0, /* patients, relatives, clinicians, initials */
    HG_SCRUB_DATE,     /* every element of a date but the year alone is, too */
    HG_SCRUB_AGE,      /* ages over 89 */
    HG_SCRUB_PHONE,    /* phone, fax, pager numbers with their extensions */
    HG_SCRUB_ID,       /* MRN, account, SSN, device, specimen, licence, card numbers */
    HG_SCRUB_LOCATION, /* addresses, cities, states, ZIP codes, institutions, wards */
    HG_SCRUB_CONTACT,  /* e-mail, URLs, IP addresses */
    HG_SCRUB_OTHER,
    HG_SCRUB_NTYPES
} hg_scrub_type_t;

/* "NAME", "DATE", ... */
const char *hg_scrub_type_name (hg_scrub_type_t type);
/* The type named s (case-insensitive), or -1. */
int hg_scrub_type_parse (const char *s);

/* Where a date's parts are in the text, for replacement in the same format.
 * A part absent has value -1 and length 0. */
typedef struct {
    int16_t year, month, day, day2;   /* day2: the end of a range "Jan 3-5" */
    uint32_t yoff, moff, doff, d2off; /* byte offsets into the text */
    uint8_t ylen, mlen, dlen, d2len;
    uint8_t mname; /* 0: month as a number; 1: abbreviated name; 2: full name */
    uint8_t pad;   /* month and day always in two digits (2019-03-04); else as the
                    * original: two when it or another numeric part had a leading
                    * zero (07/27 -> 08/06) */
} hg_scrub_date_t;

typedef struct {
    size_t start, end; /* byte offsets, end exclusive */
    hg_scrub_type_t type;
    hg_scrub_date_t date; /* for HG_SCRUB_DATE */
} hg_scrub_span_t;

/* The per-deployment lexicon: phrases of one type each, matched whole
 * words, case-insensitively, with any run of white space matching any. */
typedef struct hg_scrub_lexicon hg_scrub_lexicon_t;

hg_scrub_lexicon_t *hg_scrub_lexicon_new (void);
void hg_scrub_lexicon_free (hg_scrub_lexicon_t *lex);
/* Adds phrase (len bytes, UTF-8) of type; one already there (the same words
 * and type, in a lexicon of up to 1,024 phrases) is not added twice. Returns
 * 0, HG_EINVAL when the phrase has no word or is longer than 255 bytes,
 * HG_ENOMEM. */
int hg_scrub_lexicon_add (hg_scrub_lexicon_t *lex, hg_scrub_type_t type, const char *phrase,
                          size_t len, hg_err_t *err);
size_t hg_scrub_lexicon_count (const hg_scrub_lexicon_t *lex);
/* Empties lex, keeping its memory for the next phrases (the de-identifier's
 * per-record lexicon of the patient's own name, MRN, street...). */
void hg_scrub_lexicon_clear (hg_scrub_lexicon_t *lex);
/* True when a phrase of lex at least min_len bytes long occurs anywhere in
 * text (len bytes), in any case, even inside a word: the de-identifier's
 * check that no value it knows identifies the patient is left in a
 * scrubbed text. A phrase's white space matches one blank exactly. */
bool hg_scrub_lexicon_occurs (const hg_scrub_lexicon_t *lex, const char *text, size_t len,
                              size_t min_len);

typedef struct hg_scrub hg_scrub_t;

/* A scrubber using lex (may be NULL; must outlive it). NULL when out of
 * memory. One scrubber per thread. */
hg_scrub_t *hg_scrub_new (const hg_scrub_lexicon_t *lex);
void hg_scrub_free (hg_scrub_t *s);

/* A second lexicon for the next calls of hg_scrub_find (NULL: none; must
 * outlive those calls): the values the caller knows identify the note's
 * patient, matched like the per-deployment lexicon and before it. */
void hg_scrub_set_known (hg_scrub_t *s, const hg_scrub_lexicon_t *known);

/* Strict mode (off by default; the de-identifier turns it on): after every
 * other pass, a word of 3 or more letters that no embedded list knows (no
 * English, clinical, name, place or country word) is a NAME when it is
 * capitalised, or in any case in a note of one case ("Told Quibbleworth",
 * a rare surname with no cue). It trades precision on unlisted words
 * (brand names, typos) for recall on names no list holds. */
void hg_scrub_set_strict (hg_scrub_t *s, bool strict);

/* Finds the PHI spans of text (len bytes; need not be NUL-terminated or
 * valid UTF-8: a span never splits a UTF-8 sequence that is valid). On
 * success *spans points at *n spans sorted by start, not overlapping, valid
 * until the next call. Returns 0, or HG_ENOMEM (then *n is 0). */
int hg_scrub_find (hg_scrub_t *s, const char *text, size_t len, const hg_scrub_span_t **spans,
                   size_t *n);

/* How hg_scrub_replace writes replacements. */
typedef struct {
    int shift_days;           /* dates move by this many days (0: left as they are) */
    const unsigned char *key; /* NULL: names become "[NAME]"; else each name word
                               * becomes a surrogate chosen by BLAKE2b keyed with key
                               * (32 bytes) over patient and the lower-cased word */
    const char *patient;      /* the patient's pseudonym for surrogates ("" when NULL) */
} hg_scrub_replace_t;

/* Writes text with every span replaced into out (cap bytes, NUL-terminated
 * when cap > 0), like snprintf: returns the length the whole result needs
 * (without the NUL), so a return >= cap means out was cut. Dates move by
 * opt->shift_days in their own format (a date without a year is taken in a
 * leap year, a month and year from its 15th, a year alone from 2 July);
 * ages become "90+"; the rest become "[TYPE]". */
size_t hg_scrub_replace (const char *text, size_t len, const hg_scrub_span_t *spans, size_t n,
                         const hg_scrub_replace_t *opt, char *out, size_t cap);

#endif
