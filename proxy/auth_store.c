#include "proxy/auth_store.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy/secretbox.h"
#include "proxy/log.h"
#include "proxy/reload_alert.h"
#include "proxy/secret_file.h"
#include "proxy/workq.h"

static pthread_mutex_t store_mu = PTHREAD_MUTEX_INITIALIZER;
static struct pg_users *current;
static char *users_file;
static struct pg_auth_secrets secrets;
static bool enabled, reloading, reload_again;

static void log_problem(const char *event, const char *file, const char *why)
{
    char e1[600], e2[600];
    pg_log(PG_LOG_ERROR, event, "\"file\":\"%s\",\"error\":\"%s\"", pg_json_escape(file, strlen(file), e1, sizeof e1),
           pg_json_escape(why, strlen(why), e2, sizeof e2));
}

static int load_token_key(const char *path, const char *issuer)
{
    char why[256];
    size_t len = 0;
    char *buf = pg_secret_file_read(path, sizeof secrets.token.key, &len, why, sizeof why);
    if (!buf) {
        log_problem("auth_key_error", path, why);
        return -1;
    }
    while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        len--;
    int rc = 0;
    if (len < PG_TOKEN_KEY_MIN) {
        log_problem("auth_key_error", path, "a session-token key needs at least 32 bytes (openssl rand -base64 48)");
        rc = -1;
    } else {
        memcpy(secrets.token.key, buf, len);
        secrets.token.len = len;
        snprintf(secrets.token.issuer, sizeof secrets.token.issuer, "%s", issuer);
    }
    OPENSSL_cleanse(buf, len);
    free(buf);
    return rc;
}

static int load_assertion_key(const char *path)
{
    char why[256];
    size_t len = 0;
    char *pem = pg_secret_file_read(path, 16384, &len, why, sizeof why);
    if (!pem) {
        log_problem("auth_key_error", path, why);
        return -1;
    }
    /* libjwt signs ES256 from the PEM; check here that it is one. */
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    bool ok = k && EVP_PKEY_is_a(k, "EC") && EVP_PKEY_get_bits(k) == 256;
    EVP_PKEY_free(k);
    BIO_free(b);
    if (!ok) {
        log_problem("auth_key_error", path, "expected an EC P-256 private key in PEM (ES256)");
        OPENSSL_cleanse(pem, len);
        free(pem);
        return -1;
    }
    secrets.assertion_pem = pem;
    secrets.assertion_pem_len = len;
    return 0;
}

/* The first reason it failed goes to why. */
static struct pg_users *load_users(const char *file, char *why, size_t whylen)
{
    struct pg_policy_errors errs = {0};
    struct pg_users *u = pg_users_load(file, &errs);
    for (int i = 0; i < errs.count; i++)
        log_problem("users_error", file, errs.items[i]);
    snprintf(why, whylen, "%s", errs.count ? errs.items[0] : "not loaded");
    pg_policy_errors_free(&errs);
    return u;
}

