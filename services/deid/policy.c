/*
 * policy.c -- de-identify one canonical record (see policy.h for the rules).
 */
#include "policy.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "date.h"
#include "ucum.h"
#include "record.h"
#include "util.h"

#define S_EMPTY ((char *) protobuf_c_empty_string)

/* Safe Harbor: 3-digit ZIP prefixes whose areas hold 20,000 people or fewer
 * (2000 Census, as listed by HHS) become "000". */
static const char *const s_restricted_zip3[] = {
    "036", "059", "063", "102", "203", "556", "692", "790", "821",
    "823", "830", "831", "878", "879", "884", "890", "893",
};

static const char *const s_result_words[] = {
    "positive",      "negative",    "detected",     "not detected", "normal", "abnormal",
    "reactive",      "nonreactive", "non-reactive", "present",      "absent", "trace",
    "indeterminate", "equivocal",   "pending",      "high",         "low",    "none",
    "yes",           "no",          "true",         "false",
};

const char *
hg_deid_age_group (int years)
{
    if (years < 18) {
        return "0-17";
    }
    if (years < 30) {
        return "18-29";
    }
    if (years >= 90) {
        return "90+";
    }
    static const char *const bands[] = {"30-39", "40-49", "50-59", "60-69", "70-79", "80-89"};
    return bands[years / 10 - 3];
}

/* ---------------------------------------------------------------------------
 * Postal codes. */

