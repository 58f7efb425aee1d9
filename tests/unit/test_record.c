/* Canonical audit records (policy/record.c). The expected bytes and
 * hashes were computed independently (JSON text written by hand, Python's
 * hashlib and json). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* The record as the member-by-member writer (the public pg_canon calls)
 * writes it: pg_record_write's single pass must give the same bytes. */
static void reference_string(struct pg_canon *c, const char *key, const char *v)
{
    if (v)
        pg_canon_string(c, key, v, strlen(v));
}

static int detail_order(const void *a, const void *b)
{
    return strcmp(((const struct pg_audit_detail *)a)->key, ((const struct pg_audit_detail *)b)->key);
}

static void reference_write(const struct pg_audit_record *r, struct pg_canon *c)
{
    char when[80], action[2] = {r->action, '\0'};
    struct tm tm;
    time_t secs = (time_t)(r->time_us / 1000000);
    gmtime_r(&secs, &tm);
    snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(r->time_us % 1000000));
    struct pg_audit_detail sorted[8];
    memcpy(sorted, r->details, r->ndetails * sizeof *sorted);
    qsort(sorted, r->ndetails, sizeof *sorted, detail_order);
    pg_canon_begin_object(c, NULL);
    pg_canon_int(c, "seq", (int64_t)r->seq);
    reference_string(c, "writer", r->writer);
    reference_string(c, "prev", r->prev);
    if (r->epoch_prev) {
        pg_canon_begin_object(c, "epoch_prev");
        reference_string(c, "writer", r->epoch_prev->writer);
        pg_canon_int(c, "seq", (int64_t)r->epoch_prev->seq);
        reference_string(c, "h", r->epoch_prev->head);
        pg_canon_end_object(c);
    }
    reference_string(c, "time", when);
    reference_string(c, "type", r->type);
    reference_string(c, "subtype", r->subtype);
    reference_string(c, "action", action);
    pg_canon_int(c, "outcome", r->outcome);
    pg_canon_begin_object(c, "agent");
    reference_string(c, "user", r->agent.user_id);
    reference_string(c, "username", r->agent.username);
    if (r->agent.nroles) {
        pg_canon_begin_array(c, "roles");
        for (size_t i = 0; i < r->agent.nroles; i++)
            reference_string(c, NULL, r->agent.roles[i]);
        pg_canon_end_array(c);
    }
    reference_string(c, "session", r->agent.session_hash);
    reference_string(c, "ip", r->agent.client_ip);
    reference_string(c, "user_agent", r->agent.user_agent);
    pg_canon_end_object(c);
    if (r->http.method || r->http.route || r->http.path || r->http.status) {
        pg_canon_begin_object(c, "http");
        reference_string(c, "method", r->http.method);
        reference_string(c, "route", r->http.route);
        reference_string(c, "path", r->http.path);
        if (r->http.status)
            pg_canon_int(c, "status", r->http.status);
        pg_canon_end_object(c);
    }
    reference_string(c, "entity", r->entity);
    reference_string(c, "rule", r->rule);
    reference_string(c, "request", r->request_id);
    if (r->nphi) {
        pg_canon_begin_array(c, "phi");
        for (size_t i = 0; i < r->nphi; i++) {
            pg_canon_begin_object(c, NULL);
            reference_string(c, "field", r->phi[i].field);
            pg_canon_int(c, "count", r->phi[i].count);
            pg_canon_end_object(c);
        }
        pg_canon_end_array(c);
    }
    if (r->ndetails) {
        pg_canon_begin_object(c, "details");
        for (size_t i = 0; i < r->ndetails; i++)
            reference_string(c, sorted[i].key, sorted[i].value);
        pg_canon_end_object(c);
    }
    pg_canon_end_object(c);
}

/* A random string of up to max bytes from an alphabet heavy in what needs
 * care: quotes, backslashes, controls, DEL, and valid and broken UTF-8. */
static char *random_text(unsigned *seed, char *buf, size_t max)
{
    static const char *const pieces[] = {"a", "Z", "/", "\"", "\\", "\n", "\t", "\x01", "\x1f", "\x7f", "\xc3\xa9",
                                         "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\x80", "\xc0\xaf", "\xed\xa0\x80",
                                         "\xe2\x82", "\xff", " ", "{id}"};
    size_t n = 0, want = (size_t)rand_r(seed) % max;
    while (n < want) {
        const char *p = pieces[(size_t)rand_r(seed) % (sizeof pieces / sizeof *pieces)];
        size_t k = strlen(p);
        if (n + k >= max)
            break;
        memcpy(buf + n, p, k);
        n += k;
    }
    buf[n] = '\0';
    return buf;
}

