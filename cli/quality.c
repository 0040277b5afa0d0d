/*
 * quality.c -- `hourglass quality --partner P [--json] [--html FILE]
 * [--since DAY] [--until DAY] [--days N]`: a partner's data-quality report,
 * merged over every cleanser instance, in the spirit of OHDSI's Data Quality
 * Dashboard: conformance (records not rejected), completeness (records with
 * patient, code, date, value; and per field of each record kind),
 * plausibility (records without validation flags), a trend per day, the
 * top rejection reasons with redacted samples, and what the partner should
 * fix, in words a data manager reads.
 *
 * The figures come from the cleansers' QUALITY replies: totals since the
 * start, and per UTC day of receipt for the last HG_QUALITY_DAYS (90) days
 * (services/cleanser/quality.h). Without a period the report covers
 * everything since the first message; with one, the days in it.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "cli.h"
#include "control.h"
#include "date.h"
#include "opts.h"
#include "util.h"

#define HG_QR_MAX_REASONS 128
#define HG_QR_MAX_NAMED 64
#define HG_QR_MAX_FIELDS 64
#define HG_QR_DAYS_KEPT 90  /* HG_QUALITY_DAYS of the cleanser */
#define HG_QR_TREND_DAYS 14 /* the trend without a period: the last two weeks */
#define HG_QR_MAX_TREND 366 /* bars of one report at most */
#define HG_QR_SAMPLES 3

typedef struct {
    const char *reason;
    uint64_t count;
    const Hourglass__QualitySample *samples[HG_QR_SAMPLES];
    int n_samples;
} reason_t;

typedef struct {
    const char *flag;
    uint64_t count;
} named_t;

typedef struct {
    const char *kind, *field;
    uint64_t records, filled;
} field_t;

typedef struct {
    uint32_t day;
    uint64_t messages, records, rejected, flagged;
} trend_t;

typedef struct {
    uint64_t messages, records, rejected, ignored, complete, flagged;
    uint64_t first_us, last_us;
    uint64_t total_messages; /* since the start, whatever the period */
    reason_t reasons[HG_QR_MAX_REASONS];
    int n_reasons;
    named_t flags[HG_QR_MAX_NAMED];
    int n_flags;
    named_t ignored_kinds[HG_QR_MAX_NAMED]; /* what the ignored count holds, by kind */
    int n_ignored_kinds;
    field_t fields[HG_QR_MAX_FIELDS];
    int n_fields;
    /* the period: all (since the start) or [since, until], days since the epoch */
    bool all;
    uint32_t since, until, today;

    trend_t trend[HG_QR_MAX_TREND];
    int n_trend;
} report_t;

/* Adds count to name in the list (at most HG_QR_MAX_NAMED names). */
static void
s_named_add (named_t *list, int *n_list, const char *name, uint64_t count)
{
    int k = 0;
    while (k < *n_list && strcmp (list[k].flag, name) != 0) {
        k++;
    }
    if (k == *n_list && k < HG_QR_MAX_NAMED) {
        list[*n_list].flag = name;
        list[(*n_list)++].count = 0;
    }
    if (k < HG_QR_MAX_NAMED) {
        list[k].count += count;
    }
}

static reason_t *
s_reason (report_t *r, const char *reason)
{
    for (int k = 0; k < r->n_reasons; k++) {
        if (strcmp (r->reasons[k].reason, reason) == 0) {
            return &r->reasons[k];
        }
    }
    if (r->n_reasons == HG_QR_MAX_REASONS) {
        return NULL;
    }
    reason_t *x = &r->reasons[r->n_reasons++];
    x->reason = reason;
    return x;
}

static void
s_fields_add (report_t *r, Hourglass__FieldFill *const *in, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int k = 0;
        while (k < r->n_fields
               && (strcmp (r->fields[k].kind, in[i]->kind) != 0
                   || strcmp (r->fields[k].field, in[i]->field) != 0)) {
            k++;
        }
        if (k == r->n_fields) {
            if (k == HG_QR_MAX_FIELDS) {
                continue;
            }
            r->fields[k] = (field_t) {.kind = in[i]->kind, .field = in[i]->field};
            r->n_fields++;
        }
        r->fields[k].records += in[i]->records;
        r->fields[k].filled += in[i]->filled;
    }
}

/* Keeps sample s of x when it is among the latest HG_QR_SAMPLES and lies in
 * the period. */
static void
s_sample_keep (const report_t *r, reason_t *x, const Hourglass__QualitySample *s)
{
    uint32_t day = (uint32_t) (s->at_us / 1000000u / 86400u);
    if (!r->all && (day < r->since || day > r->until)) {
        return;
    }
    int slot = x->n_samples < HG_QR_SAMPLES ? x->n_samples++ : -1;
    if (slot < 0) {
        slot = 0;
        for (int k = 1; k < HG_QR_SAMPLES; k++) {
            slot = x->samples[k]->at_us < x->samples[slot]->at_us ? k : slot;
        }
        if (x->samples[slot]->at_us > s->at_us) {
            return;
        }
    }
    x->samples[slot] = s;
}

/* Adds one cleanser's figures of the partner: the totals (all-time report)
 * or the days of the period; samples and ignored kinds from the totals. */
