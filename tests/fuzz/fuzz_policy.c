/* libFuzzer target: the policy and users loaders on arbitrary YAML. */
#include <stddef.h>
#include <stdint.h>

#include "policy/policy.h"
#include "policy/users.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pg_policy_errors errs = {0};
    struct pg_policy *p = pg_policy_load_buffer("fuzz.yaml", (const char *)data, size, &errs);
    if (p) {
        static const char *const paths[] = {"/", "/fhir/Patient/1", "/a/b/c/d", "/fhir/$export", "/x/"};
        int roles[2] = {pg_policy_role_index(p, "physician"), pg_policy_role_index(p, "nurse")};
        for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
            struct pg_request_view rq = {.method = "GET", .path = paths[i], .path_len = __builtin_strlen(paths[i])};
            struct pg_decision d;
            pg_policy_decide(p, roles, 2, &rq, &d);
        }
        pg_policy_unref(p);
    }
    pg_policy_errors_free(&errs);
    struct pg_users *u = pg_users_load_buffer("fuzz.yaml", (const char *)data, size, &errs);
    pg_users_unref(u);
    pg_policy_errors_free(&errs);
    return 0;
}
