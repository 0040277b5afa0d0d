/*
 * normalize.c -- standardisation and validation of canonical records.
 *
 * See normalize.h. Strings are never modified in place (a parser may have
 * stored a literal or protobuf_c_empty_string): a changed string is a new
 * copy in the arena.
 */
#include "normalize.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "codesys.h"
#include "date.h"
#include "parsekit.h"
#include "ucum.h"
#include "util.h"

/* Bytes of a record value quoted in a flag message. */
#define S_ECHO_MAX 64
/* Longest code any of the checked systems can have; longer is bad syntax. */
#define S_CODE_MAX 64

/* ---------------------------------------------------------------------------
 * Flags */

static const struct {
    const char *name;
    const char *sentence;
} s_flag_info[HG_FLAG_COUNT_] = {
    [HG_FLAG_NONE] = {"none", "No problem."},
    [HG_FLAG_CODE_INVALID_CHECK_DIGIT] = {"code.invalid_check_digit",
                                          "The code's check digit does not match: most likely "
                                          "a typing or transcription error."},
    [HG_FLAG_CODE_BAD_SYNTAX] = {"code.bad_syntax",
                                 "The code does not have the form its code system requires."},
    [HG_FLAG_CODE_UNKNOWN_SYSTEM] = {"code.unknown_system",
                                     "The code system is missing or not one Hourglass knows; "
                                     "the code is kept unchecked."},
    [HG_FLAG_UNIT_UNCONVERTIBLE] = {"unit.unconvertible",
                                    "The unit cannot be converted to the analyte's canonical "
                                    "unit; the value is kept as received."},
    [HG_FLAG_VALUE_IMPLAUSIBLE] = {"value.implausible",
                                   "The value is outside the physiologically plausible range "
                                   "or not a finite number."},
    [HG_FLAG_DATE_INVALID] = {"date.invalid", "The date is not a valid ISO 8601 date."},
    [HG_FLAG_DATE_BEFORE_BIRTH] = {"date.before_birth",
                                   "The date lies before the patient's birth date."},
    [HG_FLAG_DATE_AFTER_DEATH] = {"date.after_death",
                                  "The date lies after the patient's date of death."},
    [HG_FLAG_DATE_IN_FUTURE] = {"date.in_future",
                                "The date lies more than one day in the future."},
    [HG_FLAG_SEX_UNRECOGNISED] = {"sex.unrecognised",
                                  "The sex code is not recognised; it was set to unknown."},
    [HG_FLAG_UNIT_NOT_UCUM] = {"unit.not_ucum",
                               "The unit is not UCUM; the de-identifier removes it, so the "
                               "value reaches analysis without a unit."},
};

const char *
hg_flag_name (hg_flag_kind_t kind)
{
    if ((int) kind < 0 || kind >= HG_FLAG_COUNT_) {
        return "unknown";
    }
    return s_flag_info[kind].name;
}

const char *
hg_flag_describe (hg_flag_kind_t kind)
{
    if ((int) kind < 0 || kind >= HG_FLAG_COUNT_) {
        return "Unknown flag.";
    }
    return s_flag_info[kind].sentence;
}

/* State of one hg_normalize_record call. */
typedef struct {
    hg_arena_t *a;
    hg_flag_t *flags;
    size_t max_flags;
    size_t n_flags;
    bool oom;
} s_norm_t;

