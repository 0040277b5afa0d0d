/*
 * config.c -- table-driven configuration: defaults < file < env < argv.
 */
#include "config.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define HG_CONFIG_MAX_OPTS 96
#define HG_CONFIG_FILE_MAX (1u << 20)

typedef struct {
    const hg_opt_t *opt;
    char *value;        /* owned copy of the effective value */
    const char *source; /* "default", "file", "env", "flag" */
} entry_t;

struct hg_config {
    char program[64];
    entry_t entries[HG_CONFIG_MAX_OPTS];
    size_t n;
};

hg_config_t *
hg_config_new (const char *program, const hg_opt_t *common, const hg_opt_t *own)
{
    hg_config_t *self = calloc (1, sizeof (*self));
    if (!self) {
        return NULL;
    }
    snprintf (self->program, sizeof (self->program), "%s", program);
    const hg_opt_t *tables[] = {common, own};
    for (int t = 0; t < 2; t++) {
        for (const hg_opt_t *o = tables[t]; o && o->name; o++) {
            assert (self->n < HG_CONFIG_MAX_OPTS);
            self->entries[self->n].opt = o;
            self->entries[self->n].value = strdup (o->default_value ? o->default_value : "");
            self->entries[self->n].source = "default";
            self->n++;
        }
    }
    return self;
}

void
hg_config_destroy (hg_config_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    hg_config_t *self = *self_p;
    for (size_t i = 0; i < self->n; i++) {
        free (self->entries[i].value);
    }
    free (self);
    *self_p = NULL;
}

/* Compares option names treating '-' and '_' alike. */
static bool
s_name_eq (const char *a, const char *b, size_t blen)
{
    size_t i = 0;
    for (; i < blen && a[i]; i++) {
        char x = a[i] == '-' ? '_' : a[i];
        char y = b[i] == '-' ? '_' : b[i];
        if (x != y) {
            return false;
        }
    }
    return i == blen && a[i] == '\0';
}

static entry_t *
s_find (const hg_config_t *self, const char *name, size_t len)
{
    for (size_t i = 0; i < self->n; i++) {
        if (s_name_eq (self->entries[i].opt->name, name, len)) {
            return (entry_t *) &self->entries[i];
        }
    }
    return NULL;
}

static int
s_validate (const hg_opt_t *o, const char *value, hg_err_t *err)
{
    if (o->type == HG_OPT_INT) {
        char *end;
        errno = 0;
        long long v = strtoll (value, &end, 10);
        (void) v;
        if (errno || end == value || *end) {
            return hg_err_set (err, HG_EINVAL, "option %s: '%s' is not an integer", o->name,
                               value);
        }
    }
    else if (o->type == HG_OPT_BOOL) {
        static const char *ok[] = {"true", "false", "1", "0", "yes", "no", "on", "off"};
        for (size_t i = 0; i < sizeof (ok) / sizeof (ok[0]); i++) {
            if (strcmp (value, ok[i]) == 0) {
                return 0;
            }
        }
        return hg_err_set (err, HG_EINVAL, "option %s: '%s' is not a boolean (true/false)",
                           o->name, value);
    }
    return 0;
}

static int
s_set (hg_config_t *self, const char *name, size_t name_len, const char *value,
       const char *source, hg_err_t *err)
{
    entry_t *e = s_find (self, name, name_len);
    if (!e) {
        return hg_err_set (err, HG_EINVAL, "unknown option '%.*s' (from %s); see %s --help",
                           (int) name_len, name, source, self->program);
    }
    if (s_validate (e->opt, value, err) < 0) {
        return HG_EINVAL;
    }
    char *copy = strdup (value);
    if (!copy) {
        return hg_err_set (err, HG_ENOMEM, "out of memory");
    }
    free (e->value);
    e->value = copy;
    e->source = source;
    return 0;
}

int
hg_config_set (hg_config_t *self, const char *name, const char *value, hg_err_t *err)
{
    return s_set (self, name, strlen (name), value, "flag", err);
}

static char *
s_trim (char *s)
{
    while (isspace ((unsigned char) *s)) {
        s++;
    }
    char *end = s + strlen (s);
    while (end > s && isspace ((unsigned char) end[-1])) {
        *--end = '\0';
    }
    return s;
}

/* One line of a config file (NUL-terminated, modified). */
static int
s_parse_line (hg_config_t *self, char *line, const char *where, int lineno, hg_err_t *err)
{
    char *s = s_trim (line);
    if (*s == '\0' || *s == '#') {
        return 0;
    }
    char *eq = strchr (s, '=');
    if (!eq) {
        return hg_err_set (err, HG_EINVAL, "%s:%d: expected 'key = value'", where, lineno);
    }
    *eq = '\0';
    char *key = s_trim (s), *value = s_trim (eq + 1);
    if (s_set (self, key, strlen (key), value, "file", err) < 0) {
        char inner[sizeof (err->msg)];
        snprintf (inner, sizeof (inner), "%s", err->msg);
        return hg_err_set (err, HG_EINVAL, "%s:%d: %s", where, lineno, inner);
    }
    return 0;
}

int
hg_config_parse (hg_config_t *self, const char *text, size_t len, const char *where,
                 hg_err_t *err)
{
    char *line = malloc (len + 1);
    if (!line) {
        return hg_err_set (err, HG_ENOMEM, "out of memory reading %s", where);
    }
    int lineno = 0, rc = 0;
    for (size_t at = 0; at < len && rc == 0;) {
        const char *nl = memchr (text + at, '\n', len - at);
        size_t n = nl ? (size_t) (nl - (text + at)) : len - at;
        memcpy (line, text + at, n);
        line[n] = '\0';
        rc = s_parse_line (self, line, where, ++lineno, err);
        at += n + 1;
    }
    free (line);
    return rc;
}

