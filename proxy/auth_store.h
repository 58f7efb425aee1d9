#ifndef PHIGUARD_AUTH_STORE_H
#define PHIGUARD_AUTH_STORE_H
/* What password logins need that is not per request: the users file (a
 * refcounted snapshot, swapped whole on reload, like the policy) and the
 * secrets read at start: the session-token key, the key that encrypts TOTP
 * secrets at rest and the identity-assertion signing key. */
#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>

#include "policy/password.h"
#include "policy/token.h"
#include "policy/users.h"
#include "proxy/config.h"

struct pg_auth_secrets {
    struct pg_token_key token;
    unsigned char mfa_key[32];
    char *assertion_pem;  /* EC P-256 private key, or NULL */
    size_t assertion_pem_len;
    struct pg_argon2_params argon2;
    char *redis_password; /* from redis.password_file, or NULL */
};

/* Start-up, main thread: reads every file and logs each problem; -1 when
 * password logins are configured and anything is wrong. 0 with logins off
 * when auth.users_file is not set. */
int pg_auth_store_init(const struct pg_config *cfg);
bool pg_auth_enabled(void);
/* A reference to the current users file (pg_users_unref when done). */
struct pg_users *pg_auth_users(void);
const struct pg_auth_secrets *pg_auth_secrets(void);
/* Rereads the users file off the loop; a bad file keeps the running one. */
void pg_auth_store_reload(struct event_base *base);
void pg_auth_store_shutdown(void);

#endif
