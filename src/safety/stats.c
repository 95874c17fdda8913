/* stats.c - intervals, Fisher's exact test, bootstrap, calibration, AUROC,
 * risk-coverage. */
#include "safety/sdc_stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- generator ---- */

void sdc_rng_seed(sdc_rng *r, uint64_t seed)
{
    r->s = seed;
}

uint64_t sdc_rng_next(sdc_rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

uint64_t sdc_rng_below(sdc_rng *r, uint64_t n)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do
        x = sdc_rng_next(r);
    while (x >= limit);
    return x % n;
}

/* ---- Wilson ---- */

void sdc_wilson(size_t k, size_t n, double z, double *lo, double *hi)
{
    if (n == 0) {
        *lo = 0.0;
        *hi = 1.0;
        return;
    }
    double nn = (double)n, p = (double)k / nn, z2 = z * z;
    double denom = 1.0 + z2 / nn;
    double centre = (p + z2 / (2.0 * nn)) / denom;
    double half = z * sqrt(p * (1.0 - p) / nn + z2 / (4.0 * nn * nn)) / denom;
    *lo = centre - half < 0.0 ? 0.0 : centre - half;
    *hi = centre + half > 1.0 ? 1.0 : centre + half;
}

/* ---- Fisher ---- */

static double log_choose(double n, double k)
{
    return lgamma(n + 1.0) - lgamma(k + 1.0) - lgamma(n - k + 1.0);
}

/* log P(X = x) for the hypergeometric of the table's margins. */
static double log_hyper(size_t x, size_t row_a, size_t col_correct, size_t total)
{
    return log_choose((double)col_correct, (double)x) +
           log_choose((double)(total - col_correct), (double)(row_a - x)) -
           log_choose((double)total, (double)row_a);
}

double sdc_fisher_greater(size_t a, size_t b, size_t c, size_t d)
{
    size_t row_a = a + b, col = a + c, total = a + b + c + d;
    if (total == 0 || row_a == 0 || col == 0 || row_a == total || col == total)
        return 1.0;
    size_t hi = row_a < col ? row_a : col;
    double p = 0.0;
    for (size_t x = a; x <= hi; x++) {
        if (row_a - x > total - col)
            continue; /* impossible cell */
        p += exp(log_hyper(x, row_a, col, total));
    }
    return p > 1.0 ? 1.0 : p;
}

/* ---- bootstrap ---- */

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static size_t binom_draw(sdc_rng *r, size_t k, size_t n)
{
    size_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += sdc_rng_below(r, n) < k;
    return s;
}

dc_status sdc_bootstrap_diff(size_t k_a, size_t n_a, size_t k_b, size_t n_b, size_t reps,
                             double alpha, uint64_t seed, double *lo, double *hi)
{
    if (n_a == 0 || n_b == 0 || reps < 2 || !(alpha > 0 && alpha < 1))
        return DC_STATUS_INVALID_ARG;
    double *d = dc_calloc(reps, sizeof *d);
    if (!d)
        return DC_STATUS_NOMEM;
    sdc_rng r;
    sdc_rng_seed(&r, seed);
    for (size_t i = 0; i < reps; i++)
        d[i] = (double)binom_draw(&r, k_a, n_a) / (double)n_a -
               (double)binom_draw(&r, k_b, n_b) / (double)n_b;
    qsort(d, reps, sizeof *d, cmp_double);
    /* numpy-linear percentiles of the resampled differences */
    double pl = alpha / 2.0 * (double)(reps - 1), ph = (1.0 - alpha / 2.0) * (double)(reps - 1);
    size_t il = (size_t)pl, ih = (size_t)ph;
    *lo = d[il] + (il + 1 < reps ? (d[il + 1] - d[il]) * (pl - (double)il) : 0.0);
    *hi = d[ih] + (ih + 1 < reps ? (d[ih + 1] - d[ih]) * (ph - (double)ih) : 0.0);
    dc_free(d);
    return DC_STATUS_OK;
}

/* ---- calibration ---- */

