/* Address parsing (proxy/addr.c): every accepted form and each error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "proxy/addr.h"

static void test_ipv4(void **state)
{
    (void)state;
    struct pg_addr a;
    char err[128], ip[64];
    assert_int_equal(pg_addr_parse("127.0.0.1:8443", &a, err, sizeof err), 0);
    const struct sockaddr_in *in = (const struct sockaddr_in *)&a.ss;
    assert_int_equal(in->sin_family, AF_INET);
    assert_int_equal(ntohs(in->sin_port), 8443);
    assert_int_equal(a.len, sizeof(struct sockaddr_in));
    assert_false(a.is_unix);
    assert_string_equal(a.text, "127.0.0.1:8443");
    pg_addr_ip_string((const struct sockaddr *)&a.ss, ip, sizeof ip);
    assert_string_equal(ip, "127.0.0.1");
    assert_int_equal(pg_addr_parse("0.0.0.0:65535", &a, err, sizeof err), 0);
    assert_int_equal(ntohs(((const struct sockaddr_in *)&a.ss)->sin_port), 65535);
}

static void test_ipv6(void **state)
{
    (void)state;
    struct pg_addr a;
    char err[128], ip[64];
    assert_int_equal(pg_addr_parse("[::1]:9090", &a, err, sizeof err), 0);
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&a.ss;
    assert_int_equal(in6->sin6_family, AF_INET6);
    assert_int_equal(ntohs(in6->sin6_port), 9090);
    assert_int_equal(a.len, sizeof(struct sockaddr_in6));
    pg_addr_ip_string((const struct sockaddr *)&a.ss, ip, sizeof ip);
    assert_string_equal(ip, "::1");
    assert_int_equal(pg_addr_parse("[::]:1", &a, err, sizeof err), 0);
}

static void test_localhost_is_resolved_to_ipv4(void **state)
{
    (void)state;
    struct pg_addr a;
    char err[128], ip[64];
    assert_int_equal(pg_addr_parse("localhost:8080", &a, err, sizeof err), 0);
    assert_int_equal(a.ss.ss_family, AF_INET);
    pg_addr_ip_string((const struct sockaddr *)&a.ss, ip, sizeof ip);
    assert_string_equal(ip, "127.0.0.1");
    assert_string_equal(a.text, "localhost:8080");
}

static void test_unix(void **state)
{
    (void)state;
    struct pg_addr a;
    char err[128], ip[64];
    assert_int_equal(pg_addr_parse("unix:/run/app.sock", &a, err, sizeof err), 0);
    const struct sockaddr_un *un = (const struct sockaddr_un *)&a.ss;
    assert_true(a.is_unix);
    assert_int_equal(un->sun_family, AF_UNIX);
    assert_string_equal(un->sun_path, "/run/app.sock");
    assert_int_equal(a.len, offsetof(struct sockaddr_un, sun_path) + strlen("/run/app.sock") + 1);
    pg_addr_ip_string((const struct sockaddr *)&a.ss, ip, sizeof ip);
    assert_string_equal(ip, "unix");

    /* sun_path holds 107 characters and the terminator; one more is refused. */
    char text[160] = "unix:/";
    size_t room = sizeof un->sun_path - 1;
    memset(text + 6, 'a', room - 1);
    text[6 + room - 1] = '\0';
    assert_int_equal(pg_addr_parse(text, &a, err, sizeof err), 0);
    strcat(text, "a");
    assert_int_equal(pg_addr_parse(text, &a, err, sizeof err), -1);
    assert_string_equal(err, "unix socket path too long (108 bytes, at most 107)");
}

struct bad_case {
    const char *text;
    const char *error;
};

static const struct bad_case bad_cases[] = {
    {"", "expected host:port, [v6]:port or unix:/path"},
    {"127.0.0.1", "expected host:port, [v6]:port or unix:/path"},
    {":8080", "expected host:port, [v6]:port or unix:/path"},
    {"::1:8080", "expected host:port, [v6]:port or unix:/path"},
    {"localhost", "expected host:port, [v6]:port or unix:/path"},
    {"127.0.0.1:0", "port must be a number from 1 to 65535"},
    {"127.0.0.1:65536", "port must be a number from 1 to 65535"},
    {"127.0.0.1:", "port must be a number from 1 to 65535"},
    {"127.0.0.1:http", "port must be a number from 1 to 65535"},
    {"127.0.0.1: 80", "port must be a number from 1 to 65535"},
    {"127.0.0.1:+80", "port must be a number from 1 to 65535"},
    {"127.0.0.1:0000080", "port must be a number from 1 to 65535"},
    {"127.1:80", "expected an IPv4 address such as 127.0.0.1"},
    {"256.0.0.1:80", "expected an IPv4 address such as 127.0.0.1"},
    {"[::1]", "expected [v6]:port"},
    {"[::1:80", "expected [v6]:port"},
    {"[]:80", "expected [v6]:port"},
    {"[127.0.0.1]:80", "expected an IPv6 address inside [ ]"},
    {"[localhost]:80", "expected an IPv6 address inside [ ]"},
    {"unix:run/app.sock", "a unix socket path must be absolute (unix:/path)"},
    {"unix:", "a unix socket path must be absolute (unix:/path)"},
};

static void test_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        struct pg_addr a;
        char err[128] = "";
        if (pg_addr_parse(bad_cases[i].text, &a, err, sizeof err) == 0)
            fail_msg("'%s' was accepted", bad_cases[i].text);
        if (strcmp(err, bad_cases[i].error) != 0)
            fail_msg("'%s': got '%s', expected '%s'", bad_cases[i].text, err, bad_cases[i].error);
    }
    struct pg_addr a;
    char err[128];
    assert_int_equal(pg_addr_parse(NULL, &a, err, sizeof err), -1);
}

static void test_ip_string_small_buffer(void **state)
{
    (void)state;
    struct pg_addr a;
    char err[128], ip[4] = "xyz";
    assert_int_equal(pg_addr_parse("10.20.30.40:1", &a, err, sizeof err), 0);
    pg_addr_ip_string((const struct sockaddr *)&a.ss, ip, sizeof ip);
    assert_string_equal(ip, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv4),
        cmocka_unit_test(test_ipv6),
        cmocka_unit_test(test_localhost_is_resolved_to_ipv4),
        cmocka_unit_test(test_unix),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_ip_string_small_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
