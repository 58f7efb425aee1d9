/* The way out (reveal.c): tokens opened for readers, masked for others;
 * tokens that do not open and stray envelopes masked for all; clear
 * identifiers masked for non-readers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config_fixture.h"
#include "fake_seal.h"
#include "redact.h"
#include "reveal.h"
#include "token.h"

static const char NOTE[] = "Pt called from (555) 810-7203 re SSN 123-45-6789; copy to jo@example.com. \xc3\xa9t\xc3\xa9 MRN: 1234567";
static const char *FIELD = "Observation.note.text";

static size_t sealed(const struct pd_config *c, const char *text, char *buf, size_t cap)
{
    struct pd_out o;
    pd_out_init(&o, buf, cap);
    assert_int_equal(pd_redact(c, FIELD, fake_seal, NULL, text, strlen(text), &o, NULL), PD_REDACT_OK);
    buf[o.len] = 0;
    return o.len;
}

static const char *revealed(const struct pd_config *c, const char *field, bool reader, const char *text,
                            struct pd_reveal_counts *n)
{
    static char out[4096];
    struct pd_out o;
    pd_out_init(&o, out, sizeof out - 1);
    assert_true(pd_reveal(c, field, reader, fake_open, NULL, text, strlen(text), &o, n));
    out[o.len] = 0;
    return out;
}

static void test_reader_gets_the_text_back(void **state)
{
    (void)state;
    struct pd_config c = config_of(NOTE_CONFIG);
    char stored[4096];
    sealed(&c, NOTE, stored, sizeof stored);
    struct pd_reveal_counts n = {0};
    assert_string_equal(revealed(&c, FIELD, true, stored, &n), NOTE);
    assert_int_equal(n.opened, 4);
    assert_int_equal(n.failed + n.stray + n.masked, 0);
    pd_config_free(&c);
}

static void test_others_get_masks(void **state)
{
    (void)state;
    fake_reset();
    struct pd_config c = config_of(NOTE_CONFIG);
    char stored[4096];
    sealed(&c, NOTE, stored, sizeof stored);
    struct pd_reveal_counts n = {0};
    assert_string_equal(revealed(&c, FIELD, false, stored, &n),
                        "Pt called from ***-***-7203 re SSN ***-**-6789; copy to ***. \xc3\xa9t\xc3\xa9 MRN: ***");
    assert_int_equal(n.masked, 4);
    /* Masked whole (stars): not even opened. Last-4 kinds are. */
    assert_int_equal(fake_opens, 2);
    pd_config_free(&c);
}

static void test_clear_identifiers_masked_for_others(void **state)
{
    (void)state;
    struct pd_config c = config_of(NOTE_CONFIG);
    struct pd_reveal_counts n = {0};
    assert_string_equal(revealed(&c, FIELD, false, "old note: SSN 123-45-6789", &n), "old note: SSN ***-**-6789");
    assert_int_equal(n.masked, 1);
    memset(&n, 0, sizeof n);
    assert_string_equal(revealed(&c, FIELD, true, "old note: SSN 123-45-6789", &n), "old note: SSN 123-45-6789");
    pd_config_free(&c);
}

static void test_moved_and_tampered_tokens_are_masked(void **state)
{
    (void)state;
    struct pd_config c = config_of(NOTE_CONFIG);
    char stored[4096];
    size_t len = sealed(&c, "SSN 123-45-6789 ok", stored, sizeof stored);
    struct pd_reveal_counts n = {0};
    /* Another field: does not open. */
    assert_string_equal(revealed(&c, "DiagnosticReport.conclusion", true, stored, &n), "SSN *** ok");
    assert_int_equal(n.failed, 1);
    /* Relabelled as another kind: does not open. */
    char relabelled[4096];
    snprintf(relabelled, sizeof relabelled, "SSN [mrn:%s", strchr(stored, ':') + 1);
    memset(&n, 0, sizeof n);
    assert_string_equal(revealed(&c, FIELD, true, relabelled, &n), "SSN *** ok");
    assert_int_equal(n.failed, 1);
    /* A changed byte: does not open (the fake checks less than GCM's tag,
     * so the byte is one it refuses; the core's tests cover the real
     * cipher). */
    stored[len - 5] = 'z';
    memset(&n, 0, sizeof n);
    assert_string_equal(revealed(&c, FIELD, true, stored, &n), "SSN *** ok");
    assert_int_equal(n.failed, 1);
    pd_config_free(&c);
}

