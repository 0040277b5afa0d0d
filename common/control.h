/*
 * control.h -- client side of the control protocol: one request, one reply.
 * Every service binds a control ROUTER; clients (the CLI, tests through the
 * CLI) send [empty][ControlRequest] on a DEALER and read [empty][ControlReply].
 *
 * Under CurveZMQ a control socket answers only keys of its control
 * allow-list, by role (control_acl.h). A process that calls secure control
 * sockets names the key pair it authenticates with (hg_control_use_key)
 * and each server's public key (hg_control_server_key); hg_control_call
 * then makes every call to such an endpoint over CURVE. Process-wide, as
 * the CLI has one identity per run.
 */
#ifndef HG_CONTROL_H
#define HG_CONTROL_H

#include <stdbool.h>

#include "curve.h"
#include "err.h"
#include "hourglass.pb-c.h"

/* Sends req to endpoint and waits up to timeout_ms. *reply is unpacked with
 * the default allocator (free with hourglass__control_reply__free_unpacked).
 * HG_EAGAIN when no answer came in time, HG_EIO on a broken reply; HG_EINVAL
 * without a call when endpoint has a server key but no key pair is set. */
int hg_control_call (void *zctx, const char *endpoint, const Hourglass__ControlRequest *req,
                     int timeout_ms, Hourglass__ControlReply **reply, hg_err_t *err);

/* Authenticates later calls with the key pair of key_path (NAME.key); the
 * first key set wins (a --key flag before the cluster's operator key). */
int hg_control_use_key (const char *key_path, hg_err_t *err);
/* True when a key pair is set. */
bool hg_control_has_key (void);
/* Calls to endpoint are CURVE with this server key (.pub file or Z85). */
int hg_control_server_key (const char *endpoint, const char *public_key, hg_err_t *err);
/* Makes sock (before connect) a CURVE client of server_public with the key
 * pair set; HG_EINVAL when none is. For callers with their own sockets. */
int hg_control_make_client (void *sock, const char *server_public, hg_err_t *err);

#endif
