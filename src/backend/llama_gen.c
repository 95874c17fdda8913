/* llama_gen.c - the llama backend's scheduler (continuous batching).
 *
 * P slots, one llama.cpp sequence each, decode one token of every busy
 * trace per step. When a trace ends, its slot takes the next waiting
 * trace of the request whose prompt it holds, else of the earliest
 * request with waiting traces, else a new request from the stream: no
 * slot idles while work is left. Each prompt is decoded once, into the
 * slot that admits it; its other traces get it with llama_memory_seq_cp
 * (a whole-stream copy with a KV cache per sequence, cut back to the
 * prompt). Every position's raw top-k goes to the request's observer
 * before the token is kept; each trace samples with its own seeded
 * chain, so its tokens do not depend on which slot or step it ran in.
 * The schedule is a function of the requests alone (no clocks, no
 * threads), so a stream is reproducible. dc_llama_generate() is a
 * stream of one request. */
#ifdef SDC_HAVE_LLAMA

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/llama_int.h"
#include "backend/llama_util.h"
#include "util/clock.h"

/* ---- per-trace bookkeeping ---- */

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

/* ---- the scheduler ---- */

typedef struct request {
    size_t seq;       /* its number in the stream */
    dc_gen_request r; /* borrowed prompt, params, observer */
    int32_t *toks;    /* the prompt's tokens */
    size_t n_prompt;
    float *logits;     /* the prompt's last logits: every trace's first position */
    size_t n_sel;      /* top-k selected per position: max(top_logprobs, sampler top-k) */
    trace_state *tr;   /* r.params.n_traces */
    size_t next_trace; /* traces started */
    size_t n_ended;
    dc_status oom;
    size_t gen_tokens;
    double prompt_seconds, gen_seconds;
} request;

typedef struct slot {
    request *req; /* the running trace's request; NULL when the slot is free */
    size_t trace;
    request *holds; /* whose prompt is at positions [0, n_prompt) of this sequence */
    struct llama_sampler *chain;
    llama_token pending; /* kept token still to be decoded */
} slot;

typedef struct engine {
    llama_impl *L;
    const dc_gen_stream *feed;
    dc_error *err;
    slot *slots;
    size_t n_slots;
    request **act; /* taken and not yet handed over, in stream order */
    size_t n_act, cap_act;
    size_t n_taken;
    int feed_over;    /* next() failed, or everything was cancelled */
    dc_status failed; /* why admission stopped; OK when it did not */
    /* per-position scratch, for the largest n_sel of the requests */
    size_t sel_cap;
    int32_t *sel_id;
    float *sel_logit;
    double *top_lp;
    llama_token_data *small;
    size_t *batch_slot;
    char piece[512];
} engine;

static void request_free(request *q)
{
    if (!q)
        return;
    if (q->tr) {
        for (size_t i = 0; i < q->r.params.n_traces; i++) {
            for (size_t j = 0; j < q->tr[i].toks.n; j++) {
                dc_free(q->tr[i].toks.v[j].text);
                dc_free(q->tr[i].toks.v[j].top_lp);
                dc_free(q->tr[i].toks.v[j].top_id);
            }
            dc_free(q->tr[i].toks.v);
            dc_free(q->tr[i].text.s);
        }
    }
    dc_free(q->tr);
    dc_free(q->toks);
    dc_free(q->logits);
    dc_free(q);
}

/* The request's traces as a result; the trace data moves into it. */
static dc_status collect(request *q, dc_gen_result *out)
{
    const dc_gen_params *p = &q->r.params;
    memset(out, 0, sizeof *out);
    out->traces = dc_calloc(p->n_traces, sizeof *out->traces);
    if (!out->traces)
        return DC_STATUS_NOMEM;
    out->n_traces = p->n_traces;
    out->prompt_tokens = q->n_prompt;
    out->prompt_seconds = q->prompt_seconds;
    out->gen_seconds = q->gen_seconds;
    for (size_t i = 0; i < p->n_traces; i++) {
        trace_state *t = &q->tr[i];
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
        o->error = t->stop == DC_STOP_ERROR ? (q->oom != DC_STATUS_OK ? q->oom : DC_STATUS_BACKEND)
                                            : DC_STATUS_OK;
        out->gen_tokens += t->n_evaluated;
        if (!o->trace.id || !o->trace.finish_reason || !o->trace.text)
            return DC_STATUS_NOMEM;
    }
    return DC_STATUS_OK;
}

