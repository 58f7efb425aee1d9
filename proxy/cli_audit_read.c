/* `phiguard audit verify|export|disclosures|trim`: reading the trail back
 * from Redis (docs/audit.md, "Reading the trail"), or verifying an export
 * file (docs/operations.md). A command-line tool, so it uses hiredis's
 * blocking API. */
#include "proxy/cli_audit_read.h"

#include <getopt.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy/auditverify.h"
#include "policy/record.h"
#include "proxy/audit_export_file.h"
#include "proxy/audit_reader.h"
#include "proxy/cli_audit.h"
#include "proxy/config.h"
#include "proxy/secret_file.h"

/* "2026-11-23T07:17:54Z", "2026-11-23", or seconds since 1970; in µs. */
static int parse_when(const char *s, int64_t *out)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*s && !*end) {
        *out = (int64_t)v * 1000000;
        return 0;
    }
    struct tm tm = {0};
    const char *rest = strptime(s, "%Y-%m-%d", &tm);
    if (!rest)
        return -1;
    if (*rest == 'T' && !(rest = strptime(rest + 1, "%H:%M:%S", &tm)))
        return -1;
    if (*rest && strcmp(rest, "Z") != 0)
        return -1;
    *out = (int64_t)timegm(&tm) * 1000000;
    return 0;
}

#define MAX_KEYS 16 /* trusted checkpoint keys at most, from every source */

struct options {
    const char *config, *chain, *format, *patient, *name, *input;
    bool checkpoints;
    const char *keys[MAX_KEYS];
    int nkeys;
    int64_t since, until;
};

static void free_keys(struct pg_checkpoint_key *keys, int n)
{
    for (int i = 0; i < n; i++)
        EVP_PKEY_free(keys[i].pub);
}

static int parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longs[] = {
        {"config", required_argument, NULL, 'c'}, {"public", required_argument, NULL, 'k'},
        {"chain", required_argument, NULL, 'C'},  {"format", required_argument, NULL, 'f'},
        {"since", required_argument, NULL, 's'},  {"until", required_argument, NULL, 'u'},
        {"patient", required_argument, NULL, 'p'}, {"name", required_argument, NULL, 'n'},
        {"before", required_argument, NULL, 'u'},
        {"input", required_argument, NULL, 'i'},  {"checkpoints", no_argument, NULL, 'P'},
        {NULL, 0, NULL, 0}};
    *o = (struct options){.format = "json", .since = INT64_MIN, .until = INT64_MAX};
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:", longs, NULL)) != -1) {
        switch (ch) {
        case 'c': o->config = optarg; break;
        case 'k':
            if (o->nkeys == MAX_KEYS) {
                fprintf(stderr, "phiguard audit: --public at most %d times\n", MAX_KEYS);
                return -1;
            }
            o->keys[o->nkeys++] = optarg;
            break;
        case 'C': o->chain = optarg; break;
        case 'f': o->format = optarg; break;
        case 'p': o->patient = optarg; break;
        case 'n': o->name = optarg; break;
        case 'i': o->input = optarg; break;
        case 'P': o->checkpoints = true; break;
        case 's':
        case 'u':
            if (parse_when(optarg, ch == 's' ? &o->since : &o->until) != 0) {
                fprintf(stderr, "phiguard audit: '%s' is not a time (2026-11-23, 2026-11-23T07:00:00Z or seconds)\n",
                        optarg);
                return -1;
            }
            break;
        default: return -1;
        }
    }
    if (!o->config && !o->input) {
        fprintf(stderr, "phiguard audit: -c FILE (the proxy's configuration, for Redis) is required\n");
        return -1;
    }
    return 0;
}

/* Each --public file's keys (one, or a bundle of several) appended to
 * keys[] after the n there already. The new count, or -1 having said why
 * (the keys read so far are then freed). */
