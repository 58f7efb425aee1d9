#include "syslog_conn.h"

#include <errno.h>
#include <netdb.h>
#include <openssl/err.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "syslog_tls.h"

void syslog_conn_init(struct syslog_conn *c)
{
    c->fd = -1;
    c->ssl = NULL;
    c->tls_clean = false;
}

void syslog_conn_close(struct syslog_conn *c)
{
    if (c->ssl) {
        /* One try at close_notify (the receiver does not have to answer),
         * never after a fatal error, as OpenSSL requires. Writing to a
         * connection the peer reset raises SIGPIPE, which phiguard serve
         * ignores (proxy/server.c). */
        if (c->tls_clean)
            SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->tls_clean = false;
}

static enum syslog_io tcp_connect(const struct addrinfo *ai, int send_buffer, int64_t deadline,
                                  struct syslog_waker *w, int *fd_out, char *err, size_t errcap)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
        snprintf(err, errcap, "socket: %s", strerror(errno));
        return SYSLOG_IO_FAILED;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    /* What the kernel holds is sent or lost with the connection, beyond
     * the queue's count: a site can bound it. */
    if (send_buffer > 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &send_buffer, sizeof send_buffer);
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
        snprintf(err, errcap, "connect: %s", strerror(errno));
        close(fd);
        return SYSLOG_IO_FAILED;
    }
    enum syslog_wait_result wr = syslog_wait(w, fd, POLLOUT, deadline);
    if (wr != SYSLOG_WAIT_READY) {
        snprintf(err, errcap, "connect: timed out");
        close(fd);
        return wr == SYSLOG_WAIT_STOPPED ? SYSLOG_IO_STOPPED : SYSLOG_IO_FAILED;
    }
    int soerr = 0;
    socklen_t len = sizeof soerr;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0 || soerr != 0) {
        snprintf(err, errcap, "connect: %s", strerror(soerr ? soerr : errno));
        close(fd);
        return SYSLOG_IO_FAILED;
    }
    *fd_out = fd;
    return SYSLOG_IO_OK;
}

/* Waits as OpenSSL asks after a non-blocking call that returned rc. */
static enum syslog_io tls_wait(SSL *ssl, int fd, int rc, int64_t deadline, struct syslog_waker *w, const char *what,
                               char *err, size_t errcap)
{
    int e = SSL_get_error(ssl, rc);
    short events;
    if (e == SSL_ERROR_WANT_READ)
        events = POLLIN;
    else if (e == SSL_ERROR_WANT_WRITE)
        events = POLLOUT;
    else {
        if (e == SSL_ERROR_SYSCALL && errno)
            snprintf(err, errcap, "%s: %s", what, strerror(errno));
        else if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && !errno))
            snprintf(err, errcap, "%s: the receiver closed the connection", what);
        else
            syslog_tls_reason(ssl, what, err, errcap);
        return SYSLOG_IO_FAILED;
    }
    enum syslog_wait_result wr = syslog_wait(w, fd, events, deadline);
    if (wr == SYSLOG_WAIT_READY)
        return SYSLOG_IO_OK;
    snprintf(err, errcap, "%s: timed out", what);
    return wr == SYSLOG_WAIT_STOPPED ? SYSLOG_IO_STOPPED : SYSLOG_IO_FAILED;
}

static enum syslog_io tls_handshake(struct syslog_conn *c, const struct syslog_config *cfg, SSL_CTX *ctx,
                                    int64_t deadline, struct syslog_waker *w, char *err, size_t errcap)
{
    c->ssl = syslog_tls_new(ctx, c->fd, cfg->tls.server_name ? cfg->tls.server_name : cfg->host, err, errcap);
    if (!c->ssl)
        return SYSLOG_IO_FAILED;
    for (;;) {
        ERR_clear_error();
        errno = 0;
        int rc = SSL_connect(c->ssl);
        if (rc == 1) {
            c->tls_clean = true;
            return SYSLOG_IO_OK;
        }
        enum syslog_io io = tls_wait(c->ssl, c->fd, rc, deadline, w, "tls handshake", err, errcap);
        if (io != SYSLOG_IO_OK)
            return io;
    }
}

