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

/* The cursor (a DFA) against the backtracking matcher: random sets of
 * selectors over a small alphabet, every position up to a depth, and at
 * each one the fields the cursor reports are exactly those that match,
 * the first of them is its field, and a level it calls dead has nothing
 * matching anywhere below (checked a few levels down). */
#define KEYS 4
static const char *const alphabet[KEYS] = {"a", "bb", "name", "zz"}; /* "zz": a key no selector names */
#define WALK_DEPTH 5

struct walk {
    struct pg_phi_field *f;
    int nf;
    struct pg_json_level lv[WALK_DEPTH + 1];
    struct pg_sel_cursor c;
    long checked;
};

static bool any_match_below(struct walk *w, int depth, int room)
{
    for (int i = 0; i < w->nf; i++)
        if (pg_selector_match(w->f[i].steps, w->f[i].nsteps, w->lv, depth))
            return true;
    if (room == 0)
        return false;
    for (int k = 0; k <= KEYS; k++) {
        w->lv[depth] = k < KEYS ? (struct pg_json_level){alphabet[k], strlen(alphabet[k])}
                                : (struct pg_json_level){NULL, 0};
        if (any_match_below(w, depth + 1, room - 1))
            return true;
    }
    return false;
}

static void walk_from(struct walk *w, int depth)
{
    int want[16], n = 0;
    for (int i = 0; i < w->nf; i++)
        if (pg_selector_match(w->f[i].steps, w->f[i].nsteps, w->lv, depth))
            want[n++] = i;
    int got[16];
    assert_int_equal(pg_sel_cursor_fields(&w->c, got, 16), n);
    for (int i = 0; i < n; i++)
        assert_int_equal(got[i], want[i]);
    assert_int_equal(pg_sel_cursor_field(&w->c), n ? want[0] : -1);
    w->checked++;
    if (!pg_sel_cursor_live(&w->c) && depth + 3 <= WALK_DEPTH) {
        /* Nothing below matches; the walk goes on only to see the cursor
         * agree there too. */
        int d = depth;
        for (int k = 0; k <= KEYS; k++) {
            w->lv[d] = k < KEYS ? (struct pg_json_level){alphabet[k], strlen(alphabet[k])}
                                : (struct pg_json_level){NULL, 0};
            for (int i = 0; i < w->nf; i++)
                assert_false(pg_selector_match(w->f[i].steps, w->f[i].nsteps, w->lv, d + 1));
        }
    }
    if (depth == WALK_DEPTH)
        return;
    for (int k = 0; k <= KEYS; k++) {
        w->lv[depth] = k < KEYS ? (struct pg_json_level){alphabet[k], strlen(alphabet[k])}
                                : (struct pg_json_level){NULL, 0};
        assert_int_equal(pg_sel_cursor_push(&w->c, w->lv[depth].key, w->lv[depth].key_len), 0);
        walk_from(w, depth + 1);
        pg_sel_cursor_pop(&w->c);
    }
}

static void test_cursor_against_matcher(void **state)
{
    (void)state;
    srand(6);
    long checked = 0;
    for (int round = 0; round < 300; round++) {
        struct pg_phi_field f[5];
        memset(f, 0, sizeof f);
        int nf = 1 + rand() % 5;
        for (int i = 0; i < nf; i++) {
            char text[64] = "$";
            int steps = 1 + rand() % 3;
            for (int k = 0; k < steps; k++) {
                int kind = rand() % 3;
                const char *key = alphabet[rand() % (KEYS - 1)];
                if (kind == 2 && k > 0)
                    strcat(text, "[*]");
                else {
                    strcat(text, kind == 1 ? ".." : ".");
                    strcat(text, key);
                }
            }
            char why[128];
            assert_int_equal(pg_selector_compile(text, &f[i].steps, &f[i].nsteps, why, sizeof why), 0);
        }
        bool failed = false;
        struct pg_sel_set *set = pg_sel_set_new(f, nf, &failed);
        assert_non_null(set);
        struct walk w = {.f = f, .nf = nf};
        pg_sel_cursor_init(&w.c, set);
        walk_from(&w, 0);
        checked += w.checked;
        assert_true(any_match_below(&w, 0, 3)); /* each set selects something */
        pg_sel_set_free(set);
        for (int i = 0; i < nf; i++)
            pg_selector_free(f[i].steps, f[i].nsteps);
    }
    assert_true(checked > 300 * 1000);
}

/* '..' steps multiply the DFA's states: a policy past the limit is refused
 * when it loads (each "$..kN..v" doubles what the cursor must tell apart). */
static void test_dfa_limit(void **state)
{
    (void)state;
    struct pg_phi_field f[13];
    memset(f, 0, sizeof f);
    char why[128];
    for (int i = 0; i < 13; i++) {
        char text[32];
        snprintf(text, sizeof text, "$..k%d..v", i);
        assert_int_equal(pg_selector_compile(text, &f[i].steps, &f[i].nsteps, why, sizeof why), 0);
    }
    int few = pg_sel_set_dfa_states(f, 4);
    assert_true(few > 16 && few < 64);
    assert_int_equal(pg_sel_set_dfa_states(f, 13), -1);
    bool failed = false;
    assert_null(pg_sel_set_new(f, 13, &failed));
    assert_true(failed);
    for (int i = 0; i < 13; i++)
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
        cmocka_unit_test(test_cursor_against_matcher),
        cmocka_unit_test(test_dfa_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
