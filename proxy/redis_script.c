#include "proxy/redis_script.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pg_redis_script {
    char *body;
    char sha[41];
};

/* One run: the full EVALSHA command line, kept for the retry. */
struct run {
    struct pg_redis *r;
    const struct pg_redis_script *script;
    pg_redis_cb cb;
    void *arg;
    bool retried;
    int argc;
    const char **argv;
    size_t *argvlen;
    char numkeys[16];
    char *resp; /* or the whole command in the protocol, of resp_len bytes */
    size_t resp_len;
};

static void on_evalsha(enum pg_redis_status st, const redisReply *reply, void *arg);

static enum pg_redis_status send_run(struct run *run)
{
    if (run->resp)
        return pg_redis_command_resp(run->r, on_evalsha, run, run->resp, run->resp_len);
    return pg_redis_command_argv(run->r, on_evalsha, run, run->argc, run->argv, run->argvlen);
}

struct pg_redis_script *pg_redis_script_new(const char *body)
{
    struct pg_redis_script *s = calloc(1, sizeof *s);
    if (!s || !(s->body = strdup(body))) {
        free(s);
        return NULL;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (!EVP_Digest(body, strlen(body), md, &n, EVP_sha1(), NULL) || n != 20) {
        pg_redis_script_free(s);
        return NULL;
    }
    for (unsigned int i = 0; i < n; i++)
        snprintf(s->sha + 2 * i, 3, "%02x", md[i]);
    return s;
}

const char *pg_redis_script_sha(const struct pg_redis_script *s)
{
    return s->sha;
}

void pg_redis_script_free(struct pg_redis_script *s)
{
    if (!s)
        return;
    free(s->body);
    free(s);
}

static void ignore_reply(enum pg_redis_status st, const redisReply *reply, void *arg)
{
    (void)st;
    (void)reply;
    (void)arg;
}

static void on_evalsha(enum pg_redis_status st, const redisReply *reply, void *arg)
{
    struct run *run = arg;
    if (st == PG_REDIS_ERR_REPLY && !run->retried && strncmp(reply->str, "NOSCRIPT", 8) == 0) {
        run->retried = true;
        const char *load[] = {"SCRIPT", "LOAD", run->script->body};
        enum pg_redis_status sent = pg_redis_command_argv(run->r, ignore_reply, NULL, 3, load, NULL);
        if (sent == PG_REDIS_OK)
            sent = send_run(run);
        if (sent == PG_REDIS_OK)
            return;
        st = sent;
        reply = NULL;
    }
    run->cb(st, reply, run->arg);
    free(run);
}

enum pg_redis_status pg_redis_script_run(struct pg_redis *r, const struct pg_redis_script *s, pg_redis_cb cb,
                                         void *arg, int numkeys, int argc, const char **argv, const size_t *argvlen)
{
    if (numkeys < 0 || argc < numkeys)
        return PG_REDIS_ERR_REPLY;
    size_t total = sizeof(struct run) + (size_t)(argc + 3) * (sizeof(char *) + sizeof(size_t));
    for (int i = 0; i < argc; i++)
        total += argvlen ? argvlen[i] : strlen(argv[i]);
    struct run *run = malloc(total);
    if (!run)
        return PG_REDIS_OVERLOADED;
    *run = (struct run){.r = r, .script = s, .cb = cb, .arg = arg, .argc = argc + 3};
    run->argv = (const char **)(run + 1);
    run->argvlen = (size_t *)(run->argv + run->argc);
    char *data = (char *)(run->argvlen + run->argc);
    snprintf(run->numkeys, sizeof run->numkeys, "%d", numkeys);
    run->argv[0] = "EVALSHA";
    run->argv[1] = s->sha;
    run->argv[2] = run->numkeys;
    for (int i = 0; i < 3; i++)
        run->argvlen[i] = strlen(run->argv[i]);
    for (int i = 0; i < argc; i++) {
        size_t n = argvlen ? argvlen[i] : strlen(argv[i]);
        memcpy(data, argv[i], n);
        run->argv[i + 3] = data;
        run->argvlen[i + 3] = n;
        data += n;
    }
    enum pg_redis_status st = send_run(run);
    if (st != PG_REDIS_OK)
        free(run);
    return st;
}

enum pg_redis_status pg_redis_script_run_resp(struct pg_redis *r, const struct pg_redis_script *s, pg_redis_cb cb,
                                              void *arg, int numkeys, int argc, const char *args, size_t len)
{
    if (numkeys < 0 || argc < numkeys)
        return PG_REDIS_ERR_REPLY;
    /* The run and the command in one block: head, then the arguments. */
    size_t room = 4 * PG_REDIS_RESP_HEAD_MAX + 64 + len;
    struct run *run = malloc(sizeof *run + room);
    if (!run)
        return PG_REDIS_OVERLOADED;
    *run = (struct run){.r = r, .script = s, .cb = cb, .arg = arg, .resp = (char *)(run + 1)};
    int n = snprintf(run->numkeys, sizeof run->numkeys, "%d", numkeys);
    char *p = pg_redis_resp_array(run->resp, (size_t)argc + 3);
    p = pg_redis_resp_bulk(p, "EVALSHA", 7);
    p = pg_redis_resp_bulk(p, s->sha, 40);
    p = pg_redis_resp_bulk(p, run->numkeys, (size_t)n);
    memcpy(p, args, len);
    run->resp_len = (size_t)(p - run->resp) + len;
    enum pg_redis_status st = send_run(run);
    if (st != PG_REDIS_OK)
        free(run);
    return st;
}
