/* policy/inject.c and policy/yaml_json.c: what the patch holds for each
 * kind of pod, that applying it appends and adds only, and how YAML
 * scalars resolve. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#include "policy/inject.h"
#include "policy/yaml_json.h"

static enum pg_inject_status run(const char *pod_json, const char *prefix, char **patch, char *why)
{
    yajl_val pod = yajl_tree_parse(pod_json, NULL, 0);
    assert_non_null(pod);
    enum pg_inject_status st = pg_inject_patch(pod, prefix, NULL, patch, why, 256);
    yajl_tree_free(pod);
    return st;
}

#define ASKED "{\"metadata\":{\"annotations\":{\"phiguard.io/inject\":\"true\"%s}},\"spec\":%s}"

static enum pg_inject_status run_with(const char *extra_ann, const char *spec, char **patch, char *why)
{
    char buf[2048];
    snprintf(buf, sizeof buf, ASKED, extra_ann, spec);
    return run(buf, "", patch, why);
}

static void test_statuses(void **state)
{
    (void)state;
    char *patch, why[256];
    assert_int_equal(run("{\"metadata\":{},\"spec\":{}}", "", &patch, why), PG_INJECT_NOT_ASKED);
    assert_null(patch);
    assert_int_equal(run_with(",\"phiguard.io/injected\":\"true\"", "{}", &patch, why), PG_INJECT_ALREADY);
    assert_int_equal(run_with("", "{\"containers\":[{\"name\":\"phiguard\"}]}", &patch, why), PG_INJECT_ALREADY);
    assert_int_equal(run_with("", "{\"containers\":[]}", &patch, why), PG_INJECT_REFUSED);
    assert_int_equal(run_with("", "{\"containers\":[{\"name\":\"a\"}],\"volumes\":[{\"name\":\"phiguard-config\"}]}",
                              &patch, why),
                     PG_INJECT_REFUSED);
    assert_non_null(strstr(why, "phiguard-config"));
    assert_int_equal(run_with(",\"phiguard.io/upstream-port\":\"65536\"", "{\"containers\":[{\"name\":\"a\"}]}",
                              &patch, why),
                     PG_INJECT_REFUSED);
    assert_int_equal(run_with(",\"phiguard.io/policy-configmap\":\"a\\\"b\"", "{\"containers\":[{\"name\":\"a\"}]}",
                              &patch, why),
                     PG_INJECT_REFUSED);
    assert_null(patch);
}

static void test_patch_and_apply(void **state)
{
    (void)state;
    char *patch, why[256];
    assert_int_equal(run_with(",\"phiguard.io/upstream-port\":\"3000\"",
                              "{\"containers\":[{\"name\":\"a\"}],\"volumes\":[{\"name\":\"v\"}]}", &patch, why),
                     PG_INJECT_ADD);
    /* Arrays that exist are appended to; absent ones are made whole. */
    assert_non_null(strstr(patch, "\"path\":\"/spec/volumes/-\""));
    assert_non_null(strstr(patch, "\"path\":\"/spec/initContainers\""));
    assert_non_null(strstr(patch, "127.0.0.1:3000"));
    char doc[512];
    snprintf(doc, sizeof doc, ASKED, ",\"phiguard.io/upstream-port\":\"3000\"",
             "{\"containers\":[{\"name\":\"a\"}],\"volumes\":[{\"name\":\"v\"}]}");
    yajl_val d = yajl_tree_parse(doc, NULL, 0);
    char *out = pg_inject_apply(d, patch, false, why, sizeof why);
    assert_non_null(out);
    yajl_val o = yajl_tree_parse(out, NULL, 0);
    assert_non_null(o);
    yajl_val c = pg_inject_at(o, "/spec/containers");
    assert_int_equal(c->u.array.len, 2);
    assert_int_equal(pg_inject_at(o, "/spec/volumes")->u.array.len, 5);
    assert_non_null(strstr(out, "\"phiguard.io/injected\":\"true\""));
    /* Applied again, the patch cannot add what is there. */
    char *twice = pg_inject_apply(o, patch, false, why, sizeof why);
    assert_null(twice);
    /* A path into nothing is refused, as is any op but add. */
    assert_null(pg_inject_apply(d, "[{\"op\":\"add\",\"path\":\"/nope/-\",\"value\":1}]", false, why, sizeof why));
    assert_null(pg_inject_apply(d, "[{\"op\":\"remove\",\"path\":\"/spec\"}]", false, why, sizeof why));
    yajl_tree_free(o);
    yajl_tree_free(d);
    free(out);
    free(patch);
}

static int collect(void *ctx, const char *json, size_t len)
{
    char *out = ctx;
    strncat(out, json, len);
    strcat(out, "\n");
    return 0;
}

static void test_yaml(void **state)
{
    (void)state;
    char out[1024] = "", why[256];
    const char *y = "a: 0440\nb: '0440'\nc: yes\nd: ~\ne: 1.5\nf: 0x1f\ng: [x, \"1\", -3]\nh: 1.0.0\n---\n# only a comment\n---\nk: v\n";
    assert_int_equal(pg_yaml_to_json(y, strlen(y), collect, out, why, sizeof why), 0);
    assert_string_equal(out, "{\"a\":288,\"b\":\"0440\",\"c\":true,\"d\":null,\"e\":1.5,\"f\":31,\"g\":[\"x\",\"1\",-3],"
                             "\"h\":\"1.0.0\"}\n{\"k\":\"v\"}\n");
    out[0] = '\0';
    assert_int_equal(pg_yaml_to_json("a: [1\n", 6, collect, out, why, sizeof why), -1);
    assert_int_equal(pg_yaml_to_json("a: .nan\n", 8, collect, out, why, sizeof why), -1);
    const char *loop = "a: &x [*x]\n";
    assert_int_equal(pg_yaml_to_json(loop, strlen(loop), collect, out, why, sizeof why), -1);
}

static void test_template_pointer(void **state)
{
    (void)state;
    assert_string_equal(pg_inject_template_pointer("Pod"), "");
    assert_string_equal(pg_inject_template_pointer("Deployment"), "/spec/template");
    assert_string_equal(pg_inject_template_pointer("CronJob"), "/spec/jobTemplate/spec/template");
    assert_null(pg_inject_template_pointer("Service"));
    assert_null(pg_inject_template_pointer(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_statuses),
        cmocka_unit_test(test_patch_and_apply),
        cmocka_unit_test(test_yaml),
        cmocka_unit_test(test_template_pointer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
