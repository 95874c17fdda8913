/* gguf_demo.c - `model mkdemo`: Qwen3-architecture GGUF files with random
 * weights, the Qwen tokenizer and Qwen3's chat template.
 *
 * The file is written in one pass: the header (keys and tensor infos)
 * through ggml's gguf API, then each tensor's data as it is generated,
 * so the 0.6b shape never needs more than one chunk of rows in memory. */
#include "deepconf/dc_gguf_demo.h"

#include <errno.h>
#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backend/llama_global.h"
#include "model/gguf_demo_int.h"
#include "backend/llama_util.h"

#ifdef SDC_HAVE_LLAMA
#include <ggml.h>
#include <gguf.h>
#endif

/* ---- Qwen3's chat template ---- */

/* The chat_template of Qwen/Qwen3-0.6B's tokenizer_config.json, one
 * template line per string (ISO C caps a single literal at 4095 bytes). */
static const char *const qwen3_template_lines[] = {
    "{%- if tools %}\n",
    "    {{- '<|im_start|>system\\n' }}\n",
    "    {%- if messages[0].role == 'system' %}\n",
    "        {{- messages[0].content + '\\n\\n' }}\n",
    "    {%- endif %}\n",
    "    {{- \"# Tools\\n\\nYou may call one or more functions to assist with the user "
    "query.\\n\\nYou are provided with function signatures within <tools></tools> XML "
    "tags:\\n<tools>\" }}\n",
    "    {%- for tool in tools %}\n",
    "        {{- \"\\n\" }}\n",
    "        {{- tool | tojson }}\n",
    "    {%- endfor %}\n",
    "    {{- \"\\n</tools>\\n\\nFor each function call, return a json object with function name "
    "and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\\"name\\\": "
    "<function-name>, \\\"arguments\\\": <args-json-object>}\\n</tool_call><|im_end|>\\n\" }}\n",
    "{%- else %}\n",
    "    {%- if messages[0].role == 'system' %}\n",
    "        {{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}\n",
    "    {%- endif %}\n",
    "{%- endif %}\n",
    "{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}\n",
    "{%- for message in messages[::-1] %}\n",
    "    {%- set index = (messages|length - 1) - loop.index0 %}\n",
    "    {%- if ns.multi_step_tool and message.role == \"user\" and "
    "not(message.content.startswith('<tool_response>') and "
    "message.content.endswith('</tool_response>')) %}\n",
    "        {%- set ns.multi_step_tool = false %}\n",
    "        {%- set ns.last_query_index = index %}\n",
    "    {%- endif %}\n",
    "{%- endfor %}\n",
    "{%- for message in messages %}\n",
    "    {%- if (message.role == \"user\") or (message.role == \"system\" and not loop.first) %}\n",
    "        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' "
    "}}\n",
    "    {%- elif message.role == \"assistant\" %}\n",
    "        {%- set content = message.content %}\n",
    "        {%- set reasoning_content = '' %}\n",
    "        {%- if message.reasoning_content is defined and message.reasoning_content is not none "
    "%}\n",
    "            {%- set reasoning_content = message.reasoning_content %}\n",
    "        {%- else %}\n",
    "            {%- if '</think>' in message.content %}\n",
    "                {%- set content = message.content.split('</think>')[-1].lstrip('\\n') %}\n",
    "                {%- set reasoning_content = "
    "message.content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') %}\n",
    "            {%- endif %}\n",
    "        {%- endif %}\n",
    "        {%- if loop.index0 > ns.last_query_index %}\n",
    "            {%- if loop.last or (not loop.last and reasoning_content) %}\n",
    "                {{- '<|im_start|>' + message.role + '\\n<think>\\n' + "
    "reasoning_content.strip('\\n') + '\\n</think>\\n\\n' + content.lstrip('\\n') }}\n",
    "            {%- else %}\n",
    "                {{- '<|im_start|>' + message.role + '\\n' + content }}\n",
    "            {%- endif %}\n",
    "        {%- else %}\n",
    "            {{- '<|im_start|>' + message.role + '\\n' + content }}\n",
    "        {%- endif %}\n",
    "        {%- if message.tool_calls %}\n",
    "            {%- for tool_call in message.tool_calls %}\n",
    "                {%- if (loop.first and content) or (not loop.first) %}\n",
    "                    {{- '\\n' }}\n",
    "                {%- endif %}\n",
    "                {%- if tool_call.function %}\n",
    "                    {%- set tool_call = tool_call.function %}\n",
    "                {%- endif %}\n",
    "                {{- '<tool_call>\\n{\"name\": \"' }}\n",
    "                {{- tool_call.name }}\n",
    "                {{- '\", \"arguments\": ' }}\n",
    "                {%- if tool_call.arguments is string %}\n",
    "                    {{- tool_call.arguments }}\n",
    "                {%- else %}\n",
    "                    {{- tool_call.arguments | tojson }}\n",
    "                {%- endif %}\n",
    "                {{- '}\\n</tool_call>' }}\n",
    "            {%- endfor %}\n",
    "        {%- endif %}\n",
    "        {{- '<|im_end|>\\n' }}\n",
    "    {%- elif message.role == \"tool\" %}\n",
    "        {%- if loop.first or (messages[loop.index0 - 1].role != \"tool\") %}\n",
    "            {{- '<|im_start|>user' }}\n",
    "        {%- endif %}\n",
    "        {{- '\\n<tool_response>\\n' }}\n",
    "        {{- message.content }}\n",
    "        {{- '\\n</tool_response>' }}\n",
    "        {%- if loop.last or (messages[loop.index0 + 1].role != \"tool\") %}\n",
    "            {{- '<|im_end|>\\n' }}\n",
    "        {%- endif %}\n",
    "    {%- endif %}\n",
    "{%- endfor %}\n",
    "{%- if add_generation_prompt %}\n",
    "    {{- '<|im_start|>assistant\\n' }}\n",
    "    {%- if enable_thinking is defined and enable_thinking is false %}\n",
    "        {{- '<think>\\n\\n</think>\\n\\n' }}\n",
    "    {%- endif %}\n",
    "{%- endif %}",
};

