/*
 * zmsg.h -- receiving one whole multipart ZeroMQ message into frames, the
 * job every socket reader of the runtime does (links, control, ZAP, the
 * collector's ingest, the analytics' fan-out).
 */
#ifndef HG_ZMSG_H
#define HG_ZMSG_H

#include <stdbool.h>

#include <zmq.h>

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
