/* Sessions, lockout, break-glass and rate limits: parsed and range-checked
 * here, enforced by the proxy's own phases. Defaults are the values a
 * HIPAA deployment starts from (docs/policy.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/gcra.h"
#include "policy/load_yaml.h"
#include "policy/units.h"

#define MS_S 1000LL
#define MS_M (60 * MS_S)
#define MS_H (60 * MS_M)
#define MS_D (24 * MS_H)

/* What break-glass adds when the policy does not say: reading the chart. */
static const char *const default_grants[] = {"patient:read", "observation:read", "encounter:read", "condition:read",
                                             "medication:read", "lab:read", "imaging:read", "phi:read:demographics",
                                             "phi:read:identifiers", "phi:read:contact", "phi:read:clinical", NULL};

static void load_sessions(struct ld *L, yaml_node_t *s)
{
    static const char *const keys[] = {"idle_timeout", "absolute_lifetime", "max_concurrent", "on_limit",
                                       "end_on_ip_change", NULL};
    struct pg_policy_params *pp = &L->p->params;
    if (!ld_check_keys(L, s, "sessions", keys))
        return;
    pp->idle_timeout_ms = ld_duration(L, s, "idle_timeout", "sessions", pp->idle_timeout_ms, MS_S, MS_D);
    pp->absolute_lifetime_ms =
        ld_duration(L, s, "absolute_lifetime", "sessions", pp->absolute_lifetime_ms, MS_S, 30 * MS_D);
    pp->max_concurrent = ld_int(L, s, "max_concurrent", "sessions", pp->max_concurrent, 1, 1000);
    pp->end_on_ip_change = ld_bool(L, s, "end_on_ip_change", "sessions", false);
    static const char *const on_limit[] = {"refuse", "end_oldest", NULL};
    pp->on_limit = ld_choice(L, s, "on_limit", "sessions", on_limit, 0) == 1 ? PG_ON_LIMIT_END_OLDEST
                                                                             : PG_ON_LIMIT_REFUSE;
    if (pp->idle_timeout_ms > pp->absolute_lifetime_ms) {
        yaml_node_t *idle = ld_get(L, s, "idle_timeout"), *life = ld_get(L, s, "absolute_lifetime");
        ld_err(L, idle ? idle : life, idle ? "sessions.idle_timeout" : "sessions.absolute_lifetime",
               "an idle timeout of %u s is longer than the absolute lifetime of %u s", pp->idle_timeout_ms / 1000,
               pp->absolute_lifetime_ms / 1000);
    }
}

static void load_lockout(struct ld *L, yaml_node_t *lo)
{
    static const char *const keys[] = {"max_failures", "window", "duration", NULL};
    struct pg_policy_params *pp = &L->p->params;
    if (!ld_check_keys(L, lo, "lockout", keys))
        return;
    pp->lockout_max_failures = ld_int(L, lo, "max_failures", "lockout", pp->lockout_max_failures, 1, 100);
    pp->lockout_window_ms = ld_duration(L, lo, "window", "lockout", pp->lockout_window_ms, MS_S, MS_D);
    pp->lockout_duration_ms = ld_duration(L, lo, "duration", "lockout", pp->lockout_duration_ms, MS_S, MS_D);
}

