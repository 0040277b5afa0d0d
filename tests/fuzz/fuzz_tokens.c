/*
 * fuzz_tokens.c -- libFuzzer target for the FHIR-over-HTTP tokens file
 * parser (services/collector/tokens.c; see README.md). Whatever parses, every
 * "<token> <partner>" line of the input must match its own partner, and
 * header values around it must not crash the matcher.
 */
#define _GNU_SOURCE /* strtok_r */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_tokens.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* Each token line of text (a NUL-terminated copy of the input) matches. */
static void
s_check_lines (const hg_http_tokens_t *t, char *text)
{
    static const char *blank = " \t\r\v\f";
    char *line_save = NULL;
    for (char *line = strtok_r (text, "\n", &line_save); line;
         line = strtok_r (NULL, "\n", &line_save)) {
        char *save = NULL;
        char *token = strtok_r (line, blank, &save);
        char *partner = token ? strtok_r (NULL, blank, &save) : NULL;
        if (!token || *token == '#' || !partner) {
            continue;
        }
        char auth[4200], got[HG_FHIR_HTTP_PARTNER_MAX + 1];
        if (strlen (token) >= sizeof (auth) - 16) {
            continue;
        }
        snprintf (auth, sizeof (auth), "Bearer  %s\t", token);
        if (!hg_http_tokens_match (t, auth, got, sizeof (got)) || strcmp (got, partner) != 0) {
            __builtin_trap ();
        }
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    hg_err_t err = {0};
    hg_http_tokens_t *t = hg_http_tokens_parse ((const char *) data, size, "fuzz", &err);
    if (!t) {
        if (err.code >= 0 || !err.msg[0]) {
            __builtin_trap (); /* a refusal always says why */
        }
        return 0;
    }
    if (hg_http_tokens_count (t) == 0) {
        __builtin_trap ();
    }
    char *text = malloc (size + 1);
    if (text) {
        memcpy (text, data, size);
        text[size] = '\0';
        s_check_lines (t, text);
        /* the input itself as a header value */
        char got[HG_FHIR_HTTP_PARTNER_MAX + 1];
        hg_http_tokens_match (t, text, got, sizeof (got));
        free (text);
    }
    hg_http_tokens_destroy (&t);
    return 0;
}
