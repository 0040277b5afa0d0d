/*
 * quality.c -- per-partner data-quality figures.
 */
#include "quality.h"

#include "fhir.h"
#include "record.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HG_Q_MAX_PARTNERS 256
#define HG_Q_MAX_REASONS 64
#define HG_Q_MAX_FLAGS 32

/* One rejection as the report shows it: redacted when accounted. */
typedef struct {
    char message[96];
    char location[256];
    char reason[512];
    char excerpt[HG_REJECT_EXCERPT_MAX * 3 + 1]; /* a byte's shape is at most 3 bytes ('…') */
    uint64_t at_us;
} sample_t;

typedef struct {
    char reason[256];
    uint64_t count;
    sample_t samples[HG_QUALITY_SAMPLES]; /* the latest, in no order */
    int n_samples;
} reason_t;

typedef struct {
    char flag[HG_IGNORE_KIND_MAX];
    uint64_t count;
} flag_t;

/* Field table (hg_quality_field): record kinds and the fields whose fill
 * rate a data manager reads. */
typedef int (*s_has_fn) (const Hourglass__Record *rec);

static int
s_has_patient (const Hourglass__Record *r)
{
    return !hg_str_empty (r->patient_ref);
}
static int
s_has_code (const Hourglass__Record *r)
{
    return r->n_codes > 0;
}
static int
s_has_effective (const Hourglass__Record *r)
{
    return !hg_str_empty (r->effective);
}
static int
s_has_status (const Hourglass__Record *r)
{
    return !hg_str_empty (r->status);
}
static int
s_has_value (const Hourglass__Record *r)
{
    return r->value_case != HOURGLASS__RECORD__VALUE__NOT_SET;
}
static int
s_has_unit (const Hourglass__Record *r)
{
    return r->value_case == HOURGLASS__RECORD__VALUE_QUANTITY && r->quantity
           && !hg_str_empty (r->quantity->unit);
}
static int
s_has_range (const Hourglass__Record *r)
{
    return !hg_str_empty (r->reference_range);
}
static int
s_has_interpretation (const Hourglass__Record *r)
{
    return !hg_str_empty (r->interpretation);
}
static int
s_has_text (const Hourglass__Record *r)
{
    return !hg_str_empty (r->text);
}
static int
s_has_birth (const Hourglass__Record *r)
{
    return r->demographics && !hg_str_empty (r->demographics->birth_date);
}
static int
s_has_sex (const Hourglass__Record *r)
{
    return r->demographics && !hg_str_empty (r->demographics->sex);
}
static int
s_has_name (const Hourglass__Record *r)
{
    return r->demographics
           && (!hg_str_empty (r->demographics->family) || r->demographics->n_given > 0);
}
static int
s_has_postal (const Hourglass__Record *r)
{
    return r->demographics && !hg_str_empty (r->demographics->postal_code);
}

#define S_CLINICAL(k)                                                                     \
    {k, "patient", s_has_patient}, {k, "code", s_has_code}, {k, "date", s_has_effective}, \
    {                                                                                     \
        k, "status", s_has_status                                                         \
    }

static const struct {
    Hourglass__RecordKind kind;
    const char *field;
    s_has_fn has;
} s_fields[] = {
    {HOURGLASS__RECORD_KIND__KIND_DEMOGRAPHICS, "patient", s_has_patient},
    {HOURGLASS__RECORD_KIND__KIND_DEMOGRAPHICS, "birth date", s_has_birth},
    {HOURGLASS__RECORD_KIND__KIND_DEMOGRAPHICS, "sex", s_has_sex},
    {HOURGLASS__RECORD_KIND__KIND_DEMOGRAPHICS, "name", s_has_name},
    {HOURGLASS__RECORD_KIND__KIND_DEMOGRAPHICS, "postal code", s_has_postal},
    S_CLINICAL (HOURGLASS__RECORD_KIND__KIND_ENCOUNTER),
    S_CLINICAL (HOURGLASS__RECORD_KIND__KIND_CONDITION),
    S_CLINICAL (HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION),
    {HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION, "value", s_has_value},
    {HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION, "unit", s_has_unit},
    {HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION, "reference range", s_has_range},
    {HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION, "interpretation", s_has_interpretation},
    S_CLINICAL (HOURGLASS__RECORD_KIND__KIND_MEDICATION),
    S_CLINICAL (HOURGLASS__RECORD_KIND__KIND_PROCEDURE),
    S_CLINICAL (HOURGLASS__RECORD_KIND__KIND_IMAGING_STUDY),
    S_CLINICAL (HOURGLASS__RECORD_KIND__KIND_GENOMIC_VARIANT),
    S_CLINICAL (HOURGLASS__RECORD_KIND__KIND_NOTE),
    {HOURGLASS__RECORD_KIND__KIND_NOTE, "text", s_has_text},
};
#define S_N_FIELDS (sizeof (s_fields) / sizeof (s_fields[0]))
#define S_N_KINDS 10 /* RecordKind values 0..9 */

/* Per-field fill counts: records of each kind, of them with each field. */
typedef struct {
    uint64_t kind_records[S_N_KINDS];
    uint64_t filled[S_N_FIELDS];
} fill_t;

/* One day's figures; reasons and flags by index into the partner's. */
typedef struct {
    uint32_t day;
    uint64_t messages, records, rejected, ignored, complete, flagged;
    uint64_t reasons[HG_Q_MAX_REASONS];
    uint64_t flags[HG_Q_MAX_FLAGS];
    fill_t fill;
} day_t;

typedef struct {
    char name[128];
    uint64_t messages, records, rejected, ignored, complete, flagged;
    uint64_t first_us, last_us;
    reason_t reasons[HG_Q_MAX_REASONS];
    int n_reasons;
    flag_t flags[HG_Q_MAX_FLAGS];
    int n_flags;
    flag_t ignored_kinds[HG_QUALITY_IGNORED_KINDS];
    int n_ignored_kinds;
    fill_t fill;
    day_t *days; /* HG_QUALITY_DAYS slots, oldest first; NULL until a day */
    int n_days;
    uint32_t dropped[HG_QUALITY_DAYS]; /* days left the window, rows to delete */
    int n_dropped;
} partner_t;

