/* vote.c - percentiles, votes, top-eta filtering. */
#include "deepconf/dc_vote.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- percentile ---- */

double dc_percentile_sorted(const double *x, size_t n, double p)
{
    double v = (double)(n - 1) * (p / 100.0);
    double fi = floor(v);
    size_t i = (size_t)fi;
    if (i >= n - 1)
        return x[n - 1];
    double g = v - fi;
    double a = x[i], b = x[i + 1];
    double d = b - a;
    return g >= 0.5 ? b - d * (1.0 - g) : a + d * g;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

dc_status dc_percentile(const double *x, size_t n, double p, double *out)
{
    if (n == 0 || !(p >= 0.0 && p <= 100.0))
        return DC_STATUS_INVALID_ARG;
    double *s = dc_calloc(n, sizeof *s);
    if (!s)
        return DC_STATUS_NOMEM;
    memcpy(s, x, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_double);
    *out = dc_percentile_sorted(s, n, p);
    dc_free(s);
    return DC_STATUS_OK;
}

/* ---- votes ---- */

int dc_answer_present(const char *a)
{
    return a && a[0] != '\0';
}

dc_status dc_vote(const char *const *answers, const double *weights, const unsigned char *include,
                  size_t n, dc_vote_result *out)
{
    if (!out || (n && !answers))
        return DC_STATUS_INVALID_ARG;
    *out = (dc_vote_result){-1, 0, 0.0, 0.0, NAN};
    if (n == 0)
        return DC_STATUS_OK;
    /* first[j]: index of the first trace of the j-th distinct answer. */
    size_t *first = dc_calloc(n, sizeof *first);
    double *sum = dc_calloc(n, sizeof *sum);
    if (!first || !sum) {
        dc_free(first);
        dc_free(sum);
        return DC_STATUS_NOMEM;
    }
    size_t distinct = 0;
    for (size_t i = 0; i < n; i++) {
        if ((include && !include[i]) || !dc_answer_present(answers[i]))
            continue;
        double w = weights ? weights[i] : 1.0;
        size_t j = 0;
        while (j < distinct && strcmp(answers[first[j]], answers[i]) != 0)
            j++;
        if (j == distinct)
            first[distinct++] = i;
        sum[j] += w;
        out->total_weight += w;
        out->n_votes++;
    }
    if (distinct) {
        size_t best = 0;
        for (size_t j = 1; j < distinct; j++)
            if (sum[j] > sum[best])
                best = j;
        out->winner = (long)first[best];
        out->winner_weight = sum[best];
        if (out->total_weight > 0)
            out->share = sum[best] / out->total_weight;
    }
    dc_free(first);
    dc_free(sum);
    return DC_STATUS_OK;
}

/* ---- top-eta filter ---- */

dc_status dc_filter_top(const double *scores, const char *const *answers,
                        const unsigned char *include, size_t n, double keep_percent,
                        unsigned char *keep, double *threshold)
{
    if (!(keep_percent > 0.0 && keep_percent <= 100.0) || (n && (!scores || !keep)))
        return DC_STATUS_INVALID_ARG;
    if (threshold)
        *threshold = NAN;
    double *valid = dc_calloc(n ? n : 1, sizeof *valid);
    if (!valid)
        return DC_STATUS_NOMEM;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        keep[i] = 0;
        if ((include && !include[i]) || (answers && !dc_answer_present(answers[i])))
            continue;
        valid[m++] = scores[i];
    }
    if (m) {
        double frac = keep_percent / 100.0;
        double thr;
        dc_status st = dc_percentile(valid, m, (1.0 - frac) * 100.0, &thr);
        if (st != DC_STATUS_OK) {
            dc_free(valid);
            return st;
        }
        for (size_t i = 0; i < n; i++) {
            if ((include && !include[i]) || (answers && !dc_answer_present(answers[i])))
                continue;
            keep[i] = scores[i] >= thr;
        }
        if (threshold)
            *threshold = thr;
    }
    dc_free(valid);
    return DC_STATUS_OK;
}
