/* backend.c - the backend handle, seeds, defaults and results. */
#include "deepconf/dc_backend.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

struct dc_backend {
    const dc_backend_vtable *vt;
    void *impl;
};

/* ---- names and defaults ---- */

const char *dc_stop_reason_name(dc_stop_reason r)
{
    switch (r) {
    case DC_STOP_NONE: return "none";
    case DC_STOP_EOS: return "eos";
    case DC_STOP_LENGTH: return "length";
    case DC_STOP_CONFIDENCE: return "confidence";
    case DC_STOP_CANCELLED: return "cancelled";
    case DC_STOP_ERROR: return "error";
    }
    return "unknown";
}

dc_sampling dc_sampling_qwen3(int enable_thinking)
{
    if (enable_thinking)
        return (dc_sampling){0.6, 20, 0.95, 0.0};
    return (dc_sampling){0.7, 20, 0.8, 0.0};
}

dc_gen_params dc_gen_default_params(void)
{
    dc_gen_params p;
    memset(&p, 0, sizeof p);
    p.n_traces = 1;
    p.max_tokens = 512;
    p.top_logprobs = 20;
    p.sampling = dc_sampling_qwen3(0);
    p.keep_tokens = 1;
    return p;
}

/* ---- seeds ---- */

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

uint64_t dc_trace_seed(uint64_t run_seed, const char *instance_id, uint64_t trace_index)
{
    uint64_t h = 0xCBF29CE484222325ull; /* FNV-1a 64 */
    for (const unsigned char *p = (const unsigned char *)(instance_id ? instance_id : ""); *p;
         p++) {
        h ^= *p;
        h *= 0x100000001B3ull;
    }
    uint64_t s = splitmix64(run_seed);
    s = splitmix64(s ^ h);
    s = splitmix64(s ^ trace_index);
    /* 0xFFFFFFFF asks llama.cpp for a random seed: never hand it out. */
    if ((s & 0xFFFFFFFFull) == 0xFFFFFFFFull)
        s ^= 1;
    return s;
}

/* ---- results ---- */

void dc_gen_result_clear(dc_gen_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_traces; i++) {
        dc_trace_clear(&r->traces[i].trace);
        dc_free(r->traces[i].error_msg);
    }
    dc_free(r->traces);
    memset(r, 0, sizeof *r);
}

/* ---- the handle ---- */

dc_status dc_backend_wrap(const dc_backend_vtable *vt, void *impl, dc_backend **out)
{
    *out = NULL;
    dc_backend *b = dc_calloc(1, sizeof *b);
    if (!b) {
        if (vt && vt->free)
            vt->free(impl);
        return DC_STATUS_NOMEM;
    }
    b->vt = vt;
    b->impl = impl;
    *out = b;
    return DC_STATUS_OK;
}

void *dc_backend_impl(dc_backend *b)
{
    return b ? b->impl : NULL;
}

const char *dc_backend_name(const dc_backend *b)
{
    return b && b->vt->name ? b->vt->name : "";
}

void dc_backend_describe(const dc_backend *b, dc_model_info *out)
{
    memset(out, 0, sizeof *out);
    out->eos = -1;
    b->vt->describe(b->impl, out);
}

dc_status dc_backend_format_chat(dc_backend *b, const dc_chat *chat, char **text, dc_error *err)
{
    *text = NULL;
    if (!chat || !chat->user)
        return dc_error_set(err, DC_STATUS_INVALID_ARG, "chat: the user message is required");
    if (!b->vt->format_chat)
        return dc_error_set(err, DC_STATUS_UNSUPPORTED,
                            "the %s backend formats chats on the server", b->vt->name);
    return b->vt->format_chat(b->impl, chat, text, err);
}

dc_status dc_backend_tokenize(dc_backend *b, const char *text, int32_t **tokens, size_t *n_tokens,
                              dc_error *err)
{
    *tokens = NULL;
    *n_tokens = 0;
    if (!text)
        return dc_error_set(err, DC_STATUS_INVALID_ARG, "tokenize: no text");
    if (!b->vt->tokenize)
        return dc_error_set(err, DC_STATUS_UNSUPPORTED, "the %s backend has no tokenizer",
                            b->vt->name);
    return b->vt->tokenize(b->impl, text, tokens, n_tokens, err);
}

static dc_status check_params(const dc_prompt *prompt, const dc_gen_params *p, dc_error *err)
{
    if (!prompt)
        return dc_error_set(err, DC_STATUS_INVALID_ARG, "generate: no prompt");
    int set = (prompt->chat != NULL) + (prompt->text != NULL) + (prompt->tokens != NULL);
    if (set != 1)
        return dc_error_set(err, DC_STATUS_INVALID_ARG,
                            "generate: exactly one of chat, text, tokens must be set (%d are)",
                            set);
    if (prompt->chat && !prompt->chat->user)
        return dc_error_set(err, DC_STATUS_INVALID_ARG, "generate: the chat has no user message");
    if (prompt->tokens && prompt->n_tokens == 0)
        return dc_error_set(err, DC_STATUS_INVALID_ARG, "generate: empty token prompt");
    if (p->n_traces == 0)
        return dc_error_set(err, DC_STATUS_INVALID_ARG, "generate: n_traces must be >= 1");
    if (p->max_tokens == 0)
        return dc_error_set(err, DC_STATUS_INVALID_ARG, "generate: max_tokens must be >= 1");
    const dc_sampling *s = &p->sampling;
    if (!(s->temperature >= 0) || s->top_k < 0 || !(s->top_p > 0 && s->top_p <= 1) ||
        !(s->min_p >= 0 && s->min_p <= 1))
        return dc_error_set(err, DC_STATUS_INVALID_ARG,
                            "generate: sampling out of range (temperature >= 0, top_k >= 0, "
                            "0 < top_p <= 1, 0 <= min_p <= 1)");
    return DC_STATUS_OK;
}

