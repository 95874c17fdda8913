/* test_confidence.c - token, group and trace confidences, both profiles,
 * against values computed independently in the test (long double sums). */
#include "test_common.h"

#include "deepconf/dc_confidence.h"

static long double ref_mean(const double *x, size_t n)
{
    long double s = 0;
    for (size_t i = 0; i < n; i++)
        s += x[i];
    return n ? s / n : 0;
}

static void test_profile_names(void **state)
{
    (void)state;
    dc_profile p;
    assert_int_equal(dc_profile_parse("reference", &p), DC_STATUS_OK);
    assert_int_equal(p, DC_PROFILE_REFERENCE);
    assert_int_equal(dc_profile_parse("paper", &p), DC_STATUS_OK);
    assert_int_equal(p, DC_PROFILE_PAPER);
    assert_int_equal(dc_profile_parse("Paper", &p), DC_STATUS_INVALID_ARG);
    assert_int_equal(dc_profile_parse(NULL, &p), DC_STATUS_INVALID_ARG);
    assert_string_equal(dc_profile_name(DC_PROFILE_REFERENCE), "reference");
}

static void test_token_confidence_paper(void **state)
{
    (void)state;
    double top[] = {-0.5, -1.5, -2.0, -4.0};
    dc_position p = {-9.0, top, 4, -1}; /* sampled outside the top-k: ignored */
    double c;
    assert_int_equal(dc_token_confidence(&p, 4, DC_PROFILE_PAPER, &c), DC_STATUS_OK);
    assert_close_rel(c, 2.0, 1e-15);
    assert_int_equal(dc_token_confidence(&p, 2, DC_PROFILE_PAPER, &c), DC_STATUS_OK);
    assert_close_rel(c, 1.0, 1e-15);
    /* k = 1: minus the top logprob */
    assert_int_equal(dc_token_confidence(&p, 1, DC_PROFILE_PAPER, &c), DC_STATUS_OK);
    assert_double_bits(c, 0.5);
    /* fewer alternatives than k, or k = 0 */
    assert_int_equal(dc_token_confidence(&p, 5, DC_PROFILE_PAPER, &c), DC_STATUS_FORMAT);
    /* the online form takes what there is, up to k */
    assert_close_rel(dc_topk_confidence(top, 4, 50), 2.0, 1e-15);
    assert_double_bits(dc_topk_confidence(top, 4, 1), 0.5);
    assert_true(isnan(dc_topk_confidence(top, 0, 20)));
    assert_int_equal(dc_token_confidence(&p, 0, DC_PROFILE_PAPER, &c), DC_STATUS_FORMAT);
}

static void test_token_confidence_reference(void **state)
{
    (void)state;
    double top[] = {-0.25, -1.0, -2.0};
    double c;
    /* sampled token inside the top-k: 3 values, not 4 */
    dc_position in = {-1.0, top, 3, 1};
    assert_int_equal(dc_token_confidence(&in, 3, DC_PROFILE_REFERENCE, &c), DC_STATUS_OK);
    assert_double_bits(c, dc_round3((0.25 + 1.0 + 2.0) / 3.0));
    /* outside: 4 values */
    dc_position out = {-5.0, top, 3, -1};
    assert_int_equal(dc_token_confidence(&out, 3, DC_PROFILE_REFERENCE, &c), DC_STATUS_OK);
    assert_double_bits(c, 2.062); /* 8.25 / 4 = 2.0625 -> ties to even */
    /* k capped at what the position has */
    assert_int_equal(dc_token_confidence(&out, 50, DC_PROFILE_REFERENCE, &c), DC_STATUS_OK);
    assert_double_bits(c, 2.062);
    /* nothing at all */
    dc_position none = {NAN, NULL, 0, -1};
    assert_int_equal(dc_token_confidence(&none, 20, DC_PROFILE_REFERENCE, &c), DC_STATUS_FORMAT);
}

static void test_round3(void **state)
{
    (void)state;
    assert_double_bits(dc_round3(2.0625), 2.062);
    assert_double_bits(dc_round3(2.0635), 2.064); /* 2063.5 -> 2064 (even) */
    assert_double_bits(dc_round3(-0.0), -0.0);
    assert_double_bits(dc_round3(1.23449), 1.234);
}

