#include "proxy/request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <http_parser.h>

#include "policy/policy.h"
#include "proxy/audit_request.h"
#include "proxy/body_xform.h"
#include "proxy/phi_request.h"
#include "proxy/plugin_host.h"
#include "proxy/track.h"
#include "proxy/conn.h"
#include "proxy/log.h"
#include "proxy/session.h"
#include "proxy/upstream.h"
#include "proxy/worker.h"

uint64_t pg_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

struct pg_request *pg_request_new(struct pg_conn *conn)
{
    struct pg_request *req = calloc(1, sizeof *req);
    if (!req)
        return NULL;
    req->conn = conn;
    req->worker = conn->worker;
    req->t_start_us = pg_now_us();
    req->up_add_headers = evbuffer_new();
    req->resp_add_headers = evbuffer_new();
    if (!req->up_add_headers || !req->resp_add_headers) {
        pg_request_free(req);
        return NULL;
    }
    struct pg_worker *w = conn->worker;
    /* Random per-start prefix, worker index, sequence: unique without a
     * random draw per request. */
    static const char hex[] = "0123456789abcdef";
    memcpy(req->id, w->request_prefix, 16);
    req->id[16] = hex[(w->index >> 4) & 15];
    req->id[17] = hex[w->index & 15];
    uint64_t seq = ++w->request_seq;
    for (int i = 29; i >= 18; i--, seq >>= 4)
        req->id[i] = hex[seq & 15];
    req->id[30] = '\0';
    req->keep_client = true;
    return req;
}

void pg_request_free(struct pg_request *req)
{
    if (!req)
        return;
    if (req->up)
        pg_upstream_abort(req);
    if (req->up_timer)
        event_free(req->up_timer);
    if (req->up_add_headers)
        evbuffer_free(req->up_add_headers);
    if (req->resp_add_headers)
        evbuffer_free(req->resp_add_headers);
    if (req->local_body)
        evbuffer_free(req->local_body);
    pg_body_xform_free(req->body_xform);
    pg_body_xform_free(req->resp_xform);
    pg_phi_req_free(req->phi);
    pg_track_free(req->track);
    pg_plugin_req_free(req->plugin);
    if (req->local_headers)
        evbuffer_free(req->local_headers);
    if (req->held)
        evbuffer_free(req->held);
    if (req->filter_state_free)
        req->filter_state_free(req->filter_state);
    pg_session_ref_release(req->session);
    pg_http_head_free(&req->head);
    pg_http_head_free(&req->resp);
    pg_policy_unref(req->policy);
    free(req);
}

void pg_request_set_decision(struct pg_request *req, const struct pg_decision *d)
{
    req->route = d->route;
    req->entity[0] = '\0';
    if (!d->route || !d->route->entity_type)
        return;
    if (d->nparams > 0)
        snprintf(req->entity, sizeof req->entity, "%s/%.*s", d->route->entity_type, (int)d->param_len[0],
                 d->param_value[0]);
    else
        snprintf(req->entity, sizeof req->entity, "%s", d->route->entity_type);
}

void pg_add_header(struct evbuffer *buf, const char *name, const char *value, size_t value_len)
{
    evbuffer_add(buf, name, strlen(name));
    evbuffer_add(buf, ": ", 2);
    evbuffer_add(buf, value, value_len);
    evbuffer_add(buf, "\r\n", 2);
}

static void run_from(struct pg_request *req)
{
    while (req->phase <= PG_PHASE_UPSTREAM) {
        const struct pg_filter_list *fl = pg_filters_for(req->phase);
        while (req->filter_index < fl->count) {
            const struct pg_filter *f = fl->items[req->filter_index];
            enum pg_filter_result r = f->run(req);
            switch (r) {
            case PG_NEXT:
                req->filter_index++;
                break;
            case PG_SUSPEND:
                req->suspended = true;
                return;
            case PG_RESPOND:
                return;
            case PG_ERROR:
                pg_log(PG_LOG_ERROR, "filter_failed", "\"request_id\":\"%s\",\"filter\":\"%s\"", req->id, f->name);
                pg_request_respond_error(req, 500, "internal_error");
                return;
            }
        }
        req->phase++;
        req->filter_index = 0;
    }
}

void pg_request_run(struct pg_request *req)
{
    run_from(req);
}

void pg_request_resume(struct pg_request *req, enum pg_filter_result result)
{
    req->suspended = false;
    switch (result) {
    case PG_NEXT:
        req->filter_index++;
        run_from(req);
        break;
    case PG_SUSPEND:
        req->suspended = true;
        break;
    case PG_RESPOND:
        break;
    case PG_ERROR:
        pg_request_respond_error(req, 500, "internal_error");
        break;
    }
}

int pg_request_response_headers(struct pg_request *req)
{
    const struct pg_filter_list *fl = pg_filters_for(PG_PHASE_RESPONSE_HEADERS);
    for (int i = 0; i < fl->count; i++) {
        if (fl->items[i]->run(req) != PG_NEXT) {
            pg_log(PG_LOG_ERROR, "filter_failed", "\"request_id\":\"%s\",\"filter\":\"%s\"", req->id,
                   fl->items[i]->name);
            return 500;
        }
    }
    return 0;
}

