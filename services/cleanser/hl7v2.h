/*
 * hl7v2.h -- HL7 v2 (ER7, pipe-delimited) messages to canonical records.
 *
 * Pure logic with its own tokenizer: delimiters come from MSH-1/MSH-2 of
 * each message; CR, LF and CRLF segment terminators, a UTF-8 BOM and blank
 * lines are accepted; escape sequences are decoded in extracted values.
 */
#ifndef HG_HL7V2_H
#define HG_HL7V2_H

#include <stddef.h>

#include "record.h"

/* Parses one or more messages in data[0..len) (need not be NUL-terminated)
 * and appends canonical records to out. Supported: ADT^A01/A04/A08 (PID ->
 * demographics, PV1 -> encounter, each DG1 -> condition) and ORU^R01 (PID ->
 * demographics, each OBX -> lab observation). Other message types, a
 * missing PID or MSH-10, an empty PID-3 or an invalid PID date reject the
 * whole message; a bad OBX, DG1 or PV1 rejects only that record. Z- and
 * unknown segments are ignored. Records carry a provenance with
 * source_format "hl7v2" and source_record_id "<MSH-10>/<SEG>[n]".
 *
 * limits may be NULL (no limits). A field longer than
 * limits->max_field_bytes rejects its message; limits->max_records caps the
 * records produced, the rest of the payload being rejected. All strings
 * live in out's arena.
 *
 * Returns the number of records added (>= 0), or HG_ENOMEM when the batch
 * arena (or malloc) ran out; a reject "payload exceeds parser memory limit"
 * is added then and records of the message being parsed are dropped. */
int hg_hl7v2_parse (const char *data, size_t len, const hg_parse_limits_t *limits,
                    hg_batch_t *out);

#endif
