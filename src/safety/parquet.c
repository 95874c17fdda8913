/* parquet.c - flat Parquet files: the footer checked against what the
 * reader supports, then column chunks read page by page into values. */
#include "safety/parquet.h"

#include <snappy-c.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "safety/parquet_int.h"
#include "safety/text.h"

struct sdc_pq_file {
    const uint8_t *data;
    size_t len;
    size_t footer_at; /* column chunks must end before the footer */
    char name[256];
    pq_meta m;
    size_t n_cols;
    uint64_t num_rows;
};

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---- the footer and the schema ---- */

static const pq_schema_elem *col_elem(const sdc_pq_file *f, size_t col)
{
    return &f->m.schema[col + 1];
}

/* Every column a top-level leaf of a supported type. */
static dc_status check_schema(sdc_pq_file *f, dc_error *err)
{
    const pq_meta *m = &f->m;
    const char *nm = f->name;
    if (m->n_schema < 2)
        return dc_error_set(err, DC_STATUS_FORMAT, "%s: the Parquet schema has no columns", nm);
    for (size_t i = 1; i < m->n_schema; i++) {
        const pq_schema_elem *e = &m->schema[i];
        size_t bad;
        if (!sdc_utf8_valid(e->name, strlen(e->name), &bad))
            return dc_error_set(err, DC_STATUS_UTF8,
                                "%s: schema element %zu: the column name is not UTF-8", nm, i);
        if (e->num_children > 0 || !e->has_type)
            return dc_error_set(err, DC_STATUS_UNSUPPORTED,
                                "%s: column '%s' is a nested group (a LIST, MAP or STRUCT); only "
                                "flat columns of BOOLEAN, INT32, INT64, FLOAT, DOUBLE and text are "
                                "supported",
                                nm, e->name);
        if (e->repetition == PQ_REPEATED)
            return dc_error_set(err, DC_STATUS_UNSUPPORTED,
                                "%s: column '%s' is REPEATED (a list); only flat REQUIRED or "
                                "OPTIONAL columns are supported",
                                nm, e->name);
        if (e->type == PQ_INT96 || e->type == PQ_FIXED_LEN_BYTE_ARRAY || e->type < 0 ||
            e->type > PQ_FIXED_LEN_BYTE_ARRAY)
            return dc_error_set(err, DC_STATUS_UNSUPPORTED,
                                "%s: column '%s' has physical type %s; supported: BOOLEAN, INT32, "
                                "INT64, FLOAT, DOUBLE, BYTE_ARRAY",
                                nm, e->name, pq_type_name(e->type));
        if (e->converted == PQ_CONV_DECIMAL || e->logical == PQ_LOGICAL_DECIMAL)
            return dc_error_set(err, DC_STATUS_UNSUPPORTED,
                                "%s: column '%s' is a DECIMAL; decimals are not supported", nm,
                                e->name);
    }
    f->n_cols = m->n_schema - 1;
    if ((size_t)m->schema[0].num_children != f->n_cols)
        return dc_error_set(err, DC_STATUS_FORMAT,
                            "%s: the Parquet schema root has %d children but %zu columns follow",
                            nm, (int)m->schema[0].num_children, f->n_cols);
    if (f->n_cols > SDC_PQ_MAX_COLUMNS)
        return dc_error_set(err, DC_STATUS_LIMIT, "%s: %zu columns, over the limit of %d", nm,
                            f->n_cols, SDC_PQ_MAX_COLUMNS);
    return DC_STATUS_OK;
}

