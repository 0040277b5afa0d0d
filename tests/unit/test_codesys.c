/*
 * test_codesys.c -- the one code-system table (services/cleanser/codesys.c):
 * every spelling finds the canonical URI, and only the spellings asked for.
 */
#include "unit_test.h"

#include <string.h>

#include "codesys.h"

#define S_ALL (HG_CODESYS_URI | HG_CODESYS_OID | HG_CODESYS_HL7 | HG_CODESYS_ALIAS)

static const char *
s_uri (const char *s, unsigned spellings)
{
    return hg_codesys_uri (s, strlen (s), spellings);
}

static void
test_spellings (void **state)
{
    (void) state;
    /* LOINC in its four spellings */
    assert_string_equal (s_uri (HG_SYS_LOINC, HG_CODESYS_URI), HG_SYS_LOINC);
    assert_string_equal (s_uri ("urn:oid:2.16.840.1.113883.6.1", HG_CODESYS_OID), HG_SYS_LOINC);
    assert_string_equal (s_uri ("LN", HG_CODESYS_HL7), HG_SYS_LOINC);
    assert_string_equal (s_uri ("loinc", HG_CODESYS_ALIAS), HG_SYS_LOINC);
    /* the HL7 names of one system */
    const char *snomed[] = {"SCT", "SNM", "SNOMEDCT", "SNM3"};
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal (s_uri (snomed[i], HG_CODESYS_HL7), HG_SYS_SNOMED);
    }
    assert_string_equal (s_uri ("I10", HG_CODESYS_HL7), HG_SYS_ICD10CM);
    assert_string_equal (s_uri ("I9C", HG_CODESYS_HL7), HG_SYS_ICD9CM);
    assert_string_equal (s_uri ("RXN", HG_CODESYS_HL7), HG_SYS_RXNORM);
    assert_string_equal (s_uri ("NDC", HG_CODESYS_HL7), HG_SYS_NDC);
    assert_string_equal (s_uri ("urn:oid:2.16.840.1.113883.4.6", HG_CODESYS_OID), HG_SYS_NPI);
    assert_string_equal (s_uri ("urn:oid:2.16.840.1.113883.12.292", S_ALL), HG_SYS_CVX);
    /* systems known by URI only */
    assert_string_equal (s_uri (HG_SYS_HGNC, HG_CODESYS_URI), HG_SYS_HGNC);
    assert_string_equal (s_uri ("http://www.ama-assn.org/go/cpt", HG_CODESYS_URI),
                         "http://www.ama-assn.org/go/cpt");
    assert_null (s_uri ("http://example.org/local-codes", S_ALL));
}

static void
test_case_and_slash (void **state)
{
    (void) state;
    /* CSV short names in any case; HL7 names and URIs exactly */
    assert_string_equal (s_uri ("LOINC", HG_CODESYS_ALIAS), HG_SYS_LOINC);
    assert_string_equal (s_uri ("SnoMed", HG_CODESYS_ALIAS), HG_SYS_SNOMED);
    assert_null (s_uri ("ln", HG_CODESYS_HL7));
    assert_null (s_uri ("HTTP://LOINC.ORG", HG_CODESYS_URI));
    /* one trailing '/' on URIs and OIDs, not two, not on names */
    assert_string_equal (s_uri ("http://loinc.org/", HG_CODESYS_URI), HG_SYS_LOINC);
    assert_null (s_uri ("http://loinc.org//", HG_CODESYS_URI));
    assert_string_equal (s_uri ("urn:oid:2.16.840.1.113883.6.96/", HG_CODESYS_OID),
                         HG_SYS_SNOMED);
    assert_null (s_uri ("LN/", HG_CODESYS_HL7));
    /* a prefix or an extension of a spelling is not it */
    assert_null (s_uri ("L", HG_CODESYS_HL7));
    assert_null (s_uri ("LNX", HG_CODESYS_HL7));
    assert_null (s_uri ("urn:oid:2.16.840.1.113883.6", HG_CODESYS_OID));
    assert_null (s_uri ("2.16.840.1.113883.6.1", HG_CODESYS_OID));
    assert_null (s_uri ("urn:oid:", HG_CODESYS_OID));
    /* the length bounds the name: "LN" inside a longer buffer */
    assert_string_equal (hg_codesys_uri ("LNC", 2, HG_CODESYS_HL7), HG_SYS_LOINC);
    assert_null (hg_codesys_uri (NULL, 0, S_ALL));
    assert_null (s_uri ("", S_ALL));
}

static void
test_only_the_spellings_asked (void **state)
{
    (void) state;
    assert_null (s_uri ("LN", HG_CODESYS_URI | HG_CODESYS_OID | HG_CODESYS_ALIAS));
    assert_null (s_uri ("loinc", HG_CODESYS_HL7 | HG_CODESYS_URI));
    assert_null (s_uri (HG_SYS_LOINC, HG_CODESYS_HL7 | HG_CODESYS_ALIAS | HG_CODESYS_OID));
    assert_null (s_uri ("urn:oid:2.16.840.1.113883.6.1", HG_CODESYS_URI));
    assert_null (s_uri ("LN", 0));
}

HG_TEST_MAIN (cmocka_unit_test (test_spellings), cmocka_unit_test (test_case_and_slash),
              cmocka_unit_test (test_only_the_spellings_asked))
