/*
 * vcf.c -- VCF 4.x text to genomic-variant records.
 *
 * Works on spans of the caller's buffer (parsekit.h): the payload is split into lines,
 * a data line into its tab-separated columns, a sample column into its
 * ':'-separated values. Only what goes into a record is copied, into the
 * batch arena. A bad line (or a bad sample of a line) is rejected alone.
 */
#include "vcf.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <htslib/hfile.h>
#include <htslib/hts.h>
#include <htslib/hts_log.h>
#include <htslib/kstring.h>
#include <htslib/vcf.h>

#include "date.h"
#include "parsekit.h"

/* Alleles of one genotype mapped (ploidy); more is hostile input. */
#define S_MAX_PLOIDY 64
/* ALT alleles of a line whose gene/HGVS are looked up in INFO (each look-up
 * scans INFO once per allele, cached for the line's samples). */
#define S_MAX_ANNOTATED 64

typedef struct {
    int allele;  /* field holding the allele, -1: unknown layout */
    int gene;    /* gene symbol field, -1: none */
    int gene_id; /* gene id field (Ensembl), -1: none */
    int hgvs_c;  /* HGVS.c / HGVSc field, -1: none */
    int hgvs_p;  /* HGVS.p / HGVSp field, -1: none */
} s_layout_t;

/* Gene codes kept per ALT allele (distinct; the rest are not kept). */
#define S_MAX_GENES 16

/* The INFO and FORMAT keys this parser reads; each needs its header line. */
enum { S_K_ANN, S_K_CSQ, S_K_EFF, S_K_GENE, S_K_GENEINFO, S_K_HGVS, S_K_N };
static const char *const s_info_keys[S_K_N] = {"ANN", "CSQ", "EFF", "GENE", "GENEINFO", "HGVS"};

typedef struct {
    hg_span_t name;
    const char *patient; /* arena copy */
} s_sample_t;

typedef struct {
    hg_span_t genes[S_MAX_GENES]; /* distinct gene symbols or ids */
    size_t n_genes;
    hg_span_t hgvs;
} s_annot_t;

typedef struct {
    hg_batch_t *out;
    hg_arena_t *a;
    const hg_vcf_options_t *opts;
    size_t max_field_bytes; /* 0: none */
    bool oom;
    bool limit_hit;       /* the batch's record limit refused a record */
    char *effective;      /* from ##fileDate, "" when absent */
    s_layout_t ann;       /* SnpEff ANN */
    s_layout_t csq;       /* VEP CSQ */
    s_layout_t eff;       /* SnpEff EFF (older), inside "Effect(...)" */
    bool declared[S_K_N]; /* ##INFO lines of the keys read */
    bool fmt_gt;          /* a ##FORMAT=<ID=GT,...> line (GT needs none: reserved) */
    s_sample_t *samples;
    size_t n_samples;
    bool has_format; /* the header has a FORMAT column */
    bool seen_line;  /* a non-empty line was read (the first must be ##fileformat) */
    hg_span_t *cols; /* columns of the current line */
    size_t cap_cols;
    /* the line being mapped */
    s_annot_t *annots;               /* gene/HGVS per ALT allele (malloc'd), */
    bool annotated[S_MAX_ANNOTATED]; /* once looked up */
    size_t line_no;
    hg_span_t line;
    char where[64];
} s_ctx_t;

/* ------------------------------------------------------------------------
 * Spans */

/* Value of key in an INFO column ("K=V;K2;..."); false when absent. */
static bool
s_info (hg_span_t info, const char *key, hg_span_t *val)
{
    size_t kn = strlen (key), pos = 0;
    hg_span_t item;
    while (hg_span_next (info, ';', &pos, &item)) {
        if (item.n > kn && memcmp (item.p, key, kn) == 0 && item.p[kn] == '=') {
            val->p = item.p + kn + 1;
            val->n = item.n - kn - 1;
            return val->n > 0 && !hg_span_eq (*val, ".");
        }
    }
    return false;
}

