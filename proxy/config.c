/* phiguard.yaml: a table of keys drives the loader, so a new setting is one
 * row. Every error names FILE:LINE:COL, the key, and what was expected; all
 * errors are collected before giving up. */
#include "proxy/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "policy/units.h"
#include "policy/yaml_json.h"
#include "proxy/redis.h"

enum kind { K_SECTION, K_STRING, K_PATH, K_NULLABLE, K_BOOL, K_INT, K_SIZE, K_DURATION, K_ADDR, K_ENUM, K_IDENTITIES, K_PLUGINS };

struct enum_value {
    const char *name;
    int value;
};

struct key {
    const char *path; /* dotted */
    enum kind kind;
    size_t offset;
    const char *def; /* default, in the same syntax as the file; NULL: none */
    bool required;
    long long min, max;
    const struct enum_value *enums;
};

static const struct enum_value tls_versions[] = {{"1.2", TLS1_2_VERSION}, {"1.3", TLS1_3_VERSION}, {NULL, 0}};
static const struct enum_value client_auths[] = {
    {"none", PG_CLIENT_AUTH_NONE}, {"optional", PG_CLIENT_AUTH_OPTIONAL}, {"require", PG_CLIENT_AUTH_REQUIRE}, {NULL, 0}};
static const struct enum_value audit_modes[] = {{"strict", PG_AUDIT_STRICT}, {"async", PG_AUDIT_ASYNC}, {NULL, 0}};
static const struct enum_value phi_scans[] = {{"json", PG_PHI_SCAN_JSON}, {"phi_routes", PG_PHI_SCAN_PHI_ROUTES}, {NULL, 0}};
static const struct enum_value webhook_formats[] = {{"json", 0}, {"slack", 1}, {"pagerduty", 2}, {NULL, 0}};
static const struct enum_value severities[] = {{"low", 0}, {"medium", 1}, {"high", 2}, {"critical", 3}, {NULL, 0}};
static const struct enum_value detect_actions[] = {
    {"alert", PG_DETECT_ALERT}, {"block", PG_DETECT_BLOCK}, {"end_session", PG_DETECT_END_SESSION}, {NULL, 0}};
static const struct enum_value log_levels[] = {
    {"debug", PG_LOG_DEBUG}, {"info", PG_LOG_INFO}, {"warn", PG_LOG_WARN}, {"error", PG_LOG_ERROR}, {NULL, 0}};

#define OFF(f) offsetof(struct pg_config, f)
#define SECTION(p) {p, K_SECTION, 0, NULL, false, 0, 0, NULL}