struct hg_quality {
    partner_t *partners[HG_Q_MAX_PARTNERS];
    size_t n;
};

size_t
hg_quality_n_fields (void)
{
    return S_N_FIELDS;
}

void
hg_quality_field (size_t i, const char **kind, const char **field)
{
    *kind = i < S_N_FIELDS ? hg_record_kind_name (s_fields[i].kind) : "";
    *field = i < S_N_FIELDS ? s_fields[i].field : "";
}

hg_quality_t *
hg_quality_new (void)
{
    return calloc (1, sizeof (hg_quality_t));
}

void
hg_quality_destroy (hg_quality_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    for (size_t i = 0; i < (*self_p)->n; i++) {
        free ((*self_p)->partners[i]->days);
        free ((*self_p)->partners[i]);
    }
    free (*self_p);
    *self_p = NULL;
}

static partner_t *
s_partner (hg_quality_t *self, const char *name, int create)
{
    for (size_t i = 0; i < self->n; i++) {
        if (strcmp (self->partners[i]->name, name) == 0) {
            return self->partners[i];
        }
    }
    if (!create || self->n == HG_Q_MAX_PARTNERS) {
        return NULL;
    }
    partner_t *p = calloc (1, sizeof (*p));
    if (!p) {
        return NULL;
    }
    snprintf (p->name, sizeof (p->name), "%s", name);
    self->partners[self->n++] = p;
    return p;
}

/* True for characters that make a digit run part of a name (PID-3, ADT^A01). */
static int
s_name_char (char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '-' || c == '^' || c == '_'
           || c == '.' || c == '/' || c == '[';
}

void
hg_quality_reason_class (const char *reason, char *out, size_t size)
{
    const char *p = reason;
    /* a leading "<Type>/<id>: " or "line N: " names the instance, not the mistake */
    const char *colon = strstr (p, ": ");
    if (colon && colon - p < 120) {
        const char *slash = memchr (p, '/', (size_t) (colon - p));
        bool resource = slash && slash > p && p[0] >= 'A' && p[0] <= 'Z'
                        && !memchr (p, ' ', (size_t) (colon - p));
        bool line = strncmp (p, "line ", 5) == 0;
        if (resource || line) {
            p = colon + 2;
        }
        else if (strncmp (p, "row ", 4) == 0) {
            /* "row N column X: ..." keeps the column, which is the mistake */
            const char *q = p + 4;
            while (*q >= '0' && *q <= '9') {
                q++;
            }
            p = *q == ' ' ? q + 1 : p;
        }
    }
    size_t o = 0;
    int quoted = 0;
    char prev = ' ';
    for (; *p && o + 6 < size; p++) {
        if (*p == '\'') {
            if (!quoted) {
                memcpy (out + o, "'\xe2\x80\xa6'", 5); /* '…' */
                o += 5;
            }
            quoted = !quoted;
        }
        else if (quoted) {
            continue;
        }
        else if (*p >= '0' && *p <= '9' && !s_name_char (prev)) {
            const char *q = p;
            while (q[1] >= '0' && q[1] <= '9') {
                q++;
            }
            if (s_name_char (q[1])) {
                out[o++] = *p; /* part of a name after all, e.g. 2023-... */
            }
            else {
                out[o++] = 'N';
                p = q;
            }
        }
        else if (*p >= '0' && *p <= '9') {
            /* a digit run glued to a name (A99, PID-3) is part of that name */
            while (*p >= '0' && *p <= '9' && o + 6 < size) {
                out[o++] = *p++;
            }
            p--;
        }
        else {
            out[o++] = *p;
        }
        prev = *p;
    }
    out[o < size ? o : size - 1] = '\0';
}

int
hg_quality_complete (const Hourglass__Record *rec)
{
    if (hg_str_empty (rec->patient_ref)) {
        return 0;
    }
    if (rec->kind == HOURGLASS__RECORD_KIND__KIND_DEMOGRAPHICS) {
        return rec->demographics && !hg_str_empty (rec->demographics->birth_date)
               && !hg_str_empty (rec->demographics->sex);
    }
    if (rec->n_codes == 0 || hg_str_empty (rec->effective)) {
        return 0;
    }
    if (rec->kind == HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION) {
        return rec->value_case != HOURGLASS__RECORD__VALUE__NOT_SET;
    }
    return 1;
}

/* ------------------------------------------------------------------------
 * Redaction (quality.h): the report shows what was wrong, never a value. */

#define S_ELLIPSIS "\xe2\x80\xa6"

/* Appends n bytes to out (size) at *o, keeping room for the terminator. */
static void
s_put (char *out, size_t size, size_t *o, const char *p, size_t n)
{
    if (*o + n < size) {
        memcpy (out + *o, p, n);
        *o += n;
    }
    else if (*o < size) {
        out[*o] = '\0'; /* full: nothing more, not even part of a character */
        *o = size;
    }
}

static bool
s_alnum (unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
           || c >= 0x80;
}

static bool
s_in (const char *w, size_t n, const char *const *list)
{
    if (n == 0) {
        return false;
    }
    for (size_t i = 0; list[i]; i++) {
        /* the length first: w may hold NUL bytes, which strncmp would stop at
         * (and list[i][n] then read past a shorter word) */
        if (list[i][0] == w[0] && strlen (list[i]) == n && memcmp (list[i], w, n) == 0) {
            return true;
        }
    }
    return false;
}

/* Capitalised and upper-case words of our own messages: FHIR resource
 * types, formats, HL7 v2 segments and message types. */
