/* Micro-benchmark: one decision against a policy of 1,000 routes.
 * Usage: bench_policy_decide [ROUTES] [ITERATIONS] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy/policy.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    int nroutes = argc > 1 ? atoi(argv[1]) : 1000;
    long iters = argc > 2 ? atol(argv[2]) : 2000000;
    size_t cap = (size_t)nroutes * 160 + 256;
    char *y = malloc(cap);
    size_t len = (size_t)snprintf(y, cap, "version: 1\nroutes:\n");
    /* Realistic shapes: resource families, ids, sub-resources, and globs. */
    for (int i = 0; i < nroutes; i++) {
        switch (i % 4) {
        case 0:
            len += (size_t)snprintf(y + len, cap - len,
                                    "  - {methods: [GET], path: \"/api/r%d/{id}\", permissions: [patient:read]}\n", i);
            break;
        case 1:
            len += (size_t)snprintf(y + len, cap - len,
                                    "  - {methods: [POST], path: \"/api/r%d/{id}/items/{item}\", permissions: [patient:write]}\n", i);
            break;
        case 2:
            len += (size_t)snprintf(y + len, cap - len,
                                    "  - {methods: [GET], path: \"/api/r%d/*/history\", permissions: [records:export]}\n", i);
            break;
        default:
            len += (size_t)snprintf(y + len, cap - len, "  - {methods: \"*\", path: \"/api/r%d/**\", permissions: [system:configure]}\n", i);
        }
    }
    struct pg_policy_errors errs = {0};
    struct pg_policy *p = pg_policy_load_buffer("bench.yaml", y, len, &errs);
    if (!p) {
        fprintf(stderr, "%s\n", errs.count ? errs.items[0] : "load failed");
        return 1;
    }
    int role = pg_policy_role_index(p, "physician");
    static const char *const paths[] = {"/api/r500/123", "/api/r501/7/items/9", "/api/r502/x/history",
                                        "/api/r503/a/b/c", "/api/unknown/1"};
    long allowed = 0;
    double t0 = now();
    for (long i = 0; i < iters; i++) {
        const char *path = paths[i % 5];
        struct pg_request_view rq = {.method = (i % 5 == 1) ? "POST" : "GET", .path = path, .path_len = strlen(path)};
        struct pg_decision d;
        pg_policy_decide(p, &role, 1, &rq, &d);
        allowed += d.verdict == PG_ALLOW;
    }
    double dt = now() - t0;
    printf("routes=%d decisions=%ld ns/decision=%.1f allowed=%ld\n", p->nroutes, iters, dt * 1e9 / (double)iters,
           allowed);
    pg_policy_unref(p);
    free(y);
    return 0;
}
