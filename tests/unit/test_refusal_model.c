/* test_refusal_model.c - the learned refusal classifier: deterministic
 * training, the shipped weights, the combination on hard kinds, damage. */
#include "safety_common.h"

#include <math.h>
#include <stdio.h>
#include <unistd.h>

#include "deepconf/dc_hf.h"
#include "safety/sdc_refusal.h"
#include "safety/sdc_refusal_model.h"

/* The sha256 of data/refusal_model.bin, as written by
 * `safety-deepconf refusal train -o data/refusal_model.bin` (docs/refusal.md).
 * Retraining changes it: update it here and in the docs together. */
#define SHIPPED_SHA256 "046146af5994965be4e8578ce4857ff5e7b88844210014eb33df7d2671a89c59"

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void write_all(const char *path, const char *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    fclose(f);
}

static sdc_refusal_model *train_tiny(uint64_t seed, const char *out)
{
    sdc_refusal_examples ex = {NULL, 0, 0};
    dc_error err;
    assert_int_equal(
        sdc_refusal_examples_load(&ex, test_data_path("refusal/train_tiny.jsonl"), &err),
        DC_STATUS_OK);
    sdc_refusal_model_params p = sdc_refusal_model_default_params();
    p.hash_bits = 14;
    p.seed = seed;
    sdc_refusal_model *m;
    assert_int_equal(sdc_refusal_model_train(ex.v, ex.n, &p, NULL, &m, &err), DC_STATUS_OK);
    assert_int_equal(sdc_refusal_model_save(m, out, &err), DC_STATUS_OK);
    sdc_refusal_examples_free(&ex);
    return m;
}

/* The loader skips null labels and exact duplicate responses. */
static void test_examples_load(void **state)
{
    (void)state;
    sdc_refusal_examples ex = {NULL, 0, 0};
    dc_error err;
    assert_int_equal(
        sdc_refusal_examples_load(&ex, test_data_path("refusal/train_tiny.jsonl"), &err),
        DC_STATUS_OK);
    assert_int_equal(ex.n, 16);
    assert_string_equal(ex.v[0].source, "train_tiny");
    assert_int_equal(ex.v[0].refusal, 1);
    assert_int_equal(ex.v[15].refusal, 0);
    assert_int_equal(
        sdc_refusal_examples_load(&ex, test_data_path("refusal/bad_label.jsonl"), &err),
        DC_STATUS_FORMAT);
    assert_non_null(strstr(err.msg, "bad_label.jsonl:2: expected"));
    sdc_refusal_examples_free(&ex);
}

/* Same seed, same bytes; and the model separates what it was trained on. */
static void test_train_deterministic(void **state)
{
    (void)state;
    const char *a = "/tmp/sdc-rm-a.bin", *b = "/tmp/sdc-rm-b.bin";
    sdc_refusal_model *m = train_tiny(7, a);
    sdc_refusal_model_free(train_tiny(7, b));
    size_t na, nb;
    char *ba = read_all(a, &na), *bb = read_all(b, &nb);
    assert_int_equal(na, nb);
    assert_int_equal(na, 72 + 2 * ((size_t)1 << 14));
    assert_memory_equal(ba, bb, na);
    free(bb);
    sdc_refusal_model_free(train_tiny(8, b));
    bb = read_all(b, &nb);
    assert_true(memcmp(ba, bb, na) != 0); /* the seed matters */
    free(ba);
    free(bb);

    sdc_refusal_examples ex = {NULL, 0, 0};
    dc_error err;
    assert_int_equal(
        sdc_refusal_examples_load(&ex, test_data_path("refusal/train_tiny.jsonl"), &err),
        DC_STATUS_OK);
    for (size_t i = 0; i < ex.n; i++) {
        double pc;
        assert_int_equal(sdc_refusal_model_predict(m, ex.v[i].prompt, strlen(ex.v[i].prompt),
                                                   ex.v[i].response, strlen(ex.v[i].response), NULL,
                                                   &pc, NULL),
                         DC_STATUS_OK);
        if ((pc >= 0.5) != ex.v[i].refusal)
            fail_msg("row %zu ('%s'): P(refusal) %.3f, label %d", i + 1, ex.v[i].response, pc,
                     ex.v[i].refusal);
    }
    /* the model read back predicts the same */
    sdc_refusal_model *r;
    assert_int_equal(sdc_refusal_model_load(a, &r, &err), DC_STATUS_OK);
    double p1, p2;
    sdc_refusal_model_predict(m, NULL, 0, "I can't do that.", 16, NULL, &p1, NULL);
    sdc_refusal_model_predict(r, NULL, 0, "I can't do that.", 16, NULL, &p2, NULL);
    assert_double_bits(p1, p2);
    sdc_refusal_model_free(r);
    sdc_refusal_model_free(m);
    sdc_refusal_examples_free(&ex);
    unlink(a);
    unlink(b);
}

