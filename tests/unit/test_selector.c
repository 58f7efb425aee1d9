/* PHI field selectors (policy/selector.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"
#include "policy/selector.h"

static bool matches(const char *sel, const char *const *path)
{
    struct pg_sel_step *steps;
    int n;
    char why[128];
    assert_int_equal(pg_selector_compile(sel, &steps, &n, why, sizeof why), 0);
    struct pg_json_level lv[16];
    int depth = 0;
    for (; path[depth]; depth++) {
        lv[depth].key = strcmp(path[depth], "#") ? path[depth] : NULL; /* "#" = an array index */
        lv[depth].key_len = lv[depth].key ? strlen(path[depth]) : 0;
    }
    bool m = pg_selector_match(steps, n, lv, depth);
    pg_selector_free(steps, n);
    return m;
}

#define PATH(...) ((const char *const[]){__VA_ARGS__, NULL})

static void test_match(void **state)
{
    (void)state;
    assert_true(matches("$.birthDate", PATH("birthDate")));
    assert_false(matches("$.birthDate", PATH("name", "birthDate")));
    assert_true(matches("$.identifier[*].value", PATH("identifier", "#", "value")));
    assert_false(matches("$.identifier[*].value", PATH("identifier", "value")));
    assert_true(matches("$..family", PATH("entry", "#", "resource", "name", "#", "family")));
    assert_true(matches("$..family", PATH("family")));
    assert_false(matches("$..family", PATH("family", "x")));
    assert_true(matches("$.entry[*]..value", PATH("entry", "#", "resource", "telecom", "#", "value")));
    assert_true(matches("$.name[*].given[*]", PATH("name", "#", "given", "#")));
}

static void test_compile_errors(void **state)
{
    (void)state;
    static const char *const bad[] = {"name", "$", "$.", "$..", "$.a[0]", "$.a b", "$[*]", "$.a.[*]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct pg_sel_step *steps;
        int n;
        char why[128];
        if (pg_selector_compile(bad[i], &steps, &n, why, sizeof why) == 0)
            fail_msg("'%s' compiled", bad[i]);
    }
}

static void test_logical_path(void **state)
{
    (void)state;
    struct pg_sel_step *steps;
    int n;
    char why[128];
    assert_int_equal(pg_selector_compile("$.identifier[*].value", &steps, &n, why, sizeof why), 0);
    char *lp = pg_selector_logical_path("Patient", steps, n);
    assert_string_equal(lp, "Patient.identifier.value");
    free(lp);
    pg_selector_free(steps, n);
    assert_int_equal(pg_selector_compile("$..family", &steps, &n, why, sizeof why), 0);
    lp = pg_selector_logical_path("Bundle", steps, n);
    assert_string_equal(lp, "Bundle.**.family");
    free(lp);
    pg_selector_free(steps, n);
}

/* The cursor the rewriter walks a body with: the field at each position,
 * whether anything can match below, and that a key no step waits for (by
 * its length or its bytes, 63 bytes or more included) leads nowhere. */
