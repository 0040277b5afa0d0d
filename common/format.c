/*
 * format.c -- the table of partner feed formats (see format.h).
 */
#include "format.h"

#include <stdio.h>
#include <string.h>

static const hg_format_t s_formats[] = {
    {"fhir", HOURGLASS__PAYLOAD_TYPE__PAYLOAD_FHIR,
     "FHIR R4 JSON: a resource, a Bundle, or NDJSON"},
    {"hl7v2", HOURGLASS__PAYLOAD_TYPE__PAYLOAD_HL7V2, "HL7 v2 messages (ER7), one or more"},
    {"csv", HOURGLASS__PAYLOAD_TYPE__PAYLOAD_CSV,
     "CSV extract, mapped by the partner's mapping file"},
    {"vcf", HOURGLASS__PAYLOAD_TYPE__PAYLOAD_VCF, "VCF 4.x variants from a sequencing lab"},
    {"dicom", HOURGLASS__PAYLOAD_TYPE__PAYLOAD_DICOM,
     "DICOM Part 10 file or DICOM JSON (header only)"},
};

#define S_COUNT (sizeof (s_formats) / sizeof (s_formats[0]))

size_t
hg_format_count (void)
{
    return S_COUNT;
}

const hg_format_t *
hg_format_at (size_t i)
{
    return i < S_COUNT ? &s_formats[i] : NULL;
}

const hg_format_t *
hg_format_by_name (const char *name)
{
    for (size_t i = 0; name && i < S_COUNT; i++) {
        if (strcmp (s_formats[i].name, name) == 0) {
            return &s_formats[i];
        }
    }
    return NULL;
}

const hg_format_t *
hg_format_by_type (Hourglass__PayloadType type)
{
    for (size_t i = 0; i < S_COUNT; i++) {
        if (s_formats[i].type == type) {
            return &s_formats[i];
        }
    }
    return NULL;
}

Hourglass__PayloadType
hg_format_type (const char *name)
{
    const hg_format_t *f = hg_format_by_name (name);
    return f ? f->type : HOURGLASS__PAYLOAD_TYPE__PAYLOAD_UNKNOWN;
}

char *
hg_format_names (const char *sep, char *buf, size_t size)
{
    size_t used = 0;
    if (size == 0) {
        return buf;
    }
    buf[0] = '\0';
    for (size_t i = 0; i < S_COUNT && used < size; i++) {
        int n = snprintf (buf + used, size - used, "%s%s", i ? sep : "", s_formats[i].name);
        used += n > 0 ? (size_t) n : 0;
    }
    return buf;
}