static const struct key keys[] = {
    {"listen", K_ADDR, OFF(listen), NULL, true, 0, 0, NULL},
    {"workers", K_INT, OFF(workers), "0", false, 0, 256, NULL},
    {"instance_id", K_STRING, OFF(instance_id), NULL, false, 0, 0, NULL},
    SECTION("tls"),
    {"tls.certificate", K_PATH, OFF(tls.certificate), NULL, true, 0, 0, NULL},
    {"tls.key", K_PATH, OFF(tls.key), NULL, true, 0, 0, NULL},
    {"tls.min_version", K_ENUM, OFF(tls.min_version), "1.3", false, 0, 0, tls_versions},
    {"tls.client_ca", K_PATH, OFF(tls.client_ca), NULL, false, 0, 0, NULL},
    {"tls.client_auth", K_ENUM, OFF(tls.client_auth), NULL, false, 0, 0, client_auths},
    SECTION("upstream"),
    {"upstream.address", K_ADDR, OFF(upstream.addr), NULL, true, 0, 0, NULL},
    {"upstream.connect_timeout", K_DURATION, OFF(upstream.connect_timeout_ms), "5s", false, 1, 3600000, NULL},
    {"upstream.response_timeout", K_DURATION, OFF(upstream.response_timeout_ms), "60s", false, 1, 86400000, NULL},
    {"upstream.idle_timeout", K_DURATION, OFF(upstream.idle_timeout_ms), "60s", false, 1, 86400000, NULL},
    {"upstream.max_idle", K_INT, OFF(upstream.max_idle), "64", false, 0, 100000, NULL},
    SECTION("admin"),
    {"admin.listen", K_ADDR, OFF(admin_listen), "127.0.0.1:9090", false, 0, 0, NULL},
    SECTION("limits"),
    {"limits.max_header_bytes", K_SIZE, OFF(limits.max_header_bytes), "16KiB", false, 1024, 1 << 20, NULL},
    {"limits.max_headers", K_INT, OFF(limits.max_headers), "100", false, 1, 1000, NULL},
    {"limits.max_body_bytes", K_SIZE, OFF(limits.max_body_bytes), "10MiB", false, 0, 1LL << 40, NULL},
    {"limits.max_response_header_bytes", K_SIZE, OFF(limits.max_response_header_bytes), "64KiB", false, 1024,
     1 << 20, NULL},
    {"limits.max_connections", K_INT, OFF(limits.max_connections), "10000", false, 1, 1000000, NULL},
    {"limits.max_connections_per_ip", K_INT, OFF(limits.max_connections_per_ip), "0", false, 0, 1000000, NULL},
    {"limits.high_water_bytes", K_SIZE, OFF(limits.high_water_bytes), "256KiB", false, 16384, 1 << 30, NULL},
    SECTION("timeouts"),
    {"timeouts.header_read", K_DURATION, OFF(timeouts.header_read_ms), "10s", false, 1, 3600000, NULL},
    {"timeouts.body_read", K_DURATION, OFF(timeouts.body_read_ms), "30s", false, 1, 3600000, NULL},
    {"timeouts.keepalive", K_DURATION, OFF(timeouts.keepalive_ms), "60s", false, 1, 86400000, NULL},
    {"timeouts.send", K_DURATION, OFF(timeouts.send_ms), "60s", false, 1, 86400000, NULL},
    {"timeouts.handshake", K_DURATION, OFF(timeouts.handshake_ms), "10s", false, 1, 3600000, NULL},
    {"timeouts.drain", K_DURATION, OFF(timeouts.drain_ms), "30s", false, 0, 3600000, NULL},
    SECTION("security_headers"),
    {"security_headers.strict_transport_security", K_NULLABLE, OFF(security_headers.strict_transport_security),
     "max-age=63072000; includeSubDomains", false, 0, 0, NULL},
    {"security_headers.x_content_type_options", K_NULLABLE, OFF(security_headers.x_content_type_options), "nosniff",
     false, 0, 0, NULL},
    {"security_headers.x_frame_options", K_NULLABLE, OFF(security_headers.x_frame_options), "DENY", false, 0, 0,
     NULL},
    {"security_headers.content_security_policy", K_NULLABLE, OFF(security_headers.content_security_policy),
     "default-src 'none'; frame-ancestors 'none'", false, 0, 0, NULL},
    {"security_headers.referrer_policy", K_NULLABLE, OFF(security_headers.referrer_policy), "no-referrer", false,
     0, 0, NULL},
    {"client_identities", K_IDENTITIES, 0, NULL, false, 0, 0, NULL},
    {"plugins", K_PLUGINS, 0, NULL, false, 0, 0, NULL},
    SECTION("policy"),
    {"policy.file", K_PATH, OFF(policy_file), NULL, false, 0, 0, NULL},
    SECTION("redis"),
    {"redis.address", K_STRING, OFF(redis.address), NULL, false, 0, 0, NULL},
    {"redis.username", K_STRING, OFF(redis.username), NULL, false, 0, 0, NULL},
    {"redis.password_file", K_PATH, OFF(redis.password_file), NULL, false, 0, 0, NULL},
    {"redis.db", K_INT, OFF(redis.db), "0", false, 0, 15, NULL},
    {"redis.connect_timeout", K_DURATION, OFF(redis.connect_timeout_ms), "2s", false, 1, 60000, NULL},
    {"redis.command_timeout", K_DURATION, OFF(redis.command_timeout_ms), "1s", false, 1, 60000, NULL},
    SECTION("auth"),
    {"auth.users_file", K_PATH, OFF(auth.users_file), NULL, false, 0, 0, NULL},
    {"auth.token_key_file", K_PATH, OFF(auth.token_key_file), NULL, false, 0, 0, NULL},
    {"auth.mfa_key_file", K_PATH, OFF(auth.mfa_key_file), NULL, false, 0, 0, NULL},
    {"auth.assertion_key_file", K_PATH, OFF(auth.assertion_key_file), NULL, false, 0, 0, NULL},
    {"auth.issuer", K_STRING, OFF(auth.issuer), "phiguard", false, 0, 0, NULL},
    {"auth.argon2_memory", K_SIZE, OFF(auth.argon2_memory), "64MiB", false, 19LL << 20, 4LL << 30, NULL},
    {"auth.argon2_passes", K_INT, OFF(auth.argon2_passes), "3", false, 2, 64, NULL},
    {"auth.argon2_lanes", K_INT, OFF(auth.argon2_lanes), "1", false, 1, 16, NULL},
    {"auth.argon2_max_queued", K_INT, OFF(auth.argon2_max_queued), "64", false, 1, 100000, NULL},
    {"auth.argon2_threads", K_INT, OFF(auth.argon2_threads), "1", false, 1, 256, NULL},
    {"auth.argon2_nice", K_INT, OFF(auth.argon2_nice), "19", false, 0, 19, NULL},
    {"auth.password_min_length", K_INT, OFF(auth.password_min_length), "12", false, 12, 1024, NULL},
    {"auth.cookie_name", K_STRING, OFF(auth.cookie_name), "__Host-phiguard", false, 0, 0, NULL},
    {"auth.session_cache", K_DURATION, OFF(auth.session_cache_ms), "1s", false, 0, 1000, NULL},
    {"auth.mfa_step_timeout", K_DURATION, OFF(auth.mfa_step_timeout_ms), "5m", false, 1000, 3600000, NULL},
    {"auth.assertion_ttl", K_DURATION, OFF(auth.assertion_ttl_ms), "60s", false, 1000, 3600000, NULL},
    SECTION("auth.headers"),
    {"auth.headers.user", K_STRING, OFF(auth.header_user), "X-Auth-User", false, 0, 0, NULL},
    {"auth.headers.user_id", K_STRING, OFF(auth.header_user_id), "X-Auth-User-Id", false, 0, 0, NULL},
    {"auth.headers.roles", K_STRING, OFF(auth.header_roles), "X-Auth-Roles", false, 0, 0, NULL},
    {"auth.headers.session", K_STRING, OFF(auth.header_session), "X-Auth-Session", false, 0, 0, NULL},
    {"auth.headers.assertion", K_STRING, OFF(auth.header_assertion), "X-Auth-Assertion", false, 0, 0, NULL},
    SECTION("audit"),
    {"audit.spool_dir", K_PATH, OFF(audit.spool_dir), NULL, false, 0, 0, NULL},
    {"audit.mode", K_ENUM, OFF(audit.mode), "strict", false, 0, 0, audit_modes},
    {"audit.signing_key_file", K_PATH, OFF(audit.signing_key_file), NULL, false, 0, 0, NULL},
    {"audit.key_name", K_STRING, OFF(audit.key_name), "phiguard-audit", false, 0, 0, NULL},
    {"audit.previous_public_keys", K_PATH, OFF(audit.previous_public_keys), NULL, false, 0, 0, NULL},
    {"audit.checkpoint_records", K_INT, OFF(audit.checkpoint_records), "1000", false, 1, 10000000, NULL},
    {"audit.checkpoint_interval", K_DURATION, OFF(audit.checkpoint_interval_ms), "1s", false, 100, 3600000, NULL},
    {"audit.heartbeat", K_DURATION, OFF(audit.heartbeat_ms), "30s", false, 1000, 86400000, NULL},
    {"audit.verify_interval", K_DURATION, OFF(audit.verify_interval_ms), "24h", false, 1000, 7LL * 86400000, NULL},
    {"audit.memory_limit", K_SIZE, OFF(audit.memory_limit), "64MiB", false, 1 << 20, 1LL << 34, NULL},
    {"audit.track_max_bytes", K_SIZE, OFF(audit.track_max_bytes), "64KiB", false, 0, 65536, NULL},
    {"audit.track_timeout", K_DURATION, OFF(audit.track_timeout_ms), "10s", false, 100, 600000, NULL},
    SECTION("phi"),
    {"phi.keyring_file", K_PATH, OFF(phi.keyring_file), NULL, false, 0, 0, NULL},
    {"phi.hold_bytes", K_SIZE, OFF(phi.hold_bytes), "256KiB", false, 0, 64LL << 20, NULL},
    {"phi.max_value_bytes", K_SIZE, OFF(phi.max_value_bytes), "64KiB", false, 1024, 65536, NULL},
    {"phi.scan_responses", K_ENUM, OFF(phi.scan_responses), "json", false, 0, 0, phi_scans},
    SECTION("alerts"),
    {"alerts.webhook_url", K_STRING, OFF(alerts.webhook_url), NULL, false, 0, 0, NULL},
    {"alerts.webhook_format", K_ENUM, OFF(alerts.webhook_format), "json", false, 0, 0, webhook_formats},
    {"alerts.webhook_min_severity", K_ENUM, OFF(alerts.webhook_min_severity), "medium", false, 0, 0, severities},
    {"alerts.pagerduty_routing_key_file", K_PATH, OFF(alerts.pagerduty_routing_key_file), NULL, false, 0, 0, NULL},
    {"alerts.webhook_ca_file", K_PATH, OFF(alerts.webhook_ca_file), NULL, false, 0, 0, NULL},
    {"alerts.webhook_timeout", K_DURATION, OFF(alerts.webhook_timeout_ms), "5s", false, 100, 60000, NULL},
    {"alerts.webhook_retries", K_INT, OFF(alerts.webhook_retries), "3", false, 0, 10, NULL},
    {"alerts.webhook_queue", K_INT, OFF(alerts.webhook_queue), "1000", false, 1, 100000, NULL},
    SECTION("detection"),
    SECTION("detection.failed_logins_user"),
    {"detection.failed_logins_user.threshold", K_INT, OFF(detection[PG_DETECT_FAILED_LOGINS_USER].threshold), "5", false, 0, 100000000, NULL},
    {"detection.failed_logins_user.window", K_DURATION, OFF(detection[PG_DETECT_FAILED_LOGINS_USER].window_ms), "5m", false, 1000, 7LL * 86400000, NULL},
    {"detection.failed_logins_user.action", K_ENUM, OFF(detection[PG_DETECT_FAILED_LOGINS_USER].action), "alert", false, 0, 0, detect_actions},
    {"detection.failed_logins_user.block_for", K_DURATION, OFF(detection[PG_DETECT_FAILED_LOGINS_USER].block_ms), "15m", false, 1000, 7LL * 86400000, NULL},
    SECTION("detection.failed_logins_ip"),
    {"detection.failed_logins_ip.threshold", K_INT, OFF(detection[PG_DETECT_FAILED_LOGINS_IP].threshold), "20", false, 0, 100000000, NULL},
    {"detection.failed_logins_ip.window", K_DURATION, OFF(detection[PG_DETECT_FAILED_LOGINS_IP].window_ms), "5m", false, 1000, 7LL * 86400000, NULL},
    {"detection.failed_logins_ip.action", K_ENUM, OFF(detection[PG_DETECT_FAILED_LOGINS_IP].action), "alert", false, 0, 0, detect_actions},
    {"detection.failed_logins_ip.block_for", K_DURATION, OFF(detection[PG_DETECT_FAILED_LOGINS_IP].block_ms), "15m", false, 1000, 7LL * 86400000, NULL},
    SECTION("detection.forbidden_burst"),
    {"detection.forbidden_burst.threshold", K_INT, OFF(detection[PG_DETECT_FORBIDDEN_BURST].threshold), "20", false, 0, 100000000, NULL},
    {"detection.forbidden_burst.window", K_DURATION, OFF(detection[PG_DETECT_FORBIDDEN_BURST].window_ms), "1m", false, 1000, 7LL * 86400000, NULL},
    {"detection.forbidden_burst.action", K_ENUM, OFF(detection[PG_DETECT_FORBIDDEN_BURST].action), "alert", false, 0, 0, detect_actions},
    {"detection.forbidden_burst.block_for", K_DURATION, OFF(detection[PG_DETECT_FORBIDDEN_BURST].block_ms), "15m", false, 1000, 7LL * 86400000, NULL},
    SECTION("detection.phi_exfiltration"),
    {"detection.phi_exfiltration.threshold", K_INT, OFF(detection[PG_DETECT_PHI_EXFILTRATION].threshold), "1000", false, 0, 100000000, NULL},
    {"detection.phi_exfiltration.window", K_DURATION, OFF(detection[PG_DETECT_PHI_EXFILTRATION].window_ms), "10m", false, 1000, 7LL * 86400000, NULL},
    {"detection.phi_exfiltration.action", K_ENUM, OFF(detection[PG_DETECT_PHI_EXFILTRATION].action), "alert", false, 0, 0, detect_actions},
    {"detection.phi_exfiltration.block_for", K_DURATION, OFF(detection[PG_DETECT_PHI_EXFILTRATION].block_ms), "15m", false, 1000, 7LL * 86400000, NULL},
    SECTION("detection.malformed_ip"),
    {"detection.malformed_ip.threshold", K_INT, OFF(detection[PG_DETECT_MALFORMED_IP].threshold), "20", false, 0, 100000000, NULL},
    {"detection.malformed_ip.window", K_DURATION, OFF(detection[PG_DETECT_MALFORMED_IP].window_ms), "1m", false, 1000, 7LL * 86400000, NULL},
    {"detection.malformed_ip.action", K_ENUM, OFF(detection[PG_DETECT_MALFORMED_IP].action), "alert", false, 0, 0, detect_actions},
    {"detection.malformed_ip.block_for", K_DURATION, OFF(detection[PG_DETECT_MALFORMED_IP].block_ms), "15m", false, 1000, 7LL * 86400000, NULL},
    SECTION("rate_limits"),
    {"rate_limits.local_max_keys", K_INT, OFF(ratelimit.local_max_keys), "100000", false, 1024, 10000000, NULL},
    SECTION("log"),
    {"log.level", K_ENUM, OFF(log_level), "info", false, 0, 0, log_levels},
    {"log.access", K_BOOL, OFF(access_log), "true", false, 0, 0, NULL},
};
#define NKEYS (sizeof keys / sizeof keys[0])

