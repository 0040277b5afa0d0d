/*
 * test_csv.c -- CSV parser and mapping files: every mapping with exact
 * values, row rejects and their reasons, hostile input, and (when
 * ../shared/data is present) the Synthea CSV export.
 */
#include "unit_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "csv.h"
#include "parser_test.h"

static hg_csv_mapping_t *
s_map (const char *text)
{
    hg_csv_mapping_t *m = NULL;
    hg_err_t err;
    hg_err_clear (&err);
    int rc = hg_csv_mapping_parse (text, strlen (text), &m, &err);
    if (rc != 0) {
        print_message ("mapping error: %s\n", err.msg);
    }
    assert_int_equal (rc, 0);
    assert_non_null (m);
    return m;
}

static hg_batch_t *
s_parse_lim (const char *map_text, const char *data, size_t len, size_t max_field,
             size_t max_records, int *rc)
{
    hg_csv_mapping_t *m = s_map (map_text);
    hg_batch_t *b = hg_batch_new (0);
    assert_non_null (b);
    hg_parse_limits_t lim = {max_field, max_records};
    *rc = hg_csv_parse (data, len, m, &lim, b);
    hg_csv_mapping_destroy (&m);
    assert_null (m);
    return b;
}

static hg_batch_t *
s_parse (const char *map_text, const char *data, int *rc)
{
    return s_parse_lim (map_text, data, strlen (data), 1 << 20, 0, rc);
}

static const char *s_lab_map = "# partner ACME lab export\n"
                               "delimiter = ;\n"
                               "encoding = latin1\n"
                               "kind = lab-observation\n"
                               "column.patient = PATIENT_ID\n"
                               "column.code = LOINC\n"
                               "code_system = http://loinc.org\n"
                               "column.value = RESULT\n"
                               "column.unit = UNIT\n"
                               "column.effective = DATE\n"
                               "date_format = %d.%m.%Y\n"
                               "column.display = TEST_NAME\n"
                               "decimal = ,\n"
                               "column.interpretation = FLAG\n"
                               "column.reference_range = RANGE\n";

static void
test_lab_latin1_semicolon (void **state)
{
    /* Latin-1: 0xE4 is a-umlaut, 0xB5 micro; CRLF line ends */
    const char *csv = "PATIENT_ID;LOINC;TEST_NAME;RESULT;UNIT;DATE;FLAG;RANGE\r\n"
                      "P1;2345-7;Glucose n\xFC"
                      "chtern;5,4;mmol/L;01.03.2023;N;3,9-5,5\r\n"
                      "P2;\"718-7\";\"H\xE4moglobin; \"\"Hb\"\"\";<0,5;g/dl;9.1.2024;L;\r\n"
                      "P3;5778-6;Farbe;gelb;;31.12.2022;;\r\n";
    int rc;
    hg_batch_t *b = s_parse (s_lab_map, csv, &rc);
    assert_int_equal (rc, 3);
    assert_int_equal (hg_batch_reject_count (b), 0);
    Hourglass__Record **r = hg_batch_records (b);

    assert_int_equal (r[0]->kind, HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION);
    assert_string_equal (r[0]->patient_ref, "P1");
    assert_int_equal (r[0]->n_codes, 1);
    assert_string_equal (r[0]->codes[0]->system, "http://loinc.org");
    assert_string_equal (r[0]->codes[0]->code, "2345-7");
    assert_string_equal (r[0]->codes[0]->display, "Glucose n\xC3\xBC"
                                                  "chtern");
    assert_int_equal (r[0]->value_case, HOURGLASS__RECORD__VALUE_QUANTITY);
    assert_true (r[0]->quantity->value == 5.4);
    assert_string_equal (r[0]->quantity->unit, "mmol/L");
    assert_string_equal (r[0]->quantity->comparator, "");
    assert_string_equal (r[0]->effective, "2023-03-01");
    assert_string_equal (r[0]->interpretation, "N");
    assert_string_equal (r[0]->reference_range, "3,9-5,5");
    assert_string_equal (r[0]->provenance->source_format, "csv");
    assert_string_equal (r[0]->provenance->source_record_id, "row 2");
    assert_string_equal (r[0]->record_id, "");

    /* quoted fields, an embedded delimiter, doubled quotes, a comparator,
     * single-digit day and month */
    assert_string_equal (r[1]->codes[0]->code, "718-7");
    assert_string_equal (r[1]->codes[0]->display, "H\xC3\xA4moglobin; \"Hb\"");
    assert_true (r[1]->quantity->value == 0.5);
    assert_string_equal (r[1]->quantity->comparator, "<");
    assert_string_equal (r[1]->quantity->unit, "g/dl");
    assert_string_equal (r[1]->effective, "2024-01-09");
    assert_string_equal (r[1]->reference_range, "");

    /* text value */
    assert_int_equal (r[2]->value_case, HOURGLASS__RECORD__VALUE_STRING_VALUE);
    assert_string_equal (r[2]->string_value, "gelb");
    assert_string_equal (r[2]->effective, "2022-12-31");
    assert_string_equal (r[2]->provenance->source_record_id, "row 4");
    hg_batch_destroy (&b);
}

