/* dc_vote.h - percentiles, votes and top-eta filtering over traces.
 *
 * Answers are NUL-terminated strings compared byte for byte; a NULL or
 * empty answer means the trace has none, and such traces never vote.
 * Ties go to the answer seen first (in input order). */
#ifndef DC_VOTE_H
#define DC_VOTE_H

#include <stddef.h>

#include "deepconf/dc_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* numpy's "linear" percentile of sorted[0..n), n >= 1, p in [0, 100]:
 * v = (n-1)*(p/100), i = floor(v), g = v - i, then numpy's lerp
 * (x[i] + d*g when g < 0.5, else x[i+1] - d*(1-g), d = x[i+1]-x[i]). */
double dc_percentile_sorted(const double *sorted, size_t n, double p);

/* The same on unsorted x (copied and sorted through the allocator).
 * DC_STATUS_INVALID_ARG when n = 0 or p is outside [0, 100]. */
dc_status dc_percentile(const double *x, size_t n, double p, double *out);

typedef struct dc_vote_result {
    long winner;    /* index of the first trace with the winning answer; -1: none voted */
    size_t n_votes; /* traces that voted */
    double winner_weight;
    double total_weight;
    double share; /* consensus beta = winner_weight / total_weight; NaN when
                            nobody voted or total_weight <= 0 */
} dc_vote_result;

/* Vote among traces 0..n-1. weights NULL: majority (each vote weighs 1).
 * include NULL: every trace may vote; else only those with include[i].
 * Allocates scratch through the hook (DC_STATUS_NOMEM). */
dc_status dc_vote(const char *const *answers, const double *weights, const unsigned char *include,
                  size_t n, dc_vote_result *out);

/* Top-eta filter: among the traces that have an answer (and include[i]
 * when include is given), keep those whose score is >= the percentile
 * (1 - keep_percent/100) * 100 of their scores, computed as the official
 * code does (so keeping 90 % uses 9.999999999999998). keep[i] is set to
 * 1 or 0 for every i; *threshold (may be NULL) receives the threshold,
 * NaN when no trace had an answer. keep_percent in (0, 100]. */
dc_status dc_filter_top(const double *scores, const char *const *answers,
                        const unsigned char *include, size_t n, double keep_percent,
                        unsigned char *keep, double *threshold);

/* 1 when a is a real answer (not NULL, not empty). */
int dc_answer_present(const char *a);

#ifdef __cplusplus
}
#endif

#endif /* DC_VOTE_H */