struct loader {
    const char *file;
    char dir[PATH_MAX];
    struct pg_config *cfg;
    char *err;
    size_t errlen, used;
    int nerrors;
    bool seen[NKEYS];
    yaml_mark_t marks[NKEYS]; /* where each key was given, for checks across keys */
};

static void __attribute__((format(printf, 4, 5)))
report(struct loader *L, const yaml_mark_t *mark, const char *key, const char *fmt, ...)
{
    L->nerrors++;
    if (L->used + 1 >= L->errlen)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int n = snprintf(L->err + L->used, L->errlen - L->used, "%s:%zu:%zu: %s%s%s\n", L->file,
                     mark ? mark->line + 1 : 1, mark ? mark->column + 1 : 1, key ? key : "", key ? ": " : "", msg);
    if (n > 0)
        L->used += (size_t)n < L->errlen - L->used ? (size_t)n : L->errlen - L->used - 1;
}

static const struct key *find_key(const char *path, size_t *index)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].path, path) == 0) {
            *index = i;
            return &keys[i];
        }
    return NULL;
}

static bool is_null_scalar(const yaml_node_t *n)
{
    const char *v = (const char *)n->data.scalar.value;
    return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           (strcmp(v, "null") == 0 || strcmp(v, "~") == 0 || strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0 ||
            v[0] == '\0');
}

