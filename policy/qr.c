#include "policy/qr.h"

#include <qrencode.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUIET 4 /* modules of light margin; ISO/IEC 18004 requires 4 */
#define MODULE_MAX 20 /* "M184 184h1v1h-1z" and room to spare */
#define FIXED_MAX 400 /* the SVG's fixed text, numbers included */

/* Text of a known upper bound, in one allocation. */
struct out {
    char *p;
    size_t len, cap;
};

static bool put(struct out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= o->cap - o->len)
        return false;
    o->len += (size_t)n;
    return true;
}

/* XML 1.0 cannot hold most C0 controls even escaped, so they become spaces. */
static bool put_escaped(struct out *o, const char *s)
{
    bool ok = true;
    for (; *s && ok; s++) {
        unsigned char c = (unsigned char)*s;
        const char *e = c == '&' ? "&amp;" : c == '<' ? "&lt;" : c == '>' ? "&gt;" : c == '"' ? "&quot;"
                      : c == '\'' ? "&apos;" : NULL;
        if (e)
            ok = put(o, "%s", e);
        else
            ok = put(o, "%c", c < 0x20 && c != '\t' && c != '\n' && c != '\r' ? ' ' : (char)c);
    }
    return ok;
}

static size_t dark_count(const QRcode *qr)
{
    size_t n = 0;
    for (size_t i = 0; i < (size_t)qr->width * (size_t)qr->width; i++)
        n += qr->data[i] & 1;
    return n;
}

static bool put_modules(struct out *o, const QRcode *qr)
{
    for (int y = 0; y < qr->width; y++)
        for (int x = 0; x < qr->width; x++)
            if ((qr->data[y * qr->width + x] & 1) && !put(o, "M%d %dh1v1h-1z", x + QUIET, y + QUIET))
                return false;
    return true;
}

static bool put_svg(struct out *o, const QRcode *qr, const char *alt_text)
{
    int size = qr->width + 2 * QUIET;
    return put(o,
               "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" "
               "role=\"img\"><title>",
               size, size, size * 4, size * 4) &&
           put_escaped(o, alt_text) &&
           put(o, "</title><rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>"
                  "<path fill=\"#000\" shape-rendering=\"crispEdges\" d=\"",
               size, size) &&
           put_modules(o, qr) && put(o, "\"/></svg>");
}

char *pg_qr_svg(const char *text, const char *alt_text)
{
    if (!text || !alt_text)
        return NULL;
    QRcode *qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
    if (!qr)
        return NULL;
    /* Escaping grows a byte to at most six ("&quot;"). */
    struct out o = {.cap = FIXED_MAX + dark_count(qr) * MODULE_MAX + strlen(alt_text) * 6 + 1};
    o.p = malloc(o.cap);
    if (o.p && !put_svg(&o, qr, alt_text)) {
        free(o.p);
        o.p = NULL;
    }
    QRcode_free(qr);
    return o.p;
}
