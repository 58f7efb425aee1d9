/* The host services plugins get (proxy/plugin_host.c): header refusals,
 * the request accessors, and suspension: a ticket resumed from another
 * thread reaches the request on its own worker's loop; a void ticket, or
 * one resumed after the worker is gone, is only freed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <event2/thread.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/conn.h"
#include "proxy/plugin_host.h"
#include "proxy/request.h"
#include "proxy/worker.h"

static struct pg_config cfg;
static struct pg_worker worker;
static struct pg_conn conn;
static struct pg_header headers[3];
static struct pg_request *req;
static const struct phg_host *host;

static void header(int i, const char *name, const char *value)
{
    headers[i] = (struct pg_header){.name = name, .name_len = (uint32_t)strlen(name), .value = value,
                                    .value_len = (uint32_t)strlen(value)};
}

static int setup(void **state)
{
    (void)state;
    evthread_use_pthreads();
    cfg.auth.header_user = "X-Auth-User";
    cfg.auth.header_user_id = "X-Auth-User-Id";
    cfg.auth.header_roles = "X-Auth-Roles";
    cfg.auth.header_session = "X-Auth-Session";
    cfg.auth.header_assertion = "X-Auth-Assertion";
    worker.cfg = &cfg;
    worker.base = event_base_new();
    if (!worker.base || pg_plugin_worker_attach(&worker) != 0)
        return -1;
    host = pg_plugin_host();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    pg_plugin_worker_detach(&worker);
    event_base_free(worker.base);
    return 0;
}

static int new_request(void **state)
{
    (void)state;
    req = calloc(1, sizeof *req);
    strcpy(conn.client_ip, "10.0.0.7");
    req->conn = &conn;
    req->worker = &worker;
    strcpy(req->id, "req-1");
    req->up_add_headers = evbuffer_new();
    req->resp_add_headers = evbuffer_new();
    static char target[] = "/fhir/Patient?x=1 and more";
    req->head.target = target;
    req->head.target_len = 17;
    req->head.method_name = "GET";
    header(0, "X-Note", "one");
    header(1, "x-note", "two");
    header(2, "Authorization", "Bearer abc");
    req->head.headers = headers;
    req->head.n_headers = 3;
    req->resp.status = 201;
    return 0;
}

static int free_request(void **state)
{
    (void)state;
    evbuffer_free(req->up_add_headers);
    evbuffer_free(req->resp_add_headers);
    pg_plugin_req_free(req->plugin);
    free(req);
    return 0;
}

static char *added(struct evbuffer *b)
{
    static char text[1024];
    size_t n = evbuffer_get_length(b);
    evbuffer_copyout(b, text, n < sizeof text - 1 ? n : sizeof text - 1);
    text[n < sizeof text - 1 ? n : sizeof text - 1] = '\0';
    return text;
}

static void test_accessors(void **state)
{
    (void)state;
    phg_request *r = (phg_request *)req;
    assert_string_equal(host->request_id(r), "req-1");
    assert_string_equal(host->method(r), "GET");
    assert_string_equal(host->target(r), "/fhir/Patient?x=1");
    assert_string_equal(host->client_ip(r), "10.0.0.7");
    assert_null(host->user(r));
    const char *names[4];
    assert_int_equal(host->roles(r, names, 4), 0);
    assert_int_equal(host->has_permission(r, "patient:read"), 0);
    assert_int_equal(host->status(r), 0);
    assert_ptr_equal(host->event_base(r), worker.base);
    assert_int_equal(host->abi, PHG_ABI_CURRENT);
    assert_int_equal(host->size, sizeof(struct phg_host));
    char out[256];
    assert_int_equal(host->phi_seal(NULL, "A.b", "x", 1, out, sizeof out), -1); /* no keyring */
    assert_int_equal(host->phi_open(NULL, "A.b", "phi:v1:k:r:AA", 13, out, sizeof out), -1);
    /* An authenticated request's user and roles. */
    static const char *const roles[] = {"physician", "auditor"};
    req->authenticated = true;
    req->user = "u-1";
    req->role_names = roles;
    req->nrole_names = 2;
    assert_string_equal(host->user(r), "u-1");
    assert_int_equal(host->roles(r, names, 1), 2);
    assert_string_equal(names[0], "physician");
    assert_int_equal(host->has_permission(r, "patient:read"), 0); /* no policy: none */
}

static void test_headers(void **state)
{
    (void)state;
    phg_request *r = (phg_request *)req;
    size_t len = 0;
    assert_memory_equal(host->header(r, "x-NOTE", &len), "one", 3);
    assert_int_equal(len, 3);
    assert_null(host->header(r, "X-Missing", &len));
    assert_int_equal(host->add_header(r, "X-Ok", "v\tw"), 0);
    assert_string_equal(added(req->up_add_headers), "X-Ok: v\tw\r\n");
    static const char *const refused_names[] = {"X-Auth-User", "x-auth-roles", "X-Auth-Method", "Connection",
                                                "transfer-encoding", "Content-Length", "content-encoding", "Host", "Upgrade", "TE",
                                                "Bad Name", "", "X:y", "Proxy-Authorization"};
    for (size_t i = 0; i < sizeof refused_names / sizeof refused_names[0]; i++) {
        assert_int_equal(host->add_header(r, refused_names[i], "v"), -1);
        assert_int_equal(host->remove_header(r, refused_names[i]), -1);
    }
    static const char *const refused_values[] = {"a\r\nX-Injected: 1", "a\nb", "a\rb", "\x01", "a\x7f"};
    for (size_t i = 0; i < sizeof refused_values / sizeof refused_values[0]; i++)
        assert_int_equal(host->add_header(r, "X-Ok", refused_values[i]), -1);
    assert_int_equal(host->add_header(r, NULL, "v"), -1);
    assert_int_equal(host->add_header(r, "X-Ok", NULL), -1);
    assert_string_equal(added(req->up_add_headers), "X-Ok: v\tw\r\n"); /* nothing more was added */
    /* Removing drops every header of the name; a dropped one is not seen. */
    assert_int_equal(host->remove_header(r, "X-Note"), 0);
    assert_true(headers[0].drop && headers[1].drop && !headers[2].drop);
    assert_null(host->header(r, "x-note", &len));
    /* Response hooks: the response's head and added headers. */
    pg_plugin_req_of(req)->response_side = true;
    assert_int_equal(host->status(r), 201);
    assert_int_equal(host->add_header(r, "X-Resp", "1"), 0);
    assert_string_equal(added(req->resp_add_headers), "X-Resp: 1\r\n");
    assert_null(host->header(r, "authorization", &len)); /* not in the response */
}

