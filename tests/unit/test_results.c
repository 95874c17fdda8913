/* test_results.c - the run directory: append, resume after a crash, a
 * full disk, refusing to overwrite, reading predictions back; the traces
 * as zstd frames (one per instance, the default) and plain. */
#include "test_common.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zstd.h>

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

/* The bytes of dir/name (NUL-terminated, their count in *len when not
 * NULL); NULL when it cannot be read. */
static char *slurp_n(const char *name, size_t *len)
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
    if (len)
        *len = n;
    return s;
}

static char *slurp(const char *name)
{
    return slurp_n(name, NULL);
}

static int has(const char *name)
{
    char p[640];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

/* run.json of a run whose output.compress is compress. */
static const char *run_json(const char *fingerprint, const char *compress)
{
    static char buf[256];
    snprintf(buf, sizeof buf,
             "{\"fingerprint\":\"%s\",\"config\":{\"output\":{\"compress\":\"%s\"}}}\n",
             fingerprint, compress);
    return buf;
}

/* The offsets of the zstd frames of z (len bytes), each whole. */
static size_t frames(const char *z, size_t len, size_t *off, size_t max)
{
    size_t n = 0;
    for (size_t at = 0; at < len; n++) {
        size_t fl = ZSTD_findFrameCompressedSize(z + at, len - at);
        assert_false(ZSTD_isError(fl));
        assert_true(n < max);
        off[n] = at;
        at += fl;
    }
    return n;
}

/* The text of traces.jsonl.zst, every frame decoded (NUL-terminated). */
static char *unzstd(void)
{
    size_t len, off[256];
    char *z = slurp_n(SDC_TRACES_FILE_ZSTD, &len);
    assert_non_null(z);
    size_t nf = frames(z, len, off, 256), n = 0;
    char *t = calloc(1, 1 << 20);
    for (size_t i = 0; i < nf; i++) {
        size_t fl = (i + 1 < nf ? off[i + 1] : len) - off[i];
        size_t got = ZSTD_decompress(t + n, (1 << 20) - 1 - n, z + off[i], fl);
        assert_false(ZSTD_isError(got));
        assert_true(got == ZSTD_getFrameContentSize(z + off[i], fl));
        n += got;
    }
    t[n] = '\0'; /* zstd may use the room past a frame's text as scratch */
    free(z);
    return t;
}

/* text as one zstd frame (as the results write it) appended to traces.jsonl.zst,
 * only its first `keep` bytes when keep is not 0. */
static void append_frame(const char *text, size_t keep)
{
    size_t cap = ZSTD_compressBound(strlen(text));
    char *z = malloc(cap);
    size_t n = ZSTD_compress(z, cap, text, strlen(text), 3);
    assert_false(ZSTD_isError(n));
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, SDC_TRACES_FILE_ZSTD);
    FILE *f = fopen(p, "ab");
    assert_non_null(f);
    fwrite(z, 1, keep && keep < n ? keep : n, f);
    fclose(f);
    free(z);
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
    /* a run.json that says nothing of output.compress: zstd, the default */
    char name[300];
    snprintf(name, sizeof name, "a/b/%s", SDC_TRACES_FILE_ZSTD);
    assert_true(has(name));
    snprintf(name, sizeof name, "a/b/%s", SDC_TRACES_FILE);
    assert_false(has(name));
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
    const char *rj0 = run_json("fp", "none");
    assert_int_equal(sdc_results_open(dir, rj0, "fp", 2, SDC_OPEN_NEW, &r, &err), DC_STATUS_OK);
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
    assert_string_equal(rj, run_json("fp", "none"));
    free(t);
    free(p);
    free(rj);
    free(want_t);
    free(want_p);
    sdc_results_close(r);
}

