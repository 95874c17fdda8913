/* sdc_sweep.h - the same experiment on several models (a model-size
 * sweep): one run directory per model under the sweep directory, the same
 * instances and seeds on each, then sweep.json, sweep.txt and sweep.html
 * with the models side by side: accuracy, the four categories, the H1
 * difference and p, ECE, AUROC, tokens and seconds per instance, and a plot
 * of accuracy and the H1 difference against the model's parameters.
 *
 * A model is given as text (MODEL SPECS below); each runs through
 * sdc_experiment_open / sdc_experiment_run with the sweep's configuration
 * and its own model, backend and directory, so that a sweep resumes as a
 * run does: finished models are kept, the interrupted one continues.
 *
 * MODEL SPECS
 *   PATH.gguf, owner/repo, owner/repo-GGUF:QUANT
 *                      model.name, on the configuration's backend (llama
 *                      by default; with model.backend openai, the name a
 *                      server at model.endpoints knows)
 *   openai:URL         an OpenAI-compatible server at URL, the model it
 *                      serves (model.backend openai, model.endpoints URL)
 *   openai:URL#NAME    the same, asking for model NAME
 * so a local GGUF and an endpoint can be swept together. */
#ifndef SDC_SWEEP_H
#define SDC_SWEEP_H

#include <stddef.h>

#include "deepconf/dc_status.h"
#include "safety/sdc_config.h"
#include "safety/sdc_experiment.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SDC_SWEEP_MAX_MODELS 64

typedef struct sdc_sweep_params {
    /* Every model's experiment's parameters (notes, progress, command
       line); exp.open_mode is the sweep's: new (a directory holding a sweep
       is an EXISTS error), resume (the same models: finished runs are
       kept, the others continue or start) or force (every run replaced). */
    sdc_experiment_params exp;
    /* Told before each model's experiment opens (i from 0 of n), once it
       is open (e borrowed, valid until model_end: e.g. for
       sdc_experiment_cancel from a signal handler), and when it is done
       (st its status). NULL: nothing is told. */
    void (*model_begin)(void *user, size_t i, size_t n, const char *spec, const char *dir);
    void (*model_open)(void *user, size_t i, sdc_experiment *e);
    void (*model_end)(void *user, size_t i, dc_status st);
} sdc_sweep_params;

sdc_sweep_params sdc_sweep_default_params(void);

/* Runs cfg (validated; its output.dir is ignored) on each of the n model
 * specs into dir/NN-NAME/, then writes dir/sweep.json, sweep.txt and
 * sweep.html. *text (may be NULL): sweep.txt's text, caller frees with
 * dc_free. Errors name the model: CONFIG (a bad spec, too many models, the
 * configuration with that model), EXISTS (dir holds a sweep: resume or
 * force; or another sweep), and the statuses of sdc_experiment_open and
 * sdc_experiment_run (CANCELLED when the progress callback stopped it);
 * the finished models' runs stay. */
dc_status sdc_sweep_run(const sdc_config *cfg, const char *dir, const char *const *models, size_t n,
                        const sdc_sweep_params *params, char **text, dc_error *err);

/* Rewrites sweep.json, sweep.txt and sweep.html of the sweep in dir from
 * its runs, with threshold theta (NaN: each run's). *text as above.
 * NOT_FOUND / PARSE (dir/sweep.json), and the runs' errors. */
dc_status sdc_sweep_analyze(const char *dir, double theta, char **text, dc_error *err);

#ifdef __cplusplus
}
#endif

#endif /* SDC_SWEEP_H */
