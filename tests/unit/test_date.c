/*
 * test_date.c -- clinical dates (common/date.c): ISO 8601 and HL7 v2 DTM at
 * every precision, zones, fractions, invalid dates and their messages,
 * formatting round trips, the day count over 1600..2400 against a plain
 * day-by-day loop, and shifting across month, year and leap boundaries.
 */
#include "unit_test.h"

#include <stdio.h>
#include <string.h>

#include "date.h"

static hg_date_t
s_iso (const char *s)
{
    hg_date_t d;
    hg_err_t err = {0};
    if (hg_date_parse_iso (s, strlen (s), &d, &err) != 0) {
        fail_msg ("'%s' did not parse: %s", s, err.msg);
    }
    return d;
}

static hg_date_t
s_hl7 (const char *s)
{
    hg_date_t d;
    hg_err_t err = {0};
    if (hg_date_parse_hl7 (s, strlen (s), &d, &err) != 0) {
        fail_msg ("'%s' did not parse: %s", s, err.msg);
    }
    return d;
}

static void
s_expect_format (const hg_date_t *d, const char *want)
{
    char buf[HG_DATE_ISO_MAX];
    int n = hg_date_format_iso (d, buf, sizeof (buf));
    assert_string_equal (buf, want);
    assert_int_equal (n, strlen (want));
}

static void
s_expect_fields (const hg_date_t *d, int y, int mo, int da, int h, int mi, int se, int micros,
                 int frac, bool tz, int off, hg_prec_t prec)
{
    assert_int_equal (d->year, y);
    assert_int_equal (d->month, mo);
    assert_int_equal (d->day, da);
    assert_int_equal (d->hour, h);
    assert_int_equal (d->minute, mi);
    assert_int_equal (d->second, se);
    assert_int_equal (d->micros, micros);
    assert_int_equal (d->frac_digits, frac);
    assert_int_equal (d->has_tz, tz);
    assert_int_equal (d->tz_offset_min, off);
    assert_int_equal (d->prec, prec);
}

static void
test_iso_precisions (void **state)
{
    (void) state;
    hg_date_t d = s_iso ("2023");
    s_expect_fields (&d, 2023, 1, 1, 0, 0, 0, 0, 0, false, 0, HG_PREC_YEAR);
    d = s_iso ("2023-07");
    s_expect_fields (&d, 2023, 7, 1, 0, 0, 0, 0, 0, false, 0, HG_PREC_MONTH);
    d = s_iso ("2023-07-19");
    s_expect_fields (&d, 2023, 7, 19, 0, 0, 0, 0, 0, false, 0, HG_PREC_DAY);
    d = s_iso ("2023-07-19T08:30");
    s_expect_fields (&d, 2023, 7, 19, 8, 30, 0, 0, 0, false, 0, HG_PREC_MINUTE);
    d = s_iso ("2023-07-19T08:30:59");
    s_expect_fields (&d, 2023, 7, 19, 8, 30, 59, 0, 0, false, 0, HG_PREC_SECOND);
    d = s_iso ("2023-07-19T08:30:59Z");
    s_expect_fields (&d, 2023, 7, 19, 8, 30, 59, 0, 0, true, 0, HG_PREC_SECOND);
    d = s_iso ("2023-07-19T08:30+05:30");
    s_expect_fields (&d, 2023, 7, 19, 8, 30, 0, 0, 0, true, 330, HG_PREC_MINUTE);
    d = s_iso ("2023-07-19T08:30:00-09:45");
    s_expect_fields (&d, 2023, 7, 19, 8, 30, 0, 0, 0, true, -585, HG_PREC_SECOND);
    d = s_iso ("2023-07-19T08:30:00-00:00");
    s_expect_fields (&d, 2023, 7, 19, 8, 30, 0, 0, 0, true, 0, HG_PREC_SECOND);
    d = s_iso ("2023-07-19T08:30:00.5");
    s_expect_fields (&d, 2023, 7, 19, 8, 30, 0, 500000, 1, false, 0, HG_PREC_SECOND);
    d = s_iso ("2023-07-19T08:30:00.123Z");
    s_expect_fields (&d, 2023, 7, 19, 8, 30, 0, 123000, 3, true, 0, HG_PREC_SECOND);
    d = s_iso ("2023-07-19T08:30:00.000001+14:00");
    s_expect_fields (&d, 2023, 7, 19, 8, 30, 0, 1, 6, true, 840, HG_PREC_SECOND);
    /* up to 9 fraction digits accepted, kept to microseconds */
    d = s_iso ("2023-07-19T08:30:00.123456789-14:00");
    s_expect_fields (&d, 2023, 7, 19, 8, 30, 0, 123456, 6, true, -840, HG_PREC_SECOND);
    /* a leap second */
    d = s_iso ("2016-12-31T23:59:60Z");
    assert_int_equal (d.second, 60);
    d = s_iso ("0001-01-01");
    s_expect_fields (&d, 1, 1, 1, 0, 0, 0, 0, 0, false, 0, HG_PREC_DAY);
    d = s_iso ("9999-12-31T23:59:59");
    s_expect_fields (&d, 9999, 12, 31, 23, 59, 59, 0, 0, false, 0, HG_PREC_SECOND);
    d = s_iso ("2024-02-29");
    assert_int_equal (d.day, 29);
    d = s_iso ("2000-02-29");
    assert_int_equal (d.day, 29);
}

