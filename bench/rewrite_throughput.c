/* Micro-benchmark: MB/s of the streaming PHI rewriter on a FHIR Bundle of
 * Patients (Synthea's, repeated to about 8 MB), fed in 16 KiB pieces:
 *   copy      memcpy of the pieces (the floor of any pass over the body)
 *   parse     the rewriter with no selectors (parse and re-emit only)
 *   seal      conf/policy.yaml's Patient request fields, under each Bundle
 *             entry's resource, encrypted (a request to the backend)
 *   reveal    the sealed Bundle decrypted for a reader (a response)
 *   mask      the same for a requester without the read permissions
 * Medians of RUNS runs; MB = 10^6 bytes of input; ns/value: the whole
 * pass (parsing included) divided by the PHI values in it.
 * Usage: bench_rewrite_throughput [RUNS] [PATIENTS.ndjson] [POLICY] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy/keyring.h"
#include "policy/phi_transform.h"
#include "policy/policy.h"
#include "policy/rewrite.h"
#include "policy/selector.h"

#define PIECE 16384
#define TARGET (8u << 20)

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

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(b);
        return NULL;
    }
    fclose(f);
    b[n] = '\0';
    *len = (size_t)n;
    return b;
}

/* {"resourceType":"Bundle","type":"searchset","entry":[{"resource":P},...]}
 * with the NDJSON file's Patients, over and over. */
static char *make_bundle(const char *ndjson, size_t nlen, size_t *len)
{
    size_t cap = TARGET + nlen * 2 + 256, at = 0;
    char *b = malloc(cap);
    at += (size_t)sprintf(b, "{\"resourceType\":\"Bundle\",\"type\":\"searchset\",\"entry\":[");
    bool first = true;
    while (at < TARGET) {
        for (const char *p = ndjson, *end = ndjson + nlen; p < end;) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t n = (size_t)((nl ? nl : end) - p);
            if (n) {
                at += (size_t)sprintf(b + at, "%s{\"resource\":", first ? "" : ",");
                memcpy(b + at, p, n);
                at += n;
                b[at++] = '}';
                first = false;
            }
            p += n + 1;
        }
    }
    at += (size_t)sprintf(b + at, "]}");
    *len = at;
    return b;
}

struct sink {
    char *buf;
    size_t len, cap;
    bool keep;    /* keep the output (the sealed Bundle is revealed next) */
    char ring[PIECE * 4]; /* otherwise: copied here, as a proxy copies into its buffers */
    size_t ring_at;
};

static int sink_write(void *arg, const char *d, size_t n)
{
    struct sink *s = arg;
    if (s->keep) {
        if (s->len + n > s->cap) {
            s->cap = (s->len + n) * 2;
            s->buf = realloc(s->buf, s->cap);
            if (!s->buf)
                return -1;
        }
        memcpy(s->buf + s->len, d, n);
        s->len += n;
        return 0;
    }
    for (size_t done = 0; done < n;) {
        size_t k = n - done < sizeof s->ring - s->ring_at ? n - done : sizeof s->ring - s->ring_at;
        memcpy(s->ring + s->ring_at, d + done, k);
        s->ring_at = (s->ring_at + k) % sizeof s->ring;
        done += k;
    }
    s->len += n;
    return 0;
}

struct job {
    struct pg_phi_pass pass;
    struct pg_phi_tally *tally;
    struct sink *sink;
    pg_rw_value_fn fn;
};

static int job_write(void *arg, const char *d, size_t n)
{
    return sink_write(((struct job *)arg)->sink, d, n);
}

static enum pg_rw_action job_value(void *arg, const struct pg_rw_value *v, struct pg_rw_token *t)
{
    struct job *j = arg;
    return j->fn(&j->pass, v, t);
}

static enum pg_rw_action keep_all(void *pass, const struct pg_rw_value *v, struct pg_rw_token *t)
{
    (void)pass, (void)v, (void)t;
    return PG_RW_KEEP;
}

/* Seconds for one pass of body through set with fn. */
static double pass_once(const struct pg_sel_set *set, struct job *j, const char *body, size_t len)
{
    struct pg_rw_options opt = {.scan_envelopes = set != NULL};
    memset(j->tally, 0, sizeof *j->tally * (size_t)(j->pass.nfields + 1));
    double t0 = now();
    struct pg_rewriter *rw = pg_rewriter_new(set, &opt, job_value, job_write, j);
    int rc = 0;
    for (size_t at = 0; at < len && rc == 0; at += PIECE)
        rc = pg_rewriter_feed(rw, body + at, len - at < PIECE ? len - at : PIECE);
    if (rc == 0)
        rc = pg_rewriter_finish(rw);
    double dt = now() - t0;
    if (rc != 0) {
        fprintf(stderr, "rewriter: %s\n", pg_rewriter_error(rw));
        exit(1);
    }
    pg_rewriter_free(rw);
    return dt;
}

