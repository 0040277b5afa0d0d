/*
 * csv.c -- delimited text with a partner mapping to canonical records.
 *
 * The tokenizer walks the caller's buffer one row at a time and keeps each
 * field as a span (the inner text of a quoted field, doubled quotes still
 * doubled); only mapped values are unquoted, converted to UTF-8 and copied
 * into the batch arena. Rows are independent: a bad row is rejected alone.
 */
#include "csv.h"
#include "util.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "codesys.h"
#include "date.h"
#include "parsekit.h"

enum {
    S_COL_PATIENT,
    S_COL_ID,
    S_COL_GIVEN,
    S_COL_FAMILY,
    S_COL_BIRTH_DATE,
    S_COL_SEX,
    S_COL_ADDRESS,
    S_COL_CITY,
    S_COL_STATE,
    S_COL_POSTAL_CODE,
    S_COL_COUNTRY,
    S_COL_TELECOM,
    S_COL_DECEASED_DATE,
    S_COL_IDENTIFIER,
    S_COL_CODE,
    S_COL_CODE_SYSTEM,
    S_COL_DISPLAY,
    S_COL_EFFECTIVE,
    S_COL_EFFECTIVE_END,
    S_COL_STATUS,
    S_COL_ENCOUNTER,
    S_COL_VALUE,
    S_COL_UNIT,
    S_COL_INTERPRETATION,
    S_COL_REFERENCE_RANGE,
    S_COL_COUNT
};

/* which kinds use a column */
#define S_FOR_ALL 1
#define S_FOR_DEMO 2
#define S_FOR_CLINICAL 4
#define S_FOR_LAB 8

static const struct {
    const char *name;
    int used_by;
} s_columns[S_COL_COUNT] = {
    [S_COL_PATIENT] = {"patient", S_FOR_ALL},
    [S_COL_ID] = {"id", S_FOR_ALL},
    [S_COL_GIVEN] = {"given", S_FOR_DEMO},
    [S_COL_FAMILY] = {"family", S_FOR_DEMO},
    [S_COL_BIRTH_DATE] = {"birth_date", S_FOR_DEMO},
    [S_COL_SEX] = {"sex", S_FOR_DEMO},
    [S_COL_ADDRESS] = {"address", S_FOR_DEMO},
    [S_COL_CITY] = {"city", S_FOR_DEMO},
    [S_COL_STATE] = {"state", S_FOR_DEMO},
    [S_COL_POSTAL_CODE] = {"postal_code", S_FOR_DEMO},
    [S_COL_COUNTRY] = {"country", S_FOR_DEMO},
    [S_COL_TELECOM] = {"telecom", S_FOR_DEMO},
    [S_COL_DECEASED_DATE] = {"deceased_date", S_FOR_DEMO},
    [S_COL_IDENTIFIER] = {"identifier", S_FOR_DEMO},
    [S_COL_CODE] = {"code", S_FOR_CLINICAL},
    [S_COL_CODE_SYSTEM] = {"code_system", S_FOR_CLINICAL},
    [S_COL_DISPLAY] = {"display", S_FOR_CLINICAL},
    [S_COL_EFFECTIVE] = {"effective", S_FOR_CLINICAL},
    [S_COL_EFFECTIVE_END] = {"effective_end", S_FOR_CLINICAL},
    [S_COL_STATUS] = {"status", S_FOR_CLINICAL},
    [S_COL_ENCOUNTER] = {"encounter", S_FOR_CLINICAL},
    [S_COL_VALUE] = {"value", S_FOR_LAB},
    [S_COL_UNIT] = {"unit", S_FOR_LAB},
    [S_COL_INTERPRETATION] = {"interpretation", S_FOR_LAB},
    [S_COL_REFERENCE_RANGE] = {"reference_range", S_FOR_LAB},
};

static const struct {
    const char *name;
    Hourglass__RecordKind kind;
    int uses;
} s_kinds[] = {
    {"demographics", HOURGLASS__RECORD_KIND__KIND_DEMOGRAPHICS, S_FOR_ALL | S_FOR_DEMO},
    {"condition", HOURGLASS__RECORD_KIND__KIND_CONDITION, S_FOR_ALL | S_FOR_CLINICAL},
    {"lab-observation", HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION,
     S_FOR_ALL | S_FOR_CLINICAL | S_FOR_LAB},
    {"medication", HOURGLASS__RECORD_KIND__KIND_MEDICATION, S_FOR_ALL | S_FOR_CLINICAL},
    {"procedure", HOURGLASS__RECORD_KIND__KIND_PROCEDURE, S_FOR_ALL | S_FOR_CLINICAL},
};
#define S_N_KINDS (sizeof (s_kinds) / sizeof (s_kinds[0]))

typedef enum { S_ENC_UTF8, S_ENC_LATIN1 } s_encoding_t;

struct hg_csv_mapping {
    size_t kind_index; /* into s_kinds */
    char delimiter;
    s_encoding_t encoding;
    char decimal;               /* '.' or ',' */
    char *date_format;          /* NULL: iso; "hl7"; or a %-pattern */
    char *code_system;          /* URI, NULL when per row */
    char *unit;                 /* default unit, NULL: none */
    char *identifier_system;    /* NULL: none */
    char *columns[S_COL_COUNT]; /* header names, NULL when unmapped */
};

/* ------------------------------------------------------------------------
 * Mapping file */

static char *
s_strndup (const char *s, size_t n)
{
    char *c = malloc (n + 1);
    if (c) {
        memcpy (c, s, n);
        c[n] = '\0';
    }
    return c;
}

