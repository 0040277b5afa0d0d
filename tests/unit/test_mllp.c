/*
 * test_mllp.c -- MLLP framing (partial frames, junk, overflow) and HL7 ACKs
 * (sender/receiver swapped, trigger, control id, ERR for AR, custom
 * delimiters).
 */
#include "unit_test.h"

#include <string.h>

#include "mllp.h"

static void
test_framing (void **state)
{
    (void) state;
    const char buf[] = "junk\x0bMSH|a\x1c\x0d\x0bMSH|b\x1c";
    size_t len = sizeof (buf) - 1;
    const char *msg;
    size_t msg_len, consumed, skipped;
    bool overflow;
    assert_int_equal (hg_mllp_next (buf, len, 1000, &msg, &msg_len, &consumed, &skipped,
                                    &overflow),
                      HG_MLLP_FRAME);
    assert_int_equal (skipped, 4);
    assert_int_equal (msg_len, 5);
    assert_memory_equal (msg, "MSH|a", 5);
    assert_int_equal (consumed, 4 + 1 + 5 + 2);
    /* the second frame lacks its final 0x0D: need more, keep from its start */
    assert_int_equal (hg_mllp_next (buf + consumed, len - consumed, 1000, &msg, &msg_len,
                                    &consumed, &skipped, &overflow),
                      HG_MLLP_NEED_MORE);
    assert_int_equal (consumed, 0);
    assert_false (overflow);
    /* no start byte at all: everything is junk */
    assert_int_equal (hg_mllp_next ("abc", 3, 1000, &msg, &msg_len, &consumed, &skipped,
                                    &overflow),
                      HG_MLLP_NEED_MORE);
    assert_int_equal (consumed, 3);
    assert_int_equal (skipped, 3);
    /* an unterminated frame past the limit */
    char big[64];
    memset (big, 'x', sizeof (big));
    big[0] = 0x0b;
    assert_int_equal (hg_mllp_next (big, sizeof (big), 10, &msg, &msg_len, &consumed, &skipped,
                                    &overflow),
                      HG_MLLP_NEED_MORE);
    assert_true (overflow);
}

static void
test_control_id (void **state)
{
    (void) state;
    char id[32];
    const char *m = "MSH|^~\\&|A|B|C|D|20210101||ORU^R01|CTL-9|P|2.5\rPID|1\r";
    assert_true (hg_hl7_control_id (m, strlen (m), id, sizeof (id)));
    assert_string_equal (id, "CTL-9");
    const char *custom = "MSH#!*$@#A#B#C#D#20210101##ADT!A01#X1#P#2.3\r";
    assert_true (hg_hl7_control_id (custom, strlen (custom), id, sizeof (id)));
    assert_string_equal (id, "X1");
    const char *no_id = "MSH|^~\\&|A|B|C|D|20210101||ORU^R01||P|2.5\r";
    assert_false (hg_hl7_control_id (no_id, strlen (no_id), id, sizeof (id)));
    assert_false (hg_hl7_control_id ("PID|1", 5, id, sizeof (id)));
    assert_false (hg_hl7_control_id (m, strlen (m), id, 3)); /* does not fit */
    /* a NUL inside the id (found by fuzz_mllp): not an id, or "C\0x" and
     * "C\0y" would be taken for one message */
    const char nul[] = "MSH|^~\\&|A|B|C|D|20210101||ORU^R01|C\0x|P|2.5\r";
    assert_false (hg_hl7_control_id (nul, sizeof (nul) - 1, id, sizeof (id)));
}

