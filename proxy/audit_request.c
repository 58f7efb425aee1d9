#include "proxy/audit_request.h"

#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/chain.h"
#include "policy/policy.h"
#include "proxy/conn.h"
#include "proxy/phi_request.h"
#include "proxy/plugin_host.h"
#include "proxy/track.h"
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

/* What every record about a request carries: who, from where, what. */
struct request_view {
    char path[2048];
    char ua[512];
    char session_hash[PG_HASH_HEX];
};

static void fill_request(struct pg_request *req, int status, struct request_view *v, struct pg_audit_record *r)
{
    const struct pg_http_head *h = &req->head;
    size_t pl = h->path_len < sizeof v->path - 1 ? h->path_len : sizeof v->path - 1;
    memcpy(v->path, h->target, pl); /* the query string never enters the trail */
    v->path[pl] = '\0';
    v->ua[0] = '\0';
    struct pg_header *uah = pg_http_find(&req->head, "user-agent");
    if (uah) {
        size_t n = uah->value_len < sizeof v->ua - 1 ? uah->value_len : sizeof v->ua - 1;
        memcpy(v->ua, uah->value, n);
        v->ua[n] = '\0';
    }
    r->outcome = outcome_of(status);
    r->request_id = req->id;
    r->action = action_of(h->method, &r->subtype, req->entity[0] && strchr(req->entity, '/'));
    r->agent.client_ip = req->conn->client_ip;
    r->agent.user_agent = v->ua[0] ? v->ua : NULL;
    if (req->authenticated) {
        r->agent.user_id = req->user;
        r->agent.roles = req->role_names;
        r->agent.nroles = (size_t)req->nrole_names;
        if (req->session) {
            r->agent.username = req->session->s.username;
            pg_chain_session_hash(req->session->s.sid, v->session_hash);
            r->agent.session_hash = v->session_hash;
        } else if (req->plugin && req->plugin->username) {
            r->agent.username = req->plugin->username; /* an authenticator plugin's identity */
        }
    }
    r->http.method = h->method_name;
    r->http.route = req->route ? req->route->pattern : NULL;
    r->http.path = v->path;
    r->http.status = status;
    r->entity = req->entity[0] ? req->entity : NULL;
    r->rule = req->route ? req->route->name : NULL;
}

enum pg_audit_seal pg_audit_seal_request(struct pg_request *req, int status, pg_audit_release_fn release)
{
    if (req->audited || !req->worker->audit)
        return PG_AUDIT_RELEASE;
    req->audited = true;
    struct request_view v;
    struct pg_audit_record r = {.type = "rest"};
    fill_request(req, status, &v, &r);
    /* The fields the request body had sealed (names and counts). */
    r.nphi = pg_phi_req_sealed(req->phi, &r.phi);
    struct pg_audit_detail details[5];
    size_t nd = 0;
    if (req->plugin && req->plugin->method) /* who vouched for the user: an authenticator plugin */
        details[nd++] = (struct pg_audit_detail){"auth_method", req->plugin->method};
    if (req->break_glass)
        details[nd++] = (struct pg_audit_detail){"break_glass", "true"};
    if (req->error)
        details[nd++] = (struct pg_audit_detail){"error", req->error};
    if (req->plugin_failed) /* the plugin whose hook failed (error is plugin_failed) */
        details[nd++] = (struct pg_audit_detail){"plugin", req->plugin_failed};
    if (req->rate_limit[0]) /* which limit refused it (error is rate_limited) */
        details[nd++] = (struct pg_audit_detail){"rate_limit", req->rate_limit};
    r.details = nd ? details : NULL;
    r.ndetails = nd;
    return pg_audit_write(req->worker, &r, req, release);
}

void pg_audit_phi_disclosure(struct pg_request *req, const struct pg_audit_phi *fields, size_t n, uint32_t masked,
                             uint32_t removed, uint32_t failed)
{
    if (!req->worker->audit)
        return;
    struct request_view v;
    struct pg_audit_record r = {.type = "phi-disclosure"};
    fill_request(req, req->status, &v, &r);
    r.phi = fields;
    r.nphi = n;
    char m[16], rm[16], f[16];
    snprintf(m, sizeof m, "%u", masked);
    snprintf(rm, sizeof rm, "%u", removed);
    snprintf(f, sizeof f, "%u", failed);
    struct pg_audit_detail details[3] = {{"failed", f}, {"masked", m}, {"removed", rm}};
    r.details = details;
    r.ndetails = 3;
    pg_audit_write(req->worker, &r, NULL, NULL);
}

/* A captured body as a NUL-terminated string (JSON has no NUL bytes; the
 * canonical writer escapes the rest). */
static char *captured_text(struct pg_capture *c)
{
    size_t n = evbuffer_get_length(c->kept);
    char *s = malloc(n + 1);
    if (!s)
        return NULL;
    evbuffer_copyout(c->kept, s, n);
    s[n] = '\0';
    return s;
}

void pg_audit_modification(struct pg_request *req, struct pg_track *t)
{
    if (!req->worker->audit)
        return;
    struct request_view v;
    struct pg_audit_record r = {.type = "modification"};
    fill_request(req, req->status, &v, &r);
    char bs[8], as[8], bl[24], al[24], bh[65], ah[65];
    snprintf(bs, sizeof bs, "%d", t->before_status);
    snprintf(as, sizeof as, "%d", req->resp_head_done ? req->resp.status : 0);
    snprintf(bl, sizeof bl, "%llu", (unsigned long long)t->before.total);
    snprintf(al, sizeof al, "%llu", (unsigned long long)t->after.total);
    pg_capture_sha256(&t->before, bh);
    pg_capture_sha256(&t->after, ah);
    char *before = captured_text(&t->before), *after = captured_text(&t->after);
    const char *trunc = pg_capture_truncated(&t->before) ? (pg_capture_truncated(&t->after) ? "before,after" : "before")
                        : pg_capture_truncated(&t->after) ? "after"
                                                         : NULL;
    struct pg_audit_detail d[9];
    size_t n = 0;
    d[n++] = (struct pg_audit_detail){"after", after ? after : ""};
    d[n++] = (struct pg_audit_detail){"after_bytes", al};
    d[n++] = (struct pg_audit_detail){"after_sha256", ah};
    d[n++] = (struct pg_audit_detail){"after_status", as};
    d[n++] = (struct pg_audit_detail){"before", before ? before : ""};
    d[n++] = (struct pg_audit_detail){"before_bytes", bl};
    d[n++] = (struct pg_audit_detail){"before_sha256", bh};
    d[n++] = (struct pg_audit_detail){"before_status", bs};
    if (trunc)
        d[n++] = (struct pg_audit_detail){"truncated", trunc};
    r.details = d;
    r.ndetails = n;
    pg_audit_write(req->worker, &r, NULL, NULL);
    free(before);
    free(after);
}
