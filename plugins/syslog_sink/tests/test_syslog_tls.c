/* syslog_tls.c: what loads and what is refused (with the file named), and
 * what a connection is set to check: an IP address against IP SANs, a
 * name against DNS SANs and as SNI. The handshakes themselves, good and
 * bad, run in test_syslog_e2e.py against a Python TLS receiver. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "syslog_tls.h"

static char dir[] = "/tmp/syslog-tls-test-XXXXXX";
static char ca_pem[128], cert_pem[128], key_pem[128], other_key_pem[128], junk_pem[128];

static EVP_PKEY *write_key(const char *path)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    FILE *f = fopen(path, "w");
    assert_non_null(k);
    assert_non_null(f);
    assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
    return k;
}

/* A self-signed certificate: it serves as the CA file and as the client
 * certificate. */
static int make_files(void **state)
{
    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(ca_pem, sizeof ca_pem, "%s/ca.pem", dir);
    snprintf(cert_pem, sizeof cert_pem, "%s/cert.pem", dir);
    snprintf(key_pem, sizeof key_pem, "%s/key.pem", dir);
    snprintf(other_key_pem, sizeof other_key_pem, "%s/other.key", dir);
    snprintf(junk_pem, sizeof junk_pem, "%s/junk.pem", dir);
    EVP_PKEY *k = write_key(key_pem);
    EVP_PKEY_free(write_key(other_key_pem));
    X509 *x = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, k);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *)"test", -1, -1,
                               0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    assert_true(X509_sign(x, k, EVP_sha256()) > 0);
    const char *paths[] = {ca_pem, cert_pem};
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(paths[i], "w");
        assert_non_null(f);
        assert_int_equal(PEM_write_X509(f, x), 1);
        fclose(f);
    }
    FILE *f = fopen(junk_pem, "w");
    fputs("not a certificate\n", f);
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(k);
    return 0;
}

static int remove_files(void **state)
{
    (void)state;
    const char *paths[] = {ca_pem, cert_pem, key_pem, other_key_pem, junk_pem};
    for (int i = 0; i < 5; i++)
        unlink(paths[i]);
    rmdir(dir);
    return 0;
}

static void refused(struct syslog_tls_config t, const char *reason)
{
    char err[512] = "";
    SSL_CTX *ctx = syslog_tls_context(&t, err, sizeof err);
    assert_null(ctx);
    if (!strstr(err, reason))
        fail_msg("error \"%s\" does not say \"%s\"", err, reason);
}

static void what_loads_and_what_is_refused(void **unused)
{
    (void)unused;
    char err[512] = "";
    SSL_CTX *ctx = syslog_tls_context(&(struct syslog_tls_config){.ca_file = ca_pem}, err, sizeof err);
    assert_non_null(ctx);
    assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
    assert_int_equal(SSL_CTX_get_verify_mode(ctx) & SSL_VERIFY_PEER, SSL_VERIFY_PEER);
    SSL_CTX_free(ctx);
    ctx = syslog_tls_context(&(struct syslog_tls_config){.ca_file = ca_pem, .cert_file = cert_pem,
                                                         .key_file = key_pem},
                             err, sizeof err);
    assert_non_null(ctx);
    SSL_CTX_free(ctx);

    char missing[160];
    snprintf(missing, sizeof missing, "%s/missing.pem", dir);
    char want[400];
    snprintf(want, sizeof want, "tls.ca_file %s", missing);
    refused((struct syslog_tls_config){.ca_file = missing}, want);
    snprintf(want, sizeof want, "tls.ca_file %s", junk_pem);
    refused((struct syslog_tls_config){.ca_file = junk_pem}, want);
    snprintf(want, sizeof want, "tls.cert_file %s", junk_pem);
    refused((struct syslog_tls_config){.ca_file = ca_pem, .cert_file = junk_pem, .key_file = key_pem}, want);
    snprintf(want, sizeof want, "tls.key_file %s", junk_pem);
    refused((struct syslog_tls_config){.ca_file = ca_pem, .cert_file = cert_pem, .key_file = junk_pem}, want);
    /* The key of another certificate: refused, naming the file (the
     * reason is OpenSSL's own text). */
    snprintf(want, sizeof want, "tls.key_file %s: ", other_key_pem);
    refused((struct syslog_tls_config){.ca_file = ca_pem, .cert_file = cert_pem, .key_file = other_key_pem}, want);
}

static void connection_checks_the_name_or_the_address(void **unused)
{
    (void)unused;
    char err[512] = "";
    SSL_CTX *ctx = syslog_tls_context(&(struct syslog_tls_config){.ca_file = ca_pem}, err, sizeof err);
    assert_non_null(ctx);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);

    SSL *ssl = syslog_tls_new(ctx, sv[0], "siem.example.org", err, sizeof err);
    assert_non_null(ssl);
    assert_string_equal(X509_VERIFY_PARAM_get0_host(SSL_get0_param(ssl), 0), "siem.example.org");
    assert_string_equal(SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name), "siem.example.org");
    assert_null(X509_VERIFY_PARAM_get1_ip_asc(SSL_get0_param(ssl)));
    SSL_free(ssl);

    ssl = syslog_tls_new(ctx, sv[0], "127.0.0.1", err, sizeof err);
    assert_non_null(ssl);
    char *ip = X509_VERIFY_PARAM_get1_ip_asc(SSL_get0_param(ssl));
    assert_string_equal(ip, "127.0.0.1");
    OPENSSL_free(ip);
    assert_null(X509_VERIFY_PARAM_get0_host(SSL_get0_param(ssl), 0));
    assert_null(SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)); /* no SNI for an address (RFC 6066) */
    SSL_free(ssl);

    ssl = syslog_tls_new(ctx, sv[0], "::1", err, sizeof err);
    assert_non_null(ssl);
    ip = X509_VERIFY_PARAM_get1_ip_asc(SSL_get0_param(ssl));
    assert_string_equal(ip, "0:0:0:0:0:0:0:1");
    OPENSSL_free(ip);
    SSL_free(ssl);

    close(sv[0]);
    close(sv[1]);
    SSL_CTX_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(what_loads_and_what_is_refused),
        cmocka_unit_test(connection_checks_the_name_or_the_address),
    };
    return cmocka_run_group_tests(tests, make_files, remove_files);
}
