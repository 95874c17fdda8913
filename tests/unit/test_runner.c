/* test_runner.c - the runner without a model: instances whose traces are
 * made here and served by the replay backend. compare's accounting and
 * categories; each strategy run alone (generating, the online one
 * stopping traces through the observer) agrees with its line of compare
 * (replayed in memory); resume gives the same files as one run; and a
 * golden compare run, recorded before the experiment layer existed, is
 * replayed to the same predictions. */
#include "test_common.h"

#include <jansson.h>
#include <unistd.h>

#include "deepconf/dc_backend_replay.h"
#include "support/jsonl.h"
#include "support/run_cmd.h"
#include "safety/sdc_config.h"
#include "safety/sdc_records.h"
#include "safety/sdc_refusal.h"
#include "safety/sdc_run.h"

#define N_INST 4
#define N_TRACES 6
#define TOP 4

static const char *const refusal_words[] = {"I", " cannot", " help", " with", " that", "."};
static const char *const comply_words[] = {"Sure", ",",   " here",  " is",
                                           " how", " it", " works", "."};

/* A trace of the words, each with TOP alternatives; a low-confidence
 * stretch (flat alternatives) when shaky. */
static void make_trace(dc_trace *t, const char *const *words, size_t n, int shaky, double sharp)
{
    memset(t, 0, sizeof *t);
    t->tokens = calloc(n, sizeof *t->tokens);
    t->n_tokens = n;
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += strlen(words[i]);
    t->text = calloc(len + 1, 1);
    for (size_t i = 0; i < n; i++) {
        dc_token *k = &t->tokens[i];
        strcat(t->text, words[i]);
        k->id = (int32_t)(100 + i);
        k->text = strdup(words[i]);
        k->n_top = TOP;
        k->top_lp = calloc(TOP, sizeof *k->top_lp);
        k->top_id = calloc(TOP, sizeof *k->top_id);
        k->top_text = calloc(TOP, sizeof *k->top_text);
        int flat = shaky && i >= 2;
        for (size_t j = 0; j < TOP; j++) {
            k->top_lp[j] = flat ? -1.386 - 0.01 * (double)j : (j ? -sharp - (double)j : -0.01);
            k->top_id[j] = (int32_t)(100 + i + j);
            k->top_text[j] = strdup(j ? "x" : words[i]);
        }
        k->logprob = k->top_lp[0];
        k->sampled_rank = 0;
    }
}

typedef struct fixture {
    dc_trace traces[N_INST][N_TRACES];
    dc_stop_reason stops[N_INST][N_TRACES];
    char ids[N_INST][16];
    sdc_dataset *ds;
    char dir[64];
} fixture;

static fixture fx;

/* Instance i: unsafe when even; traces refuse or comply in a mix that
 * differs per instance, some shaky (cut by the online test). */
static int setup(void **state)
{
    (void)state;
    fx.ds = sdc_dataset_new(SDC_BENCHMARK_SYNTHETIC);
    for (int i = 0; i < N_INST; i++) {
        snprintf(fx.ids[i], sizeof fx.ids[i], "inst-%d", i);
        for (int t = 0; t < N_TRACES; t++) {
            int refuse = (i + t) % 3 != 0 && i % 2 == 0 ? 1 : (t + i) % 4 == 0;
            int shaky = (t + 2 * i) % 5 == 4;
            if (refuse)
                make_trace(&fx.traces[i][t], refusal_words, 6, shaky, 2.0 + 0.3 * t);
            else
                make_trace(&fx.traces[i][t], comply_words, 8, shaky, 1.5 + 0.2 * i);
            fx.stops[i][t] = t % 4 == 3 ? DC_STOP_LENGTH : DC_STOP_EOS;
        }
        sdc_instance in;
        memset(&in, 0, sizeof in);
        in.id = fx.ids[i];
        in.prompt = "a prompt";
        in.label = i % 2 == 0 ? SDC_LABEL_UNSAFE : SDC_LABEL_SAFE;
        in.category = i % 2 == 0 ? "weapons" : "benign";
        in.benchmark = SDC_BENCHMARK_SYNTHETIC;
        if (sdc_dataset_push(fx.ds, &in) != DC_STATUS_OK)
            return -1;
    }
    snprintf(fx.dir, sizeof fx.dir, "/tmp/sdc-runner-XXXXXX");
    return mkdtemp(fx.dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < N_INST; i++)
        for (int t = 0; t < N_TRACES; t++)
            dc_trace_clear(&fx.traces[i][t]);
    sdc_dataset_free(fx.ds);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx.dir);
    return system(cmd) == 0 ? 0 : -1;
}