static void
test_demographics_utf8_bom (void **state)
{
    const char *map = "kind = demographics\n"
                      "column.patient = MRN\n"
                      "column.id = ROW_ID\n"
                      "column.given = FIRST\n"
                      "column.family = LAST\n"
                      "column.birth_date = DOB\n"
                      "date_format = %m/%d/%Y\n"
                      "column.sex = SEX\n"
                      "column.address = STREET\n"
                      "column.city = CITY\n"
                      "column.state = ST\n"
                      "column.postal_code = ZIP\n"
                      "column.country = COUNTRY\n"
                      "column.telecom = PHONE\n"
                      "column.deceased_date = DOD\n"
                      "column.identifier = SSN\n"
                      "identifier_system = http://hl7.org/fhir/sid/us-ssn\n";
    const char *csv =
        "\xEF\xBB\xBFrow_id,mrn,first,last,dob,sex,street,city,st,zip,country,phone,dod,ssn\n"
        "r-1,M100,Anna Maria,\"M\xC3\xBCller\",02/29/1980,F,\"1 Main St, Apt 2\",Springfield,IL,"
        "62701,US,555-1234,,999-11-2222\n"
        "\n"
        "r-2,M200,Bob,Stone,12/01/1950,male,,,,,,,07/04/2020,\n";
    int rc;
    hg_batch_t *b = s_parse (map, csv, &rc);
    assert_int_equal (rc, 2);
    assert_int_equal (hg_batch_reject_count (b), 0);
    Hourglass__Record **r = hg_batch_records (b);
    assert_int_equal (r[0]->kind, HOURGLASS__RECORD_KIND__KIND_DEMOGRAPHICS);
    assert_string_equal (r[0]->patient_ref, "M100");
    assert_string_equal (r[0]->provenance->source_record_id, "r-1");
    Hourglass__Demographics *d = r[0]->demographics;
    assert_non_null (d);
    assert_int_equal (d->n_given, 2);
    assert_string_equal (d->given[0], "Anna");
    assert_string_equal (d->given[1], "Maria");
    assert_string_equal (d->family, "M\xC3\xBCller");
    assert_string_equal (d->birth_date, "1980-02-29");
    assert_string_equal (d->sex, "female");
    assert_int_equal (d->n_address_lines, 1);
    assert_string_equal (d->address_lines[0], "1 Main St, Apt 2");
    assert_string_equal (d->city, "Springfield");
    assert_string_equal (d->state, "IL");
    assert_string_equal (d->postal_code, "62701");
    assert_string_equal (d->country, "US");
    assert_int_equal (d->n_telecom, 1);
    assert_string_equal (d->telecom[0], "555-1234");
    assert_string_equal (d->deceased_date, "");
    assert_int_equal (r[0]->n_identifiers, 1);
    assert_string_equal (r[0]->identifiers[0]->system, "http://hl7.org/fhir/sid/us-ssn");
    assert_string_equal (r[0]->identifiers[0]->value, "999-11-2222");
    assert_int_equal (r[0]->n_codes, 0);
    assert_string_equal (r[0]->effective, "");

    d = r[1]->demographics;
    assert_string_equal (r[1]->provenance->source_record_id, "r-2");
    assert_string_equal (d->sex, "male");
    assert_string_equal (d->birth_date, "1950-12-01");
    assert_string_equal (d->deceased_date, "2020-07-04");
    assert_int_equal (d->n_address_lines, 0);
    assert_int_equal (d->n_telecom, 0);
    assert_int_equal (r[1]->n_identifiers, 0);
    hg_batch_destroy (&b);
}

