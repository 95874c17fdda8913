/* dc_backend_llama.h - the in-process llama.cpp backend.
 *
 * Loads a GGUF file and generates traces with llama.cpp: the prompt is
 * decoded once into sequence 0 and copied to the other sequences
 * (llama_memory_seq_cp); all live traces then advance together, one
 * batched llama_decode per step, up to `parallel` at a time; more
 * traces run in waves that reuse the decoded prompt. Each trace samples
 * with its own llama.cpp sampler chain (top-k, top-p, min-p,
 * temperature, dist) seeded with dc_trace_seed(). The top-k logprobs are
 * taken from the raw logits (a log-softmax before any sampler).
 *
 * Built without llama.cpp (SDC_HAVE_LLAMA undefined) every function
 * returns DC_STATUS_UNSUPPORTED with a message saying so. */
#ifndef DC_BACKEND_LLAMA_H
#define DC_BACKEND_LLAMA_H

#include <stddef.h>
#include <stdint.h>

#include "deepconf/dc_backend.h"
#include "deepconf/dc_status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dc_llama_params {
    const char *model_path;  /* GGUF file; required */
    uint32_t n_ctx;          /* context per trace (prompt + generated); 0 = 4096,
                                capped at the model's training context */
    uint32_t parallel;       /* traces decoded together (sequences); default 8, max 256 */
    uint32_t n_batch;        /* logical batch (prompt chunk); default 2048 */
    uint32_t n_ubatch;       /* physical batch; default 512 */
    int32_t n_threads;       /* generation threads; 0 = the CPU cores */
    int32_t n_threads_batch; /* prompt threads; 0 = n_threads */
    int32_t n_gpu_layers;    /* layers on a GPU (CUDA/Vulkan builds); -1 = all; default 0 */
    int flash_attn;          /* -1 auto (default), 0 off, 1 on */
    int use_mmap;            /* default 1 */
    /* llama.cpp's extra CPU buffer types (weight repacking, AMX): -1 auto
       (default: on, except on CPUs with AMX int8 and for models with a
       hidden size under 256: llama.cpp's AMX Q8_0 kernels crash there, in
       llama-server and llama-batched-bench as well), 0 off, 1 on. */
    int repack;
    /* Load progress in [0, 1]; return 0 to abort loading (CANCELLED). NULL: none. */
    int (*progress)(void *user, float fraction);
    void *progress_user;
    /* llama.cpp's own log lines (level: 2 warn, 3 error, 4 info, 5 debug as
       ggml_log_level). NULL: silent; the library never prints. */
    void (*log)(void *user, int level, const char *text);
    void *log_user;
} dc_llama_params;

dc_llama_params dc_llama_default_params(void);

/* Opens the model. *out: free with dc_backend_free. NOT_FOUND when the
 * file is missing, MODEL when llama.cpp cannot load it, CANCELLED when
 * progress aborted, UNSUPPORTED without llama.cpp. */
dc_status dc_backend_llama_open(const dc_llama_params *params, dc_backend **out, dc_error *err);

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

#endif /* DC_BACKEND_LLAMA_H */
