#include "proxy/audit_request.h"

#include <http_parser.h>
#include <stdio.h>
#include <string.h>

#include "policy/chain.h"
#include "policy/policy.h"
#include "proxy/conn.h"
#include "proxy/request.h"
#include "proxy/session.h"
#include "proxy/worker.h"

/* AuditEvent.action and subtype from the method. */
static char action_of(int method, const char **subtype, bool has_id)
{
    switch (method) {
    case HTTP_GET:
    case HTTP_HEAD:
        *subtype = has_id ? "read" : "search";
        return 'R';
    case HTTP_POST:
        *subtype = "create";
        return 'C';
    case HTTP_PUT:
    case HTTP_PATCH:
        *subtype = "update";
        return 'U';
    case HTTP_DELETE:
        *subtype = "delete";
        return 'D';
    default:
        *subtype = "execute";
        return 'E';
    }
}

static int outcome_of(int status)
{
    if (status >= 500)
        return PG_OUTCOME_SERIOUS_FAILURE;
    if (status >= 400)
        return PG_OUTCOME_MINOR_FAILURE;
    return PG_OUTCOME_SUCCESS;
}

enum pg_audit_seal pg_audit_seal_request(struct pg_request *req, int status, pg_audit_release_fn release)
{
    if (req->audited || !req->worker->audit)
        return PG_AUDIT_RELEASE;
    req->audited = true;
    const struct pg_http_head *h = &req->head;
    char path[2048];
    size_t pl = h->path_len < sizeof path - 1 ? h->path_len : sizeof path - 1;
    memcpy(path, h->target, pl); /* the query string never enters the trail */
    path[pl] = '\0';
    char ua[512] = "";
    struct pg_header *uah = pg_http_find(&req->head, "user-agent");
    if (uah) {
        size_t n = uah->value_len < sizeof ua - 1 ? uah->value_len : sizeof ua - 1;
        memcpy(ua, uah->value, n);
        ua[n] = '\0';
    }
    char session_hash[PG_HASH_HEX];
    struct pg_audit_record r = {.type = "rest", .outcome = outcome_of(status), .request_id = req->id};
    r.action = action_of(h->method, &r.subtype, req->entity[0] && strchr(req->entity, '/'));
    r.agent.client_ip = req->conn->client_ip;
    r.agent.user_agent = ua[0] ? ua : NULL;
    if (req->authenticated) {
        r.agent.user_id = req->user;
        r.agent.roles = req->role_names;
        r.agent.nroles = (size_t)req->nrole_names;
        if (req->session) {
            r.agent.username = req->session->s.username;
            pg_chain_session_hash(req->session->s.sid, session_hash);
            r.agent.session_hash = session_hash;
        }
    }
    r.http.method = h->method_name;
    r.http.route = req->route ? req->route->pattern : NULL;
    r.http.path = path;
    r.http.status = status;
    r.entity = req->entity[0] ? req->entity : NULL;
    r.rule = req->route ? req->route->name : NULL;
    struct pg_audit_detail details[2];
    size_t nd = 0;
    if (req->break_glass)
        details[nd++] = (struct pg_audit_detail){"break_glass", "true"};
    if (req->error)
        details[nd++] = (struct pg_audit_detail){"error", req->error};
    r.details = nd ? details : NULL;
    r.ndetails = nd;
    return pg_audit_write(req->worker, &r, req, release);
}
