#ifndef PHIGUARD_POLICY_AUDITVERIFY_H
#define PHIGUARD_POLICY_AUDITVERIFY_H
/* Verifying stored audit chains: pure functions over what a reader (Redis,
 * an export) loaded, so every tampering can be tested without storage.
 * Each chain gets the first bad seq and the reason; docs/audit.md lists
 * what each tampering looks like. */
#include <stddef.h>
#include <stdint.h>

#include "policy/chain.h"
#include "policy/checkpoint.h"

/* One stored record, as stored: the seq it was stored under, its exact
 * bytes, and the h stored beside it. */
struct pg_audit_entry {
    uint64_t seq;
    const char *bytes;
    size_t len;
    const char *h;
};

struct pg_audit_chain_input {
    const char *chain;                    /* the writer; also every record's writer */
    const struct pg_audit_entry *entries; /* in stored order */
    size_t nentries;
    const char *const *checkpoints; /* signed notes in stored order, oldest first */
    size_t ncheckpoints;
};

enum pg_audit_fault {
    PG_AUDIT_OK = 0,
    PG_AUDIT_SEQ_GAP,             /* a seq is missing: a record was deleted */
    PG_AUDIT_SEQ_ORDER,           /* the missing seq comes later: records were reordered */
    PG_AUDIT_SEQ_DUPLICATE,       /* a seq already seen: a record was inserted */
    PG_AUDIT_RECORD_MALFORMED,    /* the bytes are not a record */
    PG_AUDIT_RECORD_MISPLACED,    /* the record's own seq or writer is not where it is stored */
    PG_AUDIT_HASH_MISMATCH,       /* the bytes do not hash to the stored h: the record was changed */
    PG_AUDIT_PREV_MISMATCH,       /* prev is not the previous record's h */
    PG_AUDIT_CHECKPOINT_MALFORMED,
    PG_AUDIT_CHECKPOINT_SIGNATURE, /* not signed by a trusted key, or the signature fails */
    PG_AUDIT_CHECKPOINT_ORIGIN,    /* validly signed, for another chain */
    PG_AUDIT_CHECKPOINT_DECREASING, /* a count or time went backwards */
    PG_AUDIT_CHECKPOINT_BEYOND_END, /* it counts more records than are present: the tail was deleted */
    PG_AUDIT_CHECKPOINT_HEAD,       /* its head is not the h of the record at its count */
    PG_AUDIT_EPOCH_LINK,            /* the next epoch names a head this chain does not end with */
};

struct pg_audit_result {
    enum pg_audit_fault fault;
    uint64_t bad_seq;                /* the first bad seq (0: before any record) */
    char detail[256];                /* why, in words; never record content */
    uint64_t first_seq, last_seq;    /* the run of records that verified (0, 0 when none) */
    char head[PG_HASH_HEX];          /* h of last_seq (the anchor when none verified) */
    size_t checkpoints_verified;
    uint64_t checkpoint_count;       /* the highest verified count */
    int64_t checkpoint_time_us;      /* the newest verified checkpoint's time, 0 when none */
};

/* Verifies one chain. Returns 0 when it verifies, -1 otherwise (out says
 * where and why). */
int pg_auditverify_chain(const struct pg_audit_chain_input *in, const struct pg_checkpoint_key *keys, size_t nkeys,
                         struct pg_audit_result *out);

/* After every chain was verified into results[i]: checks that each chain
 * whose first record names a previous epoch (epoch_prev) links to a chain
 * in the set that ends exactly there, and records a fault in the chain at
 * fault. Returns how many chains are bad after it. */
size_t pg_auditverify_epochs(const struct pg_audit_chain_input *chains, size_t n, struct pg_audit_result *results);

const char *pg_audit_fault_name(enum pg_audit_fault f);
/* The fault's stable code (SEQ_GAP, HASH_MISMATCH, ...), for scripts. */
const char *pg_audit_fault_code(enum pg_audit_fault f);

#endif
