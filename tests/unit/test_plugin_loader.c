/* The plugin loader (proxy/plugin_loader.c): the version check, and
 * loading the test-only plugins of tests/plugins/ (built by
 * tests/CMakeLists.txt into PHIGUARD_TEST_PLUGIN_DIR). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/plugin_body.h"
#include "proxy/plugin_loader.h"

static void test_versions(void **state)
{
    (void)state;
    char why[512];
    const uint32_t host = PHG_ABI_VERSION(1, 3);
    assert_int_equal(pg_plugin_abi_check(PHG_ABI_VERSION(1, 0), host, why, sizeof why), 0);
    assert_int_equal(pg_plugin_abi_check(PHG_ABI_VERSION(1, 3), host, why, sizeof why), 0);

    assert_int_equal(pg_plugin_abi_check(PHG_ABI_VERSION(1, 4), host, why, sizeof why), -1);
    assert_non_null(strstr(why, "built for plugin ABI 1.4, newer than this phiguard's ABI 1.3"));

    assert_int_equal(pg_plugin_abi_check(PHG_ABI_VERSION(2, 0), host, why, sizeof why), -1);
    assert_non_null(strstr(why, "built for plugin ABI 2.0, but this phiguard has ABI 1.3: another major version"));
    assert_int_equal(pg_plugin_abi_check(PHG_ABI_VERSION(0, 9), host, why, sizeof why), -1);
    assert_non_null(strstr(why, "ABI 0.9"));
    /* A major version's minor never makes up for it. */
    assert_int_equal(pg_plugin_abi_check(PHG_ABI_VERSION(0, 0xffff), host, why, sizeof why), -1);
    /* The header's own version is what a plugin built now declares. */
    assert_int_equal(pg_plugin_abi_check(PHG_ABI_CURRENT, PHG_ABI_CURRENT, why, sizeof why), 0);
    assert_int_equal(PHG_ABI_MAJOR_OF(PHG_ABI_VERSION(3, 7)), 3);
    assert_int_equal(PHG_ABI_MINOR_OF(PHG_ABI_VERSION(3, 7)), 7);
}

static char *plugin_path(const char *name)
{
    const char *dir = getenv("PHIGUARD_TEST_PLUGIN_DIR");
    if (!dir)
        fail_msg("PHIGUARD_TEST_PLUGIN_DIR is not set (ctest sets it)");
    char *p = malloc(strlen(dir) + strlen(name) + 8);
    sprintf(p, "%s/%s.so", dir, name);
    return p;
}

static int load(const char *const *names, const char *const *configs, int n)
{
    struct pg_plugin_config pcs[4];
    struct pg_config cfg = {.plugins = pcs, .nplugins = n};
    for (int i = 0; i < n; i++)
        pcs[i] = (struct pg_plugin_config){.path = plugin_path(names[i]), .config_json = (char *)configs[i]};
    int rc = pg_plugins_load(&cfg);
    for (int i = 0; i < n; i++)
        free(pcs[i].path);
    return rc;
}

static void test_load_and_unload(void **state)
{
    (void)state;
    const char *names[] = {"every_hook", "failing"};
    const char *configs[] = {"{\"greeting\":\"hi\",\"role\":\"physician\"}", "{}"};
    assert_int_equal(load(names, configs, 2), 0);
    assert_int_equal(pg_plugins_count(), 2);
    assert_string_equal(pg_plugin_at(0)->name, "every_hook");
    assert_string_equal(pg_plugin_at(1)->name, "failing");
    assert_null(pg_plugin_at(2));
    assert_true(pg_plugins_authenticate_any());
    /* Body fields compiled as the policy's selectors. */
    assert_int_equal(pg_plugin_at(0)->fields->n, 2);
    assert_string_equal(pg_plugin_at(0)->fields->fields[1].logical_path, "Test.items.code");
    /* The audit sink receives sealed records. */
    pg_plugins_audit_record("chain-a", 1, "{\"seq\":1}", 9);
    assert_int_equal(pg_plugin_at(0)->calls, 1);
    pg_plugins_unload();
    assert_int_equal(pg_plugins_count(), 0);
    assert_false(pg_plugins_authenticate_any());
}

static void test_refusals(void **state)
{
    (void)state;
    const char *every = "{\"greeting\":\"hi\",\"role\":\"physician\"}";
    const char *cases[][2] = {{"wrong_abi", "{}"},    {"newer_minor", "{}"}, {"entry_fails", "{}"},
                              {"no_such_plugin", "{}"}, {"every_hook", "{}"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *names[] = {"failing", cases[i][0]};
        const char *configs[] = {every, cases[i][1]};
        assert_int_equal(load(names, configs, 2), -1);
        assert_int_equal(pg_plugins_count(), 0); /* what loaded before is unloaded again */
    }
    /* Two plugins of one name. */
    const char *names[] = {"failing", "failing"};
    const char *configs[] = {"{}", "{}"};
    assert_int_equal(load(names, configs, 2), -1);
    assert_int_equal(pg_plugins_count(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_load_and_unload),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
