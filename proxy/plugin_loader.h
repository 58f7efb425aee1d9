#ifndef PHIGUARD_PLUGIN_LOADER_H
#define PHIGUARD_PLUGIN_LOADER_H
/* The plugins named in the configuration (docs/plugins.md): opened at
 * start on the main thread, version-checked before any of their code runs,
 * entered once, then immutable while the workers run; unloaded after the
 * workers stop. */
#include <event2/buffer.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "plugins/phiguard_plugin.h"
#include "proxy/config.h"

#define PG_PLUGIN_NAME_MAX 48

/* One loaded plugin: the handle the plugin gets as phg_plugin_handle. */
struct phg_plugin_handle {
    char *path;
    void *dl;
    char name[PG_PLUGIN_NAME_MAX + 1]; /* the plugin's name once entered; its file name before */
    uint32_t abi;                      /* the version it was built for */
    struct phg_plugin hooks;           /* what the entry point registered */
    struct pg_plugin_fields *fields;   /* its body_fields, compiled (proxy/plugin_body.h); NULL: none */
    _Atomic uint64_t calls, failures;  /* hook calls, and those that failed (PHG_FAIL and the like) */
    _Atomic uint64_t open_failures;    /* phi_open of an envelope that did not open */
};

/* Whether a plugin built for plugin_abi runs on a host of host_abi: the
 * same major, and a minor no newer than the host's. 0, or -1 with why
 * (naming both versions). Pure. */
int pg_plugin_abi_check(uint32_t plugin_abi, uint32_t host_abi, char *why, size_t whylen);

/* Loads every plugin of cfg, in order. 0, or -1 after logging the path and
 * the reason (start-up stops). */
int pg_plugins_load(const struct pg_config *cfg);
/* Calls each plugin's unload (last loaded first) and closes it. */
void pg_plugins_unload(void);

/* The loaded plugins, in the order of the configuration. */
int pg_plugins_count(void);
struct phg_plugin_handle *pg_plugin_at(int i);
/* Any authenticate hook among them. */
int pg_plugins_authenticate_any(void);

/* A record was sealed into chain: every audit_record hook sees it (on the
 * loop of the worker that wrote it). */
void pg_plugins_audit_record(const char *chain, uint64_t seq, const char *record, size_t len);

/* Hook calls and failures per plugin, for /metrics. */
void pg_plugins_metrics(struct evbuffer *out);

#endif
