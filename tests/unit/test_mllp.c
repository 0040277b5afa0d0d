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
    assert_non_null (
        strstr (out, "ERR|||207^Application internal error^HL70357|E||||bad   thing here\r"));
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

HG_TEST_MAIN (cmocka_unit_test (test_framing), cmocka_unit_test (test_control_id),
              cmocka_unit_test (test_ack))