static const char *const s_vocab[] = {"Patient",
                                      "Observation",
                                      "Condition",
                                      "Encounter",
                                      "Procedure",
                                      "MedicationRequest",
                                      "MedicationStatement",
                                      "MedicationAdministration",
                                      "MedicationDispense",
                                      "Medication",
                                      "Immunization",
                                      "ImagingStudy",
                                      "DiagnosticReport",
                                      "Bundle",
                                      "Specimen",
                                      "AllergyIntolerance",
                                      "Practitioner",
                                      "PractitionerRole",
                                      "Organization",
                                      "Location",
                                      "DocumentReference",
                                      "MolecularSequence",
                                      "OperationOutcome",
                                      "Coverage",
                                      "Claim",
                                      "CarePlan",
                                      "CareTeam",
                                      "Goal",
                                      "Device",
                                      "ServiceRequest",
                                      "FamilyMemberHistory",
                                      "Value",
                                      "JSON",
                                      "NDJSON",
                                      "HL7",
                                      "FHIR",
                                      "CSV",
                                      "VCF",
                                      "BCF",
                                      "DICOM",
                                      "DICOMweb",
                                      "UCUM",
                                      "LOINC",
                                      "SNOMED",
                                      "CT",
                                      "ICD",
                                      "CVX",
                                      "RxNorm",
                                      "NPI",
                                      "MRN",
                                      "ISO",
                                      "UTF",
                                      "NUL",
                                      "BOM",
                                      "CR",
                                      "LF",
                                      "ID",
                                      "URL",
                                      "URI",
                                      "OID",
                                      "UID",
                                      "INFO",
                                      "FORMAT",
                                      "FILTER",
                                      "CHROM",
                                      "POS",
                                      "REF",
                                      "ALT",
                                      "QUAL",
                                      "GT",
                                      "MSH",
                                      "EVN",
                                      "PID",
                                      "PD1",
                                      "PV1",
                                      "PV2",
                                      "NK1",
                                      "OBR",
                                      "OBX",
                                      "ORC",
                                      "NTE",
                                      "DG1",
                                      "PR1",
                                      "AL1",
                                      "MRG",
                                      "RXA",
                                      "RXE",
                                      "RXO",
                                      "RXR",
                                      "IN1",
                                      "GT1",
                                      "SPM",
                                      "TQ1",
                                      "ERR",
                                      "MSA",
                                      "SFT",
                                      "ADT",
                                      "ORU",
                                      "ORM",
                                      "OML",
                                      "RDE",
                                      "VXU",
                                      "SIU",
                                      "MDM",
                                      "ACK",
                                      "NM",
                                      "ST",
                                      "CE",
                                      "CWE",
                                      "TX",
                                      "FT",
                                      "DT",
                                      "DTM",
                                      "TS",
                                      "SN",
                                      "ED",
                                      "XPN",
                                      "XAD",
                                      "CX",
                                      NULL};

/* Words after which a number is a position of ours, not a value. */
static const char *const s_position_words[] =
    {"line",   "lines",  "message", "messages",        "segment",     "resource", "resources",
     "entry",  "byte",   "bytes",   "field",           "record",      "records",  "row",
     "column", "offset", "sample",  "component",       "item",        "index",    "repetition",
     "of",     "than",   "limit",   "max_field_bytes", "max_records", "month",    "day",
     NULL};

static bool
s_upper_digit (char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* True for a part of a token (between . - ^ / _ [ ] # :) that is ours. */
static bool
s_safe_part (const char *w, size_t n, bool after_segment, bool in_brackets)
{
    if (n == 0) {
        return true;
    }
    bool digits = true, lower_start = w[0] >= 'a' && w[0] <= 'z', letters = true;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char) w[i];
        digits = digits && c >= '0' && c <= '9';
        letters = letters && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));
    }
    if (digits) {
        return (after_segment || in_brackets) && n <= 3; /* PID-7, OBX[3] */
    }
    if (letters && lower_start) {
        return true; /* english words, element names (effectiveDateTime) */
    }
    if (s_in (w, n, s_vocab) || (n == 1 && w[0] >= 'A' && w[0] <= 'Z')) {
        return true; /* ours; or one letter (the N of a reason class): nothing identifies */
    }
    /* HL7 trigger events (A01, R01) and site segments (ZPI) */
    if (n == 3 && w[0] >= 'A' && w[0] <= 'Z' && w[1] >= '0' && w[1] <= '9' && w[2] >= '0'
        && w[2] <= '9') {
        return true;
    }
    return n == 3 && w[0] == 'Z' && s_upper_digit (w[1]) && s_upper_digit (w[2]);
}

/* True when the token t[0..n) is ours throughout; after_position: the
 * previous word makes a plain number a position. */
static bool
s_safe_token (const char *t, size_t n, bool after_position)
{
    bool digits = n > 0;
    for (size_t i = 0; i < n; i++) {
        digits = digits && t[i] >= '0' && t[i] <= '9';
    }
    if (digits) {
        return after_position && n <= 9;
    }
    size_t i = 0;
    bool prev_segment = false, in_brackets = false;
    while (i < n) {
        size_t j = i;
        while (j < n && s_alnum ((unsigned char) t[j]) && t[j] != '_') {
            j++;
        }
        if (j == i) {
            /* a separator */
            if (!strchr (".-^/_[]#:+=&~\\*<>%@!?|{}$", t[i])) {
                return false;
            }
            in_brackets = t[i] == '[' ? true : t[i] == ']' ? false : in_brackets;
            bool keep_segment = prev_segment && t[i] == '-';
            prev_segment = keep_segment;
            i++;
            continue;
        }
        if (!s_safe_part (t + i, j - i, prev_segment, in_brackets)) {
            return false;
        }
        prev_segment = j - i == 3 && t[i] >= 'A' && t[i] <= 'Z' && s_in (t + i, 3, s_vocab);
        i = j;
    }
    return true;
}

/* The shape of a withheld token when it is a date, time or number (only
 * digits and - / : . + T Z, at most 32 bytes): digits as 9; else '…'. */
