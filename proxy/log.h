#ifndef PHIGUARD_LOG_H
#define PHIGUARD_LOG_H
/* One JSON object per line on stderr. Callers on event loops only format
 * into a queue; a logger thread does the write, so no loop blocks on a
 * slow stderr. Never pass a body, a query string or any PHI value. */
#include <stdarg.h>
#include "proxy/config.h"

void pg_log_start(enum pg_log_level min_level);
void pg_log_stop(void); /* flushes what is queued */
void pg_log_set_level(enum pg_log_level min_level);

/* msg is a fixed event name; fields_fmt builds the rest of the object as
 * JSON members ("\"k\":\"v\",\"n\":3"), or is NULL. String values must be
 * escaped with pg_json_escape. */
void pg_log(enum pg_log_level level, const char *msg, const char *fields_fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Escapes s for use inside a JSON string; returns out (always terminated). */
char *pg_json_escape(const char *s, size_t len, char *out, size_t outlen);

#endif