static int add_public_keys(const struct options *o, const char *cmd, const char *name,
                           struct pg_checkpoint_key keys[MAX_KEYS], int n)
{
    for (int i = 0; i < o->nkeys; i++) {
        EVP_PKEY *found[MAX_KEYS];
        char err[512];
        int got = pg_audit_keys_read_public(o->keys[i], found, MAX_KEYS - n, err, sizeof err);
        if (got < 0) {
            fprintf(stderr, "phiguard audit %s: %s\n", cmd, err);
            free_keys(keys, n);
            return -1;
        }
        for (int k = 0; k < got; k++)
            keys[n++] = (struct pg_checkpoint_key){.name = name, .pub = found[k]};
    }
    return n;
}

/* cfg is NULL when an export file is verified without the configuration. */
static int cmd_verify(struct pg_audit_reader *rd, const struct options *o, const struct pg_config *cfg)
{
    if (o->nkeys == 0) {
        fprintf(stderr, "phiguard audit verify: --public KEY (the checkpoint public key) is required\n");
        return 2;
    }
    struct pg_checkpoint_key keys[MAX_KEYS];
    const char *name = o->name ? o->name : cfg ? cfg->audit.key_name : "phiguard-audit";
    int nkeys = add_public_keys(o, "verify", name, keys, 0);
    if (nkeys < 0)
        return 2;
    struct pg_audit_chain_input *in = calloc(rd->n ? rd->n : 1, sizeof *in);
    struct pg_audit_result *res = calloc(rd->n ? rd->n : 1, sizeof *res);
    for (size_t i = 0; i < rd->n; i++) {
        struct pg_audit_stored_chain *c = &rd->chains[i];
        in[i] = (struct pg_audit_chain_input){.chain = c->name, .entries = c->entries, .nentries = c->n,
                                              .checkpoints = (const char *const *)c->notes, .ncheckpoints = c->nnotes};
        pg_auditverify_chain(&in[i], keys, (size_t)nkeys, &res[i]);
    }
    pg_auditverify_epochs(in, rd->n, res);
    int bad = 0;
    for (size_t i = 0; i < rd->n; i++) {
        const struct pg_audit_result *r = &res[i];
        if (r->fault == PG_AUDIT_OK) {
            printf("%s: ok, records %" PRIu64 "..%" PRIu64 ", %zu checkpoints verified (newest counts %" PRIu64 ")\n",
                   in[i].chain, r->first_seq, r->last_seq, r->checkpoints_verified, r->checkpoint_count);
        } else {
            bad++;
            printf("%s: FAILED at seq %" PRIu64 ": %s: %s: %s\n", in[i].chain, r->bad_seq, pg_audit_fault_code(r->fault),
                   pg_audit_fault_name(r->fault), r->detail);
        }
    }
    if (rd->n == 0)
        printf("no audit chains in Redis\n");
    printf("%zu chains, %d failed\n", rd->n, bad);
    free_keys(keys, nkeys);
    free(in);
    free(res);
    return bad ? 1 : 0;
}

/* ---- export and disclosures ---- */

typedef void (*record_fn)(const struct pg_record_parsed *p, const struct pg_audit_entry *e, void *ctx);

static int each_record(struct pg_audit_reader *rd, const struct options *o, record_fn fn, void *ctx)
{
    int bad = 0;
    for (size_t i = 0; i < rd->n; i++) {
        for (size_t k = 0; k < rd->chains[i].n; k++) {
            const struct pg_audit_entry *e = &rd->chains[i].entries[k];
            struct pg_record_parsed p;
            char err[200];
            if (pg_record_parse(e->bytes, e->len, &p, err, sizeof err) != 0) {
                fprintf(stderr, "phiguard audit: %s seq %" PRIu64 ": %s (run audit verify)\n", rd->chains[i].name,
                        e->seq, err);
                bad = 1;
                continue;
            }
            if (p.rec.time_us >= o->since && p.rec.time_us < o->until)
                fn(&p, e, ctx);
            pg_record_parsed_free(&p);
        }
    }
    return bad;
}

static void print_json_line(const struct pg_record_parsed *p, const struct pg_audit_entry *e, void *ctx)
{
    (void)p;
    (void)ctx;
    fwrite(e->bytes, 1, e->len, stdout);
    fputc('\n', stdout);
}

