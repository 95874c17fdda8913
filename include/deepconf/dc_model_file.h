/* dc_model_file.h - model files without loading them: a GGUF header's
 * metadata, the published Qwen3 shapes, and memory estimates (what `model
 * info` prints). Implemented in src/model/model_info.c. */
#ifndef DC_MODEL_FILE_H
#define DC_MODEL_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "deepconf/dc_backend.h"
#include "deepconf/dc_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- GGUF metadata without loading weights ---------------------------- */

/* What `model info` prints for a file: read from its GGUF header only. */
typedef struct dc_gguf_info {
    char arch[32];
    char name[128];
    char quant[32];      /* from general.file_type, else the most common tensor type */
    uint64_t n_params;   /* sum of tensor elements */
    uint64_t size_bytes; /* tensor data bytes */
    uint64_t file_bytes;
    uint32_t n_ctx_train, n_layer, n_embd, n_head, n_head_kv, head_dim, n_ff;
    uint32_t n_vocab;
    int tied_embeddings; /* no output.weight */
    int has_chat_template;
    int32_t eos, bos; /* -1 when absent */
    size_t n_eog;
    int32_t eog[DC_MODEL_MAX_EOG]; /* EOS, EOT and the end tokens llama.cpp also treats as EOG */
    char eog_text[DC_MODEL_MAX_EOG][32];
} dc_gguf_info;

/* Reads the header of a GGUF file. NOT_FOUND, IO, FORMAT (not a GGUF or
 * missing keys), UNSUPPORTED without llama.cpp. */
dc_status dc_gguf_read_info(const char *path, dc_gguf_info *out, dc_error *err);

/* Memory estimate: weights plus a K and V cache in F16 of n_ctx tokens for
 * each of `parallel` traces (n_layer * n_ctx * parallel * 2 * n_head_kv *
 * head_dim * 2 bytes), plus llama.cpp's compute buffers (logits of
 * `parallel` rows and a fixed allowance per token of n_ubatch). */
typedef struct dc_mem_estimate {
    uint64_t weights;
    uint64_t kv;
    uint64_t compute;
    uint64_t total;
} dc_mem_estimate;

typedef struct dc_model_shape {
    const char *name; /* "Qwen3-0.6B" */
    uint32_t n_layer, n_embd, n_head, n_head_kv, head_dim, n_ff, n_vocab, n_ctx_train;
    int tied_embeddings;
} dc_model_shape;

/* The published shapes of Qwen3 0.6B, 1.7B, 4B and 8B (config.json of
 * each Hugging Face repo). Static array of *n entries. */
const dc_model_shape *dc_qwen3_shapes(size_t *n);

/* Parameters of a shape (embeddings, attention, FFN, norms; the output
 * matrix counted once when tied). */
uint64_t dc_model_shape_params(const dc_model_shape *s);

/* Bytes of the weights of shape s quantised as quant ("Q8_0", "Q4_K_M",
 * "F16", "BF16", "F32"): 2-D matrices at the quant's bits per weight
 * (Q4_K_M: Q6_K for token embeddings/output and half the attn_v/ffn_down
 * matrices as llama-quantize does, Q4_K elsewhere), norms in F32.
 * INVALID_ARG for an unknown quant. */
dc_status dc_model_shape_bytes(const dc_model_shape *s, const char *quant, uint64_t *out);

void dc_mem_estimate_compute(uint64_t weights, uint32_t n_layer, uint32_t n_head_kv,
                             uint32_t head_dim, uint32_t n_vocab, uint32_t n_embd, uint32_t n_ctx,
                             uint32_t parallel, dc_mem_estimate *out);

/* Context per trace as llama.cpp allocates it: need rounded up to its
 * granularity (256 tokens per sequence with a KV cache per sequence). */
uint32_t dc_llama_ctx_round(uint32_t need);

/* The default memory limit: half the physical memory (0 when unknown). */
uint64_t dc_memory_default_limit(void);

/* Traces to decode together: the most, up to cap (at least 1), whose
 * estimate (dc_mem_estimate_compute with the model's shape in *in and
 * n_ctx per trace) fits in limit bytes; *out gets the estimate at the
 * chosen number. */
uint32_t dc_mem_parallel_fit(const dc_gguf_info *in, uint32_t n_ctx, uint64_t limit, uint32_t cap,
                             dc_mem_estimate *out);

#ifdef __cplusplus
}
#endif

#endif /* DC_MODEL_FILE_H */
