/* The streaming JSON rewriter (policy/rewrite.c): what selectors pick,
 * what the value function's answers do, that everything else keeps its
 * meaning, that the input can be cut anywhere, that errors never quote the
 * input, and that memory stays flat for a long body. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#include "policy/rewrite.h"
#include "policy/selector.h"

#include "json_equal.h"

/* ---- a set of fields from selector texts ---- */

struct fields {
    struct pg_phi_field f[8];
    int n;
    struct pg_sel_set *set;
};

static void fields_make(struct fields *fs, const char *const *sels)
{
    memset(fs, 0, sizeof *fs);
    for (; sels[fs->n]; fs->n++) {
        char why[128];
        struct pg_phi_field *f = &fs->f[fs->n];
        assert_int_equal(pg_selector_compile(sels[fs->n], &f->steps, &f->nsteps, why, sizeof why), 0);
    }
    bool failed;
    fs->set = pg_sel_set_new(fs->f, fs->n, &failed);
    assert_false(failed);
}

static void fields_free(struct fields *fs)
{
    pg_sel_set_free(fs->set);
    for (int i = 0; i < fs->n; i++)
        pg_selector_free(fs->f[i].steps, fs->f[i].nsteps);
}

#define SELS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* ---- a value function that does what each test plans ---- */

struct run {
    char act[8];     /* per field: k keep, r replace, x remove, f fail */
    char stray;      /* the same for field -1 */
    char container;  /* the same for a selected object or array */
    char log[8192];  /* field:type:data; per offer */
    size_t log_len;
    char *out;
    size_t out_len, out_cap;
    int fail_writes_after; /* writes allowed before one fails; -1: never */
    int writes;
};

static enum pg_rw_action value_fn(void *arg, const struct pg_rw_value *v, struct pg_rw_token *tok)
{
    struct run *r = arg;
    int n = snprintf(r->log + r->log_len, sizeof r->log - r->log_len, "%d:%c:%.*s;", v->field, v->type,
                     (int)v->len, v->data ? v->data : "");
    assert_true(n > 0 && (size_t)n < sizeof r->log - r->log_len);
    r->log_len += (size_t)n;
    assert_true(tok->cap >= 2 * v->len + 256);
    char a = v->type == 'o' || v->type == 'a' ? r->container : v->field < 0 ? r->stray : r->act[v->field];
    switch (a) {
    case 'r':
        tok->type = 's';
        tok->len = (size_t)snprintf(tok->data, tok->cap, "<F%d>", v->field);
        return PG_RW_REPLACE;
    case 'x': return PG_RW_REMOVE;
    case 'f': return PG_RW_FAIL;
    default: return PG_RW_KEEP;
    }
}

static int write_fn(void *arg, const char *data, size_t len)
{
    struct run *r = arg;
    if (r->fail_writes_after >= 0 && r->writes++ >= r->fail_writes_after)
        return -1;
    if (r->out_len + len + 1 > r->out_cap) {
        r->out_cap = (r->out_len + len + 1) * 2;
        r->out = realloc(r->out, r->out_cap);
        assert_non_null(r->out);
    }
    memcpy(r->out + r->out_len, data, len);
    r->out_len += len;
    r->out[r->out_len] = '\0';
    return 0;
}

static void run_init(struct run *r, const char *act)
{
    memset(r, 0, sizeof *r);
    snprintf(r->act, sizeof r->act, "%s", act);
    r->stray = 'k';
    r->container = 'k';
    r->fail_writes_after = -1;
}

/* Feeds doc in pieces of step bytes (0: one piece); 0 when the rewriter
 * took it all, with err (if given) holding the error otherwise. */
static int rewrite(const struct pg_sel_set *set, const struct pg_rw_options *opt, struct run *r, const char *doc,
                   size_t len, size_t step, char *err, size_t errlen)
{
    struct pg_rewriter *rw = pg_rewriter_new(set, opt, value_fn, write_fn, r);
    assert_non_null(rw);
    int rc = 0;
    for (size_t at = 0; at < len && rc == 0; at += step ? step : len)
        rc = pg_rewriter_feed(rw, doc + at, step && len - at > step ? step : len - at);
    if (rc == 0)
        rc = pg_rewriter_finish(rw);
    if (err)
        snprintf(err, errlen, "%s", pg_rewriter_error(rw));
    pg_rewriter_free(rw);
    return rc;
}

/* The output of doc through set with every field replaced (act "rrrr"). */
static char *through(const struct pg_sel_set *set, const struct pg_rw_options *opt, const char *act, const char *doc,
                     char *log, size_t loglen)
{
    struct run r;
    run_init(&r, act);
    char err[200];
    if (rewrite(set, opt, &r, doc, strlen(doc), 0, err, sizeof err) != 0)
        fail_msg("refused: %s", err);
    if (log) {
        assert_true(r.log_len < loglen);
        memcpy(log, r.log, r.log_len + 1);
    }
    return r.out ? r.out : strdup("");
}

/* ---- meaning: two documents equal as JSON values ---- */