static void
s_trim (const char **p, size_t *n)
{
    while (*n > 0 && (**p == ' ' || **p == '\t')) {
        (*p)++;
        (*n)--;
    }
    while (*n > 0 && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t' || (*p)[*n - 1] == '\r')) {
        (*n)--;
    }
}

void
hg_csv_mapping_destroy (hg_csv_mapping_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    hg_csv_mapping_t *self = *self_p;
    free (self->date_format);
    free (self->code_system);
    free (self->unit);
    free (self->identifier_system);
    for (int i = 0; i < S_COL_COUNT; i++) {
        free (self->columns[i]);
    }
    free (self);
    *self_p = NULL;
}

/* Checks a %-pattern: only %Y %m %d %H %M %S %%, %Y present, and the
 * fields used a prefix of Y m d H M S. */
static int
s_check_date_format (const char *fmt, hg_err_t *err)
{
    static const char order[] = "YmdHMS";
    bool seen[6] = {false};
    for (const char *p = fmt; *p; p++) {
        if (*p != '%') {
            continue;
        }
        p++;
        if (*p == '%') {
            continue;
        }
        const char *at = *p ? strchr (order, *p) : NULL;
        if (!at) {
            return hg_err_set (err, HG_EINVAL,
                               "date_format '%s': unsupported directive '%%%c' (use %%Y %%m "
                               "%%d %%H %%M %%S, or 'iso' or 'hl7')",
                               fmt, *p ? *p : ' ');
        }
        if (seen[at - order]) {
            return hg_err_set (err, HG_EINVAL, "date_format '%s': %%%c appears twice", fmt, *p);
        }
        seen[at - order] = true;
        if (!*p) {
            break;
        }
    }
    for (int i = 1; i < 6; i++) {
        if (seen[i] && !seen[i - 1]) {
            return hg_err_set (err, HG_EINVAL,
                               "date_format '%s': %%%c needs %%%c (the fields must be a "
                               "prefix of %%Y %%m %%d %%H %%M %%S)",
                               fmt, order[i], order[i - 1]);
        }
    }
    if (!seen[0]) {
        return hg_err_set (err, HG_EINVAL, "date_format '%s' has no %%Y", fmt);
    }
    return 0;
}

/* A mapping's short name of a code system ("loinc", any case) as its URI;
 * anything else as given. */
static const char *
s_system_alias (const char *v)
{
    const char *uri = hg_codesys_uri (v, strlen (v), HG_CODESYS_ALIAS);
    return uri ? uri : v;
}

/* Sets one key; 0, or an error (err set) naming the line. */
static int
s_mapping_key (hg_csv_mapping_t *m, size_t line, const char *key, const char *val, bool *kind_set,
               bool *delim_set, bool *enc_set, bool *dec_set, hg_err_t *err)
{
    char **slot = NULL;
    if (strcmp (key, "kind") == 0) {
        if (*kind_set) {
            return hg_err_set (err, HG_EINVAL, "line %zu: kind is given twice", line);
        }
        for (size_t i = 0; i < S_N_KINDS; i++) {
            if (strcmp (val, s_kinds[i].name) == 0) {
                m->kind_index = i;
                *kind_set = true;
                return 0;
            }
        }
        return hg_err_set (err, HG_EINVAL,
                           "line %zu: kind '%.60s' is not one of demographics, condition, "
                           "lab-observation, medication, procedure",
                           line, val);
    }
    if (strcmp (key, "delimiter") == 0) {
        if (*delim_set) {
            return hg_err_set (err, HG_EINVAL, "line %zu: delimiter is given twice", line);
        }
        *delim_set = true;
        if (strcmp (val, ",") == 0 || strcmp (val, ";") == 0 || strcmp (val, "|") == 0) {
            m->delimiter = val[0];
        }
        else if (strcmp (val, "tab") == 0 || strcmp (val, "\\t") == 0
                 || strcmp (val, "\t") == 0) {
            m->delimiter = '\t';
        }
        else {
            return hg_err_set (err, HG_EINVAL,
                               "line %zu: delimiter '%.20s' is not one of , ; | tab", line, val);
        }
        return 0;
    }
    if (strcmp (key, "encoding") == 0) {
        if (*enc_set) {
            return hg_err_set (err, HG_EINVAL, "line %zu: encoding is given twice", line);
        }
        *enc_set = true;
        if (strcasecmp (val, "utf-8") == 0 || strcasecmp (val, "utf8") == 0) {
            m->encoding = S_ENC_UTF8;
        }
        else if (strcasecmp (val, "latin1") == 0 || strcasecmp (val, "latin-1") == 0
                 || strcasecmp (val, "iso-8859-1") == 0) {
            m->encoding = S_ENC_LATIN1;
        }
        else {
            return hg_err_set (err, HG_EINVAL,
                               "line %zu: encoding '%.40s' is not one of utf-8, latin1", line,
                               val);
        }
        return 0;
    }
    if (strcmp (key, "decimal") == 0) {
        if (*dec_set) {
            return hg_err_set (err, HG_EINVAL, "line %zu: decimal is given twice", line);
        }
        *dec_set = true;
        if (strcmp (val, ".") != 0 && strcmp (val, ",") != 0) {
            return hg_err_set (err, HG_EINVAL, "line %zu: decimal '%.20s' is not . or ,", line,
                               val);
        }
        m->decimal = val[0];
        return 0;
    }
    if (strcmp (key, "date_format") == 0) {
        slot = &m->date_format;
        if (!*slot && strcasecmp (val, "iso") != 0 && strcasecmp (val, "hl7") != 0) {
            hg_err_t ferr;
            hg_err_clear (&ferr);
            if (s_check_date_format (val, &ferr) < 0) {
                return hg_err_set (err, HG_EINVAL, "line %zu: %s", line, ferr.msg);
            }
        }
    }
    else if (strcmp (key, "code_system") == 0) {
        slot = &m->code_system;
        val = s_system_alias (val);
    }
    else if (strcmp (key, "unit") == 0) {
        slot = &m->unit;
    }
    else if (strcmp (key, "identifier_system") == 0) {
        slot = &m->identifier_system;
    }
    else if (strncmp (key, "column.", 7) == 0) {
        for (int i = 0; i < S_COL_COUNT; i++) {
            if (strcmp (key + 7, s_columns[i].name) == 0) {
                slot = &m->columns[i];
                break;
            }
        }
        if (!slot) {
            return hg_err_set (err, HG_EINVAL,
                               "line %zu: unknown column field '%.60s' (known: patient, id, "
                               "given, family, birth_date, sex, address, city, state, "
                               "postal_code, country, telecom, deceased_date, identifier, code, "
                               "code_system, display, effective, effective_end, status, "
                               "encounter, value, unit, interpretation, reference_range)",
                               line, key + 7);
        }
    }
    else {
        return hg_err_set (err, HG_EINVAL,
                           "line %zu: unknown key '%.60s' (known: kind, delimiter, encoding, "
                           "date_format, code_system, unit, decimal, identifier_system, "
                           "column.<field>)",
                           line, key);
    }
    if (*slot) {
        return hg_err_set (err, HG_EINVAL, "line %zu: %.60s is given twice", line, key);
    }
    if (!*val) {
        return hg_err_set (err, HG_EINVAL, "line %zu: %.60s has an empty value", line, key);
    }
    *slot = strdup (val);
    return *slot ? 0 : hg_err_set (err, HG_ENOMEM, "out of memory");
}

