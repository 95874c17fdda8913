/* cmd_run.c - `safety-deepconf run`, `compare`, `analyze` and `report`. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "deepconf/dc_backend.h"
#include "deepconf/dc_backend_llama.h"
#include "deepconf/dc_backend_openai.h"
#include "deepconf/dc_backend_replay.h"
#include "deepconf/dc_build_info.h"
#include "deepconf/dc_gguf_demo.h"
#include "deepconf/dc_hf.h"
#include "safety/sdc_analysis.h"
#include "safety/sdc_config.h"
#include "safety/sdc_dataset.h"
#include "safety/sdc_refusal.h"
#include "safety/sdc_results.h"
#include "safety/sdc_run.h"
#include "safety/sdc_synthetic.h"
#include "util/buf.h"
#include "util/fs.h"
#include "util/jsonw.h"

/* The model tried when none is given, before the offline demo model. */
#define DEFAULT_MODEL "Qwen/Qwen3-0.6B"

static const char *const run_usage =
    "usage: safety-deepconf run [OPTIONS]\n"
    "       safety-deepconf compare [OPTIONS]      (the same as run --compare)\n"
    "\n"
    "Runs DeepConf on a safety benchmark: for each instance, sample traces, score\n"
    "them by the model's own logprobs, vote, and record the prediction with its\n"
    "confidence and category. Results go to a run directory (--out): run.json,\n"
    "traces.jsonl, predictions.jsonl, summary.json, summary.txt, report.html;\n"
    "the summary is printed at the end.\n"
    "\n"
    "With no options: the built-in synthetic benchmark, 20 instances, compare, on\n"
    "" DEFAULT_MODEL " when it is in the Hugging Face cache or can be downloaded,\n"
    "else on the offline demo model (random weights: its answers mean nothing,\n"
    "which the output says).\n"
    "\n"
    "Precedence: defaults < the config file (-c) < these options. Every key is\n"
    "documented in config/experiment_config.yaml; --set KEY=VALUE sets any of them.\n"
    "\n"
    "Model:\n"
    "  --model M             GGUF path, Hugging Face id (Qwen/Qwen3-0.6B, Qwen/Qwen3-8B,\n"
    "                        owner/repo-GGUF:QUANT), or with --backend openai the\n"
    "                        model name the server knows (model.name)\n"
    "  --backend llama|openai  in-process llama.cpp, or OpenAI-compatible servers\n"
    "  --endpoint URL        openai: a server base URL; repeat for several\n"
    "  --concurrency N       openai: requests in flight (default 8)\n"
    "  --api chat|completions  openai: /v1/chat/completions (default) or /v1/completions\n"
    "  --max-failures N      openai: stop the run after more than N failed traces\n"
    "                        (default: never; a failed trace is recorded, never judged)\n"
    "  --allow-insecure      openai: allow the API key over plain HTTP to a remote host\n"
    "  --threads N           llama: CPU threads (default: all cores)\n"
    "  --n-gpu-layers N      llama: layers on the GPU (GPU builds of llama.cpp)\n"
    "Benchmark:\n"
    "  --benchmark NAME      synthetic (default), auto, toxicchat, harmbench, wildguard,\n"
    "                        xstest, advbench, jailbreakbench, strongreject,\n"
    "                        refusal-direction, generic\n"
    "  --data PATH           the benchmark file (see 'safety-deepconf data --help')\n"
    "  --num-instances N     instances (default 20; 0: all)\n"
    "Generation:\n"
    "  --mode refusal|classify  answer the prompt (refusal detector), or say whether\n"
    "                        it is safe (default refusal)\n"
    "  --max-tokens N        per trace (default 256)\n"
    "  --temperature T       (default: Qwen3's, 0.7; 0.6 with thinking)\n"
    "  --thinking on|off     Qwen3 thinking mode (default off)\n"
    "  --seed S              run seed (default 42)\n"
    "DeepConf:\n"
    "  --strategy S          baseline, fixed, adaptive or online: run only that one,\n"
    "                        generating for real (online really stops traces)\n"
    "  --compare             generate the budget's traces once per instance and replay\n"
    "                        all four strategies over them (default)\n"
    "  --budget B            most traces per instance (default 10)\n"
    "  --parallel P          traces generated together (default 2)\n"
    "  --window W            group confidence window (default 64)\n"
    "  --profile paper|reference  confidence arithmetic (default paper)\n"
    "  --threshold T         confident when confidence >= T (default 0.5)\n"
    "Output:\n"
    "  -c, --config FILE     YAML configuration\n"
    "  --set KEY=VALUE       any configuration key (e.g. deepconf.keep_percent=10)\n"
    "  --out DIR             run directory (default results/<run name>-<UTC time>)\n"
    "  --resume              continue an interrupted run in DIR (same configuration)\n"
    "  --force               replace a finished or different run in DIR\n"
    "  --quiet               no progress on stderr\n"
    "  -h, --help            this text\n"
    "\n"
    "Progress goes to stderr: a bar with instances, traces/s, tokens/s and ETA on a\n"
    "terminal, a line every 10 seconds otherwise. Ctrl-C stops after the current\n"
    "instance is abandoned; what was finished stays, and --resume continues.\n"
    "Exit status: 0 ok, 1 the run failed (the message says why), 2 bad options,\n"
    "130 interrupted.\n";

/* ---- interrupt ---- */

static volatile sig_atomic_t g_interrupted;
static dc_backend *volatile g_backend;

static void on_signal(int sig)
{
    (void)sig;
    g_interrupted = 1;
    if (g_backend)
        dc_backend_cancel(g_backend);
}

/* ---- progress ---- */