/* a and b give bit-identical probabilities for t; returns a's classifier
 * probability. */
static double same_prediction(const sdc_refusal_model *a, const sdc_refusal_model *b, const char *t)
{
    double a1, a2, b1, b2;
    assert_int_equal(sdc_refusal_model_predict(a, NULL, 0, t, strlen(t), NULL, &a1, &a2),
                     DC_STATUS_OK);
    assert_int_equal(sdc_refusal_model_predict(b, NULL, 0, t, strlen(t), NULL, &b1, &b2),
                     DC_STATUS_OK);
    assert_double_bits(a1, b1);
    assert_double_bits(a2, b2);
    return a1;
}

/* The shipped file is the recorded one and is what the program carries. */
static void test_shipped_model(void **state)
{
    (void)state;
    char path[4096];
    snprintf(path, sizeof path, "%s/data/refusal_model.bin", getenv("SDC_SOURCE_DIR"));
    char hex[65];
    dc_error err;
    assert_int_equal(dc_sha256_file(path, hex, &err), DC_STATUS_OK);
    assert_string_equal(hex, SHIPPED_SHA256);
    sdc_refusal_model *file, *built;
    assert_int_equal(sdc_refusal_model_load(path, &file, &err), DC_STATUS_OK);
    assert_int_equal(sdc_refusal_model_builtin(&built, &err), DC_STATUS_OK);
    assert_true(same_prediction(file, built, "I'm sorry, but I can't help with that request.") >
                0.5);
    /* trained on four sources: all of them, and each left out */
    assert_int_equal(sdc_refusal_model_members(file), 5);
    sdc_refusal_model_free(file);
    sdc_refusal_model_free(built);
}

/* The documented command, run again, gives the shipped file byte for byte. */
static void test_retrain_reproduces(void **state)
{
    (void)state;
    const char *out = "/tmp/sdc-rm-retrain.bin";
    char cmd[8192];
    const char *files[] = {"harmbench_val", "rbr_gold", "wildguardtest", "xstest_response_refusal"};
    int n = snprintf(cmd, sizeof cmd, "'%s' refusal train -o %s", test_binary(), out);
    for (size_t i = 0; i < 4; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "refusal/%s.jsonl", files[i]);
        n += snprintf(cmd + n, sizeof cmd - (size_t)n, " --data '%s'", shared_path(rel));
    }
    snprintf(cmd + n, sizeof cmd - (size_t)n, " 2>/dev/null");
    assert_int_equal(system(cmd), 0);
    char path[4096];
    snprintf(path, sizeof path, "%s/data/refusal_model.bin", getenv("SDC_SOURCE_DIR"));
    size_t na, nb;
    char *a = read_all(path, &na), *b = read_all(out, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na);
    free(a);
    free(b);
    unlink(out);
}

/* Accuracy of a detector in mode m on a labelled file. */
static double accuracy(sdc_refusal_mode m, const char *file)
{
    sdc_refusal_params p = sdc_refusal_default_params();
    p.mode = m;
    sdc_refusal *d;
    dc_error err;
    assert_int_equal(sdc_refusal_new(&p, &d, &err), DC_STATUS_OK);
    sdc_refusal_examples ex = {NULL, 0, 0};
    assert_int_equal(sdc_refusal_examples_load(&ex, file, &err), DC_STATUS_OK);
    size_t right = 0;
    for (size_t i = 0; i < ex.n; i++) {
        sdc_refusal_result r;
        assert_int_equal(sdc_refusal_classify_reply(d, ex.v[i].prompt, strlen(ex.v[i].prompt),
                                                    ex.v[i].response, strlen(ex.v[i].response), &r),
                         DC_STATUS_OK);
        right += sdc_refusal_is_refusal(r.kind) == ex.v[i].refusal;
        assert_true(m == SDC_REFUSAL_MODE_RULES ? isnan(r.p_combined) : r.p_combined >= 0);
    }
    double acc = (double)right / (double)ex.n;
    sdc_refusal_examples_free(&ex);
    sdc_refusal_free(d);
    return acc;
}

