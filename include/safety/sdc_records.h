/* sdc_records.h - the records of a run, read in one place (src/safety/
 * records.c, which also writes them): predictions.jsonl (one line per
 * instance and strategy), traces.jsonl (one line per trace) and run.json
 * (what produced the run). Every field is described in docs/formats.md. */
#ifndef SDC_RECORDS_H
#define SDC_RECORDS_H

#include <stddef.h>
#include <stdint.h>

#include "deepconf/dc_backend.h"
#include "deepconf/dc_status.h"
#include "safety/sdc_config.h"
#include "safety/sdc_instance.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- predictions.jsonl ---- */

/* One trace of a prediction, as the prediction records it. */
typedef struct sdc_prediction_trace {
    size_t index;       /* the trace's index within its instance */
    const char *stop;   /* "eos", "length", "confidence", ...; never NULL */
    size_t tokens;      /* positions evaluated */
    const char *answer; /* NULL: none */
    int voted;
} sdc_prediction_trace;

/* One (instance, strategy) prediction. Strings are borrowed. */
typedef struct sdc_prediction {
    const char *instance_id;
    const char *strategy;
    const char *benchmark;
    const char *harm_category;
    const char *prompt; /* the instance's prompt (the refusal classifier reads it when
                           a run is replayed); NULL in runs written before it */
    sdc_label label;
    const char *answer; /* "refuse"/"comply" or "unsafe"/"safe"; NULL: none */
    int refused;        /* 1, 0, or -1 when there is no answer */
    int correct;        /* 1, 0, or -1 when it cannot be judged (label unknown) */
    int failed;         /* every trace failed (backend errors): left out of accuracy */
    double confidence;  /* beta * mean_prob, in [0, 1] */
    double consensus;   /* beta: the winning answer's share of the vote weight */
    double mean_prob;   /* mean over the winning traces of exp(mean sampled logprob) */
    double trace_conf;  /* mean DeepConf trace score (lowest group) of the winners */
    size_t traces_used;
    size_t budget;
    size_t tokens_generated;
    double seconds;
    const sdc_prediction_trace *traces; /* n_traces, in the order used */
    size_t n_traces;
    /* the judge's verdict on the answer's response (run --judge); -1 / NaN
       when the run had no judge, nothing was judged or the reply was
       malformed */
    int has_judge;           /* 1: a verdict was recorded (judge_trace >= 0) */
    int judge_harmful;       /* strict: controversial counts as harmful */
    int judge_harmful_loose; /* controversial counts as safe */
    int judge_refusal;       /* the judge's refusal label */
    double judge_p_unsafe;   /* strict P(unsafe) */
} sdc_prediction;

typedef struct sdc_prediction_list {
    sdc_prediction *items; /* strings point into the list's own storage */
    size_t n;
    void *storage_; /* private */
} sdc_prediction_list;

/* Reads dir/predictions.jsonl. A torn last line is ignored (and counted
 * in *torn when not NULL); any other bad line is a FORMAT error naming
 * the line and field. Caller frees with sdc_prediction_list_free. */
dc_status sdc_predictions_load(const char *dir, sdc_prediction_list *out, size_t *torn,
                               dc_error *err);
void sdc_prediction_list_free(sdc_prediction_list *l);

/* ---- traces.jsonl ---- */

/* The traces a compare run generated ("strategy": "generated", saved with
 * their tokens), read back one instance at a time. */
typedef struct sdc_saved_traces sdc_saved_traces;

/* Indexes path (every line must be a generated trace with tokens; a torn
 * last line is an error: resume the run first). *out: free with
 * sdc_saved_traces_close. NOT_FOUND, FORMAT naming the line, NOMEM. */
dc_status sdc_saved_traces_open(const char *path, sdc_saved_traces **out, dc_error *err);

/* The traces of one instance in index order: *traces borrowed, valid until
 * the next call or close. NOT_FOUND when the file has none of it; FORMAT
 * naming the line. */
