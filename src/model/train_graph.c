/* train_graph.c - Qwen3's forward pass as a ggml training graph: the
 * weights, the graph with its backward pass, and running it. The ops and
 * their order follow llama.cpp's qwen3 builder (llm_build_qwen3), so that
 * the exported model computes the same numbers under llama_decode. */
#ifdef SDC_HAVE_LLAMA

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <ggml-alloc.h>

#include "model/train_int.h"

/* ---- weights ---- */

static struct ggml_tensor *param(dc_trainer *t, struct ggml_tensor *x, const char *name, int decay)
{
    ggml_set_name(x, name);
    ggml_set_param(x);
    t->par[t->n_par] = x;
    t->par_decay[t->n_par] = decay;
    t->n_par++;
    return x;
}

static struct ggml_tensor *matrix(dc_trainer *t, int64_t in, int64_t out, const char *name)
{
    return param(t, ggml_new_tensor_2d(t->ctx, GGML_TYPE_F32, in, out), name, 1);
}

static struct ggml_tensor *vector(dc_trainer *t, int64_t n, const char *name)
{
    return param(t, ggml_new_tensor_1d(t->ctx, GGML_TYPE_F32, n), name, 0);
}

static void new_weights(dc_trainer *t)
{
    const dc_train_shape *s = t->sh;
    const int64_t d = s->n_embd, q = (int64_t)s->n_head * s->head_dim,
                  kv = (int64_t)s->n_head_kv * s->head_dim;
    t->tok_embd = matrix(t, d, t->n_in, "token_embd.weight");
    t->output_norm = vector(t, d, "output_norm.weight");
    t->output = matrix(t, d, t->n_out, "output.weight");
    for (uint32_t l = 0; l < s->n_layer; l++) {
        train_layer *L = &t->layers[l];
        char nm[64];
#define NAME(suffix) (snprintf(nm, sizeof nm, "blk.%u.%s", l, suffix), nm)
        L->attn_norm = vector(t, d, NAME("attn_norm.weight"));
        L->wq = matrix(t, d, q, NAME("attn_q.weight"));
        L->wk = matrix(t, d, kv, NAME("attn_k.weight"));
        L->wv = matrix(t, d, kv, NAME("attn_v.weight"));
        L->wo = matrix(t, q, d, NAME("attn_output.weight"));
        L->q_norm = vector(t, s->head_dim, NAME("attn_q_norm.weight"));
        L->k_norm = vector(t, s->head_dim, NAME("attn_k_norm.weight"));
        L->ffn_norm = vector(t, d, NAME("ffn_norm.weight"));
        L->gate = matrix(t, d, s->n_ff, NAME("ffn_gate.weight"));
        L->up = matrix(t, d, s->n_ff, NAME("ffn_up.weight"));
        L->down = matrix(t, s->n_ff, d, NAME("ffn_down.weight"));
#undef NAME
    }
}

/* xoshiro-free: splitmix64 per value is enough for an init. */
static double init_normal(uint64_t *state)
{
    double u[2];
    for (int i = 0; i < 2; i++) {
        uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        u[i] = ((double)(z >> 11) + 0.5) * (1.0 / 9007199254740992.0);
    }
    return sqrt(-2.0 * log(u[0])) * cos(6.283185307179586 * u[1]);
}

/* Norm gains 1; matrices N(0, 0.02), the two that write into the residual
 * stream scaled by 1/sqrt(2 layers) (GPT-2); the embedding's rest row 0,
 * so that tokens never seen read as nothing. */
void train_graph_init_weights(dc_trainer *t)
{
    uint64_t state = t->p.seed * 0x2545F4914F6CDD1Dull + 7;
    const double resid = 0.02 / sqrt(2.0 * t->sh->n_layer);
    for (size_t i = 0; i < t->n_par; i++) {
        struct ggml_tensor *x = t->par[i];
        float *w = x->data;
        int64_t n = ggml_nelements(x);
        const char *nm = ggml_get_name(x);
        double sd = strstr(nm, "attn_output") || strstr(nm, "ffn_down") ? resid : 0.02;
        for (int64_t j = 0; j < n; j++)
            w[j] = t->par_decay[i] ? (float)(sd * init_normal(&state)) : 1.0f;
        if (x == t->tok_embd)
            memset(w, 0, (size_t)x->ne[0] * sizeof(float));
    }
}

/* ---- the forward pass ---- */

static struct ggml_tensor *norm(struct ggml_context *c, struct ggml_tensor *x,
                                struct ggml_tensor *w)
{
    return ggml_mul(c, ggml_rms_norm(c, x, TRAIN_RMS_EPS), w);
}

