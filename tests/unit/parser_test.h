/*
 * parser_test.h -- helpers shared by the parsers' unit tests: parsing into
 * a new batch, finding a reject by location and reason, and reading a
 * sample file.
 * Include after <cmocka.h>.
 */
#ifndef HG_PARSER_TEST_H
#define HG_PARSER_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "batch.h"
#include "util.h"

/* A parser of the common shape (hg_fhir_parse, hg_hl7v2_parse,
 * hg_dicom_parse). */
typedef int (*hg_test_parser_fn) (const char *data, size_t len, const hg_parse_limits_t *limits,
                                  hg_batch_t *out);

/* Parses data[0..len) with fn into a new batch (the caller destroys it),
 * with limits max_field and max_records (0: none); *rc is what fn
 * returned. */
static inline hg_batch_t *
hg_test_parse (hg_test_parser_fn fn, const void *data, size_t len, size_t max_field,
               size_t max_records, int *rc)
{
    hg_batch_t *b = hg_batch_new (0);
    assert_non_null (b);
    hg_parse_limits_t lim = {max_field, max_records};
    *rc = fn (data, len, &lim, b);
    return b;
}

/* The first reject whose location is loc (exact, or containing it when
 * loc_exact is false; NULL: any) and whose reason contains reason_part
 * (NULL: any). Prints every reject when none matches, to show why. */
static inline const hg_reject_t *
hg_test_find_reject (hg_batch_t *b, const char *loc, bool loc_exact, const char *reason_part)
{
    const hg_reject_t *r = hg_batch_rejects (b);
    for (size_t i = 0; i < hg_batch_reject_count (b); i++) {
        bool loc_ok = !loc
                      || (loc_exact ? strcmp (r[i].location, loc) == 0
                                    : strstr (r[i].location, loc) != NULL);
        if (loc_ok && (!reason_part || strstr (r[i].reason, reason_part))) {
            return &r[i];
        }
    }
    for (size_t i = 0; i < hg_batch_reject_count (b); i++) {
        print_message ("reject %zu: [%s] %s\n", i, r[i].location, r[i].reason);
    }
    return NULL;
}

/* The first reject located exactly at loc, whose reason contains
 * reason_part (either NULL: any). */
static inline const hg_reject_t *
hg_test_reject_at (hg_batch_t *b, const char *loc, const char *reason_part)
{
    return hg_test_find_reject (b, loc, true, reason_part);
}

/* The same with a location that contains loc. */
static inline const hg_reject_t *
hg_test_reject_near (hg_batch_t *b, const char *loc, const char *reason_part)
{
    return hg_test_find_reject (b, loc, false, reason_part);
}

/* A whole sample file (NUL-terminated, malloc'd), NULL when it cannot be
 * read; *len its size. */
static inline char *
hg_test_slurp (const char *path, size_t *len)
{
    char *data = NULL;
    *len = 0;
    if (hg_read_file (path, (size_t) 1 << 30, &data, len, NULL) < 0) {
        return NULL;
    }
    return data;
}

/* The ignored count of kind in b (0 when b counted none of it). */
static inline size_t
hg_test_ignored_of (const hg_batch_t *b, const char *kind)
{
    size_t n = 0;
    const hg_ignored_t *k = hg_batch_ignored_kinds (b, &n);
    for (size_t i = 0; i < n; i++) {
        if (strcmp (k[i].kind, kind) == 0) {
            return k[i].count;
        }
    }
    return 0;
}

#endif
