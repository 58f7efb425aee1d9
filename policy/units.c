#include "policy/units.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

static int number_then_unit(const char *text, long long *n, const char **unit)
{
    char *end;
    errno = 0;
    *n = strtoll(text, &end, 10);
    if (end == text || *n < 0 || errno || (text[0] < '0' || text[0] > '9'))
        return -1;
    *unit = end;
    return 0;
}

static int scaled(long long n, long long mult, long long *out)
{
    if (n > LLONG_MAX / mult)
        return -1;
    *out = n * mult;
    return 0;
}

struct unit {
    const char *suffix;
    long long mult;
};

static int parse_with_units(const char *text, const struct unit *units, size_t n, long long *out)
{
    long long v;
    const char *u;
    if (number_then_unit(text, &v, &u) != 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (strcmp(u, units[i].suffix) == 0)
            return scaled(v, units[i].mult, out);
    return -1;
}

int pg_parse_duration_ms(const char *text, long long *out_ms)
{
    static const struct unit units[] = {{"", 1000}, {"s", 1000}, {"ms", 1}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    return parse_with_units(text, units, sizeof units / sizeof units[0], out_ms);
}

int pg_parse_size(const char *text, long long *out_bytes)
{
    static const struct unit units[] = {{"", 1}, {"KiB", 1LL << 10}, {"MiB", 1LL << 20}, {"GiB", 1LL << 30}};
    return parse_with_units(text, units, sizeof units / sizeof units[0], out_bytes);
}

int pg_parse_rate(const char *text, double *per_sec)
{
    long long n;
    const char *u;
    if (number_then_unit(text, &n, &u) != 0 || n == 0)
        return -1;
    if (strcmp(u, "/s") == 0)
        *per_sec = (double)n;
    else if (strcmp(u, "/m") == 0)
        *per_sec = (double)n / 60.0;
    else if (strcmp(u, "/h") == 0)
        *per_sec = (double)n / 3600.0;
    else
        return -1;
    return 0;
}

int pg_hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

uint32_t pg_fnv1a(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}
