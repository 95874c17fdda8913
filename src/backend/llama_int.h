/* llama_int.h - what the llama backend's files share (internal; only with
 * SDC_HAVE_LLAMA): llama.c opens the model, formats and tokenizes;
 * llama_gen.c generates the traces. */
#ifndef DC_BACKEND_LLAMA_INT_H
#define DC_BACKEND_LLAMA_INT_H

#include <llama.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "deepconf/dc_backend.h"

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

/* The vtable's format_chat, tokenize (llama.c) and generate (llama_gen.c). */
dc_status dc_llama_format_chat(void *impl, const dc_chat *chat, char **text, dc_error *err);
dc_status dc_llama_tokenize(void *impl, const char *text, int32_t **tokens, size_t *n_tokens,
                            dc_error *err);
dc_status dc_llama_generate(void *impl, const dc_prompt *prompt, const dc_gen_params *p,
                            const dc_observer *obs, dc_gen_result *out, dc_error *err);

#endif
