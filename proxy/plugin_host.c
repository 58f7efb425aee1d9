/* The host side of the plugin ABI (proxy/plugin_host.h). A phg_request is
 * the core's struct pg_request; a phg_plugin_handle is the loader's. */
#include "proxy/plugin_host.h"

#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "policy/envelope.h"
#include "policy/policy.h"
#include "proxy/conn.h"
#include "proxy/log.h"
#include "proxy/phi_keys.h"
#include "proxy/plugin_body.h"
#include "proxy/plugin_loader.h"
#include "proxy/request.h"
#include "proxy/security_event.h"
#include "proxy/worker.h"

#define REQ(r) ((struct pg_request *)(void *)(r))

/* ---- each worker's queue of work from other threads ---- */

struct queue_item {
    struct queue_item *next;
    void (*run)(struct pg_worker *w, struct queue_item *it); /* on the worker's loop; frees it */
    void (*drop)(struct queue_item *it);                      /* the loop is gone: frees it */
};

struct worker_queue {
    pthread_mutex_t mu;
    /* Set once, after mu is made, by the worker's thread; read without mu
     * by any thread that posts (a plugin's alert or resume may come before
     * the worker attached). */
    _Atomic bool init;
    struct pg_worker *w; /* NULL once detached */
    struct event *ev;
    struct queue_item *head, *tail;
    struct event *expiry; /* closes upgraded connections whose plugin identity ran out */
};

#define EXPIRY_CHECK_S 1

#define MAX_QUEUES 257 /* workers: at most 256 */
static struct worker_queue queues[MAX_QUEUES];

static void queue_run(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct worker_queue *q = arg;
    pthread_mutex_lock(&q->mu);
    struct queue_item *it = q->head;
    q->head = q->tail = NULL;
    struct pg_worker *w = q->w;
    pthread_mutex_unlock(&q->mu);
    while (it) {
        struct queue_item *next = it->next;
        it->run(w, it);
        it = next;
    }
}

/* Any thread. False when the worker's loop is gone (the item was dropped). */
static bool queue_post(int index, struct queue_item *it)
{
    struct worker_queue *q = index >= 0 && index < MAX_QUEUES ? &queues[index] : NULL;
    if (!q || !atomic_load_explicit(&q->init, memory_order_acquire)) {
        it->drop(it);
        return false;
    }
    it->next = NULL;
    pthread_mutex_lock(&q->mu);
    if (!q->w) {
        pthread_mutex_unlock(&q->mu);
        it->drop(it);
        return false;
    }
    if (q->tail)
        q->tail->next = it;
    else
        q->head = it;
    q->tail = it;
    event_active(q->ev, EV_READ, 0);
    pthread_mutex_unlock(&q->mu);
    return true;
}

/* An upgraded connection lives on after its request was authorized: once
 * the credential an authenticator plugin vouched for runs out, it ends, as
 * one whose phiguard session ended does. */
static void close_expired(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pg_worker *w = arg;
    int64_t now = (int64_t)time(NULL);
    for (struct pg_conn *c = w->conns, *next; c; c = next) {
        next = c->next;
        struct pg_request *req = c->req;
        if (c->state != PG_CONN_TUNNEL || !req || !req->plugin || !req->plugin->expires_at ||
            now < req->plugin->expires_at)
            continue;
        pg_log(PG_LOG_INFO, "tunnel_closed", "\"request_id\":\"%s\",\"reason\":\"identity expired\"", req->id);
        pg_conn_abort(c);
    }
}

int pg_plugin_worker_attach(struct pg_worker *w)
{
    if (w->index < 0 || w->index >= MAX_QUEUES)
        return -1;
    struct worker_queue *q = &queues[w->index];
    if (!atomic_load_explicit(&q->init, memory_order_acquire)) {
        /* Never destroyed: a plugin's thread may still post after the
         * worker is gone, and finds the queue detached. */
        if (pthread_mutex_init(&q->mu, NULL) != 0)
            return -1;
        atomic_store_explicit(&q->init, true, memory_order_release);
    }
    struct event *ev = event_new(w->base, -1, 0, queue_run, q);
    if (!ev)
        return -1;
    if (pg_plugins_authenticate_any()) {
        struct timeval every = {EXPIRY_CHECK_S, 0};
        struct event *expiry = event_new(w->base, -1, EV_PERSIST, close_expired, w);
        if (!expiry || event_add(expiry, &every) != 0) {
            if (expiry)
                event_free(expiry);
            event_free(ev);
            return -1;
        }
        q->expiry = expiry;
    }
    pthread_mutex_lock(&q->mu);
    q->ev = ev;
    q->w = w;
    pthread_mutex_unlock(&q->mu);
    return 0;
}

