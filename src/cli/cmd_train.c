/* cmd_train.c - `safety-deepconf model train`: flags, the progress bar and
 * the summary; the training itself is dc_train.h's. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "deepconf/dc_train.h"
#include "util/clock.h"

#define CMD "model"

static const char *const train_usage =
    "usage: safety-deepconf model train --corpus FILE.jsonl -o OUT.gguf [OPTIONS]\n"
    "\n"
    "Trains a small Qwen3-architecture model from random weights on a corpus of\n"
    "conversations ({\"prompt\", \"completion\"} per line, as `data corpus` writes),\n"
    "loss on the completion tokens only, and writes it as a Qwen3 GGUF (Q8_0\n"
    "through llama.cpp's quantiser) with OUT.loss.csv beside it. See\n"
    "docs/demo-model.md.\n"
    "\n"
    "Options:\n"
    "  --shape tiny|small|base  tiny: 64 wide, 2 layers; small: 128 wide, 4 layers\n"
    "                         (default); base: 192 wide, 6 layers\n"
    "  --epochs N             passes over the corpus (default 3)\n"
    "  --lr X                 peak learning rate (default 0.002; 5% warm-up, cosine\n"
    "                         decay to a tenth)\n"
    "  --weight-decay X       AdamW weight decay on matrices (default 0.1)\n"
    "  --clip X               gradient-norm cap (default 1.0)\n"
    "  --ctx N                window tokens (default 256); longer conversations\n"
    "                         are left out\n"
    "  --seed S               initial weights, shuffling, validation split (default 1)\n"
    "  --threads T            CPU threads (default 1)\n"
    "  --max-steps N          stop after N steps (tests, speed checks)\n"
    "  --f32                  write F32 weights instead of Q8_0\n"
    "  --full-output          train every output row, not just the completion\n"
    "                         tokens' (slow; to measure what the subset buys)\n"
    "  --vocab FILE           ggml-vocab-qwen2.gguf (default: as model mkdemo)\n"
    "  --quiet                no progress bar\n"
    "  -h, --help             this text\n";

typedef struct bar {
    double last;
} bar;

static int show_progress(void *user, const dc_train_progress *p)
{
    bar *b = user;
    double now = dc_now_seconds();
    if (now - b->last < 1.0 && p->step != p->steps)
        return 1;
    b->last = now;
    char val[32] = "-";
    if (p->val_loss >= 0)
        snprintf(val, sizeof val, "%.3f", p->val_loss);
    int eta = (int)p->eta_s;
    fprintf(stderr,
            "\repoch %d/%d step %zu/%zu loss %.3f val %s lr %.2e |g| %.2f %.0f tok/s "
            "ETA %dh%02dm%02ds   ",
            p->epoch, p->epochs, p->step, p->steps, p->loss, val, p->lr, p->grad_norm,
            p->tokens_per_s, eta / 3600, eta / 60 % 60, eta % 60);
    return 1;
}

/* The command line, stored in the GGUF as the recipe. */
static void join_args(int argc, char **argv, char *buf, size_t size)
{
    size_t n = (size_t)snprintf(buf, size, "safety-deepconf model");
    for (int i = 0; i < argc && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, " %s", argv[i]);
}

static int train_run(const dc_train_params *p, const char *outp, int q8, int quiet)
{
    dc_error err = {0};
    dc_trainer *t = NULL;
    dc_status st = dc_trainer_new(p, &t, &err);
    if (st != DC_STATUS_OK) {
        cli_err(CMD, "train: %s", err.msg[0] ? err.msg : dc_strerror(st));
        return CLI_FAIL;
    }
    const dc_train_info *in = dc_trainer_info(t);
    fprintf(stderr,
            "corpus: %zu conversations (%zu train, %zu validation, %zu too long), "
            "sha256 %.16s...\nmodel: %s, %zu trained parameters, vocabulary rows %zu in / %zu out "
            "(+1 rest row each), %zu windows of %u tokens per epoch\n",
            in->conversations, in->train_conversations, in->val_conversations, in->skipped_too_long,
            in->corpus_sha256, p->shape, in->params, in->in_vocab, in->out_vocab, in->windows,
            p->ctx);
    for (int e = 0; e < p->epochs && st == DC_STATUS_OK; e++) {
        dc_train_stats s;
        st = dc_trainer_epoch(t, &s, &err);
        if (!quiet)
            fputc('\n', stderr);
        fprintf(stderr, "epoch %d: train loss %.4f, validation loss %.4f, %.0f s\n", s.epoch,
                s.train_loss, s.val_loss, s.seconds);
    }
    if (st == DC_STATUS_CANCELLED)
        st = DC_STATUS_OK; /* --max-steps: keep what was trained */
    if (st == DC_STATUS_OK)
        st = dc_trainer_export(t, outp, q8, &err);
    dc_trainer_free(t);
    if (st != DC_STATUS_OK) {
        cli_err(CMD, "train: %s", err.msg[0] ? err.msg : dc_strerror(st));
        return CLI_FAIL;
    }
    fprintf(stderr, "wrote %s\n", outp);
    return CLI_OK;
}

