/*
 * dns_endpoint.c -- dns+tcp:// endpoints; see dns_endpoint.h.
 */
#include "dns_endpoint.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

int
hg_dns_endpoint_parse (hg_dns_endpoint_t *e, const char *spec, const char *option, const char *of,
                       hg_err_t *err)
{
    memset (e, 0, sizeof (*e));
    e->dns = strncmp (spec, "dns+tcp://", 10) == 0;
    if (!e->dns) {
        return 0;
    }
    const char *hp = spec + 10;
    const char *colon = strrchr (hp, ':');
    if (!colon || colon == hp || !colon[1] || (size_t) (colon - hp) >= sizeof (e->host)
        || strlen (colon + 1) >= sizeof (e->port)) {
        return hg_err_set (err, HG_EINVAL,
                           "%s '%s': expected dns+tcp://NAME:PORT (NAME resolved to every "
                           "address of %s)",
                           option, spec, of);
    }
    snprintf (e->host, sizeof (e->host), "%.*s", (int) (colon - hp), hp);
    snprintf (e->port, sizeof (e->port), "%s", colon + 1);
    return 0;
}

int
hg_dns_endpoint_resolve (const hg_dns_endpoint_t *e, char (*out)[HG_DNS_ENDPOINT_TCP_MAX],
                         size_t max)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo (e->host, e->port, &hints, &res);
    if (rc == EAI_AGAIN || rc == EAI_SYSTEM || rc == EAI_MEMORY) {
        return -1;
    }
    size_t n = 0;
    for (struct addrinfo *ai = rc == 0 ? res : NULL; ai && n < max; ai = ai->ai_next) {
        char addr[INET_ADDRSTRLEN];
        const struct sockaddr_in *sin = (const struct sockaddr_in *) ai->ai_addr;
        inet_ntop (AF_INET, &sin->sin_addr, addr, sizeof (addr));
        snprintf (out[n++], HG_DNS_ENDPOINT_TCP_MAX, "tcp://%s:%.5s", addr, e->port);
    }
    if (res) {
        freeaddrinfo (res);
    }
    return (int) n;
}
