#ifndef PHIGUARD_PHI_REQUEST_H
#define PHIGUARD_PHI_REQUEST_H
/* A request's PHI state (issue 6), made by the PHI filters
 * (proxy/filters/phi_request.c, phi_response.c) and freed with the
 * request: the keyring it started with, the value passes of both
 * directions with their tallies, the rewritten target. */
#include <stdbool.h>
#include <stddef.h>

#include "policy/phi_transform.h"
#include "policy/record.h"
#include "policy/scrub.h"
#include "proxy/phi_keys.h"

struct pg_request;
struct pg_body_xform;

struct pg_phi_req {
    struct pg_phi_ring *ring;
    struct pg_phi_pass in, out; /* request (seal) and response (reveal) */
    char *target;               /* the rewritten request target, which head.target then points to */
    struct pg_body_xform *in_xform; /* for refusals the value function explains */
    bool scrubbing;                 /* the response is searched for stray envelopes, no rewriter */
    struct pg_scrub scrub;
    /* Names and counts for the audit trail, filled when asked; the room
     * is in the state's own block. */
    struct pg_audit_phi *fields;
    size_t nfields_cap;
};

/* A media type (no parameters) the rewriter reads: application/json and
 * any +json type, except JSON Patch, whose paths no selector can follow. */
bool pg_phi_json_media_type(const char *type, size_t len);
struct pg_header;
/* The same for a Content-Type header (parameters and spaces ignored);
 * false when there is none. */
bool pg_phi_json_content_type(const struct pg_header *ct);

/* The request's PHI state, made on first use with the running keyring.
 * NULL when out of memory or no keyring is configured. */
struct pg_phi_req *pg_phi_req_of(struct pg_request *req);
void pg_phi_req_free(struct pg_phi_req *p);

/* The fields the request body had encrypted, with counts: for the
 * request's own audit record. Returns how many entries (pointers into p). */
size_t pg_phi_req_sealed(struct pg_phi_req *p, const struct pg_audit_phi **out);
/* The fields the response body disclosed in clear to this requester, with
 * counts. */
size_t pg_phi_req_disclosed(struct pg_phi_req *p, const struct pg_audit_phi **out);

#endif