static void
s_merge (report_t *r, const Hourglass__PartnerQuality *q)
{
    if (q->first_us && (!r->first_us || q->first_us < r->first_us)) {
        r->first_us = q->first_us;
    }
    r->last_us = q->last_us > r->last_us ? q->last_us : r->last_us;
    r->total_messages += q->messages;
    if (r->all) {
        r->messages += q->messages;
        r->records += q->records;
        r->rejected += q->rejected;
        r->ignored += q->ignored;
        r->complete += q->complete;
        r->flagged += q->flagged;
        for (size_t i = 0; i < q->n_reasons; i++) {
            reason_t *x = s_reason (r, q->reasons[i]->reason);
            if (x) {
                x->count += q->reasons[i]->count;
            }
        }
        for (size_t i = 0; i < q->n_flags; i++) {
            s_named_add (r->flags, &r->n_flags, q->flags[i]->flag, q->flags[i]->count);
        }
        s_fields_add (r, q->fields, q->n_fields);
    }
    for (size_t i = 0; i < q->n_ignored_kinds; i++) {
        s_named_add (r->ignored_kinds, &r->n_ignored_kinds, q->ignored_kinds[i]->flag,
                     q->ignored_kinds[i]->count);
    }
    for (size_t i = 0; i < q->n_days; i++) {
        const Hourglass__QualityDay *d = q->days[i];
        for (int t = 0; t < r->n_trend; t++) {
            if (r->trend[t].day == d->day) {
                r->trend[t].messages += d->messages;
                r->trend[t].records += d->records;
                r->trend[t].rejected += d->rejected;
                r->trend[t].flagged += d->flagged;
            }
        }
        if (r->all || d->day < r->since || d->day > r->until) {
            continue;
        }
        r->messages += d->messages;
        r->records += d->records;
        r->rejected += d->rejected;
        r->ignored += d->ignored;
        r->complete += d->complete;
        r->flagged += d->flagged;
        for (size_t k = 0; k < d->n_reasons; k++) {
            reason_t *x = s_reason (r, d->reasons[k]->reason);
            if (x) {
                x->count += d->reasons[k]->count;
            }
        }
        for (size_t k = 0; k < d->n_flags; k++) {
            s_named_add (r->flags, &r->n_flags, d->flags[k]->flag, d->flags[k]->count);
        }
        s_fields_add (r, d->fields, d->n_fields);
    }
    for (size_t i = 0; i < q->n_reasons; i++) {
        reason_t *x = s_reason (r, q->reasons[i]->reason);
        for (size_t e = 0; x && e < q->reasons[i]->n_samples; e++) {
            s_sample_keep (r, x, q->reasons[i]->samples[e]);
        }
    }
}

static int
s_by_count (const void *a, const void *b)
{
    const reason_t *x = a, *y = b;
    return x->count < y->count ? 1 : x->count > y->count ? -1 : strcmp (x->reason, y->reason);
}

static int
s_named_by_count (const void *a, const void *b)
{
    const named_t *x = a, *y = b;
    return x->count < y->count ? 1 : x->count > y->count ? -1 : strcmp (x->flag, y->flag);
}

static double
s_pct (uint64_t part, uint64_t whole)
{
    return whole ? 100.0 * (double) part / (double) whole : 100.0;
}

/* YYYY-MM-DD of a day since the epoch. */
static const char *
s_day_text (uint32_t day, char out[11])
{
    int y, m, d;
    hg_date_from_days ((int64_t) day, &y, &m, &d);
    unsigned uy = (unsigned) y % 10000u, um = (unsigned) m % 13u, ud = (unsigned) d % 32u;
    snprintf (out, 11, "%04u-%02u-%02u", uy, um, ud);
    return out;
}

/* ---- what to fix: plain words for each reason and flag --------------------- */

/* The element a reason names first ("Observation.effectiveDateTime"), into
 * out; "the field" when none. */
static const char *
s_element (const char *reason, char *out, size_t size)
{
    size_t n = strcspn (reason, " '");
    if (n == 0 || n >= size || !memchr (reason, '.', n)) {
        snprintf (out, size, "the field");
    }
    else {
        snprintf (out, size, "%.*s", (int) n, reason);
    }
    return out;
}

/* One sentence saying what the partner should fix for a rejection reason
 * (a class: values withheld) seen count times. */
