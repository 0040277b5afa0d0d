/*
 * parsekit.h -- what the text parsers share: spans of the caller's buffer
 * and one way to split them.
 *
 * A span is a view of bytes the parser does not own (the payload): never
 * NUL-terminated, never copied until a value goes into a record. The
 * parse batch the parsers fill, with the record limit, mark/rollback and
 * the shared reject reasons, is batch.h. Pure logic: no I/O.
 */
#ifndef HG_PARSEKIT_H
#define HG_PARSEKIT_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "arena.h"

typedef struct {
    const char *p;
    size_t n;
} hg_span_t;

#define HG_SPAN_EMPTY ((hg_span_t) {"", 0})

/* True when s holds exactly the bytes of lit. */
bool hg_span_eq (hg_span_t s, const char *lit);

/* The one split semantic of every tokeniser: s split at sep has one piece
 * more than it has separators, so an empty span has one empty piece and
 * "a||b" has three; sep '\0' means no separator (an HL7 delimiter MSH-2
 * leaves out): s is its only piece. */

/* Piece idx (0-based) of s split at sep into *out; false, *out untouched,
 * when s has no such piece. */
bool hg_span_piece (hg_span_t s, char sep, size_t idx, hg_span_t *out);

/* Iterates the pieces of s split at sep in one pass: start with *pos = 0;
 * sets *piece and returns true per piece, false when there are no more. */
bool hg_span_next (hg_span_t s, char sep, size_t *pos, hg_span_t *piece);

/* Number of pieces of s split at sep (at least 1). */
size_t hg_span_count (hg_span_t s, char sep);

/* Printable copy of s for a reject reason: at most max bytes, each byte
 * that is not printable ASCII as '?', "..." appended when s is longer.
 * buf holds max + 4 bytes. Returns buf. */
const char *hg_span_show (hg_span_t s, size_t max, char *buf);

/* True when the n bytes at data start with a UTF-8 byte-order mark. */
static inline bool
hg_parse_has_bom (const char *data, size_t n)
{
    return n >= 3 && memcmp (data, "\xEF\xBB\xBF", 3) == 0;
}

/* What every text parser does first with its payload: a NULL *data is the
 * empty payload "" (*len 0), and a leading UTF-8 byte-order mark is
 * skipped (*data and *len move past it). Returns true when it skipped one.
 * No copy: *data stays a view of the caller's buffer. */
static inline bool
hg_parse_payload (const char **data, size_t *len)
{
    if (!*data) {
        *data = "";
        *len = 0;
    }
    if (hg_parse_has_bom (*data, *len)) {
        *data += 3;
        *len -= 3;
        return true;
    }
    return false;
}

/* The comparator a quantity's text starts with: "<=", ">=", "<", ">",
 * and "=" when eq_ok (given back as "": equal is what a plain number
 * says). Moves *text past it and the spaces after it and returns it (a
 * static string); "" with *text untouched when there is none. */
const char *hg_parse_comparator (const char **text, bool eq_ok);

/* Appends flag (a static string: a data-quality flag name such as
 * "id.invalid") to rec's flags, in a new array in a (rec's array may be
 * shared). False when out of memory. */
struct Hourglass__Record;
bool hg_parse_add_flag (hg_arena_t *a, struct Hourglass__Record *rec, const char *flag);

/* Removes flag from rec's flags, keeping the others in a new array in a
 * (rec's may be shared with other records); none left: NULL. False when
 * out of memory (rec is then unchanged). */
bool hg_parse_drop_flag (hg_arena_t *a, struct Hourglass__Record *rec, const char *flag);

/* An arena copy of the NUL-terminated s for a record field: protobuf-c's
 * empty string for NULL or ""; out of memory sets *oom and also returns
 * the empty string, so a parser goes on and fails once at its end. */
char *hg_parse_strdup (hg_arena_t *a, const char *s, bool *oom);

#endif
