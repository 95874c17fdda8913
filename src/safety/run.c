/* run.c - the experiment runner. */
#include "safety/sdc_run.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safety/records.h"
#include "safety/run_judge.h"
#include "safety/sdc_analysis.h"
#include "safety/sdc_classify.h"
#include "safety/sdc_results.h"
#include "safety/sdc_strategy.h"
#include "util/buf.h"
#include "util/jsonw.h"
#include "util/clock.h"

/* ---- answers ---- */

typedef struct answer_ctx {
    const sdc_refusal *det;
    int classify;
    const char *prompt; /* the current instance's: the refusal classifier sees it */
    /* the refusal verdict of the text last answered, kept for its record */
    sdc_refusal_result rr;
    int has_rr;
} answer_ctx;

static const char *answer_of(void *user, const char *text)
{
    answer_ctx *a = user;
    size_t len = strlen(text);
    a->has_rr = 0;
    if (a->classify) {
        sdc_verdict v = sdc_classify_parse(text, len);
        return v == SDC_VERDICT_UNSAFE ? "unsafe" : v == SDC_VERDICT_SAFE ? "safe" : NULL;
    }
    if (sdc_refusal_classify_reply(a->det, a->prompt, a->prompt ? strlen(a->prompt) : 0, text, len,
                                   &a->rr) != DC_STATUS_OK)
        return NULL;
    a->has_rr = 1;
    return sdc_refusal_is_refusal(a->rr.kind) ? "refuse" : "comply";
}

/* The refusal verdict of a trace's record: computed when its answer was
 * (*kept), else now (a trace cut by the confidence test has no answer, but
 * its record says what its text was heading for). */
static const sdc_refusal_result *verdict_of(const answer_ctx *ac, const dc_gen_trace *g,
                                            const sdc_refusal_result *kept, sdc_refusal_result *buf)
{
    if (ac->classify || !g->trace.text || g->stop == DC_STOP_ERROR)
        return NULL;
    if (kept)
        return kept;
    if (sdc_refusal_classify_reply(ac->det, ac->prompt, ac->prompt ? strlen(ac->prompt) : 0,
                                   g->trace.text, strlen(g->trace.text), buf) != DC_STATUS_OK)
        return NULL;
    return buf;
}

/* ---- fingerprint ---- */

static uint64_t fnv1a(uint64_t h, const char *s)
{
    for (; s && *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3u;
    }
    return h;
}

void sdc_run_fingerprint(const sdc_config *cfg, const char *model_identity, char out[17])
{
    uint64_t h = 0xcbf29ce484222325u;
    /* everything but where the results go and which file the settings came
       from: neither changes the results */
    char *text = sdc_config_to_json(cfg);
    json_t *o = text ? json_loads(text, 0, NULL) : NULL;
    dc_free(text);
    if (o) {
        json_object_del(o, "output");
        json_object_del(o, "config_file");
        /* nor how fast: traces are the same whatever is decoded together */
        json_object_del(json_object_get(o, "model"), "parallel");
        json_object_del(json_object_get(o, "model"), "memory_limit");
        char *canon = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17));
        h = fnv1a(h, canon);
        free(canon);
        json_decref(o);
    }
    h = fnv1a(h, "\n");
    h = fnv1a(h, model_identity);
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

/* ---- one instance ---- */

typedef struct runner {
    const sdc_run_params *p;
    const sdc_config *cfg;
    sdc_strategy_params sp;
    dc_gen_params gen;
    answer_ctx ac;
    dc_buf traces, preds;
    sdc_run_stats *stats;
    size_t done;        /* instances finished so far */
    double t0;          /* start of the run */
    size_t tick_tokens; /* tokens of the instance being generated */
    double last_tick;
    const sdc_instance *current;
    int cancelled; /* a trace of the current instance was cancelled */
    sdc_run_judge judge;
    sdc_results *res;
    /* the stream (compare, baseline, fixed): requests in instance order */
    struct pending *pend; /* by stream position: instances in the order taken */
    size_t n_taken;       /* instances taken */
    size_t *req_inst;     /* request number -> stream position */
    size_t n_req, cap_req;
    size_t next_inst;  /* the next instance of the dataset to look at */
    size_t next_write; /* the stream position written next */
    dc_status st;      /* why the stream stopped */
    dc_error *err;
} runner;