const char *dc_qwen3_chat_template(void)
{
    static char text[8192];
    if (!text[0]) {
        size_t n = 0;
        for (size_t i = 0; i < sizeof qwen3_template_lines / sizeof *qwen3_template_lines; i++) {
            size_t len = strlen(qwen3_template_lines[i]);
            memcpy(text + n, qwen3_template_lines[i], len);
            n += len;
        }
        text[n] = '\0';
    }
    return text;
}

/* ---- parameters ---- */

dc_demo_params dc_demo_default_params(void)
{
    dc_demo_params p;
    memset(&p, 0, sizeof p);
    p.shape = DC_DEMO_TINY;
    p.quant = DC_DEMO_Q8_0;
    p.seed = 1;
    return p;
}

dc_status dc_demo_shape_parse(const char *s, dc_demo_shape *out)
{
    if (s && !strcasecmp(s, "tiny")) {
        *out = DC_DEMO_TINY;
        return DC_STATUS_OK;
    }
    if (s && !strcasecmp(s, "small")) {
        *out = DC_DEMO_SMALL;
        return DC_STATUS_OK;
    }
    if (s && (!strcasecmp(s, "0.6b") || !strcasecmp(s, "0.6B"))) {
        *out = DC_DEMO_0_6B;
        return DC_STATUS_OK;
    }
    return DC_STATUS_INVALID_ARG;
}

dc_status dc_demo_quant_parse(const char *s, dc_demo_quant *out)
{
    if (s && !strcasecmp(s, "Q8_0")) {
        *out = DC_DEMO_Q8_0;
        return DC_STATUS_OK;
    }
    if (s && !strcasecmp(s, "F16")) {
        *out = DC_DEMO_F16;
        return DC_STATUS_OK;
    }
    return DC_STATUS_INVALID_ARG;
}

