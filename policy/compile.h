#ifndef PHIGUARD_POLICY_COMPILE_H
#define PHIGUARD_POLICY_COMPILE_H
/* From the loaded model to what decisions use: effective permissions,
 * the route trie, the compiled PHI selector sets. Internal to policy/. */
#include "policy/policy.h"

/* Resolves inheritance (cycles are errors), refuses unreachable routes,
 * builds the route trie and the selector sets. Errors are added to errs. */
void pg_policy_compile(struct pg_policy *p, struct pg_policy_errors *errs);
/* Adds an error for every route that can never decide (reach.c). */
void pg_policy_check_reachable(const struct pg_policy *p, struct pg_policy_errors *errs);

/* The trie: one node per path segment. Rules hang at the node where their
 * pattern ends. Lookup order at a node: literal child, {param}, *, then
 * the rules of ** (docs/policy.md, "Precedence"). */
struct pg_trie {
    char *seg;                 /* literal segment of this node */
    size_t seg_len;
    struct pg_trie **lit;      /* literal children, sorted for bsearch */
    int nlit;
    struct pg_trie *param;     /* {name} */
    struct pg_trie *star;      /* * : one segment */
    struct pg_trie *globstar;  /* ** : the rest, zero or more segments */
    int *rules;                /* routes ending here, in file order */
    int nrules;
};

void pg_trie_free(struct pg_trie *t);

#endif
