#ifndef PHIGUARD_POLICY_UNITS_H
#define PHIGUARD_POLICY_UNITS_H
/* The value syntax shared by the configuration, the policy and the
 * parsers. */

/* "500ms", "10s", "30m", "1h", "2d", or a plain number of seconds; in ms. */
int pg_parse_duration_ms(const char *text, long long *out_ms);
/* "16384", "16KiB", "10MiB", "1GiB"; in bytes. */
int pg_parse_size(const char *text, long long *out_bytes);
/* "100/s", "30/m", "1000/h"; in events per second. */
int pg_parse_rate(const char *text, double *per_sec);
/* The value of one hexadecimal digit (either case), or -1. */
int pg_hex_digit(int c);
/* FNV-1a of len bytes: the one hash the in-memory tables use (sessions,
 * metrics, blocks, detection counts). Not for anything an attacker's
 * choice of keys could hurt beyond a longer probe. */
#include <stddef.h>
#include <stdint.h>
uint32_t pg_fnv1a(const void *data, size_t len);

#endif
