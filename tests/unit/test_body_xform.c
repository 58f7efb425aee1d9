/* A JSON body rewritten in passing (proxy/body_xform.c): zlib decoding,
 * the decoded-size limit, HTTP chunk framing, and refusals with their
 * answers (the rewriter's own cases, a byte order mark among them, are
 * test_rewrite.c's). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "policy/selector.h"
#include "proxy/body_xform.h"

struct fixture {
    struct pg_phi_field field;
    struct pg_sel_set *set;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    char why[100];
    assert_int_equal(pg_selector_compile("$.name[*].family", &f->field.steps, &f->field.nsteps, why, sizeof why), 0);
    f->field.logical_path = "Patient.name.family";
    bool failed;
    f->set = pg_sel_set_new(&f->field, 1, &failed);
    assert_non_null(f->set);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    pg_sel_set_free(f->set);
    pg_selector_free(f->field.steps, f->field.nsteps);
    free(f);
    return 0;
}

/* Replaces each selected value with "X"; refuses "stop". */
static enum pg_rw_action x_out(void *arg, const struct pg_rw_value *v, struct pg_rw_token *out)
{
    (void)arg;
    if (v->len == 4 && !memcmp(v->data, "stop", 4))
        return PG_RW_FAIL;
    out->type = 's';
    out->data[0] = 'X';
    out->len = 1;
    return PG_RW_REPLACE;
}

static struct pg_body_xform *xform(struct fixture *f, enum pg_body_coding c, uint64_t max)
{
    struct pg_rw_options opt = {0};
    struct pg_body_xform *x = pg_body_xform_new(f->set, &opt, x_out, NULL, c, max);
    assert_non_null(x);
    return x;
}

/* Feeds data in pieces of step bytes; returns the output as a string (the
 * caller frees it), or NULL when the body was refused. */
static char *run(struct pg_body_xform *x, const void *data, size_t len, size_t step, bool chunk)
{
    struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
    int rc = 0;
    for (size_t at = 0; at < len && rc == 0; at += step) {
        size_t n = len - at < step ? len - at : step;
        evbuffer_add(in, (const char *)data + at, n);
        rc = pg_body_xform_feed(x, in, n, out, chunk);
        assert_int_equal(evbuffer_get_length(in), 0); /* taken even when refused */
    }
    if (rc == 0)
        rc = pg_body_xform_finish(x, out, chunk);
    char *s = NULL;
    if (rc == 0) {
        size_t n = evbuffer_get_length(out);
        s = malloc(n + 1);
        evbuffer_remove(out, s, n);
        s[n] = '\0';
    }
    evbuffer_free(in);
    evbuffer_free(out);
    return s;
}

static const char DOC[] = "{\"name\":[{\"family\":\"Doe\",\"given\":[\"Jane\"]}],\"id\":7}";
static const char WANT[] = "{\"name\":[{\"family\":\"X\",\"given\":[\"Jane\"]}],\"id\":7}";

static void test_identity_in_any_pieces(void **state)
{
    for (size_t step = 1; step <= sizeof DOC; step += 3) {
        struct pg_body_xform *x = xform(*state, PG_CODING_IDENTITY, 1 << 20);
        char *s = run(x, DOC, sizeof DOC - 1, step, false);
        assert_string_equal(s, WANT);
        assert_int_equal(pg_body_xform_decoded(x), sizeof DOC - 1);
        free(s);
        pg_body_xform_free(x);
    }
}

static size_t compress_as(int window_bits, const char *in, size_t len, unsigned char *out, size_t cap)
{
    z_stream z = {0};
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = (unsigned char *)in;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t n = cap - z.avail_out;
    deflateEnd(&z);
    return n;
}

static void test_gzip_deflate_and_members(void **state)
{
    unsigned char gz[512], zl[512], two[1024];
    size_t ng = compress_as(16 + MAX_WBITS, DOC, sizeof DOC - 1, gz, sizeof gz);
    size_t nz = compress_as(MAX_WBITS, DOC, sizeof DOC - 1, zl, sizeof zl);
    for (size_t step = 1; step <= 64; step *= 4) {
        struct pg_body_xform *x = xform(*state, PG_CODING_GZIP, 1 << 20);
        char *s = run(x, gz, ng, step, false);
        assert_string_equal(s, WANT);
        free(s);
        pg_body_xform_free(x);
        x = xform(*state, PG_CODING_DEFLATE, 1 << 20);
        s = run(x, zl, nz, step, false);
        assert_string_equal(s, WANT);
        free(s);
        pg_body_xform_free(x);
    }
    /* Two gzip members are one body: here a document split across them. */
    size_t half = 20;
    size_t n1 = compress_as(16 + MAX_WBITS, DOC, half, two, sizeof two);
    size_t n2 = compress_as(16 + MAX_WBITS, DOC + half, sizeof DOC - 1 - half, two + n1, sizeof two - n1);
    struct pg_body_xform *x = xform(*state, PG_CODING_GZIP, 1 << 20);
    char *s = run(x, two, n1 + n2, 7, false);
    assert_string_equal(s, WANT);
    free(s);
    pg_body_xform_free(x);
}

