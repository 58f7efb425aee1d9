/* Canonical audit records and the chain hash (policy/record.c). The
 * expected bytes and hashes were computed independently (Python's json
 * text written by hand, hashlib). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "policy/record.h"

static void test_canonical_bytes(void **state)
{
    (void)state;
    struct pg_canon c;
    pg_canon_init(&c);
    pg_canon_begin_object(&c, NULL);
    pg_canon_int(&c, "seq", 1);
    pg_canon_string(&c, "prev", "x", 1);
    pg_canon_begin_object(&c, "agent");
    pg_canon_string(&c, "user", "u-1", 3);
    pg_canon_begin_array(&c, "roles");
    pg_canon_string(&c, NULL, "nurse", 5);
    pg_canon_string(&c, NULL, "billing", 7);
    pg_canon_end_array(&c);
    pg_canon_end_object(&c);
    const char note[] = "a\"b\\c\n\x01\xc3\xa9";
    pg_canon_string(&c, "note", note, sizeof note - 1);
    pg_canon_bool(&c, "ok", true);
    pg_canon_null(&c, "none");
    pg_canon_end_object(&c);
    assert_false(c.failed);
    const char *want = "{\"seq\":1,\"prev\":\"x\",\"agent\":{\"user\":\"u-1\",\"roles\":[\"nurse\",\"billing\"]},"
                       "\"note\":\"a\\\"b\\\\c\\n\\u0001\xc3\xa9\",\"ok\":true,\"none\":null}";
    assert_string_equal(c.buf, want);
    char h[PG_HASH_HEX];
    pg_record_hash(c.buf, c.len, h);
    assert_string_equal(h, "0243f86a6432e8453460c259cd9505c1c20ae597ee031f65d0f95dbc38d95c3b");
    pg_canon_free(&c);
}

static void test_genesis_names_the_chain(void **state)
{
    (void)state;
    char a[PG_HASH_HEX], b[PG_HASH_HEX];
    pg_chain_genesis("pod-0/w0", a);
    assert_string_equal(a, "2da9786fbc1b4682b96d41e376edf223cb8b86144c655a52fc3d53fcca3f61dc");
    pg_chain_genesis("pod-0/w1", b);
    assert_string_not_equal(a, b);
}

static void test_too_deep_fails(void **state)
{
    (void)state;
    struct pg_canon c;
    pg_canon_init(&c);
    for (int i = 0; i < 40; i++)
        pg_canon_begin_array(&c, NULL);
    assert_true(c.failed);
    pg_canon_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canonical_bytes),
        cmocka_unit_test(test_genesis_names_the_chain),
        cmocka_unit_test(test_too_deep_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