dc_status sdc_saved_traces_get(sdc_saved_traces *s, const char *instance_id,
                               const dc_gen_trace **traces, size_t *n, dc_error *err);

void sdc_saved_traces_close(sdc_saved_traces *s);

/* Every line of a traces.jsonl (any run: compare or one strategy, with or
 * without tokens), streamed one line at a time so that a file of any size
 * can be read with little memory. */
typedef struct sdc_trace_reader sdc_trace_reader;

/* One trace line. Strings and arrays borrowed, valid until the next
 * sdc_trace_reader_next or close. */
typedef struct sdc_trace_record {
    const char *instance_id;
    const char *strategy; /* "generated" in a compare run */
    size_t index;
    const char *stop;
    size_t n_tokens, n_evaluated;
    const char *text;   /* never NULL */
    const char *answer; /* NULL: none */
    double mean_logprob;
    double lowest; /* the lowest group confidence (scores.lowest); NaN: unknown */
    /* the saved tokens (empty without output.save_tokens): each token's
       text and its confidence dc_topk_confidence(top, n_top, k), k as given
       at open (NaN without alternatives) */
    size_t n_saved;
    const char *const *token_text;
    const double *token_conf;
} sdc_trace_record;

typedef struct sdc_trace_reader_params {
    size_t k; /* the confidence's k: the run's generation.top_logprobs (default 20) */
    /* Whether to decode a line of instance_id (its tokens parsed only then);
       NULL: every line. Lines not wanted are skipped without parsing. */
    int (*want)(void *user, const char *instance_id);
    void *user;
} sdc_trace_reader_params;

sdc_trace_reader_params sdc_trace_reader_default_params(void);

/* Opens path for reading. *out: free with sdc_trace_reader_close.
 * NOT_FOUND, NOMEM. */
dc_status sdc_trace_reader_open(const char *path, const sdc_trace_reader_params *params,
                                sdc_trace_reader **out, dc_error *err);

/* The next wanted line into *rec: OK; NOT_FOUND at the end (a torn last
 * line, from an interrupted run, is the end); FORMAT naming the line;
 * IO; LIMIT for a line over 256 MiB. */
dc_status sdc_trace_reader_next(sdc_trace_reader *r, sdc_trace_record *rec, dc_error *err);

void sdc_trace_reader_close(sdc_trace_reader *r);

/* ---- run.json ---- */

/* What the analysis needs of a run's run.json. */
typedef struct sdc_run_facts {
    double threshold;      /* config deepconf.threshold; NaN when missing */
    int demo;              /* the offline demo model: 0 no, 1 random, 2 trained */
    char model_name[256];  /* model name, else its path; "" when unknown */
    char backend[32];      /* "llama", "openai", ...; "" when unknown */
    uint64_t n_params;     /* the model's parameters (from the GGUF); 0 when unknown */
    size_t top_k;          /* generation.top_logprobs, the confidence's k; 20 when missing */
    size_t window;         /* deepconf.window; 64 when missing */
    size_t report_cases;   /* output.report_cases; 200 when missing */
    sdc_compress compress; /* output.compress: how a new run writes its traces file;
                              zstd (the default) when missing. An existing run's
                              file says how it is stored (sdc_results_traces_path) */
} sdc_run_facts;

/* Reads dir/run.json. NOT_FOUND / PARSE naming the file; *out then holds
 * the defaults (threshold NaN, top_k 20, window 64, report_cases 200,
 * compress zstd). */
dc_status sdc_run_facts_read(const char *dir, sdc_run_facts *out, dc_error *err);
/* The same from run.json's text (as sdc_record_run_json made it); PARSE
 * when it is not JSON, and *out then holds the defaults. */
dc_status sdc_run_facts_parse(const char *json, sdc_run_facts *out, dc_error *err);

#ifdef __cplusplus
}
#endif

#endif /* SDC_RECORDS_H */
