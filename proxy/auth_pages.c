#include "proxy/auth_pages.h"

#include <string.h>

static void esc(struct evbuffer *out, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': evbuffer_add(out, "&amp;", 5); break;
        case '<': evbuffer_add(out, "&lt;", 4); break;
        case '>': evbuffer_add(out, "&gt;", 4); break;
        case '"': evbuffer_add(out, "&quot;", 6); break;
        case '\'': evbuffer_add(out, "&#39;", 5); break;
        default: evbuffer_add(out, s, 1); break;
        }
    }
}

static void head(struct evbuffer *out, const char *title, const char *error)
{
    evbuffer_add_printf(out, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                             "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>");
    esc(out, title);
    evbuffer_add_printf(out, "</title>\n</head>\n<body>\n<main>\n<h1>");
    esc(out, title);
    evbuffer_add_printf(out, "</h1>\n");
    if (error) {
        evbuffer_add_printf(out, "<p role=\"alert\" id=\"error\">");
        esc(out, error);
        evbuffer_add_printf(out, "</p>\n");
    }
}

static void hidden(struct evbuffer *out, const char *name, const char *value)
{
    if (!value || !*value)
        return;
    evbuffer_add_printf(out, "<input type=\"hidden\" name=\"%s\" value=\"", name);
    esc(out, value);
    evbuffer_add_printf(out, "\">\n");
}

static void code_field(struct evbuffer *out)
{
    evbuffer_add_printf(out, "<p><label for=\"code\">6-digit code from your authenticator app</label><br>\n"
                             "<input id=\"code\" name=\"code\" type=\"text\" inputmode=\"numeric\" "
                             "autocomplete=\"one-time-code\" pattern=\"[0-9]{6}\" maxlength=\"6\" required "
                             "aria-describedby=\"%s\"></p>\n",
                        "code-help");
    evbuffer_add_printf(out, "<p id=\"code-help\">Each code works once; a new one appears every 30 seconds.</p>\n");
}

static void tail(struct evbuffer *out)
{
    evbuffer_add_printf(out, "</main>\n</body>\n</html>\n");
}

void pg_page_login(struct evbuffer *out, const char *error, const char *next)
{
    head(out, "Sign in", error);
    evbuffer_add_printf(out, "<form method=\"post\" action=\"/auth/login\">\n");
    hidden(out, "next", next);
    evbuffer_add_printf(out,
                        "<p><label for=\"username\">Username</label><br>\n"
                        "<input id=\"username\" name=\"username\" type=\"text\" autocomplete=\"username\" "
                        "required autofocus></p>\n"
                        "<p><label for=\"password\">Password</label><br>\n"
                        "<input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" "
                        "required></p>\n"
                        "<p><button type=\"submit\">Sign in</button></p>\n</form>\n"
                        "<p>Access to this system is monitored and recorded.</p>\n");
    tail(out);
}

void pg_page_mfa(struct evbuffer *out, const char *ticket, const char *next, const char *error)
{
    head(out, "Enter your code", error);
    evbuffer_add_printf(out, "<form method=\"post\" action=\"/auth/mfa\">\n");
    hidden(out, "mfa_token", ticket);
    hidden(out, "next", next);
    code_field(out);
    evbuffer_add_printf(out, "<p><button type=\"submit\">Verify</button></p>\n</form>\n");
    tail(out);
}

void pg_page_enroll(struct evbuffer *out, const char *ticket, const char *next, const char *qr_svg,
                    const char *secret_b32, const char *error)
{
    head(out, "Set up two-factor authentication", error);
    evbuffer_add_printf(out, "<p>Scan this code with your authenticator app, or type the key below into it.</p>\n"
                             "<figure>\n");
    if (qr_svg)
        evbuffer_add(out, qr_svg, strlen(qr_svg)); /* our own SVG, its title already escaped */
    evbuffer_add_printf(out, "<figcaption>Key: <code id=\"secret\">");
    esc(out, secret_b32);
    evbuffer_add_printf(out, "</code></figcaption>\n</figure>\n<form method=\"post\" action=\"/auth/mfa/activate\">\n");
    hidden(out, "mfa_token", ticket);
    hidden(out, "next", next);
    code_field(out);
    evbuffer_add_printf(out, "<p><button type=\"submit\">Activate</button></p>\n</form>\n");
    tail(out);
}