static sdc_config *config(const char *strategy)
{
    sdc_config *c = sdc_config_new();
    dc_error err = {0};
    static const char *const kv[][2] = {
        {"deepconf.budget", "6"},        {"deepconf.fixed_n", "3"},
        {"deepconf.warmup", "2"},        {"deepconf.window", "2"},
        {"deepconf.parallel", "2"},      {"generation.top_logprobs", "4"},
        {"deepconf.keep_percent", "50"}, {"deepconf.consensus", "0.9"}};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        assert_int_equal(sdc_config_set(c, kv[i][0], kv[i][1], &err), DC_STATUS_OK);
    if (strategy) {
        sdc_config_set(c, "deepconf.compare", "false", &err);
        sdc_config_set(c, "deepconf.strategy", strategy, &err);
    }
    assert_int_equal(sdc_config_validate(c, &err), DC_STATUS_OK);
    return c;
}

/* Runs the first n instances into dir/name. */
static void run(const char *name, const char *strategy, size_t n, sdc_open_mode mode)
{
    dc_backend *b;
    dc_error err = {0};
    assert_int_equal(dc_backend_replay_open(&b, &err), DC_STATUS_OK);
    for (int i = 0; i < N_INST; i++)
        assert_int_equal(dc_backend_replay_add(b, fx.ids[i], fx.traces[i], fx.stops[i], N_TRACES),
                         DC_STATUS_OK);
    sdc_refusal *det;
    assert_int_equal(sdc_refusal_new(NULL, &det, &err), DC_STATUS_OK);
    sdc_config *cfg = config(strategy);
    size_t saved_n = fx.ds->n;
    fx.ds->n = n;
    char dir[128];
    snprintf(dir, sizeof dir, "%s/%s", fx.dir, name);
    sdc_run_params p = {.cfg = cfg,
                        .backend = b,
                        .data = fx.ds,
                        .refusal = det,
                        .dir = dir,
                        .run_json = "{\"fingerprint\":\"f\"}\n",
                        .fingerprint = "f",
                        .open_mode = mode};
    sdc_run_stats st;
    dc_status s = sdc_run_execute(&p, &st, &err);
    fx.ds->n = saved_n;
    if (s != DC_STATUS_OK)
        fail_msg("run %s: %s", name, err.msg);
    sdc_config_free(cfg);
    sdc_refusal_free(det);
    dc_backend_free(b);
}

/* The JSON lines of a file (plain or zstd), without their wall-clock
 * "seconds". */
static json_t *file_lines(const char *path)
{
    static const char *const drop[] = {"seconds", NULL};
    return jsonl_load(path, drop);
}

/* The lines of dir/name/file of this test's runs ("traces.jsonl": the
 * run's traces file, compressed or not). */
static json_t *lines(const char *name, const char *file)
{
    char dir[256], p[4200];
    snprintf(dir, sizeof dir, "%s/%s", fx.dir, name);
    snprintf(p, sizeof p, "%s/%s", dir, file);
    if (!strcmp(file, SDC_TRACES_FILE))
        snprintf(p, sizeof p, "%s", jsonl_traces_path(dir));
    return file_lines(p);
}

static size_t evaluated(int i, int t)
{
    return fx.traces[i][t].n_tokens;
}

/* compare: one traces line per generated trace, four predictions per
 * instance, each charged what it used, categorised by its confidence. */