static void
s_shape (const char *t, size_t n, char *out, size_t size, size_t *o)
{
    bool shape = n <= 32;
    bool any_digit = false;
    for (size_t i = 0; i < n && shape; i++) {
        any_digit = any_digit || (t[i] >= '0' && t[i] <= '9');
        shape = (t[i] >= '0' && t[i] <= '9') || (t[i] && strchr ("-/:.+TZ", t[i]));
    }
    if (!shape || !any_digit) {
        s_put (out, size, o, S_ELLIPSIS, 3);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        char c = t[i] >= '0' && t[i] <= '9' ? '9' : t[i];
        s_put (out, size, o, &c, 1);
    }
}

void
hg_quality_redact (const char *in, char *out, size_t size)
{
    size_t o = 0;
    bool after_position = false;
    const char *p = in;
    while (*p && o < size) {
        if (*p == '\'' || *p == '"') {
            const char *end = strchr (p + 1, *p);
            s_put (out, size, &o, p, 1);
            s_put (out, size, &o, S_ELLIPSIS, 3);
            if (!end) {
                break; /* a quote never closed withholds the rest */
            }
            s_put (out, size, &o, p, 1);
            p = end + 1;
            after_position = false;
            continue;
        }
        if (strchr (" \t(),;", *p) || (unsigned char) *p < 0x20) {
            char c = (unsigned char) *p < 0x20 ? ' ' : *p;
            s_put (out, size, &o, &c, 1);
            p++;
            continue;
        }
        /* a token: up to a space or bracket; a trailing ':' '.' is punctuation */
        size_t n = strcspn (p, " \t(),;'\"");
        size_t tail = 0;
        while (n - tail > 1 && strchr (":.", p[n - tail - 1])) {
            tail++;
        }
        size_t core = n - tail;
        const char *slash = memchr (p, '/', core);
        if (slash && slash > p && s_in (p, (size_t) (slash - p), s_vocab)) {
            /* a reference Type/id: the id is the partner's */
            s_put (out, size, &o, p, (size_t) (slash - p) + 1);
            s_put (out, size, &o, S_ELLIPSIS, 3);
        }
        else if (s_safe_token (p, core, after_position)) {
            s_put (out, size, &o, p, core);
        }
        else {
            s_shape (p, core, out, size, &o);
        }
        s_put (out, size, &o, p + core, tail);
        after_position = tail == 0 && s_in (p, core, s_position_words);
        p += n;
    }
    out[o < size ? o : size - 1] = '\0';
}

/* A JSON string at in[i] (the opening quote): its end (after the closing
 * quote, or len), its content in [*c0, *c1). */
static size_t
s_json_string (const char *in, size_t len, size_t i, size_t *c0, size_t *c1)
{
    size_t j = i + 1;
    while (j < len && in[j] != '"') {
        j += in[j] == '\\' ? 2 : 1;
    }
    *c0 = i + 1;
    *c1 = j < len ? j : len;
    return j < len ? j + 1 : len;
}

static bool
s_json_key_like (const char *w, size_t n)
{
    if (n == 0 || n > 40 || !(w[0] >= 'a' && w[0] <= 'z')) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = w[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '_')) {
            return false;
        }
    }
    return true;
}

void
hg_quality_redact_excerpt (const char *in, size_t len, char *out, size_t size)
{
    size_t o = 0, i = 0;
    bool line_start = true, after_resource_type = false;
    while (i < len && o < size) {
        unsigned char c = (unsigned char) in[i];
        if (line_start && i + 3 < len && in[i + 3] == '|' && in[i] >= 'A' && in[i] <= 'Z'
            && s_upper_digit (in[i + 1]) && s_upper_digit (in[i + 2])) {
            s_put (out, size, &o, in + i, 3); /* an HL7 segment id */
            i += 3;
            line_start = false;
            continue;
        }
        line_start = false;
        if (c == '"') {
            size_t c0, c1;
            size_t end = s_json_string (in, len, i, &c0, &c1);
            size_t k = end;
            while (k < len && (in[k] == ' ' || in[k] == '\t')) {
                k++;
            }
            bool key = k < len && in[k] == ':' && s_json_key_like (in + c0, c1 - c0);
            bool type = after_resource_type && s_in (in + c0, c1 - c0, s_vocab);
            s_put (out, size, &o, "\"", 1);
            if (key || type) {
                s_put (out, size, &o, in + c0, c1 - c0);
            }
            else {
                s_shape (in + c0, c1 - c0, out, size, &o);
            }
            if (end > c1) {
                s_put (out, size, &o, "\"", 1);
            }
            after_resource_type = key && c1 - c0 == 12
                                  && memcmp (in + c0, "resourceType", 12) == 0;
            i = end;
            continue;
        }
        if (s_alnum (c)) {
            size_t j = i;
            bool digits = true;
            while (j < len && s_alnum ((unsigned char) in[j])) {
                digits = digits && in[j] >= '0' && in[j] <= '9';
                j++;
            }
            size_t n = j - i;
            bool literal =
                (n == 4 && (memcmp (in + i, "true", 4) == 0 || memcmp (in + i, "null", 4) == 0))
                || (n == 5 && memcmp (in + i, "false", 5) == 0);
            if (literal) {
                s_put (out, size, &o, in + i, n);
            }
            else if (digits) {
                for (size_t k = 0; k < n && k < 16; k++) {
                    s_put (out, size, &o, "9", 1);
                }
                if (n > 16) {
                    s_put (out, size, &o, S_ELLIPSIS, 3);
                }
            }
            else {
                s_put (out, size, &o, S_ELLIPSIS, 3);
            }
            i = j;
            continue;
        }
        if (c == '\r' || c == '\n') {
            s_put (out, size, &o, "\n", 1);
            line_start = true;
            while (i + 1 < len && (in[i + 1] == '\n' || in[i + 1] == '\r')) {
                i++;
            }
        }
        else if (c < 0x20 && c != '\t') {
            s_put (out, size, &o, ".", 1);
        }
        else if (c != ':' && c != ' ' && c != ',') {
            after_resource_type = false;
            s_put (out, size, &o, in + i, 1);
        }
        else {
            s_put (out, size, &o, in + i, 1);
        }
        i++;
    }
    out[o < size ? o : size - 1] = '\0';
}

