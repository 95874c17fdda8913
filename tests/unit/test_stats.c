/* test_stats.c - statistics against values computed independently
 * (tests/data/stats/reference.json, from make_reference.py beside it:
 * exact rational arithmetic and brute force), and published ones. */
#include "test_common.h"

#include <jansson.h>

#include "safety/sdc_stats.h"

static json_t *R;

static int setup(void **state)
{
    (void)state;
    json_error_t e;
    R = json_load_file(test_data_path("stats/reference.json"), 0, &e);
    if (!R)
        fail_msg("reference.json: %s", e.text);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    json_decref(R);
    return 0;
}

static void test_fisher(void **state)
{
    (void)state;
    /* Fisher's lady tasting tea: one-sided p = 17/70 */
    assert_close_rel(sdc_fisher_greater(3, 1, 1, 3), 17.0 / 70.0, 1e-12);
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(R, "fisher_greater"), i, c)
    {
        json_t *t = json_object_get(c, "table");
        double p = sdc_fisher_greater((size_t)json_integer_value(json_array_get(t, 0)),
                                      (size_t)json_integer_value(json_array_get(t, 1)),
                                      (size_t)json_integer_value(json_array_get(t, 2)),
                                      (size_t)json_integer_value(json_array_get(t, 3)));
        assert_close_rel(p, json_number_value(json_object_get(c, "p")), 1e-9);
    }
    assert_close_rel(sdc_fisher_greater(0, 0, 3, 4), 1.0, 0);
}

static void test_wilson(void **state)
{
    (void)state;
    double lo, hi;
    /* a published example: 8 of 10 -> [0.490, 0.943] */
    sdc_wilson(8, 10, 1.959963984540054, &lo, &hi);
    assert_true(fabs(lo - 0.4902) < 1e-4 && fabs(hi - 0.9433) < 1e-4);
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(R, "wilson95"), i, c)
    {
        sdc_wilson((size_t)json_integer_value(json_object_get(c, "k")),
                   (size_t)json_integer_value(json_object_get(c, "n")), 1.959963984540054, &lo,
                   &hi);
        json_t *ci = json_object_get(c, "ci");
        assert_close_rel(lo, json_number_value(json_array_get(ci, 0)), 1e-12);
        assert_close_rel(hi, json_number_value(json_array_get(ci, 1)), 1e-12);
    }
    sdc_wilson(0, 0, 1.96, &lo, &hi);
    assert_double_bits(lo, 0.0);
    assert_double_bits(hi, 1.0);
}

static void load_xy(json_t *o, const char *xk, const char *yk, double *x, unsigned char *y,
                    size_t *n)
{
    json_t *xs = json_object_get(o, xk), *ys = json_object_get(o, yk);
    *n = json_array_size(xs);
    for (size_t i = 0; i < *n; i++) {
        x[i] = json_number_value(json_array_get(xs, i));
        y[i] = (unsigned char)json_integer_value(json_array_get(ys, i));
    }
}

static void test_auroc(void **state)
{
    (void)state;
    double s[64];
    unsigned char p[64];
    size_t n;
    json_t *a = json_object_get(R, "auroc");
    load_xy(a, "score", "positive", s, p, &n);
    double v;
    assert_int_equal(sdc_auroc(s, p, n, &v), DC_STATUS_OK);
    assert_close_rel(v, json_number_value(json_object_get(a, "value")), 1e-12);
    /* perfect and inverted rankings, one class only */
    double t[] = {0.1, 0.2, 0.8, 0.9};
    unsigned char q[] = {0, 0, 1, 1}, r[] = {1, 1, 0, 0}, all[] = {1, 1, 1, 1};
    assert_int_equal(sdc_auroc(t, q, 4, &v), DC_STATUS_OK);
    assert_double_bits(v, 1.0);
    assert_int_equal(sdc_auroc(t, r, 4, &v), DC_STATUS_OK);
    assert_double_bits(v, 0.0);
    assert_int_equal(sdc_auroc(t, all, 4, &v), DC_STATUS_OK);
    assert_true(isnan(v));
}

