/* parquet_thrift.c - the Parquet footer and page headers, decoded from
 * the Thrift compact protocol by hand (only the fields the reader uses;
 * every other field is skipped by its wire type). */
#include <stdio.h>
#include <string.h>

#include "safety/parquet_int.h"

/* ---- names ---- */

const char *pq_type_name(int type)
{
    static const char *const names[] = {"BOOLEAN", "INT32",  "INT64",      "INT96",
                                        "FLOAT",   "DOUBLE", "BYTE_ARRAY", "FIXED_LEN_BYTE_ARRAY"};
    return type >= 0 && type < 8 ? names[type] : "unknown type";
}

const char *pq_encoding_name(int encoding)
{
    static const char *const names[] = {
        "PLAIN",          "GROUP_VAR_INT",       "PLAIN_DICTIONARY",        "RLE",
        "BIT_PACKED",     "DELTA_BINARY_PACKED", "DELTA_LENGTH_BYTE_ARRAY", "DELTA_BYTE_ARRAY",
        "RLE_DICTIONARY", "BYTE_STREAM_SPLIT"};
    return encoding >= 0 && encoding < 10 ? names[encoding] : "unknown encoding";
}

const char *pq_codec_name(int codec)
{
    static const char *const names[] = {"UNCOMPRESSED", "SNAPPY", "GZIP", "LZO",
                                        "BROTLI",       "LZ4",    "ZSTD", "LZ4_RAW"};
    return codec >= 0 && codec < 8 ? names[codec] : "unknown codec";
}

/* ---- the compact protocol ---- */

enum {
    T_STOP = 0,
    T_TRUE = 1,
    T_FALSE = 2,
    T_BYTE = 3,
    T_I16 = 4,
    T_I32 = 5,
    T_I64 = 6,
    T_DOUBLE = 7,
    T_BINARY = 8,
    T_LIST = 9,
    T_SET = 10,
    T_MAP = 11,
    T_STRUCT = 12,
};

#define T_MAX_DEPTH 32

typedef struct tr {
    const uint8_t *p, *end;
    int bad;   /* malformed or truncated: every read after it fails */
    int depth; /* nesting of structs and containers being skipped */
} tr;

static int tr_varint(tr *t, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (t->p >= t->end)
            break;
        uint8_t b = *t->p++;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return 1;
        }
    }
    t->bad = 1;
    *v = 0;
    return 0;
}

