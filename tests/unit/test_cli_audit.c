/* phiguard keys audit-generate and the key file readers
 * (proxy/cli_audit.c): a generated pair signs and verifies, files are
 * never overwritten, the private key is private. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy/checkpoint.h"
#include "proxy/cli_audit.h"

static void test_generate_sign_verify(void **state)
{
    (void)state;
    char dir[] = "/tmp/pg-keys-XXXXXX", priv[96], pub[96], err[256];
    assert_non_null(mkdtemp(dir));
    snprintf(priv, sizeof priv, "%s/audit.key", dir);
    snprintf(pub, sizeof pub, "%s/audit.pub", dir);
    char *argv[] = {"keys", "audit-generate", "--private", priv, "--public", pub, "--name", "ehr-audit", NULL};
    assert_int_equal(pg_cli_audit_keys(8, argv), 0);
    struct stat st;
    assert_int_equal(stat(priv, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    EVP_PKEY *k = pg_audit_key_read_private(priv, err, sizeof err);
    EVP_PKEY *p = pg_audit_key_read_public(pub, err, sizeof err);
    assert_non_null(k);
    assert_non_null(p);
    assert_null(pg_audit_key_read_public(priv, err, sizeof err));
    assert_non_null(strstr(err, "not an Ed25519 public key"));
    struct pg_checkpoint cp = {.origin = "c", .count = 1, .time_us = 1}, got;
    memset(cp.head, 'e', 64);
    char note[512];
    assert_int_equal(pg_checkpoint_sign(k, "ehr-audit", &cp, note, sizeof note), 0);
    struct pg_checkpoint_key trusted = {"ehr-audit", p};
    assert_int_equal(pg_checkpoint_verify(&trusted, 1, note, &got), PG_CHECKPOINT_OK);

    /* The verifier key line: name, key id, base64 of 0x01 and the key. */
    char *vkey = pg_audit_verifier_key(p, "ehr-audit");
    uint8_t id[4];
    char want[32];
    assert_int_equal(pg_checkpoint_key_id(p, "ehr-audit", id), 0);
    snprintf(want, sizeof want, "ehr-audit+%02x%02x%02x%02x+", id[0], id[1], id[2], id[3]);
    assert_memory_equal(vkey, want, strlen(want));
    assert_int_equal(strlen(vkey), strlen(want) + 44);
    unsigned char raw[36], pubraw[32];
    size_t n = sizeof pubraw;
    assert_int_equal(EVP_DecodeBlock(raw, (const unsigned char *)vkey + strlen(want), 44), 33);
    assert_int_equal(EVP_PKEY_get_raw_public_key(p, pubraw, &n), 1);
    assert_int_equal(raw[0], 0x01);
    assert_memory_equal(raw + 1, pubraw, 32);
    free(vkey);

    /* A second run would replace the key: refused, and the pair is kept. */
    assert_int_equal(pg_cli_audit_keys(8, argv), 1);
    EVP_PKEY *again = pg_audit_key_read_private(priv, err, sizeof err);
    assert_non_null(again);
    assert_int_equal(EVP_PKEY_eq(again, k), 1);
    EVP_PKEY_free(again);
    EVP_PKEY_free(k);
    EVP_PKEY_free(p);
    unlink(priv);
    unlink(pub);
    rmdir(dir);
}

static void test_usage_and_bad_input(void **state)
{
    (void)state;
    char err[256];
    char *no_public[] = {"keys", "audit-generate", "--private", "/tmp/x", NULL};
    assert_int_equal(pg_cli_audit_keys(4, no_public), 2);
    char *bad_name[] = {"keys", "audit-generate", "--private", "/tmp/x", "--public", "/tmp/y", "--name", "a b", NULL};
    assert_int_equal(pg_cli_audit_keys(8, bad_name), 2);
    char *unknown[] = {"keys", "rotate", NULL};
    assert_int_equal(pg_cli_audit_keys(2, unknown), 2);
    assert_null(pg_audit_key_read_private("/nonexistent/audit.key", err, sizeof err));
    assert_non_null(strstr(err, "No such file"));
}

