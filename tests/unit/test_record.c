/* Canonical audit records (policy/record.c). The expected bytes and
 * hashes were computed independently (JSON text written by hand, Python's
 * hashlib and json). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "policy/record.h"

static void test_canonical_bytes(void **state)
{
    (void)state;
    struct pg_canon c;
    pg_canon_init(&c);
    pg_canon_begin_object(&c, NULL);
    pg_canon_int(&c, "seq", 1);
    pg_canon_string(&c, "prev", "x", 1);
    pg_canon_begin_object(&c, "agent");
    pg_canon_string(&c, "user", "u-1", 3);
    pg_canon_begin_array(&c, "roles");
    pg_canon_string(&c, NULL, "nurse", 5);
    pg_canon_string(&c, NULL, "billing", 7);
    pg_canon_end_array(&c);
    pg_canon_end_object(&c);
    const char note[] = "a\"b\\c\n\x01\xc3\xa9";
    pg_canon_string(&c, "note", note, sizeof note - 1);
    pg_canon_bool(&c, "ok", true);
    pg_canon_null(&c, "none");
    pg_canon_end_object(&c);
    assert_false(c.failed);
    const char *want = "{\"seq\":1,\"prev\":\"x\",\"agent\":{\"user\":\"u-1\",\"roles\":[\"nurse\",\"billing\"]},"
                       "\"note\":\"a\\\"b\\\\c\\n\\u0001\xc3\xa9\",\"ok\":true,\"none\":null}";
    assert_string_equal(c.buf, want);
    char h[PG_HASH_HEX];
    pg_chain_leaf_hash(c.buf, c.len, h);
    assert_string_equal(h, "0243f86a6432e8453460c259cd9505c1c20ae597ee031f65d0f95dbc38d95c3b");
    pg_canon_free(&c);
}

/* Invalid UTF-8 (a lone continuation byte, an overlong '/', a surrogate,
 * a truncated sequence) becomes \ufffd per byte; valid 2-, 3- and 4-byte
 * sequences and DEL's escape are fixed. */
static void test_string_escaping(void **state)
{
    (void)state;
    struct pg_canon c;
    pg_canon_init(&c);
    const char s[] = "\x80|\xc0\xaf|\xed\xa0\x80|\xe2\x82|\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\x7f\t\r\b\f";
    pg_canon_string(&c, NULL, s, sizeof s - 1);
    assert_string_equal(c.buf, "\"\\ufffd|\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd|\\ufffd\\ufffd|"
                               "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\\u007f\\t\\r\\b\\f\"");
    pg_canon_free(&c);
}

static void test_too_deep_fails(void **state)
{
    (void)state;
    struct pg_canon c;
    pg_canon_init(&c);
    for (int i = 0; i < 40; i++)
        pg_canon_begin_array(&c, NULL);
    assert_true(c.failed);
    pg_canon_free(&c);
}

static const char *const roles[] = {"clinician", "nurse"};
static const struct pg_audit_phi phi[] = {{"Patient.birthDate", 1}, {"Patient.name.family", 2}};
static const struct pg_audit_detail details[] = {{"reason", "b"}, {"alert", "a"}};

static struct pg_audit_record full_record(void)
{
    struct pg_audit_record r = {
        .seq = 42,
        .writer = "pod-0/w1/e7",
        .time_us = 1795411853796567,
        .type = "rest",
        .subtype = "read",
        .action = 'R',
        .outcome = PG_OUTCOME_SUCCESS,
        .agent = {"u-1", "alice", roles, 2, "33a386c9464a4538527687ee331d081db7d7448137f25db6fd13b1d8d1053a71",
                  "10.0.0.7", "curl/8"},
        .http = {"GET", "/fhir/Patient/{id}", "/fhir/Patient/123", 200},
        .entity = "Patient/123",
        .rule = "clinician-read",
        .request_id = "r-9",
        .phi = phi,
        .nphi = 2,
        .details = details,
        .ndetails = 2,
    };
    memset(r.prev, 'a', 64);
    r.prev[64] = '\0';
    return r;
}

static const char full_bytes[] =
    "{\"seq\":42,\"writer\":\"pod-0/w1/e7\","
    "\"prev\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
    "\"time\":\"2026-11-23T05:30:53.796567Z\",\"type\":\"rest\",\"subtype\":\"read\",\"action\":\"R\",\"outcome\":0,"
    "\"agent\":{\"user\":\"u-1\",\"username\":\"alice\",\"roles\":[\"clinician\",\"nurse\"],"
    "\"session\":\"33a386c9464a4538527687ee331d081db7d7448137f25db6fd13b1d8d1053a71\",\"ip\":\"10.0.0.7\","
    "\"user_agent\":\"curl/8\"},"
    "\"http\":{\"method\":\"GET\",\"route\":\"/fhir/Patient/{id}\",\"path\":\"/fhir/Patient/123\",\"status\":200},"
    "\"entity\":\"Patient/123\",\"rule\":\"clinician-read\",\"request\":\"r-9\","
    "\"phi\":[{\"field\":\"Patient.birthDate\",\"count\":1},{\"field\":\"Patient.name.family\",\"count\":2}],"
    "\"details\":{\"alert\":\"a\",\"reason\":\"b\"}}";

