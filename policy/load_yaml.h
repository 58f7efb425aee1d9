#ifndef PHIGUARD_POLICY_LOAD_YAML_H
#define PHIGUARD_POLICY_LOAD_YAML_H
/* Reading a libyaml document for the policy loader: typed getters that
 * report every problem with the place (line:column of the offending node),
 * the key and what was expected. Internal to policy/load*.c. */
#include <stdbool.h>
#include <stdint.h>
#include <yaml.h>

#include "policy/policy.h"

struct ld {
    const char *file;
    yaml_document_t *doc;
    struct pg_policy_errors *errs;
    struct pg_policy *p;
};

/* "FILE:LINE:COL: KEY: message" at the node (1:1 when at is NULL). */
void ld_err(struct ld *L, const yaml_node_t *at, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
yaml_node_t *ld_node(struct ld *L, int id);
const char *ld_scalar(const yaml_node_t *n);
/* A mapping whose keys are all among allowed (NULL-terminated), none twice;
 * every offender is reported. False when map is not a mapping or a key is
 * wrong. */
bool ld_check_keys(struct ld *L, yaml_node_t *map, const char *where, const char *const *allowed);
yaml_node_t *ld_get(struct ld *L, yaml_node_t *map, const char *key);
/* Typed values of map[key]; def when the key is absent (or wrong, after
 * reporting it). */
char *ld_string(struct ld *L, yaml_node_t *map, const char *key, const char *where, bool required);
bool ld_bool(struct ld *L, yaml_node_t *map, const char *key, const char *where, bool def);
int ld_int(struct ld *L, yaml_node_t *map, const char *key, const char *where, int def, int min, int max);
uint32_t ld_duration(struct ld *L, yaml_node_t *map, const char *key, const char *where, uint32_t def,
                     long long min_ms, long long max_ms);
/* One of the choices (NULL-terminated); its index, or def. */
int ld_choice(struct ld *L, yaml_node_t *map, const char *key, const char *where, const char *const *choices,
              int def);

/* A list of names (or one name, read as a list of one). Each element comes
 * with its node so that errors point at it. */
struct ld_list {
    const char **names;
    yaml_node_t **nodes;
    int count;
};
/* False (after reporting) when n is neither a scalar nor a list of them. */
bool ld_names(struct ld *L, yaml_node_t *n, const char *where, struct ld_list *out);
void ld_list_free(struct ld_list *l);

/* Permission names in a list to a set (and the list of indices when
 * indices is not NULL); undefined names are reported at their element. */
void ld_perm_list(struct ld *L, yaml_node_t *n, const char *where, pg_permset *set, int **indices, int *nindices);
/* Role names in a list to indices; undefined names are reported. */
void ld_role_list(struct ld *L, yaml_node_t *n, const char *where, int **indices, int *nindices);
void ld_set_perm(pg_permset *s, int i);

/* The sections, in the order the loader calls them. */
void ld_permissions(struct ld *L, yaml_node_t *n);
void ld_builtin_roles(struct pg_policy *p);
void ld_roles(struct ld *L, yaml_node_t *map);
void ld_routes(struct ld *L, yaml_node_t *list);
void ld_phi(struct ld *L, struct pg_route *r, yaml_node_t *phi, const char *where);
/* After every route: checks across routes (the same field alike everywhere). */
void ld_phi_crosscheck(struct ld *L);
void ld_params(struct ld *L, yaml_node_t *root);
void ld_rate_limits(struct ld *L, yaml_node_t *list);

#endif
