#include "proxy/ip_count.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 1024 /* chains stay short up to tens of thousands of addresses */

struct entry {
    struct entry *next;
    int n;
    char ip[64];
};

struct pg_ip_count {
    struct entry *b[BUCKETS];
};

static size_t bucket_of(const char *ip)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)ip; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h % BUCKETS;
}

static struct entry **find(struct pg_ip_count *t, const char *ip)
{
    struct entry **e = &t->b[bucket_of(ip)];
    while (*e && strcmp((*e)->ip, ip) != 0)
        e = &(*e)->next;
    return e;
}

struct pg_ip_count *pg_ip_count_new(void)
{
    return calloc(1, sizeof(struct pg_ip_count));
}

void pg_ip_count_free(struct pg_ip_count *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < BUCKETS; i++)
        while (t->b[i]) {
            struct entry *e = t->b[i];
            t->b[i] = e->next;
            free(e);
        }
    free(t);
}

bool pg_ip_count_acquire(struct pg_ip_count *t, const char *ip, int limit)
{
    struct entry **e = find(t, ip);
    if (*e) {
        if ((*e)->n >= limit)
            return false;
        (*e)->n++;
        return true;
    }
    if (limit < 1)
        return false;
    struct entry *n = calloc(1, sizeof *n);
    if (!n)
        return false;
    snprintf(n->ip, sizeof n->ip, "%s", ip);
    n->n = 1;
    *e = n;
    return true;
}

void pg_ip_count_release(struct pg_ip_count *t, const char *ip)
{
    struct entry **e = find(t, ip);
    if (!*e)
        return;
    if (--(*e)->n > 0)
        return;
    struct entry *gone = *e;
    *e = gone->next;
    free(gone);
}

int pg_ip_count_get(const struct pg_ip_count *t, const char *ip)
{
    struct entry *const *e = find((struct pg_ip_count *)t, ip);
    return *e ? (*e)->n : 0;
}
