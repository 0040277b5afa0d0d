/*
 * fuzz_config.c -- libFuzzer target for the config file parser
 * (hg_config_parse, what --config FILE applies; see README.md).
 *
 * The input is the file's text. Traps when the result breaks the contract:
 * a return other than 0 or HG_EINVAL (HG_ENOMEM aside), an error without
 * a message, or, after success, a value its option's type rejects (an INT
 * that is not an integer, a BOOL that is not one of the boolean words).
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static const hg_opt_t s_common[] = {
    {"heartbeat_ms", HG_OPT_INT, "1000", "heartbeat interval"},
    {"data_dir", HG_OPT_STRING, "", "state directory"},
    {"sync", HG_OPT_BOOL, "true", "fsync"},
    {NULL, 0, NULL, NULL},
};

static const hg_opt_t s_own[] = {
    {"shard", HG_OPT_INT, "0", "shard"},
    {"upstream", HG_OPT_STRING, "tcp://127.0.0.1:5551", "endpoints"},
    {"verbose", HG_OPT_BOOL, "false", "log more"},
    {NULL, 0, NULL, NULL},
};

static void
s_check_value (const hg_config_t *c, const hg_opt_t *o)
{
    const char *v = hg_config_str (c, o->name);
    if (!v) {
        __builtin_trap ();
    }
    if (o->type == HG_OPT_INT) {
        char *end;
        errno = 0;
        (void) strtoll (v, &end, 10);
        if (errno || end == v || *end) {
            __builtin_trap ();
        }
    }
    else if (o->type == HG_OPT_BOOL) {
        static const char *words[] = {"true", "false", "1", "0", "yes", "no", "on", "off"};
        size_t i = 0;
        while (i < sizeof (words) / sizeof (words[0]) && strcmp (v, words[i]) != 0) {
            i++;
        }
        if (i == sizeof (words) / sizeof (words[0])) {
            __builtin_trap ();
        }
        (void) hg_config_bool (c, o->name);
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    hg_config_t *c = hg_config_new ("hourglass-fuzz", s_common, s_own);
    if (!c) {
        return 0;
    }
    hg_err_t err = {0};
    int rc = hg_config_parse (c, (const char *) data, size, "fuzz.conf", &err);
    if (rc != 0 && rc != HG_EINVAL && rc != HG_ENOMEM) {
        __builtin_trap ();
    }
    if (rc != 0 && (err.code != rc || !err.msg[0] || !memchr (err.msg, '\0', sizeof (err.msg)))) {
        __builtin_trap ();
    }
    /* values applied before a bad line stay: every one must still be valid */
    const hg_opt_t *tables[] = {s_common, s_own};
    for (int t = 0; t < 2; t++) {
        for (const hg_opt_t *o = tables[t]; o->name; o++) {
            s_check_value (c, o);
        }
    }
    hg_config_destroy (&c);
    return 0;
}
