/* train_int.h - the parts of the trainer (internal): the data (train_data.c),
 * the graph (train_graph.c), the optimizer and epochs (train.c), the GGUF
 * export (train_gguf.c). */
#ifndef SDC_MODEL_TRAIN_INT_H
#define SDC_MODEL_TRAIN_INT_H

#include <stddef.h>
#include <stdint.h>

#include "deepconf/dc_train.h"

#include <ggml-backend.h>
#include <ggml-cpu.h>
#include <ggml.h>

#define TRAIN_QWEN_VOCAB 151936
#define TRAIN_CTX_TRAIN 40960u /* qwen3.context_length written to the GGUF */
#define TRAIN_ROPE_BASE 1000000.0f
#define TRAIN_RMS_EPS 1e-6f
#define TRAIN_MAX_PARAMS (4 + 11 * 64)

typedef struct train_conv {
    int32_t *tok; /* token ids, owned */
    uint32_t n, n_prompt;
} train_conv;

typedef struct train_layer {
    struct ggml_tensor *attn_norm, *wq, *wk, *wv, *wo, *q_norm, *k_norm;
    struct ggml_tensor *ffn_norm, *gate, *up, *down;
} train_layer;

/* One window's inputs, filled on the host then copied into the graph. */
typedef struct train_batch {
    int32_t *tok, *pos, *sel;
    float *mask, *tgt, *rowmask;
    size_t n_loss;   /* completion tokens with loss */
    size_t n_tokens; /* real (non-padding) tokens */
} train_batch;

struct dc_trainer {
    dc_train_params p;
    const dc_train_shape *sh;
    char *recipe;
    char vocab[4096]; /* ggml-vocab-qwen2.gguf */
    dc_train_info info;

    /* vocabulary subsets: map[token] = row (0 = the rest row) */
    int32_t n_vocab;
    int32_t *in_map, *out_map;
    int32_t n_in, n_out; /* rows including the rest row */

    train_conv *conv;
    size_t n_conv;
    size_t *train_idx, n_train, *val_idx, n_val;
    uint32_t r_max; /* loss positions per window */

    /* graph */
    struct ggml_context *ctx;
    ggml_backend_buffer_t buf;
    struct ggml_cgraph *gf, *gb;
    struct ggml_tensor *tok_embd, *output, *output_norm;
    train_layer *layers;
    struct ggml_tensor *in_tok, *in_pos, *in_mask, *in_sel, *in_tgt, *in_bias, *in_rowmask, *loss;
    double pad_loss; /* cross entropy of a padding row (the bias alone vs the rest row) */
    struct ggml_tensor *par[TRAIN_MAX_PARAMS];
    int par_decay[TRAIN_MAX_PARAMS];
    size_t n_par;
    uint8_t *work;
    size_t work_size;

    /* optimizer */
    float **m, **v;
    size_t step, total_steps;
    double t_start;
    size_t tokens_done;
    int epoch;
    double last_val;

    train_batch batch;
    dc_train_stats *log;
    size_t n_log;
};

/* train_data.c */
dc_status train_data_load(dc_trainer *t, dc_error *err);
void train_data_free(dc_trainer *t);
/* Windows of conversation indices: the next window starting at *pos of
 * order[0..n); fills b. Returns how many conversations it took (0: none left). */
size_t train_batch_fill(const dc_trainer *t, const size_t *order, size_t n, size_t pos,
                        train_batch *b);
/* Windows in a pass over order[0..n). */
size_t train_count_windows(const dc_trainer *t, const size_t *order, size_t n);
dc_status train_tokenize(const char *vocab_gguf, const char *const *texts, size_t n_texts,
                         int32_t **toks, uint32_t *lens, dc_error *err);

/* train_graph.c */
dc_status train_graph_build(dc_trainer *t, dc_error *err);
void train_graph_init_weights(dc_trainer *t);
/* Copies t->batch into the graph and computes the forward (backward = 0)
 * or forward and backward graph; the loss is the mean over completion
 * tokens. */
dc_status train_graph_run(dc_trainer *t, int backward, double *loss, dc_error *err);

/* train_gguf.c */
struct gguf_context;
/* Architecture keys and the tokenizer (from the Qwen vocabulary). */
dc_status train_gguf_set_header(const dc_train_shape *sh, const char *vocab_path,
                                struct gguf_context *g, dc_error *err);

#endif
