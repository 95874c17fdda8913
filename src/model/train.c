/* train.c - the trainer: shapes, parameters, AdamW with clipping and the
 * learning-rate schedule, epochs and evaluation. */
#include "deepconf/dc_train.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "deepconf/dc_gguf_demo.h"
#include "deepconf/dc_hf.h"

/* ---- shapes ---- */

static const dc_train_shape shapes[] = {
    {"tiny", 64, 2, 4, 2, 16, 128},
    {"small", 128, 4, 4, 2, 32, 384},
    {"base", 192, 6, 6, 2, 32, 512},
};

const dc_train_shape *dc_train_shapes(size_t *n)
{
    *n = sizeof shapes / sizeof *shapes;
    return shapes;
}

const dc_train_shape *dc_train_shape_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof shapes / sizeof *shapes; i++)
        if (!strcasecmp(name, shapes[i].name))
            return &shapes[i];
    return NULL;
}

dc_train_params dc_train_default_params(void)
{
    dc_train_params p;
    memset(&p, 0, sizeof p);
    p.shape = "small";
    p.epochs = 3;
    p.lr = 2e-3;
    p.min_lr_frac = 0.1;
    p.warmup_frac = 0.05;
    p.weight_decay = 0.1;
    p.beta1 = 0.9;
    p.beta2 = 0.98;
    p.adam_eps = 1e-8;
    p.clip = 1.0;
    p.ctx = 256;
    p.val_frac = 0.02;
    p.seed = 1;
    p.threads = 1;
    return p;
}

#ifndef SDC_HAVE_LLAMA

dc_status dc_trainer_new(const dc_train_params *params, dc_trainer **out, dc_error *err)
{
    (void)params;
    *out = NULL;
    return dc_error_set(err, DC_STATUS_UNSUPPORTED,
                        "built without llama.cpp (run scripts/setup.sh and reconfigure)");
}
const dc_train_info *dc_trainer_info(const dc_trainer *t)
{
    (void)t;
    return NULL;
}
dc_status dc_trainer_epoch(dc_trainer *t, dc_train_stats *stats, dc_error *err)
{
    (void)t;
    (void)stats;
    return dc_error_set(err, DC_STATUS_UNSUPPORTED, "built without llama.cpp");
}
dc_status dc_trainer_eval_text(dc_trainer *t, const char *prompt, const char *completion,
                               double *loss, size_t *n_loss_tokens, dc_error *err)
{
    (void)t;
    (void)prompt;
    (void)completion;
    (void)loss;
    (void)n_loss_tokens;
    return dc_error_set(err, DC_STATUS_UNSUPPORTED, "built without llama.cpp");
}
dc_status dc_trainer_export(dc_trainer *t, const char *path, int q8, dc_error *err)
{
    (void)t;
    (void)path;
    (void)q8;
    return dc_error_set(err, DC_STATUS_UNSUPPORTED, "built without llama.cpp");
}
void dc_trainer_free(dc_trainer *t)
{
    (void)t;
}

#else

#include "model/train_int.h"
#include "util/clock.h"

/* ---- setting up ---- */

static dc_status check_params(const dc_train_params *p, dc_error *err)
{
    if (!p->corpus_path || !*p->corpus_path)
        return dc_error_set(err, DC_STATUS_INVALID_ARG, "no corpus");
    if (!dc_train_shape_find(p->shape))
        return dc_error_set(err, DC_STATUS_INVALID_ARG, "unknown shape \"%s\" (tiny, small, base)",
                            p->shape ? p->shape : "");
    if (p->ctx < 16 || p->ctx > 4096)
        return dc_error_set(err, DC_STATUS_INVALID_ARG, "ctx %u: expected 16..4096", p->ctx);
    if (p->epochs < 1 || !(p->lr > 0) || p->threads < 1 || !(p->clip > 0) || p->val_frac < 0 ||
        p->val_frac >= 1)
        return dc_error_set(err, DC_STATUS_INVALID_ARG,
                            "epochs, lr, threads and clip must be positive, val_frac in [0, 1)");
    return DC_STATUS_OK;
}

static dc_status optimizer_new(dc_trainer *t, dc_error *err)
{
    t->m = dc_calloc(t->n_par, sizeof *t->m);
    t->v = dc_calloc(t->n_par, sizeof *t->v);
    if (!t->m || !t->v)
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    for (size_t i = 0; i < t->n_par; i++) {
        size_t n = (size_t)ggml_nelements(t->par[i]);
        t->m[i] = dc_calloc(n, sizeof(float));
        t->v[i] = dc_calloc(n, sizeof(float));
        if (!t->m[i] || !t->v[i])
            return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    }
    return DC_STATUS_OK;
}

