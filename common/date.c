/*
 * date.c -- parse, format and shift clinical dates. Civil-from-days and
 * days-from-civil use the proleptic Gregorian calendar (H. Hinnant's
 * algorithms, re-derived here).
 */
#include "date.h"

#include <stdio.h>
#include <string.h>

bool
hg_date_is_leap (int year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

int
hg_date_month_days (int year, int month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month < 1 || month > 12) {
        return 0;
    }
    return month == 2 && hg_date_is_leap (year) ? 29 : days[month - 1];
}

static int64_t
s_days_from_civil (int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void
hg_date_from_days (int64_t z, int *year, int *month, int *day)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int d = (int) (doy - (153 * mp + 2) / 5 + 1);
    int m = (int) (mp < 10 ? mp + 3 : mp - 9);
    *year = (int) (y + (m <= 2));
    *month = m;
    *day = d;
}

/* Reads exactly n digits at s[*pos]; -1 when they are not all digits. */
static int
s_digits (const char *s, size_t len, size_t *pos, int n)
{
    if (*pos + (size_t) n > len) {
        return -1;
    }
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = s[*pos + (size_t) i];
        if (c < '0' || c > '9') {
            return -1;
        }
        v = v * 10 + (c - '0');
    }
    *pos += (size_t) n;
    return v;
}

static int
s_validate (const char *s, size_t len, const hg_date_t *d, hg_err_t *err)
{
    int shown = len > 40 ? 40 : (int) len;
    if (d->year < 1 || d->year > 9999) {
        return hg_err_set (err, HG_EINVAL, "'%.*s' is not a valid date: year %d", shown, s,
                           d->year);
    }
    if (d->month < 1 || d->month > 12) {
        return hg_err_set (err, HG_EINVAL, "'%.*s' is not a valid date: month %d", shown, s,
                           d->month);
    }
    if (d->day < 1 || d->day > hg_date_month_days (d->year, d->month)) {
        return hg_err_set (err, HG_EINVAL, "'%.*s' is not a valid date: day %d of month %d",
                           shown, s, d->day, d->month);
    }
    if (d->hour > 23 || d->minute > 59 || d->second > 60) {
        return hg_err_set (err, HG_EINVAL, "'%.*s' is not a valid time of day", shown, s);
    }
    if (d->has_tz && (d->tz_offset_min < -14 * 60 || d->tz_offset_min > 14 * 60)) {
        return hg_err_set (err, HG_EINVAL, "'%.*s' has an impossible time-zone offset", shown, s);
    }
    return 0;
}

/* The last step of both parsers: d checked as a calendar date, a time of
 * day and a zone (HG_EINVAL with the reason in err when it is not one),
 * then copied to *out; 0. */
static int
s_accept (const char *s, size_t len, const hg_date_t *d, hg_date_t *out, hg_err_t *err)
{
    if (s_validate (s, len, d, err) < 0) {
        return HG_EINVAL;
    }
    *out = *d;
    return 0;
}

static void
s_init (hg_date_t *d)
{
    memset (d, 0, sizeof (*d));
    d->month = 1;
    d->day = 1;
}

/* A zone offset at s[*pos], its sign first: "+hh:mm" (colon true, ISO
 * 8601) or "+hhmm" (HL7). Sets d's zone and moves *pos past it; -1 when
 * it is not one (d untouched). */
static int
s_zone (const char *s, size_t len, size_t *pos, bool colon, hg_date_t *d)
{
    int sign = s[(*pos)++] == '-' ? -1 : 1;
    int hh = s_digits (s, len, pos, 2);
    if (hh < 0 || (colon && (*pos >= len || s[(*pos)++] != ':'))) {
        return -1;
    }
    int mm = s_digits (s, len, pos, 2);
    if (mm < 0) {
        return -1;
    }
    d->has_tz = true;
    d->tz_offset_min = sign * (hh * 60 + mm);
    return 0;
}

/* Fraction of a second: 1..max digits after '.', stored as micros. */
static int
s_fraction (const char *s, size_t len, size_t *pos, int max, hg_date_t *d)
{
    int digits = 0, micros = 0;
    while (*pos < len && s[*pos] >= '0' && s[*pos] <= '9') {
        if (digits < 6) {
            micros = micros * 10 + (s[*pos] - '0');
        }
        digits++;
        (*pos)++;
    }
    if (digits == 0 || digits > max) {
        return -1;
    }
    for (int i = digits < 6 ? digits : 6; i < 6; i++) {
        micros *= 10;
    }
    d->micros = micros;
    d->frac_digits = digits < 6 ? digits : 6;
    return 0;
}