static void s_flag (s_norm_t *st, hg_flag_kind_t kind, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static void
s_flag (s_norm_t *st, hg_flag_kind_t kind, const char *fmt, ...)
{
    if (st->n_flags >= st->max_flags || st->oom) {
        return;
    }
    char buf[512];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (buf, sizeof buf, fmt, ap);
    va_end (ap);
    /* parse errors quote their input too: keep every message printable */
    for (char *p = buf; *p; p++) {
        if ((unsigned char) *p < 0x20 || (unsigned char) *p >= 0x7f) {
            *p = '?';
        }
    }
    char *msg = hg_arena_strdup (st->a, buf);
    if (!msg) {
        st->oom = true;
        return;
    }
    st->flags[st->n_flags].code = hg_flag_name (kind);
    st->flags[st->n_flags].message = msg;
    st->flags[st->n_flags].kind = kind;
    st->n_flags++;
}

/* A record value made safe to quote: at most S_ECHO_MAX bytes, anything
 * but printable ASCII as '?', "..." when cut. out holds S_ECHO_MAX + 4. */
static const char *
s_echo (const char *s, char out[S_ECHO_MAX + 4])
{
    hg_span_t v = {s ? s : "", s ? strnlen (s, S_ECHO_MAX + 1) : 0};
    return hg_span_show (v, S_ECHO_MAX, out);
}

/* ---------------------------------------------------------------------------
 * Strings */

static bool
s_is_blank (char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static bool
s_is_digit (char c)
{
    return c >= '0' && c <= '9';
}

static bool
s_is_alpha (char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static char
s_upper (char c)
{
    return (c >= 'a' && c <= 'z') ? (char) (c - 'a' + 'A') : c;
}

static char
s_lower (char c)
{
    return (c >= 'A' && c <= 'Z') ? (char) (c - 'A' + 'a') : c;
}

/* Replaces *field by a copy of s[0..len) unless it already equals it. */
static int
s_set (s_norm_t *st, char **field, const char *s, size_t len)
{
    if (strlen (*field) == len && memcmp (*field, s, len) == 0) {
        return 0;
    }
    char *copy = len ? hg_arena_strndup (st->a, s, len) : (char *) protobuf_c_empty_string;
    if (!copy) {
        st->oom = true;
        return HG_ENOMEM;
    }
    *field = copy;
    return 0;
}

/* A NULL string field becomes "" (the protobuf-c invariant). */
static void
s_fix_null (char **field)
{
    if (!*field) {
        *field = (char *) protobuf_c_empty_string;
    }
}

/* Trims blanks at both ends of *field. */
static int
s_trim (s_norm_t *st, char **field)
{
    s_fix_null (field);
    const char *s = *field;
    size_t len = strlen (s);
    size_t start = 0;
    while (start < len && s_is_blank (s[start])) {
        start++;
    }
    while (len > start && s_is_blank (s[len - 1])) {
        len--;
    }
    return s_set (st, field, s + start, len - start);
}

/* ---------------------------------------------------------------------------
 * Check digits */

/* Luhn check digit of the decimal digits s[0..n) (the rightmost doubled). */
static int
s_luhn_digit (const char *s, size_t n)
{
    int sum = 0;
    bool twice = true;
    for (size_t i = n; i-- > 0;) {
        int d = s[i] - '0';
        if (twice) {
            d *= 2;
            if (d > 9) {
                d -= 9;
            }
        }
        sum += d;
        twice = !twice;
    }
    return (10 - sum % 10) % 10;
}

static const unsigned char s_verhoeff_d[10][10] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 2, 3, 4, 0, 6, 7, 8, 9, 5},
    {2, 3, 4, 0, 1, 7, 8, 9, 5, 6}, {3, 4, 0, 1, 2, 8, 9, 5, 6, 7},
    {4, 0, 1, 2, 3, 9, 5, 6, 7, 8}, {5, 9, 8, 7, 6, 0, 4, 3, 2, 1},
    {6, 5, 9, 8, 7, 1, 0, 4, 3, 2}, {7, 6, 5, 9, 8, 2, 1, 0, 4, 3},
    {8, 7, 6, 5, 9, 3, 2, 1, 0, 4}, {9, 8, 7, 6, 5, 4, 3, 2, 1, 0},
};
static const unsigned char s_verhoeff_p[8][10] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 5, 7, 6, 2, 8, 3, 0, 9, 4},
    {5, 8, 0, 3, 7, 9, 6, 1, 4, 2}, {8, 9, 1, 6, 0, 4, 3, 5, 2, 7},
    {9, 4, 5, 3, 1, 2, 6, 8, 7, 0}, {4, 2, 8, 6, 5, 7, 3, 9, 0, 1},
    {2, 7, 9, 3, 8, 0, 6, 4, 1, 5}, {7, 0, 4, 6, 9, 1, 3, 2, 5, 8},
};
static const unsigned char s_verhoeff_inv[10] = {0, 4, 3, 2, 1, 5, 6, 7, 8, 9};

/* Verhoeff check digit of the decimal digits s[0..n). */
static int
s_verhoeff_digit (const char *s, size_t n)
{
    int c = 0;
    size_t pos = 1; /* the check digit will take position 0 */
    for (size_t i = n; i-- > 0; pos++) {
        c = s_verhoeff_d[c][s_verhoeff_p[pos % 8][s[i] - '0']];
    }
    return s_verhoeff_inv[c];
}

/* Result of a code check: OK, bad syntax, or a wrong check digit (with the
 * digit expected). */
typedef enum { S_CODE_OK, S_CODE_SYNTAX, S_CODE_CHECK } s_code_rc_t;

static s_code_rc_t
s_loinc_check (const char *code, int *expected)
{
    size_t len = strnlen (code, S_CODE_MAX + 1);
    if (len > S_CODE_MAX) {
        return S_CODE_SYNTAX;
    }
    size_t start = 0;
    bool prefixed = false;
    if (len >= 2 && code[0] == 'L' && strchr ("APGL", code[1]) && code[1]) {
        start = 2;
        prefixed = true;
    }
    const char *dash = strchr (code + start, '-');
    if (!dash) {
        return S_CODE_SYNTAX;
    }
    size_t ndig = (size_t) (dash - code) - start;
    if (ndig < 1 || ndig > 7 || !hg_all_digits (code + start, ndig) || !s_is_digit (dash[1])
        || dash[2] != '\0') {
        return S_CODE_SYNTAX;
    }
    if (prefixed) {
        return S_CODE_OK;
    }
    int want = s_luhn_digit (code + start, ndig);
    if (dash[1] - '0' != want) {
        *expected = want;
        return S_CODE_CHECK;
    }
    return S_CODE_OK;
}