static void
s_fix_reason (const char *reason, uint64_t count, char *out, size_t size)
{
    unsigned long long n = (unsigned long long) count;
    char el[96];
    if (strstr (reason, "PID-3") && strstr (reason, "empty")) {
        snprintf (out, size,
                  "PID-3 (patient identifier list) is empty in %llu message%s: send the "
                  "patient's medical record number in PID-3 (for example "
                  "MRN^^^HOSPITAL^MR); without it the results cannot be linked to a patient.",
                  n, n == 1 ? "" : "s");
    }
    else if (strstr (reason, "message type") && strstr (reason, "not supported")) {
        snprintf (out, size,
                  "%llu message%s had a message type (MSH-9) we do not accept: send only the "
                  "types listed in the reason below, or ask us to add the type you need.",
                  n, n == 1 ? "" : "s");
    }
    else if (strstr (reason, "PID segment is missing")) {
        snprintf (out, size,
                  "%llu message%s had no PID segment: every message must identify its patient "
                  "with a PID segment.",
                  n, n == 1 ? "" : "s");
    }
    else if (strstr (reason, "after today")) {
        snprintf (out, size,
                  "Dates in %s are in the future in %llu record%s: check the date format your "
                  "system sends (expected YYYYMMDD in HL7 v2, YYYY-MM-DD in FHIR, year first) "
                  "and the clock of the sending system.",
                  s_element (reason, el, sizeof (el)), n, n == 1 ? "" : "s");
    }
    else if (strstr (reason, "not a valid date") || strstr (reason, "not an ISO 8601 date")
             || strstr (reason, "expected a date")) {
        snprintf (out, size,
                  "%llu record%s had a date in %s that is not a real calendar date: check the "
                  "date format your system sends (FHIR: YYYY-MM-DD, HL7 v2: YYYYMMDD), with "
                  "months 01-12 and days that exist in the month.",
                  n, n == 1 ? "" : "s", s_element (reason, el, sizeof (el)));
    }
    else if (strstr (reason, "invalid JSON")) {
        snprintf (out, size,
                  "%llu line%s or file%s %s not complete JSON (%s in the middle of a "
                  "resource): check that your export writes whole files with one complete "
                  "resource per line and is not cut off by a size limit or an interrupted "
                  "transfer.",
                  n, n == 1 ? "" : "s", n == 1 ? "" : "s", n == 1 ? "was" : "were",
                  !strstr (reason, "truncated") ? "broken"
                  : n == 1                      ? "it ends"
                                                : "they end");
    }
    else if (strstr (reason, "subject is missing") || strstr (reason, "reference a patient")) {
        snprintf (out, size,
                  "%llu clinical record%s did not say which patient %s belong%s to (subject is "
                  "missing): fill subject with a reference to the Patient in every "
                  "Observation, Condition and other clinical resource.",
                  n, n == 1 ? "" : "s", n == 1 ? "it" : "they", n == 1 ? "s" : "");
    }
    else if (strstr (reason, "is missing; the record needs a code")) {
        snprintf (out, size,
                  "%llu record%s had no code in %s: send a coded value (LOINC for results, "
                  "ICD-10-CM or SNOMED CT for diagnoses, RxNorm for medications).",
                  n, n == 1 ? "" : "s", s_element (reason, el, sizeof (el)));
    }
    else if (strstr (reason, "no coding with both system and code")) {
        snprintf (out, size,
                  "%llu record%s had a code without its code system (or a system without a "
                  "code) in %s: send both system and code in every coding.",
                  n, n == 1 ? "" : "s", s_element (reason, el, sizeof (el)));
    }
    else if (strstr (reason, "max_field_bytes") || strstr (reason, "over the limit")) {
        snprintf (out, size,
                  "%llu value%s %s larger than we accept: check for documents or images "
                  "embedded in data fields, and send them separately.",
                  n, n == 1 ? "" : "s", n == 1 ? "was" : "were");
    }
    else if (strstr (reason, "not a number") || strstr (reason, "not a JSON number")) {
        snprintf (out, size,
                  "%llu value%s %s not a number where a number is expected: send numbers with "
                  "a dot as the decimal separator and the unit in its own field.",
                  n, n == 1 ? "" : "s", n == 1 ? "was" : "were");
    }
    else {
        snprintf (out, size,
                  "%llu item%s %s rejected: \"%s\". Correct this in your export; the rejected "
                  "messages are kept and can be replayed once it is fixed.",
                  n, n == 1 ? "" : "s", n == 1 ? "was" : "were", reason);
    }
}

/* One sentence for a validation flag (the record was kept, but flagged). */
static void
s_fix_flag (const char *flag, uint64_t count, char *out, size_t size)
{
    static const struct {
        const char *flag, *what, *fix;
    } table[] = {
        {"value.implausible", "had a value outside what is physiologically possible",
         "check the units (OBX-6, valueQuantity.unit) and the decimal separator"},
        {"code.invalid_check_digit", "had a LOINC or other code with a wrong check digit",
         "check your code mapping table for typos"},
        {"code.bad_syntax", "had a code not written the way its code system writes it",
         "check your code mapping (for example ICD-10 codes with their dot, LOINC with its "
         "dash)"},
        {"code.unknown_system", "had a code with an unknown code system, or none",
         "send the code system (LOINC, SNOMED CT, ICD-10-CM, RxNorm) with every code"},
        {"unit.not_ucum", "had a unit that is not a UCUM unit",
         "send units in UCUM (mg/dL, mmol/L, 10*3/uL)"},
        {"unit.unconvertible", "had a unit that cannot be the unit of its test",
         "check the unit sent with each test"},
        {"date.in_future", "were dated in the future",
         "check the date format your system sends (expected YYYYMMDD, year first) and the "
         "clock of the sending system"},
        {"date.before_birth", "were dated before the patient's birth",
         "check birth dates (PID-7, Patient.birthDate) and event dates"},
        {"date.after_death", "were dated after the patient's death",
         "check deceased dates (PID-29, Patient.deceasedDateTime) and event dates"},
        {"date.invalid", "had a date that could not be read",
         "send dates as YYYYMMDD (HL7 v2) or YYYY-MM-DD (FHIR)"},
        {"sex.unrecognised", "had a sex code we do not recognise",
         "use M, F, O or U (HL7 table 0001) or male, female, other, unknown (FHIR)"},
        {"id.invalid", "had a malformed identifier (for example an NPI that is not 10 digits)",
         "check the identifier fields"},
        {"patient.unlinked", "named their patient only by a FHIR resource id",
         "add the medical record number to Patient.identifier so the same patient is "
         "recognised across your feeds"},
    };
    unsigned long long n = (unsigned long long) count;
    for (size_t i = 0; i < sizeof (table) / sizeof (table[0]); i++) {
        if (strcmp (flag, table[i].flag) == 0) {
            snprintf (out, size, "%llu record%s %s (kept, flagged %s): %s.", n, n == 1 ? "" : "s",
                      table[i].what, flag, table[i].fix);
            return;
        }
    }
    snprintf (out, size, "%llu record%s carried the flag %s.", n, n == 1 ? "" : "s", flag);
}

