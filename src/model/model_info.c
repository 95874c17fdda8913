/* model_info.c - what `model info` prints: a GGUF header read without the
 * weights, Qwen3's published shapes, and memory estimates. */
#include "deepconf/dc_backend_llama.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <strings.h>
#include <sys/stat.h>

#include "backend/llama_global.h"
#include "backend/llama_util.h"

#ifdef SDC_HAVE_LLAMA
#include <ggml.h>
#include <gguf.h>
#endif

/* ---- published shapes ---- */

/* config.json of Qwen/Qwen3-0.6B, -1.7B, -4B, -8B. */
static const dc_model_shape qwen3_shapes[] = {
    {"Qwen3-0.6B", 28, 1024, 16, 8, 128, 3072, 151936, 40960, 1},
    {"Qwen3-1.7B", 28, 2048, 16, 8, 128, 6144, 151936, 40960, 1},
    {"Qwen3-4B", 36, 2560, 32, 8, 128, 9728, 151936, 40960, 1},
    {"Qwen3-8B", 36, 4096, 32, 8, 128, 12288, 151936, 40960, 0},
};

const dc_model_shape *dc_qwen3_shapes(size_t *n)
{
    *n = sizeof qwen3_shapes / sizeof *qwen3_shapes;
    return qwen3_shapes;
}

typedef struct shape_parts {
    uint64_t embd, output, norms, attn_q, attn_k, attn_v, attn_o, ffn_gate, ffn_up, ffn_down;
} shape_parts;

static shape_parts parts_of(const dc_model_shape *s)
{
    shape_parts p;
    uint64_t d = s->n_embd, q = (uint64_t)s->n_head * s->head_dim,
             kv = (uint64_t)s->n_head_kv * s->head_dim, L = s->n_layer;
    p.embd = (uint64_t)s->n_vocab * d;
    p.output = s->tied_embeddings ? 0 : (uint64_t)s->n_vocab * d;
    p.norms = d + L * (2 * d + 2 * (uint64_t)s->head_dim);
    p.attn_q = L * d * q;
    p.attn_k = L * d * kv;
    p.attn_v = L * d * kv;
    p.attn_o = L * q * d;
    p.ffn_gate = L * d * s->n_ff;
    p.ffn_up = L * d * s->n_ff;
    p.ffn_down = L * d * s->n_ff;
    return p;
}

uint64_t dc_model_shape_params(const dc_model_shape *s)
{
    shape_parts p = parts_of(s);
    return p.embd + p.output + p.norms + p.attn_q + p.attn_k + p.attn_v + p.attn_o + p.ffn_gate +
           p.ffn_up + p.ffn_down;
}

/* Bytes of n weights in a block format: (bytes per block) / (weights per block). */
static uint64_t qbytes(uint64_t n, unsigned per_block, unsigned block_bytes)
{
    return (n + per_block - 1) / per_block * block_bytes;
}

