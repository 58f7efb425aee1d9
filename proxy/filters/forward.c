/* Upstream phase: the request passed every check; hand it to the
 * upstream. From here the exchange is driven by upstream events. */
#include "proxy/filters/filters.h"
#include "proxy/request.h"
#include "proxy/upstream.h"

static enum pg_filter_result forward_run(struct pg_request *req)
{
    pg_upstream_start(req);
    return PG_RESPOND;
}

const struct pg_filter pg_filter_forward = {
    .name = "forward",
    .phase = PG_PHASE_UPSTREAM,
    .run = forward_run,
};