/* ------------------------------------------------------------------------
 * Figures */

/* Index of flag name among p's flags (a new entry when there is room), or
 * -1. */
static int
s_flag_index (partner_t *p, const char *name)
{
    for (int k = 0; k < p->n_flags; k++) {
        if (strcmp (p->flags[k].flag, name) == 0) {
            return k;
        }
    }
    if (p->n_flags == HG_Q_MAX_FLAGS) {
        return -1;
    }
    flag_t *f = &p->flags[p->n_flags];
    snprintf (f->flag, sizeof (f->flag), "%s", name);
    f->count = 0;
    return p->n_flags++;
}

/* Index of reason class cls among p's reasons (a new entry when there is
 * room), or -1. */
static int
s_reason_index (partner_t *p, const char *cls)
{
    for (int k = 0; k < p->n_reasons; k++) {
        if (strcmp (p->reasons[k].reason, cls) == 0) {
            return k;
        }
    }
    if (p->n_reasons == HG_Q_MAX_REASONS) {
        return -1;
    }
    reason_t *r = &p->reasons[p->n_reasons];
    memset (r, 0, sizeof (*r));
    snprintf (r->reason, sizeof (r->reason), "%s", cls);
    return p->n_reasons++;
}

/* Field index i's kind as the RecordKind value (a valid fill index). */
static int
s_kind_slot (Hourglass__RecordKind kind)
{
    return (int) kind >= 0 && (int) kind < S_N_KINDS ? (int) kind : 0;
}

static void
s_fill_record (fill_t *f, const Hourglass__Record *rec)
{
    f->kind_records[s_kind_slot (rec->kind)]++;
    bool seen = false; /* a kind's fields are one run of the table */
    for (size_t i = 0; i < S_N_FIELDS; i++) {
        if (s_fields[i].kind == rec->kind) {
            f->filled[i] += (uint64_t) (s_fields[i].has (rec) != 0);
            seen = true;
        }
        else if (seen) {
            break;
        }
    }
}

/* The slot of day in p's window, made when missing (days older than the
 * window are refused: NULL); a newer day drops those it pushes out. */
static day_t *
s_day (partner_t *p, uint32_t day)
{
    if (!p->days) {
        p->days = calloc (HG_QUALITY_DAYS, sizeof (day_t));
        if (!p->days) {
            return NULL;
        }
    }
    uint32_t newest = p->n_days ? p->days[p->n_days - 1].day : day;
    uint32_t top = day > newest ? day : newest;
    if (top - day >= HG_QUALITY_DAYS) {
        return NULL;
    }
    /* drop the days the window no longer holds */
    int drop = 0;
    while (drop < p->n_days && top - p->days[drop].day >= HG_QUALITY_DAYS) {
        if (p->n_dropped < HG_QUALITY_DAYS) {
            p->dropped[p->n_dropped++] = p->days[drop].day;
        }
        drop++;
    }
    if (drop) {
        memmove (p->days, p->days + drop, (size_t) (p->n_days - drop) * sizeof (day_t));
        p->n_days -= drop;
    }
    int at = p->n_days;
    while (at > 0 && p->days[at - 1].day >= day) {
        at--;
    }
    if (at < p->n_days && p->days[at].day == day) {
        return &p->days[at];
    }
    /* at most HG_QUALITY_DAYS distinct days lie in the window: room */
    memmove (p->days + at + 1, p->days + at, (size_t) (p->n_days - at) * sizeof (day_t));
    memset (&p->days[at], 0, sizeof (day_t));
    p->days[at].day = day;
    p->n_days++;
    return &p->days[at];
}

/* Keeps sample s for reason r: in a free slot, else over the oldest when
 * s is newer. */
static void
s_sample_keep (reason_t *r, const sample_t *s)
{
    int slot = r->n_samples < HG_QUALITY_SAMPLES ? r->n_samples++ : -1;
    if (slot < 0) {
        slot = 0;
        for (int k = 1; k < HG_QUALITY_SAMPLES; k++) {
            slot = r->samples[k].at_us < r->samples[slot].at_us ? k : slot;
        }
        if (r->samples[slot].at_us > s->at_us) {
            return;
        }
    }
    r->samples[slot] = *s;
}

