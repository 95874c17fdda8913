/* records.c - CSV (libcsv), JSONL and JSON (jansson) into row objects. */
#include "safety/rows.h"

#include <csv.h>
#include <stdio.h>
#include <string.h>

#include "safety/parquet.h"
#include "safety/text.h"
#include "util/buf.h"

/* ---- shared ---- */

void sdc_records_free(sdc_records *r)
{
    for (size_t i = 0; i < r->n; i++)
        json_decref(r->v[i]);
    dc_free(r->v);
    dc_free(r->line);
    json_decref(r->keys);
    memset(r, 0, sizeof *r);
}

const char *sdc_records_where(const sdc_records *r, size_t i)
{
    static char slots[4][48];
    static unsigned next;
    char *s = slots[next++ % 4];
    if (r->format == SDC_REC_PARQUET)
        snprintf(s, 48, "row %zu", r->line[i]);
    else if (r->line[i])
        snprintf(s, 48, "%zu", r->line[i]);
    else
        snprintf(s, 48, "record %zu", i + 1);
    return s;
}

static dc_status push(sdc_records *r, json_t *obj, size_t line, const sdc_rec_params *p,
                      dc_error *err)
{
    if (r->n >= p->max_rows) {
        json_decref(obj);
        return dc_error_set(err, DC_STATUS_LIMIT, "%s:%zu: more than %zu rows (the row limit)",
                            p->name, line, p->max_rows);
    }
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 256;
        json_t **v = dc_reallocarray(r->v, cap, sizeof *v);
        if (v)
            r->v = v;
        size_t *l = v ? dc_reallocarray(r->line, cap, sizeof *l) : NULL;
        if (!v || !l) {
            json_decref(obj);
            return dc_error_set(err, DC_STATUS_NOMEM, "%s: out of memory", p->name);
        }
        r->line = l;
        r->cap = cap;
    }
    r->v[r->n] = obj;
    r->line[r->n++] = line;
    return DC_STATUS_OK;
}

/* A row error: fatal, or counted when skipping (first message kept). */
static dc_status row_error(sdc_records *r, const sdc_rec_params *p, dc_error *err, dc_status st,
                           const char *msg)
{
    if (!p->skip_bad || st == DC_STATUS_NOMEM || st == DC_STATUS_IO)
        return dc_error_set(err, st, "%s", msg);
    if (r->skipped++ == 0)
        dc_error_set(&r->first_skip, st, "%s", msg);
    return DC_STATUS_OK;
}

static size_t count_nl(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += s[i] == '\n';
    return c;
}

/* Line and column (1-based) of offset off in s, counting from line base. */
static void line_col(const char *s, size_t off, size_t base, size_t *line, size_t *col)
{
    size_t l = base, c = 1;
    for (size_t i = 0; i < off; i++) {
        if (s[i] == '\n') {
            l++;
            c = 1;
        } else {
            c++;
        }
    }
    *line = l;
    *col = c;
}

/* Longest string anywhere in v over max: its key path in *key. */
static int over_cap(json_t *v, size_t max, const char **key, size_t *len, int depth)
{
    if (depth > 32)
        return 0;
    if (json_is_string(v)) {
        *len = json_string_length(v);
        return *len > max;
    }
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x)
        {
            if (over_cap(x, max, key, len, depth + 1)) {
                if (depth == 0)
                    *key = k;
                return 1;
            }
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
        {
            if (over_cap(x, max, key, len, depth + 1))
                return 1;
        }
    }
    return 0;
}

static dc_status check_fields(sdc_records *r, const sdc_rec_params *p, json_t *obj, size_t line,
                              int *ok, dc_error *err)
{
    const char *key = "?";
    size_t len = 0;
    *ok = 1;
    if (!over_cap(obj, p->max_field, &key, &len, 0))
        return DC_STATUS_OK;
    *ok = 0;
    char msg[DC_ERROR_MSG_MAX];
    snprintf(msg, sizeof msg,
             "%s:%zu: field '%s' is %zu bytes, over the limit of %zu bytes (--max-field-bytes)",
             p->name, line, key, len, p->max_field);
    return row_error(r, p, err, DC_STATUS_LIMIT, msg);
}

