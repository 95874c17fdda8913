/* cmd_run.c - `safety-deepconf run`, `compare`, `analyze` and `report`. */
#define _GNU_SOURCE
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cli/cli.h"
#include "safety/sdc_config.h"
#include "safety/sdc_experiment.h"

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
    "" SDC_DEFAULT_MODEL " when it is in the Hugging Face cache or can be downloaded,\n"
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
    "  --slots N             llama: traces decoded together (default: auto, as many as\n"
    "                        --memory-limit holds, at most 32; model.parallel)\n"
    "  --memory-limit MIB    llama: memory for weights, KV cache and compute buffers\n"
    "                        (default: half the physical memory)\n"
    "Benchmark:\n"
    "  --benchmark NAME      synthetic (default), auto, toxicchat, harmbench, wildguard,\n"
    "                        xstest, advbench, jailbreakbench, strongreject,\n"
    "                        refusal-direction, generic\n"
    "  --data PATH           the benchmark file (see 'safety-deepconf data --help');\n"
    "                        without it a named benchmark's file is downloaded from\n"
    "                        the Hugging Face Hub into its cache ('data list')\n"
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
    "  --parallel P          adaptive and online add traces in steps of P (default 2;\n"
    "                        the speed setting is --slots)\n"
    "  --window W            group confidence window (default 64)\n"
    "  --profile paper|reference  confidence arithmetic (default paper)\n"
    "  --threshold T         confident when confidence >= T (default 0.5)\n"
    "Output:\n"
    "  -c, --config FILE     YAML configuration\n"
    "  --set KEY=VALUE       any configuration key (e.g. deepconf.keep_percent=10)\n"
    "  --out DIR             run directory (default results/<run name>-<UTC time>)\n"
    "  --save-tokens none|topk|full  per-token records in traces.jsonl (default topk:\n"
    "                        ids and logprobs; full: also texts; none: no replay)\n"
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

static const char *const analyze_usage =
    "usage: safety-deepconf analyze RUN_DIR [--threshold T] [--quiet]\n"
    "       safety-deepconf analyze RUN_DIR --replay --out NEW_DIR [--set deepconf.KEY=VALUE ...]\n"
    "                               [--force] [--quiet]\n"
    "\n"
    "Recomputes the analysis of a run from its predictions.jsonl alone\n"
    "and writes summary.json, summary.txt and report.html; prints\n"
    "summary.txt. --threshold T (default: the run's deepconf.threshold,\n"
    "else 0.5) splits confident from uncertain predictions. A torn last\n"
    "line (interrupted run) is left out with a note.\n\n"
    "--replay re-runs the four strategies over the traces a compare run\n"
    "saved with tokens (traces.jsonl), with DeepConf settings changed by\n"
    "--set (deepconf.* keys only: budget, warmup, keep_percent, window,\n"
    "consensus, profile, vote_score, ...), into the new run directory\n"
    "NEW_DIR, without generating anything. The budget cannot exceed the\n"
    "traces saved per instance. --force replaces a run in NEW_DIR.\n";

static const char *const report_usage =
    "usage: safety-deepconf report RUN_DIR [--threshold T] [--quiet]\n"
    "\n"
    "Writes RUN_DIR/report.html (and the summaries) from the run's\n"
    "predictions.jsonl: tables and SVG plots (reliability diagram,\n"
    "confidence by category, accuracy vs tokens per strategy,\n"
    "risk-coverage), one self-contained file.\n";

/* ---- interrupt ---- */

static volatile sig_atomic_t g_interrupted;
static sdc_experiment *volatile g_experiment;

static void on_signal(int sig)
{
    (void)sig;
    g_interrupted = 1;
    sdc_experiment_cancel(g_experiment);
}

/* ---- progress ---- */

typedef struct progress {
    int quiet, tty;
    double last;        /* when the last plain line was printed */
    double finished_at; /* elapsed seconds when the last instance finished */
    cli_progress download;
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
    O_SAVE_TOKENS,
    O_SLOTS,
    O_MEMLIMIT,
    O_RESUME,
    O_FORCE,
    O_QUIET,
    O_API,
    O_INSECURE,
    O_MAXFAIL
};

typedef struct kv {
    char *key, *value; /* owned */
} kv;

typedef struct run_opts {
    const char *config;
    kv sets[256];
    size_t n_sets;
    int resume, force, quiet; /* the interface's, not the experiment's settings */
    const char *out;          /* analyze --replay --out */
} run_opts;

/* Adds KEY=VALUE; with value NULL, key is "KEY=VALUE" text from --set. */
static int add_set(const char *cmd, run_opts *o, const char *key, const char *value)
{
    if (o->n_sets == sizeof o->sets / sizeof o->sets[0]) {
        cli_err(cmd, "too many options");
        return 0;
    }
    size_t kl = strlen(key);
    if (!value) {
        const char *eq = strchr(key, '=');
        if (!eq || eq == key) {
            cli_err(cmd, "--set: expected KEY=VALUE, got '%s'", key);
            return 0;
        }
        kl = (size_t)(eq - key);
        value = eq + 1;
    }
    kv *s = &o->sets[o->n_sets];
    s->key = dc_malloc(kl + 1);
    s->value = dc_strdup(value);
    if (!s->key || !s->value) {
        dc_free(s->key);
        dc_free(s->value);
        cli_err(cmd, "out of memory");
        return 0;
    }
    memcpy(s->key, key, kl);
    s->key[kl] = '\0';
    o->n_sets++;
    return 1;
}

