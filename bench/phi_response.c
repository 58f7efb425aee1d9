/* Micro-benchmark: the PHI work on one small response and one small
 * request, as the proxy does it (proxy/body_xform.c: the rewriter behind
 * the body wrapper, identity coding, chunked output), without the network:
 *   reveal   a FHIR Patient whose six PHI fields are sealed (mode r,
 *            AES-256-GCM), decrypted for a requester who reads them all
 *            (bench/phi.sh's phi variant, per response)
 *   seal     the same Patient in clear, sealed (a POST to the backend)
 * The fields are bench/phi.sh's policy. Per body: ns (median of RUNS runs
 * of ITERATIONS bodies each) and, where the kernel lets perf count them,
 * instructions (otherwise run it under valgrind --tool=callgrind and
 * divide reveal_loop's and seal_loop's inclusive counts by ITERATIONS *
 * RUNS; bench/phi_response.sh does that).
 * The Patient is a synthetic one shaped like bench/phi/patient.py's
 * (PATIENT.json to use another: it must hold exactly one value in each of
 * the six fields).
 * Usage: bench_phi_response [ITERATIONS] [RUNS] [PATIENT.json] */
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "policy/keyring.h"
#include "policy/phi_transform.h"
#include "policy/selector.h"
#include "proxy/body_xform.h"

#define NF 6

static const char patient[] =
    "{\"resourceType\": \"Patient\", \"id\": \"bench01\", \"identifier\": [{\"use\": \"usual\", \"system\": "
    "\"urn:oid:2.16.840.1.113883.2.4.6.3\", \"value\": \"123456782\"}, {\"use\": \"usual\", \"system\": "
    "\"urn:oid:2.16.840.1.113883.2.4.6.3\"}], \"active\": true, \"name\": [{\"use\": \"official\", \"family\": "
    "\"Example-Jansen\", \"given\": [\"Marieke\"]}], \"telecom\": [{\"system\": \"phone\", \"value\": "
    "\"0612345678\", \"use\": \"mobile\"}], \"gender\": \"female\", \"birthDate\": \"1961-04-02\", "
    "\"deceasedBoolean\": false, \"address\": [{\"use\": \"home\", \"line\": [\"Voorbeeldstraat 12\"], \"city\": "
    "\"Utrecht\", \"postalCode\": \"3511 AB\", \"country\": \"NLD\"}], \"maritalStatus\": {\"coding\": "
    "[{\"system\": \"http://hl7.org/fhir/v3/MaritalStatus\", \"code\": \"M\", \"display\": \"Married\"}], "
    "\"text\": \"Getrouwd\"}, \"multipleBirthBoolean\": false, \"communication\": [{\"language\": {\"coding\": "
    "[{\"system\": \"urn:ietf:bcp:47\", \"code\": \"nl\", \"display\": \"Dutch\"}], \"text\": \"Nederlands\"}, "
    "\"preferred\": true}], \"managingOrganization\": {\"reference\": \"Organization/bench01\", \"display\": "
    "\"Example University Medical Centre\"}}";

static const struct {
    const char *sel, *logical;
    enum pg_phi_action others;
    int last, perm;
} defs[NF] = {
    {"$.name[*].family", "Patient.name.family", PG_PHI_MASK, 0, 0},
    {"$.name[*].given[*]", "Patient.name.given", PG_PHI_MASK, 0, 0},
    {"$.birthDate", "Patient.birthDate", PG_PHI_REDACT, 0, 0},
    {"$.telecom[*].value", "Patient.telecom.value", PG_PHI_MASK, 4, 1},
    {"$.address[*].line[*]", "Patient.address.line", PG_PHI_REDACT, 0, 1},
    {"$.address[*].city", "Patient.address.city", PG_PHI_REDACT, 0, 1},
};

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

/* A user-space instruction counter for this thread; -1 when perf events
 * are not available (containers often refuse them). */
