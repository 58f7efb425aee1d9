#ifndef PHIGUARD_CONFIG_H
#define PHIGUARD_CONFIG_H
/* phiguard.yaml, loaded into one immutable struct. A reload builds a new
 * struct; the running one is never modified. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "proxy/addr.h"

enum pg_client_auth { PG_CLIENT_AUTH_NONE, PG_CLIENT_AUTH_OPTIONAL, PG_CLIENT_AUTH_REQUIRE };
enum pg_log_level { PG_LOG_DEBUG, PG_LOG_INFO, PG_LOG_WARN, PG_LOG_ERROR };

struct pg_tls_config {
    char *certificate;      /* PEM chain, required */
    char *key;              /* PEM private key, required */
    int min_version;        /* TLS1_3_VERSION (default) or TLS1_2_VERSION */
    char *client_ca;        /* CA bundle for client certificates; NULL: no mTLS */
    enum pg_client_auth client_auth; /* default: require when client_ca is set */
};

struct pg_upstream_config {
    struct pg_addr addr;
    uint32_t connect_timeout_ms;  /* 502 when it passes */
    uint32_t response_timeout_ms; /* 504 when no response head within it */
    uint32_t idle_timeout_ms;     /* pooled connections closed after it */
    int max_idle;                 /* pooled idle connections per worker */
};

struct pg_limits_config {
    size_t max_header_bytes;   /* request head; 431 above */
    int max_headers;           /* 431 above */
    size_t max_body_bytes;     /* request body; 413 above */
    size_t max_response_header_bytes; /* upstream head; 502 above */
    int max_connections;       /* per worker; beyond it new connections are closed */
    int max_connections_per_ip; /* per worker and client address; 0: no such limit */
    size_t high_water_bytes;   /* buffered bytes per direction before reading pauses */
};

struct pg_timeouts_config {
    uint32_t header_read_ms;   /* first byte of a head to its end; 408 */
    uint32_t body_read_ms;     /* no body byte from the client for this long; 408 */
    uint32_t keepalive_ms;     /* idle client connection between requests */
    uint32_t send_ms;          /* a paused response not taken by the client for this long: closed */
    uint32_t handshake_ms;     /* TLS handshake */
    uint32_t drain_ms;         /* SIGTERM: time given to in-flight requests */
};

/* Each value is sent as-is on every response; NULL leaves the header out. */
struct pg_security_headers_config {
    char *strict_transport_security;
    char *x_content_type_options;
    char *x_frame_options;
    char *content_security_policy;
    char *referrer_policy;
};

/* A client authenticated by a certificate from tls.client_ca, by the
 * certificate's subject common name. */
struct pg_cert_identity {
    char *subject_cn;
    char *user;
    char **roles; /* role names, resolved against the running policy per request */
    int nroles;
};

/* The Redis that replicas share (sessions, lockout, MFA state). */
struct pg_redis_settings {
    char *address;              /* "host:port", "[v6]:port" or "unix:/path"; NULL: no Redis */
    char *username;             /* ACL user, or NULL */
    char *password_file;        /* the ACL password, read at start; NULL: no AUTH */
    int db;
    uint32_t connect_timeout_ms;
    uint32_t command_timeout_ms;
};
/* Password logins and sessions (docs/authentication.md). Session lifetimes,
 * lockout and break-glass are the policy's (sessions:, lockout:). */
struct pg_auth_config {
    char *users_file;           /* NULL: no password logins */
    char *token_key_file;       /* HS256 key for session tokens, >= 32 bytes */
    char *mfa_key_file;         /* AES-256 key for TOTP secrets at rest */
    char *assertion_key_file;   /* EC P-256 private key (PEM) for identity assertions; NULL: none sent */
    char *issuer;               /* token iss/aud and the TOTP issuer label */
    size_t argon2_memory;       /* bytes, for new hashes and the dummy verify */
    int argon2_passes, argon2_lanes;
    int argon2_max_queued;      /* verifications waiting at once; beyond: 503 */
    int argon2_threads;         /* the hashing pool's threads */
    int argon2_nice;            /* their niceness: proxied requests come first */
    int password_min_length;
    char *cookie_name;
    uint32_t session_cache_ms;  /* a worker trusts a session it checked this recently */
    uint32_t mfa_step_timeout_ms; /* password accepted, code not yet given */
    uint32_t assertion_ttl_ms;
    char *header_user, *header_user_id, *header_roles, *header_session, *header_assertion;
};
enum pg_audit_mode { PG_AUDIT_STRICT, PG_AUDIT_ASYNC };
/* The audit trail (docs/audit.md). Off while spool_dir is not set. */
struct pg_audit_config {
    char *spool_dir;            /* the write-ahead spool files, one per chain */
    enum pg_audit_mode mode;    /* strict: a response waits until its record is durable */
    char *signing_key_file;     /* Ed25519 private key (PEM) for checkpoints */
    char *key_name;             /* the name in checkpoint signatures */
    char *previous_public_keys; /* PEM public keys of earlier signing keys, still trusted */
    int checkpoint_records;     /* a checkpoint after this many records ... */
    uint32_t checkpoint_interval_ms; /* ... or this long after the last one, when records came */
    uint32_t heartbeat_ms;      /* a checkpoint this often even when idle */
    size_t memory_limit;        /* unacknowledged records kept in memory per chain; the rest stay in the spool */
    uint32_t verify_interval_ms; /* the whole trail is verified this often */
    size_t track_max_bytes;     /* modification tracking: bytes of a before/after body kept in the record */
    uint32_t track_timeout_ms;  /* modification tracking: the GET of the resource before a change */
};
enum pg_phi_scan { PG_PHI_SCAN_JSON, PG_PHI_SCAN_PHI_ROUTES };

