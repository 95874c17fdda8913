/* dc_backend.h - the one interface of every generation backend.
 *
 * A backend turns one prompt into N sampled traces. Every backend
 * (llama: llama.cpp in-process; openai: an OpenAI-compatible server;
 * replay: saved traces) implements the same small vtable, so the layers
 * above (the online controller, the experiment runner) never know which
 * one runs:
 *
 *   dc_backend_llama_open(&params, &b, &err)     (or another backend's open)
 *   dc_backend_describe(b, &info)                the model
 *   dc_backend_format_chat(b, &chat, &text, ..)  the prompt text the model sees
 *   dc_backend_generate(b, &prompt, &gp, &obs, &result, &err)
 *   dc_backend_free(b)
 *
 * The observer sees every token of every trace *before* the token is
 * kept: the sampled token's id, text and raw logprob, and the top-k raw
 * logprobs of that position (the model's distribution before
 * temperature, top-k, top-p, min-p). It answers CONTINUE, STOP (drop
 * this token and end this trace: stop reason "confidence") or CANCEL
 * (end every trace: "cancelled"). That is the protocol the DeepConf
 * online controller (dc_online.h) needs: push the position's confidence
 * into the trace's dc_online_window; DC_ONLINE_STOP becomes
 * DC_OBSERVE_STOP.
 *
 * Callbacks are made from the thread that called dc_backend_generate(),
 * one at a time, never concurrently; tokens of different traces may
 * interleave in any order (a remote server streams them as they come),
 * but the tokens of one trace arrive in order. */
#ifndef DC_BACKEND_H
#define DC_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "deepconf/dc_status.h"
#include "deepconf/dc_trace.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dc_backend dc_backend;

/* ---- stop reasons ---------------------------------------------------- */

typedef enum dc_stop_reason {
    DC_STOP_NONE = 0,       /* not finished (never in a returned trace) */
    DC_STOP_EOS = 1,        /* the model produced an end-of-generation token */
    DC_STOP_LENGTH = 2,     /* max_tokens reached, or the context is full */
    DC_STOP_CONFIDENCE = 3, /* the observer said DC_OBSERVE_STOP */
    DC_STOP_CANCELLED = 4,  /* DC_OBSERVE_CANCEL, or dc_backend_cancel() */
    DC_STOP_ERROR = 5       /* the backend failed on this trace (see error) */
} dc_stop_reason;

/* "none", "eos", "length", "confidence", "cancelled", "error". Static. */
const char *dc_stop_reason_name(dc_stop_reason r);

/* ---- seeds ----------------------------------------------------------- */

/* Seed of trace `trace_index` of instance `instance_id` in a run seeded
 * with run_seed: a 64-bit mix (FNV-1a of the id, splitmix64 finaliser) so
 * that results do not depend on batching, waves or resuming. instance_id
 * NULL is the same as "". Never returns 0xFFFFFFFF in its low 32 bits
 * (llama.cpp's "random seed" value), so the low half is a usable seed. */
uint64_t dc_trace_seed(uint64_t run_seed, const char *instance_id, uint64_t trace_index);

/* ---- the model ------------------------------------------------------- */

#define DC_MODEL_MAX_EOG 16

typedef struct dc_model_info {
    char backend[16];     /* "llama", "openai", "replay" */
    char name[128];       /* general.name, or the server's model id */
    char arch[32];        /* "qwen3"; "" when unknown */
    char quant[32];       /* "Q8_0", "Q4_K_M", "F16"...; "" when unknown */
    char desc[128];       /* llama.cpp's one-line description */
    uint64_t n_params;    /* 0 when unknown */
    uint64_t size_bytes;  /* weights in bytes; 0 when unknown */
    uint32_t n_ctx_train; /* context length the model was trained with */
    uint32_t n_ctx;       /* context per trace of this backend */
    uint32_t n_layer, n_embd, n_head, n_head_kv, head_dim;
    int32_t n_vocab;
    int has_chat_template; /* the model carries its own chat template */
    int is_qwen3_template; /* formatted by the Qwen3 rules (enable_thinking) */
    int32_t eos;           /* -1 when none */
    size_t n_eog;
    int32_t eog[DC_MODEL_MAX_EOG]; /* every end-of-generation token */
} dc_model_info;

