/* The strict JSON scanner (policy/json_scan.c): the events it reports and
 * how strings come decoded, every class of fault it refuses (with the
 * byte it names), that a body cut at any point gives the same events, a
 * stream of documents, an event function that stops it, and that it
 * allocates only for what a piece's end cuts or an escape changes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/json_scan.h"

/* ---- the events as text: "{ Ka S\"x\" N1 Btrue ~ ] }" ---- */

struct log {
    char text[8192];
    size_t len;
    int stop_after; /* >0: the event function stops at that event */
    int events;
};

static void add(struct log *l, const char *s, size_t n)
{
    assert_true(l->len + n < sizeof l->text);
    memcpy(l->text + l->len, s, n);
    l->len += n;
    l->text[l->len] = '\0';
}

static int on_event(void *arg, enum pg_json_event ev, const char *d, size_t n)
{
    struct log *l = arg;
    assert_non_null(d);
    if (l->len)
        add(l, " ", 1);
    switch (ev) {
    case PG_JSON_NULL: add(l, "~", 1); break;
    case PG_JSON_BOOL: add(l, "B", 1), add(l, d, n); break;
    case PG_JSON_NUMBER: add(l, "N", 1), add(l, d, n); break;
    case PG_JSON_STRING: add(l, "S\"", 2), add(l, d, n), add(l, "\"", 1); break;
    case PG_JSON_KEY: add(l, "K", 1), add(l, d, n); break;
    case PG_JSON_OBJECT_START: add(l, "{", 1); break;
    case PG_JSON_OBJECT_END: add(l, "}", 1); break;
    case PG_JSON_ARRAY_START: add(l, "[", 1); break;
    case PG_JSON_ARRAY_END: add(l, "]", 1); break;
    }
    return !(l->stop_after && ++l->events == l->stop_after);
}

static int length_of(void *arg, enum pg_json_event ev, const char *d, size_t n)
{
    (void)d;
    if (ev == PG_JSON_STRING)
        *(size_t *)arg = n;
    return 1;
}

struct counting {
    int blocks, live;
    bool fail;
};

static void *count_malloc(void *ctx, size_t n)
{
    struct counting *c = ctx;
    if (c->fail)
        return NULL;
    c->blocks++;
    c->live++;
    return malloc(n);
}

static void count_free(void *ctx, void *p)
{
    struct counting *c = ctx;
    c->live--;
    free(p);
}

/* Scans doc cut after each byte in cuts (ascending, 0 ends the list). The
 * fault, with *offset the fault's byte counted from the start of the body
 * (1-based: just past it). */
static enum pg_json_fault scan_cut(const char *doc, size_t len, bool multiple, const size_t *cuts, struct log *l,
                                   struct counting *c, uint64_t *offset)
{
    struct pg_json_scan s;
    struct pg_json_scan_options opt = {.multiple_values = multiple};
    struct pg_json_alloc alloc = {.malloc = count_malloc, .free = count_free, .ctx = c};
    pg_json_scan_init(&s, &opt, on_event, l, &alloc);
    size_t at = 0;
    enum pg_json_status st = PG_JSON_OK;
    for (size_t k = 0; st == PG_JSON_OK && at < len; k++) {
        size_t to = cuts && cuts[k] && cuts[k] < len ? cuts[k] : len;
        st = pg_json_scan_feed(&s, doc + at, to - at);
        if (st != PG_JSON_OK)
            *offset = at + pg_json_scan_offset(&s);
        at = to;
    }
    if (st == PG_JSON_OK) {
        st = pg_json_scan_finish(&s);
        *offset = len;
    }
    enum pg_json_fault f = pg_json_scan_fault(&s);
    assert_int_equal(st == PG_JSON_OK, f == PG_JSON_FAULT_NONE);
    if (f == PG_JSON_FAULT_NONE)
        assert_string_equal(pg_json_scan_error(&s), "no error");
    pg_json_scan_release(&s);
    assert_int_equal(c->live, 0);
    return f;
}

