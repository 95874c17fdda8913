/* cmd_refusal_model.c - `safety-deepconf refusal train|eval`: the learned
 * refusal classifier's training and its leave-one-source-out table. */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdint.h>
#include <string.h>

#include "cli/cli.h"
#include "deepconf/dc_hf.h"
#include "safety/sdc_refusal_model.h"
#include "util/buf.h"
#include "util/clock.h"

#define MAX_DATA 32
/* The labelled sets that hold both classes or plain compliances; gptfuzz's
 * "complied" rows are mostly two-persona answers (a refusal, then a
 * jailbroken persona complying), partial refusals under this detector's
 * definition: training on them costs 1 to 3 points on every other source
 * held out (docs/refusal.md). */
static const char *const default_data[] = {
    "../shared/refusal/harmbench_val.jsonl", "../shared/refusal/rbr_gold.jsonl",
    "../shared/refusal/wildguardtest.jsonl", "../shared/refusal/xstest_response_refusal.jsonl"};
#define N_DEFAULT_DATA (sizeof default_data / sizeof default_data[0])

static const char *const train_usage =
    "usage: safety-deepconf refusal train [--data DIR|FILE.jsonl]... [-o OUT] [OPTIONS]\n"
    "\n"
    "Trains the learned refusal classifier (docs/refusal.md) on labelled\n"
    "responses and writes its model file: the average of one classifier trained\n"
    "on all the files and one per file trained on all the others. Each --data is\n"
    "a JSONL file or a directory of them (default: harmbench_val, rbr_gold,\n"
    "wildguardtest and xstest_response_refusal .jsonl in ../shared/refusal); a\n"
    "row holds \"prompt\", \"response\" and \"label\": \"refusal\"|\"compliance\" or\n"
    "\"refusal\": true|false (null rows are skipped, exact duplicate responses in a\n"
    "file count once).\n"
    "Training is deterministic: the same data and options give the same bytes.\n"
    "The shipped data/refusal_model.bin is\n"
    "  safety-deepconf refusal train -o data/refusal_model.bin\n"
    "run in the repository root with ../shared/refusal next to it.\n"
    "\n"
    "Options:\n"
    "  --data PATH         labelled responses (repeatable)\n"
    "  -o, --out FILE      the model file (default refusal_model.bin)\n"
    "  --seed S            example order and folds (default 1)\n"
    "  --epochs N          passes over the data (default 8)\n"
    "  --hash-bits B       2^B weights (default 18, 10 to 24)\n"
    "  --learning-rate X   AdaGrad step (default 0.2)\n"
    "  --l2 X              L2 penalty per step (default 1e-05)\n"
    "  --folds K           folds for the stack's out-of-fold logits (default 4)\n"
    "  -h, --help          this text\n"
    "\n"
    "Exit status: 0 ok, 1 bad input (the message names file and line), 2 bad\n"
    "options.\n";

static const char *const eval_usage =
    "usage: safety-deepconf refusal eval [--data DIR|FILE.jsonl]... [OPTIONS]\n"
    "\n"
    "Leave-one-source-out evaluation: for each source (input file), trains the\n"
    "classifier on all the other sources (the same ensemble as `refusal train`:\n"
    "one member on them all, one per source among them left out) and scores\n"
    "this one with the rules alone, the classifier alone and the combination\n"
    "(the default in runs): accuracy, precision, recall, F1, n. A refusal is a\n"
    "full or partial one.\n"
    "The acceptance figure is the worst held-out source among those with both\n"
    "labels, marked with <- (a source of compliances only shows accuracy).\n"
    "Options as for `refusal train` (--data, --seed, --epochs, --hash-bits,\n"
    "--learning-rate, --l2, --folds); -h, --help this text.\n"
    "\n"
    "Exit status: 0 ok, 1 bad input, 2 bad options.\n";

typedef struct opts {
    const char *data[MAX_DATA];
    size_t n_data;
    const char *out;
    sdc_refusal_model_params p;
} opts;

