/*
 * codesys.h -- the one table of code systems and their spellings.
 *
 * Partners name a code system in several ways: the FHIR URI
 * ("http://loinc.org"), an HL7 OID ("urn:oid:2.16.840.1.113883.6.1"), an
 * HL7 v2 coding system name ("LN", table 0396) or a CSV mapping's short
 * name ("loinc"). Every parser and the normalisation look the system up
 * here; records carry the canonical URI. Adding a system or a spelling is
 * one row in codesys.c. Pure data: no I/O.
 */
#ifndef HG_CODESYS_H
#define HG_CODESYS_H

#include <stddef.h>

#include "record.h"

/* Systems besides the well-known ones of record.h. */
#define HG_SYS_NPI "http://hl7.org/fhir/sid/us-npi"
#define HG_SYS_NDC "http://hl7.org/fhir/sid/ndc"
#define HG_SYS_SSN "http://hl7.org/fhir/sid/us-ssn"
#define HG_SYS_ACTCODE "http://terminology.hl7.org/CodeSystem/v3-ActCode"
/* Variant coding system of "CHROM-POS-REF-ALT" codes. */
#define HG_SYS_VARIANT "https://hourglass.local/variant"
/* dbSNP rs identifiers. */
#define HG_SYS_DBSNP "http://www.ncbi.nlm.nih.gov/projects/SNP"
/* HGNC gene symbols. */
#define HG_SYS_HGNC "http://www.genenames.org"
/* Ensembl gene ids (ENSG...), as VEP's Gene and SnpEff's Gene_ID give them */
#define HG_SYS_ENSEMBL "http://www.ensembl.org"
/* Modality codes (DICOM CID 29). */
#define HG_SYS_DICOM_DCM "http://dicom.nema.org/resources/ontology/DCM"
/* Body part examined (DICOM CID 4031 / Annex L). */
#define HG_SYS_DICOM_BODY_PART \
    "http://dicom.nema.org/medical/dicom/current/output/chtml/part16/chapter_L.html"
/* Identifier system of Study Instance UIDs (value "urn:oid:<uid>"). */
#define HG_SYS_DICOM_UID "urn:dicom:uid"

/* The spellings a lookup accepts (or them together). */
typedef enum {
    HG_CODESYS_URI = 1 << 0,   /* the URI, exact case, one trailing '/' tolerated */
    HG_CODESYS_OID = 1 << 1,   /* "urn:oid:<HL7 OID>", one trailing '/' tolerated */
    HG_CODESYS_HL7 = 1 << 2,   /* an HL7 v2 name, exact case ("LN", "I10") */
    HG_CODESYS_ALIAS = 1 << 3, /* a CSV mapping's short name, any case ("loinc") */
} hg_codesys_spelling_t;

/* The canonical URI of the known code system that s[0..len) names in one
 * of the spellings given (a static string); NULL when it names none. A
 * system listed only by URI is still known: the normalisation flags codes
 * of unknown systems. */
const char *hg_codesys_uri (const char *s, size_t len, unsigned spellings);

#endif