static enum pg_json_fault scan(const char *doc, size_t len, bool multiple, struct log *l)
{
    struct counting c = {0};
    uint64_t off;
    return scan_cut(doc, len, multiple, NULL, l, &c, &off);
}

static void check_events(const char *doc, bool multiple, const char *want)
{
    struct log l = {0};
    assert_int_equal(scan(doc, strlen(doc), multiple, &l), PG_JSON_FAULT_NONE);
    assert_string_equal(l.text, want);
}

static void test_events(void **state)
{
    (void)state;
    check_events("{\"a\": [1, -0.5e+3, true, false, null, \"x y\"], \"b\": {}, \"c\": []}",
                 false, "{ Ka [ N1 N-0.5e+3 Btrue Bfalse ~ S\"x y\" ] Kb { } Kc [ ] }");
    check_events(" \t\r\n 0 \n", false, "N0");
    check_events("\"\"", false, "S\"\"");
    check_events("[0,10,1.0,0e0,1E-2,123456789012345678901234567890]", false,
                 "[ N0 N10 N1.0 N0e0 N1E-2 N123456789012345678901234567890 ]");
    /* Strings come decoded: escapes, a surrogate pair, U+0000. */
    check_events("[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\", \"\\u00e9\\u20AC\", \"\\ud83d\\ude00\"]", false,
                 "[ S\"\"\\/\b\f\n\r\t\" S\"\xc3\xa9\xe2\x82\xac\" S\"\xf0\x9f\x98\x80\" ]");
    struct log l = {0};
    assert_int_equal(scan("\"a\\u0000b\"", 10, false, &l), PG_JSON_FAULT_NONE);
    assert_int_equal(l.len, 6);
    assert_memory_equal(l.text, "S\"a\0b\"", 6);
    /* UTF-8 at the edges of what is well formed. */
    check_events("\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\x7f\"", false,
                 "S\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\x7f\"");
}

struct bad {
    const char *doc;
    enum pg_json_fault fault;
};