bool
hg_loinc_valid (const char *code)
{
    int expected;
    return code && s_loinc_check (code, &expected) == S_CODE_OK;
}

/* partition receives the two partition digits as a number (0..99). */
static s_code_rc_t
s_snomed_check (const char *sctid, int *partition, int *expected)
{
    size_t len = strnlen (sctid, 19);
    if (len < 6 || len > 18 || sctid[0] == '0' || !hg_all_digits (sctid, len)) {
        return S_CODE_SYNTAX;
    }
    int part = (sctid[len - 3] - '0') * 10 + (sctid[len - 2] - '0');
    *partition = part;
    bool short_form = part == 0 || part == 1 || part == 2;
    bool long_form = part == 10 || part == 11 || part == 12;
    /* long form: item id (>= 1 digit) + 7-digit namespace + partition + check */
    if (!short_form && !(long_form && len >= 11)) {
        return S_CODE_SYNTAX;
    }
    int want = s_verhoeff_digit (sctid, len - 1);
    if (sctid[len - 1] - '0' != want) {
        *expected = want;
        return S_CODE_CHECK;
    }
    return S_CODE_OK;
}

bool
hg_snomed_valid (const char *sctid)
{
    int partition, expected;
    return sctid && s_snomed_check (sctid, &partition, &expected) == S_CODE_OK;
}

bool
hg_icd10cm_valid (const char *code)
{
    if (!code) {
        return false;
    }
    size_t len = strnlen (code, 9);
    if (len < 3 || len > 8 || !s_is_alpha (code[0]) || !s_is_digit (code[1])
        || !(s_is_alpha (code[2]) || s_is_digit (code[2]))) {
        return false;
    }
    size_t i = 3;
    if (i == len) {
        return true;
    }
    if (code[i] == '.') {
        i++;
    }
    size_t rest = len - i;
    if (rest < 1 || rest > 4) {
        return false;
    }
    for (; i < len; i++) {
        if (!s_is_alpha (code[i]) && !s_is_digit (code[i])) {
            return false;
        }
    }
    return true;
}

static s_code_rc_t
s_npi_check (const char *npi, int *expected)
{
    size_t len = strnlen (npi, 11);
    if (len != 10 || !hg_all_digits (npi, len)) {
        return S_CODE_SYNTAX;
    }
    char buf[14];
    memcpy (buf, "80840", 5);
    memcpy (buf + 5, npi, 9);
    int want = s_luhn_digit (buf, 14);
    if (npi[9] - '0' != want) {
        *expected = want;
        return S_CODE_CHECK;
    }
    return S_CODE_OK;
}

bool
hg_npi_valid (const char *npi)
{
    int expected;
    return npi && s_npi_check (npi, &expected) == S_CODE_OK;
}

/* ---------------------------------------------------------------------------
 * Code systems */

/* Canonical URI of the (trimmed) system s[0..len) -- a known URI or its
 * urn:oid: -- or NULL if unknown (codesys.h). */
static const char *
s_system_canonical (const char *s, size_t len)
{
    return hg_codesys_uri (s, len, HG_CODESYS_URI | HG_CODESYS_OID);
}

/* Upper-cases and removes every blank; the result replaces *code. */
static int
s_upper_compact (s_norm_t *st, char **code, size_t max)
{
    const char *s = *code;
    size_t len = strnlen (s, max + 1);
    if (len > max) {
        return 0; /* too long to be valid anyway: left as is */
    }
    char buf[S_CODE_MAX + 1];
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (!s_is_blank (s[i])) {
            buf[n++] = s_upper (s[i]);
        }
    }
    return s_set (st, code, buf, n);
}

static int
s_norm_icd10cm (s_norm_t *st, Hourglass__Coding *c, const char *field)
{
    if (s_upper_compact (st, &c->code, S_CODE_MAX) < 0) {
        return HG_ENOMEM;
    }
    char echo[S_ECHO_MAX + 4];
    if (!hg_icd10cm_valid (c->code)) {
        s_flag (st, HG_FLAG_CODE_BAD_SYNTAX,
                "%s ICD-10-CM code '%s' is not a letter, a digit, a letter or digit, then "
                "optionally '.' and 1 to 4 letters or digits",
                field, s_echo (c->code, echo));
        return 0;
    }
    size_t len = strlen (c->code);
    if (len > 3 && c->code[3] != '.') {
        char buf[16];
        snprintf (buf, sizeof buf, "%.3s.%s", c->code, c->code + 3);
        return s_set (st, &c->code, buf, strlen (buf));
    }
    return 0;
}

/* Normalises and checks one coding; field names it in messages
 * ("codes[2]", "code_value"). An empty system is flagged when
 * flag_no_system. */