static void test_single_pass_writer_matches_member_writer(void **state)
{
    (void)state;
    unsigned seed = 20261123;
    static const char actions[] = "CRUDE";
    static const int outcomes[] = {0, 4, 8, 12};
    char text[24][64];
    struct pg_canon fast, slow;
    pg_canon_init(&fast);
    for (int round = 0; round < 3000; round++) {
        int t = 0;
        bool opt = round % 2; /* every other record leaves optional members out at random */
#define TEXT() random_text(&seed, text[t++], sizeof text[0])
#define MAYBE() (opt && rand_r(&seed) % 3 == 0 ? NULL : TEXT())
        const char *role_list[3] = {TEXT(), TEXT(), TEXT()};
        struct pg_audit_phi phis[2] = {{TEXT(), (uint32_t)rand_r(&seed)}, {TEXT(), UINT32_MAX}};
        char k1[8], k2[8];
        snprintf(k1, sizeof k1, "k%d", rand_r(&seed) % 50);
        snprintf(k2, sizeof k2, "j%d", rand_r(&seed) % 50);
        struct pg_audit_detail det[3] = {{k1, TEXT()}, {k2, TEXT()}, {"a\"b", TEXT()}};
        struct pg_audit_epoch_link link = {.writer = TEXT(), .seq = (uint64_t)rand_r(&seed) * 7919u};
        memset(link.head, "0123456789abcdef"[round % 16], 64);
        link.head[64] = '\0';
        struct pg_audit_record r = {
            .seq = round % 5 == 0 ? 1 : (uint64_t)rand_r(&seed) * (uint64_t)rand_r(&seed) + 1,
            .writer = TEXT()[0] ? text[t - 1] : "w",
            .time_us = (int64_t)rand_r(&seed) * (1000003 + round % 97 * 1000000),
            .type = "rest",
            .subtype = MAYBE(),
            .action = actions[round % 5],
            .outcome = outcomes[round % 4],
            .agent = {MAYBE(), MAYBE(), role_list, (size_t)(rand_r(&seed) % 4), MAYBE(), MAYBE(), MAYBE()},
            .http = {MAYBE(), MAYBE(), MAYBE(), opt && round % 3 ? 0 : 100 + rand_r(&seed) % 500},
            .entity = MAYBE(),
            .rule = MAYBE(),
            .request_id = MAYBE(),
            .phi = phis,
            .nphi = (size_t)(rand_r(&seed) % 3),
            .details = det,
            .ndetails = (size_t)(rand_r(&seed) % 4),
        };
#undef TEXT
#undef MAYBE
        if (r.seq == 1 && round % 2)
            r.epoch_prev = &link;
        memset(r.prev, "fedcba9876543210"[round % 16], 64);
        r.prev[64] = '\0';
        if (r.ndetails == 2 && strcmp(k1, k2) == 0)
            r.ndetails = 1;
        char err[128];
        fast.len = 0; /* one buffer for every record, as the audit writer keeps it */
        assert_int_equal(pg_record_write(&r, &fast, err, sizeof err), 0);
        pg_canon_init(&slow);
        reference_write(&r, &slow);
        assert_false(slow.failed);
        if (fast.len != slow.len || memcmp(fast.buf, slow.buf, slow.len) != 0)
            fail_msg("record %d differs:\n%s\n%s", round, fast.buf, slow.buf);
        assert_int_equal(fast.buf[fast.len], '\0');
        pg_canon_free(&slow);
    }
    pg_canon_free(&fast);
}

/* The time, formatted once a second and then only its microseconds, is
 * gmtime's, seconds apart, within one second, and back again. */
static void test_time_format_matches_gmtime(void **state)
{
    (void)state;
    unsigned seed = 7;
    int64_t t = 0;
    for (int i = 0; i < 20000; i++) {
        switch (rand_r(&seed) % 4) {
        case 0: t = (int64_t)rand_r(&seed) * 117 * 1000000 + rand_r(&seed) % 1000000; break;
        case 1: t += rand_r(&seed) % 1000; break;
        case 2: t -= rand_r(&seed) % 3000000; break;
        default: t += 1000000; break;
        }
        if (t < 0)
            t = -t;
        char got[PG_RECORD_TIME_LEN], want[80];
        time_t secs = (time_t)(t / 1000000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(t % 1000000));
        assert_int_equal(pg_record_format_time(t, got), 0);
        assert_string_equal(got, want);
    }
    char t2[PG_RECORD_TIME_LEN];
    assert_int_equal(pg_record_format_time(253402300799999999, t2), 0); /* the last microsecond of 9999 */
    assert_string_equal(t2, "9999-12-31T23:59:59.999999Z");
    assert_int_equal(pg_record_format_time(253402300800000000, t2), -1);
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
        cmocka_unit_test(test_single_pass_writer_matches_member_writer),
        cmocka_unit_test(test_time_format_matches_gmtime),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