static char *read_source_file(const char *rel, size_t *len)
{
    const char *top = getenv("PHIGUARD_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s", rel);
    FILE *f = fopen(path, "rb");
    if (!f && top) {
        snprintf(path, sizeof path, "%s/%s", top, rel);
        f = fopen(path, "rb");
    }
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* ---- tests ---- */

static void test_selection(void **state)
{
    (void)state;
    struct fields fs;
    fields_make(&fs, SELS("$.a.b", "$.list[*].v", "$..name"));
    char log[1024];
    char *out = through(fs.set, NULL, "rrr",
                        "{\"a\":{\"b\":\"x\",\"c\":\"y\"},\"b\":\"top\",\"list\":[{\"v\":1},{\"v\":true},{\"w\":2}],"
                        "\"deep\":{\"q\":[{\"name\":\"n\"}]},\"name\":null}",
                        log, sizeof log);
    assert_string_equal(out, "{\"a\":{\"b\":\"<F0>\",\"c\":\"y\"},\"b\":\"top\",\"list\":[{\"v\":\"<F1>\"},{\"v\":\"<F1>\"},"
                             "{\"w\":2}],\"deep\":{\"q\":[{\"name\":\"<F2>\"}]},\"name\":null}");
    /* Numbers and booleans are offered as their text; null never. */
    assert_string_equal(log, "0:s:x;1:n:1;1:b:true;2:s:n;");
    free(out);
    fields_free(&fs);
}

static void test_passthrough_keeps_meaning(void **state)
{
    (void)state;
    const char *files[] = {"hl7/Patient.json", "hl7/SmartPatientA.json", "hl7/Bundle-Transaction.json"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "/work/shared/fhir/%s", files[i]);
        size_t len = 0;
        char *doc = read_source_file(path, &len);
        if (!doc)
            fail_msg("cannot read %s", path);
        struct run r;
        run_init(&r, "");
        char err[200];
        /* These files start with a byte order mark, which a reader may skip. */
        assert_int_equal(rewrite(NULL, NULL, &r, doc, len, 4096, err, sizeof err), 0);
        const char *json = !memcmp(doc, "\xEF\xBB\xBF", 3) ? doc + 3 : doc;
        assert_true(same_json(json, r.out));
        /* Nothing selected: the body goes out byte for byte (the mark aside). */
        assert_int_equal(r.out_len, len - (size_t)(json - doc));
        assert_memory_equal(r.out, json, r.out_len);
        assert_int_equal(r.log_len, 0);
        free(r.out);
        free(doc);
    }
}

static void test_removal(void **state)
{
    (void)state;
    struct fields fs;
    fields_make(&fs, SELS("$.a", "$.l[*]", "$.o.k"));
    char *out = through(fs.set, NULL, "xxx", "{\"a\":\"gone\",\"b\":1,\"l\":[\"x\",{\"k\":2},\"y\"],\"o\":{\"k\":3}}",
                        NULL, 0);
    /* The array's objects are selected containers: offered and kept, their
     * scalars then go to the function (and are removed). */
    assert_string_equal(out, "{\"b\":1,\"l\":[{}],\"o\":{}}");
    free(out);
    /* Removal at the root: the stray envelope that is the whole document. */
    struct pg_rw_options opt = {.scan_envelopes = true};
    struct run r;
    run_init(&r, "");
    r.stray = 'x';
    const char *doc = "\"phi:v1:k1:r:AAAA\"";
    assert_int_equal(rewrite(NULL, &opt, &r, doc, strlen(doc), 0, NULL, 0), 0);
    assert_string_equal(r.out, "null");
    free(r.out);
    fields_free(&fs);
}

static void test_containers(void **state)
{
    (void)state;
    struct fields fs;
    fields_make(&fs, SELS("$.name", "$.name[*].family"));
    const char *doc = "{\"name\":[{\"family\":\"Doe\",\"given\":[\"J\",null],\"n\":7}],\"id\":\"1\"}";
    char log[512];
    /* Kept: every scalar inside goes under the container's field (the outer
     * selection decides for what is inside it), null excepted. */
    char *out = through(fs.set, NULL, "rr", doc, log, sizeof log);
    assert_string_equal(log, "0:a:;0:s:Doe;0:s:J;0:n:7;");
    assert_string_equal(out, "{\"name\":[{\"family\":\"<F0>\",\"given\":[\"<F0>\",null],\"n\":\"<F0>\"}],\"id\":\"1\"}");
    free(out);
    struct run r;
    run_init(&r, "rr");
    r.container = 'x';
    assert_int_equal(rewrite(fs.set, NULL, &r, doc, strlen(doc), 0, NULL, 0), 0);
    assert_string_equal(r.out, "{\"id\":\"1\"}");
    assert_string_equal(r.log, "0:a:;");
    free(r.out);
    run_init(&r, "rr");
    r.container = 'r';
    assert_int_equal(rewrite(fs.set, NULL, &r, doc, strlen(doc), 0, NULL, 0), 0);
    assert_string_equal(r.out, "{\"name\":\"<F0>\",\"id\":\"1\"}");
    free(r.out);
    fields_free(&fs);
}

