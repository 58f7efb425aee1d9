/* A test-only plugin whose hooks fail on demand (the request's query
 * string, or its Bearer token), and misuse the ABI on demand, so the tests
 * can see each failure give 500 for that request alone. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <yajl/yajl_tree.h>

#include "phiguard_plugin.h"

struct state {
    const struct phg_host *host;
};
static struct state the_state;

static char selector[128] = "$.note";
static const char *const fields[] = {selector};
static const char *const field_names[] = {"Test.note"};

static bool query_has(phg_request *r, const char *what)
{
    const char *t = the_state.host->target(r);
    const char *q = t ? strchr(t, '?') : NULL;
    return q && strstr(q, what);
}

static enum phg_result request_headers(void *state, phg_request *r)
{
    (void)state;
    const struct phg_host *h = the_state.host;
    if (query_has(r, "fail=request"))
        return PHG_FAIL;
    if (query_has(r, "bad=suspend"))
        return PHG_SUSPEND; /* without a ticket */
    if (query_has(r, "bad=respond"))
        return PHG_RESPOND; /* without host->respond */
    if (query_has(r, "bad=result"))
        return (enum phg_result)42;
    if (query_has(r, "bad=ticket")) { /* a ticket taken, and CONTINUE answered */
        phg_pending *t = h->suspend(r);
        if (t)
            h->resume(t, PHG_CONTINUE);
        return PHG_CONTINUE;
    }
    return PHG_CONTINUE;
}

static enum phg_result response_headers(void *state, phg_request *r)
{
    (void)state;
    return query_has(r, "fail=response") ? PHG_FAIL : PHG_CONTINUE;
}

static enum phg_auth_result authenticate(void *state, phg_request *r, struct phg_identity *id)
{
    (void)state;
    size_t len = 0;
    const char *v = the_state.host->header(r, "authorization", &len);
    if (v && len == 11 && !strncmp(v, "Bearer fail", 11))
        return PHG_AUTH_FAIL;
    if (v && len == 13 && !strncmp(v, "Bearer no-uid", 13)) {
        id->nroles = 0; /* OK without a user id */
        return PHG_AUTH_OK;
    }
    return PHG_AUTH_DECLINE;
}

static enum phg_body_result body_value(void *state, phg_request *r, const struct phg_json_value *v,
                                       struct phg_json_out *out)
{
    (void)state;
    (void)r;
    (void)out;
    if (v->type == 's' && v->len == 9 && !strncasecmp(v->data, "reject-me", 9))
        return PHG_BODY_REJECT; /* the client's fault (a response's counts as a failure) */
    return v->type == 's' && v->len == 7 && !strncasecmp(v->data, "fail-me", 7) ? PHG_BODY_FAIL : PHG_BODY_KEEP;
}

static int entry(uint32_t abi, const struct phg_host *host, phg_plugin_handle *self, const char *config_json,
                 struct phg_plugin *plugin, char *err, size_t errcap)
{
    (void)abi;
    (void)self;
    /* config.selector replaces its one body field's selector (a test of
     * the load refusing a bad one). */
    yajl_val root = yajl_tree_parse(config_json, NULL, 0);
    const char *path[] = {"selector", NULL};
    yajl_val sel = root ? yajl_tree_get(root, path, yajl_t_string) : NULL;
    if (sel)
        snprintf(selector, sizeof selector, "%s", YAJL_GET_STRING(sel));
    yajl_tree_free(root);
    if (!root) {
        snprintf(err, errcap, "config is not JSON");
        return -1;
    }
    the_state.host = host;
    plugin->name = "failing";
    plugin->state = &the_state;
    plugin->request_headers = request_headers;
    plugin->response_headers = response_headers;
    plugin->authenticate = authenticate;
    plugin->body_fields = fields;
    plugin->body_field_names = field_names;
    plugin->nbody_fields = 1;
    plugin->request_body_value = body_value;
    plugin->response_body_value = body_value;
    return 0;
}

PHG_PLUGIN_DECLARE(entry)