/* After the records, each chain's signed checkpoints, so that an export
 * verifies on its own (audit verify --input) as the trail in Redis does. */
static int print_checkpoint_lines(const struct pg_audit_reader *rd)
{
    for (size_t i = 0; i < rd->n; i++) {
        for (size_t k = 0; k < rd->chains[i].nnotes; k++) {
            size_t len;
            char *line = pg_audit_export_checkpoint_line(rd->chains[i].name, rd->chains[i].notes[k], &len);
            if (!line) {
                fprintf(stderr, "phiguard audit export: out of memory\n");
                return 1;
            }
            fwrite(line, 1, len, stdout);
            fputc('\n', stdout);
            free(line);
        }
    }
    return 0;
}

static const char *interaction_code(const char *subtype)
{
    /* FHIR restful-interaction codes for the subtypes phiguard writes. */
    static const char *const known[] = {"read", "search", "create", "update", "delete"};
    for (size_t i = 0; subtype && i < sizeof known / sizeof known[0]; i++)
        if (!strcmp(subtype, known[i]))
            return subtype == known[1] ? "search-type" : subtype;
    return NULL;
}

/* One AuditEvent (FHIR R4): type, subtype, action, recorded, outcome,
 * agent (who, requestor, network), source (observer), entity (what). */
static void print_fhir_entry(const struct pg_record_parsed *p, const struct pg_audit_entry *e, void *ctx)
{
    int *count = ctx;
    const struct pg_audit_record *r = &p->rec;
    struct pg_canon c;
    pg_canon_init(&c);
    char id[96], time[PG_RECORD_TIME_LEN], outcome[4];
    snprintf(id, sizeof id, "%.60s-%" PRIu64, r->writer, e->seq);
    for (char *q = id; *q; q++)
        if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') || *q == '-' ||
              *q == '.'))
            *q = '-'; /* FHIR ids: [A-Za-z0-9-.] */
    pg_record_format_time(r->time_us, time);
    snprintf(outcome, sizeof outcome, "%d", r->outcome);
    bool rest = !strcmp(r->type, "rest");
    pg_canon_begin_object(&c, NULL);
    pg_canon_begin_object(&c, "resource");
    pg_canon_string(&c, "resourceType", "AuditEvent", 10);
    pg_canon_string(&c, "id", id, strlen(id));
    pg_canon_begin_object(&c, "type");
    pg_canon_string(&c, "system", rest ? "http://terminology.hl7.org/CodeSystem/audit-event-type"
                                       : "urn:phiguard:audit-event-type",
                    rest ? 54 : 29);
    pg_canon_string(&c, "code", r->type, strlen(r->type));
    pg_canon_end_object(&c);
    const char *code = rest ? interaction_code(r->subtype) : NULL;
    if (code) {
        pg_canon_begin_array(&c, "subtype");
        pg_canon_begin_object(&c, NULL);
        pg_canon_string(&c, "system", "http://hl7.org/fhir/restful-interaction", 39);
        pg_canon_string(&c, "code", code, strlen(code));
        pg_canon_end_object(&c);
        pg_canon_end_array(&c);
    }
    char action[2] = {r->action, 0};
    pg_canon_string(&c, "action", action, 1);
    pg_canon_string(&c, "recorded", time, strlen(time));
    pg_canon_string(&c, "outcome", outcome, strlen(outcome));
    pg_canon_begin_array(&c, "agent");
    pg_canon_begin_object(&c, NULL);
    if (r->agent.nroles) {
        pg_canon_begin_array(&c, "role");
        for (size_t i = 0; i < r->agent.nroles; i++) {
            pg_canon_begin_object(&c, NULL);
            pg_canon_string(&c, "text", r->agent.roles[i], strlen(r->agent.roles[i]));
            pg_canon_end_object(&c);
        }
        pg_canon_end_array(&c);
    }
    pg_canon_begin_object(&c, "who");
    if (r->agent.user_id) {
        pg_canon_begin_object(&c, "identifier");
        pg_canon_string(&c, "value", r->agent.user_id, strlen(r->agent.user_id));
        pg_canon_end_object(&c);
    }
    const char *display = r->agent.username ? r->agent.username : r->agent.user_id ? r->agent.user_id : "anonymous";
    pg_canon_string(&c, "display", display, strlen(display));
    pg_canon_end_object(&c);
    pg_canon_bool(&c, "requestor", true);
    if (r->agent.client_ip) {
        pg_canon_begin_object(&c, "network");
        pg_canon_string(&c, "address", r->agent.client_ip, strlen(r->agent.client_ip));
        pg_canon_string(&c, "type", "2", 1); /* IP address */
        pg_canon_end_object(&c);
    }
    pg_canon_end_object(&c);
    pg_canon_end_array(&c);
    pg_canon_begin_object(&c, "source");
    pg_canon_string(&c, "site", "phiguard", 8);
    pg_canon_begin_object(&c, "observer");
    pg_canon_string(&c, "display", r->writer, strlen(r->writer));
    pg_canon_end_object(&c);
    pg_canon_end_object(&c);
    if (r->entity || r->http.path) {
        pg_canon_begin_array(&c, "entity");
        pg_canon_begin_object(&c, NULL);
        pg_canon_begin_object(&c, "what");
        if (r->entity)
            pg_canon_string(&c, "reference", r->entity, strlen(r->entity));
        else
            pg_canon_string(&c, "display", r->http.path, strlen(r->http.path));
        pg_canon_end_object(&c);
        pg_canon_end_object(&c);
        pg_canon_end_array(&c);
    }
    pg_canon_end_object(&c);
    pg_canon_end_object(&c);
    if (!c.failed)
        printf("%s%.*s", (*count)++ ? ",\n" : "", (int)c.len, c.buf);
    pg_canon_free(&c);
}