static void test_respond(void **state)
{
    (void)state;
    phg_request *r = (phg_request *)req;
    host->respond(r, 403, "not_yours");
    assert_int_equal(req->plugin->respond_status, 403);
    assert_string_equal(req->plugin->respond_code, "not_yours");
    host->respond(r, 200, "Bad Code!");
    assert_int_equal(req->plugin->respond_status, 500);
    assert_string_equal(req->plugin->respond_code, "plugin_refused");
}

/* ---- suspension ---- */

static int conts;
static struct pg_plugin_resumed last;
static char last_user[64], last_role[64];

static void cont(struct pg_request *r, int plugin, const struct pg_plugin_resumed *how)
{
    assert_ptr_equal(r, req);
    assert_int_equal(plugin, 3);
    conts++;
    last = *how;
    snprintf(last_user, sizeof last_user, "%s", how->identity ? how->identity->user_id : "");
    snprintf(last_role, sizeof last_role, "%s",
             how->identity && how->identity->nroles ? how->identity->roles[0] : "");
}

struct resumer {
    phg_pending *t;
    bool auth;
};

static void *resume_from_thread(void *arg)
{
    struct resumer *rs = arg;
    if (rs->auth) {
        char uid[16] = "ext|a", role[16] = "physician";
        struct phg_identity id = {.user_id = uid, .roles = {role}, .nroles = 1, .method = "x"};
        host->resume_auth(rs->t, PHG_AUTH_OK, &id);
        memset(uid, 'X', sizeof uid - 1); /* copied before resume_auth returned */
        memset(role, 'X', sizeof role - 1);
    } else {
        host->resume(rs->t, PHG_RESPOND);
    }
    return NULL;
}

/* Runs the worker's loop until cont has run n times in all (bounded). */
static void loop_until(int n)
{
    for (int i = 0; i < 2000 && conts < n; i++)
        event_base_loop(worker.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    assert_int_equal(conts, n);
}

static void test_resume_from_another_thread(void **state)
{
    (void)state;
    conts = 0;
    phg_pending *t = host->suspend((phg_request *)req);
    assert_non_null(t);
    assert_null(host->suspend((phg_request *)req)); /* one ticket at a time */
    assert_true(pg_plugin_await(req, 3, cont));
    struct resumer rs = {t, false};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, resume_from_thread, &rs), 0);
    pthread_join(th, NULL);
    loop_until(1);
    assert_int_equal(last.result, PHG_RESPOND);
    assert_null(last.identity);
    assert_null(req->ticket);
    assert_null(req->plugin->pending);
    /* An authenticator's identity, copied at resume_auth. */
    t = host->suspend((phg_request *)req);
    assert_true(pg_plugin_await(req, 3, cont));
    rs = (struct resumer){t, true};
    assert_int_equal(pthread_create(&th, NULL, resume_from_thread, &rs), 0);
    pthread_join(th, NULL);
    loop_until(2);
    assert_int_equal(last.result, PHG_AUTH_OK);
    assert_string_equal(last_user, "ext|a");
    assert_string_equal(last_role, "physician");
}

static void test_void_tickets_are_only_freed(void **state)
{
    (void)state;
    conts = 0;
    assert_false(pg_plugin_await(req, 3, cont)); /* no ticket taken */
    /* A hook took a ticket and did not suspend: the resume only frees it. */
    phg_pending *t = host->suspend((phg_request *)req);
    pg_plugin_cancel_pending(req);
    assert_null(req->ticket);
    host->resume(t, PHG_CONTINUE);
    for (int i = 0; i < 20; i++)
        event_base_loop(worker.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    assert_int_equal(conts, 0);
    /* After the worker's loop is gone, a resume frees its ticket there and then. */
    t = host->suspend((phg_request *)req);
    assert_true(pg_plugin_await(req, 3, cont));
    pg_plugin_worker_detach(&worker);
    host->resume(t, PHG_CONTINUE);
    assert_int_equal(conts, 0);
    assert_null(req->ticket);
    assert_int_equal(pg_plugin_worker_attach(&worker), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_accessors, new_request, free_request),
        cmocka_unit_test_setup_teardown(test_headers, new_request, free_request),
        cmocka_unit_test_setup_teardown(test_respond, new_request, free_request),
        cmocka_unit_test_setup_teardown(test_resume_from_another_thread, new_request, free_request),
        cmocka_unit_test_setup_teardown(test_void_tickets_are_only_freed, new_request, free_request),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