/* Row groups agree with the schema and with the file's size. */
static dc_status check_groups(sdc_pq_file *f, size_t max_rows, dc_error *err)
{
    const pq_meta *m = &f->m;
    const char *nm = f->name;
    if (m->num_rows < 0)
        return dc_error_set(err, DC_STATUS_FORMAT, "%s: negative row count", nm);
    if ((uint64_t)m->num_rows > max_rows)
        return dc_error_set(err, DC_STATUS_LIMIT, "%s: %lld rows, more than %zu (the row limit)",
                            nm, (long long)m->num_rows, max_rows);
    uint64_t total = 0;
    for (size_t g = 0; g < m->n_groups; g++) {
        const pq_row_group *rg = &m->groups[g];
        if (rg->num_rows < 0 || (uint64_t)rg->num_rows > (uint64_t)m->num_rows - total)
            return dc_error_set(err, DC_STATUS_FORMAT,
                                "%s: row group %zu has %lld rows, more than the file's %lld", nm,
                                g + 1, (long long)rg->num_rows, (long long)m->num_rows);
        total += (uint64_t)rg->num_rows;
        if (rg->n_cols != f->n_cols)
            return dc_error_set(err, DC_STATUS_FORMAT,
                                "%s: row group %zu has %zu column chunks, the schema %zu columns",
                                nm, g + 1, rg->n_cols, f->n_cols);
        for (size_t c = 0; c < rg->n_cols; c++) {
            const pq_chunk_meta *ch = &rg->cols[c];
            const char *cn = col_elem(f, c)->name;
            if (ch->has_file_path || !ch->has_meta)
                return dc_error_set(err, DC_STATUS_UNSUPPORTED,
                                    "%s: column '%s' (row group %zu) keeps its data in another "
                                    "file; only single-file Parquet is supported",
                                    nm, cn, g + 1);
            if (ch->type != col_elem(f, c)->type || ch->path_len != 1)
                return dc_error_set(err, DC_STATUS_FORMAT,
                                    "%s: column '%s' (row group %zu): the chunk's type or path "
                                    "does not match the schema",
                                    nm, cn, g + 1);
        }
    }
    if (total != (uint64_t)m->num_rows)
        return dc_error_set(err, DC_STATUS_FORMAT,
                            "%s: the row groups hold %llu rows, the footer says %lld", nm,
                            (unsigned long long)total, (long long)m->num_rows);
    f->num_rows = total;
    return DC_STATUS_OK;
}

dc_status sdc_pq_open(const void *data, size_t len, const char *name, size_t max_rows,
                      sdc_pq_file **out, dc_error *err)
{
    const uint8_t *d = data;
    *out = NULL;
    if (!name)
        name = "<buffer>";
    if (len < 4 || memcmp(d, "PAR1", 4))
        return dc_error_set(err, DC_STATUS_PARSE, "%s: not a Parquet file (no PAR1 magic)", name);
    if (len >= 12 && !memcmp(d + len - 4, "PARE", 4))
        return dc_error_set(err, DC_STATUS_UNSUPPORTED,
                            "%s: the Parquet footer is encrypted; encryption is not supported",
                            name);
    if (len < 12 || memcmp(d + len - 4, "PAR1", 4))
        return dc_error_set(err, DC_STATUS_PARSE,
                            "%s: truncated Parquet file: it starts with PAR1 but does not end "
                            "with the footer and PAR1 (%zu bytes)",
                            name, len);
    uint32_t flen = le32(d + len - 8);
    if (flen == 0 || flen > len - 12)
        return dc_error_set(err, DC_STATUS_PARSE,
                            "%s: the footer length %u does not fit in the file (%zu bytes): the "
                            "file is truncated or corrupt",
                            name, flen, len);
    sdc_pq_file *f = dc_calloc(1, sizeof *f);
    if (!f)
        return dc_error_set(err, DC_STATUS_NOMEM, "%s: out of memory", name);
    f->data = d;
    f->len = len;
    f->footer_at = len - 8 - flen;
    snprintf(f->name, sizeof f->name, "%s", name);
    char where[64];
    dc_status st = pq_meta_read(d + f->footer_at, flen, &f->m, where, sizeof where);
    if (st == DC_STATUS_NOMEM)
        st = dc_error_set(err, st, "%s: out of memory", name);
    else if (st != DC_STATUS_OK)
        st = dc_error_set(err, st,
                          "%s: the Parquet footer is corrupt: %s is not valid Thrift compact "
                          "protocol (or is cut short)",
                          name, where);
    else if (f->m.encrypted)
        st = dc_error_set(err, DC_STATUS_UNSUPPORTED,
                          "%s: the Parquet file is encrypted; encryption is not supported", name);
    if (st == DC_STATUS_OK)
        st = check_schema(f, err);
    if (st == DC_STATUS_OK)
        st = check_groups(f, max_rows, err);
    if (st != DC_STATUS_OK) {
        sdc_pq_close(f);
        return st;
    }
    *out = f;
    return DC_STATUS_OK;
}

