#include "proxy/session.h"

#include <ctype.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proxy/config.h"
#include "proxy/redis_script.h"

/* Times inside the scripts come from Redis's clock, so replicas whose
 * clocks differ still agree on when a session ends. */
#define NOW_MS "local t = redis.call('TIME'); local now = t[1] * 1000 + math.floor(t[2] / 1000)\n"

/* KEYS: list, session. ARGV: sid idle max end_oldest prefix channel uid user roles ip abs_lifetime */
static const char create_lua[] = NOW_MS
    "local ended = {}\n"
    "for _, s in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do\n"
    "  if redis.call('EXISTS', ARGV[5] .. s) == 0 then redis.call('ZREM', KEYS[1], s) end\n"
    "end\n"
    "local max = tonumber(ARGV[3])\n"
    "local n = redis.call('ZCARD', KEYS[1])\n"
    "if max > 0 and n >= max then\n"
    "  if ARGV[4] ~= '1' then return {0} end\n"
    "  for _, s in ipairs(redis.call('ZRANGE', KEYS[1], 0, n - max)) do\n"
    "    redis.call('DEL', ARGV[5] .. s); redis.call('ZREM', KEYS[1], s)\n"
    "    redis.call('PUBLISH', ARGV[6], ARGV[7] .. ' ' .. s); table.insert(ended, s)\n"
    "  end\n"
    "end\n"
    "local abs = now + tonumber(ARGV[11])\n"
    "redis.call('HSET', KEYS[2], 'uid', ARGV[7], 'user', ARGV[8], 'roles', ARGV[9], 'ip', ARGV[10],\n"
    "           'created', now, 'last', now, 'abs', abs, 'bg', 0)\n"
    "redis.call('PEXPIRE', KEYS[2], math.min(tonumber(ARGV[2]), tonumber(ARGV[11])))\n"
    "redis.call('ZADD', KEYS[1], now, ARGV[1])\n"
    "redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[11]))\n"
    "local out = {1, now, abs}\n"
    "for _, s in ipairs(ended) do table.insert(out, s) end\n"
    "return out\n";

/* KEYS: session. ARGV: idle */
static const char fetch_lua[] = NOW_MS
    "local v = redis.call('HMGET', KEYS[1], 'uid', 'user', 'roles', 'abs', 'ip', 'bg', 'created')\n"
    "if not v[1] then return false end\n"
    "local left = tonumber(v[4]) - now\n"
    "if left <= 0 then redis.call('DEL', KEYS[1]); return false end\n"
    "redis.call('HSET', KEYS[1], 'last', now)\n"
    "redis.call('PEXPIRE', KEYS[1], math.min(tonumber(ARGV[1]), left))\n"
    "return v\n";

/* KEYS: list, session or ''. ARGV: prefix channel uid sid-or-* */
static const char end_lua[] =
    "local n = 0\n"
    "local victims = {}\n"
    "if ARGV[4] == '*' then victims = redis.call('ZRANGE', KEYS[1], 0, -1) else victims = {ARGV[4]} end\n"
    "for _, s in ipairs(victims) do\n"
    "  n = n + redis.call('DEL', ARGV[1] .. s); redis.call('ZREM', KEYS[1], s)\n"
    "end\n"
    "redis.call('PUBLISH', ARGV[2], ARGV[3] .. ' ' .. ARGV[4])\n"
    "return n\n";

/* KEYS: session. ARGV: window */
static const char break_glass_lua[] = NOW_MS
    "local abs = redis.call('HGET', KEYS[1], 'abs')\n"
    "if not abs then return 0 end\n"
    "local bg = tonumber(redis.call('HGET', KEYS[1], 'bg'))\n"
    "if bg == 0 then\n"
    "  bg = now\n"
    "  abs = math.min(tonumber(abs), now + tonumber(ARGV[1]))\n"
    "  redis.call('HSET', KEYS[1], 'bg', bg, 'abs', abs)\n"
    "  redis.call('PEXPIRE', KEYS[1], math.max(1, math.min(redis.call('PTTL', KEYS[1]), abs - now)))\n"
    "end\n"
    "return 1\n";

