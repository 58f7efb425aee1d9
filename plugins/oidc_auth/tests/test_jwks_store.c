#include <pthread.h>
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

struct reader {
    struct oidc_jwks_store *store;
    atomic_bool *stop;
    long uses;
};

/* What a worker does: take the current set, use a key, drop the set. */
static void *read_keys(void *arg)
{
    struct reader *r = arg;
    while (!atomic_load(r->stop)) {
        struct oidc_keyset *ks = oidc_jwks_store_get(r->store);
        if (ks->nkeys == 1 && EVP_PKEY_get_bits(ks->keys[0].pkey) == 256)
            r->uses++;
        oidc_keyset_unref(ks);
    }
    return NULL;
}

/* Swaps while four threads use the sets: under ASan a set freed while in
 * use, or never freed, fails the test. */
static void swaps_are_safe_while_sets_are_in_use(void **state)
{
    (void)state;
    struct oidc_jwks_store s;
    struct reports rep = {0};
    char err[400];
    publish_key(k1, "k-0");
    assert_int_equal(oidc_jwks_store_open(&s, path, 100, record, &rep, err, sizeof err), 0);
    atomic_bool stop;
    atomic_init(&stop, false);
    struct reader readers[4];
    pthread_t threads[4];
    for (int i = 0; i < 4; i++) {
        readers[i] = (struct reader){.store = &s, .stop = &stop};
        assert_int_equal(pthread_create(&threads[i], NULL, read_keys, &readers[i]), 0);
    }
    for (int i = 1; i <= 30; i++) {
        char kid[16];
        snprintf(kid, sizeof kid, "k-%d", i);
        publish_key(i % 2 ? k2 : k1, kid);
        assert_int_equal(oidc_jwks_store_poll(&s), 1);
    }
    atomic_store(&stop, true);
    long uses = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        uses += readers[i].uses;
    }
    assert_true(uses > 0);
    assert_true(has_kid(&s, "k-30"));
    assert_int_equal(rep.ok, 30);
    oidc_jwks_store_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_missing_or_broken_file_fails_the_open),
        cmocka_unit_test(a_change_is_loaded_and_a_broken_one_keeps_the_keys),
        cmocka_unit_test(the_thread_reloads_on_its_own),
        cmocka_unit_test(swaps_are_safe_while_sets_are_in_use),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
