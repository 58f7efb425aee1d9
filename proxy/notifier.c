#include "proxy/notifier.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "policy/record.h"
#include "proxy/log.h"
#include "proxy/secret_file.h"

struct item {
    struct item *next;
    struct pg_alert alert; /* its strings point into text */
    char *json;
    size_t json_len;
    char *text;
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool running, stopping;
    struct item *head, *tail;
    int queued, max_queued;
    uint64_t sent, failed, dropped, retries;
    /* The webhook. */
    enum pg_webhook_format format;
    int min_rank;
    bool tls;
    char host[256], port[8], path[1024];
    SSL_CTX *ctx;
    char *routing_key;
    uint32_t timeout_ms;
    int attempts;
} nt = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static int severity_rank(const char *s)
{
    static const char *const names[] = {"low", "medium", "high", "critical"};
    for (int i = 0; i < 4; i++)
        if (s && !strcmp(s, names[i]))
            return i;
    return 3; /* unknown: treat as the most severe rather than lose it */
}

/* ---- payloads ---- */

int pg_notifier_payload(enum pg_webhook_format format, const struct pg_alert *a, const char *json,
                        const char *routing_key, char *out, size_t cap)
{
    char rule[200], subj[600], inst[300], when[PG_RECORD_TIME_LEN], key[300];
    const char *s = a->subject ? a->subject : "";
    pg_json_escape(a->rule, strlen(a->rule), rule, sizeof rule);
    pg_json_escape(s, strlen(s), subj, sizeof subj);
    pg_json_escape(a->instance, strlen(a->instance), inst, sizeof inst);
    pg_record_format_time(a->time_us, when);
    int n;
    switch (format) {
    case PG_WEBHOOK_SLACK:
        /* Slack incoming webhooks take {"text": ...} (mrkdwn). */
        n = snprintf(out, cap,
                     "{\"text\":\"phiguard %s alert *%s*%s%s on %s (alert %s, %s)\",\"unfurl_links\":false}",
                     a->severity, rule, s[0] ? ": " : "", subj, inst, a->id, when);
        break;
    case PG_WEBHOOK_PAGERDUTY: {
        /* Events API v2: severity is one of critical, error, warning, info. */
        static const char *const pd[] = {"info", "warning", "error", "critical"};
        pg_json_escape(routing_key ? routing_key : "", routing_key ? strlen(routing_key) : 0, key, sizeof key);
        n = snprintf(out, cap,
                     "{\"routing_key\":\"%s\",\"event_action\":\"trigger\",\"dedup_key\":\"phiguard-%s\","
                     "\"payload\":{\"summary\":\"phiguard: %s%s%s\",\"source\":\"%s\",\"severity\":\"%s\","
                     "\"timestamp\":\"%s\",\"component\":\"phiguard\",\"class\":\"%s\",\"custom_details\":%s}}",
                     key, a->id, rule, s[0] ? " - " : "", subj, inst, pd[severity_rank(a->severity)], when, rule, json);
        break;
    }
    default:
        n = snprintf(out, cap, "%s", json);
        break;
    }
    return n > 0 && (size_t)n < cap ? n : -1;
}

/* ---- one POST, blocking, on the notifier's thread ---- */

static int connect_timeout(const struct addrinfo *ai, uint32_t ms)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0)
        return -1;
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int err = 0;
        socklen_t el = sizeof err;
        rc = poll(&p, 1, (int)ms) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 && err == 0 ? 0 : -1;
    }
    if (rc != 0) {
        close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, fl);
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return fd;
}

