#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "claims.h"
#include "json_tree.h"

#define NOW 1800000000LL

static struct oidc_config cfg;

static int setup(void **state)
{
    (void)state;
    char err[300];
    return oidc_config_parse("{\"issuer\":\"https://idp.test\",\"audience\":[\"phiguard\",\"ehr\"],"
                             "\"jwks_file\":\"/x\",\"leeway_s\":30,\"required_claims\":[\"sub\","
                             "{\"claim\":\"email_verified\",\"equals\":true},"
                             "{\"claim\":\"realm_access.roles\",\"equals\":\"clinician\"}]}",
                             &cfg, err, sizeof err);
}

static int teardown(void **state)
{
    (void)state;
    oidc_config_free(&cfg);
    return 0;
}

/* Checks the claims object made of members (JSON text) at NOW. */
static int check(const char *members, char *err, long long *exp)
{
    char json[2048];
    snprintf(json, sizeof json, "{%s}", members);
    char perr[200];
    yajl_val v = oidc_json_parse_object(json, strlen(json), perr, sizeof perr);
    assert_non_null(v);
    int rc = oidc_claims_check(&cfg, v, NOW, exp, err, 300);
    yajl_tree_free(v);
    return rc;
}

#define REQ "\"sub\":\"u1\",\"email_verified\":true,\"realm_access\":{\"roles\":[\"x\",\"clinician\"]}"
#define ISS "\"iss\":\"https://idp.test\""

static void expect(const char *members, const char *fragment)
{
    char err[300] = "";
    long long exp = 0;
    int rc = check(members, err, &exp);
    if (!fragment) {
        if (rc != 0)
            fail_msg("refused: %s", err);
        return;
    }
    assert_int_equal(rc, -1);
    if (!strstr(err, fragment))
        fail_msg("error \"%s\" does not say \"%s\"", err, fragment);
}

static void good_claims_pass(void **state)
{
    (void)state;
    char err[300];
    long long exp = 0;
    assert_int_equal(check(ISS ",\"aud\":\"phiguard\",\"exp\":1800000600," REQ, err, &exp), 0);
    assert_int_equal(exp, 1800000600);
    expect(ISS ",\"aud\":[\"other\",\"ehr\"],\"exp\":1800000600,\"nbf\":1800000000,\"iat\":1799999000," REQ, NULL);
    expect(ISS ",\"aud\":\"ehr\",\"exp\":1800000600.5," REQ, NULL);
}

static void iss_and_aud(void **state)
{
    (void)state;
    expect("\"iss\":\"https://idp.test/\",\"aud\":\"phiguard\",\"exp\":1800000600," REQ, "iss is not");
    expect("\"aud\":\"phiguard\",\"exp\":1800000600," REQ, "iss is not");
    expect(ISS ",\"exp\":1800000600," REQ, "no aud");
    expect(ISS ",\"aud\":\"other\",\"exp\":1800000600," REQ, "aud does not name");
    expect(ISS ",\"aud\":[\"other\",7],\"exp\":1800000600," REQ, "aud does not name");
    expect(ISS ",\"aud\":[],\"exp\":1800000600," REQ, "aud does not name");
}

static void times_with_leeway(void **state)
{
    (void)state;
    expect(ISS ",\"aud\":\"ehr\"," REQ, "no exp");
    expect(ISS ",\"aud\":\"ehr\",\"exp\":\"1800000600\"," REQ, "not a number");
    /* exp: refused from exp + leeway on (RFC 7519: on or after exp) */
    expect(ISS ",\"aud\":\"ehr\",\"exp\":1799999971," REQ, NULL);
    expect(ISS ",\"aud\":\"ehr\",\"exp\":1799999970," REQ, "expired 30 s ago (leeway 30 s)");
    expect(ISS ",\"aud\":\"ehr\",\"exp\":-5," REQ, "expired");
    /* nbf and iat: up to leeway in the future */
    expect(ISS ",\"aud\":\"ehr\",\"exp\":1800000600,\"nbf\":1800000030," REQ, NULL);
    expect(ISS ",\"aud\":\"ehr\",\"exp\":1800000600,\"nbf\":1800000031," REQ, "nbf");
    expect(ISS ",\"aud\":\"ehr\",\"exp\":1800000600,\"iat\":1800000030," REQ, NULL);
    expect(ISS ",\"aud\":\"ehr\",\"exp\":1800000600,\"iat\":1800000031," REQ, "iat");
    expect(ISS ",\"aud\":\"ehr\",\"exp\":1800000600,\"iat\":null," REQ, "not a number");
}

static void required_claims(void **state)
{
    (void)state;
    const char *base = ISS ",\"aud\":\"ehr\",\"exp\":1800000600,";
    char m[1024];
    snprintf(m, sizeof m, "%s\"email_verified\":true,\"realm_access\":{\"roles\":[\"clinician\"]}", base);
    expect(m, "required claim sub");
    snprintf(m, sizeof m, "%s\"sub\":\"u\",\"email_verified\":false,\"realm_access\":{\"roles\":[\"clinician\"]}", base);
    expect(m, "required claim email_verified");
    snprintf(m, sizeof m, "%s\"sub\":\"u\",\"email_verified\":\"true\",\"realm_access\":{\"roles\":\"clinician\"}", base);
    expect(m, "required claim email_verified");
    snprintf(m, sizeof m, "%s\"sub\":\"u\",\"email_verified\":true,\"realm_access\":{\"roles\":\"clinician\"}", base);
    expect(m, NULL); /* a string equal to the value */
    snprintf(m, sizeof m, "%s\"sub\":\"u\",\"email_verified\":true,\"realm_access\":{\"roles\":[\"nurse\"]}", base);
    expect(m, "required claim realm_access.roles");
    snprintf(m, sizeof m, "%s\"sub\":null,\"email_verified\":true,\"realm_access\":{\"roles\":[\"clinician\"]}", base);
    expect(m, "required claim sub");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(good_claims_pass),
        cmocka_unit_test(iss_and_aud),
        cmocka_unit_test(times_with_leeway),
        cmocka_unit_test(required_claims),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
