#include "proxy/addr.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

static int fail(char *err, size_t errlen, const char *why)
{
    snprintf(err, errlen, "%s", why);
    return -1;
}

int pg_addr_parse(const char *text, struct pg_addr *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!text || !*text)
        return fail(err, errlen, "expected host:port, [v6]:port or unix:/path");
    snprintf(out->text, sizeof out->text, "%s", text);
    if (strncmp(text, "unix:", 5) == 0) {
        const char *path = text + 5;
        struct sockaddr_un *un = (struct sockaddr_un *)&out->ss;
        if (path[0] != '/')
            return fail(err, errlen, "a unix socket path must be absolute (unix:/path)");
        if (strlen(path) >= sizeof un->sun_path)
            return fail(err, errlen, "unix socket path too long");
        un->sun_family = AF_UNIX;
        strcpy(un->sun_path, path);
        out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
        out->is_unix = true;
        return 0;
    }
    char host[256];
    const char *port;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':' || (size_t)(close - text - 1) >= sizeof host)
            return fail(err, errlen, "expected [v6]:port");
        memcpy(host, text + 1, (size_t)(close - text - 1));
        host[close - text - 1] = '\0';
        port = close + 2;
    } else {
        const char *colon = strrchr(text, ':');
        if (!colon || colon == text || (size_t)(colon - text) >= sizeof host || memchr(text, ':', (size_t)(colon - text)))
            return fail(err, errlen, "expected host:port, [v6]:port or unix:/path");
        memcpy(host, text, (size_t)(colon - text));
        host[colon - text] = '\0';
        port = colon + 1;
    }
    char *end;
    long p = strtol(port, &end, 10);
    if (!*port || *end || p < 1 || p > 65535)
        return fail(err, errlen, "port must be a number from 1 to 65535");
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    /* Literals resolve without a lookup; a name (localhost) is resolved
     * once here, on the main thread, never by a worker. */
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, port, &hints, &res) != 0 || !res) {
        char msg[320];
        snprintf(msg, sizeof msg, "cannot resolve host '%s'", host);
        return fail(err, errlen, msg);
    }
    memcpy(&out->ss, res->ai_addr, res->ai_addrlen);
    out->len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

void pg_addr_ip_string(const struct sockaddr *sa, char *buf, size_t buflen)
{
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, (socklen_t)buflen);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf, (socklen_t)buflen);
    else
        snprintf(buf, buflen, "unix");
}