dc_status dc_trainer_new(const dc_train_params *params, dc_trainer **out, dc_error *err)
{
    *out = NULL;
    dc_status st = check_params(params, err);
    if (st != DC_STATUS_OK)
        return st;
    dc_trainer *t = dc_calloc(1, sizeof *t);
    if (!t)
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    t->p = *params;
    t->sh = dc_train_shape_find(params->shape);
    t->last_val = -1;
    t->recipe = dc_strdup(params->recipe ? params->recipe : "");
    if (!t->recipe)
        st = dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    else if (params->vocab_path)
        snprintf(t->vocab, sizeof t->vocab, "%s", params->vocab_path);
    else
        st = dc_demo_find_vocab(t->vocab, sizeof t->vocab, err);
    t->p.recipe = t->recipe;
    t->p.vocab_path = t->vocab;
    if (st == DC_STATUS_OK)
        st = dc_sha256_file(params->corpus_path, t->info.corpus_sha256, err);
    ggml_cpu_init();
    t->r_max = t->p.ctx * 3 / 4;
    if (st == DC_STATUS_OK)
        st = train_data_load(t, err);
    if (st == DC_STATUS_OK)
        st = train_graph_build(t, err);
    if (st == DC_STATUS_OK)
        st = optimizer_new(t, err);
    if (st != DC_STATUS_OK) {
        dc_trainer_free(t);
        return st;
    }
    train_graph_init_weights(t);
    t->info.windows = train_count_windows(t, t->train_idx, t->n_train);
    t->total_steps = t->info.windows * (size_t)t->p.epochs;
    if (t->p.max_steps && t->p.max_steps < t->total_steps)
        t->total_steps = t->p.max_steps;
    *out = t;
    return DC_STATUS_OK;
}

const dc_train_info *dc_trainer_info(const dc_trainer *t)
{
    return &t->info;
}

void dc_trainer_free(dc_trainer *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n_par; i++) {
        if (t->m)
            dc_free(t->m[i]);
        if (t->v)
            dc_free(t->v[i]);
    }
    dc_free(t->m);
    dc_free(t->v);
    if (t->buf)
        ggml_backend_buffer_free(t->buf);
    if (t->ctx)
        ggml_free(t->ctx);
    dc_free(t->layers);
    dc_free(t->work);
    dc_free(t->batch.tok);
    dc_free(t->batch.pos);
    dc_free(t->batch.sel);
    dc_free(t->batch.mask);
    dc_free(t->batch.tgt);
    dc_free(t->batch.rowmask);
    train_data_free(t);
    dc_free(t->log);
    dc_free(t->recipe);
    dc_free(t);
}

/* ---- the optimizer ---- */

/* Linear warm-up to lr, then cosine decay to lr * min_lr_frac. */
static double schedule(const dc_trainer *t, size_t step)
{
    const dc_train_params *p = &t->p;
    size_t warm = (size_t)(p->warmup_frac * (double)t->total_steps);
    if (warm > 0 && step < warm)
        return p->lr * (double)(step + 1) / (double)warm;
    double span = (double)(t->total_steps > warm ? t->total_steps - warm : 1);
    double x = fmin(1.0, (double)(step - warm) / span);
    double lo = p->lr * p->min_lr_frac;
    return lo + (p->lr - lo) * 0.5 * (1.0 + cos(3.141592653589793 * x));
}

/* AdamW (decoupled decay, on matrices only) after scaling the gradients
 * so that their global norm is at most clip. Returns the norm before. */
static double adamw_step(dc_trainer *t, double lr)
{
    const dc_train_params *p = &t->p;
    double sq = 0;
    for (size_t i = 0; i < t->n_par; i++) {
        const float *g = ggml_graph_get_grad(t->gb, t->par[i])->data;
        size_t n = (size_t)ggml_nelements(t->par[i]);
        for (size_t j = 0; j < n; j++)
            sq += (double)g[j] * g[j];
    }
    double norm = sqrt(sq), scale = norm > p->clip ? p->clip / norm : 1.0;
    double k = (double)(t->step + 1);
    double c1 = 1.0 - pow(p->beta1, k), c2 = 1.0 - pow(p->beta2, k);
    const float b1 = (float)p->beta1, b2 = (float)p->beta2;
    for (size_t i = 0; i < t->n_par; i++) {
        const float *g = ggml_graph_get_grad(t->gb, t->par[i])->data;
        float *w = t->par[i]->data, *m = t->m[i], *v = t->v[i];
        size_t n = (size_t)ggml_nelements(t->par[i]);
        const float decay = t->par_decay[i] ? (float)(1.0 - lr * p->weight_decay) : 1.0f;
        const float a = (float)(lr / c1), ic2 = (float)(1.0 / c2), eps = (float)p->adam_eps;
        for (size_t j = 0; j < n; j++) {
            float gj = g[j] * (float)scale;
            m[j] = b1 * m[j] + (1.0f - b1) * gj;
            v[j] = b2 * v[j] + (1.0f - b2) * gj * gj;
            w[j] = w[j] * decay - a * m[j] / (sqrtf(v[j] * ic2) + eps);
        }
    }
    return norm;
}

