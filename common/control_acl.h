/*
 * control_acl.h -- who may make which control request (issue 11).
 *
 * Under CurveZMQ (curve_key set) a service's control socket accepts only
 * the keys of its "control" allow-list (option control_allow), whose names
 * carry a role: "<z85> <role>:<name>", e.g. "... operator:operator" or
 * "... analytics:analytics-0". The ZAP handler gives the connection that
 * name as its User-Id; the service then checks each request against the
 * one table in control_acl.c:
 *
 *   operator   HEALTH and STATS everywhere, QUARANTINE_LIST (pre-deid
 *              excerpts and payloads), the cleanser's OUTCOME and QUALITY,
 *              analytics' COUNT and QUERY (suppressed), analytics' AUDIT_LIST
 *              and AUDIT_VERIFY (the query audit trail: who asked what);
 *   analytics  the indexers' COUNT, QUERY and CODES (exact counts: analytics
 *              is the only door to them, and it suppresses);
 *   health     HEALTH only (a container's healthcheck, with the service's
 *              own key);
 * any other role (a partner's key, a typo) may make no request. Without
 * CurveZMQ there is no caller to tell apart and every request is answered
 * (the control sockets then listen on loopback only, docs/security.md).
 * Pure: no I/O.
 */
#ifndef HG_CONTROL_ACL_H
#define HG_CONTROL_ACL_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    HG_ROLE_NONE = 0,
    HG_ROLE_OPERATOR = 1 << 0,
    HG_ROLE_ANALYTICS = 1 << 1,
    HG_ROLE_HEALTH = 1 << 2,
    HG_ROLE_COLLECTOR = 1 << 3, /* asks the cleansers for MLLP verdicts (OUTCOME) */
} hg_role_t;

/* The role a control User-Id ("<role>:<name>") carries; HG_ROLE_NONE for
 * no ':' or a role that is not one of operator, analytics, health, collector. */
hg_role_t hg_control_role (const char *user_id);

/* The roles that may make request kind (Hourglass__ControlRequest__Kind)
 * of a service (def->name: "indexer"); 0 when none may. */
unsigned hg_control_roles_for (const char *service, int kind);

/* True when role may make kind at service. */
bool hg_control_allowed (const char *service, int kind, hg_role_t role);

/* The names of the roles in mask, "operator or analytics" (into out); "no
 * role" when mask is 0. */
const char *hg_control_roles_text (unsigned mask, char *out, size_t size);

/* The request kind's name, "COUNT" ("UNKNOWN" when it has none). */
const char *hg_control_kind_name (int kind);

#endif