static const char *kind_expectation(const struct key *k)
{
    switch (k->kind) {
    case K_BOOL: return "expected true or false";
    case K_INT: return "expected a whole number";
    case K_SIZE: return "expected a size such as 16384, 16KiB, 10MiB or 1GiB";
    case K_DURATION: return "expected a duration such as 500ms, 10s, 30m or 1h";
    case K_ADDR: return "expected host:port, [v6]:port or unix:/path";
    default: return "expected a string";
    }
}

/* v made absolute against the config file's directory; malloc'd, or NULL
 * after reporting. */
static char *absolute_path(struct loader *L, const char *v, const yaml_mark_t *mark, const char *key)
{
    if (v[0] == '/')
        return strdup(v);
    char full[PATH_MAX * 2];
    size_t dlen = strlen(L->dir);
    int n = snprintf(full, sizeof full, "%s%s%s", L->dir, dlen && L->dir[dlen - 1] == '/' ? "" : "/", v);
    if (n < 0 || (size_t)n >= sizeof full) {
        report(L, mark, key, "path too long");
        return NULL;
    }
    return strdup(full);
}

/* Converts the scalar text v for key k into the config. mark may be NULL
 * (a built-in default). Returns 0, or -1 after reporting. */
static int set_value(struct loader *L, const struct key *k, const char *v, bool is_null, const yaml_mark_t *mark)
{
    void *field = (char *)L->cfg + k->offset;
    char msg[300];
    switch (k->kind) {
    case K_SECTION:
    case K_IDENTITIES: /* read by load_identities */
    case K_PLUGINS:    /* read by load_plugins */
        return 0;
    case K_NULLABLE:
    case K_STRING:
    case K_PATH: {
        char **dst = field;
        free(*dst);
        *dst = NULL;
        if (is_null || !*v) {
            if (k->kind == K_NULLABLE || !k->required)
                return 0;
            report(L, mark, k->path, "expected a non-empty string");
            return -1;
        }
        *dst = k->kind == K_PATH ? absolute_path(L, v, mark, k->path) : strdup(v);
        return *dst ? 0 : -1;
    }
    case K_BOOL:
        if (!is_null && strcmp(v, "true") == 0)
            *(bool *)field = true;
        else if (!is_null && strcmp(v, "false") == 0)
            *(bool *)field = false;
        else
            goto bad;
        return 0;
    case K_INT:
    case K_SIZE:
    case K_DURATION: {
        long long n;
        char *end;
        if (is_null)
            goto bad;
        if (k->kind == K_INT) {
            errno = 0;
            n = strtoll(v, &end, 10);
            if (end == v || *end || errno)
                goto bad;
        } else if ((k->kind == K_SIZE ? pg_parse_size(v, &n) : pg_parse_duration_ms(v, &n)) != 0) {
            goto bad;
        }
        if (n < k->min || n > k->max) {
            report(L, mark, k->path, "%s is out of range (%lld to %lld%s)", v, k->min, k->max,
                   k->kind == K_DURATION ? " ms" : k->kind == K_SIZE ? " bytes" : "");
            return -1;
        }
        if (k->kind == K_INT)
            *(int *)field = (int)n;
        else if (k->kind == K_SIZE)
            *(size_t *)field = (size_t)n;
        else
            *(uint32_t *)field = (uint32_t)n;
        return 0;
    }
    case K_ADDR:
        if (is_null)
            goto bad;
        if (pg_addr_parse(v, field, msg, sizeof msg) != 0) {
            report(L, mark, k->path, "%s", msg);
            return -1;
        }
        return 0;
    case K_ENUM:
        for (const struct enum_value *e = k->enums; !is_null && e->name; e++)
            if (strcmp(e->name, v) == 0) {
                *(int *)field = e->value;
                return 0;
            }
        if (k->enums == tls_versions && !is_null && (strcmp(v, "1.0") == 0 || strcmp(v, "1.1") == 0)) {
            report(L, mark, k->path, "TLS below 1.2 is not allowed; expected \"1.2\" or \"1.3\"");
            return -1;
        }
        {
            size_t used = 0;
            msg[0] = '\0';
            for (const struct enum_value *e = k->enums; e->name && used < sizeof msg; e++)
                used += (size_t)snprintf(msg + used, sizeof msg - used, "%s%s", used ? ", " : "", e->name);
        }
        report(L, mark, k->path, "expected one of: %s", msg);
        return -1;
    }
bad:
    report(L, mark, k->path, "%s", kind_expectation(k));
    return -1;
}

