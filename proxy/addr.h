#ifndef PHIGUARD_ADDR_H
#define PHIGUARD_ADDR_H
/* Listen and upstream addresses: "host:port", "[v6]:port" or "unix:/path".
 * Resolved once, at configuration time, on the main thread: workers never
 * resolve names. */
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct pg_addr {
    struct sockaddr_storage ss;
    socklen_t len;
    bool is_unix;
    char text[128]; /* as written, for logs */
};

/* Returns 0 on success; otherwise -1 with a reason in err. */
int pg_addr_parse(const char *text, struct pg_addr *out, char *err, size_t errlen);

/* "1.2.3.4" / "::1" for an inet address, "unix" for a unix socket. */
void pg_addr_ip_string(const struct sockaddr *sa, char *buf, size_t buflen);

#endif
