/*
 * mllp.c -- MLLP framing and HL7 ACK construction.
 */
#include "mllp.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
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

const char *
hg_hl7_error_name (int code)
{
    switch (code) {
    case HG_HL7_ERR_SEGMENT_SEQUENCE:
        return "Segment sequence error";
    case HG_HL7_ERR_REQUIRED_FIELD:
        return "Required field missing";
    case HG_HL7_ERR_DATA_TYPE:
        return "Data type error";
    case HG_HL7_ERR_TABLE_VALUE:
        return "Table value not found";
    case HG_HL7_ERR_VALUE_TOO_LONG:
        return "Value too long";
    case HG_HL7_ERR_UNSUPPORTED_TYPE:
        return "Unsupported message type";
    case HG_HL7_ERR_INTERNAL:
        return "Application internal error";
    default:
        return "Error";
    }
}

/* The 0357 code a reason's words give; 0 when they say nothing known. */
static int
s_reason_code (const char *r)
{
    static const struct {
        const char *words;
        int code;
    } table[] = {
        /* most specific first */
        {"out of memory", HG_HL7_ERR_INTERNAL},
        {"not supported", HG_HL7_ERR_UNSUPPORTED_TYPE},
        {"segment is missing", HG_HL7_ERR_SEGMENT_SEQUENCE},
        {"without an", HG_HL7_ERR_SEGMENT_SEQUENCE},
        {"no MSH", HG_HL7_ERR_SEGMENT_SEQUENCE},
        {"exceeds", HG_HL7_ERR_VALUE_TOO_LONG},
        {"max_field_bytes", HG_HL7_ERR_VALUE_TOO_LONG},
        {"max_records", HG_HL7_ERR_VALUE_TOO_LONG},
        {"not in table", HG_HL7_ERR_TABLE_VALUE},
        {"unknown code", HG_HL7_ERR_TABLE_VALUE},
        {"is missing", HG_HL7_ERR_REQUIRED_FIELD},
        {"is empty", HG_HL7_ERR_REQUIRED_FIELD},
        {"not a number", HG_HL7_ERR_DATA_TYPE},
        {"not a valid", HG_HL7_ERR_DATA_TYPE},
        {"impossible", HG_HL7_ERR_DATA_TYPE},
        {"not a date", HG_HL7_ERR_DATA_TYPE},
    };
    for (size_t i = 0; i < sizeof (table) / sizeof (table[0]); i++) {
        if (strstr (r, table[i].words)) {
            return table[i].code;
        }
    }
    return 0;
}

void
hg_hl7_error_classify (const char *reason, const char *location, hg_hl7_error_t *out)
{
    memset (out, 0, sizeof (*out));
    const char *r = reason ? reason : "";
    out->text = r;
    /* "PID-7 ...": segment PID, field 7 */
    if (isupper ((unsigned char) r[0]) && isalnum ((unsigned char) r[1])
        && isalnum ((unsigned char) r[2]) && r[3] == '-' && isdigit ((unsigned char) r[4])) {
        memcpy (out->segment, r, 3);
        out->field = (int) strtol (r + 4, NULL, 10);
    }
    else if (strstr (r, "segment is missing") && isupper ((unsigned char) r[0]) && r[3] == ' ') {
        memcpy (out->segment, r, 3); /* "PID segment is missing" */
    }
    /* the location's last "segment XXX[n]" names the sequence */
    const char *seg = location ? strstr (location, " segment ") : NULL;
    if (seg && out->segment[0] && strncmp (seg + 9, out->segment, 3) == 0 && seg[12] == '[') {
        out->sequence = (int) strtol (seg + 13, NULL, 10);
    }
    if (out->segment[0] && out->sequence == 0) {
        out->sequence = 1;
    }
    out->code = s_reason_code (r);
    if (out->code == HG_HL7_ERR_UNSUPPORTED_TYPE && !out->segment[0]) {
        *out = (hg_hl7_error_t) {.segment = "MSH",
                                 .sequence = 1,
                                 .field = 9,
                                 .code = out->code,
                                 .text = r};
    }
    if (out->code == 0) {
        out->code = HG_HL7_ERR_DATA_TYPE; /* the data is not what it must be */
    }
}

