#ifndef PHIGUARD_FILTER_H
#define PHIGUARD_FILTER_H
/* The phases a request passes (DESIGN.md, "The path of a request") and the
 * filters that run in them. A filter is a thin adapter from a request to
 * logic in policy/; it answers one of the results below. */

struct pg_request;

enum pg_phase {
    PG_PHASE_HEADERS,
    PG_PHASE_AUTHN,
    PG_PHASE_AUTHZ,
    PG_PHASE_LIMITS,
    PG_PHASE_REQUEST_BODY,
    PG_PHASE_UPSTREAM,
    PG_PHASE_RESPONSE_HEADERS,
    PG_PHASE_RESPONSE_BODY,
    PG_PHASE_LOG,
    PG_PHASE_COUNT
};

enum pg_filter_result {
    PG_NEXT,    /* go on with the next filter */
    PG_SUSPEND, /* async work started; the filter calls pg_request_resume later */
    PG_RESPOND, /* the filter answered the request, or handed it on (upstream):
                   the driver must not touch it again */
    PG_ERROR,   /* cannot enforce: fail closed with 500 */
};

struct pg_filter {
    const char *name;
    enum pg_phase phase;
    enum pg_filter_result (*run)(struct pg_request *req);
    /* Called when the client leaves while this filter has the request
     * suspended: release whatever the async work holds. May be NULL. */
    void (*abort)(struct pg_request *req);
};

/* Filters of one phase, in the order they run. */
struct pg_filter_list {
    const struct pg_filter *const *items;
    int count;
};

const struct pg_filter_list *pg_filters_for(enum pg_phase phase);

const char *pg_phase_name(enum pg_phase phase);

#endif