static struct ggml_tensor *rope(struct ggml_context *c, struct ggml_tensor *x,
                                struct ggml_tensor *pos, int n_rot)
{
    return ggml_rope_ext(c, x, pos, NULL, n_rot, GGML_ROPE_TYPE_NEOX, (int)TRAIN_CTX_TRAIN,
                         TRAIN_ROPE_BASE, 1.0f, 0.0f, 1.0f, 32.0f, 1.0f);
}

static struct ggml_tensor *attention(dc_trainer *t, const train_layer *L, struct ggml_tensor *h)
{
    struct ggml_context *c = t->ctx;
    const dc_train_shape *s = t->sh;
    const int64_t T = t->p.ctx, hd = s->head_dim;
    struct ggml_tensor *q = ggml_reshape_3d(c, ggml_mul_mat(c, L->wq, h), hd, s->n_head, T);
    struct ggml_tensor *k = ggml_reshape_3d(c, ggml_mul_mat(c, L->wk, h), hd, s->n_head_kv, T);
    struct ggml_tensor *v = ggml_reshape_3d(c, ggml_mul_mat(c, L->wv, h), hd, s->n_head_kv, T);
    q = rope(c, norm(c, q, L->q_norm), t->in_pos, (int)hd);
    k = rope(c, norm(c, k, L->k_norm), t->in_pos, (int)hd);
    q = ggml_cont(c, ggml_permute(c, q, 0, 2, 1, 3));                      /* [hd, T, n_head] */
    k = ggml_cont(c, ggml_permute(c, k, 0, 2, 1, 3));                      /* [hd, T, n_head_kv] */
    struct ggml_tensor *vt = ggml_cont(c, ggml_permute(c, v, 1, 2, 0, 3)); /* [T, hd, kv] */
    /* grouped-query attention: mul_mat broadcasts the kv heads */
    struct ggml_tensor *kq = ggml_mul_mat(c, k, q); /* [T_k, T_q, n_head] */
    kq = ggml_soft_max_ext(c, kq, t->in_mask, 1.0f / sqrtf((float)hd), 0.0f);
    struct ggml_tensor *o = ggml_mul_mat(c, vt, kq); /* [hd, T, n_head] */
    o = ggml_cont(c, ggml_permute(c, o, 0, 2, 1, 3));
    o = ggml_reshape_2d(c, o, hd * s->n_head, T);
    return ggml_mul_mat(c, L->wo, o);
}

static struct ggml_tensor *forward(dc_trainer *t)
{
    struct ggml_context *c = t->ctx;
    struct ggml_tensor *x = ggml_get_rows(c, t->tok_embd, t->in_tok);
    for (uint32_t l = 0; l < t->sh->n_layer; l++) {
        const train_layer *L = &t->layers[l];
        x = ggml_add(c, x, attention(t, L, norm(c, x, L->attn_norm)));
        struct ggml_tensor *h = norm(c, x, L->ffn_norm);
        struct ggml_tensor *g = ggml_silu(c, ggml_mul_mat(c, L->gate, h));
        struct ggml_tensor *u = ggml_mul_mat(c, L->up, h);
        x = ggml_add(c, x, ggml_mul_mat(c, L->down, ggml_mul(c, g, u)));
    }
    /* only the positions that predict a completion token reach the output;
       padding rows are zeroed, so that they add a constant to the loss
       (pad_loss, taken out again) and nothing to the gradients: ggml's
       cross-entropy backward assumes every target row sums to 1 */
    struct ggml_tensor *hs = norm(c, ggml_get_rows(c, x, t->in_sel), t->output_norm);
    hs = ggml_mul(c, hs, t->in_rowmask);
    struct ggml_tensor *logits = ggml_add(c, ggml_mul_mat(c, t->output, hs), t->in_bias);
    return ggml_cross_entropy_loss(c, logits, t->in_tgt);
}

/* ---- building and running ---- */

static struct ggml_tensor *input(dc_trainer *t, enum ggml_type ty, int64_t a, int64_t b,
                                 const char *name)
{
    struct ggml_tensor *x =
        b ? ggml_new_tensor_2d(t->ctx, ty, a, b) : ggml_new_tensor_1d(t->ctx, ty, a);
    ggml_set_name(x, name);
    ggml_set_input(x);
    return x;
}

