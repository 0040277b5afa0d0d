/*
 * scrub.c -- `hourglass scrub`: the de-identifier's free-text scrubber
 * (services/deid/scrub.h) over NDJSON notes, no cluster needed. Reads
 * {"id": ..., "text": ...} lines and writes one line per input line, in
 * order: the scrubbed text and, with --json, the spans in Unicode code
 * points of the input text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <sodium.h>

#include "cli.h"
#include "keyfile.h"
#include "opts.h"
#include "scrub.h"
#include "scrub_lexicon.h"

/* Code points in p[0..n): bytes that do not continue a UTF-8 sequence. */
static size_t
s_codepoints (const char *p, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++) {
        c += ((unsigned char) p[i] & 0xC0) != 0x80;
    }
    return c;
}

static void
s_error_line (bool json, size_t lineno, const char *msg)
{
    if (json) {
        json_object *o = json_object_new_object ();
        json_object_object_add (o, "line", json_object_new_int64 ((int64_t) lineno));
        json_object_object_add (o, "error", json_object_new_string (msg));
        puts (json_object_to_json_string_ext (o, JSON_C_TO_STRING_PLAIN));
        json_object_put (o);
    }
    else {
        printf ("line %zu: %s\n", lineno, msg);
    }
    fprintf (stderr, "hourglass scrub: line %zu: %s\n", lineno, msg);
}

/* Scrubs one parsed note into out; returns false (error line written) when
 * the line is not a note. */
static bool
s_note (hg_scrub_t *sc, json_object *in, const hg_scrub_replace_t *rep, bool json, size_t lineno,
        char **buf, size_t *cap)
{
    json_object *id = NULL, *text = NULL;
    if (!json_object_is_type (in, json_type_object)
        || !json_object_object_get_ex (in, "text", &text)
        || !json_object_is_type (text, json_type_string)) {
        s_error_line (json, lineno, "not a note: want an object with a string \"text\"");
        return false;
    }
    json_object_object_get_ex (in, "id", &id);
    json_object *patient = NULL;
    hg_scrub_replace_t note_rep = *rep;
    if (json_object_object_get_ex (in, "patient", &patient)
        && json_object_is_type (patient, json_type_string)) {
        note_rep.patient = json_object_get_string (patient); /* surrogates per patient */
    }
    rep = &note_rep;
    const char *t = json_object_get_string (text);
    size_t len = (size_t) json_object_get_string_len (text);
    const hg_scrub_span_t *spans;
    size_t n;
    if (hg_scrub_find (sc, t, len, &spans, &n) != 0) {
        s_error_line (json, lineno, "out of memory");
        return false;
    }
    size_t need = hg_scrub_replace (t, len, spans, n, rep, *buf, *cap);
    if (need >= *cap) {
        char *b = realloc (*buf, need + 1);
        if (!b) {
            s_error_line (json, lineno, "out of memory");
            return false;
        }
        *buf = b;
        *cap = need + 1;
        hg_scrub_replace (t, len, spans, n, rep, *buf, *cap);
    }
    json_object *out = json_object_new_object ();
    json_object_object_add (out, "id", id ? json_object_get (id) : NULL);
    json_object_object_add (out, "text", json_object_new_string_len (*buf, (int) need));
    if (json) {
        json_object *arr = json_object_new_array ();
        size_t at = 0, cp = 0; /* code points counted once, left to right */
        for (size_t k = 0; k < n; k++) {
            json_object *o = json_object_new_object ();
            cp += s_codepoints (t + at, spans[k].start - at);
            json_object_object_add (o, "start", json_object_new_int64 ((int64_t) cp));
            cp += s_codepoints (t + spans[k].start, spans[k].end - spans[k].start);
            at = spans[k].end;
            json_object_object_add (o, "end", json_object_new_int64 ((int64_t) cp));
            json_object_object_add (o, "type",
                                    json_object_new_string (hg_scrub_type_name (spans[k].type)));
            json_object_array_add (arr, o);
        }
        json_object_object_add (out, "spans", arr);
        puts (json_object_to_json_string_ext (out, JSON_C_TO_STRING_PLAIN
                                                       | JSON_C_TO_STRING_NOSLASHESCAPE));
    }
    else {
        fwrite (*buf, 1, need, stdout);
        putchar ('\n');
    }
    json_object_put (out);
    return true;
}

