/*
 * util.h -- small shared helpers: clocks, directories, files.
 */
#ifndef HG_UTIL_H
#define HG_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Monotonic milliseconds (timeouts) and microseconds (durations), and
 * wall-clock microseconds (stamps). */
uint64_t hg_now_ms (void);
uint64_t hg_now_us (void);
uint64_t hg_wall_us (void);

/* mkdir -p with the given mode for created directories. */
int hg_mkdirs (const char *path, unsigned mode, hg_err_t *err);

/* Reads a whole file (at most max_bytes) into a malloc'd buffer (NUL added). */
int hg_read_file (const char *path, size_t max_bytes, char **data, size_t *len, hg_err_t *err);

/* Removes a directory and everything below it, not following links (a
 * slot's store once adopted, a test's scratch directory); a path that is
 * not there is fine. 0, or <0 with err (may be NULL). */
int hg_remove_tree (const char *path, hg_err_t *err);

/* Writes a file atomically: temp file in the same directory, fsync, rename. */
int hg_write_file_atomic (const char *path, const void *data, size_t len, unsigned mode,
                          hg_err_t *err);

/* Length of the valid UTF-8 sequence at p (at most n bytes): 1-4, or 0 when
 * it is invalid (bad lead or continuation byte, overlong form, surrogate,
 * beyond U+10FFFF, truncated). */
size_t hg_utf8_len (const unsigned char *p, size_t n);

/* True when s[0..n) is entirely valid UTF-8. */
bool hg_utf8_valid (const unsigned char *s, size_t n);

/* Splits a comma-separated list in place; returns the count (at most max). */
size_t hg_split_list (char *s, char **items, size_t max);

/* The value of a hexadecimal digit (either case), -1 if c is not one. */
int hg_hex_digit (char c);

/* True when each of the n bytes at s is an ASCII digit 0-9 (so when n is
 * 0). */
bool hg_all_digits (const char *s, size_t n);

#endif