void sdc_pq_close(sdc_pq_file *f)
{
    if (!f)
        return;
    pq_meta_free(&f->m);
    dc_free(f);
}

size_t sdc_pq_num_columns(const sdc_pq_file *f)
{
    return f->n_cols;
}

const char *sdc_pq_column_name(const sdc_pq_file *f, size_t col)
{
    return col_elem(f, col)->name;
}

size_t sdc_pq_num_row_groups(const sdc_pq_file *f)
{
    return f->m.n_groups;
}

uint64_t sdc_pq_row_group_rows(const sdc_pq_file *f, size_t group)
{
    return (uint64_t)f->m.groups[group].num_rows;
}

uint64_t sdc_pq_num_rows(const sdc_pq_file *f)
{
    return f->num_rows;
}

/* ---- pages ---- */

/* What one column chunk is being read with. */
typedef struct chunk {
    sdc_pq_file *f;
    const pq_chunk_meta *meta;
    const pq_schema_elem *elem;
    size_t group;
    sdc_pq_column *out;
    sdc_pq_value *dict;
    size_t n_dict;
    int max_def;
    dc_error *err;
} chunk;

static dc_status chunk_error(const chunk *c, dc_status st, const char *what)
{
    return dc_error_set(c->err, st, "%s: column '%s' (row group %zu): %s", c->f->name,
                        c->elem->name, c->group + 1, what);
}

/* Decompresses src[0..n) into a new page of exactly want bytes, owned by
 * the column (text values point into it). */
static dc_status inflate_page(chunk *c, const uint8_t *src, size_t n, size_t want,
                              const uint8_t **page)
{
    sdc_pq_column *o = c->out;
    int codec = c->meta->codec;
    if (codec == PQ_UNCOMPRESSED) {
        if (n != want)
            return chunk_error(c, DC_STATUS_FORMAT,
                               "an uncompressed page whose two sizes differ (corrupt header)");
        *page = src;
        return DC_STATUS_OK;
    }
    if (want > SDC_PQ_MAX_PAGE_BYTES || want > SDC_PQ_MAX_GROUP_BYTES - o->page_bytes)
        return chunk_error(c, DC_STATUS_LIMIT,
                           "decompressed pages over the limit (256 MiB a page, 1 GiB a column "
                           "chunk)");
    if (o->n_pages == o->cap_pages) {
        size_t cap = o->cap_pages ? o->cap_pages * 2 : 8;
        unsigned char **v = dc_reallocarray(o->pages, cap, sizeof *v);
        if (!v)
            return chunk_error(c, DC_STATUS_NOMEM, "out of memory");
        o->pages = v;
        o->cap_pages = cap;
    }
    uint8_t *dst = dc_malloc(want ? want : 1);
    if (!dst)
        return chunk_error(c, DC_STATUS_NOMEM, "out of memory");
    o->pages[o->n_pages++] = dst;
    o->page_bytes += want;
    int ok = 0;
    if (codec == PQ_SNAPPY) {
        size_t got = 0;
        ok = snappy_uncompressed_length((const char *)src, n, &got) == SNAPPY_OK && got == want &&
             snappy_uncompress((const char *)src, n, (char *)dst, &got) == SNAPPY_OK && got == want;
    } else if (codec == PQ_GZIP) {
        z_stream z;
        memset(&z, 0, sizeof z);
        if (n <= UINT32_MAX && want <= UINT32_MAX && inflateInit2(&z, 15 + 32) == Z_OK) {
            z.next_in = (Bytef *)(uintptr_t)src;
            z.avail_in = (uInt)n;
            z.next_out = dst;
            z.avail_out = (uInt)want;
            ok = inflate(&z, Z_FINISH) == Z_STREAM_END && z.total_out == want;
            inflateEnd(&z);
        }
    } else if (codec == PQ_ZSTD) {
        size_t got = ZSTD_decompress(dst, want, src, n);
        ok = !ZSTD_isError(got) && got == want;
    } else {
        char what[160];
        snprintf(what, sizeof what,
                 "compression codec %s is not supported (supported: UNCOMPRESSED, SNAPPY, GZIP, "
                 "ZSTD)",
                 pq_codec_name(codec));
        return chunk_error(c, DC_STATUS_UNSUPPORTED, what);
    }
    if (!ok) {
        char what[160];
        snprintf(what, sizeof what, "a %s page does not decompress to its %zu bytes (corrupt)",
                 pq_codec_name(codec), want);
        return chunk_error(c, DC_STATUS_PARSE, what);
    }
    *page = dst;
    return DC_STATUS_OK;
}