static void test_stray_envelopes(void **state)
{
    (void)state;
    struct pd_config c = config_of(NOTE_CONFIG);
    struct pd_reveal_counts n = {0};
    assert_string_equal(revealed(&c, FIELD, true, "a phi:v1:k1:r:QUJD b", &n), "a *** b");
    assert_string_equal(revealed(&c, FIELD, true, "a [ssn:phi:v1:k1:r:QUJD b", &n), "a *** b");
    assert_string_equal(revealed(&c, FIELD, true, "a [fax:phi:v1:k1:r:QUJD] b", &n), "a [fax:***] b");
    assert_string_equal(revealed(&c, FIELD, true, "a [ssn:phi:v1:] b", &n), "a *** b");
    assert_string_equal(revealed(&c, FIELD, true, "phi:v1:", &n), "***");
    assert_int_equal(n.stray, 5);
    assert_int_equal(n.opened + n.failed, 0);
    pd_config_free(&c);
}

static void test_adjacent_text_stays(void **state)
{
    (void)state;
    struct pd_config c = config_of(NOTE_CONFIG);
    /* Text that continues in the envelope's own alphabet right after a
     * match: the bracket keeps the two apart. */
    const char *t = "123-45-6789--see-also:AbC_9 and jo@example.com:x";
    char stored[4096];
    sealed(&c, t, stored, sizeof stored);
    struct pd_reveal_counts n = {0};
    assert_string_equal(revealed(&c, FIELD, true, stored, &n), t);
    assert_int_equal(n.opened, 2);
    pd_config_free(&c);
}

/* Random texts of the pieces identifiers and tokens are made of: what is
 * sealed comes back whole to a reader, and nothing ever reads or writes
 * past a buffer (ASan in the sanitizer build). A fixed seed: the same
 * texts every run. */
static void test_random_texts(void **state)
{
    (void)state;
    static const char *const pieces[] = {"1", "23", "456", "7890", "-", ".", " ", "(", ")", "+1", "@", "a", "Zq", "_",
                                         "%", "example", ".com", "MRN", ":", "#", "[", "]", "ssn:", "\xc3\xa9",
                                         "\xe2\x80\x94", "phi:v1:", "k1:r:", "\n", "123-45-6789", "234567890", "555-810-7203",
                                         "(555) 810-7203", "+1 555 810 7203", "jo@example.com", "MRN 1234567"};
    struct pd_config c = config_of(NOTE_CONFIG);
    c.patterns.ssn_bare_digits = true;
    fake_reset();
    unsigned seed = 12345;
    char text[256], stored[8192], shown[8192];
    for (int round = 0; round < 3000; round++) {
        size_t len = 0;
        int n = (int)((seed = seed * 1103515245u + 12345u) >> 16) % 40;
        for (int i = 0; i < n; i++) {
            const char *p = pieces[((seed = seed * 1103515245u + 12345u) >> 16) % (sizeof pieces / sizeof *pieces)];
            if (len + strlen(p) >= sizeof text)
                break;
            memcpy(text + len, p, strlen(p));
            len += strlen(p);
        }
        struct pd_out o;
        struct pd_reveal_counts counts = {0};
        if (!pd_token_any(text, len)) {
            pd_out_init(&o, stored, sizeof stored);
            assert_int_equal(pd_redact(&c, FIELD, fake_seal, NULL, text, len, &o, NULL), PD_REDACT_OK);
            size_t stored_len = o.len;
            pd_out_init(&o, shown, sizeof shown);
            assert_true(pd_reveal(&c, FIELD, true, fake_open, NULL, stored, stored_len, &o, &counts));
            assert_int_equal(o.len, len);
            assert_memory_equal(shown, text, len);
            assert_int_equal(counts.failed + counts.stray, 0);
        }
        /* Whatever the text, a reveal into exactly its own length or less
         * stays inside the buffer. */
        char *exact = test_malloc(len + 1);
        memcpy(exact, text, len);
        for (size_t cap = 0; cap <= len; cap += 7) {
            char *out = test_malloc(cap + 1);
            pd_out_init(&o, out, cap);
            pd_reveal(&c, FIELD, round % 2, fake_open, NULL, exact, len, &o, &counts);
            assert_true(o.len <= cap);
            test_free(out);
        }
        test_free(exact);
    }
    assert_true(fake_seals > 300); /* the texts did hold identifiers */
    pd_config_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reader_gets_the_text_back),
        cmocka_unit_test(test_others_get_masks),
        cmocka_unit_test(test_clear_identifiers_masked_for_others),
        cmocka_unit_test(test_moved_and_tampered_tokens_are_masked),
        cmocka_unit_test(test_stray_envelopes),
        cmocka_unit_test(test_adjacent_text_stays),
        cmocka_unit_test(test_random_texts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
