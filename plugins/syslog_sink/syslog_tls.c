#include "syslog_tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static void openssl_reason(const char *what, char *err, size_t errcap)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "unknown error";
    if (e)
        ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    snprintf(err, errcap, "%s: %s", what, buf);
}

SSL_CTX *syslog_tls_context(const struct syslog_tls_config *t, char *err, size_t errcap)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        openssl_reason("tls: cannot make a context", err, errcap);
        return NULL;
    }
    char what[512];
    if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION)) {
        openssl_reason("tls: cannot require TLS 1.2", err, errcap);
        goto fail;
    }
    if (SSL_CTX_load_verify_locations(ctx, t->ca_file, NULL) != 1) {
        snprintf(what, sizeof what, "tls.ca_file %s", t->ca_file);
        openssl_reason(what, err, errcap);
        goto fail;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (t->cert_file) {
        if (SSL_CTX_use_certificate_chain_file(ctx, t->cert_file) != 1) {
            snprintf(what, sizeof what, "tls.cert_file %s", t->cert_file);
            openssl_reason(what, err, errcap);
            goto fail;
        }
        /* OpenSSL also refuses a key that is not the certificate's here. */
        if (SSL_CTX_use_PrivateKey_file(ctx, t->key_file, SSL_FILETYPE_PEM) != 1) {
            snprintf(what, sizeof what, "tls.key_file %s", t->key_file);
            openssl_reason(what, err, errcap);
            goto fail;
        }
    }
    /* Partial writes let the sender resume a frame where a non-blocking
     * write stopped. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE);
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

static bool is_ip_address(const char *s)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

SSL *syslog_tls_new(SSL_CTX *ctx, int fd, const char *server_name, char *err, size_t errcap)
{
    SSL *ssl = SSL_new(ctx);
    if (!ssl) {
        openssl_reason("tls: cannot make a connection", err, errcap);
        return NULL;
    }
    X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
    int ok;
    if (is_ip_address(server_name)) {
        ok = X509_VERIFY_PARAM_set1_ip_asc(param, server_name);
    } else {
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        ok = X509_VERIFY_PARAM_set1_host(param, server_name, 0) && SSL_set_tlsext_host_name(ssl, server_name);
    }
    if (!ok || SSL_set_fd(ssl, fd) != 1) {
        openssl_reason("tls: cannot set the server name", err, errcap);
        SSL_free(ssl);
        return NULL;
    }
    return ssl;
}

void syslog_tls_reason(SSL *ssl, const char *what, char *err, size_t errcap)
{
    long v = SSL_get_verify_result(ssl);
    if (v != X509_V_OK) {
        ERR_clear_error();
        snprintf(err, errcap, "%s: certificate verification failed: %s", what, X509_verify_cert_error_string(v));
        return;
    }
    openssl_reason(what, err, errcap);
}