static int io_all(int fd, SSL *ssl, const char *buf, size_t len)
{
    while (len) {
        int n = ssl ? SSL_write(ssl, buf, (int)len) : (int)write(fd, buf, len);
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* The webhook's status, or 0 when none came. */
static int post_once(const char *body, size_t len, char *why, size_t whylen)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(nt.host, nt.port, &hints, &res) != 0 || !res) {
        snprintf(why, whylen, "cannot resolve the webhook's host");
        return 0;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next)
        fd = connect_timeout(ai, nt.timeout_ms);
    freeaddrinfo(res);
    if (fd < 0) {
        snprintf(why, whylen, "cannot connect to the webhook");
        return 0;
    }
    SSL *ssl = NULL;
    int status = 0;
    if (nt.tls) {
        ssl = SSL_new(nt.ctx);
        if (!ssl || SSL_set_fd(ssl, fd) != 1 || SSL_set_tlsext_host_name(ssl, nt.host) != 1 ||
            SSL_set1_host(ssl, nt.host) != 1 || SSL_connect(ssl) != 1) {
            snprintf(why, whylen, "TLS with the webhook failed (certificate or protocol)");
            goto out;
        }
    }
    char head[1600];
    int hn = snprintf(head, sizeof head,
                      "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                      "User-Agent: phiguard/%s\r\nConnection: close\r\n\r\n",
                      nt.path, nt.host, len, PHIGUARD_VERSION);
    if (hn <= 0 || (size_t)hn >= sizeof head || io_all(fd, ssl, head, (size_t)hn) != 0 ||
        io_all(fd, ssl, body, len) != 0) {
        snprintf(why, whylen, "writing to the webhook failed");
        goto out;
    }
    char resp[256];
    size_t got = 0;
    while (got < sizeof resp - 1) {
        int n = ssl ? SSL_read(ssl, resp + got, (int)(sizeof resp - 1 - got))
                    : (int)read(fd, resp + got, sizeof resp - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
        if (memchr(resp, '\n', got))
            break;
    }
    resp[got] = '\0';
    if (!strncmp(resp, "HTTP/1.", 7) && got >= 12)
        status = atoi(resp + 9);
    if (!status)
        snprintf(why, whylen, "no HTTP answer from the webhook");
    else if (status < 200 || status > 299)
        snprintf(why, whylen, "the webhook answered %d", status);
out:
    if (ssl) {
        SSL_shutdown(ssl);
        SSL_free(ssl);
    }
    close(fd);
    return status;
}

static void send_item(struct item *it)
{
    char body[12288], why[160] = "";
    int n = pg_notifier_payload(nt.format, &it->alert, it->json, nt.routing_key, body, sizeof body);
    if (n < 0) {
        pthread_mutex_lock(&nt.mu);
        nt.failed++;
        pthread_mutex_unlock(&nt.mu);
        pg_log(PG_LOG_ERROR, "alert_webhook_failed", "\"id\":\"%s\",\"reason\":\"the payload is too large\"",
               it->alert.id);
        return;
    }
    for (int attempt = 0; attempt < nt.attempts; attempt++) {
        int st = post_once(body, (size_t)n, why, sizeof why);
        if (st >= 200 && st <= 299) {
            pthread_mutex_lock(&nt.mu);
            nt.sent++;
            pthread_mutex_unlock(&nt.mu);
            return;
        }
        pthread_mutex_lock(&nt.mu);
        bool stopping = nt.stopping;
        if (attempt + 1 < nt.attempts && !stopping) {
            nt.retries++;
            /* Backoff 0.5 s, 1 s, 2 s ...; a stop cuts it short. */
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            long ms = 500L << (attempt < 6 ? attempt : 6);
            until.tv_sec += ms / 1000;
            until.tv_nsec += (ms % 1000) * 1000000L;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            while (!nt.stopping && pthread_cond_timedwait(&nt.cv, &nt.mu, &until) == 0)
                ;
        }
        pthread_mutex_unlock(&nt.mu);
        if (stopping)
            break;
    }
    pthread_mutex_lock(&nt.mu);
    nt.failed++;
    pthread_mutex_unlock(&nt.mu);
    char e[200];
    pg_log(PG_LOG_ERROR, "alert_webhook_failed", "\"id\":\"%s\",\"reason\":\"%s\"", it->alert.id,
           pg_json_escape(why, strlen(why), e, sizeof e));
}

static void item_free(struct item *it)
{
    free(it->json);
    free(it->text);
    free(it);
}

static void *notifier_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&nt.mu);
    for (;;) {
        while (!nt.head && !nt.stopping)
            pthread_cond_wait(&nt.cv, &nt.mu);
        struct item *it = nt.head;
        if (!it)
            break; /* stopping, and everything is sent */
        nt.head = it->next;
        if (!nt.head)
            nt.tail = NULL;
        nt.queued--;
        pthread_mutex_unlock(&nt.mu);
        send_item(it);
        item_free(it);
        pthread_mutex_lock(&nt.mu);
    }
    pthread_mutex_unlock(&nt.mu);
    return NULL;
}

