/* train_gguf.c - the trained model as a Qwen3 GGUF: the header keys, the
 * vocabulary subsets scattered into full 151 936-row tables, the training
 * record in the metadata, Q8_0 through llama.cpp's quantiser, and the
 * per-epoch loss CSV. */
#ifdef SDC_HAVE_LLAMA

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <gguf.h>
#include <llama.h>

#include "model/gguf_demo_int.h"
#include "backend/llama_global.h"
#include "backend/llama_util.h"
#include "model/train_int.h"

/* ---- header ---- */

dc_status train_gguf_set_header(const dc_train_shape *sh, const char *vocab_path,
                                struct gguf_context *g, dc_error *err)
{
    gguf_set_val_str(g, "general.architecture", "qwen3");
    gguf_set_val_str(g, "general.type", "model");
    gguf_set_val_str(g, "general.name",
                     "safety-deepconf demo (small model trained for "
                     "demonstration, not a Qwen3 release)");
    gguf_set_val_str(g, "general.license", "apache-2.0");
    gguf_set_val_u32(g, "qwen3.block_count", sh->n_layer);
    gguf_set_val_u32(g, "qwen3.context_length", TRAIN_CTX_TRAIN);
    gguf_set_val_u32(g, "qwen3.embedding_length", sh->n_embd);
    gguf_set_val_u32(g, "qwen3.feed_forward_length", sh->n_ff);
    gguf_set_val_u32(g, "qwen3.attention.head_count", sh->n_head);
    gguf_set_val_u32(g, "qwen3.attention.head_count_kv", sh->n_head_kv);
    gguf_set_val_f32(g, "qwen3.rope.freq_base", TRAIN_ROPE_BASE);
    gguf_set_val_f32(g, "qwen3.attention.layer_norm_rms_epsilon", TRAIN_RMS_EPS);
    gguf_set_val_u32(g, "qwen3.attention.key_length", sh->head_dim);
    gguf_set_val_u32(g, "qwen3.attention.value_length", sh->head_dim);
    gguf_set_val_u32(g, "general.file_type", 0u); /* LLAMA_FTYPE_ALL_F32 */
    gguf_set_val_u32(g, "general.quantization_version", GGML_QNT_VERSION);
    return sdc_gguf_set_qwen_tokenizer(g, vocab_path, err);
}

/* The recipe and the optimizer, so that a model file says how it was made. */
static void set_record(const dc_trainer *t, struct gguf_context *g)
{
    const dc_train_params *p = &t->p;
    gguf_set_val_str(g, "safety_deepconf.train.recipe", t->recipe);
    gguf_set_val_str(g, "safety_deepconf.train.shape", t->sh->name);
    gguf_set_val_str(g, "safety_deepconf.train.corpus_sha256", t->info.corpus_sha256);
    gguf_set_val_u32(g, "safety_deepconf.train.corpus_conversations",
                     (uint32_t)t->info.conversations);
    gguf_set_val_u32(g, "safety_deepconf.train.epochs", (uint32_t)t->epoch);
    gguf_set_val_u32(g, "safety_deepconf.train.steps", (uint32_t)t->step);
    gguf_set_val_u32(g, "safety_deepconf.train.ctx", p->ctx);
    gguf_set_val_u64(g, "safety_deepconf.train.seed", p->seed);
    char opt[512];
    snprintf(opt, sizeof opt,
             "AdamW lr %g (warm-up %g of the steps, cosine to %g x), betas %g %g, eps %g, "
             "weight decay %g on matrices, gradient norm clipped at %g",
             p->lr, p->warmup_frac, p->min_lr_frac, p->beta1, p->beta2, p->adam_eps,
             p->weight_decay, p->clip);
    gguf_set_val_str(g, "safety_deepconf.train.optimizer", opt);
    gguf_set_val_u32(g, "safety_deepconf.train.in_vocab", (uint32_t)t->info.in_vocab);
    gguf_set_val_u32(g, "safety_deepconf.train.out_vocab", (uint32_t)t->info.out_vocab);
    if (t->n_log) {
        gguf_set_val_f32(g, "safety_deepconf.train.final_loss",
                         (float)t->log[t->n_log - 1].train_loss);
        gguf_set_val_f32(g, "safety_deepconf.train.final_val_loss",
                         (float)t->log[t->n_log - 1].val_loss);
    }
}

/* ---- tensors ---- */

