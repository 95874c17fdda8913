/* dc_online.h - the DeepConf online controller (Algorithm 2 of the paper).
 *
 * A small state machine that a backend drives token by token:
 *
 *   1. warmup: the first `warmup` traces run to the end; each is reported
 *      with dc_online_add_warmup(). After the last one the stop threshold
 *      s = percentile(warmup lowest group confidences, 100 - keep_percent) is fixed
 *      (keep_percent 10 = DeepConf-low, 90 = DeepConf-high).
 *   2. every later trace gets a dc_online_window; each position's token
 *      confidence is pushed *before* that token is kept. Once the window
 *      is full and its mean is strictly below s, the push answers
 *      DC_ONLINE_STOP: that token is dropped and the trace ends there.
 *   3. finished traces are reported with dc_online_add_final(). A trace
 *      votes when it was not stopped, has an answer, and its lowest group
 *      score is not below s; votes are weighted by that score.
 *   4. dc_online_done() says when to stop sampling: consensus beta >= tau
 *      after a final trace, or the budget of traces is spent.
 *
 * The window test uses the paper's token confidence (top-k mean, full
 * precision) in both profiles, as the official code does. */
#ifndef DC_ONLINE_H
#define DC_ONLINE_H

#include <stddef.h>

#include "deepconf/dc_status.h"
#include "deepconf/dc_vote.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dc_online_params {
    size_t warmup;       /* N_init, >= 1; default 4 */
    double keep_percent; /* eta in (0, 100]; default 90 (DeepConf-high) */
    size_t window;       /* w of the stop test, >= 1; default 64 */
    double consensus;    /* tau; stop when beta >= tau; a value > 1 disables; default 0.95 */
    size_t budget;       /* B: most traces in all, warmup included; default 10 */
} dc_online_params;

dc_online_params dc_online_default_params(void);

typedef struct dc_online dc_online;

/* Creates a controller; caller frees with dc_online_free. INVALID_ARG
 * when a parameter is out of range (budget < warmup is allowed: the
 * controller is then done after warmup). */
dc_status dc_online_new(const dc_online_params *params, dc_online **out);
void dc_online_free(dc_online *ctl);

/* Reports a finished warmup trace. answer may be NULL (no answer);
 * it is copied. STATE when warmup is already complete. */
dc_status dc_online_add_warmup(dc_online *ctl, const char *answer, double lowest);

/* 1 once `warmup` warmup traces were added. */
int dc_online_warmup_done(const dc_online *ctl);

/* The stop threshold s; STATE before warmup is done. */
dc_status dc_online_threshold(const dc_online *ctl, double *out);

/* Per-trace window monitor, one per live trace (many may run at once).
 * A value type that owns a ring buffer of `window` confidences. */
typedef struct dc_online_window {
    double threshold;
    size_t window;
    size_t pushed; /* positions seen so far */
    double sum;
    double *ring; /* owned, `window` entries */
} dc_online_window;

typedef enum dc_online_decision { DC_ONLINE_CONTINUE = 0, DC_ONLINE_STOP = 1 } dc_online_decision;

/* Initialises w for a new trace with the controller's threshold and
 * window. STATE before warmup is done; NOMEM. Free with
 * dc_online_window_free (safe on a zeroed or freed struct). */
dc_status dc_online_window_init(const dc_online *ctl, dc_online_window *w);
/* The same without a controller: any threshold and window (>= 1). */
dc_status dc_online_window_init_with(dc_online_window *w, double threshold, size_t window);
void dc_online_window_free(dc_online_window *w);

/* Pushes the confidence of position w->pushed. Returns DC_ONLINE_STOP
 * when the last `window` confidences (this one included) have a mean
 * strictly below the threshold. Running sum: the first window summed
 * left to right, then (s - oldest) + newest. */
dc_online_decision dc_online_window_push(dc_online_window *w, double conf);

/* Mean of the current full window; NaN while fewer than `window` pushed. */
double dc_online_window_mean(const dc_online_window *w);

/* Reports a finished post-warmup trace. stopped: the window test ended
 * it (it never votes). STATE before warmup is done or after the budget. */
dc_status dc_online_add_final(dc_online *ctl, const char *answer, double lowest, int stopped);

/* 1 when sampling should stop: budget spent, or consensus reached after a
 * final trace. */
int dc_online_done(const dc_online *ctl);

/* Traces added so far (warmup + final). */
size_t dc_online_traces(const dc_online *ctl);

/* Weighted vote of the voters so far. *answer is borrowed from the
 * controller (valid until dc_online_free) or NULL when nobody voted. */
dc_status dc_online_result(const dc_online *ctl, const char **answer, dc_vote_result *vote);

/* 1 when a trace with this lowest group confidence would be flagged (score < s). */
int dc_online_flagged(const dc_online *ctl, double lowest);

#ifdef __cplusplus
}
#endif

#endif /* DC_ONLINE_H */