static const char *scalar_of(yaml_document_t *doc, yaml_node_t *map, const char *key, yaml_node_t **at)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key), *v = yaml_document_get_node(doc, p->value);
        if (k->type == YAML_SCALAR_NODE && strcmp((const char *)k->data.scalar.value, key) == 0) {
            *at = v;
            return v->type == YAML_SCALAR_NODE ? (const char *)v->data.scalar.value : NULL;
        }
    }
    *at = NULL;
    return NULL;
}

/* client_identities: [{subject_cn, user, roles: [..]}] */
static void load_identities(struct loader *L, yaml_document_t *doc, yaml_node_t *list)
{
    if (list->type != YAML_SEQUENCE_NODE) {
        report(L, &list->start_mark, "client_identities", "expected a list of {subject_cn, user, roles}");
        return;
    }
    int count = (int)(list->data.sequence.items.top - list->data.sequence.items.start);
    L->cfg->cert_identities = calloc((size_t)count + 1, sizeof *L->cfg->cert_identities);
    for (yaml_node_item_t *it = list->data.sequence.items.start; it < list->data.sequence.items.top; it++) {
        yaml_node_t *m = yaml_document_get_node(doc, *it), *at;
        if (m->type != YAML_MAPPING_NODE) {
            report(L, &m->start_mark, "client_identities", "expected {subject_cn, user, roles}");
            continue;
        }
        for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
            yaml_node_t *k = yaml_document_get_node(doc, p->key);
            const char *name = k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "";
            if (strcmp(name, "subject_cn") && strcmp(name, "user") && strcmp(name, "roles"))
                report(L, &k->start_mark, "client_identities", "unknown key '%s' (subject_cn, user, roles)", name);
            for (yaml_node_pair_t *q = m->data.mapping.pairs.start; q < p; q++) {
                yaml_node_t *earlier = yaml_document_get_node(doc, q->key);
                if (earlier->type == YAML_SCALAR_NODE && strcmp((const char *)earlier->data.scalar.value, name) == 0) {
                    report(L, &k->start_mark, "client_identities", "duplicate key '%s'", name);
                    break;
                }
            }
        }
        struct pg_cert_identity *id = &L->cfg->cert_identities[L->cfg->n_cert_identities++];
        const char *cn = scalar_of(doc, m, "subject_cn", &at), *user = scalar_of(doc, m, "user", &at);
        if (!cn || !*cn || !user || !*user)
            report(L, &m->start_mark, "client_identities", "subject_cn and user are required");
        id->subject_cn = cn ? strdup(cn) : NULL;
        id->user = user ? strdup(user) : NULL;
        scalar_of(doc, m, "roles", &at);
        if (!at || at->type != YAML_SEQUENCE_NODE || at->data.sequence.items.top == at->data.sequence.items.start) {
            report(L, at ? &at->start_mark : &m->start_mark, "client_identities.roles",
                   "expected a list of role names");
            continue;
        }
        int n = (int)(at->data.sequence.items.top - at->data.sequence.items.start);
        id->roles = calloc((size_t)n, sizeof *id->roles);
        for (yaml_node_item_t *r = at->data.sequence.items.start; r < at->data.sequence.items.top; r++) {
            yaml_node_t *rn = yaml_document_get_node(doc, *r);
            if (rn->type == YAML_SCALAR_NODE && rn->data.scalar.length)
                id->roles[id->nroles++] = strdup((const char *)rn->data.scalar.value);
            else
                report(L, &rn->start_mark, "client_identities.roles", "expected a role name");
        }
    }
}