static int counter_open(void)
{
    struct perf_event_attr a = {.type = PERF_TYPE_HARDWARE,
                                .size = sizeof a,
                                .config = PERF_COUNT_HW_INSTRUCTIONS,
                                .disabled = 1,
                                .exclude_kernel = 1,
                                .exclude_hv = 1};
    return (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
}

static long long counter_read(int fd)
{
    long long v = 0;
    return fd >= 0 && read(fd, &v, sizeof v) == (ssize_t)sizeof v ? v : -1;
}

static struct pg_phi_field fields[NF];
static struct pg_sel_set *set;
static struct pg_keyring ring;
static struct pg_phi_tally tally[NF + 1];

/* One body through the wrapper as the proxy feeds it; the output is left
 * in out. Exits on failure: a benchmark of a refused body measures nothing. */
static void one_body(pg_rw_value_fn fn, struct pg_phi_pass *pass, const char *body, size_t len, bool chunk,
                     struct evbuffer *in, struct evbuffer *out)
{
    struct pg_rw_options opt = {.scan_envelopes = true, .max_value_bytes = 65536};
    memset(tally, 0, sizeof tally);
    struct pg_body_xform *x = pg_body_xform_new(set, &opt, fn, pass, PG_CODING_IDENTITY, 1u << 30);
    if (!x || evbuffer_add(in, body, len) != 0 || pg_body_xform_feed(x, in, len, out, chunk) != 0 ||
        pg_body_xform_finish(x, out, chunk) != 0) {
        fprintf(stderr, "the body was refused: %s\n", x ? pg_body_xform_reason(x) : "out of memory");
        exit(1);
    }
    pg_body_xform_free(x);
}

/* One loop per variant, never inlined: under callgrind each is its own
 * function, whose inclusive cost divided by the bodies it ran (ITERATIONS
 * times RUNS) is the instructions per body. */
static __attribute__((noinline)) void reveal_loop(long n, struct pg_phi_pass *pass, const char *body, size_t len,
                                                  struct evbuffer *in, struct evbuffer *out)
{
    for (long i = 0; i < n; i++) {
        one_body(pg_phi_reveal_value, pass, body, len, true, in, out);
        evbuffer_drain(out, evbuffer_get_length(out));
    }
}

static __attribute__((noinline)) void seal_loop(long n, struct pg_phi_pass *pass, const char *body, size_t len,
                                                struct evbuffer *in, struct evbuffer *out)
{
    for (long i = 0; i < n; i++) {
        one_body(pg_phi_seal_value, pass, body, len, true, in, out);
        evbuffer_drain(out, evbuffer_get_length(out));
    }
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    static char buf[1 << 16];
    *len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return *len && *len < sizeof buf ? buf : NULL;
}

int main(int argc, char **argv)
{
    long iters = argc > 1 ? atol(argv[1]) : 20000;
    int runs = argc > 2 ? atoi(argv[2]) : 5;
    size_t clear_len = sizeof patient - 1;
    const char *clear = patient;
    if (argc > 3 && !(clear = slurp(argv[3], &clear_len))) {
        fprintf(stderr, "cannot read %s (at most 64 KiB)\n", argv[3]);
        return 1;
    }
    if (iters < 1 || runs < 1 || runs > 99)
        return 2;
    for (int i = 0; i < NF; i++) {
        char why[128];
        if (pg_selector_compile(defs[i].sel, &fields[i].steps, &fields[i].nsteps, why, sizeof why) != 0)
            return 1;
        fields[i].logical_path = (char *)defs[i].logical;
        fields[i].others = defs[i].others;
        fields[i].mask_keep_last = defs[i].last;
        fields[i].read_perm = defs[i].perm;
    }
    bool failed;
    set = pg_sel_set_new(fields, NF, &failed);
    static const char keys[] = "active k1\nk1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n";
    struct pg_policy_errors errs = {0};
    if (!set || pg_keyring_parse("bench", keys, sizeof keys - 1, &ring, &errs) != 0)
        return 1;
    struct pg_phi_pass seal = {.ring = &ring, .fields = fields, .nfields = NF, .tally = tally};
    struct pg_phi_pass reveal = seal;
    reveal.perms.w[0] = 3; /* both read permissions: every field opens */

    struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
    if (!in || !out)
        return 1;
    /* The sealed Patient, as the proxy writes it (without chunk framing). */
    one_body(pg_phi_seal_value, &seal, clear, clear_len, false, in, out);
    size_t sealed_len = evbuffer_get_length(out);
    char *sealed = malloc(sealed_len);
    if (!sealed || evbuffer_remove(out, sealed, sealed_len) != (int)sealed_len)
        return 1;
    for (int i = 0; i < NF; i++)
        if (tally[i].sealed != 1) {
            fprintf(stderr, "the Patient must hold one value in each of the %d fields\n", NF);
            return 1;
        }

    int fd = counter_open();
    if (fd >= 0)
        ioctl(fd, PERF_EVENT_IOC_ENABLE, 0);
    double t[2][99];
    long long ins[2][99];
    for (int r = 0; r < runs; r++) {
        for (int v = 0; v < 2; v++) {
            long long i0 = counter_read(fd);
            double t0 = now();
            if (v == 0)
                reveal_loop(iters, &reveal, sealed, sealed_len, in, out);
            else
                seal_loop(iters, &seal, clear, clear_len, in, out);
            t[v][r] = (now() - t0) / (double)iters;
            long long i1 = counter_read(fd);
            ins[v][r] = i0 >= 0 && i1 >= 0 ? (i1 - i0) / iters : -1;
        }
        for (int i = 0; i < NF; i++)
            if (tally[i].sealed != 1) /* the last body was a seal; the reveals are checked below */
                return 1;
    }
    one_body(pg_phi_reveal_value, &reveal, sealed, sealed_len, true, in, out);
    for (int i = 0; i < NF; i++)
        if (tally[i].opened != 1 || tally[i].failed) {
            fprintf(stderr, "field %d did not open\n", i);
            return 1;
        }
    printf("Patient: %zu bytes clear, %zu sealed (%d envelopes, mode r); %ld bodies per run, %d runs, median\n",
           clear_len, sealed_len, NF, iters, runs);
    printf("%-8s %10s %14s\n", "variant", "ns/body", "instr/body");
    static const char *const names[] = {"reveal", "seal"};
    for (int v = 0; v < 2; v++) {
        qsort(t[v], (size_t)runs, sizeof t[v][0], cmp);
        /* Instructions barely vary between runs: the fewest is the count
         * without a stray page fault or timer tick. */
        long long best = ins[v][0];
        for (int r = 1; r < runs; r++)
            best = ins[v][r] < best ? ins[v][r] : best;
        char count[32] = "n/a (no perf)";
        if (best >= 0)
            snprintf(count, sizeof count, "%lld", best);
        printf("%-8s %10.0f %14s\n", names[v], t[v][runs / 2] * 1e9, count);
    }
    if (fd >= 0)
        close(fd);
    evbuffer_free(in);
    evbuffer_free(out);
    free(sealed);
    for (int i = 0; i < NF; i++)
        pg_selector_free(fields[i].steps, fields[i].nsteps);
    pg_sel_set_free(set);
    pg_keyring_wipe(&ring);
    pg_policy_errors_free(&errs);
    return 0;
}
