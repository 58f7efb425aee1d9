#include "proxy/cli_policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "policy/policy.h"

static struct pg_policy *load_or_report(const char *file)
{
    struct pg_policy_errors errs = {0};
    struct pg_policy *p = pg_policy_load(file, &errs);
    for (int i = 0; i < errs.count; i++)
        fprintf(stderr, "%s\n", errs.items[i]);
    if (!p)
        fprintf(stderr, "%s: %d error%s\n", file, errs.count, errs.count == 1 ? "" : "s");
    pg_policy_errors_free(&errs);
    return p;
}

static int cmd_check(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: phiguard policy check FILE\n");
        return 2;
    }
    struct pg_policy *p = load_or_report(argv[1]);
    if (!p)
        return 1;
    printf("%s: ok (%d roles, %d permissions, %d routes, sha256 %s)\n", argv[1], p->nroles, p->nperms, p->nroutes,
           p->sha256);
    pg_policy_unref(p);
    return 0;
}

/* ---- a request given on the command line or in a tests file ---- */

struct cli_request {
    char method[16];
    char path[1024];
    char *query;
};

static int parse_request(const char *method, const char *target, struct cli_request *rq)
{
    if (strlen(method) >= sizeof rq->method || strlen(target) >= sizeof rq->path || target[0] != '/')
        return -1;
    strcpy(rq->method, method);
    strcpy(rq->path, target);
    char *q = strchr(rq->path, '?');
    rq->query = q ? q + 1 : NULL;
    if (q)
        *q = '\0';
    return 0;
}

static const char *query_lookup(void *ctx, const char *name, size_t *len)
{
    const struct cli_request *rq = ctx;
    size_t n = strlen(name);
    for (const char *s = rq->query; s && *s;) {
        const char *amp = strchr(s, '&');
        size_t seg = amp ? (size_t)(amp - s) : strlen(s);
        if (seg > n && strncmp(s, name, n) == 0 && s[n] == '=') {
            *len = seg - n - 1;
            return s + n + 1;
        }
        s = amp ? amp + 1 : NULL;
    }
    return NULL;
}

static void decide(const struct pg_policy *p, const int *roles, int nroles, struct cli_request *rq,
                   struct pg_decision *d)
{
    struct pg_request_view v = {.method = rq->method, .path = rq->path, .path_len = strlen(rq->path),
                                .query = query_lookup, .ctx = rq};
    pg_policy_decide(p, roles, nroles, &v, d);
}

/* Which response PHI fields of the decided route the roles read in clear. */
static bool field_visible(const struct pg_policy *p, const struct pg_decision *d, const int *roles, int nroles,
                          const char *logical)
{
    if (!d->route)
        return false;
    pg_permset have;
    pg_policy_role_perms(p, roles, nroles, &have);
    for (int i = 0; i < d->route->nphi_response; i++) {
        const struct pg_phi_field *f = &d->route->phi_response[i];
        if (f->logical_path && strcmp(f->logical_path, logical) == 0)
            return pg_permset_has(&have, f->read_perm);
    }
    return true; /* not a selected field: the response passes as it is */
}

static int resolve_roles(const struct pg_policy *p, const char *const *names, int n, int *out)
{
    for (int i = 0; i < n; i++) {
        out[i] = pg_policy_role_index(p, names[i]);
        if (out[i] < 0) {
            fprintf(stderr, "unknown role '%s'\n", names[i]);
            return -1;
        }
    }
    return 0;
}