/* Parses the shared options; returns -1 to go on, else an exit code. */
static int parse(const char *cmd, const char *usage, int argc, char **argv, opts *o, int train)
{
    static const struct option longopts[] = {
        {"data", required_argument, NULL, 'd'},
        {"out", required_argument, NULL, 'o'},
        {"seed", required_argument, NULL, 's'},
        {"epochs", required_argument, NULL, 'e'},
        {"hash-bits", required_argument, NULL, 'b'},
        {"learning-rate", required_argument, NULL, 'r'},
        {"l2", required_argument, NULL, 'l'},
        {"folds", required_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof *o);
    o->out = "refusal_model.bin";
    o->p = sdc_refusal_model_default_params();
    opterr = 0;
    optind = 0;
    int c;
    size_t v;
    while ((c = getopt_long(argc, argv, ":ho:", longopts, NULL)) != -1) {
        switch (c) {
        case 'h': fputs(usage, stdout); return CLI_OK;
        case 'd':
            if (o->n_data == MAX_DATA) {
                cli_err(cmd, "at most %d --data", MAX_DATA);
                return CLI_USAGE;
            }
            o->data[o->n_data++] = optarg;
            break;
        case 'o':
            if (!train) {
                cli_err(cmd, "-o is an option of `refusal train`");
                return CLI_USAGE;
            }
            o->out = optarg;
            break;
        case 's':
            if (!cli_parse_size(cmd, "--seed", optarg, 0, SIZE_MAX, &v))
                return CLI_USAGE;
            o->p.seed = v;
            break;
        case 'e':
            if (!cli_parse_size(cmd, "--epochs", optarg, 1, 1000, &v))
                return CLI_USAGE;
            o->p.epochs = (unsigned)v;
            break;
        case 'b':
            if (!cli_parse_size(cmd, "--hash-bits", optarg, 10, 24, &v))
                return CLI_USAGE;
            o->p.hash_bits = (unsigned)v;
            break;
        case 'k':
            if (!cli_parse_size(cmd, "--folds", optarg, 2, 20, &v))
                return CLI_USAGE;
            o->p.folds = (unsigned)v;
            break;
        case 'r':
            if (!cli_parse_double(cmd, "--learning-rate", optarg, 1e-6, 100, &o->p.learning_rate))
                return CLI_USAGE;
            break;
        case 'l':
            if (!cli_parse_double(cmd, "--l2", optarg, 0, 1, &o->p.l2))
                return CLI_USAGE;
            break;
        case ':': cli_err(cmd, "%s needs a value", argv[optind - 1]); return CLI_USAGE;
        default:
            cli_err(cmd, "unknown option '%s' (see --help)", argv[optind - 1]);
            return CLI_USAGE;
        }
    }
    if (optind < argc) {
        cli_err(cmd, "unexpected argument '%s' (data goes after --data)", argv[optind]);
        return CLI_USAGE;
    }
    if (!o->n_data)
        for (size_t i = 0; i < N_DEFAULT_DATA; i++)
            o->data[o->n_data++] = default_data[i];
    return -1;
}

static int load(const char *cmd, const opts *o, sdc_refusal_examples *ex)
{
    dc_error err = {DC_STATUS_OK, ""};
    memset(ex, 0, sizeof *ex);
    for (size_t i = 0; i < o->n_data; i++)
        if (sdc_refusal_examples_load(ex, o->data[i], &err) != DC_STATUS_OK) {
            cli_err(cmd, "%s", err.msg);
            sdc_refusal_examples_free(ex);
            return 0;
        }
    return 1;
}

int cmd_refusal_train(int argc, char **argv)
{
    const char *cmd = "refusal train";
    opts o;
    int rc = parse(cmd, train_usage, argc, argv, &o, 1);
    if (rc >= 0)
        return rc;
    sdc_refusal_examples ex;
    if (!load(cmd, &o, &ex))
        return CLI_FAIL;
    dc_error err = {DC_STATUS_OK, ""};
    sdc_refusal_model *m = NULL;
    double t0 = dc_now_seconds();
    dc_status st = sdc_refusal_model_train(ex.v, ex.n, &o.p, NULL, &m, &err);
    double secs = dc_now_seconds() - t0;
    if (st == DC_STATUS_OK)
        st = sdc_refusal_model_save(m, o.out, &err);
    char sha[65] = "";
    if (st == DC_STATUS_OK)
        st = dc_sha256_file(o.out, sha, &err);
    if (st != DC_STATUS_OK)
        cli_err(cmd, "%s", err.msg[0] ? err.msg : dc_strerror(st));
    else
        fprintf(stderr,
                "%s: trained %zu classifiers (all sources, and each source left out) on %zu "
                "responses in %.1f s: %s sha256 %s\n",
                cmd, sdc_refusal_model_members(m), ex.n, secs, o.out, sha);
    sdc_refusal_model_free(m);
    sdc_refusal_examples_free(&ex);
    return st == DC_STATUS_OK ? CLI_OK : CLI_FAIL;
}

/* One table line; src and n are "" on a source's second and third lines. */
static void put_row(dc_buf *b, const char *src, const char *n, const char *who,
                    const sdc_refusal_counts *c, int mark)
{
    double a, p, r, f;
    sdc_refusal_counts_metrics(c, &a, &p, &r, &f);
    dc_buf_printf(b, "%-26s %5s  %-11s %8.3f %9.3f %7.3f %6.3f%s\n", src, n, who, a, p, r, f,
                  mark ? "  <- worst held-out source" : "");
}

int cmd_refusal_eval(int argc, char **argv)
{
    const char *cmd = "refusal eval";
    opts o;
    int rc = parse(cmd, eval_usage, argc, argv, &o, 0);
    if (rc >= 0)
        return rc;
    sdc_refusal_examples ex;
    if (!load(cmd, &o, &ex))
        return CLI_FAIL;
    dc_error err = {DC_STATUS_OK, ""};
    sdc_refusal_eval_row *rows = NULL;
    size_t nr = 0;
    double t0 = dc_now_seconds();
    dc_status st = sdc_refusal_eval_loso(ex.v, ex.n, &o.p, NULL, &rows, &nr, &err);
    double secs = dc_now_seconds() - t0;
    sdc_refusal_examples_free(&ex);
    if (st != DC_STATUS_OK) {
        cli_err(cmd, "%s", err.msg[0] ? err.msg : dc_strerror(st));
        return CLI_FAIL;
    }
    /* the worst source with both labels by the combination's accuracy */
    size_t worst = nr;
    double wa = 2;
    for (size_t i = 0; i < nr; i++) {
        const sdc_refusal_counts *c = &rows[i].combined;
        double a;
        sdc_refusal_counts_metrics(c, &a, NULL, NULL, NULL);
        if (c->tp + c->fn > 0 && c->tn + c->fp > 0 && a < wa) {
            wa = a;
            worst = i;
        }
    }
    dc_buf b;
    dc_buf_init(&b, 0);
    dc_buf_printf(&b,
                  "leave-one-source-out: each source scored by a classifier trained on all the "
                  "others (%.1f s)\n",
                  secs);
    dc_buf_printf(&b, "%-26s %5s  %-11s %8s %9s %7s %6s\n", "held-out source", "n", "detector",
                  "accuracy", "precision", "recall", "F1");
    for (size_t i = 0; i < nr; i++) {
        const sdc_refusal_counts *c = &rows[i].rules;
        char ns[32];
        snprintf(ns, sizeof ns, "%zu", c->tp + c->fp + c->tn + c->fn);
        put_row(&b, rows[i].source, ns, "rules", c, 0);
        put_row(&b, "", "", "classifier", &rows[i].classifier, 0);
        put_row(&b, "", "", "combined", &rows[i].combined, i == worst);
    }
    dc_buf_printf(&b, "worst held-out source (combined accuracy): %s %.3f\n",
                  worst < nr ? rows[worst].source : "-", worst < nr ? wa : 0.0);
    int ok = b.st == DC_STATUS_OK && cli_write_stdout(cmd, b.data, b.len);
    dc_buf_free(&b);
    dc_free(rows);
    return ok ? CLI_OK : CLI_FAIL;
}
