/* JSON-lines logger. Loops format into a shared queue under a mutex; one
 * thread writes to stderr, so a slow or blocked stderr never stalls a
 * worker. The queue is bounded: past the bound lines are dropped, and the
 * count of dropped lines is logged once the writer catches up. */
#include "proxy/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LOG_QUEUE_MAX (8u << 20)
#define LOG_LINE_MAX 8192

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t log_cv = PTHREAD_COND_INITIALIZER;
static char *log_buf;
static size_t log_len, log_cap;
static unsigned long log_dropped;
static bool log_running, log_stopping;
static pthread_t log_thread;
static _Atomic int log_min_level = PG_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

static void *log_writer(void *arg)
{
    (void)arg;
    char *mine = NULL;
    size_t mine_cap = 0;
    pthread_mutex_lock(&log_mu);
    for (;;) {
        while (log_len == 0 && !log_stopping)
            pthread_cond_wait(&log_cv, &log_mu);
        if (log_len == 0 && log_stopping)
            break;
        /* Swap buffers so the writer holds the lock only for the swap. */
        char *full = log_buf;
        size_t full_len = log_len, full_cap = log_cap;
        unsigned long dropped = log_dropped;
        log_buf = mine;
        log_cap = mine_cap;
        log_len = 0;
        log_dropped = 0;
        pthread_mutex_unlock(&log_mu);
        write_all(STDERR_FILENO, full, full_len);
        if (dropped) {
            char note[128];
            int n = snprintf(note, sizeof note,
                             "{\"level\":\"warn\",\"msg\":\"log_lines_dropped\",\"count\":%lu}\n", dropped);
            write_all(STDERR_FILENO, note, (size_t)n);
        }
        mine = full; /* the written buffer becomes the spare */
        mine_cap = full_cap;
        pthread_mutex_lock(&log_mu);
    }
    pthread_mutex_unlock(&log_mu);
    free(mine);
    return NULL;
}

void pg_log_start(enum pg_log_level min_level)
{
    pg_log_set_level(min_level);
    pthread_mutex_lock(&log_mu);
    if (!log_running) {
        log_stopping = false;
        if (pthread_create(&log_thread, NULL, log_writer, NULL) == 0)
            log_running = true;
    }
    pthread_mutex_unlock(&log_mu);
}

void pg_log_stop(void)
{
    pthread_mutex_lock(&log_mu);
    bool running = log_running;
    log_stopping = true;
    pthread_cond_signal(&log_cv);
    pthread_mutex_unlock(&log_mu);
    if (running)
        pthread_join(log_thread, NULL);
    pthread_mutex_lock(&log_mu);
    log_running = false;
    if (log_len) /* lines logged after the writer left */
        write_all(STDERR_FILENO, log_buf, log_len);
    free(log_buf);
    log_buf = NULL;
    log_len = log_cap = 0;
    pthread_mutex_unlock(&log_mu);
}

void pg_log_set_level(enum pg_log_level min_level)
{
    atomic_store(&log_min_level, (int)min_level);
}

static void enqueue(const char *line, size_t n)
{
    pthread_mutex_lock(&log_mu);
    if (!log_running) {
        pthread_mutex_unlock(&log_mu);
        write_all(STDERR_FILENO, line, n); /* before start / after stop: the CLI */
        return;
    }
    if (log_len + n > LOG_QUEUE_MAX) {
        log_dropped++;
    } else {
        if (log_len + n > log_cap) {
            size_t cap = log_cap ? log_cap : 16384;
            while (cap < log_len + n)
                cap *= 2;
            char *grown = realloc(log_buf, cap);
            if (!grown) {
                log_dropped++;
                pthread_mutex_unlock(&log_mu);
                return;
            }
            log_buf = grown;
            log_cap = cap;
        }
        memcpy(log_buf + log_len, line, n);
        log_len += n;
        pthread_cond_signal(&log_cv);
    }
    pthread_mutex_unlock(&log_mu);
}

void pg_log(enum pg_log_level level, const char *msg, const char *fields_fmt, ...)
{
    if ((int)level < atomic_load(&log_min_level))
        return;
    char line[LOG_LINE_MAX];
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof line,
                     "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ\",\"level\":\"%s\",\"msg\":\"%s\"",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (long)tv.tv_usec, level_names[level], msg);
    if (fields_fmt && n > 0 && (size_t)n < sizeof line - 1) {
        line[n++] = ',';
        va_list ap;
        va_start(ap, fields_fmt);
        int m = vsnprintf(line + n, sizeof line - (size_t)n, fields_fmt, ap);
        va_end(ap);
        if (m < 0)
            m = 0;
        n = (size_t)(n + m) >= sizeof line ? (int)sizeof line - 1 : n + m;
        if (n > 0 && (size_t)n >= sizeof line - 3) {
            /* Truncated: cut back to a point where the object can close
             * cleanly, marking that it was cut. */
            static const char cut[] = "\"truncated\":true";
            char *comma = memrchr(line, ',', (size_t)n);
            n = comma ? (int)(comma - line) + 1 : n;
            memcpy(line + n, cut, sizeof cut - 1);
            n += (int)sizeof cut - 1;
        }
    }
    if (n < 0)
        return;
    if ((size_t)n > sizeof line - 3)
        n = (int)sizeof line - 3;
    line[n++] = '}';
    line[n++] = '\n';
    enqueue(line, (size_t)n);
}

char *pg_json_escape(const char *s, size_t len, char *out, size_t outlen)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (outlen == 0)
        return out;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[7];
        size_t k = 0;
        if (c == '"' || c == '\\') {
            esc[k++] = '\\';
            esc[k++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            esc[k++] = '\\';
            esc[k++] = 'u';
            esc[k++] = '0';
            esc[k++] = '0';
            esc[k++] = hex[c >> 4];
            esc[k++] = hex[c & 15];
        } else {
            esc[k++] = (char)c;
        }
        if (o + k >= outlen)
            break;
        memcpy(out + o, esc, k);
        o += k;
    }
    out[o] = '\0';
    return out;
}