/* An instance in the stream: its request(s) and what came back. */
typedef struct pending {
    struct runner *r;
    const sdc_instance *inst;
    char *user; /* the classify prompt, owned; NULL when the prompt is the instance's */
    dc_chat chat;
    dc_gen_result res;         /* compare: the budget's traces */
    sdc_strategy_state *strat; /* run: the strategy, one batch at a time */
    sdc_strategy_need need;    /* run: the batch the strategy wants next */
    int wants;                 /* need is waiting to be asked for */
    int online;                /* the batch in flight is observed by the strategy */
    sdc_outcome out;           /* run: the strategy's outcome */
    int ready;                 /* done: to be written */
} pending;

static void count_trace(runner *r, const dc_gen_trace *g)
{
    r->stats->traces++;
    r->stats->tokens += g->n_evaluated;
    r->stats->failed_traces += g->stop == DC_STOP_ERROR;
    r->cancelled |= g->stop == DC_STOP_CANCELLED;
}

/* Tells the progress callback where the run stands (generating: an
 * instance in flight, id the one being generated or just written). True
 * when the callback asks to stop. */
static int report_progress(runner *r, double now, const char *id, int generating)
{
    sdc_run_progress pr = {r->done,
                           r->p->data->n,
                           r->stats->skipped,
                           r->stats->traces,
                           r->stats->tokens + r->tick_tokens,
                           r->stats->failed_traces,
                           now - r->t0,
                           id,
                           generating};
    return r->p->progress(r->p->user, &pr);
}

/* Progress while an instance is generated (a long one takes minutes on a
 * CPU): a tick at most once a second. A callback that asks to stop
 * cancels the traces, and the instance is not written. */
static dc_observe tick_on_token(void *user, const dc_token_event *ev)
{
    (void)ev;
    runner *r = user;
    r->tick_tokens++; /* of instances not yet written */
    double now = dc_now_seconds();
    if (!r->p->progress || now - r->last_tick < 1.0)
        return DC_OBSERVE_CONTINUE;
    r->last_tick = now;
    return report_progress(r, now, r->current ? r->current->id : "", 1) ? DC_OBSERVE_CANCEL
                                                                        : DC_OBSERVE_CONTINUE;
}

/* The instance's records were built whole. */
static dc_status records_ok(runner *r, const sdc_instance *inst, dc_error *err)
{
    if (r->traces.st != DC_STATUS_OK || r->preds.st != DC_STATUS_OK)
        return dc_error_set(err, DC_STATUS_NOMEM, "instance %s: records too large or out of memory",
                            inst->id);
    return DC_STATUS_OK;
}

static void strategy_params(const sdc_config *c, sdc_strategy_params *sp)
{
    *sp = sdc_strategy_default_params();
    sp->fixed_n = (size_t)c->fixed_n;
    sp->budget = (size_t)c->budget;
    sp->step = (size_t)c->parallel;
    sp->consensus = c->consensus;
    sp->warmup = (size_t)c->warmup;
    sp->keep_percent = c->keep_percent;
    sp->score.window = (size_t)c->window;
    sp->score.tail = (size_t)c->tail;
    sp->top_k = (size_t)c->top_logprobs;
    sp->score.profile = c->kind.profile;
    sp->vote_score = c->kind.vote_score;
    sp->kind = c->kind.strategy;
}

/* Every strategy over the same traces of one instance (compare): each
 * trace described once (its answer and refusal verdict) and recorded as
 * "generated", then the four strategies replayed over them; each charged
 * its share of gen_seconds by the tokens it used. */
