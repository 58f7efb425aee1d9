/* The permission changes a policy reload records (policy/permdiff.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "policy/permdiff.h"

static struct pg_policy *load(const char *text)
{
    struct pg_policy_errors errs = {0};
    struct pg_policy *p = pg_policy_load_buffer("t.yaml", text, strlen(text), &errs);
    pg_policy_errors_free(&errs);
    assert_non_null(p);
    return p;
}

static const char base[] = "version: 1\nroutes:\n  - {name: x, methods: [GET], path: /x, public: true}\n";

static void test_gained_lost_added_removed(void **state)
{
    (void)state;
    struct pg_policy *a = load("version: 1\nroles:\n  desk: {inherits: [front_desk], permissions: [lab:read]}\n"
                               "  gone: {inherits: [read_only]}\n"
                               "routes:\n  - {name: x, methods: [GET], path: /x, public: true}\n");
    struct pg_policy *b = load("version: 1\nroles:\n  desk: {inherits: [front_desk], permissions: [billing:read]}\n"
                               "  fresh: {inherits: [read_only]}\n"
                               "routes:\n  - {name: x, methods: [GET], path: /x, public: true}\n");
    char out[4096];
    size_t n = pg_policy_perm_changes(a, b, out, sizeof out);
    assert_int_equal(n, strlen(out));
    assert_non_null(strstr(out, "{\"role\":\"desk\",\"gained\":[\"billing:read\"],\"lost\":[\"lab:read\"]}"));
    assert_non_null(strstr(out, "{\"role\":\"fresh\",\"gained\":["));
    assert_non_null(strstr(out, "{\"role\":\"gone\",\"gained\":[],\"lost\":["));
    assert_null(strstr(out, "\"role\":\"physician\"")); /* unchanged built-in roles are not listed */
    assert_int_equal(out[0], '[');
    assert_int_equal(out[n - 1], ']');
    /* The same policy: nothing changed. */
    assert_int_equal(pg_policy_perm_changes(b, b, out, sizeof out), 2);
    assert_string_equal(out, "[]");
    /* A small buffer: cut, and says so, and stays one JSON array. */
    n = pg_policy_perm_changes(a, b, out, 64);
    assert_true(n < 64);
    assert_non_null(strstr(out, "{\"truncated\":true}]"));
    pg_policy_unref(a);
    pg_policy_unref(b);
}

static void test_first_policy(void **state)
{
    (void)state;
    struct pg_policy *b = load(base);
    char out[256];
    pg_policy_perm_changes(NULL, b, out, sizeof out);
    assert_string_equal(out, "[]");
    pg_policy_unref(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_gained_lost_added_removed),
                                       cmocka_unit_test(test_first_policy)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
