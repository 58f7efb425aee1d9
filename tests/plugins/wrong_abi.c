/* A test-only plugin that declares ABI 2.0, a major version this phiguard
 * does not have: it must be refused before its entry point runs (which
 * would log that it did). */
#include "phiguard_plugin.h"

__attribute__((visibility("default"))) extern const uint32_t phiguard_plugin_abi;
__attribute__((visibility("default"))) const uint32_t phiguard_plugin_abi = PHG_ABI_VERSION(2, 0);

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
    host->log(self, PHG_LOG_ERROR, "wrong_abi entry point ran");
    plugin->name = "wrong_abi";
    return 0;
}
