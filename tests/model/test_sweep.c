/* test_sweep.c - `sweep` on two demo models of different shapes made here
 * (tiny: hidden 64, 2 layers; small: hidden 128, 4 layers): one run per
 * model on the same instances and seeds, sweep.json / sweep.txt /
 * sweep.html with both side by side and their parameter counts; killed
 * (SIGKILL) during the second model and resumed, the same records as an
 * uninterrupted sweep; a new sweep over an old one, or a resume with
 * other models, refused; bad model specs. With the argument `mixed`
 * (test_sweep_mixed, label server): a local GGUF and a llama-server
 * serving the other model, swept together. */
#include "test_common.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "support/jsonl.h"
#include "support/run_cmd.h"

static char work[256];
static char tiny[320], small[320];

#define OPTS "--num-instances 4 --max-tokens 8 --budget 6 --threads 2 --seed 7 --quiet"

static void mkdemo(const char *shape, const char *path)
{
    char args[512];
    snprintf(args, sizeof args, "model mkdemo --shape %s --seed 3 -o '%s'", shape, path);
    cmd_result r = run_program(args, NULL);
    if (r.status != 0)
        fail_msg("mkdemo %s failed: %s", shape, r.err);
    cmd_result_free(&r);
}

static int setup(void **state)
{
    (void)state;
    snprintf(work, sizeof work, "/tmp/sdc-sweep-XXXXXX");
    if (!mkdtemp(work))
        return -1;
    snprintf(tiny, sizeof tiny, "%s/tiny.gguf", work);
    snprintf(small, sizeof small, "%s/small.gguf", work);
    mkdemo("tiny", tiny);
    mkdemo("small", small);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", work);
    return system(cmd) == 0 ? 0 : -1;
}

static int exists(const char *dir, const char *name)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    struct stat st;
    return stat(p, &st) == 0;
}

/* A JSON-lines file as an array, without the wall-clock "seconds". */
/* The lines of dir/name without "seconds" ("traces.jsonl": the run's
 * traces file, traces.jsonl.zst or traces.jsonl). */
static json_t *records(const char *dir, const char *name)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    if (!strcmp(name, "traces.jsonl"))
        snprintf(p, sizeof p, "%s", jsonl_traces_path(dir));
    static const char *const drop[] = {"seconds", NULL};
    return jsonl_load(p, drop);
}

static cmd_result sweep(const char *dir, const char *extra)
{
    char args[2048];
    snprintf(args, sizeof args, "sweep --model '%s' --model '%s' --out '%s' %s " OPTS, tiny, small,
             dir, extra);
    return run_program(args, NULL);
}