/* plugins: [{path, config}]: the config block goes to the plugin as JSON,
 * whatever its shape inside; the plugin checks it. */
static void load_plugins(struct loader *L, yaml_document_t *doc, yaml_node_t *list)
{
    if (list->type != YAML_SEQUENCE_NODE) {
        report(L, &list->start_mark, "plugins", "expected a list of {path, config}");
        return;
    }
    int count = (int)(list->data.sequence.items.top - list->data.sequence.items.start);
    L->cfg->plugins = calloc((size_t)count + 1, sizeof *L->cfg->plugins);
    if (!L->cfg->plugins) {
        report(L, &list->start_mark, "plugins", "out of memory");
        return;
    }
    for (yaml_node_item_t *it = list->data.sequence.items.start; it < list->data.sequence.items.top; it++) {
        yaml_node_t *m = yaml_document_get_node(doc, *it), *path_node = NULL, *config_node = NULL;
        if (m->type != YAML_MAPPING_NODE) {
            report(L, &m->start_mark, "plugins", "expected {path, config}");
            continue;
        }
        for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
            yaml_node_t *k = yaml_document_get_node(doc, p->key), *v = yaml_document_get_node(doc, p->value);
            const char *name = k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "";
            yaml_node_t **slot = !strcmp(name, "path") ? &path_node : !strcmp(name, "config") ? &config_node : NULL;
            if (!slot)
                report(L, &k->start_mark, "plugins", "unknown key '%s' (path, config)", name);
            else if (*slot)
                report(L, &k->start_mark, "plugins", "duplicate key '%s'", name);
            else
                *slot = v;
        }
        if (!path_node || path_node->type != YAML_SCALAR_NODE || is_null_scalar(path_node)) {
            report(L, path_node ? &path_node->start_mark : &m->start_mark, "plugins.path",
                   "expected the path of the plugin's shared object");
            continue;
        }
        struct pg_plugin_config *pc = &L->cfg->plugins[L->cfg->nplugins++];
        pc->path = absolute_path(L, (const char *)path_node->data.scalar.value, &path_node->start_mark, "plugins.path");
        char why[256];
        if (!config_node || (config_node->type == YAML_SCALAR_NODE && is_null_scalar(config_node)))
            pc->config_json = strdup("{}");
        else if (config_node->type != YAML_MAPPING_NODE)
            report(L, &config_node->start_mark, "plugins.config", "expected a mapping (the plugin's settings)");
        else if (!(pc->config_json = pg_yaml_node_to_json(doc, config_node, why, sizeof why)))
            report(L, &config_node->start_mark, "plugins.config", "%s", why);
    }
}

static void load_mapping(struct loader *L, yaml_document_t *doc, yaml_node_t *map, const char *prefix)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(doc, p->value);
        if (!kn || kn->type != YAML_SCALAR_NODE) {
            report(L, kn ? &kn->start_mark : NULL, prefix[0] ? prefix : NULL, "expected a key name");
            continue;
        }
        char path[256];
        snprintf(path, sizeof path, "%s%s%s", prefix, prefix[0] ? "." : "", (const char *)kn->data.scalar.value);
        size_t idx;
        const struct key *k = find_key(path, &idx);
        if (!k) {
            report(L, &kn->start_mark, path, "unknown key");
            continue;
        }
        if (L->seen[idx]) {
            report(L, &kn->start_mark, path, "duplicate key");
            continue;
        }
        L->seen[idx] = true;
        L->marks[idx] = vn->start_mark;
        if (k->kind == K_SECTION) {
            if (vn->type != YAML_MAPPING_NODE) {
                report(L, &vn->start_mark, path, "expected a mapping of keys");
                continue;
            }
            load_mapping(L, doc, vn, path);
            continue;
        }
        if (k->kind == K_IDENTITIES) {
            load_identities(L, doc, vn);
            continue;
        }
        if (k->kind == K_PLUGINS) {
            load_plugins(L, doc, vn);
            continue;
        }
        if (vn->type != YAML_SCALAR_NODE) {
            report(L, &vn->start_mark, path, "%s, not a %s", kind_expectation(k),
                   vn->type == YAML_MAPPING_NODE ? "mapping" : "list");
            continue;
        }
        set_value(L, k, (const char *)vn->data.scalar.value, is_null_scalar(vn), &vn->start_mark);
    }
}

