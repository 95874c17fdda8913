/* train_data.c - the corpus: JSONL conversations, tokenized with the Qwen
 * tokenizer, the vocabulary subsets, the split and the packed windows. */
#ifdef SDC_HAVE_LLAMA

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gguf.h>
#include <jansson.h>
#include <llama.h>

#include "backend/llama_global.h"
#include "backend/llama_util.h"
#include "model/train_int.h"

/* ---- tokenizing ---- */

/* llama.cpp tokenizes with a model; a GGUF with the architecture keys and
 * the tokenizer but no tensors, loaded vocab_only, is that model. */
dc_status train_tokenize(const char *vocab_gguf, const char *const *texts, size_t n_texts,
                         int32_t **toks, uint32_t *lens, dc_error *err)
{
    dc_llama_global_logs_install();
    struct llama_model_params mp = llama_model_default_params();
    mp.vocab_only = true;
    struct llama_model *m = llama_model_load_from_file(vocab_gguf, mp);
    if (!m)
        return dc_error_set(err, DC_STATUS_MODEL, "%s: llama.cpp cannot load the vocabulary",
                            vocab_gguf);
    const struct llama_vocab *v = llama_model_get_vocab(m);
    dc_status st = DC_STATUS_OK;
    for (size_t i = 0; i < n_texts && st == DC_STATUS_OK; i++) {
        int32_t len = (int32_t)strlen(texts[i]);
        int32_t cap = len + 8;
        toks[i] = dc_malloc((size_t)cap * sizeof(int32_t));
        if (!toks[i]) {
            st = dc_error_set(err, DC_STATUS_NOMEM, "out of memory tokenizing");
            break;
        }
        int32_t n = llama_tokenize(v, texts[i], len, toks[i], cap, false, true);
        if (n < 0)
            st = dc_error_set(err, DC_STATUS_BACKEND, "tokenizing text %zu failed", i + 1);
        else
            lens[i] = (uint32_t)n;
    }
    llama_model_free(m);
    return st;
}

/* ---- reading the corpus ---- */

typedef struct text_list {
    char **v;
    size_t n, cap;
} text_list;

static int text_push(text_list *l, const char *s)
{
    if (l->n == l->cap) {
        size_t c = l->cap ? l->cap * 2 : 1024;
        char **nv = dc_realloc(l->v, c * sizeof *nv);
        if (!nv)
            return 0;
        l->v = nv;
        l->cap = c;
    }
    return (l->v[l->n] = dc_strdup(s)) ? (l->n++, 1) : 0;
}

static void text_free(text_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        dc_free(l->v[i]);
    dc_free(l->v);
}

