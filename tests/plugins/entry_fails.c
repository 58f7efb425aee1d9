/* A test-only plugin whose entry point refuses its config: start-up must
 * stop, naming the path and this reason. */
#include <stdio.h>

#include "phiguard_plugin.h"

static int entry(uint32_t abi, const struct phg_host *host, phg_plugin_handle *self, const char *config_json,
                 struct phg_plugin *plugin, char *err, size_t errcap)
{
    (void)abi;
    (void)host;
    (void)self;
    (void)config_json;
    (void)plugin;
    snprintf(err, errcap, "config.endpoint is required (the test plugin always says so)");
    return -1;
}

PHG_PLUGIN_DECLARE(entry)
