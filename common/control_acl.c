/*
 * control_acl.c -- the control plane's one table of who may ask what. See
 * control_acl.h; docs/security.md "Control plane" prints the same table.
 */
#include "control_acl.h"

#include <stdio.h>
#include <string.h>

#include "hourglass.pb-c.h"

#define S_ANY "*"

/* Every control request a service answers, and the roles that may make it.
 * A request not in this table is refused to every key. */
static const struct {
    const char *service;
    int kind;
    unsigned roles;
} s_rules[] = {
    {S_ANY, HOURGLASS__CONTROL_REQUEST__KIND__HEALTH, HG_ROLE_OPERATOR | HG_ROLE_HEALTH},
    {S_ANY, HOURGLASS__CONTROL_REQUEST__KIND__STATS, HG_ROLE_OPERATOR},
    {S_ANY, HOURGLASS__CONTROL_REQUEST__KIND__QUARANTINE_LIST, HG_ROLE_OPERATOR},
    /* hourglass drain: cleansers and deids drain, the others answer why not */
    {S_ANY, HOURGLASS__CONTROL_REQUEST__KIND__DRAIN, HG_ROLE_OPERATOR},
    {"cleanser", HOURGLASS__CONTROL_REQUEST__KIND__OUTCOME, HG_ROLE_OPERATOR | HG_ROLE_COLLECTOR},
    {"cleanser", HOURGLASS__CONTROL_REQUEST__KIND__QUALITY, HG_ROLE_OPERATOR},
    {"cleanser", HOURGLASS__CONTROL_REQUEST__KIND__REPLAY, HG_ROLE_OPERATOR},
    {"indexer", HOURGLASS__CONTROL_REQUEST__KIND__COUNT, HG_ROLE_ANALYTICS},
    {"indexer", HOURGLASS__CONTROL_REQUEST__KIND__QUERY, HG_ROLE_ANALYTICS},
    /* record-level, de-identified: the operator's export, audited by the shard */
    {"indexer", HOURGLASS__CONTROL_REQUEST__KIND__EXPORT, HG_ROLE_OPERATOR},
    {"analytics", HOURGLASS__CONTROL_REQUEST__KIND__COUNT, HG_ROLE_OPERATOR},
    {"analytics", HOURGLASS__CONTROL_REQUEST__KIND__QUERY, HG_ROLE_OPERATOR},
    /* the codes under a prefix, exact counts: analytics suppresses them */
    {"indexer", HOURGLASS__CONTROL_REQUEST__KIND__CODES, HG_ROLE_ANALYTICS},
    /* the query audit trail (who asked what): the operator alone reads it */
    {"analytics", HOURGLASS__CONTROL_REQUEST__KIND__AUDIT_LIST, HG_ROLE_OPERATOR},
    {"analytics", HOURGLASS__CONTROL_REQUEST__KIND__AUDIT_VERIFY, HG_ROLE_OPERATOR},
};

static const struct {
    const char *name;
    hg_role_t role;
} s_roles[] = {
    {"operator", HG_ROLE_OPERATOR},
    {"analytics", HG_ROLE_ANALYTICS},
    {"health", HG_ROLE_HEALTH},
    {"collector", HG_ROLE_COLLECTOR},
};

hg_role_t
hg_control_role (const char *user_id)
{
    const char *colon = user_id ? strchr (user_id, ':') : NULL;
    if (!colon) {
        return HG_ROLE_NONE;
    }
    size_t n = (size_t) (colon - user_id);
    for (size_t i = 0; i < sizeof (s_roles) / sizeof (s_roles[0]); i++) {
        if (strlen (s_roles[i].name) == n && memcmp (s_roles[i].name, user_id, n) == 0) {
            return s_roles[i].role;
        }
    }
    return HG_ROLE_NONE;
}

unsigned
hg_control_roles_for (const char *service, int kind)
{
    unsigned roles = 0;
    for (size_t i = 0; i < sizeof (s_rules) / sizeof (s_rules[0]); i++) {
        if (s_rules[i].kind == kind
            && (strcmp (s_rules[i].service, S_ANY) == 0
                || strcmp (s_rules[i].service, service) == 0)) {
            roles |= s_rules[i].roles;
        }
    }
    return roles;
}

bool
hg_control_allowed (const char *service, int kind, hg_role_t role)
{
    return role != HG_ROLE_NONE && (hg_control_roles_for (service, kind) & (unsigned) role);
}

const char *
hg_control_roles_text (unsigned mask, char *out, size_t size)
{
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof (s_roles) / sizeof (s_roles[0]); i++) {
        if ((mask & (unsigned) s_roles[i].role) && len < size) {
            len += (size_t) snprintf (out + len, size - len, "%s%s", len ? " or " : "",
                                      s_roles[i].name);
        }
    }
    if (!len) {
        snprintf (out, size, "no role");
    }
    return out;
}

const char *
hg_control_kind_name (int kind)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value (&hourglass__control_request__kind__descriptor,
                                              kind);
    return v ? v->name : "UNKNOWN";
}