/* Every trace of q has ended: its result goes to done(), q goes. */
static void hand_over(engine *e, request *q)
{
    size_t k = 0;
    while (k < e->n_act && e->act[k] != q)
        k++;
    if (k < e->n_act) {
        memmove(&e->act[k], &e->act[k + 1], (e->n_act - k - 1) * sizeof *e->act);
        e->n_act--;
    }
    for (size_t s = 0; s < e->n_slots; s++)
        if (e->slots[s].holds == q)
            e->slots[s].holds = NULL; /* stale: cleared when the slot is reused */
    dc_gen_result res;
    dc_status st = collect(q, &res);
    size_t seq = q->seq;
    request_free(q);
    if (st != DC_STATUS_OK) {
        dc_gen_result_clear(&res);
        if (e->failed == DC_STATUS_OK)
            e->failed = dc_error_set(e->err, st, "out of memory collecting the traces");
        atomic_store(&e->L->cancel, 1);
        return;
    }
    if (e->feed->done(e->feed->user, seq, &res) == DC_OBSERVE_CANCEL)
        atomic_store(&e->L->cancel, 1);
}

static void maybe_hand_over(engine *e, request *q)
{
    if (q->n_ended == q->r.params.n_traces)
        hand_over(e, q);
}

/* The trace in slot s ends with `why`; the sequence keeps the prompt. */
/* Trace i of q has ended (t->stop set): its observer sees it. */
static dc_observe notify_end(request *q, size_t i)
{
    const trace_state *t = &q->tr[i];
    if (!q->r.obs.on_trace_end)
        return DC_OBSERVE_CONTINUE;
    dc_gen_trace view;
    memset(&view, 0, sizeof view);
    view.trace.tokens = t->toks.v;
    view.trace.n_tokens = t->toks.n;
    view.trace.text = t->text.s;
    view.index = q->r.params.first_trace + i;
    view.seed = t->seed;
    view.stop = t->stop;
    view.n_generated = t->n_kept;
    view.n_evaluated = t->n_evaluated;
    return q->r.obs.on_trace_end(q->r.obs.user, &view);
}

static void trace_end(engine *e, size_t s, dc_stop_reason why)
{
    slot *sl = &e->slots[s];
    request *q = sl->req;
    q->tr[sl->trace].stop = why;
    sl->req = NULL;
    llama_memory_seq_rm(llama_get_memory(e->L->ctx), (llama_seq_id)s, (llama_pos)q->n_prompt, -1);
    q->n_ended++;
    if (notify_end(q, sl->trace) == DC_OBSERVE_CANCEL)
        atomic_store(&e->L->cancel, 1);
    maybe_hand_over(e, q);
}

/* q's traces that never started end with `why` (q is handed over when
 * none runs). */
static void end_waiting(engine *e, request *q, dc_stop_reason why)
{
    const dc_gen_params *p = &q->r.params;
    for (; q->next_trace < p->n_traces; q->next_trace++) {
        trace_state *t = &q->tr[q->next_trace];
        t->stop = why;
        t->seed = dc_trace_seed(p->seed, p->instance_id, p->first_trace + q->next_trace);
        q->n_ended++;
        notify_end(q, q->next_trace); /* its answer is not acted on */
    }
    maybe_hand_over(e, q);
}

/* Ends the waiting traces of every request taken (none runs). */
static void end_requests(engine *e, dc_stop_reason why)
{
    while (e->n_act) {
        request *q = e->act[0];
        end_waiting(e, q, why);
        if (e->n_act && e->act[0] == q)
            break; /* a trace of q still runs: not reached */
    }
}

/* Ends every running and waiting trace with `why`; no request is taken
 * after this. */
static void end_all(engine *e, dc_stop_reason why)
{
    e->feed_over = 1;
    for (size_t s = 0; s < e->n_slots; s++)
        if (e->slots[s].req)
            trace_end(e, s, why);
    end_requests(e, why);
}

/* One position of the trace in slot s from its raw logits: top-k and
 * log-sum-exp, sampling, the observer, keep or stop. Returns 1 when the
 * trace goes on (a pending token to decode). */