/* ---- retention ---- */

/* Trims each chain to the newest signed checkpoint that counts only records
 * older than the cutoff: the records up to that count leave Redis, and the
 * checkpoint stands in for them (the verifier then starts from its head).
 * Trimming needs XTRIM, which phiguard's own Redis user may not do: run it
 * with a configuration naming a retention user. */
static int cmd_trim(struct pg_audit_reader *rd, const struct options *o, const struct pg_config *cfg)
{
    if (o->until == INT64_MAX) {
        fprintf(stderr, "phiguard audit trim: --before DATE is required\n");
        return 2;
    }
    /* The signing key, the earlier ones of the configuration
     * (audit.previous_public_keys) and any --public: the chains are
     * verified before they are cut. */
    char err[512];
    struct pg_checkpoint_key keys[MAX_KEYS];
    int nkeys = pg_audit_config_keys(cfg, keys, MAX_KEYS, err, sizeof err);
    if (nkeys < 0) {
        fprintf(stderr, "phiguard audit trim: the chains are verified before trimming: %s\n", err);
        return 2;
    }
    nkeys = add_public_keys(o, "trim", cfg->audit.key_name, keys, nkeys);
    if (nkeys < 0)
        return 2;
    int bad = 0;
    for (size_t i = 0; i < rd->n; i++) {
        struct pg_audit_stored_chain *c = &rd->chains[i];
        struct pg_audit_chain_input in = {.chain = c->name, .entries = c->entries, .nentries = c->n,
                                          .checkpoints = (const char *const *)c->notes, .ncheckpoints = c->nnotes};
        struct pg_audit_result res;
        if (pg_auditverify_chain(&in, keys, (size_t)nkeys, &res) != 0) {
            printf("%s: not trimmed: it does not verify (seq %" PRIu64 ": %s)\n", c->name, res.bad_seq, pg_audit_fault_code(res.fault));
            bad++;
            continue;
        }
        /* The newest record older than the cutoff... */
        uint64_t old_seq = 0;
        for (size_t k = 0; k < c->n; k++) {
            struct pg_record_parsed p;
            if (pg_record_parse(c->entries[k].bytes, c->entries[k].len, &p, err, sizeof err) != 0)
                break;
            bool older = p.rec.time_us < o->until;
            pg_record_parsed_free(&p);
            if (!older)
                break;
            old_seq = c->entries[k].seq;
        }
        /* ... and the newest checkpoint at or below it. */
        uint64_t cut = 0;
        for (size_t k = 0; k < c->nnotes; k++) {
            struct pg_checkpoint cp;
            if (pg_checkpoint_verify(keys, (size_t)nkeys, c->notes[k], &cp) == PG_CHECKPOINT_OK && cp.count <= old_seq &&
                cp.count > cut && cp.count >= res.first_seq)
                cut = cp.count;
        }
        if (cut < res.first_seq) {
            printf("%s: nothing to trim (records before the cutoff end at seq %" PRIu64 ", no checkpoint there yet)\n",
                   c->name, old_seq);
            continue;
        }
        char minid[32];
        snprintf(minid, sizeof minid, "%" PRIu64 "-0", cut + 1);
        redisReply *r = redisCommand(rd->rc, "XTRIM audit:%s MINID %s", c->name, minid);
        if (!r || r->type != REDIS_REPLY_INTEGER) {
            printf("%s: trim refused by Redis: %s\n", c->name, r && r->type == REDIS_REPLY_ERROR ? r->str : "no answer");
            freeReplyObject(r);
            bad++;
            continue;
        }
        long long removed = r->integer;
        freeReplyObject(r);
        char before[PG_RECORD_TIME_LEN], count[24];
        pg_record_format_time(o->until, before);
        snprintf(count, sizeof count, "%" PRIu64, cut);
        r = redisCommand(rd->rc, "XADD audit:trims * chain %s count %s before %s", c->name, count, before);
        freeReplyObject(r);
        printf("%s: trimmed %lld records, seq %" PRIu64 "..%s; the chain now starts at seq %" PRIu64
               ", vouched for by the checkpoint counting %s\n",
               c->name, removed, res.first_seq, count, cut + 1, count);
    }
    free_keys(keys, nkeys);
    return bad ? 1 : 0;
}