static void run_log_phase(struct pg_request *req)
{
    const struct pg_filter_list *fl = pg_filters_for(PG_PHASE_LOG);
    for (int i = 0; i < fl->count; i++)
        fl->items[i]->run(req);
}

struct pg_ticket {
    struct pg_request *req; /* NULL once the request is gone */
};

struct pg_ticket *pg_request_suspend(struct pg_request *req)
{
    struct pg_ticket *t = malloc(sizeof *t);
    if (!t)
        return NULL;
    t->req = req;
    req->ticket = t;
    return t;
}

struct pg_request *pg_ticket_redeem(struct pg_ticket *t)
{
    struct pg_request *req = t->req;
    if (req)
        req->ticket = NULL;
    free(t);
    return req;
}

static void abort_suspended_filter(struct pg_request *req)
{
    if (req->ticket) {
        req->ticket->req = NULL; /* the async work will find the request gone */
        req->ticket = NULL;
    }
    if (!req->suspended)
        return;
    req->suspended = false;
    const struct pg_filter_list *fl = pg_filters_for(req->phase);
    if (req->filter_index < fl->count && fl->items[req->filter_index]->abort)
        fl->items[req->filter_index]->abort(req);
}

void pg_request_abort(struct pg_request *req)
{
    abort_suspended_filter(req);
    if (!req->responded || !req->status)
        req->status = 499; /* the client went away before an answer */
    if (!req->error)
        req->error = "aborted";
    run_log_phase(req);
    pg_request_free(req);
}

void pg_request_done(struct pg_request *req)
{
    struct pg_conn *c = req->conn;
    abort_suspended_filter(req);
    run_log_phase(req);
    bool keep = req->keep_client;
    c->req = NULL;
    pg_request_free(req);
    pg_conn_request_finished(c, keep);
}

static void release_local(struct pg_request *req, bool durable);

void pg_request_respond(struct pg_request *req, int status, const char *content_type, const char *body,
                        size_t body_len)
{
    struct pg_conn *c = req->conn;
    if (req->up)
        pg_upstream_abort(req);
    if (req->responded) {
        /* A response is already partly on the wire: it cannot be replaced. */
        req->keep_client = false;
        pg_conn_abort(c);
        return;
    }
    req->status = status;
    req->responded = true;
    enum pg_audit_seal seal = pg_audit_seal_request(req, status, release_local);
    if (seal == PG_AUDIT_FAILED) {
        /* The trail cannot take it: refuse instead (fail closed). Nothing
         * reached the upstream's client side, so nothing is disclosed. */
        req->responded = false;
        req->keep_client = false;
        pg_request_respond_error(req, 503, "audit_unavailable");
        return;
    }
    /* Unread request body bytes would be taken for the next request. */
    if (!req->body_done) {
        req->keep_client = false;
        c->linger = true;
    }
    if (!req->head.keep_alive || c->worker->draining || status == 400 || status == 408)
        req->keep_client = false;

    /* The response-headers phase adds the security headers to our own
     * answers too. */
    evbuffer_drain(req->resp_add_headers, evbuffer_get_length(req->resp_add_headers));
    pg_http_head_free(&req->resp);
    if (pg_request_response_headers(req) != 0)
        req->keep_client = false;

    struct evbuffer *out = req->worker->stage;
    pg_http_add_status_line(out, status, NULL, 0);
    pg_add_header(out, "Content-Type", content_type, strlen(content_type));
    pg_http_add_content_length(out, body_len);
    evbuffer_add(out, "Cache-Control: no-store\r\n", 25);
    if (!req->keep_client)
        evbuffer_add(out, "Connection: close\r\n", 19);
    else if (req->head.minor == 0)
        evbuffer_add(out, "Connection: keep-alive\r\n", 24);
    evbuffer_add_buffer(out, req->resp_add_headers);
    if (req->local_headers)
        evbuffer_add_buffer(out, req->local_headers);
    evbuffer_add(out, "\r\n", 2);
    if (req->head.method != HTTP_HEAD)
        evbuffer_add(out, body, body_len);
    req->resp_bytes = body_len;
    if (seal == PG_AUDIT_WAIT) {
        if (!req->held && !(req->held = evbuffer_new())) {
            pg_conn_abort(c);
            return;
        }
        evbuffer_add_buffer(req->held, out);
        return; /* release_local sends it */
    }
    pg_conn_send(c, out);
    pg_request_done(req);
}

/* Strict audit: phiguard's own answer goes once its record is durable. */
static void release_local(struct pg_request *req, bool durable)
{
    if (!durable) {
        evbuffer_free(req->held);
        req->held = NULL;
        req->responded = false;
        req->keep_client = false;
        pg_request_respond_error(req, 503, "audit_unavailable");
        return;
    }
    pg_conn_send(req->conn, req->held);
    pg_request_done(req);
}

void pg_request_respond_buffer(struct pg_request *req, int status, const char *content_type, struct evbuffer *body)
{
    size_t len = evbuffer_get_length(body);
    pg_request_respond(req, status, content_type, (const char *)evbuffer_pullup(body, -1), len);
    evbuffer_free(body);
}

void pg_request_respond_error(struct pg_request *req, int status, const char *code)
{
    char body[160];
    int n = snprintf(body, sizeof body, "{\"error\":\"%s\",\"request_id\":\"%s\"}\n", code, req->id);
    req->error = code;
    pg_request_respond(req, status, "application/json", body, (size_t)n);
}