static int
s_run (FILE *in, hg_scrub_t *sc, const hg_scrub_replace_t *rep, bool json)
{
    char *line = NULL, *buf = NULL;
    size_t lcap = 0, cap = 0, lineno = 0, bad = 0;
    ssize_t len;
    json_tokener *tok = json_tokener_new ();
    while ((len = getline (&line, &lcap, in)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) {
            len--;
        }
        if (len == 0) {
            continue;
        }
        json_tokener_reset (tok);
        json_object *obj = json_tokener_parse_ex (tok, line, (int) len);
        enum json_tokener_error jerr = json_tokener_get_error (tok);
        if (!obj || jerr != json_tokener_success
            || json_tokener_get_parse_end (tok) < (size_t) len) {
            s_error_line (json, lineno, "not JSON");
            json_object_put (obj);
            bad++;
            continue;
        }
        bad += !s_note (sc, obj, rep, json, lineno, &buf, &cap);
        json_object_put (obj);
    }
    json_tokener_free (tok);
    free (line);
    free (buf);
    return bad ? 1 : 0;
}

int
hg_cmd_scrub (int argc, char **argv)
{
    bool json = false, strict = false;
    int shift = 0;
    hg_cli_list_t lexicons = {0};
    const char *key_file = NULL, *patient = NULL;
    const hg_cli_opt_t opts[] = {
        HG_CLI_OPT_JSON (&json),
        HG_CLI_OPT_LIST ("--lexicon", &lexicons, "FILE",
                         "a per-deployment lexicon (TYPE PHRASE lines; default type LOCATION)",
                         64),
        HG_CLI_OPT_FLAG ("--strict", &strict,
                         "as the de-identifier: a capitalised word no list knows is a NAME"),
        HG_CLI_OPT_INT ("--shift-days", &shift, "N", "move dates by N days (default 0)", -3650,
                        3650),
        HG_CLI_OPT_STR ("--surrogate-key", &key_file, "FILE",
                        "names become surrogates keyed by this 32-byte key file (mode 0600)"),
        HG_CLI_OPT_STR ("--patient", &patient, "ID",
                        "the patient the surrogates are for, unless a note has \"patient\""),
        HG_CLI_OPT_END,
    };
    const hg_cli_spec_t spec = {
        .command = "hourglass scrub",
        .args = "[FILE]",
        .min_args = 0,
        .max_args = 1,
        .opts = opts,
        .about =
            "Reads NDJSON notes {\"id\": ..., \"text\": ...} from FILE (standard input when\n"
            "none) and writes one line per note: the text with its PHI replaced (dates\n"
            "shifted, ages over 89 as 90+, the rest as [TYPE]). With --json, the object\n"
            "{\"id\", \"text\", \"spans\": [{\"start\", \"end\", \"type\"}]}, offsets in code\n"
            "points of the input text, end exclusive, type NAME, DATE, AGE, PHONE, ID,\n"
            "LOCATION, CONTACT or OTHER. A bad line gives an error line and the run goes\n"
            "on; the exit status is then 1. Rules: docs/scrubber.md.\n",
    };
    hg_cli_args_t args;
    int status;
    if (hg_cli_parse (&spec, argc, argv, 1, &args, &status) < 0) {
        return status;
    }
    int rc = 1;
    hg_scrub_lexicon_t *lex = hg_scrub_lexicon_new ();
    hg_scrub_t *sc = NULL;
    FILE *in = stdin;
    hg_err_t err = {0};
    for (size_t i = 0; lex && i < lexicons.n; i++) {
        if (hg_scrub_lexicon_load (lex, lexicons.v[i], HG_SCRUB_LOCATION, &err) < 0) {
            fprintf (stderr, "hourglass scrub: %s\n", err.msg);
            goto done;
        }
    }
    if (args.n == 1 && !(in = fopen (args.v[0], "r"))) {
        fprintf (stderr, "hourglass scrub: %s: cannot open\n", args.v[0]);
        in = NULL;
        goto done;
    }
    if (!lex || !(sc = hg_scrub_new (lex))) {
        fprintf (stderr, "hourglass scrub: out of memory\n");
        goto done;
    }
    hg_scrub_set_strict (sc, strict);
    unsigned char key[HG_KEYFILE_BYTES];
    hg_scrub_replace_t rep = {.shift_days = shift, .patient = patient};
    if (key_file) {
        static const hg_keyfile_kind_t kind = {
            .what = "surrogate key",
            .creator = "you (head -c 32 /dev/urandom > FILE; chmod 600 FILE)",
            .on_new = "no surrogate needs to match an earlier run",
        };
        if (hg_keyfile_load (key_file, false, &kind, key, &err) < 0) {
            fprintf (stderr, "hourglass scrub: %s\n", err.msg);
            goto done;
        }
        rep.key = key;
    }
    rc = s_run (in, sc, &rep, json);
    sodium_memzero (key, sizeof (key));
done:
    if (in && in != stdin) {
        fclose (in);
    }
    hg_scrub_free (sc);
    hg_scrub_lexicon_free (lex);
    hg_cli_list_free (&lexicons);
    hg_cli_args_free (&args);
    return rc;
}
