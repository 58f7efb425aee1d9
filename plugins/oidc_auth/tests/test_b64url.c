#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "b64url.h"

static long dec(const char *s, unsigned char *out)
{
    return oidc_b64url_decode(s, strlen(s), out, 64);
}

static void decodes_every_length(void **state)
{
    (void)state;
    unsigned char out[64];
    assert_int_equal(dec("", out), 0);
    assert_int_equal(dec("Zg", out), 1);
    assert_memory_equal(out, "f", 1);
    assert_int_equal(dec("Zm8", out), 2);
    assert_memory_equal(out, "fo", 2);
    assert_int_equal(dec("Zm9v", out), 3);
    assert_memory_equal(out, "foo", 3);
    assert_int_equal(dec("Zm9vYmFy", out), 6);
    assert_memory_equal(out, "foobar", 6);
    assert_int_equal(dec("-_8", out), 2); /* the url alphabet: 0xfb 0xff */
    assert_int_equal(out[0], 0xfb);
    assert_int_equal(out[1], 0xff);
}

static void refuses_what_is_not_strict(void **state)
{
    (void)state;
    unsigned char out[64];
    assert_int_equal(dec("Zg==", out), -1);   /* padding */
    assert_int_equal(dec("Z", out), -1);      /* 1 mod 4 */
    assert_int_equal(dec("+/8", out), -1);    /* the standard alphabet */
    assert_int_equal(dec("Zm 9v", out), -1);  /* space */
    assert_int_equal(dec("Zh", out), -1);     /* unused bits set: decodes to "f" too */
    assert_int_equal(dec("Zm9", out), -1);    /* same, for a 2-byte tail */
    assert_int_equal(oidc_b64url_decode("Zm9vYmFy", 8, out, 5), -1); /* no room */
}

static void alphabet(void **state)
{
    (void)state;
    assert_true(oidc_b64url_is_alphabet("AZaz09-_", 8));
    assert_false(oidc_b64url_is_alphabet("a.b", 3));
    assert_false(oidc_b64url_is_alphabet("a=", 2));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decodes_every_length),
        cmocka_unit_test(refuses_what_is_not_strict),
        cmocka_unit_test(alphabet),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
