/* buf.h - growable byte buffer with a cap (internal). */
#ifndef SDC_UTIL_BUF_H
#define SDC_UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "deepconf/dc_status.h"

typedef struct dc_buf {
    char *data; /* NUL-terminated when len > 0; owned, free with dc_buf_free */
    size_t len;
    size_t cap;
    size_t max;   /* growth stops here: DC_STATUS_LIMIT; 0 = 1 GiB */
    dc_status st; /* first error; later appends are no-ops */
} dc_buf;

void dc_buf_init(dc_buf *b, size_t max);
void dc_buf_free(dc_buf *b);
void dc_buf_reset(dc_buf *b);
dc_status dc_buf_append(dc_buf *b, const void *p, size_t n);
dc_status dc_buf_puts(dc_buf *b, const char *s);
dc_status dc_buf_putc(dc_buf *b, char c);
dc_status dc_buf_printf(dc_buf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Takes the data out (caller frees with dc_free), leaving b empty. */
char *dc_buf_take(dc_buf *b);

#endif
