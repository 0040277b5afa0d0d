#define _XOPEN_SOURCE 700 /* nftw */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

uint64_t
hg_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

uint64_t
hg_now_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

uint64_t
hg_wall_us (void)
{
    struct timeval tv;
    gettimeofday (&tv, NULL);
    return (uint64_t) tv.tv_sec * 1000000u + (uint64_t) tv.tv_usec;
}

int
hg_mkdirs (const char *path, unsigned mode, hg_err_t *err)
{
    char buf[PATH_MAX];
    if (snprintf (buf, sizeof (buf), "%s", path) >= (int) sizeof (buf)) {
        return hg_err_set (err, HG_EINVAL, "path too long: %s", path);
    }
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir (buf, mode) < 0 && errno != EEXIST) {
                return hg_err_set (err, HG_EIO, "cannot create directory %s: %s", buf,
                                   strerror (errno));
            }
            *p = c;
            if (c == '\0') {
                break;
            }
        }
    }
    return 0;
}

int
hg_read_file (const char *path, size_t max_bytes, char **data, size_t *len, hg_err_t *err)
{
    FILE *f = fopen (path, "rb");
    if (!f) {
        return hg_err_set (err, errno == ENOENT ? HG_ENOTFOUND : HG_EIO, "cannot open %s: %s",
                           path, strerror (errno));
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc (cap + 1);
    int rc = 0;
    while (buf) {
        if (n == cap) {
            if (cap >= max_bytes) {
                rc = hg_err_set (err, HG_ELIMIT, "%s is larger than the limit of %zu bytes", path,
                                 max_bytes);
                break;
            }
            cap = cap * 2 > max_bytes ? max_bytes : cap * 2;
            char *nb = realloc (buf, cap + 1);
            if (!nb) {
                break;
            }
            buf = nb;
        }
        size_t got = fread (buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror (f)) {
                rc = hg_err_set (err, HG_EIO, "cannot read %s: %s", path, strerror (errno));
            }
            break;
        }
    }
    fclose (f);
    if (!buf) {
        return hg_err_set (err, HG_ENOMEM, "out of memory reading %s", path);
    }
    if (rc < 0) {
        free (buf);
        return rc;
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return 0;
}

int
hg_write_file_atomic (const char *path, const void *data, size_t len, unsigned mode,
                      hg_err_t *err)
{
    char tmp[PATH_MAX];
    snprintf (tmp, sizeof (tmp), "%s.tmp.%d", path, (int) getpid ());
    int fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0) {
        return hg_err_set (err, HG_EIO, "cannot create %s: %s", tmp, strerror (errno));
    }
    const char *p = data;
    size_t left = len;
    while (left) {
        ssize_t w = write (fd, p, left);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            close (fd);
            unlink (tmp);
            return hg_err_set (err, HG_EIO, "cannot write %s: %s", tmp, strerror (errno));
        }
        p += w;
        left -= (size_t) w;
    }
    if (fsync (fd) < 0 || close (fd) < 0) {
        unlink (tmp);
        return hg_err_set (err, HG_EIO, "cannot sync %s: %s", tmp, strerror (errno));
    }
    if (rename (tmp, path) < 0) {
        unlink (tmp);
        return hg_err_set (err, HG_EIO, "cannot rename %s: %s", tmp, strerror (errno));
    }
    return 0;
}

size_t
hg_split_list (char *s, char **items, size_t max)
{
    size_t n = 0;
    char *save = NULL;
    for (char *tok = strtok_r (s, ",", &save); tok && n < max;
         tok = strtok_r (NULL, ",", &save)) {
        while (*tok == ' ') {
            tok++;
        }
        if (*tok) {
            items[n++] = tok;
        }
    }
    return n;
}

size_t
hg_utf8_len (const unsigned char *p, size_t n)
{
    if (n == 0) {
        return 0;
    }
    unsigned char c = p[0];
    size_t k;
    uint32_t cp;
    if (c < 0x80) {
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        k = 2;
        cp = c & 0x1F;
    }
    else if (c >= 0xE0 && c <= 0xEF) {
        k = 3;
        cp = c & 0x0F;
    }
    else if (c >= 0xF0 && c <= 0xF4) {
        k = 4;
        cp = c & 0x07;
    }
    else {
        return 0; /* continuation byte, overlong 2-byte lead, or > U+10FFFF */
    }
    if (n < k) {
        return 0;
    }
    for (size_t i = 1; i < k; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((k == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)))
        || (k == 4 && (cp < 0x10000 || cp > 0x10FFFF))) {
        return 0;
    }
    return k;
}

bool
hg_utf8_valid (const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t k = hg_utf8_len (s + i, n - i);
        if (k == 0) {
            return false;
        }
        i += k;
    }
    return true;
}

int
hg_hex_digit (char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static int
s_remove_one (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st;
    (void) ftw;
    int rc = flag == FTW_DP ? rmdir (path) : unlink (path);
    return rc < 0 && errno != ENOENT ? -1 : 0;
}

int
hg_remove_tree (const char *path, hg_err_t *err)
{
    if (nftw (path, s_remove_one, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT) {
        return hg_err_set (err, HG_EIO, "cannot remove %s: %s", path, strerror (errno));
    }
    return 0;
}

bool
hg_all_digits (const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
    }
    return true;
}
