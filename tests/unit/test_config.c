/* The configuration loader (proxy/config.c): defaults, types, and the exact
 * error for each kind of mistake. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
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
    {"unknown key", "colour: blue\n", ":7:1: colour: unknown key\n"},
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
    {"relative unix path", "admin:\n  listen: unix:run.sock\n",
     ":8:11: admin.listen: a unix socket path must be absolute (unix:/path)\n"},
    {"null address", "admin:\n  listen: null\n", ":8:11: admin.listen: expected host:port, [v6]:port or unix:/path\n"},
    {"duplicate key in a section", "log:\n  level: info\n  level: warn\n", ":9:3: log.level: duplicate key\n"},
    {"size out of range", "limits:\n  max_header_bytes: 1GiB\n",
     ":8:21: limits.max_header_bytes: 1GiB is out of range (1024 to 1048576 bytes)\n"},
    {"duration out of range", "timeouts:\n  handshake: 0s\n",
     ":8:14: timeouts.handshake: 0s is out of range (1 to 3600000 ms)\n"},
    {"unknown section", "upstream2: 1\n", ":7:1: upstream2: unknown key\n"},
    {"empty section", "log:\n", ":7:5: log: expected a mapping of keys\n"},
    {"list at the top of a section", "log:\n  - level\n", ":8:3: log: expected a mapping of keys\n"},
    {"a key that is a list", "[a]: 1\n", ":7:1: expected a key name\n"},
};

static void test_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        char text[1024], err[2048], line[512];
        snprintf(text, sizeof text, "%s%s", minimal, bad_cases[i].text);
        /* Each error line starts with the file's name and the place. */
        snprintf(line, sizeof line, "%s/c.yaml%s", tmpdir, bad_cases[i].error);
        struct pg_config c;
        if (load(text, &c, err, sizeof err) == 0)
            fail_msg("%s: loaded", bad_cases[i].name);
        if (!strstr(err, line))
            fail_msg("%s: expected '%s' in:\n%s", bad_cases[i].name, line, err);
        /* The loader failed, so the struct holds nothing to free. */
        assert_null(c.path);
        assert_null(c.tls.certificate);
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
    assert_string_equal(err, "/nonexistent/x.yaml:1:1: cannot open: No such file or directory\n");
    assert_int_equal(pg_config_load(tmpdir, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, ":1:1: cannot open: Is a directory\n"));
}

/* Loads minimal + the tls keys in extra; returns the error text. */
static int load_tls(const char *extra, struct pg_config *c, char *err, size_t errlen)
{
    char text[1024];
    snprintf(text, sizeof text,
             "listen: \"127.0.0.1:8443\"\ntls:\n  certificate: c.pem\n  key: k.pem\n%s"
             "upstream:\n  address: \"127.0.0.1:8080\"\n",
             extra);
    return load(text, c, err, errlen);
}

static void test_tls_settings(void **state)
{
    (void)state;
    struct pg_config c;
    char err[1024], want[256];
    assert_int_equal(load_tls("  min_version: \"1.1\"\n", &c, err, sizeof err), -1);
    snprintf(want, sizeof want,
             "%s/c.yaml:5:16: tls.min_version: TLS below 1.2 is not allowed; expected \"1.2\" or \"1.3\"\n", tmpdir);
    assert_string_equal(err, want);
    assert_int_equal(load_tls("  min_version: 1.0\n", &c, err, sizeof err), -1);
    assert_non_null(strstr(err, ":5:16: tls.min_version: TLS below 1.2 is not allowed"));
    assert_int_equal(load_tls("  min_version: \"1.4\"\n", &c, err, sizeof err), -1);
    assert_non_null(strstr(err, ":5:16: tls.min_version: expected one of: 1.2, 1.3\n"));
    /* client_auth without a CA is reported where client_auth is written. */
    assert_int_equal(load_tls("  client_auth: require\n", &c, err, sizeof err), -1);
    snprintf(want, sizeof want,
             "%s/c.yaml:5:16: tls.client_auth: needs tls.client_ca, the CA bundle that signs client certificates\n",
             tmpdir);
    assert_string_equal(err, want);
    assert_int_equal(load_tls("  client_ca: ca.pem\n  client_auth: optional\n", &c, err, sizeof err), 0);
    assert_int_equal(c.tls.client_auth, PG_CLIENT_AUTH_OPTIONAL);
    pg_config_free(&c);
    assert_int_equal(load_tls("  client_ca: ca.pem\n  client_auth: none\n", &c, err, sizeof err), 0);
    assert_int_equal(c.tls.client_auth, PG_CLIENT_AUTH_NONE);
    pg_config_free(&c);
    /* A required path may not be empty; an optional one may be null. */
    assert_int_equal(load_tls("  client_ca: null\n", &c, err, sizeof err), 0);
    assert_null(c.tls.client_ca);
    pg_config_free(&c);
    assert_int_equal(load("listen: \"127.0.0.1:8443\"\ntls:\n  certificate: \"\"\n  key: k.pem\n"
                          "upstream:\n  address: \"127.0.0.1:8080\"\n",
                          &c, err, sizeof err),
                     -1);
    snprintf(want, sizeof want, "%s/c.yaml:3:16: tls.certificate: expected a non-empty string\n", tmpdir);
    assert_string_equal(err, want);
}

