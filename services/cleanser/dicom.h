/*
 * dicom.h -- DICOM headers (Part 10 files and the DICOM JSON model) to
 * canonical imaging-study records.
 *
 * Pure logic, header only: pixel data is never copied (the walk stops at
 * (7FE0,0010)). Hostile input is expected: every length is checked against
 * the buffer, sequences are skipped with a nesting limit, and a file that
 * cannot be read safely is rejected with the element and byte offset.
 */
#ifndef HG_DICOM_H
#define HG_DICOM_H

#include <stddef.h>

#include "batch.h"
#include "codesys.h" /* HG_SYS_DICOM_DCM, HG_SYS_DICOM_BODY_PART, HG_SYS_DICOM_UID */

/* Parses data[0..len) and appends KIND_IMAGING_STUDY records to out. The
 * input is detected:
 *   - DICOM Part 10: 128-byte preamble + "DICM", a file meta group whose
 *     (0002,0010) selects explicit VR little endian (also every
 *     encapsulated/compressed pixel syntax), implicit VR little endian or
 *     explicit VR big endian; deflated syntaxes are rejected;
 *   - a bare data set without preamble or meta group (VR and byte order
 *     guessed from the first element);
 *   - the DICOM JSON model (PS3.18 F.2): a JSON object keyed by 8-hex-digit
 *     tags, or an array of such objects (one record each).
 * Each data set gives one record:
 *   patient_ref    PatientID (0010,0020), required
 *   demographics   PatientName (0010,0010) family^given^middle, birth date
 *                  (0010,0030) ISO, sex (0010,0040) M/F/O -> male/female/other
 *   identifiers    AccessionNumber (0008,0050) type "ACSN"; StudyInstanceUID
 *                  (0020,000D) system HG_SYS_DICOM_UID value "urn:oid:<uid>"
 *   codes          Modality (0008,0060) in HG_SYS_DICOM_DCM; BodyPartExamined
 *                  (0018,0015) in HG_SYS_DICOM_BODY_PART when present
 *   effective      StudyDate (0008,0020) + StudyTime (0008,0030), ISO at the
 *                  precision received
 *   text           StudyDescription (0008,1030)
 *   provenance     source_format "dicom", source_record_id the SOP Instance
 *                  UID (0008,0018), else the Study Instance UID, else
 *                  "dataset N"
 * Strings are converted to UTF-8 from the SpecificCharacterSet (0008,0005)
 * ISO_IR 100 (Latin-1) or ISO_IR 192; other bytes that are not UTF-8
 * become '?'. A DICOMDIR (media directory) is counted with hg_batch_ignore.
 *
 * Rejected (location "file" or "dataset N", reason naming the element and
 * byte offset): truncation, a length past the end, an unknown VR, sequences
 * nested deeper than 16, a wanted element over limits->max_field_bytes
 * (unwanted elements of any size are skipped without copying), a missing
 * PatientID, an invalid date or time.
 *
 * limits may be NULL (no limits); limits->max_records caps the records.
 * Returns the number of records added (>= 0), or HG_ENOMEM when the batch
 * arena (or malloc) ran out; a reject "payload exceeds parser memory limit"
 * is added then. */
int hg_dicom_parse (const char *data, size_t len, const hg_parse_limits_t *limits,
                    hg_batch_t *out);

#endif
