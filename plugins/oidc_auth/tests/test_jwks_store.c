#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jwks_store.h"
#include "oidc_test_keys.h"

static EVP_PKEY *k1, *k2;
static char dir[64], path[128];

struct reports {
    int ok, refused;
    char last[512];
};

static void record(void *ctx, int ok, const char *message)
{
    struct reports *r = ctx;
    if (ok)
        r->ok++;
    else
        r->refused++;
    snprintf(r->last, sizeof r->last, "%s", message);
}

/* Writes text to a new file and renames it over path, as a sidecar does. */
static void publish(const char *text)
{
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(rename(tmp, path), 0);
}

static void publish_key(EVP_PKEY *k, const char *kid)
{
    char *j = test_jwk(k, kid), *set = test_jwks(j, NULL);
    publish(set);
    free(j);
    free(set);
}

static int setup(void **state)
{
    (void)state;
    k1 = test_ec_key();
    k2 = test_ec_key();
    strcpy(dir, "/tmp/oidc-store-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(path, sizeof path, "%s/jwks.json", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    rmdir(dir);
    EVP_PKEY_free(k1);
    EVP_PKEY_free(k2);
    return 0;
}

static void a_missing_or_broken_file_fails_the_open(void **state)
{
    (void)state;
    struct oidc_jwks_store s;
    struct reports r = {0};
    char err[400];
    unlink(path);
    assert_int_equal(oidc_jwks_store_open(&s, path, 100, record, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot open"));
    publish("{\"keys\":[]}");
    assert_int_equal(oidc_jwks_store_open(&s, path, 100, record, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "no RS256 or ES256 signing key"));
    assert_non_null(strstr(err, path));
    assert_int_equal(oidc_jwks_store_open(&s, dir, 100, record, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a regular file"));
}

static int has_kid(struct oidc_jwks_store *s, const char *kid)
{
    struct oidc_keyset *ks = oidc_jwks_store_get(s);
    int found = oidc_keyset_find(ks, kid) != NULL;
    oidc_keyset_unref(ks);
    return found;
}

static void a_change_is_loaded_and_a_broken_one_keeps_the_keys(void **state)
{
    (void)state;
    struct oidc_jwks_store s;
    struct reports r = {0};
    char err[400];
    publish_key(k1, "one");
    assert_int_equal(oidc_jwks_store_open(&s, path, 100, record, &r, err, sizeof err), 0);
    assert_true(has_kid(&s, "one"));
    assert_int_equal(oidc_jwks_store_poll(&s), 0);

    /* a key set in use by a request outlives the swap */
    struct oidc_keyset *held = oidc_jwks_store_get(&s);
    publish_key(k2, "two");
    assert_int_equal(oidc_jwks_store_poll(&s), 1);
    assert_int_equal(r.ok, 1);
    assert_true(has_kid(&s, "two"));
    assert_false(has_kid(&s, "one"));
    assert_non_null(oidc_keyset_find(held, "one"));
    oidc_keyset_unref(held);

    /* written in place, broken: old keys kept, reported once */
    FILE *f = fopen(path, "w");
    fputs("{\"keys\":[{\"kty\":\"EC\"", f);
    fclose(f);
    assert_int_equal(oidc_jwks_store_poll(&s), -1);
    assert_int_equal(r.refused, 1);
    assert_non_null(strstr(r.last, "the keys in use are kept"));
    assert_true(has_kid(&s, "two"));
    assert_int_equal(oidc_jwks_store_poll(&s), 0);
    assert_int_equal(r.refused, 1);

    /* gone: kept, reported once */
    unlink(path);
    assert_int_equal(oidc_jwks_store_poll(&s), -1);
    assert_int_equal(oidc_jwks_store_poll(&s), 0);
    assert_int_equal(r.refused, 2);
    assert_true(has_kid(&s, "two"));

    publish_key(k1, "three");
    assert_int_equal(oidc_jwks_store_poll(&s), 1);
    assert_true(has_kid(&s, "three"));
    assert_int_equal(atomic_load(&s.reloads), 2);
    assert_int_equal(atomic_load(&s.refusals), 2);
    oidc_jwks_store_close(&s);
}

static void the_thread_reloads_on_its_own(void **state)
{
    (void)state;
    struct oidc_jwks_store s;
    struct reports r = {0};
    char err[400];
    publish_key(k1, "before");
    assert_int_equal(oidc_jwks_store_open(&s, path, 100, record, &r, err, sizeof err), 0);
    assert_int_equal(oidc_jwks_store_start(&s, err, sizeof err), 0);
    publish_key(k2, "after");
    /* bounded wait for the thread's poll: up to 10 s */
    for (int i = 0; i < 1000 && !has_kid(&s, "after"); i++)
        usleep(10000);
    assert_true(has_kid(&s, "after"));
    oidc_jwks_store_close(&s); /* joins the thread promptly */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_missing_or_broken_file_fails_the_open),
        cmocka_unit_test(a_change_is_loaded_and_a_broken_one_keeps_the_keys),
        cmocka_unit_test(the_thread_reloads_on_its_own),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