/* ---- setup ---- */

static int parse_url(const char *url, char *why, size_t whylen)
{
    const char *rest;
    if (!strncmp(url, "https://", 8)) {
        nt.tls = true;
        rest = url + 8;
        strcpy(nt.port, "443");
    } else if (!strncmp(url, "http://", 7)) {
        nt.tls = false;
        rest = url + 7;
        strcpy(nt.port, "80");
    } else {
        snprintf(why, whylen, "expected an http:// or https:// URL");
        return -1;
    }
    const char *slash = strchr(rest, '/');
    size_t hostport = slash ? (size_t)(slash - rest) : strlen(rest);
    snprintf(nt.path, sizeof nt.path, "%s", slash ? slash : "/");
    const char *host = rest, *colon = NULL;
    size_t hl = hostport;
    if (*rest == '[') { /* [v6]:port */
        const char *close = memchr(rest, ']', hostport);
        if (!close) {
            snprintf(why, whylen, "an IPv6 host needs its closing ]");
            return -1;
        }
        host = rest + 1;
        hl = (size_t)(close - rest - 1);
        colon = close + 1 < rest + hostport && close[1] == ':' ? close + 1 : NULL;
    } else {
        colon = memchr(rest, ':', hostport);
        if (colon)
            hl = (size_t)(colon - rest);
    }
    if (hl == 0 || hl >= sizeof nt.host || memchr(host, '@', hl)) {
        snprintf(why, whylen, "expected a host name (and no user:password@)");
        return -1;
    }
    memcpy(nt.host, host, hl);
    nt.host[hl] = '\0';
    if (colon) {
        size_t pl = (size_t)(rest + hostport - colon - 1);
        if (pl == 0 || pl >= sizeof nt.port || strspn(colon + 1, "0123456789") < pl) {
            snprintf(why, whylen, "expected a port number after the host");
            return -1;
        }
        memcpy(nt.port, colon + 1, pl);
        nt.port[pl] = '\0';
    }
    return 0;
}

static void log_setup_problem(const char *why)
{
    char e[300];
    pg_log(PG_LOG_ERROR, "alert_webhook_config", "\"error\":\"%s\"", pg_json_escape(why, strlen(why), e, sizeof e));
}

int pg_notifier_start(const struct pg_config *cfg)
{
    const struct pg_alerts_config *ac = &cfg->alerts;
    if (!ac->webhook_url)
        return 0;
    char why[300];
    if (parse_url(ac->webhook_url, why, sizeof why) != 0) {
        log_setup_problem(why);
        return -1;
    }
    nt.format = ac->webhook_format;
    nt.min_rank = ac->webhook_min_severity;
    nt.timeout_ms = ac->webhook_timeout_ms;
    nt.attempts = ac->webhook_retries + 1;
    nt.max_queued = ac->webhook_queue;
    if (nt.format == PG_WEBHOOK_PAGERDUTY) {
        size_t len = 0;
        if (!ac->pagerduty_routing_key_file ||
            !(nt.routing_key = pg_secret_file_read(ac->pagerduty_routing_key_file, 1024, &len, why, sizeof why))) {
            log_setup_problem(ac->pagerduty_routing_key_file ? why
                                                             : "alerts.pagerduty_routing_key_file is required with "
                                                               "webhook_format: pagerduty");
            return -1;
        }
        nt.routing_key[strcspn(nt.routing_key, "\r\n")] = '\0';
    }
    if (nt.tls) {
        nt.ctx = SSL_CTX_new(TLS_client_method());
        if (!nt.ctx || SSL_CTX_set_min_proto_version(nt.ctx, TLS1_2_VERSION) != 1 ||
            (ac->webhook_ca_file ? SSL_CTX_load_verify_locations(nt.ctx, ac->webhook_ca_file, NULL)
                                 : SSL_CTX_set_default_verify_paths(nt.ctx)) != 1) {
            log_setup_problem("cannot set up TLS for the webhook (alerts.webhook_ca_file?)");
            pg_notifier_stop();
            return -1;
        }
        SSL_CTX_set_verify(nt.ctx, SSL_VERIFY_PEER, NULL);
    }
    nt.stopping = false;
    if (pthread_create(&nt.thread, NULL, notifier_main, NULL) != 0) {
        log_setup_problem("cannot start the notifier thread");
        pg_notifier_stop();
        return -1;
    }
    nt.running = true;
    pg_log(PG_LOG_INFO, "alert_webhook", "\"host\":\"%s\",\"tls\":%s,\"format\":\"%s\"", nt.host,
           nt.tls ? "true" : "false",
           nt.format == PG_WEBHOOK_SLACK ? "slack" : nt.format == PG_WEBHOOK_PAGERDUTY ? "pagerduty" : "json");
    return 0;
}