dc_status train_graph_build(dc_trainer *t, dc_error *err)
{
    const size_t graph_size = 16384;
    struct ggml_init_params ip = {ggml_tensor_overhead() * graph_size * 4 +
                                      2 * ggml_graph_overhead_custom(graph_size, true),
                                  NULL, true};
    t->ctx = ggml_init(ip);
    t->layers = dc_calloc(t->sh->n_layer, sizeof *t->layers);
    if (!t->ctx || !t->layers)
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    const int64_t T = t->p.ctx;
    t->in_tok = input(t, GGML_TYPE_I32, T, 0, "tokens");
    t->in_pos = input(t, GGML_TYPE_I32, T, 0, "positions");
    t->in_mask = input(t, GGML_TYPE_F32, T, T, "mask");
    t->in_sel = input(t, GGML_TYPE_I32, t->r_max, 0, "loss_positions");
    t->in_tgt = input(t, GGML_TYPE_F32, t->n_out, t->r_max, "targets");
    t->in_bias = input(t, GGML_TYPE_F32, t->n_out, 0, "rest_bias");
    t->in_rowmask = input(t, GGML_TYPE_F32, 1, t->r_max, "loss_rows");
    new_weights(t);
    t->loss = forward(t);
    ggml_set_name(t->loss, "loss");
    ggml_set_output(t->loss);
    ggml_set_loss(t->loss);
    t->gf = ggml_new_graph_custom(t->ctx, graph_size, true);
    ggml_build_forward_expand(t->gf, t->loss);
    t->gb = ggml_graph_dup(t->ctx, t->gf, true);
    ggml_build_backward_expand(t->ctx, t->gb, NULL);
    t->buf = ggml_backend_alloc_ctx_tensors_from_buft(t->ctx, ggml_backend_cpu_buffer_type());
    if (!t->buf)
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory allocating the training graph");
    float *bias = t->in_bias->data;
    memset(bias, 0, (size_t)t->n_out * sizeof(float));
    /* with the full output layer no token is left for the rest row: a
       logit of -30 gives it no mass (only padding rows point at it) */
    bias[0] = t->p.full_output ? -30.0f : logf((float)(t->n_vocab - (t->n_out - 1)));
    /* a padding row's logits are the bias; its target is the rest row */
    t->pad_loss = log(exp((double)bias[0]) + (double)(t->n_out - 1)) - (double)bias[0];
    for (size_t i = 0; i < t->n_par; i++)
        t->info.params += (size_t)ggml_nelements(t->par[i]);
    struct ggml_cplan pb = ggml_graph_plan(t->gb, t->p.threads, NULL);
    t->work_size = pb.work_size;
    t->work = dc_malloc(t->work_size + 1);
    t->batch.tok = dc_malloc((size_t)T * sizeof(int32_t));
    t->batch.pos = dc_malloc((size_t)T * sizeof(int32_t));
    t->batch.sel = dc_malloc(t->r_max * sizeof(int32_t));
    t->batch.mask = dc_malloc((size_t)T * T * sizeof(float));
    t->batch.tgt = dc_malloc((size_t)t->n_out * t->r_max * sizeof(float));
    t->batch.rowmask = dc_malloc(t->r_max * sizeof(float));
    if (!t->work || !t->batch.tok || !t->batch.pos || !t->batch.sel || !t->batch.mask ||
        !t->batch.tgt || !t->batch.rowmask)
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    return DC_STATUS_OK;
}

dc_status train_graph_run(dc_trainer *t, int backward, double *loss, dc_error *err)
{
    const size_t T = t->p.ctx;
    memcpy(t->in_tok->data, t->batch.tok, T * sizeof(int32_t));
    memcpy(t->in_pos->data, t->batch.pos, T * sizeof(int32_t));
    memcpy(t->in_sel->data, t->batch.sel, t->r_max * sizeof(int32_t));
    memcpy(t->in_mask->data, t->batch.mask, T * T * sizeof(float));
    memcpy(t->in_tgt->data, t->batch.tgt, (size_t)t->n_out * t->r_max * sizeof(float));
    memcpy(t->in_rowmask->data, t->batch.rowmask, t->r_max * sizeof(float));
    struct ggml_cgraph *g = backward ? t->gb : t->gf;
    const double n_loss = (double)(t->batch.n_loss ? t->batch.n_loss : 1);
    if (backward) {
        /* ggml's loss is a mean over all r_max rows; the gradient of the
           mean over the real ones is that times r_max / n_loss */
        ggml_graph_reset(t->gb);
        *(float *)ggml_graph_get_grad_acc(t->gb, t->loss)->data = (float)(t->r_max / n_loss);
    }
    struct ggml_cplan plan = ggml_graph_plan(g, t->p.threads, NULL);
    if (plan.work_size > t->work_size)
        return dc_error_set(err, DC_STATUS_STATE, "work buffer too small");
    plan.work_data = t->work;
    if (ggml_graph_compute(g, &plan) != GGML_STATUS_SUCCESS)
        return dc_error_set(err, DC_STATUS_BACKEND, "ggml_graph_compute failed");
    double pad = (double)(t->r_max - t->batch.n_loss) * t->pad_loss;
    *loss = ((double)*(const float *)t->loss->data * t->r_max - pad) / n_loss;
    return DC_STATUS_OK;
}

#endif /* SDC_HAVE_LLAMA */
