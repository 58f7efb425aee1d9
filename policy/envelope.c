#include "policy/envelope.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/gcm_aesni.h"

#define NONCE_LEN 12
#define TAG_LEN 16
#define VALUE_MAX 65536 /* one field's value */
#define ON_STACK 1024   /* values up to this long need no allocation */

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* ---- what every call shares: algorithms fetched once, and per thread a
 * cipher context for each mode, an HKDF context and the SIV keys of the
 * fields it used last. Worker threads share a keyring read-only; nothing
 * here is shared between threads but the fetched algorithms, which are
 * immutable. ---- */

static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;
static EVP_CIPHER *aes_gcm, *aes_siv;
static EVP_KDF *hkdf_alg;

static void fetch_algorithms(void)
{
    aes_gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    aes_siv = EVP_CIPHER_fetch(NULL, "AES-256-SIV", NULL);
    hkdf_alg = EVP_KDF_fetch(NULL, "HKDF", NULL);
}

#define FIELD_KEYS 16  /* fields a thread keeps the SIV keys of */
#define FIELD_CACHED 256 /* longer field names are derived every time */

struct field_key {
    bool used;
    unsigned char root[64]; /* whose key (contents, not address: a keyring may be freed and reloaded) */
    size_t field_len;
    char field[FIELD_CACHED];
    /* SIV under the field's key, never used itself: each message starts
     * from a copy (re-keying costs a CMAC fetch and setup each time). */
    EVP_CIPHER_CTX *tmpl;
};

#define GCM_KEYS 8 /* keys a thread keeps a keyed GCM context for */

/* AES-256-GCM already keyed: a message sets only its nonce (keying costs
 * the AES key schedule and the GHASH table every time), one context for
 * each direction (a context's direction is set when it is keyed; changing
 * it means a full EVP_CipherInit_ex2, which costs more than the message). */
struct gcm_key {
    const struct pg_phi_key *owner; /* found by address first... */
    unsigned char key[32];          /* ...then by contents, as for field_key */
    EVP_CIPHER_CTX *ctx[2];         /* [0] opens, [1] seals */
    struct pg_gcm_aesni *fast;      /* both ways, where the CPU has AES-NI (NULL: EVP only) */
};

/* Tests and benchmarks may keep GCM to EVP (pg_envelope_gcm_use_evp). */
static atomic_bool gcm_evp_only;

void pg_envelope_gcm_use_evp(bool on)
{
    atomic_store(&gcm_evp_only, on);
}

struct thread_state {
    EVP_CIPHER_CTX *siv;
    EVP_KDF_CTX *kdf;
    struct field_key keys[FIELD_KEYS];
    unsigned next; /* the entry replaced next */
    struct gcm_key gcm[GCM_KEYS];
    unsigned gcm_next;
};

static pthread_key_t state_key;
static bool state_key_ok;

static void state_free(void *p)
{
    struct thread_state *ts = p;
    for (int i = 0; i < GCM_KEYS; i++) {
        EVP_CIPHER_CTX_free(ts->gcm[i].ctx[0]);
        EVP_CIPHER_CTX_free(ts->gcm[i].ctx[1]);
        pg_gcm_aesni_free(ts->gcm[i].fast);
    }
    EVP_CIPHER_CTX_free(ts->siv);
    EVP_KDF_CTX_free(ts->kdf);
    for (int i = 0; i < FIELD_KEYS; i++)
        EVP_CIPHER_CTX_free(ts->keys[i].tmpl);
    OPENSSL_cleanse(ts, sizeof *ts);
    free(ts);
}

static pthread_once_t state_once = PTHREAD_ONCE_INIT;

static void state_key_create(void)
{
    state_key_ok = pthread_key_create(&state_key, state_free) == 0;
}

