/* Strict HTTP/1.1 head parsing and chunked framing (proxy/http1.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "proxy/http1.h"

static const struct pg_http_limits lim = {.max_head_bytes = 4096, .max_headers = 20};

/* Scans then parses a request; returns 0 or the HTTP status it fails with. */
static int request_status(const char *raw, struct pg_http_head *h)
{
    size_t len = strlen(raw);
    long n = pg_http1_scan_head(raw, len, true, &lim);
    if (n < 0)
        return (int)-n;
    if (n == 0)
        return -1; /* incomplete */
    return pg_http1_parse_request(raw, (size_t)n, &lim, h);
}

struct reject_case {
    const char *name;
    const char *raw;
    int status;
};

static const struct reject_case rejects[] = {
    {"CL and TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
    {"two different CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400},
    {"CL list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\n", 400},
    {"CL sign", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\n", 400},
    {"TE gzip", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
    {"TE chunked then gzip", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400},
    {"TE gzip then chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 400},
    {"TE identity", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 400},
    {"TE chunked twice", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
     400},
    {"TE on HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
    {"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", 400},
    {"bare CR", "GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400},
    {"bare LF", "GET / HTTP/1.1\nHost: a\n\n", 400},
    {"bare LF in header", "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", 400},
    {"NUL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\001b\r\n\r\n", 400},
    {"DEL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\177b\r\n\r\n", 400},
    {"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},
    {"tab before colon", "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400},
    {"no colon", "GET / HTTP/1.1\r\nHost a\r\n\r\n", 400},
    {"empty name", "GET / HTTP/1.1\r\n: a\r\nHost: a\r\n\r\n", 400},
    {"two Host", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
    {"no Host on 1.1", "GET / HTTP/1.1\r\nX: a\r\n\r\n", 400},
    {"bad Host", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400},
    {"absolute form", "GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"dot dot", "GET /a/../b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"trailing dot dot", "GET /a/.. HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"dot", "GET /a/./b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"encoded dot dot", "GET /a/%2e%2E/b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"encoded slash", "GET /a%2fb HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"encoded NUL", "GET /a%00 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"backslash", "GET /a\\b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"bad percent", "GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"double space", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"lowercase version", "GET / http/1.1\r\nHost: a\r\n\r\n", 400},
    {"HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
    {"Expect other", "GET / HTTP/1.1\r\nHost: a\r\nExpect: magic\r\n\r\n", 417},
    {"CONNECT", "CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
};

static void test_rejects(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof rejects / sizeof rejects[0]; i++) {
        struct pg_http_head h = {0};
        int st = request_status(rejects[i].raw, &h);
        if (st != rejects[i].status)
            fail_msg("%s: expected %d, got %d", rejects[i].name, rejects[i].status, st);
        pg_http_head_free(&h);
    }
}

static void test_too_many_headers(void **state)
{
    (void)state;
    char raw[4096] = "GET / HTTP/1.1\r\nHost: a\r\n";
    for (int i = 0; i < 25; i++)
        strcat(raw, "X-A: b\r\n");
    strcat(raw, "\r\n");
    struct pg_http_head h = {0};
    assert_int_equal(request_status(raw, &h), 431);
    pg_http_head_free(&h);
}

static void test_head_too_large(void **state)
{
    (void)state;
    char raw[8192];
    memset(raw, 'a', sizeof raw);
    memcpy(raw, "GET / HTTP/1.1\r\nHost: a\r\nX: ", 28);
    assert_int_equal(pg_http1_scan_head(raw, sizeof raw, true, &lim), -431);
}

static void test_incomplete(void **state)
{
    (void)state;
    const char *raw = "GET / HTTP/1.1\r\nHost: a\r\n";
    assert_int_equal(pg_http1_scan_head(raw, strlen(raw), true, &lim), 0);
    assert_int_equal(pg_http1_scan_head(raw, 15, true, &lim), 0);
}

static void test_valid_request(void **state)
{
    (void)state;
    const char *raw = "\r\nPOST /fhir/Patient?x=1 HTTP/1.1\r\nHost: ehr.example:8443\r\nContent-Length: 12\r\n"
                      "X-Empty:\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n"
                      "Expect: 100-continue\r\nX-Pad:  v  \r\n\r\nbody";
    struct pg_http_head h = {0};
    assert_int_equal(request_status(raw, &h), 0);
    assert_string_equal(h.method_name, "POST");
    assert_int_equal(h.target_len, strlen("/fhir/Patient?x=1"));
    assert_int_equal(h.path_len, strlen("/fhir/Patient"));
    assert_int_equal(h.body, PG_BODY_LENGTH);
    assert_int_equal(h.content_length, 12);
    assert_true(h.keep_alive);
    assert_true(h.upgrade);
    assert_true(h.expect_continue);
    assert_int_equal(h.host_len, strlen("ehr.example:8443"));
    struct pg_header *pad = pg_http_find(&h, "x-pad");
    assert_non_null(pad);
    assert_int_equal(pad->value_len, 1);
    assert_memory_equal(pad->value, "v", 1);
    struct pg_header *empty = pg_http_find(&h, "X-EMPTY");
    assert_non_null(empty);
    assert_int_equal(empty->value_len, 0);
    pg_http_head_free(&h);
}

static void test_http10_keepalive(void **state)
{
    (void)state;
    struct pg_http_head h = {0};
    assert_int_equal(request_status("GET / HTTP/1.0\r\n\r\n", &h), 0);
    assert_false(h.keep_alive);
    pg_http_head_free(&h);
    assert_int_equal(request_status("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &h), 0);
    assert_true(h.keep_alive);
    pg_http_head_free(&h);
    assert_int_equal(request_status("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", &h), 0);
    assert_false(h.keep_alive);
    pg_http_head_free(&h);
}

static void test_chunked_request(void **state)
{
    (void)state;
    struct pg_http_head h = {0};
    assert_int_equal(request_status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n", &h), 0);
    assert_int_equal(h.body, PG_BODY_CHUNKED);
    pg_http_head_free(&h);
}

static int response_status(const char *raw, int method, struct pg_http_head *h)
{
    size_t len = strlen(raw);
    long n = pg_http1_scan_head(raw, len, false, &lim);
    if (n <= 0)
        return n == 0 ? -1 : (int)-n;
    return pg_http1_parse_response(raw, (size_t)n, &lim, method, h);
}

static void test_responses(void **state)
{
    (void)state;
    struct pg_http_head h = {0};
    assert_int_equal(response_status("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", 1, &h), 0);
    assert_int_equal(h.body, PG_BODY_LENGTH);
    assert_int_equal(h.status, 200);
    pg_http_head_free(&h);
    assert_int_equal(response_status("HTTP/1.1 200 OK\r\n\r\n", 1, &h), 0);
    assert_int_equal(h.body, PG_BODY_UNTIL_CLOSE);
    assert_false(h.keep_alive);
    pg_http_head_free(&h);
    assert_int_equal(response_status("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", 2 /* HEAD */, &h), 0);
    assert_int_equal(h.body, PG_BODY_NONE);
    pg_http_head_free(&h);
    assert_int_equal(response_status("HTTP/1.1 204\r\n\r\n", 1, &h), 0);
    assert_int_equal(h.body, PG_BODY_NONE);
    pg_http_head_free(&h);
    assert_int_equal(response_status("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 1, &h), 0);
    assert_int_equal(h.body, PG_BODY_CHUNKED);
    pg_http_head_free(&h);
    /* Malformed upstream answers. */
    assert_int_equal(response_status("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 1, &h),
                     400);
    pg_http_head_free(&h);
    assert_int_equal(response_status("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", 1, &h), 400);
    pg_http_head_free(&h);
    assert_int_equal(response_status("HTTP/1.1 2000 OK\r\n\r\n", 1, &h), 400);
    assert_int_equal(response_status("garbage\r\n\r\n", 1, &h), 400);
    assert_int_equal(response_status("HTTP/1.1 200 OK\nX: y\n\n", 1, &h), 400);
}

/* Feeds raw through the chunked decoder; returns the decoded body length
 * in *out_len and the final result. */
static enum pg_chunked_result decode(const char *raw, size_t len, char *out, size_t *out_len)
{
    struct evbuffer *in = evbuffer_new();
    struct pg_chunked d = {0};
    enum pg_chunked_result r = PG_CHUNKED_MORE;
    *out_len = 0;
    /* One byte at a time: every state must cope with partial input. */
    for (size_t i = 0; i < len; i++) {
        evbuffer_add(in, raw + i, 1);
        for (;;) {
            size_t avail = 0;
            r = pg_chunked_next(&d, in, &avail);
            if (r != PG_CHUNKED_DATA)
                break;
            evbuffer_remove(in, out + *out_len, avail);
            *out_len += avail;
            pg_chunked_consumed(&d, avail);
        }
        if (r == PG_CHUNKED_ERROR || r == PG_CHUNKED_DONE)
            break;
    }
    evbuffer_free(in);
    return r;
}

static void test_chunked_decoder(void **state)
{
    (void)state;
    char out[256];
    size_t n;
    const char *ok = "5\r\nhello\r\n6;ext=1;q=\"a b\"\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";
    assert_int_equal(decode(ok, strlen(ok), out, &n), PG_CHUNKED_DONE);
    assert_int_equal(n, 11);
    assert_memory_equal(out, "hello world", 11);

    static const char *const bad[] = {
        "g\r\nx\r\n0\r\n\r\n",                  /* not hex */
        "-1\r\nx\r\n",                          /* sign */
        "1234567890abcdef0\r\n",                /* overflow */
        "5\r\nhelloXX0\r\n\r\n",                /* no CRLF after data */
        "5\nhello\r\n0\r\n\r\n",                /* bare LF */
        "5 \r\nhello\r\n",                      /* space without extension */
        "5;\r\nhello\r\n",                      /* empty extension */
        "0\r\nBad Trailer: x\r\n\r\n",          /* bad trailer */
        "\r\n",                                 /* empty size */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (decode(bad[i], strlen(bad[i]), out, &n) != PG_CHUNKED_ERROR)
            fail_msg("chunked case %zu accepted", i);
    }
}

static void test_list_has(void **state)
{
    (void)state;
    const char *v = "keep-alive, Upgrade ,,close";
    assert_true(pg_http_list_has(v, strlen(v), "upgrade"));
    assert_true(pg_http_list_has(v, strlen(v), "close"));
    assert_false(pg_http_list_has(v, strlen(v), "keep"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rejects),          cmocka_unit_test(test_too_many_headers),
        cmocka_unit_test(test_head_too_large),   cmocka_unit_test(test_incomplete),
        cmocka_unit_test(test_valid_request),    cmocka_unit_test(test_http10_keepalive),
        cmocka_unit_test(test_chunked_request),  cmocka_unit_test(test_responses),
        cmocka_unit_test(test_chunked_decoder),  cmocka_unit_test(test_list_has),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
