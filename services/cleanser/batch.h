/*
 * batch.h -- the cleanser's parse batch.
 *
 * A parser fills an hg_batch_t: records built in the batch's arena (with
 * the record model's constructors, common/record.h), plus rejects
 * (quarantine material) each with a location and a reason a person can act
 * on. The batch enforces the record limit for every parser and lets a
 * parser roll back to a mark. Pure logic: no I/O.
 */
#ifndef HG_BATCH_H
#define HG_BATCH_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "arena.h"
#include "record.h"

/* Excerpt bytes kept with a reject. */
#define HG_REJECT_EXCERPT_MAX 256

typedef struct {
    char *location; /* "message 2 (MSH-10 'X1') segment OBX[3] field 5" */
    char *reason;   /* "OBX-5 'abc' is not a number but OBX-2 says NM" */
    char *excerpt;  /* copy of at most HG_REJECT_EXCERPT_MAX input bytes */
    size_t excerpt_len;
} hg_reject_t;

typedef struct hg_batch hg_batch_t;

/* Limits a parser must honour; the cleanser fills them from configuration. */
typedef struct {
    size_t max_field_bytes; /* a single field/string value, e.g. 1 MiB */
    size_t max_records;     /* records from one payload */
} hg_parse_limits_t;

/* Creates an empty batch whose arena refuses to grow past arena_limit_bytes
 * (0: no limit). NULL when out of memory. */
hg_batch_t *hg_batch_new (size_t arena_limit_bytes);
void hg_batch_destroy (hg_batch_t **self_p);

/* Empties the batch for reuse (keeps one arena block). */
void hg_batch_reset (hg_batch_t *self);

hg_arena_t *hg_batch_arena (hg_batch_t *self);

/* Appends a new record of the given kind, every field initialised (strings
 * are "" as protobuf-c expects), provenance and demographics NULL.
 * Returns NULL when the arena limit or the record limit is reached
 * (hg_batch_full tells which). */
Hourglass__Record *hg_batch_add_record (hg_batch_t *self, Hourglass__RecordKind kind);

/* hg_batch_add_record for a parser that stops when it is refused: NULL
 * then, with *limit_hit true when the record limit refused the record
 * (hg_batch_full) and false when memory did, which also sets *oom (left
 * as it was otherwise). Neither is touched when a record is returned. */
Hourglass__Record *hg_batch_try_add (hg_batch_t *self, Hourglass__RecordKind kind,
                                     bool *limit_hit, bool *oom);

/* Removes the last record (a parser that fails half-way through a record). */
void hg_batch_drop_last (hg_batch_t *self);

/* A parser that fails half-way through a record, a message or a resource
 * takes a mark before it and rolls back to it: every record added since
 * the mark is dropped (their arena memory stays until hg_batch_reset);
 * rejects are kept. A mark is the record count, so marks nest. */
typedef size_t hg_batch_mark_t;
hg_batch_mark_t hg_batch_mark (const hg_batch_t *self);
void hg_batch_rollback (hg_batch_t *self, hg_batch_mark_t mark);

/* The record limit (hg_parse_limits_t.max_records), enforced here for every
 * parser: from this call on, hg_batch_add_record refuses (returns NULL and
 * hg_batch_full turns true) once the batch holds max_records more records
 * than now; 0 lifts the limit. hg_batch_reset lifts it too. */
void hg_batch_limit_records (hg_batch_t *self, size_t max_records);
/* True when hg_batch_add_record refused a record for the limit (not for
 * memory) since the limit was set; the parser then stops. */
bool hg_batch_full (const hg_batch_t *self);
/* The limit set last, 0 when none (for the reject reason). */
size_t hg_batch_max_records (const hg_batch_t *self);

/* Every parser starts so: sets the record limit from limits (NULL: none)
 * and returns the mark its record count is taken from. */
hg_batch_mark_t hg_batch_begin (hg_batch_t *self, const hg_parse_limits_t *limits);
/* Records added since mark (what a parser returns). */
size_t hg_batch_since (const hg_batch_t *self, hg_batch_mark_t mark);

/* Records a reject. excerpt may be NULL. location and reason are copied. */
void hg_batch_reject (hg_batch_t *self, const char *excerpt, size_t excerpt_len,
                      const char *location, const char *fmt, ...)
    __attribute__ ((format (printf, 5, 6)));

/* What each parser's reject helper does: the reason is who and sep (the
 * parser's "line 4" and ": ", "Observation/obs-1" and ": ", "row 2" and
 * " "; both may be "") followed by fmt formatted with ap, that part cut
 * to 479 bytes. */
void hg_batch_vreject (hg_batch_t *self, const char *excerpt, size_t excerpt_len,
                       const char *location, const char *who, const char *sep, const char *fmt,
                       va_list ap) __attribute__ ((format (printf, 7, 0)));

/* The rejects every parser writes, in the words users see:
 *   limit  "record limit reached (max_records N): " + the formatted rest,
 *          which says what is not parsed ("line 4 and the rest of the
 *          payload are not parsed");
 *   oom    "payload exceeds parser memory limit" at location ("payload"
 *          when NULL or ""). */
void hg_batch_reject_limit (hg_batch_t *self, const char *excerpt, size_t excerpt_len,
                            const char *location, const char *fmt, ...)
    __attribute__ ((format (printf, 5, 6)));
void hg_batch_reject_oom (hg_batch_t *self, const char *location);
/* The limit reject of a parser that stops at location ("row 4", "line 7",
 * "resource 2"): "record limit reached (max_records N): " + location +
 * " and the rest of the payload are not parsed", at location. */
void hg_batch_reject_rest (hg_batch_t *self, const char *excerpt, size_t excerpt_len,
                           const char *location);

/* Counts something of the payload that is valid but yields no record, under
 * the name of what it is: a resource without patient data ("FHIR
 * Organization"), a type no mapping takes ("FHIR Specimen (unsupported)"), a
 * segment kept by no record ("HL7 OBX in ORM^O01"), a genotype without an
 * ALT allele ("VCF reference call"). Reported per name in the partner's
 * quality report, neither indexed nor quarantined. kind is copied (at most
 * HG_IGNORE_KIND_MAX - 1 bytes); NULL or "" counts as "other". */
#define HG_IGNORE_KIND_MAX 64
void hg_batch_ignore (hg_batch_t *self, const char *kind);

/* One name hg_batch_ignore counted, with its count for this payload. */
typedef struct {
    char kind[HG_IGNORE_KIND_MAX];
    size_t count;
} hg_ignored_t;

size_t hg_batch_record_count (const hg_batch_t *self);
Hourglass__Record **hg_batch_records (hg_batch_t *self);
size_t hg_batch_reject_count (const hg_batch_t *self);
const hg_reject_t *hg_batch_rejects (const hg_batch_t *self);
size_t hg_batch_ignored (const hg_batch_t *self);
/* The payload's ignored counts by kind (*n of them; the counts sum to
 * hg_batch_ignored). At most HG_BATCH_IGNORE_KINDS names are told apart;
 * beyond them counts go to "other". */
#define HG_BATCH_IGNORE_KINDS 32
const hg_ignored_t *hg_batch_ignored_kinds (const hg_batch_t *self, size_t *n);

#endif
