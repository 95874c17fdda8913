/* sdc_dataset.h - benchmark loaders: a file in, a list of instances out.
 *
 * Formats: CSV (RFC 4180: quoted multi-line fields, CRLF or LF, a UTF-8
 * BOM, empty header names), JSONL (one object per line), JSON (a list
 * of objects, an object of id -> string, or a JUDGE-BENCH style object
 * with "instances"), and flat Parquet (the magic "PAR1" or a .parquet
 * name; one row per Parquet row, nulls as JSON null; see
 * docs/datasets.md for what is read and what is refused with
 * DC_STATUS_UNSUPPORTED). The format comes from the file's first bytes
 * and its name; the benchmark from the CSV header or the first
 * record's keys (see docs/datasets.md for the table), unless
 * params.benchmark names it. A file that matches no benchmark or more
 * than one is an error that lists what was seen.
 *
 * Defaults leave out: HarmBench copyright behaviours (include_copyright);
 * nothing else. Labels: harmful/unsafe/toxic/1/true -> unsafe;
 * safe/unharmful/benign/harmless/0/false -> safe; empty/null -> unknown.
 *
 * Errors name the file, the line (1-based) and what was expected:
 *   DC_STATUS_IO      the file cannot be read
 *   DC_STATUS_PARSE   malformed CSV/JSON (unbalanced quote, truncated line),
 *                     a truncated or corrupt Parquet file
 *   DC_STATUS_UNSUPPORTED  a Parquet feature the reader does not have (the
 *                     message names the column and the feature)
 *   DC_STATUS_FORMAT  a row with the wrong number of fields, a missing or
 *                     mistyped field, an unknown or ambiguous format
 *   DC_STATUS_UTF8    invalid UTF-8 (the line and column of the first bad byte)
 *   DC_STATUS_LIMIT   a field over max_field_bytes, a file over
 *                     max_file_bytes, more than max_rows rows
 * With skip_bad_rows, rows with PARSE/FORMAT/UTF8/LIMIT errors that can be
 * skipped on their own are counted in rows_skipped instead (the first
 * such message is still written into err, with status DC_STATUS_OK).
 */
#ifndef SDC_DATASET_H
#define SDC_DATASET_H

#include <stddef.h>

#include "deepconf/dc_status.h"
#include "safety/sdc_instance.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SDC_MAX_FIELD_BYTES_DEFAULT ((size_t)1 << 20) /* 1 MiB */
#define SDC_MAX_FILE_BYTES_DEFAULT ((size_t)1 << 30)  /* 1 GiB */
#define SDC_MAX_ROWS_DEFAULT ((size_t)10000000)

typedef struct sdc_load_params {
    sdc_benchmark benchmark; /* SDC_BENCHMARK_AUTO: detect */
    int skip_bad_rows;       /* skip and count bad rows instead of failing */
    size_t max_field_bytes;  /* longest field (default 1 MiB) */
    size_t max_file_bytes;   /* largest file (default 1 GiB) */
    size_t max_rows;         /* most data rows (default 10 million) */

    /* toxicchat */
    int human_annotated_only; /* keep rows with human_annotation true (CSV/JSONL) */
    int jailbreak_category;   /* category "jailbreaking" for jailbreak rows */
    /* harmbench */
    int include_copyright; /* keep FunctionalCategory == copyright */

    /* generic (all borrowed, valid during the call) */
    const char *prompt_field;   /* default "prompt" */
    const char *label_field;    /* default "label"; a missing field gives unknown */
    const char *category_field; /* default "category" */
    const char *id_field;       /* default "id"; missing: the row number */
    const char *unsafe_values;  /* comma list, replaces the default unsafe words */
    const char *safe_values;    /* comma list, replaces the default safe words */
} sdc_load_params;

/* Detection on, no skipping, the default caps, generic fields as above. */
sdc_load_params sdc_load_default_params(void);

/* Loads path into a new list. On DC_STATUS_OK the caller frees *out with
 * sdc_dataset_free; on error *out is NULL and err says why. */
dc_status sdc_dataset_load(const char *path, const sdc_load_params *params, sdc_dataset **out,
                           dc_error *err);

/* The same on a buffer; name is used in messages and, like a path, for
 * the format and split hints ("harmless_val.json", ".csv"). data is
 * borrowed for the call. */
dc_status sdc_dataset_load_buffer(const char *name, const char *data, size_t len,
                                  const sdc_load_params *params, sdc_dataset **out, dc_error *err);

#ifdef __cplusplus
}
#endif

#endif /* SDC_DATASET_H */