static void
test_ack (void **state)
{
    (void) state;
    const char *m = "MSH|^~\\&|LAB|GH|HG|HGF|20210101||ORU^R01^ORU_R01|CTL-9|P|2.5.1\rPID|1\r";
    char out[1024];
    size_t n = hg_hl7_ack (m, strlen (m), "AA", "", "HG7", "20261129120000", out, sizeof (out));
    assert_true (n > 0);
    assert_int_equal (out[0], 0x0b);
    assert_int_equal (out[n - 2], 0x1c);
    assert_int_equal (out[n - 1], 0x0d);
    out[n - 2] = '\0';
    assert_string_equal (out + 1,
                         "MSH|^~\\&|HG|HGF|LAB|GH|20261129120000||ACK^R01^ACK|HG7|P|2.5.1\r"
                         "MSA|AA|CTL-9\r");
    n = hg_hl7_ack (m, strlen (m), "AR", "bad | thing^here", "HG8", "20261129120000", out,
                    sizeof (out));
    out[n - 2] = '\0';
    assert_non_null (strstr (out, "MSA|AR|CTL-9\r"));
    /* the reason cannot break the segment: delimiters become spaces */
    assert_non_null (strstr (out, "ERR|||102^Data type error^HL70357|E||||bad   thing here\r"));
    /* an ERR with a location and a code of its own; CA (enhanced mode) has no ERR */
    hg_hl7_error_t e = {.segment = "OBX", .sequence = 2, .field = 5, .code = 102, .text = "x"};
    n = hg_hl7_ack_err (m, strlen (m), "AE", &e, "HG8", "20261129120000", out, sizeof (out));
    out[n - 2] = '\0';
    assert_non_null (
        strstr (out, "MSA|AE|CTL-9\rERR||OBX^2^5|102^Data type error^HL70357|E||||x\r"));
    n = hg_hl7_ack_err (m, strlen (m), "CA", &e, "HG8", "20261129120000", out, sizeof (out));
    out[n - 2] = '\0';
    assert_null (strstr (out, "ERR"));
    assert_non_null (strstr (out, "MSA|CA|CTL-9\r"));
    /* custom delimiters are kept */
    const char *custom = "MSH#!*$@#A#B#C#D#20210101##ADT!A01#X1#P#2.3\r";
    n = hg_hl7_ack (custom, strlen (custom), "AA", "", "HG9", "20261129120000", out,
                    sizeof (out));
    out[n - 2] = '\0';
    assert_string_equal (out + 1,
                         "MSH#!*$@#C#D#A#B#20261129120000##ACK!A01!ACK#HG9#P#2.3\rMSA#AA#X1\r");
    /* too small a buffer */
    assert_int_equal (hg_hl7_ack (m, strlen (m), "AA", "", "HG", "20261129120000", out, 20), 0);
}

/* The cleanser's reasons, as hl7v2.c writes them, to ERR-2 and ERR-3. */
static void
test_classify (void **state)
{
    (void) state;
    static const struct {
        const char *reason, *location, *segment;
        int sequence, field, code;
    } cases[] = {
        {"MSH-9 message type is missing (supported: ORU^R01)", "message 1 (MSH-10 'X')", "MSH", 1,
         9, 101},
        {"PID segment is missing: a ORU^R01 message must identify the patient",
         "message 1 (MSH-10 'X')", "PID", 1, 0, 100},
        {"PID-7 '19701345' is not a valid date: month 13", "message 1 (MSH-10 'X') segment PID",
         "PID", 1, 7, 102},
        {"OBX-5 'high' is not a number but OBX-2 is NM", "message 1 (MSH-10 'X') segment OBX[3]",
         "OBX", 3, 5, 102},
        {"message type ZZZ^Z01 is not supported (supported: ORU^R01)", NULL, "MSH", 1, 9, 200},
        {"OBX-3 observation identifier is empty; an observation needs a code", NULL, "OBX", 1, 3,
         101},
        {"out of memory", NULL, "", 0, 0, 207},
        {"something else", NULL, "", 0, 0, 102},
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        hg_hl7_error_t e;
        hg_hl7_error_classify (cases[i].reason, cases[i].location, &e);
        assert_string_equal (e.segment, cases[i].segment);
        assert_int_equal (e.sequence, cases[i].sequence);
        assert_int_equal (e.field, cases[i].field);
        assert_int_equal (e.code, cases[i].code);
        assert_ptr_equal (e.text, cases[i].reason);
    }
    assert_string_equal (hg_hl7_error_name (101), "Required field missing");
    assert_string_equal (hg_hl7_error_name (200), "Unsupported message type");
}

/* MSH-15/MSH-16 choose enhanced mode; MSH-15 says when a commit ack is sent. */
static void
test_enhanced (void **state)
{
    (void) state;
    hg_hl7_ack_when_t w;
    const char *orig = "MSH|^~\\&|A|B|C|D|2021||ORU^R01|X|P|2.5\r";
    assert_false (hg_hl7_enhanced_mode (orig, strlen (orig), &w));
    const char *al = "MSH|^~\\&|A|B|C|D|2021||ORU^R01|X|P|2.5|||AL|NE\r";
    assert_true (hg_hl7_enhanced_mode (al, strlen (al), &w));
    assert_int_equal (w, HG_HL7_ACK_ALWAYS);
    const char *er = "MSH|^~\\&|A|B|C|D|2021||ORU^R01|X|P|2.5|||ER\r";
    assert_true (hg_hl7_enhanced_mode (er, strlen (er), &w));
    assert_int_equal (w, HG_HL7_ACK_ERROR);
    const char *only16 = "MSH|^~\\&|A|B|C|D|2021||ORU^R01|X|P|2.5||||AL\r";
    assert_true (hg_hl7_enhanced_mode (only16, strlen (only16), &w));
    assert_int_equal (w, HG_HL7_ACK_ALWAYS);
}

HG_TEST_MAIN (cmocka_unit_test (test_framing), cmocka_unit_test (test_control_id),
              cmocka_unit_test (test_ack), cmocka_unit_test (test_classify),
              cmocka_unit_test (test_enhanced))
