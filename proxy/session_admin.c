#include "proxy/session_admin.h"

#include <stdlib.h>

#include "proxy/redis_script.h"

/* ARGV: user ids. Sessions whose hash expired are skipped (the per-user
 * set is tidied when the user next signs in). */
static const char list_lua[] =
    "local out = {}\n"
    "for _, uid in ipairs(ARGV) do\n"
    "  for _, sid in ipairs(redis.call('ZRANGE', '{u:' .. uid .. '}:sessions', 0, -1)) do\n"
    "    local v = redis.call('HMGET', '{u:' .. uid .. '}:s:' .. sid, 'user', 'roles', 'ip', 'created', 'last', "
    "'abs', 'bg')\n"
    "    if v[1] then\n"
    "      out[#out + 1] = uid; out[#out + 1] = sid\n"
    "      for i = 1, 7 do out[#out + 1] = v[i] or '' end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return out\n";

static const char figures_lua[] =
    "local live, mfa = 0, 0\n"
    "for _, uid in ipairs(ARGV) do\n"
    "  for _, sid in ipairs(redis.call('ZRANGE', '{u:' .. uid .. '}:sessions', 0, -1)) do\n"
    "    live = live + redis.call('EXISTS', '{u:' .. uid .. '}:s:' .. sid)\n"
    "  end\n"
    "  if redis.call('HEXISTS', '{u:' .. uid .. '}:totp', 'secret') == 1 then mfa = mfa + 1 end\n"
    "end\n"
    "local total, open = 0, {low = 0, medium = 0, high = 0, critical = 0}\n"
    "for _, a in ipairs(redis.call('LRANGE', 'alert:list', 0, -1)) do\n"
    "  total = total + 1\n"
    "  local id, sev = string.match(a, '^{\"id\":\"(%x+)\".-\"severity\":\"(%a+)\"')\n"
    "  if id and open[sev] and redis.call('HEXISTS', 'alert:acks', id) == 0 then open[sev] = open[sev] + 1 end\n"
    "end\n"
    "return {live, mfa, total, open.low, open.medium, open.high, open.critical}\n";

static struct pg_redis_script *list_script, *figures_script;

int pg_session_admin_scripts_init(void)
{
    if (!list_script)
        list_script = pg_redis_script_new(list_lua);
    if (!figures_script)
        figures_script = pg_redis_script_new(figures_lua);
    return list_script && figures_script ? 0 : -1;
}

void pg_session_admin_scripts_free(void)
{
    pg_redis_script_free(list_script);
    pg_redis_script_free(figures_script);
    list_script = figures_script = NULL;
}

static enum pg_redis_status run(struct pg_redis *r, const struct pg_redis_script *s, const char *const *uids, int n,
                                pg_redis_cb cb, void *arg)
{
    return pg_redis_script_run(r, s, cb, arg, 0, n, (const char **)uids, NULL);
}

enum pg_redis_status pg_session_admin_list(struct pg_redis *r, const char *const *uids, int n, pg_redis_cb cb,
                                           void *arg)
{
    return run(r, list_script, uids, n, cb, arg);
}

enum pg_redis_status pg_session_admin_figures(struct pg_redis *r, const char *const *uids, int n, pg_redis_cb cb,
                                              void *arg)
{
    return run(r, figures_script, uids, n, cb, arg);
}
