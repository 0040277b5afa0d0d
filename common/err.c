#include "err.h"

#include <stdarg.h>
#include <stdio.h>

int
hg_err_set (hg_err_t *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start (ap, fmt);
        vsnprintf (err->msg, sizeof (err->msg), fmt, ap);
        va_end (ap);
        err->code = code;
    }
    return code;
}

void
hg_err_clear (hg_err_t *err)
{
    if (err) {
        err->code = 0;
        err->msg[0] = '\0';
    }
}