void pg_plugin_worker_detach(struct pg_worker *w)
{
    if (w->index < 0 || w->index >= MAX_QUEUES || !atomic_load_explicit(&queues[w->index].init, memory_order_acquire))
        return;
    struct worker_queue *q = &queues[w->index];
    pthread_mutex_lock(&q->mu);
    struct queue_item *it = q->head;
    struct event *ev = q->ev, *expiry = q->expiry;
    q->head = q->tail = NULL;
    q->ev = q->expiry = NULL;
    q->w = NULL;
    pthread_mutex_unlock(&q->mu);
    if (expiry)
        event_free(expiry);
    while (it) {
        struct queue_item *next = it->next;
        it->drop(it);
        it = next;
    }
    if (ev)
        event_free(ev);
}

/* ---- per-request state ---- */

struct pg_plugin_req *pg_plugin_req_of(struct pg_request *req)
{
    if (!req->plugin)
        req->plugin = calloc(1, sizeof *req->plugin);
    return req->plugin;
}

void pg_plugin_req_free(struct pg_plugin_req *pr)
{
    if (!pr)
        return;
    pg_plugin_body_free(pr->body_in);
    pg_plugin_body_free(pr->body_out);
    free(pr->target);
    free(pr->user_id);
    free(pr->username);
    free(pr->method);
    for (int i = 0; i < pr->nroles; i++)
        free(pr->roles[i]);
    free(pr);
}

/* ---- suspension ---- */

struct phg_pending {
    struct queue_item item; /* first: the queue's view of it */
    struct pg_ticket *ticket; /* read and written on the owning loop only; NULL: void */
    int worker;
    int plugin;
    pg_plugin_cont_fn cont;
    _Atomic bool resumed;
    int result;
    bool has_identity;
    struct phg_identity id; /* its strings are the copies below */
    char *user_id, *username, *method, *roles[PHG_MAX_ROLES];
};

static void pending_free(struct phg_pending *p)
{
    free(p->user_id);
    free(p->username);
    free(p->method);
    for (int i = 0; i < PHG_MAX_ROLES; i++)
        free(p->roles[i]);
    free(p);
}

static void pending_run(struct pg_worker *w, struct queue_item *it)
{
    (void)w;
    struct phg_pending *p = (struct phg_pending *)it;
    struct pg_request *req = p->ticket ? pg_ticket_redeem(p->ticket) : NULL;
    if (req) { /* NULL: the client left, or the hook's ticket was void */
        if (req->plugin)
            req->plugin->pending = NULL;
        struct pg_plugin_resumed how = {.result = p->result, .identity = p->has_identity ? &p->id : NULL};
        if (p->cont)
            p->cont(req, p->plugin, &how);
        else
            pg_plugin_hook_failed(req, p->plugin, "resume", "resumed a ticket no hook suspended on");
    }
    pending_free(p);
}

static void pending_drop(struct queue_item *it)
{
    struct phg_pending *p = (struct phg_pending *)it;
    if (p->ticket)
        pg_ticket_redeem(p->ticket); /* the loop has ended: every request with it */
    pending_free(p);
}

static phg_pending *host_suspend(phg_request *r)
{
    struct pg_request *req = REQ(r);
    struct pg_plugin_req *pr = pg_plugin_req_of(req);
    if (!pr || pr->pending || req->ticket)
        return NULL; /* one ticket at a time */
    struct phg_pending *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    if (!(p->ticket = pg_request_suspend(req))) {
        free(p);
        return NULL;
    }
    p->item.run = pending_run;
    p->item.drop = pending_drop;
    p->worker = req->worker->index;
    p->plugin = -1;
    pr->pending = p;
    return p;
}

bool pg_plugin_await(struct pg_request *req, int plugin, pg_plugin_cont_fn cont)
{
    struct phg_pending *p = req->plugin ? req->plugin->pending : NULL;
    if (!p)
        return false;
    p->plugin = plugin;
    p->cont = cont;
    return true;
}

void pg_plugin_cancel_pending(struct pg_request *req)
{
    struct phg_pending *p = req->plugin ? req->plugin->pending : NULL;
    if (!p)
        return;
    req->plugin->pending = NULL;
    pg_ticket_redeem(p->ticket); /* this request's ticket: it lets go of the request */
    p->ticket = NULL;            /* the plugin's resume will only free p */
}

static bool first_resume(struct phg_pending *p)
{
    if (!atomic_exchange(&p->resumed, true))
        return true;
    pg_log(PG_LOG_ERROR, "plugin_resumed_twice", "\"detail\":\"a ticket was resumed more than once\"");
    return false;
}

