/* llama_gen.c - one generate() call of the llama backend: the prompt
 * decoded once and shared, traces decoded together in slots (waves when
 * there are more traces than slots), each position's raw top-k given to
 * the observer before the token is kept, per-trace samplers. */
#ifdef SDC_HAVE_LLAMA

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/llama_int.h"
#include "backend/llama_util.h"
#include "util/clock.h"

/* ---- per-trace bookkeeping ---- */

static int text_append(textbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = dc_realloc(b->s, cap);
        if (!p)
            return 0;
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
    return 1;
}

static int token_keep(tokvec *v, const dc_token_event *ev, size_t len)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        dc_token *p = dc_reallocarray(v->v, cap, sizeof *p);
        if (!p)
            return 0;
        v->v = p;
        v->cap = cap;
    }
    dc_token *k = &v->v[v->n];
    memset(k, 0, sizeof *k);
    k->id = ev->id;
    k->logprob = ev->logprob;
    k->sampled_rank = ev->sampled_rank;
    k->text = dc_strndup(ev->text, len);
    k->n_top = ev->n_top;
    if (ev->n_top) {
        k->top_lp = dc_malloc(ev->n_top * sizeof *k->top_lp);
        k->top_id = dc_malloc(ev->n_top * sizeof *k->top_id);
    }
    if (!k->text || (ev->n_top && (!k->top_lp || !k->top_id))) {
        dc_free(k->text);
        dc_free(k->top_lp);
        dc_free(k->top_id);
        return 0;
    }
    if (ev->n_top) {
        memcpy(k->top_lp, ev->top_lp, ev->n_top * sizeof *k->top_lp);
        memcpy(k->top_id, ev->top_id, ev->n_top * sizeof *k->top_id);
    }
    v->n++;
    return 1;
}

static struct llama_sampler *make_chain(const dc_sampling *s, uint32_t seed)
{
    struct llama_sampler_chain_params cp = llama_sampler_chain_default_params();
    cp.no_perf = true;
    struct llama_sampler *c = llama_sampler_chain_init(cp);
    if (!c)
        return NULL;
    if (s->temperature <= 0) {
        llama_sampler_chain_add(c, llama_sampler_init_greedy());
        return c;
    }
    /* llama.cpp's usual order (common_sampler): top-k, top-p, min-p, temperature, draw. */
    if (s->top_k > 0)
        llama_sampler_chain_add(c, llama_sampler_init_top_k(s->top_k));
    if (s->top_p < 1)
        llama_sampler_chain_add(c, llama_sampler_init_top_p((float)s->top_p, 1));
    if (s->min_p > 0)
        llama_sampler_chain_add(c, llama_sampler_init_min_p((float)s->min_p, 1));
    llama_sampler_chain_add(c, llama_sampler_init_temp((float)s->temperature));
    llama_sampler_chain_add(c, llama_sampler_init_dist(seed));
    return c;
}

/* ---- one generate() call ---- */

typedef struct gen {
    llama_impl *L;
    const dc_gen_params *p;
    const dc_observer *obs;
    size_t n_prompt;
    size_t n_sel; /* top-k selected per position: max(top_logprobs, sampler top-k) */
    trace_state *tr;
    slot *slots;
    size_t n_slots;
    size_t next_trace;
    /* per-position scratch */
    int32_t *sel_id;
    float *sel_logit;
    double *top_lp;
    llama_token_data *small; /* n_sel candidates for the fast sampler path */
    char piece[512];
    dc_status oom;
} gen;

static void trace_finish(gen *g, size_t s, dc_stop_reason why);

/* Ends every running and waiting trace with `why`. */
static void end_all(gen *g, dc_stop_reason why)
{
    for (size_t s = 0; s < g->n_slots; s++)
        if (g->slots[s].trace >= 0)
            trace_finish(g, s, why);
    for (; g->next_trace < g->p->n_traces; g->next_trace++) {
        trace_state *t = &g->tr[g->next_trace];
        t->stop = why;
        t->seed = dc_trace_seed(g->p->seed, g->p->instance_id, g->p->first_trace + g->next_trace);
        if (g->obs->on_trace_end) {
            dc_gen_trace view;
            memset(&view, 0, sizeof view);
            view.index = g->p->first_trace + g->next_trace;
            view.seed = t->seed;
            view.stop = why;
            g->obs->on_trace_end(g->obs->user, &view);
        }
    }
}

