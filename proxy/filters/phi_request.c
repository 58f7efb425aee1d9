/* Request-body phase: PHI on its way to the upstream (issue 6, docs/phi.md).
 *  - a field the policy denies to this requester (others: deny) refuses the
 *    request before anything is forwarded;
 *  - searchable values in the target (phi.query, phi.path) are sealed as
 *    the backend stores them;
 *  - the JSON body of a route with request fields goes through the
 *    streaming rewriter, which seals every selected value. A body up to
 *    phi.hold_bytes is held until it is whole, then sent with a length, so
 *    a body that turns out invalid is refused with nothing forwarded; a
 *    longer one streams on chunked, and a fault found later cuts the
 *    upstream connection before the body's end, so the app never takes a
 *    partial body for a whole one. Plaintext PHI never goes up.
 * Plugins with body fields (proxy/plugin_body.h) get the values of any JSON
 * request body, on any route, before the PHI fields are sealed. */
#include <stdlib.h>
#include <string.h>

#include "policy/envelope.h"
#include "policy/phi_target.h"
#include "proxy/body_xform.h"
#include "proxy/filters/filters.h"
#include "proxy/log.h"
#include "proxy/phi_request.h"
#include "proxy/plugin_body.h"
#include "proxy/request.h"
#include "proxy/request_body.h"
#include "proxy/worker.h"

struct phi_body_read {
    bool in_run;    /* pg_request_read_body has not returned yet */
    bool ran;       /* ... and the body completed inside it */
    int status;
};

static bool route_has_phi(const struct pg_route *r)
{
    return r && (r->nphi_request || r->nphi_response || r->nphi_query || r->nphi_path);
}

/* A client must not plant ciphertext in a PHI field: it could replay
 * another patient's envelope, and the app would take it as sealed by us. */
static enum pg_rw_action seal_value(void *arg, const struct pg_rw_value *v, struct pg_rw_token *out)
{
    struct pg_phi_req *p = arg;
    if (v->type == 's' && pg_envelope_is(v->data, v->len)) {
        pg_body_xform_refuse(p->in_xform, 400, "phi_envelope_in_request", "a PHI field already holds an envelope");
        return PG_RW_FAIL;
    }
    enum pg_rw_action a = pg_phi_seal_value(&p->in, v, out);
    if (a == PG_RW_FAIL)
        pg_body_xform_refuse(p->in_xform, 500, "phi_unavailable", "a PHI value could not be sealed");
    return a;
}

static void answer_refusal(struct pg_request *req, int status)
{
    if (req->body_xform && status == pg_body_xform_status(req->body_xform) && (status != 500 || req->plugin_failed)) {
        char why[200];
        const char *reason = pg_body_xform_reason(req->body_xform);
        pg_log(PG_LOG_WARN, "phi_request_refused", "\"request_id\":\"%s\",\"reason\":\"%s\"", req->id,
               pg_json_escape(reason, strlen(reason), why, sizeof why));
        pg_request_respond_error(req, status, pg_body_xform_code(req->body_xform));
        return;
    }
    pg_request_respond_error(req, status,
                             status == 413   ? "payload_too_large"
                             : status == 400 ? "bad_request"
                                             : "internal_error");
}

/* How the rewritten body goes up: whole with a length, or chunked while
 * the rest still arrives. */
static void set_framing(struct pg_request *req, int status)
{
    req->up_framing_set = true;
    if (status == PG_BODY_HELD) {
        req->up_body = PG_BODY_CHUNKED;
    } else {
        req->up_body = PG_BODY_LENGTH;
        req->up_length = evbuffer_get_length(req->local_body);
    }
}

static void body_read(struct pg_request *req, int status)
{
    struct phi_body_read *st = req->filter_state;
    if (st->in_run) {
        st->status = status;
        st->ran = true;
        return;
    }
    if (status != 0 && status != PG_BODY_HELD) {
        req->suspended = false;
        answer_refusal(req, status);
        return;
    }
    set_framing(req, status);
    pg_request_resume(req, PG_NEXT);
}

static enum pg_filter_result refuse(struct pg_request *req, int status, const char *code, const char *why)
{
    pg_log(PG_LOG_WARN, "phi_request_refused", "\"request_id\":\"%s\",\"reason\":\"%s\"", req->id, why);
    pg_request_respond_error(req, status, code);
    return PG_RESPOND;
}

/* others: deny means a requester without the read permission gets no
 * answer at all; known before anything is forwarded. */
static const struct pg_phi_field *denied_field(const struct pg_route *r, const pg_permset *perms)
{
    for (int i = 0; i < r->nphi_response; i++) {
        const struct pg_phi_field *f = &r->phi_response[i];
        if (f->others == PG_PHI_DENY && !(f->read_perm >= 0 && pg_permset_has(perms, f->read_perm)))
            return f;
    }
    return NULL;
}

static enum pg_filter_result rewrite_target(struct pg_request *req, struct pg_phi_req *p)
{
    struct pg_http_head *h = &req->head;
    char *target = NULL;
    size_t len = 0;
    const char *why = NULL;
    switch (pg_phi_target_rewrite(req->policy, req->route, &p->ring->ring, h->target, h->target_len, h->path_len,
                                  &target, &len, &why)) {
    case PG_PHI_TARGET_SAME:
        return PG_NEXT;
    case PG_PHI_TARGET_NEW:
        break;
    case PG_PHI_TARGET_REFUSE:
        return refuse(req, 400, "bad_request", why);
    case PG_PHI_TARGET_FAILED:
        return refuse(req, 500, "phi_unavailable", "a searchable value could not be sealed");
    }
    /* The path keeps its length only when no segment was sealed. */
    const char *q = memchr(target, '?', len);
    p->target = target;
    h->target = target;
    h->target_len = len;
    h->path_len = q ? (size_t)(q - target) : len;
    return PG_NEXT;
}