static int cmd_explain(int argc, char **argv)
{
    const char *file = getenv("PHIGUARD_POLICY");
    const char *role_names[16];
    int nroles = 0;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if ((!strcmp(argv[i], "--role") || !strcmp(argv[i], "-r")) && i + 1 < argc && nroles < 16)
            role_names[nroles++] = argv[++i];
        else if ((!strcmp(argv[i], "--policy") || !strcmp(argv[i], "-p")) && i + 1 < argc)
            file = argv[++i];
        else
            break;
    }
    if (argc - i != 2 || !file || nroles == 0) {
        fprintf(stderr, "usage: phiguard policy explain [-p FILE] --role ROLE [--role ROLE...] METHOD PATH\n"
                        "       (FILE defaults to $PHIGUARD_POLICY)\n");
        return 2;
    }
    struct pg_policy *p = load_or_report(file);
    if (!p)
        return 1;
    int roles[16];
    struct cli_request rq;
    if (resolve_roles(p, role_names, nroles, roles) != 0 || parse_request(argv[i], argv[i + 1], &rq) != 0) {
        if (rq.path[0] != '/')
            fprintf(stderr, "PATH must start with /\n");
        pg_policy_unref(p);
        return 2;
    }
    struct pg_decision d;
    decide(p, roles, nroles, &rq, &d);
    printf("decision: %s (%s)\n", d.verdict == PG_ALLOW ? "allow" : "deny", d.reason);
    if (d.route) {
        const struct pg_route *r = d.route;
        printf("rule: %s:%d  %s%s%s %s\n", p->file, r->line, r->name ? r->name : "", r->name ? " " : "",
               r->pattern, r->public_ ? "(public)" : "");
        pg_permset have;
        pg_policy_role_perms(p, roles, nroles, &have);
        for (int k = 0; k < r->nrequired; k++)
            printf("  needs %-28s %s\n", p->perm_names[r->required_list[k]],
                   pg_permset_has(&have, r->required_list[k]) ? "held" : "MISSING");
        for (int k = 0; k < d.nparams; k++)
            printf("  {%s} = %.*s\n", d.param_name[k], (int)d.param_len[k], d.param_value[k]);
        for (int k = 0; k < r->nphi_response; k++) {
            const struct pg_phi_field *f = &r->phi_response[k];
            bool clear = pg_permset_has(&have, f->read_perm);
            printf("  response field %-34s %s\n", f->logical_path,
                   clear ? "visible" : f->others == PG_PHI_MASK ? "masked" : f->others == PG_PHI_REDACT ? "removed"
                                                                                                      : "denied");
        }
    } else {
        printf("rule: none matched; anything unmatched is denied\n");
    }
    if (d.shadow)
        printf("shadow rule: %s:%d would %s\n", p->file, d.shadow->line,
               d.shadow_verdict == PG_ALLOW ? "allow" : "deny");
    int rc = d.verdict == PG_ALLOW ? 0 : 1;
    pg_policy_unref(p);
    return rc;
}

/* ---- policy test FILE TESTS ---- */

struct test_case {
    char *name;
    const char *roles[16];
    int nroles;
    char *method, *target;
    int expect; /* PG_ALLOW / PG_DENY / -1 */
    const char *visible[32], *hidden[32];
    int nvisible, nhidden;
    int line;
};

static const char *yscalar(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
    for (yaml_node_pair_t *a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top; a++) {
        yaml_node_t *k = yaml_document_get_node(doc, a->key), *v = yaml_document_get_node(doc, a->value);
        if (k->type == YAML_SCALAR_NODE && !strcmp((char *)k->data.scalar.value, key) && v->type == YAML_SCALAR_NODE)
            return (const char *)v->data.scalar.value;
    }
    return NULL;
}

static int ylist(yaml_document_t *doc, yaml_node_t *map, const char *key, const char **out, int max)
{
    int n = 0;
    for (yaml_node_pair_t *a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top; a++) {
        yaml_node_t *k = yaml_document_get_node(doc, a->key), *v = yaml_document_get_node(doc, a->value);
        if (k->type != YAML_SCALAR_NODE || strcmp((char *)k->data.scalar.value, key))
            continue;
        if (v->type == YAML_SCALAR_NODE)
            out[n++] = (const char *)v->data.scalar.value;
        else if (v->type == YAML_SEQUENCE_NODE)
            for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top && n < max; it++) {
                yaml_node_t *e = yaml_document_get_node(doc, *it);
                if (e->type == YAML_SCALAR_NODE)
                    out[n++] = (const char *)e->data.scalar.value;
            }
    }
    return n;
}

