/* jsonw.c - streaming JSON writer. */
#include "util/jsonw.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void jw_init(jw *w, sdc_buf *out)
{
    memset(w, 0, sizeof *w);
    w->out = out;
}

static void before_value(jw *w)
{
    if (w->after_key) {
        w->after_key = 0;
        return;
    }
    if (w->depth > 0 && w->depth < JW_MAX_DEPTH) {
        if (w->need_comma[w->depth])
            sdc_buf_putc(w->out, ',');
        w->need_comma[w->depth] = 1;
    }
}

static void open_(jw *w, char c)
{
    before_value(w);
    sdc_buf_putc(w->out, c);
    if (w->depth + 1 >= JW_MAX_DEPTH) {
        w->out->st = DC_STATUS_LIMIT;
        return;
    }
    w->depth++;
    w->need_comma[w->depth] = 0;
}

static void close_(jw *w, char c)
{
    sdc_buf_putc(w->out, c);
    if (w->depth > 0)
        w->depth--;
}

void jw_obj_begin(jw *w)
{
    open_(w, '{');
}

void jw_obj_end(jw *w)
{
    close_(w, '}');
}

void jw_arr_begin(jw *w)
{
    open_(w, '[');
}

void jw_arr_end(jw *w)
{
    close_(w, ']');
}

static void put_escaped(sdc_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    sdc_buf_putc(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[7];
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        default:
            if (c < 0x20) {
                u[0] = '\\'; u[1] = 'u'; u[2] = '0'; u[3] = '0';
                u[4] = hex[c >> 4]; u[5] = hex[c & 15]; u[6] = '\0';
                esc = u;
            }
        }
        if (esc) {
            sdc_buf_append(b, s + i - run, run);
            run = 0;
            sdc_buf_puts(b, esc);
        } else {
            run++;
        }
    }
    sdc_buf_append(b, s + n - run, run);
    sdc_buf_putc(b, '"');
}

void jw_key(jw *w, const char *key)
{
    before_value(w);
    put_escaped(w->out, key, strlen(key));
    sdc_buf_putc(w->out, ':');
    w->after_key = 1;
}

void jw_strn(jw *w, const char *s, size_t n)
{
    before_value(w);
    put_escaped(w->out, s, n);
}

void jw_str(jw *w, const char *s)
{
    if (!s) {
        jw_null(w);
        return;
    }
    jw_strn(w, s, strlen(s));
}

void jw_format_double(double x, char *buf, size_t size)
{
    if (!isfinite(x)) {
        snprintf(buf, size, "null");
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, x);
        if (strtod(buf, NULL) == x)
            break;
    }
    /* Keep it visibly a float ("2.0", "-0.0") like Python's repr. */
    if (!strpbrk(buf, ".eEn")) {
        size_t len = strlen(buf);
        if (len + 3 <= size)
            memcpy(buf + len, ".0", 3);
    }
}

void jw_double(jw *w, double x)
{
    char tmp[40];
    before_value(w);
    jw_format_double(x, tmp, sizeof tmp);
    sdc_buf_puts(w->out, tmp);
}

void jw_int(jw *w, int64_t x)
{
    before_value(w);
    sdc_buf_printf(w->out, "%" PRId64, x);
}

void jw_uint(jw *w, uint64_t x)
{
    before_value(w);
    sdc_buf_printf(w->out, "%" PRIu64, x);
}

void jw_bool(jw *w, int b)
{
    before_value(w);
    sdc_buf_puts(w->out, b ? "true" : "false");
}

void jw_null(jw *w)
{
    before_value(w);
    sdc_buf_puts(w->out, "null");
}

void jw_raw(jw *w, const char *json)
{
    before_value(w);
    sdc_buf_puts(w->out, json);
}
