#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "config.h"

#define BASE "\"issuer\":\"https://idp.test\",\"audience\":\"phiguard\",\"jwks_file\":\"/etc/jwks.json\""

static void a_full_config_is_read(void **state)
{
    (void)state;
    struct oidc_config c;
    char err[300];
    int rc = oidc_config_parse("{" BASE ",\"leeway_s\":10,\"user_claim\":\"oid\",\"username_claim\":\"upn\","
                               "\"roles_claim\":\"realm_access.roles\",\"role_map\":{\"doctors\":\"physician\","
                               "\"ops\":[\"owner\",\"security\"]},\"default_roles\":\"staff\","
                               "\"required_claims\":[\"email\",{\"claim\":\"email_verified\",\"equals\":true},"
                               "{\"claim\":\"tenant\",\"equals\":\"north\"}],\"reload_interval_ms\":250,"
                               "\"forward_token\":true}",
                               &c, err, sizeof err);
    if (rc)
        fail_msg("%s", err);
    assert_string_equal(c.issuer, "https://idp.test");
    assert_int_equal(c.naudiences, 1);
    assert_string_equal(c.jwks_file, "/etc/jwks.json");
    assert_int_equal(c.leeway_s, 10);
    assert_string_equal(c.user_claim, "oid");
    assert_string_equal(c.username_claim, "upn");
    assert_string_equal(c.roles_claim, "realm_access.roles");
    assert_int_equal(c.nrole_map, 2);
    assert_string_equal(c.role_map[1].idp_value, "ops");
    assert_int_equal(c.role_map[1].nroles, 2);
    assert_string_equal(c.role_map[1].roles[1], "security");
    assert_int_equal(c.ndefault_roles, 1);
    assert_int_equal(c.nrequired, 3);
    assert_int_equal(c.required[0].kind, OIDC_REQ_PRESENT);
    assert_int_equal(c.required[1].kind, OIDC_REQ_BOOL);
    assert_true(c.required[1].boolean);
    assert_int_equal(c.required[2].kind, OIDC_REQ_STRING);
    assert_string_equal(c.required[2].string, "north");
    assert_int_equal(c.reload_interval_ms, 250);
    assert_true(c.forward_token);
    oidc_config_free(&c);
}

static void defaults(void **state)
{
    (void)state;
    struct oidc_config c;
    char err[300];
    assert_int_equal(oidc_config_parse("{" BASE ",\"audience\":[\"a\",\"b\"]}", &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "duplicate")); /* audience twice */
    assert_int_equal(oidc_config_parse("{" BASE "}", &c, err, sizeof err), 0);
    assert_int_equal(c.leeway_s, OIDC_DEFAULT_LEEWAY_S);
    assert_int_equal(c.reload_interval_ms, OIDC_DEFAULT_RELOAD_MS);
    assert_null(c.user_claim);
    assert_null(c.roles_claim);
    assert_false(c.forward_token);
    oidc_config_free(&c);
}

static void expect_error(const char *json, const char *fragment)
{
    struct oidc_config c;
    char err[300] = "";
    assert_int_equal(oidc_config_parse(json, &c, err, sizeof err), -1);
    if (!strstr(err, fragment))
        fail_msg("error \"%s\" does not say \"%s\"", err, fragment);
    assert_true(strncmp(err, "oidc_auth config: ", 18) == 0);
}

static void every_mistake_is_named(void **state)
{
    (void)state;
    expect_error("[]", "not an object");
    expect_error("{", "not valid JSON");
    expect_error("{\"audience\":\"a\",\"jwks_file\":\"/x\"}", "issuer is required");
    expect_error("{\"issuer\":\"i\",\"jwks_file\":\"/x\"}", "audience is required");
    expect_error("{\"issuer\":\"i\",\"audience\":\"a\"}", "jwks_file is required");
    expect_error("{" BASE ",\"jwks\":\"/x\"}", "key \"jwks\" is not known");
    expect_error("{" BASE ",\"issuer\":\"j\"}", "duplicate");
    expect_error("{\"issuer\":\"\",\"audience\":\"a\",\"jwks_file\":\"/x\"}", "issuer must be a non-empty string");
    expect_error("{\"issuer\":\"i\",\"audience\":[],\"jwks_file\":\"/x\"}", "audience must be");
    expect_error("{\"issuer\":\"i\",\"audience\":[\"a\",1],\"jwks_file\":\"/x\"}", "audience must be a non-empty");
    expect_error("{" BASE ",\"leeway_s\":301}", "leeway_s must be an integer from 0 to 300");
    expect_error("{" BASE ",\"leeway_s\":\"60\"}", "leeway_s must be an integer");
    expect_error("{" BASE ",\"reload_interval_ms\":10}", "reload_interval_ms must be an integer from 100");
    expect_error("{" BASE ",\"user_claim\":\"a b\"}", "user_claim must be a claim name");
    expect_error("{" BASE ",\"roles_claim\":\"a..b\"}", "roles_claim must be a claim name");
    expect_error("{" BASE ",\"role_map\":{\"x\":\"y\"}}", "role_map needs roles_claim");
    expect_error("{" BASE ",\"roles_claim\":\"groups\"}", "roles_claim needs role_map");
    expect_error("{" BASE ",\"roles_claim\":\"g\",\"role_map\":[]}", "role_map must be a map");
    expect_error("{" BASE ",\"roles_claim\":\"g\",\"role_map\":{\"x\":\"a,b\"}}", "not [A-Za-z0-9_.:-]");
    expect_error("{" BASE ",\"roles_claim\":\"g\",\"role_map\":{\"x\":[]}}", "1 to 16 roles");
    expect_error("{" BASE ",\"roles_claim\":\"g\",\"role_map\":{\"\":\"r\"}}", "empty IdP value");
    expect_error("{" BASE ",\"default_roles\":[\"ok\",5]}", "default_roles must be a non-empty string");
    expect_error("{" BASE ",\"forward_token\":\"yes\"}", "forward_token must be true or false");
    expect_error("{" BASE ",\"required_claims\":\"sub\"}", "required_claims must be a list");
    expect_error("{" BASE ",\"required_claims\":[{\"claim\":\"a\"}]}", "entries are a claim name or");
    expect_error("{" BASE ",\"required_claims\":[{\"claim\":\"a\",\"equals\":3}]}", "equals must be");
    expect_error("{" BASE ",\"required_claims\":[{\"claim\":\"a\",\"equals\":\"x\",\"z\":1}]}", "entries are");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_full_config_is_read),
        cmocka_unit_test(defaults),
        cmocka_unit_test(every_mistake_is_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