int main(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : 5;
    const char *ndjson_path = argc > 2 ? argv[2] : "/work/shared/fhir/synthea/Patient.000.ndjson";
    const char *top = getenv("PHIGUARD_SOURCE_DIR");
    char policy_path[1024];
    snprintf(policy_path, sizeof policy_path, "%s/conf/policy.yaml", top ? top : ".");
    if (argc > 3)
        snprintf(policy_path, sizeof policy_path, "%s", argv[3]);
    if (runs < 1 || runs > 99)
        return 2;
    size_t nlen, len;
    char *nd = slurp(ndjson_path, &nlen);
    if (!nd) {
        fprintf(stderr, "cannot read %s\n", ndjson_path);
        return 1;
    }
    char *bundle = make_bundle(nd, nlen, &len);
    struct pg_policy_errors errs = {0};
    struct pg_policy *p = pg_policy_load(policy_path, &errs);
    if (!p) {
        fprintf(stderr, "%s: %s\n", policy_path, errs.count ? errs.items[0] : "does not load");
        return 1;
    }
    const struct pg_route *w = NULL;
    for (int i = 0; i < p->nroutes && !w; i++)
        if (!strcmp(p->routes[i].name, "patient-write"))
            w = &p->routes[i];
    if (!w || w->nphi_request < 1 || w->nphi_request > 32)
        return 1;
    /* The same fields, under each entry's resource. */
    int nf = w->nphi_request;
    struct pg_phi_field fields[32];
    pg_permset reader = {{0}};
    for (int i = 0; i < nf; i++) {
        fields[i] = w->phi_request[i];
        char sel[256], why[128];
        snprintf(sel, sizeof sel, "$.entry[*].resource%s", w->phi_request[i].selector + 1);
        if (pg_selector_compile(sel, &fields[i].steps, &fields[i].nsteps, why, sizeof why) != 0)
            return 1;
        int r = fields[i].read_perm;
        reader.w[r / 64] |= 1ULL << (r % 64);
    }
    bool failed;
    struct pg_sel_set *set = pg_sel_set_new(fields, nf, &failed);
    static const char keys[] = "active k1\nk1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n";
    struct pg_keyring ring;
    if (!set || pg_keyring_parse("bench", keys, sizeof keys - 1, &ring, &errs) != 0)
        return 1;

    struct pg_phi_tally tally[33];
    static struct sink sink, sealed;
    struct job plain = {.pass = {.nfields = 0}, .tally = tally, .sink = &sink, .fn = keep_all};
    struct job seal = {.pass = {.ring = &ring, .fields = fields, .nfields = nf, .tally = tally},
                       .tally = tally, .sink = &sealed, .fn = pg_phi_seal_value};
    struct job reveal = {.pass = {.ring = &ring, .fields = fields, .nfields = nf, .perms = reader, .tally = tally},
                         .tally = tally, .sink = &sink, .fn = pg_phi_reveal_value};
    struct job mask = reveal;
    mask.pass.perms = (pg_permset){{0}};
    sealed.keep = true;

    double t[5][99];
    unsigned long values = 0;
    char *out = malloc(PIECE);
    for (int r = 0; r < runs; r++) {
        double t0 = now();
        for (size_t at = 0; at < len; at += PIECE)
            memcpy(out, bundle + at, len - at < PIECE ? len - at : PIECE);
        t[0][r] = now() - t0;
        t[1][r] = pass_once(NULL, &plain, bundle, len);
        sealed.len = 0;
        t[2][r] = pass_once(set, &seal, bundle, len);
        values = 0;
        for (int i = 0; i < nf; i++)
            values += tally[i].sealed;
        t[3][r] = pass_once(set, &reveal, sealed.buf, sealed.len);
        t[4][r] = pass_once(set, &mask, sealed.buf, sealed.len);
    }
    __asm__ volatile("" : : "r"(out) : "memory");
    static const char *const names[] = {"copy", "parse", "seal", "reveal", "mask"};
    printf("bundle: %.1f MB, %lu PHI values (%d fields), sealed %.1f MB; %d runs, median\n", (double)len / 1e6,
           values, nf, (double)sealed.len / 1e6, runs);
    printf("%-8s %10s %12s\n", "variant", "MB/s", "ns/value"); /* a whole pass, per PHI value */
    for (int v = 0; v < 5; v++) {
        qsort(t[v], (size_t)runs, sizeof t[v][0], cmp);
        double med = t[v][runs / 2], in = v >= 3 ? (double)sealed.len : (double)len;
        if (v >= 2)
            printf("%-8s %10.1f %12.0f\n", names[v], in / 1e6 / med, med * 1e9 / (double)values);
        else
            printf("%-8s %10.1f %12s\n", names[v], in / 1e6 / med, "-");
    }
    printf("(reveal and mask read the sealed Bundle; MB/s counts its bytes)\n");
    for (int i = 0; i < nf; i++)
        pg_selector_free(fields[i].steps, fields[i].nsteps);
    pg_sel_set_free(set);
    pg_keyring_wipe(&ring);
    pg_policy_unref(p);
    free(sealed.buf);
    free(out);
    free(bundle);
    free(nd);
    return 0;
}