static struct thread_state *thread_state(void)
{
    pthread_once(&fetch_once, fetch_algorithms);
    pthread_once(&state_once, state_key_create);
    if (!aes_gcm || !aes_siv || !hkdf_alg || !state_key_ok)
        return NULL;
    struct thread_state *ts = pthread_getspecific(state_key);
    if (ts)
        return ts;
    ts = calloc(1, sizeof *ts);
    if (!ts)
        return NULL;
    ts->siv = EVP_CIPHER_CTX_new();
    ts->kdf = EVP_KDF_CTX_new(hkdf_alg);
    /* The cipher is set once; later calls pass only a key, reusing it. */
    if (!ts->siv || !ts->kdf || EVP_CipherInit_ex2(ts->siv, aes_siv, NULL, NULL, 1, NULL) != 1 ||
        pthread_setspecific(state_key, ts) != 0) {
        state_free(ts);
        return NULL;
    }
    return ts;
}

static int hkdf(struct thread_state *ts, const unsigned char *key, size_t keylen, const char *info, size_t infolen,
                unsigned char *out, size_t outlen)
{
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key, keylen),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, infolen),
        OSSL_PARAM_construct_end(),
    };
    EVP_KDF_CTX_reset(ts->kdf);
    return EVP_KDF_derive(ts->kdf, out, outlen, params) == 1 ? 0 : -1;
}

/* Each byte's base64url value, or X (0xff): a lookup per character
 * instead of a search of the alphabet. A constant table (rather than one
 * built once at run time) costs the hot path no once-check. */
#define X 0xff
static const unsigned char b64url_value[256] = {
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, 62, X, X,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, X, X, X, X, X, X,
    X, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, X, X, X, X, 63,
    X, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
};
#undef X

static bool kid_ok_n(const char *kid, size_t n)
{
    if (n == 0 || n > PG_ENVELOPE_KID_MAX)
        return false;
    const unsigned char *val = b64url_value;
    for (size_t i = 0; i < n; i++)
        if (val[(unsigned char)kid[i]] == 0xff)
            return false;
    return true;
}

static bool kid_ok(const char *kid)
{
    return kid_ok_n(kid, strlen(kid));
}

int pg_phi_key_init(struct pg_phi_key *k, const char *kid, const unsigned char secret[32])
{
    if (!kid_ok(kid))
        return -1;
    memset(k, 0, sizeof *k);
    memcpy(k->kid, kid, strlen(kid));
    static const char gcm_label[] = "phiguard envelope v1 gcm", siv_label[] = "phiguard envelope v1 siv";
    struct thread_state *ts = thread_state();
    if (!ts || hkdf(ts, secret, 32, gcm_label, sizeof gcm_label - 1, k->gcm, sizeof k->gcm) != 0 ||
        hkdf(ts, secret, 32, siv_label, sizeof siv_label - 1, k->siv_root, sizeof k->siv_root) != 0) {
        OPENSSL_cleanse(k, sizeof *k);
        return -1;
    }
    return 0;
}

/* "v1|kid|mode|field": what binds an envelope to its key, mode and field.
 * 0 when it does not fit. */
static size_t make_aad(char *aad, size_t cap, const char *kid, size_t kid_len, char mode, const char *field)
{
    size_t flen = strlen(field), n = 3 + kid_len + 3 + flen;
    if (n >= cap)
        return 0;
    memcpy(aad, "v1|", 3);
    memcpy(aad + 3, kid, kid_len);
    aad[3 + kid_len] = '|';
    aad[4 + kid_len] = mode;
    aad[5 + kid_len] = '|';
    memcpy(aad + 6 + kid_len, field, flen);
    aad[n] = '\0';
    return n;
}

/* Sets ctx up for SIV under the field's own key: a copy of this thread's
 * cached context, or a new key derived (and then cached). */