typedef struct progress {
    int quiet, tty;
    double last;        /* when the last plain line was printed */
    double finished_at; /* elapsed seconds when the last instance finished */
} progress;

static int on_progress(void *user, const sdc_run_progress *p)
{
    progress *pg = user;
    if (g_interrupted)
        return 1;
    if (pg->quiet)
        return 0;
    size_t ran = p->done - p->skipped;
    size_t left = p->total - p->done;
    if (!p->partial)
        pg->finished_at = p->elapsed;
    /* time per finished instance; the one under way has already used some */
    double per = ran ? pg->finished_at / (double)ran : 0.0;
    double eta = per * (double)left - (p->elapsed - pg->finished_at);
    if (eta < 0)
        eta = 0;
    if (!ran)
        eta = NAN; /* unknown until the first instance is done */
    double tps = p->elapsed > 0 ? (double)p->traces / p->elapsed : 0.0;
    double kps = p->elapsed > 0 ? (double)p->tokens / p->elapsed : 0.0;
    if (pg->tty) {
        int width = 30,
            fill = p->total ? (int)((double)width * (double)p->done / (double)p->total) : 0;
        char bar[64];
        for (int i = 0; i < width; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[width] = '\0';
        char etas[32];
        snprintf(etas, sizeof etas, isnan(eta) ? "?" : "%.0fs", eta);
        fprintf(stderr, "\r[%s] %zu/%zu instances  %.2f traces/s  %.1f tokens/s  ETA %s%s  ", bar,
                p->done, p->total, tps, kps, etas, p->failed_traces ? "  (failed traces!)" : "");
        if (p->done == p->total && !p->partial)
            fputc('\n', stderr);
    } else {
        double t = p->elapsed;
        if (t - pg->last >= 10.0 || (!p->partial && (p->done == p->total || ran == 1))) {
            pg->last = t;
            char etas[32];
            snprintf(etas, sizeof etas, isnan(eta) ? "?" : "%.0fs", eta);
            fprintf(stderr,
                    "progress: %zu/%zu instances, %zu traces, %zu tokens, %.2f traces/s, %.1f "
                    "tokens/s, elapsed %.0fs, ETA %s%s\n",
                    p->done, p->total, p->traces, p->tokens, tps, kps, t, etas,
                    p->failed_traces ? ", some traces failed" : "");
        }
    }
    return 0;
}

/* ---- options ---- */

enum {
    O_MODEL = 256,
    O_BACKEND,
    O_ENDPOINT,
    O_CONCURRENCY,
    O_THREADS,
    O_NGL,
    O_BENCHMARK,
    O_DATA,
    O_NUM,
    O_MODE,
    O_MAXTOK,
    O_TEMP,
    O_THINKING,
    O_SEED,
    O_STRATEGY,
    O_COMPARE,
    O_BUDGET,
    O_PARALLEL,
    O_WINDOW,
    O_PROFILE,
    O_THRESHOLD,
    O_SET,
    O_OUT,
    O_RESUME,
    O_FORCE,
    O_QUIET,
    O_API,
    O_INSECURE,
    O_MAXFAIL
};

typedef struct kv {
    const char *key;
    char *value; /* owned */
} kv;

typedef struct run_opts {
    const char *config;
    kv sets[256];
    size_t n_sets;
} run_opts;

static int add_set(const char *cmd, run_opts *o, const char *key, const char *value)
{
    if (o->n_sets == sizeof o->sets / sizeof o->sets[0]) {
        cli_err(cmd, "too many options");
        return 0;
    }
    o->sets[o->n_sets].key = key;
    o->sets[o->n_sets].value = dc_strdup(value);
    o->n_sets++;
    return 1;
}

static void free_opts(run_opts *o)
{
    for (size_t i = 0; i < o->n_sets; i++)
        dc_free(o->sets[i].value);
}

/* Splits --set KEY=VALUE: the key into key[0..size), *value into arg. */
static int split_set(const char *cmd, const char *arg, char *key, size_t size, const char **value)
{
    const char *eq = strchr(arg, '=');
    size_t kl = eq ? (size_t)(eq - arg) : 0;
    if (!kl || kl >= size) {
        cli_err(cmd, "--set: expected KEY=VALUE with a key of 1 to %zu characters, got '%s'",
                size - 1, arg);
        return 0;
    }
    memcpy(key, arg, kl);
    key[kl] = '\0';
    *value = eq + 1;
    return 1;
}

/* Returns 1 ok, 0 usage error, -1 help shown. */
static int parse_run_opts(const char *cmd, int argc, char **argv, run_opts *o, int is_compare)
{
    static const struct option lo[] = {
        {"model", required_argument, NULL, O_MODEL},
        {"backend", required_argument, NULL, O_BACKEND},
        {"endpoint", required_argument, NULL, O_ENDPOINT},
        {"concurrency", required_argument, NULL, O_CONCURRENCY},
        {"api", required_argument, NULL, O_API},
        {"allow-insecure", no_argument, NULL, O_INSECURE},
        {"max-failures", required_argument, NULL, O_MAXFAIL},
        {"threads", required_argument, NULL, O_THREADS},
        {"n-gpu-layers", required_argument, NULL, O_NGL},
        {"benchmark", required_argument, NULL, O_BENCHMARK},
        {"data", required_argument, NULL, O_DATA},
        {"num-instances", required_argument, NULL, O_NUM},
        {"mode", required_argument, NULL, O_MODE},
        {"max-tokens", required_argument, NULL, O_MAXTOK},
        {"temperature", required_argument, NULL, O_TEMP},
        {"thinking", required_argument, NULL, O_THINKING},
        {"seed", required_argument, NULL, O_SEED},
        {"strategy", required_argument, NULL, O_STRATEGY},
        {"compare", no_argument, NULL, O_COMPARE},
        {"budget", required_argument, NULL, O_BUDGET},
        {"parallel", required_argument, NULL, O_PARALLEL},
        {"window", required_argument, NULL, O_WINDOW},
        {"profile", required_argument, NULL, O_PROFILE},
        {"threshold", required_argument, NULL, O_THRESHOLD},
        {"set", required_argument, NULL, O_SET},
        {"out", required_argument, NULL, O_OUT},
        {"resume", no_argument, NULL, O_RESUME},
        {"force", no_argument, NULL, O_FORCE},
        {"quiet", no_argument, NULL, O_QUIET},
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const struct {
        int opt;
        const char *key;
    } map[] = {
        {O_MODEL, "model.name"},
        {O_BACKEND, "model.backend"},
        {O_ENDPOINT, "model.endpoints"},
        {O_CONCURRENCY, "model.concurrency"},
        {O_API, "model.api"},
        {O_MAXFAIL, "model.max_failures"},
        {O_THREADS, "model.threads"},
        {O_NGL, "model.n_gpu_layers"},
        {O_BENCHMARK, "benchmark.name"},
        {O_DATA, "benchmark.data"},
        {O_NUM, "benchmark.num_instances"},
        {O_MODE, "generation.mode"},
        {O_MAXTOK, "generation.max_tokens"},
        {O_TEMP, "generation.temperature"},
        {O_THINKING, "generation.thinking"},
        {O_SEED, "generation.seed"},
        {O_BUDGET, "deepconf.budget"},
        {O_PARALLEL, "deepconf.parallel"},
        {O_WINDOW, "deepconf.window"},
        {O_PROFILE, "deepconf.profile"},
        {O_THRESHOLD, "deepconf.threshold"},
        {O_OUT, "output.dir"},
    };
    memset(o, 0, sizeof *o);
    if (is_compare && !add_set(cmd, o, "deepconf.compare", "true"))
        return 0;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "+hc:", lo, NULL)) != -1) {
        const char *key = NULL;
        for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
            if (map[i].opt == c)
                key = map[i].key;
        if (key) {
            if (!add_set(cmd, o, key, optarg))
                return 0;
            continue;
        }
        switch (c) {
        case 'h': fputs(run_usage, stdout); return -1;
        case 'c': o->config = optarg; break;
        case O_STRATEGY:
            if (is_compare) {
                cli_err(cmd, "--strategy runs one strategy; compare runs all four");
                return 0;
            }
            if (!add_set(cmd, o, "deepconf.strategy", optarg) ||
                !add_set(cmd, o, "deepconf.compare", "false"))
                return 0;
            break;
        case O_COMPARE:
            if (!add_set(cmd, o, "deepconf.compare", "true"))
                return 0;
            break;
        case O_SET: {
            static char keys[256][96];
            const char *value;
            if (o->n_sets == sizeof keys / sizeof keys[0] ||
                !split_set(cmd, optarg, keys[o->n_sets], sizeof keys[0], &value) ||
                !add_set(cmd, o, keys[o->n_sets], value))
                return 0;
            break;
        }
        case O_INSECURE:
            if (!add_set(cmd, o, "model.allow_insecure", "true"))
                return 0;
            break;
        case O_RESUME:
            if (!add_set(cmd, o, "output.resume", "true"))
                return 0;
            break;
        case O_FORCE:
            if (!add_set(cmd, o, "output.force", "true"))
                return 0;
            break;
        case O_QUIET:
            if (!add_set(cmd, o, "output.quiet", "true"))
                return 0;
            break;
        case ':': cli_err(cmd, "%s needs a value", argv[optind - 1]); return 0;
        default: cli_err(cmd, "unknown option '%s' (see --help)", argv[optind - 1]); return 0;
        }
    }
    if (optind < argc) {
        cli_err(cmd, "unexpected argument '%s' (see --help)", argv[optind]);
        return 0;
    }
    return 1;
}

