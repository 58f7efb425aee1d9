/* syslog_sink.c through its entry point, with a host of the test's own:
 * config errors come back in err, another ABI major is refused, the hook
 * queues, a full queue raises one alert per episode however many records
 * it drops, unload stops within flush_timeout_ms and reports the totals. */
#include <setjmp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "loopback_listener.h"
#include "phiguard_plugin.h"

int phiguard_plugin_entry(uint32_t abi, const struct phg_host *host, phg_plugin_handle *self,
                          const char *config_json, struct phg_plugin *plugin, char *err, size_t errcap);
extern const uint32_t phiguard_plugin_abi;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char log_text[1 << 16];
static int alerts;
static char alert_rule[64];

static void fake_log(phg_plugin_handle *p, enum phg_log_level level, const char *fmt, ...)
{
    (void)p;
    (void)level;
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&mu);
    size_t used = strlen(log_text);
    vsnprintf(log_text + used, sizeof log_text - used - 1, fmt, ap);
    strcat(log_text, "\n");
    pthread_mutex_unlock(&mu);
    va_end(ap);
}

static void fake_alert(phg_plugin_handle *p, enum phg_severity severity, const char *rule, const char *detail)
{
    (void)p;
    (void)detail;
    pthread_mutex_lock(&mu);
    alerts++;
    snprintf(alert_rule, sizeof alert_rule, "%s", rule);
    assert_int_equal(severity, PHG_SEV_HIGH);
    pthread_mutex_unlock(&mu);
}

static const struct phg_host host = {.abi = PHG_ABI_CURRENT, .size = sizeof(struct phg_host), .version = "test",
                                     .log = fake_log, .alert = fake_alert};

static void abi_symbol_is_the_current_version(void **unused)
{
    (void)unused;
    assert_int_equal(phiguard_plugin_abi, PHG_ABI_CURRENT);
}

static void refusals_come_back_in_err(void **unused)
{
    (void)unused;
    struct phg_plugin plugin = {.size = sizeof plugin};
    char err[256] = "";
    assert_int_equal(phiguard_plugin_entry(PHG_ABI_VERSION(2, 0), &host, NULL, "{\"host\":\"127.0.0.1\"}", &plugin,
                                           err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "built for plugin ABI 1"));
    assert_int_equal(phiguard_plugin_entry(PHG_ABI_CURRENT, &host, NULL, "{}", &plugin, err, sizeof err), -1);
    assert_non_null(strstr(err, "host is required"));
    assert_int_equal(phiguard_plugin_entry(PHG_ABI_CURRENT, &host, NULL,
                                           "{\"host\":\"127.0.0.1\",\"tls\":{\"ca_file\":\"/nonexistent/ca.pem\"}}",
                                           &plugin, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "tls.ca_file /nonexistent/ca.pem"));
    assert_null(plugin.audit_record);
}

static void full_queue_alerts_once_and_unload_reports(void **unused)
{
    (void)unused;
    /* A receiver that accepts nothing: the sender backs off, records
     * queue, the bound of 3 is reached. */
    int port = loopback_closed_port();
    char cfg[256];
    snprintf(cfg, sizeof cfg,
             "{\"host\":\"127.0.0.1\",\"port\":%d,\"queue_limit\":{\"records\":3},\"flush_timeout_ms\":50}", port);
    struct phg_plugin plugin = {.size = sizeof plugin};
    char err[256] = "";
    assert_int_equal(phiguard_plugin_entry(PHG_ABI_CURRENT, &host, NULL, cfg, &plugin, err, sizeof err), 0);
    assert_string_equal(plugin.name, "syslog_sink");
    assert_non_null(plugin.audit_record);
    assert_non_null(plugin.unload);
    for (uint64_t i = 1; i <= 50; i++)
        plugin.audit_record(plugin.state, "pod-0/w0", i, "{\"seq\":1}", 9);
    assert_int_equal(alerts, 1);
    assert_string_equal(alert_rule, "syslog_sink_overflow");
    plugin.unload(plugin.state);
    assert_non_null(strstr(log_text, "syslog queue full"));
    assert_non_null(strstr(log_text, "syslog sink stopped: 0 records sent, 47 dropped (queue full), 3 not sent"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(abi_symbol_is_the_current_version),
        cmocka_unit_test(refusals_come_back_in_err),
        cmocka_unit_test(full_queue_alerts_once_and_unload_reports),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