/* ---- HTML ---------------------------------------------------------------- */

static void
s_html_text (FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<':
            fputs ("&lt;", f);
            break;
        case '>':
            fputs ("&gt;", f);
            break;
        case '&':
            fputs ("&amp;", f);
            break;
        case '"':
            fputs ("&quot;", f);
            break;
        default:
            fputc (*s, f);
            break;
        }
    }
}

/* The trend: one stacked bar per day (accepted records, rejected), drawn
 * here, nothing loaded. */
static void
s_html_trend (FILE *f, const report_t *r)
{
    uint64_t top = 1;
    for (int i = 0; i < r->n_trend; i++) {
        uint64_t h = r->trend[i].records + r->trend[i].rejected;
        top = h > top ? h : top;
    }
    const int w = 720, h = 180, left = 48, bottom = 24;
    double slot = (double) (w - left - 8) / (r->n_trend ? r->n_trend : 1);
    double bw = slot * 0.8 > 1 ? slot * 0.8 : 1;
    char d0[11], d1[11];
    fprintf (f,
             "<svg id=\"trend\" role=\"img\" aria-labelledby=\"trend-title trend-desc\" "
             "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
             "xmlns=\"http://www.w3.org/2000/svg\" data-days=\"%d\">\n"
             "<title id=\"trend-title\">Records per day, %s to %s</title>\n"
             "<desc id=\"trend-desc\">One bar per day: accepted records in green, rejected in "
             "red, stacked; the tallest bar is %llu.</desc>\n",
             w, h, w, h, r->n_trend, s_day_text (r->trend[0].day, d0),
             s_day_text (r->trend[r->n_trend - 1].day, d1), (unsigned long long) top);
    fprintf (f,
             "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#888\"/>\n"
             "<text x=\"%d\" y=\"12\" font-size=\"11\" text-anchor=\"end\">%llu</text>\n"
             "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">0</text>\n",
             left, h - bottom, w - 4, h - bottom, left - 4, (unsigned long long) top, left - 4,
             h - bottom);
    double plot = h - bottom - 16;
    for (int i = 0; i < r->n_trend; i++) {
        const trend_t *t = &r->trend[i];
        double x = left + 4 + i * slot;
        double ha = plot * (double) t->records / (double) top;
        double hr = plot * (double) t->rejected / (double) top;
        char day[11];
        s_day_text (t->day, day);
        fprintf (f,
                 "<g class=\"day\" data-day=\"%s\" data-records=\"%llu\" data-rejected=\"%llu\" "
                 "data-messages=\"%llu\"><title>%s: %llu messages, %llu records accepted, %llu "
                 "rejected</title>"
                 "<rect class=\"accepted\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                 "fill=\"#3a7\"/>"
                 "<rect class=\"rejected\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                 "fill=\"#c43\"/></g>\n",
                 day, (unsigned long long) t->records, (unsigned long long) t->rejected,
                 (unsigned long long) t->messages, day, (unsigned long long) t->messages,
                 (unsigned long long) t->records, (unsigned long long) t->rejected, x,
                 h - bottom - ha, bw, ha, x, h - bottom - ha - hr, bw, hr);
    }
    /* first and last day under the axis */
    fprintf (f,
             "<text x=\"%d\" y=\"%d\" font-size=\"11\">%s</text>\n"
             "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">%s</text>\n</svg>\n",
             left, h - 6, d0, w - 4, h - 6, d1);
}

static void
s_html_fixes (FILE *f, const report_t *r)
{
    fprintf (f, "<h2 id=\"fix\">What to fix</h2>\n");
    if (r->n_reasons == 0 && r->n_flags == 0) {
        fprintf (f, "<p>Nothing: every message of the period was accepted without flags.</p>\n");
        return;
    }
    fprintf (f, "<ol class=\"fixes\">\n");
    char text[1024];
    for (int i = 0; i < r->n_reasons; i++) {
        if (!r->reasons[i].count) {
            continue;
        }
        s_fix_reason (r->reasons[i].reason, r->reasons[i].count, text, sizeof (text));
        fprintf (f, "<li class=\"fix rejected\" data-count=\"%llu\">",
                 (unsigned long long) r->reasons[i].count);
        s_html_text (f, text);
        fprintf (f, "</li>\n");
    }
    for (int i = 0; i < r->n_flags; i++) {
        s_fix_flag (r->flags[i].flag, r->flags[i].count, text, sizeof (text));
        fprintf (f, "<li class=\"fix flagged\" data-count=\"%llu\">",
                 (unsigned long long) r->flags[i].count);
        s_html_text (f, text);
        fprintf (f, "</li>\n");
    }
    fprintf (f, "</ol>\n");
}

