/* Plugins' body fields and a body's pass through their hooks
 * (proxy/plugin_body.c), with the test-only plugins of tests/plugins/ and
 * stand-ins for the PHI functions, through the real streaming rewriter:
 * the order (request: plugins, then sealing; response: opening, then
 * plugins), stray envelopes left after the plugins, and a failing hook. */
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/selector.h"
#include "proxy/conn.h"
#include "proxy/plugin_body.h"
#include "proxy/plugin_host.h"
#include "proxy/plugin_loader.h"
#include "proxy/request.h"
#include "proxy/worker.h"

#define ENVELOPE "phi:v1:k1:r:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

static int load(const char *const *names, int n)
{
    const char *dir = getenv("PHIGUARD_TEST_PLUGIN_DIR");
    if (!dir)
        fail_msg("PHIGUARD_TEST_PLUGIN_DIR is not set (ctest sets it)");
    struct pg_plugin_config pcs[2];
    char paths[2][1024];
    for (int i = 0; i < n; i++) {
        snprintf(paths[i], sizeof paths[i], "%s/%s.so", dir, names[i]);
        pcs[i] = (struct pg_plugin_config){.path = paths[i],
                                           .config_json = "{\"greeting\":\"hi\",\"role\":\"physician\"}"};
    }
    struct pg_config cfg = {.plugins = pcs, .nplugins = n};
    return pg_plugins_load(&cfg);
}

/* The route's one PHI field, $.note. */
static struct pg_phi_field route_field;

static int setup(void **state)
{
    (void)state;
    char why[128];
    memset(&route_field, 0, sizeof route_field);
    route_field.logical_path = "Test.note";
    return pg_selector_compile("$.note", &route_field.steps, &route_field.nsteps, why, sizeof why);
}

static int teardown(void **state)
{
    (void)state;
    pg_selector_free(route_field.steps, route_field.nsteps);
    return 0;
}

/* Stand-ins for the PHI functions: what they saw, and a visible answer. */
static char core_saw[256];

static enum pg_rw_action fake_seal(void *arg, const struct pg_rw_value *v, struct pg_rw_token *out)
{
    (void)arg;
    snprintf(core_saw, sizeof core_saw, "%d:%.*s", v->field, (int)v->len, v->data);
    out->len = (size_t)snprintf(out->data, out->cap, "sealed(%.*s)", (int)v->len, v->data);
    out->type = 's';
    return PG_RW_REPLACE;
}

static enum pg_rw_action fake_reveal(void *arg, const struct pg_rw_value *v, struct pg_rw_token *out)
{
    (void)arg;
    if (v->field < 0) { /* a stray envelope */
        out->len = (size_t)snprintf(out->data, out->cap, "***");
        out->type = 's';
        return PG_RW_REPLACE;
    }
    out->len = (size_t)snprintf(out->data, out->cap, "opened(%.*s)", (int)v->len, v->data);
    out->type = 's';
    return PG_RW_REPLACE;
}

/* The rewriter gives its value and write functions one argument. */
struct pass {
    pg_rw_value_fn fn;
    void *arg;
    char *out;
};

static enum pg_rw_action value(void *arg, const struct pg_rw_value *v, struct pg_rw_token *out)
{
    struct pass *p = arg;
    return p->fn(p->arg, v, out);
}

static int collect(void *arg, const char *data, size_t len)
{
    strncat(((struct pass *)arg)->out, data, len);
    return 0;
}

/* Runs body through a pass as the PHI filters set it up; returns the
 * rewriter's result, the output in out. */
static const char *expect_failed = "failing";

static int run(bool response, int nroute, pg_rw_value_fn core, const char *body, char *out)
{
    struct pg_worker w = {0};
    struct pg_conn conn = {0};
    strcpy(conn.client_ip, "127.0.0.1");
    struct pg_request req = {.conn = &conn, .worker = &w};
    strcpy(req.id, "test-request");
    struct pg_rw_options opt = {.scan_envelopes = response && core, .max_value_bytes = 4096};
    const struct pg_sel_set *set = NULL;
    pg_rw_value_fn fn = core;
    void *arg = NULL;
    assert_int_equal(pg_plugin_body_wrap(&req, response, &route_field, nroute, &set, &fn, &arg, &opt), 0);
    assert_ptr_equal(fn, pg_plugin_body_value);
    assert_int_equal(opt.room_per_byte, PHG_BODY_ROOM_PER_BYTE);
    out[0] = '\0';
    struct pass pass = {fn, arg, out};
    struct pg_rewriter *rw = pg_rewriter_new(set, &opt, value, collect, &pass);
    assert_non_null(rw);
    int rc = pg_rewriter_feed(rw, body, strlen(body));
    if (rc == 0)
        rc = pg_rewriter_finish(rw);
    pg_rewriter_free(rw);
    pg_plugin_req_free(req.plugin);
    if (rc != 0)
        assert_string_equal(req.plugin_failed ? req.plugin_failed : "", expect_failed);
    return rc;
}

