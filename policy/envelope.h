#ifndef PHIGUARD_POLICY_ENVELOPE_H
#define PHIGUARD_POLICY_ENVELOPE_H
/* The PHI envelope (DESIGN.md, "The PHI envelope"): a JSON value replaced
 * by the string
 *
 *     phi:v1:<kid>:<mode>:<base64url(nonce ‖ ciphertext ‖ tag)>
 *
 * mode r: AES-256-GCM with a random 96-bit nonce; mode d: AES-256-SIV
 * (deterministic, no nonce: equal values give equal envelopes, so an
 * unmodified backend can match them), under a per-field key derived with
 * HKDF from the key's SIV root and the field's logical path. The
 * associated data is "v1|kid|mode|field", so an envelope moved to another
 * field does not open. The plaintext is the JSON type byte ('s' string, 'n'
 * number, 'b' boolean) then the value, so opening restores the original
 * token (and SIV never sees an empty plaintext).
 *
 * Pure: keys come from the caller (the keyring loader is the only part that
 * reads a file). Thread-safe: any thread may seal and open with a shared,
 * read-only key. The algorithms are fetched once per process; each thread
 * keeps its own cipher contexts: GCM already keyed for each of the last
 * few keys it used (over AES-NI where the CPU has it, policy/gcm_aesni.h),
 * and the SIV contexts of the last few fields (both found by the key's
 * contents, so a freed and reloaded keyring is never confused), wiped when
 * the thread ends. */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#define PG_ENVELOPE_PREFIX "phi:v1:"
#define PG_ENVELOPE_KID_MAX 32

/* One keyring entry: a 256-bit secret from which the GCM key and the
 * 512-bit SIV root are derived (HKDF-SHA256, distinct labels). */
struct pg_phi_key {
    char kid[PG_ENVELOPE_KID_MAX + 1]; /* [A-Za-z0-9_-], 1 to 32 */
    unsigned char gcm[32];
    unsigned char siv_root[64];
};

/* Derives a key's working keys from its secret. 0 or -1 (bad kid). */
int pg_phi_key_init(struct pg_phi_key *k, const char *kid, const unsigned char secret[32]);

enum pg_envelope_result {
    PG_ENVELOPE_OK = 0,
    PG_ENVELOPE_NOT_ONE,     /* not phi:v1:...: not an envelope at all */
    PG_ENVELOPE_MALFORMED,   /* the prefix, but not the shape */
    PG_ENVELOPE_UNKNOWN_KEY, /* no key with that kid */
    PG_ENVELOPE_BAD_TAG,     /* wrong key, wrong field, or changed bytes */
    PG_ENVELOPE_TOO_SMALL,   /* out cannot hold the result */
};

/* Seals value (len bytes of the given JSON type: 's', 'n' or 'b') for
 * field; mode 'r' or 'd'. Writes the NUL-terminated envelope into out;
 * returns its length, or -1. */
long pg_envelope_seal(const struct pg_phi_key *k, char mode, const char *field, char type, const char *value,
                      size_t len, char *out, size_t cap);
/* Opens an envelope with whichever of keys has its kid. *type gets the
 * JSON type, out the value (NUL-terminated), *out_len its length. */
enum pg_envelope_result pg_envelope_open(const struct pg_phi_key *keys, size_t nkeys, const char *field,
                                         const char *env, size_t env_len, char *type, char *out, size_t cap,
                                         size_t *out_len);
/* Inline: the rewriter asks for every string of a response. */
static inline bool pg_envelope_is(const char *s, size_t len)
{
    return len > sizeof PG_ENVELOPE_PREFIX - 1 && s[0] == 'p' &&
           memcmp(s, PG_ENVELOPE_PREFIX, sizeof PG_ENVELOPE_PREFIX - 1) == 0;
}
const char *pg_envelope_result_name(enum pg_envelope_result r);
/* Tests and benchmarks: GCM through OpenSSL's EVP interface even where the
 * CPU's AES instructions serve otherwise (both give the same envelopes). */
void pg_envelope_gcm_use_evp(bool on);

#endif