/* Reads prompt/completion pairs into two parallel lists. */
static dc_status read_jsonl(const char *path, text_list *pr, text_list *co, dc_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return dc_error_set(err, DC_STATUS_IO, "%s: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t len;
    dc_status st = DC_STATUS_OK;
    while (st == DC_STATUS_OK && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (len <= 1)
            continue;
        json_error_t je;
        json_t *o = json_loadb(line, (size_t)len, 0, &je);
        const char *p = o ? json_string_value(json_object_get(o, "prompt")) : NULL;
        const char *c = o ? json_string_value(json_object_get(o, "completion")) : NULL;
        if (!o)
            st = dc_error_set(err, DC_STATUS_PARSE, "%s:%zu: %s", path, lineno, je.text);
        else if (!p || !c || !*c)
            st = dc_error_set(err, DC_STATUS_FORMAT,
                              "%s:%zu: expected string fields \"prompt\" and \"completion\"", path,
                              lineno);
        else if (!text_push(pr, p) || !text_push(co, c))
            st = dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
        json_decref(o);
    }
    free(line);
    fclose(f);
    if (st == DC_STATUS_OK && pr->n == 0)
        st = dc_error_set(err, DC_STATUS_FORMAT, "%s: no conversations", path);
    return st;
}

/* Writes the header-only GGUF the tokenizer loads; path into buf. */
static dc_status write_vocab_gguf(const dc_trainer *t, char *buf, size_t size, dc_error *err)
{
    const char *tmpdir = getenv("TMPDIR");
    snprintf(buf, size, "%s/sdc-vocab-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    int fd = mkstemp(buf);
    if (fd < 0)
        return dc_error_set(err, DC_STATUS_IO, "%s: %s", buf, strerror(errno));
    close(fd);
    struct gguf_context *g = gguf_init_empty();
    dc_status st = g ? train_gguf_set_header(t->sh, t->p.vocab_path, g, err)
                     : dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    if (st == DC_STATUS_OK && !gguf_write_to_file(g, buf, false))
        st = dc_error_set(err, DC_STATUS_IO, "%s: cannot write", buf);
    if (g)
        gguf_free(g);
    if (st != DC_STATUS_OK)
        remove(buf);
    return st;
}

/* ---- vocabulary subsets ---- */

static dc_status build_maps(dc_trainer *t, dc_error *err)
{
    t->n_vocab = TRAIN_QWEN_VOCAB;
    t->in_map = dc_calloc((size_t)t->n_vocab, sizeof(int32_t));
    t->out_map = dc_calloc((size_t)t->n_vocab, sizeof(int32_t));
    if (!t->in_map || !t->out_map)
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    for (size_t i = 0; i < t->n_conv; i++) {
        const train_conv *c = &t->conv[i];
        for (uint32_t j = 0; j < c->n; j++) {
            if (c->tok[j] < 0 || c->tok[j] >= t->n_vocab)
                return dc_error_set(err, DC_STATUS_FORMAT, "token id %d out of range", c->tok[j]);
            t->in_map[c->tok[j]] = 1;
            if (j >= c->n_prompt)
                t->out_map[c->tok[j]] = 1;
        }
    }
    /* rows in token order, after the rest row 0 */
    t->n_in = t->n_out = 1;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        t->in_map[id] = t->in_map[id] ? t->n_in++ : 0;
        t->out_map[id] = t->out_map[id] || t->p.full_output ? t->n_out++ : 0;
    }
    t->info.in_vocab = (size_t)t->n_in - 1;
    t->info.out_vocab = (size_t)t->n_out - 1;
    return DC_STATUS_OK;
}

/* ---- split ---- */

static uint64_t mix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static dc_status split(dc_trainer *t, dc_error *err)
{
    t->train_idx = dc_malloc((t->n_conv + 1) * sizeof(size_t));
    t->val_idx = dc_malloc((t->n_conv + 1) * sizeof(size_t));
    if (!t->train_idx || !t->val_idx)
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    uint64_t cut = (uint64_t)(t->p.val_frac * 1e6);
    for (size_t i = 0; i < t->n_conv; i++) {
        if (t->conv[i].n > t->p.ctx) {
            t->info.skipped_too_long++;
            continue;
        }
        if (mix64(t->p.seed ^ mix64(i)) % 1000000 < cut)
            t->val_idx[t->n_val++] = i;
        else
            t->train_idx[t->n_train++] = i;
    }
    t->info.train_conversations = t->n_train;
    t->info.val_conversations = t->n_val;
    if (t->n_train == 0)
        return dc_error_set(err, DC_STATUS_FORMAT, "no conversation fits in a window of %u tokens",
                            t->p.ctx);
    return DC_STATUS_OK;
}

dc_status train_data_load(dc_trainer *t, dc_error *err)
{
    text_list pr = {0}, co = {0};
    dc_status st = read_jsonl(t->p.corpus_path, &pr, &co, err);
    char vpath[4096] = "";
    if (st == DC_STATUS_OK)
        st = write_vocab_gguf(t, vpath, sizeof vpath, err);
    size_t n = pr.n;
    const char **texts = NULL;
    int32_t **toks = NULL;
    uint32_t *lens = NULL;
    if (st == DC_STATUS_OK) {
        texts = dc_malloc(2 * n * sizeof *texts);
        toks = dc_calloc(2 * n, sizeof *toks);
        lens = dc_calloc(2 * n, sizeof *lens);
        t->conv = dc_calloc(n, sizeof *t->conv);
        if (!texts || !toks || !lens || !t->conv)
            st = dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    }
    if (st == DC_STATUS_OK) {
        for (size_t i = 0; i < n; i++) {
            texts[2 * i] = pr.v[i];
            texts[2 * i + 1] = co.v[i];
        }
        st = train_tokenize(vpath, texts, 2 * n, toks, lens, err);
    }
    if (vpath[0])
        remove(vpath);
    for (size_t i = 0; st == DC_STATUS_OK && i < n; i++) {
        train_conv *c = &t->conv[i];
        c->n_prompt = lens[2 * i];
        c->n = lens[2 * i] + lens[2 * i + 1];
        c->tok = dc_malloc(((size_t)c->n + 1) * sizeof(int32_t));
        if (!c->tok) {
            st = dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
            break;
        }
        memcpy(c->tok, toks[2 * i], lens[2 * i] * sizeof(int32_t));
        memcpy(c->tok + c->n_prompt, toks[2 * i + 1], lens[2 * i + 1] * sizeof(int32_t));
        t->n_conv = i + 1;
    }
    for (size_t i = 0; toks && i < 2 * n; i++)
        dc_free(toks[i]);
    dc_free(toks);
    dc_free(lens);
    dc_free(texts);
    text_free(&pr);
    text_free(&co);
    t->info.conversations = t->n_conv;
    if (st == DC_STATUS_OK)
        st = build_maps(t, err);
    if (st == DC_STATUS_OK)
        st = split(t, err);
    return st;
}

void train_data_free(dc_trainer *t)
{
    for (size_t i = 0; t->conv && i < t->n_conv; i++)
        dc_free(t->conv[i].tok);
    dc_free(t->conv);
    dc_free(t->in_map);
    dc_free(t->out_map);
    dc_free(t->train_idx);
    dc_free(t->val_idx);
}

/* ---- windows ---- */

/* Whether conversation c still fits after used tokens and used loss rows. */
static int fits(const dc_trainer *t, const train_conv *c, size_t used, size_t used_loss)
{
    return used + c->n <= t->p.ctx && used_loss + (c->n - c->n_prompt) <= t->r_max;
}

size_t train_count_windows(const dc_trainer *t, const size_t *order, size_t n)
{
    size_t w = 0, pos = 0;
    while (pos < n) {
        size_t used = 0, used_loss = 0;
        while (pos < n && fits(t, &t->conv[order[pos]], used, used_loss)) {
            used += t->conv[order[pos]].n;
            used_loss += t->conv[order[pos]].n - t->conv[order[pos]].n_prompt;
            pos++;
        }
        w++;
    }
    return w;
}

/* Marks window rows [a, b) as one causal block in the T x T mask. */
static void mask_block(float *mask, uint32_t T, uint32_t a, uint32_t b)
{
    for (uint32_t q = a; q < b; q++)
        for (uint32_t k = a; k <= q; k++)
            mask[(size_t)q * T + k] = 0.0f;
}

size_t train_batch_fill(const dc_trainer *t, const size_t *order, size_t n, size_t pos,
                        train_batch *b)
{
    const uint32_t T = t->p.ctx, V = (uint32_t)t->n_out;
    for (size_t i = 0; i < (size_t)T * T; i++)
        b->mask[i] = -INFINITY;
    memset(b->tgt, 0, (size_t)V * t->r_max * sizeof(float));
    memset(b->sel, 0, t->r_max * sizeof(int32_t));
    memset(b->rowmask, 0, t->r_max * sizeof(float));
    size_t used = 0, n_loss = 0, taken = 0;
    while (pos + taken < n && fits(t, &t->conv[order[pos + taken]], used, n_loss)) {
        const train_conv *c = &t->conv[order[pos + taken]];
        for (uint32_t j = 0; j < c->n; j++) {
            b->tok[used + j] = t->in_map[c->tok[j]];
            b->pos[used + j] = (int32_t)j;
            if (j >= c->n_prompt && j > 0) {
                b->sel[n_loss] = (int32_t)(used + j - 1);
                b->tgt[n_loss * V + (size_t)t->out_map[c->tok[j]]] = 1.0f;
                b->rowmask[n_loss] = 1.0f;
                n_loss++;
            }
        }
        mask_block(b->mask, T, (uint32_t)used, (uint32_t)(used + c->n));
        used += c->n;
        taken++;
    }
    b->n_tokens = used;
    for (size_t j = used; j < T; j++) {
        b->tok[j] = 0;
        b->pos[j] = (int32_t)(j - used);
    }
    mask_block(b->mask, T, (uint32_t)used, T);
    /* padding rows: a valid target (the rest row) for ggml's cross entropy */
    for (size_t r = n_loss; r < t->r_max; r++)
        b->tgt[r * V] = 1.0f;
    b->n_loss = n_loss;
    return taken;
}

/* ---- one conversation through the training graph ---- */

dc_status dc_trainer_eval_text(dc_trainer *t, const char *prompt, const char *completion,
                               double *loss, size_t *n_loss_tokens, dc_error *err)
{
    char vpath[4096] = "";
    const char *texts[2] = {prompt, completion};
    int32_t *toks[2] = {NULL, NULL};
    uint32_t lens[2] = {0, 0};
    dc_status st = write_vocab_gguf(t, vpath, sizeof vpath, err);
    if (st == DC_STATUS_OK)
        st = train_tokenize(vpath, texts, 2, toks, lens, err);
    if (vpath[0])
        remove(vpath);
    train_conv c = {NULL, lens[0] + lens[1], lens[0]};
    if (st == DC_STATUS_OK && (c.n > t->p.ctx || c.n - c.n_prompt > t->r_max))
        st = dc_error_set(err, DC_STATUS_FORMAT, "%u tokens do not fit in a window of %u", c.n,
                          t->p.ctx);
    if (st == DC_STATUS_OK && !(c.tok = dc_malloc(((size_t)c.n + 1) * sizeof(int32_t))))
        st = dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    if (st == DC_STATUS_OK) {
        memcpy(c.tok, toks[0], lens[0] * sizeof(int32_t));
        memcpy(c.tok + c.n_prompt, toks[1], lens[1] * sizeof(int32_t));
        /* a one-conversation list: borrow the table's first slot */
        train_conv *saved = t->conv;
        size_t order = 0;
        t->conv = &c;
        train_batch_fill(t, &order, 1, 0, &t->batch);
        t->conv = saved;
        *n_loss_tokens = t->batch.n_loss;
        st = train_graph_run(t, 0, loss, err);
    }
    dc_free(c.tok);
    dc_free(toks[0]);
    dc_free(toks[1]);
    return st;
}

#endif /* SDC_HAVE_LLAMA */
