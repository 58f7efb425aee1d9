/* Loading policies (policy/load.c, policy/compile.c): 30+ malformed
 * policies, each with the exact error and its line:column, and the sample
 * policy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"

struct bad {
    const char *name;
    const char *yaml;
    const char *error; /* expected in one of the errors, after "t.yaml:" */
};

#define OK_ROUTE "routes:\n  - {methods: [GET], path: /a, public: true}\n"

static const struct bad bad_policies[] = {
    {"empty file", "", "1:1: expected a mapping at the top level"},
    {"list at top", "- a\n", "1:1: expected a mapping at the top level"},
    {"yaml syntax", "version: [1\n", "YAML syntax error"},
    {"no version", OK_ROUTE, "1:1: version: missing (required)"},
    {"wrong version", "version: 2\n" OK_ROUTE, "1:10: version: unsupported schema version '2'"},
    {"unknown top key", "version: 1\nroutez: []\n" OK_ROUTE, "2:1: routez: unknown key"},
    {"duplicate top key", "version: 1\nversion: 1\n" OK_ROUTE, "2:1: version: duplicate key (first at line 1)"},
    {"no routes", "version: 1\n", "1:1: routes: missing (required)"},
    {"routes not a list", "version: 1\nroutes: {a: 1}\n", "2:9: routes: expected a list of routes"},
    {"unknown route key", "version: 1\nroutes:\n  - {methods: [GET], path: /a, public: true, colour: red}\n",
     "3:46: routes[0].colour: unknown key"},
    {"missing path", "version: 1\nroutes:\n  - {methods: [GET], public: true}\n", "3:5: routes[0].path: missing (required)"},
    {"relative path", "version: 1\nroutes:\n  - {methods: [GET], path: a/b, public: true}\n",
     "3:28: routes[0].path: expected a path starting with /"},
    {"globstar not last", "version: 1\nroutes:\n  - {methods: [GET], path: /a/**/b, public: true}\n",
     "routes[0].path: ** may only be the last segment"},
    {"bad param", "version: 1\nroutes:\n  - {methods: [GET], path: \"/a/{b-c}\", public: true}\n",
     "routes[0].path: a parameter name has letters, digits and _ only"},
    {"empty segment", "version: 1\nroutes:\n  - {methods: [GET], path: /a//b, public: true}\n",
     "routes[0].path: empty path segment"},
    {"no methods", "version: 1\nroutes:\n  - {path: /a, public: true}\n", "3:5: routes[0].methods: missing (required)"},
    {"unknown method", "version: 1\nroutes:\n  - {methods: [GET, FETCH], path: /a, public: true}\n",
     "routes[0].methods: unknown method 'FETCH'"},
    {"no permissions", "version: 1\nroutes:\n  - {methods: [GET], path: /a}\n",
     "3:5: routes[0].permissions: missing: a route needs permissions, or public: true"},
    {"public with permissions",
     "version: 1\nroutes:\n  - {methods: [GET], path: /a, public: true, permissions: [patient:read]}\n",
     "3:59: routes[0].permissions: a public route takes no permissions"},
    {"undefined permission", "version: 1\nroutes:\n  - {methods: [GET], path: /a, permissions: [patient:sing]}\n",
     "3:45: routes[0].permissions: undefined permission 'patient:sing'"},
    {"bad mode", "version: 1\nroutes:\n  - {methods: [GET], path: /a, public: true, mode: loud}\n",
     "3:52: routes[0].mode: expected enforce or shadow"},
    {"public not bool", "version: 1\nroutes:\n  - {methods: [GET], path: /a, public: yes}\n",
     "routes[0]: public: expected true or false"},
    {"shadowed route",
     "version: 1\nroutes:\n  - {methods: [GET, POST], path: \"/p/{id}\", public: true}\n"
     "  - {methods: [GET], path: \"/p/{pid}\", permissions: [patient:read]}\n",
     "4:5: routes[1]: unreachable: the route at line 3 (/p/{id})"},
    {"duplicate route name",
     "version: 1\nroutes:\n  - {name: r, methods: [GET], path: /a, public: true}\n"
     "  - {name: r, methods: [GET], path: /b, public: true}\n",
     "4:5: routes: route name 'r' is already used at line 3"},
    {"undefined role in inherits",
     "version: 1\nroles:\n  clerk: {inherits: [nurze]}\n" OK_ROUTE, "3:21: roles.clerk.inherits: undefined role 'nurze'"},
    {"redefine builtin", "version: 1\nroles:\n  nurse: {permissions: [patient:read]}\n" OK_ROUTE,
     "3:3: roles.nurse: built-in role cannot be redefined"},
    {"bad role name", "version: 1\nroles:\n  Clerk: {inherits: [nurse]}\n" OK_ROUTE,
     "3:3: roles: 'Clerk' is not a role name"},
    {"inheritance cycle",
     "version: 1\nroles:\n  a: {inherits: [b]}\n  b: {inherits: [c]}\n  c: {inherits: [a]}\n" OK_ROUTE,
     "roles.a: inheritance cycle"},
    {"role with nothing", "version: 1\nroles:\n  clerk: {description: x}\n" OK_ROUTE,
     "3:10: roles.clerk: a role needs permissions or inherits"},
    {"unknown role key", "version: 1\nroles:\n  clerk: {inherits: [nurse], powers: [x]}\n" OK_ROUTE,
     "3:30: roles.clerk.powers: unknown key"},
    {"undefined role permission", "version: 1\nroles:\n  clerk: {permissions: [fly:high]}\n" OK_ROUTE,
     "3:24: roles.clerk.permissions: undefined permission 'fly:high'"},
    {"bad permission name", "version: 1\npermissions: [Export]\n" OK_ROUTE,
     "2:15: permissions: 'Export' is not a permission name"},
    {"permission defined twice", "version: 1\npermissions: [patient:read]\n" OK_ROUTE,
     "2:15: permissions: 'patient:read' is already defined"},
    {"phi without entity",
     "version: 1\nroutes:\n  - methods: [GET]\n    path: /p\n    permissions: [patient:read]\n"
     "    phi: {response: [{path: $.name, read: phi:read:demographics}]}\n",
     "6:10: routes[0].phi: PHI fields need the route's entity"},
    {"bad selector",
     "version: 1\nroutes:\n  - methods: [GET]\n    path: /p\n    entity: Patient\n    permissions: [patient:read]\n"
     "    phi: {response: [{path: name, read: phi:read:demographics}]}\n",
     "7:29: routes[0].phi.response.path: a selector starts with $"},
    {"bad selector step",
     "version: 1\nroutes:\n  - methods: [GET]\n    path: /p\n    entity: Patient\n    permissions: [patient:read]\n"
     "    phi: {response: [{path: \"$.name[0]\", read: phi:read:demographics}]}\n",
     "routes[0].phi.response.path: unexpected '[' at position 7"},
    {"phi read undefined",
     "version: 1\nroutes:\n  - methods: [GET]\n    path: /p\n    entity: Patient\n    permissions: [patient:read]\n"
     "    phi: {response: [{path: $.name, read: phi:read:souls}]}\n",
     "routes[0].phi.response: read: undefined permission 'phi:read:souls'"},
    {"phi bad others",
     "version: 1\nroutes:\n  - methods: [GET]\n    path: /p\n    entity: Patient\n    permissions: [patient:read]\n"
     "    phi: {response: [{path: $.name, read: phi:read:demographics, others: hide}]}\n",
     "routes[0].phi.response: others: expected one of: mask, redact, deny"},
    {"phi bad mask",
     "version: 1\nroutes:\n  - methods: [GET]\n    path: /p\n    entity: Patient\n    permissions: [patient:read]\n"
     "    phi: {response: [{path: $.ssn, read: phi:read:identifiers, mask: first4}]}\n",
     "routes[0].phi.response: mask: expected all or lastN"},
    {"normalize without searchable",
     "version: 1\nroutes:\n  - methods: [GET]\n    path: /p\n    entity: Patient\n    permissions: [patient:read]\n"
     "    phi: {request: [{path: $.ssn, read: phi:read:identifiers, normalize: digits}]}\n",
     "routes[0].phi.request: normalize only applies to searchable fields"},
    {"bad session duration", "version: 1\n" OK_ROUTE "sessions: {idle_timeout: soon}\n",
     "4:26: sessions.idle_timeout: expected a duration"},
    {"idle longer than lifetime", "version: 1\n" OK_ROUTE "sessions: {idle_timeout: 2h, absolute_lifetime: 1h}\n",
     "4:11: sessions: idle_timeout is longer than absolute_lifetime"},
    {"lockout out of range", "version: 1\n" OK_ROUTE "lockout: {max_failures: 0}\n",
     "4:25: lockout.max_failures: 0 is out of range (1 to 100)"},
    {"unknown lockout key", "version: 1\n" OK_ROUTE "lockout: {tries: 5}\n", "4:11: lockout.tries: unknown key"},
    {"rate limit bad rate", "version: 1\n" OK_ROUTE "rate_limits:\n  - {name: a, key: [ip], rate: fast}\n",
     "5:32: rate_limits[0].rate: expected a rate such as 100/s"},
    {"rate limit bad key", "version: 1\n" OK_ROUTE "rate_limits:\n  - {name: a, key: [mood], rate: 1/s}\n",
     "rate_limits[0].key: unknown key 'mood'"},
    {"rate limit unknown route",
     "version: 1\n" OK_ROUTE "rate_limits:\n  - {name: a, key: [ip], rate: 1/s, route: nowhere}\n",
     "rate_limits[0]: route: no route is named 'nowhere'"},
    {"bad on_limit", "version: 1\n" OK_ROUTE "sessions: {on_limit: panic}\n",
     "sessions.on_limit: expected refuse or end_oldest"},
};