static int cmd_test(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: phiguard policy test FILE TESTS.yaml\n");
        return 2;
    }
    struct pg_policy *p = load_or_report(argv[1]);
    if (!p)
        return 1;
    FILE *f = fopen(argv[2], "rb");
    if (!f) {
        perror(argv[2]);
        pg_policy_unref(p);
        return 2;
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &doc)) {
        fprintf(stderr, "%s:%zu:%zu: YAML syntax error: %s\n", argv[2], parser.problem_mark.line + 1,
                parser.problem_mark.column + 1, parser.problem);
        yaml_parser_delete(&parser);
        fclose(f);
        pg_policy_unref(p);
        return 2;
    }
    int passed = 0, failed = 0, bad = 0;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    yaml_node_t *list = NULL;
    if (root && root->type == YAML_MAPPING_NODE)
        for (yaml_node_pair_t *a = root->data.mapping.pairs.start; a < root->data.mapping.pairs.top; a++) {
            yaml_node_t *k = yaml_document_get_node(&doc, a->key);
            if (k->type == YAML_SCALAR_NODE && !strcmp((char *)k->data.scalar.value, "tests"))
                list = yaml_document_get_node(&doc, a->value);
        }
    if (!list || list->type != YAML_SEQUENCE_NODE) {
        fprintf(stderr, "%s:1:1: tests: expected a list of test cases under tests:\n", argv[2]);
        bad++;
    }
    for (yaml_node_item_t *it = list ? list->data.sequence.items.start : NULL; list && it < list->data.sequence.items.top;
         it++) {
        yaml_node_t *m = yaml_document_get_node(&doc, *it);
        int line = (int)m->start_mark.line + 1;
        if (m->type != YAML_MAPPING_NODE) {
            fprintf(stderr, "%s:%d: expected a test case (name, role, request, expect)\n", argv[2], line);
            bad++;
            continue;
        }
        struct test_case tc = {.line = line};
        const char *name = yscalar(&doc, m, "name");
        const char *request = yscalar(&doc, m, "request");
        const char *expect = yscalar(&doc, m, "expect");
        tc.nroles = ylist(&doc, m, "role", tc.roles, 16);
        tc.nroles += ylist(&doc, m, "roles", tc.roles + tc.nroles, 16 - tc.nroles);
        tc.nvisible = ylist(&doc, m, "phi_visible", tc.visible, 32);
        tc.nhidden = ylist(&doc, m, "phi_hidden", tc.hidden, 32);
        char method[16] = "", target[1024] = "";
        if (!request || sscanf(request, "%15s %1023s", method, target) != 2 || !expect ||
            (strcmp(expect, "allow") && strcmp(expect, "deny"))) {
            fprintf(stderr, "%s:%d: a test needs request: \"METHOD /path\" and expect: allow|deny\n", argv[2], line);
            bad++;
            continue;
        }
        int roles[16];
        struct cli_request rq;
        if (resolve_roles(p, tc.roles, tc.nroles, roles) != 0 || parse_request(method, target, &rq) != 0) {
            fprintf(stderr, "%s:%d: bad role or request\n", argv[2], line);
            bad++;
            continue;
        }
        struct pg_decision d;
        decide(p, roles, tc.nroles, &rq, &d);
        bool want_allow = !strcmp(expect, "allow");
        char why[512] = "";
        if ((d.verdict == PG_ALLOW) != want_allow)
            snprintf(why, sizeof why, "expected %s, got %s (%s%s%d)", expect, d.verdict == PG_ALLOW ? "allow" : "deny",
                     d.reason, d.route ? ", rule at line " : "", d.route ? d.route->line : 0);
        for (int k = 0; k < tc.nvisible && !why[0]; k++)
            if (!field_visible(p, &d, roles, tc.nroles, tc.visible[k]))
                snprintf(why, sizeof why, "%s should be visible", tc.visible[k]);
        for (int k = 0; k < tc.nhidden && !why[0]; k++)
            if (field_visible(p, &d, roles, tc.nroles, tc.hidden[k]))
                snprintf(why, sizeof why, "%s should not be visible", tc.hidden[k]);
        if (why[0]) {
            printf("FAIL  %s (line %d): %s\n", name ? name : request, line, why);
            failed++;
        } else {
            printf("ok    %s\n", name ? name : request);
            passed++;
        }
    }
    printf("%d passed, %d failed\n", passed, failed + bad);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    fclose(f);
    pg_policy_unref(p);
    return failed || bad ? 1 : 0;
}

/* ---- policy diff OLD NEW ---- */

