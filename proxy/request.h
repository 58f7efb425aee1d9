#ifndef PHIGUARD_REQUEST_H
#define PHIGUARD_REQUEST_H
/* One request on a client connection, from its head to its log line, and
 * the phase driver that runs the filters over it. The request owns every
 * allocation made for it; they are freed when it ends. */
#include <event2/buffer.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>
#include "proxy/filter.h"
#include "proxy/http1.h"

struct pg_conn;
struct pg_worker;
struct pg_upconn;
struct pg_ticket;
struct pg_body_xform;
struct pg_phi_req;
struct pg_track;
struct pg_plugin_req;

struct pg_request {
    struct pg_conn *conn;
    struct pg_worker *worker;
    char id[64];
    uint64_t t_start_us;

    struct pg_http_head head;
    /* Header lines ("Name: value\r\n") filters add to the upstream request
     * and to the response; headers they remove are marked drop. */
    struct evbuffer *up_add_headers;
    struct evbuffer *resp_add_headers;

    enum pg_phase phase;
    int filter_index;
    bool suspended;
    struct pg_ticket *ticket; /* held by the async work of a suspended filter */

    /* Request body, client to upstream. */
    uint64_t body_left;
    struct pg_chunked body_chunked;
    uint64_t body_bytes;
    bool body_done;
    bool continue_sent;
    /* A body phiguard reads whole itself (proxy/request_body.h). */
    struct evbuffer *local_body;
    size_t local_body_max;
    void (*local_body_done)(struct pg_request *req, int status);
    size_t local_body_hold;           /* stop reading whole once this much is held (0: never) */
    struct pg_body_xform *body_xform; /* the body is rewritten on its way (PHI) */
    /* Framing towards the upstream when it differs from the client's (a
     * rewritten body): set by the filter that rewrites. */
    bool up_framing_set;
    enum pg_body_kind up_body;
    uint64_t up_length;

    /* The upstream exchange. */
    struct pg_upconn *up;
    struct event *up_timer; /* connect, then response timeout */
    int up_attempts;
    uint64_t t_upstream_us;
    uint64_t t_resp_head_us; /* the upstream's response head arrived */
    struct pg_http_head resp;
    bool resp_head_read; /* parsed (the response may still be held before it goes on) */
    bool resp_head_done;
    enum pg_body_kind resp_out; /* framing towards the client */
    uint64_t resp_left;
    struct pg_chunked resp_chunked;
    uint64_t resp_bytes;
    bool resp_paused; /* upstream reading paused: client output is full */
    struct pg_body_xform *resp_xform; /* the response body is rewritten on its way (PHI) */
    struct pg_phi_req *phi;           /* PHI state of this request (proxy/phi_request.h) */
    struct pg_track *track;           /* modification tracking (proxy/filters/track.c) */
    struct pg_plugin_req *plugin;     /* what plugins' hooks keep for this request (proxy/plugin_host.h) */
    const char *plugin_failed;        /* the plugin whose hook failed it, for the audit record */

    /* Who and what decided (authn and authz phases). */
    struct pg_policy *policy; /* the snapshot this request is decided under */
    int roles[16];            /* role indices in that policy, set by authentication */
    int nroles;
    bool authenticated;
    const char *user;              /* the authenticated user id */
    const char *const *role_names; /* its roles, resolved against the policy by authz */
    int nrole_names;
    const struct pg_route *route; /* the rule that decided, for audit and logs */
    struct pg_session_ref *session; /* the session the request came with, if any */
    bool break_glass;               /* allowed only by emergency access */
    char entity[160];               /* the resource the route names, e.g. Patient/123 ("" when none) */
    /* The audit record (proxy/audit_request.h). */
    bool audited;                   /* sealed */
    bool audit_held;                /* the response waits for its record to be durable */
    int audit_eof_events;           /* the upstream closed while the response was held */
    struct evbuffer *held;          /* phiguard's own answer, held likewise */
    /* State a suspending filter keeps between its steps; freed with the
     * request. */
    void *filter_state;
    void (*filter_state_free)(void *state);
    /* Header lines ("Name: value\r\n") for phiguard's own answers only
     * (Set-Cookie on a login). */
    struct evbuffer *local_headers;

    /* Outcome. */
    int status;
    bool responded;   /* a response head went to the client */
    bool keep_client; /* the client connection may serve another request */
    const char *error; /* why phiguard answered an error itself */
    char rate_limit[65]; /* the rate limit that refused it (a policy name, PG_RATE_NAME_MAX + 1), or "" */
};

struct pg_request *pg_request_new(struct pg_conn *conn);
void pg_request_free(struct pg_request *req);

/* Runs the request phases from where the request stands, up to and
 * including the upstream phase. */
void pg_request_run(struct pg_request *req);
/* A suspended filter's async work finished with result. */
void pg_request_resume(struct pg_request *req, enum pg_filter_result result);

/* Runs the response-headers phase; returns 0 or an HTTP status to fail with. */
int pg_request_response_headers(struct pg_request *req);

/* Async work (a Redis reply, an Argon2 result) must never keep a bare
 * pointer to a request: the client may leave while it runs. A filter that
 * suspends takes a ticket and gives it to the async work; the work, back on
 * the request's loop, redeems it: the request, or NULL when it is gone. The
 * ticket is freed by the redeem either way. Filters then return PG_SUSPEND
 * and later call pg_request_resume. */
struct pg_ticket *pg_request_suspend(struct pg_request *req);
struct pg_request *pg_ticket_redeem(struct pg_ticket *t);

/* phiguard's own answer: a JSON body {"error": code, "request_id": id}. It
 * ends the request (log phase included). */
void pg_request_respond_error(struct pg_request *req, int status, const char *code);
/* An answer with a body of the filter's choice; ends the request. */
void pg_request_respond(struct pg_request *req, int status, const char *content_type, const char *body,
                        size_t body_len);
/* The same with the body built in an evbuffer, which this frees. */
void pg_request_respond_buffer(struct pg_request *req, int status, const char *content_type, struct evbuffer *body);

/* The client left, or the connection failed, before the request ended:
 * tells a suspending filter, logs the request, frees it. */
void pg_request_abort(struct pg_request *req);

/* The response has been fully handed to the client connection: runs the log
 * phase and hands the connection back (next request or close). */
void pg_request_done(struct pg_request *req);

struct pg_decision;
/* The rule that decided, and the resource its route names (entity type and
 * the first path parameter: Patient/123), for the audit record. */
void pg_request_set_decision(struct pg_request *req, const struct pg_decision *d);
/* Appends a header line to buf. */
void pg_add_header(struct evbuffer *buf, const char *name, const char *value, size_t value_len);

uint64_t pg_now_us(void);

#endif