static void apply_defaults(struct loader *L)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (keys[i].def)
            set_value(L, &keys[i], keys[i].def, false, NULL);
}

static const yaml_mark_t *mark_of(struct loader *L, const char *path, const yaml_mark_t *fallback)
{
    size_t i = 0;
    return find_key(path, &i) && L->seen[i] ? &L->marks[i] : fallback;
}

static bool header_name_ok(const char *s)
{
    if (!s || !*s)
        return false;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '-' || *s == '_'))
            return false;
    return true;
}

/* Password logins need their secrets and a shared Redis. */
static void check_auth(struct loader *L, const yaml_mark_t *top)
{
    struct pg_config *cfg = L->cfg;
    if (cfg->redis.address && !pg_redis_address_valid(cfg->redis.address))
        report(L, mark_of(L, "redis.address", top), "redis.address", "expected host:port, [v6]:port or unix:/path");
    const char *hdr_keys[] = {"auth.headers.user", "auth.headers.user_id", "auth.headers.roles",
                              "auth.headers.session", "auth.headers.assertion"};
    const char *hdr_vals[] = {cfg->auth.header_user, cfg->auth.header_user_id, cfg->auth.header_roles,
                              cfg->auth.header_session, cfg->auth.header_assertion};
    for (size_t i = 0; i < sizeof hdr_keys / sizeof hdr_keys[0]; i++)
        if (!header_name_ok(hdr_vals[i]))
            report(L, mark_of(L, hdr_keys[i], top), hdr_keys[i], "expected a header name (letters, digits, '-')");
    if (!header_name_ok(cfg->auth.cookie_name))
        report(L, mark_of(L, "auth.cookie_name", top), "auth.cookie_name", "expected a cookie name");
    else if (strncmp(cfg->auth.cookie_name, "__Host-", 7) != 0)
        report(L, mark_of(L, "auth.cookie_name", top), "auth.cookie_name",
               "must start with __Host- (bound to this host, Secure, path /)");
    /* Sessions belong to users: an IP-keyed rule cannot end one. */
    static const char *const ip_rules[] = {"detection.failed_logins_ip.action", "detection.malformed_ip.action"};
    const int ip_rule_ids[] = {PG_DETECT_FAILED_LOGINS_IP, PG_DETECT_MALFORMED_IP};
    for (int i = 0; i < 2; i++)
        if (cfg->detection[ip_rule_ids[i]].action == PG_DETECT_END_SESSION)
            report(L, mark_of(L, ip_rules[i], top), ip_rules[i],
                   "end_session needs a user; this rule counts by client IP (alert or block)");
    const char *hook = cfg->alerts.webhook_url;
    if (hook && strncmp(hook, "http://", 7) != 0 && strncmp(hook, "https://", 8) != 0)
        report(L, mark_of(L, "alerts.webhook_url", top), "alerts.webhook_url", "expected an http:// or https:// URL");
    if (hook && cfg->alerts.webhook_format == 2 && !cfg->alerts.pagerduty_routing_key_file)
        report(L, mark_of(L, "alerts.webhook_format", top), "alerts.pagerduty_routing_key_file",
               "missing (required with webhook_format: pagerduty)");
    if (cfg->audit.spool_dir) {
        const yaml_mark_t *at = mark_of(L, "audit.spool_dir", top);
        if (!cfg->redis.address)
            report(L, at, "audit.spool_dir", "the audit trail needs redis.address (records are stored there)");
        if (!cfg->audit.signing_key_file)
            report(L, at, "audit.signing_key_file", "missing (required with audit.spool_dir: checkpoints are signed)");
    }
    if (!cfg->auth.users_file)
        return;
    const yaml_mark_t *at = mark_of(L, "auth.users_file", top);
    if (!cfg->redis.address)
        report(L, at, "auth.users_file", "password logins need redis.address (sessions and lockout are shared)");
    if (!cfg->auth.token_key_file)
        report(L, at, "auth.token_key_file", "missing (required with auth.users_file)");
    if (!cfg->auth.mfa_key_file)
        report(L, at, "auth.mfa_key_file", "missing (required with auth.users_file: TOTP secrets are encrypted)");
}

