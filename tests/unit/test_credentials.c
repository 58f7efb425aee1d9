/* Login request bodies (policy/credentials.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "policy/credentials.h"

static const char JSON[] = "application/json";
static const char FORM[] = "application/x-www-form-urlencoded";

static int parse(const char *ct, const char *body, size_t len, struct pg_login_form *f, const char **why)
{
    return pg_login_form_parse(ct, ct ? strlen(ct) : 0, body, len, f, why);
}

static int parse_str(const char *ct, const char *body, struct pg_login_form *f, const char **why)
{
    return parse(ct, body, strlen(body), f, why);
}

static void test_json(void **state)
{
    (void)state;
    struct pg_login_form f;
    const char *why = NULL;
    const char *body = "{\"username\":\"alice\",\"password\":\"p\\u00e9 \\\"q\\\"\",\"code\":\"123456\","
                       "\"mfa_token\":\"tok\",\"next\":\"/fhir/Patient\",\"user\":\"bob\"}";
    assert_int_equal(parse_str(JSON, body, &f, &why), 0);
    assert_string_equal(f.username, "alice");
    assert_string_equal(f.password, "p\xc3\xa9 \"q\"");
    assert_int_equal(f.password_len, 7);
    assert_string_equal(f.code, "123456");
    assert_string_equal(f.mfa_token, "tok");
    assert_string_equal(f.next, "/fhir/Patient");
    assert_string_equal(f.user, "bob");
    assert_int_equal(f.present, PG_FORM_USERNAME | PG_FORM_PASSWORD | PG_FORM_CODE | PG_FORM_MFA_TOKEN |
                                    PG_FORM_NEXT | PG_FORM_USER);
    pg_login_form_clear(&f);
    assert_int_equal(f.present, 0);
    assert_int_equal(f.password[0], 0);
}

static void test_json_unknown_members_ignored(void **state)
{
    (void)state;
    struct pg_login_form f;
    const char *why = NULL;
    /* Unknown members of any type, nested ones named like known fields,
     * and duplicated unknown members are all ignored. */
    const char *body = "{\"remember\":true,\"n\":1.5,\"x\":null,\"extra\":{\"password\":3,\"username\":[1]},"
                       "\"list\":[\"a\",{\"code\":{}}],\"x\":2,\"deep\":{\"password\":\"p\",\"code\":\"1\"},"
                       "\"username\":\"alice\"}";
    assert_int_equal(parse_str(JSON, body, &f, &why), 0);
    assert_int_equal(f.present, PG_FORM_USERNAME);
    assert_string_equal(f.username, "alice");
    assert_int_equal(parse_str(JSON, "{}", &f, &why), 0);
    assert_int_equal(f.present, 0);
}

static void test_content_types(void **state)
{
    (void)state;
    struct pg_login_form f;
    const char *why = NULL;
    static const char *const json_ok[] = {"application/json", "Application/JSON", "application/json; charset=utf-8",
                                          " application/json ;charset=UTF-8", "application/json;charset=\"utf-8\""};
    for (size_t i = 0; i < sizeof json_ok / sizeof json_ok[0]; i++)
        if (parse_str(json_ok[i], "{\"username\":\"a\"}", &f, &why) != 0 || f.present != PG_FORM_USERNAME)
            fail_msg("refused: %s", json_ok[i]);
    assert_int_equal(parse_str("application/x-www-form-urlencoded;charset=UTF-8", "username=a", &f, &why), 0);
    assert_int_equal(parse_str("APPLICATION/X-WWW-FORM-URLENCODED", "username=a", &f, &why), 0);
    static const char *const bad[] = {"", "text/plain", "application/jsonx", "application/json-seq",
                                      "multipart/form-data; boundary=x", "application/", "json"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why = NULL;
        if (parse_str(bad[i], "{\"username\":\"a\"}", &f, &why) != -1)
            fail_msg("accepted: %s", bad[i]);
        assert_non_null(strstr(why, "unsupported content type"));
    }
    assert_int_equal(parse(NULL, "{}", 2, &f, &why), -1);
    /* ct_len is honoured: the bytes past it are not part of the header. */
    assert_int_equal(pg_login_form_parse("application/jsonXYZ", 16, "{}", 2, &f, &why), 0);
}