struct disclosures {
    const char *patient;
    size_t plen;
    int count;
};

static void print_disclosure(const struct pg_record_parsed *p, const struct pg_audit_entry *e, void *ctx)
{
    (void)e;
    struct disclosures *d = ctx;
    const struct pg_audit_record *r = &p->rec;
    /* The patient's own resource, or anything below it (Patient/7/...). */
    if (!r->entity || strncmp(r->entity, d->patient, d->plen) != 0 || (r->entity[d->plen] && r->entity[d->plen] != '/'))
        return;
    char time[PG_RECORD_TIME_LEN];
    pg_record_format_time(r->time_us, time);
    if (d->count++ == 0)
        printf("time\tuser_id\tusername\troles\taction\tmethod\tpath\tstatus\toutcome\trecord\tphi_fields\n");
    printf("%s\t%s\t%s\t", time, r->agent.user_id ? r->agent.user_id : "-", r->agent.username ? r->agent.username : "-");
    for (size_t i = 0; i < r->agent.nroles; i++)
        printf("%s%s", i ? "," : "", r->agent.roles[i]);
    printf("%s\t%c\t%s\t%s\t%d\t%d\t%s\t", r->agent.nroles ? "" : "-", r->action, r->http.method ? r->http.method : "-",
           r->http.path ? r->http.path : "-", r->http.status, r->outcome, r->type);
    /* Which PHI fields, how many values: sealed (a write's record) or
     * disclosed in clear (a phi-disclosure record). */
    for (size_t i = 0; i < r->nphi; i++)
        printf("%s%s=%u", i ? "," : "", r->phi[i].field, r->phi[i].count);
    printf("%s\n", r->nphi ? "" : "-");
}

/* audit verify --input FILE [-c CONFIG]: a backup checked offline; the
 * configuration, when given, only names the key (audit.key_name). */