static void
s_html_fields (FILE *f, const report_t *r)
{
    fprintf (f, "<h2 id=\"fields\">Completeness per field</h2>\n");
    if (r->n_fields == 0) {
        fprintf (f, "<p>No records accepted in the period.</p>\n");
        return;
    }
    fprintf (f, "<table id=\"fields-table\"><caption>How often each field arrives filled, by "
                "record kind</caption>\n<thead><tr><th scope=\"col\">record kind</th>"
                "<th scope=\"col\">field</th><th scope=\"col\">records</th>"
                "<th scope=\"col\">filled</th><th scope=\"col\">filled %%</th>"
                "<th scope=\"col\"><span class=\"sr\">bar</span></th></tr></thead><tbody>\n");
    for (int i = 0; i < r->n_fields; i++) {
        const field_t *x = &r->fields[i];
        double pct = s_pct (x->filled, x->records);
        fprintf (f, "<tr class=\"%s\"><td>", pct < 95.0 ? "low" : "");
        s_html_text (f, x->kind);
        fprintf (f, "</td><td>");
        s_html_text (f, x->field);
        fprintf (f,
                 "</td><td>%llu</td><td>%llu</td><td>%.1f%%</td><td><span class=\"bar\">"
                 "<span class=\"fill\" style=\"width:%.1f%%\"></span></span></td></tr>\n",
                 (unsigned long long) x->records, (unsigned long long) x->filled, pct, pct);
    }
    fprintf (f, "</tbody></table>\n");
}

static void
s_html_reasons (FILE *f, const report_t *r)
{
    fprintf (f, "<h2 id=\"reasons\">Top rejection reasons</h2>\n");
    if (r->n_reasons == 0) {
        fprintf (f, "<p>None.</p>\n");
        return;
    }
    fprintf (f, "<p><small>Every value your system sent is withheld below: a quoted value "
                "shows as '\xe2\x80\xa6', a date or number as its shape (9999-99-99), any "
                "other word as \xe2\x80\xa6. Messages are named by their fingerprint "
                "(<code>hourglass fingerprint ID</code> gives it for a message id).</small></p>\n"
                "<table id=\"reasons-table\"><thead><tr><th scope=\"col\">count</th>"
                "<th scope=\"col\">reason</th><th scope=\"col\">latest examples</th></tr>"
                "</thead><tbody>\n");
    for (int i = 0; i < r->n_reasons && i < 10; i++) {
        const reason_t *x = &r->reasons[i];
        if (!x->count) {
            continue;
        }
        fprintf (f, "<tr><td>%llu</td><td>", (unsigned long long) x->count);
        s_html_text (f, x->reason);
        fprintf (f, "</td><td>");
        for (int e = 0; e < x->n_samples; e++) {
            const Hourglass__QualitySample *s = x->samples[e];
            char day[11];
            fprintf (f, "<div class=\"sample\"><small>%s, message ",
                     s_day_text ((uint32_t) (s->at_us / 1000000u / 86400u), day));
            s_html_text (f, s->message);
            fprintf (f, " at ");
            s_html_text (f, s->location);
            fprintf (f, ":</small> ");
            s_html_text (f, s->reason);
            if (*s->excerpt) {
                fprintf (f, "<pre class=\"excerpt\">");
                s_html_text (f, s->excerpt);
                fprintf (f, "</pre>");
            }
            fprintf (f, "</div>");
        }
        fprintf (f, "</td></tr>\n");
    }
    fprintf (f, "</tbody></table>\n");
}

