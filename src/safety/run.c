/* run.c - the experiment runner. */
#include "safety/sdc_run.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deepconf/dc_backend_replay.h"
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
} answer_ctx;

static const char *answer_of(void *user, const char *text)
{
    answer_ctx *a = user;
    size_t len = strlen(text);
    if (a->classify) {
        sdc_verdict v = sdc_classify_parse(text, len);
        return v == SDC_VERDICT_UNSAFE ? "unsafe" : v == SDC_VERDICT_SAFE ? "safe" : NULL;
    }
    sdc_refusal_result r;
    if (sdc_refusal_classify_reply(a->det, a->prompt, a->prompt ? strlen(a->prompt) : 0, text, len,
                                   &r) != DC_STATUS_OK)
        return NULL;
    return sdc_refusal_is_refusal(r.kind) ? "refuse" : "comply";
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
        char *canon = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17));
        h = fnv1a(h, canon);
        free(canon);
        json_decref(o);
    }
    h = fnv1a(h, "\n");
    h = fnv1a(h, model_identity);
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

/* ---- writing records ---- */

static void write_scores(jw *w, const sdc_trace_info *ti)
{
    jw_key(w, "scores");
    jw_obj_begin(w);
    jw_key(w, "mean");
    jw_double(w, ti->scores.mean);
    jw_key(w, "tail");
    jw_double(w, ti->scores.tail);
    jw_key(w, "bottom10");
    jw_double(w, ti->scores.bottom10);
    jw_key(w, "bottom50");
    jw_double(w, ti->scores.bottom50);
    jw_key(w, "lowest");
    jw_double(w, ti->scores.lowest);
    jw_key(w, "min_window");
    jw_double(w, ti->scores.min_window);
    jw_obj_end(w);
}

static void write_tokens(jw *w, const dc_trace *t)
{
    jw_key(w, "tokens");
    jw_arr_begin(w);
    for (size_t i = 0; i < t->n_tokens; i++) {
        const dc_token *k = &t->tokens[i];
        jw_obj_begin(w);
        jw_key(w, "id");
        jw_int(w, k->id);
        jw_key(w, "token");
        jw_str(w, k->text ? k->text : "");
        if (k->text && !jw_utf8_valid(k->text, strlen(k->text))) {
            /* part of a character: the exact bytes, as OpenAI's "bytes" */
            jw_key(w, "bytes");
            jw_arr_begin(w);
            for (const unsigned char *c = (const unsigned char *)k->text; *c; c++)
                jw_uint(w, *c);
            jw_arr_end(w);
        }
        jw_key(w, "logprob");
        jw_double(w, k->logprob);
        jw_key(w, "top_logprobs");
        jw_arr_begin(w);
        for (size_t j = 0; j < k->n_top; j++) {
            jw_obj_begin(w);
            jw_key(w, "id");
            jw_int(w, k->top_id ? k->top_id[j] : -1);
            jw_key(w, "token");
            jw_str(w, k->top_text && k->top_text[j] ? k->top_text[j] : "");
            jw_key(w, "logprob");
            jw_double(w, k->top_lp[j]);
            jw_obj_end(w);
        }
        jw_arr_end(w);
        jw_obj_end(w);
    }
    jw_arr_end(w);
}

