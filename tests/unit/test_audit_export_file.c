/* An audit export read back for offline verification
 * (proxy/audit_export_file.c): records and checkpoint lines of two chains
 * load into the verifier's input and verify; a changed record, a line that
 * is neither, and a missing file are reported with their place. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy/auditverify.h"
#include "policy/checkpoint.h"
#include "policy/record.h"
#include "proxy/audit_export_file.h"

#define KEY "phiguard-audit"
#define N 4

static EVP_PKEY *key;

static int setup(void **state)
{
    (void)state;
    key = pg_checkpoint_keygen();
    return key ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    EVP_PKEY_free(key);
    return 0;
}

/* N linked records of writer and a checkpoint counting them, as
 * `audit export --checkpoints` writes them; subtype_at_2 changes record 2
 * without relinking (tampering). */
static void write_chain(FILE *f, const char *writer, const char *subtype_at_2)
{
    char prev[PG_HASH_HEX];
    pg_chain_genesis(writer, prev);
    for (uint64_t i = 1; i <= N; i++) {
        struct pg_audit_record r = {.seq = i, .writer = writer, .time_us = 1795411853000000 + (int64_t)i,
                                    .type = "rest", .subtype = i == 2 ? subtype_at_2 : "read", .action = 'R'};
        memcpy(r.prev, prev, PG_HASH_HEX);
        struct pg_canon c;
        char err[128];
        pg_canon_init(&c);
        assert_int_equal(pg_record_write(&r, &c, err, sizeof err), 0);
        fprintf(f, "%.*s\n", (int)c.len, c.buf);
        /* The link follows the untampered record, as the real chain did. */
        if (i == 2 && strcmp(subtype_at_2, "read")) {
            r.subtype = "read";
            pg_canon_free(&c);
            pg_canon_init(&c);
            assert_int_equal(pg_record_write(&r, &c, err, sizeof err), 0);
        }
        pg_chain_leaf_hash(c.buf, c.len, prev);
        pg_canon_free(&c);
    }
    struct pg_checkpoint cp = {.count = N, .time_us = 1795411854000000};
    snprintf(cp.origin, sizeof cp.origin, "%s", writer);
    memcpy(cp.head, prev, PG_HASH_HEX);
    char note[512];
    assert_int_equal(pg_checkpoint_sign(key, KEY, &cp, note, sizeof note), 0);
    size_t len;
    char *line = pg_audit_export_checkpoint_line(writer, note, &len);
    assert_non_null(line);
    assert_null(memchr(line, '\n', len)); /* the note's newlines are escaped: one line */
    fprintf(f, "%s\n", line);
    free(line);
}

static char *temp_export(void)
{
    char *path = strdup("/tmp/pg-export-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    return path;
}

static void verify_all(struct pg_audit_reader *rd, enum pg_audit_fault want[], uint64_t want_seq[])
{
    struct pg_checkpoint_key trusted = {KEY, key};
    for (size_t i = 0; i < rd->n; i++) {
        struct pg_audit_stored_chain *c = &rd->chains[i];
        struct pg_audit_chain_input in = {.chain = c->name, .entries = c->entries, .nentries = c->n,
                                          .checkpoints = (const char *const *)c->notes, .ncheckpoints = c->nnotes};
        struct pg_audit_result res;
        pg_auditverify_chain(&in, &trusted, 1, &res);
        assert_int_equal(res.fault, want[i]);
        if (want[i] == PG_AUDIT_OK)
            assert_int_equal(res.checkpoints_verified, 1);
        else
            assert_int_equal(res.bad_seq, want_seq[i]);
    }
}

static void test_export_of_two_chains_verifies(void **state)
{
    (void)state;
    char *path = temp_export();
    FILE *f = fopen(path, "w");
    write_chain(f, "ehr-0/w0/e1", "read");
    fputc('\n', f); /* blank lines are skipped */
    write_chain(f, "ehr-0/w1/e1", "read");
    fclose(f);

    struct pg_audit_reader rd = {0};
    assert_int_equal(pg_audit_reader_load_export(&rd, path, NULL), 0);
    assert_int_equal(rd.n, 2);
    assert_string_equal(rd.chains[0].name, "ehr-0/w0/e1");
    assert_int_equal(rd.chains[0].n, N);
    assert_int_equal(rd.chains[0].nnotes, 1);
    assert_int_equal(rd.chains[1].entries[N - 1].seq, N);
    verify_all(&rd, (enum pg_audit_fault[]){PG_AUDIT_OK, PG_AUDIT_OK}, NULL);
    pg_audit_reader_free(&rd);

    struct pg_audit_reader one = {0};
    assert_int_equal(pg_audit_reader_load_export(&one, path, "ehr-0/w1/e1"), 0);
    assert_int_equal(one.n, 1);
    assert_string_equal(one.chains[0].name, "ehr-0/w1/e1");
    pg_audit_reader_free(&one);
    unlink(path);
    free(path);
}

static void test_changed_record_in_an_export_is_found(void **state)
{
    (void)state;
    char *path = temp_export();
    FILE *f = fopen(path, "w");
    write_chain(f, "ehr-0/w0/e1", "delete"); /* record 2 edited in the file */
    fclose(f);
    struct pg_audit_reader rd = {0};
    assert_int_equal(pg_audit_reader_load_export(&rd, path, NULL), 0);
    /* Its h is recomputed from the line, so the break shows at the next
     * record's prev. */
    verify_all(&rd, (enum pg_audit_fault[]){PG_AUDIT_PREV_MISMATCH}, (uint64_t[]){3});
    pg_audit_reader_free(&rd);
    unlink(path);
    free(path);
}

static void test_bad_lines_are_refused_with_their_number(void **state)
{
    (void)state;
    char *path = temp_export();
    FILE *f = fopen(path, "w");
    write_chain(f, "ehr-0/w0/e1", "read");
    fputs("{\"chain\":\"ehr-0/w0/e1\"}\n", f);
    fclose(f);
    struct pg_audit_reader rd = {0};
    assert_int_equal(pg_audit_reader_load_export(&rd, path, NULL), -1);
    assert_non_null(strstr(rd.err, "line 6: neither an audit record nor a checkpoint"));
    pg_audit_reader_free(&rd);

    f = fopen(path, "w");
    fputs("{\"seq\":1,\"writer\":\"x\"}\n", f);
    fclose(f);
    struct pg_audit_reader bad = {0};
    assert_int_equal(pg_audit_reader_load_export(&bad, path, NULL), -1);
    assert_non_null(strstr(bad.err, "line 1: not an audit record"));
    pg_audit_reader_free(&bad);
    unlink(path);

    struct pg_audit_reader missing = {0};
    assert_int_equal(pg_audit_reader_load_export(&missing, path, NULL), -1);
    assert_non_null(strstr(missing.err, "No such file"));
    pg_audit_reader_free(&missing);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_export_of_two_chains_verifies),
        cmocka_unit_test(test_changed_record_in_an_export_is_found),
        cmocka_unit_test(test_bad_lines_are_refused_with_their_number),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
