/* jsonw.c - streaming JSON writer. */
#include "util/jsonw.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void jw_init(jw *w, dc_buf *out)
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
            dc_buf_putc(w->out, ',');
        w->need_comma[w->depth] = 1;
    }
}

static void open_(jw *w, char c)
{
    before_value(w);
    dc_buf_putc(w->out, c);
    if (w->depth + 1 >= JW_MAX_DEPTH) {
        w->out->st = DC_STATUS_LIMIT;
        return;
    }
    w->depth++;
    w->need_comma[w->depth] = 0;
}

static void close_(jw *w, char c)
{
    dc_buf_putc(w->out, c);
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

/* Length of the valid UTF-8 sequence at s[0..n), or 0 when it is not one
 * (overlong forms, surrogates and values past U+10FFFF are invalid). */
size_t jw_utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned cp;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

int jw_utf8_valid(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t l = jw_utf8_len((const unsigned char *)s + i, n - i);
        if (!l)
            return 0;
        i += l;
    }
    return 1;
}

/* JSON text must be UTF-8: bytes that are not (a token can be half a
 * character) become U+FFFD; callers that need the bytes store them too. */
static void put_escaped(dc_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    dc_buf_putc(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[7];
        size_t adv = 1;
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
                u[0] = '\\';
                u[1] = 'u';
                u[2] = '0';
                u[3] = '0';
                u[4] = hex[c >> 4];
                u[5] = hex[c & 15];
                u[6] = '\0';
                esc = u;
            } else if (c >= 0x80) {
                adv = jw_utf8_len((const unsigned char *)s + i, n - i);
                if (!adv) {
                    esc = "\\ufffd";
                    adv = 1;
                }
            }
        }
        if (esc) {
            dc_buf_append(b, s + i - run, run);
            run = 0;
            dc_buf_puts(b, esc);
        } else {
            run += adv;
        }
        i += adv;
    }
    dc_buf_append(b, s + n - run, run);
    dc_buf_putc(b, '"');
}

void jw_key(jw *w, const char *key)
{
    before_value(w);
    put_escaped(w->out, key, strlen(key));
    dc_buf_putc(w->out, ':');
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
    dc_buf_puts(w->out, tmp);
}

void jw_int(jw *w, int64_t x)
{
    before_value(w);
    dc_buf_printf(w->out, "%" PRId64, x);
}

void jw_uint(jw *w, uint64_t x)
{
    before_value(w);
    dc_buf_printf(w->out, "%" PRIu64, x);
}

void jw_bool(jw *w, int b)
{
    before_value(w);
    dc_buf_puts(w->out, b ? "true" : "false");
}

void jw_null(jw *w)
{
    before_value(w);
    dc_buf_puts(w->out, "null");
}

void jw_raw(jw *w, const char *json)
{
    before_value(w);
    dc_buf_puts(w->out, json);
}

/* ---- key and value ---- */

void jw_kv_str(jw *w, const char *key, const char *s)
{
    jw_key(w, key);
    jw_str(w, s);
}

void jw_kv_double(jw *w, const char *key, double x)
{
    jw_key(w, key);
    jw_double(w, x);
}

void jw_kv_int(jw *w, const char *key, int64_t x)
{
    jw_key(w, key);
    jw_int(w, x);
}

void jw_kv_uint(jw *w, const char *key, uint64_t x)
{
    jw_key(w, key);
    jw_uint(w, x);
}

void jw_kv_bool(jw *w, const char *key, int b)
{
    jw_key(w, key);
    jw_bool(w, b);
}

void jw_kv_tristate(jw *w, const char *key, int v)
{
    jw_key(w, key);
    if (v == 0 || v == 1)
        jw_bool(w, v);
    else
        jw_null(w);
}