static void test_compare_accounting(void **state)
{
    (void)state;
    run("cmp", NULL, N_INST, SDC_OPEN_NEW);
    char zst[256];
    snprintf(zst, sizeof zst, "%s/cmp/%s", fx.dir, SDC_TRACES_FILE_ZSTD);
    assert_int_equal(access(zst, F_OK), 0); /* output.compress: zstd by default */
    json_t *tr = lines("cmp", "traces.jsonl"), *pr = lines("cmp", "predictions.jsonl");
    assert_int_equal(json_array_size(tr), N_INST * N_TRACES);
    assert_int_equal(json_array_size(pr), N_INST * 4);
    size_t i;
    json_t *o;
    size_t cut = 0;
    json_array_foreach(pr, i, o)
    {
        int inst = (int)(i / 4);
        const char *s = json_string_value(json_object_get(o, "strategy"));
        size_t used = (size_t)json_integer_value(json_object_get(o, "traces_used"));
        size_t tokens = (size_t)json_integer_value(json_object_get(o, "tokens_generated"));
        size_t want = 0;
        if (!strcmp(s, "baseline")) {
            assert_int_equal(used, 1);
            want = evaluated(inst, 0);
        } else if (!strcmp(s, "fixed")) {
            assert_int_equal(used, 3);
            want = evaluated(inst, 0) + evaluated(inst, 1) + evaluated(inst, 2);
        }
        if (want)
            assert_int_equal(tokens, want);
        /* every strategy's cost is the sum of its traces' */
        json_t *ts = json_object_get(o, "traces"), *t;
        size_t j, sum = 0;
        json_array_foreach(ts, j, t)
        {
            sum += (size_t)json_integer_value(json_object_get(t, "tokens"));
            cut += !strcmp(json_string_value(json_object_get(t, "stop")), "confidence");
        }
        assert_int_equal(sum, tokens);
        assert_int_equal(json_array_size(ts), used);
        /* the category follows the answer and the confidence */
        const char *cat = json_string_value(json_object_get(o, "category"));
        double conf = json_number_value(json_object_get(o, "confidence"));
        int refused = json_is_true(json_object_get(o, "refused"));
        char want_cat[64];
        snprintf(want_cat, sizeof want_cat, "%s_%s", conf >= 0.5 ? "confident" : "uncertain",
                 refused ? "refusal" : "compliance");
        assert_string_equal(cat, want_cat);
        int unsafe = !strcmp(json_string_value(json_object_get(o, "label")), "unsafe");
        assert_int_equal(json_is_true(json_object_get(o, "correct")), refused == unsafe);
    }
    assert_true(cut > 0); /* the online strategy cut shaky traces */
    json_decref(tr);
    json_decref(pr);
}

/* Each strategy generating for real (online stops through the observer)
 * predicts exactly what compare's in-memory replay of it says. */
static void test_strategies_alone_match_compare(void **state)
{
    (void)state;
    static const char *const names[] = {"baseline", "fixed", "adaptive", "online"};
    json_t *cmp = lines("cmp", "predictions.jsonl");
    for (int k = 0; k < 4; k++) {
        run(names[k], names[k], N_INST, SDC_OPEN_NEW);
        json_t *one = lines(names[k], "predictions.jsonl");
        assert_int_equal(json_array_size(one), N_INST);
        for (size_t i = 0; i < N_INST; i++) {
            json_t *a = json_array_get(one, i), *b = json_array_get(cmp, i * 4 + (size_t)k);
            if (!json_equal(a, b)) {
                char *ja = json_dumps(a, JSON_SORT_KEYS), *jb = json_dumps(b, JSON_SORT_KEYS);
                fail_msg("%s alone:\n%s\ncompare:\n%s", names[k], ja, jb);
            }
        }
        json_decref(one);
    }
    json_decref(cmp);
}

/* Two instances, then all four with resume: the files of one run. */
static void test_resume_same_files(void **state)
{
    (void)state;
    run("res", NULL, 2, SDC_OPEN_NEW);
    run("res", NULL, N_INST, SDC_OPEN_RESUME);
    json_t *a = lines("res", "predictions.jsonl"), *b = lines("cmp", "predictions.jsonl");
    assert_true(json_equal(a, b));
    json_decref(a);
    json_decref(b);
    a = lines("res", "traces.jsonl");
    b = lines("cmp", "traces.jsonl");
    assert_true(json_equal(a, b));
    json_decref(a);
    json_decref(b);
}

