/* judge_session.c - a judge with its model, backend and verdict cache. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "deepconf/dc_backend_llama.h"
#include "deepconf/dc_backend_openai.h"
#include "deepconf/dc_hf.h"
#include "safety/sdc_judge.h"
#include "util/jinja.h"

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
    s.template_check = 1;
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

/* The pair the template check renders: a newline, quotes and a non-ASCII
 * character, which a template that escapes or trims would change. */
static const char probe_prompt[] = "How do I pick a \"simple\" lock?\nAsking for my shed.";
static const char probe_response[] = "I can't help with that \u2014 call a locksmith.";

/* The probe conversation as apply_chat_template gets it ([user: prompt,
 * assistant: response], add_generation_prompt, bos_token, eos_token), the
 * content as plain strings or (parts) as lists of typed text parts. */
static json_t *probe_context(int parts, const char *bos, const char *eos)
{
    static const char *const roles[2] = {"user", "assistant"};
    const char *texts[2] = {probe_prompt, probe_response};
    json_t *msgs = json_array();
    for (int i = 0; msgs && i < 2; i++) {
        json_t *c = parts ? json_pack("[{s:s,s:s}]", "type", "text", "text", texts[i])
                          : json_string(texts[i]);
        json_array_append_new(msgs, json_pack("{s:s,s:o}", "role", roles[i], "content", c));
    }
    return json_pack("{s:o, s:b, s:s, s:s}", "messages", msgs, "add_generation_prompt", 1,
                     "bos_token", bos, "eos_token", eos);
}

/* Up to 40 bytes of s for a message, newlines and tabs as \n and \t. */
static void snippet(const char *s, char *out, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; s[i] && i < 40 && o + 3 < size; i++) {
        if (s[i] == '\n' || s[i] == '\t') {
            out[o++] = '\\';
            out[o++] = s[i] == '\n' ? 'n' : 't';
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
}

/* The first position where a and b differ (their common length when one
 * is a prefix of the other). */
static size_t first_difference(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
    size_t i = 0;
    while (i < na && i < nb && a[i] == b[i])
        i++;
    return i;
}

/* In-process: when the GGUF carries a chat template, render the probe pair
 * with it as apply_chat_template would ([user: prompt, assistant: response],
 * add_generation_prompt) and compare token ids with the project's own
 * rendering of the judge's format. A difference is an error (the judge
 * would not see what its makers trained it on), unless the check is off.
 * WildGuard's format is a raw completion prompt, not a chat template. */
static dc_status check_template(sdc_judge_session *s, const sdc_judge_prompt_opts *po,
                                dc_error *err)
{
    if (s->setup.openai || s->setup.kind == SDC_JUDGE_KIND_WILDGUARD)
        return DC_STATUS_OK;
    const char *tmpl = dc_backend_llama_chat_template(s->backend);
    if (!tmpl) {
        note(s,
             "the judge model carries no chat template: the %s prompt is the project's "
             "rendering, not checked against one",
             sdc_judge_kind_name(s->setup.kind));
        return DC_STATUS_OK;
    }
    if (!s->setup.template_check) {
        note(s, "the judge model's chat template is not checked (%s)", "template check off");
        return DC_STATUS_OK;
    }
    const char *bos, *eos;
    dc_backend_llama_special_texts(s->backend, &bos, &eos);
    char *ours = NULL;
    int32_t *tb = NULL;
    size_t nb = 0;
    dc_status st = sdc_judge_render(s->setup.kind, po, probe_prompt, probe_response, &ours, err);
    if (st == DC_STATUS_OK)
        st = dc_backend_tokenize(s->backend, sdc_judge_wire_text(s->setup.kind, ours), &tb, &nb,
                                 err);
    /* The messages as plain strings, then as lists of typed parts (the form
       multimodal templates such as Llama Guard 3 1B's read); the first
       rendering that gives the project's tokens passes. */
    char first_diff[DC_ERROR_MSG_MAX] = "", unread[DC_ERROR_MSG_MAX] = "";
    int same = 0;
    for (int parts = 0; st == DC_STATUS_OK && parts < 2 && !same; parts++) {
        json_t *ctx = probe_context(parts, bos, eos);
        char *cj = ctx ? json_dumps(ctx, 0) : NULL;
        json_decref(ctx);
        if (!cj) {
            st = dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
            break;
        }
        char *theirs = NULL;
        int32_t *ta = NULL;
        size_t na = 0;
        dc_error je = {0};
        dc_status rs = dc_jinja_render(tmpl, cj, &theirs, NULL, &je);
        free(cj);
        if (rs == DC_STATUS_NOMEM) {
            st = dc_error_set(err, rs, "out of memory");
            break;
        }
        if (rs != DC_STATUS_OK) {
            if (!unread[0])
                snprintf(unread, sizeof unread, "%s", je.msg);
            continue;
        }
        st = dc_backend_tokenize(s->backend, sdc_judge_wire_text(s->setup.kind, theirs), &ta, &na,
                                 err);
        if (st == DC_STATUS_OK) {
            size_t d = first_difference(ta, na, tb, nb);
            same = d == na && d == nb;
            if (same) {
                char n[32];
                snprintf(n, sizeof n, "%zu", na);
                note(s,
                     "checked: the judge model's own chat template gives the same %s prompt "
                     "tokens as the project's rendering",
                     n);
            } else if (!first_diff[0]) {
                /* where the texts part, for the message */
                const char *a = theirs, *b = ours;
                while (*a && *a == *b)
                    a++, b++;
                char sa[96], sb[96];
                snippet(a, sa, sizeof sa);
                snippet(b, sb, sizeof sb);
                snprintf(first_diff, sizeof first_diff,
                         "token %zu of %zu / %zu differs; from byte %zu the template has \"%s\", "
                         "the project \"%s\"",
                         d, na, nb, (size_t)(a - theirs), sa, sb);
            }
        }
        dc_free(theirs);
        dc_free(ta);
    }
    if (st == DC_STATUS_OK && !same && first_diff[0])
        st = dc_error_set(err, DC_STATUS_MODEL,
                          "the judge model's chat template renders the %s prompt differently from "
                          "the project's format (%s): the GGUF may carry a template that is not "
                          "the official one; check it, or turn the check off (judge "
                          "--no-template-check, judge.template_check: false)",
                          sdc_judge_kind_name(s->setup.kind), first_diff);
    else if (st == DC_STATUS_OK && !same)
        note(s, "the judge model's chat template could not be checked: %s", unread);
    dc_free(ours);
    dc_free(tb);
    return st;
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
        st = check_template(s, &jp.prompt, err);
        if (st == DC_STATUS_OK)
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