static dc_status compare_traces(runner *r, const sdc_instance *inst, const dc_gen_trace *traces,
                                size_t n, double gen_seconds, dc_error *err)
{
    size_t total_tokens = 0;
    sdc_trace_info *info = dc_calloc(n ? n : 1, sizeof *info);
    if (!info)
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    dc_status st = DC_STATUS_OK;
    for (size_t i = 0; i < n && st == DC_STATUS_OK; i++) {
        total_tokens += traces[i].n_evaluated;
        count_trace(r, &traces[i]);
        r->ac.has_rr = 0;
        if ((st = sdc_trace_describe(&traces[i], &r->sp, answer_of, &r->ac, &info[i])) !=
            DC_STATUS_OK)
            break;
        sdc_refusal_result buf;
        const sdc_refusal_result *rr =
            verdict_of(&r->ac, &traces[i], r->ac.has_rr ? &r->ac.rr : NULL, &buf);
        sdc_record_trace(&r->traces, inst, "generated", &traces[i], &info[i], rr,
                         sdc_refusal_get_mode(r->ac.det), r->cfg->kind.save_tokens);
        if ((st = sdc_run_judge_trace(&r->judge, &r->traces, inst, &traces[i], err)) !=
            DC_STATUS_OK) {
            dc_free(info);
            return st;
        }
    }
    if (st != DC_STATUS_OK)
        dc_error_set(err, st, "out of memory");
    sdc_trace_pool pool = {traces, info, n};
    for (int k = 0; k < SDC_STRATEGY_COUNT && st == DC_STATUS_OK; k++) {
        sdc_strategy_params sp = r->sp;
        sp.kind = (sdc_strategy_kind)k;
        sdc_outcome o;
        if ((st = sdc_strategy_replay(&pool, &sp, &o, err)) != DC_STATUS_OK)
            break;
        /* time charged in proportion to the tokens the strategy used */
        double secs =
            total_tokens ? gen_seconds * (double)o.tokens_generated / (double)total_tokens : 0.0;
        sdc_record_prediction(&r->preds, inst, r->cfg, &sp, &o, secs);
        st = sdc_run_judge_prediction(&r->judge, &r->preds, inst, &o, err);
        sdc_outcome_clear(&o);
    }
    dc_free(info);
    return st;
}

/* One strategy's outcome: its traces and its prediction (o is cleared). */
static dc_status record_outcome(runner *r, const sdc_instance *inst, sdc_outcome *o, double seconds,
                                dc_error *err)
{
    dc_status st = DC_STATUS_OK;
    for (size_t i = 0; i < o->n_traces; i++) {
        sdc_refusal_result buf;
        const sdc_refusal_result *rr = verdict_of(&r->ac, &o->traces[i], NULL, &buf);
        sdc_record_trace(&r->traces, inst, sdc_strategy_name(r->sp.kind), &o->traces[i],
                         &o->info[i], rr, sdc_refusal_get_mode(r->ac.det),
                         r->cfg->kind.save_tokens);
        count_trace(r, &o->traces[i]);
        if (st == DC_STATUS_OK)
            st = sdc_run_judge_trace(&r->judge, &r->traces, inst, &o->traces[i], err);
    }
    sdc_record_prediction(&r->preds, inst, r->cfg, &r->sp, o, seconds);
    if (st == DC_STATUS_OK)
        st = sdc_run_judge_prediction(&r->judge, &r->preds, inst, o, err);
    sdc_outcome_clear(o);
    return st;
}

/* The user turn of an instance: its prompt, or in classify mode the
 * template around it (*owned, the caller frees). */
static dc_status user_turn(const runner *r, const sdc_instance *inst, char **owned, dc_error *err)
{
    *owned = NULL;
    if (!r->ac.classify)
        return DC_STATUS_OK;
    size_t n = strlen(SDC_CLASSIFY_TEMPLATE) + strlen(inst->prompt) + 1;
    if (!(*owned = dc_malloc(n)))
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    snprintf(*owned, n, SDC_CLASSIFY_TEMPLATE, inst->prompt);
    return DC_STATUS_OK;
}

static dc_chat chat_of(const runner *r, const sdc_instance *inst, const char *owned)
{
    const sdc_config *cfg = r->cfg;
    dc_chat chat = {*cfg->system_prompt ? cfg->system_prompt : NULL, owned ? owned : inst->prompt,
                    cfg->thinking};
    return chat;
}

