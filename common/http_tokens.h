/*
 * http_tokens.h -- bearer tokens of the HTTP endpoints: the collector's
 * FHIR-over-HTTP partners and analytics' analysts (the API). A tokens file
 * ("<token> <name> [<role>]" lines) is parsed into an immutable table that
 * matches an Authorization header in constant time. The parser and matcher
 * are pure (no I/O); hg_http_tokens_load reads the file; hg_http_auth_t
 * keeps the table in force and swaps a freshly loaded one in on reload.
 *
 * A token is written either as itself (the collector's partners' files, as
 * they have always been) or as its hash, "blake2b:" and the 64 hex digits
 * of its BLAKE2b-256 (what `hourglass cluster add-analyst` writes, so the
 * file on disk never holds a usable token). In memory only hashes are kept.
 */
#ifndef HG_HTTP_TOKENS_H
#define HG_HTTP_TOKENS_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

#define HG_FHIR_HTTP_PARTNER_MAX 128        /* characters of a partner name */
#define HG_FHIR_HTTP_TOKEN_MIN 16           /* characters of a bearer token */
#define HG_FHIR_HTTP_FILE_MAX (1024 * 1024) /* bytes of a tokens or PEM file */
#define HG_HTTP_ROLE_MAX 15                 /* characters of a role */
#define HG_HTTP_HASH_PREFIX "blake2b:"      /* a token written as its hash */
#define HG_HTTP_HASH_TEXT_LEN (8 + 64)      /* "blake2b:" + 64 hex digits */

/* Reads a whole small file (at most HG_FHIR_HTTP_FILE_MAX bytes: a tokens or
 * PEM file) into a NUL-terminated buffer the caller owns (and should wipe
 * with sodium_memzero before freeing: it holds secrets). what names the file
 * in errors ("http tokens file", "http_tls_cert"). 0, or <0 with err when
 * unreadable or too large (*out stays NULL). */
int hg_http_file_read (const char *path, const char *what, char **out, size_t *out_len,
                       hg_err_t *err);

/* An immutable table of bearer tokens, each naming a partner. Tokens are kept
 * only as BLAKE2b-256 hashes. */
typedef struct hg_http_tokens hg_http_tokens_t;

/* What a tokens file may hold beyond "<token> <name>" lines. */
typedef struct {
    /* NULL: no role column (the collector's partners). Otherwise the roles a
     * third column may name, NULL-terminated; a line without one gets the
     * first. */
    const char *const *roles;
    bool allow_empty; /* a file without a token is valid (every request is 401) */
} hg_http_tokens_rules_t;

/* Parses the text of a tokens file: one "<token> <partner>" per line,
 * separated by spaces or tabs, '#' starts a comment (a whole line, or after
 * the partner), blank lines and CRLF endings are fine. A token has at least
 * HG_FHIR_HTTP_TOKEN_MIN characters and may not repeat; a partner name has
 * 1-HG_FHIR_HTTP_PARTNER_MAX characters without '/'. source names the file
 * in error messages. NULL with err (naming the line) on the first bad line,
 * a NUL byte, or when no token is left. text is not kept; the copy made
 * while parsing is wiped. */
hg_http_tokens_t *hg_http_tokens_parse (const char *text, size_t len, const char *source,
                                        hg_err_t *err);

/* The same under rules (NULL: as hg_http_tokens_parse): a third column
 * naming one of rules->roles, and whether no token at all is fine. */
hg_http_tokens_t *hg_http_tokens_parse_rules (const char *text, size_t len, const char *source,
                                              const hg_http_tokens_rules_t *rules, hg_err_t *err);

/* The hashed form of token[0..len) as a tokens file may hold it:
 * "blake2b:<64 hex digits>" into out (at least HG_HTTP_HASH_TEXT_LEN + 1
 * bytes). */
void hg_http_token_hash_text (const char *token, size_t len, char *out);