static void test_stray_envelopes(void **state)
{
    (void)state;
    struct fields fs;
    fields_make(&fs, SELS("$.a"));
    const char *doc = "{\"a\":\"phi:v1:k1:r:AAAA\",\"b\":[\"phi:v1:k2:d:BBBB\",\"phi:v1:\",\"plain\"],"
                      "\"phi:v1:k1:r:key\":1}";
    struct pg_rw_options opt = {.scan_envelopes = true};
    char log[512];
    char *out = through(fs.set, &opt, "r", doc, log, sizeof log);
    /* "phi:v1:" alone is no envelope; keys are never offered. */
    assert_string_equal(log, "0:s:phi:v1:k1:r:AAAA;-1:s:phi:v1:k2:d:BBBB;");
    free(out);
    struct run r;
    run_init(&r, "r");
    r.stray = 'x';
    assert_int_equal(rewrite(fs.set, &opt, &r, doc, strlen(doc), 0, NULL, 0), 0);
    assert_string_equal(r.out, "{\"a\":\"<F0>\",\"b\":[\"phi:v1:\",\"plain\"],\"phi:v1:k1:r:key\":1}");
    free(r.out);
    /* Without scan_envelopes, strays pass unseen. */
    out = through(fs.set, NULL, "k", doc, log, sizeof log);
    assert_string_equal(log, "0:s:phi:v1:k1:r:AAAA;");
    assert_true(same_json(out, doc));
    free(out);
    fields_free(&fs);
}

static void test_numbers_keep_text(void **state)
{
    (void)state;
    const char *doc = "[1.50e+3,-0.0,12345678901234567890123456789,0.1000,1E-7,-5]";
    char *out = through(NULL, NULL, "", doc, NULL, 0);
    assert_string_equal(out, doc);
    free(out);
}

static void test_unicode(void **state)
{
    (void)state;
    struct fields fs;
    fields_make(&fs, SELS("$.n"));
    const char *doc = "{\"n\":\"Jos\\u00e9 \\ud83d\\ude00\",\"k\\u00e9\":\"tab\\there \\\"q\\\" \\/ \\u0001\"}";
    char log[256];
    char *out = through(fs.set, NULL, "k", doc, log, sizeof log);
    assert_string_equal(log, "0:s:Jos\xc3\xa9 \xf0\x9f\x98\x80;"); /* decoded UTF-8 */
    assert_string_equal(out, doc); /* kept: escapes as they were sent */
    free(out);
    /* Replaced: the replacement is escaped, what is around it kept. */
    out = through(fs.set, NULL, "r", doc, log, sizeof log);
    assert_string_equal(out, "{\"n\":\"<F0>\",\"k\\u00e9\":\"tab\\there \\\"q\\\" \\/ \\u0001\"}");
    assert_true(same_json(out, "{\"n\":\"<F0>\",\"k\xc3\xa9\":\"tab\\there \\\"q\\\" / \\u0001\"}"));
    free(out);
    fields_free(&fs);
}

static void test_every_split_point(void **state)
{
    (void)state;
    struct fields fs;
    fields_make(&fs, SELS("$.identifier[*].value", "$..family"));
    const char *doc = "\xEF\xBB\xBF{ \"identifier\" : [ {\"system\":\"s\",\"value\":\"123-45\"}, {\"value\":42} ],\n"
                      "\"name\":[{\"family\":\"D\\u00f6e\",\"x\":[true,false,null,-1.5e2]}],"
                      "\"s\":\"phi:v1:k1:r:AAAA\"}";
    struct pg_rw_options opt = {.scan_envelopes = true};
    size_t len = strlen(doc);
    struct run whole;
    run_init(&whole, "rx");
    whole.stray = 'r';
    assert_int_equal(rewrite(fs.set, &opt, &whole, doc, len, 0, NULL, 0), 0);
    assert_string_equal(whole.out, "{ \"identifier\" : [ {\"system\":\"s\",\"value\":\"<F0>\"}, {\"value\":\"<F0>\"} ],\n"
                                   "\"name\":[{\"x\":[true,false,null,-1.5e2]}],\"s\":\"<F-1>\"}");
    for (size_t cut = 1; cut < len; cut++) {
        struct run r;
        run_init(&r, "rx");
        r.stray = 'r';
        struct pg_rewriter *rw = pg_rewriter_new(fs.set, &opt, value_fn, write_fn, &r);
        assert_int_equal(pg_rewriter_feed(rw, doc, cut), 0);
        assert_int_equal(pg_rewriter_feed(rw, doc + cut, len - cut), 0);
        assert_int_equal(pg_rewriter_finish(rw), 0);
        assert_int_equal(pg_rewriter_consumed(rw), len);
        pg_rewriter_free(rw);
        if (strcmp(r.out, whole.out) || strcmp(r.log, whole.log))
            fail_msg("cut at %zu: different output", cut);
        free(r.out);
    }
    struct run bytes;
    run_init(&bytes, "rx");
    bytes.stray = 'r';
    assert_int_equal(rewrite(fs.set, &opt, &bytes, doc, len, 1, NULL, 0), 0);
    assert_string_equal(bytes.out, whole.out);
    assert_string_equal(bytes.log, whole.log);
    free(bytes.out);
    free(whole.out);
    fields_free(&fs);
}

