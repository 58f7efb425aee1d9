#ifndef PHIGUARD_REDIS_H
#define PHIGUARD_REDIS_H
/* A Redis client on one event loop (hiredis 0.14's async API): one
 * connection for commands and, once something subscribes, a second one for
 * pub/sub. It reconnects with capped, jittered backoff; refuses at once while
 * disconnected or when max_inflight commands are outstanding (the caller then
 * falls back or fails closed, its choice); answers each command exactly once,
 * with Redis's reply or with a timeout or disconnection. It never blocks and
 * never queues without bound.
 *
 * Threading: a client belongs to the loop it was created on; call it only
 * from that loop's thread. Never call pg_redis_free from inside one of its
 * own callbacks. The process must ignore SIGPIPE (phiguard serve does), or a
 * write to a Redis that went away kills it. */
#include "proxy/metrics.h"
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pg_redis_config {
    /* "unix:/path", "192.0.2.7:6379", "[2001:db8::7]:6379" or "name:6379";
     * a name is resolved with evdns, off the loop's critical path, at each
     * connection attempt. */
    const char *address;
    const char *username;        /* ACL user for AUTH (Redis 6+), or NULL */
    const char *password;        /* AUTH after each connect, or NULL */
    int db;                      /* SELECT after each connect when > 0 */
    uint32_t connect_timeout_ms; /* connect and handshake; 0: 2000 */
    uint32_t command_timeout_ms; /* 0: 1000 */
    int max_inflight;            /* 0: 10000 */
    uint32_t health_interval_ms; /* PING period; 0: 1000 */
};

enum pg_redis_status {
    PG_REDIS_OK,           /* reply is Redis's answer */
    PG_REDIS_ERR_REPLY,    /* reply is an error reply; reply->str says why */
    PG_REDIS_DISCONNECTED, /* no connection, or it went away before the answer */
    PG_REDIS_TIMEOUT,      /* no answer within command_timeout_ms */
    PG_REDIS_OVERLOADED,   /* max_inflight commands already outstanding */
};

const char *pg_redis_status_name(enum pg_redis_status st);

/* reply is non-NULL exactly for OK and ERR_REPLY. It is hiredis's reply
 * object, lent for the duration of the call only: copy what you keep, never
 * free it. */
typedef void (*pg_redis_cb)(enum pg_redis_status st, const redisReply *reply, void *arg);

struct pg_redis;

/* Checks an address as pg_redis_new will take it (for config validation). */
bool pg_redis_address_valid(const char *address);

/* Starts connecting at once and returns; NULL on a bad address or no memory.
 * on_connect (may be NULL) runs on the loop after each (re)connection, once
 * AUTH and SELECT succeeded and the server answered a PING: the place to
 * replay what was held back while Redis was away. */
struct pg_redis *pg_redis_new(struct event_base *base, const struct pg_redis_config *cfg, void (*on_connect)(void *),
                              void *arg);

/* Sends a command. PG_REDIS_OK: cb will run exactly once, later, from the
 * loop (never from inside this call). Anything else: nothing was sent, cb
 * will not run, and the status says why. argvlen may be NULL (strlen). */
enum pg_redis_status pg_redis_command_argv(struct pg_redis *r, pg_redis_cb cb, void *arg, int argc,
                                           const char **argv, const size_t *argvlen);
/* The same with the command already in the Redis protocol (an array of
 * bulk strings, pg_redis_resp_* below), so that a large batch is not
 * formatted again argument by argument. cmd is copied. */
enum pg_redis_status pg_redis_command_resp(struct pg_redis *r, pg_redis_cb cb, void *arg, const char *cmd, size_t len);

/* Writing the Redis protocol: the room an array head or a bulk string of n
 * bytes takes at most, and writers that return the end of what they wrote. */
#define PG_REDIS_RESP_HEAD_MAX 24 /* "*" or "$", 20 digits, CR LF */
#define PG_REDIS_RESP_BULK_MAX(n) (PG_REDIS_RESP_HEAD_MAX + (n) + 2)
char *pg_redis_resp_array(char *p, size_t count);
char *pg_redis_resp_bulk(char *p, const void *data, size_t n);

/* A callback for commands whose answer nobody needs (a best-effort
 * cleanup); failures are counted in the stats. */
void pg_redis_discard(enum pg_redis_status st, const redisReply *reply, void *arg);
/* The same with hiredis's format ("SET %s %b", key, value, len). */
enum pg_redis_status pg_redis_command(struct pg_redis *r, pg_redis_cb cb, void *arg, const char *fmt, ...);

/* Writes the commands queued so far to the socket now, rather than when the
 * loop next polls it for writing (after whatever else that pass handles):
 * for a caller whose callers wait on the answer. A failed write is handled
 * as on the loop (the commands are answered DISCONNECTED). Not from inside
 * this client's callbacks (it then does nothing). */
void pg_redis_flush(struct pg_redis *r);

enum pg_redis_sub_event {
    PG_REDIS_SUB_READY,   /* subscribed on a fresh connection */
    PG_REDIS_SUB_MESSAGE, /* payload/len hold a published message */
    PG_REDIS_SUB_LOST,    /* the connection went away: messages may be missed
                             until the next READY, so stop trusting caches */
};
/* payload is lent for the duration of the call only. */
typedef void (*pg_redis_sub_cb)(enum pg_redis_sub_event ev, const char *payload, size_t len, void *arg);

/* Subscribes to channel on the client's pub/sub connection (opened on the
 * first subscription) and again after every reconnection, until
 * pg_redis_free. One subscription per channel: 0, or -1 when the channel is
 * already subscribed or memory ran out. */
int pg_redis_subscribe(struct pg_redis *r, const char *channel, pg_redis_sub_cb cb, void *arg);

struct pg_redis_stats {
    uint64_t sent;                 /* commands accepted */
    uint64_t replies;              /* answered by Redis (errors included) */
    uint64_t error_replies;        /* of which error replies */
    uint64_t timeouts;             /* answered with TIMEOUT */
    uint64_t disconnected;         /* answered with DISCONNECTED after being sent */
    uint64_t late_replies;         /* replies that came after their timeout */
    uint64_t refused_disconnected; /* refused at once: no connection */
    uint64_t refused_overloaded;   /* refused at once: max_inflight */
    uint64_t connects;             /* successful (re)connections, both links */
    uint64_t connect_failures;     /* failed attempts, both links */
    uint64_t disconnects;          /* established connections lost, both links */
    uint64_t messages;             /* pub/sub messages delivered */
    int64_t last_ping_us;          /* round trip of the last answered PING; -1 before any */
    struct pg_histogram latency;   /* sent to answered, commands answered by Redis */
    int inflight;                  /* commands sent and not yet answered by hiredis */
    bool connected;                /* the command connection is ready */
    bool healthy;                  /* connected and the last PING was answered in time */
};

void pg_redis_get_stats(const struct pg_redis *r, struct pg_redis_stats *out);
bool pg_redis_connected(const struct pg_redis *r);
bool pg_redis_healthy(const struct pg_redis *r);
int pg_redis_inflight(const struct pg_redis *r);

/* Closes both connections. Commands still outstanding are answered with
 * DISCONNECTED from inside this call; subscribers hear nothing more. */
void pg_redis_free(struct pg_redis *r);

#endif
