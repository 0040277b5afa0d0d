/*
 * test_hl7v2.c -- HL7 v2 parser: tokenizer (delimiters, line endings, BOM,
 * escapes, repetitions), ADT (A01/A03/A04/A08, A40 merge), ORU, ORM/OML,
 * RDE and VXU mappings, reject reasons, hostile input, and (when
 * ../shared/data is present) real public samples.
 */
#include "unit_test.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hl7v2.h"
#include "parser_test.h"

static hg_batch_t *
s_parse_lim (const char *msg, size_t len, size_t max_field, size_t max_records, int *rc)
{
    return hg_test_parse (hg_hl7v2_parse, msg, len, max_field, max_records, rc);
}

static hg_batch_t *
s_parse (const char *msg, int *rc)
{
    return s_parse_lim (msg, strlen (msg), 1 << 20, 0, rc);
}

/* Replaces every '\n' of a template by the given terminator. */
static char *
s_terminated (const char *tmpl, const char *eol)
{
    size_t n = strlen (tmpl), el = strlen (eol), o = 0;
    char *out = malloc (n * el + 1);
    for (size_t i = 0; i < n; i++) {
        if (tmpl[i] == '\n') {
            memcpy (out + o, eol, el);
            o += el;
        }
        else {
            out[o++] = tmpl[i];
        }
    }
    out[o] = '\0';
    return out;
}

static const char *s_adt =
    "MSH|^~\\&|ADT1|HOSP|RCV|FAC|202301021030||ADT^A01^ADT_A01|MSG0001|P|2.5\n"
    "EVN|A01|202301021030\n"
    "PID|1||12345^^^HOSP^PI~MRN777^^^HOSP&1.2.3&ISO^MR||O\\T\\Brien&Van^Mary^Ann^^Dr||19800215|F|||"
    "12 Main St&Main St&12^Suite 4^Boston^MA^02110^USA||^PRN^PH^^^617^5551234~555-0000|"
    "(617)555-9999|||||123-45-6789||||||||||20230105\n"
    "PV1|1|I|WARD1^101^A||||||||||||||||V100^^^HOSP|||||||||||||||||||||||||202301020900+0100|"
    "202301101200+0100\n"
    "DG1|1|I10|E11.9^Type 2 diabetes mellitus^I10^44054006^Diabetes^SCT||20221201\n"
    "DG1|2||I10.1^Hypertension^ICD10CM||2022\n"
    "ZPI|custom|stuff\n";

static void
s_check_adt (hg_batch_t *b, int rc, const char *family)
{
    assert_int_equal (hg_batch_reject_count (b), 0);
    assert_int_equal (rc, 4);
    Hourglass__Record **r = hg_batch_records (b);
    /* PID -> demographics */
    assert_int_equal (r[0]->kind, HOURGLASS__RECORD_KIND__KIND_DEMOGRAPHICS);
    assert_string_equal (r[0]->patient_ref, "MRN777"); /* the MR repetition */
    assert_string_equal (r[0]->provenance->source_format, "hl7v2");
    assert_string_equal (r[0]->provenance->source_record_id, "MSG0001/PID");
    assert_string_equal (r[0]->record_id, "");
    Hourglass__Demographics *d = r[0]->demographics;
    assert_string_equal (d->family, family); /* \T\ is the subcomponent separator */
    assert_int_equal (d->n_given, 2);
    assert_string_equal (d->given[0], "Mary");
    assert_string_equal (d->given[1], "Ann");
    assert_string_equal (d->birth_date, "1980-02-15");
    assert_string_equal (d->sex, "female");
    assert_int_equal (d->n_address_lines, 2);
    assert_string_equal (d->address_lines[0], "12 Main St Main St 12");
    assert_string_equal (d->address_lines[1], "Suite 4");
    assert_string_equal (d->city, "Boston");
    assert_string_equal (d->state, "MA");
    assert_string_equal (d->postal_code, "02110");
    assert_string_equal (d->country, "USA");
    assert_int_equal (d->n_telecom, 3);
    assert_string_equal (d->telecom[0], "(617) 5551234");
    assert_string_equal (d->telecom[1], "555-0000");
    assert_string_equal (d->telecom[2], "(617)555-9999");
    assert_string_equal (d->deceased_date, "2023-01-05");
    assert_int_equal (r[0]->n_identifiers, 3);
    assert_string_equal (r[0]->identifiers[0]->value, "12345");
    assert_string_equal (r[0]->identifiers[0]->system, "HOSP");
    assert_string_equal (r[0]->identifiers[0]->type, "PI");
    assert_string_equal (r[0]->identifiers[1]->value, "MRN777");
    assert_string_equal (r[0]->identifiers[1]->type, "MR");
    assert_string_equal (r[0]->identifiers[2]->value, "123-45-6789");
    assert_string_equal (r[0]->identifiers[2]->type, "SS");
    /* PV1 -> encounter */
    assert_int_equal (r[1]->kind, HOURGLASS__RECORD_KIND__KIND_ENCOUNTER);
    assert_string_equal (r[1]->patient_ref, "MRN777");
    assert_int_equal (r[1]->n_codes, 1);
    assert_string_equal (r[1]->codes[0]->system,
                         "http://terminology.hl7.org/CodeSystem/v3-ActCode");
    assert_string_equal (r[1]->codes[0]->code, "IMP");
    assert_string_equal (r[1]->codes[0]->display, "inpatient encounter");
    assert_string_equal (r[1]->effective, "2023-01-02T09:00+01:00"); /* offset kept */
    assert_string_equal (r[1]->effective_end, "2023-01-10T12:00+01:00");
    assert_string_equal (r[1]->encounter_ref, "V100");
    assert_string_equal (r[1]->provenance->source_record_id, "MSG0001/PV1");
    /* DG1 -> conditions */
    assert_int_equal (r[2]->kind, HOURGLASS__RECORD_KIND__KIND_CONDITION);
    assert_int_equal (r[2]->n_codes, 2);
    assert_string_equal (r[2]->codes[0]->system, HG_SYS_ICD10CM);
    assert_string_equal (r[2]->codes[0]->code, "E11.9");
    assert_string_equal (r[2]->codes[0]->display, "Type 2 diabetes mellitus");
    assert_string_equal (r[2]->codes[1]->system, HG_SYS_SNOMED);
    assert_string_equal (r[2]->codes[1]->code, "44054006");
    assert_string_equal (r[2]->effective, "2022-12-01");
    assert_string_equal (r[2]->encounter_ref, "V100");
    assert_string_equal (r[2]->provenance->source_record_id, "MSG0001/DG1[1]");
    assert_string_equal (r[3]->codes[0]->system, HG_SYS_ICD10CM);
    assert_string_equal (r[3]->effective, "2022");
    assert_string_equal (r[3]->provenance->source_record_id, "MSG0001/DG1[2]");
}

static void
test_adt_line_endings_and_bom (void **state)
{
    const char *eols[] = {"\r", "\n", "\r\n", "\r\n\r\n"};
    for (size_t i = 0; i < 4; i++) {
        char *msg = s_terminated (s_adt, eols[i]);
        int rc;
        hg_batch_t *b = s_parse (msg, &rc);
        s_check_adt (b, rc, "O&Brien");
        hg_batch_destroy (&b);
        /* with a UTF-8 byte-order mark */
        char *bom = malloc (strlen (msg) + 4);
        strcpy (bom, "\xEF\xBB\xBF");
        strcat (bom, msg);
        b = s_parse (bom, &rc);
        s_check_adt (b, rc, "O&Brien");
        hg_batch_destroy (&b);
        free (bom);
        free (msg);
    }
}

