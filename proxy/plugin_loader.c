/* Loading plugins (proxy/plugin_loader.h). */
#include "proxy/plugin_loader.h"

#include <ctype.h>
#include <dlfcn.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/log.h"
#include "proxy/metrics.h"
#include "proxy/plugin_body.h"
#include "proxy/plugin_host.h"

static struct phg_plugin_handle **loaded;
static int nloaded;

int pg_plugin_abi_check(uint32_t plugin_abi, uint32_t host_abi, char *why, size_t whylen)
{
    uint32_t pmaj = PHG_ABI_MAJOR_OF(plugin_abi), pmin = PHG_ABI_MINOR_OF(plugin_abi);
    uint32_t hmaj = PHG_ABI_MAJOR_OF(host_abi), hmin = PHG_ABI_MINOR_OF(host_abi);
    if (pmaj != hmaj) {
        snprintf(why, whylen, "built for plugin ABI %" PRIu32 ".%" PRIu32 ", but this phiguard has ABI %" PRIu32
                 ".%" PRIu32 ": another major version is not compatible (rebuild the plugin against this phiguard's "
                 "phiguard_plugin.h)", pmaj, pmin, hmaj, hmin);
        return -1;
    }
    if (pmin > hmin) {
        snprintf(why, whylen, "built for plugin ABI %" PRIu32 ".%" PRIu32 ", newer than this phiguard's ABI %" PRIu32
                 ".%" PRIu32 ": it may use services this phiguard does not have (upgrade phiguard, or rebuild the "
                 "plugin against this phiguard's phiguard_plugin.h)", pmaj, pmin, hmaj, hmin);
        return -1;
    }
    return 0;
}

static bool name_ok(const char *s)
{
    if (!s || !*s || strlen(s) > PG_PLUGIN_NAME_MAX)
        return false;
    for (; *s; s++)
        if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '_' || *s == '-'))
            return false;
    return true;
}

static void handle_free(struct phg_plugin_handle *h)
{
    if (!h)
        return;
    pg_plugin_fields_free(h->fields);
    if (h->dl)
        dlclose(h->dl);
    free(h->path);
    free(h);
}

/* What the entry point registered, checked. 0, or -1 with why. */
static int check_hooks(struct phg_plugin_handle *h, char *why, size_t whylen)
{
    const struct phg_plugin *p = &h->hooks;
    if (!name_ok(p->name)) {
        snprintf(why, whylen, "the plugin's name is missing or not [a-z0-9_-] (at most %d characters)",
                 PG_PLUGIN_NAME_MAX);
        return -1;
    }
    for (int i = 0; i < nloaded; i++)
        if (!strcmp(loaded[i]->name, p->name)) {
            snprintf(why, whylen, "another plugin (%s) is already named '%s'", loaded[i]->path, p->name);
            return -1;
        }
    snprintf(h->name, sizeof h->name, "%s", p->name);
    if (p->nbody_fields < 0 || (p->nbody_fields > 0 && (!p->body_fields || !p->body_field_names))) {
        snprintf(why, whylen, "nbody_fields is set without body_fields and body_field_names");
        return -1;
    }
    if (p->nbody_fields > 0 && !p->request_body_value && !p->response_body_value) {
        snprintf(why, whylen, "body_fields are named but neither request_body_value nor response_body_value is set");
        return -1;
    }
    if (p->nbody_fields > 0 && !(h->fields = pg_plugin_fields_compile(p, why, whylen)))
        return -1;
    return 0;
}

/* Opens, checks and enters one plugin. NULL with why. */
static struct phg_plugin_handle *load_one(const struct pg_plugin_config *pc, char *why, size_t whylen)
{
    struct phg_plugin_handle *h = calloc(1, sizeof *h);
    if (!h || !(h->path = strdup(pc->path))) {
        snprintf(why, whylen, "out of memory");
        handle_free(h);
        return NULL;
    }
    const char *base = strrchr(pc->path, '/');
    snprintf(h->name, sizeof h->name, "%s", base ? base + 1 : pc->path);
    /* RTLD_NOW: a plugin missing a symbol fails here, not on a request. */
    if (!(h->dl = dlopen(pc->path, RTLD_NOW | RTLD_LOCAL))) {
        const char *e = dlerror();
        snprintf(why, whylen, "cannot be opened: %s", e ? e : "unknown error");
        handle_free(h);
        return NULL;
    }
    const uint32_t *abi = dlsym(h->dl, PHG_ABI_SYMBOL);
    if (!abi) {
        snprintf(why, whylen, "has no %s symbol: not a phiguard plugin (PHG_PLUGIN_DECLARE writes it)",
                 PHG_ABI_SYMBOL);
        handle_free(h);
        return NULL;
    }
    /* The version is read before any of the plugin's functions runs. */
    h->abi = *abi;
    if (pg_plugin_abi_check(h->abi, PHG_ABI_CURRENT, why, whylen) != 0) {
        handle_free(h);
        return NULL;
    }
    phg_entry_fn entry;
    *(void **)&entry = dlsym(h->dl, PHG_ENTRY_SYMBOL); /* POSIX's way from an object pointer to a function */
    if (!entry) {
        snprintf(why, whylen, "has no %s symbol", PHG_ENTRY_SYMBOL);
        handle_free(h);
        return NULL;
    }
    char err[512] = "";
    h->hooks.size = sizeof h->hooks;
    if (entry(PHG_ABI_CURRENT, pg_plugin_host(), h, pc->config_json, &h->hooks, err, sizeof err) != 0) {
        err[sizeof err - 1] = '\0';
        snprintf(why, whylen, "its entry point failed: %s", err[0] ? err : "(no reason given)");
        handle_free(h);
        return NULL;
    }
    h->hooks.size = sizeof h->hooks;
    if (check_hooks(h, why, whylen) != 0) {
        if (h->hooks.unload)
            h->hooks.unload(h->hooks.state); /* it may have started threads */
        handle_free(h);
        return NULL;
    }
    return h;
}

