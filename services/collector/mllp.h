/*
 * mllp.h -- HL7 v2 Minimal Lower Layer Protocol framing and HL7 ACKs (pure).
 *
 * A frame is 0x0B <message> 0x1C 0x0D. The collector answers every message
 * with an ACK: MSA-1 "AA" only once the message is durably journalled (and,
 * when the collector waits for the cleanser's verdict, parsed), "AE"/"AR"
 * with an ERR segment (location, HL7 table 0357 code, reason) otherwise.
 */
#ifndef HG_MLLP_H
#define HG_MLLP_H

#include <stdbool.h>
#include <stddef.h>

#define HG_MLLP_START 0x0B
#define HG_MLLP_END1 0x1C
#define HG_MLLP_END2 0x0D

typedef enum {
    HG_MLLP_NEED_MORE = 0, /* no complete frame yet */
    HG_MLLP_FRAME = 1,     /* *msg / *msg_len hold one message */
} hg_mllp_status_t;

/* Finds the next complete frame in buf[0..len). Bytes before a start byte
 * are skipped (counted in *skipped). *consumed says how many bytes of buf
 * the caller may drop (through the end of the frame, or the skipped junk).
 * When more than max_bytes are buffered without a frame end, *overflow is
 * set: the caller closes the connection with an error. */
hg_mllp_status_t hg_mllp_next (const char *buf, size_t len, size_t max_bytes, const char **msg,
                               size_t *msg_len, size_t *consumed, size_t *skipped,
                               bool *overflow);

/* Extracts MSH-10 (message control id) of an HL7 message into out (cap
 * bytes); false when the message has no MSH segment or no control id, or
 * when the id holds a NUL byte or does not fit in cap. */
bool hg_hl7_control_id (const char *msg, size_t len, char *out, size_t cap);

/* HL7 table 0357 message error condition codes the collector sends. */
#define HG_HL7_ERR_SEGMENT_SEQUENCE 100 /* a required segment is missing or misplaced */
#define HG_HL7_ERR_REQUIRED_FIELD 101   /* a required field is missing or empty */
#define HG_HL7_ERR_DATA_TYPE 102        /* a value does not fit its data type */
#define HG_HL7_ERR_TABLE_VALUE 103      /* a coded value is not in its table */
#define HG_HL7_ERR_VALUE_TOO_LONG 104   /* a value or message over a limit */
#define HG_HL7_ERR_UNSUPPORTED_TYPE 200 /* the message type is not supported */
#define HG_HL7_ERR_INTERNAL 207         /* an error of ours, not of the message */

/* What an ERR segment says: ERR-2 location <segment>^<sequence>^<field>
 * (ERL; parts that are 0/"" are left out), ERR-3 <code>^<name>^HL70357,
 * ERR-4 severity E, ERR-8 text. */
typedef struct {
    char segment[4]; /* "PID"; "" when the error has no segment */
    int sequence;    /* which segment of that name, 1-based; 0: unknown */
    int field;       /* field number; 0: the whole segment */
    int code;        /* HL7 table 0357 */
    const char *text;
} hg_hl7_error_t;

/* The 0357 name of code ("Required field missing"); "Error" if unknown. */
const char *hg_hl7_error_name (int code);

/* Classifies a quarantine reason (and, may be NULL, its location as the
 * cleanser writes it, "... segment OBX[3]") into *out: the field from a
 * leading "SEG-N" of the reason, the segment sequence from "[n]" of the
 * location, the 0357 code from what the reason says (missing or empty
 * field 101, missing segment 100, not a number/date/time 102, not in a
 * table 103, over a limit 104, unsupported type 200, out of memory 207;
 * otherwise 102). out->text = reason. */
void hg_hl7_error_classify (const char *reason, const char *location, hg_hl7_error_t *out);

/* The two acknowledgement modes (HL7 v2 2.9.2): original unless MSH-15 or
 * MSH-16 is valued. In enhanced mode *accept_ack says when MSH-15 asks for
 * the commit accept: "AL" (or empty) always, "NE" never, "ER" only on an
 * error, "SU" only on success. */
typedef enum {
    HG_HL7_ACK_ALWAYS,
    HG_HL7_ACK_NEVER,
    HG_HL7_ACK_ERROR,
    HG_HL7_ACK_SUCCESS
} hg_hl7_ack_when_t;
bool hg_hl7_enhanced_mode (const char *msg, size_t len, hg_hl7_ack_when_t *accept_ack);

/* Writes into out (cap bytes) a framed ACK for msg: MSH with sender and
 * receiver swapped, MSH-9 ACK^<trigger>^ACK, MSH-10 ack_id, the message's
 * version; MSA|<code>|<control id>; for any code but AA and CA an ERR
 * segment from *err (NULL: a 207 without location). code is "AA", "AE",
 * "AR" (original mode) or "CA", "CE", "CR" (enhanced mode's commit ack);
 * now_hl7 is "YYYYMMDDHHMMSS". Returns the length, 0 if cap is short. */
size_t hg_hl7_ack_err (const char *msg, size_t len, const char *code, const hg_hl7_error_t *err,
                       const char *ack_id, const char *now_hl7, char *out, size_t cap);

/* hg_hl7_ack_err with the error classified from text (hg_hl7_error_classify). */
size_t hg_hl7_ack (const char *msg, size_t len, const char *code, const char *text,
                   const char *ack_id, const char *now_hl7, char *out, size_t cap);

#endif