/* llama-quantize's use_more_bits(): the layers Q4_K_M gives Q6_K. */
static int use_more_bits(uint32_t i, uint32_t n)
{
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

dc_status dc_model_shape_bytes(const dc_model_shape *s, const char *quant, uint64_t *out)
{
    shape_parts p = parts_of(s);
    uint64_t mats = p.attn_q + p.attn_k + p.attn_v + p.attn_o + p.ffn_gate + p.ffn_up + p.ffn_down;
    uint64_t norms = p.norms * 4;
    if (!strcasecmp(quant, "F32")) {
        *out = (p.embd + p.output + mats) * 4 + norms;
    } else if (!strcasecmp(quant, "F16") || !strcasecmp(quant, "BF16")) {
        *out = (p.embd + p.output + mats) * 2 + norms;
    } else if (!strcasecmp(quant, "Q8_0")) {
        *out = qbytes(p.embd + p.output + mats, 32, 34) + norms;
    } else if (!strcasecmp(quant, "Q4_K_M")) {
        /* Q4_K: 144 bytes per 256; Q6_K: 210 per 256. The output matrix (the
           token embeddings when tied) is Q6_K; untied embeddings stay Q4_K. */
        uint64_t q6 = s->tied_embeddings ? p.embd : p.output;
        uint64_t q4 = s->tied_embeddings ? 0 : p.embd;
        uint64_t per_v = p.attn_v / s->n_layer, per_down = p.ffn_down / s->n_layer;
        for (uint32_t i = 0; i < s->n_layer; i++) {
            int more = use_more_bits(i, s->n_layer);
            q6 += more ? per_v + per_down : 0;
            q4 += more ? 0 : per_v + per_down;
        }
        q4 += p.attn_q + p.attn_k + p.attn_o + p.ffn_gate + p.ffn_up;
        *out = qbytes(q6, 256, 210) + qbytes(q4, 256, 144) + norms;
    } else {
        return DC_STATUS_INVALID_ARG;
    }
    return DC_STATUS_OK;
}

void dc_mem_estimate_compute(uint64_t weights, uint32_t n_layer, uint32_t n_head_kv,
                             uint32_t head_dim, uint32_t n_vocab, uint32_t n_embd, uint32_t n_ctx,
                             uint32_t parallel, dc_mem_estimate *out)
{
    out->weights = weights;
    out->kv = (uint64_t)n_layer * n_ctx * parallel * 2u * n_head_kv * head_dim * 2u;
    /* The backend keeps logits for `parallel` rows (llama.cpp's output
       buffer, our copy of the prompt's row and the sampler's candidates);
       activations of a 512-token ubatch are a few dozen rows of n_embd. */
    uint64_t rows = parallel + 2;
    out->compute = rows * n_vocab * 4u * 2u + 512ull * n_embd * 4u * 32u;
    out->total = out->weights + out->kv + out->compute;
}

uint32_t dc_llama_ctx_round(uint32_t need)
{
    return need ? (need + 255u) / 256u * 256u : 256u;
}

uint64_t dc_memory_default_limit(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size / 2u : 0;
}

uint32_t dc_mem_parallel_fit(const dc_gguf_info *in, uint32_t n_ctx, uint64_t limit, uint32_t cap,
                             dc_mem_estimate *out)
{
    uint32_t p = cap ? cap : 1;
    for (;; p--) {
        dc_mem_estimate_compute(in->size_bytes, in->n_layer, in->n_head_kv, in->head_dim,
                                in->n_vocab, in->n_embd, n_ctx, p, out);
        if (p == 1 || out->total <= limit)
            return p;
    }
}

/* ---- GGUF headers ---- */

#ifndef SDC_HAVE_LLAMA

dc_status dc_gguf_read_info(const char *path, dc_gguf_info *out, dc_error *err)
{
    (void)path;
    memset(out, 0, sizeof *out);
    return dc_error_set(err, DC_STATUS_UNSUPPORTED, "built without llama.cpp (gguf reader)");
}

#else

static uint32_t get_u32(struct gguf_context *g, const char *arch, const char *suffix, uint32_t def)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    int64_t k = gguf_find_key(g, key);
    if (k < 0)
        return def;
    switch (gguf_get_kv_type(g, k)) {
    case GGUF_TYPE_UINT32: return gguf_get_val_u32(g, k);
    case GGUF_TYPE_INT32: return (uint32_t)gguf_get_val_i32(g, k);
    case GGUF_TYPE_UINT64: return (uint32_t)gguf_get_val_u64(g, k);
    case GGUF_TYPE_ARRAY: /* per-layer values: take the first */
        if (gguf_get_arr_n(g, k) > 0 && gguf_get_arr_type(g, k) == GGUF_TYPE_UINT32)
            return ((const uint32_t *)gguf_get_arr_data(g, k))[0];
        return def;
    default: return def;
    }
}

static int32_t get_token_id(struct gguf_context *g, const char *key)
{
    int64_t k = gguf_find_key(g, key);
    if (k < 0)
        return -1;
    if (gguf_get_kv_type(g, k) == GGUF_TYPE_UINT32)
        return (int32_t)gguf_get_val_u32(g, k);
    if (gguf_get_kv_type(g, k) == GGUF_TYPE_INT32)
        return gguf_get_val_i32(g, k);
    return -1;
}

static void add_eog(dc_gguf_info *o, int32_t id, const char *text)
{
    if (id < 0 || o->n_eog >= DC_MODEL_MAX_EOG)
        return;
    for (size_t i = 0; i < o->n_eog; i++)
        if (o->eog[i] == id)
            return;
    o->eog[o->n_eog] = id;
    snprintf(o->eog_text[o->n_eog], sizeof o->eog_text[0], "%s", text ? text : "");
    o->n_eog++;
}

