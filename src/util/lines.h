/* lines.h - capped line reader for text files (internal). */
#ifndef SDC_UTIL_LINES_H
#define SDC_UTIL_LINES_H

#include <stdio.h>

#include "util/buf.h"

typedef struct dc_lines {
    FILE *f;
    dc_buf line;   /* current line without its "\n" / "\r\n" */
    size_t lineno; /* 1-based number of the current line */
    int eof;
    int torn; /* the last line had no final newline */
} dc_lines;

/* max_line: longest accepted line in bytes (0: 256 MiB). */
void dc_lines_init(dc_lines *r, FILE *f, size_t max_line);
void dc_lines_free(dc_lines *r);
/* Reads the next line: DC_STATUS_OK with r->line filled, DC_STATUS_NOT_FOUND
 * at end of file, DC_STATUS_LIMIT for a line over max_line (the rest of
 * it is skipped so that reading can go on), DC_STATUS_IO on a read error. */
dc_status dc_lines_next(dc_lines *r);

#endif