static void finish(struct loader *L, const yaml_mark_t *top)
{
    struct pg_config *cfg = L->cfg;
    for (size_t i = 0; i < NKEYS; i++)
        if (keys[i].required && !L->seen[i])
            report(L, top, keys[i].path, "missing (required)");
    size_t auth = 0, ids = 0;
    find_key("tls.client_auth", &auth);
    find_key("client_identities", &ids);
    if (!L->seen[auth])
        cfg->tls.client_auth = cfg->tls.client_ca ? PG_CLIENT_AUTH_REQUIRE : PG_CLIENT_AUTH_NONE;
    else if (cfg->tls.client_auth != PG_CLIENT_AUTH_NONE && !cfg->tls.client_ca)
        report(L, &L->marks[auth], "tls.client_auth",
               "needs tls.client_ca, the CA bundle that signs client certificates");
    if (cfg->n_cert_identities && cfg->tls.client_auth == PG_CLIENT_AUTH_NONE)
        report(L, &L->marks[ids], "client_identities", "need tls.client_ca (client certificates are not asked for)");
    check_auth(L, top);
    if (!cfg->instance_id) {
        const char *pod = getenv("POD_NAME");
        char host[256] = "phiguard";
        if (!pod || !*pod) {
            gethostname(host, sizeof host - 1);
            pod = host;
        }
        cfg->instance_id = strdup(pod);
    }
}

/* The directory relative paths in FILE are resolved against, made absolute
 * so a later chdir cannot change what they name. Symlinks are kept: a
 * Kubernetes volume swaps its ..data link and the watcher must see it. */
static int config_dir(const char *file, char *dir, size_t len)
{
    char cwd[PATH_MAX];
    const char *slash = strrchr(file, '/');
    int n;
    if (file[0] == '/') {
        n = snprintf(dir, len, "%.*s", slash == file ? 1 : (int)(slash - file), file); /* "/x.yaml": "/" */
    } else {
        if (!getcwd(cwd, sizeof cwd))
            return -1;
        n = slash ? snprintf(dir, len, "%s/%.*s", cwd, (int)(slash - file), file) : snprintf(dir, len, "%s", cwd);
    }
    if (n < 0 || (size_t)n >= len) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}

/* Starts a load of FILE: defaults applied, the directory resolved. */
static int load_begin(struct loader *L, const char *file, struct pg_config *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (errlen)
        err[0] = '\0';
    *L = (struct loader){.file = file, .cfg = out, .err = err, .errlen = errlen};
    out->path = strdup(file);
    apply_defaults(L);
    if (config_dir(file, L->dir, sizeof L->dir) != 0) {
        report(L, NULL, NULL, "cannot resolve the directory of the file: %s", strerror(errno));
        pg_config_free(out);
        return -1;
    }
    return 0;
}

/* Reads the document from parser (its input set) and finishes the load. */
static int load_parsed(struct loader *L, yaml_parser_t *parser)
{
    yaml_document_t doc;
    if (!yaml_parser_load(parser, &doc)) {
        report(L, &parser->problem_mark, NULL, "YAML syntax error: %s", parser->problem ? parser->problem : "?");
        pg_config_free(L->cfg);
        return -1;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    yaml_mark_t top = {0};
    if (!root) {
        report(L, NULL, NULL, "the file is empty; expected a mapping of settings");
    } else if (root->type != YAML_MAPPING_NODE) {
        report(L, &root->start_mark, NULL, "expected a mapping of settings at the top level");
    } else {
        top = root->start_mark;
        load_mapping(L, &doc, root, "");
        finish(L, &top);
    }
    yaml_document_delete(&doc);
    if (L->nerrors) {
        pg_config_free(L->cfg);
        return -1;
    }
    return 0;
}

int pg_config_load(const char *file, struct pg_config *out, char *err, size_t errlen)
{
    struct loader L;
    if (load_begin(&L, file, out, err, errlen) != 0)
        return -1;
    FILE *f = fopen(file, "rb");
    struct stat st;
    if (f && fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f); /* fopen succeeds on a directory; reading it would not */
        f = NULL;
        errno = EISDIR;
    }
    if (!f) {
        report(&L, NULL, NULL, "cannot open: %s", strerror(errno));
        pg_config_free(out);
        return -1;
    }
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    int rc = load_parsed(&L, &parser);
    yaml_parser_delete(&parser);
    fclose(f);
    return rc;
}

int pg_config_load_buffer(const char *file, const char *data, size_t len, struct pg_config *out, char *err,
                          size_t errlen)
{
    struct loader L;
    if (load_begin(&L, file, out, err, errlen) != 0)
        return -1;
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    int rc = load_parsed(&L, &parser);
    yaml_parser_delete(&parser);
    return rc;
}

void pg_config_free(struct pg_config *cfg)
{
    for (size_t i = 0; i < NKEYS; i++) {
        enum kind k = keys[i].kind;
        if (k == K_STRING || k == K_PATH || k == K_NULLABLE) {
            char **p = (char **)((char *)cfg + keys[i].offset);
            free(*p);
            *p = NULL;
        }
    }
    for (int i = 0; i < cfg->n_cert_identities; i++) {
        struct pg_cert_identity *id = &cfg->cert_identities[i];
        free(id->subject_cn);
        free(id->user);
        for (int k = 0; k < id->nroles; k++)
            free(id->roles[k]);
        free(id->roles);
    }
    free(cfg->cert_identities);
    cfg->cert_identities = NULL;
    for (int i = 0; i < cfg->nplugins; i++) {
        free(cfg->plugins[i].path);
        free(cfg->plugins[i].config_json);
    }
    free(cfg->plugins);
    cfg->plugins = NULL;
    cfg->nplugins = 0;
    cfg->n_cert_identities = 0;
    free(cfg->path);
    cfg->path = NULL;
    free(cfg->instance_id);
    cfg->instance_id = NULL;
}
