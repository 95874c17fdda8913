/* status.c - status messages, error detail and the allocator hook. */
#include "deepconf/dc_status.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- status ---- */

const char *dc_strerror(dc_status status)
{
    switch (status) {
#define DC_STATUS_MSG_(name, value, msg) \
    case DC_STATUS_##name: return msg;
        DC_STATUS_MAP(DC_STATUS_MSG_)
#undef DC_STATUS_MSG_
    }
    return "unknown status";
}

const char *dc_status_name(dc_status status)
{
    switch (status) {
#define DC_STATUS_NAME_(name, value, msg) \
    case DC_STATUS_##name: return #name;
        DC_STATUS_MAP(DC_STATUS_NAME_)
#undef DC_STATUS_NAME_
    }
    return "UNKNOWN";
}

dc_status dc_error_set(dc_error *err, dc_status status, const char *fmt, ...)
{
    if (err) {
        err->status = status;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return status;
}

void dc_error_prefix(dc_error *err, const char *fmt, ...)
{
    if (!err)
        return;
    char head[DC_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(head, sizeof head - 2, fmt, ap);
    va_end(ap);
    size_t hl = n < 0 ? 0 : (size_t)n < sizeof head - 2 ? (size_t)n : sizeof head - 3;
    memcpy(head + hl, ": ", 3);
    hl += 2;
    size_t ml = strlen(err->msg);
    if (hl + ml >= sizeof err->msg)
        ml = sizeof err->msg - 1 - hl;
    memmove(err->msg + hl, err->msg, ml);
    memcpy(err->msg, head, hl);
    err->msg[hl + ml] = '\0';
}

/* ---- allocator ---- */

static void *default_malloc(void *ctx, size_t size)
{
    (void)ctx;
    return malloc(size);
}

static void *default_realloc(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    return realloc(ptr, size);
}

static void default_free(void *ctx, void *ptr)
{
    (void)ctx;
    free(ptr);
}

static dc_allocator g_alloc = {default_malloc, default_realloc, default_free, NULL};

dc_status dc_set_allocator(const dc_allocator *a)
{
    if (!a) {
        g_alloc = (dc_allocator){default_malloc, default_realloc, default_free, NULL};
        return DC_STATUS_OK;
    }
    if (!a->malloc_fn || !a->realloc_fn || !a->free_fn)
        return DC_STATUS_INVALID_ARG;
    g_alloc = *a;
    return DC_STATUS_OK;
}

void *dc_malloc(size_t size)
{
    return g_alloc.malloc_fn(g_alloc.ctx, size);
}

void *dc_calloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    void *p = dc_malloc(n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

void *dc_realloc(void *ptr, size_t size)
{
    return g_alloc.realloc_fn(g_alloc.ctx, ptr, size);
}

void *dc_reallocarray(void *ptr, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    return dc_realloc(ptr, n * size);
}

void dc_free(void *ptr)
{
    if (ptr)
        g_alloc.free_fn(g_alloc.ctx, ptr);
}

char *dc_strndup(const char *s, size_t n)
{
    if (!s)
        return NULL;
    char *d = dc_malloc(n + 1);
    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *dc_strdup(const char *s)
{
    return s ? dc_strndup(s, strlen(s)) : NULL;
}
