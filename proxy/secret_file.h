#ifndef PHIGUARD_SECRET_FILE_H
#define PHIGUARD_SECRET_FILE_H
/* Reading a key or password from a file (a Kubernetes Secret volume). A
 * file that group or others may read is refused: such a key is no secret.
 * Blocking: call it at start-up or on the work queue. */
#include <stddef.h>

/* The file's bytes, NUL-terminated, at most max bytes; NULL with why. The
 * caller wipes (OPENSSL_cleanse) and frees it. */
char *pg_secret_file_read(const char *path, size_t max, size_t *len, char *why, size_t whylen);

#endif
