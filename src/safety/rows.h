/* rows.h - CSV, JSONL and JSON files as a list of JSON objects (internal).
 *
 * The loaders see every format the same way: one jansson object per data
 * row (CSV values are strings keyed by the header), each with the line it
 * starts on (for Parquet, its 1-based row number). Row-level problems are
 * skipped and counted when asked to. */
#ifndef SDC_SAFETY_ROWS_H
#define SDC_SAFETY_ROWS_H

#include <jansson.h>
#include <stddef.h>

#include "deepconf/dc_status.h"

typedef enum sdc_rec_format {
    SDC_REC_CSV,
    SDC_REC_JSONL,
    SDC_REC_JSON_LIST,  /* [ {...}, ... ] */
    SDC_REC_JSON_DICT,  /* { "id": "text", ... }: records {"key", "value"} */
    SDC_REC_JSON_JUDGE, /* { ..., "instances": [ {...}, ... ] } */
    SDC_REC_PARQUET,    /* flat Parquet: one record per row, line = row number */
} sdc_rec_format;

typedef struct sdc_records {
    sdc_rec_format format;
    json_t **v;   /* owned references */
    size_t *line; /* 1-based start line; 0 where unknown (JUDGE-BENCH) */
    size_t n, cap;
    json_t *keys;   /* CSV header, or the first record's keys: array of strings */
    size_t skipped; /* rows skipped (skip_bad) */
    dc_error first_skip;
} sdc_records;

typedef struct sdc_rec_params {
    const char *name; /* file name for messages */
    size_t max_field;
    size_t max_rows;
    int skip_bad;
} sdc_rec_params;

/* Reads data[0..len) into r (zeroed by the caller). Errors name the file
 * and line. Free r with sdc_records_free, also after an error. */
dc_status sdc_records_read(const char *data, size_t len, const sdc_rec_params *p, sdc_records *r,
                           dc_error *err);
void sdc_records_free(sdc_records *r);

/* "N" (a line number), "row N" (Parquet) or "record N" for "file:WHERE:"
 * messages (static per call slot: 4 live). */
const char *sdc_records_where(const sdc_records *r, size_t i);

#endif
