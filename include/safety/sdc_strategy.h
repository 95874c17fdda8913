/* sdc_strategy.h - the four DeepConf strategies, driven through any
 * backend (DESIGN.md "Strategies"):
 *
 *   baseline  1 trace
 *   fixed     n traces (default 5), confidence-weighted vote
 *   adaptive  traces in steps of `step`; stop when the consensus share
 *             beta >= tau (default 0.95) or at the budget B (default 10)
 *   online    DeepConf online: `warmup` traces, the threshold from their
 *             lowest group confidences, later traces stopped token by
 *             token when a window mean falls below it, consensus stop,
 *             budget B
 *
 * Trace k of an instance always has the seed dc_trace_seed(seed, id, k),
 * so every strategy sees the same k-th trace whatever the batching, and
 * the replay backend can serve one set of traces to all four. */
#ifndef SDC_STRATEGY_H
#define SDC_STRATEGY_H

#include <stddef.h>

#include "deepconf/dc_backend.h"
#include "deepconf/dc_confidence.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sdc_strategy_kind {
    SDC_STRATEGY_BASELINE = 0,
    SDC_STRATEGY_FIXED = 1,
    SDC_STRATEGY_ADAPTIVE = 2,
    SDC_STRATEGY_ONLINE = 3
} sdc_strategy_kind;

#define SDC_STRATEGY_COUNT 4

/* "baseline", "fixed", "adaptive", "online". Static; never NULL. */
const char *sdc_strategy_name(sdc_strategy_kind k);
/* NOT_FOUND for an unknown name. */
dc_status sdc_strategy_from_name(const char *name, sdc_strategy_kind *out);

/* Trace scores a vote can be weighted by. */
typedef enum sdc_vote_score {
    SDC_VOTE_MEAN = 0,
    SDC_VOTE_TAIL = 1,
    SDC_VOTE_BOTTOM10 = 2,
    SDC_VOTE_LOWEST = 3
} sdc_vote_score;

const char *sdc_vote_score_name(sdc_vote_score s);
dc_status sdc_vote_score_from_name(const char *name, sdc_vote_score *out);

typedef struct sdc_strategy_params {
    sdc_strategy_kind kind;    /* default online */
    size_t fixed_n;            /* fixed: traces (default 5) */
    size_t budget;             /* adaptive, online: most traces B (default 10) */
    size_t step;               /* adaptive, online: traces per backend call (default 2) */
    double consensus;          /* tau (default 0.95); > 1 never stops early */
    size_t warmup;             /* online: N_init (default 4) */
    double keep_percent;       /* online: eta, 10 = low, 90 = high (default 90) */
    dc_score_params score;     /* profile, window (64), tail (64) */
    size_t top_k;              /* alternatives per position for confidences (default 20) */
    sdc_vote_score vote_score; /* fixed, adaptive: vote weight (default lowest) */
} sdc_strategy_params;

sdc_strategy_params sdc_strategy_default_params(void);

/* The answer of a trace's text: a static label ("refuse", "comply",
 * "unsafe", "safe") or NULL when there is none. */
typedef const char *(*sdc_answer_fn)(void *user, const char *text);

/* What one strategy did with one trace. */
typedef struct sdc_trace_info {
    const char *answer;     /* from the answer function (static), NULL: none */
    dc_trace_scores scores; /* of the kept tokens */
    double mean_logprob;    /* mean sampled-token logprob of the kept tokens (NaN: none) */
    int voted;              /* counted in the final vote */
} sdc_trace_info;

typedef struct sdc_outcome {
    const char *answer; /* the prediction (static string), NULL: none */
    double consensus;   /* beta of the final vote (1 for one voting trace); NaN: none */
    double mean_prob;   /* mean over the winning voters of exp(mean_logprob) */
    double confidence;  /* consensus * mean_prob; NaN when there is no answer */
    double trace_conf;  /* mean min-group confidence of the winning voters */
    double threshold;   /* online: the stop threshold; NaN otherwise */
    size_t traces_used;
    size_t tokens_generated; /* positions evaluated over all traces (what it cost) */
    size_t failed_traces;    /* traces that ended with a backend error */
    int failed;              /* no trace succeeded */
    double seconds;          /* wall time inside the backend */
    dc_gen_trace *traces;    /* owned: every trace generated, in index order */
    sdc_trace_info *info;    /* owned: one per trace */
    size_t n_traces;
} sdc_outcome;

