/* The configuration loader (proxy/config.c): defaults, types, and the exact
 * error for each kind of mistake. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy/config.h"

static char tmpdir[64];

static int setup(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/pg-config-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/c.yaml", tmpdir);
    unlink(path);
    rmdir(tmpdir);
    return 0;
}

static const char minimal[] = "listen: \"127.0.0.1:8443\"\n"
                              "tls:\n  certificate: c.pem\n  key: /abs/k.pem\n"
                              "upstream:\n  address: \"127.0.0.1:8080\"\n";

/* Writes text to a file and loads it; returns the loader's result. */
static int load(const char *text, struct pg_config *cfg, char *err, size_t errlen)
{
    char path[128];
    snprintf(path, sizeof path, "%s/c.yaml", tmpdir);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return pg_config_load(path, cfg, err, errlen);
}

static void test_defaults(void **state)
{
    (void)state;
    struct pg_config c;
    char err[1024];
    setenv("POD_NAME", "pod-7", 1);
    assert_int_equal(load(minimal, &c, err, sizeof err), 0);
    unsetenv("POD_NAME");
    assert_int_equal(c.workers, 0);
    assert_string_equal(c.instance_id, "pod-7");
    assert_int_equal(c.tls.min_version, TLS1_3_VERSION);
    assert_int_equal(c.tls.client_auth, PG_CLIENT_AUTH_NONE);
    assert_null(c.tls.client_ca);
    char expect[160];
    snprintf(expect, sizeof expect, "%s/c.pem", tmpdir);
    assert_string_equal(c.tls.certificate, expect); /* relative to the file */
    assert_string_equal(c.tls.key, "/abs/k.pem");
    assert_int_equal(c.upstream.connect_timeout_ms, 5000);
    assert_int_equal(c.upstream.response_timeout_ms, 60000);
    assert_int_equal(c.upstream.max_idle, 64);
    assert_string_equal(c.admin_listen.text, "127.0.0.1:9090");
    assert_int_equal(c.limits.max_header_bytes, 16384);
    assert_int_equal(c.limits.max_body_bytes, 10 << 20);
    assert_int_equal(c.limits.high_water_bytes, 256 << 10);
    assert_int_equal(c.timeouts.header_read_ms, 10000);
    assert_string_equal(c.security_headers.x_frame_options, "DENY");
    assert_int_equal(c.log_level, PG_LOG_INFO);
    assert_true(c.access_log);
    pg_config_free(&c);
}

static void test_types(void **state)
{
    (void)state;
    struct pg_config c;
    char err[1024], text[1024];
    snprintf(text, sizeof text,
             "%sworkers: 3\ntimeouts:\n  header_read: 500ms\n  keepalive: 2m\n  drain: 1h\n"
             "limits:\n  max_body_bytes: 1GiB\n  max_header_bytes: 2048\n"
             "security_headers:\n  x_frame_options: null\n  referrer_policy: \"\"\n"
             "log:\n  access: false\n  level: warn\n",
             minimal);
    assert_int_equal(load(text, &c, err, sizeof err), 0);
    assert_int_equal(c.workers, 3);
    assert_int_equal(c.timeouts.header_read_ms, 500);
    assert_int_equal(c.timeouts.keepalive_ms, 120000);
    assert_int_equal(c.timeouts.drain_ms, 3600000);
    assert_int_equal(c.limits.max_body_bytes, 1ULL << 30);
    assert_int_equal(c.limits.max_header_bytes, 2048);
    assert_null(c.security_headers.x_frame_options);
    assert_null(c.security_headers.referrer_policy);
    assert_false(c.access_log);
    assert_int_equal(c.log_level, PG_LOG_WARN);
    pg_config_free(&c);
}

static void test_mtls_and_unix(void **state)
{
    (void)state;
    struct pg_config c;
    char err[1024];
    const char *text = "listen: \"[::1]:8443\"\n"
                       "tls:\n  certificate: c.pem\n  key: k.pem\n  client_ca: ca.pem\n  min_version: \"1.2\"\n"
                       "upstream:\n  address: unix:/run/app.sock\n";
    assert_int_equal(load(text, &c, err, sizeof err), 0);
    assert_int_equal(c.tls.client_auth, PG_CLIENT_AUTH_REQUIRE);
    assert_int_equal(c.tls.min_version, TLS1_2_VERSION);
    assert_true(c.upstream.addr.is_unix);
    assert_false(c.listen.is_unix);
    pg_config_free(&c);
}

struct bad_case {
    const char *name;
    const char *text; /* appended after the minimal config, from line 7 */
    const char *error;
};

