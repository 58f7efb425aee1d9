/* A test-only plugin that uses every hook and every host service, driven by
 * the request's query string, so the end-to-end tests (tests/e2e/
 * test_plugins.py) can see each one work through the real proxy. Its
 * asynchronous hooks are resumed from a thread of its own. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <yajl/yajl_tree.h>

#include "phiguard_plugin.h"

struct job {
    struct job *next;
    phg_pending *ticket;
    bool auth;
    char name[64]; /* auth: the user to resume with */
};

struct state {
    const struct phg_host *host;
    phg_plugin_handle *self;
    char greeting[64], role[64];
    _Atomic unsigned long audit_records, audit_malformed;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    struct job *jobs;
};

static const char *const fields[] = {"$.note", "$.items[*].code"};
static const char *const field_names[] = {"Test.note", "Test.items.code"};

static bool query_has(struct state *s, phg_request *r, const char *what)
{
    const char *t = s->host->target(r);
    const char *q = t ? strchr(t, '?') : NULL;
    return q && strstr(q, what);
}

/* The resumer: waits a little (as an IdP or a lookup would), then resumes. */
static void *resumer(void *arg)
{
    struct state *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->jobs && !s->stop)
            pthread_cond_wait(&s->cv, &s->mu);
        if (!s->jobs && s->stop)
            break;
        struct job *j = s->jobs;
        s->jobs = j->next;
        pthread_mutex_unlock(&s->mu);
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
        if (j->auth) {
            char uid[80];
            snprintf(uid, sizeof uid, "ext|%s", j->name);
            struct phg_identity id = {.user_id = uid, .username = j->name, .roles = {s->role}, .nroles = 1,
                                      .method = "testauth-async"};
            s->host->resume_auth(j->ticket, PHG_AUTH_OK, &id);
        } else {
            s->host->resume(j->ticket, PHG_CONTINUE);
        }
        free(j);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static bool defer(struct state *s, phg_request *r, bool auth, const char *name)
{
    struct job *j = calloc(1, sizeof *j);
    if (!j)
        return false;
    if (!(j->ticket = s->host->suspend(r))) {
        free(j);
        return false;
    }
    j->auth = auth;
    snprintf(j->name, sizeof j->name, "%s", name ? name : "");
    pthread_mutex_lock(&s->mu);
    j->next = s->jobs;
    s->jobs = j;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return true;
}

static bool refusals_hold(struct state *s, phg_request *r)
{
    const struct phg_host *h = s->host;
    return h->add_header(r, "X-Auth-User", "mallory") == -1 && h->add_header(r, "X-Ok", "a\r\nInjected: 1") == -1 &&
           h->add_header(r, "X-Ok", "a\nb") == -1 && h->add_header(r, "Connection", "close") == -1 &&
           h->add_header(r, "Transfer-Encoding", "chunked") == -1 && h->add_header(r, "Bad Name", "v") == -1 &&
           h->remove_header(r, "X-Auth-Roles") == -1 && h->remove_header(r, "Content-Length") == -1 &&
           h->add_header(r, "X-Auth-Method", "forged") == -1;
}

static enum phg_result request_headers(void *state, phg_request *r)
{
    struct state *s = state;
    const struct phg_host *h = s->host;
    char buf[512];
    h->add_header(r, "X-Plugin-Greeting", s->greeting);
    const char *user = h->user(r);
    h->add_header(r, "X-Plugin-User", user ? user : "anonymous");
    const char *roles[8];
    int n = h->roles(r, roles, 8);
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && i < 8 && used < sizeof buf; i++)
        used += (size_t)snprintf(buf + used, sizeof buf - used, "%s%s", i ? "," : "", roles[i]);
    h->add_header(r, "X-Plugin-Roles", buf);
    h->add_header(r, "X-Plugin-Can-Read", h->has_permission(r, "patient:read") ? "yes" : "no");
    h->add_header(r, "X-Plugin-Refusals", refusals_hold(s, r) ? "held" : "broken");
    size_t len = 0;
    const char *v = h->header(r, "X-Client-Note", &len);
    if (v) {
        snprintf(buf, sizeof buf, "%.*s", (int)len, v);
        h->add_header(r, "X-Plugin-Saw", buf);
    }
    h->remove_header(r, "X-Remove-Me");
    snprintf(buf, sizeof buf, "%s %s %s %s", h->method(r), h->target(r), h->client_ip(r), h->request_id(r));
    h->add_header(r, "X-Plugin-Request", buf);
    snprintf(buf, sizeof buf, "%lu", atomic_load(&s->audit_records));
    h->add_header(r, "X-Plugin-Audit-Records", buf);
    if (query_has(s, r, "seal=1")) {
        char env[512], back[64];
        long el = h->phi_seal(s->self, "Test.note", "hello", 5, env, sizeof env);
        long bl = el > 0 ? h->phi_open(s->self, "Test.note", env, (size_t)el, back, sizeof back) : -1;
        long wrong = el > 0 ? h->phi_open(s->self, "Other.field", env, (size_t)el, back, sizeof back) : 0;
        bool ok = bl == 5 && !memcmp(back, "hello", 5) && wrong == -1 && !strncmp(env, "phi:v1:", 7);
        h->add_header(r, "X-Plugin-Seal", ok ? "ok" : "broken");
    }
    if (query_has(s, r, "alert=1"))
        h->alert(s->self, PHG_SEV_HIGH, "test_plugin_alert", "raised by the every_hook test plugin");
    if (query_has(s, r, "respond=1")) {
        h->respond(r, 403, "plugin_says_no");
        return PHG_RESPOND;
    }
    if (query_has(s, r, "async=request"))
        return defer(s, r, false, NULL) ? PHG_SUSPEND : PHG_FAIL;
    return PHG_CONTINUE;
}