/* Whole-mapping checks once every line is read. */
static int
s_mapping_validate (hg_csv_mapping_t *m, bool kind_set, hg_err_t *err)
{
    if (!kind_set) {
        return hg_err_set (err, HG_EINVAL,
                           "kind is missing (one of demographics, condition, lab-observation, "
                           "medication, procedure)");
    }
    int uses = s_kinds[m->kind_index].uses;
    const char *kind = s_kinds[m->kind_index].name;
    for (int i = 0; i < S_COL_COUNT; i++) {
        if (m->columns[i] && !(s_columns[i].used_by & uses)) {
            return hg_err_set (err, HG_EINVAL, "column.%s is not used by kind %s",
                               s_columns[i].name, kind);
        }
    }
    if (!m->columns[S_COL_PATIENT]) {
        return hg_err_set (err, HG_EINVAL,
                           "column.patient is missing; every record needs the "
                           "column holding the patient id");
    }
    if (uses & S_FOR_CLINICAL) {
        if (!m->columns[S_COL_CODE]) {
            return hg_err_set (err, HG_EINVAL,
                               "column.code is missing; kind %s needs the "
                               "column holding the code",
                               kind);
        }
        if (!m->code_system && !m->columns[S_COL_CODE_SYSTEM]) {
            return hg_err_set (err, HG_EINVAL,
                               "code_system is missing; kind %s needs "
                               "code_system = <uri> or column.code_system",
                               kind);
        }
    }
    else if (m->code_system) {
        return hg_err_set (err, HG_EINVAL, "code_system is not used by kind %s", kind);
    }
    if (m->unit && !(uses & S_FOR_LAB)) {
        return hg_err_set (err, HG_EINVAL, "unit is not used by kind %s", kind);
    }
    if (m->identifier_system && !m->columns[S_COL_IDENTIFIER]) {
        return hg_err_set (err, HG_EINVAL,
                           "identifier_system is given but column.identifier "
                           "is not mapped");
    }
    return 0;
}

int
hg_csv_mapping_parse (const char *text, size_t len, hg_csv_mapping_t **map, hg_err_t *err)
{
    if (!map) {
        return hg_err_set (err, HG_EINVAL, "no mapping pointer given");
    }
    *map = NULL;
    hg_parse_payload (&text, &len);
    hg_csv_mapping_t *m = calloc (1, sizeof (*m));
    if (!m) {
        return hg_err_set (err, HG_ENOMEM, "out of memory");
    }
    m->delimiter = ',';
    m->decimal = '.';
    bool kind_set = false, delim_set = false, enc_set = false, dec_set = false;
    int rc = 0;
    size_t pos = 0, line = 0;
    while (pos < len && rc == 0) {
        const char *p = text + pos;
        const char *nl = memchr (p, '\n', len - pos);
        size_t n = nl ? (size_t) (nl - p) : len - pos;
        pos += n + 1;
        line++;
        if (n > 0 && p[n - 1] == '\r') {
            n--;
        }
        while (n > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            n--;
        }
        if (n == 0 || *p == '#') {
            continue;
        }
        if (memchr (p, '\0', n)) {
            rc = hg_err_set (err, HG_EINVAL, "line %zu: contains a NUL byte", line);
            break;
        }
        const char *eq = memchr (p, '=', n);
        if (!eq) {
            rc = hg_err_set (err, HG_EINVAL, "line %zu: expected 'key = value', got '%.*s'", line,
                             (int) (n > 60 ? 60 : n), p);
            break;
        }
        const char *k = p, *v = eq + 1;
        size_t kn = (size_t) (eq - p), vn = n - kn - 1;
        s_trim (&k, &kn);
        while (vn > 0 && *v == ' ') {
            v++;
            vn--;
        }
        /* a tab delimiter may be written literally: keep it */
        if (kn == 9 && memcmp (k, "delimiter", 9) == 0 && vn > 0 && *v == '\t') {
            v = "\t";
            vn = 1;
        }
        else {
            s_trim (&v, &vn);
        }
        char *key = s_strndup (k, kn), *val = s_strndup (v, vn);
        if (!key || !val) {
            rc = hg_err_set (err, HG_ENOMEM, "out of memory");
        }
        else if (kn == 0) {
            rc = hg_err_set (err, HG_EINVAL, "line %zu: the key before '=' is empty", line);
        }
        else {
            rc = s_mapping_key (m, line, key, val, &kind_set, &delim_set, &enc_set, &dec_set,
                                err);
        }
        free (key);
        free (val);
    }
    if (rc == 0) {
        rc = s_mapping_validate (m, kind_set, err);
    }
    if (rc == 0 && m->date_format && (strcasecmp (m->date_format, "iso") == 0)) {
        free (m->date_format);
        m->date_format = NULL;
    }
    if (rc < 0) {
        hg_csv_mapping_destroy (&m);
        return rc;
    }
    *map = m;
    return 0;
}