static void trace_finish(gen *g, size_t s, dc_stop_reason why)
{
    slot *sl = &g->slots[s];
    size_t i = (size_t)sl->trace;
    trace_state *t = &g->tr[i];
    t->stop = why;
    sl->trace = -1;
    /* Keep the shared prompt in this sequence for the next trace. */
    llama_memory_seq_rm(llama_get_memory(g->L->ctx), (llama_seq_id)s, (llama_pos)g->n_prompt, -1);
    if (g->obs->on_trace_end) {
        dc_gen_trace view;
        memset(&view, 0, sizeof view);
        view.trace.tokens = t->toks.v;
        view.trace.n_tokens = t->toks.n;
        view.trace.text = t->text.s;
        view.index = g->p->first_trace + i;
        view.seed = t->seed;
        view.stop = why;
        view.n_generated = t->n_kept;
        view.n_evaluated = t->n_evaluated;
        if (g->obs->on_trace_end(g->obs->user, &view) == DC_OBSERVE_CANCEL)
            atomic_store(&g->L->cancel, 1);
    }
}

/* One position of the trace in slot s from its raw logits: top-k and
 * log-sum-exp, sampling, the observer, keep or stop. Returns 1 when the
 * trace goes on (a pending token to decode). */
static int position(gen *g, size_t s, const float *logits)
{
    llama_impl *L = g->L;
    slot *sl = &g->slots[s];
    size_t ti = (size_t)sl->trace;
    trace_state *t = &g->tr[ti];

    size_t nsel = dc_topk_select(logits, L->n_vocab, g->n_sel, g->sel_id, g->sel_logit);
    double lse = dc_logsumexp(logits, L->n_vocab, g->sel_logit[0]);

    /* Sampling: the chain starts with top-k (when set), so only the
     * selected candidates can survive it; hand it those. */
    llama_token tok;
    const dc_sampling *sp = &g->p->sampling;
    if (sp->temperature <= 0) {
        tok = g->sel_id[0];
    } else {
        llama_token_data_array arr;
        if (sp->top_k > 0 && (size_t)sp->top_k <= nsel) {
            for (size_t j = 0; j < nsel; j++)
                g->small[j] = (llama_token_data){g->sel_id[j], g->sel_logit[j], 0.0f};
            arr = (llama_token_data_array){g->small, nsel, -1, true};
        } else {
            for (int32_t j = 0; j < L->n_vocab; j++)
                L->cand[j] = (llama_token_data){j, logits[j], 0.0f};
            arr = (llama_token_data_array){L->cand, (size_t)L->n_vocab, -1, false};
        }
        llama_sampler_apply(sl->chain, &arr);
        tok = arr.data[arr.selected].id;
    }

    dc_token_event ev;
    ev.trace = ti;
    ev.index = g->p->first_trace + ti;
    ev.pos = t->n_kept;
    ev.id = tok;
    ev.logprob = (double)logits[tok] - lse;
    ev.n_top = nsel < g->p->top_logprobs ? nsel : g->p->top_logprobs;
    ev.sampled_rank = -1;
    for (size_t j = 0; j < ev.n_top; j++) {
        g->top_lp[j] = (double)g->sel_logit[j] - lse;
        if (g->sel_id[j] == tok)
            ev.sampled_rank = (int)j;
    }
    ev.top_lp = g->top_lp;
    ev.top_id = g->sel_id;
    ev.is_eog = !g->p->ignore_eos && llama_vocab_is_eog(L->vocab, tok);
    int32_t plen =
        llama_token_to_piece(L->vocab, tok, g->piece, (int32_t)sizeof g->piece - 1, 0, true);
    if (plen < 0)
        plen = 0;
    g->piece[plen] = '\0';
    ev.text = g->piece;

    t->n_evaluated++;
    dc_observe d = g->obs->on_token ? g->obs->on_token(g->obs->user, &ev) : DC_OBSERVE_CONTINUE;
    if (d == DC_OBSERVE_CANCEL || atomic_load(&L->cancel)) {
        atomic_store(&L->cancel, 1);
        trace_finish(g, s, DC_STOP_CANCELLED);
        return 0;
    }
    if (d == DC_OBSERVE_STOP) {
        trace_finish(g, s, DC_STOP_CONFIDENCE);
        return 0;
    }
    if (g->p->keep_tokens && !token_keep(&t->toks, &ev, (size_t)plen))
        g->oom = DC_STATUS_NOMEM;
    if (!ev.is_eog && !text_append(&t->text, g->piece, (size_t)plen))
        g->oom = DC_STATUS_NOMEM;
    if (g->oom != DC_STATUS_OK) {
        trace_finish(g, s, DC_STOP_ERROR);
        return 0;
    }
    if (sp->temperature > 0)
        llama_sampler_accept(sl->chain, tok);
    t->n_kept++;
    if (ev.is_eog) {
        trace_finish(g, s, DC_STOP_EOS);
        return 0;
    }
    /* The kept token is decoded at position n_prompt + n_kept - 1. */
    if (t->n_kept >= g->p->max_tokens || g->n_prompt + t->n_kept > L->n_ctx_seq) {
        trace_finish(g, s, DC_STOP_LENGTH);
        return 0;
    }
    sl->pending = tok;
    return 1;
}