/* ---- prompts --------------------------------------------------------- */

/* One user turn, optionally with a system prompt. */
typedef struct dc_chat {
    const char *system;  /* NULL or "": no system turn */
    const char *user;    /* required */
    int enable_thinking; /* Qwen3: 0 adds the empty <think>\n\n</think>\n\n block */
} dc_chat;

/* What to generate from: exactly one of chat, text, tokens is set. */
typedef struct dc_prompt {
    const dc_chat *chat;   /* formatted with the model's chat template */
    const char *text;      /* raw text, special tokens parsed */
    const int32_t *tokens; /* token ids as they are */
    size_t n_tokens;
} dc_prompt;

/* ---- sampling and generation ----------------------------------------- */

typedef struct dc_sampling {
    double temperature; /* 0: greedy */
    int32_t top_k;      /* 0: off */
    double top_p;       /* 1: off */
    double min_p;       /* 0: off */
} dc_sampling;

/* Qwen3's recommended settings: thinking off T 0.7, top-p 0.8, top-k 20;
 * on T 0.6, top-p 0.95, top-k 20; min-p 0 in both. */
dc_sampling dc_sampling_qwen3(int enable_thinking);

typedef struct dc_gen_params {
    size_t n_traces;         /* traces to generate (>= 1); default 1 */
    size_t parallel;         /* most traces alive at once; 0 = the backend's most */
    size_t max_tokens;       /* per trace; default 512 */
    size_t top_logprobs;     /* k of the raw top-k per position; default 20, 0 = none */
    dc_sampling sampling;    /* default dc_sampling_qwen3(0) */
    uint64_t seed;           /* run seed; default 0 */
    const char *instance_id; /* for seeds and trace ids; NULL = "" */
    uint64_t first_trace;    /* index of the first trace (seeds, ids); default 0 */
    int keep_tokens;         /* 1: result traces carry per-token data (default 1) */
    int ignore_eos;          /* 1: end-of-generation tokens are kept as ordinary
                             tokens and the trace goes on (benchmarks); default 0 */
} dc_gen_params;

dc_gen_params dc_gen_default_params(void);

/* One position of one trace, shown to the observer. Everything here is
 * borrowed, valid only during the callback. */
typedef struct dc_token_event {
    size_t trace;         /* 0..n_traces-1 within this call */
    uint64_t index;       /* first_trace + trace: the trace's index in its instance */
    size_t pos;           /* position in the trace: tokens kept before this one */
    int32_t id;           /* sampled token */
    const char *text;     /* its text (special tokens rendered), NUL-terminated */
    double logprob;       /* raw logprob of the sampled token */
    size_t n_top;         /* top_logprobs, or fewer when the vocabulary is smaller */
    const double *top_lp; /* raw logprobs, most likely first */
    const int32_t *top_id;
    int sampled_rank; /* index of the sampled token in top_id, -1 when absent */
    int is_eog;       /* the token ends the trace when kept (stop "eos") */
} dc_token_event;

typedef enum dc_observe {
    DC_OBSERVE_CONTINUE = 0,
    DC_OBSERVE_STOP = 1,  /* drop this token, end this trace ("confidence") */
    DC_OBSERVE_CANCEL = 2 /* drop this token, end every trace ("cancelled") */
} dc_observe;

typedef struct dc_gen_trace dc_gen_trace;

/* Callbacks; each may be NULL. on_trace_end runs when a trace is final
 * (its tokens complete); CANCEL from it ends all others. */