static int
s_norm_coding (s_norm_t *st, Hourglass__Coding *c, const char *field, bool flag_no_system)
{
    s_fix_null (&c->display);
    if (s_trim (st, &c->system) < 0 || s_trim (st, &c->code) < 0) {
        return HG_ENOMEM;
    }
    char echo[S_ECHO_MAX + 4], echo2[S_ECHO_MAX + 4];
    if (!*c->system) {
        if (flag_no_system) {
            s_flag (st, HG_FLAG_CODE_UNKNOWN_SYSTEM, "%s code '%s' has no code system", field,
                    s_echo (c->code, echo));
        }
        return 0;
    }
    const char *sys = s_system_canonical (c->system, strlen (c->system));
    if (!sys) {
        s_flag (st, HG_FLAG_CODE_UNKNOWN_SYSTEM,
                "%s system '%s' is not a known code system; code '%s' kept unchecked", field,
                s_echo (c->system, echo), s_echo (c->code, echo2));
        return 0;
    }
    if (sys != c->system && strcmp (sys, c->system) != 0) {
        c->system = (char *) sys; /* static, never written to */
    }
    int expected = 0, partition = 0;
    s_code_rc_t rc;
    if (strcmp (sys, HG_SYS_LOINC) == 0) {
        if (s_upper_compact (st, &c->code, S_CODE_MAX) < 0) {
            return HG_ENOMEM;
        }
        rc = s_loinc_check (c->code, &expected);
        if (rc == S_CODE_SYNTAX) {
            s_flag (st, HG_FLAG_CODE_BAD_SYNTAX,
                    "%s LOINC code '%s' is not of the form NNNNN-C (1 to 7 digits, '-', "
                    "check digit)",
                    field, s_echo (c->code, echo));
        }
        else if (rc == S_CODE_CHECK) {
            s_flag (st, HG_FLAG_CODE_INVALID_CHECK_DIGIT,
                    "%s LOINC code '%s' fails the mod-10 check digit (expected %d)", field,
                    s_echo (c->code, echo), expected);
        }
    }
    else if (strcmp (sys, HG_SYS_SNOMED) == 0) {
        rc = s_snomed_check (c->code, &partition, &expected);
        if (rc == S_CODE_SYNTAX) {
            s_flag (st, HG_FLAG_CODE_BAD_SYNTAX,
                    "%s SNOMED CT code '%s' is not an SCTID (6 to 18 digits, no leading zero, "
                    "partition 00, 01, 02, 10, 11 or 12)",
                    field, s_echo (c->code, echo));
        }
        else if (rc == S_CODE_CHECK) {
            s_flag (st, HG_FLAG_CODE_INVALID_CHECK_DIGIT,
                    "%s SNOMED CT code '%s' fails the Verhoeff check digit (expected %d)", field,
                    s_echo (c->code, echo), expected);
        }
        else if (partition != 0 && partition != 10) {
            s_flag (st, HG_FLAG_CODE_BAD_SYNTAX,
                    "%s SNOMED CT code '%s' has partition %02d (a %s id), not a concept id "
                    "(partition 00 or 10)",
                    field, s_echo (c->code, echo), partition,
                    partition % 10 == 1 ? "description" : "relationship");
        }
    }
    else if (strcmp (sys, HG_SYS_ICD10CM) == 0) {
        return s_norm_icd10cm (st, c, field);
    }
    else if (strcmp (sys, HG_SYS_NPI) == 0) {
        rc = s_npi_check (c->code, &expected);
        if (rc == S_CODE_SYNTAX) {
            s_flag (st, HG_FLAG_CODE_BAD_SYNTAX, "%s NPI '%s' is not 10 digits", field,
                    s_echo (c->code, echo));
        }
        else if (rc == S_CODE_CHECK) {
            s_flag (st, HG_FLAG_CODE_INVALID_CHECK_DIGIT,
                    "%s NPI '%s' fails the Luhn check digit (expected %d)", field,
                    s_echo (c->code, echo), expected);
        }
    }
    else if (strcmp (sys, HG_SYS_RXNORM) == 0) {
        size_t len = strnlen (c->code, 11);
        if (len < 1 || len > 10 || !hg_all_digits (c->code, len)) {
            s_flag (st, HG_FLAG_CODE_BAD_SYNTAX,
                    "%s RxNorm code '%s' is not an RxCUI (1 to 10 digits)", field,
                    s_echo (c->code, echo));
        }
    }
    return 0;
}

/* ---------------------------------------------------------------------------
 * Units */

static const struct {
    const char *key; /* lower case, blanks removed, micro sign as 'u' */
    const char *ucum;
} s_units[] = {
    {"mg/dl", "mg/dL"},
    {"mg/100ml", "mg/dL"},
    {"mmol/l", "mmol/L"},
    {"umol/l", "umol/L"},
    {"micromol/l", "umol/L"},
    {"g/dl", "g/dL"},
    {"g/l", "g/L"},
    {"mg/l", "mg/L"},
    {"meq/l", "meq/L"},
    {"%", "%"},
    {"percent", "%"},
    {"pct", "%"},
    {"mmol/mol", "mmol/mol"},
    {"ng/ml", "ng/mL"},
    {"pg/ml", "pg/mL"},
    {"u/l", "U/L"},
    {"iu/l", "[IU]/L"},
    {"[iu]/l", "[IU]/L"},
    {"mmhg", "mm[Hg]"},
    {"mm[hg]", "mm[Hg]"},
    {"kg", "kg"},
    {"g", "g"},
    {"cm", "cm"},
    {"ml", "mL"},
    {"l", "L"},
    {"kg/m2", "kg/m2"},
    {"/min", "/min"},
};

