#ifndef PHIGUARD_POLICY_GCM_AESNI_H
#define PHIGUARD_POLICY_GCM_AESNI_H
/* AES-256-GCM for one key without OpenSSL's EVP layer: OpenSSL's GCM mode
 * (openssl/modes.h, the same code its provider runs, with its carry-less
 * multiply GHASH) over the CPU's AES instructions (AES-NI) for the block
 * cipher. For the envelopes' small values EVP's per-call plumbing (three
 * cipher calls and a parameter call, each looked up through the provider)
 * cost four times the cipher work (docs/performance.md).
 *
 * Only on x86-64 CPUs with AES-NI and PCLMULQDQ: pg_gcm_aesni_new()
 * returns NULL elsewhere, and the caller keeps to EVP. A context is one
 * thread's: not to be shared. The key schedule is wiped when it is freed. */
#include <stdbool.h>
#include <stddef.h>

#define PG_GCM_NONCE_LEN 12
#define PG_GCM_TAG_LEN 16

struct pg_gcm_aesni;

bool pg_gcm_aesni_available(void);
/* NULL when the CPU lacks the instructions, or on allocation failure. */
struct pg_gcm_aesni *pg_gcm_aesni_new(const unsigned char key[32]);
/* 0, or -1 (lengths beyond GCM's limits). */
int pg_gcm_aesni_seal(struct pg_gcm_aesni *g, const unsigned char nonce[PG_GCM_NONCE_LEN], const unsigned char *aad,
                      size_t aadlen, const unsigned char *in, size_t len, unsigned char *out,
                      unsigned char tag[PG_GCM_TAG_LEN]);
/* 0 when the tag matches (out then holds the plaintext), -1 otherwise:
 * the caller must not use out then. */
int pg_gcm_aesni_open(struct pg_gcm_aesni *g, const unsigned char nonce[PG_GCM_NONCE_LEN], const unsigned char *aad,
                      size_t aadlen, const unsigned char *in, size_t len, unsigned char *out,
                      const unsigned char tag[PG_GCM_TAG_LEN]);
void pg_gcm_aesni_free(struct pg_gcm_aesni *g);

#endif
