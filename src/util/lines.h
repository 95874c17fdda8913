/* lines.h - capped line reader for text files, plain or zstd (internal).
 *
 * A file that starts with the zstd magic number is read as a sequence of
 * zstd frames (what the `zstd` tool writes; a run's traces.jsonl.zst, one
 * frame per instance) and its decoded text is split into lines; any other
 * file is read as it is. Positions (dc_lines_tell / dc_lines_seek) let a
 * reader come back to a line: in a zstd file, the line's frame and the
 * decoded bytes of that frame before it. */
#ifndef SDC_UTIL_LINES_H
#define SDC_UTIL_LINES_H

#include <stdio.h>

#include "util/buf.h"

/* Where a line starts. */
typedef struct dc_lines_pos {
    long long offset;        /* plain: the line's byte offset; zstd: its frame's */
    unsigned long long skip; /* zstd: decoded bytes of the frame before the line; plain: 0 */
} dc_lines_pos;

typedef struct dc_lines_zstd dc_lines_zstd;

typedef struct dc_lines {
    FILE *f;
    dc_buf line;   /* current line without its "\n" / "\r\n" */
    size_t lineno; /* 1-based number of the current line */
    int eof;
    int torn;      /* the file ended inside its last line, or inside a zstd frame */
    int zstd;      /* the file is zstd frames (known after the first dc_lines_next) */
    char msg[200]; /* after an error status: what went wrong and where */
    /* private */
    int started_;
    unsigned char head_[4]; /* the bytes read to tell zstd from plain */
    size_t head_n_, head_pos_;
    dc_lines_zstd *z_;
} dc_lines;

/* max_line: longest accepted line in bytes (0: 256 MiB). f is borrowed. */
void dc_lines_init(dc_lines *r, FILE *f, size_t max_line);
void dc_lines_free(dc_lines *r);
/* Reads the next line: DC_STATUS_OK with r->line filled, DC_STATUS_NOT_FOUND
 * at end of file, DC_STATUS_LIMIT for a line over max_line (the rest of
 * it is skipped so that reading can go on), DC_STATUS_IO on a read error,
 * DC_STATUS_PARSE for zstd data that does not decode (r->msg names the
 * frame's byte offset; reading stops there), DC_STATUS_NOMEM. After an
 * error other than LIMIT the next call returns NOT_FOUND. */
dc_status dc_lines_next(dc_lines *r);

/* Decodes the rest of the zstd frame the last line came from without
 * handing it out, to tell a damaged frame (its lines may come out before
 * its checksum is checked) from a bad line: PARSE (r->msg) when it does
 * not decode, else OK, as for a plain file. Reading ends with it. */
dc_status dc_lines_finish_frame(dc_lines *r);

/* Where the next line starts (after dc_lines_next returned OK, or before
 * the first call); in a zstd file it may decode ahead to find where the
 * frame ends. offset -1 when the file cannot tell (a pipe). */
dc_lines_pos dc_lines_tell(dc_lines *r);
/* Goes back (or on) to a position dc_lines_tell gave for the same file;
 * lineno is left as it was. IO when the file cannot seek, PARSE (r->msg)
 * when the frame there does not decode or ends before pos.skip. */
dc_status dc_lines_seek(dc_lines *r, dc_lines_pos pos);

#endif
