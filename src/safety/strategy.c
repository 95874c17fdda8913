/* strategy.c - baseline, fixed, adaptive and online, over any backend. */
#include "safety/sdc_strategy.h"

#include <math.h>
#include <string.h>

#include "deepconf/dc_online.h"
#include "deepconf/dc_vote.h"
#include "util/clock.h"

/* ---- names ---- */

static const char *const strategy_names[] = {"baseline", "fixed", "adaptive", "online"};
static const char *const vote_names[] = {"mean", "tail", "bottom10", "lowest"};

const char *sdc_strategy_name(sdc_strategy_kind k)
{
    return (unsigned)k < SDC_STRATEGY_COUNT ? strategy_names[k] : "?";
}

dc_status sdc_strategy_from_name(const char *name, sdc_strategy_kind *out)
{
    for (int i = 0; i < SDC_STRATEGY_COUNT; i++)
        if (name && !strcmp(name, strategy_names[i])) {
            *out = (sdc_strategy_kind)i;
            return DC_STATUS_OK;
        }
    return DC_STATUS_NOT_FOUND;
}

const char *sdc_vote_score_name(sdc_vote_score s)
{
    return (unsigned)s < 4 ? vote_names[s] : "?";
}

dc_status sdc_vote_score_from_name(const char *name, sdc_vote_score *out)
{
    for (int i = 0; i < 4; i++)
        if (name && !strcmp(name, vote_names[i])) {
            *out = (sdc_vote_score)i;
            return DC_STATUS_OK;
        }
    return DC_STATUS_NOT_FOUND;
}

sdc_strategy_params sdc_strategy_default_params(void)
{
    sdc_strategy_params p;
    p.kind = SDC_STRATEGY_ONLINE;
    p.fixed_n = 5;
    p.budget = 10;
    p.step = 2;
    p.consensus = 0.95;
    p.warmup = 4;
    p.keep_percent = 90.0;
    p.score = dc_score_default_params();
    p.top_k = 20;
    p.vote_score = SDC_VOTE_LOWEST;
    return p;
}

/* ---- per-trace numbers ---- */

size_t sdc_trace_confidences(const dc_trace *t, size_t top_k, dc_profile profile, double *conf)
{
    size_t m = 0;
    for (size_t i = 0; i < t->n_tokens; i++) {
        const dc_token *k = &t->tokens[i];
        if (k->n_top == 0)
            continue;
        if (profile == DC_PROFILE_PAPER) {
            conf[m++] = dc_topk_confidence(k->top_lp, k->n_top, top_k);
        } else {
            dc_position pos = {k->logprob, k->top_lp, k->n_top, k->sampled_rank};
            if (dc_token_confidence(&pos, top_k, DC_PROFILE_REFERENCE, &conf[m]) == DC_STATUS_OK)
                m++;
        }
    }
    return m;
}

static double vote_weight(const sdc_trace_info *ti, sdc_vote_score s)
{
    switch (s) {
    case SDC_VOTE_MEAN: return ti->scores.mean;
    case SDC_VOTE_TAIL: return ti->scores.tail;
    case SDC_VOTE_BOTTOM10: return ti->scores.bottom10;
    default: return ti->scores.min_window;
    }
}

dc_status sdc_trace_describe(const dc_gen_trace *g, const sdc_strategy_params *sp,
                             sdc_answer_fn answer, void *user, sdc_trace_info *ti)
{
    memset(ti, 0, sizeof *ti);
    ti->mean_logprob = NAN;
    if (g->stop == DC_STOP_ERROR || g->stop == DC_STOP_CANCELLED)
        return DC_STATUS_OK;
    const dc_trace *t = &g->trace;
    double *conf = dc_calloc(t->n_tokens ? t->n_tokens : 1, sizeof *conf);
    if (!conf)
        return DC_STATUS_NOMEM;
    size_t n = sdc_trace_confidences(t, sp->top_k, sp->score.profile, conf);
    dc_status st = dc_trace_score(conf, n, &sp->score, &ti->scores);
    dc_free(conf);
    if (st != DC_STATUS_OK)
        return st;
    double s = 0.0;
    size_t m = 0;
    for (size_t i = 0; i < t->n_tokens; i++)
        if (!isnan(t->tokens[i].logprob)) {
            s += t->tokens[i].logprob;
            m++;
        }
    ti->mean_logprob = m ? s / (double)m : NAN;
    /* A trace cut by the confidence test has no answer: its text is unfinished. */
    if (g->stop != DC_STOP_CONFIDENCE && answer)
        ti->answer = answer(user, t->text ? t->text : "");
    return DC_STATUS_OK;
}

