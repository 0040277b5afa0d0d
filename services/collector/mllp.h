/*
 * mllp.h -- HL7 v2 Minimal Lower Layer Protocol framing and HL7 ACKs (pure).
 *
 * A frame is 0x0B <message> 0x1C 0x0D. The collector answers every message
 * with an ACK: MSA-1 "AA" only after the message is durably journalled,
 * "AR" with an ERR segment saying what was wrong otherwise.
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

/* Writes into out (cap bytes) a framed ACK for msg: MSH with sender and
 * receiver swapped, MSH-9 ACK^<trigger>^ACK, MSH-10 ack_id, the message's
 * version; MSA|<code>|<control id>; for AE/AR an ERR segment with error
 * code 207 (application error) and text as ERR-8. code is "AA", "AE" or
 * "AR"; now_hl7 is "YYYYMMDDHHMMSS". Returns the length, 0 if cap is short. */
size_t hg_hl7_ack (const char *msg, size_t len, const char *code, const char *text,
                   const char *ack_id, const char *now_hl7, char *out, size_t cap);

#endif