static void test_record_bytes_and_parse(void **state)
{
    (void)state;
    struct pg_audit_record r = full_record();
    struct pg_canon c;
    char err[128];
    pg_canon_init(&c);
    assert_int_equal(pg_record_write(&r, &c, err, sizeof err), 0);
    assert_string_equal(c.buf, full_bytes);

    struct pg_record_parsed p;
    assert_int_equal(pg_record_parse(c.buf, c.len, &p, err, sizeof err), 0);
    assert_int_equal(p.rec.seq, 42);
    assert_string_equal(p.rec.writer, r.writer);
    assert_string_equal(p.rec.prev, r.prev);
    assert_null(p.rec.epoch_prev);
    assert_int_equal(p.rec.time_us, r.time_us);
    assert_string_equal(p.rec.type, "rest");
    assert_string_equal(p.rec.subtype, "read");
    assert_int_equal(p.rec.action, 'R');
    assert_int_equal(p.rec.outcome, 0);
    assert_string_equal(p.rec.agent.user_id, "u-1");
    assert_string_equal(p.rec.agent.username, "alice");
    assert_int_equal(p.rec.agent.nroles, 2);
    assert_string_equal(p.rec.agent.roles[1], "nurse");
    assert_string_equal(p.rec.agent.session_hash, r.agent.session_hash);
    assert_string_equal(p.rec.agent.client_ip, "10.0.0.7");
    assert_string_equal(p.rec.agent.user_agent, "curl/8");
    assert_string_equal(p.rec.http.route, "/fhir/Patient/{id}");
    assert_string_equal(p.rec.http.path, "/fhir/Patient/123");
    assert_int_equal(p.rec.http.status, 200);
    assert_string_equal(p.rec.entity, "Patient/123");
    assert_string_equal(p.rec.rule, "clinician-read");
    assert_string_equal(p.rec.request_id, "r-9");
    assert_int_equal(p.rec.nphi, 2);
    assert_string_equal(p.rec.phi[1].field, "Patient.name.family");
    assert_int_equal(p.rec.phi[1].count, 2);
    assert_int_equal(p.rec.ndetails, 2);
    assert_string_equal(p.rec.details[0].key, "alert");
    /* Written again from what was parsed: the same bytes. */
    struct pg_canon again;
    pg_canon_init(&again);
    assert_int_equal(pg_record_write(&p.rec, &again, err, sizeof err), 0);
    assert_string_equal(again.buf, full_bytes);
    pg_canon_free(&again);
    pg_record_parsed_free(&p);
    pg_canon_free(&c);
}

static void test_minimal_record_with_epoch_link(void **state)
{
    (void)state;
    struct pg_audit_epoch_link link = {.writer = "pod-0/w1/e6", .seq = 9};
    memset(link.head, 'b', 64);
    struct pg_audit_record r = {.seq = 1, .writer = "pod-0/w1/e7", .epoch_prev = &link, .time_us = 0,
                                .type = "start", .action = 'E', .outcome = 0};
    pg_chain_genesis(r.writer, r.prev);
    struct pg_canon c;
    char err[128], want[512];
    pg_canon_init(&c);
    assert_int_equal(pg_record_write(&r, &c, err, sizeof err), 0);
    snprintf(want, sizeof want,
             "{\"seq\":1,\"writer\":\"pod-0/w1/e7\",\"prev\":\"%s\",\"epoch_prev\":{\"writer\":\"pod-0/w1/e6\","
             "\"seq\":9,\"h\":\"%s\"},\"time\":\"1970-01-01T00:00:00.000000Z\",\"type\":\"start\","
             "\"action\":\"E\",\"outcome\":0,\"agent\":{}}",
             r.prev, link.head);
    assert_string_equal(c.buf, want);
    struct pg_record_parsed p;
    assert_int_equal(pg_record_parse(c.buf, c.len, &p, err, sizeof err), 0);
    assert_non_null(p.rec.epoch_prev);
    assert_string_equal(p.rec.epoch_prev->writer, "pod-0/w1/e6");
    assert_int_equal(p.rec.epoch_prev->seq, 9);
    assert_string_equal(p.rec.epoch_prev->head, link.head);
    assert_null(p.rec.agent.user_id);
    assert_int_equal(p.rec.http.status, 0);
    pg_record_parsed_free(&p);
    pg_canon_free(&c);
}