static void host_resume(phg_pending *t, enum phg_result result)
{
    if (!t || !first_resume(t))
        return;
    t->result = result;
    queue_post(t->worker, &t->item);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void host_resume_auth(phg_pending *t, enum phg_auth_result result, const struct phg_identity *id)
{
    if (!t || !first_resume(t))
        return;
    t->result = result;
    if (result == PHG_AUTH_OK && id) {
        t->has_identity = true;
        t->user_id = dup_or_null(id->user_id);
        t->username = dup_or_null(id->username);
        t->method = dup_or_null(id->method);
        /* nroles out of range is copied as it is: the authn filter refuses it. */
        int n = id->nroles < 0 || id->nroles > PHG_MAX_ROLES ? 0 : id->nroles;
        for (int i = 0; i < n; i++)
            t->roles[i] = dup_or_null(id->roles[i]);
        t->id = (struct phg_identity){.user_id = t->user_id, .username = t->username, .method = t->method,
                                      .nroles = n ? n : id->nroles, .expires_at = id->expires_at};
        for (int i = 0; i < n; i++)
            t->id.roles[i] = t->roles[i];
        /* A string that could not be copied makes the identity unusable;
         * the authn filter refuses one without a user id. */
        if ((id->user_id && !t->user_id) || (id->username && !t->username) || (id->method && !t->method))
            t->id.user_id = NULL;
        for (int i = 0; i < n; i++)
            if (id->roles[i] && !t->roles[i])
                t->id.user_id = NULL;
    }
    queue_post(t->worker, &t->item);
}

/* ---- failures and answers ---- */

void pg_plugin_hook_failed(struct pg_request *req, int plugin, const char *hook, const char *why)
{
    struct phg_plugin_handle *h = pg_plugin_at(plugin);
    const char *name = h ? h->name : "unknown";
    if (h)
        atomic_fetch_add_explicit(&h->failures, 1, memory_order_relaxed);
    pg_log(PG_LOG_ERROR, "plugin_hook_failed", "\"request_id\":\"%s\",\"plugin\":\"%s\",\"hook\":\"%s\",\"why\":\"%s\"",
           req->id, name, hook, why);
    pg_security_event(req, "plugin-failure", "failure", req->authenticated ? req->user : NULL, NULL,
                      "\"plugin\":\"%s\",\"hook\":\"%s\"", name, hook);
    req->plugin_failed = name;
    pg_request_respond_error(req, 500, "plugin_failed");
}

bool pg_plugin_give_response(struct pg_request *req)
{
    struct pg_plugin_req *pr = req->plugin;
    if (!pr || !pr->respond_status)
        return false;
    int status = pr->respond_status;
    pr->respond_status = 0;
    pg_request_respond_error(req, status, pr->respond_code);
    return true;
}

/* ---- services ---- */

static void host_log(phg_plugin_handle *p, enum phg_log_level level, const char *fmt, ...)
{
    char msg[1024], e[2100];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt ? fmt : "", ap);
    va_end(ap);
    enum pg_log_level l = level == PHG_LOG_DEBUG  ? PG_LOG_DEBUG
                          : level == PHG_LOG_INFO ? PG_LOG_INFO
                          : level == PHG_LOG_WARN ? PG_LOG_WARN
                                                  : PG_LOG_ERROR;
    pg_log(l, "plugin", "\"plugin\":\"%s\",\"message\":\"%s\"", p ? p->name : "unknown",
           pg_json_escape(msg, strlen(msg), e, sizeof e));
}

struct alert_item {
    struct queue_item item;
    char severity[16], rule[64], plugin[PG_PLUGIN_NAME_MAX + 1], detail[600];
};

static void alert_run(struct pg_worker *w, struct queue_item *it)
{
    struct alert_item *a = (struct alert_item *)it;
    pg_alert_raise(w, a->severity, a->rule, a->plugin, "\"plugin\":\"%s\",\"detail\":\"%s\"", a->plugin, a->detail);
    free(a);
}

static void alert_drop(struct queue_item *it)
{
    struct alert_item *a = (struct alert_item *)it;
    pg_log(PG_LOG_WARN, "alert", "\"severity\":\"%s\",\"rule\":\"%s\",\"subject\":\"%s\",\"plugin\":\"%s\","
           "\"detail\":\"%s\",\"stored\":false", a->severity, a->rule, a->plugin, a->plugin, a->detail);
    free(a);
}

