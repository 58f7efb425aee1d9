/* syslog_config.c: defaults, and a clear error for each kind of bad
 * config. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "syslog_config.h"

static void defaults(void **unused)
{
    (void)unused;
    struct syslog_config c;
    char err[512] = "";
    assert_int_equal(syslog_config_parse("{\"host\":\"127.0.0.1\"}", &c, err, sizeof err), 0);
    assert_string_equal(c.host, "127.0.0.1");
    assert_int_equal(c.port, 601);
    assert_false(c.tls_enabled);
    assert_string_equal(c.app_name, "phiguard");
    assert_true(syslog_printusascii(c.hostname, 255));
    assert_int_equal(c.facility, 10);
    assert_true(c.utf8_bom);
    assert_int_equal(c.queue_records, 10000);
    assert_int_equal(c.queue_bytes, 16 * 1024 * 1024);
    assert_int_equal(c.reconnect_min_ms, 200);
    assert_int_equal(c.reconnect_max_ms, 30000);
    syslog_config_free(&c);
}

static void everything_given(void **unused)
{
    (void)unused;
    struct syslog_config c;
    char err[512] = "";
    const char *json = "{\"host\":\"localhost\",\"tls\":{\"ca_file\":\"/ca.pem\",\"server_name\":\"siem.example\","
                       "\"cert_file\":\"/c.pem\",\"key_file\":\"/c.key\"},\"app_name\":\"pg\",\"hostname\":\"gw-1\","
                       "\"facility\":\"local3\",\"utf8_bom\":false,\"queue_limit\":{\"records\":5,\"bytes\":2048},"
                       "\"send_buffer_bytes\":8192,\"reconnect_min_ms\":10,\"reconnect_max_ms\":20,"
                       "\"connect_timeout_ms\":30,"
                       "\"write_timeout_ms\":40,\"flush_timeout_ms\":50}";
    assert_int_equal(syslog_config_parse(json, &c, err, sizeof err), 0);
    assert_int_equal(c.port, 6514); /* the TLS default */
    assert_true(c.tls_enabled);
    assert_string_equal(c.tls.ca_file, "/ca.pem");
    assert_string_equal(c.tls.server_name, "siem.example");
    assert_string_equal(c.tls.cert_file, "/c.pem");
    assert_string_equal(c.tls.key_file, "/c.key");
    assert_string_equal(c.app_name, "pg");
    assert_string_equal(c.hostname, "gw-1");
    assert_int_equal(c.facility, 19);
    assert_false(c.utf8_bom);
    assert_int_equal(c.queue_records, 5);
    assert_int_equal(c.queue_bytes, 2048);
    assert_int_equal(c.send_buffer_bytes, 8192);
    assert_int_equal(c.reconnect_min_ms, 10);
    assert_int_equal(c.reconnect_max_ms, 20);
    assert_int_equal(c.connect_timeout_ms, 30);
    assert_int_equal(c.write_timeout_ms, 40);
    assert_int_equal(c.flush_timeout_ms, 50);
    syslog_config_free(&c);
    assert_int_equal(syslog_config_parse("{\"host\":\"::1\",\"port\":514,\"facility\":23}", &c, err, sizeof err), 0);
    assert_int_equal(c.port, 514);
    assert_int_equal(c.facility, 23);
    syslog_config_free(&c);
}

static void refused(const char *json, const char *reason)
{
    struct syslog_config c;
    char err[512] = "";
    assert_int_equal(syslog_config_parse(json, &c, err, sizeof err), -1);
    if (!strstr(err, reason))
        fail_msg("for %s: error \"%s\" does not say \"%s\"", json, err, reason);
    assert_null(c.host); /* nothing left to free */
}

static void bad_configs_are_refused_with_the_reason(void **unused)
{
    (void)unused;
    refused("", "not JSON");
    refused("{\"host\":", "not JSON");
    refused("[]", "must be an object");
    refused("{}", "host is required");
    refused("{\"port\":514}", "host is required");
    refused("{\"host\":\"\"}", "host must not be empty");
    refused("{\"host\":7}", "host must be a string");
    refused("{\"host\":\"a b\"}", "host must be a name or an IP address");
    refused("{\"host\":\"h\",\"host\":\"i\"}", "host is given twice");
    refused("{\"host\":\"h\",\"hots\":1}", "hots is not a known key");
    refused("{\"host\":\"h\",\"port\":0}", "port must be from 1 to 65535");
    refused("{\"host\":\"h\",\"port\":65536}", "port must be from 1 to 65535");
    refused("{\"host\":\"h\",\"port\":\"514\"}", "port must be an integer");
    refused("{\"host\":\"h\",\"port\":51.4}", "port must be an integer");
    refused("{\"host\":\"h\",\"tls\":true}", "tls must be an object");
    refused("{\"host\":\"h\",\"tls\":{}}", "tls.ca_file is required");
    refused("{\"host\":\"h\",\"tls\":{\"ca_file\":\"x\",\"cafile\":\"y\"}}", "tls.cafile is not a known key");
    refused("{\"host\":\"h\",\"tls\":{\"ca_file\":\"x\",\"cert_file\":\"y\"}}", "go together");
    refused("{\"host\":\"h\",\"tls\":{\"ca_file\":\"x\",\"key_file\":\"y\"}}", "go together");
    refused("{\"host\":\"h\",\"tls\":{\"ca_file\":\"x\",\"server_name\":\"a b\"}}", "tls.server_name must be");
    refused("{\"host\":\"h\",\"app_name\":\"a b\"}", "app_name must be 1 to 48");
    refused("{\"host\":\"h\",\"app_name\":\"0123456789012345678901234567890123456789012345678\"}",
            "app_name must be 1 to 48");
    refused("{\"host\":\"h\",\"hostname\":\"caf\xc3\xa9\"}", "hostname must be");
    refused("{\"host\":\"h\",\"hostname\":\"a\\nb\"}", "hostname holds a control character");
    refused("{\"host\":\"h\",\"facility\":24}", "facility must be 0 to 23");
    refused("{\"host\":\"h\",\"facility\":\"local8\"}", "facility must be 0 to 23");
    refused("{\"host\":\"h\",\"utf8_bom\":1}", "utf8_bom must be true or false");
    refused("{\"host\":\"h\",\"queue_limit\":100}", "queue_limit must be an object");
    refused("{\"host\":\"h\",\"queue_limit\":{\"records\":0}}", "queue_limit.records must be from 1");
    refused("{\"host\":\"h\",\"queue_limit\":{\"bytes\":10}}", "queue_limit.bytes must be from 1024");
    refused("{\"host\":\"h\",\"queue_limit\":{\"count\":10}}", "queue_limit.count is not a known key");
    refused("{\"host\":\"h\",\"send_buffer_bytes\":100}", "send_buffer_bytes must be from 4096");
    refused("{\"host\":\"h\",\"reconnect_min_ms\":0}", "reconnect_min_ms must be from 1");
    refused("{\"host\":\"h\",\"reconnect_min_ms\":500,\"reconnect_max_ms\":100}", "must not exceed reconnect_max_ms");
    refused("{\"host\":\"h\",\"write_timeout_ms\":-5}", "write_timeout_ms must be from 1");
    refused("{\"host\":\"h\",\"flush_timeout_ms\":99999999999999999999}", "flush_timeout_ms must be an integer");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults),
        cmocka_unit_test(everything_given),
        cmocka_unit_test(bad_configs_are_refused_with_the_reason),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
