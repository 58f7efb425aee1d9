#ifndef PHIGUARD_REDIS_H
#define PHIGUARD_REDIS_H
/* A Redis client on one event loop (hiredis's async API): reconnects with
 * capped, jittered backoff; fails fast while disconnected or overloaded
 * (the caller then falls back or fails closed, its choice); times out each
 * command once. It never blocks and never queues without bound. */
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdint.h>

struct pg_redis_config {
    const char *address;        /* "127.0.0.1:6379" (numeric) or "unix:/path" */
    const char *password;       /* AUTH after each connect, or NULL */
    uint32_t connect_timeout_ms;
    uint32_t command_timeout_ms;
    int max_inflight;
};

enum pg_redis_status {
    PG_REDIS_OK,           /* reply is Redis's answer (it may be an error reply) */
    PG_REDIS_DISCONNECTED, /* the connection went away before the answer */
    PG_REDIS_TIMEOUT,      /* no answer within command_timeout_ms */
};

/* reply is valid only during the call: copy what you keep. */
typedef void (*pg_redis_cb)(enum pg_redis_status st, const redisReply *reply, void *arg);

struct pg_redis;

/* on_connect runs on the loop after each successful (re)connection. */
struct pg_redis *pg_redis_new(struct event_base *base, const struct pg_redis_config *cfg, void (*on_connect)(void *),
                              void *arg);
/* Sends a command. Returns 0 when sent (cb will run exactly once, from the
 * loop), or -1 when not sent: disconnected, or max_inflight reached. */
int pg_redis_command(struct pg_redis *r, pg_redis_cb cb, void *arg, int argc, const char **argv, const size_t *argvlen);
bool pg_redis_connected(const struct pg_redis *r);
int pg_redis_inflight(const struct pg_redis *r);
/* Pending commands get PG_REDIS_DISCONNECTED. */
void pg_redis_free(struct pg_redis *r);

#endif