static void route_key(const struct pg_route *r, char *buf, size_t n)
{
    static const char *const names[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
    size_t used = 0;
    buf[0] = '\0';
    if (r->methods == ~0u)
        used = (size_t)snprintf(buf, n, "*");
    else
        for (int i = 0; i < 7; i++)
            if (r->methods & (1u << i))
                used += (size_t)snprintf(buf + used, n - used, "%s%s", used ? "," : "", names[i]);
    snprintf(buf + used, n - used, " %s", r->pattern ? r->pattern : "?");
}

static bool role_may(const struct pg_policy *p, int role, const struct pg_route *r)
{
    if (r->public_)
        return true;
    if (role < 0)
        return false;
    for (int w = 0; w < PG_POLICY_MAX_PERMS / 64; w++)
        if (r->required.w[w] & ~p->roles[role].effective.w[w])
            return false;
    return true;
}

/* Lines "+ X" for what new grants and old did not, "- X" the reverse. */
static int diff_role(const struct pg_policy *a, const struct pg_policy *b, const char *role)
{
    int ra = pg_policy_role_index(a, role), rb = pg_policy_role_index(b, role);
    int changes = 0;
    char key[1200];
    for (int pass = 0; pass < 2; pass++) {
        const struct pg_policy *from = pass ? a : b, *to = pass ? b : a;
        int rfrom = pass ? ra : rb, rto = pass ? rb : ra;
        for (int i = 0; i < from->nroutes; i++) {
            const struct pg_route *r = &from->routes[i];
            if (r->mode != PG_MODE_ENFORCE || !role_may(from, rfrom, r))
                continue;
            route_key(r, key, sizeof key);
            bool elsewhere = false;
            for (int j = 0; j < to->nroutes && !elsewhere; j++) {
                char k2[1200];
                route_key(&to->routes[j], k2, sizeof k2);
                elsewhere = !strcmp(key, k2) && to->routes[j].mode == PG_MODE_ENFORCE && role_may(to, rto, &to->routes[j]);
            }
            if (!elsewhere) {
                printf("  %s route %s\n", pass ? "-" : "+", key);
                changes++;
            }
            for (int k = 0; k < r->nphi_response; k++) {
                const struct pg_phi_field *f = &r->phi_response[k];
                bool clear = rfrom >= 0 && pg_permset_has(&from->roles[rfrom].effective, f->read_perm);
                if (!clear)
                    continue;
                bool other = false;
                for (int j = 0; j < to->nroutes && !other; j++)
                    for (int m = 0; m < to->routes[j].nphi_response && !other; m++) {
                        const struct pg_phi_field *g = &to->routes[j].phi_response[m];
                        other = g->logical_path && f->logical_path && !strcmp(g->logical_path, f->logical_path) &&
                                rto >= 0 && pg_permset_has(&to->roles[rto].effective, g->read_perm);
                    }
                if (!other) {
                    printf("  %s phi %s (via %s)\n", pass ? "-" : "+", f->logical_path, key);
                    changes++;
                }
            }
        }
    }
    return changes;
}

static int cmd_diff(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: phiguard policy diff OLD NEW\n");
        return 2;
    }
    struct pg_policy *a = load_or_report(argv[1]), *b = a ? load_or_report(argv[2]) : NULL;
    if (!a || !b) {
        pg_policy_unref(a);
        return 1;
    }
    int total = 0;
    for (int pass = 0; pass < 2; pass++) {
        const struct pg_policy *p = pass ? a : b;
        for (int i = 0; i < p->nroles; i++) {
            const char *role = p->roles[i].name;
            if (pass && pg_policy_role_index(b, role) >= 0)
                continue; /* already shown with the new policy's roles */
            printf("%s%s\n", role, pass ? " (removed)" : pg_policy_role_index(a, role) < 0 ? " (new)" : "");
            int n = diff_role(a, b, role);
            if (n == 0)
                printf("  no change\n");
            total += n;
        }
    }
    printf("%d change%s\n", total, total == 1 ? "" : "s");
    pg_policy_unref(a);
    pg_policy_unref(b);
    return 0;
}

int pg_cli_policy(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "check"))
        return cmd_check(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "test"))
        return cmd_test(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "explain"))
        return cmd_explain(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "diff"))
        return cmd_diff(argc - 1, argv + 1);
    fprintf(stderr, "usage: phiguard policy check FILE\n"
                    "       phiguard policy test FILE TESTS.yaml\n"
                    "       phiguard policy explain [-p FILE] --role ROLE METHOD PATH\n"
                    "       phiguard policy diff OLD NEW\n");
    return 2;
}
