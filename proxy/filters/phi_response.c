/* PHI on its way back to the client (issue 6, docs/phi.md).
 *
 * Response-headers phase: a JSON body on a route with response fields goes
 * through the streaming rewriter, which opens each selected envelope for a
 * requester holding the field's read permission and masks or removes it
 * for others; the body is re-framed (chunked), since its length changes; a
 * gzip or deflate body is decoded first. With phi.scan_responses: json,
 * every other response is searched for envelopes, which are masked in place
 * (policy/scrub.h), so that one the app returns where the policy names no
 * field still never reaches a client. Plugins with body fields
 * (proxy/plugin_body.h) get the values of any JSON response after the
 * policy's fields were opened or masked.
 *
 * Log phase: what the body disclosed is recorded (a phi-disclosure audit
 * record with field names and counts, never values), and an envelope that
 * did not open raises an alert: it was tampered with, moved to another
 * field, or sealed under a key the ring no longer has. */
#include <stdio.h>
#include <string.h>

#include "proxy/audit_request.h"
#include "proxy/body_xform.h"
#include "proxy/detect.h"
#include "proxy/filters/filters.h"
#include "proxy/log.h"
#include "proxy/phi_request.h"
#include "proxy/plugin_body.h"
#include "proxy/request.h"
#include "proxy/security_event.h"
#include "proxy/session.h"
#include "proxy/worker.h"

static enum pg_rw_action reveal_value(void *arg, const struct pg_rw_value *v, struct pg_rw_token *out)
{
    struct pg_phi_req *p = arg;
    return pg_phi_reveal_value(&p->out, v, out);
}

static enum pg_filter_result phi_response_run(struct pg_request *req)
{
    if (!req->up || !req->resp_head_done)
        return PG_NEXT; /* phiguard's own answer */
    const struct pg_config *cfg = req->worker->cfg;
    const struct pg_route *route = req->route;
    bool fields = route && route->nphi_response > 0;
    bool scan = cfg->phi.scan_responses == PG_PHI_SCAN_JSON && cfg->phi.keyring_file;
    struct pg_http_head *r = &req->resp;
    bool plugins = pg_plugins_body_wanted(true);
    if ((!fields && !scan && !plugins) || r->body == PG_BODY_NONE || r->status == 101)
        return PG_NEXT;
    struct pg_header *ce = pg_http_find_id(r, PG_H_CONTENT_ENCODING);
    int coding = pg_body_coding_of(ce ? ce->value : NULL, ce ? ce->value_len : 0);
    bool json = pg_phi_json_content_type(pg_http_find_id(r, PG_H_CONTENT_TYPE));
    if (scan && coding == PG_CODING_IDENTITY && (!fields || !json) && !(plugins && json)) {
        /* No field to open: a search for envelopes, masked in place, is all
         * it takes, at memchr speed and with the framing as it is; this
         * covers bodies of any type. */
        struct pg_phi_req *p = pg_phi_req_of(req);
        if (!p)
            return PG_ERROR;
        p->scrubbing = true;
        pg_scrub_init(&p->scrub);
        return PG_NEXT;
    }
    if (!json)
        return PG_NEXT;
    if (coding < 0) {
        if (!fields)
            return PG_NEXT; /* not readable, and no field of this route is PHI */
        pg_log(PG_LOG_ERROR, "phi_response_refused",
               "\"request_id\":\"%s\",\"reason\":\"the app answered a PHI route with a content coding phiguard "
               "cannot decode\"",
               req->id);
        return PG_ERROR;
    }
    struct pg_phi_req *p = fields || scan ? pg_phi_req_of(req) : NULL;
    if (!p && (fields || scan)) {
        pg_log(PG_LOG_ERROR, "phi_response_refused", "\"request_id\":\"%s\",\"reason\":\"no PHI keyring is loaded\"",
               req->id);
        return PG_ERROR;
    }
    /* Plugins see values after the policy opened or masked them; envelopes
     * they leave are masked as strays. */
    const struct pg_sel_set *set = fields ? route->sel_response : NULL;
    pg_rw_value_fn fn = p ? reveal_value : NULL;
    void *arg = p;
    struct pg_rw_options opt = {.scan_envelopes = p != NULL, .max_value_bytes = cfg->phi.max_value_bytes};
    if (pg_plugin_body_wrap(req, true, fields ? route->phi_response : NULL, fields ? route->nphi_response : 0, &set,
                            &fn, &arg, &opt) != 0)
        return PG_ERROR;
    req->resp_xform = pg_body_xform_new(set, &opt, fn, arg, (enum pg_body_coding)coding, UINT64_MAX);
    if (!req->resp_xform)
        return PG_ERROR;
    pg_plugin_body_xform(req, true, req->resp_xform);
    if (ce)
        ce->drop = true; /* it goes on decoded */
    return PG_NEXT;
}

const struct pg_filter pg_filter_phi_response = {
    .name = "phi_response",
    .phase = PG_PHASE_RESPONSE_HEADERS,
    .run = phi_response_run,
};

static enum pg_filter_result phi_log_run(struct pg_request *req)
{
    struct pg_phi_req *p = req->phi;
    if (!p || (!req->resp_xform && !p->scrubbing))
        return PG_NEXT;
    uint32_t masked = 0, removed = 0, failed = 0;
    for (int i = 0; i <= p->out.nfields; i++) {
        masked += p->out.tally[i].masked;
        removed += p->out.tally[i].removed;
        failed += p->out.tally[i].failed;
    }
    uint32_t strays = p->out.tally[p->out.nfields].masked;
    const struct pg_audit_phi *disclosed;
    size_t n = pg_phi_req_disclosed(p, &disclosed);
    if (n || masked || removed)
        pg_audit_phi_disclosure(req, disclosed, n, masked, removed, failed);
    uint32_t clear = 0;
    for (size_t i = 0; i < n; i++)
        clear += disclosed[i].count;
    if (clear && req->authenticated) /* exfiltration: PHI values one user got in clear */
        pg_detect(req, PG_DETECT_PHI_EXFILTRATION, req->session ? req->session->s.username : req->user, req->user,
                  clear);
    const char *route = req->route && req->route->name ? req->route->name : "";
    if (failed) {
        /* Tampered, moved to another field, or under a key the ring lost. */
        pg_security_event(req, "phi-envelope-invalid", "failure", req->user, NULL,
                          "\"failed\":%u,\"stray\":%u,\"route\":\"%s\"", failed, strays, route);
        pg_alert_raise(req->worker, "high", "phi_envelope_invalid", req->user,
                       "\"request_id\":\"%s\",\"failed\":%u,\"stray\":%u", req->id, failed, strays);
    } else if (strays) {
        /* The app returns ciphertext in a field this route's policy does
         * not name: masked, and the policy likely misses a field. */
        pg_alert_raise(req->worker, "medium", "phi_envelope_unselected", req->user,
                       "\"request_id\":\"%s\",\"stray\":%u,\"route\":\"%s\"", req->id, strays, route);
    }
    return PG_NEXT;
}

const struct pg_filter pg_filter_phi_log = {
    .name = "phi_log",
    .phase = PG_PHASE_LOG,
    .run = phi_log_run,
};
