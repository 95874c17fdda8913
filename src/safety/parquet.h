/* parquet.h - a small reader of flat Parquet files (internal).
 *
 * What it reads: a schema of top-level REQUIRED or OPTIONAL columns of
 * BOOLEAN, INT32, INT64, FLOAT, DOUBLE and BYTE_ARRAY (text); data pages
 * v1 and v2; PLAIN, RLE (booleans, levels), PLAIN_DICTIONARY and
 * RLE_DICTIONARY encodings; UNCOMPRESSED, SNAPPY, GZIP and ZSTD column
 * chunks; any number of row groups; nulls through definition levels.
 * Anything else (nested or repeated columns, INT96, FIXED_LEN_BYTE_ARRAY,
 * DECIMAL, the DELTA and BYTE_STREAM_SPLIT encodings, other codecs,
 * encrypted footers) is DC_STATUS_UNSUPPORTED with a message naming the
 * file, the column and what is not supported.
 *
 * Every offset and size read from the file is checked against the buffer
 * and against the caps below before it is used. The reader never prints;
 * it does not know about JSON: records.c turns its values into rows. */
#ifndef SDC_SAFETY_PARQUET_H
#define SDC_SAFETY_PARQUET_H

#include <stddef.h>
#include <stdint.h>

#include "deepconf/dc_status.h"

#define SDC_PQ_MAX_COLUMNS 4096
#define SDC_PQ_MAX_PAGE_BYTES ((size_t)256 << 20)  /* one decompressed page */
#define SDC_PQ_MAX_GROUP_BYTES ((size_t)1 << 30)   /* decompressed pages of one row group */
#define SDC_PQ_MAX_GROUP_VALUES ((size_t)64 << 20) /* rows x columns of one row group */

typedef struct sdc_pq_file sdc_pq_file; /* opaque */

typedef enum sdc_pq_kind {
    SDC_PQ_NULL,
    SDC_PQ_BOOL, /* v.i is 0 or 1 */
    SDC_PQ_INT,  /* v.i */
    SDC_PQ_REAL, /* v.d */
    SDC_PQ_TEXT, /* v.s, v.n bytes, not NUL-terminated and not checked for UTF-8 */
} sdc_pq_kind;

typedef struct sdc_pq_value {
    sdc_pq_kind kind;
    uint32_t n;
    union {
        int64_t i;
        double d;
        const char *s;
    } v;
} sdc_pq_value;

/* The values of one column in one row group, one per row. Text values
 * point into the file buffer or into the pages the column owns. */
typedef struct sdc_pq_column {
    sdc_pq_value *v;
    size_t n;
    unsigned char **pages; /* decompressed pages (owned) */
    size_t n_pages, cap_pages;
    size_t page_bytes; /* their total size */
} sdc_pq_column;

/* Reads the footer and checks the schema. data is borrowed and must stay
 * valid until sdc_pq_close; name is used in messages. More than max_rows
 * rows is DC_STATUS_LIMIT. Errors: PARSE (not Parquet, truncated, a
 * footer that is not valid Thrift), FORMAT (inconsistent metadata),
 * UNSUPPORTED, LIMIT, NOMEM. On DC_STATUS_OK the caller frees *out with
 * sdc_pq_close. */
dc_status sdc_pq_open(const void *data, size_t len, const char *name, size_t max_rows,
                      sdc_pq_file **out, dc_error *err);
void sdc_pq_close(sdc_pq_file *f);

size_t sdc_pq_num_columns(const sdc_pq_file *f);
/* Borrowed, NUL-terminated, valid UTF-8, until sdc_pq_close. */
const char *sdc_pq_column_name(const sdc_pq_file *f, size_t col);
size_t sdc_pq_num_row_groups(const sdc_pq_file *f);
uint64_t sdc_pq_row_group_rows(const sdc_pq_file *f, size_t group);
uint64_t sdc_pq_num_rows(const sdc_pq_file *f);

/* Decodes column col of row group group into out (zeroed by the caller):
 * out->n is the row group's row count. Errors name the file, the column
 * and the row group. Free out with sdc_pq_column_free, also after an
 * error. */
dc_status sdc_pq_read_column(sdc_pq_file *f, size_t group, size_t col, sdc_pq_column *out,
                             dc_error *err);
void sdc_pq_column_free(sdc_pq_column *c);

#endif
