/* The entry point and the authenticate hook, driven by a host of the
 * test's own: what the plugin answers for each kind of credential, what
 * it logs, and that a load fails with a reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "oidc_auth.h"
#include "oidc_test_keys.h"

static char logbuf[16384];
static int alerts;
static const char *authorization; /* the request's Authorization header */
static EVP_PKEY *rsa, *ec;
static char dir[64], jwks_path[128];

static void host_log(phg_plugin_handle *p, enum phg_log_level level, const char *fmt, ...)
{
    (void)p;
    (void)level;
    size_t n = strlen(logbuf);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(logbuf + n, sizeof logbuf - n, fmt, ap);
    va_end(ap);
    n = strlen(logbuf);
    snprintf(logbuf + n, sizeof logbuf - n, "\n");
}

static void host_alert(phg_plugin_handle *p, enum phg_severity s, const char *rule, const char *detail)
{
    (void)p;
    (void)s;
    (void)rule;
    (void)detail;
    alerts++;
}

static const char *host_request_id(phg_request *r)
{
    (void)r;
    return "req-1";
}

static const char *host_header(phg_request *r, const char *name, size_t *len)
{
    (void)r;
    if (strcasecmp(name, "authorization") != 0 || !authorization)
        return NULL;
    *len = strlen(authorization);
    return authorization;
}

static int removed; /* remove_header("authorization") calls */

static int host_remove_header(phg_request *r, const char *name)
{
    (void)r;
    if (!strcasecmp(name, "authorization"))
        removed++;
    return 0;
}

static const struct phg_host host = {
    .remove_header = host_remove_header,
    .abi = PHG_ABI_CURRENT,
    .size = sizeof(struct phg_host),
    .version = "test",
    .log = host_log,
    .alert = host_alert,
    .request_id = host_request_id,
    .header = host_header,
};

