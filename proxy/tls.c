#include "proxy/tls.h"

#include <openssl/err.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static pthread_mutex_t tls_mu = PTHREAD_MUTEX_INITIALIZER;
static SSL_CTX *tls_current;

/* TLS 1.2 is offered only when the config lowers the floor, and then only
 * with forward-secret AEAD suites. */
static const char tls12_ciphers[] = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                                    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                                    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

static void openssl_reason(char *err, size_t errlen, const char *what, const char *file)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "unknown error";
    if (e)
        ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    snprintf(err, errlen, "%s %s: %s", what, file ? file : "", buf);
}

/* ALPN: this proxy speaks HTTP/1.1 only. A client that offers ALPN without
 * it gets the no_application_protocol alert (RFC 7301 §3.2). */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *arg)
{
    (void)ssl;
    (void)arg;
    static const unsigned char http11[] = "\x08http/1.1";
    unsigned char *sel = NULL;
    if (SSL_select_next_proto(&sel, outlen, http11, sizeof http11 - 1, in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

SSL_CTX *pg_tls_build(const struct pg_tls_config *cfg, char *err, size_t errlen)
{
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        openssl_reason(err, errlen, "SSL_CTX_new", NULL);
        return NULL;
    }
    int floor = cfg->min_version == TLS1_2_VERSION ? TLS1_2_VERSION : TLS1_3_VERSION;
    SSL_CTX_set_min_proto_version(ctx, floor);
    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1 |
                                 SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_RELEASE_BUFFERS);
    /* Read whole socket buffers rather than a record header, then its body:
     * half the read calls per request. */
    SSL_CTX_set_read_ahead(ctx, 1);
    /* TLS 1.3 resumption works from stateless tickets; a server-side
     * session store would only cost a lock and a hash insert per handshake
     * (and is per process, useless across replicas). */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    if (SSL_CTX_set_cipher_list(ctx, tls12_ciphers) != 1) {
        openssl_reason(err, errlen, "cipher list", NULL);
        goto fail;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->certificate) != 1) {
        openssl_reason(err, errlen, "certificate", cfg->certificate);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, cfg->key, SSL_FILETYPE_PEM) != 1) {
        openssl_reason(err, errlen, "private key", cfg->key);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        openssl_reason(err, errlen, "private key does not match certificate", cfg->key);
        goto fail;
    }
    if (cfg->client_ca && cfg->client_auth != PG_CLIENT_AUTH_NONE) {
        if (SSL_CTX_load_verify_locations(ctx, cfg->client_ca, NULL) != 1) {
            openssl_reason(err, errlen, "client CA bundle", cfg->client_ca);
            goto fail;
        }
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->client_ca);
        if (!names) {
            openssl_reason(err, errlen, "client CA names", cfg->client_ca);
            goto fail;
        }
        SSL_CTX_set_client_CA_list(ctx, names);
        int mode = SSL_VERIFY_PEER;
        if (cfg->client_auth == PG_CLIENT_AUTH_REQUIRE)
            mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
        SSL_CTX_set_verify(ctx, mode, NULL);
        SSL_CTX_set_verify_depth(ctx, 8);
        /* Session resumption would skip the client certificate check on
         * later connections of a revoked client; keep each handshake full. */
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_num_tickets(ctx, 0);
    }
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

void pg_tls_publish(SSL_CTX *ctx)
{
    pthread_mutex_lock(&tls_mu);
    SSL_CTX *old = tls_current;
    tls_current = ctx;
    pthread_mutex_unlock(&tls_mu);
    SSL_CTX_free(old);
}

SSL *pg_tls_new_ssl(void)
{
    pthread_mutex_lock(&tls_mu);
    SSL_CTX *ctx = tls_current;
    if (ctx)
        SSL_CTX_up_ref(ctx);
    pthread_mutex_unlock(&tls_mu);
    if (!ctx)
        return NULL;
    SSL *ssl = SSL_new(ctx); /* holds its own reference */
    SSL_CTX_free(ctx);
    return ssl;
}

void pg_tls_shutdown(void)
{
    pg_tls_publish(NULL);
}

int pg_tls_current_info(char *subject, size_t subject_len, char *not_after, size_t not_after_len)
{
    int rc = -1;
    pthread_mutex_lock(&tls_mu);
    X509 *cert = tls_current ? SSL_CTX_get0_certificate(tls_current) : NULL;
    if (cert) {
        X509_NAME_oneline(X509_get_subject_name(cert), subject, (int)subject_len);
        BIO *b = BIO_new(BIO_s_mem());
        if (b && ASN1_TIME_print(b, X509_get0_notAfter(cert)) == 1) {
            int n = BIO_read(b, not_after, (int)not_after_len - 1);
            not_after[n > 0 ? n : 0] = '\0';
            rc = 0;
        }
        BIO_free(b);
    }
    pthread_mutex_unlock(&tls_mu);
    return rc;
}
