/* syslog_format.c: golden frames, SD-PARAM escaping, what the header takes
 * from a record. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "syslog_format.h"

static const char rest_record[] =
    "{\"seq\":42,\"writer\":\"pod-0/w1\",\"prev\":\"" /* 64 a's */
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    "\",\"time\":\"2026-11-23T05:30:53.796567Z\",\"type\":\"rest\",\"subtype\":\"read\",\"action\":\"R\","
    "\"outcome\":0,\"agent\":{\"user\":\"u-1\"}}";

static const char login_record[] =
    "{\"seq\":7,\"writer\":\"pod-0/w0\",\"prev\":\""
    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
    "\",\"time\":\"2026-11-23T05:30:54.000001Z\",\"type\":\"login\",\"action\":\"E\",\"outcome\":4,"
    "\"agent\":{\"username\":\"Zo\xc3\xab\"}}";

static char *frame_of(const struct syslog_origin *o, const char *chain, uint64_t seq, const char *record,
                      size_t *len)
{
    struct syslog_record_info info;
    syslog_record_info(record, &info);
    char *out = NULL;
    assert_int_equal(syslog_frame(o, &info, chain, seq, record, strlen(record), &out, len), 0);
    return out;
}

static void golden_frame_of_a_data_access(void **unused)
{
    (void)unused;
    struct syslog_origin o = {.facility = 10, .hostname = "gw-1", .app_name = "phiguard", .procid = "4242",
                              .utf8_bom = true};
    size_t len;
    char *f = frame_of(&o, "pod-0/w1", 42, rest_record, &len);
    const char *head = "<86>1 2026-11-23T05:30:53.796567Z gw-1 phiguard 4242 rest "
                       "[phiguard@32473 chain=\"pod-0/w1\" seq=\"42\"] \xEF\xBB\xBF";
    size_t msg_len = strlen(head) + strlen(rest_record);
    char want[1024];
    int n = snprintf(want, sizeof want, "%zu %s%s", msg_len, head, rest_record);
    assert_int_equal(len, (size_t)n);
    assert_memory_equal(f, want, len);
    free(f);
}

static void golden_frame_of_a_security_event_without_bom(void **unused)
{
    (void)unused;
    struct syslog_origin o = {.facility = 16, .hostname = "-", .app_name = "pg", .procid = "1", .utf8_bom = false};
    size_t len;
    char *f = frame_of(&o, "pod-0/w0", 7, login_record, &len);
    /* local0 (16) * 8 + notice (5) = 133 */
    char want[1024];
    const char *head = "<133>1 2026-11-23T05:30:54.000001Z - pg 1 login [phiguard@32473 chain=\"pod-0/w0\" seq=\"7\"] ";
    int n = snprintf(want, sizeof want, "%zu %s%s", strlen(head) + strlen(login_record), head, login_record);
    assert_int_equal(len, (size_t)n);
    assert_memory_equal(f, want, len);
    free(f);
}

static void record_that_does_not_parse_gets_nilvalues(void **unused)
{
    (void)unused;
    struct syslog_origin o = {.facility = 10, .hostname = "h", .app_name = "a", .procid = "9", .utf8_bom = false};
    size_t len;
    char *f = frame_of(&o, "c", 1, "{not json", &len);
    const char want[] = "60 <86>1 - h a 9 - [phiguard@32473 chain=\"c\" seq=\"1\"] {not json";
    assert_int_equal(len, strlen(want));
    assert_memory_equal(f, want, len);
    free(f);
}

static void header_refuses_what_rfc5424_does_not_allow(void **unused)
{
    (void)unused;
    struct syslog_record_info info;
    /* A time of another shape, a type with a space, a type too long. */
    syslog_record_info("{\"time\":\"2026-11-23 05:30:53Z\",\"type\":\"a b\",\"action\":\"E\"}", &info);
    assert_string_equal(info.timestamp, "");
    assert_string_equal(info.msgid, "");
    assert_int_equal(info.severity, SYSLOG_SEV_NOTICE);
    syslog_record_info("{\"type\":\"abcdefghijklmnopqrstuvwxyz0123456\",\"action\":\"R\"}", &info);
    assert_string_equal(info.msgid, "");
    assert_int_equal(info.severity, SYSLOG_SEV_INFO);
    syslog_record_info("{\"type\":\"abcdefghijklmnopqrstuvwxyz012345\",\"time\":7}", &info);
    assert_string_equal(info.msgid, "abcdefghijklmnopqrstuvwxyz012345");
    assert_string_equal(info.timestamp, "");
    syslog_record_info("[1,2]", &info);
    assert_string_equal(info.msgid, "");
    assert_int_equal(info.severity, SYSLOG_SEV_INFO);
}

static void sd_values_are_escaped(void **unused)
{
    (void)unused;
    char out[64];
    const char in[] = "a\"b\\c]d=e[f";
    size_t n = syslog_sd_escape(in, strlen(in), out);
    assert_int_equal(n, strlen("a\\\"b\\\\c\\]d=e[f"));
    assert_memory_equal(out, "a\\\"b\\\\c\\]d=e[f", n);
    assert_int_equal(syslog_sd_escape("", 0, out), 0);
}

static void chain_with_special_characters_is_escaped_in_the_frame(void **unused)
{
    (void)unused;
    struct syslog_origin o = {.facility = 0, .hostname = "h", .app_name = "a", .procid = "9", .utf8_bom = false};
    size_t len;
    char *f = frame_of(&o, "x\"]\\", 3, "{}", &len);
    const char want[] = "58 <6>1 - h a 9 - [phiguard@32473 chain=\"x\\\"\\]\\\\\" seq=\"3\"] {}";
    assert_int_equal(len, strlen(want));
    assert_memory_equal(f, want, len);
    free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(golden_frame_of_a_data_access),
        cmocka_unit_test(golden_frame_of_a_security_event_without_bom),
        cmocka_unit_test(record_that_does_not_parse_gets_nilvalues),
        cmocka_unit_test(header_refuses_what_rfc5424_does_not_allow),
        cmocka_unit_test(sd_values_are_escaped),
        cmocka_unit_test(chain_with_special_characters_is_escaped_in_the_frame),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
