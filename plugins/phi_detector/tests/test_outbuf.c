/* The bounded output buffer (outbuf.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "outbuf.h"

static void test_fills_then_refuses(void **state)
{
    (void)state;
    char buf[8];
    struct pd_out o;
    pd_out_init(&o, buf, sizeof buf);
    pd_out_str(&o, "abc");
    pd_out_put(&o, "defgh", 5);
    assert_false(o.full);
    assert_memory_equal(buf, "abcdefgh", 8);
    pd_out_put(&o, "", 0);
    assert_false(o.full);
    pd_out_put(&o, "i", 1);
    assert_true(o.full);
    assert_int_equal(o.len, 8);
    size_t room;
    pd_out_tail(&o, &room);
    assert_int_equal(room, 0);
}

static void test_tail_and_grew(void **state)
{
    (void)state;
    char buf[8];
    struct pd_out o;
    pd_out_init(&o, buf, sizeof buf);
    pd_out_str(&o, "ab");
    size_t room;
    char *t = pd_out_tail(&o, &room);
    assert_ptr_equal(t, buf + 2);
    assert_int_equal(room, 6);
    memcpy(t, "cd", 2);
    pd_out_grew(&o, 2);
    assert_int_equal(o.len, 4);
    pd_out_grew(&o, 5);
    assert_true(o.full);
    /* Once full, nothing more is written. */
    pd_out_str(&o, "x");
    assert_int_equal(o.len, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fills_then_refuses),
        cmocka_unit_test(test_tail_and_grew),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
