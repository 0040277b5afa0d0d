/*
 * fuzz_json.c -- differential libFuzzer target for hg_json_parse (see
 * README.md): whatever our JSON reader accepts, json-c must accept too, end
 * at the same byte, and read as the same value (compared as json-c's plain
 * text of both trees). The reader may decline anything (the FHIR parser then
 * uses json-c); it must never accept something else.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <json-c/json.h>

#include "json.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size > (1u << 20)) {
        return 0;
    }
    hg_arena_t *a = hg_arena_new (0);
    if (!a) {
        return 0;
    }
    hg_json_t *v = NULL;
    size_t end = 0;
    if (hg_json_parse (a, (const char *) data, size, &v, &end) == 1) {
        json_tokener *tok = json_tokener_new_ex (64);
        json_tokener_set_flags (tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS);
        json_object *j = json_tokener_parse_ex (tok, (const char *) data, (int) size);
        if (json_tokener_get_error (tok) != json_tokener_success
            || end != json_tokener_get_parse_end (tok)
            || strcmp (hg_json_to_text (a, v),
                       json_object_to_json_string_ext (j, JSON_C_TO_STRING_PLAIN))
                   != 0) {
            __builtin_trap ();
        }
        json_object_put (j);
        json_tokener_free (tok);
    }
    hg_arena_destroy (&a);
    return 0;
}
