/* records.h - writing the records of a run (internal; reading is in
 * include/safety/sdc_records.h; both are implemented in records.c). */
#ifndef SDC_SAFETY_RECORDS_H
#define SDC_SAFETY_RECORDS_H

#include <jansson.h>

#include "deepconf/dc_backend.h"
#include "safety/sdc_config.h"
#include "safety/sdc_instance.h"
#include "safety/sdc_records.h"
#include "safety/sdc_refusal.h"
#include "safety/sdc_strategy.h"
#include "util/buf.h"

/* Appends one traces.jsonl line: the trace g of inst as the strategy
 * ("generated" in a compare run) saw it, with its description ti and its
 * refusal verdict rr (NULL: none, as in classify mode), and its tokens as
 * save says (docs/experiment.md: the layouts of "tokens"). */
void sdc_record_trace(sdc_buf *b, const sdc_instance *inst, const char *strategy,
                      const dc_gen_trace *g, const sdc_trace_info *ti, const sdc_refusal_result *rr,
                      sdc_save_tokens save);

/* Appends one predictions.jsonl line: what strategy sp concluded for inst
 * (outcome o, seconds charged), judged against the instance's label. */
void sdc_record_prediction(sdc_buf *b, const sdc_instance *inst, const sdc_config *cfg,
                           const sdc_strategy_params *sp, const sdc_outcome *o, double seconds);

/* What a run.json holds besides the configuration. */
typedef struct sdc_run_record {
    const char *fingerprint;
    int argc; /* the command line; borrowed */
    char *const *argv;
    const dc_model_info *model;
    const char *model_spec, *model_path, *model_sha256; /* "" or NULL: unknown */
    int demo;
    const char *benchmark, *data_file;
    size_t instances, rows_read;
} sdc_run_record;

/* run.json's object (caller owns the reference). NULL when out of memory. */
json_t *sdc_record_run_json(const sdc_config *cfg, const sdc_run_record *r);

#endif