static int siv_for_field(struct thread_state *ts, const struct pg_phi_key *k, const char *field, EVP_CIPHER_CTX *ctx)
{
    size_t flen = strlen(field);
    bool cacheable = flen < FIELD_CACHED;
    for (int i = 0; cacheable && i < FIELD_KEYS; i++) {
        struct field_key *e = &ts->keys[i];
        if (e->tmpl && e->field_len == flen && !memcmp(e->field, field, flen) &&
            !CRYPTO_memcmp(e->root, k->siv_root, sizeof e->root))
            return EVP_CIPHER_CTX_copy(ctx, e->tmpl) == 1 ? 0 : -1;
    }
    unsigned char fk[64];
    char info[600];
    int il = snprintf(info, sizeof info, "phiguard envelope v1 field|%s", field);
    int rc = -1;
    if (il <= 0 || (size_t)il >= sizeof info ||
        hkdf(ts, k->siv_root, sizeof k->siv_root, info, (size_t)il, fk, sizeof fk) != 0)
        goto out;
    if (!cacheable) {
        rc = EVP_CipherInit_ex2(ctx, aes_siv, fk, NULL, 1, NULL) == 1 ? 0 : -1;
        goto out;
    }
    struct field_key *e = &ts->keys[ts->next++ % FIELD_KEYS];
    EVP_CIPHER_CTX_free(e->tmpl);
    e->tmpl = EVP_CIPHER_CTX_new();
    if (!e->tmpl || EVP_CipherInit_ex2(e->tmpl, aes_siv, fk, NULL, 1, NULL) != 1) {
        EVP_CIPHER_CTX_free(e->tmpl);
        e->tmpl = NULL;
        goto out;
    }
    memcpy(e->root, k->siv_root, sizeof e->root);
    e->field_len = flen;
    memcpy(e->field, field, flen);
    rc = EVP_CIPHER_CTX_copy(ctx, e->tmpl) == 1 ? 0 : -1;
out:
    OPENSSL_cleanse(fk, sizeof fk);
    return rc;
}

/* AES-256-SIV with the field's own key. enc 1 seals, 0 opens (tag in/out). */
static int siv(const struct pg_phi_key *k, const char *field, int enc, const unsigned char *aad, size_t aadlen,
               const unsigned char *in, size_t inlen, unsigned char *out, unsigned char tag[TAG_LEN])
{
    struct thread_state *ts = thread_state();
    if (!ts || siv_for_field(ts, k, field, ts->siv) != 0)
        return -1;
    EVP_CIPHER_CTX *ctx = ts->siv;
    int outl = 0;
    if (EVP_CipherInit_ex2(ctx, NULL, NULL, NULL, enc, NULL) != 1)
        return -1;
    if (!enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, TAG_LEN, tag) != 1)
        return -1;
    if (EVP_CipherUpdate(ctx, NULL, &outl, aad, (int)aadlen) != 1 ||
        EVP_CipherUpdate(ctx, out, &outl, in, (int)inlen) != 1 || EVP_CipherFinal_ex(ctx, out + outl, &outl) != 1)
        return -1;
    if (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, TAG_LEN, tag) != 1)
        return -1;
    return 0;
}

/* This thread's GCM context keyed with k's GCM key for direction enc: a
 * cached one, or a new pair keyed now (replacing the oldest). A cached
 * entry is found by the key's address, and taken only when its contents
 * match too (a freed keyring's address may come back with other keys). */
/* a and b (32 bytes) are equal, in time that does not depend on where
 * they differ: CRYPTO_memcmp's job, a word at a time (it goes a byte at a
 * time, which cost more than the rest of the lookup). */
static bool same_key(const unsigned char *a, const unsigned char *b)
{
    uint64_t d = 0;
    for (int i = 0; i < 32; i += 8) {
        uint64_t x, y;
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        d |= x ^ y;
    }
    return d == 0;
}

static void gcm_key_clear(struct gcm_key *e)
{
    EVP_CIPHER_CTX_free(e->ctx[0]);
    EVP_CIPHER_CTX_free(e->ctx[1]);
    pg_gcm_aesni_free(e->fast);
    OPENSSL_cleanse(e, sizeof *e);
}

