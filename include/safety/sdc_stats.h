/* sdc_stats.h - the statistics of the analysis: intervals, tests,
 * calibration and ranking measures. Pure functions on caller arrays. */
#ifndef SDC_STATS_H
#define SDC_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "deepconf/dc_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Wilson score interval for k successes in n trials at z (1.959963984540054
 * for 95 %). n = 0 gives [0, 1]. */
void sdc_wilson(size_t k, size_t n, double z, double *lo, double *hi);

/* One-sided Fisher exact test on the 2x2 table
 *        correct  wrong
 *   A      a        b
 *   B      c        d
 * for H1: the correct rate of A is greater than that of B. Returns
 * P(X >= a) under the hypergeometric null with the margins fixed
 * (scipy.stats.fisher_exact(..., alternative="greater")), summed from
 * log-factorials. Degenerate margins give 1. */
double sdc_fisher_greater(size_t a, size_t b, size_t c, size_t d);

/* Percentile bootstrap interval of p_A - p_B (the difference of two
 * proportions, k_a of n_a and k_b of n_b), with `reps` resamples from a
 * deterministic generator seeded with `seed`, at level 1 - alpha. Both n
 * must be > 0 (INVALID_ARG otherwise). */
dc_status sdc_bootstrap_diff(size_t k_a, size_t n_a, size_t k_b, size_t n_b, size_t reps,
                             double alpha, uint64_t seed, double *lo, double *hi);

/* Reliability: `bins` equal-width bins over [0, 1] (a confidence of 1
 * falls in the last bin). Per bin: count, mean confidence, accuracy. */
typedef struct sdc_bin {
    size_t n;
    double mean_conf; /* NaN when n = 0 */
    double accuracy;  /* NaN when n = 0 */
} sdc_bin;

/* Expected calibration error sum_b (n_b/N)|acc_b - conf_b| and Brier
 * score mean (conf - correct)^2 of n predictions; out_bins (may be NULL)
 * receives `bins` entries. n = 0: both NaN. */
void sdc_calibration(const double *conf, const unsigned char *correct, size_t n, size_t bins,
                     double *ece, double *brier, sdc_bin *out_bins);

/* Area under the ROC curve of `score` for telling correct (positive) from
 * wrong predictions: the Mann-Whitney statistic with ties counted half.
 * NaN when either class is empty. Allocates scratch (NOMEM). */
dc_status sdc_auroc(const double *score, const unsigned char *positive, size_t n, double *out);

/* Risk-coverage: predictions sorted by confidence, most confident first;
 * for the k most confident (k = 1..n) coverage k/n and risk = error rate
 * among them. cov and risk hold n entries each. Ties in confidence are
 * taken together (every tied prediction enters at the same coverage
 * step; the earlier points of the tie repeat the tie's final values), so
 * the curve does not depend on input order. Also returns the area under
 * the risk-coverage curve (mean of risk over the n points). */
dc_status sdc_risk_coverage(const double *conf, const unsigned char *correct, size_t n, double *cov,
                            double *risk, double *aurc);

/* Deterministic 64-bit generator (splitmix64) for sampling and shuffles. */
typedef struct sdc_rng {
    uint64_t s;
} sdc_rng;

void sdc_rng_seed(sdc_rng *r, uint64_t seed);
uint64_t sdc_rng_next(sdc_rng *r);
/* Uniform in [0, n) without modulo bias; n > 0. */
uint64_t sdc_rng_below(sdc_rng *r, uint64_t n);

#ifdef __cplusplus
}
#endif

#endif /* SDC_STATS_H */