static void
test_hl7_precisions (void **state)
{
    (void) state;
    hg_date_t d = s_hl7 ("2023");
    s_expect_fields (&d, 2023, 1, 1, 0, 0, 0, 0, 0, false, 0, HG_PREC_YEAR);
    d = s_hl7 ("202307");
    s_expect_fields (&d, 2023, 7, 1, 0, 0, 0, 0, 0, false, 0, HG_PREC_MONTH);
    d = s_hl7 ("20230719");
    s_expect_fields (&d, 2023, 7, 19, 0, 0, 0, 0, 0, false, 0, HG_PREC_DAY);
    /* hour only: kept at minute precision, minute 0 */
    d = s_hl7 ("2023071908");
    s_expect_fields (&d, 2023, 7, 19, 8, 0, 0, 0, 0, false, 0, HG_PREC_MINUTE);
    d = s_hl7 ("202307190830");
    s_expect_fields (&d, 2023, 7, 19, 8, 30, 0, 0, 0, false, 0, HG_PREC_MINUTE);
    d = s_hl7 ("20230719083059");
    s_expect_fields (&d, 2023, 7, 19, 8, 30, 59, 0, 0, false, 0, HG_PREC_SECOND);
    d = s_hl7 ("20230719083059.1");
    s_expect_fields (&d, 2023, 7, 19, 8, 30, 59, 100000, 1, false, 0, HG_PREC_SECOND);
    d = s_hl7 ("20230719083059.1234");
    s_expect_fields (&d, 2023, 7, 19, 8, 30, 59, 123400, 4, false, 0, HG_PREC_SECOND);
    d = s_hl7 ("20230719083059.1234-0500");
    s_expect_fields (&d, 2023, 7, 19, 8, 30, 59, 123400, 4, true, -300, HG_PREC_SECOND);
    d = s_hl7 ("202307190830+0130");
    s_expect_fields (&d, 2023, 7, 19, 8, 30, 0, 0, 0, true, 90, HG_PREC_MINUTE);
    /* a zone may follow any component */
    d = s_hl7 ("20230719-0000");
    s_expect_fields (&d, 2023, 7, 19, 0, 0, 0, 0, 0, true, 0, HG_PREC_DAY);
    d = s_hl7 ("2023+0100");
    s_expect_fields (&d, 2023, 1, 1, 0, 0, 0, 0, 0, true, 60, HG_PREC_YEAR);
    d = s_hl7 ("20240229");
    assert_int_equal (d.day, 29);
}