/* analyze --replay: one instance from the traces a compare run generated. */
static dc_status replay_instance(runner *r, const sdc_instance *inst, dc_error *err)
{
    dc_buf_reset(&r->traces);
    dc_buf_reset(&r->preds);
    r->ac.prompt = inst->prompt;
    const dc_gen_trace *saved;
    size_t n;
    double t0 = dc_now_seconds();
    dc_status st = sdc_saved_traces_get(r->p->saved, inst->id, &saved, &n, err);
    if (st == DC_STATUS_OK)
        st = compare_traces(r, inst, saved, n, dc_now_seconds() - t0, err);
    return st == DC_STATUS_OK ? records_ok(r, inst, err) : st;
}

/* An instance's records are built: written (both files, synced), counted,
 * and shown; the run stops on a cancelled trace, too many failures, or a
 * progress callback that says stop. */
static dc_status finish_instance(runner *r, const sdc_instance *inst)
{
    /* an instance whose traces were cancelled is not written: resume redoes it */
    if (r->cancelled)
        return dc_error_set(r->err, DC_STATUS_CANCELLED, "cancelled during instance %s", inst->id);
    dc_status st = sdc_results_append(r->res, r->traces.data, r->traces.len, r->preds.data,
                                      r->preds.len, r->err);
    if (st != DC_STATUS_OK)
        return st;
    r->stats->instances++;
    r->done++;
    const sdc_config *cfg = r->cfg;
    if (cfg->max_failures >= 0 && r->stats->failed_traces > (size_t)cfg->max_failures)
        return dc_error_set(r->err, DC_STATUS_BACKEND,
                            "%zu traces failed, more than model.max_failures (%lld); the run "
                            "stopped after instance %s (--resume continues)",
                            r->stats->failed_traces, (long long)cfg->max_failures, inst->id);
    if (r->p->progress && report_progress(r, dc_now_seconds(), inst->id, 0))
        return dc_error_set(r->err, DC_STATUS_CANCELLED, "stopped after instance %s", inst->id);
    return DC_STATUS_OK;
}

/* ---- the stream: every instance's traces through one backend stream ---- */

/* The backend keeps its slots busy across instances; requests are made
 * in instance order (a strategy's next batch before a new instance), the
 * results come back in any order, and each instance is written whole
 * once it and every instance before it are done. */

static dc_observe stream_token(void *user, const dc_token_event *ev)
{
    pending *pe = user;
    dc_observe d = tick_on_token(pe->r, ev);
    if (d == DC_OBSERVE_CONTINUE && pe->online)
        d = sdc_strategy_on_token(pe->strat, ev);
    return d;
}

/* Request for the batch `need` of the instance at stream position k. */
static int make_request(runner *r, size_t k, const sdc_strategy_need *need, dc_gen_request *req,
                        dc_error *err)
{
    pending *pe = &r->pend[k];
    if (r->n_req == r->cap_req) {
        size_t cap = r->cap_req * 2 + 16;
        size_t *m = dc_reallocarray(r->req_inst, cap, sizeof *m);
        if (!m) {
            dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
            return -1;
        }
        r->req_inst = m;
        r->cap_req = cap;
    }
    r->req_inst[r->n_req++] = k;
    pe->online = need->online_stop;
    req->prompt.chat = &pe->chat;
    req->params = r->gen;
    req->params.instance_id = pe->inst->id;
    req->params.n_traces = need->n_traces;
    req->params.first_trace = need->first_trace;
    req->params.keep_tokens = 1;
    req->obs = (dc_observer){stream_token, NULL, pe};
    return 1;
}

