#ifndef PHIGUARD_ALERT_H
#define PHIGUARD_ALERT_H
/* An alert as phiguard stores it in Redis (alert:list), logs it, serves
 * it on the security API and sends it to a webhook: one JSON shape, made
 * here, whoever raises it (a worker, the scheduled audit verification). */
#include <stddef.h>
#include <stdint.h>

struct pg_alert {
    char id[17];            /* 16 random hex digits */
    int64_t time_us;        /* UTC */
    const char *severity;   /* low, medium, high, critical */
    const char *rule;
    const char *subject;    /* a username, a chain... never PHI; may be NULL */
    const char *instance;
    const char *details;    /* JSON object members ("k":v,...), or NULL */
};

/* Fills id and time_us. 0, or -1 when no random bytes could be drawn. */
int pg_alert_init(struct pg_alert *a);
/* {"id":..,"time":"RFC 3339","severity":..,"rule":..,"subject":..,
 * "instance":..,"details":{..}}; returns its length, or -1 when cap is too
 * small. */
int pg_alert_json(const struct pg_alert *a, char *out, size_t cap);

#endif