static void
s_expect_iso_error (const char *s, const char *msg)
{
    hg_date_t d = {.year = 77, .prec = HG_PREC_DAY};
    hg_err_t err = {0};
    assert_int_equal (hg_date_parse_iso (s, strlen (s), &d, &err), HG_EINVAL);
    assert_int_equal (err.code, HG_EINVAL);
    assert_string_equal (err.msg, msg);
    assert_int_equal (d.year, 77); /* out untouched on error */
}

static void
s_expect_hl7_error (const char *s, const char *msg)
{
    hg_date_t d;
    hg_err_t err = {0};
    assert_int_equal (hg_date_parse_hl7 (s, strlen (s), &d, &err), HG_EINVAL);
    assert_string_equal (err.msg, msg);
}

#define ISO_FORM                                                    \
    "is not a date in ISO 8601 form (YYYY, YYYY-MM, YYYY-MM-DD or " \
    "YYYY-MM-DDThh:mm:ss[.fff][Z|+hh:mm])"
#define HL7_FORM "is not an HL7 date/time (YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ])"

static void
test_invalid (void **state)
{
    (void) state;
    s_expect_iso_error ("2023-13-01", "'2023-13-01' is not a valid date: month 13");
    s_expect_iso_error ("2023-00", "'2023-00' is not a valid date: month 0");
    s_expect_iso_error ("2023-02-29", "'2023-02-29' is not a valid date: day 29 of month 2");
    s_expect_iso_error ("1900-02-29", "'1900-02-29' is not a valid date: day 29 of month 2");
    s_expect_iso_error ("2023-04-31", "'2023-04-31' is not a valid date: day 31 of month 4");
    s_expect_iso_error ("2023-01-00", "'2023-01-00' is not a valid date: day 0 of month 1");
    s_expect_iso_error ("0000", "'0000' is not a valid date: year 0");
    s_expect_iso_error ("2023-01-01T24:00", "'2023-01-01T24:00' is not a valid time of day");
    s_expect_iso_error ("2023-01-01T23:60", "'2023-01-01T23:60' is not a valid time of day");
    s_expect_iso_error ("2023-01-01T23:59:61",
                        "'2023-01-01T23:59:61' is not a valid time of day");
    s_expect_iso_error ("2023-01-01T10:00+14:01",
                        "'2023-01-01T10:00+14:01' has an impossible time-zone offset");
    s_expect_iso_error ("2023-1-01", "'2023-1-01' " ISO_FORM);
    s_expect_iso_error ("20230101", "'20230101' " ISO_FORM);
    s_expect_iso_error ("", "'' " ISO_FORM);
    s_expect_iso_error ("202", "'202' " ISO_FORM);
    s_expect_iso_error ("2023-01-01Z", "'2023-01-01Z' " ISO_FORM);
    s_expect_iso_error ("2023-01-01 10:00", "'2023-01-01 10:00' " ISO_FORM);
    s_expect_iso_error ("2023-01-01T10", "'2023-01-01T10' " ISO_FORM);
    s_expect_iso_error ("2023-01-01T10:00:00.", "'2023-01-01T10:00:00.' " ISO_FORM);
    s_expect_iso_error ("2023-01-01T10:00:00.1234567890",
                        "'2023-01-01T10:00:00.1234567890' " ISO_FORM);
    s_expect_iso_error ("2023-01-01T10:00.5", "'2023-01-01T10:00.5' " ISO_FORM);
    s_expect_iso_error ("2023-01-01T10:00+0500", "'2023-01-01T10:00+0500' " ISO_FORM);
    s_expect_iso_error ("2023-01-01T10:00:00Zjunk", "'2023-01-01T10:00:00Zjunk' " ISO_FORM);
    /* the echo is cut at 40 bytes */
    s_expect_iso_error ("2023-01-01T10:00:00.123456789+05:30xxxxxxxxxxxx",
                        "'2023-01-01T10:00:00.123456789+05:30xxxxx' " ISO_FORM);
    /* the length is honoured: "2023-13" inside a longer buffer */
    hg_date_t d;
    hg_err_t err = {0};
    assert_int_equal (hg_date_parse_iso ("2023-07-19", 7, &d, &err), 0);
    assert_int_equal (d.prec, HG_PREC_MONTH);
    assert_int_equal (d.month, 7);
    /* a NULL err is allowed */
    assert_int_equal (hg_date_parse_iso ("x", 1, &d, NULL), HG_EINVAL);

    s_expect_hl7_error ("20231301", "'20231301' is not a valid date: month 13");
    s_expect_hl7_error ("20230229", "'20230229' is not a valid date: day 29 of month 2");
    s_expect_hl7_error ("2023010124", "'2023010124' is not a valid time of day");
    s_expect_hl7_error ("202301011060", "'202301011060' is not a valid time of day");
    s_expect_hl7_error ("20230101-1500", "'20230101-1500' has an impossible time-zone offset");
    s_expect_hl7_error ("2023AB", "'2023AB' " HL7_FORM);
    s_expect_hl7_error ("202301011", "'202301011' " HL7_FORM);
    s_expect_hl7_error ("", "'' " HL7_FORM);
    s_expect_hl7_error ("20230101.5", "'20230101.5' " HL7_FORM);
    s_expect_hl7_error ("20230101103000.12345", "'20230101103000.12345' " HL7_FORM);
    s_expect_hl7_error ("20230101103000.", "'20230101103000.' " HL7_FORM);
    s_expect_hl7_error ("20230101+05", "'20230101+05' " HL7_FORM);
    s_expect_hl7_error ("20230101+05000", "'20230101+05000' " HL7_FORM);
    s_expect_hl7_error ("2023-01-01", "'2023-01-01' " HL7_FORM);
    s_expect_hl7_error ("20230101123000000000000000000000000000000000",
                        "'2023010112300000000000000000000000000000' " HL7_FORM);
}