const char *
hg_ucum_canonical (const char *unit)
{
    if (!unit) {
        return NULL;
    }
    char key[24];
    size_t n = 0;
    for (size_t i = 0; unit[i]; i++) {
        unsigned char c = (unsigned char) unit[i];
        char out;
        if (s_is_blank ((char) c)) {
            continue;
        }
        if ((c == 0xC2 && (unsigned char) unit[i + 1] == 0xB5)       /* U+00B5 micro */
            || (c == 0xCE && (unsigned char) unit[i + 1] == 0xBC)) { /* U+03BC mu */
            out = 'u';
            i++;
        }
        else {
            out = s_lower ((char) c);
        }
        if (n + 1 >= sizeof key) {
            return NULL;
        }
        key[n++] = out;
    }
    key[n] = '\0';
    for (size_t i = 0; i < sizeof s_units / sizeof s_units[0]; i++) {
        if (strcmp (key, s_units[i].key) == 0) {
            return s_units[i].ucum;
        }
    }
    return NULL;
}

typedef struct {
    const char *unit; /* canonical UCUM spelling */
    double mul, div, add;
} s_conv_t;

typedef struct {
    const char *loinc;
    const char *name;
    const char *unit; /* canonical unit of the analyte */
    double low, high; /* plausible range in that unit */
    s_conv_t conv[3]; /* other units: canonical = value * mul / div + add */
} s_analyte_t;

static const s_analyte_t s_analytes[] = {
    {"2345-7", "glucose", "mg/dL", 10, 2000, {{"mmol/L", 18.0, 1, 0}}},
    {"2160-0", "creatinine", "mg/dL", 0.05, 40, {{"umol/L", 1, 88.42, 0}}},
    {"2093-3", "cholesterol", "mg/dL", 20, 1500, {{"mmol/L", 38.67, 1, 0}}},
    {"4548-4", "HbA1c", "%", 2, 25, {{"mmol/mol", 0.09148, 1, 2.152}}},
    {"718-7", "hemoglobin", "g/dL", 1, 26, {{"g/L", 1, 10, 0}, {"mmol/L", 1.611, 1, 0}}},
    {"2823-3", "potassium", "mmol/L", 1, 15, {{"meq/L", 1, 1, 0}}},
    {"2951-2", "sodium", "mmol/L", 90, 200, {{"meq/L", 1, 1, 0}}},
};

static const s_analyte_t *
s_analyte (const char *loinc)
{
    if (!loinc) {
        return NULL;
    }
    for (size_t i = 0; i < sizeof s_analytes / sizeof s_analytes[0]; i++) {
        if (strcmp (loinc, s_analytes[i].loinc) == 0) {
            return &s_analytes[i];
        }
    }
    return NULL;
}

bool
hg_analyte_range (const char *analyte_loinc, double *low, double *high)
{
    const s_analyte_t *an = s_analyte (analyte_loinc);
    if (!an) {
        return false;
    }
    *low = an->low;
    *high = an->high;
    return true;
}

int
hg_ucum_convert (const char *analyte_loinc, double value, const char *unit, double *out_value,
                 const char **out_unit)
{
    const s_analyte_t *an = s_analyte (analyte_loinc);
    if (!an) {
        return HG_ENOTFOUND;
    }
    const char *ucum = hg_ucum_canonical (unit);
    if (!ucum) {
        return HG_EINVAL;
    }
    if (!isfinite (value)) {
        return HG_ELIMIT;
    }
    double v;
    if (strcmp (ucum, an->unit) == 0) {
        v = value;
    }
    else {
        const s_conv_t *conv = NULL;
        for (size_t i = 0; i < sizeof an->conv / sizeof an->conv[0] && an->conv[i].unit; i++) {
            if (strcmp (ucum, an->conv[i].unit) == 0) {
                conv = &an->conv[i];
            }
        }
        if (!conv) {
            return HG_EINVAL;
        }
        v = value * conv->mul / conv->div + conv->add;
        if (!isfinite (v)) {
            return HG_ELIMIT;
        }
    }
    *out_value = v;
    *out_unit = an->unit;
    return 0;
}

/* The analyte of the record: its first LOINC code in the table. */
static const s_analyte_t *
s_record_analyte (const Hourglass__Record *rec)
{
    for (size_t i = 0; rec->codes && i < rec->n_codes; i++) {
        const Hourglass__Coding *c = rec->codes[i];
        if (c && c->system && c->code && strcmp (c->system, HG_SYS_LOINC) == 0) {
            const s_analyte_t *an = s_analyte (c->code);
            if (an) {
                return an;
            }
        }
    }
    return NULL;
}

