/*
 * mllp.c -- MLLP framing and HL7 ACK construction.
 */
#include "mllp.h"

#include <stdio.h>
#include <string.h>

hg_mllp_status_t
hg_mllp_next (const char *buf, size_t len, size_t max_bytes, const char **msg, size_t *msg_len,
              size_t *consumed, size_t *skipped, bool *overflow)
{
    *consumed = 0;
    *skipped = 0;
    *overflow = false;
    const char *start = memchr (buf, HG_MLLP_START, len);
    if (!start) {
        *consumed = *skipped = len; /* junk between frames */
        return HG_MLLP_NEED_MORE;
    }
    size_t off = (size_t) (start - buf);
    *skipped = off;
    for (size_t i = off + 1; i + 1 < len; i++) {
        if ((unsigned char) buf[i] == HG_MLLP_END1
            && (unsigned char) buf[i + 1] == HG_MLLP_END2) {
            *msg = buf + off + 1;
            *msg_len = i - off - 1;
            *consumed = i + 2;
            return HG_MLLP_FRAME;
        }
    }
    *consumed = off;
    if (len - off > max_bytes) {
        *overflow = true;
    }
    return HG_MLLP_NEED_MORE;
}

/* Field n (1-based as HL7 counts MSH fields: MSH-1 is the separator) of the
 * MSH segment; *flen = 0 when absent. */
static const char *
s_msh_field (const char *msg, size_t len, int n, size_t *flen)
{
    *flen = 0;
    if (len < 8 || memcmp (msg, "MSH", 3) != 0) {
        return NULL;
    }
    char fs = msg[3];
    if (n == 1) {
        *flen = 1;
        return msg + 3;
    }
    /* MSH-2 starts right after the separator */
    size_t pos = 4;
    int field = 2;
    while (pos <= len) {
        size_t end = pos;
        while (end < len && msg[end] != fs && msg[end] != '\r' && msg[end] != '\n') {
            end++;
        }
        if (field == n) {
            *flen = end - pos;
            return msg + pos;
        }
        if (end >= len || msg[end] != fs) {
            return NULL;
        }
        pos = end + 1;
        field++;
    }
    return NULL;
}

/* Copies field n's first component (component separator from MSH-2). */
static void
s_copy_field (const char *msg, size_t len, int n, bool first_component, char *out, size_t cap)
{
    size_t flen;
    const char *f = s_msh_field (msg, len, n, &flen);
    size_t enc_len;
    const char *enc = s_msh_field (msg, len, 2, &enc_len);
    char cs = enc && enc_len > 0 ? enc[0] : '^';
    if (f && first_component) {
        const char *c = memchr (f, cs, flen);
        if (c) {
            flen = (size_t) (c - f);
        }
    }
    if (!f || flen >= cap) {
        flen = f ? cap - 1 : 0;
    }
    if (f) {
        memcpy (out, f, flen);
    }
    out[flen] = '\0';
}

bool
hg_hl7_control_id (const char *msg, size_t len, char *out, size_t cap)
{
    size_t flen;
    const char *f = s_msh_field (msg, len, 10, &flen);
    /* a NUL would cut the id short as a string: "A\0x" and "A\0y" would
     * look like one message, the second ACKed as a duplicate of the first */
    if (!f || flen == 0 || flen >= cap || memchr (f, '\0', flen)) {
        return false;
    }
    memcpy (out, f, flen);
    out[flen] = '\0';
    return true;
}

size_t
hg_hl7_ack (const char *msg, size_t len, const char *code, const char *text, const char *ack_id,
            const char *now_hl7, char *out, size_t cap)
{
    char snd_app[64], snd_fac[64], rcv_app[64], rcv_fac[64], trigger[16], version[16],
        control[128], fs = '|';
    bool has_msh = len >= 8 && memcmp (msg, "MSH", 3) == 0;
    if (has_msh) {
        fs = msg[3];
    }
    s_copy_field (msg, len, 3, false, snd_app, sizeof (snd_app));
    s_copy_field (msg, len, 4, false, snd_fac, sizeof (snd_fac));
    s_copy_field (msg, len, 5, false, rcv_app, sizeof (rcv_app));
    s_copy_field (msg, len, 6, false, rcv_fac, sizeof (rcv_fac));
    s_copy_field (msg, len, 12, false, version, sizeof (version));
    s_copy_field (msg, len, 10, false, control, sizeof (control));
    /* trigger event: MSH-9 component 2 */
    trigger[0] = '\0';
    size_t flen, enc_len;
    const char *f9 = s_msh_field (msg, len, 9, &flen);
    const char *enc = s_msh_field (msg, len, 2, &enc_len);
    char cs = enc && enc_len > 0 ? enc[0] : '^';
    if (f9) {
        const char *c = memchr (f9, cs, flen);
        if (c) {
            size_t tl = flen - (size_t) (c + 1 - f9);
            const char *t = c + 1;
            const char *c2 = memchr (t, cs, tl);
            if (c2) {
                tl = (size_t) (c2 - t);
            }
            snprintf (trigger, sizeof (trigger), "%.*s", (int) tl, t);
        }
    }
    char encoding[8] = "^~\\&";
    if (enc && enc_len > 0 && enc_len < sizeof (encoding)) {
        memcpy (encoding, enc, enc_len);
        encoding[enc_len] = '\0';
    }
    /* MSH|^~\&|<us>|<our facility>|<their app>|<their facility>|<now>||
     * ACK^<trigger>^ACK|<ack id>|P|<version>, then MSA|<code>|<their control id> */
    int n = snprintf (out, cap, "%cMSH%c%s%c%s%c%s%c%s%c%s%c%s%c", HG_MLLP_START, fs, encoding,
                      fs, *rcv_app ? rcv_app : "HOURGLASS", fs, *rcv_fac ? rcv_fac : "HG", fs,
                      snd_app, fs, snd_fac, fs, now_hl7, fs);
    if (n > 0 && (size_t) n < cap) {
        n += snprintf (out + n, cap - (size_t) n, "%cACK%c%s%cACK%c%s%cP%c%s\rMSA%c%s%c%s\r", fs,
                       cs, trigger, cs, fs, ack_id, fs, fs, *version ? version : "2.5", fs, code,
                       fs, control);
    }
    if (n < 0 || (size_t) n >= cap) {
        return 0;
    }
    if (strcmp (code, "AA") != 0) {
        /* ERR-3 error code (HL7 table 0357: 207 application internal error),
         * ERR-4 severity E, ERR-8 user message */
        char clean[256];
        size_t k = 0;
        for (const char *p = text ? text : ""; *p && k + 1 < sizeof (clean); p++) {
            /* keep the reason from breaking the segment */
            clean[k++] = (*p == fs || *p == '\r' || *p == '\n' || *p == cs) ? ' ' : *p;
        }
        clean[k] = '\0';
        int m = snprintf (out + n, cap - (size_t) n,
                          "ERR%c%c%c207%cApplication internal error%cHL70357%cE%c%c%c%c%s\r", fs,
                          fs, fs, cs, cs, fs, fs, fs, fs, fs, clean);
        if (m < 0 || (size_t) (n + m) >= cap) {
            return 0;
        }
        n += m;
    }
    if ((size_t) n + 2 >= cap) {
        return 0;
    }
    out[n++] = HG_MLLP_END1;
    out[n++] = HG_MLLP_END2;
    return (size_t) n;
}