/* ---- epochs ---- */

static void shuffle(size_t *v, size_t n, uint64_t seed)
{
    uint64_t s = seed;
    for (size_t i = n; i > 1; i--) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        size_t j = (size_t)((s >> 33) % i);
        size_t x = v[i - 1];
        v[i - 1] = v[j];
        v[j] = x;
    }
}

static dc_status validation(dc_trainer *t, double *out, dc_error *err)
{
    double sum = 0;
    size_t n = 0;
    for (size_t pos = 0; pos < t->n_val;) {
        size_t k = train_batch_fill(t, t->val_idx, t->n_val, pos, &t->batch);
        double l;
        dc_status st = train_graph_run(t, 0, &l, err);
        if (st != DC_STATUS_OK)
            return st;
        sum += l * (double)t->batch.n_loss;
        n += t->batch.n_loss;
        pos += k;
    }
    *out = n ? sum / (double)n : -1.0;
    return DC_STATUS_OK;
}

static int report(dc_trainer *t, double loss, double lr, double gn)
{
    if (!t->p.progress)
        return 1;
    dc_train_progress pr;
    double el = dc_now_seconds() - t->t_start;
    pr.epoch = t->epoch;
    pr.epochs = t->p.epochs;
    pr.step = t->step;
    pr.steps = t->total_steps;
    pr.loss = loss;
    pr.val_loss = t->last_val;
    pr.tokens_per_s = el > 0 ? (double)t->tokens_done / el : 0;
    pr.eta_s = t->step && t->total_steps > t->step
                   ? el / (double)t->step * (double)(t->total_steps - t->step)
                   : 0;
    pr.lr = lr;
    pr.grad_norm = gn;
    return t->p.progress(t->p.progress_user, &pr);
}

static dc_status log_epoch(dc_trainer *t, const dc_train_stats *s, dc_error *err)
{
    dc_train_stats *nl = dc_realloc(t->log, (t->n_log + 1) * sizeof *nl);
    if (!nl)
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    t->log = nl;
    t->log[t->n_log++] = *s;
    return DC_STATUS_OK;
}

dc_status dc_trainer_epoch(dc_trainer *t, dc_train_stats *stats, dc_error *err)
{
    memset(stats, 0, sizeof *stats);
    if (t->step == 0)
        t->t_start = dc_now_seconds();
    stats->epoch = ++t->epoch;
    double t0 = dc_now_seconds(), sum = 0;
    size_t n_loss = 0;
    dc_status st = DC_STATUS_OK;
    shuffle(t->train_idx, t->n_train, t->p.seed * 1000003u + (uint64_t)t->epoch);
    for (size_t pos = 0; pos < t->n_train && st == DC_STATUS_OK;) {
        /* total_steps is an estimate (packing depends on the order); only
           max_steps stops */
        if (t->p.max_steps && t->step >= t->p.max_steps) {
            st = dc_error_set(err, DC_STATUS_CANCELLED, "stopped after %zu steps", t->step);
            break;
        }
        pos += train_batch_fill(t, t->train_idx, t->n_train, pos, &t->batch);
        double loss, lr = schedule(t, t->step);
        st = train_graph_run(t, 1, &loss, err);
        if (st != DC_STATUS_OK)
            break;
        double gn = adamw_step(t, lr);
        t->step++;
        stats->steps++;
        t->tokens_done += t->p.ctx;
        stats->tokens += t->p.ctx;
        sum += loss * (double)t->batch.n_loss;
        n_loss += t->batch.n_loss;
        if (!report(t, loss, lr, gn))
            st = dc_error_set(err, DC_STATUS_CANCELLED, "cancelled");
    }
    stats->train_loss = n_loss ? sum / (double)n_loss : -1;
    dc_status sv = validation(t, &stats->val_loss, err);
    if (sv != DC_STATUS_OK)
        return sv;
    t->last_val = stats->val_loss;
    stats->seconds = dc_now_seconds() - t0;
    sv = log_epoch(t, stats, err);
    return st != DC_STATUS_OK ? st : sv;
}

#endif /* SDC_HAVE_LLAMA */