static void
test_custom_delimiters (void **state)
{
    /* the same ADT with field '#', component '!', repetition '*', escape '$',
     * subcomponent '@' (and '|' '^' '~' '&' are then plain text) */
    char *msg = strdup (s_adt);
    for (char *p = msg; *p; p++) {
        switch (*p) {
        case '|':
            *p = '#';
            break;
        case '^':
            *p = '!';
            break;
        case '~':
            *p = '*';
            break;
        case '\\':
            *p = '$';
            break;
        case '&':
            *p = '@';
            break;
        default:
            break;
        }
    }
    int rc;
    hg_batch_t *b = s_parse (msg, &rc);
    s_check_adt (b, rc, "O@Brien");
    hg_batch_destroy (&b);
    free (msg);
}

static const char *s_oru =
    "MSH|^~\\&|LAB|HOSP|||20210301080000-0500||ORU^R01|MSG0002|P|2.5.1\r"
    "PID|1||P-9^^^LAB^MR||Doe^John||19700101|M\r"
    "OBR|1|||CBC|||20210301070000-0500\r"
    "OBX|1|NM|718-7^Hemoglobin^LN||13.5|g/dL|12-16|N|||F|||20210301071500-0500\r"
    "OBX|2|NM|2345-7^Glucose^LN||>=200|mg/dL||H|||F\r"
    "OBX|3|NM|2345-7^Glucose^LN||abc|mg/dL|||||F\r"
    "OBX|4|ST|8251-1^Note^LN||Line one\\.br\\with \\F\\ and \\S\\ and \\E\\ and \\X41\\~second "
    "line||||||F\r"
    "OBX|5|CE|600-7^Culture^LN||3092008^Staphylococcus aureus^SCT||||||P\r"
    "OBX|6|TX|||free text without a code|||||F\r"
    "OBR|2|||CHEM\r"
    "OBX|7|SN|1234-5^Ratio^LN||<^5|%|||||F\r";

static void
test_oru_values (void **state)
{
    int rc;
    hg_batch_t *b = s_parse (s_oru, &rc);
    assert_int_equal (rc, 6); /* PID + OBX 1,2,4,5,7 */
    assert_int_equal (hg_batch_reject_count (b), 2);
    Hourglass__Record **r = hg_batch_records (b);
    assert_string_equal (r[0]->patient_ref, "P-9");
    assert_string_equal (r[0]->demographics->sex, "male");

    assert_int_equal (r[1]->kind, HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION);
    assert_string_equal (r[1]->codes[0]->system, "http://loinc.org");
    assert_string_equal (r[1]->codes[0]->code, "718-7");
    assert_int_equal (r[1]->value_case, HOURGLASS__RECORD__VALUE_QUANTITY);
    assert_true (r[1]->quantity->value == 13.5);
    assert_string_equal (r[1]->quantity->unit, "g/dL");
    assert_string_equal (r[1]->quantity->comparator, "");
    assert_string_equal (r[1]->reference_range, "12-16");
    assert_string_equal (r[1]->interpretation, "N");
    assert_string_equal (r[1]->status, "F");
    assert_string_equal (r[1]->effective, "2021-03-01T07:15:00-05:00"); /* OBX-14 */
    assert_string_equal (r[1]->provenance->source_record_id, "MSG0002/OBX[1]");

    assert_true (r[2]->quantity->value == 200.0);
    assert_string_equal (r[2]->quantity->comparator, ">=");
    assert_string_equal (r[2]->interpretation, "H");
    assert_string_equal (r[2]->effective, "2021-03-01T07:00:00-05:00"); /* OBR-7 */

    assert_int_equal (r[3]->value_case, HOURGLASS__RECORD__VALUE_STRING_VALUE);
    assert_string_equal (r[3]->string_value, "Line one\nwith | and ^ and \\ and A\nsecond line");
    assert_string_equal (r[3]->provenance->source_record_id, "MSG0002/OBX[4]");

    assert_int_equal (r[4]->value_case, HOURGLASS__RECORD__VALUE_CODE_VALUE);
    assert_string_equal (r[4]->code_value->system, "http://snomed.info/sct");
    assert_string_equal (r[4]->code_value->code, "3092008");
    assert_string_equal (r[4]->code_value->display, "Staphylococcus aureus");
    assert_string_equal (r[4]->status, "P");

    /* after OBR 2 (no OBR-7): MSH-7 */
    assert_string_equal (r[5]->effective, "2021-03-01T08:00:00-05:00");
    assert_int_equal (r[5]->value_case, HOURGLASS__RECORD__VALUE_QUANTITY);
    assert_string_equal (r[5]->quantity->comparator, "<");
    assert_true (r[5]->quantity->value == 5.0);

    const hg_reject_t *rj = hg_test_reject_near (b, "message 1 (MSH-10 'MSG0002') segment OBX[3]",
                                                 "OBX-5 'abc' is not a number but OBX-2 is NM");
    assert_non_null (rj);
    assert_memory_equal (rj->excerpt, "OBX|3|NM", 8);
    assert_non_null (hg_test_reject_near (b, "segment OBX[6]",
                                          "OBX-3 observation identifier is "
                                          "empty"));
    hg_batch_destroy (&b);
}

static void
test_multi_message_locations (void **state)
{
    const char *two = "MSH|^~\\&|A|B|||2021||ADT^A04|MSG0001|P|2.3\n"
                      "PID|1||X1^^^^MR||Roe^Jane||20231301|F\n"
                      "MSH|^~\\&|A|B|||2021||ORU^R01|MSG0002|P|2.3\n"
                      "PID|1||X2||Roe^Jim||2001|M\n"
                      "OBX|1|NM|1^a^LN||1|\n"
                      "OBX|2|NM|1^a^LN||2|\n"
                      "OBX|3|NM|1^a^LN||abc|\n"
                      "MSH|^~\\&|A|B|||2021||ADT^A02|MSG0003|P|2.3\n"
                      "PID|1||X3\n"
                      "MSH|^~\\&|A|B|||2021||ADT^A08|MSG0004|P|2.3\n"
                      "PID|1||^^^^MR\n"
                      "MSH|^~\\&|A|B|||2021||ORU^R01|MSG0005|P|2.3\n"
                      "OBX|1|NM|1^a^LN||1|\n"
                      "MSH|^~\\&|A|B|||2021||ORU^R01||P|2.3\n"
                      "PID|1||X6\n";
    int rc;
    hg_batch_t *b = s_parse (two, &rc);
    assert_int_equal (rc, 3); /* message 2: PID + OBX 1, 2 */
    assert_string_equal (hg_batch_records (b)[0]->patient_ref, "X2"); /* first CX.1 */
    assert_string_equal (hg_batch_records (b)[0]->demographics->birth_date, "2001");
    assert_int_equal (hg_batch_reject_count (b), 6);
    assert_non_null (hg_test_reject_near (b, "message 1 (MSH-10 'MSG0001') segment PID",
                                          "PID-7 '20231301' is not a valid date: month 13"));
    assert_non_null (hg_test_reject_near (b, "message 2 (MSH-10 'MSG0002') segment OBX[3]",
                                          "OBX-5 'abc' is not a number but OBX-2 is NM"));
    assert_non_null (hg_test_reject_near (b, "message 3 (MSH-10 'MSG0003')",
                                          "message type ADT^A02 is not supported (supported: "
                                          "ADT^A01, ADT^A03, ADT^A04, ADT^A08, ADT^A40, ORM^O01, "
                                          "OML^O21, ORU^R01, RDE^O11, VXU^V04, MDM^T02, "
                                          "MDM^T04, MDM^T06, MDM^T08, MDM^T10)"));
    assert_non_null (hg_test_reject_near (b, "message 4 (MSH-10 'MSG0004') segment PID",
                                          "PID-3 patient identifier list is empty"));
    assert_non_null (
        hg_test_reject_near (b, "message 5 (MSH-10 'MSG0005')", "PID segment is missing"));
    assert_non_null (
        hg_test_reject_near (b, "message 6", "MSH-10 message control id is missing"));
    hg_batch_destroy (&b);
}