static int file_readable(const char *p)
{
    FILE *f = fopen(p, "rb");
    if (!f)
        return 0;
    fclose(f);
    return 1;
}

dc_status dc_demo_find_vocab(char *buf, size_t size, dc_error *err)
{
    const char *v = getenv("SDC_VOCAB");
    if (v && *v) {
        if (!file_readable(v))
            return dc_error_set(err, DC_STATUS_NOT_FOUND, "SDC_VOCAB=%s: cannot read it", v);
        snprintf(buf, size, "%s", v);
        return DC_STATUS_OK;
    }
    const char *share = getenv("SDC_LLAMA_SHARE_DIR");
    if (share && *share) {
        snprintf(buf, size, "%s/ggml-vocab-qwen2.gguf", share);
        if (file_readable(buf))
            return DC_STATUS_OK;
    }
    const char *home = getenv("HOME");
    if (home && *home) {
        char pat[4096];
        snprintf(pat, sizeof pat,
                 "%s/.cache/safety-deepconf/llama.cpp-*/prefix/share/ggml-vocab-qwen2.gguf", home);
        glob_t g;
        if (glob(pat, 0, NULL, &g) == 0 && g.gl_pathc > 0) {
            snprintf(buf, size, "%s", g.gl_pathv[g.gl_pathc - 1]);
            globfree(&g);
            return DC_STATUS_OK;
        }
        globfree(&g);
    }
    return dc_error_set(
        err, DC_STATUS_NOT_FOUND,
        "the Qwen vocabulary ggml-vocab-qwen2.gguf was not found (tried $SDC_VOCAB, "
        "$SDC_LLAMA_SHARE_DIR, ~/.cache/safety-deepconf/llama.cpp-*/prefix/share); "
        "run scripts/setup.sh or pass --vocab FILE");
}

#ifndef SDC_HAVE_LLAMA

dc_status dc_demo_write(const char *path, const dc_demo_params *params, dc_error *err)
{
    (void)path;
    (void)params;
    return dc_error_set(err, DC_STATUS_UNSUPPORTED,
                        "built without llama.cpp (run scripts/setup.sh and reconfigure)");
}

#else

/* ---- deterministic random numbers: xoshiro256** seeded by splitmix64 ---- */

typedef struct rng {
    uint64_t s[4];
    int have_spare;
    double spare;
} rng;

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static void rng_seed(rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++) {
        seed += 0x9E3779B97F4A7C15ull;
        uint64_t z = seed;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        r->s[i] = z ^ (z >> 31);
    }
    r->have_spare = 0;
}