static dc_status read_dictionary(chunk *c, const uint8_t *p, size_t n, const pq_page_header *h)
{
    if (c->dict)
        return chunk_error(c, DC_STATUS_FORMAT, "a second dictionary page");
    if (!h->has_dict || (h->encoding != PQ_PLAIN && h->encoding != PQ_PLAIN_DICTIONARY))
        return chunk_error(c, DC_STATUS_UNSUPPORTED, "a dictionary page that is not PLAIN encoded");
    /* Booleans take a bit, other values at least 4 bytes: more is corrupt. */
    size_t most = c->elem->type == PQ_BOOLEAN ? n * 8 : n / 4;
    if (h->num_values < 0 || (size_t)h->num_values > most ||
        (size_t)h->num_values > SDC_PQ_MAX_GROUP_VALUES)
        return chunk_error(c, DC_STATUS_FORMAT, "a dictionary page with a bad value count");
    c->dict = dc_calloc((size_t)h->num_values + 1, sizeof *c->dict);
    if (!c->dict)
        return chunk_error(c, DC_STATUS_NOMEM, "out of memory");
    c->n_dict = (size_t)h->num_values;
    size_t used;
    if (!pq_plain_decode(c->elem->type, p, n, c->dict, c->n_dict, &used))
        return chunk_error(c, DC_STATUS_PARSE, "the dictionary page is cut short");
    return DC_STATUS_OK;
}

/* The non-null values of a data page (nv of them) from p[0..n). */
static dc_status read_values(chunk *c, int encoding, const uint8_t *p, size_t n, sdc_pq_value *vals,
                             size_t nv)
{
    size_t used;
    int type = c->elem->type;
    if (nv == 0) /* a page of nulls: some writers leave the values out */
        return DC_STATUS_OK;
    if (encoding == PQ_PLAIN) {
        if (!pq_plain_decode(type, p, n, vals, nv, &used))
            return chunk_error(c, DC_STATUS_PARSE, "a PLAIN data page is cut short");
        return DC_STATUS_OK;
    }
    int dict = encoding == PQ_PLAIN_DICTIONARY || encoding == PQ_RLE_DICTIONARY;
    if (!dict && !(encoding == PQ_RLE && type == PQ_BOOLEAN)) {
        char what[200];
        snprintf(what, sizeof what,
                 "encoding %s is not supported (supported: PLAIN, RLE for booleans, "
                 "PLAIN_DICTIONARY, RLE_DICTIONARY)",
                 pq_encoding_name(encoding));
        return chunk_error(c, DC_STATUS_UNSUPPORTED, what);
    }
    if (dict && !c->dict)
        return chunk_error(c, DC_STATUS_FORMAT, "a dictionary-encoded page without a dictionary");
    uint32_t *idx = dc_calloc(nv + 1, sizeof *idx);
    if (!idx)
        return chunk_error(c, DC_STATUS_NOMEM, "out of memory");
    /* Dictionary indices: a bit-width byte, then the hybrid; RLE
     * booleans: a 4-byte length, then the hybrid of 1-bit values. */
    int ok;
    if (dict)
        ok = n >= 1 && pq_rle_decode(p + 1, n - 1, p[0], idx, nv);
    else
        ok = n >= 4 && le32(p) <= n - 4 && pq_rle_decode(p + 4, le32(p), 1, idx, nv);
    for (size_t i = 0; ok && i < nv; i++) {
        if (!dict) {
            vals[i].kind = SDC_PQ_BOOL;
            vals[i].v.i = idx[i];
        } else if (idx[i] < c->n_dict) {
            vals[i] = c->dict[idx[i]];
        } else {
            ok = 0;
        }
    }
    dc_free(idx);
    if (!ok)
        return chunk_error(c, DC_STATUS_PARSE,
                           dict ? "bad dictionary indices (cut short or out of range)"
                                : "bad RLE boolean values (cut short)");
    return DC_STATUS_OK;
}

