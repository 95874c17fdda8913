/* cli.h - shared helpers of the safety-deepconf subcommands. */
#ifndef SDC_CLI_H
#define SDC_CLI_H

#include <stddef.h>
#include <stdio.h>

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

/* Writes all of data to stdout; 0 on a write error (full disk, closed pipe). */
int cli_write_stdout(const char *cmd, const char *data, size_t len);

int cmd_score(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_run(int argc, char **argv); /* cmd_run.c */
int cmd_compare(int argc, char **argv);
int cmd_analyze(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_refusal(int argc, char **argv);     /* cmd_refusal.c */
int cmd_data(int argc, char **argv);        /* cmd_data.c */
int cmd_data_corpus(int argc, char **argv); /* cmd_corpus.c */
int cmd_model(int argc, char **argv);       /* cmd_model.c */
int cmd_model_train(int argc, char **argv); /* cmd_train.c */
int cmd_bench(int argc, char **argv);       /* cmd_bench.c */

#endif