static void test_two_shapes(void **state)
{
    (void)state;
    char dir[300];
    snprintf(dir, sizeof dir, "%s/full", work);
    cmd_result r = sweep(dir, "");
    if (r.status != 0)
        fail_msg("sweep failed (%d): %s", r.status, r.err);
    /* sweep.txt is printed: both models side by side */
    assert_non_null(strstr(r.out, "Model sweep: 2 models"));
    assert_non_null(strstr(r.out, "01-tiny"));
    assert_non_null(strstr(r.out, "02-small"));
    assert_non_null(strstr(r.out, "H1 diff"));
    cmd_result_free(&r);
    assert_true(exists(dir, "sweep.txt"));
    assert_true(exists(dir, "sweep.html"));
    assert_true(exists(dir, "01-tiny/report.html"));
    assert_true(exists(dir, "02-small/summary.json"));

    char p[600];
    snprintf(p, sizeof p, "%s/sweep.json", dir);
    json_t *sj = json_load_file(p, 0, NULL);
    assert_non_null(sj);
    assert_true(json_is_true(json_object_get(sj, "finished")));
    json_t *models = json_object_get(sj, "models");
    assert_int_equal(json_array_size(models), 2);
    json_int_t np[2];
    for (size_t i = 0; i < 2; i++) {
        json_t *m = json_array_get(models, i);
        np[i] = json_integer_value(json_object_get(m, "n_params"));
        assert_true(np[i] > 0);
        json_t *pr = json_object_get(m, "primary");
        assert_string_equal(json_string_value(json_object_get(pr, "strategy")), "online");
        assert_int_equal(json_integer_value(json_object_get(pr, "n")), 4);
        assert_true(json_is_object(json_object_get(pr, "categories")));
        assert_true(json_is_number(json_object_get(pr, "ece")));
        assert_true(json_number_value(json_object_get(pr, "tokens_per_instance")) > 0);
        assert_int_equal(json_array_size(json_object_get(m, "strategies")), 4);
    }
    assert_true(np[1] > np[0]); /* small is the bigger shape */
    json_decref(sj);

    /* the same instances and trace seeds on both models, other text */
    snprintf(p, sizeof p, "%s/01-tiny", dir);
    json_t *t0 = records(p, "traces.jsonl");
    snprintf(p, sizeof p, "%s/02-small", dir);
    json_t *t1 = records(p, "traces.jsonl");
    assert_int_equal(json_array_size(t0), json_array_size(t1));
    int texts_differ = 0;
    for (size_t i = 0; i < json_array_size(t0); i++) {
        json_t *a = json_array_get(t0, i), *b = json_array_get(t1, i);
        assert_string_equal(json_string_value(json_object_get(a, "instance_id")),
                            json_string_value(json_object_get(b, "instance_id")));
        assert_string_equal(json_string_value(json_object_get(a, "seed")),
                            json_string_value(json_object_get(b, "seed")));
        texts_differ |= strcmp(json_string_value(json_object_get(a, "text")),
                               json_string_value(json_object_get(b, "text"))) != 0;
    }
    assert_true(texts_differ);
    json_decref(t0);
    json_decref(t1);

    /* the plot against model size */
    snprintf(p, sizeof p, "%s/sweep.html", dir);
    FILE *f = fopen(p, "rb");
    static char html[1 << 20];
    size_t n = fread(html, 1, sizeof html - 1, f);
    html[n] = '\0';
    fclose(f);
    assert_non_null(strstr(html, "<table id='sweep'>"));
    assert_non_null(strstr(html, "parameters (log scale)"));
    assert_non_null(strstr(html, "<circle"));

    /* a new sweep over it is refused; a resume with other models too */
    r = sweep(dir, "");
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "already holds a sweep"));
    cmd_result_free(&r);
    char args[1024];
    snprintf(args, sizeof args, "sweep --model '%s' --out '%s' --resume " OPTS, small, dir);
    r = run_program(args, NULL);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "other models"));
    cmd_result_free(&r);
    /* resuming a finished sweep changes nothing */
    r = sweep(dir, "--resume");
    if (r.status != 0)
        fail_msg("resume of a finished sweep failed: %s", r.err);
    cmd_result_free(&r);
}

/* Killed while the second model runs, then resumed: the same records as
 * the uninterrupted sweep of test_two_shapes. */
static void test_resume(void **state)
{
    (void)state;
    char full[300], cut[300], p[600];
    snprintf(full, sizeof full, "%s/full", work);
    snprintf(cut, sizeof cut, "%s/cut", work);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char log[512];
        snprintf(log, sizeof log, "%.300s/cut.log", work);
        if (!freopen(log, "w", stdout) || !freopen(log, "a", stderr))
            _exit(99);
        execl(test_binary(), test_binary(), "sweep", "--model", tiny, "--model", small, "--out",
              cut, "--num-instances", "4", "--max-tokens", "8", "--budget", "6", "--threads", "2",
              "--seed", "7", "--quiet", (char *)NULL);
        _exit(98);
    }
    /* kill once the second model has a finished instance */
    snprintf(p, sizeof p, "%s/02-small/predictions.jsonl", cut);
    int ws, exited = 0;
    for (long waited = 0; waited < 300000; waited += 5) {
        if (waitpid(pid, &ws, WNOHANG) == pid) {
            exited = 1;
            break;
        }
        struct stat st;
        if (stat(p, &st) == 0 && st.st_size > 0)
            break;
        struct timespec ts = {0, 5000000L};
        nanosleep(&ts, NULL);
    }
    assert_false(exited);
    kill(pid, SIGKILL);
    waitpid(pid, &ws, 0);
    assert_true(exists(cut, "01-tiny/summary.json"));
    assert_false(exists(cut, "02-small/summary.json"));

    cmd_result r = sweep(cut, "--resume");
    if (r.status != 0)
        fail_msg("sweep --resume failed (%d): %s", r.status, r.err);
    cmd_result_free(&r);
    static const char *const runs[] = {"01-tiny", "02-small"};
    static const char *const files[] = {"predictions.jsonl", "traces.jsonl"};
    for (size_t i = 0; i < 2; i++)
        for (size_t k = 0; k < 2; k++) {
            char a[400], b[400];
            snprintf(a, sizeof a, "%s/%s", full, runs[i]);
            snprintf(b, sizeof b, "%s/%s", cut, runs[i]);
            json_t *x = records(a, files[k]), *y = records(b, files[k]);
            if (!json_equal(x, y))
                fail_msg("%s/%s differs after kill and resume", runs[i], files[k]);
            json_decref(x);
            json_decref(y);
        }
    snprintf(p, sizeof p, "%s/sweep.json", cut);
    json_t *sj = json_load_file(p, 0, NULL);
    assert_true(json_is_true(json_object_get(sj, "finished")));
    json_decref(sj);
}

