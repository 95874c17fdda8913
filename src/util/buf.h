/* buf.h - growable byte buffer with a cap (internal). */
#ifndef SDC_UTIL_BUF_H
#define SDC_UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "deepconf/dc_status.h"

typedef struct sdc_buf {
    char *data; /* NUL-terminated when len > 0; owned, free with sdc_buf_free */
    size_t len;
    size_t cap;
    size_t max;   /* growth stops here: DC_STATUS_LIMIT; 0 = 1 GiB */
    dc_status st; /* first error; later appends are no-ops */
} sdc_buf;

void sdc_buf_init(sdc_buf *b, size_t max);
void sdc_buf_free(sdc_buf *b);
void sdc_buf_reset(sdc_buf *b);
dc_status sdc_buf_append(sdc_buf *b, const void *p, size_t n);
dc_status sdc_buf_puts(sdc_buf *b, const char *s);
dc_status sdc_buf_putc(sdc_buf *b, char c);
dc_status sdc_buf_printf(sdc_buf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Takes the data out (caller frees with dc_free), leaving b empty. */
char *sdc_buf_take(sdc_buf *b);

#endif