static int stream_next(void *user, dc_gen_request *req, dc_error *err)
{
    runner *r = user;
    if (r->st != DC_STATUS_OK)
        return 0;
    /* a strategy's next batch first, earliest instance first */
    for (size_t k = r->next_write; k < r->n_taken; k++)
        if (r->pend[k].wants) {
            r->pend[k].wants = 0;
            return make_request(r, k, &r->pend[k].need, req, err);
        }
    const sdc_dataset *d = r->p->data;
    while (r->next_inst < d->n && sdc_results_done(r->res, d->items[r->next_inst].id)) {
        r->stats->skipped++;
        r->done++;
        r->next_inst++;
    }
    if (r->next_inst >= d->n)
        return 0;
    const sdc_instance *inst = &d->items[r->next_inst];
    size_t k = r->n_taken;
    pending *pe = &r->pend[k];
    memset(pe, 0, sizeof *pe);
    pe->r = r;
    pe->inst = inst;
    if (user_turn(r, inst, &pe->user, err) != DC_STATUS_OK)
        return -1;
    sdc_strategy_need need = {(size_t)r->cfg->budget, 0, 0};
    if (!r->cfg->compare &&
        sdc_strategy_begin(&r->sp, answer_of, &r->ac, &pe->strat, &need, err) != DC_STATUS_OK) {
        dc_free(pe->user);
        pe->user = NULL;
        return -1;
    }
    r->next_inst++;
    r->n_taken++;
    pe->chat = chat_of(r, inst, pe->user);
    if (!r->current)
        r->current = inst;
    return make_request(r, k, &need, req, err);
}

/* Writes the streamed instance w. */
static dc_status write_streamed(runner *r, pending *w)
{
    const sdc_instance *inst = w->inst;
    dc_buf_reset(&r->traces);
    dc_buf_reset(&r->preds);
    r->ac.prompt = inst->prompt;
    r->cancelled = 0;
    dc_status st;
    size_t tokens;
    if (r->cfg->compare) {
        tokens = w->res.gen_tokens;
        st = compare_traces(r, inst, w->res.traces, w->res.n_traces,
                            w->res.prompt_seconds + w->res.gen_seconds, r->err);
    } else {
        tokens = w->out.tokens_generated;
        st = record_outcome(r, inst, &w->out, w->out.seconds, r->err);
    }
    r->tick_tokens = r->tick_tokens > tokens ? r->tick_tokens - tokens : 0;
    if (st == DC_STATUS_OK)
        st = records_ok(r, inst, r->err);
    if (st == DC_STATUS_OK)
        st = finish_instance(r, inst);
    return st;
}

static void pending_clear(pending *pe)
{
    dc_gen_result_clear(&pe->res);
    sdc_outcome_clear(&pe->out);
    sdc_strategy_free(pe->strat);
    pe->strat = NULL;
    dc_free(pe->user);
    pe->user = NULL;
    pe->ready = pe->wants = 0;
}

/* A batch of the instance at stream position k is back. */
static dc_status take_batch(runner *r, pending *pe, dc_gen_result *res)
{
    if (r->cfg->compare) {
        pe->res = *res;
        memset(res, 0, sizeof *res);
        pe->ready = 1;
        return DC_STATUS_OK;
    }
    r->ac.prompt = pe->inst->prompt; /* the refusal classifier sees it */
    dc_status st = sdc_strategy_take(pe->strat, res, &pe->need, r->err);
    if (st != DC_STATUS_OK)
        return st;
    if (pe->need.n_traces) {
        pe->wants = 1;
        return DC_STATUS_OK;
    }
    st = sdc_strategy_finish(pe->strat, &pe->out, r->err);
    pe->ready = st == DC_STATUS_OK;
    return st;
}

static dc_observe stream_done(void *user, size_t index, dc_gen_result *res)
{
    runner *r = user;
    pending *pe = &r->pend[r->req_inst[index]];
    if (r->st == DC_STATUS_OK)
        r->st = take_batch(r, pe, res);
    dc_gen_result_clear(res);
    while (r->st == DC_STATUS_OK && r->next_write < r->n_taken && r->pend[r->next_write].ready) {
        pending *w = &r->pend[r->next_write++];
        r->st = write_streamed(r, w);
        pending_clear(w);
        r->current = r->next_write < r->n_taken ? r->pend[r->next_write].inst : NULL;
    }
    return r->st == DC_STATUS_OK ? DC_OBSERVE_CONTINUE : DC_OBSERVE_CANCEL;
}

