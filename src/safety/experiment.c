/* experiment.c - one experiment from its configuration to its files: the
 * model, the backend, the data, the run directory, run.json, the run and
 * the analysis (sdc_experiment.h). */
#include "safety/sdc_experiment.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "deepconf/dc_backend_llama.h"
#include "deepconf/dc_backend_openai.h"
#include "deepconf/dc_gguf_demo.h"
#include "deepconf/dc_hf.h"
#include "safety/records.h"
#include "safety/sdc_analysis.h"
#include "safety/sdc_dataset.h"
#include "safety/sdc_hub.h"
#include "safety/sdc_judge.h"
#include "safety/sdc_refusal.h"
#include "safety/sdc_refusal_model.h"
#include "safety/sdc_synthetic.h"
#include "util/fs.h"

struct sdc_experiment {
    sdc_experiment_params p;
    sdc_config *cfg;
    dc_backend *backend;     /* NULL for a replay */
    sdc_saved_traces *saved; /* a replay's traces */
    sdc_dataset *data;
    sdc_refusal *refusal;
    char *refusal_json;    /* its settings, as run.json and the fingerprint hold them */
    unsigned slots, n_ctx; /* llama: the chosen width and context per trace */
    dc_model_info mi;
    char model_path[4096];
    char data_path[4096]; /* the benchmark file: benchmark.data, or pulled from the Hub */
    char model_name[256];
    char sha[65];
    char dir[4096];
    char fingerprint[17];
    char *run_json;
    int is_demo;
    sdc_judge_session *judge; /* judge.name's; NULL: none */
};

sdc_experiment_params sdc_experiment_default_params(void)
{
    sdc_experiment_params p;
    memset(&p, 0, sizeof p);
    p.open_mode = SDC_OPEN_NEW;
    p.default_model = SDC_DEFAULT_MODEL;
    return p;
}

static void note(const sdc_experiment *e, sdc_experiment_note n, const char *text)
{
    if (e->p.note)
        e->p.note(e->p.user, n, text);
}

/* ---- model ---- */

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static void demo_dir(const sdc_experiment *e, char *buf, size_t n)
{
    const char *c = getenv("SDC_CACHE_DIR"), *x = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME") ? getenv("HOME") : "/tmp";
    if (e->p.demo_dir)
        snprintf(buf, n, "%s", e->p.demo_dir);
    else if (c && *c)
        snprintf(buf, n, "%s/models", c);
    else if (x && *x)
        snprintf(buf, n, "%s/safety-deepconf/models", x);
    else
        snprintf(buf, n, "%s/.cache/safety-deepconf/models", home);
}

/* The offline demo model: the one trained for demonstration when it is
 * there, else a random one made once in the cache. why: why no real model. */
static dc_status demo_model(sdc_experiment *e, const char *why, dc_error *err)
{
    char text[2048];
    if (e->p.trained_demo && file_exists(e->p.trained_demo)) {
        snprintf(e->model_path, sizeof e->model_path, "%s", e->p.trained_demo);
        e->is_demo = 2;
        snprintf(text, sizeof text,
                 "%.1200s; using the OFFLINE DEMO MODEL %.600s: a small model trained here for "
                 "demonstration (docs/demo-model.md), not a Qwen3 release; it shows how the "
                 "method behaves, not how Qwen3 does. Use --model for real results.",
                 why, e->model_path);
        note(e, SDC_NOTE_DEMO_MODEL, text);
        return DC_STATUS_OK;
    }
    char dir[3072];
    demo_dir(e, dir, sizeof dir);
    snprintf(e->model_path, sizeof e->model_path, "%s/demo-tiny-seed1.gguf", dir);
    e->is_demo = 1;
    snprintf(text, sizeof text,
             "%.1200s; using the OFFLINE DEMO MODEL with random weights (the trained one was not "
             "found): its answers and confidences mean nothing; it shows the pipeline works. Use "
             "--model for real results.",
             why);
    note(e, SDC_NOTE_DEMO_MODEL, text);
    if (file_exists(e->model_path))
        return DC_STATUS_OK;
    if (dc_mkdirs(dir, 0777) != 0)
        return dc_error_set(err, DC_STATUS_IO, "cannot create %s for the demo model: %s", dir,
                            strerror(errno));
    dc_demo_params dp = dc_demo_default_params();
    dc_status st = dc_demo_write(e->model_path, &dp, err);
    if (st != DC_STATUS_OK)
        dc_error_prefix(err, "cannot make the demo model %s", e->model_path);
    return st;
}

/* cfg->model as a GGUF path: a file, a Hugging Face id (cache or Hub), or
 * with none given the default model when reachable, else the demo model. */
