/* Route matching and decisions (policy/decide.c): patterns, precedence,
 * method fallback, conditions, shadow rules, default deny. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "policy/policy.h"

static const char policy_text[] =
    "version: 1\n"
    "roles:\n"
    "  clerk: {inherits: [front_desk]}\n"
    "routes:\n"
    "  - {name: lit,   methods: [GET], path: /fhir/Patient/search, permissions: [schedule:read]}\n"   /* line 5 */
    "  - {name: param, methods: [GET], path: \"/fhir/Patient/{id}\", permissions: [patient:read]}\n"
    "  - {name: star,  methods: [GET], path: \"/fhir/*/history\", permissions: [records:export]}\n"
    "  - {name: glob,  methods: \"*\", path: /fhir/**, permissions: [system:configure]}\n"
    "  - {name: hdr,   methods: [GET], path: /tenant, permissions: [patient:read], when: {headers: {X-Tenant: a}}}\n"
    "  - {name: qry,   methods: [GET], path: /tenant, permissions: [billing:read], when: {query: {view: bills}}}\n"
    "  - {name: shadow, methods: [GET], path: \"/lab/{id}\", permissions: [lab:write], mode: shadow}\n"
    "  - {name: lab,   methods: [GET], path: \"/lab/{id}\", permissions: [lab:read]}\n"
    "  - {name: pub,   methods: [GET, HEAD], path: /, public: true}\n";

static struct pg_policy *policy;

static int setup(void **state)
{
    (void)state;
    struct pg_policy_errors errs = {0};
    policy = pg_policy_load_buffer("t.yaml", policy_text, sizeof policy_text - 1, &errs);
    for (int i = 0; i < errs.count; i++)
        print_error("%s\n", errs.items[i]);
    pg_policy_errors_free(&errs);
    return policy ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    pg_policy_unref(policy);
    return 0;
}

struct view {
    const char *tenant, *query_view;
};

static const char *hdr(void *ctx, const char *name, size_t *len)
{
    struct view *v = ctx;
    if (strcasecmp(name, "X-Tenant") == 0 && v->tenant) {
        *len = strlen(v->tenant);
        return v->tenant;
    }
    return NULL;
}

static const char *qry(void *ctx, const char *name, size_t *len)
{
    struct view *v = ctx;
    if (strcmp(name, "view") == 0 && v->query_view) {
        *len = strlen(v->query_view);
        return v->query_view;
    }
    return NULL;
}

static struct pg_decision decide(const char *role, const char *method, const char *path, struct view *v)
{
    int r = role ? pg_policy_role_index(policy, role) : -1;
    struct view none = {0};
    struct pg_request_view rq = {.method = method, .path = path, .path_len = strlen(path), .query = qry,
                                 .header = hdr, .ctx = v ? v : &none};
    struct pg_decision d;
    pg_policy_decide(policy, &r, r >= 0 ? 1 : 0, &rq, &d);
    return d;
}

static const char *rule(const struct pg_decision *d)
{
    return d->route ? d->route->name : "(none)";
}

static void test_precedence(void **state)
{
    (void)state;
    struct pg_decision d = decide("physician", "GET", "/fhir/Patient/search", NULL);
    assert_string_equal(rule(&d), "lit"); /* literal beats {id} */
    d = decide("physician", "GET", "/fhir/Patient/42", NULL);
    assert_string_equal(rule(&d), "param");
    assert_int_equal(d.verdict, PG_ALLOW);
    assert_int_equal(d.nparams, 1);
    assert_string_equal(d.param_name[0], "id");
    assert_memory_equal(d.param_value[0], "42", 2);
    d = decide("physician", "GET", "/fhir/Observation/history", NULL);
    assert_string_equal(rule(&d), "star");
    d = decide("physician", "GET", "/fhir/Observation/1/_history/2", NULL);
    assert_string_equal(rule(&d), "glob");
    assert_int_equal(d.verdict, PG_DENY);
    /* No GET-less rule at {id}: DELETE falls back to the ** rule. */
    d = decide("it_admin", "DELETE", "/fhir/Patient/42", NULL);
    assert_string_equal(rule(&d), "glob");
    assert_int_equal(d.verdict, PG_ALLOW);
    d = decide("physician", "GET", "/", NULL);
    assert_string_equal(rule(&d), "pub");
    assert_int_equal(d.verdict, PG_ALLOW);
}

static void test_default_deny(void **state)
{
    (void)state;
    struct pg_decision d = decide("system_owner", "GET", "/elsewhere", NULL);
    assert_null(d.route);
    assert_int_equal(d.verdict, PG_DENY);
    d = decide("physician", "BREW", "/fhir/Patient/1", NULL);
    assert_int_equal(d.verdict, PG_DENY);
    d = decide(NULL, "GET", "/fhir/Patient/1", NULL); /* no roles at all */
    assert_int_equal(d.verdict, PG_DENY);
    assert_string_equal(d.reason, "missing permission");
}

static void test_inheritance(void **state)
{
    (void)state;
    struct pg_decision d = decide("clerk", "GET", "/fhir/Patient/1", NULL);
    assert_int_equal(d.verdict, PG_ALLOW); /* front_desk has patient:read */
    d = decide("clerk", "GET", "/lab/1", NULL);
    assert_int_equal(d.verdict, PG_DENY);
}

static void test_conditions(void **state)
{
    (void)state;
    struct view v = {.tenant = "a"};
    struct pg_decision d = decide("billing", "GET", "/tenant", &v);
    assert_string_equal(rule(&d), "hdr");
    v = (struct view){.query_view = "bills"};
    d = decide("billing", "GET", "/tenant", &v);
    assert_string_equal(rule(&d), "qry");
    assert_int_equal(d.verdict, PG_ALLOW);
    d = decide("billing", "GET", "/tenant", NULL);
    assert_null(d.route);
}

static void test_shadow(void **state)
{
    (void)state;
    struct pg_decision d = decide("lab_technician", "GET", "/lab/7", NULL);
    assert_string_equal(rule(&d), "lab");
    assert_int_equal(d.verdict, PG_ALLOW);
    assert_non_null(d.shadow);
    assert_string_equal(d.shadow->name, "shadow");
    assert_int_equal(d.shadow_verdict, PG_ALLOW); /* lab_technician holds lab:write */
    d = decide("nurse", "GET", "/lab/7", NULL);
    assert_int_equal(d.verdict, PG_ALLOW);
    assert_int_equal(d.shadow_verdict, PG_DENY);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_precedence), cmocka_unit_test(test_default_deny), cmocka_unit_test(test_inheritance),
        cmocka_unit_test(test_conditions), cmocka_unit_test(test_shadow),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
