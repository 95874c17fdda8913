/* cli.h - shared helpers of the safety-deepconf subcommands. */
#ifndef SDC_CLI_H
#define SDC_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "deepconf/dc_hf.h"

/* Exit codes: 0 ok, 1 the work failed (bad input, I/O), 2 usage error. */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* "safety-deepconf score: <message>" on stderr. */
void cli_err(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Strict number parsing for flags: the whole text must be a number in
 * [lo, hi]; on failure prints "--flag: expected ..." and returns 0. */
int cli_parse_double(const char *cmd, const char *flag, const char *text, double lo, double hi,
                     double *out);
int cli_parse_size(const char *cmd, const char *flag, const char *text, size_t lo, size_t hi,
                   size_t *out);

/* The subcommand of `safety-deepconf CMD SUB ...` (argv[0] is CMD): argv[1],
 * or NULL when there is none (usage on stderr, *rc = CLI_USAGE) or it asks
 * for help with -h, --help or help (usage on stdout, *rc = CLI_OK). */
const char *cli_subcommand(int argc, char **argv, const char *usage, int *rc);

/* Writes all of data to stdout; 0 on a write error (full disk, closed pipe). */
int cli_write_stdout(const char *cmd, const char *data, size_t len);

/* Progress of a download on stderr ("\rWHAT 1.5 / 3.0 MiB (50%)"), at most
 * twice a second: cli_progress_bytes is a dc_hf_params.progress callback
 * (user: a cli_progress); cli_progress_end ends the line when one was shown. */
typedef struct cli_progress {
    const char *what;
    double last;
    int shown;
} cli_progress;
int cli_progress_bytes(void *user, uint64_t done, uint64_t total);
void cli_progress_end(cli_progress *p);

/* Shows a pull's progress on p ("downloading") unless quiet: sets hp's
 * progress callback, which borrows p until the pull returns. */
void cli_pull_progress(dc_hf_params *hp, cli_progress *p, int quiet);
/* A finished pull on stdout: its path, or with json one object of path,
 * benchmark (left out when NULL), repo, file, commit, size, sha256,
 * from_cache and resumed_from. 1 when written, else 0 (said). */
int cli_pull_print(const char *cmd, const dc_hf_result *res, const char *benchmark,
                   const char *repo, int json);

int cmd_score(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_run(int argc, char **argv); /* cmd_run.c */
int cmd_compare(int argc, char **argv);
int cmd_analyze(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_refusal(int argc, char **argv);       /* cmd_refusal.c */
int cmd_refusal_train(int argc, char **argv); /* cmd_refusal_model.c */
int cmd_refusal_eval(int argc, char **argv);
int cmd_data(int argc, char **argv);        /* cmd_data.c */
int cmd_model(int argc, char **argv);       /* cmd_model.c */
int cmd_bench(int argc, char **argv);       /* cmd_bench.c */
int cmd_sweep(int argc, char **argv);       /* cmd_sweep.c */
int cmd_judge(int argc, char **argv);       /* cmd_judge.c */
int cmd_data_corpus(int argc, char **argv); /* cmd_corpus.c */
int cmd_model_train(int argc, char **argv); /* cmd_train.c */

#endif