/* ---- model ---- */

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static const char *cache_root(char *buf, size_t n)
{
    const char *c = getenv("SDC_CACHE_DIR");
    if (c && *c)
        snprintf(buf, n, "%s", c);
    else if (getenv("XDG_CACHE_HOME") && *getenv("XDG_CACHE_HOME"))
        snprintf(buf, n, "%s/safety-deepconf", getenv("XDG_CACHE_HOME"));
    else
        snprintf(buf, n, "%s/.cache/safety-deepconf", getenv("HOME") ? getenv("HOME") : "/tmp");
    return buf;
}

static int demo_progress(void *user, float f)
{
    (void)user;
    (void)f;
    return !g_interrupted;
}

/* The offline demo model, made once in the cache. */
static int demo_model(const char *cmd, char *path, size_t n)
{
    char root[3072], dir[3200];
    cache_root(root, sizeof root);
    snprintf(dir, sizeof dir, "%s/models", root);
    snprintf(path, n, "%s/demo-tiny-seed1.gguf", dir);
    if (file_exists(path))
        return 1;
    if (sdc_mkdirs(dir, 0777) != 0) {
        cli_err(cmd, "cannot create %s for the demo model: %s", dir, strerror(errno));
        return 0;
    }
    dc_demo_params dp = dc_demo_default_params();
    dp.progress = demo_progress;
    dc_error err = {0};
    if (dc_demo_write(path, &dp, &err) != DC_STATUS_OK) {
        cli_err(cmd, "cannot make the demo model %s: %s", path, err.msg);
        return 0;
    }
    return 1;
}

static int pull_progress(void *user, uint64_t done, uint64_t total)
{
    progress *pg = user;
    if (!pg->quiet && pg->tty && total)
        fprintf(stderr, "\rdownloading: %.1f / %.1f MB", (double)done / 1e6, (double)total / 1e6);
    return !g_interrupted;
}

