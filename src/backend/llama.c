/* llama.c - the in-process llama.cpp backend: opening the model, chat
 * formatting, tokenizing; generation is llama_gen.c (behind llama_int.h). */
#include "deepconf/dc_backend_llama.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/llama_global.h"
#include "backend/llama_util.h"
#include "util/clock.h"

dc_llama_params dc_llama_default_params(void)
{
    dc_llama_params p;
    memset(&p, 0, sizeof p);
    p.parallel = 8;
    p.n_batch = 2048;
    p.n_ubatch = 512;
    p.flash_attn = -1;
    p.use_mmap = 1;
    p.repack = -1;
    return p;
}

#ifndef SDC_HAVE_LLAMA

dc_status dc_backend_llama_open(const dc_llama_params *params, dc_backend **out, dc_error *err)
{
    (void)params;
    *out = NULL;
    return dc_error_set(err, DC_STATUS_UNSUPPORTED,
                        "built without llama.cpp: run scripts/setup.sh and reconfigure with "
                        "-DSDC_LLAMA_PREFIX=...");
}

const char *dc_backend_llama_chat_template(dc_backend *b)
{
    (void)b;
    return NULL;
}

void dc_backend_llama_special_texts(dc_backend *b, const char **bos, const char **eos)
{
    (void)b;
    *bos = *eos = "";
}

#else

#include <llama.h>

#include "backend/llama_int.h"

static bool progress_trampoline(float p, void *user)
{
    const dc_llama_params *lp = user;
    return lp->progress(lp->progress_user, p) != 0;
}

static bool abort_trampoline(void *user)
{
    llama_impl *L = user;
    return atomic_load(&L->cancel) != 0;
}

/* llama.cpp's AMX int8 matrix kernels (used for Q8_0 when weights are
 * repacked) crash with SIGSEGV on the AMX machines this was tested on,
 * also in llama-batched-bench and llama-server; repacking stays off there. */
static int cpu_has_amx_int8(void)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return 0;
    char line[8192];
    int found = 0;
    while (!found && fgets(line, sizeof line, f))
        found = !strncmp(line, "flags", 5) && strstr(line, " amx_int8");
    fclose(f);
    return found;
}

/* ---- describe, format, tokenize ---- */

static void impl_describe(const void *impl, dc_model_info *out)
{
    const llama_impl *L = impl;
    *out = L->info;
}

static int is_qwen3_template(const char *tmpl, const char *arch)
{
    if (tmpl)
        return strstr(tmpl, "<|im_start|>") && strstr(tmpl, "enable_thinking");
    return !strncmp(arch, "qwen3", 5);
}

dc_status dc_llama_format_chat(void *impl, const dc_chat *chat, char **text, dc_error *err)
{
    llama_impl *L = impl;
    int has_system = chat->system && chat->system[0];
    if (L->info.is_qwen3_template) {
        *text = dc_qwen3_format(chat->system, chat->user, chat->enable_thinking);
        return *text ? DC_STATUS_OK : dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    }
    struct llama_chat_message msgs[2];
    size_t n = 0;
    if (has_system)
        msgs[n++] = (struct llama_chat_message){"system", chat->system};
    msgs[n++] = (struct llama_chat_message){"user", chat->user};
    /* A model without a template gets ChatML, as llama-server does. */
    const char *tmpl = L->tmpl ? L->tmpl : "chatml";
    size_t cap = 256 + strlen(chat->user) * 2 + (has_system ? strlen(chat->system) * 2 : 0);
    for (int attempt = 0; attempt < 2; attempt++) {
        char *buf = dc_malloc(cap + 1);
        if (!buf)
            return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
        int32_t r = llama_chat_apply_template(tmpl, msgs, n, true, buf, (int32_t)cap);
        if (r < 0) {
            dc_free(buf);
            return dc_error_set(err, DC_STATUS_UNSUPPORTED,
                                "llama.cpp does not know this model's chat template");
        }
        if ((size_t)r <= cap) {
            buf[r] = '\0';
            *text = buf;
            return DC_STATUS_OK;
        }
        dc_free(buf);
        cap = (size_t)r;
    }
    return dc_error_set(err, DC_STATUS_BACKEND, "chat template length changed between calls");
}