static void
test_no_msh_and_garbage (void **state)
{
    int rc;
    hg_batch_t *b = s_parse ("PID|1||X\rOBX|1|NM|1||2\r", &rc);
    assert_int_equal (rc, 0);
    assert_int_equal (hg_batch_reject_count (b), 1);
    const hg_reject_t *rj =
        hg_test_reject_near (b, "payload",
                             "no MSH segment: an HL7 v2 message "
                             "must start with MSH (found 'PID|1||X?OBX|1|NM|1||2?')");
    assert_non_null (rj);
    assert_true (rj->excerpt_len > 0);
    hg_batch_destroy (&b);

    /* text before the first MSH is rejected; the message still parses */
    b = s_parse ("hello there\nMSH|^~\\&|A|B|||2021||ADT^A01|M1|P|2.3\nPID|1||X^^^^MR\n", &rc);
    assert_int_equal (rc, 1);
    assert_non_null (hg_test_reject_near (b, "before message 1",
                                          "1 line(s) of text before the "
                                          "first MSH segment"));
    hg_batch_destroy (&b);

    /* binary garbage with NULs */
    static const char bin[] = "\x00\x01MSH\xff\x00|\r\n\x00\xfe\x80MSH";
    b = s_parse_lim (bin, sizeof (bin) - 1, 1 << 20, 0, &rc);
    assert_int_equal (rc, 0);
    assert_true (hg_batch_reject_count (b) >= 1);
    hg_batch_destroy (&b);

    /* a lone MSH, bad delimiters */
    b = s_parse ("MSH", &rc);
    assert_non_null (hg_test_reject_near (b, "message 1", "MSH segment 'MSH' is too short"));
    hg_batch_destroy (&b);
    b = s_parse ("MSH|^^\\&|A\r", &rc);
    assert_non_null (hg_test_reject_near (b, "message 1", "delimiters '|^^\\&' are invalid"));
    hg_batch_destroy (&b);
    b = s_parse ("", &rc);
    assert_int_equal (rc, 0);
    assert_non_null (hg_test_reject_near (b, "payload", "no MSH segment"));
    hg_batch_destroy (&b);
}

static void
test_field_limit (void **state)
{
    size_t big = 2u << 20;
    const char *head = "MSH|^~\\&|A|B|||2021||ORU^R01|BIG1|P|2.5\rPID|1||X^^^^MR\r"
                       "OBX|1|TX|1^a^LN||";
    char *msg = malloc (strlen (head) + big + 8);
    strcpy (msg, head);
    memset (msg + strlen (head), 'x', big);
    strcpy (msg + strlen (head) + big, "|\r");
    int rc;
    hg_batch_t *b = s_parse_lim (msg, strlen (msg), 1u << 20, 0, &rc);
    assert_int_equal (rc, 0);
    assert_int_equal (hg_batch_reject_count (b), 1);
    assert_non_null (
        hg_test_reject_near (b, "message 1 (MSH-10 'BIG1') segment OBX",
                             "OBX-5 is 2097152 bytes, over the limit of 1048576 bytes"));
    hg_batch_destroy (&b);
    /* without a limit it parses */
    b = s_parse_lim (msg, strlen (msg), 0, 0, &rc);
    assert_int_equal (rc, 2);
    assert_int_equal (strlen (hg_batch_records (b)[1]->string_value), big);
    hg_batch_destroy (&b);
    free (msg);
}

static void
test_max_records_and_memory (void **state)
{
    char *msg = s_terminated (s_adt, "\r");
    size_t n = strlen (msg);
    char *three = malloc (3 * n + 1);
    sprintf (three, "%s%s%s", msg, msg, msg);
    int rc;
    hg_batch_t *b = s_parse_lim (three, strlen (three), 0, 6, &rc);
    assert_int_equal (rc, 4); /* message 2 does not fit whole */
    assert_int_equal (hg_batch_record_count (b), 4);
    assert_non_null (
        hg_test_reject_near (b, "message 2",
                             "record limit reached (max_records 6): "
                             "message 2 and the rest of the payload are not parsed"));
    hg_batch_destroy (&b);

    b = hg_batch_new (4096);
    hg_parse_limits_t lim = {0, 0};
    rc = hg_hl7v2_parse (three, strlen (three), &lim, b);
    assert_true (rc < 0);
    assert_int_equal (hg_batch_record_count (b), 0); /* partial message dropped */
    /* the reason text itself needs arena room; record.c falls back to a
     * static text when there is none */
    const hg_reject_t *rj = hg_batch_rejects (b);
    size_t last = hg_batch_reject_count (b) - 1;
    assert_true (strstr (rj[last].reason, "payload exceeds parser memory limit")
                 || strstr (rj[last].reason, "out of parser memory"));
    hg_batch_destroy (&b);
    free (three);
    free (msg);
}

static void
test_many_repetitions (void **state)
{
    /* 200k repetitions in PID-3 and PID-13: linear time, bounded output */
    size_t reps = 200000;
    char *msg = malloc (reps * 4 + 256);
    size_t o = (size_t) sprintf (msg, "MSH|^~\\&|A|B|||2021||ADT^A01|R1|P|2.5\rPID|1||");
    for (size_t i = 0; i < reps; i++) {
        o += (size_t) sprintf (msg + o, "%s1", i ? "~" : "");
    }
    o += (size_t) sprintf (msg + o, "||X\r");
    int rc;
    hg_batch_t *b = s_parse_lim (msg, o, 0, 0, &rc);
    assert_int_equal (rc, 1);
    assert_int_equal (hg_batch_records (b)[0]->n_identifiers, 64);
    hg_batch_destroy (&b);
    free (msg);
}