static void host_alert(phg_plugin_handle *p, enum phg_severity severity, const char *rule, const char *detail)
{
    static const char *const names[] = {"low", "medium", "high", "critical"};
    struct alert_item *a = calloc(1, sizeof *a);
    if (!a)
        return;
    a->item.run = alert_run;
    a->item.drop = alert_drop;
    snprintf(a->severity, sizeof a->severity, "%s", (unsigned)severity < 4 ? names[severity] : "high");
    /* The rule is a metric label and a JSON string: escaped, bounded. */
    pg_json_escape(rule ? rule : "plugin", rule ? strlen(rule) : 6, a->rule, sizeof a->rule);
    snprintf(a->plugin, sizeof a->plugin, "%s", p ? p->name : "unknown");
    pg_json_escape(detail ? detail : "", detail ? strlen(detail) : 0, a->detail, sizeof a->detail);
    /* Alerts are stored from the first worker's loop, whoever raises them. */
    queue_post(0, &a->item);
}

static const char *host_request_id(phg_request *r)
{
    return REQ(r)->id;
}

static const char *host_method(phg_request *r)
{
    return REQ(r)->head.method_name;
}

static const char *host_target(phg_request *r)
{
    struct pg_request *req = REQ(r);
    struct pg_plugin_req *pr = pg_plugin_req_of(req);
    if (!pr)
        return NULL;
    if (!pr->target)
        pr->target = strndup(req->head.target, req->head.target_len);
    return pr->target;
}

static const char *host_client_ip(phg_request *r)
{
    return REQ(r)->conn->client_ip;
}

static struct pg_http_head *side_head(struct pg_request *req)
{
    return req->plugin && req->plugin->response_side ? &req->resp : &req->head;
}

static const char *host_header(phg_request *r, const char *name, size_t *len)
{
    struct pg_http_head *h = side_head(REQ(r));
    if (!name)
        return NULL;
    for (int i = 0; i < h->n_headers; i++) {
        struct pg_header *hd = &h->headers[i];
        if (!hd->drop && pg_header_is(hd, name)) {
            if (len)
                *len = hd->value_len;
            return hd->value;
        }
    }
    return NULL;
}

static bool is_token_char(unsigned char c)
{
    return isalnum(c) || strchr("!#$%&'*+-.^_`|~", c);
}

/* Headers a plugin may not touch: the framing and routing of the message,
 * hop-by-hop fields, and the identity headers that only phiguard sends. */
static bool name_refused(struct pg_request *req, const char *name)
{
    if (!name || !*name || strlen(name) > 256)
        return true;
    for (const char *s = name; *s; s++)
        if (!is_token_char((unsigned char)*s))
            return true;
    static const char *const fixed[] = {"connection", "keep-alive", "proxy-connection", "te", "trailer",
                                        "transfer-encoding", "upgrade", "content-length", "content-encoding", "host",
                                        "proxy-authenticate", "proxy-authorization", "x-auth-method"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (!strcasecmp(name, fixed[i]))
            return true;
    const struct pg_auth_config *a = &req->worker->cfg->auth;
    const char *identity[] = {a->header_user, a->header_user_id, a->header_roles, a->header_session,
                              a->header_assertion};
    for (size_t i = 0; i < sizeof identity / sizeof identity[0]; i++)
        if (identity[i] && !strcasecmp(name, identity[i]))
            return true;
    return false;
}

static bool value_refused(const char *v)
{
    if (!v || strlen(v) > 8192)
        return true;
    for (const unsigned char *s = (const unsigned char *)v; *s; s++)
        if ((*s < 0x20 && *s != '\t') || *s == 0x7f) /* CR, LF and every other control byte */
            return true;
    return false;
}

static int host_add_header(phg_request *r, const char *name, const char *value)
{
    struct pg_request *req = REQ(r);
    if (name_refused(req, name) || value_refused(value))
        return -1;
    bool resp = req->plugin && req->plugin->response_side;
    pg_add_header(resp ? req->resp_add_headers : req->up_add_headers, name, value, strlen(value));
    return 0;
}

static int host_remove_header(phg_request *r, const char *name)
{
    struct pg_request *req = REQ(r);
    if (name_refused(req, name))
        return -1;
    struct pg_http_head *h = side_head(req);
    for (int i = 0; i < h->n_headers; i++)
        if (pg_header_is(&h->headers[i], name))
            h->headers[i].drop = true;
    return 0;
}

static const char *host_user(phg_request *r)
{
    struct pg_request *req = REQ(r);
    return req->authenticated ? req->user : NULL;
}

static int host_roles(phg_request *r, const char **names, int cap)
{
    struct pg_request *req = REQ(r);
    if (!req->authenticated)
        return 0;
    for (int i = 0; i < req->nrole_names && i < cap; i++)
        names[i] = req->role_names[i];
    return req->nrole_names;
}

static int host_has_permission(phg_request *r, const char *permission)
{
    struct pg_request *req = REQ(r);
    if (!req->authenticated || !req->policy || !permission)
        return 0;
    int perm = pg_policy_perm_index(req->policy, permission);
    if (perm < 0)
        return 0;
    int roles[PHG_MAX_ROLES + 16], n = 0;
    for (int i = 0; i < req->nrole_names && n < (int)(sizeof roles / sizeof roles[0]); i++) {
        int idx = pg_policy_role_index(req->policy, req->role_names[i]);
        if (idx >= 0)
            roles[n++] = idx;
    }
    pg_permset have;
    pg_policy_role_perms(req->policy, roles, n, &have);
    return pg_permset_has(&have, perm) ? 1 : 0;
}

static int host_status(phg_request *r)
{
    struct pg_request *req = REQ(r);
    return req->plugin && req->plugin->response_side ? req->resp.status : 0;
}

/* The answer is given once the hook returns PHG_RESPOND, so that a hook
 * which goes on after respond never touches a request already freed. */
static void host_respond(phg_request *r, int status, const char *code)
{
    struct pg_plugin_req *pr = pg_plugin_req_of(REQ(r));
    if (!pr)
        return;
    bool code_ok = code && *code && strlen(code) < sizeof pr->respond_code;
    for (const char *s = code; code_ok && *s; s++)
        if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '_' || *s == '-'))
            code_ok = false;
    pr->respond_status = status >= 400 && status <= 599 ? status : 500;
    snprintf(pr->respond_code, sizeof pr->respond_code, "%s", code_ok ? code : "plugin_refused");
}

