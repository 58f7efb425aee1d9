/* The audit verifier (policy/auditverify.c): a real chain of records and
 * signed checkpoints, then one tampering per row, each found at the right
 * seq for the right reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/auditverify.h"
#include "policy/record.h"

#define N 6
#define KEY "phiguard-audit"

struct stored {
    char bytes[N + 2][1024];
    char h[N + 2][PG_HASH_HEX];
    struct pg_audit_entry e[N + 2];
    size_t n;
    char notes[4][512];
    const char *note_ptr[4];
    size_t nnotes;
};

static EVP_PKEY *key, *rogue;
static struct pg_checkpoint_key trusted;

static int setup(void **state)
{
    (void)state;
    key = pg_checkpoint_keygen();
    rogue = pg_checkpoint_keygen();
    trusted.name = KEY;
    trusted.pub = key; /* verification reads only its public half */
    return key && rogue ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    EVP_PKEY_free(key);
    EVP_PKEY_free(rogue);
    return 0;
}

/* Record i (1-based) of writer, linked to prev; subtype lets a test change
 * a field. */
static void write_record(struct stored *s, size_t i, const char *writer, const char *prev, const char *subtype,
                         const struct pg_audit_epoch_link *link)
{
    struct pg_audit_record r = {.seq = i, .writer = writer, .epoch_prev = link, .time_us = 1795411853000000 + (int64_t)i,
                                .type = "rest", .subtype = subtype, .action = 'R', .outcome = 0,
                                .entity = "Patient/123"};
    memcpy(r.prev, prev, PG_HASH_HEX);
    struct pg_canon c;
    char err[128];
    pg_canon_init(&c);
    assert_int_equal(pg_record_write(&r, &c, err, sizeof err), 0);
    assert_true(c.len < sizeof s->bytes[0]);
    memcpy(s->bytes[i - 1], c.buf, c.len + 1);
    pg_chain_leaf_hash(c.buf, c.len, s->h[i - 1]);
    s->e[i - 1] = (struct pg_audit_entry){i, s->bytes[i - 1], c.len, s->h[i - 1]};
    pg_canon_free(&c);
}

/* Records from..N rewritten so that each links to the one before. */
static void relink(struct stored *s, const char *writer, size_t from, const char *subtype_at_from)
{
    for (size_t i = from; i <= N; i++) {
        char prev[PG_HASH_HEX];
        if (i == 1)
            pg_chain_genesis(writer, prev);
        else
            memcpy(prev, s->h[i - 2], PG_HASH_HEX);
        write_record(s, i, writer, prev, i == from ? subtype_at_from : "read", NULL);
    }
}

static void sign(struct stored *s, EVP_PKEY *with, const char *origin, uint64_t count, int64_t time_us)
{
    struct pg_checkpoint cp = {.count = count, .time_us = time_us};
    snprintf(cp.origin, sizeof cp.origin, "%s", origin);
    if (count)
        memcpy(cp.head, s->h[count - 1], PG_HASH_HEX);
    else
        pg_chain_genesis(origin, cp.head);
    assert_int_equal(pg_checkpoint_sign(with, KEY, &cp, s->notes[s->nnotes], sizeof s->notes[0]), 0);
    s->note_ptr[s->nnotes] = s->notes[s->nnotes];
    s->nnotes++;
}

static void honest_chain(struct stored *s, const char *writer)
{
    memset(s, 0, sizeof *s);
    relink(s, writer, 1, "read");
    s->n = N;
    sign(s, key, writer, 0, 100);
    sign(s, key, writer, 3, 200);
    sign(s, key, writer, N, 300);
}

static struct pg_audit_chain_input input(struct stored *s, const char *writer)
{
    return (struct pg_audit_chain_input){writer, s->e, s->n, s->note_ptr, s->nnotes};
}

static void remove_entry(struct stored *s, size_t idx)
{
    memmove(&s->e[idx], &s->e[idx + 1], (s->n - idx - 1) * sizeof s->e[0]);
    s->n--;
}

enum tamper {
    NONE,
    CHANGE_FIELD,
    CHANGE_FIELD_AND_H,
    DELETE_RECORD,
    INSERT_DUPLICATE,
    INSERT_FORGED,
    REORDER,
    DELETE_TAIL,
    REBUILD,
    REBUILD_AND_RESIGN,
    CHECKPOINTS_REORDERED,
    CHECKPOINT_OTHER_CHAIN,
    CHECKPOINT_GARBLED,
    RECORD_FROM_OTHER_CHAIN,
    RECORD_GARBLED,
    STORED_H_EDITED,
    TRIMMED_AT_CHECKPOINT,
    TRIMMED_WITHOUT_CHECKPOINT,
    EMPTY,
};

