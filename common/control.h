/*
 * control.h -- client side of the control protocol: one request, one reply.
 * Every service binds a control ROUTER; clients (the CLI, tests through the
 * CLI) send [empty][ControlRequest] on a DEALER and read [empty][ControlReply].
 */
#ifndef HG_CONTROL_H
#define HG_CONTROL_H

#include "err.h"
#include "hourglass.pb-c.h"

/* Sends req to endpoint and waits up to timeout_ms. *reply is unpacked with
 * the default allocator (free with hourglass__control_reply__free_unpacked).
 * HG_EAGAIN when no answer came in time, HG_EIO on a broken reply. */
int hg_control_call (void *zctx, const char *endpoint, const Hourglass__ControlRequest *req,
                     int timeout_ms, Hourglass__ControlReply **reply, hg_err_t *err);

#endif
