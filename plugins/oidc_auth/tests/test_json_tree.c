#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "json_tree.h"

static yajl_val parse(const char *s, char *err)
{
    return oidc_json_parse_object(s, strlen(s), err, 200);
}

static void parses_objects_only(void **state)
{
    (void)state;
    char err[200];
    yajl_val v = parse("{\"a\":{\"b\":[\"x\"]},\"n\":5}", err);
    assert_non_null(v);
    assert_true(YAJL_IS_ARRAY(oidc_json_path(v, "a.b")));
    assert_null(oidc_json_path(v, "a.c"));
    assert_null(oidc_json_path(v, "a..b"));
    yajl_tree_free(v);
    v = parse("{\"https://clinic.example/roles\":[\"x\"],\"https://clinic\":{\"example/roles\":1}}", err);
    assert_true(YAJL_IS_ARRAY(oidc_json_path(v, "https://clinic.example/roles"))); /* the whole name first */
    assert_null(oidc_json_string(v, "n"));
    yajl_tree_free(v);
    assert_null(parse("[1]", err));
    assert_string_equal(err, "the JSON is not an object");
    assert_null(parse("{\"a\":", err));
    assert_non_null(strstr(err, "not valid JSON"));
    assert_null(oidc_json_parse_object("{\"a\":1}\0", 8, err, sizeof err));
    assert_string_equal(err, "a NUL byte in the JSON");
    assert_null(parse("{\"groups\":[\"admin\\u0000x\"]}", err));
    assert_string_equal(err, "a \\u0000 escape in the JSON");
}

static void refuses_duplicate_members_at_any_depth(void **state)
{
    (void)state;
    char err[200];
    assert_null(parse("{\"iss\":\"a\",\"iss\":\"b\"}", err));
    assert_non_null(strstr(err, "duplicate"));
    assert_null(parse("{\"x\":[{\"k\":1,\"k\":2}]}", err));
    assert_null(parse("{\"a\":[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]}", err));
}

static void seconds(void **state)
{
    (void)state;
    char err[200];
    yajl_val v = parse("{\"i\":1700000000,\"d\":1700000000.9,\"s\":\"1\",\"big\":1e300}", err);
    long long t = 0;
    assert_int_equal(oidc_json_seconds(oidc_json_member(v, "i"), &t), 0);
    assert_int_equal(t, 1700000000);
    assert_int_equal(oidc_json_seconds(oidc_json_member(v, "d"), &t), 0);
    assert_int_equal(t, 1700000000);
    assert_int_equal(oidc_json_seconds(oidc_json_member(v, "s"), &t), -1);
    assert_int_equal(oidc_json_seconds(oidc_json_member(v, "big"), &t), -1);
    yajl_tree_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_objects_only),
        cmocka_unit_test(refuses_duplicate_members_at_any_depth),
        cmocka_unit_test(seconds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