int cmd_model_train(int argc, char **argv)
{
    enum {
        O_SHAPE = 256,
        O_CORPUS,
        O_EPOCHS,
        O_LR,
        O_WD,
        O_CLIP,
        O_CTX,
        O_SEED,
        O_THREADS,
        O_MAXS,
        O_F32,
        O_VOCAB,
        O_QUIET,
        O_FULL
    };
    static const struct option opts[] = {{"shape", required_argument, NULL, O_SHAPE},
                                         {"corpus", required_argument, NULL, O_CORPUS},
                                         {"epochs", required_argument, NULL, O_EPOCHS},
                                         {"lr", required_argument, NULL, O_LR},
                                         {"weight-decay", required_argument, NULL, O_WD},
                                         {"clip", required_argument, NULL, O_CLIP},
                                         {"ctx", required_argument, NULL, O_CTX},
                                         {"seed", required_argument, NULL, O_SEED},
                                         {"threads", required_argument, NULL, O_THREADS},
                                         {"max-steps", required_argument, NULL, O_MAXS},
                                         {"f32", no_argument, NULL, O_F32},
                                         {"full-output", no_argument, NULL, O_FULL},
                                         {"vocab", required_argument, NULL, O_VOCAB},
                                         {"quiet", no_argument, NULL, O_QUIET},
                                         {"output", required_argument, NULL, 'o'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    static char recipe[4096];
    join_args(argc, argv, recipe, sizeof recipe);
    dc_train_params p = dc_train_default_params();
    p.recipe = recipe;
    const char *outp = NULL;
    int q8 = 1, quiet = 0, c;
    size_t z;
    bar b = {0};
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        int ok = 1;
        switch (c) {
        case O_SHAPE: p.shape = optarg; break;
        case O_CORPUS: p.corpus_path = optarg; break;
        case O_EPOCHS:
            ok = cli_parse_size(CMD, "--epochs", optarg, 1, 1000, &z);
            p.epochs = (int)z;
            break;
        case O_LR: ok = cli_parse_double(CMD, "--lr", optarg, 1e-7, 1.0, &p.lr); break;
        case O_WD:
            ok = cli_parse_double(CMD, "--weight-decay", optarg, 0, 1, &p.weight_decay);
            break;
        case O_CLIP: ok = cli_parse_double(CMD, "--clip", optarg, 1e-6, 1e6, &p.clip); break;
        case O_CTX:
            ok = cli_parse_size(CMD, "--ctx", optarg, 16, 4096, &z);
            p.ctx = (uint32_t)z;
            break;
        case O_SEED:
            ok = cli_parse_size(CMD, "--seed", optarg, 0, SIZE_MAX, &z);
            p.seed = (uint64_t)z;
            break;
        case O_THREADS:
            ok = cli_parse_size(CMD, "--threads", optarg, 1, 256, &z);
            p.threads = (int)z;
            break;
        case O_MAXS:
            ok = cli_parse_size(CMD, "--max-steps", optarg, 1, SIZE_MAX, &p.max_steps);
            break;
        case O_F32: q8 = 0; break;
        case O_FULL: p.full_output = 1; break;
        case O_VOCAB: p.vocab_path = optarg; break;
        case O_QUIET: quiet = 1; break;
        case 'o': outp = optarg; break;
        case 'h': fputs(train_usage, stdout); return CLI_OK;
        default: fputs(train_usage, stderr); return CLI_USAGE;
        }
        if (!ok)
            return CLI_USAGE;
    }
    if (!outp || !p.corpus_path || optind != argc) {
        cli_err(CMD, "train: %s",
                optind != argc ? "unexpected arguments" : "--corpus FILE and -o FILE are required");
        fputs(train_usage, stderr);
        return CLI_USAGE;
    }
    if (!dc_train_shape_find(p.shape)) {
        cli_err(CMD, "--shape: expected tiny, small or base, got '%s'", p.shape);
        return CLI_USAGE;
    }
    if (!quiet) {
        p.progress = show_progress;
        p.progress_user = &b;
    }
    return train_run(&p, outp, q8, quiet);
}