int
hg_date_parse_iso (const char *s, size_t len, hg_date_t *out, hg_err_t *err)
{
    hg_date_t d;
    s_init (&d);
    size_t pos = 0;
    int shown = len > 40 ? 40 : (int) len;
    if ((d.year = s_digits (s, len, &pos, 4)) < 0) {
        goto bad;
    }
    d.prec = HG_PREC_YEAR;
    if (pos < len) {
        if (s[pos++] != '-' || (d.month = s_digits (s, len, &pos, 2)) < 0) {
            goto bad;
        }
        d.prec = HG_PREC_MONTH;
    }
    if (pos < len) {
        if (s[pos++] != '-' || (d.day = s_digits (s, len, &pos, 2)) < 0) {
            goto bad;
        }
        d.prec = HG_PREC_DAY;
    }
    if (pos < len) {
        if (s[pos++] != 'T' || (d.hour = s_digits (s, len, &pos, 2)) < 0 || pos >= len
            || s[pos++] != ':' || (d.minute = s_digits (s, len, &pos, 2)) < 0) {
            goto bad;
        }
        d.prec = HG_PREC_MINUTE;
        if (pos < len && s[pos] == ':') {
            pos++;
            if ((d.second = s_digits (s, len, &pos, 2)) < 0) {
                goto bad;
            }
            d.prec = HG_PREC_SECOND;
            if (pos < len && s[pos] == '.') {
                pos++;
                if (s_fraction (s, len, &pos, 9, &d) < 0) {
                    goto bad;
                }
            }
        }
        if (pos < len) {
            if (s[pos] == 'Z') {
                pos++;
                d.has_tz = true;
            }
            else if ((s[pos] == '+' || s[pos] == '-') && s_zone (s, len, &pos, true, &d) < 0) {
                goto bad;
            }
        }
    }
    if (pos != len) {
        goto bad;
    }
    return s_accept (s, len, &d, out, err);
bad:
    return hg_err_set (err, HG_EINVAL,
                       "'%.*s' is not a date in ISO 8601 form (YYYY, YYYY-MM, "
                       "YYYY-MM-DD or YYYY-MM-DDThh:mm:ss[.fff][Z|+hh:mm])",
                       shown, s);
}

int
hg_date_parse_hl7 (const char *s, size_t len, hg_date_t *out, hg_err_t *err)
{
    hg_date_t d;
    s_init (&d);
    size_t pos = 0;
    int shown = len > 40 ? 40 : (int) len;
    /* a trailing zone is allowed after any component */
    size_t end = len;
    for (size_t i = 4; i < len; i++) {
        if (s[i] == '+' || s[i] == '-') {
            end = i;
            break;
        }
    }
    if ((d.year = s_digits (s, end, &pos, 4)) < 0) {
        goto bad;
    }
    d.prec = HG_PREC_YEAR;
    int *parts[] = {&d.month, &d.day, &d.hour, &d.minute, &d.second};
    hg_prec_t precs[] = {HG_PREC_MONTH, HG_PREC_DAY, HG_PREC_MINUTE, HG_PREC_MINUTE,
                         HG_PREC_SECOND};
    for (int i = 0; i < 5 && pos < end && s[pos] != '.'; i++) {
        if ((*parts[i] = s_digits (s, end, &pos, 2)) < 0) {
            goto bad;
        }
        d.prec = precs[i];
    }
    if (pos < end && s[pos] == '.') {
        if (d.prec != HG_PREC_SECOND) {
            goto bad;
        }
        pos++;
        if (s_fraction (s, end, &pos, 4, &d) < 0) {
            goto bad;
        }
    }
    if (pos != end) {
        goto bad;
    }
    if (end < len) {
        pos = end;
        if (s_zone (s, len, &pos, false, &d) < 0 || pos != len) {
            goto bad;
        }
    }
    return s_accept (s, len, &d, out, err);
bad:
    return hg_err_set (err, HG_EINVAL,
                       "'%.*s' is not an HL7 date/time "
                       "(YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ])",
                       shown, s);
}

