/* Micro-benchmark: the cost of one PHI envelope, sealed and opened, in
 * both modes, for a short value (an identifier) and a longer one (a note),
 * single-threaded, and sealing on several threads at once (the proxy's
 * workers share one keyring).
 * Usage: bench_envelope_seal [ITERATIONS] [RUNS] [THREADS] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy/envelope.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static struct pg_phi_key key;
static long iters;

struct job {
    char mode;
    const char *value;
    int open;
    double ns;
};

static double one_run(char mode, const char *value, int open)
{
    static const char field[] = "Patient.identifier.value";
    char env[4096], out[2048], type;
    size_t len = strlen(value), n;
    long elen = pg_envelope_seal(&key, mode, field, 's', value, len, env, sizeof env);
    if (elen < 0)
        abort();
    double t0 = now();
    for (long i = 0; i < iters; i++) {
        if (open) {
            if (pg_envelope_open(&key, 1, field, env, (size_t)elen, &type, out, sizeof out, &n) != PG_ENVELOPE_OK)
                abort();
        } else if (pg_envelope_seal(&key, mode, field, 's', value, len, env, sizeof env) < 0) {
            abort();
        }
    }
    return (now() - t0) * 1e9 / (double)iters;
}

static void *thread_main(void *arg)
{
    struct job *j = arg;
    j->ns = one_run(j->mode, j->value, j->open);
    return NULL;
}

int main(int argc, char **argv)
{
    iters = argc > 1 ? atol(argv[1]) : 200000;
    int runs = argc > 2 ? atoi(argv[2]) : 5;
    int threads = argc > 3 ? atoi(argv[3]) : 2;
    if (iters < 1 || runs < 1 || runs > 64 || threads < 1 || threads > 64)
        return 2;
    unsigned char secret[32];
    memset(secret, 0x5a, sizeof secret);
    if (pg_phi_key_init(&key, "k1", secret) != 0)
        return 1;
    static const char note[] = "Patient reports intermittent chest pain for two weeks, worse on exertion; "
                               "family history of early coronary disease; referred for stress test.";
    static const struct {
        char mode;
        const char *name, *value;
    } cases[] = {{'r', "r (GCM) 11 B", "123-45-6789"}, {'d', "d (SIV) 11 B", "123-45-6789"},
                 {'r', "r (GCM) 150 B", note}, {'d', "d (SIV) 150 B", note}};
    printf("%-16s %12s %12s   (median of %d runs of %ld)\n", "mode, value", "seal ns", "open ns", runs, iters);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        double r[2][64];
        for (int op = 0; op < 2; op++) {
            for (int i = 0; i < runs; i++)
                r[op][i] = one_run(cases[c].mode, cases[c].value, op);
            qsort(r[op], (size_t)runs, sizeof r[op][0], cmp);
        }
        printf("%-16s %12.0f %12.0f\n", cases[c].name, r[0][runs / 2], r[1][runs / 2]);
    }
    /* Threads at once: each its own loop over the shared key. */
    for (int m = 0; m < 2; m++) {
        struct job jobs[64];
        pthread_t t[64];
        for (int i = 0; i < threads; i++) {
            jobs[i] = (struct job){.mode = m ? 'd' : 'r', .value = "123-45-6789"};
            pthread_create(&t[i], NULL, thread_main, &jobs[i]);
        }
        double sum = 0;
        for (int i = 0; i < threads; i++) {
            pthread_join(t[i], NULL);
            sum += jobs[i].ns;
        }
        printf("%d threads, %c seal: %.0f ns per value per thread\n", threads, m ? 'd' : 'r', sum / threads);
    }
    return 0;
}
