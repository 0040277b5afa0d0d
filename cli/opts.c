/*
 * opts.c -- the table-driven option parser of the `hourglass` command. See
 * opts.h.
 */
#include "opts.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* The option named by arg ("--name" or "--name=value"), or NULL. */
static const hg_cli_opt_t *
s_find (const hg_cli_spec_t *spec, const char *arg, const char **inline_value)
{
    const char *eq = strchr (arg, '=');
    size_t len = eq ? (size_t) (eq - arg) : strlen (arg);
    *inline_value = eq ? eq + 1 : NULL;
    for (const hg_cli_opt_t *o = spec->opts; o && o->name; o++) {
        if ((strlen (o->name) == len && strncmp (arg, o->name, len) == 0)
            || (o->alias && strlen (o->alias) == len && strncmp (arg, o->alias, len) == 0)) {
            return o;
        }
    }
    return NULL;
}

/* Appends value to a growing array of strings; false when out of memory. */
static bool
s_push (const char ***v, size_t *n, const char *value)
{
    const char **nv = realloc (*v, (*n + 1) * sizeof (*nv));
    if (!nv) {
        return false;
    }
    nv[(*n)++] = value;
    *v = nv;
    return true;
}

/* Stores value into o's out; 0, or a usage error's status. name is the
 * option as the user spelled it (its alias, say), for the messages. */
static int
s_store (const hg_cli_spec_t *spec, const hg_cli_opt_t *o, const char *name, const char *value)
{
    char *end = NULL;
    errno = 0;
    switch (o->type) {
    case HG_CLI_FLAG:
        *(bool *) o->out = true;
        return 0;
    case HG_CLI_STRING:
    case HG_CLI_OPTIONAL:
        *(const char **) o->out = value;
        return 0;
    case HG_CLI_INT: {
        long long n = strtoll (value, &end, 10);
        if (!*value || *end || errno || (double) n < o->lo || (double) n > o->hi) {
            return hg_cli_usage_error (spec,
                                       "%s wants a whole number from %.0f to %.0f, got "
                                       "'%s'",
                                       name, o->lo, o->hi, value);
        }
        *(int *) o->out = (int) n;
        return 0;
    }
    case HG_CLI_NUMBER: {
        double d = strtod (value, &end);
        if (!*value || *end || errno || !isfinite (d) || d < o->lo || d > o->hi) {
            return hg_cli_usage_error (spec, "%s wants a number from %g to %g, got '%s'", name,
                                       o->lo, o->hi, value);
        }
        *(double *) o->out = d;
        return 0;
    }
    case HG_CLI_LIST: {
        hg_cli_list_t *l = o->out;
        if ((double) l->n >= o->hi) {
            return hg_cli_usage_error (spec, "at most %.0f %s", o->hi, name);
        }
        if (!s_push (&l->v, &l->n, value)) {
            fprintf (stderr, "%s: out of memory\n", spec->command);
            return 1;
        }
        return 0;
    }
    }
    return 0;
}

/* One option at argv[*i], marked in seen; 0 to go on, else the exit status
 * (-1 after --help). */
static int
s_option (const hg_cli_spec_t *spec, int argc, char **argv, int *i, bool *seen)
{
    const char *arg = argv[*i];
    if (hg_cli_is_help (arg)) {
        hg_cli_usage (spec, stdout);
        return -1;
    }
    const char *value;
    const hg_cli_opt_t *o = s_find (spec, arg, &value);
    if (!o) {
        return hg_cli_usage_error (spec, "unknown option %s", arg);
    }
    seen[o - spec->opts] = true;
    char name[64];
    snprintf (name, sizeof (name), "%.*s", (int) (value ? value - 1 - arg : (long) strlen (arg)),
              arg);
    if (o->type == HG_CLI_FLAG) {
        if (value) {
            return hg_cli_usage_error (spec, "%s takes no value", name);
        }
        return s_store (spec, o, name, NULL);
    }
    if (!value && o->type == HG_CLI_OPTIONAL) {
        bool next = *i + 1 < argc && (!o->accept || o->accept (argv[*i + 1]));
        value = next ? argv[++*i] : "";
    }
    if (!value) {
        if (*i + 1 >= argc) {
            return hg_cli_usage_error (spec, "%s needs a value (%s)", name,
                                       o->metavar ? o->metavar : "VALUE");
        }
        value = argv[++*i];
    }
    return s_store (spec, o, name, value);
}

/* Whether a required option is absent (after printing the usage error);
 * seen[k] says whether opts[k] was given. */
static bool
s_missing (const hg_cli_spec_t *spec, const bool *seen, int *status)
{
    for (size_t k = 0; spec->opts && spec->opts[k].name; k++) {
        if (spec->opts[k].required && !seen[k]) {
            *status = hg_cli_usage_error (spec, "%s is required", spec->opts[k].name);
            return true;
        }
    }
    return false;
}