static enum phg_result response_headers(void *state, phg_request *r)
{
    struct state *s = state;
    const struct phg_host *h = s->host;
    char buf[64];
    snprintf(buf, sizeof buf, "%d", h->status(r));
    h->add_header(r, "X-Plugin-Status", buf);
    size_t len = 0;
    const char *ct = h->header(r, "content-type", &len);
    snprintf(buf, sizeof buf, "%.*s", ct ? (int)len : 4, ct ? ct : "none");
    h->add_header(r, "X-Plugin-Upstream-Type", buf);
    h->remove_header(r, "X-Custom");
    if (query_has(s, r, "async=response"))
        return defer(s, r, false, NULL) ? PHG_SUSPEND : PHG_FAIL;
    return PHG_CONTINUE;
}

/* Bearer ext-<name>: this plugin's credential. ext-bad is one it rejects. */
static enum phg_auth_result authenticate(void *state, phg_request *r, struct phg_identity *id)
{
    struct state *s = state;
    size_t len = 0;
    const char *v = s->host->header(r, "authorization", &len);
    if (!v || len < 11 || strncmp(v, "Bearer ext-", 11) != 0)
        return PHG_AUTH_DECLINE;
    static _Thread_local char name[64], uid[80];
    snprintf(name, sizeof name, "%.*s", (int)(len - 11), v + 11);
    if (!strcmp(name, "bad"))
        return PHG_AUTH_REJECT;
    if (query_has(s, r, "async=auth"))
        return defer(s, r, true, name) ? PHG_AUTH_SUSPEND : PHG_AUTH_FAIL;
    snprintf(uid, sizeof uid, "ext|%s", name);
    id->user_id = uid;
    id->username = name;
    id->roles[0] = s->role;
    id->roles[1] = "no_such_role";
    id->nroles = 2;
    id->method = "testauth";
    /* ext-expired has run out already; ext-brief runs out in two seconds. */
    id->expires_at = !strcmp(name, "expired") ? 1 : !strcmp(name, "brief") ? (int64_t)time(NULL) + 2 : 0;
    s->host->remove_header(r, "authorization");
    return PHG_AUTH_OK;
}

static enum phg_body_result request_body_value(void *state, phg_request *r, const struct phg_json_value *v,
                                               struct phg_json_out *out)
{
    (void)state;
    (void)r;
    if (v->type != 's' || strcmp(v->path, "Test.note") != 0)
        return PHG_BODY_KEEP;
    if (v->len > out->cap)
        return PHG_BODY_FAIL;
    if (v->len == 9 && !memcmp(v->data, "fill-room", 9)) { /* all the room the ABI promises a short value */
        size_t n = PHG_BODY_ROOM_PER_BYTE * v->len + 256;
        if (out->cap < n)
            return PHG_BODY_FAIL;
        memset(out->data, 'x', n);
        out->len = n;
        out->type = 's';
        return PHG_BODY_REPLACE;
    }
    if (v->len == 14 && !memcmp(v->data, "plant-envelope", 14)) { /* what a hook must not do on a policy field */
        out->len = (size_t)snprintf(out->data, out->cap, "phi:v1:k1:r:AAAAAAAAAAAAAAAAAAAAAAAA");
        out->type = 's';
        return PHG_BODY_REPLACE;
    }
    for (size_t i = 0; i < v->len; i++)
        out->data[i] = v->data[i] >= 'a' && v->data[i] <= 'z' ? (char)(v->data[i] - 32) : v->data[i];
    out->len = v->len;
    out->type = 's';
    return PHG_BODY_REPLACE;
}

