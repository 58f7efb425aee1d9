#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "identity.h"
#include "json_tree.h"

static struct oidc_config cfg;

static void configure(const char *extra)
{
    char json[2048], err[300];
    oidc_config_free(&cfg);
    snprintf(json, sizeof json, "{\"issuer\":\"https://idp.test\",\"audience\":\"a\",\"jwks_file\":\"/x\"%s}", extra);
    if (oidc_config_parse(json, &cfg, err, sizeof err) != 0)
        fail_msg("config: %s", err);
}

static int teardown(void **state)
{
    (void)state;
    oidc_config_free(&cfg);
    return 0;
}

static int map(const char *claims, struct phg_identity *id, struct oidc_identity_buf *buf, char *err)
{
    char perr[200];
    yajl_val v = oidc_json_parse_object(claims, strlen(claims), perr, sizeof perr);
    assert_non_null(v);
    int rc = oidc_identity_map(&cfg, v, 1234, id, buf, err, 300);
    yajl_tree_free(v);
    return rc;
}

static void defaults_are_iss_sub_and_preferred_username(void **state)
{
    (void)state;
    configure("");
    struct phg_identity id;
    struct oidc_identity_buf buf;
    char err[300];
    assert_int_equal(map("{\"iss\":\"https://idp.test\",\"sub\":\"248289761001\",\"preferred_username\":\"j.doe\","
                         "\"email\":\"j@x\"}",
                         &id, &buf, err),
                     0);
    assert_string_equal(id.user_id, "https://idp.test|248289761001");
    assert_string_equal(id.username, "j.doe");
    assert_string_equal(id.method, "oidc");
    assert_int_equal(id.expires_at, 1234 + OIDC_DEFAULT_LEEWAY_S);
    assert_int_equal(id.nroles, 0);
    assert_int_equal(map("{\"iss\":\"https://idp.test\",\"sub\":\"s\",\"email\":\"j@x\"}", &id, &buf, err), 0);
    assert_string_equal(id.username, "j@x");
    assert_int_equal(map("{\"iss\":\"https://idp.test\",\"sub\":\"s\"}", &id, &buf, err), 0);
    assert_null(id.username);
    assert_int_equal(map("{\"iss\":\"https://idp.test\"}", &id, &buf, err), -1);
    assert_non_null(strstr(err, "sub is missing"));
    assert_int_equal(map("{\"iss\":\"https://idp.test\",\"sub\":\"a\\r\\nX-Injected: 1\"}", &id, &buf, err), -1);
    assert_int_equal(map("{\"iss\":\"https://idp.test\",\"sub\":\"\"}", &id, &buf, err), -1);
    /* 256 bytes of user id is the most phiguard takes */
    char claims[600], sub[300];
    memset(sub, 's', sizeof sub);
    sub[256 - strlen("https://idp.test|")] = '\0';
    snprintf(claims, sizeof claims, "{\"iss\":\"https://idp.test\",\"sub\":\"%s\"}", sub);
    assert_int_equal(map(claims, &id, &buf, err), 0);
    assert_int_equal(strlen(id.user_id), 256);
    strcat(sub, "s");
    snprintf(claims, sizeof claims, "{\"iss\":\"https://idp.test\",\"sub\":\"%s\"}", sub);
    assert_int_equal(map(claims, &id, &buf, err), -1);
}

static void configured_claims(void **state)
{
    (void)state;
    configure(",\"user_claim\":\"ext.employee_id\",\"username_claim\":\"upn\"");
    struct phg_identity id;
    struct oidc_identity_buf buf;
    char err[300];
    assert_int_equal(map("{\"sub\":\"s\",\"ext\":{\"employee_id\":\"E42\"},\"upn\":\"jd@corp\","
                         "\"preferred_username\":\"no\"}",
                         &id, &buf, err),
                     0);
    assert_string_equal(id.user_id, "E42");
    assert_string_equal(id.username, "jd@corp");
    assert_int_equal(map("{\"sub\":\"s\",\"ext\":{\"employee_id\":42}}", &id, &buf, err), -1);
    assert_non_null(strstr(err, "user claim ext.employee_id"));
}

static void roles_go_through_the_map(void **state)
{
    (void)state;
    configure(",\"roles_claim\":\"realm_access.roles\",\"role_map\":{\"doctors\":\"physician\","
              "\"nurses\":[\"nurse\",\"staff\"],\"all\":\"staff\"},\"default_roles\":[\"staff\"]");
    struct phg_identity id;
    struct oidc_identity_buf buf;
    char err[300];
    assert_int_equal(map("{\"iss\":\"i\",\"sub\":\"s\",\"realm_access\":{\"roles\":[\"doctors\",\"nurses\","
                         "\"admin\",7,\"all\"]}}",
                         &id, &buf, err),
                     0);
    assert_int_equal(id.nroles, 3); /* staff once, though three rules give it */
    assert_string_equal(id.roles[0], "staff");
    assert_string_equal(id.roles[1], "physician");
    assert_string_equal(id.roles[2], "nurse");
    assert_int_equal(buf.unmapped, 2); /* admin, and the number */
    /* one string instead of a list */
    assert_int_equal(map("{\"iss\":\"i\",\"sub\":\"s\",\"realm_access\":{\"roles\":\"doctors\"}}", &id, &buf, err), 0);
    assert_int_equal(id.nroles, 2);
    assert_string_equal(id.roles[1], "physician");
    /* no roles claim: default roles only */
    assert_int_equal(map("{\"iss\":\"i\",\"sub\":\"s\"}", &id, &buf, err), 0);
    assert_int_equal(id.nroles, 1);
    /* a value of another shape is refused rather than guessed at */
    assert_int_equal(map("{\"iss\":\"i\",\"sub\":\"s\",\"realm_access\":{\"roles\":{\"doctors\":1}}}", &id, &buf, err),
                     -1);
    assert_non_null(strstr(err, "neither a string nor a list"));
    /* case matters: IdP values are compared exactly */
    assert_int_equal(map("{\"iss\":\"i\",\"sub\":\"s\",\"realm_access\":{\"roles\":[\"Doctors\"]}}", &id, &buf, err), 0);
    assert_int_equal(id.nroles, 1);
}

static void roles_are_capped(void **state)
{
    (void)state;
    char extra[4096] = ",\"roles_claim\":\"groups\",\"role_map\":{";
    char claims[4096] = "{\"iss\":\"i\",\"sub\":\"s\",\"groups\":[";
    for (int i = 0; i < 20; i++) {
        size_t n = strlen(extra), m = strlen(claims);
        snprintf(extra + n, sizeof extra - n, "%s\"g%d\":\"r%d\"", i ? "," : "", i, i);
        snprintf(claims + m, sizeof claims - m, "%s\"g%d\"", i ? "," : "", i);
    }
    strcat(extra, "}");
    strcat(claims, "]}");
    configure(extra);
    struct phg_identity id;
    struct oidc_identity_buf buf;
    char err[300];
    assert_int_equal(map(claims, &id, &buf, err), 0);
    assert_int_equal(id.nroles, PHG_MAX_ROLES);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_are_iss_sub_and_preferred_username),
        cmocka_unit_test(configured_claims),
        cmocka_unit_test(roles_go_through_the_map),
        cmocka_unit_test(roles_are_capped),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
