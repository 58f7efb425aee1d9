#ifndef PHIGUARD_IP_COUNT_H
#define PHIGUARD_IP_COUNT_H
/* Open connections per client address, for limits.max_connections_per_ip:
 * one table per worker, touched only by its loop (no locks). An address
 * is in the table only while it has connections, so the table holds at
 * most limits.max_connections entries. */
#include <stdbool.h>

struct pg_ip_count;

struct pg_ip_count *pg_ip_count_new(void);
void pg_ip_count_free(struct pg_ip_count *t);
/* Counts one more connection of ip, unless it already has limit of them
 * (or no memory is left: fail closed). True when counted. */
bool pg_ip_count_acquire(struct pg_ip_count *t, const char *ip, int limit);
/* The connection of a successful acquire ended. */
void pg_ip_count_release(struct pg_ip_count *t, const char *ip);
int pg_ip_count_get(const struct pg_ip_count *t, const char *ip);

#endif