dc_status dc_llama_tokenize(void *impl, const char *text, int32_t **tokens, size_t *n_tokens,
                            dc_error *err)
{
    llama_impl *L = impl;
    size_t len = strlen(text);
    if (len > INT32_MAX / 2)
        return dc_error_set(err, DC_STATUS_LIMIT, "text too long to tokenize (%zu bytes)", len);
    int32_t cap = (int32_t)len + 8;
    for (int attempt = 0; attempt < 2; attempt++) {
        llama_token *t = dc_malloc((size_t)cap * sizeof *t);
        if (!t)
            return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
        /* add_special: BOS when the model asks for it (Qwen does not). */
        int32_t n = llama_tokenize(L->vocab, text, (int32_t)len, t, cap, true, true);
        if (n >= 0) {
            *tokens = t;
            *n_tokens = (size_t)n;
            return DC_STATUS_OK;
        }
        dc_free(t);
        if (n == INT32_MIN)
            return dc_error_set(err, DC_STATUS_LIMIT, "tokenization overflow");
        cap = -n;
    }
    return dc_error_set(err, DC_STATUS_BACKEND, "tokenizer size changed between calls");
}

static void impl_cancel(void *impl)
{
    llama_impl *L = impl;
    atomic_store(&L->cancel, 1);
}

static void impl_free(void *impl)
{
    llama_impl *L = impl;
    if (!L)
        return;
    if (L->batch.token)
        llama_batch_free(L->batch);
    if (L->ctx)
        llama_free(L->ctx);
    if (L->model)
        llama_model_free(L->model);
    dc_free(L->tmpl);
    dc_free(L->cand);
    dc_free(L);
}

static const dc_backend_vtable llama_vtable = {
    "llama",     impl_describe, dc_llama_format_chat,     dc_llama_tokenize, dc_llama_generate,
    impl_cancel, impl_free,     dc_llama_generate_stream,
};

/* ---- open ---- */

static void fill_info(llama_impl *L, const char *path)
{
    dc_model_info *in = &L->info;
    memset(in, 0, sizeof *in);
    snprintf(in->backend, sizeof in->backend, "llama");
    if (llama_model_meta_val_str(L->model, "general.name", in->name, sizeof in->name) < 0)
        snprintf(in->name, sizeof in->name, "%s", path);
    if (llama_model_meta_val_str(L->model, "general.architecture", in->arch, sizeof in->arch) < 0)
        in->arch[0] = '\0';
    char ft[32];
    if (llama_model_meta_val_str(L->model, "general.file_type", ft, sizeof ft) >= 0)
        snprintf(in->quant, sizeof in->quant, "%s", dc_ftype_name(atoi(ft)));
    llama_model_desc(L->model, in->desc, sizeof in->desc);
    in->n_params = llama_model_n_params(L->model);
    in->size_bytes = llama_model_size(L->model);
    in->n_ctx_train = (uint32_t)llama_model_n_ctx_train(L->model);
    in->n_ctx = L->n_ctx_seq;
    in->n_layer = (uint32_t)llama_model_n_layer(L->model);
    in->n_embd = (uint32_t)llama_model_n_embd(L->model);
    in->n_head = (uint32_t)llama_model_n_head(L->model);
    in->n_head_kv = (uint32_t)llama_model_n_head_kv(L->model);
    char hd[32];
    char key[96];
    snprintf(key, sizeof key, "%s.attention.key_length", in->arch);
    in->head_dim = llama_model_meta_val_str(L->model, key, hd, sizeof hd) >= 0
                       ? (uint32_t)atoi(hd)
                       : (in->n_head ? in->n_embd / in->n_head : 0);
    in->n_vocab = L->n_vocab;
    in->has_chat_template = L->tmpl != NULL;
    in->is_qwen3_template = is_qwen3_template(L->tmpl, in->arch);
    in->eos = llama_vocab_eos(L->vocab);
    for (int32_t t = 0; t < L->n_vocab && in->n_eog < DC_MODEL_MAX_EOG; t++)
        if (llama_vocab_is_eog(L->vocab, t))
            in->eog[in->n_eog++] = t;
}