/* Row id of a full table takes subset row map[id] (0: the rest row). */
static void scatter(const struct ggml_tensor *sub, const int32_t *map, int32_t n_vocab, float *full)
{
    const size_t d = (size_t)sub->ne[0];
    const float *src = sub->data;
    for (int32_t id = 0; id < n_vocab; id++)
        memcpy(full + (size_t)id * d, src + (size_t)map[id] * d, d * sizeof(float));
}

static dc_status write_f32(dc_trainer *t, const char *path, dc_error *err)
{
    size_t bytes = 0;
    for (size_t i = 0; i < t->n_par; i++)
        bytes += ggml_nbytes(t->par[i]);
    bytes += 2 * (size_t)t->n_vocab * t->sh->n_embd * sizeof(float);
    struct ggml_init_params ip = {bytes + ggml_tensor_overhead() * (t->n_par + 4), NULL, false};
    struct ggml_context *c = ggml_init(ip);
    struct gguf_context *g = gguf_init_empty();
    dc_status st = c && g ? train_gguf_set_header(t->sh, t->vocab, g, err)
                          : dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    for (size_t i = 0; st == DC_STATUS_OK && i < t->n_par; i++) {
        const struct ggml_tensor *p = t->par[i];
        struct ggml_tensor *x;
        if (p == t->tok_embd || p == t->output) {
            x = ggml_new_tensor_2d(c, GGML_TYPE_F32, p->ne[0], t->n_vocab);
            scatter(p, p == t->tok_embd ? t->in_map : t->out_map, t->n_vocab, x->data);
        } else {
            x = ggml_dup_tensor(c, p);
            memcpy(x->data, p->data, ggml_nbytes(p));
        }
        ggml_set_name(x, ggml_get_name(p));
        gguf_add_tensor(g, x);
    }
    if (st == DC_STATUS_OK) {
        set_record(t, g);
        if (!gguf_write_to_file(g, path, false))
            st = dc_error_set(err, DC_STATUS_IO, "%s: cannot write the model", path);
    }
    if (g)
        gguf_free(g);
    if (c)
        ggml_free(c);
    return st;
}

/* ---- the loss CSV ---- */

static dc_status write_csv(const dc_trainer *t, const char *path, dc_error *err)
{
    char csv[4200];
    size_t n = strlen(path);
    if (n > 5 && !strcmp(path + n - 5, ".gguf"))
        n -= 5;
    snprintf(csv, sizeof csv, "%.*s.loss.csv", (int)n, path);
    FILE *f = fopen(csv, "w");
    if (!f)
        return dc_error_set(err, DC_STATUS_IO, "%s: %s", csv, strerror(errno));
    fprintf(f, "epoch,steps,train_loss,val_loss,tokens,seconds\n");
    for (size_t i = 0; i < t->n_log; i++) {
        const dc_train_stats *s = &t->log[i];
        fprintf(f, "%d,%zu,%.5f,%.5f,%zu,%.1f\n", s->epoch, s->steps, s->train_loss, s->val_loss,
                s->tokens, s->seconds);
    }
    if (fclose(f) != 0)
        return dc_error_set(err, DC_STATUS_IO, "%s: %s", csv, strerror(errno));
    return DC_STATUS_OK;
}

dc_status dc_trainer_export(dc_trainer *t, const char *path, int q8, dc_error *err)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s%s", path, q8 ? ".f32.tmp" : ".tmp");
    dc_status st = write_f32(t, tmp, err);
    if (st == DC_STATUS_OK && q8) {
        struct llama_model_quantize_params qp = llama_model_quantize_default_params();
        qp.ftype = LLAMA_FTYPE_MOSTLY_Q8_0;
        qp.nthread = t->p.threads;
        dc_llama_global_logs_install();
        if (llama_model_quantize(tmp, path, &qp) != 0)
            st = dc_error_set(err, DC_STATUS_MODEL, "llama_model_quantize failed on %s", tmp);
        remove(tmp);
    } else if (st == DC_STATUS_OK && rename(tmp, path) != 0) {
        st = dc_error_set(err, DC_STATUS_IO, "%s: rename failed: %s", path, strerror(errno));
    }
    if (st != DC_STATUS_OK)
        remove(tmp);
    if (st == DC_STATUS_OK)
        st = write_csv(t, path, err);
    return st;
}

#endif /* SDC_HAVE_LLAMA */