/* One data page: nv levels/values into out->v[at..at+nv). lv is where the
 * definition levels are (v1: with a 4-byte length; v2: lv_n bytes bare),
 * vp[0..vn) the values. */
static dc_status read_data(chunk *c, size_t at, size_t nv, const uint8_t *lv, size_t lv_n, int v1,
                           int encoding, const uint8_t *vp, size_t vn)
{
    uint32_t *defs = NULL;
    sdc_pq_value *vals = dc_calloc(nv + 1, sizeof *vals);
    if (!vals)
        return chunk_error(c, DC_STATUS_NOMEM, "out of memory");
    size_t present = nv;
    dc_status st = DC_STATUS_OK;
    if (c->max_def) {
        defs = dc_calloc(nv + 1, sizeof *defs);
        int ok = defs != NULL;
        if (ok && v1) {
            ok = lv_n >= 4 && le32(lv) <= lv_n - 4;
            size_t k = ok ? le32(lv) : 0;
            ok = ok && pq_rle_decode(lv + 4, k, 1, defs, nv);
            vp = lv + 4 + k;
            vn = lv_n - 4 - k;
        } else if (ok) {
            ok = pq_rle_decode(lv, lv_n, 1, defs, nv);
        }
        present = 0;
        for (size_t i = 0; ok && i < nv; i++)
            present += defs[i] == 1;
        if (!ok)
            st = chunk_error(c, defs ? DC_STATUS_PARSE : DC_STATUS_NOMEM,
                             defs ? "bad definition levels (cut short or out of range)"
                                  : "out of memory");
    }
    if (st == DC_STATUS_OK)
        st = read_values(c, encoding, vp, vn, vals, present);
    for (size_t i = 0, j = 0; st == DC_STATUS_OK && i < nv; i++) {
        sdc_pq_value *o = &c->out->v[at + i];
        if (defs && defs[i] != 1)
            o->kind = SDC_PQ_NULL;
        else
            *o = vals[j++];
    }
    dc_free(defs);
    dc_free(vals);
    return st;
}

/* One page at p[0..n) after its header h; *rows advances. */
static dc_status read_page(chunk *c, const pq_page_header *h, const uint8_t *p, size_t n,
                           size_t *rows)
{
    const uint8_t *page;
    size_t left = c->out->n - *rows;
    dc_status st;
    if (h->uncompressed_size < 0)
        return chunk_error(c, DC_STATUS_FORMAT, "a page with a negative size");
    size_t un = (size_t)h->uncompressed_size;
    if (h->type == PQ_DICTIONARY_PAGE) {
        if ((st = inflate_page(c, p, n, un, &page)))
            return st;
        return read_dictionary(c, page, un, h);
    }
    if (h->type != PQ_DATA_PAGE && h->type != PQ_DATA_PAGE_V2)
        return DC_STATUS_OK; /* index pages and the like: not needed */
    int v2 = h->type == PQ_DATA_PAGE_V2;
    if ((v2 && !h->has_v2) || (!v2 && !h->has_v1))
        return chunk_error(c, DC_STATUS_FORMAT, "a data page without its page header");
    if (h->num_values < 0 || (size_t)h->num_values > left)
        return chunk_error(c, DC_STATUS_FORMAT,
                           "the data pages hold more values than the row group has rows");
    size_t nv = (size_t)h->num_values;
    if (c->max_def && !v2 && h->def_encoding != PQ_RLE)
        return chunk_error(c, DC_STATUS_UNSUPPORTED,
                           "definition levels not RLE encoded (BIT_PACKED levels are not "
                           "supported)");
    if (!v2) {
        if ((st = inflate_page(c, p, n, un, &page)))
            return st;
        st = read_data(c, *rows, nv, page, un, 1, h->encoding, page, un);
    } else {
        /* v2: levels first, never compressed; then the values. */
        if (h->def_len < 0 || h->rep_len < 0 || (size_t)h->def_len + (size_t)h->rep_len > n ||
            (size_t)h->def_len + (size_t)h->rep_len > un)
            return chunk_error(c, DC_STATUS_FORMAT, "level lengths larger than the page");
        size_t lv = (size_t)h->rep_len + (size_t)h->def_len;
        const uint8_t *vp = p + lv;
        if (h->is_compressed) {
            if ((st = inflate_page(c, p + lv, n - lv, un - lv, &vp)))
                return st;
        } else if (n != un) {
            return chunk_error(c, DC_STATUS_FORMAT, "an uncompressed v2 page whose sizes differ");
        }
        st = read_data(c, *rows, nv, p + h->rep_len, (size_t)h->def_len, 0, h->encoding, vp,
                       un - lv);
    }
    if (st == DC_STATUS_OK)
        *rows += nv;
    return st;
}

