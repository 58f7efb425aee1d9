/* Searchable PHI in request targets (policy/phi_target.c): query values and
 * path segments sealed as the backend stores them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/envelope.h"
#include "policy/keyring.h"
#include "policy/phi_target.h"
#include "policy/policy.h"

#define K1 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define K2 "HxoeHRwbGhkYFxYVFBMSERAPDg0MCwoJCAcGBQQDAgE="

static const char POLICY[] =
    "version: 1\n"
    "routes:\n"
    "  - name: search\n    methods: [GET]\n    path: /fhir/Patient\n    entity: Patient\n"
    "    permissions: [patient:read]\n"
    "    phi:\n"
    "      response: [{path: \"$.identifier[*].value\", read: phi:read:identifiers, searchable: true,"
    " normalize: digits}]\n"
    "      query: [{param: identifier, field: Patient.identifier.value}]\n"
    "  - name: by-ssn\n    methods: [GET]\n    path: /lookup/{kind}/{ssn}\n    entity: Patient\n"
    "    permissions: [patient:read]\n"
    "    phi:\n      path: [{param: ssn, field: Patient.identifier.value}]\n";

struct fixture {
    struct pg_policy *p;
    struct pg_keyring one, two;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    struct pg_policy_errors e = {0};
    f->p = pg_policy_load_buffer("t.yaml", POLICY, sizeof POLICY - 1, &e);
    for (int i = 0; i < e.count; i++)
        print_error("%s\n", e.items[i]);
    assert_non_null(f->p);
    const char r1[] = "active k1\nk1 " K1 "\n", r2[] = "active k2\nk1 " K1 "\nk2 " K2 "\n";
    assert_int_equal(pg_keyring_parse("r1", r1, sizeof r1 - 1, &f->one, &e), 0);
    assert_int_equal(pg_keyring_parse("r2", r2, sizeof r2 - 1, &f->two, &e), 0);
    pg_policy_errors_free(&e);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    pg_policy_unref(f->p);
    pg_keyring_wipe(&f->one);
    pg_keyring_wipe(&f->two);
    free(f);
    return 0;
}

static enum pg_phi_target_result rewrite(struct fixture *f, const struct pg_keyring *ring, const char *route,
                                         const char *target, char **out, const char **why)
{
    const struct pg_route *r = &f->p->routes[pg_policy_route_index(f->p, route)];
    const char *q = strchr(target, '?');
    size_t out_len;
    return pg_phi_target_rewrite(f->p, r, ring, target, strlen(target), q ? (size_t)(q - target) : strlen(target),
                                 out, &out_len, why);
}

/* The envelope the ring's active key gives digits in mode d. */
static void expected(const struct pg_keyring *ring, int key, const char *digits, char *out, size_t cap)
{
    long n = pg_envelope_seal(&ring->keys[key], 'd', "Patient.identifier.value", 's', digits, strlen(digits), out, cap);
    assert_true(n > 0);
}

static void test_query_value_sealed_and_normalised(void **state)
{
    struct fixture *f = *state;
    char *out = NULL, env[256], want[600];
    const char *why;
    assert_int_equal(rewrite(f, &f->one, "search", "/fhir/Patient?_count=5&identifier=123-45-6789&x", &out, &why),
                     PG_PHI_TARGET_NEW);
    expected(&f->one, 0, "123456789", env, sizeof env);
    snprintf(want, sizeof want, "/fhir/Patient?_count=5&identifier=%s&x", env);
    assert_string_equal(out, want);
    free(out);
    /* Equal values, equal targets (deterministic); written another way, the
     * same after normalisation. */
    assert_int_equal(rewrite(f, &f->one, "search", "/fhir/Patient?identifier=123%2D45%2D6789", &out, &why),
                     PG_PHI_TARGET_NEW);
    snprintf(want, sizeof want, "/fhir/Patient?identifier=%s", env);
    assert_string_equal(out, want);
    free(out);
}

static void test_token_system_and_alternatives(void **state)
{
    struct fixture *f = *state;
    char *out = NULL, e1[256], e2[256], want[1200];
    const char *why;
    assert_int_equal(rewrite(f, &f->one, "search", "/fhir/Patient?identifier=http://hl7.org/fhir/sid/us-ssn%7C111,222",
                             &out, &why),
                     PG_PHI_TARGET_NEW);
    expected(&f->one, 0, "111", e1, sizeof e1);
    expected(&f->one, 0, "222", e2, sizeof e2);
    snprintf(want, sizeof want, "/fhir/Patient?identifier=http://hl7.org/fhir/sid/us-ssn%%7C%s,%s", e1, e2);
    assert_string_equal(out, want);
    free(out);
    /* During a rotation: under every key, the active one first. */
    assert_int_equal(rewrite(f, &f->two, "search", "/fhir/Patient?identifier=111", &out, &why), PG_PHI_TARGET_NEW);
    expected(&f->two, 1, "111", e1, sizeof e1);
    expected(&f->two, 0, "111", e2, sizeof e2);
    snprintf(want, sizeof want, "/fhir/Patient?identifier=%s,%s", e1, e2);
    assert_string_equal(out, want);
    free(out);
}

static void test_unlisted_untouched_and_refusals(void **state)
{
    struct fixture *f = *state;
    char *out = NULL;
    const char *why = NULL;
    assert_int_equal(rewrite(f, &f->one, "search", "/fhir/Patient?name=Doe&_sort=a%20b", &out, &why), PG_PHI_TARGET_SAME);
    assert_null(out);
    assert_int_equal(rewrite(f, &f->one, "search", "/fhir/Patient", &out, &why), PG_PHI_TARGET_SAME);
    /* A modifier cannot match ciphertext; an escaped name is the same name. */
    assert_int_equal(rewrite(f, &f->one, "search", "/fhir/Patient?identifier:contains=12", &out, &why),
                     PG_PHI_TARGET_REFUSE);
    assert_non_null(why);
    assert_null(strstr(why, "12"));
    assert_int_equal(rewrite(f, &f->one, "search", "/fhir/Patient?identifier%3Aexact=12", &out, &why),
                     PG_PHI_TARGET_REFUSE);
    assert_int_equal(rewrite(f, &f->one, "search", "/fhir/Patient?identifie%72=12", &out, &why), PG_PHI_TARGET_NEW);
    assert_non_null(strstr(out, "identifie%72=phi:v1:k1:d:"));
    free(out);
    assert_int_equal(rewrite(f, &f->one, "search", "/fhir/Patient?identifier=1%G2", &out, &why),
                     PG_PHI_TARGET_REFUSE);
    assert_int_equal(rewrite(f, NULL, "search", "/fhir/Patient?identifier=1", &out, &why), PG_PHI_TARGET_FAILED);
}

static void test_path_segment_under_the_active_key(void **state)
{
    struct fixture *f = *state;
    char *out = NULL, env[256], want[600];
    const char *why;
    assert_int_equal(rewrite(f, &f->two, "by-ssn", "/lookup/ssn/123-45-6789?x=1", &out, &why), PG_PHI_TARGET_NEW);
    expected(&f->two, 1, "123456789", env, sizeof env);
    snprintf(want, sizeof want, "/lookup/ssn/%s?x=1", env);
    assert_string_equal(out, want);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_query_value_sealed_and_normalised, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_system_and_alternatives, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unlisted_untouched_and_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_path_segment_under_the_active_key, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
