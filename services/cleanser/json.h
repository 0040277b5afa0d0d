/*
 * json.h -- a JSON tree in an arena, for the FHIR parser.
 *
 * json-c allocates every value, key and object hash table with malloc and
 * frees them one by one: for FHIR payloads that was more than half of the
 * cleanser's CPU. hg_json_parse reads the common case -- a well-formed
 * object or array of plain JSON -- straight into an arena, one pass, no
 * per-value malloc. Anything it is not sure json-c would read the same way
 * (invalid JSON, \u escapes of surrogates or NUL, raw control characters,
 * numbers with leading zeros, -0 or more than 18 digits, duplicate keys,
 * objects of more than 128 members, deep nesting) it declines, and the caller parses with json-c instead
 * (hg_json_from_json_c converts the result), so errors keep json-c's
 * messages and positions and the tree is always the one json-c gives.
 *
 * Semantics follow json-c's: a JSON null is a NULL value (a member whose
 * value is null exists, with value NULL); objects keep their members in
 * order; hg_json_string of a number is its text.
 */
#ifndef HG_JSON_H
#define HG_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "arena.h"

typedef struct hg_json hg_json_t;

/* The types, with json-c's values (json_type), so names and messages match. */
typedef enum {
    HG_JSON_NULL = json_type_null,
    HG_JSON_BOOLEAN = json_type_boolean,
    HG_JSON_DOUBLE = json_type_double,
    HG_JSON_INT = json_type_int,
    HG_JSON_OBJECT = json_type_object,
    HG_JSON_ARRAY = json_type_array,
    HG_JSON_STRING = json_type_string,
} hg_json_type_t;

struct hg_json {
    hg_json_type_t type;
    bool boolean;
    int64_t i;
    double d;
    const char *text;  /* string (NUL-terminated), or a number's text */
    size_t len;        /* bytes of text; items of an array or object */
    hg_json_t **items; /* elements, or member values (NULL: JSON null) */
    const char **keys; /* member names of an object */
};

/* Parses one value from p[0..n): 1 with *out and *end (bytes consumed,
 * with the whitespace after the value, as json-c counts them); 0 when
 * declined (see above: use json-c); -1 when out of memory (arena). Only
 * objects and arrays are taken at the top level. */
int hg_json_parse (hg_arena_t *a, const char *p, size_t n, hg_json_t **out, size_t *end);

/* The tree json-c parsed, copied into the arena (NULL for a JSON null;
 * sets *oom on allocation failure). */
hg_json_t *hg_json_from_json_c (hg_arena_t *a, json_object *v, bool *oom);

hg_json_type_t hg_json_type (const hg_json_t *v);
/* json_object_is_type: NULL is of type null. */
bool hg_json_is (const hg_json_t *v, hg_json_type_t type);
/* Member key of an object: true when present, *v its value (NULL for null). */
bool hg_json_member (const hg_json_t *obj, const char *key, hg_json_t **v);
/* json_object_get_string: a string's value, a number's or boolean's text,
 * NULL for null and for objects and arrays (not used on those). */
const char *hg_json_string (const hg_json_t *v);
/* Items of an array or members of an object (0 for anything else), and
 * item i of an array (NULL when out of range or a JSON null). */
size_t hg_json_length (const hg_json_t *v);
hg_json_t *hg_json_item (const hg_json_t *v, size_t i);
/* Bytes of a string (json_object_get_string_len). */
size_t hg_json_string_len (const hg_json_t *v);
bool hg_json_boolean (const hg_json_t *v);
double hg_json_double (const hg_json_t *v);
int64_t hg_json_int64 (const hg_json_t *v);
/* json_type_to_name. */
const char *hg_json_type_name (hg_json_type_t type);
/* What json_object_to_json_string_ext (v, JSON_C_TO_STRING_PLAIN) writes,
 * in the arena; NULL when out of memory. */
const char *hg_json_to_text (hg_arena_t *a, const hg_json_t *v);

#endif