static void free_opts(run_opts *o)
{
    for (size_t i = 0; i < o->n_sets; i++) {
        dc_free(o->sets[i].key);
        dc_free(o->sets[i].value);
    }
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
        {"save-tokens", required_argument, NULL, O_SAVE_TOKENS},
        {"slots", required_argument, NULL, O_SLOTS},
        {"memory-limit", required_argument, NULL, O_MEMLIMIT},
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
        {O_SAVE_TOKENS, "output.save_tokens"},
        {O_SLOTS, "model.parallel"},
        {O_MEMLIMIT, "model.memory_limit"},
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
        case O_SET:
            if (!add_set(cmd, o, optarg, NULL))
                return 0;
            break;
        case O_INSECURE:
            if (!add_set(cmd, o, "model.allow_insecure", "true"))
                return 0;
            break;
        case O_RESUME: o->resume = 1; break;
        case O_FORCE: o->force = 1; break;
        case O_QUIET: o->quiet = 1; break;
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

/* ---- run ---- */

static void on_note(void *user, sdc_experiment_note n, const char *text)
{
    progress *pg = user;
    if (pg->quiet)
        return;
    switch (n) {
    case SDC_NOTE_DEMO_MODEL:
        fprintf(stderr,
                "note: no model given and %s.\n"
                "note: using the OFFLINE DEMO MODEL: random weights, so its answers and "
                "confidences mean nothing; it shows the pipeline works. Use --model for real "
                "results.\n",
                text);
        break;
    case SDC_NOTE_LOADING: fprintf(stderr, "loading %s\n", text); break;
    case SDC_NOTE_MEMORY: fprintf(stderr, "%s\n", text); break;
    case SDC_NOTE_CHECKSUM: fprintf(stderr, "checksumming the model (sha256)\n"); break;
    case SDC_NOTE_DOWNLOADED:
        cli_progress_end(&pg->download);
        pg->download.shown = 0;
        fprintf(stderr, "downloaded %s\n", text);
        break;
    }
}

static int on_download(void *user, uint64_t done, uint64_t total)
{
    progress *pg = user;
    if (!pg->quiet)
        cli_progress_bytes(&pg->download, done, total);
    return !g_interrupted;
}

static void catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* Runs an opened experiment to the end and reports; the exit status. */
static int execute(const char *cmd, sdc_experiment *e, progress *pg)
{
    sdc_experiment_info in;
    sdc_experiment_describe(e, &in);
    if (!pg->quiet)
        fprintf(stderr, "run: %zu instances of %s, %s, mode %s, model %s%s -> %s\n", in.n_instances,
                in.benchmark, in.what, in.mode, in.model_name,
                in.is_demo ? " (DEMO, random weights)" : "", in.dir);
    sdc_run_stats stats;
    char *summary = NULL;
    dc_error err = {0};
    g_experiment = e;
    dc_status st = sdc_experiment_run(e, &stats, &summary, &err);
    g_experiment = NULL;
    if (st != DC_STATUS_OK) {
        if (pg->tty && !pg->quiet)
            fputc('\n', stderr);
        cli_err(cmd, "%s", err.msg);
        if (st == DC_STATUS_EXISTS)
            return CLI_USAGE;
        if (stats.instances || stats.skipped)
            fprintf(stderr,
                    "what finished is in %s; '%s --resume --out %s' (same options) "
                    "continues\n",
                    in.dir, cmd, in.dir);
        return st == DC_STATUS_CANCELLED ? 130 : CLI_FAIL;
    }
    int ok = cli_write_stdout(cmd, summary, strlen(summary));
    dc_free(summary);
    if (!pg->quiet) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        fprintf(stderr,
                "done: %zu instances (%zu resumed), %zu traces, %zu tokens in %.1f s, "
                "peak memory %.0f MB\nresults: %s/ (summary.txt, report.html)\n",
                stats.instances + stats.skipped, stats.skipped, stats.traces, stats.tokens,
                stats.seconds, (double)ru.ru_maxrss / 1024.0, in.dir);
        if (in.is_demo)
            fprintf(stderr, "reminder: the DEMO model has random weights; these numbers only "
                            "show that the pipeline runs\n");
    }
    return ok ? CLI_OK : CLI_FAIL;
}

