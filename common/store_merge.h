/*
 * store_merge.h -- the values RocksDB merges for us (pure; store.c installs
 * hg_store_merge_full as every store's merge operator).
 *
 * A value or merge operand starts with a tag byte:
 *   'U' set: a container of 16-bit numbers (a chunk of a bitmap: the low
 *       bits of the numbers whose high bits the key says): a sorted array of
 *       uint16 little endian while it has fewer than 4096 numbers, else a
 *       bitset of 65536 bits (8192 bytes; the length tells the two apart).
 *       As an operand, the numbers are added.
 *   '-' the same container as an operand: its numbers are removed.
 *   'A' bytes appended: the value is every operand's bytes, in order.
 * Merging needs no read before a write: the indexer stages "add patient
 * ordinal 17 to the bitmap of code X" in the same batch as the record, and
 * RocksDB folds the operands into the value when it reads or compacts.
 */
#ifndef HG_STORE_MERGE_H
#define HG_STORE_MERGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HG_SET_BITSET_BYTES 8192 /* a full container: 65536 bits */
#define HG_SET_ARRAY_MAX 4095    /* numbers an array container holds at most */

/* The merged value of existing (NULL: none) and the n operands, malloc'd,
 * *len its length; NULL when an operand's tag disagrees with the value's or
 * out of memory (RocksDB then reports the merge as failed). */
char *hg_store_merge_full (const char *existing, size_t existing_len, const char *const *ops,
                           const size_t *op_lens, int n, size_t *len);

/* Operands combined into one (sets: when all add; appends); NULL when they
 * cannot be (a removal among them). */
char *hg_store_merge_partial (const char *const *ops, const size_t *op_lens, int n, size_t *len);

/* A container's numbers into the 65536-bit bitset bits (ORed in; cleared
 * when remove). c, cl: the container without its tag. false when
 * malformed. */
bool hg_set_apply (uint64_t bits[1024], const unsigned char *c, size_t cl, bool remove);

/* The container (without tag) of bitset bits into out (at least
 * HG_SET_BITSET_BYTES); its length. */
size_t hg_set_encode (const uint64_t bits[1024], unsigned char *out);

/* The numbers of a container, ascending, one call of fn each (stops when fn
 * returns false). false when malformed. */
bool hg_set_each (const unsigned char *c, size_t cl, bool (*fn) (void *arg, uint32_t low),
                  void *arg);

#endif