static void test_refusals(void **state)
{
    struct {
        enum pg_body_coding coding;
        const char *data;
        size_t len;
        uint64_t max;
        int status;
        const char *code;
    } cases[] = {
        {PG_CODING_IDENTITY, "{\"name\":[", 9, 1 << 20, 400, "invalid_json"},
        {PG_CODING_IDENTITY, DOC, sizeof DOC - 1, 10, 413, "payload_too_large"},
        {PG_CODING_GZIP, "\x1f\x8b\x08\x00garbage-garbage", 19, 1 << 20, 400, "bad_content_encoding"},
        {PG_CODING_IDENTITY, "{\"name\":[{\"family\":\"stop\"}]}", 28, 1 << 20, 400, "invalid_json"},
        {PG_CODING_IDENTITY, "\xef\xbb", 2, 1 << 20, 400, "invalid_json"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct pg_body_xform *x = xform(*state, cases[i].coding, cases[i].max);
        assert_null(run(x, cases[i].data, cases[i].len, 5, false));
        assert_int_equal(pg_body_xform_status(x), cases[i].status);
        assert_string_equal(pg_body_xform_code(x), cases[i].code);
        assert_null(strstr(pg_body_xform_reason(x), "stop")); /* never a value */
        pg_body_xform_free(x);
    }
    /* A gzip body cut short; a small one that expands past the limit. */
    unsigned char gz[512];
    size_t ng = compress_as(16 + MAX_WBITS, DOC, sizeof DOC - 1, gz, sizeof gz);
    struct pg_body_xform *x = xform(*state, PG_CODING_GZIP, 1 << 20);
    assert_null(run(x, gz, ng - 6, 4, false));
    assert_string_equal(pg_body_xform_code(x), "bad_content_encoding");
    pg_body_xform_free(x);
    static char big[200000];
    big[0] = '[';
    for (size_t i = 1; i < sizeof big - 1; i++)
        big[i] = ' ';
    big[sizeof big - 1] = ']';
    static unsigned char bomb[8192];
    size_t nb = compress_as(16 + MAX_WBITS, big, sizeof big, bomb, sizeof bomb);
    assert_true(nb < 2000);
    x = xform(*state, PG_CODING_GZIP, 65536);
    assert_null(run(x, bomb, nb, 512, false));
    assert_int_equal(pg_body_xform_status(x), 413);
    pg_body_xform_free(x);
}

static void test_bom_and_empty(void **state)
{
    char with_bom[sizeof DOC + 3] = "\xef\xbb\xbf";
    memcpy(with_bom + 3, DOC, sizeof DOC);
    for (size_t step = 1; step < 5; step++) {
        struct pg_body_xform *x = xform(*state, PG_CODING_IDENTITY, 1 << 20);
        char *s = run(x, with_bom, sizeof with_bom - 1, step, false);
        assert_string_equal(s, WANT);
        free(s);
        pg_body_xform_free(x);
    }
    struct pg_body_xform *x = xform(*state, PG_CODING_IDENTITY, 1 << 20);
    char *s = run(x, "", 0, 1, false);
    assert_string_equal(s, ""); /* no body: nothing to rewrite */
    free(s);
    pg_body_xform_free(x);
}

static void test_chunk_framing(void **state)
{
    struct pg_body_xform *x = xform(*state, PG_CODING_IDENTITY, 1 << 20);
    char *s = run(x, DOC, sizeof DOC - 1, sizeof DOC, true);
    /* One chunk per call that produced output: size line, data, CRLF. */
    char want[256];
    snprintf(want, sizeof want, "%zx\r\n%s\r\n", strlen(WANT), WANT);
    assert_string_equal(s, want);
    free(s);
    pg_body_xform_free(x);
}

static void test_coding_names(void **state)
{
    (void)state;
    assert_int_equal(pg_body_coding_of(NULL, 0), PG_CODING_IDENTITY);
    assert_int_equal(pg_body_coding_of("identity", 8), PG_CODING_IDENTITY);
    assert_int_equal(pg_body_coding_of("GZIP", 4), PG_CODING_GZIP);
    assert_int_equal(pg_body_coding_of("x-gzip", 6), PG_CODING_GZIP);
    assert_int_equal(pg_body_coding_of("deflate", 7), PG_CODING_DEFLATE);
    assert_int_equal(pg_body_coding_of("br", 2), -1);
    assert_int_equal(pg_body_coding_of("gzip, gzip", 10), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_identity_in_any_pieces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gzip_deflate_and_members, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bom_and_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunk_framing, setup, teardown),
        cmocka_unit_test(test_coding_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
