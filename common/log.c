#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <sodium.h>

static struct {
    char service[32];
    char instance[64];
    hg_log_level_t level;
} s_log = {"hourglass", "-", HG_LOG_INFO};

static struct {
    unsigned char key[HG_FINGERPRINT_KEY_BYTES];
    bool set;
} s_fp;

static const char *s_level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

void
hg_log_init (const char *service, const char *instance, hg_log_level_t level)
{
    snprintf (s_log.service, sizeof (s_log.service), "%s", service);
    snprintf (s_log.instance, sizeof (s_log.instance), "%s", instance);
    s_log.level = level;
}

void
hg_log_fingerprint_key (const unsigned char *key)
{
    memcpy (s_fp.key, key, sizeof (s_fp.key));
    s_fp.set = true;
}

const char *
hg_log_fingerprint (const char *id, char *out)
{
    if (!s_fp.set) {
        /* never the id in clear, even before the runtime read the key */
        if (sodium_init () < 0) {
            memset (s_fp.key, 0x5a, sizeof (s_fp.key)); /* still keyed, never clear */
        }
        else {
            randombytes_buf (s_fp.key, sizeof (s_fp.key));
        }
        s_fp.set = true;
    }
    return hg_fingerprint (s_fp.key, id, out);
}

int
hg_log_level_parse (const char *s)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++) {
        if (strcmp (s, names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

void
hg_log (hg_log_level_t level, const char *event, const char *fmt, ...)
{
    if (level < s_log.level) {
        return;
    }
    char line[1024];
    struct timeval tv;
    struct tm tm;
    gettimeofday (&tv, NULL);
    gmtime_r (&tv.tv_sec, &tm);
    int n = snprintf (line, sizeof (line),
                      "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s/%s event=%s", tm.tm_year + 1900,
                      tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                      (long) (tv.tv_usec / 1000), s_level_names[level], s_log.service,
                      s_log.instance, event);
    if (fmt && *fmt && n > 0 && (size_t) n < sizeof (line) - 2) {
        line[n++] = ' ';
        va_list ap;
        va_start (ap, fmt);
        int m = vsnprintf (line + n, sizeof (line) - (size_t) n, fmt, ap);
        va_end (ap);
        n = m < 0 ? n : n + m;
    }
    if (n < 0 || (size_t) n >= sizeof (line) - 1) {
        n = sizeof (line) - 2;
    }
    line[n++] = '\n';
    fwrite (line, 1, (size_t) n, stderr);
}
