/* records.h - writing the records of a run (internal; reading is in
 * include/safety/sdc_records.h; both are implemented in records.c). */
#ifndef SDC_SAFETY_RECORDS_H
#define SDC_SAFETY_RECORDS_H

#include <jansson.h>

#include "deepconf/dc_backend.h"
#include "safety/sdc_config.h"
#include "safety/sdc_instance.h"
#include "safety/sdc_judge.h"
#include "safety/sdc_records.h"
#include "safety/sdc_refusal.h"
#include "safety/sdc_strategy.h"
#include "util/buf.h"

/* Appends one traces.jsonl line: the trace g of inst as the strategy
 * ("generated" in a compare run) saw it, with its description ti and its
 * refusal verdict rr (NULL: none, as in classify mode; its probability is
 * the one refusal_mode decides by), and its tokens as save says
 * (docs/formats.md: the layouts of "tokens"). */
void sdc_record_trace(dc_buf *b, const sdc_instance *inst, const char *strategy,
                      const dc_gen_trace *g, const sdc_trace_info *ti, const sdc_refusal_result *rr,
                      sdc_refusal_mode refusal_mode, sdc_save_tokens save);

/* Appends one predictions.jsonl line: what strategy sp concluded for inst
 * (outcome o, seconds charged), judged against the instance's label. */
void sdc_record_prediction(dc_buf *b, const sdc_instance *inst, const sdc_config *cfg,
                           const sdc_strategy_params *sp, const sdc_outcome *o, double seconds);

/* Adds a judge's verdict to the line just appended to b (a trace or a
 * prediction): "judge", "judge_model", "judge_trace" (the trace judged;
 * -1: none), "judge_output" and the verdict's fields (judge_int.h), or
 * only "judge" and "judge_trace" when v is NULL (nothing to judge), with
 * "judge_error" when error is not NULL (the pair could not be judged). */
void sdc_record_judge(dc_buf *b, const char *kind, const char *model, int64_t trace,
                      const sdc_judge_verdict *v, const char *output, const char *error);

/* What a run.json holds besides the configuration. */
typedef struct sdc_run_record {
    const char *fingerprint;
    int argc; /* the command line; borrowed */
    char *const *argv;
    const dc_model_info *model;
    const char *model_spec, *model_path, *model_sha256; /* "" or NULL: unknown */
    int demo; /* 0 a real model, 1 the random demo model, 2 the trained one */
    const char *benchmark, *data_file;
    size_t instances, rows_read;
    const char *refusal_json; /* the refusal detector's settings (JSON object); NULL: none */
    unsigned slots, n_ctx;    /* llama: traces decoded together and context per trace (their
                              batch shapes can move the last bits of a long trace); 0: n/a */
} sdc_run_record;

/* run.json's object (caller owns the reference). NULL when out of memory. */
json_t *sdc_record_run_json(const sdc_config *cfg, const sdc_run_record *r);

#endif