int pg_plugins_load(const struct pg_config *cfg)
{
    if (!cfg->nplugins)
        return 0;
    loaded = calloc((size_t)cfg->nplugins, sizeof *loaded);
    if (!loaded) {
        pg_log(PG_LOG_ERROR, "plugin_load_failed", "\"error\":\"out of memory\"");
        return -1;
    }
    for (int i = 0; i < cfg->nplugins; i++) {
        char why[1024], e_why[1200], e_path[1200];
        const char *path = cfg->plugins[i].path;
        struct phg_plugin_handle *h = load_one(&cfg->plugins[i], why, sizeof why);
        if (!h) {
            pg_log(PG_LOG_ERROR, "plugin_load_failed", "\"path\":\"%s\",\"error\":\"plugin %s %s\"",
                   pg_json_escape(path, strlen(path), e_path, sizeof e_path), e_path,
                   pg_json_escape(why, strlen(why), e_why, sizeof e_why));
            pg_plugins_unload();
            return -1;
        }
        loaded[nloaded++] = h;
        pg_log(PG_LOG_INFO, "plugin_loaded",
               "\"path\":\"%s\",\"plugin\":\"%s\",\"built_for_abi\":\"%" PRIu32 ".%" PRIu32 "\",\"abi\":\"%d.%d\"",
               pg_json_escape(path, strlen(path), e_path, sizeof e_path), h->name, PHG_ABI_MAJOR_OF(h->abi),
               PHG_ABI_MINOR_OF(h->abi), PHG_ABI_MAJOR, PHG_ABI_MINOR);
    }
    return 0;
}

void pg_plugins_unload(void)
{
    for (int i = nloaded - 1; i >= 0; i--) {
        struct phg_plugin_handle *h = loaded[i];
        if (h->hooks.unload)
            h->hooks.unload(h->hooks.state);
        handle_free(h);
    }
    free(loaded);
    loaded = NULL;
    nloaded = 0;
}

int pg_plugins_count(void)
{
    return nloaded;
}

struct phg_plugin_handle *pg_plugin_at(int i)
{
    return i >= 0 && i < nloaded ? loaded[i] : NULL;
}

int pg_plugins_authenticate_any(void)
{
    for (int i = 0; i < nloaded; i++)
        if (loaded[i]->hooks.authenticate)
            return 1;
    return 0;
}

void pg_plugins_audit_record(const char *chain, uint64_t seq, const char *record, size_t len)
{
    for (int i = 0; i < nloaded; i++) {
        struct phg_plugin_handle *h = loaded[i];
        if (!h->hooks.audit_record)
            continue;
        atomic_fetch_add_explicit(&h->calls, 1, memory_order_relaxed);
        h->hooks.audit_record(h->hooks.state, chain, seq, record, len);
    }
}

void pg_plugins_metrics(struct evbuffer *out)
{
    if (!nloaded)
        return;
    pg_metrics_header(out, "phiguard_plugin_hook_calls_total", "counter", "Hooks of each plugin called.");
    for (int i = 0; i < nloaded; i++)
        evbuffer_add_printf(out, "phiguard_plugin_hook_calls_total{plugin=\"%s\"} %" PRIu64 "\n", loaded[i]->name,
                            atomic_load_explicit(&loaded[i]->calls, memory_order_relaxed));
    pg_metrics_header(out, "phiguard_plugin_hook_failures_total", "counter",
                      "Hooks of each plugin that failed (the request was answered 500).");
    for (int i = 0; i < nloaded; i++)
        evbuffer_add_printf(out, "phiguard_plugin_hook_failures_total{plugin=\"%s\"} %" PRIu64 "\n", loaded[i]->name,
                            atomic_load_explicit(&loaded[i]->failures, memory_order_relaxed));
    pg_metrics_header(out, "phiguard_plugin_phi_open_failures_total", "counter",
                      "Envelopes a plugin asked to open that did not open.");
    for (int i = 0; i < nloaded; i++)
        evbuffer_add_printf(out, "phiguard_plugin_phi_open_failures_total{plugin=\"%s\"} %" PRIu64 "\n",
                            loaded[i]->name, atomic_load_explicit(&loaded[i]->open_failures, memory_order_relaxed));
}
