#ifndef PHIGUARD_FILTERS_H
#define PHIGUARD_FILTERS_H
#include "proxy/filter.h"

extern const struct pg_filter pg_filter_headers;    /* headers: hop-by-hop, X-Forwarded-*, request id */
extern const struct pg_filter pg_filter_authn;      /* authn: who is asking */
extern const struct pg_filter pg_filter_rbac;       /* authz: the policy decides */
extern const struct pg_filter pg_filter_ratelimit;  /* limits: the policy's rate limits */
extern const struct pg_filter pg_filter_phi_request; /* request body: PHI sealed on its way up */
extern const struct pg_filter pg_filter_phi_response; /* response headers: PHI opened or masked on its way back */
extern const struct pg_filter pg_filter_phi_log;      /* log: what the response disclosed */
extern const struct pg_filter pg_filter_track;        /* request body: the resource before a tracked change */
extern const struct pg_filter pg_filter_track_log;    /* log: the modification record */
extern const struct pg_filter pg_filter_block_ip;     /* headers: a blocked client address is refused */
extern const struct pg_filter pg_filter_block_user;   /* limits: a blocked user is refused */
extern const struct pg_filter pg_filter_detect_log;   /* log: 403s and malformed requests counted */
extern const struct pg_filter pg_filter_plugin_request; /* authz: the plugins' request_headers hooks */
extern const struct pg_filter pg_filter_forward;    /* upstream: hand the request to the upstream */
extern const struct pg_filter pg_filter_secheaders; /* response headers: security headers */
extern const struct pg_filter pg_filter_accesslog;  /* log: one access line per request */

struct pg_request;
/* The plugins' response_headers hooks on the upstream's response head,
 * before phiguard's own response-headers filters: 0 go on, 1 the response
 * is held (a hook suspended; pg_upstream_release_held follows), -1 the
 * request was answered. */
int pg_plugins_response_headers(struct pg_request *req);

/* True for the hop-by-hop fields of RFC 9110 §7.6.1 and their old
 * companions; the proxy frames each hop itself. */
#include <stdbool.h>
struct pg_header;
struct pg_http_head;
bool pg_is_hop_by_hop(const struct pg_header *hd);
/* Marks drop on hop-by-hop fields and on those the Connection header names. */
void pg_drop_hop_by_hop(struct pg_http_head *h);

#endif
