/*
 * json_check.h -- checks that a body is one JSON value (RFC 8259) without
 * building it: one pass over the bytes, memory independent of the body's
 * size, so that FHIR over HTTP can refuse malformed JSON before journalling
 * it without holding a parsed tree of every body (json-c's tree of a dense
 * FHIR Bundle is ~24 times the body). It also reports the two top-level
 * members the collector decides on: "resourceType" and "type". Pure: no
 * I/O, no allocation.
 */
#ifndef HG_JSON_CHECK_H
#define HG_JSON_CHECK_H

#include <stdbool.h>
#include <stddef.h>

#define HG_JSON_CHECK_STR_MAX 63 /* longest member value kept (longer: truncated) */

typedef struct {
    size_t end;  /* the byte after the value (trailing whitespace not included) */
    bool object; /* the value is an object */
    /* string members of the top-level object, decoded; when a name repeats
     * the last wins (as json-c reads it); a member that is not a string
     * counts as absent */
    bool has_resource_type;
    char resource_type[HG_JSON_CHECK_STR_MAX + 1];
    bool has_type;
    char type[HG_JSON_CHECK_STR_MAX + 1];
    bool truncated; /* one of them was longer than HG_JSON_CHECK_STR_MAX */
    char why[160];  /* on failure: what is wrong, and at which byte */
} hg_json_check_t;

/* Checks that data[0..len) starts, after whitespace, with one JSON value
 * nested at most max_depth deep, and fills out. The bytes after out->end
 * are the caller's to judge (trailing data). false with out->why when the
 * value is malformed or ends early. */
bool hg_json_check (const char *data, size_t len, int max_depth, hg_json_check_t *out);

#endif