/* ---- bookkeeping ---- */

/* Where a strategy is: what it asked for last, and what it does with it. */
typedef enum phase {
    PHASE_VOTING,   /* baseline, fixed: one batch, then the vote */
    PHASE_ADAPTIVE, /* batches of `step` until the consensus or the budget */
    PHASE_WARMUP,   /* online: the warm-up batch sets the threshold */
    PHASE_ONLINE,   /* online: batches of `step`, stopped token by token */
    PHASE_DONE
} phase;

struct sdc_strategy_state {
    const sdc_trace_pool *pool; /* replay: traces already generated */
    const sdc_strategy_params *sp;
    sdc_strategy_params sp_copy; /* what sp points to for a stepped strategy */
    sdc_answer_fn answer;
    void *user;
    sdc_outcome *out;
    sdc_outcome own_out; /* what out points to for a stepped strategy */
    dc_error *err;
    dc_error own_err;
    size_t cap;
    phase ph;
    sdc_strategy_need need; /* the batch asked for and not yet taken */
    /* online */
    dc_online *ctl;
    dc_online_window *windows; /* one per trace of the batch asked for */
    size_t n_windows;
};

typedef struct sdc_strategy_state run_ctx;

static dc_observe online_on_token(void *user, const dc_token_event *ev)
{
    run_ctx *c = user;
    if (ev->trace >= c->n_windows || ev->n_top == 0)
        return DC_OBSERVE_CONTINUE;
    double conf = dc_topk_confidence(ev->top_lp, ev->n_top, c->sp->top_k);
    return dc_online_window_push(&c->windows[ev->trace], conf) == DC_ONLINE_STOP
               ? DC_OBSERVE_STOP
               : DC_OBSERVE_CONTINUE;
}

/* Room in the outcome for n more traces. */
static dc_status reserve(run_ctx *c, size_t n)
{
    sdc_outcome *o = c->out;
    if (o->n_traces + n <= c->cap)
        return DC_STATUS_OK;
    size_t cap = c->cap ? c->cap * 2 : 16;
    while (cap < o->n_traces + n)
        cap *= 2;
    dc_gen_trace *t = dc_reallocarray(o->traces, cap, sizeof *t);
    if (t)
        o->traces = t;
    sdc_trace_info *ti = t ? dc_reallocarray(o->info, cap, sizeof *ti) : NULL;
    if (ti)
        o->info = ti;
    if (!t || !ti)
        return dc_error_set(c->err, DC_STATUS_NOMEM, "out of memory");
    c->cap = cap;
    return DC_STATUS_OK;
}

/* Where an online window over the trace's confidences first stops it:
 * the position, or -1 when it runs to the end. */
static long online_cut(run_ctx *c, const dc_trace *t, dc_status *st)
{
    dc_online_window w;
    if ((*st = dc_online_window_init(c->ctl, &w)) != DC_STATUS_OK)
        return -1;
    long cut = -1;
    for (size_t pos = 0; pos < t->n_tokens && cut < 0; pos++) {
        const dc_token *k = &t->tokens[pos];
        if (k->n_top == 0)
            continue;
        double conf = dc_topk_confidence(k->top_lp, k->n_top, c->sp->top_k);
        if (dc_online_window_push(&w, conf) == DC_ONLINE_STOP)
            cut = (long)pos;
    }
    dc_online_window_free(&w);
    return cut;
}

/* Takes traces [used, used + n) from the pool, as generate() would have
 * produced them: whole (their descriptions reused), or with online_stop
 * cut where the window confidence falls (described afresh: no answer). */