/* ---- raw pass-through: the input's bytes, but for what is replaced or
 * removed ---- */

/* Strays decide by their text: "phi:v1:DROP" removed, "phi:v1:SWAP"
 * replaced, any other kept. */
static enum pg_rw_action marked_fn(void *arg, const struct pg_rw_value *v, struct pg_rw_token *tok)
{
    (void)arg;
    if (v->type == 's' && v->len == 11 && !memcmp(v->data, "phi:v1:DROP", 11))
        return PG_RW_REMOVE;
    if (v->type == 's' && v->len == 11 && !memcmp(v->data, "phi:v1:SWAP", 11)) {
        memcpy(tok->data, "<R>", 3);
        tok->type = 's';
        tok->len = 3;
        return PG_RW_REPLACE;
    }
    return PG_RW_KEEP;
}

/* doc through marked_fn (stray scanning on), whole, cut at every byte and
 * fed one byte at a time: always the same output, which must be want
 * exactly (when given) and mean what want_json means. */
static void check_marked(const char *doc, const char *want, const char *want_json, bool ndjson)
{
    struct pg_rw_options opt = {.scan_envelopes = true, .multiple_values = ndjson};
    size_t len = strlen(doc);
    char *first = NULL;
    for (size_t cut = 0; cut <= len + 1; cut++) {
        struct run r;
        run_init(&r, "");
        struct pg_rewriter *rw = pg_rewriter_new(NULL, &opt, marked_fn, write_fn, &r);
        assert_non_null(rw);
        if (cut <= len) { /* two pieces (cut 0 and len: one) */
            assert_int_equal(pg_rewriter_feed(rw, doc, cut), 0);
            assert_int_equal(pg_rewriter_feed(rw, doc + cut, len - cut), 0);
        } else {
            for (size_t i = 0; i < len; i++)
                assert_int_equal(pg_rewriter_feed(rw, doc + i, 1), 0);
        }
        assert_int_equal(pg_rewriter_finish(rw), 0);
        pg_rewriter_free(rw);
        if (!r.out)
            r.out = strdup("");
        if (!first) {
            first = r.out;
            if (want)
                assert_string_equal(first, want);
            if (!ndjson && !same_json(first, want_json))
                fail_msg("%s\nmeans something else than\n%s", first, want_json);
            continue;
        }
        if (strcmp(r.out, first))
            fail_msg("cut at %zu: %s\ninstead of\n%s", cut, r.out, first);
        free(r.out);
    }
    free(first);
}

static void test_raw_removal(void **state)
{
    (void)state;
    /* An element takes one comma: the one before it, or, first in its
     * container, the one after (which the next kept element drops). */
    check_marked("[ \"phi:v1:DROP\", 1, \"phi:v1:DROP\" ]", "[  1 ]", "[1]", false);
    check_marked("[\"phi:v1:DROP\",\"phi:v1:DROP\",3]", "[3]", "[3]", false);
    check_marked("[\"phi:v1:DROP\", \"phi:v1:DROP\"]", "[]", "[]", false);
    check_marked("[1,\"phi:v1:DROP\",2]", "[1,2]", "[1,2]", false);
    check_marked("{\"a\":1, \"b\":\"phi:v1:DROP\"}", "{\"a\":1}", "{\"a\":1}", false);
    check_marked("{\"b\" : \"phi:v1:DROP\", \"a\":1}", "{ \"a\":1}", "{\"a\":1}", false);
    check_marked("{\"b\":\"phi:v1:DROP\",\"c\":\"phi:v1:DROP\"}", "{}", "{}", false);
    check_marked("{\"a\":\"phi:v1:SWAP\" , \"b\":[\"phi:v1:SWAP\"]}", "{\"a\":\"<R>\" , \"b\":[\"<R>\"]}",
                 "{\"a\":\"<R>\",\"b\":[\"<R>\"]}", false);
    /* Pretty-printed, every position: the whitespace stays where it was. */
    check_marked("{\n  \"a\": \"phi:v1:DROP\",\n  \"b\": [ \"phi:v1:DROP\" , 2 , \"phi:v1:DROP\" ,\"phi:v1:SWAP\", "
                 "\"phi:v1:DROP\" ],\n  \"c\" : {\"x\": \"phi:v1:DROP\"},\n  \"d\": [\"phi:v1:DROP\"],\n"
                 "  \"e\": \"phi:v1:KEEP\" ,\n  \"f\": \"phi:v1:DROP\"\n}\n",
                 "{\n  \n  \"b\": [   2  ,\"<R>\" ],\n  \"c\" : {},\n  \"d\": [],\n  \"e\": \"phi:v1:KEEP\" \n}\n",
                 "{\"b\":[2,\"<R>\"],\"c\":{},\"d\":[],\"e\":\"phi:v1:KEEP\"}", false);
    /* A removed root becomes null; the whitespace around it stays. */
    check_marked(" \"phi:v1:DROP\" ", " null ", "null", false);
    /* Escapes and numbers as they were sent, around what changes. */
    check_marked("{\"k\\u00e9\":\"\\/\\t\",\"n\":1.0E+2,\"x\":\"phi:v1:SWAP\"}",
                 "{\"k\\u00e9\":\"\\/\\t\",\"n\":1.0E+2,\"x\":\"<R>\"}", "{\"k\xc3\xa9\":\"/\\t\",\"n\":1.0E+2,\"x\":\"<R>\"}",
                 false);
    /* A stream of documents: one per line, whatever the input's lines. */
    check_marked("{\n \"a\": \"phi:v1:DROP\",\n \"b\" : [1, 2]\n}\n\n  [ \"phi:v1:SWAP\" ,\n3] 7 \"x y\"",
                 "{\"b\":[1,2]}\n[\"<R>\",3]\n7\n\"x y\"\n", NULL, true);
}

