/* Session helpers (proxy/session.c) that need no Redis: ids, roles, the
 * identity header block, and reading a fetch reply. The Redis scripts
 * themselves run against a real redis-server in tests/e2e/test_auth.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/config.h"
#include "proxy/session.h"

static void test_ids(void **state)
{
    (void)state;
    char a[64], b[64];
    assert_int_equal(pg_session_new_id(a), 0);
    assert_int_equal(pg_session_new_id(b), 0);
    assert_int_equal(strlen(a), PG_SESSION_ID_LEN);
    assert_string_not_equal(a, b);
    assert_true(pg_session_id_valid(a));
    assert_true(pg_session_id_valid("abcdefghijklmnopqrstuvwxyz012-_A"));
    assert_false(pg_session_id_valid("abcdefghijklmnopqrstuvwxyz012-_"));   /* 31 */
    assert_false(pg_session_id_valid("abcdefghijklmnopqrstuvwxyz012-_AB")); /* 33 */
    assert_false(pg_session_id_valid("abcdefghijklmnopqrstuvwxyz01}:*A"));  /* key syntax */
    assert_false(pg_session_id_valid(""));
}

static void test_roles_split(void **state)
{
    (void)state;
    struct pg_session s = {0};
    strcpy(s.roles_csv, "nurse,charge_nurse");
    pg_session_split_roles(&s);
    assert_int_equal(s.nroles, 2);
    assert_string_equal(s.roles[0], "nurse");
    assert_string_equal(s.roles[1], "charge_nurse");
    assert_string_equal(s.roles_csv, "nurse,charge_nurse"); /* kept for the header */
    struct pg_session_ref *r = pg_session_ref_new(&s);
    assert_non_null(r);
    assert_ptr_equal(r->s.roles[0], r->s.roles_buf); /* the copy points into itself */
    assert_ptr_equal(pg_session_ref_hold(r), r);
    assert_int_equal(r->refs, 2);
    pg_session_ref_release(r);
    pg_session_ref_release(r); /* freed: the sanitizer build would see a leak or a double free */
}

static void test_identity_headers(void **state)
{
    (void)state;
    struct pg_auth_config a = {.header_user = "X-User", .header_user_id = "X-Uid", .header_roles = "X-Roles",
                               .header_session = "X-Sess"};
    struct pg_session s = {0};
    strcpy(s.sid, "abcdefghijklmnopqrstuvwxyz012-_A");
    strcpy(s.uid, "u-1");
    strcpy(s.username, "n.joy");
    strcpy(s.roles_csv, "nurse");
    pg_session_render_headers(&s, &a);
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)s.sid, strlen(s.sid), d);
    char want[512], hex[33];
    for (int i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    snprintf(want, sizeof want, "X-User: n.joy\r\nX-Uid: u-1\r\nX-Roles: nurse\r\nX-Sess: %s\r\nX-Auth-Method: password\r\n",
             hex);
    assert_int_equal(s.headers_len, strlen(want));
    assert_memory_equal(s.headers, want, s.headers_len);
    assert_null(strstr(s.headers, s.sid)); /* the id itself never leaves */
}

static redisReply *str(const char *v)
{
    redisReply *r = calloc(1, sizeof *r);
    r->type = v ? REDIS_REPLY_STRING : REDIS_REPLY_NIL;
    if (v) {
        r->str = strdup(v);
        r->len = strlen(v);
    }
    return r;
}

static redisReply *fetch_reply(const char *uid)
{
    redisReply *r = calloc(1, sizeof *r);
    r->type = REDIS_REPLY_ARRAY;
    r->elements = 7;
    r->element = calloc(7, sizeof *r->element);
    const char *v[] = {uid, "n.joy", "nurse,auditor", "1795436775000", "127.0.0.1", "0", "1795433175000"};
    for (int i = 0; i < 7; i++)
        r->element[i] = str(v[i]);
    return r;
}

static void free_reply(redisReply *r)
{
    for (size_t i = 0; i < r->elements; i++) {
        free(r->element[i]->str);
        free(r->element[i]);
    }
    free(r->element);
    free(r);
}

static void test_fetch_reply(void **state)
{
    (void)state;
    struct pg_session s = {0};
    strcpy(s.uid, "u-nurse-1");
    redisReply *r = fetch_reply("u-nurse-1");
    assert_true(pg_session_from_reply(r, &s));
    assert_string_equal(s.username, "n.joy");
    assert_int_equal(s.nroles, 2);
    assert_string_equal(s.roles[1], "auditor");
    assert_int_equal(s.abs_ms, 1795436775000LL);
    assert_int_equal(s.created_ms, 1795433175000LL);
    assert_string_equal(s.ip, "127.0.0.1");
    free_reply(r);

    /* A token naming another user's session id is not that session. */
    r = fetch_reply("u-owner-1");
    assert_false(pg_session_from_reply(r, &s));
    free_reply(r);
    /* Gone (nil), or not what the script answers. */
    redisReply nil = {.type = REDIS_REPLY_NIL};
    assert_false(pg_session_from_reply(&nil, &s));
    assert_false(pg_session_from_reply(NULL, &s));
    redisReply *short_arr = fetch_reply("u-nurse-1");
    short_arr->elements = 3;
    assert_false(pg_session_from_reply(short_arr, &s));
    short_arr->elements = 7;
    free_reply(short_arr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_roles_split),
        cmocka_unit_test(test_identity_headers),
        cmocka_unit_test(test_fetch_reply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
