#include "proxy/audit_reader.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/secret_file.h"

#define PAGE 1000 /* records per XRANGE */

redisContext *pg_audit_redis_connect(const struct pg_config *cfg, char *err, size_t errlen)
{
    const char *a = cfg->redis.address;
    struct timeval tv = {5, 0};
    redisContext *rc = NULL;
    if (!a) {
        snprintf(err, errlen, "%s has no redis.address", cfg->path);
        return NULL;
    }
    if (!strncmp(a, "unix:", 5)) {
        rc = redisConnectUnixWithTimeout(a + 5, tv);
    } else {
        char host[256];
        const char *colon = strrchr(a, ':');
        size_t hl = colon ? (size_t)(colon - a) : 0;
        if (!colon || hl >= sizeof host) {
            snprintf(err, errlen, "bad redis.address '%s'", a);
            return NULL;
        }
        memcpy(host, a, hl);
        host[hl] = '\0';
        if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
            memmove(host, host + 1, hl - 2);
            host[hl - 2] = '\0';
        }
        rc = redisConnectWithTimeout(host, atoi(colon + 1), tv);
    }
    if (!rc || rc->err) {
        snprintf(err, errlen, "cannot reach Redis at %s: %s", a, rc ? rc->errstr : "out of memory");
        redisFree(rc);
        return NULL;
    }
    redisReply *r = NULL;
    if (cfg->redis.password_file) {
        char why[256];
        size_t len;
        char *pw = pg_secret_file_read(cfg->redis.password_file, 4096, &len, why, sizeof why);
        if (!pw) {
            snprintf(err, errlen, "%s: %s", cfg->redis.password_file, why);
            redisFree(rc);
            return NULL;
        }
        pw[strcspn(pw, "\r\n")] = '\0';
        r = cfg->redis.username ? redisCommand(rc, "AUTH %s %s", cfg->redis.username, pw)
                                : redisCommand(rc, "AUTH %s", pw);
        free(pw);
        bool ok = r && r->type != REDIS_REPLY_ERROR;
        freeReplyObject(r);
        if (!ok) {
            snprintf(err, errlen, "Redis refused the credentials");
            redisFree(rc);
            return NULL;
        }
    }
    if (cfg->redis.db > 0) {
        r = redisCommand(rc, "SELECT %d", cfg->redis.db);
        freeReplyObject(r);
    }
    return rc;
}

static uint64_t seq_of_id(const redisReply *id)
{
    if (!id || id->type != REDIS_REPLY_STRING)
        return 0;
    return strtoull(id->str, NULL, 10);
}

static const redisReply *field(const redisReply *fields, const char *name)
{
    for (size_t i = 0; fields && fields->type == REDIS_REPLY_ARRAY && i + 1 < fields->elements; i += 2)
        if (fields->element[i]->type == REDIS_REPLY_STRING && !strcmp(fields->element[i]->str, name))
            return fields->element[i + 1];
    return NULL;
}

static char *dup_bytes(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

struct pg_audit_stored_chain *pg_audit_reader_chain(struct pg_audit_reader *rd, const char *name)
{
    for (size_t i = 0; i < rd->n; i++)
        if (!strcmp(rd->chains[i].name, name))
            return &rd->chains[i];
    if (rd->n == rd->cap) {
        size_t cap = rd->cap ? rd->cap * 2 : 8;
        struct pg_audit_stored_chain *grown = realloc(rd->chains, cap * sizeof *grown);
        if (!grown)
            return NULL;
        rd->chains = grown;
        rd->cap = cap;
    }
    struct pg_audit_stored_chain *c = &rd->chains[rd->n];
    *c = (struct pg_audit_stored_chain){.name = strdup(name)};
    if (!c->name)
        return NULL;
    rd->n++;
    return c;
}

int pg_audit_chain_add_entry(struct pg_audit_stored_chain *c, uint64_t seq, const char *bytes, size_t len,
                             const char *h, size_t hlen)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 1024;
        struct pg_audit_entry *grown = realloc(c->entries, cap * sizeof *grown);
        if (!grown)
            return -1;
        c->entries = grown;
        c->cap = cap;
    }
    char *b = dup_bytes(bytes, len), *hd = dup_bytes(h, hlen);
    if (!b || !hd) {
        free(b);
        free(hd);
        return -1;
    }
    c->entries[c->n++] = (struct pg_audit_entry){.seq = seq, .bytes = b, .len = len, .h = hd};
    return 0;
}

