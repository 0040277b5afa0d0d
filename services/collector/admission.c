/*
 * admission.c -- the collector's verdict on one push, pure. See admission.h.
 */
#include "admission.h"

#include <stdio.h>
#include <string.h>

static hg_admit_verdict_t
s_verdict (hg_admission_t *out, hg_admit_verdict_t verdict, Hourglass__PushReply__Status status,
           const char *counter)
{
    out->verdict = verdict;
    out->status = status;
    out->counter = counter;
    return verdict;
}

static hg_admit_verdict_t
s_reject (hg_admission_t *out, hg_admit_verdict_t verdict, const char *counter)
{
    return s_verdict (out, verdict, HOURGLASS__PUSH_REPLY__STATUS__REJECTED, counter);
}

static bool
s_names_ok (const char *partner, const char *batch_id)
{
    return *partner && *batch_id && strlen (batch_id) <= HG_ADMISSION_BATCH_ID_MAX
           && strlen (partner) <= HG_ADMISSION_PARTNER_MAX && !strchr (partner, '/');
}

hg_admit_verdict_t
hg_admission_check_request (const hg_admission_policy_t *policy,
                            const hg_admission_request_t *req, hg_admission_t *out)
{
    memset (out, 0, sizeof (*out));
    out->partner = req->decoded ? req->partner : "";
    if (req->decoded && policy->authenticated) {
        /* the key decides who the partner is; a request may not claim another */
        const char *who = req->authenticated_as;
        if (!who || !*who) {
            snprintf (out->reason, sizeof (out->reason), "not authenticated");
            return s_reject (out, HG_ADMIT_NOT_AUTHENTICATED, NULL);
        }
        if (*req->partner && strcmp (req->partner, who) != 0) {
            snprintf (out->message_id, sizeof (out->message_id), "%.128s/%.256s", req->partner,
                      req->batch_id);
            snprintf (out->reason, sizeof (out->reason),
                      "your key authenticates you as partner '%.64s', not '%.64s'", who,
                      req->partner);
            return s_reject (out, HG_ADMIT_PARTNER_MISMATCH, "rejected");
        }
        out->partner = who;
    }
    if (!req->decoded) {
        snprintf (out->reason, sizeof (out->reason), "undecodable PushRequest (%zu bytes)",
                  req->request_bytes);
        return s_reject (out, HG_ADMIT_UNDECODABLE, NULL);
    }
    snprintf (out->message_id, sizeof (out->message_id), "%.128s/%.256s", out->partner,
              req->batch_id);
    if (!s_names_ok (out->partner, req->batch_id)) {
        snprintf (out->reason, sizeof (out->reason),
                  "partner (1-128 chars, no '/') and batch_id (1-256 chars) are required");
        return s_reject (out, HG_ADMIT_BAD_NAMES, NULL);
    }
    if (req->payload_len > policy->max_payload_bytes) {
        snprintf (out->reason, sizeof (out->reason),
                  "payload of %zu bytes exceeds max_payload_bytes %zu; split the batch",
                  req->payload_len, policy->max_payload_bytes);
        return s_reject (out, HG_ADMIT_TOO_LARGE, "rejected");
    }
    return s_verdict (out, HG_ADMIT_ACCEPT, HOURGLASS__PUSH_REPLY__STATUS__ACCEPTED, NULL);
}

hg_admit_verdict_t
hg_admission_check_capacity (hg_admission_t *out, bool duplicate, uint32_t quota_wait_ms,
                             size_t outbox_room)
{
    if (out->verdict != HG_ADMIT_ACCEPT) {
        return out->verdict;
    }
    if (duplicate) {
        return s_verdict (out, HG_ADMIT_DUPLICATE, HOURGLASS__PUSH_REPLY__STATUS__DUPLICATE,
                          "duplicates");
    }
    if (quota_wait_ms > 0) {
        out->retry_after_ms = quota_wait_ms;
        snprintf (out->reason, sizeof (out->reason),
                  "partner %.128s is over its quota; retry in %u ms", out->partner,
                  quota_wait_ms);
        return s_verdict (out, HG_ADMIT_OVER_QUOTA, HOURGLASS__PUSH_REPLY__STATUS__BUSY,
                          "over_quota");
    }
    if (outbox_room == 0) {
        out->retry_after_ms = HG_ADMISSION_SATURATED_RETRY_MS;
        snprintf (out->reason, sizeof (out->reason), "pipeline is saturated; retry later");
        return s_verdict (out, HG_ADMIT_SATURATED, HOURGLASS__PUSH_REPLY__STATUS__BUSY, "busy");
    }
    return HG_ADMIT_ACCEPT;
}