static void test_invalid_records_refused(void **state)
{
    (void)state;
    struct pg_audit_detail twice[] = {{"k", "1"}, {"k", "2"}};
    struct pg_audit_epoch_link link = {.writer = "w", .seq = 1};
    memset(link.head, 'c', 64);
    for (int i = 0; i < 10; i++) {
        struct pg_audit_record r = full_record();
        switch (i) {
        case 0: r.seq = 0; break;
        case 1: r.writer = ""; break;
        case 2: r.prev[3] = 'G'; break;
        case 3: r.type = NULL; break;
        case 4: r.action = 'X'; break;
        case 5: r.outcome = 5; break;
        case 6: r.http.status = 99; break;
        case 7: r.details = twice; break;
        case 8: r.time_us = -1; break;
        case 9: r.epoch_prev = &link; break; /* only on seq 1 */
        }
        struct pg_canon c;
        char err[128] = "";
        pg_canon_init(&c);
        if (pg_record_write(&r, &c, err, sizeof err) != -1 || !err[0])
            fail_msg("invalid record %d was written", i);
        pg_canon_free(&c);
    }
}

static void test_bad_stored_bytes_refused(void **state)
{
    (void)state;
    static const char *bad[] = {
        "",
        "[]",
        "{\"seq\":1",
        "{\"seq\":42,\"seq\":43}",
        "{\"seq\":\"42\",\"writer\":\"w\"}",
        "{\"seq\":1.5,\"writer\":\"w\"}",
        "{\"seq\":0,\"writer\":\"w\"}",
    };
    char err[160];
    struct pg_record_parsed p;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (pg_record_parse(bad[i], strlen(bad[i]), &p, err, sizeof err) != -1)
            fail_msg("bad bytes %zu parsed", i);
    /* One field at a time made wrong in an otherwise good record. */
    static const struct {
        const char *from, *to;
    } edits[] = {
        {"\"time\":\"2026-11-23T05:30:53.796567Z\"", "\"time\":\"2026-11-23 05:30:53Z\""},
        {"\"time\":\"2026-11-23T05:30:53.796567Z\"", "\"time\":\"2026-02-30T05:30:53.796567Z\""},
        {"\"action\":\"R\"", "\"action\":\"Q\""},
        {"\"outcome\":0", "\"outcome\":3"},
        {"\"status\":200", "\"status\":\"200\""},
        {"\"roles\":[\"clinician\",", "\"roles\":[1,"},
        {"{\"field\":\"Patient.birthDate\",\"count\":1}", "{\"field\":\"Patient.birthDate\",\"count\":-1}"},
        {"\"user\":\"u-1\",", "\"user\":\"u-1\",\"user\":\"u-2\","},
        {"\"prev\":\"a", "\"prev\":\"A"},
        {"\"details\":{\"alert\":\"a\"", "\"details\":{\"alert\":1"},
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        char text[2048], *at;
        strcpy(text, full_bytes);
        at = strstr(text, edits[i].from);
        assert_non_null(at);
        char rest[2048];
        strcpy(rest, at + strlen(edits[i].from));
        strcpy(at, edits[i].to);
        strcat(text, rest);
        err[0] = '\0';
        if (pg_record_parse(text, strlen(text), &p, err, sizeof err) != -1 || !err[0])
            fail_msg("edit %zu parsed", i);
    }
    /* An embedded NUL is refused, not silently truncated. */
    char nul[sizeof full_bytes];
    memcpy(nul, full_bytes, sizeof full_bytes);
    nul[10] = '\0';
    assert_int_equal(pg_record_parse(nul, sizeof full_bytes - 1, &p, err, sizeof err), -1);
}

static void test_time_round_trip(void **state)
{
    (void)state;
    char t[PG_RECORD_TIME_LEN];
    int64_t us;
    assert_int_equal(pg_record_format_time(951782400000001, t), 0); /* 2000-02-29, leap day */
    assert_string_equal(t, "2000-02-29T00:00:00.000001Z");
    assert_int_equal(pg_record_parse_time(t, &us), 0);
    assert_int_equal(us, 951782400000001);
    assert_int_equal(pg_record_parse_time("2001-02-29T00:00:00.000000Z", &us), -1);
    assert_int_equal(pg_record_parse_time("2001-01-01T24:00:00.000000Z", &us), -1);
    assert_int_equal(pg_record_parse_time("2001-01-01T00:00:00.000000+01:00", &us), -1);
    assert_int_equal(pg_record_format_time(-5, t), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canonical_bytes),
        cmocka_unit_test(test_string_escaping),
        cmocka_unit_test(test_too_deep_fails),
        cmocka_unit_test(test_record_bytes_and_parse),
        cmocka_unit_test(test_minimal_record_with_epoch_link),
        cmocka_unit_test(test_invalid_records_refused),
        cmocka_unit_test(test_bad_stored_bytes_refused),
        cmocka_unit_test(test_time_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