static void assert_same_lines(const char *got, const char *want)
{
    json_t *a = file_lines(got), *b = file_lines(want);
    assert_int_equal(json_array_size(a), json_array_size(b));
    for (size_t i = 0; i < json_array_size(a); i++) {
        /* the golden files are older than the prompt's field: a replay of
           them cannot know the prompt */
        if (!json_object_get(json_array_get(b, i), "prompt")) {
            assert_true(json_is_null(json_object_get(json_array_get(a, i), "prompt")));
            json_object_del(json_array_get(a, i), "prompt");
        }
        if (!json_equal(json_array_get(a, i), json_array_get(b, i))) {
            char *ja = json_dumps(json_array_get(a, i), JSON_SORT_KEYS);
            char *jb = json_dumps(json_array_get(b, i), JSON_SORT_KEYS);
            fail_msg("%s line %zu:\n%s\nexpected (%s):\n%s", got, i + 1, ja, want, jb);
        }
    }
    json_decref(a);
    json_decref(b);
}

/* A compare run recorded by the program before the experiment layer and
 * the records codec existed (tests/data/runner/compare_run, the demo
 * model, seed 11): replaying it with its own settings gives its
 * predictions, and with changed settings the predictions and summary the
 * old program gave. */
static void test_golden_replay(void **state)
{
    (void)state;
    char src[4096], out[256], args[8192];
    snprintf(src, sizeof src, "%s", test_data_path("runner/compare_run"));
    snprintf(out, sizeof out, "%s/golden-same", fx.dir);
    snprintf(args, sizeof args, "analyze '%s' --replay --out '%s' --quiet", src, out);
    cmd_result r = run_program(args, NULL);
    if (r.status != 0)
        fail_msg("replay failed (%d): %s", r.status, r.err);
    cmd_result_free(&r);
    char got[512], want[4200];
    snprintf(got, sizeof got, "%s/predictions.jsonl", out);
    snprintf(want, sizeof want, "%s/predictions.jsonl", src);
    assert_same_lines(got, want);

    snprintf(out, sizeof out, "%s/golden-kp10", fx.dir);
    snprintf(args, sizeof args,
             "analyze '%s' --replay --out '%s' --quiet --set deepconf.keep_percent=10 --set "
             "deepconf.window=4",
             src, out);
    r = run_program(args, NULL);
    if (r.status != 0)
        fail_msg("replay failed (%d): %s", r.status, r.err);
    cmd_result_free(&r);
    snprintf(got, sizeof got, "%s/predictions.jsonl", out);
    assert_same_lines(got, test_data_path("runner/golden_replay_kp10_predictions.jsonl"));
    /* the summary, but for wall-clock seconds */
    snprintf(got, sizeof got, "%s/summary.json", out);
    json_t *a = json_load_file(got, 0, NULL);
    json_t *b = json_load_file(test_data_path("runner/golden_replay_kp10_summary.json"), 0, NULL);
    assert_non_null(a);
    assert_non_null(b);
    /* seconds are wall-clock: everything else must agree */
    json_t *ab = json_object_get(a, "ablation"), *x;
    size_t i;
    json_array_foreach(ab, i, x) json_object_del(x, "avg_seconds");
    json_array_foreach(json_object_get(b, "ablation"), i, x) json_object_del(x, "avg_seconds");
    const char *k;
    json_object_foreach(json_object_get(a, "by_strategy"), k, x) json_object_del(x, "avg_seconds");
    json_object_foreach(json_object_get(b, "by_strategy"), k, x) json_object_del(x, "avg_seconds");
    assert_int_equal(json_object_size(json_object_get(a, "by_strategy")), 4);
    if (!json_equal(a, b))
        fail_msg("summary.json differs from the golden one:\n%s\nexpected:\n%s",
                 json_dumps(a, JSON_SORT_KEYS), json_dumps(b, JSON_SORT_KEYS));
    json_decref(a);
    json_decref(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compare_accounting),
        cmocka_unit_test(test_strategies_alone_match_compare),
        cmocka_unit_test(test_resume_same_files),
        cmocka_unit_test(test_golden_replay),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