bool
hg_hl7_enhanced_mode (const char *msg, size_t len, hg_hl7_ack_when_t *accept_ack)
{
    size_t l15, l16;
    const char *f15 = s_msh_field (msg, len, 15, &l15);
    s_msh_field (msg, len, 16, &l16);
    *accept_ack = HG_HL7_ACK_ALWAYS;
    if (l15 == 0 && l16 == 0) {
        return false;
    }
    if (l15 == 2 && memcmp (f15, "NE", 2) == 0) {
        *accept_ack = HG_HL7_ACK_NEVER;
    }
    else if (l15 == 2 && memcmp (f15, "ER", 2) == 0) {
        *accept_ack = HG_HL7_ACK_ERROR;
    }
    else if (l15 == 2 && memcmp (f15, "SU", 2) == 0) {
        *accept_ack = HG_HL7_ACK_SUCCESS;
    }
    return true;
}

/* Copies text into clean (cap bytes) with the delimiters that would break
 * a segment (field, component, repetition, escape, segment end) as spaces. */
static void
s_clean_text (const char *text, const char *delims, char *clean, size_t cap)
{
    size_t k = 0;
    for (const char *p = text ? text : ""; *p && k + 1 < cap; p++) {
        bool bad = *p == '\r' || *p == '\n' || strchr (delims, *p) != NULL;
        clean[k++] = bad ? ' ' : *p;
    }
    clean[k] = '\0';
}

/* The ERR segment for err into out (cap bytes); its length, -1 if short. */
static int
s_err_segment (const hg_hl7_error_t *err, char fs, char cs, const char *encoding, char *out,
               size_t cap)
{
    hg_hl7_error_t internal = {.code = HG_HL7_ERR_INTERNAL, .text = ""};
    const hg_hl7_error_t *e = err ? err : &internal;
    char delims[8];
    snprintf (delims, sizeof (delims), "%c%s", fs, encoding);
    char clean[512], loc[64] = "";
    s_clean_text (e->text, delims, clean, sizeof (clean));
    if (e->segment[0]) {
        char seg[4];
        s_clean_text (e->segment, delims, seg, sizeof (seg));
        int n = snprintf (loc, sizeof (loc), "%s", seg);
        if (e->sequence > 0 || e->field > 0) {
            n += snprintf (loc + n, sizeof (loc) - (size_t) n, "%c%d", cs,
                           e->sequence > 0 ? e->sequence : 1);
        }
        if (e->field > 0) {
            snprintf (loc + n, sizeof (loc) - (size_t) n, "%c%d", cs, e->field);
        }
    }
    /* ERR-1 (deprecated) empty, ERR-2 location, ERR-3 code^name^HL70357,
     * ERR-4 severity E, ERR-5..7 empty, ERR-8 user message */
    int m = snprintf (out, cap, "ERR%c%c%s%c%d%c%s%cHL70357%cE%c%c%c%c%s\r", fs, fs, loc, fs,
                      e->code, cs, hg_hl7_error_name (e->code), cs, fs, fs, fs, fs, fs, clean);
    return m < 0 || (size_t) m >= cap ? -1 : m;
}

size_t
hg_hl7_ack (const char *msg, size_t len, const char *code, const char *text, const char *ack_id,
            const char *now_hl7, char *out, size_t cap)
{
    hg_hl7_error_t e;
    hg_hl7_error_classify (text, NULL, &e);
    return hg_hl7_ack_err (msg, len, code, &e, ack_id, now_hl7, out, cap);
}

size_t
hg_hl7_ack_err (const char *msg, size_t len, const char *code, const hg_hl7_error_t *err,
                const char *ack_id, const char *now_hl7, char *out, size_t cap)
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
    if (strcmp (code, "AA") != 0 && strcmp (code, "CA") != 0) {
        int m = s_err_segment (err, fs, cs, encoding, out + n, cap - (size_t) n);
        if (m < 0) {
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
