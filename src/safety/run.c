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
} runner;

static void count_trace(runner *r, const dc_gen_trace *g)
{
    r->stats->traces++;
    r->stats->tokens += g->n_evaluated;
    r->stats->failed_traces += g->stop == DC_STOP_ERROR;
    r->cancelled |= g->stop == DC_STOP_CANCELLED;
}

/* Progress while an instance is generated (a long one takes minutes on a
 * CPU): a tick at most once a second. A callback that asks to stop
 * cancels the traces, and the instance is not written. */
static dc_observe tick_on_token(void *user, const dc_token_event *ev)
{
    (void)ev;
    runner *r = user;
    r->tick_tokens++;
    double now = dc_now_seconds();
    if (!r->p->progress || now - r->last_tick < 1.0)
        return DC_OBSERVE_CONTINUE;
    r->last_tick = now;
    sdc_run_progress pr = {r->done,
                           r->p->data->n,
                           r->stats->skipped,
                           r->stats->traces,
                           r->stats->tokens + r->tick_tokens,
                           r->stats->failed_traces,
                           now - r->t0,
                           r->current->id,
                           1};
    return r->p->progress(r->p->user, &pr) ? DC_OBSERVE_CANCEL : DC_OBSERVE_CONTINUE;
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

/* One strategy generating for real: its traces and its prediction. */
static dc_status run_strategy(runner *r, const sdc_instance *inst, const dc_prompt *prompt,
                              const dc_gen_params *gen, dc_error *err)
{
    sdc_outcome o;
    dc_status st = sdc_strategy_run(r->p->backend, prompt, gen, &r->sp, answer_of, &r->ac, &o, err);
    if (st != DC_STATUS_OK)
        return st;
    for (size_t i = 0; i < o.n_traces; i++) {
        sdc_refusal_result buf;
        const sdc_refusal_result *rr = verdict_of(&r->ac, &o.traces[i], NULL, &buf);
        sdc_record_trace(&r->traces, inst, sdc_strategy_name(r->sp.kind), &o.traces[i], &o.info[i],
                         rr, sdc_refusal_get_mode(r->ac.det), r->cfg->kind.save_tokens);
        count_trace(r, &o.traces[i]);
        if (st == DC_STATUS_OK)
            st = sdc_run_judge_trace(&r->judge, &r->traces, inst, &o.traces[i], err);
    }
    sdc_record_prediction(&r->preds, inst, r->cfg, &r->sp, &o, o.seconds);
    if (st == DC_STATUS_OK)
        st = sdc_run_judge_prediction(&r->judge, &r->preds, inst, &o, err);
    sdc_outcome_clear(&o);
    return st;
}

static dc_status run_instance(runner *r, const sdc_instance *inst, dc_error *err)
{
    const sdc_config *cfg = r->cfg;
    dc_buf_reset(&r->traces);
    dc_buf_reset(&r->preds);
    r->ac.prompt = inst->prompt;
    dc_status st;
    if (r->p->saved) {
        /* analyze --replay: the traces a compare run generated */
        const dc_gen_trace *saved;
        size_t n;
        double t0 = dc_now_seconds();
        st = sdc_saved_traces_get(r->p->saved, inst->id, &saved, &n, err);
        if (st == DC_STATUS_OK)
            st = compare_traces(r, inst, saved, n, dc_now_seconds() - t0, err);
        return st == DC_STATUS_OK ? records_ok(r, inst, err) : st;
    }
    char *user = NULL;
    if (r->ac.classify) {
        size_t n = strlen(SDC_CLASSIFY_TEMPLATE) + strlen(inst->prompt) + 1;
        user = dc_malloc(n);
        if (!user)
            return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
        snprintf(user, n, SDC_CLASSIFY_TEMPLATE, inst->prompt);
    }
    dc_chat chat = {*cfg->system_prompt ? cfg->system_prompt : NULL, user ? user : inst->prompt,
                    cfg->thinking};
    dc_prompt prompt = {.chat = &chat};
    dc_gen_params gen = r->gen;
    r->ac.prompt = inst->prompt;
    gen.instance_id = inst->id;
    if (cfg->compare) {
        gen.n_traces = (size_t)cfg->budget;
        gen.first_trace = 0;
        gen.keep_tokens = 1;
        dc_gen_result res;
        double t0 = dc_now_seconds();
        dc_observer tick = {tick_on_token, NULL, r};
        r->tick_tokens = 0;
        r->current = inst;
        st = dc_backend_generate(r->p->backend, &prompt, &gen, &tick, &res, err);
        if (st == DC_STATUS_OK) {
            st = compare_traces(r, inst, res.traces, res.n_traces, dc_now_seconds() - t0, err);
            dc_gen_result_clear(&res);
        }
    } else {
        st = run_strategy(r, inst, &prompt, &gen, err);
    }
    dc_free(user);
    return st == DC_STATUS_OK ? records_ok(r, inst, err) : st;
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
    size_t done = 0;
    r.t0 = t0;
    r.last_tick = t0;
    for (size_t i = 0; i < p->data->n && st == DC_STATUS_OK; i++) {
        r.done = done;
        const sdc_instance *inst = &p->data->items[i];
        if (sdc_results_done(res, inst->id)) {
            stats->skipped++;
            done++;
            continue;
        }
        r.cancelled = 0;
        st = run_instance(&r, inst, err);
        if (st != DC_STATUS_OK)
            break;
        /* an instance whose traces were cancelled is not written: resume redoes it */
        if (r.cancelled) {
            st = dc_error_set(err, DC_STATUS_CANCELLED, "cancelled during instance %s", inst->id);
            break;
        }
        st = sdc_results_append(res, r.traces.data, r.traces.len, r.preds.data, r.preds.len, err);
        if (st != DC_STATUS_OK)
            break;
        stats->instances++;
        done++;
        if (cfg->max_failures >= 0 && stats->failed_traces > (size_t)cfg->max_failures) {
            st = dc_error_set(err, DC_STATUS_BACKEND,
                              "%zu traces failed, more than model.max_failures (%lld); the run "
                              "stopped after instance %s (--resume continues)",
                              stats->failed_traces, (long long)cfg->max_failures, inst->id);
            break;
        }
        if (p->progress) {
            sdc_run_progress pr = {done,
                                   p->data->n,
                                   stats->skipped,
                                   stats->traces,
                                   stats->tokens,
                                   stats->failed_traces,
                                   dc_now_seconds() - t0,
                                   inst->id,
                                   0};
            if (p->progress(p->user, &pr)) {
                st = dc_error_set(err, DC_STATUS_CANCELLED, "stopped after instance %s", inst->id);
                break;
            }
        }
    }
    stats->seconds = dc_now_seconds() - t0;
    dc_buf_free(&r.traces);
    dc_buf_free(&r.preds);
    sdc_results_close(res);
    return st;
}
