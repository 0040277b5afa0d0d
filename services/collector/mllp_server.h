/*
 * mllp_server.h -- the collector's HL7 v2 over MLLP endpoint: the listening
 * socket, its partner connections (a total, a per-address limit and an idle
 * deadline), reading and framing (mllp.h), and the HL7 ACKs. It decides
 * nothing: the collector takes each round's messages, journals them, and
 * only then has them answered, so an AA always means "durably journalled".
 *
 * A round, on the collector thread:
 *   n = hg_mllp_server_receive (self, items, n_items, now_ms, &msgs);
 *   ... set msgs[i].status / reason / message_id for each, commit ...
 *   hg_mllp_server_answer (self, journal_failed, now_ms);
 * With verdict_timeout_ms, a journalled message in original acknowledgement
 * mode is not answered at once: it waits for the cleanser's verdict
 * (hg_mllp_server_verdict: AA, or AE with the ERR of the first quarantine
 * reason), at most verdict_timeout_ms (hg_mllp_server_tick: AE "verdict
 * pending"). ACKs of one connection always leave in the order of its
 * messages. A connection that closed, failed or overflowed max_payload_bytes
 * is closed once its messages are answered. Not thread-safe.
 */
#ifndef HG_MLLP_SERVER_H
#define HG_MLLP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <zmq.h>

#include "err.h"
#include "hourglass.pb-c.h"
#include "mllp.h"
#include "mllp_tls.h"

#define HG_MLLP_SERVER_MAX_CONNS 128 /* poll items the runtime has room for */

typedef struct {
    const char *listen; /* "IPv4:PORT" */
    size_t max_payload_bytes;
    size_t max_inflight_bytes;   /* receive buffers of all connections together; a connection
                                  * whose frame does not fit is closed (its sender resends);
                                  * 0: 4 x (max_payload_bytes + 64 KiB) */
    size_t max_conns;            /* total; 0 or over HG_MLLP_SERVER_MAX_CONNS: the maximum */
    size_t max_conns_per_addr;   /* from one IPv4 address; 0: max_conns */
    uint64_t idle_ms;            /* closed after this long without a byte; 0: never */
    uint64_t verdict_timeout_ms; /* wait this long for the cleanser's verdict; 0: no wait */
    hg_mllp_tls_t *tls;          /* MLLP over TLS only (borrowed); NULL: plain MLLP */
} hg_mllp_server_opts_t;

typedef struct hg_mllp_server hg_mllp_server_t;

/* One framed message of the current round. */
typedef struct {
    const char *msg; /* into the connection's buffer: valid until answered */
    size_t msg_len;
    char batch_id[240]; /* "<MSH-10>#<content hash>", or "mllp-<hash>" without MSH-10 */
    bool no_control_id; /* no MSH-10: journalled for quarantine, answered AE */
    bool not_hl7;       /* no MSH segment: not journalled, answered AR (junk) */
    bool enhanced;      /* MSH-15/16 valued: a commit ack (CA/CE/CR) per accept_ack */
    hg_hl7_ack_when_t accept_ack;
    /* the caller's verdict, set before hg_mllp_server_answer */
    Hourglass__PushReply__Status status;
    const char *reason;     /* shown in the ACK's ERR when rejected; borrowed */
    const char *message_id; /* "<partner>/<batch id>" once admitted; borrowed */
    const char *partner;    /* the TLS client certificate's name; NULL: mllp_partner */
    int conn;               /* private: index of its connection */
} hg_mllp_message_t;

/* Listens on opts->listen (non-blocking). NULL with err when the address
 * does not parse or cannot be bound. */
hg_mllp_server_t *hg_mllp_server_new (const hg_mllp_server_opts_t *opts, hg_err_t *err);

/* Closes every connection and the listener. NULL-safe; nulls *self_p. */
void hg_mllp_server_destroy (hg_mllp_server_t **self_p);

/* Adds the listener and each open connection to items (at most max);
 * returns how many were added. */
size_t hg_mllp_server_items (const hg_mllp_server_t *self, zmq_pollitem_t *items, size_t max);

/* Accepts new connections (within the limits) and reads the ready ones
 * (items as polled, from hg_mllp_server_items), framing what arrived.
 * *msgs points at the round's messages (owned by the server, valid until
 * hg_mllp_server_answer); returns their number. Every status starts as
 * ACCEPTED with no reason. */
size_t hg_mllp_server_receive (hg_mllp_server_t *self, const zmq_pollitem_t *items, size_t n,
                               uint64_t now_ms, hg_mllp_message_t **msgs);

/* Answers each message of the round by its status (ACCEPTED/DUPLICATE: AA,
 * or waits for the verdict, or AE without a control id (stored, to be
 * quarantined), AR without MSH (not stored); BUSY: AE;
 * REJECTED: AR with the reason; all AE when journal_failed; in enhanced
 * mode CA/CE/CR per MSH-15), then drops the answered bytes and closes the
 * connections that ended. */
void hg_mllp_server_answer (hg_mllp_server_t *self, bool journal_failed, uint64_t now_ms);

/* The distinct message ids waiting for a verdict, at most max into ids
 * (borrowed until the next call that answers); returns the count. */
size_t hg_mllp_server_waiting (const hg_mllp_server_t *self, const char **ids, size_t max);

/* The cleanser's verdict on message_id: err NULL when it parsed (AA), else
 * the first quarantine reason (AE with its ERR). Answers every message
 * waiting on it. */
void hg_mllp_server_verdict (hg_mllp_server_t *self, const char *message_id,
                             const hg_hl7_error_t *err);

/* Answers the messages whose verdict is overdue (AE, "verdict pending")
 * and closes connections idle past idle_ms. */
void hg_mllp_server_tick (hg_mllp_server_t *self, uint64_t now_ms);

/* How many connections are open; and the AA and other ACKs sent since the
 * last call (then zeroed), for the service counters. */
size_t hg_mllp_server_conns (const hg_mllp_server_t *self);
void hg_mllp_server_take_counts (hg_mllp_server_t *self, uint64_t *acked, uint64_t *nacked);

#endif