void
hg_quality_message (hg_quality_t *self, const char *partner, const char *message_label,
                    uint64_t at_us, Hourglass__Record *const *records, size_t n_records,
                    const hg_reject_t *rejects, size_t n_rejects, size_t ignored,
                    const char *const *flags, size_t n_flags, size_t flagged)
{
    partner_t *p = s_partner (self, partner, 1);
    if (!p) {
        return;
    }
    day_t *d = s_day (p, hg_quality_day (at_us));
    day_t none; /* a day out of the window: counted in the totals only */
    if (!d) {
        memset (&none, 0, sizeof (none));
        d = &none;
    }
    p->first_us = p->first_us && p->first_us < at_us ? p->first_us : at_us;
    p->last_us = p->last_us > at_us ? p->last_us : at_us;
    p->messages++;
    p->records += n_records;
    p->rejected += n_rejects;
    p->ignored += ignored;
    p->flagged += flagged;
    d->messages++;
    d->records += n_records;
    d->rejected += n_rejects;
    d->ignored += ignored;
    d->flagged += flagged;
    uint64_t unlinked = 0, complete = 0;
    fill_t fill; /* the message's, added to the totals and to the day */
    memset (&fill, 0, sizeof (fill));
    for (size_t i = 0; i < n_records; i++) {
        complete += (uint64_t) hg_quality_complete (records[i]);
        s_fill_record (&fill, records[i]);
        unlinked += hg_fhir_record_unlinked (records[i]);
    }
    p->complete += complete;
    d->complete += complete;
    for (size_t i = 0; n_records && i < S_N_FIELDS; i++) {
        p->fill.filled[i] += fill.filled[i];
        d->fill.filled[i] += fill.filled[i];
    }
    for (size_t i = 0; n_records && i < S_N_KINDS; i++) {
        p->fill.kind_records[i] += fill.kind_records[i];
        d->fill.kind_records[i] += fill.kind_records[i];
    }
    int k;
    if (unlinked && (k = s_flag_index (p, HG_FHIR_FLAG_UNLINKED)) >= 0) {
        p->flags[k].count += unlinked;
        d->flags[k] += unlinked;
    }
    for (size_t i = 0; i < n_rejects; i++) {
        /* the class of the redacted reason: no value a partner chose, even
         * unquoted (a name in MSH-9), reaches the figures */
        char safe[sizeof (((sample_t *) 0)->reason)], cls[256];
        hg_quality_redact (rejects[i].reason, safe, sizeof (safe));
        hg_quality_reason_class (safe, cls, sizeof (cls));
        k = s_reason_index (p, cls);
        if (k < 0) {
            continue; /* beyond the reasons we keep: still counted in rejected */
        }
        reason_t *r = &p->reasons[k];
        r->count++;
        d->reasons[k]++;
        sample_t s;
        snprintf (s.message, sizeof (s.message), "%s", message_label);
        hg_quality_redact (rejects[i].location, s.location, sizeof (s.location));
        memcpy (s.reason, safe, sizeof (s.reason));
        hg_quality_redact_excerpt (rejects[i].excerpt, rejects[i].excerpt_len, s.excerpt,
                                   sizeof (s.excerpt));
        s.at_us = at_us;
        s_sample_keep (r, &s);
    }
    for (size_t i = 0; flags && i < n_flags; i++) {
        if ((k = s_flag_index (p, flags[i])) >= 0) {
            p->flags[k].count++;
            d->flags[k]++;
        }
    }
}

static flag_t *
s_ignored_find (partner_t *p, const char *name, bool create)
{
    for (int k = 0; k < p->n_ignored_kinds; k++) {
        if (strcmp (p->ignored_kinds[k].flag, name) == 0) {
            return &p->ignored_kinds[k];
        }
    }
    if (!create || p->n_ignored_kinds == HG_QUALITY_IGNORED_KINDS) {
        return NULL;
    }
    flag_t *f = &p->ignored_kinds[p->n_ignored_kinds++];
    snprintf (f->flag, sizeof (f->flag), "%s", name);
    f->count = 0;
    return f;
}

/* Adds count to the ignored kind name of p; past the kinds kept (the last
 * slot is kept for them), to "other". */
static void
s_ignored_add (partner_t *p, const char *name, uint64_t count)
{
    bool room = p->n_ignored_kinds < HG_QUALITY_IGNORED_KINDS - 1;
    flag_t *f = s_ignored_find (p, name, room || strcmp (name, "other") == 0);
    if (!f) {
        f = s_ignored_find (p, "other", true);
    }
    if (f) {
        f->count += count;
    }
}

void
hg_quality_ignored (hg_quality_t *self, const char *partner, const hg_ignored_t *kinds, size_t n)
{
    partner_t *p = s_partner (self, partner, 1);
    for (size_t i = 0; p && i < n; i++) {
        s_ignored_add (p, kinds[i].kind, kinds[i].count);
    }
}

void
hg_quality_replayed (hg_quality_t *self, const char *partner, uint64_t at_us,
                     uint64_t records_before, uint64_t records_after, uint64_t rejects_before,
                     uint64_t rejects_after)
{
    partner_t *p = s_partner (self, partner, 1);
    if (!p) {
        return;
    }
    p->records = p->records - (records_before < p->records ? records_before : p->records)
                 + records_after;
    p->rejected = p->rejected - (rejects_before < p->rejected ? rejects_before : p->rejected)
                  + rejects_after;
    day_t *d = s_day (p, hg_quality_day (at_us));
    if (d) {
        d->records += records_after > records_before ? records_after - records_before : 0;
        uint64_t cleared = rejects_before > rejects_after ? rejects_before - rejects_after : 0;
        d->rejected -= cleared < d->rejected ? cleared : d->rejected;
    }
}

/* Adds packed fill counts (FieldFill list) to f: kinds counted once. */
static void
s_fill_merge (fill_t *f, Hourglass__FieldFill *const *in, size_t n)
{
    bool kind_seen[S_N_KINDS] = {false};
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < S_N_FIELDS; k++) {
            const char *kind = hg_record_kind_name (s_fields[k].kind);
            if (strcmp (kind, in[i]->kind) != 0
                || strcmp (s_fields[k].field, in[i]->field) != 0) {
                continue;
            }
            int slot = s_kind_slot (s_fields[k].kind);
            if (!kind_seen[slot]) {
                f->kind_records[slot] += in[i]->records;
                kind_seen[slot] = true;
            }
            f->filled[k] += in[i]->filled;
        }
    }
}

static void
s_merge_day (partner_t *p, const Hourglass__QualityDay *q)
{
    day_t *d = s_day (p, q->day);
    if (!d) {
        return; /* older than the window */
    }
    d->messages += q->messages;
    d->records += q->records;
    d->rejected += q->rejected;
    d->ignored += q->ignored;
    d->complete += q->complete;
    d->flagged += q->flagged;
    for (size_t i = 0; i < q->n_reasons; i++) {
        char safe[sizeof (p->reasons[0].reason)];
        hg_quality_redact (q->reasons[i]->reason, safe, sizeof (safe));
        int k = s_reason_index (p, safe);
        if (k >= 0) {
            d->reasons[k] += q->reasons[i]->count;
        }
    }
    for (size_t i = 0; i < q->n_flags; i++) {
        int k = s_flag_index (p, q->flags[i]->flag);
        if (k >= 0) {
            d->flags[k] += q->flags[i]->count;
        }
    }
    s_fill_merge (&d->fill, q->fields, q->n_fields);
}