static dc_status resolve_model(sdc_experiment *e, dc_error *err)
{
    const char *spec = e->cfg->model;
    int given = spec && *spec;
    if (given && dc_hf_is_path(spec)) {
        if (!file_exists(spec))
            return dc_error_set(err, DC_STATUS_NOT_FOUND, "model.name %s: no such file", spec);
        snprintf(e->model_path, sizeof e->model_path, "%s", spec);
        return DC_STATUS_OK;
    }
    if (!given && !e->p.default_model)
        return demo_model(e, "no model given", err);
    dc_hf_params hp = dc_hf_default_params();
    hp.progress = e->p.download;
    hp.progress_user = e->p.user;
    if (!given)
        hp.connect_timeout_s = 5;
    dc_hf_result hr;
    dc_error perr = {0};
    dc_status st = dc_hf_pull(given ? spec : e->p.default_model, &hp, &hr, &perr);
    if (st == DC_STATUS_OK) {
        snprintf(e->model_path, sizeof e->model_path, "%s", hr.path);
        if (!hr.from_cache)
            note(e, SDC_NOTE_DOWNLOADED, hr.path);
        dc_hf_result_clear(&hr);
        return DC_STATUS_OK;
    }
    if (given || st == DC_STATUS_CANCELLED)
        return dc_error_set(err, st, "model.name %s: %s", given ? spec : e->p.default_model,
                            perr.msg);
    char why[1400];
    snprintf(why, sizeof why, "no model given and %s is neither cached nor downloadable (%s)",
             e->p.default_model, perr.msg);
    return demo_model(e, why, err);
}

/* The most tokens a prompt of the run can take: a token is at least one
 * byte of the rendered chat (byte-level BPE, and SentencePiece's byte
 * fallback), plus an allowance for the chat template's own tokens. */
static uint64_t prompt_tokens_bound(const sdc_experiment *e)
{
    const sdc_config *cfg = e->cfg;
    size_t most = 0;
    for (size_t i = 0; e->data && i < e->data->n; i++) {
        size_t l = strlen(e->data->items[i].prompt);
        most = l > most ? l : most;
    }
    size_t wrap = cfg->kind.mode == SDC_MODE_CLASSIFY ? strlen(SDC_CLASSIFY_TEMPLATE) : 0;
    return most + wrap + strlen(cfg->system_prompt) + 64;
}

/* The most traces worth decoding together: all of the run's. The runner
 * streams every instance through the backend (run.c), so a slot freed by
 * one instance's trace takes the next instance's; a strategy's own
 * batches (adaptive, online) come one after the other, but other
 * instances fill the slots meanwhile. */
static uint32_t traces_per_call(const sdc_experiment *e)
{
    const sdc_config *cfg = e->cfg;
    int64_t n = cfg->budget;
    if (!cfg->compare && cfg->kind.strategy == SDC_STRATEGY_BASELINE)
        n = 1;
    else if (!cfg->compare && cfg->kind.strategy == SDC_STRATEGY_FIXED)
        n = cfg->fixed_n;
    size_t instances = e->data && e->data->n ? e->data->n : 1;
    n *= (int64_t)instances;
    return n < 1 ? 1 : n > 256 ? 256 : (uint32_t)n;
}

/* Context per trace and traces decoded together: what the run needs,
 * within model.memory_limit; says what they take in a note. */
static dc_status size_llama(sdc_experiment *e, dc_llama_params *p, dc_error *err)
{
    const sdc_config *cfg = e->cfg;
    uint64_t need = prompt_tokens_bound(e) + (uint64_t)cfg->max_tokens + 1;
    p->n_ctx = cfg->ctx_size ? (uint32_t)cfg->ctx_size
                             : dc_llama_ctx_round(need > 1u << 24 ? 1u << 24 : (uint32_t)need);
    dc_gguf_info in;
    dc_status st = dc_gguf_read_info(e->model_path, &in, err);
    if (st != DC_STATUS_OK)
        return st;
    if (in.n_ctx_train && p->n_ctx > in.n_ctx_train)
        p->n_ctx = in.n_ctx_train;
    uint64_t limit =
        cfg->memory_limit ? (uint64_t)cfg->memory_limit << 20 : dc_memory_default_limit();
    uint32_t want = cfg->slots ? (uint32_t)cfg->slots : traces_per_call(e);
    if (!cfg->slots && want > SDC_PARALLEL_KNEE)
        want = SDC_PARALLEL_KNEE;
    dc_mem_estimate m;
    p->parallel = cfg->slots ? want : dc_mem_parallel_fit(&in, p->n_ctx, limit, want, &m);
    dc_mem_estimate_compute(in.size_bytes, in.n_layer, in.n_head_kv, in.head_dim, in.n_vocab,
                            in.n_embd, p->n_ctx, p->parallel, &m);
    char text[256];
    snprintf(text, sizeof text,
             "%u traces x %u tokens decoded together (%s): weights %.0f MiB + KV %.0f MiB + "
             "compute %.0f MiB = %.0f MiB of a %.0f MiB limit",
             (unsigned)p->parallel, (unsigned)p->n_ctx, cfg->slots ? "model.parallel" : "auto",
             m.weights / 1048576.0, m.kv / 1048576.0, m.compute / 1048576.0, m.total / 1048576.0,
             limit / 1048576.0);
    note(e, SDC_NOTE_MEMORY, text);
    e->slots = p->parallel;
    e->n_ctx = p->n_ctx;
    return DC_STATUS_OK;
}

