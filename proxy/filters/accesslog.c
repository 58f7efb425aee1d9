/* Log phase: one access line per request, and the request's counters for
 * /metrics. Never a body and never a query string: either can carry PHI. */
#include <string.h>

#include "proxy/conn.h"
#include "proxy/filters/filters.h"
#include "proxy/log.h"
#include "proxy/metrics.h"
#include "proxy/request.h"
#include "proxy/worker.h"

static enum pg_filter_result accesslog_run(struct pg_request *req)
{
    pg_metrics_request(req);
    if (!req->worker->cfg->access_log)
        return PG_NEXT;
    char path[1024], method[32];
    const struct pg_http_head *h = &req->head;
    pg_json_escape(h->target ? h->target : "", h->target ? h->path_len : 0, path, sizeof path);
    pg_json_escape(h->method_name ? h->method_name : "-", h->method_name ? strlen(h->method_name) : 1, method,
                   sizeof method);
    uint64_t now = pg_now_us();
    double upstream_ms = req->t_upstream_us ? (double)(now - req->t_upstream_us) / 1000.0 : 0.0;
    pg_log(PG_LOG_INFO, "access",
           "\"worker\":%d,\"request_id\":\"%s\",\"client\":\"%s\",\"method\":\"%s\",\"path\":\"%s\","
           "\"status\":%d,\"bytes_in\":%llu,\"bytes_out\":%llu,\"duration_ms\":%.3f,\"upstream_ms\":%.3f%s%s%s%s%s%s%s%s%s",
           req->worker->index, req->id, req->conn->client_ip, method, path, req->status,
           (unsigned long long)req->body_bytes, (unsigned long long)req->resp_bytes,
           (double)(now - req->t_start_us) / 1000.0, upstream_ms, req->error ? ",\"error\":\"" : "",
           req->error ? req->error : "", req->error ? "\"" : "", req->user ? ",\"user\":\"" : "",
           req->user ? req->user : "", req->user ? "\"" : "", req->rate_limit[0] ? ",\"rate_limit\":\"" : "",
           req->rate_limit, req->rate_limit[0] ? "\"" : "");
    return PG_NEXT;
}

const struct pg_filter pg_filter_accesslog = {
    .name = "accesslog",
    .phase = PG_PHASE_LOG,
    .run = accesslog_run,
};