/* state: the output.compress of the run, "zstd" or "none" */
static void test_full_disk_keeps_records_whole(void **state)
{
    const char *compress = *state;
    int zstd = !strcmp(compress, "zstd");
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* a file size limit makes writes fail as a full disk would */
        signal(SIGXFSZ, SIG_IGN);
        sdc_results *r;
        dc_error err = {0};
        if (sdc_results_open(dir, run_json("z", compress), "z", 1, SDC_OPEN_NEW, &r, &err) != 0)
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
    /* both files hold whole lines of the same instances only (and the
       traces whole zstd frames) */
    assert_true(has(zstd ? SDC_TRACES_FILE_ZSTD : SDC_TRACES_FILE));
    char *t = zstd ? unzstd() : slurp(SDC_TRACES_FILE), *p = slurp("predictions.jsonl");
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

/* zstd: each append is one frame; `zstdcat` (every frame decoded) gives the
 * lines the plain file would hold. */
static void test_zstd_frame_per_instance(void **state)
{
    (void)state;
    sdc_results *r;
    dc_error err = {0};
    assert_int_equal(sdc_results_open(dir, run_json("fp", "zstd"), "fp", 2, SDC_OPEN_NEW, &r, &err),
                     DC_STATUS_OK);
    char tr[2048], pr[2048], want[8192] = "";
    static const char *const ids[] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++) {
        instance(tr, pr, sizeof tr, ids[i], 2);
        strcat(want, tr);
        assert_int_equal(sdc_results_append(r, tr, strlen(tr), pr, strlen(pr), &err), DC_STATUS_OK);
    }
    /* an instance without trace lines adds no frame */
    instance(tr, pr, sizeof tr, "d", 2);
    assert_int_equal(sdc_results_append(r, "", 0, pr, strlen(pr), &err), DC_STATUS_OK);
    sdc_results_close(r);
    assert_false(has(SDC_TRACES_FILE));
    size_t len, off[8];
    char *z = slurp_n(SDC_TRACES_FILE_ZSTD, &len);
    assert_int_equal(frames(z, len, off, 8), 3);
    for (int i = 0; i < 3; i++) /* each frame says its size and carries a checksum */
        assert_true(ZSTD_getFrameContentSize(z + off[i], len - off[i]) == strlen(want) / 3);
    char *t = unzstd();
    assert_string_equal(t, want);
    free(t);
    free(z);
}

/* state: how c's traces were left by the crash, "whole" (its frame is
 * written, its predictions are not all) or "torn" (its frame cut short). */
static void test_zstd_resume_drops_unfinished(void **state)
{
    int torn = !strcmp(*state, "torn");
    sdc_results *r;
    dc_error err = {0};
    assert_int_equal(sdc_results_open(dir, run_json("fp", "zstd"), "fp", 2, SDC_OPEN_NEW, &r, &err),
                     DC_STATUS_OK);
    char tr[2048], pr[2048], want[8192] = "";
    instance(tr, pr, sizeof tr, "a", 2);
    strcat(want, tr);
    assert_int_equal(sdc_results_append(r, tr, strlen(tr), pr, strlen(pr), &err), DC_STATUS_OK);
    instance(tr, pr, sizeof tr, "b", 2);
    strcat(want, tr);
    assert_int_equal(sdc_results_append(r, tr, strlen(tr), pr, strlen(pr), &err), DC_STATUS_OK);
    sdc_results_close(r);
    size_t len0, len1;
    char *before = slurp_n(SDC_TRACES_FILE_ZSTD, &len0), *want_p = slurp("predictions.jsonl");
    instance(tr, pr, sizeof tr, "c", 2);
    if (torn) {
        append_frame(tr, 20); /* the crash came while c's traces were written */
    } else {
        append_frame(tr, 0);
        append_text("predictions.jsonl", "{\"instance_id\":\"c\",\"strategy\":\"s0\","
                                         "\"traces_used\":1,\"tokens_generated\":1}\n{\"inst");
    }
    /* a resume with another output.compress keeps the file the run has */
    assert_int_equal(
        sdc_results_open(dir, run_json("fp", "none"), "fp", 2, SDC_OPEN_RESUME, &r, &err),
        DC_STATUS_OK);
    assert_int_equal(sdc_results_done_count(r), 2);
    assert_false(sdc_results_done(r, "c"));
    char *after = slurp_n(SDC_TRACES_FILE_ZSTD, &len1), *p = slurp("predictions.jsonl");
    assert_int_equal(len1, len0);
    assert_memory_equal(after, before, len0);
    assert_string_equal(p, want_p);
    /* and the run goes on: c again, then d */
    assert_int_equal(sdc_results_append(r, tr, strlen(tr), pr, strlen(pr), &err), DC_STATUS_OK);
    strcat(want, tr);
    instance(tr, pr, sizeof tr, "d", 2);
    strcat(want, tr);
    assert_int_equal(sdc_results_append(r, tr, strlen(tr), pr, strlen(pr), &err), DC_STATUS_OK);
    sdc_results_close(r);
    assert_false(has(SDC_TRACES_FILE));
    char *t = unzstd();
    assert_string_equal(t, want);
    free(t);
    free(before);
    free(after);
    free(want_p);
    free(p);
}

/* A frame before the last that does not decode is an error naming the
 * file and the frame's byte offset, and nothing is cut. */