void pg_notifier_post(const struct pg_alert *a, const char *json, size_t len)
{
    pthread_mutex_lock(&nt.mu);
    bool take = nt.running && !nt.stopping && severity_rank(a->severity) >= nt.min_rank;
    if (take && nt.queued >= nt.max_queued) {
        nt.dropped++;
        take = false;
        pthread_mutex_unlock(&nt.mu);
        pg_log(PG_LOG_WARN, "alert_webhook_dropped", "\"id\":\"%s\",\"reason\":\"the notification queue is full\"",
               a->id);
        return;
    }
    pthread_mutex_unlock(&nt.mu);
    if (!take)
        return;
    /* A copy the thread owns: the caller's strings are gone after this. */
    struct item *it = calloc(1, sizeof *it);
    size_t ls = strlen(a->severity) + 1, lr = strlen(a->rule) + 1, lsub = a->subject ? strlen(a->subject) + 1 : 0,
           li = strlen(a->instance) + 1;
    if (it) {
        it->json = malloc(len + 1);
        it->text = malloc(ls + lr + lsub + li);
    }
    if (!it || !it->json || !it->text) {
        if (it)
            item_free(it);
        pthread_mutex_lock(&nt.mu);
        nt.dropped++;
        pthread_mutex_unlock(&nt.mu);
        return;
    }
    memcpy(it->json, json, len);
    it->json[len] = '\0';
    it->json_len = len;
    it->alert = *a;
    char *t = it->text;
    it->alert.severity = memcpy(t, a->severity, ls);
    it->alert.rule = memcpy(t += ls, a->rule, lr);
    it->alert.subject = a->subject ? memcpy(t += lr, a->subject, lsub) : NULL;
    it->alert.instance = memcpy(t + (a->subject ? lsub : lr), a->instance, li);
    it->alert.details = NULL;
    pthread_mutex_lock(&nt.mu);
    if (nt.tail)
        nt.tail->next = it;
    else
        nt.head = it;
    nt.tail = it;
    nt.queued++;
    pthread_cond_signal(&nt.cv);
    pthread_mutex_unlock(&nt.mu);
}

void pg_notifier_stop(void)
{
    pthread_mutex_lock(&nt.mu);
    bool running = nt.running;
    nt.stopping = true;
    pthread_cond_broadcast(&nt.cv);
    pthread_mutex_unlock(&nt.mu);
    if (running)
        pthread_join(nt.thread, NULL);
    nt.running = false;
    while (nt.head) {
        struct item *it = nt.head;
        nt.head = it->next;
        item_free(it);
    }
    nt.tail = NULL;
    nt.queued = 0;
    SSL_CTX_free(nt.ctx);
    nt.ctx = NULL;
    if (nt.routing_key) {
        OPENSSL_cleanse(nt.routing_key, strlen(nt.routing_key));
        free(nt.routing_key);
        nt.routing_key = NULL;
    }
}

void pg_notifier_get_stats(struct pg_notifier_stats *out)
{
    pthread_mutex_lock(&nt.mu);
    *out = (struct pg_notifier_stats){.sent = nt.sent, .failed = nt.failed, .dropped = nt.dropped,
                                      .retries = nt.retries, .queued = nt.queued, .configured = nt.running};
    pthread_mutex_unlock(&nt.mu);
}