static int position(engine *e, size_t s, const float *logits)
{
    llama_impl *L = e->L;
    slot *sl = &e->slots[s];
    request *q = sl->req;
    const dc_gen_params *p = &q->r.params;
    size_t ti = sl->trace;
    trace_state *t = &q->tr[ti];

    size_t nsel = dc_topk_select(logits, L->n_vocab, q->n_sel, e->sel_id, e->sel_logit);
    double lse = dc_logsumexp(logits, L->n_vocab, e->sel_logit[0]);

    /* Sampling: the chain starts with top-k (when set), so only the
     * selected candidates can survive it; hand it those. */
    llama_token tok;
    const dc_sampling *sp = &p->sampling;
    if (sp->temperature <= 0) {
        tok = e->sel_id[0];
    } else {
        llama_token_data_array arr;
        if (sp->top_k > 0 && (size_t)sp->top_k <= nsel) {
            for (size_t j = 0; j < nsel; j++)
                e->small[j] = (llama_token_data){e->sel_id[j], e->sel_logit[j], 0.0f};
            arr = (llama_token_data_array){e->small, nsel, -1, true};
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
    ev.index = p->first_trace + ti;
    ev.pos = t->n_kept;
    ev.id = tok;
    ev.logprob = (double)logits[tok] - lse;
    ev.n_top = nsel < p->top_logprobs ? nsel : p->top_logprobs;
    ev.sampled_rank = -1;
    for (size_t j = 0; j < ev.n_top; j++) {
        e->top_lp[j] = (double)e->sel_logit[j] - lse;
        if (e->sel_id[j] == tok)
            ev.sampled_rank = (int)j;
    }
    ev.top_lp = e->top_lp;
    ev.top_id = e->sel_id;
    ev.is_eog = !p->ignore_eos && llama_vocab_is_eog(L->vocab, tok);
    int32_t plen =
        llama_token_to_piece(L->vocab, tok, e->piece, (int32_t)sizeof e->piece - 1, 0, true);
    if (plen < 0)
        plen = 0;
    e->piece[plen] = '\0';
    ev.text = e->piece;

    t->n_evaluated++;
    q->gen_tokens++;
    dc_observe d = q->r.obs.on_token ? q->r.obs.on_token(q->r.obs.user, &ev) : DC_OBSERVE_CONTINUE;
    if (d == DC_OBSERVE_CANCEL || atomic_load(&L->cancel)) {
        atomic_store(&L->cancel, 1);
        trace_end(e, s, DC_STOP_CANCELLED);
        return 0;
    }
    if (d == DC_OBSERVE_STOP) {
        trace_end(e, s, DC_STOP_CONFIDENCE);
        return 0;
    }
    if (p->keep_tokens && !token_keep(&t->toks, &ev, (size_t)plen))
        q->oom = DC_STATUS_NOMEM;
    if (!ev.is_eog && !text_append(&t->text, e->piece, (size_t)plen))
        q->oom = DC_STATUS_NOMEM;
    if (q->oom != DC_STATUS_OK) {
        trace_end(e, s, DC_STOP_ERROR);
        return 0;
    }
    if (sp->temperature > 0)
        llama_sampler_accept(sl->chain, tok);
    t->n_kept++;
    if (ev.is_eog) {
        trace_end(e, s, DC_STOP_EOS);
        return 0;
    }
    /* The kept token is decoded at position n_prompt + n_kept - 1. */
    if (t->n_kept >= p->max_tokens || q->n_prompt + t->n_kept > L->n_ctx_seq) {
        trace_end(e, s, DC_STOP_LENGTH);
        return 0;
    }
    sl->pending = tok;
    return 1;
}

/* Decodes q's prompt into sequence s (its last logits kept for the first
 * position of every trace). */
static dc_status prefill(engine *e, size_t s, request *q)
{
    llama_impl *L = e->L;
    struct llama_memory_i *mem = llama_get_memory(L->ctx);
    llama_memory_seq_rm(mem, (llama_seq_id)s, -1, -1);
    e->slots[s].holds = NULL;
    struct llama_batch *b = &L->batch;
    double t0 = dc_now_seconds();
    for (size_t i = 0; i < q->n_prompt; i += L->n_batch) {
        size_t m = q->n_prompt - i < L->n_batch ? q->n_prompt - i : L->n_batch;
        b->n_tokens = 0;
        for (size_t j = 0; j < m; j++) {
            size_t k = (size_t)b->n_tokens++;
            b->token[k] = q->toks[i + j];
            b->pos[k] = (llama_pos)(i + j);
            b->n_seq_id[k] = 1;
            b->seq_id[k][0] = (llama_seq_id)s;
            b->logits[k] = (i + j == q->n_prompt - 1);
        }
        int32_t r = llama_decode(L->ctx, *b);
        if (r == 2 || atomic_load(&L->cancel))
            return dc_error_set(e->err, DC_STATUS_CANCELLED, "cancelled while decoding the prompt");
        if (r != 0)
            return dc_error_set(e->err, DC_STATUS_BACKEND,
                                "llama_decode failed on the prompt (code %d)", (int)r);
    }
    const float *lg = llama_get_logits_ith(L->ctx, -1);
    if (!lg)
        return dc_error_set(e->err, DC_STATUS_BACKEND,
                            "llama.cpp returned no logits for the prompt");
    memcpy(q->logits, lg, (size_t)L->n_vocab * sizeof *lg);
    q->prompt_seconds += dc_now_seconds() - t0;
    e->slots[s].holds = q;
    return DC_STATUS_OK;
}

/* Sequence s gets q's prompt: already there, copied from a slot that
 * holds it, or decoded. */
static dc_status place_prompt(engine *e, size_t s, request *q)
{
    if (e->slots[s].holds == q)
        return DC_STATUS_OK;
    struct llama_memory_i *mem = llama_get_memory(e->L->ctx);
    for (size_t h = 0; h < e->n_slots; h++) {
        if (h == s || e->slots[h].holds != q)
            continue;
        llama_memory_seq_rm(mem, (llama_seq_id)s, -1, -1);
        /* across KV streams llama.cpp copies the whole stream at the next
           decode, before that decode writes anything; the cells past the
           prompt (h's running trace) are dropped here */
        llama_memory_seq_cp(mem, (llama_seq_id)h, (llama_seq_id)s, -1, -1);
        llama_memory_seq_rm(mem, (llama_seq_id)s, (llama_pos)q->n_prompt, -1);
        e->slots[s].holds = q;
        return DC_STATUS_OK;
    }
    return prefill(e, s, q);
}

/* Room for n_sel alternatives per position. */
static dc_status scratch_reserve(engine *e, size_t n_sel)
{
    if (n_sel <= e->sel_cap)
        return DC_STATUS_OK;
    int32_t *id = dc_reallocarray(e->sel_id, n_sel, sizeof *id);
    if (id)
        e->sel_id = id;
    float *lg = dc_reallocarray(e->sel_logit, n_sel, sizeof *lg);
    if (lg)
        e->sel_logit = lg;
    double *lp = dc_reallocarray(e->top_lp, n_sel, sizeof *lp);
    if (lp)
        e->top_lp = lp;
    llama_token_data *sm = dc_reallocarray(e->small, n_sel, sizeof *sm);
    if (sm)
        e->small = sm;
    if (!id || !lg || !lp || !sm)
        return DC_STATUS_NOMEM;
    e->sel_cap = n_sel;
    return DC_STATUS_OK;
}

/* Takes the stream's next request into slot s: tokens, room, its prompt
 * decoded there. Returns the request, or NULL when there is none (the
 * stream is over, or failed: e->failed). */
static request *admit(engine *e, size_t s)
{
    if (e->feed_over)
        return NULL;
    llama_impl *L = e->L;
    dc_gen_request r;
    int got = e->feed->next(e->feed->user, &r, e->err);
    if (got == 0)
        return NULL; /* nothing now: asked again when a slot is free */
    if (got < 0) {
        e->feed_over = 1;
        e->failed =
            e->err && e->err->status != DC_STATUS_OK ? e->err->status : DC_STATUS_INVALID_ARG;
        return NULL;
    }
    request *q = dc_calloc(1, sizeof *q);
    if (!q) {
        e->feed_over = 1;
        e->failed = dc_error_set(e->err, DC_STATUS_NOMEM, "out of memory");
        return NULL;
    }
    q->seq = e->n_taken++;
    q->r = r;
    const dc_gen_params *p = &q->r.params;
    dc_status st = prompt_tokens(L, &q->r.prompt, &q->toks, &q->n_prompt, e->err);
    if (st == DC_STATUS_OK && (q->n_prompt == 0 || q->n_prompt + 1 > L->n_ctx_seq))
        st = q->n_prompt == 0
                 ? dc_error_set(e->err, DC_STATUS_INVALID_ARG, "the prompt has no tokens")
                 : dc_error_set(e->err, DC_STATUS_LIMIT,
                                "the prompt has %zu tokens; the context per trace holds %u "
                                "(raise n_ctx)",
                                q->n_prompt, (unsigned)L->n_ctx_seq);
    if (st == DC_STATUS_OK) {
        q->n_sel = p->top_logprobs;
        if (p->sampling.temperature > 0 && p->sampling.top_k > 0 &&
            (size_t)p->sampling.top_k > q->n_sel && p->sampling.top_k <= 1024)
            q->n_sel = (size_t)p->sampling.top_k;
        if (q->n_sel < 1)
            q->n_sel = 1;
        if (q->n_sel > (size_t)L->n_vocab)
            q->n_sel = (size_t)L->n_vocab;
        q->tr = dc_calloc(p->n_traces, sizeof *q->tr);
        q->logits = dc_malloc((size_t)L->n_vocab * sizeof *q->logits);
        if (!q->tr || !q->logits || scratch_reserve(e, q->n_sel) != DC_STATUS_OK)
            st = dc_error_set(e->err, DC_STATUS_NOMEM, "out of memory");
    }
    if (st == DC_STATUS_OK)
        st = prefill(e, s, q);
    if (st != DC_STATUS_OK) {
        /* this request and later ones are not run; those before it finish */
        request_free(q);
        e->feed_over = 1;
        e->failed = st;
        return NULL;
    }
    if (e->n_act == e->cap_act) {
        size_t cap = e->cap_act * 2 + 4;
        request **a = dc_reallocarray(e->act, cap, sizeof *a);
        if (!a) {
            request_free(q);
            e->feed_over = 1;
            e->failed = dc_error_set(e->err, DC_STATUS_NOMEM, "out of memory");
            return NULL;
        }
        e->act = a;
        e->cap_act = cap;
    }
    e->act[e->n_act++] = q;
    return q;
}

/* The request slot s serves next: the one whose prompt it holds, else
 * the earliest with waiting traces, else a new one. NULL: none. */
static request *pick(engine *e, size_t s)
{
    request *h = e->slots[s].holds;
    if (h && h->next_trace < h->r.params.n_traces)
        return h;
    for (size_t k = 0; k < e->n_act; k++)
        if (e->act[k]->next_trace < e->act[k]->r.params.n_traces)
            return e->act[k];
    return admit(e, s);
}

/* Starts traces in free slot s until one goes on or no work is left. The
 * first position of every trace comes from its prompt's logits. */
static void fill_slot(engine *e, size_t s)
{
    slot *sl = &e->slots[s];
    while (!sl->req && !atomic_load(&e->L->cancel)) {
        request *q = pick(e, s);
        if (!q)
            return;
        dc_status st = place_prompt(e, s, q);
        if (st != DC_STATUS_OK) {
            /* cannot happen for a request that ran before unless
               llama_decode fails: its waiting traces end in error */
            if (st == DC_STATUS_NOMEM)
                q->oom = st;
            end_waiting(e, q, st == DC_STATUS_CANCELLED ? DC_STOP_CANCELLED : DC_STOP_ERROR);
            continue;
        }
        const dc_gen_params *p = &q->r.params;
        size_t i = q->next_trace++;
        q->tr[i].seed = dc_trace_seed(p->seed, p->instance_id, p->first_trace + i);
        if (sl->chain)
            llama_sampler_free(sl->chain);
        sl->chain = make_chain(&p->sampling, (uint32_t)q->tr[i].seed);
        sl->req = q;
        sl->trace = i;
        if (!sl->chain) {
            q->oom = DC_STATUS_NOMEM;
            trace_end(e, s, DC_STOP_ERROR);
            continue;
        }
        if (position(e, s, q->logits))
            return;
    }
}

/* One batched decode step over the busy slots, then their positions, then
 * freed slots refilled. 0 when no slot is busy. */
static int decode_step(engine *e)
{
    llama_impl *L = e->L;
    struct llama_batch *b = &L->batch;
    b->n_tokens = 0;
    for (size_t s = 0; s < e->n_slots; s++) {
        const slot *sl = &e->slots[s];
        if (!sl->req)
            continue;
        size_t k = (size_t)b->n_tokens++;
        b->token[k] = sl->pending;
        b->pos[k] = (llama_pos)(sl->req->n_prompt + sl->req->tr[sl->trace].n_kept - 1);
        b->n_seq_id[k] = 1;
        b->seq_id[k][0] = (llama_seq_id)s;
        b->logits[k] = 1;
        e->batch_slot[k] = s;
    }
    if (b->n_tokens == 0)
        return 0;
    double t0 = dc_now_seconds();
    int32_t r = llama_decode(L->ctx, *b);
    if (r == 2 || atomic_load(&L->cancel)) {
        end_all(e, DC_STOP_CANCELLED);
        return 0;
    }
    int32_t nb = b->n_tokens;
    /* each trace in the step is charged an equal share of it */
    double share = (dc_now_seconds() - t0) / (double)nb;
    for (int32_t k = 0; k < nb; k++) {
        slot *sl = &e->slots[e->batch_slot[k]];
        if (sl->req)
            sl->req->gen_seconds += share;
    }
    if (r != 0) {
        /* this step's traces fail; the stream goes on (an instance's
           failures are counted, and model.max_failures stops a run) */
        dc_error_set(e->err, DC_STATUS_BACKEND, "llama_decode failed (code %d)", (int)r);
        for (int32_t k = 0; k < nb; k++)
            if (e->slots[e->batch_slot[k]].req)
                trace_end(e, e->batch_slot[k], DC_STOP_ERROR);
        return 1;
    }
    for (int32_t k = 0; k < nb && !atomic_load(&L->cancel); k++) {
        size_t s = e->batch_slot[k];
        if (!e->slots[s].req)
            continue;
        const float *lg = llama_get_logits_ith(L->ctx, k);
        if (lg)
            position(e, s, lg);
        else
            trace_end(e, s, DC_STOP_ERROR);
    }
    return 1;
}

static dc_status engine_run(llama_impl *L, const dc_gen_stream *feed, dc_error *err)
{
    engine e;
    memset(&e, 0, sizeof e);
    e.L = L;
    e.feed = feed;
    e.err = err;
    size_t width = feed->parallel;
    e.n_slots = width && width < L->n_seq ? width : L->n_seq;
    e.slots = dc_calloc(e.n_slots, sizeof *e.slots);
    e.batch_slot = dc_calloc(e.n_slots, sizeof *e.batch_slot);
    dc_status st = DC_STATUS_OK;
    if (!e.slots || !e.batch_slot || scratch_reserve(&e, 20) != DC_STATUS_OK)
        st = dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    if (st == DC_STATUS_OK) {
        atomic_store(&L->cancel, 0);
        llama_memory_clear(llama_get_memory(L->ctx), true);
        for (;;) {
            if (atomic_load(&L->cancel)) {
                end_all(&e, DC_STOP_CANCELLED);
                break;
            }
            for (size_t s = 0; s < e.n_slots; s++)
                fill_slot(&e, s);
            /* no busy slot after filling: next() has nothing, and nothing
               runs that could give it more; the stream is over */
            if (!decode_step(&e))
                break;
        }
        end_requests(&e, DC_STOP_CANCELLED); /* nothing is left: a safeguard */
        st = e.failed;
    }
    if (e.slots)
        for (size_t s = 0; s < e.n_slots; s++)
            if (e.slots[s].chain)
                llama_sampler_free(e.slots[s].chain);
    dc_free(e.slots);
    dc_free(e.act);
    dc_free(e.batch_slot);
    dc_free(e.sel_id);
    dc_free(e.sel_logit);
    dc_free(e.top_lp);
    dc_free(e.small);
    return st;
}

dc_status dc_llama_generate_stream(void *impl, const dc_gen_stream *stream, dc_error *err)
{
    return engine_run(impl, stream, err);
}

/* One prompt: a stream of one request, no more slots than its traces
 * (the others would stay empty). */
dc_status dc_llama_generate(void *impl, const dc_prompt *prompt, const dc_gen_params *p,
                            const dc_observer *obs, dc_gen_result *out, dc_error *err)
{
    llama_impl *L = impl;
    size_t width = p->parallel ? p->parallel : L->n_seq;
    if (width > p->n_traces)
        width = p->n_traces;
    return dc_backend_generate_as_stream(dc_llama_generate_stream, impl, prompt, p, obs, width, out,
                                         err);
}

#else
typedef int dc_llama_gen_unused; /* ISO C: a translation unit is not empty */
#endif /* SDC_HAVE_LLAMA */
