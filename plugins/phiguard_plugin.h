#ifndef PHIGUARD_PLUGIN_H
#define PHIGUARD_PLUGIN_H
/* The plugin ABI of phiguard: the only header a plugin includes.
 * docs/plugins.md is the guide; this file is the contract.
 *
 * A plugin is a shared object named in the configuration:
 *
 *     plugins:
 *       - path: /usr/lib/phiguard/plugins/syslog_sink.so
 *         config: { host: 127.0.0.1, port: 6514 }
 *
 * It exports two symbols, both written by PHG_PLUGIN_DECLARE below:
 *   phiguard_plugin_abi    the ABI version the plugin was compiled against.
 *                          phiguard reads it before running any of the
 *                          plugin's code and refuses a plugin of another
 *                          major version, or of a newer minor version than
 *                          its own, naming the path and both versions.
 *   phiguard_plugin_entry  the one entry point: it receives the ABI version
 *                          it is loaded under, the host's services, and the
 *                          plugin's config block as a JSON text, and fills
 *                          in its hooks.
 *
 * Versioning promise: within one major version, phiguard only adds. A new
 * minor version may add members at the end of struct phg_host and struct
 * phg_plugin, new enum values a plugin never receives unless it asked for
 * them, and new functions; it never removes, reorders or changes the
 * meaning of what is here. A plugin built for 1.N runs on every phiguard of
 * ABI 1.M with M >= N. A change that breaks this gets a new major version.
 *
 * Threads and the loop: phiguard runs one event loop per worker thread, and
 * calls a request's hooks on the loop of the worker that owns the request.
 * Hooks of different requests run at once on different workers: a plugin's
 * shared state needs a lock. A hook must never block (no blocking socket,
 * no file read, no sleep, no lock held across I/O): work that waits goes to
 * a thread of the plugin's own, or to the worker's loop through
 * host->event_base, and the hook answers PHG_SUSPEND; the plugin resumes
 * the request later with host->resume.
 *
 * Which host function may be called from where:
 *   any thread, at any time after the entry point was called (the entry
 *   point itself, a hook, a thread of the plugin's, a libevent callback):
 *       log, alert, resume, resume_auth
 *   only on the request's loop, while phiguard has lent the request to a
 *   hook (inside the hook, or inside a libevent callback on
 *   host->event_base(r) of a request between suspend and its resume):
 *       every function taking a phg_request (request_id ... event_base),
 *       and phi_seal / phi_open (inside a hook)
 * Called from another thread, a function of the second kind races with the
 * request's own loop: the request may be freed under it.
 *
 * Memory: what the host lends (a phg_request, strings it returns, a JSON
 * value offered to a hook, an audit record) is valid only during the call
 * that lent it, except a request between PHG_SUSPEND and its resume (see
 * host->suspend). Copy what you keep. What a plugin allocates, it frees. */
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PHG_ABI_MAJOR 1
#define PHG_ABI_MINOR 0
#define PHG_ABI_VERSION(major, minor) (((uint32_t)(major) << 16) | (uint32_t)(minor))
#define PHG_ABI_CURRENT PHG_ABI_VERSION(PHG_ABI_MAJOR, PHG_ABI_MINOR)
#define PHG_ABI_MAJOR_OF(v) ((uint32_t)(v) >> 16)
#define PHG_ABI_MINOR_OF(v) ((uint32_t)(v)&0xffffu)

/* A request, as the host lends it to a hook. Opaque: use the host's
 * functions. */
typedef struct phg_request phg_request;
/* A suspended request's claim ticket (host->suspend). */
typedef struct phg_pending phg_pending;
/* The host's handle on one loaded plugin, for logging and services. */
typedef struct phg_plugin_handle phg_plugin_handle;
struct event_base;

/* What a request hook answers. */
enum phg_result {
    PHG_CONTINUE = 0, /* go on with the request */
    PHG_SUSPEND = 1,  /* the hook called host->suspend; host->resume follows */
    PHG_RESPOND = 2,  /* the hook answered with host->respond: the request ends there */
    PHG_FAIL = -1,    /* the hook cannot do its work: phiguard answers 500, audits it
                         (naming the plugin) and goes on serving other requests */
};

