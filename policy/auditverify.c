#include "policy/auditverify.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/record.h"

/* Keeps the fault with the lowest seq: that is where trust ends. */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static void report(struct pg_audit_result *out, enum pg_audit_fault f, uint64_t seq, const char *fmt, ...)
{
    if (out->fault != PG_AUDIT_OK && out->bad_seq <= seq)
        return;
    out->fault = f;
    out->bad_seq = seq;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->detail, sizeof out->detail, fmt, ap);
    va_end(ap);
}

struct verified_cp {
    uint64_t count;
    char head[PG_HASH_HEX];
};

/* Signatures, origins and monotony; the verified ones go into cps. */
static size_t check_checkpoints(const struct pg_audit_chain_input *in, const struct pg_checkpoint_key *keys,
                                size_t nkeys, struct verified_cp *cps, struct pg_audit_result *out)
{
    size_t n = 0;
    uint64_t last_count = 0;
    int64_t last_time = 0;
    for (size_t i = 0; i < in->ncheckpoints; i++) {
        struct pg_checkpoint cp;
        enum pg_checkpoint_status s = pg_checkpoint_verify(keys, nkeys, in->checkpoints[i], &cp);
        if (s == PG_CHECKPOINT_MALFORMED) {
            report(out, PG_AUDIT_CHECKPOINT_MALFORMED, 0, "checkpoint %zu is not a checkpoint note", i + 1);
            continue;
        }
        if (s != PG_CHECKPOINT_OK) {
            report(out, PG_AUDIT_CHECKPOINT_SIGNATURE, cp.count, "checkpoint %zu (claiming %llu records): %s", i + 1,
                   (unsigned long long)cp.count, pg_checkpoint_status_text(s));
            continue;
        }
        if (strcmp(cp.origin, in->chain) != 0) {
            report(out, PG_AUDIT_CHECKPOINT_ORIGIN, cp.count, "checkpoint %zu is signed for another chain", i + 1);
            continue;
        }
        if (n && (cp.count < last_count || cp.time_us < last_time))
            report(out, PG_AUDIT_CHECKPOINT_DECREASING, cp.count,
                   "checkpoint %zu counts %llu records at time %lld after one counting %llu at time %lld", i + 1,
                   (unsigned long long)cp.count, (long long)cp.time_us, (unsigned long long)last_count,
                   (long long)last_time);
        last_count = cp.count;
        last_time = cp.time_us;
        cps[n].count = cp.count;
        memcpy(cps[n].head, cp.head, PG_HASH_HEX);
        n++;
        out->checkpoints_verified++;
        if (cp.count >= out->checkpoint_count)
            out->checkpoint_count = cp.count;
        if (cp.time_us > out->checkpoint_time_us)
            out->checkpoint_time_us = cp.time_us;
    }
    return n;
}

/* A seq that is not the next one: deleted, reordered or inserted. */
static void classify_seq(const struct pg_audit_chain_input *in, size_t i, uint64_t expected,
                         struct pg_audit_result *out)
{
    uint64_t got = in->entries[i].seq;
    if (got < expected) {
        report(out, PG_AUDIT_SEQ_DUPLICATE, got, "seq %llu is stored again after seq %llu",
               (unsigned long long)got, (unsigned long long)(expected - 1));
        return;
    }
    for (size_t j = i + 1; j < in->nentries; j++) {
        if (in->entries[j].seq == expected) {
            report(out, PG_AUDIT_SEQ_ORDER, expected, "seq %llu is stored after seq %llu",
                   (unsigned long long)expected, (unsigned long long)got);
            return;
        }
    }
    report(out, PG_AUDIT_SEQ_GAP, expected, "seq %llu to %llu are missing", (unsigned long long)expected,
           (unsigned long long)(got - 1));
}

/* One record against the chain so far; 0 when it links. */
static int check_record(const struct pg_audit_chain_input *in, const struct pg_audit_entry *e, const char *prev_h,
                        struct pg_audit_result *out)
{
    struct pg_record_parsed p;
    char why[160], h[PG_HASH_HEX];
    unsigned long long seq = (unsigned long long)e->seq;
    if (pg_record_parse(e->bytes, e->len, &p, why, sizeof why) != 0) {
        report(out, PG_AUDIT_RECORD_MALFORMED, e->seq, "seq %llu is not a record: %s", seq, why);
        return -1;
    }
    int bad = -1;
    pg_chain_leaf_hash(e->bytes, e->len, h);
    if (p.rec.seq != e->seq || strcmp(p.rec.writer, in->chain) != 0)
        report(out, PG_AUDIT_RECORD_MISPLACED, e->seq, "the record stored as seq %llu names seq %llu of %s", seq,
               (unsigned long long)p.rec.seq, strcmp(p.rec.writer, in->chain) ? "another chain" : "this chain");
    else if (p.rec.epoch_prev && e->seq != 1)
        report(out, PG_AUDIT_RECORD_MALFORMED, e->seq, "seq %llu names a previous epoch; only seq 1 may", seq);
    else if (!e->h || strcmp(h, e->h) != 0)
        report(out, PG_AUDIT_HASH_MISMATCH, e->seq, "seq %llu does not hash to its stored h: its bytes were changed",
               seq);
    else if (strcmp(p.rec.prev, prev_h) != 0)
        report(out, PG_AUDIT_PREV_MISMATCH, e->seq, "seq %llu's prev is not the h of seq %llu", seq, seq - 1);
    else
        bad = 0;
    pg_record_parsed_free(&p);
    return bad;
}