static dc_status run_stream(runner *r)
{
    const sdc_dataset *d = r->p->data;
    r->pend = dc_calloc(d->n ? d->n : 1, sizeof *r->pend);
    if (!r->pend)
        return dc_error_set(r->err, DC_STATUS_NOMEM, "out of memory");
    dc_gen_stream s = {stream_next, stream_done, r, 0};
    dc_status st = dc_backend_generate_stream(r->p->backend, &s, r->err);
    if (r->st != DC_STATUS_OK) {
        st = r->st; /* the runner's own stop: its message is in err */
    } else if (st != DC_STATUS_OK && r->n_req > 0) {
        /* a request that could not start: name its instance */
        dc_error e = *r->err;
        dc_error_set(r->err, st, "instance %s: %s", r->pend[r->req_inst[r->n_req - 1]].inst->id,
                     e.msg);
    }
    if (st == DC_STATUS_OK && (r->next_write < r->n_taken || r->next_inst < d->n))
        st = dc_error_set(r->err, DC_STATUS_STATE,
                          "the stream ended with %zu instances unfinished (a bug: please report)",
                          (r->n_taken - r->next_write) + (d->n - r->next_inst));
    for (size_t i = 0; i < r->n_taken; i++)
        pending_clear(&r->pend[i]);
    dc_free(r->pend);
    dc_free(r->req_inst);
    r->pend = NULL;
    r->req_inst = NULL;
    return st;
}

/* ---- the run ---- */

dc_status sdc_run_execute(const sdc_run_params *p, sdc_run_stats *stats, dc_error *err)
{
    sdc_run_stats local;
    if (!stats)
        stats = &local;
    memset(stats, 0, sizeof *stats);
    const sdc_config *cfg = p->cfg;
    runner r;
    memset(&r, 0, sizeof r);
    r.p = p;
    r.cfg = cfg;
    r.stats = stats;
    r.ac.det = p->refusal;
    r.ac.classify = cfg->kind.mode == SDC_MODE_CLASSIFY;
    r.judge.session = p->judge;
    r.judge.answer_only = !strcmp(cfg->judge_target, "answer");
    if (p->judge)
        r.judge.kind = sdc_judge_session_kind(p->judge);
    strategy_params(cfg, &r.sp);
    r.gen = dc_gen_default_params();
    r.gen.max_tokens = (size_t)cfg->max_tokens;
    r.gen.top_logprobs = (size_t)cfg->top_logprobs;
    r.gen.seed = (uint64_t)cfg->seed;
    r.gen.parallel = 0; /* all the backend's slots (model.parallel, model.concurrency) */
    r.gen.sampling = dc_sampling_qwen3(cfg->thinking);
    if (!isnan(cfg->temperature))
        r.gen.sampling.temperature = cfg->temperature;
    if (!isnan(cfg->top_p))
        r.gen.sampling.top_p = cfg->top_p;
    if (cfg->top_k >= 0)
        r.gen.sampling.top_k = (int32_t)cfg->top_k;
    r.gen.sampling.min_p = cfg->min_p;

    size_t expected = cfg->compare ? SDC_STRATEGY_COUNT : 1;
    sdc_results *res;
    dc_status st =
        sdc_results_open(p->dir, p->run_json, p->fingerprint, expected, p->open_mode, &res, err);
    if (st != DC_STATUS_OK)
        return st;
    dc_buf_init(&r.traces, 0);
    dc_buf_init(&r.preds, 0);
    double t0 = dc_now_seconds();
    r.t0 = t0;
    r.last_tick = t0;
    r.res = res;
    r.err = err;
    if (!p->saved)
        st = run_stream(&r);
    for (size_t i = 0; p->saved && i < p->data->n && st == DC_STATUS_OK; i++) {
        const sdc_instance *inst = &p->data->items[i];
        if (sdc_results_done(res, inst->id)) {
            stats->skipped++;
            r.done++;
            continue;
        }
        r.cancelled = 0;
        r.current = inst;
        if ((st = replay_instance(&r, inst, err)) == DC_STATUS_OK)
            st = finish_instance(&r, inst);
    }
    stats->seconds = dc_now_seconds() - t0;
    dc_buf_free(&r.traces);
    dc_buf_free(&r.preds);
    sdc_results_close(res);
    return st;
}