static dc_status take_from_pool(run_ctx *c, size_t n, int online_stop)
{
    sdc_outcome *o = c->out;
    const sdc_trace_pool *pool = c->pool;
    if (o->n_traces + n > pool->n)
        return dc_error_set(c->err, DC_STATUS_NOT_FOUND,
                            "replay: %zu traces saved; traces %zu..%zu were asked for (is the "
                            "budget larger than the saved run's?)",
                            pool->n, o->n_traces, o->n_traces + n - 1);
    dc_status st = reserve(c, n);
    for (size_t i = 0; i < n && st == DC_STATUS_OK; i++) {
        size_t k = o->n_traces;
        const dc_gen_trace *s = &pool->traces[k];
        dc_gen_trace *g = &o->traces[k];
        *g = *s;
        memset(&g->trace, 0, sizeof g->trace);
        g->error_msg = NULL;
        long cut = online_stop && s->stop != DC_STOP_ERROR ? online_cut(c, &s->trace, &st) : -1;
        if (st != DC_STATUS_OK)
            return dc_error_set(c->err, st, "online window: %s", dc_strerror(st));
        /* charged as generation would have been: every kept position, and
           the one where the cut fell */
        size_t keep = cut >= 0 ? (size_t)cut : s->trace.n_tokens;
        g->n_generated = keep;
        g->n_evaluated = cut >= 0 ? keep + 1 : keep;
        if (cut >= 0)
            g->stop = DC_STOP_CONFIDENCE;
        size_t text = keep - (g->stop == DC_STOP_EOS && keep ? 1 : 0);
        st = dc_trace_copy_prefix(&s->trace, keep, text, &g->trace);
        if (st == DC_STATUS_OK && s->error_msg && !(g->error_msg = dc_strdup(s->error_msg)))
            st = DC_STATUS_NOMEM;
        if (st == DC_STATUS_OK && s->trace.id && !(g->trace.id = dc_strdup(s->trace.id)))
            st = DC_STATUS_NOMEM;
        if (st == DC_STATUS_OK &&
            !(g->trace.finish_reason = dc_strdup(dc_stop_reason_name(g->stop))))
            st = DC_STATUS_NOMEM;
        o->n_traces++;
        if (st != DC_STATUS_OK)
            return dc_error_set(c->err, st, "out of memory");
        o->tokens_generated += g->n_evaluated;
        o->failed_traces += g->stop == DC_STOP_ERROR;
        if (cut < 0)
            o->info[k] = pool->info[k];
        else if ((st = sdc_trace_describe(g, c->sp, NULL, NULL, &o->info[k])) != DC_STATUS_OK)
            return dc_error_set(c->err, st, "out of memory");
    }
    return st;
}

static void windows_free(run_ctx *c)
{
    for (size_t i = 0; i < c->n_windows; i++)
        dc_online_window_free(&c->windows[i]);
    dc_free(c->windows);
    c->windows = NULL;
    c->n_windows = 0;
}

/* Asks for traces [n_traces, n_traces + n); online_stop: observed token
 * by token with a window per trace. */
static dc_status ask(run_ctx *c, size_t n, int online_stop)
{
    c->need.n_traces = n;
    c->need.first_trace = c->out->n_traces;
    c->need.online_stop = online_stop;
    windows_free(c);
    if (!online_stop || c->pool)
        return DC_STATUS_OK;
    c->windows = dc_calloc(n, sizeof *c->windows);
    if (!c->windows)
        return dc_error_set(c->err, DC_STATUS_NOMEM, "out of memory");
    c->n_windows = n;
    for (size_t i = 0; i < n; i++) {
        dc_status st = dc_online_window_init(c->ctl, &c->windows[i]);
        if (st != DC_STATUS_OK)
            return dc_error_set(c->err, st, "online window: %s", dc_strerror(st));
    }
    return DC_STATUS_OK;
}

/* Appends the generated traces of the batch asked for (handed over from
 * r) to the outcome, each described once. */
static dc_status append_generated(run_ctx *c, dc_gen_result *r)
{
    sdc_outcome *o = c->out;
    windows_free(c);
    o->seconds += r->prompt_seconds + r->gen_seconds;
    dc_status st = reserve(c, r->n_traces);
    if (st != DC_STATUS_OK) {
        dc_gen_result_clear(r);
        return st;
    }
    for (size_t i = 0; i < r->n_traces; i++) {
        size_t k = o->n_traces;
        o->traces[k] = r->traces[i];
        memset(&r->traces[i], 0, sizeof r->traces[i]);
        o->n_traces++;
        o->tokens_generated += o->traces[k].n_evaluated;
        if (o->traces[k].stop == DC_STOP_ERROR)
            o->failed_traces++;
        if ((st = sdc_trace_describe(&o->traces[k], c->sp, c->answer, c->user, &o->info[k])) !=
            DC_STATUS_OK) {
            dc_gen_result_clear(r);
            return dc_error_set(c->err, st, "out of memory");
        }
    }
    dc_gen_result_clear(r);
    return DC_STATUS_OK;
}