static void
test_adt_a03_discharge (void **state)
{
    const char *msg =
        "MSH|^~\\&|ADT1|HOSP|||202302031200||ADT^A03^ADT_A03|D-1|P|2.5\r"
        "EVN|A03|202302031200\r"
        "PID|1||M-5^^^HOSP^MR||Kim^Lee||19551111|M\r"
        "PV1|1|E|||||||||||||||||VIS-9|||||||||||||||||||||||||20230201083000|20230203113000\r"
        "DG1|1||J18.9^Pneumonia^I10||20230201\r";
    int rc;
    hg_batch_t *b = s_parse (msg, &rc);
    assert_int_equal (rc, 3);
    assert_int_equal (hg_batch_reject_count (b), 0);
    Hourglass__Record **r = hg_batch_records (b);
    assert_int_equal (r[1]->kind, HOURGLASS__RECORD_KIND__KIND_ENCOUNTER);
    assert_string_equal (r[1]->codes[0]->code, "EMER");
    assert_string_equal (r[1]->effective, "2023-02-01T08:30:00");
    assert_string_equal (r[1]->effective_end, "2023-02-03T11:30:00"); /* PV1-45 */
    assert_string_equal (r[1]->encounter_ref, "VIS-9");
    assert_string_equal (r[1]->provenance->source_record_id, "D-1/PV1");
    assert_int_equal (r[2]->kind, HOURGLASS__RECORD_KIND__KIND_CONDITION);
    assert_string_equal (r[2]->codes[0]->code, "J18.9");
    hg_batch_destroy (&b);

    /* a bad discharge time rejects the encounter only */
    b = s_parse ("MSH|^~\\&|A|B|||2023||ADT^A03|D-2|P|2.5\r"
                 "PID|1||M-5^^^HOSP^MR\r"
                 "PV1|1|I|||||||||||||||||V|||||||||||||||||||||||||20230201|20231301\r",
                 &rc);
    assert_int_equal (rc, 1);
    assert_non_null (hg_test_reject_near (b, "message 1 (MSH-10 'D-2') segment PV1",
                                          "PV1-45 '20231301' is not a valid date: month 13"));
    hg_batch_destroy (&b);
}

static void
test_adt_a40_merge (void **state)
{
    const char *msg = "MSH|^~\\&|REG|HOSP|||20190423150137||ADT^A40^ADT_A40|MG-1|P|2.5\r"
                      "EVN|A40|20190423150137\r"
                      "PID|1||12345^^^BCBS^MR||Test^Ann||20180205|F\r"
                      "PD1|||Clinic\r"
                      "MRG|OLD-1^^^HOSP^PI~56789^^^BCBS^MR\r"
                      "PV1|1|I|||||||||||||||||V-1\r"
                      "ZMG|local|stuff\r";
    int rc;
    hg_batch_t *b = s_parse (msg, &rc);
    assert_int_equal (hg_batch_reject_count (b), 0);
    assert_int_equal (rc, 1); /* no encounter: a merge carries no clinical fact */
    Hourglass__Record *r = hg_batch_records (b)[0];
    assert_int_equal (r->kind, HOURGLASS__RECORD_KIND__KIND_DEMOGRAPHICS);
    assert_string_equal (r->patient_ref, "12345");
    assert_string_equal (r->demographics->family, "Test");
    assert_string_equal (r->demographics->birth_date, "2018-02-05");
    assert_string_equal (r->provenance->source_record_id, "MG-1/PID");
    assert_int_equal (r->n_identifiers, 2);
    assert_string_equal (r->identifiers[0]->value, "12345");
    assert_string_equal (r->identifiers[0]->type, "MR");
    /* MRG-1: the MR repetition, with its assigning authority */
    assert_string_equal (r->identifiers[1]->value, "56789");
    assert_string_equal (r->identifiers[1]->system, "BCBS");
    assert_string_equal (r->identifiers[1]->type, "MERGED");
    hg_batch_destroy (&b);

    /* two patient groups */
    b = s_parse ("MSH|^~\\&|A|B|||2019||ADT^A40|MG-2|P|2.8\r"
                 "PID|1||A1^^^H^MR\rMRG|B1\r"
                 "PID|2||A2^^^H^MR\rMRG|B2^^^H2&1.2.3&ISO^MR\r",
                 &rc);
    assert_int_equal (hg_batch_reject_count (b), 0);
    assert_int_equal (rc, 2);
    Hourglass__Record **rs = hg_batch_records (b);
    assert_string_equal (rs[0]->patient_ref, "A1");
    assert_string_equal (rs[0]->provenance->source_record_id, "MG-2/PID[1]");
    assert_string_equal (rs[0]->identifiers[1]->value, "B1");
    assert_string_equal (rs[0]->identifiers[1]->system, "");
    assert_string_equal (rs[0]->identifiers[1]->type, "MERGED");
    assert_string_equal (rs[1]->patient_ref, "A2");
    assert_string_equal (rs[1]->provenance->source_record_id, "MG-2/PID[2]");
    assert_string_equal (rs[1]->identifiers[1]->value, "B2");
    assert_string_equal (rs[1]->identifiers[1]->system, "H2");
    hg_batch_destroy (&b);

    /* no MRG: the message is rejected */
    b = s_parse ("MSH|^~\\&|A|B|||2019||ADT^A40|MG-3|P|2.5\rPID|1||A1^^^H^MR\r", &rc);
    assert_int_equal (rc, 0);
    assert_int_equal (hg_batch_reject_count (b), 1);
    assert_non_null (hg_test_reject_near (b, "message 1 (MSH-10 'MG-3') segment PID",
                                          "ADT^A40 without an MRG segment: which patient was "
                                          "merged?"));
    hg_batch_destroy (&b);

    /* the second group has no MRG: nothing of the message is kept */
    b = s_parse ("MSH|^~\\&|A|B|||2019||ADT^A40|MG-4|P|2.5\r"
                 "PID|1||A1\rMRG|B1\rPID|2||A2\r",
                 &rc);
    assert_int_equal (rc, 0);
    assert_int_equal (hg_batch_record_count (b), 0);
    assert_non_null (hg_test_reject_near (b, "message 1 (MSH-10 'MG-4') segment PID[2]",
                                          "ADT^A40 without an MRG segment"));
    hg_batch_destroy (&b);

    /* MRG-1 empty */
    b = s_parse ("MSH|^~\\&|A|B|||2019||ADT^A40|MG-5|P|2.5\rPID|1||A1\rMRG|||B-visit\r", &rc);
    assert_int_equal (rc, 0);
    assert_non_null (hg_test_reject_near (b, "message 1 (MSH-10 'MG-5') segment MRG",
                                          "MRG-1 prior patient identifier list is empty: which "
                                          "patient was merged?"));
    hg_batch_destroy (&b);

    /* the surviving PID is still checked */
    b = s_parse ("MSH|^~\\&|A|B|||2019||ADT^A40|MG-6|P|2.5\rPID|1||A1||||19991399\rMRG|B1\r",
                 &rc);
    assert_int_equal (rc, 0);
    assert_non_null (
        hg_test_reject_near (b, "segment PID", "PID-7 '19991399' is not a valid date"));
    hg_batch_destroy (&b);
}

