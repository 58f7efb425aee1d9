/* The server TLS context (proxy/tls.c): files, protocol floor, ALPN, mTLS.
 * Handshakes run in memory between two SSL objects. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy/tls.h"

struct files {
    char dir[64];
    char cert[96], key[96], other_key[96];
};

static EVP_PKEY *write_key(const char *path)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    FILE *f = fopen(path, "w");
    PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    return k;
}

static int setup(void **state)
{
    struct files *fs = calloc(1, sizeof *fs);
    strcpy(fs->dir, "/tmp/pg-tls-XXXXXX");
    assert_non_null(mkdtemp(fs->dir));
    snprintf(fs->cert, sizeof fs->cert, "%s/cert.pem", fs->dir);
    snprintf(fs->key, sizeof fs->key, "%s/key.pem", fs->dir);
    snprintf(fs->other_key, sizeof fs->other_key, "%s/other.pem", fs->dir);
    EVP_PKEY *k = write_key(fs->key);
    EVP_PKEY_free(write_key(fs->other_key));
    X509 *x = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, k);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1, 0);
    X509_set_issuer_name(x, n);
    X509_sign(x, k, EVP_sha256());
    FILE *f = fopen(fs->cert, "w");
    PEM_write_X509(f, x);
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(k);
    *state = fs;
    return 0;
}

static int teardown(void **state)
{
    struct files *fs = *state;
    unlink(fs->cert);
    unlink(fs->key);
    unlink(fs->other_key);
    rmdir(fs->dir);
    free(fs);
    return 0;
}

static struct pg_tls_config config(struct files *fs)
{
    return (struct pg_tls_config){.certificate = fs->cert, .key = fs->key, .min_version = TLS1_3_VERSION};
}

/* Runs a client handshake against server_ctx in memory. Returns 1 when both
 * sides completed it; *alpn receives the selected protocol. */
static int handshake(SSL_CTX *server_ctx, int client_max, const unsigned char *alpn_list, unsigned alpn_len,
                     char *alpn, size_t alpn_size)
{
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_max_proto_version(cctx, client_max);
    SSL_CTX_set_verify(cctx, SSL_VERIFY_NONE, NULL);
    SSL *c = SSL_new(cctx), *s = SSL_new(server_ctx);
    if (alpn_list)
        SSL_set_alpn_protos(c, alpn_list, alpn_len);
    BIO *cb, *sb;
    BIO_new_bio_pair(&cb, 0, &sb, 0);
    SSL_set_bio(c, cb, cb);
    SSL_set_bio(s, sb, sb);
    SSL_set_connect_state(c);
    SSL_set_accept_state(s);
    int cdone = 0, sdone = 0;
    for (int i = 0; i < 20 && !(cdone && sdone); i++) {
        if (!cdone) {
            int r = SSL_do_handshake(c);
            if (r == 1)
                cdone = 1;
            else if (SSL_get_error(c, r) != SSL_ERROR_WANT_READ)
                break;
        }
        if (!sdone) {
            int r = SSL_do_handshake(s);
            if (r == 1)
                sdone = 1;
            else if (SSL_get_error(s, r) != SSL_ERROR_WANT_READ)
                break;
        }
    }
    if (alpn) {
        const unsigned char *p = NULL;
        unsigned n = 0;
        SSL_get0_alpn_selected(s, &p, &n);
        snprintf(alpn, alpn_size, "%.*s", (int)n, p ? (const char *)p : "");
    }
    SSL_free(c);
    SSL_free(s);
    SSL_CTX_free(cctx);
    return cdone && sdone;
}

static void test_builds_and_negotiates_tls13(void **state)
{
    struct files *fs = *state;
    char err[256];
    struct pg_tls_config cfg = config(fs);
    SSL_CTX *ctx = pg_tls_build(&cfg, err, sizeof err);
    assert_non_null(ctx);
    char alpn[32];
    assert_int_equal(handshake(ctx, TLS1_3_VERSION, (const unsigned char *)"\x02h2\x08http/1.1", 12, alpn, sizeof alpn),
                     1);
    assert_string_equal(alpn, "http/1.1");
    /* No ALPN at all is fine: plain HTTPS clients. */
    assert_int_equal(handshake(ctx, TLS1_3_VERSION, NULL, 0, NULL, 0), 1);
    SSL_CTX_free(ctx);
}

