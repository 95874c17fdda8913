/* test_results.c - the run directory: append, resume after a crash, a
 * full disk, refusing to overwrite, reading predictions back. */
#include "test_common.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "safety/sdc_results.h"

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/sdc-results-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static char *slurp(const char *name)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "rb");
    if (!f)
        return NULL;
    char *s = calloc(1, 1 << 20);
    size_t n = fread(s, 1, (1 << 20) - 1, f);
    s[n] = '\0';
    fclose(f);
    return s;
}

static void append_text(const char *name, const char *text)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "ab");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void instance(char *tr, char *pr, size_t n, const char *id, int strategies)
{
    snprintf(tr, n, "{\"instance_id\":\"%s\",\"trace\":0}\n{\"instance_id\":\"%s\",\"trace\":1}\n",
             id, id);
    pr[0] = '\0';
    for (int s = 0; s < strategies; s++) {
        size_t l = strlen(pr);
        snprintf(
            pr + l, n - l,
            "{\"instance_id\":\"%s\",\"strategy\":\"s%d\",\"label\":\"unsafe\",\"answer\":"
            "\"refuse\",\"refused\":true,\"correct\":true,\"confidence\":0.75,\"consensus\":"
            "1.0,\"mean_prob\":0.75,\"traces_used\":2,\"tokens_generated\":30,\"seconds\":0.5}\n",
            id, s);
    }
}

static void test_new_append_and_exists(void **state)
{
    (void)state;
    sdc_results *r;
    dc_error err = {0};
    char sub[300];
    snprintf(sub, sizeof sub, "%s/a/b", dir); /* parents are created */
    assert_int_equal(
        sdc_results_open(sub, "{\"fingerprint\":\"f1\"}\n", "f1", 2, SDC_OPEN_NEW, &r, &err),
        DC_STATUS_OK);
    char tr[2048], pr[2048];
    instance(tr, pr, sizeof tr, "x1", 2);
    assert_int_equal(sdc_results_append(r, tr, strlen(tr), pr, strlen(pr), &err), DC_STATUS_OK);
    sdc_results_close(r);
    /* a second NEW run there is refused and nothing is touched */
    assert_int_equal(sdc_results_open(sub, "{}", "f1", 2, SDC_OPEN_NEW, &r, &err),
                     DC_STATUS_EXISTS);
    assert_non_null(strstr(err.msg, "--resume"));
    /* a different run is refused by resume */
    assert_int_equal(sdc_results_open(sub, "{}", "f2", 2, SDC_OPEN_RESUME, &r, &err),
                     DC_STATUS_EXISTS);
    assert_non_null(strstr(err.msg, "different run"));
    /* force replaces */
    assert_int_equal(
        sdc_results_open(sub, "{\"fingerprint\":\"f2\"}\n", "f2", 2, SDC_OPEN_FORCE, &r, &err),
        DC_STATUS_OK);
    assert_int_equal(sdc_results_done_count(r), 0);
    sdc_results_close(r);
}

static void test_resume_drops_unfinished(void **state)
{
    (void)state;
    sdc_results *r;
    dc_error err = {0};
    assert_int_equal(
        sdc_results_open(dir, "{\"fingerprint\":\"fp\"}\n", "fp", 2, SDC_OPEN_NEW, &r, &err),
        DC_STATUS_OK);
    char tr[2048], pr[2048];
    instance(tr, pr, sizeof tr, "a", 2);
    assert_int_equal(sdc_results_append(r, tr, strlen(tr), pr, strlen(pr), &err), DC_STATUS_OK);
    instance(tr, pr, sizeof tr, "b", 2);
    assert_int_equal(sdc_results_append(r, tr, strlen(tr), pr, strlen(pr), &err), DC_STATUS_OK);
    sdc_results_close(r);
    char *want_t = slurp("traces.jsonl"), *want_p = slurp("predictions.jsonl");
    /* a crash during c: its traces, one of two predictions, and a torn line */
    instance(tr, pr, sizeof tr, "c", 2);
    append_text("traces.jsonl", tr);
    append_text("predictions.jsonl", "{\"instance_id\":\"c\",\"strategy\":\"s0\",\"traces_used\":1,"
                                     "\"tokens_generated\":1}\n{\"instance_id\":\"c\",\"stra");
    assert_int_equal(sdc_results_open(dir, "{}", "fp", 2, SDC_OPEN_RESUME, &r, &err), DC_STATUS_OK);
    assert_int_equal(sdc_results_done_count(r), 2);
    assert_true(sdc_results_done(r, "a"));
    assert_true(sdc_results_done(r, "b"));
    assert_false(sdc_results_done(r, "c"));
    char *t = slurp("traces.jsonl"), *p = slurp("predictions.jsonl");
    assert_string_equal(t, want_t);
    assert_string_equal(p, want_p);
    /* run.json of the interrupted run is kept */
    char *rj = slurp("run.json");
    assert_string_equal(rj, "{\"fingerprint\":\"fp\"}\n");
    free(t);
    free(p);
    free(rj);
    free(want_t);
    free(want_p);
    sdc_results_close(r);
}

