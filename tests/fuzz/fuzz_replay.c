/*
 * fuzz_replay.c -- runs a fuzz target over files when no fuzzing engine is
 * linked: every regular file in the directories (or files) given as
 * arguments is fed once to LLVMFuzzerTestOneInput. Under ctest this keeps
 * the corpus (and every crash once fixed) as a regression test.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static int
s_run_file (const char *path, size_t *count)
{
    FILE *f = fopen (path, "rb");
    if (!f) {
        fprintf (stderr, "fuzz_replay: cannot open %s\n", path);
        return -1;
    }
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc (cap);
    size_t n;
    while (buf && (n = fread (buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            uint8_t *grown = realloc (buf, cap * 2);
            if (!grown) {
                free (buf);
                buf = NULL;
                break;
            }
            buf = grown;
            cap *= 2;
        }
    }
    fclose (f);
    if (!buf) {
        fprintf (stderr, "fuzz_replay: out of memory reading %s\n", path);
        return -1;
    }
    LLVMFuzzerTestOneInput (buf, len);
    free (buf);
    (*count)++;
    return 0;
}

/* Recurses into directories; skips dot files. */
static int
s_run_path (const char *path, size_t *count)
{
    struct stat st;
    if (stat (path, &st) != 0) {
        fprintf (stderr, "fuzz_replay: %s does not exist\n", path);
        return -1;
    }
    if (!S_ISDIR (st.st_mode)) {
        return s_run_file (path, count);
    }
    DIR *d = opendir (path);
    if (!d) {
        return -1;
    }
    int rc = 0;
    struct dirent *e;
    while ((e = readdir (d))) {
        if (e->d_name[0] == '.') {
            continue;
        }
        size_t need = strlen (path) + strlen (e->d_name) + 2;
        char *child = malloc (need);
        if (!child) {
            rc = -1;
            break;
        }
        snprintf (child, need, "%s/%s", path, e->d_name);
        if (s_run_path (child, count) < 0) {
            rc = -1;
        }
        free (child);
    }
    closedir (d);
    return rc;
}

int
main (int argc, char **argv)
{
    size_t count = 0;
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        if (s_run_path (argv[i], &count) < 0) {
            rc = 1;
        }
    }
    printf ("fuzz_replay: %zu inputs replayed without a crash\n", count);
    return rc;
}
