/* llama.c - the in-process llama.cpp backend: parallel traces with raw
 * top-k logprobs, an observer per token, waves that reuse the prompt. */
#include "deepconf/dc_backend_llama.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/llama_global.h"
#include "backend/llama_util.h"
#include "util/clock.h"

dc_llama_params dc_llama_default_params(void)
{
    dc_llama_params p;
    memset(&p, 0, sizeof p);
    p.parallel = 8;
    p.n_batch = 2048;
    p.n_ubatch = 512;
    p.flash_attn = -1;
    p.use_mmap = 1;
    p.repack = -1;
    return p;
}

#ifndef SDC_HAVE_LLAMA

dc_status dc_backend_llama_open(const dc_llama_params *params, dc_backend **out, dc_error *err)
{
    (void)params;
    *out = NULL;
    return dc_error_set(err, DC_STATUS_UNSUPPORTED,
                        "built without llama.cpp: run scripts/setup.sh and reconfigure with "
                        "-DSDC_LLAMA_PREFIX=...");
}

#else

#include <llama.h>

/* ---- state ---- */

typedef struct tokvec {
    dc_token *v;
    size_t n, cap;
} tokvec;

typedef struct textbuf {
    char *s;
    size_t n, cap;
} textbuf;

typedef struct trace_state {
    dc_stop_reason stop;
    size_t n_kept, n_evaluated;
    tokvec toks;
    textbuf text;
    uint64_t seed;
} trace_state;

typedef struct slot {
    long trace; /* index in the call, -1 when free */
    struct llama_sampler *chain;
    llama_token pending; /* kept token still to be decoded */
} slot;

typedef struct llama_impl {
    struct llama_model *model;
    struct llama_context *ctx;
    const struct llama_vocab *vocab;
    int32_t n_vocab;
    uint32_t n_seq, n_ctx_seq, n_batch;
    dc_model_info info;
    char *tmpl; /* the model's chat template, owned; NULL when none */
    atomic_int cancel;
    /* scratch, sized at open */
    float *prompt_logits;
    llama_token_data *cand; /* n_vocab: the sampler's slow path */
    struct llama_batch batch;
    size_t batch_cap;
} llama_impl;

static bool progress_trampoline(float p, void *user)
{
    const dc_llama_params *lp = user;
    return lp->progress(lp->progress_user, p) != 0;
}

static bool abort_trampoline(void *user)
{
    llama_impl *L = user;
    return atomic_load(&L->cancel) != 0;
}

/* llama.cpp's AMX int8 matrix kernels (used for Q8_0 when weights are
 * repacked) crash with SIGSEGV on the AMX machines this was tested on,
 * also in llama-batched-bench and llama-server; repacking stays off there. */
static int cpu_has_amx_int8(void)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return 0;
    char line[8192];
    int found = 0;
    while (!found && fgets(line, sizeof line, f))
        found = !strncmp(line, "flags", 5) && strstr(line, " amx_int8");
    fclose(f);
    return found;
}

/* ---- describe, format, tokenize ---- */

static void impl_describe(const void *impl, dc_model_info *out)
{
    const llama_impl *L = impl;
    *out = L->info;
}

static int is_qwen3_template(const char *tmpl, const char *arch)
{
    if (tmpl)
        return strstr(tmpl, "<|im_start|>") && strstr(tmpl, "enable_thinking");
    return !strncmp(arch, "qwen3", 5);
}