/* The app must answer in a form the rewriter reads. */
static void ask_identity_encoding(struct pg_request *req)
{
    struct pg_http_head *h = &req->head;
    for (int i = 0; i < h->n_headers; i++)
        if (pg_header_is(&h->headers[i], "accept-encoding"))
            h->headers[i].drop = true;
    evbuffer_add(req->up_add_headers, "Accept-Encoding: identity\r\n", 27);
}

/* phi_fields: the route seals request fields (its body must then be JSON);
 * otherwise only plugins read the body's values, and a body they cannot
 * read goes up untouched. */
static enum pg_filter_result start_body(struct pg_request *req, struct pg_phi_req *p, bool phi_fields)
{
    struct pg_http_head *h = &req->head;
    const struct pg_config *cfg = req->worker->cfg;
    if (!pg_phi_json_content_type(pg_http_find_id(h, PG_H_CONTENT_TYPE)))
        return phi_fields ? refuse(req, 415, "unsupported_media_type", "a PHI route takes JSON bodies only") : PG_NEXT;
    struct pg_header *ce = pg_http_find_id(h, PG_H_CONTENT_ENCODING);
    int coding = pg_body_coding_of(ce ? ce->value : NULL, ce ? ce->value_len : 0);
    if (coding < 0)
        return phi_fields ? refuse(req, 415, "unsupported_media_type",
                                   "a PHI route takes identity, gzip or deflate bodies")
                          : PG_NEXT;
    struct pg_rw_options opt = {.max_value_bytes = cfg->phi.max_value_bytes};
    const struct pg_route *r = req->route;
    const struct pg_sel_set *set = phi_fields ? r->sel_request : NULL;
    pg_rw_value_fn fn = phi_fields ? seal_value : NULL;
    void *arg = p;
    if (pg_plugin_body_wrap(req, false, phi_fields ? r->phi_request : NULL, phi_fields ? r->nphi_request : 0, &set,
                            &fn, &arg, &opt) != 0)
        return PG_ERROR;
    req->body_xform = pg_body_xform_new(set, &opt, fn, arg, (enum pg_body_coding)coding, cfg->limits.max_body_bytes);
    if (!req->body_xform)
        return PG_ERROR;
    if (p)
        p->in_xform = req->body_xform;
    pg_plugin_body_xform(req, false, req->body_xform);
    if (ce)
        ce->drop = true; /* it goes up decoded */
    struct phi_body_read *st = calloc(1, sizeof *st);
    if (!st)
        return PG_ERROR;
    st->in_run = true;
    if (req->filter_state_free)
        req->filter_state_free(req->filter_state);
    req->filter_state = st;
    req->filter_state_free = free;
    req->local_body_hold = cfg->phi.hold_bytes;
    pg_request_read_body(req, cfg->limits.max_body_bytes, body_read);
    st->in_run = false;
    if (!st->ran)
        return PG_SUSPEND; /* body_read resumes the request */
    if (st->status != 0 && st->status != PG_BODY_HELD) {
        answer_refusal(req, st->status);
        return PG_RESPOND;
    }
    set_framing(req, st->status);
    return PG_NEXT;
}

static enum pg_filter_result phi_request_run(struct pg_request *req)
{
    const struct pg_route *r = req->route;
    struct pg_http_head *h = &req->head;
    bool has_body = h->body == PG_BODY_CHUNKED || (h->body == PG_BODY_LENGTH && h->content_length > 0);
    bool plugin_body = has_body && pg_plugins_body_wanted(false); /* plugins read values on any route */
    if (!route_has_phi(r))
        return plugin_body ? start_body(req, NULL, false) : PG_NEXT;
    struct pg_phi_req *p = pg_phi_req_of(req);
    if (!p)
        return refuse(req, 503, "phi_unavailable", "no PHI keyring is loaded");
    if (req->break_glass)
        pg_policy_break_glass_perms(req->policy, req->roles, req->nroles, &p->out.perms);
    else
        pg_policy_role_perms(req->policy, req->roles, req->nroles, &p->out.perms);
    const struct pg_phi_field *denied = denied_field(r, &p->out.perms);
    if (denied) {
        pg_log(PG_LOG_INFO, "phi_deny", "\"request_id\":\"%s\",\"field\":\"%s\",\"rule_line\":%d", req->id,
               denied->logical_path, denied->line);
        pg_request_respond_error(req, 403, "forbidden");
        return PG_RESPOND;
    }
    if (rewrite_target(req, p) != PG_NEXT)
        return PG_RESPOND;
    if (r->nphi_response)
        ask_identity_encoding(req);
    if ((!r->nphi_request && !plugin_body) || !has_body)
        return PG_NEXT;
    return start_body(req, p, r->nphi_request > 0);
}

const struct pg_filter pg_filter_phi_request = {
    .name = "phi_request",
    .phase = PG_PHASE_REQUEST_BODY,
    .run = phi_request_run,
};
