/*
 * err.h -- errors as values with a message a person can act on.
 */
#ifndef HG_ERR_H
#define HG_ERR_H

#include <stddef.h>

typedef struct {
    int code;      /* 0: no error; otherwise negative HG_E* */
    char msg[512]; /* "what is wrong", e.g. "PID-7 '20231301' is not a valid date: month 13" */
} hg_err_t;

enum {
    HG_OK = 0,
    HG_EINVAL = -1, /* bad input */
    HG_EIO = -2,    /* storage or socket failure */
    HG_ENOMEM = -3,
    HG_ELIMIT = -4, /* a size limit was hit */
    HG_ENOTFOUND = -5,
    HG_EAGAIN = -6, /* try again later (backpressure) */
    HG_ENOSPC = -7, /* the store's disk is full: refuse work until space is freed */
};

/* Sets err (if not NULL) and returns code, so callers can write
 *   return hg_err_set (err, HG_EINVAL, "bad %s", what); */
int hg_err_set (hg_err_t *err, int code, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

void hg_err_clear (hg_err_t *err);

#endif
