/*
 * log.h -- structured logging: one line per event on stderr,
 *   2026-11-29T05:01:02.123Z INFO cleanser/cleanser-0 event=batch_committed n=42 ms=3
 * Never pass PHI or secrets: log counts, ids chosen by us, sizes, reasons.
 * An id a partner chose (message id, batch id, file name, MSH-10) is logged
 * only as its keyed fingerprint: "fingerprint=%s", HG_LOG_FP (env->id).
 */
#ifndef HG_LOG_H
#define HG_LOG_H

#include "fingerprint.h"

typedef enum { HG_LOG_DEBUG = 0, HG_LOG_INFO, HG_LOG_WARN, HG_LOG_ERROR } hg_log_level_t;

/* Sets the service and instance names printed on every line and the minimum level. */
void hg_log_init (const char *service, const char *instance, hg_log_level_t level);

/* Parses "debug", "info", "warn", "error"; -1 when unknown. */
int hg_log_level_parse (const char *s);

/* Writes one line: the event name, then the formatted key=value pairs. */
void hg_log (hg_log_level_t level, const char *event, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

/* Sets the key of hg_log_fingerprint (copied, HG_FINGERPRINT_KEY_BYTES); the
 * service runtime sets it from option fingerprint_key. Until then a random
 * key of this process is used: fingerprints are never the id in clear, but
 * match nothing an operator can recompute. */
void hg_log_fingerprint_key (const unsigned char *key);

/* The fingerprint (fingerprint.h) of a partner-chosen id under the log key,
 * written to out (HG_FINGERPRINT_HEX + 1 bytes); returns out. */
const char *hg_log_fingerprint (const char *id, char *out);

/* hg_log_fingerprint into a buffer that lives as long as the statement's
 * block: hg_warn ("x", "fingerprint=%s", HG_LOG_FP (env->id)). */
#define HG_LOG_FP(id) hg_log_fingerprint ((id), (char[HG_FINGERPRINT_HEX + 1]) {0})

#define hg_debug(event, ...) hg_log (HG_LOG_DEBUG, event, __VA_ARGS__)
#define hg_info(event, ...) hg_log (HG_LOG_INFO, event, __VA_ARGS__)
#define hg_warn(event, ...) hg_log (HG_LOG_WARN, event, __VA_ARGS__)
#define hg_error(event, ...) hg_log (HG_LOG_ERROR, event, __VA_ARGS__)

#endif
