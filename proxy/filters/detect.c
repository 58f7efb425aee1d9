/* Detection rules at the edges of a request (proxy/detect.h):
 *  - headers phase: a client address under a block is refused (403) before
 *    anything else, sign-in included;
 *  - limits phase: so is a signed-in user under a block;
 *  - log phase: 403 answers count towards forbidden_burst (per user, or
 *    per address when anonymous), and phiguard's own 400 answers (malformed
 *    requests) towards malformed_ip. PHI disclosed counts towards
 *    phi_exfiltration where the PHI filter knows the figure. */
#include <stdio.h>
#include <string.h>

#include "proxy/blocks.h"
#include "proxy/conn.h"
#include "proxy/detect.h"
#include "proxy/filters/filters.h"
#include "proxy/log.h"
#include "proxy/metrics.h"
#include "proxy/request.h"
#include "proxy/session.h"
#include "proxy/worker.h"

static enum pg_filter_result refuse_blocked(struct pg_request *req, int64_t left_ms)
{
    if (req->worker->metrics)
        req->worker->metrics->blocked_requests++;
    char retry[24];
    snprintf(retry, sizeof retry, "%lld", (long long)((left_ms + 999) / 1000));
    if (!req->local_headers)
        req->local_headers = evbuffer_new();
    if (req->local_headers)
        pg_add_header(req->local_headers, "Retry-After", retry, strlen(retry));
    pg_request_respond_error(req, 403, "blocked");
    return PG_RESPOND;
}

static enum pg_filter_result block_ip_run(struct pg_request *req)
{
    int64_t left = 0;
    if (pg_blocks_check(PG_BLOCK_IP, req->conn->client_ip, &left))
        return refuse_blocked(req, left);
    return PG_NEXT;
}

static enum pg_filter_result block_user_run(struct pg_request *req)
{
    int64_t left = 0;
    if (req->authenticated && pg_blocks_check(PG_BLOCK_USER, req->user, &left))
        return refuse_blocked(req, left);
    return PG_NEXT;
}

static enum pg_filter_result detect_log_run(struct pg_request *req)
{
    if (req->status == 403 && !(req->error && !strcmp(req->error, "blocked"))) {
        if (req->authenticated && req->user)
            pg_detect(req, PG_DETECT_FORBIDDEN_BURST, req->session ? req->session->s.username : req->user, req->user,
                      1);
        else
            pg_detect(req, PG_DETECT_FORBIDDEN_BURST, req->conn->client_ip, NULL, 1);
    }
    if (req->status == 400 && req->error) /* phiguard's own: the app's 400s are the app's business */
        pg_detect(req, PG_DETECT_MALFORMED_IP, req->conn->client_ip, NULL, 1);
    return PG_NEXT;
}

const struct pg_filter pg_filter_block_ip = {
    .name = "block_ip",
    .phase = PG_PHASE_HEADERS,
    .run = block_ip_run,
};

const struct pg_filter pg_filter_block_user = {
    .name = "block_user",
    .phase = PG_PHASE_LIMITS,
    .run = block_user_run,
};

const struct pg_filter pg_filter_detect_log = {
    .name = "detect_log",
    .phase = PG_PHASE_LOG,
    .run = detect_log_run,
};