/* One condition row with the effective date in the given format. */
static void
s_check_date (const char *format_line, const char *value, const char *expected)
{
    char map[512];
    snprintf (map, sizeof (map),
              "kind = condition\ncolumn.patient = P\ncolumn.code = C\ncode_system = snomed\n"
              "column.effective = D\n%s",
              format_line);
    char csv[256];
    snprintf (csv, sizeof (csv), "P,C,D\np1,44054006,%s\n", value);
    int rc;
    hg_batch_t *b = s_parse (map, csv, &rc);
    if (rc != 1) {
        hg_test_reject_at (b, "", "");
    }
    assert_int_equal (rc, 1);
    Hourglass__Record *r = hg_batch_records (b)[0];
    assert_int_equal (r->kind, HOURGLASS__RECORD_KIND__KIND_CONDITION);
    assert_string_equal (r->codes[0]->system, "http://snomed.info/sct");
    assert_string_equal (r->effective, expected);
    hg_batch_destroy (&b);
}

static void
test_date_formats (void **state)
{
    s_check_date ("", "2023-04-05", "2023-04-05");
    s_check_date ("date_format = iso\n", "2023-04", "2023-04");
    s_check_date ("", "2023-10-10T04:17:47Z", "2023-10-10T04:17:47Z");
    s_check_date ("date_format = %d.%m.%Y\n", "05.04.2023", "2023-04-05");
    s_check_date ("date_format = %m/%d/%Y\n", "04/05/2023", "2023-04-05");
    s_check_date ("date_format = %Y%m%d\n", "20230405", "2023-04-05");
    s_check_date ("date_format = hl7\n", "202304051230", "2023-04-05T12:30");
    s_check_date ("date_format = %Y-%m-%d %H:%M\n", "2023-04-05 08:15", "2023-04-05T08:15");
    s_check_date ("date_format = %m/%Y\n", "4/2023", "2023-04");
}