static void test_compile(void **state)
{
    (void)state;
    const char *sels[] = {"$.a", "$.b[*].c"}, *names[] = {"X.a", "X.b.c"};
    struct phg_plugin p = {.body_fields = sels, .body_field_names = names, .nbody_fields = 2};
    char why[300];
    struct pg_plugin_fields *f = pg_plugin_fields_compile(&p, why, sizeof why);
    assert_non_null(f);
    assert_int_equal(f->n, 2);
    assert_string_equal(f->fields[1].selector, "$.b[*].c");
    assert_string_equal(f->fields[1].logical_path, "X.b.c");
    pg_plugin_fields_free(f);
    const char *bad[] = {"$.a", "$.b[x"};
    p.body_fields = bad;
    assert_null(pg_plugin_fields_compile(&p, why, sizeof why));
    assert_non_null(strstr(why, "body field 1: selector '$.b[x'"));
    const char *unnamed[] = {"X.a", NULL};
    p.body_fields = sels;
    p.body_field_names = unnamed;
    assert_null(pg_plugin_fields_compile(&p, why, sizeof why));
    assert_non_null(strstr(why, "body field 1 has no selector or no name"));
}

static void test_request_plugins_then_sealing(void **state)
{
    (void)state;
    const char *names[] = {"every_hook", "failing"};
    assert_int_equal(load(names, 2), 0);
    assert_true(pg_plugins_body_wanted(false));
    assert_true(pg_plugins_body_wanted(true));
    char out[2048];
    /* The plugin upper-cases the note, then the PHI function seals that. */
    assert_int_equal(run(false, 1, fake_seal, "{\"note\":\"hello\",\"items\":[{\"code\":2}]}", out), 0);
    assert_string_equal(out, "{\"note\":\"sealed(HELLO)\",\"items\":[{\"code\":2}]}");
    assert_string_equal(core_saw, "0:HELLO");
    /* No PHI fields on the route: only the plugins. */
    assert_int_equal(run(false, 0, NULL, "{\"note\":\"hi\",\"x\":\"hi\"}", out), 0);
    assert_string_equal(out, "{\"note\":\"HI\",\"x\":\"hi\"}");
    /* A hook that fails refuses the body. */
    assert_int_equal(run(false, 0, NULL, "{\"note\":\"fail-me\"}", out), -1);
    assert_int_equal(pg_plugin_at(1)->failures, 1);
    /* One that rejects it too, as the client's fault: not the plugin's failure. */
    assert_int_equal(run(false, 0, NULL, "{\"note\":\"reject-me\"}", out), -1);
    assert_int_equal(pg_plugin_at(1)->failures, 1);
    /* A short value may grow sixteenfold, and is sealed grown. */
    char want[2048];
    int n = snprintf(want, sizeof want, "{\"note\":\"sealed(");
    memset(want + n, 'x', 16 * 9 + 256);
    snprintf(want + n + 16 * 9 + 256, sizeof want - (size_t)n - 16 * 9 - 256, ")\"}");
    assert_int_equal(run(false, 1, fake_seal, "{\"note\":\"fill-room\"}", out), 0);
    assert_string_equal(out, want);
    /* An envelope a hook returns for a field the policy seals fails it. */
    expect_failed = "every_hook";
    assert_int_equal(run(false, 1, fake_seal, "{\"note\":\"plant-envelope\"}", out), -1);
    assert_int_equal(pg_plugin_at(0)->failures, 1);
    /* On a field the policy does not seal, it is the plugin's to send. */
    assert_int_equal(run(false, 0, NULL, "{\"note\":\"plant-envelope\"}", out), 0);
    assert_string_equal(out, "{\"note\":\"phi:v1:k1:r:AAAAAAAAAAAAAAAAAAAAAAAA\"}");
    expect_failed = "failing";
    pg_plugins_unload();
}