static struct event_base *host_event_base(phg_request *r)
{
    return REQ(r)->worker->base;
}

static long host_phi_seal(phg_plugin_handle *p, const char *field_path, const char *value, size_t len, char *out,
                          size_t cap)
{
    struct pg_phi_ring *ring = pg_phi_keys_get();
    if (!ring || !field_path || !value || !out) {
        pg_phi_ring_unref(ring);
        return -1;
    }
    long n = pg_envelope_seal(&ring->ring.keys[ring->ring.active], 'r', field_path, 's', value, len, out, cap);
    pg_phi_ring_unref(ring);
    if (n < 0)
        pg_log(PG_LOG_WARN, "plugin_phi_seal_failed", "\"plugin\":\"%s\"", p ? p->name : "unknown");
    return n;
}

static long host_phi_open(phg_plugin_handle *p, const char *field_path, const char *envelope, size_t len, char *out,
                          size_t cap)
{
    struct pg_phi_ring *ring = pg_phi_keys_get();
    if (!ring || !field_path || !envelope || !out) {
        pg_phi_ring_unref(ring);
        return -1;
    }
    char type;
    size_t n = 0;
    enum pg_envelope_result res = pg_envelope_open(ring->ring.keys, (size_t)ring->ring.n, field_path, envelope, len,
                                                   &type, out, cap, &n);
    pg_phi_ring_unref(ring);
    if (res == PG_ENVELOPE_OK)
        return (long)n;
    if (p)
        atomic_fetch_add_explicit(&p->open_failures, 1, memory_order_relaxed);
    char e[300];
    pg_log(PG_LOG_WARN, "plugin_phi_open_failed", "\"plugin\":\"%s\",\"field\":\"%s\",\"reason\":\"%s\"",
           p ? p->name : "unknown", pg_json_escape(field_path, strlen(field_path), e, sizeof e),
           pg_envelope_result_name(res));
    return -1;
}

static const struct phg_host host = {
    .abi = PHG_ABI_CURRENT,
    .size = sizeof(struct phg_host),
    .version = PHIGUARD_VERSION,
    .log = host_log,
    .alert = host_alert,
    .request_id = host_request_id,
    .method = host_method,
    .target = host_target,
    .client_ip = host_client_ip,
    .header = host_header,
    .add_header = host_add_header,
    .remove_header = host_remove_header,
    .user = host_user,
    .roles = host_roles,
    .has_permission = host_has_permission,
    .status = host_status,
    .respond = host_respond,
    .suspend = host_suspend,
    .resume = host_resume,
    .resume_auth = host_resume_auth,
    .event_base = host_event_base,
    .phi_seal = host_phi_seal,
    .phi_open = host_phi_open,
};

const struct phg_host *pg_plugin_host(void)
{
    return &host;
}