/* The parameters with their defaults filled in and checked. */
static dc_status open_params(const dc_llama_params *params, dc_llama_params *p, dc_error *err)
{
    *p = params ? *params : dc_llama_default_params();
    if (!p->model_path || !*p->model_path)
        return dc_error_set(err, DC_STATUS_INVALID_ARG, "no model path");
    if (access(p->model_path, R_OK) != 0)
        return dc_error_set(err, errno == ENOENT ? DC_STATUS_NOT_FOUND : DC_STATUS_IO, "%s: %s",
                            p->model_path, strerror(errno));
    if (p->parallel == 0)
        p->parallel = 1;
    if (p->parallel > 256)
        return dc_error_set(err, DC_STATUS_INVALID_ARG, "parallel %u exceeds 256 sequences",
                            (unsigned)p->parallel);
    if (p->n_batch == 0)
        p->n_batch = 2048;
    if (p->n_ubatch == 0 || p->n_ubatch > p->n_batch)
        p->n_ubatch = p->n_batch < 512 ? p->n_batch : 512;
    if (p->n_threads <= 0) {
        long nc = sysconf(_SC_NPROCESSORS_ONLN);
        p->n_threads = nc > 0 ? (int32_t)nc : 4;
    }
    if (p->n_threads_batch <= 0)
        p->n_threads_batch = p->n_threads;
    return DC_STATUS_OK;
}

/* The weights, vocabulary and chat template. */
static dc_status load_model(llama_impl *L, dc_llama_params *p, dc_error *err)
{
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = p->n_gpu_layers;
    mp.load_mode = p->use_mmap ? LLAMA_LOAD_MODE_MMAP : LLAMA_LOAD_MODE_NONE;
    if (p->repack < 0) {
        dc_gguf_info gi;
        p->repack =
            !cpu_has_amx_int8() &&
            (dc_gguf_read_info(p->model_path, &gi, NULL) != DC_STATUS_OK || gi.n_embd >= 256);
    }
    mp.use_extra_bufts = p->repack != 0;
    if (p->progress) {
        mp.progress_callback = progress_trampoline;
        mp.progress_callback_user_data = p;
    }
    L->model = llama_model_load_from_file(p->model_path, mp);
    if (!L->model)
        return dc_error_set(err, DC_STATUS_MODEL,
                            "%s: llama.cpp could not load the model (not a GGUF of a supported "
                            "architecture, truncated, or loading was cancelled)",
                            p->model_path);
    L->vocab = llama_model_get_vocab(L->model);
    L->n_vocab = llama_vocab_n_tokens(L->vocab);
    const char *tmpl = llama_model_chat_template(L->model, NULL);
    if (tmpl && !(L->tmpl = dc_strdup(tmpl)))
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    return DC_STATUS_OK;
}

/* A context of p->parallel sequences of p->n_ctx tokens (capped at the
 * training context), and the scratch sized by it. */
