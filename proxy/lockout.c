#include "proxy/lockout.h"

#include <stdio.h>

#include "proxy/redis_script.h"

/* KEYS: fails, lock. ARGV: max window duration */
static const char fail_lua[] =
    "local n = redis.call('INCR', KEYS[1])\n"
    "if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end\n"
    "if n >= tonumber(ARGV[1]) then\n"
    "  local fresh = redis.call('SET', KEYS[2], '1', 'PX', ARGV[3], 'NX')\n"
    "  redis.call('DEL', KEYS[1])\n"
    "  return {n, fresh and 1 or 0}\n"
    "end\n"
    "return {n, 0}\n";

static struct pg_redis_script *fail_script;

int pg_lockout_scripts_init(void)
{
    if (!fail_script)
        fail_script = pg_redis_script_new(fail_lua);
    return fail_script ? 0 : -1;
}

void pg_lockout_scripts_free(void)
{
    pg_redis_script_free(fail_script);
    fail_script = NULL;
}

enum pg_redis_status pg_lockout_check(struct pg_redis *r, const char *uid, pg_redis_cb cb, void *arg)
{
    return pg_redis_command(r, cb, arg, "PTTL {u:%s}:lock", uid);
}

enum pg_redis_status pg_lockout_fail(struct pg_redis *r, const char *uid, int max_failures, int64_t window_ms,
                                     int64_t duration_ms, pg_redis_cb cb, void *arg)
{
    char fails[200], lock[200], max[16], win[24], dur[24];
    snprintf(fails, sizeof fails, "{u:%s}:fails", uid);
    snprintf(lock, sizeof lock, "{u:%s}:lock", uid);
    snprintf(max, sizeof max, "%d", max_failures);
    snprintf(win, sizeof win, "%lld", (long long)window_ms);
    snprintf(dur, sizeof dur, "%lld", (long long)duration_ms);
    const char *argv[] = {fails, lock, max, win, dur};
    return pg_redis_script_run(r, fail_script, cb, arg, 2, 5, argv, NULL);
}

enum pg_redis_status pg_lockout_reset(struct pg_redis *r, const char *uid, pg_redis_cb cb, void *arg)
{
    return pg_redis_command(r, cb, arg, "DEL {u:%s}:fails", uid);
}