static void test_calibration(void **state)
{
    (void)state;
    double c[64];
    unsigned char y[64];
    size_t n;
    json_t *o = json_object_get(R, "calibration");
    load_xy(o, "conf", "correct", c, y, &n);
    double ece, brier;
    sdc_bin bins[10];
    sdc_calibration(c, y, n, 10, &ece, &brier, bins);
    assert_close_rel(ece, json_number_value(json_object_get(o, "ece")), 1e-12);
    assert_close_rel(brier, json_number_value(json_object_get(o, "brier")), 1e-12);
    size_t total = 0;
    for (size_t b = 0; b < 10; b++)
        total += bins[b].n;
    assert_int_equal(total, n);
    assert_int_equal(bins[9].n, 4); /* 0.95, 0.9, 0.9, 1.0 */
    sdc_calibration(c, y, 0, 10, &ece, &brier, bins);
    assert_true(isnan(ece) && isnan(brier) && isnan(bins[0].accuracy));
}

static void test_risk_coverage(void **state)
{
    (void)state;
    double c[] = {0.9, 0.5, 0.7, 0.5, 0.1};
    unsigned char y[] = {1, 0, 1, 1, 0};
    double cov[5], risk[5], aurc;
    assert_int_equal(sdc_risk_coverage(c, y, 5, cov, risk, &aurc), DC_STATUS_OK);
    /* 0.9 ok, 0.7 ok, {0.5 wrong, 0.5 ok} together, 0.1 wrong */
    double want_risk[] = {0.0, 0.0, 0.25, 0.25, 0.4};
    for (size_t i = 0; i < 5; i++) {
        assert_close_rel(cov[i], (double)(i + 1) / 5.0, 1e-15);
        assert_close_rel(risk[i], want_risk[i], 1e-15);
    }
    assert_close_rel(aurc, (0.0 + 0.0 + 0.25 + 0.25 + 0.4) / 5.0, 1e-15);
    /* input order does not matter */
    double c2[] = {0.5, 0.1, 0.9, 0.5, 0.7};
    unsigned char y2[] = {1, 0, 1, 0, 1};
    double aurc2;
    assert_int_equal(sdc_risk_coverage(c2, y2, 5, cov, risk, &aurc2), DC_STATUS_OK);
    assert_double_bits(aurc2, aurc);
}

static void test_bootstrap(void **state)
{
    (void)state;
    double lo, hi, lo2, hi2;
    assert_int_equal(sdc_bootstrap_diff(18, 20, 10, 20, 2000, 0.05, 7, &lo, &hi), DC_STATUS_OK);
    /* the observed difference 0.4 lies inside, the interval is sane */
    assert_true(lo < 0.4 && hi > 0.4 && lo > 0.0 && hi <= 1.0);
    /* normal approximation of the interval: 0.4 +- 1.96 * 0.1265 */
    assert_true(fabs(lo - 0.152) < 0.06 && fabs(hi - 0.648) < 0.06);
    /* deterministic for a seed */
    assert_int_equal(sdc_bootstrap_diff(18, 20, 10, 20, 2000, 0.05, 7, &lo2, &hi2), DC_STATUS_OK);
    assert_double_bits(lo, lo2);
    assert_double_bits(hi, hi2);
    assert_int_equal(sdc_bootstrap_diff(1, 0, 1, 2, 100, 0.05, 1, &lo, &hi), DC_STATUS_INVALID_ARG);
}

static void test_rng(void **state)
{
    (void)state;
    sdc_rng r;
    sdc_rng_seed(&r, 0);
    /* splitmix64's published first output for seed 0 */
    assert_true(sdc_rng_next(&r) == 0xe220a8397b1dcdafu);
    size_t hist[3] = {0};
    for (int i = 0; i < 3000; i++)
        hist[sdc_rng_below(&r, 3)]++;
    for (int i = 0; i < 3; i++)
        assert_true(hist[i] > 850 && hist[i] < 1150);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fisher),        cmocka_unit_test(test_wilson),
        cmocka_unit_test(test_auroc),         cmocka_unit_test(test_calibration),
        cmocka_unit_test(test_risk_coverage), cmocka_unit_test(test_bootstrap),
        cmocka_unit_test(test_rng),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