typedef struct dc_observer {
    dc_observe (*on_token)(void *user, const dc_token_event *ev);
    dc_observe (*on_trace_end)(void *user, const dc_gen_trace *trace);
    void *user;
} dc_observer;

/* A finished trace. trace.id is "<instance>#<index>"; trace.text the
 * concatenated text of the kept tokens (end-of-generation tokens left
 * out); trace.finish_reason the stop reason's name; trace.tokens the kept
 * tokens with their top-k (only with keep_tokens; an EOS token is kept
 * and is the last one). */
struct dc_gen_trace {
    dc_trace trace;
    uint64_t index; /* first_trace + position in the call */
    uint64_t seed;  /* dc_trace_seed(seed, instance_id, index) */
    dc_stop_reason stop;
    size_t n_generated; /* tokens kept (equals trace.n_tokens with keep_tokens) */
    size_t n_evaluated; /* positions shown to the observer: kept + a dropped one */
    dc_status error;    /* DC_STATUS_OK unless stop == DC_STOP_ERROR */
    char *error_msg;    /* why it failed (never a secret), owned; NULL unless
                           stop == DC_STOP_ERROR */
};

typedef struct dc_gen_result {
    dc_gen_trace *traces; /* n_traces, in index order; owned */
    size_t n_traces;
    size_t prompt_tokens;  /* tokens of the prompt (decoded once) */
    size_t gen_tokens;     /* positions evaluated over all traces */
    double prompt_seconds; /* decoding the prompt */
    double gen_seconds;    /* generating, after the prompt */
} dc_gen_result;

/* Frees what a result owns and zeroes it (safe on a zeroed result). */
void dc_gen_result_clear(dc_gen_result *r);

/* ---- the interface --------------------------------------------------- */

/* Fills *out. Never fails for an open backend. */
void dc_backend_describe(const dc_backend *b, dc_model_info *out);

/* The prompt text for a chat turn, exactly as the model's template writes
 * it (Qwen3's official template for Qwen3 models, enable_thinking
 * honoured). *text: caller frees with dc_free. UNSUPPORTED when the
 * backend formats remotely (openai with a chat endpoint). */
dc_status dc_backend_format_chat(dc_backend *b, const dc_chat *chat, char **text, dc_error *err);

/* Tokens of a text, special tokens parsed (as Hugging Face tokenizers and
 * llama-server do for a rendered chat template). *tokens: caller frees
 * with dc_free. UNSUPPORTED when the backend has no tokenizer. */
dc_status dc_backend_tokenize(dc_backend *b, const char *text, int32_t **tokens, size_t *n_tokens,
                              dc_error *err);

/* Generates params->n_traces traces for one prompt. observer may be NULL.
 * Returns OK when the call ran, even when traces ended with
 * DC_STOP_CANCELLED or DC_STOP_ERROR (their stop and error say so); a
 * failure before any trace ran (bad prompt, prompt longer than the
 * context, backend unreachable) returns its status and leaves *out
 * zeroed. *out: caller frees with dc_gen_result_clear. */
dc_status dc_backend_generate(dc_backend *b, const dc_prompt *prompt, const dc_gen_params *params,
                              const dc_observer *observer, dc_gen_result *out, dc_error *err);

/* ---- many prompts: one stream, slots kept busy ---------------------- */

/* One prompt's traces in a stream. Everything it points to (the prompt's
 * strings, the observer's user data) is borrowed until the stream hands
 * the request's result to done(). params.parallel is ignored: the
 * stream's width holds. */
typedef struct dc_gen_request {
    dc_prompt prompt;
    dc_gen_params params;
    dc_observer obs; /* this request's observer; callbacks may be NULL */
} dc_gen_request;

