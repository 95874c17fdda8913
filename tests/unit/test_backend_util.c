/* test_backend_util.c - backend arithmetic without a model: top-k
 * selection, log-sum-exp, seeds, Qwen3 chat text, stop names, shapes. */
#include "test_common.h"

#include "backend/llama_util.h"
#include "deepconf/dc_backend.h"
#include "deepconf/dc_backend_llama.h"

static void test_topk(void **state)
{
    (void)state;
    enum { N = 5000 };
    float *x = malloc(N * sizeof *x);
    uint32_t s = 12345;
    for (int i = 0; i < N; i++) {
        s = s * 1103515245u + 12345u;
        x[i] = (float)((s >> 8) % 100000) / 1000.0f - 50.0f;
    }
    x[4321] = 1000.0f;
    x[17] = 999.0f;
    int32_t ids[20];
    float vals[20];
    assert_int_equal(dc_topk_select(x, N, 20, ids, vals), 20);
    assert_int_equal(ids[0], 4321);
    assert_int_equal(ids[1], 17);
    /* Against a full ranking by counting: entry m has exactly m larger values
       (or equal ones with a lower id). */
    for (int m = 0; m < 20; m++) {
        int above = 0;
        for (int i = 0; i < N; i++)
            above += x[i] > vals[m] || (x[i] == vals[m] && i < ids[m]);
        assert_int_equal(above, m);
        assert_true(x[ids[m]] == vals[m]);
    }
    /* k larger than n; ties ordered by id. */
    float t[3] = {1.0f, 2.0f, 1.0f};
    assert_int_equal(dc_topk_select(t, 3, 10, ids, vals), 3);
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[1], 0);
    assert_int_equal(ids[2], 2);
    free(x);
}

static void test_logsumexp(void **state)
{
    (void)state;
    enum { N = 151936 };
    float *x = malloc(N * sizeof *x);
    float mx = -1e30f;
    uint32_t s = 99;
    for (int i = 0; i < N; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)((s >> 8) % 200000) / 10000.0f - 10.0f; /* [-10, 10) */
        mx = x[i] > mx ? x[i] : mx;
    }
    double ref = 0;
    for (int i = 0; i < N; i++)
        ref += exp((double)x[i] - mx);
    ref = mx + log(ref);
    double got = dc_logsumexp(x, N, mx);
    assert_true(fabs(got - ref) < 1e-6);
    /* A very peaked row and values far below the maximum. */
    float y[37];
    for (int i = 0; i < 37; i++)
        y[i] = -200.0f;
    y[5] = 3.0f;
    assert_true(fabs(dc_logsumexp(y, 37, 3.0f) - 3.0) < 1e-9);
    free(x);
}

static void test_seeds(void **state)
{
    (void)state;
    uint64_t a = dc_trace_seed(1, "x", 0);
    assert_int_equal(a, dc_trace_seed(1, "x", 0));
    assert_int_not_equal(a, dc_trace_seed(1, "x", 1));
    assert_int_not_equal(a, dc_trace_seed(2, "x", 0));
    assert_int_not_equal(a, dc_trace_seed(1, "y", 0));
    assert_int_equal(dc_trace_seed(1, NULL, 3), dc_trace_seed(1, "", 3));
    for (uint64_t i = 0; i < 100000; i++)
        assert_int_not_equal(dc_trace_seed(7, "inst", i) & 0xFFFFFFFFu, 0xFFFFFFFFu);
}

static void test_qwen3_text(void **state)
{
    (void)state;
    char *s = dc_qwen3_format(NULL, "Q", 0);
    assert_string_equal(s, "<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n"
                           "<think>\n\n</think>\n\n");
    dc_free(s);
    s = dc_qwen3_format("S", "Q", 1);
    assert_string_equal(s, "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nQ<|im_end|>\n"
                           "<|im_start|>assistant\n");
    dc_free(s);
}

static void test_names_and_defaults(void **state)
{
    (void)state;
    assert_string_equal(dc_stop_reason_name(DC_STOP_EOS), "eos");
    assert_string_equal(dc_stop_reason_name(DC_STOP_LENGTH), "length");
    assert_string_equal(dc_stop_reason_name(DC_STOP_CONFIDENCE), "confidence");
    assert_string_equal(dc_stop_reason_name(DC_STOP_CANCELLED), "cancelled");
    assert_string_equal(dc_stop_reason_name(DC_STOP_ERROR), "error");
    dc_sampling off = dc_sampling_qwen3(0), on = dc_sampling_qwen3(1);
    assert_true(off.temperature == 0.7 && off.top_p == 0.8 && off.top_k == 20);
    assert_true(on.temperature == 0.6 && on.top_p == 0.95 && on.top_k == 20);
    dc_gen_params gp = dc_gen_default_params();
    assert_int_equal(gp.top_logprobs, 20);
    assert_int_equal(gp.n_traces, 1);
    assert_string_equal(dc_ftype_name(7), "Q8_0");
    assert_string_equal(dc_ftype_name(15), "Q4_K_M");
}

static void test_shapes(void **state)
{
    (void)state;
    size_t n;
    const dc_model_shape *s = dc_qwen3_shapes(&n);
    assert_int_equal(n, 4);
    /* Published parameter counts: 0.6B (0.596 B with tied embeddings), 8B. */
    uint64_t p06 = dc_model_shape_params(&s[0]);
    assert_true(p06 > 590000000ull && p06 < 600000000ull);
    uint64_t p8 = dc_model_shape_params(&s[3]);
    assert_true(p8 > 8100000000ull && p8 < 8300000000ull);
    uint64_t q8, q4;
    assert_int_equal(dc_model_shape_bytes(&s[0], "Q8_0", &q8), DC_STATUS_OK);
    assert_int_equal(dc_model_shape_bytes(&s[0], "Q4_K_M", &q4), DC_STATUS_OK);
    /* Qwen3-0.6B-Q8_0.gguf holds 639 MB of which ~5 MB are metadata. */
    assert_true(q8 > 620000000ull && q8 < 650000000ull);
    assert_true(q4 < q8);
    assert_int_equal(dc_model_shape_bytes(&s[0], "Q3_XX", &q8), DC_STATUS_INVALID_ARG);
    dc_mem_estimate e;
    dc_mem_estimate_compute(1000, 28, 8, 128, 151936, 1024, 4096, 8, &e);
    assert_int_equal(e.kv, 28ull * 4096 * 8 * 2 * 8 * 128 * 2);
    assert_int_equal(e.total, e.weights + e.kv + e.compute);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topk),
        cmocka_unit_test(test_logsumexp),
        cmocka_unit_test(test_seeds),
        cmocka_unit_test(test_qwen3_text),
        cmocka_unit_test(test_names_and_defaults),
        cmocka_unit_test(test_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
