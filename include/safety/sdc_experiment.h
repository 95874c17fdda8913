/* sdc_experiment.h - one experiment, from its configuration to its files.
 *
 * sdc_experiment_open does everything a run needs before the first trace:
 * it finds the model (a path; a Hugging Face id, from the cache or the Hub;
 * with no model, the default model when reachable, else the offline demo
 * model), opens the backend, loads the benchmark and selects its instances,
 * names the run directory, computes the run's fingerprint and builds
 * run.json. sdc_experiment_run runs the instances (sdc_run.h) and writes
 * the analysis files; sdc_experiment_replay re-runs the strategies of a
 * compare run over its saved traces; sdc_experiment_analyze recomputes the
 * analysis files of any run.
 *
 * The library never prints: what a user should be told (the demo model is
 * used, a download, checksumming) goes to the note and download callbacks,
 * and the runner's progress to its callback. The CLI parses flags, prints
 * and maps statuses to exit codes. */
#ifndef SDC_EXPERIMENT_H
#define SDC_EXPERIMENT_H

#include <stddef.h>
#include <stdint.h>

#include "deepconf/dc_status.h"
#include "safety/sdc_config.h"
#include "safety/sdc_results.h"
#include "safety/sdc_run.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The model tried when model.name is empty, before the offline demo model. */
#define SDC_DEFAULT_MODEL "Qwen/Qwen3-0.6B"

/* The file name of the demo model trained for this project (models/ in the
 * source tree, share/safety-deepconf/ when installed). */
#define SDC_TRAINED_DEMO_FILE "safety-deepconf-demo.gguf"

/* The most traces auto model.parallel decodes together: where tokens/s
 * stopped rising on 2 CPU cores (docs/performance.md). */
#define SDC_PARALLEL_KNEE 64

typedef enum sdc_experiment_note {
    SDC_NOTE_DEMO_MODEL = 0, /* no model given and the default unreachable: the demo
                                model is used; text: why, and which demo model */
    SDC_NOTE_LOADING = 1,    /* text: the model file being loaded */
    SDC_NOTE_CHECKSUM = 2,   /* text: the model file being checksummed (sha256) */
    SDC_NOTE_DOWNLOADED = 3, /* a download finished; text: the file */
    SDC_NOTE_JUDGE = 4 /* the judge (judge.name) being set up; text: what happens */,
    SDC_NOTE_MEMORY = 5,       /* llama: traces decoded together, context, memory; text: all */
    SDC_NOTE_STORAGE = 6,      /* --resume keeps the traces file the run has, which is not what
                            output.compress asks for; text: which file */
    SDC_NOTE_REFUSAL_MODEL = 7 /* a replay decides refusals with other classifier weights
                                  than the run recorded; text: both sha256 */
} sdc_experiment_note;

typedef struct sdc_experiment_params {
    sdc_open_mode open_mode;   /* new (default), resume or force */
    const char *default_model; /* tried when model.name is empty; default
                                  SDC_DEFAULT_MODEL; NULL: the demo model at once */
    const char *trained_demo;  /* the demo model trained for this project
                                  (models/safety-deepconf-demo.gguf): the offline
                                  default; NULL or missing: the random demo model */
    const char *demo_dir;      /* where the random demo model is made; NULL: the cache
                                  ($SDC_CACHE_DIR, else $XDG_CACHE_HOME/safety-deepconf,
                                  else ~/.cache/safety-deepconf) + "/models" */
    int argc;                  /* the command line, recorded in run.json; borrowed */
    char *const *argv;
    /* Something the user should be told. NULL: nothing is told. */
    void (*note)(void *user, sdc_experiment_note note, const char *text);
    /* Download progress of the model or the benchmark file (as dc_hf_params:
       return 0 to stop, CANCELLED). */
    int (*download)(void *user, uint64_t done, uint64_t total);
    /* Progress of the run (sdc_run.h); return nonzero to stop (CANCELLED). */
    sdc_run_progress_fn progress;
    void *user;
} sdc_experiment_params;

sdc_experiment_params sdc_experiment_default_params(void);

typedef struct sdc_experiment sdc_experiment;

/* What an opened experiment will do. Strings borrowed, valid until
 * sdc_experiment_free. */
typedef struct sdc_experiment_info {
    const char *dir;        /* run directory */
    const char *model_path; /* the GGUF file; "" for a server */
    const char *model_name; /* the model's name, else its file name */
    int is_demo;            /* the offline demo model is used: 1 the random one,
                               2 the one trained for demonstration */
    size_t n_instances;     /* selected instances */
    const char *benchmark;  /* the detected or named benchmark */
    const char *what;       /* "compare (baseline, fixed, adaptive, online)" or a strategy */
    const char *mode;       /* "refusal" | "classify" */
} sdc_experiment_info;

/* Opens an experiment for cfg, which must have passed sdc_config_validate
 * (it is copied; the caller keeps cfg). *out: free with
 * sdc_experiment_free. Errors name the key, file or model: CONFIG (a
 * --resume without a directory), NOT_FOUND / IO / FORMAT / PARSE (the
 * model or the benchmark file), NETWORK / HTTP (a named model that cannot
 * be fetched), MODEL / BACKEND (the backend would not open), CANCELLED. */
dc_status sdc_experiment_open(const sdc_config *cfg, const sdc_experiment_params *params,
                              sdc_experiment **out, dc_error *err);

/* Opens a replay of the compare run in src_dir into dst_dir: the run's
 * configuration with the deepconf.* keys in keys/values changed (any other
 * key is a CONFIG error: the traces are fixed) and the threshold theta
 * (NaN: the run's). The traces are read from src_dir/traces.jsonl.zst (or
 * traces.jsonl) once;
 * nothing is generated. params->open_mode applies to dst_dir. */
dc_status sdc_experiment_open_replay(const char *src_dir, const char *dst_dir,
                                     const char *const *keys, const char *const *values,
                                     size_t n_sets, double theta,
                                     const sdc_experiment_params *params, sdc_experiment **out,
                                     dc_error *err);

void sdc_experiment_describe(const sdc_experiment *e, sdc_experiment_info *out);

/* Runs every instance not finished yet, then writes summary.json,
 * summary.txt and report.html. *summary (may be NULL) receives
 * summary.txt's text: caller frees with dc_free. Statuses as
 * sdc_run_execute; finished instances are kept whatever happens. */
dc_status sdc_experiment_run(sdc_experiment *e, sdc_run_stats *stats, char **summary,
                             dc_error *err);

/* Stops a running experiment soon (CANCELLED). Safe from a signal handler. */
void sdc_experiment_cancel(sdc_experiment *e);

void sdc_experiment_free(sdc_experiment *e);

/* Recomputes summary.json, summary.txt and report.html of the run in dir
 * from its predictions.jsonl and run.json, with threshold theta (NaN: the
 * run's deepconf.threshold). refusal_from_judge: 1 takes refused /
 * complied from the judge's verdicts (sdc_analysis_params). *summary (may be NULL): summary.txt's text,
 * caller frees with dc_free. *torn (may be NULL): 1 when a torn last line
 * (an interrupted run) was left out. */
dc_status sdc_experiment_analyze(const char *dir, double theta, int refusal_from_judge,
                                 char **summary, int *torn, dc_error *err);

#ifdef __cplusplus
}
#endif

#endif /* SDC_EXPERIMENT_H */