int
hg_quality_load (hg_quality_t *self, const uint8_t *data, size_t len)
{
    Hourglass__PartnerQuality *q = hourglass__partner_quality__unpack (NULL, len, data);
    if (!q) {
        return -1;
    }
    /* a restore is a merge into empty figures */
    partner_t *p = s_partner (self, q->partner, 1);
    if (p) {
        char name[sizeof (p->name)];
        memcpy (name, p->name, sizeof (name));
        free (p->days);
        memset (p, 0, sizeof (*p));
        memcpy (p->name, name, sizeof (name));
    }
    hourglass__partner_quality__free_unpacked (q, NULL);
    return p ? hg_quality_merge (self, data, len) : -1;
}

int
hg_quality_merge (hg_quality_t *self, const uint8_t *data, size_t len)
{
    Hourglass__PartnerQuality *q = hourglass__partner_quality__unpack (NULL, len, data);
    if (!q) {
        return -1;
    }
    partner_t *p = s_partner (self, q->partner, 1);
    if (p) {
        p->messages += q->messages;
        p->records += q->records;
        p->rejected += q->rejected;
        p->ignored += q->ignored;
        p->complete += q->complete;
        p->flagged += q->flagged;
        if (q->first_us && (!p->first_us || q->first_us < p->first_us)) {
            p->first_us = q->first_us;
        }
        p->last_us = q->last_us > p->last_us ? q->last_us : p->last_us;
        for (size_t i = 0; i < q->n_reasons; i++) {
            /* classes stored by earlier versions could hold unquoted values:
             * redacted again (a no-op on today's) */
            char safe[sizeof (p->reasons[0].reason)];
            hg_quality_redact (q->reasons[i]->reason, safe, sizeof (safe));
            int k = s_reason_index (p, safe);
            if (k < 0) {
                continue;
            }
            reason_t *r = &p->reasons[k];
            r->count += q->reasons[i]->count;
            /* examples of earlier versions held values in clear: not taken */
            for (size_t e = 0; e < q->reasons[i]->n_samples; e++) {
                const Hourglass__QualitySample *in = q->reasons[i]->samples[e];
                sample_t s;
                snprintf (s.message, sizeof (s.message), "%s", in->message);
                snprintf (s.location, sizeof (s.location), "%s", in->location);
                snprintf (s.reason, sizeof (s.reason), "%s", in->reason);
                snprintf (s.excerpt, sizeof (s.excerpt), "%s", in->excerpt);
                s.at_us = in->at_us;
                s_sample_keep (r, &s);
            }
        }
        for (size_t i = 0; i < q->n_flags; i++) {
            int k = s_flag_index (p, q->flags[i]->flag);
            if (k >= 0) {
                p->flags[k].count += q->flags[i]->count;
            }
        }
        for (size_t i = 0; i < q->n_ignored_kinds; i++) {
            s_ignored_add (p, q->ignored_kinds[i]->flag, q->ignored_kinds[i]->count);
        }
        s_fill_merge (&p->fill, q->fields, q->n_fields);
        for (size_t i = 0; i < q->n_days; i++) {
            s_merge_day (p, q->days[i]);
        }
    }
    hourglass__partner_quality__free_unpacked (q, NULL);
    return p ? 0 : -1;
}

/* Packing: the figures point into p; everything else lives in a pack_t
 * on the heap (it is large), freed after packing. */
typedef struct {
    Hourglass__ReasonCount rc[HG_Q_MAX_REASONS], *rcp[HG_Q_MAX_REASONS];
    Hourglass__QualitySample sm[HG_Q_MAX_REASONS][HG_QUALITY_SAMPLES];
    Hourglass__QualitySample *smp[HG_Q_MAX_REASONS][HG_QUALITY_SAMPLES];
    Hourglass__FlagCount fc[HG_Q_MAX_FLAGS], *fcp[HG_Q_MAX_FLAGS];
    Hourglass__FlagCount ic[HG_QUALITY_IGNORED_KINDS], *icp[HG_QUALITY_IGNORED_KINDS];
    Hourglass__FieldFill ff[S_N_FIELDS], *ffp[S_N_FIELDS];
} pack_t;

/* One packed day's parts. */
typedef struct {
    Hourglass__QualityDay qd;
    Hourglass__ReasonCount drc[HG_Q_MAX_REASONS], *drcp[HG_Q_MAX_REASONS];
    Hourglass__FlagCount dfc[HG_Q_MAX_FLAGS], *dfcp[HG_Q_MAX_FLAGS];
    Hourglass__FieldFill dff[S_N_FIELDS], *dffp[S_N_FIELDS];
} pack_day_t;

/* Fills the FieldFill list of f (kinds without records left out). */
static size_t
s_pack_fill (const fill_t *f, Hourglass__FieldFill *ff, Hourglass__FieldFill **ffp)
{
    size_t n = 0;
    for (size_t i = 0; i < S_N_FIELDS; i++) {
        uint64_t records = f->kind_records[s_kind_slot (s_fields[i].kind)];
        if (!records) {
            continue;
        }
        hourglass__field_fill__init (&ff[n]);
        ff[n].kind = (char *) hg_record_kind_name (s_fields[i].kind);
        ff[n].field = (char *) s_fields[i].field;
        ff[n].records = records;
        ff[n].filled = f->filled[i];
        ffp[n] = &ff[n];
        n++;
    }
    return n;
}

static void
s_pack_day (const partner_t *p, const day_t *d, pack_day_t *k)
{
    Hourglass__QualityDay *q = &k->qd;
    hourglass__quality_day__init (q);
    q->day = d->day;
    q->messages = d->messages;
    q->records = d->records;
    q->rejected = d->rejected;
    q->ignored = d->ignored;
    q->complete = d->complete;
    q->flagged = d->flagged;
    size_t n = 0;
    for (int i = 0; i < p->n_reasons; i++) {
        if (d->reasons[i]) {
            hourglass__reason_count__init (&k->drc[n]);
            k->drc[n].reason = (char *) p->reasons[i].reason;
            k->drc[n].count = d->reasons[i];
            k->drcp[n] = &k->drc[n];
            n++;
        }
    }
    q->n_reasons = n;
    q->reasons = k->drcp;
    n = 0;
    for (int i = 0; i < p->n_flags; i++) {
        if (d->flags[i]) {
            hourglass__flag_count__init (&k->dfc[n]);
            k->dfc[n].flag = (char *) p->flags[i].flag;
            k->dfc[n].count = d->flags[i];
            k->dfcp[n] = &k->dfc[n];
            n++;
        }
    }
    q->n_flags = n;
    q->flags = k->dfcp;
    q->n_fields = s_pack_fill (&d->fill, k->dff, k->dffp);
    q->fields = k->dffp;
}