dc_status dc_gguf_read_info(const char *path, dc_gguf_info *out, dc_error *err)
{
    memset(out, 0, sizeof *out);
    out->eos = out->bos = -1;
    struct stat sb;
    if (stat(path, &sb) != 0)
        return dc_error_set(err, errno == ENOENT ? DC_STATUS_NOT_FOUND : DC_STATUS_IO, "%s: %s",
                            path, strerror(errno));
    out->file_bytes = (uint64_t)sb.st_size;
    dc_llama_global_logs_install();
    struct gguf_init_params ip = {true, NULL};
    struct gguf_context *g = gguf_init_from_file(path, ip);
    if (!g)
        return dc_error_set(err, DC_STATUS_FORMAT, "%s: not a GGUF file (or a damaged one)", path);
    int64_t k = gguf_find_key(g, "general.architecture");
    if (k < 0 || gguf_get_kv_type(g, k) != GGUF_TYPE_STRING) {
        gguf_free(g);
        return dc_error_set(err, DC_STATUS_FORMAT, "%s: no general.architecture", path);
    }
    snprintf(out->arch, sizeof out->arch, "%s", gguf_get_val_str(g, k));
    k = gguf_find_key(g, "general.name");
    if (k >= 0 && gguf_get_kv_type(g, k) == GGUF_TYPE_STRING)
        snprintf(out->name, sizeof out->name, "%s", gguf_get_val_str(g, k));
    const char *a = out->arch;
    out->n_ctx_train = get_u32(g, a, "context_length", 0);
    out->n_layer = get_u32(g, a, "block_count", 0);
    out->n_embd = get_u32(g, a, "embedding_length", 0);
    out->n_ff = get_u32(g, a, "feed_forward_length", 0);
    out->n_head = get_u32(g, a, "attention.head_count", 0);
    out->n_head_kv = get_u32(g, a, "attention.head_count_kv", out->n_head);
    out->head_dim =
        get_u32(g, a, "attention.key_length", out->n_head ? out->n_embd / out->n_head : 0);

    /* Tensors: parameters, bytes, and the type most weights have. */
    uint64_t by_type[GGML_TYPE_COUNT];
    memset(by_type, 0, sizeof by_type);
    out->tied_embeddings = 1;
    for (int64_t t = 0; t < gguf_get_n_tensors(g); t++) {
        const int64_t *ne = gguf_get_tensor_ne(g, t);
        uint64_t n = 1;
        for (int d = 0; d < GGML_MAX_DIMS; d++)
            n *= (uint64_t)ne[d];
        out->n_params += n;
        out->size_bytes += gguf_get_tensor_size(g, t);
        enum ggml_type ty = gguf_get_tensor_type(g, t);
        if ((int)ty >= 0 && ty < GGML_TYPE_COUNT)
            by_type[ty] += n;
        if (!strcmp(gguf_get_tensor_name(g, t), "output.weight"))
            out->tied_embeddings = 0;
    }
    k = gguf_find_key(g, "general.file_type");
    if (k >= 0 && gguf_get_kv_type(g, k) == GGUF_TYPE_UINT32)
        snprintf(out->quant, sizeof out->quant, "%s", dc_ftype_name((int)gguf_get_val_u32(g, k)));
    if (!out->quant[0] || !strcmp(out->quant, "unknown")) {
        int best = 0;
        for (int t = 1; t < GGML_TYPE_COUNT; t++)
            if (by_type[t] > by_type[best])
                best = t;
        snprintf(out->quant, sizeof out->quant, "%s", ggml_type_name((enum ggml_type)best));
    }

    out->has_chat_template = gguf_find_key(g, "tokenizer.chat_template") >= 0;
    out->eos = get_token_id(g, "tokenizer.ggml.eos_token_id");
    out->bos = get_token_id(g, "tokenizer.ggml.bos_token_id");
    k = gguf_find_key(g, "tokenizer.ggml.tokens");
    if (k >= 0 && gguf_get_kv_type(g, k) == GGUF_TYPE_ARRAY &&
        gguf_get_arr_type(g, k) == GGUF_TYPE_STRING) {
        size_t n = gguf_get_arr_n(g, k);
        out->n_vocab = (uint32_t)n;
        if (out->eos >= 0 && (size_t)out->eos < n)
            add_eog(out, out->eos, gguf_get_arr_str(g, k, (size_t)out->eos));
        int32_t eot = get_token_id(g, "tokenizer.ggml.eot_token_id");
        if (eot >= 0 && (size_t)eot < n)
            add_eog(out, eot, gguf_get_arr_str(g, k, (size_t)eot));
        /* The end-of-turn texts llama.cpp also treats as end of generation. */
        static const char *const eog_texts[] = {
            "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",  "<|endoftext|>",
            "<|return|>", "<|call|>",   "<EOT>",   "<|end_of_text|>"};
        for (size_t i = 0; i < n; i++) {
            const char *s = gguf_get_arr_str(g, k, i);
            if (s[0] != '<')
                continue;
            for (size_t j = 0; j < sizeof eog_texts / sizeof *eog_texts; j++)
                if (!strcmp(s, eog_texts[j]))
                    add_eog(out, (int32_t)i, s);
        }
    }
    gguf_free(g);
    return DC_STATUS_OK;
}

#endif /* SDC_HAVE_LLAMA */