static int
s_norm_quantity (s_norm_t *st, Hourglass__Record *rec)
{
    Hourglass__Quantity *q = rec->quantity;
    if (s_trim (st, &q->unit) < 0 || s_trim (st, &q->comparator) < 0) {
        return HG_ENOMEM;
    }
    const char *ucum = hg_ucum_canonical (q->unit);
    if (ucum && s_set (st, &q->unit, ucum, strlen (ucum)) < 0) {
        return HG_ENOMEM;
    }
    char echo[S_ECHO_MAX + 4];
    char canon[HG_UCUM_MAX + 1];
    hg_err_t uerr;
    if (!ucum && hg_ucum_check (q->unit, canon, &uerr) < 0) {
        s_flag (st, HG_FLAG_UNIT_NOT_UCUM, "quantity unit '%s': %s", s_echo (q->unit, echo),
                uerr.msg);
    }
    if (!isfinite (q->value)) {
        s_flag (st, HG_FLAG_VALUE_IMPLAUSIBLE, "quantity value %g%s%s is not a finite number",
                q->value, *q->unit ? " " : "", s_echo (q->unit, echo));
        return 0;
    }
    const s_analyte_t *an = s_record_analyte (rec);
    if (!an) {
        return 0;
    }
    double v;
    const char *unit;
    int rc = hg_ucum_convert (an->loinc, q->value, q->unit, &v, &unit);
    if (rc == HG_ELIMIT) {
        s_flag (st, HG_FLAG_VALUE_IMPLAUSIBLE,
                "quantity %g %s of %s (LOINC %s) overflows when converted to %s; value kept",
                q->value, s_echo (q->unit, echo), an->name, an->loinc, an->unit);
        return 0;
    }
    if (rc < 0 && !*q->unit) {
        s_flag (st, HG_FLAG_UNIT_UNCONVERTIBLE,
                "quantity %g has no unit; %s (LOINC %s) is expected in %s; value kept", q->value,
                an->name, an->loinc, an->unit);
        return 0;
    }
    if (rc < 0) {
        s_flag (st, HG_FLAG_UNIT_UNCONVERTIBLE,
                "quantity unit '%s' of %s (LOINC %s) cannot be converted to %s; value %g kept",
                s_echo (q->unit, echo), an->name, an->loinc, an->unit, q->value);
        return 0;
    }
    q->value = v;
    if (s_set (st, &q->unit, unit, strlen (unit)) < 0) {
        return HG_ENOMEM;
    }
    /* a bound ("<0.05") is not implausible on the side it bounds */
    bool upper_bound = q->comparator[0] == '<';
    bool lower_bound = q->comparator[0] == '>';
    if ((v < an->low && !upper_bound) || (v > an->high && !lower_bound)) {
        s_flag (st, HG_FLAG_VALUE_IMPLAUSIBLE,
                "quantity %s%g %s of %s (LOINC %s) is outside the plausible range %g..%g %s",
                s_echo (q->comparator, echo), v, an->unit, an->name, an->loinc, an->low, an->high,
                an->unit);
    }
    return 0;
}

/* ---------------------------------------------------------------------------
 * Dates */

/* First and last day (since the epoch) of the period an ISO date denotes
 * at its precision. false when s is not an ISO date (err says why). */
static bool
s_date_span (const char *s, int64_t *first, int64_t *last, hg_err_t *err)
{
    hg_date_t d;
    if (hg_date_parse_iso (s, strlen (s), &d, err) < 0) {
        return false;
    }
    *first = hg_date_days (&d);
    hg_date_t end = d;
    if (d.prec == HG_PREC_YEAR) {
        end.month = 12;
        end.day = 31;
    }
    else if (d.prec == HG_PREC_MONTH) {
        end.day = hg_date_month_days (d.year, d.month);
    }
    end.prec = HG_PREC_DAY;
    *last = hg_date_days (&end);
    return true;
}

static void
s_day_text (int64_t days, char out[16])
{
    int y, m, d;
    hg_date_from_days (days, &y, &m, &d);
    snprintf (out, 16, "%04d-%02d-%02d", y, m, d);
}

/* Usable birth or death date: the argument if given, else the record's. */
static const char *
s_pick_date (const char *given, const Hourglass__Record *rec, bool birth)
{
    if (given) {
        return given;
    }
    if (!rec->demographics) {
        return NULL;
    }
    return birth ? rec->demographics->birth_date : rec->demographics->deceased_date;
}

