#ifndef PHIGUARD_POLICY_H
#define PHIGUARD_POLICY_H
/* The access policy: roles, permissions, routes, PHI field selectors and
 * the parameters of sessions, lockout, rate limits and break-glass, loaded
 * from the YAML file admins write (docs/policy.md) and compiled into an
 * immutable, refcounted object. Deciding is pure: no I/O, no allocation.
 *
 * Lifetime: pg_policy_load returns a policy holding one reference. Share
 * it across threads with pg_policy_ref / pg_policy_unref (atomic); nothing
 * in it changes after the load but a route's plugin_sel cells (a cache,
 * set once atomically), so readers need no lock. Pointers into it
 * (a decision's route, a field) live as long as the reference. */
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PG_POLICY_MAX_PERMS 256
#define PG_POLICY_MAX_ROLES 128
#define PG_POLICY_MAX_ROUTES 5000
#define PG_POLICY_MAX_PATTERN_SEGMENTS 32
#define PG_POLICY_MAX_SEGMENT 255 /* bytes in a literal path segment */
#define PG_POLICY_MAX_PARAMS 8    /* {param} captures reported per decision */
#define PG_POLICY_MAX_ERRORS 1000 /* errors kept; the rest are counted */

typedef struct {
    uint64_t w[PG_POLICY_MAX_PERMS / 64];
} pg_permset;

enum pg_phi_action { PG_PHI_MASK, PG_PHI_REDACT, PG_PHI_DENY };
enum pg_phi_normalize { PG_NORM_NONE, PG_NORM_DIGITS, PG_NORM_LOWER };
enum pg_rule_mode { PG_MODE_ENFORCE, PG_MODE_SHADOW };
enum pg_on_limit { PG_ON_LIMIT_REFUSE, PG_ON_LIMIT_END_OLDEST };
enum pg_rate_key { PG_RK_IP = 1, PG_RK_USER = 2, PG_RK_SESSION = 4, PG_RK_ROUTE = 8 };
enum pg_rate_scope { PG_SCOPE_LOCAL, PG_SCOPE_GLOBAL };

/* One step of a compiled JSONPath subset: $.a.b, [*], ..name */
enum pg_sel_step_kind { PG_SEL_KEY, PG_SEL_ANY_INDEX, PG_SEL_DESCEND };
struct pg_sel_step {
    enum pg_sel_step_kind kind;
    char *key; /* PG_SEL_KEY and PG_SEL_DESCEND */
};

struct pg_phi_field {
    char *selector;     /* as written */
    struct pg_sel_step *steps;
    int nsteps;
    char *logical_path; /* e.g. Patient.identifier.value: the envelope's associated data */
    bool searchable;    /* deterministic encryption */
    enum pg_phi_normalize normalize;
    int read_perm;      /* permission index that may read the plaintext */
    enum pg_phi_action others;
    int mask_keep_last; /* mask: keep this many trailing characters (0: all masked) */
    int line, col;
};

/* A query parameter that carries a searchable field's value (FHIR search:
 * GET /fhir/Patient?identifier=...): rewritten with the same deterministic
 * encryption, so the backend matches it by equality. */
struct pg_phi_query {
    char *param;
    char *field;        /* the logical path of a searchable field */
    enum pg_phi_normalize normalize; /* the field's */
    int line, col;
};

struct pg_sel_set; /* compiled selectors of one route and direction (selector.h) */

