#include "policy/load_yaml.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/units.h"

void ld_err(struct ld *L, const yaml_node_t *at, const char *key, const char *fmt, ...)
{
    char msg[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pg_policy_errors_add(L->errs, "%s:%zu:%zu: %s%s%s", L->file, at ? at->start_mark.line + 1 : 1,
                         at ? at->start_mark.column + 1 : 1, key ? key : "", key && *key ? ": " : "", msg);
}

yaml_node_t *ld_node(struct ld *L, int id)
{
    return yaml_document_get_node(L->doc, id);
}

const char *ld_scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static void join_key(char *buf, size_t len, const char *where, const char *key)
{
    snprintf(buf, len, "%s%s%s", where ? where : "", where && *where ? "." : "", key);
}

bool ld_check_keys(struct ld *L, yaml_node_t *map, const char *where, const char *const *allowed)
{
    if (!map || map->type != YAML_MAPPING_NODE) {
        ld_err(L, map, where, "expected a mapping");
        return false;
    }
    /* Where each allowed key was first seen: a linear pass, whatever the
     * size of a hostile mapping. */
    size_t first_line[32] = {0};
    bool ok = true;
    for (yaml_node_pair_t *a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top; a++) {
        yaml_node_t *k = ld_node(L, a->key);
        const char *name = ld_scalar(k);
        if (!name) {
            ld_err(L, k, where, "expected a key name");
            ok = false;
            continue;
        }
        char path[256];
        join_key(path, sizeof path, where, name);
        int known = -1;
        for (int i = 0; allowed[i] && i < 32; i++)
            if (strcmp(allowed[i], name) == 0)
                known = i;
        if (known < 0) {
            char list[400] = "";
            size_t used = 0;
            for (int i = 0; allowed[i] && used < sizeof list; i++)
                used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", allowed[i]);
            ld_err(L, k, path, "unknown key (expected one of: %s)", list);
            ok = false;
        } else if (first_line[known]) {
            ld_err(L, k, path, "duplicate key (first at line %zu)", first_line[known]);
            ok = false;
        } else {
            first_line[known] = k->start_mark.line + 1;
        }
    }
    return ok;
}

yaml_node_t *ld_get(struct ld *L, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top; a++) {
        const char *name = ld_scalar(ld_node(L, a->key));
        if (name && strcmp(name, key) == 0)
            return ld_node(L, a->value);
    }
    return NULL;
}

char *ld_string(struct ld *L, yaml_node_t *map, const char *key, const char *where, bool required)
{
    yaml_node_t *n = ld_get(L, map, key);
    char path[256];
    join_key(path, sizeof path, where, key);
    if (!n) {
        if (required)
            ld_err(L, map, path, "missing (required)");
        return NULL;
    }
    const char *v = ld_scalar(n);
    if (!v || !*v) {
        ld_err(L, n, path, "expected a non-empty string");
        return NULL;
    }
    return strdup(v);
}

bool ld_bool(struct ld *L, yaml_node_t *map, const char *key, const char *where, bool def)
{
    yaml_node_t *n = ld_get(L, map, key);
    if (!n)
        return def;
    const char *v = ld_scalar(n);
    if (v && strcmp(v, "true") == 0)
        return true;
    if (v && strcmp(v, "false") == 0)
        return false;
    char path[256];
    join_key(path, sizeof path, where, key);
    ld_err(L, n, path, "expected true or false");
    return def;
}

int ld_int(struct ld *L, yaml_node_t *map, const char *key, const char *where, int def, int min, int max)
{
    yaml_node_t *n = ld_get(L, map, key);
    if (!n)
        return def;
    const char *v = ld_scalar(n);
    char *end = NULL;
    char path[256];
    join_key(path, sizeof path, where, key);
    errno = 0;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || !*v || *end || errno) {
        ld_err(L, n, path, "expected a whole number");
        return def;
    }
    if (x < min || x > max) {
        ld_err(L, n, path, "%ld is out of range (%d to %d)", x, min, max);
        return def;
    }
    return (int)x;
}