static void
s_check_effective (s_norm_t *st, const hg_norm_ctx_t *ctx, const Hourglass__Record *rec,
                   const char *birth, const char *death)
{
    char echo[S_ECHO_MAX + 4], echo2[S_ECHO_MAX + 4], today[16];
    if (!*rec->effective) {
        return;
    }
    int64_t first, last, bfirst, blast, dfirst, dlast;
    hg_err_t err = {0};
    if (!s_date_span (rec->effective, &first, &last, &err)) {
        s_flag (st, HG_FLAG_DATE_INVALID, "effective '%s' is not an ISO 8601 date: %s",
                s_echo (rec->effective, echo), err.msg);
        return;
    }
    /* only a period wholly before birth / after death counts */
    if (!hg_str_empty (birth) && s_date_span (birth, &bfirst, &blast, &err) && last < bfirst) {
        s_flag (st, HG_FLAG_DATE_BEFORE_BIRTH, "effective %s is before the birth date %s",
                s_echo (rec->effective, echo), s_echo (birth, echo2));
    }
    if (!hg_str_empty (death) && s_date_span (death, &dfirst, &dlast, &err) && first > dlast) {
        s_flag (st, HG_FLAG_DATE_AFTER_DEATH, "effective %s is after the deceased date %s",
                s_echo (rec->effective, echo), s_echo (death, echo2));
    }
    if (ctx && first > ctx->today_days + 1) {
        s_day_text (ctx->today_days, today);
        s_flag (st, HG_FLAG_DATE_IN_FUTURE, "effective %s is more than 1 day after today (%s)",
                s_echo (rec->effective, echo), today);
    }
}

static int
s_norm_demographics (s_norm_t *st, const hg_norm_ctx_t *ctx, Hourglass__Demographics *d)
{
    char echo[S_ECHO_MAX + 4], echo2[S_ECHO_MAX + 4], today[16];
    if (s_trim (st, &d->sex) < 0 || s_trim (st, &d->birth_date) < 0
        || s_trim (st, &d->deceased_date) < 0) {
        return HG_ENOMEM;
    }
    if (*d->sex) {
        const char *sex = hg_sex_canonical (d->sex);
        if (!sex) {
            s_flag (st, HG_FLAG_SEX_UNRECOGNISED,
                    "demographics.sex '%s' is not a recognised sex code; set to unknown",
                    s_echo (d->sex, echo));
            sex = "unknown";
        }
        if (s_set (st, &d->sex, sex, strlen (sex)) < 0) {
            return HG_ENOMEM;
        }
    }
    int64_t bfirst = 0, blast = 0, dfirst = 0, dlast = 0;
    bool have_birth = false, have_death = false;
    hg_err_t err = {0};
    if (*d->birth_date) {
        have_birth = s_date_span (d->birth_date, &bfirst, &blast, &err);
        if (!have_birth) {
            s_flag (st, HG_FLAG_DATE_INVALID,
                    "demographics.birth_date '%s' is not an ISO 8601 date: %s",
                    s_echo (d->birth_date, echo), err.msg);
        }
        else if (ctx && bfirst > ctx->today_days + 1) {
            s_day_text (ctx->today_days, today);
            s_flag (st, HG_FLAG_DATE_IN_FUTURE,
                    "demographics.birth_date %s is more than 1 day after today (%s)",
                    s_echo (d->birth_date, echo), today);
        }
    }
    if (*d->deceased_date) {
        have_death = s_date_span (d->deceased_date, &dfirst, &dlast, &err);
        if (!have_death) {
            s_flag (st, HG_FLAG_DATE_INVALID,
                    "demographics.deceased_date '%s' is not an ISO 8601 date: %s",
                    s_echo (d->deceased_date, echo), err.msg);
        }
        else if (ctx && dfirst > ctx->today_days + 1) {
            s_day_text (ctx->today_days, today);
            s_flag (st, HG_FLAG_DATE_IN_FUTURE,
                    "demographics.deceased_date %s is more than 1 day after today (%s)",
                    s_echo (d->deceased_date, echo), today);
        }
    }
    if (have_birth && have_death && dlast < bfirst) {
        s_flag (st, HG_FLAG_DATE_BEFORE_BIRTH,
                "demographics.deceased_date %s is before the birth date %s",
                s_echo (d->deceased_date, echo), s_echo (d->birth_date, echo2));
    }
    return 0;
}

/* ---------------------------------------------------------------------------
 * Sex */

const char *
hg_sex_canonical (const char *sex)
{
    static const struct {
        const char *in;
        const char *out;
    } map[] = {
        {"m", "male"},          {"male", "male"},        {"man", "male"},
        {"1", "male"},          {"f", "female"},         {"female", "female"},
        {"woman", "female"},    {"2", "female"},         {"o", "other"},
        {"other", "other"},     {"a", "other"},          {"x", "other"},
        {"nonbinary", "other"}, {"non-binary", "other"}, {"intersex", "other"},
        {"ambiguous", "other"}, {"u", "unknown"},        {"unknown", "unknown"},
        {"unk", "unknown"},     {"n", "unknown"},        {"0", "unknown"},
        {"9", "unknown"},
    };
    if (!sex) {
        return NULL;
    }
    size_t start = 0, len = strnlen (sex, 65);
    if (len > 64) {
        return NULL;
    }
    while (start < len && s_is_blank (sex[start])) {
        start++;
    }
    while (len > start && s_is_blank (sex[len - 1])) {
        len--;
    }
    if (len - start >= 16) {
        return NULL;
    }
    char key[16];
    size_t n = 0;
    for (size_t i = start; i < len; i++) {
        key[n++] = s_lower (sex[i]);
    }
    key[n] = '\0';
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        if (strcmp (key, map[i].in) == 0) {
            return map[i].out;
        }
    }
    return NULL;
}

