/* cmd_sweep.c - `safety-deepconf sweep`: the same run on several models. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/run_common.h"
#include "safety/sdc_sweep.h"

static const char *const sweep_usage =
    "usage: safety-deepconf sweep --model A --model B [...] [RUN OPTIONS]\n"
    "\n"
    "Runs the same instances with the same seeds on each model (a model-size\n"
    "sweep): one run directory per model under the sweep directory (--out,\n"
    "default results/sweep-<UTC time>), NN-NAME/ with the files of a run, then\n"
    "sweep.json, sweep.txt and sweep.html: per model accuracy, the four\n"
    "categories, the H1 difference and p, ECE, AUROC, tokens and seconds per\n"
    "instance side by side, with plots of accuracy and the H1 difference\n"
    "against the model's parameters (from the GGUF). sweep.txt is printed.\n"
    "\n"
    "Models (--model, repeated, in the order given):\n"
    "  PATH.gguf | owner/repo | owner/repo-GGUF:QUANT\n"
    "                        in-process llama.cpp (or, with --backend openai, a\n"
    "                        model name the --endpoint servers know)\n"
    "  openai:URL            an OpenAI-compatible server at URL, its model\n"
    "  openai:URL#NAME       the same, asking for model NAME\n"
    "so a local GGUF and an endpoint can be swept together:\n"
    "  safety-deepconf sweep --model small.gguf --model openai:http://host:8080\n"
    "\n"
    "Every option of 'safety-deepconf run' applies to each model (see 'run\n"
    "--help'): --benchmark, --data, --num-instances, --max-tokens, --seed,\n"
    "--strategy or --compare (default), --budget, --set KEY=VALUE, -c FILE, ...\n"
    "  --out DIR             the sweep directory\n"
    "  --resume              continue an interrupted sweep in DIR (the same models\n"
    "                        and options): finished models are kept, the\n"
    "                        interrupted one continues where it stopped\n"
    "  --force               replace the sweep in DIR\n"
    "  --quiet               no progress on stderr\n"
    "\n"
    "Exit status: 0 ok, 1 a model's run failed (the finished ones stay), 2 bad\n"
    "options, 130 interrupted.\n";

static void on_model_begin(void *user, size_t i, size_t n, const char *spec, const char *dir)
{
    run_progress *pg = user;
    if (!pg->quiet)
        fprintf(stderr, "sweep: model %zu of %zu: %s -> %s\n", i + 1, n, spec, dir);
}

/* Ctrl-C cancels the model's experiment while it runs. */
static void on_model_open(void *user, size_t i, sdc_experiment *e)
{
    run_progress *pg = user;
    (void)i;
    pg->finished_at = 0.0;
    pg->last = -1e9;
    run_current = e;
    sdc_experiment_info in;
    sdc_experiment_describe(e, &in);
    if (!pg->quiet)
        fprintf(stderr, "run: %zu instances of %s, %s, mode %s, model %s%s\n", in.n_instances,
                in.benchmark, in.what, in.mode, in.model_name,
                in.is_demo == 2 ? " (DEMO, trained for demonstration)"
                : in.is_demo    ? " (DEMO, random weights)"
                                : "");
}

static void on_model_end(void *user, size_t i, dc_status st)
{
    (void)user;
    (void)i;
    (void)st;
    run_current = NULL;
}

int cmd_sweep(int argc, char **argv)
{
    const char *cmd = "sweep";
    run_opts o;
    int r = run_opts_parse(cmd, argc, argv, &o, RUN_OPTS_MODELS, sweep_usage);
    if (r <= 0) {
        run_opts_free(&o);
        return r < 0 ? CLI_OK : CLI_USAGE;
    }
    sdc_config *cfg = sdc_config_new();
    dc_error err = {0};
    int rc = CLI_USAGE;
    char dir[512];
    if (!cfg) {
        dc_error_set(&err, DC_STATUS_NOMEM, "out of memory");
        rc = CLI_FAIL;
        goto out;
    }
    if (o.n_models == 0) {
        dc_error_set(&err, DC_STATUS_CONFIG, "at least one --model is needed (see --help)");
        goto out;
    }
    if (run_opts_config(&o, cfg, &err) != DC_STATUS_OK)
        goto out;
    if (o.resume && !*cfg->out) {
        dc_error_set(&err, DC_STATUS_CONFIG, "--resume needs the sweep's directory: --out DIR");
        goto out;
    }
    if (*cfg->out) {
        snprintf(dir, sizeof dir, "%s", cfg->out);
    } else {
        time_t now = time(NULL);
        char stamp[32];
        strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", gmtime(&now));
        snprintf(dir, sizeof dir, "results/sweep-%s", stamp);
    }
    run_progress pg;
    run_progress_init(&pg, o.quiet);
    run_signals_catch();
    sdc_sweep_params sp = sdc_sweep_default_params();
    sp.exp = run_experiment_params(&o, &pg, argc, argv);
    sp.model_begin = on_model_begin;
    sp.model_open = on_model_open;
    sp.model_end = on_model_end;
    char *text = NULL;
    dc_status st = sdc_sweep_run(cfg, dir, o.models, o.n_models, &sp, &text, &err);
    if (pg.tty && !pg.quiet && st != DC_STATUS_OK)
        fputc('\n', stderr);
    if (st == DC_STATUS_OK) {
        rc = cli_write_stdout(cmd, text, strlen(text)) ? CLI_OK : CLI_FAIL;
        if (!o.quiet)
            fprintf(stderr, "results: %s/ (sweep.txt, sweep.json, sweep.html)\n", dir);
    } else {
        rc = st == DC_STATUS_CANCELLED                          ? 130
             : st == DC_STATUS_CONFIG || st == DC_STATUS_EXISTS ? CLI_USAGE
                                                                : CLI_FAIL;
        cli_err(cmd, "%s", err.msg);
        if (st != DC_STATUS_CONFIG && st != DC_STATUS_EXISTS)
            fprintf(stderr,
                    "what finished is in %s; 'sweep --resume --out %s' (same options) "
                    "continues\n",
                    dir, dir);
    }
    dc_free(text);
    sdc_config_free(cfg);
    run_opts_free(&o);
    return rc;
out:
    cli_err(cmd, "%s", err.msg);
    sdc_config_free(cfg);
    run_opts_free(&o);
    return rc;
}
