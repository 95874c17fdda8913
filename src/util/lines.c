/* lines.c - capped line reader, plain or zstd. */
#include "util/lines.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <zstd.h>

#define LINES_DEFAULT_MAX ((size_t)256 << 20)

static const unsigned char zstd_magic[4] = {0x28, 0xb5, 0x2f, 0xfd};

/* The decoder of a zstd file. Each ZSTD_decompressStream call stops at
 * the end of a frame, so out never holds bytes of two frames. zstd's
 * default window limit (2^27 bytes) caps what a frame can make it hold. */
struct dc_lines_zstd {
    ZSTD_DCtx *dctx;
    unsigned char *in, *out;
    size_t in_cap, in_len, in_pos;
    size_t out_cap, out_len, out_pos;
    long long in_off;             /* file offset of in[0] */
    long long frame;              /* file offset of the frame whose bytes are in out */
    unsigned long long frame_out; /* bytes of that frame handed out */
    int frame_done;               /* that frame is decoded to its end */
    dc_status failed;             /* an error already met (msg says it): it stays */
};

void dc_lines_init(dc_lines *r, FILE *f, size_t max_line)
{
    memset(r, 0, sizeof *r);
    r->f = f;
    dc_buf_init(&r->line, (max_line ? max_line : LINES_DEFAULT_MAX) + 2);
}

static void zstd_free(dc_lines_zstd *z)
{
    if (!z)
        return;
    ZSTD_freeDCtx(z->dctx);
    dc_free(z->in);
    dc_free(z->out);
    dc_free(z);
}

void dc_lines_free(dc_lines *r)
{
    dc_buf_free(&r->line);
    zstd_free(r->z_);
    r->z_ = NULL;
}

/* ---- the byte source ---- */

static dc_status fail(dc_lines *r, dc_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static dc_status fail(dc_lines *r, dc_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof r->msg, fmt, ap);
    va_end(ap);
    if (r->z_)
        r->z_->failed = st;
    return st;
}

static dc_status zstd_open(dc_lines *r, long long base)
{
    snprintf(r->msg, sizeof r->msg, "out of memory");
    dc_lines_zstd *z = dc_calloc(1, sizeof *z);
    if (!z)
        return DC_STATUS_NOMEM;
    z->dctx = ZSTD_createDCtx();
    z->in_cap = ZSTD_DStreamInSize();
    z->out_cap = ZSTD_DStreamOutSize();
    z->in = dc_malloc(z->in_cap);
    z->out = dc_malloc(z->out_cap);
    if (!z->dctx || !z->in || !z->out) {
        zstd_free(z);
        return DC_STATUS_NOMEM;
    }
    r->z_ = z;
    memcpy(z->in, r->head_, r->head_n_);
    z->in_len = r->head_n_;
    z->in_off = base;
    z->frame_done = 1;
    r->head_n_ = r->head_pos_ = 0;
    r->zstd = 1;
    r->msg[0] = '\0';
    return DC_STATUS_OK;
}

/* Reads the first bytes to tell a zstd file from a plain one; plain bytes
 * read stay in head_ for the first line. */
static dc_status start(dc_lines *r)
{
    r->started_ = 1;
    long long base = ftello(r->f);
    int c;
    while (r->head_n_ < sizeof r->head_ && (c = getc_unlocked(r->f)) != EOF) {
        r->head_[r->head_n_++] = (unsigned char)c;
        if (r->head_[r->head_n_ - 1] != zstd_magic[r->head_n_ - 1])
            break;
    }
    if (ferror(r->f)) {
        snprintf(r->msg, sizeof r->msg, "read error: %s", strerror(errno));
        return DC_STATUS_IO;
    }
    if (r->head_n_ == sizeof r->head_ && !memcmp(r->head_, zstd_magic, sizeof zstd_magic))
        return zstd_open(r, base > 0 ? base : 0);
    return DC_STATUS_OK;
}

/* Decodes more of a zstd file into out. 1: out has new bytes, or a frame
 * just ended; 0: the end of the file; -1: an error (*st). */
static int zstd_step(dc_lines *r, dc_status *st)
{
    dc_lines_zstd *z = r->z_;
    if (z->failed) {
        *st = z->failed;
        return -1;
    }
    if (z->in_pos == z->in_len) {
        z->in_off += (long long)z->in_len;
        z->in_pos = 0;
        z->in_len = fread(z->in, 1, z->in_cap, r->f);
        if (!z->in_len) {
            if (ferror(r->f)) {
                *st = fail(r, DC_STATUS_IO, "read error at byte %lld: %s", z->in_off,
                           strerror(errno));
                return -1;
            }
            if (!z->frame_done)
                r->torn = 1; /* a frame cut short: an interrupted write */
            return 0;
        }
    }
    if (z->frame_done) {
        z->frame = z->in_off + (long long)z->in_pos;
        z->frame_out = 0;
        z->frame_done = 0;
    }
    ZSTD_inBuffer in = {z->in, z->in_len, z->in_pos};
    ZSTD_outBuffer out = {z->out, z->out_cap, 0};
    size_t ret = ZSTD_decompressStream(z->dctx, &out, &in);
    z->in_pos = in.pos;
    if (ZSTD_isError(ret)) {
        *st = fail(r, DC_STATUS_PARSE, "the zstd frame at byte %lld does not decode: %s", z->frame,
                   ZSTD_getErrorName(ret));
        return -1;
    }
    z->out_len = out.pos;
    z->out_pos = 0;
    z->frame_done = ret == 0;
    return 1;
}

