/* Chain hashes (policy/chain.c), checked against values computed
 * independently with Python's hashlib. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "policy/chain.h"

static void test_leaf_hash_is_rfc9162(void **state)
{
    (void)state;
    char h[PG_HASH_HEX];
    /* sha256(b"\x00" + b"abc") */
    pg_chain_leaf_hash("abc", 3, h);
    assert_string_equal(h, "609f6e36d2405585188d5cfd761f407c7cc46a7d3f314c88270469dde315fcd1");
}

/* The reused context gives the same hashes, hash after hash (a reset that
 * kept state from the previous record would show on the second). */
static void test_hasher_reuses_its_context(void **state)
{
    (void)state;
    struct pg_chain_hasher *hs = pg_chain_hasher_new();
    assert_non_null(hs);
    char h[PG_HASH_HEX], want[PG_HASH_HEX];
    for (int i = 0; i < 3; i++) {
        pg_chain_hasher_leaf(hs, "abc", 3, h);
        assert_string_equal(h, "609f6e36d2405585188d5cfd761f407c7cc46a7d3f314c88270469dde315fcd1");
        char text[300];
        memset(text, 'a' + i, sizeof text);
        pg_chain_hasher_leaf(hs, text, sizeof text - (size_t)i, h);
        pg_chain_leaf_hash(text, sizeof text - (size_t)i, want);
        assert_string_equal(h, want);
    }
    pg_chain_hasher_free(hs);
    pg_chain_hasher_free(NULL);
}

static void test_genesis_names_the_chain(void **state)
{
    (void)state;
    char a[PG_HASH_HEX], b[PG_HASH_HEX];
    /* sha256(b"phiguard audit chain genesis v1\x00pod-0/w0") */
    pg_chain_genesis("pod-0/w0", a);
    assert_string_equal(a, "2da9786fbc1b4682b96d41e376edf223cb8b86144c655a52fc3d53fcca3f61dc");
    pg_chain_genesis("pod-0/w1", b);
    assert_string_not_equal(a, b);
    struct pg_chain_tip tip;
    pg_chain_tip_genesis(&tip, "pod-0/w0");
    assert_int_equal(tip.seq, 0);
    assert_string_equal(tip.head, a);
}

static void test_session_hash(void **state)
{
    (void)state;
    char h[PG_HASH_HEX];
    pg_chain_session_hash("sess-abc", h);
    assert_string_equal(h, "33a386c9464a4538527687ee331d081db7d7448137f25db6fd13b1d8d1053a71");
}

static void test_is_hash(void **state)
{
    (void)state;
    assert_true(pg_chain_is_hash("609f6e36d2405585188d5cfd761f407c7cc46a7d3f314c88270469dde315fcd1"));
    assert_false(pg_chain_is_hash("609F6E36d2405585188d5cfd761f407c7cc46a7d3f314c88270469dde315fcd1"));
    assert_false(pg_chain_is_hash("609f6e36d2405585188d5cfd761f407c7cc46a7d3f314c88270469dde315fcd"));
    assert_false(pg_chain_is_hash("609f6e36d2405585188d5cfd761f407c7cc46a7d3f314c88270469dde315fcd10"));
    assert_false(pg_chain_is_hash("609f6e36d2405585188d5cfd761f407c7cc46a7d3f314c88270469dde315fcdg"));
    assert_false(pg_chain_is_hash(""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_leaf_hash_is_rfc9162),
        cmocka_unit_test(test_hasher_reuses_its_context),
        cmocka_unit_test(test_genesis_names_the_chain),
        cmocka_unit_test(test_session_hash),
        cmocka_unit_test(test_is_hash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