int pg_audit_chain_add_note(struct pg_audit_stored_chain *c, const char *note, size_t len)
{
    if (c->nnotes == c->notes_cap) {
        size_t cap = c->notes_cap ? c->notes_cap * 2 : 16;
        char **grown = realloc(c->notes, cap * sizeof *grown);
        if (!grown)
            return -1;
        c->notes = grown;
        c->notes_cap = cap;
    }
    if (!(c->notes[c->nnotes] = dup_bytes(note, len)))
        return -1;
    c->nnotes++;
    return 0;
}

/* Every record of a chain, in stored order, paged with XRANGE. */
static int load_chain(struct pg_audit_reader *rd, struct pg_audit_stored_chain *c)
{
    char start[48] = "-";
    for (;;) {
        redisReply *r = redisCommand(rd->rc, "XRANGE audit:%s %s + COUNT %d", c->name, start, PAGE);
        if (!r || r->type != REDIS_REPLY_ARRAY) {
            snprintf(rd->err, sizeof rd->err, "reading audit:%s failed: %s", c->name,
                    r && r->type == REDIS_REPLY_ERROR ? r->str : rd->rc->errstr);
            freeReplyObject(r);
            return -1;
        }
        for (size_t i = 0; i < r->elements; i++) {
            const redisReply *e = r->element[i];
            if (e->type != REDIS_REPLY_ARRAY || e->elements != 2)
                continue;
            const redisReply *rec = field(e->element[1], "r"), *h = field(e->element[1], "h");
            if (pg_audit_chain_add_entry(c, seq_of_id(e->element[0]), rec ? rec->str : "", rec ? rec->len : 0,
                                         h ? h->str : "", h ? h->len : 0) != 0)
                abort();
            snprintf(start, sizeof start, "(%s", e->element[0]->str); /* exclusive: after the last one read */
        }
        size_t got = r->elements;
        freeReplyObject(r);
        if (got < PAGE)
            break;
    }
    redisReply *r = redisCommand(rd->rc, "XRANGE audit:checkpoints:%s - +", c->name);
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        const redisReply *n = r->element[i]->elements == 2 ? field(r->element[i]->element[1], "n") : NULL;
        if (n && pg_audit_chain_add_note(c, n->str, n->len) != 0)
            abort();
    }
    freeReplyObject(r);
    return 0;
}

int pg_audit_reader_load(struct pg_audit_reader *rd, const char *only)
{
    redisReply *r = only ? NULL : redisCommand(rd->rc, "SMEMBERS audit:writers");
    if (!only && (!r || r->type != REDIS_REPLY_ARRAY)) {
        snprintf(rd->err, sizeof rd->err, "cannot list the writers (audit:writers)");
        freeReplyObject(r);
        return -1;
    }
    size_t n = only ? 1 : r->elements;
    for (size_t i = 0; i < n; i++)
        if (!pg_audit_reader_chain(rd, only ? only : r->element[i]->str))
            abort();
    freeReplyObject(r);
    for (size_t i = 0; i < rd->n; i++)
        if (load_chain(rd, &rd->chains[i]) != 0)
            return -1;
    return 0;
}

void pg_audit_reader_free(struct pg_audit_reader *rd)
{
    for (size_t i = 0; i < rd->n; i++) {
        struct pg_audit_stored_chain *c = &rd->chains[i];
        for (size_t k = 0; k < c->n; k++) {
            free((char *)c->entries[k].bytes);
            free((char *)c->entries[k].h);
        }
        free(c->entries);
        for (size_t k = 0; k < c->nnotes; k++)
            free(c->notes[k]);
        free(c->notes);
        free(c->name);
    }
    free(rd->chains);
    redisFree(rd->rc);
}

