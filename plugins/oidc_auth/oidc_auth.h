#ifndef OIDC_AUTH_H
#define OIDC_AUTH_H
/* The plugin's entry and hook, named so that the unit tests can drive them
 * with a host of their own. */
#include "phiguard_plugin.h"

int oidc_entry(uint32_t abi, const struct phg_host *host, phg_plugin_handle *self, const char *config_json,
               struct phg_plugin *plugin, char *err, size_t errcap);
enum phg_auth_result oidc_authenticate(void *state, phg_request *r, struct phg_identity *identity);
enum phg_result oidc_hide_token(void *state, phg_request *r);
#endif