static void
test_medication_procedure_and_delimiters (void **state)
{
    /* tab delimiter, per-row code system column with an alias */
    const char *map_med =
        "kind = medication\ndelimiter = tab\ncolumn.patient = pat\ncolumn.code = code\n"
        "column.code_system = sys\ncolumn.status = status\ncolumn.effective = start\n"
        "column.effective_end = stop\ncolumn.encounter = enc\n";
    int rc;
    hg_batch_t *b = s_parse (map_med,
                             "pat\tcode\tsys\tstatus\tstart\tstop\tenc\n"
                             "p9\t313782\trxnorm\tactive\t2020-01-02\t2020-02-03\te-7\n"
                             "p9\t08\thttp://hl7.org/fhir/sid/cvx\tcompleted\t2021\t\t\n",
                             &rc);
    assert_int_equal (rc, 2);
    Hourglass__Record **r = hg_batch_records (b);
    assert_int_equal (r[0]->kind, HOURGLASS__RECORD_KIND__KIND_MEDICATION);
    assert_string_equal (r[0]->codes[0]->system, "http://www.nlm.nih.gov/research/umls/rxnorm");
    assert_string_equal (r[0]->codes[0]->code, "313782");
    assert_string_equal (r[0]->status, "active");
    assert_string_equal (r[0]->effective, "2020-01-02");
    assert_string_equal (r[0]->effective_end, "2020-02-03");
    assert_string_equal (r[0]->encounter_ref, "e-7");
    assert_int_equal (r[0]->value_case, HOURGLASS__RECORD__VALUE__NOT_SET);
    assert_string_equal (r[1]->codes[0]->system, "http://hl7.org/fhir/sid/cvx");
    assert_string_equal (r[1]->effective, "2021");
    assert_string_equal (r[1]->effective_end, "");
    hg_batch_destroy (&b);

    /* pipe delimiter; a quoted field holding the delimiter and a newline */
    const char *map_proc =
        "kind = procedure\ndelimiter = |\ncolumn.patient = P\ncolumn.code = C\n"
        "code_system = snomed\ncolumn.display = D\n";
    b = s_parse (map_proc, "P|C|D\np1|80146002|\"Appendectomy|open\nsecond line\"\np2|1|x", &rc);
    assert_int_equal (rc, 2);
    r = hg_batch_records (b);
    assert_int_equal (r[0]->kind, HOURGLASS__RECORD_KIND__KIND_PROCEDURE);
    assert_string_equal (r[0]->codes[0]->display, "Appendectomy|open\nsecond line");
    /* row numbers count records, not lines */
    assert_string_equal (r[1]->provenance->source_record_id, "row 3");
    assert_string_equal (r[1]->codes[0]->display, "x");
    hg_batch_destroy (&b);
}

static void
test_row_rejects (void **state)
{
    const char *map =
        "kind = demographics\ncolumn.patient = id\ncolumn.birth_date = dob\ncolumn.sex = sex\n"
        "column.family = name\n";
    const char *csv = "id,dob,sex,name\n"
                      "a1,1970-01-01,M,Ok\n"         /* row 2: fine */
                      "a2,1970-13-01,F,X\n"          /* row 3: month 13 */
                      ",1970-01-01,F,X\n"            /* row 4: no patient */
                      "a4,1970-01-01,Q,X\n"          /* row 5: bad sex */
                      "a5,1970-01-01\n"              /* row 6: too few fields */
                      "a6,1970-01-01,F,\"X\"y\n"     /* row 7: text after a closing quote */
                      "a7,1970-01-01,F,Gr\xFC\x62\n" /* row 8: Latin-1 in a UTF-8 mapping */
                      "a8,1970-01-01,F,Last\n";      /* row 9: fine */
    int rc;
    hg_batch_t *b = s_parse (map, csv, &rc);
    assert_int_equal (rc, 2);
    assert_int_equal (hg_batch_reject_count (b), 6);
    assert_string_equal (hg_batch_records (b)[1]->patient_ref, "a8");
    const hg_reject_t *r = hg_test_reject_at (b, "row 3",
                                              "row 3 column dob: '1970-13-01' is not a "
                                              "valid date");
    assert_non_null (r);
    assert_non_null (strstr (r->reason, "month"));
    assert_int_equal (r->excerpt_len, strlen ("a2,1970-13-01,F,X\n"));
    assert_non_null (hg_test_reject_at (b, "row 4", "row 4 column id: patient id is empty"));
    assert_non_null (
        hg_test_reject_at (b, "row 5", "row 5 column sex: sex 'Q' is not one of M, F"));
    assert_non_null (hg_test_reject_at (b, "row 6", "row 6 has 2 fields but the header has 4"));
    assert_non_null (hg_test_reject_at (b, "row 7",
                                        "row 7 column 4: unexpected text after a "
                                        "closing quote"));
    assert_non_null (
        hg_test_reject_at (b, "row 8",
                           "row 8 column name: invalid UTF-8 byte 0xFC at "
                           "offset 2 (if the file is Latin-1, set 'encoding = latin1'"));
    hg_batch_destroy (&b);
}

