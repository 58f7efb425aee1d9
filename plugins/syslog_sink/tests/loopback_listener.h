#ifndef PHIGUARD_SYSLOG_TEST_LOOPBACK_LISTENER_H
#define PHIGUARD_SYSLOG_TEST_LOOPBACK_LISTENER_H
/* A listening TCP socket on 127.0.0.1 at a port the kernel picks, for the
 * connection and sender tests. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

static inline int loopback_listen(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int one = 1;
    /* Linux binds a port again over its TIME_WAIT sockets only when both
     * the old and the new listener say SO_REUSEADDR. */
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 8) || getsockname(fd, (struct sockaddr *)&a, &len))
        return -1;
    *port = ntohs(a.sin_port);
    return fd;
}

/* A port nothing listens on: bound, then closed. */
static inline int loopback_closed_port(void)
{
    int port = 0;
    int fd = loopback_listen(&port);
    close(fd);
    return port;
}

#endif