static dc_status impl_format_chat(void *impl, const dc_chat *chat, char **text, dc_error *err)
{
    llama_impl *L = impl;
    int has_system = chat->system && chat->system[0];
    if (L->info.is_qwen3_template) {
        *text = dc_qwen3_format(chat->system, chat->user, chat->enable_thinking);
        return *text ? DC_STATUS_OK : dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    }
    struct llama_chat_message msgs[2];
    size_t n = 0;
    if (has_system)
        msgs[n++] = (struct llama_chat_message){"system", chat->system};
    msgs[n++] = (struct llama_chat_message){"user", chat->user};
    /* A model without a template gets ChatML, as llama-server does. */
    const char *tmpl = L->tmpl ? L->tmpl : "chatml";
    size_t cap = 256 + strlen(chat->user) * 2 + (has_system ? strlen(chat->system) * 2 : 0);
    for (int attempt = 0; attempt < 2; attempt++) {
        char *buf = dc_malloc(cap + 1);
        if (!buf)
            return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
        int32_t r = llama_chat_apply_template(tmpl, msgs, n, true, buf, (int32_t)cap);
        if (r < 0) {
            dc_free(buf);
            return dc_error_set(err, DC_STATUS_UNSUPPORTED,
                                "llama.cpp does not know this model's chat template");
        }
        if ((size_t)r <= cap) {
            buf[r] = '\0';
            *text = buf;
            return DC_STATUS_OK;
        }
        dc_free(buf);
        cap = (size_t)r;
    }
    return dc_error_set(err, DC_STATUS_BACKEND, "chat template length changed between calls");
}

static dc_status impl_tokenize(void *impl, const char *text, int32_t **tokens, size_t *n_tokens,
                               dc_error *err)
{
    llama_impl *L = impl;
    size_t len = strlen(text);
    if (len > INT32_MAX / 2)
        return dc_error_set(err, DC_STATUS_LIMIT, "text too long to tokenize (%zu bytes)", len);
    int32_t cap = (int32_t)len + 8;
    for (int attempt = 0; attempt < 2; attempt++) {
        llama_token *t = dc_malloc((size_t)cap * sizeof *t);
        if (!t)
            return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
        /* add_special: BOS when the model asks for it (Qwen does not). */
        int32_t n = llama_tokenize(L->vocab, text, (int32_t)len, t, cap, true, true);
        if (n >= 0) {
            *tokens = t;
            *n_tokens = (size_t)n;
            return DC_STATUS_OK;
        }
        dc_free(t);
        if (n == INT32_MIN)
            return dc_error_set(err, DC_STATUS_LIMIT, "tokenization overflow");
        cap = -n;
    }
    return dc_error_set(err, DC_STATUS_BACKEND, "tokenizer size changed between calls");
}

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
        return impl_tokenize(L, pr->text, toks, n, err);
    char *text;
    dc_status st = impl_format_chat(L, pr->chat, &text, err);
    if (st != DC_STATUS_OK)
        return st;
    st = impl_tokenize(L, text, toks, n, err);
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

