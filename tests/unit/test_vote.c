/* test_vote.c - percentiles, votes, top-eta filtering. */
#include "test_common.h"

#include "deepconf/dc_vote.h"

static void test_percentile_linear(void **state)
{
    (void)state;
    double x[] = {4, 1, 3, 2};
    double p;
    assert_int_equal(dc_percentile(x, 4, 0, &p), DC_STATUS_OK);
    assert_double_bits(p, 1.0);
    assert_int_equal(dc_percentile(x, 4, 100, &p), DC_STATUS_OK);
    assert_double_bits(p, 4.0);
    assert_int_equal(dc_percentile(x, 4, 50, &p), DC_STATUS_OK);
    assert_double_bits(p, 2.5);
    assert_int_equal(dc_percentile(x, 4, 25, &p), DC_STATUS_OK); /* v = 0.75 */
    assert_close_rel(p, 1.75, 1e-15);
    assert_int_equal(dc_percentile(x, 0, 50, &p), DC_STATUS_INVALID_ARG);
    assert_int_equal(dc_percentile(x, 4, 101, &p), DC_STATUS_INVALID_ARG);
    assert_int_equal(dc_percentile(x, 4, NAN, &p), DC_STATUS_INVALID_ARG);
    /* the input is not reordered */
    assert_double_bits(x[0], 4.0);
}

static void test_majority_ties_and_missing(void **state)
{
    (void)state;
    const char *a[] = {NULL, "B", "", "A", "A", "B"};
    dc_vote_result r;
    assert_int_equal(dc_vote(a, NULL, NULL, 6, &r), DC_STATUS_OK);
    assert_int_equal(r.winner, 1); /* tie 2-2: B was seen first */
    assert_int_equal(r.n_votes, 4);
    assert_close_rel(r.share, 0.5, 1e-15);
    /* all answers missing */
    const char *none[] = {NULL, "", NULL};
    assert_int_equal(dc_vote(none, NULL, NULL, 3, &r), DC_STATUS_OK);
    assert_int_equal(r.winner, -1);
    assert_int_equal(r.n_votes, 0);
    assert_true(isnan(r.share));
    assert_int_equal(dc_vote(NULL, NULL, NULL, 0, &r), DC_STATUS_OK);
    assert_int_equal(r.winner, -1);
}

static void test_weighted_and_include(void **state)
{
    (void)state;
    const char *a[] = {"refuse", "comply", "comply", "refuse"};
    double w[] = {5.0, 2.0, 2.5, 0.5};
    dc_vote_result r;
    assert_int_equal(dc_vote(a, w, NULL, 4, &r), DC_STATUS_OK);
    assert_int_equal(r.winner, 0);
    assert_close_rel(r.share, 5.5 / 10.0, 1e-15);
    unsigned char inc[] = {0, 1, 1, 1};
    assert_int_equal(dc_vote(a, w, inc, 4, &r), DC_STATUS_OK);
    assert_int_equal(r.winner, 1);
    assert_close_rel(r.share, 4.5 / 5.0, 1e-15);
    assert_int_equal(r.n_votes, 3);
    /* a weighted tie also goes to the first seen */
    double t[] = {1.0, 1.0, 0.0, 0.0};
    assert_int_equal(dc_vote(a, t, NULL, 4, &r), DC_STATUS_OK);
    assert_int_equal(r.winner, 0);
    /* non-positive total: no share rather than a wrong number */
    double z[] = {0.0, -1.0, 0.0, 0.0};
    assert_int_equal(dc_vote(a, z, NULL, 4, &r), DC_STATUS_OK);
    assert_int_equal(r.winner, 0);
    assert_true(isnan(r.share));
}

static void test_filter_eta_extremes(void **state)
{
    (void)state;
    double s[] = {3, 1, 4, 1, 5, 9, 2, 6};
    const char *a[] = {"x", "y", "x", NULL, "y", "x", "y", "x"};
    unsigned char keep[8];
    double thr;
    /* 100 %: everything with an answer */
    assert_int_equal(dc_filter_top(s, a, NULL, 8, 100.0, keep, &thr), DC_STATUS_OK);
    assert_double_bits(thr, 1.0);
    for (size_t i = 0; i < 8; i++)
        assert_int_equal(keep[i], a[i] != NULL);
    /* a tiny eta keeps the best only */
    assert_int_equal(dc_filter_top(s, a, NULL, 8, 0.001, keep, &thr), DC_STATUS_OK);
    for (size_t i = 0; i < 8; i++)
        assert_int_equal(keep[i], i == 5);
    /* 10 % of 7 answered scores {3,1,4,5,9,2,6}: percentile 90 = 7.2 */
    assert_int_equal(dc_filter_top(s, a, NULL, 8, 10.0, keep, &thr), DC_STATUS_OK);
    assert_close_rel(thr, 7.2, 1e-14);
    /* out of range */
    assert_int_equal(dc_filter_top(s, a, NULL, 8, 0.0, keep, &thr), DC_STATUS_INVALID_ARG);
    assert_int_equal(dc_filter_top(s, a, NULL, 8, 100.5, keep, &thr), DC_STATUS_INVALID_ARG);
    /* nobody answered */
    const char *none[] = {NULL, NULL};
    assert_int_equal(dc_filter_top(s, none, NULL, 2, 10.0, keep, &thr), DC_STATUS_OK);
    assert_true(isnan(thr));
    assert_int_equal(keep[0] + keep[1], 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_percentile_linear),
        cmocka_unit_test(test_majority_ties_and_missing),
        cmocka_unit_test(test_weighted_and_include),
        cmocka_unit_test(test_filter_eta_extremes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