static const struct {
    enum tamper t;
    enum pg_audit_fault fault;
    uint64_t bad_seq;
} cases[] = {
    {NONE, PG_AUDIT_OK, 0},
    {CHANGE_FIELD, PG_AUDIT_HASH_MISMATCH, 4},
    {CHANGE_FIELD_AND_H, PG_AUDIT_PREV_MISMATCH, 5},
    {DELETE_RECORD, PG_AUDIT_SEQ_GAP, 3},
    {INSERT_DUPLICATE, PG_AUDIT_SEQ_DUPLICATE, 4},
    {INSERT_FORGED, PG_AUDIT_SEQ_DUPLICATE, 5},
    {REORDER, PG_AUDIT_SEQ_ORDER, 3},
    {DELETE_TAIL, PG_AUDIT_CHECKPOINT_BEYOND_END, 5},
    {REBUILD, PG_AUDIT_CHECKPOINT_HEAD, 3},
    {REBUILD_AND_RESIGN, PG_AUDIT_CHECKPOINT_SIGNATURE, 3},
    {CHECKPOINTS_REORDERED, PG_AUDIT_CHECKPOINT_DECREASING, 3},
    {CHECKPOINT_OTHER_CHAIN, PG_AUDIT_CHECKPOINT_ORIGIN, 2},
    {CHECKPOINT_GARBLED, PG_AUDIT_CHECKPOINT_MALFORMED, 0},
    {RECORD_FROM_OTHER_CHAIN, PG_AUDIT_RECORD_MISPLACED, 2},
    {RECORD_GARBLED, PG_AUDIT_RECORD_MALFORMED, 6},
    {STORED_H_EDITED, PG_AUDIT_HASH_MISMATCH, 1},
    {TRIMMED_AT_CHECKPOINT, PG_AUDIT_OK, 0},
    {TRIMMED_WITHOUT_CHECKPOINT, PG_AUDIT_SEQ_GAP, 1},
    {EMPTY, PG_AUDIT_OK, 0},
};

static void tamper(struct stored *s, enum tamper t, const char *w)
{
    static struct stored other;
    switch (t) {
    case NONE: break;
    case CHANGE_FIELD: /* a read made to look like a search, h left as it was */
        memcpy(strstr(s->bytes[3], "\"read\""), "\"srch\"", 6);
        break;
    case CHANGE_FIELD_AND_H:
        memcpy(strstr(s->bytes[3], "\"read\""), "\"srch\"", 6);
        pg_chain_leaf_hash(s->bytes[3], s->e[3].len, s->h[3]);
        break;
    case DELETE_RECORD: remove_entry(s, 2); break;
    case INSERT_DUPLICATE:
        memmove(&s->e[4], &s->e[3], (s->n - 3) * sizeof s->e[0]);
        s->n++;
        break;
    case INSERT_FORGED: /* a well-formed record 5 linked to 4, stored ahead of the real 5 */
        relink(&other, w, 1, "read"); /* the same honest chain, for the real record 5 */
        memcpy(s->bytes[N], other.bytes[4], sizeof s->bytes[0]);
        memcpy(s->h[N], other.h[4], PG_HASH_HEX);
        write_record(s, 5, w, s->h[3], "search", NULL);
        memmove(&s->e[5], &s->e[4], (s->n - 4) * sizeof s->e[0]);
        s->e[5] = (struct pg_audit_entry){5, s->bytes[N], strlen(s->bytes[N]), s->h[N]};
        s->n++;
        break;
    case REORDER: {
        struct pg_audit_entry tmp = s->e[2];
        s->e[2] = s->e[3];
        s->e[3] = tmp;
        break;
    }
    case DELETE_TAIL: s->n = 4; break;
    case REBUILD: relink(s, w, 2, "search"); break;
    case REBUILD_AND_RESIGN:
        relink(s, w, 2, "search");
        s->nnotes = 0;
        sign(s, key, w, 0, 100);
        sign(s, rogue, w, 3, 200);
        sign(s, rogue, w, N, 300);
        break;
    case CHECKPOINTS_REORDERED: {
        const char *tmp = s->note_ptr[1];
        s->note_ptr[1] = s->note_ptr[2];
        s->note_ptr[2] = tmp;
        break;
    }
    case CHECKPOINT_OTHER_CHAIN: s->nnotes = 2; sign(s, key, "pod-9/w0/e1", 2, 250); break;
    case CHECKPOINT_GARBLED: s->notes[1][0] = '\n'; break;
    case RECORD_FROM_OTHER_CHAIN:
        relink(&other, "pod-9/w0/e1", 1, "read");
        memcpy(s->bytes[1], other.bytes[1], sizeof s->bytes[0]);
        memcpy(s->h[1], other.h[1], PG_HASH_HEX);
        s->e[1].len = strlen(s->bytes[1]);
        break;
    case RECORD_GARBLED: s->e[5].len -= 1; break;
    case STORED_H_EDITED: s->h[0][10] = s->h[0][10] == '0' ? '1' : '0'; break;
    case TRIMMED_AT_CHECKPOINT:
        remove_entry(s, 0), remove_entry(s, 0), remove_entry(s, 0);
        break;
    case TRIMMED_WITHOUT_CHECKPOINT: remove_entry(s, 0), remove_entry(s, 0); break;
    case EMPTY: s->n = 0; s->nnotes = 1; break;
    }
}