static uint64_t rng_next(rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in (0, 1): 53 random bits, never 0. */
static double rng_uniform(rng *r)
{
    return ((double)(rng_next(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

#define DEMO_TWO_PI 6.283185307179586476925286766559

/* Standard normal (Box-Muller; both values used). */
static double rng_normal(rng *r)
{
    if (r->have_spare) {
        r->have_spare = 0;
        return r->spare;
    }
    double u = rng_uniform(r), v = rng_uniform(r);
    double m = sqrt(-2.0 * log(u));
    r->spare = m * sin(DEMO_TWO_PI * v);
    r->have_spare = 1;
    return m * cos(DEMO_TWO_PI * v);
}

/* ---- shapes ---- */

typedef struct shape {
    const char *name;
    uint32_t n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_vocab, n_ctx;
    double w_std;          /* std of the layer matrices */
    double emb_active;     /* std of the favoured token embeddings */
    double emb_other;      /* std of the others */
    double lean, eot_lean; /* their component along the shared direction */
} shape;

#define QWEN_VOCAB 151936u
#define QWEN_EOT 151645 /* <|im_end|> */
/* Favoured tokens: frequent byte-pair merges (ordinary word pieces). */
#define ACTIVE_FIRST 256
#define ACTIVE_COUNT 1024

static const shape shapes[] = {
    /* tiny: layers with unit gain (std 1/sqrt(fan-in)) so that the residual
       stream mixes; favoured tokens with logits far above the rest (so the
       top of the distribution is a few dozen tokens, as in a real model);
       the end-of-turn token leaning 24x as far as the others along the
       shared direction, which ends about a third of 48-token traces. */
    {"safety-deepconf demo (tiny)", 64, 2, 4, 2, 16, 128, QWEN_VOCAB, 40960, 0.0, 1.2, 0.02, 1.0,
     24.0},
    /* 0.6b: Qwen3-0.6B's shapes; only speed and memory matter here. */
    {"safety-deepconf demo (Qwen3-0.6B shapes)", 1024, 28, 16, 8, 128, 3072, QWEN_VOCAB, 40960,
     0.02, 1.2, 0.02, 1.0, 24.0},
    /* small: tiny's recipe, twice as wide and deep (a second shape for sweeps) */
    {"safety-deepconf demo (small)", 128, 4, 4, 2, 32, 256, QWEN_VOCAB, 40960, 0.0, 1.2, 0.02, 1.0,
     24.0},
};

/* ---- tensors ---- */

enum tinit { INIT_ONES, INIT_SIGNS, INIT_MATRIX, INIT_EMBED };

typedef struct tdesc {
    char name[64];
    int64_t ne0, ne1; /* ne1 = 1 for vectors */
    enum tinit init;
    enum ggml_type type;
} tdesc;

static size_t build_tensor_list(const shape *sh, enum ggml_type wtype, tdesc *t)
{
    size_t n = 0;
#define ADD(nm, a, b, in, ty)                            \
    do {                                                 \
        snprintf(t[n].name, sizeof t[n].name, "%s", nm); \
        t[n].ne0 = (a);                                  \
        t[n].ne1 = (b);                                  \
        t[n].init = (in);                                \
        t[n].type = (ty);                                \
        n++;                                             \
    } while (0)
    const int64_t d = sh->n_embd, q = (int64_t)sh->n_head * sh->head_dim,
                  kv = (int64_t)sh->n_head_kv * sh->head_dim, ff = sh->n_ff;
    ADD("token_embd.weight", d, sh->n_vocab, INIT_EMBED, wtype);
    /* Random signs (the first +1): with tied embeddings a token's logit then
       no longer has its own embedding's square norm in it, so the model
       does not just repeat its input. */
    ADD("output_norm.weight", d, 1, INIT_SIGNS, GGML_TYPE_F32);
    for (uint32_t l = 0; l < sh->n_layer; l++) {
        char nm[64];
#define LAYER(suffix, a, b, in, ty)                      \
    do {                                                 \
        snprintf(nm, sizeof nm, "blk.%u.%s", l, suffix); \
        ADD(nm, a, b, in, ty);                           \
    } while (0)
        LAYER("attn_norm.weight", d, 1, INIT_ONES, GGML_TYPE_F32);
        LAYER("attn_q.weight", d, q, INIT_MATRIX, wtype);
        LAYER("attn_k.weight", d, kv, INIT_MATRIX, wtype);
        LAYER("attn_v.weight", d, kv, INIT_MATRIX, wtype);
        LAYER("attn_output.weight", q, d, INIT_MATRIX, wtype);
        LAYER("attn_q_norm.weight", sh->head_dim, 1, INIT_ONES, GGML_TYPE_F32);
        LAYER("attn_k_norm.weight", sh->head_dim, 1, INIT_ONES, GGML_TYPE_F32);
        LAYER("ffn_norm.weight", d, 1, INIT_ONES, GGML_TYPE_F32);
        LAYER("ffn_gate.weight", d, ff, INIT_MATRIX, wtype);
        LAYER("ffn_up.weight", d, ff, INIT_MATRIX, wtype);
        LAYER("ffn_down.weight", ff, d, INIT_MATRIX, wtype);
#undef LAYER
    }
#undef ADD
    return n;
}

/* Fills rows [r0, r0 + nr) of tensor t with F32 values. */
static void fill_rows(const shape *sh, const tdesc *t, int64_t r0, int64_t nr, rng *r, float *out)
{
    for (int64_t i = 0; i < nr; i++) {
        float *row = out + i * t->ne0;
        int64_t id = r0 + i;
        double sd;
        switch (t->init) {
        case INIT_ONES:
            for (int64_t j = 0; j < t->ne0; j++)
                row[j] = 1.0f;
            continue;
        case INIT_SIGNS:
            for (int64_t j = 0; j < t->ne0; j++)
                row[j] = j == 0 || (rng_next(r) >> 63) ? 1.0f : -1.0f;
            continue;
        case INIT_EMBED:
            sd = ((id >= ACTIVE_FIRST && id < ACTIVE_FIRST + ACTIVE_COUNT) || id == QWEN_EOT)
                     ? sh->emb_active
                     : sh->emb_other;
            break;
        case INIT_MATRIX:
        default: sd = sh->w_std > 0 ? sh->w_std : 1.0 / sqrt((double)t->ne0); break;
        }
        for (int64_t j = 0; j < t->ne0; j++)
            row[j] = (float)(sd * rng_normal(r));
        /* A direction all ordinary tokens share, which the end-of-turn token
           has more of: the model's hidden state leans towards it, so EOS
           comes up now and then instead of once in 150 000 tokens. */
        if (t->init == INIT_EMBED && sd == sh->emb_active)
            row[0] = (float)(id == QWEN_EOT ? sh->eot_lean : sh->lean);
    }
}

/* ---- the tokenizer: Qwen2's BPE plus Qwen3's added tokens ---- */

/* ggml-vocab-qwen2.gguf predates these; Qwen3's tokenizer_config.json has
 * them (special: true -> CONTROL 3, false -> USER_DEFINED 4, as
 * convert_hf_to_gguf.py writes them). */
static const struct {
    int32_t id;
    const char *text;
    int32_t type;
} qwen3_added[] = {
    {151646, "<|object_ref_start|>", 3},
    {151647, "<|object_ref_end|>", 3},
    {151648, "<|box_start|>", 3},
    {151649, "<|box_end|>", 3},
    {151650, "<|quad_start|>", 3},
    {151651, "<|quad_end|>", 3},
    {151652, "<|vision_start|>", 3},
    {151653, "<|vision_end|>", 3},
    {151654, "<|vision_pad|>", 3},
    {151655, "<|image_pad|>", 3},
    {151656, "<|video_pad|>", 3},
    {151657, "<tool_call>", 4},
    {151658, "</tool_call>", 4},
    {151659, "<|fim_prefix|>", 4},
    {151660, "<|fim_middle|>", 4},
    {151661, "<|fim_suffix|>", 4},
    {151662, "<|fim_pad|>", 4},
    {151663, "<|repo_name|>", 4},
    {151664, "<|file_sep|>", 4},
    {151665, "<tool_response>", 4},
    {151666, "</tool_response>", 4},
    {151667, "<think>", 4},
    {151668, "</think>", 4},
};

dc_status sdc_gguf_set_qwen_tokenizer(struct gguf_context *g, const char *vocab_path, dc_error *err)
{
    dc_llama_global_logs_install();
    struct gguf_init_params ip = {true, NULL};
    struct gguf_context *v = gguf_init_from_file(vocab_path, ip);
    if (!v)
        return dc_error_set(err, DC_STATUS_FORMAT, "%s: not a readable GGUF file", vocab_path);
    int64_t kt = gguf_find_key(v, "tokenizer.ggml.tokens");
    int64_t ky = gguf_find_key(v, "tokenizer.ggml.token_type");
    int64_t km = gguf_find_key(v, "tokenizer.ggml.merges");
    int64_t kp = gguf_find_key(v, "tokenizer.ggml.pre");
    if (kt < 0 || ky < 0 || km < 0 || kp < 0 || gguf_get_arr_n(v, kt) != QWEN_VOCAB ||
        gguf_get_arr_n(v, ky) != QWEN_VOCAB || gguf_get_arr_type(v, ky) != GGUF_TYPE_INT32) {
        gguf_free(v);
        return dc_error_set(err, DC_STATUS_FORMAT,
                            "%s: not the Qwen2 vocabulary (expected %u tokens with types, merges)",
                            vocab_path, QWEN_VOCAB);
    }
    size_t n = QWEN_VOCAB, nm = gguf_get_arr_n(v, km);
    const char **toks = dc_malloc(n * sizeof *toks);
    int32_t *types = dc_malloc(n * sizeof *types);
    const char **merges = dc_malloc(nm * sizeof *merges);
    if (!toks || !types || !merges) {
        dc_free(toks);
        dc_free(types);
        dc_free(merges);
        gguf_free(v);
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory reading the vocabulary");
    }
    for (size_t i = 0; i < n; i++)
        toks[i] = gguf_get_arr_str(v, kt, i);
    memcpy(types, gguf_get_arr_data(v, ky), n * sizeof *types);
    for (size_t i = 0; i < nm; i++)
        merges[i] = gguf_get_arr_str(v, km, i);
    for (size_t i = 0; i < sizeof qwen3_added / sizeof *qwen3_added; i++) {
        toks[qwen3_added[i].id] = qwen3_added[i].text;
        types[qwen3_added[i].id] = qwen3_added[i].type;
    }
    gguf_set_val_str(g, "tokenizer.ggml.model", "gpt2");
    gguf_set_val_str(g, "tokenizer.ggml.pre", gguf_get_val_str(v, kp));
    gguf_set_arr_str(g, "tokenizer.ggml.tokens", toks, n);
    gguf_set_arr_data(g, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types, n);
    gguf_set_arr_str(g, "tokenizer.ggml.merges", merges, nm);
    /* Qwen3's GGUF: eos <|im_end|>, padding and bos <|endoftext|>, no BOS added. */
    gguf_set_val_u32(g, "tokenizer.ggml.eos_token_id", QWEN_EOT);
    gguf_set_val_u32(g, "tokenizer.ggml.padding_token_id", 151643);
    gguf_set_val_u32(g, "tokenizer.ggml.bos_token_id", 151643);
    gguf_set_val_bool(g, "tokenizer.ggml.add_bos_token", false);
    gguf_set_val_str(g, "tokenizer.chat_template", dc_qwen3_chat_template());
    dc_free(toks);
    dc_free(types);
    dc_free(merges);
    gguf_free(v);
    return DC_STATUS_OK;
}

/* ---- writing ---- */

static dc_status write_all(FILE *f, const void *p, size_t n, const char *path, dc_error *err)
{
    if (n && fwrite(p, 1, n, f) != n)
        return dc_error_set(err, errno == ENOSPC ? DC_STATUS_NO_SPACE : DC_STATUS_IO,
                            "%s: write failed: %s", path, strerror(errno));
    return DC_STATUS_OK;
}

static dc_status write_tensors(FILE *f, const shape *sh, const tdesc *t, size_t nt, size_t align,
                               const dc_demo_params *p, const char *path, dc_error *err)
{
    rng r;
    rng_seed(&r, p->seed);
    const int64_t chunk_rows = 256;
    int64_t max_ne0 = 0;
    uint64_t total_rows = 0, done_rows = 0;
    for (size_t i = 0; i < nt; i++) {
        if (t[i].ne0 > max_ne0)
            max_ne0 = t[i].ne0;
        total_rows += (uint64_t)t[i].ne1;
    }
    float *fbuf = dc_malloc((size_t)(chunk_rows * max_ne0) * sizeof *fbuf);
    void *qbuf = dc_malloc((size_t)(chunk_rows * max_ne0) * sizeof(float));
    static const char zeros[64] = {0};
    dc_status st = DC_STATUS_OK;
    if (!fbuf || !qbuf)
        st = dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    for (size_t i = 0; i < nt && st == DC_STATUS_OK; i++) {
        size_t written = 0;
        for (int64_t r0 = 0; r0 < t[i].ne1 && st == DC_STATUS_OK; r0 += chunk_rows) {
            int64_t nr = t[i].ne1 - r0 < chunk_rows ? t[i].ne1 - r0 : chunk_rows;
            fill_rows(sh, &t[i], r0, nr, &r, fbuf);
            size_t nb;
            const void *data = qbuf;
            if (t[i].type == GGML_TYPE_F32) {
                data = fbuf;
                nb = (size_t)(nr * t[i].ne0) * sizeof(float);
            } else if (t[i].type == GGML_TYPE_F16) {
                ggml_fp32_to_fp16_row(fbuf, qbuf, nr * t[i].ne0);
                nb = (size_t)(nr * t[i].ne0) * sizeof(ggml_fp16_t);
            } else {
                nb = ggml_quantize_chunk(t[i].type, fbuf, qbuf, 0, nr, t[i].ne0, NULL);
            }
            st = write_all(f, data, nb, path, err);
            written += nb;
            done_rows += (uint64_t)nr;
            if (st == DC_STATUS_OK && p->progress &&
                !p->progress(p->progress_user, (float)done_rows / (float)total_rows))
                st = dc_error_set(err, DC_STATUS_CANCELLED, "cancelled");
        }
        size_t pad = (align - written % align) % align;
        while (st == DC_STATUS_OK && pad) {
            size_t k = pad < sizeof zeros ? pad : sizeof zeros;
            st = write_all(f, zeros, k, path, err);
            pad -= k;
        }
    }
    dc_free(fbuf);
    dc_free(qbuf);
    return st;
}

dc_status dc_demo_write(const char *path, const dc_demo_params *params, dc_error *err)
{
    dc_demo_params p = params ? *params : dc_demo_default_params();
    if (!path || !*path)
        return dc_error_set(err, DC_STATUS_INVALID_ARG, "no output path");
    if ((unsigned)p.shape > DC_DEMO_SMALL || (unsigned)p.quant > DC_DEMO_F16)
        return dc_error_set(err, DC_STATUS_INVALID_ARG, "unknown shape or quant");
    char vocab[4096];
    if (p.vocab_path)
        snprintf(vocab, sizeof vocab, "%s", p.vocab_path);
    else {
        dc_status st = dc_demo_find_vocab(vocab, sizeof vocab, err);
        if (st != DC_STATUS_OK)
            return st;
    }
    if (!file_readable(vocab))
        return dc_error_set(err, DC_STATUS_NOT_FOUND, "%s: cannot read the vocabulary: %s", vocab,
                            strerror(errno));
    const shape *sh = &shapes[p.shape];
    enum ggml_type wtype = p.quant == DC_DEMO_F16 ? GGML_TYPE_F16 : GGML_TYPE_Q8_0;

    size_t max_t = 2 + 11 * (size_t)sh->n_layer;
    tdesc *t = dc_calloc(max_t, sizeof *t);
    if (!t)
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    size_t nt = build_tensor_list(sh, wtype, t);

    struct gguf_context *g = gguf_init_empty();
    struct ggml_init_params gp = {ggml_tensor_overhead() * (nt + 1), NULL, true};
    struct ggml_context *gc = ggml_init(gp);
    dc_status st = DC_STATUS_OK;
    if (!g || !gc)
        st = dc_error_set(err, DC_STATUS_NOMEM, "out of memory");

    if (st == DC_STATUS_OK) {
        gguf_set_val_str(g, "general.architecture", "qwen3");
        gguf_set_val_str(g, "general.type", "model");
        gguf_set_val_str(g, "general.name", sh->name);
        gguf_set_val_str(g, "general.license", "apache-2.0");
        gguf_set_val_u64(g, "safety_deepconf.demo.seed", p.seed);
        gguf_set_val_u32(g, "qwen3.block_count", sh->n_layer);
        gguf_set_val_u32(g, "qwen3.context_length", sh->n_ctx);
        gguf_set_val_u32(g, "qwen3.embedding_length", sh->n_embd);
        gguf_set_val_u32(g, "qwen3.feed_forward_length", sh->n_ff);
        gguf_set_val_u32(g, "qwen3.attention.head_count", sh->n_head);
        gguf_set_val_u32(g, "qwen3.attention.head_count_kv", sh->n_head_kv);
        gguf_set_val_f32(g, "qwen3.rope.freq_base", 1000000.0f);
        gguf_set_val_f32(g, "qwen3.attention.layer_norm_rms_epsilon", 1e-6f);
        gguf_set_val_u32(g, "qwen3.attention.key_length", sh->head_dim);
        gguf_set_val_u32(g, "qwen3.attention.value_length", sh->head_dim);
        /* LLAMA_FTYPE_MOSTLY_Q8_0 = 7, MOSTLY_F16 = 1 */
        gguf_set_val_u32(g, "general.file_type", wtype == GGML_TYPE_Q8_0 ? 7u : 1u);
        gguf_set_val_u32(g, "general.quantization_version", GGML_QNT_VERSION);
        st = sdc_gguf_set_qwen_tokenizer(g, vocab, err);
        if (st == DC_STATUS_OK && p.chat_template && p.chat_template[0])
            gguf_set_val_str(g, "tokenizer.chat_template", p.chat_template);
        else if (st == DC_STATUS_OK && p.chat_template)
            gguf_remove_key(g, "tokenizer.chat_template");
    }
    for (size_t i = 0; st == DC_STATUS_OK && i < nt; i++) {
        struct ggml_tensor *x = t[i].ne1 > 1 ? ggml_new_tensor_2d(gc, t[i].type, t[i].ne0, t[i].ne1)
                                             : ggml_new_tensor_1d(gc, t[i].type, t[i].ne0);
        ggml_set_name(x, t[i].name);
        gguf_add_tensor(g, x);
    }

    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = NULL;
    if (st == DC_STATUS_OK) {
        f = fopen(tmp, "wb");
        if (!f)
            st = dc_error_set(err, DC_STATUS_IO, "%s: %s", tmp, strerror(errno));
    }
    if (st == DC_STATUS_OK && !gguf_write_to_file_ptr(g, f, true))
        st = dc_error_set(err, DC_STATUS_IO, "%s: writing the GGUF header failed", tmp);
    if (st == DC_STATUS_OK)
        st = write_tensors(f, sh, t, nt, gguf_get_alignment(g), &p, tmp, err);
    if (f && fclose(f) != 0 && st == DC_STATUS_OK)
        st = dc_error_set(err, errno == ENOSPC ? DC_STATUS_NO_SPACE : DC_STATUS_IO, "%s: %s", tmp,
                          strerror(errno));
    if (st == DC_STATUS_OK && rename(tmp, path) != 0)
        st = dc_error_set(err, DC_STATUS_IO, "%s: rename failed: %s", path, strerror(errno));
    if (st != DC_STATUS_OK && f)
        remove(tmp);
    if (gc)
        ggml_free(gc);
    if (g)
        gguf_free(g);
    dc_free(t);
    return st;
}

#endif /* SDC_HAVE_LLAMA */