static void test_every_fault_class(void **state)
{
    (void)state;
    static const struct bad bad[] = {
        {"{,}", PG_JSON_FAULT_SYNTAX},
        {"[1 2]", PG_JSON_FAULT_SYNTAX},
        {"{\"a\" 1}", PG_JSON_FAULT_SYNTAX},
        {"[1,]", PG_JSON_FAULT_SYNTAX},
        {"{\"a\":1,}", PG_JSON_FAULT_SYNTAX},
        {"{\"a\":1]", PG_JSON_FAULT_SYNTAX},
        {"[1}", PG_JSON_FAULT_SYNTAX},
        {"{1:2}", PG_JSON_FAULT_SYNTAX},
        {"\v1", PG_JSON_FAULT_SYNTAX},
        {"[\f]", PG_JSON_FAULT_SYNTAX},
        {"+1", PG_JSON_FAULT_SYNTAX},
        {".5", PG_JSON_FAULT_SYNTAX},
        {"/* c */ 1", PG_JSON_FAULT_SYNTAX},
        {"'a'", PG_JSON_FAULT_SYNTAX},
        {"\"a\x01\"", PG_JSON_FAULT_STRING},
        {"\"a\tb\"", PG_JSON_FAULT_STRING},
        {"\"\\x\"", PG_JSON_FAULT_STRING},
        {"\"\\u12g4\"", PG_JSON_FAULT_STRING},
        {"\"\\U0041\"", PG_JSON_FAULT_STRING},
        {"\"\\ud800\"", PG_JSON_FAULT_SURROGATE},
        {"\"\\udc00\"", PG_JSON_FAULT_SURROGATE},
        {"\"\\ud800\\u0041\"", PG_JSON_FAULT_SURROGATE},
        {"\"\\ud800\\ud800\"", PG_JSON_FAULT_SURROGATE},
        {"\"\\ud800x\"", PG_JSON_FAULT_SURROGATE},
        {"\"\\ud800\\n\"", PG_JSON_FAULT_SURROGATE},
        {"\"\xc0\x80\"", PG_JSON_FAULT_UTF8},         /* overlong NUL */
        {"\"\xc1\xbf\"", PG_JSON_FAULT_UTF8},         /* overlong */
        {"\"\xe0\x80\x80\"", PG_JSON_FAULT_UTF8},     /* overlong, three bytes */
        {"\"\xf0\x80\x80\x80\"", PG_JSON_FAULT_UTF8}, /* overlong, four bytes */
        {"\"\xed\xa0\x80\"", PG_JSON_FAULT_UTF8},     /* a surrogate */
        {"\"\xf4\x90\x80\x80\"", PG_JSON_FAULT_UTF8}, /* above U+10FFFF */
        {"\"\xf5\x80\x80\x80\"", PG_JSON_FAULT_UTF8},
        {"\"\xff\"", PG_JSON_FAULT_UTF8},
        {"\"\x80\"", PG_JSON_FAULT_UTF8},   /* a continuation byte alone */
        {"\"\xc3\"", PG_JSON_FAULT_UTF8},   /* a lead byte alone */
        {"\"\xe2\x82\"", PG_JSON_FAULT_UTF8},
        {"-x", PG_JSON_FAULT_NUMBER},
        {"1.", PG_JSON_FAULT_INCOMPLETE}, /* the body ends where a digit is due */
        {"[1.]", PG_JSON_FAULT_NUMBER},
        {"1.e1", PG_JSON_FAULT_NUMBER},
        {"[1e]", PG_JSON_FAULT_NUMBER},
        {"[1e+]", PG_JSON_FAULT_NUMBER},
        {"[-]", PG_JSON_FAULT_NUMBER},
        {"tru", PG_JSON_FAULT_INCOMPLETE},
        {"[tru]", PG_JSON_FAULT_LITERAL},
        {"nul1", PG_JSON_FAULT_LITERAL},
        {"True", PG_JSON_FAULT_SYNTAX},
        {"fals e", PG_JSON_FAULT_LITERAL},
        {"1 2", PG_JSON_FAULT_TRAILING},
        {"{} x", PG_JSON_FAULT_TRAILING},
        {"[]]", PG_JSON_FAULT_TRAILING},
        {"01", PG_JSON_FAULT_TRAILING},
        {"", PG_JSON_FAULT_INCOMPLETE},
        {"   ", PG_JSON_FAULT_INCOMPLETE},
        {"[1", PG_JSON_FAULT_INCOMPLETE},
        {"[1,", PG_JSON_FAULT_INCOMPLETE},
        {"\"abc", PG_JSON_FAULT_INCOMPLETE},
        {"{\"a\":", PG_JSON_FAULT_INCOMPLETE},
        {"-", PG_JSON_FAULT_INCOMPLETE},
        {"\"\\u00", PG_JSON_FAULT_INCOMPLETE},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct log l = {0};
        enum pg_json_fault f = scan(bad[i].doc, strlen(bad[i].doc), false, &l);
        if (f != bad[i].fault)
            fail_msg("document %zu: fault %d, not %d", i, f, bad[i].fault);
    }
    /* Too deep: the limit is the options', or PG_JSON_DEPTH_MAX. */
    char deep[2 * PG_JSON_DEPTH_MAX + 2];
    memset(deep, '[', PG_JSON_DEPTH_MAX + 1);
    struct log l = {0};
    assert_int_equal(scan(deep, PG_JSON_DEPTH_MAX + 1, false, &l), PG_JSON_FAULT_DEPTH);
    memset(deep + PG_JSON_DEPTH_MAX, ']', PG_JSON_DEPTH_MAX);
    struct pg_json_scan s;
    struct pg_json_scan_options opt = {.max_depth = 3};
    struct log quiet = {0};
    pg_json_scan_init(&s, &opt, on_event, &quiet, NULL);
    assert_int_equal(pg_json_scan_feed(&s, "[[[]]]", 6), PG_JSON_OK);
    assert_int_equal(pg_json_scan_finish(&s), PG_JSON_OK);
    pg_json_scan_init(&s, &opt, on_event, &quiet, NULL);
    assert_int_equal(pg_json_scan_feed(&s, "[[{\"a\":[]}]]", 12), PG_JSON_ERROR);
    assert_int_equal(pg_json_scan_fault(&s), PG_JSON_FAULT_DEPTH);
    assert_int_equal(pg_json_scan_offset(&s), 8); /* just past the fourth '[' */
    assert_non_null(strstr(pg_json_scan_error(&s), "too deeply"));
    pg_json_scan_release(&s);
    /* Out of memory, where a token needs the buffer. */
    struct counting c = {.fail = true};
    uint64_t off;
    struct log m = {0};
    assert_int_equal(scan_cut("[\"a\\nb\"]", 8, false, NULL, &m, &c, &off), PG_JSON_FAULT_MEMORY);
}

