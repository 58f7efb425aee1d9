/* The plugins' header hooks: request_headers after authorization (a filter
 * of the authz phase, after rbac), response_headers on the upstream's
 * response head before phiguard's own response-headers filters (security
 * headers). Hooks run in the order of the configuration; one that suspends
 * holds the request (or the response, whose reading from the upstream
 * pauses) until the plugin resumes it. */
#include <stdatomic.h>
#include <stdbool.h>

#include "proxy/filters/filters.h"
#include "proxy/plugin_host.h"
#include "proxy/plugin_loader.h"
#include "proxy/request.h"
#include "proxy/upstream.h"

typedef enum phg_result (*header_hook)(void *state, phg_request *r);

static header_hook hook_of(const struct phg_plugin_handle *h, bool response)
{
    return response ? h->hooks.response_headers : h->hooks.request_headers;
}

static bool any_hook(bool response)
{
    for (int i = 0; i < pg_plugins_count(); i++)
        if (hook_of(pg_plugin_at(i), response))
            return true;
    return false;
}

static void resumed(struct pg_request *req, int plugin, const struct pg_plugin_resumed *how);

/* One hook's answer: PG_NEXT to go on, PG_SUSPEND, or PG_RESPOND when the
 * request was answered (and may be gone). */
static enum pg_filter_result answer(struct pg_request *req, int plugin, bool response, int result, bool from_hook)
{
    const char *name = response ? "response_headers" : "request_headers";
    if (from_hook && result == PHG_SUSPEND) {
        if (pg_plugin_await(req, plugin, resumed))
            return PG_SUSPEND;
        pg_plugin_hook_failed(req, plugin, name, "answered SUSPEND without host->suspend");
        return PG_RESPOND;
    }
    if (req->plugin && req->plugin->pending) {
        pg_plugin_cancel_pending(req);
        pg_plugin_hook_failed(req, plugin, name, "took a ticket (host->suspend) but did not answer SUSPEND");
        return PG_RESPOND;
    }
    switch (result) {
    case PHG_CONTINUE:
        return PG_NEXT;
    case PHG_RESPOND:
        if (!pg_plugin_give_response(req))
            pg_plugin_hook_failed(req, plugin, name, "answered RESPOND without host->respond");
        return PG_RESPOND;
    case PHG_FAIL:
        pg_plugin_hook_failed(req, plugin, name, "answered FAIL");
        return PG_RESPOND;
    default:
        pg_plugin_hook_failed(req, plugin, name, "answered a value the ABI does not define here");
        return PG_RESPOND;
    }
}

static enum pg_filter_result run_from(struct pg_request *req, bool response, int from)
{
    struct pg_plugin_req *pr = pg_plugin_req_of(req);
    if (!pr)
        return PG_ERROR;
    pr->response_side = response;
    for (int i = from; i < pg_plugins_count(); i++) {
        struct phg_plugin_handle *h = pg_plugin_at(i);
        header_hook hook = hook_of(h, response);
        if (!hook)
            continue;
        atomic_fetch_add_explicit(&h->calls, 1, memory_order_relaxed);
        enum pg_filter_result r = answer(req, i, response, hook(h->hooks.state, (phg_request *)req), true);
        if (r != PG_NEXT)
            return r;
    }
    if (response)
        pr->response_done = true;
    return PG_NEXT;
}

static void resumed(struct pg_request *req, int plugin, const struct pg_plugin_resumed *how)
{
    bool response = req->plugin->response_side;
    if (how->result == PHG_SUSPEND) {
        pg_plugin_hook_failed(req, plugin, response ? "response_headers" : "request_headers", "resumed with SUSPEND");
        return;
    }
    enum pg_filter_result r = answer(req, plugin, response, how->result, false);
    if (r == PG_NEXT)
        r = run_from(req, response, plugin + 1);
    if (r == PG_SUSPEND || r == PG_RESPOND)
        return;
    if (!response)
        pg_request_resume(req, r);
    else if (r == PG_NEXT)
        pg_upstream_release_held(req);
    else
        pg_request_respond_error(req, 500, "internal_error");
}

static enum pg_filter_result request_headers_run(struct pg_request *req)
{
    return any_hook(false) ? run_from(req, false, 0) : PG_NEXT;
}

const struct pg_filter pg_filter_plugin_request = {
    .name = "plugin_request_headers",
    .phase = PG_PHASE_AUTHZ,
    .run = request_headers_run,
};

int pg_plugins_response_headers(struct pg_request *req)
{
    if (!any_hook(true) || (req->plugin && req->plugin->response_done))
        return 0;
    switch (run_from(req, true, 0)) {
    case PG_NEXT:
        return 0;
    case PG_SUSPEND:
        return 1;
    case PG_ERROR:
        pg_request_respond_error(req, 500, "internal_error");
        return -1;
    default:
        return -1;
    }
}
