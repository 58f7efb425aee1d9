#ifndef PHIGUARD_SYSLOG_SENDER_H
#define PHIGUARD_SYSLOG_SENDER_H
/* The sink's own thread: takes records from the queue in order, formats
 * each as a frame, writes it, and on a failed write reconnects (with a
 * bounded exponential backoff) and writes the same record again, so the
 * receiver sees each chain's records in order. */
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdint.h>

#include "phiguard_plugin.h"
#include "syslog_config.h"
#include "syslog_format.h"
#include "syslog_queue.h"
#include "syslog_wait.h"

struct syslog_sender {
    const struct syslog_config *cfg;
    SSL_CTX *tls; /* NULL: plain TCP */
    struct syslog_origin origin;
    struct syslog_queue *queue;
    struct syslog_waker waker;
    const struct phg_host *host;
    phg_plugin_handle *self;
    pthread_t thread;
    uint64_t sent;      /* frames written; read after the thread ended */
    uint64_t reconnects;
};

/* The next backoff after one of current ms failed: doubled, within
 * [min, max]. */
unsigned syslog_backoff_next(unsigned current, unsigned min, unsigned max);

/* Starts the thread. 0, or -1 with the reason in err. */
int syslog_sender_start(struct syslog_sender *s, char *err, size_t errcap);

/* Asks the thread to send what is queued within flush_timeout_ms, then
 * waits for it to end. */
void syslog_sender_stop(struct syslog_sender *s);

#endif