static enum phg_body_result response_body_value(void *state, phg_request *r, const struct phg_json_value *v,
                                                struct phg_json_out *out)
{
    struct state *s = state;
    (void)r;
    if (v->selector == 1) { /* Test.items.code: numbers become their double */
        if (v->type != 'n')
            return PHG_BODY_KEEP;
        char num[64];
        snprintf(num, sizeof num, "%.*s", (int)v->len, v->data);
        out->len = (size_t)snprintf(out->data, out->cap, "%ld", 2 * strtol(num, NULL, 10));
        out->type = 'n';
        return PHG_BODY_REPLACE;
    }
    if (v->type != 's')
        return PHG_BODY_KEEP;
    if (v->len >= 3 && !strncasecmp(v->data, "env", 3)) { /* a value the plugin seals itself: it leaves as an envelope */
        long n = s->host->phi_seal(s->self, "Test.note", v->data, v->len, out->data, out->cap);
        if (n < 0)
            return PHG_BODY_FAIL;
        out->len = (size_t)n;
        out->type = 's';
        return PHG_BODY_REPLACE;
    }
    int n = snprintf(out->data, out->cap, "%.*s (checked)", (int)v->len, v->data);
    if (n < 0 || (size_t)n >= out->cap)
        return PHG_BODY_FAIL;
    out->len = (size_t)n;
    out->type = 's';
    return PHG_BODY_REPLACE;
}

static void audit_record(void *state, const char *chain, uint64_t seq, const char *record, size_t len)
{
    struct state *s = state;
    if (!chain || !*chain || seq == 0 || len < 2 || record[0] != '{' || record[len - 1] != '}')
        atomic_fetch_add(&s->audit_malformed, 1);
    else
        atomic_fetch_add(&s->audit_records, 1);
}

static void unload(void *state)
{
    struct state *s = state;
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    s->host->log(s->self, PHG_LOG_INFO, "every_hook unloaded after %lu audit records (%lu malformed)",
                 atomic_load(&s->audit_records), atomic_load(&s->audit_malformed));
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

static int copy_setting(yajl_val root, const char *key, char *out, size_t cap, char *err, size_t errcap)
{
    const char *path[] = {key, NULL};
    yajl_val v = yajl_tree_get(root, path, yajl_t_string);
    if (!v) {
        snprintf(err, errcap, "config.%s is missing (a string)", key);
        return -1;
    }
    snprintf(out, cap, "%s", YAJL_GET_STRING(v));
    return 0;
}

static int entry(uint32_t abi, const struct phg_host *host, phg_plugin_handle *self, const char *config_json,
                 struct phg_plugin *plugin, char *err, size_t errcap)
{
    (void)abi;
    char perr[128];
    yajl_val root = yajl_tree_parse(config_json, perr, sizeof perr);
    if (!root) {
        snprintf(err, errcap, "config is not JSON: %s", perr);
        return -1;
    }
    struct state *s = calloc(1, sizeof *s);
    if (!s || copy_setting(root, "greeting", s->greeting, sizeof s->greeting, err, errcap) != 0 ||
        copy_setting(root, "role", s->role, sizeof s->role, err, errcap) != 0) {
        yajl_tree_free(root);
        free(s);
        return -1;
    }
    yajl_tree_free(root);
    s->host = host;
    s->self = self;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (pthread_create(&s->thread, NULL, resumer, s) != 0) {
        snprintf(err, errcap, "cannot start its thread");
        free(s);
        return -1;
    }
    plugin->name = "every_hook";
    plugin->state = s;
    plugin->request_headers = request_headers;
    plugin->response_headers = response_headers;
    plugin->authenticate = authenticate;
    plugin->body_fields = fields;
    plugin->body_field_names = field_names;
    plugin->nbody_fields = 2;
    plugin->request_body_value = request_body_value;
    plugin->response_body_value = response_body_value;
    plugin->audit_record = audit_record;
    plugin->unload = unload;
    host->log(self, PHG_LOG_INFO, "every_hook loaded under ABI %u.%u (host %s)", (unsigned)PHG_ABI_MAJOR_OF(abi),
              (unsigned)PHG_ABI_MINOR_OF(abi), host->version);
    return 0;
}

PHG_PLUGIN_DECLARE(entry)
