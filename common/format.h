/*
 * format.h -- the one table of partner feed formats.
 *
 * Every place that names a format -- the collector mapping a PushRequest's
 * `format` to the envelope's payload type, the cleanser choosing a parser,
 * the CLI's usage text and warnings, error messages that list what is
 * supported -- reads this table. Adding a format is one row here, one
 * PayloadType in proto/hourglass.proto and one parser row in the
 * cleanser's parser table (services/cleanser/formats.c), which is indexed
 * by the same payload type.
 *
 * Pure data: no I/O.
 */
#ifndef HG_FORMAT_H
#define HG_FORMAT_H

#include <stddef.h>

#include "hourglass.pb-c.h"

typedef struct {
    const char *name;            /* "fhir": what partners pass to --format */
    Hourglass__PayloadType type; /* the envelope's payload_type */
    const char *summary;         /* one line for usage texts and docs */
} hg_format_t;

/* Number of partner formats, and the i-th (0 <= i < hg_format_count ()),
 * in the order usage texts list them. */
size_t hg_format_count (void);
const hg_format_t *hg_format_at (size_t i);

/* The format of a name (exact, case-sensitive) or of a payload type; NULL
 * when unknown. */
const hg_format_t *hg_format_by_name (const char *name);
const hg_format_t *hg_format_by_type (Hourglass__PayloadType type);

/* The payload type of a name, HOURGLASS__PAYLOAD_TYPE__PAYLOAD_UNKNOWN when
 * the name is not a format (the cleanser quarantines such payloads). */
Hourglass__PayloadType hg_format_type (const char *name);

/* Every format's name joined by sep into buf ("fhir|hl7v2|csv|vcf|dicom"
 * with "|", "fhir, hl7v2, csv, vcf, dicom" with ", "), cut to size - 1
 * bytes (HG_FORMAT_NAMES_MAX holds every list); returns buf. */
#define HG_FORMAT_NAMES_MAX 128
char *hg_format_names (const char *sep, char *buf, size_t size);

#endif
