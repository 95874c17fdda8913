/* llama_int.h - what the llama backend's files share (internal; only with
 * SDC_HAVE_LLAMA): llama.c opens the model, formats and tokenizes;
 * llama_gen.c generates the traces (one scheduler for single prompts and
 * streams). */
#ifndef DC_BACKEND_LLAMA_INT_H
#define DC_BACKEND_LLAMA_INT_H

#include <llama.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "deepconf/dc_backend.h"

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
dc_status dc_llama_generate_stream(void *impl, const dc_gen_stream *stream, dc_error *err);

#endif