static dc_status open_backend(sdc_experiment *e, dc_error *err)
{
    const sdc_config *cfg = e->cfg;
    dc_status st;
    if (cfg->kind.backend == SDC_BACKEND_OPENAI) {
        dc_openai_params p = dc_backend_openai_default_params();
        p.endpoints = (const char *const *)cfg->endpoints;
        p.n_endpoints = cfg->n_endpoints;
        dc_openai_api_parse(cfg->api, &p.api);
        p.model = *cfg->server_model ? cfg->server_model : *cfg->model ? cfg->model : NULL;
        p.concurrency = (size_t)cfg->concurrency;
        p.api_key_env = cfg->api_key_env;
        p.allow_insecure = cfg->allow_insecure;
        if (cfg->max_failures >= 0)
            p.max_failures = (size_t)cfg->max_failures;
        st = dc_backend_openai_open(&p, &e->backend, err);
    } else {
        dc_llama_params p = dc_llama_default_params();
        p.model_path = e->model_path;
        if ((st = size_llama(e, &p, err)) != DC_STATUS_OK)
            return st;
        p.n_batch = (uint32_t)cfg->batch_size;
        p.n_threads = (int32_t)cfg->threads;
        p.n_gpu_layers = (int32_t)cfg->n_gpu_layers;
        note(e, SDC_NOTE_LOADING, e->model_path);
        st = dc_backend_llama_open(&p, &e->backend, err);
    }
    if (st != DC_STATUS_OK) {
        dc_error_prefix(err, "opening the %s backend", cfg->backend);
        return st;
    }
    dc_backend_describe(e->backend, &e->mi);
    const char *base = strrchr(e->model_path, '/');
    snprintf(e->model_name, sizeof e->model_name, "%.*s", (int)sizeof e->model_name - 1,
             *e->mi.name ? e->mi.name
             : base      ? base + 1
                         : e->model_path);
    return DC_STATUS_OK;
}

/* ---- data ---- */

/* benchmark.data, or with none the named benchmark's file from the Hub
 * (the cache first; sdc_hub.h). */
static dc_status data_file(sdc_experiment *e, dc_error *err)
{
    if (*e->cfg->data) {
        snprintf(e->data_path, sizeof e->data_path, "%s", e->cfg->data);
        return DC_STATUS_OK;
    }
    dc_hf_params hp = dc_hf_default_params();
    hp.progress = e->p.download;
    hp.progress_user = e->p.user;
    dc_hf_result hr;
    dc_status st = sdc_hub_pull(e->cfg->benchmark, &hp, &hr, NULL, err);
    if (st != DC_STATUS_OK)
        return st;
    snprintf(e->data_path, sizeof e->data_path, "%s", hr.path);
    if (!hr.from_cache)
        note(e, SDC_NOTE_DOWNLOADED, hr.path);
    dc_hf_result_clear(&hr);
    return DC_STATUS_OK;
}