static int verify_export_file(const struct options *o)
{
    struct pg_config cfg;
    char err[4096];
    if (o->config && pg_config_load(o->config, &cfg, err, sizeof err) != 0) {
        fputs(err, stderr);
        return 2;
    }
    struct pg_audit_reader rd = {0};
    int rc = 2;
    if (pg_audit_reader_load_export(&rd, o->input, o->chain) != 0) {
        fprintf(stderr, "phiguard audit verify: %s: %s\n", o->input, rd.err);
    } else if (rd.n == 0) {
        /* An empty backup proves nothing: it must not pass for a good one. */
        printf("no audit chains in %s\n", o->input);
        rc = 1;
    } else {
        rc = cmd_verify(&rd, o, o->config ? &cfg : NULL);
    }
    pg_audit_reader_free(&rd);
    if (o->config)
        pg_config_free(&cfg);
    return rc;
}

int pg_cli_audit_read(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: phiguard audit verify|export|disclosures|trim -c FILE [options] (phiguard --help)\n");
        return 2;
    }
    const char *sub = argv[1];
    struct options o;
    if (parse_options(argc - 1, argv + 1, &o) != 0)
        return 2;
    if (!strcmp(sub, "disclosures") && (!o.patient || strncmp(o.patient, "Patient/", 8) != 0)) {
        fprintf(stderr, "phiguard audit disclosures: --patient Patient/ID is required\n");
        return 2;
    }
    if (!strcmp(sub, "export") && strcmp(o.format, "json") && strcmp(o.format, "fhir")) {
        fprintf(stderr, "phiguard audit export: --format is json or fhir\n");
        return 2;
    }
    if (strcmp(sub, "verify") && strcmp(sub, "export") && strcmp(sub, "disclosures") && strcmp(sub, "trim")) {
        fprintf(stderr, "phiguard audit: unknown command '%s' (verify, export, disclosures, trim)\n", sub);
        return 2;
    }
    if (o.input && strcmp(sub, "verify")) {
        fprintf(stderr, "phiguard audit %s: --input is for audit verify (an export file)\n", sub);
        return 2;
    }
    if (o.checkpoints && (strcmp(sub, "export") || strcmp(o.format, "json"))) {
        fprintf(stderr, "phiguard audit: --checkpoints is for audit export --format json\n");
        return 2;
    }
    if (o.input)
        return verify_export_file(&o);
    struct pg_config cfg;
    char err[4096];
    if (pg_config_load(o.config, &cfg, err, sizeof err) != 0) {
        fputs(err, stderr);
        return 2;
    }
    struct pg_audit_reader rd = {.rc = pg_audit_redis_connect(&cfg, err, sizeof err)};
    int rc = 2;
    if (!rd.rc)
        fprintf(stderr, "phiguard audit: %s\n", err);
    else if (pg_audit_reader_load(&rd, o.chain) != 0)
        fprintf(stderr, "phiguard audit: %s\n", rd.err);
    else {
        if (!strcmp(sub, "verify")) {
            rc = cmd_verify(&rd, &o, &cfg);
        } else if (!strcmp(sub, "trim")) {
            rc = cmd_trim(&rd, &o, &cfg);
        } else if (!strcmp(sub, "export") && !strcmp(o.format, "json")) {
            rc = each_record(&rd, &o, print_json_line, NULL);
            if (o.checkpoints)
                rc |= print_checkpoint_lines(&rd);
        } else if (!strcmp(sub, "export")) {
            int count = 0;
            printf("{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":[\n");
            rc = each_record(&rd, &o, print_fhir_entry, &count);
            printf("\n]}\n");
        } else {
            struct disclosures d = {.patient = o.patient, .plen = strlen(o.patient)};
            rc = each_record(&rd, &o, print_disclosure, &d);
            if (!d.count)
                printf("no access to %s recorded in that period\n", o.patient);
        }
    }
    pg_audit_reader_free(&rd);
    pg_config_free(&cfg);
    return rc;
}