/* Resolves cfg->model into a GGUF path; *is_demo when the demo is used. */
static int resolve_model(const char *cmd, sdc_config *cfg, char *path, size_t n, int *is_demo,
                         progress *pg, int quiet)
{
    *is_demo = 0;
    const char *spec = cfg->model;
    int given = spec && *spec;
    if (given && dc_hf_is_path(spec)) {
        if (!file_exists(spec)) {
            cli_err(cmd, "--model %s: no such file", spec);
            return 0;
        }
        snprintf(path, n, "%s", spec);
        return 1;
    }
    dc_hf_params hp = dc_hf_default_params();
    hp.progress = pull_progress;
    hp.progress_user = pg;
    if (!given)
        hp.connect_timeout_s = 5;
    dc_hf_result hr;
    dc_error err = {0};
    dc_status st = dc_hf_pull(given ? spec : DEFAULT_MODEL, &hp, &hr, &err);
    if (pg->tty && !pg->quiet)
        fputc('\n', stderr);
    if (st == DC_STATUS_OK) {
        snprintf(path, n, "%s", hr.path);
        dc_hf_result_clear(&hr);
        return 1;
    }
    if (given) {
        cli_err(cmd, "--model %s: %s", spec, err.msg);
        return 0;
    }
    if (!quiet)
        fprintf(stderr,
                "note: no model given and %s is neither cached nor downloadable (%s).\n"
                "note: using the OFFLINE DEMO MODEL: random weights, so its answers and "
                "confidences mean nothing; it shows the pipeline works. Use --model for real "
                "results.\n",
                DEFAULT_MODEL, err.msg);
    *is_demo = 1;
    return demo_model(cmd, path, n);
}

static int llama_progress(void *user, float f)
{
    (void)user;
    (void)f;
    return !g_interrupted;
}

static dc_backend *open_backend(const char *cmd, sdc_config *cfg, const char *model_path,
                                dc_model_info *info)
{
    dc_backend *b = NULL;
    dc_error err = {0};
    dc_status st;
    if (!strcmp(cfg->backend, "openai")) {
        dc_openai_params p = dc_backend_openai_default_params();
        p.endpoints = (const char *const *)cfg->endpoints;
        p.n_endpoints = cfg->n_endpoints;
        dc_openai_api_parse(cfg->api, &p.api);
        const char *m = *cfg->server_model ? cfg->server_model : *cfg->model ? cfg->model : NULL;
        p.model = m;
        p.concurrency = (size_t)cfg->concurrency;
        p.api_key_env = cfg->api_key_env;
        p.allow_insecure = cfg->allow_insecure;
        if (cfg->max_failures >= 0)
            p.max_failures = (size_t)cfg->max_failures;
        st = dc_backend_openai_open(&p, &b, &err);
    } else {
        dc_llama_params p = dc_llama_default_params();
        p.model_path = model_path;
        p.n_ctx = (uint32_t)(cfg->ctx_size ? cfg->ctx_size : 0);
        if (!p.n_ctx) {
            int64_t need = cfg->max_tokens + 1024;
            p.n_ctx = (uint32_t)(need < 4096 ? 4096 : need);
        }
        p.parallel = (uint32_t)cfg->parallel;
        p.n_batch = (uint32_t)cfg->batch_size;
        p.n_threads = (int32_t)cfg->threads;
        p.n_gpu_layers = (int32_t)cfg->n_gpu_layers;
        p.progress = llama_progress;
        st = dc_backend_llama_open(&p, &b, &err);
    }
    if (st != DC_STATUS_OK) {
        cli_err(cmd, "opening the %s backend failed: %s", cfg->backend, err.msg);
        return NULL;
    }
    dc_backend_describe(b, info);
    return b;
}

/* ---- data ---- */

static sdc_dataset *load_data(const char *cmd, const sdc_config *cfg)
{
    sdc_dataset *ds = NULL;
    dc_error err = {0};
    dc_status st;
    if (!strcmp(cfg->benchmark, "synthetic")) {
        sdc_synth_params sp = sdc_synth_default_params();
        sp.seed = (uint64_t)cfg->seed;
        sp.num_instances = cfg->num_instances > 0 ? (size_t)cfg->num_instances * 4 : 400;
        st = sdc_synth_generate(&sp, &ds, &err);
    } else {
        sdc_load_params lp = sdc_load_default_params();
        if (strcmp(cfg->benchmark, "auto") != 0 &&
            sdc_benchmark_from_name(cfg->benchmark, &lp.benchmark) != DC_STATUS_OK) {
            cli_err(cmd, "benchmark.name: unknown benchmark '%s'", cfg->benchmark);
            return NULL;
        }
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
        st = sdc_dataset_load(cfg->data, &lp, &ds, &err);
    }
    if (st != DC_STATUS_OK) {
        cli_err(cmd, "%s", err.msg);
        return NULL;
    }
    sdc_select_params sel = sdc_select_default_params();
    sel.num_instances = (size_t)cfg->num_instances;
    sel.shuffle = cfg->shuffle;
    sel.seed = (unsigned long long)cfg->seed;
    sel.stratify = cfg->stratify;
    sel.categories = *cfg->categories ? cfg->categories : NULL;
    sel.split = *cfg->split ? cfg->split : NULL;
    if ((st = sdc_dataset_select(ds, &sel, &err)) != DC_STATUS_OK) {
        cli_err(cmd, "selecting instances: %s", err.msg);
        sdc_dataset_free(ds);
        return NULL;
    }
    if (ds->n == 0) {
        cli_err(cmd,
                "no instances left after selection (check --num-instances, categories, split)");
        sdc_dataset_free(ds);
        return NULL;
    }
    return ds;
}