/* ------------------------------------------------------------------------
 * Tokenizer */

typedef struct {
    const char *p; /* inner text (between the quotes when quoted) */
    size_t n;
    bool quoted; /* doubled quotes inside are still doubled */
} s_field_t;

typedef struct {
    hg_batch_t *out;
    hg_arena_t *a;
    const hg_csv_mapping_t *map;
    size_t max_field_bytes; /* 0: none */
    bool oom;
    bool utf8; /* payload encoding after the BOM check */
    const char *data;
    size_t len;
    size_t pos;  /* next byte to tokenize */
    size_t line; /* 1-based line of pos */
    /* the row being mapped */
    size_t row; /* 1-based, header = 1 */
    size_t row_line;
    const char *row_start;
    size_t row_len;
    s_field_t *fields;
    size_t n_fields, cap_fields;
    char *scratch; /* one converted value */
    size_t cap_scratch;
    int col_index[S_COL_COUNT]; /* header index per mapped column, -1 */
    size_t n_header;            /* fields of the header row */
    char where[64];
} s_ctx_t;

typedef enum { S_ROW_OK, S_ROW_EOF, S_ROW_UNTERMINATED, S_ROW_BAD_QUOTE, S_ROW_OOM } s_row_rc_t;

static int
s_push_field (s_ctx_t *ctx, const char *p, size_t n, bool quoted)
{
    if (ctx->n_fields == ctx->cap_fields) {
        size_t cap = ctx->cap_fields ? ctx->cap_fields * 2 : 32;
        s_field_t *f = realloc (ctx->fields, cap * sizeof (*f));
        if (!f) {
            return -1;
        }
        ctx->fields = f;
        ctx->cap_fields = cap;
    }
    ctx->fields[ctx->n_fields].p = p;
    ctx->fields[ctx->n_fields].n = n;
    ctx->fields[ctx->n_fields].quoted = quoted;
    ctx->n_fields++;
    return 0;
}

static size_t
s_count_nl (const char *p, size_t n)
{
    size_t k = 0;
    for (const char *q = p; (q = memchr (q, '\n', n - (size_t) (q - p))); q++) {
        k++;
    }
    return k;
}

/* Reads the next row into ctx->fields. On S_ROW_BAD_QUOTE *bad_col is the
 * 0-based field with text after its closing quote (the row is consumed). */
static s_row_rc_t
s_next_row (s_ctx_t *ctx, size_t *bad_col)
{
    const char *d = ctx->data;
    size_t len = ctx->len, i = ctx->pos;
    char delim = ctx->map->delimiter;
    ctx->n_fields = 0;
    if (i >= len) {
        return S_ROW_EOF;
    }
    ctx->row_start = d + i;
    ctx->row_line = ctx->line;
    bool bad = false;
    for (;;) {
        if (i < len && d[i] == '"') {
            size_t start = i + 1, j = start;
            for (;;) {
                const char *q = j < len ? memchr (d + j, '"', len - j) : NULL;
                if (!q) {
                    ctx->row_len = len - (size_t) (ctx->row_start - d);
                    ctx->pos = len;
                    return S_ROW_UNTERMINATED;
                }
                j = (size_t) (q - d);
                if (j + 1 < len && d[j + 1] == '"') {
                    j += 2;
                    continue;
                }
                break;
            }
            if (s_push_field (ctx, d + start, j - start, true) < 0) {
                return S_ROW_OOM;
            }
            ctx->line += s_count_nl (d + start, j - start);
            i = j + 1;
            if (i < len && d[i] != delim && d[i] != '\n' && d[i] != '\r') {
                /* text after the closing quote: skip to the field's end */
                if (!bad) {
                    *bad_col = ctx->n_fields - 1;
                }
                bad = true;
                while (i < len && d[i] != delim && d[i] != '\n') {
                    i++;
                }
            }
        }
        else {
            size_t start = i;
            while (i < len && d[i] != delim && d[i] != '\n') {
                i++;
            }
            size_t n = i - start;
            if (i < len && d[i] == '\n' && n > 0 && d[i - 1] == '\r') {
                n--;
            }
            if (s_push_field (ctx, d + start, n, false) < 0) {
                return S_ROW_OOM;
            }
        }
        if (i < len && d[i] == '\r' && (i + 1 >= len || d[i + 1] == '\n')) {
            i++;
        }
        if (i >= len || d[i] == '\n') {
            if (i < len) {
                ctx->line++;
                i++;
            }
            break;
        }
        if (d[i] == '\r') {
            /* a lone CR after a closing quote: treat as the end of the row */
            i++;
            break;
        }
        i++; /* the delimiter */
        if (i >= len) {
            /* a trailing delimiter at the very end: one more empty field */
            if (s_push_field (ctx, d + i, 0, false) < 0) {
                return S_ROW_OOM;
            }
            break;
        }
    }
    ctx->row_len = (size_t) (d + i - ctx->row_start);
    ctx->pos = i;
    return bad ? S_ROW_BAD_QUOTE : S_ROW_OK;
}

