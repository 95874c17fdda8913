/* run_cmd.h - run the program under test and capture its output. */
#ifndef SDC_TEST_RUN_CMD_H
#define SDC_TEST_RUN_CMD_H

typedef struct cmd_result {
    int status; /* exit code, or -1 when it did not exit normally */
    char *out;  /* stdout, NUL-terminated; free with cmd_result_free */
    char *err;  /* stderr */
} cmd_result;

/* Runs `sh -c "<program> <args>"` with stdin from stdin_path (NULL:
 * /dev/null). args is shell text, so quote paths. */
cmd_result run_program(const char *args, const char *stdin_path);
void cmd_result_free(cmd_result *r);

/* Writes text to a new temporary file and returns its path (static per call
 * slot: up to 8 live paths). */
const char *write_temp(const char *text);

#endif