/* Inside a container no selector reaches the scanner goes quiet: a stray
 * envelope deep inside still wakes it, with its member or element removed
 * or replaced by the same rules, however the body is cut (the outputs are
 * those of the rewriter before it had quiet subtrees); and an object name
 * over max_value_bytes is refused there too, at any cut. */
static void test_quiet_subtrees(void **state)
{
    (void)state;
    check_marked("{\"a\": {\"b\": [1, {\"c\": \"phi:v1:DROP\", \"d\": 2}, \"phi:v1:DROP\", [\"x\", \"phi:v1:SWAP\"]], "
                 "\"e\": \"phi:v1:DROP\"}, \"f\": [[{\"g\": [3]}]], \"h\": \"phi:v1:DROP\"}",
                 "{\"a\": {\"b\": [1, { \"d\": 2}, [\"x\", \"<R>\"]]}, \"f\": [[{\"g\": [3]}]]}",
                 "{\"a\":{\"b\":[1,{\"d\":2},[\"x\",\"<R>\"]]},\"f\":[[{\"g\":[3]}]]}", false);
    check_marked("[[[\"phi:v1:DROP\"], {\"k\": [\"phi:v1:DROP\", {\"z\": \"phi:v1:DROP\"}]}, \"phi:v1:SWAP\"], "
                 "{\"q\": {\"r\": {\"s\": \"phi:v1:DROP\"}, \"t\": \"phi:v1:DROP\"}}]",
                 "[[[], {\"k\": [ {}]}, \"<R>\"], {\"q\": {\"r\": {}}}]", "[[[],{\"k\":[{}]},\"<R>\"],{\"q\":{\"r\":{}}}]",
                 false);
    struct fields fs;
    fields_make(&fs, SELS("$.a"));
    struct pg_rw_options opt = {.scan_envelopes = true, .max_value_bytes = 16};
    static const char doc[] = "{\"b\": {\"c\": [{\"0123456789abcdefg\": 1}]}, \"a\": 2}";
    for (size_t step = 0; step < sizeof doc - 1; step++) {
        struct run r;
        run_init(&r, "r");
        char err[200];
        assert_int_not_equal(rewrite(fs.set, &opt, &r, doc, sizeof doc - 1, step, err, sizeof err), 0);
        assert_non_null(strstr(err, "limit"));
        free(r.out);
    }
    fields_free(&fs);
}

static void test_invalid_json(void **state)
{
    (void)state;
    struct fields fs;
    fields_make(&fs, SELS("$.a"));
    static const char *const bad[] = {
        "{\"a\": \"SECRETVALUE\" x}", "{\"a\":\"SECRETVALUE\"", "[\"SECRETVALUE\",]", "{\"a\":\"SECRET\xff VALUE\"}",
        "{\"a\":tru, \"b\":\"SECRETVALUE\"}", "{\"b\":\"SECRETVALUE\"} {}", "{\"b\":\"SECRETVALUE\" /* c */}",
        "{\"SECRETVALUE\"}", "\"SECRETVALUE", "{\"a\":01}", "\xEF\xBB{\"a\":\"SECRETVALUE\"}", "   ", "\xEF\xBB",
        /* yajl's whitespace, not JSON's (found by fuzz_selector: a replaced
         * value lost its colon) */
        "{\"a\"\f:\"SECRETVALUE\"}", "{\"a\"\v:\"SECRETVALUE\"}", "[\"SECRETVALUE\",\f1]", "\v{\"b\":\"SECRETVALUE\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        for (size_t step = 0; step <= 1; step++) {
            struct run r;
            run_init(&r, "k");
            char err[200];
            if (rewrite(fs.set, NULL, &r, bad[i], strlen(bad[i]), step, err, sizeof err) == 0)
                fail_msg("invalid document %zu was taken", i);
            assert_null(strstr(err, "SECRET"));
            assert_null(strstr(err, "VALUE"));
            assert_non_null(strstr(err, "byte"));
            free(r.out);
        }
    }
    struct run r;
    run_init(&r, "k");
    char err[200];
    assert_int_not_equal(rewrite(fs.set, NULL, &r, "", 0, 0, err, sizeof err), 0);
    assert_non_null(strstr(err, "empty body"));
    /* The offset counts the bytes up to the end of the faulty token. */
    run_init(&r, "k");
    assert_int_not_equal(rewrite(fs.set, NULL, &r, "{\"b\":[1,2,}", 11, 0, err, sizeof err), 0);
    assert_non_null(strstr(err, "at byte 11"));
    free(r.out);
    run_init(&r, "k");
    assert_int_not_equal(rewrite(fs.set, NULL, &r, "{\"a\"\f:1}", 8, 1, err, sizeof err), 0);
    assert_non_null(strstr(err, "vertical tab or form feed"));
    assert_non_null(strstr(err, "at byte 5")); /* up to and with the byte at fault */
    free(r.out);
    fields_free(&fs);
}