static struct pg_redis_script *create_script, *fetch_script, *end_script, *break_glass_script;

int pg_session_scripts_init(void)
{
    if (create_script)
        return 0;
    create_script = pg_redis_script_new(create_lua);
    fetch_script = pg_redis_script_new(fetch_lua);
    end_script = pg_redis_script_new(end_lua);
    break_glass_script = pg_redis_script_new(break_glass_lua);
    if (!create_script || !fetch_script || !end_script || !break_glass_script) {
        pg_session_scripts_free();
        return -1;
    }
    return 0;
}

void pg_session_scripts_free(void)
{
    pg_redis_script_free(create_script);
    pg_redis_script_free(fetch_script);
    pg_redis_script_free(end_script);
    pg_redis_script_free(break_glass_script);
    create_script = fetch_script = end_script = break_glass_script = NULL;
}

struct pg_session_ref *pg_session_ref_new(const struct pg_session *s)
{
    struct pg_session_ref *r = malloc(sizeof *r);
    if (!r)
        return NULL;
    r->refs = 1;
    r->s = *s;
    pg_session_split_roles(&r->s); /* its role pointers must point into its own copy */
    return r;
}

struct pg_session_ref *pg_session_ref_hold(struct pg_session_ref *r)
{
    r->refs++;
    return r;
}

void pg_session_ref_release(struct pg_session_ref *r)
{
    if (r && --r->refs == 0)
        free(r);
}

int64_t pg_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int pg_session_new_id(char out[64])
{
    /* 192 random bits in base64url: short, because every request carries
     * the token that holds it. */
    static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char rnd[24];
    if (RAND_bytes(rnd, sizeof rnd) != 1)
        return -1;
    for (int i = 0; i < 8; i++) {
        unsigned v = (unsigned)rnd[3 * i] << 16 | (unsigned)rnd[3 * i + 1] << 8 | rnd[3 * i + 2];
        for (int k = 0; k < 4; k++)
            out[4 * i + k] = b64url[(v >> (18 - 6 * k)) & 63];
    }
    out[PG_SESSION_ID_LEN] = '\0';
    return 0;
}

bool pg_session_id_valid(const char *s)
{
    size_t n = strlen(s);
    if (n != PG_SESSION_ID_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '_'))
            return false;
    return true;
}

void pg_session_split_roles(struct pg_session *s)
{
    snprintf(s->roles_buf, sizeof s->roles_buf, "%s", s->roles_csv);
    s->nroles = 0;
    char *save = NULL;
    for (char *t = strtok_r(s->roles_buf, ",", &save); t && s->nroles < PG_SESSION_MAX_ROLES;
         t = strtok_r(NULL, ",", &save))
        s->roles[s->nroles++] = t;
}

void pg_session_render_headers(struct pg_session *s, const struct pg_auth_config *a)
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)s->sid, strlen(s->sid), d);
    char hex[33];
    for (int i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    int n = snprintf(s->headers, sizeof s->headers,
                     "%s: %s\r\n%s: %s\r\n%s: %s\r\n%s: %s\r\nX-Auth-Method: password\r\n", a->header_user,
                     s->username, a->header_user_id, s->uid, a->header_roles, s->roles_csv, a->header_session, hex);
    /* Names and values are bounded well below the buffer; a cut block
     * would be a broken header, so none is sent instead. */
    s->headers_len = n > 0 && (size_t)n < sizeof s->headers ? (size_t)n : 0;
}

static void key_names(const char *uid, const char *sid, char *list, size_t ll, char *prefix, size_t pl, char *sess,
                      size_t sl)
{
    snprintf(list, ll, "{u:%s}:sessions", uid);
    snprintf(prefix, pl, "{u:%s}:s:", uid);
    if (sess)
        snprintf(sess, sl, "{u:%s}:s:%s", uid, sid ? sid : "");
}

