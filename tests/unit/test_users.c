/* The users file (policy/users.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/password.h"
#include "policy/users.h"

#define PHC "\"$argon2id$v=19$m=65536,t=3,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g\""

static const struct {
    const char *name, *yaml, *error;
} bad[] = {
    {"not a list", "users: 3\n", "t.yaml:1:8: users: expected a list of users under users:"},
    {"unknown key", "users:\n  - {id: a, username: a, roles: [nurse], password: " PHC ", shoe: 9}\n",
     "t.yaml:2:153: users.shoe: unknown key"},
    {"missing id", "users:\n  - {username: a, roles: [nurse], password: " PHC "}\n", "users.id: missing (required)"},
    {"no roles", "users:\n  - {id: a, username: a, password: " PHC "}\n", "users.roles: expected a list of role names"},
    {"plaintext password", "users:\n  - {id: a, username: a, roles: [nurse], password: hunter2hunter2}\n",
     "users.password: not an Argon2id PHC string"},
    {"weak hash", "users:\n  - {id: a, username: a, roles: [nurse], password: "
                  "\"$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaA\"}\n",
     "users.password: Argon2id parameters must be at least"},
    {"duplicate username",
     "users:\n  - {id: a, username: x, roles: [nurse], password: " PHC "}\n"
     "  - {id: b, username: x, roles: [nurse], password: " PHC "}\n",
     "t.yaml:3:5: users.username: 'x' is already used"},
    {"bad bool", "users:\n  - {id: a, username: a, roles: [nurse], password: " PHC ", disabled: maybe}\n",
     "users.disabled: expected true or false"},
};

static void test_bad_files(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct pg_policy_errors errs = {0};
        assert_null(pg_users_load_buffer("t.yaml", bad[i].yaml, strlen(bad[i].yaml), &errs));
        bool found = false;
        for (int k = 0; k < errs.count; k++)
            found |= strstr(errs.items[k], bad[i].error) != NULL;
        if (!found) {
            for (int k = 0; k < errs.count; k++)
                print_error("  got: %s\n", errs.items[k]);
            fail_msg("%s: expected '%s'", bad[i].name, bad[i].error);
        }
        pg_policy_errors_free(&errs);
    }
}

static void test_sample_users(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/conf/users.yaml", getenv("PHIGUARD_SOURCE_DIR"));
    struct pg_policy_errors errs = {0};
    struct pg_users *u = pg_users_load(path, &errs);
    assert_non_null(u);
    const struct pg_user *dr = pg_users_by_name(u, "dr.grey");
    assert_non_null(dr);
    assert_string_equal(dr->id, "u-phys-1");
    assert_true(dr->mfa_required);
    assert_string_equal(dr->roles[0], "physician");
    assert_ptr_equal(pg_users_by_id(u, "u-phys-1"), dr);
    assert_null(pg_users_by_name(u, "nobody"));
    /* The documented demo password verifies against the stored hash. */
    assert_int_equal(pg_password_verify(dr->password, "demo-physician-pass", 19), 1);
    pg_users_unref(u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_sample_users),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
