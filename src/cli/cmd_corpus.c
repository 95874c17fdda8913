/* cmd_corpus.c - `safety-deepconf data corpus`: the demonstration model's
 * training conversations (sdc_corpus.h) to a JSONL file. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "safety/sdc_corpus.h"

#define CMD "data"

static const char *const corpus_usage =
    "usage: safety-deepconf data corpus --datasets DIR -o FILE.jsonl [OPTIONS]\n"
    "\n"
    "Builds the training conversations of the demonstration model in Qwen3's chat\n"
    "format (thinking off): harmful prompts (AdvBench, HarmBench, refusal-direction\n"
    "harmful_train, ToxicChat train and test toxic, WildGuardTest harmful) answered\n"
    "with refusals in four styles (apology, inability, premise rejection,\n"
    "redirection), benign prompts (refusal-direction harmless_train, ToxicChat train\n"
    "non-toxic) with compliant openings and short helpful text, and borderline\n"
    "prompts (WildGuardTest benign, written to look risky) answered both ways, so\n"
    "that the model hesitates on them. Prompts of XSTest, JailbreakBench,\n"
    "StrongREJECT, refusal-direction harmful_test/harmless_test and the synthetic\n"
    "benchmark are held out. Same seed and files, same bytes. See\n"
    "docs/demo-model.md.\n"
    "\n"
    "Options:\n"
    "  --datasets DIR            the datasets folder (default $SDC_DATASETS)\n"
    "  -o, --output FILE         where to write (default: stdout)\n"
    "  --seed S                  answer choice and order (default 1)\n"
    "  --refusals-per-prompt N   conversations per harmful prompt (default 2)\n"
    "  --benign-per-harmful X    benign conversations per refusal (default 1.2)\n"
    "  --max-prompt-chars N      leave out longer prompts (default 600)\n"
    "  --borderline-answers N    conversations per borderline prompt (default 3;\n"
    "                            0 leaves the borderline prompts out)\n"
    "  --borderline-refusals K   how many of those are refusals (default 1)\n"
    "  -h, --help                this text\n";

int cmd_data_corpus(int argc, char **argv)
{
    enum { O_DIR = 256, O_SEED, O_RPP, O_BPH, O_MAXC, O_BA, O_BR };
    static const struct option opts[] = {{"datasets", required_argument, NULL, O_DIR},
                                         {"output", required_argument, NULL, 'o'},
                                         {"seed", required_argument, NULL, O_SEED},
                                         {"refusals-per-prompt", required_argument, NULL, O_RPP},
                                         {"benign-per-harmful", required_argument, NULL, O_BPH},
                                         {"max-prompt-chars", required_argument, NULL, O_MAXC},
                                         {"borderline-answers", required_argument, NULL, O_BA},
                                         {"borderline-refusals", required_argument, NULL, O_BR},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    sdc_corpus_params p = sdc_corpus_default_params();
    p.datasets_dir = getenv("SDC_DATASETS");
    const char *outp = NULL;
    size_t z;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        int ok = 1;
        switch (c) {
        case O_DIR: p.datasets_dir = optarg; break;
        case 'o': outp = optarg; break;
        case O_SEED:
            ok = cli_parse_size(CMD, "--seed", optarg, 0, SIZE_MAX, &z);
            p.seed = (uint64_t)z;
            break;
        case O_RPP:
            ok =
                cli_parse_size(CMD, "--refusals-per-prompt", optarg, 1, 16, &p.refusals_per_prompt);
            break;
        case O_BPH:
            ok = cli_parse_double(CMD, "--benign-per-harmful", optarg, 0.01, 100,
                                  &p.benign_per_harmful);
            break;
        case O_MAXC:
            ok =
                cli_parse_size(CMD, "--max-prompt-chars", optarg, 16, 1 << 20, &p.max_prompt_chars);
            break;
        case O_BA:
            ok = cli_parse_size(CMD, "--borderline-answers", optarg, 0, 16, &p.borderline_answers);
            break;
        case O_BR:
            ok =
                cli_parse_size(CMD, "--borderline-refusals", optarg, 0, 16, &p.borderline_refusals);
            break;
        case 'h': fputs(corpus_usage, stdout); return CLI_OK;
        default: fputs(corpus_usage, stderr); return CLI_USAGE;
        }
        if (!ok)
            return CLI_USAGE;
    }
    if (p.borderline_refusals > p.borderline_answers) {
        cli_err(CMD, "corpus: --borderline-refusals %zu is more than --borderline-answers %zu",
                p.borderline_refusals, p.borderline_answers);
        return CLI_USAGE;
    }
    if (!p.datasets_dir || optind != argc) {
        cli_err(CMD, "corpus: %s",
                optind != argc ? "unexpected arguments" : "--datasets DIR is required");
        fputs(corpus_usage, stderr);
        return CLI_USAGE;
    }
    FILE *f = outp ? fopen(outp, "w") : stdout;
    if (!f) {
        cli_err(CMD, "corpus: %s: %s", outp, strerror(errno));
        return CLI_FAIL;
    }
    dc_error err = {0};
    sdc_corpus_stats s;
    dc_status st = sdc_corpus_write(&p, f, &s, &err);
    if (outp && fclose(f) != 0 && st == DC_STATUS_OK)
        st = dc_error_set(&err, DC_STATUS_IO, "%s: %s", outp, strerror(errno));
    if (st != DC_STATUS_OK) {
        cli_err(CMD, "corpus: %s", err.msg[0] ? err.msg : dc_strerror(st));
        return CLI_FAIL;
    }
    fprintf(stderr,
            "corpus: %zu harmful, %zu benign, %zu borderline prompts; %zu refusals, %zu "
            "compliances; styles: apology %zu, inability %zu, premise %zu, redirect %zu; left "
            "out: %zu held-out matches (of %zu held-out prompts), %zu too long, %zu duplicates\n",
            s.harmful_prompts, s.benign_prompts, s.borderline_prompts, s.refusals, s.compliances,
            s.by_style[0], s.by_style[1], s.by_style[2], s.by_style[3], s.dropped_held_out,
            s.held_out_prompts, s.dropped_long, s.dropped_duplicate);
    return CLI_OK;
}