static struct gcm_key *gcm_for_key(struct thread_state *ts, const struct pg_phi_key *k)
{
    for (int i = 0; i < GCM_KEYS; i++) {
        struct gcm_key *e = &ts->gcm[i];
        if (e->owner == k && e->ctx[0] && same_key(e->key, k->gcm))
            return e;
    }
    struct gcm_key *e = &ts->gcm[ts->gcm_next++ % GCM_KEYS];
    gcm_key_clear(e);
    for (int d = 0; d < 2; d++) {
        e->ctx[d] = EVP_CIPHER_CTX_new();
        if (!e->ctx[d] || EVP_CipherInit_ex2(e->ctx[d], aes_gcm, k->gcm, NULL, d, NULL) != 1) {
            gcm_key_clear(e);
            return NULL;
        }
    }
    e->fast = pg_gcm_aesni_new(k->gcm); /* NULL without AES-NI: EVP then */
    e->owner = k;
    memcpy(e->key, k->gcm, sizeof e->key);
    return e;
}

/* One GCM message: through AES-NI and OpenSSL's GCM mode where the CPU has
 * the instructions (policy/gcm_aesni.h), otherwise on a keyed EVP context.
 * There the nonce (and, opening, the expected tag) go in with one
 * parameter call: the TLS "fixed IV" of
 * length -1, which OpenSSL's providers define as "the whole IV, used for
 * the next message". The usual EVP_CipherInit_ex2(ctx, NULL, NULL, iv)
 * does the same but asks the provider for the IV length three times,
 * each a parameter round trip: it was a third of an open. */
static int gcm(const struct pg_phi_key *k, int enc, const unsigned char nonce[NONCE_LEN], const unsigned char *aad,
               size_t aadlen, const unsigned char *in, size_t inlen, unsigned char *out, unsigned char tag[TAG_LEN])
{
    struct thread_state *ts = thread_state();
    struct gcm_key *e = ts ? gcm_for_key(ts, k) : NULL;
    if (!e)
        return -1;
    if (e->fast && !atomic_load_explicit(&gcm_evp_only, memory_order_relaxed))
        return enc ? pg_gcm_aesni_seal(e->fast, nonce, aad, aadlen, in, inlen, out, tag)
                   : pg_gcm_aesni_open(e->fast, nonce, aad, aadlen, in, inlen, out, tag);
    EVP_CIPHER_CTX *ctx = e->ctx[enc];
    OSSL_PARAM set[3], *p = set;
    if (!enc)
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, TAG_LEN);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TLS1_IV_FIXED, (void *)nonce, (size_t)-1);
    *p = OSSL_PARAM_construct_end();
    /* EVP_Cipher() goes straight to the provider's one-shot GCM function
     * (NULL out: associated data; NULL in: the end, where an open checks
     * the tag), without EVP_CipherUpdate's bookkeeping for block ciphers. */
    if (EVP_CIPHER_CTX_set_params(ctx, set) != 1 || EVP_Cipher(ctx, NULL, aad, (unsigned)aadlen) < 0 ||
        (inlen && EVP_Cipher(ctx, out, in, (unsigned)inlen) < 0) || EVP_Cipher(ctx, NULL, NULL, 0) < 0)
        return -1;
    if (enc) {
        OSSL_PARAM get[2] = {OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, TAG_LEN),
                             OSSL_PARAM_construct_end()};
        if (EVP_CIPHER_CTX_get_params(ctx, get) != 1)
            return -1;
    }
    return 0;
}

static size_t b64url_encode(const unsigned char *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
        out[o++] = b64url[(v >> 18) & 63];
        out[o++] = b64url[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = b64url[(v >> 6) & 63];
        if (i + 2 < n)
            out[o++] = b64url[v & 63];
    }
    out[o] = '\0';
    return o;
}