/* What an authenticator answers. */
enum phg_auth_result {
    PHG_AUTH_DECLINE = 0, /* not mine (no credential this plugin knows): the next authenticator */
    PHG_AUTH_OK = 1,      /* *identity is filled in */
    PHG_AUTH_REJECT = 2,  /* a credential of mine that is not valid: 401, audited as a failed login */
    PHG_AUTH_SUSPEND = 3, /* the hook called host->suspend; host->resume_auth follows */
    PHG_AUTH_FAIL = -1,   /* cannot decide (e.g. no keys loaded): 500, fail closed */
};

/* The identity an authenticator hands over. Its strings must stay valid
 * until the hook has returned to the host, which copies them then: keep
 * them in the plugin's state, in thread-local storage, or in a string the
 * host lent for the request (NUL-terminated: not a header's value), never
 * on the hook's own stack, which is gone once it returns. An identity given to resume_auth
 * is copied before resume_auth returns: after that the plugin may free or
 * reuse it. Roles are names of the policy's roles; names the policy does
 * not define are dropped and logged, so a user with none left holds no
 * permission. */
#define PHG_MAX_ROLES 16
struct phg_identity {
    const char *user_id;  /* stable id, e.g. the IdP's "iss|sub"; required */
    const char *username; /* for logs and audit; NULL: user_id */
    const char *roles[PHG_MAX_ROLES];
    int nroles;
    const char *method;   /* shown in X-Auth-Method and the audit record, e.g. "oidc" */
    int64_t expires_at;   /* Unix seconds the credential stops being valid; 0: unknown */
};

/* A JSON value of a body, offered to a body hook: a string (decoded UTF-8),
 * a number (its text) or a boolean ("true"/"false"). */
struct phg_json_value {
    const char *path; /* the logical field path: the selector's field name, e.g. Observation.note.text */
    int selector;     /* index into the plugin's body_fields that picked it */
    char type;        /* 's', 'n' or 'b' */
    const char *data;
    size_t len;
};

/* Where a body hook writes a replacement: up to cap bytes into data, the
 * length into *len, the type into *type ('s' string content, unescaped;
 * 'n' number text; 'b' "true"/"false").
 *
 * For a value of len bytes, cap is at least
 *     max(2 * len + 256, min(PHG_BODY_ROOM_PER_BYTE * len + 256, M))
 * where M is the proxy's limit on one value (phi.max_value_bytes, 64 KiB
 * by default): a short value may grow sixteenfold (a free-text detector
 * putting a ~100-byte token in place of each identifier), a long one
 * twofold, and no value costs more memory than twice its length. A
 * replacement that needs more cannot be made: the hook answers
 * PHG_BODY_FAIL (or PHG_BODY_REJECT) rather than pass the value as it
 * came. cap may be larger than that: use what it says. */
#define PHG_BODY_ROOM_PER_BYTE 16
struct phg_json_out {
    char *data;
    size_t cap;
    size_t len;
    char type;
};

enum phg_body_result {
    PHG_BODY_KEEP = 0,    /* the value goes on as it came */
    PHG_BODY_REPLACE = 1, /* out holds the replacement */
    PHG_BODY_REJECT = 2,  /* the client sent what must not pass (e.g. ciphertext it
                             cannot have made): the request is refused as the client's fault, 400
                             {"error": "plugin_rejected"}, audited naming the plugin; nothing of it
                             forwarded when it is held whole, the upstream connection cut
                             otherwise. In a response hook (the upstream's body, no client's
                             fault) it counts as PHG_BODY_FAIL. */
    PHG_BODY_FAIL = -1,   /* the body cannot be passed: the request is refused (500), nothing
                             of it forwarded when it is held whole (docs/phi.md, phi.hold_bytes),
                             the upstream connection cut otherwise */
};

enum phg_log_level { PHG_LOG_DEBUG, PHG_LOG_INFO, PHG_LOG_WARN, PHG_LOG_ERROR };

/* Severity of an alert a plugin raises (host->alert). */
enum phg_severity { PHG_SEV_LOW, PHG_SEV_MEDIUM, PHG_SEV_HIGH, PHG_SEV_CRITICAL };