/* ---- column chunks ---- */

dc_status sdc_pq_read_column(sdc_pq_file *f, size_t group, size_t col, sdc_pq_column *out,
                             dc_error *err)
{
    chunk c;
    memset(&c, 0, sizeof c);
    c.f = f;
    c.meta = &f->m.groups[group].cols[col];
    c.elem = col_elem(f, col);
    c.group = group;
    c.out = out;
    c.err = err;
    c.max_def = c.elem->repetition == PQ_OPTIONAL;
    size_t rows = (size_t)f->m.groups[group].num_rows;
    if (rows > SDC_PQ_MAX_GROUP_VALUES / (f->n_cols ? f->n_cols : 1))
        return chunk_error(&c, DC_STATUS_LIMIT,
                           "the row group is too large (rows x columns over 64 Mi values)");
    out->v = dc_calloc(rows + 1, sizeof *out->v);
    if (!out->v)
        return chunk_error(&c, DC_STATUS_NOMEM, "out of memory");
    out->n = rows;
    int64_t start = c.meta->data_page_offset;
    if (c.meta->has_dict_offset && c.meta->dict_page_offset > 0 && c.meta->dict_page_offset < start)
        start = c.meta->dict_page_offset;
    int64_t size = c.meta->total_compressed;
    if (start < 4 || size < 0 || (uint64_t)start > f->footer_at ||
        (uint64_t)size > f->footer_at - (uint64_t)start)
        return chunk_error(&c, DC_STATUS_FORMAT,
                           "the column chunk's offset or size lies outside the file");
    size_t pos = (size_t)start, end = pos + (size_t)size, done = 0;
    dc_status st = DC_STATUS_OK;
    while (st == DC_STATUS_OK && done < rows) {
        pq_page_header h;
        size_t used;
        if (pos >= end) {
            char what[160];
            snprintf(what, sizeof what, "the pages hold %zu values, the row group has %zu rows",
                     done, rows);
            st = chunk_error(&c, DC_STATUS_FORMAT, what);
            break;
        }
        if (pq_page_header_read(f->data + pos, end - pos, &h, &used) != DC_STATUS_OK) {
            char what[160];
            snprintf(what, sizeof what, "a corrupt page header at byte %zu", pos);
            st = chunk_error(&c, DC_STATUS_PARSE, what);
            break;
        }
        pos += used;
        if (h.compressed_size < 0 || (size_t)h.compressed_size > end - pos) {
            st = chunk_error(&c, DC_STATUS_PARSE, "a page runs past the end of its column chunk");
            break;
        }
        st = read_page(&c, &h, f->data + pos, (size_t)h.compressed_size, &done);
        pos += (size_t)h.compressed_size;
    }
    dc_free(c.dict);
    /* Unsigned integers stored in signed types. */
    for (size_t i = 0; st == DC_STATUS_OK && i < rows; i++) {
        sdc_pq_value *v = &out->v[i];
        if (v->kind != SDC_PQ_INT)
            continue;
        if (c.elem->converted == PQ_CONV_UINT_32)
            v->v.i = (uint32_t)v->v.i;
        else if (c.elem->converted == PQ_CONV_UINT_64 && v->v.i < 0) {
            v->kind = SDC_PQ_REAL;
            v->v.d = (double)(uint64_t)v->v.i;
        }
    }
    return st;
}

void sdc_pq_column_free(sdc_pq_column *c)
{
    for (size_t i = 0; i < c->n_pages; i++)
        dc_free(c->pages[i]);
    dc_free(c->pages);
    dc_free(c->v);
    memset(c, 0, sizeof *c);
}