/* Starts waiting traces in free slot s until one goes on or none is left.
 * The first position of every trace comes from the shared prompt logits. */
static void fill_slot(gen *g, size_t s)
{
    while (g->slots[s].trace < 0 && g->next_trace < g->p->n_traces && !atomic_load(&g->L->cancel)) {
        size_t i = g->next_trace++;
        g->tr[i].seed = dc_trace_seed(g->p->seed, g->p->instance_id, g->p->first_trace + i);
        slot *sl = &g->slots[s];
        if (sl->chain)
            llama_sampler_free(sl->chain);
        sl->chain = make_chain(&g->p->sampling, (uint32_t)g->tr[i].seed);
        sl->trace = (long)i;
        if (!sl->chain) {
            g->oom = DC_STATUS_NOMEM;
            trace_finish(g, s, DC_STOP_ERROR);
            return;
        }
        if (position(g, s, g->L->prompt_logits))
            return;
    }
}

static dc_status decode_prompt(gen *g, const llama_token *toks, size_t n, dc_error *err)
{
    llama_impl *L = g->L;
    struct llama_batch *b = &L->batch;
    for (size_t i = 0; i < n; i += L->n_batch) {
        size_t m = n - i < L->n_batch ? n - i : L->n_batch;
        b->n_tokens = 0;
        for (size_t j = 0; j < m; j++) {
            size_t k = (size_t)b->n_tokens++;
            b->token[k] = toks[i + j];
            b->pos[k] = (llama_pos)(i + j);
            b->n_seq_id[k] = 1;
            b->seq_id[k][0] = 0;
            b->logits[k] = (i + j == n - 1);
        }
        int32_t r = llama_decode(L->ctx, *b);
        if (r == 2 || atomic_load(&L->cancel))
            return dc_error_set(err, DC_STATUS_CANCELLED, "cancelled while decoding the prompt");
        if (r != 0)
            return dc_error_set(err, DC_STATUS_BACKEND,
                                "llama_decode failed on the prompt (code %d)", (int)r);
    }
    const float *lg = llama_get_logits_ith(L->ctx, -1);
    if (!lg)
        return dc_error_set(err, DC_STATUS_BACKEND, "llama.cpp returned no logits for the prompt");
    memcpy(L->prompt_logits, lg, (size_t)L->n_vocab * sizeof *lg);
    return DC_STATUS_OK;
}

static dc_status prompt_tokens(llama_impl *L, const dc_prompt *pr, int32_t **toks, size_t *n,
                               dc_error *err)
{
    if (pr->tokens) {
        *toks = dc_malloc(pr->n_tokens * sizeof **toks);
        if (!*toks)
            return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
        for (size_t i = 0; i < pr->n_tokens; i++) {
            if (pr->tokens[i] < 0 || pr->tokens[i] >= L->n_vocab) {
                dc_free(*toks);
                *toks = NULL;
                return dc_error_set(err, DC_STATUS_INVALID_ARG,
                                    "prompt token %zu: id %d outside the vocabulary (0..%d)", i,
                                    (int)pr->tokens[i], (int)L->n_vocab - 1);
            }
            (*toks)[i] = pr->tokens[i];
        }
        *n = pr->n_tokens;
        return DC_STATUS_OK;
    }
    if (pr->text)
        return dc_llama_tokenize(L, pr->text, toks, n, err);
    char *text;
    dc_status st = dc_llama_format_chat(L, pr->chat, &text, err);
    if (st != DC_STATUS_OK)
        return st;
    st = dc_llama_tokenize(L, text, toks, n, err);
    dc_free(text);
    return st;
}