static const struct bad_case bad_cases[] = {
    {"unknown key", "colour: blue\n", ":7:1: colour: unknown key"},
    {"section given twice", "tls:\n  ciphers: x\n", ":7:1: tls: duplicate key"},
    {"unknown key in section", "limits:\n  max_bodies: 3\n", ":8:3: limits.max_bodies: unknown key"},
    {"duplicate key", "workers: 1\nworkers: 2\n", ":8:1: workers: duplicate key"},
    {"not a number", "workers: many\n", ":7:10: workers: expected a whole number"},
    {"out of range", "workers: 100000\n", ":7:10: workers: 100000 is out of range (0 to 256)"},
    {"bad size", "limits:\n  max_body_bytes: 10MB\n", ":8:19: limits.max_body_bytes: expected a size such as"},
    {"bad duration", "timeouts:\n  drain: soon\n", ":8:10: timeouts.drain: expected a duration such as"},
    {"bad bool", "log:\n  access: yes\n", ":8:11: log.access: expected true or false"},
    {"bad enum", "log:\n  level: loud\n", ":8:10: log.level: expected one of: debug, info, warn, error"},
    {"section not a mapping", "limits: 3\n", ":7:9: limits: expected a mapping of keys"},
    {"scalar given a list", "workers: [1, 2]\n", ":7:10: workers: expected a whole number, not a list"},
    {"bad address", "admin:\n  listen: localhost\n", ":8:11: admin.listen: expected host:port"},
    {"bad port", "admin:\n  listen: \"127.0.0.1:70000\"\n", ":8:11: admin.listen: port must be a number"},
    {"relative unix path", "admin:\n  listen: unix:run.sock\n", "a unix socket path must be absolute"},
};

static void test_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        char text[1024], err[2048];
        snprintf(text, sizeof text, "%s%s", minimal, bad_cases[i].text);
        struct pg_config c;
        if (load(text, &c, err, sizeof err) == 0)
            fail_msg("%s: loaded", bad_cases[i].name);
        if (!strstr(err, bad_cases[i].error))
            fail_msg("%s: expected '%s' in:\n%s", bad_cases[i].name, bad_cases[i].error, err);
    }
}

static void test_whole_file_errors(void **state)
{
    (void)state;
    struct pg_config c;
    char err[2048];
    /* Every error is reported, not only the first, each with its place. */
    assert_int_equal(load("listen: \"127.0.0.1:8443\"\ntls:\n  min_version: \"1.0\"\nlog:\n  level: x\n", &c, err,
                          sizeof err),
                     -1);
    assert_non_null(strstr(err, ":3:16: tls.min_version: TLS below 1.2 is not allowed"));
    assert_non_null(strstr(err, ":5:10: log.level: expected one of"));
    assert_non_null(strstr(err, ":1:1: tls.certificate: missing (required)"));
    assert_non_null(strstr(err, ":1:1: tls.key: missing (required)"));
    assert_non_null(strstr(err, ":1:1: upstream.address: missing (required)"));
    assert_int_equal(load("tls:\n  client_auth: optional\n", &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "tls.client_auth: needs tls.client_ca"));
    assert_int_equal(load("listen: [unclosed\n", &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "YAML syntax error"));
    assert_int_equal(load("", &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "the file is empty"));
    assert_int_equal(pg_config_load("/nonexistent/x.yaml", &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/x.yaml:1:1: cannot open"));
}

static void test_client_identities(void **state)
{
    (void)state;
    struct pg_config c;
    char err[2048], text[1024];
    snprintf(text, sizeof text,
             "listen: \"127.0.0.1:8443\"\ntls:\n  certificate: c.pem\n  key: k.pem\n  client_ca: ca.pem\n"
             "  client_auth: optional\nupstream:\n  address: \"127.0.0.1:8080\"\n"
             "client_identities:\n  - {subject_cn: lab-interface, user: svc-lab, roles: [service_account, read_only]}\n");
    assert_int_equal(load(text, &c, err, sizeof err), 0);
    assert_int_equal(c.n_cert_identities, 1);
    assert_string_equal(c.cert_identities[0].subject_cn, "lab-interface");
    assert_int_equal(c.cert_identities[0].nroles, 2);
    assert_string_equal(c.cert_identities[0].roles[1], "read_only");
    pg_config_free(&c);
    /* Without client certificates there is nothing to map. */
    snprintf(text, sizeof text, "%sclient_identities:\n  - {subject_cn: x, user: y, roles: [nurse]}\n", minimal);
    assert_int_equal(load(text, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "client_identities: need tls.client_ca"));
    snprintf(text, sizeof text, "%sclient_identities:\n  - {subject_cn: x, roles: []}\n", minimal);
    assert_int_equal(load(text, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "subject_cn and user are required"));
    assert_non_null(strstr(err, "client_identities.roles: expected a list of role names"));
}

static void test_sample_config_loads(void **state)
{
    (void)state;
    const char *top = getenv("PHIGUARD_SOURCE_DIR");
    assert_non_null(top);
    char path[512], err[2048];
    snprintf(path, sizeof path, "%s/conf/phiguard.yaml", top);
    struct pg_config c;
    if (pg_config_load(path, &c, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_string_equal(c.instance_id, "ehr-phiguard-0");
    pg_config_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),          cmocka_unit_test(test_types),
        cmocka_unit_test(test_mtls_and_unix),     cmocka_unit_test(test_errors),
        cmocka_unit_test(test_whole_file_errors), cmocka_unit_test(test_client_identities),
        cmocka_unit_test(test_sample_config_loads),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