struct pg_route {
    char *name;
    char *pattern;
    unsigned methods;   /* bit per method (PG_M_*) */
    pg_permset required;
    int *required_list; /* the same, as indices, for explanations */
    int nrequired;
    bool public_;
    enum pg_rule_mode mode;
    /* Conditions: every listed query parameter / header must equal. */
    char **cond_query_keys, **cond_query_vals;
    int ncond_query;
    char **cond_header_keys, **cond_header_vals;
    int ncond_header;
    struct pg_phi_field *phi_request, *phi_response;
    int nphi_request, nphi_response;
    struct pg_sel_set *sel_request, *sel_response; /* the same fields, compiled for a streaming reader */
    /* proxy/plugin_body.c's matchers: these fields, then the plugins'
     * body fields ([0] request, [1] response). Made on first use, since
     * plugins are the proxy's; the one thing written after the load, once
     * per cell, by compare and swap. Freed with the policy. */
    _Atomic(struct pg_sel_set *) *plugin_sel;
    struct pg_phi_query *phi_query;
    int nphi_query;
    struct pg_phi_query *phi_path; /* the same for {param} path segments (param: its name) */
    int nphi_path;
    char *entity_type;  /* audit: resource type named by the route */
    bool track_changes; /* audit: PUT, PATCH and DELETE record the resource before and after */
    char **param_names; /* the pattern's {param} names, in path order */
    int nparam_names;
    int line, col;
    int index;          /* file order */
};

enum {
    PG_M_GET = 1 << 0, PG_M_HEAD = 1 << 1, PG_M_POST = 1 << 2, PG_M_PUT = 1 << 3,
    PG_M_PATCH = 1 << 4, PG_M_DELETE = 1 << 5, PG_M_OPTIONS = 1 << 6,
};
#define PG_M_ALL 0x7fu
#define PG_M_COUNT 7
unsigned pg_method_bit(const char *name, size_t len);
const char *pg_method_name(unsigned bit); /* one bit; NULL otherwise */

struct pg_role {
    char *name;
    bool builtin;
    bool emergency;     /* may use break-glass */
    bool mfa_required;
    char *description;
    pg_permset direct;  /* as written */
    pg_permset effective; /* with everything inherited */
    int *inherits;
    int ninherits;
    int line, col;
};

struct pg_rate_rule {
    char *name;
    unsigned key;       /* PG_RK_* combination */
    enum pg_rate_scope scope;
    double rate_per_sec;
    int burst;
    char *route;        /* a route name, or NULL for every route */
    int route_index;    /* -1: every route */
    int *roles;         /* applies to requests with any of these roles; none: to all */
    int nroles;
    int line, col;
};

/* A rate limit name: it goes into RateLimit headers as a quoted string and
 * into Redis key names, so only letters, digits, '.', '_' and '-'. */
#define PG_RATE_NAME_MAX 64

/* The login endpoint's own limits (login_limits:), counted per client IP
 * and per submitted username whether or not such a user exists. */
struct pg_login_limit {
    double rate_per_sec;
    int burst;
    enum pg_rate_scope scope;
};

struct pg_policy_params {
    uint32_t idle_timeout_ms, absolute_lifetime_ms;
    int max_concurrent;
    enum pg_on_limit on_limit;
    bool end_on_ip_change;
    int lockout_max_failures;
    uint32_t lockout_duration_ms;
    uint32_t lockout_window_ms;   /* failures older than this are forgotten */
    char *break_glass_header;
    uint32_t break_glass_window_ms;
    int break_glass_reason_min;   /* characters the stated reason needs */
    pg_permset break_glass_grants; /* added to an eligible user's permissions */
    int *break_glass_roles;       /* eligible besides roles marked emergency */
    int nbreak_glass_roles;
    struct pg_login_limit login_ip, login_username;
};

struct pg_trie;

struct pg_policy {
    _Atomic int refs;
    char *file;
    char sha256[65];    /* of the file's bytes */
    int version;        /* schema version */
    char *revision;     /* the admin's own label (revision:), or NULL */
    char **perm_names;  /* index -> name */
    int nperms;
    struct pg_role *roles;
    int nroles;
    struct pg_route *routes;
    int nroutes;
    struct pg_rate_rule *rate_rules;
    int nrate_rules;
    struct pg_policy_params params;
    struct pg_trie *trie;
};

/* Every error found, each "FILE:LINE:COL: key: what was expected". At most
 * PG_POLICY_MAX_ERRORS are kept; dropped counts the rest. */