static void
test_header_missing_columns (void **state)
{
    int rc;
    hg_batch_t *b = s_parse (s_lab_map,
                             "PATIENT_ID;LOINC_CODE;RESULT;DATE;TEST_NAME\n"
                             "P1;1;2;01.01.2020;x\n",
                             &rc);
    assert_int_equal (rc, 0);
    assert_int_equal (hg_batch_reject_count (b), 1);
    const hg_reject_t *r = hg_test_reject_at (b, "row 1 (header)",
                                              "the mapping names columns that "
                                              "are not in the header: code 'LOINC', unit 'UNIT', "
                                              "interpretation 'FLAG', reference_range 'RANGE'");
    assert_non_null (r);
    assert_non_null (strstr (r->reason, "header: PATIENT_ID;LOINC_CODE;RESULT;DATE;TEST_NAME"));
    hg_batch_destroy (&b);

    /* header names match ignoring case when there is no exact match */
    b = s_parse ("kind = condition\ncolumn.patient = Patient\ncolumn.code = CODE\n"
                 "code_system = icd10cm\n",
                 "patient,code\nx,E11.9\n", &rc);
    assert_int_equal (rc, 1);
    assert_string_equal (hg_batch_records (b)[0]->codes[0]->system,
                         "http://hl7.org/fhir/sid/icd-10-cm");
    hg_batch_destroy (&b);

    /* an empty payload */
    b = s_parse (s_lab_map, "", &rc);
    assert_int_equal (rc, 0);
    assert_non_null (hg_test_reject_at (b, "payload", "empty payload"));
    hg_batch_destroy (&b);
}

static void
test_unterminated_quote (void **state)
{
    const char *map =
        "kind = condition\ncolumn.patient = p\ncolumn.code = c\ncode_system = snomed\n";
    int rc;
    hg_batch_t *b = s_parse (map, "p,c\nx,1\ny,\"open\nz,2\nw,3\n", &rc);
    assert_int_equal (rc, 1);
    assert_int_equal (hg_batch_reject_count (b), 1);
    assert_non_null (
        hg_test_reject_at (b, "row 3",
                           "row 3 column 2: quoted field starting on line 3 "
                           "has no closing quote; the rest of the payload (16 bytes) "
                           "is not parsed"));
    hg_batch_destroy (&b);

    /* in the header */
    b = s_parse (map, "p,\"c\n", &rc);
    assert_int_equal (rc, 0);
    assert_non_null (hg_test_reject_at (b, "row 1", "no closing quote"));
    hg_batch_destroy (&b);
}

static void
s_map_error (const char *text, const char *expected)
{
    hg_csv_mapping_t *m = (hg_csv_mapping_t *) &m; /* must be reset to NULL */
    hg_err_t err;
    hg_err_clear (&err);
    int rc = hg_csv_mapping_parse (text, strlen (text), &m, &err);
    assert_int_equal (rc, HG_EINVAL);
    assert_null (m);
    if (!strstr (err.msg, expected)) {
        print_message ("got: %s\nwant: %s\n", err.msg, expected);
        fail ();
    }
}

