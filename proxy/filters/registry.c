/* The filter chain: which filters run in each phase, in order. A new
 * capability adds its filter here. */
#include "proxy/filter.h"
#include "proxy/filters/filters.h"

static const struct pg_filter *const headers_phase[] = {&pg_filter_headers, &pg_filter_block_ip};
static const struct pg_filter *const authn_phase[] = {&pg_filter_authn};
static const struct pg_filter *const authz_phase[] = {&pg_filter_rbac, &pg_filter_plugin_request};
static const struct pg_filter *const limits_phase[] = {&pg_filter_block_user, &pg_filter_ratelimit};
static const struct pg_filter *const request_body_phase[] = {&pg_filter_phi_request, &pg_filter_track};
static const struct pg_filter *const upstream_phase[] = {&pg_filter_forward};
static const struct pg_filter *const response_headers_phase[] = {&pg_filter_secheaders, &pg_filter_phi_response};
static const struct pg_filter *const log_phase[] = {&pg_filter_phi_log, &pg_filter_track_log, &pg_filter_detect_log,
                                                    &pg_filter_accesslog};

#define LIST(a) {a, (int)(sizeof a / sizeof a[0])}

static const struct pg_filter_list phases[PG_PHASE_COUNT] = {
    [PG_PHASE_HEADERS] = LIST(headers_phase),
    [PG_PHASE_AUTHN] = LIST(authn_phase),
    [PG_PHASE_AUTHZ] = LIST(authz_phase),
    [PG_PHASE_LIMITS] = LIST(limits_phase),
    [PG_PHASE_REQUEST_BODY] = LIST(request_body_phase),
    [PG_PHASE_UPSTREAM] = LIST(upstream_phase),
    [PG_PHASE_RESPONSE_HEADERS] = LIST(response_headers_phase),
    [PG_PHASE_LOG] = LIST(log_phase),
};

const struct pg_filter_list *pg_filters_for(enum pg_phase phase)
{
    return &phases[phase];
}

const char *pg_phase_name(enum pg_phase phase)
{
    static const char *const names[PG_PHASE_COUNT] = {
        "headers", "authn", "authz", "limits", "request_body", "upstream", "response_headers", "response_body", "log",
    };
    return phase < PG_PHASE_COUNT ? names[phase] : "unknown";
}
