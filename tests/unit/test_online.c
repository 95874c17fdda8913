/* test_online.c - the online controller's state machine. */
#include "test_common.h"

#include "deepconf/dc_online.h"

static void test_params(void **state)
{
    (void)state;
    dc_online_params p = dc_online_default_params();
    assert_int_equal(p.warmup, 4);
    assert_double_bits(p.keep_percent, 90.0);
    assert_double_bits(p.consensus, 0.95);
    assert_int_equal(p.budget, 10);
    dc_online *c;
    dc_online_params bad = p;
    bad.warmup = 0;
    assert_int_equal(dc_online_new(&bad, &c), DC_STATUS_INVALID_ARG);
    bad = p;
    bad.keep_percent = 0;
    assert_int_equal(dc_online_new(&bad, &c), DC_STATUS_INVALID_ARG);
    bad = p;
    bad.window = 0;
    assert_int_equal(dc_online_new(&bad, &c), DC_STATUS_INVALID_ARG);
}

static void test_states(void **state)
{
    (void)state;
    dc_online_params p = {2, 90.0, 3, 2.0, 4};
    dc_online *c;
    assert_int_equal(dc_online_new(&p, &c), DC_STATUS_OK);
    double thr;
    dc_online_window w;
    assert_int_equal(dc_online_threshold(c, &thr), DC_STATUS_STATE);
    assert_int_equal(dc_online_window_init(c, &w), DC_STATUS_STATE);
    assert_int_equal(dc_online_add_final(c, "a", 1.0, 0), DC_STATUS_STATE);
    assert_int_equal(dc_online_add_warmup(c, "a", 4.0), DC_STATUS_OK);
    assert_false(dc_online_warmup_done(c));
    assert_int_equal(dc_online_add_warmup(c, "b", 2.0), DC_STATUS_OK);
    assert_true(dc_online_warmup_done(c));
    assert_int_equal(dc_online_add_warmup(c, "c", 2.0), DC_STATUS_STATE);
    /* keep 90 %: percentile 10 of {2, 4} = 2.2 */
    assert_int_equal(dc_online_threshold(c, &thr), DC_STATUS_OK);
    assert_close_rel(thr, 2.2, 1e-15);
    /* the warmup trace below the threshold does not vote */
    const char *ans;
    dc_vote_result r;
    assert_int_equal(dc_online_result(c, &ans, &r), DC_STATUS_OK);
    assert_string_equal(ans, "a");
    assert_int_equal(r.n_votes, 1);
    assert_false(dc_online_done(c));
    assert_int_equal(dc_online_add_final(c, "b", 3.0, 0), DC_STATUS_OK);
    assert_int_equal(dc_online_add_final(c, "b", 3.0, 1), DC_STATUS_OK); /* stopped: no vote */
    assert_true(dc_online_done(c));                                      /* budget 4 */
    assert_int_equal(dc_online_add_final(c, "b", 3.0, 0), DC_STATUS_STATE);
    assert_int_equal(dc_online_result(c, &ans, &r), DC_STATUS_OK);
    assert_string_equal(ans, "a"); /* 4.0 vs 3.0 */
    assert_int_equal(r.n_votes, 2);
    assert_int_equal(dc_online_traces(c), 4);
    dc_online_free(c);
}

static void test_window_strict_and_full(void **state)
{
    (void)state;
    dc_online_window w;
    assert_int_equal(dc_online_window_init_with(&w, 2.0, 3), DC_STATUS_OK);
    /* low values before the window is full never stop */
    assert_int_equal(dc_online_window_push(&w, 0.0), DC_ONLINE_CONTINUE);
    assert_int_equal(dc_online_window_push(&w, 0.0), DC_ONLINE_CONTINUE);
    assert_true(isnan(dc_online_window_mean(&w)));
    /* mean exactly at the threshold: strict test, continue */
    assert_int_equal(dc_online_window_push(&w, 6.0), DC_ONLINE_CONTINUE);
    assert_double_bits(dc_online_window_mean(&w), 2.0);
    /* window {0, 6, 0}: mean 2 -> continue; {6, 0, -0.5}: 1.83 -> stop */
    assert_int_equal(dc_online_window_push(&w, 0.0), DC_ONLINE_CONTINUE);
    assert_int_equal(dc_online_window_push(&w, -0.5), DC_ONLINE_STOP);
    assert_int_equal(w.pushed, 5);
    dc_online_window_free(&w);
    dc_online_window_free(&w); /* safe twice */
    assert_int_equal(dc_online_window_init_with(&w, 1.0, 0), DC_STATUS_INVALID_ARG);
}

static void test_consensus_stop(void **state)
{
    (void)state;
    dc_online_params p = {1, 100.0, 4, 0.75, 100};
    dc_online *c;
    assert_int_equal(dc_online_new(&p, &c), DC_STATUS_OK);
    assert_int_equal(dc_online_add_warmup(c, "x", 1.0), DC_STATUS_OK);
    assert_false(dc_online_done(c)); /* consensus is checked after final traces only */
    assert_int_equal(dc_online_add_final(c, "y", 1.0, 0), DC_STATUS_OK);
    assert_false(dc_online_done(c)); /* 0.5 */
    assert_int_equal(dc_online_add_final(c, "y", 1.0, 0), DC_STATUS_OK);
    assert_false(dc_online_done(c)); /* 0.667 */
    assert_int_equal(dc_online_add_final(c, "y", 1.0, 0), DC_STATUS_OK);
    assert_true(dc_online_done(c)); /* 0.75 >= 0.75 */
    dc_online_free(c);
}

static void test_budget_below_warmup(void **state)
{
    (void)state;
    dc_online_params p = {3, 10.0, 4, 2.0, 2};
    dc_online *c;
    assert_int_equal(dc_online_new(&p, &c), DC_STATUS_OK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(dc_online_add_warmup(c, "a", 1.0 + i), DC_STATUS_OK);
    assert_true(dc_online_done(c));
    assert_int_equal(dc_online_add_final(c, "a", 1.0, 0), DC_STATUS_STATE);
    /* keep 10 %: threshold = percentile 90 of {1,2,3} = 2.8: only 3.0 votes */
    dc_vote_result r;
    assert_int_equal(dc_online_result(c, NULL, &r), DC_STATUS_OK);
    assert_int_equal(r.n_votes, 1);
    dc_online_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_states),
        cmocka_unit_test(test_window_strict_and_full),
        cmocka_unit_test(test_consensus_stop),
        cmocka_unit_test(test_budget_below_warmup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
