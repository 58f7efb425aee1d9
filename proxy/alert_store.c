#include "proxy/alert_store.h"

#include <stdio.h>
#include <string.h>

#include "proxy/redis_script.h"

/* KEYS: alert:list, alert:acks; ARGV: how many of the newest alerts. */
static const char list_lua[] =
    "local out = {}\n"
    "for _, a in ipairs(redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)) do\n"
    "  local id = string.match(a, '^{\"id\":\"(%x+)\"')\n"
    "  out[#out + 1] = a\n"
    "  out[#out + 1] = id and redis.call('HGET', KEYS[2], id) or false\n"
    "end\n"
    "return out\n";

/* KEYS: alert:list, alert:acks; ARGV: id, acknowledgement. The id must be
 * one of the kept alerts: an acknowledgement of nothing is refused. */
static const char ack_lua[] =
    "local want = '{\"id\":\"' .. ARGV[1] .. '\"'\n"
    "for _, a in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do\n"
    "  if string.sub(a, 1, #want) == want then\n"
    "    return redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2])\n"
    "  end\n"
    "end\n"
    "return -1\n";

static struct pg_redis_script *list_script, *ack_script;

int pg_alert_store_scripts_init(void)
{
    if (!list_script)
        list_script = pg_redis_script_new(list_lua);
    if (!ack_script)
        ack_script = pg_redis_script_new(ack_lua);
    return list_script && ack_script ? 0 : -1;
}

void pg_alert_store_scripts_free(void)
{
    pg_redis_script_free(list_script);
    pg_redis_script_free(ack_script);
    list_script = ack_script = NULL;
}

enum pg_redis_status pg_alert_store_list(struct pg_redis *r, int scan, pg_redis_cb cb, void *arg)
{
    char n[16];
    snprintf(n, sizeof n, "%d", scan);
    const char *argv[] = {"alert:list", "alert:acks", n};
    return pg_redis_script_run(r, list_script, cb, arg, 2, 3, argv, NULL);
}

enum pg_redis_status pg_alert_store_ack(struct pg_redis *r, const char *id, const char *ack_json, pg_redis_cb cb,
                                        void *arg)
{
    const char *argv[] = {"alert:list", "alert:acks", id, ack_json};
    return pg_redis_script_run(r, ack_script, cb, arg, 2, 4, argv, NULL);
}
