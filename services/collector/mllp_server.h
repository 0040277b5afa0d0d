/*
 * mllp_server.h -- the collector's HL7 v2 over MLLP endpoint: the listening
 * socket, up to HG_MLLP_SERVER_MAX_CONNS partner connections, reading and
 * framing (mllp.h), and the HL7 ACKs. It decides nothing: the collector
 * takes each round's messages, journals them, and only then has them
 * answered, so an AA always means "durably journalled".
 *
 * A round, on the collector thread:
 *   n = hg_mllp_server_receive (self, items, n_items, &msgs);
 *   ... set msgs[i].status / reason for each, commit ...
 *   hg_mllp_server_answer (self, journal_failed, &acked, &nacked);
 * A connection that closed, failed or overflowed max_payload_bytes is closed
 * after its framed messages are answered. Not thread-safe.
 */
#ifndef HG_MLLP_SERVER_H
#define HG_MLLP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <zmq.h>

#include "err.h"
#include "hourglass.pb-c.h"

#define HG_MLLP_SERVER_MAX_CONNS 64

typedef struct hg_mllp_server hg_mllp_server_t;

/* One framed message of the current round. */
typedef struct {
    const char *msg; /* into the connection's buffer: valid until answered */
    size_t msg_len;
    char batch_id[200]; /* MSH-10, or "mllp-<hash>" when there is none */
    bool no_control_id; /* no MSH-10: journalled for quarantine, answered AR */
    /* the caller's verdict, set before hg_mllp_server_answer */
    Hourglass__PushReply__Status status;
    const char *reason; /* shown in the ACK's ERR when rejected; borrowed */
    int conn;           /* private: index of its connection */
} hg_mllp_message_t;

/* Listens on "IPv4:PORT" (non-blocking). NULL with err when the address does
 * not parse or cannot be bound. max_payload_bytes bounds one message. */
hg_mllp_server_t *hg_mllp_server_new (const char *listen_on, size_t max_payload_bytes,
                                      hg_err_t *err);

/* Closes every connection and the listener. NULL-safe; nulls *self_p. */
void hg_mllp_server_destroy (hg_mllp_server_t **self_p);

/* Adds the listener and each open connection to items (at most max);
 * returns how many were added. */
size_t hg_mllp_server_items (const hg_mllp_server_t *self, zmq_pollitem_t *items, size_t max);

/* Accepts new connections and reads the ready ones (items as polled, from
 * hg_mllp_server_items), framing what arrived. *msgs points at the round's
 * messages (owned by the server, valid until hg_mllp_server_answer); returns
 * their number. Every status starts as ACCEPTED with no reason. */
size_t hg_mllp_server_receive (hg_mllp_server_t *self, const zmq_pollitem_t *items, size_t n,
                               hg_mllp_message_t **msgs);

/* ACKs each message of the round by its status (ACCEPTED/DUPLICATE: AA, or AR
 * without a control id; BUSY: AE; REJECTED: AR with the reason; all AE when
 * journal_failed), then drops the answered bytes and closes the connections
 * that ended. *acked / *nacked count the AA and the other ACKs sent. */
void hg_mllp_server_answer (hg_mllp_server_t *self, bool journal_failed, uint64_t *acked,
                            uint64_t *nacked);

#endif
