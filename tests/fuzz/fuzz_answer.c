/*
 * fuzz_answer.c -- libFuzzer target for the answer analytics releases
 * (hg_query_answer: services/analytics/merge.c through disclose.c; see
 * README.md). The input picks a query document (byte 0), the role, min_cell
 * and round_to (byte 1), then cells of 3 bytes: a stratum (or bin, period,
 * code), patients, records. Traps when the contract breaks: no answer, an
 * answer that is not JSON, or (role aggregate) a shown count off a multiple
 * of round_to, or without rounding a patient count of 1..min_cell shown.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "query.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static const char *const s_docs[] = {
    "{\"by\": [\"sex\"]}",
    "{\"by\": [\"sex\", \"age_group\"], \"measure\": {\"kind\": \"records\"}}",
    "{\"by\": [\"state\"], \"measure\": {\"kind\": \"prevalence\", \"per\": 1000}}",
    "{\"measure\": {\"kind\": \"distribution\", \"code\": \"s|c\", \"bins\": [0, 1, 2, 3, 4]}}",
    "{\"measure\": {\"kind\": \"series\", \"code\": \"s|c\", \"interval\": \"year\"}}",
    "{\"measure\": {\"kind\": \"top\", \"of\": \"condition\", \"n\": 3}}",
    "{\"by\": [\"sex\", \"age_group\", \"state\"]}",
};
static const char *const s_vals[] = {"female", "male", "other", "unknown"};
static const char *const s_ages[] = {"0-9", "10-19", "90+", "unknown"};

static void
s_random (void *ctx, void *buf, size_t n)
{
    uint64_t *st = ctx;
    unsigned char *p = buf;
    for (size_t i = 0; i < n; i++) {
        *st = *st * 6364136223846793005ULL + 1442695040888963407ULL;
        p[i] = (unsigned char) (*st >> 56);
    }
}

/* The key of cell k (byte sel) for document d. */
static int
s_key (size_t d, uint8_t sel, char *key, size_t cap)
{
    switch (d) {
    case 0:
        return snprintf (key, cap, "C\x1f%s", s_vals[sel & 3]);
    case 1:
        return snprintf (key, cap, "C\x1f%s\x1f%s", s_vals[sel & 3], s_ages[(sel >> 2) & 3]);
    case 2:
        return snprintf (key, cap, "C\x1fS%u", sel & 15);
    case 3:
        return snprintf (key, cap, "B\x1f%03u", sel & 3);
    case 4:
        return snprintf (key, cap, "S\x1f%u", 2000 + (sel & 15));
    case 5:
        return snprintf (key, cap, "K\x1fs|%u", sel & 15);
    default:
        return snprintf (key, cap, "C\x1f%s\x1f%s\x1fS%u", s_vals[sel & 3],
                         s_ages[(sel >> 2) & 3], (sel >> 4) & 3);
    }
}

static void
s_check (json_object *o, uint64_t min_cell, uint64_t round_to)
{
    if (json_object_is_type (o, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length (o); i++) {
            s_check (json_object_array_get_idx (o, i), min_cell, round_to);
        }
        return;
    }
    if (!json_object_is_type (o, json_type_object)) {
        return;
    }
    json_object_object_foreach (o, k, v)
    {
        if (strcmp (k, "disclosure") == 0 || strcmp (k, "epsilon") == 0) {
            continue;
        }
        bool count = strcmp (k, "patients") == 0 || strcmp (k, "denominator") == 0;
        if (v && (count || strcmp (k, "records") == 0)) {
            uint64_t n = (uint64_t) json_object_get_int64 (v);
            /* rounded: 0 or a positive multiple (a shown 10 may stand for 11..14);
             * else a patient count is 0 or above min_cell */
            bool ok = round_to > 1 ? n % round_to == 0 : !count || n == 0 || n > min_cell;
            if (!ok) {
                __builtin_trap ();
            }
        }
        s_check (v, min_cell, round_to);
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 2) {
        return 0;
    }
    size_t d = data[0] % (sizeof (s_docs) / sizeof (s_docs[0]));
    bool dp = data[1] & 1;
    uint64_t min_cell = (data[1] >> 1) & 7, round_to = 1 + ((data[1] >> 4) & 7);
    uint64_t rng = size;
    hg_disclose_policy_t pol = {.min_cell = min_cell,
                                .round_to = round_to,
                                .epsilon = 1.0,
                                .random = s_random,
                                .random_ctx = &rng};
    hg_analyst_t who = {"fuzz", dp ? HG_ANALYST_DP : HG_ANALYST_AGGREGATE};
    hg_arena_t *arena = hg_arena_new (0);
    hg_query_t q;
    hg_err_t err;
    hg_err_clear (&err);
    hg_qpart_t *part = hg_qpart_new ();
    unsigned sens;
    if (!arena || !part
        || hg_query_parse (s_docs[d], strlen (s_docs[d]), 2024, arena, &q, &err) < 0) {
        __builtin_trap ();
    }
    uint64_t total = 0, records = 0;
    for (size_t i = 2; i + 2 < size; i += 3) {
        char key[96];
        int kl = s_key (d, data[i], key, sizeof (key));
        hg_qpart_add (part, key, (size_t) kl, data[i + 1], data[i + 1] + data[i + 2],
                      data[i + 2]);
        total += data[i + 1];
        records += data[i + 1] + data[i + 2];
    }
    hg_qpart_add (part, "T", 1, total, records, total + 7);
    if (!dp || hg_query_dp_sensitivity (&q, &sens, &err) == 0) {
        hg_answer_stats_t stats;
        char *text = hg_query_answer (&q, part, &pol, &who, 2, &stats, arena);
        json_object *ans = text ? json_tokener_parse (text) : NULL;
        if (!ans) {
            __builtin_trap ();
        }
        if (!dp && min_cell > 0) {
            s_check (ans, min_cell, round_to);
        }
        json_object_put (ans);
    }
    hg_qpart_destroy (&part);
    hg_arena_destroy (&arena);
    return 0;
}
