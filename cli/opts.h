/*
 * opts.h -- the one option parser of the `hourglass` command: every command
 * and subcommand declares its options in a table, and the same table parses
 * argv and prints the usage.
 *
 * Conventions for every command:
 *   --NAME VALUE or --NAME=VALUE; a flag takes no value.
 *   --help / -h anywhere: the usage on stdout, exit status 0.
 *   An unknown option, a missing or malformed value, a required option
 *   absent, too few or too many arguments: a message naming it, then the
 *   usage, on stderr, exit status 2.
 *   Integers are checked whole and against their range (--wait abc is an
 *   error, not 0). "--" ends the options: what follows is arguments.
 *   Options may come before, between or after the arguments.
 * The parser does no I/O besides printing those messages; it keeps pointers
 * into argv (which outlives the command).
 */
#ifndef HG_CLI_OPTS_H
#define HG_CLI_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define HG_CLI_OPTS_MAX 64 /* options of one command */

typedef enum {
    HG_CLI_FLAG,     /* bool *: set to true */
    HG_CLI_STRING,   /* const char **: the value */
    HG_CLI_INT,      /* int *: a whole number in [lo, hi] */
    HG_CLI_NUMBER,   /* double *: a number in [lo, hi] */
    HG_CLI_LIST,     /* hg_cli_list_t *: every value of a repeated option, at most hi */
    HG_CLI_OPTIONAL, /* const char **: the next argument when accept() takes it,
                         * else "" (given without a value); stays NULL when absent */
} hg_cli_type_t;

/* The values of a repeated option, in order (v is heap-allocated; free it
 * with hg_cli_list_free). */
typedef struct {
    const char **v;
    size_t n;
} hg_cli_list_t;

typedef struct {
    const char *name; /* "--wait"; NULL ends a table */
    hg_cli_type_t type;
    void *out;                         /* see the type; left alone when the option is absent */
    const char *metavar;               /* value placeholder in the usage, "SECONDS" */
    const char *help;                  /* one line */
    double lo, hi;                     /* range of INT and NUMBER; the count limit of a LIST */
    const char *alias;                 /* a second spelling kept for existing scripts, or NULL */
    bool (*accept) (const char *next); /* OPTIONAL: whether next is its value */
    bool required;                     /* absent: a usage error ("--format is required") */
} hg_cli_opt_t;

/* One command or subcommand. */
typedef struct {
    const char *command;        /* "hourglass push" */
    const char *args;           /* the arguments in the usage line, "FILE...", or NULL */
    size_t min_args, max_args;  /* how many arguments it takes */
    const char *about;          /* paragraphs printed after the options, or NULL */
    void (*epilog) (FILE *out); /* prints more after about (a list of formats), or NULL */
    const hg_cli_opt_t *opts;   /* NULL-name-terminated, at most HG_CLI_OPTS_MAX */
} hg_cli_spec_t;

/* What hg_cli_parse found besides the options. */
typedef struct {
    const char **v; /* the arguments in order (heap; hg_cli_args_free) */
    size_t n;
} hg_cli_args_t;

/* Table rows, one macro per type (designated initialisers: the rest zero). */
#define HG_CLI_OPT_FLAG(n, o, h)                                  \
    {                                                             \
        .name = (n), .type = HG_CLI_FLAG, .out = (o), .help = (h) \
    }
#define HG_CLI_OPT_STR(n, o, mv, h)                                                  \
    {                                                                                \
        .name = (n), .type = HG_CLI_STRING, .out = (o), .metavar = (mv), .help = (h) \
    }
#define HG_CLI_OPT_REQUIRED(n, o, mv, h)                                              \
    {                                                                                 \
        .name = (n), .type = HG_CLI_STRING, .out = (o), .metavar = (mv), .help = (h), \
        .required = true                                                              \
    }
#define HG_CLI_OPT_INT(n, o, mv, h, min, max)                                                   \
    {                                                                                           \
        .name = (n), .type = HG_CLI_INT, .out = (o), .metavar = (mv), .help = (h), .lo = (min), \
        .hi = (max)                                                                             \
    }
#define HG_CLI_OPT_NUM(n, o, mv, h, min, max)                                         \
    {                                                                                 \
        .name = (n), .type = HG_CLI_NUMBER, .out = (o), .metavar = (mv), .help = (h), \
        .lo = (min), .hi = (max)                                                      \
    }
#define HG_CLI_OPT_LIST(n, o, mv, h, max)                                                       \
    {                                                                                           \
        .name = (n), .type = HG_CLI_LIST, .out = (o), .metavar = (mv), .help = (h), .hi = (max) \
    }
#define HG_CLI_OPT_END \
    {                  \
        .name = NULL   \
    }

/* The options most commands share, one spelling and one help for all. */
#define HG_CLI_OPT_CLUSTER(o)                \
    HG_CLI_OPT_STR ("--cluster", (o), "DIR", \
                    "the cluster's directory ($HOURGLASS_CLUSTER, else .cluster)")
#define HG_CLI_OPT_JSON(o) HG_CLI_OPT_FLAG ("--json", (o), "one JSON object on stdout")

/* Parses argv[first..argc) by spec into the options' out pointers and args.
 * Returns 0 to go on; -1 when the command is done, with *status its exit
 * status: 0 after --help (usage printed on stdout), 2 after a usage error
 * (message and usage printed on stderr), 1 when out of memory. */
int hg_cli_parse (const hg_cli_spec_t *spec, int argc, char **argv, int first,
                  hg_cli_args_t *args, int *status);

/* Prints the usage of spec: the usage line, one line per option, about. */
void hg_cli_usage (const hg_cli_spec_t *spec, FILE *out);

/* Prints "COMMAND: <message>\n" and the usage on stderr; returns 2 (the exit
 * status of a usage error) for `return hg_cli_usage_error (...)`. */
int hg_cli_usage_error (const hg_cli_spec_t *spec, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

/* True for "--help" and "-h". */
bool hg_cli_is_help (const char *arg);

/* For a command made of subcommands (cluster up, query count), one spec
 * each (NULL-terminated; the verb is the last word of its command). When
 * argv[1] is one of the verbs, sets *chosen and returns -1 (parse on from
 * argv[2] with it). Else returns the exit status after printing every
 * subcommand's usage: on stdout for --help (0), on stderr with a message
 * when the verb is missing or unknown (2). */
int hg_cli_verb (const char *command, int argc, char **argv, const hg_cli_spec_t *const *specs,
                 const hg_cli_spec_t **chosen);

void hg_cli_args_free (hg_cli_args_t *args);
void hg_cli_list_free (hg_cli_list_t *list);

#endif
