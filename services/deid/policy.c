/*
 * policy.c -- de-identify one canonical record (see policy.h for the rules).
 */
#include "policy.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "date.h"
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
    "positive", "negative", "detected",      "not detected", "normal",
    "abnormal", "reactive", "nonreactive",   "non-reactive", "present",
    "absent",   "trace",    "indeterminate", "equivocal",    "pending",
    "high",     "low",      "none",          "yes",          "no",
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

/* A numeric-looking value that is nevertheless a date, phone number or
 * identifier: too many digits, three digit groups joined by the same
 * separator, or a month/year pair. */
static bool
s_looks_identifying (const char *s)
{
    enum { MAX_GROUPS = 64 };
    int len[MAX_GROUPS], val[MAX_GROUPS];
    char sep[MAX_GROUPS]; /* sep[i]: joins group i to group i + 1, or 0 */
    int groups = 0, digits = 0;
    for (const char *p = s; *p;) {
        if (!s_is_digit (*p)) {
            p++;
            continue;
        }
        if (groups == MAX_GROUPS) {
            return true;
        }
        int l = 0, v = 0;
        while (s_is_digit (*p)) {
            v = l < 6 ? v * 10 + (*p - '0') : v;
            l++;
            p++;
        }
        digits += l;
        len[groups] = l;
        val[groups] = v;
        sep[groups] = (*p == '/' || *p == '-' || *p == '.') && s_is_digit (p[1]) ? *p : 0;
        groups++;
    }
    if (digits > 6) {
        return true;
    }
    for (int i = 0; i + 1 < groups; i++) {
        if (!sep[i]) {
            continue;
        }
        if (i + 2 < groups && sep[i + 1] == sep[i]) {
            return true; /* 3/4/21, 3.4.21, 1-2-3 */
        }
        bool lonely = (i == 0 || !sep[i - 1]) && !sep[i + 1];
        if (lonely && sep[i] != '.') {
            int y = len[i] == 4 ? i : len[i + 1] == 4 ? i + 1 : -1;
            int m = y == i ? i + 1 : i;
            if (y >= 0 && val[y] >= 1800 && val[y] <= 2199 && len[m] <= 2 && val[m] >= 1
                && val[m] <= 12) {
                return true; /* 03/2021, 2021-03 */
            }
        }
    }
    return false;
}

bool
hg_deid_string_value_ok (const char *s)
{
    if (!s) {
        return true;
    }
    if (s_is_result_word (s)) {
        return true;
    }
    for (const char *p = s; *p; p++) {
        if (!s_is_digit (*p) && !s_is_blank (*p) && !strchr (".,:/+-<>=%", *p)) {
            return false;
        }
    }
    return !s_looks_identifying (s);
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
        dm->birth_year = age > 89 ? 0 : birth.year;
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
    rec->text = S_EMPTY;
    if (rec->value_case == HOURGLASS__RECORD__VALUE_STRING_VALUE
        && !hg_deid_string_value_ok (rec->string_value)) {
        if (!(rec->string_value = hg_arena_strdup (arena, HG_DEID_REDACTED))) {
            return s_oom (err);
        }
    }
    hg_err_clear (err);
    return 0;
}