/* Sentences of the kinds the rules get wrong (premise rejections, warnings
 * instead of help, declining AI disclaimers, sympathetic openings that go
 * on to help), written for this test, not taken from any training set. */
static void test_combination_beats_rules(void **state)
{
    (void)state;
    const char *f = test_data_path("refusal/hard_kinds.jsonl");
    double rules = accuracy(SDC_REFUSAL_MODE_RULES, f);
    double combined = accuracy(SDC_REFUSAL_MODE_COMBINED, f);
    /* measured: rules 6 of 16, combined 9 of 16 */
    if (!(combined >= rules + 3.0 / 16 - 1e-9))
        fail_msg("combined %.3f does not beat the rules %.3f by 3 rows", combined, rules);
}

/* The ensemble: a member on everything, and one per source left out when
 * the rest still has both labels; a file keeps every member, so a loaded
 * model predicts bit for bit as the trained one. */
static void test_ensemble_members(void **state)
{
    (void)state;
    static const char *const refuse[] = {
        "I'm sorry, but I can't help with that.", "I cannot provide instructions for this.",
        "I won't assist with that request.", "Sorry, I must decline."};
    static const char *const comply[] = {"Sure! Here is how you do it: first, open the lid.",
                                         "Of course. The capital of France is Paris.",
                                         "Here are three ideas: a walk, a book, a call.",
                                         "Yes: mix flour and water, then knead."};
    sdc_refusal_example ex[16];
    size_t n = 0;
    /* source a has both labels, b only compliances, c both */
    for (int k = 0; k < 4; k++) {
        ex[n++] = (sdc_refusal_example){"", (char *)refuse[k], 1, "a"};
        ex[n++] = (sdc_refusal_example){"", (char *)comply[k], 0, k < 2 ? "a" : "b"};
    }
    for (int k = 0; k < 4; k++)
        ex[n++] = (sdc_refusal_example){"", (char *)(k < 2 ? refuse[k] : comply[k]), k < 2, "c"};
    sdc_refusal_model_params p = sdc_refusal_model_default_params();
    p.hash_bits = 12;
    sdc_refusal_model *m;
    dc_error err;
    assert_int_equal(sdc_refusal_model_train(ex, n, &p, NULL, &m, &err), DC_STATUS_OK);
    /* all; without a (b + c: both labels); without b; without c */
    assert_int_equal(sdc_refusal_model_members(m), 4);
    const char *path = "/tmp/sdc-rm-ensemble.bin";
    assert_int_equal(sdc_refusal_model_save(m, path, &err), DC_STATUS_OK);
    sdc_refusal_model *back;
    assert_int_equal(sdc_refusal_model_load(path, &back, &err), DC_STATUS_OK);
    assert_int_equal(sdc_refusal_model_members(back), 4);
    same_prediction(m, back, "I'm sorry, I can't do that.");
    sdc_refusal_model_free(back);
    sdc_refusal_model_free(m);
    /* leaving b out of a set where only b has compliances: no such member */
    n = 0;
    for (int k = 0; k < 4; k++) {
        ex[n++] = (sdc_refusal_example){"", (char *)refuse[k], 1, "a"};
        ex[n++] = (sdc_refusal_example){"", (char *)comply[k], 0, "b"};
    }
    assert_int_equal(sdc_refusal_model_train(ex, n, &p, NULL, &m, &err), DC_STATUS_OK);
    assert_int_equal(sdc_refusal_model_members(m), 1);
    sdc_refusal_model_free(m);
    remove(path);
}

