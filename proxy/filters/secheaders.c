/* Response headers phase: the configured security headers on every
 * response, phiguard's own answers included, and nothing that tells an
 * attacker what the backend runs. */
#include <string.h>

#include "proxy/filters/filters.h"
#include "proxy/request.h"
#include "proxy/worker.h"

struct sec_header {
    const char *name;
    enum pg_header_id id;
    size_t offset;
};

static const struct sec_header sec_headers[] = {
    {"Strict-Transport-Security", PG_H_STRICT_TRANSPORT_SECURITY,
     offsetof(struct pg_security_headers_config, strict_transport_security)},
    {"X-Content-Type-Options", PG_H_X_CONTENT_TYPE_OPTIONS,
     offsetof(struct pg_security_headers_config, x_content_type_options)},
    {"X-Frame-Options", PG_H_X_FRAME_OPTIONS, offsetof(struct pg_security_headers_config, x_frame_options)},
    {"Content-Security-Policy", PG_H_CONTENT_SECURITY_POLICY,
     offsetof(struct pg_security_headers_config, content_security_policy)},
    {"Referrer-Policy", PG_H_REFERRER_POLICY, offsetof(struct pg_security_headers_config, referrer_policy)},
};

static const char *configured(const struct pg_config *cfg, const struct sec_header *s)
{
    return *(char *const *)((const char *)&cfg->security_headers + s->offset);
}

static enum pg_filter_result secheaders_run(struct pg_request *req)
{
    const struct pg_config *cfg = req->worker->cfg;
    struct pg_http_head *r = &req->resp;
    if (r->buf) {
        pg_drop_hop_by_hop(r);
        for (int i = 0; i < r->n_headers; i++) {
            struct pg_header *hd = &r->headers[i];
            if (hd->id == PG_H_SERVER || hd->id == PG_H_X_POWERED_BY || hd->id == PG_H_X_REQUEST_ID)
                hd->drop = true;
            for (size_t k = 0; k < sizeof sec_headers / sizeof sec_headers[0]; k++)
                if (hd->id == sec_headers[k].id && configured(cfg, &sec_headers[k]))
                    hd->drop = true; /* the configured value wins */
        }
    }
    struct evbuffer *add = req->resp_add_headers;
    for (size_t k = 0; k < sizeof sec_headers / sizeof sec_headers[0]; k++) {
        const char *v = configured(cfg, &sec_headers[k]);
        if (v && *v)
            pg_add_header(add, sec_headers[k].name, v, strlen(v));
    }
    pg_add_header(add, "X-Request-Id", req->id, strlen(req->id));
    return PG_NEXT;
}

const struct pg_filter pg_filter_secheaders = {
    .name = "secheaders",
    .phase = PG_PHASE_RESPONSE_HEADERS,
    .run = secheaders_run,
};