static void test_malformed_policies(void **state)
{
    (void)state;
    int n = (int)(sizeof bad_policies / sizeof bad_policies[0]);
    assert_true(n >= 30);
    for (int i = 0; i < n; i++) {
        struct pg_policy_errors errs = {0};
        const struct bad *b = &bad_policies[i];
        struct pg_policy *p = pg_policy_load_buffer("t.yaml", b->yaml, strlen(b->yaml), &errs);
        if (p)
            fail_msg("%s: loaded", b->name);
        bool found = false;
        char want[300];
        snprintf(want, sizeof want, "t.yaml:%s", b->error);
        /* An expectation that starts with LINE:COL must match at that place. */
        bool placed = b->error[0] >= '0' && b->error[0] <= '9';
        for (int k = 0; k < errs.count; k++)
            found |= strstr(errs.items[k], placed ? want : b->error) != NULL;
        if (!found) {
            for (int k = 0; k < errs.count; k++)
                print_error("  got: %s\n", errs.items[k]);
            fail_msg("%s: expected '%s'", b->name, b->error);
        }
        pg_policy_errors_free(&errs);
    }
}

static void test_every_error_is_reported(void **state)
{
    (void)state;
    const char *y = "version: 1\nroles:\n  a: {inherits: [zz]}\nroutes:\n  - {methods: [GIT], path: x}\n";
    struct pg_policy_errors errs = {0};
    assert_null(pg_policy_load_buffer("t.yaml", y, strlen(y), &errs));
    assert_true(errs.count >= 3);
    pg_policy_errors_free(&errs);
}

static void test_sample_policy_loads(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/conf/policy.yaml", getenv("PHIGUARD_SOURCE_DIR"));
    struct pg_policy_errors errs = {0};
    struct pg_policy *p = pg_policy_load(path, &errs);
    for (int k = 0; k < errs.count; k++)
        print_error("%s\n", errs.items[k]);
    assert_non_null(p);
    assert_int_equal(strlen(p->sha256), 64);
    assert_true(pg_policy_role_index(p, "physician") >= 0);
    assert_true(pg_policy_role_index(p, "charge_nurse") >= 0);
    pg_policy_unref(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_malformed_policies),
        cmocka_unit_test(test_every_error_is_reported),
        cmocka_unit_test(test_sample_policy_loads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
