#ifndef PHIGUARD_SYSLOG_CONN_H
#define PHIGUARD_SYSLOG_CONN_H
/* The sender thread's connection to the receiver: a non-blocking socket
 * (TCP, TLS on top when configured) whose every wait is bounded by a
 * timeout and by the unload deadline (syslog_wait.h). */
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

#include "syslog_config.h"
#include "syslog_wait.h"

struct syslog_conn {
    int fd; /* -1: not connected */
    SSL *ssl;
    bool tls_clean; /* no fatal TLS error yet: a close_notify may be sent */
};

enum syslog_io {
    SYSLOG_IO_OK = 0,
    SYSLOG_IO_FAILED = -1,  /* err says why; reconnect */
    SYSLOG_IO_STOPPED = -2, /* the unload deadline passed */
};

void syslog_conn_init(struct syslog_conn *c);

/* Resolves cfg->host, connects to the first address that answers within
 * cfg->connect_timeout_ms and, with ctx, completes the TLS handshake
 * within the same time. */
enum syslog_io syslog_conn_open(struct syslog_conn *c, const struct syslog_config *cfg, SSL_CTX *ctx,
                                struct syslog_waker *w, char *err, size_t errcap);

/* Has the receiver closed (or reset) the connection? Syslog receivers send
 * nothing, so what they do send (TLS session tickets) is read and
 * ignored. Asked before each write: a write into a connection the peer
 * has closed still succeeds once, and that record would be lost. */
bool syslog_conn_closed_by_peer(struct syslog_conn *c);

/* Writes all len bytes within timeout_ms. */
enum syslog_io syslog_conn_write(struct syslog_conn *c, const char *buf, size_t len, unsigned timeout_ms,
                                 struct syslog_waker *w, char *err, size_t errcap);

void syslog_conn_close(struct syslog_conn *c);

#endif