static void test_zstd_corrupt_frame_is_an_error(void **state)
{
    (void)state;
    sdc_results *r;
    dc_error err = {0};
    assert_int_equal(sdc_results_open(dir, run_json("fp", "zstd"), "fp", 2, SDC_OPEN_NEW, &r, &err),
                     DC_STATUS_OK);
    char tr[2048], pr[2048];
    static const char *const ids[] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++) {
        instance(tr, pr, sizeof tr, ids[i], 2);
        assert_int_equal(sdc_results_append(r, tr, strlen(tr), pr, strlen(pr), &err), DC_STATUS_OK);
    }
    sdc_results_close(r);
    size_t len, off[8];
    char *z = slurp_n(SDC_TRACES_FILE_ZSTD, &len);
    assert_int_equal(frames(z, len, off, 8), 3);
    size_t at = off[1] + (off[2] - off[1]) / 2; /* inside b's frame */
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, SDC_TRACES_FILE_ZSTD);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, (long)at, SEEK_SET);
    fputc(z[at] ^ 0x5a, f);
    fclose(f);
    assert_int_equal(sdc_results_open(dir, "{}", "fp", 2, SDC_OPEN_RESUME, &r, &err),
                     DC_STATUS_PARSE);
    char want[128];
    snprintf(want, sizeof want, "zstd frame at byte %zu does not decode", off[1]);
    if (!strstr(err.msg, SDC_TRACES_FILE_ZSTD) || !strstr(err.msg, want))
        fail_msg("expected the file and \"%s\" in: %s", want, err.msg);
    size_t len1;
    char *after = slurp_n(SDC_TRACES_FILE_ZSTD, &len1);
    assert_int_equal(len1, len);
    free(after);
    free(z);
}

/* A run written before output.compress (plain traces.jsonl) resumes plain,
 * whatever the new run.json says; a directory with both files is refused. */
static void test_plain_run_resumes_plain(void **state)
{
    (void)state;
    sdc_results *r;
    dc_error err = {0};
    char tr[2048], pr[2048], want[4096] = "";
    instance(tr, pr, sizeof tr, "a", 2);
    strcat(want, tr);
    /* an old run: run.json without output.compress, the two files */
    append_text("run.json", "{\"fingerprint\":\"old\"}\n");
    append_text(SDC_TRACES_FILE, tr);
    append_text("predictions.jsonl", pr);
    assert_int_equal(
        sdc_results_open(dir, run_json("old", "zstd"), "old", 2, SDC_OPEN_RESUME, &r, &err),
        DC_STATUS_OK);
    assert_int_equal(sdc_results_done_count(r), 1);
    instance(tr, pr, sizeof tr, "b", 2);
    strcat(want, tr);
    assert_int_equal(sdc_results_append(r, tr, strlen(tr), pr, strlen(pr), &err), DC_STATUS_OK);
    sdc_results_close(r);
    assert_false(has(SDC_TRACES_FILE_ZSTD));
    char *t = slurp(SDC_TRACES_FILE);
    assert_string_equal(t, want);
    free(t);
    char path[512];
    assert_int_equal(sdc_results_traces_path(dir, path, sizeof path, NULL), 1);
    assert_non_null(strstr(path, "/" SDC_TRACES_FILE));
    append_frame(tr, 0);
    sdc_compress how;
    assert_int_equal(sdc_results_traces_path(dir, path, sizeof path, &how), 1);
    assert_int_equal(how, SDC_COMPRESS_ZSTD);
    assert_int_equal(sdc_results_open(dir, "{}", "old", 2, SDC_OPEN_RESUME, &r, &err),
                     DC_STATUS_EXISTS);
    assert_non_null(strstr(err.msg, "holds both"));
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
        cmocka_unit_test_prestate_setup_teardown(test_full_disk_keeps_records_whole, setup,
                                                 teardown, "none"),
        cmocka_unit_test_prestate_setup_teardown(test_full_disk_keeps_records_whole, setup,
                                                 teardown, "zstd"),
        cmocka_unit_test_setup_teardown(test_zstd_frame_per_instance, setup, teardown),
        cmocka_unit_test_prestate_setup_teardown(test_zstd_resume_drops_unfinished, setup, teardown,
                                                 "whole"),
        cmocka_unit_test_prestate_setup_teardown(test_zstd_resume_drops_unfinished, setup, teardown,
                                                 "torn"),
        cmocka_unit_test_setup_teardown(test_zstd_corrupt_frame_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plain_run_resumes_plain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_predictions_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_file_atomic, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
