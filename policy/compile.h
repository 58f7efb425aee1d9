#ifndef PHIGUARD_POLICY_COMPILE_H
#define PHIGUARD_POLICY_COMPILE_H
#include "policy/policy.h"

/* Resolves inheritance (cycles are errors), builds the route trie and
 * finds unreachable routes. Errors are added to errs. */
void pg_policy_compile(struct pg_policy *p, struct pg_policy_errors *errs);

/* The trie: one node per path segment. */
struct pg_trie {
    char *seg;                 /* literal segment of this node */
    struct pg_trie **lit;      /* literal children, sorted for bsearch */
    int nlit;
    struct pg_trie *param;     /* {name} */
    char *param_name;
    struct pg_trie *star;      /* * : one segment */
    struct pg_trie *globstar;  /* ** : the rest, zero or more segments */
    int *rules;                /* routes ending here, in file order */
    int nrules;
};

void pg_trie_free(struct pg_trie *t);

#endif