/* Appends v in decimal, zero-padded to width digits (the sign, if any,
 * before the zeros). */
static char *
s_put_int (char *p, int v, int width)
{
    unsigned u = v < 0 ? 0u - (unsigned) v : (unsigned) v;
    char tmp[12];
    int n = 0;
    do {
        tmp[n++] = (char) ('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) {
        *p++ = '-';
    }
    while (n < width--) {
        *p++ = '0';
    }
    while (n) {
        *p++ = tmp[--n];
    }
    return p;
}

/* Formatted digit by digit: this runs several times per record, and
 * snprintf was a sixth of the cleanser's time. */
int
hg_date_format_iso (const hg_date_t *d, char *buf, size_t size)
{
    /* anything finer than a minute (or unset) is written to the second */
    bool month = d->prec != HG_PREC_YEAR;
    bool day = month && d->prec != HG_PREC_MONTH;
    bool time = day && d->prec != HG_PREC_DAY;
    bool seconds = time && d->prec != HG_PREC_MINUTE;
    char out[96];
    char *p = s_put_int (out, d->year, 4);
    if (month) {
        *p++ = '-';
        p = s_put_int (p, d->month, 2);
    }
    if (day) {
        *p++ = '-';
        p = s_put_int (p, d->day, 2);
    }
    if (time) {
        *p++ = 'T';
        p = s_put_int (p, d->hour, 2);
        *p++ = ':';
        p = s_put_int (p, d->minute, 2);
        if (seconds) {
            *p++ = ':';
            p = s_put_int (p, d->second, 2);
            if (d->frac_digits > 0) {
                char frac[16];
                char *f = s_put_int (frac, d->micros, 6);
                int k = d->frac_digits < (int) (f - frac) ? d->frac_digits : (int) (f - frac);
                *p++ = '.';
                memcpy (p, frac, (size_t) k);
                p += k;
            }
        }
        if (d->has_tz && d->tz_offset_min == 0) {
            *p++ = 'Z';
        }
        else if (d->has_tz) {
            int off = d->tz_offset_min < 0 ? -d->tz_offset_min : d->tz_offset_min;
            *p++ = d->tz_offset_min < 0 ? '-' : '+';
            p = s_put_int (p, off / 60, 2);
            *p++ = ':';
            p = s_put_int (p, off % 60, 2);
        }
    }
    size_t n = (size_t) (p - out);
    if (size > 0) {
        size_t k = n < size - 1 ? n : size - 1;
        memcpy (buf, out, k);
        buf[k] = '\0';
    }
    return (int) n;
}

int64_t
hg_date_days (const hg_date_t *d)
{
    return s_days_from_civil (d->year, d->month, d->day);
}

void
hg_date_add_days (hg_date_t *d, int days)
{
    int64_t base;
    if (d->prec == HG_PREC_YEAR) {
        base = s_days_from_civil (d->year, 7, 2);
    }
    else if (d->prec == HG_PREC_MONTH) {
        base = s_days_from_civil (d->year, d->month, 15);
    }
    else {
        base = hg_date_days (d);
    }
    int y, m, dd;
    hg_date_from_days (base + days, &y, &m, &dd);
    d->year = y;
    if (d->prec >= HG_PREC_MONTH) {
        d->month = m;
    }
    if (d->prec >= HG_PREC_DAY) {
        d->day = dd;
    }
}

void
hg_date_day_key (const hg_date_t *d, char out[11])
{
    snprintf (out, 11, "%04d-%02d-%02d", d->year, d->month, d->day);
}

void
hg_date_to_utc (hg_date_t *d)
{
    if (!d->has_tz || d->prec < HG_PREC_MINUTE || d->tz_offset_min == 0) {
        return;
    }
    int64_t minutes = hg_date_days (d) * 1440 + d->hour * 60 + d->minute - d->tz_offset_min;
    int64_t days = minutes >= 0 ? minutes / 1440 : -((-minutes + 1439) / 1440);
    int64_t rest = minutes - days * 1440;
    int y, m, dd;
    hg_date_from_days (days, &y, &m, &dd);
    d->year = y;
    d->month = m;
    d->day = dd;
    d->hour = (int) (rest / 60);
    d->minute = (int) (rest % 60);
    d->tz_offset_min = 0;
}
