#ifndef PHIGUARD_SYSLOG_FORMAT_H
#define PHIGUARD_SYSLOG_FORMAT_H
/* One audit record as one RFC 5424 message in one RFC 6587 octet-counted
 * frame:
 *   LEN SP <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID
 *          [phiguard@32473 chain="..." seq="..."] BOM record
 * docs/plugin-syslog.md describes each part. Pure: no I/O. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 32473 is the enterprise number RFC 5612 reserves for documentation
 * examples: phiguard has none of its own, and a site that wants one
 * registered can match on the SD-ID's name. */
#define SYSLOG_SD_ID "phiguard@32473"

#define SYSLOG_SEV_NOTICE 5
#define SYSLOG_SEV_INFO 6

/* What stays the same for every message of one sink. */
struct syslog_origin {
    int facility;
    const char *hostname, *app_name, *procid; /* checked PRINTUSASCII */
    bool utf8_bom;
};

/* What the header takes from a record: NULL when the record lacks it or it
 * is not of the shape RFC 5424 allows (the header then says NILVALUE). */
struct syslog_record_info {
    char timestamp[32]; /* "" when absent */
    char msgid[33];     /* the record's type; "" when absent or not PRINTUSASCII 1*32 */
    int severity;
};

/* Reads time, type and action out of a record (NUL-terminated canonical
 * JSON). A record that does not parse still gets a header: NILVALUEs and
 * severity info. */
void syslog_record_info(const char *record, struct syslog_record_info *info);

/* Writes in's len bytes as an RFC 5424 PARAM-VALUE: '"', '\' and ']' get a
 * backslash. out must hold 2 * len bytes; returns the length written. */
size_t syslog_sd_escape(const char *in, size_t len, char *out);

/* The whole frame, malloc'd into *out (*outlen bytes, not NUL-terminated
 * data but NUL-terminated storage). 0, or -1 out of memory. */
int syslog_frame(const struct syslog_origin *o, const struct syslog_record_info *info, const char *chain,
                 uint64_t seq, const char *record, size_t len, char **out, size_t *outlen);

#endif
