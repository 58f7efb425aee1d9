#ifndef PHIGUARD_PLUGIN_HOST_H
#define PHIGUARD_PLUGIN_HOST_H
/* The services phiguard gives plugins (struct phg_host), the state a
 * request keeps for its plugins' hooks, and the way a hook suspended on a
 * worker's loop is resumed from any thread: each worker has a queue and an
 * event; resume puts the ticket on the queue of the worker that owns the
 * request and wakes its loop, where the ticket is redeemed (proxy/request.h),
 * so a request is only ever touched by its own loop. */
#include <stdbool.h>
#include <stdint.h>

#include "plugins/phiguard_plugin.h"

struct pg_request;
struct pg_worker;
struct pg_plugin_body;

/* The table handed to every plugin's entry point. */
const struct phg_host *pg_plugin_host(void);

/* What a request holds for its plugins; freed with the request. */
struct pg_plugin_req {
    bool response_side;         /* header services act on the response */
    char *target;               /* the request target, NUL-terminated */
    int respond_status;         /* host->respond was called: the answer to give */
    char respond_code[64];
    struct phg_pending *pending; /* the running hook's ticket (host->suspend) */
    bool response_done;          /* the response_headers hooks have all answered */
    bool auth_required;
    struct pg_plugin_body *body_in, *body_out; /* the body hooks' passes (proxy/plugin_body.h) */          /* a Bearer token phiguard did not issue: none may go unclaimed */
    /* An identity an authenticator gave (the request's user and roles
     * point here). */
    char *user_id, *username, *method;
    char *roles[PHG_MAX_ROLES];
    int nroles;
    int64_t expires_at; /* Unix seconds the identity's credential runs out (0: unknown); an
                           upgraded connection is closed then */
};
/* The request's plugin state, made on first use; NULL when out of memory. */
struct pg_plugin_req *pg_plugin_req_of(struct pg_request *req);
void pg_plugin_req_free(struct pg_plugin_req *pr);

/* What a resumed hook answered, delivered on the request's loop. */
struct pg_plugin_resumed {
    int result; /* enum phg_result, or enum phg_auth_result for an authenticator */
    const struct phg_identity *identity; /* PHG_AUTH_OK only */
};
typedef void (*pg_plugin_cont_fn)(struct pg_request *req, int plugin, const struct pg_plugin_resumed *how);

/* After a hook returned: took the hook a ticket (host->suspend)? Then the
 * hook's continuation is set: cont runs on the loop when the plugin
 * resumes. Returns false when no ticket was taken. */
bool pg_plugin_await(struct pg_request *req, int plugin, pg_plugin_cont_fn cont);
/* A hook took a ticket and did not answer SUSPEND: the ticket is void
 * (a later resume only frees it). */
void pg_plugin_cancel_pending(struct pg_request *req);

/* Each worker's resume queue: made on the main thread before the loop
 * runs; detached once the loop has ended (a resume after that only frees
 * its ticket). */
int pg_plugin_worker_attach(struct pg_worker *w);
void pg_plugin_worker_detach(struct pg_worker *w);

/* A hook failed (PHG_FAIL, an answer it may not give, a ticket misused):
 * logged, counted, an audit record naming the plugin and the hook, and the
 * request answered 500. The request may be gone when this returns. */
void pg_plugin_hook_failed(struct pg_request *req, int plugin, const char *hook, const char *why);
/* A hook called host->respond and answered PHG_RESPOND: gives that answer
 * (ends the request). False when respond was not called. */
bool pg_plugin_give_response(struct pg_request *req);

#endif
