/* dc_gguf_demo.h - demo models: Qwen3-architecture GGUF files with random
 * weights, the real Qwen tokenizer and Qwen3's chat template.
 *
 * For tests (the `tiny` shape, a few MB, made during the test run; `small`,
 * twice as wide and deep, where two shapes are needed) and
 * benchmarks (the `0.6b` shape: exactly Qwen3-0.6B's tensors, so speed
 * and memory match the real model). Weights come from a PRNG of this
 * library (xoshiro256**, Box-Muller), so the same seed gives the same
 * bytes on every machine. The token embeddings favour a small set of
 * ordinary tokens and the end-of-turn token, so that sampled text looks
 * like text and traces end with EOS now and then. */
#ifndef DC_GGUF_DEMO_H
#define DC_GGUF_DEMO_H

#include <stddef.h>
#include <stdint.h>

#include "deepconf/dc_status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum dc_demo_shape {
    DC_DEMO_TINY = 0, /* hidden 64, 2 layers, 4 q / 2 kv heads of 16, FFN 128 */
    DC_DEMO_0_6B = 1, /* hidden 1024, 28 layers, 16 q / 8 kv heads of 128, FFN 3072 */
    DC_DEMO_SMALL = 2 /* hidden 128, 4 layers, 4 q / 2 kv heads of 32, FFN 256: a second
                         small shape, for model-size sweeps in tests */
} dc_demo_shape;

typedef enum dc_demo_quant { DC_DEMO_Q8_0 = 0, DC_DEMO_F16 = 1 } dc_demo_quant;

typedef struct dc_demo_params {
    dc_demo_shape shape; /* default DC_DEMO_TINY */
    dc_demo_quant quant; /* default DC_DEMO_Q8_0 (norms stay F32) */
    uint64_t seed;       /* default 1 */
    /* ggml-vocab-qwen2.gguf from the llama.cpp source (tokenizer.* keys are
       copied from it). NULL: dc_demo_find_vocab(). */
    const char *vocab_path;
    /* tokenizer.chat_template. NULL: Qwen3's official one
       (dc_qwen3_chat_template); "": none. */
    const char *chat_template;
    /* Progress in [0, 1]; return 0 to abort (CANCELLED). NULL: none. */
    int (*progress)(void *user, float fraction);
    void *progress_user;
} dc_demo_params;

dc_demo_params dc_demo_default_params(void);

/* Parses "tiny" / "small" / "0.6b" and "Q8_0" / "F16" (case-insensitive). INVALID_ARG. */
dc_status dc_demo_shape_parse(const char *s, dc_demo_shape *out);
dc_status dc_demo_quant_parse(const char *s, dc_demo_quant *out);

/* Where the Qwen vocabulary is: $SDC_VOCAB, $SDC_LLAMA_SHARE_DIR/ggml-vocab-qwen2.gguf,
 * then ~/.cache/safety-deepconf/llama.cpp-* /prefix/share/ (what
 * scripts/setup.sh builds). Writes the path into buf; NOT_FOUND with the
 * places tried in err. */
dc_status dc_demo_find_vocab(char *buf, size_t size, dc_error *err);

/* Writes the model to path (through path.tmp and an atomic rename).
 * NOT_FOUND (no vocabulary), FORMAT (the vocabulary is not Qwen's), IO,
 * NO_SPACE, NOMEM, CANCELLED, UNSUPPORTED without llama.cpp's gguf. */
dc_status dc_demo_write(const char *path, const dc_demo_params *params, dc_error *err);

/* Qwen3's official chat template (the Jinja text of Qwen/Qwen3-0.6B's
 * tokenizer_config.json). Static storage. */
const char *dc_qwen3_chat_template(void);

#ifdef __cplusplus
}
#endif

#endif /* DC_GGUF_DEMO_H */
