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
    /* The identity header lines for the upstream, rendered once per
     * session and worker rather than once per request (0: not yet). */
    size_t headers_len;
    char headers[1400];
};

/* A session shared by a worker's cache and the requests using it, so that
 * a request costs a reference, not a copy. Counted without atomics: a ref
 * never leaves its worker's thread. Its session never changes: a changed
 * session is a new ref. */
struct pg_session_ref {
    int refs;
    struct pg_session s;
};
/* A ref holding a copy of s (roles split, refs 1), or NULL. */
struct pg_session_ref *pg_session_ref_new(const struct pg_session *s);
struct pg_session_ref *pg_session_ref_hold(struct pg_session_ref *r);
void pg_session_ref_release(struct pg_session_ref *r);

int64_t pg_wall_ms(void);
#define PG_SESSION_ID_LEN 32
/* A fresh random id (sessions, MFA tickets): 32 base64url characters. */
int pg_session_new_id(char out[64]);
/* Whether s has the form of such an id (before it names a Redis key). */
bool pg_session_id_valid(const char *s);
/* Splits roles_csv into roles. */
void pg_session_split_roles(struct pg_session *s);
struct pg_auth_config;
/* Renders s->headers: user, user id, roles, a digest of the session id
 * (correlates a session's requests; cannot be replayed as a token) and the
 * method, under the configured names. */
void pg_session_render_headers(struct pg_session *s, const struct pg_auth_config *a);

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