static int
s_load_file (hg_config_t *self, const char *path, hg_err_t *err)
{
    FILE *f = fopen (path, "r");
    if (!f) {
        return hg_err_set (err, HG_EIO, "cannot open config file %s: %s", path, strerror (errno));
    }
    fclose (f);
    char *text;
    size_t len;
    if (hg_read_file (path, HG_CONFIG_FILE_MAX, &text, &len, err) < 0) {
        return err->code;
    }
    int rc = hg_config_parse (self, text, len, path, err);
    free (text);
    return rc;
}

int
hg_config_load (hg_config_t *self, int argc, char **argv, hg_err_t *err)
{
    /* config file first (flag or env), so env and flags override it */
    const char *file = getenv ("HOURGLASS_CONFIG");
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv[i], "--help") == 0 || strcmp (argv[i], "-h") == 0) {
            hg_config_print_help (self, stdout);
            return 1;
        }
        if (strcmp (argv[i], "--help-markdown") == 0) {
            hg_config_print_markdown (self, stdout);
            return 1;
        }
        if (strcmp (argv[i], "--config") == 0 && i + 1 < argc) {
            file = argv[i + 1];
        }
        else if (strncmp (argv[i], "--config=", 9) == 0) {
            file = argv[i] + 9;
        }
    }
    if (file && *file && s_load_file (self, file, err) < 0) {
        return HG_EINVAL;
    }
    for (size_t i = 0; i < self->n; i++) {
        char env[128] = "HOURGLASS_";
        size_t k = strlen (env);
        for (const char *p = self->entries[i].opt->name; *p && k < sizeof (env) - 1; p++) {
            env[k++] = (char) toupper ((unsigned char) *p);
        }
        env[k] = '\0';
        const char *v = getenv (env);
        if (v
            && s_set (self, self->entries[i].opt->name, strlen (self->entries[i].opt->name), v,
                      "env", err)
                   < 0) {
            return HG_EINVAL;
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp (a, "--", 2) != 0) {
            return hg_err_set (err, HG_EINVAL, "unexpected argument '%s'; see %s --help", a,
                               self->program);
        }
        a += 2;
        const char *eq = strchr (a, '=');
        size_t name_len = eq ? (size_t) (eq - a) : strlen (a);
        const char *value;
        if (eq) {
            value = eq + 1;
        }
        else {
            entry_t *e = s_find (self, a, name_len);
            if (e && e->opt->type == HG_OPT_BOOL
                && (i + 1 >= argc || strncmp (argv[i + 1], "--", 2) == 0)) {
                value = "true";
            }
            else if (i + 1 < argc) {
                value = argv[++i];
            }
            else {
                return hg_err_set (err, HG_EINVAL, "option --%s needs a value", a);
            }
        }
        if (s_name_eq ("config", a, name_len)) {
            continue;
        }
        if (s_set (self, a, name_len, value, "flag", err) < 0) {
            return HG_EINVAL;
        }
    }
    return 0;
}

const char *
hg_config_str (const hg_config_t *self, const char *name)
{
    entry_t *e = s_find (self, name, strlen (name));
    assert (e && "option not declared");
    return e->value;
}

int64_t
hg_config_int (const hg_config_t *self, const char *name)
{
    return strtoll (hg_config_str (self, name), NULL, 10);
}

bool
hg_config_bool (const hg_config_t *self, const char *name)
{
    const char *v = hg_config_str (self, name);
    return strcmp (v, "true") == 0 || strcmp (v, "1") == 0 || strcmp (v, "yes") == 0
           || strcmp (v, "on") == 0;
}

static const char *
s_type_name (hg_opt_type_t t)
{
    return t == HG_OPT_INT ? "int" : t == HG_OPT_BOOL ? "bool" : "string";
}

/* The flag spelling of an option: "data_dir" -> "data-dir". */
static void
s_flag_name (const char *name, char *out, size_t size)
{
    size_t k = 0;
    for (const char *p = name; *p && k < size - 1; p++) {
        out[k++] = *p == '_' ? '-' : *p;
    }
    out[k] = '\0';
}

static void
s_env_name (const char *name, char *out, size_t size)
{
    size_t k = (size_t) snprintf (out, size, "HOURGLASS_");
    for (const char *p = name; *p && k < size - 1; p++) {
        out[k++] = (char) toupper ((unsigned char) *p);
    }
    out[k] = '\0';
}

void
hg_config_print_help (const hg_config_t *self, FILE *out)
{
    fprintf (out,
             "usage: %s [--config FILE] [--OPTION VALUE]...\n\n"
             "Options (precedence: flag > environment > config file > default):\n",
             self->program);
    for (size_t i = 0; i < self->n; i++) {
        const hg_opt_t *o = self->entries[i].opt;
        char env[128], flag[128];
        s_env_name (o->name, env, sizeof (env));
        s_flag_name (o->name, flag, sizeof (flag));
        fprintf (out, "  --%-22s %-6s %s\n  %-24s        env %s, default '%s'\n", flag,
                 s_type_name (o->type), o->help, "", env, o->default_value);
    }
}

void
hg_config_print_markdown (const hg_config_t *self, FILE *out)
{
    fprintf (out, "| option | env | type | default | meaning |\n|---|---|---|---|---|\n");
    for (size_t i = 0; i < self->n; i++) {
        const hg_opt_t *o = self->entries[i].opt;
        char env[128], flag[128];
        s_env_name (o->name, env, sizeof (env));
        s_flag_name (o->name, flag, sizeof (flag));
        fprintf (out, "| `--%s` | `%s` | %s | `%s` | %s |\n", flag, env, s_type_name (o->type),
                 o->default_value, o->help);
    }
}