static int setup(void **state)
{
    (void)state;
    rsa = test_rsa_key();
    ec = test_ec_key();
    strcpy(dir, "/tmp/oidc-auth-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(jwks_path, sizeof jwks_path, "%s/jwks.json", dir);
    char *a = test_jwk(rsa, "r1"), *b = test_jwk(ec, "e1"), *set = test_jwks(a, b);
    FILE *f = fopen(jwks_path, "w");
    fputs(set, f);
    fclose(f);
    free(a);
    free(b);
    free(set);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(jwks_path);
    rmdir(dir);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
    return 0;
}

static int load(struct phg_plugin *plugin, const char *extra, char *err)
{
    char cfg[2048];
    snprintf(cfg, sizeof cfg,
             "{\"issuer\":\"https://idp.test\",\"audience\":\"phiguard\",\"jwks_file\":\"%s\","
             "\"roles_claim\":\"groups\",\"role_map\":{\"doctors\":\"physician\"}%s}",
             jwks_path, extra);
    memset(plugin, 0, sizeof *plugin);
    plugin->size = sizeof *plugin;
    return oidc_entry(PHG_ABI_CURRENT, &host, NULL, cfg, plugin, err, 400);
}

/* A token of claims (JSON members after iss/aud/exp) signed with k. */
static char *token(EVP_PKEY *k, const char *header, const char *iss, long long exp, const char *members)
{
    char payload[2048];
    snprintf(payload, sizeof payload, "{\"iss\":\"%s\",\"aud\":\"phiguard\",\"exp\":%lld%s}", iss, exp, members);
    return test_sign(k, header, payload);
}

static enum phg_auth_result authenticate(struct phg_plugin *p, const char *value, struct phg_identity *id)
{
    authorization = value;
    memset(id, 0, sizeof *id);
    return p->authenticate(p->state, NULL, id);
}

static void loads_and_answers_each_kind_of_credential(void **state)
{
    (void)state;
    struct phg_plugin p;
    char err[400];
    logbuf[0] = '\0';
    assert_int_equal(load(&p, "", err), 0);
    assert_string_equal(p.name, "oidc_auth");
    assert_non_null(p.authenticate);
    assert_true(p.request_headers == oidc_hide_token); /* forward_token is off */
    assert_non_null(strstr(logbuf, "2 keys from"));

    struct phg_identity id;
    long long exp = (long long)time(NULL) + 300;
    char *t = token(rsa, "{\"alg\":\"RS256\",\"kid\":\"r1\"}", "https://idp.test", exp,
                    ",\"sub\":\"u1\",\"preferred_username\":\"dr.who\",\"groups\":[\"doctors\",\"x\"]");
    char bearer[4096];
    snprintf(bearer, sizeof bearer, "Bearer %s", t);
    assert_int_equal(authenticate(&p, bearer, &id), PHG_AUTH_OK);
    assert_string_equal(id.user_id, "https://idp.test|u1");
    assert_string_equal(id.username, "dr.who");
    assert_int_equal(id.nroles, 1);
    assert_string_equal(id.roles[0], "physician");
    assert_string_equal(id.method, "oidc");
    assert_int_equal(id.expires_at, exp + 60); /* the default leeway */
    snprintf(bearer, sizeof bearer, "bearer %s", t); /* the scheme is case-insensitive */
    assert_int_equal(authenticate(&p, bearer, &id), PHG_AUTH_OK);
    free(t);

    t = token(ec, "{\"alg\":\"ES256\",\"kid\":\"e1\"}", "https://idp.test", exp, ",\"sub\":\"u2\"");
    snprintf(bearer, sizeof bearer, "Bearer %s", t);
    assert_int_equal(authenticate(&p, bearer, &id), PHG_AUTH_OK);
    assert_string_equal(id.user_id, "https://idp.test|u2");
    free(t);

    /* not ours: no header, another scheme, an opaque token, another issuer */
    assert_int_equal(authenticate(&p, NULL, &id), PHG_AUTH_DECLINE);
    assert_int_equal(authenticate(&p, "Basic dXNlcjpwYXNz", &id), PHG_AUTH_DECLINE);
    assert_int_equal(authenticate(&p, "Bearer 3q2-7wAAAAA", &id), PHG_AUTH_DECLINE);
    assert_int_equal(authenticate(&p, "Bearer ", &id), PHG_AUTH_DECLINE);
    t = token(rsa, "{\"alg\":\"RS256\",\"kid\":\"r1\"}", "https://other.idp", exp, ",\"sub\":\"u1\"");
    snprintf(bearer, sizeof bearer, "Bearer %s", t);
    assert_int_equal(authenticate(&p, bearer, &id), PHG_AUTH_DECLINE);
    free(t);
    /* phiguard's own session token: HS256 under its own issuer */
    char *h = test_b64url_str("{\"alg\":\"HS256\",\"typ\":\"JWT\"}");
    char *pl = test_b64url_str("{\"sid\":\"s\",\"sub\":\"dr.grey\",\"iss\":\"phiguard\",\"aud\":\"phiguard\"}");
    char input[1024];
    snprintf(input, sizeof input, "%s.%s", h, pl);
    unsigned char mac[32];
    unsigned int maclen;
    HMAC(EVP_sha256(), "k", 1, (unsigned char *)input, strlen(input), mac, &maclen);
    char *m = test_b64url(mac, maclen);
    snprintf(bearer, sizeof bearer, "Bearer %s.%s", input, m);
    assert_int_equal(authenticate(&p, bearer, &id), PHG_AUTH_DECLINE);
    free(h);
    free(pl);
    free(m);

    /* Only this issuer's tokens are kept from the upstream. */
    removed = 0;
    assert_int_equal(p.request_headers(p.state, NULL), PHG_CONTINUE); /* phiguard's own */
    assert_int_equal(removed, 0);
    t = token(rsa, "{\"alg\":\"RS256\",\"kid\":\"r1\"}", "https://idp.test", exp, ",\"sub\":\"u1\"");
    snprintf(bearer, sizeof bearer, "Bearer %s", t);
    authorization = bearer;
    assert_int_equal(p.request_headers(p.state, NULL), PHG_CONTINUE);
    assert_int_equal(removed, 1);
    free(t);

    /* ours and not valid: refused, the reason logged, the token not */
    logbuf[0] = '\0';
    t = token(rsa, "{\"alg\":\"RS256\",\"kid\":\"r1\"}", "https://idp.test", exp - 10000, ",\"sub\":\"u1\"");
    snprintf(bearer, sizeof bearer, "Bearer %s", t);
    assert_int_equal(authenticate(&p, bearer, &id), PHG_AUTH_REJECT);
    assert_non_null(strstr(logbuf, "token refused (request req-1): expired"));
    assert_null(strstr(logbuf, strrchr(t, '.') + 1));
    assert_null(strstr(logbuf, "u1"));
    free(t);
    t = token(ec, "{\"alg\":\"ES256\",\"kid\":\"r1\"}", "https://idp.test", exp, ",\"sub\":\"u1\"");
    snprintf(bearer, sizeof bearer, "Bearer %s", t);
    assert_int_equal(authenticate(&p, bearer, &id), PHG_AUTH_REJECT);
    assert_non_null(strstr(logbuf, "does not match key r1"));
    free(t);
    t = token(rsa, "{\"alg\":\"RS256\",\"kid\":\"r1\"}", "https://idp.test", exp, "");
    snprintf(bearer, sizeof bearer, "Bearer %s", t);
    assert_int_equal(authenticate(&p, bearer, &id), PHG_AUTH_REJECT);
    assert_non_null(strstr(logbuf, "sub is missing"));
    free(t);
    p.unload(p.state);
}

static void forward_token_keeps_the_header(void **state)
{
    (void)state;
    struct phg_plugin p;
    char err[400];
    assert_int_equal(load(&p, ",\"forward_token\":true", err), 0);
    assert_null(p.request_headers);
    p.unload(p.state);
}

static void a_load_fails_with_a_reason(void **state)
{
    (void)state;
    struct phg_plugin p;
    char err[400];
    assert_int_equal(load(&p, ",\"leeway\":5", err), -1);
    assert_non_null(strstr(err, "key \"leeway\" is not known"));
    memset(&p, 0, sizeof p);
    assert_int_equal(oidc_entry(PHG_ABI_CURRENT, &host, NULL,
                                "{\"issuer\":\"i\",\"audience\":\"a\",\"jwks_file\":\"/nonexistent/jwks.json\"}", &p,
                                err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "oidc_auth: cannot open /nonexistent/jwks.json"));
    assert_int_equal(oidc_entry(PHG_ABI_VERSION(2, 0), &host, NULL, "{}", &p, err, sizeof err), -1);
    assert_non_null(strstr(err, "ABI 1.x, loaded under 2.0"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(loads_and_answers_each_kind_of_credential),
        cmocka_unit_test(forward_token_keeps_the_header),
        cmocka_unit_test(a_load_fails_with_a_reason),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
