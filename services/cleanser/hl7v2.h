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

#include "batch.h"

/* Parses one or more messages in data[0..len) (need not be NUL-terminated)
 * and appends canonical records to out. Every mapped message gives its PID
 * as a demographics record (patient_ref: the PID-3 MR repetition, else the
 * first), then by type (HL7 v2.3 to 2.8):
 *   ADT^A01/A03/A04/A08  PV1 -> encounter (PV1-44 admit = effective, PV1-45
 *                        discharge = effective_end), each DG1 -> condition;
 *   ADT^A40 (merge)      no clinical record: each PID group's demographics
 *                        get an identifier of type "MERGED" holding MRG-1
 *                        (the prior patient id, system its assigning
 *                        authority) so downstream can link the two ids; a
 *                        group without MRG or with an empty MRG-1 rejects
 *                        the message; with several groups the source ids
 *                        are "PID[n]";
 *   ORM^O01, OML^O21     each OBR -> procedure (code OBR-4, effective OBR-7
 *                        else ORC-9 of the preceding ORC, status ORC-5);
 *                        each OBX (ask-at-order-entry answers: birth
 *                        weight, gestational age, specimen details) -> lab
 *                        observation as in ORU^R01 (effective OBX-14, else
 *                        the preceding OBR-7, else MSH-7);
 *   RDE^O11              each RXE -> medication (code RXE-2, quantity RXE-3
 *                        in RXE-5 units, effective ORC-9 else MSH-7, status
 *                        ORC-5);
 *   VXU^V04              each RXA -> medication (code RXA-5, CVX mapped to
 *                        its URI, effective RXA-3, quantity RXA-6 in RXA-7
 *                        units, "999" meaning unknown, status RXA-20);
 *   ORU^R01              each OBX -> lab observation (NM and SN values as
 *                        quantities with comparator; SN ranges and ratios
 *                        such as "^10^-^20" as the text "10-20").
 * encounter_ref is PV1-19 when there is a PV1.
 *
 * The patient id (patient_ref) is the value (CX.1) of the first PID-3
 * repetition whose identifier type (CX.5) is MR, else of the first
 * repetition. The FHIR parser applies the same rule to Patient.identifier
 * (fhir.h), so one patient gets one patient_ref in both formats.
 * Clinical times (OBX-14, OBR-7, ORC-9, PV1-44/45, DG1-5, RXA-3) without a
 * zone offset take MSH-7's offset when MSH-7 has one -- HL7 v2 puts a time
 * without offset in the sender's local zone -- so the cleanser can convert
 * them to UTC like FHIR's; PID dates are kept as received.
 *
 * Other message types, a
 * missing PID or MSH-10, an empty PID-3 or an invalid PID date reject the
 * whole message; a bad OBX, DG1, PV1, OBR, RXE or RXA rejects only that
 * record. Records carry a provenance with source_format "hl7v2" and
 * source_record_id "<MSH-10>/<SEG>[n]".
 *
 * Z-segments (site-defined) are kept raw in provenance.z_segments of every
 * record of their message (at most 64, each within max_field_bytes): their
 * meaning is local to the sender, so nothing is interpreted and nothing is
 * lost; the de-identifier drops them. Every other segment of a mapped
 * message that no record holds (NTE, SPM, a second PV1, ...; batch
 * envelopes FHS/BHS/BTS/FTS) is counted with hg_batch_ignore as "HL7 <SEG>
 * in <type>^<trigger>" ("HL7 batch envelope"): each segment ends as a
 * record (or its context: MSH, PID, PV1, ORC, OBR), a reject or a counted
 * ignore.
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

/* URI of an HL7 v2 coding system name (table 0396: "LN" -> http://loinc.org,
 * "SCT", "I10", "RXN", "CVX", "NDC"...), or NULL when name is not one the
 * parser maps (or NULL): the HL7 spelling of the code-system table
 * (codesys.h). */
const char *hg_hl7v2_system_uri (const char *name);

#endif
