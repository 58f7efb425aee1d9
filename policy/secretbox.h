#ifndef PHIGUARD_POLICY_SECRETBOX_H
#define PHIGUARD_POLICY_SECRETBOX_H
/* AES-256-GCM for small secrets at rest (TOTP secrets kept in Redis), so
 * that a copy of the Redis data alone does not let anyone mint codes.
 *
 * Blob: 0x01 | nonce (12 random bytes) | ciphertext | tag (16). The
 * version byte is authenticated with the caller's associated data, which
 * should name the owner (e.g. the user id): a blob copied onto another
 * user's record then fails to open instead of giving that user the first
 * one's second factor. Random nonces are safe here because one key seals
 * few blobs (one per enrolment), far below GCM's 2^32 limit. */
#include <stddef.h>

#define PG_SECRETBOX_KEY_LEN 32
#define PG_SECRETBOX_OVERHEAD 29 /* 1 version byte + 12 nonce + 16 tag */

/* out must not overlap pt. Returns the length written (ptlen + overhead),
 * or -1 (outcap too small, RNG or EVP failure). */
int pg_secretbox_seal(const unsigned char key[32], const void *aad, size_t aadlen, const void *pt, size_t ptlen,
                      unsigned char *out, size_t outcap);
/* Returns the plaintext length, or -1 when the blob is malformed, its
 * version unknown, outcap too small, or the tag does not verify (wrong
 * key, wrong aad, any bit changed); out then holds nothing of it. */
int pg_secretbox_open(const unsigned char key[32], const void *aad, size_t aadlen, const unsigned char *blob,
                      size_t bloblen, unsigned char *out, size_t outcap);
/* Reads a key file: exactly 32 raw bytes, 64 hex characters, or 44 base64
 * characters, optionally followed by one newline. A file readable by group
 * or others (mode & 077) is refused. 0, or -1 with why. This one does file
 * I/O: call it at start-up only. */
int pg_secretbox_key_load(const char *path, unsigned char key[32], char *why, size_t whylen);

#endif