static void
test_orders (void **state)
{
    const char *msg = "MSH|^~\\&|ORD|HOSP|||20211020112600||ORM^O01^ORM_O01|ORD-1|P|2.3\r"
                      "PID|1||P-1^^^H^MR||Doe^Jo||1990|F\r"
                      "PV1|1|O|||||||||||||||||ENC-7\r"
                      "ORC|NW|1101^PL|1201^FL||SC||||20211020112600\r"
                      "OBR|1|||24725-4^CT Head^LN|||20211020120000\r"
                      "NTE|1||urgent\r"
                      "ORC|NW|1102^PL|||IP||||202110211300\r"
                      "OBR|2|||57698-3^Lipid panel^LN\r"
                      "OBR|3|||^no code\r"
                      "ORC|CA|1104||||||||\r"
                      "OBR|4|||1234-5^X^LN|||20211399\r"
                      "ZDS|1.2.3\r";
    int rc;
    hg_batch_t *b = s_parse (msg, &rc);
    assert_int_equal (rc, 3); /* PID + OBR 1, 2 */
    assert_int_equal (hg_batch_reject_count (b), 2);
    Hourglass__Record **r = hg_batch_records (b);
    assert_int_equal (r[1]->kind, HOURGLASS__RECORD_KIND__KIND_PROCEDURE);
    assert_string_equal (r[1]->patient_ref, "P-1");
    assert_string_equal (r[1]->encounter_ref, "ENC-7");
    assert_string_equal (r[1]->codes[0]->system, HG_SYS_LOINC);
    assert_string_equal (r[1]->codes[0]->code, "24725-4");
    assert_string_equal (r[1]->codes[0]->display, "CT Head");
    assert_string_equal (r[1]->effective, "2021-10-20T12:00:00"); /* OBR-7 */
    assert_string_equal (r[1]->status, "SC");                     /* ORC-5 */
    assert_string_equal (r[1]->provenance->source_record_id, "ORD-1/OBR[1]");
    assert_string_equal (r[2]->codes[0]->code, "57698-3");
    assert_string_equal (r[2]->effective, "2021-10-21T13:00"); /* ORC-9 */
    assert_string_equal (r[2]->status, "IP");
    assert_string_equal (r[2]->provenance->source_record_id, "ORD-1/OBR[2]");
    assert_non_null (hg_test_reject_near (b, "message 1 (MSH-10 'ORD-1') segment OBR[3]",
                                          "OBR-4 universal service identifier is empty; an order "
                                          "needs a code"));
    assert_non_null (hg_test_reject_near (b, "segment OBR[4]",
                                          "OBR-7 '20211399' is not a valid "
                                          "date: month 13 (the order's date)"));
    hg_batch_destroy (&b);

    /* OML^O21, no PV1: no encounter reference */
    b = s_parse ("MSH|^~\\&|LAB|H|||20211020||OML^O21^OML_O21|OML-1|P|2.5.1\r"
                 "PID|1||P-2^^^H^MR\r"
                 "ORC|NW|1|||CM\r"
                 "OBR|1|||2093-3^Cholesterol^LN|||202110\r",
                 &rc);
    assert_int_equal (rc, 2);
    assert_int_equal (hg_batch_reject_count (b), 0);
    r = hg_batch_records (b);
    assert_string_equal (r[1]->encounter_ref, "");
    assert_string_equal (r[1]->effective, "2021-10");
    assert_string_equal (r[1]->status, "CM");
    hg_batch_destroy (&b);
}

/* Every segment of an order ends as a record, a reject or a counted
 * ignore: OBX of an order (ask-at-order-entry answers) are observations,
 * a bad one rejected; NTE the text of the record before it (OBX 3), one
 * after the rejected OBX ignored; SPM, a second PV1 are counted per
 * segment. */
static void
test_order_obx_and_every_segment (void **state)
{
    (void) state;
    const char *msg = "BHS|^~\\&|LAB\r"
                      "MSH|^~\\&|ORD|HOSP|||20211020112600||ORM^O01^ORM_O01|ORD-9|P|2.3\r"
                      "PID|1||P-1^^^H^MR||Doe^Jo||1990|F\r"
                      "PV1|1|O|||||||||||||||||ENC-7\r"
                      "ORC|NW|1101^PL|1201^FL||SC||||20211020112600\r"
                      "OBR|1|||24725-4^CT Head^LN|||20211020120000\r"
                      "OBX|1|NM|8339-4^Birth weight^LN||3250|g\r"
                      "OBX|2|NM|11884-4^Gestational age^LN||thirty|wk\r"
                      "NTE|1||on a rejected result: ignored\r"
                      "OBX|3|CE|8339-5^Feeding^LN||BF^Breast^L\r"
                      "NTE|1||urgent\r"
                      "NTE|2||call back\r"
                      "SPM|1|||BLD\r"
                      "PV1|2|O\r"
                      "BTS|1\r";
    int rc;
    hg_batch_t *b = s_parse (msg, &rc);
    assert_int_equal (rc, 4); /* PID, OBR, OBX 1 and 3 */
    Hourglass__Record **r = hg_batch_records (b);
    assert_int_equal (r[2]->kind, HOURGLASS__RECORD_KIND__KIND_LAB_OBSERVATION);
    assert_string_equal (r[2]->codes[0]->code, "8339-4");
    assert_string_equal (r[2]->effective, "2021-10-20T12:00:00"); /* OBR-7 */
    assert_string_equal (r[2]->provenance->source_record_id, "ORD-9/OBX[1]");
    assert_string_equal (r[3]->provenance->source_record_id, "ORD-9/OBX[3]");
    assert_int_equal (hg_batch_reject_count (b), 1);
    assert_non_null (hg_test_reject_near (b, "segment OBX[2]", "thirty"));
    assert_string_equal (r[3]->text, "urgent\ncall back");
    assert_string_equal (r[2]->text, "");
    assert_int_equal (hg_test_ignored_of (b, "HL7 NTE in ORM^O01"),
                      1); /* after the rejected OBX */
    assert_int_equal (hg_test_ignored_of (b, "HL7 SPM in ORM^O01"), 1);
    assert_int_equal (hg_test_ignored_of (b, "HL7 PV1 in ORM^O01"), 1); /* the second */
    assert_int_equal (hg_test_ignored_of (b, "HL7 batch envelope"), 2);
    assert_int_equal (hg_batch_ignored (b), 5);
    /* 15 segments: 4 records (PID, OBR, two OBX) + 1 reject + 5 ignored
     * + MSH, PV1, ORC and two NTEs held by the records */
    hg_batch_destroy (&b);

    /* OML^O21 too; a rejected message's segments are all in the quarantine */
    b = s_parse ("MSH|^~\\&|LAB|H|||20211020||OML^O21^OML_O21|OML-2|P|2.5.1\r"
                 "PID|1||P-2^^^H^MR\r"
                 "ORC|NW|1|||CM\r"
                 "OBR|1|||2093-3^Cholesterol^LN|||202110\r"
                 "OBX|1|ST|SPEC^Specimen source^L||venous\r"
                 "MSH|^~\\&|LAB|H|||20211020||OML^O21^OML_O21|OML-3|P|2.5.1\r"
                 "NTE|1||no PID\r",
                 &rc);
    assert_int_equal (rc, 3);
    assert_string_equal (hg_batch_records (b)[2]->string_value, "venous");
    assert_int_equal (hg_batch_reject_count (b), 1);
    assert_int_equal (hg_batch_ignored (b), 0);
    hg_batch_destroy (&b);
}

