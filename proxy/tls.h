#ifndef PHIGUARD_TLS_H
#define PHIGUARD_TLS_H
/* The server SSL_CTX: built from the config, shared by every worker,
 * swapped whole on reload. A connection takes its own reference, so a swap
 * never disturbs connections already open. */
#include <openssl/ssl.h>
#include "proxy/config.h"

/* Builds a context from the files the config names. Returns NULL and a
 * reason in err when a file is missing or bad. Reads files: call it off the
 * workers' loops. */
SSL_CTX *pg_tls_build(const struct pg_tls_config *cfg, char *err, size_t errlen);

/* Publishes ctx as the current context (takes ownership of one ref). */
void pg_tls_publish(SSL_CTX *ctx);
/* A new SSL from the current context; NULL when there is none. */
SSL *pg_tls_new_ssl(void);
/* Releases the published context (at exit). */
void pg_tls_shutdown(void);

/* For status reports: subject CN and notAfter of the current certificate. */
int pg_tls_current_info(char *subject, size_t subject_len, char *not_after, size_t not_after_len);

#endif
