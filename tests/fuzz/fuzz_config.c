/* libFuzzer target: the phiguard.yaml loader (proxy/config.c) on arbitrary
 * bytes. An operator's typo, a truncated ConfigMap or a hostile file must
 * give errors, never a crash or a leak; a config that loads satisfies the
 * checks the rest of the proxy relies on without looking again. */
#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proxy/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pg_config cfg;
    char err[2048];
    int rc = pg_config_load_buffer("/fuzz/phiguard.yaml", (const char *)data, size, &cfg, err, sizeof err);
    if (memchr(err, '\0', sizeof err) == NULL)
        __builtin_trap();
    if (rc != 0) {
        /* Every failure says where: the file name leads the first line. */
        if (strncmp(err, "/fuzz/phiguard.yaml:", 20) != 0)
            __builtin_trap();
        return 0;
    }
    if (!cfg.tls.certificate || !cfg.tls.key || cfg.tls.certificate[0] != '/' || cfg.tls.key[0] != '/')
        __builtin_trap(); /* required, and made absolute */
    if (cfg.tls.min_version != TLS1_2_VERSION && cfg.tls.min_version != TLS1_3_VERSION)
        __builtin_trap(); /* never below 1.2 */
    if (cfg.tls.client_auth != PG_CLIENT_AUTH_NONE && !cfg.tls.client_ca)
        __builtin_trap();
    if (cfg.auth.users_file && (!cfg.redis.address || !cfg.auth.token_key_file || !cfg.auth.mfa_key_file))
        __builtin_trap();
    if (cfg.audit.spool_dir && (!cfg.redis.address || !cfg.audit.signing_key_file))
        __builtin_trap();
    if (!cfg.instance_id || !cfg.path)
        __builtin_trap();
    pg_config_free(&cfg);
    return 0;
}