static void
test_rde_pharmacy (void **state)
{
    const char *msg = "MSH|^~\\&|PHARM|H|||20210818112600||RDE^O11^RDE_O11|RX-1|P|2.5\r"
                      "PID|1||P-3^^^H^MR\r"
                      "PV1|1|I|||||||||||||||||ENC-3\r"
                      "ORC|NW|55|||IP||||20191104062726\r"
                      "RXE|^Q8H|197361^Amlodipine 5 MG Oral Tablet^RXNORM|5||mg^milligram^UCUM\r"
                      "ORC|NW|56|||\r"
                      "RXE||0143963401^NICARDIPINE^NDC|2.5||^mg/hr\r"
                      "RXE||^^RXNORM|1\r"
                      "RXE||310965^Ibuprofen^RXNORM|two||mg\r";
    int rc;
    hg_batch_t *b = s_parse (msg, &rc);
    assert_int_equal (rc, 3); /* PID + RXE 1, 2 */
    assert_int_equal (hg_batch_reject_count (b), 2);
    Hourglass__Record **r = hg_batch_records (b);
    assert_int_equal (r[1]->kind, HOURGLASS__RECORD_KIND__KIND_MEDICATION);
    assert_string_equal (r[1]->codes[0]->system, HG_SYS_RXNORM);
    assert_string_equal (r[1]->codes[0]->code, "197361");
    assert_int_equal (r[1]->value_case, HOURGLASS__RECORD__VALUE_QUANTITY);
    assert_true (r[1]->quantity->value == 5.0);
    assert_string_equal (r[1]->quantity->unit, "mg");
    assert_string_equal (r[1]->effective, "2019-11-04T06:27:26"); /* ORC-9 */
    assert_string_equal (r[1]->status, "IP");
    assert_string_equal (r[1]->encounter_ref, "ENC-3");
    assert_string_equal (r[1]->provenance->source_record_id, "RX-1/RXE[1]");
    /* no ORC-9: the message time; units from the CE text */
    assert_string_equal (r[2]->codes[0]->system, "http://hl7.org/fhir/sid/ndc");
    assert_true (r[2]->quantity->value == 2.5);
    assert_string_equal (r[2]->quantity->unit, "mg/hr");
    assert_string_equal (r[2]->effective, "2021-08-18T11:26:00");
    assert_string_equal (r[2]->status, "");
    assert_non_null (hg_test_reject_near (b, "message 1 (MSH-10 'RX-1') segment RXE[3]",
                                          "RXE-2 give code is empty; a medication order needs a "
                                          "code"));
    assert_non_null (
        hg_test_reject_near (b, "segment RXE[4]", "RXE-3 amount 'two' is not a number"));
    hg_batch_destroy (&b);
}

static void
test_vxu_immunization (void **state)
{
    const char *msg =
        "MSH|^~\\&|IZ|H|||20210818||VXU^V04^VXU_V04|IZ-1|P|2.5.1\r"
        "PID|1||P-4^^^H^MR||Roe^Kid||20150101|M\r"
        "ORC|RE|4422\r"
        "RXA|0|1|20210818||08^Hep B, adolescent or pediatric^CVX|0.5|mL^mL^UCUM||00^New "
        "Record^NIP001||||||Z0860BB|20211216|MSD^Merck^MVX|||CP|A\r"
        "RXA|0|1|20141012||88^influenza, unspecified formulation^CVX|999|||01^Historical^NIP001"
        "|||||||||||CP\r"
        "RXA|0|1|20141012||^^CVX|1\r"
        "RXA|0|1|2014||03^MMR^CVX|half|mL\r"
        "RXA|0|1|20141312||03^MMR^CVX\r"
        "RXA|0|1|||90707^MMR^CPT^03^MMR^CVX|||||||||||||||RE\r";
    int rc;
    hg_batch_t *b = s_parse (msg, &rc);
    assert_int_equal (rc, 4); /* PID + RXA 1, 2, 6 */
    assert_int_equal (hg_batch_reject_count (b), 3);
    Hourglass__Record **r = hg_batch_records (b);
    assert_int_equal (r[1]->kind, HOURGLASS__RECORD_KIND__KIND_MEDICATION);
    assert_int_equal (r[1]->n_codes, 1);
    assert_string_equal (r[1]->codes[0]->system, "http://hl7.org/fhir/sid/cvx");
    assert_string_equal (r[1]->codes[0]->code, "08");
    assert_string_equal (r[1]->codes[0]->display, "Hep B, adolescent or pediatric");
    assert_string_equal (r[1]->effective, "2021-08-18");
    assert_true (r[1]->quantity->value == 0.5);
    assert_string_equal (r[1]->quantity->unit, "mL");
    assert_string_equal (r[1]->status, "CP");
    assert_string_equal (r[1]->provenance->source_record_id, "IZ-1/RXA[1]");
    /* 999: amount unknown, no quantity */
    assert_int_equal (r[2]->value_case, HOURGLASS__RECORD__VALUE__NOT_SET);
    assert_string_equal (r[2]->effective, "2014-10-12");
    /* no RXA-3: no effective; the CVX alternate coding is kept too */
    assert_int_equal (r[3]->n_codes, 2);
    assert_string_equal (r[3]->codes[0]->system, "CPT");
    assert_string_equal (r[3]->codes[1]->system, "http://hl7.org/fhir/sid/cvx");
    assert_string_equal (r[3]->codes[1]->code, "03");
    assert_string_equal (r[3]->effective, "");
    assert_string_equal (r[3]->status, "RE");
    assert_string_equal (r[3]->provenance->source_record_id, "IZ-1/RXA[6]");
    assert_non_null (
        hg_test_reject_near (b, "message 1 (MSH-10 'IZ-1') segment RXA[3]",
                             "RXA-5 administered code is empty; an immunization needs "
                             "a vaccine code"));
    assert_non_null (hg_test_reject_near (b, "segment RXA[4]",
                                          "RXA-6 amount 'half' is not a "
                                          "number"));
    assert_non_null (hg_test_reject_near (b, "segment RXA[5]",
                                          "RXA-3 '20141312' is not a valid "
                                          "date: month 13 (the administration date)"));
    hg_batch_destroy (&b);
}

static void
test_oru_structured_numeric (void **state)
{
    const char *msg = "MSH|^~\\&|LAB|H|||20210301||ORU^R01|SN-1|P|2.5\r"
                      "PID|1||P-5\r"
                      "OBX|1|SN|1^a^LN||^100|mg\r"
                      "OBX|2|SN|1^a^LN||>^100|mg\r"
                      "OBX|3|SN|1^a^LN||^10^-^20|mg\r"
                      "OBX|4|SN|1^a^LN||^1^:^128\r"
                      "OBX|5|SN|1^a^LN||<=^0.5\r"
                      "OBX|6|SN|1^a^LN||=^7\r";
    int rc;
    hg_batch_t *b = s_parse (msg, &rc);
    assert_int_equal (rc, 7);
    assert_int_equal (hg_batch_reject_count (b), 0);
    Hourglass__Record **r = hg_batch_records (b);
    assert_int_equal (r[1]->value_case, HOURGLASS__RECORD__VALUE_QUANTITY);
    assert_true (r[1]->quantity->value == 100.0);
    assert_string_equal (r[1]->quantity->comparator, "");
    assert_string_equal (r[1]->quantity->unit, "mg");
    assert_true (r[2]->quantity->value == 100.0);
    assert_string_equal (r[2]->quantity->comparator, ">");
    assert_int_equal (r[3]->value_case, HOURGLASS__RECORD__VALUE_STRING_VALUE);
    assert_string_equal (r[3]->string_value, "10-20"); /* a range stays text */
    assert_string_equal (r[4]->string_value, "1:128"); /* a ratio too */
    assert_string_equal (r[5]->quantity->comparator, "<=");
    assert_true (r[5]->quantity->value == 0.5);
    assert_string_equal (r[6]->quantity->comparator, ""); /* "=" is no comparator */
    assert_true (r[6]->quantity->value == 7.0);
    hg_batch_destroy (&b);
}