static dc_status impl_generate(void *impl, const dc_prompt *prompt, const dc_gen_params *p,
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

static void impl_cancel(void *impl)
{
    llama_impl *L = impl;
    atomic_store(&L->cancel, 1);
}

static void impl_free(void *impl)
{
    llama_impl *L = impl;
    if (!L)
        return;
    if (L->batch.token)
        llama_batch_free(L->batch);
    if (L->ctx)
        llama_free(L->ctx);
    if (L->model)
        llama_model_free(L->model);
    dc_free(L->tmpl);
    dc_free(L->prompt_logits);
    dc_free(L->cand);
    dc_free(L);
}

static const dc_backend_vtable llama_vtable = {
    "llama", impl_describe, impl_format_chat, impl_tokenize, impl_generate, impl_cancel, impl_free,
};

/* ---- open ---- */

static void fill_info(llama_impl *L, const char *path)
{
    dc_model_info *in = &L->info;
    memset(in, 0, sizeof *in);
    snprintf(in->backend, sizeof in->backend, "llama");
    if (llama_model_meta_val_str(L->model, "general.name", in->name, sizeof in->name) < 0)
        snprintf(in->name, sizeof in->name, "%s", path);
    if (llama_model_meta_val_str(L->model, "general.architecture", in->arch, sizeof in->arch) < 0)
        in->arch[0] = '\0';
    char ft[32];
    if (llama_model_meta_val_str(L->model, "general.file_type", ft, sizeof ft) >= 0)
        snprintf(in->quant, sizeof in->quant, "%s", dc_ftype_name(atoi(ft)));
    llama_model_desc(L->model, in->desc, sizeof in->desc);
    in->n_params = llama_model_n_params(L->model);
    in->size_bytes = llama_model_size(L->model);
    in->n_ctx_train = (uint32_t)llama_model_n_ctx_train(L->model);
    in->n_ctx = L->n_ctx_seq;
    in->n_layer = (uint32_t)llama_model_n_layer(L->model);
    in->n_embd = (uint32_t)llama_model_n_embd(L->model);
    in->n_head = (uint32_t)llama_model_n_head(L->model);
    in->n_head_kv = (uint32_t)llama_model_n_head_kv(L->model);
    char hd[32];
    char key[96];
    snprintf(key, sizeof key, "%s.attention.key_length", in->arch);
    in->head_dim = llama_model_meta_val_str(L->model, key, hd, sizeof hd) >= 0
                       ? (uint32_t)atoi(hd)
                       : (in->n_head ? in->n_embd / in->n_head : 0);
    in->n_vocab = L->n_vocab;
    in->has_chat_template = L->tmpl != NULL;
    in->is_qwen3_template = is_qwen3_template(L->tmpl, in->arch);
    in->eos = llama_vocab_eos(L->vocab);
    for (int32_t t = 0; t < L->n_vocab && in->n_eog < DC_MODEL_MAX_EOG; t++)
        if (llama_vocab_is_eog(L->vocab, t))
            in->eog[in->n_eog++] = t;
}

/* The parameters with their defaults filled in and checked. */
static dc_status open_params(const dc_llama_params *params, dc_llama_params *p, dc_error *err)
{
    *p = params ? *params : dc_llama_default_params();
    if (!p->model_path || !*p->model_path)
        return dc_error_set(err, DC_STATUS_INVALID_ARG, "no model path");
    if (access(p->model_path, R_OK) != 0)
        return dc_error_set(err, errno == ENOENT ? DC_STATUS_NOT_FOUND : DC_STATUS_IO, "%s: %s",
                            p->model_path, strerror(errno));
    if (p->parallel == 0)
        p->parallel = 1;
    if (p->parallel > 256)
        return dc_error_set(err, DC_STATUS_INVALID_ARG, "parallel %u exceeds 256 sequences",
                            (unsigned)p->parallel);
    if (p->n_batch == 0)
        p->n_batch = 2048;
    if (p->n_ubatch == 0 || p->n_ubatch > p->n_batch)
        p->n_ubatch = p->n_batch < 512 ? p->n_batch : 512;
    if (p->n_threads <= 0) {
        long nc = sysconf(_SC_NPROCESSORS_ONLN);
        p->n_threads = nc > 0 ? (int32_t)nc : 4;
    }
    if (p->n_threads_batch <= 0)
        p->n_threads_batch = p->n_threads;
    return DC_STATUS_OK;
}

/* The weights, vocabulary and chat template. */
static dc_status load_model(llama_impl *L, dc_llama_params *p, dc_error *err)
{
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = p->n_gpu_layers;
    mp.load_mode = p->use_mmap ? LLAMA_LOAD_MODE_MMAP : LLAMA_LOAD_MODE_NONE;
    if (p->repack < 0) {
        dc_gguf_info gi;
        p->repack =
            !cpu_has_amx_int8() &&
            (dc_gguf_read_info(p->model_path, &gi, NULL) != DC_STATUS_OK || gi.n_embd >= 256);
    }
    mp.use_extra_bufts = p->repack != 0;
    if (p->progress) {
        mp.progress_callback = progress_trampoline;
        mp.progress_callback_user_data = p;
    }
    L->model = llama_model_load_from_file(p->model_path, mp);
    if (!L->model)
        return dc_error_set(err, DC_STATUS_MODEL,
                            "%s: llama.cpp could not load the model (not a GGUF of a supported "
                            "architecture, truncated, or loading was cancelled)",
                            p->model_path);
    L->vocab = llama_model_get_vocab(L->model);
    L->n_vocab = llama_vocab_n_tokens(L->vocab);
    const char *tmpl = llama_model_chat_template(L->model, NULL);
    if (tmpl && !(L->tmpl = dc_strdup(tmpl)))
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    return DC_STATUS_OK;
}

/* A context of p->parallel sequences of p->n_ctx tokens (capped at the
 * training context), and the scratch sized by it. */
static dc_status make_context(llama_impl *L, const dc_llama_params *p, dc_error *err)
{
    uint32_t n_ctx_train = (uint32_t)llama_model_n_ctx_train(L->model);
    uint32_t n_ctx = p->n_ctx ? p->n_ctx : 4096;
    if (n_ctx_train > 0 && n_ctx > n_ctx_train)
        n_ctx = n_ctx_train;
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = n_ctx * p->parallel;
    cp.n_batch = p->n_batch;
    cp.n_ubatch = p->n_ubatch;
    cp.n_seq_max = p->parallel;
    /* At most one row of logits per trace and step (and one for the
       prompt): llama.cpp then reserves logits for `parallel` rows, not for
       a whole batch. */
    cp.n_outputs_max = p->parallel;
    cp.n_threads = p->n_threads;
    cp.n_threads_batch = p->n_threads_batch;
    cp.flash_attn_type = p->flash_attn < 0    ? LLAMA_FLASH_ATTN_TYPE_AUTO
                         : p->flash_attn == 0 ? LLAMA_FLASH_ATTN_TYPE_DISABLED
                                              : LLAMA_FLASH_ATTN_TYPE_ENABLED;
    cp.kv_unified = false;
    cp.no_perf = true;
    cp.abort_callback = abort_trampoline;
    cp.abort_callback_data = L;
    L->ctx = llama_init_from_model(L->model, cp);
    if (!L->ctx)
        return dc_error_set(err, DC_STATUS_MODEL,
                            "llama.cpp could not create a context of %u tokens x %u traces "
                            "(out of memory?)",
                            (unsigned)n_ctx, (unsigned)p->parallel);
    L->n_seq = llama_n_seq_max(L->ctx);
    L->n_ctx_seq = llama_n_ctx_seq(L->ctx);
    if (L->n_ctx_seq > n_ctx)
        L->n_ctx_seq = n_ctx; /* llama.cpp pads to 256; keep the asked-for limit */
    L->n_batch = llama_n_batch(L->ctx);
    L->batch_cap = L->n_batch > L->n_seq ? L->n_batch : L->n_seq;
    L->batch = llama_batch_init((int32_t)L->batch_cap, 0, 1);
    L->prompt_logits = dc_malloc((size_t)L->n_vocab * sizeof *L->prompt_logits);
    L->cand = dc_malloc((size_t)L->n_vocab * sizeof *L->cand);
    if (!L->batch.token || !L->prompt_logits || !L->cand)
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    return DC_STATUS_OK;
}

dc_status dc_backend_llama_open(const dc_llama_params *params, dc_backend **out, dc_error *err)
{
    *out = NULL;
    dc_llama_params p;
    dc_status st = open_params(params, &p, err);
    if (st != DC_STATUS_OK)
        return st;
    dc_llama_global_init();
    dc_llama_global_log_to(p.log, p.log_user);
    dc_llama_global_logs_install();
    llama_impl *L = dc_calloc(1, sizeof *L);
    if (!L)
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    atomic_init(&L->cancel, 0);
    if ((st = load_model(L, &p, err)) != DC_STATUS_OK ||
        (st = make_context(L, &p, err)) != DC_STATUS_OK) {
        impl_free(L);
        return st;
    }
    fill_info(L, p.model_path);
    return dc_backend_wrap(&llama_vtable, L, out) == DC_STATUS_OK
               ? DC_STATUS_OK
               : dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
}

#endif /* SDC_HAVE_LLAMA */
