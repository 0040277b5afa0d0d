/*
 * csv.h -- delimited text (RFC 4180 CSV and its variants) to canonical records.
 *
 * A partner's CSV export has no schema of its own, so every partner gets a
 * small mapping file that says which column holds what. Pure logic: a
 * mapping text and a payload buffer in, records and rejects out.
 *
 * Mapping file format (UTF-8 text, one "key = value" per line; blank lines
 * and lines starting with '#' are ignored; spaces around key and value are
 * trimmed; each key at most once):
 *
 *   kind = lab-observation     required: demographics | condition |
 *                              lab-observation | medication | procedure
 *   delimiter = ;              , (default) | ; | tab (or \t) | "|"
 *   encoding = latin1          utf-8 (default; a leading BOM is skipped) |
 *                              latin1 (ISO-8859-1, converted to UTF-8; a
 *                              UTF-8 BOM overrides it)
 *   date_format = %d.%m.%Y     iso (default: YYYY[-MM[-DD[Thh:mm[:ss]]]][Z])
 *                              | hl7 (YYYYMMDD[hhmm[ss]]) | a pattern of
 *                              %Y %m %d %H %M %S and literal characters,
 *                              e.g. %d.%m.%Y, %m/%d/%Y, %Y%m%d,
 *                              "%Y-%m-%d %H:%M"; the fields used must be a
 *                              prefix of Y m d H M S (precision is kept)
 *   code_system = loinc        system URI of the codes, or one of the
 *                              aliases loinc, snomed, rxnorm, icd10cm,
 *                              icd9cm, cvx (required for clinical kinds
 *                              unless column.code_system is mapped)
 *   unit = mg/dL               unit when no unit column is mapped
 *   decimal = ,                decimal separator of numeric values: . or ,
 *   identifier_system = URI    system of the demographics identifier column
 *
 *   column.<field> = <header name>   the column holding <field>; header
 *                              names match exactly, else ignoring case.
 *     every kind:  patient (required), id (source record id, default
 *                  "row N")
 *     demographics: given (split at spaces), family, birth_date, sex
 *                  (M/F/O/U or male/female/other/unknown, any case),
 *                  address, city, state, postal_code, country, telecom,
 *                  deceased_date, identifier
 *     clinical kinds: code (required), code_system, display, effective,
 *                  effective_end, status, encounter
 *     lab-observation also: value (a number, optionally after < <= > >=,
 *                  becomes a quantity; other text a string value), unit,
 *                  interpretation, reference_range
 *
 * The payload's first row is the header. Rows are numbered as a
 * spreadsheet shows them: the header is row 1, the first data row row 2.
 */
#ifndef HG_CSV_H
#define HG_CSV_H

#include <stddef.h>

#include "batch.h"

typedef struct hg_csv_mapping hg_csv_mapping_t;

/* Parses a mapping file from text[0..len) (need not be NUL-terminated).
 * On success returns 0 and *map owns a new mapping (free it with
 * hg_csv_mapping_destroy). On a bad mapping returns HG_EINVAL, *map stays
 * NULL and err says which line and what is wrong ("line 4: unknown key
 * 'colum.code'", "column.given is not used by kind lab-observation", "kind
 * is missing"); HG_ENOMEM when out of memory. */
int hg_csv_mapping_parse (const char *text, size_t len, hg_csv_mapping_t **map, hg_err_t *err);

/* Frees a mapping; NULL-safe; nulls the caller's pointer. */
void hg_csv_mapping_destroy (hg_csv_mapping_t **self_p);

/* Parses data[0..len) (need not be NUL-terminated; may hold NULs) with the
 * partner's mapping and appends one record of the mapping's kind per data
 * row to out. Every record carries a provenance with source_format "csv"
 * and source_record_id the id column's value, else "row N"; record_id,
 * partner and source_message_id are left empty for the caller. Dates are
 * stored in ISO form at the precision received.
 *
 * A mapped column missing from the header rejects the whole payload with a
 * reason naming the columns. A bad row (wrong field count, empty patient or
 * code, invalid date, bad sex, invalid UTF-8, a value over the limit) is
 * rejected with location "row N" and a reason "row N column X: ..."; the
 * other rows go on. An unterminated quote rejects from its row to the end.
 * Blank lines are skipped.
 *
 * limits may be NULL (no limits). limits->max_field_bytes caps a single
 * field; limits->max_records caps the records produced, the rest of the
 * payload being rejected. All strings live in out's arena.
 *
 * Returns the number of records added (>= 0), HG_EINVAL when map is NULL,
 * or HG_ENOMEM when the batch arena (or malloc) ran out; a reject "payload
 * exceeds parser memory limit" is added then and the row being parsed is
 * dropped. */
int hg_csv_parse (const char *data, size_t len, const hg_csv_mapping_t *map,
                  const hg_parse_limits_t *limits, hg_batch_t *out);

#endif