static long b64url_decode(const char *in, size_t n, unsigned char *out, size_t cap)
{
    if (n % 4 == 1)
        return -1;
    const unsigned char *val = b64url_value;
    if (n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0) > cap)
        return -1;
    size_t o = 0, i = 0;
    /* Whole quads: four characters, three bytes. A character outside the
     * alphabet has value 0xff, which sets a bit above the 24 a quad holds. */
    for (; i + 4 <= n; i += 4) {
        unsigned a = val[(unsigned char)in[i]], b = val[(unsigned char)in[i + 1]],
                 c = val[(unsigned char)in[i + 2]], d = val[(unsigned char)in[i + 3]];
        if ((a | b | c | d) & 0xc0)
            return -1;
        unsigned v = a << 18 | b << 12 | c << 6 | d;
        out[o++] = (unsigned char)(v >> 16);
        out[o++] = (unsigned char)(v >> 8);
        out[o++] = (unsigned char)v;
    }
    if (i == n)
        return (long)o;
    /* Two or three characters left: one or two bytes. */
    unsigned v = 0;
    size_t left = n - i;
    for (size_t j = 0; j < left; j++) {
        unsigned c = val[(unsigned char)in[i + j]];
        if (c & 0xc0)
            return -1;
        v = v << 6 | c;
    }
    int bits = (int)left * 6 % 8;
    if (v & ((1u << bits) - 1))
        return -1; /* one spelling only: the unused low bits must be zero */
    v >>= bits;
    if (left == 3)
        out[o++] = (unsigned char)(v >> 8);
    out[o++] = (unsigned char)v;
    return (long)o;
}

long pg_envelope_seal(const struct pg_phi_key *k, char mode, const char *field, char type, const char *value,
                      size_t len, char *out, size_t cap)
{
    if ((mode != 'r' && mode != 'd') || (type != 's' && type != 'n' && type != 'b') || len > VALUE_MAX)
        return -1;
    char aad[600];
    size_t kid_len = strlen(k->kid);
    size_t aadlen = make_aad(aad, sizeof aad, k->kid, kid_len, mode, field);
    unsigned char pt_small[ON_STACK + 1], blob_small[NONCE_LEN + ON_STACK + 1 + TAG_LEN];
    bool small = len <= ON_STACK;
    unsigned char *pt = small ? pt_small : malloc(len + 1),
                  *blob = small ? blob_small : malloc(NONCE_LEN + len + 1 + TAG_LEN);
    long rc = -1;
    if (!aadlen || !pt || !blob)
        goto out;
    pt[0] = (unsigned char)type;
    memcpy(pt + 1, value, len);
    size_t nonce_len = mode == 'r' ? NONCE_LEN : 0;
    unsigned char *ct = blob + nonce_len, *tag = ct + len + 1;
    if (mode == 'r') {
        if (RAND_bytes(blob, NONCE_LEN) != 1 ||
            gcm(k, 1, blob, (unsigned char *)aad, aadlen, pt, len + 1, ct, tag) != 0)
            goto out;
    } else if (siv(k, field, 1, (unsigned char *)aad, aadlen, pt, len + 1, ct, tag) != 0) {
        goto out;
    }
    size_t blob_len = nonce_len + len + 1 + TAG_LEN;
    size_t prefix = sizeof PG_ENVELOPE_PREFIX - 1;
    size_t n = prefix + kid_len + 3; /* "phi:v1:" kid ":" mode ":" */
    if (n + (blob_len + 2) / 3 * 4 + 1 > cap)
        goto out;
    memcpy(out, PG_ENVELOPE_PREFIX, prefix);
    memcpy(out + prefix, k->kid, kid_len);
    out[prefix + kid_len] = ':';
    out[prefix + kid_len + 1] = mode;
    out[prefix + kid_len + 2] = ':';
    rc = (long)(n + b64url_encode(blob, blob_len, out + n));
out:
    if (pt)
        OPENSSL_cleanse(pt, len + 1);
    if (!small) {
        free(pt);
        free(blob);
    }
    return rc;
}

