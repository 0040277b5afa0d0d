/*
 * test_parsers.c -- the cleanser's parser table (services/cleanser/formats.c):
 * every format of common/format.c has its parser, each payload type reaches
 * its own, CSV finds its partner's mapping, an unknown type is rejected.
 */
#include "unit_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format.h"
#include "formats.h"
#include "parser_test.h"

static const char *s_adt = "MSH|^~\\&|A|B|||2021||ADT^A04|MSG0001|P|2.3\n"
                           "PID|1||X1^^^^MR||Roe^Jane||19700101|F\n";
static const char *s_csv = "P,C,D\np1,44054006,2021-03-04\n";
static const char *s_csv_map =
    "kind = condition\ncolumn.patient = P\ncolumn.code = C\ncode_system = snomed\n"
    "column.effective = D\n";

static int
s_run (Hourglass__PayloadType type, const char *data, const hg_parse_ctx_t *ctx, hg_batch_t *b)
{
    hg_batch_reset (b);
    return hg_parser_run (type, "the-format", data, strlen (data), ctx, b);
}

static void
test_every_format_has_a_parser (void **state)
{
    (void) state;
    assert_true (hg_format_count () >= 5);
    for (size_t i = 0; i < hg_format_count (); i++) {
        const hg_parser_t *p = hg_parser_by_type (hg_format_at (i)->type);
        assert_non_null (p);
        assert_int_equal (p->type, hg_format_at (i)->type);
        assert_non_null (p->parse);
    }
    assert_null (hg_parser_by_type (HOURGLASS__PAYLOAD_TYPE__PAYLOAD_UNKNOWN));
}

static void
test_each_type_its_parser (void **state)
{
    (void) state;
    hg_batch_t *b = hg_batch_new (0);
    hg_parse_ctx_t ctx = {.limits = {0, 0}};
    assert_int_equal (s_run (HOURGLASS__PAYLOAD_TYPE__PAYLOAD_HL7V2, s_adt, &ctx, b), 1);
    assert_int_equal (hg_batch_records (b)[0]->kind, HOURGLASS__RECORD_KIND__KIND_DEMOGRAPHICS);
    /* the same text as FHIR or VCF: that parser's reasons */
    assert_int_equal (s_run (HOURGLASS__PAYLOAD_TYPE__PAYLOAD_FHIR, s_adt, &ctx, b), 0);
    assert_int_equal (hg_batch_reject_count (b), 1);
    assert_int_equal (s_run (HOURGLASS__PAYLOAD_TYPE__PAYLOAD_VCF, s_adt, &ctx, b), 0);
    assert_non_null (hg_test_reject_at (b, "line 1", "#CHROM"));
    /* the context's limits reach the parser */
    ctx.limits.max_records = 1;
    const char *two = "MSH|^~\\&|A|B|||2021||ADT^A04|M1|P|2.3\nPID|1||X1||Roe^Jane\n"
                      "MSH|^~\\&|A|B|||2021||ADT^A04|M2|P|2.3\nPID|1||X2||Roe^Jim\n";
    assert_int_equal (s_run (HOURGLASS__PAYLOAD_TYPE__PAYLOAD_HL7V2, two, &ctx, b), 1);
    assert_non_null (
        hg_test_reject_near (b, "message 2", "record limit reached (max_records 1)"));
    hg_batch_destroy (&b);
}

static void
test_csv_mapping (void **state)
{
    (void) state;
    hg_batch_t *b = hg_batch_new (0);
    char dir[] = "/tmp/test_parsers_XXXXXX";
    assert_non_null (mkdtemp (dir));
    hg_parse_ctx_t ctx = {.partner = "lab-a", .csv_mappings = dir};
    /* no mapping file: the whole payload, and what to do */
    assert_int_equal (s_run (HOURGLASS__PAYLOAD_TYPE__PAYLOAD_CSV, s_csv, &ctx, b), HG_EINVAL);
    assert_non_null (hg_test_reject_at (b, "payload", "no CSV mapping for partner 'lab-a'"));
    /* the partner's file */
    char path[256];
    snprintf (path, sizeof (path), "%s/lab-a.map", dir);
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    fputs ("kind = nonsense\n", f);
    fclose (f);
    assert_int_equal (s_run (HOURGLASS__PAYLOAD_TYPE__PAYLOAD_CSV, s_csv, &ctx, b), HG_EINVAL);
    assert_non_null (hg_test_reject_at (b, "payload", "CSV mapping"));
    f = fopen (path, "w");
    fputs (s_csv_map, f);
    fclose (f);
    assert_int_equal (s_run (HOURGLASS__PAYLOAD_TYPE__PAYLOAD_CSV, s_csv, &ctx, b), 1);
    unlink (path);
    rmdir (dir);
    /* a mapping given in the context: no file read */
    hg_csv_mapping_t *map = NULL;
    assert_int_equal (hg_csv_mapping_parse (s_csv_map, strlen (s_csv_map), &map, NULL), 0);
    ctx.csv_map = map;
    assert_int_equal (s_run (HOURGLASS__PAYLOAD_TYPE__PAYLOAD_CSV, s_csv, &ctx, b), 1);
    hg_csv_mapping_destroy (&map);
    hg_batch_destroy (&b);
}

static void
test_unknown_type (void **state)
{
    (void) state;
    hg_batch_t *b = hg_batch_new (0);
    hg_parse_ctx_t ctx = {.limits = {0, 0}};
    assert_int_equal (s_run (HOURGLASS__PAYLOAD_TYPE__PAYLOAD_UNKNOWN, s_adt, &ctx, b),
                      HG_EINVAL);
    assert_int_equal (hg_batch_record_count (b), 0);
    assert_non_null (hg_test_reject_at (b, "payload",
                                        "format 'the-format' is not supported (supported: "
                                        "fhir, hl7v2, csv, vcf, dicom); push it again with "
                                        "the right --format"));
    assert_int_equal (hg_batch_rejects (b)[0].excerpt_len, strlen (s_adt));
    hg_batch_destroy (&b);
}

HG_TEST_MAIN (cmocka_unit_test (test_every_format_has_a_parser),
              cmocka_unit_test (test_each_type_its_parser), cmocka_unit_test (test_csv_mapping),
              cmocka_unit_test (test_unknown_type))
