/* confidence.c - token, group and trace confidences (both profiles).
 *
 * The reference profile follows the official DeepConf code operation by
 * operation, because its users compare numbers bit for bit; the paper
 * profile keeps full precision and uses compensated sums instead. */
#include "deepconf/dc_confidence.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- profiles ---- */

const char *dc_profile_name(dc_profile profile)
{
    return profile == DC_PROFILE_REFERENCE ? "reference" : "paper";
}

dc_status dc_profile_parse(const char *name, dc_profile *out)
{
    if (name && strcmp(name, "paper") == 0) {
        *out = DC_PROFILE_PAPER;
        return DC_STATUS_OK;
    }
    if (name && strcmp(name, "reference") == 0) {
        *out = DC_PROFILE_REFERENCE;
        return DC_STATUS_OK;
    }
    return DC_STATUS_INVALID_ARG;
}

/* ---- sums ---- */

/* numpy's pairwise_sum for float64, block size 128, unroll 8. Starting
 * from 0.0 matters: it turns a lone -0.0 into +0.0 as numpy does. */
static double pairwise_sum(const double *a, size_t n)
{
    if (n < 8) {
        double res = 0.0;
        for (size_t i = 0; i < n; i++)
            res += a[i];
        return res;
    }
    if (n <= 128) {
        double r[8];
        size_t i;
        for (i = 0; i < 8; i++)
            r[i] = a[i];
        for (i = 8; i < n - (n % 8); i += 8)
            for (size_t j = 0; j < 8; j++)
                r[j] += a[i + j];
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++)
            res += a[i];
        return res;
    }
    size_t n2 = n / 2;
    n2 -= n2 % 8;
    return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
}

double dc_mean_pairwise(const double *x, size_t n)
{
    return n ? pairwise_sum(x, n) / (double)n : 0.0;
}

static double plain_sum(const double *a, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += a[i];
    return s;
}

/* Neumaier's compensated sum, for the paper profile's running windows. */
typedef struct ksum {
    double s, c;
} ksum;

static void ksum_add(ksum *k, double x)
{
    double t = k->s + x;
    if (fabs(k->s) >= fabs(x))
        k->c += (k->s - t) + x;
    else
        k->c += (x - t) + k->s;
    k->s = t;
}

static double ksum_value(const ksum *k)
{
    return k->s + k->c;
}

double dc_round3(double x)
{
    return rint(x * 1000.0) / 1000.0;
}

/* ---- token confidence ---- */

double dc_topk_confidence(const double *top, size_t n_top, size_t k)
{
    size_t m = n_top < k ? n_top : k;
    return m ? -(plain_sum(top, m) / (double)m) : NAN;
}

dc_status dc_token_confidence(const dc_position *pos, size_t k, dc_profile profile, double *out)
{
    if (!pos || !out)
        return DC_STATUS_INVALID_ARG;
    if (profile == DC_PROFILE_PAPER) {
        if (k == 0 || pos->n_top < k)
            return DC_STATUS_FORMAT;
        *out = dc_topk_confidence(pos->top, pos->n_top, k);
        return DC_STATUS_OK;
    }
    /* reference: the engine's dict {sampled, top-k without the sampled}. */
    if (k > pos->n_top)
        k = pos->n_top;
    double dict[1 + 256];
    double *d = dict;
    double *heap = NULL;
    if (k + 1 > sizeof dict / sizeof dict[0]) {
        heap = dc_calloc(k + 1, sizeof *heap);
        if (!heap)
            return DC_STATUS_NOMEM;
        d = heap;
    }
    size_t m = 0;
    if (!isnan(pos->logprob))
        d[m++] = pos->logprob;
    for (size_t j = 0; j < k; j++) {
        if ((int)j == pos->sampled_rank && !isnan(pos->logprob))
            continue;
        d[m++] = pos->top[j];
    }
    if (m == 0) {
        dc_free(heap);
        return DC_STATUS_FORMAT;
    }
    *out = dc_round3(-(pairwise_sum(d, m) / (double)m));
    dc_free(heap);
    return DC_STATUS_OK;
}

dc_status dc_trace_confidences(const dc_position *pos, size_t n, size_t k, dc_profile profile,
                               double *out, size_t *n_out)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (profile == DC_PROFILE_REFERENCE && isnan(pos[i].logprob) && pos[i].n_top == 0)
            continue; /* the official code skips an empty dict */
        dc_status st = dc_token_confidence(&pos[i], k, profile, &out[m]);
        if (st != DC_STATUS_OK) {
            if (n_out)
                *n_out = i;
            return st;
        }
        m++;
    }
    if (n_out)
        *n_out = m;
    return DC_STATUS_OK;
}

/* ---- groups ---- */

size_t dc_group_count(size_t n, size_t window)
{
    return (window && n >= window) ? n - window + 1 : 1;
}