/* ------------------------------------------------------------------------
 * Values */

static void s_reject (s_ctx_t *ctx, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_reject (s_ctx_t *ctx, const char *fmt, ...)
{
    snprintf (ctx->where, sizeof (ctx->where), "row %zu", ctx->row);
    va_list ap;
    va_start (ap, fmt);
    hg_batch_vreject (ctx->out, ctx->row_start, ctx->row_len, ctx->where, ctx->where, " ", fmt,
                      ap);
    va_end (ap);
}

/* The value of mapped column col in the current row: unquoted, trimmed,
 * converted to UTF-8, NUL-terminated in ctx->scratch (valid until the next
 * call). NULL with *rejected set when the value is bad, NULL without it
 * when out of memory. An unmapped column gives "". */
static const char *
s_value (s_ctx_t *ctx, int col, bool *rejected)
{
    *rejected = false;
    int idx = ctx->col_index[col];
    if (idx < 0) {
        return "";
    }
    const s_field_t *f = &ctx->fields[idx];
    const char *name = ctx->map->columns[col];
    if (ctx->max_field_bytes && f->n > ctx->max_field_bytes) {
        s_reject (ctx,
                  "column %s: value is %zu bytes, over the limit of %zu bytes "
                  "(max_field_bytes)",
                  name, f->n, ctx->max_field_bytes);
        *rejected = true;
        return NULL;
    }
    size_t need = (ctx->utf8 ? f->n : f->n * 2) + 1;
    if (need > ctx->cap_scratch) {
        char *s = realloc (ctx->scratch, need);
        if (!s) {
            ctx->oom = true;
            return NULL;
        }
        ctx->scratch = s;
        ctx->cap_scratch = need;
    }
    const unsigned char *p = (const unsigned char *) f->p;
    char *o = ctx->scratch;
    size_t k = 0;
    for (size_t i = 0; i < f->n; i++) {
        unsigned char c = p[i];
        if (c == '\0') {
            s_reject (ctx, "column %s: value contains a NUL byte at offset %zu", name, i);
            *rejected = true;
            return NULL;
        }
        if (f->quoted && c == '"') {
            i++; /* a doubled quote inside a quoted field */
        }
        if (c < 0x80) {
            o[k++] = (char) c;
        }
        else if (!ctx->utf8) {
            o[k++] = (char) (0xC0 | (c >> 6));
            o[k++] = (char) (0x80 | (c & 0x3F));
        }
        else {
            size_t sl = hg_utf8_len (p + i, f->n - i);
            if (!sl) {
                s_reject (ctx,
                          "column %s: invalid UTF-8 byte 0x%02X at offset %zu (if the file "
                          "is Latin-1, set 'encoding = latin1' in the mapping)",
                          name, c, i);
                *rejected = true;
                return NULL;
            }
            memcpy (o + k, p + i, sl);
            k += sl;
            i += sl - 1;
        }
    }
    o[k] = '\0';
    /* trim spaces (and tabs unless they delimit) at both ends */
    char *s = o;
    while (*s == ' ' || (*s == '\t' && ctx->map->delimiter != '\t')) {
        s++;
        k--;
    }
    while (k > 0 && (s[k - 1] == ' ' || (s[k - 1] == '\t' && ctx->map->delimiter != '\t'))) {
        s[--k] = '\0';
    }
    return s;
}

static char *
s_dup (s_ctx_t *ctx, const char *s)
{
    return hg_parse_strdup (ctx->a, s, &ctx->oom);
}

/* Copy of a mapped column into the arena ("" when unmapped or empty).
 * -1 when rejected or out of memory. */
static int
s_take (s_ctx_t *ctx, int col, char **out)
{
    bool rejected;
    const char *v = s_value (ctx, col, &rejected);
    if (!v) {
        return -1;
    }
    *out = s_dup (ctx, v);
    return ctx->oom ? -1 : 0;
}

/* Reads up to max digits (at least 1) of s at *pos. -1 when none. */
static int
s_fmt_digits (const char *s, size_t *pos, int min, int max)
{
    int v = 0, k = 0;
    while (k < max && isdigit ((unsigned char) s[*pos])) {
        v = v * 10 + (s[*pos] - '0');
        (*pos)++;
        k++;
    }
    return k >= min ? v : -1;
}

/* Parses s with a %-pattern into an HL7 DTM and validates it via date.h. */
static int
s_parse_pattern (const char *fmt, const char *s, hg_date_t *d, hg_err_t *err)
{
    int parts[6] = {0};
    int n_parts = 0;
    size_t pos = 0;
    static const char order[] = "YmdHMS";
    for (const char *f = fmt; *f; f++) {
        if (*f == '%' && f[1] && f[1] != '%') {
            f++;
            const char *at = strchr (order, *f);
            if (!at) {
                goto bad;
            }
            int idx = (int) (at - order);
            int v = idx == 0 ? s_fmt_digits (s, &pos, 4, 4) : s_fmt_digits (s, &pos, 1, 2);
            if (v < 0) {
                goto bad;
            }
            parts[idx] = v;
            n_parts = idx + 1 > n_parts ? idx + 1 : n_parts;
            continue;
        }
        if (*f == '%') {
            f++;
        }
        if (s[pos] != *f) {
            goto bad;
        }
        pos++;
    }
    if (s[pos] != '\0') {
        goto bad;
    }
    char dtm[20];
    int o = snprintf (dtm, sizeof (dtm), "%04d", parts[0]);
    for (int i = 1; i < n_parts; i++) {
        o += snprintf (dtm + o, sizeof (dtm) - (size_t) o, "%02d", parts[i]);
    }
    return hg_date_parse_hl7 (dtm, (size_t) o, d, err);
bad:
    return hg_err_set (err, HG_EINVAL, "does not match date_format '%s'", fmt);
}

/* Optional date column: "" when empty; -1 rejected. */
static int
s_date (s_ctx_t *ctx, int col, char **out)
{
    bool rejected;
    const char *v = s_value (ctx, col, &rejected);
    if (!v) {
        return -1;
    }
    if (!*v) {
        return 0;
    }
    hg_date_t d;
    hg_err_t err;
    hg_err_clear (&err);
    const char *fmt = ctx->map->date_format;
    int rc;
    if (!fmt) {
        rc = hg_date_parse_iso (v, strlen (v), &d, &err);
    }
    else if (strcasecmp (fmt, "hl7") == 0) {
        rc = hg_date_parse_hl7 (v, strlen (v), &d, &err);
    }
    else {
        rc = s_parse_pattern (fmt, v, &d, &err);
    }
    if (rc < 0) {
        s_reject (ctx, "column %s: '%.40s' is not a valid date: %s", ctx->map->columns[col], v,
                  err.msg);
        return -1;
    }
    char buf[HG_DATE_ISO_MAX];
    hg_date_format_iso (&d, buf, sizeof (buf));
    *out = s_dup (ctx, buf);
    return ctx->oom ? -1 : 0;
}

/* Required non-empty column. */
static int
s_required (s_ctx_t *ctx, int col, const char *what, char **out)
{
    if (s_take (ctx, col, out) < 0) {
        return -1;
    }
    if (!**out) {
        s_reject (ctx, "column %s: %s is empty", ctx->map->columns[col], what);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Row mappers: 0 mapped, -1 rejected or out of memory */

static int
s_map_demographics (s_ctx_t *ctx, Hourglass__Record *rec)
{
    Hourglass__Demographics *d = hg_demographics_new (ctx->a);
    if (!d) {
        ctx->oom = true;
        return -1;
    }
    rec->demographics = d;
    char *given = NULL, *sex = NULL, *addr = NULL, *telecom = NULL, *ident = NULL;
    if (s_take (ctx, S_COL_FAMILY, &d->family) < 0 || s_take (ctx, S_COL_GIVEN, &given) < 0
        || s_date (ctx, S_COL_BIRTH_DATE, &d->birth_date) < 0 || s_take (ctx, S_COL_SEX, &sex) < 0
        || s_take (ctx, S_COL_ADDRESS, &addr) < 0 || s_take (ctx, S_COL_CITY, &d->city) < 0
        || s_take (ctx, S_COL_STATE, &d->state) < 0
        || s_take (ctx, S_COL_POSTAL_CODE, &d->postal_code) < 0
        || s_take (ctx, S_COL_COUNTRY, &d->country) < 0
        || s_take (ctx, S_COL_TELECOM, &telecom) < 0
        || s_date (ctx, S_COL_DECEASED_DATE, &d->deceased_date) < 0
        || s_take (ctx, S_COL_IDENTIFIER, &ident) < 0) {
        return -1;
    }
    for (char *tok = given; *tok;) {
        size_t n = strcspn (tok, " ");
        if (n > 0) {
            char *g = hg_arena_strndup (ctx->a, tok, n);
            if (!g || hg_strv_push (ctx->a, &d->given, &d->n_given, g) < 0) {
                ctx->oom = true;
                return -1;
            }
        }
        tok += n;
        tok += strspn (tok, " ");
    }
    if (*sex) {
        static const struct {
            const char *in;
            const char *out;
        } sexes[] = {
            {"m", "male"},  {"male", "male"},   {"f", "female"},  {"female", "female"},
            {"o", "other"}, {"other", "other"}, {"u", "unknown"}, {"unknown", "unknown"},
        };
        const char *mapped = NULL;
        for (size_t i = 0; i < sizeof (sexes) / sizeof (sexes[0]); i++) {
            if (strcasecmp (sex, sexes[i].in) == 0) {
                mapped = sexes[i].out;
            }
        }
        if (!mapped) {
            s_reject (ctx,
                      "column %s: sex '%.40s' is not one of M, F, O, U (or male, female, "
                      "other, unknown)",
                      ctx->map->columns[S_COL_SEX], sex);
            return -1;
        }
        d->sex = (char *) mapped;
    }
    if ((*addr && hg_strv_push (ctx->a, &d->address_lines, &d->n_address_lines, addr) < 0)
        || (*telecom && hg_strv_push (ctx->a, &d->telecom, &d->n_telecom, telecom) < 0)
        || (*ident
            && hg_record_add_identifier (ctx->a, rec, ctx->map->identifier_system, ident, NULL)
                   < 0)) {
        ctx->oom = true;
        return -1;
    }
    return 0;
}

/* "< 5.4", "5,4" (decimal = ,), "12": a quantity; 1 when numeric. */
static int
s_number (s_ctx_t *ctx, const char *v, double *out, const char **cmp)
{
    *cmp = hg_parse_comparator (&v, false);
    char buf[64];
    size_t n = strlen (v);
    if (n == 0 || n >= sizeof (buf)) {
        return 0;
    }
    for (size_t i = 0; i <= n; i++) {
        char c = v[i];
        if (c == ctx->map->decimal) {
            c = '.';
        }
        else if (c == '.' && ctx->map->decimal == ',') {
            return 0;
        }
        else if (c && !isdigit ((unsigned char) c) && c != '-' && c != '+' && c != 'e'
                 && c != 'E') {
            return 0;
        }
        buf[i] = c;
    }
    char *end = NULL;
    double x = strtod (buf, &end);
    if (end == buf || *end || !isfinite (x)) {
        return 0;
    }
    *out = x;
    return 1;
}

static int
s_map_clinical (s_ctx_t *ctx, Hourglass__Record *rec)
{
    const hg_csv_mapping_t *m = ctx->map;
    char *code = NULL, *system = NULL, *display = NULL;
    if (s_required (ctx, S_COL_CODE, "code", &code) < 0
        || s_take (ctx, S_COL_CODE_SYSTEM, &system) < 0
        || s_take (ctx, S_COL_DISPLAY, &display) < 0
        || s_date (ctx, S_COL_EFFECTIVE, &rec->effective) < 0
        || s_date (ctx, S_COL_EFFECTIVE_END, &rec->effective_end) < 0
        || s_take (ctx, S_COL_STATUS, &rec->status) < 0
        || s_take (ctx, S_COL_ENCOUNTER, &rec->encounter_ref) < 0) {
        return -1;
    }
    if (!*system) {
        if (!m->code_system) {
            s_reject (ctx, "column %s: code system is empty", m->columns[S_COL_CODE_SYSTEM]);
            return -1;
        }
        system = m->code_system;
    }
    else {
        system = (char *) s_system_alias (system);
    }
    if (hg_record_add_code (ctx->a, rec, system, code, display) < 0) {
        ctx->oom = true;
        return -1;
    }
    if (rec->kind != HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION) {
        return 0;
    }
    char *unit = NULL;
    if (s_take (ctx, S_COL_UNIT, &unit) < 0
        || s_take (ctx, S_COL_INTERPRETATION, &rec->interpretation) < 0
        || s_take (ctx, S_COL_REFERENCE_RANGE, &rec->reference_range) < 0) {
        return -1;
    }
    if (!*unit && m->unit) {
        unit = m->unit;
    }
    bool rejected;
    const char *v = s_value (ctx, S_COL_VALUE, &rejected);
    if (!v) {
        return -1;
    }
    double x;
    const char *cmp;
    if (!*v) {
        return 0;
    }
    if (s_number (ctx, v, &x, &cmp)) {
        rec->quantity = hg_quantity_new (ctx->a, x, unit);
        if (!rec->quantity) {
            ctx->oom = true;
            return -1;
        }
        rec->quantity->comparator = (char *) (*cmp ? cmp : protobuf_c_empty_string);
        rec->value_case = HOURGLASS__RECORD__VALUE_QUANTITY;
    }
    else {
        rec->string_value = s_dup (ctx, v);
        rec->value_case = HOURGLASS__RECORD__VALUE_STRING_VALUE;
    }
    return ctx->oom ? -1 : 0;
}

/* Maps the current row; 0 to go on, -1 to stop (oom or max_records). */
static int
s_map_row (s_ctx_t *ctx)
{
    Hourglass__RecordKind kind = s_kinds[ctx->map->kind_index].kind;
    char *patient = NULL, *id = NULL;
    if (s_required (ctx, S_COL_PATIENT, "patient id", &patient) < 0
        || s_take (ctx, S_COL_ID, &id) < 0) {
        return ctx->oom ? -1 : 0;
    }
    bool limit_hit;
    Hourglass__Record *rec = hg_batch_try_add (ctx->out, kind, &limit_hit, &ctx->oom);
    if (!rec) {
        if (limit_hit) {
            snprintf (ctx->where, sizeof (ctx->where), "row %zu", ctx->row);
            hg_batch_reject_rest (ctx->out, ctx->row_start, ctx->row_len, ctx->where);
        }
        return -1;
    }
    rec->patient_ref = patient;
    rec->provenance = hg_provenance_new (ctx->a);
    if (!rec->provenance) {
        ctx->oom = true;
        hg_batch_drop_last (ctx->out);
        return -1;
    }
    rec->provenance->source_format = (char *) "csv";
    if (*id) {
        rec->provenance->source_record_id = id;
    }
    else {
        rec->provenance->source_record_id = hg_arena_printf (ctx->a, "row %zu", ctx->row);
        if (!rec->provenance->source_record_id) {
            ctx->oom = true;
        }
    }
    int rc = ctx->oom                                            ? -1
             : kind == HOURGLASS__RECORD_KIND__KIND_DEMOGRAPHICS ? s_map_demographics (ctx, rec)
                                                                 : s_map_clinical (ctx, rec);
    if (rc < 0 || ctx->oom) {
        hg_batch_drop_last (ctx->out);
        return ctx->oom ? -1 : 0;
    }
    return 0;
}

/* Finds each mapped column in the header. 0, or -1 (payload rejected). */
static int
s_header (s_ctx_t *ctx)
{
    char missing[400] = "";
    size_t used = 0;
    for (int c = 0; c < S_COL_COUNT; c++) {
        ctx->col_index[c] = -1;
        const char *name = ctx->map->columns[c];
        if (!name) {
            continue;
        }
        size_t nlen = strlen (name);
        for (int pass = 0; pass < 2 && ctx->col_index[c] < 0; pass++) {
            for (size_t i = 0; i < ctx->n_fields; i++) {
                const char *p = ctx->fields[i].p;
                size_t n = ctx->fields[i].n;
                s_trim (&p, &n);
                if (n == nlen
                    && (pass == 0 ? memcmp (p, name, n) == 0 : strncasecmp (p, name, n) == 0)) {
                    ctx->col_index[c] = (int) i;
                    break;
                }
            }
        }
        if (ctx->col_index[c] < 0 && used < sizeof (missing)) {
            used += (size_t) snprintf (missing + used, sizeof (missing) - used, "%s %s '%s'",
                                       used ? "," : "", s_columns[c].name, name);
        }
    }
    if (!missing[0]) {
        return 0;
    }
    /* the header up to its first line end, at most 199 bytes */
    hg_span_t line = {ctx->row_start, 0};
    while (line.n < ctx->row_len && line.n < 199 && line.p[line.n] != '\n'
           && line.p[line.n] != '\r') {
        line.n++;
    }
    char header[199 + 4];
    hg_span_show (line, 199, header);
    hg_batch_reject (ctx->out, ctx->row_start, ctx->row_len, "row 1 (header)",
                     "the mapping names columns that are not in the header:%s (header: %s; "
                     "delimiter '%s')",
                     missing, header,
                     ctx->map->delimiter == '\t' ? "tab" : (char[]) {ctx->map->delimiter, 0});
    return -1;
}

static bool
s_row_blank (const s_ctx_t *ctx)
{
    return ctx->n_fields == 1 && !ctx->fields[0].quoted && ctx->fields[0].n == 0;
}

int
hg_csv_parse (const char *data, size_t len, const hg_csv_mapping_t *map,
              const hg_parse_limits_t *limits, hg_batch_t *out)
{
    if (!map) {
        hg_batch_reject (out, NULL, 0, "payload", "no CSV mapping configured for this partner");
        return HG_EINVAL;
    }
    s_ctx_t ctx;
    memset (&ctx, 0, sizeof (ctx));
    ctx.out = out;
    ctx.a = hg_batch_arena (out);
    ctx.map = map;
    ctx.max_field_bytes = limits ? limits->max_field_bytes : 0;
    hg_batch_mark_t first_record = hg_batch_begin (out, limits);
    ctx.utf8 = map->encoding == S_ENC_UTF8;
    if (hg_parse_payload (&data, &len)) {
        ctx.utf8 = true;
    }
    ctx.data = data;
    ctx.len = len;
    ctx.line = 1;
    int rc = 0;
    bool have_header = false;
    size_t rejects_at_start = hg_batch_reject_count (out);
    for (;;) {
        size_t bad_col = 0;
        s_row_rc_t r = s_next_row (&ctx, &bad_col);
        if (r == S_ROW_EOF) {
            break;
        }
        ctx.row++;
        snprintf (ctx.where, sizeof (ctx.where), "row %zu", ctx.row);
        if (r == S_ROW_OOM) {
            ctx.oom = true;
            break;
        }
        if (r == S_ROW_UNTERMINATED) {
            s_reject (&ctx,
                      "column %zu: quoted field starting on line %zu has no closing quote; "
                      "the rest of the payload (%zu bytes) is not parsed",
                      ctx.n_fields + 1, ctx.row_line, ctx.row_len);
            break;
        }
        if (!have_header) {
            if (s_row_blank (&ctx)) {
                continue;
            }
            if (r == S_ROW_BAD_QUOTE || s_header (&ctx) < 0) {
                if (r == S_ROW_BAD_QUOTE) {
                    hg_batch_reject (out, ctx.row_start, ctx.row_len, "row 1 (header)",
                                     "row 1 (header) column %zu: unexpected text after a closing "
                                     "quote",
                                     bad_col + 1);
                }
                break;
            }
            have_header = true;
            ctx.n_header = ctx.n_fields;
            continue;
        }
        if (s_row_blank (&ctx)) {
            continue;
        }
        if (r == S_ROW_BAD_QUOTE) {
            s_reject (&ctx,
                      "column %zu: unexpected text after a closing quote (a quote inside a "
                      "quoted field must be doubled)",
                      bad_col + 1);
            continue;
        }
        if (ctx.n_fields != ctx.n_header) {
            s_reject (&ctx,
                      "has %zu fields but the header has %zu (check the delimiter and "
                      "the quoting of that row)",
                      ctx.n_fields, ctx.n_header);
            continue;
        }
        if (s_map_row (&ctx) < 0) {
            break;
        }
    }
    if (!have_header && !ctx.oom && hg_batch_reject_count (out) == rejects_at_start) {
        hg_batch_reject (out, NULL, 0, "payload",
                         "empty payload: expected a header row and "
                         "data rows");
    }
    free (ctx.fields);
    free (ctx.scratch);
    if (ctx.oom) {
        hg_batch_reject_oom (out, ctx.row ? ctx.where : NULL);
        rc = HG_ENOMEM;
    }
    return rc < 0 ? rc : (int) hg_batch_since (out, first_record);
}