static void expect_refused(const char *ct, const char *body, size_t len, const char *reason)
{
    struct pg_login_form f;
    const char *why = NULL;
    if (parse(ct, body, len, &f, &why) != -1)
        fail_msg("accepted: %.*s", (int)len, body);
    if (!why || strcmp(why, reason) != 0)
        fail_msg("%.*s: expected \"%s\", got \"%s\"", (int)len, body, reason, why ? why : "(null)");
    /* A refusal leaves nothing behind, password included. */
    assert_int_equal(f.present, 0);
    assert_int_equal(f.password_len, 0);
    assert_int_equal(f.password[0], 0);
}

#define REFUSED(ct, lit, reason) expect_refused(ct, lit, sizeof(lit) - 1, reason)

static void test_json_errors(void **state)
{
    (void)state;
    REFUSED(JSON, "", "malformed body");
    REFUSED(JSON, "{", "malformed body");
    REFUSED(JSON, "{\"password\":\"secret\"", "malformed body");
    REFUSED(JSON, "{\"password\":\"secret\"} {}", "malformed body");
    REFUSED(JSON, "{\"password\":\"secret\",}", "malformed body");
    REFUSED(JSON, "{'password':'secret'}", "malformed body");
    REFUSED(JSON, "{\"password\":\"\xff\xfe\"}", "malformed body"); /* not UTF-8 */
    REFUSED(JSON, "[\"password\"]", "malformed body: not a JSON object");
    REFUSED(JSON, "\"password\"", "malformed body: not a JSON object");
    REFUSED(JSON, "42", "malformed body: not a JSON object");
    REFUSED(JSON, "null", "malformed body: not a JSON object");
    REFUSED(JSON, "{\"password\":12345678}", "a field is not a string");
    REFUSED(JSON, "{\"code\":123456}", "a field is not a string");
    REFUSED(JSON, "{\"username\":null}", "a field is not a string");
    REFUSED(JSON, "{\"username\":true}", "a field is not a string");
    REFUSED(JSON, "{\"username\":[\"a\"]}", "a field is not a string");
    REFUSED(JSON, "{\"username\":{\"a\":\"b\"}}", "a field is not a string");
    REFUSED(JSON, "{\"username\":\"a\",\"username\":\"a\"}", "a field is given twice");
    REFUSED(JSON, "{\"password\":\"a\",\"x\":1,\"password\":\"b\"}", "a field is given twice");
    REFUSED(JSON, "{\"password\":\"ab\\u0000cd\"}", "a field contains a NUL byte");
    REFUSED(JSON, "{\"username\":\"\\u0000\"}", "a field contains a NUL byte");
}

static void test_form(void **state)
{
    (void)state;
    struct pg_login_form f;
    const char *why = NULL;
    const char *body = "username=alice%40example.org&password=a+b%2Bc%25d%26e%3Df&code=123456"
                       "&mfa_token=t&next=%2Ffhir%2FPatient%2F1%3Fx%3Dy&user=bob";
    assert_int_equal(parse_str(FORM, body, &f, &why), 0);
    assert_string_equal(f.username, "alice@example.org");
    assert_string_equal(f.password, "a b+c%d&e=f");
    assert_int_equal(f.password_len, 11);
    assert_string_equal(f.code, "123456");
    assert_string_equal(f.mfa_token, "t");
    assert_string_equal(f.next, "/fhir/Patient/1?x=y");
    assert_string_equal(f.user, "bob");
    /* Names are decoded too; high bytes pass; empty pairs and unknown
     * names are skipped; a bare name is an empty value. */
    body = "&&us%65r+x=1&user%6eame=%C3%A9%e9&remember&&password=&";
    assert_int_equal(parse_str(FORM, body, &f, &why), 0);
    assert_string_equal(f.username, "\xc3\xa9\xe9");
    assert_int_equal(f.present, PG_FORM_USERNAME | PG_FORM_PASSWORD);
    assert_int_equal(f.password_len, 0);
    assert_int_equal(parse_str(FORM, "code", &f, &why), 0);
    assert_int_equal(f.present, PG_FORM_CODE);
    assert_string_equal(f.code, "");
    assert_int_equal(parse(FORM, NULL, 0, &f, &why), 0);
    assert_int_equal(f.present, 0);
    /* '=' after the first belongs to the value. */
    assert_int_equal(parse_str(FORM, "password=a=b==", &f, &why), 0);
    assert_string_equal(f.password, "a=b==");
}