static void s_reject (s_ctx_t *ctx, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_reject (s_ctx_t *ctx, const char *fmt, ...)
{
    snprintf (ctx->where, sizeof (ctx->where), "line %zu", ctx->line_no);
    va_list ap;
    va_start (ap, fmt);
    hg_batch_vreject (ctx->out, ctx->line.p, ctx->line.n, ctx->where, ctx->where, ": ", fmt, ap);
    va_end (ap);
}

/* Printable copy of at most 40 bytes of a span for a reason. */
static const char *
s_show (hg_span_t s, char buf[48])
{
    return hg_span_show (s, 40, buf);
}

static char *
s_copy (s_ctx_t *ctx, hg_span_t s)
{
    if (s.n == 0) {
        return (char *) protobuf_c_empty_string;
    }
    char *c = hg_arena_strndup (ctx->a, s.p, s.n);
    if (!c) {
        ctx->oom = true;
        return (char *) protobuf_c_empty_string;
    }
    /* NULs would cut the string short; hostile input only */
    for (size_t i = 0; i < s.n; i++) {
        if (!c[i]) {
            c[i] = '?';
        }
    }
    return c;
}

/* ------------------------------------------------------------------------
 * Meta lines */

static void
s_trim (hg_span_t *s)
{
    while (s->n && (s->p[0] == ' ' || s->p[0] == '\'')) {
        s->p++;
        s->n--;
    }
    while (s->n && (s->p[s->n - 1] == ' ' || s->p[s->n - 1] == '\'')) {
        s->n--;
    }
}

/* Reads "A | B | C" (after marker in the Description) into a layout. */
static void
s_layout (hg_span_t line, const char *marker, bool paren, const char *gene, const char *gene_id,
          const char *hgvs_c, const char *hgvs_p, s_layout_t *lay)
{
    const char *m = NULL;
    size_t mn = strlen (marker);
    for (size_t i = 0; i + mn <= line.n; i++) {
        if (memcmp (line.p + i, marker, mn) == 0) {
            m = line.p + i + mn;
            break;
        }
    }
    if (!m) {
        return;
    }
    hg_span_t list = {m, (size_t) (line.p + line.n - m)};
    const char *q = memchr (list.p, '"', list.n);
    if (q) {
        list.n = (size_t) (q - list.p);
    }
    const char *open = paren ? memchr (list.p, '(', list.n) : NULL; /* EFF: "Effect ( A | .. )" */
    if (open) {
        list.n -= (size_t) (open + 1 - list.p);
        list.p = open + 1;
    }
    lay->allele = lay->gene = lay->gene_id = lay->hgvs_c = lay->hgvs_p = -1;
    hg_span_t f;
    size_t pos = 0;
    for (size_t i = 0; i < 512 && hg_span_next (list, '|', &pos, &f); i++) {
        s_trim (&f);
        while (f.n && (f.p[f.n - 1] == ')' || f.p[f.n - 1] == ']' || f.p[f.n - 1] == ' ')) {
            f.n--;
        }
        if (hg_span_eq (f, "Allele") || hg_span_eq (f, "Genotype")
            || hg_span_eq (f, "Genotype_Number")) {
            lay->allele = (int) i;
        }
        else if (hg_span_eq (f, gene)) {
            lay->gene = (int) i;
        }
        else if (gene_id && hg_span_eq (f, gene_id)) {
            lay->gene_id = (int) i;
        }
        else if (hg_span_eq (f, hgvs_c)) {
            lay->hgvs_c = (int) i;
        }
        else if (hg_span_eq (f, hgvs_p)) {
            lay->hgvs_p = (int) i;
        }
    }
}

/* True when s is a key of the header's structured lines and of INFO and
 * FORMAT: [A-Za-z0-9_.]+ (VCF 4.1 allows a leading digit: 1000G). */
static bool
s_key_ok (hg_span_t s)
{
    for (size_t i = 0; i < s.n; i++) {
        unsigned char c = (unsigned char) s.p[i];
        if (!isalnum (c) && c != '_' && c != '.') {
            return false;
        }
    }
    return s.n > 0;
}

/* s without the spaces at its ends. */
static void
s_blank_trim (hg_span_t *s)
{
    while (s->n && s->p[0] == ' ') {
        s->p++;
        s->n--;
    }
    while (s->n && s->p[s->n - 1] == ' ') {
        s->n--;
    }
}

/* The fields of a structured meta line "<K=V,K="quoted, \"V\"",...>": at
 * most 16 pairs into keys[] / vals[] (quotes removed, escapes left);
 * *n_pairs set. NULL, or what is wrong with it. */
static const char *
s_struct_pairs (hg_span_t v, hg_span_t *keys, hg_span_t *vals, size_t max, size_t *n_pairs)
{
    if (v.n < 2 || v.p[0] != '<' || v.p[v.n - 1] != '>') {
        return "does not end with '>'";
    }
    size_t i = 1, end = v.n - 1, n = 0;
    while (i < end) {
        size_t k0 = i;
        while (i < end && v.p[i] != '=' && v.p[i] != ',') {
            i++;
        }
        if (i == end || v.p[i] != '=' || i == k0) {
            return "has a field that is not key=value";
        }
        hg_span_t key = {v.p + k0, i - k0};
        s_blank_trim (&key);
        i++;
        while (i < end && v.p[i] == ' ') {
            i++;
        }
        hg_span_t val;
        if (i < end && v.p[i] == '"') {
            size_t v0 = ++i;
            while (i < end && v.p[i] != '"') {
                i += v.p[i] == '\\' && i + 1 < end ? 2 : 1;
            }
            if (i >= end) {
                return "has a quoted value without its closing quote";
            }
            val = (hg_span_t) {v.p + v0, i - v0};
            i++;
            while (i < end && v.p[i] == ' ') {
                i++;
            }
            if (i < end && v.p[i] != ',') {
                return "has a quote inside a quoted value (write it as \\\")";
            }
        }
        else {
            size_t v0 = i;
            bool list = false; /* "Values=[a, b]" (VCF 4.3 ##META) */
            while (i < end && (v.p[i] != ',' || list)) {
                if (v.p[i] == '"' || v.p[i] == '<' || v.p[i] == '>') {
                    return "has a quote or angle bracket in an unquoted value";
                }
                list = v.p[i] == '[' ? true : v.p[i] == ']' ? false : list;
                i++;
            }
            val = (hg_span_t) {v.p + v0, i - v0};
            s_blank_trim (&val);
        }
        if (n < max) {
            keys[n] = key;
            vals[n] = val;
            n++;
        }
        if (i < end) {
            i++; /* the comma */
            while (i < end && v.p[i] == ' ') {
                i++;
            }
            if (i == end) {
                return "ends with a comma";
            }
        }
    }
    *n_pairs = n;
    return NULL;
}

/* The value of key among a structured line's pairs, or an empty span. */
static hg_span_t
s_pair (const hg_span_t *keys, const hg_span_t *vals, size_t n, const char *key, bool *found)
{
    for (size_t i = 0; i < n; i++) {
        if (hg_span_eq (keys[i], key)) {
            *found = true;
            return vals[i];
        }
    }
    *found = false;
    return HG_SPAN_EMPTY;
}

/* True when k is one of the keys this parser reads (INFO, or FORMAT GT). */
static bool
s_key_read (hg_span_t k, bool format)
{
    if (format) {
        return hg_span_eq (k, "GT");
    }
    for (size_t i = 0; i < S_K_N; i++) {
        if (hg_span_eq (k, s_info_keys[i])) {
            return true;
        }
    }
    return false;
}

/* Checks an ##INFO / ##FORMAT line's fields: ID first; Number and Type,
 * when given, of VCF's values (an integer, A, R, G or '.'; Integer, Float,
 * Flag for INFO, Character, String); for a key this parser reads, Number,
 * Type and Description all present, and GT a String. NULL or what is
 * wrong. */
static const char *
s_check_def (const hg_span_t *keys, const hg_span_t *vals, size_t n, bool format)
{
    static const char *const types[] = {"Integer", "Float", "Flag", "Character", "String"};
    bool has_num, has_type, has_desc;
    if (n == 0 || !hg_span_eq (keys[0], "ID") || vals[0].n == 0) {
        return "must start with ID=<key>";
    }
    bool read = s_key_read (vals[0], format);
    hg_span_t num = s_pair (keys, vals, n, "Number", &has_num);
    hg_span_t type = s_pair (keys, vals, n, "Type", &has_type);
    s_pair (keys, vals, n, "Description", &has_desc);
    if (read && (!has_num || !has_type || !has_desc)) {
        return "needs Number, Type and Description (a key Hourglass reads)";
    }
    bool num_ok = num.n > 0;
    for (size_t i = 0; num_ok && i < num.n; i++) {
        num_ok = isdigit ((unsigned char) num.p[i]);
    }
    num_ok = num_ok || hg_span_eq (num, "A") || hg_span_eq (num, "R") || hg_span_eq (num, "G")
             || hg_span_eq (num, ".");
    if (has_num && !num_ok) {
        return "has a Number that is not an integer, A, R, G or '.'";
    }
    bool type_ok = false;
    for (size_t i = 0; i < 5 && !type_ok; i++) {
        type_ok = hg_span_eq (type, types[i]) && !(format && i == 2);
    }
    if (has_type && !type_ok) {
        return format ? "has a Type that is not Integer, Float, Character or String"
                      : "has a Type that is not Integer, Float, Flag, Character or String";
    }
    if (read && !hg_span_eq (type, "String")) {
        return "gives a key Hourglass reads a Type other than String";
    }
    return NULL;
}

/* A structured meta line (##INFO, ##FORMAT, ##ALT, ##FILTER, ##contig...):
 * its fields checked; the INFO and FORMAT keys this parser reads are
 * remembered as declared. Rejected alone when wrong. */
static void
s_meta_struct (s_ctx_t *ctx, hg_span_t key, hg_span_t v)
{
    hg_span_t keys[16], vals[16];
    size_t n = 0;
    char b[48];
    const char *why = s_struct_pairs (v, keys, vals, 16, &n);
    bool info = hg_span_eq (key, "INFO"), format = hg_span_eq (key, "FORMAT");
    if (!why && (info || format)) {
        why = s_check_def (keys, vals, n, format);
    }
    else if (!why && hg_span_eq (key, "ALT")) {
        why = n == 0 || !hg_span_eq (keys[0], "ID") || vals[0].n == 0 ? "must start with ID="
                                                                      : NULL;
    }
    if (why) {
        s_reject (ctx, "the ##%s header line %s; it is not used", s_show (key, b), why);
        return;
    }
    if (info) {
        for (size_t k = 0; k < S_K_N; k++) {
            ctx->declared[k] = ctx->declared[k] || hg_span_eq (vals[0], s_info_keys[k]);
        }
    }
    if (format && hg_span_eq (vals[0], "GT")) {
        ctx->fmt_gt = true;
    }
}

/* The first line: ##fileformat=VCFv4.N. False (the payload is rejected)
 * when it is not. */
static bool
s_fileformat (s_ctx_t *ctx, hg_span_t line)
{
    bool ok = line.n == 19 + 1 && memcmp (line.p, "##fileformat=VCFv4.", 19) == 0
              && line.p[19] >= '0' && line.p[19] <= '5';
    if (!ok) {
        char b[48];
        s_reject (ctx,
                  "the first line is '%s', not ##fileformat=VCFv4.x (VCF 4.0-4.5); the "
                  "payload is not parsed",
                  s_show (line, b));
    }
    return ok;
}

/* A ## meta line after the first. 0 (a bad one is rejected alone). */
static int
s_meta (s_ctx_t *ctx, hg_span_t line)
{
    while (line.n && (line.p[line.n - 1] == ' ' || line.p[line.n - 1] == '\t')) {
        line.n--; /* trailing blanks are not part of the value */
    }
    const char *eq = memchr (line.p, '=', line.n);
    hg_span_t key = {line.p + 2, eq ? (size_t) (eq - line.p) - 2 : 0};
    hg_span_t v = {eq ? eq + 1 : "", eq ? line.n - (size_t) (eq + 1 - line.p) : 0};
    if (!eq || !s_key_ok (key) || v.n == 0) {
        s_reject (ctx, "a ## meta line must be ##key=value (a key of letters, digits, '_' or "
                       "'.', and a value); it is not used");
        return 0;
    }
    /* the structured lines VCF defines (others, such as ##pedigreeDB=<url>,
     * are free text) */
    static const char *const structured[] = {"INFO", "FORMAT", "FILTER", "ALT", "contig"};
    for (size_t i = 0; i < 5; i++) {
        if (hg_span_eq (key, structured[i])) {
            s_meta_struct (ctx, key, v);
        }
    }
    if (hg_span_eq (key, "fileDate")) {
        hg_date_t d;
        hg_err_t err;
        hg_err_clear (&err);
        bool digits = true;
        for (size_t i = 0; i < v.n; i++) {
            digits = digits && isdigit ((unsigned char) v.p[i]);
        }
        int rc = digits ? hg_date_parse_hl7 (v.p, v.n, &d, &err)
                        : hg_date_parse_iso (v.p, v.n, &d, &err);
        if (rc < 0) {
            s_reject (ctx, "##fileDate %s; records of this file get no effective date", err.msg);
            return 0;
        }
        char buf[HG_DATE_ISO_MAX];
        hg_date_format_iso (&d, buf, sizeof (buf));
        ctx->effective = hg_arena_strdup (ctx->a, buf);
        if (!ctx->effective) {
            ctx->oom = true;
        }
    }
    else if (line.n > 15 && memcmp (line.p, "##INFO=<ID=ANN,", 15) == 0) {
        s_layout (line, "'", false, "Gene_Name", "Gene_ID", "HGVS.c", "HGVS.p", &ctx->ann);
    }
    else if (line.n > 15 && memcmp (line.p, "##INFO=<ID=CSQ,", 15) == 0) {
        s_layout (line, "Format: ", false, "SYMBOL", "Gene", "HGVSc", "HGVSp", &ctx->csq);
    }
    else if (line.n > 15 && memcmp (line.p, "##INFO=<ID=EFF,", 15) == 0) {
        s_layout (line, "'", true, "Gene_Name", NULL, "Codon_Change", "Amino_Acid_Change",
                  &ctx->eff);
    }
    return 0;
}

/* Splits line at tabs into ctx->cols; returns the count or 0 on oom. */
static size_t
s_split (s_ctx_t *ctx, hg_span_t line)
{
    size_t n = 0, pos = 0;
    hg_span_t col;
    while (hg_span_next (line, '\t', &pos, &col)) {
        if (n == ctx->cap_cols) {
            size_t cap = ctx->cap_cols ? ctx->cap_cols * 2 : 16;
            hg_span_t *c = realloc (ctx->cols, cap * sizeof (*c));
            if (!c) {
                ctx->oom = true;
                return 0;
            }
            ctx->cols = c;
            ctx->cap_cols = cap;
        }
        ctx->cols[n++] = col;
    }
    return n;
}

static int
s_span_cmp (const void *a, const void *b)
{
    const hg_span_t *x = a, *y = b;
    size_t n = x->n < y->n ? x->n : y->n;
    int c = memcmp (x->p, y->p, n);
    return c ? c : (x->n > y->n) - (x->n < y->n);
}

/* A sample name given twice in the #CHROM header would merge two people
 * into one patient: the payload is rejected (1), naming it. -1 out of
 * memory, 0 when every name is its own. */
static int
s_duplicate_sample (s_ctx_t *ctx)
{
    hg_span_t *names = malloc (ctx->n_samples * sizeof (*names));
    if (!names) {
        ctx->oom = true;
        return -1;
    }
    memcpy (names, ctx->cols + 9, ctx->n_samples * sizeof (*names));
    qsort (names, ctx->n_samples, sizeof (*names), s_span_cmp);
    int rc = 0;
    for (size_t i = 1; i < ctx->n_samples && rc == 0; i++) {
        if (s_span_cmp (&names[i - 1], &names[i]) == 0) {
            char b[48];
            s_reject (ctx,
                      "sample name '%s' appears more than once in the #CHROM header; two "
                      "people would become one patient, so the payload is not parsed",
                      s_show (names[i], b));
            rc = 1;
        }
    }
    free (names);
    return rc;
}

/* The #CHROM line: samples and their patients. 0, or -1 (payload rejected
 * or out of memory). */
static int
s_header (s_ctx_t *ctx, hg_span_t line)
{
    static const char *const fixed[] = {"#CHROM", "POS",  "ID",     "REF",
                                        "ALT",    "QUAL", "FILTER", "INFO"};
    size_t n = s_split (ctx, line);
    if (ctx->oom) {
        return -1;
    }
    if (n < 8) {
        s_reject (ctx,
                  "the #CHROM header has %zu tab-separated columns, expected at least 8 "
                  "(#CHROM POS ID REF ALT QUAL FILTER INFO); the payload is not parsed",
                  n);
        return -1;
    }
    for (size_t i = 0; i < 8; i++) {
        if (!hg_span_eq (ctx->cols[i], fixed[i])) {
            char b[48];
            s_reject (ctx, "header column %zu is '%s', expected '%s'; the payload is not parsed",
                      i + 1, s_show (ctx->cols[i], b), fixed[i]);
            return -1;
        }
    }
    ctx->has_format = n >= 9;
    if (n >= 9 && !hg_span_eq (ctx->cols[8], "FORMAT")) {
        char b[48];
        s_reject (ctx, "header column 9 is '%s', expected 'FORMAT'; the payload is not parsed",
                  s_show (ctx->cols[8], b));
        return -1;
    }
    ctx->n_samples = n > 9 ? n - 9 : 0;
    if (n == 9) {
        s_reject (ctx, "the #CHROM header has a FORMAT column but no sample column (VCF has "
                       "FORMAT only with genotypes); the payload is not parsed");
        return -1;
    }
    if (ctx->n_samples == 0) {
        return 0;
    }
    ctx->samples = calloc (ctx->n_samples, sizeof (s_sample_t));
    if (!ctx->samples) {
        ctx->oom = true;
        return -1;
    }
    if (s_duplicate_sample (ctx) != 0) {
        return -1;
    }
    for (size_t i = 0; i < ctx->n_samples; i++) {
        hg_span_t name = ctx->cols[9 + i];
        if (name.n == 0 || (ctx->max_field_bytes && name.n > ctx->max_field_bytes)) {
            s_reject (ctx, "sample %zu of the header has %s name; the payload is not parsed",
                      i + 1, name.n ? "an over-long" : "an empty");
            return -1;
        }
        ctx->samples[i].name = name;
        const char *patient = NULL;
        for (size_t k = 0; ctx->opts && k < ctx->opts->n_sample_map; k++) {
            const char *sid = ctx->opts->sample_map[k].sample_id;
            if (sid && strlen (sid) == name.n && memcmp (sid, name.p, name.n) == 0) {
                patient = ctx->opts->sample_map[k].patient_id;
                break;
            }
        }
        if (patient && *patient) {
            ctx->samples[i].patient = hg_arena_strdup (ctx->a, patient);
            if (!ctx->samples[i].patient) {
                ctx->oom = true;
            }
        }
        else {
            ctx->samples[i].patient = s_copy (ctx, name);
        }
    }
    return ctx->oom ? -1 : 0;
}

/* ------------------------------------------------------------------------
 * Data lines */

/* True when the allele field f of an ANN/CSQ/EFF entry names ALT allele
 * alt (number k): the allele itself, VEP's form of an indel without the
 * shared first base ("-" when none is left), or EFF's allele number. */
static bool
s_allele_is (hg_span_t f, hg_span_t ref, hg_span_t alt, size_t k)
{
    hg_span_t trimmed = alt;
    if (ref.n > 0 && alt.n > 0 && ref.p[0] == alt.p[0]) {
        trimmed.p++;
        trimmed.n--;
    }
    char num[24];
    int nn = snprintf (num, sizeof (num), "%zu", k);
    return (f.n == alt.n && memcmp (f.p, alt.p, f.n) == 0)
           || (f.n == trimmed.n && f.n && memcmp (f.p, trimmed.p, f.n) == 0)
           || (trimmed.n == 0 && hg_span_eq (f, "-"))
           || (nn > 0 && f.n == (size_t) nn && memcmp (f.p, num, f.n) == 0);
}

/* Iterates the entries of an ANN/CSQ/EFF value that annotate ALT allele k
 * (of n_alt): start with *pos = 0; true per entry (in *entry, the part
 * between EFF's parentheses). With one ALT allele, every entry does. */
static bool
s_next_entry (hg_span_t value, const s_layout_t *lay, bool paren, hg_span_t ref, hg_span_t alt,
              size_t k, size_t n_alt, size_t *pos, hg_span_t *entry)
{
    hg_span_t e, f;
    for (size_t i = 0; i < 4096 && hg_span_next (value, ',', pos, &e); i++) {
        if (paren) {
            const char *o = memchr (e.p, '(', e.n);
            if (!o) {
                continue;
            }
            e.n -= (size_t) (o + 1 - e.p);
            e.p = o + 1;
            if (e.n && e.p[e.n - 1] == ')') {
                e.n--;
            }
        }
        bool mine = n_alt == 1
                    && (lay->allele < 0 || !hg_span_piece (e, '|', (size_t) lay->allele, &f)
                        || f.n == 0 || s_allele_is (f, ref, alt, k));
        if (!mine && lay->allele >= 0 && hg_span_piece (e, '|', (size_t) lay->allele, &f)) {
            mine = s_allele_is (f, ref, alt, k);
        }
        if (mine) {
            *entry = e;
            return true;
        }
    }
    return false;
}

/* Adds gene g to r unless it is there (or r is full). */
static void
s_add_gene (s_annot_t *r, hg_span_t g)
{
    if (g.n == 0 || hg_span_eq (g, ".") || r->n_genes == S_MAX_GENES) {
        return;
    }
    for (size_t i = 0; i < r->n_genes; i++) {
        if (r->genes[i].n == g.n && memcmp (r->genes[i].p, g.p, g.n) == 0) {
            return;
        }
    }
    r->genes[r->n_genes++] = g;
}

/* Genes (symbol, else id) and the first HGVS of ALT allele k from one
 * annotation key's entries. */
static void
s_annotate_key (s_annot_t *r, hg_span_t value, const s_layout_t *lay, bool paren, hg_span_t ref,
                hg_span_t alt, size_t k, size_t n_alt)
{
    hg_span_t e, f;
    size_t pos = 0;
    while (s_next_entry (value, lay, paren, ref, alt, k, n_alt, &pos, &e)) {
        if (lay->gene >= 0 && hg_span_piece (e, '|', (size_t) lay->gene, &f) && f.n) {
            s_add_gene (r, f);
        }
        else if (lay->gene_id >= 0 && hg_span_piece (e, '|', (size_t) lay->gene_id, &f)) {
            s_add_gene (r, f);
        }
        if (!r->hgvs.n && lay->hgvs_c >= 0 && hg_span_piece (e, '|', (size_t) lay->hgvs_c, &f)
            && f.n) {
            r->hgvs = f;
        }
        if (!r->hgvs.n && lay->hgvs_p >= 0 && hg_span_piece (e, '|', (size_t) lay->hgvs_p, &f)
            && f.n) {
            r->hgvs = f;
        }
    }
}

/* Gene codes and HGVS of ALT allele k (1-based) from INFO: every gene the
 * allele's SnpEff ANN, VEP CSQ (fields by the header's Format: list) and
 * older SnpEff EFF entries name, else GENE= and GENEINFO=; HGVS from the
 * first of them that has one, else HGVS=. Only keys the header declares. */
static s_annot_t
s_annotate (hg_span_t info, hg_span_t ref, hg_span_t alt, size_t k, size_t n_alt,
            const s_ctx_t *ctx)
{
    s_annot_t r;
    memset (&r, 0, sizeof (r));
    r.hgvs = HG_SPAN_EMPTY;
    hg_span_t v, f;
    const s_layout_t *lays[3] = {&ctx->ann, &ctx->csq, &ctx->eff};
    for (int i = 0; i < 3; i++) {
        if (ctx->declared[i] && s_info (info, s_info_keys[i], &v)) {
            s_annotate_key (&r, v, lays[i], i == S_K_EFF, ref, alt, k, n_alt);
        }
    }
    if (!r.n_genes && ctx->declared[S_K_GENE] && s_info (info, "GENE", &v)
        && hg_span_piece (v, ',', 0, &f)) {
        s_add_gene (&r, f);
    }
    if (!r.n_genes && ctx->declared[S_K_GENEINFO] && s_info (info, "GENEINFO", &v)) {
        /* GENEINFO=SYMBOL:ID|SYMBOL:ID */
        hg_span_t g, sym;
        size_t pos = 0;
        while (hg_span_next (v, '|', &pos, &g)) {
            if (hg_span_piece (g, ':', 0, &sym)) {
                s_add_gene (&r, sym);
            }
        }
    }
    if (!r.hgvs.n && ctx->declared[S_K_HGVS] && s_info (info, "HGVS", &v)) {
        size_t n = hg_span_count (v, ',');
        hg_span_piece (v, ',', n == n_alt ? k - 1 : 0, &r.hgvs);
    }
    return r;
}

/* Alleles of a GT value ("0/1", "1|2", "/0|1" in VCF 4.4, ".", "1").
 * Returns the number of alleles (-1 missing) in idx[], or -2 invalid. */
static int
s_genotype (hg_span_t gt, long *idx)
{
    size_t i = 0;
    int n = 0;
    if (gt.n > 0 && (gt.p[0] == '/' || gt.p[0] == '|')) {
        i = 1; /* explicit phasing of the first allele (4.4) */
    }
    if (i >= gt.n) {
        return -2;
    }
    while (i < gt.n) {
        if (n == S_MAX_PLOIDY) {
            return -2;
        }
        if (gt.p[i] == '.') {
            idx[n++] = -1;
            i++;
        }
        else if (isdigit ((unsigned char) gt.p[i])) {
            long v = 0;
            while (i < gt.n && isdigit ((unsigned char) gt.p[i])) {
                if (v > 100000000) {
                    return -2;
                }
                v = v * 10 + (gt.p[i] - '0');
                i++;
            }
            idx[n++] = v;
        }
        else {
            return -2;
        }
        if (i < gt.n) {
            if ((gt.p[i] != '/' && gt.p[i] != '|') || i + 1 == gt.n) {
                return -2;
            }
            i++;
        }
    }
    return n;
}

/* True when s is bases of VCF's alphabet (A, C, G, T, N, any case), at
 * least one. */
static bool
s_bases (hg_span_t s)
{
    for (size_t i = 0; i < s.n; i++) {
        if (!strchr ("ACGTNacgtn", s.p[i]) || !s.p[i]) {
            return false;
        }
    }
    return s.n > 0;
}

/* A breakend mate "chr:pos" (or "<contig>:pos"). */
static bool
s_mate (hg_span_t m)
{
    const char *colon = NULL;
    for (size_t i = m.n; i > 0 && !colon; i--) {
        colon = m.p[i - 1] == ':' ? m.p + i - 1 : NULL;
    }
    if (!colon || colon == m.p || colon + 1 == m.p + m.n) {
        return false;
    }
    for (const char *q = colon + 1; q < m.p + m.n; q++) {
        if (!isdigit ((unsigned char) *q)) {
            return false;
        }
    }
    return true;
}

/* A valid ALT allele (VCF 4.1-4.4): bases, "*", a symbolic "<ID>", a
 * breakend (t[p[, t]p], ]p]t, [p[t, or .t / t.). */
static bool
s_alt_ok (hg_span_t alt)
{
    if (s_bases (alt) || hg_span_eq (alt, "*")) {
        return true;
    }
    if (alt.n >= 3 && alt.p[0] == '<' && alt.p[alt.n - 1] == '>') {
        for (size_t i = 1; i + 1 < alt.n; i++) {
            unsigned char c = (unsigned char) alt.p[i];
            if (c <= ' ' || c == '<' || c == '>' || c == ',' || c == 0x7F) {
                return false;
            }
        }
        return true;
    }
    if (alt.n >= 2 && (alt.p[0] == '.' || alt.p[alt.n - 1] == '.')) {
        hg_span_t t = {alt.p + (alt.p[0] == '.'), alt.n - 1};
        return s_bases (t);
    }
    const char *br = NULL;
    for (size_t i = 0; i < alt.n && !br; i++) {
        br = alt.p[i] == '[' || alt.p[i] == ']' ? alt.p + i : NULL;
    }
    if (!br) {
        return false;
    }
    const char *end = alt.p + alt.n;
    const char *br2 = memchr (br + 1, *br, (size_t) (end - br - 1));
    if (!br2) {
        return false;
    }
    hg_span_t before = {alt.p, (size_t) (br - alt.p)},
              after = {br2 + 1, (size_t) (end - br2 - 1)};
    hg_span_t mate = {br + 1, (size_t) (br2 - br - 1)};
    /* exactly one of the sides holds the bases t */
    return s_mate (mate) && (before.n == 0) != (after.n == 0)
           && s_bases (before.n ? before : after);
}

static bool
s_placeholder (hg_span_t alt)
{
    return hg_span_eq (alt, "*") || hg_span_eq (alt, "<*>") || hg_span_eq (alt, "<NON_REF>");
}

/* One record for sample s carrying ALT allele k. -1 to stop. */
static int
s_record (s_ctx_t *ctx, const s_sample_t *s, hg_span_t *c, hg_span_t gt, hg_span_t alt, size_t k,
          size_t n_alt)
{
    Hourglass__Record *rec = hg_batch_try_add (ctx->out,
                                               HOURGLASS__RECORD_KIND__KIND_GENOMIC_VARIANT,
                                               &ctx->limit_hit, &ctx->oom);
    if (!rec) {
        return -1;
    }
    rec->patient_ref = (char *) s->patient;
    rec->effective = ctx->effective;
    rec->provenance = hg_provenance_new (ctx->a);
    if (!rec->provenance) {
        ctx->oom = true;
        return -1;
    }
    rec->provenance->source_format = (char *) "vcf";
    rec->provenance->source_record_id = hg_arena_printf (ctx->a, "line %zu/%.*s/%zu",
                                                         ctx->line_no, (int) s->name.n, s->name.p,
                                                         k);
    if (!hg_span_eq (c[6], ".")) {
        rec->status = s_copy (ctx, c[6]);
    }
    /* dbSNP ids */
    hg_span_t id;
    size_t id_pos = 0;
    for (size_t i = 0; i < 64 && hg_span_next (c[2], ';', &id_pos, &id); i++) {
        bool rs = id.n > 2 && (id.p[0] == 'r' || id.p[0] == 'R')
                  && (id.p[1] == 's' || id.p[1] == 'S');
        for (size_t j = 2; rs && j < id.n; j++) {
            rs = isdigit ((unsigned char) id.p[j]);
        }
        if (rs) {
            char *code = s_copy (ctx, id);
            code[0] = 'r';
            code[1] = 's';
            if (!ctx->oom && hg_record_add_code (ctx->a, rec, HG_SYS_DBSNP, code, NULL) < 0) {
                ctx->oom = true;
            }
        }
    }
    hg_span_t chrom = c[0];
    if (chrom.n > 3 && strncasecmp (chrom.p, "chr", 3) == 0) {
        chrom.p += 3;
        chrom.n -= 3;
    }
    char *vcode = hg_arena_printf (ctx->a, "%.*s-%.*s-%.*s-%.*s", (int) chrom.n, chrom.p,
                                   (int) c[1].n, c[1].p, (int) c[3].n, c[3].p, (int) alt.n,
                                   alt.p);
    if (!vcode || !rec->provenance->source_record_id
        || hg_record_add_code (ctx->a, rec, HG_SYS_VARIANT, vcode, NULL) < 0) {
        ctx->oom = true;
        return -1;
    }
    s_annot_t none;
    memset (&none, 0, sizeof (none));
    none.hgvs = HG_SPAN_EMPTY;
    const s_annot_t *an = &none;
    if (k <= S_MAX_ANNOTATED) {
        if (!ctx->annotated[k - 1]) {
            ctx->annots[k - 1] = s_annotate (c[7], c[3], alt, k, n_alt, ctx);
            ctx->annotated[k - 1] = true;
        }
        an = &ctx->annots[k - 1];
    }
    for (size_t i = 0; i < an->n_genes && !ctx->oom; i++) {
        char *g = s_copy (ctx, an->genes[i]);
        const char *sys = strncmp (g, "ENSG", 4) == 0 ? HG_SYS_ENSEMBL : HG_SYS_HGNC;
        if (!ctx->oom && hg_record_add_code (ctx->a, rec, sys, g, NULL) < 0) {
            ctx->oom = true;
        }
    }
    rec->string_value = s_copy (ctx, an->hgvs.n ? an->hgvs : gt);
    rec->value_case = HOURGLASS__RECORD__VALUE_STRING_VALUE;
    return ctx->oom ? -1 : 0;
}

/* Records of one sample of a data line. -1 to stop. */
static int
s_sample (s_ctx_t *ctx, hg_span_t *c, size_t si, int gt_index, hg_span_t *alts, size_t n_alt)
{
    const s_sample_t *s = &ctx->samples[si];
    hg_span_t gt = {".", 1};
    if (gt_index < 0 || !hg_span_piece (c[9 + si], ':', (size_t) gt_index, &gt) || gt.n == 0) {
        gt.p = ".";
        gt.n = 1;
    }
    long idx[S_MAX_PLOIDY];
    int n = s_genotype (gt, idx);
    char b[48], b2[48];
    if (n == -2) {
        s_reject (ctx,
                  "sample %s: GT '%s' is not a genotype (expected allele numbers or '.' "
                  "separated by / or |)",
                  s_show (s->name, b2), s_show (gt, b));
        return 0;
    }
    long seen[S_MAX_PLOIDY];
    size_t n_seen = 0;
    for (int i = 0; i < n; i++) {
        if (idx[i] <= 0) {
            continue;
        }
        if (n_alt == 0) {
            continue; /* ALT '.': a reference site, nothing to record */
        }
        if ((size_t) idx[i] > n_alt) {
            s_reject (ctx, "sample %s: GT '%s' refers to ALT allele %ld but ALT lists %zu",
                      s_show (s->name, b2), s_show (gt, b), idx[i], n_alt);
            return 0;
        }
        bool dup = false;
        for (size_t j = 0; j < n_seen; j++) {
            dup = dup || seen[j] == idx[i];
        }
        if (!dup) {
            seen[n_seen++] = idx[i];
        }
    }
    size_t made = 0;
    for (size_t j = 0; j < n_seen; j++) {
        size_t k = (size_t) seen[j];
        if (s_placeholder (alts[k - 1])) {
            continue;
        }
        if (s_record (ctx, s, c, gt, alts[k - 1], k, n_alt) < 0) {
            return -1;
        }
        made++;
    }
    if (made == 0) {
        hg_batch_ignore (ctx->out, "VCF genotype without ALT allele");
    }
    return 0;
}

/* CHROM, ID, QUAL, FORMAT and the INFO keys read, as VCF 4.1-4.4 require
 * them: NULL, or what is wrong (a static string). */
static const char *
s_columns_ok (const s_ctx_t *ctx, const hg_span_t *c)
{
    /* a name, or a symbolic contig "<ID>" (VCF 4.1) */
    bool sym = c[0].n > 2 && c[0].p[0] == '<' && c[0].p[c[0].n - 1] == '>';
    for (size_t i = sym; i < c[0].n - sym; i++) {
        unsigned char ch = (unsigned char) c[0].p[i];
        if (ch <= ' ' || ch == ',' || ch == '<' || ch == '>' || ch == 0x7F
            || (i == 0 && (ch == '*' || ch == '='))) {
            return "CHROM holds a space, a comma or an angle bracket, or starts with '*' or '='";
        }
    }
    if (!hg_span_eq (c[2], ".")) {
        hg_span_t id;
        size_t pos = 0;
        while (hg_span_next (c[2], ';', &pos, &id)) {
            bool ok = id.n > 0 && !hg_span_eq (id, ".");
            for (size_t i = 0; ok && i < id.n; i++) {
                ok = (unsigned char) id.p[i] > ' ';
            }
            if (!ok) {
                return "ID is not '.' or ';'-separated ids without spaces";
            }
        }
    }
    if (!hg_span_eq (c[5], ".")) {
        char q[40];
        char *end = NULL;
        size_t qn = c[5].n < sizeof (q) - 1 ? c[5].n : sizeof (q) - 1;
        memcpy (q, c[5].p, qn);
        q[qn] = '\0';
        double v = qn == c[5].n && qn ? strtod (q, &end) : -1;
        bool nan = end && !*end && v != v; /* "NaN": a missing quality some tools write */
        if (!end || *end || !(v >= 0 || nan)) {
            return "QUAL is not '.' or a number of at least 0";
        }
    }
    /* one pass over INFO for the keys read that the header does not declare */
    hg_span_t item;
    size_t ipos = 0;
    size_t k = S_K_N;
    bool all_declared = true;
    for (size_t i = 0; i < S_K_N; i++) {
        all_declared = all_declared && ctx->declared[i];
    }
    while (!all_declared && k == S_K_N && hg_span_next (c[7], ';', &ipos, &item)) {
        const char *eq = memchr (item.p, '=', item.n);
        hg_span_t key = {item.p, eq ? (size_t) (eq - item.p) : item.n};
        for (size_t i = 0; i < S_K_N && k == S_K_N; i++) {
            k = !ctx->declared[i] && eq && hg_span_eq (key, s_info_keys[i]) ? i : S_K_N;
        }
    }
    static const char *const undeclared[S_K_N] = {
        "INFO key ANN has no ##INFO=<ID=ANN,...> header line",
        "INFO key CSQ has no ##INFO=<ID=CSQ,...> header line",
        "INFO key EFF has no ##INFO=<ID=EFF,...> header line",
        "INFO key GENE has no ##INFO=<ID=GENE,...> header line",
        "INFO key GENEINFO has no ##INFO=<ID=GENEINFO,...> header line",
        "INFO key HGVS has no ##INFO=<ID=HGVS,...> header line",
    };
    if (k < S_K_N) {
        return undeclared[k];
    }
    if (!ctx->n_samples || !ctx->has_format) {
        return NULL;
    }
    hg_span_t key;
    size_t pos = 0;
    for (size_t i = 0; i < 4096 && hg_span_next (c[8], ':', &pos, &key); i++) {
        bool ok = key.n > 0;
        for (size_t j = 0; ok && j < key.n; j++) {
            unsigned char ch = (unsigned char) key.p[j];
            ok = isalnum (ch) || ch == '_' || ch == '.' || ch == '-'; /* '-': htslib's */
        }
        if (!ok) {
            return "FORMAT has an empty key or one that is not letters, digits, '_', '.' or '-'";
        }
        if (i > 0 && hg_span_eq (key, "GT")) {
            return "FORMAT has GT but not as its first key";
        }
    }
    return NULL;
}

/* Maps one data line. Returns 0 to go on, -1 to stop (oom or max_records). */
static int
s_data_line (s_ctx_t *ctx, hg_span_t line)
{
    size_t n = s_split (ctx, line);
    if (ctx->oom) {
        return -1;
    }
    memset (ctx->annotated, 0, sizeof (ctx->annotated));
    hg_span_t *c = ctx->cols;
    size_t want = ctx->n_samples ? 9 + ctx->n_samples : ctx->has_format ? 9 : 8;
    if (n == 8 && want > 8) {
        want = 8; /* a sites-only line (htslib reads it as missing genotypes) */
    }
    if (n < 8 || n < want) {
        s_reject (ctx,
                  "%zu tab-separated columns, expected %zu (CHROM POS ID REF ALT QUAL FILTER "
                  "INFO%s%s)",
                  n, want, want > 8 ? " FORMAT" : "",
                  ctx->n_samples ? " and one per sample" : "");
        return 0;
    }
    if (n > want && !(n == want + 1 && c[n - 1].n == 0)) {
        s_reject (ctx, "%zu tab-separated columns but the #CHROM header has %zu", n, want);
        return 0;
    }
    for (size_t i = 0; i < want; i++) {
        if (ctx->max_field_bytes && c[i].n > ctx->max_field_bytes) {
            s_reject (ctx,
                      "column %zu is %zu bytes, over the limit of %zu bytes "
                      "(max_field_bytes)",
                      i + 1, c[i].n, ctx->max_field_bytes);
            return 0;
        }
    }
    char b[48];
    if (c[0].n == 0 || hg_span_eq (c[0], ".")) {
        s_reject (ctx, "CHROM is empty");
        return 0;
    }
    bool pos_ok = c[1].n > 0 && c[1].n <= 12;
    for (size_t i = 0; pos_ok && i < c[1].n; i++) {
        pos_ok = isdigit ((unsigned char) c[1].p[i]);
    }
    if (!pos_ok) {
        s_reject (ctx, "POS '%s' is not a position (a whole number)", s_show (c[1], b));
        return 0;
    }
    if (!s_bases (c[3])) {
        s_reject (ctx, "REF '%s' is not a base sequence (A, C, G, T, N)", s_show (c[3], b));
        return 0;
    }
    const char *why = s_columns_ok (ctx, c);
    if (why) {
        s_reject (ctx, "%s", why);
        return 0;
    }
    size_t n_alt = hg_span_eq (c[4], ".") ? 0 : hg_span_count (c[4], ',');
    hg_span_t *alts = NULL;
    if (n_alt) {
        alts = malloc (n_alt * sizeof (*alts));
        if (!alts) {
            ctx->oom = true;
            return -1;
        }
        size_t alt_pos = 0;
        for (size_t i = 0; i < n_alt; i++) {
            hg_span_next (c[4], ',', &alt_pos, &alts[i]);
            if (!s_alt_ok (alts[i])) {
                s_reject (ctx,
                          "ALT '%s': allele %zu is not bases (A, C, G, T, N), '*', a symbolic "
                          "<ID> or a breakend",
                          s_show (c[4], b), i + 1);
                free (alts);
                return 0;
            }
        }
    }
    int gt_index = -1;
    if (ctx->n_samples) {
        hg_span_t key;
        size_t key_pos = 0;
        for (size_t i = 0; i < 4096 && hg_span_next (c[8], ':', &key_pos, &key); i++) {
            if (hg_span_eq (key, "GT")) {
                gt_index = (int) i;
                break;
            }
        }
    }
    if (ctx->n_samples == 0 || n == 8) {
        hg_batch_ignore (ctx->out, "VCF site without samples");
        free (alts);
        return 0;
    }
    /* a sample holds at most one value per FORMAT key (fewer: the rest missing) */
    size_t n_keys = hg_span_count (c[8], ':');
    for (size_t si = 0; si < ctx->n_samples; si++) {
        size_t nv = hg_span_count (c[9 + si], ':');
        if (nv > n_keys) {
            s_reject (ctx, "sample %zu has %zu ':'-separated values but FORMAT has %zu keys",
                      si + 1, nv, n_keys);
            free (alts);
            return 0;
        }
    }
    int rc = 0;
    for (size_t si = 0; si < ctx->n_samples && rc == 0; si++) {
        rc = s_sample (ctx, c, si, gt_index, alts, n_alt);
    }
    free (alts);
    return rc;
}

/* ------------------------------------------------------------------------
 * Compressed and binary input: htslib is the reader, this file the one
 * parser. A .vcf.gz (BGZF or plain gzip) is decompressed to its text; a
 * BCF is decoded by htslib to the VCF text it stands for (the header as
 * bcf_hdr_format writes it, each record as vcf_format does); that text is
 * then parsed as any VCF, its line numbers those of the text. */

/* Most bytes of text one compressed payload may decode to. */
static size_t
s_decoded_max (size_t len)
{
    size_t lo = (size_t) 16 << 20, hi = (size_t) 256 << 20;
    size_t want = len > hi / 100 ? hi : len * 100;
    return want < lo ? lo : want;
}

/* Appends the n bytes at p and a newline to *ks, unless that makes the text
 * longer than max. -1 over the limit or out of memory (*over tells). */
static int
s_append_line (kstring_t *ks, const char *p, size_t n, size_t max, bool *over)
{
    if (ks->l + n + 1 > max) {
        *over = true;
        return -1;
    }
    if (kputsn (p, n, ks) < 0 || kputc ('\n', ks) < 0) {
        return -1;
    }
    return 0;
}

/* The text of a BCF (header and records), appended to *ks. A reason in
 * why when it fails (-1). */
static int
s_bcf_text (htsFile *fp, kstring_t *ks, size_t max, bool *over, const char **why)
{
    bcf_hdr_t *h = bcf_hdr_read (fp);
    if (!h) {
        *why = "htslib cannot read the BCF header (malformed, truncated, or a sample name "
               "given twice, which would merge two people); the payload is not parsed";
        return -1;
    }
    int rc = bcf_hdr_format (h, 0, ks) < 0 ? -1 : 0;
    bcf1_t *rec = bcf_init ();
    if (!rec) {
        rc = -1;
    }
    int r = 0;
    while (rc == 0 && (r = bcf_read (fp, h, rec)) == 0) {
        if (vcf_format (h, rec, ks) < 0) {
            rc = -1;
            *why = "htslib cannot turn a BCF record into VCF text; the payload is not parsed";
        }
        else if (ks->l > max) {
            *over = true;
            rc = -1;
        }
    }
    if (rc == 0 && r < -1) {
        rc = -1;
        *why = "the BCF is truncated or corrupt (htslib read error); the payload is not "
               "parsed";
    }
    bcf_destroy (rec);
    bcf_hdr_destroy (h);
    return rc;
}

/* Decodes a gzip/BGZF or BCF payload into *text (malloc'd, *tlen bytes).
 * On failure the payload is rejected with the reason and -1 returned. */
static int
s_decode (const char *data, size_t len, hg_batch_t *out, char **text, size_t *tlen)
{
    hts_set_log_level (HTS_LOG_OFF);     /* htslib would print partner data to stderr */
    char *copy = malloc (len ? len : 1); /* the mem: hFILE owns and frees it */
    if (!copy) {
        hg_batch_reject_oom (out, "payload");
        return -1;
    }
    memcpy (copy, data, len);
    hFILE *hf = hopen ("mem:", "r:", copy, len);
    htsFile *fp = hf ? hts_hopen (hf, "payload", "r") : NULL;
    if (!fp && hf && hclose (hf) < 0) {
        fp = NULL; /* nothing was read: nothing to report */
    }
    kstring_t ks = {0, 0, NULL};
    size_t max = s_decoded_max (len);
    bool over = false;
    const char *why = NULL;
    int rc = fp ? 0 : -1;
    if (!fp) {
        why = "the payload starts like gzip/BGZF or BCF but htslib cannot open it "
              "(truncated or corrupt); the payload is not parsed";
    }
    else if (hts_get_format (fp)->format == bcf) {
        rc = s_bcf_text (fp, &ks, max, &over, &why);
    }
    else if (hts_get_format (fp)->format == vcf) {
        kstring_t line = {0, 0, NULL};
        int r;
        while (rc == 0 && (r = hts_getline (fp, '\n', &line)) >= 0) {
            rc = s_append_line (&ks, line.s, line.l, max, &over);
        }
        if (rc == 0 && r < -1) {
            rc = -1;
            why = "the compressed VCF is truncated or corrupt (decompression error); the "
                  "payload is not parsed";
        }
        free (line.s);
    }
    else {
        rc = -1;
        why = "the payload is gzip/BGZF-compressed but does not decompress to VCF or BCF "
              "(truncated, corrupt, or another format); send VCF text, .vcf.gz or BCF";
    }
    if (fp && hts_close (fp) < 0 && rc == 0) {
        rc = -1;
        why = "the compressed payload is corrupt (htslib close error); the payload is not "
              "parsed";
    }
    if (rc < 0) {
        if (over) {
            hg_batch_reject (out, data, len > 64 ? 64 : len, "payload",
                             "the payload decompresses to more than %zu bytes of VCF text; "
                             "send it in smaller files",
                             max);
        }
        else if (why) {
            hg_batch_reject (out, data, len > 64 ? 64 : len, "payload", "%s", why);
        }
        else {
            hg_batch_reject_oom (out, "payload");
        }
        free (ks.s);
        return -1;
    }
    *text = ks.s ? ks.s : strdup ("");
    *tlen = ks.l;
    return *text ? 0 : -1;
}

/* ------------------------------------------------------------------------
 * Framing */

static int s_parse_text (const char *data, size_t len, const hg_vcf_options_t *opts,
                         const hg_parse_limits_t *limits, hg_batch_t *out);

int
hg_vcf_parse (const char *data, size_t len, const hg_vcf_options_t *opts,
              const hg_parse_limits_t *limits, hg_batch_t *out)
{
    if (!data) {
        data = "";
        len = 0;
    }
    bool gz = len >= 2 && (unsigned char) data[0] == 0x1F && (unsigned char) data[1] == 0x8B;
    bool bcf = len >= 4 && memcmp (data, "BCF\x02", 4) == 0;
    if (!gz && !bcf) {
        return s_parse_text (data, len, opts, limits, out);
    }
    char *text = NULL;
    size_t tlen = 0;
    if (s_decode (data, len, out, &text, &tlen) < 0) {
        hg_batch_begin (out, limits);
        return 0;
    }
    int rc = s_parse_text (text, tlen, opts, limits, out);
    free (text);
    return rc;
}

static int
s_parse_text (const char *data, size_t len, const hg_vcf_options_t *opts,
              const hg_parse_limits_t *limits, hg_batch_t *out)
{
    s_ctx_t ctx;
    memset (&ctx, 0, sizeof (ctx));
    ctx.out = out;
    ctx.a = hg_batch_arena (out);
    ctx.opts = opts;
    ctx.max_field_bytes = limits ? limits->max_field_bytes : 0;
    hg_batch_mark_t first_record = hg_batch_begin (out, limits);
    ctx.effective = (char *) protobuf_c_empty_string;
    ctx.ann.allele = 0; /* SnpEff's standard layout unless the header says */
    ctx.ann.gene = 3;
    ctx.ann.hgvs_c = 9;
    ctx.ann.hgvs_p = 10;
    ctx.ann.gene_id = 4;
    ctx.csq.allele = ctx.csq.gene = ctx.csq.gene_id = ctx.csq.hgvs_c = ctx.csq.hgvs_p = -1;
    ctx.eff.allele = 10; /* SnpEff 4's EFF layout unless the header says */
    ctx.eff.gene = 5;
    ctx.eff.gene_id = -1;
    ctx.eff.hgvs_c = 3;
    ctx.eff.hgvs_p = 4;
    ctx.annots = malloc (S_MAX_ANNOTATED * sizeof (*ctx.annots));
    if (!ctx.annots) {
        hg_batch_reject_oom (out, NULL);
        return HG_ENOMEM;
    }
    hg_parse_payload (&data, &len);
    bool header = false, stopped = false;
    int rc = 0;
    size_t pos = 0;
    while (pos < len && rc == 0) {
        const char *p = data + pos;
        const char *nl = memchr (p, '\n', len - pos);
        size_t n = nl ? (size_t) (nl - p) : len - pos;
        pos += n + 1;
        ctx.line_no++;
        if (n > 0 && p[n - 1] == '\r') {
            n--;
        }
        hg_span_t line = {p, n};
        ctx.line = line;
        snprintf (ctx.where, sizeof (ctx.where), "line %zu", ctx.line_no);
        if (n == 0) {
            continue;
        }
        if (!header) {
            bool first = !ctx.seen_line;
            ctx.seen_line = true;
            if (n >= 2 && p[0] == '#' && p[1] == '#') {
                if ((first && !s_fileformat (&ctx, line))
                    || (!first && s_meta (&ctx, line) < 0)) {
                    stopped = true;
                    break;
                }
            }
            else if (n >= 6 && memcmp (p, "#CHROM", 6) == 0) {
                if (first) {
                    s_reject (&ctx, "the #CHROM header is the first line: a VCF starts with "
                                    "##fileformat=VCFv4.x; the payload is not parsed");
                    stopped = true;
                    break;
                }
                if (s_header (&ctx, line) < 0) {
                    stopped = true;
                    break;
                }
                header = true;
            }
            else {
                s_reject (&ctx, "expected a ## meta line or the #CHROM header line before the "
                                "data; the payload is not parsed (is it VCF?)");
                stopped = true;
                break;
            }
            rc = ctx.oom ? -1 : 0;
            continue;
        }
        if (p[0] == '#') {
            s_reject (&ctx, "a # line after the #CHROM header");
            continue;
        }
        hg_batch_mark_t start = hg_batch_mark (out);
        rc = s_data_line (&ctx, line);
        if (rc < 0) {
            /* all or nothing for the line that hit a limit */
            hg_batch_rollback (out, start);
            if (ctx.limit_hit) {
                snprintf (ctx.where, sizeof (ctx.where), "line %zu", ctx.line_no);
                hg_batch_reject_rest (out, line.p, line.n, ctx.where);
            }
        }
    }
    if (!header && !stopped && !ctx.oom) {
        hg_batch_reject (out, data, len, "payload",
                         len ? "no #CHROM header line: the payload is "
                               "truncated or not VCF"
                             : "empty payload: expected VCF text");
    }
    free (ctx.samples);
    free (ctx.cols);
    free (ctx.annots);
    if (ctx.oom) {
        hg_batch_reject_oom (out, ctx.line_no ? ctx.where : NULL);
        return HG_ENOMEM;
    }
    return (int) hg_batch_since (out, first_record);
}
