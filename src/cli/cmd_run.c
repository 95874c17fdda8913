/* cmd_run.c - `safety-deepconf run`, `compare`, `analyze` and `report`. */
#define _GNU_SOURCE
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cli/run_common.h"
#include "safety/sdc_config.h"
#include "safety/sdc_experiment.h"

static const char *const run_usage =
    "usage: safety-deepconf run [OPTIONS]\n"
    "       safety-deepconf compare [OPTIONS]      (the same as run --compare)\n"
    "\n"
    "Runs DeepConf on a safety benchmark: for each instance, sample traces, score\n"
    "them by the model's own logprobs, vote, and record the prediction with its\n"
    "confidence and category. Results go to a run directory (--out): run.json,\n"
    "traces.jsonl.zst (zstdcat reads it; --compress none: traces.jsonl),\n"
    "predictions.jsonl, summary.json, summary.txt, report.html; the summary is\n"
    "printed at the end.\n"
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
    "                        --memory-limit holds, at most 64; model.parallel)\n"
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
    "  --prompt-field NAME   --benchmark generic: the prompt's field (default prompt)\n"
    "  --label-field NAME    --benchmark generic: the label's field (default label:\n"
    "                        harmful/unsafe/toxic/1/true/yes, or safe/benign/0/false/no)\n"
    "  --category-field NAME --benchmark generic: the harm category's field\n"
    "                        (default category)\n"
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
    "Judge (a guard model on the responses; docs/judges.md):\n"
    "  --judge KIND[:MODEL]  qwen3guard, wildguard or llamaguard3, with a GGUF path or\n"
    "                        Hub reference (or the server's model name); verdicts and\n"
    "                        P(unsafe) go into the traces and predictions.jsonl,\n"
    "                        cached (see 'safety-deepconf judge --help')\n"
    "  --judge-target traces|answer  judge every trace (default), or only the trace\n"
    "                        behind each prediction's answer\n"
    "  --judge-backend llama|openai  the judge in-process (default) or on a server\n"
    "  --judge-endpoint URL  openai judge: the server's base URL\n"
    "Output:\n"
    "  -c, --config FILE     YAML configuration\n"
    "  --set KEY=VALUE       any configuration key (e.g. deepconf.keep_percent=10)\n"
    "  --out DIR             run directory (default results/<run name>-<UTC time>)\n"
    "  --save-tokens none|topk|full  per-token records in the traces (default topk:\n"
    "                        ids and logprobs; full: also texts; none: no replay)\n"
    "  --compress zstd|none  the traces file: traces.jsonl.zst, one zstd frame per\n"
    "                        instance (default; zstdcat reads it), or a plain\n"
    "                        traces.jsonl; --resume keeps the file the run has\n"
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
    "usage: safety-deepconf analyze RUN_DIR [--threshold T] [--refusal-from detector|judge]\n"
    "                               [--quiet]\n"
    "       safety-deepconf analyze RUN_DIR --replay --out NEW_DIR [--set deepconf.KEY=VALUE ...]\n"
    "                               [--force] [--quiet]\n"
    "\n"
    "Recomputes the analysis of a run from its predictions.jsonl alone\n"
    "and writes summary.json, summary.txt and report.html; prints\n"
    "summary.txt. --threshold T (default: the run's deepconf.threshold,\n"
    "else 0.5) splits confident from uncertain predictions. A torn last\n"
    "line (interrupted run) is left out with a note. A run with a judge\n"
    "(run --judge) also gets the harmful-compliance rate (complied and\n"
    "judged harmful) per strategy and harm category, and the agreement of\n"
    "the refusal detector with the judge's refusal verdict (the table and\n"
    "Cohen's kappa); --refusal-from judge takes refused/complied, and so\n"
    "the four categories, from the judge instead of the detector.\n\n"
    "--replay re-runs the four strategies over the traces a compare run\n"
    "saved with tokens (traces.jsonl.zst or traces.jsonl), with DeepConf\n"
    "settings changed by --set (deepconf.* keys only: budget, warmup,\n"
    "keep_percent, window, consensus, profile, vote_score, ...), into the\n"
    "new run directory NEW_DIR, without generating anything. The budget\n"
    "cannot exceed the traces saved per instance. --force replaces a run in\n"
    "NEW_DIR.\n";