static void format_ms(char *buf, size_t len, long long ms)
{
    static const struct {
        long long ms;
        const char *unit;
    } units[] = {{86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (ms % units[i].ms == 0) {
            snprintf(buf, len, "%lld%s", ms / units[i].ms, units[i].unit);
            return;
        }
    snprintf(buf, len, "%lldms", ms);
}

uint32_t ld_duration(struct ld *L, yaml_node_t *map, const char *key, const char *where, uint32_t def,
                     long long min_ms, long long max_ms)
{
    yaml_node_t *n = ld_get(L, map, key);
    if (!n)
        return def;
    long long ms;
    const char *v = ld_scalar(n);
    char path[256];
    join_key(path, sizeof path, where, key);
    if (!v || pg_parse_duration_ms(v, &ms) != 0) {
        ld_err(L, n, path, "expected a duration such as 30s, 30m, 12h or 1d");
        return def;
    }
    if (ms < min_ms || ms > max_ms) {
        char lo[32], hi[32];
        format_ms(lo, sizeof lo, min_ms);
        format_ms(hi, sizeof hi, max_ms);
        ld_err(L, n, path, "%s is out of range (%s to %s)", v, lo, hi);
        return def;
    }
    return (uint32_t)ms;
}

int ld_choice(struct ld *L, yaml_node_t *map, const char *key, const char *where, const char *const *choices,
              int def)
{
    yaml_node_t *n = ld_get(L, map, key);
    if (!n)
        return def;
    const char *v = ld_scalar(n);
    for (int i = 0; v && choices[i]; i++)
        if (strcmp(v, choices[i]) == 0)
            return i;
    char list[200] = "";
    size_t used = 0;
    for (int i = 0; choices[i] && used < sizeof list; i++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? (choices[i + 1] ? ", " : " or ") : "",
                                 choices[i]);
    char path[256];
    join_key(path, sizeof path, where, key);
    ld_err(L, n, path, "expected %s", list);
    return def;
}

bool ld_names(struct ld *L, yaml_node_t *n, const char *where, struct ld_list *out)
{
    memset(out, 0, sizeof *out);
    if (!n)
        return true;
    if (n->type == YAML_SCALAR_NODE) {
        if (!*ld_scalar(n)) {
            ld_err(L, n, where, "expected a name or a list of names");
            return false;
        }
        out->names = malloc(sizeof *out->names);
        out->nodes = malloc(sizeof *out->nodes);
        if (!out->names || !out->nodes) {
            ld_list_free(out);
            return false;
        }
        out->names[0] = ld_scalar(n);
        out->nodes[0] = n;
        out->count = 1;
        return true;
    }
    if (n->type != YAML_SEQUENCE_NODE) {
        ld_err(L, n, where, "expected a list of names");
        return false;
    }
    size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    out->names = calloc(count + 1, sizeof *out->names);
    out->nodes = calloc(count + 1, sizeof *out->nodes);
    if (!out->names || !out->nodes) {
        ld_list_free(out);
        return false;
    }
    bool ok = true;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
        yaml_node_t *e = ld_node(L, *it);
        const char *v = ld_scalar(e);
        if (!v || !*v) {
            ld_err(L, e, where, "expected a name");
            ok = false;
            continue;
        }
        out->nodes[out->count] = e;
        out->names[out->count++] = v;
    }
    return ok;
}

void ld_list_free(struct ld_list *l)
{
    free(l->names);
    free(l->nodes);
    memset(l, 0, sizeof *l);
}

void ld_set_perm(pg_permset *s, int i)
{
    s->w[i / 64] |= 1ULL << (i % 64);
}

void ld_perm_list(struct ld *L, yaml_node_t *n, const char *where, pg_permset *set, int **indices, int *nindices)
{
    struct ld_list l;
    ld_names(L, n, where, &l);
    if (indices) {
        *indices = l.count ? calloc((size_t)l.count, sizeof **indices) : NULL;
        *nindices = 0;
    }
    for (int i = 0; i < l.count; i++) {
        int j = pg_policy_perm_index(L->p, l.names[i]);
        if (j < 0) {
            ld_err(L, l.nodes[i], where, "undefined permission '%s' (built-in, or declared under permissions:)",
                   l.names[i]);
        } else if (pg_permset_has(set, j)) {
            ld_err(L, l.nodes[i], where, "'%s' is listed twice", l.names[i]);
        } else {
            ld_set_perm(set, j);
            if (indices && *indices)
                (*indices)[(*nindices)++] = j;
        }
    }
    ld_list_free(&l);
}

void ld_role_list(struct ld *L, yaml_node_t *n, const char *where, int **indices, int *nindices)
{
    struct ld_list l;
    ld_names(L, n, where, &l);
    *indices = l.count ? calloc((size_t)l.count, sizeof **indices) : NULL;
    *nindices = 0;
    for (int i = 0; i < l.count && *indices; i++) {
        int j = pg_policy_role_index(L->p, l.names[i]);
        bool twice = false;
        for (int k = 0; k < *nindices; k++)
            twice |= (*indices)[k] == j;
        if (j < 0)
            ld_err(L, l.nodes[i], where, "undefined role '%s'", l.names[i]);
        else if (twice)
            ld_err(L, l.nodes[i], where, "'%s' is listed twice", l.names[i]);
        else
            (*indices)[(*nindices)++] = j;
    }
    ld_list_free(&l);
}