/* Continuous batching: the backend asks next() for requests as slots
 * free up (a request's waiting traces go first, earliest request first),
 * so the traces of several prompts are decoded together and no slot
 * waits for the slowest trace of one prompt. Requests are numbered 0, 1,
 * 2... in next() order; done() receives each request's result once all
 * its traces are final, in any order. The schedule depends only on the
 * requests (never on timing), so a stream is reproducible.
 *
 * next returns 1 (*req filled), 0 (nothing to ask for now: it is asked
 * again when a slot frees, and the stream ends when it says 0 while no
 * trace runs, so a request may be made from what done() received) or -1
 * (stop: err is set; the requests already taken are finished and handed
 * over first, then the stream returns err's status). done takes over *res (it frees
 * it with dc_gen_result_clear) and returns CONTINUE, or CANCEL to end
 * every trace: the requests still running end "cancelled", are handed
 * over, and next() is not called again. */
typedef struct dc_gen_stream {
    int (*next)(void *user, dc_gen_request *req, dc_error *err);
    dc_observe (*done)(void *user, size_t request, dc_gen_result *res);
    void *user;
    size_t parallel; /* traces decoded together; 0 = all the backend's slots */
} dc_gen_stream;

/* Runs a stream to its end. Backends without their own scheduler
 * (openai, replay) run the requests one after the other through
 * generate(). Returns OK when every request taken was handed over (their
 * traces may have ended cancelled or in error); a request that cannot
 * start (bad prompt, prompt longer than the context) stops the stream:
 * the requests before it are finished and handed over, it and later ones
 * are not, and its status is returned. */
dc_status dc_backend_generate_stream(dc_backend *b, const dc_gen_stream *stream, dc_error *err);

/* Asks a running generate() to stop every trace as soon as it can
 * (DC_STOP_CANCELLED). Safe from another thread and from a signal
 * handler. The request is cleared when the next generate() starts. */
void dc_backend_cancel(dc_backend *b);

/* Frees the backend and everything it loaded (NULL is a no-op). */
void dc_backend_free(dc_backend *b);

/* ---- for implementers of a backend ----------------------------------- */

/* A backend is its vtable plus its own state. Every function gets `impl`.
 * format_chat and tokenize may be NULL (UNSUPPORTED). generate receives
 * validated parameters (n_traces >= 1) and a zeroed *out; cancel only
 * sets a flag that generate polls. */
typedef struct dc_backend_vtable {
    const char *name;
    void (*describe)(const void *impl, dc_model_info *out);
    dc_status (*format_chat)(void *impl, const dc_chat *chat, char **text, dc_error *err);
    dc_status (*tokenize)(void *impl, const char *text, int32_t **tokens, size_t *n_tokens,
                          dc_error *err);
    dc_status (*generate)(void *impl, const dc_prompt *prompt, const dc_gen_params *params,
                          const dc_observer *observer, dc_gen_result *out, dc_error *err);
    void (*cancel)(void *impl);
    void (*free)(void *impl);
    /* May be NULL: requests then run one at a time through generate().
     * Receives validated requests (next is wrapped). */
    dc_status (*generate_stream)(void *impl, const dc_gen_stream *stream, dc_error *err);
} dc_backend_vtable;

/* A generate() for a backend whose scheduler is its generate_stream:
 * the prompt as a stream of one request, `width` traces at once (0: the
 * backend's most). On failure *out is cleared. */
dc_status dc_backend_generate_as_stream(dc_status (*stream)(void *impl, const dc_gen_stream *s,
                                                            dc_error *err),
                                        void *impl, const dc_prompt *prompt,
                                        const dc_gen_params *params, const dc_observer *observer,
                                        size_t width, dc_gen_result *out, dc_error *err);

/* Wraps impl in a handle; the handle owns impl (vt->free frees it, also
 * when this call fails with NOMEM). vt must outlive the handle. */
dc_status dc_backend_wrap(const dc_backend_vtable *vt, void *impl, dc_backend **out);

/* The implementation state of b (for the backend's own extensions). */
void *dc_backend_impl(dc_backend *b);
const char *dc_backend_name(const dc_backend *b);

#ifdef __cplusplus
}
#endif

#endif /* DC_BACKEND_H */
