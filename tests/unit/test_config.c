/* test_config.c - defaults < YAML < flags; errors name file, line, key. */
#include "test_common.h"

#include <jansson.h>
#include <unistd.h>

#include "safety/sdc_config.h"
#include "safety/sdc_run.h"

static const char *write_yaml(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/sdc-config-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void test_defaults(void **state)
{
    (void)state;
    sdc_config *c = sdc_config_new();
    assert_non_null(c);
    assert_string_equal(c->benchmark, ""); /* synthetic, or auto with a file */
    assert_int_equal(c->num_instances, 20);
    assert_int_equal(c->compare, 1);
    assert_int_equal(c->budget, 10);
    assert_int_equal(c->window, 64);
    assert_int_equal(c->top_logprobs, 20);
    assert_double_bits(c->consensus, 0.95);
    assert_double_bits(c->threshold, 0.5);
    assert_true(isnan(c->temperature));
    assert_string_equal(c->mode, "refusal");
    assert_string_equal(c->profile, "paper");
    dc_error err = {0};
    assert_int_equal(sdc_config_validate(c, &err), DC_STATUS_OK);
    sdc_config_free(c);
}

static void test_yaml_then_flags(void **state)
{
    (void)state;
    const char *p =
        write_yaml("# a run\nmodel:\n  name: Qwen/Qwen3-8B\n  backend: openai\n"
                   "  endpoints:\n    - http://127.0.0.1:8000\n    - http://127.0.0.1:8001\n"
                   "generation:\n  max_tokens: 128\n  temperature: 0.3\n  thinking: yes\n"
                   "deepconf:\n  budget: 16\n  keep_percent: 10\n"
                   "refusal:\n  openings:\n    - i refuse\n  mode: rules\n  max_gap: 2\n"
                   "output:\n  dir: ~\n");
    sdc_config *c = sdc_config_new();
    dc_error err = {0};
    assert_int_equal(sdc_config_load(c, p, &err), DC_STATUS_OK);
    assert_string_equal(c->model, "Qwen/Qwen3-8B");
    assert_int_equal(c->n_endpoints, 2);
    assert_string_equal(c->endpoints[1], "http://127.0.0.1:8001");
    assert_int_equal(c->max_tokens, 128);
    assert_double_bits(c->temperature, 0.3);
    assert_int_equal(c->thinking, 1);
    assert_int_equal(c->budget, 16);
    assert_double_bits(c->keep_percent, 10.0);
    assert_string_equal(c->out, ""); /* null keeps the default */
    /* refusal.mode is a key here; the lists belong to the detector */
    assert_string_equal(c->refusal_mode, "rules");
    assert_int_equal(sdc_config_set(c, "refusal.mode", "classifier", &err), DC_STATUS_OK);
    assert_string_equal(c->refusal_mode, "classifier");
    assert_int_equal(sdc_config_set(c, "refusal.mode", "maybe", &err), DC_STATUS_CONFIG);
    /* a flag wins over the file */
    assert_int_equal(sdc_config_set(c, "generation.max_tokens", "64", &err), DC_STATUS_OK);
    assert_int_equal(c->max_tokens, 64);
    /* the resolved config as JSON */
    char *j = sdc_config_to_json(c);
    json_t *o = json_loads(j, 0, NULL);
    assert_non_null(o);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(o, "generation"), "max_tokens")), 64);
    assert_int_equal(json_array_size(json_object_get(json_object_get(o, "model"), "endpoints")), 2);
    assert_string_equal(json_string_value(json_object_get(o, "config_file")), p);
    json_decref(o);
    dc_free(j);
    sdc_config_free(c);
    unlink(p);
}

static void expect_error(const char *yaml, const char *needle)
{
    const char *p = write_yaml(yaml);
    sdc_config *c = sdc_config_new();
    dc_error err = {0};
    assert_int_equal(sdc_config_load(c, p, &err), DC_STATUS_CONFIG);
    if (!strstr(err.msg, needle))
        fail_msg("'%s' lacks '%s'", err.msg, needle);
    assert_non_null(strstr(err.msg, p));
    sdc_config_free(c);
    unlink(p);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("deepconf:\n  budgett: 3\n", ":2: unknown key 'deepconf.budgett'");
    expect_error("modle:\n  name: x\n", ":1: unknown section 'modle'");
    expect_error("deepconf:\n  budget: many\n", ":2: deepconf.budget: expected a whole number");
    expect_error("deepconf:\n  budget: 0\n", "deepconf.budget: expected a whole number from 1");
    expect_error("generation:\n  mode: judge\n",
                 "generation.mode: expected one of refusal|classify");
    expect_error("generation:\n  thinking: maybe\n", "expected true or false");
    expect_error("model:\n  endpoints: http://x\n", "model.endpoints: expected a list");
    expect_error("deepconf:\n  budget: [1, 2]\n", "expected a single value");
    expect_error("deepconf: [1]\n", "'deepconf' must be a section");
    expect_error("deepconf:\n  budget: 3\n bad indent\n", "YAML error");
    sdc_config *c = sdc_config_new();
    dc_error err = {0};
    assert_int_equal(sdc_config_set(c, "nope.key", "1", &err), DC_STATUS_CONFIG);
    assert_non_null(strstr(err.msg, "'nope.key'"));
    assert_int_equal(sdc_config_set(c, "deepconf.consensus", "nan", &err), DC_STATUS_CONFIG);
    assert_int_equal(sdc_config_load(c, "/nonexistent.yaml", &err), DC_STATUS_IO);
    sdc_config_free(c);
}