static void
test_mapping_errors (void **state)
{
    const char *base = "kind = condition\ncolumn.patient = p\ncolumn.code = c\n";
    char buf[512];
    s_map_error ("column.patient = p\n", "kind is missing");
    s_map_error ("kind = allergy\n", "line 1: kind 'allergy' is not one of demographics");
    s_map_error ("kind = condition\ncolum.code = x\n", "line 2: unknown key 'colum.code'");
    s_map_error ("kind = condition\ncolumn.loinc = x\n", "line 2: unknown column field 'loinc'");
    s_map_error (base, "code_system is missing");
    snprintf (buf, sizeof (buf), "%scode_system = snomed\ncolumn.given = g\n", base);
    s_map_error (buf, "column.given is not used by kind condition");
    snprintf (buf, sizeof (buf), "%scode_system = snomed\ncolumn.value = v\n", base);
    s_map_error (buf, "column.value is not used by kind condition");
    s_map_error ("kind = demographics\ncolumn.family = f\n", "column.patient is missing");
    s_map_error ("kind = condition\ncolumn.patient = p\ncode_system = snomed\n",
                 "column.code is missing");
    s_map_error ("kind = demographics\ncolumn.patient = p\ncode_system = loinc\n",
                 "code_system is not used by kind demographics");
    s_map_error ("delimiter = :\n", "line 1: delimiter ':' is not one of , ; | tab");
    s_map_error ("encoding = ebcdic\n", "line 1: encoding 'ebcdic' is not one of utf-8, latin1");
    s_map_error ("date_format = %d.%m.%y\n", "line 1: date_format '%d.%m.%y': unsupported "
                                             "directive '%y'");
    s_map_error ("date_format = %d.%Y\n", "%d needs %m");
    s_map_error ("date_format = %m-%d\n", "%m needs %Y");
    s_map_error ("date_format = dd.mm.yyyy\n", "date_format 'dd.mm.yyyy' has no %Y");
    s_map_error ("kind = condition\nkind = condition\n", "line 2: kind is given twice");
    s_map_error ("kind = condition\ncolumn.patient = a\ncolumn.patient = b\n",
                 "line 3: column.patient is given twice");
    s_map_error ("kind condition\n", "line 1: expected 'key = value'");
    s_map_error ("kind = condition\ncolumn.code =\n", "line 2: column.code has an empty value");
    s_map_error ("kind = demographics\ncolumn.patient = p\nidentifier_system = x\n",
                 "column.identifier is not mapped");

    /* comments, blank lines, CRLF and a literal tab are fine */
    hg_csv_mapping_t *m = s_map ("\r\n# c\r\n  kind = condition  \r\ncolumn.patient = p\r\n"
                                 "column.code = c\r\ncode_system = snomed\r\ndelimiter = \t\r\n");
    hg_batch_t *b = hg_batch_new (0);
    int rc = hg_csv_parse ("p\tc\r\nq\t1\r\n", 11, m, NULL, b);
    assert_int_equal (rc, 1);
    assert_string_equal (hg_batch_records (b)[0]->patient_ref, "q");
    hg_batch_destroy (&b);
    hg_csv_mapping_destroy (&m);
    hg_csv_mapping_destroy (&m); /* NULL-safe */

    /* no mapping */
    b = hg_batch_new (0);
    assert_int_equal (hg_csv_parse ("a", 1, NULL, NULL, b), HG_EINVAL);
    assert_non_null (hg_test_reject_at (b, "payload", "no CSV mapping"));
    hg_batch_destroy (&b);
}