static void test_pairwise_mean_matches_long_double(void **state)
{
    (void)state;
    double x[1000];
    uint64_t s = 0x9e3779b97f4a7c15u;
    for (size_t i = 0; i < 1000; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        x[i] = (double)(s % 100000) / 997.0;
    }
    size_t sizes[] = {0, 1, 7, 8, 9, 16, 127, 128, 129, 1000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        assert_close_rel(dc_mean_pairwise(x, sizes[i]), (double)ref_mean(x, sizes[i]), 1e-13);
}

static void test_groups_edge_cases(void **state)
{
    (void)state;
    double g[8];
    /* empty trace: one group 0 */
    assert_int_equal(dc_group_count(0, 4), 1);
    assert_int_equal(dc_group_confidences(NULL, 0, 4, DC_PROFILE_PAPER, g), DC_STATUS_OK);
    assert_double_bits(g[0], 0.0);
    /* one token, shorter than the window: its value */
    double one[] = {3.25};
    assert_int_equal(dc_group_confidences(one, 1, 4, DC_PROFILE_PAPER, g), DC_STATUS_OK);
    assert_double_bits(g[0], 3.25);
    /* exactly the window: one group */
    double four[] = {1, 2, 3, 6};
    assert_int_equal(dc_group_count(4, 4), 1);
    assert_int_equal(dc_group_confidences(four, 4, 4, DC_PROFILE_PAPER, g), DC_STATUS_OK);
    assert_double_bits(g[0], 3.0);
    /* sliding, stride 1 */
    double six[] = {1, 2, 3, 4, 5, 6};
    assert_int_equal(dc_group_count(6, 4), 3);
    assert_int_equal(dc_group_confidences(six, 6, 4, DC_PROFILE_PAPER, g), DC_STATUS_OK);
    assert_double_bits(g[0], 2.5);
    assert_double_bits(g[1], 3.5);
    assert_double_bits(g[2], 4.5);
    assert_int_equal(dc_group_confidences(six, 6, 0, DC_PROFILE_PAPER, g), DC_STATUS_INVALID_ARG);
}

/* The paper profile's running windows stay exact over long traces. */
static void test_groups_long_trace_paper(void **state)
{
    (void)state;
    enum { N = 20000, W = 64 };
    static double c[N], g[N];
    uint64_t s = 12345;
    for (size_t i = 0; i < N; i++) {
        s = s * 6364136223846793005u + 1442695040888963407u;
        c[i] = (double)(s >> 11) / 9007199254740992.0 * 15.0 + (i % 97 == 0 ? 1e6 : 0);
    }
    assert_int_equal(dc_group_confidences(c, N, W, DC_PROFILE_PAPER, g), DC_STATUS_OK);
    for (size_t i = 0; i + W <= N; i += 997)
        assert_close_rel(g[i], (double)ref_mean(c + i, W), 1e-12);
    assert_close_rel(g[N - W], (double)ref_mean(c + N - W, W), 1e-12);
}

static void test_trace_scores_paper(void **state)
{
    (void)state;
    double c[20];
    for (size_t i = 0; i < 20; i++)
        c[i] = (double)((i * 7) % 11) + 0.5;
    dc_score_params p = dc_score_default_params();
    assert_int_equal(p.profile, DC_PROFILE_PAPER);
    assert_int_equal(p.window, 64);
    p.window = 4;
    p.tail = 5;
    dc_trace_scores s;
    assert_int_equal(dc_trace_score(c, 20, &p, &s), DC_STATUS_OK);
    assert_close_rel(s.mean, (double)ref_mean(c, 20), 1e-14);
    assert_close_rel(s.tail, (double)ref_mean(c + 15, 5), 1e-14);
    /* independent: all 17 window means, sorted */
    double m[17];
    for (size_t i = 0; i < 17; i++)
        m[i] = (double)ref_mean(c + i, 4);
    for (size_t i = 0; i < 17; i++)
        for (size_t j = i + 1; j < 17; j++)
            if (m[j] < m[i]) {
                double t = m[i];
                m[i] = m[j];
                m[j] = t;
            }
    assert_close_rel(s.min_window, m[0], 1e-14);
    assert_close_rel(s.lowest, m[0], 1e-14);
    assert_close_rel(s.bottom10, m[0], 1e-14); /* floor(17 * 0.1) = 1 */
    double b50 = 0;
    for (size_t i = 0; i < 8; i++) /* floor(17 * 0.5) = 8 */
        b50 += m[i];
    assert_close_rel(s.bottom50, b50 / 8, 1e-14);
}

static void test_trace_scores_edges(void **state)
{
    (void)state;
    dc_trace_scores s;
    dc_score_params p = {DC_PROFILE_PAPER, 16, 16};
    /* empty: all zero */
    assert_int_equal(dc_trace_score(NULL, 0, &p, &s), DC_STATUS_OK);
    assert_double_bits(s.mean, 0.0);
    assert_double_bits(s.min_window, 0.0);
    assert_double_bits(s.bottom10, 0.0);
    /* one token */
    double one[] = {4.5};
    for (int prof = 0; prof < 2; prof++) {
        p.profile = (dc_profile)prof;
        assert_int_equal(dc_trace_score(one, 1, &p, &s), DC_STATUS_OK);
        assert_double_bits(s.mean, 4.5);
        assert_double_bits(s.tail, 4.5);
        assert_double_bits(s.bottom10, 4.5);
        assert_double_bits(s.bottom50, 4.5);
        assert_double_bits(s.min_window, 4.5);
        assert_double_bits(s.lowest, 4.5);
    }
    /* equal confidences: every score equals the value */
    double eq[40];
    for (size_t i = 0; i < 40; i++)
        eq[i] = 2.0625;
    for (int prof = 0; prof < 2; prof++) {
        p.profile = (dc_profile)prof;
        assert_int_equal(dc_trace_score(eq, 40, &p, &s), DC_STATUS_OK);
        assert_double_bits(s.mean, 2.0625);
        assert_double_bits(s.min_window, 2.0625);
        assert_double_bits(s.bottom10, 2.0625);
        /* reference rounds the groups: min_conf is 2.062 */
        assert_double_bits(s.lowest, prof == DC_PROFILE_REFERENCE ? 2.062 : 2.0625);
    }
    p.window = 0;
    assert_int_equal(dc_trace_score(eq, 40, &p, &s), DC_STATUS_INVALID_ARG);
}

static void test_trace_confidences_skip_and_error(void **state)
{
    (void)state;
    double top[] = {-1.0, -2.0};
    dc_position pos[3] = {{-1.0, top, 2, 0}, {NAN, NULL, 0, -1}, {-2.0, top, 1, -1}};
    double out[3];
    size_t n;
    /* reference skips the empty position */
    assert_int_equal(dc_trace_confidences(pos, 3, 2, DC_PROFILE_REFERENCE, out, &n), DC_STATUS_OK);
    assert_int_equal(n, 2);
    assert_double_bits(out[0], 1.5);
    /* paper fails at the first position without enough alternatives */
    assert_int_equal(dc_trace_confidences(pos, 3, 2, DC_PROFILE_PAPER, out, &n), DC_STATUS_FORMAT);
    assert_int_equal(n, 1);
}

static void test_bottom_window(void **state)
{
    (void)state;
    double c[] = {5, 1, 5, 5, 5, 5, 0, 5, 5, 5, 5, 5};
    double b;
    assert_int_equal(dc_bottom_window(c, 12, 2, -1, DC_PROFILE_PAPER, &b), DC_STATUS_OK);
    assert_double_bits(b, 2.5); /* {1,5}, {5,0} ... min of window means */
    assert_int_equal(dc_bottom_window(c, 12, 2, 0.5, DC_PROFILE_REFERENCE, &b), DC_STATUS_OK);
    /* 11 windows, k = 5 lowest: 3, 3, 2.5, 2.5, 5 */
    assert_close_rel(b, (3 + 3 + 2.5 + 2.5 + 5) / 5.0, 1e-15);
    assert_int_equal(dc_bottom_window(c, 1, 2, 0.1, DC_PROFILE_PAPER, &b), DC_STATUS_OK);
    assert_double_bits(b, 5.0);
    assert_int_equal(dc_bottom_window(c, 0, 2, 0.1, DC_PROFILE_PAPER, &b), DC_STATUS_OK);
    assert_double_bits(b, 0.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_profile_names),
        cmocka_unit_test(test_token_confidence_paper),
        cmocka_unit_test(test_token_confidence_reference),
        cmocka_unit_test(test_round3),
        cmocka_unit_test(test_pairwise_mean_matches_long_double),
        cmocka_unit_test(test_groups_edge_cases),
        cmocka_unit_test(test_groups_long_trace_paper),
        cmocka_unit_test(test_trace_scores_paper),
        cmocka_unit_test(test_trace_scores_edges),
        cmocka_unit_test(test_trace_confidences_skip_and_error),
        cmocka_unit_test(test_bottom_window),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