static int
s_write_html (const char *path, const char *partner, const report_t *r, double conf, double compl,
              double plaus)
{
    FILE *f = fopen (path, "w");
    if (!f) {
        return -1;
    }
    char since[11], until[11], now[11];
    s_day_text (r->since, since);
    s_day_text (r->until, until);
    s_day_text (r->today, now);
    fprintf (f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                "<meta name=\"viewport\" content=\"width=device-width\">"
                "<title>Data quality: ");
    s_html_text (f, partner);
    fprintf (f,
             ", %s to %s</title><style>"
             "body{font-family:sans-serif;max-width:62em;margin:2em auto;padding:0 1em;"
             "color:#222}table{border-collapse:collapse;width:100%%;margin-bottom:1em}"
             "td,th{border-bottom:1px solid #ddd;padding:.4em;text-align:left;"
             "vertical-align:top}caption{text-align:left;color:#555;padding:.3em 0}"
             ".bar{background:#eee;width:10em;height:1em;display:inline-block}"
             ".fill{background:#3a7;height:1em;display:block}.low .fill{background:#c43}"
             "small{color:#555}pre.excerpt{background:#f6f6f6;padding:.4em;"
             "white-space:pre-wrap;word-break:break-all;margin:.3em 0 .8em}"
             ".fixes li{margin:.4em 0}.sr{position:absolute;left:-999em}"
             "</style></head><body>\n<h1>Data quality: ",
             since, until);
    s_html_text (f, partner);
    fprintf (f,
             "</h1>\n<p id=\"period\">Reporting period: <time datetime=\"%s\">%s</time> to "
             "<time datetime=\"%s\">%s</time> (UTC days of receipt%s). Written %s.</p>\n",
             since, since, until, until,
             r->all ? ", everything received since the first message" : "", now);
    if (!r->all && r->since + HG_QR_DAYS_KEPT <= r->today) {
        char kept[11];
        fprintf (f,
                 "<p><strong>Figures per day are kept for %d days: this period's figures "
                 "start on %s.</strong></p>\n",
                 HG_QR_DAYS_KEPT, s_day_text (r->today - (HG_QR_DAYS_KEPT - 1), kept));
    }
    fprintf (f,
             "<p id=\"summary\">%llu messages, %llu records accepted, %llu rejected (kept in "
             "quarantine), %llu valid items without a record ignored.</p>\n"
             "<table id=\"scores\"><thead><tr><th scope=\"col\">check</th>"
             "<th scope=\"col\">score</th><th scope=\"col\"><span class=\"sr\">bar</span></th>"
             "<th scope=\"col\">meaning</th></tr></thead><tbody>\n",
             (unsigned long long) r->messages, (unsigned long long) r->records,
             (unsigned long long) r->rejected, (unsigned long long) r->ignored);
    struct {
        const char *name;
        double pct;
        const char *meaning;
    } rows[] = {
        {"Conformance", conf,
         "records that parsed and validated (accepted / (accepted + rejected))"},
        {"Completeness", compl,
         "accepted records with patient, code, date and, for lab results, a value"},
        {"Plausibility", plaus, "accepted records without validation or plausibility flags"},
    };
    for (int i = 0; i < 3; i++) {
        fprintf (f,
                 "<tr class=\"%s\"><th scope=\"row\">%s</th><td>%.1f%%</td><td><span "
                 "class=\"bar\"><span class=\"fill\" style=\"width:%.1f%%\"></span></span>"
                 "</td><td>%s</td></tr>\n",
                 rows[i].pct < 95.0 ? "low" : "", rows[i].name, rows[i].pct, rows[i].pct,
                 rows[i].meaning);
    }
    fprintf (f, "</tbody></table>\n<h2 id=\"trend-heading\">Trend</h2>\n");
    s_html_trend (f, r);
    s_html_fixes (f, r);
    s_html_fields (f, r);
    s_html_reasons (f, r);
    if (r->n_flags) {
        fprintf (f, "<h2 id=\"flags\">Validation flags</h2>\n<table id=\"flags-table\"><thead>"
                    "<tr><th scope=\"col\">flag</th><th scope=\"col\">records</th></tr></thead>"
                    "<tbody>\n");
        for (int i = 0; i < r->n_flags; i++) {
            fprintf (f, "<tr><td>");
            s_html_text (f, r->flags[i].flag);
            fprintf (f, "</td><td>%llu</td></tr>\n", (unsigned long long) r->flags[i].count);
        }
        fprintf (f, "</tbody></table>\n");
    }
    if (r->n_ignored_kinds) {
        fprintf (f, "<h2 id=\"ignored\">Ignored, by kind</h2>\n<table id=\"ignored-table\">"
                    "<caption>Since the first message</caption><thead><tr>"
                    "<th scope=\"col\">kind</th><th scope=\"col\">count</th></tr></thead>"
                    "<tbody>\n");
        for (int i = 0; i < r->n_ignored_kinds; i++) {
            fprintf (f, "<tr><td>");
            s_html_text (f, r->ignored_kinds[i].flag);
            fprintf (f, "</td><td>%llu</td></tr>\n",
                     (unsigned long long) r->ignored_kinds[i].count);
        }
        fprintf (f, "</tbody></table>\n");
    }
    fprintf (f, "<p><small>Rejected messages are kept whole; list them with "
                "<code>hourglass quarantine list</code>, and run them again once fixed with "
                "<code>hourglass quarantine replay</code>.</small></p></body></html>\n");
    return fclose (f);
}

/* ---- JSON ---------------------------------------------------------------- */

static void
s_json_str (const char *s)
{
    hg_json_print_string (s, strlen (s));
}