enum syslog_io syslog_conn_open(struct syslog_conn *c, const struct syslog_config *cfg, SSL_CTX *ctx,
                                struct syslog_waker *w, char *err, size_t errcap)
{
    syslog_conn_close(c);
    int64_t deadline = syslog_now_ms() + cfg->connect_timeout_ms;
    char port[8];
    snprintf(port, sizeof port, "%d", cfg->port);
    /* No AI_ADDRCONFIG: on a machine with loopback only it hides the
     * loopback addresses themselves. */
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(cfg->host, port, &hints, &res);
    if (gai != 0) {
        snprintf(err, errcap, "cannot resolve %s: %s", cfg->host, gai_strerror(gai));
        return SYSLOG_IO_FAILED;
    }
    enum syslog_io io = SYSLOG_IO_FAILED;
    snprintf(err, errcap, "no address for %s", cfg->host);
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        io = tcp_connect(ai, cfg->send_buffer_bytes, deadline, w, &c->fd, err, errcap);
        if (io != SYSLOG_IO_FAILED)
            break;
    }
    freeaddrinfo(res);
    if (io == SYSLOG_IO_OK && ctx)
        io = tls_handshake(c, cfg, ctx, deadline, w, err, errcap);
    if (io != SYSLOG_IO_OK)
        syslog_conn_close(c);
    return io;
}

bool syslog_conn_closed_by_peer(struct syslog_conn *c)
{
    for (int round = 0; round < 16; round++) {
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        if (poll(&p, 1, 0) <= 0)
            return false;
        if (p.revents & (POLLERR | POLLNVAL))
            return true;
        char scratch[4096];
        if (!c->ssl) {
            ssize_t n = recv(c->fd, scratch, sizeof scratch, MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
                return true;
            if (n < 0)
                return false;
            continue; /* a receiver has nothing to say: ignored */
        }
        size_t n = 0;
        ERR_clear_error();
        if (SSL_read_ex(c->ssl, scratch, sizeof scratch, &n) == 1)
            continue;
        int e = SSL_get_error(c->ssl, 0);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            return false;
        c->tls_clean = e == SSL_ERROR_ZERO_RETURN; /* the receiver's close_notify may be answered */
        return true;
    }
    return false; /* still talking: let the write find out */
}

enum syslog_io syslog_conn_write(struct syslog_conn *c, const char *buf, size_t len, unsigned timeout_ms,
                                 struct syslog_waker *w, char *err, size_t errcap)
{
    int64_t deadline = syslog_now_ms() + timeout_ms;
    size_t done = 0;
    while (done < len) {
        if (c->ssl) {
            size_t n = 0;
            ERR_clear_error();
            errno = 0;
            int rc = SSL_write_ex(c->ssl, buf + done, len - done, &n);
            if (rc == 1) {
                done += n;
                continue;
            }
            enum syslog_io io = tls_wait(c->ssl, c->fd, rc, deadline, w, "write", err, errcap);
            if (io != SYSLOG_IO_OK) {
                c->tls_clean = false; /* a record may be half written */
                return io;
            }
            continue;
        }
        ssize_t n = send(c->fd, buf + done, len - done, MSG_NOSIGNAL);
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            snprintf(err, errcap, "write: %s", strerror(errno));
            return SYSLOG_IO_FAILED;
        }
        enum syslog_wait_result wr = syslog_wait(w, c->fd, POLLOUT, deadline);
        if (wr == SYSLOG_WAIT_STOPPED)
            return SYSLOG_IO_STOPPED;
        if (wr == SYSLOG_WAIT_TIMEOUT) {
            snprintf(err, errcap, "write: timed out after %u ms (the receiver does not read)", timeout_ms);
            return SYSLOG_IO_FAILED;
        }
    }
    return SYSLOG_IO_OK;
}
