#ifndef PHIGUARD_REDIS_SCRIPT_H
#define PHIGUARD_REDIS_SCRIPT_H
/* Lua scripts run by their SHA-1 (EVALSHA), so a script's body crosses the
 * network once per Redis server rather than with every call. When Redis does
 * not know the script (a restart, a failover, SCRIPT FLUSH) the helper loads
 * it and retries once, pipelined, in the same round trip. */
#include "proxy/redis.h"

struct pg_redis_script;

/* Copies body; NULL when out of memory. */
struct pg_redis_script *pg_redis_script_new(const char *body);
/* Lowercase hex SHA-1 of the body, as Redis names the script. */
const char *pg_redis_script_sha(const struct pg_redis_script *s);
/* Only once no run of it is outstanding (e.g. after pg_redis_free). */
void pg_redis_script_free(struct pg_redis_script *s);

/* EVALSHA sha numkeys argv[0..argc-1]: the first numkeys arguments are keys,
 * the rest ARGV. Returns and calls back as pg_redis_command_argv does; the
 * arguments are copied, so they need not outlive the call; the script must
 * outlive the run. A NOSCRIPT answer is passed on only if the retry gets it
 * too. PG_REDIS_ERR_REPLY, with nothing sent, when numkeys > argc. */
enum pg_redis_status pg_redis_script_run(struct pg_redis *r, const struct pg_redis_script *s, pg_redis_cb cb,
                                         void *arg, int numkeys, int argc, const char **argv, const size_t *argvlen);

/* The same with the arguments already in the Redis protocol: args holds
 * argc bulk strings (pg_redis_resp_bulk), the first numkeys of them keys.
 * Batches of records are written straight into the command this way
 * instead of through an argument vector that is copied and formatted
 * again. args is copied (and kept for the retry). */
enum pg_redis_status pg_redis_script_run_resp(struct pg_redis *r, const struct pg_redis_script *s, pg_redis_cb cb,
                                              void *arg, int numkeys, int argc, const char *args, size_t len);

#endif