static void test_too_deep(void **state)
{
    (void)state;
    char doc[2048];
    size_t n = 0;
    for (int i = 0; i < 200; i++)
        doc[n++] = '[';
    for (int i = 0; i < 200; i++)
        doc[n++] = ']';
    struct run r;
    run_init(&r, "");
    char err[200];
    assert_int_not_equal(rewrite(NULL, NULL, &r, doc, n, 0, err, sizeof err), 0);
    assert_non_null(strstr(err, "too deeply"));
    free(r.out);
    /* Deeper than the cursor tracks where a selector could still match. */
    struct fields fs;
    fields_make(&fs, SELS("$..x"));
    n = 0;
    for (int i = 0; i < 70; i++)
        n += (size_t)snprintf(doc + n, sizeof doc - n, "{\"a\":");
    n += (size_t)snprintf(doc + n, sizeof doc - n, "1");
    for (int i = 0; i < 70; i++)
        doc[n++] = '}';
    run_init(&r, "k");
    assert_int_not_equal(rewrite(fs.set, NULL, &r, doc, n, 0, err, sizeof err), 0);
    assert_non_null(strstr(err, "too deep for the PHI selectors"));
    free(r.out);
    /* Where no selector can match, the cursor need not track. */
    fields_free(&fs);
    fields_make(&fs, SELS("$.x"));
    run_init(&r, "k");
    assert_int_equal(rewrite(fs.set, NULL, &r, doc, n, 0, err, sizeof err), 0);
    free(r.out);
    fields_free(&fs);
}

/* The room a value function gets: twice the value and 256 bytes, or, with
 * a larger room_per_byte, up to that many times as much within the value
 * limit, never less than twice. */
static size_t cap_seen;

static enum pg_rw_action see_cap(void *arg, const struct pg_rw_value *v, struct pg_rw_token *out)
{
    (void)arg;
    (void)v;
    cap_seen = out->cap;
    return PG_RW_KEEP;
}

static int discard(void *arg, const char *data, size_t len)
{
    (void)arg;
    (void)data;
    (void)len;
    return 0;
}

static void test_value_room(void **state)
{
    (void)state;
    struct pg_rw_options plain = {.max_value_bytes = 4096}, wide = {.max_value_bytes = 4096, .room_per_byte = 16};
    assert_int_equal(pg_rw_room(&plain, 10), 276);
    assert_int_equal(pg_rw_room(NULL, 10), 276);
    assert_int_equal(pg_rw_room(&wide, 10), 416);
    assert_int_equal(pg_rw_room(&wide, 1000), 4096);  /* the value limit */
    assert_int_equal(pg_rw_room(&wide, 3000), 6256);  /* never less than twice */
    assert_int_equal(pg_rw_room(&wide, SIZE_MAX / 8), 2 * (SIZE_MAX / 8) + 256); /* no overflow */
    struct fields fs;
    fields_make(&fs, SELS("$.a"));
    const struct pg_rw_options *opts[] = {&plain, &wide};
    for (int i = 0; i < 2; i++) {
        struct pg_rewriter *rw = pg_rewriter_new(fs.set, opts[i], see_cap, discard, NULL);
        assert_non_null(rw);
        cap_seen = 0;
        assert_int_equal(pg_rewriter_feed(rw, "{\"a\":\"0123456789\"}", 18), 0);
        assert_int_equal(pg_rewriter_finish(rw), 0);
        assert_true(cap_seen >= pg_rw_room(opts[i], 10));
        pg_rewriter_free(rw);
    }
    fields_free(&fs);
}