static void test_full_disk_keeps_records_whole(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* a file size limit makes writes fail as a full disk would */
        signal(SIGXFSZ, SIG_IGN);
        sdc_results *r;
        dc_error err = {0};
        if (sdc_results_open(dir, "{\"fingerprint\":\"z\"}\n", "z", 1, SDC_OPEN_NEW, &r, &err) != 0)
            _exit(10);
        struct rlimit rl = {3000, 3000};
        setrlimit(RLIMIT_FSIZE, &rl);
        char tr[2048], pr[2048], id[32];
        for (int i = 0; i < 100; i++) {
            snprintf(id, sizeof id, "i%d", i);
            instance(tr, pr, sizeof tr, id, 1);
            dc_status st = sdc_results_append(r, tr, strlen(tr), pr, strlen(pr), &err);
            if (st != DC_STATUS_OK) {
                _exit(st == DC_STATUS_NO_SPACE && strstr(err.msg, "intact") ? 0 : 11);
            }
        }
        _exit(12);
    }
    int ws;
    waitpid(pid, &ws, 0);
    assert_true(WIFEXITED(ws));
    assert_int_equal(WEXITSTATUS(ws), 0);
    /* both files hold whole lines of the same instances only */
    char *t = slurp("traces.jsonl"), *p = slurp("predictions.jsonl");
    size_t tl = strlen(t), pl = strlen(p);
    assert_true(tl > 0 && t[tl - 1] == '\n');
    assert_true(pl > 0 && p[pl - 1] == '\n');
    size_t nt = 0, np = 0;
    for (size_t i = 0; i < tl; i++)
        nt += t[i] == '\n';
    for (size_t i = 0; i < pl; i++)
        np += p[i] == '\n';
    assert_int_equal(nt, 2 * np);
    sdc_results *r;
    dc_error err = {0};
    assert_int_equal(sdc_results_open(dir, "{}", "z", 1, SDC_OPEN_RESUME, &r, &err), DC_STATUS_OK);
    assert_int_equal(sdc_results_done_count(r), np);
    sdc_results_close(r);
    free(t);
    free(p);
}

static void test_predictions_load(void **state)
{
    (void)state;
    char tr[2048], pr[2048];
    instance(tr, pr, sizeof tr, "q", 3);
    append_text("predictions.jsonl", pr);
    append_text("predictions.jsonl", "{\"instance_id\":\"q\",\"str"); /* torn */
    sdc_prediction_list l;
    size_t torn;
    dc_error err = {0};
    assert_int_equal(sdc_predictions_load(dir, &l, &torn, &err), DC_STATUS_OK);
    assert_int_equal(l.n, 3);
    assert_int_equal(torn, 1);
    assert_string_equal(l.items[2].strategy, "s2");
    assert_int_equal(l.items[0].label, SDC_LABEL_UNSAFE);
    assert_int_equal(l.items[0].refused, 1);
    assert_int_equal(l.items[0].correct, 1);
    assert_double_bits(l.items[0].confidence, 0.75);
    assert_int_equal(l.items[0].tokens_generated, 30);
    assert_true(isnan(l.items[0].trace_conf));
    sdc_prediction_list_free(&l);
    /* a bad line in the middle names its line */
    char p[512];
    snprintf(p, sizeof p, "%s/predictions.jsonl", dir);
    FILE *f = fopen(p, "wb");
    fputs(pr, f);
    fputs("{\"instance_id\":\"q\"}\n", f);
    fclose(f);
    assert_int_equal(sdc_predictions_load(dir, &l, &torn, &err), DC_STATUS_FORMAT);
    assert_non_null(strstr(err.msg, "predictions.jsonl:4:"));
    snprintf(p, sizeof p, "%s/none", dir);
    assert_int_equal(sdc_predictions_load(p, &l, &torn, &err), DC_STATUS_NOT_FOUND);
}

static void test_write_file_atomic(void **state)
{
    (void)state;
    dc_error err = {0};
    assert_int_equal(sdc_results_write_file(dir, "summary.txt", "one\n", &err), DC_STATUS_OK);
    assert_int_equal(sdc_results_write_file(dir, "summary.txt", "two\n", &err), DC_STATUS_OK);
    char *s = slurp("summary.txt");
    assert_string_equal(s, "two\n");
    free(s);
    assert_int_equal(sdc_results_write_file("/nonexistent-dir", "x", "y", &err), DC_STATUS_IO);
    assert_non_null(strstr(err.msg, "/nonexistent-dir/x"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_new_append_and_exists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_drops_unfinished, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_disk_keeps_records_whole, setup, teardown),
        cmocka_unit_test_setup_teardown(test_predictions_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_file_atomic, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