static sdc_experiment_params experiment_params(const run_opts *o, progress *pg, int argc,
                                               char **argv)
{
    sdc_experiment_params ep = sdc_experiment_default_params();
    ep.open_mode = o->force ? SDC_OPEN_FORCE : o->resume ? SDC_OPEN_RESUME : SDC_OPEN_NEW;
    ep.argc = argc;
    ep.argv = argv;
    ep.note = on_note;
    ep.download = on_download;
    ep.progress = on_progress;
    ep.user = pg;
    return ep;
}

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
    int rc = CLI_USAGE;
    dc_error err = {0};
    sdc_experiment *e = NULL;
    if (o.config && sdc_config_load(cfg, o.config, &err) != DC_STATUS_OK)
        goto out;
    for (size_t i = 0; i < o.n_sets; i++)
        if (sdc_config_set(cfg, o.sets[i].key, o.sets[i].value, &err) != DC_STATUS_OK)
            goto out;
    if (sdc_config_validate(cfg, &err) != DC_STATUS_OK)
        goto out;
    if (o.resume && !*cfg->out) {
        dc_error_set(&err, DC_STATUS_CONFIG, "--resume needs the run's directory: --out DIR");
        goto out;
    }
    progress pg = {o.quiet, isatty(2), -1e9, 0.0, {"downloading", -1.0, 0}};
    catch_signals();
    sdc_experiment_params ep = experiment_params(&o, &pg, argc, argv);
    dc_status st = sdc_experiment_open(cfg, &ep, &e, &err);
    if (pg.tty && !pg.quiet && st != DC_STATUS_OK)
        fputc('\n', stderr);
    rc = st == DC_STATUS_OK                                           ? execute(cmd, e, &pg)
         : st == DC_STATUS_CONFIG && !strstr(err.msg, "no instances") ? CLI_USAGE
         : st == DC_STATUS_CANCELLED                                  ? 130
                                                                      : CLI_FAIL;
out:
    if (rc == CLI_USAGE || (rc == CLI_FAIL && !e))
        cli_err(cmd, "%s", err.msg);
    sdc_experiment_free(e);
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
static int replay_main(const char *cmd, const char *src, const run_opts *o, double theta)
{
    const char *keys[256], *values[256];
    for (size_t i = 0; i < o->n_sets; i++) {
        keys[i] = o->sets[i].key;
        values[i] = o->sets[i].value;
    }
    progress pg = {o->quiet, isatty(2), -1e9, 0.0, {"downloading", -1.0, 0}};
    catch_signals();
    sdc_experiment_params ep = experiment_params(o, &pg, 0, NULL);
    sdc_experiment *e = NULL;
    dc_error err = {0};
    dc_status st =
        sdc_experiment_open_replay(src, o->out, keys, values, o->n_sets, theta, &ep, &e, &err);
    if (st != DC_STATUS_OK) {
        cli_err(cmd, "%s", err.msg);
        return st == DC_STATUS_CONFIG ? CLI_USAGE : CLI_FAIL;
    }
    int rc = execute(cmd, e, &pg);
    sdc_experiment_free(e);
    if (rc == CLI_OK && !o->quiet)
        fprintf(stderr, "replayed %s into %s/\n", src, o->out);
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
    int replay = 0, rc = CLI_USAGE;
    run_opts o;
    memset(&o, 0, sizeof o);
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'h':
            fputs(print ? analyze_usage : report_usage, stdout);
            free_opts(&o);
            return CLI_OK;
        case 't':
            if (!cli_parse_double(cmd, "--threshold", optarg, 0.0, 1.0, &theta))
                goto out;
            break;
        case 'q': o.quiet = 1; break;
        case 'r': replay = 1; break;
        case 'f': o.force = 1; break;
        case 'o': o.out = optarg; break;
        case 's':
            if (!add_set(cmd, &o, optarg, NULL))
                goto out;
            break;
        case ':': cli_err(cmd, "%s needs a value", argv[optind - 1]); goto out;
        default: cli_err(cmd, "unknown option '%s' (see --help)", argv[optind - 1]); goto out;
        }
    }
    if (optind + 1 != argc) {
        cli_err(cmd, "expected one RUN_DIR");
        goto out;
    }
    const char *dir = argv[optind];
    if (replay || o.out || o.n_sets || o.force) {
        if (!replay || !o.out || !print)
            cli_err(cmd, "--out, --set and --force go with --replay, which needs --out NEW_DIR");
        else
            rc = replay_main(cmd, dir, &o, theta);
        goto out;
    }
    char *summary = NULL;
    int torn = 0;
    dc_error err = {0};
    if (sdc_experiment_analyze(dir, theta, print ? &summary : NULL, &torn, &err) != DC_STATUS_OK) {
        cli_err(cmd, "%s", err.msg);
        rc = CLI_FAIL;
        goto out;
    }
    if (torn && !o.quiet)
        fprintf(stderr,
                "note: %s/predictions.jsonl ends in a torn line (an interrupted run); "
                "it was left out\n",
                dir);
    rc = !summary || cli_write_stdout(cmd, summary, strlen(summary)) ? CLI_OK : CLI_FAIL;
    dc_free(summary);
    if (!print && !o.quiet)
        fprintf(stderr, "wrote %s/report.html\n", dir);
out:
    free_opts(&o);
    return rc;
}

int cmd_analyze(int argc, char **argv)
{
    return analyze_main("analyze", argc, argv, 1);
}

int cmd_report(int argc, char **argv)
{
    return analyze_main("report", argc, argv, 0);
}