int pg_auth_store_init(const struct pg_config *cfg)
{
    const struct pg_auth_config *a = &cfg->auth;
    char why[256];
    if (cfg->redis.password_file) { /* Redis serves the audit trail too, with or without logins */
        size_t len = 0;
        secrets.redis_password = pg_secret_file_read(cfg->redis.password_file, 4096, &len, why, sizeof why);
        if (!secrets.redis_password) {
            log_problem("auth_key_error", cfg->redis.password_file, why);
            return -1;
        }
        secrets.redis_password[strcspn(secrets.redis_password, "\r\n")] = '\0';
    }
    if (!a->users_file)
        return 0;
    secrets.argon2.memory_kib = (uint32_t)(a->argon2_memory / 1024);
    secrets.argon2.passes = (uint32_t)a->argon2_passes;
    secrets.argon2.lanes = (uint32_t)a->argon2_lanes;
    int rc = 0;
    if (!pg_argon2_params_ok(&secrets.argon2, why, sizeof why)) {
        log_problem("auth_config_error", cfg->path, why);
        rc = -1;
    }
    if (load_token_key(a->token_key_file, a->issuer) != 0)
        rc = -1;
    if (pg_secretbox_key_load(a->mfa_key_file, secrets.mfa_key, why, sizeof why) != 0) {
        log_problem("auth_key_error", a->mfa_key_file, why);
        rc = -1;
    }
    if (a->assertion_key_file && load_assertion_key(a->assertion_key_file) != 0)
        rc = -1;
    struct pg_users *u = load_users(a->users_file, why, sizeof why);
    if (!u)
        rc = -1;
    if (rc != 0) {
        pg_users_unref(u);
        pg_auth_store_shutdown();
        return -1;
    }
    users_file = strdup(a->users_file);
    current = u;
    enabled = true;
    pg_log(PG_LOG_INFO, "users_loaded", "\"file\":\"%s\",\"users\":%d", users_file, u->count);
    return 0;
}

bool pg_auth_enabled(void)
{
    return enabled;
}

struct pg_users *pg_auth_users(void)
{
    pthread_mutex_lock(&store_mu);
    struct pg_users *u = current ? pg_users_ref(current) : NULL;
    pthread_mutex_unlock(&store_mu);
    return u;
}

const struct pg_auth_secrets *pg_auth_secrets(void)
{
    return &secrets;
}

struct reload_job {
    struct event_base *base;
    struct pg_users *u;
    char why[256];
};

static void reload_work(void *arg)
{
    struct reload_job *j = arg;
    j->u = load_users(users_file, j->why, sizeof j->why);
}

static void reload_done(void *arg)
{
    struct reload_job *j = arg;
    if (j->u) {
        pthread_mutex_lock(&store_mu);
        struct pg_users *old = current;
        current = j->u;
        pthread_mutex_unlock(&store_mu);
        pg_users_unref(old);
        pg_log(PG_LOG_INFO, "users_loaded", "\"file\":\"%s\",\"users\":%d", users_file, j->u->count);
    } else {
        char e[600];
        pg_log(PG_LOG_ERROR, "users_reload_failed", "\"file\":\"%s\",\"error\":\"%s\",\"kept\":\"the running users file\"",
               users_file, pg_json_escape(j->why, strlen(j->why), e, sizeof e));
        pg_reload_failed("users", users_file, j->why);
    }
    struct event_base *base = j->base;
    free(j);
    reloading = false;
    if (reload_again) { /* changed while it was read: read the last version */
        reload_again = false;
        pg_auth_store_reload(base);
    }
}

void pg_auth_store_reload(struct event_base *base)
{
    if (!enabled)
        return;
    if (reloading) {
        reload_again = true;
        return;
    }
    struct reload_job *j = calloc(1, sizeof *j);
    if (!j)
        return;
    j->base = base;
    reloading = true;
    if (pg_workq_submit(PG_POOL_IO, base, reload_work, reload_done, j) != 0) {
        reloading = false;
        free(j);
        pg_log(PG_LOG_ERROR, "users_reload_failed", "\"error\":\"work queue unavailable\"");
        pg_reload_failed("users", users_file, "work queue unavailable");
    }
}

void pg_auth_store_shutdown(void)
{
    pthread_mutex_lock(&store_mu);
    pg_users_unref(current);
    current = NULL;
    pthread_mutex_unlock(&store_mu);
    free(users_file);
    users_file = NULL;
    if (secrets.assertion_pem) {
        OPENSSL_cleanse(secrets.assertion_pem, secrets.assertion_pem_len);
        free(secrets.assertion_pem);
    }
    if (secrets.redis_password) {
        OPENSSL_cleanse(secrets.redis_password, strlen(secrets.redis_password));
        free(secrets.redis_password);
    }
    OPENSSL_cleanse(&secrets, sizeof secrets);
    enabled = false;
}
