/* run_common.h - what `run`, `compare`, `analyze --replay` and `sweep`
 * share: the run options (flags that become configuration keys), the
 * progress and note printers, and Ctrl-C handling. */
#ifndef SDC_CLI_RUN_COMMON_H
#define SDC_CLI_RUN_COMMON_H

#include <signal.h>
#include <stddef.h>

#include "cli/cli.h"
#include "safety/sdc_config.h"
#include "safety/sdc_experiment.h"

#define RUN_MAX_SETS 256
#define RUN_MAX_MODELS 64

typedef struct run_kv {
    char *key, *value; /* owned */
} run_kv;

typedef struct run_opts {
    const char *config;
    run_kv sets[RUN_MAX_SETS];
    size_t n_sets;
    int resume, force, quiet;           /* the interface's, not the experiment's settings */
    const char *out;                    /* analyze --replay --out */
    const char *models[RUN_MAX_MODELS]; /* RUN_OPTS_MODELS: each --model, borrowed from argv */
    size_t n_models;
} run_opts;

enum {
    RUN_OPTS_COMPARE = 1, /* `compare`: --strategy is an error */
    RUN_OPTS_MODELS = 2   /* `sweep`: --model repeats into models[] */
};

/* Parses run's flags into o (free with run_opts_free, also after an
 * error); --help prints usage. Returns 1 ok, 0 usage error (printed), -1
 * help shown. */
int run_opts_parse(const char *cmd, int argc, char **argv, run_opts *o, int flags,
                   const char *usage);
void run_opts_free(run_opts *o);

/* Adds KEY=VALUE; with value NULL, key is "KEY=VALUE" text from --set.
 * 0 (printed) when full or malformed. */
int run_opts_add_set(const char *cmd, run_opts *o, const char *key, const char *value);

/* The configuration of o: the -c file, then the flags, validated. */
dc_status run_opts_config(const run_opts *o, sdc_config *cfg, dc_error *err);

/* Progress and notes on stderr (user: a run_progress). */
typedef struct run_progress {
    int quiet, tty;
    double last;        /* when the last plain line was printed */
    double finished_at; /* elapsed seconds when the last instance finished */
    cli_progress download;
} run_progress;

void run_progress_init(run_progress *pg, int quiet);

/* The experiment parameters that print through pg and stop on Ctrl-C. */
sdc_experiment_params run_experiment_params(const run_opts *o, run_progress *pg, int argc,
                                            char **argv);

/* Ctrl-C and SIGTERM set run_interrupted and cancel run_current (may be
 * NULL), which the caller sets while an experiment runs. */
extern volatile sig_atomic_t run_interrupted;
extern sdc_experiment *volatile run_current;
void run_signals_catch(void);

#endif
