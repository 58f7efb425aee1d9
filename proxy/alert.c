#include "proxy/alert.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "policy/record.h"
#include "proxy/log.h"

int pg_alert_init(struct pg_alert *a)
{
    unsigned char r[8];
    if (RAND_bytes(r, sizeof r) != 1)
        return -1;
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 8; i++) {
        a->id[2 * i] = hex[r[i] >> 4];
        a->id[2 * i + 1] = hex[r[i] & 15];
    }
    a->id[16] = '\0';
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    a->time_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    return 0;
}

int pg_alert_json(const struct pg_alert *a, char *out, size_t cap)
{
    char when[PG_RECORD_TIME_LEN], subj[600], inst[300];
    pg_record_format_time(a->time_us, when);
    const char *s = a->subject ? a->subject : "";
    int n = snprintf(out, cap,
                     "{\"id\":\"%s\",\"time\":\"%s\",\"severity\":\"%s\",\"rule\":\"%s\",\"subject\":\"%s\","
                     "\"instance\":\"%s\",\"details\":{%s}}",
                     a->id, when, a->severity, a->rule, pg_json_escape(s, strlen(s), subj, sizeof subj),
                     pg_json_escape(a->instance, strlen(a->instance), inst, sizeof inst), a->details ? a->details : "");
    return n > 0 && (size_t)n < cap ? n : -1;
}