static bool
s_is_blank (char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool
s_is_digit (char c)
{
    return c >= '0' && c <= '9';
}

/* Trims blanks: [*start, *end) of s. */
static void
s_trim (const char *s, const char **start, const char **end)
{
    const char *b = s, *e = s + strlen (s);
    while (b < e && s_is_blank (*b)) {
        b++;
    }
    while (e > b && s_is_blank (e[-1])) {
        e--;
    }
    *start = b;
    *end = e;
}

static bool
s_country_is_us (const char *country)
{
    static const char *const us[] = {"us",     "usa",           "u.s.",
                                     "u.s.a.", "united states", "united states of america",
                                     "840"};
    if (!country) {
        return true;
    }
    const char *b, *e;
    s_trim (country, &b, &e);
    if (b == e) {
        return true; /* not stated: the ZIP shape decides */
    }
    for (size_t i = 0; i < sizeof (us) / sizeof (us[0]); i++) {
        if (strlen (us[i]) == (size_t) (e - b) && strncasecmp (us[i], b, (size_t) (e - b)) == 0) {
            return true;
        }
    }
    return false;
}

void
hg_deid_postal_prefix (const char *postal_code, const char *country, char out[4])
{
    out[0] = '\0';
    if (hg_str_empty (postal_code)) {
        return;
    }
    const char *b, *e;
    s_trim (postal_code, &b, &e);
    size_t n = (size_t) (e - b);
    bool zip = (n == 5 && hg_all_digits (b, 5)) || (n == 9 && hg_all_digits (b, 9))
               || (n == 10 && hg_all_digits (b, 5) && b[5] == '-' && hg_all_digits (b + 6, 4));
    memcpy (out, "000", 4);
    if (!zip || !s_country_is_us (country)) {
        return;
    }
    for (size_t i = 0; i < sizeof (s_restricted_zip3) / sizeof (s_restricted_zip3[0]); i++) {
        if (memcmp (b, s_restricted_zip3[i], 3) == 0) {
            return;
        }
    }
    memcpy (out, b, 3);
}

/* ---------------------------------------------------------------------------
 * Free-text result values. */

static bool
s_is_result_word (const char *s)
{
    char norm[32];
    size_t n = 0;
    const char *b, *e;
    s_trim (s, &b, &e);
    for (const char *p = b; p < e; p++) {
        char c = s_is_blank (*p) ? ' ' : (char) tolower ((unsigned char) *p);
        if (c == ' ' && n > 0 && norm[n - 1] == ' ') {
            continue; /* "not   detected" */
        }
        if (n + 1 >= sizeof (norm)) {
            return false;
        }
        norm[n++] = c;
    }
    norm[n] = '\0';
    for (size_t i = 0; i < sizeof (s_result_words) / sizeof (s_result_words[0]); i++) {
        if (strcmp (norm, s_result_words[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* Digit groups of s: their lengths, values (first 6 digits) and the
 * character joining each to the next when it is a separator between two
 * digits ('/', '-', '.', ':'), else 0. Returns the number of groups, or -1
 * when there are more than max. *digits: all digits. */
static int
s_digit_groups (const char *s, int *len, int *val, char *sep, int max, int *digits)
{
    int groups = 0;
    *digits = 0;
    for (const char *p = s; *p;) {
        if (!s_is_digit (*p)) {
            p++;
            continue;
        }
        if (groups == max) {
            return -1;
        }
        int l = 0, v = 0;
        while (s_is_digit (*p)) {
            v = l < 6 ? v * 10 + (*p - '0') : v;
            l++;
            p++;
        }
        *digits += l;
        len[groups] = l;
        val[groups] = v;
        sep[groups] = *p && strchr ("/-.:", *p) && s_is_digit (p[1]) ? *p : 0;
        groups++;
    }
    return groups;
}

bool
hg_deid_date_like (const char *s)
{
    enum { MAX_GROUPS = 64 };
    int len[MAX_GROUPS], val[MAX_GROUPS];
    char sep[MAX_GROUPS]; /* sep[i]: joins group i to group i + 1, or 0 */
    int digits;
    if (!s) {
        return false;
    }
    int groups = s_digit_groups (s, len, val, sep, MAX_GROUPS, &digits);
    if (groups < 0 || digits > 6) {
        return true;
    }
    for (int i = 0; i + 1 < groups; i++) {
        if (sep[i] == '/') {
            return true; /* 7/22, 3/4, 11/21.93 */
        }
        if (!sep[i] || sep[i] == ':') {
            continue;
        }
        if (i + 2 < groups && sep[i + 1] == sep[i]) {
            return true; /* 3.4.21, 1-2-3 */
        }
        bool lonely = (i == 0 || !sep[i - 1]) && !sep[i + 1];
        if (lonely && sep[i] == '-') {
            int y = len[i] == 4 ? i : len[i + 1] == 4 ? i + 1 : -1;
            int m = y == i ? i + 1 : i;
            if (y >= 0 && val[y] >= 1800 && val[y] <= 2199 && len[m] <= 2 && val[m] >= 1
                && val[m] <= 12) {
                return true; /* 2021-03, 03-2021 */
            }
        }
    }
    return false;
}

/* A decimal number at *p: digits with thousands groups (",ddd"), then a
 * fraction; advances *p and sets *v (the whole part) and *fraction. */
static bool
s_number (const char **p, double *v, bool *fraction)
{
    const char *q = *p;
    double x = 0;
    int n = 0;
    *fraction = false;
    while (s_is_digit (*q)) {
        x = x * 10 + (*q++ - '0');
        n++;
        if (*q == ',' && hg_all_digits (q + 1, 3) && !s_is_digit (q[4])) {
            q++;
        }
    }
    if (n == 0) {
        return false;
    }
    if (*q == '.' && s_is_digit (q[1])) {
        *fraction = true;
        q++;
        while (s_is_digit (*q)) {
            q++;
        }
    }
    *v = x;
    *p = q;
    return true;
}

static const char *
s_skip_blanks (const char *p)
{
    while (s_is_blank (*p)) {
        p++;
    }
    return p;
}

/* The measurement notations a string value may have. */
typedef enum {
    S_NOT_A_MEASUREMENT,
    S_BARE,       /* 105, 7.2: a number, nothing else */
    S_NOTATION,   /* <0.5, >= 10,000, 45 %, 3+, 1:64: says itself it is measured */
    S_NEEDS_CODE, /* 5.0-10.0, 13:18: a measurement only under a measured code */
} s_shape_t;

/* What comes after a number that is not a whole string value: a ratio or
 * range ("1:64", "5-10", "5.0-10.0"). p is past the first number. */
static s_shape_t
s_measurement_pair (const char *num, const char *p, bool fraction)
{
    char op = *p;
    if (op != '-' && (op != ':' || fraction)) {
        return S_NOT_A_MEASUREMENT;
    }
    const char *den = ++p;
    double v2;
    bool f2;
    if (!s_number (&p, &v2, &f2) || *s_skip_blanks (p)) {
        return S_NOT_A_MEASUREMENT;
    }
    bool titer = op == ':' && den - num == 2 && *num == '1' && *den != '0' && v2 >= 2 && !f2;
    return titer ? S_NOTATION : S_NEEDS_CODE;
}

static s_shape_t
s_measurement (const char *s, double *first)
{
    const char *p = s_skip_blanks (s);
    bool cmp = false, fraction;
    if (*p == '<' || *p == '>') {
        cmp = true;
        p += 1 + (p[1] == '=');
    }
    else if (*p == '=') {
        cmp = true;
        p++;
    }
    p = s_skip_blanks (p);
    const char *num = p;
    if (!s_number (&p, first, &fraction)) {
        return S_NOT_A_MEASUREMENT;
    }
    const char *rest = s_skip_blanks (p);
    if (!*rest) {
        return cmp ? S_NOTATION : S_BARE;
    }
    if (*rest == '%' && !*s_skip_blanks (rest + 1)) {
        return S_NOTATION;
    }
    if (cmp) {
        return S_NOT_A_MEASUREMENT;
    }
    if (*p == '+' && !*s_skip_blanks (p + 1) && p - num == 1 && *num >= '1' && *num <= '4') {
        return S_NOTATION; /* grades 1+ to 4+ */
    }
    return s_measurement_pair (num, p, fraction);
}

/* A VCF genotype: alleles (1 or 2 digits, or '.') joined by '/' or '|'. */
static bool
s_is_genotype (const char *s)
{
    const char *p = s;
    int alleles = 0;
    for (;;) {
        if (*p == '.') {
            p++;
        }
        else if (s_is_digit (*p)) {
            p += 1 + s_is_digit (p[1]);
        }
        else {
            return false;
        }
        alleles++;
        if (!*p) {
            return alleles >= 2;
        }
        if (*p != '/' && *p != '|') {
            return false;
        }
        p++;
    }
}

const char *
hg_deid_string_value (const char *s, const hg_deid_value_ctx_t *vc)
{
    if (!s) {
        return "";
    }
    const char *b, *e;
    s_trim (s, &b, &e);
    if (b == e || s_is_result_word (s)) {
        return s;
    }
    if (vc->genotype && s_is_genotype (s)) {
        return s;
    }
    if (hg_deid_date_like (s)) {
        return HG_DEID_REDACTED;
    }
    double first = 0;
    s_shape_t shape = s_measurement (s, &first);
    if (shape == S_NOT_A_MEASUREMENT) {
        return HG_DEID_REDACTED;
    }
    if (vc->age) {
        return first > 89 ? HG_DEID_AGE_90 : s; /* "89.5" is 89 whole years */
    }
    if (shape == S_NOTATION || vc->quantitative) {
        return s;
    }
    return HG_DEID_REDACTED; /* 123456, 1318, 7.2 under a code not known to be measured */
}

/* ---------------------------------------------------------------------------
 * Units, reference ranges, ages, displays. */

/* LOINC codes whose value is the patient's age. */
static const char *const s_age_loinc[] = {
    "30525-0", /* Age */
    "21612-7", /* Age - reported */
    "21611-9", /* Age - estimated */
    "29553-5", /* Age calculated */
    "63900-5", /* Current age or age at death */
};

/* True when display (trimmed, any case) is "Age" or starts with the word. */
static bool
s_says_age (const char *display)
{
    const char *b, *e;
    if (hg_str_empty (display)) {
        return false;
    }
    s_trim (display, &b, &e);
    return e - b >= 3 && strncasecmp (b, "age", 3) == 0
           && (e - b == 3 || !isalnum ((unsigned char) b[3]));
}

bool
hg_deid_is_age (const Hourglass__Record *rec)
{
    for (size_t i = 0; rec->codes && i < rec->n_codes; i++) {
        const Hourglass__Coding *c = rec->codes[i];
        if (!c) {
            continue;
        }
        if (s_says_age (c->display) || (c->code && strcasecmp (c->code, "age") == 0)) {
            return true;
        }
        for (size_t k = 0; c->system && c->code && strcmp (c->system, HG_SYS_LOINC) == 0
                           && k < sizeof (s_age_loinc) / sizeof (s_age_loinc[0]);
             k++) {
            if (strcmp (c->code, s_age_loinc[k]) == 0) {
                return true;
            }
        }
    }
    return false;
}

/* Years a quantity of an age stands for, by its UCUM unit (years when the
 * unit is empty or not a time: never understated for "over 89"). */
static double
s_age_years_of (const Hourglass__Quantity *q)
{
    static const struct {
        const char *unit;
        double per_year;
    } units[] = {{"mo", 12}, {"wk", 52}, {"d", 365}, {"h", 8760}, {"min", 525600}};
    for (size_t i = 0; q->unit && i < sizeof (units) / sizeof (units[0]); i++) {
        if (strcmp (q->unit, units[i].unit) == 0) {
            return q->value / units[i].per_year;
        }
    }
    return q->value;
}

/* A number of a reference range at *p: an optional '-', 1 to 6 digits, an
 * optional fraction of 1 to 6 digits. Copied to out (16 bytes). */
static bool
s_range_number (const char **p, char out[16])
{
    const char *q = *p;
    size_t n = 0;
    if (*q == '-') {
        out[n++] = *q++;
    }
    size_t whole = 0, frac = 0;
    while (s_is_digit (*q) && whole < 7) {
        out[n++] = *q++;
        whole++;
    }
    if (*q == '.' && s_is_digit (q[1])) {
        out[n++] = *q++;
        while (s_is_digit (*q) && frac < 7) {
            out[n++] = *q++;
            frac++;
        }
    }
    out[n] = '\0';
    if (whole < 1 || whole > 6 || frac > 6 || s_is_digit (*q)) {
        return false;
    }
    *p = q;
    return true;
}

int
hg_deid_reference_range (const char *range, char *out, size_t size)
{
    out[0] = '\0';
    if (hg_str_empty (range)) {
        return 0;
    }
    const char *p = s_skip_blanks (range);
    char cmp[3] = "", low[16], high[16] = "";
    if (*p == '<' || *p == '>') {
        cmp[0] = *p++;
        if (*p == '=') {
            cmp[1] = *p++;
        }
        p = s_skip_blanks (p);
    }
    if (!s_range_number (&p, low)) {
        return HG_EINVAL;
    }
    if (!*cmp && *s_skip_blanks (p) == '-') {
        p = s_skip_blanks (s_skip_blanks (p) + 1);
        if (!s_range_number (&p, high)) {
            return HG_EINVAL;
        }
    }
    else if (!*cmp) {
        return HG_EINVAL; /* a number alone is not a range */
    }
    const char *u = s_skip_blanks (p);
    if (*u && u == p) {
        return HG_EINVAL; /* "5mg": the unit stuck to the number */
    }
    char unit[HG_UCUM_MAX + 1];
    int rc = hg_ucum_check (u, unit, NULL);
    snprintf (out, size, "%s%s%s%s%s%s", cmp, low, *high ? "-" : "", high,
              rc == 0 && *unit ? " " : "", rc == 0 ? unit : "");
    return rc < 0 ? 1 : 0;
}

/* Appends a flag code to the record unless it is there already. */
static int
s_add_flag (hg_arena_t *arena, Hourglass__Record *rec, const char *code)
{
    for (size_t i = 0; rec->flags && i < rec->n_flags; i++) {
        if (rec->flags[i] && strcmp (rec->flags[i], code) == 0) {
            return 0;
        }
    }
    return hg_strv_push (arena, &rec->flags, &rec->n_flags, code);
}

/* Reference range and quantity unit: numbers and UCUM only. Sets
 * *quantitative when the record keeps a numeric reference range. */
static int
s_deid_units (hg_arena_t *arena, Hourglass__Record *rec, bool *quantitative)
{
    *quantitative = false;
    if (!hg_str_empty (rec->reference_range)) {
        char range[128];
        int rc = hg_deid_reference_range (rec->reference_range, range, sizeof (range));
        const char *flag = rc < 0   ? HG_DEID_FLAG_RANGE_NOT_NUMERIC
                           : rc > 0 ? HG_DEID_FLAG_UNIT_NOT_UCUM
                                    : NULL;
        if (flag && s_add_flag (arena, rec, flag) < 0) {
            return HG_ENOMEM;
        }
        rec->reference_range = *range ? hg_arena_strdup (arena, range) : S_EMPTY;
        if (!rec->reference_range) {
            return HG_ENOMEM;
        }
        *quantitative = *range != '\0';
    }
    if (rec->value_case == HOURGLASS__RECORD__VALUE_QUANTITY && rec->quantity
        && !hg_str_empty (rec->quantity->unit)) {
        char unit[HG_UCUM_MAX + 1];
        if (hg_ucum_check (rec->quantity->unit, unit, NULL) < 0) {
            if (s_add_flag (arena, rec, HG_DEID_FLAG_UNIT_NOT_UCUM) < 0) {
                return HG_ENOMEM;
            }
        }
        if (strcmp (unit, rec->quantity->unit) != 0
            && !(rec->quantity->unit = *unit ? hg_arena_strdup (arena, unit) : S_EMPTY)) {
            return HG_ENOMEM;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------------------
 * Status and interpretation: codes of known value sets only. */

/* FHIR status value sets of the resources parsed (Observation, Condition
 * clinicalStatus, MedicationRequest, Procedure, Immunization, Encounter,
 * DiagnosticReport, ImagingStudy), HL7 v2 tables 0085 (OBX-11), 0038 (ORC-5)
 * and 0322 (RXA-20), and the VCF FILTER "PASS". */
static const char *const s_status_codes[] = {
    "registered",
    "preliminary",
    "final",
    "amended",
    "corrected",
    "cancelled",
    "entered-in-error",
    "unknown",
    "active",
    "recurrence",
    "relapse",
    "inactive",
    "remission",
    "resolved",
    "on-hold",
    "completed",
    "stopped",
    "draft",
    "preparation",
    "in-progress",
    "not-done",
    "planned",
    "arrived",
    "triaged",
    "onleave",
    "finished",
    "partial",
    "appended",
    "available",
    "A",
    "B",
    "C",
    "D",
    "F",
    "I",
    "N",
    "O",
    "P",
    "R",
    "S",
    "U",
    "V",
    "W",
    "X",
    "CA",
    "CM",
    "DC",
    "ER",
    "HD",
    "IP",
    "RP",
    "SC",
    "CP",
    "RE",
    "NA",
    "PA",
    "PASS",
};

/* HL7 v2 table 0078 and the FHIR v3 ObservationInterpretation codes. */
static const char *const s_interpretation_codes[] = {
    "L",   "H",   "LL",  "HH",    "<",     ">",   "N",   "A",   "AA",  "U",   "D",  "B",
    "W",   "S",   "R",   "I",     "MS",    "VS",  "NEG", "POS", "IND", "DET", "ND", "E",
    "EX",  "HX",  "LX",  "NR",    "RR",    "QCF", "TOX", "WR",  "NS",  "HU",  "LU", "IE",
    "NCL", "NDD", "SDD", "SYN-R", "SYN-S", "EXP", "UNE", "CAR", "AC",
};

/* True when s, trimmed, is one of codes (any case). */
static bool
s_in_codes (const char *s, const char *const *codes, size_t n)
{
    const char *b, *e;
    s_trim (s, &b, &e);
    for (size_t i = 0; i < n; i++) {
        if (strlen (codes[i]) == (size_t) (e - b)
            && strncasecmp (codes[i], b, (size_t) (e - b)) == 0) {
            return true;
        }
    }
    return false;
}

bool
hg_deid_status_ok (const char *status)
{
    return hg_str_empty (status)
           || s_in_codes (status, s_status_codes,
                          sizeof (s_status_codes) / sizeof (s_status_codes[0]));
}

bool
hg_deid_interpretation_ok (const char *interpretation)
{
    return hg_str_empty (interpretation)
           || s_in_codes (interpretation, s_interpretation_codes,
                          sizeof (s_interpretation_codes) / sizeof (s_interpretation_codes[0]));
}

/* True when s is one of the NULL-terminated words (exactly). */
static bool
s_one_of (const char *s, const char *const *words)
{
    for (; *words; words++) {
        if (strcmp (s, *words) == 0) {
            return true;
        }
    }
    return false;
}

/* status and interpretation outside their value sets are removed, flagged;
 * a comparator or sex the cleanser would never write (the parsers check
 * them; this is the boundary's own check) is removed, sex as "unknown". */
static int
s_deid_status (hg_arena_t *arena, Hourglass__Record *rec)
{
    static const char *const comparators[] = {"", "<", "<=", ">=", ">", NULL};
    static const char *const sexes[] = {"", "male", "female", "other", "unknown", NULL};
    if (rec->value_case == HOURGLASS__RECORD__VALUE_QUANTITY && rec->quantity
        && rec->quantity->comparator && !s_one_of (rec->quantity->comparator, comparators)) {
        rec->quantity->comparator = S_EMPTY;
    }
    if (rec->demographics && rec->demographics->sex
        && !s_one_of (rec->demographics->sex, sexes)) {
        rec->demographics->sex = (char *) "unknown";
    }
    if (!hg_deid_status_ok (rec->status)) {
        rec->status = S_EMPTY;
        if (s_add_flag (arena, rec, HG_DEID_FLAG_STATUS_NOT_CODED) < 0) {
            return HG_ENOMEM;
        }
    }
    if (!hg_deid_interpretation_ok (rec->interpretation)) {
        rec->interpretation = S_EMPTY;
        if (s_add_flag (arena, rec, HG_DEID_FLAG_INTERPRETATION_NOT_CODED) < 0) {
            return HG_ENOMEM;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------------------
 * Free text. */

/* What the text of a record is scrubbed with: its patient's pseudonym and
 * date shift. */
typedef struct {
    const hg_deid_ctx_t *ctx;
    hg_arena_t *arena;
    const char *patient;
    int shift;
} s_text_t;

/* True when s has two letters in a row: free text, not a number, a date or
 * a code of digits. */
static bool
s_has_words (const char *s)
{
    for (const unsigned char *p = (const unsigned char *) s; *p && p[1]; p++) {
        if ((isalpha (p[0]) || p[0] >= 0x80) && (isalpha (p[1]) || p[1] >= 0x80)) {
            return true;
        }
    }
    return false;
}

/* True when what the spans leave of text is date-like (hg_deid_date_like):
 * a short value whose date the scrubber did not take ("due 7-22"). */
static bool
s_left_date_like (hg_arena_t *arena, const char *text, size_t len, const hg_scrub_span_t *sp,
                  size_t n, bool *oom)
{
    char *left = hg_arena_alloc (arena, len + 1);
    if (!left) {
        *oom = true;
        return true;
    }
    memcpy (left, text, len);
    left[len] = '\0';
    for (size_t k = 0; k < n; k++) {
        memset (left + sp[k].start, ' ', sp[k].end - sp[k].start);
    }
    return hg_deid_date_like (left);
}

/* text scrubbed into the arena, or NULL when it must not pass (scrubbing
 * failed, a known value is left, or, for a value, a date-like rest);
 * *oom when the arena is full. */
static char *
s_scrub (const s_text_t *t, const char *text, bool value, bool *oom)
{
    const hg_deid_ctx_t *ctx = t->ctx;
    size_t len = strlen (text);
    const hg_scrub_span_t *sp;
    size_t n;
    if (len > 0xFFFFFFF0u) {
        return NULL; /* the scrubber would take only its first 4 GiB */
    }
    hg_scrub_set_known (ctx->scrub, ctx->known);
    int rc = hg_scrub_find (ctx->scrub, text, len, &sp, &n);
    hg_scrub_set_known (ctx->scrub, NULL);
    if (rc != 0) {
        return NULL;
    }
    if (value && s_left_date_like (t->arena, text, len, sp, n, oom)) {
        return NULL;
    }
    hg_scrub_replace_t rep = {.shift_days = t->shift,
                              .key = ctx->surrogate_key,
                              .patient = t->patient};
    size_t cap = len + len / 4 + 64;
    char *out = hg_arena_alloc (t->arena, cap);
    size_t need = out ? hg_scrub_replace (text, len, sp, n, &rep, out, cap) : 0;
    if (out && need >= cap && (out = hg_arena_alloc (t->arena, need + 1))) {
        hg_scrub_replace (text, len, sp, n, &rep, out, need + 1);
    }
    if (!out) {
        *oom = true;
        return NULL;
    }
    if (ctx->known && hg_scrub_lexicon_occurs (ctx->known, out, need, 4)) {
        return NULL; /* a value known to identify the patient survived: fail closed */
    }
    return out;
}

/* Record.text: scrubbed, or removed (flagged) when it cannot be. */
static int
s_deid_text (const s_text_t *t, Hourglass__Record *rec)
{
    if (hg_str_empty (rec->text) || !t->ctx->scrub) {
        rec->text = S_EMPTY;
        return 0;
    }
    bool oom = false;
    char *out = s_scrub (t, rec->text, false, &oom);
    hg_deid_text_stats_t *st = t->ctx->text_stats;
    if (out) {
        rec->text = out;
        if (st) {
            st->scrubbed++;
        }
        return 0;
    }
    rec->text = S_EMPTY;
    if (st) {
        st->dropped++;
    }
    return oom ? HG_ENOMEM : s_add_flag (t->arena, rec, HG_DEID_FLAG_TEXT_DROPPED);
}

/* The value: string values by hg_deid_string_value, ages over 89 (as
 * quantities or strings) "90+"; then every display dropped. */
static int
s_deid_value (const s_text_t *t, Hourglass__Record *rec, bool quantitative)
{
    hg_arena_t *arena = t->arena;
    hg_deid_value_ctx_t vc = {
        .quantitative = quantitative,
        .age = hg_deid_is_age (rec),
        .genotype = rec->kind == HOURGLASS__RECORD_KIND__KIND_GENOMIC_VARIANT,
    };
    const Hourglass__Quantity *q = rec->value_case == HOURGLASS__RECORD__VALUE_QUANTITY
                                       ? rec->quantity
                                       : NULL;
    if (q && vc.age && !(s_age_years_of (q) < 90)) {
        rec->quantity = NULL;
        rec->value_case = HOURGLASS__RECORD__VALUE_STRING_VALUE;
        rec->string_value = (char *) HG_DEID_AGE_90;
    }
    else if (q && !vc.age && !quantitative && hg_str_empty (q->unit) && !(fabs (q->value) < 1000)
             && q->value == floor (q->value)) {
        /* a digit run with no unit under a code not known to be measured: a
         * specimen barcode, a time 1318, a year or a date sent as NM */
        rec->quantity = NULL;
        rec->value_case = HOURGLASS__RECORD__VALUE_STRING_VALUE;
        rec->string_value = (char *) HG_DEID_REDACTED;
    }
    else if (rec->value_case == HOURGLASS__RECORD__VALUE_STRING_VALUE) {
        const char *v = hg_deid_string_value (rec->string_value, &vc);
        if (v != rec->string_value && strcmp (v, HG_DEID_REDACTED) == 0 && t->ctx->scrub
            && rec->string_value && s_has_words (rec->string_value)) {
            /* free text: scrubbed, or redacted when it cannot be */
            bool oom = false;
            char *out = s_scrub (t, rec->string_value, true, &oom);
            if (oom) {
                return HG_ENOMEM;
            }
            hg_deid_text_stats_t *st = t->ctx->text_stats;
            if (st) {
                (*(out ? &st->scrubbed : &st->dropped))++;
            }
            v = out ? out : HG_DEID_REDACTED;
        }
        if (v != rec->string_value && !(rec->string_value = hg_arena_strdup (arena, v))) {
            return HG_ENOMEM;
        }
    }
    for (size_t i = 0; rec->codes && i < rec->n_codes; i++) {
        if (rec->codes[i]) {
            rec->codes[i]->display = S_EMPTY;
        }
    }
    if (rec->value_case == HOURGLASS__RECORD__VALUE_CODE_VALUE && rec->code_value) {
        rec->code_value->display = S_EMPTY;
    }
    return 0;
}

/* ---------------------------------------------------------------------------
 * State and country: codes only. */

static const struct {
    const char *code, *name;
} s_us_states[] = {
    {"AL", "alabama"},
    {"AK", "alaska"},
    {"AZ", "arizona"},
    {"AR", "arkansas"},
    {"CA", "california"},
    {"CO", "colorado"},
    {"CT", "connecticut"},
    {"DE", "delaware"},
    {"DC", "district of columbia"},
    {"FL", "florida"},
    {"GA", "georgia"},
    {"HI", "hawaii"},
    {"ID", "idaho"},
    {"IL", "illinois"},
    {"IN", "indiana"},
    {"IA", "iowa"},
    {"KS", "kansas"},
    {"KY", "kentucky"},
    {"LA", "louisiana"},
    {"ME", "maine"},
    {"MD", "maryland"},
    {"MA", "massachusetts"},
    {"MI", "michigan"},
    {"MN", "minnesota"},
    {"MS", "mississippi"},
    {"MO", "missouri"},
    {"MT", "montana"},
    {"NE", "nebraska"},
    {"NV", "nevada"},
    {"NH", "new hampshire"},
    {"NJ", "new jersey"},
    {"NM", "new mexico"},
    {"NY", "new york"},
    {"NC", "north carolina"},
    {"ND", "north dakota"},
    {"OH", "ohio"},
    {"OK", "oklahoma"},
    {"OR", "oregon"},
    {"PA", "pennsylvania"},
    {"RI", "rhode island"},
    {"SC", "south carolina"},
    {"SD", "south dakota"},
    {"TN", "tennessee"},
    {"TX", "texas"},
    {"UT", "utah"},
    {"VT", "vermont"},
    {"VA", "virginia"},
    {"WA", "washington"},
    {"WV", "west virginia"},
    {"WI", "wisconsin"},
    {"WY", "wyoming"},
    {"PR", "puerto rico"},
    {"GU", "guam"},
    {"VI", "virgin islands"},
    {"AS", "american samoa"},
    {"MP", "northern mariana islands"},
};

/* Writes s, trimmed and upper-cased, to out (4 bytes) when it is 2 or 3
 * letters or digits (min..3 of them); false otherwise. */
static bool
s_short_code (const char *s, size_t min, char out[4])
{
    const char *b, *e;
    s_trim (s, &b, &e);
    size_t n = (size_t) (e - b);
    if (n < min || n > 3) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!isalnum ((unsigned char) b[i])) {
            out[0] = '\0'; /* found by fuzz_deid: "0/1" left "0" and garbage */
            return false;
        }
        out[i] = (char) toupper ((unsigned char) b[i]);
    }
    out[n] = '\0';
    return true;
}

void
hg_deid_state_code (const char *state, char out[4])
{
    out[0] = '\0';
    if (hg_str_empty (state) || s_short_code (state, 2, out)) {
        return;
    }
    const char *b, *e;
    s_trim (state, &b, &e);
    for (size_t i = 0; i < sizeof (s_us_states) / sizeof (s_us_states[0]); i++) {
        if (strlen (s_us_states[i].name) == (size_t) (e - b)
            && strncasecmp (s_us_states[i].name, b, (size_t) (e - b)) == 0) {
            memcpy (out, s_us_states[i].code, 3);
            return;
        }
    }
}

void
hg_deid_country_code (const char *country, char out[4])
{
    out[0] = '\0';
    if (hg_str_empty (country) || s_short_code (country, 2, out)) {
        return;
    }
    if (s_country_is_us (country)) {
        memcpy (out, "US", 3);
    }
}

/* state and country replaced by their codes; anything else removed and
 * flagged. */
static int
s_deid_place (hg_arena_t *arena, Hourglass__Record *rec, Hourglass__Demographics *dm)
{
    char code[4];
    char **fields[] = {&dm->state, &dm->country};
    for (int i = 0; i < 2; i++) {
        if (hg_str_empty (*fields[i])) {
            *fields[i] = S_EMPTY;
            continue;
        }
        (i == 0 ? hg_deid_state_code : hg_deid_country_code) (*fields[i], code);
        if (!*code && s_add_flag (arena, rec, HG_DEID_FLAG_PLACE_NOT_CODED) < 0) {
            return HG_ENOMEM;
        }
        if (strcmp (code, *fields[i]) != 0
            && !(*fields[i] = *code ? hg_arena_strdup (arena, code) : S_EMPTY)) {
            return HG_ENOMEM;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------------------
 * Code systems: standard terminologies pass, every other code is partner text.
 *
 * The terminologies whose codes mean the same everywhere and identify no one:
 * the canonical URIs the cleanser writes (services/cleanser/codesys.c, whose
 * table the unit test checks this list against) minus its identifier systems
 * (NPI, SSN, DICOM UIDs: a "code" there is a person's or a study's number),
 * each with the shape its codes have. */
typedef enum {
    S_SHAPE_LOINC,   /* [LA|LP|..]digits-digit */
    S_SHAPE_DIGITS,  /* SNOMED CT (6-18), RxNorm, CVX */
    S_SHAPE_ICD,     /* ICD-10(-CM), ICD-9-CM, ICD-10-PCS, CPT: upper case, digits, '.' */
    S_SHAPE_NDC,     /* digits and '-' */
    S_SHAPE_UCUM,    /* hg_ucum_check */
    S_SHAPE_UPPER,   /* ActCode, DICOM: upper case, digits, '_' */
    S_SHAPE_GENE,    /* HGNC symbols: upper case, digits, '-', "orf" */
    S_SHAPE_RSID,    /* rs digits */
    S_SHAPE_VARIANT, /* CHROM-POS-REF-ALT */
} s_shape_code_t;

static const struct {
    const char *uri;
    s_shape_code_t shape;
} s_terms[] = {
    {HG_SYS_LOINC, S_SHAPE_LOINC},
    {HG_SYS_SNOMED, S_SHAPE_DIGITS},
    {HG_SYS_ICD10CM, S_SHAPE_ICD},
    {HG_SYS_ICD9CM, S_SHAPE_ICD},
    {HG_SYS_RXNORM, S_SHAPE_DIGITS},
    {HG_SYS_CVX, S_SHAPE_DIGITS},
    {HG_SYS_UCUM, S_SHAPE_UCUM},
    {"http://hl7.org/fhir/sid/ndc", S_SHAPE_NDC},
    {"http://terminology.hl7.org/CodeSystem/v3-ActCode", S_SHAPE_UPPER},
    {"http://dicom.nema.org/resources/ontology/DCM", S_SHAPE_UPPER},
    {"http://dicom.nema.org/medical/dicom/current/output/chtml/part16/chapter_L.html",
     S_SHAPE_UPPER},
    {"http://www.genenames.org", S_SHAPE_GENE},
    {"http://www.ncbi.nlm.nih.gov/projects/SNP", S_SHAPE_RSID},
    {"https://hourglass.local/variant", S_SHAPE_VARIANT},
    {"http://hl7.org/fhir/sid/icd-10", S_SHAPE_ICD},
    {"http://www.ama-assn.org/go/cpt", S_SHAPE_ICD},
    {"http://www.cms.gov/Medicare/Coding/ICD10", S_SHAPE_ICD},
};
#define S_N_TERMS (sizeof (s_terms) / sizeof (s_terms[0]))

const char *const *
hg_deid_terminologies (size_t *n)
{
    static const char *uris[S_N_TERMS];
    for (size_t i = 0; i < S_N_TERMS; i++) {
        uris[i] = s_terms[i].uri;
    }
    *n = S_N_TERMS;
    return uris;
}

static int
s_term_of (const char *system)
{
    for (size_t i = 0; system && i < S_N_TERMS; i++) {
        if (strcmp (system, s_terms[i].uri) == 0) {
            return (int) i;
        }
    }
    return -1;
}

bool
hg_deid_is_terminology (const char *system)
{
    return s_term_of (system) >= 0;
}

/* n characters of s from set (and digits when digits), at least one. */
static bool
s_all_of (const char *s, size_t n, const char *set, bool digits)
{
    for (size_t i = 0; i < n; i++) {
        if (!(digits && s_is_digit (s[i])) && !strchr (set, s[i])) {
            return false;
        }
    }
    return n > 0;
}

#define S_UPPER "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

/* CHROM-POS-REF-ALT (vcf.c): a chromosome 1-2 digits, X, Y, M or MT, a
 * position, alleles of bases (any case; ALT may be '*'). A contig name or a
 * symbolic allele ("<DEL>") is not a shape we can vouch for. */
static bool
s_variant_shape (const char *code)
{
    const char *part[4];
    size_t len[4];
    const char *p = code;
    for (int i = 0; i < 4; i++) {
        const char *d = strchr (p, '-');
        if ((d == NULL) != (i == 3)) {
            return false;
        }
        part[i] = p;
        len[i] = d ? (size_t) (d - p) : strlen (p);
        p = d ? d + 1 : p;
    }
    bool chrom = (len[0] <= 2 && s_all_of (part[0], len[0], "", true))
                 || (len[0] == 1 && strchr ("XYM", part[0][0]))
                 || (len[0] == 2 && memcmp (part[0], "MT", 2) == 0);
    return chrom && s_all_of (part[1], len[1], "", true)
           && s_all_of (part[2], len[2], "ACGTNacgtn", false)
           && s_all_of (part[3], len[3], "ACGTNacgtn*", false);
}

bool
hg_deid_code_shape_ok (const char *system, const char *code)
{
    int t = s_term_of (system);
    size_t n = code ? strlen (code) : 0;
    if (t < 0 || n == 0 || n > 32) {
        return false;
    }
    const char *dash = strchr (code, '-');
    switch (s_terms[t].shape) {
    case S_SHAPE_LOINC: {
        size_t p = code[0] == 'L' && code[1] && strchr ("AP", code[1]) ? 2 : 0;
        return dash && dash[1] && !dash[2] && s_is_digit (dash[1])
               && s_all_of (code + p, (size_t) (dash - code) - p, "", true)
               && dash - code - (long) p <= 7;
    }
    case S_SHAPE_DIGITS:
        return n <= 18 && s_all_of (code, n, "", true);
    case S_SHAPE_ICD:
        return n >= 3 && n <= 8 && s_all_of (code, n, S_UPPER ".", true)
               && (s_is_digit (code[0]) || s_is_digit (code[1]) || s_is_digit (code[2]));
    case S_SHAPE_NDC:
        return n <= 13 && s_all_of (code, n, "-", true);
    case S_SHAPE_UCUM: {
        char unit[HG_UCUM_MAX + 1];
        return hg_ucum_check (code, unit, NULL) == 0;
    }
    case S_SHAPE_UPPER:
        return n <= 24 && s_all_of (code, n, S_UPPER "_", true);
    case S_SHAPE_GENE: {
        const char *orf = strstr (code, "orf");
        return n <= 16
               && (orf ? s_all_of (code, (size_t) (orf - code), S_UPPER "-", true)
                             && s_all_of (orf + 3, strlen (orf + 3), S_UPPER "-", true)
                       : s_all_of (code, n, S_UPPER "-", true));
    }
    case S_SHAPE_RSID:
        return n > 2 && code[0] == 'r' && code[1] == 's' && s_all_of (code + 2, n - 2, "", true);
    case S_SHAPE_VARIANT:
        return s_variant_shape (code);
    }
    return false;
}

/* A coding outside the terminologies, or whose code has not the shape of its
 * terminology's codes (a name sent as a LOINC code): its code becomes the keyed pseudonym
 * ("code", partner) of "system|code" under HG_DEID_LOCAL_SYSTEM, so a local
 * code still counts as one concept; a system without a code is removed. */
static int
s_deid_coding (const hg_deid_ctx_t *ctx, hg_arena_t *arena, const char *partner,
               Hourglass__Coding *c)
{
    if (!c || hg_deid_code_shape_ok (c->system, c->code)) {
        return 0;
    }
    if (hg_str_empty (c->code)) {
        c->system = S_EMPTY;
        c->code = S_EMPTY;
        return 0;
    }
    char *id = hg_arena_printf (arena, "%s|%s", c->system ? c->system : "", c->code);
    char *out = hg_arena_alloc (arena, HG_PSEUDONYM_HEX + 1);
    if (!id || !out) {
        return HG_ENOMEM;
    }
    hg_pseudonym (ctx->key, "code", partner, id, out);
    c->system = (char *) HG_DEID_LOCAL_SYSTEM;
    c->code = out;
    return 0;
}

static int
s_deid_codes (const hg_deid_ctx_t *ctx, hg_arena_t *arena, Hourglass__Record *rec,
              const char *partner)
{
    for (size_t i = 0; rec->codes && i < rec->n_codes; i++) {
        if (s_deid_coding (ctx, arena, partner, rec->codes[i]) < 0) {
            return HG_ENOMEM;
        }
    }
    if (rec->value_case == HOURGLASS__RECORD__VALUE_CODE_VALUE
        && s_deid_coding (ctx, arena, partner, rec->code_value) < 0) {
        return HG_ENOMEM;
    }
    return 0;
}

/* ---------------------------------------------------------------------------
 * Quarantine reasons. */

void
hg_deid_withhold_values (const char *reason, char *out, size_t size)
{
    size_t o = 0;
    bool quoted = false;
    for (const char *p = reason; *p && o + 16 < size; p++) {
        if (*p == '\'') {
            if (!quoted) {
                memcpy (out + o, "'[withheld]'", 12);
                o += 12;
            }
            quoted = !quoted;
        }
        else if (!quoted) {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
}

/* ---------------------------------------------------------------------------
 * The values that identify a record's patient, for its notes. */

static int
s_known (hg_scrub_lexicon_t *known, hg_scrub_type_t type, const char *v)
{
    if (!v || strlen (v) < 2) {
        return 0;
    }
    hg_err_t e;
    hg_err_clear (&e);
    int rc = hg_scrub_lexicon_add (known, type, v, strlen (v), &e);
    return rc == HG_ENOMEM ? HG_ENOMEM : 0; /* no word in it: nothing to match */
}

int
hg_deid_known_add (hg_scrub_lexicon_t *known, const Hourglass__Record *rec)
{
    int rc = s_known (known, HG_SCRUB_ID, rec->patient_ref);
    for (size_t i = 0; rc == 0 && rec->identifiers && i < rec->n_identifiers; i++) {
        rc = rec->identifiers[i] ? s_known (known, HG_SCRUB_ID, rec->identifiers[i]->value) : 0;
    }
    const Hourglass__Demographics *d = rec->demographics;
    if (rc < 0 || !d) {
        return rc;
    }
    rc = s_known (known, HG_SCRUB_NAME, d->family);
    for (size_t i = 0; rc == 0 && d->given && i < d->n_given; i++) {
        rc = s_known (known, HG_SCRUB_NAME, d->given[i]);
    }
    for (size_t i = 0; rc == 0 && d->address_lines && i < d->n_address_lines; i++) {
        const char *line = d->address_lines[i];
        rc = s_known (known, HG_SCRUB_LOCATION, line);
        if (rc == 0 && line && s_is_digit (*line)) {
            const char *street = line + strspn (line, "0123456789-/ ");
            rc = s_known (known, HG_SCRUB_LOCATION, street); /* "Elm Street" of "12 Elm Street" */
        }
    }
    if (rc == 0) {
        rc = s_known (known, HG_SCRUB_LOCATION, d->city);
    }
    if (rc == 0) {
        rc = s_known (known, HG_SCRUB_LOCATION, d->postal_code);
    }
    for (size_t i = 0; rc == 0 && d->telecom && i < d->n_telecom; i++) {
        rc = s_known (known, HG_SCRUB_PHONE, d->telecom[i]);
    }
    return rc;
}

/* ---------------------------------------------------------------------------
 * The record. */

static int
s_oom (hg_err_t *err)
{
    return hg_err_set (err, HG_ENOMEM,
                       "out of memory while de-identifying the record (batch arena "
                       "limit reached)");
}

void
hg_deid_memo_clear (hg_deid_memos_t *memos)
{
    sodium_memzero (memos, sizeof (*memos));
}

static bool
s_memo_hit (const hg_deid_memo_t *m, const char *partner, const char *id)
{
    return m && m->valid && strcmp (m->id, id) == 0 && strcmp (m->partner, partner) == 0;
}

/* Remembers id -> pseudonym (ids too long to keep are not memoised). */
static void
s_memo_keep (hg_deid_memo_t *m, const char *partner, const char *id, const char *pseudonym,
             int shift)
{
    if (!m) {
        return;
    }
    size_t pl = strlen (partner), il = strlen (id);
    m->valid = pl <= HG_DEID_MEMO_MAX && il <= HG_DEID_MEMO_MAX;
    if (m->valid) {
        memcpy (m->partner, partner, pl + 1);
        memcpy (m->id, id, il + 1);
        memcpy (m->pseudonym, pseudonym, HG_PSEUDONYM_HEX + 1);
        m->shift = shift;
    }
}

/* Replaces *field with the keyed pseudonym of its value when non-empty
 * (memo: the domain's last id, may be NULL). */
static int
s_pseudonymise (const hg_deid_ctx_t *ctx, hg_arena_t *arena, const char *domain,
                const char *partner, char **field, hg_deid_memo_t *memo, hg_err_t *err)
{
    if (hg_str_empty (*field)) {
        *field = S_EMPTY;
        return 0;
    }
    char *out = hg_arena_alloc (arena, HG_PSEUDONYM_HEX + 1);
    if (!out) {
        return s_oom (err);
    }
    if (s_memo_hit (memo, partner, *field)) {
        memcpy (out, memo->pseudonym, HG_PSEUDONYM_HEX + 1);
    }
    else {
        hg_pseudonym (ctx->key, domain, partner, *field, out);
        s_memo_keep (memo, partner, *field, out, 0);
    }
    *field = out;
    return 0;
}

/* Shifts the ISO date in *field by shift days, precision and zone kept. */
static int
s_shift_date (hg_arena_t *arena, const char *name, char **field, int shift, hg_err_t *err)
{
    if (hg_str_empty (*field)) {
        *field = S_EMPTY;
        return 0;
    }
    hg_date_t d;
    hg_err_t perr;
    hg_err_clear (&perr);
    if (hg_date_parse_iso (*field, strlen (*field), &d, &perr) < 0) {
        return hg_err_set (err, HG_EINVAL, "%s %s", name, perr.msg);
    }
    hg_date_add_days (&d, shift);
    if (d.year < 1 || d.year > 9999) {
        return hg_err_set (err, HG_EINVAL,
                           "%s '%.40s' cannot be date-shifted: the result falls "
                           "outside the years 0001-9999",
                           name, *field);
    }
    char buf[HG_DATE_ISO_MAX];
    hg_date_format_iso (&d, buf, sizeof (buf));
    char *out = hg_arena_strdup (arena, buf);
    if (!out) {
        return s_oom (err);
    }
    *field = out;
    return 0;
}

/* Whole years from the birth date to today. Below day precision the first
 * possible day is taken, which never understates the age (so "over 89" is
 * never missed). */
static int
s_age_years (const hg_date_t *birth, int64_t today_days)
{
    int ty, tm, td;
    hg_date_from_days (today_days, &ty, &tm, &td);
    int age = ty - birth->year;
    if (tm < birth->month || (tm == birth->month && td < birth->day)) {
        age--;
    }
    return age;
}

/* The kept birth year: the birth date (its first possible day below day
 * precision) shifted like the patient's other dates at each precision a
 * record can have (a year is shifted from its middle, a month from its
 * 15th, a day as it is: hg_date_add_days), the smallest year of the three.
 * A date of the patient at any precision whose period does not end before
 * the birth date then shifts to this year or later. */
static int
s_kept_birth_year (const hg_date_t *birth, int shift)
{
    int year = 0;
    for (int prec = HG_PREC_YEAR; prec <= HG_PREC_DAY; prec++) {
        hg_date_t d = *birth;
        d.month = birth->prec < HG_PREC_MONTH ? 1 : birth->month;
        d.day = birth->prec < HG_PREC_DAY ? 1 : birth->day;
        d.prec = prec;
        hg_date_add_days (&d, shift);
        year = year == 0 || d.year < year ? d.year : year;
    }
    return year;
}

static int
s_deid_demographics (const hg_deid_ctx_t *ctx, hg_arena_t *arena, Hourglass__Demographics *dm,
                     int shift, hg_err_t *err)
{
    /* generalised values are derived here and nowhere else: whatever came in
     * those fields is discarded */
    dm->birth_year = 0;
    dm->age_group = S_EMPTY;
    dm->postal_prefix = S_EMPTY;
    if (!hg_str_empty (dm->birth_date)) {
        hg_date_t birth;
        hg_err_t perr;
        hg_err_clear (&perr);
        if (hg_date_parse_iso (dm->birth_date, strlen (dm->birth_date), &birth, &perr) < 0) {
            return hg_err_set (err, HG_EINVAL, "birth_date %s", perr.msg);
        }
        if (hg_date_days (&birth) > ctx->today_days) {
            return hg_err_set (err, HG_EINVAL,
                               "birth_date '%.40s' is after the reference date; "
                               "check the source record or the de-identifier's clock",
                               dm->birth_date);
        }
        int age = s_age_years (&birth, ctx->today_days);
        if (!(dm->age_group = hg_arena_strdup (arena, hg_deid_age_group (age)))) {
            return s_oom (err);
        }
        int year = s_kept_birth_year (&birth, shift);
        if (year < 1 || year > 9999) {
            return hg_err_set (err, HG_EINVAL,
                               "birth_date '%.40s' cannot be date-shifted: the result falls "
                               "outside the years 0001-9999",
                               dm->birth_date);
        }
        dm->birth_year = age > 89 ? 0 : year;
    }
    char prefix[4];
    hg_deid_postal_prefix (dm->postal_code, dm->country, prefix);
    if (*prefix && !(dm->postal_prefix = hg_arena_strdup (arena, prefix))) {
        return s_oom (err);
    }
    int rc = s_shift_date (arena, "deceased_date", &dm->deceased_date, shift, err);
    if (rc < 0) {
        return rc;
    }
    dm->family = S_EMPTY;
    dm->given = NULL;
    dm->n_given = 0;
    dm->birth_date = S_EMPTY;
    dm->address_lines = NULL;
    dm->n_address_lines = 0;
    dm->city = S_EMPTY;
    dm->postal_code = S_EMPTY;
    dm->telecom = NULL;
    dm->n_telecom = 0;
    return 0;
}

int
hg_deid_record (const hg_deid_ctx_t *ctx, hg_arena_t *arena, Hourglass__Record *rec,
                hg_err_t *err)
{
    if (!ctx || !ctx->key || !arena || !rec) {
        return hg_err_set (err, HG_EINVAL,
                           "hg_deid_record called without a key, arena or record");
    }
    if (sodium_init () < 0) {
        return hg_err_set (err, HG_EIO, "libsodium could not be initialised");
    }
    if (rec->pseudonymous) {
        return hg_err_set (err, HG_EINVAL,
                           "record is already pseudonymous; a record must not be "
                           "de-identified twice (is a de-identifier upstream of "
                           "this one?)");
    }
    Hourglass__Provenance *pv = rec->provenance;
    if (!pv) {
        return hg_err_set (err, HG_EINVAL, "record has no provenance, so its partner is unknown");
    }
    if (hg_str_empty (pv->partner)) {
        return hg_err_set (err, HG_EINVAL,
                           "record provenance has no partner; pseudonyms are "
                           "scoped by partner");
    }
    if (hg_str_empty (rec->patient_ref)) {
        return hg_err_set (err, HG_EINVAL, "record has no patient reference");
    }
    const char *partner = pv->partner;
    hg_deid_memos_t *memos = ctx->memos;
    int shift;
    char *patient = hg_arena_alloc (arena, HG_PSEUDONYM_HEX + 1);
    if (!patient) {
        return s_oom (err);
    }
    if (memos && s_memo_hit (&memos->patient, partner, rec->patient_ref)) {
        memcpy (patient, memos->patient.pseudonym, HG_PSEUDONYM_HEX + 1);
        shift = memos->patient.shift;
    }
    else {
        hg_pseudonym (ctx->key, "patient", partner, rec->patient_ref, patient);
        shift = hg_dateshift_days (ctx->key, patient);
        if (memos) {
            s_memo_keep (&memos->patient, partner, rec->patient_ref, patient, shift);
        }
    }
    rec->patient_ref = patient;
    rec->pseudonymous = true;

    int rc;
    if ((rc = s_pseudonymise (ctx, arena, "record", "", &rec->record_id, NULL, err)) < 0
        || (rc = s_pseudonymise (ctx, arena, "encounter", partner, &rec->encounter_ref,
                                 memos ? &memos->encounter : NULL, err))
               < 0
        || (rc = s_pseudonymise (ctx, arena, "message", partner, &pv->source_message_id,
                                 memos ? &memos->message : NULL, err))
               < 0
        || (rc = s_pseudonymise (ctx, arena, "source", partner, &pv->source_record_id, NULL, err))
               < 0) {
        return rc;
    }
    rec->identifiers = NULL;
    rec->n_identifiers = 0;
    /* raw site-defined segments can hold anything: they never pass */
    pv->z_segments = NULL;
    pv->n_z_segments = 0;

    if ((rc = s_shift_date (arena, "effective", &rec->effective, shift, err)) < 0
        || (rc = s_shift_date (arena, "effective_end", &rec->effective_end, shift, err)) < 0) {
        return rc;
    }
    if (rec->demographics
        && (rc = s_deid_demographics (ctx, arena, rec->demographics, shift, err)) < 0) {
        return rc;
    }
    if (rec->demographics && s_deid_place (arena, rec, rec->demographics) < 0) {
        return s_oom (err);
    }
    s_text_t text = {.ctx = ctx, .arena = arena, .patient = patient, .shift = shift};
    bool quantitative;
    if (s_deid_text (&text, rec) < 0 || s_deid_units (arena, rec, &quantitative) < 0
        || s_deid_value (&text, rec, quantitative) < 0 || s_deid_status (arena, rec) < 0
        || s_deid_codes (ctx, arena, rec, partner) < 0) {
        return s_oom (err);
    }
    hg_err_clear (err);
    return 0;
}
