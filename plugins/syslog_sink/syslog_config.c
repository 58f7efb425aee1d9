#include "syslog_config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yajl/yajl_tree.h>

#define DEFAULT_APP_NAME "phiguard"
#define DEFAULT_FACILITY 10 /* authpriv: security/authorization messages */
#define DEFAULT_QUEUE_RECORDS 10000
#define DEFAULT_QUEUE_BYTES (16u * 1024 * 1024)
#define DEFAULT_RECONNECT_MIN_MS 200
#define DEFAULT_RECONNECT_MAX_MS 30000
#define DEFAULT_CONNECT_TIMEOUT_MS 5000
#define DEFAULT_WRITE_TIMEOUT_MS 30000
#define DEFAULT_FLUSH_TIMEOUT_MS 5000
#define MAX_TIMEOUT_MS 3600000u /* an hour: beyond that it is a typo */
#define MAX_QUEUE_RECORDS 10000000u
#define MAX_QUEUE_BYTES (1024u * 1024 * 1024)

/* RFC 5424 section 6.2.1, by number. */
static const char *const facility_names[24] = {
    "kern",   "user",   "mail",   "daemon", "auth",   "syslog", "lpr",    "news",
    "uucp",   "cron",   "authpriv", "ftp",  "ntp",    "audit",  "alert",  "clock",
    "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
};

static int fail(char *err, size_t errcap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errcap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errcap, fmt, ap);
    va_end(ap);
    return -1;
}

bool syslog_printusascii(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 33 || (unsigned char)s[i] > 126)
            return false;
    return true;
}

static int dup_keys(yajl_val obj, const char *where, char *err, size_t errcap)
{
    for (size_t i = 0; i < obj->u.object.len; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(obj->u.object.keys[i], obj->u.object.keys[j]) == 0)
                return fail(err, errcap, "%s%s is given twice", where, obj->u.object.keys[i]);
    return 0;
}

/* A non-empty string without control characters (they would end up in
 * error messages and in the syslog header). */
static int get_string(yajl_val v, const char *key, char **out, char *err, size_t errcap)
{
    if (!YAJL_IS_STRING(v))
        return fail(err, errcap, "%s must be a string", key);
    const char *s = YAJL_GET_STRING(v);
    if (!*s)
        return fail(err, errcap, "%s must not be empty", key);
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 32 || *p == 127)
            return fail(err, errcap, "%s holds a control character", key);
    free(*out);
    *out = strdup(s);
    return *out ? 0 : fail(err, errcap, "out of memory");
}

static int get_uint(yajl_val v, const char *key, long long lo, long long hi, long long *out, char *err,
                    size_t errcap)
{
    if (!YAJL_IS_INTEGER(v))
        return fail(err, errcap, "%s must be an integer", key);
    long long n = YAJL_GET_INTEGER(v);
    if (n < lo || n > hi)
        return fail(err, errcap, "%s must be from %lld to %lld", key, lo, hi);
    *out = n;
    return 0;
}

static int get_ms(yajl_val v, const char *key, unsigned *out, char *err, size_t errcap)
{
    long long n = 0;
    if (get_uint(v, key, 1, MAX_TIMEOUT_MS, &n, err, errcap))
        return -1;
    *out = (unsigned)n;
    return 0;
}

static int get_facility(yajl_val v, int *out, char *err, size_t errcap)
{
    if (YAJL_IS_INTEGER(v) && YAJL_GET_INTEGER(v) >= 0 && YAJL_GET_INTEGER(v) <= 23) {
        *out = (int)YAJL_GET_INTEGER(v);
        return 0;
    }
    const char *name = YAJL_IS_STRING(v) ? YAJL_GET_STRING(v) : NULL;
    if (name) {
        for (int i = 0; i < 24; i++)
            if (strcmp(name, facility_names[i]) == 0) {
                *out = i;
                return 0;
            }
    }
    return fail(err, errcap, "facility must be 0 to 23 or one of kern, user, mail, daemon, auth, syslog, lpr, "
                             "news, uucp, cron, authpriv, ftp, ntp, audit, alert, clock, local0 to local7");
}

