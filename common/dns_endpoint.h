/*
 * dns_endpoint.h -- "dns+tcp://NAME:PORT" endpoints: a name that stands for
 * every instance of a replicated service (Docker and Kubernetes DNS give one
 * address per replica), resolved again from time to time to find the ones
 * that came and went. The links (link.c) and the collector's verdict
 * sockets use it; "tcp://..." endpoints are taken as they are.
 */
#ifndef HG_DNS_ENDPOINT_H
#define HG_DNS_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

typedef struct {
    bool dns; /* a dns+tcp:// endpoint; false: a plain one, nothing to resolve */
    char host[200];
    char port[16];
} hg_dns_endpoint_t;

/* The largest "tcp://A.B.C.D:PORT" a resolution gives, with its NUL. */
#define HG_DNS_ENDPOINT_TCP_MAX 40

/* Parses spec into e. A spec that is not dns+tcp:// gives e->dns false and
 * 0. A malformed dns+tcp:// spec: HG_EINVAL, the message naming option (the
 * option or role the spec came from) and what the name stands for (of). */
int hg_dns_endpoint_parse (hg_dns_endpoint_t *e, const char *spec, const char *option,
                           const char *of, hg_err_t *err);

/* Resolves e (IPv4) into out[0..max) as "tcp://ADDR:PORT" and returns how
 * many; 0 when the name has no address (yet); -1 when the resolver itself is
 * in trouble (try again later, keep what is connected). */
int hg_dns_endpoint_resolve (const hg_dns_endpoint_t *e, char (*out)[HG_DNS_ENDPOINT_TCP_MAX],
                             size_t max);

#endif
