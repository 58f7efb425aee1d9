#ifndef PHIGUARD_SESSION_H
#define PHIGUARD_SESSION_H
/* Server-side sessions in Redis (docs/authentication.md, "Sessions").
 *
 * Keys carry the user's hash tag, so one Lua script can see a user's
 * session list and a session together (Redis Cluster-ready):
 *   {u:<uid>}:s:<sid>     hash: uid user roles ip created last abs bg
 *                            PEXPIRE = the idle timeout (never past abs)
 *   {u:<uid>}:sessions    zset sid -> created (concurrent-session limit)
 * An ended session is published on PG_SESSION_CHANNEL as "<uid> <sid>"
 * ("<uid> *": every session of the user) so every replica forgets it. */
#include <stdbool.h>
#include <stdint.h>

#include "proxy/redis.h"

#define PG_SESSION_CHANNEL "phiguard:sessions:ended"
#define PG_SESSION_MAX_ROLES 16

struct pg_session {
    char sid[64];
    char uid[128];
    char username[256];
    char roles_csv[512];
    char *roles[PG_SESSION_MAX_ROLES]; /* into roles_buf */
    int nroles;
    char roles_buf[512];
    char ip[64];
    int64_t created_ms, abs_ms, bg_ms; /* wall clock, ms; bg: break-glass used at (0: never) */
};

/* The session a request came with (a copy: the cache may drop its entry). */
struct pg_session_ref {
    struct pg_session s;
};
void pg_session_ref_free(struct pg_session_ref *r);

int64_t pg_wall_ms(void);
/* A fresh random session id (48 hex characters). */
int pg_session_new_id(char out[64]);
/* Splits roles_csv into roles. */
void pg_session_split_roles(struct pg_session *s);

/* Loads the scripts (once, before any worker runs). */
int pg_session_scripts_init(void);
void pg_session_scripts_free(void);

/* Create: reply is an array {ok, ended sid...}: ok 1 created, 0 refused by
 * the concurrent-session limit (max 0: no limit; end_oldest: make room). */
enum pg_redis_status pg_session_create(struct pg_redis *r, const struct pg_session *s, int64_t idle_ms, int max,
                                       bool end_oldest, pg_redis_cb cb, void *arg);
/* Fetch and touch (sliding idle timeout): reply is nil when the session is
 * gone, else {uid, user, roles, abs, ip, bg, created}. */
enum pg_redis_status pg_session_fetch(struct pg_redis *r, const char *uid, const char *sid, int64_t idle_ms,
                                      pg_redis_cb cb, void *arg);
/* Parses a fetch reply into s (sid and uid already set): true when alive. */
bool pg_session_from_reply(const redisReply *reply, struct pg_session *s);
/* Ends one session (sid) or every session of the user (sid NULL); the
 * reply is the number ended. */
enum pg_redis_status pg_session_end(struct pg_redis *r, const char *uid, const char *sid, pg_redis_cb cb, void *arg);
/* Break-glass used: records when, and cuts the session's remaining life to
 * window_ms. Reply: 1, or 0 when the session is gone. */
enum pg_redis_status pg_session_break_glass(struct pg_redis *r, const char *uid, const char *sid, int64_t window_ms,
                                            pg_redis_cb cb, void *arg);

#endif
