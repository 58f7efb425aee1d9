#ifndef PHIGUARD_SYSLOG_CONFIG_H
#define PHIGUARD_SYSLOG_CONFIG_H
/* The syslog sink's config block (docs/plugin-syslog.md), parsed from the
 * JSON text the host hands the entry point and checked strictly: an
 * unknown key, a wrong type or a value out of range is an error naming the
 * key, so a typo cannot silently leave the SIEM without its copy. */
#include <stdbool.h>
#include <stddef.h>

struct syslog_tls_config {
    char *ca_file;     /* required with tls: the server is always verified */
    char *server_name; /* the name (or IP) the server certificate must match; default: host */
    char *cert_file;   /* client certificate and key, both or neither */
    char *key_file;
};

struct syslog_config {
    char *host; /* the receiver: a name or an IP address */
    int port;   /* default 6514 with tls (RFC 5425), 601 without (syslog-conn) */
    bool tls_enabled;
    struct syslog_tls_config tls;
    char *app_name; /* RFC 5424 APP-NAME, default "phiguard" */
    char *hostname; /* RFC 5424 HOSTNAME, default the machine's name */
    int facility;   /* 0-23, default 10 (authpriv) */
    bool utf8_bom;  /* MSG starts with a BOM (RFC 5424 MSG-UTF8), default true */
    size_t queue_records, queue_bytes;
    int send_buffer_bytes; /* SO_SNDBUF; 0: the kernel's autotuning */
    unsigned reconnect_min_ms, reconnect_max_ms;
    unsigned connect_timeout_ms, write_timeout_ms, flush_timeout_ms;
};

/* Parses json into *out (zeroed first). 0, or -1 with the reason in err
 * (and *out left empty). */
int syslog_config_parse(const char *json, struct syslog_config *out, char *err, size_t errcap);
void syslog_config_free(struct syslog_config *c);

/* Is s made of RFC 5424 PRINTUSASCII (33-126) only, 1 to max bytes? */
bool syslog_printusascii(const char *s, size_t max);

#endif