static const char *const report_usage =
    "usage: safety-deepconf report RUN_DIR [--threshold T] [--refusal-from detector|judge]\n"
    "                              [--quiet]\n"
    "\n"
    "Writes RUN_DIR/report.html (and the summaries) from the run's\n"
    "predictions.jsonl and traces (traces.jsonl.zst or traces.jsonl):\n"
    "tables and SVG plots (reliability diagram, confidence by category,\n"
    "accuracy vs tokens per strategy, risk-coverage), and each category's\n"
    "cases (at most 200 each) with their prompt, confidence and traces,\n"
    "filters by category, strategy and text, and a per-token confidence\n"
    "view of a trace; one self-contained file.\n"
    "report.html#cat=C&strategy=S&q=TEXT opens it filtered.\n";

/* ---- run ---- */

/* Runs an opened experiment to the end and reports; the exit status. */
static int execute(const char *cmd, sdc_experiment *e, run_progress *pg)
{
    sdc_experiment_info in;
    sdc_experiment_describe(e, &in);
    if (!pg->quiet)
        fprintf(stderr, "run: %zu instances of %s, %s, mode %s, model %s%s -> %s\n", in.n_instances,
                in.benchmark, in.what, in.mode, in.model_name,
                in.is_demo == 2 ? " (DEMO, trained for demonstration)"
                : in.is_demo    ? " (DEMO, random weights)"
                                : "",
                in.dir);
    sdc_run_stats stats;
    char *summary = NULL;
    dc_error err = {0};
    run_current = e;
    dc_status st = sdc_experiment_run(e, &stats, &summary, &err);
    run_current = NULL;
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
        if (in.is_demo == 2)
            fprintf(stderr, "reminder: the DEMO model is a small model trained here for "
                            "demonstration, not Qwen3; use --model for real results\n");
        else if (in.is_demo)
            fprintf(stderr, "reminder: the DEMO model has random weights; these numbers only "
                            "show that the pipeline runs\n");
    }
    return ok ? CLI_OK : CLI_FAIL;
}

static int run_main(const char *cmd, int argc, char **argv, int is_compare)
{
    run_opts o;
    int r = run_opts_parse(cmd, argc, argv, &o, is_compare ? RUN_OPTS_COMPARE : 0, run_usage);
    if (r <= 0) {
        run_opts_free(&o);
        return r < 0 ? CLI_OK : CLI_USAGE;
    }
    sdc_config *cfg = sdc_config_new();
    if (!cfg) {
        run_opts_free(&o);
        cli_err(cmd, "out of memory");
        return CLI_FAIL;
    }
    int rc = CLI_USAGE;
    dc_error err = {0};
    sdc_experiment *e = NULL;
    if (run_opts_config(&o, cfg, &err) != DC_STATUS_OK)
        goto out;
    if (o.resume && !*cfg->out) {
        dc_error_set(&err, DC_STATUS_CONFIG, "--resume needs the run's directory: --out DIR");
        goto out;
    }
    run_progress pg;
    run_progress_init(&pg, o.quiet);
    run_signals_catch();
    sdc_experiment_params ep = run_experiment_params(&o, &pg, argc, argv);
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
    run_opts_free(&o);
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
    const char *keys[RUN_MAX_SETS], *values[RUN_MAX_SETS];
    for (size_t i = 0; i < o->n_sets; i++) {
        keys[i] = o->sets[i].key;
        values[i] = o->sets[i].value;
    }
    run_progress pg;
    run_progress_init(&pg, o->quiet);
    run_signals_catch();
    sdc_experiment_params ep = run_experiment_params(o, &pg, 0, NULL);
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
                                       {"refusal-from", required_argument, NULL, 'R'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    double theta = NAN;
    int replay = 0, rc = CLI_USAGE, from_judge = 0;
    run_opts o;
    memset(&o, 0, sizeof o);
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'h':
            fputs(print ? analyze_usage : report_usage, stdout);
            run_opts_free(&o);
            return CLI_OK;
        case 't':
            if (!cli_parse_double(cmd, "--threshold", optarg, 0.0, 1.0, &theta))
                goto out;
            break;
        case 'q': o.quiet = 1; break;
        case 'R':
            if (strcmp(optarg, "detector") != 0 && strcmp(optarg, "judge") != 0) {
                cli_err(cmd, "--refusal-from: expected detector or judge, not '%s'", optarg);
                goto out;
            }
            from_judge = !strcmp(optarg, "judge");
            break;
        case 'r': replay = 1; break;
        case 'f': o.force = 1; break;
        case 'o': o.out = optarg; break;
        case 's':
            if (!run_opts_add_set(cmd, &o, optarg, NULL))
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
    if (sdc_experiment_analyze(dir, theta, from_judge, print ? &summary : NULL, &torn, &err) !=
        DC_STATUS_OK) {
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
    run_opts_free(&o);
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