enum pg_detect_action { PG_DETECT_ALERT, PG_DETECT_BLOCK, PG_DETECT_END_SESSION };
enum pg_detect_rule {
    PG_DETECT_FAILED_LOGINS_USER,
    PG_DETECT_FAILED_LOGINS_IP,
    PG_DETECT_FORBIDDEN_BURST,
    PG_DETECT_PHI_EXFILTRATION,
    PG_DETECT_MALFORMED_IP,
    PG_DETECT_RULES
};

struct pg_detect_rule_config {
    int threshold;       /* events in the window that fire the rule; 0: off */
    uint32_t window_ms;
    int action;          /* enum pg_detect_action */
    uint32_t block_ms;   /* action block: for how long */
};

struct pg_alerts_config {
    char *webhook_url;          /* http:// or https://; NULL: alerts go to Redis and the log only */
    int webhook_format;         /* enum pg_webhook_format: json, slack, pagerduty */
    int webhook_min_severity;   /* 0 low .. 3 critical */
    char *pagerduty_routing_key_file;
    char *webhook_ca_file;      /* CA bundle for an https webhook; default: the system's */
    uint32_t webhook_timeout_ms;
    int webhook_retries;
    int webhook_queue;          /* alerts waiting at most; more are dropped and counted */
};

struct pg_phi_config {
    char *keyring_file;         /* the PHI keyring; NULL: no PHI encryption (a policy with PHI fields then refuses to start) */
    size_t hold_bytes;          /* a rewritten request body up to this size is held, then sent whole */
    size_t max_value_bytes;     /* one PHI value at most */
    enum pg_phi_scan scan_responses; /* json: every JSON response is checked for stray envelopes */
};

/* Rate limits are the policy's (rate_limits:, login_limits:); this is the
 * room the process gives the local ones. */
struct pg_ratelimit_config {
    int local_max_keys; /* clients remembered at once for local limits, all workers together */
};

/* A plugin to load at start (docs/plugins.md). */
struct pg_plugin_config {
    char *path;        /* the shared object, absolute */
    char *config_json; /* its config block as JSON text; "{}" when it has none */
};

struct pg_config {
    char *path;                /* the file it was loaded from */
    struct pg_addr listen;
    int workers;               /* 0 in the file: one per core */
    char *instance_id;         /* default: $POD_NAME, else the host name */
    struct pg_tls_config tls;
    struct pg_upstream_config upstream;
    struct pg_addr admin_listen; /* plain HTTP: /healthz /readyz */
    struct pg_limits_config limits;
    struct pg_timeouts_config timeouts;
    struct pg_security_headers_config security_headers;
    enum pg_log_level log_level;
    bool access_log;
    char *policy_file; /* the access policy; NULL: no RBAC phase (warned at start) */
    struct pg_cert_identity *cert_identities;
    int n_cert_identities;
    struct pg_redis_settings redis;
    struct pg_auth_config auth;
    struct pg_audit_config audit;
    struct pg_phi_config phi;
    struct pg_ratelimit_config ratelimit;
    struct pg_alerts_config alerts;
    struct pg_detect_rule_config detection[PG_DETECT_RULES]; /* by enum pg_detect_rule */
    struct pg_plugin_config *plugins; /* in the order of the file: hooks run in that order */
    int nplugins;
};

/* Loads and validates FILE. On error returns -1 and writes every error, one
 * per line, each as "FILE:LINE:COL: KEY: what was expected", into err. */
int pg_config_load(const char *file, struct pg_config *out, char *err, size_t errlen);
/* The same for the len bytes at data, read as if from FILE (which names it
 * in errors and anchors its relative paths); the file is not opened. */
int pg_config_load_buffer(const char *file, const char *data, size_t len, struct pg_config *out, char *err,
                          size_t errlen);
void pg_config_free(struct pg_config *cfg);

#endif