static void test_cursor(void **state)
{
    (void)state;
    static char long_key[71];
    memset(long_key, 'k', 70);
    char long_sel[80];
    snprintf(long_sel, sizeof long_sel, "$.%s", long_key);
    const char *sels[] = {"$.name[*].family", "$..text", long_sel};
    struct pg_phi_field f[3] = {{0}};
    char why[128];
    for (int i = 0; i < 3; i++)
        assert_int_equal(pg_selector_compile(sels[i], &f[i].steps, &f[i].nsteps, why, sizeof why), 0);
    bool failed = false;
    struct pg_sel_set *set = pg_sel_set_new(f, 3, &failed);
    assert_non_null(set);
    struct pg_sel_cursor c;
    pg_sel_cursor_init(&c, set);
    assert_true(pg_sel_cursor_live(&c));
    assert_int_equal(pg_sel_cursor_field(&c), -1);
    /* name[0].family: field 0; name[0].given: nothing, but text below still could. */
    assert_int_equal(pg_sel_cursor_push(&c, "name", 4), 0);
    assert_int_equal(pg_sel_cursor_push(&c, NULL, 0), 0);
    assert_int_equal(pg_sel_cursor_push(&c, "family", 6), 0);
    assert_int_equal(pg_sel_cursor_field(&c), 0);
    pg_sel_cursor_pop(&c);
    assert_int_equal(pg_sel_cursor_push(&c, "famil_", 6), 0); /* the length, not the bytes */
    assert_int_equal(pg_sel_cursor_field(&c), -1);
    pg_sel_cursor_pop(&c);
    assert_int_equal(pg_sel_cursor_push(&c, "given", 5), 0);
    assert_true(pg_sel_cursor_live(&c)); /* $..text */
    assert_int_equal(pg_sel_cursor_push(&c, "text", 4), 0);
    assert_int_equal(pg_sel_cursor_field(&c), 1);
    pg_sel_cursor_pop(&c);
    pg_sel_cursor_pop(&c);
    pg_sel_cursor_pop(&c);
    pg_sel_cursor_pop(&c);
    /* 70-byte keys: only the one the selector names. */
    long_key[69] = 'x';
    assert_int_equal(pg_sel_cursor_push(&c, long_key, 70), 0);
    assert_int_equal(pg_sel_cursor_field(&c), -1);
    pg_sel_cursor_pop(&c);
    long_key[69] = 'k';
    assert_int_equal(pg_sel_cursor_push(&c, long_key, 64), 0);
    assert_int_equal(pg_sel_cursor_field(&c), -1);
    pg_sel_cursor_pop(&c);
    assert_int_equal(pg_sel_cursor_push(&c, long_key, 70), 0);
    assert_int_equal(pg_sel_cursor_field(&c), 2);
    pg_sel_cursor_pop(&c);
    assert_int_equal(pg_sel_cursor_field(&c), -1);
    pg_sel_set_free(set);
    /* Without '..', a key no step names enters a subtree nothing reaches. */
    set = pg_sel_set_new(f, 1, &failed);
    pg_sel_cursor_init(&c, set);
    assert_int_equal(pg_sel_cursor_push(&c, "text", 4), 0);
    assert_false(pg_sel_cursor_live(&c));
    for (int i = 0; i < 2 * PG_SEL_MAX_DEPTH; i++) /* never too deep there */
        assert_int_equal(pg_sel_cursor_push(&c, NULL, 0), 0);
    pg_sel_set_free(set);
    /* With '..', the cursor tracks every level, up to its limit. */
    set = pg_sel_set_new(f + 1, 1, &failed);
    pg_sel_cursor_init(&c, set);
    int rc = 0;
    for (int i = 0; i <= PG_SEL_MAX_DEPTH && rc == 0; i++)
        rc = pg_sel_cursor_push(&c, "a", 1);
    assert_int_equal(rc, -1);
    pg_sel_set_free(set);
    for (int i = 0; i < 3; i++)
        pg_selector_free(f[i].steps, f[i].nsteps);
}

/* Every field selecting a position, in file order, when several overlap
 * (a plugin's beside the policy's); the first is pg_sel_cursor_field's. */
static void test_cursor_fields(void **state)
{
    (void)state;
    const char *sels[] = {"$.note", "$..note", "$.items[*].code", "$.note"};
    struct pg_phi_field f[4];
    memset(f, 0, sizeof f);
    char why[128];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pg_selector_compile(sels[i], &f[i].steps, &f[i].nsteps, why, sizeof why), 0);
    bool failed = false;
    struct pg_sel_set *set = pg_sel_set_new(f, 4, &failed);
    assert_non_null(set);
    struct pg_sel_cursor c;
    pg_sel_cursor_init(&c, set);
    int out[4];
    assert_int_equal(pg_sel_cursor_push(&c, "note", 4), 0);
    assert_int_equal(pg_sel_cursor_fields(&c, out, 4), 3);
    assert_int_equal(out[0], 0);
    assert_int_equal(out[1], 1);
    assert_int_equal(out[2], 3);
    assert_int_equal(pg_sel_cursor_field(&c), 0);
    assert_int_equal(pg_sel_cursor_fields(&c, out, 1), 3); /* the count, whatever the room */
    assert_int_equal(out[0], 0);
    pg_sel_cursor_pop(&c);
    assert_int_equal(pg_sel_cursor_push(&c, "items", 5), 0);
    assert_int_equal(pg_sel_cursor_fields(&c, out, 4), 0);
    assert_int_equal(pg_sel_cursor_push(&c, NULL, 0), 0);
    assert_int_equal(pg_sel_cursor_push(&c, "code", 4), 0);
    assert_int_equal(pg_sel_cursor_fields(&c, out, 4), 1);
    assert_int_equal(out[0], 2);
    assert_int_equal(pg_sel_cursor_push(&c, "note", 4), 0); /* ..note below items[*].code */
    assert_int_equal(pg_sel_cursor_fields(&c, out, 4), 1);
    assert_int_equal(out[0], 1);
    pg_sel_cursor_init(&c, NULL);
    assert_int_equal(pg_sel_cursor_fields(&c, out, 4), 0);
    pg_sel_set_free(set);
    for (int i = 0; i < 4; i++)
        pg_selector_free(f[i].steps, f[i].nsteps);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_compile_errors),
        cmocka_unit_test(test_logical_path),
        cmocka_unit_test(test_cursor),
        cmocka_unit_test(test_cursor_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
