/*
 * date.h -- clinical dates and times with their precision kept.
 *
 * FHIR (ISO 8601 subset) and HL7 v2 (DTM) forms parse into one struct; the
 * canonical record stores the ISO form at the precision received. Pure logic.
 */
#ifndef HG_DATE_H
#define HG_DATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef enum {
    HG_PREC_YEAR = 1,
    HG_PREC_MONTH,
    HG_PREC_DAY,
    HG_PREC_MINUTE,
    HG_PREC_SECOND,
} hg_prec_t;

typedef struct {
    int year, month, day; /* month/day 1-based; 1 when below precision */
    int hour, minute, second;
    int micros;      /* fraction of a second, 0..999999 */
    int frac_digits; /* digits of fraction received (0..6) */
    bool has_tz;
    int tz_offset_min; /* offset east of UTC, minutes */
    hg_prec_t prec;
} hg_date_t;

/* Longest string hg_date_format_iso writes, with NUL. */
#define HG_DATE_ISO_MAX 40

/* Parses YYYY, YYYY-MM, YYYY-MM-DD, YYYY-MM-DDThh:mm[:ss[.fff]][Z|(+|-)hh:mm].
 * Returns 0, or HG_EINVAL with err saying what is wrong ("month 13"). */
int hg_date_parse_iso (const char *s, size_t len, hg_date_t *out, hg_err_t *err);

/* Parses HL7 v2 DTM: YYYY[MM[DD[HH[MM[SS[.S{1,4}]]]]]][+/-ZZZZ]. */
int hg_date_parse_hl7 (const char *s, size_t len, hg_date_t *out, hg_err_t *err);

/* Writes the ISO 8601 form at the date's precision; returns its length. */
int hg_date_format_iso (const hg_date_t *d, char *buf, size_t size);

/* Days since 1970-01-01 of the date part (first day of the period when the
 * precision is year or month). */
int64_t hg_date_days (const hg_date_t *d);

/* Shifts the date part by days, keeping time, zone and precision. For year
 * or month precision the middle of the period is shifted and the result kept
 * at the same precision. */
void hg_date_add_days (hg_date_t *d, int days);

/* Converts a date-time that carries a zone offset to UTC ("Z"), keeping its
 * precision (the day may change). Dates without a time or without a zone
 * are left as they are: their instant is not known. */
void hg_date_to_utc (hg_date_t *d);

/* "YYYY-MM-DD" of the date part (first day of the period below day
 * precision); out must hold 11 bytes. */
void hg_date_day_key (const hg_date_t *d, char out[11]);

/* Converts days since 1970-01-01 to a civil date. */
void hg_date_from_days (int64_t days, int *year, int *month, int *day);

/* True when the year is a leap year; days in a month. */
bool hg_date_is_leap (int year);
int hg_date_month_days (int year, int month);

#endif