/* Packs p: totals (with_totals), and its days: every one (day == 0 and
 * all_days), or only day. */
static size_t
s_pack (const partner_t *p, bool with_totals, bool all_days, uint32_t day, uint8_t **out)
{
    Hourglass__QualityDay *qdp[HG_QUALITY_DAYS];
    pack_t *k = with_totals ? calloc (1, sizeof (*k)) : NULL;
    if (with_totals && !k) {
        return 0;
    }
    Hourglass__PartnerQuality q = HOURGLASS__PARTNER_QUALITY__INIT;
    q.partner = (char *) p->name;
    if (with_totals) {
        q.messages = p->messages;
        q.records = p->records;
        q.rejected = p->rejected;
        q.ignored = p->ignored;
        q.complete = p->complete;
        q.flagged = p->flagged;
        q.first_us = p->first_us;
        q.last_us = p->last_us;
        for (int i = 0; i < p->n_reasons; i++) {
            const reason_t *r = &p->reasons[i];
            hourglass__reason_count__init (&k->rc[i]);
            k->rc[i].reason = (char *) r->reason;
            k->rc[i].count = r->count;
            for (int e = 0; e < r->n_samples; e++) {
                Hourglass__QualitySample *s = &k->sm[i][e];
                hourglass__quality_sample__init (s);
                s->message = (char *) r->samples[e].message;
                s->location = (char *) r->samples[e].location;
                s->reason = (char *) r->samples[e].reason;
                s->excerpt = (char *) r->samples[e].excerpt;
                s->at_us = r->samples[e].at_us;
                k->smp[i][e] = s;
            }
            k->rc[i].n_samples = (size_t) r->n_samples;
            k->rc[i].samples = k->smp[i];
            k->rcp[i] = &k->rc[i];
        }
        q.n_reasons = (size_t) p->n_reasons;
        q.reasons = k->rcp;
        for (int i = 0; i < p->n_flags; i++) {
            hourglass__flag_count__init (&k->fc[i]);
            k->fc[i].flag = (char *) p->flags[i].flag;
            k->fc[i].count = p->flags[i].count;
            k->fcp[i] = &k->fc[i];
        }
        q.n_flags = (size_t) p->n_flags;
        q.flags = k->fcp;
        for (int i = 0; i < p->n_ignored_kinds; i++) {
            hourglass__flag_count__init (&k->ic[i]);
            k->ic[i].flag = (char *) p->ignored_kinds[i].flag;
            k->ic[i].count = p->ignored_kinds[i].count;
            k->icp[i] = &k->ic[i];
        }
        q.n_ignored_kinds = (size_t) p->n_ignored_kinds;
        q.ignored_kinds = k->icp;
        q.n_fields = s_pack_fill (&p->fill, k->ff, k->ffp);
        q.fields = k->ffp;
    }
    int n_days = 0, wanted = 0;
    for (int i = 0; i < p->n_days; i++) {
        wanted += all_days || p->days[i].day == day;
    }
    pack_day_t *kd = wanted ? calloc ((size_t) wanted, sizeof (*kd)) : NULL;
    for (int i = 0; kd && i < p->n_days; i++) {
        if (all_days || p->days[i].day == day) {
            s_pack_day (p, &p->days[i], &kd[n_days]);
            qdp[n_days] = &kd[n_days].qd;
            n_days++;
        }
    }
    q.n_days = (size_t) n_days;
    q.days = qdp;
    size_t len = 0;
    if ((with_totals || n_days) && (kd || !wanted)) {
        len = hourglass__partner_quality__get_packed_size (&q);
        *out = malloc (len ? len : 1);
        if (*out) {
            hourglass__partner_quality__pack (&q, *out);
        }
        else {
            len = 0;
        }
    }
    free (kd);
    free (k);
    return len;
}

size_t
hg_quality_pack (const hg_quality_t *self, const char *partner, uint8_t **out)
{
    partner_t *p = s_partner ((hg_quality_t *) self, partner, 0);
    return p ? s_pack (p, true, false, UINT32_MAX, out) : 0;
}

size_t
hg_quality_pack_day (const hg_quality_t *self, const char *partner, uint32_t day, uint8_t **out)
{
    partner_t *p = s_partner ((hg_quality_t *) self, partner, 0);
    return p ? s_pack (p, false, false, day, out) : 0;
}

size_t
hg_quality_pack_report (const hg_quality_t *self, const char *partner, uint8_t **out)
{
    partner_t *p = s_partner ((hg_quality_t *) self, partner, 0);
    return p ? s_pack (p, true, true, 0, out) : 0;
}

size_t
hg_quality_take_dropped (hg_quality_t *self, const char *partner, uint32_t *days, size_t max)
{
    partner_t *p = s_partner (self, partner, 0);
    if (!p) {
        return 0;
    }
    size_t n = (size_t) p->n_dropped < max ? (size_t) p->n_dropped : max;
    memcpy (days, p->dropped, n * sizeof (*days));
    memmove (p->dropped, p->dropped + n, ((size_t) p->n_dropped - n) * sizeof (*days));
    p->n_dropped -= (int) n;
    return n;
}

size_t
hg_quality_partners (const hg_quality_t *self, const char **names, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < self->n && n < max; i++) {
        names[n++] = self->partners[i]->name;
    }
    return n;
}
