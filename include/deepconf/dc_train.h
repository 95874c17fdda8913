/* dc_train.h - training small Qwen3-architecture models on ggml, for the
 * demonstration model (`safety-deepconf model train`).
 *
 * The training graph is Qwen3's forward pass written with ggml ops
 * (RMSNorm, q/k norms, NEOX RoPE, grouped-query attention, SwiGLU), with
 * causal attention over a whole window and no KV cache; ggml's autodiff
 * gives the gradients, and an AdamW of this file (decoupled weight decay,
 * global gradient-norm clipping, linear warm-up then cosine decay) steps.
 *
 * Data: a JSONL corpus, one conversation a line, {"prompt": "...",
 * "completion": "..."}: prompt is the chat text up to the assistant's
 * answer (Qwen3's template, as `data corpus` writes it) and completion the
 * answer with its closing <|im_end|>. Only completion tokens carry loss.
 * Conversations are packed into windows of ctx tokens with a block-causal
 * mask and positions that restart at each conversation, so each one is
 * computed exactly as llama_decode computes it alone.
 *
 * The vocabulary: the input embedding trains the rows of the tokens that
 * occur in the corpus, and the output layer the rows of the tokens that
 * occur in completions, plus one shared "rest" row each. At export every
 * other token gets the rest row, so the training loss (with log(count of
 * rest tokens) added to the rest logit) equals the full-vocabulary loss
 * llama.cpp computes, while the output layer costs |completion vocab|
 * rows instead of 151 936.
 *
 * A typical use:
 *
 *   dc_train_params p = dc_train_default_params();
 *   p.corpus_path = "corpus.jsonl";
 *   dc_trainer *t;
 *   if (dc_trainer_new(&p, &t, &err) == DC_STATUS_OK) {
 *       for (int e = 0; e < p.epochs; e++) dc_trainer_epoch(t, &stats, &err);
 *       dc_trainer_export(t, "out.gguf", 1, &err);
 *       dc_trainer_free(t);
 *   }
 */
#ifndef DC_TRAIN_H
#define DC_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "deepconf/dc_status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dc_train_shape {
    const char *name;
    uint32_t n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff;
} dc_train_shape;

/* The named shapes ("tiny", "small", "base"); *n gets their count. Static. */
const dc_train_shape *dc_train_shapes(size_t *n);

/* The shape called name (case-insensitive), or NULL. Static. */
const dc_train_shape *dc_train_shape_find(const char *name);

typedef struct dc_train_progress {
    int epoch, epochs;   /* 1-based epoch */
    size_t step, steps;  /* step within the whole run, 1-based; total */
    double loss;         /* mean loss of the last step (nats per completion token) */
    double val_loss;     /* last validation loss; < 0 before the first */
    double tokens_per_s; /* window tokens per second since the start */
    double eta_s;        /* estimated seconds left */
    double lr;           /* learning rate of the last step */
    double grad_norm;    /* gradient norm before clipping */
} dc_train_progress;

typedef struct dc_train_params {
    const char *corpus_path; /* JSONL as above; borrowed */
    const char *shape;       /* default "small" */
    int epochs;              /* default 3 */
    double lr;               /* peak learning rate, default 2e-3 */
    double min_lr_frac;      /* the decay ends at lr * this, default 0.1 */
    double warmup_frac;      /* warm-up share of all steps, default 0.05 */
    double weight_decay;     /* AdamW, on matrices only, default 0.1 */
    double beta1, beta2;     /* default 0.9, 0.98 */
    double adam_eps;         /* default 1e-8 */
    double clip;             /* global gradient-norm cap, default 1.0 */
    uint32_t ctx;            /* window tokens, default 256 */
    double val_frac;         /* share of conversations held out, default 0.02 */
    uint64_t seed;           /* default 1 */
    int threads;             /* default 1 */
    size_t max_steps;        /* stop after this many steps in all (0: none) */
    int full_output;         /* train all 151 936 output rows (to measure what
                                the subset buys); default 0 */
    const char *vocab_path;  /* ggml-vocab-qwen2.gguf; NULL: dc_demo_find_vocab() */
    const char *recipe;      /* a line stored in the GGUF (the command); borrowed, may be NULL */
    /* Called after each step; return 0 to stop (CANCELLED). NULL: none. */
    int (*progress)(void *user, const dc_train_progress *p);
    void *progress_user;
} dc_train_params;

dc_train_params dc_train_default_params(void);

typedef struct dc_train_stats {
    int epoch;         /* 1-based, of the epoch just run */
    size_t steps;      /* steps in this epoch */
    double train_loss; /* mean over this epoch's completion tokens */
    double val_loss;   /* over the held-out conversations; < 0 when there are none */
    size_t tokens;     /* window tokens processed (padding included) */
    double seconds;    /* wall time of the epoch */
} dc_train_stats;

typedef struct dc_train_info {
    size_t conversations, train_conversations, val_conversations, skipped_too_long;
    size_t in_vocab, out_vocab; /* trained rows (without the rest row) */
    size_t windows;             /* training windows per epoch */
    size_t params;              /* trained parameters */
    char corpus_sha256[65];
} dc_train_info;

typedef struct dc_trainer dc_trainer;

/* Reads and tokenizes the corpus, builds the model (random init from the
 * seed) and the training graph. Caller frees *out with dc_trainer_free.
 * IO/PARSE/FORMAT (the corpus, with the line), NOT_FOUND (vocabulary),
 * INVALID_ARG (shape, ctx), NOMEM, UNSUPPORTED without llama.cpp. */
dc_status dc_trainer_new(const dc_train_params *params, dc_trainer **out, dc_error *err);

/* Facts about the corpus and the model. Borrowed, valid until free. */
const dc_train_info *dc_trainer_info(const dc_trainer *t);

/* One pass over the training windows (shuffled by the seed and epoch),
 * then the validation loss. Appends a row to the per-epoch log that
 * export writes. CANCELLED when the progress callback said stop or
 * max_steps was reached (stats then cover the steps done). */
dc_status dc_trainer_epoch(dc_trainer *t, dc_train_stats *stats, dc_error *err);

/* The training graph's mean loss over the completion tokens of one
 * conversation given as text (forward only). FORMAT when it does not fit
 * in a window. */
dc_status dc_trainer_eval_text(dc_trainer *t, const char *prompt, const char *completion,
                               double *loss, size_t *n_loss_tokens, dc_error *err);

/* Writes a GGUF llama.cpp loads as qwen3: F32 weights when q8 is 0,
 * otherwise F32 through path.f32.tmp quantised to Q8_0 by
 * llama_model_quantize. Metadata: the recipe, optimizer settings, shape,
 * corpus sha256. Also writes the per-epoch losses to path minus ".gguf"
 * plus ".loss.csv". IO, NO_SPACE, NOMEM, MODEL (quantiser). */
dc_status dc_trainer_export(dc_trainer *t, const char *path, int q8, dc_error *err);

void dc_trainer_free(dc_trainer *t);

#ifdef __cplusplus
}
#endif

#endif /* DC_TRAIN_H */
