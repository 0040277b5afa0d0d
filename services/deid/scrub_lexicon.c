/*
 * scrub_lexicon.c -- reads per-deployment lexicon files. See scrub_lexicon.h.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "scrub_lexicon.h"

int
hg_scrub_lexicon_load (hg_scrub_lexicon_t *lex, const char *path, hg_scrub_type_t default_type,
                       hg_err_t *err)
{
    FILE *f = fopen (path, "r");
    if (!f) {
        return hg_err_set (err, errno == ENOENT ? HG_ENOTFOUND : HG_EIO, "%s: %s", path,
                           strerror (errno));
    }
    char line[1024];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets (line, sizeof (line), f)) {
        lineno++;
        size_t n = strlen (line);
        if (n == sizeof (line) - 1 && line[n - 1] != '\n') {
            rc = hg_err_set (err, HG_EINVAL, "%s:%d: line longer than %zu bytes", path, lineno,
                             sizeof (line) - 2);
            break;
        }
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) {
            line[--n] = '\0';
        }
        char *p = line + strspn (line, " \t");
        if (*p == '\0' || *p == '#') {
            continue;
        }
        hg_scrub_type_t type = default_type;
        size_t w = strcspn (p, " \t");
        char word[16];
        if (w < sizeof (word)) {
            memcpy (word, p, w);
            word[w] = '\0';
            int t = hg_scrub_type_parse (word);
            if (t >= 0 && p[w] != '\0') {
                type = (hg_scrub_type_t) t;
                p += w + strspn (p + w, " \t");
            }
        }
        hg_err_t e;
        hg_err_clear (&e);
        if (hg_scrub_lexicon_add (lex, type, p, strlen (p), &e) != 0) {
            rc = hg_err_set (err, HG_EINVAL, "%s:%d: %s", path, lineno, e.msg);
        }
    }
    if (rc == 0 && ferror (f)) {
        rc = hg_err_set (err, HG_EIO, "%s: read error", path);
    }
    fclose (f);
    return rc;
}

int
hg_scrub_lexicon_load_list (hg_scrub_lexicon_t *lex, const char *paths,
                            hg_scrub_type_t default_type, hg_err_t *err)
{
    char path[4096];
    for (const char *p = paths; p && *p;) {
        size_t n = strcspn (p, ",");
        if (n >= sizeof (path)) {
            return hg_err_set (err, HG_EINVAL, "lexicon path of %zu bytes is too long", n);
        }
        memcpy (path, p, n);
        path[n] = '\0';
        if (n > 0) {
            int rc = hg_scrub_lexicon_load (lex, path, default_type, err);
            if (rc < 0) {
                return rc;
            }
        }
        p += n + (p[n] == ',');
    }
    return 0;
}