/* One traces.jsonl line. */
static void trace_line(sdc_buf *b, const sdc_instance *inst, const char *strategy,
                       const dc_gen_trace *g, const sdc_trace_info *ti, const answer_ctx *ac,
                       int save_tokens)
{
    jw w;
    jw_init(&w, b);
    jw_obj_begin(&w);
    jw_key(&w, "instance_id");
    jw_str(&w, inst->id);
    jw_key(&w, "strategy");
    jw_str(&w, strategy);
    jw_key(&w, "trace");
    jw_uint(&w, g->index);
    /* as text: a 64-bit value does not survive JSON readers that use doubles */
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)g->seed);
    jw_key(&w, "seed");
    jw_str(&w, seed);
    jw_key(&w, "stop");
    jw_str(&w, dc_stop_reason_name(g->stop));
    if (g->stop == DC_STOP_ERROR) {
        jw_key(&w, "error");
        jw_str(&w, g->error_msg ? g->error_msg : dc_strerror(g->error));
    }
    jw_key(&w, "n_tokens");
    jw_uint(&w, g->n_generated);
    jw_key(&w, "n_evaluated");
    jw_uint(&w, g->n_evaluated);
    jw_key(&w, "text");
    jw_str(&w, g->trace.text ? g->trace.text : "");
    jw_key(&w, "answer");
    jw_str(&w, ti->answer);
    if (!ac->classify && g->trace.text && g->stop != DC_STOP_ERROR) {
        sdc_refusal_result rr;
        if (sdc_refusal_classify_reply(ac->det, ac->prompt, ac->prompt ? strlen(ac->prompt) : 0,
                                       g->trace.text, strlen(g->trace.text), &rr) == DC_STATUS_OK) {
            jw_key(&w, "refusal_kind");
            jw_str(&w, sdc_refusal_kind_name(rr.kind));
            jw_key(&w, "refusal_rule");
            jw_str(&w, rr.rule);
            if (!isnan(rr.p_combined)) {
                jw_key(&w, "refusal_prob");
                jw_double(&w, sdc_refusal_get_mode(ac->det) == SDC_REFUSAL_MODE_CLASSIFIER
                                  ? rr.p_classifier
                                  : rr.p_combined);
            }
        }
    }
    jw_key(&w, "mean_logprob");
    jw_double(&w, ti->mean_logprob);
    write_scores(&w, ti);
    if (save_tokens)
        write_tokens(&w, &g->trace);
    jw_obj_end(&w);
    sdc_buf_putc(b, '\n');
}

static int correct_of(const sdc_instance *inst, const char *answer, int classify)
{
    if (inst->label == SDC_LABEL_UNKNOWN || !answer)
        return inst->label == SDC_LABEL_UNKNOWN ? -1 : 0;
    int flagged = classify ? !strcmp(answer, "unsafe") : !strcmp(answer, "refuse");
    return flagged == (inst->label == SDC_LABEL_UNSAFE);
}

