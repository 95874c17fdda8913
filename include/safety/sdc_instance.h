/* sdc_instance.h - one benchmark prompt, and a list of them.
 *
 * Every loader (sdc_dataset.h) and the synthetic benchmark
 * (sdc_synthetic.h) produce the same shape: an id, the prompt (plain text,
 * or chat messages), the label (unsafe = the model should refuse, safe =
 * it should comply), a harm category, the source benchmark, and the
 * original row's other fields as a JSON object, kept for the results.
 */
#ifndef SDC_INSTANCE_H
#define SDC_INSTANCE_H

#include <stddef.h>

#include "deepconf/dc_status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sdc_label {
    SDC_LABEL_UNKNOWN = 0,
    SDC_LABEL_UNSAFE = 1, /* the model should refuse */
    SDC_LABEL_SAFE = 2,   /* the model should comply */
} sdc_label;

/* "unknown", "unsafe", "safe". Static storage; never NULL. */
const char *sdc_label_name(sdc_label label);

/* Benchmark names, used in flags, config and results. */
typedef enum sdc_benchmark {
    SDC_BENCHMARK_AUTO = 0, /* detect from the file (loader parameter only) */
    SDC_BENCHMARK_TOXICCHAT,
    SDC_BENCHMARK_HARMBENCH,
    SDC_BENCHMARK_WILDGUARD,
    SDC_BENCHMARK_XSTEST,
    SDC_BENCHMARK_ADVBENCH,
    SDC_BENCHMARK_JAILBREAKBENCH,
    SDC_BENCHMARK_STRONGREJECT,
    SDC_BENCHMARK_REFUSAL_DIRECTION,
    SDC_BENCHMARK_GENERIC,
    SDC_BENCHMARK_SYNTHETIC,
} sdc_benchmark;

/* "toxicchat", "harmbench", "wildguard", "xstest", "advbench",
 * "jailbreakbench", "strongreject", "refusal-direction", "generic",
 * "synthetic" ("auto" for SDC_BENCHMARK_AUTO). Static; never NULL. */
const char *sdc_benchmark_name(sdc_benchmark b);

/* Parses a name as above (case-sensitive). DC_STATUS_OK, or
 * DC_STATUS_NOT_FOUND for an unknown name. */
dc_status sdc_benchmark_from_name(const char *name, sdc_benchmark *out);

/* One message of a chat prompt. */
typedef struct sdc_message {
    char *role; /* "system", "user", "assistant", ... */
    char *content;
} sdc_message;

typedef struct sdc_instance {
    char *id;              /* unique within its list; never NULL */
    char *prompt;          /* the prompt text; for a chat prompt, the last
                                 user message. Never NULL. */
    sdc_message *messages; /* chat prompt, or NULL for plain text */
    size_t n_messages;
    sdc_label label;
    char *category;          /* harm category or type; "" when the file has none */
    char *split;             /* "train", "val", "test", or "" */
    sdc_benchmark benchmark; /* where it came from */
    char *extra_json;        /* the row's other fields, a compact JSON object; never NULL */
    size_t line;             /* 1-based line of the row in its file (0: none) */
} sdc_instance;

/* A list of instances. All strings are owned by the list. */
typedef struct sdc_dataset {
    sdc_instance *items;
    size_t n;
    size_t cap;
    sdc_benchmark benchmark; /* the detected or requested benchmark */
    size_t rows_read;        /* data rows seen in the file */
    size_t rows_skipped;     /* bad rows skipped (skip_bad_rows) */
    size_t rows_excluded;    /* rows left out by an option (copyright, ...) */
} sdc_dataset;

/* An empty list; free with sdc_dataset_free. Returns NULL when out of memory. */
sdc_dataset *sdc_dataset_new(sdc_benchmark benchmark);

/* Frees the list, its instances and their strings. NULL is a no-op. */
void sdc_dataset_free(sdc_dataset *ds);

/* Appends a copy of inst (all strings copied; NULL category/split/extra
 * become "", "" and "{}"). DC_STATUS_INVALID_ARG when id or prompt is
 * NULL; DC_STATUS_NOMEM. */
dc_status sdc_dataset_push(sdc_dataset *ds, const sdc_instance *inst);

/* Counts by label; any pointer may be NULL. */
void sdc_dataset_count_labels(const sdc_dataset *ds, size_t *unsafe, size_t *safe, size_t *unknown);

/* ---- selection ---- */

typedef struct sdc_select_params {
    size_t num_instances; /* keep at most this many (0: all) */
    int shuffle;          /* shuffle before taking (with seed) */
    unsigned long long seed;
    int stratify;           /* take from each label in proportion to its share */
    const char *categories; /* comma-separated categories to keep (NULL: all) */
    const char *split;      /* keep only this split (NULL: all) */
} sdc_select_params;

/* num_instances 0, no shuffle, seed 0, no stratification, no filters. */
sdc_select_params sdc_select_default_params(void);

/* Filters, shuffles and truncates ds in place, in that order. The same
 * seed gives the same selection on any machine (splitmix64 PRNG).
 * Stratified selection gives each label floor(N * share) places and
 * hands the rest out by largest remainder, keeping the list order.
 * Returns DC_STATUS_OK or DC_STATUS_NOMEM. */
dc_status sdc_dataset_select(sdc_dataset *ds, const sdc_select_params *p, dc_error *err);

#ifdef __cplusplus
}
#endif

#endif /* SDC_INSTANCE_H */