/* The services phiguard gives a plugin. Every function takes the plugin's
 * handle or a lent request; none blocks. A member added by a later minor
 * version is present when host->size reaches past it. */
struct phg_host {
    uint32_t abi;  /* the host's ABI version */
    size_t size;   /* sizeof(struct phg_host) as the host was built */
    const char *version; /* phiguard's version text */

    /* One log line, prefixed with the plugin's name. Never log a value of
     * a PHI field or a credential. Any thread. */
    void (*log)(phg_plugin_handle *p, enum phg_log_level level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
    /* An alert (docs/monitoring.md): rule is a short name, detail a text
     * without PHI. Any thread. */
    void (*alert)(phg_plugin_handle *p, enum phg_severity severity, const char *rule, const char *detail);

    /* The request. Strings are NUL-terminated and valid while the request
     * is lent. */
    const char *(*request_id)(phg_request *r);
    const char *(*method)(phg_request *r);
    const char *(*target)(phg_request *r);    /* path and query as the client sent them */
    const char *(*client_ip)(phg_request *r);
    /* The first header of that name (case-insensitive), or NULL; *len its
     * length (values are not NUL-terminated). Request headers until the
     * response-headers hook; there, the response's. */
    const char *(*header)(phg_request *r, const char *name, size_t *len);
    /* Adds a header to the request on its way upstream (request hooks) or
     * to the response (response hooks). 0, or -1 for a name or value the
     * host refuses (CR, LF, NUL, a hop-by-hop or identity header). */
    int (*add_header)(phg_request *r, const char *name, const char *value);
    /* Removes every header of that name: 0, or -1 when refused. */
    int (*remove_header)(phg_request *r, const char *name);
    /* The authenticated user's id, or NULL before authentication or for an
     * anonymous request; its roles' names. */
    const char *(*user)(phg_request *r);
    int (*roles)(phg_request *r, const char **names, int cap);
    /* Does the request's user hold this policy permission? 1 yes, 0 no. */
    int (*has_permission)(phg_request *r, const char *permission);
    /* The upstream's status (response hooks); 0 before. */
    int (*status)(phg_request *r);
    /* Answers the request with status and a JSON body {"error": code,
     * "request_id": ...}; the hook then returns PHG_RESPOND. */
    void (*respond)(phg_request *r, int status, const char *code);

    /* Asynchronous hooks. suspend gives a ticket for r; the hook returns
     * PHG_SUSPEND (or PHG_AUTH_SUSPEND). Later, from any thread, exactly
     * one of resume or resume_auth redeems the ticket: the request goes on
     * on its own loop with that result (resume may come before the hook
     * has even returned: the request goes on only after). If the client
     * left meanwhile, or phiguard is stopping, the redeem only frees the
     * ticket. suspend is the loop's; resume and resume_auth any thread's,
     * and r may be used again only inside the hook's continuation, never
     * from another thread. */
    phg_pending *(*suspend)(phg_request *r);
    void (*resume)(phg_pending *t, enum phg_result result);
    /* id is copied before it returns; NULL unless result is PHG_AUTH_OK. */
    void (*resume_auth)(phg_pending *t, enum phg_auth_result result, const struct phg_identity *id);
    /* The loop of the worker that owns r, for plugins doing their own
     * non-blocking I/O with libevent. */
    struct event_base *(*event_base)(phg_request *r);

    /* PHI envelopes (docs/phi.md) under phiguard's keyring, so that a
     * plugin's ciphertext is what the core makes and opens. seal: value
     * (len bytes) becomes "phi:v1:..." (mode r, the field path as
     * associated data) in out (cap bytes); returns its length, or -1
     * (no keyring, cap too small). open: the reverse; returns the
     * plaintext's length, or -1 when the envelope does not open (the host
     * has logged and counted it; the plugin masks). Both work on the
     * loop; they never block. */
    long (*phi_seal)(phg_plugin_handle *p, const char *field_path, const char *value, size_t len, char *out,
                     size_t cap);
    long (*phi_open)(phg_plugin_handle *p, const char *field_path, const char *envelope, size_t len, char *out,
                     size_t cap);
};

/* What a plugin registers: fill in what it provides, leave the rest NULL.
 * state is passed back to every hook. */
struct phg_plugin {
    size_t size;      /* set by the host: sizeof(struct phg_plugin) as the host was built */
    const char *name; /* short, for logs, metrics and audit: [a-z0-9_-], required */
    void *state;