/* ---- run.json ---- */

static char *run_json_text(const sdc_config *cfg, const dc_model_info *mi, const char *model_path,
                           const char *model_sha, int is_demo, const sdc_dataset *ds,
                           const char *fingerprint, int argc, char **argv)
{
    sdc_buf b;
    sdc_buf_init(&b, 0);
    jw w;
    jw_init(&w, &b);
    char *cj = sdc_config_to_json(cfg);
    time_t now = time(NULL);
    char ts[64];
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    jw_obj_begin(&w);
    jw_key(&w, "format");
    jw_int(&w, 1);
    jw_key(&w, "created_at");
    jw_str(&w, ts);
    jw_key(&w, "fingerprint");
    jw_str(&w, fingerprint);
    jw_key(&w, "command");
    jw_arr_begin(&w);
    for (int i = 0; i < argc; i++)
        jw_str(&w, argv[i]);
    jw_arr_end(&w);
    jw_key(&w, "config");
    jw_raw(&w, cj ? cj : "null");
    jw_key(&w, "model");
    jw_obj_begin(&w);
    jw_key(&w, "backend");
    jw_str(&w, mi->backend);
    jw_key(&w, "spec");
    jw_str(&w, cfg->model);
    jw_key(&w, "path");
    jw_str(&w, model_path);
    jw_key(&w, "sha256");
    jw_str(&w, model_sha && *model_sha ? model_sha : NULL);
    jw_key(&w, "demo");
    jw_bool(&w, is_demo);
    jw_key(&w, "name");
    jw_str(&w, mi->name);
    jw_key(&w, "arch");
    jw_str(&w, mi->arch);
    jw_key(&w, "quant");
    jw_str(&w, mi->quant);
    jw_key(&w, "n_params");
    jw_uint(&w, mi->n_params);
    jw_key(&w, "size_bytes");
    jw_uint(&w, mi->size_bytes);
    jw_key(&w, "n_ctx_train");
    jw_uint(&w, mi->n_ctx_train);
    jw_obj_end(&w);
    jw_key(&w, "dataset");
    jw_obj_begin(&w);
    jw_key(&w, "benchmark");
    jw_str(&w, sdc_benchmark_name(ds->benchmark));
    jw_key(&w, "file");
    jw_str(&w, cfg->data);
    jw_key(&w, "instances");
    jw_uint(&w, ds->n);
    jw_key(&w, "rows_read");
    jw_uint(&w, ds->rows_read);
    jw_obj_end(&w);
    jw_key(&w, "seeds");
    jw_obj_begin(&w);
    jw_key(&w, "run");
    jw_int(&w, cfg->seed);
    jw_key(&w, "trace_seed");
    jw_str(&w, "dc_trace_seed(run, instance_id, trace_index)");
    jw_obj_end(&w);
    jw_key(&w, "versions");
    jw_str(&w, dc_build_info());
    jw_obj_end(&w);
    sdc_buf_putc(&b, '\n');
    dc_free(cj);
    if (b.st != DC_STATUS_OK) {
        sdc_buf_free(&b);
        return NULL;
    }
    return sdc_buf_take(&b);
}

/* ---- analysis files ---- */

static int write_analysis(const char *cmd, const char *dir, double theta, int print, int quiet)
{
    sdc_prediction_list pl;
    size_t torn = 0;
    dc_error err = {0};
    if (sdc_predictions_load(dir, &pl, &torn, &err) != DC_STATUS_OK) {
        cli_err(cmd, "%s", err.msg);
        return 0;
    }
    if (torn && !quiet)
        fprintf(stderr,
                "note: %s/predictions.jsonl ends in a torn line (an interrupted run); "
                "it was left out\n",
                dir);
    sdc_analysis_params ap = sdc_analysis_default_params();
    ap.theta = theta;
    ap.run_name = dir;
    char *json = NULL, *text = NULL, *html = NULL;
    dc_status st = sdc_analyze(pl.items, pl.n, &ap, &json, &text);
    if (st == DC_STATUS_OK)
        st = sdc_report_html(pl.items, pl.n, &ap, &html);
    int ok = st == DC_STATUS_OK;
    if (!ok)
        cli_err(cmd, "analysis failed: %s", dc_strerror(st));
    if (ok && (sdc_results_write_file(dir, "summary.json", json, &err) != DC_STATUS_OK ||
               sdc_results_write_file(dir, "summary.txt", text, &err) != DC_STATUS_OK ||
               sdc_results_write_file(dir, "report.html", html, &err) != DC_STATUS_OK)) {
        cli_err(cmd, "%s", err.msg);
        ok = 0;
    }
    if (ok && print)
        ok = cli_write_stdout(cmd, text, strlen(text));
    dc_free(json);
    dc_free(text);
    dc_free(html);
    sdc_prediction_list_free(&pl);
    return ok;
}

/* ---- run ---- */