static void
test_format_round_trip (void **state)
{
    (void) state;
    const char *iso[] = {
        "2023",
        "2023-07",
        "2023-07-19",
        "2023-07-19T08:30",
        "2023-07-19T08:30:59",
        "2023-07-19T08:30:59Z",
        "2023-07-19T08:30+05:30",
        "2023-07-19T08:30:00-09:45",
        "2023-07-19T08:30:00.5",
        "2023-07-19T08:30:00.050Z",
        "2023-07-19T08:30:00.000001+14:00",
        "0001-01-01",
        "9999-12-31T23:59:59.999999-14:00",
    };
    for (size_t i = 0; i < sizeof (iso) / sizeof (iso[0]); i++) {
        hg_date_t d = s_iso (iso[i]);
        s_expect_format (&d, iso[i]);
        /* and parsing the output gives the same struct */
        char buf[HG_DATE_ISO_MAX];
        hg_date_format_iso (&d, buf, sizeof (buf));
        hg_date_t again = s_iso (buf);
        s_expect_fields (&again, d.year, d.month, d.day, d.hour, d.minute, d.second, d.micros,
                         d.frac_digits, d.has_tz, d.tz_offset_min, d.prec);
    }
    /* normalisations */
    hg_date_t d = s_iso ("2023-07-19T08:30:00-00:00");
    s_expect_format (&d, "2023-07-19T08:30:00Z");
    d = s_iso ("2023-07-19T08:30:00.123456789Z");
    s_expect_format (&d, "2023-07-19T08:30:00.123456Z");

    /* HL7 to ISO */
    struct {
        const char *hl7, *iso;
    } cases[] = {
        {"2023", "2023"},
        {"202307", "2023-07"},
        {"20230719", "2023-07-19"},
        {"2023071908", "2023-07-19T08:00"},
        {"202307190830", "2023-07-19T08:30"},
        {"20230719083059", "2023-07-19T08:30:59"},
        {"20230719083059.12", "2023-07-19T08:30:59.12"},
        {"20230719083059.1234-0500", "2023-07-19T08:30:59.1234-05:00"},
        {"202307190830+0000", "2023-07-19T08:30Z"},
        /* a zone below minute precision cannot be written in ISO: dropped */
        {"20230719-0500", "2023-07-19"},
        {"202307+0100", "2023-07"},
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        d = s_hl7 (cases[i].hl7);
        s_expect_format (&d, cases[i].iso);
    }

    /* a short buffer truncates and stays NUL-terminated */
    d = s_iso ("2023-07-19T08:30:59Z");
    char small[8];
    hg_date_format_iso (&d, small, sizeof (small));
    assert_string_equal (small, "2023-07");

    char key[11];
    d = s_iso ("2023-07-19T23:59:59+14:00");
    hg_date_day_key (&d, key);
    assert_string_equal (key, "2023-07-19");
    d = s_iso ("2023-07");
    hg_date_day_key (&d, key);
    assert_string_equal (key, "2023-07-01");
    d = s_iso ("2023");
    hg_date_day_key (&d, key);
    assert_string_equal (key, "2023-01-01");
}