static dc_status make_context(llama_impl *L, const dc_llama_params *p, dc_error *err)
{
    uint32_t n_ctx_train = (uint32_t)llama_model_n_ctx_train(L->model);
    uint32_t n_ctx = p->n_ctx ? p->n_ctx : 4096;
    if (n_ctx_train > 0 && n_ctx > n_ctx_train)
        n_ctx = n_ctx_train;
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = n_ctx * p->parallel;
    cp.n_batch = p->n_batch;
    cp.n_ubatch = p->n_ubatch;
    cp.n_seq_max = p->parallel;
    /* At most one row of logits per trace and step (and one for the
       prompt): llama.cpp then reserves logits for `parallel` rows, not for
       a whole batch. */
    cp.n_outputs_max = p->parallel;
    cp.n_threads = p->n_threads;
    cp.n_threads_batch = p->n_threads_batch;
    cp.flash_attn_type = p->flash_attn < 0    ? LLAMA_FLASH_ATTN_TYPE_AUTO
                         : p->flash_attn == 0 ? LLAMA_FLASH_ATTN_TYPE_DISABLED
                                              : LLAMA_FLASH_ATTN_TYPE_ENABLED;
    cp.kv_unified = false;
    cp.no_perf = true;
    cp.abort_callback = abort_trampoline;
    cp.abort_callback_data = L;
    L->ctx = llama_init_from_model(L->model, cp);
    if (!L->ctx)
        return dc_error_set(err, DC_STATUS_MODEL,
                            "llama.cpp could not create a context of %u tokens x %u traces "
                            "(out of memory?)",
                            (unsigned)n_ctx, (unsigned)p->parallel);
    L->n_seq = llama_n_seq_max(L->ctx);
    L->n_ctx_seq = llama_n_ctx_seq(L->ctx);
    if (L->n_ctx_seq > n_ctx)
        L->n_ctx_seq = n_ctx; /* llama.cpp pads to 256; keep the asked-for limit */
    L->n_batch = llama_n_batch(L->ctx);
    L->batch_cap = L->n_batch > L->n_seq ? L->n_batch : L->n_seq;
    L->batch = llama_batch_init((int32_t)L->batch_cap, 0, 1);
    L->cand = dc_malloc((size_t)L->n_vocab * sizeof *L->cand);
    if (!L->batch.token || !L->cand)
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    return DC_STATUS_OK;
}

dc_status dc_backend_llama_open(const dc_llama_params *params, dc_backend **out, dc_error *err)
{
    *out = NULL;
    dc_llama_params p;
    dc_status st = open_params(params, &p, err);
    if (st != DC_STATUS_OK)
        return st;
    dc_llama_global_init();
    dc_llama_global_log_to(p.log, p.log_user);
    dc_llama_global_logs_install();
    llama_impl *L = dc_calloc(1, sizeof *L);
    if (!L)
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    atomic_init(&L->cancel, 0);
    if ((st = load_model(L, &p, err)) != DC_STATUS_OK ||
        (st = make_context(L, &p, err)) != DC_STATUS_OK) {
        impl_free(L);
        return st;
    }
    fill_info(L, p.model_path);
    return dc_backend_wrap(&llama_vtable, L, out) == DC_STATUS_OK
               ? DC_STATUS_OK
               : dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
}

/* ---- what a chat template sees ---- */

static llama_impl *llama_of(dc_backend *b)
{
    return b && !strcmp(dc_backend_name(b), "llama") ? dc_backend_impl(b) : NULL;
}

const char *dc_backend_llama_chat_template(dc_backend *b)
{
    llama_impl *L = llama_of(b);
    return L ? L->tmpl : NULL;
}

static const char *token_text(const llama_impl *L, llama_token t)
{
    if (t < 0 || t >= L->n_vocab)
        return "";
    const char *s = llama_vocab_get_text(L->vocab, t);
    return s ? s : "";
}

void dc_backend_llama_special_texts(dc_backend *b, const char **bos, const char **eos)
{
    llama_impl *L = llama_of(b);
    *bos = L ? token_text(L, llama_vocab_bos(L->vocab)) : "";
    *eos = L ? token_text(L, llama_vocab_eos(L->vocab)) : "";
}

#endif /* SDC_HAVE_LLAMA */