static dc_status set_keys_from(sdc_records *r, json_t *obj, const char *name, dc_error *err)
{
    if (r->keys)
        return DC_STATUS_OK;
    r->keys = json_array();
    if (!r->keys)
        return dc_error_set(err, DC_STATUS_NOMEM, "%s: out of memory", name);
    const char *k;
    json_t *x;
    json_object_foreach(obj, k, x)
    {
        if (json_array_append_new(r->keys, json_string(k)))
            return dc_error_set(err, DC_STATUS_NOMEM, "%s: out of memory", name);
    }
    return DC_STATUS_OK;
}

/* ---- CSV ---- */

typedef struct csv_ctx {
    sdc_records *r;
    const sdc_rec_params *p;
    dc_error *err;
    dc_status st;  /* fatal error */
    char **fields; /* the current row */
    size_t *flen;
    size_t nf, capf;
    size_t cur_line; /* line being fed */
    size_t rec_line; /* line the current row started on */
    int pending;     /* a row has started but not ended */
    int bad;         /* the current row already failed */
    char bad_msg[DC_ERROR_MSG_MAX];
    dc_status bad_st;
    char **header;
    size_t nh;
} csv_ctx;

static void csv_row_reset(csv_ctx *c)
{
    for (size_t i = 0; i < c->nf; i++)
        dc_free(c->fields[i]);
    c->nf = 0;
    c->bad = 0;
}

static void csv_mark_bad(csv_ctx *c, dc_status st, const char *fmt, size_t a, size_t b)
{
    if (c->bad)
        return;
    c->bad = 1;
    c->bad_st = st;
    snprintf(c->bad_msg, sizeof c->bad_msg, fmt, c->p->name, a, b);
}

static void csv_field(void *s, size_t len, void *data)
{
    csv_ctx *c = data;
    if (c->st != DC_STATUS_OK)
        return;
    const char *f = s ? s : "";
    size_t col = c->nf + 1;
    size_t start_line = c->cur_line - count_nl(f, len);
    if (c->nf == 0 && !c->pending)
        c->rec_line = start_line;
    c->pending = 1;
    if (c->nf == c->capf) {
        size_t cap = c->capf ? c->capf * 2 : 16;
        char **v = dc_reallocarray(c->fields, cap, sizeof *v);
        size_t *l = v ? dc_reallocarray(c->flen, cap, sizeof *l) : NULL;
        if (v)
            c->fields = v;
        if (!l) {
            c->st = dc_error_set(c->err, DC_STATUS_NOMEM, "%s: out of memory", c->p->name);
            return;
        }
        c->flen = l;
        c->capf = cap;
    }
    if (len > c->p->max_field) {
        char msg[DC_ERROR_MSG_MAX];
        snprintf(
            msg, sizeof msg,
            "%%s:%%zu: field %zu is %zu bytes, over the limit of %zu bytes (--max-field-bytes)",
            col, len, c->p->max_field);
        csv_mark_bad(c, DC_STATUS_LIMIT, msg, start_line, 0);
        f = "";
        len = 0;
    }
    size_t bad_off;
    if (!sdc_utf8_valid(f, len, &bad_off)) {
        size_t l, cc;
        line_col(f, bad_off, start_line, &l, &cc);
        char msg[DC_ERROR_MSG_MAX];
        snprintf(msg, sizeof msg,
                 "%%s:%%zu: invalid UTF-8 in field %zu (byte 0x%02X); expected UTF-8 text", col,
                 (unsigned)(unsigned char)f[bad_off]);
        csv_mark_bad(c, DC_STATUS_UTF8, msg, l, 0);
    }
    /* Quoted fields keep CRLF line breaks; the text uses "\n". */
    char *v = dc_malloc(len + 1);
    if (!v) {
        c->st = dc_error_set(c->err, DC_STATUS_NOMEM, "%s: out of memory", c->p->name);
        return;
    }
    size_t w = 0;
    for (size_t i = 0; i < len; i++)
        if (!(f[i] == '\r' && i + 1 < len && f[i + 1] == '\n'))
            v[w++] = f[i];
    v[w] = '\0';
    c->fields[c->nf] = v;
    c->flen[c->nf++] = w;
}