dc_status dc_backend_generate(dc_backend *b, const dc_prompt *prompt, const dc_gen_params *params,
                              const dc_observer *observer, dc_gen_result *out, dc_error *err)
{
    memset(out, 0, sizeof *out);
    dc_gen_params p = params ? *params : dc_gen_default_params();
    dc_status st = check_params(prompt, &p, err);
    if (st != DC_STATUS_OK)
        return st;
    static const dc_observer none = {NULL, NULL, NULL};
    st = b->vt->generate(b->impl, prompt, &p, observer ? observer : &none, out, err);
    if (st != DC_STATUS_OK)
        dc_gen_result_clear(out);
    return st;
}

/* ---- streams ---- */

/* The caller's stream with next() wrapped: every request checked like
 * generate()'s arguments, and its prompt copied into the request so the
 * backend sees one place. */
typedef struct checked_stream {
    const dc_gen_stream *user;
    size_t n_taken;
} checked_stream;

static int checked_next(void *user, dc_gen_request *req, dc_error *err)
{
    checked_stream *cs = user;
    memset(req, 0, sizeof *req);
    req->params = dc_gen_default_params();
    int r = cs->user->next(cs->user->user, req, err);
    if (r <= 0) {
        if (r < 0 && err && err->status == DC_STATUS_OK)
            dc_error_set(err, DC_STATUS_INVALID_ARG, "stream: request %zu could not be made",
                         cs->n_taken);
        return r < 0 ? -1 : 0;
    }
    dc_status st = check_params(&req->prompt, &req->params, err);
    if (st != DC_STATUS_OK)
        return -1;
    cs->n_taken++;
    return 1;
}

/* One request after the other through generate(). */
static dc_status stream_sequential(dc_backend *b, const dc_gen_stream *s, dc_error *err)
{
    for (size_t i = 0;; i++) {
        dc_gen_request req;
        int r = s->next(s->user, &req, err);
        if (r == 0)
            return DC_STATUS_OK;
        if (r < 0)
            return err ? err->status : DC_STATUS_INVALID_ARG;
        dc_gen_params p = req.params;
        if (s->parallel)
            p.parallel = s->parallel;
        dc_gen_result res;
        dc_status st = b->vt->generate(b->impl, &req.prompt, &p, &req.obs, &res, err);
        if (st != DC_STATUS_OK)
            return st;
        if (s->done(s->user, i, &res) == DC_OBSERVE_CANCEL)
            return DC_STATUS_OK;
    }
}

static dc_observe checked_done(void *user, size_t request, dc_gen_result *res)
{
    checked_stream *cs = user;
    return cs->user->done(cs->user->user, request, res);
}

/* One request, handed over into *out. */
typedef struct one_request {
    dc_gen_request req;
    int given;
    dc_gen_result *out;
} one_request;

static int one_next(void *user, dc_gen_request *req, dc_error *err)
{
    (void)err;
    one_request *one = user;
    if (one->given)
        return 0;
    one->given = 1;
    *req = one->req;
    return 1;
}

static dc_observe one_done(void *user, size_t index, dc_gen_result *res)
{
    (void)index;
    one_request *one = user;
    *one->out = *res;
    memset(res, 0, sizeof *res);
    return DC_OBSERVE_CONTINUE;
}

dc_status dc_backend_generate_as_stream(dc_status (*stream)(void *impl, const dc_gen_stream *s,
                                                            dc_error *err),
                                        void *impl, const dc_prompt *prompt,
                                        const dc_gen_params *params, const dc_observer *observer,
                                        size_t width, dc_gen_result *out, dc_error *err)
{
    one_request one = {{*prompt, *params, *observer}, 0, out};
    dc_gen_stream s = {one_next, one_done, &one, width};
    dc_status st = stream(impl, &s, err);
    if (st != DC_STATUS_OK)
        dc_gen_result_clear(out);
    return st;
}

dc_status dc_backend_generate_stream(dc_backend *b, const dc_gen_stream *stream, dc_error *err)
{
    if (!b || !stream || !stream->next || !stream->done)
        return dc_error_set(err, DC_STATUS_INVALID_ARG, "stream: no backend, next() or done()");
    checked_stream cs = {stream, 0};
    dc_gen_stream s = {checked_next, checked_done, &cs, stream->parallel};
    if (b->vt->generate_stream)
        return b->vt->generate_stream(b->impl, &s, err);
    return stream_sequential(b, &s, err);
}

void dc_backend_cancel(dc_backend *b)
{
    if (b && b->vt->cancel)
        b->vt->cancel(b->impl);
}

void dc_backend_free(dc_backend *b)
{
    if (!b)
        return;
    if (b->vt->free)
        b->vt->free(b->impl);
    dc_free(b);
}
