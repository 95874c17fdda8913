/* gguf_demo_int.h - what the demo-model writer shares with the trainer
 * (internal). */
#ifndef SDC_BACKEND_GGUF_DEMO_INT_H
#define SDC_BACKEND_GGUF_DEMO_INT_H

#include "deepconf/dc_status.h"

struct gguf_context;

/* Sets the tokenizer.* keys of g: Qwen2's BPE from vocab_path
 * (ggml-vocab-qwen2.gguf) plus Qwen3's added tokens, Qwen3's special
 * tokens and chat template. FORMAT when the file is not that vocabulary,
 * NOMEM. Only with SDC_HAVE_LLAMA. */
dc_status sdc_gguf_set_qwen_tokenizer(struct gguf_context *g, const char *vocab_path,
                                      dc_error *err);

#endif