static void test_every_tampering(void **state)
{
    (void)state;
    static const char *w = "pod-0/w0/e1";
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        static struct stored s;
        honest_chain(&s, w);
        tamper(&s, cases[i].t, w);
        struct pg_audit_chain_input in = input(&s, w);
        struct pg_audit_result r;
        int rc = pg_auditverify_chain(&in, &trusted, 1, &r);
        if (r.fault != cases[i].fault || r.bad_seq != cases[i].bad_seq || rc != (cases[i].fault ? -1 : 0))
            fail_msg("case %zu: got %s at seq %llu (%s), want %s at seq %llu", i, pg_audit_fault_name(r.fault),
                     (unsigned long long)r.bad_seq, r.detail, pg_audit_fault_name(cases[i].fault),
                     (unsigned long long)cases[i].bad_seq);
        if (cases[i].fault != PG_AUDIT_OK && !r.detail[0])
            fail_msg("case %zu: no detail", i);
    }
}

static void test_summary_of_a_good_chain(void **state)
{
    (void)state;
    static struct stored s;
    honest_chain(&s, "w");
    struct pg_audit_chain_input in = input(&s, "w");
    struct pg_audit_result r;
    assert_int_equal(pg_auditverify_chain(&in, &trusted, 1, &r), 0);
    assert_int_equal(r.first_seq, 1);
    assert_int_equal(r.last_seq, N);
    assert_string_equal(r.head, s.h[N - 1]);
    assert_int_equal(r.checkpoints_verified, 3);
    assert_int_equal(r.checkpoint_count, N);
    assert_int_equal(r.checkpoint_time_us, 300);
    /* Without the key every checkpoint is refused. */
    struct pg_checkpoint_key wrong = {KEY, rogue};
    assert_int_equal(pg_auditverify_chain(&in, &wrong, 1, &r), -1);
    assert_int_equal(r.fault, PG_AUDIT_CHECKPOINT_SIGNATURE);
    assert_int_equal(r.bad_seq, 0); /* the genesis checkpoint claims 0 records */
}

/* Two epochs of one writer: e2's first record names e1's head. */
static void test_epoch_links(void **state)
{
    (void)state;
    static struct stored a, b;
    for (int variant = 0; variant < 5; variant++) {
        honest_chain(&a, "w/e1");
        honest_chain(&b, "w/e2");
        struct pg_audit_epoch_link link = {.writer = "w/e1", .seq = N};
        memcpy(link.head, a.h[N - 1], PG_HASH_HEX);
        enum pg_audit_fault want = PG_AUDIT_OK;
        uint64_t want_seq = 0;
        size_t bad_chain = 0;
        if (variant == 1) { /* e1's tail deleted along with its checkpoints */
            a.n = 4;
            a.nnotes = 2;
            want = PG_AUDIT_EPOCH_LINK, want_seq = 5;
        } else if (variant == 2) { /* e1's head named wrongly */
            link.head[0] = link.head[0] == 'a' ? 'b' : 'a';
            want = PG_AUDIT_EPOCH_LINK, want_seq = N;
        } else if (variant == 3) { /* e1 is gone */
            link.writer = "w/e0";
            want = PG_AUDIT_EPOCH_LINK, want_seq = 1, bad_chain = 1;
        } else if (variant == 4) { /* e1 had no records: its genesis is its head */
            link.seq = 0;
            link.writer = "w/e0";
            pg_chain_genesis("w/e0", link.head);
        }
        char genesis[PG_HASH_HEX];
        pg_chain_genesis("w/e2", genesis);
        write_record(&b, 1, "w/e2", genesis, "read", &link);
        relink(&b, "w/e2", 2, "read");
        b.nnotes = 0;
        sign(&b, key, "w/e2", N, 400);
        struct pg_audit_chain_input in[2] = {input(&a, "w/e1"), input(&b, "w/e2")};
        struct pg_audit_result r[2];
        pg_auditverify_chain(&in[0], &trusted, 1, &r[0]);
        assert_int_equal(pg_auditverify_chain(&in[1], &trusted, 1, &r[1]), 0);
        size_t bad = pg_auditverify_epochs(in, 2, r);
        if (r[bad_chain].fault != want || r[bad_chain].bad_seq != want_seq || bad != (want != PG_AUDIT_OK))
            fail_msg("variant %d: chain %zu got %s at %llu (%s)", variant, bad_chain,
                     pg_audit_fault_name(r[bad_chain].fault), (unsigned long long)r[bad_chain].bad_seq,
                     r[bad_chain].detail);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_tampering),
        cmocka_unit_test(test_summary_of_a_good_chain),
        cmocka_unit_test(test_epoch_links),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
