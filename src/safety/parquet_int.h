/* parquet_int.h - pieces of the Parquet reader shared by its files and its
 * tests (internal): the footer and page headers as the Thrift compact
 * protocol decodes them (parquet_thrift.c), and the value encodings
 * (parquet_decode.c). parquet.c puts them together. */
#ifndef SDC_SAFETY_PARQUET_INT_H
#define SDC_SAFETY_PARQUET_INT_H

#include <stddef.h>
#include <stdint.h>

#include "safety/parquet.h"

/* ---- enums of parquet.thrift (the numbers are the file format's) ---- */

enum {
    PQ_BOOLEAN = 0,
    PQ_INT32 = 1,
    PQ_INT64 = 2,
    PQ_INT96 = 3,
    PQ_FLOAT = 4,
    PQ_DOUBLE = 5,
    PQ_BYTE_ARRAY = 6,
    PQ_FIXED_LEN_BYTE_ARRAY = 7,
};

enum { PQ_REQUIRED = 0, PQ_OPTIONAL = 1, PQ_REPEATED = 2 };

enum {
    PQ_PLAIN = 0,
    PQ_PLAIN_DICTIONARY = 2,
    PQ_RLE = 3,
    PQ_BIT_PACKED = 4,
    PQ_RLE_DICTIONARY = 8,
};

enum { PQ_UNCOMPRESSED = 0, PQ_SNAPPY = 1, PQ_GZIP = 2, PQ_ZSTD = 6 };

enum { PQ_DATA_PAGE = 0, PQ_INDEX_PAGE = 1, PQ_DICTIONARY_PAGE = 2, PQ_DATA_PAGE_V2 = 3 };

/* ConvertedType and LogicalType values the reader looks at. */
enum { PQ_CONV_UTF8 = 0, PQ_CONV_DECIMAL = 5, PQ_CONV_UINT_32 = 13, PQ_CONV_UINT_64 = 14 };
enum { PQ_LOGICAL_DECIMAL = 5 };

const char *pq_type_name(int type);
const char *pq_encoding_name(int encoding);
const char *pq_codec_name(int codec);

/* ---- the footer (parquet_thrift.c) ---- */

typedef struct pq_schema_elem {
    char *name; /* owned, NUL-terminated */
    int has_type, type;
    int repetition; /* -1 when absent (the root) */
    int32_t num_children;
    int converted; /* -1 when absent */
    int logical;   /* the LogicalType union's field id; 0 when absent */
} pq_schema_elem;

typedef struct pq_chunk_meta {
    int has_meta; /* ColumnMetaData present (it may live in another file otherwise) */
    int has_file_path;
    int type, codec;
    size_t path_len; /* elements of path_in_schema */
    int64_t num_values;
    int64_t total_compressed;
    int64_t data_page_offset;
    int has_dict_offset;
    int64_t dict_page_offset;
} pq_chunk_meta;

typedef struct pq_row_group {
    pq_chunk_meta *cols;
    size_t n_cols;
    int64_t num_rows;
} pq_row_group;

typedef struct pq_meta {
    pq_schema_elem *schema;
    size_t n_schema;
    int64_t num_rows;
    pq_row_group *groups;
    size_t n_groups;
    int encrypted; /* encryption_algorithm present */
} pq_meta;

/* Decodes FileMetaData from p[0..n). On error *where gets a short text
 * ("schema element 3", "row group 2 column 1") and the status is PARSE
 * or NOMEM. Free m with pq_meta_free, also after an error. */
dc_status pq_meta_read(const uint8_t *p, size_t n, pq_meta *m, char *where, size_t where_size);
void pq_meta_free(pq_meta *m);

typedef struct pq_page_header {
    int type;
    int32_t uncompressed_size, compressed_size;
    int has_v1, has_v2, has_dict;
    int32_t num_values;                            /* v1, v2 and dictionary pages */
    int encoding;                                  /* of the values */
    int def_encoding;                              /* v1 */
    int32_t num_nulls, num_rows, def_len, rep_len; /* v2 */
    int is_compressed;                             /* v2; default 1 */
} pq_page_header;

/* Decodes a PageHeader at p[0..n): *used gets its size. PARSE when it is
 * not valid Thrift or runs past n. */
dc_status pq_page_header_read(const uint8_t *p, size_t n, pq_page_header *h, size_t *used);

/* ---- value encodings (parquet_decode.c) ---- */

/* The RLE / bit-packed hybrid of levels, dictionary indices and RLE
 * booleans: decodes exactly count values of bit_width (0..32) bits from
 * p[0..n) into out. Returns 0 when the data ends early or is malformed. */
int pq_rle_decode(const uint8_t *p, size_t n, int bit_width, uint32_t *out, size_t count);

/* PLAIN values of a physical type: count values from p[0..n) into out
 * (kinds per type; BYTE_ARRAY text points into p). Returns 0 when the data
 * ends early. *used gets the bytes read. */
int pq_plain_decode(int type, const uint8_t *p, size_t n, sdc_pq_value *out, size_t count,
                    size_t *used);

#endif