static void test_max_value_bytes(void **state)
{
    (void)state;
    struct fields fs;
    fields_make(&fs, SELS("$.a"));
    struct pg_rw_options opt = {.max_value_bytes = 16};
    struct run r;
    char err[200];
    run_init(&r, "r");
    assert_int_equal(rewrite(fs.set, &opt, &r, "{\"a\":\"0123456789abcdef\"}", 24, 0, err, sizeof err), 0);
    assert_string_equal(r.out, "{\"a\":\"<F0>\"}");
    free(r.out);
    run_init(&r, "r");
    assert_int_not_equal(rewrite(fs.set, &opt, &r, "{\"a\":\"0123456789abcdefg\"}", 25, 0, err, sizeof err), 0);
    assert_non_null(strstr(err, "limit"));
    free(r.out);
    char big[1200];
    int n = snprintf(big, sizeof big, "{\"b\":\"%01000d\",\"a\":1}", 7);
    run_init(&r, "r");
    assert_int_equal(rewrite(fs.set, &opt, &r, big, (size_t)n, 0, err, sizeof err), 0); /* not selected: passes */
    assert_true(r.out_len > 1000);
    free(r.out);
    fields_free(&fs);
}

static void test_function_failure_and_bad_tokens(void **state)
{
    (void)state;
    struct fields fs;
    fields_make(&fs, SELS("$.a"));
    struct run r;
    char err[200];
    run_init(&r, "f");
    assert_int_not_equal(rewrite(fs.set, NULL, &r, "{\"a\":\"SECRETVALUE\"}", 19, 0, err, sizeof err), 0);
    assert_non_null(strstr(err, "refused"));
    assert_null(strstr(err, "SECRET"));
    free(r.out);
    fields_free(&fs);
}

/* A value function returning a fixed token, to check what is emitted. */
static struct pg_rw_token fixed;
static enum pg_rw_action fixed_fn(void *arg, const struct pg_rw_value *v, struct pg_rw_token *tok)
{
    (void)arg, (void)v;
    tok->type = fixed.type;
    tok->len = fixed.len;
    memcpy(tok->data, fixed.data, fixed.len);
    return PG_RW_REPLACE;
}

static int emit(const struct pg_sel_set *set, char type, const char *text, struct run *r)
{
    fixed = (struct pg_rw_token){.type = type, .data = (char *)text, .len = strlen(text)};
    struct pg_rewriter *rw = pg_rewriter_new(set, NULL, fixed_fn, write_fn, r);
    int rc = pg_rewriter_feed(rw, "{\"a\":\"v\"}", 9);
    if (rc == 0)
        rc = pg_rewriter_finish(rw);
    pg_rewriter_free(rw);
    return rc;
}

