/* QR codes as SVG (policy/qr.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <qrencode.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/qr.h"

static const char URI[] = "otpauth://totp/phiguard:alice%40example.org?secret=JBSWY3DPEHPK3PXP"
                          "&issuer=phiguard&algorithm=SHA1&digits=6&period=30";

static void test_shape(void **state)
{
    (void)state;
    char *svg = pg_qr_svg(URI, "Scan <me> & \"enrol\" 'now'");
    assert_non_null(svg);
    assert_int_equal(strncmp(svg, "<svg", 4), 0);
    assert_non_null(strstr(svg, "role=\"img\""));
    assert_non_null(strstr(svg, "<title>Scan &lt;me&gt; &amp; &quot;enrol&quot; &apos;now&apos;</title>"));
    assert_null(strstr(svg, "<me>"));
    assert_non_null(strstr(svg, "shape-rendering=\"crispEdges\""));
    char *path = strstr(svg, "<path");
    assert_non_null(path);
    assert_null(strstr(path + 1, "<path")); /* one path */
    assert_non_null(strstr(svg, "</svg>"));
    assert_int_equal(svg[strlen(svg) - 1], '>');
    free(svg);
}

static void test_deterministic(void **state)
{
    (void)state;
    char *a = pg_qr_svg(URI, "QR code"), *b = pg_qr_svg(URI, "QR code"), *c = pg_qr_svg("otpauth://other", "QR code");
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    free(a);
    free(b);
    free(c);
}

/* Draws the path's unit squares back into a grid and compares it, module
 * for module, with what libqrencode makes of the same text. */
static void check_matches_libqrencode(const char *text)
{
    QRcode *qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
    assert_non_null(qr);
    char *svg = pg_qr_svg(text, "QR code");
    assert_non_null(svg);
    int w = qr->width, size = 0, size2 = 0;
    assert_int_equal(w, 21 + 4 * (qr->version - 1));
    assert_int_equal(sscanf(strstr(svg, "viewBox=\""), "viewBox=\"0 0 %d %d\"", &size, &size2), 2);
    assert_int_equal(size, 21 + 4 * (qr->version - 1) + 8);
    assert_int_equal(size2, size);
    unsigned char *grid = calloc((size_t)w * (size_t)w, 1);
    assert_non_null(grid);
    const char *p = strstr(svg, " d=\"");
    assert_non_null(p);
    p += 4;
    size_t squares = 0, dark = 0;
    int x, y, used;
    while (sscanf(p, "M%d %dh1v1h-1z%n", &x, &y, &used) == 2 && used > 0) {
        /* Inside the quiet zone nothing is drawn. */
        assert_in_range(x, 4, 4 + w - 1);
        assert_in_range(y, 4, 4 + w - 1);
        assert_int_equal(grid[(y - 4) * w + (x - 4)], 0); /* each module once */
        grid[(y - 4) * w + (x - 4)] = 1;
        squares++;
        p += used;
    }
    assert_int_equal(strncmp(p, "\"/>", 3), 0); /* the path held squares only */
    for (int i = 0; i < w * w; i++) {
        dark += qr->data[i] & 1;
        if ((qr->data[i] & 1) != grid[i])
            fail_msg("module %d,%d differs", i % w, i / w);
    }
    assert_int_equal(squares, dark);
    assert_true(dark > 0);
    free(grid);
    free(svg);
    QRcode_free(qr);
}

static void test_real_qr_code(void **state)
{
    (void)state;
    check_matches_libqrencode("a");     /* version 1 */
    check_matches_libqrencode(URI);     /* a typical enrolment */
    char big[1500];
    memset(big, 'Z', sizeof big - 1);
    big[sizeof big - 1] = 0;
    check_matches_libqrencode(big);     /* a large version */
}

static void test_case_kept(void **state)
{
    (void)state;
    /* 8-bit and case-sensitive: the base32 secret and the lower-case
     * parts of the URI must not be folded. */
    char *lower = pg_qr_svg("otpauth://totp/a?secret=abc", "x"), *upper = pg_qr_svg("OTPAUTH://TOTP/A?SECRET=ABC", "x");
    assert_non_null(lower);
    assert_non_null(upper);
    assert_string_not_equal(lower, upper);
    free(lower);
    free(upper);
}

static void test_failures(void **state)
{
    (void)state;
    assert_null(pg_qr_svg("", "x"));
    assert_null(pg_qr_svg(NULL, "x"));
    assert_null(pg_qr_svg("x", NULL));
    char *huge = malloc(8000); /* more than a version 40 code holds */
    assert_non_null(huge);
    memset(huge, 'x', 7999);
    huge[7999] = 0;
    assert_null(pg_qr_svg(huge, "x"));
    free(huge);
    /* Control characters cannot appear in XML, even escaped. */
    char *svg = pg_qr_svg("x", "a\001b");
    assert_non_null(svg);
    assert_non_null(strstr(svg, "<title>a b</title>"));
    free(svg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shape),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_real_qr_code),
        cmocka_unit_test(test_case_kept),
        cmocka_unit_test(test_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