struct pg_policy_errors {
    char **items;
    int count, cap;
    int dropped;
};
void pg_policy_errors_free(struct pg_policy_errors *e);
void pg_policy_errors_add(struct pg_policy_errors *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Errors found, kept or not. */
int pg_policy_errors_total(const struct pg_policy_errors *e);
/* Reads a whole file of at most max bytes (the loaders' one read); NULL
 * with an error added when it cannot. */
char *pg_policy_read_file(const char *file, size_t max, size_t *len, struct pg_policy_errors *errs);

/* Loads, validates and compiles FILE. NULL when anything is wrong; errs
 * then holds every error. Reads the file: call it off the event loops. */
struct pg_policy *pg_policy_load(const char *file, struct pg_policy_errors *errs);
/* The same from bytes already read; name is used in error messages. */
struct pg_policy *pg_policy_load_buffer(const char *name, const char *data, size_t len,
                                        struct pg_policy_errors *errs);
struct pg_policy *pg_policy_ref(struct pg_policy *p);
void pg_policy_unref(struct pg_policy *p);

int pg_policy_role_index(const struct pg_policy *p, const char *name);
int pg_policy_perm_index(const struct pg_policy *p, const char *name);
int pg_policy_route_index(const struct pg_policy *p, const char *name);
/* The first PHI field (request or response, in file order) with this
 * logical path, e.g. "Patient.identifier.value"; NULL when none. */
const struct pg_phi_field *pg_policy_find_field(const struct pg_policy *p, const char *logical_path);

/* Decision. */
enum pg_verdict { PG_DENY, PG_ALLOW };

struct pg_decision {
    enum pg_verdict verdict;          /* what is enforced */
    const struct pg_route *route;     /* the enforcing rule; NULL: no rule matched */
    const struct pg_route *shadow;    /* a shadow rule that matched first, if any */
    enum pg_verdict shadow_verdict;   /* what the shadow rule would have decided */
    const char *reason;               /* static text */
    pg_permset missing;               /* required permissions the roles lack */
    /* Captured path parameters of the route ({id}), pointers into the path,
     * named by the deciding route's pattern. */
    const char *param_name[PG_POLICY_MAX_PARAMS];
    const char *param_value[PG_POLICY_MAX_PARAMS];
    size_t param_len[PG_POLICY_MAX_PARAMS];
    int nparams;
};

/* Looks a request up by value from the query string or a header; returns
 * the value or NULL. */
typedef const char *(*pg_lookup_fn)(void *ctx, const char *name, size_t *len);

struct pg_request_view {
    const char *method;
    const char *path; /* without the query */
    size_t path_len;
    pg_lookup_fn query, header; /* either may be NULL: conditions on it then fail */
    void *ctx;
};

/* roles: indices from pg_policy_role_index (unknown names are simply not
 * passed). Never allocates. */
void pg_policy_decide(const struct pg_policy *p, const int *roles, int nroles, const struct pg_request_view *rq,
                      struct pg_decision *out);
/* The same with role names; names the policy does not define grant
 * nothing. Returns how many names were unknown. */
int pg_policy_decide_names(const struct pg_policy *p, const char *const *roles, size_t nroles,
                           const struct pg_request_view *rq, struct pg_decision *out);
/* The same from a permission set: what break-glass uses (the roles'
 * permissions plus break_glass.grants, see pg_policy_break_glass_perms). */
void pg_policy_decide_perms(const struct pg_policy *p, const pg_permset *have, const struct pg_request_view *rq,
                            struct pg_decision *out);

/* Permissions of a set of roles, inheritance included. */
void pg_policy_role_perms(const struct pg_policy *p, const int *roles, int nroles, pg_permset *out);
bool pg_permset_has(const pg_permset *s, int perm);
/* Whether any of the roles may invoke break-glass; out gets their
 * permissions plus the grants when they may, only theirs otherwise. */
bool pg_policy_break_glass_perms(const struct pg_policy *p, const int *roles, int nroles, pg_permset *out);

#endif