static void
test_limits (void **state)
{
    const char *map =
        "kind = condition\ncolumn.patient = p\ncolumn.code = c\ncode_system = snomed\n"
        "column.display = d\n";
    /* a 2 MB field against max_field_bytes 1 MiB */
    size_t big = 2u << 20;
    char *csv = malloc (big + 64);
    assert_non_null (csv);
    size_t o = (size_t) sprintf (csv, "p,c,d\nx,1,");
    memset (csv + o, 'A', big);
    o += big;
    o += (size_t) sprintf (csv + o, "\ny,2,ok\n");
    int rc;
    hg_batch_t *b = s_parse_lim (map, csv, o, 1u << 20, 0, &rc);
    assert_int_equal (rc, 1);
    assert_string_equal (hg_batch_records (b)[0]->patient_ref, "y");
    assert_non_null (hg_test_reject_at (b, "row 2",
                                        "row 2 column d: value is 2097152 bytes, over "
                                        "the limit of 1048576 bytes (max_field_bytes)"));
    hg_batch_destroy (&b);
    free (csv);

    /* max_records */
    b = s_parse_lim (map, "p,c,d\na,1,\nb,2,\nc,3,\nd,4,\n", 26, 1 << 20, 2, &rc);
    assert_int_equal (rc, 2);
    assert_int_equal (hg_batch_record_count (b), 2);
    assert_non_null (hg_test_reject_at (b, "row 4",
                                        "record limit reached (max_records 2): row 4 "
                                        "and the rest of the payload are not parsed"));
    hg_batch_destroy (&b);

    /* NUL bytes and NULL data never crash */
    b = s_parse_lim (map, "p,c,d\na\0b,1,x\n", 14, 0, 0, &rc);
    assert_int_equal (rc, 0);
    assert_non_null (hg_test_reject_at (b, "row 2", "contains a NUL byte"));
    hg_batch_destroy (&b);
    b = s_parse_lim (map, NULL, 0, 0, 0, &rc);
    assert_int_equal (rc, 0);
    hg_batch_destroy (&b);

    /* a tiny arena: out of memory is reported, never a crash */
    hg_csv_mapping_t *m = s_map (map);
    b = hg_batch_new (2048);
    char many[4096];
    o = (size_t) sprintf (many, "p,c,d\n");
    for (int i = 0; i < 150; i++) {
        o += (size_t) sprintf (many + o, "pat%d,%d,display\n", i, i);
    }
    rc = hg_csv_parse (many, o, m, NULL, b);
    assert_int_equal (rc, HG_ENOMEM);
    assert_non_null (hg_test_reject_at (b, NULL, "payload exceeds parser memory limit"));
    hg_batch_destroy (&b);
    hg_csv_mapping_destroy (&m);
}

/* ------------------------------------------------------------------------
 * Real samples: the Synthea CSV export (27 patients) */

static void
s_synthea (const char *dir, const char *file, const char *map, int expected,
           void (*check) (Hourglass__Record *))
{
    char path[1024];
    int pl = snprintf (path, sizeof (path), "%s/%s", dir, file);
    assert_true (pl > 0 && (size_t) pl < sizeof (path));
    size_t len = 0;
    char *data = hg_test_slurp (path, &len);
    assert_non_null (data);
    int rc;
    hg_batch_t *b = s_parse_lim (map, data, len, 1 << 20, 100000, &rc);
    print_message ("%s: %d records, %zu rejected\n", file, rc, hg_batch_reject_count (b));
    hg_test_reject_at (b, "no such location", NULL); /* prints any reject */
    assert_int_equal (hg_batch_reject_count (b), 0);
    assert_int_equal (rc, expected);
    check (hg_batch_records (b)[0]);
    hg_batch_destroy (&b);
    free (data);
}

static void
s_check_patient (Hourglass__Record *r)
{
    assert_string_equal (r->patient_ref, "3edac2e3-d223-6fae-d515-daf96ef6bc76");
    assert_string_equal (r->demographics->family, "Mosciski958");
    assert_string_equal (r->demographics->given[0], "Maynard46");
    assert_string_equal (r->demographics->birth_date, "2014-10-06");
    assert_string_equal (r->demographics->sex, "male");
    assert_string_equal (r->demographics->postal_code, "02155");
    assert_string_equal (r->identifiers[0]->value, "999-17-5017");
}

static void
s_check_condition (Hourglass__Record *r)
{
    assert_string_equal (r->codes[0]->code, "195662009");
    assert_string_equal (r->codes[0]->display, "Acute viral pharyngitis (disorder)");
    assert_string_equal (r->effective, "2023-01-27");
    assert_string_equal (r->effective_end, "2023-02-09");
    assert_string_equal (r->encounter_ref, "57f2562b-445c-f11c-ba40-edc55af3c84f");
}