/* ------------------------------------------------------------------------
 * Real samples: every file must parse without crashing */

static size_t s_files, s_records, s_rejects;

static void
s_parse_tree (const char *dir)
{
    DIR *d = opendir (dir);
    if (!d) {
        return;
    }
    struct dirent *e;
    while ((e = readdir (d))) {
        if (e->d_name[0] == '.') {
            continue;
        }
        char path[4096];
        snprintf (path, sizeof (path), "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat (path, &st) != 0) {
            continue;
        }
        if (S_ISDIR (st.st_mode)) {
            s_parse_tree (path);
            continue;
        }
        if (strstr (e->d_name, ".md") || strstr (e->d_name, ".json")
            || strstr (e->d_name, "LICENSE") || strstr (e->d_name, "MANIFEST")) {
            continue;
        }
        FILE *f = fopen (path, "rb");
        assert_non_null (f);
        char *buf = malloc ((size_t) st.st_size + 1);
        size_t len = fread (buf, 1, (size_t) st.st_size, f);
        fclose (f);
        hg_batch_t *b = hg_batch_new (64u << 20);
        hg_parse_limits_t lim = {1 << 20, 10000};
        int rc = hg_hl7v2_parse (buf, len, &lim, b);
        assert_true (rc >= 0);
        assert_int_equal ((size_t) rc, hg_batch_record_count (b));
        s_files++;
        s_records += (size_t) rc;
        s_rejects += hg_batch_reject_count (b);
        /* every supported message in the samples parses; print the rest */
        if (strstr (e->d_name, "ADT-A01") || strstr (e->d_name, "ADT-A03")
            || strstr (e->d_name, "ADT-A04") || strstr (e->d_name, "ADT-A08")
            || strstr (e->d_name, "ORM-O01") || strstr (e->d_name, "OML-O21")
            || strstr (e->d_name, "RDE-O11") || strstr (e->d_name, "VXU-V04")) {
            if (hg_batch_reject_count (b)) {
                print_message ("%s: [%s] %s\n", e->d_name, hg_batch_rejects (b)[0].location,
                               hg_batch_rejects (b)[0].reason);
            }
            assert_int_equal (hg_batch_reject_count (b), 0);
            /* ORM-O01-04..06 carry no OBR: demographics only */
            assert_true (rc >= (strstr (e->d_name, "ORM-O01") ? 1 : 2));
        }
        if (strstr (e->d_name, "ADT-A40")) {
            /* merges: demographics only, each with its MERGED prior id */
            assert_int_equal (hg_batch_reject_count (b), 0);
            assert_true (rc >= 1);
            for (int k = 0; k < rc; k++) {
                Hourglass__Record *r = hg_batch_records (b)[k];
                assert_int_equal (r->kind, HOURGLASS__RECORD_KIND__KIND_DEMOGRAPHICS);
                assert_string_equal (r->identifiers[r->n_identifiers - 1]->type, "MERGED");
            }
        }
        hg_batch_destroy (&b);
        free (buf);
    }
    closedir (d);
}

static void
test_shared_samples (void **state)
{
#ifdef HG_SHARED_DATA
    const char *subs[] = {"hl7v2_ms_fhir_converter", "hl7v2_line_endings_lfh",
                          "hl7v2_nhapi_fuzz_badinputs"};
    char dir[2048];
    struct stat st;
    snprintf (dir, sizeof (dir), "%s", HG_SHARED_DATA);
    if (stat (dir, &st) != 0) {
        print_message ("skipping: %s not present\n", dir);
        skip ();
    }
    for (size_t i = 0; i < 3; i++) {
        snprintf (dir, sizeof (dir), "%s/%s", HG_SHARED_DATA, subs[i]);
        s_files = s_records = s_rejects = 0;
        s_parse_tree (dir);
        print_message ("%s: %zu files -> %zu records, %zu rejects\n", subs[i], s_files, s_records,
                       s_rejects);
        assert_true (s_files > 0);
    }
    /* the line-ending variants give the same records */
    const char *pair[] = {"sample_unix.hl7", "sample_win.hl7"};
    int counts[2];
    for (size_t i = 0; i < 2; i++) {
        snprintf (dir, sizeof (dir), "%s/hl7v2_line_endings_lfh/%s", HG_SHARED_DATA, pair[i]);
        FILE *f = fopen (dir, "rb");
        assert_non_null (f);
        char buf[65536];
        size_t len = fread (buf, 1, sizeof (buf), f);
        fclose (f);
        hg_batch_t *b = hg_batch_new (0);
        counts[i] = hg_hl7v2_parse (buf, len, NULL, b);
        if (hg_batch_reject_count (b)) {
            print_message ("%s: [%s] %s\n", pair[i], hg_batch_rejects (b)[0].location,
                           hg_batch_rejects (b)[0].reason);
        }
        hg_batch_destroy (&b);
    }
    assert_true (counts[0] >= 2);
    assert_int_equal (counts[0], counts[1]);
#else
    print_message ("skipping: HG_SHARED_DATA not defined\n");
    skip ();
#endif
}

/* Z-segments are kept raw in every record's provenance of their message. */
static void
test_z_segments_kept (void **state)
{
    (void) state;
    const char *m = "MSH|^~\\&|LAB|GH|HG|HG|20210304101500||ORU^R01|ZMSG1|P|2.5\r"
                    "PID|1||MRN5^^^GH^MR||Doe^Jane||19700101|F\r"
                    "ZPI|1|Favourite nurse: Mary Poppins\r"
                    "OBX|1|NM|2345-7^Glucose^LN||99|mg/dL|||||F|||20210304101500\r"
                    "ZXT|local^stuff\r";
    hg_batch_t *b = hg_batch_new (0);
    assert_int_equal (hg_hl7v2_parse (m, strlen (m), NULL, b), 2);
    Hourglass__Record **r = hg_batch_records (b);
    for (int i = 0; i < 2; i++) {
        assert_int_equal (r[i]->provenance->n_z_segments, 2);
        assert_string_equal (r[i]->provenance->z_segments[0],
                             "ZPI|1|Favourite nurse: Mary Poppins");
        assert_string_equal (r[i]->provenance->z_segments[1], "ZXT|local^stuff");
    }
    hg_batch_destroy (&b);
    /* a message without Z-segments has none */
    const char *plain = "MSH|^~\\&|LAB|GH|HG|HG|20210304101500||ORU^R01|ZMSG2|P|2.5\r"
                        "PID|1||MRN5^^^GH^MR||Doe^Jane||19700101|F\r";
    b = hg_batch_new (0);
    assert_int_equal (hg_hl7v2_parse (plain, strlen (plain), NULL, b), 1);
    assert_int_equal (hg_batch_records (b)[0]->provenance->n_z_segments, 0);
    hg_batch_destroy (&b);
}