/* The byte a fault names, and that its message is fixed text. */
static void test_fault_offsets(void **state)
{
    (void)state;
    static const struct {
        const char *doc;
        uint64_t offset;
    } at[] = {
        {"{\"b\":[1,2,}", 11}, {"[1 2]", 4}, {"\"SECRET\x01\"", 8}, {"[\"\\q\"]", 4}, {"[tru]", 5},
        {"1 2", 3},            {"[-x]", 3},  {"\"\xc0\x80\"", 2},   {"[1", 2},
    };
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        struct log l = {0};
        struct counting c = {0};
        uint64_t off = 0;
        size_t len = strlen(at[i].doc);
        assert_int_not_equal(scan_cut(at[i].doc, len, false, NULL, &l, &c, &off), PG_JSON_FAULT_NONE);
        if (off != at[i].offset)
            fail_msg("document %zu: offset %llu, not %llu", i, (unsigned long long)off,
                     (unsigned long long)at[i].offset);
        /* The same byte however the body is cut. */
        for (size_t cut = 1; cut < len; cut++) {
            size_t cuts[] = {cut, 0};
            struct log l2 = {0};
            uint64_t off2 = 0;
            scan_cut(at[i].doc, len, false, cuts, &l2, &c, &off2);
            assert_int_equal(off2, off);
        }
    }
    struct pg_json_scan s;
    struct log l = {0};
    pg_json_scan_init(&s, NULL, on_event, &l, NULL);
    assert_int_equal(pg_json_scan_feed(&s, "{\"SECRET\":QZQ}", 14), PG_JSON_ERROR);
    assert_null(strstr(pg_json_scan_error(&s), "SECRET"));
    assert_null(strstr(pg_json_scan_error(&s), "QZQ"));
    /* Refused once, refused for good. */
    assert_int_equal(pg_json_scan_feed(&s, "1", 1), PG_JSON_ERROR);
    assert_int_equal(pg_json_scan_finish(&s), PG_JSON_ERROR);
    pg_json_scan_release(&s);
}

/* A document with one of everything, cut at every point and at every
 * pair of points: the events are those of the whole. */
static void test_every_split_point(void **state)
{
    (void)state;
    static const char doc[] =
        "{\"resourceType\": \"Patient\", \"n\": [0, -12.5e+3, 7E2, 1.0],\n"
        "  \"t\": true, \"f\": false, \"z\": null, \"k\\u00e9y\": \"a\\\"b\\\\c\\/\\n\",\n"
        "  \"emoji\": \"\\ud83d\\ude00 \xf0\x9f\x98\x80 \xc3\xa9\", \"long\": \"abcdefghijklmnopqrstuvwxyz0123456789\",\n"
        "  \"deep\": [[{\"a\": []}], {}]}";
    size_t len = sizeof doc - 1;
    struct log whole = {0};
    assert_int_equal(scan(doc, len, false, &whole), PG_JSON_FAULT_NONE);
    for (size_t i = 1; i < len; i++) {
        for (size_t j = i; j < len; j += (j < i + 8 ? 1 : 7)) {
            size_t cuts[] = {i, j > i ? j : 0, 0};
            struct log l = {0};
            struct counting c = {0};
            uint64_t off;
            assert_int_equal(scan_cut(doc, len, false, cuts, &l, &c, &off), PG_JSON_FAULT_NONE);
            if (strcmp(l.text, whole.text) != 0)
                fail_msg("cut at %zu and %zu: %s", i, j, l.text);
        }
    }
    /* One byte at a time. */
    size_t every[sizeof doc];
    for (size_t i = 0; i < len; i++)
        every[i] = i + 1;
    every[len - 1] = 0;
    struct log l = {0};
    struct counting c = {0};
    uint64_t off;
    assert_int_equal(scan_cut(doc, len, false, every, &l, &c, &off), PG_JSON_FAULT_NONE);
    assert_string_equal(l.text, whole.text);
}