static void test_refuses_tls12_by_default(void **state)
{
    struct files *fs = *state;
    char err[256];
    struct pg_tls_config cfg = config(fs);
    SSL_CTX *ctx = pg_tls_build(&cfg, err, sizeof err);
    assert_int_equal(handshake(ctx, TLS1_2_VERSION, NULL, 0, NULL, 0), 0);
    SSL_CTX_free(ctx);
    cfg.min_version = TLS1_2_VERSION;
    ctx = pg_tls_build(&cfg, err, sizeof err);
    assert_int_equal(handshake(ctx, TLS1_2_VERSION, NULL, 0, NULL, 0), 1);
    SSL_CTX_free(ctx);
}

static void test_alpn_without_http11_is_refused(void **state)
{
    struct files *fs = *state;
    char err[256];
    struct pg_tls_config cfg = config(fs);
    SSL_CTX *ctx = pg_tls_build(&cfg, err, sizeof err);
    assert_int_equal(handshake(ctx, TLS1_3_VERSION, (const unsigned char *)"\x02h2", 3, NULL, 0), 0);
    SSL_CTX_free(ctx);
}

static void test_bad_files_give_reasons(void **state)
{
    struct files *fs = *state;
    char err[256];
    struct pg_tls_config cfg = config(fs);
    cfg.certificate = "/nonexistent/cert.pem";
    assert_null(pg_tls_build(&cfg, err, sizeof err));
    assert_non_null(strstr(err, "certificate /nonexistent/cert.pem"));
    cfg = config(fs);
    cfg.key = fs->other_key;
    assert_null(pg_tls_build(&cfg, err, sizeof err));
    assert_non_null(strstr(err, "mismatch"));
    cfg = config(fs);
    cfg.client_ca = "/nonexistent/ca.pem";
    cfg.client_auth = PG_CLIENT_AUTH_REQUIRE;
    assert_null(pg_tls_build(&cfg, err, sizeof err));
    assert_non_null(strstr(err, "client CA bundle"));
}

static void test_mtls_requires_a_client_certificate(void **state)
{
    struct files *fs = *state;
    char err[256];
    struct pg_tls_config cfg = config(fs);
    cfg.client_ca = fs->cert;
    cfg.client_auth = PG_CLIENT_AUTH_REQUIRE;
    SSL_CTX *ctx = pg_tls_build(&cfg, err, sizeof err);
    assert_non_null(ctx);
    /* The client in handshake() sends no certificate. */
    assert_int_equal(handshake(ctx, TLS1_3_VERSION, NULL, 0, NULL, 0), 0);
    SSL_CTX_free(ctx);
}

static void test_publish_and_info(void **state)
{
    struct files *fs = *state;
    char err[256], subject[128], not_after[64];
    struct pg_tls_config cfg = config(fs);
    pg_tls_publish(pg_tls_build(&cfg, err, sizeof err));
    SSL *ssl = pg_tls_new_ssl();
    assert_non_null(ssl);
    assert_int_equal(pg_tls_current_info(subject, sizeof subject, not_after, sizeof not_after), 0);
    assert_non_null(strstr(subject, "CN=localhost"));
    pg_tls_shutdown(); /* the SSL keeps its own reference */
    assert_null(pg_tls_new_ssl());
    SSL_free(ssl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builds_and_negotiates_tls13),
        cmocka_unit_test(test_refuses_tls12_by_default),
        cmocka_unit_test(test_alpn_without_http11_is_refused),
        cmocka_unit_test(test_bad_files_give_reasons),
        cmocka_unit_test(test_mtls_requires_a_client_certificate),
        cmocka_unit_test(test_publish_and_info),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