/* Times without a zone are in the sender's zone, which MSH-7 states; PID
 * dates are kept as received; an explicit offset is kept; a sender that
 * states no zone leaves its times without one. */
static void
test_sender_zone (void **state)
{
    (void) state;
    const char *msg = "MSH|^~\\&|LIS|LAB|||20230115104500+0130||ORU^R01|Z1|P|2.5.1\r"
                      "PID|1||P-1^^^LAB^MR||Doe^Jane||197002011230|F\r"
                      "OBR|1|||CHEM|||202301151030\r"
                      "OBX|1|NM|2345-7^Glucose^LN||95|mg/dL|||||F|||202301151031\r"
                      "OBX|2|NM|2345-7^Glucose^LN||96|mg/dL|||||F|||202301151032-0500\r"
                      "OBX|3|NM|2345-7^Glucose^LN||97|mg/dL|||||F\r"
                      "OBX|4|NM|2345-7^Glucose^LN||98|mg/dL|||||F|||20230115\r"
                      "MSH|^~\\&|LIS|LAB|||20230115104500||ORU^R01|Z2|P|2.5.1\r"
                      "PID|1||P-1^^^LAB^MR\r"
                      "OBX|1|NM|2345-7^Glucose^LN||95|mg/dL|||||F|||202301151031\r";
    int rc;
    hg_batch_t *b = s_parse (msg, &rc);
    assert_int_equal (hg_batch_reject_count (b), 0);
    assert_int_equal (rc, 7);
    Hourglass__Record **r = hg_batch_records (b);
    assert_string_equal (r[0]->demographics->birth_date, "1970-02-01T12:30");
    assert_string_equal (r[1]->effective, "2023-01-15T10:31+01:30"); /* OBX-14 */
    assert_string_equal (r[2]->effective, "2023-01-15T10:32-05:00"); /* its own */
    assert_string_equal (r[3]->effective, "2023-01-15T10:30+01:30"); /* OBR-7 */
    assert_string_equal (r[4]->effective, "2023-01-15");             /* a date */
    assert_string_equal (r[6]->effective, "2023-01-15T10:31");       /* no zone */
    hg_batch_destroy (&b);
    /* the HL7 names of coding systems, shared with the FHIR parser */
    assert_string_equal (hg_hl7v2_system_uri ("LN"), HG_SYS_LOINC);
    assert_string_equal (hg_hl7v2_system_uri ("I10"), HG_SYS_ICD10CM);
    assert_null (hg_hl7v2_system_uri ("L"));
    assert_null (hg_hl7v2_system_uri (NULL));
}

/* Notes: an NTE is the text of the OBX before it; an MDM^T02 is one note
 * with every OBX-5 line of its document, coded by OBX-3 (else TXA-2),
 * dated TXA-4. */
static void
test_notes (void **state)
{
    (void) state;
    const char *msg =
        "MSH|^~\\&|LIS|HOSP|||20210301080000||ORU^R01|N-1|P|2.5\r"
        "PID|1||P-1^^^H^MR||Doe^Jo||1990|F\r"
        "OBR|1|||24323-8^Panel^LN|||20210301070000\r"
        "NTE|1||before any result\r"
        "OBX|1|NM|2345-7^Glucose^LN||105|mg/dL|||||F\r"
        "NTE|1||Called Mrs Smith at home\r"
        "NTE|2||result read back~twice\r"
        "MSH|^~\\&|EMR|HOSP|||20210302080000||MDM^T02|N-2|P|2.5\r"
        "PID|1||P-1^^^H^MR||Doe^Jo||1990|F\r"
        "PV1|1|I|||||||||||||||||V-9\r"
        "TXA|1|DS|TX|20210302101500||20210302090000\r"
        "OBX|1|TX|18842-5^Discharge summary^LN||Discharge summary||||||F\r"
        "OBX|2|TX|18842-5^Discharge summary^LN||Seen 03/01/2021 by Dr. Oakes.\\.br\\"
        "Home today.||||||F\r"
        "MSH|^~\\&|EMR|HOSP|||20210302080000||MDM^T02|N-3|P|2.5\r"
        "PID|1||P-1^^^H^MR||Doe^Jo||1990|F\r"
        "TXA|1|CN|TX\r"
        "OBX|1|TX|||consult text||||||F\r"
        "MSH|^~\\&|EMR|HOSP|||20210302080000||MDM^T02|N-4|P|2.5\r"
        "PID|1||P-1^^^H^MR||Doe^Jo||1990|F\r"
        "OBX|1|TX|18842-5^DS^LN||no TXA||||||F\r";
    int rc;
    hg_batch_t *b = s_parse (msg, &rc);
    assert_int_equal (rc, 7); /* PID, OBX; PID, note; PID, note; PID (no TXA) */
    Hourglass__Record **r = hg_batch_records (b);
    assert_string_equal (r[1]->text, "Called Mrs Smith at home\nresult read back\ntwice");
    Hourglass__Record *note = r[3];
    assert_int_equal (note->kind, HOURGLASS__RECORD_KIND__KIND_NOTE);
    assert_string_equal (note->patient_ref, "P-1");
    assert_string_equal (note->encounter_ref, "V-9");
    assert_string_equal (note->codes[0]->code, "18842-5");
    assert_string_equal (note->effective, "2021-03-02T10:15:00");
    assert_string_equal (note->text,
                         "Discharge summary\nSeen 03/01/2021 by Dr. Oakes.\nHome today.");
    assert_string_equal (note->provenance->source_record_id, "N-2/TXA");
    /* no OBX-3: TXA-2 codes it (HL7 table 0270); no TXA-4 or -6: MSH-7 */
    assert_string_equal (r[5]->codes[0]->system, "http://terminology.hl7.org/CodeSystem/v2-0270");
    assert_string_equal (r[5]->codes[0]->code, "CN");
    assert_string_equal (r[5]->effective, "2021-03-02T08:00:00");
    assert_string_equal (r[5]->text, "consult text");
    assert_int_equal (hg_batch_reject_count (b), 1);
    assert_non_null (hg_test_reject_near (b, "N-4", "TXA segment is missing"));
    assert_int_equal (hg_test_ignored_of (b, "HL7 NTE in ORU^R01"), 1); /* before any result */
    hg_batch_destroy (&b);
}

HG_TEST_MAIN (cmocka_unit_test (test_notes), cmocka_unit_test (test_z_segments_kept),
              cmocka_unit_test (test_adt_line_endings_and_bom),
              cmocka_unit_test (test_custom_delimiters), cmocka_unit_test (test_oru_values),
              cmocka_unit_test (test_multi_message_locations),
              cmocka_unit_test (test_no_msh_and_garbage), cmocka_unit_test (test_field_limit),
              cmocka_unit_test (test_max_records_and_memory),
              cmocka_unit_test (test_many_repetitions), cmocka_unit_test (test_adt_a03_discharge),
              cmocka_unit_test (test_adt_a40_merge), cmocka_unit_test (test_orders),
              cmocka_unit_test (test_order_obx_and_every_segment),
              cmocka_unit_test (test_rde_pharmacy), cmocka_unit_test (test_vxu_immunization),
              cmocka_unit_test (test_oru_structured_numeric), cmocka_unit_test (test_sender_zone),
              cmocka_unit_test (test_shared_samples))