/* The h of record seq among those that verified, the anchor, or genesis. */
static const char *head_at(const struct pg_audit_chain_input *in, const struct pg_audit_result *out, uint64_t seq,
                           uint64_t anchor_seq, const char *anchor)
{
    if (out->last_seq && seq >= out->first_seq && seq <= out->last_seq)
        return in->entries[seq - out->first_seq].h;
    return seq == anchor_seq ? anchor : NULL;
}

int pg_auditverify_chain(const struct pg_audit_chain_input *in, const struct pg_checkpoint_key *keys, size_t nkeys,
                         struct pg_audit_result *out)
{
    memset(out, 0, sizeof *out);
    struct verified_cp *cps = calloc(in->ncheckpoints ? in->ncheckpoints : 1, sizeof *cps);
    if (!cps) {
        report(out, PG_AUDIT_RECORD_MALFORMED, 0, "out of memory");
        return -1;
    }
    size_t ncps = check_checkpoints(in, keys, nkeys, cps, out);

    /* Where the records start: seq 1 after genesis, or after retention
     * trimmed up to a signed checkpoint, which then anchors the chain. */
    char anchor[PG_HASH_HEX];
    uint64_t expected = 1;
    pg_chain_genesis(in->chain, anchor);
    if (in->nentries && in->entries[0].seq > 1) {
        uint64_t trim = in->entries[0].seq - 1;
        size_t k = 0;
        while (k < ncps && cps[k].count != trim)
            k++;
        if (k < ncps) {
            expected = in->entries[0].seq;
            memcpy(anchor, cps[k].head, PG_HASH_HEX);
        }
    }
    memcpy(out->head, anchor, PG_HASH_HEX);
    const uint64_t anchor_seq = expected - 1;

    const char *prev_h = anchor;
    uint64_t last_present = expected - 1;
    for (size_t i = 0; i < in->nentries; i++)
        if (in->entries[i].seq > last_present)
            last_present = in->entries[i].seq;
    for (size_t i = 0; i < in->nentries; i++, expected++) {
        const struct pg_audit_entry *e = &in->entries[i];
        if (e->seq != expected) {
            classify_seq(in, i, expected, out);
            break;
        }
        if (check_record(in, e, prev_h, out) != 0)
            break;
        prev_h = e->h;
        if (!out->first_seq)
            out->first_seq = e->seq;
        out->last_seq = e->seq;
        memcpy(out->head, e->h, PG_HASH_HEX);
    }

    for (size_t k = 0; k < ncps; k++) {
        unsigned long long count = (unsigned long long)cps[k].count;
        if (cps[k].count > last_present) {
            report(out, PG_AUDIT_CHECKPOINT_BEYOND_END, last_present + 1,
                   "a signed checkpoint counts %llu records; only %llu are present: the tail was deleted", count,
                   (unsigned long long)last_present);
            continue;
        }
        const char *h = head_at(in, out, cps[k].count, anchor_seq, anchor);
        if (h && strcmp(h, cps[k].head) != 0)
            report(out, PG_AUDIT_CHECKPOINT_HEAD, cps[k].count,
                   "a signed checkpoint's head is not the h of seq %llu: the chain was rewritten up to there", count);
    }
    free(cps);
    return out->fault == PG_AUDIT_OK ? 0 : -1;
}

static long find_chain(const struct pg_audit_chain_input *chains, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(chains[i].chain, name) == 0)
            return (long)i;
    return -1;
}