static void test_replacement_types(void **state)
{
    (void)state;
    struct fields fs;
    fields_make(&fs, SELS("$.a"));
    struct run r;
    static const struct {
        char type;
        const char *text, *want;
    } ok[] = {{'n', "-1.5e3", "{\"a\":-1.5e3}"}, {'b', "false", "{\"a\":false}"}, {'s', "x\"y", "{\"a\":\"x\\\"y\"}"}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        run_init(&r, "");
        assert_int_equal(emit(fs.set, ok[i].type, ok[i].text, &r), 0);
        assert_string_equal(r.out, ok[i].want);
        free(r.out);
    }
    static const struct {
        char type;
        const char *text;
    } bad[] = {{'n', "12a"}, {'n', "01"}, {'n', "1."}, {'n', ""}, {'b', "yes"}, {'s', "\xc3"}, {'x', "1"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        run_init(&r, "");
        if (emit(fs.set, bad[i].type, bad[i].text, &r) == 0)
            fail_msg("bad replacement %zu was emitted", i);
        free(r.out);
    }
    fields_free(&fs);
}

static void test_write_failure(void **state)
{
    (void)state;
    struct run r;
    run_init(&r, "");
    r.fail_writes_after = 0;
    char err[200];
    assert_int_not_equal(rewrite(NULL, NULL, &r, "{\"a\":1}", 7, 0, err, sizeof err), 0);
    assert_non_null(strstr(err, "could not be written"));
    free(r.out);
    /* A long body: a write fails midway through the feeds. */
    size_t len = 200000;
    char *doc = malloc(len);
    doc[0] = '[';
    for (size_t i = 1; i < len - 1; i += 2)
        memcpy(doc + i, "1,", 2);
    doc[len - 2] = '1';
    doc[len - 1] = ']';
    run_init(&r, "");
    r.fail_writes_after = 3;
    assert_int_not_equal(rewrite(NULL, NULL, &r, doc, len, 4096, err, sizeof err), 0);
    assert_non_null(strstr(err, "could not be written"));
    free(r.out);
    free(doc);
}

static void test_ndjson(void **state)
{
    (void)state;
    struct fields fs;
    fields_make(&fs, SELS("$.a"));
    struct pg_rw_options opt = {.multiple_values = true};
    char *out = through(fs.set, &opt, "r", "{\"a\":1}\n{\"a\":2,\"b\":[1]}\n\n{\"b\":3}", NULL, 0);
    assert_string_equal(out, "{\"a\":\"<F0>\"}\n{\"a\":\"<F0>\",\"b\":[1]}\n{\"b\":3}\n");
    free(out);
    out = through(NULL, &opt, "", "1 \"x\" [true]", NULL, 0);
    assert_string_equal(out, "1\n\"x\"\n[true]\n");
    free(out);
    /* One document only, without the option. */
    struct run r;
    run_init(&r, "");
    assert_int_not_equal(rewrite(NULL, NULL, &r, "{} {}", 5, 0, NULL, 0), 0);
    free(r.out);
    fields_free(&fs);
}

/* 50 MiB of small objects in 16 KiB pieces: the rewriter's memory (its
 * own buffers and yajl's, all counted) stays under 1 MiB. */
struct counting {
    uint64_t bytes;
};

static int count_fn(void *arg, const char *data, size_t len)
{
    (void)data;
    ((struct counting *)arg)->bytes += len;
    return 0;
}

static enum pg_rw_action short_fn(void *arg, const struct pg_rw_value *v, struct pg_rw_token *tok)
{
    (void)arg, (void)v;
    tok->type = 's';
    tok->len = 3;
    memcpy(tok->data, "***", 3);
    return PG_RW_REPLACE;
}

static void test_flat_memory(void **state)
{
    (void)state;
    struct fields fs;
    fields_make(&fs, SELS("$[*].name", "$[*].id"));
    struct counting c = {0};
    struct pg_rw_options opt = {.scan_envelopes = true};
    struct pg_rewriter *rw = pg_rewriter_new(fs.set, &opt, short_fn, count_fn, &c);
    static const char item[] = "{\"name\":\"Jane Q. Doe\",\"id\":123456789,\"note\":\"a free text note\",\"x\":[1,2]},";
    char chunk[16384];
    size_t item_len = sizeof item - 1, total = 50u << 20, fed = 0;
    size_t per_chunk = sizeof chunk / item_len;
    assert_int_equal(pg_rewriter_feed(rw, "[", 1), 0);
    size_t items = 0;
    while (fed < total) {
        size_t n = 0;
        for (size_t i = 0; i < per_chunk; i++, n += item_len)
            memcpy(chunk + n, item, item_len);
        assert_int_equal(pg_rewriter_feed(rw, chunk, n), 0);
        fed += n;
        items += per_chunk;
    }
    assert_int_equal(pg_rewriter_feed(rw, "0]", 2), 0);
    assert_int_equal(pg_rewriter_finish(rw), 0);
    size_t peak = pg_rewriter_peak_bytes(rw);
    assert_true(peak < (1u << 20));
    assert_true(peak > 16384); /* the count is real: it holds the output buffer at least */
    /* Each item lost its name and id text to "***". */
    assert_int_equal(c.bytes, 1 + items * (item_len - strlen("Jane Q. Doe") + 3 - strlen("123456789") + 5) + 2);
    pg_rewriter_free(rw);
    fields_free(&fs);
}

/* A long value cut into many pieces: carried from piece to piece, it goes
 * out whole when kept, and is replaced whole when selected. */
static void test_long_values_across_pieces(void **state)
{
    (void)state;
    size_t n = 100000;
    char *doc = malloc(n + 64);
    assert_non_null(doc);
    size_t at = (size_t)sprintf(doc, "{\"keep\":\"");
    for (size_t i = 0; i < n / 2; i++)
        doc[at++] = (char)('a' + i % 26);
    at += (size_t)sprintf(doc + at, "\",\"a\":\"");
    for (size_t i = 0; i < n / 2; i++)
        doc[at++] = (char)('A' + i % 26);
    at += (size_t)sprintf(doc + at, "\"}");
    doc[at] = '\0';
    struct fields fs;
    fields_make(&fs, SELS("$.a"));
    struct pg_rw_options opt = {.scan_envelopes = true};
    struct run r;
    run_init(&r, "");
    struct pg_rewriter *rw = pg_rewriter_new(fs.set, &opt, short_fn, write_fn, &r);
    for (size_t i = 0; i < at; i += 4093)
        assert_int_equal(pg_rewriter_feed(rw, doc + i, at - i < 4093 ? at - i : 4093), 0);
    assert_int_equal(pg_rewriter_finish(rw), 0);
    pg_rewriter_free(rw);
    char *want = strdup(doc);
    assert_non_null(want);
    sprintf(strstr(want, "\"a\":\"") + 5, "***\"}");
    assert_string_equal(r.out, want);
    free(r.out);
    free(want);
    free(doc);
    fields_free(&fs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_selection),
        cmocka_unit_test(test_passthrough_keeps_meaning),
        cmocka_unit_test(test_removal),
        cmocka_unit_test(test_containers),
        cmocka_unit_test(test_stray_envelopes),
        cmocka_unit_test(test_numbers_keep_text),
        cmocka_unit_test(test_unicode),
        cmocka_unit_test(test_every_split_point),
        cmocka_unit_test(test_raw_removal),
        cmocka_unit_test(test_quiet_subtrees),
        cmocka_unit_test(test_invalid_json),
        cmocka_unit_test(test_too_deep),
        cmocka_unit_test(test_max_value_bytes),
        cmocka_unit_test(test_value_room),
        cmocka_unit_test(test_function_failure_and_bad_tokens),
        cmocka_unit_test(test_replacement_types),
        cmocka_unit_test(test_write_failure),
        cmocka_unit_test(test_ndjson),
        cmocka_unit_test(test_flat_memory),
        cmocka_unit_test(test_long_values_across_pieces),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