    /* After authorization, before the request body: may read and change
     * the headers going upstream, or answer. */
    enum phg_result (*request_headers)(void *state, phg_request *r);
    /* The upstream's response head, before phiguard's security headers
     * are added (not phiguard's own answers). While it is suspended, the
     * response is held and reading from the upstream pauses. */
    enum phg_result (*response_headers)(void *state, phg_request *r);
    /* In the authentication phase, for requests that carry no phiguard
     * session and no client certificate identity, in the order of the
     * config; the first that answers OK or REJECT decides. A Bearer token
     * that is not a valid phiguard token is offered too, its
     * Authorization header still readable (remove it if the upstream must
     * not see it); when every authenticator declines it, it is refused. */
    enum phg_auth_result (*authenticate)(void *state, phg_request *r, struct phg_identity *identity);

    /* Selectors (the policy's syntax: $.a.b, [*], ..name) of JSON body
     * values this plugin wants to see; body_field_names[i] names the field
     * (its logical path, given to the hook in value->path). On a request or
     * response whose content type is JSON, each selected string, number or
     * boolean goes through request_body_value (client to upstream) or
     * response_body_value (upstream to client) as the streaming rewriter
     * passes it. Values phiguard's PHI policy seals are offered before they
     * are sealed, and after they are opened or masked. */
    const char *const *body_fields;
    const char *const *body_field_names;
    int nbody_fields;
    enum phg_body_result (*request_body_value)(void *state, phg_request *r, const struct phg_json_value *v,
                                               struct phg_json_out *out);
    enum phg_body_result (*response_body_value)(void *state, phg_request *r, const struct phg_json_value *v,
                                                struct phg_json_out *out);

    /* Each audit record once it is sealed: record is its canonical JSON
     * (len bytes, the exact bytes hashed into the chain), chain its
     * writer's chain name. Called on the loop of the worker that wrote it:
     * copy and queue, never block. The record stays in phiguard's trail
     * whatever the sink does; a sink that cannot keep up drops and
     * counts. */
    void (*audit_record)(void *state, const char *chain, uint64_t seq, const char *record, size_t len);

    /* Workers are stopped; release everything. */
    void (*unload)(void *state);
};

/* The entry point. abi is the version phiguard loads the plugin under;
 * config_json the plugin's config block as JSON ("{}" when it has none).
 * Returns 0, or -1 after writing why (no value of a secret) into
 * err[errcap]: phiguard then refuses to start, naming the path and the
 * reason. It runs once, on the main thread, before the workers start: it
 * may block (read files, start threads). */
typedef int (*phg_entry_fn)(uint32_t abi, const struct phg_host *host, phg_plugin_handle *self,
                            const char *config_json, struct phg_plugin *plugin, char *err, size_t errcap);

#define PHG_ENTRY_SYMBOL "phiguard_plugin_entry"
#define PHG_ABI_SYMBOL "phiguard_plugin_abi"

/* In the plugin's one .c file: PHG_PLUGIN_DECLARE(my_entry); */
#define PHG_PLUGIN_DECLARE(entry)                                                                               \
    __attribute__((visibility("default"))) extern const uint32_t phiguard_plugin_abi;                          \
    __attribute__((visibility("default"))) const uint32_t phiguard_plugin_abi = PHG_ABI_CURRENT;               \
    __attribute__((visibility("default"))) int phiguard_plugin_entry(                                           \
        uint32_t abi, const struct phg_host *host, phg_plugin_handle *self, const char *config_json,            \
        struct phg_plugin *plugin, char *err, size_t errcap);                                                  \
    int phiguard_plugin_entry(uint32_t abi, const struct phg_host *host, phg_plugin_handle *self,               \
                              const char *config_json, struct phg_plugin *plugin, char *err, size_t errcap)     \
    {                                                                                                           \
        return entry(abi, host, self, config_json, plugin, err, errcap);                                        \
    }

#ifdef __cplusplus
}
#endif
#endif