/* The link in chain i's first record, checked against the chain it names. */
static void check_link(const struct pg_audit_chain_input *chains, size_t n, size_t i, struct pg_audit_result *results)
{
    const struct pg_audit_chain_input *in = &chains[i];
    if (!in->nentries || in->entries[0].seq != 1 || results[i].first_seq != 1)
        return; /* no verified first record to read a link from */
    struct pg_record_parsed p;
    char why[160];
    if (pg_record_parse(in->entries[0].bytes, in->entries[0].len, &p, why, sizeof why) != 0)
        return;
    const struct pg_audit_epoch_link *link = p.rec.epoch_prev;
    long j = link ? find_chain(chains, n, link->writer) : -1;
    unsigned long long seq = link ? (unsigned long long)link->seq : 0;
    if (!link) {
        /* the first epoch of its writer */
    } else if (j < 0 || (size_t)j == i) {
        char genesis[PG_HASH_HEX];
        pg_chain_genesis(link->writer, genesis);
        if ((size_t)j == i || link->seq != 0 || strcmp(genesis, link->head) != 0)
            report(&results[i], PG_AUDIT_EPOCH_LINK, 1, "seq 1 names the head (seq %llu) of a previous epoch %s", seq,
                   (size_t)j == i ? "that is this chain" : "that is not present");
    } else {
        struct pg_audit_result *prev = &results[j];
        const struct pg_audit_chain_input *pin = &chains[j];
        uint64_t last = pin->nentries ? pin->entries[pin->nentries - 1].seq : 0;
        if (prev->last_seq && link->seq >= prev->first_seq && link->seq <= prev->last_seq &&
            strcmp(pin->entries[link->seq - prev->first_seq].h, link->head) != 0)
            report(prev, PG_AUDIT_EPOCH_LINK, link->seq, "the next epoch names another h as this chain's seq %llu",
                   seq);
        else if (link->seq > last)
            report(prev, PG_AUDIT_EPOCH_LINK, last + 1,
                   "the next epoch names seq %llu as this chain's head; only %llu are present: the tail was deleted",
                   seq, (unsigned long long)last);
        else if (link->seq < last)
            report(prev, PG_AUDIT_EPOCH_LINK, link->seq + 1,
                   "records follow seq %llu, which the next epoch names as this chain's head", seq);
    }
    pg_record_parsed_free(&p);
}

size_t pg_auditverify_epochs(const struct pg_audit_chain_input *chains, size_t n, struct pg_audit_result *results)
{
    for (size_t i = 0; i < n; i++)
        check_link(chains, n, i, results);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += results[i].fault != PG_AUDIT_OK;
    return bad;
}

const char *pg_audit_fault_name(enum pg_audit_fault f)
{
    switch (f) {
    case PG_AUDIT_OK: return "ok";
    case PG_AUDIT_SEQ_GAP: return "record deleted (seq gap)";
    case PG_AUDIT_SEQ_ORDER: return "records reordered";
    case PG_AUDIT_SEQ_DUPLICATE: return "record inserted (seq repeated)";
    case PG_AUDIT_RECORD_MALFORMED: return "record malformed";
    case PG_AUDIT_RECORD_MISPLACED: return "record moved (its seq or writer differs)";
    case PG_AUDIT_HASH_MISMATCH: return "record changed (hash mismatch)";
    case PG_AUDIT_PREV_MISMATCH: return "chain broken (prev mismatch)";
    case PG_AUDIT_CHECKPOINT_MALFORMED: return "checkpoint malformed";
    case PG_AUDIT_CHECKPOINT_SIGNATURE: return "checkpoint signature invalid";
    case PG_AUDIT_CHECKPOINT_ORIGIN: return "checkpoint for another chain";
    case PG_AUDIT_CHECKPOINT_DECREASING: return "checkpoint count or time decreased";
    case PG_AUDIT_CHECKPOINT_BEYOND_END: return "tail deleted (checkpoint beyond the last record)";
    case PG_AUDIT_CHECKPOINT_HEAD: return "chain rewritten (checkpoint head mismatch)";
    case PG_AUDIT_EPOCH_LINK: return "epoch link broken";
    }
    return "unknown";
}

/* The stable names scripts match on (docs/audit.md uses them). */
const char *pg_audit_fault_code(enum pg_audit_fault f)
{
    static const char *const codes[] = {
        [PG_AUDIT_OK] = "OK",
        [PG_AUDIT_SEQ_GAP] = "SEQ_GAP",
        [PG_AUDIT_SEQ_ORDER] = "SEQ_ORDER",
        [PG_AUDIT_SEQ_DUPLICATE] = "SEQ_DUPLICATE",
        [PG_AUDIT_RECORD_MALFORMED] = "RECORD_MALFORMED",
        [PG_AUDIT_RECORD_MISPLACED] = "RECORD_MISPLACED",
        [PG_AUDIT_HASH_MISMATCH] = "HASH_MISMATCH",
        [PG_AUDIT_PREV_MISMATCH] = "PREV_MISMATCH",
        [PG_AUDIT_CHECKPOINT_MALFORMED] = "CHECKPOINT_MALFORMED",
        [PG_AUDIT_CHECKPOINT_SIGNATURE] = "CHECKPOINT_SIGNATURE",
        [PG_AUDIT_CHECKPOINT_ORIGIN] = "CHECKPOINT_ORIGIN",
        [PG_AUDIT_CHECKPOINT_DECREASING] = "CHECKPOINT_DECREASING",
        [PG_AUDIT_CHECKPOINT_BEYOND_END] = "CHECKPOINT_BEYOND_END",
        [PG_AUDIT_CHECKPOINT_HEAD] = "CHECKPOINT_HEAD",
        [PG_AUDIT_EPOCH_LINK] = "EPOCH_LINK",
    };
    return (size_t)f < sizeof codes / sizeof codes[0] && codes[f] ? codes[f] : "UNKNOWN";
}
