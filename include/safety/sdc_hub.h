/* sdc_hub.h - real benchmarks by name, from the Hugging Face Hub.
 *
 * One table names, for every benchmark the loaders know, the Hub dataset
 * repo that holds a reference copy, the revision it is pinned to (a commit
 * id where one is known, else "main"), the file, its format, the datasets
 * config and split the file is, and its licence. sdc_hub_pull() downloads
 * that file through dc_hf_pull_file() into the Hub's cache
 * ($HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub, folder
 * datasets--OWNER--NAME), shared with Python tools: the same endpoint,
 * token, offline mode, resume and sha256 check as model downloads. The
 * file then loads with sdc_dataset_load() and params.benchmark set to the
 * entry's benchmark (the Hub copies of HarmBench, AdvBench, StrongREJECT
 * and XSTest have their own columns; the loaders know them only when the
 * benchmark is named, never by detection). See docs/datasets.md. */
#ifndef SDC_HUB_H
#define SDC_HUB_H

#include <stddef.h>

#include "deepconf/dc_hf.h"
#include "deepconf/dc_status.h"
#include "safety/sdc_instance.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sdc_hub_source {
    sdc_benchmark benchmark;
    const char *repo;     /* "lmsys/toxic-chat"; NULL: not on the Hub */
    const char *revision; /* the pinned commit, or "main" where none is known */
    const char *path;     /* the file in the repo */
    const char *format;   /* "csv" or "parquet" */
    const char *config;   /* the datasets config the file belongs to */
    const char *split;
    const char *licence;
    int gated;        /* 1: the Hub serves it only with HF_TOKEN of an account that
                         accepted its terms */
    const char *note; /* where it is when not on the Hub, or a caveat; "" when none */
} sdc_hub_source;

/* The table, one entry per benchmark (generic and synthetic have none).
 * Static storage; *n gets the count. */
const sdc_hub_source *sdc_hub_sources(size_t *n);

/* The entry of a benchmark name ("toxicchat"), or NULL. Static. */
const sdc_hub_source *sdc_hub_source_find(const char *name);

/* Makes the file of spec, "NAME" or "NAME@REVISION" (a branch, tag or
 * commit; default the table's pinned revision), available locally and
 * returns its path in out->path (caller frees with dc_hf_result_clear).
 * params as for dc_hf_pull (endpoint, token, home, offline, progress);
 * params->revision is ignored. *src (when not NULL) gets the entry.
 * Errors: NOT_FOUND for an unknown name (the message lists the known
 * ones), UNSUPPORTED for a benchmark that is not on the Hub, INVALID_ARG
 * for a bad revision, and every error of dc_hf_pull_file. */
dc_status sdc_hub_pull(const char *spec, const dc_hf_params *params, dc_hf_result *out,
                       const sdc_hub_source **src, dc_error *err);

#ifdef __cplusplus
}
#endif

#endif /* SDC_HUB_H */
