/* Alert JSON (proxy/alert.c) and the webhook bodies made from it
 * (proxy/notifier.c): valid JSON of the shapes Slack and PagerDuty take,
 * with what must be escaped escaped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#include "proxy/alert.h"
#include "proxy/notifier.h"

static const char *str_at(yajl_val root, const char *a, const char *b)
{
    const char *path[] = {a, b, NULL};
    yajl_val v = yajl_tree_get(root, path, yajl_t_string);
    return v ? YAJL_GET_STRING(v) : NULL;
}

static void test_alert_json(void **state)
{
    (void)state;
    struct pg_alert a = {.severity = "high", .rule = "account_locked", .subject = "n.\"joy\"\n", .instance = "pod-0",
                         .details = "\"failures\":5"};
    assert_int_equal(pg_alert_init(&a), 0);
    assert_int_equal(strlen(a.id), 16);
    char out[1024], why[128];
    int n = pg_alert_json(&a, out, sizeof out);
    assert_true(n > 0 && (size_t)n == strlen(out));
    assert_memory_equal(out, "{\"id\":\"", 7); /* the store finds alerts by this prefix */
    yajl_val root = yajl_tree_parse(out, why, sizeof why);
    assert_non_null(root);
    assert_string_equal(str_at(root, "subject", NULL), "n.\"joy\"\n");
    assert_string_equal(str_at(root, "rule", NULL), "account_locked");
    const char *fail[] = {"details", "failures", NULL};
    assert_int_equal(YAJL_GET_INTEGER(yajl_tree_get(root, fail, yajl_t_number)), 5);
    yajl_tree_free(root);
    assert_int_equal(pg_alert_json(&a, out, 20), -1);
}

static void test_payloads(void **state)
{
    (void)state;
    struct pg_alert a = {.severity = "medium", .rule = "phi_envelope_unselected", .subject = "u\\1", .instance = "i"};
    pg_alert_init(&a);
    char json[512], out[2048], why[128];
    pg_alert_json(&a, json, sizeof json);

    assert_true(pg_notifier_payload(PG_WEBHOOK_SLACK, &a, json, NULL, out, sizeof out) > 0);
    yajl_val root = yajl_tree_parse(out, why, sizeof why);
    assert_non_null(root);
    assert_non_null(strstr(str_at(root, "text", NULL), "medium alert *phi_envelope_unselected*: u\\1 on i"));
    yajl_tree_free(root);

    assert_true(pg_notifier_payload(PG_WEBHOOK_PAGERDUTY, &a, json, "KEY\"1", out, sizeof out) > 0);
    root = yajl_tree_parse(out, why, sizeof why);
    assert_non_null(root);
    assert_string_equal(str_at(root, "routing_key", NULL), "KEY\"1");
    assert_string_equal(str_at(root, "event_action", NULL), "trigger");
    assert_string_equal(str_at(root, "payload", "severity"), "warning");
    assert_string_equal(str_at(root, "payload", "source"), "i");
    const char *cd[] = {"payload", "custom_details", "id", NULL};
    assert_string_equal(YAJL_GET_STRING(yajl_tree_get(root, cd, yajl_t_string)), a.id);
    yajl_tree_free(root);

    assert_int_equal(pg_notifier_payload(PG_WEBHOOK_JSON, &a, json, NULL, out, sizeof out), (int)strlen(json));
    assert_string_equal(out, json);
    assert_int_equal(pg_notifier_payload(PG_WEBHOOK_SLACK, &a, json, NULL, out, 10), -1);
    /* Severities PagerDuty knows, one for each of ours. */
    const char *ours[] = {"low", "medium", "high", "critical"}, *theirs[] = {"info", "warning", "error", "critical"};
    for (int i = 0; i < 4; i++) {
        a.severity = ours[i];
        pg_notifier_payload(PG_WEBHOOK_PAGERDUTY, &a, json, "k", out, sizeof out);
        root = yajl_tree_parse(out, why, sizeof why);
        assert_string_equal(str_at(root, "payload", "severity"), theirs[i]);
        yajl_tree_free(root);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alert_json),
        cmocka_unit_test(test_payloads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