/* Runs one strategy for one prompt. gen holds the backend's generation
 * parameters (max_tokens, sampling, seed, instance_id, top_logprobs,
 * parallel); the strategy sets n_traces and first_trace itself.
 * Returns OK when the strategy ran (even if some or all traces failed:
 * see failed_traces / failed); a backend error that stops the call
 * before any trace (e.g. an unreachable server) is returned with err.
 * *out: caller frees with sdc_outcome_clear. */
dc_status sdc_strategy_run(dc_backend *b, const dc_prompt *prompt, const dc_gen_params *gen,
                           const sdc_strategy_params *sp, sdc_answer_fn answer, void *user,
                           sdc_outcome *out, dc_error *err);

void sdc_outcome_clear(sdc_outcome *o);

/* The traces already generated for one prompt, in index order, and their
 * descriptions (sdc_trace_describe: each answer computed once). What
 * sdc_strategy_replay serves a strategy instead of a backend. Borrowed. */
typedef struct sdc_trace_pool {
    const dc_gen_trace *traces;
    const sdc_trace_info *info;
    size_t n;
} sdc_trace_pool;

/* Runs strategy sp over the pool as if its traces were being generated:
 * the strategy takes them in index order; an online strategy cuts a trace
 * where its window confidence first falls below the threshold (the cut
 * trace has no answer and costs the positions up to the cut); each
 * strategy is charged the tokens it would have generated. Used by compare,
 * analyze --replay and score --online, so that every strategy sees the same
 * traces. NOT_FOUND when the strategy needs more traces than the pool
 * holds. *out: caller frees with sdc_outcome_clear; out->seconds is 0. */
dc_status sdc_strategy_replay(const sdc_trace_pool *pool, const sdc_strategy_params *sp,
                              sdc_outcome *out, dc_error *err);

/* ---- a strategy one batch at a time (for a caller that generates) ----
 *
 * The same strategies, driven by the caller: sdc_strategy_begin says
 * which traces the strategy wants first (need: n_traces from
 * first_trace); the caller generates them (with sdc_strategy_on_token as
 * the token observer, user = the state, when need.online_stop) and hands
 * them over with sdc_strategy_take, which says what it wants next;
 * need.n_traces 0 means done, and sdc_strategy_finish gives the outcome.
 * sdc_strategy_run is this loop over one backend; the runner drives many
 * instances' strategies at once through one stream. */
typedef struct sdc_strategy_state sdc_strategy_state;

typedef struct sdc_strategy_need {
    size_t n_traces;    /* 0: the strategy is done */
    size_t first_trace; /* index of the first (seeds, ids) */
    int online_stop;    /* observe the tokens with sdc_strategy_on_token */
} sdc_strategy_need;

/* A copy of *sp is kept. Caller frees with sdc_strategy_free. */
dc_status sdc_strategy_begin(const sdc_strategy_params *sp, sdc_answer_fn answer, void *user,
                             sdc_strategy_state **out, sdc_strategy_need *need, dc_error *err);
/* The token observer of an online_stop batch (user: the state). */
dc_observe sdc_strategy_on_token(void *state, const dc_token_event *ev);
/* Takes over the batch asked for (res: its traces in index order; cleared)
 * and says what comes next. INVALID_ARG when res is not that batch. */
dc_status sdc_strategy_take(sdc_strategy_state *s, dc_gen_result *res, sdc_strategy_need *need,
                            dc_error *err);
/* The outcome once need.n_traces is 0 (*out: sdc_outcome_clear). */
dc_status sdc_strategy_finish(sdc_strategy_state *s, sdc_outcome *out, dc_error *err);
void sdc_strategy_free(sdc_strategy_state *s);

/* What the strategies see of one trace: scores of its kept tokens, mean
 * sampled logprob, and its answer (none when it failed, was cancelled or
 * was cut by the confidence test). NOMEM. */
dc_status sdc_trace_describe(const dc_gen_trace *g, const sdc_strategy_params *sp,
                             sdc_answer_fn answer, void *user, sdc_trace_info *out);

/* Token confidences of a trace as the strategies compute them: per
 * position min(top_k, available) alternatives (positions without any are
 * skipped). conf holds t->n_tokens; returns the count written. */
size_t sdc_trace_confidences(const dc_trace *t, size_t top_k, dc_profile profile, double *conf);

#ifdef __cplusplus
}
#endif

#endif /* SDC_STRATEGY_H */
