/* Request-body phase, after the PHI filter: modification tracking (issue
 * 5, docs/audit.md). On a route with track_changes, a PUT, PATCH or DELETE
 * waits while phiguard GETs the same resource from the app, as the
 * requester (the same identity headers); the app's answer is the resource
 * before the change. The answer to the change itself is captured as it is
 * relayed (before any PHI rewriting, so sealed fields stay sealed), and the
 * log phase writes both into one "modification" record. A resource that
 * cannot be fetched (the app is down, times out) refuses the change: it
 * could not be recorded. */
#include <stdlib.h>
#include <string.h>

#include <http_parser.h>

#include "policy/policy.h"
#include "proxy/audit_request.h"
#include "proxy/filters/filters.h"
#include "proxy/log.h"
#include "proxy/request.h"
#include "proxy/track.h"
#include "proxy/upstream_fetch.h"
#include "proxy/worker.h"

void pg_track_free(struct pg_track *t)
{
    if (!t)
        return;
    pg_fetch_cancel(t->fetch);
    pg_capture_free(&t->before);
    pg_capture_free(&t->after);
    free(t);
}

static bool tracked(const struct pg_request *req)
{
    int m = req->head.method;
    return req->route && req->route->track_changes && (m == HTTP_PUT || m == HTTP_PATCH || m == HTTP_DELETE);
}

static void fetched(void *arg, int status)
{
    struct pg_request *req = arg;
    struct pg_track *t = req->track;
    t->fetch = NULL; /* it frees itself once this returns */
    if (status == 0) {
        pg_log(PG_LOG_ERROR, "track_fetch_failed",
               "\"request_id\":\"%s\",\"reason\":\"the resource before the change could not be read from the app\"",
               req->id);
        req->suspended = false;
        pg_request_respond_error(req, 503, "tracking_unavailable");
        return;
    }
    t->before_status = status;
    t->after_open = true;
    pg_request_resume(req, PG_NEXT);
}

static enum pg_filter_result track_run(struct pg_request *req)
{
    if (!tracked(req) || !req->worker->audit)
        return PG_NEXT;
    const struct pg_config *cfg = req->worker->cfg;
    struct pg_track *t = calloc(1, sizeof *t);
    if (!t || pg_capture_init(&t->before, cfg->audit.track_max_bytes) != 0 ||
        pg_capture_init(&t->after, cfg->audit.track_max_bytes) != 0) {
        pg_track_free(t);
        return PG_ERROR;
    }
    req->track = t;
    const struct pg_http_head *h = &req->head;
    struct evbuffer *head = evbuffer_new();
    if (!head)
        return PG_ERROR;
    evbuffer_add(head, "GET ", 4);
    evbuffer_add(head, h->target, h->path_len); /* the resource, without the change's query */
    evbuffer_add(head, " HTTP/1.1\r\nHost: ", 17);
    evbuffer_add(head, h->host, h->host_len);
    evbuffer_add(head, "\r\n", 2);
    /* What phiguard adds for the app (identity, forwarding, request id):
     * the app answers the GET as it would answer this requester. */
    size_t extra = evbuffer_get_length(req->up_add_headers);
    evbuffer_add(head, evbuffer_pullup(req->up_add_headers, -1), extra);
    static const char tail[] =
        "Accept: application/json, application/fhir+json\r\nAccept-Encoding: identity\r\nConnection: close\r\n\r\n";
    evbuffer_add(head, tail, sizeof tail - 1);
    size_t n = evbuffer_get_length(head);
    t->fetch = pg_fetch_start(req->worker, (const char *)evbuffer_pullup(head, -1), n, &t->before,
                              cfg->audit.track_timeout_ms, fetched, req);
    evbuffer_free(head);
    if (!t->fetch)
        return PG_ERROR;
    return PG_SUSPEND;
}

static void track_abort(struct pg_request *req)
{
    if (req->track) {
        pg_fetch_cancel(req->track->fetch);
        req->track->fetch = NULL;
    }
}

const struct pg_filter pg_filter_track = {
    .name = "track",
    .phase = PG_PHASE_REQUEST_BODY,
    .run = track_run,
    .abort = track_abort,
};

static enum pg_filter_result track_log_run(struct pg_request *req)
{
    struct pg_track *t = req->track;
    if (t && t->before_status)
        pg_audit_modification(req, t);
    return PG_NEXT;
}

const struct pg_filter pg_filter_track_log = {
    .name = "track_log",
    .phase = PG_PHASE_LOG,
    .run = track_log_run,
};