static dc_status load_data(sdc_experiment *e, dc_error *err)
{
    const sdc_config *cfg = e->cfg;
    dc_status st;
    if (cfg->kind.benchmark == SDC_BENCHMARK_SYNTHETIC) {
        sdc_synth_params sp = sdc_synth_default_params();
        sp.seed = (uint64_t)cfg->seed;
        sp.num_instances = cfg->num_instances > 0 ? (size_t)cfg->num_instances * 4 : 400;
        st = sdc_synth_generate(&sp, &e->data, err);
    } else {
        sdc_load_params lp = sdc_load_default_params();
        lp.benchmark = cfg->kind.benchmark;
        lp.skip_bad_rows = cfg->skip_bad_rows;
        lp.human_annotated_only = cfg->human_annotated_only;
        lp.include_copyright = cfg->include_copyright;
        if (*cfg->prompt_field)
            lp.prompt_field = cfg->prompt_field;
        if (*cfg->label_field)
            lp.label_field = cfg->label_field;
        if (*cfg->category_field)
            lp.category_field = cfg->category_field;
        if (*cfg->unsafe_values)
            lp.unsafe_values = cfg->unsafe_values;
        if ((st = data_file(e, err)) != DC_STATUS_OK)
            return st;
        st = sdc_dataset_load(e->data_path, &lp, &e->data, err);
    }
    if (st != DC_STATUS_OK)
        return st;
    sdc_select_params sel = sdc_select_default_params();
    sel.num_instances = (size_t)cfg->num_instances;
    sel.shuffle = cfg->shuffle;
    sel.seed = (unsigned long long)cfg->seed;
    sel.stratify = cfg->stratify;
    sel.categories = *cfg->categories ? cfg->categories : NULL;
    sel.split = *cfg->split ? cfg->split : NULL;
    if ((st = sdc_dataset_select(e->data, &sel, err)) != DC_STATUS_OK) {
        dc_error_prefix(err, "selecting instances");
        return st;
    }
    if (e->data->n == 0)
        return dc_error_set(err, DC_STATUS_CONFIG,
                            "no instances left after selection (check benchmark.num_instances, "
                            "categories, split)");
    return DC_STATUS_OK;
}

/* ---- run directory and run.json ---- */

static dc_status name_dir(sdc_experiment *e, dc_error *err)
{
    const sdc_config *cfg = e->cfg;
    if (*cfg->out) {
        snprintf(e->dir, sizeof e->dir, "%s", cfg->out);
        return DC_STATUS_OK;
    }
    if (e->p.open_mode == SDC_OPEN_RESUME)
        return dc_error_set(err, DC_STATUS_CONFIG, "--resume needs the run's directory: --out DIR");
    const char *base = *e->model_path ? strrchr(e->model_path, '/') : NULL;
    base = base ? base + 1 : *e->model_path ? e->model_path : e->mi.name;
    char name[512];
    if (*cfg->run_name)
        snprintf(name, sizeof name, "%.400s", cfg->run_name);
    else
        snprintf(name, sizeof name, "%.64s-%.256s-%.32s-%.32s",
                 sdc_benchmark_name(e->data->benchmark), base, cfg->mode,
                 cfg->compare ? "compare" : cfg->strategy);
    for (char *p = name; *p; p++)
        if (*p == '/' || *p == ' ' || *p == ':')
            *p = '_';
    /* a new directory per run, so that running the same command twice works */
    time_t now = time(NULL);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", gmtime(&now));
    snprintf(e->dir, sizeof e->dir, "results/%s-%s", name, stamp);
    return DC_STATUS_OK;
}

/* run.json: what produced the run, so that it can be checked and redone. */
static json_t *run_json(const sdc_experiment *e)
{
    sdc_run_record r = {.fingerprint = e->fingerprint,
                        .argc = e->p.argc,
                        .argv = e->p.argv,
                        .model = &e->mi,
                        .model_spec = e->cfg->model,
                        .model_path = e->model_path,
                        .model_sha256 = e->sha,
                        .demo = e->is_demo,
                        .benchmark = sdc_benchmark_name(e->data->benchmark),
                        .data_file = *e->data_path ? e->data_path : e->cfg->data,
                        .instances = e->data->n,
                        .rows_read = e->data->rows_read,
                        .refusal_json = e->refusal_json,
                        .slots = e->slots,
                        .n_ctx = e->n_ctx};
    return sdc_record_run_json(e->cfg, &r);
}

/* The run's identity: the configuration, the model's identity and the
 * refusal detector's settings (its phrase lists change the answers). */
static dc_status fingerprint(sdc_experiment *e, const char *model_identity, dc_error *err)
{
    size_t n = strlen(model_identity) + strlen(e->refusal_json) + 16;
    char *id = dc_malloc(n);
    if (!id)
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    snprintf(id, n, "%s\nrefusal:%s", model_identity, e->refusal_json);
    sdc_run_fingerprint(e->cfg, id, e->fingerprint);
    dc_free(id);
    return DC_STATUS_OK;
}