static dc_status collect(gen *g, dc_gen_result *out)
{
    const dc_gen_params *p = g->p;
    out->traces = dc_calloc(p->n_traces, sizeof *out->traces);
    if (!out->traces)
        return DC_STATUS_NOMEM;
    out->n_traces = p->n_traces;
    for (size_t i = 0; i < p->n_traces; i++) {
        trace_state *t = &g->tr[i];
        dc_gen_trace *o = &out->traces[i];
        char id[320];
        snprintf(id, sizeof id, "%s#%llu", p->instance_id ? p->instance_id : "",
                 (unsigned long long)(p->first_trace + i));
        o->trace.id = dc_strdup(id);
        o->trace.finish_reason = dc_strdup(dc_stop_reason_name(t->stop));
        o->trace.text = t->text.s ? t->text.s : dc_strdup("");
        t->text.s = NULL;
        o->trace.tokens = t->toks.v;
        o->trace.n_tokens = t->toks.n;
        t->toks.v = NULL;
        t->toks.n = 0;
        o->index = p->first_trace + i;
        o->seed = t->seed;
        o->stop = t->stop;
        o->n_generated = t->n_kept;
        o->n_evaluated = t->n_evaluated;
        o->error = t->stop == DC_STOP_ERROR ? (g->oom != DC_STATUS_OK ? g->oom : DC_STATUS_BACKEND)
                                            : DC_STATUS_OK;
        out->gen_tokens += t->n_evaluated;
        if (!o->trace.id || !o->trace.finish_reason || !o->trace.text)
            return DC_STATUS_NOMEM;
    }
    return DC_STATUS_OK;
}

static void gen_free(gen *g)
{
    if (g->tr) {
        for (size_t i = 0; i < g->p->n_traces; i++) {
            for (size_t j = 0; j < g->tr[i].toks.n; j++) {
                dc_free(g->tr[i].toks.v[j].text);
                dc_free(g->tr[i].toks.v[j].top_lp);
                dc_free(g->tr[i].toks.v[j].top_id);
            }
            dc_free(g->tr[i].toks.v);
            dc_free(g->tr[i].text.s);
        }
    }
    if (g->slots)
        for (size_t s = 0; s < g->n_slots; s++)
            if (g->slots[s].chain)
                llama_sampler_free(g->slots[s].chain);
    dc_free(g->tr);
    dc_free(g->slots);
    dc_free(g->sel_id);
    dc_free(g->sel_logit);
    dc_free(g->top_lp);
    dc_free(g->small);
}

/* The generation state for p: slots, the alternatives kept per position
 * (top_logprobs, or the sampler's top-k when larger). NOMEM. */
static dc_status gen_init(gen *g, llama_impl *L, const dc_gen_params *p, const dc_observer *obs,
                          size_t n_prompt)
{
    memset(g, 0, sizeof *g);
    g->L = L;
    g->p = p;
    g->obs = obs;
    g->n_prompt = n_prompt;
    g->n_slots = p->parallel ? p->parallel : L->n_seq;
    if (g->n_slots > L->n_seq)
        g->n_slots = L->n_seq;
    if (g->n_slots > p->n_traces)
        g->n_slots = p->n_traces;
    g->n_sel = p->top_logprobs;
    if (p->sampling.temperature > 0 && p->sampling.top_k > 0 &&
        (size_t)p->sampling.top_k > g->n_sel && p->sampling.top_k <= 1024)
        g->n_sel = (size_t)p->sampling.top_k;
    if (g->n_sel < 1)
        g->n_sel = 1;
    if (g->n_sel > (size_t)L->n_vocab)
        g->n_sel = (size_t)L->n_vocab;
    g->tr = dc_calloc(p->n_traces, sizeof *g->tr);
    g->slots = dc_calloc(g->n_slots, sizeof *g->slots);
    g->sel_id = dc_malloc(g->n_sel * sizeof *g->sel_id);
    g->sel_logit = dc_malloc(g->n_sel * sizeof *g->sel_logit);
    g->top_lp = dc_malloc(g->n_sel * sizeof *g->top_lp);
    g->small = dc_malloc(g->n_sel * sizeof *g->small);
    if (!g->tr || !g->slots || !g->sel_id || !g->sel_logit || !g->top_lp || !g->small)
        return DC_STATUS_NOMEM;
    for (size_t s = 0; s < g->n_slots; s++)
        g->slots[s].trace = -1;
    return DC_STATUS_OK;
}

