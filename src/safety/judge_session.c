/* judge_session.c - a judge with its model, backend and verdict cache. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "deepconf/dc_backend_llama.h"
#include "deepconf/dc_backend_openai.h"
#include "deepconf/dc_hf.h"
#include "safety/sdc_judge.h"

struct sdc_judge_session {
    sdc_judge_setup setup;
    dc_backend *backend;
    sdc_judge *judge;
    sdc_judge_cache *cache; /* NULL: none */
    char model_id[256];
};

sdc_judge_setup sdc_judge_default_setup(void)
{
    sdc_judge_setup s;
    memset(&s, 0, sizeof s);
    s.kind = SDC_JUDGE_KIND_QWEN3GUARD;
    s.max_tokens = 32;
    s.top_logprobs = 20;
    s.n_ctx = 8192;
    return s;
}

const char *sdc_judge_kind_default_gguf(sdc_judge_kind k)
{
    switch (k) {
    case SDC_JUDGE_KIND_QWEN3GUARD: return "mradermacher/Qwen3Guard-Gen-0.6B-GGUF:Q8_0";
    case SDC_JUDGE_KIND_LLAMAGUARD3: return "QuantFactory/Llama-Guard-3-8B-GGUF:Q8_0";
    default: return NULL;
    }
}

void sdc_judge_cache_default_path(char *buf, size_t size)
{
    const char *c = getenv("SDC_CACHE_DIR"), *x = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME") ? getenv("HOME") : "/tmp";
    if (c && *c)
        snprintf(buf, size, "%s/judges/verdicts.jsonl", c);
    else if (x && *x)
        snprintf(buf, size, "%s/safety-deepconf/judges/verdicts.jsonl", x);
    else
        snprintf(buf, size, "%s/.cache/safety-deepconf/judges/verdicts.jsonl", home);
}

static void note(const sdc_judge_session *s, const char *fmt, const char *arg)
{
    char text[1200];
    if (!s->setup.note)
        return;
    snprintf(text, sizeof text, fmt, arg);
    s->setup.note(s->setup.user, text);
}

/* Llama Guard 3 1B's template lists S1..S13; the 8B's adds S14. */
static int is_1b(const char *model)
{
    for (const char *p = model; p && *p; p++)
        if (!strncasecmp(p, "1b", 2) && (p == model || p[-1] == '-' || p[-1] == '_'))
            return 1;
    return 0;
}

static dc_status open_llama(sdc_judge_session *s, dc_error *err)
{
    const char *spec = s->setup.model ? s->setup.model : sdc_judge_kind_default_gguf(s->setup.kind);
    if (!spec)
        return dc_error_set(err, DC_STATUS_INVALID_ARG,
                            "judge %s: no default GGUF is known; give one (%s:MODEL)",
                            sdc_judge_kind_name(s->setup.kind), sdc_judge_kind_name(s->setup.kind));
    dc_hf_params hp = dc_hf_default_params();
    dc_hf_result hr;
    memset(&hr, 0, sizeof hr);
    dc_status st = dc_hf_pull(spec, &hp, &hr, err);
    if (st != DC_STATUS_OK) {
        dc_error_prefix(err, "judge model %s", spec);
        return st;
    }
    if (!hr.from_cache && !dc_hf_is_path(spec))
        note(s, "downloaded the judge model to %s", hr.path);
    note(s, "checksumming the judge model %s (sha256)", hr.path);
    char hex[65];
    st = dc_sha256_file(hr.path, hex, err);
    if (st == DC_STATUS_OK) {
        snprintf(s->model_id, sizeof s->model_id, "sha256:%s", hex);
        dc_llama_params p = dc_llama_default_params();
        p.model_path = hr.path;
        p.n_ctx = s->setup.n_ctx;
        p.parallel = 1;
        p.n_threads = s->setup.threads;
        p.n_gpu_layers = s->setup.n_gpu_layers;
        st = dc_backend_llama_open(&p, &s->backend, err);
    }
    dc_hf_result_clear(&hr);
    return st;
}

static dc_status open_openai(sdc_judge_session *s, dc_error *err)
{
    dc_openai_params p = dc_backend_openai_default_params();
    p.endpoints = s->setup.endpoints;
    p.n_endpoints = s->setup.n_endpoints;
    p.api = DC_OPENAI_API_COMPLETIONS; /* the prompt is rendered here, whole */
    p.model = s->setup.model;
    p.concurrency = 1;
    dc_status st = dc_backend_openai_open(&p, &s->backend, err);
    if (st != DC_STATUS_OK)
        return st;
    dc_model_info mi;
    dc_backend_describe(s->backend, &mi);
    snprintf(s->model_id, sizeof s->model_id, "openai:%s", mi.name);
    return DC_STATUS_OK;
}

dc_status sdc_judge_session_open(const sdc_judge_setup *setup, sdc_judge_session **out,
                                 dc_error *err)
{
    sdc_judge_session *s = dc_calloc(1, sizeof *s);
    if (!s)
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    s->setup = *setup;
    dc_status st = setup->openai ? open_openai(s, err) : open_llama(s, err);
    if (st == DC_STATUS_OK) {
        sdc_judge_params jp = sdc_judge_default_params();
        jp.kind = setup->kind;
        jp.max_tokens = setup->max_tokens;
        jp.top_logprobs = setup->top_logprobs;
        const char *m = setup->model ? setup->model : sdc_judge_kind_default_gguf(setup->kind);
        jp.prompt.llamaguard_s14 = !is_1b(m);
        st = sdc_judge_open(&jp, s->backend, &s->judge, err);
    }
    if (st == DC_STATUS_OK && setup->cache_path)
        st = sdc_judge_cache_open(setup->cache_path, &s->cache, err);
    if (st != DC_STATUS_OK) {
        sdc_judge_session_free(s);
        return st;
    }
    s->setup.model = NULL; /* borrowed from the caller: not kept */
    s->setup.endpoints = NULL;
    s->setup.cache_path = NULL;
    *out = s;
    return DC_STATUS_OK;
}

sdc_judge_kind sdc_judge_session_kind(const sdc_judge_session *s)
{
    return s->setup.kind;
}

const char *sdc_judge_session_model(const sdc_judge_session *s)
{
    return s->model_id;
}

dc_status sdc_judge_session_ask(sdc_judge_session *s, const char *prompt, const char *response,
                                sdc_judge_verdict *out, char **output, int *cached, dc_error *err)
{
    char key[65];
    const char *have = NULL;
    if (cached)
        *cached = 0;
    if (s->cache) {
        sdc_judge_cache_key(s->setup.kind, s->model_id, prompt, response, key);
        if (sdc_judge_cache_get(s->cache, key, out, &have)) {
            if (cached)
                *cached = 1;
            if (output && !(*output = dc_strdup(have)))
                return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
            return DC_STATUS_OK;
        }
    }
    char *said = NULL;
    dc_status st = sdc_judge_ask(s->judge, prompt, response, out, &said, err);
    if (st == DC_STATUS_OK && s->cache)
        st = sdc_judge_cache_put(s->cache, key, s->setup.kind, out, said, err);
    if (st == DC_STATUS_OK && output)
        *output = said;
    else
        dc_free(said);
    return st;
}

void sdc_judge_session_free(sdc_judge_session *s)
{
    if (!s)
        return;
    sdc_judge_cache_free(s->cache);
    sdc_judge_free(s->judge);
    dc_backend_free(s->backend);
    dc_free(s);
}
