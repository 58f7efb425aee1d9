/* The syslog audit sink: a copy of every audit record, as RFC 5424 syslog
 * over TCP or TLS, for a SIEM (docs/plugin-syslog.md). The audit hook only
 * copies the record into a bounded queue; the sender thread does all the
 * I/O. phiguard's trail in Redis stays the record of truth: what this sink
 * drops (full queue) or loses (a receiver that dies with frames in flight)
 * is still there. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "phiguard_plugin.h"
#include "syslog_config.h"
#include "syslog_queue.h"
#include "syslog_sender.h"
#include "syslog_tls.h"

struct syslog_sink {
    struct syslog_config cfg;
    struct syslog_queue queue;
    struct syslog_sender sender;
    char procid[24];
    const struct phg_host *host;
    phg_plugin_handle *self;
};

static void audit_record(void *state, const char *chain, uint64_t seq, const char *record, size_t len)
{
    struct syslog_sink *k = state;
    enum syslog_push r = syslog_queue_push(&k->queue, chain, seq, record, len);
    if (r == SYSLOG_PUSH_OVERFLOW_STARTS) {
        /* Once per episode: the sender logs its end and the count. */
        char detail[256];
        snprintf(detail, sizeof detail,
                 "syslog queue full (%zu records or %zu bytes): records are not forwarded to %s:%d until it "
                 "drains; phiguard's audit trail in Redis keeps them",
                 k->cfg.queue_records, k->cfg.queue_bytes, k->cfg.host, k->cfg.port);
        k->host->log(k->self, PHG_LOG_WARN, "%s", detail);
        k->host->alert(k->self, PHG_SEV_HIGH, "syslog_sink_overflow", detail);
    } else if (r == SYSLOG_PUSH_NO_MEMORY) {
        k->host->log(k->self, PHG_LOG_ERROR, "out of memory queueing record %" PRIu64 " of %s: dropped", seq, chain);
    }
}

static void sink_free(struct syslog_sink *k)
{
    if (k->sender.tls)
        SSL_CTX_free(k->sender.tls);
    syslog_config_free(&k->cfg);
    free(k);
}

static void unload(void *state)
{
    struct syslog_sink *k = state;
    syslog_sender_stop(&k->sender);
    struct syslog_queue_stats st;
    syslog_queue_stats(&k->queue, &st);
    k->host->log(k->self, st.records ? PHG_LOG_WARN : PHG_LOG_INFO,
                 "syslog sink stopped: %" PRIu64 " records sent, %" PRIu64 " dropped (queue full), %zu not sent "
                 "within flush_timeout_ms (%u), %" PRIu64 " reconnects; all are in phiguard's audit trail in Redis",
                 k->sender.sent, st.dropped_total, st.records, k->cfg.flush_timeout_ms, k->sender.reconnects);
    syslog_queue_destroy(&k->queue);
    sink_free(k);
}

static int entry(uint32_t abi, const struct phg_host *host, phg_plugin_handle *self, const char *config_json,
                 struct phg_plugin *plugin, char *err, size_t errcap)
{
    if (PHG_ABI_MAJOR_OF(abi) != PHG_ABI_MAJOR) {
        snprintf(err, errcap, "built for plugin ABI %d, loaded under %" PRIu32 ".%" PRIu32, PHG_ABI_MAJOR,
                 PHG_ABI_MAJOR_OF(abi), PHG_ABI_MINOR_OF(abi));
        return -1;
    }
    struct syslog_sink *k = calloc(1, sizeof *k);
    if (!k) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    k->host = host;
    k->self = self;
    if (syslog_config_parse(config_json, &k->cfg, err, errcap)) {
        free(k);
        return -1;
    }
    if (k->cfg.tls_enabled && !(k->sender.tls = syslog_tls_context(&k->cfg.tls, err, errcap))) {
        sink_free(k);
        return -1;
    }
    if (syslog_queue_init(&k->queue, k->cfg.queue_records, k->cfg.queue_bytes)) {
        snprintf(err, errcap, "cannot make the queue's lock");
        sink_free(k);
        return -1;
    }
    snprintf(k->procid, sizeof k->procid, "%ld", (long)getpid());
    k->sender.cfg = &k->cfg;
    k->sender.origin = (struct syslog_origin){.facility = k->cfg.facility, .hostname = k->cfg.hostname,
                                              .app_name = k->cfg.app_name, .procid = k->procid,
                                              .utf8_bom = k->cfg.utf8_bom};
    k->sender.queue = &k->queue;
    k->sender.host = host;
    k->sender.self = self;
    if (syslog_sender_start(&k->sender, err, errcap)) {
        syslog_queue_destroy(&k->queue);
        sink_free(k);
        return -1;
    }
    host->log(self, PHG_LOG_INFO, "forwarding audit records to syslog receiver %s:%d%s (facility %d, queue %zu "
              "records / %zu bytes)", k->cfg.host, k->cfg.port, k->cfg.tls_enabled ? " over TLS" : "",
              k->cfg.facility, k->cfg.queue_records, k->cfg.queue_bytes);
    plugin->name = "syslog_sink";
    plugin->state = k;
    plugin->audit_record = audit_record;
    plugin->unload = unload;
    return 0;
}

PHG_PLUGIN_DECLARE(entry)
