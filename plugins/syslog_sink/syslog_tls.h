#ifndef PHIGUARD_SYSLOG_TLS_H
#define PHIGUARD_SYSLOG_TLS_H
/* TLS for the syslog connection (RFC 5425): TLS 1.2 or later, the
 * receiver's certificate verified against the configured CA and its name
 * (or IP address) checked, an optional client certificate. */
#include <openssl/ssl.h>
#include <stddef.h>

#include "syslog_config.h"

/* The context for every connection of one sink, loaded at start so that a
 * bad file stops phiguard's start-up. NULL with the reason in err. */
SSL_CTX *syslog_tls_context(const struct syslog_tls_config *t, char *err, size_t errcap);

/* A connection's SSL on fd, set to check server_name: an IP address is
 * matched against the certificate's IP SANs, a name against its DNS SANs
 * (and sent as SNI). NULL with the reason in err. */
SSL *syslog_tls_new(SSL_CTX *ctx, int fd, const char *server_name, char *err, size_t errcap);

/* OpenSSL's reason for the last failure on ssl (verification result
 * included), as "what: reason". Clears OpenSSL's error queue. */
void syslog_tls_reason(SSL *ssl, const char *what, char *err, size_t errcap);

#endif