/* ---------------------------------------------------------------------------
 * The record */

static int
s_norm_codes (s_norm_t *st, Hourglass__Record *rec)
{
    static const char *const names[] = {"codes[0]", "codes[1]", "codes[2]", "codes[3]",
                                        "codes[4]", "codes[5]", "codes[6]", "codes[7]"};
    char field[32];
    for (size_t i = 0; rec->codes && i < rec->n_codes; i++) {
        if (!rec->codes[i]) {
            continue;
        }
        const char *name = field;
        if (i < sizeof (names) / sizeof (names[0])) {
            name = names[i]; /* the usual few, without formatting */
        }
        else {
            snprintf (field, sizeof field, "codes[%zu]", i);
        }
        if (s_norm_coding (st, rec->codes[i], name, true) < 0) {
            return HG_ENOMEM;
        }
    }
    if (rec->value_case == HOURGLASS__RECORD__VALUE_CODE_VALUE && rec->code_value) {
        if (s_norm_coding (st, rec->code_value, "code_value", false) < 0) {
            return HG_ENOMEM;
        }
    }
    /* NPIs among the identifiers (practitioners) */
    char echo[S_ECHO_MAX + 4];
    for (size_t i = 0; rec->identifiers && i < rec->n_identifiers; i++) {
        Hourglass__Identifier *id = rec->identifiers[i];
        if (!id || hg_str_empty (id->system) || hg_str_empty (id->value)) {
            continue;
        }
        if (s_trim (st, &id->system) < 0) {
            return HG_ENOMEM;
        }
        const char *sys = s_system_canonical (id->system, strlen (id->system));
        if (!sys || strcmp (sys, HG_SYS_NPI) != 0) {
            continue;
        }
        id->system = (char *) sys;
        if (s_trim (st, &id->value) < 0) {
            return HG_ENOMEM;
        }
        int expected = 0;
        s_code_rc_t rc = s_npi_check (id->value, &expected);
        if (rc == S_CODE_SYNTAX) {
            s_flag (st, HG_FLAG_CODE_BAD_SYNTAX, "identifiers[%zu] NPI '%s' is not 10 digits", i,
                    s_echo (id->value, echo));
        }
        else if (rc == S_CODE_CHECK) {
            s_flag (st, HG_FLAG_CODE_INVALID_CHECK_DIGIT,
                    "identifiers[%zu] NPI '%s' fails the Luhn check digit (expected %d)", i,
                    s_echo (id->value, echo), expected);
        }
    }
    return st->oom ? HG_ENOMEM : 0;
}

/* Date-times with a zone offset become UTC ("Z"), precision kept; anything
 * else (no time, no zone, or invalid: flagged later) is left as received. */
static int
s_to_utc (s_norm_t *st, char **field)
{
    hg_date_t d;
    if (!**field || hg_date_parse_iso (*field, strlen (*field), &d, NULL) < 0 || !d.has_tz
        || d.tz_offset_min == 0 || d.prec < HG_PREC_MINUTE) {
        return 0;
    }
    hg_date_to_utc (&d);
    char buf[HG_DATE_ISO_MAX];
    hg_date_format_iso (&d, buf, sizeof (buf));
    char *copy = hg_arena_strdup (st->a, buf);
    if (!copy) {
        st->oom = true;
        return -1;
    }
    *field = copy;
    return 0;
}

int
hg_normalize_record (const hg_norm_ctx_t *ctx, hg_arena_t *a, Hourglass__Record *rec,
                     const char *birth_date, const char *deceased_date, hg_flag_t *flags,
                     size_t max_flags)
{
    if (!a || !rec) {
        return HG_EINVAL;
    }
    s_norm_t st = {.a = a, .flags = flags, .max_flags = flags ? max_flags : 0};
    s_fix_null (&rec->effective);
    s_fix_null (&rec->effective_end);
    if (s_trim (&st, &rec->effective) < 0 || s_norm_codes (&st, rec) < 0) {
        return HG_ENOMEM;
    }
    if (s_to_utc (&st, &rec->effective) < 0 || s_to_utc (&st, &rec->effective_end) < 0) {
        return HG_ENOMEM;
    }
    if (rec->value_case == HOURGLASS__RECORD__VALUE_QUANTITY && rec->quantity
        && s_norm_quantity (&st, rec) < 0) {
        return HG_ENOMEM;
    }
    if (rec->demographics && s_norm_demographics (&st, ctx, rec->demographics) < 0) {
        return HG_ENOMEM;
    }
    s_check_effective (&st, ctx, rec, s_pick_date (birth_date, rec, true),
                       s_pick_date (deceased_date, rec, false));
    if (st.oom) {
        return HG_ENOMEM;
    }
    return (int) st.n_flags;
}
