#include "syslog_format.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#include "syslog_config.h"

static const char utf8_bom[3] = {(char)0xEF, (char)0xBB, (char)0xBF};

/* phiguard writes "YYYY-MM-DDTHH:MM:SS.ffffffZ" (UTC, microseconds), which
 * is an RFC 5424 TIMESTAMP as it stands; anything else is not used. */
static bool is_record_time(const char *s)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";
    if (strlen(s) != sizeof shape - 1)
        return false;
    for (size_t i = 0; shape[i]; i++)
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
            return false;
    return true;
}

static const char *member_string(yajl_val root, const char *key)
{
    for (size_t i = 0; i < root->u.object.len; i++)
        if (strcmp(root->u.object.keys[i], key) == 0)
            return YAJL_IS_STRING(root->u.object.values[i]) ? YAJL_GET_STRING(root->u.object.values[i]) : NULL;
    return NULL;
}

void syslog_record_info(const char *record, struct syslog_record_info *info)
{
    memset(info, 0, sizeof *info);
    info->severity = SYSLOG_SEV_INFO;
    yajl_val root = yajl_tree_parse(record, NULL, 0);
    if (!root)
        return;
    if (YAJL_IS_OBJECT(root)) {
        const char *time = member_string(root, "time");
        const char *type = member_string(root, "type");
        const char *action = member_string(root, "action");
        if (time && is_record_time(time))
            strcpy(info->timestamp, time);
        if (type && syslog_printusascii(type, 32))
            strcpy(info->msgid, type);
        /* Action E marks phiguard's security events (logins, lockouts,
         * alerts, break-glass, reloads, key rotation): notice, so a SIEM
         * can route them apart from the stream of data accesses. */
        if (action && strcmp(action, "E") == 0)
            info->severity = SYSLOG_SEV_NOTICE;
    }
    yajl_tree_free(root);
}

size_t syslog_sd_escape(const char *in, size_t len, char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (in[i] == '"' || in[i] == '\\' || in[i] == ']')
            out[n++] = '\\';
        out[n++] = in[i];
    }
    return n;
}

int syslog_frame(const struct syslog_origin *o, const struct syslog_record_info *info, const char *chain,
                 uint64_t seq, const char *record, size_t len, char **out, size_t *outlen)
{
    size_t chain_len = strlen(chain);
    char *chain_esc = malloc(2 * chain_len + 1);
    if (!chain_esc)
        return -1;
    chain_esc[syslog_sd_escape(chain, chain_len, chain_esc)] = '\0';

    char head[1024];
    int hlen = snprintf(head, sizeof head, "<%d>1 %s %s %s %s %s [" SYSLOG_SD_ID " chain=\"",
                        o->facility * 8 + info->severity, info->timestamp[0] ? info->timestamp : "-", o->hostname,
                        o->app_name, o->procid, info->msgid[0] ? info->msgid : "-");
    char tail[64];
    int tlen = snprintf(tail, sizeof tail, "\" seq=\"%" PRIu64 "\"] ", seq);
    if (hlen < 0 || (size_t)hlen >= sizeof head || tlen < 0 || (size_t)tlen >= sizeof tail) {
        free(chain_esc); /* the origin's parts are bounded by the config's checks */
        return -1;
    }
    size_t esc_len = strlen(chain_esc);
    size_t msg_len = (size_t)hlen + esc_len + (size_t)tlen + (o->utf8_bom ? sizeof utf8_bom : 0) + len;
    char count[24];
    int clen = snprintf(count, sizeof count, "%zu ", msg_len);
    char *buf = malloc((size_t)clen + msg_len + 1);
    if (!buf) {
        free(chain_esc);
        return -1;
    }
    char *p = buf;
    memcpy(p, count, (size_t)clen), p += clen;
    memcpy(p, head, (size_t)hlen), p += hlen;
    memcpy(p, chain_esc, esc_len), p += esc_len;
    memcpy(p, tail, (size_t)tlen), p += tlen;
    if (o->utf8_bom)
        memcpy(p, utf8_bom, sizeof utf8_bom), p += sizeof utf8_bom;
    memcpy(p, record, len), p += len;
    *p = '\0';
    free(chain_esc);
    *out = buf;
    *outlen = (size_t)(p - buf);
    return 0;
}