static int parse_tls(yajl_val v, struct syslog_tls_config *t, char *err, size_t errcap)
{
    if (!YAJL_IS_OBJECT(v))
        return fail(err, errcap, "tls must be an object");
    if (dup_keys(v, "tls.", err, errcap))
        return -1;
    for (size_t i = 0; i < v->u.object.len; i++) {
        const char *k = v->u.object.keys[i];
        yajl_val x = v->u.object.values[i];
        int rc;
        if (strcmp(k, "ca_file") == 0)
            rc = get_string(x, "tls.ca_file", &t->ca_file, err, errcap);
        else if (strcmp(k, "server_name") == 0)
            rc = get_string(x, "tls.server_name", &t->server_name, err, errcap);
        else if (strcmp(k, "cert_file") == 0)
            rc = get_string(x, "tls.cert_file", &t->cert_file, err, errcap);
        else if (strcmp(k, "key_file") == 0)
            rc = get_string(x, "tls.key_file", &t->key_file, err, errcap);
        else
            rc = fail(err, errcap, "tls.%s is not a known key (ca_file, server_name, cert_file, key_file)", k);
        if (rc)
            return -1;
    }
    if (!t->ca_file)
        return fail(err, errcap, "tls.ca_file is required: the receiver's certificate is always verified");
    if (!t->cert_file != !t->key_file)
        return fail(err, errcap, "tls.cert_file and tls.key_file go together");
    return 0;
}

static int parse_queue_limit(yajl_val v, struct syslog_config *c, char *err, size_t errcap)
{
    if (!YAJL_IS_OBJECT(v))
        return fail(err, errcap, "queue_limit must be an object {records, bytes}");
    if (dup_keys(v, "queue_limit.", err, errcap))
        return -1;
    for (size_t i = 0; i < v->u.object.len; i++) {
        const char *k = v->u.object.keys[i];
        long long n = 0;
        if (strcmp(k, "records") == 0) {
            if (get_uint(v->u.object.values[i], "queue_limit.records", 1, MAX_QUEUE_RECORDS, &n, err, errcap))
                return -1;
            c->queue_records = (size_t)n;
        } else if (strcmp(k, "bytes") == 0) {
            if (get_uint(v->u.object.values[i], "queue_limit.bytes", 1024, MAX_QUEUE_BYTES, &n, err, errcap))
                return -1;
            c->queue_bytes = (size_t)n;
        } else {
            return fail(err, errcap, "queue_limit.%s is not a known key (records, bytes)", k);
        }
    }
    return 0;
}

static int parse_member(const char *k, yajl_val x, struct syslog_config *c, bool *saw_port, char *err,
                        size_t errcap)
{
    long long n = 0;
    if (strcmp(k, "host") == 0)
        return get_string(x, "host", &c->host, err, errcap);
    if (strcmp(k, "port") == 0) {
        *saw_port = true;
        if (get_uint(x, "port", 1, 65535, &n, err, errcap))
            return -1;
        c->port = (int)n;
        return 0;
    }
    if (strcmp(k, "tls") == 0) {
        c->tls_enabled = true;
        return parse_tls(x, &c->tls, err, errcap);
    }
    if (strcmp(k, "app_name") == 0)
        return get_string(x, "app_name", &c->app_name, err, errcap);
    if (strcmp(k, "hostname") == 0)
        return get_string(x, "hostname", &c->hostname, err, errcap);
    if (strcmp(k, "facility") == 0)
        return get_facility(x, &c->facility, err, errcap);
    if (strcmp(k, "utf8_bom") == 0) {
        if (!YAJL_IS_TRUE(x) && !YAJL_IS_FALSE(x))
            return fail(err, errcap, "utf8_bom must be true or false");
        c->utf8_bom = YAJL_IS_TRUE(x);
        return 0;
    }
    if (strcmp(k, "queue_limit") == 0)
        return parse_queue_limit(x, c, err, errcap);
    if (strcmp(k, "send_buffer_bytes") == 0) {
        if (get_uint(x, k, 4096, 64 * 1024 * 1024, &n, err, errcap))
            return -1;
        c->send_buffer_bytes = (int)n;
        return 0;
    }
    if (strcmp(k, "reconnect_min_ms") == 0)
        return get_ms(x, k, &c->reconnect_min_ms, err, errcap);
    if (strcmp(k, "reconnect_max_ms") == 0)
        return get_ms(x, k, &c->reconnect_max_ms, err, errcap);
    if (strcmp(k, "connect_timeout_ms") == 0)
        return get_ms(x, k, &c->connect_timeout_ms, err, errcap);
    if (strcmp(k, "write_timeout_ms") == 0)
        return get_ms(x, k, &c->write_timeout_ms, err, errcap);
    if (strcmp(k, "flush_timeout_ms") == 0)
        return get_ms(x, k, &c->flush_timeout_ms, err, errcap);
    return fail(err, errcap,
                "%s is not a known key (host, port, tls, app_name, hostname, facility, utf8_bom, queue_limit, "
                "send_buffer_bytes, reconnect_min_ms, reconnect_max_ms, connect_timeout_ms, write_timeout_ms, "
                "flush_timeout_ms)",
                k);
}

