/* libFuzzer target: the streaming rewriter, which reads every request and
 * response body on a PHI route. Arbitrary bytes, fed in pieces of random
 * sizes, through the seal and the reveal transforms with stray envelopes
 * scanned. Never a crash or a leak; a body that sealed always reveals
 * (what phiguard wrote, phiguard can read back); and a revealed body is
 * the same however it was cut, and is JSON again. The first two bytes pick
 * the piece sizes and the pass; the rest is the body. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_out.h"
#include "policy/keyring.h"
#include "policy/phi_transform.h"
#include "policy/rewrite.h"
#include "policy/selector.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NF 6

static struct pg_phi_field fields[NF];
static struct pg_sel_set *set;
static struct pg_keyring ring;

static void setup(void)
{
    static const struct {
        const char *sel, *logical;
        bool searchable;
        enum pg_phi_normalize norm;
        enum pg_phi_action others;
        int last;
    } defs[NF] = {
        {"$.identifier[*].value", "Patient.identifier.value", true, PG_NORM_DIGITS, PG_PHI_MASK, 4},
        {"$.name[*].family", "Patient.name.family", false, PG_NORM_NONE, PG_PHI_MASK, 0},
        {"$.name[*].given[*]", "Patient.name.given", false, PG_NORM_NONE, PG_PHI_REDACT, 0},
        {"$..text", "Patient.**.text", true, PG_NORM_LOWER, PG_PHI_MASK, 2},
        {"$.telecom", "Patient.telecom", false, PG_NORM_NONE, PG_PHI_REDACT, 0},
        {"$.entry[*].resource.birthDate", "Bundle.entry.resource.birthDate", false, PG_NORM_NONE, PG_PHI_DENY, 0},
    };
    for (int i = 0; i < NF; i++) {
        char why[128];
        if (pg_selector_compile(defs[i].sel, &fields[i].steps, &fields[i].nsteps, why, sizeof why) != 0)
            abort();
        fields[i].logical_path = (char *)defs[i].logical;
        fields[i].searchable = defs[i].searchable;
        fields[i].normalize = defs[i].norm;
        fields[i].others = defs[i].others;
        fields[i].mask_keep_last = defs[i].last;
        fields[i].read_perm = i; /* permission i reads field i */
    }
    bool failed;
    set = pg_sel_set_new(fields, NF, &failed);
    static const char text[] = "active k2\nk1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
                               "k2 HxoeHRwbGhkYFxYVFBMSERAPDg0MCwoJCAcGBQQDAgE=\n";
    struct pg_policy_errors errs = {0};
    if (!set || pg_keyring_parse("fuzz", text, sizeof text - 1, &ring, &errs) != 0)
        abort();
    pg_policy_errors_free(&errs);
}

struct out {
    struct fuzz_out b;
    bool keep;
};

struct pass {
    struct pg_phi_pass phi;
    struct pg_phi_tally tally[NF + 1];
    struct out out;
};

static int write_fn(void *arg, const char *d, size_t n)
{
    struct out *o = &((struct pass *)arg)->out;
    return o->keep ? fuzz_out_append(&o->b, d, n) : 0;
}

static enum pg_rw_action seal_fn(void *arg, const struct pg_rw_value *v, struct pg_rw_token *t)
{
    return pg_phi_seal_value(&((struct pass *)arg)->phi, v, t);
}

static enum pg_rw_action reveal_fn(void *arg, const struct pg_rw_value *v, struct pg_rw_token *t)
{
    return pg_phi_reveal_value(&((struct pass *)arg)->phi, v, t);
}

static enum pg_rw_action keep_fn(void *arg, const struct pg_rw_value *v, struct pg_rw_token *t)
{
    (void)arg, (void)v, (void)t;
    return PG_RW_KEEP;
}

/* The body through one pass in one piece; 0 when it was taken. */
static int run_whole(pg_rw_value_fn fn, struct pass *p, bool ndjson, const uint8_t *body, size_t len)
{
    struct pg_rw_options opt = {.scan_envelopes = true, .multiple_values = ndjson};
    struct pg_rewriter *rw = pg_rewriter_new(set, &opt, fn, write_fn, p);
    if (!rw)
        return -1;
    int rc = pg_rewriter_feed(rw, (const char *)body, len);
    if (rc == 0)
        rc = pg_rewriter_finish(rw);
    pg_rewriter_free(rw);
    return rc;
}

/* The body through one pass in pieces; 0 when it was taken whole. */
static int run(pg_rw_value_fn fn, struct pass *p, bool ndjson, const uint8_t *body, size_t len, unsigned seed)
{
    struct pg_rw_options opt = {.scan_envelopes = true, .multiple_values = ndjson};
    struct pg_rewriter *rw = pg_rewriter_new(set, &opt, fn, write_fn, p);
    if (!rw)
        return -1;
    int rc = fuzz_feed_pieces(rw, body, len, seed, 97);
    if (pg_rewriter_error(rw) == NULL)
        __builtin_trap();
    pg_rewriter_free(rw);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!set)
        setup();
    if (size < 2)
        return 0;
    unsigned seed = data[0], flags = data[1];
    const uint8_t *body = data + 2;
    size_t len = size - 2;
    bool ndjson = flags & 1;
    pg_permset perms = {{0}};
    perms.w[0] = (flags >> 1) & 0x3f; /* which fields the requester reads */

    struct pass seal = {.phi = {.ring = &ring, .fields = fields, .nfields = NF}, .out = {.keep = true}};
    seal.phi.tally = seal.tally;
    int sealed = run(seal_fn, &seal, ndjson, body, len, seed);

    /* The raw body as a response (an upstream may send anything), and what
     * sealing made of it. */
    struct pass raw = {.phi = {.ring = &ring, .fields = fields, .nfields = NF, .perms = perms}, .out = {.keep = true}};
    raw.phi.tally = raw.tally;
    int raw_rc = run(reveal_fn, &raw, ndjson, body, len, seed ^ 0x5a5a);
    /* The output is the same however the body was cut (the reveal is
     * deterministic: nothing here opens), and is JSON itself. */
    struct pass whole = {.phi = {.ring = &ring, .fields = fields, .nfields = NF, .perms = perms}, .out = {.keep = true}};
    whole.phi.tally = whole.tally;
    if (run_whole(reveal_fn, &whole, ndjson, body, len) != raw_rc)
        __builtin_trap();
    if (raw_rc == 0) {
        if (whole.out.b.len != raw.out.b.len || (raw.out.b.len && memcmp(whole.out.b.buf, raw.out.b.buf, raw.out.b.len)))
            __builtin_trap();
        struct pass again = {.phi = {.ring = &ring, .fields = fields, .nfields = NF, .perms = perms}};
        again.phi.tally = again.tally;
        if (run(keep_fn, &again, ndjson, (const uint8_t *)raw.out.b.buf, raw.out.b.len, seed) != 0)
            __builtin_trap();
    }
    free(raw.out.b.buf);
    free(whole.out.b.buf);
    if (sealed == 0) {
        struct pass back = {.phi = {.ring = &ring, .fields = fields, .nfields = NF, .perms = perms}};
        back.phi.tally = back.tally;
        if (run(reveal_fn, &back, ndjson, (const uint8_t *)seal.out.b.buf, seal.out.b.len, seed) != 0)
            __builtin_trap();
        for (int i = 0; i < NF; i++)
            if (back.tally[i].failed || back.tally[i].plain || back.tally[NF].masked)
                __builtin_trap(); /* every selected value went out sealed, and opens */
    }
    free(seal.out.b.buf);
    return 0;
}
