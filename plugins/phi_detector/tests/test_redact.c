/* The way in (redact.c): matches become tokens bound to field#kind, or
 * masks; the rest is copied; the output's bound is kept. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config_fixture.h"
#include "fake_seal.h"
#include "redact.h"
#include "token.h"

static const char NOTE[] = "Pt called from (555) 810-7203 re SSN 123-45-6789; copy to jo@example.com. \xc3\xa9t\xc3\xa9 MRN: 1234567";

static void test_encrypt_replaces_each_match_by_a_token(void **state)
{
    (void)state;
    fake_reset();
    struct pd_config c = config_of(NOTE_CONFIG);
    char buf[4096];
    struct pd_out o;
    pd_out_init(&o, buf, sizeof buf);
    struct pd_counts n = {0};
    assert_int_equal(pd_redact(&c, "Observation.note.text", fake_seal, NULL, NOTE, strlen(NOTE), &o, &n), PD_REDACT_OK);
    assert_int_equal(fake_seals, 4);
    assert_int_equal(n.n[PD_SSN] + n.n[PD_MRN] + n.n[PD_PHONE] + n.n[PD_EMAIL], 4);
    buf[o.len] = 0;
    /* Nothing of a match is left in clear; the text around it is. */
    assert_null(strstr(buf, "810-7203"));
    assert_null(strstr(buf, "6789"));
    assert_null(strstr(buf, "jo@example"));
    assert_null(strstr(buf, "1234567"));
    assert_non_null(strstr(buf, "Pt called from [phone:phi:v1:t1:r:"));
    assert_non_null(strstr(buf, "] re SSN [ssn:phi:v1:"));
    assert_non_null(strstr(buf, "]. \xc3\xa9t\xc3\xa9 MRN: [mrn:phi:v1:"));
    /* Each token opens under its field's name and its kind, nowhere else. */
    struct pd_token t;
    assert_true(pd_token_next(buf, o.len, 0, &t));
    assert_int_equal(t.kind, PD_PHONE);
    char plain[64];
    long m = fake_open(NULL, "Observation.note.text#phone", buf + t.env_start, t.env_end - t.env_start, plain, sizeof plain);
    assert_int_equal(m, 14);
    assert_memory_equal(plain, "(555) 810-7203", 14);
    assert_int_equal(fake_open(NULL, "Observation.note.text#ssn", buf + t.env_start, t.env_end - t.env_start, plain,
                               sizeof plain), -1);
    assert_int_equal(fake_open(NULL, "DiagnosticReport.conclusion#phone", buf + t.env_start,
                               t.env_end - t.env_start, plain, sizeof plain), -1);
    pd_config_free(&c);
}

static void test_mask_writes_masks(void **state)
{
    (void)state;
    fake_reset();
    struct pd_config c = config_of(NOTE_CONFIG);
    char buf[4096];
    struct pd_out o;
    pd_out_init(&o, buf, sizeof buf);
    assert_int_equal(pd_redact(&c, "Observation.note.text", NULL, NULL, NOTE, strlen(NOTE), &o, NULL), PD_REDACT_OK);
    assert_int_equal(fake_seals, 0);
    buf[o.len] = 0;
    assert_string_equal(buf, "Pt called from ***-***-7203 re SSN ***-**-6789; copy to ***. \xc3\xa9t\xc3\xa9 MRN: ***");
    pd_config_free(&c);
}

static void test_no_match_copies(void **state)
{
    (void)state;
    struct pd_config c = config_of(NOTE_CONFIG);
    const char *t = "Specimen is grossly lipemic; 12 mg/dL on 2024-01-02.";
    char buf[256];
    struct pd_out o;
    pd_out_init(&o, buf, sizeof buf);
    struct pd_counts n = {0};
    assert_int_equal(pd_redact(&c, "Observation.note.text", fake_seal, NULL, t, strlen(t), &o, &n), PD_REDACT_OK);
    assert_int_equal(o.len, strlen(t));
    assert_memory_equal(buf, t, o.len);
    assert_int_equal(n.n[PD_SSN] + n.n[PD_PHONE], 0);
    pd_config_free(&c);
}

static void test_bounds(void **state)
{
    (void)state;
    fake_reset();
    struct pd_config c = config_of(NOTE_CONFIG);
    const char *t = "SSN 123-45-6789 end";
    char buf[512];
    /* Every capacity short of what the tokens need is refused, never
     * overrun; a failing host is told apart from a short buffer. */
    size_t need = 0;
    for (size_t cap = 0; cap < sizeof buf; cap++) {
        struct pd_out o;
        pd_out_init(&o, buf, cap);
        enum pd_redact_status st = pd_redact(&c, "F", fake_seal, NULL, t, strlen(t), &o, NULL);
        if (st == PD_REDACT_OK) {
            need = cap;
            break;
        }
        assert_int_equal(st, PD_REDACT_NO_ROOM);
    }
    assert_true(need > strlen(t));
    fake_seal_fail = 1;
    struct pd_out o;
    pd_out_init(&o, buf, sizeof buf);
    assert_int_equal(pd_redact(&c, "F", fake_seal, NULL, t, strlen(t), &o, NULL), PD_REDACT_SEAL_FAILED);
    pd_out_init(&o, buf, 4);
    assert_int_equal(pd_redact(&c, "F", NULL, NULL, t, strlen(t), &o, NULL), PD_REDACT_NO_ROOM);
    pd_config_free(&c);
}

static void test_field_path(void **state)
{
    (void)state;
    char p[32];
    assert_int_equal(pd_field_path(p, sizeof p, "Observation.note.text", PD_EMAIL), 0);
    assert_string_equal(p, "Observation.note.text#email");
    assert_int_equal(pd_field_path(p, 10, "Observation.note.text", PD_EMAIL), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encrypt_replaces_each_match_by_a_token),
        cmocka_unit_test(test_mask_writes_masks),
        cmocka_unit_test(test_no_match_copies),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_field_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
