/*
 * fuzz_mllp.c -- libFuzzer target for the collector's MLLP framing and HL7
 * ACKs (services/collector/mllp.c; see README.md). The first byte picks the
 * frame limit (so overflow is reached); the rest is a connection's bytes,
 * framed as the MLLP server does, each message's control id read and an ACK
 * built for it with a roomy and a tight buffer.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mllp.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* The ACK contract: framed, within cap, or 0. */
static void
s_check_ack (const char *msg, size_t len, const char *code, size_t cap)
{
    char out[4096];
    size_t n = hg_hl7_ack (msg, len, code, "reason | with ^ separators\r", "HG1",
                           "20260101000000", out, cap);
    if (n > cap
        || (n > 0
            && (n < 4 || out[0] != HG_MLLP_START || out[n - 2] != HG_MLLP_END1
                || out[n - 1] != HG_MLLP_END2))) {
        __builtin_trap ();
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    size_t max_bytes = (size_t) data[0] * 16 + 1;
    const char *buf = (const char *) data + 1;
    size_t len = size - 1, off = 0;
    while (off < len) {
        const char *msg = NULL;
        size_t msg_len = 0, consumed = 0, skipped = 0;
        bool overflow = false;
        hg_mllp_status_t st = hg_mllp_next (buf + off, len - off, max_bytes, &msg, &msg_len,
                                            &consumed, &skipped, &overflow);
        if (consumed > len - off || skipped > consumed) {
            __builtin_trap ();
        }
        off += consumed;
        if (overflow) {
            s_check_ack (buf + off, len - off, "AR", 512);
            break;
        }
        if (st != HG_MLLP_FRAME) {
            break;
        }
        /* the message lies inside what was consumed */
        if (msg < buf || msg + msg_len > buf + off) {
            __builtin_trap ();
        }
        char control[200];
        if (hg_hl7_control_id (msg, msg_len, control, sizeof (control))
            && (strlen (control) == 0 || strlen (control) >= sizeof (control))) {
            __builtin_trap ();
        }
        s_check_ack (msg, msg_len, "AA", 2048);
        s_check_ack (msg, msg_len, "AR", 2048);
        s_check_ack (msg, msg_len, "AE", 1 + (size_t) data[0] % 64);
    }
    return 0;
}