static int64_t tr_zigzag(tr *t)
{
    uint64_t u;
    tr_varint(t, &u);
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

/* A binary or string: borrowed from the buffer. */
static const uint8_t *tr_binary(tr *t, size_t *n)
{
    uint64_t len;
    *n = 0;
    if (!tr_varint(t, &len) || len > (uint64_t)(t->end - t->p)) {
        t->bad = 1;
        return NULL;
    }
    const uint8_t *s = t->p;
    t->p += len;
    *n = (size_t)len;
    return s;
}

/* A list or set header: element type and count. The count is checked
 * against the bytes left (every element takes at least one byte, except
 * booleans of a list, which take one too in the compact protocol). */
static size_t tr_list(tr *t, int *elem)
{
    if (t->p >= t->end) {
        t->bad = 1;
        return 0;
    }
    uint8_t h = *t->p++;
    *elem = h & 0x0f;
    uint64_t n = h >> 4;
    if (n == 15 && !tr_varint(t, &n))
        return 0;
    if (n > (uint64_t)(t->end - t->p)) {
        t->bad = 1;
        return 0;
    }
    return (size_t)n;
}

/* The next field header of a struct: 0 at its end (or on an error). */
static int tr_field(tr *t, int16_t *last, int *type, int16_t *id)
{
    if (t->bad || t->p >= t->end) {
        t->bad = 1;
        return 0;
    }
    uint8_t h = *t->p++;
    *type = h & 0x0f;
    if (*type == T_STOP)
        return 0;
    int delta = h >> 4;
    if (delta) {
        *id = (int16_t)(*last + delta);
    } else {
        int64_t v = tr_zigzag(t);
        if (v < INT16_MIN || v > INT16_MAX)
            t->bad = 1;
        *id = (int16_t)v;
    }
    *last = *id;
    return !t->bad;
}

static void tr_skip(tr *t, int type);

static void tr_skip_struct(tr *t)
{
    int16_t last = 0, id;
    int type;
    if (++t->depth > T_MAX_DEPTH)
        t->bad = 1;
    while (!t->bad && tr_field(t, &last, &type, &id))
        tr_skip(t, type);
    t->depth--;
}

static void tr_skip(tr *t, int type)
{
    uint64_t u;
    size_t n;
    int elem;
    switch (type) {
    case T_TRUE:
    case T_FALSE: break; /* the value is in the type */
    case T_BYTE:
        if (t->p >= t->end)
            t->bad = 1;
        else
            t->p++;
        break;
    case T_I16:
    case T_I32:
    case T_I64: tr_varint(t, &u); break;
    case T_DOUBLE:
        if (t->end - t->p < 8)
            t->bad = 1;
        else
            t->p += 8;
        break;
    case T_BINARY: tr_binary(t, &n); break;
    case T_LIST:
    case T_SET:
        n = tr_list(t, &elem);
        if (++t->depth > T_MAX_DEPTH)
            t->bad = 1;
        for (size_t i = 0; i < n && !t->bad; i++)
            tr_skip(t, elem == T_TRUE || elem == T_FALSE ? T_BYTE : elem);
        t->depth--;
        break;
    case T_MAP:
        if (!tr_varint(t, &u) || u > (uint64_t)(t->end - t->p)) {
            t->bad = 1;
            break;
        }
        if (u) {
            if (t->p >= t->end) {
                t->bad = 1;
                break;
            }
            uint8_t kv = *t->p++;
            if (++t->depth > T_MAX_DEPTH)
                t->bad = 1;
            for (uint64_t i = 0; i < u && !t->bad; i++) {
                tr_skip(t, kv >> 4);
                tr_skip(t, kv & 0x0f);
            }
            t->depth--;
        }
        break;
    case T_STRUCT: tr_skip_struct(t); break;
    default: t->bad = 1; break;
    }
}

/* Reads an integer field of any integer wire type; a wrong type is an error. */
static int64_t tr_int(tr *t, int type)
{
    if (type == T_I16 || type == T_I32 || type == T_I64)
        return tr_zigzag(t);
    if (type == T_BYTE && t->p < t->end)
        return (int8_t)*t->p++;
    t->bad = 1;
    return 0;
}

static int32_t tr_int32(tr *t, int type)
{
    int64_t v = tr_int(t, type);
    if (v < INT32_MIN || v > INT32_MAX) {
        t->bad = 1;
        return 0;
    }
    return (int32_t)v;
}

/* ---- FileMetaData ---- */

/* LogicalType is a union: the id of its one field says which. */
static int read_logical(tr *t)
{
    int16_t last = 0, id;
    int type, which = 0;
    if (++t->depth > T_MAX_DEPTH)
        t->bad = 1;
    while (!t->bad && tr_field(t, &last, &type, &id)) {
        if (!which)
            which = id;
        tr_skip(t, type);
    }
    t->depth--;
    return which;
}

/* Returns 0 when out of memory. A missing name makes the footer bad. */
static int read_schema_elem(tr *t, pq_schema_elem *e)
{
    int16_t last = 0, id;
    int type;
    e->repetition = -1;
    e->converted = -1;
    while (tr_field(t, &last, &type, &id)) {
        switch (type == T_STRUCT || type == T_BINARY ? -id : id) {
        case 1:
            e->type = tr_int32(t, type);
            e->has_type = 1;
            break;
        case 3: e->repetition = tr_int32(t, type); break;
        case -4: {
            size_t n;
            const uint8_t *s = tr_binary(t, &n);
            if (s && !e->name && !(e->name = dc_strndup((const char *)s, n)))
                return 0;
            break;
        }
        case 5: e->num_children = tr_int32(t, type); break;
        case 6: e->converted = tr_int32(t, type); break;
        case -10: e->logical = read_logical(t); break;
        default: tr_skip(t, type); break;
        }
    }
    if (!e->name)
        t->bad = 1;
    return 1;
}

static void read_column_meta(tr *t, pq_chunk_meta *c)
{
    int16_t last = 0, id;
    int type, elem;
    c->has_meta = 1;
    while (tr_field(t, &last, &type, &id)) {
        switch (id) {
        case 1: c->type = tr_int32(t, type); break;
        case 3:
            if (type != T_LIST) {
                t->bad = 1;
                break;
            }
            c->path_len = tr_list(t, &elem);
            for (size_t i = 0; i < c->path_len && !t->bad; i++)
                tr_skip(t, elem);
            break;
        case 4: c->codec = tr_int32(t, type); break;
        case 5: c->num_values = tr_int(t, type); break;
        case 7: c->total_compressed = tr_int(t, type); break;
        case 9: c->data_page_offset = tr_int(t, type); break;
        case 11:
            c->dict_page_offset = tr_int(t, type);
            c->has_dict_offset = 1;
            break;
        default: tr_skip(t, type); break;
        }
    }
}

static void read_column_chunk(tr *t, pq_chunk_meta *c)
{
    int16_t last = 0, id;
    int type;
    while (tr_field(t, &last, &type, &id)) {
        if (id == 1 && type == T_BINARY) {
            c->has_file_path = 1;
            tr_skip(t, type);
        } else if (id == 3 && type == T_STRUCT) {
            read_column_meta(t, c);
        } else {
            tr_skip(t, type);
        }
    }
}

static dc_status read_row_group(tr *t, pq_row_group *g, size_t index, char *where, size_t size)
{
    int16_t last = 0, id;
    int type, elem;
    while (tr_field(t, &last, &type, &id)) {
        if (id == 1 && type == T_LIST && !g->cols) {
            size_t n = tr_list(t, &elem);
            if (t->bad || elem != T_STRUCT)
                break;
            g->cols = dc_calloc(n + 1, sizeof *g->cols);
            if (!g->cols)
                return DC_STATUS_NOMEM;
            for (size_t i = 0; i < n && !t->bad; i++) {
                snprintf(where, size, "row group %zu column %zu", index + 1, i + 1);
                read_column_chunk(t, &g->cols[i]);
                g->n_cols++;
            }
        } else if (id == 3) {
            g->num_rows = tr_int(t, type);
        } else {
            tr_skip(t, type);
        }
    }
    if (t->bad)
        snprintf(where, size, "row group %zu", index + 1);
    return DC_STATUS_OK;
}

dc_status pq_meta_read(const uint8_t *p, size_t n, pq_meta *m, char *where, size_t size)
{
    tr t = {p, p + n, 0, 0};
    int16_t last = 0, id;
    int type, elem;
    memset(m, 0, sizeof *m);
    snprintf(where, size, "the file metadata");
    while (tr_field(&t, &last, &type, &id)) {
        if (id == 2 && type == T_LIST && !m->schema) {
            size_t k = tr_list(&t, &elem);
            if (t.bad || elem != T_STRUCT)
                break;
            m->schema = dc_calloc(k + 1, sizeof *m->schema);
            if (!m->schema)
                return DC_STATUS_NOMEM;
            for (size_t i = 0; i < k && !t.bad; i++) {
                snprintf(where, size, "schema element %zu", i + 1);
                m->n_schema++;
                if (!read_schema_elem(&t, &m->schema[i]))
                    return DC_STATUS_NOMEM;
            }
        } else if (id == 3) {
            m->num_rows = tr_int(&t, type);
        } else if (id == 4 && type == T_LIST && !m->groups) {
            size_t k = tr_list(&t, &elem);
            if (t.bad || elem != T_STRUCT)
                break;
            m->groups = dc_calloc(k + 1, sizeof *m->groups);
            if (!m->groups)
                return DC_STATUS_NOMEM;
            for (size_t i = 0; i < k && !t.bad; i++) {
                if (read_row_group(&t, &m->groups[i], i, where, size) != DC_STATUS_OK)
                    return DC_STATUS_NOMEM;
                m->n_groups++;
            }
        } else if (id == 8) {
            m->encrypted = 1;
            tr_skip(&t, type);
        } else {
            tr_skip(&t, type);
        }
    }
    return t.bad ? DC_STATUS_PARSE : DC_STATUS_OK;
}

void pq_meta_free(pq_meta *m)
{
    for (size_t i = 0; i < m->n_schema; i++)
        dc_free(m->schema[i].name);
    dc_free(m->schema);
    for (size_t i = 0; i < m->n_groups; i++)
        dc_free(m->groups[i].cols);
    dc_free(m->groups);
    memset(m, 0, sizeof *m);
}

/* ---- PageHeader ---- */

static void read_data_page_v1(tr *t, pq_page_header *h)
{
    int16_t last = 0, id;
    int type;
    h->has_v1 = 1;
    while (tr_field(t, &last, &type, &id)) {
        switch (id) {
        case 1: h->num_values = tr_int32(t, type); break;
        case 2: h->encoding = tr_int32(t, type); break;
        case 3: h->def_encoding = tr_int32(t, type); break;
        default: tr_skip(t, type); break;
        }
    }
}

static void read_dict_page(tr *t, pq_page_header *h)
{
    int16_t last = 0, id;
    int type;
    h->has_dict = 1;
    while (tr_field(t, &last, &type, &id)) {
        switch (id) {
        case 1: h->num_values = tr_int32(t, type); break;
        case 2: h->encoding = tr_int32(t, type); break;
        default: tr_skip(t, type); break;
        }
    }
}

static void read_data_page_v2(tr *t, pq_page_header *h)
{
    int16_t last = 0, id;
    int type;
    h->has_v2 = 1;
    while (tr_field(t, &last, &type, &id)) {
        switch (id) {
        case 1: h->num_values = tr_int32(t, type); break;
        case 2: h->num_nulls = tr_int32(t, type); break;
        case 3: h->num_rows = tr_int32(t, type); break;
        case 4: h->encoding = tr_int32(t, type); break;
        case 5: h->def_len = tr_int32(t, type); break;
        case 6: h->rep_len = tr_int32(t, type); break;
        case 7:
            if (type == T_TRUE || type == T_FALSE)
                h->is_compressed = type == T_TRUE;
            else
                t->bad = 1;
            break;
        default: tr_skip(t, type); break;
        }
    }
}

dc_status pq_page_header_read(const uint8_t *p, size_t n, pq_page_header *h, size_t *used)
{
    tr t = {p, p + n, 0, 0};
    int16_t last = 0, id;
    int type;
    memset(h, 0, sizeof *h);
    h->type = -1;
    h->is_compressed = 1;
    while (tr_field(&t, &last, &type, &id)) {
        switch (type == T_STRUCT ? -id : id) {
        case 1: h->type = tr_int32(&t, type); break;
        case 2: h->uncompressed_size = tr_int32(&t, type); break;
        case 3: h->compressed_size = tr_int32(&t, type); break;
        case -5: read_data_page_v1(&t, h); break;
        case -7: read_dict_page(&t, h); break;
        case -8: read_data_page_v2(&t, h); break;
        default: tr_skip(&t, type); break;
        }
    }
    *used = (size_t)(t.p - p);
    return t.bad ? DC_STATUS_PARSE : DC_STATUS_OK;
}
