#ifndef PHIGUARD_POLICY_STORE_H
#define PHIGUARD_POLICY_STORE_H
/* The running access policy: one immutable snapshot, swapped whole on
 * reload. A request takes its own reference when it is decided, so it
 * finishes under the policy it started with. */
#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

#include "policy/policy.h"

/* Loads FILE now (start-up, main thread). Logs every error; -1 on error. */
int pg_policy_store_init(const char *file);
/* Reload off the loop (work queue); the swap happens on base. A bad file
 * keeps the running policy and logs every error with its line:column. */
void pg_policy_store_reload(struct event_base *base);
/* A reference to the current policy, or NULL when none is configured. */
struct pg_policy *pg_policy_store_get(void);
bool pg_policy_store_configured(void);
/* JSON for the admin listener: {"file":..,"sha256":..,...}. */
void pg_policy_store_describe(char *buf, size_t len);
void pg_policy_store_shutdown(void);
/* Called on the main loop after each swap (old is NULL at start), while
 * both are alive: what the audit trail records of a reload. */
void pg_policy_store_on_change(void (*fn)(const struct pg_policy *old, const struct pg_policy *now, void *arg),
                               void *arg);

#endif