void sdc_calibration(const double *conf, const unsigned char *correct, size_t n, size_t bins,
                     double *ece, double *brier, sdc_bin *out_bins)
{
    if (out_bins)
        for (size_t b = 0; b < bins; b++)
            out_bins[b] = (sdc_bin){0, 0.0, 0.0};
    if (n == 0 || bins == 0) {
        *ece = *brier = NAN;
        if (out_bins)
            for (size_t b = 0; b < bins; b++)
                out_bins[b].mean_conf = out_bins[b].accuracy = NAN;
        return;
    }
    double sq = 0.0;
    size_t cnt[64] = {0};
    double sc[64] = {0}, sa[64] = {0};
    if (bins > 64)
        bins = 64;
    for (size_t i = 0; i < n; i++) {
        double c = conf[i] < 0 ? 0 : conf[i] > 1 ? 1 : conf[i];
        size_t b = (size_t)(c * (double)bins);
        if (b >= bins)
            b = bins - 1;
        cnt[b]++;
        sc[b] += c;
        sa[b] += correct[i] ? 1.0 : 0.0;
        double e = c - (correct[i] ? 1.0 : 0.0);
        sq += e * e;
    }
    double e = 0.0;
    for (size_t b = 0; b < bins; b++) {
        double mc = cnt[b] ? sc[b] / (double)cnt[b] : NAN;
        double ma = cnt[b] ? sa[b] / (double)cnt[b] : NAN;
        if (cnt[b])
            e += (double)cnt[b] / (double)n * fabs(ma - mc);
        if (out_bins)
            out_bins[b] = (sdc_bin){cnt[b], mc, ma};
    }
    *ece = e;
    *brier = sq / (double)n;
}

/* ---- AUROC ---- */

typedef struct scored_item {
    double s;
    unsigned char pos;
} scored_item;

static int cmp_item(const void *x, const void *y)
{
    const scored_item *a = x, *b = y;
    return (a->s > b->s) - (a->s < b->s);
}

dc_status sdc_auroc(const double *score, const unsigned char *positive, size_t n, double *out)
{
    size_t np = 0;
    for (size_t i = 0; i < n; i++)
        np += positive[i] != 0;
    size_t nn = n - np;
    if (np == 0 || nn == 0) {
        *out = NAN;
        return DC_STATUS_OK;
    }
    scored_item *v = dc_calloc(n, sizeof *v);
    if (!v)
        return DC_STATUS_NOMEM;
    for (size_t i = 0; i < n; i++)
        v[i] = (scored_item){score[i], positive[i] != 0};
    qsort(v, n, sizeof *v, cmp_item);
    /* rank sum of the positives, ties get the mean rank */
    double rank_sum = 0.0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        size_t pos_in_tie = 0;
        while (j < n && v[j].s == v[i].s) {
            pos_in_tie += v[j].pos;
            j++;
        }
        double mean_rank = ((double)(i + 1) + (double)j) / 2.0;
        rank_sum += mean_rank * (double)pos_in_tie;
        i = j;
    }
    double u = rank_sum - (double)np * ((double)np + 1.0) / 2.0;
    *out = u / ((double)np * (double)nn);
    dc_free(v);
    return DC_STATUS_OK;
}

/* ---- risk-coverage ---- */

dc_status sdc_risk_coverage(const double *conf, const unsigned char *correct, size_t n, double *cov,
                            double *risk, double *aurc)
{
    if (n == 0) {
        *aurc = NAN;
        return DC_STATUS_OK;
    }
    scored_item *v = dc_calloc(n, sizeof *v);
    if (!v)
        return DC_STATUS_NOMEM;
    for (size_t i = 0; i < n; i++)
        v[i] = (scored_item){-conf[i], correct[i] != 0}; /* most confident first */
    qsort(v, n, sizeof *v, cmp_item);
    size_t wrong = 0;
    double area = 0.0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && v[j].s == v[i].s)
            wrong += !v[j++].pos;
        double r = (double)wrong / (double)j;
        for (size_t k = i; k < j; k++) {
            cov[k] = (double)(k + 1) / (double)n;
            risk[k] = r;
            area += r;
        }
        i = j;
    }
    *aurc = area / (double)n;
    dc_free(v);
    return DC_STATUS_OK;
}
