/*
 * fuzz_json_check.c -- differential libFuzzer target for the collector's
 * one-pass JSON check (services/collector/json_check.c; see README.md):
 * whatever body it accepts (a value and whitespace after it), json-c must
 * accept too and end at the same byte, and
 * the top-level "resourceType" and "type" it reports must be json-c's
 * string members of those names. It may refuse what json-c's lenient mode
 * takes (comments, single quotes, NaN); never the other way round.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <json-c/json.h>

#include "json_check.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* Whether our member (has, value) is json-c's member name of obj. */
static int
s_same_member (json_object *obj, const char *name, int has, const char *value, int truncated)
{
    json_object *m;
    int jc_has = json_object_object_get_ex (obj, name, &m)
                 && json_object_is_type (m, json_type_string);
    if (jc_has != has) {
        return 0;
    }
    if (!has || truncated) {
        return 1;
    }
    return strlen (value) == strlen (json_object_get_string (m))
           && strcmp (value, json_object_get_string (m)) == 0;
}

static size_t
s_skip_ws (const uint8_t *data, size_t size, size_t at)
{
    while (at < size
           && (data[at] == ' ' || data[at] == '\t' || data[at] == '\n' || data[at] == '\r')) {
        at++;
    }
    return at;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size > (1u << 20)) {
        return 0;
    }
    hg_json_check_t v;
    if (!hg_json_check ((const char *) data, size, 64, &v)) {
        if (v.why[0] == '\0') {
            __builtin_trap (); /* a refusal always says why */
        }
        return 0;
    }
    if (v.end > size) {
        __builtin_trap ();
    }
    if (s_skip_ws (data, size, v.end) != size) {
        return 0; /* trailing data: the caller refuses the body (and json-c reads on) */
    }
    json_tokener *tok = json_tokener_new_ex (64);
    json_object *jc = json_tokener_parse_ex (tok, (const char *) data, (int) size);
    enum json_tokener_error e = json_tokener_get_error (tok);
    /* json-c reads a top-level number or literal until it sees what ends it,
     * and reads null as no object: only containers and strings end where
     * they close */
    int closed = jc
                 && (json_object_is_type (jc, json_type_object)
                     || json_object_is_type (jc, json_type_array)
                     || json_object_is_type (jc, json_type_string));
    if (e != json_tokener_success) {
        /* json-c stops at a NUL byte; we do not accept one outside a string */
        if (memchr (data, 0, size) == NULL && e != json_tokener_continue) {
            __builtin_trap ();
        }
    }
    else if (closed
             && s_skip_ws (data, size, json_tokener_get_parse_end (tok))
                    != s_skip_ws (data, size, v.end)) {
        __builtin_trap (); /* the same end, give or take the whitespace after it */
    }
    else if (jc && v.object != json_object_is_type (jc, json_type_object)) {
        __builtin_trap ();
    }
    else if (v.object
             && (!s_same_member (jc, "resourceType", v.has_resource_type, v.resource_type,
                                 v.truncated)
                 || !s_same_member (jc, "type", v.has_type, v.type, v.truncated))) {
        __builtin_trap ();
    }
    json_object_put (jc);
    json_tokener_free (tok);
    return 0;
}