static void test_value_forms(void **state)
{
    (void)state;
    struct pg_config c;
    char err[1024], text[1024];
    /* A plain number of seconds, plain bytes, a name resolved at load. */
    snprintf(text, sizeof text,
             "%stimeouts:\n  drain: 45\n  body_read: 30m\nlimits:\n  high_water_bytes: 65536\n"
             "admin:\n  listen: \"localhost:9091\"\ninstance_id: \"node-a\"\n",
             minimal);
    assert_int_equal(load(text, &c, err, sizeof err), 0);
    assert_int_equal(c.timeouts.drain_ms, 45000);
    assert_int_equal(c.timeouts.body_read_ms, 30 * 60 * 1000);
    assert_int_equal(c.limits.high_water_bytes, 65536);
    assert_string_equal(c.admin_listen.text, "localhost:9091");
    assert_int_equal(c.admin_listen.ss.ss_family, AF_INET);
    assert_string_equal(c.instance_id, "node-a");
    pg_config_free(&c);
}

static void test_instance_id_from_host_name(void **state)
{
    (void)state;
    struct pg_config c;
    char err[1024], host[256] = "";
    unsetenv("POD_NAME");
    gethostname(host, sizeof host - 1);
    assert_int_equal(load(minimal, &c, err, sizeof err), 0);
    assert_string_equal(c.instance_id, host);
    pg_config_free(&c);
    setenv("POD_NAME", "", 1); /* empty counts as unset */
    assert_int_equal(load(minimal, &c, err, sizeof err), 0);
    unsetenv("POD_NAME");
    assert_string_equal(c.instance_id, host);
    pg_config_free(&c);
}

/* A config named by a relative path still yields absolute file paths. */
static void test_relative_config_path(void **state)
{
    (void)state;
    struct pg_config c;
    char err[1024], cwd[4096], want[256];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(load(minimal, &c, err, sizeof err), 0); /* writes tmpdir/c.yaml */
    pg_config_free(&c);
    assert_int_equal(chdir("/tmp"), 0);
    char rel[128];
    snprintf(rel, sizeof rel, "%s/c.yaml", tmpdir + strlen("/tmp/"));
    int rc = pg_config_load(rel, &c, err, sizeof err);
    assert_int_equal(chdir(cwd), 0);
    if (rc != 0)
        fail_msg("%s", err);
    snprintf(want, sizeof want, "%s/c.pem", tmpdir);
    assert_string_equal(c.tls.certificate, want);
    assert_string_equal(c.path, rel);
    pg_config_free(&c);
}

static void test_small_error_buffer(void **state)
{
    (void)state;
    struct pg_config c;
    char err[24];
    memset(err, 'x', sizeof err);
    /* Five errors do not fit: the text is cut, still terminated. */
    assert_int_equal(load("a: 1\nb: 2\nc: 3\nd: 4\ne: 5\n", &c, err, sizeof err), -1);
    assert_non_null(memchr(err, '\0', sizeof err));
    assert_int_equal(strlen(err), sizeof err - 1);
    assert_int_equal(strncmp(err, tmpdir, strlen(tmpdir)), 0);
    assert_int_equal(load("a: 1\n", &c, NULL, 0), -1); /* no buffer at all */
}