static void test_multiple_values(void **state)
{
    (void)state;
    check_events("{\"a\":1}\n[true]\n\"x\" 12 -0.5", true, "{ Ka N1 } [ Btrue ] S\"x\" N12 N-0.5");
    /* Nothing is needed between documents but what keeps two numbers apart
     * (as yajl reads a stream). */
    check_events("01", true, "N0 N1");
    check_events("truefalse[]{}\"a\"\"b\"", true, "Btrue Bfalse [ ] { } S\"a\" S\"b\"");
    struct log l = {0};
    assert_int_equal(scan("  \n", 3, true, &l), PG_JSON_FAULT_INCOMPLETE);
    assert_int_equal(scan("1 ]", 3, true, &l), PG_JSON_FAULT_SYNTAX);
}

/* A number ends at the byte after it; the last one when the body ends. */
static void test_number_ends(void **state)
{
    (void)state;
    struct pg_json_scan s;
    struct log l = {0};
    pg_json_scan_init(&s, NULL, on_event, &l, NULL);
    assert_int_equal(pg_json_scan_feed(&s, "12", 2), PG_JSON_OK);
    assert_int_equal(l.len, 0);
    assert_int_equal(pg_json_scan_feed(&s, "34", 2), PG_JSON_OK);
    assert_int_equal(l.len, 0);
    assert_int_equal(pg_json_scan_finish(&s), PG_JSON_OK);
    assert_string_equal(l.text, "N1234");
    pg_json_scan_release(&s);
}

static void test_stop(void **state)
{
    (void)state;
    struct pg_json_scan s;
    struct log l = {.stop_after = 3};
    pg_json_scan_init(&s, NULL, on_event, &l, NULL);
    assert_int_equal(pg_json_scan_feed(&s, "[1, 2, 3, 4]", 12), PG_JSON_STOPPED);
    assert_string_equal(l.text, "[ N1 N2");
    assert_int_equal(pg_json_scan_offset(&s), 5); /* just past the 2 */
    assert_int_equal(pg_json_scan_fault(&s), PG_JSON_FAULT_NONE);
    assert_int_equal(pg_json_scan_feed(&s, "]", 1), PG_JSON_STOPPED);
    assert_int_equal(pg_json_scan_finish(&s), PG_JSON_STOPPED);
    pg_json_scan_release(&s);
}

/* Tokens inside one piece without escapes are reported from the piece: no
 * allocation. A cut token or an escape takes the one buffer. */
static void test_allocates_only_when_needed(void **state)
{
    (void)state;
    static const char doc[] = "{\"a\": [\"plain string\", 123, true], \"b\": \"more\"}";
    struct log l = {0};
    struct counting c = {0};
    uint64_t off;
    assert_int_equal(scan_cut(doc, sizeof doc - 1, false, NULL, &l, &c, &off), PG_JSON_FAULT_NONE);
    assert_int_equal(c.blocks, 0);
    size_t cuts[] = {12, 0}; /* inside "plain string" */
    struct log l2 = {0};
    assert_int_equal(scan_cut(doc, sizeof doc - 1, false, cuts, &l2, &c, &off), PG_JSON_FAULT_NONE);
    assert_int_equal(c.blocks, 1);
    assert_string_equal(l.text, l2.text);
    struct counting e = {0};
    struct log l3 = {0};
    assert_int_equal(scan_cut("[\"a\\nb\", \"c\\td\"]", 16, false, NULL, &l3, &e, &off), PG_JSON_FAULT_NONE);
    assert_int_equal(e.blocks, 1); /* the buffer is reused */
    /* A long string across many pieces: the buffer grows geometrically. */
    static char big[20002];
    big[0] = '"';
    memset(big + 1, 'x', sizeof big - 2);
    big[sizeof big - 1] = '"';
    struct counting g = {0};
    struct pg_json_alloc alloc = {.malloc = count_malloc, .free = count_free, .ctx = &g};
    struct pg_json_scan s;
    size_t got = 0;
    pg_json_scan_init(&s, NULL, length_of, &got, &alloc);
    for (size_t at = 0; at < sizeof big; at += 100)
        assert_int_equal(pg_json_scan_feed(&s, big + at, sizeof big - at < 100 ? sizeof big - at : 100), PG_JSON_OK);
    assert_int_equal(pg_json_scan_finish(&s), PG_JSON_OK);
    assert_int_equal(got, sizeof big - 2);
    assert_true(g.blocks <= 8);
    pg_json_scan_release(&s);
    assert_int_equal(g.live, 0);
}

