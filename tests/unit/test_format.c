/*
 * test_format.c -- the table of partner formats (common/format.c): names and
 * payload types map both ways, unknown names map to PAYLOAD_UNKNOWN, and the
 * joined name lists that usage texts and error messages print.
 */
#include "unit_test.h"

#include <string.h>

#include "format.h"

static void
test_names_and_types (void **state)
{
    (void) state;
    assert_int_equal (hg_format_count (), 5);
    for (size_t i = 0; i < hg_format_count (); i++) {
        const hg_format_t *f = hg_format_at (i);
        assert_non_null (f);
        assert_ptr_equal (hg_format_by_name (f->name), f);
        assert_ptr_equal (hg_format_by_type (f->type), f);
        assert_int_equal (hg_format_type (f->name), f->type);
        assert_true (strlen (f->summary) > 10);
    }
    assert_null (hg_format_at (hg_format_count ()));
    assert_int_equal (hg_format_type ("hl7v2"), HOURGLASS__PAYLOAD_TYPE__PAYLOAD_HL7V2);
    assert_int_equal (hg_format_type ("dicom"), HOURGLASS__PAYLOAD_TYPE__PAYLOAD_DICOM);
}

/* A name partners get wrong is unknown, never a near match. */
static void
test_unknown (void **state)
{
    (void) state;
    assert_null (hg_format_by_name ("FHIR"));
    assert_null (hg_format_by_name ("hl7"));
    assert_null (hg_format_by_name (""));
    assert_null (hg_format_by_name (NULL));
    assert_null (hg_format_by_type (HOURGLASS__PAYLOAD_TYPE__PAYLOAD_RECORDS));
    assert_int_equal (hg_format_type ("xml"), HOURGLASS__PAYLOAD_TYPE__PAYLOAD_UNKNOWN);
}

static void
test_joined_names (void **state)
{
    (void) state;
    char buf[HG_FORMAT_NAMES_MAX];
    assert_string_equal (hg_format_names ("|", buf, sizeof (buf)), "fhir|hl7v2|csv|vcf|dicom");
    assert_string_equal (hg_format_names (", ", buf, sizeof (buf)),
                         "fhir, hl7v2, csv, vcf, dicom");
    char small[8];
    assert_string_equal (hg_format_names ("|", small, sizeof (small)), "fhir|hl");
}

HG_TEST_MAIN (cmocka_unit_test (test_names_and_types), cmocka_unit_test (test_unknown),
              cmocka_unit_test (test_joined_names))
