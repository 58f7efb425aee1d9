#include "proxy/admin.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/log.h"
#include "proxy/policy_store.h"

struct pg_admin {
    struct evhttp *http;
    struct pg_admin_hooks hooks;
};

static void reply_json(struct evhttp_request *r, int code, const char *reason, const char *body)
{
    struct evbuffer *out = evbuffer_new();
    if (!out) {
        evhttp_send_error(r, 500, NULL);
        return;
    }
    evbuffer_add(out, body, strlen(body));
    struct evkeyvalq *h = evhttp_request_get_output_headers(r);
    evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_send_reply(r, code, reason, out);
    evbuffer_free(out);
}

static void admin_cb(struct evhttp_request *r, void *arg)
{
    struct pg_admin *a = arg;
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(r));
    if (!path)
        path = "";
    if (strcmp(path, "/healthz") == 0) {
        reply_json(r, 200, "OK", "{\"status\":\"ok\"}\n");
    } else if (strcmp(path, "/readyz") == 0) {
        if (a->hooks.ready(a->hooks.arg))
            reply_json(r, 200, "OK", "{\"status\":\"ready\"}\n");
        else
            reply_json(r, 503, "Service Unavailable", "{\"status\":\"not_ready\"}\n");
    } else if (strcmp(path, "/audit") == 0) {
        char body[16384]; /* ~230 bytes a chain: room for 64 workers */
        a->hooks.describe_audit(body, sizeof body, a->hooks.arg);
        reply_json(r, 200, "OK", body);
    } else if (strcmp(path, "/metrics") == 0) {
        struct evbuffer *out = evbuffer_new();
        if (!out) {
            evhttp_send_error(r, 500, NULL);
            return;
        }
        a->hooks.metrics(out, a->hooks.arg);
        struct evkeyvalq *h = evhttp_request_get_output_headers(r);
        evhttp_add_header(h, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
        evhttp_add_header(h, "Cache-Control", "no-store");
        evhttp_send_reply(r, 200, "OK", out);
        evbuffer_free(out);
    } else if (strcmp(path, "/policy") == 0) {
        char body[1024];
        pg_policy_store_describe(body, sizeof body);
        reply_json(r, 200, "OK", body);
    } else {
        reply_json(r, 404, "Not Found", "{\"error\":\"not_found\"}\n");
    }
}

struct pg_admin *pg_admin_start(struct event_base *base, const struct pg_addr *addr,
                                const struct pg_admin_hooks *hooks)
{
    struct pg_admin *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->hooks = *hooks;
    a->http = evhttp_new(base);
    struct evconnlistener *l =
        a->http ? evconnlistener_new_bind(base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
                                          128, (const struct sockaddr *)&addr->ss, (int)addr->len)
                : NULL;
    if (!l || !evhttp_bind_listener(a->http, l)) {
        pg_log(PG_LOG_ERROR, "admin_listen_failed", "\"address\":\"%s\",\"error\":\"%s\"", addr->text,
               strerror(errno));
        if (l)
            evconnlistener_free(l);
        pg_admin_free(a);
        return NULL;
    }
    evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
    evhttp_set_timeout(a->http, 10);
    evhttp_set_max_headers_size(a->http, 8192);
    evhttp_set_max_body_size(a->http, 0);
    evhttp_set_gencb(a->http, admin_cb, a);
    return a;
}

void pg_admin_free(struct pg_admin *a)
{
    if (!a)
        return;
    if (a->http)
        evhttp_free(a->http);
    free(a);
}