/* The decision fields: the rules' own kind stays, the model may overrule. */
static void test_result_fields(void **state)
{
    (void)state;
    sdc_refusal *d;
    dc_error err;
    assert_int_equal(sdc_refusal_new(NULL, &d, &err), DC_STATUS_OK);
    assert_int_equal(sdc_refusal_get_mode(d), SDC_REFUSAL_MODE_COMBINED);
    /* an apology that goes on to help: the shipped model says 0.35 */
    const char *prompt = "How do I bake bread?";
    const char *t =
        "I'm sorry for the slow reply! Here is a simple recipe: mix 500 g flour, 350 ml "
        "water, 10 g salt and 5 g yeast, let it rise for two hours, then bake at 230 C "
        "for 35 minutes.";
    sdc_refusal_result r;
    assert_int_equal(sdc_refusal_classify_reply(d, prompt, strlen(prompt), t, strlen(t), &r),
                     DC_STATUS_OK);
    assert_int_equal(r.rules_kind, SDC_REFUSAL_PARTIAL); /* "i am sorry" ... "here is" */
    assert_string_equal(r.rule, "opening: i am sorry");
    assert_true(r.p_combined < 0.5);
    assert_int_equal(r.kind, SDC_REFUSAL_NONE);
    /* no answer stays no answer */
    assert_int_equal(sdc_refusal_classify(d, "<think>hmm", 10, &r), DC_STATUS_OK);
    assert_string_equal(r.rule, "empty");
    assert_int_equal(r.kind, SDC_REFUSAL_NONE);
    sdc_refusal_free(d);
}

/* A damaged, truncated or foreign file is refused with what was expected. */
static void test_damaged_file(void **state)
{
    (void)state;
    char path[4096];
    snprintf(path, sizeof path, "%s/data/refusal_model.bin", getenv("SDC_SOURCE_DIR"));
    size_t n;
    char *b = read_all(path, &n);
    const char *bad = "/tmp/sdc-rm-bad.bin";
    sdc_refusal_model *m = NULL;
    dc_error err;

    b[1000] ^= 0x40; /* one weight */
    write_all(bad, b, n);
    assert_int_equal(sdc_refusal_model_load(bad, &m, &err), DC_STATUS_CHECKSUM);
    assert_non_null(strstr(err.msg, bad));
    assert_non_null(strstr(err.msg, "CRC-32"));
    assert_null(m);
    b[1000] ^= 0x40;

    write_all(bad, b, n - 7);
    assert_int_equal(sdc_refusal_model_load(bad, &m, &err), DC_STATUS_FORMAT);
    assert_non_null(strstr(err.msg, "truncated"));

    b[8] = 9; /* version */
    write_all(bad, b, n);
    assert_int_equal(sdc_refusal_model_load(bad, &m, &err), DC_STATUS_FORMAT);
    assert_non_null(strstr(err.msg, "version 9"));

    write_all(bad, "GGUF and more bytes than a header holds, surely enough to be read", 66);
    assert_int_equal(sdc_refusal_model_load(bad, &m, &err), DC_STATUS_FORMAT);
    assert_non_null(strstr(err.msg, "not a refusal model file"));

    assert_int_equal(sdc_refusal_model_load("/nonexistent/m.bin", &m, &err), DC_STATUS_IO);
    assert_non_null(strstr(err.msg, "/nonexistent/m.bin"));

    /* the detector passes the error on */
    sdc_refusal_params p = sdc_refusal_default_params();
    p.model_path = bad;
    sdc_refusal *d = NULL;
    assert_int_equal(sdc_refusal_new(&p, &d, &err), DC_STATUS_FORMAT);
    assert_null(d);
    /* the rules alone need no model */
    p.mode = SDC_REFUSAL_MODE_RULES;
    assert_int_equal(sdc_refusal_new(&p, &d, &err), DC_STATUS_OK);
    sdc_refusal_free(d);
    free(b);
    unlink(bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_examples_load),           cmocka_unit_test(test_train_deterministic),
        cmocka_unit_test(test_shipped_model),           cmocka_unit_test(test_retrain_reproduces),
        cmocka_unit_test(test_combination_beats_rules), cmocka_unit_test(test_ensemble_members),
        cmocka_unit_test(test_result_fields),           cmocka_unit_test(test_damaged_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