static dc_status finish_run_json(sdc_experiment *e, json_t *rj, dc_error *err)
{
    char *text = rj ? json_dumps(rj, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(rj);
    size_t n = text ? strlen(text) : 0;
    e->run_json = text ? dc_malloc(n + 2) : NULL;
    if (e->run_json) {
        memcpy(e->run_json, text, n);
        memcpy(e->run_json + n, "\n", 2);
    }
    free(text);
    return e->run_json ? DC_STATUS_OK : dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
}

/* ---- open ---- */

static sdc_experiment *experiment_new(const sdc_experiment_params *params)
{
    sdc_experiment *e = dc_calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->p = params ? *params : sdc_experiment_default_params();
    if (!(e->cfg = sdc_config_new())) {
        dc_free(e);
        return NULL;
    }
    return e;
}

/* cfg copied through its stored form, the one thing every key has. */
static dc_status copy_config(sdc_config *dst, const sdc_config *src, dc_error *err)
{
    char *j = sdc_config_to_json(src);
    if (!j)
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    dc_status st = sdc_config_load_json(dst, j, err);
    dc_free(j);
    if (st == DC_STATUS_OK && src->config_path) {
        dc_free(dst->config_path);
        if (!(dst->config_path = dc_strdup(src->config_path)))
            return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    }
    return st == DC_STATUS_OK ? sdc_config_validate(dst, err) : st;
}

/* The detector of the configuration: the settings a replayed run recorded
 * (stored, its run.json's "refusal"), else the config file's refusal section
 * and refusal.mode. Its settings are kept for run.json and the fingerprint,
 * so a changed phrase list is a different run and a replay never reads a
 * file that may have changed since. */
static dc_status open_refusal(sdc_experiment *e, json_t *stored, dc_error *err)
{
    sdc_refusal_params p = sdc_refusal_default_params();
    const char *f = e->cfg->config_path;
    dc_status st = DC_STATUS_OK;
    if (json_is_object(stored)) {
        char *text = json_dumps(stored, JSON_COMPACT);
        st = text ? sdc_refusal_params_from_json(text, &p, err)
                  : dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
        free(text);
    } else if (f && *f && access(f, R_OK) == 0) {
        st = sdc_refusal_load_params(f, &p, err);
    }
    return st == DC_STATUS_OK ? sdc_refusal_from_params(&p, e->cfg->refusal_mode, &e->refusal,
                                                        &e->refusal_json, err)
                              : st;
}

/* A replay re-decides every trace with this build's classifier: say so
 * when the run recorded other weights (or none: a run from before the
 * weights were recorded), since its refusal decisions may then differ. */
static void note_refusal_model(const sdc_experiment *e, json_t *stored)
{
    const sdc_refusal_model *m = sdc_refusal_get_model(e->refusal);
    const char *want = json_string_value(json_object_get(stored, "model_sha256"));
    const char *have = m && *sdc_refusal_model_sha256(m) ? sdc_refusal_model_sha256(m) : NULL;
    if (have && (!want || strcmp(want, have))) {
        char text[512];
        snprintf(text, sizeof text,
                 "the run decided refusals with classifier %s%s; this replay decides with %s "
                 "(refusal.model), so decisions may differ from the run's",
                 want ? "sha256:" : "weights it did not record",
                 want ? want : " (an older version)", have);
        note(e, SDC_NOTE_REFUSAL_MODEL, text);
    }
}

/* ---- the judge ---- */

static void judge_note(void *user, const char *text)
{
    const sdc_experiment *e = user;
    note(e, SDC_NOTE_JUDGE, text);
}

/* judge.name's judge with the verdict cache of every run (sdc_judge.h). */
static dc_status open_judge(sdc_experiment *e, dc_error *err)
{
    const sdc_config *cfg = e->cfg;
    if (!*cfg->judge)
        return DC_STATUS_OK;
    sdc_judge_setup js = sdc_judge_default_setup();
    dc_status st = sdc_judge_spec_parse(cfg->judge, &js.kind, &js.model, err);
    if (st != DC_STATUS_OK)
        return st;
    char cache[4096];
    sdc_judge_cache_default_path(cache, sizeof cache);
    const char *eps[1] = {cfg->judge_endpoint};
    js.openai = !strcmp(cfg->judge_backend, "openai");
    js.endpoints = eps;
    js.n_endpoints = 1;
    js.cache_path = cache;
    js.threads = (int32_t)cfg->threads;
    js.n_gpu_layers = (int32_t)cfg->n_gpu_layers;
    js.max_tokens = (size_t)cfg->judge_max_tokens;
    js.top_logprobs = (size_t)cfg->judge_top_logprobs;
    js.template_check = cfg->judge_template_check;
    js.note = judge_note;
    js.user = e;
    st = sdc_judge_session_open(&js, &e->judge, err);
    if (st != DC_STATUS_OK)
        dc_error_prefix(err, "judge.name %s", cfg->judge);
    return st;
}

/* A resumed run keeps writing the traces file it has (sdc_results_open);
 * says so when output.compress asks for the other kind. */
static void note_storage(const sdc_experiment *e)
{
    char path[4200];
    sdc_compress how;
    if (e->p.open_mode != SDC_OPEN_RESUME ||
        !sdc_results_traces_path(e->dir, path, sizeof path, &how) || how == e->cfg->kind.compress)
        return;
    char text[4400];
    snprintf(text, sizeof text,
             "%s is there, so the resumed run goes on writing it (output.compress: %s is for new "
             "runs)",
             path, e->cfg->compress);
    note(e, SDC_NOTE_STORAGE, text);
}

dc_status sdc_experiment_open(const sdc_config *cfg, const sdc_experiment_params *params,
                              sdc_experiment **out, dc_error *err)
{
    *out = NULL;
    sdc_experiment *e = experiment_new(params);
    if (!e)
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    dc_status st = copy_config(e->cfg, cfg, err);
    if (st == DC_STATUS_OK)
        st = open_refusal(e, NULL, err);
    if (st == DC_STATUS_OK)
        st = load_data(e, err);
    if (st == DC_STATUS_OK && e->cfg->kind.backend == SDC_BACKEND_LLAMA)
        st = resolve_model(e, err);
    if (st == DC_STATUS_OK)
        st = open_backend(e, err);
    if (st == DC_STATUS_OK)
        st = open_judge(e, err);
    if (st == DC_STATUS_OK)
        st = name_dir(e, err);
    if (st == DC_STATUS_OK)
        note_storage(e);
    char identity[4300];
    if (st == DC_STATUS_OK && *e->model_path) {
        /* the model's identity is its content, wherever the file lives */
        note(e, SDC_NOTE_CHECKSUM, e->model_path);
        st = dc_sha256_file(e->model_path, e->sha, err);
        snprintf(identity, sizeof identity, "sha256:%s", e->sha);
    } else {
        snprintf(identity, sizeof identity, "%s|%s", e->cfg->backend, e->mi.name);
    }
    if (st == DC_STATUS_OK)
        st = fingerprint(e, identity, err);
    if (st == DC_STATUS_OK)
        st = finish_run_json(e, run_json(e), err);
    if (st != DC_STATUS_OK) {
        sdc_experiment_free(e);
        return st;
    }
    *out = e;
    return DC_STATUS_OK;
}

/* ---- replay ---- */

/* The instances of a run, rebuilt from its predictions (the prompts only
 * go back into the records: the traces are fixed). */
static dc_status instances_of(const sdc_prediction_list *pl, sdc_dataset **out, dc_error *err)
{
    sdc_benchmark bm = SDC_BENCHMARK_SYNTHETIC;
    if (pl->n && pl->items[0].benchmark)
        sdc_benchmark_from_name(pl->items[0].benchmark, &bm);
    sdc_dataset *ds = sdc_dataset_new(bm);
    if (!ds)
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    for (size_t i = 0; i < pl->n; i++) {
        const sdc_prediction *p = &pl->items[i];
        if (i && !strcmp(p->instance_id, pl->items[i - 1].instance_id))
            continue;
        sdc_instance in;
        memset(&in, 0, sizeof in);
        in.id = (char *)p->instance_id;
        /* the refusal classifier reads the prompt: replaying must see the same */
        in.prompt = (char *)(p->prompt ? p->prompt : ""); /* "": not recorded */
        in.label = p->label;
        in.category = (char *)(p->harm_category ? p->harm_category : "");
        if (p->benchmark)
            sdc_benchmark_from_name(p->benchmark, &in.benchmark);
        if (sdc_dataset_push(ds, &in) != DC_STATUS_OK) {
            sdc_dataset_free(ds);
            return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
        }
    }
    *out = ds;
    return DC_STATUS_OK;
}

/* The source run's configuration with the replay's changes. */
static dc_status replay_config(sdc_experiment *e, json_t *old, const char *path, const char *dst,
                               const char *const *keys, const char *const *values, size_t n,
                               double theta, dc_error *err)
{
    char *cj = json_dumps(json_object_get(old, "config"), 0);
    dc_status st = cj ? sdc_config_load_json(e->cfg, cj, err) : DC_STATUS_FORMAT;
    free(cj);
    if (st != DC_STATUS_OK)
        return dc_error_set(err, st, "%s: %s", path, *err->msg ? err->msg : "no \"config\" object");
    if (!e->cfg->compare)
        return dc_error_set(err, DC_STATUS_CONFIG,
                            "%s is not from a compare run: only the traces of a compare run can "
                            "be replayed",
                            path);
    for (size_t i = 0; i < n; i++) {
        if (strncmp(keys[i], "deepconf.", 9) != 0)
            return dc_error_set(err, DC_STATUS_CONFIG,
                                "--set %s: a replay can change deepconf.* keys only (the traces "
                                "are fixed)",
                                keys[i]);
        if ((st = sdc_config_set(e->cfg, keys[i], values[i], err)) != DC_STATUS_OK)
            return st;
    }
    e->cfg->compare = 1;
    if (!isnan(theta))
        e->cfg->threshold = theta;
    dc_free(e->cfg->out);
    if (!(e->cfg->out = dc_strdup(dst)))
        return dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    return sdc_config_validate(e->cfg, err);
}

dc_status sdc_experiment_open_replay(const char *src, const char *dst, const char *const *keys,
                                     const char *const *values, size_t n_sets, double theta,
                                     const sdc_experiment_params *params, sdc_experiment **out,
                                     dc_error *err)
{
    *out = NULL;
    char path[4200];
    snprintf(path, sizeof path, "%s/run.json", src);
    json_error_t je;
    json_t *old = json_load_file(path, 0, &je);
    if (!old)
        return dc_error_set(err, DC_STATUS_PARSE, "%s: %s", path, je.text);
    sdc_experiment *e = experiment_new(params);
    sdc_prediction_list pl = {0};
    dc_status st = e ? DC_STATUS_OK : dc_error_set(err, DC_STATUS_NOMEM, "out of memory");
    if (st == DC_STATUS_OK)
        st = replay_config(e, old, path, dst, keys, values, n_sets, theta, err);
    if (st == DC_STATUS_OK)
        st = sdc_predictions_load(src, &pl, NULL, err);
    for (size_t i = 0; st == DC_STATUS_OK && *e->cfg->judge && i < pl.n; i++)
        if (!pl.items[i].prompt)
            st = dc_error_set(err, DC_STATUS_CONFIG,
                              "%s: instance %s has no prompt (a run judged before the "
                              "prompts were kept); --set judge.name= replays without the judge",
                              src, pl.items[i].instance_id);
    if (st == DC_STATUS_OK)
        st = open_judge(e, err);
    if (st == DC_STATUS_OK)
        st = instances_of(&pl, &e->data, err);
    if (st == DC_STATUS_OK)
        st = open_refusal(e, json_object_get(old, "refusal"), err);
    if (st == DC_STATUS_OK)
        note_refusal_model(e, json_object_get(old, "refusal"));
    if (st == DC_STATUS_OK) {
        sdc_results_traces_path(src, path, sizeof path, NULL);
        st = sdc_saved_traces_open(path, &e->saved, err);
    }
    json_t *om = json_object_get(old, "model");
    if (st == DC_STATUS_OK) {
        const char *sha = json_string_value(json_object_get(om, "sha256"));
        const char *mp = json_string_value(json_object_get(om, "path"));
        const char *name = json_string_value(json_object_get(om, "name"));
        snprintf(e->sha, sizeof e->sha, "%s", sha ? sha : "");
        snprintf(e->model_path, sizeof e->model_path, "%s", mp ? mp : "");
        const char *kind = json_string_value(json_object_get(om, "demo_kind"));
        e->is_demo = !json_is_true(json_object_get(om, "demo")) ? 0
                     : kind && !strcmp(kind, "trained")         ? 2
                                                                : 1;
        snprintf(e->mi.backend, sizeof e->mi.backend, "replay");
        snprintf(e->mi.name, sizeof e->mi.name, "saved traces");
        if (name)
            snprintf(e->mi.name, sizeof e->mi.name, "%s", name);
        snprintf(e->model_name, sizeof e->model_name, "%s", e->mi.name);
        snprintf(e->dir, sizeof e->dir, "%s", dst);
        char identity[512];
        snprintf(identity, sizeof identity, "replay:%s", sha ? sha : src);
        st = fingerprint(e, identity, err);
        /* where the traces came from */
        json_t *rj = st == DC_STATUS_OK ? run_json(e) : NULL;
        if (rj) {
            json_object_set_new(rj, "replayed_from", json_string(src));
            json_object_set(rj, "original_model", om);
        }
        if (st == DC_STATUS_OK)
            st = finish_run_json(e, rj, err);
    }
    sdc_prediction_list_free(&pl);
    json_decref(old);
    if (st != DC_STATUS_OK) {
        sdc_experiment_free(e);
        return st;
    }
    *out = e;
    return DC_STATUS_OK;
}

/* ---- run ---- */

void sdc_experiment_describe(const sdc_experiment *e, sdc_experiment_info *out)
{
    out->dir = e->dir;
    out->model_path = e->model_path;
    out->model_name = e->model_name;
    out->is_demo = e->is_demo;
    out->n_instances = e->data->n;
    out->benchmark = sdc_benchmark_name(e->data->benchmark);
    out->what = e->cfg->compare ? "compare (baseline, fixed, adaptive, online)" : e->cfg->strategy;
    out->mode = e->cfg->mode;
}

dc_status sdc_experiment_run(sdc_experiment *e, sdc_run_stats *stats, char **summary, dc_error *err)
{
    sdc_run_params rp = {.cfg = e->cfg,
                         .backend = e->backend,
                         .data = e->data,
                         .refusal = e->refusal,
                         .dir = e->dir,
                         .run_json = e->run_json,
                         .fingerprint = e->fingerprint,
                         .open_mode = e->p.open_mode,
                         .saved = e->saved,
                         .judge = e->judge,
                         .progress = e->p.progress,
                         .user = e->p.user};
    dc_status st = sdc_run_execute(&rp, stats, err);
    if (st != DC_STATUS_OK)
        return st;
    return sdc_experiment_analyze(e->dir, e->cfg->threshold, 0, summary, NULL, err);
}

void sdc_experiment_cancel(sdc_experiment *e)
{
    if (e && e->backend)
        dc_backend_cancel(e->backend);
}

void sdc_experiment_free(sdc_experiment *e)
{
    if (!e)
        return;
    sdc_judge_session_free(e->judge);
    dc_backend_free(e->backend);
    sdc_saved_traces_close(e->saved);
    sdc_dataset_free(e->data);
    sdc_refusal_free(e->refusal);
    dc_free(e->refusal_json);
    sdc_config_free(e->cfg);
    dc_free(e->run_json);
    dc_free(e);
}

/* ---- analysis ---- */

dc_status sdc_experiment_analyze(const char *dir, double theta, int refusal_from_judge,
                                 char **summary, int *torn, dc_error *err)
{
    if (summary)
        *summary = NULL;
    sdc_prediction_list pl;
    size_t n_torn = 0;
    dc_status st = sdc_predictions_load(dir, &pl, &n_torn, err);
    if (st != DC_STATUS_OK)
        return st;
    if (torn)
        *torn = n_torn != 0;
    /* a run without a readable run.json still has its predictions: the
       reader's defaults stand */
    sdc_run_facts rf;
    (void)sdc_run_facts_read(dir, &rf, NULL);
    if (isnan(theta))
        theta = rf.threshold >= 0 && rf.threshold <= 1 ? rf.threshold : 0.5;
    char model_note[512];
    if (rf.demo == 2)
        snprintf(model_note, sizeof model_note,
                 "OFFLINE DEMO MODEL (%.200s): a small model trained here for demonstration, not "
                 "a Qwen3 release; these numbers show how the method behaves, not how Qwen3 does",
                 rf.model_name);
    else if (rf.demo)
        snprintf(model_note, sizeof model_note,
                 "OFFLINE DEMO MODEL (%.200s): random weights, so its answers and confidences "
                 "mean nothing; these numbers only show that the pipeline runs",
                 rf.model_name);
    else
        snprintf(model_note, sizeof model_note, "%.500s", rf.model_name);
    sdc_analysis_params ap = sdc_analysis_default_params();
    ap.model_is_demo = rf.demo != 0;
    ap.theta = theta;
    ap.run_name = dir;
    ap.model_note = model_note;
    char traces[4200];
    sdc_results_traces_path(dir, traces, sizeof traces, NULL);
    ap.traces_path = traces;
    ap.top_k = rf.top_k;
    ap.window = rf.window;
    ap.max_cases = rf.report_cases;
    ap.refusal_from_judge = refusal_from_judge;
    char *json = NULL, *text = NULL, *html = NULL;
    st = sdc_analyze(pl.items, pl.n, &ap, &json, &text);
    if (st == DC_STATUS_OK)
        st = sdc_report_html(pl.items, pl.n, &ap, &html);
    if (st != DC_STATUS_OK)
        dc_error_set(err, st, "%s: analysis failed: %s", dir, dc_strerror(st));
    if (st == DC_STATUS_OK)
        st = sdc_results_write_file(dir, "summary.json", json, err);
    if (st == DC_STATUS_OK)
        st = sdc_results_write_file(dir, "summary.txt", text, err);
    if (st == DC_STATUS_OK)
        st = sdc_results_write_file(dir, "report.html", html, err);
    if (st == DC_STATUS_OK && summary) {
        *summary = text;
        text = NULL;
    }
    dc_free(json);
    dc_free(text);
    dc_free(html);
    sdc_prediction_list_free(&pl);
    return st;
}
