#include "proxy/mfa_store.h"

#include <stdio.h>
#include <string.h>

#include "proxy/redis_script.h"

/* KEYS: totp. ARGV: step, pending blob ('' when only logging in) */
static const char accept_lua[] =
    "local last = tonumber(redis.call('HGET', KEYS[1], 'last_step') or '0')\n"
    "if tonumber(ARGV[1]) <= last then return 0 end\n"
    "if ARGV[2] ~= '' then\n"
    "  if redis.call('HGET', KEYS[1], 'pending') ~= ARGV[2] then return -1 end\n"
    "  redis.call('HSET', KEYS[1], 'secret', ARGV[2])\n"
    "  redis.call('HDEL', KEYS[1], 'pending')\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'last_step', ARGV[1])\n"
    "return 1\n";

static struct pg_redis_script *accept_script;

int pg_mfa_scripts_init(void)
{
    if (!accept_script)
        accept_script = pg_redis_script_new(accept_lua);
    return accept_script ? 0 : -1;
}

void pg_mfa_scripts_free(void)
{
    pg_redis_script_free(accept_script);
    accept_script = NULL;
}

enum pg_redis_status pg_mfa_load(struct pg_redis *r, const char *uid, pg_redis_cb cb, void *arg)
{
    return pg_redis_command(r, cb, arg, "HMGET {u:%s}:totp secret pending last_step", uid);
}

enum pg_redis_status pg_mfa_set_pending(struct pg_redis *r, const char *uid, const unsigned char *blob, size_t len,
                                        pg_redis_cb cb, void *arg)
{
    return pg_redis_command(r, cb, arg, "HSET {u:%s}:totp pending %b", uid, blob, len);
}

enum pg_redis_status pg_mfa_accept(struct pg_redis *r, const char *uid, uint64_t step, const unsigned char *pending,
                                   size_t pending_len, pg_redis_cb cb, void *arg)
{
    char key[200], st[24];
    snprintf(key, sizeof key, "{u:%s}:totp", uid);
    snprintf(st, sizeof st, "%llu", (unsigned long long)step);
    const char *argv[] = {key, st, pending ? (const char *)pending : ""};
    size_t lens[] = {0, 0, pending ? pending_len : 0};
    for (int i = 0; i < 2; i++)
        lens[i] = strlen(argv[i]);
    return pg_redis_script_run(r, accept_script, cb, arg, 1, 3, argv, lens);
}

enum pg_redis_status pg_mfa_ticket_new(struct pg_redis *r, const char *ticket, const char *uid, int64_t ttl_ms,
                                       pg_redis_cb cb, void *arg)
{
    return pg_redis_command(r, cb, arg, "SET mfa:%s %s PX %lld", ticket, uid, (long long)ttl_ms);
}

enum pg_redis_status pg_mfa_ticket_get(struct pg_redis *r, const char *ticket, pg_redis_cb cb, void *arg)
{
    return pg_redis_command(r, cb, arg, "GET mfa:%s", ticket);
}

enum pg_redis_status pg_mfa_ticket_del(struct pg_redis *r, const char *ticket, pg_redis_cb cb, void *arg)
{
    return pg_redis_command(r, cb, arg, "DEL mfa:%s", ticket);
}