static void csv_row(int term, void *data)
{
    csv_ctx *c = data;
    (void)term;
    if (c->st != DC_STATUS_OK)
        return;
    c->pending = 0;
    if (c->bad) {
        c->st = row_error(c->r, c->p, c->err, c->bad_st, c->bad_msg);
        csv_row_reset(c);
        return;
    }
    if (!c->header) { /* the first row names the columns */
        c->header = c->fields;
        c->nh = c->nf;
        dc_free(c->flen);
        c->fields = NULL;
        c->flen = NULL;
        c->nf = c->capf = 0;
        c->r->keys = json_array();
        for (size_t i = 0; c->r->keys && i < c->nh; i++)
            json_array_append_new(c->r->keys, json_string(c->header[i]));
        return;
    }
    if (c->nf != c->nh) {
        dc_buf cols;
        dc_buf_init(&cols, 200);
        for (size_t i = 0; i < c->nh; i++)
            dc_buf_printf(&cols, "%s%s", i ? "," : "", c->header[i]);
        char msg[DC_ERROR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s:%zu: expected %zu fields (%s%s), got %zu", c->p->name,
                 c->rec_line, c->nh, cols.data ? cols.data : "", cols.st ? "..." : "", c->nf);
        dc_buf_free(&cols);
        c->st = row_error(c->r, c->p, c->err, DC_STATUS_FORMAT, msg);
        csv_row_reset(c);
        return;
    }
    json_t *obj = json_object();
    if (!obj) {
        c->st = dc_error_set(c->err, DC_STATUS_NOMEM, "%s: out of memory", c->p->name);
        return;
    }
    for (size_t i = 0; i < c->nf; i++) {
        const char *k = c->header[i];
        char alt[64];
        if (json_object_get(obj, k)) { /* a repeated column name gets its position */
            snprintf(alt, sizeof alt, "%.40s_%zu", k, i + 1);
            k = alt;
        }
        if (json_object_set_new(obj, k, json_stringn(c->fields[i], c->flen[i]))) {
            json_decref(obj);
            c->st = dc_error_set(c->err, DC_STATUS_NOMEM, "%s: out of memory", c->p->name);
            return;
        }
    }
    csv_row_reset(c);
    c->st = push(c->r, obj, c->rec_line, c->p, c->err);
}

#define CSV_BLOCK ((size_t)1 << 18)

static int csv_no_space(unsigned char ch)
{
    (void)ch;
    return 0;
}

static int csv_is_term(unsigned char ch)
{
    return ch == '\n' || ch == '\r';
}