static int run_main(const char *cmd, int argc, char **argv, int is_compare)
{
    run_opts o;
    int r = parse_run_opts(cmd, argc, argv, &o, is_compare);
    if (r <= 0) {
        free_opts(&o);
        return r < 0 ? CLI_OK : CLI_USAGE;
    }
    sdc_config *cfg = sdc_config_new();
    if (!cfg) {
        free_opts(&o);
        cli_err(cmd, "out of memory");
        return CLI_FAIL;
    }
    int rc = CLI_FAIL;
    dc_error err = {0};
    sdc_dataset *ds = NULL;
    sdc_refusal *det = NULL;
    dc_backend *b = NULL;
    char *run_json = NULL;
    if (o.config && sdc_config_load(cfg, o.config, &err) != DC_STATUS_OK) {
        cli_err(cmd, "%s", err.msg);
        rc = CLI_USAGE;
        goto out;
    }
    for (size_t i = 0; i < o.n_sets; i++)
        if (sdc_config_set(cfg, o.sets[i].key, o.sets[i].value, &err) != DC_STATUS_OK) {
            cli_err(cmd, "%s", err.msg);
            rc = CLI_USAGE;
            goto out;
        }
    if (sdc_config_validate(cfg, &err) != DC_STATUS_OK) {
        cli_err(cmd, "%s", err.msg);
        rc = CLI_USAGE;
        goto out;
    }
    progress pg = {cfg->quiet, isatty(2), -1e9, 0.0};
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    /* the refusal detector, from the config file's refusal section */
    if (sdc_refusal_open(o.config, cfg->refusal_mode, &det, &err) != DC_STATUS_OK) {
        cli_err(cmd, "%s", err.msg);
        goto out;
    }
    if (!(ds = load_data(cmd, cfg)))
        goto out;

    char model_path[4096] = "";
    int is_demo = 0;
    if (!strcmp(cfg->backend, "llama") &&
        !resolve_model(cmd, cfg, model_path, sizeof model_path, &is_demo, &pg, cfg->quiet))
        goto out;
    if (!cfg->quiet && *model_path)
        fprintf(stderr, "loading %s\n", model_path);
    dc_model_info mi;
    if (!(b = open_backend(cmd, cfg, model_path, &mi)))
        goto out;
    g_backend = b;

    /* identity and run directory */
    char identity[4300];
    char sha[65] = "";
    if (*model_path) {
        /* the model's identity is its content, wherever the file lives */
        if (!cfg->quiet)
            fprintf(stderr, "checksumming the model (sha256)\n");
        if (dc_sha256_file(model_path, sha, &err) != DC_STATUS_OK) {
            cli_err(cmd, "%s", err.msg);
            goto out;
        }
        snprintf(identity, sizeof identity, "sha256:%s", sha);
    } else {
        snprintf(identity, sizeof identity, "%s|%s", cfg->backend, mi.name);
    }
    char fp[17];
    sdc_run_fingerprint(cfg, identity, fp);
    char dir[4096];
    if (*cfg->out) {
        snprintf(dir, sizeof dir, "%s", cfg->out);
    } else {
        const char *base = *model_path ? strrchr(model_path, '/') : NULL;
        base = base ? base + 1 : *model_path ? model_path : mi.name;
        char name[512];
        if (*cfg->run_name)
            snprintf(name, sizeof name, "%.400s", cfg->run_name);
        else
            snprintf(name, sizeof name, "%.64s-%.256s-%.32s-%.32s", cfg->benchmark, base, cfg->mode,
                     cfg->compare ? "compare" : cfg->strategy);
        for (char *p = name; *p; p++)
            if (*p == '/' || *p == ' ' || *p == ':')
                *p = '_';
        if (cfg->resume) {
            cli_err(cmd, "--resume needs the run's directory: --out DIR");
            rc = CLI_USAGE;
            goto out;
        }
        /* a new directory per run, so that running the same command twice works */
        time_t now = time(NULL);
        char stamp[32];
        strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", gmtime(&now));
        snprintf(dir, sizeof dir, "results/%s-%s", name, stamp);
    }
    if (!(run_json = run_json_text(cfg, &mi, model_path, sha, is_demo, ds, fp, argc, argv))) {
        cli_err(cmd, "out of memory");
        goto out;
    }
    if (!cfg->quiet)
        fprintf(stderr, "run: %zu instances of %s, %s, mode %s, model %s%s -> %s\n", ds->n,
                sdc_benchmark_name(ds->benchmark),
                cfg->compare ? "compare (baseline, fixed, adaptive, online)" : cfg->strategy,
                cfg->mode, *mi.name ? mi.name : model_path,
                is_demo ? " (DEMO, random weights)" : "", dir);
    sdc_run_params rp = {cfg, b, ds, det, dir, run_json, fp, on_progress, &pg};
    sdc_run_stats stats;
    dc_status st = sdc_run_execute(&rp, &stats, &err);
    g_backend = NULL;
    if (st != DC_STATUS_OK) {
        if (pg.tty && !cfg->quiet)
            fputc('\n', stderr);
        cli_err(cmd, "%s", err.msg);
        if (st == DC_STATUS_EXISTS) {
            rc = CLI_USAGE;
            goto out;
        }
        if (stats.instances || stats.skipped)
            fprintf(stderr,
                    "what finished is in %s; '%s --resume --out %s' (same options) "
                    "continues\n",
                    dir, cmd, dir);
        rc = st == DC_STATUS_CANCELLED ? 130 : CLI_FAIL;
        goto out;
    }
    if (!write_analysis(cmd, dir, cfg->threshold, 1, cfg->quiet))
        goto out;
    if (!cfg->quiet) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        fprintf(stderr,
                "done: %zu instances (%zu resumed), %zu traces, %zu tokens in %.1f s, "
                "peak memory %.0f MB\nresults: %s/ (summary.txt, report.html)\n",
                stats.instances + stats.skipped, stats.skipped, stats.traces, stats.tokens,
                stats.seconds, (double)ru.ru_maxrss / 1024.0, dir);
        if (is_demo)
            fprintf(stderr, "reminder: the DEMO model has random weights; these numbers only "
                            "show that the pipeline runs\n");
    }
    rc = CLI_OK;
out:
    dc_free(run_json);
    dc_backend_free(b);
    sdc_dataset_free(ds);
    sdc_refusal_free(det);
    sdc_config_free(cfg);
    free_opts(&o);
    return rc;
}