static void
s_check_observation (Hourglass__Record *r)
{
    assert_string_equal (r->codes[0]->system, "http://loinc.org");
    assert_string_equal (r->codes[0]->code, "8302-2");
    assert_int_equal (r->value_case, HOURGLASS__RECORD__VALUE_QUANTITY);
    assert_true (r->quantity->value == 127.9);
    assert_string_equal (r->quantity->unit, "cm");
    assert_string_equal (r->effective, "2023-10-10T04:17:47Z");
}

static void
s_check_medication (Hourglass__Record *r)
{
    assert_string_equal (r->patient_ref, "9d188916-8390-282b-3ec2-73fce6e08649");
    assert_string_equal (r->codes[0]->system, "http://www.nlm.nih.gov/research/umls/rxnorm");
    assert_string_equal (r->codes[0]->code, "665078");
}

static void
s_check_procedure (Hourglass__Record *r)
{
    assert_string_equal (r->codes[0]->code, "430193006");
    assert_string_equal (r->effective_end, "2023-10-10T04:32:47Z");
}

static void
test_shared_synthea (void **state)
{
#ifdef HG_SHARED_DATA
    char dir[1024];
    struct stat st;
    snprintf (dir, sizeof (dir), "%s/csv_synthea_dbt_27pt", HG_SHARED_DATA);
    if (stat (dir, &st) != 0) {
        print_message ("skipping: %s not present\n", dir);
        skip ();
    }
    s_synthea (dir, "patients.csv",
               "kind = demographics\ncolumn.patient = Id\ncolumn.given = FIRST\n"
               "column.family = LAST\ncolumn.birth_date = BIRTHDATE\n"
               "column.deceased_date = DEATHDATE\ncolumn.sex = GENDER\n"
               "column.address = ADDRESS\ncolumn.city = CITY\ncolumn.state = STATE\n"
               "column.postal_code = ZIP\ncolumn.identifier = SSN\n"
               "identifier_system = http://hl7.org/fhir/sid/us-ssn\n",
               27, s_check_patient);
#define S_CLINICAL                                                                          \
    "kind = %s\ncolumn.patient = PATIENT\ncolumn.code = CODE\ncode_system = %s\n"           \
    "column.display = DESCRIPTION\ncolumn.effective = START\ncolumn.effective_end = STOP\n" \
    "column.encounter = ENCOUNTER\n"
    char map[512];
    snprintf (map, sizeof (map), S_CLINICAL, "condition", "snomed");
    s_synthea (dir, "conditions.csv", map, 438, s_check_condition);
    snprintf (map, sizeof (map), S_CLINICAL, "medication", "rxnorm");
    s_synthea (dir, "medications.csv", map, 663, s_check_medication);
    snprintf (map, sizeof (map), S_CLINICAL, "procedure", "snomed");
    s_synthea (dir, "procedures.csv", map, 249, s_check_procedure);
    s_synthea (dir, "observations.csv",
               "kind = lab-observation\ncolumn.patient = PATIENT\ncolumn.code = CODE\n"
               "code_system = loinc\ncolumn.display = DESCRIPTION\ncolumn.value = VALUE\n"
               "column.unit = UNITS\ncolumn.effective = DATE\ncolumn.encounter = ENCOUNTER\n",
               990, s_check_observation);
#else
    print_message ("skipping: HG_SHARED_DATA not defined\n");
    skip ();
#endif
}

HG_TEST_MAIN (cmocka_unit_test (test_lab_latin1_semicolon),
              cmocka_unit_test (test_demographics_utf8_bom), cmocka_unit_test (test_date_formats),
              cmocka_unit_test (test_medication_procedure_and_delimiters),
              cmocka_unit_test (test_row_rejects), cmocka_unit_test (test_header_missing_columns),
              cmocka_unit_test (test_unterminated_quote), cmocka_unit_test (test_mapping_errors),
              cmocka_unit_test (test_limits), cmocka_unit_test (test_shared_synthea))