static dc_status read_csv(const char *d, size_t n, const sdc_rec_params *p, sdc_records *r,
                          dc_error *err)
{
    struct csv_parser parser;
    if (csv_init(&parser, CSV_STRICT | CSV_STRICT_FINI) != 0)
        return dc_error_set(err, DC_STATUS_NOMEM, "%s: out of memory", p->name);
    csv_set_space_func(&parser, csv_no_space);
    csv_set_term_func(&parser, csv_is_term);
    /* libcsv grows a field by a fixed block; 128 bytes makes big fields quadratic. */
    csv_set_blk_size(&parser, CSV_BLOCK);
    csv_ctx c;
    memset(&c, 0, sizeof c);
    c.r = r;
    c.p = p;
    c.err = err;
    r->format = SDC_REC_CSV;
    size_t pos = 0;
    while (pos < n && c.st == DC_STATUS_OK) {
        const char *nl = memchr(d + pos, '\n', n - pos);
        size_t k = nl ? (size_t)(nl - (d + pos)) + 1 : n - pos;
        c.cur_line++;
        if (!c.pending)
            c.rec_line = c.cur_line;
        if (csv_parse(&parser, d + pos, k, csv_field, csv_row, &c) != k && c.st == DC_STATUS_OK) {
            char msg[DC_ERROR_MSG_MAX];
            if (csv_error(&parser) == CSV_EPARSE)
                snprintf(msg, sizeof msg,
                         "%s:%zu: malformed CSV (row starting on line %zu): a quote inside an "
                         "unquoted field or text after a closing quote; expected a delimiter "
                         "or the end of the line after a quoted field",
                         p->name, c.cur_line, c.rec_line);
            else
                snprintf(msg, sizeof msg, "%s:%zu: CSV reader failed: %s", p->name, c.cur_line,
                         csv_strerror(csv_error(&parser)));
            c.st = row_error(r, p, err,
                             csv_error(&parser) == CSV_ENOMEM ? DC_STATUS_NOMEM : DC_STATUS_PARSE,
                             msg);
            /* Resume at the next line with a fresh parser. */
            csv_free(&parser);
            csv_init(&parser, CSV_STRICT | CSV_STRICT_FINI);
            csv_set_space_func(&parser, csv_no_space);
            csv_set_term_func(&parser, csv_is_term);
            csv_set_blk_size(&parser, CSV_BLOCK);
            csv_row_reset(&c);
            c.pending = 0;
        }
        pos += k;
    }
    if (c.st == DC_STATUS_OK && csv_fini(&parser, csv_field, csv_row, &c) != 0 &&
        c.st == DC_STATUS_OK) {
        char msg[DC_ERROR_MSG_MAX];
        snprintf(msg, sizeof msg,
                 "%s:%zu: unterminated quoted field: the row starting on line %zu opens a "
                 "quote that is never closed (expected a closing '\"')",
                 p->name, c.cur_line, c.rec_line);
        c.st = row_error(r, p, err, DC_STATUS_PARSE, msg);
    }
    csv_free(&parser);
    csv_row_reset(&c);
    dc_free(c.fields);
    dc_free(c.flen);
    for (size_t i = 0; i < c.nh; i++)
        dc_free(c.header[i]);
    dc_free(c.header);
    if (c.st == DC_STATUS_OK && !c.header && n > 0 && !r->keys)
        return dc_error_set(err, DC_STATUS_FORMAT, "%s:1: expected a CSV header row", p->name);
    if (c.st == DC_STATUS_OK && !r->keys)
        return dc_error_set(err, DC_STATUS_FORMAT, "%s: empty file: expected a CSV header row",
                            p->name);
    return c.st;
}

/* ---- JSON ---- */

static dc_status check_utf8_all(const char *d, size_t n, const sdc_rec_params *p, dc_error *err)
{
    size_t bad;
    if (sdc_utf8_valid(d, n, &bad))
        return DC_STATUS_OK;
    size_t l, c;
    line_col(d, bad, 1, &l, &c);
    return dc_error_set(err, DC_STATUS_UTF8,
                        "%s:%zu: invalid UTF-8 at column %zu (byte 0x%02X); expected UTF-8 text",
                        p->name, l, c, (unsigned)(unsigned char)d[bad]);
}

static dc_status json_parse_error(const char *name, size_t base_line, const json_error_t *je,
                                  dc_error *err)
{
    return dc_error_set(err, DC_STATUS_PARSE, "%s:%zu: invalid JSON at column %d: %s", name,
                        base_line + (je->line > 0 ? (size_t)je->line - 1 : 0), je->column,
                        je->text);
}