static void test_form_errors(void **state)
{
    (void)state;
    REFUSED(FORM, "password=%", "invalid percent escape");
    REFUSED(FORM, "password=abc%4", "invalid percent escape");
    REFUSED(FORM, "password=%zz", "invalid percent escape");
    REFUSED(FORM, "password=%-1", "invalid percent escape");
    REFUSED(FORM, "username=a&other=%g0", "invalid percent escape"); /* even in an unknown field */
    REFUSED(FORM, "pass%word=x", "invalid percent escape");
    REFUSED(FORM, "password=ab%00cd", "a field contains a NUL byte");
    REFUSED(FORM, "password=ab\0cd", "a field contains a NUL byte");
    REFUSED(FORM, "username=a&username=a", "a field is given twice");
    REFUSED(FORM, "username=a&user%6Eame=b", "a field is given twice");
    REFUSED(FORM, "code=1&code", "a field is given twice");
    REFUSED(JSON, "password=x", "malformed body");
}

static void test_long_fields(void **state)
{
    (void)state;
    struct pg_login_form f;
    const char *why = NULL;
    static const struct {
        const char *name;
        size_t max;
    } limits[] = {{"username", 255}, {"password", 1024}, {"code", 15},
                  {"mfa_token", 127}, {"next", 511},     {"user", 255}};
    char body[4096];
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        for (int json = 0; json < 2; json++) {
            for (size_t extra = 0; extra < 2; extra++) {
                size_t n = limits[i].max + extra;
                int off = json ? snprintf(body, sizeof body, "{\"%s\":\"", limits[i].name)
                               : snprintf(body, sizeof body, "%s=", limits[i].name);
                memset(body + off, 'x', n);
                size_t len = (size_t)off + n;
                if (json)
                    memcpy(body + len, "\"}", 2), len += 2;
                int rc = parse(json ? JSON : FORM, body, len, &f, &why);
                if (extra == 0 && (rc != 0 || f.present == 0))
                    fail_msg("%s of %zu refused (%s)", limits[i].name, n, json ? "json" : "form");
                if (extra == 1 && (rc != -1 || strcmp(why, "a field is too long") != 0))
                    fail_msg("%s of %zu accepted (%s)", limits[i].name, n, json ? "json" : "form");
            }
        }
    }
    /* The limit is on decoded bytes: 1024 escaped bytes fit in a password. */
    size_t off = (size_t)snprintf(body, sizeof body, "password=");
    for (size_t i = 0; i < 1024; i++)
        memcpy(body + off + 3 * i, "%41", 3);
    assert_int_equal(parse(FORM, body, off + 3 * 1024, &f, &why), 0);
    assert_int_equal(f.password_len, 1024);
    assert_int_equal(f.password[1023], 'A');
    assert_int_equal(f.password[1024], 0);
}

static void test_why_never_quotes_the_password(void **state)
{
    (void)state;
    struct pg_login_form f;
    const char *why = NULL;
    static const char *const bodies[] = {"{\"password\":\"hunter2hunter2\",\"password\":\"hunter2hunter2\"}",
                                         "{\"password\":\"hunter2hunter2\"", "password=hunter2hunter2%zz"};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        assert_int_equal(parse_str(i == 2 ? FORM : JSON, bodies[i], &f, &why), -1);
        assert_null(strstr(why, "hunter2"));
    }
}

static void test_next_safety(void **state)
{
    (void)state;
    static const char *const ok[] = {"/", "/fhir/Patient/1?x=y", "/a//b", "/login?next=https://x", "/%2F/evil.com"};
    static const char *const bad[] = {"//evil.com", "/\\evil", "https://x", "javascript:alert(1)", "", "evil.com",
                                      "\\\\evil", "/a\\b", "/\t/evil.com", "/a\r\nSet-Cookie: x=y", "/\x7f",
                                      "/caf\xc3\xa9", " /x", "///evil.com"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (!pg_login_next_safe(ok[i]))
            fail_msg("refused: %s", ok[i]);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (pg_login_next_safe(bad[i]))
            fail_msg("accepted: %s", bad[i]);
    assert_false(pg_login_next_safe(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_json_unknown_members_ignored),
        cmocka_unit_test(test_content_types),
        cmocka_unit_test(test_json_errors),
        cmocka_unit_test(test_form),
        cmocka_unit_test(test_form_errors),
        cmocka_unit_test(test_long_fields),
        cmocka_unit_test(test_why_never_quotes_the_password),
        cmocka_unit_test(test_next_safety),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
