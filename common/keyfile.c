/*
 * keyfile.c -- 32-byte secret key files, created atomically on first use; see
 * keyfile.h.
 */
#include "keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

/* Checks an open key file and reads the key from it. */
static int
s_key_read (int fd, const char *path, const hg_keyfile_kind_t *kind, unsigned char *key,
            hg_err_t *err)
{
    struct stat sb;
    if (fstat (fd, &sb) < 0) {
        return hg_err_set (err, HG_EIO, "cannot stat key file %s: %s", path, strerror (errno));
    }
    if (!S_ISREG (sb.st_mode)) {
        return hg_err_set (err, HG_EINVAL,
                           "key file %s is not a regular file; point the key path "
                           "at the 32-byte key file",
                           path);
    }
    if (sb.st_mode & (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH)) {
        return hg_err_set (err, HG_EINVAL,
                           "key file %s has mode %04o; it must be 0600 (chmod 600 %s)", path,
                           (unsigned) (sb.st_mode & 07777), path);
    }
    if (sb.st_size != HG_KEYFILE_BYTES) {
        return hg_err_set (err, HG_EINVAL,
                           "key file %s is %lld bytes; a %s is exactly %d bytes (restore "
                           "the original key file; delete it only if %s)",
                           path, (long long) sb.st_size, kind->what, HG_KEYFILE_BYTES,
                           kind->on_new);
    }
    size_t got = 0;
    while (got < HG_KEYFILE_BYTES) {
        ssize_t n = read (fd, key + got, HG_KEYFILE_BYTES - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return hg_err_set (err, HG_EIO, "cannot read key file %s: %s", path,
                               strerror (errno));
        }
        if (n == 0) {
            return hg_err_set (err, HG_EIO,
                               "key file %s shrank while being read (%zu of %d bytes); "
                               "is something rewriting it?",
                               path, got, HG_KEYFILE_BYTES);
        }
        got += (size_t) n;
    }
    return 0;
}

static int
s_write_all (int fd, const unsigned char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write (fd, buf, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -1;
        }
        buf += n;
        len -= (size_t) n;
    }
    return 0;
}

/* fsyncs the directory holding path so a new directory entry is durable. */
static int
s_fsync_dir (const char *path, hg_err_t *err)
{
    char dir[4096];
    const char *slash = strrchr (path, '/');
    if (!slash) {
        snprintf (dir, sizeof (dir), ".");
    }
    else if (slash == path) {
        snprintf (dir, sizeof (dir), "/");
    }
    else {
        snprintf (dir, sizeof (dir), "%.*s", (int) (slash - path), path);
    }
    int dfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        return hg_err_set (err, HG_EIO, "cannot open directory %s to sync key file: %s", dir,
                           strerror (errno));
    }
    int rc = fsync (dfd);
    int saved = errno;
    close (dfd);
    if (rc < 0) {
        return hg_err_set (err, HG_EIO, "cannot sync directory %s: %s", dir, strerror (saved));
    }
    return 0;
}

/* Creates the key file. Returns 0 when this call created it (key holds the
 * new key), 1 when another process created it first (key is zeroed; the
 * caller loads the existing file), or a negative HG_E*. */
static int
s_key_create (const char *path, unsigned char *key, hg_err_t *err)
{
    int rc = 0;
    int fd = -1;
    bool tmp_exists = false;
    char tmp[4096];
    unsigned char nonce[4];
    randombytes_buf (nonce, sizeof (nonce));
    int n = snprintf (tmp, sizeof (tmp), "%s.tmp-%ld-%02x%02x%02x%02x", path, (long) getpid (),
                      nonce[0], nonce[1], nonce[2], nonce[3]);
    if (n < 0 || (size_t) n >= sizeof (tmp)) {
        return hg_err_set (err, HG_EINVAL, "key file path is too long (%zu bytes)",
                           strlen (path));
    }
    fd = open (tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = hg_err_set (err, HG_EIO,
                         "cannot create key file %s: %s (does the directory exist "
                         "and is it writable by this user?)",
                         path, strerror (errno));
        goto cleanup;
    }
    tmp_exists = true;
    randombytes_buf (key, HG_KEYFILE_BYTES);
    if (s_write_all (fd, key, HG_KEYFILE_BYTES) < 0 || fsync (fd) < 0) {
        rc = hg_err_set (err, HG_EIO, "cannot write key file %s: %s", tmp, strerror (errno));
        goto cleanup;
    }
    if (close (fd) < 0) {
        fd = -1;
        rc = hg_err_set (err, HG_EIO, "cannot write key file %s: %s", tmp, strerror (errno));
        goto cleanup;
    }
    fd = -1;
    /* link() never replaces an existing file: two first starts racing each
     * other end up with one key, not one each */
    if (link (tmp, path) < 0) {
        if (errno == EEXIST) {
            rc = 1;
            goto cleanup;
        }
        if (errno != EPERM && errno != ENOTSUP && errno != EOPNOTSUPP && errno != EMLINK) {
            rc = hg_err_set (err, HG_EIO, "cannot create key file %s: %s", path,
                             strerror (errno));
            goto cleanup;
        }
        /* no hard links on this file system: rename, still atomic */
        if (rename (tmp, path) < 0) {
            rc = hg_err_set (err, HG_EIO, "cannot create key file %s: %s", path,
                             strerror (errno));
            goto cleanup;
        }
        tmp_exists = false;
    }
    if (tmp_exists) {
        unlink (tmp);
        tmp_exists = false;
    }
    rc = s_fsync_dir (path, err);
cleanup:
    if (fd >= 0) {
        close (fd);
    }
    if (tmp_exists) {
        unlink (tmp);
    }
    if (rc != 0) {
        sodium_memzero (key, HG_KEYFILE_BYTES);
    }
    return rc;
}

int
hg_keyfile_load (const char *path, bool create, const hg_keyfile_kind_t *kind,
                 unsigned char key[HG_KEYFILE_BYTES], hg_err_t *err)
{
    sodium_memzero (key, HG_KEYFILE_BYTES);
    if (sodium_init () < 0) {
        return hg_err_set (err, HG_EIO, "libsodium could not be initialised");
    }
    if (!path || !*path) {
        return hg_err_set (err, HG_EINVAL, "no %s file configured; set the key path", kind->what);
    }
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create) {
        int rc = s_key_create (path, key, err);
        if (rc <= 0) {
            return rc;
        }
        fd = open (path, O_RDONLY | O_CLOEXEC); /* created by someone else */
    }
    if (fd < 0) {
        if (errno == ENOENT) {
            return hg_err_set (err, HG_ENOTFOUND,
                               "key file %s does not exist; restore it, or allow "
                               "%s to create a new key",
                               path, kind->creator);
        }
        return hg_err_set (err, HG_EIO, "cannot open key file %s: %s", path, strerror (errno));
    }
    int rc = s_key_read (fd, path, kind, key, err);
    close (fd);
    if (rc < 0) {
        sodium_memzero (key, HG_KEYFILE_BYTES);
    }
    return rc;
}