/* The report as one JSON object on stdout. */
static void
s_print_json (const char *partner, const report_t *r, double conf, double compl, double plaus)
{
    char a[11], b[11], text[1024];
    printf ("{\"partner\": ");
    s_json_str (partner);
    printf (", \"messages\": %llu, \"records\": %llu, \"rejected\": %llu, \"ignored\": %llu, "
            "\"complete\": %llu, \"flagged\": %llu, "
            "\"conformance\": %.1f, \"completeness\": %.1f, \"plausibility\": %.1f, "
            "\"period\": {\"since\": \"%s\", \"until\": \"%s\", \"all\": %s}, "
            "\"top_reasons\": [",
            (unsigned long long) r->messages, (unsigned long long) r->records,
            (unsigned long long) r->rejected, (unsigned long long) r->ignored,
            (unsigned long long) r->complete, (unsigned long long) r->flagged, conf, compl, plaus,
            s_day_text (r->since, a), s_day_text (r->until, b), r->all ? "true" : "false");
    int shown = 0;
    for (int i = 0; i < r->n_reasons && shown < 10; i++) {
        const reason_t *x = &r->reasons[i];
        if (!x->count) {
            continue;
        }
        printf ("%s{\"reason\": ", shown++ ? ", " : "");
        s_json_str (x->reason);
        s_fix_reason (x->reason, x->count, text, sizeof (text));
        printf (", \"count\": %llu, \"fix\": ", (unsigned long long) x->count);
        s_json_str (text);
        printf (", \"examples\": [");
        for (int e = 0; e < x->n_samples; e++) {
            char ex[1024];
            snprintf (ex, sizeof (ex), "%s at %s: %s", x->samples[e]->message,
                      x->samples[e]->location, x->samples[e]->reason);
            printf ("%s", e ? ", " : "");
            s_json_str (ex);
        }
        printf ("], \"samples\": [");
        for (int e = 0; e < x->n_samples; e++) {
            const Hourglass__QualitySample *s = x->samples[e];
            printf ("%s{\"message\": ", e ? ", " : "");
            s_json_str (s->message);
            printf (", \"location\": ");
            s_json_str (s->location);
            printf (", \"reason\": ");
            s_json_str (s->reason);
            printf (", \"excerpt\": ");
            s_json_str (s->excerpt);
            printf (", \"at_us\": %llu}", (unsigned long long) s->at_us);
        }
        printf ("]}");
    }
    printf ("], \"flags\": {");
    for (int i = 0; i < r->n_flags; i++) {
        printf ("%s", i ? ", " : "");
        s_json_str (r->flags[i].flag);
        printf (": %llu", (unsigned long long) r->flags[i].count);
    }
    printf ("}, \"ignored_kinds\": {");
    for (int i = 0; i < r->n_ignored_kinds; i++) {
        printf ("%s", i ? ", " : "");
        s_json_str (r->ignored_kinds[i].flag);
        printf (": %llu", (unsigned long long) r->ignored_kinds[i].count);
    }
    printf ("}, \"fields\": [");
    for (int i = 0; i < r->n_fields; i++) {
        const field_t *x = &r->fields[i];
        printf ("%s{\"kind\": ", i ? ", " : "");
        s_json_str (x->kind);
        printf (", \"field\": ");
        s_json_str (x->field);
        printf (", \"records\": %llu, \"filled\": %llu, \"percent\": %.1f}",
                (unsigned long long) x->records, (unsigned long long) x->filled,
                s_pct (x->filled, x->records));
    }
    printf ("], \"trend\": [");
    for (int i = 0; i < r->n_trend; i++) {
        const trend_t *t = &r->trend[i];
        printf ("%s{\"day\": \"%s\", \"messages\": %llu, \"records\": %llu, \"rejected\": %llu, "
                "\"flagged\": %llu}",
                i ? ", " : "", s_day_text (t->day, a), (unsigned long long) t->messages,
                (unsigned long long) t->records, (unsigned long long) t->rejected,
                (unsigned long long) t->flagged);
    }
    printf ("], \"fixes\": [");
    int nf = 0;
    for (int i = 0; i < r->n_reasons; i++) {
        if (!r->reasons[i].count) {
            continue;
        }
        s_fix_reason (r->reasons[i].reason, r->reasons[i].count, text, sizeof (text));
        printf ("%s{\"reason\": ", nf++ ? ", " : "");
        s_json_str (r->reasons[i].reason);
        printf (", \"count\": %llu, \"text\": ", (unsigned long long) r->reasons[i].count);
        s_json_str (text);
        printf ("}");
    }
    for (int i = 0; i < r->n_flags; i++) {
        s_fix_flag (r->flags[i].flag, r->flags[i].count, text, sizeof (text));
        printf ("%s{\"flag\": ", nf++ ? ", " : "");
        s_json_str (r->flags[i].flag);
        printf (", \"count\": %llu, \"text\": ", (unsigned long long) r->flags[i].count);
        s_json_str (text);
        printf ("}");
    }
    printf ("]}\n");
}

/* ---- the command --------------------------------------------------------- */

/* A day given as YYYY-MM-DD into days since the epoch; -1 when not one. */
static int
s_parse_day (const char *s, uint32_t *day)
{
    hg_date_t d;
    hg_err_t err = {0};
    if (strlen (s) != 10 || hg_date_parse_iso (s, 10, &d, &err) < 0 || d.prec != HG_PREC_DAY) {
        return -1;
    }
    int64_t days = hg_date_days (&d);
    if (days < 0 || days > UINT32_MAX) {
        return -1;
    }
    *day = (uint32_t) days;
    return 0;
}

/* The period from the options into r; a usage error's status, or 0. */
static int
s_period (const hg_cli_spec_t *spec, const char *since, const char *until, int days, report_t *r)
{
    r->today = (uint32_t) (hg_wall_us () / 1000000u / 86400u);
    r->all = !since && !until && days == 0;
    r->until = r->today;
    if (days && since) {
        return hg_cli_usage_error (spec, "--days and --since both say where the period starts: "
                                         "give one");
    }
    if (until && s_parse_day (until, &r->until) < 0) {
        return hg_cli_usage_error (spec, "--until '%s' is not a day YYYY-MM-DD", until);
    }
    if (since && s_parse_day (since, &r->since) < 0) {
        return hg_cli_usage_error (spec, "--since '%s' is not a day YYYY-MM-DD", since);
    }
    if (!since) {
        int n = days ? days : (r->all ? HG_QR_TREND_DAYS : HG_QR_DAYS_KEPT);
        r->since = r->until >= (uint32_t) (n - 1) ? r->until - (uint32_t) (n - 1) : 0;
    }
    if (r->since > r->until) {
        return hg_cli_usage_error (spec, "the period starts after it ends (--since after "
                                         "--until)");
    }
    if (r->until - r->since >= HG_QR_MAX_TREND) {
        return hg_cli_usage_error (spec,
                                   "a period of at most %d days (figures per day are "
                                   "kept for %d)",
                                   HG_QR_MAX_TREND, HG_QR_DAYS_KEPT);
    }
    for (uint32_t d = r->since; d <= r->until; d++) {
        r->trend[r->n_trend++] = (trend_t) {.day = d};
    }
    return 0;
}

