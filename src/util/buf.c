/* buf.c - growable byte buffer with a cap. */
#include "util/buf.h"

#include <stdio.h>
#include <string.h>

#define BUF_DEFAULT_MAX ((size_t)1 << 30)

void dc_buf_init(dc_buf *b, size_t max)
{
    memset(b, 0, sizeof *b);
    b->max = max ? max : BUF_DEFAULT_MAX;
}

void dc_buf_free(dc_buf *b)
{
    dc_free(b->data);
    size_t max = b->max;
    dc_buf_init(b, max);
}

void dc_buf_reset(dc_buf *b)
{
    b->len = 0;
    b->st = DC_STATUS_OK;
    if (b->data)
        b->data[0] = '\0';
}

static dc_status reserve(dc_buf *b, size_t extra)
{
    if (b->st != DC_STATUS_OK)
        return b->st;
    if (extra > b->max || b->len + 1 > b->max - extra)
        return b->st = DC_STATUS_LIMIT;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return DC_STATUS_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > b->max / 2 ? b->max : cap * 2;
    char *p = dc_realloc(b->data, cap);
    if (!p)
        return b->st = DC_STATUS_NOMEM;
    b->data = p;
    b->cap = cap;
    return DC_STATUS_OK;
}

dc_status dc_buf_append(dc_buf *b, const void *p, size_t n)
{
    dc_status st = reserve(b, n);
    if (st != DC_STATUS_OK)
        return st;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return DC_STATUS_OK;
}

dc_status dc_buf_puts(dc_buf *b, const char *s)
{
    return dc_buf_append(b, s, strlen(s));
}

dc_status dc_buf_putc(dc_buf *b, char c)
{
    return dc_buf_append(b, &c, 1);
}

dc_status dc_buf_printf(dc_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return b->st = DC_STATUS_INVALID_ARG;
    dc_status st = reserve(b, (size_t)n);
    if (st != DC_STATUS_OK)
        return st;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return DC_STATUS_OK;
}

char *dc_buf_take(dc_buf *b)
{
    char *p = b->data;
    size_t max = b->max;
    dc_buf_init(b, max);
    return p;
}
