/* run_common.c - the options, progress, notes and signals that `run`,
 * `compare`, `analyze --replay` and `sweep` share (run_common.h). */
#define _GNU_SOURCE
#include "cli/run_common.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- interrupt ---- */

volatile sig_atomic_t run_interrupted;
sdc_experiment *volatile run_current;

static void on_signal(int sig)
{
    (void)sig;
    run_interrupted = 1;
    sdc_experiment_cancel(run_current);
}

/* ---- progress ---- */

void run_progress_init(run_progress *pg, int quiet)
{
    memset(pg, 0, sizeof *pg);
    pg->quiet = quiet;
    pg->tty = isatty(2);
    pg->last = -1e9;
    pg->download = (cli_progress){"downloading", -1.0, 0};
}

static int on_progress(void *user, const sdc_run_progress *p)
{
    run_progress *pg = user;
    if (run_interrupted)
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

/* Flags that set one configuration key: to their argument, or to value. */
static const struct {
    const char *flag, *key, *value;
} key_flags[] = {
    {"model", "model.name", NULL},
    {"backend", "model.backend", NULL},
    {"endpoint", "model.endpoints", NULL},
    {"concurrency", "model.concurrency", NULL},
    {"api", "model.api", NULL},
    {"allow-insecure", "model.allow_insecure", "true"},
    {"max-failures", "model.max_failures", NULL},
    {"threads", "model.threads", NULL},
    {"n-gpu-layers", "model.n_gpu_layers", NULL},
    {"slots", "model.parallel", NULL},
    {"memory-limit", "model.memory_limit", NULL},
    {"benchmark", "benchmark.name", NULL},
    {"data", "benchmark.data", NULL},
    {"num-instances", "benchmark.num_instances", NULL},
    {"prompt-field", "benchmark.prompt_field", NULL},
    {"label-field", "benchmark.label_field", NULL},
    {"category-field", "benchmark.category_field", NULL},
    {"mode", "generation.mode", NULL},
    {"max-tokens", "generation.max_tokens", NULL},
    {"temperature", "generation.temperature", NULL},
    {"thinking", "generation.thinking", NULL},
    {"seed", "generation.seed", NULL},
    {"compare", "deepconf.compare", "true"},
    {"budget", "deepconf.budget", NULL},
    {"parallel", "deepconf.parallel", NULL},
    {"window", "deepconf.window", NULL},
    {"profile", "deepconf.profile", NULL},
    {"threshold", "deepconf.threshold", NULL},
    {"out", "output.dir", NULL},
    {"save-tokens", "output.save_tokens", NULL},
    {"compress", "output.compress", NULL},
    {"judge", "judge.name", NULL},
    {"judge-target", "judge.target", NULL},
    {"judge-backend", "judge.backend", NULL},
    {"judge-endpoint", "judge.endpoint", NULL},
};

#define N_KEY_FLAGS (sizeof key_flags / sizeof key_flags[0])

/* The other flags; a key flag's getopt value is O_KEY + its index. */
enum { O_STRATEGY = 1024, O_SET, O_RESUME, O_FORCE, O_QUIET, O_KEY = 256 };

static const struct option other_flags[] = {
    {"strategy", required_argument, NULL, O_STRATEGY},
    {"set", required_argument, NULL, O_SET},
    {"resume", no_argument, NULL, O_RESUME},
    {"force", no_argument, NULL, O_FORCE},
    {"quiet", no_argument, NULL, O_QUIET},
    {"config", required_argument, NULL, 'c'},
    {"help", no_argument, NULL, 'h'},
};

#define N_OTHER_FLAGS (sizeof other_flags / sizeof other_flags[0])

/* getopt_long's table, built once from the two above. */
static const struct option *long_options(void)
{
    static struct option lo[N_KEY_FLAGS + N_OTHER_FLAGS + 1];
    if (!lo[0].name) {
        for (size_t i = 0; i < N_KEY_FLAGS; i++)
            lo[i] = (struct option){key_flags[i].flag,
                                    key_flags[i].value ? no_argument : required_argument, NULL,
                                    O_KEY + (int)i};
        for (size_t i = 0; i < N_OTHER_FLAGS; i++)
            lo[N_KEY_FLAGS + i] = other_flags[i];
    }
    return lo;
}

/* Adds KEY=VALUE; with value NULL, key is "KEY=VALUE" text from --set. */
int run_opts_add_set(const char *cmd, run_opts *o, const char *key, const char *value)
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
    run_kv *s = &o->sets[o->n_sets];
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

void run_opts_free(run_opts *o)
{
    for (size_t i = 0; i < o->n_sets; i++) {
        dc_free(o->sets[i].key);
        dc_free(o->sets[i].value);
    }
}

int run_opts_parse(const char *cmd, int argc, char **argv, run_opts *o, int flags,
                   const char *usage)
{
    int is_compare = flags & RUN_OPTS_COMPARE;
    memset(o, 0, sizeof *o);
    if (is_compare && !run_opts_add_set(cmd, o, "deepconf.compare", "true"))
        return 0;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "+:hc:", long_options(), NULL)) != -1) {
        if (c >= O_KEY && c < O_KEY + (int)N_KEY_FLAGS) {
            size_t i = (size_t)(c - O_KEY);
            if ((flags & RUN_OPTS_MODELS) && !strcmp(key_flags[i].key, "model.name")) {
                if (o->n_models == RUN_MAX_MODELS) {
                    cli_err(cmd, "at most %d --model", RUN_MAX_MODELS);
                    return 0;
                }
                o->models[o->n_models++] = optarg;
            } else if (!run_opts_add_set(cmd, o, key_flags[i].key,
                                         key_flags[i].value ? key_flags[i].value : optarg)) {
                return 0;
            }
            continue;
        }
        switch (c) {
        case 'h': fputs(usage, stdout); return -1;
        case 'c': o->config = optarg; break;
        case O_STRATEGY:
            if (is_compare) {
                cli_err(cmd, "--strategy runs one strategy; compare runs all four");
                return 0;
            }
            if (!run_opts_add_set(cmd, o, "deepconf.strategy", optarg) ||
                !run_opts_add_set(cmd, o, "deepconf.compare", "false"))
                return 0;
            break;
        case O_SET:
            if (!run_opts_add_set(cmd, o, optarg, NULL))
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

/* ---- notes and downloads ---- */

static void on_note(void *user, sdc_experiment_note n, const char *text)
{
    run_progress *pg = user;
    if (pg->quiet)
        return;
    switch (n) {
    case SDC_NOTE_DEMO_MODEL:
    case SDC_NOTE_REFUSAL_MODEL:
    case SDC_NOTE_STORAGE: fprintf(stderr, "note: %s\n", text); break;
    case SDC_NOTE_LOADING: fprintf(stderr, "loading %s\n", text); break;
    case SDC_NOTE_JUDGE: fprintf(stderr, "judge: %s\n", text); break;
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
    run_progress *pg = user;
    if (!pg->quiet)
        cli_progress_bytes(&pg->download, done, total);
    return !run_interrupted;
}

void run_signals_catch(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* The trained demo model: $SDC_DEMO_MODEL, else models/ beside the build
 * directory the program runs from (build/../models), else the installed
 * copy (bin/../share/safety-deepconf/). Static; the first that exists. */
static const char *trained_demo(void)
{
    static char path[4200];
    const char *env = getenv("SDC_DEMO_MODEL");
    if (env && *env)
        return env;
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return NULL;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0';
    static const char *const rel[] = {"/../models/", "/../share/safety-deepconf/"};
    for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
        snprintf(path, sizeof path, "%s%s%s", exe, rel[i], SDC_TRAINED_DEMO_FILE);
        if (access(path, R_OK) == 0)
            return path;
    }
    return NULL;
}

sdc_experiment_params run_experiment_params(const run_opts *o, run_progress *pg, int argc,
                                            char **argv)
{
    sdc_experiment_params ep = sdc_experiment_default_params();
    ep.trained_demo = trained_demo();
    ep.open_mode = o->force ? SDC_OPEN_FORCE : o->resume ? SDC_OPEN_RESUME : SDC_OPEN_NEW;
    ep.argc = argc;
    ep.argv = argv;
    ep.note = on_note;
    ep.download = on_download;
    ep.progress = on_progress;
    ep.user = pg;
    return ep;
}

dc_status run_opts_config(const run_opts *o, sdc_config *cfg, dc_error *err)
{
    dc_status st;
    if (o->config && (st = sdc_config_load(cfg, o->config, err)) != DC_STATUS_OK)
        return st;
    for (size_t i = 0; i < o->n_sets; i++)
        if ((st = sdc_config_set(cfg, o->sets[i].key, o->sets[i].value, err)) != DC_STATUS_OK)
            return st;
    return sdc_config_validate(cfg, err);
}
