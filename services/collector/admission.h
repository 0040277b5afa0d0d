/*
 * admission.h -- the collector's verdict on one push (ZeroMQ PushRequest,
 * MLLP message or FHIR-over-HTTP POST) before it is journalled. Pure: no
 * store, no sockets, no clock; the caller gathers the facts that need I/O.
 *
 * The verdict is reached in two steps so that the costly or stateful facts
 * are gathered only for a request that passed the cheap checks:
 *   1. hg_admission_check_request: who the partner is (with authentication,
 *      the key or token decides; a request may not claim another partner),
 *      that the request decoded, the partner and batch id, the payload size.
 *   2. only when step 1 gave HG_ADMIT_ACCEPT: the caller looks up whether
 *      out->message_id was already accepted, takes a quota token for
 *      out->partner only when it was not (a duplicate costs no quota), reads
 *      the outbox room, and hg_admission_check_capacity finishes the verdict.
 * HG_ADMIT_ACCEPT after step 2 means: journal it (the journal write itself
 * may still fail; that is the caller's BUSY).
 */
#ifndef HG_ADMISSION_H
#define HG_ADMISSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hourglass.pb-c.h"

#define HG_ADMISSION_PARTNER_MAX 128  /* characters of a partner name */
#define HG_ADMISSION_BATCH_ID_MAX 256 /* characters of a batch id */
#define HG_ADMISSION_SATURATED_RETRY_MS 200

typedef enum {
    HG_ADMIT_ACCEPT = 0,        /* passes every check so far */
    HG_ADMIT_NOT_AUTHENTICATED, /* authentication on, the request carries no identity */
    HG_ADMIT_PARTNER_MISMATCH,  /* claims a partner its key does not name */
    HG_ADMIT_UNDECODABLE,       /* the PushRequest did not unpack */
    HG_ADMIT_BAD_NAMES,         /* partner or batch id missing, too long, or partner has '/' */
    HG_ADMIT_TOO_LARGE,         /* payload over max_payload_bytes */
    HG_ADMIT_DUPLICATE,         /* the message id was accepted before */
    HG_ADMIT_OVER_QUOTA,        /* the partner's token bucket is empty */
    HG_ADMIT_SATURATED,         /* the outbox is full */
} hg_admit_verdict_t;

/* What the collector is configured with. */
typedef struct {
    bool authenticated; /* partners are known by their CurveZMQ key */
    size_t max_payload_bytes;
} hg_admission_policy_t;

/* One request as received. Strings are borrowed for the call (partner is
 * also borrowed by the result, see below). */
typedef struct {
    bool decoded;                 /* false: undecodable, only request_bytes is set */
    size_t request_bytes;         /* size of the request as received */
    const char *authenticated_as; /* the key's partner name; NULL or "" when none */
    const char *partner;          /* claimed by the request, may be "" */
    const char *batch_id;
    size_t payload_len;
} hg_admission_request_t;

typedef struct {
    hg_admit_verdict_t verdict;
    Hourglass__PushReply__Status status; /* what the partner is answered */
    const char *partner;                 /* journal under this name: authenticated_as under
                                   * authentication, else the claimed one (borrowed) */
    char message_id[512];                /* "<partner>/<batch id>", "" when not known yet */
    char reason[600];                    /* for the partner; "" when accepted or duplicate */
    uint32_t retry_after_ms;             /* for BUSY */
    const char *counter;                 /* service counter to count the verdict in, or NULL */
} hg_admission_t;

/* Step 1: fills *out from the request alone. Returns out->verdict. */
hg_admit_verdict_t hg_admission_check_request (const hg_admission_policy_t *policy,
                                               const hg_admission_request_t *req,
                                               hg_admission_t *out);

/* Step 2, for an out that step 1 accepted: duplicate says whether
 * out->message_id was accepted before, quota_wait_ms is what the partner's
 * token bucket answered (0: granted; ignored for a duplicate), outbox_room
 * the records the outbox can still take. Returns out->verdict. */
hg_admit_verdict_t hg_admission_check_capacity (hg_admission_t *out, bool duplicate,
                                                uint32_t quota_wait_ms, size_t outbox_room);

#endif
