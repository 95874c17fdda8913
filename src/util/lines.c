/* lines.c - capped line reader. */
#include "util/lines.h"

#include <string.h>

#define LINES_DEFAULT_MAX ((size_t)256 << 20)

void dc_lines_init(dc_lines *r, FILE *f, size_t max_line)
{
    memset(r, 0, sizeof *r);
    r->f = f;
    dc_buf_init(&r->line, (max_line ? max_line : LINES_DEFAULT_MAX) + 2);
}

void dc_lines_free(dc_lines *r)
{
    dc_buf_free(&r->line);
}

dc_status dc_lines_next(dc_lines *r)
{
    dc_buf_reset(&r->line);
    if (r->eof)
        return DC_STATUS_NOT_FOUND;
    char chunk[4096];
    size_t n = 0;
    int over = 0, got_any = 0, c;
    while ((c = getc_unlocked(r->f)) != EOF) {
        got_any = 1;
        if (c == '\n')
            break;
        chunk[n++] = (char)c;
        if (n == sizeof chunk) {
            if (!over && dc_buf_append(&r->line, chunk, n) != DC_STATUS_OK)
                over = 1;
            n = 0;
        }
    }
    if (c == EOF) {
        if (ferror(r->f))
            return DC_STATUS_IO;
        r->eof = 1;
        if (!got_any)
            return DC_STATUS_NOT_FOUND;
        r->torn = 1;
    }
    if (!over && dc_buf_append(&r->line, chunk, n) != DC_STATUS_OK)
        over = 1;
    r->lineno++;
    if (over) {
        dc_buf_reset(&r->line);
        return DC_STATUS_LIMIT;
    }
    if (r->line.len && r->line.data[r->line.len - 1] == '\r')
        r->line.data[--r->line.len] = '\0';
    return DC_STATUS_OK;
}