static void test_bad_specs(void **state)
{
    (void)state;
    char args[1024];
    snprintf(args, sizeof args, "sweep --model 'openai:ftp://x' --out '%s/bad' " OPTS, work);
    cmd_result r = run_program(args, NULL);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "openai:URL"));
    cmd_result_free(&r);
    r = run_program("sweep " OPTS, NULL);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "--model"));
    cmd_result_free(&r);
    r = run_program("sweep --help", NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "openai:URL#NAME"));
    cmd_result_free(&r);
}

/* ---- mixed backends: a llama-server ---- */

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    int p = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &al) == 0)
        p = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return p;
}

/* 1 when GET /health answers 200 (the model is loaded). */
static int server_ready(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char buf[64] = {0};
    int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    static const char req[] = "GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    ok = ok && write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1);
    ok = ok && read(fd, buf, sizeof buf - 1) > 12 && strstr(buf, " 200") != NULL;
    if (fd >= 0)
        close(fd);
    return ok;
}

static void test_mixed(void **state)
{
    (void)state;
    const char *bin = getenv("SDC_LLAMA_BIN_DIR");
    char server[512], port_s[16], dir[300], args[2048];
    snprintf(server, sizeof server, "%s/llama-server", bin ? bin : "");
    if (!bin || access(server, X_OK) != 0)
        fail_msg("llama-server not found (SDC_LLAMA_BIN_DIR=%s)", bin ? bin : "");
    int port = free_port();
    assert_true(port > 0);
    snprintf(port_s, sizeof port_s, "%d", port);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char log[512];
        snprintf(log, sizeof log, "%.300s/server.log", work);
        if (!freopen(log, "w", stdout) || !freopen(log, "a", stderr))
            _exit(99);
        execl(server, server, "-m", small, "--host", "127.0.0.1", "--port", port_s, "-np", "2",
              "-c", "4096", "-t", "2", "--no-webui", "--no-repack", "--seed", "1", (char *)NULL);
        _exit(127);
    }
    int ready = 0;
    for (int i = 0; i < 600 && !ready; i++) { /* 60 s at most */
        ready = server_ready(port);
        struct timespec ts = {0, 100000000L};
        if (!ready)
            nanosleep(&ts, NULL);
    }
    snprintf(dir, sizeof dir, "%s/mixed", work);
    snprintf(args, sizeof args,
             "sweep --model '%s' --model 'openai:http://127.0.0.1:%d#small' --out '%s' " OPTS, tiny,
             port, dir);
    cmd_result r = ready ? run_program(args, NULL) : (cmd_result){-1, NULL, NULL};
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    if (!ready)
        fail_msg("llama-server did not start; see %s/server.log", work);
    if (r.status != 0)
        fail_msg("mixed sweep failed (%d): %s", r.status, r.err);
    assert_non_null(strstr(r.out, "02-small"));
    cmd_result_free(&r);
    char p[600];
    snprintf(p, sizeof p, "%s/sweep.json", dir);
    json_t *sj = json_load_file(p, 0, NULL);
    assert_non_null(sj);
    json_t *m = json_object_get(sj, "models");
    assert_string_equal(json_string_value(json_object_get(json_array_get(m, 0), "backend")),
                        "llama");
    assert_string_equal(json_string_value(json_object_get(json_array_get(m, 1), "backend")),
                        "openai");
    json_t *pr = json_object_get(json_array_get(m, 1), "primary");
    assert_int_equal(json_integer_value(json_object_get(pr, "n")), 4);
    json_decref(sj);
    /* the same instances on both */
    snprintf(p, sizeof p, "%s/01-tiny", dir);
    json_t *a = records(p, "predictions.jsonl");
    snprintf(p, sizeof p, "%s/02-small", dir);
    json_t *b = records(p, "predictions.jsonl");
    assert_int_equal(json_array_size(a), json_array_size(b));
    for (size_t i = 0; i < json_array_size(a); i++)
        assert_string_equal(
            json_string_value(json_object_get(json_array_get(a, i), "instance_id")),
            json_string_value(json_object_get(json_array_get(b, i), "instance_id")));
    json_decref(a);
    json_decref(b);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_specs),
        cmocka_unit_test(test_two_shapes),
        cmocka_unit_test(test_resume),
    };
    const struct CMUnitTest mixed[] = {cmocka_unit_test(test_mixed)};
    if (argc > 1 && !strcmp(argv[1], "mixed"))
        return cmocka_run_group_tests(mixed, setup, teardown);
    return cmocka_run_group_tests(tests, setup, teardown);
}