static void test_response_opening_then_plugins(void **state)
{
    (void)state;
    const char *names[] = {"every_hook"};
    assert_int_equal(load(names, 1), 0);
    char out[2048];
    assert_int_equal(run(true, 1, fake_reveal,
                         "{\"note\":\"" ENVELOPE "\",\"items\":[{\"code\":2},{\"code\":\"x\"}],\"other\":\"" ENVELOPE
                         "\"}",
                         out),
                     0);
    /* Opened, then the plugin's; the plugin's number field doubled; the
     * stray masked. */
    assert_string_equal(out, "{\"note\":\"opened(" ENVELOPE ") (checked)\",\"items\":[{\"code\":4},{\"code\":\"x\"}],"
                             "\"other\":\"***\"}");
    pg_plugins_unload();
}

static void test_envelopes_a_plugin_keeps_are_masked(void **state)
{
    (void)state;
    const char *names[] = {"failing"}; /* its response hook keeps $.note */
    assert_int_equal(load(names, 1), 0);
    char out[2048];
    assert_int_equal(run(true, 0, fake_reveal, "{\"note\":\"" ENVELOPE "\",\"n\":\"plain\"}", out), 0);
    assert_string_equal(out, "{\"note\":\"***\",\"n\":\"plain\"}");
    /* REJECT is for a client's body: in a response, the hook failed. */
    assert_int_equal(run(true, 0, fake_reveal, "{\"note\":\"reject-me\"}", out), -1);
    assert_int_equal(pg_plugin_at(0)->failures, 1);
    /* Without a keyring (no PHI function), masked all the same. */
    assert_int_equal(run(true, 0, NULL, "{\"note\":\"" ENVELOPE "\"}", out), 0);
    assert_string_equal(out, "{\"note\":\"***\"}");
    /* A value that is not an envelope goes on. */
    assert_int_equal(run(true, 0, NULL, "{\"note\":\"plain text\"}", out), 0);
    assert_string_equal(out, "{\"note\":\"plain text\"}");
    pg_plugins_unload();
    assert_false(pg_plugins_body_wanted(true));
}

/* The matcher of a route's fields and the plugins' is made once per route
 * and direction and kept in the route (a DFA costs microseconds to make),
 * and the same one serves the next body. */
static void test_matcher_kept_per_route(void **state)
{
    (void)state;
    const char *names[] = {"every_hook"};
    assert_int_equal(load(names, 1), 0);
    _Atomic(struct pg_sel_set *) cells[2];
    atomic_init(&cells[0], NULL);
    atomic_init(&cells[1], NULL);
    struct pg_route route = {.plugin_sel = cells};
    const struct pg_sel_set *sets[3];
    for (int i = 0; i < 3; i++) {
        struct pg_worker w = {0};
        struct pg_conn conn = {0};
        struct pg_request req = {.conn = &conn, .worker = &w, .route = &route};
        struct pg_rw_options opt = {.max_value_bytes = 4096};
        const struct pg_sel_set *set = NULL;
        pg_rw_value_fn fn = NULL;
        void *arg = NULL;
        assert_int_equal(pg_plugin_body_wrap(&req, i == 2, &route_field, 1, &set, &fn, &arg, &opt), 0);
        assert_non_null(set);
        sets[i] = set;
        pg_plugin_req_free(req.plugin); /* the route's matcher stays */
    }
    assert_ptr_equal(sets[0], sets[1]);
    assert_ptr_equal(sets[0], atomic_load(&cells[0]));
    assert_ptr_equal(sets[2], atomic_load(&cells[1]));
    assert_ptr_not_equal(sets[0], sets[2]);
    pg_sel_set_free(atomic_load(&cells[0]));
    pg_sel_set_free(atomic_load(&cells[1]));
    pg_plugins_unload();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compile),
        cmocka_unit_test(test_request_plugins_then_sealing),
        cmocka_unit_test(test_response_opening_then_plugins),
        cmocka_unit_test(test_envelopes_a_plugin_keeps_are_masked),
        cmocka_unit_test(test_matcher_kept_per_route),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
