#ifndef PHIGUARD_SERVER_H
#define PHIGUARD_SERVER_H
/* `phiguard serve`: start-up, the worker threads, signals (SIGHUP reload,
 * SIGTERM drain), the admin listener, and an orderly exit. */
#include "proxy/config.h"

/* Runs until drained; returns the process exit status. */
int pg_server_run(const struct pg_config *cfg);

#endif
