/* dc_confidence.h - DeepConf token, group and trace confidences.
 *
 * Pure arithmetic on caller-owned arrays: no I/O, no global state. Two
 * profiles (see docs/deepconf.md):
 *
 *   DC_PROFILE_PAPER      the formulas of Fu et al. 2025 in full precision:
 *                         C_t = -(1/k) * sum of the k largest logprobs.
 *   DC_PROFILE_REFERENCE  the arithmetic of the official DeepConf code,
 *                         bit for bit: the sampled token joins the top-k
 *                         (20 or 21 values), confidences rounded to 0.001,
 *                         numpy pairwise means, windows summed afresh.
 */
#ifndef DC_CONFIDENCE_H
#define DC_CONFIDENCE_H

#include <stddef.h>

#include "deepconf/dc_status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum dc_profile { DC_PROFILE_PAPER = 0, DC_PROFILE_REFERENCE = 1 } dc_profile;

/* "paper" / "reference". Static string. */
const char *dc_profile_name(dc_profile profile);
/* Parses a profile name; DC_STATUS_INVALID_ARG when unknown. */
dc_status dc_profile_parse(const char *name, dc_profile *out);

/* One generated position, borrowed from the caller. */
typedef struct dc_position {
    double logprob;    /* log-probability of the sampled token; NaN when unknown */
    const double *top; /* logprobs of the most likely tokens, most likely first */
    size_t n_top;      /* entries in top */
    int sampled_rank;  /* index of the sampled token in top, or -1 when absent */
} dc_position;

/* Confidence of one position with k alternatives.
 *   paper:     -(1/k) * (top[0] + ... + top[k-1]); needs n_top >= k >= 1.
 *   reference: -mean(dict), rounded to 0.001 (ties to even), where dict is
 *              the sampled logprob followed by top[0..k) without the entry
 *              at sampled_rank (k or k+1 values); k is capped at n_top.
 * Returns DC_STATUS_FORMAT when the position lacks what the profile needs
 * (fewer than k alternatives for paper; no value at all for reference). */
dc_status dc_token_confidence(const dc_position *pos, size_t k, dc_profile profile, double *out);

/* The paper's confidence over at most k alternatives:
 * -(1/m) * (top[0] + ... + top[m-1]) with m = min(k, n_top), summed left
 * to right. What the online window test pushes (in both profiles).
 * NaN when m = 0. */
double dc_topk_confidence(const double *top, size_t n_top, size_t k);

/* Confidences of a whole trace into out (capacity n). *n_out receives
 * how many were written: n, except that the reference profile skips
 * positions with no value (as the official code skips an empty dict).
 * On error *n_out is the index of the failing position. */
dc_status dc_trace_confidences(const dc_position *pos, size_t n, size_t k, dc_profile profile,
                               double *out, size_t *n_out);

/* Mean as numpy computes it (pairwise summation, then division); 0 for n = 0. */
double dc_mean_pairwise(const double *x, size_t n);

/* rint(x * 1000) / 1000 in the current (default: to nearest even) mode. */
double dc_round3(double x);

/* Number of group confidences of a trace of n tokens with window w >= 1:
 * n - w + 1 when n >= w, else 1 (one group: the mean; [0] when n = 0). */
size_t dc_group_count(size_t n, size_t window);

/* Group (sliding-window, stride 1) confidences into out, which holds
 * dc_group_count(n, window) values. paper: compensated running sums, not
 * rounded. reference: each window summed afresh left to right, divided
 * by w, rounded; a trace shorter than w has its plain unrounded mean.
 * DC_STATUS_INVALID_ARG when window is 0. */
dc_status dc_group_confidences(const double *conf, size_t n, size_t window, dc_profile profile,
                               double *out);

/* Parameters of the trace scores; take them from dc_score_default_params(). */
typedef struct dc_score_params {
    dc_profile profile; /* default DC_PROFILE_PAPER */
    size_t window;      /* w, default 64 */
    size_t tail;        /* T, default 64 */
} dc_score_params;

dc_score_params dc_score_default_params(void);

/* Scores of one trace. Larger is more confident. An empty trace scores 0
 * everywhere (the least confident possible: confidences are >= 0). */
typedef struct dc_trace_scores {
    double mean;       /* mean of all token confidences */
    double tail;       /* mean of the last T (all when n <= T) */
    double bottom10;   /* mean of the lowest 10 % of window means (at least one) */
    double bottom50;   /* mean of the lowest 50 % of window means (at least one) */
    double lowest;     /* minimum group confidence: the minimum of
                          dc_group_confidences() (reference: the official
                          min_conf, rounded); what the online controller flags
                          and weights by */
    double min_window; /* minimum window mean; paper: equal to lowest;
                          reference: the official min_window (running sums,
                          unrounded), the weight of its min_window vote */
} dc_trace_scores;

/* Computes all scores of conf[0..n). Allocates scratch through the hook;
 * DC_STATUS_NOMEM when that fails, DC_STATUS_INVALID_ARG for window 0. */
dc_status dc_trace_score(const double *conf, size_t n, const dc_score_params *params,
                         dc_trace_scores *out);

/* Mean of the lowest fraction p (0 < p <= 1) of the n window means of
 * conf with window w, k = max(1, floor(W * p)) of the W windows; the
 * minimum when p < 0. For n < w: the mean of all of conf. 0 when n = 0. */
dc_status dc_bottom_window(const double *conf, size_t n, size_t window, double p,
                           dc_profile profile, double *out);

#ifdef __cplusplus
}
#endif

#endif /* DC_CONFIDENCE_H */