enum pg_envelope_result pg_envelope_open(const struct pg_phi_key *keys, size_t nkeys, const char *field,
                                         const char *env, size_t env_len, char *type, char *out, size_t cap,
                                         size_t *out_len)
{
    if (!pg_envelope_is(env, env_len))
        return PG_ENVELOPE_NOT_ONE;
    const char *p = env + strlen(PG_ENVELOPE_PREFIX), *end = env + env_len;
    const char *colon = memchr(p, ':', (size_t)(end - p));
    if (!colon || colon == p || colon - p > PG_ENVELOPE_KID_MAX || end - colon < 4 || colon[2] != ':')
        return PG_ENVELOPE_MALFORMED;
    const char *kid = p;
    size_t kid_len = (size_t)(colon - p);
    char mode = colon[1];
    if ((mode != 'r' && mode != 'd') || !kid_ok_n(kid, kid_len))
        return PG_ENVELOPE_MALFORMED;
    const struct pg_phi_key *k = NULL;
    for (size_t i = 0; i < nkeys && !k; i++)
        if (!strncmp(keys[i].kid, kid, kid_len) && keys[i].kid[kid_len] == '\0')
            k = &keys[i];
    if (!k)
        return PG_ENVELOPE_UNKNOWN_KEY;
    const char *b64 = colon + 3;
    size_t b64_len = (size_t)(end - b64);
    size_t nonce_len = mode == 'r' ? NONCE_LEN : 0;
    unsigned char blob_small[ON_STACK + NONCE_LEN + 1 + TAG_LEN], pt_small[ON_STACK + 1];
    bool small = b64_len <= sizeof blob_small;
    unsigned char *blob = small ? blob_small : malloc(b64_len), *pt = NULL;
    long blob_len = blob ? b64url_decode(b64, b64_len, blob, b64_len) : -1;
    enum pg_envelope_result rc = PG_ENVELOPE_MALFORMED;
    size_t ct_len = 0;
    if (blob_len < (long)(nonce_len + 1 + TAG_LEN))
        goto out;
    ct_len = (size_t)blob_len - nonce_len - TAG_LEN;
    char aad[600];
    size_t aadlen = make_aad(aad, sizeof aad, kid, kid_len, mode, field);
    if (!aadlen || !(pt = small ? pt_small : malloc(ct_len)))
        goto out;
    unsigned char *ct = blob + nonce_len, *tag = ct + ct_len;
    int ok = mode == 'r' ? gcm(k, 0, blob, (unsigned char *)aad, aadlen, ct, ct_len, pt, tag)
                         : siv(k, field, 0, (unsigned char *)aad, aadlen, ct, ct_len, pt, tag);
    if (ok != 0) {
        rc = PG_ENVELOPE_BAD_TAG;
        goto out;
    }
    if (pt[0] != 's' && pt[0] != 'n' && pt[0] != 'b') {
        rc = PG_ENVELOPE_MALFORMED;
        goto out;
    }
    if (ct_len > cap) {
        rc = PG_ENVELOPE_TOO_SMALL;
        goto out;
    }
    *type = (char)pt[0];
    memcpy(out, pt + 1, ct_len - 1);
    out[ct_len - 1] = '\0';
    *out_len = ct_len - 1;
    rc = PG_ENVELOPE_OK;
out:
    if (pt)
        OPENSSL_cleanse(pt, ct_len);
    if (!small) {
        free(pt);
        free(blob);
    }
    return rc;
}

const char *pg_envelope_result_name(enum pg_envelope_result r)
{
    switch (r) {
    case PG_ENVELOPE_OK: return "ok";
    case PG_ENVELOPE_NOT_ONE: return "not an envelope";
    case PG_ENVELOPE_MALFORMED: return "malformed envelope";
    case PG_ENVELOPE_UNKNOWN_KEY: return "unknown key";
    case PG_ENVELOPE_BAD_TAG: return "does not decrypt (wrong key or field, or changed)";
    case PG_ENVELOPE_TOO_SMALL: return "output too small";
    }
    return "unknown";
}
