/* libFuzzer target: the audit trail verifier (policy/auditverify.c), which
 * reads whatever Redis or an export hands it, tampered with or not.
 *
 * The input is a small script, one command a line, so that the fuzzer can
 * build chains that hash and sign correctly (it cannot compute SHA-256 or
 * Ed25519) and then break them in every way:
 *
 *   W <chain>          start a chain (before any W: chain "fuzz/0/1")
 *   L <json>           a record relinked: its prev set to the h stored
 *                      before it, written canonically, stored under its
 *                      own seq with its true h (stored raw when it is not
 *                      a record)
 *   R <seq> <bytes>    bytes stored under seq with their true h
 *   X <seq> <bytes>    bytes stored under seq with a wrong h
 *   C <count> <time>   a checkpoint of the chain at count, signed by the
 *                      trusted key; K the same signed by another key
 *   N <note>           a raw note, '|' standing for a newline
 *   E                  the chain's first L record names, as its previous
 *                      epoch, the chain started before it where that
 *                      chain ends at that point (a restart of a writer)
 *
 * Never a crash or a leak; the result agrees with the return value; and a
 * chain built honestly (L records 1..n of this chain, checkpoints in order
 * within it, an E link to an honest chain that was not extended after it)
 * always verifies: the verifier must not cry wolf. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/auditverify.h"
#include "policy/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_CHAINS 8
#define MAX_ENTRIES 64
#define MAX_NOTES 16
#define KEY_NAME "fuzz-audit"

struct chain {
    char name[160];
    struct pg_audit_entry e[MAX_ENTRIES];
    char h[MAX_ENTRIES][PG_HASH_HEX];
    char *bytes[MAX_ENTRIES];
    size_t n;
    char *notes[MAX_NOTES];
    size_t nnotes;
    bool honest;
    struct chain *link_to; /* E: the chain its first record names */
    size_t link_n;         /* how many records link_to had then */
    bool linked;
    uint64_t cp_count;
    int64_t cp_time;
};

static EVP_PKEY *trusted_key, *rogue_key;
static struct pg_checkpoint_key trusted;

static void setup(void)
{
    trusted_key = pg_checkpoint_keygen();
    rogue_key = pg_checkpoint_keygen();
    if (!trusted_key || !rogue_key)
        abort();
    trusted.name = KEY_NAME;
    trusted.pub = trusted_key;
}

static void start_chain(struct chain *c, const char *name, size_t len)
{
    memset(c, 0, sizeof *c);
    if (len >= sizeof c->name)
        len = sizeof c->name - 1;
    memcpy(c->name, name, len);
    c->honest = len > 0 && memchr(name, '\0', len) == NULL;
}

static void store(struct chain *c, uint64_t seq, const char *bytes, size_t len, bool true_h)
{
    if (c->n == MAX_ENTRIES)
        return;
    char *copy = malloc(len + 1);
    if (!copy)
        abort();
    memcpy(copy, bytes, len);
    copy[len] = '\0';
    size_t i = c->n++;
    c->bytes[i] = copy;
    pg_chain_leaf_hash(copy, len, c->h[i]);
    if (!true_h)
        c->h[i][0] = c->h[i][0] == '0' ? '1' : '0';
    c->e[i] = (struct pg_audit_entry){seq, copy, len, c->h[i]};
}

static void add_linked(struct chain *c, const char *json, size_t len)
{
    struct pg_record_parsed p;
    char why[160];
    uint64_t next = c->n ? c->e[c->n - 1].seq + 1 : 1;
    if (pg_record_parse(json, len, &p, why, sizeof why) != 0) {
        c->honest = false;
        store(c, next, json, len, true);
        return;
    }
    if (c->n)
        memcpy(p.rec.prev, c->h[c->n - 1], PG_HASH_HEX);
    else
        pg_chain_genesis(c->name, p.rec.prev);
    bool named_epoch = p.rec.epoch_prev != NULL;
    struct pg_audit_epoch_link link;
    if (c->link_to && c->n == 0) {
        const struct chain *t = c->link_to;
        link.writer = t->name;
        link.seq = t->n ? t->e[t->n - 1].seq : 0;
        if (t->n)
            memcpy(link.head, t->h[t->n - 1], PG_HASH_HEX);
        else
            pg_chain_genesis(t->name, link.head);
        p.rec.epoch_prev = &link;
        named_epoch = false;
        c->linked = true;
        c->link_n = t->n;
    }
    struct pg_canon out;
    char err[160];
    pg_canon_init(&out);
    if (pg_record_write(&p.rec, &out, err, sizeof err) == 0 && !out.failed) {
        if (p.rec.seq != next || strcmp(p.rec.writer, c->name) != 0 || named_epoch || c->n == MAX_ENTRIES)
            c->honest = false;
        store(c, p.rec.seq, out.buf, out.len, true);
    } else {
        c->honest = false;
        store(c, next, json, len, true);
    }
    pg_canon_free(&out);
    pg_record_parsed_free(&p);
}

static void add_note(struct chain *c, char *note)
{
    if (c->nnotes == MAX_NOTES) {
        free(note);
        return;
    }
    c->notes[c->nnotes++] = note;
}