/* One batched decode step over the busy slots; 0 when none is busy. */
static int decode_step(gen *g, size_t *batch_slot, dc_error *err)
{
    llama_impl *L = g->L;
    struct llama_batch *b = &L->batch;
    b->n_tokens = 0;
    for (size_t s = 0; s < g->n_slots; s++) {
        if (g->slots[s].trace < 0)
            continue;
        size_t k = (size_t)b->n_tokens++;
        const trace_state *t = &g->tr[g->slots[s].trace];
        b->token[k] = g->slots[s].pending;
        b->pos[k] = (llama_pos)(g->n_prompt + t->n_kept - 1);
        b->n_seq_id[k] = 1;
        b->seq_id[k][0] = (llama_seq_id)s;
        b->logits[k] = 1;
        batch_slot[k] = s;
    }
    if (b->n_tokens == 0)
        return 0;
    int32_t r = llama_decode(L->ctx, *b);
    if (r == 2 || atomic_load(&L->cancel)) {
        end_all(g, DC_STOP_CANCELLED);
        return 0;
    }
    if (r != 0) {
        dc_error_set(err, DC_STATUS_BACKEND, "llama_decode failed (code %d)", (int)r);
        end_all(g, DC_STOP_ERROR);
        return 0;
    }
    int32_t nb = b->n_tokens;
    for (int32_t k = 0; k < nb && !atomic_load(&L->cancel); k++) {
        const float *lg = llama_get_logits_ith(L->ctx, k);
        if (lg)
            position(g, batch_slot[k], lg);
        else
            trace_finish(g, batch_slot[k], DC_STOP_ERROR);
    }
    for (size_t s = 0; s < g->n_slots; s++)
        fill_slot(g, s);
    return 1;
}

/* Decodes until every trace has ended, refilling freed slots (waves). */
static dc_status decode_all(gen *g, dc_error *err)
{
    size_t *batch_slot = dc_malloc(g->n_slots * sizeof *batch_slot);
    if (!batch_slot)
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    for (size_t s = 0; s < g->n_slots; s++)
        fill_slot(g, s);
    for (;;) {
        if (atomic_load(&g->L->cancel)) {
            end_all(g, DC_STOP_CANCELLED);
            break;
        }
        if (!decode_step(g, batch_slot, err))
            break;
    }
    dc_free(batch_slot);
    return DC_STATUS_OK;
}

dc_status dc_llama_generate(void *impl, const dc_prompt *prompt, const dc_gen_params *p,
                            const dc_observer *obs, dc_gen_result *out, dc_error *err)
{
    llama_impl *L = impl;
    atomic_store(&L->cancel, 0);
    int32_t *toks = NULL;
    size_t n_prompt = 0;
    dc_status st = prompt_tokens(L, prompt, &toks, &n_prompt, err);
    if (st != DC_STATUS_OK)
        return st;
    if (n_prompt == 0 || n_prompt + 1 > L->n_ctx_seq) {
        dc_free(toks);
        return n_prompt == 0
                   ? dc_error_set(err, DC_STATUS_INVALID_ARG, "the prompt has no tokens")
                   : dc_error_set(err, DC_STATUS_LIMIT,
                                  "the prompt has %zu tokens; the context per trace holds %u "
                                  "(raise n_ctx)",
                                  n_prompt, (unsigned)L->n_ctx_seq);
    }
    gen g;
    if (gen_init(&g, L, p, obs, n_prompt) != DC_STATUS_OK) {
        dc_free(toks);
        gen_free(&g);
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    }
    struct llama_memory_i *mem = llama_get_memory(L->ctx);
    llama_memory_clear(mem, true);
    double t0 = dc_now_seconds();
    st = decode_prompt(&g, toks, n_prompt, err);
    dc_free(toks);
    double t1 = dc_now_seconds();
    if (st != DC_STATUS_OK) {
        gen_free(&g);
        return st;
    }
    /* Every sequence gets the prompt; across KV streams llama.cpp copies
       the buffers at the next decode. */
    for (size_t s = 1; s < g.n_slots; s++)
        llama_memory_seq_cp(mem, 0, (llama_seq_id)s, -1, -1);
    if ((st = decode_all(&g, err)) != DC_STATUS_OK) {
        gen_free(&g);
        return st;
    }
    double t2 = dc_now_seconds();
    st = collect(&g, out);
    out->prompt_tokens = n_prompt;
    out->prompt_seconds = t1 - t0;
    out->gen_seconds = t2 - t1;
    gen_free(&g);
    if (st != DC_STATUS_OK)
        return dc_error_set(err, st, "out of memory collecting the traces");
    return DC_STATUS_OK;
}

#else
typedef int dc_llama_gen_unused; /* ISO C: a translation unit is not empty */
#endif /* SDC_HAVE_LLAMA */
