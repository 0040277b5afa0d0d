/*
 * config.h -- one configuration loader for every service.
 *
 * Each service declares its options in one table (name, type, default,
 * help). Values come from, lowest precedence first: the table default, a
 * config file (--config FILE, lines "key = value", '#' comments), the
 * environment (HOURGLASS_<NAME> upper-cased), the command line
 * (--name value or --name=value; '-' and '_' are interchangeable).
 * Unknown keys are a start-up error. --help prints the table.
 */
#ifndef HG_CONFIG_H
#define HG_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"

typedef enum { HG_OPT_STRING, HG_OPT_INT, HG_OPT_BOOL } hg_opt_type_t;

typedef struct {
    const char *name; /* snake_case key, e.g. "heartbeat_ms" */
    hg_opt_type_t type;
    const char *default_value; /* as text; "" for none */
    const char *help;          /* one line */
} hg_opt_t;

typedef struct hg_config hg_config_t;

/* Creates a config from up to two NULL-name-terminated option tables
 * (the common table and the service's own); tables must outlive it. */
hg_config_t *hg_config_new (const char *program, const hg_opt_t *common, const hg_opt_t *own);
void hg_config_destroy (hg_config_t **self_p);

/* Loads defaults, file, env, argv. Returns 0; 1 when --help was printed
 * (caller exits 0); HG_EINVAL with err for an unknown key or a bad value. */
int hg_config_load (hg_config_t *self, int argc, char **argv, hg_err_t *err);

/* Applies the lines of a config file's text (len bytes, need not end in a
 * NUL), what --config FILE does once FILE is read: "key = value" each, '#'
 * comments and blank lines skipped, blanks around key and value trimmed.
 * HG_EINVAL with err "<where>:<line>: <reason>" at the first bad line
 * (lines before it stay applied). Pure: no I/O. */
int hg_config_parse (hg_config_t *self, const char *text, size_t len, const char *where,
                     hg_err_t *err);

/* Sets a value as if given on the command line (validated). */
int hg_config_set (hg_config_t *self, const char *name, const char *value, hg_err_t *err);

/* Typed getters; asserting the name is declared (programmer error). */
const char *hg_config_str (const hg_config_t *self, const char *name);
int64_t hg_config_int (const hg_config_t *self, const char *name);
bool hg_config_bool (const hg_config_t *self, const char *name);

/* Prints usage with every option, its env var, default and help. */
void hg_config_print_help (const hg_config_t *self, FILE *out);

/* Prints the options as a Markdown table (for docs/configuration.md). */
void hg_config_print_markdown (const hg_config_t *self, FILE *out);

#endif
