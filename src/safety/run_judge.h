/* run_judge.h - the runner's judge hook (internal): a guard model's
 * verdict on a trace's response, or on the response behind a
 * prediction's answer, added to the record just written. */
#ifndef SDC_SAFETY_RUN_JUDGE_H
#define SDC_SAFETY_RUN_JUDGE_H

#include "safety/sdc_instance.h"
#include "safety/sdc_judge.h"
#include "safety/sdc_strategy.h"
#include "util/buf.h"

typedef struct sdc_run_judge {
    sdc_judge_session *session; /* NULL: no judge; borrowed */
    sdc_judge_kind kind;
    int answer_only; /* judge.target answer: only the traces behind predictions */
} sdc_run_judge;

/* Judges trace g of inst (unless answer_only) and adds the verdict to the
 * trace line (traces.jsonl) just appended to b. A trace without a response (an
 * error, nothing after the reasoning) gets "judge_trace": -1 and no
 * verdict. The session's errors. */
dc_status sdc_run_judge_trace(const sdc_run_judge *j, dc_buf *b, const sdc_instance *inst,
                              const dc_gen_trace *g, dc_error *err);

/* Adds to the predictions.jsonl line just appended to b the verdict on
 * the first voting trace whose answer is the prediction's (judged now, or
 * from the cache when the traces were judged). */
dc_status sdc_run_judge_prediction(const sdc_run_judge *j, dc_buf *b, const sdc_instance *inst,
                                   const sdc_outcome *o, dc_error *err);

#endif
