/* test_cli_model.c - `safety-deepconf model mkdemo|info` and `bench`
 * usage: same seed same bytes, the header facts, the shape table, exit
 * codes. */
#include "test_common.h"

#include <fcntl.h>
#include <jansson.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[256];

/* Runs the program with args; stdout into out, stderr into err (each
 * when not NULL). Exit code. */
static int run2(const char *out, const char *errf, const char *const *args)
{
    const char *bin = getenv("SDC_BINARY");
    assert_non_null(bin);
    char *argv[32];
    size_t n = 0;
    argv[n++] = (char *)bin;
    for (; args[n - 1] && n < 31; n++)
        argv[n] = (char *)args[n - 1];
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(out ? out : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        int nul = open(errf ? errf : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(nul, 2);
        execv(bin, argv);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int run(const char *out, const char *const *args)
{
    return run2(out, NULL, args);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return b;
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sdc-cli-model-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_mkdemo_deterministic(void **state)
{
    (void)state;
    char a[512], b[512], c[512];
    snprintf(a, sizeof a, "%s/a.gguf", tmpdir);
    snprintf(b, sizeof b, "%s/b.gguf", tmpdir);
    snprintf(c, sizeof c, "%s/c.gguf", tmpdir);
    const char *ma[] = {"model", "mkdemo", "--shape", "tiny", "--seed", "5", "-o", a, NULL};
    const char *mb[] = {"model", "mkdemo", "--shape", "tiny", "--seed", "5", "-o", b, NULL};
    const char *mc[] = {"model", "mkdemo", "--seed", "6", "--quant", "F16", "-o", c, NULL};
    assert_int_equal(run(NULL, ma), 0);
    assert_int_equal(run(NULL, mb), 0);
    assert_int_equal(run(NULL, mc), 0);
    size_t la, lb, lc;
    char *da = slurp(a, &la), *db = slurp(b, &lb), *dc = slurp(c, &lc);
    assert_int_equal(la, lb);
    assert_memory_equal(da, db, la); /* same seed, same bytes */
    assert_true(la > 8u << 20 && la < 20u << 20);
    assert_true(lc > la); /* F16 weights are larger */
    assert_memory_equal(da, "GGUF", 4);
    free(da);
    free(db);
    free(dc);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", a);
    assert_int_not_equal(access(tmp, F_OK), 0); /* renamed into place */
}

static void test_info_file(void **state)
{
    (void)state;
    char m[512], out[512];
    snprintf(m, sizeof m, "%s/a.gguf", tmpdir);
    snprintf(out, sizeof out, "%s/info.json", tmpdir);
    const char *args[] = {"model", "info", "--json", "--ctx", "1000", "--parallel", "4", m, NULL};
    assert_int_equal(run(out, args), 0);
    size_t n;
    char *txt = slurp(out, &n);
    json_t *j = json_loads(txt, 0, NULL);
    free(txt);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "arch")), "qwen3");
    assert_string_equal(json_string_value(json_object_get(j, "quant")), "Q8_0");
    assert_int_equal(json_integer_value(json_object_get(j, "n_layer")), 2);
    assert_int_equal(json_integer_value(json_object_get(j, "n_embd")), 64);
    assert_int_equal(json_integer_value(json_object_get(j, "n_vocab")), 151936);
    assert_int_equal(json_integer_value(json_object_get(j, "context_length")), 40960);
    assert_true(json_is_true(json_object_get(j, "chat_template")));
    assert_true(json_is_true(json_object_get(j, "tied_embeddings")));
    assert_int_equal(json_integer_value(json_object_get(j, "eos")), 151645);
    assert_int_equal(json_array_size(json_object_get(j, "eog")), 2);
    json_t *mem = json_object_get(j, "memory");
    /* KV: 2 layers x 1000 tokens x 4 traces x (K + V) x 2 kv heads x 16 x 2 bytes */
    assert_int_equal(json_integer_value(json_object_get(mem, "kv_bytes")),
                     2 * 1000 * 4 * 2 * 2 * 16 * 2);
    json_int_t w = json_integer_value(json_object_get(mem, "weights_bytes"));
    assert_int_equal(w, json_integer_value(json_object_get(j, "size_bytes")));
    assert_int_equal(json_integer_value(json_object_get(mem, "total_bytes")),
                     w + json_integer_value(json_object_get(mem, "kv_bytes")) +
                         json_integer_value(json_object_get(mem, "compute_bytes")));
    assert_false(json_is_true(json_object_get(j, "parallel_auto")));
    json_decref(j);
    /* without --parallel: the most traces (up to 32) within --memory-limit */
    const char *auto_args[] = {"model",          "info", "--json", "--ctx", "512",
                               "--memory-limit", "30",   m,        NULL};
    assert_int_equal(run(out, auto_args), 0);
    txt = slurp(out, &n);
    j = json_loads(txt, 0, NULL);
    free(txt);
    assert_true(json_is_true(json_object_get(j, "parallel_auto")));
    json_int_t par = json_integer_value(json_object_get(j, "parallel"));
    mem = json_object_get(j, "memory");
    /* each trace adds 128 KiB of KV and 1.2 MiB of logit rows to 17.5 MiB */
    assert_int_equal(par, 10);
    assert_true(json_integer_value(json_object_get(mem, "total_bytes")) <= 30 << 20);
    json_decref(j);
}

static void test_info_shapes(void **state)
{
    (void)state;
    char out[512];
    snprintf(out, sizeof out, "%s/shapes.json", tmpdir);
    const char *args[] = {"model", "info", "--json", NULL};
    assert_int_equal(run(out, args), 0);
    size_t n;
    char *txt = slurp(out, &n);
    json_t *j = json_loads(txt, 0, NULL);
    free(txt);
    json_t *models = json_object_get(j, "models");
    assert_int_equal(json_array_size(models), 8);
    const char *names[] = {"Qwen3-0.6B", "Qwen3-1.7B", "Qwen3-4B", "Qwen3-8B"};
    for (size_t i = 0; i < 8; i++) {
        json_t *m = json_array_get(models, i);
        assert_string_equal(json_string_value(json_object_get(m, "name")), names[i / 2]);
        assert_string_equal(json_string_value(json_object_get(m, "quant")),
                            i % 2 ? "Q4_K_M" : "Q8_0");
    }
    json_decref(j);
}

static void test_usage_errors(void **state)
{
    (void)state;
    const char *a[] = {"model", "mkdemo", "--shape", "7b", "-o", "/tmp/x.gguf", NULL};
    assert_int_equal(run(NULL, a), 2);
    const char *b[] = {"model", "mkdemo", NULL};
    assert_int_equal(run(NULL, b), 2);
    const char *c[] = {"model", "info", "/nonexistent.gguf", NULL};
    assert_int_equal(run(NULL, c), 1);
    const char *d[] = {"model", "pull", NULL};
    assert_int_equal(run(NULL, d), 2);
    const char *e[] = {"model", "frobnicate", NULL};
    assert_int_equal(run(NULL, e), 2);
    const char *f[] = {"bench", "generate", NULL};
    assert_int_equal(run(NULL, f), 2);
    const char *g[] = {"model", "--help", NULL};
    assert_int_equal(run(NULL, g), 0);

    /* Not a GGUF: one line from the program, nothing from ggml. */
    char bad[512], err[512];
    snprintf(bad, sizeof bad, "%s/not.gguf", tmpdir);
    snprintf(err, sizeof err, "%s/err.txt", tmpdir);
    FILE *fp = fopen(bad, "wb");
    fputs("this is not a model\n", fp);
    fclose(fp);
    const char *h[] = {"model", "info", bad, NULL};
    assert_int_equal(run2(NULL, err, h), 1);
    size_t n;
    char *txt = slurp(err, &n);
    assert_non_null(strstr(txt, "safety-deepconf model: info: "));
    assert_non_null(strstr(txt, "not a GGUF file"));
    assert_non_null(strchr(txt, '\n'));
    assert_null(strchr(strchr(txt, '\n') + 1, '\n')); /* one line */
    free(txt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mkdemo_deterministic),
        cmocka_unit_test(test_info_file),
        cmocka_unit_test(test_info_shapes),
        cmocka_unit_test(test_usage_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