static void test_free_is_safe(void **state)
{
    (void)state;
    struct pg_config c;
    memset(&c, 0, sizeof c);
    pg_config_free(&c);
    char err[256];
    assert_int_equal(load(minimal, &c, err, sizeof err), 0);
    pg_config_free(&c);
    pg_config_free(&c); /* a second free finds nothing left */
    assert_null(c.path);
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
    snprintf(text, sizeof text, "%sclient_identities:\n  - {subject_cn: x, user: y, user: z, roles: [a]}\n",
             minimal);
    assert_int_equal(load(text, &c, err, sizeof err), -1);
    if (!strstr(err, ":8:30: client_identities: duplicate key 'user'\n"))
        fail_msg("%s", err);
    snprintf(text, sizeof text, "%sclient_identities:\n  - {subject_cn: x, user: y, roles: [a, [b]]}\n", minimal);
    assert_int_equal(load(text, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, ":8:41: client_identities.roles: expected a role name\n"));
    snprintf(text, sizeof text, "%sclient_identities: {subject_cn: x}\n", minimal);
    assert_int_equal(load(text, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, ":7:20: client_identities: expected a list of {subject_cn, user, roles}\n"));
}

/* Password logins: their defaults, and what they cannot do without. */
static void test_auth_settings(void **state)
{
    (void)state;
    struct pg_config c;
    char err[2048], text[1024];
    snprintf(text, sizeof text, "%sredis: {address: \"unix:/run/r.sock\"}\n"
             "auth: {users_file: u.yaml, token_key_file: /k/t, mfa_key_file: /k/m}\n", minimal);
    assert_int_equal(load(text, &c, err, sizeof err), 0);
    assert_string_equal(c.redis.address, "unix:/run/r.sock");
    assert_int_equal(c.redis.command_timeout_ms, 1000);
    assert_true(strstr(c.auth.users_file, "/u.yaml") && c.auth.users_file[0] == '/');
    assert_int_equal(c.auth.argon2_memory, 64 << 20);
    assert_int_equal(c.auth.argon2_passes, 3);
    assert_int_equal(c.auth.argon2_threads, 1);
    assert_int_equal(c.auth.argon2_nice, 19);
    assert_int_equal(c.auth.password_min_length, 12);
    assert_int_equal(c.auth.session_cache_ms, 1000);
    assert_string_equal(c.auth.cookie_name, "__Host-phiguard");
    assert_string_equal(c.auth.header_roles, "X-Auth-Roles");
    assert_null(c.auth.assertion_key_file);
    pg_config_free(&c);

    snprintf(text, sizeof text, "%sauth: {users_file: u.yaml}\n", minimal);
    assert_int_equal(load(text, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "auth.users_file: password logins need redis.address"));
    assert_non_null(strstr(err, "auth.token_key_file: missing (required with auth.users_file)"));
    assert_non_null(strstr(err, "auth.mfa_key_file: missing"));

    snprintf(text, sizeof text, "%sredis: {address: \"nohost\"}\nauth: {cookie_name: session, session_cache: 5s,\n"
             "  password_min_length: 8, argon2_memory: 1MiB, headers: {user: \"X User\"}}\n", minimal);
    assert_int_equal(load(text, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "redis.address: expected host:port"));
    assert_non_null(strstr(err, ":8:21: auth.cookie_name: must start with __Host-"));
    assert_non_null(strstr(err, "auth.session_cache: 5s is out of range (0 to 1000 ms)"));
    assert_non_null(strstr(err, "auth.password_min_length: 8 is out of range (12 to 1024)"));
    assert_non_null(strstr(err, "auth.argon2_memory: 1MiB is out of range"));
    assert_non_null(strstr(err, "auth.headers.user: expected a header name"));
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

/* A buffer loads as the same text in a file would, named and anchored by
 * the name it is given (the fuzz target and tools load text this way). */
static void test_load_buffer(void **state)
{
    (void)state;
    struct pg_config c;
    char err[1024];
    assert_int_equal(pg_config_load_buffer("/etc/pg/x.yaml", minimal, sizeof minimal - 1, &c, err, sizeof err), 0);
    assert_string_equal(c.path, "/etc/pg/x.yaml");
    assert_string_equal(c.tls.certificate, "/etc/pg/c.pem");
    assert_string_equal(c.listen.text, "127.0.0.1:8443");
    pg_config_free(&c);
    static const char bad[] = "listen: \"127.0.0.1:8443\"\ntls: [\n";
    assert_int_equal(pg_config_load_buffer("/etc/pg/x.yaml", bad, sizeof bad - 1, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "/etc/pg/x.yaml:"));
    assert_non_null(strstr(err, "YAML syntax error"));
    assert_int_equal(pg_config_load_buffer("/etc/pg/x.yaml", "", 0, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "the file is empty"));
}

/* plugins: each path made absolute against the file's directory, each
 * config block converted to JSON ("{}" when there is none). */
static void test_plugins(void **state)
{
    (void)state;
    struct pg_config c;
    char err[2048], text[1024];
    snprintf(text, sizeof text,
             "%splugins:\n"
             "  - path: plugins/syslog.so\n"
             "    config:\n"
             "      host: 127.0.0.1\n"
             "      port: 6514\n"
             "      tls: {enabled: yes, ca: ca.pem}\n"
             "      fields: [\"$.note\", 3]\n"
             "  - path: /usr/lib/phiguard/plugins/oidc.so\n"
             "  - {path: /p/x.so, config: ~}\n",
             minimal);
    if (load(text, &c, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(c.nplugins, 3);
    char want[256];
    snprintf(want, sizeof want, "%s/plugins/syslog.so", tmpdir);
    assert_string_equal(c.plugins[0].path, want);
    assert_string_equal(c.plugins[0].config_json,
                        "{\"host\":\"127.0.0.1\",\"port\":6514,\"tls\":{\"enabled\":true,\"ca\":\"ca.pem\"},"
                        "\"fields\":[\"$.note\",3]}");
    assert_string_equal(c.plugins[1].path, "/usr/lib/phiguard/plugins/oidc.so");
    assert_string_equal(c.plugins[1].config_json, "{}");
    assert_string_equal(c.plugins[2].config_json, "{}");
    pg_config_free(&c);
    assert_null(c.plugins);
    assert_int_equal(c.nplugins, 0);

    static const struct {
        const char *yaml, *error;
    } bad[] = {
        {"plugins: {path: x.so}\n", ":7:10: plugins: expected a list of {path, config}"},
        {"plugins: [x.so]\n", "plugins: expected {path, config}"},
        {"plugins:\n  - config: {a: 1}\n", "plugins.path: expected the path of the plugin's shared object"},
        {"plugins:\n  - {path: ~}\n", "plugins.path: expected the path"},
        {"plugins:\n  - {path: x.so, config: [1, 2]}\n", "plugins.config: expected a mapping"},
        {"plugins:\n  - {path: x.so, config: text}\n", "plugins.config: expected a mapping"},
        {"plugins:\n  - {path: x.so, extra: 1}\n", "plugins: unknown key 'extra' (path, config)"},
        {"plugins:\n  - {path: x.so, path: y.so}\n", "plugins: duplicate key 'path'"},
        {"plugins:\n  - {path: x.so, config: {a: .inf}}\n", "plugins.config: "},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(text, sizeof text, "%s%s", minimal, bad[i].yaml);
        assert_int_equal(load(text, &c, err, sizeof err), -1);
        if (!strstr(err, bad[i].error))
            fail_msg("case %zu: %s\nwanted: %s", i, err, bad[i].error);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),          cmocka_unit_test(test_load_buffer),
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_mtls_and_unix),     cmocka_unit_test(test_errors),
        cmocka_unit_test(test_whole_file_errors), cmocka_unit_test(test_client_identities),
        cmocka_unit_test(test_tls_settings),      cmocka_unit_test(test_value_forms),
        cmocka_unit_test(test_instance_id_from_host_name), cmocka_unit_test(test_relative_config_path),
        cmocka_unit_test(test_small_error_buffer), cmocka_unit_test(test_free_is_safe),
        cmocka_unit_test(test_sample_config_loads), cmocka_unit_test(test_auth_settings),
        cmocka_unit_test(test_plugins),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