enum pg_redis_status pg_session_create(struct pg_redis *r, const struct pg_session *s, int64_t idle_ms, int max,
                                       bool end_oldest, pg_redis_cb cb, void *arg)
{
    char list[200], prefix[200], sess[300], idle[24], maxs[16], abs_left[24];
    key_names(s->uid, s->sid, list, sizeof list, prefix, sizeof prefix, sess, sizeof sess);
    snprintf(idle, sizeof idle, "%lld", (long long)idle_ms);
    snprintf(maxs, sizeof maxs, "%d", max);
    snprintf(abs_left, sizeof abs_left, "%lld", (long long)(s->abs_ms - s->created_ms));
    const char *argv[] = {list,      sess,   s->sid,      idle,        maxs, end_oldest ? "1" : "0", prefix,
                          PG_SESSION_CHANNEL, s->uid, s->username, s->roles_csv, s->ip, abs_left};
    return pg_redis_script_run(r, create_script, cb, arg, 2, (int)(sizeof argv / sizeof argv[0]), argv, NULL);
}

enum pg_redis_status pg_session_fetch(struct pg_redis *r, const char *uid, const char *sid, int64_t idle_ms,
                                      pg_redis_cb cb, void *arg)
{
    char list[200], prefix[200], sess[300], idle[24];
    key_names(uid, sid, list, sizeof list, prefix, sizeof prefix, sess, sizeof sess);
    snprintf(idle, sizeof idle, "%lld", (long long)idle_ms);
    const char *argv[] = {sess, idle};
    return pg_redis_script_run(r, fetch_script, cb, arg, 1, 2, argv, NULL);
}

static void copy_str(char *dst, size_t cap, const redisReply *e)
{
    dst[0] = '\0';
    if (e && e->type == REDIS_REPLY_STRING && e->len < cap) {
        memcpy(dst, e->str, e->len);
        dst[e->len] = '\0';
    }
}

static int64_t reply_int(const redisReply *e)
{
    if (!e)
        return 0;
    if (e->type == REDIS_REPLY_INTEGER)
        return e->integer;
    if (e->type == REDIS_REPLY_STRING)
        return strtoll(e->str, NULL, 10);
    return 0;
}

bool pg_session_from_reply(const redisReply *reply, struct pg_session *s)
{
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 7)
        return false;
    char uid[128];
    copy_str(uid, sizeof uid, reply->element[0]);
    if (strcmp(uid, s->uid) != 0) /* a token naming another user's session */
        return false;
    copy_str(s->username, sizeof s->username, reply->element[1]);
    copy_str(s->roles_csv, sizeof s->roles_csv, reply->element[2]);
    s->abs_ms = reply_int(reply->element[3]);
    copy_str(s->ip, sizeof s->ip, reply->element[4]);
    s->bg_ms = reply_int(reply->element[5]);
    s->created_ms = reply_int(reply->element[6]);
    pg_session_split_roles(s);
    return s->username[0] != '\0';
}

enum pg_redis_status pg_session_end(struct pg_redis *r, const char *uid, const char *sid, pg_redis_cb cb, void *arg)
{
    char list[200], prefix[200];
    key_names(uid, NULL, list, sizeof list, prefix, sizeof prefix, NULL, 0);
    const char *argv[] = {list, prefix, PG_SESSION_CHANNEL, uid, sid ? sid : "*"};
    return pg_redis_script_run(r, end_script, cb, arg, 1, 5, argv, NULL);
}

enum pg_redis_status pg_session_break_glass(struct pg_redis *r, const char *uid, const char *sid, int64_t window_ms,
                                            pg_redis_cb cb, void *arg)
{
    char list[200], prefix[200], sess[300], win[24];
    key_names(uid, sid, list, sizeof list, prefix, sizeof prefix, sess, sizeof sess);
    snprintf(win, sizeof win, "%lld", (long long)window_ms);
    const char *argv[] = {sess, win};
    return pg_redis_script_run(r, break_glass_script, cb, arg, 1, 2, argv, NULL);
}