static void test_validate(void **state)
{
    (void)state;
    sdc_config *c = sdc_config_new();
    dc_error err = {0};
    sdc_config_set(c, "deepconf.budget", "3", &err);
    assert_int_equal(sdc_config_validate(c, &err), DC_STATUS_CONFIG);
    assert_non_null(strstr(err.msg, "deepconf.fixed_n"));
    sdc_config_set(c, "deepconf.budget", "10", &err);
    sdc_config_set(c, "model.backend", "openai", &err);
    assert_int_equal(sdc_config_validate(c, &err), DC_STATUS_CONFIG);
    assert_non_null(strstr(err.msg, "--endpoint"));
    sdc_config_set(c, "model.backend", "llama", &err);
    /* A benchmark of the Hub table needs no file (it is downloaded); others do. */
    sdc_config_set(c, "benchmark.name", "xstest", &err);
    assert_int_equal(sdc_config_validate(c, &err), DC_STATUS_OK);
    sdc_config_set(c, "benchmark.name", "refusal-direction", &err);
    assert_int_equal(sdc_config_validate(c, &err), DC_STATUS_CONFIG);
    assert_non_null(strstr(err.msg, "--data"));
    sdc_config_free(c);
}

/* --data alone means auto; no --data means synthetic; synthetic with a
 * file is an error, not a run of the synthetic set. */
static void test_benchmark_resolution(void **state)
{
    (void)state;
    sdc_config *c = sdc_config_new();
    dc_error err = {0};
    assert_int_equal(sdc_config_validate(c, &err), DC_STATUS_OK);
    assert_int_equal(c->kind.benchmark, SDC_BENCHMARK_SYNTHETIC);
    assert_int_equal(c->kind.strategy, SDC_STRATEGY_ONLINE);
    assert_int_equal(c->kind.vote_score, SDC_VOTE_LOWEST);
    sdc_config_set(c, "benchmark.data", "x.csv", &err);
    assert_int_equal(sdc_config_validate(c, &err), DC_STATUS_OK);
    assert_int_equal(c->kind.benchmark, SDC_BENCHMARK_AUTO);
    sdc_config_set(c, "benchmark.name", "xstest", &err);
    assert_int_equal(sdc_config_validate(c, &err), DC_STATUS_OK);
    assert_int_equal(c->kind.benchmark, SDC_BENCHMARK_XSTEST);
    sdc_config_set(c, "benchmark.name", "synthetic", &err);
    assert_int_equal(sdc_config_validate(c, &err), DC_STATUS_CONFIG);
    assert_non_null(strstr(err.msg, "takes no file"));
    sdc_config_set(c, "benchmark.data", "", &err);
    sdc_config_set(c, "generation.mode", "classify", &err);
    sdc_config_set(c, "deepconf.profile", "reference", &err);
    assert_int_equal(sdc_config_validate(c, &err), DC_STATUS_OK);
    assert_int_equal(c->kind.mode, SDC_MODE_CLASSIFY);
    assert_int_equal(c->kind.profile, DC_PROFILE_REFERENCE);
    sdc_config_free(c);
}

/* Every key is documented in config/experiment_config.yaml. */
static void test_every_key_documented(void **state)
{
    (void)state;
    char path[8192];
    snprintf(path, sizeof path, "%.4000s/../../config/experiment_config.yaml", test_data_path(""));
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char text[1 << 18];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    const char *k, *t, *d;
    size_t count = 0;
    for (size_t i = 0; sdc_config_describe(i, &k, &t, &d); i++, count++) {
        const char *leaf = strchr(k, '.') + 1;
        char pat[128];
        snprintf(pat, sizeof pat, "  %s:", leaf);
        if (!strstr(text, pat))
            fail_msg("config/experiment_config.yaml does not document %s", k);
        assert_true(strlen(d) > 10);
    }
    assert_true(count > 40);
    /* and the documented file loads as it is */
    sdc_config *c = sdc_config_new();
    dc_error err = {0};
    assert_int_equal(sdc_config_load(c, path, &err), DC_STATUS_OK);
    assert_int_equal(sdc_config_validate(c, &err), DC_STATUS_OK);
    sdc_config_free(c);
}

/* A run's identity ignores where results go, not what produces them. */
static void test_fingerprint(void **state)
{
    (void)state;
    sdc_config *a = sdc_config_new(), *b = sdc_config_new();
    dc_error err = {0};
    char fa[17], fb[17];
    sdc_config_set(b, "output.dir", "/tmp/some}where", &err);
    sdc_config_set(b, "output.run_name", "other", &err);
    sdc_run_fingerprint(a, "sha256:x", fa);
    sdc_run_fingerprint(b, "sha256:x", fb);
    assert_string_equal(fa, fb);
    assert_int_equal(strlen(fa), 16);
    sdc_run_fingerprint(a, "sha256:y", fb);
    assert_string_not_equal(fa, fb);
    sdc_config_set(b, "generation.seed", "43", &err);
    sdc_run_fingerprint(b, "sha256:x", fb);
    assert_string_not_equal(fa, fb);
    sdc_config_free(a);
    sdc_config_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_yaml_then_flags),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_benchmark_resolution),
        cmocka_unit_test(test_every_key_documented),
        cmocka_unit_test(test_fingerprint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