/* The next byte, EOF at the end, or -2 on an error (*st). */
static int next_byte(dc_lines *r, dc_status *st)
{
    dc_lines_zstd *z = r->z_;
    if (!z) {
        if (r->head_pos_ < r->head_n_)
            return r->head_[r->head_pos_++];
        int c = getc_unlocked(r->f);
        if (c == EOF && ferror(r->f)) {
            snprintf(r->msg, sizeof r->msg, "read error: %s", strerror(errno));
            *st = DC_STATUS_IO;
            return -2;
        }
        return c;
    }
    while (z->out_pos == z->out_len) {
        int s = zstd_step(r, st);
        if (s <= 0)
            return s ? -2 : EOF;
    }
    z->frame_out++;
    return z->out[z->out_pos++];
}

/* ---- lines ---- */

dc_status dc_lines_next(dc_lines *r)
{
    dc_buf_reset(&r->line);
    if (r->eof)
        return DC_STATUS_NOT_FOUND;
    dc_status st = DC_STATUS_OK;
    if (!r->started_ && (st = start(r)) != DC_STATUS_OK) {
        r->eof = 1;
        return st;
    }
    char chunk[4096];
    size_t n = 0;
    int over = 0, got_any = 0, c;
    while ((c = next_byte(r, &st)) >= 0) {
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
    if (c == -2) {
        r->eof = 1;
        dc_buf_reset(&r->line);
        return st;
    }
    if (c == EOF) {
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
        snprintf(r->msg, sizeof r->msg, "line longer than %zu bytes", r->line.max - 2);
        return DC_STATUS_LIMIT;
    }
    if (r->line.len && r->line.data[r->line.len - 1] == '\r')
        r->line.data[--r->line.len] = '\0';
    return DC_STATUS_OK;
}

dc_status dc_lines_finish_frame(dc_lines *r)
{
    dc_lines_zstd *z = r->z_;
    r->eof = 1;
    if (!z)
        return DC_STATUS_OK;
    dc_status st = DC_STATUS_OK;
    while (!z->frame_done) {
        z->out_pos = z->out_len;
        int s = zstd_step(r, &st);
        if (s <= 0)
            return s ? st : DC_STATUS_OK;
    }
    z->out_pos = z->out_len;
    return DC_STATUS_OK;
}

/* ---- positions ---- */

dc_lines_pos dc_lines_tell(dc_lines *r)
{
    dc_lines_pos p = {-1, 0};
    dc_lines_zstd *z = r->z_;
    if (!z) {
        long long at = ftello(r->f);
        if (at >= 0)
            p.offset = at - (long long)(r->head_n_ - r->head_pos_);
        return p;
    }
    /* a frame whose bytes are all read may end without more output: then
       the next line starts the next frame */
    dc_status st;
    while (z->out_pos == z->out_len && !z->frame_done && zstd_step(r, &st) > 0)
        ;
    if (z->out_pos == z->out_len && z->frame_done)
        p.offset = z->in_off + (long long)z->in_pos;
    else {
        p.offset = z->frame;
        p.skip = z->frame_out;
    }
    return p;
}

dc_status dc_lines_seek(dc_lines *r, dc_lines_pos pos)
{
    dc_status st;
    if (!r->started_ && (st = start(r)) != DC_STATUS_OK)
        return st;
    if (pos.offset < 0 || fseeko(r->f, pos.offset, SEEK_SET) != 0) {
        snprintf(r->msg, sizeof r->msg, "cannot seek to byte %lld: %s", pos.offset,
                 strerror(errno));
        return DC_STATUS_IO;
    }
    r->eof = r->torn = 0;
    r->msg[0] = '\0';
    r->head_n_ = r->head_pos_ = 0;
    dc_lines_zstd *z = r->z_;
    if (z) {
        ZSTD_DCtx_reset(z->dctx, ZSTD_reset_session_only);
        z->in_off = pos.offset;
        z->in_len = z->in_pos = z->out_len = z->out_pos = 0;
        z->frame_done = 1;
        z->failed = DC_STATUS_OK;
    }
    for (unsigned long long i = 0; i < pos.skip; i++) {
        int c = next_byte(r, &st);
        if (c == -2)
            return st;
        if (c == EOF)
            return fail(r, DC_STATUS_PARSE,
                        "the zstd frame at byte %lld ends before the position asked for",
                        pos.offset);
    }
    return DC_STATUS_OK;
}
