#include "proxy/addr.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#define FORMS "expected host:port, [v6]:port or unix:/path"

static int fail(char *err, size_t errlen, const char *why)
{
    snprintf(err, errlen, "%s", why);
    return -1;
}

static int parse_unix(const char *path, struct pg_addr *out, char *err, size_t errlen)
{
    struct sockaddr_un *un = (struct sockaddr_un *)&out->ss;
    if (path[0] != '/')
        return fail(err, errlen, "a unix socket path must be absolute (unix:/path)");
    size_t len = strlen(path);
    if (len >= sizeof un->sun_path) {
        char msg[96];
        snprintf(msg, sizeof msg, "unix socket path too long (%zu bytes, at most %zu)", len,
                 sizeof un->sun_path - 1);
        return fail(err, errlen, msg);
    }
    un->sun_family = AF_UNIX;
    memcpy(un->sun_path, path, len + 1);
    out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
    out->is_unix = true;
    return 0;
}

/* Digits only: strtol alone would take " 80" or "+80". */
static int parse_port(const char *port, char *err, size_t errlen)
{
    size_t n = strspn(port, "0123456789");
    long p = n && n <= 5 && !port[n] ? strtol(port, NULL, 10) : 0;
    if (p < 1 || p > 65535)
        return fail(err, errlen, "port must be a number from 1 to 65535");
    return 0;
}

static int resolve(const char *host, const char *port, int family, int flags, struct pg_addr *out)
{
    struct addrinfo hints = {.ai_family = family, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV | flags};
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, port, &hints, &res) != 0 || !res)
        return -1;
    memcpy(&out->ss, res->ai_addr, res->ai_addrlen);
    out->len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

int pg_addr_parse(const char *text, struct pg_addr *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!text || !*text)
        return fail(err, errlen, FORMS);
    snprintf(out->text, sizeof out->text, "%s", text);
    if (strncmp(text, "unix:", 5) == 0)
        return parse_unix(text + 5, out, err, errlen);

    char host[256];
    const char *port;
    bool bracketed = text[0] == '[';
    if (bracketed) {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':' || close == text + 1 || (size_t)(close - text - 1) >= sizeof host)
            return fail(err, errlen, "expected [v6]:port");
        memcpy(host, text + 1, (size_t)(close - text - 1));
        host[close - text - 1] = '\0';
        port = close + 2;
    } else {
        /* A bare v6 literal has more than one colon: it needs brackets. */
        const char *colon = strchr(text, ':');
        if (!colon || colon == text || strchr(colon + 1, ':') || (size_t)(colon - text) >= sizeof host)
            return fail(err, errlen, FORMS);
        memcpy(host, text, (size_t)(colon - text));
        host[colon - text] = '\0';
        port = colon + 1;
    }
    if (parse_port(port, err, errlen) != 0)
        return -1;
    if (bracketed) {
        if (resolve(host, port, AF_INET6, AI_NUMERICHOST, out) != 0)
            return fail(err, errlen, "expected an IPv6 address inside [ ]");
        return 0;
    }
    /* inet_aton forms such as "127.1" are not addresses anyone means. */
    if (strspn(host, "0123456789.") == strlen(host)) {
        struct in_addr v4;
        if (inet_pton(AF_INET, host, &v4) != 1)
            return fail(err, errlen, "expected an IPv4 address such as 127.0.0.1");
    }
    /* Literals resolve without a lookup; a name (localhost) is resolved once
     * here, on the main thread, never by a worker. IPv4 first, so
     * "localhost" means 127.0.0.1 whatever order the resolver prefers. */
    if (resolve(host, port, AF_INET, 0, out) == 0 || resolve(host, port, AF_INET6, 0, out) == 0)
        return 0;
    char msg[320];
    snprintf(msg, sizeof msg, "cannot resolve host '%s'", host);
    return fail(err, errlen, msg);
}

void pg_addr_ip_string(const struct sockaddr *sa, char *buf, size_t buflen)
{
    if (!buflen)
        return;
    const char *ok = buf;
    if (sa->sa_family == AF_INET)
        ok = inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, (socklen_t)buflen);
    else if (sa->sa_family == AF_INET6)
        ok = inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf, (socklen_t)buflen);
    else
        snprintf(buf, buflen, "unix");
    if (!ok) /* buf too small: an empty string rather than stale bytes */
        buf[0] = '\0';
}