/* Final numbers from the voters (info[i].voted) with weights w. */
static dc_status conclude(run_ctx *c, const double *w)
{
    sdc_outcome *o = c->out;
    size_t n = o->n_traces;
    const char **answers = dc_calloc(n ? n : 1, sizeof *answers);
    unsigned char *inc = dc_calloc(n ? n : 1, 1);
    if (!answers || !inc) {
        dc_free(answers);
        dc_free(inc);
        return dc_error_set(c->err, DC_STATUS_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        answers[i] = o->info[i].answer;
        inc[i] = (unsigned char)o->info[i].voted;
    }
    dc_vote_result v;
    dc_status st = dc_vote(answers, w, inc, n, &v);
    if (st == DC_STATUS_OK && v.winner >= 0) {
        o->answer = answers[v.winner];
        o->consensus = v.share;
        double sp = 0.0, sc = 0.0;
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (inc[i] && answers[i] && !strcmp(answers[i], o->answer) &&
                !isnan(o->info[i].mean_logprob)) {
                sp += exp(o->info[i].mean_logprob);
                sc += o->info[i].scores.lowest;
                m++;
            }
        o->mean_prob = m ? sp / (double)m : NAN;
        o->trace_conf = m ? sc / (double)m : NAN;
        o->confidence = o->consensus * o->mean_prob;
    }
    o->traces_used = n;
    o->failed = n > 0 && o->failed_traces == n;
    dc_free(answers);
    dc_free(inc);
    return st == DC_STATUS_OK ? DC_STATUS_OK : dc_error_set(c->err, st, "out of memory");
}

static double *weights_of(const sdc_outcome *o, sdc_vote_score s)
{
    double *w = dc_calloc(o->n_traces ? o->n_traces : 1, sizeof *w);
    if (w)
        for (size_t i = 0; i < o->n_traces; i++)
            w[i] = vote_weight(&o->info[i], s);
    return w;
}

/* beta of the current weighted vote among traces with answers. */
static double current_share(const sdc_outcome *o, const double *w)
{
    const char **a = dc_calloc(o->n_traces ? o->n_traces : 1, sizeof *a);
    if (!a)
        return NAN;
    for (size_t i = 0; i < o->n_traces; i++)
        a[i] = o->info[i].answer;
    dc_vote_result v;
    double share = dc_vote(a, w, NULL, o->n_traces, &v) == DC_STATUS_OK ? v.share : NAN;
    dc_free(a);
    return share;
}

/* ---- strategies, one batch at a time ---- */

/* The first batch of the strategy. */
static dc_status start(run_ctx *c)
{
    const sdc_strategy_params *sp = c->sp;
    sdc_outcome *out = c->out;
    memset(out, 0, sizeof *out);
    out->consensus = out->mean_prob = out->confidence = out->trace_conf = out->threshold = NAN;
    if (!sp || sp->fixed_n < 1 || sp->budget < 1 || sp->step < 1 || sp->warmup < 1)
        return dc_error_set(c->err, DC_STATUS_INVALID_ARG,
                            "strategy: fixed_n, budget, step and warmup must be >= 1");
    switch (sp->kind) {
    case SDC_STRATEGY_BASELINE: c->ph = PHASE_VOTING; return ask(c, 1, 0);
    case SDC_STRATEGY_FIXED: c->ph = PHASE_VOTING; return ask(c, sp->fixed_n, 0);
    case SDC_STRATEGY_ADAPTIVE:
        c->ph = PHASE_ADAPTIVE;
        return ask(c, sp->step < sp->budget ? sp->step : sp->budget, 0);
    default: break;
    }
    dc_online_params op = {sp->warmup, sp->keep_percent, sp->score.window, sp->consensus,
                           sp->budget};
    dc_status st = dc_online_new(&op, &c->ctl);
    if (st != DC_STATUS_OK)
        return dc_error_set(c->err, st, "online: warmup, keep-percent and window must be >= 1");
    c->ph = PHASE_WARMUP;
    return ask(c, sp->warmup, 0);
}

/* The batch asked for has been appended: what next (c->need.n_traces 0:
 * the strategy is done). */
static dc_status advance(run_ctx *c)
{
    const sdc_strategy_params *sp = c->sp;
    sdc_outcome *o = c->out;
    size_t first = c->need.first_trace;
    c->need.n_traces = 0;
    dc_status st;
    switch (c->ph) {
    case PHASE_VOTING: break;
    case PHASE_ADAPTIVE:
        if (o->n_traces < sp->budget) {
            double *w = weights_of(o, sp->vote_score);
            if (!w)
                return dc_error_set(c->err, DC_STATUS_NOMEM, "out of memory");
            double share = current_share(o, w);
            dc_free(w);
            if (isnan(share) || share < sp->consensus) {
                size_t n = sp->budget - o->n_traces;
                return ask(c, n < sp->step ? n : sp->step, 0);
            }
        }
        break;
    case PHASE_WARMUP:
        for (size_t i = 0; i < o->n_traces; i++)
            if ((st = dc_online_add_warmup(c->ctl, o->info[i].answer, o->info[i].scores.lowest)) !=
                DC_STATUS_OK)
                return dc_error_set(c->err, st, "online warmup: %s", dc_strerror(st));
        dc_online_threshold(c->ctl, &o->threshold);
        c->ph = PHASE_ONLINE;
        first = o->n_traces; /* nothing more to add below */
        /* fall through */
    case PHASE_ONLINE:
        for (size_t i = first; i < o->n_traces; i++) {
            const dc_gen_trace *g = &o->traces[i];
            int stopped = g->stop != DC_STOP_EOS && g->stop != DC_STOP_LENGTH;
            if ((st = dc_online_add_final(c->ctl, o->info[i].answer, o->info[i].scores.lowest,
                                          stopped)) != DC_STATUS_OK)
                return dc_error_set(c->err, st, "online: %s", dc_strerror(st));
        }
        if (!dc_online_done(c->ctl)) {
            size_t n = sp->budget - o->n_traces;
            return ask(c, n < sp->step ? n : sp->step, 1);
        }
        break;
    case PHASE_DONE: break;
    }
    c->ph = PHASE_DONE;
    return DC_STATUS_OK;
}

/* The vote over what was generated. */
static dc_status conclude_strategy(run_ctx *c)
{
    const sdc_strategy_params *sp = c->sp;
    sdc_outcome *o = c->out;
    double *w;
    if (sp->kind == SDC_STRATEGY_ONLINE) {
        /* voters as the controller decided them */
        for (size_t i = 0; i < o->n_traces; i++) {
            const dc_gen_trace *g = &o->traces[i];
            int stopped = i >= sp->warmup && g->stop != DC_STOP_EOS && g->stop != DC_STOP_LENGTH;
            o->info[i].voted = !stopped && o->info[i].answer &&
                               !dc_online_flagged(c->ctl, o->info[i].scores.lowest);
        }
        w = dc_calloc(o->n_traces ? o->n_traces : 1, sizeof *w);
        if (w)
            for (size_t i = 0; i < o->n_traces; i++)
                w[i] = o->info[i].scores.lowest;
    } else {
        for (size_t i = 0; i < o->n_traces; i++)
            o->info[i].voted = o->info[i].answer != NULL;
        if (sp->kind == SDC_STRATEGY_BASELINE)
            return conclude(c, NULL);
        w = weights_of(o, sp->vote_score);
    }
    if (!w)
        return dc_error_set(c->err, DC_STATUS_NOMEM, "out of memory");
    dc_status st = conclude(c, w);
    dc_free(w);
    return st;
}

static void ctx_release(run_ctx *c)
{
    windows_free(c);
    dc_online_free(c->ctl);
    c->ctl = NULL;
}

/* ---- the drivers: a backend, a pool of traces, or the caller's steps ---- */

/* The end of a run or replay: the outcome on success, nothing on error. */
static dc_status end_run(run_ctx *c, dc_status st)
{
    if (st == DC_STATUS_OK)
        st = conclude_strategy(c);
    ctx_release(c);
    if (st != DC_STATUS_OK)
        sdc_outcome_clear(c->out);
    return st;
}

dc_status sdc_strategy_run(dc_backend *b, const dc_prompt *prompt, const dc_gen_params *gen,
                           const sdc_strategy_params *sp, sdc_answer_fn answer, void *user,
                           sdc_outcome *out, dc_error *err)
{
    if (!b || !prompt || !gen || !answer) {
        memset(out, 0, sizeof *out);
        return dc_error_set(err, DC_STATUS_INVALID_ARG, "strategy: no backend, prompt or answer");
    }
    run_ctx c;
    memset(&c, 0, sizeof c);
    c.sp = sp;
    c.answer = answer;
    c.user = user;
    c.out = out;
    c.err = err;
    dc_status st = start(&c);
    while (st == DC_STATUS_OK && c.need.n_traces) {
        dc_gen_params p = *gen;
        p.n_traces = c.need.n_traces;
        p.first_trace = c.need.first_trace;
        p.keep_tokens = 1;
        dc_observer obs = {c.need.online_stop ? sdc_strategy_on_token : NULL, NULL, &c};
        dc_gen_result r;
        double t0 = dc_now_seconds();
        st = dc_backend_generate(b, prompt, &p, &obs, &r, err);
        if (st != DC_STATUS_OK)
            break;
        /* wall time, prompt included, as the caller waited for it */
        r.prompt_seconds = 0;
        r.gen_seconds = dc_now_seconds() - t0;
        if ((st = append_generated(&c, &r)) == DC_STATUS_OK)
            st = advance(&c);
    }
    return end_run(&c, st);
}

dc_status sdc_strategy_replay(const sdc_trace_pool *pool, const sdc_strategy_params *sp,
                              sdc_outcome *out, dc_error *err)
{
    if (!pool) {
        memset(out, 0, sizeof *out);
        return dc_error_set(err, DC_STATUS_INVALID_ARG, "strategy: no traces to replay");
    }
    run_ctx c;
    memset(&c, 0, sizeof c);
    c.pool = pool;
    c.sp = sp;
    c.out = out;
    c.err = err;
    dc_status st = start(&c);
    while (st == DC_STATUS_OK && c.need.n_traces)
        if ((st = take_from_pool(&c, c.need.n_traces, c.need.online_stop)) == DC_STATUS_OK)
            st = advance(&c);
    return end_run(&c, st);
}

dc_status sdc_strategy_begin(const sdc_strategy_params *sp, sdc_answer_fn answer, void *user,
                             sdc_strategy_state **out, sdc_strategy_need *need, dc_error *err)
{
    *out = NULL;
    memset(need, 0, sizeof *need);
    if (!sp || !answer)
        return dc_error_set(err, DC_STATUS_INVALID_ARG, "strategy: no parameters or answer");
    run_ctx *c = dc_calloc(1, sizeof *c);
    if (!c)
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    c->sp_copy = *sp;
    c->sp = &c->sp_copy;
    c->answer = answer;
    c->user = user;
    c->out = &c->own_out;
    c->err = &c->own_err;
    dc_status st = start(c);
    if (st != DC_STATUS_OK) {
        if (err)
            *err = c->own_err;
        sdc_strategy_free(c);
        return st;
    }
    *need = c->need;
    *out = c;
    return DC_STATUS_OK;
}

dc_observe sdc_strategy_on_token(void *state, const dc_token_event *ev)
{
    return online_on_token(state, ev);
}

dc_status sdc_strategy_take(sdc_strategy_state *c, dc_gen_result *res, sdc_strategy_need *need,
                            dc_error *err)
{
    memset(need, 0, sizeof *need);
    if (!c->need.n_traces || res->n_traces != c->need.n_traces) {
        dc_gen_result_clear(res);
        return dc_error_set(err, DC_STATUS_INVALID_ARG,
                            "strategy: %zu traces handed over, %zu were asked for", res->n_traces,
                            c->need.n_traces);
    }
    dc_status st = append_generated(c, res);
    if (st == DC_STATUS_OK)
        st = advance(c);
    if (st != DC_STATUS_OK) {
        if (err)
            *err = c->own_err;
        return st;
    }
    *need = c->need;
    return DC_STATUS_OK;
}

dc_status sdc_strategy_finish(sdc_strategy_state *c, sdc_outcome *out, dc_error *err)
{
    memset(out, 0, sizeof *out);
    dc_status st =
        c->need.n_traces
            ? dc_error_set(&c->own_err, DC_STATUS_INVALID_ARG,
                           "strategy: finished with %zu traces still asked for", c->need.n_traces)
            : conclude_strategy(c);
    if (st != DC_STATUS_OK) {
        if (err)
            *err = c->own_err;
        return st;
    }
    *out = c->own_out;
    memset(&c->own_out, 0, sizeof c->own_out);
    return DC_STATUS_OK;
}

void sdc_strategy_free(sdc_strategy_state *c)
{
    if (!c)
        return;
    ctx_release(c);
    sdc_outcome_clear(&c->own_out);
    dc_free(c);
}

void sdc_outcome_clear(sdc_outcome *o)
{
    if (!o)
        return;
    if (o->traces) {
        dc_gen_result r = {.traces = o->traces, .n_traces = o->n_traces};
        dc_gen_result_clear(&r);
    }
    dc_free(o->info);
    memset(o, 0, sizeof *o);
}