dc_status dc_group_confidences(const double *conf, size_t n, size_t window, dc_profile profile,
                               double *out)
{
    if (window == 0)
        return DC_STATUS_INVALID_ARG;
    if (n == 0) {
        out[0] = 0.0;
        return DC_STATUS_OK;
    }
    if (n < window) {
        out[0] = profile == DC_PROFILE_REFERENCE ? plain_sum(conf, n) / (double)n
                                                 : dc_mean_pairwise(conf, n);
        return DC_STATUS_OK;
    }
    size_t groups = n - window + 1;
    if (profile == DC_PROFILE_REFERENCE) {
        for (size_t i = 0; i < groups; i++)
            out[i] = dc_round3(plain_sum(conf + i, window) / (double)window);
        return DC_STATUS_OK;
    }
    ksum k = {0.0, 0.0};
    for (size_t i = 0; i < window; i++)
        ksum_add(&k, conf[i]);
    out[0] = ksum_value(&k) / (double)window;
    for (size_t i = 1; i < groups; i++) {
        ksum_add(&k, -conf[i - 1]);
        ksum_add(&k, conf[i + window - 1]);
        out[i] = ksum_value(&k) / (double)window;
    }
    return DC_STATUS_OK;
}

/* ---- trace scores ---- */

dc_score_params dc_score_default_params(void)
{
    return (dc_score_params){DC_PROFILE_PAPER, 64, 64};
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Window means for the bottom-k scores. reference: the official running
 * sum ((s - c[i-1]) + c[i+w-1]); paper: the group confidences. */
static dc_status window_means(const double *conf, size_t n, size_t w, dc_profile profile,
                              double *out)
{
    if (profile == DC_PROFILE_PAPER)
        return dc_group_confidences(conf, n, w, profile, out);
    double s = plain_sum(conf, w);
    out[0] = s / (double)w;
    for (size_t i = 1; i + w <= n; i++) {
        s = (s - conf[i - 1]) + conf[i + w - 1];
        out[i] = s / (double)w;
    }
    return DC_STATUS_OK;
}

static double min_of(const double *x, size_t n)
{
    double m = x[0];
    for (size_t i = 1; i < n; i++)
        if (x[i] < m)
            m = x[i];
    return m;
}

/* Bottom-p mean over precomputed window means (sorted in place). */
static double bottom_of(double *means, size_t count, double p)
{
    if (p < 0)
        return min_of(means, count);
    size_t k = (size_t)((double)count * p);
    if (k < 1)
        k = 1;
    if (k == 1)
        return min_of(means, count);
    qsort(means, count, sizeof *means, cmp_double);
    return dc_mean_pairwise(means, k);
}

dc_status dc_bottom_window(const double *conf, size_t n, size_t window, double p,
                           dc_profile profile, double *out)
{
    if (window == 0)
        return DC_STATUS_INVALID_ARG;
    if (n == 0) {
        *out = 0.0;
        return DC_STATUS_OK;
    }
    if (n < window) {
        *out = dc_mean_pairwise(conf, n);
        return DC_STATUS_OK;
    }
    size_t count = n - window + 1;
    double *means = dc_calloc(count, sizeof *means);
    if (!means)
        return DC_STATUS_NOMEM;
    dc_status st = window_means(conf, n, window, profile, means);
    if (st == DC_STATUS_OK)
        *out = bottom_of(means, count, p);
    dc_free(means);
    return st;
}

dc_status dc_trace_score(const double *conf, size_t n, const dc_score_params *params,
                         dc_trace_scores *out)
{
    if (!params || !out || params->window == 0 || params->tail == 0)
        return DC_STATUS_INVALID_ARG;
    memset(out, 0, sizeof *out);
    if (n == 0)
        return DC_STATUS_OK;
    size_t w = params->window;
    out->mean = dc_mean_pairwise(conf, n);
    size_t t = n < params->tail ? n : params->tail;
    out->tail = dc_mean_pairwise(conf + (n - t), t);

    size_t g = dc_group_count(n, w);
    double *groups = dc_calloc(g, sizeof *groups);
    if (!groups)
        return DC_STATUS_NOMEM;
    dc_status st = dc_group_confidences(conf, n, w, params->profile, groups);
    if (st != DC_STATUS_OK)
        goto done;
    out->lowest = min_of(groups, g);
    if (n < w) {
        double m = dc_mean_pairwise(conf, n);
        out->bottom10 = out->bottom50 = m;
        out->min_window = params->profile == DC_PROFILE_PAPER ? out->lowest : m;
        goto done;
    }
    /* groups is reused as the window means (paper: they are the same). */
    st = window_means(conf, n, w, params->profile, groups);
    if (st != DC_STATUS_OK)
        goto done;
    out->min_window = min_of(groups, g);
    out->bottom50 = bottom_of(groups, g, 0.5);
    out->bottom10 = bottom_of(groups, g, 0.1);
done:
    dc_free(groups);
    return st;
}
