/* main.c - safety-deepconf: subcommand dispatch. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

typedef struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"run", cmd_run, "run DeepConf on a safety benchmark (default: compare on synthetic)"},
    {"compare", cmd_compare, "run all four strategies over the same traces"},
    {"sweep", cmd_sweep, "run the same instances on several models, side by side"},
    {"analyze", cmd_analyze, "recompute the analysis of a run from its files"},
    {"report", cmd_report, "write a run's report.html"},
    {"score", cmd_score, "score traces with logprobs: confidences, votes, online replay"},
    {"refusal", cmd_refusal, "label responses as refusal or compliance"},
    {"judge", cmd_judge, "label (prompt, response) pairs with a guard model"},
    {"data", cmd_data, "inspect, export and synthesise benchmark instances"},
    {"model", cmd_model, "pull, describe and make GGUF models"},
    {"bench", cmd_bench, "measure generation speed"},
    {"version", cmd_version, "print versions of the program and its libraries"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: safety-deepconf COMMAND [OPTIONS]\n\n"
               "Measures how confident a language model is when it refuses or complies,\n"
               "with DeepConf (sampled traces scored by the model's own logprobs).\n\n"
               "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'safety-deepconf COMMAND --help' describes a command.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return CLI_OK;
    }
    if (!strcmp(argv[1], "--version"))
        return cmd_version(1, argv + 1);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    cli_err(NULL, "unknown command '%s'", argv[1]);
    usage(stderr);
    return CLI_USAGE;
}