static void generate_pair(const char *dir, const char *name, char *priv, char *pub, size_t len)
{
    snprintf(priv, len, "%s/%s.key", dir, name);
    snprintf(pub, len, "%s/%s.pub", dir, name);
    char *argv[] = {"keys", "audit-generate", "--private", priv, "--public", pub, NULL};
    assert_int_equal(pg_cli_audit_keys(6, argv), 0);
}

static void append_file(const char *to, const char *from)
{
    FILE *in = fopen(from, "r"), *out = fopen(to, "a");
    assert_non_null(in);
    assert_non_null(out);
    int c;
    while ((c = fgetc(in)) != EOF)
        fputc(c, out);
    fclose(in);
    fclose(out);
}

/* After a rotation the earlier public keys come as one PEM file of several
 * keys: each is read, in order, and the configuration's set is the signing
 * key first, then those. */
static void test_public_key_bundles_and_the_configured_set(void **state)
{
    (void)state;
    char dir[] = "/tmp/pg-bundle-XXXXXX", priv1[96], pub1[96], priv2[96], pub2[96], bundle[96], err[256];
    assert_non_null(mkdtemp(dir));
    generate_pair(dir, "one", priv1, pub1, sizeof priv1);
    generate_pair(dir, "two", priv2, pub2, sizeof priv2);
    snprintf(bundle, sizeof bundle, "%s/previous.pub", dir);
    append_file(bundle, pub1);
    append_file(bundle, pub2);

    EVP_PKEY *keys[4];
    assert_int_equal(pg_audit_keys_read_public(bundle, keys, 4, err, sizeof err), 2);
    EVP_PKEY *one = pg_audit_key_read_public(pub1, err, sizeof err), *two = pg_audit_key_read_public(pub2, err, sizeof err);
    assert_int_equal(EVP_PKEY_eq(keys[0], one), 1);
    assert_int_equal(EVP_PKEY_eq(keys[1], two), 1);
    EVP_PKEY_free(keys[0]);
    EVP_PKEY_free(keys[1]);
    assert_int_equal(pg_audit_keys_read_public(bundle, keys, 1, err, sizeof err), -1);
    assert_non_null(strstr(err, "more than 1 public keys"));
    assert_int_equal(pg_audit_keys_read_public(priv1, keys, 4, err, sizeof err), -1);
    assert_non_null(strstr(err, "not an Ed25519 public key in PEM"));

    struct pg_config cfg = {0};
    cfg.audit.signing_key_file = priv2;
    cfg.audit.key_name = "phiguard-audit";
    struct pg_checkpoint_key set[8];
    assert_int_equal(pg_audit_config_keys(&cfg, set, 8, err, sizeof err), 1);
    assert_int_equal(EVP_PKEY_eq(set[0].pub, two), 1);
    EVP_PKEY_free(set[0].pub);
    cfg.audit.previous_public_keys = bundle;
    assert_int_equal(pg_audit_config_keys(&cfg, set, 8, err, sizeof err), 3);
    assert_string_equal(set[2].name, "phiguard-audit");
    assert_int_equal(EVP_PKEY_eq(set[1].pub, one), 1);
    for (int i = 0; i < 3; i++)
        EVP_PKEY_free(set[i].pub);
    cfg.audit.previous_public_keys = priv1; /* not public keys: nothing is trusted */
    assert_int_equal(pg_audit_config_keys(&cfg, set, 8, err, sizeof err), -1);
    EVP_PKEY_free(one);
    EVP_PKEY_free(two);
    unlink(priv1);
    unlink(pub1);
    unlink(priv2);
    unlink(pub2);
    unlink(bundle);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generate_sign_verify),
        cmocka_unit_test(test_usage_and_bad_input),
        cmocka_unit_test(test_public_key_bundles_and_the_configured_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
