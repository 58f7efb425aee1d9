#ifndef PHIGUARD_ALERT_STORE_H
#define PHIGUARD_ALERT_STORE_H
/* Alerts kept in Redis for the security API: alert:list (newest first, the
 * alert JSON of proxy/alert.h, capped) and alert:acks (alert id -> who
 * acknowledged it and when). Each read and acknowledgement is one Lua
 * call. */
#include "proxy/redis.h"

int pg_alert_store_scripts_init(void);
void pg_alert_store_scripts_free(void);

/* Replies with an array: [alert json, acknowledgement json or nil, ...],
 * the newest `scan` alerts. */
enum pg_redis_status pg_alert_store_list(struct pg_redis *r, int scan, pg_redis_cb cb, void *arg);
/* Records who acknowledged alert id. Replies 1 (done), 0 (it already was:
 * the first acknowledgement stays) or -1 (no such alert). */
enum pg_redis_status pg_alert_store_ack(struct pg_redis *r, const char *id, const char *ack_json, pg_redis_cb cb,
                                        void *arg);

#endif