/* Quiet: an event function that goes quiet at the first object it is
 * told of, and records where the scan stands whenever it is woken. */
struct quiet_log {
    struct log l;
    struct pg_json_scan *s;
    bool went_quiet, woken;
    struct pg_json_scan_place at_wake;
};

static int quiet_event(void *arg, enum pg_json_event ev, const char *d, size_t n)
{
    struct quiet_log *q = arg;
    if (q->went_quiet && !q->woken) { /* the first event told after going quiet woke it */
        q->woken = true;
        pg_json_scan_place(q->s, &q->at_wake);
    }
    on_event(&q->l, ev, d, n);
    if (ev == PG_JSON_OBJECT_START && !q->went_quiet) {
        q->went_quiet = true;
        pg_json_scan_quiet(q->s, "phi:", 4, 5);
    }
    return 1;
}

static void test_quiet(void **state)
{
    (void)state;
    struct pg_json_scan s;
    struct quiet_log q = {.s = &s};
    pg_json_scan_init(&s, NULL, quiet_event, &q, NULL);
    /* Names, numbers, literals, nested containers and other strings go
     * unreported; the close of the quiet object ends it. */
    static const char doc[] = "[{\"a\": [1, true, null, {\"b\": \"x\"}], \"c\": \"y\"}, 2]";
    assert_int_equal(pg_json_scan_feed(&s, doc, sizeof doc - 1), PG_JSON_OK);
    assert_int_equal(pg_json_scan_finish(&s), PG_JSON_OK);
    assert_string_equal(q.l.text, "[ { } N2 ]");
    /* A string with the prefix wakes it, reported with where it stands:
     * inside the object's member "k", whose name ended at byte 15. */
    struct quiet_log w = {.s = &s};
    pg_json_scan_init(&s, NULL, quiet_event, &w, NULL);
    static const char doc2[] = "[{\"a\": [1], \"k\": \"phi:x\", \"z\": 3}]";
    assert_int_equal(pg_json_scan_feed(&s, doc2, sizeof doc2 - 1), PG_JSON_OK);
    assert_int_equal(pg_json_scan_finish(&s), PG_JSON_OK);
    assert_string_equal(w.l.text, "[ { S\"phi:x\" Kz N3 } ]");
    assert_int_equal(w.at_wake.depth, 2);
    assert_true(w.at_wake.name_read);
    assert_false(w.at_wake.element_done);
    assert_int_equal(w.at_wake.member_from, 10); /* just past "[1]" */
    assert_int_equal(w.at_wake.name_end, 15);
    assert_int_equal(w.at_wake.last_end, 15); /* the token before the string */
    assert_true(pg_json_scan_level_has_prior(&s, 1) == false);
    /* A name over max_name wakes it too. */
    struct quiet_log n = {.s = &s};
    pg_json_scan_init(&s, NULL, quiet_event, &n, NULL);
    static const char doc3[] = "{\"a\": 1, \"longer\": 2}";
    assert_int_equal(pg_json_scan_feed(&s, doc3, sizeof doc3 - 1), PG_JSON_OK);
    assert_int_equal(pg_json_scan_finish(&s), PG_JSON_OK);
    assert_string_equal(n.l.text, "{ Klonger N2 }");
    assert_true(n.at_wake.name_read);
    assert_int_equal(n.at_wake.member_from, 7); /* just past the 1 */
    /* Where it stands between pieces, asked directly: after a done element,
     * with one before it, in an array inside the object. */
    struct quiet_log p = {.s = &s};
    pg_json_scan_init(&s, NULL, quiet_event, &p, NULL);
    assert_int_equal(pg_json_scan_feed(&s, "{\"a\": [1, 2 ", 12), PG_JSON_OK);
    struct pg_json_scan_place pl;
    pg_json_scan_place(&s, &pl);
    assert_int_equal(pl.depth, 2);
    assert_true(pl.element_done);
    assert_false(pl.name_read);
    assert_int_equal(pl.last_end, 11);
    assert_true(pg_json_scan_level_is_array(&s, 2));
    assert_false(pg_json_scan_level_is_array(&s, 1));
    assert_true(pg_json_scan_level_has_prior(&s, 2));
    assert_false(pg_json_scan_level_has_prior(&s, 1));
    pg_json_scan_loud(&s);
    assert_int_equal(pg_json_scan_feed(&s, "]}", 2), PG_JSON_OK);
    assert_int_equal(pg_json_scan_finish(&s), PG_JSON_OK);
    assert_string_equal(p.l.text, "{ ] }");
}