static void load_break_glass(struct ld *L, yaml_node_t *bg)
{
    static const char *const keys[] = {"header", "window", "reason_min_length", "roles", "grants", NULL};
    struct pg_policy_params *pp = &L->p->params;
    if (!ld_check_keys(L, bg, "break_glass", keys))
        return;
    char *h = ld_string(L, bg, "header", "break_glass", false);
    if (h) {
        bool token = true;
        for (const char *c = h; *c; c++)
            token &= (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-';
        if (!token)
            ld_err(L, ld_get(L, bg, "header"), "break_glass.header",
                   "'%s' is not a header name (letters, digits and -)", h);
        free(pp->break_glass_header);
        pp->break_glass_header = h;
    }
    pp->break_glass_window_ms = ld_duration(L, bg, "window", "break_glass", pp->break_glass_window_ms, MS_S, MS_D);
    pp->break_glass_reason_min = ld_int(L, bg, "reason_min_length", "break_glass", pp->break_glass_reason_min, 1, 500);
    yaml_node_t *roles = ld_get(L, bg, "roles");
    if (roles)
        ld_role_list(L, roles, "break_glass.roles", &pp->break_glass_roles, &pp->nbreak_glass_roles);
    yaml_node_t *grants = ld_get(L, bg, "grants");
    if (grants) {
        memset(&pp->break_glass_grants, 0, sizeof pp->break_glass_grants);
        ld_perm_list(L, grants, "break_glass.grants", &pp->break_glass_grants, NULL, NULL);
    }
}

/* map.rate, a rate the limiter can keep (pg_gcra_init takes it). */
static void load_rate(struct ld *L, yaml_node_t *m, const char *where, bool required, double *out)
{
    char path[96];
    yaml_node_t *rate = ld_get(L, m, "rate");
    snprintf(path, sizeof path, "%s.rate", where);
    if (!rate) {
        if (required)
            ld_err(L, m, path, "missing (required): a rate such as 100/s, 30/m or 1000/h");
        return;
    }
    double v;
    if (!ld_scalar(rate) || pg_parse_rate(ld_scalar(rate), &v) != 0 || v <= 0)
        ld_err(L, rate, path, "expected a rate such as 100/s, 30/m or 1000/h");
    else if (v > PG_GCRA_MAX_RATE)
        ld_err(L, rate, path, "faster than %.0f/s, the fastest rate a limit keeps", PG_GCRA_MAX_RATE);
    else
        *out = v;
}

/* login_limits: {ip: {rate, burst, scope}, username: {...}} */
static void load_login_limit(struct ld *L, yaml_node_t *m, const char *where, struct pg_login_limit *ll)
{
    static const char *const keys[] = {"rate", "burst", "scope", NULL};
    if (!ld_check_keys(L, m, where, keys))
        return;
    load_rate(L, m, where, false, &ll->rate_per_sec);
    ll->burst = ld_int(L, m, "burst", where, ll->burst, 1, 1000000);
    static const char *const scopes[] = {"local", "global", NULL};
    ll->scope = ld_choice(L, m, "scope", where, scopes, ll->scope == PG_SCOPE_GLOBAL) == 1 ? PG_SCOPE_GLOBAL
                                                                                             : PG_SCOPE_LOCAL;
}

static void load_login_limits(struct ld *L, yaml_node_t *m)
{
    static const char *const keys[] = {"ip", "username", NULL};
    struct pg_policy_params *pp = &L->p->params;
    if (!ld_check_keys(L, m, "login_limits", keys))
        return;
    yaml_node_t *n;
    if ((n = ld_get(L, m, "ip")))
        load_login_limit(L, n, "login_limits.ip", &pp->login_ip);
    if ((n = ld_get(L, m, "username")))
        load_login_limit(L, n, "login_limits.username", &pp->login_username);
}

void ld_params(struct ld *L, yaml_node_t *root)
{
    struct pg_policy_params *pp = &L->p->params;
    pp->idle_timeout_ms = 30 * MS_M;
    pp->absolute_lifetime_ms = 12 * MS_H;
    pp->max_concurrent = 3;
    pp->on_limit = PG_ON_LIMIT_REFUSE;
    pp->lockout_max_failures = 5;
    pp->lockout_window_ms = 15 * MS_M;
    pp->lockout_duration_ms = 30 * MS_M;
    pp->break_glass_header = strdup("X-Break-Glass-Reason");
    pp->break_glass_window_ms = 1 * MS_H;
    pp->break_glass_reason_min = 10;
    for (int i = 0; default_grants[i]; i++)
        ld_set_perm(&pp->break_glass_grants, pg_policy_perm_index(L->p, default_grants[i]));
    /* Password guessing: one address may try a few names a minute (an
     * office behind one NAT logs in at 8 o'clock: a burst of 30), one name
     * may be tried from anywhere 10 times a minute; lockout still counts
     * the failures. Global, so that replicas share the count. */
    pp->login_ip = (struct pg_login_limit){.rate_per_sec = 30.0 / 60, .burst = 30, .scope = PG_SCOPE_GLOBAL};
    pp->login_username = (struct pg_login_limit){.rate_per_sec = 10.0 / 60, .burst = 10, .scope = PG_SCOPE_GLOBAL};
    yaml_node_t *n;
    if ((n = ld_get(L, root, "sessions")))
        load_sessions(L, n);
    if ((n = ld_get(L, root, "lockout")))
        load_lockout(L, n);
    if ((n = ld_get(L, root, "break_glass")))
        load_break_glass(L, n);
    if ((n = ld_get(L, root, "login_limits")))
        load_login_limits(L, n);
}

/* Names of the login endpoint's limits in headers, logs and counters. */
static const char *const reserved_names[] = {"login-ip", "login-username", NULL};

static void check_name(struct ld *L, yaml_node_t *m, const char *where, const char *name)
{
    char path[96];
    snprintf(path, sizeof path, "%s.name", where);
    size_t n = strlen(name);
    bool ok = n > 0 && n <= PG_RATE_NAME_MAX;
    for (const char *c = name; ok && *c; c++)
        ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' ||
             *c == '_' || *c == '.';
    if (!ok) {
        ld_err(L, ld_get(L, m, "name"), path, "'%s' is not a limit name (1 to %d letters, digits, '.', '_', '-')",
               name, PG_RATE_NAME_MAX);
        return;
    }
    for (int i = 0; reserved_names[i]; i++)
        if (!strcmp(name, reserved_names[i]))
            ld_err(L, ld_get(L, m, "name"), path, "'%s' is the name of a login limit (login_limits:)", name);
}

static void load_rate_rule(struct ld *L, yaml_node_t *m, const char *where, struct pg_rate_rule *rr)
{
    static const char *const keys[] = {"name", "key", "scope", "rate", "burst", "route", "roles", NULL};
    rr->route_index = -1;
    rr->line = (int)m->start_mark.line + 1;
    rr->col = (int)m->start_mark.column + 1;
    if (!ld_check_keys(L, m, where, keys))
        return;
    char path[96];
    rr->name = ld_string(L, m, "name", where, true);
    if (rr->name)
        check_name(L, m, where, rr->name);
    yaml_node_t *k = ld_get(L, m, "key");
    snprintf(path, sizeof path, "%s.key", where);
    struct ld_list l;
    ld_names(L, k, path, &l);
    for (int j = 0; j < l.count; j++) {
        static const char *const names[] = {"ip", "user", "session", "route"};
        unsigned bit = 0;
        for (unsigned b = 0; b < 4; b++)
            if (!strcmp(l.names[j], names[b]))
                bit = 1u << b;
        if (!bit)
            ld_err(L, l.nodes[j], path, "unknown key '%s' (ip, user, session, route)", l.names[j]);
        else if (rr->key & bit)
            ld_err(L, l.nodes[j], path, "'%s' is listed twice", l.names[j]);
        rr->key |= bit;
    }
    ld_list_free(&l);
    if (!k)
        ld_err(L, m, path, "missing (required): what the limit counts by, e.g. [ip] or [user, route]");
    static const char *const scopes[] = {"local", "global", NULL};
    rr->scope = ld_choice(L, m, "scope", where, scopes, 0) == 1 ? PG_SCOPE_GLOBAL : PG_SCOPE_LOCAL;
    load_rate(L, m, where, true, &rr->rate_per_sec);
    rr->burst = ld_int(L, m, "burst", where, 1, 1, 1000000);
    rr->route = ld_string(L, m, "route", where, false);
    if (rr->route) {
        rr->route_index = pg_policy_route_index(L->p, rr->route);
        snprintf(path, sizeof path, "%s.route", where);
        if (rr->route_index < 0)
            ld_err(L, ld_get(L, m, "route"), path, "no route is named '%s'", rr->route);
    }
    yaml_node_t *roles = ld_get(L, m, "roles");
    snprintf(path, sizeof path, "%s.roles", where);
    if (roles)
        ld_role_list(L, roles, path, &rr->roles, &rr->nroles);
}

void ld_rate_limits(struct ld *L, yaml_node_t *list)
{
    if (list->type != YAML_SEQUENCE_NODE) {
        ld_err(L, list, "rate_limits", "expected a list of limits");
        return;
    }
    int count = (int)(list->data.sequence.items.top - list->data.sequence.items.start);
    if (count > 1000) {
        ld_err(L, list, "rate_limits", "%d limits; at most 1000", count);
        return;
    }
    L->p->rate_rules = calloc((size_t)count + 1, sizeof *L->p->rate_rules);
    if (!L->p->rate_rules)
        return;
    for (int i = 0; i < count; i++) {
        yaml_node_t *m = ld_node(L, list->data.sequence.items.start[i]);
        char where[64];
        snprintf(where, sizeof where, "rate_limits[%d]", i);
        struct pg_rate_rule *rr = &L->p->rate_rules[L->p->nrate_rules++];
        load_rate_rule(L, m, where, rr);
        for (int j = 0; rr->name && j < i; j++)
            if (L->p->rate_rules[j].name && !strcmp(L->p->rate_rules[j].name, rr->name)) {
                snprintf(where, sizeof where, "rate_limits[%d].name", i);
                ld_err(L, ld_get(L, m, "name"), where, "'%s' is already the name of the limit at line %d", rr->name,
                       L->p->rate_rules[j].line);
                break;
            }
    }
}