static void add_checkpoint(struct chain *c, EVP_PKEY *with, uint64_t count, int64_t time_us)
{
    struct pg_checkpoint cp = {.count = count, .time_us = time_us};
    snprintf(cp.origin, sizeof cp.origin, "%s", c->name);
    const char *head = NULL;
    for (size_t i = 0; i < c->n; i++)
        if (c->e[i].seq == count)
            head = c->h[i];
    if (head)
        memcpy(cp.head, head, PG_HASH_HEX);
    else
        pg_chain_genesis(c->name, cp.head);
    char *note = malloc(1024);
    if (!note)
        abort();
    if (pg_checkpoint_sign(with, KEY_NAME, &cp, note, 1024) != 0) {
        free(note);
        c->honest = false;
        return;
    }
    /* Honest: by the trusted key, over a record already stored (or none),
     * counts and times never going back. */
    if (with != trusted_key || (count && !head) || count > c->n || strcmp(cp.origin, c->name) != 0 ||
        (c->nnotes && (count < c->cp_count || time_us < c->cp_time)))
        c->honest = false;
    c->cp_count = count;
    c->cp_time = time_us;
    add_note(c, note);
}

static void run_line(struct chain *c, const char *line, size_t len)
{
    if (len < 2 || line[1] != ' ')
        return;
    const char *arg = line + 2;
    size_t alen = len - 2;
    char num[32] = {0}, *end;
    memcpy(num, arg, alen < sizeof num - 1 ? alen : sizeof num - 1);
    switch (line[0]) {
    case 'L':
        add_linked(c, arg, alen);
        return;
    case 'R':
    case 'X': {
        uint64_t seq = strtoull(num, &end, 10);
        const char *body = memchr(arg, ' ', alen);
        size_t off = body ? (size_t)(body + 1 - arg) : alen;
        c->honest = false;
        store(c, seq, arg + off, alen - off, line[0] == 'R');
        return;
    }
    case 'C':
    case 'K': {
        uint64_t count = strtoull(num, &end, 10);
        int64_t t = strtoll(end, NULL, 10);
        add_checkpoint(c, line[0] == 'C' ? trusted_key : rogue_key, count, t);
        return;
    }
    case 'N': {
        char *note = malloc(alen + 1);
        if (!note)
            abort();
        for (size_t i = 0; i < alen; i++)
            note[i] = arg[i] == '|' ? '\n' : arg[i];
        note[alen] = '\0';
        c->honest = false;
        add_note(c, note);
        return;
    }
    }
}

static void check_result(const struct chain *c, int rc, const struct pg_audit_result *r)
{
    if ((rc == 0) != (r->fault == PG_AUDIT_OK))
        __builtin_trap();
    if (memchr(r->detail, '\0', sizeof r->detail) == NULL || memchr(r->head, '\0', sizeof r->head) == NULL)
        __builtin_trap();
    if (strcmp(pg_audit_fault_code(r->fault), "UNKNOWN") == 0)
        __builtin_trap();
    if (r->last_seq < r->first_seq || r->checkpoints_verified > c->nnotes)
        __builtin_trap();
    if (c->honest && (rc != 0 || r->last_seq != (c->n ? c->e[c->n - 1].seq : 0) ||
                      r->checkpoints_verified != c->nnotes))
        __builtin_trap(); /* an untampered chain must verify */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!trusted_key)
        setup();
    static struct chain chains[MAX_CHAINS];
    size_t nchains = 1;
    start_chain(&chains[0], "fuzz/0/1", 8);
    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (len >= 2 && p[0] == 'W' && p[1] == ' ') {
            if (nchains < MAX_CHAINS) {
                start_chain(&chains[nchains], p + 2, len - 2);
                for (size_t i = 0; i < nchains; i++)
                    if (strcmp(chains[i].name, chains[nchains].name) == 0)
                        chains[nchains].honest = chains[i].honest = false;
                nchains++;
            }
        } else if (len == 1 && p[0] == 'E') {
            if (nchains > 1)
                chains[nchains - 1].link_to = &chains[nchains - 2];
        } else {
            run_line(&chains[nchains - 1], p, len);
        }
        p += len + 1;
    }
    /* A link stays honest while what it names does: the chain it names is
     * honest and ends where the link says (records after it are what the
     * verifier must report, on that chain). */
    for (size_t i = 0; i < nchains; i++) {
        struct chain *c = &chains[i];
        if (c->linked && (!c->link_to->honest || c->link_to->n != c->link_n))
            c->honest = c->link_to->honest = false;
    }

    struct pg_audit_chain_input in[MAX_CHAINS];
    struct pg_audit_result res[MAX_CHAINS];
    for (size_t i = 0; i < nchains; i++) {
        in[i] = (struct pg_audit_chain_input){chains[i].name, chains[i].e, chains[i].n,
                                              (const char *const *)chains[i].notes, chains[i].nnotes};
        int rc = pg_auditverify_chain(&in[i], &trusted, 1, &res[i]);
        check_result(&chains[i], rc, &res[i]);
    }
    size_t bad = pg_auditverify_epochs(in, nchains, res);
    size_t counted = 0, dishonest = 0;
    for (size_t i = 0; i < nchains; i++)
        dishonest += !chains[i].honest;
    for (size_t i = 0; i < nchains; i++) {
        counted += res[i].fault != PG_AUDIT_OK;
        /* Honest chains name no previous epoch; one can only be blamed by
         * a later epoch (a dishonest chain) naming another head for it:
         * the verifier cannot tell which of the two was changed. */
        if (chains[i].honest && res[i].fault != PG_AUDIT_OK && (res[i].fault != PG_AUDIT_EPOCH_LINK || !dishonest))
            __builtin_trap();
    }
    if (bad != counted)
        __builtin_trap();
    for (size_t i = 0; i < nchains; i++) {
        for (size_t k = 0; k < chains[i].n; k++)
            free(chains[i].bytes[k]);
        for (size_t k = 0; k < chains[i].nnotes; k++)
            free(chains[i].notes[k]);
    }
    return 0;
}
