/* A test-only plugin that declares ABI 2.0, a major version this phiguard
 * does not have: it must be refused before its entry point runs (which
 * would log that it did). newer_minor.c builds the same with another
 * version. */
#include "phiguard_plugin.h"

#ifndef DECLARED_ABI
#define DECLARED_ABI PHG_ABI_VERSION(2, 0)
#define PLUGIN_NAME "wrong_abi"
#endif

__attribute__((visibility("default"))) extern const uint32_t phiguard_plugin_abi;
__attribute__((visibility("default"))) const uint32_t phiguard_plugin_abi = DECLARED_ABI;

__attribute__((visibility("default"))) int phiguard_plugin_entry(uint32_t abi, const struct phg_host *host,
                                                                 phg_plugin_handle *self, const char *config_json,
                                                                 struct phg_plugin *plugin, char *err, size_t errcap);
int phiguard_plugin_entry(uint32_t abi, const struct phg_host *host, phg_plugin_handle *self, const char *config_json,
                          struct phg_plugin *plugin, char *err, size_t errcap)
{
    (void)abi;
    (void)config_json;
    (void)err;
    (void)errcap;
    host->log(self, PHG_LOG_ERROR, "%s entry point ran", PLUGIN_NAME);
    plugin->name = PLUGIN_NAME;
    return 0;
}
