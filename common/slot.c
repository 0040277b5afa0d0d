/*
 * slot.c -- instance slots on a shared volume. See slot.h.
 */
#define _XOPEN_SOURCE 700
#include "slot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "util.h"

void
hg_slot_path (char *out, size_t size, const char *dir, const char *prefix, int k)
{
    snprintf (out, size, "%s/%s-%d", dir, prefix, k);
}

int
hg_slot_try (const char *dir, const char *prefix, int k, hg_err_t *err)
{
    char path[4096];
    snprintf (path, sizeof (path), "%s/%s-%d.lock", dir, prefix, k);
    int fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        return hg_err_set (err, HG_EIO, "cannot open slot lock %s: %s", path, strerror (errno));
    }
    if (flock (fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        close (fd);
        if (e == EWOULDBLOCK) {
            return HG_EAGAIN;
        }
        return hg_err_set (err, HG_EIO, "cannot lock %s: %s", path, strerror (e));
    }
    return fd;
}

int
hg_slot_claim (const char *dir, const char *prefix, int slots, int preferred, int *fd,
               hg_err_t *err)
{
    if (hg_mkdirs (dir, 0700, err) < 0) {
        return err->code;
    }
    bool prefer = preferred >= 0 && preferred < slots;
    for (int i = prefer ? -1 : 0; i < slots; i++) {
        int k = i < 0 ? preferred : i;
        int rc = hg_slot_try (dir, prefix, k, err);
        if (rc >= 0) {
            *fd = rc;
            return k;
        }
        if (rc != HG_EAGAIN) {
            return rc;
        }
    }
    return hg_err_set (err, HG_EINVAL,
                       "all %d slots of %s/%s-* are held by running instances: raise slots, "
                       "or stop a replica",
                       slots, dir, prefix);
}
