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
#include "deepconf/dc_model_file.h"
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

/* The GGUF's tokenizer.chat_template (NULL when it carries none), and the
 * text of its BOS and EOS tokens ("" when it has none), as a chat template
 * sees them (bos_token, eos_token). Borrowed from b; NULL and "" for a
 * backend that is not a llama one. */
const char *dc_backend_llama_chat_template(dc_backend *b);
void dc_backend_llama_special_texts(dc_backend *b, const char **bos, const char **eos);

#ifdef __cplusplus
}
#endif

#endif /* DC_BACKEND_LLAMA_H */
