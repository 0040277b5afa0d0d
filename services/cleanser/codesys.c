/*
 * codesys.c -- the table of code systems (see codesys.h).
 */
#include "codesys.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

#define S_HL7_NAMES 4

typedef struct {
    const char *uri;
    const char *oid;              /* without "urn:oid:"; NULL: none */
    const char *alias;            /* CSV mapping name; NULL: none */
    const char *hl7[S_HL7_NAMES]; /* HL7 v2 names; unused ones NULL */
} s_system_t;

static const s_system_t s_systems[] = {
    {HG_SYS_LOINC, "2.16.840.1.113883.6.1", "loinc", {"LN"}},
    {HG_SYS_SNOMED, "2.16.840.1.113883.6.96", "snomed", {"SCT", "SNM", "SNOMEDCT", "SNM3"}},
    {HG_SYS_ICD10CM, "2.16.840.1.113883.6.90", "icd10cm", {"I10", "I10C", "ICD10", "ICD10CM"}},
    {HG_SYS_ICD9CM, "2.16.840.1.113883.6.103", "icd9cm", {"I9", "I9C", "ICD9"}},
    {HG_SYS_RXNORM, "2.16.840.1.113883.6.88", "rxnorm", {"RXNORM", "RXN"}},
    {HG_SYS_CVX, "2.16.840.1.113883.12.292", "cvx", {"CVX"}},
    {HG_SYS_UCUM, "2.16.840.1.113883.6.8", NULL, {NULL}},
    {HG_SYS_NPI, "2.16.840.1.113883.4.6", NULL, {NULL}},
    {HG_SYS_NDC, NULL, NULL, {"NDC"}},
    {HG_SYS_ACTCODE, NULL, NULL, {NULL}},
    {HG_SYS_DICOM_DCM, NULL, NULL, {NULL}},
    {HG_SYS_DICOM_BODY_PART, NULL, NULL, {NULL}},
    {HG_SYS_DICOM_UID, NULL, NULL, {NULL}},
    {HG_SYS_HGNC, NULL, NULL, {NULL}},
    {HG_SYS_ENSEMBL, NULL, NULL, {NULL}},
    {HG_SYS_DBSNP, NULL, NULL, {NULL}},
    {HG_SYS_VARIANT, NULL, NULL, {NULL}},
    {HG_SYS_SSN, NULL, NULL, {NULL}},
    {"http://hl7.org/fhir/sid/icd-10", NULL, NULL, {NULL}},           /* WHO ICD-10 */
    {"http://www.ama-assn.org/go/cpt", NULL, NULL, {NULL}},           /* CPT */
    {"http://www.cms.gov/Medicare/Coding/ICD10", NULL, NULL, {NULL}}, /* ICD-10-PCS */
};

/* The first byte first: most lookups (every HL7 coding) miss most rows. */
static bool
s_is (const char *s, size_t len, const char *name)
{
    return name && len && name[0] == s[0] && strlen (name) == len && memcmp (s, name, len) == 0;
}

static bool
s_spells (const s_system_t *sys, const char *s, size_t len, unsigned spellings)
{
    /* URIs and OIDs: one trailing '/' tolerated */
    size_t ulen = len > 1 && s[len - 1] == '/' ? len - 1 : len;
    if ((spellings & HG_CODESYS_URI) && s_is (s, ulen, sys->uri)) {
        return true;
    }
    if ((spellings & HG_CODESYS_OID) && ulen > 8 && memcmp (s, "urn:oid:", 8) == 0
        && s_is (s + 8, ulen - 8, sys->oid)) {
        return true;
    }
    if ((spellings & HG_CODESYS_ALIAS) && sys->alias && strlen (sys->alias) == len
        && strncasecmp (s, sys->alias, len) == 0) {
        return true;
    }
    for (size_t i = 0; (spellings & HG_CODESYS_HL7) && i < S_HL7_NAMES; i++) {
        if (s_is (s, len, sys->hl7[i])) {
            return true;
        }
    }
    return false;
}

const char *
hg_codesys_uri (const char *s, size_t len, unsigned spellings)
{
    for (size_t i = 0; s && i < sizeof (s_systems) / sizeof (s_systems[0]); i++) {
        if (s_spells (&s_systems[i], s, len, spellings)) {
            return s_systems[i].uri;
        }
    }
    return NULL;
}
