/*
 * test_deid_ids.c -- the ids that stand for upstream messages past the
 * de-identifier (hg_deid_message_id, services/deid/pseudonym.h): keyed
 * pseudonyms, never the partner's id.
 *
 * Known answer computed with Python's hashlib for the key bytes 0..31:
 *   hashlib.blake2b(b"message\0mllp\0mllp/MRN99887766", key=key,
 *                   digest_size=16).hexdigest()
 */
#define _GNU_SOURCE /* memmem */
#include "unit_test.h"

#include <stdio.h>
#include <string.h>

#include "pseudonym.h"

static unsigned char s_key[HG_DEID_KEY_BYTES];

static int
s_setup (void **state)
{
    (void) state;
    for (int i = 0; i < HG_DEID_KEY_BYTES; i++) {
        s_key[i] = (unsigned char) i;
    }
    return 0;
}

static void
test_known_answer_is_the_message_pseudonym (void **state)
{
    (void) state;
    char id[HG_PSEUDONYM_HEX + 1], p[HG_PSEUDONYM_HEX + 1];
    hg_deid_message_id (s_key, "mllp", "mllp/MRN99887766", id);
    assert_string_equal (id, "bb942ca3cf0c170fcef0787c31bc6c9b");
    /* the pseudonym the records of that message carry in provenance */
    hg_pseudonym (s_key, "message", "mllp", "mllp/MRN99887766", p);
    assert_string_equal (id, p);
}

/* The leak shape: partner-chosen ids (Synthea file names, an MRN in
 * MSH-10, a date-time) must not appear in what the deid stores; the twin:
 * de-dup stays exact (the same id, the same pseudonym; another id or
 * another partner, another one). */
static void
test_no_upstream_bytes_exact_dedup (void **state)
{
    (void) state;
    const char *ids[][2] = {
        {"synthea", "synthea/Jane123_Roe456_0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0.json-0011"},
        {"synthea", "synthea/Jane123_Roe456_0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0.json-0012"},
        {"mllp", "mllp/MRN99887766"},
        {"lab", "mllp/MRN99887766"},
        {"mllp", "mllp/20240301123000"},
        {"lab", "lab/"},
    };
    size_t n = sizeof (ids) / sizeof (ids[0]);
    char out[6][HG_PSEUDONYM_HEX + 1];
    for (size_t i = 0; i < n; i++) {
        hg_deid_message_id (s_key, ids[i][0], ids[i][1], out[i]);
        assert_int_equal (strlen (out[i]), HG_PSEUDONYM_HEX);
        assert_int_equal (strspn (out[i], "0123456789abcdef"), HG_PSEUDONYM_HEX);
        const char *id = ids[i][1];
        for (size_t at = 0; at + 4 <= strlen (id); at++) {
            assert_null (memmem (out[i], HG_PSEUDONYM_HEX, id + at, 4));
        }
        char again[HG_PSEUDONYM_HEX + 1];
        hg_deid_message_id (s_key, ids[i][0], ids[i][1], again);
        assert_string_equal (again, out[i]);
        for (size_t j = 0; j < i; j++) {
            assert_string_not_equal (out[i], out[j]);
        }
    }
    /* the envelope id the deid emits for shard 1, as main.c builds it */
    char env_id[HG_PSEUDONYM_HEX + 16];
    snprintf (env_id, sizeof (env_id), "%s#%d", out[2], 1);
    assert_null (strstr (env_id, "MRN"));
    assert_null (strstr (env_id, "99887766"));
}

HG_TEST_MAIN_GROUP (s_setup, NULL, cmocka_unit_test (test_known_answer_is_the_message_pseudonym),
                    cmocka_unit_test (test_no_upstream_bytes_exact_dedup))