int
hg_cmd_quality (int argc, char **argv)
{
    const char *cluster = NULL, *partner = NULL, *html = NULL, *since = NULL, *until = NULL;
    int days = 0;
    bool json = false;
    const hg_cli_opt_t opts[] = {
        HG_CLI_OPT_REQUIRED ("--partner", &partner, "NAME", "the partner"),
        HG_CLI_OPT_CLUSTER (&cluster),
        HG_CLI_OPT_JSON (&json),
        HG_CLI_OPT_STR ("--html", &html, "FILE", "also write the report as an HTML page"),
        HG_CLI_OPT_STR ("--since", &since, "YYYY-MM-DD",
                        "report the days from this one (UTC day of receipt)"),
        HG_CLI_OPT_STR ("--until", &until, "YYYY-MM-DD", "... up to this one (default today)"),
        HG_CLI_OPT_INT ("--days", &days, "N", "report the last N days, today included", 1,
                        HG_QR_MAX_TREND),
        HG_CLI_OPT_END,
    };
    const hg_cli_spec_t spec = {
        .command = "hourglass quality",
        .opts = opts,
        .about = "A partner's data-quality report: conformance, completeness (overall and per\n"
                 "field), plausibility, a trend per day, the most frequent reasons for\n"
                 "rejection with redacted examples, and what to fix. Without --since,\n"
                 "--until or --days it covers everything since the first message (the trend:\n"
                 "the last 14 days); figures per day are kept for 90 days.\n",
    };
    hg_cli_args_t args;
    int status;
    if (hg_cli_parse (&spec, argc, argv, 1, &args, &status) < 0) {
        return status;
    }
    report_t *r = calloc (1, sizeof (*r));
    if (!r) {
        fprintf (stderr, "hourglass quality: out of memory\n");
        return 1;
    }
    if ((status = s_period (&spec, since, until, days, r)) != 0) {
        free (r);
        return status;
    }
    hg_cluster_t c;
    if (hg_cluster_load_for (cluster, &c, "hourglass quality") < 0) {
        free (r);
        return 1;
    }
    const char *controls[HG_CLI_MAX_SERVICES];
    size_t nc = hg_cluster_controls (&c, "cleanser", controls, HG_CLI_MAX_SERVICES);
    void *zctx = zmq_ctx_new ();
    Hourglass__ControlReply *replies[HG_CLI_MAX_SERVICES] = {0};
    hg_err_t err = {0};
    status = 0;
    for (size_t i = 0; i < nc; i++) {
        Hourglass__ControlRequest req = HOURGLASS__CONTROL_REQUEST__INIT;
        req.kind = HOURGLASS__CONTROL_REQUEST__KIND__QUALITY;
        req.partner = (char *) partner;
        if (hg_control_call (zctx, controls[i], &req, 5000, &replies[i], &err) < 0
            || !replies[i]->ok) {
            fprintf (stderr, "hourglass quality: %s: %s\n", controls[i],
                     replies[i] ? replies[i]->error : err.msg);
            status = 1;
            continue;
        }
        for (size_t k = 0; k < replies[i]->n_quality; k++) {
            s_merge (r, replies[i]->quality[k]);
        }
    }
    if (r->all && r->first_us) {
        r->since = (uint32_t) (r->first_us / 1000000u / 86400u);
        uint32_t last = (uint32_t) (r->last_us / 1000000u / 86400u);
        r->until = last > r->today ? last : r->today;
    }
    qsort (r->reasons, (size_t) r->n_reasons, sizeof (r->reasons[0]), s_by_count);
    qsort (r->flags, (size_t) r->n_flags, sizeof (r->flags[0]), s_named_by_count);
    double conf = s_pct (r->records, r->records + r->rejected);
    double compl = s_pct (r->complete, r->records);
    double plaus = s_pct (r->records - (r->flagged > r->records ? r->records : r->flagged),
                          r->records);
    if (status == 0 && r->total_messages == 0) {
        fprintf (stderr, "hourglass quality: no data from partner '%s' yet\n", partner);
        status = 1;
    }
    if (status == 0 && json) {
        s_print_json (partner, r, conf, compl, plaus);
    }
    else if (status == 0) {
        char a[11], b[11], text[1024];
        printf ("%s, %s to %s: %llu messages, %llu records, %llu rejected\n"
                "  conformance %.1f%%  completeness %.1f%%  plausibility %.1f%%\n",
                partner, s_day_text (r->since, a), s_day_text (r->until, b),
                (unsigned long long) r->messages, (unsigned long long) r->records,
                (unsigned long long) r->rejected, conf, compl, plaus);
        for (int i = 0; i < r->n_reasons && i < 10; i++) {
            if (r->reasons[i].count) {
                printf ("  %6llu  %s\n", (unsigned long long) r->reasons[i].count,
                        r->reasons[i].reason);
            }
        }
        if (r->ignored) {
            printf ("  %llu ignored:\n", (unsigned long long) r->ignored);
        }
        for (int i = 0; i < r->n_ignored_kinds; i++) {
            printf ("  %6llu  %s\n", (unsigned long long) r->ignored_kinds[i].count,
                    r->ignored_kinds[i].flag);
        }
        if (r->n_reasons || r->n_flags) {
            printf ("what to fix:\n");
        }
        for (int i = 0; i < r->n_reasons; i++) {
            if (r->reasons[i].count) {
                s_fix_reason (r->reasons[i].reason, r->reasons[i].count, text, sizeof (text));
                printf ("  - %s\n", text);
            }
        }
        for (int i = 0; i < r->n_flags; i++) {
            s_fix_flag (r->flags[i].flag, r->flags[i].count, text, sizeof (text));
            printf ("  - %s\n", text);
        }
    }
    if (status == 0 && html && s_write_html (html, partner, r, conf, compl, plaus) != 0) {
        fprintf (stderr, "hourglass quality: cannot write %s\n", html);
        status = 1;
    }
    for (size_t i = 0; i < nc; i++) {
        if (replies[i]) {
            hourglass__control_reply__free_unpacked (replies[i], NULL);
        }
    }
    free (r);
    zmq_ctx_term (zctx);
    hg_cluster_free (&c);
    return status;
}
