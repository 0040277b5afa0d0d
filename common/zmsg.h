/*
 * zmsg.h -- receiving one whole multipart ZeroMQ message into frames, the
 * job every socket reader of the runtime does (links, control, ZAP, the
 * collector's ingest, the analytics' fan-out).
 */
#ifndef HG_ZMSG_H
#define HG_ZMSG_H

#include <stdbool.h>
#include <stdint.h>

#include <zmq.h>

/* The largest frame (ZMQ_MAXMSGSIZE) each kind of socket takes. ZeroMQ
 * reads a frame's length before its bytes: a peer announcing a larger
 * frame is disconnected and nothing of it is buffered. Each is derived
 * from the largest legitimate message of that socket (docs/operations.md
 * "Memory bound"):
 * - a control request (HEALTH, STATS, a query document of at most 256 KiB,
 *   the OUTCOME of `push --wait`, which names every batch of the push:
 *   ~100000 ids of a typical ~100 bytes): 16 MiB;
 * - what flows upstream on a link (HELLO, READY acknowledging at most
 *   a window of 100000 envelopes, 10 bytes per sequence number): 4 MiB;
 * - a reply read by a client (the CLI, the analytics' fan-out, the
 *   collector's verdict asks): an EXPORT page or a shard's query parts,
 *   HG_ZMSG_REPLY_MAX;
 * - an envelope on a link: the runtime option max_envelope_bytes;
 * - a partner's PushRequest at the collector's ingest: derived from
 *   max_payload_bytes (services/collector/main.c). */
#define HG_ZMSG_CONTROL_REQUEST_MAX ((int64_t) 16 << 20)
#define HG_ZMSG_LINK_UP_MAX ((int64_t) 4 << 20)
#define HG_ZMSG_REPLY_MAX ((int64_t) 256 << 20)
/* what an envelope adds to its payload (id, partner, stamps) at most */
#define HG_ZMSG_ENVELOPE_OVERHEAD ((int64_t) 64 << 10)

/* Opens a socket of type on zctx with ZMQ_MAXMSGSIZE max_frame_bytes
 * (> 0). Every ZeroMQ socket of the services and the CLI is opened here
 * (the style test style.zmq_socket checks), so that none buffers a
 * peer's frame of any size. NULL when ZeroMQ refuses (errno). */
void *hg_zsock_new (void *zctx, int type, int64_t max_frame_bytes);

/* Receives one message from sock: its first max frames into msgs (each
 * initialised here; the caller closes them with hg_zmsg_close), every
 * further frame read and dropped, so the next call starts at the next
 * message. flags apply to the first frame (ZMQ_DONTWAIT: return 0 when
 * nothing is waiting); later frames are part of the same message and
 * never wait. Returns the frames stored; 0 when nothing came (EAGAIN, or
 * the socket's receive timeout); -1 when the socket failed otherwise; a
 * failure within the message returns the frames stored so far. *truncated
 * (may be NULL) says whether frames were dropped. */
int hg_zmsg_recv (void *sock, zmq_msg_t *msgs, int max, int flags, bool *truncated);

/* Closes the n frames of msgs (none when n <= 0, so a receive's result
 * can be passed as it is). */
void hg_zmsg_close (zmq_msg_t *msgs, int n);

#endif