int
hg_cli_parse (const hg_cli_spec_t *spec, int argc, char **argv, int first, hg_cli_args_t *args,
              int *status)
{
    args->v = NULL;
    args->n = 0;
    bool seen[HG_CLI_OPTS_MAX] = {false};
    size_t n_opts = 0;
    while (spec->opts && spec->opts[n_opts].name) {
        n_opts++;
    }
    assert (n_opts <= HG_CLI_OPTS_MAX);
    bool options = true;
    for (int i = first; i < argc; i++) {
        const char *arg = argv[i];
        if (options && strcmp (arg, "--") == 0) {
            options = false;
            continue;
        }
        if (options && arg[0] == '-' && arg[1]) {
            int rc = s_option (spec, argc, argv, &i, seen);
            if (rc != 0) {
                *status = rc < 0 ? 0 : rc;
                hg_cli_args_free (args);
                return -1;
            }
            continue;
        }
        if (!s_push (&args->v, &args->n, arg)) {
            fprintf (stderr, "%s: out of memory\n", spec->command);
            *status = 1;
            hg_cli_args_free (args);
            return -1;
        }
    }
    if (s_missing (spec, seen, status)) {
        hg_cli_args_free (args);
        return -1;
    }
    if (args->n < spec->min_args || args->n > spec->max_args) {
        *status = args->n < spec->min_args
                      ? hg_cli_usage_error (spec, "%s required",
                                            spec->args ? spec->args : "an argument is")
                      : hg_cli_usage_error (spec, "unexpected argument '%s'",
                                            args->v[spec->max_args]);
        hg_cli_args_free (args);
        return -1;
    }
    return 0;
}

void
hg_cli_usage (const hg_cli_spec_t *spec, FILE *out)
{
    /* the required options are part of the usage line */
    fprintf (out, "usage: %s", spec->command);
    for (const hg_cli_opt_t *o = spec->opts; o && o->name; o++) {
        if (o->required) {
            fprintf (out, " %s %s", o->name, o->metavar ? o->metavar : "VALUE");
        }
    }
    fprintf (out, " [OPTIONS]%s%s\n", spec->args ? " " : "", spec->args ? spec->args : "");
    for (const hg_cli_opt_t *o = spec->opts; o && o->name; o++) {
        char flag[96];
        const char *mv = o->metavar ? o->metavar : "VALUE";
        if (o->type == HG_CLI_FLAG) {
            snprintf (flag, sizeof (flag), "%s", o->name);
        }
        else if (o->type == HG_CLI_OPTIONAL) {
            snprintf (flag, sizeof (flag), "%s [%s]", o->name, mv);
        }
        else {
            snprintf (flag, sizeof (flag), "%s %s", o->name, mv);
        }
        fprintf (out, "  %-24s %s%s%s\n", flag, o->help ? o->help : "",
                 o->type == HG_CLI_LIST ? " (repeatable)" : "", o->required ? " (required)" : "");
        if (o->alias) {
            snprintf (flag, sizeof (flag), "%s%s%s", o->alias, o->type == HG_CLI_FLAG ? "" : " ",
                      o->type == HG_CLI_FLAG ? "" : mv);
            fprintf (out, "  %-24s the same as %s\n", flag, o->name);
        }
    }
    fprintf (out, "  %-24s this help\n", "--help, -h");
    if (spec->about) {
        fprintf (out, "%s", spec->about);
    }
    if (spec->epilog) {
        spec->epilog (out);
    }
}

int
hg_cli_usage_error (const hg_cli_spec_t *spec, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    fprintf (stderr, "%s: ", spec->command);
    vfprintf (stderr, fmt, ap);
    fprintf (stderr, "\n");
    va_end (ap);
    hg_cli_usage (spec, stderr);
    return 2;
}

bool
hg_cli_is_help (const char *arg)
{
    return strcmp (arg, "--help") == 0 || strcmp (arg, "-h") == 0;
}

static void
s_verbs_usage (const hg_cli_spec_t *const *specs, FILE *out)
{
    for (size_t i = 0; specs[i]; i++) {
        fprintf (out, "%s", i ? "\n" : "");
        hg_cli_usage (specs[i], out);
    }
}

int
hg_cli_verb (const char *command, int argc, char **argv, const hg_cli_spec_t *const *specs,
             const hg_cli_spec_t **chosen)
{
    if (argc >= 2 && hg_cli_is_help (argv[1])) {
        s_verbs_usage (specs, stdout);
        return 0;
    }
    for (size_t i = 0; argc >= 2 && specs[i]; i++) {
        const char *verb = strrchr (specs[i]->command, ' ');
        if (strcmp (argv[1], verb ? verb + 1 : specs[i]->command) == 0) {
            *chosen = specs[i];
            return -1;
        }
    }
    if (argc < 2) {
        fprintf (stderr, "%s: which one?\n", command);
    }
    else {
        fprintf (stderr, "%s: unknown subcommand '%s'\n", command, argv[1]);
    }
    s_verbs_usage (specs, stderr);
    return 2;
}

void
hg_cli_args_free (hg_cli_args_t *args)
{
    free (args->v);
    args->v = NULL;
    args->n = 0;
}

void
hg_cli_list_free (hg_cli_list_t *list)
{
    free (list->v);
    list->v = NULL;
    list->n = 0;
}