/* The machine's name as HOSTNAME, or the NILVALUE when it is not one
 * RFC 5424 allows. */
static int default_hostname(struct syslog_config *c, char *err, size_t errcap)
{
    char name[256] = "";
    if (gethostname(name, sizeof name - 1) != 0 || !syslog_printusascii(name, 255))
        strcpy(name, "-");
    c->hostname = strdup(name);
    return c->hostname ? 0 : fail(err, errcap, "out of memory");
}

static int check_and_default(struct syslog_config *c, bool saw_port, char *err, size_t errcap)
{
    if (!c->host)
        return fail(err, errcap, "host is required (the syslog receiver's name or IP address)");
    if (!syslog_printusascii(c->host, 253))
        return fail(err, errcap, "host must be a name or an IP address (no spaces, at most 253 characters)");
    if (c->tls.server_name && !syslog_printusascii(c->tls.server_name, 253))
        return fail(err, errcap, "tls.server_name must be a DNS name or an IP address");
    if (!saw_port)
        c->port = c->tls_enabled ? 6514 : 601;
    if (c->app_name && !syslog_printusascii(c->app_name, 48))
        return fail(err, errcap, "app_name must be 1 to 48 printable ASCII characters without spaces (RFC 5424)");
    if (c->hostname && !syslog_printusascii(c->hostname, 255))
        return fail(err, errcap, "hostname must be 1 to 255 printable ASCII characters without spaces (RFC 5424)");
    if (c->reconnect_min_ms > c->reconnect_max_ms)
        return fail(err, errcap, "reconnect_min_ms (%u) must not exceed reconnect_max_ms (%u)", c->reconnect_min_ms,
                    c->reconnect_max_ms);
    if (!c->app_name && !(c->app_name = strdup(DEFAULT_APP_NAME)))
        return fail(err, errcap, "out of memory");
    if (!c->hostname && default_hostname(c, err, errcap))
        return -1;
    return 0;
}

int syslog_config_parse(const char *json, struct syslog_config *out, char *err, size_t errcap)
{
    memset(out, 0, sizeof *out);
    out->facility = DEFAULT_FACILITY;
    out->utf8_bom = true;
    out->queue_records = DEFAULT_QUEUE_RECORDS;
    out->queue_bytes = DEFAULT_QUEUE_BYTES;
    out->reconnect_min_ms = DEFAULT_RECONNECT_MIN_MS;
    out->reconnect_max_ms = DEFAULT_RECONNECT_MAX_MS;
    out->connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
    out->write_timeout_ms = DEFAULT_WRITE_TIMEOUT_MS;
    out->flush_timeout_ms = DEFAULT_FLUSH_TIMEOUT_MS;

    char perr[256] = "";
    yajl_val root = yajl_tree_parse(json ? json : "", perr, sizeof perr);
    if (!root) {
        /* yajl's message may quote the text; the first line is enough. */
        perr[strcspn(perr, "\n")] = '\0';
        return fail(err, errcap, "the config is not JSON: %s", perr);
    }
    int rc = 0;
    bool saw_port = false;
    if (!YAJL_IS_OBJECT(root))
        rc = fail(err, errcap, "the config must be an object");
    else
        rc = dup_keys(root, "", err, errcap);
    for (size_t i = 0; rc == 0 && i < root->u.object.len; i++)
        rc = parse_member(root->u.object.keys[i], root->u.object.values[i], out, &saw_port, err, errcap);
    yajl_tree_free(root);
    if (rc == 0)
        rc = check_and_default(out, saw_port, err, errcap);
    if (rc)
        syslog_config_free(out);
    return rc;
}

void syslog_config_free(struct syslog_config *c)
{
    free(c->host);
    free(c->tls.ca_file);
    free(c->tls.server_name);
    free(c->tls.cert_file);
    free(c->tls.key_file);
    free(c->app_name);
    free(c->hostname);
    memset(c, 0, sizeof *c);
}