/* Quiet, a string with escapes costs no more buffer than its prefix needs
 * unless it has the prefix: then it is reported whole, decoded, even cut
 * between pieces. */
static void test_quiet_skims(void **state)
{
    (void)state;
    static char doc[6000];
    size_t n = (size_t)snprintf(doc, sizeof doc, "[{\"note\": \"\\\"");
    memset(doc + n, 'x', 5000);
    n += 5000;
    n += (size_t)snprintf(doc + n, sizeof doc - n, "\\n\", \"k\": \"ph\\u0069:x\\ty\"}]");
    struct counting g = {0};
    struct pg_json_alloc alloc = {.malloc = count_malloc, .free = count_free, .ctx = &g};
    for (size_t cut = 0; cut < n; cut += cut < 30 ? 1 : 997) {
        struct pg_json_scan s;
        struct quiet_log q = {.s = &s};
        pg_json_scan_init(&s, NULL, quiet_event, &q, &alloc);
        g.blocks = 0;
        assert_int_equal(pg_json_scan_feed(&s, doc, cut), PG_JSON_OK);
        assert_int_equal(pg_json_scan_feed(&s, doc + cut, n - cut), PG_JSON_OK);
        assert_int_equal(pg_json_scan_finish(&s), PG_JSON_OK);
        assert_string_equal(q.l.text, "[ { S\"phi:x\ty\" } ]");
        assert_true(g.blocks <= 2); /* never the 5000 bytes' growth */
        pg_json_scan_release(&s);
        assert_int_equal(g.live, 0);
    }
}

static void test_utf8_valid(void **state)
{
    (void)state;
    assert_true(pg_json_utf8_valid("", 0));
    assert_true(pg_json_utf8_valid("plain", 5));
    assert_true(pg_json_utf8_valid("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf", 13));
    assert_false(pg_json_utf8_valid("\xc0\x80", 2));
    assert_false(pg_json_utf8_valid("\xed\xa0\x80", 3));
    assert_false(pg_json_utf8_valid("\xf4\x90\x80\x80", 4));
    assert_false(pg_json_utf8_valid("\xe2\x82", 2));
    assert_false(pg_json_utf8_valid("\x80", 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_every_fault_class),
        cmocka_unit_test(test_fault_offsets),
        cmocka_unit_test(test_every_split_point),
        cmocka_unit_test(test_multiple_values),
        cmocka_unit_test(test_number_ends),
        cmocka_unit_test(test_stop),
        cmocka_unit_test(test_allocates_only_when_needed),
        cmocka_unit_test(test_quiet),
        cmocka_unit_test(test_quiet_skims),
        cmocka_unit_test(test_utf8_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