/* Reads path (at most HG_FHIR_HTTP_FILE_MAX bytes) and parses it as above;
 * NULL with err when unreadable or invalid. The read buffer is wiped. */
hg_http_tokens_t *hg_http_tokens_load (const char *path, hg_err_t *err);

/* Number of tokens in the table. */
size_t hg_http_tokens_count (const hg_http_tokens_t *self);

/* Matches an Authorization header value "Bearer <token>" (scheme case-
 * insensitive, spaces around the token ignored). On a match copies the
 * partner name into partner (cap bytes, at least HG_FHIR_HTTP_PARTNER_MAX + 1)
 * and returns true; false for NULL, another scheme, an empty or unknown
 * token. Every entry is compared in constant time, so timing does not tell
 * which one matched. Safe from several threads at once. */
bool hg_http_tokens_match (const hg_http_tokens_t *self, const char *authorization, char *partner,
                           size_t cap);

/* The same, also copying the entry's role (its third column, "" without
 * rules) into role (role_cap bytes, at least HG_HTTP_ROLE_MAX + 1). */
bool hg_http_tokens_match_role (const hg_http_tokens_t *self, const char *authorization,
                                char *name, size_t cap, char *role, size_t role_cap);

/* Wipes and frees the table. NULL-safe; sets *self_p to NULL. */
void hg_http_tokens_destroy (hg_http_tokens_t **self_p);

/* ---- the table in force, reloadable ------------------------------------------ */

/* A tokens file kept by path and its table in force, swapped whole by
 * hg_http_auth_reload under a lock that hg_http_auth_match holds only while
 * matching: a match copies the partner name out, so a request authenticated
 * before a reload keeps the partner it was authenticated as, and later ones
 * see only the new table. A file that does not parse keeps the old table. */
typedef struct hg_http_auth hg_http_auth_t;

/* Loads path (see hg_http_tokens_load); NULL with err when it is unreadable
 * or invalid. path is copied. */
hg_http_auth_t *hg_http_auth_open (const char *path, hg_err_t *err);

/* The same under rules (kept by pointer: static storage), for every load
 * and reload. */
hg_http_auth_t *hg_http_auth_open_rules (const char *path, const hg_http_tokens_rules_t *rules,
                                         hg_err_t *err);

/* Re-reads the file and swaps the new table in: 0 with *partners (may be
 * NULL) its number of tokens; <0 with err (may be NULL) when it does not
 * load, the table in force unchanged. */
int hg_http_auth_reload (hg_http_auth_t *self, size_t *partners, hg_err_t *err);

/* hg_http_tokens_match under the table in force. Safe from several threads
 * at once and against a concurrent reload. */
bool hg_http_auth_match (hg_http_auth_t *self, const char *authorization, char *partner,
                         size_t cap);

/* hg_http_tokens_match_role under the table in force. */
bool hg_http_auth_match_role (hg_http_auth_t *self, const char *authorization, char *name,
                              size_t cap, char *role, size_t role_cap);

/* ---- TLS files ------------------------------------------------------------ */

/* Reads the PEM certificate and private key of an HTTPS endpoint and checks
 * what GnuTLS would report obscurely: both or neither given, readable, PEM,
 * the key not encrypted. cert_opt and key_opt name the options in errors
 * ("http_tls_cert"). 0 with *cert and *key NULL when neither is given; 0
 * with both malloc'd NUL-terminated texts (the caller wipes the key with
 * sodium_memzero, *key_len bytes, and frees both), or 1 the same when the
 * key file can be read by others than its owner (the caller warns); <0 with
 * err, nothing allocated. */
int hg_http_tls_read (const char *cert_path, const char *key_path, const char *cert_opt,
                      const char *key_opt, char **cert, char **key, size_t *key_len,
                      hg_err_t *err);

/* Number of tokens in force. */
size_t hg_http_auth_count (hg_http_auth_t *self);

/* Wipes and frees. NULL-safe; sets *self_p to NULL. */
void hg_http_auth_close (hg_http_auth_t **self_p);

#endif