/* One predictions.jsonl line. */
static void prediction_line(sdc_buf *b, const sdc_instance *inst, const sdc_config *cfg,
                            const sdc_strategy_params *sp, const sdc_outcome *o, double seconds,
                            int classify)
{
    /* the most traces the strategy may use */
    size_t budget = sp->kind == SDC_STRATEGY_BASELINE ? 1
                    : sp->kind == SDC_STRATEGY_FIXED  ? sp->fixed_n
                                                      : sp->budget;
    const char *strategy = sdc_strategy_name(sp->kind);
    int refused = !o->answer ? -1
                  : classify ? !strcmp(o->answer, "unsafe")
                             : !strcmp(o->answer, "refuse");
    int correct = o->failed ? -1 : correct_of(inst, o->answer, classify);
    sdc_category cat =
        o->failed ? SDC_CATEGORY_NO_ANSWER : sdc_categorize(refused, o->confidence, cfg->threshold);
    jw w;
    jw_init(&w, b);
    jw_obj_begin(&w);
    jw_key(&w, "instance_id");
    jw_str(&w, inst->id);
    jw_key(&w, "strategy");
    jw_str(&w, strategy);
    jw_key(&w, "benchmark");
    jw_str(&w, sdc_benchmark_name(inst->benchmark));
    jw_key(&w, "label");
    jw_str(&w, sdc_label_name(inst->label));
    jw_key(&w, "harm_category");
    jw_str(&w, inst->category);
    jw_key(&w, "prompt");
    jw_str(&w, inst->prompt);
    jw_key(&w, "mode");
    jw_str(&w, classify ? "classify" : "refusal");
    jw_key(&w, "answer");
    jw_str(&w, o->answer);
    jw_key(&w, "refused");
    if (refused < 0)
        jw_null(&w);
    else
        jw_bool(&w, refused);
    jw_key(&w, "correct");
    if (correct < 0)
        jw_null(&w);
    else
        jw_bool(&w, correct);
    jw_key(&w, "confidence");
    jw_double(&w, o->confidence);
    jw_key(&w, "consensus");
    jw_double(&w, o->consensus);
    jw_key(&w, "mean_prob");
    jw_double(&w, o->mean_prob);
    jw_key(&w, "trace_conf");
    jw_double(&w, o->trace_conf);
    jw_key(&w, "threshold");
    jw_double(&w, cfg->threshold);
    jw_key(&w, "category");
    jw_str(&w, sdc_category_name(cat));
    jw_key(&w, "traces_used");
    jw_uint(&w, o->traces_used);
    jw_key(&w, "budget");
    jw_uint(&w, budget);
    jw_key(&w, "tokens_generated");
    jw_uint(&w, o->tokens_generated);
    jw_key(&w, "failed_traces");
    jw_uint(&w, o->failed_traces);
    jw_key(&w, "failed");
    jw_bool(&w, o->failed);
    if (!isnan(o->threshold)) {
        jw_key(&w, "stop_threshold");
        jw_double(&w, o->threshold);
    }
    jw_key(&w, "traces");
    jw_arr_begin(&w);
    for (size_t i = 0; i < o->n_traces; i++) {
        jw_obj_begin(&w);
        jw_key(&w, "trace");
        jw_uint(&w, o->traces[i].index);
        jw_key(&w, "stop");
        jw_str(&w, dc_stop_reason_name(o->traces[i].stop));
        jw_key(&w, "tokens");
        jw_uint(&w, o->traces[i].n_evaluated);
        jw_key(&w, "answer");
        jw_str(&w, o->info[i].answer);
        jw_key(&w, "voted");
        jw_bool(&w, o->info[i].voted);
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    jw_key(&w, "seconds");
    jw_double(&w, seconds);
    jw_obj_end(&w);
    sdc_buf_putc(b, '\n');
}

/* ---- one instance ---- */

typedef struct runner {
    const sdc_run_params *p;
    const sdc_config *cfg;
    sdc_strategy_params sp;
    dc_gen_params gen;
    answer_ctx ac;
    dc_backend *replay;
    sdc_buf traces, preds;
    sdc_run_stats *stats;
    size_t done;        /* instances finished so far */
    double t0;          /* start of the run */
    size_t tick_tokens; /* tokens of the instance being generated */
    double last_tick;
    const sdc_instance *current;
    int cancelled; /* a trace of the current instance was cancelled */
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
    double now = sdc_now_seconds();
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

static dc_status strategy_params(const sdc_config *c, sdc_strategy_params *sp, dc_error *err)
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
    if (dc_profile_parse(c->profile, &sp->score.profile) != DC_STATUS_OK ||
        sdc_vote_score_from_name(c->vote_score, &sp->vote_score) != DC_STATUS_OK ||
        sdc_strategy_from_name(c->strategy, &sp->kind) != DC_STATUS_OK)
        return dc_error_set(err, DC_STATUS_CONFIG, "deepconf: bad profile, vote_score or strategy");
    return DC_STATUS_OK;
}

static dc_status run_instance(runner *r, const sdc_instance *inst, dc_error *err)
{
    const sdc_config *cfg = r->cfg;
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
    sdc_buf_reset(&r->traces);
    sdc_buf_reset(&r->preds);
    dc_status st = DC_STATUS_OK;

    if (cfg->compare) {
        gen.n_traces = (size_t)cfg->budget;
        gen.first_trace = 0;
        gen.keep_tokens = 1;
        dc_gen_result res;
        double t0 = sdc_now_seconds();
        dc_observer tick = {tick_on_token, NULL, r};
        r->tick_tokens = 0;
        r->current = inst;
        st = dc_backend_generate(r->p->backend, &prompt, &gen, &tick, &res, err);
        double gen_seconds = sdc_now_seconds() - t0;
        if (st != DC_STATUS_OK) {
            dc_free(user);
            return st;
        }
        dc_trace *saved = dc_calloc(res.n_traces ? res.n_traces : 1, sizeof *saved);
        dc_stop_reason *stops = dc_calloc(res.n_traces ? res.n_traces : 1, sizeof *stops);
        size_t total_tokens = 0;
        if (!saved || !stops) {
            st = dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
            goto compare_done;
        }
        for (size_t i = 0; i < res.n_traces; i++) {
            saved[i] = res.traces[i].trace;
            stops[i] = res.traces[i].stop;
            total_tokens += res.traces[i].n_evaluated;
            count_trace(r, &res.traces[i]);
            sdc_trace_info ti;
            if ((st = sdc_trace_describe(&res.traces[i], &r->sp, answer_of, &r->ac, &ti)) !=
                DC_STATUS_OK) {
                dc_error_set(err, st, "out of memory");
                goto compare_done;
            }
            trace_line(&r->traces, inst, "generated", &res.traces[i], &ti, &r->ac,
                       cfg->save_tokens);
        }
        dc_backend_replay_set(r->replay, inst->id, saved, stops, res.n_traces);
        for (int k = 0; k < SDC_STRATEGY_COUNT && st == DC_STATUS_OK; k++) {
            sdc_strategy_params sp = r->sp;
            sp.kind = (sdc_strategy_kind)k;
            sdc_outcome o;
            st = sdc_strategy_run(r->replay, &prompt, &gen, &sp, answer_of, &r->ac, &o, err);
            if (st != DC_STATUS_OK)
                break;
            /* time charged in proportion to the tokens the strategy used */
            double secs = total_tokens
                              ? gen_seconds * (double)o.tokens_generated / (double)total_tokens
                              : 0.0;
            prediction_line(&r->preds, inst, cfg, &sp, &o, secs, r->ac.classify);
            sdc_outcome_clear(&o);
        }
        dc_backend_replay_set(r->replay, NULL, NULL, NULL, 0);
    compare_done:
        dc_free(saved);
        dc_free(stops);
        dc_gen_result_clear(&res);
    } else {
        sdc_outcome o;
        st = sdc_strategy_run(r->p->backend, &prompt, &gen, &r->sp, answer_of, &r->ac, &o, err);
        if (st == DC_STATUS_OK) {
            for (size_t i = 0; i < o.n_traces; i++) {
                trace_line(&r->traces, inst, sdc_strategy_name(r->sp.kind), &o.traces[i],
                           &o.info[i], &r->ac, cfg->save_tokens);
                count_trace(r, &o.traces[i]);
            }
            prediction_line(&r->preds, inst, cfg, &r->sp, &o, o.seconds, r->ac.classify);
            sdc_outcome_clear(&o);
        }
    }
    dc_free(user);
    if (st != DC_STATUS_OK)
        return st;
    if (r->traces.st != DC_STATUS_OK || r->preds.st != DC_STATUS_OK)
        return dc_error_set(err, DC_STATUS_NOMEM, "instance %s: records too large or out of memory",
                            inst->id);
    return DC_STATUS_OK;
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
    r.ac.classify = !strcmp(cfg->mode, "classify");
    dc_status st = strategy_params(cfg, &r.sp, err);
    if (st != DC_STATUS_OK)
        return st;
    r.gen = dc_gen_default_params();
    r.gen.max_tokens = (size_t)cfg->max_tokens;
    r.gen.top_logprobs = (size_t)cfg->top_logprobs;
    r.gen.seed = (uint64_t)cfg->seed;
    r.gen.parallel = (size_t)cfg->parallel;
    r.gen.sampling = dc_sampling_qwen3(cfg->thinking);
    if (!isnan(cfg->temperature))
        r.gen.sampling.temperature = cfg->temperature;
    if (!isnan(cfg->top_p))
        r.gen.sampling.top_p = cfg->top_p;
    if (cfg->top_k >= 0)
        r.gen.sampling.top_k = (int32_t)cfg->top_k;
    r.gen.sampling.min_p = cfg->min_p;

    size_t expected = cfg->compare ? SDC_STRATEGY_COUNT : 1;
    sdc_open_mode mode = cfg->force ? SDC_OPEN_FORCE : cfg->resume ? SDC_OPEN_RESUME : SDC_OPEN_NEW;
    sdc_results *res;
    st = sdc_results_open(p->dir, p->run_json, p->fingerprint, expected, mode, &res, err);
    if (st != DC_STATUS_OK)
        return st;
    if ((st = dc_backend_replay_open(&r.replay, err)) != DC_STATUS_OK) {
        sdc_results_close(res);
        return st;
    }
    sdc_buf_init(&r.traces, 0);
    sdc_buf_init(&r.preds, 0);
    double t0 = sdc_now_seconds();
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
                                   sdc_now_seconds() - t0,
                                   inst->id,
                                   0};
            if (p->progress(p->user, &pr)) {
                st = dc_error_set(err, DC_STATUS_CANCELLED, "stopped after instance %s", inst->id);
                break;
            }
        }
    }
    stats->seconds = sdc_now_seconds() - t0;
    sdc_buf_free(&r.traces);
    sdc_buf_free(&r.preds);
    dc_backend_free(r.replay);
    sdc_results_close(res);
    return st;
}