/* Independent calendar for the comparison loop. */
static int
s_month_len (int y, int m)
{
    static const int len[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : len[m - 1];
}

static void
test_days_1600_to_2400 (void **state)
{
    (void) state;
    /* days from 1600-01-01 to 1970-01-01, year by year */
    int64_t offset = 0;
    for (int y = 1600; y < 1970; y++) {
        for (int m = 1; m <= 12; m++) {
            offset += s_month_len (y, m);
        }
    }
    assert_int_equal (offset, 135140);
    int64_t n = -offset;
    size_t checked = 0;
    for (int y = 1600; y <= 2400; y++) {
        assert_int_equal (hg_date_is_leap (y), (y % 4 == 0 && y % 100 != 0) || y % 400 == 0);
        for (int m = 1; m <= 12; m++) {
            assert_int_equal (hg_date_month_days (y, m), s_month_len (y, m));
            for (int dd = 1; dd <= s_month_len (y, m); dd++) {
                hg_date_t d = {.year = y, .month = m, .day = dd, .prec = HG_PREC_DAY};
                if (hg_date_days (&d) != n) {
                    fail_msg ("%04d-%02d-%02d: days %lld, want %lld", y, m, dd,
                              (long long) hg_date_days (&d), (long long) n);
                }
                int yy, mm, d2;
                hg_date_from_days (n, &yy, &mm, &d2);
                if (yy != y || mm != m || d2 != dd) {
                    fail_msg ("from_days(%lld) = %04d-%02d-%02d, want %04d-%02d-%02d",
                              (long long) n, yy, mm, d2, y, m, dd);
                }
                n++;
                checked++;
            }
        }
    }
    assert_int_equal (checked, 292560);
    /* anchors */
    hg_date_t d = s_iso ("1970-01-01");
    assert_int_equal (hg_date_days (&d), 0);
    d = s_iso ("2000-03-01");
    assert_int_equal (hg_date_days (&d), 11017);
    d = s_iso ("1969-12-31");
    assert_int_equal (hg_date_days (&d), -1);
    /* below day precision: the first day of the period */
    d = s_iso ("2023");
    assert_int_equal (hg_date_days (&d), 19358);
    d = s_iso ("2023-03");
    assert_int_equal (hg_date_days (&d), 19417);
    assert_int_equal (hg_date_month_days (2023, 0), 0);
    assert_int_equal (hg_date_month_days (2023, 13), 0);
}

static void
s_expect_shift (const char *from, int days, const char *want)
{
    hg_date_t d = s_iso (from);
    hg_date_add_days (&d, days);
    char buf[HG_DATE_ISO_MAX];
    hg_date_format_iso (&d, buf, sizeof (buf));
    if (strcmp (buf, want) != 0) {
        fail_msg ("%s %+d days = %s, want %s", from, days, buf, want);
    }
}

static void
test_add_days (void **state)
{
    (void) state;
    s_expect_shift ("2023-07-19", 0, "2023-07-19");
    s_expect_shift ("2023-07-19", 13, "2023-08-01");
    s_expect_shift ("2023-12-31", 1, "2024-01-01");
    s_expect_shift ("2024-01-01", -1, "2023-12-31");
    s_expect_shift ("2024-02-28", 1, "2024-02-29");
    s_expect_shift ("2024-02-29", 1, "2024-03-01");
    s_expect_shift ("2023-02-28", 1, "2023-03-01");
    s_expect_shift ("2024-03-01", -1, "2024-02-29");
    s_expect_shift ("2000-02-28", 1, "2000-02-29");
    s_expect_shift ("1900-02-28", 1, "1900-03-01");
    s_expect_shift ("2024-01-01", 366, "2025-01-01");
    s_expect_shift ("2023-01-01", 365, "2024-01-01");
    s_expect_shift ("2024-06-15", -365, "2023-06-16");
    s_expect_shift ("2024-06-15", 730, "2026-06-15");
    s_expect_shift ("1970-01-01", -1, "1969-12-31");
    /* time, zone and fraction kept */
    s_expect_shift ("2023-12-31T23:59:59.5+01:00", 1, "2024-01-01T23:59:59.5+01:00");
    s_expect_shift ("2024-02-29T00:00Z", 365, "2025-02-28T00:00Z");
    s_expect_shift ("2024-03-01T12:34:56", -366, "2023-03-01T12:34:56");
    /* month precision: the 15th is shifted, the month kept */
    s_expect_shift ("2023-01", 16, "2023-01");
    s_expect_shift ("2023-01", 17, "2023-02");
    s_expect_shift ("2023-01", -14, "2023-01");
    s_expect_shift ("2023-01", -15, "2022-12");
    s_expect_shift ("2024-02", 14, "2024-02");
    s_expect_shift ("2024-02", 15, "2024-03");
    s_expect_shift ("2023-02", 14, "2023-03");
    /* year precision: 2 July is shifted, the year kept */
    s_expect_shift ("2023", 182, "2023");
    s_expect_shift ("2023", 183, "2024");
    s_expect_shift ("2023", -182, "2023");
    s_expect_shift ("2023", -183, "2022");

    hg_date_t d = s_iso ("2023");
    hg_date_add_days (&d, 200);
    assert_int_equal (d.prec, HG_PREC_YEAR);
    assert_int_equal (d.month, 1);
    assert_int_equal (d.day, 1);
    d = s_iso ("2023-05");
    hg_date_add_days (&d, 40);
    assert_int_equal (d.prec, HG_PREC_MONTH);
    assert_int_equal (d.month, 6);
    assert_int_equal (d.day, 1);
}

static void
s_utc (const char *in, const char *want)
{
    hg_date_t d;
    assert_int_equal (hg_date_parse_iso (in, strlen (in), &d, NULL), 0);
    hg_date_to_utc (&d);
    char buf[HG_DATE_ISO_MAX];
    hg_date_format_iso (&d, buf, sizeof (buf));
    assert_string_equal (buf, want);
}

static void
test_to_utc (void **state)
{
    (void) state;
    s_utc ("2021-03-04T10:15:00-05:00", "2021-03-04T15:15:00Z");
    s_utc ("2021-03-04T22:30-05:00", "2021-03-05T03:30Z");               /* minute precision */
    s_utc ("2021-01-01T01:00:00.250+02:00", "2020-12-31T23:00:00.250Z"); /* year back */
    s_utc ("2024-02-28T23:30:00-01:00", "2024-02-29T00:30:00Z");         /* leap day */
    s_utc ("2021-03-04T10:15:00+05:45", "2021-03-04T04:30:00Z");
    s_utc ("2021-03-04T10:15:00Z", "2021-03-04T10:15:00Z");
    s_utc ("2021-03-04T10:15:00", "2021-03-04T10:15:00"); /* no zone: unknown instant */
    s_utc ("2021-03-04", "2021-03-04");
    s_utc ("2021", "2021");
}

HG_TEST_MAIN (cmocka_unit_test (test_to_utc), cmocka_unit_test (test_iso_precisions),
              cmocka_unit_test (test_hl7_precisions), cmocka_unit_test (test_invalid),
              cmocka_unit_test (test_format_round_trip),
              cmocka_unit_test (test_days_1600_to_2400), cmocka_unit_test (test_add_days))
