#include "policy/token.h"

#include <errno.h>
#include <jwt.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The signed compact form, copied into out: 0, or -1 when it does not fit. */
static int encode_into(jwt_t *jwt, char *out, size_t outlen)
{
    char *s = jwt_encode_str(jwt);
    int rc = -1;
    if (s && strlen(s) < outlen) {
        strcpy(out, s);
        rc = 0;
    }
    free(s);
    return rc;
}

int pg_token_sign(const struct pg_token_key *k, const struct pg_token_claims *c, char *out, size_t outlen)
{
    if (k->len < PG_TOKEN_KEY_MIN)
        return -1;
    jwt_t *jwt = NULL;
    if (jwt_new(&jwt) != 0)
        return -1;
    int rc = -1;
    if (jwt_add_grant(jwt, "sid", c->sid) || jwt_add_grant(jwt, "sub", c->sub) ||
        jwt_add_grant(jwt, "iss", k->issuer) || jwt_add_grant(jwt, "aud", k->issuer) ||
        jwt_add_grant_int(jwt, "iat", (long)c->iat) || jwt_add_grant_int(jwt, "exp", (long)c->exp) ||
        jwt_set_alg(jwt, JWT_ALG_HS256, k->key, (int)k->len))
        goto out;
    rc = encode_into(jwt, out, outlen);
out:
    jwt_free(jwt);
    return rc;
}

/* The header is checked before libjwt sees the token, so that no code path
 * ever verifies a token under an algorithm the token chose. */
static enum pg_token_result check_header(const char *token)
{
    const char *dot = strchr(token, '.');
    if (!dot || dot == token || (size_t)(dot - token) > 512 || !strchr(dot + 1, '.'))
        return PG_TOKEN_MALFORMED;
    char b64[700];
    size_t n = (size_t)(dot - token);
    memcpy(b64, token, n);
    for (size_t i = 0; i < n; i++)
        b64[i] = b64[i] == '-' ? '+' : b64[i] == '_' ? '/' : b64[i];
    while (n % 4)
        b64[n++] = '=';
    unsigned char json[600];
    int len = EVP_DecodeBlock(json, (const unsigned char *)b64, (int)n);
    if (len <= 0)
        return PG_TOKEN_MALFORMED;
    json[len] = '\0';
    /* Exactly one alg, and it is HS256. */
    const char *alg = strstr((const char *)json, "\"alg\"");
    if (!alg || strstr(alg + 5, "\"alg\""))
        return PG_TOKEN_MALFORMED;
    alg += 5;
    while (*alg == ' ' || *alg == ':')
        alg++;
    return strncmp(alg, "\"HS256\"", 7) == 0 ? PG_TOKEN_OK : PG_TOKEN_WRONG_ALG;
}

enum pg_token_result pg_token_verify(const struct pg_token_key *k, const char *token, time_t now,
                                     struct pg_token_claims *c)
{
    if (!token || strlen(token) > 4096)
        return PG_TOKEN_MALFORMED;
    enum pg_token_result r = check_header(token);
    if (r != PG_TOKEN_OK)
        return r;
    jwt_t *jwt = NULL;
    if (jwt_decode(&jwt, token, k->key, (int)k->len) != 0 || !jwt)
        return PG_TOKEN_BAD_SIGNATURE;
    r = PG_TOKEN_OK;
    if (jwt_get_alg(jwt) != JWT_ALG_HS256) {
        r = PG_TOKEN_WRONG_ALG;
        goto out;
    }
    const char *sid = jwt_get_grant(jwt, "sid"), *sub = jwt_get_grant(jwt, "sub");
    const char *iss = jwt_get_grant(jwt, "iss"), *aud = jwt_get_grant(jwt, "aud");
    errno = 0;
    long exp = jwt_get_grant_int(jwt, "exp");
    int exp_err = errno;
    errno = 0;
    long iat = jwt_get_grant_int(jwt, "iat");
    int iat_err = errno;
    if (!sid || !sub || exp_err || iat_err || strlen(sid) >= sizeof c->sid || strlen(sub) >= sizeof c->sub) {
        r = PG_TOKEN_MALFORMED;
        goto out;
    }
    if (!iss || !aud || strcmp(iss, k->issuer) || strcmp(aud, k->issuer)) {
        r = PG_TOKEN_WRONG_ISSUER;
        goto out;
    }
    if ((long long)exp <= (long long)now || (long long)iat > (long long)now + 60) {
        r = PG_TOKEN_EXPIRED;
        goto out;
    }
    strcpy(c->sid, sid);
    strcpy(c->sub, sub);
    c->exp = exp;
    c->iat = iat;
out:
    jwt_free(jwt);
    return r;
}

const char *pg_token_result_name(enum pg_token_result r)
{
    static const char *const names[] = {"ok", "malformed", "wrong_alg", "bad_signature", "expired", "wrong_issuer"};
    return (unsigned)r < sizeof names / sizeof names[0] ? names[r] : "unknown";
}

int pg_assertion_sign(const char *pem, size_t pem_len, const char *issuer, const char *uid, const char *username,
                      const char *const *roles, int nroles, const char *request_id, time_t now, int ttl_s,
                      char *out, size_t outlen)
{
    jwt_t *jwt = NULL;
    if (jwt_new(&jwt) != 0)
        return -1;
    int rc = -1;
    /* roles as a JSON array; names are policy role names ([a-z0-9_]). */
    char json[1200];
    size_t used = (size_t)snprintf(json, sizeof json, "{\"roles\":[");
    for (int i = 0, n = 0; i < nroles && used < sizeof json; i++)
        if (!strpbrk(roles[i], "\"\\")) /* not a role name: never let it shape the JSON */
            used += (size_t)snprintf(json + used, sizeof json - used, "%s\"%s\"", n++ ? "," : "", roles[i]);
    if (used + 3 >= sizeof json)
        goto out;
    snprintf(json + used, sizeof json - used, "]}");
    if (jwt_add_grant(jwt, "iss", issuer) || jwt_add_grant(jwt, "aud", "upstream") || jwt_add_grant(jwt, "sub", uid) ||
        jwt_add_grant(jwt, "preferred_username", username) || jwt_add_grant(jwt, "rid", request_id) ||
        jwt_add_grants_json(jwt, json) || jwt_add_grant_int(jwt, "iat", (long)now) ||
        jwt_add_grant_int(jwt, "exp", (long)(now + ttl_s)) ||
        jwt_set_alg(jwt, JWT_ALG_ES256, (const unsigned char *)pem, (int)pem_len))
        goto out;
    rc = encode_into(jwt, out, outlen);
out:
    jwt_free(jwt);
    return rc;
}