static dc_status take_record(sdc_records *r, const sdc_rec_params *p, json_t *v, size_t line,
                             dc_error *err)
{
    if (!json_is_object(v)) {
        json_decref(v);
        char msg[DC_ERROR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s:%zu: expected a JSON object (a record)", p->name, line);
        return row_error(r, p, err, DC_STATUS_FORMAT, msg);
    }
    int ok;
    dc_status st = check_fields(r, p, v, line, &ok, err);
    if (st != DC_STATUS_OK || !ok) {
        json_decref(v);
        return st;
    }
    st = set_keys_from(r, v, p->name, err);
    if (st != DC_STATUS_OK) {
        json_decref(v);
        return st;
    }
    return push(r, v, line, p, err);
}

static dc_status read_jsonl(const char *d, size_t n, const sdc_rec_params *p, sdc_records *r,
                            dc_error *err)
{
    r->format = SDC_REC_JSONL;
    size_t pos = 0, line = 0;
    while (pos < n) {
        const char *nl = memchr(d + pos, '\n', n - pos);
        size_t k = nl ? (size_t)(nl - (d + pos)) : n - pos;
        const char *s = d + pos;
        pos += k + (nl ? 1 : 0);
        line++;
        size_t e = k;
        while (e > 0 && (s[e - 1] == '\r' || s[e - 1] == ' ' || s[e - 1] == '\t'))
            e--;
        size_t b = 0;
        while (b < e && (s[b] == ' ' || s[b] == '\t'))
            b++;
        if (b == e)
            continue;
        char msg[DC_ERROR_MSG_MAX];
        size_t bad;
        if (!sdc_utf8_valid(s, e, &bad)) {
            snprintf(msg, sizeof msg,
                     "%s:%zu: invalid UTF-8 at column %zu (byte 0x%02X); expected UTF-8 text",
                     p->name, line, bad + 1, (unsigned)(unsigned char)s[bad]);
            dc_status st = row_error(r, p, err, DC_STATUS_UTF8, msg);
            if (st != DC_STATUS_OK)
                return st;
            continue;
        }
        json_error_t je;
        json_t *v = json_loadb(s + b, e - b, JSON_ALLOW_NUL, &je);
        if (!v) {
            snprintf(msg, sizeof msg,
                     "%s:%zu: invalid JSON at column %d: %s; expected one JSON object per "
                     "line%s",
                     p->name, line, je.column + (int)b, je.text,
                     !nl ? " (the last line may be truncated)" : "");
            dc_status st = row_error(r, p, err, DC_STATUS_PARSE, msg);
            if (st != DC_STATUS_OK)
                return st;
            continue;
        }
        dc_status st = take_record(r, p, v, line, err);
        if (st != DC_STATUS_OK)
            return st;
    }
    if (!r->keys && r->skipped == 0)
        return dc_error_set(err, DC_STATUS_FORMAT, "%s: no records: expected JSON objects",
                            p->name);
    return DC_STATUS_OK;
}

static size_t skip_ws(const char *d, size_t n, size_t pos, size_t *line)
{
    while (pos < n && (d[pos] == ' ' || d[pos] == '\t' || d[pos] == '\n' || d[pos] == '\r')) {
        if (d[pos] == '\n')
            (*line)++;
        pos++;
    }
    return pos;
}

static dc_status read_json_list(const char *d, size_t n, size_t pos, size_t line,
                                const sdc_rec_params *p, sdc_records *r, dc_error *err)
{
    r->format = SDC_REC_JSON_LIST;
    pos = skip_ws(d, n, pos + 1, &line); /* after '[' */
    if (pos < n && d[pos] == ']')
        return dc_error_set(err, DC_STATUS_FORMAT, "%s:%zu: empty list: expected records", p->name,
                            line);
    for (;;) {
        if (pos >= n)
            return dc_error_set(err, DC_STATUS_PARSE,
                                "%s:%zu: unexpected end of file: expected a record and ']' "
                                "(the file is truncated)",
                                p->name, line);
        if (d[pos] != '{' && d[pos] != '[') {
            json_error_t je;
            json_t *v = json_loadb(d + pos, n - pos, JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK, &je);
            json_decref(v);
            return dc_error_set(err, DC_STATUS_FORMAT,
                                "%s:%zu: expected a JSON object (a record) in the list", p->name,
                                line);
        }
        json_error_t je;
        json_t *v = json_loadb(d + pos, n - pos, JSON_DISABLE_EOF_CHECK | JSON_ALLOW_NUL, &je);
        if (!v)
            return json_parse_error(p->name, line, &je, err);
        size_t used = (size_t)je.position;
        size_t start = line;
        line += count_nl(d + pos, used);
        pos += used;
        dc_status st = take_record(r, p, v, start, err);
        if (st != DC_STATUS_OK)
            return st;
        pos = skip_ws(d, n, pos, &line);
        if (pos < n && d[pos] == ',') {
            pos = skip_ws(d, n, pos + 1, &line);
            continue;
        }
        if (pos < n && d[pos] == ']') {
            pos = skip_ws(d, n, pos + 1, &line);
            if (pos < n)
                return dc_error_set(err, DC_STATUS_PARSE,
                                    "%s:%zu: text after the closing ']': expected the end of "
                                    "the file",
                                    p->name, line);
            return DC_STATUS_OK;
        }
        return dc_error_set(err, DC_STATUS_PARSE, "%s:%zu: expected ',' or ']' after a record%s",
                            p->name, line, pos >= n ? " (the file is truncated)" : "");
    }
}

static dc_status read_json_object(const char *d, size_t n, const sdc_rec_params *p, sdc_records *r,
                                  dc_error *err)
{
    json_error_t je;
    json_t *root = json_loadb(d, n, JSON_ALLOW_NUL, &je);
    if (!root)
        return json_parse_error(p->name, 1, &je, err);
    dc_status st = DC_STATUS_OK;
    json_t *inst = json_object_get(root, "instances");
    if (json_is_array(inst)) {
        r->format = SDC_REC_JSON_JUDGE;
        size_t i;
        json_t *x;
        json_array_foreach(inst, i, x)
        {
            if (st != DC_STATUS_OK)
                break;
            json_incref(x);
            if (!json_is_object(x)) {
                json_decref(x);
                char msg[DC_ERROR_MSG_MAX];
                snprintf(msg, sizeof msg, "%s: instances[%zu]: expected a JSON object", p->name, i);
                st = row_error(r, p, err, DC_STATUS_FORMAT, msg);
                continue;
            }
            int ok;
            st = check_fields(r, p, x, 0, &ok, err);
            if (st == DC_STATUS_OK && ok &&
                (st = set_keys_from(r, x, p->name, err)) == DC_STATUS_OK)
                st = push(r, x, 0, p, err);
            else
                json_decref(x);
        }
        json_decref(root);
        if (st == DC_STATUS_OK && r->n == 0 && r->skipped == 0)
            st = dc_error_set(err, DC_STATUS_FORMAT, "%s: \"instances\" is empty", p->name);
        return st;
    }
    /* An object of id -> text (HarmBench targets). */
    r->format = SDC_REC_JSON_DICT;
    const char *k;
    json_t *x;
    json_object_foreach(root, k, x)
    {
        if (!json_is_string(x)) {
            st = dc_error_set(err, DC_STATUS_FORMAT,
                              "%s: key \"%.100s\": expected a list of records, an object with "
                              "\"instances\", or an object whose values are strings",
                              p->name, k);
            json_decref(root); /* k lives in root */
            return st;
        }
        json_t *rec = json_pack("{s:s, s:O}", "key", k, "value", x);
        if (!rec) {
            json_decref(root);
            return dc_error_set(err, DC_STATUS_NOMEM, "%s: out of memory", p->name);
        }
        int ok;
        st = check_fields(r, p, rec, 0, &ok, err);
        if (st == DC_STATUS_OK && ok && (st = set_keys_from(r, rec, p->name, err)) == DC_STATUS_OK)
            st = push(r, rec, 0, p, err);
        else
            json_decref(rec);
        if (st != DC_STATUS_OK)
            break;
    }
    json_decref(root);
    if (st == DC_STATUS_OK && r->n == 0 && r->skipped == 0)
        st = dc_error_set(err, DC_STATUS_FORMAT, "%s: empty object: expected records", p->name);
    return st;
}

/* ---- Parquet ---- */

/* A value as JSON: NULL for a null; *bad_msg set for a row error. */
static json_t *pq_json(const sdc_pq_value *v, const char *col, size_t row, const sdc_rec_params *p,
                       dc_status *bad, char *msg, size_t size)
{
    size_t off;
    switch (v->kind) {
    case SDC_PQ_NULL: return json_null();
    case SDC_PQ_BOOL: return json_boolean(v->v.i);
    case SDC_PQ_INT: return json_integer((json_int_t)v->v.i);
    case SDC_PQ_REAL: return json_real(v->v.d);
    case SDC_PQ_TEXT:
        if (v->n > p->max_field) {
            *bad = DC_STATUS_LIMIT;
            snprintf(msg, size,
                     "%s:row %zu: field '%s' is %u bytes, over the limit of %zu bytes "
                     "(--max-field-bytes)",
                     p->name, row, col, (unsigned)v->n, p->max_field);
            return NULL;
        }
        if (!sdc_utf8_valid(v->v.s, v->n, &off)) {
            *bad = DC_STATUS_UTF8;
            snprintf(msg, size,
                     "%s:row %zu: invalid UTF-8 in column '%s' (byte 0x%02X at %zu); expected "
                     "UTF-8 text",
                     p->name, row, col, (unsigned)(unsigned char)v->v.s[off], off);
            return NULL;
        }
        return json_stringn(v->v.s, v->n);
    }
    return NULL;
}

/* The rows of one row group, its columns decoded in cols. */
static dc_status pq_rows(sdc_records *r, const sdc_rec_params *p, const sdc_pq_file *f,
                         const sdc_pq_column *cols, size_t first_row, size_t n, dc_error *err)
{
    size_t nc = sdc_pq_num_columns(f);
    for (size_t i = 0; i < n; i++) {
        size_t row = first_row + i + 1;
        json_t *obj = json_object();
        if (!obj)
            return dc_error_set(err, DC_STATUS_NOMEM, "%s: out of memory", p->name);
        dc_status bad = DC_STATUS_OK;
        char msg[DC_ERROR_MSG_MAX];
        for (size_t c = 0; c < nc && bad == DC_STATUS_OK; c++) {
            const char *col = sdc_pq_column_name(f, c);
            json_t *v = pq_json(&cols[c].v[i], col, row, p, &bad, msg, sizeof msg);
            if (bad == DC_STATUS_OK && (!v || json_object_set_new(obj, col, v))) {
                json_decref(obj);
                return dc_error_set(err, DC_STATUS_NOMEM, "%s: out of memory", p->name);
            }
        }
        dc_status st;
        if (bad != DC_STATUS_OK) {
            json_decref(obj);
            st = row_error(r, p, err, bad, msg);
        } else {
            st = push(r, obj, row, p, err);
        }
        if (st != DC_STATUS_OK)
            return st;
    }
    return DC_STATUS_OK;
}

static dc_status read_parquet(const char *d, size_t n, const sdc_rec_params *p, sdc_records *r,
                              dc_error *err)
{
    r->format = SDC_REC_PARQUET;
    sdc_pq_file *f;
    dc_status st = sdc_pq_open(d, n, p->name, p->max_rows, &f, err);
    if (st != DC_STATUS_OK)
        return st;
    size_t nc = sdc_pq_num_columns(f);
    r->keys = json_array();
    for (size_t c = 0; r->keys && c < nc; c++)
        if (json_array_append_new(r->keys, json_string(sdc_pq_column_name(f, c))))
            st = dc_error_set(err, DC_STATUS_NOMEM, "%s: out of memory", p->name);
    if (!r->keys)
        st = dc_error_set(err, DC_STATUS_NOMEM, "%s: out of memory", p->name);
    sdc_pq_column *cols = dc_calloc(nc, sizeof *cols);
    if (!cols && st == DC_STATUS_OK)
        st = dc_error_set(err, DC_STATUS_NOMEM, "%s: out of memory", p->name);
    size_t first_row = 0;
    for (size_t g = 0; st == DC_STATUS_OK && g < sdc_pq_num_row_groups(f); g++) {
        for (size_t c = 0; st == DC_STATUS_OK && c < nc; c++)
            st = sdc_pq_read_column(f, g, c, &cols[c], err);
        size_t rows = (size_t)sdc_pq_row_group_rows(f, g);
        if (st == DC_STATUS_OK)
            st = pq_rows(r, p, f, cols, first_row, rows, err);
        first_row += rows;
        for (size_t c = 0; c < nc; c++)
            sdc_pq_column_free(&cols[c]);
    }
    dc_free(cols);
    sdc_pq_close(f);
    if (st == DC_STATUS_OK && r->n == 0 && r->skipped == 0)
        st = dc_error_set(err, DC_STATUS_FORMAT, "%s: the Parquet file has no rows", p->name);
    return st;
}

/* ---- entry ---- */

static int ends_with_ci(const char *s, const char *suf)
{
    size_t n = strlen(s), k = strlen(suf);
    if (n < k)
        return 0;
    for (size_t i = 0; i < k; i++) {
        char a = s[n - k + i], b = suf[i];
        if (a >= 'A' && a <= 'Z')
            a = (char)(a - 'A' + 'a');
        if (a != b)
            return 0;
    }
    return 1;
}

dc_status sdc_records_read(const char *data, size_t len, const sdc_rec_params *p, sdc_records *r,
                           dc_error *err)
{
    if ((len >= 4 && !memcmp(data, "PAR1", 4)) || ends_with_ci(p->name, ".parquet"))
        return read_parquet(data, len, p, r, err);
    if (len >= 3 && !memcmp(data, "\xEF\xBB\xBF", 3)) {
        data += 3;
        len -= 3;
    }
    size_t line = 1;
    size_t pos = skip_ws(data, len, 0, &line);
    if (pos == len)
        return dc_error_set(err, DC_STATUS_FORMAT, "%s: empty file: expected records", p->name);
    int json_like = data[pos] == '{' || data[pos] == '[';
    if (ends_with_ci(p->name, ".jsonl") || ends_with_ci(p->name, ".ndjson"))
        return read_jsonl(data, len, p, r, err);
    if (ends_with_ci(p->name, ".csv") || !json_like)
        return read_csv(data, len, p, r, err);
    if (data[pos] == '[') {
        dc_status st = check_utf8_all(data, len, p, err);
        return st ? st : read_json_list(data, len, pos, line, p, r, err);
    }
    /* '{': a whole-file object, or JSONL (one object per line). */
    const char *nl = memchr(data + pos, '\n', len - pos);
    if (!ends_with_ci(p->name, ".json") && nl) {
        json_error_t je;
        json_t *v = json_loadb(data + pos, (size_t)(nl - (data + pos)), 0, &je);
        if (v) {
            json_decref(v);
            return read_jsonl(data, len, p, r, err);
        }
    }
    dc_status st = check_utf8_all(data, len, p, err);
    return st ? st : read_json_object(data, len, p, r, err);
}