int cmd_run(int argc, char **argv)
{
    return run_main("run", argc, argv, 0);
}

int cmd_compare(int argc, char **argv)
{
    return run_main("compare", argc, argv, 1);
}

/* ---- analyze --replay ---- */

/* Re-runs the strategies of a compare run over its saved traces, with
 * changed DeepConf settings, into a new run directory. */
static int replay_main(const char *cmd, const char *src, const char *dst, kv *sets, size_t n_sets,
                       int force, int quiet, double theta)
{
    int rc = CLI_FAIL;
    dc_error err = {0};
    char path[4200];
    snprintf(path, sizeof path, "%s/run.json", src);
    json_error_t je;
    json_t *old = json_load_file(path, 0, &je);
    sdc_config *cfg = sdc_config_new();
    sdc_dataset *ds = NULL;
    sdc_refusal *det = NULL;
    dc_backend *b = NULL;
    char *run_json = NULL;
    sdc_prediction_list pl = {0};
    if (!old) {
        cli_err(cmd, "%s: %s", path, je.text);
        goto out;
    }
    if (!cfg) {
        cli_err(cmd, "out of memory");
        goto out;
    }
    char *cj = json_dumps(json_object_get(old, "config"), 0);
    dc_status st = cj ? sdc_config_load_json(cfg, cj, &err) : DC_STATUS_FORMAT;
    free(cj);
    if (st != DC_STATUS_OK) {
        cli_err(cmd, "%s: %s", path, *err.msg ? err.msg : "no \"config\" object");
        goto out;
    }
    if (!cfg->compare) {
        cli_err(cmd, "%s was not a compare run: only the traces of a compare run can be replayed",
                src);
        goto out;
    }
    for (size_t i = 0; i < n_sets; i++) {
        if (strncmp(sets[i].key, "deepconf.", 9) != 0) {
            cli_err(cmd,
                    "--set %s: a replay can change deepconf.* keys only (the traces are "
                    "fixed)",
                    sets[i].key);
            rc = CLI_USAGE;
            goto out;
        }
        if (sdc_config_set(cfg, sets[i].key, sets[i].value, &err) != DC_STATUS_OK) {
            cli_err(cmd, "%s", err.msg);
            rc = CLI_USAGE;
            goto out;
        }
    }
    cfg->compare = 1;
    cfg->resume = 0;
    cfg->force = force;
    cfg->quiet = quiet;
    if (!isnan(theta))
        cfg->threshold = theta;
    dc_free(cfg->out);
    cfg->out = dc_strdup(dst);
    if (sdc_config_validate(cfg, &err) != DC_STATUS_OK) {
        cli_err(cmd, "%s", err.msg);
        rc = CLI_USAGE;
        goto out;
    }
    /* the instances, from the old predictions */
    if (sdc_predictions_load(src, &pl, NULL, &err) != DC_STATUS_OK) {
        cli_err(cmd, "%s", err.msg);
        goto out;
    }
    sdc_benchmark bm = SDC_BENCHMARK_SYNTHETIC;
    if (pl.n && pl.items[0].benchmark)
        sdc_benchmark_from_name(pl.items[0].benchmark, &bm);
    if (!(ds = sdc_dataset_new(bm))) {
        cli_err(cmd, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < pl.n; i++) {
        if (i && !strcmp(pl.items[i].instance_id, pl.items[i - 1].instance_id))
            continue;
        sdc_instance in;
        memset(&in, 0, sizeof in);
        in.id = (char *)pl.items[i].instance_id;
        /* the refusal classifier reads the prompt: replaying must see the same */
        in.prompt =
            (char *)(pl.items[i].prompt ? pl.items[i].prompt : "(replayed from saved traces)");
        in.label = pl.items[i].label;
        in.category = (char *)(pl.items[i].harm_category ? pl.items[i].harm_category : "");
        if (pl.items[i].benchmark)
            sdc_benchmark_from_name(pl.items[i].benchmark, &in.benchmark);
        if (sdc_dataset_push(ds, &in) != DC_STATUS_OK) {
            cli_err(cmd, "out of memory");
            goto out;
        }
    }
    const char *cfgfile = cfg->config_path;
    if (sdc_refusal_open(cfgfile && *cfgfile && access(cfgfile, R_OK) == 0 ? cfgfile : NULL,
                         cfg->refusal_mode, &det, &err) != DC_STATUS_OK) {
        cli_err(cmd, "%s", err.msg);
        goto out;
    }
    snprintf(path, sizeof path, "%s/traces.jsonl", src);
    if (dc_backend_replay_open_file(path, &b, &err) != DC_STATUS_OK) {
        cli_err(cmd, "%s", err.msg);
        goto out;
    }
    g_backend = b;
    json_t *om = json_object_get(old, "model");
    const char *sha = json_string_value(json_object_get(om, "sha256"));
    char identity[512];
    snprintf(identity, sizeof identity, "replay:%s", sha ? sha : src);
    char fp[17];
    sdc_run_fingerprint(cfg, identity, fp);
    dc_model_info mi;
    dc_backend_describe(b, &mi);
    if (json_is_string(json_object_get(om, "name")))
        snprintf(mi.name, sizeof mi.name, "%s", json_string_value(json_object_get(om, "name")));
    if (!(run_json = run_json_text(cfg, &mi, json_string_value(json_object_get(om, "path")), sha, 0,
                                   ds, fp, 0, NULL))) {
        cli_err(cmd, "out of memory");
        goto out;
    }
    /* record where the traces came from */
    json_t *rj = json_loads(run_json, 0, NULL);
    json_object_set_new(rj, "replayed_from", json_string(src));
    json_object_set(rj, "original_model", om);
    char *rjs = json_dumps(rj, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(rj);
    dc_free(run_json);
    run_json = rjs ? dc_strdup(rjs) : NULL;
    free(rjs);
    if (!run_json) {
        cli_err(cmd, "out of memory");
        goto out;
    }
    progress pg = {quiet, isatty(2), -1e9, 0.0};
    sdc_run_params rp = {cfg, b, ds, det, dst, run_json, fp, on_progress, &pg};
    sdc_run_stats stats;
    if (sdc_run_execute(&rp, &stats, &err) != DC_STATUS_OK) {
        cli_err(cmd, "%s", err.msg);
        goto out;
    }
    g_backend = NULL;
    if (!write_analysis(cmd, dst, cfg->threshold, 1, quiet))
        goto out;
    if (!quiet)
        fprintf(stderr, "replayed %zu instances of %s into %s/\n", stats.instances, src, dst);
    rc = CLI_OK;
out:
    g_backend = NULL;
    json_decref(old);
    dc_free(run_json);
    dc_backend_free(b);
    sdc_dataset_free(ds);
    sdc_refusal_free(det);
    sdc_prediction_list_free(&pl);
    sdc_config_free(cfg);
    return rc;
}

/* ---- analyze / report ---- */

static int analyze_main(const char *cmd, int argc, char **argv, int print)
{
    static const struct option lo[] = {{"threshold", required_argument, NULL, 't'},
                                       {"quiet", no_argument, NULL, 'q'},
                                       {"replay", no_argument, NULL, 'r'},
                                       {"out", required_argument, NULL, 'o'},
                                       {"set", required_argument, NULL, 's'},
                                       {"force", no_argument, NULL, 'f'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    double theta = NAN;
    int quiet = 0, replay = 0, force = 0;
    const char *out_dir = NULL;
    kv sets[64];
    static char set_keys[64][96];
    size_t n_sets = 0;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'h':
            printf("usage: safety-deepconf %s RUN_DIR [--threshold T] [--quiet]\n%s\n%s", cmd,
                   print ? "       safety-deepconf analyze RUN_DIR --replay --out NEW_DIR "
                           "[--set deepconf.KEY=VALUE ...] [--force]\n"
                         : "",
                   print ? "Recomputes the analysis of a run from its predictions.jsonl alone\n"
                           "and writes summary.json, summary.txt and report.html; prints\n"
                           "summary.txt. --threshold T (default: the run's deepconf.threshold,\n"
                           "else 0.5) splits confident from uncertain predictions. A torn last\n"
                           "line (interrupted run) is left out with a note.\n\n"
                           "--replay re-runs the four strategies over the traces a compare run\n"
                           "saved with tokens (traces.jsonl), with DeepConf settings changed by\n"
                           "--set (deepconf.* keys only: budget, warmup, keep_percent, window,\n"
                           "consensus, profile, vote_score, ...), into the new run directory\n"
                           "NEW_DIR, without generating anything. The budget cannot exceed the\n"
                           "traces saved per instance.\n"
                         : "Writes RUN_DIR/report.html (and the summaries) from the run's\n"
                           "predictions.jsonl: tables and SVG plots (reliability diagram,\n"
                           "confidence by category, accuracy vs tokens per strategy,\n"
                           "risk-coverage), one self-contained file.\n");
            return CLI_OK;
        case 't':
            if (!cli_parse_double(cmd, "--threshold", optarg, 0.0, 1.0, &theta))
                return CLI_USAGE;
            break;
        case 'q': quiet = 1; break;
        case 'r': replay = 1; break;
        case 'f': force = 1; break;
        case 'o': out_dir = optarg; break;
        case 's': {
            const char *value;
            if (n_sets == 64) {
                cli_err(cmd, "--set: at most 64");
                return CLI_USAGE;
            }
            if (!split_set(cmd, optarg, set_keys[n_sets], sizeof set_keys[0], &value))
                return CLI_USAGE;
            sets[n_sets].key = set_keys[n_sets];
            sets[n_sets].value = (char *)value;
            n_sets++;
            break;
        }
        default:
            cli_err(cmd, "unknown option '%s' (see --help)", argv[optind - 1]);
            return CLI_USAGE;
        }
    }
    if (optind + 1 != argc) {
        cli_err(cmd, "expected one RUN_DIR");
        return CLI_USAGE;
    }
    const char *dir = argv[optind];
    if (replay || out_dir || n_sets || force) {
        if (!replay || !out_dir || !print) {
            cli_err(cmd, "--out, --set and --force go with --replay, which needs --out NEW_DIR");
            return CLI_USAGE;
        }
        return replay_main(cmd, dir, out_dir, sets, n_sets, force, quiet, theta);
    }
    if (isnan(theta)) {
        /* the run's own deepconf.threshold, else the default */
        char p[4200];
        snprintf(p, sizeof p, "%s/run.json", dir);
        json_t *rj = json_load_file(p, 0, NULL);
        json_t *t = json_object_get(json_object_get(json_object_get(rj, "config"), "deepconf"),
                                    "threshold");
        theta = json_is_number(t) ? json_number_value(t) : 0.5;
        if (!(theta >= 0 && theta <= 1))
            theta = 0.5;
        json_decref(rj);
    }
    if (!write_analysis(cmd, dir, theta, print, quiet))
        return CLI_FAIL;
    if (!print && !quiet)
        fprintf(stderr, "wrote %s/report.html\n", dir);
    return CLI_OK;
}

int cmd_analyze(int argc, char **argv)
{
    return analyze_main("analyze", argc, argv, 1);
}

int cmd_report(int argc, char **argv)
{
    return analyze_main("report", argc, argv, 0);
}
