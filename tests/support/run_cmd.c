/* run_cmd.c - run the program under test and capture its output. */
#include "test_common.h"

#include <sys/wait.h>
#include <unistd.h>

#include "support/run_cmd.h"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

cmd_result run_program(const char *args, const char *stdin_path)
{
    char out[] = "/tmp/sdc-test-out-XXXXXX";
    char err[] = "/tmp/sdc-test-err-XXXXXX";
    int fo = mkstemp(out), fe = mkstemp(err);
    assert_true(fo >= 0 && fe >= 0);
    close(fo);
    close(fe);
    size_t len = strlen(args) + strlen(test_binary()) + 256 + (stdin_path ? strlen(stdin_path) : 0);
    char *cmd = malloc(len);
    snprintf(cmd, len, "'%s' %s <'%s' >'%s' 2>'%s'", test_binary(), args,
             stdin_path ? stdin_path : "/dev/null", out, err);
    int st = system(cmd);
    free(cmd);
    cmd_result r;
    r.status = (st != -1 && WIFEXITED(st)) ? WEXITSTATUS(st) : -1;
    r.out = slurp(out);
    r.err = slurp(err);
    unlink(out);
    unlink(err);
    return r;
}

void cmd_result_free(cmd_result *r)
{
    free(r->out);
    free(r->err);
}

const char *write_temp(const char *text)
{
    static char paths[8][64];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 64, "/tmp/sdc-test-in-XXXXXX");
    int fd = mkstemp(p);
    assert_true(fd >= 0);
    size_t n = strlen(text);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    close(fd);
    return p;
}
